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

static void submit_traffic_at(const struct hf_cd *cd, const char *id, uint64_t sent,
			      uint64_t received, uint64_t psent, uint64_t preceived, cdtime_t t)
{
	value_t v[2];

	v[0].derive = (derive_t)received;
	v[1].derive = (derive_t)sent;
	cd_submit_at(cd, NULL, id, "if_octets", "", v, 2, t);
	v[0].derive = (derive_t)preceived;
	v[1].derive = (derive_t)psent;
	cd_submit_at(cd, NULL, id, "if_packets", "", v, 2, t);
}

static void submit_ct_flow(const struct hf_cd *cd, const char *id, const struct hf_flow *f,
			   const uint64_t *before)
{
	const struct hf_flow_ct *ct = &f->ct;

	cd_submit_gauge(cd, NULL, id, "current_connections", "total", f->conns);
	if (cd->opts.report_states && f->proto == IPPROTO_TCP)
		for (unsigned int s = HF_CT_TCP_SYN_SENT; s < HF_CT_TCP_MAX; s++)
			cd_submit_gauge(cd, NULL, id, "current_connections",
					hf_ct_tcp_state_name(s), ct->tcp_states[s]);
	/* Accounting off: connections are known, traffic is not; nothing rather than 0. */
	if (!ct->traffic_known)
		return;
	if (before)
		submit_traffic_at(cd, id, before[0], before[1], before[2], before[3], cd->ct_last);
	submit_traffic_at(cd, id, ct->bytes_sent, ct->bytes_received, ct->packets_sent,
			  ct->packets_received, cd->time);
}

static void submit_table(const struct hf_cd *cd, const struct hf_ct_info *ci)
{
	int64_t entries = ci->count >= 0 ? ci->count : (int64_t)ci->entries;

	cd_submit_gauge(cd, NULL, "ct-all", "conntrack", "", (double)entries);
	if (ci->max > 0) {
		cd_submit_gauge(cd, NULL, "ct-all", "conntrack", "max", (double)ci->max);
		/* One threshold for a table near full, whatever its size. */
		cd_submit_gauge(cd, NULL, "ct-all", "percent", "used",
				100.0 * (double)entries / (double)ci->max);
	}
	cd_submit_gauge(cd, NULL, "ct-all", "count", "flows", hf_totals(cd->ct)->flows);
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
	for (unsigned int i = 0; i < cd->opts.n_netns; i++) {
		int ret = hf_netns_select(cd->ct, cd->opts.netns[i]);
		if (ret < 0) {
			/* Said once: the sockets source goes on with its namespaces. */
			ERROR(PLUGIN_NAME " plugin: Source conntrack with Namespaces \"%s\": %s; "
					  "the conntrack source is off (remove Namespaces, or run "
					  "a second collectd in the namespace to read its table)",
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
	ci = hf_ct_info(cd->ct);
	if (ci->resynced)
		WARNING(PLUGIN_NAME " plugin: conntrack destroy events were lost (the socket "
				    "overran): traffic counters restart from the live entries");
	if (ci->traffic_unknown && !cd->acct_told) {
		WARNING(PLUGIN_NAME " plugin: %s", hf_ct_acct_hint());
		cd->acct_told = true;
	}
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
		submit_ct_flow(cd, ser[i].id, &ser[i].flow, first ? ser[i].before : NULL);
	}
	for (enum hf_dir d = HF_DIR_ACTIVE; d <= HF_DIR_FORWARDED; d++) {
		unsigned int folded;
		const struct hf_flow *other = hf_select_other(cd->ct_flows, d, &folded);
		if (folded)
			submit_ct_flow(cd, hf_select_other_id(cd->ct_flows, d), other, NULL);
	}
	submit_table(cd, ci);
	cd->ct_last = cd->time;
	return 0;
}
