#!/usr/bin/env bash
# shellcheck disable=SC2317 # small functions run via hf_wait_for
# hostflow.plugin's series under a real netdata 1.37, as alarms and
# history need them (issue 10), all in the namespace srv (198.51.100.1):
#   hostflow.conf: MaxFlows 4, MaxListeners 5, ObsoleteAfter 2 (HoldTime
#   is the default 300 s), IgnoreState TIME_WAIT, ExcludeNet
#   198.51.100.13/32 (c3, which only fills :90: flows are filtered,
#   listeners are not), and Pin passive-198.51.100.1:443-198.51.100.99:many.
#   Listeners: :80 (closes a connection its peer closed), :81-:84, :443,
#   :90 (listen(9), never accepts, 1 connection queued from the start) and
#   300 more on 127.0.0.1:20000-20299.
#   c1 (.11) opens 5 connections to :80 (flow F1), c2 (.12) 3 (flow F2);
#   srv opens 5 to c1:8080 and closes them: 5 sockets in TIME_WAIT.
# Checks:
#   - listeners: 300 idle ones on 127.0.0.1, yet at most 2 x MaxListeners
#     listener charts (the top 5 by fill, plus those held), the full one
#     among them;
#   - IgnoreState TIME_WAIT: the host's states show the 5 TIME_WAIT sockets,
#     the active flows chart has no flow of them;
#   - the pin reads 0, then 1 when .99 connects;
#   - the fill alarm of netdata/health.d/hostflow.conf ("every" made 1 s
#     here, the rest as shipped): c3 queues 8 more connections, 9 on :90
#     (backlog 9): 90%, WARNING; one more: 100%, CRITICAL; the listener
#     closed and opened again empty (same address and port, same chart,
#     accepting 20 connections so that it ranks in the top 5): CLEAR once
#     the 10 s window has passed. Meanwhile:
#   - point 7: F2 closes; ObsoleteAfter later its dimension is obsolete
#     (not collected), and the default query (no &dimensions=) of the
#     window it lived in still has it, with its 3 connections;
#   - point 1: c1 opens 10 connections to each of :81-:84: 4 flows larger
#     than F1, whose 5 connections keep their own dimension (held), not
#     moved into "other";
#   - point 8: netdata restarts on its database; c2 connects again, 20
#     times (so that F2 is in the new plugin's top 4): F2 is in the default
#     query, and its past (the window of point 7) is still there.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/netdata.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
HF_PLAN=(
	"netdata series: srv kernel: 5 TIME_WAIT sockets, 303 listeners or more"
	"netdata series: 300 loopback listeners, MaxListeners 5: at most 10 listener charts"
	"netdata series: IgnoreState TIME_WAIT: states count them, no active flow of them"
	"netdata series: a pinned flow without connections reads 0"
	"netdata series: fill alarm: 9 queued of backlog 9 (90%): WARNING"
	"netdata series: fill alarm: 10 queued of backlog 9 (100%): CRITICAL"
	"netdata series: the full listener is charted among the bounded listeners"
	"netdata series: F2 closed: after ObsoleteAfter its dimension is no longer collected"
	"netdata series: a gone flow stays in the default query for the window it lived in, with its values"
	"netdata series: MaxFlows 4 and 4 larger flows: the live flow F1 keeps its dimension (5), other 0"
	"netdata series: the pinned flow reads its connection"
	"netdata series: fill alarm: the listener emptied: CLEAR"
	"netdata series: after a netdata restart, the returning flow F2 (20) is in the default query"
	"netdata series: after a netdata restart, F2's past is still in the default query"
	"netdata series: netdata logged no error about the plugin"
)
hf_require_netns
[ -x "$PLUGIN" ] || hf_setup_failed "$PLUGIN missing (make build/hostflow.plugin)"
[ -x "$ND_BIN" ] || skip_all "no $ND_BIN (netdata-core)"
hf_on_exit netdata_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"
hf_host c9 198.51.100.99/24 || hf_setup_failed "host c9"
hf_host c3 198.51.100.13/24 || hf_setup_failed "host c3"
ip netns exec "$(hf_ns srv)" ip link set lo up || hf_setup_failed "lo in srv"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 --on-eof close || hf_setup_failed "srv :80"
hf_sockgen srv lbig listen --addr 198.51.100.1 --port 81-84 || hf_setup_failed "srv :81-84"
hf_sockgen srv l443 listen --addr 198.51.100.1 --port 443 || hf_setup_failed "srv :443"
hf_sockgen srv l90 listen --addr 198.51.100.1 --port 90 --backlog 9 --no-accept ||
	hf_setup_failed "srv :90"
hf_sockgen srv llo listen --addr 127.0.0.1 --port 20000-20299 || hf_setup_failed "srv 300 on lo"
hf_sockgen c1 l8080 listen --addr 198.51.100.11 --port 8080 --on-eof close ||
	hf_setup_failed "c1 :8080"
hf_sockgen c1 f1 connect --to 198.51.100.1 --port 80 --count 5 || hf_setup_failed "c1 -> :80"
hf_sockgen c2 f2 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c2 -> :80"
hf_sockgen srv tw connect --to 198.51.100.11 --port 8080 --count 5 --close ||
	hf_setup_failed "srv -> c1:8080, closed"
# One connection queued on :90 from the start (fill 10%, the fullest): its
# charts, and the alarm's 10 s of data, are there before it fills up.
hf_sockgen c3 q1 connect --to 198.51.100.1 --port 90 --count 1 || hf_setup_failed "1 -> :90"

got=
__kernel() {
	got="time_wait $(hf_in srv ss -tnH state time-wait | wc -l)"
	[ "$got" = "time_wait 5" ] && [ "$(hf_in srv ss -ltnH | wc -l)" -ge 303 ]
}
hf_wait_for 10 __kernel
check_eq "${HF_PLAN[0]}" "time_wait 5" "$got"

cat >"$HF_TMP/hostflow.conf" <<'EOF'
[plugin]
MaxFlows = 4
MaxListeners = 5
ObsoleteAfter = 2
IgnoreState = TIME_WAIT
ExcludeNet = 198.51.100.13/32
Pin = passive-198.51.100.1:443-198.51.100.99:many
EOF
mkdir -p "$HF_TMP/health.d"
sed 's/^\( *every:\) 10s$/\1 1s/' netdata/health.d/hostflow.conf >"$HF_TMP/health.d/hostflow.conf"
netdata_start -n "$(hf_ns srv)" -P "$PLUGIN" -f "$HF_TMP/hostflow.conf" -H "$HF_TMP/health.d" \
	>"$HF_TMP/start.err" 2>&1 || hf_setup_failed "netdata did not start: $(cat "$HF_TMP/start.err")"

P=hostflow.flows_passive
A=hostflow.flows_active
F1="198.51.100.1:80 <- 198.51.100.11:many"
F2="198.51.100.1:80 <- 198.51.100.12:many"
PIN="198.51.100.1:443 <- 198.51.100.99:many"
FILL90=hostflow.listener_fill_v4_198_51_100_1_90
ALARM90=$FILL90.hostflow_listener_fill

# newest CHART: "NAME VALUE" per dimension of the newest row of the last 10 s
# of the default query (None: not collected).
newest() {
	netdata_json "api/v1/data?chart=$1&after=-10&format=json" '"\n".join("%s %s" % (n, v)
		for n, v in sorted(zip(d["labels"][1:], d["data"][0][1:])))'
}
# window CHART AFTER BEFORE NAME: the highest value of dimension NAME in the
# default query of CHART from AFTER to BEFORE (epoch seconds), "absent"
# when the query has no such dimension.
window() {
	netdata_json "api/v1/data?chart=$1&after=$2&before=$3&format=json" \
		'max((r[d["labels"].index(a[0])] or 0) for r in d["data"]) if a[0] in d["labels"] else "absent"' "$4"
}
# listener_charts: the listener queue charts in /api/v1/charts, one a line.
listener_charts() {
	netdata_json api/v1/charts '"\n".join(k for k in sorted(d["charts"])
		if k.startswith("hostflow.listener_v"))'
}

__newest() { got=$(newest "$1" 2>/dev/null | grep -F -e "$2") && [ "$got" = "$3" ]; }
hf_wait_for 20 __newest $P "$F2" "$F2 3" || hf_diag "F2 not seen: $(newest $P 2>&1)"
t1=$(date +%s)

n=$(listener_charts | wc -l)
if [ "$n" -ge 5 ] && [ "$n" -le 10 ]; then
	ok "${HF_PLAN[1]}"
	hf_diag "$n listener charts for $(hf_in srv ss -ltnH | wc -l) listeners"
else
	not_ok "${HF_PLAN[1]}" "$n listener charts:" "$(listener_charts)"
fi

# The API's own connections on lo add TIME_WAIT sockets of their own.
tw=$(newest hostflow.states 2>/dev/null | sed -n 's/^time_wait //p')
got="time_wait $([ "${tw:-0}" -ge 5 ] && echo ">= 5" || echo "${tw:-none}")
flows to c1:8080: $(newest $A 2>/dev/null | grep -c '198.51.100.11:8080')"
check_eq "${HF_PLAN[2]}" "time_wait >= 5
flows to c1:8080: 0" "$got"

got=$(newest $P 2>/dev/null | grep -F "$PIN")
check_eq "${HF_PLAN[3]}" "$PIN 0" "$got"

__alarm() { got=$(netdata_alarm_status "$1" 2>/dev/null) && [ "$got" = "$2" ]; }
hf_sockgen c3 q9 connect --to 198.51.100.1 --port 90 --count 8 || hf_setup_failed "8 more -> :90"
hf_wait_for 20 __alarm "$ALARM90" WARNING
check_eq "${HF_PLAN[4]}" "WARNING" "$got"
hf_sockgen c3 q10 connect --to 198.51.100.1 --port 90 --count 1 || hf_setup_failed "1 more -> :90"
hf_wait_for 20 __alarm "$ALARM90" CRITICAL
check_eq "${HF_PLAN[5]}" "CRITICAL" "$got"
got=$(listener_charts | grep -c "_90$")
n=$(listener_charts | wc -l)
check_eq "${HF_PLAN[6]}" "1 of at most 10" "$got of at most $((n > 10 ? n : 10))"
# The same address and port, empty: the same chart, its fill 0 from now on.
# It accepts 20 connections, more than any other listener holds, so that it
# ranks among the MaxListeners though its fill is 0 like the others'.
hf_signal l90 USR1
hf_wait_status l90 listeners=0 || hf_diag "the :90 listener did not close"
hf_sockgen srv l90b listen --addr 198.51.100.1 --port 90 || hf_setup_failed "srv :90 again"
hf_sockgen c3 q20 connect --to 198.51.100.1 --port 90 --count 20 || hf_setup_failed "20 -> :90"
t0=$SECONDS
# While the alarm's 10 s window forgets the full queue: F2 closes, 4 larger
# flows come (c3's connections to :90 make no flow: ExcludeNet).
# F2, charted since t1, closes (srv closes its side at once).
t2=$(date +%s)
hf_signal f2 USR2
hf_wait_for 20 __newest $P "$F2" "$F2 None"
check_eq "${HF_PLAN[7]}" "$F2 None" "$got"
got=$(window $P "$t1" "$t2" "$F2" 2>&1)
check_eq "${HF_PLAN[8]}" "3" "$got"

for port in 81 82 83 84; do
	hf_sockgen c1 "big$port" connect --to 198.51.100.1 --port "$port" --count 10 ||
		hf_setup_failed "c1 -> :$port x 10"
done
hf_sockgen c9 pin connect --to 198.51.100.1 --port 443 --count 1 || hf_setup_failed "c9 -> :443"
want="$F1 5
other 0"
__held() {
	got=$(newest $P 2>/dev/null | grep -F -e "$F1" -e other) && [ "$got" = "$want" ] &&
		[ "$(newest $P | grep -c ' 10$')" = 4 ]
}
hf_wait_for 15 __held
check_eq "${HF_PLAN[9]}" "$want
4 flows of 10" "$got
$(newest $P | grep -c ' 10$') flows of 10"
hf_wait_for 10 __newest $P "$PIN" "$PIN 1"
check_eq "${HF_PLAN[10]}" "$PIN 1" "$got"

hf_wait_for 30 __alarm "$ALARM90" CLEAR
check_eq "${HF_PLAN[11]}" "CLEAR" "$got"
hf_diag "cleared $((SECONDS - t0)) s after the queue emptied (lookup: max over 10 s)"

errs=$(grep -E 'hostflow\.plugin ERROR |ERROR : PLUGINSD\[hostflow\]' "$(netdata_error_log)")
log_lines=$(wc -l <"$(netdata_error_log)")
# F2 returns larger than the flows of 10, so that the new plugin's top 4 has it.
netdata_restart -t 60 >"$HF_TMP/start.err" 2>&1 ||
	hf_setup_failed "netdata did not start again: $(cat "$HF_TMP/start.err")"
hf_sockgen c2 f2b connect --to 198.51.100.1 --port 80 --count 20 || hf_setup_failed "c2 -> :80 again"
hf_wait_for 20 __newest $P "$F2" "$F2 20"
check_eq "${HF_PLAN[12]}" "$F2 20" "$got"
got=$(window $P "$t1" "$t2" "$F2" 2>&1)
check_eq "${HF_PLAN[13]}" "3" "$got"

# netdata's stop ends the plugin: its reader logs the end of the pipe, and
# nothing else may be said of the plugin, before or after the restart.
errs+=$(tail -n +"$((log_lines + 1))" "$(netdata_error_log)" |
	grep -E 'hostflow\.plugin ERROR |ERROR : PLUGINSD\[hostflow\]' |
	grep -v -e 'read failed: end of file' -e 'disconnected after [0-9]* successful data collections')
if [ -z "$errs" ]; then
	ok "${HF_PLAN[14]}"
else
	not_ok "${HF_PLAN[14]}" "$errs"
fi
hf_done
