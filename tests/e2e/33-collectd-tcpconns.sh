#!/usr/bin/env bash
# collectd plugin next to the stock tcpconns plugin (AllPortsSummary true) in
# one collectd, on the same sockets: hostflow's host totals per state equal
# tcpconns' (tcpconns says CLOSED for the kernel's CLOSE). hostflow is loaded
# without a <Plugin hostflow> block: its defaults apply. srv holds:
#   :80 <- c1        ESTABLISHED=3, CLOSE_WAIT=2
#   :80 <- c1 (.21)  SYN_RECV=2 (srv's answers to .21 vanish)
#   -> c1:5000       FIN_WAIT2=2 (srv closed, c1 holds on)
#   -> c1:5001       TIME_WAIT=2 (srv closed first, then c1)
#   -> .99:9999      SYN_SENT=1 (packets to .99 vanish)
#   LISTEN=1
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd tcpconns: srv kernel holds the expected sockets"
	"collectd tcpconns: tcpconns-all reports the expected states"
	"collectd tcpconns: hostflow-all equals tcpconns-all, state by state"
	"collectd tcpconns: without a <Plugin hostflow> block: one total per flow, listeners reported"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 198.51.100.21/24 || hf_setup_failed "host c1"
hf_blackhole srv 198.51.100.21 || hf_setup_failed "blackhole .21"
hf_blackhole srv 198.51.100.99 || hf_setup_failed "blackhole .99"

hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 || hf_setup_failed "listener :80"
hf_sockgen c1 l5000 listen --addr 198.51.100.11 --port 5000 || hf_setup_failed "c1 listener :5000"
hf_sockgen c1 l5001 listen --addr 198.51.100.11 --port 5001 --on-eof close ||
	hf_setup_failed "c1 listener :5001"
hf_sockgen c1 est connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c1 cw connect --to 198.51.100.1 --port 80 --count 2 --close || hf_setup_failed "c1 -> :80, closing"
hf_sockgen c1 syn connect --src 198.51.100.21 --to 198.51.100.1 --port 80 --count 2 --nowait ||
	hf_setup_failed "c1 (.21) -> :80"
hf_sockgen srv fw2 connect --to 198.51.100.11 --port 5000 --count 2 --close ||
	hf_setup_failed "srv -> c1:5000, closing"
hf_sockgen srv tw connect --to 198.51.100.11 --port 5001 --count 2 --close ||
	hf_setup_failed "srv -> c1:5001, closing"
hf_sockgen srv ss connect --to 198.51.100.99 --port 9999 --nowait || hf_setup_failed "srv -> .99"

hf_check_kernel "${HF_PLAN[0]}" srv "
passive 198.51.100.1:80 <- 198.51.100.11:many 5 ESTABLISHED=3 CLOSE_WAIT=2
passive 198.51.100.1:80 <- 198.51.100.21:many 2 SYN_RECV=2
active 198.51.100.1:many -> 198.51.100.11:5000 2 FIN_WAIT2=2
active 198.51.100.1:many -> 198.51.100.11:5001 2 TIME_WAIT=2
active 198.51.100.1:many -> 198.51.100.99:9999 1 SYN_SENT=1
" || hf_setup_failed "the sockets are not what the test meant to make"

collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -p tcpconns -c 'LoadPlugin tcpconns
<Plugin tcpconns>
	ListeningPorts false
	AllPortsSummary true
</Plugin>
LoadPlugin hostflow' >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

# Both as "STATE VALUE", in the kernel's names.
want=$(LC_ALL=C sort <<'EOF'
CLOSE 0
CLOSE_WAIT 2
CLOSING 0
ESTABLISHED 3
FIN_WAIT1 0
FIN_WAIT2 2
LAST_ACK 0
LISTEN 1
SYN_RECV 2
SYN_SENT 1
TIME_WAIT 2
EOF
)
states_of() {
	grep "^$1-all/tcp_connections-" | sed "s|^$1-all/tcp_connections-||; s/^CLOSED /CLOSE /" | LC_ALL=C sort
}
__both() {
	tc=$(collectd_snapshot tcpconns | states_of tcpconns)
	hf=$(collectd_snapshot hostflow | states_of hostflow)
	[ "$tc" = "$want" ] && [ "$hf" = "$tc" ]
}
tc= hf=
hf_wait_for 15 __both
check_eq "${HF_PLAN[1]}" "$want" "$tc"
check_eq "${HF_PLAN[2]}" "$tc" "$hf"

# Defaults: ReportStates false (only a total per flow), ReportListeners true.
snap=$(collectd_snapshot hostflow)
flows=$(grep -E '^hostflow-(passive|active)-[^/]*/tcp_connections-' <<<"$snap")
want_flows=$(LC_ALL=C sort <<'EOF'
hostflow-active-198.51.100.1:many-198.51.100.11:5000/tcp_connections-total 2
hostflow-active-198.51.100.1:many-198.51.100.11:5001/tcp_connections-total 2
hostflow-active-198.51.100.1:many-198.51.100.99:9999/tcp_connections-total 1
hostflow-passive-198.51.100.1:80-198.51.100.11:many/tcp_connections-total 5
hostflow-passive-198.51.100.1:80-198.51.100.21:many/tcp_connections-total 2
EOF
)
if [ "$flows" = "$want_flows" ] &&
	grep -qx 'hostflow-listen-198.51.100.1:80/tcp_connections-SYN_RECV 2' <<<"$snap"; then
	ok "${HF_PLAN[3]}"
else
	not_ok "${HF_PLAN[3]}" "$(diff -u --label expected --label actual \
		<(printf '%s\n' "$want_flows") <(printf '%s\n' "$flows"))" \
		"listener lines:" "$(grep '^hostflow-listen-' <<<"$snap")"
fi
hf_done
