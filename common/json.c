/*
 * json.c - flows, listeners and the host summary as JSON (yajl). The flow
 * array keeps lstf's schema so that existing jq scripts keep working.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "hostflow.h"
#include "internal.h"

#define TRY(x)                                   \
	do {                                     \
		yajl_gen_status st_ = (x);       \
		if (st_ != yajl_gen_status_ok) { \
			errno = (int)st_;        \
			return -EIO;             \
		}                                \
	} while (0)

static yajl_gen_status put_str(yajl_gen g, const char *s)
{
	return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static yajl_gen_status put_kv_str(yajl_gen g, const char *k, const char *v)
{
	yajl_gen_status st = put_str(g, k);
	return st == yajl_gen_status_ok ? put_str(g, v) : st;
}

static yajl_gen_status put_kv_int(yajl_gen g, const char *k, long long v)
{
	yajl_gen_status st = put_str(g, k);
	return st == yajl_gen_status_ok ? yajl_gen_integer(g, v) : st;
}

static int put_end(yajl_gen g, const char *key, int family, const union hf_addr *addr,
		   unsigned int plen, uint16_t port, const struct hf_json_opts *o)
{
	char a[HF_ADDRSTRLEN], p[8];
	const char *name = NULL;

	hf_addr_str(family, addr, plen, a, sizeof(a));
	if (o && o->name)
		name = o->name(family, addr, plen, o->arg);
	if (port)
		snprintf(p, sizeof(p), "%u", port);
	else
		snprintf(p, sizeof(p), "many");
	TRY(put_str(g, key));
	TRY(yajl_gen_map_open(g));
	TRY(put_kv_str(g, "name", name ? name : a));
	TRY(put_kv_str(g, "addr", a));
	TRY(put_kv_str(g, "port", p));
	TRY(yajl_gen_map_close(g));
	return 0;
}

/* A flow's conntrack values: traffic (null when unknown), nat, conntrack's TCP states. */
static int put_ct(yajl_gen g, const struct hf_flow *f, const struct hf_json_opts *o)
{
	char a[HF_ADDRSTRLEN];

	TRY(put_str(g, "traffic"));
	if (f->ct.traffic_known) {
		TRY(yajl_gen_map_open(g));
		TRY(put_kv_int(g, "bytes_sent", (long long)f->ct.bytes_sent));
		TRY(put_kv_int(g, "bytes_received", (long long)f->ct.bytes_received));
		TRY(put_kv_int(g, "packets_sent", (long long)f->ct.packets_sent));
		TRY(put_kv_int(g, "packets_received", (long long)f->ct.packets_received));
		TRY(yajl_gen_map_close(g));
	} else {
		TRY(yajl_gen_null(g));
	}
	if (f->ct.destroyed)
		TRY(put_kv_int(g, "closed", f->ct.destroyed));
	if (f->ct.nat_src || f->ct.nat_dst) {
		TRY(put_str(g, "nat"));
		TRY(yajl_gen_map_open(g));
		if (f->ct.nat_src)
			TRY(put_kv_str(g, "local_addr",
				       hf_addr_str(f->family, &f->ct.nat_saddr, 0, a, sizeof(a))));
		if (f->ct.nat_dst) {
			TRY(put_kv_str(g, "peer_addr",
				       hf_addr_str(f->family, &f->ct.nat_daddr, 0, a, sizeof(a))));
			TRY(put_kv_int(g, "peer_port", f->ct.nat_dport));
		}
		TRY(yajl_gen_map_close(g));
	}
	if (o->states && f->proto == IPPROTO_TCP) {
		TRY(put_str(g, "states"));
		TRY(yajl_gen_map_open(g));
		for (unsigned int s = 0; s < HF_CT_TCP_MAX; s++)
			if (f->ct.tcp_states[s])
				TRY(put_kv_int(g, hf_ct_tcp_state_name(s), f->ct.tcp_states[s]));
		TRY(yajl_gen_map_close(g));
	}
	return 0;
}

/* "container": {"runtime", "id", "name", "pod", "pod_namespace"}, the fields known. */
static int put_container(yajl_gen g, const struct hf_netns *ns)
{
	const struct hf_container *c = &ns->container;
	const char *const ck[] = { "runtime", "id", "name", "pod", "pod_namespace" };
	const char *const cv[] = { c->runtime, c->id, c->name, c->pod, c->pod_namespace };

	if (ns->kind != HF_NETNS_CONTAINER)
		return 0;
	TRY(put_str(g, "container"));
	TRY(yajl_gen_map_open(g));
	for (size_t i = 0; i < sizeof(ck) / sizeof(ck[0]); i++)
		if (cv[i][0])
			TRY(put_kv_str(g, ck[i], cv[i]));
	TRY(yajl_gen_map_close(g));
	return 0;
}

/* "netns": {"name", "inode"} and, where known, "container". */
static int put_netns(yajl_gen g, const struct hf_netns *ns)
{
	if (!ns)
		return 0;
	TRY(put_str(g, "netns"));
	TRY(yajl_gen_map_open(g));
	TRY(put_kv_str(g, "name", ns->name));
	TRY(put_kv_int(g, "inode", (long long)ns->inode));
	TRY(yajl_gen_map_close(g));
	return put_container(g, ns);
}

int hf_json_flows(yajl_gen g, const struct hf_flow *flows, size_t n, const struct hf_json_opts *o)
{
	int ret;

	TRY(yajl_gen_array_open(g));
	for (size_t i = 0; i < n; i++) {
		const struct hf_flow *f = &flows[i];
		const char *pname;
		int pgid;

		TRY(yajl_gen_map_open(g));
		TRY(put_kv_str(g, "direction",
			       f->dir == HF_DIR_PASSIVE	  ? "passive" :
			       f->dir == HF_DIR_FORWARDED ? "forwarded" :
							    "active"));
		/* lstf's schema stays exact for the sockets source: "protocol" comes with traffic. */
		if (o && o->traffic) {
			TRY(put_str(g, "protocol"));
			if (hf_proto_name(f->proto))
				TRY(put_str(g, hf_proto_name(f->proto)));
			else
				TRY(yajl_gen_integer(g, f->proto));
		}
		ret = put_end(g, "local", f->family, &f->laddr, 0, f->lport, o);
		if (ret == 0)
			ret = put_end(g, "peer", f->family, &f->paddr, f->pplen, f->pport, o);
		if (ret)
			return ret;
		TRY(put_kv_int(g, "connections", f->conns));
		if (o && o->netns_ctx &&
		    (ret = put_netns(g, hf_netns_find(o->netns_ctx, f->netns))))
			return ret;
		if (o && o->process && o->process(f, &pname, &pgid, o->arg)) {
			TRY(put_str(g, "process"));
			TRY(yajl_gen_map_open(g));
			TRY(put_kv_str(g, "name", pname));
			TRY(put_kv_int(g, "pgid", pgid));
			TRY(yajl_gen_map_close(g));
		}
		if (o && o->counters) {
			TRY(put_kv_int(g, "opened", (long long)f->opened));
			TRY(put_kv_int(g, "closed", (long long)f->closed));
			TRY(put_kv_int(g, "failed", (long long)f->failed));
		}
		if (o && o->states && !o->traffic) {
			TRY(put_str(g, "states"));
			TRY(yajl_gen_map_open(g));
			for (unsigned int s = 1; s < HF_STATE_MAX; s++)
				if (f->states[s])
					TRY(put_kv_int(g, hf_state_name(s), f->states[s]));
			TRY(yajl_gen_map_close(g));
		}
		if (o && o->traffic && (ret = put_ct(g, f, o)) != 0)
			return ret;
		TRY(yajl_gen_map_close(g));
	}
	TRY(yajl_gen_array_close(g));
	return 0;
}

static bool members_differ(const struct hf_listener *l)
{
	unsigned int n = l->nsocks < HF_LISTENER_SOCKS_MAX ? l->nsocks : HF_LISTENER_SOCKS_MAX;

	for (unsigned int i = 1; i < n; i++)
		if (l->socks[i].accept_queue != l->socks[0].accept_queue ||
		    l->socks[i].backlog != l->socks[0].backlog)
			return true;
	return false;
}

int hf_json_listeners(yajl_gen g, const struct hf_listener *ls, size_t n,
		      const struct hf_ctx *netns_ctx)
{
	char a[HF_ADDRSTRLEN];
	int ret;

	TRY(yajl_gen_array_open(g));
	for (size_t i = 0; i < n; i++) {
		const struct hf_listener *l = &ls[i];

		TRY(yajl_gen_map_open(g));
		TRY(put_kv_str(g, "addr", hf_addr_str(l->family, &l->addr, 0, a, sizeof(a))));
		TRY(put_kv_int(g, "port", l->port));
		TRY(put_str(g, "backlog"));
		TRY(l->backlog_known ? yajl_gen_integer(g, l->backlog) : yajl_gen_null(g));
		TRY(put_kv_int(g, "accept_queue", l->accept_queue));
		TRY(put_kv_int(g, "syn_recv", l->syn_recv));
		TRY(put_kv_int(g, "connections", l->established));
		TRY(put_kv_int(g, "sockets", l->nsocks));
		if (netns_ctx && (ret = put_netns(g, hf_netns_find(netns_ctx, l->netns))))
			return ret;
		if (members_differ(l)) {
			unsigned int m = l->nsocks < HF_LISTENER_SOCKS_MAX ? l->nsocks :
									     HF_LISTENER_SOCKS_MAX;
			TRY(put_str(g, "per_socket"));
			TRY(yajl_gen_array_open(g));
			for (unsigned int k = 0; k < m; k++) {
				TRY(yajl_gen_map_open(g));
				TRY(put_str(g, "backlog"));
				TRY(l->backlog_known ? yajl_gen_integer(g, l->socks[k].backlog) :
						       yajl_gen_null(g));
				TRY(put_kv_int(g, "accept_queue", l->socks[k].accept_queue));
				TRY(yajl_gen_map_close(g));
			}
			TRY(yajl_gen_array_close(g));
		}
		TRY(yajl_gen_map_close(g));
	}
	TRY(yajl_gen_array_close(g));
	return 0;
}

static yajl_gen_status put_kv_setting(yajl_gen g, const char *k, long long v)
{
	yajl_gen_status st = put_str(g, k);
	if (st != yajl_gen_status_ok)
		return st;
	return v < 0 ? yajl_gen_null(g) : yajl_gen_integer(g, v);
}

/* After hf_netns_select(): "netns", each namespace read with its share of the totals. */
static int put_netns_totals(yajl_gen g, const struct hf_ctx *ctx)
{
	bool ct = hf_ct_info(ctx) != NULL;
	int ret;

	if (!hf_netns_selected(ctx))
		return 0;
	TRY(put_str(g, "netns"));
	TRY(yajl_gen_array_open(g));
	for (uint32_t i = 0; i < hf_netns_count(ctx); i++) {
		const struct hf_netns *ns = hf_netns_get(ctx, i);
		if (!ns->collected)
			continue;
		TRY(yajl_gen_map_open(g));
		TRY(put_kv_str(g, "name", ns->name));
		TRY(put_kv_int(g, "inode", (long long)ns->inode));
		ret = put_container(g, ns);
		if (ret)
			return ret;
		TRY(put_kv_str(g, "backend", hf_backend_name(ns->backend)));
		if (ct) {
			TRY(put_kv_int(g, "entries", (long long)ns->totals.sockets));
			TRY(put_kv_int(g, "flows", (long long)ns->totals.flows));
			TRY(put_kv_setting(g, "nf_conntrack_count", ns->ct_count));
			TRY(put_kv_setting(g, "nf_conntrack_max", ns->ct_max));
			TRY(yajl_gen_map_close(g));
			continue;
		}
		TRY(put_kv_int(g, "sockets", (long long)ns->totals.sockets));
		TRY(put_kv_int(g, "listeners", (long long)ns->totals.listeners));
		TRY(put_kv_int(g, "flows", (long long)ns->totals.flows));
		TRY(put_str(g, "states"));
		TRY(yajl_gen_map_open(g));
		for (unsigned int s = 1; s < HF_STATE_MAX; s++)
			if (s != HF_LISTEN)
				TRY(put_kv_int(g, hf_state_name(s),
					       (long long)ns->totals.states[s]));
		TRY(yajl_gen_map_close(g));
		TRY(yajl_gen_map_close(g));
	}
	TRY(yajl_gen_array_close(g));
	return 0;
}

int hf_json_summary(yajl_gen g, const struct hf_ctx *ctx, const struct hf_host *host)
{
	const struct hf_totals *t = hf_totals(ctx);
	int ret;

	TRY(yajl_gen_map_open(g));
	TRY(put_kv_str(g, "source", hf_source_name(hf_source(ctx))));
	TRY(put_kv_str(g, "backend", hf_backend_name(hf_backend(ctx))));
	if (hf_ct_info(ctx)) {
		const struct hf_ct_info *ci = hf_ct_info(ctx);
		TRY(put_kv_int(g, "entries", (long long)ci->entries));
		TRY(put_kv_int(g, "flows", (long long)t->flows));
		TRY(put_kv_setting(g, "nf_conntrack_count", ci->count));
		TRY(put_kv_setting(g, "nf_conntrack_max", ci->max));
		TRY(put_kv_setting(g, "nf_conntrack_acct", ci->acct));
		TRY(put_kv_int(g, "entries_without_counters", (long long)ci->entries_no_acct));
		TRY(put_kv_int(g, "destroy_events", (long long)ci->destroyed));
		TRY(put_kv_int(g, "destroy_events_lost", (long long)ci->lost));
		ret = put_netns_totals(g, ctx);
		if (ret)
			return ret;
		TRY(yajl_gen_map_close(g));
		return 0;
	}
	TRY(put_kv_int(g, "sockets", (long long)t->sockets));
	TRY(put_kv_int(g, "listeners", (long long)t->listeners));
	TRY(put_kv_int(g, "flows", (long long)t->flows));
	if (hf_backend(ctx) == HF_BACKEND_BPF) {
		struct hf_bpf_stats b;
		hf_bpf_stats(ctx, &b);
		TRY(put_str(g, "bpf"));
		TRY(yajl_gen_map_open(g));
		TRY(put_kv_int(g, "reconciles", (long long)b.reconciles));
		TRY(put_kv_int(g, "corrections", (long long)b.corrections));
		TRY(put_kv_int(g, "seed_corrections", (long long)b.seed_corrections));
		TRY(put_kv_int(g, "map_full", (long long)b.map_full));
		TRY(put_kv_int(g, "lost", (long long)b.lost));
		TRY(put_kv_int(g, "nested", (long long)b.rescued));
		TRY(put_kv_int(g, "requests_untraced", (long long)b.req_untraced));
		TRY(put_kv_int(g, "dumps_skipped", (long long)b.dumps_skipped));
		TRY(put_str(g, "timers"));
		TRY(yajl_gen_bool(g, b.timers));
		TRY(yajl_gen_map_close(g));
	}
	TRY(put_str(g, "states"));
	TRY(yajl_gen_map_open(g));
	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		if (s != HF_LISTEN)
			TRY(put_kv_int(g, hf_state_name(s), (long long)t->states[s]));
	TRY(yajl_gen_map_close(g));
	if (host) {
		TRY(put_str(g, "counters"));
		TRY(yajl_gen_map_open(g));
		for (unsigned int c = 0; c < HF_NETSTAT_MAX; c++)
			if (host->present & (1u << c))
				TRY(put_kv_int(g, hf_netstat_name(c),
					       (long long)host->counters[c]));
		TRY(yajl_gen_map_close(g));
		TRY(put_str(g, "settings"));
		TRY(yajl_gen_map_open(g));
		TRY(put_kv_setting(g, "net.core.somaxconn", host->somaxconn));
		TRY(put_kv_setting(g, "net.ipv4.tcp_max_syn_backlog", host->max_syn_backlog));
		TRY(put_kv_setting(g, "net.ipv4.tcp_syncookies", host->syncookies));
		TRY(yajl_gen_map_close(g));
	}
	ret = put_netns_totals(g, ctx);
	if (ret)
		return ret;
	TRY(yajl_gen_map_close(g));
	return 0;
}
