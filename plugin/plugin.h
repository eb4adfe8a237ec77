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

/* The options every plugin understands (collectd block, netdata hostflow.conf). */
struct hf_options {
	struct hf_filter filter;
	enum hf_backend backend;     /* Backend auto|netlink|proc */
	bool report_states;	     /* ReportStates: per-state values per flow (false) */
	bool report_listeners;	     /* ReportListeners: listener health (true) */
	bool resolve_names;	     /* ResolveNames: peer names instead of addresses (false) */
	unsigned int max_flows;	     /* MaxFlows: per direction, the rest folded into "other" */
	unsigned int obsolete_after; /* ObsoleteAfter: seconds a gone series is kept (netdata) */
	uint64_t seen_;		     /* keys already set, to refuse duplicates */
};

/* hf_options_init - the defaults. */
void hf_options_init(struct hf_options *o);

/*
 * hf_options_set - apply one option. Keys are matched without regard to
 * case, spaces, '_' and '-': "ReportStates", "report states" and
 * "report_states" are one key. Booleans: true/false, yes/no, on/off, 1/0.
 * IncludeNet, ExcludeNet, IncludePort and ExcludePort repeat; any other key
 * given twice is an error. Returns 0, or -EINVAL (bad value), -ENOENT
 * (unknown key), -EEXIST (duplicate key), -E2BIG (too many entries) with a
 * message naming the key and the value in @err.
 */
int hf_options_set(struct hf_options *o, const char *key, const char *value, char *err,
		   size_t errlen);

/*
 * A flow as a plugin reports it: a flow of the collection or the "other"
 * flow of a direction (is_other), which sums the flows beyond max_flows.
 */
struct hf_report {
	struct hf_flow *flows; /* the reported flows, largest first, then the others */
	size_t n;
	struct hf_flow other[2]; /* [0] active, [1] passive; conns 0 when nothing was folded */
	unsigned int folded[2];	 /* how many flows each "other" holds */
};

/*
 * hf_report_select - sort @flows (from hf_flows()) and keep, per direction,
 * the @max largest in place at the front of the array; the rest are summed
 * into r->other. @max 0 keeps every flow.
 */
void hf_report_select(struct hf_flow *flows, size_t n, unsigned int max, struct hf_report *r);

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

/* hf_other_id - "passive-other" or "active-other", the identifier of hf_report.other. */
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

#endif /* HOSTFLOW_PLUGIN_H */
