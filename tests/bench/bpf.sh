#!/usr/bin/env bash
# tests/bench/bpf.sh: the bpf backend's table (make bench runs it after
# run.sh). For each size it grows the generator's sockets (tests/bench/gen.sh)
# and measures, inside its namespace, with build/bench/measure:
#   floor      one inet_diag dump, counted (build/bench/floor), median of RUNS
#   bpf        CPU per collection of `hostflow --backend bpf -n --json
#              --watch=1`: its CPU from the end of its second tick to the end
#              of its (2 + TICKS)-th, divided by TICKS, sampled within the
#              one process (build/bench/measure -s), so that loading, the
#              seed, the first reconcile and their variance are left out (a
#              difference of two runs' totals, as before, was lost in the
#              start-up's variance once a collection cost well under 1 ms)
#   netlink    the same with --backend netlink, for comparison
#   start-up   CPU of the bpf watcher's first tick: load, attach, seed,
#              reconcile, one collection
# then the same at the last size with clients that close first (time-wait
# sockets born in FIN_WAIT2, tests/lib/churn.py),
# then, once, the cost the programs add to traffic: connections per second
# of a loopback client/server pair (build/bench/cps) with and without a bpf
# watcher attached, with one whose timers' programs are not loaded, and
# with empty programs on the same hooks (build/bench/hooks: what no program
# there can go below), alternated, median of RUNS each.
# Writes HF_BENCH_OUT/bpf.md (a markdown table) and prints it.
#
# Environment: HF_BENCH_SIZES (default "10000 40000 100000 200000"),
# HF_BENCH_BPF_RUNS (default 3), HF_BENCH_BPF_TICKS (default 5),
# HF_BENCH_CPS_RUNS (default 8), HF_BENCH_CHURN_RATE (default 200),
# HF_BENCH_OUT (default build/bench), HOSTFLOW.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "${0##*/}: needs root (network namespaces, BPF)" >&2
	exit 1
fi
. "$(dirname "$0")/../lib/netns.sh"
. tests/bench/gen.sh

SIZES=${HF_BENCH_SIZES:-10000 40000 100000 200000}
RUNS=${HF_BENCH_BPF_RUNS:-3}
TICKS=${HF_BENCH_BPF_TICKS:-5}
OUT=${HF_BENCH_OUT:-build/bench}
MEASURE=build/bench/measure
CPS=build/bench/cps
HOOKS=build/bench/hooks

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}
for f in "$HOSTFLOW" "$MEASURE" "$BENCH_FLOOR" "$BENCH_HOLD" "$CPS" "$HOOKS"; do
	[ -x "$f" ] || die "$f missing: make $f"
done
[ -r "$HOOKS.bpf.o" ] || die "$HOOKS.bpf.o missing: make $HOOKS.bpf.o"
out=$("$HOSTFLOW" --backend bpf -n 2>&1 >/dev/null) || die "no bpf backend: $out"
mkdir -p "$OUT" || die "cannot make $OUT"

field() { sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# watch_cpu BACKEND TICKS: CPU (us) of a watcher over TICKS ticks, start-up included
watch_cpu() {
	field cpu_us "$(bench_in "$MEASURE" -t "$2" -- "$HOSTFLOW" --backend "$1" -n --json --watch=1)"
}
# watch_tick BACKEND: CPU (us) of a watcher per tick, over TICKS ticks after its second
watch_tick() {
	local w
	w=$(field window_cpu_us "$(bench_in "$MEASURE" -t $((TICKS + 2)) -s 2 -- "$HOSTFLOW" \
		--backend "$1" -n --json --watch=1)")
	[ -n "$w" ] && [ "$w" -ge 0 ] && echo $((w / TICKS))
}

bench_gen_init || die "generator: cannot set up"
{
	echo "Machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores;" \
		"kernel $(uname -r); $("$HOSTFLOW" --version), commit $(git rev-parse --short HEAD 2>/dev/null)"
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); $RUNS runs (median), $TICKS ticks per run"
	echo
	echo "| sockets | floor, ms | bpf per collection, ms | × floor | netlink --watch per collection, ms | × floor | bpf start-up, ms |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
} >"$OUT/bpf.md"
for size in $SIZES; do
	bench_gen_grow "$size" || die "generator: cannot hold $size sockets"
	sockets=$(bench_count) || die "cannot count the sockets"
	fl=() bp=() nl=() st=()
	for ((r = 0; r < RUNS; r++)); do
		fl+=("$(field cpu_us "$(bench_in "$MEASURE" -- "$BENCH_FLOOR" compat)")")
		st+=("$(watch_cpu bpf 1)")
		w=$(watch_tick bpf) || die "bpf watcher: no CPU figure"
		bp+=("$w")
		w=$(watch_tick netlink) || die "netlink watcher: no CPU figure"
		nl+=("$w")
	done
	f=$(median "${fl[@]}") b=$(median "${bp[@]}") n=$(median "${nl[@]}") s=$(median "${st[@]}")
	awk -v k="$sockets" -v f="$f" -v b="$b" -v n="$n" -v s="$s" 'BEGIN {
		printf "| %d | %.1f | %.2f | %.3f | %.1f | %.2f | %.0f |\n",
			k, f / 1000, b / 1000, b / f, n / 1000, n / f, s / 1000 }' >>"$OUT/bpf.md"
	bench_log "bpf: measured at $sockets sockets"
done

# At the last size, clients that close first, as on a host of clients: each
# connection leaves a time-wait socket born in FIN_WAIT2 (our FIN acknowledged
# before the peer's), which the programs follow by address. CHURN_RATE
# connections a second (tests/lib/churn.py) from 100 addresses of the
# namespace to a server in it, each closed at once, for the whole
# measurement; the same watchers as above.
CHURN_RATE=${HF_BENCH_CHURN_RATE:-200}
if [ -n "${f:-}" ]; then
	bench_in ip -6 route add local 2001:db8:100::/64 dev lo || die "churn: no AnyIP route"
	bench_in sysctl -qw net.ipv6.ip_nonlocal_bind=1 || die "churn: ip_nonlocal_bind"
	rm -f "$OUT/churn.ready"
	hf_bg bench "$HF_PYTHON" tests/lib/churn.py serve "$BENCH_SERVER6" 80 "$OUT/churn.ready"
	serve=$HF_LAST_PID
	hf_wait_file "$OUT/churn.ready" "$serve" 10 || die "churn: no server"
	hf_bg bench "$HF_PYTHON" tests/lib/churn.py churn "$BENCH_SERVER6" 80 2001:db8:100::/64 100 \
		3600 "$CHURN_RATE" 0 "$OUT/churn.result" 2>"$OUT/churn.err"
	churner=$HF_LAST_PID
	sleep 5 # time-wait sockets pile up
	bp=() nl=()
	for ((r = 0; r < RUNS; r++)); do
		w=$(watch_tick bpf) || die "bpf watcher (churn): no CPU figure"
		bp+=("$w")
		w=$(watch_tick netlink) || die "netlink watcher (churn): no CPU figure"
		nl+=("$w")
	done
	tw=$(bench_in ss -tanH state time-wait | wc -l)
	kill "$churner" "$serve" 2>/dev/null
	wait "$churner" "$serve" 2>/dev/null
	kill -0 "$churner" 2>/dev/null && die "churn: still running"
	b=$(median "${bp[@]}") n=$(median "${nl[@]}")
	{
		echo
		echo "| at $sockets sockets, clients closing first ($CHURN_RATE connections a second) | time-wait sockets at the end | bpf per collection, ms | × floor | netlink --watch per collection, ms | × floor |"
		echo "|---|---:|---:|---:|---:|---:|"
		awk -v tw="$tw" -v f="$f" -v b="$b" -v n="$n" 'BEGIN {
			printf "| tests/lib/churn.py, each closed at once | %d | %.2f | %.3f | %.1f | %.2f |\n",
				tw, b / 1000, b / f, n / 1000, n / f }'
	} >>"$OUT/bpf.md"
	bench_log "bpf: measured with clients closing first"
fi

# The traffic's cost: runs without the programs, with them all attached,
# with the set_state programs alone (HOSTFLOW_BPF_NO_TIMERS: the timers'
# programs, on every timer the kernel arms or removes, not loaded), and
# with empty programs on the same hooks (build/bench/hooks; -n: on
# inet_sock_set_state alone), the cost no program there can go below, in
# alternating order (ABCDE EDCBA), so that a drift of the machine's load
# cancels.
CPS_RUNS=${HF_BENCH_CPS_RUNS:-8}
CPS_VARIANTS=(without with notimers hooks hooksnt)
declare -A cps
# cps_run VARIANT: one run of build/bench/cps with VARIANT attached
cps_run() {
	local w='' v
	case $1 in
	with) hf_bg bench "$HOSTFLOW" --backend bpf -n --watch=60 >/dev/null ;;
	notimers) hf_bg bench env HOSTFLOW_BPF_NO_TIMERS=1 "$HOSTFLOW" --backend bpf -n --watch=60 >/dev/null ;;
	hooks) hf_bg bench "$HOOKS" "$HOOKS.bpf.o" >/dev/null ;;
	hooksnt) hf_bg bench "$HOOKS" -n "$HOOKS.bpf.o" >/dev/null ;;
	esac
	if [ "$1" != without ]; then
		w=$HF_LAST_PID
		sleep 2 # loaded, attached, seeded
		kill -0 "$w" 2>/dev/null || die "cps: the $1 programs did not stay attached"
	fi
	v=$(field conns_per_s "$(bench_in "$CPS" 2)")
	[ -n "$v" ] || die "cps: no result with $1"
	cps[$1]+=" $v"
	if [ -n "$w" ]; then
		kill "$w"
		wait "$w" 2>/dev/null
	fi
}
for ((r = 0; r < CPS_RUNS; r++)); do
	if ((r % 2)); then
		for ((i = ${#CPS_VARIANTS[@]} - 1; i >= 0; i--)); do cps_run "${CPS_VARIANTS[i]}"; done
	else
		for v in "${CPS_VARIANTS[@]}"; do cps_run "$v"; done
	fi
done
declare -A med
for v in "${CPS_VARIANTS[@]}"; do
	# shellcheck disable=SC2086 # the runs, split
	med[$v]=$(median ${cps[$v]})
done

# Where that cost lies, as the kernel measures it (kernel.bpf_stats_enabled
# for one more run with the programs attached): each program's run time
# per connection, against the CPU the cps pair spent per connection
# (build/bench/measure: its two processes, the kernel's work for them
# included). Throughput ratios move by a few percent from run to run on a
# shared machine; these do not.
# prog_times: "name run_time_ns run_cnt" of the last loaded program of each
# name the watcher loads (this bpftool does not name a program's process)
prog_times() {
	bpftool -j prog show | "$HF_PYTHON" -c '
import json, sys
last = {}
for p in json.load(sys.stdin):
    n = p.get("name")
    if n in ("set_state", "set_state_rescue", "timer_start", "timer_cancel"):
        if n not in last or p["id"] > last[n]["id"]:
            last[n] = p
for n, p in sorted(last.items()):
    print(n, p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}
stats=
if command -v bpftool >/dev/null; then
	was=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	hf_bg bench "$HOSTFLOW" --backend bpf -n --watch=60 >/dev/null
	w=$HF_LAST_PID
	sleep 2
	t0=$(prog_times)
	m=$(bench_in "$MEASURE" -o "$OUT/cps.out" -- "$CPS" 2)
	t1=$(prog_times)
	kill "$w"
	wait "$w" 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled="$was"
	conns=$(awk -F= '{ print int($2 * 2) }' "$OUT/cps.out")
	stats=$(printf '%s\n--\n%s\n' "$t0" "$t1" | awk -v conns="$conns" -v cpu="$(field cpu_us "$m")" '
		$1 == "--" { after = 1; next }
		!after { t[$1] = $2; n[$1] = $3; next }
		{ dt = $2 - t[$1]; dn = $3 - n[$1]; tot += dt
		  line = line sprintf("| %s | %.2f | %.0f | %.1f |\n", $1, dn / conns, dn ? dt / dn : 0, dt / conns) }
		END { printf "%s| all | | | %.1f |\n", line, tot / conns
		      printf "\ncps pair: %d connections, %.1f us of CPU each; the programs: %.2f%% of it\n",
			conns, cpu / conns, 100 * tot / 1000 / cpu }')
fi
{
	echo
	echo "| loopback connections a second (build/bench/cps, $CPS_RUNS runs of 2 s each, median) | connections/s | × without |"
	echo "|---|---:|---:|"
	for v in "${CPS_VARIANTS[@]}"; do
		case $v in
		without) what="without programs" ;;
		with) what="the backend's programs attached" ;;
		notimers) what="the backend's set_state programs alone" ;;
		hooks) what="empty programs on the same hooks" ;;
		hooksnt) what="empty programs on inet_sock_set_state alone" ;;
		esac
		awk -v what="$what" -v b="${med[$v]}" -v a="${med[without]}" \
			'BEGIN { printf "| %s | %d | %.3f |\n", what, b, b / a }'
	done
	awk -v w="${med[with]}" -v h="${med[hooks]}" -v n="${med[notimers]}" -v hn="${med[hooksnt]}" 'BEGIN {
		printf "\nAbove the cost of the hooks alone (the backend / empty programs on the same hooks): %.3f; set_state alone: %.3f\n",
			w / h, n / hn }'
	if [ -n "$stats" ]; then
		echo
		echo "| program (kernel.bpf_stats_enabled, one cps run) | runs per connection | ns per run | ns per connection |"
		echo "|---|---:|---:|---:|"
		echo "$stats"
	fi
} >>"$OUT/bpf.md"
cat "$OUT/bpf.md"
