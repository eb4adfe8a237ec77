/*
 * hooks - attach the empty programs of build/bench/hooks.bpf.o (the bpf
 * backend's hooks with nothing on them) and hold them until SIGTERM.
 *
 * usage: hooks [-n] OBJECT
 *
 *   -n   the set_state programs alone, as HOSTFLOW_BPF_NO_TIMERS loads the
 *        backend's
 *
 * Prints "attached N" once every program is attached. Exit status: 0
 * after SIGTERM or SIGINT, 1 when a program cannot be loaded or attached
 * (libbpf's message and the cause on stderr), 2 on bad usage.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t done;

static void stop(int sig)
{
	(void)sig;
	done = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = stop };
	struct bpf_object *obj;
	struct bpf_program *p;
	int n = 0, set_state_only = 0, o;

	while ((o = getopt(argc, argv, "n")) != -1) {
		if (o != 'n')
			goto usage;
		set_state_only = 1;
	}
	if (optind != argc - 1)
		goto usage;
	obj = bpf_object__open_file(argv[optind], NULL);
	if (!obj) {
		fprintf(stderr, "hooks: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(p, obj)
		if (set_state_only && strncmp(bpf_program__name(p), "hook_t", 6) == 0)
			bpf_program__set_autoload(p, false);
	if (bpf_object__load(obj) < 0) {
		fprintf(stderr, "hooks: cannot load %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__autoload(p))
			continue;
		if (!bpf_program__attach(p)) {
			fprintf(stderr, "hooks: cannot attach %s: %s\n", bpf_program__name(p),
				strerror(errno));
			return 1;
		}
		n++;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("attached %d\n", n);
	fflush(stdout);
	while (!done)
		pause();
	bpf_object__close(obj);
	return 0;
usage:
	fprintf(stderr, "usage: hooks [-n] OBJECT\n");
	return 2;
}
