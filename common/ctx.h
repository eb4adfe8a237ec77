/*
 * ctx.h - struct hf_ctx and what its collectors share, private to
 * libhostflow: flow.c (sockets: netlink, /proc, every namespace), ctflow.c
 * (the conntrack source), bpfflow.c (the bpf backend).
 */
#ifndef HOSTFLOW_CTX_H
#define HOSTFLOW_CTX_H

#include <time.h>

#include "hostflow.h"
#include "internal.h"
#include "table.h"
#include "bpf/hostflow_bpf.h"

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
	char note[320]; /* hf_open_note() */
	/* the bpf backend (bpf.c and the end of this file); NULL/0 for the others */
	struct hf__bpf *bpf;
	struct hf_ctx *snap; /* a netlink collector: the reconcile's snapshots */
	bool full_only;	     /* snap: full sockets past SYN_RECV only, what the programs count */
	bool tw_merged;	     /* snap (timers followed): time-wait and request sockets too, a
				time-wait socket under TIME_WAIT whatever its substate */
	bool bpf_unhashed;   /* this namespace's time-wait and request sockets from the programs */
	uint64_t bpf_tw_fw2; /* of those, its time-wait sockets counted in FIN_WAIT2 */
	bool fix_unhashed;   /* this reconcile corrects time-wait and request sockets everywhere */
	int64_t bpf_pending; /* listeners' children not keyed yet, read once per collection */
	struct table fix; /* per flow: corrections added to the programs' counts (inode: gen used) */
	struct table cmp[3];	/* the reconcile's reads of the programs' counts, the snapshot's */
	uint32_t gen;		/* collection number, marks the corrections applied */
	uint64_t bloss;		/* losses() at the last reconcile */
	bool unsettled;		/* a reconcile after a loss left a moving flow uncorrected */
	unsigned int retry_gap; /* seconds until the next try while unsettled */
	struct timespec retry_at;
	bool suspect;		   /* a quiet check failed: reseed and reconcile */
	bool new_seed;		   /* a namespace was seeded: reconcile */
	struct hf__bpf_ent *bents; /* the map, every namespace (with hf_netns_select()) */
	size_t nbents, capbents;
	/*
	 * Inodes of namespaces known before this collection (scratch), and
	 * of those gone whose flows are still in the map: a namespace's inode
	 * is given to the next one made once the kernel frees it.
	 */
	uint32_t *bseen, *bdead;
	size_t nbseen, capbseen, nbdead, capbdead;
	uint32_t *bmoving; /* namespaces with a flow the last reconcile could not correct */
	size_t nbmoving, capbmoving;
	struct hf_bpf_stats bstats;
	unsigned int reconcile_every; /* seconds */
	struct timespec next_reconcile;
	struct ct_state *ct; /* HF_SOURCE_CONNTRACK only */
	struct hf__nsset ns; /* the namespaces: by default the own one alone */
	uint32_t cur_ns;     /* the id of the namespace under collection */
};

/* The listener key: family, pad, port, address, namespace (the first 24 bytes). */
#define LISTENER_KEYLEN (offsetof(struct hf_listener, netns) + sizeof(uint32_t))
#define FLOW_KEYLEN offsetof(struct hf_flow, conns)

_Static_assert(offsetof(struct hf_flow, laddr) == 8, "flow key has no hidden padding");
_Static_assert(offsetof(struct hf_flow, netns) == 40, "flow key has no hidden padding");
_Static_assert(FLOW_KEYLEN == 44, "flow key is 44 bytes");
_Static_assert(offsetof(struct hf_listener, port) == 2 && offsetof(struct hf_listener, addr) == 4 &&
		       offsetof(struct hf_listener, netns) == 20,
	       "listener key has no hidden padding");

/* flow.c */
/* hf__filter_admits - whether filter @f keeps socket @s of direction @dir. */
bool hf__filter_admits(const struct hf_filter *f, const struct hf_sock *s, enum hf_dir dir);
/* hf__key_peer_prefix - group @key's peer by the filter's PeerPrefix (sets pplen). */
void hf__key_peer_prefix(const struct hf_filter *f, struct hf_flow *key);
/* hf__collect_reset - empty the tables and totals for a collection under @filter. */
void hf__collect_reset(struct hf_ctx *ctx, const struct hf_filter *filter);
/* What a collection stood at before a namespace, to take it back (hf__mark_undo). */
struct hf__mark {
	size_t flows, listeners;
	struct hf_totals totals;
};
void hf__mark_set(const struct hf_ctx *ctx, struct hf__mark *m);
void hf__mark_undo(struct hf_ctx *ctx, const struct hf__mark *m);
/*
 * hf__collect_each - discover the namespaces, then collect each one
 * selected with ctx->cur_ns set: the collector's own with @own (0, or a
 * negative errno that ends the collection), the others with @other (0,
 * 1 when skipped, or a negative errno); each namespace's share of the
 * totals and flows is set, and ctx->used is the own namespace's backend.
 */
int hf__collect_each(struct hf_ctx *ctx, int (*own)(struct hf_ctx *ctx, struct hf__ns *e),
		     int (*other)(struct hf_ctx *ctx, struct hf__ns *e));
/*
 * hf__ns_skipped - namespace @e could not be read this time: say why
 * (ctx->err) once, clear the error. Returns 1, what a collect_each
 * callback returns for a namespace left out.
 */
int hf__ns_skipped(struct hf_ctx *ctx, struct hf__ns *e);

/* hf__on_listener, hf__on_connection - a dumped socket into ctx (hf_sock_cb). */
int hf__on_listener(const struct hf_sock *s, void *arg);
int hf__on_connection(const struct hf_sock *s, void *arg);

/* ctflow.c: the conntrack source, when hf_open_with() asked for it */
int hf__ctflow_open(struct hf_ctx *ctx, const struct hf_open_opts *o);
void hf__ctflow_close(struct hf_ctx *ctx);
int hf__ctflow_collect(struct hf_ctx *ctx);

/* bpfflow.c: the bpf backend, when hf_open_bpf() made the collector */
int hf__bpfflow_collect(struct hf_ctx *ctx);
void hf__bpfflow_close(struct hf_ctx *ctx);

#endif /* HOSTFLOW_CTX_H */
