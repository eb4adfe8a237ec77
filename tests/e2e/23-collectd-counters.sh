#!/usr/bin/env bash
# collectd plugin, Backend bpf: the connections opened, closed and failed
# per flow, which no snapshot sees, as DERIVE values (type "connections",
# instances opened/closed/failed) that a real collectd writes. Everything
# below starts after collectd's first read, and every connection of it ends
# well within one interval (1 s), so at every read its flow has 0
# connections:
#   :80   a burst of N from c1 (pinned flow), and of N2 from c2 (not
#         pinned: counted in passive-other, or in its own series if a read
#         caught one of them open); srv closes on EOF
#   :9    srv makes M connects to c1's closed port: refused (pinned)
#   .99   srv makes K connects to a blackholed address and gives each up
#         in SYN_SENT after 0.3 s (pinned)
# The csv writer's last values (StoreRates false: the counters as
# dispatched) add up exactly, per flow, and none ever goes down.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

N=30 N2=10 M=4 K=3
P80="passive-198.51.100.1:80-198.51.100.11:many"
A9="active-198.51.100.1:many-198.51.100.11:9"
A99="active-198.51.100.1:many-198.51.100.99:9999"
HF_PLAN=(
	"collectd counters: a burst of $N on the pinned :80 flow: opened=$N closed=$N failed=0"
	"collectd counters: $M connects to a closed port: opened=$M failed=$M"
	"collectd counters: $K connects to a blackholed address given up: opened=$K failed=$K"
	"collectd counters: the unpinned burst of $N2 adds up over passive series and other"
	"collectd counters: nothing else counted, no counter value ever goes down"
	"collectd counters: no error or warning in collectd's log, reading through bpf"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_skip_all_without_bpf
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"
hf_blackhole srv 198.51.100.99 || hf_setup_failed "blackhole .99"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 --on-eof close ||
	hf_setup_failed "listener :80"

collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c "LoadPlugin hostflow
<Plugin hostflow>
	Backend bpf
	MaxFlows 10
	Pin \"$P80\"
	Pin \"$A9\"
	Pin \"$A99\"
</Plugin>" >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"
# A pin reads from the first read on: then the programs follow every change.
collectd_wait_ident "^$COLLECTD_HOST/hostflow-$P80/connections-opened\$" 20 >/dev/null ||
	hf_setup_failed "no counters dispatched: $(collectd_log_tail)"

hf_sockgen c1 b80 connect --to 198.51.100.1 --port 80 --count "$N" --close ||
	hf_setup_failed "c1 burst"
hf_sockgen c2 b80c2 connect --to 198.51.100.1 --port 80 --count "$N2" --close ||
	hf_setup_failed "c2 burst"
hf_failed_connects srv 198.51.100.11:9 "$M" 2 198.51.100.99:9999 "$K" 0.3 ||
	hf_setup_failed "srv failed connects"
hf_wait_ss srv 0 -- state connected '( sport = :80 )' || hf_diag "srv still holds :80 connections"

# The last value of every hostflow-*/connections-* csv file: "ID TI VALUE",
# and "down FILE" for a file whose values ever went down.
counters() {
	local dir="$COLLECTD_CSV_DIR/$COLLECTD_HOST"
	[ -d "$dir" ] || return 0
	find "$dir" -mindepth 2 -type f -path "$dir/hostflow-*/connections-*" -print0 |
		xargs -0 -r awk -F, -v dir="$dir/" '
		function flush(  id, ti) {
			if (file == "")
				return
			id = substr(file, length(dir) + 1)
			ti = id
			sub(/\/.*/, "", id); sub(/^hostflow-/, "", id)
			sub(/^[^\/]*\/connections-/, "", ti); sub(/-[0-9]+-[0-9]+-[0-9]+$/, "", ti)
			if (n)
				printf "%s %s %s\n", id, ti, last
			if (down)
				printf "down %s\n", file
		}
		FNR == 1 { flush(); file = FILENAME; n = 0; down = 0; next }
		{ v = $2 + 0; if (n && v < last) down = 1; last = v; n++ }
		END { flush() }' | LC_ALL=C sort
}
# The sum of counter TI over the series of IDs matching ERE.
sum_of() { awk -v re="$1" -v ti="$2" '$1 ~ re && $2 == ti { s += $3 } END { print s + 0 }' <<<"$got"; }
want_pinned=$(LC_ALL=C sort <<EOF
$A99 closed 0
$A99 failed $K
$A99 opened $K
$A9 closed 0
$A9 failed $M
$A9 opened $M
$P80 closed $N
$P80 failed 0
$P80 opened $N
EOF
)
pinned() { grep -E "^($P80|$A9|$A99) " <<<"$got"; }
others="^passive-198\\.51\\.100\\.1:80-198\\.51\\.100\\.12:many\$|^passive-other\$"
__settled() {
	got=$(counters)
	[ "$(pinned)" = "$want_pinned" ] && [ "$(sum_of "$others" opened)" = "$N2" ] &&
		[ "$(sum_of "$others" closed)" = "$N2" ]
}
got=
hf_wait_for 15 __settled
check_eq "${HF_PLAN[0]}" "$(grep "^$P80 " <<<"$want_pinned")" "$(grep "^$P80 " <<<"$got")"
check_eq "${HF_PLAN[1]}" "$(grep "^$A9 " <<<"$want_pinned")" "$(grep "^$A9 " <<<"$got")"
check_eq "${HF_PLAN[2]}" "$(grep "^$A99 " <<<"$want_pinned")" "$(grep "^$A99 " <<<"$got")"
check_eq "${HF_PLAN[3]}" "opened $N2 closed $N2 failed 0" \
	"opened $(sum_of "$others" opened) closed $(sum_of "$others" closed) failed $(sum_of "$others" failed)"
# Anything else: series of flows that did nothing (every counter 0), no "down".
rest=$(grep -vE "^($P80|$A9|$A99) " <<<"$got" | grep -vE "^(passive-198\\.51\\.100\\.1:80-198\\.51\\.100\\.12:many|passive-other) ")
bad=$(awk '$1 == "down" || $3 != 0' <<<"$rest")
if [ -n "$got" ] && [ -z "$bad" ] && ! grep -q '^down ' <<<"$got"; then
	ok "${HF_PLAN[4]}"
else
	not_ok "${HF_PLAN[4]}" "unexpected:" "$bad" "all:" "$got"
fi

problems=$(grep -E '\[(error|warning)\]' "$COLLECTD_LOG")
used=$(grep -o 'reading the sockets through [a-z]*' "$COLLECTD_LOG" | head -n 1)
if [ -z "$problems" ] && [ "$used" = "reading the sockets through bpf" ]; then
	ok "${HF_PLAN[5]}"
else
	not_ok "${HF_PLAN[5]}" "backend line: '$used'" "$problems"
fi
hf_done
