#!/usr/bin/env bash
# hostflow --source conntrack --cumulative: counters that include
# connections closed between two collections (the library's HF_CT_EVENTS:
# destroy events combined with the dump, deduplicated by CTA_ID).
#   hostflow -w1 --cumulative runs in srv. cli holds one connection to
#   srv:80, makes 2 TCP exchanges of 1000 bytes and closes them; their
#   entries (TIME_WAIT) are summed with conntrack -L, then deleted
#   (conntrack -D: destroy events with the final counters). Then one more
#   exchange of 500 bytes, deleted at once. The flow's counters must reach
#   exactly the held entry's plus the deleted entries' sums, with the
#   connections reported closed, and never go backwards.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/conntrack.sh
. "$(dirname "$0")/../lib/conntrack.sh"

HF_PLAN=(
	"events: 2 deleted connections: closed 2, traffic equals their conntrack -L sums"
	"events: a third connection deleted at once is added: closed 3, exact sums"
	"events: the flow's counters never go backwards"
	"events: a flow whose entries are all gone is dropped afterwards"
	"events: lost events (a flush of 20,000 entries) are reported, collection goes on"
)
hf_require_netns
hf_ct_require

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host cli 198.51.100.2/24 || hf_setup_failed "host cli"
hf_ct_enable srv || hf_setup_failed "conntrack on srv"
hf_ctgen srv tcp80 echo --addr 0.0.0.0 --port 80 || hf_setup_failed "tcp echo"

out=$HF_TMP/watch.out
hf_bg srv "$HOSTFLOW" --source conntrack --cumulative -n --json -w1 >"$out" 2>"$HF_TMP/watch.err" ||
	hf_setup_failed "hostflow --watch"
watch_pid=$HF_LAST_PID
hf_wait_for 5 test -s "$out" || hf_setup_failed "hostflow --watch output"

# flow_at LINE: "connections closed bytes_sent bytes_received packets_sent packets_received"
# of srv's TCP :80 flow in output line LINE, or "none".
flow_at() {
	sed -n "${1}p" "$out" | "$HF_PYTHON" -c '
import json, sys
for f in json.loads(sys.stdin.read() or "[]"):
    if f["protocol"] == "tcp" and f["local"]["port"] == "80":
        t = f["traffic"]
        print(f["connections"], f.get("closed", 0), t["bytes_sent"], t["bytes_received"],
              t["packets_sent"], t["packets_received"])
        break
else:
    print("none")'
}
# wait_closed N: wait until an output line shows N closed connections; print it.
wait_closed() {
	local i deadline=$((SECONDS + 6)) n
	while [ $SECONDS -lt $deadline ]; do
		n=$(wc -l <"$out")
		for ((i = n; i >= 1; i--)); do
			read -r c cl rest < <(flow_at "$i")
			if [ "$c" != none ] && [ "$cl" = "$1" ]; then
				echo "$c $cl $rest"
				return 0
			fi
		done
		sleep 0.2
	done
	echo "never: $(flow_at "$(wc -l <"$out")")"
}

# add A B: the element-wise sum of two "entries po bo pr br" lines.
add() {
	local -a x y
	read -r -a x <<<"$1"
	read -r -a y <<<"$2"
	echo "$((x[0] + y[0])) $((x[1] + y[1])) $((x[2] + y[2])) $((x[3] + y[3])) $((x[4] + y[4]))"
}
# expect SUM CONNS CLOSED: the flow line wanted for conntrack sums SUM (passive: sent is reply).
expect() {
	local -a x
	read -r -a x <<<"$1"
	echo "$2 $3 ${x[4]} ${x[2]} ${x[3]} ${x[1]}"
}

# One connection held through the test keeps the flow alive between the groups.
hf_ctgen cli hold80 send --to 198.51.100.1 --port 80 --count 1 --size 10 --hold ||
	hf_setup_failed "held connection"
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 80 --count 2 --size 1000 ||
	hf_setup_failed "tcp exchanges"
sleep 0.3
held=$(hf_ct_sum srv -p tcp --dport 80 --state ESTABLISHED)
d1=$(hf_ct_sum srv -p tcp --dport 80 --state TIME_WAIT)
hf_in srv conntrack -D -p tcp --dport 80 --state TIME_WAIT >/dev/null 2>&1
got=$(wait_closed 2)
check_eq "events: 2 deleted connections: closed 2, traffic equals their conntrack -L sums" \
	"$(expect "$(add "$held" "$d1")" 1 2)" "$got"

hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 80 --count 1 --size 500 ||
	hf_setup_failed "third exchange"
sleep 0.2
d2=$(hf_ct_sum srv -p tcp --dport 80 --state TIME_WAIT)
hf_in srv conntrack -D -p tcp --dport 80 --state TIME_WAIT >/dev/null 2>&1
got=$(wait_closed 3)
check_eq "events: a third connection deleted at once is added: closed 3, exact sums" \
	"$(expect "$(add "$(add "$held" "$d1")" "$d2")" 1 3)" "$got"

# The end: the held connection goes too; its flow is reported once more, then dropped.
kill "${HF_PID[hold80]}"
sleep 0.3
hf_in srv conntrack -D -p tcp --dport 80 >/dev/null 2>&1
wait_closed 4 >/dev/null
sleep 2.2
lines=$(wc -l <"$out")
back=""
prev=0
for ((i = 1; i <= lines; i++)); do
	read -r c _ _ brx _ < <(flow_at "$i")
	[ "$c" = none ] && continue
	[ "$brx" -lt "$prev" ] && back+="line $i: $brx < $prev; "
	prev=$brx
done
if [ -z "$back" ] && [ "$prev" -gt 0 ]; then
	ok "events: the flow's counters never go backwards"
else
	not_ok "events: the flow's counters never go backwards" "$back" "$(cat "$out")"
fi
check_eq "events: a flow whose entries are all gone is dropped afterwards" "none" \
	"$(flow_at "$lines")"

# 20,000 UDP entries flushed at once while the watcher is stopped: more
# destroy events than the event socket's 4 MiB hold (ENOBUFS).
hf_in srv "$HF_PYTHON" - <<'PY'
import socket
for i in range(20000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.51.100.1", 20000 + i))
    s.sendto(b"x", ("198.51.100.2", 9))
    s.close()
PY
sleep 1.2
flood=$(hf_in srv conntrack -C 2>/dev/null)
[ "${flood:-0}" -ge 20000 ] || hf_setup_failed "20,000 UDP entries (conntrack -C: ${flood:-none})"
# The watcher stops while the flush queues its events: awake at a tick, it
# could drain them as fast as the flush makes them, and nothing would be lost.
kill -STOP "$watch_pid"
hf_in srv conntrack -F >/dev/null 2>&1
kill -CONT "$watch_pid"
hf_ctgen cli hold443 send --to 198.51.100.1 --port 80 --count 1 --size 10 --hold ||
	hf_setup_failed "connection after the flush"
__lost_then_flow() {
	grep -q 'destroy events were lost' "$HF_TMP/watch.err" &&
		[ "$(flow_at "$(wc -l <"$out")" | cut -d' ' -f1)" = 1 ]
}
if hf_wait_for 6 __lost_then_flow && kill -0 "$watch_pid" 2>/dev/null; then
	ok "events: lost events (a flush of 20,000 entries) are reported, collection goes on"
else
	not_ok "events: lost events (a flush of 20,000 entries) are reported, collection goes on" \
		"stderr: $(cat "$HF_TMP/watch.err")" "last: $(flow_at "$(wc -l <"$out")")"
fi
hf_done
