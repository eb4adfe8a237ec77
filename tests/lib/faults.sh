# tests/lib/faults.sh: running hostflow's binaries with a source taken away.
# shellcheck shell=bash
#
# Source it after tests/lib/netns.sh (it uses HF_ROOT, HF_TMP and hf_ns).
# hostflow reads sockets from netlink (sock_diag) or, failing that, from
# /proc/net/tcp{,6}. A fault test takes either away, or both:
#   - netlink: tests/tools/nonetlink (built by hf_build_nonetlink) runs a
#     command with socket(AF_NETLINK) refused (EPERM, as under a seccomp
#     policy);
#   - /proc/net: an empty tmpfs over it, in a private mount namespace.
# hf_fault_prefix names the four modes, hf_run_in runs a command in one.
#
#   . "$(dirname "$0")/../lib/netns.sh"
#   . "$HF_ROOT/tests/lib/faults.sh"
#   hf_build_nonetlink || hf_setup_failed "cannot build $HF_NONETLINK: $(cat "$HF_TMP/cc.err")"
#   hf_run_in srv nonetlink 20 "$(realpath "$HOSTFLOW")" -n --json
#   check_eq "..." "$want" "$HF_OUT"

# The seccomp helper, relative to the repository root.
HF_NONETLINK=build/tools/nonetlink

# hf_build_nonetlink: compile tests/tools/nonetlink.c into HF_NONETLINK,
# atomically (tests may share build/). Returns 0, or non-zero with the
# compiler's messages in $HF_TMP/cc.err.
hf_build_nonetlink() {
	mkdir -p "${HF_NONETLINK%/*}" || return 1
	${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o "$HF_NONETLINK.$$" \
		tests/tools/nonetlink.c 2>"$HF_TMP/cc.err" && mv -f "$HF_NONETLINK.$$" "$HF_NONETLINK"
}

# hf_fault_prefix MODE: set the array HF_FAULT_PREFIX to the words that run
# the command following them with MODE:
#   plain      as is (no words)
#   nonetlink  socket(AF_NETLINK) refused
#   noproc     an empty tmpfs over /proc/net
#   neither    both
# The command keeps the pid the words were started with (each execs the
# next). /proc/net is a link to /proc/self/net: the tmpfs goes over
# /proc/PID/net of the shell that then execs the command, so the command
# itself (same pid) sees it empty. Returns 1 for an unknown MODE.
hf_fault_prefix() {
	# shellcheck disable=SC2016 # $$ and $@ belong to the inner sh
	local hide=(unshare -m --propagation private sh -c
		'mount -t tmpfs -o mode=0555,size=16k hostflow-empty "/proc/$$/net" && exec "$@"' sh)
	case $1 in
	plain) HF_FAULT_PREFIX=() ;;
	nonetlink) HF_FAULT_PREFIX=("$HF_ROOT/$HF_NONETLINK") ;;
	noproc) HF_FAULT_PREFIX=("${hide[@]}") ;;
	neither) HF_FAULT_PREFIX=("${hide[@]}" "$HF_ROOT/$HF_NONETLINK") ;;
	*) echo "faults.sh: unknown mode $1" >&2; return 1 ;;
	esac
}

# hf_run_in NAME MODE TIMEOUT CMD...: run CMD inside host NAME with MODE
# (see hf_fault_prefix), killed after TIMEOUT seconds (status 124). Sets
# HF_OUT (stdout), HF_ERR (stderr) and HF_RC (exit status), as
# hf_run_hostflow does.
# shellcheck disable=SC2034 # the three are read by the tests
hf_run_in() {
	local ns limit=$3
	ns=$(hf_ns "$1") || return 1
	hf_fault_prefix "$2" || return 1
	shift 3
	HF_OUT=$(timeout "$limit" ip netns exec "$ns" "${HF_FAULT_PREFIX[@]}" "$@" 2>"$HF_TMP/stderr")
	HF_RC=$?
	HF_ERR=$(cat "$HF_TMP/stderr")
}

# hf_plugin_first_tick: stdin is hostflow.plugin's output (the plugins.d
# protocol); print its first tick's flow and state values ("CHART DIMENSION
# = VALUE"), sorted. Later ticks begin with "BEGIN CHART MICROSECONDS".
hf_plugin_first_tick() {
	awk '/^BEGIN hostflow\.[a-z_]+ [0-9]+$/ { exit }
	     /^BEGIN / { chart = $2 }
	     /^SET / && chart ~ /^hostflow\.(flows_active|flows_passive|states)$/ { print chart, $2, $3, $4 }' |
		sort
}
