/*
 * test_netdata_plugin.c - hostflow.plugin's output logic, tick by tick,
 * on made-up collections: ids, new dimensions, held flows and "other",
 * pins, the grace period and obsolete dimensions and charts, listener
 * queues and fill, labels, the log form and hostflow.conf parsing. The
 * plugin's objects but main.o are linked in (see the Makefile).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nd.h"

#include "tap.h"

#define SEC ND_USEC

/* A check that @err, a protocol_error() result, is NULL. */
#define VALID(err, ...)                         \
	do {                                    \
		const char *e_ = (err);         \
		OK(!e_, __VA_ARGS__);           \
		if (e_)                         \
			printf("#   %s\n", e_); \
	} while (0)

static struct hf_flow mkflow(enum hf_dir dir, const char *l, uint16_t lport, const char *p,
			     uint16_t pport, uint32_t conns)
{
	struct hf_flow f;

	memset(&f, 0, sizeof(f));
	f.dir = (uint8_t)dir;
	f.proto = IPPROTO_TCP; /* as the sockets source keys every flow */
	f.family = strchr(l, ':') ? AF_INET6 : AF_INET;
	inet_pton(f.family, l, &f.laddr);
	inet_pton(f.family, p, &f.paddr);
	f.pplen = f.family == AF_INET ? 32 : 128;
	f.lport = lport;
	f.pport = pport;
	f.conns = conns;
	f.states[HF_ESTABLISHED] = conns;
	return f;
}

static struct hf_listener mklst(const char *a, uint16_t port, uint32_t q, uint32_t backlog,
				bool known)
{
	struct hf_listener l;

	memset(&l, 0, sizeof(l));
	l.family = strchr(a, ':') ? AF_INET6 : AF_INET;
	inet_pton(l.family, a, &l.addr);
	l.port = port;
	l.accept_queue = q;
	l.backlog = backlog;
	l.backlog_known = known;
	l.nsocks = 1;
	l.socks[0].accept_queue = q;
	l.socks[0].backlog = backlog;
	return l;
}

/* One tick's output. */
struct out {
	char *buf;
	size_t len;
	FILE *f;
};

static void tick(struct nd *nd, struct out *o, uint64_t now, enum hf_backend be,
		 const struct hf_flow *flows, size_t n, const struct hf_listener *l, size_t nl)
{
	struct hf_flow copy[16];
	struct hf_totals t;
	struct hf_host h;

	memset(&t, 0, sizeof(t));
	memset(&h, 0, sizeof(h));
	t.states[HF_ESTABLISHED] = 7;
	t.states[HF_CLOSE_WAIT] = 2;
	t.listeners = nl;
	h.present = 1u << HF_LISTEN_OVERFLOWS;
	h.counters[HF_LISTEN_OVERFLOWS] = 42;
	h.somaxconn = 128;
	h.max_syn_backlog = -1;
	h.syncookies = 1;
	memcpy(copy, flows, n * sizeof(*flows));
	free(o->buf);
	o->buf = NULL;
	o->f = open_memstream(&o->buf, &o->len);
	nd->out = o->f;
	OK(nd_tick(nd, now, be, copy, n, l, nl, &t, &h) == 0, "tick at %llus",
	   (unsigned long long)(now / SEC));
	fclose(o->f);
}

static bool has(const struct out *o, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = o->buf; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && memcmp(p, line, n) == 0)
			return true;
		p = e ? e + 1 : p + l;
	}
	return false;
}

static bool contains(const struct out *o, const char *s)
{
	return o->buf && strstr(o->buf, s) != NULL;
}

/*
 * The output as netdata 1.37 reads it: known keywords only, lines below
 * 1024 bytes, SET only inside BEGIN/END and to a dimension declared for
 * the chart, BEGIN/END balanced. @dims remembers declarations across ticks.
 */
struct decl {
	char chart[200];
	char dim[200];
};

static struct decl decls[256];
static size_t ndecls;

static const char *protocol_error(const struct out *o)
{
	static char why[500];
	static const char *const kw[] = { "CHART",    "DIMENSION", "BEGIN",	    "SET",    "END",
					  "VARIABLE", "CLABEL",	   "CLABEL_COMMIT", "DISABLE" };
	char chart[200] = "", begun[200] = "";

	for (const char *p = o->buf; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char line[1100], word[32] = "", a1[200] = "";
		bool known = false;

		if (!e)
			return "last line without a newline";
		if (l >= 1024)
			return "a line of 1024 bytes or more";
		memcpy(line, p, l);
		line[l] = '\0';
		sscanf(line, "%31s %199s", word, a1);
		for (size_t k = 0; k < sizeof(kw) / sizeof(kw[0]); k++)
			known = known || strcmp(word, kw[k]) == 0;
		if (!known) {
			snprintf(why, sizeof(why), "unknown keyword in \"%.100s\"", line);
			return why;
		}
		if (strcmp(word, "CHART") == 0) {
			if (*begun)
				return "CHART inside BEGIN/END";
			snprintf(chart, sizeof(chart), "%s", a1);
		} else if (strcmp(word, "DIMENSION") == 0) {
			if (!*chart || *begun)
				return "DIMENSION without CHART";
			if (ndecls < 256) {
				snprintf(decls[ndecls].chart, sizeof(decls[0].chart), "%s", chart);
				snprintf(decls[ndecls].dim, sizeof(decls[0].dim), "%s", a1);
				ndecls++;
			}
		} else if (strcmp(word, "BEGIN") == 0) {
			if (*begun)
				return "BEGIN inside BEGIN";
			snprintf(begun, sizeof(begun), "%s", a1);
		} else if (strcmp(word, "END") == 0) {
			if (!*begun)
				return "END without BEGIN";
			begun[0] = '\0';
		} else if (strcmp(word, "SET") == 0) {
			bool ok = false;
			if (!*begun)
				return "SET outside BEGIN/END";
			for (size_t k = 0; k < ndecls && !ok; k++)
				ok = strcmp(decls[k].chart, begun) == 0 &&
				     strcmp(decls[k].dim, a1) == 0;
			if (!ok) {
				snprintf(why, sizeof(why), "SET %s of %s: not declared", a1, begun);
				return why;
			}
		}
		for (const char *c = line; *c; c++)
			if ((unsigned char)*c < 0x20)
				return "control byte in a line";
		p = e + 1;
	}
	return *begun ? "BEGIN without END" : NULL;
}

static void check_ids(void)
{
	struct hf_flow f = mkflow(HF_DIR_PASSIVE, "10.0.1.10", 3306, "10.0.1.9", 0, 1);
	struct hf_listener l = mklst("::", 443, 0, 0, true);
	char id[ND_ID_MAX];

	nd_flow_id(&f, id, sizeof(id));
	EQ_STR(id, "p4_10_0_1_10_3306_10_0_1_9_many", "id of a passive IPv4 flow");
	f = mkflow(HF_DIR_ACTIVE, "2001:db8::1", 0, "2001:db8::11", 443, 1);
	nd_flow_id(&f, id, sizeof(id));
	EQ_STR(id, "a6_2001xdb8xx1_many_2001xdb8xx11_443", "id of an active IPv6 flow");
	f = mkflow(HF_DIR_ACTIVE, "2001:db8:0:0:1:0:0:1", 0, "1:0:1:0:1:0:1:0", 80, 1);
	nd_flow_id(&f, id, sizeof(id));
	EQ_STR(id, "a6_2001xdb8xx1x0x0x1_many_1x0x1x0x1x0x1x0_80",
	       "IPv6: the first longest zero run compressed, single zeros kept");
	f = mkflow(HF_DIR_ACTIVE, "::1", 0, "::ffff:1.2.3.4", 80, 1);
	nd_flow_id(&f, id, sizeof(id));
	EQ_STR(id, "a6_xx1_many_xxffffx102x304_80", "IPv6: never a dotted tail");
	f = mkflow(HF_DIR_ACTIVE, "1::", 0, "fe80::", 80, 1);
	nd_flow_id(&f, id, sizeof(id));
	EQ_STR(id, "a6_1xx_many_fe80xx_80", "IPv6: a trailing zero run");
	f = mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.0", 0, 1);
	f.pplen = 24;
	nd_flow_id(&f, id, sizeof(id));
	EQ_STR(id, "p4_198_51_100_1_80_198_51_100_0_s24_many", "a peer prefix");
	f = mkflow(HF_DIR_PASSIVE, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
		   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0, 1);
	f.pplen = 127;
	OK(nd_flow_id(&f, id, sizeof(id)) < ND_ID_MAX, "the longest id fits (%zu bytes)",
	   strlen(id));
	nd_listener_id(&l, id, sizeof(id));
	EQ_STR(id, "v6_xx_443", "id of the listener [::]:443");
	l = mklst("0.0.0.0", 80, 0, 0, true);
	nd_listener_id(&l, id, sizeof(id));
	EQ_STR(id, "v4_0_0_0_0_80", "id of the listener 0.0.0.0:80");
}

static void check_word(void)
{
	char buf[8];
	char big[2000];

	nd_word("a'b\"c\\d\n", buf, sizeof(buf));
	EQ_STR(buf, "a_b_c_d", "quotes, backslashes and control bytes become '_', cut to size");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char name[ND_NAME_MAX];
		nd_word(big, name, sizeof(name));
		EQ_INT(strlen(name), ND_NAME_MAX - 1, "a long name is cut to ND_NAME_MAX - 1");
	}
}

/* Whether a line of the output starts with @s. */
static bool line_starts(const struct out *o, const char *s)
{
	size_t n = strlen(s);

	for (const char *p = o->buf; p && *p;) {
		const char *e = strchr(p, '\n');
		if (strncmp(p, s, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static size_t count(const struct out *o, const char *s)
{
	size_t n = 0;

	for (const char *p = o->buf; p && (p = strstr(p, s)); p++)
		n++;
	return n;
}

static void check_ticks(void)
{
	struct hf_options opt;
	struct nd nd;
	struct out o = { 0 };
	struct hf_flow flows[3] = {
		mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 3),
		mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.12", 0, 2),
		mkflow(HF_DIR_ACTIVE, "198.51.100.1", 0, "198.51.100.11", 8080, 4),
	};
	struct hf_listener l[3] = {
		mklst("0.0.0.0", 80, 11, 10, true),
		mklst("198.51.100.1", 5432, 3, 128, false),
		mklst("127.0.0.1", 19999, 0, 4096, true),
	};
	const char *p11 = "p4_198_51_100_1_80_198_51_100_11_many";
	const char *p12 = "p4_198_51_100_1_80_198_51_100_12_many";
	char line[400];
	uint64_t t0 = 1000 * SEC;

	hf_options_init(&opt, HF_AGENT_NETDATA);
	opt.max_flows = 1;
	opt.hold_time = 2;
	opt.obsolete_after = 3;
	ndecls = 0;
	EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init");

	tick(&nd, &o, t0, HF_BACKEND_NETLINK, flows, 3, l, 3);
	VALID(protocol_error(&o), "tick 1: the output is valid protocol");
	OK(has(&o, "CHART hostflow.flows_passive '' 'TCP Connections per Passive Flow' "
		   "'connections' 'flows' 'hostflow.flows_passive' stacked 70001 1 '' "
		   "'hostflow.plugin' 'flows'"),
	   "tick 1: the passive flows chart, its title, family and context");
	OK(has(&o, "CLABEL 'backend' 'netlink' 1") && has(&o, "CLABEL_COMMIT"),
	   "tick 1: a label names the backend");
	snprintf(line, sizeof(line),
		 "DIMENSION %s '198.51.100.1:80 <- 198.51.100.11:many' absolute 1 1", p11);
	OK(has(&o, line), "tick 1: the largest passive flow is a dimension named by the flow");
	OK(!contains(&o, p12), "tick 1: MaxFlows 1: the second passive flow is no dimension");
	OK(has(&o, "SET other = 2"), "tick 1: it is in \"other\"");
	snprintf(line, sizeof(line), "SET %s = 3", p11);
	OK(has(&o, line), "tick 1: the flow's connections");
	OK(has(&o, "DIMENSION a4_198_51_100_1_many_198_51_100_11_8080 "
		   "'198.51.100.1:many -> 198.51.100.11:8080' absolute 1 1"),
	   "tick 1: the active flow");
	OK(has(&o, "BEGIN hostflow.flows_passive"), "tick 1: BEGIN without a duration at first");
	OK(has(&o, "SET established = 7") && has(&o, "SET close_wait = 2"),
	   "tick 1: host totals per state, lower case");
	OK(has(&o, "CHART hostflow.listen '' 'TCP Listening Sockets' 'sockets' 'states' "
		   "'hostflow.listen' line 70003 1 '' 'hostflow.plugin' 'states'") &&
		   has(&o, "SET listen = 3") &&
		   !has(&o, "DIMENSION listen 'listen' absolute 1 1\n"),
	   "tick 1: listening sockets on a line chart of their own, not stacked with states");
	OK(!contains(&o, "DIMENSION listen 'LISTEN'") &&
		   contains(&o, "BEGIN hostflow.states\nSET established = 7\nSET syn_sent"),
	   "tick 1: the states chart has no listen dimension");
	OK(has(&o, "CHART hostflow.listener_v4_0_0_0_0_80 '' 'Listener Queues (0.0.0.0:80)' "
		   "'connections' 'listeners' 'hostflow.listener_queue' line 70101 1 '' "
		   "'hostflow.plugin' 'listeners'"),
	   "tick 1: a queues chart per listener, in the shared context");
	OK(has(&o, "CLABEL 'listener' '0.0.0.0:80' 1"), "tick 1: a label names the listener");
	OK(has(&o, "SET accept_queue = 11") && !contains(&o, "backlog' absolute"),
	   "tick 1: the accept queue; the backlog is no dimension");
	OK(has(&o,
	       "CHART hostflow.listener_fill_v4_0_0_0_0_80 '' 'Listener Accept Queue Fill "
	       "(0.0.0.0:80)' 'percentage' 'listeners' 'hostflow.listener_fill' line 70100 1 '' "
	       "'hostflow.plugin' 'listeners'") &&
		   has(&o, "DIMENSION fill 'fill' absolute 1 100"),
	   "tick 1: a fill chart per listener, in percent with two decimals");
	OK(contains(&o, "BEGIN hostflow.listener_fill_v4_0_0_0_0_80\nVARIABLE CHART backlog = "
			"10\nSET fill = 10000\nEND\n"),
	   "tick 1: queue 11 at backlog 10 is a fill of 100.00%%; the backlog a chart variable");
	OK(contains(&o, "BEGIN hostflow.listener_v4_198_51_100_1_5432\nSET accept_queue = 3\n"
			"SET syn_recv = 0\nEND\n"),
	   "tick 1: a listener of unknown backlog has its queues");
	OK(!contains(&o, "listener_fill_v4_198_51_100_1_5432"),
	   "tick 1: but no fill chart: no alarm on an unknown backlog");
	OK(contains(&o, "CHART hostflow.listener_fill_v4_127_0_0_1_19999 '' 'Listener Accept "
			"Queue Fill (127.0.0.1:19999)' 'percentage' 'loopback listeners' "
			"'hostflow.loopback_listener_fill' line"),
	   "tick 1: a loopback listener's fill is in a context no stock alarm watches");
	OK(!contains(&o, "listen_counters") && !contains(&o, "ListenOverflows"),
	   "tick 1: no copy of netdata's ip.tcp_accept_queue counters");
	OK(has(&o, "VARIABLE HOST hostflow_somaxconn = 128") &&
		   !contains(&o, "hostflow_tcp_max_syn_backlog"),
	   "tick 1: settings as host variables, unreadable ones left out");

	l[0].backlog = l[0].socks[0].backlog = 20;
	tick(&nd, &o, t0 + SEC, HF_BACKEND_NETLINK, flows, 3, l, 3);
	VALID(protocol_error(&o), "tick 2: valid protocol");
	OK(!line_starts(&o, "CHART ") && !line_starts(&o, "DIMENSION ") &&
		   !line_starts(&o, "VARIABLE HOST "),
	   "tick 2: nothing new, nothing declared again");
	OK(has(&o, "BEGIN hostflow.flows_passive 1000000"),
	   "tick 2: BEGIN carries the microseconds since the last");
	OK(contains(&o, "VARIABLE CHART backlog = 20\nSET fill = 5238\n") &&
		   count(&o, "VARIABLE CHART") == 1,
	   "tick 2: a new backlog is sent once, with the fill it gives (11/21)");

	/* p12 grows past p11: it takes the top 1, p11 is held under its own dimension. */
	flows[1].conns = 5;
	tick(&nd, &o, t0 + 2 * SEC, HF_BACKEND_NETLINK, flows, 3, l, 3);
	VALID(protocol_error(&o), "tick 3: valid protocol");
	snprintf(line, sizeof(line),
		 "DIMENSION %s '198.51.100.1:80 <- 198.51.100.12:many' absolute 1 1", p12);
	OK(has(&o, line), "tick 3: the new top flow gets a dimension");
	snprintf(line, sizeof(line), "SET %s = 3", p11);
	OK(has(&o, line) && has(&o, "SET other = 0"),
	   "tick 3: the live flow pushed out keeps its dimension and its value, not in other");

	tick(&nd, &o, t0 + 4 * SEC, HF_BACKEND_NETLINK, flows, 3, l, 3);
	VALID(protocol_error(&o), "tick 4: valid protocol");
	snprintf(line, sizeof(line), "SET %s = 0", p11);
	OK(has(&o, line) && has(&o, "SET other = 3"),
	   "tick 4: out of the top for HoldTime (2 s): folded into other, its dimension at 0");
	OK(!contains(&o, "obsolete"), "tick 4: not yet obsolete");

	tick(&nd, &o, t0 + 7 * SEC, HF_BACKEND_NETLINK, flows, 3, l, 3);
	VALID(protocol_error(&o), "tick 5: valid protocol");
	snprintf(line, sizeof(line),
		 "DIMENSION %s '198.51.100.1:80 <- 198.51.100.12:many' absolute 1 1", p12);
	OK(has(&o, line), "tick 5: with the remaining dimensions");
	snprintf(line, sizeof(line),
		 "DIMENSION %s '198.51.100.1:80 <- 198.51.100.11:many' absolute 1 1 'obsolete'",
		 p11);
	OK(has(&o, line), "tick 5 (ObsoleteAfter 3 s at 0): declared obsolete, not hidden");
	OK(!contains(&o, "hidden"), "tick 5: nothing is ever hidden (it would leave history)");
	snprintf(line, sizeof(line), "SET %s", p11);
	OK(!contains(&o, line), "tick 5: and no longer set");

	tick(&nd, &o, t0 + 8 * SEC, HF_BACKEND_NETLINK, flows, 3, l, 3);
	OK(!contains(&o, p11) && !line_starts(&o, "CHART "), "tick 6: what expired is forgotten");

	/* p12 ends: it reads 0 (not its last value) until it is obsolete. */
	tick(&nd, &o, t0 + 9 * SEC, HF_BACKEND_NETLINK, flows + 2, 1, l, 2);
	VALID(protocol_error(&o), "tick 7: valid protocol");
	snprintf(line, sizeof(line), "SET %s = 0", p12);
	OK(has(&o, line) && has(&o, "SET other = 0"), "tick 7: a gone flow reads 0");
	OK(!contains(&o, "BEGIN hostflow.listener_fill_v4_127_0_0_1_19999"),
	   "tick 7: a gone listener gets no points, rather than made-up ones");

	tick(&nd, &o, t0 + 13 * SEC, HF_BACKEND_NETLINK, flows + 2, 1, l, 2);
	VALID(protocol_error(&o), "tick 8: valid protocol");
	OK(contains(&o, "CHART hostflow.listener_v4_127_0_0_1_19999 '' 'Listener Queues "
			"(127.0.0.1:19999)' 'connections' 'listeners' 'hostflow.listener_queue' "
			"line 70101 1 'obsolete'") &&
		   contains(&o,
			    "CHART hostflow.listener_fill_v4_127_0_0_1_19999 '' 'Listener "
			    "Accept Queue Fill (127.0.0.1:19999)' 'percentage' 'loopback "
			    "listeners' 'hostflow.loopback_listener_fill' line 70100 1 'obsolete'"),
	   "tick 8: a listener gone for ObsoleteAfter has both its charts made obsolete");

	/* The plugin falls back to /proc: backlogs become unknown. */
	l[0].backlog_known = false;
	tick(&nd, &o, t0 + 14 * SEC, HF_BACKEND_PROC, flows + 2, 1, l, 1);
	VALID(protocol_error(&o), "tick 9: valid protocol");
	OK(has(&o, "CLABEL 'backend' 'proc' 1") && contains(&o, "CHART hostflow.flows_active") &&
		   contains(&o, "CHART hostflow.states") &&
		   contains(&o, "CHART hostflow.listener_v4_0_0_0_0_80 "),
	   "tick 9: another backend: every chart declared again with its label");
	OK(contains(&o, "CHART hostflow.listener_fill_v4_0_0_0_0_80 '' 'Listener Accept Queue "
			"Fill (0.0.0.0:80)' 'percentage' 'listeners' 'hostflow.listener_fill' line "
			"70100 1 'obsolete'") &&
		   !contains(&o, "SET fill"),
	   "tick 9: a fill chart whose backlog became unknown is obsolete, not 100%%");
	nd_free(&nd);

	/* A pinned flow reads 0 before its first connection, and is never folded. */
	hf_options_init(&opt, HF_AGENT_NETDATA);
	opt.max_flows = 1;
	{
		char msg[256];
		int ret = nd_option_set(&opt, "Pin", "passive-198.51.100.1:443-198.51.100.99:many",
					msg, sizeof(msg));
		EQ_INT(ret, 0, "Pin passive-198.51.100.1:443-198.51.100.99:many");
	}
	ndecls = 0;
	EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init with a pin");
	tick(&nd, &o, t0, HF_BACKEND_NETLINK, flows, 3, l, 1);
	VALID(protocol_error(&o), "pin: valid protocol");
	OK(contains(&o, "DIMENSION p4_198_51_100_1_443_198_51_100_99_many '198.51.100.1:443 <- "
			"198.51.100.99:many' absolute 1 1\n") &&
		   has(&o, "SET p4_198_51_100_1_443_198_51_100_99_many = 0"),
	   "pin: a dimension reading 0 while it has no connection");
	{
		struct hf_flow more[4] = { flows[0], flows[1], flows[2],
					   mkflow(HF_DIR_PASSIVE, "198.51.100.1", 443,
						  "198.51.100.99", 0, 1) };
		tick(&nd, &o, t0 + SEC, HF_BACKEND_NETLINK, more, 4, l, 1);
	}
	OK(has(&o, "SET p4_198_51_100_1_443_198_51_100_99_many = 1") && has(&o, "SET other = 3"),
	   "pin: the smallest flow, pinned, keeps its dimension; the others fold as before");
	nd_free(&nd);

	/* 300 listeners on 127.0.0.1: MaxListeners of them are charted, the full one first. */
	{
		static struct hf_listener many[300];
		hf_options_init(&opt, HF_AGENT_NETDATA);
		opt.max_listeners = 5;
		for (int i = 0; i < 300; i++)
			many[i] = mklst("127.0.0.1", (uint16_t)(20000 + i), 0, 16, true);
		many[250] = mklst("127.0.0.1", 20250, 17, 16, true);
		ndecls = 0;
		EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init, MaxListeners 5");
		tick(&nd, &o, t0, HF_BACKEND_NETLINK, flows, 3, many, 300);
		VALID(protocol_error(&o), "300 listeners: valid protocol");
		EQ_INT(count(&o, "CHART hostflow.listener_v4_"), 5,
		       "300 listeners, MaxListeners 5: 5 queue charts");
		EQ_INT(count(&o, "CHART hostflow.listener_fill_v4_"), 5, "... and 5 fill charts");
		OK(contains(&o, "BEGIN hostflow.listener_fill_v4_127_0_0_1_20250\nVARIABLE CHART "
				"backlog = 16\nSET fill = 10000\n"),
		   "300 listeners: the full one is among them, at 100%%");
		nd_free(&nd);
		opt.filter.ignore_loopback = true;
		ndecls = 0;
		EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init, IgnoreLoopback");
		tick(&nd, &o, t0, HF_BACKEND_NETLINK, flows, 3, many, 300);
		OK(!contains(&o, "listener_"), "IgnoreLoopback: no loopback listener is charted");
		nd_free(&nd);
	}

	hf_options_init(&opt, HF_AGENT_NETDATA);
	opt.report_listeners = false;
	ndecls = 0;
	EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init, ReportListeners false");
	tick(&nd, &o, t0, HF_BACKEND_NETLINK, flows, 3, l, 3);
	OK(!contains(&o, "listener") && !contains(&o, "VARIABLE"),
	   "ReportListeners false: no listener charts or variables");
	nd_free(&nd);
	free(o.buf);
}

/* A tick of the conntrack source into @o. */
static void ct_tick(struct nd *nd, struct out *o, uint64_t now, const struct hf_flow *flows,
		    size_t n, const struct hf_ct_info *ci)
{
	struct hf_flow copy[16];

	memcpy(copy, flows, n * sizeof(*flows));
	free(o->buf);
	o->buf = NULL;
	o->f = open_memstream(&o->buf, &o->len);
	nd->out = o->f;
	OK(nd_ct_tick(nd, now, copy, n, ci) == 0, "conntrack tick at %llus",
	   (unsigned long long)(now / SEC));
	nd_end_tick(nd, now);
	fclose(o->f);
}

static void check_conntrack(void)
{
	struct hf_options opt;
	struct nd nd;
	struct out o = { 0 };
	struct hf_ct_info ci = { .count = 50, .max = 200, .acct = 1 };
	struct hf_flow f[2] = {
		mkflow(HF_DIR_PASSIVE, "198.51.100.1", 53, "198.51.100.2", 0, 3),
		mkflow(HF_DIR_FORWARDED, "198.51.100.2", 0, "198.51.100.3", 443, 1),
	};
	const char *u53 = "udp_p4_198_51_100_1_53_198_51_100_2_many";
	const char *t443 = "tcp_f4_198_51_100_2_many_198_51_100_3_443";
	char line[400];
	uint64_t t0 = 2000 * SEC;

	f[0].proto = IPPROTO_UDP;
	f[0].ct.traffic_known = true;
	f[0].ct.bytes_received = 384;
	f[0].ct.bytes_sent = 300;
	f[1].ct.traffic_known = false; /* accounting was off when its entry began */
	hf_options_init(&opt, HF_AGENT_NETDATA);
	opt.sources = HF_SOURCES_CONNTRACK;
	EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init, Source conntrack");
	ndecls = 0;
	ct_tick(&nd, &o, t0, f, 2, &ci);
	VALID(protocol_error(&o), "conntrack: the first tick is valid protocol");
	OK(line_starts(&o, "CHART hostflow.ct_flows_passive '' 'Conntrack Connections per "
			   "Passive Flow' 'connections' 'flows' 'hostflow.ct_flows_passive' "
			   "stacked"),
	   "conntrack: a connections chart per direction");
	snprintf(line, sizeof(line),
		 "DIMENSION %s 'udp 198.51.100.1:53 <- 198.51.100.2:many' "
		 "absolute 1 1",
		 u53);
	OK(has(&o, line), "conntrack: a UDP flow's dimension, its id and name carry the protocol");
	snprintf(line, sizeof(line), "SET %s = 3", u53);
	OK(has(&o, line), "conntrack: its connections");
	OK(line_starts(&o, "CHART hostflow.ct_traffic_passive '' 'Conntrack Traffic per Passive "
			   "Flow' 'kilobits/s' 'traffic' 'hostflow.ct_traffic_passive' area"),
	   "conntrack: a traffic chart in kilobits/s");
	snprintf(line, sizeof(line),
		 "DIMENSION %s_in 'udp 198.51.100.1:53 <- 198.51.100.2:many "
		 "in' incremental 8 1000",
		 u53);
	OK(has(&o, line), "conntrack: traffic received: incremental, bytes x 8 / 1000");
	snprintf(line, sizeof(line),
		 "DIMENSION %s_out 'udp 198.51.100.1:53 <- 198.51.100.2:many "
		 "out' incremental -8 1000",
		 u53);
	OK(has(&o, line), "conntrack: traffic sent: negative, as netdata's net charts");
	snprintf(line, sizeof(line), "SET %s_in = 384", u53);
	OK(has(&o, line), "conntrack: the counter received is set as is");
	snprintf(line, sizeof(line),
		 "DIMENSION %s 'tcp 198.51.100.2:many -> 198.51.100.3:443' "
		 "absolute 1 1",
		 t443);
	OK(has(&o, line) && line_starts(&o, "CHART hostflow.ct_flows_forwarded "),
	   "conntrack: a forwarded flow, both ends shown");
	snprintf(line, sizeof(line), "DIMENSION %s_in", t443);
	OK(!contains(&o, line) && !contains(&o, "CHART hostflow.ct_traffic_forwarded "),
	   "conntrack: traffic unknown (accounting off): no traffic dimension, no chart");
	OK(has(&o, "SET entries = 50") && has(&o, "SET max = 200") && has(&o, "SET used = 250000"),
	   "conntrack: the table chart (entries, max) and percent used (x 10000, divisor 10000)");
	OK(line_starts(&o, "CHART hostflow.conntrack_used '' 'Conntrack Table Used' 'percentage' "
			   "'conntrack' 'hostflow.conntrack_used' line"),
	   "conntrack: the used chart, in the context the stock alarm watches");
	OK(!contains(&o, "CHART hostflow.flows_passive") && !contains(&o, "CHART hostflow.states"),
	   "conntrack alone: no sockets charts");

	f[0].ct.bytes_received = 584;
	ct_tick(&nd, &o, t0 + SEC, f, 2, &ci);
	VALID(protocol_error(&o), "conntrack: the second tick is valid protocol");
	snprintf(line, sizeof(line), "SET %s_in = 584", u53);
	OK(has(&o, line), "conntrack: the counter grows");
	/* The flow's entries went and came back: its counters restart. */
	f[0].ct.bytes_received = 100;
	ct_tick(&nd, &o, t0 + 2 * SEC, f, 2, &ci);
	snprintf(line, sizeof(line), "SET %s_in = 684", u53);
	OK(has(&o, line), "conntrack: a counter that restarts is added on: the dimension stays "
			  "monotonic");
	nd_free(&nd);
	free(o.buf);
}

static void check_netns(void)
{
	struct hf_options opt;
	struct nd nd;
	struct out o = { 0 };
	struct hf_totals th, tn;
	struct hf_flow f[2] = {
		mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 3),
		mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.12", 0, 2),
	};
	struct hf_listener l[1] = { mklst("198.51.100.1", 80, 1, 128, true) };
	struct nd_nsview v[2] = {
		{ .id = 0, .inode = 4026531840u, .name = "host", .totals = &th },
		{ .id = 2, .inode = 4026532999u, .name = "hf-Test.1", .totals = &tn },
	};
	char part[ND_NS_PART_MAX], line[400];
	const char *p12 = "p4_198_51_100_1_80_198_51_100_12_many";
	uint64_t t0 = 3000 * SEC;

	nd_ns_part("hf-Test.1", part, sizeof(part));
	EQ_STR(part, "_ns_hf_test_1", "nd_ns_part: lower case, '_' for the rest");
	nd_ns_part("docker-0123456789abcdef0123456789abcdef0123456789", part, sizeof(part));
	OK(strlen(part) == 4 + 31 + 9 &&
		   strncmp(part, "_ns_docker_0123456789abcdef01234567_", 36) == 0,
	   "nd_ns_part: a long name is cut and hashed (%s)", part);
	memset(&th, 0, sizeof(th));
	memset(&tn, 0, sizeof(tn));
	tn.states[HF_ESTABLISHED] = 2;
	f[1].netns = 2;
	l[0].netns = 2;
	hf_options_init(&opt, HF_AGENT_NETDATA);
	opt.n_netns = 1;
	snprintf(opt.netns[0], sizeof(opt.netns[0]), "all");
	EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init, Namespaces all");
	ndecls = 0;
	free(o.buf);
	o.buf = NULL;
	o.f = open_memstream(&o.buf, &o.len);
	nd.out = o.f;
	EQ_INT(nd_ns_update(&nd, HF_SOURCE_SOCKETS, v, 2, t0), 0, "nd_ns_update");
	fclose(o.f);
	tick(&nd, &o, t0, HF_BACKEND_NETLINK, f, 2, l, 1);
	VALID(protocol_error(&o), "netns: valid protocol");
	OK(line_starts(&o, "CHART hostflow.flows_passive '' 'TCP Connections per Passive Flow' "),
	   "netns: the own namespace keeps the chart ids of old");
	OK(line_starts(&o, "CHART hostflow.flows_passive_ns_hf_test_1 '' 'TCP Connections per "
			   "Passive Flow (netns hf-Test.1)' 'connections' 'flows' "
			   "'hostflow.flows_passive' "),
	   "netns: another namespace's flows chart: its part in the id, its name in the title, "
	   "the same context");
	snprintf(line, sizeof(line), "SET %s = 2", p12);
	OK(has(&o, line), "netns: the namespace's flow in its chart");
	OK(has(&o, "CLABEL 'netns' 'hf-Test.1' 1") && has(&o, "CLABEL 'netns' 'host' 1"),
	   "netns: the netns chart label, on every namespace's charts");
	OK(line_starts(&o, "CHART hostflow.states_ns_hf_test_1 ") &&
		   line_starts(&o, "CHART hostflow.listener_fill_v4_198_51_100_1_80_ns_hf_test_1 "),
	   "netns: states and listener fill per namespace");
	OK(line_starts(&o, "CHART hostflow.listener_fill_v4_198_51_100_1_80_ns_hf_test_1 '' "
			   "'Listener Accept Queue Fill (198.51.100.1:80) (netns hf-Test.1)' "
			   "'percentage' 'listeners' 'hostflow.listener_fill' "),
	   "netns: a namespace's listener fill in the context the stock alarm watches");
	/* The namespace is gone. */
	free(o.buf);
	o.buf = NULL;
	o.f = open_memstream(&o.buf, &o.len);
	nd.out = o.f;
	EQ_INT(nd_ns_update(&nd, HF_SOURCE_SOCKETS, v, 1, t0 + SEC), 0, "nd_ns_update, one gone");
	fclose(o.f);
	tick(&nd, &o, t0 + SEC, HF_BACKEND_NETLINK, f, 1, NULL, 0);
	{
		char *keep = o.buf;
		size_t klen = o.len;
		o.buf = NULL;
		o.f = open_memstream(&o.buf, &o.len);
		nd.out = o.f;
		nd_end_tick(&nd, t0 + SEC);
		fclose(o.f);
		OK(contains(&o, "CHART hostflow.flows_passive_ns_hf_test_1 ") &&
			   contains(&o, "'obsolete'") &&
			   contains(&o, "CHART hostflow.states_ns_hf_test_1 ") &&
			   contains(&o,
				    "CHART hostflow.listener_fill_v4_198_51_100_1_80_ns_hf_test_1 "),
		   "netns: gone: its flows, states and listener charts are declared obsolete");
		OK(!contains(&o, "CHART hostflow.flows_passive '") &&
			   !(keep && strstr(keep, "_ns_hf_test_1 ") &&
			     strstr(keep, "BEGIN hostflow.flows_passive_ns")),
		   "netns: the own namespace's charts stay; the gone one gets no points");
		free(keep);
		(void)klen;
	}
	EQ_INT((int)nd.nns, 1, "netns: the gone namespace is forgotten");
	nd_free(&nd);
	free(o.buf);
}

static void check_log(void)
{
	char *buf = NULL, date[32];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int y, mo, d, h, mi, s, n = 0;

	nd_log(f, ND_INFO, "x %d", 1);
	nd_log(f, ND_ERROR, "y");
	fclose(f);
	OK(sscanf(buf, "%4d-%2d-%2d %2d:%2d:%2d: %n", &y, &mo, &d, &h, &mi, &s, &n) == 6 && n == 21,
	   "log: a line starts with netdata's date form \"YYYY-MM-DD HH:MM:SS: \"");
	snprintf(date, sizeof(date), "%.21s", buf);
	OK(n == 21 && strncmp(buf + 21, "hostflow.plugin INFO  : MAIN : x 1\n", 35) == 0,
	   "log: then the program, the level padded to 5 and the thread, as netdata's own");
	OK(strstr(buf, "hostflow.plugin ERROR : MAIN : y\n") != NULL, "log: an error line");
	free(buf);
}

static unsigned int conf(struct hf_options *o, const char *text, const struct nd_args *a,
			 char **msgs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	FILE *err = open_memstream(&buf, &len);
	unsigned int bad;

	free(*msgs);
	hf_options_init(o, HF_AGENT_NETDATA);
	bad = nd_args_apply(o, a, err) +
	      nd_config_read(o, in, "/etc/netdata/hostflow.conf", a, err);
	fclose(in);
	fclose(err);
	*msgs = buf;
	return bad;
}

static void check_config(void)
{
	struct hf_options o;
	struct nd_args a;
	char *msgs = NULL, *argv[8];

	memset(&a, 0, sizeof(a));
	EQ_INT(conf(&o,
		    "# hostflow.conf\n"
		    "[plugin]\n"
		    "   max flows = 7   # inline comment\n"
		    "\n"
		    "ObsoleteAfter=5\n"
		    "exclude_net = \"10.0.0.0/8\"\n"
		    "Exclude Net = 192.0.2.0/24\n"
		    "report listeners = no\r\n",
		    &a, &msgs),
	       0, "a good hostflow.conf: no error");
	EQ_STR(msgs, "", "a good hostflow.conf: nothing on stderr");
	EQ_INT(o.max_flows, 7, "\"max flows = 7\" sets MaxFlows");
	EQ_INT(o.obsolete_after, 5, "ObsoleteAfter=5");
	EQ_INT(o.filter.n_exclude_net, 2, "ExcludeNet repeats, quotes dropped");
	OK(!o.report_listeners, "report listeners = no");

	EQ_INT(conf(&o,
		    "MaxFlows = ten\n"
		    "Colour = blue\n"
		    "just words\n"
		    "[global]\n"
		    "MaxFlows = 3\n",
		    &a, &msgs),
	       4, "a bad hostflow.conf: every bad line counted");
	OK(strstr(msgs, "hostflow.plugin ERROR : MAIN : /etc/netdata/hostflow.conf:1: key "
			"\"MaxFlows\", value \"ten\": ") != NULL,
	   "a bad value is reported with file, line, key and value");
	OK(strstr(msgs, "hostflow.conf:2: key \"Colour\", value \"blue\": unknown option") != NULL,
	   "an unknown key is reported");
	OK(strstr(msgs, "hostflow.conf:3: \"just words\" is not \"key = value\"") != NULL,
	   "a line without '=' is reported");
	OK(strstr(msgs, "hostflow.conf:4: section [global]") != NULL,
	   "an unknown section is reported");
	EQ_INT(o.max_flows, 3, "good lines still apply");

	EQ_INT(conf(&o,
		    "HoldTime = 30\n"
		    "MaxListeners = 7\n"
		    "IgnoreState = TIME_WAIT\n"
		    "Ignore State = close_wait\n"
		    "Pin = passive-198.51.100.1:80-198.51.100.0_24:many\n",
		    &a, &msgs),
	       0, "HoldTime, MaxListeners, IgnoreState (twice) and Pin are netdata options");
	OK(o.hold_time == 30 && o.max_listeners == 7 && o.n_pins == 1 &&
		   o.filter.ignore_states == (1u << HF_TIME_WAIT | 1u << HF_CLOSE_WAIT),
	   "... with their values");
	EQ_INT(conf(&o,
		    "Source = conntrack\n"
		    "Pin = ct-udp-active-198.51.100.1:many-198.51.100.53:53\n"
		    "Protocol = udp\n"
		    "ReportStates = yes\n"
		    "Namespaces = all\n",
		    &a, &msgs),
	       1, "the conntrack source, its Pin, Protocol and Namespaces are netdata options");
	OK(o.sources == HF_SOURCES_CONNTRACK && o.n_pins == 1 && o.pin_ct[0] &&
		   o.filter.protocols == HF_PROTO_UDP && o.n_netns == 1 &&
		   strcmp(o.netns[0], "all") == 0,
	   "... with their values (the first Source replaces the default)");
	OK(strstr(msgs, "hostflow.conf:4: key \"ReportStates\", value \"yes\": option "
			"ReportStates is for the collectd plugin") != NULL,
	   "ReportStates: refused as collectd's");

	argv[0] = "hostflow.plugin";
	argv[1] = "5";
	argv[2] = "MaxFlows=3";
	argv[3] = "obsolete_after=9";
	EQ_INT(nd_args_parse(4, argv, &a, stderr), 0, "argv: 5 MaxFlows=3 obsolete_after=9");
	EQ_INT(a.every, 5, "argv[1] is update every");
	EQ_INT(conf(&o, "max flows = 10\nObsolete After = 60\nFilter = public\n", &a, &msgs), 0,
	       "command options and hostflow.conf naming the same keys: no duplicate");
	OK(o.max_flows == 3 && o.obsolete_after == 9 && o.filter.scope == HF_SCOPE_PUBLIC,
	   "command options win, other keys of hostflow.conf apply");
	argv[1] = "MaxFlows=4";
	EQ_INT(nd_args_parse(2, argv, &a, stderr), 0, "argv without update every");
	OK(a.every == 0 && a.nkv == 1, "... leaves it to NETDATA_UPDATE_EVERY");
	{
		FILE *err = fopen("/dev/null", "w");
		argv[1] = "fast";
		EQ_INT(nd_args_parse(2, argv, &a, err), -EINVAL, "argv: a bad update every");
		argv[1] = "0";
		EQ_INT(nd_args_parse(2, argv, &a, err), -EINVAL, "argv: update every 0");
		argv[1] = "1";
		argv[2] = "MaxFlows";
		EQ_INT(nd_args_parse(3, argv, &a, err), -EINVAL, "argv: an option without '='");
		fclose(err);
	}
	free(msgs);
}

static void check_config_path(void)
{
	char user[] = "/tmp/hf-nd-user.XXXXXX", stock[] = "/tmp/hf-nd-stock.XXXXXX";
	char path[4096], want[4096];
	FILE *f;

	if (!mkdtemp(user) || !mkdtemp(stock)) {
		OK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	setenv("NETDATA_USER_CONFIG_DIR", user, 1);
	setenv("NETDATA_STOCK_CONFIG_DIR", stock, 1);
	OK(!nd_config_path(path, sizeof(path)), "no hostflow.conf in either directory: none read");
	snprintf(want, sizeof(want), "%s/hostflow.conf", stock);
	f = fopen(want, "w");
	if (f)
		fclose(f);
	OK(nd_config_path(path, sizeof(path)) && strcmp(path, want) == 0,
	   "only the stock hostflow.conf: it is read");
	snprintf(want, sizeof(want), "%s/hostflow.conf", user);
	f = fopen(want, "w");
	if (f)
		fclose(f);
	OK(nd_config_path(path, sizeof(path)) && strcmp(path, want) == 0,
	   "a user hostflow.conf wins over the stock one");
	unlink(want);
	snprintf(want, sizeof(want), "%s/hostflow.conf", stock);
	unlink(want);
	rmdir(user);
	rmdir(stock);
}

/* The example hostflow.conf parses, as shipped and with every option uncommented. */
static void check_example(void)
{
	struct hf_options o;
	struct nd_args a;
	char *msgs = NULL, line[512], text[8192] = "";
	const char *path = "netdata/hostflow.conf";
	FILE *f = fopen(path, "r");
	size_t len = 0;

	if (!f) {
		printf("ok - the example hostflow.conf parses # SKIP %s: %s (run from the tree)\n",
		       path, strerror(errno));
		printf("ok - the example's options, uncommented, parse # SKIP %s missing\n", path);
		return;
	}
	memset(&a, 0, sizeof(a));
	EQ_INT(nd_config_read(&o, f, path, &a, stdout), 0, "the example hostflow.conf parses");
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		const char *l = line;
		if (line[0] == '#' && line[1] >= 'A' && line[1] <= 'Z' && strstr(line, " = "))
			l = line + 1;
		else if (line[0] == '#')
			continue;
		if (len + strlen(l) < sizeof(text)) {
			strcpy(text + len, l);
			len += strlen(l);
		}
	}
	fclose(f);
	EQ_INT(conf(&o, text, &a, &msgs), 0, "the example's options, uncommented, parse");
	if (msgs && *msgs)
		printf("# %s", msgs);
	free(msgs);
}

/* The bpf backend's counters: incremental charts per counter and direction, only with bpf. */
static void check_counters(void)
{
	struct hf_options opt;
	struct nd nd;
	struct out o = { 0 };
	struct hf_flow flows[2] = {
		mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 3),
		mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.12", 0, 0),
	};
	const char *p11 = "p4_198_51_100_1_80_198_51_100_11_many";
	char line[400];
	uint64_t t0 = 1000 * SEC;

	hf_options_init(&opt, HF_AGENT_NETDATA);
	opt.max_flows = 1;
	opt.obsolete_after = 3;
	EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init");
	flows[0].opened = 3;
	flows[1].opened = flows[1].closed = 7; /* all ended within the interval */
	flows[1].failed = 2;
	tick(&nd, &o, t0, HF_BACKEND_NETLINK, flows, 2, NULL, 0);
	OK(!contains(&o, "flows_passive_opened") && !contains(&o, "incremental"),
	   "counters: no counter chart with a backend other than bpf");
	nd_free(&nd);

	EQ_INT(nd_init(&nd, NULL, &opt, 1, NULL), 0, "nd_init");
	tick(&nd, &o, t0, HF_BACKEND_BPF, flows, 2, NULL, 0);
	VALID(protocol_error(&o), "counters: tick 1: valid protocol");
	OK(has(&o,
	       "CHART hostflow.flows_passive_opened '' 'TCP Connections Opened per Passive "
	       "Flow' 'connections/s' 'flows' 'hostflow.flows_passive_opened' stacked 70005 1 '' "
	       "'hostflow.plugin' 'flows'"),
	   "counters: tick 1: an opened chart per direction, in connections/s");
	OK(contains(&o, "CHART hostflow.flows_active_failed '") &&
		   contains(&o, "CHART hostflow.flows_passive_closed '"),
	   "counters: closed and failed charts too");
	snprintf(line, sizeof(line),
		 "DIMENSION %s '198.51.100.1:80 <- 198.51.100.11:many' incremental 1 1", p11);
	OK(has(&o, line) && has(&o, "DIMENSION other 'other' incremental 1 1"),
	   "counters: tick 1: a flow's dimension and other's are incremental");
	OK(contains(&o, "BEGIN hostflow.flows_passive_opened\n") &&
		   contains(&o, "SET other = 10\nEND\n"),
	   "counters: tick 1: a new series starts at 0; what its flow did, and a flow with "
	   "no connection left, are other's");
	flows[0] = mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 2);
	flows[1] = mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.12", 0, 0);
	flows[0].opened = 8;
	flows[0].closed = 4;
	flows[1].opened = flows[1].closed = 7;
	flows[1].failed = 5;
	tick(&nd, &o, t0 + SEC, HF_BACKEND_BPF, flows, 2, NULL, 0);
	snprintf(line, sizeof(line), "BEGIN hostflow.flows_passive_opened 1000000\nSET %s = 5\n",
		 p11);
	OK(contains(&o, line), "counters: tick 2: the flow's opened adds what it did since");
	snprintf(line, sizeof(line),
		 "BEGIN hostflow.flows_passive_failed 1000000\nSET %s = 0\nSET other = 5\n", p11);
	OK(contains(&o, line), "counters: tick 2: failed of the flow, and other's total");
	/* The flow deleted from the map and made anew: counters from 0, never a decrease. */
	flows[0] = mkflow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 1);
	flows[0].opened = 1;
	tick(&nd, &o, t0 + 2 * SEC, HF_BACKEND_BPF, flows, 1, NULL, 0);
	snprintf(line, sizeof(line), "BEGIN hostflow.flows_passive_opened 1000000\nSET %s = 6\n",
		 p11);
	OK(contains(&o, line), "counters: tick 3: a recreated flow adds its new counters");
	/* Back to netlink: the counter charts are no longer updated. */
	tick(&nd, &o, t0 + 3 * SEC, HF_BACKEND_NETLINK, flows, 1, NULL, 0);
	OK(!contains(&o, "BEGIN hostflow.flows_passive_opened") &&
		   contains(&o, "CHART hostflow.flows_passive_opened '' 'TCP Connections Opened "
				"per Passive Flow' 'connections/s' 'flows' "
				"'hostflow.flows_passive_opened' stacked 70005 1 'obsolete'"),
	   "counters: made obsolete once the backend is not bpf");
	nd_free(&nd);
	free(o.buf);
}

int main(void)
{
	check_ids();
	check_word();
	check_ticks();
	check_conntrack();
	check_counters();
	check_netns();
	check_log();
	check_config();
	check_config_path();
	check_example();
	return tap_failed != 0;
}
