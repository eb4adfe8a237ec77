#!/usr/bin/env bash
# hostflow --source conntrack: UDP and TCP flows with exact traffic.
#   cli sends 3 UDP exchanges of 100 bytes to srv:53 (each a new source
#   port: 3 entries of 128 IP bytes each way), 2 of 50 bytes to
#   [2001:db8::1]:5353 (98 IP bytes each) and holds 2 TCP connections
#   to srv:80 that carried 1000 bytes each way. Both ends must show one
#   flow per protocol, the connections, and the traffic as `conntrack -L`
#   sums it; c2 (accounting off) must show traffic as unknown and say how
#   to turn it on; a table whose nf_conntrack_max is reached is reported.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/conntrack.sh
. "$(dirname "$0")/../lib/conntrack.sh"

HF_PLAN=(
	"ct: srv UDP :53 flow: 3 connections, 384 bytes and 3 packets each way"
	"ct: srv UDP :53 traffic equals conntrack -L's sums"
	"ct: srv TCP :80 flow: 2 connections ESTABLISHED, traffic equals conntrack -L's sums"
	"ct: srv IPv6 UDP :5353 flow: 2 connections, 196 bytes each way"
	"ct: cli shows the active mirror of both flows"
	"ct: --proc (/proc/net/nf_conntrack) gives the same flows as ctnetlink"
	"ct: -u shows UDP flows only, -t TCP flows only"
	"ct: text output has protocol and traffic columns"
	"ct: --summary --json reports entries, nf_conntrack_count and nf_conntrack_max"
	"ct: the sockets source is unchanged beside it"
	"ct: accounting off: traffic null, one message naming nf_conntrack_acct"
	"ct: a full table: nf_conntrack_count reaches nf_conntrack_max"
	"ct: --source bogus and --udp without conntrack are refused"
	"ct: as nobody: an error naming the table and CAP_NET_ADMIN, sockets still read"
)
hf_require_netns
hf_ct_require

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host cli 198.51.100.2/24 2001:db8::2/64 || hf_setup_failed "host cli"
hf_host c2 198.51.100.3/24 || hf_setup_failed "host c2"
hf_ct_enable srv || hf_setup_failed "conntrack on srv"
hf_ct_enable cli || hf_setup_failed "conntrack on cli"
hf_ct_enable c2 0 || hf_setup_failed "conntrack on c2"

hf_ctgen srv udp53 echo --addr 0.0.0.0 --port 53 --udp || hf_setup_failed "udp echo"
hf_ctgen srv tcp80 echo --addr 0.0.0.0 --port 80 || hf_setup_failed "tcp echo"
hf_ctgen srv udp6 echo --addr 2001:db8::1 --port 5353 --udp || hf_setup_failed "udp6 echo"
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 53 --udp --count 3 --size 100 ||
	hf_setup_failed "udp exchanges"
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 2001:db8::1 --port 5353 --udp --count 2 --size 50 ||
	hf_setup_failed "udp6 exchanges"
hf_ctgen cli hold80 send --to 198.51.100.1 --port 80 --count 2 --size 1000 --hold ||
	hf_setup_failed "tcp exchanges"
hf_ctgen c2 hold2 send --to 198.51.100.1 --port 80 --count 1 --size 500 --hold ||
	hf_setup_failed "c2 tcp exchange"
# The last ACKs of the exchanges are on the wire when the echo is read: let them land.
sleep 0.2

# ---- srv: passive flows
hf_run_hostflow srv --source conntrack -n --json
srv_json=$HF_OUT
got=$(hf_ct_flow "$srv_json" udp passive 53)
check_eq "ct: srv UDP :53 flow: 3 connections, 384 bytes and 3 packets each way" \
	"3 384 384 3 3" "$got"
# passive: sent is the reply direction, received the original one
read -r n po bo pr br < <(hf_ct_sum srv -p udp --dport 53)
check_eq "ct: srv UDP :53 traffic equals conntrack -L's sums" "$n $br $bo $pr $po" "$got"
read -r n po bo pr br < <(hf_ct_sum srv -p tcp --dport 80 -s 198.51.100.2)
got=$(hf_ct_flow "$srv_json" tcp passive 80)
states=$("$HF_PYTHON" -c 'import json,sys
print([f.get("states") for f in json.loads(sys.argv[1]) if f["protocol"] == "tcp" and f["peer"]["addr"] == "198.51.100.2"])' "$srv_json")
if [ "$got" = "$n $br $bo $pr $po" ] && [ "$n" = 2 ] && [ "$bo" -gt 2000 ] &&
	[ "$states" = "[{'ESTABLISHED': 2}]" ]; then
	ok "ct: srv TCP :80 flow: 2 connections ESTABLISHED, traffic equals conntrack -L's sums"
else
	not_ok "ct: srv TCP :80 flow: 2 connections ESTABLISHED, traffic equals conntrack -L's sums" \
		"hostflow: $got states $states" "conntrack -L: $n $br $bo $pr $po" "$srv_json"
fi

# IPv6: 40 + 8 + 50 bytes per datagram
got=$("$HF_PYTHON" -c 'import json,sys
for f in json.loads(sys.argv[1]):
    if f["local"]["port"] == "5353":
        t = f["traffic"]
        print(f["protocol"], f["direction"], f["local"]["addr"], f["peer"]["addr"], f["connections"],
              t["bytes_sent"], t["bytes_received"], t["packets_sent"], t["packets_received"])' "$srv_json")
check_eq "ct: srv IPv6 UDP :5353 flow: 2 connections, 196 bytes each way" \
	"udp passive 2001:db8::1 2001:db8::2 2 196 196 2 2" "$got"

# ---- cli: the active mirror
hf_run_hostflow cli --source conntrack -n --json
cli_json=$HF_OUT
read -r n po bo pr br < <(hf_ct_sum cli -p tcp --dport 80)
mirror="udp 3 384 384 3 3; tcp $n $bo $br $po $pr"
got="udp $(hf_ct_flow "$cli_json" udp active 53); tcp $(hf_ct_flow "$cli_json" tcp active 80)"
check_eq "ct: cli shows the active mirror of both flows" "$mirror" "$got"

# ---- /proc/net/nf_conntrack
if [ -r /proc/net/nf_conntrack ] || hf_in srv test -r /proc/net/nf_conntrack; then
	hf_run_hostflow srv --source conntrack --proc -n --json
	proc_json=$HF_OUT
	# the counters of the held TCP connections do not move: both reads must agree
	check_eq "ct: --proc (/proc/net/nf_conntrack) gives the same flows as ctnetlink" \
		"$srv_json" "$proc_json"
else
	skip "ct: --proc (/proc/net/nf_conntrack) gives the same flows as ctnetlink" \
		"no /proc/net/nf_conntrack (CONFIG_NF_CONNTRACK_PROCFS off)"
fi

# ---- filters
hf_run_hostflow srv --source conntrack -n --json -u
u=$("$HF_PYTHON" -c 'import json,sys; print(sorted({f["protocol"] for f in json.loads(sys.argv[1])}))' "$HF_OUT")
hf_run_hostflow srv --source conntrack -n --json -t
t=$("$HF_PYTHON" -c 'import json,sys; print(sorted({f["protocol"] for f in json.loads(sys.argv[1])}))' "$HF_OUT")
check_eq "ct: -u shows UDP flows only, -t TCP flows only" "['udp'] ['tcp']" "$u $t"

# ---- text
hf_run_hostflow srv --source conntrack -n -u
got=$(printf '%s\n' "$HF_OUT" | tr -s ' ')
check_eq "ct: text output has protocol and traffic columns" \
	"Proto Local Address:Port <--> Peer Address:Port Connections Bytes-Sent Bytes-Recv Pkts-Sent Pkts-Recv
udp 198.51.100.1:53 <-- 198.51.100.2:many 3 384 384 3 3
udp [2001:db8::1]:5353 <-- [2001:db8::2]:many 2 196 196 2 2" "$got"

# ---- summary
hf_run_hostflow srv --source conntrack -n --summary --json
max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
count=$(hf_in srv cat /proc/sys/net/netfilter/nf_conntrack_count)
got=$("$HF_PYTHON" -c 'import json,sys; s=json.loads(sys.argv[1])
print(s["source"], s["entries"], s["nf_conntrack_count"], s["nf_conntrack_max"], s["nf_conntrack_acct"])' "$HF_OUT")
check_eq "ct: --summary --json reports entries, nf_conntrack_count and nf_conntrack_max" \
	"conntrack 8 $count $max 1" "$got"

# ---- the sockets source
hf_run_hostflow srv -n --json
got=$("$HF_PYTHON" -c 'import json,sys
print([(f.get("protocol"), f["direction"], f["local"]["port"], f["connections"]) for f in json.loads(sys.argv[1])])' "$HF_OUT")
check_eq "ct: the sockets source is unchanged beside it" \
	"[(None, 'passive', '80', 2), (None, 'passive', '80', 1)]" "$got"

# ---- accounting off (c2's entry was created with nf_conntrack_acct=0)
hf_in c2 timeout 2.5 "$HOSTFLOW" --source conntrack -n --json -w1 >"$HF_TMP/c2.out" 2>"$HF_TMP/c2.err"
got=$(head -1 "$HF_TMP/c2.out")
msgs=$(grep -c 'nf_conntrack_acct=1' "$HF_TMP/c2.err")
lines=$(wc -l <"$HF_TMP/c2.out")
if [ "$(hf_ct_flow "$got" tcp active 80)" = "1 null null null null" ] && [ "$msgs" = 1 ] &&
	[ "$lines" -ge 2 ]; then
	ok "ct: accounting off: traffic null, one message naming nf_conntrack_acct"
else
	not_ok "ct: accounting off: traffic null, one message naming nf_conntrack_acct" \
		"flow: $(hf_ct_flow "$got" tcp active 80)" "messages: $msgs over $lines outputs" \
		"$(cat "$HF_TMP/c2.err")"
fi

# ---- a full table. On Linux 6.18 nf_conntrack_max is global: read-only
# outside the initial namespace, compared with each namespace's own count.
# It is lowered for a moment and restored on every exit path.
old_max=$max
hf_on_exit sysctl -qw net.netfilter.nf_conntrack_max="$old_max"
limit=$((count + 4))
if sysctl -qw net.netfilter.nf_conntrack_max="$limit"; then
	hf_in srv timeout 5 "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.2 --port 9 --udp \
		--count 10 --size 10 --no-reply
	hf_run_hostflow srv --source conntrack -n --summary --json
	sysctl -qw net.netfilter.nf_conntrack_max="$old_max"
	got=$("$HF_PYTHON" -c 'import json,sys; s=json.loads(sys.argv[1])
print(s["nf_conntrack_count"], s["nf_conntrack_max"])' "$HF_OUT")
	check_eq "ct: a full table: nf_conntrack_count reaches nf_conntrack_max" "$limit $limit" "$got"
else
	not_ok "ct: a full table: nf_conntrack_count reaches nf_conntrack_max" \
		"cannot set net.netfilter.nf_conntrack_max"
fi

# ---- bad input
hf_run_hostflow srv --source bogus
a="$HF_RC $HF_ERR"
hf_run_hostflow srv --udp
b="$HF_RC $HF_ERR"
check_eq "ct: --source bogus and --udp without conntrack are refused" \
	"2 hostflow: --source: \"bogus\" is not sockets or conntrack
2 hostflow: --udp needs --source conntrack: sockets are TCP only" "$a
$b"

# ---- unprivileged: ctnetlink needs CAP_NET_ADMIN, /proc/net/nf_conntrack is 0440
bin=$HF_TMP/bin
mkdir -p "$bin" && cp "$HOSTFLOW" "$bin/hostflow" && chmod 755 "$HF_TMP" "$bin" "$bin/hostflow"
if command -v setpriv >/dev/null; then
	nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	a=$(hf_in srv "${nobody[@]}" "$bin/hostflow" --source conntrack -n 2>&1)
	a_rc=$?
	b=$(hf_in srv "${nobody[@]}" "$bin/hostflow" --source conntrack --cumulative -n 2>&1)
	b_rc=$?
	c=$(hf_in srv "${nobody[@]}" "$bin/hostflow" -n 2>&1)
	c_rc=$?
	if [ $a_rc = 1 ] && [[ $a == *"/proc/net/nf_conntrack: Permission denied"*"needs CAP_NET_ADMIN"* ]] &&
		[ $b_rc = 1 ] && [[ $b == *"destroy events"*"needs CAP_NET_ADMIN"* ]] &&
		[ $c_rc = 0 ] && [[ $c == *"198.51.100.1:80"* ]]; then
		ok "ct: as nobody: an error naming the table and CAP_NET_ADMIN, sockets still read"
	else
		not_ok "ct: as nobody: an error naming the table and CAP_NET_ADMIN, sockets still read" \
			"conntrack ($a_rc): $a" "--cumulative ($b_rc): $b" "sockets ($c_rc): $c"
	fi
else
	skip "ct: as nobody: an error naming the table and CAP_NET_ADMIN, sockets still read" \
		"no setpriv (util-linux)"
fi
hf_done
