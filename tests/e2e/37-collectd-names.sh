#!/usr/bin/env bash
# collectd plugin, ResolveNames true: identifiers carry names where a name
# is a plain host name and no two flows would share one identifier; other
# flows keep their addresses. collectd runs in a mount namespace of its own
# with an /etc/hosts of ours (and "hosts: files" only):
#   srv .1, 2001:db8::1        srv.example.net
#   c1 .11, 2001:db8::11       c1.example.net
#   c2 .12 and .13             lb.example.net (both)
#   c2 .14                     bad_name.example.net (not a host name)
#   c2 .15                     c1.example.net, connecting later: c1's flow
#                              keeps its name, .15's flow gets its address
#   c2 .16-.18                 not in /etc/hosts: asked of a DNS server
#                              whose packets vanish (hf_blackhole), so the
#                              lookups time out, and the plugin says so once
#                              and, after 3 in a row, that it gave up.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd names: srv kernel holds the expected sockets"
	"collectd names: names where they are unique host names, addresses elsewhere"
	"collectd names: a later peer of a taken name gets its address, the first keeps its name"
	"collectd names: the log says once that lookups time out, once that the plugin gave up"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
command -v unshare >/dev/null || skip_all "no unshare (util-linux)"
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 198.51.100.13/24 198.51.100.14/24 198.51.100.15/24 \
	198.51.100.16/24 198.51.100.17/24 198.51.100.18/24 || hf_setup_failed "host c2"
hf_blackhole srv 198.51.100.99 || hf_setup_failed "blackhole .99"

hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 || hf_setup_failed "listener :80"
hf_sockgen srv l443 listen --addr 2001:db8::1 --port 443 || hf_setup_failed "listener :443"
hf_sockgen c1 l5432 listen --addr 198.51.100.11 --port 5432 || hf_setup_failed "c1 listener"
hf_sockgen c1 v4 connect --to 198.51.100.1 --port 80 --count 1 || hf_setup_failed "c1 -> :80"
hf_sockgen c1 v6 connect --to 2001:db8::1 --port 443 --count 2 || hf_setup_failed "c1 -> :443"
hf_sockgen c2 a12 connect --src 198.51.100.12 --to 198.51.100.1 --port 80 --count 2 ||
	hf_setup_failed ".12 -> :80"
hf_sockgen c2 a13 connect --src 198.51.100.13 --to 198.51.100.1 --port 80 --count 3 ||
	hf_setup_failed ".13 -> :80"
hf_sockgen c2 a14 connect --src 198.51.100.14 --to 198.51.100.1 --port 80 --count 4 ||
	hf_setup_failed ".14 -> :80"
hf_sockgen srv out connect --to 198.51.100.11 --port 5432 --count 5 || hf_setup_failed "-> c1:5432"

hf_check_kernel "${HF_PLAN[0]}" srv "
passive 198.51.100.1:80 <- 198.51.100.11:many 1 ESTABLISHED=1
passive [2001:db8::1]:443 <- [2001:db8::11]:many 2 ESTABLISHED=2
passive 198.51.100.1:80 <- 198.51.100.12:many 2 ESTABLISHED=2
passive 198.51.100.1:80 <- 198.51.100.13:many 3 ESTABLISHED=3
passive 198.51.100.1:80 <- 198.51.100.14:many 4 ESTABLISHED=4
active 198.51.100.1:many -> 198.51.100.11:5432 5 ESTABLISHED=5
" || hf_setup_failed "the sockets are not what the test meant to make"

cat >"$HF_TMP/hosts" <<'EOF'
198.51.100.1	srv.example.net
2001:db8::1	srv.example.net
198.51.100.11	c1.example.net
2001:db8::11	c1.example.net
198.51.100.12	lb.example.net
198.51.100.13	lb.example.net
198.51.100.14	bad_name.example.net
198.51.100.15	c1.example.net
EOF
printf 'hosts: files dns\n' >"$HF_TMP/nsswitch.conf"
printf 'nameserver 198.51.100.99\noptions timeout:5 attempts:2\n' >"$HF_TMP/resolv.conf"
cat >"$HF_TMP/collectd" <<EOF || hf_setup_failed "wrapper"
#!/bin/sh
exec unshare -m sh -c 'mount --bind "$HF_TMP/hosts" /etc/hosts &&
	mount --bind "$HF_TMP/nsswitch.conf" /etc/nsswitch.conf &&
	mount --bind "$HF_TMP/resolv.conf" /etc/resolv.conf && exec "$COLLECTD_BIN" "\$@"' sh "\$@"
EOF
chmod +x "$HF_TMP/collectd"
COLLECTD_BIN=$HF_TMP/collectd
collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c 'LoadPlugin hostflow
<Plugin hostflow>
	ResolveNames true
	ReportListeners false
</Plugin>' >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

want=$(LC_ALL=C sort <<'EOF'
testhost/hostflow-active-srv.example.net:many-c1.example.net:5432/tcp_connections-total 5
testhost/hostflow-passive-198.51.100.1:80-198.51.100.12:many/tcp_connections-total 2
testhost/hostflow-passive-198.51.100.1:80-198.51.100.13:many/tcp_connections-total 3
testhost/hostflow-passive-srv.example.net:443-c1.example.net:many/tcp_connections-total 2
testhost/hostflow-passive-srv.example.net:80-198.51.100.14:many/tcp_connections-total 4
testhost/hostflow-passive-srv.example.net:80-c1.example.net:many/tcp_connections-total 1
EOF
)
# unixsock: the flows' identifiers and values.
flows() {
	local id
	collectd_listval 2>/dev/null | grep -E '^testhost/hostflow-(passive|active)-[^/]*/tcp_connections-' |
		while read -r id; do
			printf '%s %s\n' "$id" "$(collectd_value "$id" 2>/dev/null | awk '{print $1 + 0}')"
		done | LC_ALL=C sort
}
__named() { got=$(flows); [ "$got" = "$want" ]; }
got=
hf_wait_for 15 __named
check_eq "${HF_PLAN[1]}" "$want" "$got"

# .15 is c1.example.net too: c1's flow, reported first, keeps the name.
hf_sockgen c2 a15 connect --src 198.51.100.15 --to 198.51.100.1 --port 80 --count 6 ||
	hf_setup_failed ".15 -> :80"
want=$(printf '%s\n%s\n' "$want" \
	"testhost/hostflow-passive-198.51.100.1:80-198.51.100.15:many/tcp_connections-total 6" |
	LC_ALL=C sort)
hf_wait_for 15 __named
check_eq "${HF_PLAN[2]}" "$want" "$got"

for i in 16 17 18; do
	hf_sockgen c2 "a$i" connect --src "198.51.100.$i" --to 198.51.100.1 --port 80 --count 1 ||
		hf_setup_failed ".$i -> :80"
done
__told() {
	[ "$(grep -c 'hostflow plugin: ResolveNames: ' "$COLLECTD_LOG")" -ge 2 ]
}
hf_wait_for 20 __told
told=$(grep -o 'hostflow plugin: ResolveNames: .*' "$COLLECTD_LOG")
check_eq "${HF_PLAN[3]}" "hostflow plugin: ResolveNames: a name lookup took over 500 ms; that peer is shown by address
hostflow plugin: ResolveNames: 3 name lookups in a row took over 500 ms: no more lookups, addresses from now on" "$told"
hf_done
