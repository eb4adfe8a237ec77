/*
 * parse.c - kernel socket records into struct hf_sock: inet_diag messages and
 * /proc/net/tcp{,6} lines. No I/O here, so every branch is testable on
 * crafted bytes.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include "hostflow.h"
#include "internal.h"

static const char *const state_names[HF_STATE_MAX] = {
	[HF_ESTABLISHED] = "ESTABLISHED",
	[HF_SYN_SENT] = "SYN_SENT",
	[HF_SYN_RECV] = "SYN_RECV",
	[HF_FIN_WAIT1] = "FIN_WAIT1",
	[HF_FIN_WAIT2] = "FIN_WAIT2",
	[HF_TIME_WAIT] = "TIME_WAIT",
	[HF_CLOSE] = "CLOSE",
	[HF_CLOSE_WAIT] = "CLOSE_WAIT",
	[HF_LAST_ACK] = "LAST_ACK",
	[HF_LISTEN] = "LISTEN",
	[HF_CLOSING] = "CLOSING",
};

const char *hf_state_name(unsigned int state)
{
	if (state >= HF_STATE_MAX)
		return NULL;
	return state_names[state];
}

unsigned int hf_state_parse(const char *name)
{
	for (unsigned int i = 1; i < HF_STATE_MAX; i++)
		if (strcasecmp(state_names[i], name) == 0)
			return i;
	return 0;
}

/*
 * An AF_INET6 socket carrying IPv4-mapped addresses (::ffff:a.b.c.d) is an
 * IPv4 connection accepted by, or made from, a dual-stack socket: report it
 * as IPv4 so that it aggregates with, and prints like, any other.
 */
static void normalize_mapped(struct hf_sock *s)
{
	if (s->family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s->laddr.v6))
		return;
	/* A listener on :: has an unspecified remote; a mapped connection has both mapped. */
	if (!IN6_IS_ADDR_V4MAPPED(&s->raddr.v6) && !IN6_IS_ADDR_UNSPECIFIED(&s->raddr.v6))
		return;
	uint32_t l = s->laddr.v6.s6_addr32[3];
	uint32_t r = IN6_IS_ADDR_V4MAPPED(&s->raddr.v6) ? s->raddr.v6.s6_addr32[3] : 0;
	memset(&s->laddr, 0, sizeof(s->laddr));
	memset(&s->raddr, 0, sizeof(s->raddr));
	s->laddr.v4.s_addr = l;
	s->raddr.v4.s_addr = r;
	s->family = AF_INET;
	s->mapped = true;
}

int hf_diag_parse(const struct nlmsghdr *nlh, struct hf_sock *out)
{
	const struct inet_diag_msg *m;
	const struct nlattr *attr;
	const void *attrs;
	size_t addrlen;
	int attrs_len;

	/* Past INT_MAX, libmnl's int lengths would wrap: no kernel sends that. */
	if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > INT_MAX)
		return -EBADMSG;
	if (nlh->nlmsg_type != TCPDIAG_GETSOCK && nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return -EPROTO;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return -EBADMSG;
	m = mnl_nlmsg_get_payload(nlh);

	memset(out, 0, sizeof(*out));
	switch (m->idiag_family) {
	case AF_INET:
		addrlen = 4;
		break;
	case AF_INET6:
		addrlen = 16;
		break;
	default:
		return -EAFNOSUPPORT;
	}
	out->family = m->idiag_family;
	out->state = m->idiag_state;
	out->lport = ntohs(m->id.idiag_sport);
	out->rport = ntohs(m->id.idiag_dport);
	/* Fixed-size copies (no call per socket); an IPv4 address's tail is cleared after. */
	memcpy(out->laddr.b, m->id.idiag_src, sizeof(out->laddr.b));
	memcpy(out->raddr.b, m->id.idiag_dst, sizeof(out->raddr.b));
	if (addrlen == 4) {
		memset(out->laddr.b + 4, 0, 12);
		memset(out->raddr.b + 4, 0, 12);
	}
	out->rqueue = m->idiag_rqueue;
	out->wqueue = m->idiag_wqueue;
	out->uid = m->idiag_uid;
	out->inode = m->idiag_inode;
	out->timewait = m->idiag_timer == 3; /* inet_twsk_diag_fill() */

	/*
	 * Attributes follow the aligned header. Only INET_DIAG_SKV6ONLY is of
	 * use (sent for every AF_INET6 socket since Linux 3.19, whatever
	 * idiag_ext asks), and only for a listener: a connection's attributes
	 * are not read at all, which spares the walk on the hot path. A
	 * listener's are skipped but for that one, and each must be well formed.
	 * Walked up to nlmsg_len itself: mnl_attr_for_each() stops at
	 * nlmsg_len rounded up to 4, so it reads up to 3 bytes past a message
	 * of unaligned length.
	 */
	/*
	 * A SYN_RECV message is a request socket's unless it carries
	 * INET_DIAG_SHUTDOWN, which inet_diag puts for every full socket
	 * (a listener's child) and never for a request socket.
	 */
	if (out->state == HF_SYN_RECV)
		out->request = true;
	else if (out->state != HF_LISTEN)
		goto out;
	attrs = (const char *)m + MNL_ALIGN(sizeof(*m));
	attrs_len = (int)(nlh->nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(*m)));
	mnl_attr_for_each_payload(attrs, attrs_len) {
		if (mnl_attr_get_type(attr) == INET_DIAG_SHUTDOWN)
			out->request = false;
		if (mnl_attr_get_type(attr) == INET_DIAG_SKV6ONLY && out->state == HF_LISTEN) {
			if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
				return -EBADMSG;
			out->v6only = mnl_attr_get_u8(attr) != 0;
			out->v6only_known = true;
		}
	}
	/* The loop stops at the first attribute that does not fit: anything left is broken. */
	if ((const char *)attr < (const char *)attrs + attrs_len)
		return -EBADMSG;
out:
	normalize_mapped(out);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parse exactly @n hex digits at *@p; advance. */
static int hex_fixed(const char **p, const char *end, unsigned int n, uint32_t *out)
{
	uint32_t v = 0;

	if ((size_t)(end - *p) < n)
		return -EBADMSG;
	for (unsigned int i = 0; i < n; i++) {
		int d = hexval((*p)[i]);
		if (d < 0)
			return -EBADMSG;
		v = (v << 4) | (uint32_t)d;
	}
	*p += n;
	*out = v;
	return 0;
}

static int hex_var(const char **p, const char *end, uint32_t *out)
{
	const char *s = *p;
	uint32_t v = 0;

	while (*p < end && hexval(**p) >= 0) {
		if (v > 0x0fffffffu)
			return -EBADMSG;
		v = (v << 4) | (uint32_t)hexval(**p);
		(*p)++;
	}
	if (*p == s)
		return -EBADMSG;
	*out = v;
	return 0;
}

static int dec_var(const char **p, const char *end, uint32_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	while (*p < end && **p >= '0' && **p <= '9') {
		v = v * 10 + (uint64_t)(**p - '0');
		if (v > UINT32_MAX)
			return -EBADMSG;
		(*p)++;
	}
	if (*p == s)
		return -EBADMSG;
	*out = (uint32_t)v;
	return 0;
}

static void skip_spaces(const char **p, const char *end)
{
	while (*p < end && **p == ' ')
		(*p)++;
}

static int expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -EBADMSG;
	(*p)++;
	return 0;
}

/*
 * The kernel prints each 32-bit word of an address with %08X of its value in
 * host byte order (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c): copying the
 * parsed word back as a native u32 restores the network-order bytes.
 */
static int proc_addr(const char **p, const char *end, int family, union hf_addr *a, uint16_t *port)
{
	unsigned int words = family == AF_INET ? 1 : 4;
	uint32_t w, prt;

	for (unsigned int i = 0; i < words; i++) {
		if (hex_fixed(p, end, 8, &w) < 0)
			return -EBADMSG;
		memcpy(&a->b[4 * i], &w, 4);
	}
	if (expect(p, end, ':') < 0 || hex_fixed(p, end, 4, &prt) < 0)
		return -EBADMSG;
	*port = (uint16_t)prt;
	return 0;
}

int hf_proc_parse_line(const char *line, size_t len, int family, struct hf_sock *out)
{
	const char *p = line, *end = line + len;
	uint32_t v, st, txq, rxq;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)family;

	/* "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode" */
	skip_spaces(&p, end);
	if (dec_var(&p, end, &v) < 0 || expect(&p, end, ':') < 0)
		return -EBADMSG;
	skip_spaces(&p, end);
	if (proc_addr(&p, end, family, &out->laddr, &out->lport) < 0)
		return -EBADMSG;
	skip_spaces(&p, end);
	if (proc_addr(&p, end, family, &out->raddr, &out->rport) < 0)
		return -EBADMSG;
	skip_spaces(&p, end);
	if (hex_fixed(&p, end, 2, &st) < 0 || st == 0 || st >= HF_STATE_MAX)
		return -EBADMSG;
	out->state = (uint8_t)st;
	skip_spaces(&p, end);
	if (hex_var(&p, end, &txq) < 0 || expect(&p, end, ':') < 0 || hex_var(&p, end, &rxq) < 0)
		return -EBADMSG;
	out->rqueue = rxq;
	out->wqueue = 0; /* /proc shows no backlog; for listeners tx_queue is 0 */
	skip_spaces(&p, end);
	/* tr:tm->when */
	if (hex_var(&p, end, &v) < 0 || expect(&p, end, ':') < 0 || hex_var(&p, end, &v) < 0)
		return -EBADMSG;
	skip_spaces(&p, end);
	if (hex_var(&p, end, &v) < 0) /* retrnsmt */
		return -EBADMSG;
	skip_spaces(&p, end);
	if (dec_var(&p, end, &out->uid) < 0)
		return -EBADMSG;
	skip_spaces(&p, end);
	if (p < end && *p == '-') /* timeout is printed with %d */
		p++;
	if (dec_var(&p, end, &v) < 0)
		return -EBADMSG;
	skip_spaces(&p, end);
	if (dec_var(&p, end, &out->inode) < 0)
		return -EBADMSG;
	/* Every format the kernel prints has fields after the inode: a line that ends here was cut. */
	if (p >= end || *p != ' ')
		return -EBADMSG;

	normalize_mapped(out);
	return 0;
}
