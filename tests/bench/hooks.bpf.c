// SPDX-License-Identifier: GPL-2.0
/*
 * hooks.bpf.c - the bpf backend's hooks with nothing on them: programs
 * that return at once, attached where common/bpf/hostflow.bpf.c attaches
 * its own (two on inet_sock_set_state, one on timer_start, one on
 * timer_cancel). build/bench/hooks loads them; tests/bench/bpf.sh measures
 * the traffic with them, so that the cost of the hooks themselves, which
 * no program on them can go below, is in the same table as the backend's.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(hook_state, struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(hook_rescue, struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

SEC("tp_btf/timer_start")
int BPF_PROG(hook_tstart, struct timer_list *timer)
{
	return 0;
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(hook_tcancel, struct timer_list *timer)
{
	return 0;
}
