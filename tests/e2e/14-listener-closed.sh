#!/usr/bin/env bash
# hostflow, scenario e: listeners closed after accepting, their connections
# alive. With no listener to match, direction falls to the port ranges of
# the host hostflow runs on (srv's ip_local_port_range is set to 8000-60999;
# the clients keep the default 32768-60999):
#   1. port 80, outside the range, clients on ephemeral ports inside it:
#      still passive (rule 2).
#   2. port 8080, inside the range: active (rule 3), one flow per client
#      port; the clients bind source ports 50001-50003 so they are known.
#   3. port 8081, inside the range, with a listener still open on [::]:8081
#      but IPV6_V6ONLY: it must not claim the IPv4 connections, so they are
#      active too. The /proc backend cannot see IPV6_V6ONLY, so this part
#      (all of c3's flows) is left out of the --proc comparison.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"e: srv kernel holds only the v6-only listener after the others closed"
	"e: srv kernel holds the connections of the closed listeners"
	"e: srv: :80 passive by port range, :8080 and v6-only :8081 active"
	"e: srv --proc: the same, v6-only part left out"
	"e: c2: active flow to srv:8080"
)
hf_require_netns

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"
hf_host c3 198.51.100.13/24 || hf_setup_failed "host c3"
hf_sysctl srv "net.ipv4.ip_local_port_range=8000 60999" || hf_setup_failed "srv port range"

hf_sockgen srv l80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "listener :80"
hf_sockgen srv l8080 listen --addr 0.0.0.0 --port 8080 || hf_setup_failed "listener :8080"
hf_sockgen srv l8081v6 listen --addr :: --port 8081 --v6only || hf_setup_failed "listener [::]:8081"
hf_sockgen srv l8081 listen --addr 0.0.0.0 --port 8081 || hf_setup_failed "listener :8081"

hf_sockgen c1 con1 connect --to 198.51.100.1 --port 80 --count 4 || hf_setup_failed "c1 connections"
hf_sockgen c2 con2 connect --to 198.51.100.1 --port 8080 --count 3 --sport 50001 ||
	hf_setup_failed "c2 connections"
hf_sockgen c3 con3 connect --to 198.51.100.1 --port 8081 --count 2 --sport 50011 ||
	hf_setup_failed "c3 connections"
hf_wait_status l80 accepted=4 || hf_setup_failed "accept on :80"
hf_wait_status l8080 accepted=3 || hf_setup_failed "accept on :8080"
hf_wait_status l8081 accepted=2 || hf_setup_failed "accept on :8081"
for l in l80 l8080 l8081; do
	hf_signal $l USR1
	hf_wait_status $l listeners=0 || hf_setup_failed "closing $l"
done

check_eq "e: srv kernel holds only the v6-only listener after the others closed" \
	"[::]:8081" "$(hf_listeners srv)"

srv_flows="
passive 198.51.100.1:80 <- 198.51.100.11:many 4 ESTABLISHED=4
active 198.51.100.1:many -> 198.51.100.12:50001 1 ESTABLISHED=1
active 198.51.100.1:many -> 198.51.100.12:50002 1 ESTABLISHED=1
active 198.51.100.1:many -> 198.51.100.12:50003 1 ESTABLISHED=1
active 198.51.100.1:many -> 198.51.100.13:50011 1 ESTABLISHED=1
active 198.51.100.1:many -> 198.51.100.13:50012 1 ESTABLISHED=1"

hf_check_kernel "e: srv kernel holds the connections of the closed listeners" srv "$srv_flows"
hf_check_hostflow "e: srv: :80 passive by port range, :8080 and v6-only :8081 active" srv "$srv_flows"
HF_DROP='198\.51\.100\.13:' hf_check_hostflow "e: srv --proc: the same, v6-only part left out" \
	srv "$srv_flows" -n --json --proc
hf_check_hostflow "e: c2: active flow to srv:8080" c2 \
	"active 198.51.100.12:many -> 198.51.100.1:8080 3 ESTABLISHED=3"

hf_done
