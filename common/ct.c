/*
 * ct.c - conntrack entries: the ctnetlink parser, the /proc/net/nf_conntrack
 * parser, the namespace's address set and the direction of an entry. Pure:
 * no I/O.
 *
 * The CTA_* attributes are parsed here with libmnl's tb[] pattern rather
 * than through libnetfilter_conntrack: hostflow needs a dozen attributes
 * read into a fixed struct per entry, where libnetfilter_conntrack
 * allocates an nf_conntrack object per message (nfct_new()/nfct_destroy()
 * per entry on the hot path) and adds a library and its libnfnetlink to
 * every front end; a hand parser is also what the fuzzer can reach.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <endian.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "hostflow.h"
#include "internal.h"

const char *hf_ct_tcp_state_name(unsigned int state)
{
	static const char *const names[HF_CT_TCP_MAX] = {
		"NONE",	      "SYN_SENT", "SYN_RECV",  "ESTABLISHED", "FIN_WAIT",
		"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",	      "SYN_SENT2",
	};
	return state < HF_CT_TCP_MAX ? names[state] : NULL;
}

const char *hf_proto_name(unsigned int proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	case IPPROTO_SCTP:
		return "sctp";
	case IPPROTO_UDPLITE:
		return "udplite";
	case IPPROTO_DCCP:
		return "dccp";
	case IPPROTO_GRE:
		return "gre";
	default:
		return NULL;
	}
}

const char *hf_source_name(enum hf_source s)
{
	return s == HF_SOURCE_CONNTRACK ? "conntrack" : "sockets";
}

const char *hf_ct_acct_hint(void)
{
	return "traffic unknown: conntrack accounting is off; turn it on with "
	       "\"sysctl -w net.netfilter.nf_conntrack_acct=1\" (it counts connections "
	       "created afterwards)";
}

/* ---- ctnetlink ------------------------------------------------------------------------------ */

/* A table of attribute pointers, one level; unknown types are skipped. */
struct tb {
	const struct nlattr **a;
	unsigned int max;
};

static int tb_cb(const struct nlattr *attr, void *data)
{
	struct tb *t = data;
	unsigned int type = mnl_attr_get_type(attr);

	if (type <= t->max)
		t->a[type] = attr;
	return MNL_CB_OK;
}

/*
 * Walk the nested attributes of @nest into @a[0..max]. mnl_attr_parse_nested()
 * checks that each attribute fits its parent; a broken one fails the walk.
 */
static int nest_parse(const struct nlattr *nest, const struct nlattr **a, unsigned int max)
{
	struct tb t = { a, max };

	memset(a, 0, (max + 1) * sizeof(*a));
	if (mnl_attr_get_payload_len(nest) == 0)
		return 0;
	return mnl_attr_parse_nested(nest, tb_cb, &t) < 0 ? -EBADMSG : 0;
}

/* The payload of @a when it is exactly @len bytes, else NULL. */
static const void *attr_exact(const struct nlattr *a, size_t len)
{
	if (!a || mnl_attr_get_payload_len(a) != len)
		return NULL;
	return mnl_attr_get_payload(a);
}

static int get_u8(const struct nlattr *a, uint8_t *v)
{
	const void *p = attr_exact(a, 1);
	if (!p)
		return -EBADMSG;
	memcpy(v, p, 1);
	return 0;
}

static int get_be16(const struct nlattr *a, uint16_t *v)
{
	const void *p = attr_exact(a, 2);
	uint16_t x;
	if (!p)
		return -EBADMSG;
	memcpy(&x, p, 2);
	*v = ntohs(x);
	return 0;
}

static int get_be32(const struct nlattr *a, uint32_t *v)
{
	const void *p = attr_exact(a, 4);
	uint32_t x;
	if (!p)
		return -EBADMSG;
	memcpy(&x, p, 4);
	*v = ntohl(x);
	return 0;
}

static int get_be64(const struct nlattr *a, uint64_t *v)
{
	const void *p = attr_exact(a, 8);
	uint64_t x;
	if (!p)
		return -EBADMSG;
	memcpy(&x, p, 8);
	*v = be64toh(x);
	return 0;
}

static int parse_tuple(const struct nlattr *nest, int family, struct hf_ct_tuple *t)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
	const void *src, *dst;
	size_t alen = family == AF_INET ? 4 : 16;

	memset(t, 0, sizeof(*t));
	t->family = (uint8_t)family;
	if (nest_parse(nest, tb, CTA_TUPLE_MAX) < 0 || !tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO])
		return -EBADMSG;
	if (nest_parse(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0)
		return -EBADMSG;
	if (family == AF_INET) {
		src = attr_exact(ip[CTA_IP_V4_SRC], alen);
		dst = attr_exact(ip[CTA_IP_V4_DST], alen);
	} else {
		src = attr_exact(ip[CTA_IP_V6_SRC], alen);
		dst = attr_exact(ip[CTA_IP_V6_DST], alen);
	}
	if (!src || !dst)
		return -EBADMSG;
	memcpy(t->src.b, src, alen);
	memcpy(t->dst.b, dst, alen);
	if (nest_parse(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) < 0 ||
	    get_u8(pr[CTA_PROTO_NUM], &t->proto) < 0)
		return -EBADMSG;
	/* Ports are there for TCP, UDP, SCTP, DCCP, UDP-Lite; ICMP carries id/type/code instead. */
	if (pr[CTA_PROTO_SRC_PORT] && get_be16(pr[CTA_PROTO_SRC_PORT], &t->sport) < 0)
		return -EBADMSG;
	if (pr[CTA_PROTO_DST_PORT] && get_be16(pr[CTA_PROTO_DST_PORT], &t->dport) < 0)
		return -EBADMSG;
	return 0;
}

static int parse_counters(const struct nlattr *nest, uint64_t *packets, uint64_t *bytes)
{
	const struct nlattr *tb[CTA_COUNTERS_MAX + 1];

	if (nest_parse(nest, tb, CTA_COUNTERS_MAX) < 0)
		return -EBADMSG;
	/* 64-bit counters since Linux 2.6.27; the 32-bit CTA_COUNTERS32_* are not sent any more. */
	if (get_be64(tb[CTA_COUNTERS_PACKETS], packets) < 0 ||
	    get_be64(tb[CTA_COUNTERS_BYTES], bytes) < 0)
		return -EBADMSG;
	return 0;
}

static int parse_protoinfo(const struct nlattr *nest, struct hf_ct_entry *out)
{
	const struct nlattr *tb[CTA_PROTOINFO_MAX + 1], *tcp[CTA_PROTOINFO_TCP_MAX + 1];

	if (nest_parse(nest, tb, CTA_PROTOINFO_MAX) < 0)
		return -EBADMSG;
	if (!tb[CTA_PROTOINFO_TCP])
		return 0;
	if (nest_parse(tb[CTA_PROTOINFO_TCP], tcp, CTA_PROTOINFO_TCP_MAX) < 0)
		return -EBADMSG;
	if (tcp[CTA_PROTOINFO_TCP_STATE]) {
		if (get_u8(tcp[CTA_PROTOINFO_TCP_STATE], &out->tcp_state) < 0)
			return -EBADMSG;
		out->has_tcp_state = out->tcp_state < HF_CT_TCP_MAX;
	}
	return 0;
}

int hf_ct_parse(const struct nlmsghdr *nlh, struct hf_ct_entry *out)
{
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };
	struct tb t = { tb, CTA_MAX };
	const struct nfgenmsg *g;
	unsigned int type;
	uint64_t p[2] = { 0 }, b[2] = { 0 };

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_len < sizeof(*nlh) + sizeof(*g))
		return -EBADMSG;
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
		return -EPROTO;
	type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	if (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE)
		return -EPROTO;
	out->destroy = type == IPCTNL_MSG_CT_DELETE;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->nfgen_family != AF_INET && g->nfgen_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (mnl_attr_parse(nlh, sizeof(*g), tb_cb, &t) < 0)
		return -EBADMSG;
	if (!tb[CTA_TUPLE_ORIG] || !tb[CTA_TUPLE_REPLY] ||
	    parse_tuple(tb[CTA_TUPLE_ORIG], g->nfgen_family, &out->orig) < 0 ||
	    parse_tuple(tb[CTA_TUPLE_REPLY], g->nfgen_family, &out->reply) < 0)
		return -EBADMSG;
	if (tb[CTA_COUNTERS_ORIG] && tb[CTA_COUNTERS_REPLY]) {
		if (parse_counters(tb[CTA_COUNTERS_ORIG], &p[0], &b[0]) < 0 ||
		    parse_counters(tb[CTA_COUNTERS_REPLY], &p[1], &b[1]) < 0)
			return -EBADMSG;
		out->counters = true;
		memcpy(out->packets, p, sizeof(p));
		memcpy(out->bytes, b, sizeof(b));
	} else if (tb[CTA_COUNTERS_ORIG] || tb[CTA_COUNTERS_REPLY]) {
		return -EBADMSG; /* the kernel sends both or neither (ctnetlink_dump_acct()) */
	}
	if (tb[CTA_PROTOINFO] && parse_protoinfo(tb[CTA_PROTOINFO], out) < 0)
		return -EBADMSG;
	if (tb[CTA_STATUS] && get_be32(tb[CTA_STATUS], &out->status) < 0)
		return -EBADMSG;
	if (tb[CTA_ID] && get_be32(tb[CTA_ID], &out->id) < 0)
		return -EBADMSG;
	if (tb[CTA_MARK] && get_be32(tb[CTA_MARK], &out->mark) < 0)
		return -EBADMSG;
	if (tb[CTA_ZONE] && get_be16(tb[CTA_ZONE], &out->zone) < 0)
		return -EBADMSG;
	return 0;
}

/* ---- /proc/net/nf_conntrack ------------------------------------------------------------------ */

struct cursor {
	const char *p, *end;
};

/* The next space-separated word, or false at the end of the line. */
static bool next_word(struct cursor *c, const char **w, size_t *wl)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	if (c->p >= c->end || *c->p == '\n')
		return false;
	*w = c->p;
	while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\n')
		c->p++;
	*wl = (size_t)(c->p - *w);
	return true;
}

static bool parse_u64(const char *s, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned int d = (unsigned int)(s[i] - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

static bool parse_ip(const char *s, size_t len, int family, union hf_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(a, 0, sizeof(*a));
	return inet_pton(family, buf, a->b) == 1;
}

/* Whether word @w is "key=..." and if so its value. */
static bool kv(const char *w, size_t wl, const char *key, const char **v, size_t *vl)
{
	size_t kl = strlen(key);

	if (wl <= kl || memcmp(w, key, kl) != 0 || w[kl] != '=')
		return false;
	*v = w + kl + 1;
	*vl = wl - kl - 1;
	return true;
}

int hf_ct_proc_parse_line(const char *line, size_t len, struct hf_ct_entry *out)
{
	struct cursor c = { line, line + len };
	const char *w, *v;
	size_t wl, vl;
	uint64_t x;
	int family, tuple = 0;	      /* which tuple the next src= starts: 0 orig, 1 reply */
	unsigned int seen[2] = { 0 }; /* bits: src dst sport dport packets bytes */
	struct hf_ct_tuple *t = NULL;
	uint8_t proto;

	memset(out, 0, sizeof(*out));
	/* "ipv4 2 tcp 6 431999 [STATE]" */
	if (!next_word(&c, &w, &wl))
		return -EBADMSG;
	if (wl == 4 && memcmp(w, "ipv4", 4) == 0)
		family = AF_INET;
	else if (wl == 4 && memcmp(w, "ipv6", 4) == 0)
		family = AF_INET6;
	else
		return -EBADMSG;
	if (!next_word(&c, &w, &wl) || !parse_u64(w, wl, 255, &x)) /* l3 number */
		return -EBADMSG;
	if (!next_word(&c, &w, &wl)) /* protocol name */
		return -EBADMSG;
	if (!next_word(&c, &w, &wl) || !parse_u64(w, wl, 255, &x))
		return -EBADMSG;
	proto = (uint8_t)x;
	if (!next_word(&c, &w, &wl) || !parse_u64(w, wl, UINT32_MAX, &x)) /* timeout */
		return -EBADMSG;
	out->orig.family = out->reply.family = (uint8_t)family;
	out->orig.proto = out->reply.proto = proto;
	tuple = -1;
	while (next_word(&c, &w, &wl)) {
		if (kv(w, wl, "src", &v, &vl)) {
			if (++tuple > 1)
				return -EBADMSG;
			t = tuple == 0 ? &out->orig : &out->reply;
			if (!parse_ip(v, vl, family, &t->src))
				return -EBADMSG;
			seen[tuple] |= 1;
		} else if (tuple < 0) {
			/* Before the first tuple: TCP's state ("ESTABLISHED"), SCTP's, or nothing. */
			if (proto == IPPROTO_TCP)
				for (unsigned int s = 0; s < HF_CT_TCP_MAX; s++) {
					const char *n = hf_ct_tcp_state_name(s);
					if (strlen(n) == wl && memcmp(n, w, wl) == 0) {
						out->tcp_state = (uint8_t)s;
						out->has_tcp_state = true;
					}
				}
		} else if (kv(w, wl, "dst", &v, &vl)) {
			if (!parse_ip(v, vl, family, &t->dst))
				return -EBADMSG;
			seen[tuple] |= 2;
		} else if (kv(w, wl, "sport", &v, &vl)) {
			if (!parse_u64(v, vl, 65535, &x))
				return -EBADMSG;
			t->sport = (uint16_t)x;
		} else if (kv(w, wl, "dport", &v, &vl)) {
			if (!parse_u64(v, vl, 65535, &x))
				return -EBADMSG;
			t->dport = (uint16_t)x;
		} else if (kv(w, wl, "packets", &v, &vl)) {
			if (!parse_u64(v, vl, UINT64_MAX, &out->packets[tuple]))
				return -EBADMSG;
			seen[tuple] |= 4;
		} else if (kv(w, wl, "bytes", &v, &vl)) {
			if (!parse_u64(v, vl, UINT64_MAX, &out->bytes[tuple]))
				return -EBADMSG;
			seen[tuple] |= 8;
		} else if (kv(w, wl, "mark", &v, &vl)) {
			if (!parse_u64(v, vl, UINT32_MAX, &x))
				return -EBADMSG;
			out->mark = (uint32_t)x;
		} else if (kv(w, wl, "zone", &v, &vl)) {
			if (!parse_u64(v, vl, 65535, &x))
				return -EBADMSG;
			out->zone = (uint16_t)x;
		}
		/* [UNREPLIED], [ASSURED], type=, code=, id=, use=, secctx=...: not needed */
	}
	if (tuple != 1 || (seen[0] & 3) != 3 || (seen[1] & 3) != 3)
		return -EBADMSG;
	out->counters = (seen[0] & 12) == 12 && (seen[1] & 12) == 12;
	if (!out->counters)
		memset(out->packets, 0, sizeof(out->packets)),
			memset(out->bytes, 0, sizeof(out->bytes));
	return 0;
}

/* ---- local addresses and direction ------------------------------------------------------------ */

static int ent_cmp(const void *pa, const void *pb)
{
	const struct hf_addrset_ent *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(&a->addr, &b->addr, sizeof(a->addr));
}

int hf_addrset_add(struct hf_addrset *set, int family, const union hf_addr *addr)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct hf_addrset_ent *a = realloc(set->a, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		set->a = a;
		set->cap = cap;
	}
	memset(&set->a[set->n], 0, sizeof(set->a[set->n]));
	set->a[set->n].family = (uint8_t)family;
	memcpy(set->a[set->n].addr.b, addr->b, family == AF_INET ? 4 : 16);
	set->n++;
	return 0;
}

void hf_addrset_sort(struct hf_addrset *set)
{
	if (set->n > 1)
		qsort(set->a, set->n, sizeof(*set->a), ent_cmp);
}

void hf_addrset_free(struct hf_addrset *set)
{
	free(set->a);
	memset(set, 0, sizeof(*set));
}

bool hf_addrset_has(const struct hf_addrset *set, int family, const union hf_addr *addr)
{
	struct hf_addrset_ent key;

	if (hf_addr_is_loopback(family, addr))
		return true;
	memset(&key, 0, sizeof(key));
	key.family = (uint8_t)family;
	memcpy(key.addr.b, addr->b, family == AF_INET ? 4 : 16);
	return set->n && bsearch(&key, set->a, set->n, sizeof(*set->a), ent_cmp) != NULL;
}

enum hf_dir hf_ct_direction(const struct hf_ct_entry *e, const struct hf_addrset *local)
{
	if (hf_addrset_has(local, e->orig.family, &e->orig.src))
		return HF_DIR_ACTIVE;
	if (hf_addrset_has(local, e->orig.family, &e->orig.dst))
		return HF_DIR_PASSIVE;
	return HF_DIR_FORWARDED;
}
