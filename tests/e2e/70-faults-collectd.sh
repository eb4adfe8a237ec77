#!/usr/bin/env bash
# hostflow.so (collectd), faults of its sources, judged by a private collectd
# 5.12 (tests/lib/collectd.sh) in srv's namespace, with known sockets on srv:
#   - sock_diag refused (tests/tools/nonetlink wraps the daemon): collectd
#     holds the same hostflow values as with netlink;
#   - neither netlink nor /proc/net (the daemon also runs under an empty
#     tmpfs over /proc/net, in a private mount namespace): the read fails,
#     so collectd suspends it and retries later (its own "Will suspend"
#     warnings), the plugin logs the cause, naming /proc/net/tcp, once and
#     not at every failed read, and collectd keeps running and answering.
# Fails, never skips, when build/hostflow.so or tests/lib/collectd.sh is
# missing.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/faults.sh"

SO=${HOSTFLOW_SO:-build/hostflow.so}

HF_PLAN=(
	"faults collectd: netlink: the flows' values"
	"faults collectd: netlink refused: the same values"
	"faults collectd: netlink refused: the plugin says it reads /proc"
	"faults collectd: neither source: the read fails and collectd suspends it"
	"faults collectd: neither source: the log names /proc/net/tcp"
	"faults collectd: neither source: the cause is logged once, not at every failed read"
	"faults collectd: neither source: collectd keeps running and answering"
)
hf_require_netns

missing=''
[ -f "$SO" ] || missing="$SO missing"
[ -f tests/lib/collectd.sh ] || missing="${missing:+$missing, }tests/lib/collectd.sh missing"
if [ -n "$missing" ]; then
	for d in "${HF_PLAN[@]}"; do hf_fail "$d" "$missing"; done
	hf_done
fi
. tests/lib/collectd.sh
hf_on_exit collectd_stop
REAL_COLLECTD=$COLLECTD_BIN

# wrapper FILE MODE: an executable FILE that runs collectd with MODE (see
# hf_fault_prefix: nonetlink, or neither). collectd keeps the pid the
# wrapper was started with, which is what /proc/net is hidden for, and what
# collectd.sh records as the daemon's pid.
wrapper() {
	hf_fault_prefix "$2" || return 1
	{
		printf '#!/bin/sh\n# collectd for a hostflow fault test: %s\nexec' "$2"
		printf ' %q' "${HF_FAULT_PREFIX[@]}" "$REAL_COLLECTD"
		printf ' "$@"\n'
	} >"$1" && chmod 755 "$1"
}

# values: every hostflow identifier the daemon holds with its value
# ("testhost/hostflow-.../TYPE-INST VALUE"), sorted; nothing before the
# first read.
# The bpf backend's counters (connections-opened/closed/failed), which a
# read through netlink or /proc does not have, are left out.
values() {
	local id
	for id in $(collectd_listval 2>/dev/null | grep '^[^/]*/hostflow' | grep -v '/connections-'); do
		printf '%s %s\n' "$id" "$(collectd_value "$id" 2>/dev/null)"
	done
}

# settled: VALUES gets values(); true when they are there and the same as one read ago.
settled() {
	local before
	before=$(values)
	[ -n "$before" ] || return 1
	sleep 1.2
	VALUES=$(values)
	[ "$VALUES" = "$before" ]
}

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_build_nonetlink || hf_setup_failed "cannot build $HF_NONETLINK: $(cat "$HF_TMP/cc.err")"
wrapper "$HF_TMP/collectd-nonetlink" nonetlink || hf_setup_failed "wrapper"
wrapper "$HF_TMP/collectd-neither" neither || hf_setup_failed "wrapper"

hf_sockgen srv lst80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "srv listener :80"
hf_sockgen srv lst443 listen --addr :: --dualstack --port 443 || hf_setup_failed "srv listener [::]:443"
hf_sockgen c1 lst8080 listen --addr 198.51.100.11 --port 8080 || hf_setup_failed "c1 listener"
hf_sockgen c1 con80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c1 con443 connect --to 2001:db8::1 --port 443 --count 4 || hf_setup_failed "c1 -> :443"
hf_sockgen srv out connect --to 198.51.100.11 --port 8080 --count 2 || hf_setup_failed "srv -> c1:8080"
hf_wait_status lst80 accepted=3 || hf_setup_failed "srv did not accept 3 on :80"
hf_wait_status lst443 accepted=4 || hf_setup_failed "srv did not accept 4 on :443"

conf='LoadPlugin hostflow
<Plugin hostflow>
	ReportListeners false
</Plugin>'
# daemon MODE: (re)start the private collectd in srv, through the MODE wrapper (or none: plain).
daemon() {
	collectd_stop
	COLLECTD_BIN=$REAL_COLLECTD
	[ "$1" = plain ] || COLLECTD_BIN=$HF_TMP/collectd-$1
	collectd_start -n "$(hf_ns srv)" -i 1 -p "$SO" -c "$conf" >"$HF_TMP/start.err" 2>&1 ||
		hf_setup_failed "collectd ($1) did not start: $(cat "$HF_TMP/start.err")"
}

# the same values, with and without netlink
daemon plain
VALUES=''
hf_wait_for 20 settled
netlink_values=$VALUES
# 3, 4 and 2 connections: the three flows
if grep -q ' 3\.0*e+00$' <<<"$netlink_values" && grep -q ' 4\.0*e+00$' <<<"$netlink_values" &&
	grep -q ' 2\.0*e+00$' <<<"$netlink_values"; then
	ok "faults collectd: netlink: the flows' values"
else
	hf_fail "faults collectd: netlink: the flows' values" "no values 3, 4 and 2" \
		"values: $netlink_values" "$(collectd_log_tail 10)"
fi
daemon nonetlink
same() { VALUES=$(values); [ "$VALUES" = "$netlink_values" ]; }
hf_wait_for 20 same
check_eq "faults collectd: netlink refused: the same values" "$netlink_values" "$VALUES"
if grep -q 'hostflow plugin: .*through proc' "$(collectd_log)"; then
	ok "faults collectd: netlink refused: the plugin says it reads /proc"
else
	hf_fail "faults collectd: netlink refused: the plugin says it reads /proc" "" \
		"$(collectd_log_tail 10)"
fi

# neither source: a daemon at a 1 s interval, for long enough to fail several reads
daemon neither
log=$(collectd_log)
# collectd suspends a failing read for 2, 4, 8 s ...: in 8 s, three or four reads fail
suspended() { [ "$(grep -c "read-function of plugin \`hostflow' failed" "$log")" -ge 3 ]; }
if hf_wait_for 20 suspended; then
	ok "faults collectd: neither source: the read fails and collectd suspends it"
else
	hf_fail "faults collectd: neither source: the read fails and collectd suspends it" \
		"fewer than 3 failed reads in 20 s" "$(collectd_log_tail 20)"
fi
ours=$(grep 'hostflow plugin:' "$log")
if grep -q '/proc/net/tcp' <<<"$ours"; then
	ok "faults collectd: neither source: the log names /proc/net/tcp"
else
	hf_fail "faults collectd: neither source: the log names /proc/net/tcp" "" "$ours"
fi
nfail=$(grep -c "read-function of plugin \`hostflow' failed" "$log")
ncause=$(grep -c 'hostflow plugin:.*/proc/net/tcp' <<<"$ours")
if [ "$ncause" = 1 ] && [ "$nfail" -ge 3 ]; then
	ok "faults collectd: neither source: the cause is logged once, not at every failed read"
else
	hf_fail "faults collectd: neither source: the cause is logged once, not at every failed read" \
		"logged $ncause times for $nfail failed reads" "$ours"
fi
if kill -0 "$COLLECTD_PID" 2>/dev/null && collectd_listval >/dev/null 2>"$HF_TMP/lv.err"; then
	ok "faults collectd: neither source: collectd keeps running and answering"
else
	hf_fail "faults collectd: neither source: collectd keeps running and answering" "" \
		"$(cat "$HF_TMP/lv.err")" "$(collectd_log_tail 20)"
fi

hf_done
