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

#define PLUGIN_NAME "hostflow"
#define RESOLVE_TIMEOUT_MS 500

struct hf_cd {
	struct hf_options opts;
	struct hf_ctx *ctx;	      /* opened by the first read */
	struct hf_resolver *resolver; /* with ResolveNames */
	char (*ids)[HF_ID_MAX];	      /* identifiers of the reported flows */
	size_t ids_cap;
	enum hf_backend used; /* backend of the last logged collection, AUTO before any */
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
	free(cd->ids);
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

static int submit_flows(struct hf_cd *cd)
{
	struct hf_report r;
	struct hf_flow *flows;
	size_t n;
	int ret;

	flows = hf_flows(cd->ctx, &n);
	hf_report_select(flows, n, cd->opts.max_flows, &r);
	if (r.n > cd->ids_cap) {
		void *ids = realloc(cd->ids, r.n * sizeof(*cd->ids));
		if (!ids)
			return -ENOMEM;
		cd->ids = ids;
		cd->ids_cap = r.n;
	}
	ret = hf_flow_ids(r.flows, r.n, cd->ids, cd->resolver ? hf_resolve_cb : NULL, cd->resolver);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < r.n; i++)
		submit_flow(cd, cd->ids[i], &r.flows[i]);
	for (int d = 0; d < 2; d++)
		if (r.folded[d])
			submit_flow(cd, hf_other_id(r.other[d].dir), &r.other[d]);
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

static void submit_listeners(const struct hf_cd *cd)
{
	char id[HF_ID_MAX];
	size_t n;
	const struct hf_listener *l = hf_listeners(cd->ctx, &n);

	for (size_t i = 0; i < n; i++) {
		if (hf_listener_id(&l[i], id, sizeof(id)) < 0)
			continue; /* cannot happen: an address and a port always fit */
		submit_gauge(cd, id, "queue_length", "accept", l[i].accept_queue);
		if (l[i].backlog_known)
			submit_gauge(cd, id, "queue_length", "backlog", l[i].backlog);
		submit_gauge(cd, id, "tcp_connections", "SYN_RECV", l[i].syn_recv);
		submit_gauge(cd, id, "tcp_connections", "ESTABLISHED", l[i].established);
	}
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

static int cd_read(user_data_t *ud)
{
	struct hf_cd *cd = ud->data;
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

	ret = submit_flows(cd);
	if (ret < 0)
		return fail(cd, "cannot name the flows: %s", STRERROR(-ret));
	submit_totals(cd);
	if (cd->opts.report_listeners) {
		submit_listeners(cd);
		submit_host(cd);
	}
	return 0;
}

static int cd_register(struct hf_cd *cd)
{
	user_data_t ud = { .data = cd, .free_func = cd_free };
	int ret;

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
 * plugin's mistake must not stop the others.
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
