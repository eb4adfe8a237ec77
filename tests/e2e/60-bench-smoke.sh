#!/usr/bin/env bash
# hostflow's benchmark, smoke version: tests/bench/run.sh at 4,000 sockets,
# one run, no warm-up, two plugin ticks, into a private directory, so that
# the harness cannot rot between two `make bench`. It checks that the
# generator held the sockets, that every tool was measured, and that the
# table and the plot have a row and a line per tool. Timings are not judged
# here: they belong to `make bench`, as ratios measured in one run.
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

hf_done
