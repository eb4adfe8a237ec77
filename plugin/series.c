/*
 * series.c - which flows and listeners a plugin reports, and under which
 * identifier, kept stable across collections (the rules are in plugin.h).
 *
 * A selection keeps the series it reports in an array sorted by key; an
 * update looks every flow of the collection up in it (a binary search:
 * the array holds at most 2 x max + pins series). Memory follows what is
 * reported, plus one index per listener for ranking them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/*
 * The flow counters of the last update: conntrack, to add what folded flows
 * did to other's; sockets (the bpf backend), what each flow did since.
 */
struct prev_traffic {
	struct hf_flow key; /* key only */
	uint64_t bytes[2], packets[2];
	uint64_t counts[HF_COUNTS]; /* opened, closed, failed */
};

/* A flow series no longer reported, its counters' totals kept for when it comes back. */
struct retired {
	struct hf_flow key; /* key only */
	char id[HF_ID_MAX];
	uint64_t counts[HF_COUNTS];
	uint64_t seq; /* order of retirement: the oldest goes first */
};

struct hf_select {
	bool listeners;
	bool conntrack; /* identifiers "ct-PROTO-..." and traffic counters */
	unsigned int max;
	uint64_t hold_us;
	struct hf_series *s; /* sorted by key */
	size_t n, cap;
	struct hf_flow other[HF_DIRS]; /* by direction - 1 */
	unsigned int folded[HF_DIRS];
	/* conntrack: other's traffic, kept monotonic across updates */
	uint64_t other_bytes[HF_DIRS][2], other_packets[HF_DIRS][2];
	bool other_unknown[HF_DIRS];
	/* sockets: other's opened, closed, failed, kept monotonic across updates */
	uint64_t other_counts[HF_DIRS][HF_COUNTS];
	bool counting; /* some flow carried counters: keep them for the next update */
	struct prev_traffic *prev, *cur; /* sorted by key */
	size_t nprev, ncur, capprev, capcur;
	size_t *scratch; /* flows: indices of new top flows; listeners: the rank order */
	size_t scratch_cap;
	char **ids; /* identifiers in use, sorted, for a new flow's uniqueness check */
	size_t nids, ids_cap;
	struct retired *retired; /* at most hf_select_bound() */
	size_t nretired;
	uint64_t retire_seq;
};

struct hf_select *hf_select_new(enum hf_select_kind kind, unsigned int max, unsigned int hold_s)
{
	struct hf_select *sel = calloc(1, sizeof(*sel));

	if (!sel)
		return NULL;
	sel->listeners = kind == HF_SELECT_LISTENERS;
	sel->conntrack = kind == HF_SELECT_CONNTRACK;
	sel->max = max ? max : 1;
	sel->hold_us = (uint64_t)hold_s * 1000000u;
	for (int d = 0; d < HF_DIRS; d++)
		sel->other[d].dir = (uint8_t)(d + 1);
	return sel;
}

void hf_select_free(struct hf_select *sel)
{
	if (!sel)
		return;
	free(sel->s);
	free(sel->scratch);
	free(sel->ids);
	free(sel->prev);
	free(sel->cur);
	free(sel->retired);
	free(sel);
}

const struct hf_series *hf_select_series(const struct hf_select *sel, size_t *n)
{
	*n = sel->n;
	return sel->s;
}

const char *hf_select_other_id(const struct hf_select *sel, enum hf_dir dir)
{
	static const char *const ids[2][HF_DIRS] = {
		{ "active-other", "passive-other", "forwarded-other" },
		{ "ct-active-other", "ct-passive-other", "ct-forwarded-other" },
	};

	return dir >= 1 && dir <= HF_DIRS ? ids[sel->conntrack][dir - 1] : "other";
}

const struct hf_flow *hf_select_other(const struct hf_select *sel, enum hf_dir dir,
				      unsigned int *folded)
{
	int d = dir - 1;

	if (folded)
		*folded = sel->folded[d];
	return &sel->other[d];
}

size_t hf_select_bound(const struct hf_select *sel)
{
	return (size_t)2 * sel->max * (sel->listeners ? 1 : sel->conntrack ? HF_DIRS : 2);
}

/* The direction's index (0 active, 1 passive, 2 forwarded); listeners are all 0. */
static int dir_index(const struct hf_select *sel, const struct hf_series *s)
{
	return sel->listeners ? 0 : s->flow.dir - 1;
}

/* ---- keys ----------------------------------------------------------------------------- */

static int series_cmp_key(const struct hf_select *sel, const struct hf_series *s,
			  const struct hf_flow *f, const struct hf_listener *l)
{
	return sel->listeners ? hf_listener_key_cmp(&s->listener, l) : hf_flow_key_cmp(&s->flow, f);
}

/* The slot of the series with this key, or where it would go; *found says which. */
static size_t series_find(const struct hf_select *sel, const struct hf_flow *f,
			  const struct hf_listener *l, bool *found)
{
	size_t lo = 0, hi = sel->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = series_cmp_key(sel, &sel->s[mid], f, l);
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

static struct hf_series *series_insert(struct hf_select *sel, size_t at)
{
	if (sel->n == sel->cap) {
		size_t cap = sel->cap ? 2 * sel->cap : 16;
		struct hf_series *s = realloc(sel->s, cap * sizeof(*s));
		if (!s)
			return NULL;
		sel->s = s;
		sel->cap = cap;
	}
	memmove(&sel->s[at + 1], &sel->s[at], (sel->n - at) * sizeof(*sel->s));
	memset(&sel->s[at], 0, sizeof(*sel->s));
	sel->n++;
	return &sel->s[at];
}

static int scratch_reserve(struct hf_select *sel, size_t n)
{
	size_t *p;

	if (n <= sel->scratch_cap)
		return 0;
	p = realloc(sel->scratch, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	sel->scratch = p;
	sel->scratch_cap = n;
	return 0;
}

/* Zero the values of a flow or listener, keeping its key. */
static void series_zero(struct hf_select *sel, struct hf_series *s)
{
	if (sel->listeners) {
		struct hf_listener key = { 0 };
		key.family = s->listener.family;
		key.port = s->listener.port;
		key.addr = s->listener.addr;
		key.netns = s->listener.netns;
		key.backlog_known = s->listener.backlog_known;
		s->listener = key;
	} else {
		s->flow.conns = 0;
		memset(s->flow.states, 0, sizeof(s->flow.states));
		s->flow.inode = 0;
	}
}

static int prev_cmp(const void *a, const void *b)
{
	return hf_flow_key_cmp(&((const struct prev_traffic *)a)->key,
			       &((const struct prev_traffic *)b)->key);
}

/*
 * What a folded conntrack flow did since the last update, added to its
 * direction's other: its counters less those of the last update (all of
 * them when it is new, or when they went back: the core restarted them).
 */
static void other_traffic(struct hf_select *sel, int d, const struct hf_flow *f)
{
	struct prev_traffic key, *p = NULL;
	uint64_t now[4] = { f->ct.bytes_sent, f->ct.bytes_received, f->ct.packets_sent,
			    f->ct.packets_received };
	uint64_t was[4] = { 0, 0, 0, 0 };

	if (!f->ct.traffic_known)
		sel->other_unknown[d] = true;
	memcpy(&key.key, f, sizeof(key.key));
	if (sel->nprev)
		p = bsearch(&key, sel->prev, sel->nprev, sizeof(*sel->prev), prev_cmp);
	if (p) {
		was[0] = p->bytes[0];
		was[1] = p->bytes[1];
		was[2] = p->packets[0];
		was[3] = p->packets[1];
	}
	for (int i = 0; i < 4; i++)
		if (now[i] < was[i])
			was[i] = 0;
	sel->other_bytes[d][0] += now[0] - was[0];
	sel->other_bytes[d][1] += now[1] - was[1];
	sel->other_packets[d][0] += now[2] - was[2];
	sel->other_packets[d][1] += now[3] - was[3];
}

/* A new series' counters at the last update: where its own count starts. */
static void traffic_before(const struct hf_select *sel, const struct hf_flow *f, uint64_t *out)
{
	struct prev_traffic key, *p = NULL;

	memcpy(&key.key, f, sizeof(key.key));
	if (sel->nprev)
		p = bsearch(&key, sel->prev, sel->nprev, sizeof(*sel->prev), prev_cmp);
	out[0] = p ? p->bytes[0] : 0;
	out[1] = p ? p->bytes[1] : 0;
	out[2] = p ? p->packets[0] : 0;
	out[3] = p ? p->packets[1] : 0;
	/* The core restarted its counters (lost events): from zero. */
	if (out[0] > f->ct.bytes_sent || out[1] > f->ct.bytes_received ||
	    out[2] > f->ct.packets_sent || out[3] > f->ct.packets_received)
		memset(out, 0, 4 * sizeof(*out));
}

/* Keep every flow's counters for the next update's other_traffic() and counts_delta(). */
static int prev_keep(struct hf_select *sel, const struct hf_flow *flows, size_t n)
{
	struct prev_traffic *t;

	if (n > sel->capcur) {
		t = realloc(sel->cur, n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		sel->cur = t;
		sel->capcur = n;
	}
	for (size_t i = 0; i < n; i++) {
		t = &sel->cur[i];
		memcpy(&t->key, &flows[i], sizeof(t->key));
		t->bytes[0] = flows[i].ct.bytes_sent;
		t->bytes[1] = flows[i].ct.bytes_received;
		t->packets[0] = flows[i].ct.packets_sent;
		t->packets[1] = flows[i].ct.packets_received;
		t->counts[0] = flows[i].opened;
		t->counts[1] = flows[i].closed;
		t->counts[2] = flows[i].failed;
	}
	if (n > 1)
		qsort(sel->cur, n, sizeof(*sel->cur), prev_cmp);
	t = sel->prev;
	sel->prev = sel->cur;
	sel->cur = t;
	sel->nprev = n;
	n = sel->capprev;
	sel->capprev = sel->capcur;
	sel->capcur = n;
	return 0;
}

static int flow_prev_cmp(const void *key, const void *elem)
{
	return hf_flow_key_cmp(key, &((const struct prev_traffic *)elem)->key);
}

/* Whether some flow carries the bpf backend's counters. */
static bool any_counts(const struct hf_flow *flows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (flows[i].opened || flows[i].closed || flows[i].failed)
			return true;
	return false;
}

/*
 * What flow @f did since the last update, into @out: its counters less
 * those it had then; all of them when it is new, or when one went back
 * (the flow was deleted from the kernel's map and made anew, from 0).
 */
static void counts_delta(const struct hf_select *sel, const struct hf_flow *f, uint64_t *out)
{
	const struct prev_traffic *p = NULL;
	bool back = false;

	out[0] = f->opened;
	out[1] = f->closed;
	out[2] = f->failed;
	if (sel->nprev)
		p = bsearch(f, sel->prev, sel->nprev, sizeof(*sel->prev), flow_prev_cmp);
	if (!p)
		return;
	for (int i = 0; i < HF_COUNTS; i++)
		back = back || out[i] < p->counts[i];
	for (int i = 0; !back && i < HF_COUNTS; i++)
		out[i] -= p->counts[i];
}

static void counts_add(uint64_t *to, const uint64_t *delta)
{
	for (int i = 0; i < HF_COUNTS; i++)
		to[i] += delta[i];
}

/* The totals into the flows the front ends read: each series', and other's. */
static void counts_publish(struct hf_select *sel)
{
	for (size_t i = 0; i < sel->n; i++) {
		struct hf_series *s = &sel->s[i];
		s->flow.opened = s->counts_[0];
		s->flow.closed = s->counts_[1];
		s->flow.failed = s->counts_[2];
	}
	for (int d = 0; d < HF_DIRS; d++) {
		sel->other[d].opened = sel->other_counts[d][0];
		sel->other[d].closed = sel->other_counts[d][1];
		sel->other[d].failed = sel->other_counts[d][2];
	}
}

/*
 * A series no longer reported keeps its totals here, so that the same
 * identifier, reported again, goes on from them: an agent that still holds
 * the old value never sees it go down. Bounded: the oldest go first.
 */
static void retire(struct hf_select *sel, const struct hf_series *s, bool dropped)
{
	size_t bound = hf_select_bound(sel), at = sel->nretired;
	uint64_t c[HF_COUNTS];

	/* Given up in this update: what its flow did in it went to other, not to the series. */
	for (int i = 0; i < HF_COUNTS; i++)
		c[i] = s->counts_[i] - (dropped ? s->delta_[i] : 0);
	if (sel->listeners || sel->conntrack || !(c[0] || c[1] || c[2]))
		return;
	if (!sel->retired) {
		sel->retired = calloc(bound, sizeof(*sel->retired));
		if (!sel->retired)
			return; /* then it starts again from 0, a counter reset to the agent */
	}
	if (at == bound) {
		at = 0;
		for (size_t i = 1; i < sel->nretired; i++)
			if (sel->retired[i].seq < sel->retired[at].seq)
				at = i;
	} else {
		sel->nretired++;
	}
	memcpy(&sel->retired[at].key, &s->flow, sizeof(s->flow));
	memcpy(sel->retired[at].id, s->id, sizeof(s->id));
	memcpy(sel->retired[at].counts, c, sizeof(c));
	sel->retired[at].seq = ++sel->retire_seq;
}

/* A new series of a flow retired under the same identifier goes on from its totals. */
static void unretire(struct hf_select *sel, struct hf_series *s)
{
	for (size_t i = 0; i < sel->nretired; i++) {
		struct retired *r = &sel->retired[i];
		if (!hf_flow_key_eq(&r->key, &s->flow) || strcmp(r->id, s->id) != 0)
			continue;
		memcpy(s->counts_, r->counts, sizeof(s->counts_));
		*r = sel->retired[--sel->nretired];
		return;
	}
}

static void other_add(struct hf_select *sel, const struct hf_flow *f)
{
	int d = f->dir - 1;

	if (sel->conntrack)
		other_traffic(sel, d, f);

	sel->other[d].conns += f->conns;
	for (unsigned int s = 0; s < HF_STATE_MAX; s++)
		sel->other[d].states[s] += f->states[s];
	for (unsigned int s = 0; s < HF_CT_TCP_MAX; s++)
		sel->other[d].ct.tcp_states[s] += f->ct.tcp_states[s];
	sel->folded[d]++;
}

/* ---- the rules ------------------------------------------------------------------------ */

/*
 * Start of an update: forget what ended last time, mark everything absent.
 * A pinned series is never forgotten.
 */
static void update_begin(struct hf_select *sel)
{
	size_t kept = 0;

	for (size_t i = 0; i < sel->n; i++) {
		struct hf_series *s = &sel->s[i];
		if (s->ended && !s->pinned) {
			retire(sel, s, false);
			continue;
		}
		s->ended = false;
		s->present = false;
		memset(s->delta_, 0, sizeof(s->delta_));
		series_zero(sel, s);
		if (kept != i)
			sel->s[kept] = *s;
		kept++;
	}
	sel->n = kept;
	for (int d = 0; d < HF_DIRS; d++) {
		memset(&sel->other[d].conns, 0,
		       sizeof(sel->other[d]) - offsetof(struct hf_flow, conns));
		sel->folded[d] = 0;
		sel->other_unknown[d] = false;
	}
}

/* Held (and ended) series before all others; among them, the latest to leave the top first. */
static int quota_cmp(const void *pa, const void *pb)
{
	const struct hf_series *a = *(const struct hf_series *const *)pa;
	const struct hf_series *b = *(const struct hf_series *const *)pb;

	if (a->ended != b->ended)
		return a->ended ? 1 : -1;
	if (a->top_us != b->top_us)
		return a->top_us > b->top_us ? -1 : 1;
	return 0;
}

/*
 * The bound: per direction at most max series outside the top (held, or
 * ended with their last zeros), pins apart. The rest are marked in @drop:
 * a held one is folded into other, an ended one forgotten without its
 * zeros. Returns 0 or -ENOMEM.
 */
static int update_bound(struct hf_select *sel, uint64_t now, bool *drop)
{
	struct hf_series **out;

	out = malloc(sel->n * sizeof(*out) + 1);
	if (!out)
		return -ENOMEM;
	for (int d = 0; d < (sel->listeners ? 1 : HF_DIRS); d++) {
		size_t m = 0;
		for (size_t i = 0; i < sel->n; i++) {
			struct hf_series *s = &sel->s[i];
			int sd = dir_index(sel, s);
			if (sd != d || s->pinned || drop[i] || (s->present && s->top_us == now))
				continue;
			out[m++] = s;
		}
		if (m <= sel->max)
			continue;
		qsort(out, m, sizeof(*out), quota_cmp);
		for (size_t k = sel->max; k < m; k++) {
			size_t i = (size_t)(out[k] - sel->s);
			drop[i] = true;
			if (!sel->listeners && out[k]->present)
				other_add(sel, &out[k]->flow);
			/* What it did in this update, not reported under its own id: other's. */
			if (!sel->listeners)
				counts_add(sel->other_counts[d], out[k]->delta_);
		}
	}
	free(out);
	return 0;
}

static void update_compact(struct hf_select *sel, const bool *drop)
{
	size_t kept = 0;

	for (size_t i = 0; i < sel->n; i++) {
		if (drop[i]) {
			retire(sel, &sel->s[i], true);
			continue;
		}
		if (kept != i)
			sel->s[kept] = sel->s[i];
		kept++;
	}
	sel->n = kept;
}

/* ---- identifiers ---------------------------------------------------------------------- */

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool id_taken(const struct hf_select *sel, const char *id)
{
	return sel->nids && bsearch(&id, sel->ids, sel->nids, sizeof(*sel->ids), id_cmp) != NULL;
}

static int ids_rebuild(struct hf_select *sel)
{
	if (sel->n > sel->ids_cap) {
		char **p = realloc(sel->ids, sel->n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		sel->ids = p;
		sel->ids_cap = sel->n;
	}
	sel->nids = 0;
	for (size_t i = 0; i < sel->n; i++)
		if (sel->s[i].id[0])
			sel->ids[sel->nids++] = sel->s[i].id;
	if (sel->nids > 1)
		qsort(sel->ids, sel->nids, sizeof(*sel->ids), id_cmp);
	return 0;
}

/*
 * The identifier of flow @f: hf_flow_id's, after "ct-PROTO-" in a
 * conntrack selection ("ct-udp-active-...", "ct-p47-forwarded-...").
 */
static int series_flow_id(const struct hf_select *sel, const struct hf_flow *f, char *buf,
			  size_t len,
			  const char *(*names)(int, const union hf_addr *, unsigned int, void *),
			  void *arg)
{
	char prefix[16];
	size_t n;
	int ret;

	if (!sel->conntrack)
		return hf_flow_id(f, buf, len, names, arg);
	hf_ct_prefix(f->proto, prefix, sizeof(prefix));
	n = strlen(prefix);
	if (n >= len)
		return -ENOSPC;
	memcpy(buf, prefix, n);
	ret = hf_flow_id(f, buf + n, len - n, names, arg);
	return ret < 0 ? ret : ret + (int)n;
}

static int cand_cmp(const void *a, const void *b, void *arg)
{
	char(*cand)[HF_ID_MAX] = arg;

	return strcmp(cand[*(const size_t *)a], cand[*(const size_t *)b]);
}

/*
 * The identifiers of the @n new flows @idx[] of @flows, into @cand: with
 * names where the name is unique, among the reported flows and among the
 * new ones; else with addresses (unique by key). @order is scratch space
 * for @n indices.
 */
static void flow_ids_new(const struct hf_select *sel, const struct hf_flow *flows,
			 const size_t *idx, size_t n, char (*cand)[HF_ID_MAX], size_t *order,
			 const char *(*names)(int, const union hf_addr *, unsigned int, void *),
			 void *arg)
{
	for (size_t k = 0; k < n; k++) {
		const struct hf_flow *f = &flows[idx[k]];
		if (!names || series_flow_id(sel, f, cand[k], HF_ID_MAX, names, arg) < 0 ||
		    id_taken(sel, cand[k]))
			series_flow_id(sel, f, cand[k], HF_ID_MAX, NULL, NULL);
		order[k] = k;
	}
	if (!names || n < 2)
		return;
	/* Two new flows of one name: neither gets it, so that neither order of arrival wins. */
	qsort_r(order, n, sizeof(*order), cand_cmp, cand);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && strcmp(cand[order[i]], cand[order[j]]) == 0)
			j++;
		for (size_t k = i; j - i > 1 && k < j; k++)
			series_flow_id(sel, &flows[idx[order[k]]], cand[order[k]], HF_ID_MAX, NULL,
				       NULL);
		i = j;
	}
}

/* ---- flows ---------------------------------------------------------------------------- */

int hf_select_pin(struct hf_select *sel, const struct hf_flow *key)
{
	struct hf_series *s;
	bool found;
	size_t at;

	if (sel->listeners)
		return -EINVAL;
	at = series_find(sel, key, NULL, &found);
	if (found)
		return -EEXIST;
	s = series_insert(sel, at);
	if (!s)
		return -ENOMEM;
	memcpy(&s->flow, key, sizeof(s->flow));
	s->pinned = true;
	/* A pin is named as it was written: with its addresses. */
	series_flow_id(sel, &s->flow, s->id, sizeof(s->id), NULL, NULL);
	return 0;
}

int hf_select_flows(struct hf_select *sel, struct hf_flow *flows, size_t n, uint64_t now,
		    const char *(*names)(int family, const union hf_addr *a, unsigned int plen,
					 void *arg),
		    void *arg)
{
	unsigned int rank[HF_DIRS] = { 0 };
	size_t nnew = 0, *order = NULL;
	char(*cand)[HF_ID_MAX] = NULL;
	bool *drop = NULL;
	int ret = -ENOMEM;

	if (sel->listeners)
		return -EINVAL;
	update_begin(sel);
	qsort(flows, n, sizeof(*flows), hf_flow_cmp);
	if (scratch_reserve(sel, HF_DIRS * (size_t)sel->max + 1) < 0)
		return -ENOMEM;
	sel->counting = !sel->conntrack && any_counts(flows, n);
	for (size_t i = 0; i < n; i++) {
		const struct hf_flow *f = &flows[i];
		uint64_t delta[HF_COUNTS] = { 0, 0, 0 };
		int d = f->dir - 1;
		bool top, found, news;

		if (d < 0 || d >= HF_DIRS)
			continue; /* no direction: cannot happen with flows of the core */
		if (sel->counting)
			counts_delta(sel, f, delta);
		news = delta[0] || delta[1] || delta[2];
		size_t at = series_find(sel, f, NULL, &found);
		struct hf_series *s = found ? &sel->s[at] : NULL;

		/*
		 * The bpf backend keeps flows whose connections all ended, for
		 * their counters: they are not ranked, and count where their
		 * flow is reported, else in other. A reported one that did
		 * something in the interval is still there (held), with 0.
		 */
		if (f->conns == 0 && !sel->conntrack) {
			if (!s) {
				counts_add(sel->other_counts[d], delta);
				continue;
			}
			counts_add(s->counts_, delta);
			memcpy(s->delta_, delta, sizeof(delta));
			if (news) {
				s->flow = *f;
				s->present = true;
			}
			continue;
		}
		top = rank[d]++ < sel->max;
		if (!s) {
			/* A new series starts at 0: an agent's rate needs two values. */
			counts_add(sel->other_counts[d], delta);
			if (top)
				sel->scratch[nnew++] = i;
			else
				other_add(sel, f);
			continue;
		}
		counts_add(s->counts_, delta);
		memcpy(s->delta_, delta, sizeof(delta));
		s->flow = *f;
		s->present = true;
		if (top || s->pinned)
			s->top_us = now;
	}
	/* Reported flows that left the top for good, or have no connection any more. */
	drop = calloc(sel->n + nnew + 1, sizeof(*drop));
	if (!drop)
		return -ENOMEM;
	for (size_t i = 0; i < sel->n; i++) {
		struct hf_series *s = &sel->s[i];
		if (!s->present) {
			s->ended = !s->pinned;
			continue;
		}
		if (!s->pinned && s->top_us != now && now - s->top_us >= sel->hold_us) {
			other_add(sel, &s->flow);
			counts_add(sel->other_counts[s->flow.dir - 1], s->delta_);
			drop[i] = true;
		}
	}
	if (update_bound(sel, now, drop) < 0)
		goto out;
	update_compact(sel, drop);
	/* New top flows, named against the identifiers in use and each other. */
	if (nnew) {
		cand = malloc(nnew * sizeof(*cand));
		order = malloc(nnew * sizeof(*order));
		if (!cand || !order || ids_rebuild(sel) < 0)
			goto out;
		flow_ids_new(sel, flows, sel->scratch, nnew, cand, order, names, arg);
	}
	for (size_t k = 0; k < nnew; k++) {
		const struct hf_flow *f = &flows[sel->scratch[k]];
		bool found;
		size_t at = series_find(sel, f, NULL, &found);
		struct hf_series *s = series_insert(sel, at);

		if (!s)
			goto out;
		s->flow = *f;
		s->present = true;
		s->top_us = s->first_us = now;
		memcpy(s->id, cand[k], sizeof(s->id));
		if (sel->conntrack)
			traffic_before(sel, f, s->before);
		else
			unretire(sel, s);
	}
	if (sel->conntrack) {
		for (int d = 0; d < HF_DIRS; d++) {
			struct hf_flow_ct *ct = &sel->other[d].ct;
			ct->bytes_sent = sel->other_bytes[d][0];
			ct->bytes_received = sel->other_bytes[d][1];
			ct->packets_sent = sel->other_packets[d][0];
			ct->packets_received = sel->other_packets[d][1];
			ct->traffic_known = !sel->other_unknown[d];
		}
	}
	if (sel->conntrack || sel->counting) {
		if (prev_keep(sel, flows, n) < 0)
			goto out;
	} else {
		sel->nprev = 0;
	}
	if (!sel->conntrack)
		counts_publish(sel);
	ret = 0;
out:
	free(cand);
	free(order);
	free(drop);
	return ret;
}

/* ---- listeners ------------------------------------------------------------------------ */

double hf_listener_fill(const struct hf_listener *l)
{
	double fill = 0;
	unsigned int n = l->nsocks < HF_LISTENER_SOCKS_MAX ? l->nsocks : HF_LISTENER_SOCKS_MAX;

	if (!l->backlog_known)
		return -1;
	/* The kernel drops a SYN once a member's queue exceeds its backlog (sk_acceptq_is_full). */
	for (unsigned int i = 0; i < n; i++) {
		double f = 100.0 * l->socks[i].accept_queue / ((double)l->socks[i].backlog + 1);
		if (f > fill)
			fill = f;
	}
	if (n == 0 || l->nsocks > HF_LISTENER_SOCKS_MAX) {
		/* Members beyond those kept: the group's average is all that is known. */
		double f = 100.0 * l->accept_queue /
			   ((double)l->backlog + (l->nsocks ? l->nsocks : 1));
		if (f > fill)
			fill = f;
	}
	return fill;
}

bool hf_listener_admitted(const struct hf_filter *f, const struct hf_listener *l)
{
	unsigned int fam = l->family == AF_INET ? HF_FAMILY_V4 : HF_FAMILY_V6;
	bool listed = false;

	if (!f)
		return true;
	if (f->families && !(f->families & fam))
		return false;
	if (f->ignore_loopback && hf_addr_is_loopback(l->family, &l->addr))
		return false;
	for (unsigned int i = 0; i < f->n_exclude_port; i++)
		if (f->exclude_port[i] == l->port)
			return false;
	if (!f->n_include_port)
		return true;
	for (unsigned int i = 0; i < f->n_include_port && !listed; i++)
		listed = f->include_port[i] == l->port;
	return listed;
}

/* The fullest first; then by queue, half-open and connections; then by key, for a total order. */
static int listener_rank_cmp(const struct hf_listener *a, const struct hf_listener *b)
{
	double fa = hf_listener_fill(a), fb = hf_listener_fill(b);

	if (fa != fb)
		return fa > fb ? -1 : 1;
	if (a->accept_queue != b->accept_queue)
		return a->accept_queue > b->accept_queue ? -1 : 1;
	if (a->syn_recv != b->syn_recv)
		return a->syn_recv > b->syn_recv ? -1 : 1;
	if (a->established != b->established)
		return a->established > b->established ? -1 : 1;
	return hf_listener_key_cmp(a, b);
}

static int rank_cmp(const void *pa, const void *pb, void *arg)
{
	const struct hf_listener *l = arg;

	return listener_rank_cmp(&l[*(const size_t *)pa], &l[*(const size_t *)pb]);
}

int hf_select_listeners(struct hf_select *sel, const struct hf_listener *l, size_t n,
			const struct hf_filter *f, uint64_t now)
{
	size_t m = 0, nnew = 0;
	unsigned int rank = 0;
	bool *drop = NULL;
	size_t *order, *fresh;
	int ret = -ENOMEM;

	if (!sel->listeners)
		return -EINVAL;
	update_begin(sel);
	if (scratch_reserve(sel, 2 * n + 1) < 0)
		return -ENOMEM;
	order = sel->scratch;
	fresh = sel->scratch + n;
	for (size_t i = 0; i < n; i++)
		if (hf_listener_admitted(f, &l[i]))
			order[m++] = i;
	qsort_r(order, m, sizeof(*order), rank_cmp, (void *)l);
	for (size_t k = 0; k < m; k++) {
		const struct hf_listener *li = &l[order[k]];
		bool top = rank++ < sel->max, found;
		size_t at = series_find(sel, NULL, li, &found);

		if (!found) {
			if (top)
				fresh[nnew++] = order[k];
			continue;
		}
		sel->s[at].listener = *li;
		sel->s[at].present = true;
		if (top)
			sel->s[at].top_us = now;
	}
	drop = calloc(sel->n + 1, sizeof(*drop));
	if (!drop)
		return -ENOMEM;
	for (size_t i = 0; i < sel->n; i++) {
		struct hf_series *s = &sel->s[i];
		if (!s->present)
			s->ended = true;
		else if (s->top_us != now && now - s->top_us >= sel->hold_us)
			drop[i] = true;
	}
	if (update_bound(sel, now, drop) < 0)
		goto out;
	update_compact(sel, drop);
	for (size_t k = 0; k < nnew; k++) {
		const struct hf_listener *li = &l[fresh[k]];
		bool found;
		size_t at = series_find(sel, NULL, li, &found);
		struct hf_series *s = series_insert(sel, at);

		if (!s)
			goto out;
		s->listener = *li;
		s->present = true;
		s->top_us = s->first_us = now;
		hf_listener_id(li, s->id, sizeof(s->id));
	}
	ret = 0;
out:
	free(drop);
	return ret;
}
