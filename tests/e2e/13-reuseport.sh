#!/usr/bin/env bash
# hostflow, scenario d: two SO_REUSEPORT listeners (two processes) on
# 0.0.0.0:40080, and two more on [2001:db8::1]:40443. The kernel spreads
# the connections over the pair; hostflow counts each connection once, in
# one passive flow per client, whichever listener accepted it. Both ports lie
# inside ip_local_port_range: only the listeners can make these passive.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"d: srv kernel holds two listeners on each port"
	"d: srv kernel holds 6 IPv4 and 4 IPv6 connections"
)
hf_plan_backends \
	"d: srv: one passive flow per client, each connection counted once" \
	"d: c1: one active flow of 6"
hf_require_netns

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 2001:db8::12/64 || hf_setup_failed "host c2"

for i in 1 2; do
	hf_sockgen srv v4lst$i listen --addr 0.0.0.0 --port 40080 --reuseport ||
		hf_setup_failed "IPv4 listener $i"
	hf_sockgen srv v6lst$i listen --addr 2001:db8::1 --port 40443 --reuseport --v6only ||
		hf_setup_failed "IPv6 listener $i"
done
hf_sockgen c1 con1 connect --to 198.51.100.1 --port 40080 --count 6 || hf_setup_failed "c1 connections"
hf_sockgen c2 con2 connect --to 2001:db8::1 --port 40443 --count 4 || hf_setup_failed "c2 connections"

check_eq "d: srv kernel holds two listeners on each port" \
	"$(printf '%s\n' 0.0.0.0:40080 0.0.0.0:40080 '[2001:db8::1]:40443' '[2001:db8::1]:40443' | sort)" \
	"$(hf_listeners srv)"

srv_flows="
passive 198.51.100.1:40080 <- 198.51.100.11:many 6 ESTABLISHED=6
passive [2001:db8::1]:40443 <- [2001:db8::12]:many 4 ESTABLISHED=4"
c1_flows="active 198.51.100.11:many -> 198.51.100.1:40080 6 ESTABLISHED=6"

hf_check_kernel "d: srv kernel holds 6 IPv4 and 4 IPv6 connections" srv "$srv_flows"
hf_diag "accepted by the IPv4 pair: $(hf_status v4lst1) / $(hf_status v4lst2)"

hf_check_backends "d: srv: one passive flow per client, each connection counted once" srv "$srv_flows"
hf_check_backends "d: c1: one active flow of 6" c1 "$c1_flows"

hf_done
