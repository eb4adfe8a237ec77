#!/usr/bin/env bash
# shellcheck disable=SC2317 # small functions run via hf_wait_for
# hostflow --listen, SO_REUSEPORT groups (issue 5): the members of a group on
# one address and port are one listener, their figures summed, and shown per
# socket where they differ. Nothing is ever accepted:
#   0.0.0.0:40050       two processes, listen(5) and listen(7), 60 clients:
#                       the queues fill to 6 and 8; one listener, sockets 2,
#                       backlog 12, accept_queue 14, per_socket 5/6 and 7/8
#   [2001:db8::1]:40060 two processes, both listen(3), 40 clients: queues 4
#                       and 4; one listener, sockets 2, backlog 6,
#                       accept_queue 8, no per_socket (the members agree)
# The kernel spreads connections over the members by a hash of the
# addresses and ports, so a member's queue fills only when enough clients
# land on it: 60 and 40 are far more than the queues hold. syn_recv is
# what ss shows in the same namespace. hostflow.plugin charts a group's
# fill as its fullest member's (here 100.00 for both), with the group's
# backlog (12, 6) as the chart variable.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"r: srv kernel: the :40050 members' queues are full, 6 of 5 and 8 of 7"
	"r: srv kernel: the :40060 members' queues are full, 4 of 3 each"
)
hf_plan_backends \
	"r: :40050 --listen --json: sockets 2, backlog 12, accept_queue 14, per_socket 5/6 and 7/8" \
	"r: :40060 --listen --json: sockets 2, backlog 6, accept_queue 8, no per_socket"
HF_PLAN+=("r: text --listen: 0.0.0.0:40050 12 14 N 14 2"
	"r: hostflow.plugin: :40050 fill 100.00 (members full), \$backlog 12"
	"r: hostflow.plugin: :40060 fill 100.00, \$backlog 6")
hf_require_netns
[ -x "${HOSTFLOW_PLUGIN:-build/hostflow.plugin}" ] ||
	hf_setup_failed "hostflow.plugin missing (make build/hostflow.plugin)"

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host cl 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host cl"

hf_sockgen srv l5 listen --addr 0.0.0.0 --port 40050 --reuseport --no-accept --backlog 5 ||
	hf_setup_failed "listener :40050 backlog 5"
hf_sockgen srv l7 listen --addr 0.0.0.0 --port 40050 --reuseport --no-accept --backlog 7 ||
	hf_setup_failed "listener :40050 backlog 7"
for i in 1 2; do
	hf_sockgen srv l6_$i listen --addr 2001:db8::1 --port 40060 --reuseport --v6only \
		--no-accept --backlog 3 || hf_setup_failed "listener :40060 number $i"
done
hf_sockgen cl c4 connect --to 198.51.100.1 --port 40050 --count 60 --nowait ||
	hf_setup_failed "60 clients -> :40050"
hf_sockgen cl c6 connect --to 2001:db8::1 --port 40060 --count 40 --nowait ||
	hf_setup_failed "40 clients -> :40060"

# kernel_check DESC PORT WANT: wait (15 s) until ss in srv shows, for the
# listeners on PORT, the "Recv-Q Send-Q" lines (accept queue, backlog) in
# WANT (sorted), then "established=N": the sum of the queues.
kernel_check() {
	local desc=$1 port=$2 expect=$3 got
	__full() {
		got="$(hf_in srv ss -ltnH "( sport = :$port )" | awk '{print $2, $3}' | sort -n)
established=$(hf_in srv ss -tanH state established "( sport = :$port )" | wc -l)"
		[ "$got" = "$expect" ]
	}
	hf_wait_for 15 __full
	check_eq "$desc" "$expect" "$got"
}
kernel_check "r: srv kernel: the :40050 members' queues are full, 6 of 5 and 8 of 7" 40050 \
	$'6 5\n8 7\nestablished=14'
kernel_check "r: srv kernel: the :40060 members' queues are full, 4 of 3 each" 40060 \
	$'4 3\n4 3\nestablished=8'

# The kernel's figures for a port: the sum of the members' accept queues, and
# the half-open connections.
queue_of() { hf_in srv ss -ltnH "( sport = :$1 )" | awk '{q += $2} END {print q + 0}'; }
syn_recv_of() { hf_in srv ss -tanH state syn-recv "( sport = :$1 )" | wc -l; }

# listener_check DESC ADDR PORT TEMPLATE ARGS...: run hostflow ARGS in srv and
# compare its listener ADDR:PORT (`flows.py listener`; without --json in
# ARGS, the table's header and row of ADDR:PORT with blanks collapsed) with
# TEMPLATE, where @Q@ stands for the summed accept queue and @SYN@ for the
# SYN_RECV count, both as ss shows them. ss is read before and after
# hostflow and the comparison made only when both readings agree (retried
# for up to 5 s).
listener_check() {
	local desc=$1 addr=$2 port=$3 template=$4 expect got r1 r2 args
	shift 4
	args=("$@")
	if ! hf_have_hostflow; then
		hf_fail "$desc" "$HOSTFLOW missing"
		return 1
	fi
	__agree() {
		r1="$(queue_of "$port") $(syn_recv_of "$port")"
		hf_run_hostflow srv "${args[@]}"
		r2="$(queue_of "$port") $(syn_recv_of "$port")"
		expect=${template//@Q@/${r1% *}}
		expect=${expect//@SYN@/${r1#* }}
		got=$(hf_listener_of "$addr" "$port" "${args[@]}")
		[ "$r1" = "$r2" ] && [ "$got" = "$expect" ]
	}
	hf_wait_for 5 __agree
	[ "$r1" = "$r2" ] || hf_diag "ss figures (queue, SYN_RECV) moved from $r1 to $r2 during the last try"
	check_eq "$desc" "$expect" "$got"
}

d="r: :40050 --listen --json: sockets 2, backlog 12, accept_queue 14, per_socket 5/6 and 7/8"
t='{"accept_queue":@Q@,"addr":"0.0.0.0","backlog":@B12@,"connections":14,'
t+='"per_socket":[{"accept_queue":6,"backlog":@B5@},{"accept_queue":8,"backlog":@B7@}],'
t+='"port":40050,"sockets":2,"syn_recv":@SYN@}'
u=${t//@B12@/12}
u=${u//@B5@/5}
listener_check "$d" 0.0.0.0 40050 "${u//@B7@/7}" -n --listen --json
u=${t//@B12@/null}
u=${u//@B5@/null}
listener_check "$d [--proc]" 0.0.0.0 40050 "${u//@B7@/null}" -n --listen --json --proc

d="r: :40060 --listen --json: sockets 2, backlog 6, accept_queue 8, no per_socket"
t='{"accept_queue":@Q@,"addr":"2001:db8::1","backlog":@B@,"connections":8,'
t+='"port":40060,"sockets":2,"syn_recv":@SYN@}'
listener_check "$d" 2001:db8::1 40060 "${t//@B@/6}" -n --listen --json
listener_check "$d [--proc]" 2001:db8::1 40060 "${t//@B@/null}" -n --listen --json --proc

listener_check "r: text --listen: 0.0.0.0:40050 12 14 N 14 2" 0.0.0.0 40050 \
	$'Local Address:Port Backlog Accept-Queue SYN-Recv Connections Sockets\n0.0.0.0:40050 12 @Q@ @SYN@ 14 2' \
	-n --listen

check_eq "r: hostflow.plugin: :40050 fill 100.00 (members full), \$backlog 12" \
	"fill 10000 backlog 12" "$(hf_plugin_fill srv v4_0_0_0_0_40050)"
check_eq "r: hostflow.plugin: :40060 fill 100.00, \$backlog 6" \
	"fill 10000 backlog 6" "$(hf_plugin_fill srv v6_2001xdb8xx1_40060)"

hf_done
