/*
 * measure - run a command once and print what it cost: wall time
 * (CLOCK_MONOTONIC around fork and wait4), CPU time (user + system, from
 * wait4(2), so descendants it waited for are included) and peak RSS
 * (ru_maxrss, the largest of the command and its waited-for descendants).
 *
 * usage: measure [-o FILE] -- CMD [ARG]...
 *        measure -t TICKS [-s SKIP] [-q QUIET_MS] [-o FILE] -- CMD [ARG]...
 *
 *   -o FILE      the command's stdout (default /dev/null); stderr is kept
 *   -t TICKS     CMD runs until stopped and writes one burst of output per
 *                tick (hostflow.plugin): its stdout is read, a burst being
 *                output after QUIET_MS (default 300) of silence; once the
 *                TICKS-th burst is over, CMD gets SIGTERM. The CPU time
 *                printed is the total for TICKS ticks, start-up included.
 *   -s SKIP      with -t: also the CPU time CMD spent from the end of its
 *                SKIP-th burst to the end of its TICKS-th, as
 *                window_cpu_us= (the time on CPU of each of its threads,
 *                /proc/PID/task/TID/schedstat, in ns, summed): the ticks
 *                after the start-up, measured within one process, with no
 *                start-up's variance in them
 *
 * Prints one line on stdout:
 *   wall_us=W cpu_us=C maxrss_kib=R status=S
 * S is "0" for a zero exit status (with -t: SIGTERM after TICKS bursts),
 * otherwise "exit=N" or "signal=N" (with -t also "ticks=K" when CMD ended
 * after K bursts). measure's own exit status is 0 when S is "0", else 1;
 * 2 for bad usage, 3 when CMD could not be started.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr,
		"usage: measure [-o FILE] [-t TICKS [-s SKIP] [-q QUIET_MS]] -- CMD [ARG]...\n");
	exit(2);
}

static long long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv)
{
	return tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* The time on CPU of every thread of @pid, in ns (-1 when unreadable). */
static long long cpu_ns(pid_t pid)
{
	char path[64], buf[128];
	long long sum = 0;
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		FILE *f;
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", (int)pid, d->d_name);
		f = fopen(path, "re");
		if (f && fgets(buf, sizeof(buf), f))
			sum += atoll(buf);
		if (f)
			fclose(f);
	}
	closedir(dir);
	return sum;
}

/*
 * Read the plugin's stdout from @fd until @ticks bursts are over. Returns
 * the number of bursts seen: fewer than @ticks when the output ended first.
 * With @skip, *@win gets @pid's CPU time (ns) from the end of burst @skip
 * to the end of the last.
 */
static int count_ticks(int fd, int ticks, int quiet_ms, pid_t pid, int skip, long long *win)
{
	long long at_skip = -1;
	char buf[65536];
	int seen = 0;
	bool in_burst = false;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, in_burst ? quiet_ms : -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return seen;
		}
		if (r == 0) {
			/* Silence after output: the tick is over. */
			if (in_burst && skip && seen == skip)
				at_skip = cpu_ns(pid);
			if (in_burst && skip && seen >= ticks && at_skip >= 0)
				*win = cpu_ns(pid) - at_skip;
			in_burst = false;
			if (seen >= ticks)
				return seen;
			continue;
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return seen;
		if (!in_burst) {
			in_burst = true;
			seen++;
		}
	}
}

int main(int argc, char **argv)
{
	const char *out = "/dev/null";
	int ticks = 0, quiet_ms = 300, skip = 0, opt, pipefd[2] = { -1, -1 }, status, seen = 0;
	long long t0, t1, win = -1;
	struct rusage ru;
	char st[64];
	pid_t pid;

	while ((opt = getopt(argc, argv, "+o:t:q:s:")) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 't':
			ticks = atoi(optarg);
			if (ticks < 1)
				usage();
			break;
		case 's':
			skip = atoi(optarg);
			if (skip < 1)
				usage();
			break;
		case 'q':
			quiet_ms = atoi(optarg);
			if (quiet_ms < 1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind >= argc || (skip && skip >= ticks))
		usage();
	if (ticks && pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("measure: pipe");
		return 3;
	}
	fflush(stdout);
	t0 = now_us();
	pid = fork();
	if (pid < 0) {
		perror("measure: fork");
		return 3;
	}
	if (pid == 0) {
		int fd = ticks ? pipefd[1] :
				 open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
			fprintf(stderr, "measure: %s: %s\n", out, strerror(errno));
			_exit(127);
		}
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "measure: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	if (ticks) {
		close(pipefd[1]);
		seen = count_ticks(pipefd[0], ticks, quiet_ms, pid, skip, &win);
		kill(pid, SIGTERM);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("measure: wait4");
		return 3;
	}
	t1 = now_us();
	if (ticks)
		close(pipefd[0]);

	if (ticks && seen >= ticks &&
	    ((WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) ||
	     (WIFEXITED(status) && WEXITSTATUS(status) == 0)))
		snprintf(st, sizeof(st), "0");
	else if (!ticks && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		snprintf(st, sizeof(st), "0");
	else if (WIFEXITED(status))
		snprintf(st, sizeof(st), "exit=%d", WEXITSTATUS(status));
	else
		snprintf(st, sizeof(st), "signal=%d", WTERMSIG(status));
	if (ticks && seen < ticks)
		snprintf(st + strlen(st), sizeof(st) - strlen(st), ",ticks=%d", seen);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return 3;
	printf("wall_us=%lld cpu_us=%lld maxrss_kib=%ld status=%s", t1 - t0,
	       tv_us(ru.ru_utime) + tv_us(ru.ru_stime), ru.ru_maxrss, st);
	if (skip)
		printf(" window_cpu_us=%lld", win < 0 ? -1 : win / 1000);
	printf("\n");
	return strcmp(st, "0") == 0 ? 0 : 1;
}
