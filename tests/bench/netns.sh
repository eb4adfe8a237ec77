#!/usr/bin/env bash
# tests/bench/netns.sh: what reading several network namespaces costs (make
# bench, after tests/bench/run.sh). The TCP hash table is shared by every
# namespace (unless net.ipv4.tcp_child_ehash_entries gives one its own), so
# a dump of any namespace walks every socket of every namespace: K
# namespaces cost about K walks of the whole table, whichever namespace
# holds the sockets.
#
# For each total of sockets (held in the generator's namespace,
# tests/bench/gen.sh) and each number of namespaces K (the generator's and
# K-1 empty ones), it measures, interleaved, HF_BENCH_RUNS times:
#   floor      one inet_diag dump of the generator's namespace
#   hostflow   hostflow -n (the default: its own namespace)
#   netns K    hostflow -n --netns NAME... over the K namespaces: discovery,
#              entering each one (first collection), one dump in each
# and writes HF_BENCH_OUT/netns.md: median CPU per run and its ratio to
# the floor measured in the same run. Each is one process start to exit,
# so hostflow's rows include its start-up and, for K > 1, entering the
# namespaces: a watching collector pays those once.
#
# Environment: HF_BENCH_NETNS_SIZES (default "10000 100000"),
# HF_BENCH_NETNS_COUNTS (default "1 10 50"), HF_BENCH_RUNS (default 5),
# HF_BENCH_OUT (default build/bench), HOSTFLOW. Needs root.
set -u
if [ "$(id -u)" != 0 ]; then
	echo "${0##*/}: needs root (network namespaces)" >&2
	exit 1
fi
. "$(dirname "$0")/../lib/netns.sh"
. tests/bench/gen.sh

SIZES=${HF_BENCH_NETNS_SIZES:-10000 100000}
COUNTS=${HF_BENCH_NETNS_COUNTS:-1 10 50}
RUNS=${HF_BENCH_RUNS:-5}
OUT=${HF_BENCH_OUT:-build/bench}
MEASURE=build/bench/measure

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}
for f in "$HOSTFLOW" "$MEASURE" "$BENCH_FLOOR" "$BENCH_HOLD"; do
	[ -x "$f" ] || die "$f missing: make $f"
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "HF_BENCH_RUNS: '$RUNS' is not a positive number"
max=0
for k in $COUNTS; do
	[[ $k =~ ^[1-9][0-9]*$ ]] && [ "$k" -le 64 ] || die "HF_BENCH_NETNS_COUNTS: '$k' is not 1 to 64"
	[ "$k" -gt $max ] && max=$k
done
mkdir -p "$OUT" || die "cannot make $OUT"

bench_gen_init || die "generator: cannot set up"
# the empty namespaces, made once; the first K-1 of them are read
EMPTY=()
for ((i = 1; i < max; i++)); do
	ns="hf-bnetns$i-$$-$RANDOM"
	ip netns add "$ns" || die "ip netns add $ns"
	hf_on_exit ip netns del "$ns"
	EMPTY+=("$ns")
done

cpu() { sed -n 's/.*cpu_us=\([0-9]*\).*status=0.*/\1/p'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
failed=0
declare -A RES=()
for size in $SIZES; do
	bench_gen_grow "$size" || die "generator: cannot hold $size sockets"
	sockets=$(bench_count) || die "cannot count the sockets"
	# every TCP socket of the host, which each dump walks
	RES[$size,total]=$("$HOSTFLOW" -n --summary --json --netns all 2>/dev/null |
		"$HF_PYTHON" -c 'import json, sys
print(sum(n["sockets"] + n["listeners"] for n in json.load(sys.stdin)["netns"]))')
	declare -A SAMPLES=()
	for ((run = 0; run <= RUNS; run++)); do # run 0: warm-up
		for k in floor hostflow $COUNTS; do
			case $k in
			floor) line=$(bench_in "$MEASURE" -- "$BENCH_FLOOR" compat) ;;
			hostflow) line=$(bench_in "$MEASURE" -- "$HOSTFLOW" -n) ;;
			*)
				args=(--netns "$BENCH_NS")
				for ((i = 0; i < k - 1; i++)); do args+=(--netns "${EMPTY[i]}"); done
				line=$(bench_in "$MEASURE" -- "$HOSTFLOW" -n "${args[@]}")
				;;
			esac
			c=$(cpu <<<"$line")
			if [ -z "$c" ]; then
				echo "${0##*/}: $k at $sockets sockets: $line" >&2
				failed=1
				continue
			fi
			[ $run -gt 0 ] && SAMPLES[$k]+="$c "
		done
	done
	for k in floor hostflow $COUNTS; do
		RES[$size,$k]=$(printf '%s\n' ${SAMPLES[$k]:-} | median)
	done
	RES[$size,sockets]=$sockets
	unset SAMPLES
	bench_log "netns: measured at $sockets sockets"
done

ms() { awk -v u="$1" 'BEGIN { if (u == "") print "-"; else printf "%.2f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.1fx", a / b }'; }
{
	echo "CPU per run (median of $RUNS), and its ratio to one floor dump of the same run."
	echo "Sockets: in the generator's namespace (in all namespaces of the host, which every dump walks)."
	echo
	printf '| %s |' "namespaces read"
	for size in $SIZES; do printf ' %s sockets (%s) |' "${RES[$size,sockets]}" "${RES[$size,total]:-?}"; done
	echo
	printf '|---|'
	for size in $SIZES; do printf -- '---|'; done
	echo
	printf '| floor: one inet_diag dump |'
	for size in $SIZES; do printf ' %s (1x) |' "$(ms "${RES[$size,floor]}")"; done
	echo
	printf '| hostflow -n (default) |'
	for size in $SIZES; do
		printf ' %s (%s) |' "$(ms "${RES[$size,hostflow]}")" "$(ratio "${RES[$size,hostflow]}" "${RES[$size,floor]}")"
	done
	echo
	for k in $COUNTS; do
		printf '| hostflow -n --netns x %d |' "$k"
		for size in $SIZES; do
			printf ' %s (%s) |' "$(ms "${RES[$size,$k]}")" "$(ratio "${RES[$size,$k]}" "${RES[$size,floor]}")"
		done
		echo
	done
} >"$OUT/netns.md"
cat "$OUT/netns.md"
exit $failed
