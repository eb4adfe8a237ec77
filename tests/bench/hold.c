/*
 * hold - the benchmark's socket generator: open TCP listeners or
 * connections, say when they are in place, and hold them until SIGTERM.
 *
 * usage: hold [-r FILE] listen BACKLOG ADDR PORT...
 *        hold [-r FILE] connect SRC DST PORT COUNT [SRC DST PORT COUNT]...
 *
 *   listen   bind ADDR:PORT for each PORT and listen with BACKLOG (the
 *            kernel caps it at the namespace's net.core.somaxconn). Nothing
 *            is ever accepted: connections wait in the accept queues as full
 *            ESTABLISHED sockets that cost this process no descriptor.
 *   connect  for each group, COUNT connections from SRC to DST:PORT; the
 *            source port is chosen by connect(2) (IP_BIND_ADDRESS_NO_PORT),
 *            so the 4-tuple, not the (SRC, port) pair, must be unique.
 *            Connects are non-blocking and issued back to back; every one
 *            is then checked (POLLOUT, SO_ERROR) before ready.
 *   -r FILE  written once everything is in place (temp file + rename):
 *            "pid=PID sockets=N"
 *
 * Addresses are IPv4 or IPv6 (numeric). The soft RLIMIT_NOFILE is raised to
 * the hard limit; a process holds at most that many sockets, so callers
 * spread larger counts over processes. The process ends with its parent
 * (PR_SET_PDEATHSIG), so a killed benchmark leaves nothing behind.
 *
 * Exit status: 0 after SIGTERM or SIGINT, 1 on a socket error before ready
 * (message on stderr), 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define CONNECT_TIMEOUT_MS 20000

static void usage(void)
{
	fprintf(stderr,
		"usage: hold [-r FILE] listen BACKLOG ADDR PORT...\n"
		"       hold [-r FILE] connect SRC DST PORT COUNT [SRC DST PORT COUNT]...\n");
	exit(2);
}

static int parse_addr(const char *s, unsigned int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

static unsigned long parse_num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max)
		usage();
	return v;
}

static void write_ready(const char *path, long sockets)
{
	char tmp[4096];
	FILE *f;

	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "pid=%d sockets=%ld\n", (int)getpid(), sockets) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "hold: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static long do_listen(int argc, char **argv)
{
	int backlog;
	long n = 0;

	if (argc < 3)
		usage();
	backlog = (int)parse_num(argv[0], 0x7fffffff);
	for (int i = 2; i < argc; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		unsigned int port = (unsigned int)parse_num(argv[i], 65535);
		int one = 1, fd;

		if (parse_addr(argv[1], port, &ss, &len) < 0)
			usage();
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    (ss.ss_family == AF_INET6 &&
		     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
		    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
			fprintf(stderr, "hold: listen %s port %u: %s\n", argv[1], port,
				strerror(errno));
			exit(1);
		}
		n++;
	}
	return n;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* Wait until every connection in @p is established, or fail. */
static void await_connected(struct pollfd *p, long n)
{
	long deadline = now_ms() + CONNECT_TIMEOUT_MS, left = n;

	while (left > 0) {
		long t = deadline - now_ms();
		int r;

		if (t <= 0) {
			fprintf(stderr,
				"hold: %ld of %ld connections not established after %d ms\n", left,
				n, CONNECT_TIMEOUT_MS);
			exit(1);
		}
		/* A pollfd with fd -1 is skipped: the established ones drop out. */
		r = poll(p, (nfds_t)n, (int)t);
		if (r < 0 && errno != EINTR) {
			perror("hold: poll");
			exit(1);
		}
		for (long i = 0; r > 0 && i < n; i++) {
			int err = 0;
			socklen_t el = sizeof(err);

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
				err = errno;
			if (err) {
				fprintf(stderr, "hold: connection %ld: %s\n", i + 1, strerror(err));
				exit(1);
			}
			p[i].fd = -1; /* the socket stays open; only polling stops */
			left--;
		}
	}
}

static long do_connect(int argc, char **argv)
{
	struct pollfd *p;
	long total = 0, n = 0;

	if (argc == 0 || argc % 4 != 0)
		usage();
	for (int g = 0; g < argc; g += 4)
		total += (long)parse_num(argv[g + 3], 10000000);
	p = calloc((size_t)total + 1, sizeof(*p));
	if (!p) {
		perror("hold");
		exit(1);
	}
	for (int g = 0; g < argc; g += 4) {
		struct sockaddr_storage src, dst;
		socklen_t slen, dlen;
		unsigned int port = (unsigned int)parse_num(argv[g + 2], 65535);
		long count = (long)parse_num(argv[g + 3], 10000000);

		if (parse_addr(argv[g], 0, &src, &slen) < 0 ||
		    parse_addr(argv[g + 1], port, &dst, &dlen) < 0 ||
		    src.ss_family != dst.ss_family)
			usage();
		for (long i = 0; i < count; i++) {
			int one = 1;
			int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
					0);

			if (fd < 0 ||
			    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) <
				    0 ||
			    bind(fd, (struct sockaddr *)&src, slen) < 0 ||
			    (connect(fd, (struct sockaddr *)&dst, dlen) < 0 &&
			     errno != EINPROGRESS)) {
				fprintf(stderr, "hold: connect %s -> %s port %u (%ld/%ld): %s\n",
					argv[g], argv[g + 1], port, i + 1, count, strerror(errno));
				exit(1);
			}
			p[n].fd = fd;
			p[n].events = POLLOUT;
			n++;
		}
	}
	await_connected(p, n);
	free(p);
	return n;
}

int main(int argc, char **argv)
{
	const char *ready = NULL;
	struct rlimit rl;
	sigset_t set;
	long n;
	int sig;

	if (argc > 2 && strcmp(argv[1], "-r") == 0) {
		ready = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		usage();
	/* Blocked before anything else: SIGTERM is only ever taken by sigwait(). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		return 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (strcmp(argv[1], "listen") == 0)
		n = do_listen(argc - 2, argv + 2);
	else if (strcmp(argv[1], "connect") == 0)
		n = do_connect(argc - 2, argv + 2);
	else
		usage();
	write_ready(ready, n);
	while (sigwait(&set, &sig) != 0)
		;
	return 0;
}
