/*
 * plugin.h - what every hostflow front end shares above libhostflow: one
 * option vocabulary parsed once, top-N flow selection with "other", flow
 * labels and series identifiers, and a resolver.
 *
 * Ownership: every struct here is owned by its caller; nothing allocates
 * except hf_resolver_* (its cache, freed by hf_resolver_free) and
 * hf_flow_ids (scratch space, freed before it returns).
 */
#ifndef HOSTFLOW_PLUGIN_H
#define HOSTFLOW_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostflow.h"

#define HF_MAX_FLOWS_DEFAULT 20
#define HF_MAX_LISTENERS_DEFAULT 50
#define HF_HOLD_TIME_DEFAULT 300
#define HF_PIN_MAX 64
#define HF_NETNS_SPECS_MAX 32

/* The agent whose configuration is parsed: some options belong to one agent only. */
enum hf_agent {
	HF_AGENT_ANY = 0, /* tests and fuzzing: every option */
	HF_AGENT_COLLECTD,
	HF_AGENT_NETDATA,
};

/* The options every plugin understands (collectd block, netdata hostflow.conf). */
struct hf_options {
	struct hf_filter filter;
	enum hf_agent agent;
	enum hf_backend backend;    /* Backend auto|netlink|proc */
	bool report_states;	    /* ReportStates: per-state values per flow (false; collectd) */
	bool report_listeners;	    /* ReportListeners: listener health (true) */
	bool resolve_names;	    /* ResolveNames: peer names instead of addresses (false) */
	unsigned int max_flows;	    /* MaxFlows: per direction, the rest folded into "other" */
	unsigned int max_listeners; /* MaxListeners: listeners reported (50) */
	unsigned int hold_time;	    /* HoldTime: seconds a reported series outlives the top (300) */
	unsigned int obsolete_after; /* ObsoleteAfter: seconds a gone series is kept (netdata) */
	unsigned int sources;	     /* Source: HF_SOURCES_* bits (sockets) */
	unsigned int n_pins;	     /* Pin: flows always reported under their own identifier */
	struct hf_flow pins[HF_PIN_MAX]; /* keys only */
	bool pin_ct[HF_PIN_MAX];	 /* the pin is a conntrack flow ("ct-...") */
	/* Namespaces: hf_netns_select() specs ("all", "host", "self", a name); none: the own one */
	unsigned int n_netns;
	char netns[HF_NETNS_SPECS_MAX][HF_NETNS_NAME_MAX];
	uint64_t seen_; /* keys already set, to refuse duplicates */
};

/*
 * Seconds between the bpf backend's reconciles in the plugins (the command's
 * --reconcile default is 600). A reconcile costs one netlink dump, so once a
 * minute adds 1/60 of a dump per second of collection; it bounds how long a
 * count the programs got wrong (a state change they missed) can last.
 */
#define HF_PLUGIN_RECONCILE 60

/* The states a connection can be in, as hf_state_parse() knows them, for messages. */
#define HF_CONN_STATES                                                                          \
	"ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, " \
	"LAST_ACK, CLOSING"

#define HF_SOURCES_SOCKETS (1u << HF_SOURCE_SOCKETS)
#define HF_SOURCES_CONNTRACK (1u << HF_SOURCE_CONNTRACK)

/* hf_options_init - the defaults, for @agent. */
void hf_options_init(struct hf_options *o, enum hf_agent agent);

/*
 * hf_options_set - apply one option. Keys are matched without regard to
 * case, and to '_' and '-' between words: "ReportStates", "report_states"
 * and "report-states" are one key (netdata's hostflow.conf also allows
 * spaces; collectd's parser ends a key at the first space). Booleans:
 * true/false, yes/no, on/off, 1/0. IncludeNet, ExcludeNet, IncludePort,
 * ExcludePort, IgnoreState, Pin, Source, Protocol and Namespaces repeat
 * (Namespaces also takes several blank-separated specs in one value:
 * "all", "host", "self" or namespace names, as hf_netns_select() takes
 * them, checked when the collector starts); any other key given twice is an
 * error. An option of the other agent (ObsoleteAfter in collectd,
 * ReportStates in netdata) is an error that says so. Returns 0, or -EINVAL
 * (bad value), -ENOENT (unknown key), -EEXIST (duplicate key), -E2BIG (too
 * many entries), -ENOTSUP (the other agent's option) with a message naming
 * the key and the value in @err.
 */
int hf_options_set(struct hf_options *o, const char *key, const char *value, char *err,
		   size_t errlen);

/* hf_options_repeats - whether option @key may be given more than once (any spelling). */
bool hf_options_repeats(const char *key);

/*
 * hf_pin_parse - a pinned flow, written as its collectd identifier with
 * addresses ("passive-198.51.100.1:80-198.51.100.13:many",
 * "active-[2001:db8::1]:many-[2001:db8::2]:443", a peer prefix as
 * "198.51.100.0_24"; a conntrack flow after "ct-PROTO-":
 * "ct-udp-active-198.51.100.1:many-198.51.100.53:53"), into the key of
 * @out (values zeroed); *@conntrack says whether it is a conntrack flow.
 * Returns 0 or -EINVAL.
 */
int hf_pin_parse(const char *s, struct hf_flow *out, bool *conntrack);

/*
 * hf_flow_label - the readable flow, "198.51.100.1:80 <- 198.51.100.11:many"
 * or "198.51.100.1:many -> [2001:db8::1]:443" (IPv6 in brackets), into @buf.
 * @names, if not NULL, gives a name to show instead of an address.
 * Returns the length written.
 */
#define HF_LABEL_MAX 600
size_t hf_flow_label(const struct hf_flow *f, char *buf, size_t len,
		     const char *(*names)(int family, const union hf_addr *a, unsigned int plen,
					  void *arg),
		     void *arg);

/* hf_endpoint_str - "addr:port" with IPv6 in brackets and port 0 as "many". */
size_t hf_endpoint_str(int family, const union hf_addr *a, unsigned int plen, uint16_t port,
		       const char *name, char *buf, size_t len);

/* ---- name resolution with a cache and a bounded wait ------------------------------------ */

struct hf_resolver;

/* hf_resolver_new - a cache; each lookup waits at most @timeout_ms. NULL with errno. */
struct hf_resolver *hf_resolver_new(unsigned int timeout_ms);
void hf_resolver_free(struct hf_resolver *r);

/*
 * hf_resolve - the name of @addr, or NULL when it has none, the lookup timed
 * out (it is not retried), or @plen is a prefix. The string belongs to @r.
 */
const char *hf_resolve(struct hf_resolver *r, int family, const union hf_addr *addr,
		       unsigned int plen);

/*
 * hf_resolver_news - what a front end should log about the resolver, once:
 * when lookups first fail (error or time-out; a name that does not exist is
 * not a failure) and when the resolver gives up after repeated time-outs.
 * One message a call, the older first; NULL when there is nothing new. The
 * string belongs to @r and lasts until the next call.
 */
const char *hf_resolver_news(struct hf_resolver *r);

/* The signature hf_json_opts.name and hf_flow_label expect; @arg is a struct hf_resolver. */
const char *hf_resolve_cb(int family, const union hf_addr *addr, unsigned int plen, void *arg);

/* ---- series identifiers (naming.c) ------------------------------------------------------ */

/*
 * Identifiers of flows and listeners that survive agents with short,
 * restricted series names (collectd's plugin and type instances: at most
 * 127 bytes, no '/'). Every flow maps to one identifier and back:
 *
 *   id       = ("passive" | "active") "-" end "-" end     local end first
 *            | "passive-other" | "active-other"
 *            | "listen-" end
 *   end      = host ":" (port | "many")
 *   host     = IPv4 ["_" prefixlen]                198.51.100.0_24
 *            | "[" IPv6 ["_" prefixlen] "]"        [2001:db8::_32]
 *            | name                                [A-Za-z0-9.-], with a letter
 *
 * '/' of a prefix is written '_'. A host in brackets is IPv6, one without
 * letters IPv4, any other a name; names hold no ':', '[' or '_', so the
 * first ':' outside brackets ends a host, and a port never holds '-'.
 */
#define HF_ID_MAX 128 /* bytes, with the NUL: collectd's DATA_MAX_NAME_LEN */

/*
 * hf_id_name_ok - whether @name may stand for an address in an identifier:
 * 1 to 253 bytes of letters, digits, '.' and '-', at least one letter (so
 * never an address), not starting with '-' or '.', not ending with '-'.
 */
bool hf_id_name_ok(const char *name);

/*
 * hf_flow_id - the identifier of flow @f into @buf, e.g.
 * "passive-198.51.100.1:80-198.51.100.11:many" or
 * "active-198.51.100.1:many-[2001:db8::1]:443". @names, if not NULL, gives
 * a name for an address (never used for a peer prefix); a name that fails
 * hf_id_name_ok is replaced by the address, and so are names that would make
 * the identifier longer than @len - 1 (the local one first).
 * Returns the length, or -ENOSPC when not even the addresses fit (they
 * always fit in HF_ID_MAX).
 */
int hf_flow_id(const struct hf_flow *f, char *buf, size_t len,
	       const char *(*names)(int family, const union hf_addr *a, unsigned int plen,
				    void *arg),
	       void *arg);

/*
 * hf_ct_prefix - what a conntrack flow's identifier starts with: "ct-tcp-",
 * "ct-udp-", or "ct-p" and the protocol number and "-" for the others.
 */
void hf_ct_prefix(unsigned int proto, char *buf, size_t len);

/*
 * hf_netns_host - the host name under which an agent that names series by
 * host (collectd) reports namespace @ns, the way collectd's virt plugin
 * reports a guest: "" for the namespace the agent runs in (it keeps the
 * agent's own host name), else @hostname ":" name, with '/' (a Kubernetes
 * "NS/POD"), blanks, '"' and control characters written '_'; when that
 * does not fit in @len, @hostname ":netns-" inode. Returns the length, or
 * -ENOSPC when not even the inode form fits.
 */
int hf_netns_host(const struct hf_netns *ns, const char *hostname, char *buf, size_t len);

/* hf_other_id - "passive-other" or "active-other": the identifier of hf_select_other(). */
const char *hf_other_id(enum hf_dir dir);

/* hf_listener_id - "listen-0.0.0.0:80", "listen-[::]:443". Returns the length or -ENOSPC. */
int hf_listener_id(const struct hf_listener *l, char *buf, size_t len);

/*
 * hf_flow_ids - hf_flow_id for each of @n flows into @ids[0..n), made unique:
 * flows whose identifiers with names would be equal (two peers of one name)
 * get their addresses instead. Returns 0, -ENOMEM or -ENOSPC.
 */
int hf_flow_ids(const struct hf_flow *flows, size_t n, char (*ids)[HF_ID_MAX],
		const char *(*names)(int family, const union hf_addr *a, unsigned int plen,
				     void *arg),
		void *arg);

/* ---- series: what a plugin reports, stable across collections (series.c) ------------- */

/*
 * Which flows and listeners a plugin reports, and under which identifier.
 * The rules, for flows (per direction):
 *
 *   - a flow is reported when it is among the MaxFlows largest (the top),
 *     or pinned, or was reported before and left the top less than
 *     HoldTime ago while still having connections ("held");
 *   - held flows beyond MaxFlows are given up, those that left the top
 *     longest ago first, so at most 2 x MaxFlows + pins flows are reported
 *     per direction, plus "other", which sums every flow not reported;
 *   - a reported flow that has no connection any more is reported once
 *     more with zeros (ended), then forgotten; a pinned one reads zeros for
 *     as long as the plugin runs;
 *   - the identifier of a flow (hf_flow_id, with names when a resolver is
 *     given) is decided when it is first reported and kept while it is
 *     reported: a later name, or a name another flow gets, never renames
 *     it. A new flow whose identifier would equal a reported one's takes
 *     its addresses instead.
 *
 * Listeners follow the same rules with MaxListeners, ranked by fill (the
 * fullest first), with no "other" and no pins; the filter's
 * IgnoreLoopback, Family and port lists apply to them (the port is the
 * listening port).
 */

/* The bpf backend's counters of a flow: opened, closed, failed. */
#define HF_COUNTS 3

/* One reported series: a flow or a listener with this collection's values. */
struct hf_series {
	struct hf_flow flow; /* flows: key, and values (zero when ended or pinned and idle) */
	struct hf_listener listener; /* listeners: key, and values (zero when ended) */
	char id[HF_ID_MAX];	     /* hf_flow_id / hf_listener_id, decided once */
	uint64_t top_us;	     /* when it was last in the top (or pinned) */
	uint64_t first_us;	     /* when it was first reported */
	bool pinned;
	bool ended;   /* no connection (listener: gone): reported with zeros, forgotten next time */
	bool present; /* in this collection */
	/*
	 * conntrack, in the update that first reports the flow: its traffic
	 * counters at the update before (bytes sent, received, packets sent,
	 * received; 0 for a flow that was not there), so that a front end can
	 * count the flow's first interval; what "other" held of it until then
	 * was counted there.
	 */
	uint64_t before[4];
	/* internal: sockets flows' opened, closed, failed (see hf_select_flows) */
	uint64_t counts_[HF_COUNTS]; /* the series' totals */
	uint64_t delta_[HF_COUNTS];  /* what this update added to them */
};

struct hf_select;

#define HF_DIRS 3 /* active, passive, forwarded (conntrack) */

enum hf_select_kind {
	HF_SELECT_FLOWS,     /* flows of the sockets source */
	HF_SELECT_LISTENERS, /* listeners */
	HF_SELECT_CONNTRACK, /* flows of the conntrack source: "ct-PROTO-" identifiers, traffic */
};

/*
 * hf_select_new - a selection of @kind. A conntrack selection keeps the
 * traffic of its "other" flows monotonic: each update adds what the flows
 * it folds did since the last one (the flows' counters must be
 * HF_CT_EVENTS counters). NULL with errno.
 */
struct hf_select *hf_select_new(enum hf_select_kind kind, unsigned int max, unsigned int hold_s);
void hf_select_free(struct hf_select *sel);

/* hf_select_pin - pin flow @key (hf_pin_parse). Returns 0, -ENOMEM or -EEXIST. */
int hf_select_pin(struct hf_select *sel, const struct hf_flow *key);

/*
 * hf_select_flows - update with the @n flows of a collection at @now_us
 * (a monotonic clock); reorders @flows. @names gives a name for an
 * address, or NULL. Returns 0 or -ENOMEM.
 *
 * Counters (a sockets selection; the bpf backend's flows carry them):
 * after the update, each series' flow.opened, closed and failed, and
 * those of hf_select_other(), are the selection's own monotonic totals,
 * never lower than at the update before. What a flow did since the last
 * update (its counters less those it had then; all of them when it is
 * new, or when one went back: the flow was deleted from the kernel's map
 * and made anew) is added to its series, or, when it has none, to its
 * direction's other; flows with no connection left count too. A series
 * starts at 0 when it is first reported (at the totals it had when it was
 * last reported under the same identifier, if the selection still keeps
 * them: the last hf_select_bound() series given up or ended are kept) (what its flow did in that
 * update goes to other, so that an agent, which needs two values for a
 * rate, loses none); a series given up while its flow lives gives what
 * its flow did in that update to other. So over a run the totals of
 * every series and other add up to what every flow did.
 */
int hf_select_flows(struct hf_select *sel, struct hf_flow *flows, size_t n, uint64_t now_us,
		    const char *(*names)(int family, const union hf_addr *a, unsigned int plen,
					 void *arg),
		    void *arg);

/*
 * hf_select_listeners - update with the @n listeners of a collection at
 * @now_us; those @f does not admit (hf_listener_admitted) are left out.
 * Returns 0 or -ENOMEM.
 */
int hf_select_listeners(struct hf_select *sel, const struct hf_listener *l, size_t n,
			const struct hf_filter *f, uint64_t now_us);

/*
 * hf_select_series - the series to report for the last update, sorted by
 * key; the array belongs to @sel and stays valid until its next update.
 */
const struct hf_series *hf_select_series(const struct hf_select *sel, size_t *n);

/*
 * hf_select_other - the sum of the flows of direction @dir not reported in
 * the last update (conns 0 when none), and how many flows it holds.
 */
const struct hf_flow *hf_select_other(const struct hf_select *sel, enum hf_dir dir,
				      unsigned int *folded);

/*
 * hf_select_other_id - the identifier of the "other" of @dir: "passive-other",
 * "active-other", "forwarded-other", after "ct-" in a conntrack selection.
 */
const char *hf_select_other_id(const struct hf_select *sel, enum hf_dir dir);

/* hf_select_bound - the most series an update can report (pins and "other" excluded). */
size_t hf_select_bound(const struct hf_select *sel);

/*
 * hf_listener_fill - the accept queue against the point where the kernel
 * drops SYNs (backlog + 1), in percent: 100 means full. For a SO_REUSEPORT
 * group, the fullest member's. Returns -1 when the backlog is unknown
 * (the /proc backend).
 */
double hf_listener_fill(const struct hf_listener *l);

/* hf_listener_admitted - whether filter @f (NULL: everything) admits listener @l. */
bool hf_listener_admitted(const struct hf_filter *f, const struct hf_listener *l);

#endif /* HOSTFLOW_PLUGIN_H */
