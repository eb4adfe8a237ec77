#!/usr/bin/env bash
# hostflow --backend bpf: the counts the programs keep as connections change
# state equal a netlink snapshot. Watchers (--watch=1 --backend bpf) start in
# each host BEFORE any connection exists, so every flow below is followed
# live (tracepoint), not seeded. Scenario g of 16-states (every state on
# purpose) plus:
#   :81  a burst of 20 connections opened and closed within one tick: the
#        watchers' "opened"/"closed" (summed over intervals) count all 20
#   :9   3 connects to a closed port (RST): "failed" 3 on c1
#   :85  3 connects from .21 (srv's answers go to a MAC nobody has) given up
#        after 1 s: "failed" 3 on c1, 3 request sockets left on srv
#   a listener closed with its connections alive (:86): they stay passive
#   :87  a SYN flood (40 handshakes at once) against a listener that never
#        accepts, backlog 2: 3 in its queue, 37 SYN_SENT retrying on c2
#   :88  churn, last: c3 opens and closes 300 connections: opened=300
#        closed=300, and c3's watcher equals netlink (the TIME_WAIT sockets
#        left are about 300: a few end otherwise, on both counts alike)
# and the watchers' reconciles (--reconcile 1: every second) correct nothing.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"bpf: srv kernel holds the expected states"
	"bpf: c1 kernel holds the expected states"
	"bpf: c2 kernel holds the expected states"
	"bpf: srv watcher (live) equals the expected flows"
	"bpf: c1 watcher (live) equals the expected flows"
	"bpf: c2 watcher (live) equals the expected flows"
	"bpf: srv watcher equals netlink hostflow -n --json"
	"bpf: c1 watcher equals netlink hostflow -n --json"
	"bpf: c2 watcher equals netlink hostflow -n --json"
	"bpf: c3 watcher (churn) equals netlink hostflow -n --json"
	"bpf: one-shot --backend bpf (seeded) equals netlink in srv"
	"bpf: srv --listen --json equals netlink's"
	"bpf: c2 burst of 20 counted opened=20 closed=20 failed=0"
	"bpf: srv burst of 20 counted opened=20 closed=20"
	"bpf: c1 closed port :9 and blackholed .21 -> :85 counted failed=3 each"
	"bpf: c3 churn of 300 counted opened=300 closed=300 failed=0"
	"bpf: reconciles every second corrected nothing, lost nothing"
	"bpf: --backend bpf without privileges fails naming the cause"
)
hf_require_netns

hf_skip_all_without_bpf

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 198.51.100.21/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 198.51.100.22/24 || hf_setup_failed "host c2"
hf_host c3 198.51.100.13/24 || hf_setup_failed "host c3"

# The watchers first: everything after this is followed by the programs.
for h in srv c1 c2 c3; do
	hf_bg "$h" "$HOSTFLOW" --backend bpf -n --json --states --watch=1 >"$HF_TMP/w.$h" \
		2>"$HF_TMP/w.$h.err" || hf_setup_failed "watcher $h"
done
hf_bg srv "$HOSTFLOW" --backend bpf -n --json --summary --watch=1 --reconcile 1 \
	>"$HF_TMP/sum.srv" 2>"$HF_TMP/sum.srv.err" || hf_setup_failed "summary watcher srv"
hf_bg c1 "$HOSTFLOW" --backend bpf -n --json --summary --watch=1 --reconcile 1 \
	>"$HF_TMP/sum.c1" 2>"$HF_TMP/sum.c1.err" || hf_setup_failed "summary watcher c1"
__hf_watching() { [ -s "$HF_TMP/w.srv" ] && [ -s "$HF_TMP/w.c1" ] && [ -s "$HF_TMP/w.c2" ] && [ -s "$HF_TMP/w.c3" ]; }
hf_wait_for 20 __hf_watching || hf_setup_failed "watchers did not print: $(cat "$HF_TMP"/w.*.err)"

hf_blackhole srv 198.51.100.21 || hf_setup_failed "blackhole .21"
hf_sockgen srv l80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "listener :80"
hf_sockgen srv l81 listen --addr 0.0.0.0 --port 81 --on-eof close || hf_setup_failed "listener :81"
hf_sockgen srv l82 listen --addr 0.0.0.0 --port 82 || hf_setup_failed "listener :82"
hf_sockgen srv l83 listen --addr 0.0.0.0 --port 83 --no-accept --backlog 16 ||
	hf_setup_failed "listener :83"
hf_sockgen srv l84 listen --addr 0.0.0.0 --port 84 || hf_setup_failed "listener :84"
hf_sockgen srv l85 listen --addr 0.0.0.0 --port 85 || hf_setup_failed "listener :85"

hf_sockgen c1 hold80 connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "c1 :80"
hf_sockgen c1 close80 connect --to 198.51.100.1 --port 80 --count 3 --close ||
	hf_setup_failed "c1 :80 closing"
hf_sockgen c1 syn80 connect --src 198.51.100.21 --to 198.51.100.1 --port 80 --count 2 --nowait ||
	hf_setup_failed "c1 :80 half-open"
# :81, a burst shorter than a tick: TIME_WAIT on c2
hf_sockgen c2 close81 connect --to 198.51.100.1 --port 81 --count 20 --close ||
	hf_setup_failed "c2 :81"
hf_sockgen c1 hold82 connect --to 198.51.100.1 --port 82 --count 2 || hf_setup_failed "c1 :82"
hf_wait_status l82 accepted=2 || hf_setup_failed "accept on :82"
hf_signal l82 USR2
hf_wait_status l82 open=0 || hf_setup_failed "srv closing :82"
hf_wait_ss c1 2 -- state close-wait '( dport = :82 )' || hf_setup_failed "c1 CLOSE_WAIT on :82"
hf_signal hold82 USR2
hf_wait_status hold82 open=0 || hf_setup_failed "c1 closing :82"
hf_sockgen c2 hold83 connect --to 198.51.100.1 --port 83 --count 3 || hf_setup_failed "c2 :83"
hf_sockgen c2 hold84 connect --src 198.51.100.22 --to 198.51.100.1 --port 84 --count 2 ||
	hf_setup_failed "c2 :84"
hf_wait_status l84 accepted=2 || hf_setup_failed "accept on :84"
hf_blackhole srv 198.51.100.22 || hf_setup_failed "blackhole .22"
hf_signal hold84 USR2
hf_wait_status hold84 open=0 || hf_setup_failed "c2 closing :84"
hf_wait_ss srv 2 -- state close-wait '( sport = :84 )' || hf_setup_failed "srv CLOSE_WAIT on :84"
hf_signal l84 USR2
hf_wait_status l84 open=0 || hf_setup_failed "srv closing :84"
# :86, a listener closed with its connections alive
hf_sockgen srv l86 listen --addr 0.0.0.0 --port 86 || hf_setup_failed "listener :86"
hf_sockgen c2 hold86 connect --to 198.51.100.1 --port 86 --count 2 || hf_setup_failed "c2 :86"
hf_wait_status l86 accepted=2 || hf_setup_failed "accept on :86"
hf_signal l86 USR1
# :87 SYN flood against a small backlog
hf_sockgen srv l87 listen --addr 0.0.0.0 --port 87 --no-accept --backlog 2 ||
	hf_setup_failed "listener :87"
hf_sockgen c2 flood87 connect --to 198.51.100.1 --port 87 --count 40 --nowait ||
	hf_setup_failed "c2 :87 flood"
# :9 closed port, :85 from the blackholed .21: 3 failed connects each
hf_in c1 "$HF_PYTHON" -S -c '
import socket
for dst, src in ((("198.51.100.1", 9), None), (("198.51.100.1", 85), "198.51.100.21")):
    for _ in range(3):
        s = socket.socket()
        if src:
            s.bind((src, 0))
        s.settimeout(1)
        try:
            s.connect(dst)
        except OSError:
            pass
        s.close()
' || hf_setup_failed "c1 failed connects"
# last, so that its TIME_WAIT sockets (60 s) are all there for the checks
hf_sockgen srv l88 listen --addr 0.0.0.0 --port 88 --on-eof close || hf_setup_failed "listener :88"
hf_sockgen c3 churn88 connect --to 198.51.100.1 --port 88 --count 300 --close ||
	hf_setup_failed "c3 :88 churn"

srv_flows="
passive 198.51.100.1:80 <- 198.51.100.11:many 5 ESTABLISHED=2 CLOSE_WAIT=3
passive 198.51.100.1:80 <- 198.51.100.21:many 2 SYN_RECV=2
passive 198.51.100.1:82 <- 198.51.100.11:many 2 TIME_WAIT=2
passive 198.51.100.1:83 <- 198.51.100.12:many 3 ESTABLISHED=3
passive 198.51.100.1:84 <- 198.51.100.22:many 2 LAST_ACK=2
passive 198.51.100.1:85 <- 198.51.100.21:many 3 SYN_RECV=3
passive 198.51.100.1:86 <- 198.51.100.12:many 2 ESTABLISHED=2
passive 198.51.100.1:87 <- 198.51.100.12:many 3 ESTABLISHED=3"
c1_flows="
active 198.51.100.11:many -> 198.51.100.1:80 5 ESTABLISHED=2 FIN_WAIT2=3
active 198.51.100.21:many -> 198.51.100.1:80 2 SYN_SENT=2"
c2_flows="
active 198.51.100.12:many -> 198.51.100.1:83 3 ESTABLISHED=3
active 198.51.100.22:many -> 198.51.100.1:84 2 FIN_WAIT1=2
active 198.51.100.12:many -> 198.51.100.1:86 2 ESTABLISHED=2
active 198.51.100.12:many -> 198.51.100.1:87 40 ESTABLISHED=3 SYN_SENT=37"

hf_check_kernel "${HF_PLAN[0]}" srv "$srv_flows"
hf_check_kernel "${HF_PLAN[1]}" c1 "$c1_flows"
# c2's :81 burst leaves about 20 TIME_WAIT sockets (now and then one ends
# otherwise, on both counts alike): judged by its counters and against netlink
__hf_c2_is() { diff=$(hf_in c2 ss -tanH | hf_flows_check kernel "$c2_flows" --drop '198\.51\.100\.1:81\b'); }
if hf_wait_for 10 __hf_c2_is; then ok "${HF_PLAN[2]}"; else hf_fail "${HF_PLAN[2]}" "kernel of c2" "$diff"; fi
sleep 2.5 # two more ticks of the watchers

# last_flows FILE: the last interval's flows with connections (the others only carry counters)
last_flows() {
	tail -n 1 "$1" | "$HF_PYTHON" -S -c '
import json, sys
print(json.dumps([f for f in json.load(sys.stdin) if f["connections"]]))'
}
# counters FILE: per flow, opened/closed/failed summed over every interval
counters() {
	"$HF_PYTHON" -S -c '
import json, sys
tot = {}
for line in open(sys.argv[1]):
    for f in json.loads(line):
        k = "%s %s:%s %s:%s" % (f["direction"], f["local"]["addr"], f["local"]["port"],
                                f["peer"]["addr"], f["peer"]["port"])
        t = tot.setdefault(k, [0, 0, 0])
        for i, n in enumerate(("opened", "closed", "failed")):
            t[i] += f.get(n, 0)
for k in sorted(tot):
    print("%s opened=%d closed=%d failed=%d" % ((k,) + tuple(tot[k])))' "$1"
}

i=3
for h in srv c1 c2; do
	var=${h}_flows
	if diff=$(last_flows "$HF_TMP/w.$h" | hf_flows_check json "${!var}" --drop '198\.51\.100\.1:81\b'); then
		ok "${HF_PLAN[$i]}"
	else
		hf_fail "${HF_PLAN[$i]}" "$diff" "$(cat "$HF_TMP/w.$h.err")"
	fi
	i=$((i + 1))
done
for h in srv c1 c2 c3; do
	hf_run_hostflow "$h" -n --json --states
	nl=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" json)
	got=$(last_flows "$HF_TMP/w.$h" | "$HF_PYTHON" -S "$HF_FLOWS" json)
	check_eq "${HF_PLAN[$i]}" "$nl" "$got"
	i=$((i + 1))
done
hf_run_hostflow srv -n --json --states
nl=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" json)
hf_run_hostflow srv --backend bpf -n --json --states
got=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" json)
check_eq "${HF_PLAN[10]}" "$nl" "$got${HF_ERR:+ stderr: $HF_ERR}"
hf_run_hostflow srv -n --listen --json
nl=$HF_OUT
hf_run_hostflow srv --backend bpf -n --listen --json
check_eq "${HF_PLAN[11]}" "$nl" "$HF_OUT${HF_ERR:+ stderr: $HF_ERR}"

c2_ctr=$(counters "$HF_TMP/w.c2" | grep ' 198.51.100.1:81 ')
check_eq "${HF_PLAN[12]}" "active 198.51.100.12:many 198.51.100.1:81 opened=20 closed=20 failed=0" "$c2_ctr"
srv_ctr=$(counters "$HF_TMP/w.srv" | grep ':81 ' | sed 's/ failed=.*//')
check_eq "${HF_PLAN[13]}" "passive 198.51.100.1:81 198.51.100.12:many opened=20 closed=20" "$srv_ctr"
c1_ctr=$(counters "$HF_TMP/w.c1" | grep -e ':9 ' -e ':85 ')
check_eq "${HF_PLAN[14]}" "active 198.51.100.11:many 198.51.100.1:9 opened=3 closed=0 failed=3
active 198.51.100.21:many 198.51.100.1:85 opened=3 closed=0 failed=3" "$c1_ctr"
c3_ctr=$(counters "$HF_TMP/w.c3" | grep ' 198.51.100.1:88 ')
check_eq "${HF_PLAN[15]}" "active 198.51.100.13:many 198.51.100.1:88 opened=300 closed=300 failed=0" "$c3_ctr"

got=$(for h in srv c1; do tail -n 1 "$HF_TMP/sum.$h" | "$HF_PYTHON" -S -c '
import json, sys
d = json.load(sys.stdin)
b = d.get("bpf", {})
print("%s reconciles>2=%s corrections=%s lost=%s map_full=%s" % (sys.argv[1],
      b.get("reconciles", 0) > 2, b.get("corrections"), b.get("lost"), b.get("map_full")))' "$h"; done)
check_eq "${HF_PLAN[16]}" "srv reconciles>2=True corrections=0 lost=0 map_full=0
c1 reconciles>2=True corrections=0 lost=0 map_full=0" "$got"

# as nobody: no CAP_BPF
out=$(hf_in srv setpriv --reuid=65534 --regid=65534 --clear-groups "$HOSTFLOW" --backend bpf -n 2>&1)
rc=$?
if [ $rc = 1 ] && [[ $out == "hostflow: --backend bpf: "*"CAP_BPF"* ]]; then
	ok "${HF_PLAN[17]}"
else
	hf_fail "${HF_PLAN[17]}" "exit $rc: $out"
fi

hf_done
