#!/usr/bin/env bash
# hostflow without privilege: the inet_diag dump needs none, and
# /proc/net/tcp{,6} are world-readable, so the command run as nobody
# (setpriv: uid nobody, gid nogroup, no supplementary groups, no
# capabilities) reports exactly what root sees, through netlink and through
# /proc, and --summary says it used netlink. With -p it cannot read root's
# /proc/PID/fd: the flows are still all there, without process names, and
# it does not fail. The netdata plugin as nobody charts the same first tick
# as root.
# The binaries are copied to a directory nobody can reach (mode 755), in
# case the tree itself is not traversable by nobody.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/faults.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}

HF_PLAN=(
	"nonroot: srv kernel holds the test's sockets"
	"nonroot: root: the expected flows"
	"nonroot: nobody: the same JSON as root"
	"nonroot: nobody --proc: the same JSON as root"
	"nonroot: nobody --summary --json: backend netlink, same counts as root"
	"nonroot: nobody -p: every flow, no process, exit status 0"
	"nonroot: hostflow.plugin as nobody: the same first tick as root"
)
hf_require_netns
command -v setpriv >/dev/null || skip_all "no setpriv(1) (util-linux)"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
group=$(id -gn nobody 2>/dev/null)
getent group nogroup >/dev/null && group=nogroup

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_have_hostflow || hf_setup_failed "$HOSTFLOW missing"

BIN=$(mktemp -d "${TMPDIR:-/tmp}/hostflow-nonroot.XXXXXX") || hf_setup_failed "mktemp"
hf_on_exit rm -rf "$BIN"
chmod 755 "$BIN" && install -m 755 "$HOSTFLOW" "$BIN/hostflow" || hf_setup_failed "copy of $HOSTFLOW"
[ -x "$PLUGIN" ] && install -m 755 "$PLUGIN" "$BIN/hostflow.plugin"
mkdir -m 755 "$BIN/conf" || hf_setup_failed "config directory"
# without this, the directory above may not be reachable: check as nobody
setpriv --reuid=nobody --regid="$group" --clear-groups "$BIN/hostflow" --version >/dev/null 2>&1 ||
	hf_setup_failed "nobody cannot run $BIN/hostflow"

hf_sockgen srv lst80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "srv listener :80"
hf_sockgen srv lst443 listen --addr :: --dualstack --port 443 || hf_setup_failed "srv listener [::]:443"
hf_sockgen c1 lst8080 listen --addr 198.51.100.11 --port 8080 || hf_setup_failed "c1 listener"
hf_sockgen c1 con80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c1 con443v4 connect --to 198.51.100.1 --port 443 --count 2 || hf_setup_failed "c1 -> :443 v4"
hf_sockgen c1 con443v6 connect --to 2001:db8::1 --port 443 --count 4 || hf_setup_failed "c1 -> :443 v6"
hf_sockgen srv out connect --to 198.51.100.11 --port 8080 --count 2 || hf_setup_failed "srv -> c1:8080"
hf_wait_status lst80 accepted=3 || hf_setup_failed "srv did not accept 3 on :80"
hf_wait_status lst443 accepted=6 || hf_setup_failed "srv did not accept 6 on :443"

srv_flows="
passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:443 <- 198.51.100.11:many 2 ESTABLISHED=2
passive [2001:db8::1]:443 <- [2001:db8::11]:many 4 ESTABLISHED=4
active 198.51.100.1:many -> 198.51.100.11:8080 2 ESTABLISHED=2"

hf_check_kernel "nonroot: srv kernel holds the test's sockets" srv "$srv_flows"

# as WHO CMD...: run CMD in srv as WHO (root or nobody), 20 s limit; sets
# HF_OUT, HF_ERR, HF_RC.
as() {
	local who=$1 pre=()
	shift
	[ "$who" = nobody ] && pre=(setpriv --reuid=nobody --regid="$group" --clear-groups)
	hf_run_in srv plain 20 "${pre[@]}" "$@"
}

# check_as DESC WHO WANT ARGS...: hostflow ARGS as WHO must exit 0 and print WANT exactly.
check_as() {
	local desc=$1 who=$2 want=$3
	shift 3
	as "$who" "$BIN/hostflow" "$@"
	if [ "$HF_RC" != 0 ]; then
		hf_fail "$desc" "hostflow $* as $who exited $HF_RC" "$HF_ERR"
		return 1
	fi
	check_eq "$desc" "$want" "$HF_OUT" || hf_diag "stderr: $HF_ERR"
}

as root "$BIN/hostflow" -n --json
root_json=$HF_OUT
if [ "$HF_RC" != 0 ]; then
	hf_fail "nonroot: root: the expected flows" "hostflow -n --json as root exited $HF_RC" "$HF_ERR"
elif diff=$(printf '%s\n' "$root_json" | hf_flows_check json "$srv_flows"); then
	ok "nonroot: root: the expected flows"
else
	hf_fail "nonroot: root: the expected flows" "" "$diff"
fi
check_as "nonroot: nobody: the same JSON as root" nobody "$root_json" -n --json
check_as "nonroot: nobody --proc: the same JSON as root" nobody "$root_json" -n --json --proc

as root "$BIN/hostflow" -n --summary --json
want=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" get sockets listeners flows)
want+=$'\nbackend="netlink"'
as nobody "$BIN/hostflow" -n --summary --json
if [ "$HF_RC" != 0 ]; then
	hf_fail "nonroot: nobody --summary --json: backend netlink, same counts as root" \
		"exited $HF_RC" "$HF_ERR"
else
	check_eq "nonroot: nobody --summary --json: backend netlink, same counts as root" "$want" \
		"$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" get sockets listeners flows backend)"
fi

# -p as nobody: root's sockets have no process nobody may see
as nobody "$BIN/hostflow" -n --json -p
if [ "$HF_RC" != 0 ]; then
	hf_fail "nonroot: nobody -p: every flow, no process, exit status 0" "exited $HF_RC" "$HF_ERR"
elif diff=$(printf '%s\n' "$HF_OUT" | hf_flows_check json "$srv_flows"); then
	ok "nonroot: nobody -p: every flow, no process, exit status 0"
else
	hf_fail "nonroot: nobody -p: every flow, no process, exit status 0" "" "$diff"
fi

desc="nonroot: hostflow.plugin as nobody: the same first tick as root"
if [ ! -x "$BIN/hostflow.plugin" ]; then
	hf_fail "$desc" "$PLUGIN missing"
else
	env=(env NETDATA_USER_CONFIG_DIR="$BIN/conf" NETDATA_STOCK_CONFIG_DIR="$BIN/conf")
	as root "${env[@]}" timeout 3 "$BIN/hostflow.plugin" 60
	root_tick=$(hf_plugin_first_tick <<<"$HF_OUT")
	as nobody "${env[@]}" timeout 3 "$BIN/hostflow.plugin" 60
	nobody_tick=$(hf_plugin_first_tick <<<"$HF_OUT")
	if [ -z "$root_tick" ]; then
		hf_fail "$desc" "no first tick as root" "stderr: $HF_ERR"
	else
		check_eq "$desc" "$root_tick" "$nobody_tick" || hf_diag "stderr: $HF_ERR"
	fi
fi

hf_done
