/*
 * internal.h - names shared inside libhostflow only (hf__ prefix).
 */
#ifndef HOSTFLOW_INTERNAL_H
#define HOSTFLOW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hostflow.h"
#include "bpf/hostflow_bpf.h"

/* Every TCP state bit but LISTEN, request sockets (SYN_RECV) included. */
#define HF__STATES_CONN (((1u << HF_STATE_MAX) - 2u) & ~(1u << HF_LISTEN))
#define HF__STATES_LISTEN (1u << HF_LISTEN)

/*
 * hf__read_small - read at most @len - 1 bytes of a small file (/proc/sys)
 * into @buf, NUL-terminated. Returns the length or a negative errno.
 */
long hf__read_small(const char *path, char *buf, size_t len);

/* hf__addr_mask - clear all but the first @plen bits of @a. */
void hf__addr_mask(int family, union hf_addr *a, unsigned int plen);

/*
 * hf__diag_handle - the messages of one netlink read: check each length and
 * sequence number, parse sockets into @cb. Returns 1 at NLMSG_DONE, 0 when
 * more is to come, a negative errno (and *@what) otherwise. Pure, for tests.
 */
int hf__diag_handle(const void *buf, int len, uint32_t seq, unsigned int families, hf_sock_cb cb,
		    void *arg, const char **what);

/* ---- the bpf backend (bpf.c) ----------------------------------------------------------- */

struct hf_bpf_key;
struct hf_bpf_val;
struct hf__bpf;

/*
 * hf__bpf_decode - one entry of the programs' flow map as a socket of the
 * flow (@s: family, addresses, ports), its direction and its counts per
 * state (SYN_RECV holds request sockets too, TIME_WAIT time-wait sockets
 * in TIME_WAIT), and in *@tw_fw2 its time-wait sockets in FIN_WAIT2 (the
 * caller counts them as FIN_WAIT2 or TIME_WAIT, or leaves them to a
 * dump). Pure, for tests.
 * Returns 0, -EBADMSG for a key with an unknown family or direction,
 * -ENOENT for an entry with nothing to report (no connection, no counter).
 */
int hf__bpf_decode(const struct hf_bpf_key *k, const struct hf_bpf_val *v, struct hf_sock *s,
		   enum hf_dir *dir, uint32_t states[HF_STATE_MAX], uint32_t *tw_fw2);

/*
 * hf__bpf_open - load and attach the programs, then seed them from the
 * sockets of the caller's network namespace. On failure returns a
 * negative errno and writes the cause into @err.
 */
int hf__bpf_open(struct hf__bpf **out, uint16_t port_lo, uint16_t port_hi, char *err,
		 size_t errlen);
void hf__bpf_close(struct hf__bpf *b);

typedef int (*hf__bpf_flow_cb)(const struct hf_bpf_key *k, const struct hf_bpf_val *v, void *arg);

/*
 * hf__bpf_read - call @cb for every flow of the caller's namespace (@all:
 * of every namespace). Returns 0, -errno or @cb's return.
 */
int hf__bpf_read(struct hf__bpf *b, bool all, hf__bpf_flow_cb cb, void *arg);

/*
 * hf__bpf_errors - the programs' error counters (enum hf_bpf_error),
 * summed over CPUs, and the transitions set_state missed.
 */
int hf__bpf_errors(struct hf__bpf *b, uint64_t out[HF_BPF_ERR_MAX]);

/*
 * hf__bpf_expire - move the time-wait sockets counted in FIN_WAIT2 that
 * are now in TIME_WAIT (tw_settle), and end the counts of the request
 * sockets whose timer is past the time it must have left the wheel by
 * (freed with no timer_cancel seen; reqs_expire). Returns 0 or -errno; 0
 * when the timers are not followed.
 */
int hf__bpf_expire(struct hf__bpf *b);

/*
 * hf__bpf_reseed - run the seed again: it counts the live sockets no
 * transition tagged (their birth was lost), classified by the listeners
 * present now. Returns 0 or -errno.
 */
int hf__bpf_reseed(struct hf__bpf *b);

/*
 * hf__bpf_seed_ports - run the seed from the calling thread's namespace,
 * with that namespace's local port range. Returns 0 or -errno.
 */
int hf__bpf_seed_ports(struct hf__bpf *b, uint16_t port_lo, uint16_t port_hi);

/*
 * hf__bpf_forget - delete flow @k, of a namespace gone, from the map if no
 * count in it is above zero (its counters go with it). Returns 0 (deleted
 * or kept) or -errno.
 */
int hf__bpf_forget(struct hf__bpf *b, const struct hf_bpf_key *k);

/* hf__bpf_every_netns - count the programs' errors in every namespace, not the opener's alone. */
void hf__bpf_every_netns(struct hf__bpf *b);

/*
 * hf__bpf_timers - whether the programs follow time-wait and request
 * sockets (their timers' programs attached: /proc/kallsyms gave the
 * handlers' addresses, and HOSTFLOW_BPF_NO_TIMERS is not set).
 */
bool hf__bpf_timers(const struct hf__bpf *b);

/* hf__bpf_pending - listeners' children in SYN_RECV the programs have not keyed yet. */
int64_t hf__bpf_pending(struct hf__bpf *b);

/*
 * hf__bpf_listeners - the listeners the programs know in namespace @netns
 * (complete once it is seeded: the seed adds those older than the programs).
 */
int64_t hf__bpf_listeners(struct hf__bpf *b, uint32_t netns);

/*
 * hf__bpf_fw2_until - CLOCK_MONOTONIC ns until which a time-wait socket of
 * namespace @netns may be in FIN_WAIT2 (0: none ever was).
 */
uint64_t hf__bpf_fw2_until(struct hf__bpf *b, uint32_t netns);

/* hf__bpf_netns - the inode of the namespace the programs were opened from. */
uint32_t hf__bpf_netns(const struct hf__bpf *b);
/*
 * hf__ct_handle - the messages of one ctnetlink read (a dump's, or events'
 * with @seq 0: any sequence), as hf__diag_handle(). Pure, for tests.
 */
int hf__ct_handle(const void *buf, int len, uint32_t seq, hf_ct_cb cb, void *arg,
		  const char **what);

/*
 * hf__ct_proc_dump - read @path (/proc/net/nf_conntrack) line by line
 * through @buf of @cap bytes, calling @cb for each entry. Returns 0, the
 * callback's return, -EBADMSG for a malformed line or a negative errno.
 */
int hf__ct_proc_dump(const char *path, char *buf, size_t cap, hf_ct_cb cb, void *arg);
/* ---- network namespaces (netns.c) ---- */

/* One namespace as the collector keeps it across collections. */
struct hf__ns {
	struct hf_netns pub;
	uint64_t dev;
	struct hf_diag *diag; /* opened inside it; NULL until entered */
	/* the conntrack source: ctnetlink sockets opened inside it, its addresses */
	struct hf_nfct *nfct;
	struct hf_addrset ct_local;
	char mount[256]; /* a bind mount to enter it by, "" if none */
	uint16_t port_lo, port_hi;
	bool entered;	  /* port range read (and diag opened) inside it */
	bool seen;	  /* found by the discovery under way */
	bool selected;	  /* to be collected */
	bool told;	  /* a failure to enter was said once */
	bool named_mount; /* the mount is an `ip netns` one */
	/* the bpf backend: seeded inside it, and its quiet check (bpfflow.c) */
	bool bpf_seeded;
	bool bpf_reconciled; /* a reconcile since its seed: its corrections hold */
	bool suspect;
	int stat_fd[2]; /* its net/sockstat and sockstat6 opened inside it, fd + 1 (0: none) */
	int64_t inuse_last, counted_last, inuse_explained;
	int64_t tw_last, twc_last; /* sockstat's tw, and the programs' (when they are read) */
};

/* Every namespace known, and which of them to collect. */
struct hf__nsset {
	struct hf__ns *v;
	size_t n, cap;
	bool active;   /* hf_netns_select() was called */
	bool degraded; /* no CAP_SYS_ADMIN: own namespace only */
	bool degraded_told;
	bool self_named; /* the own namespace has its full name */
	bool all, host, self;
	char **names; /* selected by name */
	bool *names_told;
	size_t nnames;
	uint64_t self_dev, self_ino;
	uint32_t next_id; /* the id of the next namespace discovered */
	char *notice;	  /* hf_notice()'s lines, grown as they come */
	size_t notice_len, notice_cap;
};

int hf__nsset_init(struct hf__nsset *s);
int hf__nsset_select(struct hf__nsset *s, const char *spec);
void hf__nsset_free(struct hf__nsset *s);

/*
 * hf__nsset_release_gone - close the sockets that @s holds in namespaces
 * that @ref (discovered more often) no longer knows: a socket holds its
 * namespace, which the kernel then cannot free. For a set not discovered
 * at each collection (the bpf backend's reconcile snapshot); its own
 * discovery forgets them later.
 */
void hf__nsset_release_gone(struct hf__nsset *s, const struct hf__nsset *ref);

/*
 * hf__nsset_discover - find every namespace of the host, name the new ones,
 * close the sockets of those gone, mark the selected ones. Returns 0 or
 * -ENOMEM.
 */
int hf__nsset_discover(struct hf__nsset *s);

/*
 * hf__ns_enter - read the port range of @e, and open its netlink socket
 * unless @want is HF_BACKEND_PROC, from a thread inside it. Returns 0,
 * -ENOENT when it is gone, another negative errno when it cannot be
 * entered.
 */
int hf__ns_enter(struct hf__ns *e, enum hf_backend want);

/*
 * hf__ns_run - call @fn(@arg) from a short-lived thread inside @e's
 * namespace (what it opens there stays there). Returns 0 once @fn ran,
 * -ENOENT when the namespace is gone, another negative errno when it
 * cannot be entered.
 */
int hf__ns_run(struct hf__ns *e, void (*fn)(void *), void *arg);

/*
 * hf__notice_add - append a line to s->notice (printf-like). Returns
 * whether it was added (false: out of memory): the caller marks a thing
 * told only then, so that it is said at a later collection instead.
 */
bool hf__notice_add(struct hf__nsset *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* HOSTFLOW_INTERNAL_H */
