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
 *   listeners       the same tracepoint (CLOSE->LISTEN, LISTEN->CLOSE) and
 *                   the seed keep a map of every namespace's listeners,
 *                   for the classification of time-wait sockets
 *   time-wait and   tp_btf/timer_start and timer_cancel on
 *   request sockets the timer each carries (tw_timer, rsk_timer), told from
 *                   every other timer by its function (tw_timer_handler,
 *                   reqsk_timer_handler: user space finds their addresses in
 *                   /proc/kallsyms); armed: +1, off the wheel: -1; a
 *                   request socket is also kept by address (reqs), with
 *                   the flow its count went to, and so is a time-wait
 *                   socket born in FIN_WAIT2 (fw2s), whose substate
 *                   tw_settle reads at each collection
 *   seed            iter/tcp: the full sockets that existed before the
 *                   programs were attached, classified by listener as
 *                   hf_classify does
 *
 * Tracepoints and iterators only: fentry/fexit and kprobes are refused on
 * kernels in lockdown or built without them. A time-wait socket's
 * FIN_WAIT2 -> TIME_WAIT change (the peer's FIN) re-arms its timer without
 * an event when the expiry stays in the same wheel bucket: fw2s and
 * tw_settle follow it instead. One in FIN_WAIT2 that fw2s cannot hold (born
 * before the attach, or the map full) sets its namespace's fw2_until to
 * its timer's expiry; until then user space takes these sockets from a
 * netlink dump. Time-wait and
 * request sockets born before the attach are not seeded (a socket born
 * during the seed would be counted twice, with no storage to tell): their
 * deaths take counts below zero, which the first reconcile's corrections
 * make up for, once and for all.
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

/* Set before load from /proc/kallsyms; 0: time-wait and request sockets not followed. */
const volatile __u64 tw_timer_fn = 0;
const volatile __u64 rsk_timer_fn = 0;

extern unsigned int CONFIG_HZ __kconfig __weak;

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

/*
 * Every namespace's listeners, for hf_classify's first rule: (namespace,
 * family, port, address; v4-mapped ones as IPv4) -> how many listen there,
 * and how many of those take IPv4 too (an IPv6 wildcard not v6only).
 * Kept by the listeners' transitions and the seed; a listener's key is
 * kept in its storage, so that its close takes back what its listen()
 * added.
 */
struct lkey {
	__u32 netns;
	__u8 family;
	__u8 pad;
	__u16 port;
	__u8 addr[16];
};

struct lval {
	__u32 n;
	__u32 dual;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lkey);
	__type(value, struct lval);
} listeners SEC(".maps");

/* Per namespace inode: its listeners (what listeners holds, summed), for its LISTEN dump. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __s64);
} ns_listeners SEC(".maps");

/* Per namespace inode: CLOCK_MONOTONIC ns until which a time-wait socket may be in FIN_WAIT2. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} fw2_until SEC(".maps");

/* Listeners' children not keyed yet (born in SYN_RECV, no addresses yet), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} pending SEC(".maps");

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

/*
 * The addresses, ports and namespace of any socket (full, time-wait,
 * request), read with RD(ptr, field), RDA(dst, ptr, field) (arrays) and
 * RDN(ptr) (its namespace's inode).
 * key_of_sk: a tracepoint's or the iterator's socket, a BTF pointer read
 * with direct loads (one instruction each, made safe by the verifier);
 * key_of: a socket found from its timer, a plain pointer read with
 * bpf_probe_read_kernel() (BPF_CORE_READ).
 */
#define KEY_OF(name, RD, RDA, RDN)                                                                \
	static __always_inline void name(const struct sock_common *c, __u8 dir,                   \
					 struct hf_bpf_key *k)                                    \
	{                                                                                         \
		__u16 family = RD(c, skc_family);                                                 \
                                                                                                  \
		__builtin_memset(k, 0, sizeof(*k));                                               \
		k->netns = RDN(c);                                                                \
		k->dir = dir;                                                                     \
		if (family == AF_INET6) {                                                         \
			RDA(k->laddr, c, skc_v6_rcv_saddr);                                       \
			RDA(k->paddr, c, skc_v6_daddr);                                           \
			if (v4mapped(k->paddr)) {                                                 \
				/* Reported by inet_diag as IPv4; the v4 fields are set first. */ \
				__builtin_memset(k->laddr, 0, 16);                                \
				__builtin_memset(k->paddr, 0, 16);                                \
				family = AF_INET;                                                 \
			}                                                                         \
		}                                                                                 \
		if (family == AF_INET) {                                                          \
			__u32 l = RD(c, skc_rcv_saddr), p = RD(c, skc_daddr);                     \
			__builtin_memcpy(k->laddr, &l, 4);                                        \
			__builtin_memcpy(k->paddr, &p, 4);                                        \
		}                                                                                 \
		k->family = (__u8)family;                                                         \
		if (dir == DIR_PASSIVE)                                                           \
			k->lport = RD(c, skc_num);                                                \
		else                                                                              \
			k->pport = bpf_ntohs(RD(c, skc_dport));                                   \
	}

#define RD_DIRECT(p, f) ((p)->f)
#define RDN_DIRECT(p) ((p)->skc_net.net->ns.inum)
#define RDN_PROBE(p) BPF_CORE_READ(p, skc_net.net, ns.inum)
#define RDA_DIRECT(dst, p, f) __builtin_memcpy(dst, &(p)->f, sizeof(dst))
#define RD_PROBE(p, f) BPF_CORE_READ(p, f)
#define RDA_PROBE(dst, p, f) BPF_CORE_READ_INTO(&(dst), p, f)
KEY_OF(key_of_sk, RD_DIRECT, RDA_DIRECT, RDN_DIRECT)
KEY_OF(key_of, RD_PROBE, RDA_PROBE, RDN_PROBE)

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

static __always_inline void gauge(int delta)
{
	__u32 zero = 0;
	__s64 *g = bpf_map_lookup_elem(&pending, &zero);

	if (g)
		*g += delta;
}

/* ---- listeners ------------------------------------------------------------------------- */

/* The listener key of @c, v4-mapped addresses as IPv4 (as inet_diag's are read). */
static __always_inline void lkey_of(const struct sock_common *c, struct lkey *l)
{
	__builtin_memset(l, 0, sizeof(*l));
	l->netns = BPF_CORE_READ(c, skc_net.net, ns.inum);
	l->family = (__u8)BPF_CORE_READ(c, skc_family);
	l->port = BPF_CORE_READ(c, skc_num);
	if (l->family == AF_INET6) {
		BPF_CORE_READ_INTO(&l->addr, c, skc_v6_rcv_saddr);
		if (v4mapped(l->addr)) {
			__u32 a = ((__u32 *)l->addr)[3];
			__builtin_memset(l->addr, 0, 16);
			__builtin_memcpy(l->addr, &a, 4);
			l->family = AF_INET;
		}
	} else {
		__u32 a = BPF_CORE_READ(c, skc_rcv_saddr);
		__builtin_memcpy(l->addr, &a, 4);
	}
}

static __always_inline void ns_listeners_add(__u32 netns, int delta)
{
	__s64 *n = bpf_map_lookup_elem(&ns_listeners, &netns), init = delta;

	if (!n && bpf_map_update_elem(&ns_listeners, &netns, &init, BPF_NOEXIST) == 0)
		return;
	if (!n)
		n = bpf_map_lookup_elem(&ns_listeners, &netns);
	if (n)
		__sync_fetch_and_add(n, delta);
	else
		error(HF_BPF_ERR_FULL, netns);
}

static __always_inline void listener_add(const struct lkey *l, bool dual)
{
	struct lval one = { 1, dual }, *v;

	ns_listeners_add(l->netns, 1);
	v = bpf_map_lookup_elem(&listeners, l);

	if (!v && bpf_map_update_elem(&listeners, l, &one, BPF_NOEXIST) == 0)
		return;
	if (!v)
		v = bpf_map_lookup_elem(&listeners, l); /* made meanwhile by another CPU */
	if (!v) {
		error(HF_BPF_ERR_FULL, l->netns);
		return;
	}
	__sync_fetch_and_add(&v->n, 1);
	if (dual)
		__sync_fetch_and_add(&v->dual, 1);
}

static __always_inline void listener_del(const struct lkey *l, bool dual)
{
	struct lval *v = bpf_map_lookup_elem(&listeners, l);

	ns_listeners_add(l->netns, -1);
	if (!v)
		return;
	if (dual)
		__sync_fetch_and_add(&v->dual, -1);
	if (__sync_fetch_and_add(&v->n, -1) == 1)
		bpf_map_delete_elem(&listeners, l);
}

static __always_inline bool has_listener(__u32 netns, __u8 family, const __u8 *addr, __u16 port)
{
	struct lkey l = { .netns = netns, .family = family, .port = port };
	struct lval *v;

	__builtin_memcpy(l.addr, addr, 16);
	if ((v = bpf_map_lookup_elem(&listeners, &l)) && v->n)
		return true;
	__builtin_memset(l.addr, 0, 16);
	if ((v = bpf_map_lookup_elem(&listeners, &l)) && v->n)
		return true;
	if (family != AF_INET)
		return false;
	l.family = AF_INET6;
	v = bpf_map_lookup_elem(&listeners, &l);
	return v && v->dual;
}

/* A listener's key kept in its storage (t->key: netns, family, lport, laddr). */
static __always_inline void tag_listener(struct sock_tag *t, const struct lkey *l, bool dual)
{
	__builtin_memset(&t->key, 0, sizeof(t->key));
	t->key.netns = l->netns;
	t->key.family = l->family;
	t->key.lport = l->port;
	__builtin_memcpy(t->key.laddr, l->addr, 16);
	t->dir = 0;
	t->state = TCP_LISTEN;
	t->keyed = dual; /* for a listener: counted as taking IPv4 too */
	t->established = 0;
}

static __always_inline void untag_listener(struct sock_tag *t)
{
	struct lkey l = { .netns = t->key.netns, .family = t->key.family, .port = t->key.lport };

	__builtin_memcpy(l.addr, t->key.laddr, 16);
	listener_del(&l, t->keyed);
	t->state = 0;
}

static __always_inline bool dual_stack(const struct sock_common *c, const struct lkey *l)
{
	return l->family == AF_INET6 && !BPF_CORE_READ_BITFIELD_PROBED(c, skc_ipv6only);
}

/* ---- full sockets -------------------------------------------------------------------- */

static __always_inline void follow(struct sock *sk, int oldstate, int newstate)
{
	struct sock_tag *t;
	struct hf_bpf_val *v;
	__u8 dir = 0;

	if (sk->sk_protocol != IPPROTO_TCP)
		return;
	if (newstate == TCP_LISTEN) {
		struct lkey l;

		/* inet_csk_listen_start(): the port is bound by then, unless listen() binds it. */
		t = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!t) {
			error(HF_BPF_ERR_STORAGE,
			      BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum));
			return;
		}
		if (t->state == TCP_LISTEN)
			return;
		lkey_of(&sk->__sk_common, &l);
		tag_listener(t, &l, dual_stack(&sk->__sk_common, &l));
		listener_add(&l, t->keyed);
		return;
	}
	if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE) {
		t = bpf_sk_storage_get(&socks, sk, 0, 0);
		if (t && t->state == TCP_LISTEN)
			untag_listener(t);
		return;
	}
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
			key_of_sk(&sk->__sk_common, dir, &t->key);
		if (!t->keyed) {
			t->state = TCP_SYN_RECV; /* pending: not counted anywhere yet */
			gauge(1);
			return;
		}
		v = flow_get(&t->key);
		if (!v)
			return;
		__sync_fetch_and_add(&v->opened, 1);
		v->inode = sk->sk_socket ? sk->sk_socket->file->f_inode->i_ino : 0;
		count(v, newstate, 1, t->key.netns);
		t->state = newstate;
		return;
	}
	if (!t->state)
		return; /* closed and not reborn */
	if (!t->keyed) {
		key_of_sk(&sk->__sk_common, t->dir, &t->key);
		t->keyed = 1;
		gauge(-1);
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
 * after it, is a second program on the same tracepoint: it runs right
 * after set_state for each transition, and makes the transition itself
 * when set_state did not.
 *
 * It tells by the socket's tag. Each transition follow() makes leaves the
 * tag in a state of its own (made() below), and a socket's transitions
 * are serialized by its lock, so the tag says whether set_state made this
 * one, wherever the softirq came in. A per-CPU mark of set_state running
 * left two gaps: a softirq that came in after the kernel had marked
 * set_state active but before the program marked itself, or after it
 * unmarked itself, was made by neither (a FIN_WAIT1 socket then kept its
 * count after its end). The mark still tells a skipped transition that
 * follow() ignores (a socket older than the programs, or not TCP), so
 * that each miss has its rescue. Both skipped would need a transition
 * nested inside set_state_rescue inside set_state: user space counts such
 * a loss as set_state's misses less the rescues.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} running SEC(".maps");

/* Whether follow() made this transition of @sk, or would ignore it. */
static __always_inline bool made(struct sock *sk, int oldstate, int newstate)
{
	struct sock_tag *t;

	if (sk->sk_protocol != IPPROTO_TCP)
		return true;
	t = bpf_sk_storage_get(&socks, sk, 0, 0);
	if (newstate == TCP_LISTEN)
		return t && t->state == TCP_LISTEN;
	if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE)
		return !t || t->state != TCP_LISTEN;
	if ((oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) ||
	    (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV))
		return t && t->state;
	if (!t || !t->state)
		return true; /* untagged, or closed and not reborn */
	return t->state == (newstate == TCP_CLOSE ? 0 : newstate);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state, struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0, *r = bpf_map_lookup_elem(&running, &zero);

	if (r)
		*r = 1;
	follow(sk, oldstate, newstate);
	if (r)
		*r = 0;
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state_rescue, struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0, *r = bpf_map_lookup_elem(&running, &zero);

	/* Misses are counted per program: the rescues are any namespace's. */
	if (!made(sk, oldstate, newstate)) {
		error(HF_BPF_ERR_RESCUED, 0);
		follow(sk, oldstate, newstate);
	} else if (r && *r) {
		error(HF_BPF_ERR_RESCUED, 0); /* skipped below, with nothing to make */
	}
	return 0;
}

/* ---- time-wait and request sockets: their timers ------------------------------------ */

static __always_inline bool in_range(__u16 p, __u16 lo, __u16 hi)
{
	return p >= lo && p <= hi;
}

/* The namespace's ip_local_port_range (one u32 since Linux 6.3; before, the seed's). */
static __always_inline void port_range(const struct sock_common *c, __u16 *lo, __u16 *hi)
{
	*lo = port_lo;
	*hi = port_hi;
	if (bpf_core_field_size(struct local_ports, range) == 4) {
		__u32 r = BPF_CORE_READ(c, skc_net.net, ipv4.ip_local_ports.range);
		*lo = r & 0xffff;
		*hi = r >> 16;
	}
}

/* hf_classify's rules: a listener on the address or the wildcard, else the port-range rule. */
static __always_inline __u8 classify(const struct sock_common *c, __u16 lo, __u16 hi,
				     struct hf_bpf_key *k)
{
	__u16 lport, rport;

	key_of(c, DIR_PASSIVE, k);
	lport = k->lport;
	rport = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
	if (has_listener(k->netns, k->family, k->laddr, lport))
		return DIR_PASSIVE;
	if (!in_range(lport, lo, hi) && in_range(rport, lo, hi))
		return DIR_PASSIVE;
	k->dir = DIR_ACTIVE;
	k->lport = 0;
	k->pport = rport;
	return DIR_ACTIVE;
}

/*
 * When a timer due at @expires (jiffies) has left the wheel at the
 * latest, in bpf_ktime_get_ns() time: with the wheel's slack (up to an
 * eighth of the delay) and 1 s.
 */
static __always_inline __u64 expiry_ns(unsigned long expires)
{
	__u64 ns_per_jiffy = 1000000000ull / (CONFIG_HZ ? CONFIG_HZ : 100);
	__s64 left = (__s64)(expires - bpf_jiffies64());

	if (left < 0)
		left = 0;
	return bpf_ktime_get_ns() + (__u64)(left + left / 8 + 1) * ns_per_jiffy + 1000000000ull;
}

/*
 * A time-wait socket in FIN_WAIT2 until its timer's @expires at the latest
 * (then it dies, or has become TIME_WAIT): its namespace's fw2_until moves
 * past it (expiry_ns()).
 */
static __always_inline void fw2_mark(__u32 netns, unsigned long expires)
{
	__u64 until = expiry_ns(expires), *cur;

	cur = bpf_map_lookup_elem(&fw2_until, &netns);
	if (!cur) {
		if (bpf_map_update_elem(&fw2_until, &netns, &until, BPF_NOEXIST) == 0)
			return;
		cur = bpf_map_lookup_elem(&fw2_until, &netns);
		if (!cur) {
			error(HF_BPF_ERR_FULL, netns);
			return;
		}
	}
	for (int i = 0; i < 4; i++) {
		__u64 old = *cur;
		if (old >= until || __sync_val_compare_and_swap(cur, old, until) == old)
			return;
	}
}

/*
 * The end of a time-wait socket whose flow, as classified now (@k), counts
 * none: a listener on its port opened or closed since its birth, and it
 * was counted in the other direction's flow (local port @lport, peer port
 * @rport), which netlink too moved it out of. Takes it back there if that
 * flow counts one. Neither counting one: a socket born before the attach,
 * whose end takes @k below zero (see the top).
 */
static __always_inline bool tw_end_elsewhere(const struct hf_bpf_key *k, __u16 lport, __u16 rport)
{
	struct hf_bpf_key o = *k;
	struct hf_bpf_val *v = bpf_map_lookup_elem(&flows, k);

	if (v && v->states[TCP_TIME_WAIT] > 0)
		return false;
	o.dir = k->dir == DIR_PASSIVE ? DIR_ACTIVE : DIR_PASSIVE;
	o.lport = o.dir == DIR_PASSIVE ? lport : 0;
	o.pport = o.dir == DIR_PASSIVE ? 0 : rport;
	v = bpf_map_lookup_elem(&flows, &o);
	if (!v || v->states[TCP_TIME_WAIT] <= 0)
		return false;
	__sync_fetch_and_add(&v->states[TCP_TIME_WAIT], -1);
	return true;
}

/*
 * The request sockets whose timer is armed, by address, with the flow
 * each is counted in and the time by which the timer must have left the
 * wheel. Under a fast churn (tests/e2e/88-bpf-rescue.sh, 4 runs in 69 at
 * about 10,000 connections a second) the kernel now and then arms a request
 * socket's timer and frees the socket with no timer_cancel to be seen.
 * A timer armed at an address still here ends the old socket's count
 * first; one still here past its time is ended by reqs_expire, which user
 * space runs at each collection (a timer the kernel runs more than the
 * slack late would end a live one early: its end then takes its flow one
 * below). A SYN retransmitted moves a pending timer with mod_timer_pending:
 * to another bucket, a cancel and a start; within the bucket, silently,
 * and within the slack. A request socket not here when its timer
 * leaves the wheel was armed before the attach (or the map was full): it
 * is keyed as it is now.
 */
struct req_flow {
	struct hf_bpf_key key;
	__u64 until; /* bpf_ktime_get_ns() */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, HF_BPF_REQS_MAX);
	__type(key, __u64);
	__type(value, struct req_flow);
} reqs SEC(".maps");

/*
 * The entries of reqs and of fw2s, kept with each insert and delete that
 * succeeds: a walk of a hash map visits every bucket (as many as its
 * max_entries), about 0.8 ms for 262,144, so the programs run at each
 * collection walk a map only when it holds something.
 */
__s64 reqs_n = 0;
__s64 fw2s_n = 0;

static __always_inline bool same_key(const struct hf_bpf_key *a, const struct hf_bpf_key *b)
{
	const __u32 *x = (const void *)a, *y = (const void *)b;

	_Static_assert(sizeof(*a) % 4 == 0, "hf_bpf_key: whole 32-bit words");
	for (int i = 0; i < sizeof(*a) / 4; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

static __always_inline void req_add(const struct hf_bpf_key *k, int delta)
{
	struct hf_bpf_val *v = flow_get(k);

	if (v)
		__sync_fetch_and_add(&v->states[TCP_SYN_RECV], delta);
}

/* A request socket's timer armed (@delta 1) or off the wheel (-1). */
static __always_inline void req_event(struct timer_list *timer, int delta)
{
	const struct sock_common *c =
		(const void *)timer - bpf_core_field_offset(struct request_sock, rsk_timer);
	__u64 addr = (__u64)c;
	struct req_flow r, *was = bpf_map_lookup_elem(&reqs, &addr);

	if (delta < 0) {
		if (was) {
			r.key = was->key;
			if (bpf_map_delete_elem(&reqs, &addr) == 0)
				__sync_fetch_and_add(&reqs_n, -1);
		} else {
			key_of(c, DIR_PASSIVE, &r.key);
		}
		req_add(&r.key, -1);
		return;
	}
	key_of(c, DIR_PASSIVE, &r.key);
	r.until = expiry_ns(timer->expires);
	if (was) {
		was->until = r.until;
		if (same_key(&was->key, &r.key))
			return; /* counted: the same socket's, or one just like it */
		req_add(&was->key, -1);
		error(HF_BPF_ERR_REQ_UNTRACED, was->key.netns);
		was->key = r.key;
	} else {
		if (bpf_map_update_elem(&reqs, &addr, &r, BPF_NOEXIST) == 0)
			__sync_fetch_and_add(&reqs_n, 1);
	}
	req_add(&r.key, 1);
}

static long req_expire(struct bpf_map *map, __u64 *addr, struct req_flow *r, __u64 *now)
{
	struct req_flow old = *r;

	if (r->until <= *now && bpf_map_delete_elem(map, addr) == 0) {
		__sync_fetch_and_add(&reqs_n, -1);
		req_add(&old.key, -1);
		error(HF_BPF_ERR_REQ_UNTRACED, old.key.netns);
	}
	return 0;
}

/*
 * Run by user space at each collection (BPF_PROG_TEST_RUN): a request
 * socket whose timer is past the time it must have left the wheel by was
 * freed with no timer_cancel seen; its count ends here.
 */
SEC("syscall")
int reqs_expire(void *ctx)
{
	__u64 now = bpf_ktime_get_ns();

	if (reqs_n)
		bpf_for_each_map_elem(&reqs, req_expire, &now, 0);
	return 0;
}

/*
 * Time-wait sockets in FIN_WAIT2 (our FIN acknowledged, the peer's still
 * to come), by address, with the flow each is counted in and the slot:
 * HF_BPF_TW_FW2 (TCP_TIME_WAIT for a moment, as tw_settle moves it). The
 * peer's FIN turns one TIME_WAIT and re-arms its timer, silently when the
 * new expiry falls in the same wheel bucket (the usual case): no event.
 * So tw_settle, which user space runs at each collection, reads the
 * substate of each one and moves the count of those turned TIME_WAIT,
 * then lets them go: from there on one is like a time-wait socket born
 * TIME_WAIT. An entry lives while its timer is on the wheel (the socket
 * alive): made when the timer is armed in FIN_WAIT2, ended when it leaves
 * the wheel or by tw_settle. The map full, one is counted under TIME_WAIT
 * and marks its namespace's fw2_until (its dump then counts it), as the
 * seed does for those born before the attach.
 */
struct tw_flow {
	struct hf_bpf_key key;
	__u32 slot; /* HF_BPF_TW_FW2, TCP_TIME_WAIT; 0 while it is ended */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, HF_BPF_FW2S_MAX);
	__type(key, __u64);
	__type(value, struct tw_flow);
} fw2s SEC(".maps");

static __always_inline void tw_add(const struct hf_bpf_key *k, __u32 slot, int delta)
{
	struct hf_bpf_val *v = flow_get(k);

	asm volatile("%[s] &= 15" : [s] "+r"(slot));
	if (v)
		__sync_fetch_and_add(&v->states[slot], delta);
}

/*
 * A time-wait socket's timer armed (@delta 1) or off the wheel (-1), when
 * fw2s follows it: true when its count was taken here. Its end takes the
 * count from where its entry says, whatever listener opened or closed
 * since its birth. Armed in FIN_WAIT2, it is followed from here on; one
 * still in the map when armed again had its end unseen: that count ends
 * first.
 */
static __always_inline bool fw2_event(struct inet_timewait_sock *tw, struct timer_list *timer,
				      int delta)
{
	__u64 addr = (__u64)tw;
	struct tw_flow n = {}, *was = bpf_map_lookup_elem(&fw2s, &addr);
	__u16 lo, hi;

	if (was) {
		__u32 slot = __sync_lock_test_and_set(&was->slot, 0);
		struct hf_bpf_key k = was->key;

		if (bpf_map_delete_elem(&fw2s, &addr) == 0)
			__sync_fetch_and_add(&fw2s_n, -1);
		if (slot)
			tw_add(&k, slot, -1);
		if (delta < 0)
			return true;
	}
	if (delta < 0 || BPF_CORE_READ(tw, tw_substate) != TCP_FIN_WAIT2)
		return false;
	port_range((const void *)tw, &lo, &hi);
	classify((const void *)tw, lo, hi, &n.key);
	n.slot = HF_BPF_TW_FW2;
	if (bpf_map_update_elem(&fw2s, &addr, &n, BPF_NOEXIST) == 0) {
		__sync_fetch_and_add(&fw2s_n, 1);
		tw_add(&n.key, HF_BPF_TW_FW2, 1);
		return true;
	}
	fw2_mark(n.key.netns, timer->expires);
	return false;
}

static long tw_settle_one(struct bpf_map *map, __u64 *addr, struct tw_flow *t, void *ctx)
{
	struct inet_timewait_sock *tw = (void *)*addr;

	if (t->slot != HF_BPF_TW_FW2 || BPF_CORE_READ(tw, tw_substate) != TCP_TIME_WAIT)
		return 0;
	/* Ended meanwhile (its timer off the wheel): that end took the count. */
	if (__sync_val_compare_and_swap(&t->slot, HF_BPF_TW_FW2, TCP_TIME_WAIT) != HF_BPF_TW_FW2)
		return 0;
	tw_add(&t->key, HF_BPF_TW_FW2, -1);
	tw_add(&t->key, TCP_TIME_WAIT, 1);
	/* Its end now finds no entry and ends a TIME_WAIT count, as for one born so. */
	if (bpf_map_delete_elem(map, addr) == 0)
		__sync_fetch_and_add(&fw2s_n, -1);
	return 0;
}

/*
 * Run by user space at each collection (BPF_PROG_TEST_RUN), before it
 * reads the flows: the time-wait sockets counted in FIN_WAIT2 that the
 * peer's FIN has turned TIME_WAIT are counted there.
 */
SEC("syscall")
int tw_settle(void *ctx)
{
	if (fw2s_n)
		bpf_for_each_map_elem(&fw2s, tw_settle_one, NULL, 0);
	return 0;
}

/*
 * One timer event: @delta +1 when armed, -1 when it leaves the wheel
 * (an expired request socket's timer is armed again if it retransmits
 * its SYN-ACK). Counts go below zero for sockets born before the attach:
 * no clamp, no error; the reconcile's corrections hold the difference.
 */
static __always_inline void timer_event(struct timer_list *timer, int delta)
{
	__u64 fn = (__u64)timer->function;
	struct inet_timewait_sock *tw;
	const struct sock_common *c;
	struct hf_bpf_key k;
	struct hf_bpf_val *v;
	__u16 lo, hi;

	if (!fn || (fn != tw_timer_fn && fn != rsk_timer_fn))
		return;
	if (fn == rsk_timer_fn) {
		req_event(timer, delta);
		return;
	}
	tw = (void *)timer - bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
	c = (const void *)tw;
	/* One born in FIN_WAIT2 (or one of them armed again): its count goes with its entry. */
	if (fw2_event(tw, timer, delta))
		return;
	port_range(c, &lo, &hi);
	classify(c, lo, hi, &k);
	if (delta < 0 &&
	    tw_end_elsewhere(&k, BPF_CORE_READ(c, skc_num), bpf_ntohs(BPF_CORE_READ(c, skc_dport))))
		return;
	v = flow_get(&k);
	if (v)
		__sync_fetch_and_add(&v->states[TCP_TIME_WAIT], delta);
}

SEC("tp_btf/timer_start")
int BPF_PROG(timer_start, struct timer_list *timer)
{
	timer_event(timer, 1);
	return 0;
}

/*
 * The kernel traces timer_cancel whenever a timer leaves the wheel
 * (detach_timer()): cancelled, moved to another bucket (then armed again),
 * and expired too, just before timer_expire_entry, which is not followed.
 */
SEC("tp_btf/timer_cancel")
int BPF_PROG(timer_cancel, struct timer_list *timer)
{
	timer_event(timer, -1);
	return 0;
}

/* ---- the seed -------------------------------------------------------------------------- */

static __always_inline __u8 seed_dir(const struct sock_common *c)
{
	struct hf_bpf_key k;

	return classify(c, port_lo, port_hi, &k);
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
	if (state == TCP_TIME_WAIT) {
		/* Not counted (see the top): a FIN_WAIT2 one holds its namespace's dump. */
		struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(c);

		if (tw && tw->tw_sk.tw_substate == TCP_FIN_WAIT2)
			fw2_mark(BPF_CORE_READ(c, skc_net.net, ns.inum),
				 tw->tw_sk.tw_timer.expires);
		return 0;
	}
	if (state == TCP_NEW_SYN_RECV)
		return 0;
	tp = bpf_skc_to_tcp_sock(c);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	if (state == TCP_LISTEN) {
		struct lkey l;

		t = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!t) {
			error(HF_BPF_ERR_STORAGE, seeded_netns);
			return 0;
		}
		/* Tagged by its listen() since the attach, or by an earlier seed. */
		if (t->state == TCP_LISTEN)
			return 0;
		lkey_of(c, &l);
		tag_listener(t, &l, dual_stack(c, &l));
		listener_add(&l, t->keyed);
		return 0;
	}
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
	t->keyed = 0;
	/* A child still in SYN_RECV: pending, keyed at its next change, as a new one. */
	if (state == TCP_SYN_RECV) {
		gauge(1);
		return 0;
	}
	key_of_sk(c, dir, &t->key);
	t->keyed = 1;
	v = flow_get(&t->key);
	if (!v)
		return 0;
	v->inode = sk->sk_socket ? sk->sk_socket->file->f_inode->i_ino : 0;
	count(v, state, 1, t->key.netns);
	return 0;
}
