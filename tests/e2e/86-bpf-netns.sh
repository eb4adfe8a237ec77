#!/usr/bin/env bash
# hostflow --backend bpf --netns all: one read of the programs' flow map for
# every namespace equals netlink's per-namespace dumps. From the host's own
# namespace, watchers (flows with states, listeners, summary with
# --reconcile 1) start AFTER connections exist in some namespaces (a, g:
# seeded, each from a thread inside it, when first read) and BEFORE those
# of others (b, c1, c2: followed live):
#   srv  listeners :80 (0.0.0.0), :8080 (2001:db8::1, v6only), :81 and :88
#        (:: dual-stack, closing at the peer's EOF), :83 (backlog 2, never
#        accepts)
#   a    seeded: 3 to :80, 2 to [::1]:8080, 3 filling :83's queue and 2
#        more left in SYN_SENT, 4 closed to :81 (TIME_WAIT); a listener
#        :9000 (:: dual-stack) that b connects to later (v4-mapped and v6)
#   g    seeded: 2 to :81; its processes then exit (srv closes its side)
#        and its namespace is deleted: its flows leave the output
#   b    live: 2 to :80, 3 to [::1]:8080, 5 closed to :81 and 3 to [::1]:81
#        (TIME_WAIT), 2 to :83 (SYN_SENT: the queue is full), 2 + 1 to a:9000
#   n    made after the watchers started: 2 to :80, 1 to [::1]:8080
#   c1, c2  churn at once: 300 connections each opened and closed to :88,
#        c1 over IPv4, c2 over IPv6; then in both at once for 5 s, a steady
#        churn on loopback: 500 connections open at all times, the oldest
#        reset as each new one opens (the counts hold still from read to
#        read while connections come and go: a reconcile must not take
#        that for a quiet flow)
# Then, quiet: the watcher's last interval equals `hostflow --backend
# netlink --netns all -n --json --states` (the test's namespaces), the
# listener watcher's equals netlink's --listen --json, a one-shot
# --backend bpf --netns all equals netlink, the opened/closed counters
# summed over the intervals equal the connections made in each namespace
# (0 opened where all was seeded), and the summary's reconciles corrected
# nothing, lost nothing.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"bpf netns: srv kernel holds the expected states"
	"bpf netns: a kernel holds the expected states (seeded)"
	"bpf netns: b kernel holds the expected states (live)"
	"bpf netns: the watcher saw every test namespace, seeded or not"
	"bpf netns: a namespace deleted mid-run leaves the watcher's output"
	"bpf netns: the kernel frees it (no watcher holds a socket in it)"
	"bpf netns: a namespace made mid-run appears with its flows"
	"bpf netns: given the inode of the one deleted, it shows none of that one's flows or counters"
	"bpf netns: watcher's last interval equals netlink --netns all --json --states"
	"bpf netns: listener watcher equals netlink --netns all --listen --json"
	"bpf netns: one-shot --backend bpf --netns all equals netlink"
	"bpf netns: one-shot --backend bpf --netns all --listen equals netlink"
	"bpf netns: opened/closed summed over intervals equal the connections made, per namespace"
	"bpf netns: c1 and c2 churn of 300 each counted per flow, both sides"
	"bpf netns: summary (--netns NAME...): each namespace read through bpf, g gone"
	"bpf netns: summary: reconciles every second corrected nothing, lost nothing"
)
hf_require_netns
command -v jq >/dev/null || skip_all "no jq"

hf_skip_all_without_bpf

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host a 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host a"
hf_host b 198.51.100.12/24 2001:db8::12/64 || hf_setup_failed "host b"
hf_host c1 198.51.100.13/24 || hf_setup_failed "host c1"
hf_host c2 2001:db8::14/64 || hf_setup_failed "host c2"
hf_host g 198.51.100.15/24 || hf_setup_failed "host g"
G=$(hf_ns g)
G_PORT=p$HF_PORTS # its veth's end on the bridge
G_INO=$(stat -L -c %i "/run/netns/$G")

# ---- before the watchers: seeded
hf_sockgen srv l80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "srv :80"
hf_sockgen srv l8080 listen --addr 2001:db8::1 --port 8080 --v6only || hf_setup_failed "srv :8080"
hf_sockgen srv l81 listen --addr :: --port 81 --dualstack --on-eof close || hf_setup_failed "srv :81"
hf_sockgen srv l88 listen --addr :: --port 88 --dualstack --on-eof close || hf_setup_failed "srv :88"
hf_sockgen srv l83 listen --addr 0.0.0.0 --port 83 --no-accept --backlog 2 || hf_setup_failed "srv :83"
hf_sockgen a l9000 listen --addr :: --port 9000 --dualstack || hf_setup_failed "a :9000"
hf_sockgen a a80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "a :80"
hf_sockgen a a8080 connect --to 2001:db8::1 --port 8080 --count 2 || hf_setup_failed "a :8080"
hf_sockgen a a83 connect --to 198.51.100.1 --port 83 --count 3 || hf_setup_failed "a :83"
hf_sockgen a a83s connect --to 198.51.100.1 --port 83 --count 2 --nowait || hf_setup_failed "a :83 SYN_SENT"
hf_sockgen a a81 connect --to 198.51.100.1 --port 81 --count 4 --close || hf_setup_failed "a :81"
hf_sockgen g g81 connect --to 198.51.100.1 --port 81 --count 2 || hf_setup_failed "g :81"

# ---- the watchers, from the host's namespace
"$HOSTFLOW" --backend bpf --netns all -n --json --states --watch=1 >"$HF_TMP/w" 2>"$HF_TMP/w.err" &
HF_PIDS+=("$!")
"$HOSTFLOW" --backend bpf --netns all -n --listen --json --watch=1 >"$HF_TMP/wl" 2>"$HF_TMP/wl.err" &
HF_PIDS+=("$!")
# the summary's reconciles read the test's namespaces alone (but n, not made
# yet): the corrections are the test's, whatever other namespaces of the
# machine do meanwhile
sel=()
for h in srv a b c1 c2 g; do sel+=(--netns "$(hf_ns "$h")"); done
"$HOSTFLOW" --backend bpf "${sel[@]}" -n --summary --json --watch=1 --reconcile 1 \
	>"$HF_TMP/sum" 2>"$HF_TMP/sum.err" &
HF_PIDS+=("$!")
__hf_watching() { [ -s "$HF_TMP/w" ] && [ -s "$HF_TMP/wl" ] && [ -s "$HF_TMP/sum" ]; }
hf_wait_for 20 __hf_watching || hf_setup_failed "watchers did not print: $(cat "$HF_TMP"/*.err)"

# the test's namespaces alone: others of the host are not ours to judge
OURS="^hf-[a-z0-9]+-$$-[0-9]+\$"
ours() { jq -c --arg re "$OURS" '[.[] | select(.netns.name | test($re))]'; }
# last_flows FILE: the last interval's flows of ours with connections (the others carry counters)
last_flows() { tail -n 1 "$1" | jq -c '[.[] | select(.connections > 0)]' | ours; }
# names FILE: the namespaces of the last interval's flows of ours, sorted
names() { tail -n 1 "$1" | ours | jq -r '.[].netns.name' | sort -u; }

__hf_all_seen() { [ "$(names "$HF_TMP/w" | grep -c -e "^$(hf_ns a)\$" -e "^$G\$" -e "^$(hf_ns srv)\$")" = 3 ]; }
if hf_wait_for 10 __hf_all_seen; then
	ok "${HF_PLAN[3]}"
else
	hf_fail "${HF_PLAN[3]}" "namespaces of the last interval: $(names "$HF_TMP/w" | tr '\n' ' ')" \
		"$(cat "$HF_TMP/w.err")"
fi

# ---- after the watchers: followed live
hf_sockgen b b80 connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "b :80"
hf_sockgen b b8080 connect --to 2001:db8::1 --port 8080 --count 3 || hf_setup_failed "b :8080"
hf_sockgen b b81 connect --to 198.51.100.1 --port 81 --count 5 --close || hf_setup_failed "b :81"
hf_sockgen b b816 connect --to 2001:db8::1 --port 81 --count 3 --close || hf_setup_failed "b [::]:81"
hf_sockgen b b83 connect --to 198.51.100.1 --port 83 --count 2 --nowait || hf_setup_failed "b :83"
hf_sockgen b b9000 connect --to 198.51.100.11 --port 9000 --count 2 || hf_setup_failed "b a:9000"
hf_sockgen b b90006 connect --to 2001:db8::11 --port 9000 --count 1 || hf_setup_failed "b a:[::]9000"

# g goes: its processes exit (srv, closing at EOF, ends its side), then its name
kill "${HF_PID[g81]}"
hf_wait_ss srv 0 -- dst 198.51.100.15 || hf_setup_failed "srv closing g's connections"
ip netns del "$G" || hf_setup_failed "ip netns del g"
__hf_g_gone() { ! names "$HF_TMP/w" | grep -qx "$G" && ! tail -n 1 "$HF_TMP/w" | grep -q "\"$G\""; }
if hf_wait_for 10 __hf_g_gone; then
	ok "${HF_PLAN[4]}"
else
	hf_fail "${HF_PLAN[4]}" "$(tail -n 1 "$HF_TMP/w" | jq -c --arg n "$G" '[.[] | select(.netns.name == $n)]')"
fi
# its veth leaves the bridge once the kernel frees it, which it cannot while a
# watcher (or its reconcile's snapshot, read rarely) holds a socket in it
__hf_g_freed() { ! ip -n "$HF_BRIDGE" link show "$G_PORT" >/dev/null 2>&1; }
if hf_wait_for 10 __hf_g_freed; then
	ok "${HF_PLAN[5]}"
else
	hf_fail "${HF_PLAN[5]}" "bridge port $G_PORT of g still there 10 s after ip netns del"
fi

# n: made now
hf_host n 198.51.100.16/24 2001:db8::16/64 || hf_setup_failed "host n"
N=$(hf_ns n)
N_INO=$(stat -L -c %i "/run/netns/$N")
hf_sockgen n n80 connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "n :80"
hf_sockgen n n8080 connect --to 2001:db8::1 --port 8080 --count 1 || hf_setup_failed "n :8080"

# churn in two namespaces at once
rm -f "$HF_TMP/ch1.ready" "$HF_TMP/ch2.ready"
hf_bg c1 "$HF_PYTHON" "$HF_SOCKGEN" connect --to 198.51.100.1 --port 88 --count 300 --close \
	--ready "$HF_TMP/ch1.ready" --status "$HF_TMP/ch1.status" || hf_setup_failed "c1 churn"
CH1=$HF_LAST_PID
hf_bg c2 "$HF_PYTHON" "$HF_SOCKGEN" connect --to 2001:db8::1 --port 88 --count 300 --close \
	--ready "$HF_TMP/ch2.ready" --status "$HF_TMP/ch2.status" || hf_setup_failed "c2 churn"
CH2=$HF_LAST_PID
hf_wait_file "$HF_TMP/ch1.ready" "$CH1" 20 || hf_setup_failed "c1 churn not done"
hf_wait_file "$HF_TMP/ch2.ready" "$CH2" 20 || hf_setup_failed "c2 churn not done"

# then a steady churn on loopback in both for 5 s (several reconciles of the
# summary watcher): 500 connections open at all times, each step opens one
# and resets the oldest (SO_LINGER 0: no TIME_WAIT). The counts stay the
# same from one read of the map to the next while connections come and go.
steady='
import collections, socket, struct, sys, time
lst = socket.socket()
lst.bind(("127.0.0.1", 0))
lst.listen(64)
lg = struct.pack("ii", 1, 0)
pool = collections.deque()
n, end = 0, time.monotonic() + 5
while time.monotonic() < end:
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, lg)
    c.connect(lst.getsockname())
    a, _ = lst.accept()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, lg)
    pool.append((c, a))
    if len(pool) > 500:
        for x in pool.popleft():
            x.close()
    n += 1
for p in pool:
    for x in p:
        x.close()
print(n)'
hf_in c1 "$HF_PYTHON" -S -c "$steady" >"$HF_TMP/steady.c1" 2>&1 &
S1=$!
HF_PIDS+=("$S1")
hf_in c2 "$HF_PYTHON" -S -c "$steady" >"$HF_TMP/steady.c2" 2>&1
wait "$S1"
S1=$(cat "$HF_TMP/steady.c1")
S2=$(cat "$HF_TMP/steady.c2")
[[ $S1 =~ ^[0-9]+$ && $S2 =~ ^[0-9]+$ ]] || hf_setup_failed "steady churn: c1 $S1, c2 $S2"
hf_diag "steady churn: $S1 connections in c1, $S2 in c2"

SRV=$(hf_ns srv)
A=$(hf_ns a)
B=$(hf_ns b)
hf_check_kernel "${HF_PLAN[0]}" srv "
passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:80 <- 198.51.100.12:many 2 ESTABLISHED=2
passive 198.51.100.1:80 <- 198.51.100.16:many 2 ESTABLISHED=2
passive [2001:db8::1]:8080 <- [2001:db8::11]:many 2 ESTABLISHED=2
passive [2001:db8::1]:8080 <- [2001:db8::12]:many 3 ESTABLISHED=3
passive [2001:db8::1]:8080 <- [2001:db8::16]:many 1 ESTABLISHED=1
passive 198.51.100.1:83 <- 198.51.100.11:many 3 ESTABLISHED=3"
# kernel_is DESC HOST EXPECTED: hf_check_kernel, the TIME_WAIT flows to :81 left
# out: now and then a connection closed at once ends otherwise (on netlink's
# count and the programs' alike: the checks against netlink keep them)
kernel_is() {
	local diff
	__kernel_is() { diff=$(hf_in "$2" ss -tanH | hf_flows_check kernel "$3" --drop ':81\b'); }
	if hf_wait_for 10 __kernel_is "$@"; then ok "$1"; else hf_fail "$1" "kernel of $2" "$diff"; fi
}
kernel_is "${HF_PLAN[1]}" a "
active 198.51.100.11:many -> 198.51.100.1:80 3 ESTABLISHED=3
active [2001:db8::11]:many -> [2001:db8::1]:8080 2 ESTABLISHED=2
active 198.51.100.11:many -> 198.51.100.1:83 5 ESTABLISHED=3 SYN_SENT=2
active 198.51.100.11:many -> 198.51.100.1:81 4 TIME_WAIT=4
passive 198.51.100.11:9000 <- 198.51.100.12:many 2 ESTABLISHED=2
passive [2001:db8::11]:9000 <- [2001:db8::12]:many 1 ESTABLISHED=1"
kernel_is "${HF_PLAN[2]}" b "
active 198.51.100.12:many -> 198.51.100.1:80 2 ESTABLISHED=2
active [2001:db8::12]:many -> [2001:db8::1]:8080 3 ESTABLISHED=3
active 198.51.100.12:many -> 198.51.100.1:81 5 TIME_WAIT=5
active [2001:db8::12]:many -> [2001:db8::1]:81 3 TIME_WAIT=3
active 198.51.100.12:many -> 198.51.100.1:83 2 SYN_SENT=2
active 198.51.100.12:many -> 198.51.100.11:9000 2 ESTABLISHED=2
active [2001:db8::12]:many -> [2001:db8::11]:9000 1 ESTABLISHED=1"

desc="${HF_PLAN[6]}"
__hf_n_seen() { names "$HF_TMP/w" | grep -qx "$N"; }
if hf_wait_for 10 __hf_n_seen; then
	if got=$(last_flows "$HF_TMP/w" | jq -c --arg n "$N" '[.[] | select(.netns.name == $n)]' |
		hf_flows_check json "
active 198.51.100.16:many -> 198.51.100.1:80 2 ESTABLISHED=2 netns=$N
active [2001:db8::16]:many -> [2001:db8::1]:8080 1 ESTABLISHED=1 netns=$N"); then
		ok "$desc"
	else
		hf_fail "$desc" "$got"
	fi
else
	hf_fail "$desc" "namespaces of the last interval: $(names "$HF_TMP/w" | tr '\n' ' ')"
fi

# the kernel gives a freed namespace's inode to the next one made: n has g's,
# unless another namespace of the machine took it first
desc="${HF_PLAN[7]}"
if [ "$N_INO" != "$G_INO" ]; then
	skip "$desc" "n got inode $N_INO, g had $G_INO (another namespace was made between)"
elif got=$(jq -c --arg n "$N" '.[] | select(.netns.name == $n and (.peer.addr == "198.51.100.1" and
	.peer.port == "81")) | [.local.addr, .peer.port, .connections, .opened, .closed]' "$HF_TMP/w") &&
	[ -z "$got" ]; then
	ok "$desc"
else
	hf_fail "$desc" "g's flow to :81 under n (inode $N_INO):" "$got"
fi

# ---- quiet: the churn's server sides are closed, its TIME_WAIT sockets stay (60 s)
hf_wait_ss srv 0 -- state connected '( sport = :88 )' || hf_diag "srv :88 not closed yet"
# ours, as a jq filter for hf_watch_eq_netlink
OURS_JQ="[.[] | select(.netns.name | test(\"$OURS\"))]"
sleep 1.5
hf_watch_eq_netlink - "$HF_TMP/w" "$(wc -l <"$HF_TMP/w")" "$OURS_JQ" --netns all -n --json --states
check_eq "${HF_PLAN[8]}" "$HF_NL" "$HF_GOT"
hf_watch_eq_netlink - "$HF_TMP/wl" "$(wc -l <"$HF_TMP/wl")" "$OURS_JQ" --netns all -n --listen --json
check_eq "${HF_PLAN[9]}" "$HF_NL" "$HF_GOT"

hf_run_hostflow - --backend netlink --netns all -n --json --states
nl=$(printf '%s\n' "$HF_OUT" | ours | "$HF_PYTHON" -S "$HF_FLOWS" json)
hf_run_hostflow - --backend bpf --netns all -n --json --states
got=$(printf '%s\n' "$HF_OUT" | ours | "$HF_PYTHON" -S "$HF_FLOWS" json)
check_eq "${HF_PLAN[10]}" "$nl" "$got${HF_ERR:+ stderr: $HF_ERR}"
hf_run_hostflow - --backend netlink --netns all -n --listen --json
nl=$(printf '%s\n' "$HF_OUT" | ours | jq -c 'sort_by(.netns.name, .addr, .port)[]')
hf_run_hostflow - --backend bpf --netns all -n --listen --json
got=$(printf '%s\n' "$HF_OUT" | ours | jq -c 'sort_by(.netns.name, .addr, .port)[]')
check_eq "${HF_PLAN[11]}" "$nl" "$got${HF_ERR:+ stderr: $HF_ERR}"

# opened/closed/failed per namespace, summed over every interval (g's left out:
# whether its last counts were read before it went is a race)
C1=$(hf_ns c1)
C2=$(hf_ns c2)
per_ns=$(jq -r --arg re "$OURS" --arg g "$G" '.[] | select((.netns.name | test($re)) and .netns.name != $g)
	| "\(.netns.name) \(.opened) \(.closed) \(.failed)"' "$HF_TMP/w" |
	awk '{ o[$1] += $2; c[$1] += $3; f[$1] += $4 }
	END { for (n in o) printf "%s opened=%d closed=%d failed=%d\n", n, o[n], c[n], f[n] }' | sort)
# c1, c2: 300 to srv, and both ends of each steady connection on loopback;
# srv: b's 2+3+5+3, n's 3, the churn's 600 opened; b's 8 and the churn's 600
# closed, and g's 2 (seeded, closed live)
check_eq "${HF_PLAN[12]}" "$(printf '%s\n' "$SRV opened=616 closed=610 failed=0" \
	"$A opened=3 closed=0 failed=0" "$B opened=18 closed=8 failed=0" \
	"$C1 opened=$((300 + 2 * S1)) closed=$((300 + 2 * S1)) failed=0" \
	"$C2 opened=$((300 + 2 * S2)) closed=$((300 + 2 * S2)) failed=0" \
	"$N opened=3 closed=0 failed=0" | sort)" "$per_ns"
churn=$(jq -r --arg re "$OURS" '.[] | select((.netns.name | test($re)) and
	(.peer.port == "88" or .local.port == "88")) | "\(.direction) \(.local.addr):\(.local.port) \(.peer.addr):\(.peer.port) \(.opened) \(.closed) \(.failed)"' \
	"$HF_TMP/w" | awk '{ k = $1 " " $2 " " $3; o[k] += $4; c[k] += $5; f[k] += $6 }
	END { for (k in o) printf "%s opened=%d closed=%d failed=%d\n", k, o[k], c[k], f[k] }' | sort)
check_eq "${HF_PLAN[13]}" "$(printf '%s\n' \
	"active 198.51.100.13:many 198.51.100.1:88 opened=300 closed=300 failed=0" \
	"active 2001:db8::14:many 2001:db8::1:88 opened=300 closed=300 failed=0" \
	"passive 198.51.100.1:88 198.51.100.13:many opened=300 closed=300 failed=0" \
	"passive 2001:db8::1:88 2001:db8::14:many opened=300 closed=300 failed=0" | sort)" "$churn"

got=$(tail -n 1 "$HF_TMP/sum" | jq -r '[.netns[] | "\(.name) \(.backend)"] | sort | join(" ")')
check_eq "${HF_PLAN[14]}" "$(for h in srv a b c1 c2; do echo "$(hf_ns "$h") bpf"; done | sort | tr '\n' ' ' |
	sed 's/ $//')" "$got"
# With the timers followed, a's 4 TIME_WAIT sockets, older than the
# programs, are the seed's corrections (see the README's bpf section).
got=$(tail -n 1 "$HF_TMP/sum" | jq -r '"backend=\(.backend) reconciles>5=\(.bpf.reconciles > 5) corrections=\(.bpf.corrections) seed_corrections=\(.bpf.seed_corrections) lost=\(.bpf.lost) map_full=\(.bpf.map_full)"')
seeded=0
[ "$(tail -n 1 "$HF_TMP/sum" | jq -r .bpf.timers)" != true ] || seeded=4
check_eq "${HF_PLAN[15]}" "backend=bpf reconciles>5=true corrections=0 seed_corrections=$seeded lost=0 map_full=0" \
	"$got$(grep -v -e '^$' -e "namespace \"$G\" not found" "$HF_TMP/sum.err" | sed 's/^/ stderr: /')"

hf_done
