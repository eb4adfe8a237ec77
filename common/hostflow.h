/*
 * hostflow.h - libhostflow: TCP sockets (or conntrack entries) collapsed
 * into host flows.
 *
 * The only header the rest of the tree includes. libhostflow reads the
 * kernel's TCP sockets (inet_diag over NETLINK_SOCK_DIAG, or
 * /proc/net/tcp{,6} as a fallback) or, as a second source, netfilter's
 * connection tracking table (ctnetlink, or /proc/net/nf_conntrack; see
 * "the conntrack source" below), decides the direction of every
 * connection, and counts connections per host flow:
 *
 *   passive: local addr, local (listening) port  <-  peer addr, many
 *   active:  local addr, many                    ->  peer addr, peer port
 *
 * Memory follows flows, not connections: the tables grow to the largest
 * number of flows and listeners seen and are reused on every collection;
 * nothing is allocated per socket.
 *
 * Conventions: functions that act return 0 or a negative errno;
 * constructors return NULL and set errno. The library never prints, never
 * exits and keeps no global state.
 */
#ifndef HOSTFLOW_H
#define HOSTFLOW_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HF_VERSION "0.1.0"

struct nlmsghdr;
struct yajl_gen_t;

/* TCP states, numbered as the kernel numbers them (include/net/tcp_states.h). */
enum hf_state {
	HF_ESTABLISHED = 1,
	HF_SYN_SENT,
	HF_SYN_RECV,
	HF_FIN_WAIT1,
	HF_FIN_WAIT2,
	HF_TIME_WAIT,
	HF_CLOSE,
	HF_CLOSE_WAIT,
	HF_LAST_ACK,
	HF_LISTEN,
	HF_CLOSING,
	HF_STATE_MAX, /* one past the last state hostflow counts */
};

/*
 * hf_state_name - the kernel's name of a state ("ESTABLISHED", ...).
 * Returns NULL for a number that is not a state.
 */
const char *hf_state_name(unsigned int state);

/* hf_state_parse - the state named @name, in any case; 0 when there is none. */
unsigned int hf_state_parse(const char *name);

/*
 * An address of either family. IPv4 lives in the first four bytes, the rest
 * are zero, so that two addresses compare and hash as plain bytes.
 */
union hf_addr {
	struct in_addr v4;
	struct in6_addr v6;
	uint8_t b[16];
};

/*
 * One socket, as read from a netlink message or a /proc line.
 * An IPv6 socket whose addresses are IPv4-mapped is reported with family
 * AF_INET and @mapped set.
 */
struct hf_sock {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t state;	/* enum hf_state */
	bool mapped;	/* an AF_INET6 socket with IPv4-mapped addresses */
	bool v6only;	/* IPV6_V6ONLY, when the source reports it */
	bool v6only_known;
	uint16_t lport; /* host byte order */
	uint16_t rport;
	union hf_addr laddr;
	union hf_addr raddr;
	uint32_t rqueue; /* LISTEN: accept queue length */
	uint32_t wqueue; /* LISTEN: backlog in effect (netlink only) */
	uint32_t uid;
	uint32_t inode; /* 0 for TIME_WAIT and request sockets */
	bool timewait;	/* a time-wait socket (netlink only: its state is its substate) */
	bool request;	/* a request socket (netlink only: SYN_RECV, not yet a full socket) */
};

/*
 * hf_diag_parse - parse one inet_diag reply (type TCPDIAG_GETSOCK or
 * SOCK_DIAG_BY_FAMILY) into @out. Pure: no I/O.
 * Every length is checked before a field is read; unknown attributes are
 * skipped. Returns 0, -EBADMSG for a message too short or with a broken
 * attribute, -EAFNOSUPPORT for a family other than AF_INET/AF_INET6,
 * -EPROTO for a message of another type.
 */
int hf_diag_parse(const struct nlmsghdr *nlh, struct hf_sock *out);

/*
 * hf_proc_parse_line - parse one data line of /proc/net/tcp (@family
 * AF_INET) or /proc/net/tcp6 (AF_INET6); @line need not be NUL-terminated.
 * Returns 0, or -EBADMSG for a malformed line (the header line included).
 */
int hf_proc_parse_line(const char *line, size_t len, int family, struct hf_sock *out);

/* Called for every socket a dump yields; a non-zero return stops the dump and is returned. */
typedef int (*hf_sock_cb)(const struct hf_sock *s, void *arg);

/*
 * struct hf_diag - a NETLINK_SOCK_DIAG socket kept open across dumps.
 */
struct hf_diag;

/* How the kernel is asked: one legacy dump for both families or one per family. */
enum hf_diag_mode {
	HF_DIAG_COMPAT,	   /* TCPDIAG_GETSOCK: one walk of the hash, both families */
	HF_DIAG_BY_FAMILY, /* SOCK_DIAG_BY_FAMILY, AF_INET then AF_INET6 */
};

/*
 * hf_diag_open - open and bind a NETLINK_SOCK_DIAG socket.
 * Returns NULL with errno set when the socket cannot be opened or bound.
 * Close it with hf_diag_close().
 */
struct hf_diag *hf_diag_open(void);
void hf_diag_close(struct hf_diag *d);

/*
 * hf_diag_dump - dump the TCP sockets whose state bit is set in @states
 * (1 << HF_LISTEN for listeners), of the families in @families
 * (HF_FAMILY_* bits), calling @cb for each.
 * Returns 0; a negative errno for a failed send or receive, an NLMSG_ERROR,
 * an NLMSG_DONE that carries an error, a truncated message (-EBADMSG) or a
 * reply whose sequence number is not ours (-EPROTO); or the callback's
 * non-zero return. hf_diag_strerror() names the step that failed.
 */
int hf_diag_dump(struct hf_diag *d, enum hf_diag_mode mode, uint32_t states, unsigned int families,
		 hf_sock_cb cb, void *arg);

/* hf_diag_strerror - what the last failed dump of @d was doing ("recv", "NLMSG_ERROR", ...). */
const char *hf_diag_strerror(const struct hf_diag *d);

#define HF_FAMILY_V4 1u
#define HF_FAMILY_V6 2u
#define HF_FAMILY_ALL (HF_FAMILY_V4 | HF_FAMILY_V6)

/* The two fixed buffers /proc is read through (tcp and tcp6); owned by the caller. */
struct hf_proc_buf {
	char data[2][64 * 1024];
};

/*
 * hf_proc_dump - read @proc_root/net/tcp and tcp6 (families as in
 * hf_diag_dump), listeners of both files first, calling @cb for each socket
 * in @states. @buf is scratch space. A missing tcp6 (IPv6 disabled) is not
 * an error. Returns 0, the callback's return, or a negative errno naming an
 * unreadable file (-EBADMSG for a malformed line); @failed_path, if not
 * NULL, receives the path that failed.
 */
int hf_proc_dump(const char *proc_root, uint32_t states, unsigned int families,
		 struct hf_proc_buf *buf, hf_sock_cb cb, void *arg, char *failed_path,
		 size_t failed_len);

/* ---- addresses and filters ---------------------------------------------------------------- */

/* A prefix: @plen leading bits of @addr. */
struct hf_cidr {
	uint8_t family;
	uint8_t plen;
	union hf_addr addr;
};

/*
 * hf_cidr_parse - parse "198.51.100.0/24", "2001:db8::/32", or a plain
 * address (a host prefix). Host bits are cleared. Returns 0 or -EINVAL.
 */
int hf_cidr_parse(const char *s, struct hf_cidr *out);

/* hf_cidr_contains - whether @addr of @family lies in @c. */
bool hf_cidr_contains(const struct hf_cidr *c, int family, const union hf_addr *addr);

/* hf_addr_is_private - RFC 1918, RFC 4193 (fc00::/7), loopback or link-local. */
bool hf_addr_is_private(int family, const union hf_addr *addr);

/* hf_addr_is_loopback - 127.0.0.0/8 or ::1. */
bool hf_addr_is_loopback(int family, const union hf_addr *addr);

/*
 * hf_addr_str - format @addr into @buf (at least HF_ADDRSTRLEN bytes): plain
 * IPv4, compressed IPv6, and "/plen" when @plen is not the full length.
 * Returns @buf.
 */
#define HF_ADDRSTRLEN (INET6_ADDRSTRLEN + 4)
char *hf_addr_str(int family, const union hf_addr *addr, unsigned int plen, char *buf, size_t len);

enum hf_scope {
	HF_SCOPE_ALL = 0,
	HF_SCOPE_PUBLIC,  /* peer is not private (hf_addr_is_private) */
	HF_SCOPE_PRIVATE, /* peer is private */
};

#define HF_FILTER_MAX 64

/*
 * What is counted into flows. Filters apply to flows, after direction is
 * decided; host totals and listeners are never filtered (a listener still
 * counts its ESTABLISHED and SYN_RECV connections whatever ignore_states
 * says). Nets match the
 * peer address; ports match the flow's service port (the local port of a
 * passive flow, the peer port of an active one). An include list that is not
 * empty admits only what it names; excludes win over includes.
 */
struct hf_filter {
	unsigned int families; /* HF_FAMILY_* bits; 0 means both */
	enum hf_scope scope;
	bool ignore_loopback;	/* drop flows whose peer or local address is loopback */
	uint8_t peer_prefix4;	/* group IPv4 peers into /N (32 or 0: no grouping) */
	uint8_t peer_prefix6;	/* group IPv6 peers into /N (128 or 0: no grouping) */
	uint32_t ignore_states; /* bit s: connections in state s are left out of flows */
	unsigned int n_include_net, n_exclude_net, n_include_port, n_exclude_port;
	struct hf_cidr include_net[HF_FILTER_MAX];
	struct hf_cidr exclude_net[HF_FILTER_MAX];
	uint16_t include_port[HF_FILTER_MAX];
	uint16_t exclude_port[HF_FILTER_MAX];
	unsigned int protocols; /* HF_PROTO_* bits; 0 means all (conntrack source) */
};

#define HF_PROTO_TCP 1u
#define HF_PROTO_UDP 2u
#define HF_PROTO_OTHER 4u /* every protocol but TCP and UDP */

/* hf_filter_init - a filter that admits everything. */
void hf_filter_init(struct hf_filter *f);

/* ---- collection ------------------------------------------------------------------------- */

enum hf_dir {
	HF_DIR_ACTIVE = 1,
	HF_DIR_PASSIVE = 2,
	HF_DIR_FORWARDED = 3, /* conntrack: neither end is this host (a router, a NAT gateway) */
};

/*
 * conntrack's own TCP states (enum tcp_conntrack in
 * linux/netfilter/nf_conntrack_tcp.h). They describe the pair of ends, not
 * one socket, so they are counted apart from the socket states, not mapped
 * onto them (FIN_WAIT is neither FIN_WAIT1 nor FIN_WAIT2; SYN_SENT2 has no
 * socket twin).
 */
enum hf_ct_tcp_state {
	HF_CT_TCP_NONE = 0,
	HF_CT_TCP_SYN_SENT,
	HF_CT_TCP_SYN_RECV,
	HF_CT_TCP_ESTABLISHED,
	HF_CT_TCP_FIN_WAIT,
	HF_CT_TCP_CLOSE_WAIT,
	HF_CT_TCP_LAST_ACK,
	HF_CT_TCP_TIME_WAIT,
	HF_CT_TCP_CLOSE,
	HF_CT_TCP_SYN_SENT2,
	HF_CT_TCP_MAX,
};

/* hf_ct_tcp_state_name - conntrack's name of a TCP state ("ESTABLISHED", ...), NULL if none. */
const char *hf_ct_tcp_state_name(unsigned int state);

/* hf_proto_name - "tcp", "udp", ... for the protocols hostflow names; NULL for others. */
const char *hf_proto_name(unsigned int proto);

/*
 * The conntrack values of a flow (source HF_SOURCE_CONNTRACK). "sent" is
 * what the flow's local end sent: for an active or forwarded flow the
 * original direction (from the initiator), for a passive flow the reply
 * direction. Bytes are counted as conntrack counts them (IP packets,
 * headers included).
 */
struct hf_flow_ct {
	uint64_t bytes_sent, bytes_received;
	uint64_t packets_sent, packets_received;
	bool traffic_known;	 /* every entry of the flow carried counters (accounting on) */
	bool nat_src;		 /* the initiator's address is translated (SNAT, masquerade) */
	bool nat_dst;		 /* the responder's address or port is translated (DNAT) */
	uint16_t nat_dport;	 /* nat_dst: the port really connected to */
	union hf_addr nat_saddr; /* nat_src: the address the responder sees */
	union hf_addr nat_daddr; /* nat_dst: the address really connected to */
	uint32_t destroyed;	 /* HF_CT_EVENTS: entries of the flow destroyed since start */
	uint32_t no_acct;	 /* entries without counters (accounting was off at their start) */
	uint32_t tcp_states[HF_CT_TCP_MAX]; /* live entries per conntrack TCP state */
};

/*
 * A host flow. lport/pport 0 stand for "many". With peer grouping, paddr is
 * the prefix and pplen its length (32/128 for a single address).
 * A forwarded flow (conntrack only) shows the initiator as "local" (laddr,
 * lport 0: many) and the responder as "peer" (paddr, pport).
 */
struct hf_flow {
	uint8_t dir; /* enum hf_dir */
	uint8_t family;
	uint8_t pplen;
	uint8_t proto; /* IPPROTO_*: always IPPROTO_TCP for the sockets source */
	uint16_t lport;
	uint16_t pport;
	union hf_addr laddr;
	union hf_addr paddr;
	uint32_t netns; /* the flow's namespace: hf_netns_find(ctx, netns); 0 by default */
	/* values */
	uint32_t conns;
	uint32_t states[HF_STATE_MAX];
	uint32_t inode; /* a socket of the flow (for a passive flow its listener's), 0 if none */
	struct hf_flow_ct ct; /* conntrack source only; zero for the sockets source */
	/*
	 * bpf backend only (0 elsewhere), monotonic since the backend started:
	 * connections opened (connect(), or a listener's child), closed
	 * (ended after ESTABLISHED), failed (ended without reaching it, a
	 * dropped request socket included). A flow may carry these with
	 * conns 0: every connection it saw has ended.
	 */
	uint64_t opened, closed, failed;
};

/* One listening socket; members of a SO_REUSEPORT group are summed into a struct hf_listener. */
struct hf_listener_sock {
	uint32_t accept_queue;
	uint32_t backlog;
	uint32_t inode;
};

#define HF_LISTENER_SOCKS_MAX 16

/*
 * A listener: every listening socket on one (address, port). backlog is the
 * sum of the members' backlogs in effect, min(requested, somaxconn), as the
 * kernel reports it; the /proc backend cannot know it (backlog_known false).
 */
struct hf_listener {
	uint8_t family; /* family, pad_, port, addr, netns: the key */
	uint8_t pad_;
	uint16_t port;
	union hf_addr addr;
	uint32_t netns; /* the listener's namespace, as in struct hf_flow */
	bool v6only;
	bool backlog_known;
	uint32_t nsocks;
	uint32_t accept_queue;
	uint32_t backlog;
	uint32_t syn_recv;    /* half-open connections (request sockets) */
	uint32_t established; /* ESTABLISHED passive connections */
	uint32_t inode;	      /* the first member's */
	struct hf_listener_sock socks[HF_LISTENER_SOCKS_MAX]; /* the first nsocks, at most MAX */
};

/* Host totals of the last collection: unfiltered, but for flows. */
struct hf_totals {
	uint64_t sockets;   /* every socket but listeners (conntrack: every entry) */
	uint64_t listeners; /* listening sockets; states[HF_LISTEN] stays 0 */
	uint64_t flows;	    /* flows the filter admitted */
	uint64_t states[HF_STATE_MAX];
};

/* ---- the conntrack source ----------------------------------------------------------------- */

/*
 * One direction of a conntrack entry. Ports are 0 for protocols without
 * them (ICMP's id is not kept).
 */
struct hf_ct_tuple {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t proto;	/* IPPROTO_* */
	uint16_t sport; /* host byte order */
	uint16_t dport;
	union hf_addr src;
	union hf_addr dst;
};

/* One conntrack entry, as a ctnetlink message or a /proc/net/nf_conntrack line carries it. */
struct hf_ct_entry {
	struct hf_ct_tuple orig;  /* as the initiator sent it */
	struct hf_ct_tuple reply; /* as the responder answers: NAT shows here */
	uint64_t packets[2];	  /* [0] original direction, [1] reply */
	uint64_t bytes[2];
	bool counters; /* both CTA_COUNTERS_* present (accounting on) */
	bool has_tcp_state;
	uint8_t tcp_state; /* enum hf_ct_tcp_state */
	bool destroy;	   /* an IPCTNL_MSG_CT_DELETE event */
	uint32_t status;   /* IPS_* bits */
	uint32_t id;	   /* CTA_ID, 0 when absent */
	uint32_t mark;
	uint16_t zone;
};

/*
 * hf_ct_parse - parse one ctnetlink message (IPCTNL_MSG_CT_NEW from a dump
 * or an event, IPCTNL_MSG_CT_DELETE from a destroy event) into @out. Pure:
 * no I/O. Every length is checked; unknown attributes are skipped.
 * Returns 0, -EBADMSG for a message too short, a broken attribute or one
 * missing CTA_TUPLE_ORIG/REPLY's address or protocol, -EAFNOSUPPORT for a
 * family other than AF_INET/AF_INET6, -EPROTO for a message of another type.
 */
int hf_ct_parse(const struct nlmsghdr *nlh, struct hf_ct_entry *out);

/*
 * hf_ct_proc_parse_line - parse one line of /proc/net/nf_conntrack ("ipv4
 * 2 tcp 6 431999 ESTABLISHED src=... [UNREPLIED] src=... [ASSURED] mark=0
 * zone=0 use=2"); @line need not be NUL-terminated. The /proc file has no
 * CTA_ID: id is 0. Returns 0 or -EBADMSG.
 */
int hf_ct_proc_parse_line(const char *line, size_t len, struct hf_ct_entry *out);

/* Called for every entry a dump or an event read yields; non-zero stops it and is returned. */
typedef int (*hf_ct_cb)(const struct hf_ct_entry *e, void *arg);

/*
 * struct hf_nfct - the netlink sockets of one network namespace's
 * conntrack table: a NETLINK_NETFILTER socket for dumps, a NETLINK_ROUTE
 * socket for the namespace's addresses and, with HF_NFCT_EVENTS, a
 * NETLINK_NETFILTER socket subscribed to NFNLGRP_CONNTRACK_DESTROY. Every
 * socket is opened in the network namespace of the calling thread: open it
 * after setns() to read another namespace's table, then return.
 */
struct hf_nfct;

#define HF_NFCT_EVENTS 1u /* subscribe to destroy events (needs CAP_NET_ADMIN) */

/*
 * hf_nfct_open - open (and bind) the sockets. Returns NULL with errno set
 * (EPROTONOSUPPORT: no nfnetlink in this kernel). Close with hf_nfct_close().
 */
struct hf_nfct *hf_nfct_open(unsigned int flags);
void hf_nfct_close(struct hf_nfct *h);

/*
 * hf_nfct_dump - dump the table (both families), calling @cb for each
 * entry. With @zero, IPCTNL_MSG_CT_GET_CTRZERO: the kernel zeroes every
 * entry's counters as it reports them, for every reader of the table.
 * Returns 0, a negative errno (as hf_diag_dump; -EOPNOTSUPP or -ENOENT when
 * the kernel has no ctnetlink: nf_conntrack_netlink not loaded) or the
 * callback's non-zero return. hf_nfct_strerror() names the step.
 */
int hf_nfct_dump(struct hf_nfct *h, bool zero, hf_ct_cb cb, void *arg);

/*
 * hf_nfct_events - read, without blocking, every destroy event queued on
 * the event socket, calling @cb for each. Returns 0, -ENOBUFS when the
 * kernel dropped events since the last read (the socket stays usable), or
 * another negative errno. -EINVAL when opened without HF_NFCT_EVENTS.
 */
int hf_nfct_events(struct hf_nfct *h, hf_ct_cb cb, void *arg);

/* hf_nfct_event_fd - the event socket's descriptor for poll(), -1 without HF_NFCT_EVENTS. */
int hf_nfct_event_fd(const struct hf_nfct *h);

/*
 * hf_nfct_stats - the table's entries and its limit (IPCTNL_MSG_CT_GET_STATS:
 * CTA_STATS_GLOBAL_ENTRIES, the namespace's nf_conntrack_count, and
 * CTA_STATS_GLOBAL_MAX_ENTRIES, nf_conntrack_max) for the namespace @h was
 * opened in. Returns 0 or a negative errno (-EOPNOTSUPP before Linux 4.19).
 */
int hf_nfct_stats(struct hf_nfct *h, uint32_t *count, uint32_t *max);

/* hf_nfct_strerror - what the last failed call on @h was doing. */
const char *hf_nfct_strerror(const struct hf_nfct *h);

/*
 * The addresses of one network namespace, from an RTM_GETADDR dump: what
 * makes a conntrack entry's end "local". Sorted for binary search; the
 * array grows to the most addresses seen and is reused.
 */
struct hf_addrset {
	size_t n, cap;
	struct hf_addrset_ent {
		uint8_t family;
		union hf_addr addr;
	} * a;
};

/*
 * hf_nfct_addrs - dump the namespace's addresses into @set (replacing its
 * content). Returns 0 or a negative errno (-ENOMEM, or as hf_nfct_dump).
 * Free the array with hf_addrset_free().
 */
int hf_nfct_addrs(struct hf_nfct *h, struct hf_addrset *set);
void hf_addrset_free(struct hf_addrset *set);

/* hf_addrset_add - add one address (tests, and callers with their own list). Returns 0 or -ENOMEM. */
int hf_addrset_add(struct hf_addrset *set, int family, const union hf_addr *addr);

/* hf_addrset_sort - sort after hf_addrset_add(), before hf_addrset_has(). */
void hf_addrset_sort(struct hf_addrset *set);

/* hf_addrset_has - whether @addr is in @set; 127.0.0.0/8 always is. */
bool hf_addrset_has(const struct hf_addrset *set, int family, const union hf_addr *addr);

/*
 * hf_ct_direction - the direction of entry @e: its original source is a
 * local address -> active; its original destination is -> passive;
 * neither -> forwarded.
 */
enum hf_dir hf_ct_direction(const struct hf_ct_entry *e, const struct hf_addrset *local);

/*
 * Conntrack figures of the last collection (source HF_SOURCE_CONNTRACK):
 * entries of every namespace read; count, max and acct those of the
 * namespace the collector runs in (each namespace's count and max are in
 * struct hf_netns after hf_netns_select()).
 */
struct hf_ct_info {
	uint64_t entries;	  /* entries dumped (all protocols, unfiltered) */
	uint64_t entries_no_acct; /* of which without counters */
	int64_t count;		  /* net.netfilter.nf_conntrack_count, -1 when unreadable */
	int64_t max;		  /* net.netfilter.nf_conntrack_max, -1 when unreadable */
	int acct;		  /* net.netfilter.nf_conntrack_acct: 0, 1, -1 when unreadable */
	bool traffic_unknown;	  /* some entries carried no counters: see hf_ct_acct_hint() */
	/* HF_CT_EVENTS only */
	uint64_t destroyed; /* destroy events read since start */
	uint64_t lost;	    /* times the kernel dropped events (ENOBUFS) since start */
	uint64_t epoch; /* bumped when counters restart (lost events): rates across it are void */
	bool resynced;	/* this collection restarted the counters */
};

/* hf_ct_acct_hint - the one message a front end prints when traffic is unknown. */
const char *hf_ct_acct_hint(void);

enum hf_backend {
	HF_BACKEND_AUTO = 0, /* netlink, /proc when netlink is refused */
	HF_BACKEND_NETLINK,
	HF_BACKEND_PROC,
	HF_BACKEND_BPF, /* counts kept by BPF programs as connections change state */
};

/* hf_backend_name - "netlink", "proc", "bpf" or "auto". */
const char *hf_backend_name(enum hf_backend b);

struct hf_ctx;

/*
 * hf_open - a collector. With HF_BACKEND_AUTO, the netlink socket is opened
 * now and /proc is used when it is refused (socket, bind) or when a later
 * send is refused (EPERM, EACCES). @proc_root is "/proc" unless testing.
 * Returns NULL with errno set only for HF_BACKEND_NETLINK when netlink is
 * refused, or when memory is short. Close with hf_close().
 */
struct hf_ctx *hf_open(enum hf_backend backend, const char *proc_root);
void hf_close(struct hf_ctx *ctx);

/* Where a collector reads flows from. */
enum hf_source {
	HF_SOURCE_SOCKETS = 0, /* the TCP sockets of this host (inet_diag, /proc/net/tcp) */
	HF_SOURCE_CONNTRACK,   /* netfilter's connection tracking table (ctnetlink, /proc) */
};

/* hf_source_name - "sockets" or "conntrack". */
const char *hf_source_name(enum hf_source s);

#define HF_CT_EVENTS 1u	 /* conntrack: flows' traffic are counters since hf_open (see below) */
#define HF_CT_CTRZERO 2u /* conntrack: dump with CTRZERO (zeroes counters for every reader) */

struct hf_open_opts {
	enum hf_source source;
	enum hf_backend backend; /* netlink, /proc or netlink then /proc (both sources) */
	const char *proc_root;	 /* NULL: "/proc" */
	unsigned int ct_flags;	 /* HF_CT_* */
	/*
	 * conntrack over netlink: sockets the caller opened with hf_nfct_open()
	 * (HF_NFCT_EVENTS for HF_CT_EVENTS), e.g. inside another network
	 * namespace; the collector owns them from now on, even when it fails.
	 * NULL: opened here, in the calling thread's namespace.
	 */
	struct hf_nfct *nfct;
	/*
	 * A long-lived collector (a plugin, a --watch): with HF_BACKEND_AUTO
	 * and the sockets source, the bpf backend is tried first (its
	 * programs cost more to load than one dump, and then less per
	 * collection), then netlink, then /proc; hf_open_note() says why bpf
	 * was not had. Not with hf_netns_select(): the bpf backend reads the
	 * namespace it runs in.
	 */
	bool follow;
};

/*
 * hf_open_opts - a collector of @o->source. hf_open(b, r) is
 * hf_open_with(&(struct hf_open_opts){ .backend = b, .proc_root = r }).
 *
 * Conntrack: each hf_collect() reads the namespace's addresses
 * (RTM_GETADDR), then dumps the table; every entry becomes a connection
 * of its flow (hf_ct_direction), its counters summed into the flow's
 * traffic: the totals of live entries, as `conntrack -L` shows them.
 *
 * HF_CT_EVENTS, for long-lived front ends that derive rates: the flows'
 * traffic become monotonic counters: the live entries' counters plus the
 * final counters of every entry of the flow destroyed since hf_open (from
 * NFNLGRP_CONNTRACK_DESTROY events), so that the difference between two
 * collections is exactly the flow's traffic in between, connections that
 * ended in between included. A flow whose entries are all gone is still
 * reported (connections 0) in the collection that read their destroy
 * events, then dropped. Destroy events are read after the dump; an event
 * for an entry this dump already counted (the race between the two, told
 * apart by CTA_ID) is held and added at the next collection, when that
 * entry's live counters have left the sum: nothing counted twice or lost.
 * Per-entry state: the CTA_IDs of the last dump (a 4-byte item and 8
 * bytes of hash slots per live entry, bounded by nf_conntrack_max) and the
 * events held (one per entry destroyed during the dump). Lost events
 * (ENOBUFS) restart every counter from the live entries (hf_ct_info:
 * lost, epoch, resynced). The /proc backend has no events: EINVAL.
 *
 * Returns NULL with errno set: for conntrack with HF_BACKEND_NETLINK (or
 * HF_CT_EVENTS) when ctnetlink cannot be opened; ENOMEM. hf_strerror()
 * after a failed hf_collect() names the cause (module absent, table
 * unreadable).
 */
struct hf_ctx *hf_open_with(const struct hf_open_opts *o);

/*
 * hf_open_note - why a .follow collector with HF_BACKEND_AUTO is not using
 * the bpf backend ("bpf backend unavailable: ..."), or "" (it is, or it
 * was not asked for): for a front end to log once.
 */
const char *hf_open_note(const struct hf_ctx *ctx);

/* hf_source - the source of @ctx. */
enum hf_source hf_source(const struct hf_ctx *ctx);

/* hf_ct_info - conntrack figures of the last collection; NULL for the sockets source. */
const struct hf_ct_info *hf_ct_info(const struct hf_ctx *ctx);

/*
 * hf_open_bpf - a collector with the bpf backend: loads and attaches the
 * programs (CAP_BPF and CAP_PERFMON, or root), seeds their counts from the
 * sockets of the caller's network namespace, and reconciles them once with
 * a netlink snapshot. Flows are those of the caller's namespace; listeners
 * come from a LISTEN-only netlink dump per collection. hf_open() with
 * HF_BACKEND_BPF is this without @err. Returns NULL with errno set, and
 * the cause (missing privilege, missing kernel hook, "not built") in @err
 * when @err is not NULL.
 */
struct hf_ctx *hf_open_bpf(const char *proc_root, char *err, size_t errlen);

/* What the bpf backend says of itself; all 0 for other backends. */
struct hf_bpf_stats {
	uint64_t reconciles;	   /* netlink snapshots compared with the counts */
	uint64_t corrections;	   /* counts they corrected, the first (the seed's) excepted */
	uint64_t seed_corrections; /* counts the reconcile right after the seed corrected */
	uint64_t map_full;	   /* flows the programs could not create */
	uint64_t lost;		   /* storage failures, decrements of a count already 0, and
				      transitions no program made */
	uint64_t rescued;	/* transitions set_state_rescue made (set_state busy on the CPU) */
	uint64_t req_untraced;	/* request sockets freed with no timer_cancel, ended when a
				   new one took their address or their timer's time passed */
	uint64_t dumps_skipped; /* namespaces read without the time-wait/request dump
				   (nothing it could find, or the timers followed them) */
	bool timers;		/* time-wait and request sockets followed by their timers */
};

/* hf_bpf_stats - the bpf backend's figures as of the last collection. */
void hf_bpf_stats(const struct hf_ctx *ctx, struct hf_bpf_stats *out);

/*
 * hf_set_reconcile - reconcile the bpf backend's counts with a netlink
 * snapshot every @seconds (default 600; 0: only on a sign of loss).
 */
void hf_set_reconcile(struct hf_ctx *ctx, unsigned int seconds);

/*
 * hf_collect - take a new snapshot: listeners, then every other socket,
 * classified and counted into flows through @filter (NULL: everything).
 * Request sockets (SYN_RECV) are included: they feed the listeners'
 * half-open counts. The previous snapshot's flows and listeners are
 * replaced. Returns 0 or a negative errno; hf_strerror() then says what
 * failed, naming the file or the netlink step.
 */
int hf_collect(struct hf_ctx *ctx, const struct hf_filter *filter);

/* hf_strerror - the cause of the last failure of @ctx, or "" when none. */
const char *hf_strerror(const struct hf_ctx *ctx);

/* hf_backend - the backend the last collection used. */
enum hf_backend hf_backend(const struct hf_ctx *ctx);

/*
 * The last snapshot. The arrays belong to @ctx and stay valid until the
 * next hf_collect() or hf_close(); callers may reorder the flow array.
 */
struct hf_flow *hf_flows(struct hf_ctx *ctx, size_t *n);
struct hf_listener *hf_listeners(struct hf_ctx *ctx, size_t *n);
const struct hf_totals *hf_totals(const struct hf_ctx *ctx);

/*
 * hf_flow_cmp - order flows by connections, largest first, then by a
 * total order on the key, so that output is stable. For qsort().
 */
int hf_flow_cmp(const void *a, const void *b);

/* hf_flow_key_eq - whether two flows have the same key. */
bool hf_flow_key_eq(const struct hf_flow *a, const struct hf_flow *b);

/* hf_flow_key_cmp - a total order on flow keys alone (values ignored), memcmp-like. */
int hf_flow_key_cmp(const struct hf_flow *a, const struct hf_flow *b);

/* hf_listener_key_cmp - a total order on listener keys (family, port, address). */
int hf_listener_key_cmp(const struct hf_listener *a, const struct hf_listener *b);

/*
 * hf_classify - the direction of connection @s given the listeners of
 * @ctx's last collection and the local port range [@lo, @hi]. Sets
 * *@listener to the listener it matched, or NULL. Exposed for tests.
 */
enum hf_dir hf_classify(struct hf_ctx *ctx, const struct hf_sock *s, uint16_t lo, uint16_t hi,
			struct hf_listener **listener);

/* ---- network namespaces ---------------------------------------------------------------- */

/*
 * By default a collector reads only the network namespace it runs in, as
 * before: no discovery, every flow and listener has netns 0. After
 * hf_netns_select() each hf_collect() first discovers every network
 * namespace of the host (one stat of /proc/PID/ns/net per process,
 * deduplicated by inode; the mounts under /run/netns and the runtimes'
 * netns directories), then collects each selected one with its own
 * NETLINK_SOCK_DIAG socket, opened inside it once (setns(2) in a short-lived
 * thread) and kept until the namespace is no longer found; then it is
 * closed at once, so that the kernel can free the namespace. Listeners
 * classify the connections of their own namespace only.
 *
 * Needs CAP_SYS_ADMIN (setns) and CAP_SYS_PTRACE (other users'
 * /proc/PID/ns); without CAP_SYS_ADMIN only the own namespace is read and
 * hf_notice() says so once.
 */

/* What is known of the container a namespace belongs to; "" when unknown. */
struct hf_container {
	char runtime[16];	/* "docker", "containerd", "cri-o", "podman", "kubernetes" */
	char id[65];		/* the full container id (hex) */
	char name[128];		/* from the runtime's metadata on disk */
	char pod[128];		/* Kubernetes: the pod's name ... */
	char pod_namespace[64]; /* ... its namespace */
	char pod_uid[40];	/* ... and uid, from the cgroup path */
};

enum hf_netns_kind {
	HF_NETNS_HOST = 0,  /* pid 1's namespace, named "host" */
	HF_NETNS_NAMED,	    /* an `ip netns` mount under /run/netns: its name */
	HF_NETNS_CONTAINER, /* a member process in a container's cgroup */
	HF_NETNS_RUNTIME,   /* a mount in a runtime's netns directory: its file name */
	HF_NETNS_PROCESS,   /* only a process: "pid-PID-comm" */
};

#define HF_NETNS_NAME_MAX 160

/* One network namespace of the last collection. */
struct hf_netns {
	uint32_t id; /* what flows and listeners carry: kept while the namespace lives, never reused */
	uint64_t inode; /* the namespace's inode (as `ip netns identify`, lsns show it) */
	char name[HF_NETNS_NAME_MAX];
	enum hf_netns_kind kind;
	struct hf_container container; /* kind HF_NETNS_CONTAINER (and pod names) */
	int pid;		       /* a member process, 0 for a mount without one */
	bool self;		       /* the namespace the collector runs in */
	bool collected;		       /* selected and read by the last collection */
	enum hf_backend backend;       /* the backend its last collection used */
	struct hf_totals totals;       /* its share of the last collection */
	/* the conntrack source: its table's nf_conntrack_count and _max, -1 when unknown */
	int64_t ct_count, ct_max;
};

/*
 * hf_netns_select - add @spec to the namespaces hf_collect() reads: "all",
 * "host" (pid 1's), "self" (the collector's own) or a name as
 * struct hf_netns gives it. Repeatable; the first call replaces the
 * default (the own namespace). Returns 0, -EINVAL for an empty spec,
 * -ENOMEM. The bpf backend reads its map once for every namespace and
 * seeds each from inside it the first time it is read. The
 * conntrack source reads each namespace's own table over ctnetlink (the
 * own namespace also over /proc/net/nf_conntrack when ctnetlink is refused).
 */
int hf_netns_select(struct hf_ctx *ctx, const char *spec);

/*
 * hf_netns_count, hf_netns_get - the namespaces of the last collection,
 * by index (0 .. count - 1, ordered by id): every one discovered, collected
 * or not (see .collected). By default one, the own namespace, id 0.
 * hf_netns_find - the namespace of id @id (struct hf_flow.netns,
 * struct hf_listener.netns): a namespace keeps its id for as long as it is
 * discovered, and a new one never takes an old id, so flow keys
 * (hf_flow_key_eq) stay comparable across collections.
 * The structs are valid until the next hf_collect(); both return NULL when
 * there is no such namespace.
 */
size_t hf_netns_count(const struct hf_ctx *ctx);
const struct hf_netns *hf_netns_find(const struct hf_ctx *ctx, uint32_t id);
/* hf_netns_selected - whether hf_netns_select() was called (namespaces are discovered). */
bool hf_netns_selected(const struct hf_ctx *ctx);
const struct hf_netns *hf_netns_get(const struct hf_ctx *ctx, uint32_t idx);

/*
 * hf_notice - what the last collection has to tell once, or "": degraded to
 * the own namespace for lack of privilege, a namespace that could not be
 * entered (named), a selected name not found. Each is said once per
 * collector, not on every collection. Lines end with '\n'.
 */
const char *hf_notice(const struct hf_ctx *ctx);

/*
 * hf_cgroup_parse - the container and pod of a process from the text of
 * /proc/PID/cgroup (cgroup v2 "0::/path", or v1 lines): systemd scopes
 * docker-ID.scope, cri-containerd-ID.scope, crio-ID.scope, libpod-ID.scope,
 * cgroupfs paths /docker/ID and kubepods/.../podUID/ID, and the pod uid of
 * kubepods*-pod<uid>.slice. Pure. Returns 0 when a container or pod was
 * found, -ENOENT otherwise.
 */
int hf_cgroup_parse(const char *text, size_t len, struct hf_container *out);

/*
 * hf_pod_dir_parse - split a kubelet log directory name
 * (/var/log/pods/NAMESPACE_POD_UID) into @out's pod_namespace, pod and
 * pod_uid. Pure. Returns 0 or -EINVAL.
 */
int hf_pod_dir_parse(const char *dirname, struct hf_container *out);

/*
 * hf_docker_name_parse - the container name ("Name", without its leading
 * '/') from the text of Docker's config.v2.json. Pure. Returns 0,
 * -EBADMSG for text that is not JSON or has no string "Name".
 */
int hf_docker_name_parse(const char *json, size_t len, char *name, size_t size);

/*
 * hf_podman_name_parse - the first name of container @id in the text of
 * containers/storage's containers.json (an array of {"id", "names"}).
 * Pure. Returns 0, -ENOENT when @id is not there, -EBADMSG for bad JSON.
 */
int hf_podman_name_parse(const char *json, size_t len, const char *id, char *name, size_t size);

/* ---- host settings and counters --------------------------------------------------------- */

enum hf_netstat_counter {
	HF_LISTEN_OVERFLOWS,
	HF_LISTEN_DROPS,
	HF_REQQ_FULL_DROP,
	HF_REQQ_FULL_DO_COOKIES,
	HF_SYNCOOKIES_SENT,
	HF_NETSTAT_MAX,
};

/* hf_netstat_name - the TcpExt name of a counter ("ListenOverflows", ...). */
const char *hf_netstat_name(enum hf_netstat_counter c);

/* The host's listen-related counters and settings; a value is valid when its bit is in present. */
struct hf_host {
	uint32_t present; /* bit c for counter c */
	uint64_t counters[HF_NETSTAT_MAX];
	int somaxconn;	     /* -1 when unreadable */
	int max_syn_backlog; /* -1 when unreadable */
	int syncookies;	     /* -1 when unreadable */
};

/*
 * hf_netstat_parse - parse the text of /proc/net/netstat (the "TcpExt:"
 * header and value lines) into @out->counters/present. Pure.
 * Returns 0, or -EBADMSG when the TcpExt lines are missing or disagree.
 */
int hf_netstat_parse(const char *text, size_t len, struct hf_host *out);

/*
 * hf_host_read - read /proc/net/netstat and the three sysctls under
 * @proc_root. Returns 0 or a negative errno for an unreadable netstat.
 */
int hf_host_read(const char *proc_root, struct hf_host *out);

/*
 * hf_port_range_read - net.ipv4.ip_local_port_range under @proc_root.
 * Returns 0 or a negative errno; on error @lo and @hi hold the kernel default.
 */
int hf_port_range_read(const char *proc_root, uint16_t *lo, uint16_t *hi);

/* ---- JSON --------------------------------------------------------------------------------- */

/* What a front end adds to a flow's JSON; either callback may be NULL. */
struct hf_json_opts {
	bool states;  /* add "states" (conntrack: conntrack's TCP states, "ct_states") */
	bool traffic; /* conntrack: add "protocol", "traffic" (null when unknown), "nat", "closed" */
	bool counters; /* add "opened", "closed", "failed" (the bpf backend's counters) */
	/* the "name" of an address; NULL or returning NULL means the address itself */
	const char *(*name)(int family, const union hf_addr *addr, unsigned int plen, void *arg);
	/* a flow's process: return true and fill @name/@pgid to add "process" */
	bool (*process)(const struct hf_flow *f, const char **name, int *pgid, void *arg);
	void *arg;
	/* non-NULL: add each flow's "netns" {"name", "inode"} and "container" (where known) */
	const struct hf_ctx *netns_ctx;
};

/*
 * hf_json_flows - generate the lstf-compatible array of @n flows into @g.
 * Returns 0 or -EIO when yajl refuses (a yajl_gen_status is kept in errno).
 */
int hf_json_flows(struct yajl_gen_t *g, const struct hf_flow *flows, size_t n,
		  const struct hf_json_opts *o);

/*
 * hf_json_listeners - generate an array of listener objects: addr, port,
 * backlog (null when unknown), accept_queue, syn_recv, connections, sockets
 * (and per-socket figures when members differ); with @netns_ctx not NULL,
 * each listener's "netns" and "container" as for flows.
 */
int hf_json_listeners(struct yajl_gen_t *g, const struct hf_listener *l, size_t n,
		      const struct hf_ctx *netns_ctx);

/*
 * hf_json_summary - the host summary object: totals, states, backend, host
 * counters; after hf_netns_select(), a "netns" array: per namespace
 * collected, its name, inode, container, backend and totals.
 */
int hf_json_summary(struct yajl_gen_t *g, const struct hf_ctx *ctx, const struct hf_host *host);

#endif /* HOSTFLOW_H */
