/*
 * test_core.c - /proc parsing, classification, aggregation, filters and
 * JSON, on the fixture host under tests/unit/fixtures/proc:
 *
 *   listeners: 0.0.0.0:80 (accept queue 3), 198.51.100.1:8080, [::]:443
 *   198.51.100.1:80   <- .11:40001 EST, .11:40002 EST, .11:40003 CLOSE_WAIT
 *   198.51.100.1:80   <- .17:40007 SYN_RECV (a request socket)
 *   198.51.100.1:8080 <- .12:40004 EST          (listener bound to .1)
 *   198.51.100.2:8080 -> .13:9000 EST           (same port, other address: active)
 *   198.51.100.1:22   <- .14:50000 EST          (no listener: rule 2)
 *   198.51.100.1:45000 -> .15:3306 SYN_SENT, :45001 -> .15:3306 TIME_WAIT
 *   ::ffff:198.51.100.1:443 <- ::ffff:198.51.100.16 EST (dual-stack listener)
 *   [2001:db8::1]:443 <- [2001:db8::11] EST
 *   [2001:db8::1]:41000,41001 -> [2001:db8::12]:80 EST, FIN_WAIT2
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "hostflow.h"
#include "plugin.h"
#include "tap.h"

#define FIXTURE "tests/unit/fixtures/proc"

static char *json_of(struct hf_flow *flows, size_t n, bool states)
{
	static char out[16384];
	struct hf_json_opts o = { .states = states };
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *b;
	size_t len;

	if (hf_json_flows(g, flows, n, &o) < 0) {
		yajl_gen_free(g);
		return NULL;
	}
	yajl_gen_get_buf(g, &b, &len);
	snprintf(out, sizeof(out), "%.*s", (int)len, b);
	yajl_gen_free(g);
	return out;
}

/* One line per flow: "dir local peer conns", sorted as hf_flow_cmp sorts. */
static char *lines_of(struct hf_ctx *ctx)
{
	static char out[8192];
	size_t n, used = 0;
	struct hf_flow *f = hf_flows(ctx, &n);

	qsort(f, n, sizeof(*f), hf_flow_cmp);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char l[HF_LABEL_MAX];
		hf_flow_label(&f[i], l, sizeof(l), NULL, NULL);
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s %u\n", l, f[i].conns);
	}
	return out;
}

static void test_collect_proc(void)
{
	struct hf_ctx *ctx = hf_open(HF_BACKEND_PROC, FIXTURE);
	struct hf_listener *l;
	size_t n;

	OK(ctx != NULL, "a /proc collector opens");
	EQ_INT(hf_collect(ctx, NULL), 0, "the fixture host is collected");
	EQ_INT(hf_backend(ctx), HF_BACKEND_PROC, "backend is proc");
	EQ_STR(lines_of(ctx),
	       "198.51.100.1:80 <- 198.51.100.11:many 3\n"
	       "198.51.100.1:many -> 198.51.100.15:3306 2\n"
	       "[2001:db8::1]:many -> [2001:db8::12]:80 2\n"
	       "198.51.100.2:many -> 198.51.100.13:9000 1\n"
	       "198.51.100.1:22 <- 198.51.100.14:many 1\n"
	       "198.51.100.1:80 <- 198.51.100.17:many 1\n"
	       "198.51.100.1:443 <- 198.51.100.16:many 1\n"
	       "198.51.100.1:8080 <- 198.51.100.12:many 1\n"
	       "[2001:db8::1]:443 <- [2001:db8::11]:many 1\n",
	       "every direction rule gives the expected flows");

	const struct hf_totals *t = hf_totals(ctx);
	EQ_INT(t->sockets, 13, "13 sockets besides listeners");
	EQ_INT(t->listeners, 3, "3 listening sockets");
	EQ_INT(t->flows, 9, "9 flows");
	EQ_INT(t->states[HF_ESTABLISHED], 8, "8 ESTABLISHED");
	EQ_INT(t->states[HF_TIME_WAIT], 1, "1 TIME_WAIT");
	EQ_INT(t->states[HF_SYN_RECV], 1, "1 SYN_RECV");

	l = hf_listeners(ctx, &n);
	EQ_INT(n, 3, "3 listeners");
	EQ_INT(l[0].port, 80, "listeners in /proc order");
	EQ_INT(l[0].accept_queue, 3, "accept queue from rx_queue");
	EQ_INT(l[0].syn_recv, 1, "a request socket counts as half-open on its listener");
	EQ_INT(l[0].established, 2, "ESTABLISHED passive connections of the listener");
	OK(!l[0].backlog_known, "/proc cannot know the backlog");
	EQ_INT(l[2].established, 2, "the dual-stack listener holds an IPv4 and an IPv6 connection");

	/* Collecting again replaces the snapshot, it does not add to it. */
	EQ_INT(hf_collect(ctx, NULL), 0, "a second collection");
	EQ_INT(hf_totals(ctx)->sockets, 13, "totals are per collection");
	l = hf_listeners(ctx, &n);
	EQ_INT(l[0].syn_recv, 1, "listener figures are per collection");
	hf_close(ctx);
}

static void test_classify(void)
{
	struct hf_ctx *ctx = hf_open(HF_BACKEND_PROC, FIXTURE);
	struct hf_listener *l, *ls;
	struct hf_sock s;
	size_t n;

	hf_collect(ctx, NULL);
	memset(&s, 0, sizeof(s));
	s.family = AF_INET;
	s.state = HF_ESTABLISHED;
	inet_pton(AF_INET, "198.51.100.1", &s.laddr);
	inet_pton(AF_INET, "198.51.100.99", &s.raddr);

	s.lport = 8080, s.rport = 50000;
	EQ_INT(hf_classify(ctx, &s, 32768, 60999, &l), HF_DIR_PASSIVE,
	       "rule 1: listener bound to the local address");
	OK(l && l->port == 8080, "the bound listener is the match");
	inet_pton(AF_INET, "198.51.100.2", &s.laddr);
	s.rport = 9000;
	EQ_INT(hf_classify(ctx, &s, 32768, 60999, &l), HF_DIR_ACTIVE,
	       "a listener's port on another address does not make a connection passive");
	s.lport = 80;
	EQ_INT(hf_classify(ctx, &s, 32768, 60999, &l), HF_DIR_PASSIVE,
	       "rule 1: wildcard listener of the family");
	s.lport = 443;
	EQ_INT(hf_classify(ctx, &s, 32768, 60999, &l), HF_DIR_PASSIVE,
	       "rule 1: a dual-stack :: listener takes IPv4");
	ls = hf_listeners(ctx, &n);
	ls[2].v6only = true;
	EQ_INT(hf_classify(ctx, &s, 32768, 60999, &l), HF_DIR_ACTIVE,
	       "an IPV6_V6ONLY :: listener does not take IPv4");
	ls[2].v6only = false;
	s.lport = 22, s.rport = 50000;
	EQ_INT(hf_classify(ctx, &s, 32768, 60999, &l), HF_DIR_PASSIVE,
	       "rule 2: service port facing an ephemeral port");
	OK(l == NULL, "rule 2 matches no listener");
	EQ_INT(hf_classify(ctx, &s, 1, 65000, &l), HF_DIR_ACTIVE,
	       "rule 3: with port 22 inside the local range the connection is active");
	s.lport = 40000, s.rport = 22;
	EQ_INT(hf_classify(ctx, &s, 32768, 60999, &l), HF_DIR_ACTIVE,
	       "rule 3: ephemeral local port to a service port");
	hf_close(ctx);
}

static void test_json(void)
{
	struct hf_ctx *ctx = hf_open(HF_BACKEND_PROC, FIXTURE);
	struct hf_filter f;
	struct hf_flow *flows;
	size_t n;

	hf_filter_init(&f);
	f.n_include_port = 1;
	f.include_port[0] = 80;
	hf_collect(ctx, &f);
	flows = hf_flows(ctx, &n);
	qsort(flows, n, sizeof(*flows), hf_flow_cmp);
	EQ_STR(json_of(flows, n, true),
	       "[{\"direction\":\"passive\",\"local\":{\"name\":\"198.51.100.1\",\"addr\":"
	       "\"198.51.100.1\",\"port\":\"80\"},\"peer\":{\"name\":\"198.51.100.11\",\"addr\":"
	       "\"198.51.100.11\",\"port\":\"many\"},\"connections\":3,\"states\":{\"ESTABLISHED\":"
	       "2,\"CLOSE_WAIT\":1}},"
	       "{\"direction\":\"active\",\"local\":{\"name\":\"2001:db8::1\",\"addr\":\"2001:db8::"
	       "1\",\"port\":\"many\"},\"peer\":{\"name\":\"2001:db8::12\",\"addr\":\"2001:db8::12\""
	       ",\"port\":\"80\"},\"connections\":2,\"states\":{\"ESTABLISHED\":1,\"FIN_WAIT2\":1}},"
	       "{\"direction\":\"passive\",\"local\":{\"name\":\"198.51.100.1\",\"addr\":\"198.51.1"
	       "00.1\",\"port\":\"80\"},\"peer\":{\"name\":\"198.51.100.17\",\"addr\":\"198.51.100"
	       ".17\",\"port\":\"many\"},\"connections\":1,\"states\":{\"SYN_RECV\":1}}]",
	       "JSON of the port-80 flows, lstf's schema plus states");
	EQ_STR(json_of(flows, 1, false),
	       "[{\"direction\":\"passive\",\"local\":{\"name\":\"198.51.100.1\",\"addr\":"
	       "\"198.51.100.1\",\"port\":\"80\"},\"peer\":{\"name\":\"198.51.100.11\",\"addr\":"
	       "\"198.51.100.11\",\"port\":\"many\"},\"connections\":3}]",
	       "JSON without states is lstf's schema exactly");
	EQ_STR(json_of(flows, 0, true), "[]", "no flows: an empty array");
	hf_close(ctx);
}

static void test_filters(void)
{
	struct hf_ctx *ctx = hf_open(HF_BACKEND_PROC, FIXTURE);
	struct hf_filter f;

	hf_filter_init(&f);
	f.peer_prefix4 = 24;
	hf_collect(ctx, &f);
	EQ_STR(lines_of(ctx),
	       "198.51.100.1:80 <- 198.51.100.0/24:many 4\n"
	       "198.51.100.1:many -> 198.51.100.0/24:3306 2\n"
	       "[2001:db8::1]:many -> [2001:db8::12]:80 2\n"
	       "198.51.100.2:many -> 198.51.100.0/24:9000 1\n"
	       "198.51.100.1:22 <- 198.51.100.0/24:many 1\n"
	       "198.51.100.1:443 <- 198.51.100.0/24:many 1\n"
	       "198.51.100.1:8080 <- 198.51.100.0/24:many 1\n"
	       "[2001:db8::1]:443 <- [2001:db8::11]:many 1\n",
	       "PeerPrefix4 24 groups IPv4 peers, IPv6 untouched");

	hf_filter_init(&f);
	f.families = HF_FAMILY_V6;
	hf_collect(ctx, &f);
	EQ_STR(lines_of(ctx),
	       "[2001:db8::1]:many -> [2001:db8::12]:80 2\n"
	       "[2001:db8::1]:443 <- [2001:db8::11]:many 1\n",
	       "-6 keeps IPv6 flows (the v4-mapped one is IPv4)");
	EQ_INT(hf_totals(ctx)->sockets, 13, "host totals are not filtered");

	hf_filter_init(&f);
	hf_cidr_parse("198.51.100.0/28", &f.exclude_net[f.n_exclude_net++]);
	f.families = HF_FAMILY_V4;
	f.n_exclude_port = 1;
	f.exclude_port[0] = 80;
	hf_collect(ctx, &f);
	EQ_STR(lines_of(ctx), "198.51.100.1:443 <- 198.51.100.16:many 1\n",
	       "ExcludeNet and ExcludePort (on the service port)");

	hf_filter_init(&f);
	f.scope = HF_SCOPE_PRIVATE;
	hf_collect(ctx, &f);
	EQ_STR(lines_of(ctx), "", "documentation addresses are not private");
	f.scope = HF_SCOPE_PUBLIC;
	hf_collect(ctx, &f);
	EQ_INT(hf_totals(ctx)->flows, 9, "and all are public");
	hf_close(ctx);
}

static void test_proc_errors(void)
{
	struct hf_sock s;
	const char *good = "   0: 016433C6:0050 0B6433C6:9C41 01 00000000:00000000 00:00000000 "
			   "00000000  1000        0 2001 1 0000000000000000 20 4 30 10 -1";
	char bad[256];

	EQ_INT(hf_proc_parse_line(good, strlen(good), AF_INET, &s), 0, "a /proc line parses");
	EQ_INT(s.inode, 2001, "inode from /proc");
	for (size_t cut = 10; cut <= 94; cut += 7)
		if (hf_proc_parse_line(good, cut, AF_INET, &s) != -EBADMSG) {
			OK(0, "a line cut at %zu is refused", cut);
			break;
		} else if (cut + 7 > 94) {
			OK(1, "lines cut anywhere before the inode are refused");
		}
	snprintf(bad, sizeof(bad), "%s", good);
	bad[28] = 'G';
	EQ_INT(hf_proc_parse_line(bad, strlen(bad), AF_INET, &s), -EBADMSG,
	       "a non-hex address is refused");
	snprintf(bad, sizeof(bad), "%s", good);
	memcpy(bad + 34, "0C", 2);
	EQ_INT(hf_proc_parse_line(bad, strlen(bad), AF_INET, &s), -EBADMSG,
	       "an unknown state is refused");
	const char *hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when";
	EQ_INT(hf_proc_parse_line(hdr, strlen(hdr), AF_INET, &s), -EBADMSG,
	       "the header is no socket");

	struct hf_ctx *ctx = hf_open(HF_BACKEND_PROC, "/nonexistent");
	EQ_INT(hf_collect(ctx, NULL), -ENOENT, "a missing /proc is an error, not zero sockets");
	EQ_STR(hf_strerror(ctx), "/nonexistent/net/tcp: No such file or directory",
	       "the error names the file");
	hf_close(ctx);
}

static void test_host(void)
{
	struct hf_host h;
	const char *t = "TcpExt: A ListenOverflows ListenDrops\nTcpExt: 1 2 3\n";

	EQ_INT(hf_host_read(FIXTURE, &h), 0, "the fixture's netstat and sysctls are read");
	EQ_INT(h.counters[HF_LISTEN_OVERFLOWS], 42, "ListenOverflows");
	EQ_INT(h.counters[HF_LISTEN_DROPS], 43, "ListenDrops");
	EQ_INT(h.counters[HF_REQQ_FULL_DROP], 7, "TCPReqQFullDrop");
	EQ_INT(h.counters[HF_SYNCOOKIES_SENT], 5, "SyncookiesSent");
	EQ_INT(h.somaxconn, 4096, "somaxconn");
	EQ_INT(h.max_syn_backlog, 512, "tcp_max_syn_backlog");
	EQ_INT(h.syncookies, 1, "tcp_syncookies");
	EQ_INT(hf_netstat_parse(t, strlen(t), &h), 0, "a short netstat parses");
	EQ_INT(h.present, (1u << HF_LISTEN_OVERFLOWS) | (1u << HF_LISTEN_DROPS),
	       "only counters present are marked present");
	t = "TcpExt: A ListenOverflows\nTcpExt: 1\n";
	EQ_INT(hf_netstat_parse(t, strlen(t), &h), -EBADMSG, "header and values that disagree");
	t = "IpExt: A\nIpExt: 1\n";
	EQ_INT(hf_netstat_parse(t, strlen(t), &h), -EBADMSG, "no TcpExt lines");
	uint16_t lo, hi;
	EQ_INT(hf_port_range_read(FIXTURE, &lo, &hi), 0, "port range read");
	OK(lo == 32768 && hi == 60999, "port range values");
}

static void test_cidr(void)
{
	struct hf_cidr c;
	union hf_addr a;
	char s[HF_ADDRSTRLEN];

	EQ_INT(hf_cidr_parse("198.51.100.77/24", &c), 0, "CIDR parses");
	EQ_STR(hf_addr_str(c.family, &c.addr, c.plen, s, sizeof(s)), "198.51.100.0/24",
	       "host bits cleared");
	inet_pton(AF_INET, "198.51.100.200", &a);
	OK(hf_cidr_contains(&c, AF_INET, &a), "contains an address of the net");
	inet_pton(AF_INET, "198.51.101.1", &a);
	OK(!hf_cidr_contains(&c, AF_INET, &a), "not an address outside");
	EQ_INT(hf_cidr_parse("2001:db8::/33", &c), 0, "IPv6 CIDR parses");
	EQ_INT(c.plen, 33, "IPv6 prefix length");
	EQ_INT(hf_cidr_parse("198.51.100.0/33", &c), -EINVAL, "prefix too long");
	EQ_INT(hf_cidr_parse("198.51.100.0/", &c), -EINVAL, "empty prefix");
	EQ_INT(hf_cidr_parse("example", &c), -EINVAL, "not an address");
	EQ_INT(hf_cidr_parse("::ffff:198.51.100.0/120", &c), 0, "v4-mapped prefix");
	OK(c.family == AF_INET && c.plen == 24, "v4-mapped prefix becomes IPv4 /24");
}

static void test_options(void)
{
	struct hf_options o;
	char err[256];

	hf_options_init(&o, HF_AGENT_ANY);
	EQ_INT(o.max_flows, HF_MAX_FLOWS_DEFAULT, "MaxFlows default");
	EQ_INT(hf_options_set(&o, "max flows", "5", err, sizeof(err)), 0, "netdata spelling");
	EQ_INT(o.max_flows, 5, "MaxFlows set");
	EQ_INT(hf_options_set(&o, "MaxFlows", "6", err, sizeof(err)), -EEXIST, "duplicate key");
	EQ_STR(err, "option MaxFlows given twice (second value \"6\")", "duplicate named");
	EQ_INT(hf_options_set(&o, "Frobnicate", "1", err, sizeof(err)), -ENOENT, "unknown key");
	EQ_STR(err, "unknown option \"Frobnicate\"", "unknown key named");
	EQ_INT(hf_options_set(&o, "ReportStates", "maybe", err, sizeof(err)), -EINVAL, "bad bool");
	EQ_STR(err, "option ReportStates: \"maybe\" is not a boolean (true or false)",
	       "bad bool named");
	EQ_INT(hf_options_set(&o, "report_states", "yes", err, sizeof(err)), 0, "bool yes");
	OK(o.report_states, "ReportStates set");
	EQ_INT(hf_options_set(&o, "IncludeNet", "198.51.100.0/24", err, sizeof(err)), 0, "net 1");
	EQ_INT(hf_options_set(&o, "IncludeNet", "2001:db8::/32", err, sizeof(err)), 0,
	       "IncludeNet repeats");
	EQ_INT(o.filter.n_include_net, 2, "two nets");
	EQ_INT(hf_options_set(&o, "ExcludeNet", "198.51.100.0/99", err, sizeof(err)), -EINVAL,
	       "bad CIDR");
	EQ_INT(hf_options_set(&o, "IncludePort", "65536", err, sizeof(err)), -EINVAL, "bad port");
	EQ_INT(hf_options_set(&o, "PeerPrefix6", "64", err, sizeof(err)), 0, "PeerPrefix6");
	EQ_INT(o.filter.peer_prefix6, 64, "PeerPrefix6 set");
	EQ_INT(hf_options_set(&o, "Filter", "public", err, sizeof(err)), 0, "Filter");
	EQ_INT(hf_options_set(&o, "Backend", "carrier-pigeon", err, sizeof(err)), -EINVAL,
	       "bad backend");
	EQ_INT(o.n_netns, 0, "Namespaces: none by default (the own namespace)");
	EQ_INT(hf_options_set(&o, "Namespaces", "host  web-1\tns/pod", err, sizeof(err)), 0,
	       "Namespaces: blank-separated specs");
	EQ_INT(hf_options_set(&o, "namespaces", "all", err, sizeof(err)), 0, "Namespaces repeats");
	EQ_INT(o.n_netns, 4, "Namespaces: four specs");
	EQ_STR(o.netns[2], "ns/pod", "Namespaces: a name kept as written");
	EQ_STR(o.netns[3], "all", "Namespaces: the repeated one");
	EQ_INT(hf_options_set(&o, "Namespaces", "  ", err, sizeof(err)), -EINVAL,
	       "Namespaces: blank refused");
	EQ_STR(err, "option Namespaces: empty; give all, host, self or names", "blank named");
	OK(hf_options_repeats("name_spaces") && hf_options_repeats("Pin") &&
		   !hf_options_repeats("MaxFlows") && !hf_options_repeats("Frobnicate"),
	   "hf_options_repeats");
}

int main(void)
{
	test_collect_proc();
	test_classify();
	test_json();
	test_filters();
	test_proc_errors();
	test_host();
	test_cidr();
	test_options();
	return tap_failed != 0;
}
