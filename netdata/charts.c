/*
 * charts.c - hostflow.plugin's charts: which flows and listeners are
 * charted (hf_select), their dimensions and charts as they come and go,
 * and the plugins.d protocol lines of one tick.
 *
 * Only the keywords netdata 1.37 knows are written (CHART, CLABEL,
 * CLABEL_COMMIT, DIMENSION, BEGIN, SET, END, VARIABLE, DISABLE): 1.37 stops
 * a plugin at the first line it cannot parse, and later versions accept
 * all of these. Every line stays far below the 1024 bytes 1.37 reads at
 * once (a longer line would be cut and its tail taken for a keyword).
 *
 * History: a dimension that is no longer reported is declared 'obsolete'
 * after ObsoleteAfter, never 'hidden'. netdata (1.37 and later) frees an
 * obsolete dimension from memory but keeps its metric, with its data, in
 * the chart's context: queries over a window in which it has data
 * (/api/v1/data, the dashboard) include it, also after a restart, when it
 * is loaded from the metadata database as archived. 'hidden' is stored in
 * that metadata and leaves the metric out of every default query, which is
 * what made gone flows vanish from history. A flow that returns is
 * declared again without options, which clears obsolete.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nd.h"

int nd_init(struct nd *nd, FILE *out, const struct hf_options *opt, unsigned int every,
	    struct hf_resolver *resolver)
{
	memset(nd, 0, sizeof(*nd));
	nd->out = out;
	nd->opt = *opt;
	nd->every = every;
	nd->backend = HF_BACKEND_AUTO;
	nd->resolver = resolver;
	nd->flows[0] = (struct nd_flows){
		.id = "flows_active",
		.title = "TCP Connections per Active Flow",
		.context = "hostflow.flows_active",
		.priority = ND_PRIO_BASE,
	};
	nd->flows[1] = (struct nd_flows){
		.id = "flows_passive",
		.title = "TCP Connections per Passive Flow",
		.context = "hostflow.flows_passive",
		.priority = ND_PRIO_BASE + 1,
	};
	for (int i = 0; i < 3; i++)
		nd->vars[i] = -2;
	nd->sel_flows = hf_select_new(HF_SELECT_FLOWS, opt->max_flows, opt->hold_time);
	nd->sel_lst = hf_select_new(HF_SELECT_LISTENERS, opt->max_listeners, opt->hold_time);
	if (!nd->sel_flows || !nd->sel_lst)
		return -ENOMEM;
	for (unsigned int i = 0; i < opt->n_pins; i++) {
		int ret;

		if (opt->pin_ct[i])
			continue; /* nd_option_set refuses conntrack pins */
		ret = hf_select_pin(nd->sel_flows, &opt->pins[i]);
		/* The options refuse a pin given twice: -EEXIST cannot happen. */
		if (ret < 0 && ret != -EEXIST)
			return ret;
	}
	return 0;
}

void nd_free(struct nd *nd)
{
	free(nd->flows[0].dims);
	free(nd->flows[1].dims);
	free(nd->lst);
	hf_select_free(nd->sel_flows);
	hf_select_free(nd->sel_lst);
	hf_resolver_free(nd->resolver);
	memset(nd, 0, sizeof(*nd));
}

/* Binary search of a sorted array of structs whose first member is char id[]. */
static size_t find_slot(const void *base, size_t n, size_t size, const char *id, bool *found)
{
	size_t lo = 0, hi = n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp((const char *)base + mid * size, id);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Make room for one element at @at of a sorted array; returns 0 or -ENOMEM. */
static int insert_slot(void **base, size_t *n, size_t *cap, size_t size, size_t at)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		void *p = realloc(*base, ncap * size);
		if (!p)
			return -ENOMEM;
		*base = p;
		*cap = ncap;
	}
	memmove((char *)*base + (at + 1) * size, (char *)*base + at * size, (*n - at) * size);
	memset((char *)*base + at * size, 0, size);
	(*n)++;
	return 0;
}

/* Whether something last seen at @seen has been gone for ObsoleteAfter at @now. */
static bool nd_expired(const struct nd *nd, uint64_t seen, uint64_t now)
{
	/* Ticks are whole seconds apart only up to the jitter of reading two clocks. */
	return now + ND_USEC / 10 >= seen + (uint64_t)nd->opt.obsolete_after * ND_USEC;
}

/* ---- protocol output ------------------------------------------------------------------- */

static void put_chart(struct nd *nd, const char *id, const char *title, const char *units,
		      const char *family, const char *context, const char *type, int priority,
		      const char *options, const char *module)
{
	fprintf(nd->out,
		"CHART " ND_TYPE ".%s '' '%s' '%s' '%s' '%s' %s %d %u '%s' '" ND_PROG "' '%s'\n",
		id, title, units, family, context, type, priority, nd->every, options, module);
}

static void put_labels(struct nd *nd, const char *listener)
{
	fprintf(nd->out, "CLABEL 'backend' '%s' 1\n", hf_backend_name(nd->backend));
	if (listener)
		fprintf(nd->out, "CLABEL 'listener' '%s' 1\n", listener);
	fprintf(nd->out, "CLABEL_COMMIT\n");
}

static void put_begin(struct nd *nd, const char *id, uint64_t *last, uint64_t now)
{
	/* The time since the chart's last update lets netdata place points without drift. */
	if (*last && now > *last)
		fprintf(nd->out, "BEGIN " ND_TYPE ".%s %llu\n", id,
			(unsigned long long)(now - *last));
	else
		fprintf(nd->out, "BEGIN " ND_TYPE ".%s\n", id);
	*last = now;
}

static void put_set(struct nd *nd, const char *dim, unsigned long long v)
{
	fprintf(nd->out, "SET %s = %llu\n", dim, v);
}

/* ---- flows ----------------------------------------------------------------------------- */

static const char *name_of(int family, const union hf_addr *a, unsigned int plen, void *arg)
{
	return arg ? hf_resolve(arg, family, a, plen) : NULL;
}

/* Chart reported flow @f into @c at @now: a new dimension when its id is new. */
static int flows_add(struct nd *nd, struct nd_flows *c, const struct hf_flow *f, uint64_t now)
{
	char id[ND_ID_MAX], label[HF_LABEL_MAX];
	struct nd_dim *d;
	bool found;
	size_t at;

	nd_flow_id(f, id, sizeof(id));
	at = find_slot(c->dims, c->n, sizeof(*c->dims), id, &found);
	if (!found) {
		if (insert_slot((void **)&c->dims, &c->n, &c->cap, sizeof(*c->dims), at) < 0)
			return -ENOMEM;
		d = &c->dims[at];
		memcpy(d->id, id, sizeof(id));
		/* Named once: a later name, or one another flow gets, never renames it. */
		hf_flow_label(f, label, sizeof(label), name_of, nd->resolver);
		nd_word(label, d->name, sizeof(d->name));
		c->dirty = true;
	}
	d = &c->dims[at];
	d->seen = now;
	d->value = f->conns;
	return 0;
}

static int seen_cmp(const void *a, const void *b)
{
	const struct nd_dim *x = *(const struct nd_dim *const *)a;
	const struct nd_dim *y = *(const struct nd_dim *const *)b;

	return x->seen < y->seen ? 1 : x->seen > y->seen ? -1 : 0;
}

/*
 * Dimensions no longer reported read 0 until ObsoleteAfter; at most
 * hf_select_bound() of them wait, so a chart never holds more than twice
 * the bound of selected flows (plus pins and "other"), whatever the host
 * does: beyond it, those gone longest are made obsolete at once.
 */
static int flows_expire(struct nd *nd, struct nd_flows *c, uint64_t now)
{
	size_t bound = hf_select_bound(nd->sel_flows) / 2, m = 0;
	struct nd_dim **waiting;

	for (size_t i = 0; i < c->n; i++)
		if (c->dims[i].seen != now && nd_expired(nd, c->dims[i].seen, now)) {
			c->dims[i].gone = true;
			c->dirty = true;
		}
	waiting = malloc((c->n + 1) * sizeof(*waiting));
	if (!waiting)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		if (c->dims[i].seen != now && !c->dims[i].gone)
			waiting[m++] = &c->dims[i];
	if (m > bound) {
		qsort(waiting, m, sizeof(*waiting), seen_cmp);
		for (size_t k = bound; k < m; k++)
			waiting[k]->gone = true;
		c->dirty = true;
	}
	free(waiting);
	return 0;
}

static void flows_put(struct nd *nd, struct nd_flows *c, uint64_t now)
{
	size_t kept = 0;

	if (!c->declared || c->dirty) {
		put_chart(nd, c->id, c->title, "connections", "flows", c->context, "stacked",
			  c->priority, "", "flows");
		put_labels(nd, NULL);
		for (size_t i = 0; i < c->n; i++)
			fprintf(nd->out, "DIMENSION %s '%s' absolute 1 1%s\n", c->dims[i].id,
				c->dims[i].name, c->dims[i].gone ? " 'obsolete'" : "");
		fprintf(nd->out, "DIMENSION other 'other' absolute 1 1\n");
		c->declared = true;
		c->dirty = false;
	}
	for (size_t i = 0; i < c->n; i++) {
		if (c->dims[i].gone)
			continue;
		if (kept != i)
			c->dims[kept] = c->dims[i];
		kept++;
	}
	c->n = kept;
	put_begin(nd, c->id, &c->last_begin, now);
	for (size_t i = 0; i < c->n; i++)
		put_set(nd, c->dims[i].id, c->dims[i].seen == now ? c->dims[i].value : 0);
	put_set(nd, "other", c->other);
	fprintf(nd->out, "END\n");
}

static int flows_tick(struct nd *nd, struct hf_flow *flows, size_t n, uint64_t now)
{
	const struct hf_series *s;
	size_t ns;
	int ret;

	ret = hf_select_flows(nd->sel_flows, flows, n, now, nd->resolver ? name_of : NULL,
			      nd->resolver);
	if (ret < 0)
		return ret;
	s = hf_select_series(nd->sel_flows, &ns);
	for (size_t i = 0; i < ns; i++) {
		ret = flows_add(nd, &nd->flows[s[i].flow.dir == HF_DIR_PASSIVE], &s[i].flow, now);
		if (ret < 0)
			return ret;
	}
	for (int d = 0; d < 2; d++) {
		nd->flows[d].other =
			hf_select_other(nd->sel_flows, d ? HF_DIR_PASSIVE : HF_DIR_ACTIVE, NULL)
				->conns;
		ret = flows_expire(nd, &nd->flows[d], now);
		if (ret < 0)
			return ret;
		flows_put(nd, &nd->flows[d], now);
	}
	return 0;
}

/* ---- host totals ----------------------------------------------------------------------- */

/* The dimension id and name of state @s, in lower case; false for LISTEN and non-states. */
static bool state_id(unsigned int s, char *buf, size_t len)
{
	const char *name = hf_state_name(s);
	size_t i;

	if (s == HF_LISTEN || !name)
		return false;
	for (i = 0; name[i] && i + 1 < len; i++)
		buf[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	buf[i] = '\0';
	return true;
}

static void states_put(struct nd *nd, const struct hf_totals *t, uint64_t now)
{
	char id[32];

	if (!nd->states_declared) {
		put_chart(nd, "states", "TCP Sockets per State", "sockets", "states",
			  ND_TYPE ".states", "stacked", ND_PRIO_BASE + 2, "", "states");
		put_labels(nd, NULL);
		for (unsigned int s = 1; s < HF_STATE_MAX; s++)
			if (state_id(s, id, sizeof(id)))
				fprintf(nd->out, "DIMENSION %s '%s' absolute 1 1\n", id, id);
		nd->states_declared = true;
	}
	put_begin(nd, "states", &nd->states_begin, now);
	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		if (state_id(s, id, sizeof(id)))
			put_set(nd, id, t->states[s]);
	fprintf(nd->out, "END\n");
	/* Listening sockets are not connections: a line of their own, not a stacked state. */
	if (!nd->listeners_declared) {
		put_chart(nd, "listen", "TCP Listening Sockets", "sockets", "states",
			  ND_TYPE ".listen", "line", ND_PRIO_BASE + 3, "", "states");
		put_labels(nd, NULL);
		fprintf(nd->out, "DIMENSION listen 'listen' absolute 1 1\n");
		nd->listeners_declared = true;
	}
	put_begin(nd, "listen", &nd->listeners_begin, now);
	put_set(nd, "listen", t->listeners);
	fprintf(nd->out, "END\n");
}

/* ---- listeners ------------------------------------------------------------------------- */

static void lst_chart(struct nd *nd, const struct nd_lst *l, bool fill, const char *options)
{
	char id[ND_ID_MAX + 16], title[ND_LABEL_MAX + 64];

	snprintf(id, sizeof(id), "listener_%s%s", fill ? "fill_" : "", l->id);
	snprintf(title, sizeof(title),
		 fill ? "Listener Accept Queue Fill (%s)" : "Listener Queues (%s)", l->label);
	/*
	 * Loopback listeners (netdata's own 127.0.0.1:19999 and statsd :8125
	 * among them) chart their fill in a context of their own, which the
	 * stock alarm does not watch: a template "on" a context works in every
	 * netdata version, where "families" and "chart labels" do not.
	 */
	if (fill)
		put_chart(nd, id, title, "percentage",
			  l->loopback ? "loopback listeners" : "listeners",
			  l->loopback ? ND_TYPE ".loopback_listener_fill" :
					ND_TYPE ".listener_fill",
			  "line", ND_PRIO_BASE + 100, options, "listeners");
	else
		put_chart(nd, id, title, "connections", "listeners", ND_TYPE ".listener_queue",
			  "line", ND_PRIO_BASE + 101, options, "listeners");
}

static int lst_update(struct nd *nd, const struct hf_listener *hl, size_t nl, uint64_t now)
{
	const struct hf_series *s;
	size_t ns;
	int ret;

	ret = hf_select_listeners(nd->sel_lst, hl, nl, &nd->opt.filter, now);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < nd->nlst; i++)
		nd->lst[i].present = false;
	s = hf_select_series(nd->sel_lst, &ns);
	for (size_t i = 0; i < ns; i++) {
		const struct hf_listener *li = &s[i].listener;
		char id[ND_ID_MAX], label[HF_LABEL_MAX];
		struct nd_lst *l;
		bool found;
		size_t at;

		if (s[i].ended)
			continue; /* gone: no points rather than made-up ones */
		nd_listener_id(li, id, sizeof(id));
		at = find_slot(nd->lst, nd->nlst, sizeof(*nd->lst), id, &found);
		if (!found) {
			if (insert_slot((void **)&nd->lst, &nd->nlst, &nd->caplst, sizeof(*nd->lst),
					at) < 0)
				return -ENOMEM;
			l = &nd->lst[at];
			memcpy(l->id, id, sizeof(id));
			hf_endpoint_str(li->family, &li->addr, 0, li->port, NULL, label,
					sizeof(label));
			nd_word(label, l->label, sizeof(l->label));
			l->backlog_sent = -1;
			l->loopback = hf_addr_is_loopback(li->family, &li->addr);
		}
		l = &nd->lst[at];
		l->present = true;
		l->seen = now;
		l->accept_queue = li->accept_queue;
		l->backlog = li->backlog;
		l->syn_recv = li->syn_recv;
		l->backlog_known = li->backlog_known;
		l->fill = hf_listener_fill(li);
	}
	return 0;
}

static void lst_put_fill(struct nd *nd, struct nd_lst *l, uint64_t now)
{
	char id[ND_ID_MAX + 16];

	/*
	 * The /proc backend cannot know the backlog: no fill, so no alarm on a
	 * guess. A fill chart of the netlink backend is made obsolete when the
	 * plugin falls back to /proc, rather than left at its last value.
	 */
	if (l->fill < 0) {
		/* fill_begin: charted before, though a new backend may have cleared fill_declared. */
		if (l->fill_declared || l->fill_begin)
			lst_chart(nd, l, true, "obsolete");
		l->fill_declared = false;
		l->fill_begin = 0;
		return;
	}
	if (!l->fill_declared) {
		lst_chart(nd, l, true, "");
		put_labels(nd, l->label);
		fprintf(nd->out, "DIMENSION fill 'fill' absolute 1 100\n");
		l->fill_declared = true;
		l->backlog_sent = -1;
	}
	snprintf(id, sizeof(id), "listener_fill_%s", l->id);
	put_begin(nd, id, &l->fill_begin, now);
	/* Inside BEGIN/END the chart is the fill chart: the variable is its own. */
	if (l->backlog_sent != (int64_t)l->backlog) {
		fprintf(nd->out, "VARIABLE CHART backlog = %u\n", l->backlog);
		l->backlog_sent = l->backlog;
	}
	put_set(nd, "fill", (unsigned long long)(l->fill * 100 + 0.5));
	fprintf(nd->out, "END\n");
}

static void lst_put(struct nd *nd, uint64_t now)
{
	size_t kept = 0;

	for (size_t i = 0; i < nd->nlst; i++) {
		struct nd_lst *l = &nd->lst[i];
		char id[ND_ID_MAX + 16];

		if (!l->present && nd_expired(nd, l->seen, now)) {
			/* Gone for ObsoleteAfter: netdata hides the chart and deletes it later. */
			if (l->declared)
				lst_chart(nd, l, false, "obsolete");
			if (l->fill_declared)
				lst_chart(nd, l, true, "obsolete");
			continue;
		}
		if (kept != i)
			nd->lst[kept] = *l;
		l = &nd->lst[kept++];
		if (!l->present)
			continue; /* within ObsoleteAfter: no points rather than made-up ones */
		if (!l->declared) {
			lst_chart(nd, l, false, "");
			put_labels(nd, l->label);
			fprintf(nd->out, "DIMENSION accept_queue 'accept_queue' absolute 1 1\n");
			fprintf(nd->out, "DIMENSION syn_recv 'syn_recv' absolute 1 1\n");
			l->declared = true;
		}
		snprintf(id, sizeof(id), "listener_%s", l->id);
		put_begin(nd, id, &l->last_begin, now);
		put_set(nd, "accept_queue", l->accept_queue);
		put_set(nd, "syn_recv", l->syn_recv);
		fprintf(nd->out, "END\n");
		lst_put_fill(nd, l, now);
	}
	nd->nlst = kept;
}

static void vars_put(struct nd *nd, const struct hf_host *h)
{
	static const char *const var_names[3] = { "hostflow_somaxconn",
						  "hostflow_tcp_max_syn_backlog",
						  "hostflow_tcp_syncookies" };
	const int vals[3] = { h->somaxconn, h->max_syn_backlog, h->syncookies };

	for (int i = 0; i < 3; i++)
		if (vals[i] >= 0 && vals[i] != nd->vars[i]) {
			fprintf(nd->out, "VARIABLE HOST %s = %d\n", var_names[i], vals[i]);
			nd->vars[i] = vals[i];
		}
}

int nd_tick(struct nd *nd, uint64_t now, enum hf_backend backend, struct hf_flow *flows, size_t n,
	    const struct hf_listener *l, size_t nl, const struct hf_totals *t,
	    const struct hf_host *host)
{
	int ret;

	if (backend != nd->backend) {
		/* Labels name the backend: declare everything again with the new one. */
		nd->backend = backend;
		nd->flows[0].declared = nd->flows[1].declared = false;
		nd->states_declared = nd->listeners_declared = false;
		for (size_t i = 0; i < nd->nlst; i++)
			nd->lst[i].declared = nd->lst[i].fill_declared = false;
	}
	ret = flows_tick(nd, flows, n, now);
	if (ret < 0)
		return ret;
	states_put(nd, t, now);
	if (nd->opt.report_listeners) {
		ret = lst_update(nd, l, nl, now);
		if (ret < 0)
			return ret;
		lst_put(nd, now);
		if (host)
			vars_put(nd, host);
	}
	return 0;
}
