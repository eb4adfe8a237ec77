#!/usr/bin/env bash
# hostflow, scenario b: srv has two addresses, .1 and .2, and a listener bound
# to .1:40080 only. Connections to it are passive. srv also connects out
# from .2 with source port 40080 (the listener's port) to listeners on the
# clients' port 8080: those are active. A listener matches a connection by
# address and port, never by port alone. 40080 lies inside
# ip_local_port_range, so the port-range rule cannot make any of these
# passive: only a listener can.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"b: srv kernel holds 4 + 2 connections on .1:40080 and two from .2:40080"
	"b: c1 kernel holds its connections"
)
hf_plan_backends \
	"b: srv: to .1:40080 passive, from .2 port 40080 active" \
	"b: c1: active to srv, passive on its own listener"
hf_require_netns

hf_host srv 198.51.100.1/24 198.51.100.2/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"

hf_sockgen srv lst listen --addr 198.51.100.1 --port 40080 || hf_setup_failed "srv listener"
hf_sockgen c1 lst1 listen --addr 0.0.0.0 --port 8080 || hf_setup_failed "c1 listener"
hf_sockgen c2 lst2 listen --addr 0.0.0.0 --port 8080 || hf_setup_failed "c2 listener"
hf_sockgen c1 in1 connect --to 198.51.100.1 --port 40080 --count 4 || hf_setup_failed "c1 connections"
hf_sockgen c2 in2 connect --to 198.51.100.1 --port 40080 --count 2 || hf_setup_failed "c2 connections"
hf_sockgen srv out1 connect --src 198.51.100.2 --sport 40080 --to 198.51.100.11 --port 8080 ||
	hf_setup_failed "srv connection to c1"
hf_sockgen srv out2 connect --src 198.51.100.2 --sport 40080 --to 198.51.100.12 --port 8080 ||
	hf_setup_failed "srv connection to c2"

srv_flows="
passive 198.51.100.1:40080 <- 198.51.100.11:many 4 ESTABLISHED=4
passive 198.51.100.1:40080 <- 198.51.100.12:many 2 ESTABLISHED=2
active 198.51.100.2:many -> 198.51.100.11:8080 1 ESTABLISHED=1
active 198.51.100.2:many -> 198.51.100.12:8080 1 ESTABLISHED=1"
c1_flows="
active 198.51.100.11:many -> 198.51.100.1:40080 4 ESTABLISHED=4
passive 198.51.100.11:8080 <- 198.51.100.2:many 1 ESTABLISHED=1"

hf_check_kernel "b: srv kernel holds 4 + 2 connections on .1:40080 and two from .2:40080" srv "$srv_flows"
hf_check_kernel "b: c1 kernel holds its connections" c1 "$c1_flows"

hf_check_backends "b: srv: to .1:40080 passive, from .2 port 40080 active" srv "$srv_flows"
hf_check_backends "b: c1: active to srv, passive on its own listener" c1 "$c1_flows"

hf_done
