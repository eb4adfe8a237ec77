#!/usr/bin/env bash
# hostflow, scenario h: -f/--filter private|public|all, on the peer address.
# Private is RFC 1918, fc00::/7, loopback and link-local; the documentation
# ranges 198.51.100.0/24 and 2001:db8::/32 are public. In srv:
#   loopback  127.0.0.1:40001 listener, 3 connections from 127.0.0.1, and
#             [::1]:40002 listener, 2 connections from ::1: both ends of each
#             are in srv, a passive and an active flow per listener
#   public    0.0.0.0:40080 listener, 4 connections from c1 (198.51.100.11),
#             and 2 connections out to c1's [2001:db8::11]:40090
# -f private shows exactly the loopback flows, -f public exactly the others,
# -f all (and no -f) all of them, with either backend. The host totals of
# --summary are never filtered.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"h: srv kernel holds the loopback and the public connections"
	"h: c1 kernel holds its connections"
)
hf_plan_backends \
	"h: srv -f private shows exactly the loopback flows" \
	"h: srv -f public shows exactly the 198.51.100.0/24 and 2001:db8::/32 flows" \
	"h: srv -f all shows every flow" \
	"h: c1 -f private shows no flow (its peer is public)" \
	"h: c1 -f public shows its two flows"
HF_PLAN+=(
	"h: srv without -f shows every flow"
	"h: srv --summary --json -f private still counts every socket"
)
hf_require_netns

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"

hf_sockgen srv lo4 listen --addr 127.0.0.1 --port 40001 || hf_setup_failed "listener 127.0.0.1:40001"
hf_sockgen srv lo6 listen --addr ::1 --port 40002 --v6only || hf_setup_failed "listener [::1]:40002"
hf_sockgen srv pub listen --addr 0.0.0.0 --port 40080 || hf_setup_failed "listener :40080"
hf_sockgen c1 c1l listen --addr 2001:db8::11 --port 40090 --v6only || hf_setup_failed "c1 listener :40090"
hf_sockgen srv clo4 connect --to 127.0.0.1 --port 40001 --count 3 || hf_setup_failed "loopback clients v4"
hf_sockgen srv clo6 connect --to ::1 --port 40002 --count 2 || hf_setup_failed "loopback clients v6"
hf_sockgen c1 cpub connect --to 198.51.100.1 --port 40080 --count 4 || hf_setup_failed "c1 -> srv"
hf_sockgen srv cout connect --to 2001:db8::11 --port 40090 --count 2 || hf_setup_failed "srv -> c1"
hf_wait_status lo4 accepted=3 || hf_setup_failed "accept on 127.0.0.1:40001"
hf_wait_status lo6 accepted=2 || hf_setup_failed "accept on [::1]:40002"

private="
passive 127.0.0.1:40001 <- 127.0.0.1:many 3 ESTABLISHED=3
active 127.0.0.1:many -> 127.0.0.1:40001 3 ESTABLISHED=3
passive [::1]:40002 <- [::1]:many 2 ESTABLISHED=2
active [::1]:many -> [::1]:40002 2 ESTABLISHED=2"
public="
passive 198.51.100.1:40080 <- 198.51.100.11:many 4 ESTABLISHED=4
active [2001:db8::1]:many -> [2001:db8::11]:40090 2 ESTABLISHED=2"
c1_flows="
active 198.51.100.11:many -> 198.51.100.1:40080 4 ESTABLISHED=4
passive [2001:db8::11]:40090 <- [2001:db8::1]:many 2 ESTABLISHED=2"

hf_check_kernel "h: srv kernel holds the loopback and the public connections" srv "$private$public"
hf_check_kernel "h: c1 kernel holds its connections" c1 "$c1_flows"

hf_check_backends "h: srv -f private shows exactly the loopback flows" srv "$private" \
	-n --json -f private
hf_check_backends "h: srv -f public shows exactly the 198.51.100.0/24 and 2001:db8::/32 flows" srv \
	"$public" -n --json -f public
hf_check_backends "h: srv -f all shows every flow" srv "$private$public" -n --json -f all
hf_check_backends "h: c1 -f private shows no flow (its peer is public)" c1 "" -n --json -f private
hf_check_backends "h: c1 -f public shows its two flows" c1 "$c1_flows" -n --json -f public
hf_check_hostflow "h: srv without -f shows every flow" srv "$private$public" -n --json

# 3*2 + 2*2 loopback sockets and 4 + 2 public ones, 3 listeners (lo4, lo6,
# pub), whatever the filter
desc="h: srv --summary --json -f private still counts every socket"
if hf_have_hostflow; then
	hf_run_hostflow srv -n --summary --json -f private
	check_eq "$desc" $'sockets=16\nlisteners=3\nstates/ESTABLISHED=16' \
		"$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" dig sockets listeners states/ESTABLISHED)"
else
	hf_fail "$desc" "$HOSTFLOW missing"
fi

hf_done
