# tests/lib/netns.sh: network-namespace harness for hostflow's end-to-end tests.
# shellcheck shell=bash disable=SC2317 # small functions run via hf_wait_for
#
# Source it (bash) from a test script. It gives:
#   - TAP output helpers (ok, not_ok, skip, skip_all, check_eq, hf_diag);
#   - a topology: one bridge namespace and any number of host namespaces, each
#     joined to the bridge by a veth pair, with IPv4 addresses from
#     198.51.100.0/24 and IPv6 addresses from 2001:db8::/32;
#   - background processes inside hosts (hf_bg, hf_sockgen) and waiting for
#     them (hf_wait_for, hf_wait_file, hf_wait_status);
#   - one cleanup (hf_cleanup) run on every exit path: EXIT, INT and TERM are
#     trapped when this file is sourced. A test must not set its own traps;
#     it registers extra cleanup with hf_on_exit instead;
#   - checks of what the kernel holds (hf_check_kernel, via ss) and of what
#     `hostflow` prints (hf_check_hostflow, hf_run_hostflow).
#
# Namespace names are "hf-NAME-PID-RANDOM" (PID: the test's shell), so
# parallel runs and leftovers of killed runs never clash; a test killed with
# SIGKILL cannot clean up, and its namespaces are removed by the next test
# that starts (hf_sweep_stale). Tests refer to hosts by their short NAME.
#
# After sourcing, the working directory is the repository root, HF_ROOT holds
# its path and HOSTFLOW the command under test (default build/hostflow,
# relative to the root). HF_TMP is a private directory removed at exit.
#
# Typical use (see tests/e2e/1*.sh):
#   . "$(dirname "$0")/../lib/netns.sh"
#   HF_PLAN=("a: srv kernel holds 3 connections" "a: srv shows one passive flow")
#   hf_require_netns                        # loud skip without root/netns
#   hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
#   hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
#   hf_sockgen srv lst listen --addr 0.0.0.0 --port 80 || hf_setup_failed "listener"
#   hf_sockgen c1 con connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1"
#   flows="passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3"
#   hf_check_kernel "a: srv kernel holds 3 connections" srv "$flows"
#   hf_check_hostflow "a: srv shows one passive flow" srv "$flows"
#   hf_done
#
# Environment: HOSTFLOW (the command under test), HF_PYTHON (the python3
# interpreter to use; default: the one python3 resolves to), TMPDIR.

HF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$HF_ROOT" || exit 1
HOSTFLOW=${HOSTFLOW:-build/hostflow}
HF_SOCKGEN="$HF_ROOT/tests/tools/sockgen.py"
HF_FLOWS="$HF_ROOT/tests/tools/flows.py"
# The interpreter itself, resolved once: a version-manager shim in front of
# python3 can cost far more per start than the tools do.
HF_PYTHON=${HF_PYTHON:-$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)}
HF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hostflow-e2e.XXXXXX") || exit 1

declare -A HF_NS=()     # short host name -> namespace name
declare -A HF_PID=()    # hf_sockgen tag -> pid
HF_HOSTS=()             # short host names, in creation order
HF_PIDS=()              # every background pid started by hf_bg
HF_HOOKS=()             # commands run first by hf_cleanup, last added first
HF_BRIDGE=""            # namespace holding the bridge, once created
HF_PORTS=0              # veth ports attached to the bridge so far
HF_CLEANED=0

# ---------------------------------------------------------------- TAP output
#
# A test lists its checks up front in the array HF_PLAN, so that a skip can
# name every check it did not make (skip_all), a failed setup can fail every
# check still to come (hf_setup_failed), and a check that was planned but
# never made is caught (hf_done). A check's description is its identity:
# ok/not_ok/hf_fail/skip take the same string as in HF_PLAN.

HF_PLAN=()
declare -A HF_DONE=()
HF_FAILED=0

__hf_done() { HF_DONE["$1"]=1; }

# ok DESC: one passing check.
ok() {
	__hf_done "$1"
	echo "ok - $1"
}

# not_ok DESC [DETAIL...]: one failing check; each DETAIL (may span lines)
# is printed below it as TAP diagnostics ("#   ...").
not_ok() {
	local desc=$1
	shift
	hf_fail "$desc" "" "$@"
}

# hf_fail DESC WHY [DETAIL...]: as not_ok, printed as "not ok - DESC (WHY)"
# (no parentheses when WHY is empty).
hf_fail() {
	local desc=$1 why=$2 d
	shift 2
	__hf_done "$desc"
	HF_FAILED=1
	echo "not ok - $desc${why:+ ($why)}"
	for d in "$@"; do
		[ -z "$d" ] || printf '%s\n' "$d" | sed 's/^/#   /'
	done
}

# skip DESC REASON: one check that was not made, loudly.
skip() {
	__hf_done "$1"
	echo "ok - $1 # SKIP $2"
}

# skip_all REASON [N | DESC...]: skip every check of the test and exit 0.
# With a single number N, prints N numbered skip lines; with DESCs, one per
# DESC, so the skipped checks are named; with neither, one per HF_PLAN entry.
skip_all() {
	local reason=$1 i
	shift
	[ $# -gt 0 ] || set -- "${HF_PLAN[@]}"
	if [ $# -eq 1 ] && [[ $1 =~ ^[0-9]+$ ]]; then
		for ((i = 1; i <= $1; i++)); do skip "check $i of $(basename "$0")" "$reason"; done
	else
		for i in "$@"; do skip "$i" "$reason"; done
	fi
	exit 0
}

# hf_setup_failed REASON: the test cannot go on: every HF_PLAN check not yet
# reported fails with REASON; exit 1 (cleanup runs).
hf_setup_failed() {
	local d
	[ ${#HF_PLAN[@]} -gt 0 ] || hf_fail "setup" "$1"
	for d in "${HF_PLAN[@]}"; do
		[ -n "${HF_DONE[$d]:-}" ] || hf_fail "$d" "setup failed: $1"
	done
	exit 1
}

# hf_done: end of test: every HF_PLAN check never reported fails ("never
# checked": a typo in a description, or a check skipped by mistake). Exits
# 0 when every reported check passed, 1 otherwise.
hf_done() {
	local d
	for d in "${HF_PLAN[@]}"; do
		[ -n "${HF_DONE[$d]:-}" ] || hf_fail "$d" "never checked"
	done
	exit "$HF_FAILED"
}

# hf_diag TEXT...: TAP diagnostic lines ("# TEXT"), never counted as checks.
hf_diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# check_eq DESC EXPECTED ACTUAL: passes when the two strings are equal;
# otherwise fails and prints a unified diff (expected -> actual).
check_eq() {
	local desc=$1 exp=$2 act=$3
	if [ "$exp" == "$act" ]; then
		ok "$desc"
		return 0
	fi
	not_ok "$desc" "$(diff -u --label expected --label actual \
		<(printf '%s\n' "$exp") <(printf '%s\n' "$act"))"
	return 1
}

# ------------------------------------------------------------------ cleanup

# hf_on_exit CMD...: run CMD (with its arguments) in hf_cleanup, before the
# processes are killed and the namespaces deleted. Last registered runs first.
hf_on_exit() {
	local q
	printf -v q '%q ' "$@"
	HF_HOOKS=("$q" "${HF_HOOKS[@]}")
}

# hf_cleanup: undo everything this library made: run the hooks, stop every
# background process (SIGTERM, then SIGKILL after 2 s), stop any other
# process still inside our namespaces, delete the namespaces (which removes
# the veth pairs and the bridge), remove HF_TMP. Idempotent; trapped on
# EXIT, INT and TERM.
hf_cleanup() {
	[ "$HF_CLEANED" = 1 ] && return 0
	HF_CLEANED=1
	local h pid ns deadline left
	for h in "${HF_HOOKS[@]}"; do
		eval "$h" >/dev/null 2>&1
	done
	for pid in "${HF_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	deadline=$((${EPOCHREALTIME/./} + 2000000))
	while :; do
		left=0
		for pid in "${HF_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && left=1
		done
		[ $left = 0 ] && break
		if [ "${EPOCHREALTIME/./}" -gt $deadline ]; then
			for pid in "${HF_PIDS[@]}"; do
				kill -KILL "$pid" 2>/dev/null
			done
			break
		fi
		sleep 0.02
	done
	for pid in "${HF_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for h in "${HF_HOSTS[@]}" ""; do
		if [ -n "$h" ]; then ns=${HF_NS[$h]}; else ns=$HF_BRIDGE; fi
		[ -n "$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$HF_TMP"
}

trap 'hf_cleanup' EXIT
trap 'hf_cleanup; trap - INT; kill -INT $$' INT
trap 'hf_cleanup; exit 143' TERM

# ----------------------------------------------------------------- topology

# hf_require_netns [DESC...]: make sure the test can run: root, `ip netns`,
# bridge and veth support, python3, ss. Otherwise skip_all with the reason,
# one skip line per DESC (or a count, as in skip_all; default: HF_PLAN).
# Creates the bridge namespace on success (it doubles as the probe).
hf_require_netns() {
	local err
	[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces)" "$@"
	command -v ip >/dev/null || skip_all "no ip(8) (iproute2)" "$@"
	[ -n "$HF_PYTHON" ] || skip_all "no python3" "$@"
	command -v ss >/dev/null || skip_all "no ss(8) (iproute2)" "$@"
	if ! hf_topo_init 2>"$HF_TMP/topo.err"; then
		err=$(tr '\n' ' ' <"$HF_TMP/topo.err")
		skip_all "no network namespace support: $err" "$@"
	fi
}

# hf_sweep_stale: delete the namespaces left by tests that died without
# cleaning up: names of this library's form "hf-NAME-PID-RANDOM" whose PID
# is no longer alive and that no process is inside (sockgen ends with its
# parent). No process is touched; only the names go.
hf_sweep_stale() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^hf-[a-z0-9]+-([0-9]+)-[0-9]+$ ]] || continue
		pid=${BASH_REMATCH[1]}
		[ -d "/proc/$pid" ] && continue
		[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] || continue
		ip netns del "$ns" 2>/dev/null
	done
}

# hf_topo_init: create the bridge namespace and its bridge br0 (no STP delay,
# no multicast snooping, so ARP and neighbour discovery work at once). Called
# by hf_require_netns and hf_host; safe to call again. Returns non-zero with a
# message on stderr when namespaces or bridges are not available.
hf_topo_init() {
	[ -n "$HF_BRIDGE" ] && return 0
	local ns="hf-br-$$-$RANDOM"
	hf_sweep_stale
	ip netns add "$ns" || return 1
	if ! ip -n "$ns" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0 ||
		! ip -n "$ns" link set br0 up; then
		ip netns del "$ns"
		return 1
	fi
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1
	HF_BRIDGE=$ns
}

# hf_host NAME ADDR/PLEN...: create host NAME: a namespace with lo up and
# eth0 attached to the bridge, holding each address (IPv6 when it contains
# ':', added with nodad; duplicate address detection is also off for the
# link-local address). Sets HF_NS[NAME]; `hf_ns NAME` prints it. Returns
# non-zero on any failure.
hf_host() {
	local name=$1 a port
	shift
	[[ $name =~ ^[a-z0-9]+$ ]] || { echo "hf_host: bad name '$name'" >&2; return 1; }
	[ -z "${HF_NS[$name]:-}" ] || { echo "hf_host: $name exists" >&2; return 1; }
	hf_topo_init || return 1
	local ns="hf-$name-$$-$RANDOM"
	ip netns add "$ns" || return 1
	HF_NS[$name]=$ns
	HF_HOSTS+=("$name")
	HF_PORTS=$((HF_PORTS + 1))
	port="p$HF_PORTS"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.accept_ra=0 >/dev/null || return 1
	ip -n "$HF_BRIDGE" link add "$port" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$HF_BRIDGE" link set "$port" master br0 up || return 1
	ip -n "$ns" link set lo up || return 1
	ip -n "$ns" link set eth0 up || return 1
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			ip -n "$ns" -6 addr add "$a" dev eth0 nodad || return 1
		else
			ip -n "$ns" addr add "$a" dev eth0 || return 1
		fi
	done
}

# hf_ns NAME: print the namespace name of host NAME.
hf_ns() {
	[ -n "${HF_NS[$1]:-}" ] || { echo "hf_ns: no host '$1'" >&2; return 1; }
	printf '%s\n' "${HF_NS[$1]}"
}

# hf_in NAME CMD...: run CMD inside host NAME (foreground), return its status.
hf_in() {
	local ns
	ns=$(hf_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@"
}

# hf_sysctl NAME KEY=VALUE...: set sysctls inside host NAME, e.g.
#   hf_sysctl srv net.core.somaxconn=64 "net.ipv4.ip_local_port_range=8000 60999"
hf_sysctl() {
	local ns
	ns=$(hf_ns "$1") || return 1
	shift
	ip netns exec "$ns" sysctl -qw "$@" >/dev/null
}

# hf_blackhole NAME ADDR: from host NAME, send everything for ADDR to a MAC
# address nobody has (a permanent neighbour entry), so it is lost on the
# wire while the sockets on both sides live on. Used to hold sockets in
# SYN_SENT/SYN_RECV/FIN_WAIT1/LAST_ACK for as long as a test needs.
hf_blackhole() {
	local ns
	ns=$(hf_ns "$1") || return 1
	ip -n "$ns" neigh replace "$2" lladdr 02:00:5e:00:de:ad dev eth0 nud permanent
}

# ---------------------------------------------------- processes and waiting

# hf_bg NAME CMD...: start CMD in the background inside host NAME. Its pid
# (that of CMD itself: `ip netns exec` execs it) is in HF_LAST_PID and is
# stopped by hf_cleanup. Must not be called in a subshell or $(...).
hf_bg() {
	local ns
	ns=$(hf_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@" &
	HF_LAST_PID=$!
	HF_PIDS+=("$HF_LAST_PID")
}

# hf_wait_for TIMEOUT CMD...: run CMD every 20 ms until it succeeds (returns
# 0) or TIMEOUT whole seconds have passed (returns 1). CMD may be a shell
# function; it sees the caller's local variables (bash dynamic scope), but
# must not use the names timeout and deadline.
hf_wait_for() {
	local timeout=$1 deadline
	shift
	deadline=$((${EPOCHREALTIME/./} + timeout * 1000000))
	while :; do
		"$@" && return 0
		[ "${EPOCHREALTIME/./}" -gt "$deadline" ] && return 1
		sleep 0.02
	done
}

# hf_wait_file FILE PID [TIMEOUT]: wait until FILE exists; give up early
# (return 1) when process PID has died, or after TIMEOUT (default 10) s.
hf_wait_file() {
	local file=$1 pid=$2 timeout=${3:-10}
	__hf_file_or_dead() { [ -e "$file" ] || ! kill -0 "$pid" 2>/dev/null; }
	hf_wait_for "$timeout" __hf_file_or_dead && [ -e "$file" ]
}

# hf_sockgen NAME TAG ARGS...: run tests/tools/sockgen.py ARGS inside host
# NAME (its process name is the interpreter's, e.g. python3), with
# --ready and --status files under HF_TMP, and wait until it is ready.
# HF_PID[TAG] gets its pid. Returns 1 (after a diagnostic) when it died or
# did not get ready within 20 s.
hf_sockgen() {
	local name=$1 tag=$2
	shift 2
	rm -f "$HF_TMP/$tag.ready" "$HF_TMP/$tag.status"
	hf_bg "$name" "$HF_PYTHON" "$HF_SOCKGEN" "$@" \
		--ready "$HF_TMP/$tag.ready" --status "$HF_TMP/$tag.status" || return 1
	HF_PID[$tag]=$HF_LAST_PID
	if ! hf_wait_file "$HF_TMP/$tag.ready" "$HF_LAST_PID" 20; then
		hf_diag "sockgen '$tag' in $name did not get ready: $*"
		return 1
	fi
}

# hf_status TAG: print the current status line of sockgen TAG.
hf_status() { cat "$HF_TMP/$1.status" 2>/dev/null; }

# hf_wait_status TAG KEY=VALUE... [-t TIMEOUT]: wait (default 10 s) until
# the status of sockgen TAG holds every KEY=VALUE. Returns 1 on timeout,
# after a diagnostic with the last status seen.
hf_wait_status() {
	local tag=$1 timeout=10
	shift
	local want=()
	while [ $# -gt 0 ]; do
		if [ "$1" = -t ]; then timeout=$2; shift 2; else want+=("$1"); shift; fi
	done
	__hf_status_has() {
		local s kv
		s=" $(hf_status "$tag") "
		for kv in "${want[@]}"; do
			[[ $s == *" $kv "* ]] || return 1
		done
	}
	hf_wait_for "$timeout" __hf_status_has && return 0
	hf_diag "sockgen '$tag': wanted ${want[*]}, status is: $(hf_status "$tag")"
	return 1
}

# hf_signal TAG SIG: send SIG (e.g. USR1) to sockgen TAG.
hf_signal() { kill -"$2" "${HF_PID[$1]}"; }

# ------------------------------------------------------------ flow checks
#
# Expected flows are written as canonical lines (see tests/tools/flows.py):
#   passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3
#   active [2001:db8::1]:many -> [2001:db8::11]:8080 2 ESTABLISHED=2
# one per line, in any order; the comparison is of sorted lines (a multiset).

# hf_canon: canonical flow lines of the hand-written flow lines on stdin.
hf_canon() { "$HF_PYTHON" -S "$HF_FLOWS" canon; }

# hf_flows_check KIND EXPECTED [--drop REGEX]: flows.py check KIND against
# the flow lines in the string EXPECTED, stdin as its input. Prints a diff
# and returns 1 on a difference.
hf_flows_check() {
	local kind=$1 exp="$HF_TMP/expected.$BASHPID" rc
	printf '%s\n' "$2" >"$exp"
	shift 2
	"$HF_PYTHON" -S "$HF_FLOWS" check "$kind" "$exp" "$@"
	rc=$?
	rm -f "$exp"
	return $rc
}

# hf_check_kernel DESC NAME EXPECTED [TIMEOUT]: one check that the kernel of
# host NAME holds exactly the sockets of the flow lines in EXPECTED (counts,
# states, addresses, the ports that are kept; no other non-listening
# socket), as `ss -tanH` shows them. Directions are not judged. Polls until
# it holds, up to TIMEOUT (default 10) s, so sockets in transition settle;
# prints a diff on failure. It makes sure a test set up what it meant to,
# independently of hostflow.
hf_check_kernel() {
	local desc=$1 name=$2 exp=$3 timeout=${4:-10} diff
	__hf_kernel_is() { diff=$(hf_in "$name" ss -tanH | hf_flows_check kernel "$exp"); }
	if hf_wait_for "$timeout" __hf_kernel_is; then
		ok "$desc"
		return 0
	fi
	hf_fail "$desc" "kernel of $name, ss -tan" "$diff"
	return 1
}

# hf_have_hostflow: true when $HOSTFLOW is an executable file.
hf_have_hostflow() { [ -x "$HOSTFLOW" ]; }

# hf_plugin_fill NAME ID ARGS...: run hostflow.plugin ARGS (about 2 ticks of 1 s)
# in host NAME and print "fill F backlog B" of its chart
# hostflow.listener_fill_ID: the last SET fill (percent x 100) and VARIABLE
# CHART backlog, "none" for what it did not send.
hf_plugin_fill() {
	local name=$1 id=$2
	shift 2
	hf_in "$name" env NETDATA_USER_CONFIG_DIR="$HF_TMP" NETDATA_STOCK_CONFIG_DIR="$HF_TMP" \
		timeout 1.5 "${HOSTFLOW_PLUGIN:-build/hostflow.plugin}" 1 "$@" 2>/dev/null |
		awk -v c="BEGIN hostflow.listener_fill_$id" '
			$0 == c || index($0, c " ") == 1 { on = 1; next }
			on && /^VARIABLE CHART backlog/ { b = $NF }
			on && /^SET fill / { f = $NF }
			/^END/ { on = 0 }
			END { print "fill " (f == "" ? "none" : f) " backlog " (b == "" ? "none" : b) }'
}

# hf_follow_backend: the backend a long-lived reader with Backend auto gets
# here (the plugins, --watch): "bpf" where the programs load, else "netlink".
hf_follow_backend() {
	timeout 10 "$HOSTFLOW" -n --summary --json -w1 2>/dev/null | head -n 1 |
		"$HF_PYTHON" -c 'import json, sys; print(json.loads(sys.stdin.readline())["backend"])'
}

# hf_run_hostflow NAME ARGS...: run `$HOSTFLOW ARGS` inside host NAME (20 s
# limit). Sets HF_OUT (stdout), HF_ERR (stderr) and HF_RC (exit status).
# Works for any NAME known to hf_ns; with NAME "-" it runs in the current
# namespace.
hf_run_hostflow() {
	local name=$1
	shift
	if [ "$name" = - ]; then
		HF_OUT=$(timeout 20 "$HOSTFLOW" "$@" 2>"$HF_TMP/stderr")
	else
		HF_OUT=$(hf_in "$name" timeout 20 "$HOSTFLOW" "$@" 2>"$HF_TMP/stderr")
	fi
	HF_RC=$?
	HF_ERR=$(cat "$HF_TMP/stderr")
}

# hf_watch_eq_netlink NAME FILE N0 FILTER ARGS...: at a quiet moment, the
# last document of a watcher (FILE: `hostflow --watch --json ...` output,
# one JSON document a line) against a netlink one-shot `hostflow --backend
# netlink ARGS...` run in host NAME ("-": here). First waits (up to 3 s)
# for a line past line N0 of FILE (its count when the moment became quiet:
# a document read after it); when the two differ, tries again on each of
# the next 2 lines (they read the same kernel a moment apart; HF_WATCH_TRIES
# sets how many lines in all, default 3: 1 when the first document after
# the moment must be right). FILTER is a
# jq program both documents go through first ("." for none). Both are
# normalised by what ARGS ask for: --listen: the listener objects sorted by
# namespace, address and port; --summary: sockets, listeners, flows and
# states; else the flows with connections (the others carry counters
# only), as flows.py json lines. Sets HF_NL and HF_GOT (netlink's, the
# watcher's); returns 1 when they still differ. Needs jq.
hf_watch_eq_netlink() {
	local name=$1 file=$2 n0=$3 filter=$4 try kind=flows a
	shift 4
	for a in "$@"; do
		case $a in
		--listen) kind=listen ;;
		--summary) kind=summary ;;
		esac
	done
	__hf_past_n0() { [ "$(wc -l <"$file")" -gt "$n0" ]; }
	for ((try = 1; try <= ${HF_WATCH_TRIES:-3}; try++)); do
		hf_wait_for 3 __hf_past_n0
		n0=$(wc -l <"$file")
		hf_run_hostflow "$name" --backend netlink "$@"
		HF_NL=$(printf '%s\n' "$HF_OUT" | __hf_watch_norm "$kind" "$filter")
		HF_GOT=$(tail -n 1 "$file" | __hf_watch_norm "$kind" "$filter")
		[ -n "$HF_NL" ] && [ "$HF_NL" = "$HF_GOT" ] && return 0
		[ $try = "${HF_WATCH_TRIES:-3}" ] || hf_diag "$file: line $n0 differs from netlink, next tick"
	done
	[ -n "$HF_NL" ] || HF_NL="(netlink: nothing: exit $HF_RC $HF_ERR)"
	return 1
}

# __hf_watch_norm KIND FILTER: hf_watch_eq_netlink's normal form of one document on stdin.
__hf_watch_norm() {
	case $1 in
	listen) jq -c "$2" | jq -c 'sort_by(.netns.name, .addr, .port)[]' ;;
	summary) jq -c "$2"' | {sockets, listeners, flows, states}' ;;
	*) jq -c "$2" | jq -c '[.[] | select(.connections > 0)]' | "$HF_PYTHON" -S "$HF_FLOWS" json ;;
	esac
}

# hf_listener_of ADDR PORT ARGS...: after hf_run_hostflow NAME ARGS..., print
# what hostflow said of the listener ADDR:PORT: with --json in ARGS, its
# object (`flows.py listener`); without, the --listen table's header and the
# row of ADDR:PORT (an IPv6 ADDR in brackets), blanks collapsed. Prints
# "exit RC: STDERR" instead when hostflow failed.
hf_listener_of() {
	local addr=$1 port=$2 a ep="$1:$2"
	shift 2
	[[ $addr == *:* ]] && ep="[$addr]:$port"
	if [ "$HF_RC" != 0 ]; then
		printf '%s\n' "exit $HF_RC: $HF_ERR"
		return
	fi
	for a in "$@"; do
		if [ "$a" = --json ]; then
			printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" listener "$addr" "$port"
			return
		fi
	done
	printf '%s\n' "$HF_OUT" | awk -v ep="$ep" '{ $1 = $1 } NR == 1 || $1 == ep { print }'
}

# hf_check_hostflow DESC NAME EXPECTED [ARGS...]: one check: run hostflow
# inside host NAME with ARGS (default: -n --json), turn its JSON into
# canonical lines and compare them, as a multiset, with the flow lines in
# EXPECTED. Fails (never skips) when the binary is missing, when it exits
# non-zero, or on any difference (diff printed, and hostflow's stderr if
# any). If HF_DROP is set, it is a regex (python re): lines matching it are
# left out on both sides.
hf_check_hostflow() {
	local desc=$1 name=$2 exp=$3 diff drop=()
	shift 3
	[ $# -gt 0 ] || set -- -n --json
	[ -z "${HF_DROP:-}" ] || drop=(--drop "$HF_DROP")
	if ! hf_have_hostflow; then
		hf_fail "$desc" "$HOSTFLOW missing"
		return 1
	fi
	hf_run_hostflow "$name" "$@"
	if [ "$HF_RC" != 0 ]; then
		hf_fail "$desc" "hostflow $* in $name exited $HF_RC" "$HF_ERR"
		return 1
	fi
	if diff=$(printf '%s\n' "$HF_OUT" | hf_flows_check json "$exp" "${drop[@]}"); then
		ok "$desc"
		return 0
	fi
	hf_fail "$desc" "hostflow $* in $name" "$diff" "${HF_ERR:+stderr: $HF_ERR}"
	return 1
}

# hf_check_backends DESC NAME EXPECTED [ARGS...]: two checks of the same
# expectation: hf_check_hostflow with ARGS (default -n --json), named DESC,
# and with ARGS plus --proc (the /proc/net/tcp{,6} backend), named
# "DESC [--proc]". hf_plan_backends adds both names to HF_PLAN.
hf_check_backends() {
	local desc=$1 name=$2 exp=$3
	shift 3
	[ $# -gt 0 ] || set -- -n --json
	hf_check_hostflow "$desc" "$name" "$exp" "$@"
	hf_check_hostflow "$desc [--proc]" "$name" "$exp" "$@" --proc
}

# hf_plan_backends DESC...: add DESC and "DESC [--proc]" to HF_PLAN.
hf_plan_backends() {
	local d
	for d in "$@"; do HF_PLAN+=("$d" "$d [--proc]"); done
}

# hf_listeners NAME: the listening TCP sockets of host NAME, one
# "ADDR:PORT" per line as ss prints them ("*" is a dual-stack "::"), sorted.
hf_listeners() { hf_in "$1" ss -tlnH | awk '{print $4}' | sort; }

# hf_wait_ss NAME COUNT [TIMEOUT] -- SS_FILTER...: wait (default 10 s) until
# `ss -tanH SS_FILTER...` inside host NAME lists exactly COUNT sockets, e.g.
#   hf_wait_ss srv 2 -- state close-wait '( sport = :84 )'
# Returns 1 on timeout, after a diagnostic with what ss listed last.
hf_wait_ss() {
	local name=$1 count=$2 timeout=10
	shift 2
	if [ "$1" != -- ]; then timeout=$1; shift; fi
	shift
	__hf_ss_count() { [ "$(hf_in "$name" ss -tanH "$@" | wc -l)" = "$count" ]; }
	hf_wait_for "$timeout" __hf_ss_count "$@" && return 0
	hf_diag "in $name, ss -tan $* wanted $count sockets, lists:" "$(hf_in "$name" ss -tanH "$@")"
	return 1
}

# hf_failed_connects HOST ADDR:PORT COUNT WAIT [ADDR:PORT COUNT WAIT ...]: from
# HOST, COUNT connects to each IPv4 ADDR:PORT that must fail (refused, or
# given up in SYN_SENT after WAIT seconds): the bpf backend's "failed". False
# when one connects.
hf_failed_connects() {
	local host=$1
	shift
	hf_in "$host" "$HF_PYTHON" -S -c '
import socket, sys
a = sys.argv[1:]
for i in range(0, len(a), 3):
    addr, port = a[i].rsplit(":", 1)
    for _ in range(int(a[i + 1])):
        s = socket.socket()
        s.settimeout(float(a[i + 2]))
        try:
            s.connect((addr, int(port)))
            sys.exit("connected to %s" % a[i])
        except (ConnectionRefusedError, socket.timeout):
            pass
        s.close()
' "$@"
}

# hf_skip_all_without_bpf: when the bpf backend is not built or cannot load
# here, every check of HF_PLAN is a loud skip naming why, and the test ends.
hf_skip_all_without_bpf() {
	local out d
	if ! out=$("$HOSTFLOW" --backend bpf -n 2>&1) && [[ $out == *"not built"* || $out == *"cannot load"* ]]; then
		for d in "${HF_PLAN[@]}"; do echo "ok - $d # SKIP bpf backend unavailable: $out"; done
		exit 0
	fi
}
