#!/usr/bin/env bash
# hostflow.plugin (netdata), faults of its sources and of its stdout. On srv,
# known sockets (passive IPv4 and IPv6, active). The plugin is run directly,
# as netdata runs it (UPDATE_EVERY as first argument, stdout read as the
# plugins.d protocol), with an empty config directory:
#   - sock_diag refused (tests/tools/nonetlink): its first tick charts the
#     same flows and states as with netlink, labelled backend "proc";
#   - neither netlink nor /proc/net (an empty tmpfs over /proc/net in a
#     private mount namespace): it prints DISABLE, so that netdata does not
#     restart it, ends by itself and says why on stderr;
#   - netdata goes away (the reading end of its stdout closed): it exits
#     within one tick, status 0;
#   - started with stdout closed: it exits within one tick (the first
#     socket it opens must not become its stdout).
# Fails, never skips, when build/hostflow.plugin is missing.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/faults.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}

HF_PLAN=(
	"faults netdata: netlink: the first tick charts the expected flows"
	"faults netdata: netlink refused: the same flows and states, from /proc"
	"faults netdata: netlink refused: charts labelled backend proc"
	"faults netdata: neither source: prints DISABLE"
	"faults netdata: neither source: ends by itself"
	"faults netdata: neither source: stderr names /proc/net/tcp"
	"faults netdata: reader closes stdout: exits within one tick, status 0"
	"faults netdata: started with stdout closed: exits within one tick"
)
hf_require_netns

# plugin_in MODE TIMEOUT EVERY: run the plugin in srv with MODE (see
# hf_fault_prefix) as netdata would, UPDATE_EVERY EVERY, with an empty config
# directory; it is killed after TIMEOUT seconds (status 124). Sets HF_OUT,
# HF_ERR, HF_RC.
plugin_in() {
	hf_run_in srv "$1" "$2" env NETDATA_USER_CONFIG_DIR="$HF_TMP/conf" \
		NETDATA_STOCK_CONFIG_DIR="$HF_TMP/conf" "$(realpath "$PLUGIN")" "$3"
}

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
if [ ! -x "$PLUGIN" ]; then
	for d in "${HF_PLAN[@]}"; do hf_fail "$d" "$PLUGIN missing"; done
	hf_done
fi
hf_build_nonetlink || hf_setup_failed "cannot build $HF_NONETLINK: $(cat "$HF_TMP/cc.err")"
mkdir -p "$HF_TMP/conf" || hf_setup_failed "config directory"

hf_sockgen srv lst80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "srv listener :80"
hf_sockgen srv lst443 listen --addr :: --dualstack --port 443 || hf_setup_failed "srv listener [::]:443"
hf_sockgen c1 lst8080 listen --addr 198.51.100.11 --port 8080 || hf_setup_failed "c1 listener"
hf_sockgen c1 con80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c1 con443 connect --to 2001:db8::1 --port 443 --count 4 || hf_setup_failed "c1 -> :443"
hf_sockgen srv out connect --to 198.51.100.11 --port 8080 --count 2 || hf_setup_failed "srv -> c1:8080"
hf_wait_status lst80 accepted=3 || hf_setup_failed "srv did not accept 3 on :80"
hf_wait_status lst443 accepted=4 || hf_setup_failed "srv did not accept 4 on :443"

# A long UPDATE_EVERY: the runs below are cut after 3 s, the first tick is what counts.
plugin_in plain 3 60
netlink_tick=$(hf_plugin_first_tick <<<"$HF_OUT")
# the three flows, each with its connections; the rest of the values may be 0
want="hostflow.flows_active a4_198_51_100_1_many_198_51_100_11_8080 = 2
hostflow.flows_passive p4_198_51_100_1_80_198_51_100_11_many = 3
hostflow.flows_passive p6_2001xdb8xx1_443_2001xdb8xx11_many = 4"
got=$(grep -vE '(^hostflow\.states | other = )' <<<"$netlink_tick")
check_eq "faults netdata: netlink: the first tick charts the expected flows" "$want" "$got" ||
	hf_diag "stderr: $HF_ERR"

plugin_in nonetlink 3 60
proc_out=$HF_OUT
check_eq "faults netdata: netlink refused: the same flows and states, from /proc" \
	"$netlink_tick" "$(hf_plugin_first_tick <<<"$proc_out")" || hf_diag "stderr: $HF_ERR"
labels=$(grep "^CLABEL 'backend'" <<<"$proc_out" | sort -u)
check_eq "faults netdata: netlink refused: charts labelled backend proc" \
	"CLABEL 'backend' 'proc' 1" "$labels"

plugin_in neither 20 1
if grep -qx DISABLE <<<"$HF_OUT"; then
	ok "faults netdata: neither source: prints DISABLE"
else
	hf_fail "faults netdata: neither source: prints DISABLE" "no DISABLE line" \
		"stdout: $(head -5 <<<"$HF_OUT")" "stderr: $HF_ERR"
fi
if [ "$HF_RC" != 124 ]; then
	ok "faults netdata: neither source: ends by itself"
else
	hf_fail "faults netdata: neither source: ends by itself" "still running after 20 s"
fi
if [[ $HF_ERR == *"/proc/net/tcp"* ]]; then
	ok "faults netdata: neither source: stderr names /proc/net/tcp"
else
	hf_fail "faults netdata: neither source: stderr names /proc/net/tcp" "" "stderr: $HF_ERR"
fi

# reader_closes EVERY: start the plugin in srv, read its first line, close
# the pipe; print "STATUS SECONDS" (how long it lived on), or "running"
# after 10 s (then it is killed).
reader_closes() {
	"$HF_PYTHON" - "$(hf_ns srv)" "$(realpath "$PLUGIN")" "$1" "$HF_TMP/conf" <<'EOF'
import os, subprocess, sys, time
ns, plugin, every, conf = sys.argv[1:]
env = dict(os.environ, NETDATA_USER_CONFIG_DIR=conf, NETDATA_STOCK_CONFIG_DIR=conf)
p = subprocess.Popen(["ip", "netns", "exec", ns, plugin, every], stdout=subprocess.PIPE, env=env)
p.stdout.readline()
p.stdout.close()
t = time.monotonic()
try:
    rc = p.wait(10)
    print(rc, "%.1f" % (time.monotonic() - t))
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
    print("running")
EOF
}
# One tick is 2 s; it may have slept through most of one already: 3 s is within one tick plus slack.
read -r st secs <<<"$(reader_closes 2)"
if [ "$st" = 0 ] && awk -v s="$secs" 'BEGIN { exit !(s <= 3) }'; then
	ok "faults netdata: reader closes stdout: exits within one tick, status 0"
else
	hf_fail "faults netdata: reader closes stdout: exits within one tick, status 0" \
		"status ${st:-?} after ${secs:-more than 10} s (tick 2 s)"
fi

start=${EPOCHREALTIME/./}
timeout 10 ip netns exec "$(hf_ns srv)" env NETDATA_USER_CONFIG_DIR="$HF_TMP/conf" \
	NETDATA_STOCK_CONFIG_DIR="$HF_TMP/conf" "$(realpath "$PLUGIN")" 2 >&- 2>"$HF_TMP/err"
rc=$?
ms=$(((${EPOCHREALTIME/./} - start) / 1000))
if [ "$rc" != 124 ] && [ "$ms" -le 3000 ]; then
	ok "faults netdata: started with stdout closed: exits within one tick"
else
	hf_fail "faults netdata: started with stdout closed: exits within one tick" \
		"status $rc after $ms ms (tick 2 s)" \
		"stderr: $(cat "$HF_TMP/err")" \
		"(fd 1 free at start: the netlink socket the plugin opens becomes fd 1 and takes the charts)"
fi

hf_done
