#!/usr/bin/env bash
# collectd plugin, listener health (issue 5): the classic experiments, read
# from the values a real collectd writes. In srv, net.core.somaxconn is 128
# and nothing is ever accepted:
#   :80  listen(10),  100 clients: accept queue 11 (backlog + 1), backlog 10,
#        and the SYNs beyond are dropped: TcpExt ListenOverflows grows
#   :81  listen(200), 200 clients: the kernel caps the backlog at somaxconn,
#        128, and the accept queue holds 129
#   :82  listen(100), 100 clients: all 100 complete their handshake and wait
#        in the queue: accept queue 100, backlog 100, 100 established
# ListenOverflows is a counter of the whole network namespace, not of a
# listener: with :80 overflowing in srv, "no overflow" for :82 cannot be
# seen in it, so only the growth caused by :80 is asserted (the command's
# test, 50-listen-overflow.sh, gives each case a namespace of its own).
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd listen: before the clients, the three queues are empty and ListenOverflows is 0"
	"collectd listen: srv kernel shows the queues, 100 established on :82 (ss)"
	"collectd listen: listen(10), 100 clients: accept queue 11, backlog 10"
	"collectd listen: somaxconn 128, listen(200), 200 clients: accept queue 129, backlog 128"
	"collectd listen: listen(100), 100 clients: accept queue 100, backlog 100"
	"collectd listen: ListenOverflows (srv-wide) has grown"
	"collectd listen: somaxconn is reported as 128"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
# somaxconn caps the backlog when listen() is called: set it first.
hf_sysctl srv net.core.somaxconn=128 || hf_setup_failed "somaxconn"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 --backlog 10 --no-accept ||
	hf_setup_failed "listener :80"
hf_sockgen srv l81 listen --addr 198.51.100.1 --port 81 --backlog 200 --no-accept ||
	hf_setup_failed "listener :81"
hf_sockgen srv l82 listen --addr 198.51.100.1 --port 82 --backlog 100 --no-accept ||
	hf_setup_failed "listener :82"

collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c 'LoadPlugin hostflow' \
	>"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

L80=hostflow-listen-198.51.100.1:80
L81=hostflow-listen-198.51.100.1:81
L82=hostflow-listen-198.51.100.1:82
OVF=hostflow-all/protocol_counter-ListenOverflows
# figures: the values of the queues, ListenOverflows and somaxconn, by name.
figures() {
	grep -E "^($L80|$L81|$L82)/queue_length-|^$OVF |^hostflow-all/gauge-somaxconn " <<<"$snap"
}
snap=
__before() {
	snap=$(collectd_snapshot)
	[ "$(figures)" = "$want_before" ]
}
want_before=$(LC_ALL=C sort <<EOF
$L80/queue_length-accept 0
$L80/queue_length-backlog 10
$L81/queue_length-accept 0
$L81/queue_length-backlog 128
$L82/queue_length-accept 0
$L82/queue_length-backlog 100
$OVF 0
hostflow-all/gauge-somaxconn 128
EOF
)
hf_wait_for 15 __before
check_eq "${HF_PLAN[0]}" "$want_before" "$(figures)"

hf_sockgen c1 c80 connect --to 198.51.100.1 --port 80 --count 100 --nowait ||
	hf_setup_failed "100 clients -> :80"
hf_sockgen c1 c81 connect --to 198.51.100.1 --port 81 --count 200 --nowait ||
	hf_setup_failed "200 clients -> :81"
hf_sockgen c1 c82 connect --to 198.51.100.1 --port 82 --count 100 --nowait ||
	hf_setup_failed "100 clients -> :82"

# ss: Recv-Q is the accept queue of a listener, Send-Q its backlog; then
# the established connections to :82.
__ss_full() {
	ss_out=$(hf_in srv ss -ltnH | awk '{print $2, $3, $4}' | LC_ALL=C sort -k3)
	ss_out+=$'\n'"ESTABLISHED :82 $(hf_in srv ss -tnH state established '( sport = :82 )' | wc -l)"
	[ "$ss_out" = "11 10 198.51.100.1:80
129 128 198.51.100.1:81
100 100 198.51.100.1:82
ESTABLISHED :82 100" ]
}
ss_out=
if hf_wait_for 15 __ss_full; then
	ok "${HF_PLAN[1]}"
else
	not_ok "${HF_PLAN[1]}" "ss -ltn (Recv-Q Send-Q Local):" "$ss_out"
fi

__full() {
	snap=$(collectd_snapshot)
	[ "$(grep "^$L80/queue_length-" <<<"$snap")" = "$want80" ] &&
		[ "$(grep "^$L81/queue_length-" <<<"$snap")" = "$want81" ] &&
		[ "$(grep "^$L82/queue_length-" <<<"$snap")" = "$want82" ] &&
		[ "$(grep "^$OVF " <<<"$snap" | cut -d' ' -f2)" -gt 0 ] 2>/dev/null
}
want80="$L80/queue_length-accept 11
$L80/queue_length-backlog 10"
want81="$L81/queue_length-accept 129
$L81/queue_length-backlog 128"
want82="$L82/queue_length-accept 100
$L82/queue_length-backlog 100"
hf_wait_for 15 __full
check_eq "${HF_PLAN[2]}" "$want80" "$(grep "^$L80/queue_length-" <<<"$snap")"
check_eq "${HF_PLAN[3]}" "$want81" "$(grep "^$L81/queue_length-" <<<"$snap")"
check_eq "${HF_PLAN[4]}" "$want82" "$(grep "^$L82/queue_length-" <<<"$snap")"
# srv-wide (see the top): grown by :80, whatever :82 did.
ovf=$(grep "^$OVF " <<<"$snap" | cut -d' ' -f2)
if [ -n "$ovf" ] && [ "$ovf" -gt 0 ]; then
	ok "${HF_PLAN[5]}"
	hf_diag "ListenOverflows $ovf"
else
	not_ok "${HF_PLAN[5]}" "ListenOverflows: ${ovf:-not reported}" "$(grep '^hostflow-all/' <<<"$snap")"
fi
check_eq "${HF_PLAN[6]}" "hostflow-all/gauge-somaxconn 128" "$(grep '^hostflow-all/gauge-somaxconn ' <<<"$snap")"
hf_diag "half-open, as collectd got them: $(grep -E "^($L80|$L81|$L82)/tcp_connections-SYN_RECV" <<<"$snap" | tr '\n' ' ')"
hf_done
