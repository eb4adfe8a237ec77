/*
 * hostflow_bpf.h - what the BPF programs (hostflow.bpf.c) and user space
 * (common/bpf.c) share: the layout of the flow map's key and value and of
 * the error counters. Included by both sides; fixed-width types only.
 */
#ifndef HOSTFLOW_BPF_H
#define HOSTFLOW_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HF_BPF_STATES 16 /* kernel states 0..TCP_NEW_SYN_RECV (12), a power of two to mask with */
#define HF_BPF_FLOWS_MAX 65536
/*
 * Request sockets followed by address (their flow when they end); past it,
 * keyed at their end. A walk of the map (at each collection, when it holds
 * any) costs about 3 ns a bucket, as many as this.
 */
#define HF_BPF_REQS_MAX 65536
/* Time-wait sockets in FIN_WAIT2 followed by address (their substate); past it, a dump. */
#define HF_BPF_FW2S_MAX 65536
/*
 * The slot of hf_bpf_val.states that counts time-wait sockets in FIN_WAIT2
 * (inet_diag reports them in FIN_WAIT2, like full sockets in that state,
 * which states[FIN_WAIT2] counts): past every kernel state.
 */
#define HF_BPF_TW_FW2 15

/* A flow as the programs keep it: one per (netns, dir, family, laddr, lport|0, paddr, pport|0). */
struct hf_bpf_key {
	__u32 netns; /* inode number of the socket's network namespace */
	__u8 dir;    /* enum hf_dir: 1 active, 2 passive */
	__u8 family; /* AF_INET or AF_INET6; v4-mapped sockets are AF_INET */
	__u16 lport; /* host order; 0 for an active flow */
	__u16 pport; /* host order; 0 for a passive flow */
	__u16 pad;
	__u8 laddr[16];
	__u8 paddr[16];
};

/*
 * Connections of the flow per state (request sockets under SYN_RECV,
 * time-wait sockets under TIME_WAIT, or HF_BPF_TW_FW2 while in FIN_WAIT2),
 * and monotonic counters since the programs
 * were attached: connections opened (a full socket born by connect() or
 * accepted from a listener), closed (ended after ESTABLISHED) and failed
 * (ended without reaching ESTABLISHED, request sockets dropped included).
 */
struct hf_bpf_val {
	__s32 states[HF_BPF_STATES];
	__u64 opened;
	__u64 closed;
	__u64 failed;
	__u32 inode; /* a socket of the flow (the last one opened or seeded), for -p */
	__u32 pad;
};

/* Per-CPU error counters, indexes into the "errors" array map. */
enum hf_bpf_error {
	HF_BPF_ERR_FULL = 0,	     /* a flow could not be created (map full) */
	HF_BPF_ERR_STORAGE = 1,	     /* socket storage could not be created */
	HF_BPF_ERR_UNDERFLOW = 2,    /* a count to decrement was 0 */
	HF_BPF_ERR_RESCUED = 3,	     /* transitions set_state missed and set_state_rescue made */
	HF_BPF_ERR_REQ_UNTRACED = 4, /* request sockets freed armed, ended by reqs */
	HF_BPF_ERR_MAP = 5,	     /* the map's size; what follows is read by user space: */
	HF_BPF_ERR_MISSED = 5,	     /* set_state's recursion_misses (struct bpf_prog_info) */
	HF_BPF_ERR_MAX = 6,
};

#endif /* HOSTFLOW_BPF_H */
