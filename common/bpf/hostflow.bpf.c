// SPDX-License-Identifier: GPL-2.0
/*
 * hostflow.bpf.c - the bpf backend's programs: TCP connections counted per
 * host flow as they change state, in every network namespace.
 *
 *   full sockets    tp_btf/inet_sock_set_state; the direction is decided at
 *                   birth (CLOSE->SYN_SENT active, LISTEN->SYN_RECV, the
 *                   clone of a listener, passive) and kept with the socket
 *                   in socket-local storage, with the flow key and the
 *                   state the socket is counted in
 *   seed            iter/tcp: the full sockets that existed before the
 *                   programs were attached, classified by listener as
 *                   hf_classify does
 *
 * Tracepoints and iterators only: fentry/fexit and kprobes are refused on
 * kernels in lockdown or built without them, and the kernel has no
 * tracepoint where time-wait and request sockets are born or die. Those
 * (inet_diag reports them as TIME_WAIT, FIN_WAIT2 and SYN_RECV) are
 * counted by user space from a netlink dump of those states alone.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "hostflow_bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT2 5
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define TCP_NEW_SYN_RECV 12
#define DIR_ACTIVE 1
#define DIR_PASSIVE 2

char LICENSE[] SEC("license") = "GPL";

/*
 * Set by user space before each run of the seed (the namespace's local
 * port range, for the port-range rule) and when it reads more than its
 * own namespace (errors count only in that one; 0: in every one).
 */
volatile __u16 port_lo = 32768;
volatile __u16 port_hi = 60999;
volatile __u32 seeded_netns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HF_BPF_FLOWS_MAX);
	__type(key, struct hf_bpf_key);
	__type(value, struct hf_bpf_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HF_BPF_ERR_MAP);
	__type(key, __u32);
	__type(value, __u64);
} errors SEC(".maps");

/* What a full socket carries: its flow, and the state it is counted in (0: none). */
struct sock_tag {
	struct hf_bpf_key key;
	__u8 dir;
	__u8 state;
	__u8 keyed;	  /* key filled in (a passive child gets its addresses after birth) */
	__u8 established; /* reached ESTABLISHED */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_tag);
} socks SEC(".maps");

/* Listeners the seed saw, for its classification: (family, port, addr) -> v6only. */
struct lkey {
	__u8 family;
	__u8 pad;
	__u16 port;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lkey);
	__type(value, __u8);
} seed_listeners SEC(".maps");

static __always_inline void error(__u32 which, __u32 netns)
{
	__u64 *c;

	if (seeded_netns && netns && netns != seeded_netns)
		return;
	c = bpf_map_lookup_elem(&errors, &which);
	if (c)
		*c += 1;
}

static __always_inline bool v4mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff);
}

/* The addresses, ports and namespace of any socket (full, time-wait, request). */
static __always_inline void key_of(const struct sock_common *c, __u8 dir, struct hf_bpf_key *k)
{
	__u16 family = BPF_CORE_READ(c, skc_family);

	__builtin_memset(k, 0, sizeof(*k));
	k->netns = BPF_CORE_READ(c, skc_net.net, ns.inum);
	k->dir = dir;
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&k->laddr, c, skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&k->paddr, c, skc_v6_daddr);
		if (v4mapped(k->paddr)) {
			/* Reported by inet_diag as IPv4; the v4 fields are set first (tcp_v4_connect). */
			__builtin_memset(k->laddr, 0, 16);
			__builtin_memset(k->paddr, 0, 16);
			family = AF_INET;
		}
	}
	if (family == AF_INET) {
		__u32 l = BPF_CORE_READ(c, skc_rcv_saddr), p = BPF_CORE_READ(c, skc_daddr);
		__builtin_memcpy(k->laddr, &l, 4);
		__builtin_memcpy(k->paddr, &p, 4);
	}
	k->family = (__u8)family;
	if (dir == DIR_PASSIVE)
		k->lport = BPF_CORE_READ(c, skc_num);
	else
		k->pport = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
}

static __always_inline struct hf_bpf_val *flow_get(const struct hf_bpf_key *k)
{
	static const struct hf_bpf_val zero;
	struct hf_bpf_val *v = bpf_map_lookup_elem(&flows, k);

	if (v)
		return v;
	/* EEXIST when another CPU created it meanwhile: the lookup finds it. */
	bpf_map_update_elem(&flows, k, &zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&flows, k);
	if (!v)
		error(HF_BPF_ERR_FULL, k->netns);
	return v;
}

static __always_inline void count(struct hf_bpf_val *v, __u32 state, int delta, __u32 netns)
{
	if (state == TCP_NEW_SYN_RECV)
		state = TCP_SYN_RECV;
	/* The verifier's bound, where clang cannot move it away from the access. */
	asm volatile("%[s] &= 15" : [s] "+r"(state));
	if (delta < 0) {
		if (__sync_fetch_and_add(&v->states[state], -1) <= 0) {
			__sync_fetch_and_add(&v->states[state], 1);
			error(HF_BPF_ERR_UNDERFLOW, netns);
		}
	} else {
		__sync_fetch_and_add(&v->states[state], 1);
	}
}

/* ---- full sockets -------------------------------------------------------------------- */

static __always_inline void follow(struct sock *sk, int oldstate, int newstate)
{
	struct sock_tag *t;
	struct hf_bpf_val *v;
	__u8 dir = 0;

	if (sk->sk_protocol != IPPROTO_TCP)
		return;
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT)
		dir = DIR_ACTIVE;
	else if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV)
		dir = DIR_PASSIVE; /* inet_csk_clone_lock(): a listener's child */
	t = bpf_sk_storage_get(&socks, sk, 0, 0);
	if (!t || (dir && !t->state)) {
		/* Untagged and not born now: it predates the programs, the seed counts it. */
		if (!dir)
			return;
		if (!t)
			t = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!t) {
			error(HF_BPF_ERR_STORAGE,
			      BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum));
			return;
		}
		t->dir = dir;
		t->state = 0;
		t->established = 0;
		/* A child gets its addresses and ports after its birth: key it at its next change. */
		t->keyed = dir == DIR_ACTIVE;
		if (t->keyed)
			key_of(&sk->__sk_common, dir, &t->key);
		if (!t->keyed) {
			t->state = TCP_SYN_RECV; /* pending: not counted anywhere yet */
			return;
		}
		v = flow_get(&t->key);
		if (!v)
			return;
		__sync_fetch_and_add(&v->opened, 1);
		v->inode = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
		count(v, newstate, 1, t->key.netns);
		t->state = newstate;
		return;
	}
	if (!t->state)
		return; /* closed and not reborn */
	if (!t->keyed) {
		key_of(&sk->__sk_common, t->dir, &t->key);
		t->keyed = 1;
		v = flow_get(&t->key);
		if (!v)
			return;
		__sync_fetch_and_add(&v->opened, 1);
	} else {
		v = flow_get(&t->key);
		if (!v)
			return;
		count(v, t->state, -1, t->key.netns);
	}
	if (newstate == TCP_ESTABLISHED)
		t->established = 1;
	if (newstate == TCP_CLOSE) {
		if (t->established)
			__sync_fetch_and_add(&v->closed, 1);
		else
			__sync_fetch_and_add(&v->failed, 1);
		t->state = 0;
		return;
	}
	count(v, newstate, 1, t->key.netns);
	t->state = newstate;
}

/*
 * A tracepoint's BPF program does not run when it is already running on
 * the CPU: a transition made by a softirq (a packet, a timer) that
 * interrupts set_state in process context is skipped, and the kernel only
 * counts it in the program's recursion_misses. set_state_rescue, attached
 * after it, is a second program on the same tracepoint: it runs after
 * set_state for each transition, and handles the transition itself when
 * set_state did not mark it as handled on this CPU. Both skipped would
 * need a transition nested inside set_state_rescue inside set_state:
 * user space counts such a loss as set_state's misses less the rescues.
 */
struct handled {
	__u64 sk;
	__s32 oldstate;
	__s32 newstate;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct handled);
} last SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state, struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0;
	struct handled *h;

	follow(sk, oldstate, newstate);
	h = bpf_map_lookup_elem(&last, &zero);
	if (h) {
		h->sk = (__u64)sk;
		h->oldstate = oldstate;
		h->newstate = newstate;
	}
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state_rescue, struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0;
	struct handled *h = bpf_map_lookup_elem(&last, &zero);

	if (!h)
		return 0;
	if (h->sk == (__u64)sk && h->oldstate == oldstate && h->newstate == newstate) {
		h->sk = 0;
		return 0;
	}
	/* set_state was busy on this CPU: this transition is nested in it. */
	error(HF_BPF_ERR_RESCUED, 0); /* any namespace's: misses are counted per program */
	follow(sk, oldstate, newstate);
	return 0;
}

/* ---- the seed -------------------------------------------------------------------------- */

static __always_inline bool has_listener(__u8 family, const __u8 *addr, __u16 port)
{
	struct lkey l = { .family = family, .port = port };
	__u8 *v6only;

	__builtin_memcpy(l.addr, addr, 16);
	if (bpf_map_lookup_elem(&seed_listeners, &l))
		return true;
	__builtin_memset(l.addr, 0, 16);
	if (bpf_map_lookup_elem(&seed_listeners, &l))
		return true;
	if (family != AF_INET)
		return false;
	l.family = AF_INET6;
	v6only = bpf_map_lookup_elem(&seed_listeners, &l);
	return v6only && !*v6only;
}

/* hf_classify's rules: a listener on the address or the wildcard, else the port-range rule. */
static __always_inline __u8 seed_dir(const struct sock_common *c)
{
	struct hf_bpf_key k;
	__u16 lport, rport;

	key_of(c, DIR_PASSIVE, &k);
	lport = k.lport;
	rport = bpf_ntohs(c->skc_dport);
	if (has_listener(k.family, k.laddr, lport))
		return DIR_PASSIVE;
	if (!(lport >= port_lo && lport <= port_hi) && rport >= port_lo && rport <= port_hi)
		return DIR_PASSIVE;
	return DIR_ACTIVE;
}

SEC("iter/tcp")
int seed(struct bpf_iter__tcp *ctx)
{
	struct sock_common *c = ctx->sk_common;
	struct hf_bpf_val *v;
	struct sock_tag *t;
	struct tcp_sock *tp;
	struct sock *sk;
	__u8 state, dir;

	if (!c)
		return 0;
	state = c->skc_state;
	if (state == TCP_LISTEN) {
		struct lkey l = { .family = c->skc_family, .port = c->skc_num };
		__u8 v6only = 0;

		if (l.family == AF_INET6) {
			BPF_CORE_READ_INTO(&l.addr, c, skc_v6_rcv_saddr);
			v6only = c->skc_ipv6only;
		} else {
			__u32 a = c->skc_rcv_saddr;
			__builtin_memcpy(l.addr, &a, 4);
		}
		bpf_map_update_elem(&seed_listeners, &l, &v6only, BPF_ANY);
		return 0;
	}
	/* Time-wait and request sockets are user space's (a netlink dump of their states). */
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return 0;
	tp = bpf_skc_to_tcp_sock(c);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	/* The socket lock is held: a socket is tagged here or by its transition, never both. */
	t = bpf_sk_storage_get(&socks, sk, 0, 0);
	if (t && t->state && t->keyed) {
		/*
		 * Tagged: at the first seed, by a transition since the attach.
		 * Run again after a lost event (hf__bpf_reseed), the seed moves
		 * the count of a socket whose last transition was lost.
		 */
		if (t->state == state)
			return 0;
		v = flow_get(&t->key);
		if (!v)
			return 0;
		count(v, t->state, -1, t->key.netns);
		if (state == TCP_CLOSE) {
			__sync_fetch_and_add(t->established ? &v->closed : &v->failed, 1);
			t->state = 0;
			return 0;
		}
		count(v, state, 1, t->key.netns);
		t->state = state;
		if (state != TCP_SYN_SENT && state != TCP_SYN_RECV)
			t->established = 1;
		return 0;
	}
	if (state == TCP_CLOSE || (t && t->state))
		return 0; /* closed, or a child not keyed yet: its next transition counts it */
	/* Untagged, or closed and reborn without a transition seen: counted from here. */
	if (!t)
		t = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!t) {
		error(HF_BPF_ERR_STORAGE, seeded_netns);
		return 0;
	}
	dir = seed_dir(c);
	t->dir = dir;
	t->state = state;
	t->established = state != TCP_SYN_SENT && state != TCP_SYN_RECV;
	/* A child still in SYN_RECV is counted with the request sockets until it changes state. */
	if (state == TCP_SYN_RECV)
		return 0;
	key_of(c, dir, &t->key);
	t->keyed = 1;
	v = flow_get(&t->key);
	if (!v)
		return 0;
	v->inode = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	count(v, state, 1, t->key.netns);
	return 0;
}
