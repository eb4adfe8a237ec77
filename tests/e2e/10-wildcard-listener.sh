#!/usr/bin/env bash
# hostflow, scenario a: a wildcard 0.0.0.0 listener on srv, two client hosts
# with 3 and 5 connections. srv sees two passive flows (its address and port
# <- each client, port "many"); each client sees one active flow. Also: -p
# names the owning process, -4/-6 select the family, --summary counts.
#
# The listening port, 40080, lies inside ip_local_port_range (32768-60999 by
# default), so the port-range rule cannot make these flows passive: only the
# listener can.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"a: srv kernel holds 3 + 5 established connections on :40080"
	"a: c1 kernel holds its 3 connections"
	"a: c2 kernel holds its 5 connections"
)
hf_plan_backends \
	"a: srv shows two passive flows, 3 and 5" \
	"a: c1 shows one active flow of 3" \
	"a: c2 shows one active flow of 5"
HF_PLAN+=(
	"a: srv -p names the listening process and its pgid"
	"a: c1 -p names the connecting process and its pgid"
	"a: srv -4 shows the same flows"
	"a: srv -6 shows no flow"
	"a: srv -f all shows the same flows"
	"a: srv --summary --json counts sockets and flows, backend netlink"
	"a: srv --summary --json --proc says backend proc"
)
hf_require_netns

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 2001:db8::12/64 || hf_setup_failed "host c2"

# --pgrp: each holder leads its own process group, so -p's pgid is its pid
hf_sockgen srv lst listen --addr 0.0.0.0 --port 40080 --pgrp || hf_setup_failed "listener"
hf_sockgen c1 con1 connect --to 198.51.100.1 --port 40080 --count 3 --pgrp || hf_setup_failed "c1 connections"
hf_sockgen c2 con2 connect --to 198.51.100.1 --port 40080 --count 5 --pgrp || hf_setup_failed "c2 connections"
hf_wait_status lst accepted=8 open=8 || hf_setup_failed "srv did not accept 8 connections"

srv_flows="
passive 198.51.100.1:40080 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:40080 <- 198.51.100.12:many 5 ESTABLISHED=5"
c1_flows="active 198.51.100.11:many -> 198.51.100.1:40080 3 ESTABLISHED=3"
c2_flows="active 198.51.100.12:many -> 198.51.100.1:40080 5 ESTABLISHED=5"

hf_check_kernel "a: srv kernel holds 3 + 5 established connections on :40080" srv "$srv_flows"
hf_check_kernel "a: c1 kernel holds its 3 connections" c1 "$c1_flows"
hf_check_kernel "a: c2 kernel holds its 5 connections" c2 "$c2_flows"

hf_check_backends "a: srv shows two passive flows, 3 and 5" srv "$srv_flows"
hf_check_backends "a: c1 shows one active flow of 3" c1 "$c1_flows"
hf_check_backends "a: c2 shows one active flow of 5" c2 "$c2_flows"

lst=${HF_PID[lst]} con1=${HF_PID[con1]}
lst_comm=$(cat "/proc/$lst/comm") con1_comm=$(cat "/proc/$con1/comm")
hf_check_hostflow "a: srv -p names the listening process and its pgid" srv "
passive 198.51.100.1:40080 <- 198.51.100.11:many 3 ESTABLISHED=3 process=$lst_comm/$lst
passive 198.51.100.1:40080 <- 198.51.100.12:many 5 ESTABLISHED=5 process=$lst_comm/$lst" \
	-n --json -p
hf_check_hostflow "a: c1 -p names the connecting process and its pgid" c1 \
	"active 198.51.100.11:many -> 198.51.100.1:40080 3 ESTABLISHED=3 process=$con1_comm/$con1" \
	-n --json -p

hf_check_hostflow "a: srv -4 shows the same flows" srv "$srv_flows" -n --json -4
hf_check_hostflow "a: srv -6 shows no flow" srv "" -n --json -6
hf_check_hostflow "a: srv -f all shows the same flows" srv "$srv_flows" -n --json -f all

# --summary: only the fields the interface promises so far
summary_check() {
	local desc=$1 expected=$2 got
	shift 2
	if ! hf_have_hostflow; then
		hf_fail "$desc" "$HOSTFLOW missing"
		return
	fi
	hf_run_hostflow srv "$@"
	if [ "$HF_RC" != 0 ]; then
		hf_fail "$desc" "hostflow $* exited $HF_RC" "$HF_ERR"
		return
	fi
	got=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" get sockets flows backend)
	check_eq "$desc" "$expected" "$got"
}
summary_check "a: srv --summary --json counts sockets and flows, backend netlink" \
	$'sockets=8\nflows=2\nbackend="netlink"' -n --summary --json
summary_check "a: srv --summary --json --proc says backend proc" \
	$'sockets=8\nflows=2\nbackend="proc"' -n --summary --json --proc

hf_done
