#!/usr/bin/env bash
# collectd plugin: the values a real collectd writes equal the flows, states,
# host totals and listener figures of srv exactly (ReportStates true), the
# identifiers parse back through unixsock, and a flow that is gone is no
# longer dispatched. srv holds:
#   :80   c1 keeps 3 connections                 ESTABLISHED=3
#   :80   c2 opens 2 and closes them              CLOSE_WAIT=2 (srv never closes)
#   :443  c1 keeps 2 IPv6 connections             ESTABLISHED=2, later gone
#   srv opens 4 to c1:5432                        ESTABLISHED=4
#   srv opens 1 to .99, whose packets vanish      SYN_SENT=1
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd flows: srv kernel holds the expected sockets"
	"collectd flows: every flow and per-state value, exactly"
	"collectd flows: host totals per state and count-flows, exactly"
	"collectd flows: listener values, exactly"
	"collectd flows: TcpExt counters and settings are reported"
	"collectd flows: IPv4 and IPv6 identifiers parse back through unixsock GETVAL"
	"collectd flows: a flow that is gone is no longer dispatched"
	"collectd flows: no error or warning in collectd's log"
	"collectd flows: Backend auto: the log names the backend, bpf when it loads (and whether it follows the timers), else why not"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"
hf_blackhole srv 198.51.100.99 || hf_setup_failed "blackhole .99"

hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 || hf_setup_failed "listener :80"
hf_sockgen srv l443 listen --addr 2001:db8::1 --port 443 --on-eof close ||
	hf_setup_failed "listener :443"
hf_sockgen c1 l5432 listen --addr 198.51.100.11 --port 5432 || hf_setup_failed "listener c1:5432"
hf_sockgen c1 c80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c2 c80close connect --to 198.51.100.1 --port 80 --count 2 --close ||
	hf_setup_failed "c2 -> :80, closing"
hf_sockgen c1 c443 connect --to 2001:db8::1 --port 443 --count 2 || hf_setup_failed "c1 -> :443"
hf_sockgen srv a5432 connect --to 198.51.100.11 --port 5432 --count 4 ||
	hf_setup_failed "srv -> c1:5432"
hf_sockgen srv syn connect --to 198.51.100.99 --port 9999 --nowait || hf_setup_failed "srv -> .99"

hf_check_kernel "${HF_PLAN[0]}" srv "
passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:80 <- 198.51.100.12:many 2 CLOSE_WAIT=2
passive [2001:db8::1]:443 <- [2001:db8::11]:many 2 ESTABLISHED=2
active 198.51.100.1:many -> 198.51.100.11:5432 4 ESTABLISHED=4
active 198.51.100.1:many -> 198.51.100.99:9999 1 SYN_SENT=1
" || hf_setup_failed "the sockets are not what the test meant to make"

collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c 'LoadPlugin hostflow
<Plugin hostflow>
	ReportStates true
	MaxFlows 10
</Plugin>' >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

want_flows=$({
	collectd_flow_lines "passive-198.51.100.1:80-198.51.100.11:many" 3 ESTABLISHED=3
	collectd_flow_lines "passive-198.51.100.1:80-198.51.100.12:many" 2 CLOSE_WAIT=2
	collectd_flow_lines "passive-[2001:db8::1]:443-[2001:db8::11]:many" 2 ESTABLISHED=2
	collectd_flow_lines "active-198.51.100.1:many-198.51.100.11:5432" 4 ESTABLISHED=4
	collectd_flow_lines "active-198.51.100.1:many-198.51.100.99:9999" 1 SYN_SENT=1
} | LC_ALL=C sort)
want_totals=$({
	for s in $COLLECTD_FLOW_STATES LISTEN; do
		case $s in
		ESTABLISHED) n=9 ;; CLOSE_WAIT) n=2 ;; SYN_SENT) n=1 ;; LISTEN) n=2 ;; *) n=0 ;;
		esac
		echo "hostflow-all/tcp_connections-$s $n"
	done
	echo "hostflow-all/count-flows 5"
} | LC_ALL=C sort)
want_listeners=$(LC_ALL=C sort <<'EOF'
hostflow-listen-198.51.100.1:80/percent-fill 0
hostflow-listen-198.51.100.1:80/queue_length-accept 0
hostflow-listen-198.51.100.1:80/queue_length-backlog 128
hostflow-listen-198.51.100.1:80/tcp_connections-SYN_RECV 0
hostflow-listen-198.51.100.1:80/tcp_connections-ESTABLISHED 3
hostflow-listen-[2001:db8::1]:443/percent-fill 0
hostflow-listen-[2001:db8::1]:443/queue_length-accept 0
hostflow-listen-[2001:db8::1]:443/queue_length-backlog 128
hostflow-listen-[2001:db8::1]:443/tcp_connections-SYN_RECV 0
hostflow-listen-[2001:db8::1]:443/tcp_connections-ESTABLISHED 2
EOF
)

pick() { grep -E "$1" <<<"$snap"; }
__settled() {
	snap=$(collectd_snapshot)
	[ "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')" = "$want_flows" ] &&
		[ "$(pick '^hostflow-all/(tcp_connections|count)-')" = "$want_totals" ] &&
		[ "$(pick '^hostflow-listen-')" = "$want_listeners" ]
}
snap=
hf_wait_for 15 __settled
check_eq "${HF_PLAN[1]}" "$want_flows" "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')"
check_eq "${HF_PLAN[2]}" "$want_totals" "$(pick '^hostflow-all/(tcp_connections|count)-')"
check_eq "${HF_PLAN[3]}" "$want_listeners" "$(pick '^hostflow-listen-')"

somaxconn=$(hf_in srv sysctl -n net.core.somaxconn)
host=$(pick '^hostflow-all/(protocol_counter|gauge)-' | sed 's/ [0-9]*$//')
got_somaxconn=$(pick '^hostflow-all/gauge-somaxconn ' | cut -d' ' -f2)
want_host="hostflow-all/gauge-somaxconn
hostflow-all/gauge-tcp_max_syn_backlog
hostflow-all/gauge-tcp_syncookies
hostflow-all/protocol_counter-ListenDrops
hostflow-all/protocol_counter-ListenOverflows"
missing=$(grep -vxF -f <(printf '%s\n' "$host") <<<"$want_host")
if [ -n "$host" ] && [ -z "$missing" ] && [ "$got_somaxconn" = "$somaxconn" ]; then
	ok "${HF_PLAN[4]}"
else
	not_ok "${HF_PLAN[4]}" "want at least: $want_host" "and somaxconn $somaxconn; got:" "$(pick '^hostflow-all/(protocol_counter|gauge)-')"
fi

# unixsock splits an identifier at '/' and at the first '-' of "plugin-instance"
# and "type-instance": brackets, colons and dots must come back whole.
v4=$(collectd_value "$COLLECTD_HOST/hostflow-passive-198.51.100.1:80-198.51.100.11:many/tcp_connections-ESTABLISHED" 2>&1)
v6=$(collectd_value "$COLLECTD_HOST/hostflow-passive-[2001:db8::1]:443-[2001:db8::11]:many/tcp_connections-total" 2>&1)
if awk -v a="$v4" -v b="$v6" 'BEGIN { exit !(a + 0 == 3 && b + 0 == 2) }'; then
	ok "${HF_PLAN[5]}"
else
	not_ok "${HF_PLAN[5]}" "want 3 and 2, got: $v4 / $v6" "LISTVAL:" "$(collectd_listval 2>&1 | grep hostflow-passive)"
fi

# c1 closes its IPv6 connections; srv (--on-eof close) closes its ends, and
# the flow is gone from srv's kernel.
hf_signal c443 USR2
hf_wait_ss srv 0 -- state connected '( sport = :443 )' || hf_diag "srv still holds :443 connections"
want_gone=$(grep -v -F 'passive-[2001:db8::1]:443-' <<<"$want_flows")
__gone() {
	snap=$(collectd_snapshot)
	[ "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')" = "$want_gone" ] &&
		pick '^hostflow-listen-\[2001:db8::1\]:443/tcp_connections-ESTABLISHED 0$' >/dev/null
}
if hf_wait_for 10 __gone; then
	ok "${HF_PLAN[6]}"
else
	not_ok "${HF_PLAN[6]}" "$(diff -u --label expected --label actual <(printf '%s\n' "$want_gone") \
		<(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-'))"
fi

problems=$(grep -E '\[(error|warning)\]' "$COLLECTD_LOG")
if [ -z "$problems" ]; then
	ok "${HF_PLAN[7]}"
else
	not_ok "${HF_PLAN[7]}" "$problems"
fi

# A plugin is long-lived: auto tries bpf first, and says which it got.
used=$(grep -o 'reading the sockets through [a-z]*' "$COLLECTD_LOG" | head -n 1)
why=$(grep -o 'bpf backend unavailable: .*' "$COLLECTD_LOG" | head -n 1)
timers=$(grep -o 'reading the sockets through bpf (.*)' "$COLLECTD_LOG" | head -n 1)
if [ "$used" = "reading the sockets through bpf" ] && [ -z "$why" ] &&
	[ "$timers" != "${timers#*followed by their timers}" ]; then
	ok "${HF_PLAN[8]}"
elif [ "$used" = "reading the sockets through bpf" ] && [ -z "$why" ] &&
	[ "$timers" != "${timers#*dumped at each read}" ]; then
	ok "${HF_PLAN[8]} # timers not followed here: $timers"
elif [ "$used" = "reading the sockets through netlink" ] && [ -n "$why" ]; then
	ok "${HF_PLAN[8]} # netlink: $why"
else
	not_ok "${HF_PLAN[8]}" "backend line: '$used'" "bpf note: '$why'" "timers: '$timers'"
fi
hf_done
