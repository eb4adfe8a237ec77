#!/usr/bin/env bash
# The judges of hostflow's plugins, checked on their own: a private collectd
# (tests/lib/collectd.sh) and a private netdata (tests/lib/netdata.sh) start
# inside a network namespace made here, see that namespace's sockets, and
# answer through the interfaces the plugin tests read (collectd's unix
# socket and csv files, netdata's API and health). Uses only stock collectd
# plugins and a throwaway netdata plugin written below, so it runs before
# anything of hostflow is built.
#
# In the namespace a holder process keeps 3 TCP connections open on
# loopback: 6 ESTABLISHED sockets (both ends), 1 LISTEN socket, nothing
# else until the daemons' own API traffic.
#
# Prints TAP lines; as non-root every check is "ok - ... # SKIP not root".
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/collectd.sh
. "$here/../lib/collectd.sh"
# shellcheck source=tests/lib/netdata.sh
. "$here/../lib/netdata.sh"

skip=''
[ "$(id -u)" -eq 0 ] || skip="not root"
blocked=''
ns=''
holder=''
work=$(mktemp -d "${TMPDIR:-/tmp}/hostflow-05.XXXXXX") || exit 1
out=$work/check.out

cleanup() {
	collectd_stop
	netdata_stop
	if [ -n "$holder" ]; then
		kill "$holder" 2>/dev/null
		wait "$holder" 2>/dev/null
	fi
	[ -z "$ns" ] || ip netns del "$ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# check DESC CMD...: run CMD in this shell and print one TAP line. Its
# output is shown as "# " lines when it fails. Skipped as a whole without
# root; "not ok" without running when a step it needs failed ($blocked).
check() {
	local desc=$1
	shift
	if [ -n "$skip" ]; then
		echo "ok - $desc # SKIP $skip"
		return 0
	fi
	if [ -n "$blocked" ]; then
		echo "not ok - $desc"
		echo "# not run: $blocked"
		return 1
	fi
	if "$@" >"$out" 2>&1; then
		echo "ok - $desc"
		return 0
	fi
	echo "not ok - $desc"
	sed 's/^/# /' "$out"
	return 1
}

# in_ns PID: true when process PID runs in network namespace $ns.
in_ns() {
	[ "$(stat -L -c %i "/proc/$1/ns/net")" = "$(stat -L -c %i "/run/netns/$ns")" ]
}

make_ns() {
	local i
	for ((i = 0; i < 5; i++)); do
		# hf-NAME-PID-RANDOM: the form tests/lib/netns.sh sweeps once PID
		# is gone, should this test be killed before its trap runs.
		ns=hf-d-$$-$RANDOM
		ip netns add "$ns" 2>/dev/null && break
		ns=''
	done
	[ -n "$ns" ] && ip netns exec "$ns" ip link set lo up
}

# start_holder: 3 loopback connections kept open in $ns for at most 120 s;
# their server port goes to $work/port.
start_holder() {
	local i
	ip netns exec "$ns" "$HF_PYTHON" -c '
import os, socket, sys, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
port = srv.getsockname()[1]
clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
accepted = [srv.accept()[0] for _ in range(3)]
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
' "$work/port" </dev/null >"$work/holder.out" 2>&1 &
	holder=$!
	for ((i = 0; i < 100; i++)); do
		[ -s "$work/port" ] && return 0
		sleep 0.1
	done
	cat "$work/holder.out"
	return 1
}

collectd_numeric() {
	collectd_value "$1" "$2" | grep -E '^[0-9.]+(e[-+][0-9]+)?$'
}

# csv_has IDENT: the csv plugin wrote a data line for IDENT under DataDir.
csv_has() {
	local f=("$COLLECTD_CSV_DIR/$1"-*)
	[ -e "${f[0]}" ] || { echo "no $COLLECTD_CSV_DIR/$1-*"; return 1; }
	tail -n 1 "${f[0]}" | grep -E '^[0-9.]+,[0-9.e+-]+$'
}

collectd_gone() {
	local pid=$COLLECTD_PID dir=$COLLECTD_DIR
	collectd_stop
	[ ! -e "/proc/$pid" ] || { echo "collectd $pid still runs"; return 1; }
	[ ! -e "$dir" ] || { echo "$dir still there"; return 1; }
}

check "network namespace made, lo up" make_ns || blocked="no network namespace"
check "3 loopback connections held in the namespace" start_holder ||
	blocked=${blocked:-"no connections held"}

#
# collectd
#
cblocked=$blocked
check "private collectd starts in the namespace" \
	collectd_start -n "$ns" -i 1 -p tcpconns -p load -c '
<Plugin tcpconns>
	ListeningPorts false
	AllPortsSummary true
</Plugin>' || blocked=${blocked:-"collectd did not start"}
check "collectd runs in the namespace" in_ns "$COLLECTD_PID"
check "LISTVAL lists tcpconns values" \
	collectd_wait_ident '^testhost/tcpconns-all/tcp_connections-ESTABLISHED$' 15
check "GETVAL: tcpconns counts the namespace's 6 ESTABLISHED sockets" \
	collectd_wait_value testhost/tcpconns-all/tcp_connections-ESTABLISHED 6 15
check "GETVAL: tcpconns counts the namespace's 1 LISTEN socket" \
	collectd_wait_value testhost/tcpconns-all/tcp_connections-LISTEN 1 15
check "GETVAL: load returns numbers" collectd_numeric testhost/load/load shortterm
check "GETVAL of an unknown identifier fails" eval '! collectd_getval testhost/none/none'
check "csv plugin writes tcpconns values into the private DataDir" \
	csv_has testhost/tcpconns-all/tcp_connections-ESTABLISHED
check "collectd -T reads every plugin once and exits 0" collectd_read_once 30
check "collectd stops, its directory is removed" collectd_gone
blocked=$cblocked

#
# netdata, with a throwaway external plugin and health templates
#
cat >"$work/test.plugin" <<'EOF'
#!/bin/sh
# Throwaway netdata plugin of tests/e2e/05-daemons.sh: fixed values, and
# the count of ESTABLISHED TCP sockets on the holder's port, as netdata's
# network namespace sees them.
every=${1:-1}
conf=${NETDATA_USER_CONFIG_DIR:-/nonexistent}/hftest.conf
if ! . "$conf"; then
	echo "test.plugin: cannot read $conf" >&2
	exit 1
fi
env >"$envfile"
echo "test.plugin: started, update every $every, port $port" >&2
hexport=:$(printf '%04X' "$port")
echo "CHART hftest.values '' 'hostflow harness test values' 'count' 'hftest' 'hftest.values' line 1000 $every"
echo "DIMENSION ten '' absolute 1 1"
echo "DIMENSION seven '' absolute 1 1"
echo "DIMENSION held '' absolute 1 1"
while :; do
	held=$(awk -v p="$hexport" '$4 == "01" && (substr($2, length($2) - 4) == p || substr($3, length($3) - 4) == p)' \
		/proc/net/tcp /proc/net/tcp6 | wc -l)
	printf 'BEGIN hftest.values\nSET ten = 10\nSET seven = 7\nSET held = %s\nEND\n' "$held"
	sleep "$every"
done
EOF
cat >"$work/hftest.conf" <<EOF
port=$(cat "$work/port" 2>/dev/null)
envfile=$work/plugin.env
EOF
mkdir -p "$work/health.d"
cat >"$work/health.d/hftest.conf" <<'EOF'
 template: hftest_ten_high
       on: hftest.values
   lookup: max -1s unaligned of ten
    every: 1s
     warn: $this > 5
     info: hostflow harness alarm that must raise

 template: hftest_seven_high
       on: hftest.values
   lookup: max -1s unaligned of seven
    every: 1s
     warn: $this > 100
     info: hostflow harness alarm that must stay clear
EOF

# plugin_env_is VAR VALUE: the plugin got VAR=VALUE from netdata.
plugin_env_is() {
	grep -qxF -- "$1=$2" "$work/plugin.env" || {
		grep "^$1=" "$work/plugin.env" || echo "$1 not set"
		return 1
	}
}

plugin_env() {
	netdata_wait_until 10 test -s "$work/plugin.env" &&
		plugin_env_is NETDATA_USER_CONFIG_DIR "$ND_CONFIG_DIR" &&
		plugin_env_is NETDATA_STOCK_CONFIG_DIR /usr/lib/netdata/conf.d &&
		plugin_env_is NETDATA_PLUGINS_DIR "$ND_PLUGINS_DIR" &&
		plugin_env_is NETDATA_UPDATE_EVERY 1
}

plugin_stderr_logged() {
	netdata_wait_until 10 grep -qF 'test.plugin: started, update every 1, port' "$(netdata_error_log)"
}

alarm_listed() {
	netdata_wait_until 20 netdata_alarm_status "$1" && netdata_alarm_status "$1"
}

raised_listed() {
	netdata_json api/v1/alarms 'a[0] in d["alarms"] or exit("raised: %s" % list(d["alarms"]))' "$1"
}

netdata_gone() {
	local pid=$ND_PID dir=$ND_DIR
	netdata_stop
	# Zombies do not count: init reaps them once netdata is gone.
	if ps -e -o pgid=,stat=,pid=,args= | awk -v g="$pid" '$1 == g && $2 !~ /^Z/' | grep .; then
		return 1
	fi
	[ ! -e "$dir" ] || { echo "$dir still there"; return 1; }
}

check "private netdata starts in the namespace" \
	netdata_start -n "$ns" -P "$work/test.plugin" -H "$work/health.d" -f "$work/hftest.conf" ||
	blocked=${blocked:-"netdata did not start"}
check "netdata runs in the namespace" in_ns "$ND_PID"
check "/api/v1/charts lists test.plugin's chart" netdata_wait_chart hftest.values 30
check "/api/v1/data: ten = 10" netdata_wait_value hftest.values ten 10 20
check "/api/v1/data: seven = 7" netdata_wait_value hftest.values seven 7 5
check "/api/v1/data: the plugin sees the namespace's 6 held sockets" \
	netdata_wait_value hftest.values held 6 20
check "plugin gets NETDATA_USER_CONFIG_DIR, _STOCK_CONFIG_DIR, _PLUGINS_DIR, _UPDATE_EVERY" plugin_env
check "plugin stderr lands in error.log" plugin_stderr_logged
check "/api/v1/alarms?all lists the private template hftest_ten_high" alarm_listed hftest_ten_high
check "hftest_ten_high (ten > 5) raises WARNING" netdata_wait_alarm hftest_ten_high WARNING 30
check "/api/v1/alarms lists the raised hftest.values.hftest_ten_high" \
	raised_listed hftest.values.hftest_ten_high
check "hftest_seven_high (seven > 100) stays CLEAR" netdata_wait_alarm hftest_seven_high CLEAR 20
check "netdata and its plugin stop, its directory is removed" netdata_gone
exit 0
