#!/usr/bin/env bash
# hostflow --backend bpf follows time-wait sockets (TIME_WAIT, and FIN_WAIT2
# for an orphan's: inet_diag reports a time-wait socket's substate) and
# request sockets (SYN_RECV) by their timers, and skips the netlink dump of
# those states in a namespace whenever it can be exact without it. One
# namespace h (net.ipv4.tcp_fin_timeout=2, ip_local_port_range 20000 29999:
# the namespace's own range classifies; tcp_fastopen 3), its own addresses:
# servers 198.51.100.1 and 2001:db8::1, clients .2 and ::2. Watchers (flows
# with states, listeners, two summaries: default --reconcile, and
# --reconcile 1; and from the host's namespace with --netns h, flows and a
# summary) start BEFORE any socket, so all is followed live:
#   A  TIME_WAIT both ways: clients close first to :80 (0.0.0.0) and :81
#      (:: dual-stack, over IPv6 and IPv4), the servers closing at EOF:
#      the clients' (active); the servers close first on :84 (0.0.0.0, its
#      listener closed before: the port-range rule) and :85 (:: dual-stack,
#      IPv6 and IPv4), then the clients: the servers' (passive); then new
#      connections from the source port of 2 of :85's end those 2 (a SYN on
#      a time-wait socket's 4-tuple: its timer cancelled)
#   C  request sockets: :83 (:: dual-stack, TCP_DEFER_ACCEPT 120 s, never
#      accepts): clients that send nothing are ESTABLISHED, the server
#      holds their request sockets (SYN_RECV, IPv4 and IPv6) for about
#      127 s; :82, listen(1), never accepts: 2 in its queue, 2 more clients
#      left in SYN_SENT (the kernel drops a SYN while the accept queue is
#      full: no request socket there)
#   B  FIN_WAIT2 time-wait sockets (tcp_fin_timeout 8 s for this batch, a
#      window wide enough to look at them): clients close first on :86 and
#      :87 while the servers keep their ends (CLOSE_WAIT). :86's server
#      closes within the window: its peers' time-wait sockets become
#      TIME_WAIT silently; :87's expire in FIN_WAIT2.
#   E  after the window, the dumps skipped: 150 clients (:80, [::]:81)
#      shut their side down first and keep their sockets (FIN_WAIT2 is
#      then a full socket's): their time-wait sockets are born TIME_WAIT; a
#      client of :83 sends a byte: its request socket completes (a child
#      in the queue); one more request socket
#   F  a listener on a port of the ephemeral range (:25500) closes while
#      its time-wait sockets (FIN_WAIT2, born passive) live; they expire
#      after
#   G  last: a TCP Fast Open child (:90, from host g: the only other
#      namespace) held in SYN_RECV, h's SYN-ACKs to g lost: the programs
#      learn its addresses at its next change, so the dump runs (dumps
#      skipped does not grow) and counts it; g reached again, it is
#      ESTABLISHED and the dumps are skipped again
# At each quiet moment (after A and C; in B's window; after :86's server
# closed; after the window; after E) every watcher's last document equals
# a netlink one-shot (`--backend netlink`: flows and states, --listen,
# --summary). Through B the FIN_WAIT2 time-wait sockets are followed by
# address (their substate read at each collection: :86's turn TIME_WAIT
# with no event), so the dump is skipped there too; there and after the
# window, through E, `bpf dumps skipped` grows by at least ticks - 1 (at
# least 1), and `bpf timers` says followed (a loud SKIP
# when this machine does not follow them: the exactness checks hold either
# way). A watcher started before E (time-wait and request sockets not
# seeded: its first reconcile corrects for them) equals netlink too. Both
# summaries' reconciles corrected nothing and nothing was lost, before F
# and after it: once F's time-wait sockets are gone (their count taken back
# from the flow they were born in, though netlink classified them in the
# other direction after their listener closed) the next documents equal
# netlink (a tick's leeway for the expiry's slack).
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"bpf timers: kernel holds A's TIME_WAIT both ways and C's SYN_RECV and full queue"
	"bpf timers: A+C: flows watcher equals netlink --states"
	"bpf timers: A+C: listener watcher equals netlink --listen (half-open counts)"
	"bpf timers: A+C: summary watcher equals netlink --summary (per-state counts)"
	"bpf timers: kernel holds B's FIN_WAIT2 time-wait sockets, servers in CLOSE_WAIT"
	"bpf timers: FIN_WAIT2: flows watcher equals netlink --states"
	"bpf timers: FIN_WAIT2: listener watcher equals netlink --listen"
	"bpf timers: FIN_WAIT2: summary watcher equals netlink --summary"
	"bpf timers: kernel: :86's FIN_WAIT2 became TIME_WAIT silently, :87's still FIN_WAIT2"
	"bpf timers: turned TIME_WAIT: flows watcher equals netlink --states"
	"bpf timers: turned TIME_WAIT: listener watcher equals netlink --listen"
	"bpf timers: turned TIME_WAIT: summary watcher equals netlink --summary"
	"bpf timers: B: dumps skipped with FIN_WAIT2 time-wait sockets alive"
	"bpf timers: kernel: :87's FIN_WAIT2 expired, their servers still CLOSE_WAIT"
	"bpf timers: after the window: flows watcher equals netlink --states"
	"bpf timers: after the window: listener watcher equals netlink --listen"
	"bpf timers: after the window: summary watcher equals netlink --summary"
	"bpf timers: summary says bpf timers followed (JSON and text)"
	"bpf timers: kernel: E's time-wait sockets born TIME_WAIT, a request completed, a new one"
	"bpf timers: E (dumps skipped): flows watcher equals netlink --states"
	"bpf timers: E (dumps skipped): listener watcher equals netlink --listen"
	"bpf timers: E (dumps skipped): summary watcher equals netlink --summary"
	"bpf timers: after the window, through E, dumps skipped grows by at least ticks - 1"
	"bpf timers: a watcher started after all (not seeded) equals netlink once reconciled"
	"bpf timers: summaries: reconciles corrected nothing, lost nothing"
	"bpf timers: kernel: F's time-wait sockets died after their listener (ephemeral port) closed"
	"bpf timers: F (listener gone, then its time-wait sockets): flows watcher equals netlink"
	"bpf timers: F (listener gone, then its time-wait sockets): summary watcher equals netlink"
	"bpf timers: F: the reconciles every second corrected nothing, lost nothing"
	"bpf timers: kernel: G's TCP Fast Open child held in SYN_RECV"
	"bpf timers: G (a Fast Open child pending): flows watcher equals netlink --states"
	"bpf timers: G (a Fast Open child pending): summary watcher equals netlink --summary"
	"bpf timers: G: no dump skipped while the Fast Open child was pending"
	"bpf timers: G: the child ESTABLISHED, dumps skipped again and watchers equal netlink"
	"bpf timers: one-shot --backend bpf equals netlink"
)
# The flows watched from the host's namespace too (--netns h: the namespace
# read from a thread inside it): one more check per quiet moment
for d in "${HF_PLAN[@]}"; do
	[[ $d == *": flows watcher equals netlink --states" ]] && HF_PLAN+=("$d [--netns]")
done
HF_PLAN+=("bpf timers: after the window, through E, dumps skipped grows by at least ticks - 1 [--netns]")
hf_require_netns
command -v jq >/dev/null || skip_all "no jq"

hf_skip_all_without_bpf

hf_host h 198.51.100.1/24 198.51.100.2/24 2001:db8::1/64 2001:db8::2/64 || hf_setup_failed "host h"
hf_host g 198.51.100.3/24 || hf_setup_failed "host g"
hf_sysctl h net.ipv4.tcp_fin_timeout=2 "net.ipv4.ip_local_port_range=20000 29999" net.ipv4.tcp_fastopen=3 ||
	hf_setup_failed "sysctls of h"
S4=198.51.100.1 C4=198.51.100.2 S6=2001:db8::1 C6=2001:db8::2

# ---- the watchers first: everything after this is followed by the programs
hf_bg h "$HOSTFLOW" --backend bpf -n --json --states --watch=1 >"$HF_TMP/w" 2>"$HF_TMP/w.err" ||
	hf_setup_failed "flows watcher"
hf_bg h "$HOSTFLOW" --backend bpf -n --listen --json --watch=1 >"$HF_TMP/wl" 2>"$HF_TMP/wl.err" ||
	hf_setup_failed "listener watcher"
hf_bg h "$HOSTFLOW" --backend bpf -n --summary --json --watch=1 >"$HF_TMP/ws" 2>"$HF_TMP/ws.err" ||
	hf_setup_failed "summary watcher"
hf_bg h "$HOSTFLOW" --backend bpf -n --summary --json --watch=1 --reconcile 1 >"$HF_TMP/wr" \
	2>"$HF_TMP/wr.err" || hf_setup_failed "summary watcher --reconcile 1"
H=$(hf_ns h)
"$HOSTFLOW" --backend bpf --netns "$H" -n --json --states --watch=1 >"$HF_TMP/wn" 2>"$HF_TMP/wn.err" &
HF_PIDS+=("$!")
"$HOSTFLOW" --backend bpf --netns "$H" -n --summary --json --watch=1 >"$HF_TMP/wns" 2>"$HF_TMP/wns.err" &
HF_PIDS+=("$!")
__hf_watching() {
	local w
	for w in w wl ws wr wn wns; do [ -s "$HF_TMP/$w" ] || return 1; done
}
hf_wait_for 20 __hf_watching || hf_setup_failed "watchers did not print: $(cat "$HF_TMP"/*.err)"

hf_sockgen h l80 listen --addr 0.0.0.0 --port 80 --on-eof close || hf_setup_failed "listener :80"
hf_sockgen h l81 listen --addr :: --port 81 --dualstack --on-eof close || hf_setup_failed "listener :81"
hf_sockgen h l84 listen --addr 0.0.0.0 --port 84 || hf_setup_failed "listener :84"
hf_sockgen h l85 listen --addr :: --port 85 --dualstack || hf_setup_failed "listener :85"
hf_sockgen h l86 listen --addr :: --port 86 --dualstack || hf_setup_failed "listener :86"
hf_sockgen h l87 listen --addr 0.0.0.0 --port 87 || hf_setup_failed "listener :87"
hf_sockgen h l82 listen --addr 0.0.0.0 --port 82 --backlog 1 --no-accept || hf_setup_failed "listener :82"
hf_sockgen h l83 listen --addr :: --port 83 --dualstack --backlog 16 --no-accept --defer-accept 120 ||
	hf_setup_failed "listener :83"

# ---- A: TIME_WAIT, the clients' (active), then the servers' (passive)
hf_sockgen h a80 connect --src $C4 --to $S4 --port 80 --count 4 --close || hf_setup_failed "a :80"
hf_sockgen h a816 connect --src $C6 --to $S6 --port 81 --count 3 --close || hf_setup_failed "a [::]:81"
hf_sockgen h a814 connect --src $C4 --to $S4 --port 81 --count 3 --close || hf_setup_failed "a :81"
hf_sockgen h c84 connect --src $C4 --to $S4 --port 84 --count 2 || hf_setup_failed "c :84"
hf_sockgen h c856 connect --src $C6 --to $S6 --port 85 --count 2 || hf_setup_failed "c [::]:85"
hf_sockgen h c854 connect --src $C4 --to $S4 --port 85 --count 2 || hf_setup_failed "c :85"
hf_sockgen h c85p connect --src $C4 --sport 25100 --to $S4 --port 85 --count 2 ||
	hf_setup_failed "c :85 from :25100"
hf_wait_status l84 accepted=2 || hf_setup_failed "accept on :84"
hf_wait_status l85 accepted=6 || hf_setup_failed "accept on :85"
# :84's listener goes first: its time-wait sockets are born with no listener
hf_signal l84 USR1
hf_wait_status l84 listeners=0 || hf_setup_failed "closing :84's listener"
hf_signal l84 USR2
hf_signal l85 USR2
hf_wait_ss h 8 -- state close-wait '( dport = :84 or dport = :85 )' || hf_setup_failed "clients CLOSE_WAIT"
for t in c84 c856 c854 c85p; do hf_signal $t USR2; done
hf_wait_ss h 8 -- state time-wait '( sport = :84 or sport = :85 )' || hf_setup_failed "servers' TIME_WAIT"
# a SYN on the 4-tuple of a time-wait socket ends it (its timer cancelled)
hf_sockgen h r85 connect --src $C4 --sport 25100 --to $S4 --port 85 --count 2 ||
	hf_setup_failed "r :85 from :25100 again"
hf_wait_status l85 accepted=8 || hf_setup_failed "accept on :85 again"
hf_wait_ss h 6 -- state time-wait '( sport = :84 or sport = :85 )' || hf_setup_failed "tws reused"

# ---- C: request sockets (:83), a full accept queue (:82)
hf_sockgen h q834 connect --src $C4 --to $S4 --port 83 --count 3 || hf_setup_failed "q :83"
hf_sockgen h q836 connect --src $C6 --to $S6 --port 83 --count 2 || hf_setup_failed "q [::]:83"
hf_sockgen h f82 connect --src $C4 --to $S4 --port 82 --count 4 --nowait || hf_setup_failed "f :82"
# one more to :83, which sends a byte on SIGUSR1 (later: its request completes)
hf_bg h "$HF_PYTHON" -S -c '
import signal, socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.connect((sys.argv[2], 83))
signal.signal(signal.SIGUSR1, lambda *_: s.send(b"x"))
open(sys.argv[3], "w").close()
while True:
    signal.pause()
' $C4 $S4 "$HF_TMP/q83d.ready" || hf_setup_failed "q :83 sending later"
Q83D=$HF_LAST_PID
hf_wait_file "$HF_TMP/q83d.ready" $Q83D || hf_setup_failed "q :83 sending later not ready"

AC="
active $C4:many -> $S4:80 4 TIME_WAIT=4
active [$C6]:many -> [$S6]:81 3 TIME_WAIT=3
active $C4:many -> $S4:81 3 TIME_WAIT=3
passive $S4:84 <- $C4:many 2 TIME_WAIT=2
passive [$S6]:85 <- [$C6]:many 2 TIME_WAIT=2
passive $S4:85 <- $C4:many 4 ESTABLISHED=2 TIME_WAIT=2
active $C4:many -> $S4:85 2 ESTABLISHED=2
passive $S4:83 <- $C4:many 4 SYN_RECV=4
passive [$S6]:83 <- [$C6]:many 2 SYN_RECV=2
active $C4:many -> $S4:83 4 ESTABLISHED=4
active [$C6]:many -> [$S6]:83 2 ESTABLISHED=2
passive $S4:82 <- $C4:many 2 ESTABLISHED=2
active $C4:many -> $S4:82 4 ESTABLISHED=2 SYN_SENT=2"

# quiet WHAT DESC_FLOWS DESC_LISTEN DESC_SUMMARY: the moment is quiet (nothing
# changes): each watcher's first document after now equals netlink's.
quiet() {
	local nq=() w
	for w in w wl ws wn; do nq+=("$(wc -l <"$HF_TMP/$w")"); done
	hf_watch_eq_netlink h "$HF_TMP/w" "${nq[0]}" . -n --json --states
	check_eq "$2" "$HF_NL" "$HF_GOT"
	hf_watch_eq_netlink - "$HF_TMP/wn" "${nq[3]}" . --netns "$H" -n --json --states
	check_eq "$2 [--netns]" "$HF_NL" "$HF_GOT"
	if [ -n "$3" ]; then
		hf_watch_eq_netlink h "$HF_TMP/wl" "${nq[1]}" . -n --listen --json
		check_eq "$3" "$HF_NL" "$HF_GOT"
	fi
	hf_watch_eq_netlink h "$HF_TMP/ws" "${nq[2]}" . -n --summary --json
	check_eq "$4" "$HF_NL" "$HF_GOT"
}

hf_check_kernel "${HF_PLAN[0]}" h "$AC"
quiet AC "${HF_PLAN[1]}" "${HF_PLAN[2]}" "${HF_PLAN[3]}"

# ---- B: FIN_WAIT2 time-wait sockets. A time-wait socket's timer is set from
# tcp_fin_timeout when it is born: 8 s for this batch alone.
hf_sockgen h b864 connect --src $C4 --to $S4 --port 86 --count 3 || hf_setup_failed "b :86"
hf_sockgen h b866 connect --src $C6 --to $S6 --port 86 --count 2 || hf_setup_failed "b [::]:86"
hf_sockgen h b87 connect --src $C4 --to $S4 --port 87 --count 2 || hf_setup_failed "b :87"
hf_wait_status l86 accepted=5 || hf_setup_failed "accept on :86"
hf_wait_status l87 accepted=2 || hf_setup_failed "accept on :87"
FIN=8
hf_sysctl h net.ipv4.tcp_fin_timeout=$FIN || hf_setup_failed "tcp_fin_timeout $FIN"
ns0=$(wc -l <"$HF_TMP/ws")
for t in b864 b866 b87; do hf_signal $t USR2; done
hf_wait_ss h 7 -- state fin-wait-2 || hf_setup_failed "FIN_WAIT2 time-wait sockets"
T_B=${EPOCHREALTIME/./} # the last FIN_WAIT2 one born before this (us)
hf_sysctl h net.ipv4.tcp_fin_timeout=2
# since_b: ms since T_B
since_b() { echo $(((${EPOCHREALTIME/./} - T_B) / 1000)); }
# skipped FILE [LINE]: dumps_skipped in a summary watcher's LINE (default: last)
skipped() {
	if [ $# = 2 ]; then sed -n "$2p" "$1"; else tail -n 1 "$1"; fi | jq -r '.bpf.dumps_skipped'
}
# the first summary after the births: dumps skipped counted from then on
__hf_ws_past() { [ "$(wc -l <"$HF_TMP/ws")" -gt "$ns0" ]; }
hf_wait_for 3 __hf_ws_past
sk_b0=$(skipped "$HF_TMP/ws" $((ns0 + 1)))

B_FW2="
active $C4:many -> $S4:86 3 FIN_WAIT2=3
active [$C6]:many -> [$S6]:86 2 FIN_WAIT2=2
active $C4:many -> $S4:87 2 FIN_WAIT2=2
passive $S4:86 <- $C4:many 3 CLOSE_WAIT=3
passive [$S6]:86 <- [$C6]:many 2 CLOSE_WAIT=2
passive $S4:87 <- $C4:many 2 CLOSE_WAIT=2"
hf_check_kernel "${HF_PLAN[4]}" h "$AC$B_FW2" 2
quiet B "${HF_PLAN[5]}" "${HF_PLAN[6]}" "${HF_PLAN[7]}"
hf_diag "FIN_WAIT2 compared by $(since_b) ms of the window's $((FIN * 1000))"

# :86's server closes: its peers' time-wait sockets turn TIME_WAIT (timer re-armed, 60 s)
hf_signal l86 USR2
hf_wait_status l86 open=0 || hf_setup_failed "closing :86's server side"
[ "$(since_b)" -lt $((FIN * 1000)) ] ||
	hf_diag "LATE: :86's server closed $(since_b) ms after the FIN_WAIT2 births (window $FIN s)"
B_TW="
active $C4:many -> $S4:86 3 TIME_WAIT=3
active [$C6]:many -> [$S6]:86 2 TIME_WAIT=2
active $C4:many -> $S4:87 2 FIN_WAIT2=2
passive $S4:87 <- $C4:many 2 CLOSE_WAIT=2"
hf_check_kernel "${HF_PLAN[8]}" h "$AC$B_TW" 2
quiet B2 "${HF_PLAN[9]}" "${HF_PLAN[10]}" "${HF_PLAN[11]}"
# the last summary read while :87's were still FIN_WAIT2
ns1=$(wc -l <"$HF_TMP/ws")
fw2_left=$(hf_in h ss -tanH state fin-wait-2 | wc -l)
sk_b1=$(skipped "$HF_TMP/ws" "$ns1")
hf_diag "turned TIME_WAIT compared by $(since_b) ms; FIN_WAIT2 left then: $fw2_left"
ticks_b=$((ns1 - ns0 - 1))
timers_b=$(sed -n "${ns1}p" "$HF_TMP/ws" | jq -r '.bpf.timers')
if [ "$timers_b" != true ]; then
	skip "${HF_PLAN[12]}" "bpf timers not followed on this machine (timers $timers_b): the dumps run"
elif [ "$fw2_left" != 2 ]; then
	skip "${HF_PLAN[12]}" "the FIN_WAIT2 window was over before its last summary was read ($(since_b) ms)"
elif [ "$ticks_b" -lt 1 ]; then
	skip "${HF_PLAN[12]}" "no tick between the first summary after the births and the last before :87's expired"
elif [[ $sk_b0 =~ ^[0-9]+$ && $sk_b1 =~ ^[0-9]+$ ]] &&
	[ $((sk_b1 - sk_b0)) -ge $((ticks_b > 1 ? ticks_b - 1 : 1)) ]; then
	ok "${HF_PLAN[12]}"
else
	hf_fail "${HF_PLAN[12]}" "dumps skipped $sk_b0 at summary line $((ns0 + 1)) (the first after the" \
		"births), $sk_b1 at line $ns1 (the last before :87's expired): $ticks_b ticks"
fi

# ---- after the window: the timer's expiry (with the wheel's slack, 1/8) and 1 s more
B_END="
active $C4:many -> $S4:86 3 TIME_WAIT=3
active [$C6]:many -> [$S6]:86 2 TIME_WAIT=2
passive $S4:87 <- $C4:many 2 CLOSE_WAIT=2"
hf_check_kernel "${HF_PLAN[13]}" h "$AC$B_END" $((FIN + 3))
left=$((FIN * 1000 * 9 / 8 + 1500 - $(since_b)))
[ $left -le 0 ] || sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
quiet END "${HF_PLAN[14]}" "${HF_PLAN[15]}" "${HF_PLAN[16]}"

# a watcher started now: time-wait and request sockets not seeded
hf_bg h "$HOSTFLOW" --backend bpf -n --json --states --watch=1 >"$HF_TMP/late" 2>"$HF_TMP/late.err" ||
	hf_setup_failed "late watcher"

# bpf timers: JSON (the summary watcher's) and text (one-shot)
timers=$(tail -n 1 "$HF_TMP/ws" | jq -r 'if (.bpf | has("timers")) then .bpf.timers
	elif has("timers") then .timers else "missing" end')
hf_run_hostflow h --backend bpf -n --summary
timers_text=$(printf '%s\n' "$HF_OUT" | sed -n 's/^bpf timers  *//p')
if [ "$timers" = false ] || [ "$timers_text" = "not followed" ]; then
	followed=0
	reason="bpf timers not followed on this machine (JSON timers $timers, text '$timers_text'): the dumps run"
	echo "# SKIP: $reason"
	skip "${HF_PLAN[17]}" "$reason"
else
	followed=1
	check_eq "${HF_PLAN[17]}" "timers true, bpf timers followed" \
		"timers $timers, bpf timers ${timers_text:-(no line)}"
fi

# ---- E, while the dumps are skipped: time-wait sockets born TIME_WAIT (the
# clients shut their side down first and keep their sockets: their FIN_WAIT2
# is a full socket's), a request socket completed (its client sends a byte:
# a child in :83's queue), a new request socket
ne0=$(wc -l <"$HF_TMP/ws")
nen0=$(wc -l <"$HF_TMP/wns")
hf_in h "$HF_PYTHON" -S -c '
import socket, sys
a = sys.argv[1:]
held = []
for i in range(0, len(a), 4):
    src, dst, port, n = a[i], a[i + 1], int(a[i + 2]), int(a[i + 3])
    for _ in range(n):
        s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
        s.bind((src, 0))
        s.connect((dst, port))
        held.append(s)
for s in held:
    s.shutdown(socket.SHUT_WR)
for s in held:
    s.settimeout(5)
    if s.recv(1) != b"":
        sys.exit("data instead of the server closing")
for s in held:
    s.close()
' $C4 $S4 80 100 $C6 $S6 81 50 || hf_setup_failed "E: clients shutting down first"
kill -USR1 $Q83D
hf_wait_ss h 1 -- state established '( sport = :83 )' || hf_setup_failed "E: :83's request completed"
hf_sockgen h q834e connect --src $C4 --to $S4 --port 83 --count 1 || hf_setup_failed "E: q :83"
E_ALL="
active $C4:many -> $S4:80 104 TIME_WAIT=104
active [$C6]:many -> [$S6]:81 53 TIME_WAIT=53
active $C4:many -> $S4:81 3 TIME_WAIT=3
passive $S4:84 <- $C4:many 2 TIME_WAIT=2
passive [$S6]:85 <- [$C6]:many 2 TIME_WAIT=2
passive $S4:85 <- $C4:many 4 ESTABLISHED=2 TIME_WAIT=2
active $C4:many -> $S4:85 2 ESTABLISHED=2
passive $S4:83 <- $C4:many 5 ESTABLISHED=1 SYN_RECV=4
passive [$S6]:83 <- [$C6]:many 2 SYN_RECV=2
active $C4:many -> $S4:83 5 ESTABLISHED=5
active [$C6]:many -> [$S6]:83 2 ESTABLISHED=2
passive $S4:82 <- $C4:many 2 ESTABLISHED=2
active $C4:many -> $S4:82 4 ESTABLISHED=2 SYN_SENT=2
active $C4:many -> $S4:86 3 TIME_WAIT=3
active [$C6]:many -> [$S6]:86 2 TIME_WAIT=2
passive $S4:87 <- $C4:many 2 CLOSE_WAIT=2"
# kernel_is DESC EXPECTED TIMEOUT: hf_check_kernel, E's bursts to :80 and
# [::]:81 left out: under load now and then one of a burst ends otherwise
# (both counts alike: the checks against netlink keep them); their counts
# are printed
E_BURSTS='-> 198\.51\.100\.1:80 |-> \[2001:db8::1\]:81 '
kernel_is() {
	local diff b
	__kernel_is() { diff=$(hf_in h ss -tanH | hf_flows_check kernel "$2" --drop "$E_BURSTS"); }
	if hf_wait_for "$3" __kernel_is "$@"; then ok "$1"; else hf_fail "$1" "kernel of h" "$diff"; fi
	b=$(hf_in h ss -tanH | hf_flows_check kernel "$2" | grep -E "^\+.*($E_BURSTS)")
	[ -z "$b" ] || hf_diag "E's bursts as the kernel holds them:" "$b"
}
kernel_is "${HF_PLAN[18]}" "$E_ALL" 10
quiet E "${HF_PLAN[19]}" "${HF_PLAN[20]}" "${HF_PLAN[21]}"

# skipped_through DESC FILE N0: dumps skipped from the first summary of E
# (line N0 + 1 of FILE) to 5 ticks or more later: at least ticks - 1 more
skipped_through() {
	local desc=$1 file=$2 n0=$3 n1 sk0 sk1 n ticks
	__hf_ticks() { [ "$(wc -l <"$file")" -ge $((n0 + 6)) ]; }
	hf_wait_for 8 __hf_ticks
	n1=$(wc -l <"$file")
	sk0=$(skipped "$file" $((n0 + 1)))
	sk1=$(skipped "$file" "$n1")
	n=$((n1 - n0 - 1))
	ticks="$(basename "$file"): dumps skipped $sk0 at summary line $((n0 + 1)), $sk1 at line $n1 ($n ticks later)"
	if [ $followed = 0 ]; then
		skip "$desc" "$reason; $ticks"
	elif [[ $sk0 =~ ^[0-9]+$ && $sk1 =~ ^[0-9]+$ ]] && [ $((sk1 - sk0)) -ge $((n - 1)) ]; then
		ok "$desc"
		hf_diag "$ticks"
	else
		hf_fail "$desc" "wanted $((n - 1)) or more" "$ticks"
	fi
}
skipped_through "${HF_PLAN[22]}" "$HF_TMP/ws" "$ne0"
skipped_through "${HF_PLAN[22]} [--netns]" "$HF_TMP/wns" "$nen0"

hf_watch_eq_netlink h "$HF_TMP/late" 0 . -n --json --states
check_eq "${HF_PLAN[23]}" "$HF_NL" "$HF_GOT$(sed 's/^/ stderr: /' "$HF_TMP/late.err")"

# summary FILE: a summary watcher's last figures, checked twice
summary() {
	tail -n 1 "$HF_TMP/$1" | jq -r --arg w "$1" '"\($w) backend=\(.backend) corrections=\(.bpf.corrections) seed_corrections=\(.bpf.seed_corrections) lost=\(.bpf.lost) map_full=\(.bpf.map_full)"'
}
got=$(summary ws && summary wns && summary wr)
reconciles=$(tail -n 1 "$HF_TMP/wr" | jq -r '.bpf.reconciles')
check_eq "${HF_PLAN[24]}" "ws backend=bpf corrections=0 seed_corrections=0 lost=0 map_full=0
wns backend=bpf corrections=0 seed_corrections=0 lost=0 map_full=0
wr backend=bpf corrections=0 seed_corrections=0 lost=0 map_full=0 reconciles>5=yes" \
	"$got reconciles>5=$([ "${reconciles:-0}" -gt 5 ] 2>/dev/null && echo yes || echo "no ($reconciles)")$(
		cat "$HF_TMP"/w*.err | sed 's/^/ stderr: /')"

# ---- F: a listener on a port of the ephemeral range closes while its
# time-wait sockets live (born passive: their listener was there); they die
# after (FIN_WAIT2, tcp_fin_timeout 2 s again): netlink calls them active
# meanwhile (the dump runs: FIN_WAIT2 ones), and nothing may be left of
# them once they are gone
hf_sockgen h l25 listen --addr 0.0.0.0 --port 25500 || hf_setup_failed "F: listener :25500"
hf_sockgen h c25 connect --src $C4 --to $S4 --port 25500 --count 2 || hf_setup_failed "F: c :25500"
hf_wait_status l25 accepted=2 || hf_setup_failed "F: accept on :25500"
hf_signal l25 USR2
hf_wait_ss h 2 -- state fin-wait-2 '( sport = :25500 )' || hf_setup_failed "F: server FIN_WAIT2"
T_F=${EPOCHREALTIME/./}
hf_signal l25 USR1
hf_wait_status l25 listeners=0 || hf_setup_failed "F: closing :25500's listener"
kernel_is "${HF_PLAN[25]}" "$E_ALL
active $C4:many -> $S4:25500 2 CLOSE_WAIT=2" 5
# their timers' expiry, the slack and 1 s
left=$((2250 + 1500 - (${EPOCHREALTIME/./} - T_F) / 1000))
[ $left -le 0 ] || sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
# A time-wait socket's end finds its flow, as classified then, counting none
# (its listener gone): the programs take it back from the other direction's
# flow, where it was born. The next documents after, a tick's leeway.
f_eq() {
	local file=$1 desc=$2 nf
	shift 2
	nf=$(wc -l <"$file")
	HF_WATCH_TRIES=2 hf_watch_eq_netlink h "$file" "$nf" . "$@"
	check_eq "$desc" "$HF_NL" "$HF_GOT"
}
f_eq "$HF_TMP/w" "${HF_PLAN[26]}" -n --json --states
f_eq "$HF_TMP/ws" "${HF_PLAN[27]}" -n --summary --json
got=$(tail -n 1 "$HF_TMP/wr" | jq -r '"corrections=\(.bpf.corrections) seed_corrections=\(.bpf.seed_corrections) lost=\(.bpf.lost) map_full=\(.bpf.map_full)"')
check_eq "${HF_PLAN[28]}" "corrections=0 seed_corrections=0 lost=0 map_full=0" "$got"

# ---- G: a TCP Fast Open child: a full socket born in SYN_RECV whose
# addresses the programs learn at its next change; while it waits there (h's
# SYN-ACKs to g lost) the namespace keeps its dump
hf_bg h "$HF_PYTHON" -S -c '
import signal, socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
l.bind(("0.0.0.0", 90))
l.listen(16)
open(sys.argv[1], "w").close()
while True:
    signal.pause()
' "$HF_TMP/l90.ready" || hf_setup_failed "G: listener :90"
hf_wait_file "$HF_TMP/l90.ready" "$HF_LAST_PID" || hf_setup_failed "G: listener :90 not ready"
# g: the first connection fetches the cookie (a plain handshake); on SIGUSR1
# the second sends its data in its SYN
hf_bg g "$HF_PYTHON" -S -c '
import signal, socket, sys, time
dst = (sys.argv[1], 90)
held = []
def tfo(data):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.sendto(data, socket.MSG_FASTOPEN, dst)
    except BlockingIOError:
        pass
    held.append(s)
tfo(b"a")
for _ in range(500):
    try:
        held[0].getpeername()
        break
    except OSError:
        time.sleep(0.01)
signal.signal(signal.SIGUSR1, lambda *_: (tfo(b"b"), open(sys.argv[2] + ".sent", "w").close()))
open(sys.argv[2], "w").close()
while True:
    signal.pause()
' $S4 "$HF_TMP/g90" || hf_setup_failed "G: Fast Open client"
G90=$HF_LAST_PID
hf_wait_file "$HF_TMP/g90" $G90 || hf_setup_failed "G: cookie"
hf_blackhole h 198.51.100.3 || hf_setup_failed "G: blackhole"
ng0=$(wc -l <"$HF_TMP/ws")
kill -USR1 $G90
hf_wait_file "$HF_TMP/g90.sent" $G90 || hf_setup_failed "G: Fast Open SYN"
# a child made from the SYN's data (not a request socket: the cookie was used)
__hf_fo_child() {
	[ "$(hf_in h awk '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == "TCPFastOpenPassive") n = i }
		else print $n }' /proc/net/netstat)" = 1 ]
}
hf_wait_for 3 __hf_fo_child || hf_setup_failed "G: no Fast Open child in h (TcpExt TCPFastOpenPassive)"
G_ALL="$E_ALL
active $C4:many -> $S4:25500 2 CLOSE_WAIT=2
passive $S4:90 <- 198.51.100.3:many 2 ESTABLISHED=1 SYN_RECV=1"
kernel_is "${HF_PLAN[29]}" "$G_ALL" 5
quiet G "${HF_PLAN[30]}" "" "${HF_PLAN[31]}"
__hf_ws_g() { [ "$(wc -l <"$HF_TMP/ws")" -ge $((ng0 + 3)) ]; }
hf_wait_for 4 __hf_ws_g
ng1=$(wc -l <"$HF_TMP/ws")
fo=$(hf_in h ss -tanH state syn-recv '( sport = :90 )' | wc -l)
sk0=$(skipped "$HF_TMP/ws" $((ng0 + 1)))
sk1=$(skipped "$HF_TMP/ws" "$ng1")
if [ "$fo" != 1 ]; then
	hf_fail "${HF_PLAN[32]}" "the child is no longer in SYN_RECV"
elif [[ $sk0 =~ ^[0-9]+$ ]] && [ "$sk0" = "$sk1" ]; then
	ok "${HF_PLAN[32]}"
else
	hf_fail "${HF_PLAN[32]}" "dumps skipped $sk0 at summary line $((ng0 + 1)), $sk1 at line $ng1"
fi
# h reaches g again: the child's next SYN-ACK is answered
ip -n "$(hf_ns h)" neigh del 198.51.100.3 dev eth0 || hf_setup_failed "G: blackhole off"
hf_wait_ss h 2 8 -- state established '( sport = :90 )' || hf_setup_failed "G: the child ESTABLISHED"
G_ALL="$E_ALL
active $C4:many -> $S4:25500 2 CLOSE_WAIT=2
passive $S4:90 <- 198.51.100.3:many 2 ESTABLISHED=2"
ng0=$(wc -l <"$HF_TMP/ws")
desc="${HF_PLAN[33]}"
if hf_watch_eq_netlink h "$HF_TMP/w" "$(wc -l <"$HF_TMP/w")" . -n --json --states &&
	got=$(tail -n 1 "$HF_TMP/w" | jq -c '[.[] | select(.connections > 0)]' |
		hf_flows_check json "$G_ALL" --drop "$E_BURSTS"); then
	__hf_ws_g() { [ "$(wc -l <"$HF_TMP/ws")" -ge $((ng0 + 4)) ]; }
	hf_wait_for 6 __hf_ws_g
	sk0=$(skipped "$HF_TMP/ws" $((ng0 + 1)))
	sk1=$(skipped "$HF_TMP/ws" $((ng0 + 4)))
	if [ $followed = 0 ]; then
		skip "$desc" "$reason"
	elif [[ $sk0 =~ ^[0-9]+$ && $sk1 =~ ^[0-9]+$ ]] && [ $((sk1 - sk0)) -ge 2 ]; then
		ok "$desc"
	else
		hf_fail "$desc" "dumps skipped $sk0 at summary line $((ng0 + 1)), $sk1 at line $((ng0 + 4))"
	fi
else
	hf_fail "$desc" "" "${got:-$(diff -u --label netlink --label watcher <(printf '%s\n' "$HF_NL") <(printf '%s\n' "$HF_GOT"))}"
fi

hf_run_hostflow h --backend netlink -n --json --states
nl=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" json)
hf_run_hostflow h --backend bpf -n --json --states
got=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" json)
check_eq "${HF_PLAN[34]}" "$nl" "$got${HF_ERR:+ stderr: $HF_ERR}"

hf_done
