#!/usr/bin/env bash
# tests/bench/conntrack.sh: the conntrack source's benchmark (part of make
# bench). hostflow --source conntrack against `conntrack -L` and
# `cat /proc/net/nf_conntrack`, from 10,000 to 100,000 entries, each tool
# measured in turn in the same namespace and the same run (ratios, not
# absolute times, are what to read).
#
# The entries are UDP: one socket in a namespace of its own sends a
# datagram to each of N (address, port) pairs whose addresses have a
# neighbour entry nobody answers to (hf_blackhole); each leaves one
# UNREPLIED entry (the packet is lost on the test bridge after conntrack
# has confirmed it). nf_conntrack_udp_timeout is raised
# in the namespace so they last the whole run. They make 4 active flows
# (one per destination address, the source ports collapsed to many), so
# hostflow's memory must stay flat while the entries grow.
#
# Environment: HF_BENCH_CT_SIZES (default "10000 40000 100000"),
# HF_BENCH_RUNS (default 9, median taken), HF_BENCH_OUT (default build/bench).
# Output: HF_BENCH_OUT/conntrack.md. Needs root, nft(8), conntrack(8).
set -u
if [ "$(id -u)" != 0 ]; then
	echo "${0##*/}: needs root (network namespaces)" >&2
	exit 1
fi
. "$(dirname "$0")/../lib/netns.sh"
SIZES=${HF_BENCH_CT_SIZES:-10000 40000 100000}
RUNS=${HF_BENCH_RUNS:-9}
OUT=${HF_BENCH_OUT:-build/bench}
MEASURE=build/bench/measure
mkdir -p "$OUT"
for f in "$HOSTFLOW" "$MEASURE"; do
	[ -x "$f" ] || { echo "${0##*/}: $f missing" >&2; exit 1; }
done
command -v nft >/dev/null && command -v conntrack >/dev/null ||
	{ echo "${0##*/}: needs nft and conntrack (tools/deps.sh)" >&2; exit 1; }

max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
hf_host ctb 198.51.100.1/24 || exit 1
for a in 130 131 132 133; do
	hf_blackhole ctb 198.51.100.$a || exit 1
done
hf_in ctb nft add table inet hft && hf_in ctb nft add chain inet hft in '{ type filter hook input priority 0; }' &&
	hf_in ctb nft add rule inet hft in ct state established,related accept || exit 1
hf_sysctl ctb net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_udp_timeout=3600 || exit 1

# grow N: send datagrams until the namespace holds N entries (N/4 source ports x 4 addresses).
have=0
grow() {
	local n=$1
	hf_in ctb "$HF_PYTHON" - "$have" "$n" <<'PY'
import socket, sys
have, want = int(sys.argv[1]), int(sys.argv[2])
# a fresh source port per entry (bind, send, close: the entry outlives the
# socket), 4 destinations, one service port: 4 active flows whatever N
for i in range(have, want):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.51.100.1", 1024 + i // 4))
    s.sendto(b"x" * 10, ("198.51.100.%d" % (130 + i % 4), 53))
    s.close()
PY
	have=$n
}

declare -A LABEL=(
	[hostflow]="hostflow --source conntrack -n"
	[json]="hostflow --source conntrack -n --json"
	[proc]="hostflow --source conntrack --proc -n"
	[ctl]="conntrack -L"
	[cat]="cat /proc/net/nf_conntrack"
)
TOOLS=(hostflow json proc ctl cat)
run_tool() {
	local m=(hf_in ctb "$MEASURE")
	case $1 in
	hostflow) "${m[@]}" -- "$HOSTFLOW" --source conntrack -n ;;
	json) "${m[@]}" -- "$HOSTFLOW" --source conntrack -n --json ;;
	proc) "${m[@]}" -- "$HOSTFLOW" --source conntrack --proc -n ;;
	ctl) "${m[@]}" -- conntrack -L ;;
	cat) "${m[@]}" -- cat /proc/net/nf_conntrack ;;
	esac
}
field() { sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

raw=$HF_TMP/raw.tsv
: >"$raw"
failed=0
for size in $SIZES; do
	[ "$size" -le $((4 * 64000)) ] || { echo "${0##*/}: $size entries: at most 256000" >&2; exit 1; }
	[ "$size" -lt "$max" ] || { echo "${0##*/}: $size entries above nf_conntrack_max $max" >&2; exit 1; }
	grow "$size"
	entries=$(hf_in ctb cat /proc/sys/net/netfilter/nf_conntrack_count)
	for ((run = 0; run <= RUNS; run++)); do
		for t in "${TOOLS[@]}"; do
			line=$(run_tool "$t" 2>/dev/null)
			[ "$(field status "$line")" = 0 ] || { echo "${0##*/}: $t: $line" >&2; failed=1; }
			[ "$run" -gt 0 ] || continue # warm-up
			printf '%s\t%s\t%s\t%s\t%s\n' "$entries" "$t" "$(field cpu_us "$line")" \
				"$(field wall_us "$line")" "$(field maxrss_kib "$line")" >>"$raw"
		done
	done
done

{
	echo "Conntrack source: median of $RUNS runs; CPU ms (ratio to hostflow), wall ms, peak RSS MiB."
	echo "Machine: $(nproc) cores, $(uname -sr), $("$HOSTFLOW" --version), commit $(git rev-parse --short HEAD 2>/dev/null)"
	echo
	printf '| entries | tool | CPU ms | x hostflow | wall ms | RSS MiB |\n|---:|---|---:|---:|---:|---:|\n'
	for e in $(cut -f1 "$raw" | sort -nu); do
		base=$(awk -F'\t' -v e="$e" '$1 == e && $2 == "hostflow" { print $3 }' "$raw" | median)
		for t in "${TOOLS[@]}"; do
			cpu=$(awk -F'\t' -v e="$e" -v t="$t" '$1 == e && $2 == t { print $3 }' "$raw" | median)
			wall=$(awk -F'\t' -v e="$e" -v t="$t" '$1 == e && $2 == t { print $4 }' "$raw" | median)
			rss=$(awk -F'\t' -v e="$e" -v t="$t" '$1 == e && $2 == t { print $5 }' "$raw" | median)
			awk -v e="$e" -v l="${LABEL[$t]}" -v c="$cpu" -v b="$base" -v w="$wall" -v r="$rss" \
				'BEGIN { printf "| %d | %s | %.1f | %.2f | %.1f | %.1f |\n", e, l, c / 1000, (b > 0 ? c / b : 0), w / 1000, r / 1024 }'
		done
	done
} >"$OUT/conntrack.md"
cat "$OUT/conntrack.md"
exit $failed
