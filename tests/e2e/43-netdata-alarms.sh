#!/usr/bin/env bash
# netdata alarms of netdata/health.d/hostflow.conf, judged by a real netdata
# 1.37 running hostflow.plugin in the namespace srv (listener health, issue
# 5). In srv, net.core.somaxconn is 128, and c1 (198.51.100.11) connects:
#   :80  listen(10), never accepts, 100 clients: accept queue 11 (backlog
#        + 1), backlog 10, the SYNs beyond are dropped (ListenOverflows)
#   :81  listen(200), never accepts, 200 clients: the kernel caps the
#        backlog at somaxconn: backlog 128, accept queue 129
#   :84  listen(100), never accepts, 100 clients: all 100 complete their
#        handshake and wait in the queue: accept queue 100, backlog 100,
#        100 established
#   :82  accepts and never closes: 60 clients connect and close, leaving
#        60 sockets in CLOSE_WAIT on srv
#   :83  accepts: 20 clients, queue empty (the healthy listener)
# ListenOverflows is a counter of the whole network namespace, not of a
# listener: with :80 and :81 overflowing in srv, "no overflow" for :84
# cannot be seen in it, so only its growth is asserted (the command's test,
# 50-listen-overflow.sh, gives each case a namespace of its own).
# The templates are listed in /api/v1/alarms?all; the accept queue alarm
# raises (CRITICAL) on :80 and :81, and on :84 too, whose queue is at 100%
# of its backlog the whole minute (the template's crit is >= 100), and
# stays CLEAR on :83; the CLOSE_WAIT alarm raises (WARNING). Their
# one-minute lookups make netdata wait a minute of data before the first
# evaluation: this test takes 80 s or so.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/netdata.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
HEALTH=netdata/health.d/hostflow.conf
HF_PLAN=(
	"netdata alarms: srv kernel shows the queues, 100 established on :84 and the CLOSE_WAIT sockets (ss)"
	"netdata alarms: /api/v1/alarms?all lists the templates of health.d/hostflow.conf"
	"netdata alarms: /api/v1/data: listen(10), 100 clients: accept queue 11, backlog 10"
	"netdata alarms: /api/v1/data: somaxconn 128, listen(200), 200 clients: accept queue 129, backlog 128"
	"netdata alarms: /api/v1/data: listen(100), 100 clients: accept queue 100, backlog 100"
	"netdata alarms: /api/v1/data: ListenOverflows (srv-wide) grows"
	"netdata alarms: somaxconn 128 is a host variable"
	"netdata alarms: accept queue alarm raises on listen(10) with 100 clients (CRITICAL, 110%)"
	"netdata alarms: accept queue alarm raises on listen(200) capped at 128 (CRITICAL)"
	"netdata alarms: accept queue alarm raises on listen(100) with 100 clients (CRITICAL, 100%)"
	"netdata alarms: accept queue alarm stays CLEAR on a listener that accepts"
	"netdata alarms: CLOSE_WAIT alarm raises with 60 sockets in CLOSE_WAIT (WARNING)"
)
hf_require_netns
[ -x "$PLUGIN" ] || hf_setup_failed "$PLUGIN missing (make build/hostflow.plugin)"
[ -x "$ND_BIN" ] || skip_all "no $ND_BIN (netdata-core)"
hf_on_exit netdata_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
# somaxconn caps the backlog when listen() is called: set it first.
hf_sysctl srv net.core.somaxconn=128 || hf_setup_failed "somaxconn"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 --backlog 10 --no-accept ||
	hf_setup_failed "listener :80"
hf_sockgen srv l81 listen --addr 198.51.100.1 --port 81 --backlog 200 --no-accept ||
	hf_setup_failed "listener :81"
hf_sockgen srv l84 listen --addr 198.51.100.1 --port 84 --backlog 100 --no-accept ||
	hf_setup_failed "listener :84"
hf_sockgen srv l82 listen --addr 198.51.100.1 --port 82 || hf_setup_failed "listener :82"
hf_sockgen srv l83 listen --addr 198.51.100.1 --port 83 || hf_setup_failed "listener :83"
hf_sockgen c1 c80 connect --to 198.51.100.1 --port 80 --count 100 --nowait ||
	hf_setup_failed "100 clients -> :80"
hf_sockgen c1 c81 connect --to 198.51.100.1 --port 81 --count 200 --nowait ||
	hf_setup_failed "200 clients -> :81"
hf_sockgen c1 c84 connect --to 198.51.100.1 --port 84 --count 100 --nowait ||
	hf_setup_failed "100 clients -> :84"
hf_sockgen c1 c82 connect --to 198.51.100.1 --port 82 --count 60 --close ||
	hf_setup_failed "60 clients -> :82"
hf_sockgen c1 c83 connect --to 198.51.100.1 --port 83 --count 20 || hf_setup_failed "20 clients -> :83"

# ss: Recv-Q is the accept queue of a listener, Send-Q its backlog; then
# the established connections to :84 and the sockets in CLOSE_WAIT.
__ss() {
	ss_out=$(hf_in srv ss -ltnH | awk '{print $2, $3, $4}' | LC_ALL=C sort -k3)
	ss_out+=$'\n'"ESTABLISHED :84 $(hf_in srv ss -tnH state established '( sport = :84 )' | wc -l)"
	ss_out+=$'\n'"CLOSE_WAIT $(hf_in srv ss -tnH state close-wait | wc -l)"
	[ "$ss_out" = "$want" ]
}
want="11 10 198.51.100.1:80
129 128 198.51.100.1:81
0 128 198.51.100.1:82
0 128 198.51.100.1:83
100 100 198.51.100.1:84
ESTABLISHED :84 100
CLOSE_WAIT 60"
ss_out=
hf_wait_for 15 __ss
check_eq "${HF_PLAN[0]}" "$want" "$ss_out"

netdata_start -n "$(hf_ns srv)" -P "$PLUGIN" -H "$HEALTH" >"$HF_TMP/start.err" 2>&1 ||
	hf_setup_failed "netdata did not start: $(cat "$HF_TMP/start.err")"

L=hostflow.listener_v4_198_51_100_1_
Q=hostflow_listener_accept_queue
CW=hostflow_close_wait
# alarms: "KEY STATUS FILE" per hostflow alarm of /api/v1/alarms?all
# (netdata's own listener on 127.0.0.1 left out).
alarms() {
	netdata_json 'api/v1/alarms?all' '"\n".join("%s %s %s" % (k, v["status"],
		v["source"].split("/")[-1]) for k, v in sorted(d["alarms"].items())
		if k.startswith("hostflow.") and "_127_0_0_1_" not in k)'
}
# alarm KEY: "STATUS VALUE" of one alarm.
alarm() {
	netdata_json 'api/v1/alarms?all' '"%s %s" % (d["alarms"][a[0]]["status"],
		d["alarms"][a[0]]["value"])' "$1"
}
latest() {
	netdata_json "api/v1/data?chart=$1&after=-10&format=json" '"\n".join("%s %s" % (n, v)
		for n, v in sorted(zip(d["labels"][1:], next(r for r in d["data"]
		if None not in r)[1:])))'
}
got=
__listed() { got=$(alarms | cut -d' ' -f1,3) && [ "$got" = "$want" ]; }
want="${L}80.$Q hostflow.conf
${L}81.$Q hostflow.conf
${L}82.$Q hostflow.conf
${L}83.$Q hostflow.conf
${L}84.$Q hostflow.conf
hostflow.states.$CW hostflow.conf"
hf_wait_for 20 __listed
check_eq "${HF_PLAN[1]}" "$want" "$got"

__latest() { got=$(latest "$1" 2>/dev/null | grep -v '^syn_recv ') && [ "$got" = "$want" ]; }
want="accept_queue 11
backlog 10"
hf_wait_for 10 __latest ${L}80
check_eq "${HF_PLAN[2]}" "$want" "$got"
want="accept_queue 129
backlog 128"
hf_wait_for 10 __latest ${L}81
check_eq "${HF_PLAN[3]}" "$want" "$got"
want="accept_queue 100
backlog 100"
hf_wait_for 10 __latest ${L}84
check_eq "${HF_PLAN[4]}" "$want" "$got"
hf_diag "half-open: $(latest ${L}80 2>/dev/null | grep syn_recv) (:80), $(latest ${L}81 2>/dev/null | grep syn_recv) (:81), $(latest ${L}84 2>/dev/null | grep syn_recv) (:84)"

# The clients' SYNs are retried (1 s, 3 s, 7 s ...) and dropped again: the
# incremental dimension shows a rate above 0 somewhere in the last minute.
# srv-wide (see the top): grown by :80 and :81, whatever :84 did.
__overflows() {
	got=$(netdata_json 'api/v1/data?chart=hostflow.listen_counters&dimension=listen_overflows&after=-60&format=json' \
		'max(r[1] or 0 for r in d["data"])') && awk -v v="$got" 'BEGIN { exit !(v > 0) }'
}
if hf_wait_for 20 __overflows; then
	ok "${HF_PLAN[5]}"
	hf_diag "ListenOverflows: at most $got/s"
else
	not_ok "${HF_PLAN[5]}" "highest rate in the last minute: ${got:-none}"
fi
got=$(netdata_json 'api/v1/alarm_variables?chart=hostflow.states' \
	'"%g" % d["host_variables"]["hostflow_somaxconn"]' 2>&1)
check_eq "${HF_PLAN[6]}" "128" "$got"

# netdata waits for a minute of data before evaluating a -1m lookup.
__raised() { got=$(alarm "$1" 2>/dev/null) && [ "${got%% *}" = "$2" ]; }
t0=$SECONDS
hf_wait_for 100 __raised "${L}80.$Q" CRITICAL
check_eq "${HF_PLAN[7]}" "CRITICAL 110" "$got"
hf_diag "raised after $((SECONDS - t0)) s of waiting"
hf_wait_for 20 __raised "${L}81.$Q" CRITICAL
if [[ $got =~ ^CRITICAL\ 100\.78 ]]; then
	ok "${HF_PLAN[8]}"
else
	not_ok "${HF_PLAN[8]}" "wanted CRITICAL 100.78 (129 of 128), got: $got"
fi
# A queue held at exactly its backlog averages exactly 100%, the crit line.
hf_wait_for 20 __raised "${L}84.$Q" CRITICAL
check_eq "${HF_PLAN[9]}" "CRITICAL 100" "$got"
hf_wait_for 20 __raised "${L}83.$Q" CLEAR
check_eq "${HF_PLAN[10]}" "CLEAR 0" "$got"
hf_wait_for 20 __raised "hostflow.states.$CW" WARNING
check_eq "${HF_PLAN[11]}" "WARNING 60" "$got"
hf_done
