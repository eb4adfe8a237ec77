#!/usr/bin/env bash
# collectd plugin: a read that fails is reported to collectd every time
# (collectd then suspends the plugin, here for MaxReadInterval 2 s at most)
# but logged once per cause, and once more when reading works again.
# collectd runs in a mount namespace of its own where a directory of ours
# is bound over /proc, and hostflow reads /proc (Backend proc):
#   1. net/tcp holds a malformed line
#   2. net/tcp is fixed, net/tcp6 is broken: a new cause
#   3. the real /proc comes back (umount): reading works again
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd failure: a failing read is logged once, however often it fails"
	"collectd failure: a new cause is logged once more"
	"collectd failure: reading again is logged once, and values are dispatched again"
	"collectd failure: collectd ran on throughout"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
for t in unshare nsenter; do
	command -v $t >/dev/null || skip_all "no $t (util-linux)"
done
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 || hf_setup_failed "listener :80"

# The /proc collectd sees: what hostflow reads, copied from srv's.
fake=$HF_TMP/proc
mkdir -p "$fake/net" "$fake/sys/net/ipv4" "$fake/sys/net/core" || hf_setup_failed "mkdir"
for f in net/tcp net/tcp6 net/netstat sys/net/ipv4/ip_local_port_range sys/net/core/somaxconn \
	sys/net/ipv4/tcp_max_syn_backlog sys/net/ipv4/tcp_syncookies; do
	hf_in srv cat "/proc/$f" >"$fake/$f" || hf_setup_failed "copy /proc/$f"
done
cp "$fake/net/tcp" "$HF_TMP/tcp.good"
cp "$fake/net/tcp6" "$HF_TMP/tcp6.good"
echo "   0: this is not a socket" >>"$fake/net/tcp"

# collectd, started by tests/lib/collectd.sh through this wrapper (same pid).
cat >"$HF_TMP/collectd" <<EOF || hf_setup_failed "wrapper"
#!/bin/sh
exec unshare -m sh -c 'mount --bind "\$0" /proc && exec "$COLLECTD_BIN" "\$@"' "$fake" "\$@"
EOF
chmod +x "$HF_TMP/collectd"
COLLECTD_BIN=$HF_TMP/collectd
collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c 'MaxReadInterval 2
LoadPlugin hostflow
<Plugin hostflow>
	Backend proc
</Plugin>' >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

count() { grep -c -F -- "$1" "$COLLECTD_LOG"; }
suspended() { grep -c "read-function of plugin \`hostflow' failed" "$COLLECTD_LOG"; }
at_least() { [ "$(suspended)" -ge "$1" ]; }

ERR_TCP='hostflow plugin: collection failed: /proc/net/tcp: malformed line'
ERR_TCP6='hostflow plugin: collection failed: /proc/net/tcp6: malformed line'
hf_wait_for 15 at_least 3
n=$(suspended)
if [ "$n" -ge 3 ] && [ "$(count "$ERR_TCP")" = 1 ]; then
	ok "${HF_PLAN[0]}"
else
	not_ok "${HF_PLAN[0]}" "$n failed reads; lines with '$ERR_TCP': $(count "$ERR_TCP")" \
		"$(collectd_log_tail 20)"
fi

cp "$HF_TMP/tcp.good" "$fake/net/tcp"
echo "   0: nor is this" >>"$fake/net/tcp6"
hf_wait_for 15 at_least $((n + 3))
if [ "$(count "$ERR_TCP6")" = 1 ] && [ "$(count "$ERR_TCP")" = 1 ] &&
	[ "$(grep -c 'hostflow plugin: collection failed' "$COLLECTD_LOG")" = 2 ]; then
	ok "${HF_PLAN[1]}"
else
	not_ok "${HF_PLAN[1]}" "$(collectd_log_tail 20)"
fi

nsenter -t "$COLLECTD_PID" -m umount /proc || hf_setup_failed "umount the fake /proc"
if collectd_wait_ident '^testhost/hostflow-listen-198\.51\.100\.1:80/queue_length-accept$' 15 \
	>/dev/null 2>&1 && sleep 2.2 && [ "$(count 'hostflow plugin: collecting again')" = 1 ] &&
	[ "$(grep -c 'hostflow plugin: collection failed' "$COLLECTD_LOG")" = 2 ]; then
	ok "${HF_PLAN[2]}"
else
	not_ok "${HF_PLAN[2]}" "$(collectd_log_tail 20)"
fi

if [ -n "$COLLECTD_PID" ] && kill -0 "$COLLECTD_PID" 2>/dev/null && collectd_cmd LISTVAL >/dev/null; then
	ok "${HF_PLAN[3]}"
else
	not_ok "${HF_PLAN[3]}" "$(collectd_log_tail 20)"
fi
hf_done
