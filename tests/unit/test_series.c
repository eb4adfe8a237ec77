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
	return tap_failed != 0;
}
