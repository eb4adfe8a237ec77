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
# Each of these is one process start to exit, so hostflow's rows include
# its start-up and, for K > 1, entering the namespaces: a watching
# collector pays those once. Then, HF_BENCH_NETNS_WATCH_RUNS times, for
# each K, what a watching collector pays per collection over the same K
# namespaces, measured as tests/bench/bpf.sh does (build/bench/measure -t):
#   bpf watch K      hostflow --backend bpf --netns NAME... --watch=1 -n
#                    --json: its CPU from the end of its second tick to
#                    the end of its (2 + TICKS)-th, divided by TICKS,
#                    sampled within the one process (build/bench/measure
#                    -s): the second holds the reconcile of the namespaces
#                    seeded in the first. So loading, attaching, the seed of each
#                    namespace and the first reconcile are left out; its
#                    first tick alone is reported as its start-up
#   netlink watch K  the same with --backend netlink
# each run next to one more floor dump; the peak RSS of the 2 + TICKS
# ticks run is kept. Before those, one check per K that the bpf watcher
# counts every connection: the sum of its flows' connections in its second
# document equals the sockets held minus the listeners, with nothing on
# stderr (a mismatch or a message fails the run, and is printed). The
# namespaces are named, not `--netns all`, so that K is exact on a host
# where others make namespaces too; `all` adds only the discovery.
# Writes HF_BENCH_OUT/netns.md: median CPU per run or per collection and
# its ratio to the floor's median over both parts of the same run, then
# the watchers' peak RSS and start-up.
#
# Environment: HF_BENCH_NETNS_SIZES (default "10000 100000"),
# HF_BENCH_NETNS_COUNTS (default "1 10 50"), HF_BENCH_RUNS (default 5),
# HF_BENCH_NETNS_WATCH_RUNS (default 3), HF_BENCH_NETNS_TICKS (default 8:
# the start-up varies by tens of ms, and is divided by TICKS),
# HF_BENCH_OUT (default build/bench), HOSTFLOW. Needs root; without the
# bpf backend its rows say why they were not measured.
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
WRUNS=${HF_BENCH_NETNS_WATCH_RUNS:-3}
TICKS=${HF_BENCH_NETNS_TICKS:-8}
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
[[ $WRUNS =~ ^[0-9]+$ ]] || die "HF_BENCH_NETNS_WATCH_RUNS: '$WRUNS' is not a number"
[[ $TICKS =~ ^[1-9][0-9]*$ ]] || die "HF_BENCH_NETNS_TICKS: '$TICKS' is not a positive number"
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

# Why the bpf rows are not measured ("" when they are).
BPF_WHY=
if [ "$WRUNS" -gt 0 ] && ! BPF_WHY=$("$HOSTFLOW" --backend bpf -n 2>&1 >/dev/null); then
	BPF_WHY="not measured: hostflow --backend bpf: ${BPF_WHY:-failed}"
	bench_log "netns: bpf rows $BPF_WHY"
else
	BPF_WHY=
fi
BACKENDS=(netlink)
[ -z "$BPF_WHY" ] && BACKENDS=(bpf netlink)

# nsargs K: ARGS gets --netns for the generator's namespace and K-1 empty ones.
nsargs() {
	ARGS=(--netns "$BENCH_NS")
	for ((i = 0; i < $1 - 1; i++)); do ARGS+=(--netns "${EMPTY[i]}"); done
}
# watch BACKEND K TICKS [SKIP]: measure's line for a watcher over K
# namespaces (with SKIP, window_cpu_us: its CPU after its SKIP-th tick).
watch() {
	nsargs "$2"
	bench_in "$MEASURE" -t "$3" ${4:+-s "$4"} -- "$HOSTFLOW" --backend "$1" "${ARGS[@]}" \
		--watch=1 -n --json
}
# bpf_check K SOCKETS: the bpf watcher's second document counts SOCKETS
# minus the listeners, and it says nothing on stderr.
bpf_check() {
	local got err=$HF_TMP/bpf-check.err
	nsargs "$1"
	got=$(bench_in timeout 120 "$HOSTFLOW" --backend bpf "${ARGS[@]}" --watch=1 -n --json 2>"$err" |
		head -n 2 | tail -n 1 | "$HF_PYTHON" -c 'import json, sys
print(sum(f["connections"] for f in json.load(sys.stdin)))' 2>&1)
	# head's exit ends the watcher at its next write: that message is expected.
	sed -i '/^hostflow: write error: Broken pipe$/d' "$err"
	if [ "$got" != $(($2 - BENCH_LISTENERS)) ] || [ -s "$err" ]; then
		bench_log "netns: hostflow --backend bpf --netns x $1 --watch=1 -n --json at $2 sockets:" \
			"connections $got, expected $(($2 - BENCH_LISTENERS)); stderr: $(head -c 2000 "$err")"
		return 1
	fi
}

cpu() { sed -n 's/.*cpu_us=\([0-9]*\).*status=0.*/\1/p'; }
rss() { sed -n 's/.*maxrss_kib=\([0-9]*\).*status=0.*/\1/p'; }
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
				nsargs "$k"
				line=$(bench_in "$MEASURE" -- "$HOSTFLOW" -n "${ARGS[@]}")
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
	if [ -z "$BPF_WHY" ]; then
		for k in $COUNTS; do
			bpf_check "$k" "$sockets" || { failed=1 RES[$size,check]+="$k "; }
		done
	fi
	# The watchers: per collection, interleaved with a floor dump.
	for ((run = 1; run <= WRUNS; run++)); do
		for k in $COUNTS; do
			line=$(bench_in "$MEASURE" -- "$BENCH_FLOOR" compat)
			c=$(cpu <<<"$line")
			if [ -n "$c" ]; then SAMPLES[floor]+="$c "; else
				echo "${0##*/}: floor at $sockets sockets: $line" >&2
				failed=1
			fi
			for b in "${BACKENDS[@]}"; do
				one=$(watch "$b" "$k" 1) many=$(watch "$b" "$k" $((TICKS + 2)) 2)
				c1=$(cpu <<<"$one") r=$(rss <<<"$many")
				cn=$(sed -n 's/.*window_cpu_us=\([0-9]*\).*/\1/p' <<<"$many")
				if [ -z "$c1" ] || [ -z "$cn" ]; then
					echo "${0##*/}: $b watch x $k at $sockets sockets: $one / $many" >&2
					failed=1
					continue
				fi
				SAMPLES[$b$k]+="$((cn / TICKS)) "
				SAMPLES[${b}start$k]+="$c1 "
				SAMPLES[${b}rss$k]+="$r "
			done
		done
	done
	for k in floor hostflow $COUNTS; do
		RES[$size,$k]=$(printf '%s\n' ${SAMPLES[$k]:-} | median)
	done
	for b in bpf netlink; do
		for k in $COUNTS; do
			for m in "" start rss; do
				RES[$size,$b$m$k]=$(printf '%s\n' ${SAMPLES[$b$m$k]:-} | median)
			done
		done
	done
	RES[$size,sockets]=$sockets
	unset SAMPLES
	bench_log "netns: measured at $sockets sockets"
done

ms() { awk -v u="$1" 'BEGIN { if (u == "") print "-"; else printf "%.2f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.1fx", a / b }'; }
ratio2() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "") print "-"; else printf "%.1f MiB", k / 1024 }'; }
{
	echo "Machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores;" \
		"kernel $(uname -r); $("$HOSTFLOW" --version), commit $(git rev-parse --short HEAD 2>/dev/null)"
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); one-shot rows: median of $RUNS runs;" \
		"watch rows: median of $WRUNS runs of the CPU of ticks 3 to $((TICKS + 2)) / $TICKS"
	echo
	echo "CPU per run, or per collection for --watch, and its ratio to one floor dump (median of the same run)."
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
	for b in bpf netlink; do
		for k in $COUNTS; do
			printf '| hostflow --backend %s --watch --netns x %d, per collection |' "$b" "$k"
			for size in $SIZES; do
				if [ $b = bpf ] && [ -n "$BPF_WHY" ]; then printf ' - |'; else
					printf ' %s (%s) |' "$(ms "${RES[$size,$b$k]}")" \
						"$(ratio2 "${RES[$size,$b$k]}" "${RES[$size,floor]}")"
				fi
			done
			echo
		done
	done
	echo
	echo "The watchers: peak RSS over 2 + $TICKS ticks; CPU of the first tick alone (start-up: for bpf, load, attach, the seed of each namespace, the first reconcile)."
	echo
	printf '| watcher |'
	for size in $SIZES; do printf ' %s sockets: RSS | first tick |' "${RES[$size,sockets]}"; done
	echo
	printf '|---|'
	for size in $SIZES; do printf -- '---|---|'; done
	echo
	for b in bpf netlink; do
		for k in $COUNTS; do
			printf '| --backend %s --netns x %d |' "$b" "$k"
			for size in $SIZES; do
				printf ' %s | %s |' "$(mib "${RES[$size,${b}rss$k]}")" "$(ms "${RES[$size,${b}start$k]}")"
			done
			echo
		done
	done
	[ -n "$BPF_WHY" ] && echo && echo "bpf: $BPF_WHY"
	for size in $SIZES; do
		[ -n "${RES[$size,check]:-}" ] &&
			echo && echo "bpf: WRONG COUNT at ${RES[$size,sockets]} sockets with --netns x ${RES[$size,check]}(see stderr)"
	done
} >"$OUT/netns.md"
cat "$OUT/netns.md"
exit $failed
