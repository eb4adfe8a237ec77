#!/usr/bin/env bash
# hostflow.plugin, Namespaces all, under a real netdata 1.37: the charts of
# every network namespace, each with a "netns" chart label; the namespace
# netdata runs in keeps the chart ids of old.
#   netdata runs in col (no sockets). srv listens on :80; a connects to
#   srv:80 3 times, b twice. Then b's processes end and its namespace is
#   deleted mid-run: its charts are declared obsolete and leave
#   /api/v1/charts. Other namespaces of the machine are seen too; the
#   checks look at this test's namespaces only, so the bounds (per host,
#   all namespaces together) are set high.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/netdata.sh
. "$HF_ROOT/tests/lib/netdata.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
HF_PLAN=(
	"netdata netns: srv's passive flows under srv's chart: a 3, b 2"
	"netdata netns: a's and b's active flows under their own charts"
	"netdata netns: the netns chart label names each namespace; the title too"
	"netdata netns: srv's listener :80 fill chart, in the context the stock alarm watches"
	"netdata netns: netdata's own namespace keeps the chart ids of old (hostflow.states), labelled"
	"netdata netns: b deleted: its charts are obsoleted and leave /api/v1/charts, the others stay"
	"netdata netns: netdata logged no error about the plugin"
)
hf_require_netns
[ -x "$PLUGIN" ] || hf_setup_failed "$PLUGIN missing (make build/hostflow.plugin)"
[ -x "$ND_BIN" ] || skip_all "no $ND_BIN (netdata-core)"
hf_on_exit netdata_stop

hf_host col 198.51.100.100/24 || hf_setup_failed "host col"
hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host a 198.51.100.11/24 || hf_setup_failed "host a"
hf_host b 198.51.100.12/24 || hf_setup_failed "host b"
COL=$(hf_ns col) SRV=$(hf_ns srv) A=$(hf_ns a) B=$(hf_ns b)
# part NAME: the chart id part of namespace NAME (nd_ns_part; test names are short).
part() { printf '_ns_%s' "$(tr 'A-Z' 'a-z' <<<"$1" | sed 's/[^a-z0-9]/_/g')"; }
hf_sockgen srv l80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "srv :80"
hf_sockgen a c80 connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "a -> srv:80"
hf_sockgen b c80 connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "b -> srv:80"

printf '[plugin]\nNamespaces = all\nMaxFlows = 10000\nMaxListeners = 10000\nObsoleteAfter = 3\n' \
	>"$HF_TMP/hostflow.conf"
netdata_start -n "$COL" -P "$PLUGIN" -f "$HF_TMP/hostflow.conf" -c "[plugin:hostflow]
	update every = 1" >"$HF_TMP/start.err" 2>&1 ||
	hf_setup_failed "netdata did not start: $(cat "$HF_TMP/start.err")"

PS=hostflow.flows_passive$(part "$SRV")
AA=hostflow.flows_active$(part "$A")
AB=hostflow.flows_active$(part "$B")
SB=hostflow.states$(part "$B")
FS=hostflow.listener_fill_v4_0_0_0_0_80$(part "$SRV")
netdata_wait_chart "$PS" 30 || hf_setup_failed "no $PS"

got=
__srv() {
	got="a $(netdata_value "$PS" p4_198_51_100_1_80_198_51_100_11_many 2>/dev/null) b $(netdata_value "$PS" p4_198_51_100_1_80_198_51_100_12_many 2>/dev/null)"
	[ "$got" = "a 3 b 2" ]
}
hf_wait_for 15 __srv
check_eq "${HF_PLAN[0]}" "a 3 b 2" "$got"
__ab() {
	got="a $(netdata_value "$AA" a4_198_51_100_11_many_198_51_100_1_80 2>/dev/null) b $(netdata_value "$AB" a4_198_51_100_12_many_198_51_100_1_80 2>/dev/null)"
	[ "$got" = "a 3 b 2" ]
}
hf_wait_for 15 __ab
check_eq "${HF_PLAN[1]}" "a 3 b 2" "$got"
# info CHART: "netns LABEL; TITLE" from /api/v1/charts.
info() {
	netdata_json api/v1/charts '"%s %s; %s" % (a[0], d["charts"][a[0]]["chart_labels"].get("netns"), d["charts"][a[0]]["title"])' "$1"
}
# netdata adds the chart id to the title.
check_eq "${HF_PLAN[2]}" "$PS $SRV; TCP Connections per Passive Flow (netns $SRV) ($PS)
$AA $A; TCP Connections per Active Flow (netns $A) ($AA)" "$(info "$PS"; info "$AA")"
netdata_wait_chart "$FS" 15 >/dev/null 2>&1
check_eq "${HF_PLAN[3]}" "$FS hostflow.listener_fill $SRV" \
	"$(netdata_json api/v1/charts '"%s %s %s" % (a[0], d["charts"][a[0]]["context"], d["charts"][a[0]]["chart_labels"].get("netns"))' "$FS")"
check_eq "${HF_PLAN[4]}" "hostflow.states $COL" \
	"$(netdata_json api/v1/charts '"hostflow.states %s" % d["charts"]["hostflow.states"]["chart_labels"].get("netns")')"

__b_up() { netdata_json api/v1/charts 'a[0] in d["charts"] or exit(1)' "$SB" >/dev/null; }
hf_wait_for 10 __b_up
kill "${HF_PID[c80]}" 2>/dev/null
ip netns del "$B"
t_del=$SECONDS
__b_gone() {
	got=$(netdata_json api/v1/charts '"\n".join(k for k in sorted(d["charts"]) if k in a)' "$AB" "$SB" "$PS" "$AA")
	[ "$got" = "$(printf '%s\n' "$AA" "$PS" | LC_ALL=C sort)" ]
}
hf_wait_for 20 __b_gone
hf_diag "b's charts gone $((SECONDS - t_del)) s after ip netns del"
check_eq "${HF_PLAN[5]}" "$(printf '%s\n' "$AA" "$PS" | LC_ALL=C sort)" "$got"
errs=$(grep 'hostflow.plugin.*ERROR' "$(netdata_error_log)")
check_eq "${HF_PLAN[6]}" "" "$errs"
hf_done
