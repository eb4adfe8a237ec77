/*
 * targets.h - the fuzzed entry points of hostflow, one function per target.
 *
 * Each tests/fuzz/fuzz_NAME.c is LLVMFuzzerTestOneInput() calling
 * fuzz_NAME_one(); tests/unit/test_regress.c calls the same functions on
 * every file of tests/fuzz/corpus/NAME/ and tests/fuzz/regress/NAME/, so
 * `make test` replays under ASan+UBSan exactly what the fuzzer ran.
 *
 * Every function takes the input as the fuzzer gives it (@data, @size; not
 * NUL-terminated, owned by the caller) and never reads outside it: where a
 * parser needs a NUL-terminated string or an aligned buffer, the input is
 * copied into one of exactly the size needed, so that ASan sees any read
 * past the end. Each returns how many records its parser accepted; callers
 * other than the fuzzer may print it.
 */
#ifndef HOSTFLOW_FUZZ_TARGETS_H
#define HOSTFLOW_FUZZ_TARGETS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "hostflow.h"
#include "internal.h"
#include "plugin.h"

/* Touch every field the parser wrote, so that reading an uninitialised or bogus one is seen. */
static inline unsigned int fuzz__sock_sum(const struct hf_sock *s)
{
	unsigned int h = s->family ^ s->state ^ s->mapped ^ s->v6only ^ s->v6only_known;

	h ^= s->lport ^ s->rport ^ s->rqueue ^ s->wqueue ^ s->uid ^ s->inode;
	for (unsigned int i = 0; i < sizeof(s->laddr.b); i++)
		h ^= (unsigned int)(s->laddr.b[i] ^ s->raddr.b[i]) << (i % 24);
	return h;
}

static inline int fuzz__count_sock(const struct hf_sock *s, void *arg)
{
	unsigned int *n = arg;

	if (s->family != AF_INET && s->family != AF_INET6)
		abort(); /* hf_diag_parse must never hand out another family */
	(*n)++;
	return 0;
}

/* One pass of the diag target over @buf: the dump loop's handler, then the parser per message. */
static inline unsigned int fuzz__diag_pass(const void *buf, size_t size)
{
	const struct nlmsghdr *nlh;
	const char *what = "";
	struct hf_sock s;
	unsigned int n = 0;
	uint32_t seq = 1;
	int len;

	if (size >= sizeof(struct nlmsghdr))
		memcpy(&seq, (const char *)buf + offsetof(struct nlmsghdr, nlmsg_seq), sizeof(seq));
	hf__diag_handle(buf, (int)size, seq, HF_FAMILY_ALL, fuzz__count_sock, &n, &what);
	if (!what || strlen(what) > 200)
		abort(); /* what always names a step */

	/*
	 * Not mnl_nlmsg_ok(): libmnl 1.0.4 compares (int)nlmsg_len <= len, so
	 * a length of 2^31 or more passes and mnl_nlmsg_next() jumps out of
	 * the buffer. hf_diag_parse() is handed only a message that fits, as
	 * its contract says.
	 */
	len = (int)size;
	for (nlh = buf; len >= (int)sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
			nlh->nlmsg_len <= (unsigned int)len;
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (hf_diag_parse(nlh, &s) == 0) {
			if (s.family != AF_INET && s.family != AF_INET6)
				abort();
			(void)fuzz__sock_sum(&s);
			n++;
		}
	}
	return n;
}

#define FUZZ__GUARDED_MAX (64 * 1024)

/*
 * A buffer whose end touches a PROT_NONE page, or NULL. libmnl is not built
 * with ASan, so a read past the input inside mnl_attr_ok() or
 * mnl_nlmsg_ok() goes unseen in a malloc'd copy; against the guard page it
 * is a SEGV whoever reads.
 */
static inline char *fuzz__guarded_end(void)
{
	static char *end;
	long page = sysconf(_SC_PAGESIZE);

	if (!end) {
		size_t span = FUZZ__GUARDED_MAX + (size_t)page;
		char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);
		if (m == MAP_FAILED)
			return NULL;
		if (mprotect(m + FUZZ__GUARDED_MAX, (size_t)page, PROT_NONE) < 0)
			abort();
		end = m + FUZZ__GUARDED_MAX;
	}
	return end;
}

/*
 * diag: the bytes are one netlink read. hf__diag_handle() walks them with
 * the sequence number of the first message (so that the walk gets past the
 * sequence check), then hf_diag_parse() parses every message that fits, as
 * the dump loop would hand it over. Two passes: over a malloc'd copy
 * (aligned, ASan redzone after the last byte), and, when @guarded, over a
 * copy that ends at a guard page. That copy starts wherever the size puts
 * it, possibly not 4-aligned: only for builds without UBSan's alignment
 * check (the fuzz build); test_regress.c asks for it only when the size is
 * a multiple of 4.
 */
static inline int fuzz_diag_one(const uint8_t *data, size_t size, bool guarded)
{
	unsigned int n;
	char *end;
	void *buf;

	if (size > 1 << 20)
		return 0;
	/* malloc'd: aligned for struct nlmsghdr, and ASan redzones right after the last byte. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	n = fuzz__diag_pass(buf, size);
	free(buf);

	if (guarded && size <= FUZZ__GUARDED_MAX && (end = fuzz__guarded_end()) != NULL) {
		memcpy(end - size, data, size);
		if (fuzz__diag_pass(end - size, size) != n)
			abort(); /* the same bytes gave other sockets */
	}
	return (int)n;
}

static inline int fuzz__count_ct(const struct hf_ct_entry *e, void *arg)
{
	unsigned int *n = arg;

	if (e->orig.family != AF_INET && e->orig.family != AF_INET6)
		abort(); /* hf_ct_parse must never hand out another family */
	if (e->orig.family != e->reply.family ||
	    (e->has_tcp_state && e->tcp_state >= HF_CT_TCP_MAX))
		abort();
	(*n)++;
	return 0;
}

/* One pass of the conntrack target over @buf: the handler (dump, then events), then the parser. */
static inline unsigned int fuzz__ct_pass(const void *buf, size_t size)
{
	const struct nlmsghdr *nlh;
	const char *what = "";
	struct hf_ct_entry e;
	unsigned int n = 0;
	uint32_t seq = 1;
	int len;

	if (size >= sizeof(struct nlmsghdr))
		memcpy(&seq, (const char *)buf + offsetof(struct nlmsghdr, nlmsg_seq), sizeof(seq));
	hf__ct_handle(buf, (int)size, seq, fuzz__count_ct, &n, &what);
	hf__ct_handle(buf, (int)size, 0, fuzz__count_ct, &n, &what);
	if (!what || strlen(what) > 200)
		abort();
	len = (int)size;
	for (nlh = buf; len >= (int)sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
			nlh->nlmsg_len <= (unsigned int)len;
	     nlh = mnl_nlmsg_next(nlh, &len))
		if (hf_ct_parse(nlh, &e) == 0 && fuzz__count_ct(&e, &n) != 0)
			abort();
	return n;
}

/*
 * conntrack: the bytes are one ctnetlink read (a dump's or events'), walked
 * as fuzz_diag_one walks inet_diag (malloc'd copy, then a guard-page copy
 * when @guarded); then every line of them is parsed as a line of
 * /proc/net/nf_conntrack.
 */
static inline int fuzz_conntrack_one(const uint8_t *data, size_t size, bool guarded)
{
	const char *p, *end;
	struct hf_ct_entry e;
	unsigned int n;
	char *end_g;
	void *buf;

	if (size > 1 << 20)
		return 0;
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	n = fuzz__ct_pass(buf, size);
	if (guarded && size <= FUZZ__GUARDED_MAX && (end_g = fuzz__guarded_end()) != NULL) {
		memcpy(end_g - size, data, size);
		if (fuzz__ct_pass(end_g - size, size) != n)
			abort();
	}
	for (p = buf, end = p + size; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = malloc(llen ? llen : 1);

		if (!line)
			break;
		memcpy(line, p, llen);
		if (hf_ct_proc_parse_line(line, llen, &e) == 0) {
			if (e.orig.family != AF_INET && e.orig.family != AF_INET6)
				abort();
			n++;
		}
		free(line);
		p = nl ? nl + 1 : end;
	}
	free(buf);
	return (int)n;
}

/*
 * proc: the bytes are a piece of /proc/net/tcp or tcp6. Every line (split
 * at '\n', as the reader splits them) is parsed as both families, then the
 * whole input as one line.
 */
static inline int fuzz_proc_one(const uint8_t *data, size_t size)
{
	static const int fams[2] = { AF_INET, AF_INET6 };
	const char *p = (const char *)data, *end = p + size;
	struct hf_sock s;
	int n = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = malloc(len ? len : 1);

		if (!line)
			return n;
		memcpy(line, p, len);
		for (int i = 0; i < 2; i++) {
			if (hf_proc_parse_line(line, len, fams[i], &s) == 0) {
				if (s.state == 0 || s.state >= HF_STATE_MAX)
					abort();
				(void)fuzz__sock_sum(&s);
				n++;
			}
		}
		free(line);
		p = nl ? nl + 1 : end;
	}
	for (int i = 0; i < 2; i++)
		if (hf_proc_parse_line((const char *)data, size, fams[i], &s) == 0)
			n++;
	if (hf_proc_parse_line((const char *)data, size, AF_UNIX, &s) != -EAFNOSUPPORT)
		abort();
	return n;
}

/*
 * options: the bytes are lines of "key=value" (or "key" alone, given with a
 * NULL value), applied in order to one struct hf_options, as a plugin
 * applies its config file. The error message goes to a buffer of a size
 * taken from the line count, down to 1 byte, to exercise truncation.
 */
static inline int fuzz_options_one(const uint8_t *data, size_t size)
{
	static const size_t errlens[4] = { 256, 16, 1, 64 };
	const char *p = (const char *)data, *end = p + size;
	struct hf_options o;
	int n = 0, lines = 0;

	hf_options_init(&o, HF_AGENT_ANY);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t errlen = errlens[lines++ % 4];
		char *line = malloc(len + 1), *eq;
		char *err = malloc(errlen);
		int ret;

		if (!line || !err) {
			free(line);
			free(err);
			return n;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		eq = strchr(line, '=');
		if (eq)
			*eq = '\0';
		memset(err, 'x', errlen);
		ret = hf_options_set(&o, line, eq ? eq + 1 : NULL, err, errlen);
		if (ret == 0)
			n++;
		else if (ret != -EINVAL && ret != -ENOENT && ret != -EEXIST && ret != -E2BIG)
			abort(); /* only the documented errors */
		else if (memchr(err, '\0', errlen) == NULL)
			abort(); /* the message is always terminated */
		free(err);
		free(line);
		p = nl ? nl + 1 : end;
	}
	if (o.filter.n_include_net > HF_FILTER_MAX || o.filter.n_exclude_net > HF_FILTER_MAX ||
	    o.filter.n_include_port > HF_FILTER_MAX || o.filter.n_exclude_port > HF_FILTER_MAX)
		abort();
	for (unsigned int i = 0; i < o.filter.n_include_net; i++)
		if (o.filter.include_net[i].plen >
		    (o.filter.include_net[i].family == AF_INET ? 32 : 128))
			abort();
	return n;
}

/* netstat: the bytes are the text of /proc/net/netstat. */
static inline int fuzz_netstat_one(const uint8_t *data, size_t size)
{
	struct hf_host h;
	char *text = malloc(size ? size : 1);
	int n = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	memset(&h, 0, sizeof(h));
	if (hf_netstat_parse(text, size, &h) == 0) {
		if (h.present >> HF_NETSTAT_MAX)
			abort();
		n = __builtin_popcount(h.present);
	}
	free(text);
	return n;
}

#endif /* HOSTFLOW_FUZZ_TARGETS_H */
