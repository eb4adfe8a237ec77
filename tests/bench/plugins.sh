#!/usr/bin/env bash
# tests/bench/plugins.sh: the plugins' table (make bench runs it after
# bpf.sh). CPU per collection of the two long-lived agents, with
# `Backend bpf` and, for comparison, `Backend netlink`:
#   hostflow.plugin  the netdata external plugin, run as netdata runs it
#                    ("hostflow.plugin 1", its config in
#                    NETDATA_USER_CONFIG_DIR/hostflow.conf), stdout to a file
#   collectd read    a real collectd 5.12 (tests/lib/collectd.sh), Interval 1,
#                    build/hostflow.so loaded; no writer: a PostCache chain
#                    whose only target is "stop" keeps the values in the
#                    cache (so that unixsock sees them) and writes none, as
#                    the csv writer would cost more than the read itself, and
#                    no writer at all makes collectd log every value
# each as a ratio to the floor (one inet_diag dump, build/bench/floor,
# median of RUNS) measured in the same run, and their RSS.
#
# For each size it grows the generator's sockets (tests/bench/gen.sh) and
# runs the four agents in its namespace, one at a time, interleaved with the
# floor, RUNS rounds. One run of an agent: start it; wait for its second
# collection (the first holds the start-up: load, attach, seed, first
# reconcile); 0.5 s later, mid-interval, sample its CPU (the time on CPU of
# each of its threads, /proc/PID/task/TID/schedstat, in ns); TICKS seconds
# later sample again, and count the collections in between (netdata: the
# states chart's BEGIN lines; collectd reads on a fixed schedule, so its
# window is placed half-way between two reads by the time stamps of its
# hostflow values, read through unixsock outside the window, which also
# show that the reads went on). CPU per collection is the difference
# divided by that count: the CPU over 1 + TICKS collections minus the CPU
# over the first, divided by TICKS, as tests/bench/bpf.sh makes the
# command's figure, but within one process, so that the start-up's variance
# (loading the programs alone costs 65-190 ms) stays out of it. RSS is the
# agent's VmRSS at the second sample, peak RSS its VmHWM then (with bpf, the
# start-up's: most likely libbpf reading the kernel's BTF). The bpf
# backend's reconcile (a netlink snapshot every 60 s in the plugins) is not
# in the window.
#
# Writes HF_BENCH_OUT/plugins.md (two markdown tables: CPU and RSS, a row
# per size; the RSS table ends with the growth from the smallest size to the
# largest) and HF_BENCH_OUT/plugins.tsv (every run), and prints the tables.
#
# Environment: HF_BENCH_SIZES (default "10000 40000 100000 200000"),
# HF_BENCH_PLUGINS_RUNS (default 3), HF_BENCH_PLUGINS_TICKS (default 5),
# HF_BENCH_OUT (default build/bench), HOSTFLOW, HF_BENCH_PLUGIN (default
# build/hostflow.plugin), HF_BENCH_COLLECTD_SO (default build/hostflow.so),
# COLLECTD_BIN.
# An agent that cannot run here (no bpf backend, no collectd, a binary not
# built) gets "-" in its columns and a line saying why; exit status 1 when a
# measurement failed or the sockets could not be set up, else 0.
# shellcheck disable=SC2317 # small functions run via wait_until
set -u
if [ "$(id -u)" != 0 ]; then
	echo "${0##*/}: needs root (network namespaces, BPF)" >&2
	exit 1
fi
. "$(dirname "$0")/../lib/netns.sh"
. tests/bench/gen.sh
[ ! -f tests/lib/collectd.sh ] || . tests/lib/collectd.sh

SIZES=${HF_BENCH_SIZES:-10000 40000 100000 200000}
RUNS=${HF_BENCH_PLUGINS_RUNS:-3}
TICKS=${HF_BENCH_PLUGINS_TICKS:-5}
OUT=${HF_BENCH_OUT:-build/bench}
MEASURE=build/bench/measure
PLUGIN=${HF_BENCH_PLUGIN:-build/hostflow.plugin}
COLLECTD_SO=${HF_BENCH_COLLECTD_SO:-build/hostflow.so}
COLLECTD_BIN=${COLLECTD_BIN:-/usr/sbin/collectd}
# Seconds an agent gets for its first two collections (200k sockets: ~1 s).
START_TIMEOUT=60

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}
for f in "$HOSTFLOW" "$MEASURE" "$BENCH_FLOOR" "$BENCH_HOLD"; do
	[ -x "$f" ] || die "$f missing: make $f"
done
for n in $SIZES; do
	[[ $n =~ ^[0-9]+$ ]] && [ $((n % 2)) -eq 0 ] && [ "$n" -gt $BENCH_LISTENERS ] ||
		die "HF_BENCH_SIZES: '$n' is not an even number of sockets above $BENCH_LISTENERS"
done
SIZES=$(printf '%s\n' $SIZES | sort -nu | tr '\n' ' ')
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "HF_BENCH_PLUGINS_RUNS: '$RUNS' is not a positive number"
[[ $TICKS =~ ^[1-9][0-9]*$ ]] || die "HF_BENCH_PLUGINS_TICKS: '$TICKS' is not a positive number"
[ -r "/proc/$$/task/$$/schedstat" ] ||
	die "no /proc/PID/task/TID/schedstat (a kernel without CONFIG_SCHED_INFO): cannot time the agents"
mkdir -p "$OUT" || die "cannot make $OUT"
rm -f "$OUT/plugins.md" "$OUT/plugins.tsv"

# ---- the agents: id, label; note: why not run
AGENTS=(nd_bpf nd_netlink cd_bpf cd_netlink)
declare -A LABEL=(
	[nd_bpf]="hostflow.plugin, Backend bpf"
	[nd_netlink]="hostflow.plugin, Backend netlink"
	[cd_bpf]="collectd read, Backend bpf"
	[cd_netlink]="collectd read, Backend netlink"
)
declare -A NOTE=()
if ! out=$("$HOSTFLOW" --backend bpf -n 2>&1 >/dev/null); then
	NOTE[nd_bpf]="no bpf backend: ${out//$'\n'/ }" NOTE[cd_bpf]=${NOTE[nd_bpf]}
fi
if [ ! -x "$PLUGIN" ]; then
	NOTE[nd_bpf]="$PLUGIN missing" NOTE[nd_netlink]="$PLUGIN missing"
fi
if [ ! -x "$COLLECTD_BIN" ]; then
	NOTE[cd_bpf]="no $COLLECTD_BIN" NOTE[cd_netlink]="no $COLLECTD_BIN"
elif ! declare -F collectd_start >/dev/null; then
	NOTE[cd_bpf]="tests/lib/collectd.sh missing" NOTE[cd_netlink]=${NOTE[cd_bpf]}
elif [ ! -f "$COLLECTD_SO" ]; then
	NOTE[cd_bpf]="$COLLECTD_SO missing" NOTE[cd_netlink]="$COLLECTD_SO missing"
fi

field() { sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# threads_cpu PID: one "TID NS" line per thread of PID, NS its time on CPU.
threads_cpu() {
	local t ns rest
	for t in /proc/"$1"/task/*; do
		read -r ns rest 2>/dev/null <"$t/schedstat" && echo "${t##*/} $ns"
	done
}
# cpu_delta A B: the ns spent between samples A and B of threads_cpu; fails
# when a thread of A is gone in B (its time would be lost). A thread born in
# between counts from 0.
cpu_delta() {
	awk 'NR == FNR { a[$1] = $2; next }
	{ d += $2 - a[$1]; delete a[$1] }
	END { for (t in a) gone = 1; if (gone || d < 0) exit 1; printf "%.0f\n", d }' \
		<(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
# mem PID: "rss_kib=VmRSS hwm_kib=VmHWM" of PID (KiB).
mem() { awk '$1 == "VmRSS:" { r = $2 } $1 == "VmHWM:" { h = $2 } END { printf "rss_kib=%d hwm_kib=%d", r, h }' "/proc/$1/status" 2>/dev/null; }

# wait_until TIMEOUT PID CMD...: run CMD every 20 ms until it succeeds (0),
# PID dies (1) or TIMEOUT seconds pass (2).
wait_until() {
	local deadline=$((SECONDS + $1)) pid=$2
	shift 2
	while ! "$@"; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ $SECONDS -lt $deadline ] || return 2
		sleep 0.02
	done
}

# forget_pid PID: take PID, reaped, out of the cleanup's list (HF_PIDS), so
# that the cleanup never signals another process that got its number.
forget_pid() {
	local p keep=()
	for p in "${HF_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	HF_PIDS=("${keep[@]}")
}

# Each run sets RES to "cpu_ns=C ticks=K rss_kib=R hwm_kib=P status=S" (S: ok, or what
# went wrong; no subshell, so that the cleanup knows what runs). The agent's
# output and logs stay in HF_TMP/AGENT.*.
RES=

# ---- hostflow.plugin
mkdir -p "$HF_TMP/nd-etc" "$HF_TMP/nd-stock" || die "cannot make the plugin's config dirs"
# nd_ticks FILE: collections the plugin wrote to FILE (one states chart each).
nd_ticks() { grep -cE '^BEGIN hostflow\.states( |$)' "$1"; }
nd_ticks_ge() { [ "$(nd_ticks "$1")" -ge "$2" ]; }
nd_run() {
	local id=$1 be=$2 out=$HF_TMP/$1.out pid a b n0 n1 m st=ok d r
	printf '[plugin]\nBackend = %s\n' "$be" >"$HF_TMP/nd-etc/hostflow.conf"
	hf_bg bench env NETDATA_USER_CONFIG_DIR="$HF_TMP/nd-etc" \
		NETDATA_STOCK_CONFIG_DIR="$HF_TMP/nd-stock" "$PLUGIN" 1 >"$out" 2>"$HF_TMP/$id.err"
	pid=$HF_LAST_PID
	wait_until $START_TIMEOUT "$pid" nd_ticks_ge "$out" 2
	r=$?
	if [ $r = 0 ]; then
		sleep 0.5
		a=$(threads_cpu "$pid") n0=$(nd_ticks "$out")
		sleep "$TICKS"
		b=$(threads_cpu "$pid") n1=$(nd_ticks "$out") m=$(mem "$pid")
		kill -0 "$pid" 2>/dev/null || st="died"
	else
		st="no second collection within ${START_TIMEOUT}s"
		[ $r = 2 ] || st="died before its second collection"
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	forget_pid "$pid"
	if [ "$st" = ok ]; then
		d=$(cpu_delta "$a" "$b") || st="a thread ended in the window"
		# The backend read is in every chart's label: a fallback would be seen.
		grep -q "^CLABEL 'backend' '$be' " "$out" &&
			! grep "^CLABEL 'backend' " "$out" | grep -vq "'$be'" ||
			st="not read through $be: $(grep "^CLABEL 'backend' " "$out" | sort -u | tr '\n' ' ')"
		[ $((n1 - n0)) -ge 1 ] || st="no collection in the window"
	fi
	[ "$st" = ok ] || echo "${0##*/}: ${LABEL[$id]}: $st; stderr: $(tail -n 5 "$HF_TMP/$id.err")" >&2
	RES="cpu_ns=${d:-0} ticks=$((${n1:-0} - ${n0:-0})) ${m:-rss_kib=0 hwm_kib=0} status=${st// /_}"
}

# ---- collectd
# The values go into the cache (unixsock answers) and stop there: no writer.
CD_NOWRITE='PostCacheChain "HostflowBench"
<Chain "HostflowBench">
	Target "stop"
</Chain>'
# cd_last_read: the time stamp of the newest hostflow value collectd holds.
cd_last_read() {
	collectd_cmd LISTVAL 2>/dev/null | awk '$2 ~ "/hostflow" && $1 > t { t = $1 } END { if (t) print t }'
}
# cd_first_read, cd_next_read: true once collectd holds hostflow values
# (CD_T1: their time stamp), then once newer ones (CD_T2).
cd_first_read() { CD_T1=$(cd_last_read) && [ -n "$CD_T1" ]; }
cd_next_read() { CD_T2=$(cd_last_read) && [ -n "$CD_T2" ] && [ "$CD_T2" != "$CD_T1" ]; }
hf_on_exit collectd_stop
cd_run() {
	local id=$1 be=$2 pid a b ta t1 m st=ok d r n
	if ! collectd_start -n "$BENCH_NS" -p "$COLLECTD_SO" -c "LoadPlugin hostflow
<Plugin hostflow>
	Backend $be
</Plugin>
$CD_NOWRITE" >"$HF_TMP/$id.err" 2>&1; then
		echo "${0##*/}: ${LABEL[$id]}: collectd did not start: $(tail -n 20 "$HF_TMP/$id.err")" >&2
		collectd_stop
		RES="cpu_ns=0 ticks=0 rss_kib=0 hwm_kib=0 status=collectd_did_not_start"
		return
	fi
	pid=$COLLECTD_PID
	CD_T1='' CD_T2=''
	wait_until $START_TIMEOUT "$pid" cd_first_read &&
		wait_until $START_TIMEOUT "$pid" cd_next_read
	r=$?
	if [ $r = 0 ]; then
		# collectd reads on a fixed schedule (CD_T2 + k s, its time stamps
		# being CLOCK_REALTIME) and unixsock answers slowly: the window
		# starts at the next half-way point between two reads, whatever
		# the polling took, and holds TICKS reads.
		ta=$(awk -v t="$CD_T2" -v now="$EPOCHREALTIME" 'BEGIN {
			a = t + 0.5; while (a < now + 0.05) a += 1; printf "%.6f", a }')
		sleep "$(awk -v a="$ta" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.3f", a - now }')"
		a=$(threads_cpu "$pid")
		sleep "$TICKS"
		b=$(threads_cpu "$pid") m=$(mem "$pid")
		t1=$(cd_last_read)
		kill -0 "$pid" 2>/dev/null || st="died"
	else
		st="no second read within ${START_TIMEOUT}s"
		[ $r = 2 ] || st="died before its second read"
	fi
	cp "$COLLECTD_LOG" "$HF_TMP/$id.log" 2>/dev/null
	collectd_stop
	if [ "$st" = ok ]; then
		d=$(cpu_delta "$a" "$b") || st="a thread ended in the window"
		grep -Eq "hostflow plugin: reading the sockets through $be( \(.*\))?$" "$HF_TMP/$id.log" ||
			st="not read through $be"
		! grep -q '\[error\]' "$HF_TMP/$id.log" || st="errors in collectd's log"
		# The read due just before the window's end was made.
		awk -v t="${t1:-0}" -v due="$ta" -v k="$TICKS" 'BEGIN { exit !(t >= due + k - 0.6) }' ||
			st="collectd's reads fell behind (last at ${t1:-none}, window ${ta}+${TICKS}s)"
		n=$TICKS
	fi
	[ "$st" = ok ] || echo "${0##*/}: ${LABEL[$id]}: $st; log: $(tail -n 5 "$HF_TMP/$id.log" 2>/dev/null)" >&2
	RES="cpu_ns=${d:-0} ticks=${n:-0} ${m:-rss_kib=0 hwm_kib=0} status=${st// /_}"
}

run_agent() {
	case $1 in
	nd_bpf) nd_run "$1" bpf ;;
	nd_netlink) nd_run "$1" netlink ;;
	cd_bpf) cd_run "$1" bpf ;;
	cd_netlink) cd_run "$1" netlink ;;
	esac
}

# ---- measure
t_start=$SECONDS
failed=0
bench_gen_init || die "generator: cannot set up"
printf 'size\tsockets\tagent\trun\tcpu_us_per_collection\tcollections\trss_kib\tpeak_rss_kib\tstatus\n' >"$OUT/plugins.tsv"
for size in $SIZES; do
	bench_gen_grow "$size" || die "generator: cannot hold $size sockets"
	sockets=$(bench_count) || die "cannot count the sockets"
	t0=$SECONDS
	for ((run = 1; run <= RUNS; run++)); do
		line=$(bench_in "$MEASURE" -- "$BENCH_FLOOR" compat)
		st=$(field status "$line")
		[ "$st" = 0 ] && st=ok || { st=error; failed=1; }
		printf '%s\t%s\tfloor\t%s\t%s\t1\t-\t%s\t%s\n' "$size" "$sockets" "$run" \
			"$(field cpu_us "$line")" "$(field maxrss_kib "$line")" "$st" >>"$OUT/plugins.tsv"
		for a in "${AGENTS[@]}"; do
			[ -z "${NOTE[$a]:-}" ] || continue
			run_agent "$a"
			line=$RES
			st=$(field status "$line") k=$(field ticks "$line")
			[ "$st" = ok ] || failed=1
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$sockets" "$a" "$run" \
				"$(awk -v c="$(field cpu_ns "$line")" -v k="$k" 'BEGIN { printf "%.0f", k ? c / k / 1000 : 0 }')" \
				"$k" "$(field rss_kib "$line")" "$(field hwm_kib "$line")" "$st" >>"$OUT/plugins.tsv"
			[ "$st" != ok ] || [ "$k" = "$TICKS" ] ||
				bench_log "plugins: ${LABEL[$a]} at $sockets sockets, run $run: $k collections in the window of ${TICKS}s"
		done
	done
	bench_log "plugins: measured at $sockets sockets in $((SECONDS - t0)) s"
done

# ---- the tables: medians of the runs that succeeded
# med SIZE AGENT COLUMN: the median of COLUMN (5: CPU, 7: RSS, 8: peak) over the
# successful runs, or nothing.
med() {
	local v
	mapfile -t v < <(awk -F'\t' -v s="$1" -v a="$2" -v c="$3" \
		'NR > 1 && $1 == s && $3 == a && $9 == "ok" { print $c }' "$OUT/plugins.tsv")
	[ ${#v[@]} -eq 0 ] || median "${v[@]}"
}
{
	echo "Machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores;" \
		"kernel $(uname -r); $("$HOSTFLOW" --version), commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')$([ -x "$COLLECTD_BIN" ] && echo "; $("$COLLECTD_BIN" -h 2>&1 | sed -n 's/^collectd \([0-9.]*\).*/collectd \1/p' | head -1)")"
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); $RUNS runs (median), $TICKS collections per run (interval 1 s)"
	for a in "${AGENTS[@]}"; do
		[ -z "${NOTE[$a]:-}" ] || echo "${LABEL[$a]}: not measured: ${NOTE[$a]}"
	done
	echo
	echo "| sockets | floor, ms | hostflow.plugin bpf, ms | × floor | hostflow.plugin netlink, ms | × floor | collectd read bpf, ms | × floor | collectd read netlink, ms | × floor |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do
		sockets=$(awk -F'\t' -v s="$size" 'NR > 1 && $1 == s { print $2; exit }' "$OUT/plugins.tsv")
		f=$(med "$size" floor 5)
		row="| $sockets | $(awk -v f="$f" 'BEGIN { if (f == "") print "-"; else printf "%.1f", f / 1000 }') |"
		for a in "${AGENTS[@]}"; do
			row+=$(awk -v c="$(med "$size" "$a" 5)" -v f="$f" 'BEGIN {
				if (c == "") { printf " - | - |"; exit }
				printf " %.2f |", c / 1000
				if (f == "" || f == 0) printf " - |"; else printf " %.3f |", c / f }')
		done
		echo "$row"
	done
	echo
	echo "| RSS (peak), MiB | hostflow.plugin bpf | hostflow.plugin netlink | collectd bpf | collectd netlink |"
	echo "|---:|---:|---:|---:|---:|"
	first=${SIZES%% *} last=$(awk '{ print $NF }' <<<"$SIZES")
	for size in $SIZES; do
		row="| $(awk -F'\t' -v s="$size" 'NR > 1 && $1 == s { print $2; exit }' "$OUT/plugins.tsv") sockets |"
		for a in "${AGENTS[@]}"; do
			row+=$(awk -v r="$(med "$size" "$a" 7)" -v p="$(med "$size" "$a" 8)" 'BEGIN {
				if (r == "") printf " - |"; else printf " %.1f (%.1f) |", r / 1024, p / 1024 }')
		done
		echo "$row"
	done
	row="| growth, smallest to largest, KiB |"
	for a in "${AGENTS[@]}"; do
		row+=$(awk -v a="$(med "$first" "$a" 7)" -v b="$(med "$last" "$a" 7)" \
			-v pa="$(med "$first" "$a" 8)" -v pb="$(med "$last" "$a" 8)" 'BEGIN {
			if (a == "" || b == "") printf " - |"; else printf " %+d (%+d) |", b - a, pb - pa }')
	done
	echo "$row"
} >"$OUT/plugins.md"
cat "$OUT/plugins.md"
bench_log "plugins: done in $((SECONDS - t_start)) s: $OUT/plugins.md"
exit $failed
