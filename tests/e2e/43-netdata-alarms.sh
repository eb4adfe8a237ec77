#!/usr/bin/env bash
# netdata alarms of netdata/health.d/hostflow.conf, judged by a real netdata
# 1.37 running hostflow.plugin in the namespace srv (listener health, issues
# 5 and 10). In srv, net.core.somaxconn is 128, and c1 (198.51.100.11)
# connects:
#   :80  listen(10), never accepts, 100 clients: accept queue 11 (backlog
#        + 1), backlog 10, the SYNs beyond are dropped: fill 100%
#   :81  listen(200), never accepts, 200 clients: the kernel caps the
#        backlog at somaxconn: backlog 128, accept queue 129: fill 100%
#   :84  listen(100), never accepts, 100 clients: all 100 complete their
#        handshake and wait in the queue: accept queue 100, backlog 100,
#        100 established: fill 100/101, one slot free: 99.01%
#   :82  accepts and never closes: 60 clients connect and close, leaving
#        60 sockets in CLOSE_WAIT on srv
#   :83  accepts: 20 clients, queue empty (the healthy listener)
# netdata's own listener on 127.0.0.1 charts its fill in
# hostflow.loopback_listener_fill, which no template watches: it gets no
# alarm. The fill alarm (max over 10 s) raises CRITICAL on :80 and :81,
# WARNING on :84 (a full queue is 100 at any backlog, one free slot is
# not full), and stays CLEAR on :83; the CLOSE_WAIT alarm raises
# (WARNING) after its one-minute lookup: this test takes 70 s or so.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/netdata.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
HEALTH=netdata/health.d/hostflow.conf
HF_PLAN=(
	"netdata alarms: srv kernel shows the queues, 100 established on :84 and the CLOSE_WAIT sockets (ss)"
	"netdata alarms: /api/v1/alarms?all lists the templates of health.d/hostflow.conf"
	"netdata alarms: /api/v1/data: listen(10), 100 clients: accept queue 11, fill 100"
	"netdata alarms: /api/v1/data: somaxconn 128, listen(200), 200 clients: accept queue 129, fill 100"
	"netdata alarms: /api/v1/data: listen(100), 100 clients: accept queue 100, fill 99.01"
	"netdata alarms: the backlogs 10, 128, 100 are chart variables \$backlog of the fill charts"
	"netdata alarms: somaxconn 128 is a host variable"
	"netdata alarms: fill alarm raises on listen(10) with 100 clients (CRITICAL, 100%)"
	"netdata alarms: fill alarm raises on listen(200) capped at 128 (CRITICAL, 100%)"
	"netdata alarms: fill alarm warns on listen(100) with 100 clients, one slot free (WARNING, 99.01%)"
	"netdata alarms: fill alarm stays CLEAR on a listener that accepts"
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
F=hostflow.listener_fill_v4_198_51_100_1_
Q=hostflow_listener_fill
CW=hostflow_close_wait
# alarms: "KEY STATUS FILE" per hostflow alarm of /api/v1/alarms?all
# (netdata's own listener on 127.0.0.1 has none: it is listed if it had).
alarms() {
	netdata_json 'api/v1/alarms?all' '"\n".join("%s %s %s" % (k, v["status"],
		v["source"].split("/")[-1]) for k, v in sorted(d["alarms"].items())
		if k.startswith("hostflow."))'
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
want="${F}80.$Q hostflow.conf
${F}81.$Q hostflow.conf
${F}82.$Q hostflow.conf
${F}83.$Q hostflow.conf
${F}84.$Q hostflow.conf
hostflow.states.$CW hostflow.conf"
hf_wait_for 20 __listed
check_eq "${HF_PLAN[1]}" "$want" "$got"

# The queues chart, then the fill chart, of listener :$1.
__latest() {
	got=$(latest "$L$1" 2>/dev/null | grep -v '^syn_recv ') || return 1
	got+=$'\n'$(latest "$F$1" 2>/dev/null) && [ "$got" = "$want" ]
}
want="accept_queue 11
fill 100"
hf_wait_for 10 __latest 80
check_eq "${HF_PLAN[2]}" "$want" "$got"
want="accept_queue 129
fill 100"
hf_wait_for 10 __latest 81
check_eq "${HF_PLAN[3]}" "$want" "$got"
want="accept_queue 100
fill 99.01"
hf_wait_for 10 __latest 84
check_eq "${HF_PLAN[4]}" "$want" "$got"
hf_diag "half-open: $(latest ${L}80 2>/dev/null | grep syn_recv) (:80), $(latest ${L}81 2>/dev/null | grep syn_recv) (:81), $(latest ${L}84 2>/dev/null | grep syn_recv) (:84)"

backlog() {
	netdata_json "api/v1/alarm_variables?chart=$F$1" '"%g" % d["chart_variables"]["backlog"]'
}
got="$(backlog 80) $(backlog 81) $(backlog 84)"
check_eq "${HF_PLAN[5]}" "10 128 100" "$got"
got=$(netdata_json 'api/v1/alarm_variables?chart=hostflow.states' \
	'"%g" % d["host_variables"]["hostflow_somaxconn"]' 2>&1)
check_eq "${HF_PLAN[6]}" "128" "$got"
__raised() { got=$(alarm "$1" 2>/dev/null) && [ "${got%% *}" = "$2" ]; }
t0=$SECONDS
hf_wait_for 30 __raised "${F}80.$Q" CRITICAL
check_eq "${HF_PLAN[7]}" "CRITICAL 100" "$got"
hf_diag "raised after $((SECONDS - t0)) s of waiting"
hf_wait_for 20 __raised "${F}81.$Q" CRITICAL
check_eq "${HF_PLAN[8]}" "CRITICAL 100" "$got"
# 100 of 101: not full, one connection more would be accepted.
hf_wait_for 20 __raised "${F}84.$Q" WARNING
check_eq "${HF_PLAN[9]}" "WARNING 99.01" "$got"
hf_wait_for 20 __raised "${F}83.$Q" CLEAR
check_eq "${HF_PLAN[10]}" "CLEAR 0" "$got"
# netdata waits for a minute of data before evaluating a -1m lookup.
hf_wait_for 90 __raised "hostflow.states.$CW" WARNING
check_eq "${HF_PLAN[11]}" "WARNING 60" "$got"
hf_done
