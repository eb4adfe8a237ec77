/*
 * hostflow.plugin - netdata external plugin: who this host talks to (host
 * flows), its TCP sockets per state, and the health of its listeners, as
 * netdata charts, written on stdout in the plugins.d text protocol.
 *
 *   hostflow.plugin [UPDATE_EVERY] [KEY=VALUE]...
 *
 * netdata starts it with its update frequency as the first argument and
 * [plugin:hostflow] "command options" after it; options also come from
 * hostflow.conf (see man/hostflow.plugin.8).
 *
 * Only the keywords netdata 1.37 knows are written (CHART, CLABEL,
 * CLABEL_COMMIT, DIMENSION, BEGIN, SET, END, VARIABLE, DISABLE): 1.37 stops
 * a plugin at the first line it cannot parse, and later versions accept
 * all of these. Every line stays far below the 1024 bytes 1.37 reads at
 * once (a longer line would be cut and its tail taken for a keyword).
 *
 * Ownership: struct nd owns its chart tables (they grow with the flows and
 * listeners reported, shrink as they expire) and the resolver; the flows
 * and listeners come from libhostflow and are only read, except that
 * hf_report_select() reorders the flow array, as the library allows.
 *
 * Compiled with -DHF_NETDATA_NO_MAIN, this file is a library of static
 * functions for tests/unit/test_netdata_plugin.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hostflow.h"
#include "plugin.h"

#define ND_PROG "hostflow.plugin"
#define ND_TYPE "hostflow"
#define ND_CONF "hostflow.conf"
#define ND_ID_MAX 112	/* a flow id is at most 98 bytes */
#define ND_NAME_MAX 400 /* dimension names; keeps each line below 1024 bytes */
#define ND_LABEL_MAX 80 /* a listener "[addr]:port" */
#define ND_CONF_LINE_MAX 1024
#define ND_RESOLVE_TIMEOUT_MS 300
#define ND_PRIO_BASE 70000
#define ND_USEC 1000000ull

/* ---- identifiers ----------------------------------------------------------------------- */

/*
 * Dimension and chart ids: lower-case letters, digits and '_' only, one per
 * key, the same on every tick and across restarts:
 *
 *   flow      p4_10_0_1_10_3306_10_0_1_9_many     passive, IPv4: local end, peer end
 *             a6_2001xdb8xx1_many_2001xdb8xx11_443  active, IPv6
 *   listener  v4_0_0_0_0_80, v6_xx_443
 *
 * An IPv4 address is four '_'-separated fields, an IPv6 address a single
 * field (groups joined by 'x', "::" written "xx", never a dotted tail), a
 * port is decimal or "many", a peer prefix "_s" and its length: every field
 * has a fixed place, so two keys never share an id. The dimension name
 * carries the readable flow.
 */
struct idbuf {
	char *buf;
	size_t len, off;
};

static void id_put(struct idbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void id_put(struct idbuf *b, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(b->off < b->len ? b->buf + b->off : NULL,
		      b->off < b->len ? b->len - b->off : 0, fmt, ap);
	va_end(ap);
	if (w > 0)
		b->off += (size_t)w;
}

static void id_put_addr(struct idbuf *b, int family, const union hf_addr *a, unsigned int plen)
{
	unsigned int full = family == AF_INET ? 32 : 128;

	if (family == AF_INET) {
		id_put(b, "%u_%u_%u_%u", a->b[0], a->b[1], a->b[2], a->b[3]);
	} else {
		unsigned int g[8];
		int best = -1, best_n = 1;

		for (int i = 0; i < 8; i++)
			g[i] = (unsigned int)a->b[2 * i] << 8 | a->b[2 * i + 1];
		/* The first longest run of two or more zero groups, as RFC 5952 compresses it. */
		for (int i = 0; i < 8;) {
			int n = 0;
			while (i + n < 8 && g[i + n] == 0)
				n++;
			if (n > best_n) {
				best = i;
				best_n = n;
			}
			i += n ? n : 1;
		}
		for (int i = 0; i < 8; i++) {
			if (i == best) {
				id_put(b, "xx");
				i += best_n - 1;
				continue;
			}
			id_put(b, "%s%x", i > 0 && i != best + best_n ? "x" : "", g[i]);
		}
	}
	if (plen && plen < full)
		id_put(b, "_s%u", plen);
}

static void id_put_port(struct idbuf *b, uint16_t port)
{
	if (port)
		id_put(b, "_%u", port);
	else
		id_put(b, "_many");
}

/* The dimension id of flow @f into @buf (ND_ID_MAX bytes); returns its length. */
static size_t nd_flow_id(const struct hf_flow *f, char *buf, size_t len)
{
	struct idbuf b = { buf, len, 0 };

	buf[0] = '\0';
	id_put(&b, "%c%c_", f->dir == HF_DIR_PASSIVE ? 'p' : 'a', f->family == AF_INET ? '4' : '6');
	id_put_addr(&b, f->family, &f->laddr, 0);
	id_put_port(&b, f->lport);
	id_put(&b, "_");
	id_put_addr(&b, f->family, &f->paddr, f->pplen);
	id_put_port(&b, f->pport);
	return b.off;
}

/* The id of listener @l, "v4_0_0_0_0_80", into @buf; returns its length. */
static size_t nd_listener_id(const struct hf_listener *l, char *buf, size_t len)
{
	struct idbuf b = { buf, len, 0 };

	buf[0] = '\0';
	id_put(&b, "v%c_", l->family == AF_INET ? '4' : '6');
	id_put_addr(&b, l->family, &l->addr, 0);
	id_put_port(&b, l->port);
	return b.off;
}

/*
 * Copy @s into @buf as a quotable protocol word: quotes and backslashes
 * (which netdata's splitter would take as syntax) and control bytes become
 * '_'; cut to @len - 1 bytes.
 */
static void nd_word(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool syntax = c < 0x20 || c == 0x7f || c == '\'' || c == '"' || c == '\\';

		buf[i] = syntax ? '_' : (char)c;
	}
	buf[i] = '\0';
}

/* ---- chart state ----------------------------------------------------------------------- */

/* A dimension of a flows chart. */
struct nd_dim {
	char id[ND_ID_MAX];
	char name[ND_NAME_MAX];
	uint64_t seen;	/* tick (usec) it was last among the reported flows */
	uint32_t value; /* connections this tick; 0 when not reported */
	bool gone;	/* expired: declared obsolete once more, then dropped */
};

/* A flows chart: one per direction, one dimension per reported flow plus "other". */
struct nd_flows {
	const char *id, *title, *context;
	int priority;
	bool declared; /* CHART sent with the current labels */
	bool dirty;    /* a dimension came or went: send CHART and every DIMENSION again */
	uint64_t last_begin;
	uint64_t other;
	struct nd_dim *dims; /* sorted by id */
	size_t n, cap;
};

/* A listener chart. */
struct nd_lst {
	char id[ND_ID_MAX];
	char label[ND_LABEL_MAX];
	uint64_t seen;
	uint64_t last_begin;
	bool present; /* listed in this tick's collection */
	bool declared;
	bool backlog_known;
	uint32_t accept_queue, backlog, syn_recv;
};

struct nd {
	FILE *out;
	struct hf_options opt;
	unsigned int every; /* seconds */
	enum hf_backend backend;
	struct hf_resolver *resolver;
	struct nd_flows flows[2]; /* [0] active, [1] passive */
	struct nd_lst *lst;	  /* sorted by id */
	size_t nlst, caplst;
	bool states_declared;
	uint64_t states_begin;
	uint32_t counters_declared; /* the counters the chart was declared with (bits), 0: none */
	uint64_t counters_begin;
	int vars[3]; /* somaxconn, tcp_max_syn_backlog, tcp_syncookies as last sent; -2: never */
};

static void nd_init(struct nd *nd, FILE *out, const struct hf_options *opt, unsigned int every)
{
	memset(nd, 0, sizeof(*nd));
	nd->out = out;
	nd->opt = *opt;
	nd->every = every;
	nd->backend = HF_BACKEND_AUTO;
	nd->flows[0] = (struct nd_flows){
		.id = "flows_active",
		.title = "Active flows: connections this host opened, per peer service",
		.context = "hostflow.flows_active",
		.priority = ND_PRIO_BASE,
	};
	nd->flows[1] = (struct nd_flows){
		.id = "flows_passive",
		.title = "Passive flows: connections to services of this host, per peer",
		.context = "hostflow.flows_passive",
		.priority = ND_PRIO_BASE + 1,
	};
	for (int i = 0; i < 3; i++)
		nd->vars[i] = -2;
}

static void nd_free(struct nd *nd)
{
	free(nd->flows[0].dims);
	free(nd->flows[1].dims);
	free(nd->lst);
	hf_resolver_free(nd->resolver);
	nd->resolver = NULL;
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

/* Count flow @f into chart @c at @now: a new dimension when its id is new. */
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
		hf_flow_label(f, label, sizeof(label), name_of, nd->resolver);
		nd_word(label, d->name, sizeof(d->name));
		c->dirty = true;
	}
	d = &c->dims[at];
	d->seen = now;
	d->value += f->conns;
	return 0;
}

static void flows_put(struct nd *nd, struct nd_flows *c, uint64_t now)
{
	size_t kept = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->dims[i].seen != now && nd_expired(nd, c->dims[i].seen, now)) {
			c->dims[i].gone = true;
			c->dirty = true;
		}
	if (!c->declared || c->dirty) {
		put_chart(nd, c->id, c->title, "connections", "flows", c->context, "stacked",
			  c->priority, "", "flows");
		put_labels(nd, NULL);
		for (size_t i = 0; i < c->n; i++)
			fprintf(nd->out, "DIMENSION %s '%s' absolute 1 1%s\n", c->dims[i].id,
				c->dims[i].name, c->dims[i].gone ? " 'obsolete hidden'" : "");
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
		put_set(nd, c->dims[i].id, c->dims[i].value);
	put_set(nd, "other", c->other);
	fprintf(nd->out, "END\n");
}

/* ---- host totals ----------------------------------------------------------------------- */

/* The dimension id of state @s, its name in lower case; false for LISTEN and non-states. */
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
		put_chart(nd, "states", "TCP sockets per state", "sockets", "states",
			  ND_TYPE ".states", "stacked", ND_PRIO_BASE + 2, "", "states");
		put_labels(nd, NULL);
		for (unsigned int s = 1; s < HF_STATE_MAX; s++)
			if (state_id(s, id, sizeof(id)))
				fprintf(nd->out, "DIMENSION %s '%s' absolute 1 1\n", id,
					hf_state_name(s));
		fprintf(nd->out, "DIMENSION listen 'LISTEN' absolute 1 1\n");
		nd->states_declared = true;
	}
	put_begin(nd, "states", &nd->states_begin, now);
	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		if (state_id(s, id, sizeof(id)))
			put_set(nd, id, t->states[s]);
	put_set(nd, "listen", t->listeners);
	fprintf(nd->out, "END\n");
}

/* ---- listeners ------------------------------------------------------------------------- */

static void lst_chart(struct nd *nd, const struct nd_lst *l, const char *options)
{
	char id[ND_ID_MAX + 16], title[ND_LABEL_MAX + 64];

	snprintf(id, sizeof(id), "listener_%s", l->id);
	snprintf(title, sizeof(title), "Accept queue and backlog of listener %s", l->label);
	put_chart(nd, id, title, "connections", "listeners", ND_TYPE ".listener_queue", "line",
		  ND_PRIO_BASE + 100, options, "listeners");
}

static int lst_update(struct nd *nd, const struct hf_listener *hl, size_t nl, uint64_t now)
{
	for (size_t i = 0; i < nd->nlst; i++)
		nd->lst[i].present = false;
	for (size_t i = 0; i < nl; i++) {
		char id[ND_ID_MAX], label[HF_LABEL_MAX];
		struct nd_lst *l;
		bool found;
		size_t at;

		nd_listener_id(&hl[i], id, sizeof(id));
		at = find_slot(nd->lst, nd->nlst, sizeof(*nd->lst), id, &found);
		if (!found) {
			if (insert_slot((void **)&nd->lst, &nd->nlst, &nd->caplst, sizeof(*nd->lst),
					at) < 0)
				return -ENOMEM;
			l = &nd->lst[at];
			memcpy(l->id, id, sizeof(id));
			hf_endpoint_str(hl[i].family, &hl[i].addr, 0, hl[i].port, NULL, label,
					sizeof(label));
			nd_word(label, l->label, sizeof(l->label));
		}
		l = &nd->lst[at];
		/* A listener listed twice (cannot happen with one collection) adds up. */
		if (!l->present) {
			l->accept_queue = l->backlog = l->syn_recv = 0;
			l->backlog_known = true;
		}
		l->present = true;
		l->seen = now;
		l->accept_queue += hl[i].accept_queue;
		l->backlog += hl[i].backlog;
		l->syn_recv += hl[i].syn_recv;
		l->backlog_known = l->backlog_known && hl[i].backlog_known;
	}
	return 0;
}

static void lst_put(struct nd *nd, uint64_t now)
{
	size_t kept = 0;

	for (size_t i = 0; i < nd->nlst; i++) {
		struct nd_lst *l = &nd->lst[i];
		char id[ND_ID_MAX + 16];

		if (!l->present && nd_expired(nd, l->seen, now)) {
			/* Gone for the grace period: netdata hides the chart and deletes it later. */
			if (l->declared)
				lst_chart(nd, l, "obsolete");
			continue;
		}
		if (kept != i)
			nd->lst[kept] = *l;
		l = &nd->lst[kept++];
		if (!l->present)
			continue; /* within the grace period: no points rather than made-up ones */
		if (!l->declared) {
			lst_chart(nd, l, "");
			put_labels(nd, l->label);
			fprintf(nd->out, "DIMENSION accept_queue 'accept_queue' absolute 1 1\n");
			fprintf(nd->out, "DIMENSION backlog 'backlog' absolute 1 1\n");
			fprintf(nd->out, "DIMENSION syn_recv 'syn_recv' absolute 1 1\n");
			l->declared = true;
		}
		snprintf(id, sizeof(id), "listener_%s", l->id);
		put_begin(nd, id, &l->last_begin, now);
		put_set(nd, "accept_queue", l->accept_queue);
		/* The /proc backend cannot know the backlog: leave a gap, not a false zero. */
		if (l->backlog_known)
			put_set(nd, "backlog", l->backlog);
		put_set(nd, "syn_recv", l->syn_recv);
		fprintf(nd->out, "END\n");
	}
	nd->nlst = kept;
}

static const char *const counter_ids[HF_NETSTAT_MAX] = {
	[HF_LISTEN_OVERFLOWS] = "listen_overflows",
	[HF_LISTEN_DROPS] = "listen_drops",
	[HF_REQQ_FULL_DROP] = "reqq_full_drop",
	[HF_REQQ_FULL_DO_COOKIES] = "reqq_full_do_cookies",
	[HF_SYNCOOKIES_SENT] = "syncookies_sent",
};

static void counters_put(struct nd *nd, const struct hf_host *h, uint64_t now)
{
	static const char *const var_names[3] = { "hostflow_somaxconn",
						  "hostflow_tcp_max_syn_backlog",
						  "hostflow_tcp_syncookies" };
	const int vals[3] = { h->somaxconn, h->max_syn_backlog, h->syncookies };
	uint32_t present = h->present & ((1u << HF_NETSTAT_MAX) - 1);

	for (int i = 0; i < 3; i++)
		if (vals[i] >= 0 && vals[i] != nd->vars[i]) {
			fprintf(nd->out, "VARIABLE HOST %s = %d\n", var_names[i], vals[i]);
			nd->vars[i] = vals[i];
		}
	if (!present)
		return;
	if (present != nd->counters_declared) {
		put_chart(nd, "listen_counters", "Listen queue overflows and drops (TcpExt)",
			  "events/s", "listeners", ND_TYPE ".listen_counters", "line",
			  ND_PRIO_BASE + 3, "", "listeners");
		put_labels(nd, NULL);
		for (unsigned int c = 0; c < HF_NETSTAT_MAX; c++)
			if (present & (1u << c))
				fprintf(nd->out, "DIMENSION %s '%s' incremental 1 1\n",
					counter_ids[c], hf_netstat_name(c));
		nd->counters_declared = present;
	}
	put_begin(nd, "listen_counters", &nd->counters_begin, now);
	for (unsigned int c = 0; c < HF_NETSTAT_MAX; c++)
		if (present & (1u << c))
			put_set(nd, counter_ids[c], h->counters[c]);
	fprintf(nd->out, "END\n");
}

/*
 * nd_tick - write one collection at @now (usec on a monotonic clock): the
 * flows charts (new dimensions declared, dimensions gone for ObsoleteAfter
 * declared obsolete once and forgotten), host totals, and, with
 * ReportListeners, one chart per listener and the host counters (@host
 * NULL when they could not be read). Reorders @flows. Returns 0 or -ENOMEM;
 * write errors are left in nd->out for the caller.
 */
static int nd_tick(struct nd *nd, uint64_t now, enum hf_backend backend, struct hf_flow *flows,
		   size_t n, const struct hf_listener *l, size_t nl, const struct hf_totals *t,
		   const struct hf_host *host)
{
	struct hf_report r;
	int ret;

	if (backend != nd->backend) {
		/* Labels name the backend: declare everything again with the new one. */
		nd->backend = backend;
		nd->flows[0].declared = nd->flows[1].declared = false;
		nd->states_declared = false;
		nd->counters_declared = 0;
		for (size_t i = 0; i < nd->nlst; i++)
			nd->lst[i].declared = false;
	}
	hf_report_select(flows, n, nd->opt.max_flows, &r);
	for (int d = 0; d < 2; d++) {
		for (size_t i = 0; i < nd->flows[d].n; i++)
			nd->flows[d].dims[i].value = 0;
		nd->flows[d].other = r.other[d].conns;
	}
	for (size_t i = 0; i < r.n; i++) {
		ret = flows_add(nd, &nd->flows[r.flows[i].dir == HF_DIR_PASSIVE], &r.flows[i], now);
		if (ret < 0)
			return ret;
	}
	flows_put(nd, &nd->flows[0], now);
	flows_put(nd, &nd->flows[1], now);
	states_put(nd, t, now);
	if (nd->opt.report_listeners) {
		ret = lst_update(nd, l, nl, now);
		if (ret < 0)
			return ret;
		lst_put(nd, now);
		if (host)
			counters_put(nd, host, now);
	}
	return 0;
}

/* ---- configuration --------------------------------------------------------------------- */

/* @key folded as hf_options_set matches keys: lower case, no ' ', '\t', '_' or '-'. */
static void key_fold(const char *key, char *buf, size_t len)
{
	size_t o = 0;

	for (; *key && o + 1 < len; key++) {
		if (*key == ' ' || *key == '\t' || *key == '_' || *key == '-')
			continue;
		buf[o++] = (char)(*key >= 'A' && *key <= 'Z' ? *key + 32 : *key);
	}
	buf[o] = '\0';
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Options given on the command line; their keys replace those of hostflow.conf. */
struct nd_args {
	unsigned int every; /* 0: not given */
	size_t nkv;
	char **kv; /* "KEY=VALUE" words of argv */
	bool help, version;
};

static bool key_given(const struct nd_args *a, const char *key)
{
	char k[64], g[64];

	key_fold(key, k, sizeof(k));
	for (size_t i = 0; i < a->nkv; i++) {
		char buf[64];
		const char *eq = strchr(a->kv[i], '=');
		size_t n = (size_t)(eq - a->kv[i]);
		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		memcpy(buf, a->kv[i], n);
		buf[n] = '\0';
		key_fold(buf, g, sizeof(g));
		if (strcmp(k, g) == 0)
			return true;
	}
	return false;
}

/*
 * nd_config_read - apply hostflow.conf, read from @f and called @path in
 * messages, to @o: "key = value" lines, '#' comments, blank lines and an
 * optional "[plugin]" section header. Keys given in @a are skipped. Every
 * bad line is reported on @err with the file, line, key and value.
 * Returns the number of bad lines.
 */
static unsigned int nd_config_read(struct hf_options *o, FILE *f, const char *path,
				   const struct nd_args *a, FILE *err)
{
	char line[ND_CONF_LINE_MAX + 2], msg[256];
	unsigned int lineno = 0, bad = 0;

	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *key, *value, *hash;
		size_t len = strlen(line);

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			int c;
			fprintf(err, ND_PROG ": %s:%u: line longer than %d bytes\n", path, lineno,
				ND_CONF_LINE_MAX);
			bad++;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			if (strcasecmp(s, "[plugin]") != 0) {
				fprintf(err,
					ND_PROG ": %s:%u: section %s: only [plugin] is known\n",
					path, lineno, s);
				bad++;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			fprintf(err, ND_PROG ": %s:%u: \"%s\" is not \"key = value\"\n", path,
				lineno, s);
			bad++;
			continue;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		len = strlen(value);
		if (len >= 2 && (value[0] == '"' || value[0] == '\'') &&
		    value[len - 1] == value[0]) {
			value[len - 1] = '\0';
			value++;
		}
		if (key_given(a, key))
			continue;
		if (hf_options_set(o, key, value, msg, sizeof(msg)) < 0) {
			fprintf(err, ND_PROG ": %s:%u: key \"%s\", value \"%s\": %s\n", path,
				lineno, key, value, msg);
			bad++;
		}
	}
	if (ferror(f)) {
		fprintf(err, ND_PROG ": %s: read error: %s\n", path, strerror(errno));
		bad++;
	}
	return bad;
}

/* The KEY=VALUE words of the command line; returns the number of bad ones. */
static unsigned int nd_args_apply(struct hf_options *o, const struct nd_args *a, FILE *err)
{
	unsigned int bad = 0;
	char msg[256];

	for (size_t i = 0; i < a->nkv; i++) {
		char buf[ND_CONF_LINE_MAX], *eq, *key, *value;

		snprintf(buf, sizeof(buf), "%s", a->kv[i]);
		eq = strchr(buf, '=');
		*eq = '\0';
		key = trim(buf);
		value = trim(eq + 1);
		if (hf_options_set(o, key, value, msg, sizeof(msg)) < 0) {
			fprintf(err, ND_PROG ": command options: key \"%s\", value \"%s\": %s\n",
				key, value, msg);
			bad++;
		}
	}
	return bad;
}

/*
 * nd_args_parse - argv: [UPDATE_EVERY] [KEY=VALUE]..., or --help / --version.
 * Returns 0 or -EINVAL after a message on @err. @a points into @argv.
 */
static int nd_args_parse(int argc, char **argv, struct nd_args *a, FILE *err)
{
	int i = 1;

	memset(a, 0, sizeof(*a));
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		a->help = true;
		return 0;
	}
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
		a->version = true;
		return 0;
	}
	if (argc > 1 && !strchr(argv[1], '=')) {
		char *end;
		unsigned long v;
		errno = 0;
		v = strtoul(argv[1], &end, 10);
		if (errno || end == argv[1] || *end || v < 1 || v > 86400) {
			fprintf(err,
				ND_PROG ": update every \"%s\" is not seconds from 1 to 86400\n",
				argv[1]);
			return -EINVAL;
		}
		a->every = (unsigned int)v;
		i = 2;
	}
	a->kv = argv + i;
	for (; i < argc; i++) {
		if (!strchr(argv[i], '=') || argv[i][0] == '=') {
			fprintf(err, ND_PROG ": argument \"%s\" is not KEY=VALUE\n", argv[i]);
			return -EINVAL;
		}
		a->nkv++;
	}
	return 0;
}

/*
 * nd_config_path - the hostflow.conf to read into @buf: the user's
 * (NETDATA_USER_CONFIG_DIR, else NETDATA_CONFIG_DIR, else /etc/netdata) if
 * it exists, else the stock one (NETDATA_STOCK_CONFIG_DIR, else
 * /usr/lib/netdata/conf.d). Returns false when there is neither.
 */
static bool nd_config_path(char *buf, size_t len)
{
	const char *user = getenv("NETDATA_USER_CONFIG_DIR");
	const char *stock = getenv("NETDATA_STOCK_CONFIG_DIR");

	if (!user || !*user)
		user = getenv("NETDATA_CONFIG_DIR");
	if (!user || !*user)
		user = "/etc/netdata";
	if (!stock || !*stock)
		stock = "/usr/lib/netdata/conf.d";
	snprintf(buf, len, "%s/" ND_CONF, user);
	if (access(buf, F_OK) == 0)
		return true;
	snprintf(buf, len, "%s/" ND_CONF, stock);
	return access(buf, F_OK) == 0;
}

/* ---- the process ----------------------------------------------------------------------- */

#ifndef HF_NETDATA_NO_MAIN

static void usage(FILE *f)
{
	fprintf(f, "usage: " ND_PROG " [UPDATE_EVERY] [KEY=VALUE]...\n"
		   "       " ND_PROG " --help | --version\n"
		   "\n"
		   "A netdata external plugin: host flows, TCP states and listener health as\n"
		   "netdata charts, in the plugins.d protocol on stdout. netdata starts it with\n"
		   "UPDATE_EVERY (seconds) and [plugin:hostflow] \"command options\"; KEY=VALUE\n"
		   "options (MaxFlows=10, ObsoleteAfter=120, ...) override hostflow.conf,\n"
		   "read from $NETDATA_USER_CONFIG_DIR or $NETDATA_STOCK_CONFIG_DIR.\n"
		   "See hostflow.plugin(8).\n");
}

/* Tell netdata not to start this plugin again, and end. */
static void disable(void)
{
	fputs("DISABLE\n", stdout);
	fflush(stdout);
	exit(1);
}

static uint64_t clock_us(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * ND_USEC + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Sleep until the next multiple of @every_us on the wall clock, as netdata
 * aligns its own points, and return that moment on the monotonic clock.
 * The sleep itself is on the monotonic clock, so a wall clock step changes
 * one interval at most, and each deadline is computed afresh from the wall
 * clock, so nothing drifts.
 */
static uint64_t tick_wait(uint64_t every_us)
{
	uint64_t rt = clock_us(CLOCK_REALTIME), mono = clock_us(CLOCK_MONOTONIC);
	uint64_t deadline = mono + ((rt / every_us + 1) * every_us - rt);
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / ND_USEC),
		.tv_nsec = (long)(deadline % ND_USEC) * 1000,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return deadline;
}

static unsigned int env_every(void)
{
	const char *s = getenv("NETDATA_UPDATE_EVERY");
	char *end;
	unsigned long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	return errno || *end || v < 1 || v > 86400 ? 0 : (unsigned int)v;
}

int main(int argc, char **argv)
{
	struct hf_options opt;
	struct nd_args args;
	struct hf_ctx *ctx;
	struct nd nd;
	char path[4096];
	unsigned int every, min_every, bad = 0;
	bool failing = false, host_failing = false;
	int status = 1;
	uint64_t now;
	FILE *f;

	/*
	 * With fd 1 closed, the netlink socket opened below would become
	 * stdout and take the charts: nobody reads us, so end as when netdata
	 * closes the pipe. A closed stdin or stderr gets /dev/null in its place.
	 */
	if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
		fprintf(stderr, ND_PROG ": stdout is closed\n");
		return 0;
	}
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return 1;
	/* A closed stdout must show up as a write error, not kill us silently. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (nd_args_parse(argc, argv, &args, stderr) < 0) {
		usage(stderr);
		disable();
	}
	if (args.help) {
		usage(stdout);
		return 0;
	}
	if (args.version) {
		printf(ND_PROG " %s\n", HF_VERSION);
		return 0;
	}
	/* NETDATA_UPDATE_EVERY is netdata's own clock: nothing faster is of use to it. */
	min_every = env_every();
	every = args.every ? args.every : (min_every ? min_every : 1);
	if (every < min_every)
		every = min_every;

	hf_options_init(&opt, HF_AGENT_NETDATA);
	bad += nd_args_apply(&opt, &args, stderr);
	if (nd_config_path(path, sizeof(path))) {
		f = fopen(path, "re");
		if (!f) {
			fprintf(stderr, ND_PROG ": %s: %s\n", path, strerror(errno));
			bad++;
		} else {
			bad += nd_config_read(&opt, f, path, &args, stderr);
			fclose(f);
		}
	}
	if (bad) {
		/* Not a guess at what was meant: a filter typo could chart what was to stay hidden. */
		fprintf(stderr, ND_PROG ": %u configuration error(s), disabled\n", bad);
		disable();
	}
	if (opt.report_states)
		fprintf(stderr, ND_PROG ": ReportStates has no effect here: the TCP states "
					"are charted per host (hostflow.states)\n");

	nd_init(&nd, stdout, &opt, every);
	if (opt.resolve_names) {
		nd.resolver = hf_resolver_new(ND_RESOLVE_TIMEOUT_MS);
		if (!nd.resolver) {
			fprintf(stderr, ND_PROG ": %s\n", strerror(errno));
			disable();
		}
	}
	ctx = hf_open(opt.backend, "/proc");
	if (!ctx) {
		fprintf(stderr, ND_PROG ": cannot open the %s collector: %s\n",
			hf_backend_name(opt.backend), strerror(errno));
		disable();
	}
	now = clock_us(CLOCK_MONOTONIC);
	for (bool first = true;; first = false) {
		struct hf_host host, *hp = NULL;
		struct hf_listener *l;
		struct hf_flow *flows;
		size_t n, nl;
		int ret = hf_collect(ctx, &opt.filter);

		if (ret < 0) {
			if (first) {
				/* Neither netlink nor /proc (or the backend asked for) can be read. */
				fprintf(stderr, ND_PROG ": cannot read TCP sockets: %s\n",
					hf_strerror(ctx));
				disable();
			}
			if (!failing)
				fprintf(stderr, ND_PROG ": collection failed, charts wait: %s\n",
					hf_strerror(ctx));
			failing = true;
		} else {
			if (failing)
				fprintf(stderr, ND_PROG ": collection works again (%s)\n",
					hf_backend_name(hf_backend(ctx)));
			failing = false;
			if (opt.report_listeners) {
				ret = hf_host_read("/proc", &host);
				if (ret == 0)
					hp = &host;
				else if (!host_failing)
					fprintf(stderr, ND_PROG ": /proc/net/netstat: %s\n",
						strerror(-ret));
				host_failing = ret < 0;
			}
			flows = hf_flows(ctx, &n);
			l = hf_listeners(ctx, &nl);
			if (nd_tick(&nd, now, hf_backend(ctx), flows, n, l, nl, hf_totals(ctx),
				    hp) < 0) {
				fprintf(stderr, ND_PROG ": out of memory\n");
				break;
			}
		}
		if (fflush(stdout) != 0 || ferror(stdout)) {
			/* netdata closed the pipe: it stopped or restarts us. Nothing to report. */
			if (errno == EPIPE)
				status = 0;
			else
				fprintf(stderr, ND_PROG ": stdout: %s\n", strerror(errno));
			break;
		}
		now = tick_wait((uint64_t)every * ND_USEC);
	}
	hf_close(ctx);
	nd_free(&nd);
	return status;
}

#endif /* HF_NETDATA_NO_MAIN */
