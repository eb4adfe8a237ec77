/*
 * flow.c - the collector: listeners first, then every connection classified
 * and counted into its flow. Two open-addressing tables (listeners, flows)
 * over dense arrays; both are cleared, not freed, between collections, so a
 * steady host allocates nothing.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostflow.h"
#include "internal.h"
#include "bpf/hostflow_bpf.h"

struct table {
	uint32_t *slots; /* index + 1 into items; 0 is empty */
	size_t mask;	 /* number of slots - 1 */
	char *items;
	size_t n, cap, size, keylen;
};

struct hf_ctx {
	enum hf_backend want;
	enum hf_backend used;
	struct hf_diag *diag;
	enum hf_diag_mode mode;
	struct hf_proc_buf *procbuf;
	char proc_root[256];
	struct table flows;
	struct table listeners;
	struct hf_totals totals;
	/* state of the collection under way */
	const struct hf_filter *filter;
	uint16_t port_lo, port_hi;
	char nl_err[128];		   /* why netlink was given up, when it was */
	uint64_t listen_ports[65536 / 64]; /* a bit per port some listener holds */
	char err[640];
	/* the bpf backend (bpf.c and the end of this file); NULL/0 for the others */
	struct hf__bpf *bpf;
	struct hf_ctx *snap; /* a netlink collector: the reconcile's snapshots */
	bool full_only;	     /* snap: full sockets past SYN_RECV only, what the programs count */
	struct table fix; /* per flow: corrections added to the programs' counts (inode: gen used) */
	struct table cmp[2];	       /* the reconcile's reads of the programs' counts */
	uint32_t gen;		       /* collection number, marks the corrections applied */
	uint64_t berr[HF_BPF_ERR_MAX]; /* error counters at the last reconcile */
	struct hf_bpf_stats bstats;
	unsigned int reconcile_every; /* seconds */
	struct timespec next_reconcile;
	struct ct_state *ct; /* HF_SOURCE_CONNTRACK only */
	struct hf__nsset ns; /* the namespaces: by default the own one alone */
	uint32_t cur_ns;     /* the id of the namespace under collection */
};

static int ct_open(struct hf_ctx *ctx, const struct hf_open_opts *o);
static void ct_close(struct hf_ctx *ctx);
static int ct_collect(struct hf_ctx *ctx);

/* The listener key: family, pad, port, address, namespace (the first 24 bytes). */
#define LISTENER_KEYLEN (offsetof(struct hf_listener, netns) + sizeof(uint32_t))
#define FLOW_KEYLEN offsetof(struct hf_flow, conns)

_Static_assert(offsetof(struct hf_flow, laddr) == 8, "flow key has no hidden padding");
_Static_assert(offsetof(struct hf_flow, netns) == 40, "flow key has no hidden padding");
_Static_assert(FLOW_KEYLEN == 44, "flow key is 44 bytes");
_Static_assert(offsetof(struct hf_listener, port) == 2 && offsetof(struct hf_listener, addr) == 4 &&
		       offsetof(struct hf_listener, netns) == 20,
	       "listener key has no hidden padding");

static uint64_t rotl(uint64_t v, unsigned int r)
{
	return r ? (v << r) | (v >> (64 - r)) : v;
}

/*
 * The hash of a key, once per socket: each 8-byte word is multiplied on
 * its own (the multiplies run in parallel, where a chained mix waits on
 * each one), rotated apart and folded, then avalanched once.
 */
/*
 * hash_key, key_eq, table_get and table_find are inlined into callers that
 * pass the key length as a constant (FLOW_KEYLEN, LISTENER_KEYLEN), so
 * their loops unroll into a handful of loads: they run for every socket.
 */
#define HF__INLINE static inline __attribute__((always_inline))

HF__INLINE uint64_t hash_key(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = len * 0x9e3779b97f4a7c15ull, v;
	unsigned int i = 0;

#pragma GCC unroll 8
	for (; len >= 8; p += 8, len -= 8, i++) {
		memcpy(&v, p, 8);
		h ^= rotl((v ^ (0x243f6a8885a308d3ull * (i + 1))) * 0xff51afd7ed558ccdull,
			  (i * 23) % 64);
	}
	if (len) {
		v = 0;
		memcpy(&v, p, len);
		h ^= rotl((v ^ (0x243f6a8885a308d3ull * (i + 1))) * 0xff51afd7ed558ccdull,
			  (i * 23) % 64);
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* memcmp() of a key whose length only the table knows is a libc call per probe: compare words. */
HF__INLINE bool key_eq(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;
	uint64_t u, v;

#pragma GCC unroll 8
	for (; len >= 8; x += 8, y += 8, len -= 8) {
		memcpy(&u, x, 8);
		memcpy(&v, y, 8);
		if (u != v)
			return false;
	}
	return len == 0 || memcmp(x, y, len) == 0;
}

static int table_init(struct table *t, size_t size, size_t keylen, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->size = size;
	t->keylen = keylen;
	t->cap = cap;
	t->mask = 2 * cap - 1;
	t->items = calloc(cap, size);
	t->slots = calloc(t->mask + 1, sizeof(*t->slots));
	if (!t->items || !t->slots) {
		free(t->items);
		free(t->slots);
		return -ENOMEM;
	}
	return 0;
}

static void table_free(struct table *t)
{
	free(t->items);
	free(t->slots);
}

static void table_reset(struct table *t)
{
	t->n = 0;
	memset(t->slots, 0, (t->mask + 1) * sizeof(*t->slots));
}

static void *table_item(const struct table *t, size_t i)
{
	return t->items + i * t->size;
}

static void table_place(struct table *t, size_t idx)
{
	size_t i = hash_key(table_item(t, idx), t->keylen) & t->mask;

	while (t->slots[i])
		i = (i + 1) & t->mask;
	t->slots[i] = (uint32_t)(idx + 1);
}

/* Double the table: only when the number of flows (or listeners) reaches a new high. */
static int table_grow(struct table *t)
{
	size_t cap = t->cap * 2;
	char *items;
	uint32_t *slots;

	if (cap > UINT32_MAX / 4)
		return -ENOMEM;
	items = realloc(t->items, cap * t->size);
	if (!items)
		return -ENOMEM;
	t->items = items;
	slots = calloc(2 * cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	t->mask = 2 * cap - 1;
	for (size_t i = 0; i < t->n; i++)
		table_place(t, i);
	return 0;
}

/*
 * The item whose key is the first keylen bytes of @key; a new one, zeroed
 * past the key, when absent. NULL when memory is short.
 */
HF__INLINE void *table_get(struct table *t, const void *key, size_t keylen)
{
	size_t i = hash_key(key, keylen) & t->mask;
	uint32_t s;
	char *item;

	while ((s = t->slots[i]) != 0) {
		item = table_item(t, s - 1);
		if (key_eq(item, key, keylen))
			return item;
		i = (i + 1) & t->mask;
	}
	if (t->n == t->cap) {
		if (table_grow(t) < 0)
			return NULL;
		i = hash_key(key, keylen) & t->mask;
		while (t->slots[i])
			i = (i + 1) & t->mask;
	}
	item = table_item(t, t->n);
	memcpy(item, key, keylen);
	memset(item + keylen, 0, t->size - keylen);
	t->slots[i] = (uint32_t)(++t->n);
	return item;
}

HF__INLINE void *table_find(const struct table *t, const void *key, size_t keylen)
{
	size_t i = hash_key(key, keylen) & t->mask;
	uint32_t s;

	while ((s = t->slots[i]) != 0) {
		char *item = table_item(t, s - 1);
		if (key_eq(item, key, keylen))
			return item;
		i = (i + 1) & t->mask;
	}
	return NULL;
}

/* ---- the collector ------------------------------------------------------------------------- */

struct hf_ctx *hf_open(enum hf_backend backend, const char *proc_root)
{
	struct hf_open_opts o = { .backend = backend, .proc_root = proc_root };

	return hf_open_with(&o);
}

struct hf_ctx *hf_open_with(const struct hf_open_opts *o)
{
	enum hf_backend backend = o->backend;
	const char *proc_root = o->proc_root;
	struct hf_ctx *ctx;
	bool nfct_taken = false; /* ct_open() owns o->nfct, even when it fails */
	int err = ENOMEM;

	if (backend == HF_BACKEND_BPF && o->source != HF_SOURCE_CONNTRACK)
		return hf_open_bpf(proc_root, NULL, 0);
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		goto out_nfct;
	ctx->want = backend;
	/*
	 * The legacy TCPDIAG_GETSOCK request becomes an AF_UNSPEC dump in the
	 * kernel (inet_diag_dump_compat()): one walk of the socket hash for
	 * both families, where SOCK_DIAG_BY_FAMILY walks it once per family.
	 * Measured with tests/bench/floor on Linux 6.18, 18,000 sockets:
	 * 10.8 ms per legacy dump against 14.7 ms for the two per-family dumps.
	 */
	ctx->mode = HF_DIAG_COMPAT;
	snprintf(ctx->proc_root, sizeof(ctx->proc_root), "%s", proc_root ? proc_root : "/proc");
	if (table_init(&ctx->flows, sizeof(struct hf_flow), FLOW_KEYLEN, 256) < 0)
		goto out_free;
	if (table_init(&ctx->listeners, sizeof(struct hf_listener), LISTENER_KEYLEN, 64) < 0)
		goto out_flows;
	if (hf__nsset_init(&ctx->ns) < 0)
		goto out_listeners;
	if (o->source == HF_SOURCE_CONNTRACK) {
		nfct_taken = true;
		err = -ct_open(ctx, o);
		if (err)
			goto out_ns;
		return ctx;
	}
	if (backend != HF_BACKEND_PROC) {
		ctx->diag = hf_diag_open();
		if (!ctx->diag) {
			err = errno;
			if (backend == HF_BACKEND_NETLINK)
				goto out_ns;
			snprintf(ctx->nl_err, sizeof(ctx->nl_err), "netlink sock_diag refused: %s",
				 strerror(err));
		}
	}
	ctx->used = ctx->diag ? HF_BACKEND_NETLINK : HF_BACKEND_PROC;
	return ctx;

out_ns:
	hf__nsset_free(&ctx->ns);
out_listeners:
	table_free(&ctx->listeners);
out_flows:
	table_free(&ctx->flows);
out_free:
	free(ctx);
out_nfct:
	if (!nfct_taken)
		hf_nfct_close(o->nfct);
	errno = err;
	return NULL;
}

static void bpf_close(struct hf_ctx *ctx);

void hf_close(struct hf_ctx *ctx)
{
	if (!ctx)
		return;
	bpf_close(ctx);
	hf_diag_close(ctx->diag);
	ct_close(ctx);
	hf__nsset_free(&ctx->ns);
	free(ctx->procbuf);
	table_free(&ctx->flows);
	table_free(&ctx->listeners);
	free(ctx);
}

const char *hf_strerror(const struct hf_ctx *ctx)
{
	return ctx->err;
}

enum hf_backend hf_backend(const struct hf_ctx *ctx)
{
	return ctx->used;
}

struct hf_flow *hf_flows(struct hf_ctx *ctx, size_t *n)
{
	*n = ctx->flows.n;
	return (struct hf_flow *)ctx->flows.items;
}

struct hf_listener *hf_listeners(struct hf_ctx *ctx, size_t *n)
{
	*n = ctx->listeners.n;
	return (struct hf_listener *)ctx->listeners.items;
}

const struct hf_totals *hf_totals(const struct hf_ctx *ctx)
{
	return &ctx->totals;
}

static struct hf_listener *listener_find(struct hf_ctx *ctx, int family, const union hf_addr *addr,
					 uint16_t port)
{
	struct hf_listener key;

	memset(&key, 0, LISTENER_KEYLEN);
	key.family = (uint8_t)family;
	key.port = port;
	if (addr)
		key.addr = *addr;
	key.netns = ctx->cur_ns;
	return table_find(&ctx->listeners, &key, LISTENER_KEYLEN);
}

static bool in_range(uint16_t p, uint16_t lo, uint16_t hi)
{
	return p >= lo && p <= hi;
}

enum hf_dir hf_classify(struct hf_ctx *ctx, const struct hf_sock *s, uint16_t lo, uint16_t hi,
			struct hf_listener **listener)
{
	struct hf_listener *l;

	/* Most connections face no listener at all: one bit says so without a lookup. */
	if (!(ctx->listen_ports[s->lport / 64] & (1ull << (s->lport % 64)))) {
		l = NULL;
		goto no_listener;
	}
	/* 1. A listener on the local address, or on the wildcard of the family. */
	l = listener_find(ctx, s->family, &s->laddr, s->lport);
	if (!l)
		l = listener_find(ctx, s->family, NULL, s->lport);
	/* A dual-stack :: listener takes IPv4 too (the kernel shows it ::ffff:a.b.c.d). */
	if (!l && s->family == AF_INET) {
		l = listener_find(ctx, AF_INET6, NULL, s->lport);
		if (l && l->v6only)
			l = NULL;
	}
no_listener:
	*listener = l;
	if (l)
		return HF_DIR_PASSIVE;
	/* 2. Listener gone, connections alive: a service port facing an ephemeral one. */
	if (!in_range(s->lport, lo, hi) && in_range(s->rport, lo, hi))
		return HF_DIR_PASSIVE;
	/* 3. */
	return HF_DIR_ACTIVE;
}

static int on_listener(const struct hf_sock *s, void *arg)
{
	struct hf_ctx *ctx = arg;
	struct hf_listener key, *l;

	if (s->state != HF_LISTEN)
		return 0;
	memset(&key, 0, LISTENER_KEYLEN);
	key.family = s->family;
	key.port = s->lport;
	key.addr = s->laddr;
	key.netns = ctx->cur_ns;
	l = table_get(&ctx->listeners, &key, LISTENER_KEYLEN);
	if (!l)
		return -ENOMEM;
	ctx->listen_ports[s->lport / 64] |= 1ull << (s->lport % 64);
	if (l->nsocks == 0) {
		l->v6only = s->v6only;
		l->backlog_known = ctx->used != HF_BACKEND_PROC; /* netlink, or bpf through it */
		l->inode = s->inode;
	}
	if (l->nsocks < HF_LISTENER_SOCKS_MAX) {
		l->socks[l->nsocks].accept_queue = s->rqueue;
		l->socks[l->nsocks].backlog = s->wqueue;
		l->socks[l->nsocks].inode = s->inode;
	}
	l->nsocks++;
	l->accept_queue += s->rqueue;
	l->backlog += s->wqueue;
	ctx->totals.listeners++;
	return 0;
}

static bool port_listed(const uint16_t *ports, unsigned int n, uint16_t p)
{
	for (unsigned int i = 0; i < n; i++)
		if (ports[i] == p)
			return true;
	return false;
}

static bool net_listed(const struct hf_cidr *nets, unsigned int n, int family,
		       const union hf_addr *a)
{
	for (unsigned int i = 0; i < n; i++)
		if (hf_cidr_contains(&nets[i], family, a))
			return true;
	return false;
}

static bool filter_admits(const struct hf_filter *f, const struct hf_sock *s, enum hf_dir dir)
{
	uint16_t service = dir == HF_DIR_PASSIVE ? s->lport : s->rport;
	unsigned int fam = s->family == AF_INET ? HF_FAMILY_V4 : HF_FAMILY_V6;

	if (f->families && !(f->families & fam))
		return false;
	if (f->ignore_states & (1u << s->state))
		return false;
	if (f->scope != HF_SCOPE_ALL &&
	    hf_addr_is_private(s->family, &s->raddr) != (f->scope == HF_SCOPE_PRIVATE))
		return false;
	if (f->ignore_loopback && (hf_addr_is_loopback(s->family, &s->raddr) ||
				   hf_addr_is_loopback(s->family, &s->laddr)))
		return false;
	if (f->n_exclude_port && port_listed(f->exclude_port, f->n_exclude_port, service))
		return false;
	if (f->n_include_port && !port_listed(f->include_port, f->n_include_port, service))
		return false;
	if (f->n_exclude_net && net_listed(f->exclude_net, f->n_exclude_net, s->family, &s->raddr))
		return false;
	if (f->n_include_net && !net_listed(f->include_net, f->n_include_net, s->family, &s->raddr))
		return false;
	return true;
}

static int on_connection(const struct hf_sock *s, void *arg)
{
	struct hf_ctx *ctx = arg;
	const struct hf_filter *f = ctx->filter;
	struct hf_listener *l;
	struct hf_flow key, *flow;
	enum hf_dir dir;
	unsigned int full, plen;

	if (s->state == HF_LISTEN || s->state >= HF_STATE_MAX)
		return 0;
	if (ctx->full_only && (s->timewait || s->state == HF_SYN_RECV))
		return 0;
	ctx->totals.sockets++;
	ctx->totals.states[s->state]++;
	dir = hf_classify(ctx, s, ctx->port_lo, ctx->port_hi, &l);
	if (l) {
		if (s->state == HF_SYN_RECV)
			l->syn_recv++;
		else if (s->state == HF_ESTABLISHED)
			l->established++;
	}
	if (f && !filter_admits(f, s, dir))
		return 0;

	memset(&key, 0, FLOW_KEYLEN);
	key.dir = (uint8_t)dir;
	key.family = s->family;
	key.proto = IPPROTO_TCP;
	key.laddr = s->laddr;
	key.paddr = s->raddr;
	key.netns = ctx->cur_ns;
	full = s->family == AF_INET ? 32 : 128;
	plen = f ? (s->family == AF_INET ? f->peer_prefix4 : f->peer_prefix6) : full;
	if (plen == 0 || plen > full)
		plen = full;
	if (plen < full)
		hf__addr_mask(s->family, &key.paddr, plen);
	key.pplen = (uint8_t)plen;
	if (dir == HF_DIR_PASSIVE)
		key.lport = s->lport;
	else
		key.pport = s->rport;

	flow = table_get(&ctx->flows, &key, FLOW_KEYLEN);
	if (!flow)
		return -ENOMEM;
	flow->conns++;
	flow->states[s->state]++;
	if (!flow->inode)
		flow->inode = dir == HF_DIR_PASSIVE && l ? l->inode : s->inode;
	return 0;
}

static int collect_netlink(struct hf_ctx *ctx, struct hf_diag *d)
{
	int ret;

	ret = hf_diag_dump(d, ctx->mode, HF__STATES_LISTEN, HF_FAMILY_ALL, on_listener, ctx);
	if (ret == 0)
		ret = hf_diag_dump(d, ctx->mode, HF__STATES_CONN, HF_FAMILY_ALL, on_connection,
				   ctx);
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "netlink inet_diag dump: %s: %s",
			 hf_diag_strerror(d), strerror(-ret));
	return ret;
}

/* Both passes over /proc read listeners first (see hf_proc_dump), in one callback. */
static int on_proc_sock(const struct hf_sock *s, void *arg)
{
	return s->state == HF_LISTEN ? on_listener(s, arg) : on_connection(s, arg);
}

static int collect_proc(struct hf_ctx *ctx, const char *proc_root)
{
	char path[256] = "";
	int ret;

	if (!ctx->procbuf) {
		ctx->procbuf = malloc(sizeof(*ctx->procbuf));
		if (!ctx->procbuf)
			return -ENOMEM;
	}
	ret = hf_proc_dump(proc_root, HF__STATES_CONN | HF__STATES_LISTEN, HF_FAMILY_ALL,
			   ctx->procbuf, on_proc_sock, ctx, path, sizeof(path));
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "%s: %s", path,
			 ret == -EBADMSG ? "malformed line" : strerror(-ret));
	return ret;
}

static void collect_reset(struct hf_ctx *ctx, const struct hf_filter *filter)
{
	table_reset(&ctx->flows);
	table_reset(&ctx->listeners);
	memset(ctx->listen_ports, 0, sizeof(ctx->listen_ports));
	memset(&ctx->totals, 0, sizeof(ctx->totals));
	ctx->filter = filter;
}

static int collect_bpf(struct hf_ctx *ctx);

/* Keep the first @n items only: a namespace's items are the last ones added. */
static void table_truncate(struct table *t, size_t n)
{
	t->n = n;
	memset(t->slots, 0, (t->mask + 1) * sizeof(*t->slots));
	for (size_t i = 0; i < n; i++)
		table_place(t, i);
}

/* What the collection stood at before a namespace, to take it back. */
struct mark {
	size_t flows, listeners;
	struct hf_totals totals;
};

static void mark_set(const struct hf_ctx *ctx, struct mark *m)
{
	m->flows = ctx->flows.n;
	m->listeners = ctx->listeners.n;
	m->totals = ctx->totals;
}

static void mark_undo(struct hf_ctx *ctx, const struct mark *m)
{
	table_truncate(&ctx->flows, m->flows);
	table_truncate(&ctx->listeners, m->listeners);
	ctx->totals = m->totals;
}

/*
 * One namespace, ctx->cur_ns: netlink through *@dp, or /proc under
 * @proc_root (NULL: there is none) when netlink is refused. Sets ctx->used.
 */
static int collect_ns(struct hf_ctx *ctx, struct hf_diag **dp, const char *proc_root)
{
	struct mark m;
	int ret;

	mark_set(ctx, &m);
	/* Listeners classify the connections of their own namespace only. */
	memset(ctx->listen_ports, 0, sizeof(ctx->listen_ports));
	if (*dp) {
		ctx->used = HF_BACKEND_NETLINK;
		ret = collect_netlink(ctx, *dp);
		/* A send refused by policy (seccomp, LSM) means netlink cannot be used at all. */
		if ((ret == -EPERM || ret == -EACCES) && ctx->want == HF_BACKEND_AUTO) {
			snprintf(ctx->nl_err, sizeof(ctx->nl_err), "netlink sock_diag refused: %s",
				 strerror(-ret));
			hf_diag_close(*dp);
			*dp = NULL;
			mark_undo(ctx, &m);
			memset(ctx->listen_ports, 0, sizeof(ctx->listen_ports));
		} else {
			return ret;
		}
	}
	ctx->used = HF_BACKEND_PROC;
	if (!proc_root) {
		snprintf(ctx->err, sizeof(ctx->err),
			 "no member process to read /proc/PID/net of (%s)",
			 ctx->nl_err[0] ? ctx->nl_err : "netlink not opened");
		return -ENOENT;
	}
	ret = collect_proc(ctx, proc_root);
	/* Both sources failed: say why netlink was not used either. */
	if (ret < 0 && ctx->nl_err[0]) {
		size_t len = strlen(ctx->err);
		snprintf(ctx->err + len, sizeof(ctx->err) - len, " (%s)", ctx->nl_err);
	}
	return ret;
}

static void totals_sub(struct hf_totals *out, const struct hf_totals *a, const struct hf_totals *b)
{
	out->sockets = a->sockets - b->sockets;
	out->listeners = a->listeners - b->listeners;
	out->flows = 0;
	for (unsigned int s = 0; s < HF_STATE_MAX; s++)
		out->states[s] = a->states[s] - b->states[s];
}

/* A namespace other than the own one; its failures are notices, not errors. */
static int collect_other(struct hf_ctx *ctx, struct hf__ns *e)
{
	char root[32];
	struct mark m;
	int ret;

	if (!e->entered) {
		/* refused once: not tried again on every collection */
		if (e->told)
			return 1;
		ret = hf__ns_enter(e, ctx->want);
		if (ret == -ENOENT || ret == -ESRCH)
			return 1; /* gone since the discovery */
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0) {
			if (!e->told)
				hf__notice_add(&ctx->ns,
					       "cannot enter network namespace \"%s\": %s\n",
					       e->pub.name, strerror(-ret));
			e->told = true;
			return 1;
		}
	}
	ctx->port_lo = e->port_lo;
	ctx->port_hi = e->port_hi;
	snprintf(root, sizeof(root), "/proc/%d", e->pub.pid);
	mark_set(ctx, &m);
	ret = collect_ns(ctx, &e->diag, e->pub.pid ? root : NULL);
	if (ret == -ENOMEM || ret == 0)
		return ret;
	mark_undo(ctx, &m);
	/* Its last process exited while /proc was read: gone, not an error. */
	if (ret != -ENOENT && ret != -ESRCH) {
		if (!e->told)
			hf__notice_add(&ctx->ns, "network namespace \"%s\" skipped: %s\n",
				       e->pub.name, ctx->err);
		e->told = true;
	}
	ctx->err[0] = '\0';
	return 1;
}

static int collect_all(struct hf_ctx *ctx)
{
	enum hf_backend own = HF_BACKEND_AUTO;
	struct hf_totals before;
	int ret;

	ret = hf__nsset_discover(&ctx->ns);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < ctx->ns.n; i++) {
		struct hf__ns *e = &ctx->ns.v[i];

		e->pub.collected = false;
		memset(&e->pub.totals, 0, sizeof(e->pub.totals));
		if (!e->selected)
			continue;
		ctx->cur_ns = e->pub.id;
		before = ctx->totals;
		if (e->pub.self) {
			hf_port_range_read(ctx->proc_root, &ctx->port_lo, &ctx->port_hi);
			ret = collect_ns(ctx, &ctx->diag, ctx->proc_root);
			if (ret)
				return ret;
			own = ctx->used;
		} else {
			ret = collect_other(ctx, e);
			if (ret < 0)
				return ret;
			if (ret > 0)
				continue;
		}
		e->pub.collected = true;
		e->pub.backend = ctx->used;
		totals_sub(&e->pub.totals, &ctx->totals, &before);
	}
	for (size_t i = 0; i < ctx->flows.n; i++) {
		const struct hf_flow *f = table_item(&ctx->flows, i);
		struct hf_netns *ns = (struct hf_netns *)hf_netns_find(ctx, f->netns);
		if (ns)
			ns->totals.flows++;
	}
	if (own != HF_BACKEND_AUTO)
		ctx->used = own;
	return 0;
}

int hf_collect(struct hf_ctx *ctx, const struct hf_filter *filter)
{
	struct hf__ns *e = &ctx->ns.v[0];
	int ret;

	ctx->err[0] = '\0';
	ctx->ns.notice[0] = '\0';
	if (ctx->ct) {
		ctx->filter = filter;
		return ct_collect(ctx);
	}
	collect_reset(ctx, filter);
	if (ctx->bpf) {
		hf_port_range_read(ctx->proc_root, &ctx->port_lo, &ctx->port_hi);
		ret = collect_bpf(ctx);
		goto out;
	}
	if (ctx->ns.active) {
		ret = collect_all(ctx);
		goto out;
	}
	/* Per collection: each network namespace, and an operator, may change it. */
	hf_port_range_read(ctx->proc_root, &ctx->port_lo, &ctx->port_hi);
	ctx->cur_ns = 0;
	ret = collect_ns(ctx, &ctx->diag, ctx->proc_root);
	e->pub.collected = ret == 0;
	e->pub.backend = ctx->used;
	e->pub.totals = ctx->totals;
	e->pub.totals.flows = ctx->flows.n;
out:
	if (ret == -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "out of memory for the flow table");
	if (!ctx->bpf)
		ctx->totals.flows = ctx->flows.n;
	return ret < 0 ? ret : (ret > 0 ? -ECANCELED : 0);
}

int hf_netns_select(struct hf_ctx *ctx, const char *spec)
{
	/* The conntrack source and the bpf backend read the namespace they were opened in. */
	if (ctx->ct || ctx->bpf) {
		snprintf(ctx->err, sizeof(ctx->err), "the %s reads its own namespace only",
			 ctx->ct ? "conntrack source" : "bpf backend");
		return -EOPNOTSUPP;
	}
	return hf__nsset_select(&ctx->ns, spec);
}

bool hf_netns_selected(const struct hf_ctx *ctx)
{
	return ctx->ns.active;
}

size_t hf_netns_count(const struct hf_ctx *ctx)
{
	return ctx->ns.n;
}

const struct hf_netns *hf_netns_get(const struct hf_ctx *ctx, uint32_t idx)
{
	return idx < ctx->ns.n ? &ctx->ns.v[idx].pub : NULL;
}

const struct hf_netns *hf_netns_find(const struct hf_ctx *ctx, uint32_t id)
{
	size_t lo = 0, hi = ctx->ns.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t m = ctx->ns.v[mid].pub.id;
		if (m == id)
			return &ctx->ns.v[mid].pub;
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *hf_notice(const struct hf_ctx *ctx)
{
	return ctx->ns.notice;
}

static int addr_cmp(const union hf_addr *a, const union hf_addr *b)
{
	return memcmp(a, b, sizeof(*a));
}

int hf_flow_cmp(const void *pa, const void *pb)
{
	const struct hf_flow *a = pa, *b = pb;
	int c;

	if (a->conns != b->conns)
		return a->conns > b->conns ? -1 : 1;
	if (a->dir != b->dir)
		return a->dir < b->dir ? -1 : 1;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if ((c = addr_cmp(&a->laddr, &b->laddr)) != 0)
		return c;
	if (a->lport != b->lport)
		return a->lport < b->lport ? -1 : 1;
	if ((c = addr_cmp(&a->paddr, &b->paddr)) != 0)
		return c;
	if (a->pport != b->pport)
		return a->pport < b->pport ? -1 : 1;
	return a->pplen < b->pplen ? -1 : a->pplen > b->pplen;
}

bool hf_flow_key_eq(const struct hf_flow *a, const struct hf_flow *b)
{
	return memcmp(a, b, FLOW_KEYLEN) == 0;
}

/* ---- the conntrack source ------------------------------------------------------------------- */

/* HF_CT_EVENTS: the final counters of a flow's destroyed entries, kept across collections. */
struct ct_acc {
	uint8_t key[FLOW_KEYLEN];
	uint64_t bytes[2], packets[2]; /* [0] sent, [1] received, as in struct hf_flow_ct */
	uint32_t destroyed, no_acct;
	uint64_t gen; /* the last collection that added to it */
};

struct ct_state {
	unsigned int flags;
	bool proc; /* reading /proc/net/nf_conntrack */
	struct hf_nfct *nfct;
	struct hf_addrset local;
	struct hf_ct_info info;
	char nl_err[160]; /* why ctnetlink was given up, when it was */
	/* HF_CT_EVENTS */
	uint64_t gen;
	struct table ids;    /* CTA_IDs of this collection's dump */
	struct table acc;    /* struct ct_acc by flow key */
	struct ct_acc *held; /* destroy events of entries the dump counted: for the next collection */
	size_t nheld, capheld;
	bool in_events; /* the callback is reading events, not the dump */
	int err;	/* an error met inside a callback that must not stop the read */
};

static int ct_open(struct hf_ctx *ctx, const struct hf_open_opts *o)
{
	struct ct_state *ct;
	int err;

	if ((o->ct_flags & HF_CT_EVENTS) && o->backend == HF_BACKEND_PROC) {
		hf_nfct_close(o->nfct);
		return -EINVAL; /* /proc has no events and no CTA_ID */
	}
	if (o->nfct && (o->ct_flags & HF_CT_EVENTS) && hf_nfct_event_fd(o->nfct) < 0) {
		hf_nfct_close(o->nfct);
		return -EINVAL; /* events asked of sockets opened without them */
	}
	ct = calloc(1, sizeof(*ct));
	if (!ct) {
		hf_nfct_close(o->nfct);
		return -ENOMEM;
	}
	ct->nfct = o->nfct;
	ct->flags = o->ct_flags;
	if (ct->flags & HF_CT_EVENTS) {
		if (table_init(&ct->ids, sizeof(uint32_t), sizeof(uint32_t), 1024) < 0) {
			err = -ENOMEM;
			goto out_free;
		}
		if (table_init(&ct->acc, sizeof(struct ct_acc), FLOW_KEYLEN, 256) < 0) {
			err = -ENOMEM;
			goto out_ids;
		}
	}
	if (o->backend != HF_BACKEND_PROC && !ct->nfct) {
		ct->nfct = hf_nfct_open((ct->flags & HF_CT_EVENTS) ? HF_NFCT_EVENTS : 0);
		if (!ct->nfct) {
			err = -errno;
			if (o->backend == HF_BACKEND_NETLINK || (ct->flags & HF_CT_EVENTS))
				goto out_acc;
			snprintf(ct->nl_err, sizeof(ct->nl_err), "ctnetlink refused: %s",
				 strerror(-err));
		}
	}
	ct->proc = !ct->nfct;
	ctx->used = ct->proc ? HF_BACKEND_PROC : HF_BACKEND_NETLINK;
	ctx->ct = ct;
	return 0;

out_acc:
	if (ct->flags & HF_CT_EVENTS)
		table_free(&ct->acc);
out_ids:
	if (ct->flags & HF_CT_EVENTS)
		table_free(&ct->ids);
out_free:
	hf_nfct_close(ct->nfct);
	free(ct);
	return err;
}

static void ct_close(struct hf_ctx *ctx)
{
	struct ct_state *ct = ctx->ct;

	if (!ct)
		return;
	hf_nfct_close(ct->nfct);
	hf_addrset_free(&ct->local);
	if (ct->flags & HF_CT_EVENTS) {
		table_free(&ct->ids);
		table_free(&ct->acc);
	}
	free(ct->held);
	free(ct);
}

enum hf_source hf_source(const struct hf_ctx *ctx)
{
	return ctx->ct ? HF_SOURCE_CONNTRACK : HF_SOURCE_SOCKETS;
}

const struct hf_ct_info *hf_ct_info(const struct hf_ctx *ctx)
{
	return ctx->ct ? &ctx->ct->info : NULL;
}

/*
 * The flow key of entry @e (false when the filter refuses it), the index
 * of its "sent" counters in *@sent.
 */
static bool ct_key(struct hf_ctx *ctx, const struct hf_ct_entry *e, struct hf_flow *key,
		   unsigned int *sent)
{
	const struct hf_filter *f = ctx->filter;
	enum hf_dir dir = hf_ct_direction(e, &ctx->ct->local);
	struct hf_sock s;
	unsigned int full, plen;

	if (f && f->protocols) {
		unsigned int bit = e->orig.proto == IPPROTO_TCP ? HF_PROTO_TCP :
				   e->orig.proto == IPPROTO_UDP ? HF_PROTO_UDP :
								  HF_PROTO_OTHER;
		if (!(f->protocols & bit))
			return false;
	}
	memset(&s, 0, sizeof(s));
	s.family = e->orig.family;
	if (dir == HF_DIR_PASSIVE) {
		s.laddr = e->orig.dst;
		s.lport = e->orig.dport;
		s.raddr = e->orig.src;
	} else {
		s.laddr = e->orig.src;
		s.raddr = e->orig.dst;
		s.rport = e->orig.dport;
	}
	if (f && !filter_admits(f, &s, dir))
		return false;
	memset(key, 0, FLOW_KEYLEN);
	key->dir = (uint8_t)dir;
	key->family = s.family;
	key->proto = e->orig.proto;
	key->laddr = s.laddr;
	key->paddr = s.raddr;
	key->lport = s.lport;
	key->pport = s.rport;
	full = s.family == AF_INET ? 32 : 128;
	plen = f ? (s.family == AF_INET ? f->peer_prefix4 : f->peer_prefix6) : full;
	if (plen == 0 || plen > full)
		plen = full;
	if (plen < full)
		hf__addr_mask(s.family, &key->paddr, plen);
	key->pplen = (uint8_t)plen;
	*sent = dir == HF_DIR_PASSIVE ? 1 : 0;
	return true;
}

static bool addr_differs(int family, const union hf_addr *a, const union hf_addr *b)
{
	return memcmp(a->b, b->b, family == AF_INET ? 4 : 16) != 0;
}

static int ct_add_live(struct hf_ctx *ctx, const struct hf_ct_entry *e)
{
	struct ct_state *ct = ctx->ct;
	struct hf_flow key, *flow;
	unsigned int sent;

	if (!ct_key(ctx, e, &key, &sent))
		return 0;
	flow = table_get(&ctx->flows, &key, FLOW_KEYLEN);
	if (!flow)
		return -ENOMEM;
	flow->conns++;
	if (e->has_tcp_state)
		flow->ct.tcp_states[e->tcp_state]++;
	if (e->counters) {
		flow->ct.bytes_sent += e->bytes[sent];
		flow->ct.bytes_received += e->bytes[!sent];
		flow->ct.packets_sent += e->packets[sent];
		flow->ct.packets_received += e->packets[!sent];
	} else {
		flow->ct.no_acct++;
	}
	/* NAT: the reply tuple names who really answers and whom it answers. */
	if (!flow->ct.nat_src && addr_differs(e->orig.family, &e->reply.dst, &e->orig.src)) {
		flow->ct.nat_src = true;
		flow->ct.nat_saddr = e->reply.dst;
	}
	if (!flow->ct.nat_dst && (addr_differs(e->orig.family, &e->reply.src, &e->orig.dst) ||
				  e->reply.sport != e->orig.dport)) {
		flow->ct.nat_dst = true;
		flow->ct.nat_daddr = e->reply.src;
		flow->ct.nat_dport = e->reply.sport;
	}
	if ((ct->flags & HF_CT_EVENTS) && e->id) {
		uint32_t *id = table_get(&ct->ids, &e->id, sizeof(e->id));
		if (!id)
			return -ENOMEM;
	}
	return 0;
}

static int acc_add(struct ct_state *ct, const uint8_t *key, const uint64_t *bytes,
		   const uint64_t *packets, uint32_t destroyed, uint32_t no_acct)
{
	struct ct_acc *a = table_get(&ct->acc, key, FLOW_KEYLEN);

	if (!a)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		a->bytes[i] += bytes[i];
		a->packets[i] += packets[i];
	}
	a->destroyed += destroyed;
	a->no_acct += no_acct;
	a->gen = ct->gen;
	return 0;
}

static int ct_add_destroyed(struct hf_ctx *ctx, const struct hf_ct_entry *e)
{
	struct ct_state *ct = ctx->ct;
	struct hf_flow key;
	unsigned int sent;
	uint64_t b[2] = { 0 }, p[2] = { 0 };

	ct->info.destroyed++;
	if (!ct_key(ctx, e, &key, &sent))
		return 0;
	if (e->counters) {
		b[0] = e->bytes[sent];
		b[1] = e->bytes[!sent];
		p[0] = e->packets[sent];
		p[1] = e->packets[!sent];
	}
	/*
	 * Destroyed after the dump counted it: its live counters are in this
	 * collection's sum; its final ones replace them at the next.
	 */
	if (e->id && table_find(&ct->ids, &e->id, sizeof(e->id))) {
		struct ct_acc *h;
		if (ct->nheld == ct->capheld) {
			size_t cap = ct->capheld ? ct->capheld * 2 : 64;
			h = realloc(ct->held, cap * sizeof(*h));
			if (!h)
				return -ENOMEM;
			ct->held = h;
			ct->capheld = cap;
		}
		h = &ct->held[ct->nheld++];
		memset(h, 0, sizeof(*h));
		memcpy(h->key, &key, FLOW_KEYLEN);
		memcpy(h->bytes, b, sizeof(b));
		memcpy(h->packets, p, sizeof(p));
		h->destroyed = 1;
		h->no_acct = !e->counters;
		return 0;
	}
	return acc_add(ct, (const uint8_t *)&key, b, p, 1, !e->counters);
}

static int on_ct_entry(const struct hf_ct_entry *e, void *arg)
{
	struct hf_ctx *ctx = arg;
	struct ct_state *ct = ctx->ct;

	if (ct->in_events)
		return e->destroy ? ct_add_destroyed(ctx, e) : 0;
	ct->info.entries++;
	ct->info.entries_no_acct += !e->counters;
	ctx->totals.sockets++;
	return ct_add_live(ctx, e);
}

/* Lost events: every counter restarts from the live entries. */
static void ct_resync(struct ct_state *ct)
{
	ct->info.lost++;
	ct->info.epoch++;
	ct->info.resynced = true;
	table_reset(&ct->acc);
	ct->nheld = 0;
}

/*
 * Fold the destroyed entries' counters into the flows, and forget the
 * accumulators of flows that had neither live entries nor events.
 */
static int ct_merge(struct hf_ctx *ctx)
{
	struct ct_state *ct = ctx->ct;
	size_t keep = 0;

	for (size_t i = 0; i < ct->acc.n; i++) {
		struct ct_acc *a = table_item(&ct->acc, i);
		struct hf_flow *flow = table_find(&ctx->flows, a->key, FLOW_KEYLEN);

		if (!flow && a->gen != ct->gen)
			continue;
		if (!flow && !(flow = table_get(&ctx->flows, a->key, FLOW_KEYLEN)))
			return -ENOMEM;
		flow->ct.bytes_sent += a->bytes[0];
		flow->ct.bytes_received += a->bytes[1];
		flow->ct.packets_sent += a->packets[0];
		flow->ct.packets_received += a->packets[1];
		flow->ct.destroyed += a->destroyed;
		flow->ct.no_acct += a->no_acct;
		if (keep != i)
			memcpy(table_item(&ct->acc, keep), a, sizeof(*a));
		keep++;
	}
	if (keep != ct->acc.n) {
		table_reset(&ct->acc);
		ct->acc.n = keep;
		for (size_t i = 0; i < keep; i++)
			table_place(&ct->acc, i);
	}
	return 0;
}

static int64_t read_sysctl(const char *root, const char *name)
{
	char path[512], buf[64];

	snprintf(path, sizeof(path), "%s/sys/net/netfilter/%s", root, name);
	if (hf__read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

/* The namespace's addresses for the /proc backend, where ctnetlink (and so hf_nfct) is refused. */
static int local_addrs_getifaddrs(struct hf_addrset *set);

static const char *ct_hint(int err)
{
	switch (err) {
	case -EOPNOTSUPP:
	case -EPROTONOSUPPORT:
	case -ENOENT:
		return " (no ctnetlink in this kernel: load nf_conntrack_netlink)";
	case -EPERM:
	case -EACCES:
		return " (reading the conntrack table needs CAP_NET_ADMIN)";
	default:
		return "";
	}
}

static int ct_collect_netlink(struct hf_ctx *ctx)
{
	struct ct_state *ct = ctx->ct;
	int ret;

	ret = hf_nfct_addrs(ct->nfct, &ct->local);
	if (ret < 0) {
		snprintf(ctx->err, sizeof(ctx->err), "netlink RTM_GETADDR dump: %s: %s",
			 hf_nfct_strerror(ct->nfct), strerror(-ret));
		return ret;
	}
	/* The namespace's count and limit from the socket itself: right in any namespace. */
	{
		uint32_t count, max;
		if (hf_nfct_stats(ct->nfct, &count, &max) == 0) {
			ct->info.count = count;
			ct->info.max = max;
		}
	}
	ret = hf_nfct_dump(ct->nfct, (ct->flags & HF_CT_CTRZERO) != 0, on_ct_entry, ctx);
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "conntrack: ctnetlink dump: %s: %s%s",
			 hf_nfct_strerror(ct->nfct), strerror(-ret), ct_hint(ret));
	return ret;
}

static int ct_collect_proc(struct hf_ctx *ctx)
{
	struct ct_state *ct = ctx->ct;
	char path[512];
	int ret;

	if (!ctx->procbuf) {
		ctx->procbuf = malloc(sizeof(*ctx->procbuf));
		if (!ctx->procbuf)
			return -ENOMEM;
	}
	ret = local_addrs_getifaddrs(&ct->local);
	if (ret < 0) {
		snprintf(ctx->err, sizeof(ctx->err), "getifaddrs: %s", strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), "%s/net/nf_conntrack", ctx->proc_root);
	ret = hf__ct_proc_dump(path, ctx->procbuf->data[0], sizeof(ctx->procbuf->data), on_ct_entry,
			       ctx);
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "conntrack: %s: %s%s", path,
			 ret == -EBADMSG ? "malformed line" : strerror(-ret),
			 ret == -ENOENT ? " (no conntrack in this kernel, or no procfs support: "
					  "load nf_conntrack)" :
					  "");
	return ret;
}

static int ct_collect(struct hf_ctx *ctx)
{
	struct ct_state *ct = ctx->ct;
	int ret;

	collect_reset(ctx, ctx->filter);
	memset(&ct->info, 0, offsetof(struct hf_ct_info, destroyed));
	ct->info.resynced = false;
	ct->info.count = read_sysctl(ctx->proc_root, "nf_conntrack_count");
	ct->info.max = read_sysctl(ctx->proc_root, "nf_conntrack_max");
	ct->info.acct = (int)read_sysctl(ctx->proc_root, "nf_conntrack_acct");
	ct->in_events = false;
	if (ct->flags & HF_CT_EVENTS) {
		ct->gen++;
		table_reset(&ct->ids);
		/* The entries held last time have left the dump: their final counters count now. */
		for (size_t i = 0; i < ct->nheld; i++) {
			struct ct_acc *h = &ct->held[i];
			ret = acc_add(ct, h->key, h->bytes, h->packets, h->destroyed, h->no_acct);
			if (ret < 0)
				goto out;
		}
		ct->nheld = 0;
	}
	if (!ct->proc) {
		ctx->used = HF_BACKEND_NETLINK;
		ret = ct_collect_netlink(ctx);
		if ((ret == -EPERM || ret == -EACCES || ret == -EOPNOTSUPP || ret == -ENOENT) &&
		    !(ct->flags & HF_CT_EVENTS) && ctx->want == HF_BACKEND_AUTO) {
			snprintf(ct->nl_err, sizeof(ct->nl_err), "%.150s", ctx->err);
			hf_nfct_close(ct->nfct);
			ct->nfct = NULL;
			ct->proc = true;
			collect_reset(ctx, ctx->filter);
			memset(&ct->info, 0, offsetof(struct hf_ct_info, count));
		} else {
			goto events;
		}
	}
	ctx->used = HF_BACKEND_PROC;
	ctx->err[0] = '\0';
	ret = ct_collect_proc(ctx);
	if (ret < 0 && ct->nl_err[0]) {
		size_t len = strlen(ctx->err);
		snprintf(ctx->err + len, sizeof(ctx->err) - len, "; before that: %s", ct->nl_err);
	}
	goto out;

events:
	if (ret == 0 && (ct->flags & HF_CT_EVENTS)) {
		ct->in_events = true;
		ret = hf_nfct_events(ct->nfct, on_ct_entry, ctx);
		if (ret == -ENOBUFS) {
			ret = hf_nfct_events(ct->nfct, on_ct_entry, ctx);
			ct_resync(ct);
		}
		ct->in_events = false;
		if (ret < 0 && ret != -ENOMEM)
			snprintf(ctx->err, sizeof(ctx->err), "conntrack: destroy events: %s: %s",
				 hf_nfct_strerror(ct->nfct), strerror(-ret));
		if (ret == 0)
			ret = ct_merge(ctx);
	}
out:
	if (ret == -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "out of memory for the flow table");
	for (size_t i = 0; i < ctx->flows.n; i++) {
		struct hf_flow *f = table_item(&ctx->flows, i);
		f->ct.traffic_known = f->ct.no_acct == 0;
	}
	ct->info.traffic_unknown = ct->info.entries_no_acct > 0;
	ctx->totals.flows = ctx->flows.n;
	return ret < 0 ? ret : (ret > 0 ? -ECANCELED : 0);
}

static int local_addrs_getifaddrs(struct hf_addrset *set)
{
	struct ifaddrs *ifa, *i;
	int ret = 0;

	set->n = 0;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i && ret == 0; i = i->ifa_next) {
		union hf_addr a;
		if (!i->ifa_addr)
			continue;
		memset(&a, 0, sizeof(a));
		if (i->ifa_addr->sa_family == AF_INET)
			memcpy(a.b, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		else if (i->ifa_addr->sa_family == AF_INET6)
			memcpy(a.b, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
		else
			continue;
		ret = hf_addrset_add(set, i->ifa_addr->sa_family, &a);
	}
	freeifaddrs(ifa);
	hf_addrset_sort(set);
	return ret;
}

int hf_flow_key_cmp(const struct hf_flow *a, const struct hf_flow *b)
{
	return memcmp(a, b, FLOW_KEYLEN);
}

int hf_listener_key_cmp(const struct hf_listener *a, const struct hf_listener *b)
{
	return memcmp(a, b, LISTENER_KEYLEN);
}

/* ---- the bpf backend ----------------------------------------------------------------------- */

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
 * connections per state, counted as on_connection() counts one socket:
 * host totals, the listener's figures, then the filter and peer grouping.
 */
static int flow_count(struct hf_ctx *ctx, struct hf_sock *s, enum hf_dir dir,
		      const uint32_t states[HF_STATE_MAX], const struct hf_flow *counters)
{
	const struct hf_filter *f = ctx->filter;
	struct hf_listener *l = NULL;
	struct hf_flow key, *flow = NULL;
	unsigned int full, plen;

	if (dir == HF_DIR_PASSIVE) {
		s->state = HF_ESTABLISHED;
		hf_classify(ctx, s, ctx->port_lo, ctx->port_hi, &l);
	}
	if (l) {
		l->syn_recv += states[HF_SYN_RECV];
		l->established += states[HF_ESTABLISHED];
	}
	full_key(s, dir, &key);
	full = key.pplen;
	plen = f ? (s->family == AF_INET ? f->peer_prefix4 : f->peer_prefix6) : full;
	if (plen == 0 || plen > full)
		plen = full;
	if (plen < full)
		hf__addr_mask(s->family, &key.paddr, plen);
	key.pplen = (uint8_t)plen;
	for (unsigned int st = 1; st < HF_STATE_MAX; st++) {
		if (!states[st])
			continue;
		ctx->totals.sockets += states[st];
		ctx->totals.states[st] += states[st];
		s->state = (uint8_t)st;
		if (f && !filter_admits(f, s, dir))
			continue;
		if (!flow && !(flow = table_get(&ctx->flows, &key, FLOW_KEYLEN)))
			return -ENOMEM;
		flow->conns += states[st];
		flow->states[st] += states[st];
	}
	s->state = 0; /* no state is ignored: the counters follow the flow's other filters */
	if (counters && (counters->opened || counters->closed || counters->failed) &&
	    (!f || filter_admits(f, s, dir))) {
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
		return on_connection(s, arg);
	return 0;
}

static int collect_bpf(struct hf_ctx *ctx)
{
	uint64_t err[HF_BPF_ERR_MAX];
	uint32_t states[HF_STATE_MAX];
	struct timespec now;
	struct hf_sock s;
	bool due;
	int ret;

	ret = hf_diag_dump(ctx->diag, ctx->mode, HF__STATES_LISTEN, HF_FAMILY_ALL, on_listener,
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

static void bpf_close(struct hf_ctx *ctx)
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
	/* hf_close() frees only what bpf_close() finds set up. */
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
