#!/usr/bin/env bash
# collectd plugin without privilege (issue 7): a private collectd run as
# nobody (setpriv: uid nobody, gid nogroup, no supplementary groups, no
# capabilities) with hostflow loaded writes exactly srv's flows, per-state
# values and host totals, as root's would (the inet_diag dump needs no
# privilege), and hostflow logs no error. srv holds:
#   :80   c1 keeps 3 connections                 ESTABLISHED=3
#   :80   c2 keeps 2 connections                 ESTABLISHED=2
#   srv opens 2 to c1:5432                       ESTABLISHED=2
# tests/lib/collectd.sh prepares the private directory as root; the test then
# hands it (config, plugin copies, csv, log, pid file, socket path) to nobody
# and starts the daemon through a wrapper named by COLLECTD_BIN that execs
# collectd under setpriv (same pid, so COLLECTD_PID is the daemon's).
# unixsock may warn that it cannot give its socket to root's group: that is
# collectd's own, not hostflow's, and root can still connect.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd nonroot: srv kernel holds the expected sockets"
	"collectd nonroot: the daemon runs as nobody, without capabilities"
	"collectd nonroot: every flow and per-state value, exactly"
	"collectd nonroot: host totals per state and count-flows, exactly"
	"collectd nonroot: no error from hostflow in collectd's log"
)
hf_require_netns
command -v setpriv >/dev/null || skip_all "no setpriv(1) (util-linux)"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
group=$(id -gn nobody 2>/dev/null)
getent group nogroup >/dev/null && group=nogroup
uid=$(id -u nobody) gid=$(getent group "$group" | cut -d: -f3)
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"

hf_sockgen srv l80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "listener :80"
hf_sockgen c1 l5432 listen --addr 198.51.100.11 --port 5432 || hf_setup_failed "listener c1:5432"
hf_sockgen c1 c80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c2 c80b connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "c2 -> :80"
hf_sockgen srv a5432 connect --to 198.51.100.11 --port 5432 --count 2 ||
	hf_setup_failed "srv -> c1:5432"
hf_wait_status l80 accepted=5 || hf_setup_failed "srv did not accept 5 on :80"

hf_check_kernel "${HF_PLAN[0]}" srv "
passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:80 <- 198.51.100.12:many 2 ESTABLISHED=2
active 198.51.100.1:many -> 198.51.100.11:5432 2 ESTABLISHED=2
" || hf_setup_failed "the sockets are not what the test meant to make"

# Prepared (and checked with collectd -t) as root, then handed to nobody.
collectd_prepare -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c 'LoadPlugin hostflow
<Plugin hostflow>
	ReportStates true
	MaxFlows 10
</Plugin>' >"$HF_TMP/prepare.err" 2>&1 ||
	hf_setup_failed "collectd_prepare: $(cat "$HF_TMP/prepare.err")"
chown -R "nobody:$group" "$COLLECTD_DIR" || hf_setup_failed "chown $COLLECTD_DIR to nobody"
# shellcheck disable=SC2016 # $1..$4 belong to the inner sh
setpriv --reuid=nobody --regid="$group" --clear-groups \
	sh -c 'test -r "$1" && test -r "$2" && test -w "$3" && test -w "$4"' sh \
	"$COLLECTD_CONF" "$COLLECTD_PLUGIN_DIR/hostflow.so" "$COLLECTD_DIR" "$COLLECTD_CSV_DIR" ||
	hf_setup_failed "nobody cannot use $COLLECTD_DIR"

cat >"$HF_TMP/collectd" <<EOF || hf_setup_failed "wrapper"
#!/bin/sh
exec setpriv --reuid=nobody --regid="$group" --clear-groups "$COLLECTD_BIN" "\$@"
EOF
chmod +x "$HF_TMP/collectd"
COLLECTD_BIN=$HF_TMP/collectd
collectd_start >"$HF_TMP/start.err" 2>&1 ||
	hf_setup_failed "collectd did not start as nobody: $(cat "$HF_TMP/start.err")"

# The daemon itself (not a wrapper) runs as nobody: every uid and gid, no
# supplementary group, no effective or permitted capability.
status=$(cat "/proc/$COLLECTD_PID/status" 2>/dev/null)
got=$(awk '/^(Name|Uid|Gid|Groups|CapEff|CapPrm):/ { $1 = $1; print }' <<<"$status")
want="Name: collectd
Uid: $uid $uid $uid $uid
Gid: $gid $gid $gid $gid
Groups:
CapPrm: 0000000000000000
CapEff: 0000000000000000"
check_eq "${HF_PLAN[1]}" "$want" "$got"

want_flows=$({
	collectd_flow_lines "passive-198.51.100.1:80-198.51.100.11:many" 3 ESTABLISHED=3
	collectd_flow_lines "passive-198.51.100.1:80-198.51.100.12:many" 2 ESTABLISHED=2
	collectd_flow_lines "active-198.51.100.1:many-198.51.100.11:5432" 2 ESTABLISHED=2
} | LC_ALL=C sort)
want_totals=$({
	for s in $COLLECTD_FLOW_STATES LISTEN; do
		case $s in ESTABLISHED) n=7 ;; LISTEN) n=1 ;; *) n=0 ;; esac
		echo "hostflow-all/tcp_connections-$s $n"
	done
	echo "hostflow-all/count-flows 3"
} | LC_ALL=C sort)

pick() { grep -E "$1" <<<"$snap"; }
__settled() {
	snap=$(collectd_snapshot)
	[ "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')" = "$want_flows" ] &&
		[ "$(pick '^hostflow-all/(tcp_connections|count)-')" = "$want_totals" ]
}
snap=
hf_wait_for 15 __settled
check_eq "${HF_PLAN[2]}" "$want_flows" "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')" ||
	hf_diag "$(collectd_log_tail 20)"
check_eq "${HF_PLAN[3]}" "$want_totals" "$(pick '^hostflow-all/(tcp_connections|count)-')"

# hostflow's own messages ("hostflow plugin: ..."), and collectd's about it
# (a failed read callback names plugin `hostflow'); the private directory's
# path holds "hostflow" too, so a bare match would not do.
about_hostflow=(-e 'hostflow plugin' -e "[\`\"]hostflow['\"]")
problems=$(grep -E '\[error\]' "$COLLECTD_LOG" | grep -E "${about_hostflow[@]}")
if [ -z "$problems" ]; then
	ok "${HF_PLAN[4]}"
else
	not_ok "${HF_PLAN[4]}" "$problems"
fi
others=$(grep -E '\[(error|warning)\]' "$COLLECTD_LOG" | grep -v -E "${about_hostflow[@]}")
[ -z "$others" ] || hf_diag "collectd's own complaints (not counted):" "$others"
hf_done
