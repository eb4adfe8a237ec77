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
 * FLOW is hf_flow_id()'s identifier (plugin.h).
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
	hf_resolver_free(cd->resolver);
	hf_select_free(cd->flows);
	hf_select_free(cd->listeners);
	free(cd);
}

struct hf_cd *cd_new(void)
{
	struct hf_cd *cd = calloc(1, sizeof(*cd));

	if (cd)
		hf_options_init(&cd->opts, HF_AGENT_COLLECTD);
	return cd;
}

/* Log a failure once, and again only when its cause changes. Returns -1 for collectd. */
static int fail(struct hf_cd *cd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct hf_cd *cd, const char *fmt, ...)
{
	char msg[sizeof(cd->err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!cd->failing || strcmp(msg, cd->err) != 0)
		ERROR(PLUGIN_NAME " plugin: %s", msg);
	sstrncpy(cd->err, msg, sizeof(cd->err));
	cd->failing = true;
	return -1;
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

static int cd_read(user_data_t *ud)
{
	struct hf_cd *cd = ud->data;
	uint64_t now = now_us();
	int ret;

	cd->time = cdtime();
	if (cd->opts.resolve_names && !cd->resolver) {
		cd->resolver = hf_resolver_new(RESOLVE_TIMEOUT_MS);
		if (!cd->resolver)
			return fail(cd, "cannot start the name resolver: %s", STRERROR(errno));
	}
	if (!cd->ctx) {
		cd->ctx = hf_open(cd->opts.backend, "/proc");
		if (!cd->ctx)
			return fail(cd, "cannot open the %s collector: %s",
				    hf_backend_name(cd->opts.backend), STRERROR(errno));
	}
	ret = hf_collect(cd->ctx, &cd->opts.filter);
	if (ret < 0)
		return fail(cd, "collection failed: %s", hf_strerror(cd->ctx));
	if (cd->failing)
		INFO(PLUGIN_NAME " plugin: collecting again (the last failure was: %s)", cd->err);
	cd->failing = false;
	if (hf_backend(cd->ctx) != cd->used) {
		cd->used = hf_backend(cd->ctx);
		INFO(PLUGIN_NAME " plugin: reading the sockets through %s",
		     hf_backend_name(cd->used));
	}

	ret = cd_submit_flows(cd, now);
	resolver_log(cd);
	if (ret < 0)
		return fail(cd, "cannot select the flows: %s", STRERROR(-ret));
	cd_submit_totals(cd);
	if (cd->opts.report_listeners) {
		ret = cd_submit_listeners(cd, now);
		if (ret < 0)
			return fail(cd, "cannot select the listeners: %s", STRERROR(-ret));
		cd_submit_host(cd);
	}
	return 0;
}

int cd_register(struct hf_cd *cd)
{
	user_data_t ud = { .data = cd, .free_func = cd_free };
	int ret;

	cd->flows = hf_select_new(HF_SELECT_FLOWS, cd->opts.max_flows, cd->opts.hold_time);
	cd->listeners =
		hf_select_new(HF_SELECT_LISTENERS, cd->opts.max_listeners, cd->opts.hold_time);
	if (!cd->flows || !cd->listeners) {
		ERROR(PLUGIN_NAME " plugin: out of memory; not collecting");
		cd_free(cd);
		return -1;
	}
	for (unsigned int i = 0; i < cd->opts.n_pins; i++) {
		ret = hf_select_pin(cd->flows, &cd->opts.pins[i]);
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
