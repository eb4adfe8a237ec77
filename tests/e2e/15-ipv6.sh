#!/usr/bin/env bash
# hostflow, scenario f: IPv6 in both directions. srv connects out to c1's
# listener on [2001:db8::11]:40443 (active on srv, passive on c1), and c2
# connects in to srv's v6-only [::]:40080 (passive on srv). c2 also reaches
# srv's separate 0.0.0.0:40080 over IPv4, so -4 and -6 each have something
# to keep and something to drop. Addresses are printed compressed. Both
# ports lie inside ip_local_port_range: only listeners make flows passive.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"f: srv kernel holds 2 outbound IPv6, 3 inbound IPv6, 1 inbound IPv4"
	"f: c1 kernel holds the 2 connections from srv"
)
hf_plan_backends \
	"f: srv: active IPv6 out, passive IPv6 and IPv4 in" \
	"f: srv -6: only the IPv6 flows" \
	"f: srv -4: only the IPv4 flow" \
	"f: c1: passive IPv6 flow from srv" \
	"f: c2: active flows to srv, both families"
hf_require_netns

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 2001:db8::12/64 || hf_setup_failed "host c2"

hf_sockgen c1 lst1 listen --addr 2001:db8::11 --port 40443 || hf_setup_failed "c1 listener"
hf_sockgen srv lst6 listen --addr :: --port 40080 --v6only || hf_setup_failed "srv IPv6 listener"
hf_sockgen srv lst4 listen --addr 0.0.0.0 --port 40080 || hf_setup_failed "srv IPv4 listener"
hf_sockgen srv out connect --to 2001:db8::11 --port 40443 --count 2 || hf_setup_failed "srv connections"
hf_sockgen c2 in6 connect --to 2001:db8::1 --port 40080 --count 3 || hf_setup_failed "c2 IPv6"
hf_sockgen c2 in4 connect --to 198.51.100.1 --port 40080 --count 1 || hf_setup_failed "c2 IPv4"

srv_v6="
active [2001:db8::1]:many -> [2001:db8::11]:40443 2 ESTABLISHED=2
passive [2001:db8::1]:40080 <- [2001:db8::12]:many 3 ESTABLISHED=3"
srv_v4="passive 198.51.100.1:40080 <- 198.51.100.12:many 1 ESTABLISHED=1"
c1_flows="passive [2001:db8::11]:40443 <- [2001:db8::1]:many 2 ESTABLISHED=2"

hf_check_kernel "f: srv kernel holds 2 outbound IPv6, 3 inbound IPv6, 1 inbound IPv4" srv "$srv_v6
$srv_v4"
hf_check_kernel "f: c1 kernel holds the 2 connections from srv" c1 "$c1_flows"

hf_check_backends "f: srv: active IPv6 out, passive IPv6 and IPv4 in" srv "$srv_v6
$srv_v4"
hf_check_backends "f: srv -6: only the IPv6 flows" srv "$srv_v6" -n --json -6
hf_check_backends "f: srv -4: only the IPv4 flow" srv "$srv_v4" -n --json -4
hf_check_backends "f: c1: passive IPv6 flow from srv" c1 "$c1_flows"
hf_check_backends "f: c2: active flows to srv, both families" c2 "
active [2001:db8::12]:many -> [2001:db8::1]:40080 3 ESTABLISHED=3
active 198.51.100.12:many -> 198.51.100.1:40080 1 ESTABLISHED=1"

hf_done
