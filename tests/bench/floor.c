/*
 * floor - the least work any inet_diag tool can do: send one dump request
 * with no extensions and count the messages until NLMSG_DONE. Nothing built
 * on inet_diag can be cheaper; the benchmark measures hostflow against it.
 *
 * usage: floor [compat|family] [repeat]
 *   compat   one TCPDIAG_GETSOCK request: both families in one walk
 *   family   two SOCK_DIAG_BY_FAMILY requests, AF_INET then AF_INET6
 * Prints the number of sockets seen by the last repetition.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

static char buf[32768] __attribute__((aligned(8)));

static long dump(int fd, int compat, int family, unsigned int seq)
{
	struct {
		struct nlmsghdr nlh;
		union {
			struct inet_diag_req old;
			struct inet_diag_req_v2 v2;
		} r;
	} req;
	long n = 0;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = seq;
	if (compat) {
		req.nlh.nlmsg_type = TCPDIAG_GETSOCK;
		req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(req.r.old));
		req.r.old.idiag_family = AF_INET;
		req.r.old.idiag_states = 0xfff;
	} else {
		req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
		req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(req.r.v2));
		req.r.v2.sdiag_family = (unsigned char)family;
		req.r.v2.sdiag_protocol = IPPROTO_TCP;
		req.r.v2.idiag_states = 0xfff;
	}
	if (send(fd, &req, req.nlh.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return n;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EPROTO;
			n++;
		}
	}
}

int main(int argc, char **argv)
{
	int compat = argc < 2 || strcmp(argv[1], "family") != 0;
	int repeat = argc > 2 ? atoi(argv[2]) : 1;
	long n = 0;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (fd < 0) {
		perror("floor: socket");
		return 1;
	}
	for (int i = 0; i < repeat; i++) {
		if (compat) {
			n = dump(fd, 1, AF_UNSPEC, (unsigned int)i + 1);
		} else {
			long a = dump(fd, 0, AF_INET, 2u * (unsigned int)i + 1);
			long b = a < 0 ? a : dump(fd, 0, AF_INET6, 2u * (unsigned int)i + 2);
			n = b < 0 ? b : a + b;
		}
		if (n < 0) {
			fprintf(stderr, "floor: dump: %s\n", strerror((int)-n));
			return 1;
		}
	}
	printf("%ld\n", n);
	close(fd);
	return 0;
}
