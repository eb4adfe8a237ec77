/*
 * ctflow.c - the conntrack source: netfilter's connection tracking table,
 * dumped over ctnetlink (nfct.c) or read from /proc/net/nf_conntrack (ct.c
 * parses both), collapsed into host flows with a protocol, traffic and
 * NAT; with HF_CT_EVENTS, destroy events add the final counters of the
 * entries that ended, so traffic per flow is monotonic.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"

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
	struct hf_addrset local;      /* the own namespace's addresses */
	struct hf_addrset *cur_local; /* those of the namespace under collection */
	struct hf_ct_info info;
	char nl_err[160]; /* why ctnetlink was given up, when it was */
	/* HF_CT_EVENTS */
	uint64_t gen;
	struct table ids;    /* (namespace, CTA_ID) of this collection's dumps */
	struct table acc;    /* struct ct_acc by flow key */
	struct ct_acc *held; /* destroy events of entries the dump counted: for the next collection */
	size_t nheld, capheld;
	bool in_events; /* the callback is reading events, not the dump */
	int err;	/* an error met inside a callback that must not stop the read */
};

int hf__ctflow_open(struct hf_ctx *ctx, const struct hf_open_opts *o)
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
		if (table_init(&ct->ids, sizeof(uint64_t), sizeof(uint64_t), 1024) < 0) {
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

void hf__ctflow_close(struct hf_ctx *ctx)
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
	enum hf_dir dir = hf_ct_direction(e, ctx->ct->cur_local);
	struct hf_sock s;

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
	if (f && !hf__filter_admits(f, &s, dir))
		return false;
	memset(key, 0, FLOW_KEYLEN);
	key->dir = (uint8_t)dir;
	key->family = s.family;
	key->proto = e->orig.proto;
	key->laddr = s.laddr;
	key->paddr = s.raddr;
	key->lport = s.lport;
	key->pport = s.rport;
	key->netns = ctx->cur_ns;
	hf__key_peer_prefix(f, key);
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
		uint64_t nid = (uint64_t)ctx->cur_ns << 32 | e->id;
		if (!table_get(&ct->ids, &nid, sizeof(nid)))
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
	uint64_t nid = (uint64_t)ctx->cur_ns << 32 | e->id;

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
	if (e->id && table_find(&ct->ids, &nid, sizeof(nid))) {
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

/*
 * One namespace's table over ctnetlink through @h: its addresses into
 * @local (the direction of each entry depends on them), its count and
 * limit (asked of the socket itself: right in any namespace), the dump.
 */
static int ct_read_netlink(struct hf_ctx *ctx, struct hf_nfct *h, struct hf_addrset *local,
			   int64_t *count, int64_t *max)
{
	struct ct_state *ct = ctx->ct;
	uint32_t c, m;
	int ret;

	ret = hf_nfct_addrs(h, local);
	if (ret < 0) {
		snprintf(ctx->err, sizeof(ctx->err), "netlink RTM_GETADDR dump: %s: %s",
			 hf_nfct_strerror(h), strerror(-ret));
		return ret;
	}
	ct->cur_local = local;
	if (hf_nfct_stats(h, &c, &m) == 0) {
		*count = c;
		*max = m;
	}
	ret = hf_nfct_dump(h, (ct->flags & HF_CT_CTRZERO) != 0, on_ct_entry, ctx);
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "conntrack: ctnetlink dump: %s: %s%s",
			 hf_nfct_strerror(h), strerror(-ret), ct_hint(ret));
	return ret;
}

/* HF_CT_EVENTS: the destroy events queued on @h since the last collection. */
static int ct_read_events(struct hf_ctx *ctx, struct hf_nfct *h)
{
	struct ct_state *ct = ctx->ct;
	int ret;

	ct->in_events = true;
	ret = hf_nfct_events(h, on_ct_entry, ctx);
	if (ret == -ENOBUFS) {
		ret = hf_nfct_events(h, on_ct_entry, ctx);
		ct_resync(ct);
	}
	ct->in_events = false;
	if (ret < 0 && ret != -ENOMEM)
		snprintf(ctx->err, sizeof(ctx->err), "conntrack: destroy events: %s: %s",
			 hf_nfct_strerror(h), strerror(-ret));
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
	ct->cur_local = &ct->local;
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

/*
 * The namespace the collector runs in: ctnetlink, or /proc/net/nf_conntrack
 * when ctnetlink is refused (then for good). It comes first in a
 * collection: the fallback starts the collection again.
 */
static int ct_collect_own(struct hf_ctx *ctx)
{
	struct ct_state *ct = ctx->ct;
	int ret;

	if (!ct->proc) {
		ctx->used = HF_BACKEND_NETLINK;
		ret = ct_read_netlink(ctx, ct->nfct, &ct->local, &ct->info.count, &ct->info.max);
		if ((ret == -EPERM || ret == -EACCES || ret == -EOPNOTSUPP || ret == -ENOENT) &&
		    !(ct->flags & HF_CT_EVENTS) && ctx->want == HF_BACKEND_AUTO) {
			snprintf(ct->nl_err, sizeof(ct->nl_err), "%.150s", ctx->err);
			hf_nfct_close(ct->nfct);
			ct->nfct = NULL;
			ct->proc = true;
			hf__collect_reset(ctx, ctx->filter);
			memset(&ct->info, 0, offsetof(struct hf_ct_info, count));
		} else {
			if (ret == 0 && (ct->flags & HF_CT_EVENTS))
				ret = ct_read_events(ctx, ct->nfct);
			return ret;
		}
	}
	ctx->used = HF_BACKEND_PROC;
	ctx->err[0] = '\0';
	ret = ct_collect_proc(ctx);
	if (ret < 0 && ct->nl_err[0]) {
		size_t len = strlen(ctx->err);
		snprintf(ctx->err + len, sizeof(ctx->err) - len, "; before that: %s", ct->nl_err);
	}
	return ret;
}

struct nfct_open_arg {
	unsigned int flags;
	struct hf_nfct *h;
	int err;
};

static void nfct_open_in(void *p)
{
	struct nfct_open_arg *a = p;

	a->h = hf_nfct_open(a->flags);
	if (!a->h)
		a->err = -errno;
}

/*
 * Another namespace, over ctnetlink sockets opened inside it once and kept
 * (closed by the discovery when it goes). Returns 0, -ENOMEM, or 1 when it
 * was skipped: gone, or refused (said once in the notices).
 */
static int ct_collect_other(struct hf_ctx *ctx, struct hf__ns *e)
{
	struct ct_state *ct = ctx->ct;
	struct hf__mark m;
	int ret;

	if (!e->nfct) {
		struct nfct_open_arg a = { .flags = (ct->flags & HF_CT_EVENTS) ? HF_NFCT_EVENTS :
										 0 };
		if (e->told)
			return 1;
		if (ctx->want == HF_BACKEND_PROC) {
			e->told = hf__notice_add(
				&ctx->ns,
				"network namespace \"%s\" skipped: its conntrack table is read "
				"over ctnetlink only\n",
				e->pub.name);
			return 1;
		}
		ret = hf__ns_run(e, nfct_open_in, &a);
		if (ret == 0)
			ret = a.err;
		if (ret == -ENOENT || ret == -ESRCH)
			return 1;
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0) {
			e->told = hf__notice_add(
				&ctx->ns,
				"cannot read the conntrack table of network namespace \"%s\": "
				"%s%s\n",
				e->pub.name, strerror(-ret), ct_hint(ret));
			return 1;
		}
		e->nfct = a.h;
	}
	ctx->used = HF_BACKEND_NETLINK;
	hf__mark_set(ctx, &m);
	ret = ct_read_netlink(ctx, e->nfct, &e->ct_local, &e->pub.ct_count, &e->pub.ct_max);
	if (ret == 0 && (ct->flags & HF_CT_EVENTS))
		ret = ct_read_events(ctx, e->nfct);
	if (ret == 0 || ret == -ENOMEM)
		return ret;
	hf__mark_undo(ctx, &m);
	return hf__ns_skipped(ctx, e);
}

/* The own namespace among others (hf__collect_each()): its count and limit too. */
static int ct_collect_own_ns(struct hf_ctx *ctx, struct hf__ns *e)
{
	int ret = ct_collect_own(ctx);

	e->pub.ct_count = ctx->ct->info.count;
	e->pub.ct_max = ctx->ct->info.max;
	return ret;
}

int hf__ctflow_collect(struct hf_ctx *ctx)
{
	struct ct_state *ct = ctx->ct;
	int ret;

	hf__collect_reset(ctx, ctx->filter);
	memset(&ct->info, 0, offsetof(struct hf_ct_info, destroyed));
	ct->info.resynced = false;
	ct->info.count = read_sysctl(ctx->proc_root, "nf_conntrack_count");
	ct->info.max = read_sysctl(ctx->proc_root, "nf_conntrack_max");
	ct->info.acct = (int)read_sysctl(ctx->proc_root, "nf_conntrack_acct");
	ct->in_events = false;
	ct->cur_local = &ct->local;
	ctx->cur_ns = 0;
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
	if (ctx->ns.active) {
		ret = hf__collect_each(ctx, ct_collect_own_ns, ct_collect_other);
	} else {
		ret = ct_collect_own(ctx);
		ctx->ns.v[0].pub.ct_count = ct->info.count;
		ctx->ns.v[0].pub.ct_max = ct->info.max;
	}
	if (ret == 0 && (ct->flags & HF_CT_EVENTS))
		ret = ct_merge(ctx);
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
