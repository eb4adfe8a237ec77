/*
 * collectd/dispatch.c - value lists: the flows of the sockets source, the
 * host totals (per namespace with Namespaces), the TcpExt counters of
 * collectd's own namespace. Only types of the stock types.db.
 */
#include "cd.h"

void cd_submit_at(const struct hf_cd *cd, const char *host, const char *pi, const char *type,
		  const char *ti, value_t *v, size_t n, cdtime_t t)
{
	value_list_t vl = VALUE_LIST_INIT;

	(void)cd;
	vl.values = v;
	vl.values_len = n;
	vl.time = t;
	/* Empty: plugin_dispatch_values() fills in collectd's Hostname. */
	if (host && *host)
		sstrncpy(vl.host, host, sizeof(vl.host));
	sstrncpy(vl.plugin, PLUGIN_NAME, sizeof(vl.plugin));
	sstrncpy(vl.plugin_instance, pi, sizeof(vl.plugin_instance));
	sstrncpy(vl.type, type, sizeof(vl.type));
	sstrncpy(vl.type_instance, ti, sizeof(vl.type_instance));
	plugin_dispatch_values(&vl);
}

void cd_submit(const struct hf_cd *cd, const char *host, const char *pi, const char *type,
	       const char *ti, value_t v)
{
	cd_submit_at(cd, host, pi, type, ti, &v, 1, cd->time);
}

void cd_submit_gauge(const struct hf_cd *cd, const char *host, const char *pi, const char *type,
		     const char *ti, double g)
{
	cd_submit(cd, host, pi, type, ti, (value_t){ .gauge = g });
}

static void submit_flow(const struct hf_cd *cd, const char *host, const char *id,
			const struct hf_flow *f)
{
	cd_submit_gauge(cd, host, id, "tcp_connections", "total", f->conns);
	if (!cd->opts.report_states)
		return;
	/* Every state, zeros too, so that a state that empties reads 0 rather than going stale. */
	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		if (s != HF_LISTEN)
			cd_submit_gauge(cd, host, id, "tcp_connections", hf_state_name(s),
					f->states[s]);
}

/*
 * The bpf backend's counters, as hf_select keeps them: monotonic per
 * series (a new one starts at 0), type "connections" (DERIVE, 0 to U).
 */
static void submit_counts(const struct hf_cd *cd, const char *host, const char *id,
			  const struct hf_flow *f)
{
	cd_submit(cd, host, id, "connections", "opened",
		  (value_t){ .derive = (derive_t)f->opened });
	cd_submit(cd, host, id, "connections", "closed",
		  (value_t){ .derive = (derive_t)f->closed });
	cd_submit(cd, host, id, "connections", "failed",
		  (value_t){ .derive = (derive_t)f->failed });
}

int cd_submit_flows(struct hf_cd *cd, uint64_t now)
{
	bool counts = hf_backend(cd->ctx) == HF_BACKEND_BPF;
	const struct hf_series *ser;
	struct hf_flow *flows;
	size_t n;
	int ret;

	flows = hf_flows(cd->ctx, &n);
	ret = hf_select_flows(cd->flows, flows, n, now, cd->resolver ? hf_resolve_cb : NULL,
			      cd->resolver);
	if (ret < 0)
		return ret;
	/* An ended flow reads zeros once, so that its graphs drop instead of freezing. */
	ser = hf_select_series(cd->flows, &n);
	for (size_t i = 0; i < n; i++) {
		const char *host = cd_ns_host(&cd->ns, cd->ctx, ser[i].flow.netns);
		if (!host)
			continue;
		submit_flow(cd, host, ser[i].id, &ser[i].flow);
		if (counts)
			submit_counts(cd, host, ser[i].id, &ser[i].flow);
	}
	/* "other" sums the flows of every namespace: under collectd's Hostname. */
	for (enum hf_dir d = HF_DIR_ACTIVE; d <= HF_DIR_PASSIVE; d++) {
		unsigned int folded;
		const struct hf_flow *other = hf_select_other(cd->flows, d, &folded);
		if (folded)
			submit_flow(cd, NULL, hf_other_id(d), other);
		/* Flows with no connection left count in other without being folded. */
		if (counts && (folded || other->opened || other->closed || other->failed))
			submit_counts(cd, NULL, hf_other_id(d), other);
	}
	return 0;
}

static void submit_totals(const struct hf_cd *cd, const char *host, const struct hf_totals *t)
{
	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		cd_submit_gauge(cd, host, "all", "tcp_connections", hf_state_name(s),
				s == HF_LISTEN ? t->listeners : t->states[s]);
	cd_submit_gauge(cd, host, "all", "count", "flows", t->flows);
}

void cd_submit_totals(const struct hf_cd *cd)
{
	/* With Namespaces, each namespace's share under its host; a gone one reads zeros once. */
	if (!hf_netns_selected(cd->ctx)) {
		submit_totals(cd, NULL, hf_totals(cd->ctx));
		return;
	}
	for (size_t i = 0; i < cd->ns.n; i++)
		submit_totals(cd, cd->ns.v[i].host, &cd->ns.v[i].totals);
}

void cd_submit_host(struct hf_cd *cd)
{
	struct hf_host h;
	int ret = hf_host_read("/proc", &h);

	/* Listener figures do not depend on these; say so once and go on without them. */
	if (ret < 0) {
		if (!cd->host_failing)
			WARNING(PLUGIN_NAME " plugin: /proc/net/netstat: %s; the TcpExt counters "
					    "are not reported",
				STRERROR(-ret));
		cd->host_failing = true;
		return;
	}
	if (cd->host_failing)
		INFO(PLUGIN_NAME " plugin: /proc/net/netstat is readable again");
	cd->host_failing = false;
	for (unsigned int c = 0; c < HF_NETSTAT_MAX; c++)
		if (h.present & (1u << c))
			cd_submit(cd, NULL, "all", "protocol_counter", hf_netstat_name(c),
				  (value_t){ .derive = (derive_t)h.counters[c] });
	if (h.somaxconn >= 0)
		cd_submit_gauge(cd, NULL, "all", "gauge", "somaxconn", h.somaxconn);
	if (h.max_syn_backlog >= 0)
		cd_submit_gauge(cd, NULL, "all", "gauge", "tcp_max_syn_backlog", h.max_syn_backlog);
	if (h.syncookies >= 0)
		cd_submit_gauge(cd, NULL, "all", "gauge", "tcp_syncookies", h.syncookies);
}
