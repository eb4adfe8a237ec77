/*
 * bpfflow.c - the bpf backend's collector: the programs' per-flow counts
 * (bpf.c reads the maps) turned into flows and listeners as the sockets
 * collector counts them, the time-wait and request sockets from the
 * programs when their timers are followed and nothing says otherwise,
 * else from a netlink dump, and the periodic reconcile against a netlink
 * snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"

static void full_key(const struct hf_sock *s, enum hf_dir dir, struct hf_flow *key)
{
	memset(key, 0, FLOW_KEYLEN);
	key->dir = (uint8_t)dir;
	key->family = s->family;
	key->proto = IPPROTO_TCP;
	key->pplen = s->family == AF_INET ? 32 : 128;
	key->laddr = s->laddr;
	key->paddr = s->raddr;
	if (dir == HF_DIR_PASSIVE)
		key->lport = s->lport;
	else
		key->pport = s->rport;
}

/*
 * One flow of the programs (or of the corrections alone): @states
 * connections per state, counted as hf__on_connection() counts one socket:
 * host totals, the listener's figures, then the filter and peer grouping.
 */
static int flow_count(struct hf_ctx *ctx, struct hf_sock *s, enum hf_dir dir,
		      const uint32_t states[HF_STATE_MAX], const struct hf_flow *counters)
{
	const struct hf_filter *f = ctx->filter;
	struct hf_listener *l = NULL;
	struct hf_flow key, *flow = NULL;

	if (dir == HF_DIR_PASSIVE) {
		s->state = HF_ESTABLISHED;
		hf_classify(ctx, s, ctx->port_lo, ctx->port_hi, &l);
	}
	if (l) {
		l->syn_recv += states[HF_SYN_RECV];
		l->established += states[HF_ESTABLISHED];
	}
	full_key(s, dir, &key);
	key.netns = ctx->cur_ns;
	hf__key_peer_prefix(f, &key);
	for (unsigned int st = 1; st < HF_STATE_MAX; st++) {
		if (!states[st])
			continue;
		ctx->totals.sockets += states[st];
		ctx->totals.states[st] += states[st];
		s->state = (uint8_t)st;
		if (f && !hf__filter_admits(f, s, dir))
			continue;
		if (!flow && !(flow = table_get(&ctx->flows, &key, FLOW_KEYLEN)))
			return -ENOMEM;
		flow->conns += states[st];
		flow->states[st] += states[st];
	}
	s->state = 0; /* no state is ignored: the counters follow the flow's other filters */
	if (counters && (counters->opened || counters->closed || counters->failed) &&
	    (!f || hf__filter_admits(f, s, dir))) {
		if (!flow && !(flow = table_get(&ctx->flows, &key, FLOW_KEYLEN)))
			return -ENOMEM;
		flow->opened += counters->opened;
		flow->closed += counters->closed;
		flow->failed += counters->failed;
	}
	if (flow && !flow->inode)
		flow->inode = dir == HF_DIR_PASSIVE && l ? l->inode : s->inode;
	return 0;
}

/* The programs' counts of one entry plus its corrections; marks the corrections used. */
static int bpf_entry(struct hf_ctx *ctx, const struct hf_bpf_key *k, const struct hf_bpf_val *v,
		     struct hf_sock *s, enum hf_dir *dir, uint32_t states[HF_STATE_MAX],
		     uint32_t *tw_fw2, struct hf_flow **fixp)
{
	struct hf_flow key, *fix;
	int ret = hf__bpf_decode(k, v, s, dir, states, tw_fw2);

	if (ret == -EBADMSG)
		return ret;
	full_key(s, *dir, &key);
	key.netns = k->netns; /* corrections are kept by namespace inode */
	fix = table_find(&ctx->fix, &key, FLOW_KEYLEN);
	*fixp = fix;
	if (!fix)
		return ret;
	fix->inode = ctx->gen;
	/*
	 * From the map's own counts, below zero included: a time-wait or
	 * request socket born before the attach takes its count below zero
	 * when it dies, and its correction makes up for it.
	 */
	for (unsigned int st = 1; st < HF_STATE_MAX; st++) {
		int64_t n = (st < HF_BPF_STATES && st != HF_LISTEN && st != HF_CLOSE ?
				     (int64_t)v->states[st] :
				     0) +
			    (int32_t)fix->states[st];
		states[st] = n > 0 ? (uint32_t)n : 0;
	}
	return 0;
}

/* The programs' time-wait and request sockets, unless this namespace's dump counted them. */
static void unhashed(const struct hf_ctx *ctx, uint32_t states[HF_STATE_MAX])
{
	if (!ctx->bpf_unhashed)
		states[HF_SYN_RECV] = states[HF_TIME_WAIT] = 0;
}

static int on_bpf_flow(const struct hf_bpf_key *k, const struct hf_bpf_val *v, void *arg)
{
	struct hf_ctx *ctx = arg;
	struct hf_flow counters, *fix;
	uint32_t states[HF_STATE_MAX], tw_fw2;
	struct hf_sock s;
	enum hf_dir dir;

	if (bpf_entry(ctx, k, v, &s, &dir, states, &tw_fw2, &fix) < 0)
		return 0;
	unhashed(ctx, states);
	/* Time-wait sockets in FIN_WAIT2: as inet_diag reports them, unless the dump counted them. */
	if (ctx->bpf_unhashed) {
		states[HF_FIN_WAIT2] += tw_fw2;
		ctx->bpf_tw_fw2 += tw_fw2;
	}
	counters.opened = v->opened;
	counters.closed = v->closed;
	counters.failed = v->failed;
	return flow_count(ctx, &s, dir, states, &counters);
}

/* A flow the corrections hold and the programs do not: the reconcile saw it, they never did. */
static void fix_sock(const struct hf_flow *fix, struct hf_sock *s, uint32_t states[HF_STATE_MAX])
{
	memset(s, 0, sizeof(*s));
	s->family = fix->family;
	s->laddr = fix->laddr;
	s->raddr = fix->paddr;
	s->lport = fix->lport;
	s->rport = fix->pport;
	for (unsigned int st = 0; st < HF_STATE_MAX; st++)
		states[st] = (int32_t)fix->states[st] > 0 ? fix->states[st] : 0;
}

struct cmp_arg {
	struct hf_ctx *ctx;
	struct table *t;
};

static int on_bpf_cmp(const struct hf_bpf_key *k, const struct hf_bpf_val *v, void *arg)
{
	struct cmp_arg *a = arg;
	uint32_t states[HF_STATE_MAX], tw_fw2;
	struct hf_flow key, *fix, *c;
	struct hf_sock s;
	enum hf_dir dir;

	if (bpf_entry(a->ctx, k, v, &s, &dir, states, &tw_fw2, &fix) < 0)
		return 0;
	/* Compared as the snapshot counts them (tw_merged): every time-wait socket under TIME_WAIT. */
	states[HF_TIME_WAIT] += tw_fw2;
	full_key(&s, dir, &key);
	key.netns = k->netns;
	c = table_get(a->t, &key, FLOW_KEYLEN);
	if (!c)
		return -ENOMEM;
	for (unsigned int st = 1; st < HF_STATE_MAX; st++) {
		c->states[st] += states[st];
		c->conns += states[st];
	}
	c->opened += v->opened;
	c->closed += v->closed;
	c->failed += v->failed;
	return 0;
}

/* The programs' counts with the corrections, unfiltered, into @t. */
static int read_counts(struct hf_ctx *ctx, struct table *t)
{
	struct cmp_arg a = { ctx, t };
	uint32_t states[HF_STATE_MAX];
	struct hf_sock s;
	int ret;

	table_reset(t);
	ctx->gen++;
	ret = hf__bpf_read(ctx->bpf, ctx->ns.active, on_bpf_cmp, &a);
	for (size_t i = 0; ret == 0 && i < ctx->fix.n; i++) {
		struct hf_flow *fix = table_item(&ctx->fix, i), *c;
		if (fix->inode == ctx->gen)
			continue;
		fix_sock(fix, &s, states);
		c = table_get(t, fix, FLOW_KEYLEN);
		if (!c)
			return -ENOMEM;
		for (unsigned int st = 1; st < HF_STATE_MAX; st++)
			c->states[st] += states[st];
	}
	return ret;
}

/* The states compared: all, or all but those of time-wait and request sockets. */
#define HF__STATES_ALL (((1u << HF_STATE_MAX) - 1u) & ~1u)
#define HF__STATES_FULL (HF__STATES_ALL & ~((1u << HF_SYN_RECV) | (1u << HF_TIME_WAIT)))

static bool same_states_in(const struct hf_flow *a, const struct hf_flow *b, uint32_t mask)
{
	for (unsigned int st = 1; st < HF_STATE_MAX; st++)
		if ((mask & (1u << st)) && (a ? a->states[st] : 0) != (b ? b->states[st] : 0))
			return false;
	return true;
}

static bool same_states(const struct hf_flow *a, const struct hf_flow *b)
{
	return same_states_in(a, b, HF__STATES_ALL);
}

/*
 * Whether no connection of the flow changed state between the reads @a and
 * @b. Equal counts alone do not say it: under churn a connection opens and
 * another closes between the reads (the counts are the same, the snapshot
 * in between saw one more or less). With opened, closed and failed equal
 * too, none was born or ended, and a transition between two counted
 * states would change the counts: TCP's transitions never lead back.
 */
static bool held_still(const struct hf_flow *a, const struct hf_flow *b)
{
	if (!same_states(a, b))
		return false;
	if (!a || !b)
		return !a && !b;
	return a->opened == b->opened && a->closed == b->closed && a->failed == b->failed;
}

/*
 * Correct @key's counts from @have to @want, when the programs held still
 * around the snapshot; a flow that moved and differs adds to *@moving.
 */
static int u32_push(uint32_t **a, size_t *n, size_t *cap, uint32_t v);
static bool u32_has(const uint32_t *a, size_t n, uint32_t v);

/*
 * Whether namespace @inode was seeded since the last reconcile: what the
 * seed and the transitions during it disagree on, and the time-wait and
 * request sockets older than the programs, are the seed's corrections.
 */
static bool fresh(const struct hf_ctx *ctx, uint32_t inode)
{
	for (size_t i = 0; i < ctx->ns.n; i++) {
		const struct hf__ns *e = &ctx->ns.v[i];
		uint32_t ino = e->pub.self ? hf__bpf_netns(ctx->bpf) : (uint32_t)e->pub.inode;
		if (ino == inode)
			return e->bpf_seeded && !e->bpf_reconciled;
	}
	return false;
}

/*
 * The states a reconcile corrects in @key's namespace. The programs' time-
 * wait and request sockets are corrected for the seed (those older than
 * the programs) and after a sign of loss only: otherwise a difference is a
 * time-wait socket netlink moved to the other direction when a listener
 * on its port opened or closed, which its end sets right (the programs
 * take it back from the flow it was counted in), and a correction would
 * then stay as an error.
 */
static uint32_t correctable(const struct hf_ctx *ctx, const struct hf_flow *key)
{
	return ctx->fix_unhashed || fresh(ctx, key->netns) ? HF__STATES_ALL : HF__STATES_FULL;
}

static int correct(struct hf_ctx *ctx, const struct hf_flow *key, const struct hf_flow *want,
		   uint64_t *n, uint64_t *moving)
{
	const struct hf_flow *a = table_find(&ctx->cmp[0], key, FLOW_KEYLEN);
	const struct hf_flow *b = table_find(&ctx->cmp[1], key, FLOW_KEYLEN);
	uint32_t mask = correctable(ctx, key);
	struct hf_flow *fix;

	if (!held_still(a, b)) {
		if (!same_states_in(a, want, mask) && !same_states_in(b, want, mask)) {
			*moving += 1;
			if (!u32_has(ctx->bmoving, ctx->nbmoving, key->netns) &&
			    u32_push(&ctx->bmoving, &ctx->nbmoving, &ctx->capbmoving, key->netns) <
				    0)
				return -ENOMEM;
		}
		return 0;
	}
	if (same_states_in(a, want, mask))
		return 0;
	fix = table_get(&ctx->fix, key, FLOW_KEYLEN);
	if (!fix)
		return -ENOMEM;
	for (unsigned int st = 1; st < HF_STATE_MAX; st++) {
		int64_t d = (int64_t)(want ? want->states[st] : 0) - (a ? a->states[st] : 0);
		if (!(mask & (1u << st)))
			continue;
		fix->states[st] += (uint32_t)d;
		*(fresh(ctx, key->netns) ? &ctx->bstats.seed_corrections : n) +=
			(uint64_t)(d < 0 ? -d : d);
	}
	return 0;
}

/* The inode of the snapshot's namespace @id (without hf_netns_select(), the own one's). */
static uint32_t snap_inode(const struct hf_ctx *ctx, uint32_t id)
{
	const struct hf_netns *ns;

	if (!ctx->snap->ns.active)
		return hf__bpf_netns(ctx->bpf);
	ns = hf_netns_find(ctx->snap, id);
	return ns ? (uint32_t)ns->inode : 0;
}

/* Whether the snapshot read namespace @inode: flows of the others are left as they are. */
static bool snap_has(const struct hf_ctx *ctx, uint32_t inode)
{
	size_t n = hf_netns_count(ctx->snap);

	if (!ctx->snap->ns.active)
		return inode == hf__bpf_netns(ctx->bpf);
	for (size_t i = 0; i < n; i++) {
		const struct hf_netns *ns = hf_netns_get(ctx->snap, (uint32_t)i);
		if (ns && ns->collected && (uint32_t)ns->inode == inode)
			return true;
	}
	return false;
}

/*
 * The reconcile: the programs' counts read before and after a netlink
 * snapshot; a flow whose counts held still and differ from the snapshot
 * is corrected to it. Corrections are kept here, not written into the
 * map, where they would race with the programs' updates.
 */
static int reconcile(struct hf_ctx *ctx, uint64_t *n, uint64_t *moving)
{
	struct hf_flow *snap;
	size_t ns;
	int ret;

	*moving = 0;
	ctx->nbmoving = 0;
	ret = read_counts(ctx, &ctx->cmp[0]);
	if (ret == 0)
		ret = hf_collect(ctx->snap, NULL);
	if (ret == 0)
		ret = read_counts(ctx, &ctx->cmp[1]);
	if (ret < 0) {
		snprintf(ctx->err, sizeof(ctx->err), "bpf reconcile: %.600s",
			 ctx->snap->err[0] ? ctx->snap->err : strerror(-ret));
		return ret;
	}
	/* The snapshot's flows by namespace inode, as the programs key them. */
	table_reset(&ctx->cmp[2]);
	snap = hf_flows(ctx->snap, &ns);
	for (size_t i = 0; i < ns && ret == 0; i++) {
		struct hf_flow f = snap[i];
		f.netns = snap_inode(ctx, f.netns);
		struct hf_flow *c = table_get(&ctx->cmp[2], &f, FLOW_KEYLEN);
		if (!c)
			return -ENOMEM;
		*c = f;
		ret = correct(ctx, &f, &f, n, moving);
	}
	for (size_t i = 0; i < ctx->cmp[0].n && ret == 0; i++) {
		struct hf_flow *a = table_item(&ctx->cmp[0], i);
		if (snap_has(ctx, a->netns) && !table_find(&ctx->cmp[2], a, FLOW_KEYLEN))
			ret = correct(ctx, a, NULL, n, moving);
	}
	ctx->bstats.reconciles++;
	/* A seeded namespace whose flows all matched or were corrected: its counts hold. */
	for (size_t i = 0; ret == 0 && i < ctx->ns.n; i++) {
		struct hf__ns *e = &ctx->ns.v[i];
		uint32_t ino = e->pub.self ? hf__bpf_netns(ctx->bpf) : (uint32_t)e->pub.inode;
		if (e->bpf_seeded && !u32_has(ctx->bmoving, ctx->nbmoving, ino))
			e->bpf_reconciled = true;
	}
	clock_gettime(CLOCK_MONOTONIC, &ctx->next_reconcile);
	ctx->next_reconcile.tv_sec += ctx->reconcile_every;
	return ret;
}

#define HF__STATES_UNFOLLOWED ((1u << HF_TIME_WAIT) | (1u << HF_FIN_WAIT2) | (1u << HF_SYN_RECV))

static int on_unfollowed(const struct hf_sock *s, void *arg)
{
	if (s->timewait || s->state == HF_SYN_RECV)
		return hf__on_connection(s, arg);
	return 0;
}

/*
 * What says a count was lost, as one figure that grows with any of them:
 * flows without room, storage not made, counts that would go below 0,
 * and transitions that neither set_state nor set_state_rescue made. The
 * misses are read before the rescues (hf__bpf_errors): a miss whose
 * rescue is read too is no loss, and a rescue read ahead of its miss only
 * delays a loss to the next collection.
 */
static uint64_t losses(const uint64_t err[HF_BPF_ERR_MAX])
{
	uint64_t missed = err[HF_BPF_ERR_MISSED] > err[HF_BPF_ERR_RESCUED] ?
				  err[HF_BPF_ERR_MISSED] - err[HF_BPF_ERR_RESCUED] :
				  0;

	return err[HF_BPF_ERR_FULL] + err[HF_BPF_ERR_STORAGE] + err[HF_BPF_ERR_UNDERFLOW] + missed;
}

/*
 * A namespace's sockstat and sockstat6, through the files opened inside
 * it (hf__ns_enter) or under @root (/proc, /proc/PID): *@inuse, the TCP
 * sockets its hashes hold, listeners and full sockets (what the kernel
 * counts as it hashes and unhashes them), and *@tw, its time-wait
 * sockets. Both -1 when unreadable.
 */
static void sockstat(const struct hf__ns *e, const char *root, int64_t *inuse, int64_t *tw)
{
	static const char *const file[2] = { "net/sockstat", "net/sockstat6" };
	static const char *const tag[2] = { "TCP: inuse ", "TCP6: inuse " };
	char path[320], buf[512];
	const char *p;
	ssize_t n;

	*inuse = *tw = -1;
	if (!root && !e->stat_fd[0])
		return;
	for (int i = 0; i < 2; i++) {
		if (e->stat_fd[i] > 0) {
			n = pread(e->stat_fd[i] - 1, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
		} else {
			snprintf(path, sizeof(path), "%s/%s", root ? root : "/nonexistent",
				 file[i]);
			n = hf__read_small(path, buf, sizeof(buf));
		}
		if (n <= 0 || !(p = strstr(buf, tag[i]))) {
			*inuse = *tw = -1;
			return;
		}
		*inuse = (*inuse < 0 ? 0 : *inuse) + strtoll(p + strlen(tag[i]), NULL, 10);
		/* One count of time-wait sockets for both families, on the TCP: line. */
		if (i == 0 && (p = strstr(p, " tw ")))
			*tw = strtoll(p + 4, NULL, 10);
	}
}

/*
 * The quiet check of one namespace. Some losses leave no trace in any
 * counter (seen with other instances loading and unloading their
 * programs): the full sockets counted are then not the ones the kernel
 * holds. Under churn the two are read at different moments and differ
 * anyway; when they differ twice in a row with neither moving, nothing
 * is in flight and a count is wrong: the next collection reseeds and
 * reconciles. A difference a reconcile finds nothing to correct for (a
 * child the programs wait to key, a socket no flow could hold) is taken
 * as explained until it changes. @in: sockstat's inuse (-1: unknown);
 * @counted: full sockets and listeners.
 */
static void quiet_check(struct hf_ctx *ctx, struct hf__ns *e, int64_t in, int64_t counted,
			int64_t tw, int64_t twc)
{
	bool wrong;

	if (in < 0)
		return;
	/* The time-wait sockets too, when the programs' stood (twc >= 0): exact, nothing explained. */
	wrong = in - counted != e->inuse_explained || (twc >= 0 && tw >= 0 && tw != twc);
	if (wrong && in == e->inuse_last && counted == e->counted_last && tw == e->tw_last &&
	    twc == e->twc_last)
		ctx->suspect = e->suspect = true;
	e->inuse_last = in;
	e->counted_last = counted;
	e->tw_last = tw;
	e->twc_last = twc;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

struct seed_arg {
	struct hf__bpf *bpf;
	uint16_t port_lo, port_hi;
	int ret;
};

/* From a thread inside the namespace: the iterator walks the namespace it is made in. */
static void seed_inside(void *arg)
{
	struct seed_arg *a = arg;

	a->ret = hf__bpf_seed_ports(a->bpf, a->port_lo, a->port_hi);
}

/* Run the seed in @e (the own namespace: from here). Returns 0 or -errno. */
static int seed_ns(struct hf_ctx *ctx, struct hf__ns *e)
{
	struct seed_arg a = { ctx->bpf, e->port_lo, e->port_hi, 0 };
	int ret;

	if (e->pub.self) {
		hf_port_range_read(ctx->proc_root, &a.port_lo, &a.port_hi);
		return hf__bpf_seed_ports(ctx->bpf, a.port_lo, a.port_hi);
	}
	ret = hf__ns_run(e, seed_inside, &a);
	return ret < 0 ? ret : a.ret;
}

/* After a loss: the seed again in every namespace seeded so far. */
static int reseed(struct hf_ctx *ctx)
{
	int ret;

	if (!ctx->ns.active)
		return hf__bpf_reseed(ctx->bpf);
	for (size_t i = 0; i < ctx->ns.n; i++) {
		struct hf__ns *e = &ctx->ns.v[i];
		if (!e->bpf_seeded)
			continue;
		ret = seed_ns(ctx, e);
		/* Gone since: its sockets went with it. */
		if (ret < 0 && ret != -ENOENT && ret != -ESRCH)
			return ret;
	}
	return 0;
}

/* The reconcile when due: on any loss, on a failed quiet check, on a new seed, or periodically. */
static int reconcile_if_due(struct hf_ctx *ctx)
{
	uint64_t err[HF_BPF_ERR_MAX], loss, moving, fixed;
	struct timespec now;
	bool due, lost, seeded;
	int ret;

	ret = hf__bpf_expire(ctx->bpf);
	if (ret < 0) {
		snprintf(ctx->err, sizeof(ctx->err),
			 "bpf: settling time-wait and request sockets: %s", strerror(-ret));
		return ret;
	}
	ret = hf__bpf_errors(ctx->bpf, err);
	if (ret < 0) {
		snprintf(ctx->err, sizeof(ctx->err), "bpf: reading the error counters: %s",
			 strerror(-ret));
		return ret;
	}
	loss = losses(err);
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Any lost event since the last reconcile asks for one now. */
	lost = loss != ctx->bloss;
	due = lost || ctx->suspect || ctx->new_seed ||
	      (ctx->unsettled && !before(&now, &ctx->retry_at)) ||
	      (ctx->reconcile_every && !before(&now, &ctx->next_reconcile));
	ctx->bstats.map_full = err[HF_BPF_ERR_FULL];
	ctx->bstats.lost = loss - err[HF_BPF_ERR_FULL];
	ctx->bstats.rescued = err[HF_BPF_ERR_RESCUED];
	ctx->bstats.req_untraced = err[HF_BPF_ERR_REQ_UNTRACED];
	if (!due)
		return 0;
	/* A lost birth or transition of a live socket: the seed counts it again. */
	if ((lost || ctx->suspect) && (ret = reseed(ctx)) < 0) {
		snprintf(ctx->err, sizeof(ctx->err), "bpf: seed (iter/tcp): %s", strerror(-ret));
		return ret;
	}
	fixed = ctx->bstats.corrections;
	ctx->fix_unhashed = lost || ctx->suspect;
	ret = reconcile(ctx, &ctx->bstats.corrections, &moving);
	ctx->fix_unhashed = false;
	if (ret < 0)
		return ret;
	ctx->bloss = loss;
	seeded = ctx->new_seed;
	ctx->new_seed = false;
	for (size_t i = 0; i < ctx->ns.n; i++) {
		struct hf__ns *e = &ctx->ns.v[i];
		if (e->suspect && fixed == ctx->bstats.corrections && !moving)
			e->inuse_explained = e->inuse_last - e->counted_last;
		e->suspect = false;
	}
	ctx->suspect = false;
	/*
	 * A lost close leaves a count no socket will take back: the
	 * reconcile corrects it once its flow holds still. While a flow
	 * that differs keeps moving, try again, 1 s after the loss, then
	 * twice as long each time, up to a minute.
	 */
	if (lost || ctx->unsettled || (seeded && moving)) {
		ctx->unsettled = moving != 0;
		ctx->retry_gap = lost || !ctx->retry_gap ? 1 :
				 ctx->retry_gap < 30	 ? ctx->retry_gap * 2 :
							   60;
		ctx->retry_at = now;
		ctx->retry_at.tv_sec += ctx->retry_gap;
	}
	return 0;
}

/*
 * Whether the programs' time-wait and request sockets of namespace @e
 * (inode @inode) are exact: their timers followed, its counts reconciled
 * since its seed (time-wait and request sockets born before the attach
 * take counts below zero as they die, and the reconcile's corrections make
 * up for them), no listener's child waiting to be keyed (the programs
 * count it nowhere until then), and no time-wait socket that may be in
 * FIN_WAIT2 (the programs count all under TIME_WAIT).
 */
static bool unhashed_exact(struct hf_ctx *ctx, const struct hf__ns *e, uint32_t inode)
{
	struct timespec now;

	if (!hf__bpf_timers(ctx->bpf) || !e->bpf_reconciled || ctx->bpf_pending > 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return hf__bpf_fw2_until(ctx->bpf, inode) <
	       (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/*
 * The listeners (a LISTEN-only dump: the kernel walks the listening hash
 * alone; none where the programs know of none), then, unless the
 * programs' counts are exact (unhashed_exact()), time-wait sockets
 * (TIME_WAIT, or FIN_WAIT2 for an orphan's) and request sockets
 * (SYN_RECV), with the children still in SYN_RECV the programs leave to
 * this dump. Sets *@unfollowed to the sockets of the second dump
 * and ctx->bpf_unhashed when the programs' counts stand instead.
 */
static int dumps(struct hf_ctx *ctx, struct hf_diag *d, const struct hf__ns *e, uint32_t inode,
		 int64_t tw, uint64_t *unfollowed)
{
	uint64_t before_ = ctx->totals.sockets, listeners = ctx->totals.listeners;
	int ret;

	memset(ctx->listen_ports, 0, sizeof(ctx->listen_ports));
	ctx->bpf_unhashed = false;
	/* The programs know every listener of a namespace once it is seeded: none, no dump. */
	ret = e->bpf_seeded && hf__bpf_listeners(ctx->bpf, inode) <= 0 ?
		      0 :
		      hf_diag_dump(d, ctx->mode, HF__STATES_LISTEN, HF_FAMILY_ALL, hf__on_listener,
				   ctx);
	/*
	 * The programs' counts exact, or no time-wait socket (sockstat) and
	 * no listener (no request socket, no child without one): nothing the
	 * second dump would add, and no walk of the connection hash for it.
	 */
	if (ret == 0 && unhashed_exact(ctx, e, inode)) {
		ctx->bpf_unhashed = true;
		*unfollowed = 0;
		ctx->bstats.dumps_skipped++;
		return 0;
	}
	if (ret == 0 && tw == 0 && ctx->totals.listeners == listeners) {
		*unfollowed = 0;
		ctx->bstats.dumps_skipped++;
		return 0;
	}
	if (ret == 0)
		ret = hf_diag_dump(d, ctx->mode, HF__STATES_UNFOLLOWED, HF_FAMILY_ALL,
				   on_unfollowed, ctx);
	*unfollowed = ctx->totals.sockets - before_;
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "netlink inet_diag dump: %s: %s",
			 hf_diag_strerror(d), strerror(-ret));
	return ret;
}

/* The corrections of namespace @inode the map had no flow for this time. */
static int corrections_only(struct hf_ctx *ctx, uint32_t inode)
{
	uint32_t states[HF_STATE_MAX];
	struct hf_sock s;
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < ctx->fix.n; i++) {
		struct hf_flow *fix = table_item(&ctx->fix, i);
		if (fix->inode != ctx->gen && fix->netns == inode) {
			fix_sock(fix, &s, states);
			unhashed(ctx, states);
			ret = flow_count(ctx, &s, (enum hf_dir)fix->dir, states, NULL);
		}
	}
	return ret;
}

/* ---- every namespace: hf_netns_select() on a bpf collector ------------------------- */

struct hf__bpf_ent {
	struct hf_bpf_key k;
	struct hf_bpf_val v;
};

static int on_bpf_keep(const struct hf_bpf_key *k, const struct hf_bpf_val *v, void *arg)
{
	struct hf_ctx *ctx = arg;

	if (ctx->nbents == ctx->capbents) {
		size_t cap = ctx->capbents ? 2 * ctx->capbents : 256;
		struct hf__bpf_ent *n = realloc(ctx->bents, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ctx->bents = n;
		ctx->capbents = cap;
	}
	ctx->bents[ctx->nbents].k = *k;
	ctx->bents[ctx->nbents++].v = *v;
	return 0;
}

/*
 * The full sockets and listeners counted since @start: the sockets the
 * dump added (@unfollowed) or the programs' time-wait and request ones
 * left out.
 */
static int64_t full_counted(const struct hf_ctx *ctx, const struct hf_totals *start,
			    uint64_t unfollowed)
{
	int64_t n = (int64_t)(ctx->totals.sockets - start->sockets - unfollowed +
			      ctx->totals.listeners - start->listeners);

	if (ctx->bpf_unhashed)
		n -= (int64_t)(ctx->totals.states[HF_TIME_WAIT] - start->states[HF_TIME_WAIT] +
			       ctx->totals.states[HF_SYN_RECV] - start->states[HF_SYN_RECV] +
			       ctx->bpf_tw_fw2);
	return n;
}

/* One namespace of the map read (ctx->bents), after its dumps through @d. */
static int collect_ns(struct hf_ctx *ctx, struct hf__ns *e, struct hf_diag *d, const char *root)
{
	uint32_t inode = e->pub.self ? hf__bpf_netns(ctx->bpf) : (uint32_t)e->pub.inode;
	struct hf_totals start = ctx->totals;
	uint64_t unfollowed;
	int64_t in, tw;
	int ret;

	ctx->used = HF_BACKEND_BPF;
	ctx->bpf_tw_fw2 = 0;
	sockstat(e, root, &in, &tw);
	ret = dumps(ctx, d, e, inode, tw, &unfollowed);
	for (size_t i = 0; ret == 0 && i < ctx->nbents; i++)
		if (ctx->bents[i].k.netns == inode)
			ret = on_bpf_flow(&ctx->bents[i].k, &ctx->bents[i].v, ctx);
	if (ret == 0)
		ret = corrections_only(ctx, inode);
	if (ret == 0)
		quiet_check(ctx, e, in, full_counted(ctx, &start, unfollowed), tw,
			    ctx->bpf_unhashed ? (int64_t)(ctx->totals.states[HF_TIME_WAIT] -
							  start.states[HF_TIME_WAIT] + ctx->bpf_tw_fw2) :
						-1);
	return ret;
}

static int bpf_own(struct hf_ctx *ctx, struct hf__ns *e)
{
	hf_port_range_read(ctx->proc_root, &ctx->port_lo, &ctx->port_hi);
	return collect_ns(ctx, e, ctx->diag, ctx->proc_root);
}

/* Another namespace: entered (and seeded) once; its failures are notices, not errors. */
static int bpf_other(struct hf_ctx *ctx, struct hf__ns *e)
{
	char root[32];
	int ret;

	if (!e->entered) {
		if (e->told)
			return 1;
		ret = hf__ns_enter(e, HF_BACKEND_NETLINK);
		if (ret == -ENOENT || ret == -ESRCH)
			return 1;
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0 || !e->diag) {
			e->told = hf__notice_add(&ctx->ns,
						 "cannot enter network namespace \"%s\": %s\n",
						 e->pub.name,
						 strerror(ret < 0 ? -ret : EPROTONOSUPPORT));
			return 1;
		}
	}
	if (!e->bpf_seeded) {
		/* Its sockets older than the programs: counted from here, reconciled next. */
		ret = seed_ns(ctx, e);
		if (ret == -ENOENT || ret == -ESRCH)
			return 1;
		if (ret < 0) {
			e->told = hf__notice_add(&ctx->ns,
						 "network namespace \"%s\" skipped: bpf seed: %s\n",
						 e->pub.name, strerror(-ret));
			return 1;
		}
		e->bpf_seeded = true;
		ctx->new_seed = true;
		/* What the seed counted is in the map now, not in the read already made. */
		ctx->nbents = 0;
		ret = hf__bpf_read(ctx->bpf, true, on_bpf_keep, ctx);
		if (ret < 0) {
			snprintf(ctx->err, sizeof(ctx->err), "bpf: reading the flow map: %s",
				 strerror(-ret));
			return ret == -ENOMEM ? ret : -EIO;
		}
	}
	ctx->port_lo = e->port_lo;
	ctx->port_hi = e->port_hi;
	snprintf(root, sizeof(root), "/proc/%d", e->pub.pid);
	ret = collect_ns(ctx, e, e->diag, e->pub.pid ? root : NULL);
	if (ret == -ENOMEM || ret == 0)
		return ret;
	return hf__ns_skipped(ctx, e);
}

/* Append @v to the array *@a of *@n (capacity *@cap). Returns 0 or -ENOMEM. */
static int u32_push(uint32_t **a, size_t *n, size_t *cap, uint32_t v)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		uint32_t *p = realloc(*a, c * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*a = p;
		*cap = c;
	}
	(*a)[(*n)++] = v;
	return 0;
}

static bool u32_has(const uint32_t *a, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

/*
 * The inodes of the namespaces known before the discovery, selected or
 * not: the programs count in every namespace.
 */
static int seen_before(struct hf_ctx *ctx)
{
	ctx->nbseen = 0;
	for (size_t i = 0; i < ctx->ns.n; i++)
		if (!ctx->ns.v[i].pub.self && u32_push(&ctx->bseen, &ctx->nbseen, &ctx->capbseen,
						       (uint32_t)ctx->ns.v[i].pub.inode) < 0)
			return -ENOMEM;
	return 0;
}

/*
 * The flows of namespaces gone: the kernel gives a freed namespace's
 * inode to the next one made, which would show the old one's flows and
 * counters as its own. Once gone, a namespace's flows with no connection
 * left are deleted from the map (their sockets are all closed; a socket
 * of it still closing keeps its flow until a later collection), and its
 * corrections dropped. An inode in use again is left alone.
 */
static int forget_gone(struct hf_ctx *ctx)
{
	size_t k = 0;
	int ret;

	for (size_t i = 0; i < ctx->nbseen; i++) {
		uint32_t ino = ctx->bseen[i];
		bool here = false;

		for (size_t j = 0; j < ctx->ns.n && !here; j++)
			here = (uint32_t)ctx->ns.v[j].pub.inode == ino;
		if (!here && !u32_has(ctx->bdead, ctx->nbdead, ino) &&
		    u32_push(&ctx->bdead, &ctx->nbdead, &ctx->capbdead, ino) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < ctx->nbdead; i++) {
		uint32_t ino = ctx->bdead[i];
		bool reused = false, left = false;

		for (size_t j = 0; j < ctx->ns.n && !reused; j++)
			reused = (uint32_t)ctx->ns.v[j].pub.inode == ino;
		for (size_t j = 0; !reused && j < ctx->nbents; j++) {
			if (ctx->bents[j].k.netns != ino)
				continue;
			ret = hf__bpf_forget(ctx->bpf, &ctx->bents[j].k);
			if (ret < 0)
				return ret;
			left = true; /* deleted only if idle: looked at again next time */
		}
		for (size_t j = 0; !reused && j < ctx->fix.n; j++) {
			struct hf_flow *fix = table_item(&ctx->fix, j);
			if (fix->netns == ino)
				memset(fix->states, 0, sizeof(fix->states));
		}
		if (!reused && left)
			ctx->bdead[k++] = ino;
	}
	ctx->nbdead = k;
	return 0;
}

int hf__bpfflow_collect(struct hf_ctx *ctx)
{
	struct hf__ns *own = &ctx->ns.v[0];
	uint64_t unfollowed;
	int64_t in, tw;
	int ret;

	/* Once per collection, for every namespace's unhashed_exact(). */
	ctx->bpf_pending = hf__bpf_timers(ctx->bpf) ? hf__bpf_pending(ctx->bpf) : 0;
	if (ctx->ns.active) {
		ret = reconcile_if_due(ctx);
		if (ret < 0)
			return ret;
		ctx->gen++;
		ctx->nbents = 0;
		ret = hf__bpf_read(ctx->bpf, true, on_bpf_keep, ctx);
		if (ret < 0) {
			if (ret != -ENOMEM)
				snprintf(ctx->err, sizeof(ctx->err),
					 "bpf: reading the flow map: %s", strerror(-ret));
			return ret;
		}
		ret = seen_before(ctx);
		if (ret == 0)
			ret = hf__collect_each(ctx, bpf_own, bpf_other);
		if (ret == 0) {
			/* The reconcile's snapshot runs rarely: let go of namespaces gone since. */
			hf__nsset_release_gone(&ctx->snap->ns, &ctx->ns);
			ret = forget_gone(ctx);
			if (ret < 0 && ret != -ENOMEM)
				snprintf(ctx->err, sizeof(ctx->err),
					 "bpf: the flows of namespaces gone: %s", strerror(-ret));
		}
	} else {
		struct hf_totals start = ctx->totals;

		ctx->bpf_tw_fw2 = 0;
		sockstat(own, ctx->proc_root, &in, &tw);
		ret = dumps(ctx, ctx->diag, own, hf__bpf_netns(ctx->bpf), tw, &unfollowed);
		if (ret == 0)
			ret = reconcile_if_due(ctx);
		if (ret < 0)
			return ret;
		ctx->gen++;
		ret = hf__bpf_read(ctx->bpf, false, on_bpf_flow, ctx);
		if (ret == 0)
			ret = corrections_only(ctx, hf__bpf_netns(ctx->bpf));
		if (ret < 0 && ret != -ENOMEM)
			snprintf(ctx->err, sizeof(ctx->err), "bpf: reading the flow map: %s",
				 strerror(-ret));
		if (ret == 0)
			quiet_check(ctx, own, in, full_counted(ctx, &start, unfollowed), tw,
				    ctx->bpf_unhashed ? (int64_t)(ctx->totals.states[HF_TIME_WAIT] +
								  ctx->bpf_tw_fw2) :
							-1);
	}
	/* Flows whose connections all ended carry only counters: not flows of the snapshot. */
	ctx->totals.flows = 0;
	for (size_t i = 0; i < ctx->flows.n; i++)
		ctx->totals.flows += ((struct hf_flow *)table_item(&ctx->flows, i))->conns != 0;
	return ret;
}

void hf__bpfflow_close(struct hf_ctx *ctx)
{
	if (!ctx->bpf)
		return;
	hf__bpf_close(ctx->bpf);
	hf_close(ctx->snap);
	table_free(&ctx->fix);
	table_free(&ctx->cmp[0]);
	table_free(&ctx->cmp[1]);
	table_free(&ctx->cmp[2]);
	free(ctx->bents);
	free(ctx->bseen);
	free(ctx->bdead);
	free(ctx->bmoving);
}

struct hf_ctx *hf_open_bpf(const char *proc_root, char *err, size_t errlen)
{
	uint64_t errs[HF_BPF_ERR_MAX], moving;
	char buf[256];
	struct hf_ctx *ctx;
	uint64_t seeded = 0;
	int ret;

	if (!err) {
		err = buf;
		errlen = sizeof(buf);
	}
	ctx = hf_open(HF_BACKEND_NETLINK, proc_root);
	if (!ctx) {
		snprintf(err, errlen, "netlink sock_diag refused: %s", strerror(errno));
		return NULL;
	}
	ctx->want = ctx->used = HF_BACKEND_BPF;
	ctx->reconcile_every = 600;
	ctx->snap = hf_open(HF_BACKEND_NETLINK, proc_root);
	ret = ctx->snap ? 0 : -errno;
	if (ctx->snap)
		ctx->snap->full_only = true;
	if (ret == 0)
		ret = table_init(&ctx->fix, sizeof(struct hf_flow), FLOW_KEYLEN, 64);
	if (ret == 0)
		ret = table_init(&ctx->cmp[0], sizeof(struct hf_flow), FLOW_KEYLEN, 256);
	if (ret == 0)
		ret = table_init(&ctx->cmp[1], sizeof(struct hf_flow), FLOW_KEYLEN, 256);
	if (ret == 0)
		ret = table_init(&ctx->cmp[2], sizeof(struct hf_flow), FLOW_KEYLEN, 256);
	if (ret < 0) {
		snprintf(err, errlen, "bpf: %s", strerror(-ret));
		goto out_close;
	}
	hf_port_range_read(ctx->proc_root, &ctx->port_lo, &ctx->port_hi);
	ret = hf__bpf_open(&ctx->bpf, ctx->port_lo, ctx->port_hi, err, errlen);
	if (ret < 0)
		goto out_close;
	ctx->bstats.timers = hf__bpf_timers(ctx->bpf);
	ctx->snap->tw_merged = ctx->bstats.timers;
	ctx->ns.v[0].bpf_seeded = true;
	/* The seed and the transitions during it may disagree: the first reconcile settles it. */
	ret = hf__bpf_errors(ctx->bpf, errs);
	ctx->bloss = losses(errs);
	if (ret == 0)
		ret = reconcile(ctx, &seeded, &moving);
	if (ret < 0) {
		snprintf(err, errlen, "%s", ctx->err[0] ? ctx->err : strerror(-ret));
		goto out_close;
	}
	ctx->bstats.seed_corrections += seeded;
	if (moving) {
		/* Flows that moved through the snapshot: tried again 1 s later. */
		ctx->unsettled = true;
		ctx->retry_gap = 1;
		clock_gettime(CLOCK_MONOTONIC, &ctx->retry_at);
		ctx->retry_at.tv_sec += 1;
	}
	return ctx;

out_close:
	/* hf_close() frees only what hf__bpfflow_close() finds set up. */
	if (!ctx->bpf) {
		hf_close(ctx->snap);
		table_free(&ctx->fix);
		table_free(&ctx->cmp[0]);
		table_free(&ctx->cmp[1]);
		table_free(&ctx->cmp[2]);
		ctx->snap = NULL;
	}
	hf_close(ctx);
	errno = -ret;
	return NULL;
}

void hf_bpf_stats(const struct hf_ctx *ctx, struct hf_bpf_stats *out)
{
	if (ctx->bpf)
		*out = ctx->bstats;
	else
		memset(out, 0, sizeof(*out));
}

void hf_set_reconcile(struct hf_ctx *ctx, unsigned int seconds)
{
	ctx->reconcile_every = seconds;
	if (ctx->bpf) {
		clock_gettime(CLOCK_MONOTONIC, &ctx->next_reconcile);
		ctx->next_reconcile.tv_sec += seconds;
	}
}
