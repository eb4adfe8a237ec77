/*
 * collectd/conntrack.c - the conntrack source (Source conntrack): flows of
 * netfilter's connection tracking table, read over ctnetlink with destroy
 * events (HF_CT_EVENTS), so that each flow's traffic is a counter that
 * also holds the connections that ended between two reads.
 *
 * Each read dispatches, under plugin instances that start with "ct-":
 *   hostflow-ct-PROTO-FLOW/current_connections-total (and, with
 *       ReportStates, -STATE for conntrack's TCP states), for the MaxFlows
 *       largest flows of each direction (active, passive, forwarded);
 *   hostflow-ct-PROTO-FLOW/if_octets, if_packets  rx received, tx sent
 *       (DERIVE; only when accounting is on);
 *   hostflow-ct-DIR-other/...  the flows not reported, summed;
 *   hostflow-ct-all/conntrack (entries), conntrack-max, percent-used,
 *       count-flows.
 * A flow's first value list is preceded by one of its counters at the
 * last read (0 for a new flow), time-stamped then, so that collectd
 * computes the flow's first interval too: a flow that opens and closes
 * between two reads is counted in that interval.
 */
#include "cd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void submit_traffic_at(const struct hf_cd *cd, const char *host, const char *id,
			      uint64_t sent, uint64_t received, uint64_t psent, uint64_t preceived,
			      cdtime_t t)
{
	value_t v[2];

	v[0].derive = (derive_t)received;
	v[1].derive = (derive_t)sent;
	cd_submit_at(cd, host, id, "if_octets", "", v, 2, t);
	v[0].derive = (derive_t)preceived;
	v[1].derive = (derive_t)psent;
	cd_submit_at(cd, host, id, "if_packets", "", v, 2, t);
}

static void submit_ct_flow(const struct hf_cd *cd, const char *host, const char *id,
			   const struct hf_flow *f, const uint64_t *before)
{
	const struct hf_flow_ct *ct = &f->ct;

	cd_submit_gauge(cd, host, id, "current_connections", "total", f->conns);
	if (cd->opts.report_states && f->proto == IPPROTO_TCP)
		for (unsigned int s = HF_CT_TCP_SYN_SENT; s < HF_CT_TCP_MAX; s++)
			cd_submit_gauge(cd, host, id, "current_connections",
					hf_ct_tcp_state_name(s), ct->tcp_states[s]);
	/* Accounting off: connections are known, traffic is not; nothing rather than 0. */
	if (!ct->traffic_known)
		return;
	if (before)
		submit_traffic_at(cd, host, id, before[0], before[1], before[2], before[3],
				  cd->ct_last);
	submit_traffic_at(cd, host, id, ct->bytes_sent, ct->bytes_received, ct->packets_sent,
			  ct->packets_received, cd->time);
}

/* One table: entries, its limit, percent used (one threshold whatever its size), flows. */
static void submit_table(const struct hf_cd *cd, const char *host, int64_t entries, int64_t max,
			 uint64_t flows)
{
	cd_submit_gauge(cd, host, "ct-all", "conntrack", "", (double)entries);
	if (max > 0) {
		cd_submit_gauge(cd, host, "ct-all", "conntrack", "max", (double)max);
		cd_submit_gauge(cd, host, "ct-all", "percent", "used",
				100.0 * (double)entries / (double)max);
	}
	cd_submit_gauge(cd, host, "ct-all", "count", "flows", (double)flows);
}

/* With Namespaces, each namespace's table under its host; without, collectd's own. */
static void submit_tables(const struct hf_cd *cd, const struct hf_ct_info *ci)
{
	if (!hf_netns_selected(cd->ct)) {
		submit_table(cd, NULL, ci->count >= 0 ? ci->count : (int64_t)ci->entries, ci->max,
			     hf_totals(cd->ct)->flows);
		return;
	}
	for (size_t i = 0; i < cd->ct_ns.n; i++) {
		const struct cd_ns *e = &cd->ct_ns.v[i];
		if (!e->gone)
			submit_table(cd, e->host,
				     e->ct_count >= 0 ? e->ct_count : (int64_t)e->totals.sockets,
				     e->ct_max, e->totals.flows);
	}
}

static int ct_open(struct hf_cd *cd)
{
	int e;

	cd->ct = hf_open_with(&(struct hf_open_opts){ .source = HF_SOURCE_CONNTRACK,
						      .backend = HF_BACKEND_NETLINK,
						      .proc_root = "/proc",
						      .ct_flags = HF_CT_EVENTS });
	if (!cd->ct) {
		e = errno;
		return cd_failed(&cd->ct_fail,
				 "conntrack: cannot open the ctnetlink sockets (with destroy "
				 "events): %s%s",
				 STRERROR(e),
				 e == EPERM || e == EACCES ? " (needs CAP_NET_ADMIN)" :
				 e == EPROTONOSUPPORT	   ? " (no nfnetlink in this kernel: load "
							     "nf_conntrack_netlink)" :
							     "");
	}
	/* Each namespace's own table, over ctnetlink sockets opened inside it. */
	for (unsigned int i = 0; i < cd->opts.n_netns; i++) {
		int ret = hf_netns_select(cd->ct, cd->opts.netns[i]);
		if (ret < 0) {
			ERROR(PLUGIN_NAME " plugin: Source conntrack with Namespaces \"%s\": %s; "
					  "the conntrack source is off",
			      cd->opts.netns[i],
			      ret == -EOPNOTSUPP ? hf_strerror(cd->ct) : STRERROR(-ret));
			hf_close(cd->ct);
			cd->ct = NULL;
			cd->ct_off = true;
			return -1;
		}
	}
	return 0;
}

int cd_ct_read(struct hf_cd *cd, uint64_t now)
{
	const struct hf_ct_info *ci;
	const struct hf_series *ser;
	struct hf_flow *flows;
	size_t n;
	int ret;

	if (cd->ct_off)
		return -1;
	if (!cd->ct && ct_open(cd) < 0)
		return -1;
	ret = hf_collect(cd->ct, &cd->opts.filter);
	if (ret < 0)
		return cd_failed(&cd->ct_fail, "%s", hf_strerror(cd->ct));
	cd_recovered(&cd->ct_fail, "conntrack: ");
	cd_notices_log(cd->ct);
	ci = hf_ct_info(cd->ct);
	if (ci->resynced)
		WARNING(PLUGIN_NAME " plugin: conntrack destroy events were lost (the socket "
				    "overran): traffic counters restart from the live entries");
	if (ci->traffic_unknown && !cd->acct_told) {
		WARNING(PLUGIN_NAME " plugin: %s", hf_ct_acct_hint());
		cd->acct_told = true;
	}
	if (hf_netns_selected(cd->ct) && cd_ns_update(&cd->ct_ns, cd->ct) < 0)
		return cd_failed(&cd->ct_fail, "conntrack: %s", STRERROR(ENOMEM));
	flows = hf_flows(cd->ct, &n);
	ret = hf_select_flows(cd->ct_flows, flows, n, now, cd->resolver ? hf_resolve_cb : NULL,
			      cd->resolver);
	if (ret < 0)
		return cd_failed(&cd->ct_fail, "conntrack: cannot select the flows: %s",
				 STRERROR(-ret));
	ser = hf_select_series(cd->ct_flows, &n);
	for (size_t i = 0; i < n; i++) {
		/* The first read of a series: from its counters at the last read. */
		bool first = ser[i].first_us == now && !ser[i].pinned && cd->ct_last &&
			     !ci->resynced;
		const char *host = cd_ns_host(&cd->ct_ns, cd->ct, ser[i].flow.netns);
		if (host)
			submit_ct_flow(cd, host, ser[i].id, &ser[i].flow,
				       first ? ser[i].before : NULL);
	}
	for (enum hf_dir d = HF_DIR_ACTIVE; d <= HF_DIR_FORWARDED; d++) {
		unsigned int folded;
		const struct hf_flow *other = hf_select_other(cd->ct_flows, d, &folded);
		if (folded)
			submit_ct_flow(cd, NULL, hf_select_other_id(cd->ct_flows, d), other, NULL);
	}
	submit_tables(cd, ci);
	cd->ct_last = cd->time;
	return 0;
}
