/*
 * test_series.c - what the plugins report across collections (plugin/series.c):
 * stable identifiers, the hold of flows that left the top, pins, bounded
 * listeners, fill; and a property test of the selection on random flow sets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hostflow.h"
#include "plugin.h"
#include "tap.h"

#define SEC 1000000ull

static struct hf_flow mkflow(int dir, const char *local, uint16_t lport, const char *peer,
			     uint16_t pport, uint32_t conns)
{
	struct hf_flow f;

	memset(&f, 0, sizeof(f));
	f.dir = (uint8_t)dir;
	f.family = AF_INET;
	f.pplen = 32;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, local, &f.laddr);
	inet_pton(AF_INET, peer, &f.paddr);
	f.lport = lport;
	f.pport = pport;
	f.conns = conns;
	f.states[HF_ESTABLISHED] = conns;
	return f;
}

static struct hf_flow passive(uint16_t port, int peer, uint32_t conns)
{
	char p[32];

	snprintf(p, sizeof(p), "198.51.100.%d", peer);
	return mkflow(HF_DIR_PASSIVE, "198.51.100.1", port, p, 0, conns);
}

static const struct hf_series *find_id(const struct hf_select *sel, const char *id)
{
	size_t n;
	const struct hf_series *s = hf_select_series(sel, &n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].id, id) == 0)
			return &s[i];
	return NULL;
}

static void test_pin_parse(void)
{
	struct hf_flow f;
	char id[HF_ID_MAX];
	bool ct;
	static const char *const good[] = {
		"passive-198.51.100.1:80-198.51.100.13:many",
		"active-198.51.100.1:many-198.51.100.10:3306",
		"passive-[2001:db8::1]:443-[2001:db8::_64]:many",
		"active-[2001:db8::1]:many-[2001:db8::2]:443",
		"passive-198.51.100.1:80-198.51.100.0_24:many",
	};
	static const char *const bad[] = {
		"",
		"passive",
		"sideways-198.51.100.1:80-198.51.100.13:many",
		"passive-198.51.100.1:many-198.51.100.13:80", /* the service port on the wrong side */
		"active-198.51.100.1:80-198.51.100.13:many",
		"passive-198.51.100.1:80-[2001:db8::1]:many", /* two families */
		"passive-198.51.100.1:80-198.51.100.13:many-x",
		"passive-198.51.100.1:0-198.51.100.13:many",
		"passive-198.51.100.1:65536-198.51.100.13:many",
		"passive-198.51.100.0_24:80-198.51.100.13:many", /* local prefix */
		"passive-web.example:80-198.51.100.13:many",	 /* a name */
		"passive-198.51.100.1:80-198.51.100.0_33:many",
		"passive-[2001:db8::1:443-[2001:db8::2]:many",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bool ct = true;
		int ret = hf_pin_parse(good[i], &f, &ct);
		OK(!ct, "not a conntrack pin: %s", good[i]);
		EQ_INT(ret, 0, "pin parses: %s", good[i]);
		id[0] = '\0';
		if (ret == 0)
			hf_flow_id(&f, id, sizeof(id), NULL, NULL);
		OK(strcmp(id, good[i]) == 0, "pin is its own identifier: %s (got %s)", good[i], id);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EQ_INT(hf_pin_parse(bad[i], &f, &ct), -EINVAL, "pin refused: \"%s\"", bad[i]);
	EQ_INT(hf_pin_parse("ct-udp-active-198.51.100.1:many-198.51.100.53:53", &f, &ct), 0,
	       "a conntrack pin");
	OK(ct && f.proto == IPPROTO_UDP && f.dir == HF_DIR_ACTIVE && f.pport == 53,
	   "conntrack, UDP, active, to port 53");
	EQ_INT(hf_pin_parse("ct-p47-forwarded-198.51.100.11:many-198.51.100.99:many", &f, &ct), 0,
	       "a forwarded GRE pin: no ports");
	OK(ct && f.proto == 47 && f.dir == HF_DIR_FORWARDED, "protocol 47, forwarded");
	EQ_INT(hf_pin_parse("forwarded-198.51.100.11:many-198.51.100.99:80", &f, &ct), -EINVAL,
	       "forwarded only with conntrack");
	hf_pin_parse("passive-198.51.100.1:80-198.51.100.13:many", &f, &ct);
	{
		struct hf_flow g = passive(80, 13, 7);
		EQ_INT(hf_flow_key_cmp(&f, &g), 0,
		       "a pin has the key the collector gives the flow");
	}
}

static void test_options(void)
{
	struct hf_options o;
	char err[512];

	hf_options_init(&o, HF_AGENT_COLLECTD);
	EQ_INT(o.hold_time, 300, "HoldTime default 300 s");
	EQ_INT(o.max_listeners, 50, "MaxListeners default 50");
	EQ_INT(hf_options_set(&o, "HoldTime", "0", err, sizeof(err)), 0, "HoldTime 0");
	EQ_INT(hf_options_set(&o, "MaxListeners", "0", err, sizeof(err)), -EINVAL,
	       "MaxListeners 0 refused");
	EQ_INT(hf_options_set(&o, "Pin", "passive-198.51.100.1:80-198.51.100.13:many", err,
			      sizeof(err)),
	       0, "Pin");
	EQ_INT(hf_options_set(&o, "Pin", "active-198.51.100.1:many-198.51.100.10:3306", err,
			      sizeof(err)),
	       0, "Pin repeats");
	EQ_INT(o.n_pins, 2, "two pins");
	EQ_INT(hf_options_set(&o, "Pin", "passive-198.51.100.1:80-198.51.100.13:many", err,
			      sizeof(err)),
	       -EEXIST, "the same pin twice");
	EQ_INT(hf_options_set(&o, "Pin", "passive 80", err, sizeof(err)), -EINVAL, "bad pin");
	OK(strstr(err, "\"passive 80\"") != NULL, "bad pin named: %s", err);
	EQ_INT(hf_options_set(&o, "IgnoreState", "time_wait", err, sizeof(err)), 0,
	       "IgnoreState, any case");
	EQ_INT(hf_options_set(&o, "IgnoreState", "CLOSE_WAIT", err, sizeof(err)), 0,
	       "IgnoreState repeats");
	EQ_INT(o.filter.ignore_states, (1u << HF_TIME_WAIT) | (1u << HF_CLOSE_WAIT),
	       "two states ignored");
	EQ_INT(hf_options_set(&o, "IgnoreState", "LISTEN", err, sizeof(err)), -EINVAL,
	       "LISTEN is not a connection state");
	EQ_INT(hf_options_set(&o, "IgnoreState", "TIME_WAITING", err, sizeof(err)), -EINVAL,
	       "no such state");
	EQ_INT(hf_options_set(&o, "ObsoleteAfter", "60", err, sizeof(err)), -ENOTSUP,
	       "ObsoleteAfter is netdata's");
	OK(strstr(err, "netdata") != NULL, "and the message says so: %s", err);
	hf_options_init(&o, HF_AGENT_NETDATA);
	EQ_INT(hf_options_set(&o, "ReportStates", "true", err, sizeof(err)), -ENOTSUP,
	       "ReportStates is collectd's");
	OK(strstr(err, "collectd") != NULL, "and the message says so: %s", err);
	EQ_INT(hf_options_set(&o, "ObsoleteAfter", "60", err, sizeof(err)), 0,
	       "ObsoleteAfter in netdata");
}

/* Issue scenario: MaxFlows 4, a threshold on a flow that 10 new connections push out. */
static void test_hold(void)
{
	struct hf_select *sel = hf_select_new(HF_SELECT_FLOWS, 4, 300);
	struct hf_flow f[8];
	const char *watched = "passive-198.51.100.1:8080-198.51.100.13:many";
	const struct hf_series *s;
	unsigned int folded;
	size_t n;

	f[0] = passive(80, 11, 20);
	f[1] = passive(80, 12, 15);
	f[2] = passive(443, 11, 8);
	f[3] = passive(8080, 13, 5);
	hf_select_flows(sel, f, 4, 0, NULL, NULL);
	OK(find_id(sel, watched) != NULL, "the flow is reported while in the top 4");
	f[0] = passive(80, 11, 20);
	f[1] = passive(80, 12, 15);
	f[2] = passive(443, 11, 8);
	f[3] = passive(8080, 13, 5);
	f[4] = passive(80, 13, 10);
	hf_select_flows(sel, f, 5, 10 * SEC, NULL, NULL);
	s = find_id(sel, watched);
	OK(s && s->flow.conns == 5, "pushed out of the top, it keeps its own series with 5");
	hf_select_other(sel, HF_DIR_PASSIVE, &folded);
	EQ_INT(folded, 0, "nothing folded into other while it is held");
	hf_select_series(sel, &n);
	EQ_INT(n, 5, "4 in the top and 1 held");
	/* Still out of the top 299 s later: held; at 300 s after it left: folded. */
	f[0] = passive(80, 11, 20);
	f[1] = passive(80, 12, 15);
	f[2] = passive(443, 11, 8);
	f[3] = passive(8080, 13, 5);
	f[4] = passive(80, 13, 10);
	hf_select_flows(sel, f, 5, 299 * SEC, NULL, NULL);
	OK(find_id(sel, watched) != NULL, "held 289 s after it left the top");
	hf_select_flows(sel, f, 5, 300 * SEC, NULL, NULL);
	OK(find_id(sel, watched) == NULL, "folded once HoldTime has passed since it left the top");
	EQ_INT(hf_select_other(sel, HF_DIR_PASSIVE, &folded)->conns, 5, "other holds its 5");
	EQ_INT(folded, 1, "one flow folded");
	hf_select_free(sel);
}

static void test_ended_and_pins(void)
{
	struct hf_select *sel = hf_select_new(HF_SELECT_FLOWS, 2, 300);
	struct hf_flow f[4], pin;
	const struct hf_series *s;
	const char *pin_id = "passive-198.51.100.1:22-198.51.100.20:many";
	bool ct;

	hf_pin_parse(pin_id, &pin, &ct);
	EQ_INT(hf_select_pin(sel, &pin), 0, "pin");
	EQ_INT(hf_select_pin(sel, &pin), -EEXIST, "pinned twice");
	f[0] = passive(80, 11, 3);
	hf_select_flows(sel, f, 1, 0, NULL, NULL);
	s = find_id(sel, pin_id);
	OK(s && s->pinned && s->flow.conns == 0 && !s->ended,
	   "a pinned flow reads 0 with no conns");
	hf_select_flows(sel, f, 0, SEC, NULL, NULL);
	s = find_id(sel, "passive-198.51.100.1:80-198.51.100.11:many");
	OK(s && s->ended && s->flow.conns == 0 && s->flow.states[HF_ESTABLISHED] == 0,
	   "a reported flow that has gone reads zeros once");
	hf_select_flows(sel, f, 0, 2 * SEC, NULL, NULL);
	OK(!find_id(sel, "passive-198.51.100.1:80-198.51.100.11:many"), "then it is forgotten");
	OK(find_id(sel, pin_id) != NULL, "the pin stays");
	/* The pinned flow's connections, even below the top. */
	f[0] = passive(80, 11, 30);
	f[1] = passive(81, 11, 20);
	f[2] = passive(22, 20, 2);
	hf_select_flows(sel, f, 3, 3 * SEC, NULL, NULL);
	s = find_id(sel, pin_id);
	OK(s && s->flow.conns == 2, "the pinned flow reads its 2 connections below the top");
	hf_select_flows(sel, f, 3, 1000 * SEC, NULL, NULL);
	s = find_id(sel, pin_id);
	OK(s && s->flow.conns == 2, "and is never folded, whatever the hold");
	hf_select_free(sel);
}

static const char *names_v1(int family, const union hf_addr *a, unsigned int plen, void *arg)
{
	(void)family;
	(void)plen;
	(void)arg;
	if (a->b[3] == 11)
		return "web.example";
	if (a->b[3] == 1)
		return "srv.example";
	return NULL;
}

/* .12 now resolves to the same name as .11; with @arg, .1 gets another name. */
static const char *names_v2(int family, const union hf_addr *a, unsigned int plen, void *arg)
{
	(void)family;
	(void)plen;
	if (a->b[3] == 11 || a->b[3] == 12)
		return "web.example";
	if (a->b[3] == 1)
		return arg ? "renamed.example" : "srv.example";
	return NULL;
}

static void test_identity(void)
{
	struct hf_select *sel = hf_select_new(HF_SELECT_FLOWS, 5, 300);
	struct hf_flow f[2];
	const struct hf_series *s;

	f[0] = passive(80, 11, 3);
	hf_select_flows(sel, f, 1, 0, names_v1, NULL);
	OK(find_id(sel, "passive-srv.example:80-web.example:many") != NULL,
	   "first reported with names");
	f[0] = passive(80, 11, 3);
	f[1] = passive(80, 12, 4);
	hf_select_flows(sel, f, 2, SEC, names_v2, NULL);
	s = find_id(sel, "passive-srv.example:80-web.example:many");
	OK(s && s->flow.paddr.b[3] == 11 && s->flow.conns == 3,
	   "a name collision and a late name do not rename a reported flow");
	OK(find_id(sel, "passive-198.51.100.1:80-198.51.100.12:many") != NULL,
	   "the newcomer whose name is taken gets its addresses");
	hf_select_flows(sel, f, 2, 2 * SEC, names_v2, "renamed");
	OK(find_id(sel, "passive-srv.example:80-web.example:many") != NULL &&
		   find_id(sel, "passive-198.51.100.1:80-198.51.100.12:many") != NULL,
	   "a local name that changes renames neither");
	hf_select_free(sel);
	/* Two new flows of one name in one collection: neither takes the name. */
	sel = hf_select_new(HF_SELECT_FLOWS, 5, 300);
	f[0] = passive(80, 11, 3);
	f[1] = passive(80, 12, 4);
	hf_select_flows(sel, f, 2, 0, names_v2, NULL);
	OK(find_id(sel, "passive-198.51.100.1:80-198.51.100.11:many") != NULL &&
		   find_id(sel, "passive-198.51.100.1:80-198.51.100.12:many") != NULL,
	   "two newcomers of one name both get their addresses");
	hf_select_free(sel);
}

static struct hf_listener mklistener(uint16_t port, const char *addr, uint32_t aq, uint32_t backlog)
{
	struct hf_listener l;

	memset(&l, 0, sizeof(l));
	l.family = AF_INET;
	inet_pton(AF_INET, addr, &l.addr);
	l.port = port;
	l.backlog_known = true;
	l.nsocks = 1;
	l.accept_queue = l.socks[0].accept_queue = aq;
	l.backlog = l.socks[0].backlog = backlog;
	return l;
}

static void test_listeners(void)
{
	static struct hf_listener l[302];
	struct hf_select *sel = hf_select_new(HF_SELECT_LISTENERS, 5, 300);
	struct hf_filter f;
	const struct hf_series *s;
	char id[HF_ID_MAX];
	size_t n;
	bool full_kept = false, excluded = false;

	for (int i = 0; i < 300; i++)
		l[i] = mklistener((uint16_t)(20000 + i), "127.0.0.1", (uint32_t)(i % 3), 128);
	l[300] = mklistener(8080, "198.51.100.1", 3, 2); /* backlog 2, 3 queued: full */
	l[301] = mklistener(20000, "198.51.100.1", 0, 128);
	hf_filter_init(&f);
	hf_select_listeners(sel, l, 302, &f, 0);
	s = hf_select_series(sel, &n);
	EQ_INT(n, 5, "300 listeners bounded to MaxListeners 5");
	for (size_t i = 0; i < n; i++)
		full_kept |= s[i].listener.port == 8080;
	OK(full_kept, "the full listener is among them");
	f.ignore_loopback = true;
	f.exclude_port[f.n_exclude_port++] = 20000;
	hf_select_free(sel);
	sel = hf_select_new(HF_SELECT_LISTENERS, 5, 300);
	hf_select_listeners(sel, l, 302, &f, 0);
	s = hf_select_series(sel, &n);
	EQ_INT(n, 1, "IgnoreLoopback and ExcludePort leave one listener");
	for (size_t i = 0; i < n; i++)
		excluded |= s[i].listener.port == 20000 || s[i].listener.addr.b[0] == 127;
	OK(!excluded, "neither loopback nor port 20000 reported");
	hf_listener_id(&l[300], id, sizeof(id));
	EQ_STR(n ? s[0].id : "", id, "the listener's identifier");
	/* Gone: zeros once, then forgotten. */
	hf_select_listeners(sel, l, 0, &f, SEC);
	s = hf_select_series(sel, &n);
	OK(n == 1 && s[0].ended && s[0].listener.accept_queue == 0, "a gone listener reads zeros");
	hf_select_listeners(sel, l, 0, &f, 2 * SEC);
	hf_select_series(sel, &n);
	EQ_INT(n, 0, "then is forgotten");
	hf_select_free(sel);
}

static void test_fill(void)
{
	struct hf_listener l = mklistener(80, "198.51.100.1", 3, 2);

	OK(hf_listener_fill(&l) == 100.0, "backlog 2 with 3 queued (backlog + 1) is 100%% full");
	l = mklistener(80, "198.51.100.1", 3, 128);
	OK(hf_listener_fill(&l) > 2.32 && hf_listener_fill(&l) < 2.33, "3 of 129 is 2.3%%");
	l = mklistener(80, "198.51.100.1", 0, 0);
	OK(hf_listener_fill(&l) == 0, "backlog 0, empty: 0%%");
	l = mklistener(80, "198.51.100.1", 1, 0);
	OK(hf_listener_fill(&l) == 100.0, "backlog 0 with 1 queued: full");
	l.backlog_known = false;
	OK(hf_listener_fill(&l) == -1, "unknown backlog (/proc): no fill");
	/* SO_REUSEPORT: one full member of two is a full listener. */
	l = mklistener(80, "198.51.100.1", 5, 4);
	l.nsocks = 2;
	l.socks[1].accept_queue = 0;
	l.socks[1].backlog = 4;
	l.backlog = 8;
	OK(hf_listener_fill(&l) == 100.0, "the fullest member of a SO_REUSEPORT group counts");
}

/* ---- property: random flow sets ------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

#define UNIVERSE 40

struct shadow {
	bool reported;
	char id[HF_ID_MAX];
	uint64_t last_top; /* when the model last saw it in the top */
	bool seen_top;
};

static void test_property(void)
{
	unsigned int bad_bound = 0, bad_hold = 0, bad_id = 0, bad_conns = 0, steps = 0;
	unsigned int max = 3, hold = 5;

	for (int round = 0; round < 200; round++) {
		struct hf_select *sel = hf_select_new(HF_SELECT_FLOWS, max, hold);
		struct shadow sh[UNIVERSE];
		uint32_t conns[UNIVERSE];

		memset(sh, 0, sizeof(sh));
		memset(conns, 0, sizeof(conns));
		for (uint64_t t = 0; t < 60; t++) {
			struct hf_flow f[UNIVERSE], sorted[UNIVERSE];
			const struct hf_series *s;
			unsigned int rank[2] = { 0, 0 }, held_now[2] = { 0, 0 };
			uint64_t held_min_top[2] = { UINT64_MAX, UINT64_MAX };
			bool top[UNIVERSE], in[UNIVERSE];
			size_t n = 0, ns;
			uint64_t now = t * SEC;

			/* Each flow's count moves a little, or jumps, or the flow ends. */
			for (int k = 0; k < UNIVERSE; k++) {
				uint32_t r = rnd(10);
				if (r == 0)
					conns[k] = 0;
				else if (r == 1)
					conns[k] = rnd(50);
				else if (conns[k] && r < 6)
					conns[k] += rnd(3) - (conns[k] > 1);
			}
			for (int k = 0; k < UNIVERSE; k++)
				if (conns[k])
					f[n++] = k < UNIVERSE / 2 ?
							 passive((uint16_t)(1 + k), 11, conns[k]) :
							 mkflow(HF_DIR_ACTIVE, "198.51.100.1", 0,
								"198.51.100.20", (uint16_t)(1 + k),
								conns[k]);
			memcpy(sorted, f, n * sizeof(*f));
			qsort(sorted, n, sizeof(*sorted), hf_flow_cmp);
			memset(top, 0, sizeof(top));
			memset(in, 0, sizeof(in));
			for (size_t i = 0; i < n; i++) {
				int d = sorted[i].dir == HF_DIR_PASSIVE;
				int k = d ? sorted[i].lport - 1 : sorted[i].pport - 1;
				in[k] = true;
				if (rank[d]++ < max) {
					top[k] = true;
					sh[k].last_top = now;
					sh[k].seen_top = true;
				}
			}
			if (hf_select_flows(sel, f, n, now, NULL, NULL) < 0) {
				bad_bound++;
				break;
			}
			s = hf_select_series(sel, &ns);
			if (ns > hf_select_bound(sel))
				bad_bound++;
			bool rep[UNIVERSE];
			memset(rep, 0, sizeof(rep));
			for (size_t i = 0; i < ns; i++) {
				int d = s[i].flow.dir == HF_DIR_PASSIVE;
				int k = d ? s[i].flow.lport - 1 : s[i].flow.pport - 1;
				rep[k] = true;
				if (sh[k].reported && strcmp(sh[k].id, s[i].id) != 0)
					bad_id++;
				if (s[i].flow.conns != conns[k])
					bad_conns++;
				if (!top[k] && !s[i].ended) {
					held_now[d]++;
					if (sh[k].last_top < held_min_top[d])
						held_min_top[d] = sh[k].last_top;
				}
				snprintf(sh[k].id, sizeof(sh[k].id), "%s", s[i].id);
				if (s[i].ended)
					sh[k].reported = false;
			}
			for (int k = 0; k < UNIVERSE; k++) {
				int d = k < UNIVERSE / 2;
				if (!rep[k]) {
					/*
					 * Dropped while alive: only once HoldTime has passed
					 * since it left the top, or when the held set is full
					 * of flows that left the top later than it did.
					 */
					if (sh[k].reported && in[k] &&
					    now - sh[k].last_top < (uint64_t)hold * SEC &&
					    !(held_now[d] == max &&
					      held_min_top[d] >= sh[k].last_top))
						bad_hold++;
					sh[k].reported = false;
				} else if (in[k]) {
					sh[k].reported = true;
				}
				if (top[k] && !rep[k])
					bad_hold++; /* the top is always reported */
			}
			steps++;
		}
		hf_select_free(sel);
	}
	EQ_INT(bad_bound, 0, "property: never more than 2 x MaxFlows per direction (%u steps)",
	       steps);
	EQ_INT(bad_hold, 0, "property: a reported live flow stays until HoldTime or the bound");
	EQ_INT(bad_id, 0, "property: a reported flow keeps its identifier");
	EQ_INT(bad_conns, 0, "property: reported values are the collection's");
}

static struct hf_flow ct_flow(int peer, uint32_t conns, uint64_t bytes_in)
{
	struct hf_flow f = passive(53, peer, conns);

	f.proto = IPPROTO_UDP;
	memset(f.states, 0, sizeof(f.states));
	f.ct.traffic_known = true;
	f.ct.bytes_received = bytes_in;
	f.ct.bytes_sent = bytes_in / 2;
	f.ct.packets_received = bytes_in / 100;
	return f;
}

/*
 * The conntrack "other": each folded flow adds what it did since the last
 * update (all of it when new, all again when its counters restarted), so
 * the sum is a counter that never goes back and counts every byte once.
 */
static void test_conntrack_other(void)
{
	struct hf_select *sel = hf_select_new(HF_SELECT_CONNTRACK, 1, 0);
	struct hf_flow f[3], g[3];
	const struct hf_flow *o;
	uint64_t last = 0, bad = 0, want = 0, seed = 7;

	f[0] = ct_flow(11, 50, 1000000);
	f[1] = ct_flow(12, 2, 100);
	hf_select_flows(sel, f, 2, 0, NULL, NULL);
	o = hf_select_other(sel, HF_DIR_PASSIVE, NULL);
	EQ_INT(o->ct.bytes_received, 100, "a new folded flow adds all its bytes");
	EQ_STR(hf_select_other_id(sel, HF_DIR_PASSIVE), "ct-passive-other", "other's identifier");
	f[1] = ct_flow(12, 2, 250);
	hf_select_flows(sel, f, 2, SEC, NULL, NULL);
	EQ_INT(hf_select_other(sel, HF_DIR_PASSIVE, NULL)->ct.bytes_received, 250,
	       "then only what it did since the last update");
	f[1] = ct_flow(12, 2, 30);
	hf_select_flows(sel, f, 2, 2 * SEC, NULL, NULL);
	EQ_INT(hf_select_other(sel, HF_DIR_PASSIVE, NULL)->ct.bytes_received, 280,
	       "counters that restarted add all they hold, other never goes back");
	f[1] = ct_flow(13, 1, 40);
	hf_select_flows(sel, f, 2, 3 * SEC, NULL, NULL);
	EQ_INT(hf_select_other(sel, HF_DIR_PASSIVE, NULL)->ct.bytes_received, 320,
	       "a flow gone and a new one: other keeps counting");
	f[1].ct.traffic_known = false;
	hf_select_flows(sel, f, 2, 4 * SEC, NULL, NULL);
	OK(!hf_select_other(sel, HF_DIR_PASSIVE, NULL)->ct.traffic_known,
	   "a folded flow with unknown traffic makes other's traffic unknown");
	hf_select_free(sel);

	/* Random counts and growth: flows move in and out of the top; other only grows. */
	sel = hf_select_new(HF_SELECT_CONNTRACK, 1, 0);
	for (int i = 0; i < 3; i++)
		f[i] = ct_flow(20 + i, 1, 0);
	for (int step = 0; step < 3000; step++) {
		uint64_t folded_delta = 0;
		uint64_t before[3];
		for (int i = 0; i < 3; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			before[i] = f[i].ct.bytes_received;
			f[i].conns = 1 + (uint32_t)(seed >> 60);
			f[i].ct.bytes_received += (seed >> 40) & 0xfff;
		}
		memcpy(g, f, sizeof(g)); /* hf_select_flows() sorts what it is given */
		hf_select_flows(sel, g, 3, (uint64_t)(step + 5) * SEC, NULL, NULL);
		o = hf_select_other(sel, HF_DIR_PASSIVE, NULL);
		bad += o->ct.bytes_received < last;
		/* The flows not reported this time: their growth must be in other's. */
		for (int i = 0; i < 3; i++) {
			bool reported = false;
			size_t n;
			const struct hf_series *sr = hf_select_series(sel, &n);

			for (size_t k = 0; k < n; k++)
				reported |= hf_flow_key_eq(&sr[k].flow, &f[i]);
			if (!reported)
				folded_delta += f[i].ct.bytes_received - before[i];
		}
		want += folded_delta;
		bad += o->ct.bytes_received != want;
		last = o->ct.bytes_received;
	}
	EQ_INT(bad, 0,
	       "3000 random updates: other never goes back and holds exactly the folded bytes");
	hf_select_free(sel);
}

/*
 * Namespaces and conntrack: a listener of another namespace keeps its
 * namespace when it ends (the key the collectd plugin finds its host by),
 * and a new conntrack series carries its counters at the update before.
 */
static void test_netns_and_before(void)
{
	struct hf_select *sel = hf_select_new(HF_SELECT_LISTENERS, 5, 300);
	struct hf_listener l[2];
	struct hf_flow f[2];
	const struct hf_series *s;
	size_t n;

	l[0] = mklistener(80, "198.51.100.1", 0, 128);
	l[1] = l[0];
	l[1].netns = 7;
	hf_select_listeners(sel, l, 2, NULL, 0);
	s = hf_select_series(sel, &n);
	EQ_INT(n, 2, "one listener per namespace");
	hf_select_listeners(sel, l, 1, NULL, SEC);
	s = hf_select_series(sel, &n);
	OK(n == 2 && s[1].ended && s[1].listener.netns == 7 && !s[0].ended,
	   "the other namespace's listener ends with its namespace kept");
	hf_select_listeners(sel, l, 1, NULL, 2 * SEC);
	hf_select_series(sel, &n);
	EQ_INT(n, 1, "then is forgotten, the own one kept");
	hf_select_free(sel);

	sel = hf_select_new(HF_SELECT_CONNTRACK, 1, 300);
	f[0] = passive(80, 11, 5);
	f[1] = passive(81, 12, 1);
	f[0].ct.traffic_known = f[1].ct.traffic_known = true;
	f[0].ct.bytes_received = 1000;
	f[1].ct.bytes_received = 300;
	f[1].ct.packets_sent = 3;
	hf_select_flows(sel, f, 2, 0, NULL, NULL);
	s = hf_select_series(sel, &n);
	OK(n == 1 && s[0].before[1] == 0, "a flow new in the first update starts from 0");
	/* :81 grows to the top: it starts from its counters of the update before. */
	f[0] = passive(80, 11, 1);
	f[1] = passive(81, 12, 9);
	f[0].ct.traffic_known = f[1].ct.traffic_known = true;
	f[0].ct.bytes_received = 1100;
	f[1].ct.bytes_received = 700;
	f[1].ct.packets_sent = 4;
	hf_select_flows(sel, f, 2, SEC, NULL, NULL);
	s = hf_select_series(sel, &n);
	for (size_t i = 0; i < n; i++)
		if (s[i].flow.lport == 81)
			OK(s[i].first_us == SEC && s[i].before[1] == 300 && s[i].before[2] == 3 &&
				   s[i].flow.ct.bytes_received == 700,
			   "a flow entering the top starts from its counters of the update before");
	hf_select_free(sel);
}

static struct hf_flow counted(uint16_t port, int peer, uint32_t conns, uint64_t opened,
			      uint64_t closed, uint64_t failed)
{
	struct hf_flow f = passive(port, peer, conns);

	f.opened = opened;
	f.closed = closed;
	f.failed = failed;
	return f;
}

/* The bpf backend's counters: per series and other, monotonic, nothing lost. */
static void test_counters(void)
{
	struct hf_select *sel = hf_select_new(HF_SELECT_FLOWS, 1, 300);
	const char *a = "passive-198.51.100.1:80-198.51.100.11:many";
	const struct hf_series *s;
	const struct hf_flow *o;
	struct hf_flow f[3];
	size_t n;

	f[0] = counted(80, 11, 5, 5, 0, 0);
	f[1] = counted(81, 12, 1, 1, 0, 0);
	hf_select_flows(sel, f, 2, 0, NULL, NULL);
	s = find_id(sel, a);
	o = hf_select_other(sel, HF_DIR_PASSIVE, NULL);
	OK(s && s->flow.opened == 0 && s->flow.closed == 0,
	   "a new series starts at 0 (an agent's rate needs two values)");
	EQ_INT(o->opened, 6, "what its flow did, and the folded flow's, are other's");
	f[0] = counted(80, 11, 4, 8, 1, 0);
	f[1] = counted(81, 12, 0, 5, 3, 2); /* every connection of it ended in the interval */
	hf_select_flows(sel, f, 2, SEC, NULL, NULL);
	s = find_id(sel, a);
	o = hf_select_other(sel, HF_DIR_PASSIVE, NULL);
	OK(s && s->flow.opened == 3 && s->flow.closed == 1 && s->flow.failed == 0,
	   "then the series adds what its flow did since");
	OK(o->opened == 10 && o->closed == 3 && o->failed == 2,
	   "a flow with no connection left still counts, in other");
	EQ_INT(o->conns, 0, "without adding to other's connections");
	/* :80 deleted from the map and made anew: its counters start again from 0. */
	f[0] = counted(80, 11, 4, 2, 0, 0);
	f[1] = counted(81, 12, 0, 5, 3, 2);
	hf_select_flows(sel, f, 2, 2 * SEC, NULL, NULL);
	s = find_id(sel, a);
	o = hf_select_other(sel, HF_DIR_PASSIVE, NULL);
	OK(s && s->flow.opened == 5 && s->flow.closed == 1,
	   "a recreated flow (a counter went back) adds its new counters: never a decrease");
	OK(o->opened == 10 && o->closed == 3 && o->failed == 2, "a flow that did nothing adds 0");
	/* :80 closes everything in the interval: still there, with its news, and 0. */
	f[0] = counted(80, 11, 0, 4, 6, 1);
	f[1] = counted(81, 12, 0, 5, 3, 2);
	hf_select_flows(sel, f, 2, 3 * SEC, NULL, NULL);
	s = find_id(sel, a);
	OK(s && !s->ended && s->present && s->flow.conns == 0 && s->flow.opened == 7 &&
		   s->flow.closed == 7 && s->flow.failed == 1,
	   "a series whose connections all ended within the interval is reported with them");
	f[0] = counted(80, 11, 0, 4, 6, 1);
	f[1] = counted(81, 12, 0, 5, 3, 2);
	hf_select_flows(sel, f, 2, 4 * SEC, NULL, NULL);
	s = find_id(sel, a);
	OK(s && s->ended && s->flow.conns == 0 && s->flow.opened == 7 && s->flow.closed == 7,
	   "with nothing new, it ends: zero connections, its totals kept (no decrease)");
	f[0] = counted(80, 11, 0, 4, 6, 1);
	f[1] = counted(81, 12, 0, 5, 3, 2);
	hf_select_flows(sel, f, 2, 5 * SEC, NULL, NULL);
	OK(find_id(sel, a) == NULL, "then it is forgotten");
	f[0] = counted(80, 11, 0, 5, 7, 1);
	f[1] = counted(81, 12, 0, 6, 3, 2);
	hf_select_flows(sel, f, 2, 6 * SEC, NULL, NULL);
	o = hf_select_other(sel, HF_DIR_PASSIVE, NULL);
	OK(o->opened == 12 && o->closed == 4 && o->failed == 2,
	   "a forgotten flow's news go to other, with the rest");
	f[0] = counted(80, 11, 2, 7, 7, 1);
	f[1] = counted(81, 12, 0, 6, 3, 2);
	hf_select_flows(sel, f, 2, 7 * SEC, NULL, NULL);
	s = find_id(sel, a);
	o = hf_select_other(sel, HF_DIR_PASSIVE, NULL);
	OK(s && s->first_us == 7 * SEC && s->flow.opened == 7 && s->flow.closed == 7 &&
		   s->flow.failed == 1 && o->opened == 14,
	   "reported again, it goes on from its totals (its first interval is other's)");
	hf_select_free(sel);

	/* Without counters (not the bpf backend): all zero, as before. */
	sel = hf_select_new(HF_SELECT_FLOWS, 1, 300);
	f[0] = passive(80, 11, 5);
	f[1] = passive(81, 12, 1);
	hf_select_flows(sel, f, 2, 0, NULL, NULL);
	s = hf_select_series(sel, &n);
	o = hf_select_other(sel, HF_DIR_PASSIVE, NULL);
	OK(n == 1 && !s[0].flow.opened && !o->opened && !o->closed && !o->failed,
	   "flows without counters: zeros");
	hf_select_free(sel);
}

/*
 * A property test of the counters: random flows of random connections,
 * some with none left, counters that grow, flows deleted from the map and
 * back from 0, flows made anew between two updates (a counter goes back);
 * MaxFlows 2, HoldTime 3 s, one pin. Every update, what the series and
 * other added equals what every flow did, and no series goes back.
 */
static void test_counters_property(void)
{
	enum {
		NF = 12,
		STEPS = 4000
	};
	struct hf_select *sel = hf_select_new(HF_SELECT_FLOWS, 2, 3);
	struct hf_flow live[NF], g[NF], pin = passive(90, 20, 0);
	bool in[NF];
	uint64_t seed = 12345, bad_sum = 0, bad_mono = 0, want_total[HF_COUNTS] = { 0 };
	uint64_t got_total[HF_COUNTS] = { 0 }, last_other[2][HF_COUNTS] = { { 0 } };
	struct {
		struct hf_flow key;
		uint64_t c[HF_COUNTS];
	} last[64];
	size_t nlast = 0;
	/* each flow's (and the pin's, [NF]) totals when last reported; how often one came back */
	uint64_t ever[NF + 1][HF_COUNTS], restored = 0;

	memset(ever, 0, sizeof(ever));
	OK(hf_select_pin(sel, &pin) == 0, "pin :90");
	for (int i = 0; i < NF; i++) {
		live[i] = counted((uint16_t)(80 + i % 11), 11 + i, 0, 0, 0, 0);
		live[i].dir = i % 3 ? HF_DIR_PASSIVE : HF_DIR_ACTIVE;
		in[i] = false;
	}
	for (int step = 0; step < STEPS; step++) {
		uint64_t want[HF_COUNTS] = { 0 }, got[HF_COUNTS] = { 0 };
		size_t m = 0, n;
		const struct hf_series *s;

		for (int i = 0; i < NF; i++) {
			uint64_t r;
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			r = seed >> 33;
			if (!in[i] && r % 4 != 0)
				continue;
			if (!in[i]) {
				/* new, or deleted from the map and back: from 0 */
				in[i] = true;
				live[i].opened = live[i].closed = live[i].failed = 0;
			} else if (r % 31 == 2 && live[i].opened > 8) {
				/* made anew between two updates: a counter goes back */
				live[i].opened = live[i].closed = live[i].failed = 0;
			}
			if (r % 17 == 3) {
				in[i] = false; /* deleted: counted where it was last seen */
				continue;
			}
			{
				uint64_t op = (r >> 4) % 5, cl = (r >> 8) % 4, fa = (r >> 12) % 3;
				live[i].opened += op;
				live[i].closed += cl;
				live[i].failed += fa;
				want[0] += op;
				want[1] += cl;
				want[2] += fa;
			}
			live[i].conns = (uint32_t)((r >> 16) % 4); /* 0: all ended */
			live[i].states[HF_ESTABLISHED] = live[i].conns;
			g[m++] = live[i];
		}
		hf_select_flows(sel, g, m, (uint64_t)step * SEC, NULL, NULL);
		s = hf_select_series(sel, &n);
		for (size_t k = 0; k < n; k++) {
			const uint64_t c[HF_COUNTS] = { s[k].flow.opened, s[k].flow.closed,
							s[k].flow.failed };
			bool was = false;
			for (size_t j = 0; j < nlast; j++) {
				if (!hf_flow_key_eq(&last[j].key, &s[k].flow))
					continue;
				was = s[k].first_us != (uint64_t)step * SEC;
				for (int x = 0; was && x < HF_COUNTS; x++) {
					bad_mono += c[x] < last[j].c[x];
					got[x] += c[x] - last[j].c[x];
				}
			}
			/* New: from 0, or from its totals when last reported; it adds nothing yet. */
			int idx = NF;
			for (int i = 0; i < NF; i++)
				if (hf_flow_key_eq(&live[i], &s[k].flow))
					idx = i;
			if (!was) {
				bool zero = !c[0] && !c[1] && !c[2];
				bool back = !memcmp(c, ever[idx], sizeof(c));
				bad_mono += !zero && !back;
				restored += back && !zero;
			}
			memcpy(ever[idx], c, sizeof(c));
		}
		for (int d = 0; d < 2; d++) {
			const struct hf_flow *o =
				hf_select_other(sel, d ? HF_DIR_PASSIVE : HF_DIR_ACTIVE, NULL);
			const uint64_t c[HF_COUNTS] = { o->opened, o->closed, o->failed };
			for (int x = 0; x < HF_COUNTS; x++) {
				bad_mono += c[x] < last_other[d][x];
				got[x] += c[x] - last_other[d][x];
				last_other[d][x] = c[x];
			}
		}
		nlast = 0;
		for (size_t k = 0; k < n && nlast < 64; k++, nlast++) {
			last[nlast].key = s[k].flow;
			last[nlast].c[0] = s[k].flow.opened;
			last[nlast].c[1] = s[k].flow.closed;
			last[nlast].c[2] = s[k].flow.failed;
		}
		for (int x = 0; x < HF_COUNTS; x++) {
			bad_sum += got[x] != want[x];
			want_total[x] += want[x];
			got_total[x] += got[x];
		}
	}
	EQ_INT(bad_sum, 0, "4000 random updates: series and other add exactly what the flows did");
	EQ_INT(bad_mono, 0,
	       "no series and no other ever goes back; a new series starts at 0, or where it was");
	OK(restored > 0, "a series reported again goes on from its totals (%llu times)",
	   (unsigned long long)restored);
	OK(want_total[0] > 10000 && got_total[0] == want_total[0] &&
		   got_total[1] == want_total[1] && got_total[2] == want_total[2],
	   "over the run, the totals equal what the flows did");
	hf_select_free(sel);
}

int main(void)
{
	test_pin_parse();
	test_options();
	test_hold();
	test_ended_and_pins();
	test_identity();
	test_listeners();
	test_fill();
	test_property();
	test_conntrack_other();
	test_netns_and_before();
	test_counters();
	test_counters_property();
	return tap_failed != 0;
}
