/*
 * flow.c - the collector: listeners first, then every connection classified
 * and counted into its flow, in each namespace read. Two open-addressing
 * tables (listeners, flows, table.h) over dense arrays; both are cleared,
 * not freed, between collections, so a steady host allocates nothing.
 * hf_collect() hands the conntrack source to ctflow.c and the bpf backend
 * to bpfflow.c.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"

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
	bool nfct_taken = false; /* hf__ctflow_open() owns o->nfct, even when it fails */
	int err = ENOMEM;

	char why[256] = "";

	if (backend == HF_BACKEND_BPF && o->source != HF_SOURCE_CONNTRACK)
		return hf_open_bpf(proc_root, NULL, 0);
	if (backend == HF_BACKEND_AUTO && o->follow && o->source == HF_SOURCE_SOCKETS) {
		ctx = hf_open_bpf(proc_root, why, sizeof(why));
		if (ctx)
			return ctx;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		goto out_nfct;
	if (why[0])
		snprintf(ctx->note, sizeof(ctx->note), "bpf backend unavailable: %s", why);
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
		err = -hf__ctflow_open(ctx, o);
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

void hf_close(struct hf_ctx *ctx)
{
	if (!ctx)
		return;
	hf__bpfflow_close(ctx);
	hf_diag_close(ctx->diag);
	hf__ctflow_close(ctx);
	hf__nsset_free(&ctx->ns);
	free(ctx->procbuf);
	table_free(&ctx->flows);
	table_free(&ctx->listeners);
	free(ctx);
}

const char *hf_open_note(const struct hf_ctx *ctx)
{
	return ctx->note;
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

int hf__on_listener(const struct hf_sock *s, void *arg)
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

bool hf__filter_admits(const struct hf_filter *f, const struct hf_sock *s, enum hf_dir dir)
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

void hf__key_peer_prefix(const struct hf_filter *f, struct hf_flow *key)
{
	unsigned int full = key->family == AF_INET ? 32 : 128;
	unsigned int plen = f ? (key->family == AF_INET ? f->peer_prefix4 : f->peer_prefix6) : full;

	if (plen == 0 || plen > full)
		plen = full;
	if (plen < full)
		hf__addr_mask(key->family, &key->paddr, plen);
	key->pplen = (uint8_t)plen;
}

int hf__on_connection(const struct hf_sock *s, void *arg)
{
	struct hf_ctx *ctx = arg;
	const struct hf_filter *f = ctx->filter;
	struct hf_listener *l;
	struct hf_flow key, *flow;
	enum hf_dir dir;

	if (s->state == HF_LISTEN || s->state >= HF_STATE_MAX)
		return 0;
	if (ctx->full_only && (s->timewait || s->state == HF_SYN_RECV)) {
		struct hf_sock t;

		/* What the programs count with their timers followed: see ctx.h. */
		if (!ctx->tw_merged || (s->state == HF_SYN_RECV && !s->request))
			return 0;
		if (s->timewait && s->state != HF_TIME_WAIT) {
			t = *s;
			t.state = HF_TIME_WAIT;
			return hf__on_connection(&t, arg);
		}
	}
	ctx->totals.sockets++;
	ctx->totals.states[s->state]++;
	dir = hf_classify(ctx, s, ctx->port_lo, ctx->port_hi, &l);
	if (l) {
		if (s->state == HF_SYN_RECV)
			l->syn_recv++;
		else if (s->state == HF_ESTABLISHED)
			l->established++;
	}
	if (f && !hf__filter_admits(f, s, dir))
		return 0;

	memset(&key, 0, FLOW_KEYLEN);
	key.dir = (uint8_t)dir;
	key.family = s->family;
	key.proto = IPPROTO_TCP;
	key.laddr = s->laddr;
	key.paddr = s->raddr;
	key.netns = ctx->cur_ns;
	hf__key_peer_prefix(f, &key);
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

	ret = hf_diag_dump(d, ctx->mode, HF__STATES_LISTEN, HF_FAMILY_ALL, hf__on_listener, ctx);
	if (ret == 0)
		ret = hf_diag_dump(d, ctx->mode, HF__STATES_CONN, HF_FAMILY_ALL, hf__on_connection,
				   ctx);
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "netlink inet_diag dump: %s: %s",
			 hf_diag_strerror(d), strerror(-ret));
	return ret;
}

/* Both passes over /proc read listeners first (see hf_proc_dump), in one callback. */
static int on_proc_sock(const struct hf_sock *s, void *arg)
{
	return s->state == HF_LISTEN ? hf__on_listener(s, arg) : hf__on_connection(s, arg);
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

void hf__collect_reset(struct hf_ctx *ctx, const struct hf_filter *filter)
{
	table_reset(&ctx->flows);
	table_reset(&ctx->listeners);
	memset(ctx->listen_ports, 0, sizeof(ctx->listen_ports));
	memset(&ctx->totals, 0, sizeof(ctx->totals));
	ctx->filter = filter;
}

/* Keep the first @n items only: a namespace's items are the last ones added. */
static void table_truncate(struct table *t, size_t n)
{
	t->n = n;
	memset(t->slots, 0, (t->mask + 1) * sizeof(*t->slots));
	for (size_t i = 0; i < n; i++)
		table_place(t, i);
}

void hf__mark_set(const struct hf_ctx *ctx, struct hf__mark *m)
{
	m->flows = ctx->flows.n;
	m->listeners = ctx->listeners.n;
	m->totals = ctx->totals;
}

void hf__mark_undo(struct hf_ctx *ctx, const struct hf__mark *m)
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
	struct hf__mark m;
	int ret;

	hf__mark_set(ctx, &m);
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
			hf__mark_undo(ctx, &m);
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

static void ns_count_flows(struct hf_ctx *ctx)
{
	for (size_t i = 0; i < ctx->flows.n; i++) {
		const struct hf_flow *f = table_item(&ctx->flows, i);
		struct hf_netns *ns = (struct hf_netns *)hf_netns_find(ctx, f->netns);
		if (ns)
			ns->totals.flows++;
	}
}

/* A namespace other than the own one; its failures are notices, not errors. */
static int collect_other(struct hf_ctx *ctx, struct hf__ns *e)
{
	char root[32];
	struct hf__mark m;
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
			e->told = hf__notice_add(&ctx->ns,
						 "cannot enter network namespace \"%s\": %s\n",
						 e->pub.name, strerror(-ret));
			return 1;
		}
	}
	ctx->port_lo = e->port_lo;
	ctx->port_hi = e->port_hi;
	snprintf(root, sizeof(root), "/proc/%d", e->pub.pid);
	hf__mark_set(ctx, &m);
	ret = collect_ns(ctx, &e->diag, e->pub.pid ? root : NULL);
	if (ret == -ENOMEM || ret == 0)
		return ret;
	hf__mark_undo(ctx, &m);
	/* Its last process exited while /proc was read: gone, not an error. */
	if (ret == -ENOENT || ret == -ESRCH) {
		ctx->err[0] = '\0';
		return 1;
	}
	return hf__ns_skipped(ctx, e);
}

int hf__ns_skipped(struct hf_ctx *ctx, struct hf__ns *e)
{
	/* Told once it is said: a line that could not be kept is tried again. */
	if (!e->told)
		e->told = hf__notice_add(&ctx->ns, "network namespace \"%s\" skipped: %s\n",
					 e->pub.name, ctx->err);
	ctx->err[0] = '\0';
	return 1;
}

int hf__collect_each(struct hf_ctx *ctx, int (*own)(struct hf_ctx *ctx, struct hf__ns *e),
		     int (*other)(struct hf_ctx *ctx, struct hf__ns *e))
{
	enum hf_backend own_used = HF_BACKEND_AUTO;
	struct hf_totals before;
	int ret;

	ret = hf__nsset_discover(&ctx->ns);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < ctx->ns.n; i++) {
		struct hf__ns *e = &ctx->ns.v[i];

		e->pub.collected = false;
		memset(&e->pub.totals, 0, sizeof(e->pub.totals));
		e->pub.ct_count = e->pub.ct_max = -1;
		if (!e->selected)
			continue;
		ctx->cur_ns = e->pub.id;
		before = ctx->totals;
		if (e->pub.self) {
			ret = own(ctx, e);
			if (ret)
				return ret;
			own_used = ctx->used;
		} else {
			ret = other(ctx, e);
			if (ret < 0)
				return ret;
			if (ret > 0)
				continue;
		}
		e->pub.collected = true;
		e->pub.backend = ctx->used;
		totals_sub(&e->pub.totals, &ctx->totals, &before);
	}
	ns_count_flows(ctx);
	if (own_used != HF_BACKEND_AUTO)
		ctx->used = own_used;
	return 0;
}

static int collect_own(struct hf_ctx *ctx, struct hf__ns *e)
{
	(void)e;
	hf_port_range_read(ctx->proc_root, &ctx->port_lo, &ctx->port_hi);
	return collect_ns(ctx, &ctx->diag, ctx->proc_root);
}

int hf_collect(struct hf_ctx *ctx, const struct hf_filter *filter)
{
	struct hf__ns *e = &ctx->ns.v[0];
	int ret;

	ctx->err[0] = '\0';
	ctx->ns.notice_len = 0;
	if (ctx->ns.notice)
		ctx->ns.notice[0] = '\0';
	if (ctx->ct) {
		ctx->filter = filter;
		return hf__ctflow_collect(ctx);
	}
	hf__collect_reset(ctx, filter);
	if (ctx->bpf) {
		hf_port_range_read(ctx->proc_root, &ctx->port_lo, &ctx->port_hi);
		ret = hf__bpfflow_collect(ctx);
		goto out;
	}
	if (ctx->ns.active) {
		ret = hf__collect_each(ctx, collect_own, collect_other);
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
	int ret;

	/* The bpf backend: its reconcile's snapshots read the same namespaces. */
	if (ctx->bpf) {
		ret = hf_netns_select(ctx->snap, spec);
		if (ret < 0)
			return ret;
		hf__bpf_every_netns(ctx->bpf);
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
	return ctx->ns.notice ? ctx->ns.notice : "";
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

int hf_flow_key_cmp(const struct hf_flow *a, const struct hf_flow *b)
{
	return memcmp(a, b, FLOW_KEYLEN);
}

int hf_listener_key_cmp(const struct hf_listener *a, const struct hf_listener *b)
{
	return memcmp(a, b, LISTENER_KEYLEN);
}
