/*
 * bpfflow.c - the bpf backend's collector: the programs' per-flow counts
 * (bpf.c reads the maps) turned into flows and listeners as the sockets
 * collector counts them, the sockets the programs do not follow
 * (TIME_WAIT, FIN_WAIT2, request sockets) from a netlink dump, and the
 * periodic reconcile against a netlink snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
		     struct hf_flow **fixp)
{
	struct hf_flow key, *fix;
	int ret = hf__bpf_decode(k, v, s, dir, states);

	if (ret == -EBADMSG)
		return ret;
	full_key(s, *dir, &key);
	fix = table_find(&ctx->fix, &key, FLOW_KEYLEN);
	*fixp = fix;
	if (!fix)
		return ret;
	fix->inode = ctx->gen;
	for (unsigned int st = 1; st < HF_STATE_MAX; st++) {
		int64_t n = (int64_t)states[st] + (int32_t)fix->states[st];
		states[st] = n > 0 ? (uint32_t)n : 0;
	}
	return 0;
}

static int on_bpf_flow(const struct hf_bpf_key *k, const struct hf_bpf_val *v, void *arg)
{
	struct hf_ctx *ctx = arg;
	struct hf_flow counters, *fix;
	uint32_t states[HF_STATE_MAX];
	struct hf_sock s;
	enum hf_dir dir;

	if (bpf_entry(ctx, k, v, &s, &dir, states, &fix) < 0)
		return 0;
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
	uint32_t states[HF_STATE_MAX];
	struct hf_flow key, *fix, *c;
	struct hf_sock s;
	enum hf_dir dir;

	if (bpf_entry(a->ctx, k, v, &s, &dir, states, &fix) < 0)
		return 0;
	full_key(&s, dir, &key);
	c = table_get(a->t, &key, FLOW_KEYLEN);
	if (!c)
		return -ENOMEM;
	for (unsigned int st = 1; st < HF_STATE_MAX; st++) {
		c->states[st] += states[st];
		c->conns += states[st];
	}
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
	ret = hf__bpf_read(ctx->bpf, on_bpf_cmp, &a);
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

static bool same_states(const struct hf_flow *a, const struct hf_flow *b)
{
	for (unsigned int st = 1; st < HF_STATE_MAX; st++)
		if ((a ? a->states[st] : 0) != (b ? b->states[st] : 0))
			return false;
	return true;
}

/* Correct @key's counts from @have to @want, when the programs held still around the snapshot. */
static int correct(struct hf_ctx *ctx, const struct hf_flow *key, const struct hf_flow *want,
		   uint64_t *n)
{
	const struct hf_flow *a = table_find(&ctx->cmp[0], key, FLOW_KEYLEN);
	const struct hf_flow *b = table_find(&ctx->cmp[1], key, FLOW_KEYLEN);
	struct hf_flow *fix;

	if (!same_states(a, b) || same_states(a, want))
		return 0;
	fix = table_get(&ctx->fix, key, FLOW_KEYLEN);
	if (!fix)
		return -ENOMEM;
	for (unsigned int st = 1; st < HF_STATE_MAX; st++) {
		int64_t d = (int64_t)(want ? want->states[st] : 0) - (a ? a->states[st] : 0);
		fix->states[st] += (uint32_t)d;
		*n += (uint64_t)(d < 0 ? -d : d);
	}
	return 0;
}

/*
 * The reconcile: the programs' counts read before and after a netlink
 * snapshot; a flow whose counts held still and differ from the snapshot
 * is corrected to it. Corrections are kept here, not written into the
 * map, where they would race with the programs' updates.
 */
static int reconcile(struct hf_ctx *ctx, uint64_t *n)
{
	struct hf_flow *snap;
	size_t ns;
	int ret;

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
	snap = hf_flows(ctx->snap, &ns);
	for (size_t i = 0; i < ns && ret == 0; i++)
		ret = correct(ctx, &snap[i], &snap[i], n);
	for (size_t i = 0; i < ctx->cmp[0].n && ret == 0; i++) {
		struct hf_flow *a = table_item(&ctx->cmp[0], i);
		if (!table_find(&ctx->snap->flows, a, FLOW_KEYLEN))
			ret = correct(ctx, a, NULL, n);
	}
	ctx->bstats.reconciles++;
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

int hf__bpfflow_collect(struct hf_ctx *ctx)
{
	uint64_t err[HF_BPF_ERR_MAX];
	uint32_t states[HF_STATE_MAX];
	struct timespec now;
	struct hf_sock s;
	bool due;
	int ret;

	ret = hf_diag_dump(ctx->diag, ctx->mode, HF__STATES_LISTEN, HF_FAMILY_ALL, hf__on_listener,
			   ctx);
	if (ret < 0) {
		if (ret != -ENOMEM)
			snprintf(ctx->err, sizeof(ctx->err), "netlink inet_diag dump: %s: %s",
				 hf_diag_strerror(ctx->diag), strerror(-ret));
		return ret;
	}
	/*
	 * What no tracepoint follows: time-wait sockets (TIME_WAIT, or
	 * FIN_WAIT2 for an orphan's) and request sockets (SYN_RECV), with
	 * the children still in SYN_RECV the programs leave to this dump.
	 */
	ret = hf_diag_dump(ctx->diag, ctx->mode, HF__STATES_UNFOLLOWED, HF_FAMILY_ALL,
			   on_unfollowed, ctx);
	if (ret < 0) {
		if (ret != -ENOMEM)
			snprintf(ctx->err, sizeof(ctx->err), "netlink inet_diag dump: %s: %s",
				 hf_diag_strerror(ctx->diag), strerror(-ret));
		return ret;
	}
	ret = hf__bpf_errors(ctx->bpf, err);
	if (ret < 0) {
		snprintf(ctx->err, sizeof(ctx->err), "bpf: reading the error counters: %s",
			 strerror(-ret));
		return ret;
	}
	/* Any lost event since the last reconcile asks for one now. */
	due = memcmp(err, ctx->berr, sizeof(err)) != 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ctx->reconcile_every && (now.tv_sec > ctx->next_reconcile.tv_sec ||
				     (now.tv_sec == ctx->next_reconcile.tv_sec &&
				      now.tv_nsec >= ctx->next_reconcile.tv_nsec)))
		due = true;
	if (due) {
		ret = reconcile(ctx, &ctx->bstats.corrections);
		if (ret < 0)
			return ret;
		memcpy(ctx->berr, err, sizeof(err));
	}
	ctx->bstats.map_full = err[HF_BPF_ERR_FULL];
	ctx->bstats.lost = err[HF_BPF_ERR_STORAGE] + err[HF_BPF_ERR_UNDERFLOW];
	ctx->gen++;
	ret = hf__bpf_read(ctx->bpf, on_bpf_flow, ctx);
	for (size_t i = 0; ret == 0 && i < ctx->fix.n; i++) {
		struct hf_flow *fix = table_item(&ctx->fix, i);
		if (fix->inode != ctx->gen) {
			fix_sock(fix, &s, states);
			ret = flow_count(ctx, &s, (enum hf_dir)fix->dir, states, NULL);
		}
	}
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "bpf: reading the flow map: %s",
			 strerror(-ret));
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
}

struct hf_ctx *hf_open_bpf(const char *proc_root, char *err, size_t errlen)
{
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
	if (ret < 0) {
		snprintf(err, errlen, "bpf: %s", strerror(-ret));
		goto out_close;
	}
	hf_port_range_read(ctx->proc_root, &ctx->port_lo, &ctx->port_hi);
	ret = hf__bpf_open(&ctx->bpf, ctx->port_lo, ctx->port_hi, err, errlen);
	if (ret < 0)
		goto out_close;
	/* The seed and the transitions during it may disagree: the first reconcile settles it. */
	ret = hf__bpf_errors(ctx->bpf, ctx->berr);
	if (ret == 0)
		ret = reconcile(ctx, &seeded);
	if (ret < 0) {
		snprintf(err, errlen, "%s", ctx->err[0] ? ctx->err : strerror(-ret));
		goto out_close;
	}
	ctx->bstats.seed_corrections = seeded;
	return ctx;

out_close:
	/* hf_close() frees only what hf__bpfflow_close() finds set up. */
	if (!ctx->bpf) {
		hf_close(ctx->snap);
		table_free(&ctx->fix);
		table_free(&ctx->cmp[0]);
		table_free(&ctx->cmp[1]);
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
