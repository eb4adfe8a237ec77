/*
 * nonetlink - run a command that cannot open netlink sockets, for hostflow's
 * fault tests.
 *
 * Usage: nonetlink COMMAND [ARG...]
 *
 * Installs a seccomp filter that makes socket(AF_NETLINK, ...) fail with
 * EPERM, as a container runtime's or a systemd unit's policy may, then execs
 * COMMAND. Every other system call, and every other socket family, is left
 * alone. The filter is inherited by COMMAND's children and survives exec.
 * No privilege is needed (PR_SET_NO_NEW_PRIVS is set first).
 *
 * Build: cc -o build/tools/nonetlink tests/tools/nonetlink.c
 * Exit status: COMMAND's, or 127 when the filter cannot be installed or
 * COMMAND cannot be run (with a message on stderr).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#define NONETLINK_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NONETLINK_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define NONETLINK_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define NONETLINK_ARCH AUDIT_ARCH_RISCV64
#else
#error "nonetlink: add this architecture's AUDIT_ARCH_*"
#endif

#if defined(__x86_64__)
#define NONETLINK_X32_BIT 0x40000000u
#else
#define NONETLINK_X32_BIT 0xffffffffu /* no such numbers: never taken */
#endif

int main(int argc, char **argv)
{
	struct sock_filter filter[] = {
		/* A system call of another ABI (i386 on x86_64) fails: no way around the filter. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NONETLINK_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* x32 shares AUDIT_ARCH_X86_64 and numbers its calls from 0x40000000 */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, NONETLINK_X32_BIT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 3),
		/* the low 32 bits of the first argument: the domain */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};

	if (argc < 2) {
		fprintf(stderr, "usage: nonetlink COMMAND [ARG...]\n");
		return 127;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "nonetlink: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
		return 127;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		fprintf(stderr, "nonetlink: PR_SET_SECCOMP: %s\n", strerror(errno));
		return 127;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "nonetlink: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
