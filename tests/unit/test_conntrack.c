/*
 * test_conntrack.c - the conntrack source's pure parts: the ctnetlink
 * parser on messages built with libmnl's put helpers, the dump loop's
 * handler, the /proc/net/nf_conntrack parser on a fixture, and the
 * direction of an entry.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "hostflow.h"
#include "internal.h"
#include "tap.h"

/* What a message gets: each field can be left out or broken on purpose. */
struct spec {
	int family;
	uint8_t proto;
	const char *osrc, *odst, *rsrc, *rdst;
	uint16_t osport, odport, rsport, rdport;
	bool counters, only_orig_counters, short_bytes, short_src, no_reply, no_proto;
	uint64_t p0, b0, p1, b1;
	int tcp_state; /* -1: none */
	uint32_t id, mark, status;
	uint16_t zone;
	uint16_t type; /* IPCTNL_MSG_CT_NEW by default */
	uint8_t subsys;
};

static void put_tuple(struct nlmsghdr *nlh, uint16_t type, const struct spec *s, const char *src,
		      const char *dst, uint16_t sport, uint16_t dport)
{
	struct nlattr *t = mnl_attr_nest_start(nlh, type), *ip, *pr;
	uint8_t a[16], b[16];
	size_t alen = s->family == AF_INET ? 4 : 16;

	inet_pton(s->family, src, a);
	inet_pton(s->family, dst, b);
	ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, s->family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC,
		     s->short_src ? alen - 1 : alen, a);
	mnl_attr_put(nlh, s->family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen, b);
	mnl_attr_nest_end(nlh, ip);
	if (!s->no_proto) {
		pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
		mnl_attr_put_u8(nlh, CTA_PROTO_NUM, s->proto);
		if (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP) {
			mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
			mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
		}
		mnl_attr_nest_end(nlh, pr);
	}
	mnl_attr_nest_end(nlh, t);
}

static void put_counters(struct nlmsghdr *nlh, uint16_t type, uint64_t p, uint64_t b, bool short_b)
{
	struct nlattr *c = mnl_attr_nest_start(nlh, type);

	mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(p));
	if (short_b)
		mnl_attr_put_u32(nlh, CTA_COUNTERS_BYTES, htonl((uint32_t)b));
	else
		mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(b));
	mnl_attr_nest_end(nlh, c);
}

static struct nlmsghdr *put_ct(void *at, uint32_t seq, const struct spec *s)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	struct nfgenmsg *g;

	nlh->nlmsg_type =
		(uint16_t)(((s->subsys ? s->subsys : NFNL_SUBSYS_CTNETLINK) << 8) | s->type);
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = (uint8_t)s->family;
	g->version = NFNETLINK_V0;
	put_tuple(nlh, CTA_TUPLE_ORIG, s, s->osrc, s->odst, s->osport, s->odport);
	if (!s->no_reply)
		put_tuple(nlh, CTA_TUPLE_REPLY, s, s->rsrc, s->rdst, s->rsport, s->rdport);
	if (s->counters || s->only_orig_counters) {
		put_counters(nlh, CTA_COUNTERS_ORIG, s->p0, s->b0, s->short_bytes);
		if (!s->only_orig_counters)
			put_counters(nlh, CTA_COUNTERS_REPLY, s->p1, s->b1, false);
	}
	if (s->tcp_state >= 0) {
		struct nlattr *pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
		struct nlattr *tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
		mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, (uint8_t)s->tcp_state);
		mnl_attr_nest_end(nlh, tcp);
		mnl_attr_nest_end(nlh, pi);
	}
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(s->status));
	mnl_attr_put_u32(nlh, CTA_ID, htonl(s->id));
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(s->mark));
	mnl_attr_put_u16(nlh, CTA_ZONE, htons(s->zone));
	mnl_attr_put_u32(nlh, 200, 0); /* an attribute of a future kernel: skipped */
	return nlh;
}

static struct spec tcp4(void)
{
	struct spec s = {
		.family = AF_INET,
		.proto = IPPROTO_TCP,
		.osrc = "198.51.100.2",
		.odst = "198.51.100.1",
		.rsrc = "198.51.100.1",
		.rdst = "198.51.100.2",
		.osport = 40000,
		.odport = 80,
		.rsport = 80,
		.rdport = 40000,
		.counters = true,
		.p0 = 4,
		.b0 = 1216,
		.p1 = 3,
		.b1 = 5000000000ull, /* above 2^32: all 64 bits are read */
		.tcp_state = HF_CT_TCP_ESTABLISHED,
		.id = 0xdeadbeef,
		.mark = 7,
		.status = 0x0e,
		.zone = 3,
		.type = IPCTNL_MSG_CT_NEW,
	};
	return s;
}

static int parse_spec(const struct spec *s, struct hf_ct_entry *e)
{
	static char buf[4096] __attribute__((aligned(8)));

	memset(buf, 0, sizeof(buf));
	return hf_ct_parse(put_ct(buf, 1, s), e);
}

static void test_parse(void)
{
	struct spec s = tcp4();
	struct hf_ct_entry e;
	char a[HF_ADDRSTRLEN];
	int ret;

	ret = parse_spec(&s, &e);
	EQ_INT(ret, 0, "parse: an IPv4 TCP entry with every attribute");
	EQ_INT(e.orig.family, AF_INET, "parse: family");
	EQ_INT(e.orig.proto, IPPROTO_TCP, "parse: protocol from CTA_PROTO_NUM");
	EQ_STR(hf_addr_str(AF_INET, &e.orig.src, 0, a, sizeof(a)), "198.51.100.2",
	       "parse: original source");
	EQ_STR(hf_addr_str(AF_INET, &e.reply.src, 0, a, sizeof(a)), "198.51.100.1",
	       "parse: reply source");
	EQ_INT(e.orig.sport, 40000, "parse: ports in host order");
	EQ_INT(e.orig.dport, 80, "parse: original destination port");
	OK(e.counters && e.packets[0] == 4 && e.bytes[0] == 1216 && e.packets[1] == 3 &&
		   e.bytes[1] == 5000000000ull,
	   "parse: both counters, big-endian 64-bit");
	OK(e.has_tcp_state && e.tcp_state == HF_CT_TCP_ESTABLISHED, "parse: conntrack TCP state");
	OK(e.id == 0xdeadbeef && e.mark == 7 && e.status == 0x0e && e.zone == 3 && !e.destroy,
	   "parse: id, mark, status, zone");

	s = tcp4();
	s.type = IPCTNL_MSG_CT_DELETE;
	ret = parse_spec(&s, &e);
	OK(ret == 0 && e.destroy, "parse: a destroy event is marked");

	s = tcp4();
	s.family = AF_INET6;
	s.proto = IPPROTO_UDP;
	s.osrc = s.rdst = "2001:db8::2";
	s.odst = s.rsrc = "2001:db8::1";
	s.counters = false;
	s.tcp_state = -1;
	ret = parse_spec(&s, &e);
	OK(ret == 0 && e.orig.family == AF_INET6 && !e.counters && !e.has_tcp_state &&
		   e.bytes[0] == 0 &&
		   strcmp(hf_addr_str(AF_INET6, &e.orig.dst, 0, a, sizeof(a)), "2001:db8::1") == 0,
	   "parse: IPv6 UDP without counters (accounting off)");

	s = tcp4();
	s.proto = IPPROTO_ICMP;
	s.tcp_state = -1;
	ret = parse_spec(&s, &e);
	OK(ret == 0 && e.orig.sport == 0 && e.orig.dport == 0,
	   "parse: a protocol without ports has ports 0");

	s = tcp4();
	s.short_src = true;
	EQ_INT(parse_spec(&s, &e), -EBADMSG, "parse: a 3-byte IPv4 address is refused");
	s = tcp4();
	s.no_reply = true;
	EQ_INT(parse_spec(&s, &e), -EBADMSG, "parse: no CTA_TUPLE_REPLY is refused");
	s = tcp4();
	s.no_proto = true;
	EQ_INT(parse_spec(&s, &e), -EBADMSG, "parse: no CTA_TUPLE_PROTO is refused");
	s = tcp4();
	s.short_bytes = true;
	EQ_INT(parse_spec(&s, &e), -EBADMSG, "parse: a 32-bit CTA_COUNTERS_BYTES is refused");
	s = tcp4();
	s.counters = false;
	s.only_orig_counters = true;
	EQ_INT(parse_spec(&s, &e), -EBADMSG, "parse: one direction's counters alone are refused");
	s = tcp4();
	s.family = AF_BRIDGE;
	EQ_INT(parse_spec(&s, &e), -EAFNOSUPPORT, "parse: another family is refused");
	s = tcp4();
	s.subsys = NFNL_SUBSYS_CTNETLINK_EXP;
	EQ_INT(parse_spec(&s, &e), -EPROTO, "parse: another subsystem is refused");

	/* A nested attribute that claims more than its parent holds. */
	{
		static char buf[4096] __attribute__((aligned(8)));
		struct nlmsghdr *nlh;
		struct nlattr *orig;
		s = tcp4();
		memset(buf, 0, sizeof(buf));
		nlh = put_ct(buf, 1, &s);
		orig = (struct nlattr *)((char *)mnl_nlmsg_get_payload(nlh) +
					 sizeof(struct nfgenmsg));
		/* CTA_TUPLE_ORIG's first child, CTA_TUPLE_IP: claim 200 bytes */
		((struct nlattr *)mnl_attr_get_payload(orig))->nla_len = 200;
		EQ_INT(hf_ct_parse(nlh, &e), -EBADMSG,
		       "parse: a child longer than its nest is refused");
		nlh->nlmsg_len = sizeof(*nlh) + 2;
		EQ_INT(hf_ct_parse(nlh, &e), -EBADMSG, "parse: a message shorter than nfgenmsg");
	}
}

static int count_cb(const struct hf_ct_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static void test_handle(void)
{
	static char buf[8192] __attribute__((aligned(8)));
	struct spec s = tcp4();
	struct nlmsghdr *nlh;
	const char *what = "";
	char *p = buf;
	int n = 0, ret, len;

	memset(buf, 0, sizeof(buf));
	nlh = put_ct(p, 9, &s);
	p += nlh->nlmsg_len;
	nlh = put_ct(p, 9, &s);
	p += nlh->nlmsg_len;
	nlh = mnl_nlmsg_put_header(p);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_seq = 9;
	mnl_nlmsg_put_extra_header(nlh, sizeof(int));
	p += nlh->nlmsg_len;
	len = (int)(p - buf);
	ret = hf__ct_handle(buf, len, 9, count_cb, &n, &what);
	OK(ret == 1 && n == 2, "handle: two entries then NLMSG_DONE");
	n = 0;
	EQ_INT(hf__ct_handle(buf, len, 8, count_cb, &n, &what), -EPROTO,
	       "handle: a foreign sequence number is an error");
	n = 0;
	ret = hf__ct_handle(buf, len, 0, count_cb, &n, &what);
	OK(ret == 1 && n == 2, "handle: events (sequence 0) take any sequence");
	EQ_INT(hf__ct_handle(buf, len - 3, 9, count_cb, &n, &what), -EBADMSG,
	       "handle: a truncated read is an error");

	/* NLMSG_ERROR EOPNOTSUPP: what the kernel answers without nf_conntrack_netlink */
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = 9;
	{
		struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
		e->error = -EOPNOTSUPP;
	}
	EQ_INT(hf__ct_handle(buf, (int)nlh->nlmsg_len, 9, count_cb, &n, &what), -EOPNOTSUPP,
	       "handle: NLMSG_ERROR's errno is returned");
	EQ_STR(what, "NLMSG_ERROR", "handle: the step is named");
}

struct collect {
	int n, tcp, udp, other, no_acct;
	uint64_t bytes;
	struct hf_ct_entry last;
};

static int collect_cb(const struct hf_ct_entry *e, void *arg)
{
	struct collect *c = arg;

	c->n++;
	c->tcp += e->orig.proto == IPPROTO_TCP;
	c->udp += e->orig.proto == IPPROTO_UDP;
	c->other += e->orig.proto != IPPROTO_TCP && e->orig.proto != IPPROTO_UDP;
	c->no_acct += !e->counters;
	c->bytes += e->bytes[0] + e->bytes[1];
	c->last = *e;
	return 0;
}

static void test_proc(void)
{
	static const char line[] =
		"ipv4     2 tcp      6 431999 ESTABLISHED src=198.51.100.2 dst=198.51.100.1 "
		"sport=34154 dport=80 packets=4 bytes=1216 src=198.51.100.1 dst=198.51.100.2 "
		"sport=80 dport=34154 packets=3 bytes=1164 [ASSURED] mark=5 zone=2 use=2";
	struct hf_ct_entry e;
	struct collect c = { 0 };
	char buf[512], a[HF_ADDRSTRLEN];
	int ret;

	ret = hf_ct_proc_parse_line(line, strlen(line), &e);
	OK(ret == 0 && e.orig.proto == IPPROTO_TCP && e.orig.sport == 34154 && e.orig.dport == 80 &&
		   e.reply.sport == 80 && e.counters && e.bytes[0] == 1216 && e.bytes[1] == 1164 &&
		   e.packets[0] == 4 && e.packets[1] == 3 && e.mark == 5 && e.zone == 2 &&
		   e.has_tcp_state && e.tcp_state == HF_CT_TCP_ESTABLISHED &&
		   strcmp(hf_addr_str(AF_INET, &e.orig.src, 0, a, sizeof(a)), "198.51.100.2") == 0,
	   "proc: a TCP line with counters");
	EQ_INT(hf_ct_proc_parse_line(line, 60, &e), -EBADMSG, "proc: a cut line is refused");
	EQ_INT(hf_ct_proc_parse_line("ipv5 2 tcp 6 1 src=1.2.3.4", 26, &e), -EBADMSG,
	       "proc: an unknown family is refused");
	snprintf(buf, sizeof(buf), "%s", line);
	memcpy(strstr(buf, "sport=34154"), "sport=99999", 11);
	EQ_INT(hf_ct_proc_parse_line(buf, strlen(buf), &e), -EBADMSG,
	       "proc: a port above 65535 is refused");
	snprintf(buf, sizeof(buf), "%s", line);
	memcpy(strstr(buf, "dst=198.51.100.1"), "dst=198.51.300.1", 16);
	EQ_INT(hf_ct_proc_parse_line(buf, strlen(buf), &e), -EBADMSG,
	       "proc: a bad address is refused");

	ret = hf__ct_proc_dump("tests/unit/fixtures/conntrack/nf_conntrack", buf, 400, collect_cb,
			       &c);
	OK(ret == 0 && c.n == 6 && c.tcp == 3 && c.udp == 2 && c.other == 1 && c.no_acct == 1,
	   "proc: the fixture's 6 entries through a 400-byte buffer");
	EQ_INT(c.bytes, 1216 + 1164 + 1216 + 1164 + 128 + 84 + 84 + 900 + 4000,
	       "proc: the fixture's bytes");
	OK(c.last.reply.dst.b[0] == 203, "proc: the reply tuple's NAT address is kept");
	EQ_INT(hf__ct_proc_dump("tests/unit/fixtures/conntrack/nf_conntrack", buf, 100, collect_cb,
				&c),
	       -EBADMSG, "proc: a line longer than the buffer is an error, not a cut");
	EQ_INT(hf__ct_proc_dump("tests/unit/fixtures/conntrack/absent", buf, 400, collect_cb, &c),
	       -ENOENT, "proc: a missing file says ENOENT");
}

static void test_direction(void)
{
	struct hf_addrset set = { 0 };
	struct hf_ct_entry e;
	struct spec s = tcp4();
	union hf_addr a;

	memset(&a, 0, sizeof(a));
	inet_pton(AF_INET, "198.51.100.1", a.b);
	hf_addrset_add(&set, AF_INET, &a);
	inet_pton(AF_INET6, "2001:db8::1", a.b);
	hf_addrset_add(&set, AF_INET6, &a);
	hf_addrset_sort(&set);
	parse_spec(&s, &e);
	EQ_INT(hf_ct_direction(&e, &set), HF_DIR_PASSIVE,
	       "direction: the original destination is ours: passive");
	s.osrc = "198.51.100.1";
	s.odst = "198.51.100.2";
	parse_spec(&s, &e);
	EQ_INT(hf_ct_direction(&e, &set), HF_DIR_ACTIVE,
	       "direction: the original source is ours: active");
	s.osrc = "198.51.100.5";
	parse_spec(&s, &e);
	EQ_INT(hf_ct_direction(&e, &set), HF_DIR_FORWARDED, "direction: neither: forwarded");
	s.osrc = "127.0.0.9";
	parse_spec(&s, &e);
	EQ_INT(hf_ct_direction(&e, &set), HF_DIR_ACTIVE, "direction: 127.0.0.0/8 is always ours");
	hf_addrset_free(&set);
}

static const struct hf_flow *find_flow(struct hf_flow *flows, size_t n, uint8_t proto,
				       uint16_t pport)
{
	for (size_t i = 0; i < n; i++)
		if (flows[i].proto == proto && flows[i].pport == pport)
			return &flows[i];
	return NULL;
}

/* The collector over the /proc fixture: no address of it is this host's, so all is forwarded. */
static void test_collect_proc(void)
{
	struct hf_open_opts o = { .source = HF_SOURCE_CONNTRACK,
				  .backend = HF_BACKEND_PROC,
				  .proc_root = "tests/unit/fixtures/conntrack/root" };
	struct hf_ctx *ctx = hf_open_with(&o);
	const struct hf_ct_info *ci;
	const struct hf_flow *f;
	struct hf_flow *flows;
	struct hf_filter filter;
	char a[HF_ADDRSTRLEN];
	size_t n;
	int ret;

	OK(ctx != NULL, "collect: a conntrack collector over /proc opens");
	if (!ctx)
		return;
	ret = hf_collect(ctx, NULL);
	EQ_INT(ret, 0, "collect: the fixture is read");
	flows = hf_flows(ctx, &n);
	EQ_INT(n, 5, "collect: 6 entries make 5 flows");
	f = find_flow(flows, n, IPPROTO_TCP, 80);
	OK(f && f->dir == HF_DIR_FORWARDED && f->conns == 2 && f->lport == 0 &&
		   f->ct.bytes_sent == 2432 && f->ct.bytes_received == 2328 &&
		   f->ct.packets_sent == 8 && f->ct.packets_received == 6 && f->ct.traffic_known &&
		   f->ct.tcp_states[HF_CT_TCP_ESTABLISHED] == 2 && !f->ct.nat_src && !f->ct.nat_dst,
	   "collect: TCP :80 forwarded, 2 connections, the initiator's bytes as sent");
	f = find_flow(flows, n, IPPROTO_TCP, 443);
	OK(f && f->ct.nat_src && !f->ct.nat_dst &&
		   strcmp(hf_addr_str(AF_INET, &f->ct.nat_saddr, 0, a, sizeof(a)), "203.0.113.9") ==
			   0 &&
		   f->ct.tcp_states[HF_CT_TCP_TIME_WAIT] == 1,
	   "collect: a translated initiator is shown as nat_src");
	f = find_flow(flows, n, IPPROTO_UDP, 53);
	OK(f && f->family == AF_INET && f->ct.bytes_sent == 128 && f->ct.bytes_received == 0,
	   "collect: UDP :53, unreplied");
	f = NULL;
	for (size_t i = 0; i < n; i++)
		if (flows[i].family == AF_INET6)
			f = &flows[i];
	OK(f && !f->ct.traffic_known && f->ct.no_acct == 1,
	   "collect: an entry without counters makes its flow's traffic unknown");
	f = find_flow(flows, n, IPPROTO_ICMP, 0);
	OK(f && f->conns == 1 && f->ct.bytes_sent == 84, "collect: ICMP counted by protocol");
	ci = hf_ct_info(ctx);
	OK(ci && ci->entries == 6 && ci->entries_no_acct == 1 && ci->traffic_unknown &&
		   ci->count == 6 && ci->max == 8 && ci->acct == 1,
	   "collect: entries, count, max and acct reported");
	OK(hf_source(ctx) == HF_SOURCE_CONNTRACK && hf_backend(ctx) == HF_BACKEND_PROC,
	   "collect: source conntrack, backend proc");

	hf_filter_init(&filter);
	filter.protocols = HF_PROTO_UDP;
	ret = hf_collect(ctx, &filter);
	flows = hf_flows(ctx, &n);
	OK(ret == 0 && n == 2 && flows[0].proto == IPPROTO_UDP && flows[1].proto == IPPROTO_UDP,
	   "collect: the UDP filter keeps the 2 UDP flows");
	hf_close(ctx);

	o.proc_root = "tests/unit/fixtures/conntrack/empty-root";
	ctx = hf_open_with(&o);
	ret = ctx ? hf_collect(ctx, NULL) : 0;
	OK(ret == -ENOENT && strstr(hf_strerror(ctx), "net/nf_conntrack: No such file") &&
		   strstr(hf_strerror(ctx), "load nf_conntrack"),
	   "collect: no /proc/net/nf_conntrack is an error naming the file and the cause");
	if (ret != -ENOENT && ctx)
		printf("#   %d %s\n", ret, hf_strerror(ctx));
	hf_close(ctx);

	o.ct_flags = HF_CT_EVENTS;
	errno = 0;
	ctx = hf_open_with(&o);
	OK(ctx == NULL && errno == EINVAL, "open: events over /proc are refused (EINVAL)");
	hf_close(ctx);
}

/*
 * A handle opened in another network namespace stays bound to it: opened
 * after unshare(CLONE_NEWNET), then used from the first namespace, it sees
 * the new namespace's addresses (loopback only) and its empty table.
 */
static void test_netns_handle(void)
{
	struct hf_addrset set = { 0 };
	struct hf_open_opts o = { .source = HF_SOURCE_CONNTRACK, .backend = HF_BACKEND_NETLINK };
	struct hf_nfct *h = NULL;
	struct hf_ctx *ctx;
	int self, ret;
	bool only_lo = true;
	size_t n;

	if (geteuid() != 0) {
		printf("ok - netns: a handle opened in another namespace stays there # SKIP needs root\n");
		return;
	}
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0 || unshare(CLONE_NEWNET) < 0) {
		printf("ok - netns: a handle opened in another namespace stays there # SKIP %s\n",
		       strerror(errno));
		if (self >= 0)
			close(self);
		return;
	}
	system("ip link set lo up 2>/dev/null");
	h = hf_nfct_open(0);
	ret = setns(self, CLONE_NEWNET);
	close(self);
	OK(h && ret == 0, "netns: hf_nfct_open() in a new namespace, then back");
	if (!h || ret != 0)
		exit(1); /* not in the namespace the other tests expect */
	ret = hf_nfct_addrs(h, &set);
	for (size_t i = 0; i < set.n; i++)
		only_lo = only_lo && hf_addr_is_loopback(set.a[i].family, &set.a[i].addr);
	OK(ret == 0 && only_lo, "netns: its address dump is the new namespace's (%zu, loopback)",
	   set.n);
	hf_addrset_free(&set);
	o.nfct = h;
	ctx = hf_open_with(&o);
	ret = ctx ? hf_collect(ctx, NULL) : -errno;
	hf_flows(ctx, &n);
	OK(ret == 0 && n == 0 && hf_ct_info(ctx)->count == 0 && hf_ct_info(ctx)->max > 0,
	   "netns: a collector over it reads that namespace's empty table");
	hf_close(ctx);
}

int main(void)
{
	test_netns_handle();
	test_collect_proc();
	test_parse();
	test_handle();
	test_proc();
	test_direction();
	EQ_STR(hf_ct_tcp_state_name(HF_CT_TCP_SYN_SENT2), "SYN_SENT2",
	       "names: conntrack TCP states");
	OK(hf_ct_tcp_state_name(HF_CT_TCP_MAX) == NULL, "names: none past the last");
	return tap_failed != 0;
}
