#!/usr/bin/env bash
# The collectd plugin with Backend bpf under connection churn (about 35 s).
#
# srv serves [2001:db8::1]:80; c1 opens 300 connections a second for 20 s
# (tests/lib/churn.py), each from one of 200 peer addresses (2001:db8:100::/64
# is local to c1, routed to it from srv), holds each 1.5 s, then closes it
# (c1 keeps the TIME_WAIT; srv closes on EOF). c2 holds a known set on
# srv's port 81: 4 IPv4 and 3 IPv6 connections. A private collectd 5.12
# runs the plugin on srv (Backend bpf, Interval 1, MaxFlows 5):
#   - once the churn has stopped and srv's kernel holds only the known set,
#     its next read is exactly that set: tcp_connections-total per flow and
#     the hostflow-all state counts;
#   - connections-opened and -closed, summed over every series (the flows
#     and passive-other, counter resets included, as collectd's DERIVE
#     does), are the connections the churn made: none lost or counted twice
#     while the top flows change and series are given up (a dozen or more
#     flow series over the run);
#   - the log holds no "reconcile corrected" warning.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

SECONDS_CHURN=20 RATE=300 PEERS=200 HOLD=1.5
HF_PLAN=(
	"collectd churn: srv kernel holds the known set before the churn"
	"collectd churn: 5,000 connections or more from $PEERS peers in $SECONDS_CHURN s"
	"collectd churn: after the churn, the next read is exactly the known set's flows"
	"collectd churn: after the churn, the next read's hostflow-all state counts are the known set's"
	"collectd churn: opened and closed summed over all series = the connections made, failed 0"
	"collectd churn: no reconcile correction logged, reading through bpf"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_skip_all_without_bpf
hf_on_exit collectd_stop
CHURN=$HF_ROOT/tests/lib/churn.py

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 2001:db8::12/64 || hf_setup_failed "host c2"
# c1 owns all of 2001:db8:100::/64 (AnyIP) and may bind any address in it
hf_in c1 ip -6 route add local 2001:db8:100::/64 dev lo || hf_setup_failed "AnyIP route on c1"
hf_sysctl c1 net.ipv6.ip_nonlocal_bind=1 || hf_setup_failed "ip_nonlocal_bind on c1"
hf_in srv ip -6 route add 2001:db8:100::/64 via 2001:db8::11 || hf_setup_failed "route on srv"

hf_bg srv "$HF_PYTHON" "$CHURN" serve 2001:db8::1 80 "$HF_TMP/serve.ready"
hf_wait_file "$HF_TMP/serve.ready" "$HF_LAST_PID" 20 || hf_setup_failed "churn server"
hf_sockgen srv known listen --addr :: --dualstack --port 81 || hf_setup_failed "known listener"
hf_sockgen c2 k4 connect --to 198.51.100.1 --port 81 --count 4 || hf_setup_failed "known IPv4"
hf_sockgen c2 k6 connect --to 2001:db8::1 --port 81 --count 3 || hf_setup_failed "known IPv6"
hf_wait_status known accepted=7 || hf_setup_failed "srv did not accept the known set"

known="passive 198.51.100.1:81 <- 198.51.100.12:many 4 ESTABLISHED=4
passive [2001:db8::1]:81 <- [2001:db8::12]:many 3 ESTABLISHED=3"
hf_check_kernel "${HF_PLAN[0]}" srv "$known"

collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c "LoadPlugin hostflow
<Plugin hostflow>
	Backend bpf
	MaxFlows 5
</Plugin>" >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"
# The counters follow every change from the first read on.
collectd_wait_ident "^$COLLECTD_HOST/hostflow-all/tcp_connections-ESTABLISHED\$" 20 >/dev/null ||
	hf_setup_failed "no values dispatched: $(collectd_log_tail)"

hf_bg c1 "$HF_PYTHON" "$CHURN" churn 2001:db8::1 80 2001:db8:100::/64 "$PEERS" \
	"$SECONDS_CHURN" "$RATE" "$HOLD" "$HF_TMP/churn.result" 2>"$HF_TMP/churn.err"
churner=$HF_LAST_PID
churned() { ! kill -0 "$churner" 2>/dev/null; }
hf_wait_for $((SECONDS_CHURN + 10)) churned
read -r made seen took <"$HF_TMP/churn.result" 2>/dev/null || made=0 seen=0 took='?'
hf_diag "collectd churn: $made connections from $seen peers in $took s"
if [ "$made" -ge 5000 ] && [ "$seen" -ge "$PEERS" ]; then
	ok "${HF_PLAN[1]}"
else
	hf_fail "${HF_PLAN[1]}" "$made connections, $seen peers" "$(tail -5 "$HF_TMP/churn.err")"
fi

# The churn is over: once srv's kernel holds the known set only, the next
# read (the complete one before the newest, 3 s later) reports exactly it.
settled() { hf_in srv ss -tanH | hf_flows_check kernel "$known" >/dev/null; }
hf_wait_for 15 settled || hf_diag "srv's kernel still holds more than the known set"
sleep 3
snap=$(collectd_snapshot)
pick() { grep -E "$1" <<<"$snap"; }
want_flows="hostflow-passive-198.51.100.1:81-198.51.100.12:many/tcp_connections-total 4
hostflow-passive-[2001:db8::1]:81-[2001:db8::12]:many/tcp_connections-total 3"
check_eq "${HF_PLAN[2]}" "$want_flows" \
	"$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-total ' | awk '$2 != 0')"
want_totals=$({
	for s in $COLLECTD_FLOW_STATES LISTEN; do
		case $s in ESTABLISHED) n=7 ;; LISTEN) n=2 ;; *) n=0 ;; esac
		echo "hostflow-all/tcp_connections-$s $n"
	done
	echo "hostflow-all/count-flows 2"
} | LC_ALL=C sort)
check_eq "${HF_PLAN[3]}" "$want_totals" "$(pick '^hostflow-all/(tcp_connections|count)-')"

# What every hostflow-*/connections-TI csv file adds up to, summed per TI,
# as collectd's DERIVE counts it: the first value, every increase, and the
# value after a decrease (a counter reset: a series evicted from the
# plugin's totals starts again from 0).
counted() {
	local dir="$COLLECTD_CSV_DIR/$COLLECTD_HOST"
	find "$dir" -mindepth 2 -type f -path "$dir/hostflow-*/connections-*" -print0 |
		xargs -0 -r awk -F, '
		FNR == 1 { ti = FILENAME; sub(/.*\/connections-/, "", ti); sub(/-[0-9]+-[0-9]+-[0-9]+$/, "", ti)
			   other = FILENAME ~ /\/hostflow-(passive|active)-other\//
			   if (ti == "opened" && !other) series++
			   n = 0; next }
		{ v = $2 + 0; if (n && v < last) resets++
		  d = (n && v >= last) ? v - last : v; last = v; n++
		  sum[ti] += d; if (other) in_other[ti] += d }
		END { printf "opened %d closed %d failed %d\n", sum["opened"], sum["closed"], sum["failed"]
		      printf "# %d flow series, %d counter resets; opened in the others: %d\n", series, resets, in_other["opened"] }'
}
__all_counted() { got=$(counted); [ "$(head -n 1 <<<"$got")" = "opened $made closed $made failed 0" ]; }
got=
hf_wait_for 5 __all_counted
hf_diag "collectd churn: $(tail -n 1 <<<"$got" | cut -c3-)"
got=$(head -n 1 <<<"$got")
check_eq "${HF_PLAN[4]}" "opened $made closed $made failed 0" "$got"

problems=$(grep -E 'reconcile corrected|\[(error|warning)\]' "$COLLECTD_LOG")
used=$(grep -o 'reading the sockets through [a-z]*' "$COLLECTD_LOG" | head -n 1)
if [ -z "$problems" ] && [ "$used" = "reading the sockets through bpf" ]; then
	ok "${HF_PLAN[5]}"
else
	hf_fail "${HF_PLAN[5]}" "backend line: '$used'" "$problems"
fi
hf_done
