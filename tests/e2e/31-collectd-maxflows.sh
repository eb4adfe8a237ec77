#!/usr/bin/env bash
# collectd plugin: MaxFlows keeps the largest flows of each direction and
# sums the rest into "passive-other" / "active-other", dispatched only while
# it folds something; PeerPrefix6 groups peers first. srv holds, with
# MaxFlows 2 and PeerPrefix6 64:
#   passive [2001:db8::1]:443 <- c1 4 + c2 3 (one /64)    7  kept
#   passive :80 <- c1 5                                   5  kept
#   passive :81 3, :82 2, :83 1 <- c1                     6  folded: passive-other
#   active  -> c1:5000 3, -> c1:5001 1                       both kept, no active-other
# then c1 closes :81-:83 and passive-other is no longer dispatched.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd maxflows: srv kernel holds the expected sockets"
	"collectd maxflows: the 2 largest flows per direction, the rest summed into passive-other"
	"collectd maxflows: count-flows counts the flows before folding"
	"collectd maxflows: passive-other is gone once nothing is folded"
	"collectd maxflows: no '/' in any identifier (a /64 peer is written _64)"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 2001:db8::12/64 || hf_setup_failed "host c2"

hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 || hf_setup_failed "listener :80"
hf_sockgen srv l81 listen --addr 198.51.100.1 --port 81-83 --on-eof close ||
	hf_setup_failed "listeners :81-:83"
hf_sockgen srv l443 listen --addr 2001:db8::1 --port 443 || hf_setup_failed "listener :443"
hf_sockgen c1 l5000 listen --addr 198.51.100.11 --port 5000-5001 || hf_setup_failed "c1 listeners"
hf_sockgen c1 v6 connect --to 2001:db8::1 --port 443 --count 4 || hf_setup_failed "c1 -> :443"
hf_sockgen c2 v6 connect --to 2001:db8::1 --port 443 --count 3 || hf_setup_failed "c2 -> :443"
hf_sockgen c1 c80 connect --to 198.51.100.1 --port 80 --count 5 || hf_setup_failed "c1 -> :80"
hf_sockgen c1 c81 connect --to 198.51.100.1 --port 81 --count 3 || hf_setup_failed "c1 -> :81"
hf_sockgen c1 c82 connect --to 198.51.100.1 --port 82 --count 2 || hf_setup_failed "c1 -> :82"
hf_sockgen c1 c83 connect --to 198.51.100.1 --port 83 --count 1 || hf_setup_failed "c1 -> :83"
hf_sockgen srv a5000 connect --to 198.51.100.11 --port 5000 --count 3 || hf_setup_failed "-> :5000"
hf_sockgen srv a5001 connect --to 198.51.100.11 --port 5001 --count 1 || hf_setup_failed "-> :5001"

hf_check_kernel "${HF_PLAN[0]}" srv "
passive [2001:db8::1]:443 <- [2001:db8::11]:many 4 ESTABLISHED=4
passive [2001:db8::1]:443 <- [2001:db8::12]:many 3 ESTABLISHED=3
passive 198.51.100.1:80 <- 198.51.100.11:many 5 ESTABLISHED=5
passive 198.51.100.1:81 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:82 <- 198.51.100.11:many 2 ESTABLISHED=2
passive 198.51.100.1:83 <- 198.51.100.11:many 1 ESTABLISHED=1
active 198.51.100.1:many -> 198.51.100.11:5000 3 ESTABLISHED=3
active 198.51.100.1:many -> 198.51.100.11:5001 1 ESTABLISHED=1
" || hf_setup_failed "the sockets are not what the test meant to make"

collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c 'LoadPlugin hostflow
<Plugin hostflow>
	MaxFlows 2
	ReportStates true
	PeerPrefix6 64
</Plugin>' >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"

want=$({
	collectd_flow_lines "passive-[2001:db8::1]:443-[2001:db8::_64]:many" 7 ESTABLISHED=7
	collectd_flow_lines "passive-198.51.100.1:80-198.51.100.11:many" 5 ESTABLISHED=5
	collectd_flow_lines "passive-other" 6 ESTABLISHED=6
	collectd_flow_lines "active-198.51.100.1:many-198.51.100.11:5000" 3 ESTABLISHED=3
	collectd_flow_lines "active-198.51.100.1:many-198.51.100.11:5001" 1 ESTABLISHED=1
} | LC_ALL=C sort)

pick() { grep -E "$1" <<<"$snap"; }
__flows_are() {
	snap=$(collectd_snapshot)
	[ "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')" = "$1" ]
}
snap=
hf_wait_for 15 __flows_are "$want"
check_eq "${HF_PLAN[1]}" "$want" "$(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-')"
check_eq "${HF_PLAN[2]}" "hostflow-all/count-flows 7" "$(pick '^hostflow-all/count-')"
all_ids=$(collectd_listval 2>&1)

# srv closes each connection c1 closes (--on-eof close): :81-:83 are gone.
for t in c81 c82 c83; do hf_signal $t USR2; done
hf_wait_ss srv 0 -- state connected '( sport >= :81 and sport <= :83 )' ||
	hf_diag "srv still holds :81-:83 connections"
want_after=$(grep -v '^hostflow-passive-other/' <<<"$want")
if hf_wait_for 10 __flows_are "$want_after"; then
	ok "${HF_PLAN[3]}"
else
	not_ok "${HF_PLAN[3]}" "$(diff -u --label expected --label actual \
		<(printf '%s\n' "$want_after") <(pick '^hostflow-(passive|active)-[^/]*/tcp_connections-'))"
fi

# LISTVAL: HOST/PLUGIN-INST/TYPE-INST, exactly two '/'
bad=$(grep -v -E '^testhost/[^/]+/[^/]+$' <<<"$all_ids")
if [ -z "$bad" ] && grep -qF 'testhost/hostflow-passive-[2001:db8::1]:443-[2001:db8::_64]:many/tcp_connections-total' <<<"$all_ids"; then
	ok "${HF_PLAN[4]}"
else
	not_ok "${HF_PLAN[4]}" "LISTVAL:" "$all_ids"
fi
hf_done
