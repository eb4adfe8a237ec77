/*
 * collectd/hostflow.c - the collectd read plugin: LoadPlugin hostflow.
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
 * unregistered. The statics only carry it from config to init. The
 * collector (and its netlink socket) is opened by the first read and kept.
 */
#include "hostflow.h"
#include "plugin.h"

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PLUGIN_NAME "hostflow"
#define RESOLVE_TIMEOUT_MS 500

struct hf_cd {
	struct hf_options opts;
	struct hf_ctx *ctx;	      /* opened by the first read */
	struct hf_resolver *resolver; /* with ResolveNames */
	struct hf_select *flows;      /* the reported flows, stable across reads */
	struct hf_select *listeners;  /* the reported listeners */
	enum hf_backend used;	      /* backend of the last logged collection, AUTO before any */
	bool failing;
	char err[256]; /* the failure last logged */
	bool host_failing;
	cdtime_t time; /* of the read in progress: one time stamp per read */
};

/*
 * From the config callbacks to the init callback, and NULL and 0 after it:
 * the options of the <Plugin hostflow> blocks, and how many were refused.
 */
static struct hf_cd *pending;
static int config_errors;

static void cd_free(void *arg)
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

static struct hf_cd *cd_new(void)
{
	struct hf_cd *cd = calloc(1, sizeof(*cd));

	if (cd)
		hf_options_init(&cd->opts, HF_AGENT_COLLECTD);
	return cd;
}

/* ---- dispatch ------------------------------------------------------------------------- */

static void submit(const struct hf_cd *cd, const char *pi, const char *type, const char *ti,
		   value_t v)
{
	value_list_t vl = VALUE_LIST_INIT;

	vl.values = &v;
	vl.values_len = 1;
	vl.time = cd->time;
	sstrncpy(vl.plugin, PLUGIN_NAME, sizeof(vl.plugin));
	sstrncpy(vl.plugin_instance, pi, sizeof(vl.plugin_instance));
	sstrncpy(vl.type, type, sizeof(vl.type));
	sstrncpy(vl.type_instance, ti, sizeof(vl.type_instance));
	plugin_dispatch_values(&vl);
}

static void submit_gauge(const struct hf_cd *cd, const char *pi, const char *type, const char *ti,
			 double g)
{
	submit(cd, pi, type, ti, (value_t){ .gauge = g });
}

static void submit_flow(const struct hf_cd *cd, const char *id, const struct hf_flow *f)
{
	submit_gauge(cd, id, "tcp_connections", "total", f->conns);
	if (!cd->opts.report_states)
		return;
	/* Every state, zeros too, so that a state that empties reads 0 rather than going stale. */
	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		if (s != HF_LISTEN)
			submit_gauge(cd, id, "tcp_connections", hf_state_name(s), f->states[s]);
}

static int submit_flows(struct hf_cd *cd, uint64_t now)
{
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
	for (size_t i = 0; i < n; i++)
		submit_flow(cd, ser[i].id, &ser[i].flow);
	for (enum hf_dir d = HF_DIR_ACTIVE; d <= HF_DIR_PASSIVE; d++) {
		unsigned int folded;
		const struct hf_flow *other = hf_select_other(cd->flows, d, &folded);
		if (folded)
			submit_flow(cd, hf_other_id(d), other);
	}
	return 0;
}

static void submit_totals(const struct hf_cd *cd)
{
	const struct hf_totals *t = hf_totals(cd->ctx);

	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		submit_gauge(cd, "all", "tcp_connections", hf_state_name(s),
			     s == HF_LISTEN ? t->listeners : t->states[s]);
	submit_gauge(cd, "all", "count", "flows", t->flows);
}

static int submit_listeners(struct hf_cd *cd, uint64_t now)
{
	const struct hf_series *ser;
	const struct hf_listener *l;
	size_t n;
	int ret;

	l = hf_listeners(cd->ctx, &n);
	ret = hf_select_listeners(cd->listeners, l, n, &cd->opts.filter, now);
	if (ret < 0)
		return ret;
	ser = hf_select_series(cd->listeners, &n);
	for (size_t i = 0; i < n; i++) {
		const struct hf_listener *li = &ser[i].listener;
		double fill = hf_listener_fill(li);

		submit_gauge(cd, ser[i].id, "queue_length", "accept", li->accept_queue);
		/* A listener that is gone has no backlog: its zeros say it holds nothing. */
		if (li->backlog_known && !ser[i].ended)
			submit_gauge(cd, ser[i].id, "queue_length", "backlog", li->backlog);
		if (fill >= 0)
			submit_gauge(cd, ser[i].id, "percent", "fill", fill);
		submit_gauge(cd, ser[i].id, "tcp_connections", "SYN_RECV", li->syn_recv);
		submit_gauge(cd, ser[i].id, "tcp_connections", "ESTABLISHED", li->established);
	}
	return 0;
}

static void submit_host(struct hf_cd *cd)
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
			submit(cd, "all", "protocol_counter", hf_netstat_name(c),
			       (value_t){ .derive = (derive_t)h.counters[c] });
	if (h.somaxconn >= 0)
		submit_gauge(cd, "all", "gauge", "somaxconn", h.somaxconn);
	if (h.max_syn_backlog >= 0)
		submit_gauge(cd, "all", "gauge", "tcp_max_syn_backlog", h.max_syn_backlog);
	if (h.syncookies >= 0)
		submit_gauge(cd, "all", "gauge", "tcp_syncookies", h.syncookies);
}

/* ---- read ----------------------------------------------------------------------------- */

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

	ret = submit_flows(cd, now);
	resolver_log(cd);
	if (ret < 0)
		return fail(cd, "cannot select the flows: %s", STRERROR(-ret));
	submit_totals(cd);
	if (cd->opts.report_listeners) {
		ret = submit_listeners(cd, now);
		if (ret < 0)
			return fail(cd, "cannot select the listeners: %s", STRERROR(-ret));
		submit_host(cd);
	}
	return 0;
}

static int cd_register(struct hf_cd *cd)
{
	user_data_t ud = { .data = cd, .free_func = cd_free };
	int ret;

	cd->flows = hf_select_new(HF_SELECT_FLOWS, cd->opts.max_flows, cd->opts.hold_time);
	cd->listeners = hf_select_new(HF_SELECT_LISTENERS, cd->opts.max_listeners, cd->opts.hold_time);
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

/* ---- configuration -------------------------------------------------------------------- */

/* A config value as the text hf_options_set() parses. */
static int value_text(const oconfig_value_t *v, char *buf, size_t len)
{
	switch (v->type) {
	case OCONFIG_TYPE_STRING:
		snprintf(buf, len, "%s", v->value.string);
		return 0;
	case OCONFIG_TYPE_NUMBER:
		snprintf(buf, len, "%.15g", v->value.number);
		return 0;
	case OCONFIG_TYPE_BOOLEAN:
		snprintf(buf, len, "%s", v->value.boolean ? "true" : "false");
		return 0;
	}
	return -EINVAL;
}

static int config_option(struct hf_cd *cd, const oconfig_item_t *c)
{
	char value[256], err[512];
	int ret;

	if (c->children_num > 0) {
		ERROR(PLUGIN_NAME " plugin: <%s> is a block; options are \"Key value\" lines",
		      c->key);
		return -EINVAL;
	}
	if (c->values_num != 1) {
		ERROR(PLUGIN_NAME " plugin: option \"%s\" takes exactly one value (%d given)",
		      c->key, c->values_num);
		return -EINVAL;
	}
	if (value_text(&c->values[0], value, sizeof(value)) < 0) {
		ERROR(PLUGIN_NAME " plugin: option \"%s\": a value of unknown type", c->key);
		return -EINVAL;
	}
	ret = hf_options_set(&cd->opts, c->key, value, err, sizeof(err));
	if (ret == -ENOENT) {
		ERROR(PLUGIN_NAME " plugin: %s (with value \"%s\")", err, value);
		return ret;
	}
	if (ret < 0) {
		ERROR(PLUGIN_NAME " plugin: %s", err);
		return ret;
	}
	return 0;
}

/*
 * A <Plugin hostflow> block: its options are added to the pending ones
 * (several blocks add up; an option given twice is an error). Every error
 * is logged. The status is 0 even then: collectd 5.12 gives up on the
 * whole configuration when a plugin's config callback fails, and one
 * plugin's mistake must not stop the others. The init callback fails
 * instead, so "collectd -T" exits 1 on a bad option. (collectd 5.12's "-t"
 * exits before it reads the configuration: it cannot catch anything.)
 */
static int cd_config(oconfig_item_t *ci)
{
	int errors = 0;

	if (!pending)
		pending = cd_new();
	if (!pending) {
		ERROR(PLUGIN_NAME " plugin: out of memory; not collecting");
		config_errors++;
		return 0;
	}
	for (int i = 0; i < ci->children_num; i++)
		if (config_option(pending, &ci->children[i]) < 0)
			errors++;
	if (errors)
		ERROR(PLUGIN_NAME " plugin: %d error%s in <Plugin " PLUGIN_NAME ">; not collecting",
		      errors, errors == 1 ? "" : "s");
	config_errors += errors;
	return 0;
}

/*
 * After every config callback: register the read callback with the options
 * of the blocks, or the defaults when there was none. After an error, no
 * read callback: a failed init makes collectd say the plugin is unloaded.
 */
static int cd_init(void)
{
	struct hf_cd *cd = pending;
	int errors = config_errors;

	pending = NULL;
	config_errors = 0;
	if (errors) {
		cd_free(cd);
		return -1;
	}
	if (!cd)
		cd = cd_new();
	if (!cd) {
		ERROR(PLUGIN_NAME " plugin: out of memory; not collecting");
		return -1;
	}
	return cd_register(cd) == 0 ? 0 : -1;
}

void module_register(void)
{
	plugin_register_complex_config(PLUGIN_NAME, cd_config);
	plugin_register_init(PLUGIN_NAME, cd_init);
}
