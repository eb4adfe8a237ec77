#!/usr/bin/env bash
# collectd plugin, Namespaces all: the flows and listeners of every network
# namespace, each namespace a collectd host of its own ("testhost:NAME",
# the way the virt plugin reports guests), collectd's own namespace under
# its Hostname.
#   collectd runs in col (no sockets). srv listens on :80 and connects to
#   a:5000 twice; a connects to srv:80 3 times, b twice. Then b's processes
#   end and its namespace is deleted mid-run: its series read 0 once and
#   end. Source conntrack in the same block reads srv's own table
#   (tracking on there): its flows and table figures under srv's host.
#   Other namespaces of the machine are seen too; the checks look at this
#   test's hosts only.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/collectd.sh
. "$HF_ROOT/tests/lib/collectd.sh"
# shellcheck source=tests/lib/conntrack.sh
. "$HF_ROOT/tests/lib/conntrack.sh"

HF_PLAN=(
	"collectd netns: srv kernel holds the test's connections"
	"collectd netns: srv's flows under testhost:SRV"
	"collectd netns: a's flows under testhost:A"
	"collectd netns: b's flow under testhost:B"
	"collectd netns: listeners per namespace (srv :80, a :5000), none under another host"
	"collectd netns: per-namespace totals (b: ESTABLISHED 2)"
	"collectd netns: collectd's own namespace keeps the Hostname (testhost/hostflow-all)"
	"collectd netns: b deleted mid-run: its flow reads 0 once"
	"collectd netns: b deleted mid-run: its series end (no value after the 0, gone from LISTVAL)"
	"collectd netns: Source conntrack with Namespaces: srv's conntrack flow under testhost:SRV"
	"collectd netns: Source conntrack with Namespaces: srv's table (entries, percent used) under testhost:SRV"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

hf_host col 198.51.100.100/24 || hf_setup_failed "host col"
hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host a 198.51.100.11/24 || hf_setup_failed "host a"
hf_host b 198.51.100.12/24 || hf_setup_failed "host b"
SRV=$(hf_ns srv) A=$(hf_ns a) B=$(hf_ns b)

# Tracking on in srv before the connections, so that its table holds them.
ct=''
if [ -e /proc/sys/net/netfilter/nf_conntrack_max ] && command -v nft >/dev/null; then
	hf_ct_enable srv || hf_setup_failed "conntrack on srv"
	ct='Source sockets
	Source conntrack'
fi
hf_sockgen srv l80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "srv :80"
hf_sockgen a l5000 listen --addr 198.51.100.11 --port 5000 || hf_setup_failed "a :5000"
hf_sockgen a c80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "a -> srv:80"
hf_sockgen b c80 connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "b -> srv:80"
hf_sockgen srv c5000 connect --to 198.51.100.11 --port 5000 --count 2 || hf_setup_failed "srv -> a"
hf_check_kernel "${HF_PLAN[0]}" srv "
passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:80 <- 198.51.100.12:many 2 ESTABLISHED=2
active 198.51.100.1:many -> 198.51.100.11:5000 2 ESTABLISHED=2
" || hf_setup_failed "the sockets are not what the test meant to make"

# Other developers' namespaces may hold many flows and listeners: the
# bounds are per host (all namespaces together), so they are set high.
collectd_start -n "$(hf_ns col)" -i 1 -p build/hostflow.so -c "LoadPlugin hostflow
<Plugin hostflow>
	Namespaces all
	MaxFlows 10000
	MaxListeners 10000
	$ct
</Plugin>" >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

# snap HOST: collectd_snapshot of collectd host HOST.
snap() { COLLECTD_HOST=$1 collectd_snapshot; }
flows_of() { snap "$1" | grep -E '^hostflow-(passive|active)-.*/tcp_connections-total '; }
__flows_are() { [ "$(flows_of "$1")" = "$2" ]; }
check_flows() {
	local desc=$1 host=$2 want
	want=$(LC_ALL=C sort <<<"$3")
	hf_wait_for 15 __flows_are "$host" "$want"
	check_eq "$desc" "$want" "$(flows_of "$host")"
}
check_flows "${HF_PLAN[1]}" "testhost:$SRV" \
"hostflow-passive-198.51.100.1:80-198.51.100.11:many/tcp_connections-total 3
hostflow-passive-198.51.100.1:80-198.51.100.12:many/tcp_connections-total 2
hostflow-active-198.51.100.1:many-198.51.100.11:5000/tcp_connections-total 2"
check_flows "${HF_PLAN[2]}" "testhost:$A" \
"hostflow-active-198.51.100.11:many-198.51.100.1:80/tcp_connections-total 3
hostflow-passive-198.51.100.11:5000-198.51.100.1:many/tcp_connections-total 2"
check_flows "${HF_PLAN[3]}" "testhost:$B" \
"hostflow-active-198.51.100.12:many-198.51.100.1:80/tcp_connections-total 2"

listeners=$(for h in "testhost:$SRV" "testhost:$A" "testhost:$B" testhost; do
	snap "$h" | grep -E '^hostflow-listen-.*/tcp_connections-ESTABLISHED ' | sed "s|^|$h/|"
done)
check_eq "${HF_PLAN[4]}" \
"testhost:$SRV/hostflow-listen-0.0.0.0:80/tcp_connections-ESTABLISHED 5
testhost:$A/hostflow-listen-198.51.100.11:5000/tcp_connections-ESTABLISHED 2" "$listeners"
check_eq "${HF_PLAN[5]}" "hostflow-all/tcp_connections-ESTABLISHED 2" \
	"$(snap "testhost:$B" | grep '^hostflow-all/tcp_connections-ESTABLISHED ')"
check_eq "${HF_PLAN[6]}" "hostflow-all/tcp_connections-ESTABLISHED 0" \
	"$(snap testhost | grep '^hostflow-all/tcp_connections-ESTABLISHED ')"

# b goes: its processes end, then its name; nothing holds the namespace.
BFLOW="$COLLECTD_CSV_DIR/testhost:$B/hostflow-active-198.51.100.12:many-198.51.100.1:80"
kill "${HF_PID[c80]}" 2>/dev/null
wait "${HF_PID[c80]}" 2>/dev/null
ip netns del "$B"
last_value() { cat "$BFLOW"/tcp_connections-total-* 2>/dev/null | grep -v '^epoch' | sort -n | tail -n1; }
__ended() { [ "$(last_value | cut -d, -f2)" = 0.000000 ] || [ "$(last_value | cut -d, -f2)" = 0 ]; }
if hf_wait_for 10 __ended; then
	ok "${HF_PLAN[7]}"
else
	not_ok "${HF_PLAN[7]}" "last value: $(last_value)"
fi
end=$(last_value)
sleep 4
after=$(last_value)
gone=$(collectd_listval | grep -F "testhost:$B/")
if [ "$end" = "$after" ] && [ -z "$gone" ]; then
	ok "${HF_PLAN[8]}"
else
	not_ok "${HF_PLAN[8]}" "last value then: $end, 4 s later: $after" "still listed: $gone"
fi

if [ -z "$ct" ]; then
	skip "${HF_PLAN[9]}" "no conntrack in this kernel, or no nft(8)"
	skip "${HF_PLAN[10]}" "no conntrack in this kernel, or no nft(8)"
else
	ctflow() { snap "testhost:$SRV" | grep -E '^hostflow-ct-tcp-passive-198.51.100.1:80-198.51.100.11:many/current_connections-total '; }
	__ctflow() { [ -n "$(ctflow)" ]; }
	hf_wait_for 10 __ctflow
	check_eq "${HF_PLAN[9]}" \
		"hostflow-ct-tcp-passive-198.51.100.1:80-198.51.100.11:many/current_connections-total 3" "$(ctflow)"
	entries=$(hf_in srv conntrack -C 2>/dev/null)
	max=$(hf_in srv cat /proc/sys/net/netfilter/nf_conntrack_max)
	table=$(snap "testhost:$SRV" | grep -E '^hostflow-ct-all/(conntrack|percent-used) ' | tr '\n' ' ')
	want=$(awk -v e="$entries" -v m="$max" 'BEGIN { printf "hostflow-ct-all/conntrack %d hostflow-ct-all/percent-used %.3g ", e, 100 * e / m }')
	got=$(awk '{ for (i = 1; i <= NF; i += 2) printf "%s %.3g ", $i, $(i + 1) }' <<<"$table")
	check_eq "${HF_PLAN[10]}" "$want" "$got"
fi
hf_done
