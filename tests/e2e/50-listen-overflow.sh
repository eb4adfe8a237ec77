#!/usr/bin/env bash
# shellcheck disable=SC2317 # small functions run via hf_wait_for
# hostflow --listen, listener health (issue 5): the classic experiments, one
# server namespace each (TcpExt counters are per network namespace), nothing
# ever accepted, clients from cl connecting without waiting (--nowait):
#   a  sa 0.0.0.0:40010, listen(10), 100 clients: the accept queue stops at
#      backlog + 1 = 11, later SYNs are dropped and ListenOverflows grows
#   b  sb 198.51.100.2:40020, listen(100), 100 clients: all 100 complete and
#      wait in the queue, no overflow
#   c  sc [2001:db8::3]:40030 with net.core.somaxconn 128, listen(200), 200
#      clients: the kernel uses a backlog of 128, the queue holds 129
# So that half-open connections are surely there to count, a and c first
# take 3 connections from a second client host, ch (.21, ::21), whose
# packets the server sends to a MAC nobody has: they stay in SYN_RECV.
# The kernel may hold more (handshakes caught by the full queue), so the
# expected syn_recv is the number `ss` shows in the same namespace, read
# around each run, never hard-coded.
# Each listener's object in `--listen --json` is held exactly against the
# figures; with --proc the backlog is null (unknown) and the rest the same;
# the text table shows the same figures. hostflow.plugin charts each
# listener's fill, accept queue / (backlog + 1): a 100.00, b 99.01 (one
# slot free), c 100.00, the backlog a chart variable; with Backend=proc
# (backlog unknown) it charts no fill at all.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"a: before the clients, sa's ListenOverflows in --summary --json is the kernel's"
	"a: sa kernel: 3 half-open from .21 before the clients"
	"c: sc kernel: 3 half-open from ::21 before the clients"
	"a: sa kernel: accept queue 11 of backlog 10, 11 established"
	"b: sb kernel: accept queue 100 of backlog 100, 100 established"
	"c: sc kernel: accept queue 129 of backlog 128, 129 established"
)
hf_plan_backends \
	"a: --listen --json: backlog 10, accept_queue 11, syn_recv as ss, 11 connections" \
	"b: --listen --json: backlog 100, accept_queue 100, syn_recv as ss, 100 connections" \
	"c: --listen --json: backlog 128 (somaxconn), accept_queue 129, 129 connections"
HF_PLAN+=(
	"a: text --listen: header, and the listener's line 0.0.0.0:40010 10 11 N 11 1"
	"b: text --listen: the listener's line 198.51.100.2:40020 100 100 N 100 1"
	"c: text --listen --proc: the listener's line with backlog -"
	"a: --summary --json: ListenOverflows grew, within the kernel's own readings"
	"b: --summary --json: ListenOverflows unchanged, as the kernel's"
	"c: --summary --json: ListenOverflows grew"
	"c: --summary --json: settings net.core.somaxconn is 128"
	"a: hostflow.plugin: fill 100.00 at backlog + 1, \$backlog 10"
	"b: hostflow.plugin: fill 99.01 with one slot free, \$backlog 100"
	"c: hostflow.plugin: fill 100.00, \$backlog 128 (somaxconn)"
	"c: hostflow.plugin Backend=proc: no fill chart (backlog unknown)"
)
hf_require_netns
[ -x "${HOSTFLOW_PLUGIN:-build/hostflow.plugin}" ] ||
	hf_setup_failed "hostflow.plugin missing (make build/hostflow.plugin)"

hf_host sa 198.51.100.1/24 || hf_setup_failed "host sa"
hf_host sb 198.51.100.2/24 || hf_setup_failed "host sb"
hf_host sc 198.51.100.3/24 2001:db8::3/64 || hf_setup_failed "host sc"
hf_host cl 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host cl"
hf_host ch 198.51.100.21/24 2001:db8::21/64 || hf_setup_failed "host ch"
hf_blackhole sa 198.51.100.21 || hf_setup_failed "blackhole .21 in sa"
hf_blackhole sc 2001:db8::21 || hf_setup_failed "blackhole ::21 in sc"
# sc's neighbour advertisements to ::21 are lost too: ch gets sc's MAC by hand.
sc_mac=$(ip -n "$(hf_ns sc)" -br link show eth0 | awk '{print $3}')
ip -n "$(hf_ns ch)" neigh replace 2001:db8::3 lladdr "$sc_mac" dev eth0 nud permanent ||
	hf_setup_failed "sc's MAC in ch"
# somaxconn caps the backlog when listen() is called: set it first.
hf_sysctl sc net.core.somaxconn=128 || hf_setup_failed "somaxconn 128 in sc"

hf_sockgen sa la listen --addr 0.0.0.0 --port 40010 --backlog 10 --no-accept ||
	hf_setup_failed "listener a"
hf_sockgen sb lb listen --addr 198.51.100.2 --port 40020 --backlog 100 --no-accept ||
	hf_setup_failed "listener b"
hf_sockgen sc lc listen --addr 2001:db8::3 --port 40030 --backlog 200 --no-accept --v6only ||
	hf_setup_failed "listener c"

# kernel_overflows NAME: ListenOverflows of host NAME's namespace, from the
# kernel's own /proc/net/netstat.
kernel_overflows() {
	# shellcheck disable=SC2016 # awk's own $fields
	hf_in "$1" awk '$1 == "TcpExt:" {
		if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1; next }
		for (i = 2; i <= NF; i++) if (k[i] == "ListenOverflows") print $i
	}' /proc/net/netstat
}

# hf_overflows NAME: ListenOverflows as `hostflow --summary --json` in host
# NAME reports it, or a description of what went wrong.
hf_overflows() {
	local got
	if ! hf_have_hostflow; then
		echo "$HOSTFLOW missing"
		return 1
	fi
	hf_run_hostflow "$1" -n --summary --json
	if [ "$HF_RC" != 0 ]; then
		echo "exit $HF_RC: $HF_ERR"
		return 1
	fi
	got=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" dig counters/ListenOverflows)
	got=${got#counters/ListenOverflows=}
	[[ $got =~ ^[0-9]+$ ]] || { echo "counters/ListenOverflows=$got"; return 1; }
	echo "$got"
}

ovf_a0=$(hf_overflows sa)
kovf_a0=$(kernel_overflows sa)
check_eq "a: before the clients, sa's ListenOverflows in --summary --json is the kernel's" \
	"$kovf_a0" "$ovf_a0"
ovf_b0=$(hf_overflows sb)
kovf_b0=$(kernel_overflows sb)
ovf_c0=$(hf_overflows sc)

hf_sockgen ch ha connect --to 198.51.100.1 --port 40010 --count 3 --nowait ||
	hf_setup_failed "3 half-open -> a"
hf_sockgen ch hc connect --to 2001:db8::3 --port 40030 --count 3 --nowait ||
	hf_setup_failed "3 half-open -> c"
if hf_wait_ss sa 3 -- state syn-recv '( dst 198.51.100.21 )'; then
	ok "a: sa kernel: 3 half-open from .21 before the clients"
else
	not_ok "a: sa kernel: 3 half-open from .21 before the clients"
fi
if hf_wait_ss sc 3 -- state syn-recv '( dst [2001:db8::21] )'; then
	ok "c: sc kernel: 3 half-open from ::21 before the clients"
else
	not_ok "c: sc kernel: 3 half-open from ::21 before the clients"
fi

hf_sockgen cl ca connect --to 198.51.100.1 --port 40010 --count 100 --nowait ||
	hf_setup_failed "100 clients -> a"
hf_sockgen cl cb connect --to 198.51.100.2 --port 40020 --count 100 --nowait ||
	hf_setup_failed "100 clients -> b"
hf_sockgen cl cc connect --to 2001:db8::3 --port 40030 --count 200 --nowait ||
	hf_setup_failed "200 clients -> c"

# kernel_check DESC NAME LOCAL QUEUE BACKLOG: wait (15 s) until ss in NAME
# shows the listener LOCAL with Recv-Q QUEUE (the accept queue) and Send-Q
# BACKLOG, and QUEUE established sockets on its port.
kernel_check() {
	local desc=$1 name=$2 local=$3 queue=$4 backlog=$5 expect got
	expect="$queue $backlog $local established=$queue"
	__full() {
		got="$(hf_in "$name" ss -ltnH | awk '{print $2, $3, $4}') established=$(
			hf_in "$name" ss -tanH state established "( sport = :${local##*:} )" | wc -l)"
		[ "$got" = "$expect" ]
	}
	hf_wait_for 15 __full
	check_eq "$desc" "$expect" "$got"
}
kernel_check "a: sa kernel: accept queue 11 of backlog 10, 11 established" sa 0.0.0.0:40010 11 10
kernel_check "b: sb kernel: accept queue 100 of backlog 100, 100 established" sb 198.51.100.2:40020 100 100
kernel_check "c: sc kernel: accept queue 129 of backlog 128, 129 established" sc '[2001:db8::3]:40030' 129 128

# syn_recv_of NAME PORT: half-open connections to PORT in NAME, as ss sees them.
syn_recv_of() { hf_in "$1" ss -tanH state syn-recv "( sport = :$2 )" | wc -l; }

# listener_check DESC NAME ADDR PORT TEMPLATE ARGS...: run hostflow ARGS in
# NAME and compare its listener ADDR:PORT (`flows.py listener`, or, when ARGS
# has no --json, the table row of ADDR:PORT with blanks collapsed, after the
# header) with TEMPLATE, where @SYN@ stands for the count of SYN_RECV sockets
# ss shows. ss is read before and after hostflow and the comparison is made
# only when both agree; a half-open socket may come or go meanwhile (a
# retransmitted SYN, an expiring request), so it is retried for up to 5 s.
listener_check() {
	local desc=$1 name=$2 addr=$3 port=$4 template=$5 expect got s1 s2 args
	shift 5
	args=("$@")
	if ! hf_have_hostflow; then
		hf_fail "$desc" "$HOSTFLOW missing"
		return 1
	fi
	__agree() {
		s1=$(syn_recv_of "$name" "$port")
		hf_run_hostflow "$name" "${args[@]}"
		s2=$(syn_recv_of "$name" "$port")
		expect=${template//@SYN@/$s1}
		got=$(hf_listener_of "$addr" "$port" "${args[@]}")
		[ "$s1" = "$s2" ] && [ "$got" = "$expect" ]
	}
	hf_wait_for 5 __agree
	[ "$s1" = "$s2" ] || hf_diag "ss SYN_RECV count moved from $s1 to $s2 during the last try"
	check_eq "$desc" "$expect" "$got"
	hf_diag "$desc: SYN_RECV $s1"
}

# listener_json DESC NAME ADDR PORT BACKLOG QUEUE CONNECTIONS: the JSON check
# with both backends: BACKLOG over netlink, null with --proc.
listener_json() {
	local desc=$1 name=$2 addr=$3 port=$4 backlog=$5 queue=$6 conns=$7
	local t='{"accept_queue":'$queue',"addr":"'$addr'","backlog":@B@,"connections":'$conns
	t+=',"port":'$port',"sockets":1,"syn_recv":@SYN@}'
	listener_check "$desc" "$name" "$addr" "$port" "${t//@B@/$backlog}" -n --listen --json
	listener_check "$desc [--proc]" "$name" "$addr" "$port" "${t//@B@/null}" -n --listen --json --proc
}
listener_json "a: --listen --json: backlog 10, accept_queue 11, syn_recv as ss, 11 connections" \
	sa 0.0.0.0 40010 10 11 11
listener_json "b: --listen --json: backlog 100, accept_queue 100, syn_recv as ss, 100 connections" \
	sb 198.51.100.2 40020 100 100 100
listener_json "c: --listen --json: backlog 128 (somaxconn), accept_queue 129, 129 connections" \
	sc 2001:db8::3 40030 128 129 129

head="Local Address:Port Backlog Accept-Queue SYN-Recv Connections Sockets"
listener_check "a: text --listen: header, and the listener's line 0.0.0.0:40010 10 11 N 11 1" \
	sa 0.0.0.0 40010 "$head"$'\n''0.0.0.0:40010 10 11 @SYN@ 11 1' -n --listen
listener_check "b: text --listen: the listener's line 198.51.100.2:40020 100 100 N 100 1" \
	sb 198.51.100.2 40020 "$head"$'\n''198.51.100.2:40020 100 100 @SYN@ 100 1' -n --listen
listener_check "c: text --listen --proc: the listener's line with backlog -" \
	sc 2001:db8::3 40030 "$head"$'\n''[2001:db8::3]:40030 - 129 @SYN@ 129 1' -n --listen --proc

# ListenOverflows: hostflow's reading must lie between two of the kernel's
# taken around it (the clients' retransmitted SYNs keep it growing).
kovf_a1=$(kernel_overflows sa)
ovf_a=$(hf_overflows sa)
kovf_a2=$(kernel_overflows sa)
desc="a: --summary --json: ListenOverflows grew, within the kernel's own readings"
if [[ $ovf_a =~ ^[0-9]+$ ]] && [[ $ovf_a0 =~ ^[0-9]+$ ]] && [ "$ovf_a" -gt "$ovf_a0" ] &&
	[ "$kovf_a1" -le "$ovf_a" ] && [ "$ovf_a" -le "$kovf_a2" ]; then
	ok "$desc"
	hf_diag "ListenOverflows in sa: $ovf_a0 before, $ovf_a after (kernel $kovf_a1..$kovf_a2)"
else
	not_ok "$desc" "before: $ovf_a0; after: $ovf_a; kernel around it: $kovf_a1..$kovf_a2"
fi
check_eq "b: --summary --json: ListenOverflows unchanged, as the kernel's" \
	"hostflow before=$kovf_b0 after=$kovf_b0, kernel after=$kovf_b0" \
	"hostflow before=$ovf_b0 after=$(hf_overflows sb), kernel after=$(kernel_overflows sb)"
ovf_c=$(hf_overflows sc)
desc="c: --summary --json: ListenOverflows grew"
if [[ $ovf_c =~ ^[0-9]+$ ]] && [[ $ovf_c0 =~ ^[0-9]+$ ]] && [ "$ovf_c" -gt "$ovf_c0" ]; then
	ok "$desc"
	hf_diag "ListenOverflows in sc: $ovf_c0 before, $ovf_c after"
else
	not_ok "$desc" "before: $ovf_c0; after: $ovf_c"
fi

desc="c: --summary --json: settings net.core.somaxconn is 128"
if hf_have_hostflow; then
	hf_run_hostflow sc -n --summary --json
	check_eq "$desc" "settings/net.core.somaxconn=128" \
		"$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" dig settings/net.core.somaxconn)"
else
	hf_fail "$desc" "$HOSTFLOW missing"
fi

check_eq "a: hostflow.plugin: fill 100.00 at backlog + 1, \$backlog 10" \
	"fill 10000 backlog 10" "$(hf_plugin_fill sa v4_0_0_0_0_40010)"
check_eq "b: hostflow.plugin: fill 99.01 with one slot free, \$backlog 100" \
	"fill 9901 backlog 100" "$(hf_plugin_fill sb v4_198_51_100_2_40020)"
check_eq "c: hostflow.plugin: fill 100.00, \$backlog 128 (somaxconn)" \
	"fill 10000 backlog 128" "$(hf_plugin_fill sc v6_2001xdb8xx3_40030)"
check_eq "c: hostflow.plugin Backend=proc: no fill chart (backlog unknown)" \
	"fill none backlog none" "$(hf_plugin_fill sc v6_2001xdb8xx3_40030 Backend=proc)"

hf_done
