#!/usr/bin/env bash
# tests/bench/run.sh: hostflow's benchmark (make bench). How close hostflow
# comes to the least work the kernel needs to list the sockets (the floor),
# and how it compares with ss, /proc/net/tcp and collectd's tcpconns, from
# 10,000 to 200,000 sockets.
#
# For each size it grows the sockets held by the generator (tests/bench/gen.sh,
# in a network namespace of its own), then runs every tool inside that
# namespace under build/bench/measure, interleaved: a warm-up round, then
# HF_BENCH_RUNS rounds. tests/bench/report.py turns the measurements into
# tables; gnuplot draws the plot. Everything lands in HF_BENCH_OUT:
#   table.md     machine, CPU / wall / peak RSS tables, targets (PASS/MISS)
#   plot.png     CPU time against sockets, one line per tool
#   results.tsv  one line per tool and size; raw.tsv: every run
#
# Environment:
#   HF_BENCH_SIZES   sockets to measure at (default "10000 40000 100000 200000")
#   HF_BENCH_RUNS    runs per tool and size, median taken (default 9)
#   HF_BENCH_WARMUP  warm-up rounds, not counted (default 1)
#   HF_BENCH_TICKS   hostflow.plugin ticks per run (default 10)
#   HF_BENCH_OUT     output directory (default build/bench)
#   HOSTFLOW, HF_BENCH_PLUGIN, HF_BENCH_COLLECTD_SO
#                    the binaries measured (default build/hostflow,
#                    build/hostflow.plugin, build/hostflow.so)
#
# Needs root (network namespaces), build/hostflow, build/bench/{floor,hold,
# measure}, python3 and gnuplot; hostflow.plugin, hostflow.so, collectd and
# ss are measured when present, and their rows say why when not. A missed
# target is reported, not an error. Exit status: 0, or 1 when a measurement
# failed or the sockets could not be set up.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "${0##*/}: needs root (network namespaces)" >&2
	exit 1
fi
. "$(dirname "$0")/../lib/netns.sh"
. tests/bench/gen.sh
[ ! -f tests/lib/collectd.sh ] || . tests/lib/collectd.sh

SIZES=${HF_BENCH_SIZES:-10000 40000 100000 200000}
RUNS=${HF_BENCH_RUNS:-9}
WARMUP=${HF_BENCH_WARMUP:-1}
TICKS=${HF_BENCH_TICKS:-10}
OUT=${HF_BENCH_OUT:-build/bench}
MEASURE=build/bench/measure
PLUGIN=${HF_BENCH_PLUGIN:-build/hostflow.plugin}
COLLECTD_SO=${HF_BENCH_COLLECTD_SO:-build/hostflow.so}
COLLECTD_BIN=${COLLECTD_BIN:-/usr/sbin/collectd}
# The classic one-liner: count sockets per state.
AWK_STATES='$1 != "sl" { n[$4]++ } END { for (s in n) print s, n[s] }'

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

for f in "$HOSTFLOW" "$MEASURE" "$BENCH_FLOOR" "$BENCH_HOLD"; do
	[ -x "$f" ] || die "$f missing: make $f"
done
[ -n "$HF_PYTHON" ] || die "python3 missing"
for n in $SIZES; do
	[[ $n =~ ^[0-9]+$ ]] && [ $((n % 2)) -eq 0 ] && [ "$n" -gt $BENCH_LISTENERS ] ||
		die "HF_BENCH_SIZES: '$n' is not an even number of sockets above $BENCH_LISTENERS"
done
SIZES=$(printf '%s\n' $SIZES | sort -nu | tr '\n' ' ')
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "HF_BENCH_RUNS: '$RUNS' is not a positive number"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "HF_BENCH_WARMUP: '$WARMUP' is not a number"
[[ $TICKS =~ ^[1-9][0-9]*$ ]] || die "HF_BENCH_TICKS: '$TICKS' is not a positive number"
mkdir -p "$OUT" || die "cannot make $OUT"
rm -f "$OUT"/{raw.tsv,tools.tsv,machine.txt,results.tsv,table.md,targets.txt,plot.dat,plot.gp,plot.png}

# ---- the tools: id, kind (once | per:K | tick:K), label; note: why not run
TOOLS=(floor hostflow json proc ss cat catawk cd_tcpconns cd_hostflow floor10 plugin)
declare -A KIND=(
	[floor10]=per:10 [plugin]=tick:$TICKS
)
declare -A LABEL=(
	[floor]="floor: one inet_diag dump, counted"
	[hostflow]="hostflow -n"
	[json]="hostflow -n --json"
	[proc]="hostflow --proc -n"
	[ss]="ss -tan"
	[cat]="cat /proc/net/tcp /proc/net/tcp6"
	[catawk]="cat /proc/net/tcp{,6} | awk (per state)"
	[cd_tcpconns]="collectd -T, tcpconns"
	[cd_hostflow]="collectd -T, hostflow"
	[floor10]="floor compat 10, per dump"
	[plugin]="hostflow.plugin, per tick"
)
declare -A NOTE=()
command -v ss >/dev/null || NOTE[ss]="no ss (iproute2)"
[ -x "$PLUGIN" ] || NOTE[plugin]="$PLUGIN missing"
if [ ! -x "$COLLECTD_BIN" ]; then
	NOTE[cd_tcpconns]="no $COLLECTD_BIN" NOTE[cd_hostflow]="no $COLLECTD_BIN"
elif ! declare -F collectd_prepare >/dev/null; then
	NOTE[cd_tcpconns]="tests/lib/collectd.sh missing" NOTE[cd_hostflow]="tests/lib/collectd.sh missing"
fi
[ -n "${NOTE[cd_hostflow]:-}" ] || [ -f "$COLLECTD_SO" ] || NOTE[cd_hostflow]="$COLLECTD_SO missing"

for t in "${TOOLS[@]}"; do
	printf '%s\t%s\t%s\t%s\n' "$t" "${KIND[$t]:-once}" "${LABEL[$t]}" "${NOTE[$t]:--}"
done >"$OUT/tools.tsv"

# ---- the machine
{
	echo "Machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
		"$(nproc) cores, $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "Kernel: $(uname -sr); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
	echo "Software: $("$HOSTFLOW" --version), commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)');" \
		"$(ss -V 2>/dev/null | head -1)$([ -x "$COLLECTD_BIN" ] && echo "; $("$COLLECTD_BIN" -h 2>&1 | sed -n 's/^collectd \([0-9.]*\).*/collectd \1/p' | head -1)")"
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
} >"$OUT/machine.txt"

# ---- set up
t_start=$SECONDS
failed=0
bench_gen_init || die "generator: cannot set up"
declare -A CD_DIR=()
# cd_prepare TOOL CONFIG...: a private collectd configuration (tests/lib/
# collectd.sh) for TOOL, made in a subshell so that both can coexist; removed at exit.
cd_prepare() {
	local tool=$1 dir
	shift
	dir=$(collectd_prepare -n "$BENCH_NS" "$@" >"$HF_TMP/$tool.log" 2>&1 &&
		printf '%s' "$COLLECTD_DIR") || dir=
	if [ -z "$dir" ] || [ ! -f "$dir/oneshot.conf" ]; then
		echo "${0##*/}: ${LABEL[$tool]}: collectd configuration failed:" >&2
		cat "$HF_TMP/$tool.log" >&2
		NOTE[$tool]="collectd configuration failed"
		failed=1
		return 1
	fi
	hf_on_exit rm -rf "$dir"
	CD_DIR[$tool]=$dir
}
if [ -z "${NOTE[cd_tcpconns]:-}" ]; then
	# As close to hostflow's defaults as tcpconns goes: per listening port,
	# and every connection summed per state.
	cd_prepare cd_tcpconns -p tcpconns -c 'LoadPlugin tcpconns
<Plugin tcpconns>
	ListeningPorts true
	AllPortsSummary true
</Plugin>'
fi
if [ -z "${NOTE[cd_hostflow]:-}" ]; then
	cd_prepare cd_hostflow -p "$COLLECTD_SO" -c 'LoadPlugin hostflow'
fi
for t in "${TOOLS[@]}"; do
	printf '%s\t%s\t%s\t%s\n' "$t" "${KIND[$t]:-once}" "${LABEL[$t]}" "${NOTE[$t]:--}"
done >"$OUT/tools.tsv"

# run_tool TOOL RUN: measure TOOL once in the namespace; prints measure's line.
# Warm-up runs (RUN <= 0) of the plugin last one tick.
run_tool() {
	local m=(bench_in "$MEASURE")
	case $1 in
	floor) "${m[@]}" -- "$BENCH_FLOOR" compat ;;
	floor10) "${m[@]}" -- "$BENCH_FLOOR" compat 10 ;;
	hostflow) "${m[@]}" -- "$HOSTFLOW" -n ;;
	json) "${m[@]}" -- "$HOSTFLOW" -n --json ;;
	proc) "${m[@]}" -- "$HOSTFLOW" --proc -n ;;
	ss) "${m[@]}" -- ss -tan ;;
	cat) "${m[@]}" -- cat /proc/net/tcp /proc/net/tcp6 ;;
	catawk) "${m[@]}" -- sh -c 'cat /proc/net/tcp /proc/net/tcp6 | awk "$1"' sh "$AWK_STATES" ;;
	# collectd -T logs every plugin it loads on stderr: kept for a failure.
	cd_tcpconns | cd_hostflow)
		"${m[@]}" -- "$COLLECTD_BIN" -T -C "${CD_DIR[$1]}/oneshot.conf" 2>"$HF_TMP/$1.err" ||
			grep -v 'successfully loaded' "$HF_TMP/$1.err" >&2
		;;
	plugin) "${m[@]}" -t "$(($2 > 0 ? TICKS : 1))" -- "$PLUGIN" 1 ;;
	esac
}

# field NAME LINE: the value of NAME=... in measure's line.
field() { sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

for size in $SIZES; do
	bench_gen_grow "$size" || die "generator: cannot hold $size sockets"
	sockets=$(bench_count) || die "cannot count the sockets"
	t0=$SECONDS
	for ((run = 1 - WARMUP; run <= RUNS; run++)); do
		for t in "${TOOLS[@]}"; do
			[ -z "${NOTE[$t]:-}" ] || continue
			line=$(run_tool "$t" "$run")
			st=$(field status "$line")
			if [ -z "$st" ]; then
				st=error
				line="wall_us=0 cpu_us=0 maxrss_kib=0"
			fi
			if [ "$st" != 0 ]; then
				echo "${0##*/}: ${LABEL[$t]} at $sockets sockets, run $run: $st" >&2
				[ "$run" -le 0 ] || failed=1
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$sockets" "$t" "$run" \
				"$(field wall_us "$line")" "$(field cpu_us "$line")" \
				"$(field maxrss_kib "$line")" "$st" >>"$OUT/raw.tsv"
		done
	done
	bench_log "measured at $sockets sockets in $((SECONDS - t0)) s"
done

"$HF_PYTHON" tests/bench/report.py "$OUT" || failed=1
if command -v gnuplot >/dev/null; then
	gnuplot "$OUT/plot.gp" || { echo "${0##*/}: gnuplot failed" >&2; failed=1; }
else
	echo "${0##*/}: no gnuplot (gnuplot-nox): no plot" >&2
	failed=1
fi
bench_log "benchmark done in $((SECONDS - t_start)) s: $OUT/table.md, $OUT/plot.png"
exit $failed
