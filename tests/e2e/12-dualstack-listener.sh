#!/usr/bin/env bash
# hostflow, scenario c: a dual-stack "::" listener (IPV6_V6ONLY off) on srv,
# reached over IPv4 (the kernel holds those connections as v4-mapped IPv6
# sockets; hostflow prints plain IPv4) and over IPv6. Every connection to it
# is passive, in both families. The /proc backend cannot see IPV6_V6ONLY,
# but for a dual-stack listener its answer is the same. The port, 40080,
# lies inside ip_local_port_range: only the listener can make these passive.
# A v4-mapped connection is an IPv4 flow (it prints as one), so -4 keeps it
# and -6 drops it.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"c: srv kernel holds the v4-mapped and IPv6 connections on [::]:40080"
	"c: srv kernel holds the 4 IPv4 connections as v4-mapped IPv6 sockets"
	"c: c1 kernel holds its IPv4 and IPv6 connections"
)
hf_plan_backends \
	"c: srv: passive flows for both families, v4-mapped shown as IPv4" \
	"c: c1: one active flow per family" \
	"c: srv -4: the IPv4 flows, v4-mapped included" \
	"c: srv -6: the IPv6 flows only"
hf_require_netns

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 2001:db8::12/64 || hf_setup_failed "host c2"

hf_sockgen srv lst listen --addr :: --dualstack --port 40080 || hf_setup_failed "srv listener"
hf_sockgen c1 c1v4 connect --to 198.51.100.1 --port 40080 --count 3 || hf_setup_failed "c1 IPv4"
hf_sockgen c1 c1v6 connect --to 2001:db8::1 --port 40080 --count 2 || hf_setup_failed "c1 IPv6"
hf_sockgen c2 c2v4 connect --to 198.51.100.1 --port 40080 --count 1 || hf_setup_failed "c2 IPv4"
hf_sockgen c2 c2v6 connect --to 2001:db8::1 --port 40080 --count 4 || hf_setup_failed "c2 IPv6"

srv_flows="
passive 198.51.100.1:40080 <- 198.51.100.11:many 3 ESTABLISHED=3
passive [2001:db8::1]:40080 <- [2001:db8::11]:many 2 ESTABLISHED=2
passive 198.51.100.1:40080 <- 198.51.100.12:many 1 ESTABLISHED=1
passive [2001:db8::1]:40080 <- [2001:db8::12]:many 4 ESTABLISHED=4"
c1_flows="
active 198.51.100.11:many -> 198.51.100.1:40080 3 ESTABLISHED=3
active [2001:db8::11]:many -> [2001:db8::1]:40080 2 ESTABLISHED=2"

hf_check_kernel "c: srv kernel holds the v4-mapped and IPv6 connections on [::]:40080" srv "$srv_flows"
mapped=$(hf_in srv ss -tanH -6 state established | grep -c '\[::ffff:198\.51\.100\.1\]:40080 ')
check_eq "c: srv kernel holds the 4 IPv4 connections as v4-mapped IPv6 sockets" 4 "$mapped"
hf_check_kernel "c: c1 kernel holds its IPv4 and IPv6 connections" c1 "$c1_flows"

hf_check_backends "c: srv: passive flows for both families, v4-mapped shown as IPv4" srv "$srv_flows"
hf_check_backends "c: c1: one active flow per family" c1 "$c1_flows"
hf_check_backends "c: srv -4: the IPv4 flows, v4-mapped included" srv \
	"$(grep -v '\[' <<<"$srv_flows")" -n --json -4
hf_check_backends "c: srv -6: the IPv6 flows only" srv "$(grep '\[' <<<"$srv_flows")" -n --json -6

hf_done
