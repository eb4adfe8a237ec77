#!/usr/bin/env bash
# hostflow's benchmark, smoke version: tests/bench/run.sh at 4,000 sockets,
# one run, no warm-up, two plugin ticks, into a private directory, so that
# the harness cannot rot between two `make bench`. It checks that the
# generator held the sockets, that every tool was measured, and that the
# table and the plot have a row and a line per tool. Then the plugins' table
# (tests/bench/plugins.sh) at 2,000 and 4,000 sockets, one run of one
# collection each: every agent measured at both sizes (or skipped, loudly,
# when it cannot run here), and a row per size in both of its tables.
# Last, the namespaces' table (tests/bench/netns.sh) at 2,000 sockets over 1
# and 2 namespaces, one run, one tick: it completes (its check of the bpf
# watcher's count included) and has a row with figures for each command.
# Then the bpf backend's table (tests/bench/bpf.sh) at 2,000 sockets, one
# run of one tick, one traffic run per variant: a row of figures for the
# size, one with clients closing first, one per traffic variant (empty
# programs on the backend's hooks included, build/bench/hooks), and each
# program's run time (skipped, loudly, where the bpf backend cannot run).
# Timings are not judged here: they belong to `make bench`, as ratios
# measured in one run.
set -u
. "$(dirname "$0")/../lib/netns.sh"

SOCKETS=4000
# Every row of the benchmark, as tests/bench/run.sh labels them.
TOOLS=(
	"floor: one inet_diag dump, counted"
	"hostflow -n"
	"hostflow -n --json"
	"hostflow --proc -n"
	"ss -tan"
	"cat /proc/net/tcp /proc/net/tcp6"
	"cat /proc/net/tcp{,6} | awk (per state)"
	"collectd -T, tcpconns"
	"collectd -T, hostflow"
	"floor compat 10, per dump"
	"hostflow.plugin, per tick"
)
HF_PLAN=("bench: run.sh completes at $SOCKETS sockets" "bench: the kernel held $SOCKETS sockets")
for t in "${TOOLS[@]}"; do HF_PLAN+=("bench: $t measured"); done
HF_PLAN+=(
	"bench: table.md has a row per tool in each of its three tables"
	"bench: table.md reports the five targets as PASS or MISS"
	"bench: plot.png is a PNG image"
	"bench: plot.dat has a line per measured tool"
)
# The plugins' table: its sizes, and its agents as plugins.sh labels them.
PSIZES=(2000 4000)
declare -A AGENTS=(
	[nd_bpf]="hostflow.plugin, Backend bpf"
	[nd_netlink]="hostflow.plugin, Backend netlink"
	[cd_bpf]="collectd read, Backend bpf"
	[cd_netlink]="collectd read, Backend netlink"
)
HF_PLAN+=("bench: plugins.sh completes at ${PSIZES[*]} sockets")
for a in nd_bpf nd_netlink cd_bpf cd_netlink; do
	HF_PLAN+=("bench: plugins.sh measured ${AGENTS[$a]} at ${PSIZES[*]} sockets")
done
HF_PLAN+=(
	"bench: plugins.md has a row per size in its CPU table"
	"bench: plugins.md has a row per size and the growth in its RSS table"
)
# The namespaces' table: its size and counts.
NSIZE=2000
NCOUNTS=(1 2)
HF_PLAN+=(
	"bench: netns.sh completes at $NSIZE sockets over ${NCOUNTS[*]} namespaces"
	"bench: netns.md has a row with figures per one-shot command"
	"bench: netns.md has a row with figures per netlink watcher"
	"bench: netns.md has a row with figures per bpf watcher"
)
# The bpf backend's table: its size, and the traffic's variants as bpf.sh labels them.
BSIZE=2000
VARIANTS=(
	"without programs"
	"the backend's programs attached"
	"the backend's set_state programs alone"
	"empty programs on the same hooks"
	"empty programs on inet_sock_set_state alone"
)
HF_PLAN+=(
	"bench: bpf.sh completes at $BSIZE sockets"
	"bench: bpf.md has a row with figures at $BSIZE sockets"
	"bench: bpf.md has a row with figures with clients closing first"
	"bench: bpf.md has a row with figures per traffic variant"
	"bench: bpf.md has each program's run time per connection"
)
hf_require_netns

out=$HF_TMP/bench
log=$HF_TMP/run.log
# The limit only guards against a hang; run.sh's own trap tears down on TERM.
HF_BENCH_SIZES=$SOCKETS HF_BENCH_RUNS=1 HF_BENCH_WARMUP=0 HF_BENCH_TICKS=2 HF_BENCH_OUT=$out \
	timeout 150 tests/bench/run.sh >"$log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	ok "bench: run.sh completes at $SOCKETS sockets"
else
	not_ok "bench: run.sh completes at $SOCKETS sockets" "exit status $rc" "$(tail -n 40 "$log")"
	[ -s "$out/results.tsv" ] || hf_setup_failed "run.sh wrote no results"
fi

# results.tsv: tool size sockets runs cpu_ms cpu_x wall_ms wall_x rss rss_x status
check_eq "bench: the kernel held $SOCKETS sockets" "$SOCKETS" \
	"$(awk -F'\t' 'NR > 1 { print $3 }' "$out/results.tsv" | sort -u)"

declare -A ID=() NOTE=()
while IFS=$'\t' read -r id _ label note; do
	ID[$label]=$id
	NOTE[$id]=$note
done <"$out/tools.tsv"
measured=0
for t in "${TOOLS[@]}"; do
	d="bench: $t measured"
	id=${ID[$t]:-}
	if [ -z "$id" ]; then
		not_ok "$d" "run.sh has no such tool"
		continue
	fi
	note=${NOTE[$id]}
	# A tool whose binary is not there is skipped, loudly; any other reason fails.
	case $note in
	*missing* | "no "*)
		skip "$d" "$note"
		continue
		;;
	esac
	row=$(awk -F'\t' -v id="$id" 'NR > 1 && $1 == id' "$out/results.tsv")
	if awk -F'\t' '$4 == 1 && $5 > 0 && $9 > 0 && $11 == "ok" { found = 1 } END { exit !found }' \
		<<<"$row"; then
		ok "$d"
		measured=$((measured + 1))
	else
		not_ok "$d" "results.tsv: ${row:-no row}"
	fi
done

rows=0
for t in "${TOOLS[@]}"; do
	n=$(grep -cF "| ${t//|/\\|} |" "$out/table.md")
	[ "$n" -eq 3 ] && rows=$((rows + 1))
done
check_eq "bench: table.md has a row per tool in each of its three tables" "${#TOOLS[@]}" "$rows"

check_eq "bench: table.md reports the five targets as PASS or MISS" 5 \
	"$(grep -cE '^    (PASS|MISS) ' "$out/table.md")"

if [ "$(head -c 8 "$out/plot.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
	ok "bench: plot.png is a PNG image"
else
	not_ok "bench: plot.png is a PNG image" "$(ls -l "$out/plot.png" 2>&1)"
fi
check_eq "bench: plot.dat has a line per measured tool" "$measured" \
	"$(grep -c '^# ' "$out/plot.dat" 2>/dev/null)"

pout=$HF_TMP/plugins
plog=$HF_TMP/plugins.log
d="bench: plugins.sh completes at ${PSIZES[*]} sockets"
HF_BENCH_SIZES="${PSIZES[*]}" HF_BENCH_PLUGINS_RUNS=1 HF_BENCH_PLUGINS_TICKS=1 HF_BENCH_OUT=$pout \
	timeout 150 tests/bench/plugins.sh >"$plog" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	ok "$d"
else
	not_ok "$d" "exit status $rc" "$(tail -n 40 "$plog")"
	[ -s "$pout/plugins.tsv" ] || hf_setup_failed "plugins.sh wrote no results"
fi
# plugins.tsv: size sockets agent run cpu_us_per_collection collections rss_kib peak_rss_kib status
for a in nd_bpf nd_netlink cd_bpf cd_netlink; do
	d="bench: plugins.sh measured ${AGENTS[$a]} at ${PSIZES[*]} sockets"
	# An agent that cannot run here (no bpf, no collectd) is skipped, loudly.
	note=$(sed -n "s/^${AGENTS[$a]}: not measured: //p" "$pout/plugins.md" 2>/dev/null)
	if [ -n "$note" ]; then
		skip "$d" "$note"
		continue
	fi
	got=$(awk -F'\t' -v a="$a" 'NR > 1 && $3 == a && $4 == 1 && $5 > 0 && $6 == 1 && $7 > 0 &&
		$8 >= $7 && $9 == "ok" { print $2 }' "$pout/plugins.tsv" | tr '\n' ' ')
	if [ "$got" = "${PSIZES[*]} " ]; then
		ok "$d"
	else
		not_ok "$d" "plugins.tsv: $(awk -F'\t' -v a="$a" '$3 == a' "$pout/plugins.tsv")"
	fi
done
# A measured agent's columns hold numbers: "-" only for one not measured.
cpu_rows=0 rss_rows=0
for n in "${PSIZES[@]}"; do
	grep -qE "^\| $n \| [0-9.]+ \|( ([0-9.]+ \| [0-9.]+|- \| -) \|){4}\$" "$pout/plugins.md" &&
		cpu_rows=$((cpu_rows + 1))
	grep -qE "^\| $n sockets \|( ([0-9.]+ \([0-9.]+\)|-) \|){4}\$" "$pout/plugins.md" &&
		rss_rows=$((rss_rows + 1))
done
grep -qE "^\| growth, smallest to largest, KiB \|( ([-+][0-9]+ \([-+][0-9]+\)|-) \|){4}\$" "$pout/plugins.md" &&
	rss_rows=$((rss_rows + 1))
check_eq "bench: plugins.md has a row per size in its CPU table" "${#PSIZES[@]}" "$cpu_rows" ||
	hf_diag "$(cat "$pout/plugins.md" 2>&1)"
check_eq "bench: plugins.md has a row per size and the growth in its RSS table" \
	"$((${#PSIZES[@]} + 1))" "$rss_rows" || hf_diag "$(cat "$pout/plugins.md" 2>&1)"

nout=$HF_TMP/netns
nlog=$HF_TMP/netns.log
HF_BENCH_NETNS_SIZES=$NSIZE HF_BENCH_NETNS_COUNTS="${NCOUNTS[*]}" HF_BENCH_RUNS=1 \
	HF_BENCH_NETNS_WATCH_RUNS=1 HF_BENCH_NETNS_TICKS=1 HF_BENCH_OUT=$nout \
	timeout 120 tests/bench/netns.sh >"$nlog" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	ok "bench: netns.sh completes at $NSIZE sockets over ${NCOUNTS[*]} namespaces"
else
	not_ok "bench: netns.sh completes at $NSIZE sockets over ${NCOUNTS[*]} namespaces" \
		"exit status $rc" "$(tail -n 40 "$nlog")"
fi
# A figure: "12.34 ms (1.2x)" (negative per collection when the start-up varied more).
fig='-?[0-9]+\.[0-9]+ ms \(-?[0-9.]+x\)'
rows() {
	local n=0 label
	for label in "$@"; do
		grep -F "| $label | " "$nout/netns.md" 2>/dev/null | grep -qE "^\| [^|]+ \| $fig \|\$" &&
			n=$((n + 1))
	done
	echo $n
}
labels=("floor: one inet_diag dump" "hostflow -n (default)")
for k in "${NCOUNTS[@]}"; do labels+=("hostflow -n --netns x $k"); done
check_eq "bench: netns.md has a row with figures per one-shot command" "${#labels[@]}" \
	"$(rows "${labels[@]}")" || hf_diag "$(cat "$nout/netns.md" 2>&1)"
for b in netlink bpf; do
	d="bench: netns.md has a row with figures per $b watcher"
	note=$(sed -n 's/^bpf: \(not measured: .*\)/\1/p' "$nout/netns.md" 2>/dev/null)
	if [ $b = bpf ] && [ -n "$note" ]; then
		skip "$d" "$note"
		continue
	fi
	labels=()
	for k in "${NCOUNTS[@]}"; do labels+=("hostflow --backend $b --watch --netns x $k, per collection"); done
	n=$(rows "${labels[@]}")
	for k in "${NCOUNTS[@]}"; do
		grep -qE "^\| --backend $b --netns x $k \| [0-9.]+ MiB \| [0-9.]+ ms \|\$" "$nout/netns.md" &&
			n=$((n + 1))
	done
	check_eq "$d" "$((2 * ${#NCOUNTS[@]}))" "$n" || hf_diag "$(cat "$nout/netns.md" 2>&1)"
done

bout=$HF_TMP/bpf
blog=$HF_TMP/bpf.log
bpf_plan=("${HF_PLAN[@]: -5}")
if ! why=$("$HOSTFLOW" --backend bpf -n 2>&1 >/dev/null); then
	for d in "${bpf_plan[@]}"; do skip "$d" "no bpf backend here: $why"; done
	hf_done
fi
HF_BENCH_SIZES=$BSIZE HF_BENCH_BPF_RUNS=1 HF_BENCH_BPF_TICKS=1 HF_BENCH_CPS_RUNS=1 \
	HF_BENCH_OUT=$bout timeout 150 tests/bench/bpf.sh >"$blog" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	ok "${bpf_plan[0]}"
else
	not_ok "${bpf_plan[0]}" "exit status $rc" "$(tail -n 40 "$blog")"
fi
if grep -qE "^\| $BSIZE \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9]+ \|\$" \
	"$bout/bpf.md" 2>/dev/null; then
	ok "${bpf_plan[1]}"
else
	not_ok "${bpf_plan[1]}" "no such row" "$(cat "$bout/bpf.md" 2>&1)"
fi
if grep -qE "^\| tests/lib/churn.py, each closed at once \| [1-9][0-9]* \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|\$" \
	"$bout/bpf.md" 2>/dev/null; then
	ok "${bpf_plan[2]}"
else
	not_ok "${bpf_plan[2]}" "no such row" "$(cat "$bout/bpf.md" 2>&1)"
fi
n=0
for v in "${VARIANTS[@]}"; do
	grep -F "| $v | " "$bout/bpf.md" 2>/dev/null | grep -qE "^\| [^|]+ \| [1-9][0-9]* \| [0-9]\.[0-9]{3} \|\$" &&
		n=$((n + 1))
done
check_eq "${bpf_plan[3]}" "${#VARIANTS[@]}" "$n" || hf_diag "$(cat "$bout/bpf.md" 2>&1)"
n=0
for p in set_state set_state_rescue timer_start timer_cancel; do
	grep -qE "^\| $p \| [0-9.]+ \| [1-9][0-9]* \| [0-9.]+ \|\$" "$bout/bpf.md" 2>/dev/null && n=$((n + 1))
done
check_eq "${bpf_plan[4]}" 4 "$n" || hf_diag "$(cat "$bout/bpf.md" 2>&1)"

hf_done
