/*
 * cps - connections per second a loopback client/server pair sustains: the
 * traffic whose kernel-side cost the bpf backend's tracepoint adds to.
 *
 * usage: cps SECONDS
 *
 * A server process accepts and closes; the client connects and closes with
 * SO_LINGER 0 (a reset: no TIME_WAIT piles up, no port runs out), one
 * connection at a time, for SECONDS. Every connection still makes the
 * transitions the programs follow (SYN_SENT, ESTABLISHED, CLOSE on both
 * ends). Prints "conns_per_s=N".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	socklen_t alen = sizeof(a);
	double secs, t0, t;
	long n = 0;
	pid_t srv;
	int l, one = 1;

	if (argc != 2 || (secs = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: cps SECONDS\n");
		return 2;
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4096) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0) {
		perror("cps: listener");
		return 1;
	}
	srv = fork();
	if (srv < 0) {
		perror("cps: fork");
		return 1;
	}
	if (srv == 0) {
		for (;;) {
			int c = accept(l, NULL, NULL);
			if (c >= 0)
				close(c);
			else if (errno != EINTR && errno != ECONNABORTED)
				_exit(1);
		}
	}
	close(l);
	t0 = now();
	do {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("cps: connect");
			kill(srv, SIGTERM);
			return 1;
		}
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
		n++;
	} while ((t = now()) - t0 < secs);
	kill(srv, SIGTERM);
	waitpid(srv, NULL, 0);
	printf("conns_per_s=%.0f\n", (double)n / (t - t0));
	return 0;
}
