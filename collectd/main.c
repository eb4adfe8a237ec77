/*
 * collectd/main.c - the collectd read plugin: LoadPlugin hostflow.
 *
 * Each read dispatches, with plugin "hostflow" and only types of the stock
 * types.db (collectd-hostflow(5) has the full list):
 *   hostflow-FLOW/tcp_connections-total (and -STATE with ReportStates)
 *       for the MaxFlows largest flows of each direction, and
 *       passive-other / active-other when smaller flows were folded;
 *   hostflow-all/tcp_connections-STATE   host totals, every state;
 *   hostflow-all/count-flows             flows before MaxFlows;
 *   with ReportListeners (the default):
 *   hostflow-listen-ADDR:PORT/queue_length-accept, queue_length-backlog,
 *       tcp_connections-SYN_RECV, tcp_connections-ESTABLISHED;
 *   hostflow-all/protocol_counter-ListenOverflows (and the other TcpExt
 *       counters), gauge-somaxconn, gauge-tcp_max_syn_backlog,
 *       gauge-tcp_syncookies.
 * FLOW is hf_flow_id()'s identifier (plugin.h). With Source conntrack,
 * conntrack.c's values ("ct-..."); with Namespaces, each namespace's
 * values under its own collectd host (netns.c).
 *
 * Ownership: the config callback builds one struct hf_cd from the
 * <Plugin hostflow> blocks (the init callback, from the defaults when there
 * is none); the init callback hands it to collectd as the read callback's
 * user_data, and collectd frees it with cd_free() when the callback is
 * unregistered. Statics in config.c only carry it from config to init. The
 * collector (and its netlink socket) is opened by the first read and kept.
 */
#include "cd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cd_free(void *arg)
{
	struct hf_cd *cd = arg;

	if (!cd)
		return;
	hf_close(cd->ctx);
	hf_close(cd->ct);
	hf_resolver_free(cd->resolver);
	hf_select_free(cd->flows);
	hf_select_free(cd->listeners);
	hf_select_free(cd->ct_flows);
	cd_ns_free(&cd->ns);
	cd_ns_free(&cd->ct_ns);
	free(cd);
}

struct hf_cd *cd_new(void)
{
	struct hf_cd *cd = calloc(1, sizeof(*cd));

	if (cd)
		hf_options_init(&cd->opts, HF_AGENT_COLLECTD);
	return cd;
}

int cd_failed(struct cd_fail *f, const char *fmt, ...)
{
	char msg[sizeof(f->err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!f->failing || strcmp(msg, f->err) != 0)
		ERROR(PLUGIN_NAME " plugin: %s", msg);
	sstrncpy(f->err, msg, sizeof(f->err));
	f->failing = true;
	return -1;
}

void cd_recovered(struct cd_fail *f, const char *what)
{
	if (f->failing)
		INFO(PLUGIN_NAME " plugin: %scollecting again (the last failure was: %s)", what,
		     f->err);
	f->failing = false;
}

/* Monotonic microseconds, for the hold times: a wall clock step must not end them. */
static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Say what the resolver has to say, once each. */
static void resolver_log(struct hf_cd *cd)
{
	const char *news;

	while (cd->resolver && (news = hf_resolver_news(cd->resolver)))
		WARNING(PLUGIN_NAME " plugin: ResolveNames: %s", news);
}

/* The sockets collector, with the namespaces of Namespaces. */
static int sockets_open(struct hf_cd *cd)
{
	/* A plugin is long-lived: Backend auto tries the bpf backend first. */
	cd->ctx = hf_open_with(&(struct hf_open_opts){
		.backend = cd->opts.backend, .proc_root = "/proc", .follow = true });
	if (!cd->ctx)
		return cd_failed(&cd->fail, "cannot open the %s collector: %s",
				 hf_backend_name(cd->opts.backend), STRERROR(errno));
	if (hf_open_note(cd->ctx)[0])
		INFO(PLUGIN_NAME " plugin: %s", hf_open_note(cd->ctx));
	/* The bpf backend's counts are brought back to a snapshot every minute (HF_PLUGIN_RECONCILE). */
	if (hf_backend(cd->ctx) == HF_BACKEND_BPF)
		hf_set_reconcile(cd->ctx, HF_PLUGIN_RECONCILE);
	for (unsigned int i = 0; i < cd->opts.n_netns; i++) {
		int ret = hf_netns_select(cd->ctx, cd->opts.netns[i]);
		if (ret < 0) {
			cd_failed(&cd->fail, "Namespaces \"%s\": %s", cd->opts.netns[i],
				  ret == -EOPNOTSUPP ? hf_strerror(cd->ctx) : STRERROR(-ret));
			hf_close(cd->ctx);
			cd->ctx = NULL;
			return -1;
		}
	}
	return 0;
}

/* What the core has to say once: no privilege for other namespaces, one not found. */
void cd_notices_log(const struct hf_ctx *ctx)
{
	for (const char *p = hf_notice(ctx), *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		WARNING(PLUGIN_NAME " plugin: %.*s", (int)(nl - p), p);
	}
}

static int sockets_read(struct hf_cd *cd, uint64_t now)
{
	int ret;

	if (!cd->ctx && sockets_open(cd) < 0)
		return -1;
	ret = hf_collect(cd->ctx, &cd->opts.filter);
	if (ret < 0)
		return cd_failed(&cd->fail, "collection failed: %s", hf_strerror(cd->ctx));
	cd_recovered(&cd->fail, "");
	cd_notices_log(cd->ctx);
	if (hf_backend(cd->ctx) != cd->used) {
		struct hf_bpf_stats b;

		cd->used = hf_backend(cd->ctx);
		hf_bpf_stats(cd->ctx, &b);
		INFO(PLUGIN_NAME " plugin: reading the sockets through %s%s",
		     hf_backend_name(cd->used),
		     cd->used != HF_BACKEND_BPF ? "" :
		     b.timers ? " (time-wait and request sockets followed by their timers)" :
				" (time-wait and request sockets dumped at each read)");
	}
	if (cd->used == HF_BACKEND_BPF) {
		struct hf_bpf_stats b;
		hf_bpf_stats(cd->ctx, &b);
		/* 0 expected: each is a flow whose counts drifted from a netlink snapshot. */
		if (b.corrections != cd->bpf_corrections)
			WARNING(PLUGIN_NAME " plugin: bpf backend: the reconcile corrected %llu "
					    "flows so far (%llu reconciles)",
				(unsigned long long)b.corrections,
				(unsigned long long)b.reconciles);
		cd->bpf_corrections = b.corrections;
	}
	if (hf_netns_selected(cd->ctx) && cd_ns_update(&cd->ns, cd->ctx) < 0)
		return cd_failed(&cd->fail, "Namespaces: %s", STRERROR(ENOMEM));

	ret = cd_submit_flows(cd, now);
	resolver_log(cd);
	if (ret < 0)
		return cd_failed(&cd->fail, "cannot select the flows: %s", STRERROR(-ret));
	cd_submit_totals(cd);
	if (cd->opts.report_listeners) {
		ret = cd_submit_listeners(cd, now);
		if (ret < 0)
			return cd_failed(&cd->fail, "cannot select the listeners: %s",
					 STRERROR(-ret));
		cd_submit_host(cd);
	}
	return 0;
}

/*
 * One read of each source. A source that fails is logged (once per cause)
 * and the others go on; collectd hears of a failure (and reads less
 * often) only when no source could be read.
 */
static int cd_read(user_data_t *ud)
{
	struct hf_cd *cd = ud->data;
	uint64_t now = now_us();
	int done = 0;

	cd->time = cdtime();
	if (cd->opts.resolve_names && !cd->resolver) {
		cd->resolver = hf_resolver_new(RESOLVE_TIMEOUT_MS);
		if (!cd->resolver)
			return cd_failed(&cd->fail, "cannot start the name resolver: %s",
					 STRERROR(errno));
	}
	if ((cd->opts.sources & HF_SOURCES_SOCKETS) && sockets_read(cd, now) == 0)
		done++;
	if ((cd->opts.sources & HF_SOURCES_CONNTRACK) && cd_ct_read(cd, now) == 0)
		done++;
	return done ? 0 : -1;
}

int cd_register(struct hf_cd *cd)
{
	user_data_t ud = { .data = cd, .free_func = cd_free };
	int ret;

	cd->flows = hf_select_new(HF_SELECT_FLOWS, cd->opts.max_flows, cd->opts.hold_time);
	cd->listeners =
		hf_select_new(HF_SELECT_LISTENERS, cd->opts.max_listeners, cd->opts.hold_time);
	cd->ct_flows = hf_select_new(HF_SELECT_CONNTRACK, cd->opts.max_flows, cd->opts.hold_time);
	if (!cd->flows || !cd->listeners || !cd->ct_flows) {
		ERROR(PLUGIN_NAME " plugin: out of memory; not collecting");
		cd_free(cd);
		return -1;
	}
	for (unsigned int i = 0; i < cd->opts.n_pins; i++) {
		/* A "ct-..." pin is a flow of the conntrack source. */
		bool ct = cd->opts.pin_ct[i];
		if (ct && !(cd->opts.sources & HF_SOURCES_CONNTRACK))
			WARNING(PLUGIN_NAME " plugin: Pin: a conntrack flow (\"ct-...\") without "
					    "Source conntrack is never reported");
		ret = hf_select_pin(ct ? cd->ct_flows : cd->flows, &cd->opts.pins[i]);
		if (ret < 0) {
			ERROR(PLUGIN_NAME " plugin: Pin: %s", STRERROR(-ret));
			cd_free(cd);
			return -1;
		}
	}

	/* Interval 0: the <LoadPlugin hostflow> block's, else the global one. */
	ret = plugin_register_complex_read(NULL, PLUGIN_NAME, cd_read, 0, &ud);
	if (ret != 0) {
		ERROR(PLUGIN_NAME " plugin: cannot register the read callback (status %d)", ret);
		cd_free(cd);
	}
	return ret;
}

void module_register(void)
{
	plugin_register_complex_config(PLUGIN_NAME, cd_config);
	plugin_register_init(PLUGIN_NAME, cd_init);
}
