#!/usr/bin/env bash
# hostflow, scenario g: exact per-state counts, on both ends. Every state is
# made on purpose and held for the length of the test:
#   :80  c1 opens 5, closes 3 of them: srv CLOSE_WAIT=3 ESTABLISHED=2,
#        c1 FIN_WAIT2=3 ESTABLISHED=2 (an orphaned FIN_WAIT2 socket is a
#        time-wait socket whose sub-state the kernel reports)
#   :80  c1 connects from .21, whose packets srv sends to a MAC nobody has:
#        srv SYN_RECV=2, c1 SYN_SENT=2
#   :81  srv closes each connection once c2 has closed it: c2 TIME_WAIT=4,
#        nothing left on srv
#   :82  srv closes first, then c1: srv TIME_WAIT=2 (no inode; passive by
#        its listener), nothing left on c1
#   :83  a listener that never accepts: srv ESTABLISHED=3 in its queue
#   :84  c2 connects from .22, then srv's packets to .22 start to vanish; c2
#        closes (FIN_WAIT1, never acked), srv gets the FIN and closes too
#        (LAST_ACK, never acked): srv LAST_ACK=2, c2 FIN_WAIT1=2
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"g: srv kernel holds the expected states"
	"g: c1 kernel holds the expected states"
	"g: c2 kernel holds the expected states"
)
hf_plan_backends \
	"g: srv: CLOSE_WAIT, SYN_RECV, TIME_WAIT, LAST_ACK counted per flow" \
	"g: c1: FIN_WAIT2 and SYN_SENT counted per flow" \
	"g: c2: TIME_WAIT and FIN_WAIT1 counted per flow"
HF_PLAN+=("g: srv --summary --json: per-state totals")
HF_PLAN+=("g: srv --ignore-state time_wait --ignore-state LAST_ACK: those flows are gone"
	"g: srv --summary --ignore-state TIME_WAIT: the host total keeps them, the flow count not")
hf_require_netns

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 198.51.100.21/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 198.51.100.22/24 || hf_setup_failed "host c2"
hf_blackhole srv 198.51.100.21 || hf_setup_failed "blackhole .21"

hf_sockgen srv l80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "listener :80"
hf_sockgen srv l81 listen --addr 0.0.0.0 --port 81 --on-eof close || hf_setup_failed "listener :81"
hf_sockgen srv l82 listen --addr 0.0.0.0 --port 82 || hf_setup_failed "listener :82"
hf_sockgen srv l83 listen --addr 0.0.0.0 --port 83 --no-accept --backlog 16 ||
	hf_setup_failed "listener :83"
hf_sockgen srv l84 listen --addr 0.0.0.0 --port 84 || hf_setup_failed "listener :84"

# :80, CLOSE_WAIT / FIN_WAIT2 next to ESTABLISHED
hf_sockgen c1 hold80 connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "c1 :80"
hf_sockgen c1 close80 connect --to 198.51.100.1 --port 80 --count 3 --close ||
	hf_setup_failed "c1 :80 closing"
# :80, half-open
hf_sockgen c1 syn80 connect --src 198.51.100.21 --to 198.51.100.1 --port 80 --count 2 --nowait ||
	hf_setup_failed "c1 :80 half-open"
# :81, TIME_WAIT on the client
hf_sockgen c2 close81 connect --to 198.51.100.1 --port 81 --count 4 --close ||
	hf_setup_failed "c2 :81"
# Both ends done with :81 before anything else moves: srv accepted and
# closed all 4, c2 holds their TIME_WAITs.
hf_wait_status l81 accepted=4 open=0 || hf_setup_failed "srv closing :81"
hf_wait_ss c2 4 -- state time-wait '( dport = :81 )' || hf_setup_failed "c2 TIME_WAIT on :81"
# :82, TIME_WAIT on the server
hf_sockgen c1 hold82 connect --to 198.51.100.1 --port 82 --count 2 || hf_setup_failed "c1 :82"
hf_wait_status l82 accepted=2 || hf_setup_failed "accept on :82"
hf_signal l82 USR2
hf_wait_status l82 open=0 || hf_setup_failed "srv closing :82"
# c1 must have the FIN (CLOSE_WAIT) before it closes, or both ends would
# close at once (CLOSING)
hf_wait_ss c1 2 -- state close-wait '( dport = :82 )' || hf_setup_failed "c1 CLOSE_WAIT on :82"
hf_signal hold82 USR2
hf_wait_status hold82 open=0 || hf_setup_failed "c1 closing :82"
# :83, never accepted
hf_sockgen c2 hold83 connect --to 198.51.100.1 --port 83 --count 3 || hf_setup_failed "c2 :83"
# :84, FIN_WAIT1 / LAST_ACK
hf_sockgen c2 hold84 connect --src 198.51.100.22 --to 198.51.100.1 --port 84 --count 2 ||
	hf_setup_failed "c2 :84"
hf_wait_status l84 accepted=2 || hf_setup_failed "accept on :84"
hf_blackhole srv 198.51.100.22 || hf_setup_failed "blackhole .22"
hf_signal hold84 USR2
hf_wait_status hold84 open=0 || hf_setup_failed "c2 closing :84"
# srv must have the FIN (CLOSE_WAIT) before it closes, or it would only
# reach FIN_WAIT1 itself
hf_wait_ss srv 2 -- state close-wait '( sport = :84 )' || hf_setup_failed "srv CLOSE_WAIT on :84"
hf_signal l84 USR2
hf_wait_status l84 open=0 || hf_setup_failed "srv closing :84"

srv_flows="
passive 198.51.100.1:80 <- 198.51.100.11:many 5 ESTABLISHED=2 CLOSE_WAIT=3
passive 198.51.100.1:80 <- 198.51.100.21:many 2 SYN_RECV=2
passive 198.51.100.1:82 <- 198.51.100.11:many 2 TIME_WAIT=2
passive 198.51.100.1:83 <- 198.51.100.12:many 3 ESTABLISHED=3
passive 198.51.100.1:84 <- 198.51.100.22:many 2 LAST_ACK=2"
c1_flows="
active 198.51.100.11:many -> 198.51.100.1:80 5 ESTABLISHED=2 FIN_WAIT2=3
active 198.51.100.21:many -> 198.51.100.1:80 2 SYN_SENT=2"
c2_flows="
active 198.51.100.12:many -> 198.51.100.1:81 4 TIME_WAIT=4
active 198.51.100.12:many -> 198.51.100.1:83 3 ESTABLISHED=3
active 198.51.100.22:many -> 198.51.100.1:84 2 FIN_WAIT1=2"

hf_check_kernel "g: srv kernel holds the expected states" srv "$srv_flows"
hf_check_kernel "g: c1 kernel holds the expected states" c1 "$c1_flows"
hf_check_kernel "g: c2 kernel holds the expected states" c2 "$c2_flows"

hf_check_backends "g: srv: CLOSE_WAIT, SYN_RECV, TIME_WAIT, LAST_ACK counted per flow" srv "$srv_flows"
hf_check_backends "g: c1: FIN_WAIT2 and SYN_SENT counted per flow" c1 "$c1_flows"
hf_check_backends "g: c2: TIME_WAIT and FIN_WAIT1 counted per flow" c2 "$c2_flows"

# the host totals are the sums over srv's flows above
desc="g: srv --summary --json: per-state totals"
if ! hf_have_hostflow; then
	hf_fail "$desc" "$HOSTFLOW missing"
else
	hf_run_hostflow srv -n --summary --json
	got=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join("%s=%s" % kv for kv in sorted(d.get("states", {}).items()) if kv[1]))
print("sockets=%s flows=%s" % (d.get("sockets"), d.get("flows")))' 2>&1)
	check_eq "$desc" $'CLOSE_WAIT=3 ESTABLISHED=5 LAST_ACK=2 SYN_RECV=2 TIME_WAIT=2\nsockets=14 flows=5' "$got"
fi

# --ignore-state: :82 (TIME_WAIT) and :84 (LAST_ACK) leave the flows, not the totals
hf_check_hostflow "${HF_PLAN[-2]}" srv "$(grep -v -e TIME_WAIT -e LAST_ACK <<<"$srv_flows")" \
	-n --json --ignore-state time_wait --ignore-state LAST_ACK
hf_run_hostflow srv -n --summary --json --ignore-state TIME_WAIT
got=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S -c '
import json, sys
d = json.load(sys.stdin)
print("TIME_WAIT=%s flows=%s" % (d.get("states", {}).get("TIME_WAIT"), d.get("flows")))' 2>&1)
check_eq "${HF_PLAN[-1]}" "TIME_WAIT=2 flows=4" "$got"

hf_done
