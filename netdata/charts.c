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
#include <stdio.h>
#include <string.h>

#include "nd.h"

/* The charts of flows: id (and context after "hostflow."), title, priority, traffic. */
static const struct {
	const char *id, *title;
	int prio;
	bool traffic;
	int counter;
} chart_kinds[ND_CHARTS] = {
	[ND_C_ACTIVE] = { "flows_active", "TCP Connections per Active Flow", 0, false },
	[ND_C_PASSIVE] = { "flows_passive", "TCP Connections per Passive Flow", 1, false },
	[ND_C_CT_ACTIVE] = { "ct_flows_active", "Conntrack Connections per Active Flow", 10,
			     false },
	[ND_C_CT_PASSIVE] = { "ct_flows_passive", "Conntrack Connections per Passive Flow", 11,
			      false },
	[ND_C_CT_FORWARDED] = { "ct_flows_forwarded", "Conntrack Connections per Forwarded Flow",
				12, false },
	[ND_C_TR_ACTIVE] = { "ct_traffic_active", "Conntrack Traffic per Active Flow", 13, true },
	[ND_C_TR_PASSIVE] = { "ct_traffic_passive", "Conntrack Traffic per Passive Flow", 14,
			      true },
	[ND_C_TR_FORWARDED] = { "ct_traffic_forwarded", "Conntrack Traffic per Forwarded Flow", 15,
				true },
	[ND_C_OPENED_ACTIVE] = { "flows_active_opened", "TCP Connections Opened per Active Flow", 4,
				 false, 0 },
	[ND_C_OPENED_PASSIVE] = { "flows_passive_opened", "TCP Connections Opened per Passive Flow",
				  5, false, 0 },
	[ND_C_CLOSED_ACTIVE] = { "flows_active_closed", "TCP Connections Closed per Active Flow", 6,
				 false, 1 },
	[ND_C_CLOSED_PASSIVE] = { "flows_passive_closed", "TCP Connections Closed per Passive Flow",
				  7, false, 1 },
	[ND_C_FAILED_ACTIVE] = { "flows_active_failed", "TCP Connections Failed per Active Flow", 8,
				 false, 2 },
	[ND_C_FAILED_PASSIVE] = { "flows_passive_failed", "TCP Connections Failed per Passive Flow",
				  9, false, 2 },
};

/* Contexts are "hostflow." + the kind's: the same in every namespace, so alarms apply to all. */
static const char *const contexts[ND_CHARTS] = {
	ND_TYPE ".flows_active",	ND_TYPE ".flows_passive",
	ND_TYPE ".ct_flows_active",	ND_TYPE ".ct_flows_passive",
	ND_TYPE ".ct_flows_forwarded",	ND_TYPE ".ct_traffic_active",
	ND_TYPE ".ct_traffic_passive",	ND_TYPE ".ct_traffic_forwarded",
	ND_TYPE ".flows_active_opened", ND_TYPE ".flows_passive_opened",
	ND_TYPE ".flows_active_closed", ND_TYPE ".flows_passive_closed",
	ND_TYPE ".flows_active_failed", ND_TYPE ".flows_passive_failed",
};

static void ns_charts_init(struct nd_ns *ns)
{
	for (int k = 0; k < ND_CHARTS; k++) {
		struct nd_flows *c = &ns->flows[k];

		memset(c, 0, sizeof(*c));
		snprintf(c->id, sizeof(c->id), "%s%s", chart_kinds[k].id, ns->part);
		c->title = chart_kinds[k].title;
		c->context = contexts[k];
		c->priority = ND_PRIO_BASE + chart_kinds[k].prio;
		c->traffic = chart_kinds[k].traffic;
		c->counter = k >= ND_C_OPENED_ACTIVE ? chart_kinds[k].counter : -1;
	}
}

static void ns_free(struct nd_ns *ns)
{
	for (int k = 0; k < ND_CHARTS; k++)
		free(ns->flows[k].dims);
}

int nd_init(struct nd *nd, FILE *out, const struct hf_options *opt, unsigned int every,
	    struct hf_resolver *resolver)
{
	memset(nd, 0, sizeof(*nd));
	nd->out = out;
	nd->opt = *opt;
	nd->every = every;
	nd->backend = HF_BACKEND_AUTO;
	nd->resolver = resolver;
	nd->netns = opt->n_netns > 0;
	for (int i = 0; i < 3; i++)
		nd->vars[i] = -2;
	/* ns[0]: the plugin's own namespace, always there, with the chart ids of old. */
	nd->ns = calloc(1, sizeof(*nd->ns));
	if (!nd->ns)
		return -ENOMEM;
	nd->nns = nd->capns = 1;
	nd->ns[0].in[0] = nd->ns[0].in[1] = !nd->netns;
	nd->ns[0].ct_count = nd->ns[0].ct_max = -1;
	ns_charts_init(&nd->ns[0]);
	nd->sel_flows = hf_select_new(HF_SELECT_FLOWS, opt->max_flows, opt->hold_time);
	nd->sel_lst = hf_select_new(HF_SELECT_LISTENERS, opt->max_listeners, opt->hold_time);
	nd->sel_ct = hf_select_new(HF_SELECT_CONNTRACK, opt->max_flows, opt->hold_time);
	if (!nd->sel_flows || !nd->sel_lst || !nd->sel_ct)
		return -ENOMEM;
	for (unsigned int i = 0; i < opt->n_pins; i++) {
		int ret = hf_select_pin(opt->pin_ct[i] ? nd->sel_ct : nd->sel_flows, &opt->pins[i]);
		/* The options refuse a pin given twice: -EEXIST cannot happen. */
		if (ret < 0 && ret != -EEXIST)
			return ret;
	}
	return 0;
}

void nd_free(struct nd *nd)
{
	for (size_t i = 0; i < nd->nns; i++)
		ns_free(&nd->ns[i]);
	free(nd->ns);
	free(nd->lst);
	hf_select_free(nd->sel_flows);
	hf_select_free(nd->sel_lst);
	hf_select_free(nd->sel_ct);
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

/* ---- namespaces ------------------------------------------------------------------------ */

/* The namespace of id @id in the collector of @src, or NULL. */
static struct nd_ns *ns_of(struct nd *nd, int src, uint32_t id)
{
	for (size_t i = 0; i < nd->nns; i++)
		if (nd->ns[i].in[src] && nd->ns[i].id[src] == id)
			return &nd->ns[i];
	return NULL;
}

static struct nd_ns *ns_by_key(struct nd *nd, uint64_t key)
{
	for (size_t i = 0; i < nd->nns; i++)
		if (nd->ns[i].key == key)
			return &nd->ns[i];
	return NULL;
}

int nd_ns_update(struct nd *nd, enum hf_source source, const struct nd_nsview *v, size_t n,
		 uint64_t now)
{
	int src = source == HF_SOURCE_CONNTRACK;

	for (size_t i = 0; i < nd->nns; i++)
		nd->ns[i].in[src] = false;
	for (size_t i = 0; i < n; i++) {
		/* Id 0 is the plugin's own namespace in both collectors: the chart ids of old. */
		uint64_t key = v[i].id == 0 ? 0 : v[i].inode ? v[i].inode : UINT64_MAX - v[i].id;
		struct nd_ns *ns = ns_by_key(nd, key);

		if (!ns) {
			if (nd->nns == nd->capns) {
				size_t cap = 2 * nd->capns;
				struct nd_ns *p = realloc(nd->ns, cap * sizeof(*p));
				if (!p)
					return -ENOMEM;
				nd->ns = p;
				nd->capns = cap;
			}
			ns = &nd->ns[nd->nns++];
			memset(ns, 0, sizeof(*ns));
			ns->key = key;
			nd_ns_part(v[i].name, ns->part, sizeof(ns->part));
			ns->ct_count = ns->ct_max = -1;
			ns_charts_init(ns);
		}
		/* Named when first seen; a namespace keeps its charts while it lives. */
		if (!ns->name[0])
			nd_word(v[i].name, ns->name, sizeof(ns->name));
		ns->id[src] = v[i].id;
		ns->in[src] = true;
		ns->seen = now;
		if (src) {
			ns->ct_count = v[i].ct_count;
			ns->ct_max = v[i].ct_max;
		} else if (v[i].totals) {
			ns->totals = *v[i].totals;
			ns->totals_known = true;
		}
	}
	return 0;
}

/* ---- protocol output ------------------------------------------------------------------- */

static void put_chart(struct nd *nd, const char *id, const char *title, const struct nd_ns *ns,
		      const char *units, const char *family, const char *context, const char *type,
		      int priority, const char *options, const char *module)
{
	/* Another namespace's title names it: the dashboard shows titles, not labels. */
	fprintf(nd->out,
		"CHART " ND_TYPE ".%s '' '%s%s%s%s' '%s' '%s' '%s' %s %d %u '%s' '" ND_PROG
		"' '%s'\n",
		id, title, ns && ns->part[0] ? " (netns " : "", ns && ns->part[0] ? ns->name : "",
		ns && ns->part[0] ? ")" : "", units, family, context, type, priority, nd->every,
		options, module);
}

static void put_labels(struct nd *nd, const struct nd_ns *ns, const char *listener)
{
	fprintf(nd->out, "CLABEL 'backend' '%s' 1\n", hf_backend_name(nd->backend));
	if (nd->netns && ns)
		fprintf(nd->out, "CLABEL 'netns' '%s' 1\n", ns->name[0] ? ns->name : "self");
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

/* The CHART line of a flows chart. */
static void flows_chart(struct nd *nd, const struct nd_ns *ns, const struct nd_flows *c,
			const char *options)
{
	const char *units = c->traffic	    ? "kilobits/s" :
			    c->counter >= 0 ? "connections/s" :
					      "connections";
	const char *family = c->traffic ? "traffic" : "flows";

	put_chart(nd, c->id, c->title, ns, units, family, c->context,
		  c->traffic ? "area" : "stacked", c->priority, options, family);
}

/* A flows chart's DIMENSION line for flow @id named @name (not traffic). */
static void flows_dim(struct nd *nd, const struct nd_flows *c, const char *id, const char *name,
		      const char *options)
{
	fprintf(nd->out, "DIMENSION %s '%s' %s 1 1%s\n", id, name,
		c->counter >= 0 ? "incremental" : "absolute", options);
}

/* What a counter chart counts of @f: its series' opened, closed or failed total. */
static uint64_t flow_counter(const struct nd_flows *c, const struct hf_flow *f)
{
	return c->counter == 0 ? f->opened : c->counter == 1 ? f->closed : f->failed;
}

static const char *name_of(int family, const union hf_addr *a, unsigned int plen, void *arg)
{
	return arg ? hf_resolve(arg, family, a, plen) : NULL;
}

/* Add to @v, a monotonic count as written, what counter @raw did since @last. */
static void mono_add(uint64_t *v, uint64_t *last, uint64_t raw)
{
	/* A counter that went back restarted (the flow came back): all of it is new. */
	*v += raw >= *last ? raw - *last : raw;
	*last = raw;
}

/* Chart reported series @s into @c at @now: a new dimension when its id is new. */
static int flows_add(struct nd *nd, struct nd_flows *c, const struct hf_series *s, bool ct,
		     bool create, uint64_t now)
{
	const struct hf_flow *f = &s->flow;
	char id[ND_ID_MAX], label[HF_LABEL_MAX];
	struct nd_dim *d;
	bool found;
	size_t at;

	if (ct)
		nd_ct_flow_id(f, id, sizeof(id));
	else
		nd_flow_id(f, id, sizeof(id));
	at = find_slot(c->dims, c->n, sizeof(*c->dims), id, &found);
	if (!found && !create)
		return 0;
	if (!found) {
		if (insert_slot((void **)&c->dims, &c->n, &c->cap, sizeof(*c->dims), at) < 0)
			return -ENOMEM;
		d = &c->dims[at];
		memcpy(d->id, id, sizeof(id));
		/* Named once: a later name, or one another flow gets, never renames it. */
		hf_flow_label(f, label, sizeof(label), name_of, nd->resolver);
		if (ct) {
			const char *p = hf_proto_name(f->proto);
			char pl[HF_LABEL_MAX + 16];
			if (p)
				snprintf(pl, sizeof(pl), "%s %s", p, label);
			else
				snprintf(pl, sizeof(pl), "proto %u %s", f->proto, label);
			nd_word(pl, d->name, sizeof(d->name) - 8);
		} else {
			nd_word(label, d->name, sizeof(d->name));
		}
		/* Counted from its counters at the last update; hf_select gives them. */
		d->raw_in = c->counter >= 0 ? 0 : s->before[1];
		d->raw_out = s->before[0];
		c->dirty = true;
	}
	d = &c->dims[at];
	d->seen = now;
	d->value = f->conns;
	/*
	 * hf_select's totals never go back within a series; one reported anew
	 * starts at 0 or at its kept totals, and mono_add adds on from either.
	 */
	if (c->counter >= 0)
		mono_add(&d->in, &d->raw_in, flow_counter(c, f));
	/* Ended or pinned and idle: zeros, not counters; the last ones stand. */
	if (c->traffic && s->present && !s->ended) {
		mono_add(&d->in, &d->raw_in, f->ct.bytes_received);
		mono_add(&d->out, &d->raw_out, f->ct.bytes_sent);
	}
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
static int flows_expire(struct nd *nd, struct hf_select *sel, struct nd_flows *c, uint64_t now)
{
	size_t bound = hf_select_bound(sel) / 2, m = 0;
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

/* The DIMENSION lines of a traffic chart's flow: received up, sent down, as netdata's net charts. */
static void traffic_dims(struct nd *nd, const char *id, const char *name, const char *options)
{
	fprintf(nd->out, "DIMENSION %s_in '%s in' incremental 8 1000%s\n", id, name, options);
	fprintf(nd->out, "DIMENSION %s_out '%s out' incremental -8 1000%s\n", id, name, options);
}

static void flows_put(struct nd *nd, struct nd_ns *ns, struct nd_flows *c, uint64_t now)
{
	size_t kept = 0;
	char dim[ND_ID_MAX + 8];

	/* Another namespace's chart waits for its first flow: "other" is the own one's. */
	if (ns != &nd->ns[0] && !c->declared && c->n == 0)
		return;
	/* Accounting off: no traffic chart until some flow has counters. */
	if (c->traffic && !c->declared && !c->other_traffic) {
		bool any = false;
		for (size_t i = 0; i < c->n; i++)
			any = any || !c->dims[i].gone;
		if (!any) {
			c->n = 0;
			return;
		}
	}
	if (!c->declared || c->dirty) {
		flows_chart(nd, ns, c, "");
		put_labels(nd, ns, NULL);
		for (size_t i = 0; i < c->n; i++) {
			const char *o = c->dims[i].gone ? " 'obsolete'" : "";
			if (c->traffic)
				traffic_dims(nd, c->dims[i].id, c->dims[i].name, o);
			else
				flows_dim(nd, c, c->dims[i].id, c->dims[i].name, o);
		}
		if (c->traffic)
			traffic_dims(nd, "other", "other", "");
		else
			flows_dim(nd, c, "other", "other", "");
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
	for (size_t i = 0; i < c->n; i++) {
		const struct nd_dim *d = &c->dims[i];
		/* A counter not reported keeps its last total: a rate of 0. */
		if (c->counter >= 0) {
			put_set(nd, d->id, d->in);
			continue;
		}
		if (!c->traffic) {
			put_set(nd, d->id, d->seen == now ? d->value : 0);
			continue;
		}
		snprintf(dim, sizeof(dim), "%s_in", d->id);
		put_set(nd, dim, d->in);
		snprintf(dim, sizeof(dim), "%s_out", d->id);
		put_set(nd, dim, d->out);
	}
	if (c->traffic) {
		put_set(nd, "other_in", c->other_in);
		put_set(nd, "other_out", c->other_out);
	} else if (c->counter >= 0) {
		put_set(nd, "other", c->other_in);
	} else {
		put_set(nd, "other", c->other);
	}
	fprintf(nd->out, "END\n");
}

/* The namespace a series is charted in: the own one without Namespaces; NULL when gone. */
static struct nd_ns *series_ns(struct nd *nd, int src, const struct hf_flow *f)
{
	if (!nd->netns)
		return &nd->ns[0];
	return ns_of(nd, src, f->netns);
}

/*
 * Charts @sel's series of one source: @k0 is the first chart kind of the
 * source (its directions follow), @tr that of its traffic (-1: none).
 * "other" is the host's, in the plugin's own namespace's charts.
 */
static int flows_tick(struct nd *nd, struct hf_select *sel, int src, int k0, int ndirs, int tr,
		      struct hf_flow *flows, size_t n, uint64_t now)
{
	/* The bpf backend's counters: sockets flows, one chart per counter and direction. */
	bool counting = src == 0 && nd->backend == HF_BACKEND_BPF;
	const struct hf_series *s;
	size_t ns_n;
	int ret;

	ret = hf_select_flows(sel, flows, n, now, nd->resolver ? name_of : NULL, nd->resolver);
	if (ret < 0)
		return ret;
	s = hf_select_series(sel, &ns_n);
	for (size_t i = 0; i < ns_n; i++) {
		const struct hf_flow *f = &s[i].flow;
		struct nd_ns *ns = series_ns(nd, src, f);
		int d = f->dir == HF_DIR_PASSIVE ? 1 : f->dir == HF_DIR_FORWARDED ? 2 : 0;

		if (!ns || d >= ndirs)
			continue;
		ret = flows_add(nd, &ns->flows[k0 + d], &s[i], src, true, now);
		/* Accounting off: no traffic dimension; one that has counters keeps them. */
		if (ret == 0 && tr >= 0)
			ret = flows_add(nd, &ns->flows[tr + d], &s[i], src, f->ct.traffic_known,
					now);
		for (int k = 0; ret == 0 && counting && k < HF_COUNTS; k++)
			ret = flows_add(nd, &ns->flows[ND_C_OPENED_ACTIVE + 2 * k + d], &s[i], src,
					true, now);
		if (ret < 0)
			return ret;
	}
	for (int d = 0; d < ndirs; d++) {
		enum hf_dir dir = d == 0 ? HF_DIR_ACTIVE :
				  d == 1 ? HF_DIR_PASSIVE :
					   HF_DIR_FORWARDED;
		unsigned int folded;
		const struct hf_flow *o = hf_select_other(sel, dir, &folded);

		nd->ns[0].flows[k0 + d].other = o->conns;
		if (tr >= 0) {
			struct nd_flows *c = &nd->ns[0].flows[tr + d];
			c->other_in = o->ct.bytes_received;
			c->other_out = o->ct.bytes_sent;
			/* An empty "other" says nothing of accounting. */
			c->other_traffic = c->other_traffic || (folded && o->ct.traffic_known);
		}
		for (int k = 0; counting && k < HF_COUNTS; k++) {
			struct nd_flows *c = &nd->ns[0].flows[ND_C_OPENED_ACTIVE + 2 * k + d];
			c->other_in = flow_counter(c, o);
		}
	}
	for (size_t i = 0; i < nd->nns; i++) {
		struct nd_ns *ns = &nd->ns[i];
		if (!ns->in[src] && !(i == 0 && (ns->flows[k0].declared || !nd->netns)))
			continue;
		for (int d = 0; d < ndirs; d++) {
			int ks[2 + HF_COUNTS] = { k0 + d, tr >= 0 ? tr + d : -1, -1, -1, -1 };
			for (int k = 0; counting && k < HF_COUNTS; k++)
				ks[2 + k] = ND_C_OPENED_ACTIVE + 2 * k + d;
			for (int j = 0; j < 2 + HF_COUNTS; j++) {
				if (ks[j] < 0)
					continue;
				ret = flows_expire(nd, sel, &ns->flows[ks[j]], now);
				if (ret < 0)
					return ret;
				flows_put(nd, ns, &ns->flows[ks[j]], now);
			}
		}
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

static void states_put(struct nd *nd, struct nd_ns *ns, const struct hf_totals *t, uint64_t now)
{
	char id[32], cid[ND_CHART_ID_MAX];

	snprintf(cid, sizeof(cid), "states%s", ns->part);
	if (!ns->states_declared) {
		put_chart(nd, cid, "TCP Sockets per State", ns, "sockets", "states",
			  ND_TYPE ".states", "stacked", ND_PRIO_BASE + 2, "", "states");
		put_labels(nd, ns, NULL);
		for (unsigned int s = 1; s < HF_STATE_MAX; s++)
			if (state_id(s, id, sizeof(id)))
				fprintf(nd->out, "DIMENSION %s '%s' absolute 1 1\n", id, id);
		ns->states_declared = true;
	}
	put_begin(nd, cid, &ns->states_begin, now);
	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		if (state_id(s, id, sizeof(id)))
			put_set(nd, id, t->states[s]);
	fprintf(nd->out, "END\n");
	/* Listening sockets are not connections: a line of their own, not a stacked state. */
	snprintf(cid, sizeof(cid), "listen%s", ns->part);
	if (!ns->listen_declared) {
		put_chart(nd, cid, "TCP Listening Sockets", ns, "sockets", "states",
			  ND_TYPE ".listen", "line", ND_PRIO_BASE + 3, "", "states");
		put_labels(nd, ns, NULL);
		fprintf(nd->out, "DIMENSION listen 'listen' absolute 1 1\n");
		ns->listen_declared = true;
	}
	put_begin(nd, cid, &ns->listen_begin, now);
	put_set(nd, "listen", t->listeners);
	fprintf(nd->out, "END\n");
}

/* ---- listeners ------------------------------------------------------------------------- */

static void lst_chart(struct nd *nd, const struct nd_lst *l, bool fill, const char *options)
{
	char id[ND_CHART_ID_MAX], title[ND_LABEL_MAX + 64];
	const struct nd_ns *ns = ns_by_key(nd, l->ns_key);

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
		put_chart(nd, id, title, ns, "percentage",
			  l->loopback ? "loopback listeners" : "listeners",
			  l->loopback ? ND_TYPE ".loopback_listener_fill" :
					ND_TYPE ".listener_fill",
			  "line", ND_PRIO_BASE + 100, options, "listeners");
	else
		put_chart(nd, id, title, ns, "connections", "listeners", ND_TYPE ".listener_queue",
			  "line", ND_PRIO_BASE + 101, options, "listeners");
}

static int lst_update(struct nd *nd, const struct hf_listener *hl, size_t nl, uint64_t now)
{
	const struct hf_series *s;
	size_t ns_n;
	int ret;

	ret = hf_select_listeners(nd->sel_lst, hl, nl, &nd->opt.filter, now);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < nd->nlst; i++)
		nd->lst[i].present = false;
	s = hf_select_series(nd->sel_lst, &ns_n);
	for (size_t i = 0; i < ns_n; i++) {
		const struct hf_listener *li = &s[i].listener;
		char id[sizeof(nd->lst->id)], label[HF_LABEL_MAX];
		const struct nd_ns *ns = nd->netns ? ns_of(nd, 0, li->netns) : &nd->ns[0];
		struct nd_lst *l;
		bool found;
		size_t at, len;

		if (s[i].ended || !ns)
			continue; /* gone: no points rather than made-up ones */
		len = nd_listener_id(li, id, sizeof(id));
		snprintf(id + len, sizeof(id) - len, "%s", ns->part);
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
			l->ns_key = ns->key;
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
	char id[ND_CHART_ID_MAX];

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
		put_labels(nd, ns_by_key(nd, l->ns_key), l->label);
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
		char id[ND_CHART_ID_MAX];

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
			put_labels(nd, ns_by_key(nd, l->ns_key), l->label);
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
		for (size_t i = 0; i < nd->nns; i++) {
			struct nd_ns *ns = &nd->ns[i];
			for (int k = 0; k < ND_CHARTS; k++) {
				struct nd_flows *c = &ns->flows[k];
				/* Only the bpf backend counts: its charts end with it. */
				if (c->counter >= 0 && c->declared && backend != HF_BACKEND_BPF) {
					flows_chart(nd, ns, c, "obsolete");
					c->n = 0;
				}
				c->declared = false;
			}
			ns->states_declared = ns->listen_declared = false;
			ns->table_declared = ns->used_declared = false;
		}
		for (size_t i = 0; i < nd->nlst; i++)
			nd->lst[i].declared = nd->lst[i].fill_declared = false;
		nd->backend = backend;
	}
	ret = flows_tick(nd, nd->sel_flows, 0, ND_C_ACTIVE, 2, -1, flows, n, now);
	if (ret < 0)
		return ret;
	if (!nd->netns) {
		states_put(nd, &nd->ns[0], t, now);
	} else {
		for (size_t i = 0; i < nd->nns; i++)
			if (nd->ns[i].in[0] && nd->ns[i].totals_known)
				states_put(nd, &nd->ns[i], &nd->ns[i].totals, now);
	}
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

/* ---- conntrack ------------------------------------------------------------------------- */

/* A namespace's table: entries and limit, and percent used (one alarm threshold for any size). */
static void table_put(struct nd *nd, struct nd_ns *ns, int64_t count, int64_t max, uint64_t now)
{
	char cid[ND_CHART_ID_MAX];

	if (count < 0)
		return;
	snprintf(cid, sizeof(cid), "conntrack_table%s", ns->part);
	if (!ns->table_declared) {
		put_chart(nd, cid, "Conntrack Table", ns, "entries", "conntrack",
			  ND_TYPE ".conntrack_table", "line", ND_PRIO_BASE + 20, "", "conntrack");
		put_labels(nd, ns, NULL);
		fprintf(nd->out, "DIMENSION entries 'entries' absolute 1 1\n");
		fprintf(nd->out, "DIMENSION max 'max' absolute 1 1\n");
		ns->table_declared = true;
	}
	put_begin(nd, cid, &ns->table_begin, now);
	put_set(nd, "entries", (unsigned long long)count);
	if (max >= 0)
		put_set(nd, "max", (unsigned long long)max);
	fprintf(nd->out, "END\n");
	if (max <= 0)
		return;
	snprintf(cid, sizeof(cid), "conntrack_used%s", ns->part);
	if (!ns->used_declared) {
		put_chart(nd, cid, "Conntrack Table Used", ns, "percentage", "conntrack",
			  ND_TYPE ".conntrack_used", "line", ND_PRIO_BASE + 21, "", "conntrack");
		put_labels(nd, ns, NULL);
		fprintf(nd->out, "DIMENSION used 'used' absolute 1 10000\n");
		ns->used_declared = true;
	}
	put_begin(nd, cid, &ns->used_begin, now);
	/* Four decimals: a test table of tens of entries in 262144 still reads above 0. */
	put_set(nd, "used", (unsigned long long)(1000000.0 * (double)count / (double)max + 0.5));
	fprintf(nd->out, "END\n");
}

int nd_ct_tick(struct nd *nd, uint64_t now, struct hf_flow *flows, size_t n,
	       const struct hf_ct_info *ci)
{
	int ret = flows_tick(nd, nd->sel_ct, 1, ND_C_CT_ACTIVE, 3, ND_C_TR_ACTIVE, flows, n, now);

	if (ret < 0)
		return ret;
	if (!nd->netns) {
		table_put(nd, &nd->ns[0], ci->count >= 0 ? ci->count : (int64_t)ci->entries,
			  ci->max, now);
		return 0;
	}
	for (size_t i = 0; i < nd->nns; i++)
		if (nd->ns[i].in[1])
			table_put(nd, &nd->ns[i], nd->ns[i].ct_count, nd->ns[i].ct_max, now);
	return 0;
}

/* ---- namespaces that went away --------------------------------------------------------- */

static void obsolete(struct nd *nd, const struct nd_ns *ns, const char *id, const char *title,
		     const char *units, const char *family, const char *context, int prio)
{
	put_chart(nd, id, title, ns, units, family, context, "line", prio, "obsolete", family);
}

void nd_end_tick(struct nd *nd, uint64_t now)
{
	size_t kept = 1;

	if (!nd->netns)
		return;
	for (size_t i = 1; i < nd->nns; i++) {
		struct nd_ns *ns = &nd->ns[i];
		char cid[ND_CHART_ID_MAX];
		size_t lk = 0;

		if (ns->seen == now) {
			if (kept != i)
				nd->ns[kept] = *ns;
			kept++;
			continue;
		}
		/* Gone: its charts end now, not ObsoleteAfter later; nothing will fill them. */
		for (int k = 0; k < ND_CHARTS; k++) {
			struct nd_flows *c = &ns->flows[k];
			if (c->declared)
				flows_chart(nd, ns, c, "obsolete");
		}
		if (ns->states_declared) {
			snprintf(cid, sizeof(cid), "states%s", ns->part);
			obsolete(nd, ns, cid, "TCP Sockets per State", "sockets", "states",
				 ND_TYPE ".states", ND_PRIO_BASE + 2);
			snprintf(cid, sizeof(cid), "listen%s", ns->part);
			obsolete(nd, ns, cid, "TCP Listening Sockets", "sockets", "states",
				 ND_TYPE ".listen", ND_PRIO_BASE + 3);
		}
		if (ns->table_declared) {
			snprintf(cid, sizeof(cid), "conntrack_table%s", ns->part);
			obsolete(nd, ns, cid, "Conntrack Table", "entries", "conntrack",
				 ND_TYPE ".conntrack_table", ND_PRIO_BASE + 20);
		}
		if (ns->used_declared) {
			snprintf(cid, sizeof(cid), "conntrack_used%s", ns->part);
			obsolete(nd, ns, cid, "Conntrack Table Used", "percentage", "conntrack",
				 ND_TYPE ".conntrack_used", ND_PRIO_BASE + 21);
		}
		for (size_t j = 0; j < nd->nlst; j++) {
			struct nd_lst *l = &nd->lst[j];
			if (l->ns_key == ns->key) {
				if (l->declared)
					lst_chart(nd, l, false, "obsolete");
				if (l->fill_declared)
					lst_chart(nd, l, true, "obsolete");
				continue;
			}
			if (lk != j)
				nd->lst[lk] = *l;
			lk++;
		}
		nd->nlst = lk;
		ns_free(ns);
	}
	nd->nns = kept;
}
