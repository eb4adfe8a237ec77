#!/usr/bin/env bash
# collectd plugin: series a threshold can trust (MaxFlows 4, HoldTime,
# Pin, IgnoreState, MaxListeners, percent-fill). srv holds:
#   passive :80   <- .11 20, <- .12 15    :443 <- .11 8    :8080 <- .13 5
#   passive :9090 <- .12 3, never accepted, backlog 2: the queue is full
#   active  -> .11:5000 3, closed by srv at once: TIME_WAIT, ignored
#   300 listeners on 127.0.0.1:20000-20299
# with the threshold plugin watching passive :8080 <- .13. Then .13 opens
# 10 connections to :80, which pushes :8080 <- .13 (5) out of the top 4:
# before HoldTime its series must go on (no "has not been updated"
# FAILURE); a pinned flow (:22 <- .14) reads 0 and then its connections.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd series: srv kernel holds the expected sockets"
	"collectd series: the top 4 flows, the pinned one at 0, no TIME_WAIT flow"
	"collectd series: host totals keep the ignored TIME_WAIT sockets"
	"collectd series: 305 listeners bounded to MaxListeners 3, the full one kept"
	"collectd series: percent-fill 100 on the listener at backlog + 1"
	"collectd series: pushed out of the top 4, the watched flow keeps its series with 5"
	"collectd series: no 'has not been updated' FAILURE for the watched flow"
	"collectd series: the pinned flow reads its connections when they come"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"
hf_host c3 198.51.100.13/24 || hf_setup_failed "host c3"
hf_host c4 198.51.100.14/24 || hf_setup_failed "host c4"

hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80,443,8080,22 ||
	hf_setup_failed "listeners :80 :443 :8080 :22"
hf_sockgen srv l9090 listen --addr 198.51.100.1 --port 9090 --backlog 2 --no-accept ||
	hf_setup_failed "listener :9090"
hf_sockgen srv lo listen --addr 127.0.0.1 --port 20000-20299 || hf_setup_failed "loopback listeners"
hf_sockgen c1 l5000 listen --addr 198.51.100.11 --port 5000 --on-eof close ||
	hf_setup_failed "c1 listener"
hf_sockgen c1 a80 connect --to 198.51.100.1 --port 80 --count 20 || hf_setup_failed "c1 -> :80"
hf_sockgen c2 a80 connect --to 198.51.100.1 --port 80 --count 15 || hf_setup_failed "c2 -> :80"
hf_sockgen c1 a443 connect --to 198.51.100.1 --port 443 --count 8 || hf_setup_failed "c1 -> :443"
hf_sockgen c3 a8080 connect --to 198.51.100.1 --port 8080 --count 5 || hf_setup_failed "c3 -> :8080"
hf_sockgen c2 a9090 connect --to 198.51.100.1 --port 9090 --count 3 || hf_setup_failed "c2 -> :9090"
hf_sockgen srv tw connect --to 198.51.100.11 --port 5000 --count 3 --close ||
	hf_setup_failed "srv -> c1:5000, closed"
hf_wait_ss srv 3 -- state time-wait || hf_setup_failed "srv: no 3 sockets in TIME_WAIT"

hf_check_kernel "${HF_PLAN[0]}" srv "
passive 198.51.100.1:80 <- 198.51.100.11:many 20 ESTABLISHED=20
passive 198.51.100.1:80 <- 198.51.100.12:many 15 ESTABLISHED=15
passive 198.51.100.1:443 <- 198.51.100.11:many 8 ESTABLISHED=8
passive 198.51.100.1:8080 <- 198.51.100.13:many 5 ESTABLISHED=5
passive 198.51.100.1:9090 <- 198.51.100.12:many 3 ESTABLISHED=3
active 198.51.100.1:many -> 198.51.100.11:5000 3 TIME_WAIT=3
" || hf_setup_failed "the sockets are not what the test meant to make"

WATCHED=passive-198.51.100.1:8080-198.51.100.13:many
PINNED=passive-198.51.100.1:22-198.51.100.14:many
collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -p threshold -c "LoadPlugin hostflow
<Plugin hostflow>
	MaxFlows 4
	MaxListeners 3
	IgnoreState TIME_WAIT
	Pin \"$PINNED\"
</Plugin>
<Plugin threshold>
	<Plugin \"hostflow\">
		Instance \"$WATCHED\"
		<Type \"tcp_connections\">
			Instance \"total\"
			WarningMin 1
		</Type>
	</Plugin>
</Plugin>" >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

pick() { grep -E "$1" <<<"$snap"; }
__snap_is() {
	snap=$(collectd_snapshot)
	[ "$(pick "$1")" = "$2" ]
}
snap=
want=$(LC_ALL=C sort <<EOF
hostflow-$PINNED/tcp_connections-total 0
hostflow-$WATCHED/tcp_connections-total 5
hostflow-passive-198.51.100.1:443-198.51.100.11:many/tcp_connections-total 8
hostflow-passive-198.51.100.1:80-198.51.100.11:many/tcp_connections-total 20
hostflow-passive-198.51.100.1:80-198.51.100.12:many/tcp_connections-total 15
EOF
)
# :9090 <- .12 (3) is the fifth passive flow: folded into passive-other.
want="$want
hostflow-passive-other/tcp_connections-total 3"
want=$(LC_ALL=C sort <<<"$want")
hf_wait_for 15 __snap_is '^hostflow-(passive|active)-[^/]*/tcp_connections-' "$want"
check_eq "${HF_PLAN[1]}" "$want" "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')"
check_eq "${HF_PLAN[2]}" "hostflow-all/tcp_connections-TIME_WAIT 3" \
	"$(pick '^hostflow-all/tcp_connections-TIME_WAIT ')"

listeners=$(pick '^hostflow-listen-' | cut -d/ -f1 | sort -u)
want_l="hostflow-listen-198.51.100.1:443
hostflow-listen-198.51.100.1:80
hostflow-listen-198.51.100.1:9090"
check_eq "${HF_PLAN[3]}" "$want_l" "$listeners"
check_eq "${HF_PLAN[4]}" "hostflow-listen-198.51.100.1:9090/percent-fill 100" \
	"$(pick '^hostflow-listen-198.51.100.1:9090/percent-')"

# .13 -> :80 x10: :80 <- .13 (10) enters the top 4 and pushes :8080 <- .13 out.
hf_sockgen c3 b80 connect --to 198.51.100.1 --port 80 --count 10 || hf_setup_failed "c3 -> :80"
want2=$(LC_ALL=C sort <<EOF
hostflow-$PINNED/tcp_connections-total 0
hostflow-$WATCHED/tcp_connections-total 5
hostflow-passive-198.51.100.1:443-198.51.100.11:many/tcp_connections-total 8
hostflow-passive-198.51.100.1:80-198.51.100.11:many/tcp_connections-total 20
hostflow-passive-198.51.100.1:80-198.51.100.12:many/tcp_connections-total 15
hostflow-passive-198.51.100.1:80-198.51.100.13:many/tcp_connections-total 10
hostflow-passive-other/tcp_connections-total 3
EOF
)
hf_wait_for 15 __snap_is '^hostflow-(passive|active)-[^/]*/tcp_connections-' "$want2"
# Several reads and twice collectd's Timeout (2 intervals) later, still there.
sleep 5
snap=$(collectd_snapshot)
check_eq "${HF_PLAN[5]}" "$want2" "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')"
failures=$(grep -F "$WATCHED" "$COLLECTD_LOG" | grep -i 'has not been updated')
if [ -z "$failures" ]; then
	ok "${HF_PLAN[6]}"
else
	not_ok "${HF_PLAN[6]}" "$failures"
fi

hf_sockgen c4 a22 connect --to 198.51.100.1 --port 22 --count 2 || hf_setup_failed "c4 -> :22"
if hf_wait_for 15 __snap_is "^hostflow-$PINNED/tcp_connections-" "hostflow-$PINNED/tcp_connections-total 2"; then
	ok "${HF_PLAN[7]}"
else
	not_ok "${HF_PLAN[7]}" "$(pick "^hostflow-$PINNED/tcp_connections-")"
fi
hf_done
