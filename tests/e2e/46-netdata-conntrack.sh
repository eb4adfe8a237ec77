#!/usr/bin/env bash
# hostflow.plugin, Source conntrack beside Source sockets, under a real
# netdata 1.37 (tests/lib/netdata.sh), in namespace srv, update every 1:
#   srv tracks connections (nftables ct rule, accounting on) and echoes on
#   tcp :80, :82 and udp :53. cli holds 3 connections to :80 and makes one
#   UDP exchange on :53 (the flow's dimension appears: netdata's
#   incremental algorithm takes its first value as a base), then 3 UDP
#   exchanges of 100 bytes (128 IP bytes each way). The traffic chart's
#   kilobits/s summed over the window x 1 s x 1000 / 8 must be the bytes
#   conntrack -L adds in that time; connections per flow as conntrack -L
#   counts them.
#   Loopback is not tracked in srv (notrack), so that the API's own
#   connections stay out of the table. The table: entries as conntrack -C; the stock alarm hostflow_conntrack_used
#   CLEAR. To raise it, nf_conntrack_max is lowered in srv when the kernel
#   lets a namespace write it (6.x kernels answer EINVAL outside the initial
#   namespace: then a copy of the stock template with its thresholds
#   divided by 100000 raises on the same chart, and the test says so).
#   Then accounting goes off and a connection to :82 comes: one line with
#   the sysctl to turn it on, its connections charted, no traffic dimension.
#   Last, the plugin alone without CAP_NET_ADMIN: one error line, sockets go on.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/conntrack.sh
. "$HF_ROOT/tests/lib/conntrack.sh"
# shellcheck source=tests/lib/netdata.sh
. "$HF_ROOT/tests/lib/netdata.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
HF_PLAN=(
	"netdata conntrack: side by side: the sockets flow of :80 and its conntrack twin, 3 connections each"
	"netdata conntrack: udp :53: connections as conntrack -L counts them"
	"netdata conntrack: udp :53: kilobits/s in and out over the window make the bytes conntrack -L added (3 x 128 each way)"
	"netdata conntrack: the table chart: entries as conntrack -C, used = 100 x entries / max"
	"netdata conntrack: the stock alarm hostflow_conntrack_used is CLEAR"
	"netdata conntrack: the table near full raises hostflow_conntrack_used"
	"netdata conntrack: accounting off: the connection to :82 is charted, no traffic dimension for it"
	"netdata conntrack: accounting off: one log line naming net.netfilter.nf_conntrack_acct"
	"netdata conntrack: without CAP_NET_ADMIN: one error line naming it, the sockets charts go on"
)
hf_require_netns
hf_ct_require
[ -x "$PLUGIN" ] || hf_setup_failed "$PLUGIN missing (make build/hostflow.plugin)"
[ -x "$ND_BIN" ] || skip_all "no $ND_BIN (netdata-core)"
hf_on_exit netdata_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host cli 198.51.100.2/24 || hf_setup_failed "host cli"
hf_ct_enable srv || hf_setup_failed "conntrack on srv"
# The API's own loopback connections stay out of the table: its count is the test's.
hf_in srv nft add chain inet hft raw_pre '{ type filter hook prerouting priority -300; }' &&
	hf_in srv nft add rule inet hft raw_pre iif lo notrack &&
	hf_in srv nft add chain inet hft raw_out '{ type filter hook output priority -300; }' &&
	hf_in srv nft add rule inet hft raw_out oif lo notrack ||
	hf_setup_failed "notrack on lo in srv"
for p in 80 82; do
	hf_ctgen srv "tcp$p" echo --addr 0.0.0.0 --port "$p" || hf_setup_failed "tcp echo :$p"
done
hf_ctgen srv udp53 echo --addr 0.0.0.0 --port 53 --udp || hf_setup_failed "udp echo :53"

# A copy of the stock alarm with thresholds a test table reaches, for kernels
# where a namespace cannot lower nf_conntrack_max.
mkdir -p "$HF_TMP/health"
cp netdata/health.d/hostflow.conf "$HF_TMP/health/hostflow.conf"
sed -e 's/hostflow_conntrack_used/hostflow_conntrack_used_test/' \
	-e 's/(70) : (80)/(0.0007) : (0.0008)/' -e 's/(85) : (90)/(85) : (90)/' \
	-e '/^ template: hostflow_conntrack_used_test/,$!d' \
	netdata/health.d/hostflow.conf >"$HF_TMP/health/hostflow_test.conf"
printf '[plugin]\nSource = sockets\nSource = conntrack\nMaxFlows = 10\nIgnoreLoopback = yes\n' \
	>"$HF_TMP/hostflow.conf"
netdata_start -n "$(hf_ns srv)" -P "$PLUGIN" -f "$HF_TMP/hostflow.conf" -H "$HF_TMP/health" \
	-c "[plugin:hostflow]
	update every = 1" >"$HF_TMP/start.err" 2>&1 ||
	hf_setup_failed "netdata did not start: $(cat "$HF_TMP/start.err")"
netdata_wait_chart hostflow.conntrack_used 30 || hf_setup_failed "no hostflow.conntrack_used"

CTP=hostflow.ct_flows_passive
TRP=hostflow.ct_traffic_passive
D80=p4_198_51_100_1_80_198_51_100_2_many
U53=udp_p4_198_51_100_1_53_198_51_100_2_many

hf_ctgen cli hold80 send --to 198.51.100.1 --port 80 --count 3 --size 10 --hold ||
	hf_setup_failed "held connections to :80"
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 53 --udp --count 1 --size 100 ||
	hf_setup_failed "first udp exchange on :53"
# dimension CHART DIM: true once CHART has DIM.
dimension() { netdata_json api/v1/charts 'a[1] in d["charts"][a[0]]["dimensions"] or exit(1)' "$1" "$2"; }
netdata_wait_until 20 dimension $TRP "${U53}_in" || hf_setup_failed "no traffic dimension for udp :53"
sleep 2
t0=$(date +%s)
before=$(hf_ct_sum srv -p udp --dport 53)
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 53 --udp --count 3 --size 100 ||
	hf_setup_failed "udp exchanges on :53"
after=$(hf_ct_sum srv -p udp --dport 53)
sleep 3
t1=$(date +%s)

got=
__conns() {
	got="sockets $(netdata_value hostflow.flows_passive $D80) conntrack $(netdata_value $CTP tcp_$D80)"
	[ "$got" = "sockets 3 conntrack 3" ]
}
hf_wait_for 10 __conns
check_eq "${HF_PLAN[0]}" "sockets 3 conntrack 3" "$got"
entries=$(hf_in srv conntrack -L -p udp --dport 53 2>/dev/null | grep -c .)
check_eq "${HF_PLAN[1]}" "4 4" "$entries $(netdata_value $CTP $U53)"

# bytes DIM: the bytes of DIM over [t0 - 1, t1 + 1]: the sum of its
# kilobits/s x 1 s x 1000 / 8, rounded.
bytes() {
	netdata_json "api/v1/data?chart=$TRP&dimension=$1&after=$((t0 - 1))&before=$((t1 + 1))&format=json&options=abs" \
		'"%d" % round(sum(r[1] or 0 for r in d["data"]) * 1000 / 8)'
}
added=$(awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, " "); split(a, y, " ");
	printf "in %d out %d", y[3] - x[3], y[5] - x[5] }')
got="in $(bytes "${U53}_in") out $(bytes "${U53}_out")"
check_eq "${HF_PLAN[2]}" "in 384 out 384
$added" "$got
$got"

kernel=$(hf_in srv cat /proc/sys/net/netfilter/nf_conntrack_count)
max=$(hf_in srv cat /proc/sys/net/netfilter/nf_conntrack_max)
__table() {
	got="entries $(netdata_value hostflow.conntrack_table entries) max $(netdata_value hostflow.conntrack_table max) used $(netdata_value hostflow.conntrack_used used)"
	local want_used
	want_used=$(awk -v e="$kernel" -v m="$max" 'BEGIN { printf "%.4f", 100 * e / m }')
	got=$(awk '{ printf "%s %s %s %s used %.4f", $1, $2, $3, $4, $6 }' <<<"$got")
	[ "$got" = "entries $kernel max $max used $want_used" ]
}
hf_wait_for 10 __table
check_eq "${HF_PLAN[3]}" "entries $kernel max $max used $(awk -v e="$kernel" -v m="$max" 'BEGIN { printf "%.4f", 100 * e / m }')" "$got"
st=$(netdata_wait_alarm hostflow_conntrack_used CLEAR 25 2>/dev/null)
check_eq "${HF_PLAN[4]}" "CLEAR" "$st"

hf_in srv sysctl -qw net.netfilter.nf_conntrack_max=$((kernel + 1)) >/dev/null 2>&1
if [ "$(hf_in srv cat /proc/sys/net/netfilter/nf_conntrack_max)" = $((kernel + 1)) ]; then
	st=$(netdata_wait_alarm hostflow_conntrack_used CRITICAL 30 2>/dev/null)
	check_eq "${HF_PLAN[5]}" "CRITICAL" "$st"
else
	hf_diag "nf_conntrack_max cannot be written in a namespace on this kernel ($(uname -r)):" \
		"the copy of the stock template with thresholds / 100000 raises instead"
	st=$(netdata_wait_alarm hostflow_conntrack_used_test WARNING 30 2>/dev/null)
	check_eq "${HF_PLAN[5]}" "WARNING" "$st"
fi

hf_sysctl srv net.netfilter.nf_conntrack_acct=0 || hf_setup_failed "accounting off"
hf_ctgen cli hold82 send --to 198.51.100.1 --port 82 --count 1 --size 10 --hold ||
	hf_setup_failed "held connection to :82"
D82=tcp_p4_198_51_100_1_82_198_51_100_2_many
__c82() { [ "$(netdata_value $CTP $D82 2>/dev/null)" = 1 ]; }
hf_wait_for 10 __c82
sleep 2
check_eq "${HF_PLAN[6]}" "connections 1 traffic dimension no" \
	"connections $(netdata_value $CTP $D82) traffic dimension $(dimension $TRP "${D82}_in" >/dev/null 2>&1 && echo yes || echo no)"
check_eq "${HF_PLAN[7]}" "1" "$(grep -c 'hostflow.plugin.*nf_conntrack_acct' "$(netdata_error_log)")"
# The plugin alone, without CAP_NET_ADMIN (setpriv drops it from the
# bounding set): ctnetlink refused, one error line naming the cause, the
# sockets charts go on.
if ! command -v setpriv >/dev/null; then
	skip "${HF_PLAN[8]}" "no setpriv(1) (util-linux)"
	hf_done
fi
mkdir -p "$HF_TMP/etc2"
printf '[plugin]\nSource = sockets\nSource = conntrack\n' >"$HF_TMP/etc2/hostflow.conf"
hf_in srv env NETDATA_USER_CONFIG_DIR="$HF_TMP/etc2" NETDATA_STOCK_CONFIG_DIR="$HF_TMP/etc2" \
	timeout -s TERM 3 setpriv --bounding-set -net_admin "$PLUGIN" 1 \
	>"$HF_TMP/nocap.out" 2>"$HF_TMP/nocap.err"
rc=$?
check_eq "${HF_PLAN[8]}" "rc 124
sockets charts yes
conntrack charts no
errors 1
names CAP_NET_ADMIN 1" "rc $rc
sockets charts $(grep -q '^CHART hostflow.flows_passive ' "$HF_TMP/nocap.out" && echo yes || echo no)
conntrack charts $(grep -q '^CHART hostflow.ct_' "$HF_TMP/nocap.out" && echo yes || echo no)
errors $(grep -c ERROR "$HF_TMP/nocap.err")
names CAP_NET_ADMIN $(grep -c 'ERROR.*Source conntrack.*CAP_NET_ADMIN' "$HF_TMP/nocap.err")"
hf_diag "$(cat "$HF_TMP/nocap.err")"
hf_done
