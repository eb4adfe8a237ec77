#!/usr/bin/env bash
# collectd plugin, Source conntrack beside Source sockets: per-flow
# connection gauges and if_octets/if_packets counters whose differences
# over the intervals are exact, connections that end between two reads
# included; the table's fill; accounting off.
#   srv tracks connections (nftables ct rule, accounting on) and echoes on
#   tcp :80, :81, :82 and udp :53; collectd runs in srv, Interval 1. After
#   its first read, cli holds one connection to :80, makes 2 exchanges of
#   1000 bytes on :80 whose entries are then deleted (conntrack -D: destroy
#   events), 3 UDP exchanges of 100 bytes on :53 (128 IP bytes each way),
#   and one exchange of 700 bytes on :81 created and deleted at once
#   (between two reads). The counters' last less first values (the csv
#   plugin stores them raw) must equal conntrack -L's sums and the known
#   payloads. Then accounting goes off and a connection to :82 comes.
#   Last, a second collectd without CAP_NET_ADMIN (setpriv drops it from
#   the bounding set) cannot read the table: one ERROR, sockets go on.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/conntrack.sh
. "$(dirname "$0")/../lib/conntrack.sh"
# shellcheck source=tests/lib/collectd.sh
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd conntrack: side by side: the sockets flow of :80 and its ct-tcp- twin, 1 connection each"
	"collectd conntrack: udp :53: if_octets rx and tx 3 x 128 bytes (the known payloads), as conntrack -L sums them"
	"collectd conntrack: udp :53: if_packets rx 3, tx 3; current_connections 3"
	"collectd conntrack: tcp :80: if_octets over the intervals equal conntrack -L's sums, 2 deleted connections included"
	"collectd conntrack: tcp :81: a connection opened and deleted between two reads is counted"
	"collectd conntrack: hostflow-ct-all: entries as conntrack -C, percent-used = 100 x entries / max"
	"collectd conntrack: accounting off: the connection is sent, no traffic values"
	"collectd conntrack: accounting off: one WARNING naming sysctl net.netfilter.nf_conntrack_acct=1"
	"collectd conntrack: without CAP_NET_ADMIN: one ERROR naming it, the sockets source goes on"
	"collectd conntrack: a pinned ct- flow without entries reads 0, no traffic"
	"collectd conntrack: ReportStates: tcp :80 by conntrack's TCP states (ESTABLISHED 1, TIME_WAIT 0 once deleted)"
)
hf_require_netns
hf_ct_require
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host cli 198.51.100.2/24 || hf_setup_failed "host cli"
hf_ct_enable srv || hf_setup_failed "conntrack on srv"
for p in 80 81 82; do
	hf_ctgen srv "tcp$p" echo --addr 0.0.0.0 --port "$p" || hf_setup_failed "tcp echo :$p"
done
hf_ctgen srv udp53 echo --addr 0.0.0.0 --port 53 --udp || hf_setup_failed "udp echo :53"

collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c "LoadPlugin hostflow
<Plugin hostflow>
	Source sockets
	Source conntrack
	MaxFlows 10
	ReportListeners false
	ReportStates true
	Pin \"ct-udp-passive-198.51.100.1:123-198.51.100.9:many\"
</Plugin>" >"$HF_TMP/start.err" 2>&1 || hf_setup_failed "collectd did not start: $(cat "$HF_TMP/start.err")"
collectd_wait_ident '^testhost/hostflow-ct-all/conntrack$' 20 >/dev/null ||
	hf_setup_failed "no hostflow-ct-all/conntrack: $(collectd_log_tail 10)"

P80=passive-198.51.100.1:80-198.51.100.2:many
CT80=ct-tcp-$P80
CT81=ct-tcp-passive-198.51.100.1:81-198.51.100.2:many
CT82=ct-tcp-passive-198.51.100.1:82-198.51.100.2:many
CT53=ct-udp-passive-198.51.100.1:53-198.51.100.2:many

hf_ctgen cli hold80 send --to 198.51.100.1 --port 80 --count 1 --size 10 --hold ||
	hf_setup_failed "held connection to :80"
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 80 --count 2 --size 1000 ||
	hf_setup_failed "tcp exchanges on :80"
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 53 --udp --count 3 --size 100 ||
	hf_setup_failed "udp exchanges on :53"
sleep 0.3
sum80=$(hf_ct_sum srv -p tcp --dport 80)
sum53=$(hf_ct_sum srv -p udp --dport 53)
hf_in srv conntrack -D -p tcp --dport 80 --state TIME_WAIT >/dev/null 2>&1
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 81 --count 1 --size 700 ||
	hf_setup_failed "tcp exchange on :81"
sum81=$(hf_ct_sum srv -p tcp --dport 81)
hf_in srv conntrack -D -p tcp --dport 81 >/dev/null 2>&1
hf_diag "conntrack -L sums (entries po bo pr br): :80 $sum80, :53 $sum53, :81 $sum81"

# delta ID TYPE: "rx tx" of hostflow-ID/TYPE's counters in the csv files,
# the last value less the first ("none" without a file).
delta() {
	local files
	files=$(find "$COLLECTD_CSV_DIR/testhost/hostflow-$1" -name "$2-*" 2>/dev/null | sort)
	[ -n "$files" ] || { echo none; return; }
	# shellcheck disable=SC2086 # file names without blanks
	grep -hv '^epoch' $files | sort -t, -k1,1n |
		awk -F, 'NR == 1 { r = $2; t = $3 } { lr = $2; lt = $3 } END { printf "%d %d\n", lr - r, lt - t }'
}
# expect SUM: "rx tx" of a passive flow from conntrack sums "entries po bo pr br".
expect_octets() { awk '{ print $3, $5 }' <<<"$1"; }
expect_packets() { awk '{ print $2, $4 }' <<<"$1"; }

# Let three reads pass after the deletions.
sleep 3.5
snap=$(collectd_snapshot)
pick() { grep -E "$1" <<<"$snap"; }

check_eq "${HF_PLAN[0]}" "$(LC_ALL=C sort <<<"hostflow-$P80/tcp_connections-total 1
hostflow-$CT80/current_connections-total 1")" \
	"$(pick "^hostflow-($P80|$CT80)/(tcp|current)_connections-total ")"
check_eq "${HF_PLAN[1]}" "384 384
384 384" "$(delta "$CT53" if_octets)
$(expect_octets "$sum53")"
check_eq "${HF_PLAN[2]}" "3 3
hostflow-$CT53/current_connections-total 3" "$(delta "$CT53" if_packets)
$(pick "^hostflow-$CT53/current_connections-total ")"
check_eq "${HF_PLAN[3]}" "$(expect_octets "$sum80") $(expect_packets "$sum80")" \
	"$(delta "$CT80" if_octets) $(delta "$CT80" if_packets)"
check_eq "${HF_PLAN[4]}" "$(expect_octets "$sum81") $(expect_packets "$sum81")" \
	"$(delta "$CT81" if_octets) $(delta "$CT81" if_packets)"

read -r entries max pct < <(awk '
	$1 == "hostflow-ct-all/conntrack" { e = $2 }
	$1 == "hostflow-ct-all/conntrack-max" { m = $2 }
	$1 == "hostflow-ct-all/percent-used" { p = $2 }
	END { print e, m, p }' <<<"$snap")
kernel=$(hf_in srv conntrack -C 2>/dev/null)
pct_ok=$(awk -v e="$entries" -v m="$max" -v p="$pct" \
	'BEGIN { d = p - 100 * e / m; print (m > 0 && d < 1e-6 && d > -1e-6) ? "yes" : "no" }')
check_eq "${HF_PLAN[5]}" "entries $kernel percent-used yes" "entries $entries percent-used $pct_ok"
hf_diag "table: entries $entries, max $max, percent-used $pct"
PIN=ct-udp-passive-198.51.100.1:123-198.51.100.9:many
check_eq "${HF_PLAN[9]}" "hostflow-$PIN/current_connections-total 0" "$(pick "^hostflow-$PIN/")"
check_eq "${HF_PLAN[10]}" "hostflow-$CT80/current_connections-ESTABLISHED 1
hostflow-$CT80/current_connections-TIME_WAIT 0" \
	"$(pick "^hostflow-$CT80/current_connections-(ESTABLISHED|TIME_WAIT) ")"

hf_sysctl srv net.netfilter.nf_conntrack_acct=0 || hf_setup_failed "accounting off"
hf_ctgen cli hold82 send --to 198.51.100.1 --port 82 --count 1 --size 10 --hold ||
	hf_setup_failed "held connection to :82"
__ct82() {
	snap=$(collectd_snapshot)
	[ "$(pick "^hostflow-$CT82/current_connections-total ")" = \
		"hostflow-$CT82/current_connections-total 1" ]
}
hf_wait_for 10 __ct82
sleep 2
snap=$(collectd_snapshot)
check_eq "${HF_PLAN[6]}" "hostflow-$CT82/current_connections-total 1" \
	"$(pick "^hostflow-$CT82/" | grep -v '/current_connections-[A-Z]')"
# The logfile plugin writes the severity as "[warning]".
warn=$(grep -ci '\[warning\] hostflow plugin: .*sysctl -w net.netfilter.nf_conntrack_acct=1' "$COLLECTD_LOG")
check_eq "${HF_PLAN[7]}" 1 "$warn"

collectd_stop
if ! command -v setpriv >/dev/null; then
	skip "${HF_PLAN[8]}" "no setpriv(1) (util-linux)"
	hf_done
fi
wrapper=$HF_TMP/collectd-no-net-admin
printf '#!/bin/sh\nexec setpriv --bounding-set -net_admin %s "$@"\n' "$COLLECTD_BIN" >"$wrapper"
chmod +x "$wrapper"
COLLECTD_BIN=$wrapper collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c "LoadPlugin hostflow
<Plugin hostflow>
	Source sockets
	Source conntrack
	ReportListeners false
</Plugin>" >"$HF_TMP/start2.err" 2>&1 || hf_setup_failed "collectd without CAP_NET_ADMIN did not start: $(cat "$HF_TMP/start2.err")"
collectd_wait_value "testhost/hostflow-$P80/tcp_connections-total" 1 15 >/dev/null
sleep 3
errs=$(grep -ci '\[error\] hostflow plugin: .*conntrack.*CAP_NET_ADMIN' "$COLLECTD_LOG")
sock=$(collectd_value "testhost/hostflow-$P80/tcp_connections-total" 2>&1)
if [ "$errs" = 1 ] && [ "$sock" = 1.000000e+00 ]; then
	ok "${HF_PLAN[8]}"
else
	not_ok "${HF_PLAN[8]}" "$errs ERROR lines naming CAP_NET_ADMIN; sockets :80 flow: $sock" \
		"$(collectd_log_tail 8)"
fi
hf_done
