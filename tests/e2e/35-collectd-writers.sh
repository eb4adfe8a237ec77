#!/usr/bin/env bash
# collectd plugin: identifiers as the stock writers carry them. One collectd
# in srv sends hostflow's values to write_prometheus, to write_graphite (a
# carbon stand-in on 127.0.0.1 keeps the lines) and through the network
# plugin to a second collectd, which has no meta data and no TypesDB of
# hostflow's own: each shows the IPv4 flow (its peer grouped by PeerPrefix4
# 24), the IPv6 flow and a listener as collectd-hostflow(5) says.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd writers: write_prometheus labels carry the identifiers whole"
	"collectd writers: write_graphite paths, with '.' and ':' escaped as '_'"
	"collectd writers: the network plugin carries the identifiers to another collectd"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

# write_prometheus needs libmicrohttpd and libprotobuf-c, which
# collectd-core only suggests.
prom_missing=$(ldd /usr/lib/collectd/write_prometheus.so 2>&1 | awk '/not found/ {print $1}' | tr '\n' ' ')

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 || hf_setup_failed "listener :80"
hf_sockgen srv l443 listen --addr 2001:db8::1 --port 443 || hf_setup_failed "listener :443"
hf_sockgen c1 c80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c1 c443 connect --to 2001:db8::1 --port 443 --count 2 || hf_setup_failed "c1 -> :443"

# carbon stand-in: keeps every line write_graphite sends
hf_bg srv "$HF_PYTHON" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 2003))
s.listen(4)
open(sys.argv[1] + ".ready", "w").close()
c, _ = s.accept()
with open(sys.argv[1], "ab") as f:
    while True:
        d = c.recv(65536)
        if not d:
            break
        f.write(d)
        f.flush()
' "$HF_TMP/graphite" || hf_setup_failed "carbon stand-in"
hf_wait_file "$HF_TMP/graphite.ready" "$HF_LAST_PID" || hf_setup_failed "carbon stand-in not ready"

prom_conf=
plugins=(-p build/hostflow.so -p write_graphite -p network)
if [ -z "$prom_missing" ]; then
	plugins+=(-p write_prometheus)
	prom_conf='LoadPlugin write_prometheus
<Plugin write_prometheus>
	Host "127.0.0.1"
	Port "9103"
</Plugin>'
fi
collectd_start -n "$(hf_ns srv)" -i 1 "${plugins[@]}" -c "LoadPlugin hostflow
<Plugin hostflow>
	PeerPrefix4 24
</Plugin>
LoadPlugin write_graphite
<Plugin write_graphite>
	<Node \"carbon\">
		Host \"127.0.0.1\"
		Port \"2003\"
		Protocol \"tcp\"
	</Node>
</Plugin>
LoadPlugin network
<Plugin network>
	Server \"127.0.0.1\" \"25826\"
</Plugin>
$prom_conf" >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

# The receiving collectd: network and csv only, the stock types.db.
rx=$HF_TMP/rx
mkdir -p "$rx/csv" || hf_setup_failed "mkdir"
cat >"$rx/collectd.conf" <<EOF
Hostname "receiver"
FQDNLookup false
BaseDir "$rx"
PIDFile "$rx/collectd.pid"
PluginDir "$COLLECTD_PLUGIN_DIR"
TypesDB "$COLLECTD_TYPES_DB"
Interval 1
LoadPlugin logfile
<Plugin logfile>
	File "$rx/collectd.log"
</Plugin>
LoadPlugin network
<Plugin network>
	Listen "127.0.0.1" "25826"
</Plugin>
LoadPlugin csv
<Plugin csv>
	DataDir "$rx/csv"
</Plugin>
EOF
hf_bg srv "$COLLECTD_BIN" -f -C "$rx/collectd.conf" </dev/null >"$rx/out" 2>&1 ||
	hf_setup_failed "receiving collectd"

v4="passive-198.51.100.1:80-198.51.100.0_24:many"
v6="passive-[2001:db8::1]:443-[2001:db8::11]:many"
lst="listen-[2001:db8::1]:443"

# write_prometheus: plugin instance as label "hostflow", type instance as "type".
want_prom="collectd_hostflow_queue_length{hostflow=\"$lst\",type=\"backlog\",instance=\"testhost\"} 128
collectd_hostflow_tcp_connections{hostflow=\"$v4\",type=\"total\",instance=\"testhost\"} 3
collectd_hostflow_tcp_connections{hostflow=\"$v6\",type=\"total\",instance=\"testhost\"} 2"
prom() {
	hf_in srv curl -s --max-time 5 http://127.0.0.1:9103/metrics 2>/dev/null |
		grep -F -e "\"$v4\"" -e "\"$v6\"" -e "\"$lst\",type=\"backlog\"" |
		grep -E 'type="(total|backlog)"' | sed 's/ [0-9]*$//' | LC_ALL=C sort
}
if [ -n "$prom_missing" ]; then
	skip "${HF_PLAN[0]}" "write_prometheus.so cannot load: missing $prom_missing(apt-get install libmicrohttpd12 libprotobuf-c1)"
else
	__prom() { got_prom=$(prom); [ "$got_prom" = "$want_prom" ]; }
	got_prom=
	hf_wait_for 10 __prom
	check_eq "${HF_PLAN[0]}" "$want_prom" "$got_prom"
fi

# write_graphite 5.12: HOST.PLUGIN-INST.TYPE-INST VALUE TIME, with '.', ':'
# (and other characters graphite treats specially) as EscapeCharacter "_".
want_graphite="testhost.hostflow-listen-[2001_db8__1]_443.queue_length-backlog 128
testhost.hostflow-passive-198_51_100_1_80-198_51_100_0_24_many.tcp_connections-total 3
testhost.hostflow-passive-[2001_db8__1]_443-[2001_db8__11]_many.tcp_connections-total 2"
graphite() {
	grep -E '^testhost\.hostflow-(passive-(198_51_100_1_80|\[2001_db8__1\]_443)-[^ ]*\.tcp_connections-total|listen-\[2001_db8__1\]_443\.queue_length-backlog) ' \
		"$HF_TMP/graphite" 2>/dev/null | awk '{print $1, $2}' | LC_ALL=C sort -u
}
__graphite() { got_graphite=$(graphite); [ "$got_graphite" = "$want_graphite" ]; }
got_graphite=
hf_wait_for 10 __graphite
check_eq "${HF_PLAN[1]}" "$want_graphite" "$got_graphite"

# network: the receiver's csv files, named by the identifiers it got.
want_net="testhost/hostflow-$lst/queue_length-backlog
testhost/hostflow-$v4/tcp_connections-total
testhost/hostflow-$v6/tcp_connections-total"
net() {
	(cd "$rx/csv" 2>/dev/null && ls -d testhost/hostflow-*/* 2>/dev/null) |
		sed 's/-[0-9]*-[0-9]*-[0-9]*$//' |
		grep -xF -e "testhost/hostflow-$v4/tcp_connections-total" \
			-e "testhost/hostflow-$v6/tcp_connections-total" \
			-e "testhost/hostflow-$lst/queue_length-backlog" | LC_ALL=C sort
}
__net() { got_net=$(net); [ "$got_net" = "$want_net" ]; }
got_net=
if hf_wait_for 10 __net; then
	ok "${HF_PLAN[2]}"
else
	not_ok "${HF_PLAN[2]}" "$(diff -u --label expected --label actual <(printf '%s\n' "$want_net") \
		<(printf '%s\n' "$got_net"))" "receiver's log:" "$(tail -n 5 "$rx/collectd.log" 2>&1)"
fi
hf_done
