/*
 * proc.c - /proc readers: /proc/net/tcp{,6} (the fallback backend),
 * /proc/net/netstat and the sysctls that shape listeners.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostflow.h"
#include "internal.h"

long hf__read_small(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	long ret;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got + 1 < len) {
		ssize_t n = read(fd, buf + got, len - 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	ret = (long)got;
out_close:
	close(fd);
	return ret;
}

/* One /proc/net/tcp{,6} file read line by line through a fixed buffer. */
struct proc_file {
	int fd;
	int family;
	char *buf;
	size_t cap, start, end;
	bool eof;
	bool header_done;
};

/*
 * Read more: keep the unread tail, fill the rest. Returns 1 when bytes were
 * added, 0 at end of file, a negative errno on error.
 */
static int pf_fill(struct proc_file *f)
{
	ssize_t n;

	if (f->eof)
		return 0;
	if (f->start > 0) {
		memmove(f->buf, f->buf + f->start, f->end - f->start);
		f->end -= f->start;
		f->start = 0;
	}
	if (f->end == f->cap)
		return -EBADMSG; /* a line longer than the buffer */
	do
		n = read(f->fd, f->buf + f->end, f->cap - f->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0) {
		f->eof = true;
		return 0;
	}
	f->end += (size_t)n;
	return 1;
}

/*
 * Next complete line: *@line/@len, without its newline. Returns 1 for a
 * line, 0 at the end, a negative errno on error.
 */
static int pf_line(struct proc_file *f, const char **line, size_t *len)
{
	for (;;) {
		char *nl = memchr(f->buf + f->start, '\n', f->end - f->start);
		if (nl) {
			*line = f->buf + f->start;
			*len = (size_t)(nl - *line);
			f->start = (size_t)(nl - f->buf) + 1;
			return 1;
		}
		int r = pf_fill(f);
		if (r < 0)
			return r;
		if (r == 0) {
			if (f->end > f->start) { /* a last line without newline */
				*line = f->buf + f->start;
				*len = f->end - f->start;
				f->start = f->end;
				return 1;
			}
			return 0;
		}
	}
}

/* Peek at the state of the next line without consuming it. Returns the state, 0 at end, <0 on error. */
static int pf_peek_state(struct proc_file *f)
{
	const char *line;
	size_t len;
	struct hf_sock s;
	size_t save;
	int r;

	r = pf_line(f, &line, &len);
	if (r <= 0)
		return r;
	save = (size_t)(line - f->buf);
	if (hf_proc_parse_line(line, len, f->family, &s) < 0)
		return -EBADMSG;
	f->start = save; /* pf_fill only moves data when it needs more, which pf_line did not */
	return s.state;
}

/*
 * Feed @f's lines to @cb. With @listen_only, stop before the first socket
 * that is not listening (the kernel prints the listening hash first:
 * tcp_seq_start() walks listening_hash before ehash).
 */
static int pf_run(struct proc_file *f, bool listen_only, uint32_t states, hf_sock_cb cb, void *arg)
{
	const char *line;
	size_t len;
	struct hf_sock s;
	int r;

	if (!f->header_done) {
		r = pf_line(f, &line, &len);
		if (r <= 0)
			return r < 0 ? r : -EBADMSG; /* even an empty table has its header */
		f->header_done = true;
	}
	for (;;) {
		if (listen_only) {
			r = pf_peek_state(f);
			if (r <= 0)
				return r;
			if (r != HF_LISTEN)
				return 0;
		}
		r = pf_line(f, &line, &len);
		if (r <= 0)
			return r;
		if (len == 0)
			continue;
		if (hf_proc_parse_line(line, len, f->family, &s) < 0)
			return -EBADMSG;
		if (!(states & (1u << s.state)))
			continue;
		r = cb(&s, arg);
		if (r)
			return r;
	}
}

int hf_proc_dump(const char *proc_root, uint32_t states, unsigned int families,
		 struct hf_proc_buf *buf, hf_sock_cb cb, void *arg, char *failed_path,
		 size_t failed_len)
{
	static const char *const names[2] = { "net/tcp", "net/tcp6" };
	struct proc_file f[2];
	char path[4096];
	int ret = 0, nf = 0;

	(void)families; /* mapped IPv4 lives in tcp6: both files are always read */
	memset(f, 0, sizeof(f));
	f[0].fd = f[1].fd = -1;
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", proc_root, names[i]);
		f[i].fd = open(path, O_RDONLY | O_CLOEXEC);
		if (f[i].fd < 0) {
			/* No tcp6 when IPv6 is disabled: IPv4 alone is complete. */
			if (i == 1 && errno == ENOENT)
				break;
			ret = -errno;
			goto out_fail;
		}
		f[i].family = i == 0 ? AF_INET : AF_INET6;
		f[i].buf = buf->data[i];
		f[i].cap = sizeof(buf->data[i]);
		nf++;
	}
	/* Listeners of both files first, so every connection meets all of them. */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < nf; i++) {
			ret = pf_run(&f[i], pass == 0, states, cb, arg);
			if (ret) {
				snprintf(path, sizeof(path), "%s/%s", proc_root, names[i]);
				goto out_fail;
			}
		}
	}
	goto out_close;

out_fail:
	if (failed_path)
		snprintf(failed_path, failed_len, "%s", path);
out_close:
	for (int i = 0; i < 2; i++)
		if (f[i].fd >= 0)
			close(f[i].fd);
	return ret;
}

/* ---- /proc/net/netstat and sysctls ---------------------------------------------------------- */

static const char *const netstat_names[HF_NETSTAT_MAX] = {
	[HF_LISTEN_OVERFLOWS] = "ListenOverflows",
	[HF_LISTEN_DROPS] = "ListenDrops",
	[HF_REQQ_FULL_DROP] = "TCPReqQFullDrop",
	[HF_REQQ_FULL_DO_COOKIES] = "TCPReqQFullDoCookies",
	[HF_SYNCOOKIES_SENT] = "SyncookiesSent",
};

const char *hf_netstat_name(enum hf_netstat_counter c)
{
	if ((unsigned int)c >= HF_NETSTAT_MAX)
		return NULL;
	return netstat_names[c];
}

/* The line after @from that starts with @prefix, or NULL. */
static const char *find_line(const char *from, const char *end, const char *prefix)
{
	size_t plen = strlen(prefix);
	const char *p = from;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if ((size_t)(le - p) >= plen && memcmp(p, prefix, plen) == 0)
			return p;
		p = nl ? nl + 1 : end;
	}
	return NULL;
}

static const char *next_token(const char **p, const char *le, size_t *tlen)
{
	while (*p < le && **p == ' ')
		(*p)++;
	const char *t = *p;
	while (*p < le && **p != ' ')
		(*p)++;
	*tlen = (size_t)(*p - t);
	return *tlen ? t : NULL;
}

int hf_netstat_parse(const char *text, size_t len, struct hf_host *out)
{
	const char *end = text + len, *hdr, *val, *he, *ve, *h, *v;
	size_t hl, vl;

	out->present = 0;
	hdr = find_line(text, end, "TcpExt:");
	if (!hdr)
		return -EBADMSG;
	he = memchr(hdr, '\n', (size_t)(end - hdr));
	if (!he)
		return -EBADMSG;
	val = find_line(he + 1, end, "TcpExt:");
	if (!val)
		return -EBADMSG;
	ve = memchr(val, '\n', (size_t)(end - val));
	if (!ve)
		ve = end;
	h = hdr + 7;
	v = val + 7;
	for (;;) {
		const char *ht = next_token(&h, he, &hl);
		const char *vt = next_token(&v, ve, &vl);
		if (!ht && !vt)
			return 0;
		if (!ht || !vt)
			return -EBADMSG; /* header and values disagree */
		uint64_t n = 0;
		for (size_t i = 0; i < vl; i++) {
			if (vt[i] < '0' || vt[i] > '9')
				return -EBADMSG;
			n = n * 10 + (uint64_t)(vt[i] - '0');
		}
		for (unsigned int c = 0; c < HF_NETSTAT_MAX; c++) {
			if (strlen(netstat_names[c]) == hl &&
			    memcmp(netstat_names[c], ht, hl) == 0) {
				out->counters[c] = n;
				out->present |= 1u << c;
			}
		}
	}
}

static int read_int(const char *proc_root, const char *name)
{
	char path[4096], buf[64];
	snprintf(path, sizeof(path), "%s/sys/%s", proc_root, name);
	if (hf__read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	return atoi(buf);
}

int hf_host_read(const char *proc_root, struct hf_host *out)
{
	char path[4096];
	char text[16384];
	long n;

	memset(out, 0, sizeof(*out));
	out->somaxconn = read_int(proc_root, "net/core/somaxconn");
	out->max_syn_backlog = read_int(proc_root, "net/ipv4/tcp_max_syn_backlog");
	out->syncookies = read_int(proc_root, "net/ipv4/tcp_syncookies");
	snprintf(path, sizeof(path), "%s/net/netstat", proc_root);
	n = hf__read_small(path, text, sizeof(text));
	if (n < 0)
		return (int)n;
	return hf_netstat_parse(text, (size_t)n, out);
}

int hf_port_range_read(const char *proc_root, uint16_t *lo, uint16_t *hi)
{
	char path[4096], buf[64];
	unsigned int a, b;
	long n;

	*lo = 32768; /* the kernel's default */
	*hi = 60999;
	snprintf(path, sizeof(path), "%s/sys/net/ipv4/ip_local_port_range", proc_root);
	n = hf__read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (sscanf(buf, "%u %u", &a, &b) != 2 || a > 65535 || b > 65535 || a > b)
		return -EBADMSG;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}
