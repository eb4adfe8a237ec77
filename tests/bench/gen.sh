#!/usr/bin/env bash
# tests/bench/gen.sh: the benchmark's socket generator. It holds N real TCP
# sockets in a network namespace of its own, and grows them on request.
#
# Sourced (after tests/lib/netns.sh, whose trap tears everything down) by
# tests/bench/run.sh and tests/e2e/60-bench-smoke.sh:
#   bench_gen_init                  the namespace and its listeners
#   bench_gen_grow N                hold N sockets in all (never shrinks)
#   bench_in CMD...                 run CMD inside the namespace
# Run directly, it holds N sockets until interrupted, for profiling by hand:
#   tests/bench/gen.sh 200000
#   ip netns exec hf-bench-... perf record -g build/hostflow -n
#
# Layout: one host "bench" (tests/lib/netns.sh), server 198.51.100.1 and
# 2001:db8::1, listeners on ports 5001-5004 of each (8 sockets), clients
# 198.51.100.11-16 and 2001:db8::11-12. Both ends of each connection live in
# the namespace, so C connections are 2C sockets. Nothing is accepted: the
# server ends wait in the accept queues (somaxconn and tcp_max_syn_backlog
# raised inside the namespace) and cost no descriptor; each client end costs
# one, so connections are spread over processes (build/bench/hold) of at most
# BENCH_PER_PROC: the open-file limit per process here is 20,000.
#
# The connections are shared equally by 32 groups (8 client addresses x 4
# ports), whatever N, so the host always has the same 64 flows (a passive
# and an active one per group) and 8 listeners: memory that follows flows
# must not change with N. N counts every socket the kernel lists, listeners
# included: N = 2C + 8.

BENCH_HOLD=${BENCH_HOLD:-build/bench/hold}
BENCH_FLOOR=${BENCH_FLOOR:-build/bench/floor}
BENCH_PER_PROC=${BENCH_PER_PROC:-18000}
BENCH_PORTS=(5001 5002 5003 5004)
BENCH_SERVER4=198.51.100.1
BENCH_SERVER6=2001:db8::1
BENCH_CLIENTS=(198.51.100.11 198.51.100.12 198.51.100.13 198.51.100.14 198.51.100.15
	198.51.100.16 2001:db8::11 2001:db8::12)
BENCH_LISTENERS=$((2 * ${#BENCH_PORTS[@]}))
BENCH_NS=          # the namespace, once made
BENCH_CONNS=0      # connections held
BENCH_PROCS=0      # holder processes (listeners included)

# bench_log TEXT: progress on stderr, so that stdout stays for results.
bench_log() { printf '%s\n' "$*" >&2; }

# bench_in CMD...: run CMD inside the benchmark's namespace.
bench_in() { ip netns exec "$BENCH_NS" "$@"; }

# bench_count: the number of TCP sockets the kernel lists in the namespace
# (one inet_diag dump, build/bench/floor).
bench_count() { bench_in "$BENCH_FLOOR" compat; }

# __bench_hold TAG ARGS...: start build/bench/hold ARGS in the namespace
# with a ready file under HF_TMP; HF_LAST_PID gets its pid.
__bench_hold() {
	local tag=$1
	shift
	rm -f "$HF_TMP/$tag.ready"
	hf_bg bench "$BENCH_HOLD" -r "$HF_TMP/$tag.ready" "$@" || return 1
	BENCH_PROCS=$((BENCH_PROCS + 1))
}

# __bench_wait_ready TIMEOUT TAG:PID...: wait until every holder wrote its
# ready file; fail (with a diagnostic) when one died or TIMEOUT s passed.
__bench_wait_ready() {
	local timeout=$1 t pid tag deadline
	shift
	deadline=$((SECONDS + timeout))
	for t in "$@"; do
		tag=${t%%:*} pid=${t#*:}
		while [ ! -e "$HF_TMP/$tag.ready" ]; do
			if ! kill -0 "$pid" 2>/dev/null; then
				bench_log "generator: holder $tag (pid $pid) died before ready"
				return 1
			fi
			if [ $SECONDS -ge $deadline ]; then
				bench_log "generator: holder $tag (pid $pid) not ready after ${timeout}s"
				return 1
			fi
			sleep 0.05
		done
	done
}

# bench_gen_init: make the namespace, raise its queues, start the
# listeners. Returns non-zero (with a message) on failure.
bench_gen_init() {
	local a addrs=("$BENCH_SERVER4/24" "$BENCH_SERVER6/64")
	[ -x "$BENCH_HOLD" ] || { bench_log "generator: $BENCH_HOLD missing (make $BENCH_HOLD)"; return 1; }
	[ -x "$BENCH_FLOOR" ] || { bench_log "generator: $BENCH_FLOOR missing (make $BENCH_FLOOR)"; return 1; }
	for a in "${BENCH_CLIENTS[@]}"; do
		if [[ $a == *:* ]]; then addrs+=("$a/64"); else addrs+=("$a/24"); fi
	done
	hf_host bench "${addrs[@]}" || { bench_log "generator: cannot make the namespace"; return 1; }
	BENCH_NS=$(hf_ns bench)
	# The accept queues hold every server end; the SYN queue must never
	# fall back to cookies while connections are made back to back.
	hf_sysctl bench net.core.somaxconn=4000000 net.ipv4.tcp_max_syn_backlog=4000000 \
		net.ipv4.tcp_syncookies=0 || { bench_log "generator: sysctl failed"; return 1; }
	local waits=() fam addr
	for fam in 4 6; do
		if [ $fam = 4 ]; then addr=$BENCH_SERVER4; else addr=$BENCH_SERVER6; fi
		__bench_hold "lst$fam" listen 4000000 "$addr" "${BENCH_PORTS[@]}" || return 1
		waits+=("lst$fam:$HF_LAST_PID")
	done
	__bench_wait_ready 10 "${waits[@]}"
}

# bench_gen_grow N: add connections until the namespace holds N sockets
# (listeners included); every group gets an equal share. Prints nothing on
# stdout; returns non-zero when a holder fails or the kernel's count is not
# N once all are ready.
bench_gen_grow() {
	local want=$1 conns add ngroups=$((${#BENCH_CLIENTS[@]} * ${#BENCH_PORTS[@]}))
	local g c port dst share room args=() waits=() tag t0 got i
	conns=$(((want - BENCH_LISTENERS) / 2))
	add=$((conns - BENCH_CONNS))
	if [ $((2 * conns + BENCH_LISTENERS)) -ne "$want" ] || [ $add -lt 0 ]; then
		bench_log "generator: cannot hold $want sockets (have $((2 * BENCH_CONNS + BENCH_LISTENERS)); N must be even and larger)"
		return 1
	fi
	t0=${EPOCHREALTIME/./}
	room=$BENCH_PER_PROC
	for ((g = 0; g < ngroups; g++)); do
		c=${BENCH_CLIENTS[g / ${#BENCH_PORTS[@]}]}
		port=${BENCH_PORTS[g % ${#BENCH_PORTS[@]}]}
		if [[ $c == *:* ]]; then dst=$BENCH_SERVER6; else dst=$BENCH_SERVER4; fi
		share=$((add / ngroups + (g < add % ngroups ? 1 : 0)))
		# A group larger than the room left spills into the next holder.
		while [ "$share" -gt 0 ]; do
			i=$((share < room ? share : room))
			args+=("$c" "$dst" "$port" "$i")
			share=$((share - i)) room=$((room - i))
			if [ $room -eq 0 ]; then
				tag=con$BENCH_PROCS
				__bench_hold "$tag" connect "${args[@]}" || return 1
				waits+=("$tag:$HF_LAST_PID")
				args=() room=$BENCH_PER_PROC
			fi
		done
	done
	if [ ${#args[@]} -gt 0 ]; then
		tag=con$BENCH_PROCS
		__bench_hold "$tag" connect "${args[@]}" || return 1
		waits+=("$tag:$HF_LAST_PID")
	fi
	__bench_wait_ready 300 "${waits[@]}" || return 1
	BENCH_CONNS=$conns
	# The last handshakes may still be settling into the accept queues.
	for ((i = 0; i < 100; i++)); do
		got=$(bench_count) || return 1
		[ "$got" -eq "$want" ] && break
		sleep 0.1
	done
	if [ "$got" -ne "$want" ]; then
		bench_log "generator: the kernel lists $got sockets, expected $want"
		return 1
	fi
	bench_log "generator: $want sockets ready in $BENCH_NS ($BENCH_CONNS connections, $BENCH_PROCS holders, +$add in $(((${EPOCHREALTIME/./} - t0) / 1000)) ms)"
}

# Run directly: hold N sockets until interrupted.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	[ $# -eq 1 ] && [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 SOCKETS" >&2; exit 2; }
	[ "$(id -u)" = 0 ] || { echo "$0: needs root (network namespaces)" >&2; exit 1; }
	. "$(dirname "$0")/../lib/netns.sh"
	bench_gen_init && bench_gen_grow "$1" || exit 1
	echo "ready: $1 sockets in network namespace $BENCH_NS; interrupt to tear down"
	sleep infinity &
	HF_PIDS+=("$!") # stopped by hf_cleanup with the holders
	wait $!
fi
