/*
 * test_regress.c - every input kept for the fuzz targets, replayed without
 * the fuzzer: the seeds (tests/fuzz/corpus/NAME/) and the inputs that once
 * crashed a target (tests/fuzz/regress/NAME/), through the same entry
 * points as tests/fuzz/fuzz_NAME.c (tests/fuzz/targets.h). Built plain and
 * with ASan+UBSan like every unit test, so `make test` replays them under
 * the sanitizers. Then the fuzzers' findings, as checks of behaviour.
 *
 * Each directory is replayed in a child process: a crash or a sanitizer
 * report (which exits with status 1) fails that directory's check and names
 * the file, instead of ending the whole test. Runs with the repository root
 * as working directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include "../fuzz/targets.h"
#include "tap.h"

/* What a child leaves for its parent: how far it got. */
struct progress {
	unsigned int files;
	char current[1024];
	char why[256];
};

static struct progress *prog;

/*
 * Run @fn(@arg) in a child; one check named @desc: passes when the child
 * exits 0. The child reports failures in prog->why.
 */
static void in_child(const char *desc, int (*fn)(const void *arg), const void *arg)
{
	bool passed;
	pid_t pid;
	int status;

	memset(prog, 0, sizeof(*prog));
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		OK(0, "%s (fork: %s)", desc, strerror(errno));
		return;
	}
	if (pid == 0)
		_exit(fn(arg) == 0 ? 0 : 3);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	passed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	OK(passed, "%s", desc);
	if (passed)
		return;
	if (WIFSIGNALED(status))
		printf("#   killed by signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) == 3)
		printf("#   %s", prog->why);
	else
		printf("#   exited %d (a sanitizer report, above)", WEXITSTATUS(status));
	if (prog->current[0])
		printf(" on %s", prog->current);
	printf("\n");
}

/* Read @path whole into a buffer of exactly its size (ASan sees a read past the end). */
static uint8_t *slurp(const char *path, size_t *size)
{
	uint8_t *data = NULL;
	struct stat st;
	FILE *f;

	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) < 0 || st.st_size > (1 << 20))
		goto out_close;
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data)
		goto out_close;
	if (fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(data);
		data = NULL;
		goto out_close;
	}
	*size = (size_t)st.st_size;
out_close:
	fclose(f);
	return data;
}

struct replay {
	const char *dir;
	const char *target;
	bool need_files;
};

static int regular(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

static int replay_dir(const void *arg)
{
	const struct replay *r = arg;
	struct dirent **names;
	int n;

	n = scandir(r->dir, &names, regular, alphasort);
	if (n < 0) {
		snprintf(prog->why, sizeof(prog->why),
			 "cannot list %s: %s (run from the repository root)", r->dir,
			 strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[1024];
		uint8_t *data;
		size_t size = 0;

		snprintf(path, sizeof(path), "%s/%s", r->dir, names[i]->d_name);
		snprintf(prog->current, sizeof(prog->current), "%s", path);
		data = slurp(path, &size);
		if (!data) {
			snprintf(prog->why, sizeof(prog->why), "cannot read: %s", strerror(errno));
			return -1;
		}
		if (strcmp(r->target, "diag") == 0)
			/* the guard-page copy only when it stays 4-aligned: UBSan checks alignment here */
			fuzz_diag_one(data, size, size % 4 == 0);
		else if (strcmp(r->target, "proc") == 0)
			fuzz_proc_one(data, size);
		else if (strcmp(r->target, "conntrack") == 0)
			fuzz_conntrack_one(data, size, size % 4 == 0);
		else if (strcmp(r->target, "options") == 0)
			fuzz_options_one(data, size);
		else
			fuzz_netstat_one(data, size);
		free(data);
		free(names[i]);
		prog->files++;
	}
	free(names);
	prog->current[0] = '\0';
	if (r->need_files && prog->files == 0) {
		snprintf(prog->why, sizeof(prog->why), "no file in %s", r->dir);
		return -1;
	}
	return 0;
}

static void test_replay(void)
{
	static const char *const targets[] = { "diag", "proc", "options", "netstat", "conntrack" };
	char dir[256], desc[320];

	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		struct replay r = { dir, targets[i], true };
		struct stat st;

		snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", targets[i]);
		snprintf(desc, sizeof(desc), "seeds of fuzz_%s (%s) replay cleanly", targets[i],
			 dir);
		in_child(desc, replay_dir, &r);
		printf("# %u files replayed\n", prog->files);

		/* A target that never crashed has no regress directory. */
		snprintf(dir, sizeof(dir), "tests/fuzz/regress/%s", targets[i]);
		if (stat(dir, &st) < 0)
			continue;
		r.need_files = false;
		snprintf(desc, sizeof(desc), "crashes once found by fuzz_%s (%s) replay cleanly",
			 targets[i], dir);
		in_child(desc, replay_dir, &r);
		printf("# %u files replayed\n", prog->files);
	}
}

/* ---- the findings, as behaviour ---------------------------------------------------------- */

static int no_sock(const struct hf_sock *s, void *arg)
{
	(void)s;
	(void)arg;
	return 0;
}

/*
 * fuzz_diag, regress/diag/noop-len-2g and ack-len-4g: a message that needs
 * no parsing (NLMSG_NOOP, an acknowledgement) with an nlmsg_len of 2^31 or
 * more. libmnl's mnl_nlmsg_ok() compares it as an int, admits it, and
 * mnl_nlmsg_next() then steps gigabytes past the buffer: the handler must
 * end the walk as a truncated read instead.
 */
static int huge_len(const void *arg)
{
	uint32_t msgtype = *(const uint32_t *)arg;
	uint32_t buf[12] = { 0 };
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	const char *what = "";
	int ret;

	nlh->nlmsg_len = msgtype == NLMSG_NOOP ? 0xffff0000u : 0xfffffff0u;
	nlh->nlmsg_type = (uint16_t)msgtype;
	nlh->nlmsg_seq = 1;
	/* NLMSG_ERROR: error 0, an acknowledgement */
	ret = hf__diag_handle(buf, sizeof(buf), 1, HF_FAMILY_ALL, no_sock, NULL, &what);
	if (ret != -EBADMSG) {
		snprintf(prog->why, sizeof(prog->why), "returned %d (%s), want -EBADMSG", ret,
			 what);
		return -1;
	}
	return 0;
}

/*
 * fuzz_diag, regress/diag/attr-past-unaligned-end*: an inet_diag reply
 * whose nlmsg_len is not a multiple of 4 and ends in a partial attribute.
 * mnl_attr_for_each() walks to nlmsg_len rounded up, so the parser read an
 * attribute header from the 3 bytes past the message (past the buffer, for
 * the last message of a read). Here those bytes make a valid empty
 * attribute: a parser that reads them accepts the message; one that stops
 * at nlmsg_len finds a byte that cannot be an attribute, an error.
 */
static int attr_past_end(const void *arg)
{
	uint32_t buf[32] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_msg *m;
	uint8_t *b = (uint8_t *)buf;
	struct hf_sock s;
	size_t at;
	int ret;

	(void)arg;
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_seq = 1;
	m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));
	m->idiag_family = AF_INET;
	m->idiag_state = HF_LISTEN; /* only a listener's attributes are read */
	at = nlh->nlmsg_len;
	nlh->nlmsg_len += 1; /* one byte of attribute: nla_len's low byte */
	b[at] = 4;	     /* nla_len = 4 with the next byte */
	b[at + 1] = 0;	     /* past nlmsg_len from here on */
	b[at + 2] = 99;	     /* nla_type: unknown, skipped */
	b[at + 3] = 0;
	ret = hf_diag_parse(nlh, &s);
	if (ret != -EBADMSG) {
		snprintf(prog->why, sizeof(prog->why),
			 "hf_diag_parse returned %d, want -EBADMSG: it read past nlmsg_len", ret);
		return -1;
	}
	/* the same message, whole: nlmsg_len 92 with the attribute inside is fine */
	nlh->nlmsg_len = (uint32_t)at + 4;
	ret = hf_diag_parse(nlh, &s);
	if (ret != 0) {
		snprintf(prog->why, sizeof(prog->why), "aligned twin: returned %d, want 0", ret);
		return -1;
	}
	return 0;
}

int main(void)
{
	static const uint32_t noop = NLMSG_NOOP, ack = NLMSG_ERROR;

	prog = mmap(NULL, sizeof(*prog), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (prog == MAP_FAILED) {
		printf("not ok - shared memory for the children: %s\n", strerror(errno));
		return 1;
	}
	test_replay();
	in_child(
		"NLMSG_NOOP with nlmsg_len 2^32-2^16 is a truncated read, not a jump past the buffer",
		huge_len, &noop);
	in_child(
		"acknowledgement with nlmsg_len 2^32-16 is a truncated read, not a jump past the buffer",
		huge_len, &ack);
	in_child("attribute header past an unaligned nlmsg_len is refused, never read",
		 attr_past_end, NULL);
	return tap_failed ? 1 : 0;
}
