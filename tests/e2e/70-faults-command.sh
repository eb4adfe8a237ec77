#!/usr/bin/env bash
# hostflow, faults of the command's sources. On srv, known sockets of every
# kind the backends must agree on: passive IPv4, passive through a
# dual-stack listener (v4-mapped and IPv6), active ESTABLISHED and active
# SYN_SENT. Then:
#   - sock_diag refused (tests/tools/nonetlink: socket(AF_NETLINK) fails
#     with EPERM, as under a seccomp policy): `hostflow -n --json` falls back
#     to /proc/net/tcp{,6} and prints byte for byte what it prints with
#     netlink; --summary says backend "proc";
#   - /proc/net hidden (an empty tmpfs over it in a private mount
#     namespace), netlink allowed: the same flows;
#   - both refused: exit status 1, nothing on stdout, and stderr names the
#     cause: the unreadable /proc/net/tcp, and netlink's refusal;
#   - stdout closed (fd 1 not open at all): exit status 1 with a write
#     error, whatever the backend. With fd 1 free, the first descriptor the
#     command opens (the netlink socket) would otherwise become its stdout.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/faults.sh"

HF_PLAN=(
	"faults: srv kernel holds the test's sockets"
	"faults: netlink: the expected flows"
	"faults: netlink refused: the same flows, from /proc"
	"faults: netlink refused: the JSON is byte for byte the one netlink gives"
	"faults: --summary --json: backend netlink when allowed"
	"faults: netlink refused: --summary --json says backend proc, same sockets and flows"
	"faults: /proc/net hidden, netlink allowed: the same flows"
	"faults: neither source: exit status 1"
	"faults: neither source: nothing on stdout"
	"faults: neither source: stderr names /proc/net/tcp and why it failed"
	"faults: neither source: stderr also says that netlink was refused"
	"faults: stdout closed: exit status 1 and a write error"
	"faults: stdout closed, --proc: exit status 1 and a write error"
)
hf_require_netns

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_build_nonetlink || hf_setup_failed "cannot build $HF_NONETLINK: $(cat "$HF_TMP/cc.err")"
hf_have_hostflow || hf_setup_failed "$HOSTFLOW missing"

hf_sockgen srv lst80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "srv listener :80"
hf_sockgen srv lst443 listen --addr :: --dualstack --port 443 || hf_setup_failed "srv listener [::]:443"
hf_sockgen c1 lst8080 listen --addr 198.51.100.11 --port 8080 || hf_setup_failed "c1 listener"
hf_sockgen c1 con80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c1 con443v4 connect --to 198.51.100.1 --port 443 --count 2 || hf_setup_failed "c1 -> :443 v4"
hf_sockgen c1 con443v6 connect --to 2001:db8::1 --port 443 --count 4 || hf_setup_failed "c1 -> :443 v6"
hf_sockgen srv out connect --to 198.51.100.11 --port 8080 --count 2 || hf_setup_failed "srv -> c1:8080"
# SYN_SENT for as long as the test runs: the peer's frames are lost on the wire
hf_blackhole srv 198.51.100.99 || hf_setup_failed "blackhole"
hf_sockgen srv syn connect --to 198.51.100.99 --port 9 --count 2 --nowait || hf_setup_failed "SYN_SENT"
hf_wait_status lst80 accepted=3 || hf_setup_failed "srv did not accept 3 on :80"
hf_wait_status lst443 accepted=6 || hf_setup_failed "srv did not accept 6 on :443"

srv_flows="
passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:443 <- 198.51.100.11:many 2 ESTABLISHED=2
passive [2001:db8::1]:443 <- [2001:db8::11]:many 4 ESTABLISHED=4
active 198.51.100.1:many -> 198.51.100.11:8080 2 ESTABLISHED=2
active 198.51.100.1:many -> 198.51.100.99:9 2 SYN_SENT=2"

hf_check_kernel "faults: srv kernel holds the test's sockets" srv "$srv_flows"

# check_flows DESC MODE: hostflow -n --json in MODE on srv against $srv_flows; keeps the JSON in JSON_<MODE>.
check_flows() {
	local desc=$1 mode=$2 diff
	hf_run_in srv "$mode" 20 "$(realpath "$HOSTFLOW")" -n --json
	printf -v "JSON_$mode" '%s' "$HF_OUT"
	if [ "$HF_RC" != 0 ]; then
		hf_fail "$desc" "hostflow -n --json ($mode) exited $HF_RC" "$HF_ERR"
		return
	fi
	if diff=$(printf '%s\n' "$HF_OUT" | hf_flows_check json "$srv_flows"); then
		ok "$desc"
	else
		hf_fail "$desc" "hostflow -n --json ($mode)" "$diff" "${HF_ERR:+stderr: $HF_ERR}"
	fi
}
JSON_plain='' JSON_nonetlink=''
check_flows "faults: netlink: the expected flows" plain
check_flows "faults: netlink refused: the same flows, from /proc" nonetlink
if [ -n "$JSON_plain" ]; then
	check_eq "faults: netlink refused: the JSON is byte for byte the one netlink gives" \
		"$JSON_plain" "$JSON_nonetlink"
else
	hf_fail "faults: netlink refused: the JSON is byte for byte the one netlink gives" \
		"no JSON from the netlink run"
fi

# summary DESC MODE WANT: --summary --json in MODE, keys sockets flows backend.
summary() {
	local desc=$1 mode=$2 want=$3 got
	hf_run_in srv "$mode" 20 "$(realpath "$HOSTFLOW")" -n --summary --json
	if [ "$HF_RC" != 0 ]; then
		hf_fail "$desc" "hostflow --summary --json ($mode) exited $HF_RC" "$HF_ERR"
		return
	fi
	got=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" get sockets listeners flows backend)
	check_eq "$desc" "$want" "$got"
}
# sockets: every socket but listeners (11 established, 2 SYN_SENT); listeners: srv's 2
summary "faults: --summary --json: backend netlink when allowed" plain \
	$'sockets=13\nlisteners=2\nflows=5\nbackend="netlink"'
summary "faults: netlink refused: --summary --json says backend proc, same sockets and flows" \
	nonetlink $'sockets=13\nlisteners=2\nflows=5\nbackend="proc"'

check_flows "faults: /proc/net hidden, netlink allowed: the same flows" noproc

hf_run_in srv neither 20 "$(realpath "$HOSTFLOW")" -n --json
if [ "$HF_RC" = 1 ]; then
	ok "faults: neither source: exit status 1"
else
	hf_fail "faults: neither source: exit status 1" "exit status $HF_RC" "stderr: $HF_ERR"
fi
check_eq "faults: neither source: nothing on stdout" "" "$HF_OUT"
if [[ $HF_ERR == *"/proc/net/tcp"*"No such file or directory"* ]]; then
	ok "faults: neither source: stderr names /proc/net/tcp and why it failed"
else
	hf_fail "faults: neither source: stderr names /proc/net/tcp and why it failed" "" \
		"stderr: $HF_ERR"
fi
# Without it, an operator reads "/proc/net/tcp: No such file" and never learns
# that netlink was tried and refused by policy, the actual fault.
if [[ $HF_ERR == *netlink*"Operation not permitted"* ]]; then
	ok "faults: neither source: stderr also says that netlink was refused"
else
	hf_fail "faults: neither source: stderr also says that netlink was refused" \
		"no 'netlink ... Operation not permitted'" "stderr: $HF_ERR"
fi

# closed_stdout DESC ARGS...: hostflow ARGS on srv with fd 1 closed.
closed_stdout() {
	local desc=$1 err rc
	shift
	timeout 20 ip netns exec "$(hf_ns srv)" "$(realpath "$HOSTFLOW")" "$@" >&- 2>"$HF_TMP/err"
	rc=$?
	err=$(cat "$HF_TMP/err")
	if [ "$rc" = 1 ] && [[ $err == *"write error"* ]]; then
		ok "$desc"
	else
		hf_fail "$desc" "exit status $rc" "stderr: $err" \
			"(with fd 1 free, the netlink socket opened first becomes fd 1 and takes the output)"
	fi
}
closed_stdout "faults: stdout closed: exit status 1 and a write error" -n --json
closed_stdout "faults: stdout closed, --proc: exit status 1 and a write error" -n --json --proc

hf_done
