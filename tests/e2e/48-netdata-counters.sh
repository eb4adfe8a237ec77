#!/usr/bin/env bash
# hostflow.plugin, Backend bpf, under a real netdata 1.37 in namespace srv,
# update every 1: the connections opened, closed and failed per flow, which
# no snapshot sees, on the incremental charts hostflow.flows_{active,passive}_
# {opened,closed,failed} (connections/s). Every connection below starts
# after the charts exist and ends well within one second, so at every tick
# its flow has 0 connections:
#   :80   a burst of N from c1 (pinned flow), and of N2 from c2 (not
#         pinned: in "other", or in its own dimension if a tick caught one
#         of them open); srv closes on EOF
#   :9    srv makes M connects to c1's closed port: refused (pinned)
#   .99   srv makes K connects to a blackholed address and gives each up
#         in SYN_SENT after 0.3 s (pinned)
# Summed over the window, connections/s x 1 s from /api/v1/data must be
# exactly those counts, per flow.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/netdata.sh
. "$HF_ROOT/tests/lib/netdata.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
N=30 N2=10 M=4 K=3
HF_PLAN=(
	"netdata counters: the six counter charts, in connections/s, in their contexts, labelled bpf"
	"netdata counters: a burst of $N on the pinned :80 flow: opened=$N closed=$N failed=0"
	"netdata counters: $M connects to a closed port: opened=$M failed=$M closed=0"
	"netdata counters: $K connects to a blackholed address given up: opened=$K failed=$K closed=0"
	"netdata counters: the unpinned burst of $N2 adds up over the other passive dimensions"
	"netdata counters: nothing else counted"
)
hf_require_netns
[ -x "$PLUGIN" ] || hf_setup_failed "$PLUGIN missing (make build/hostflow.plugin)"
[ -x "$ND_BIN" ] || skip_all "no $ND_BIN (netdata-core)"
hf_skip_all_without_bpf
hf_on_exit netdata_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"
hf_blackhole srv 198.51.100.99 || hf_setup_failed "blackhole .99"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 --on-eof close ||
	hf_setup_failed "listener :80"

# The pinned flows' dimension names (ids: p4_198_51_100_1_80_198_51_100_11_many, ...).
P80="198.51.100.1:80 <- 198.51.100.11:many"
A9="198.51.100.1:many -> 198.51.100.11:9"
A99="198.51.100.1:many -> 198.51.100.99:9999"
# IgnoreLoopback: the API's own connections (curl in srv) stay out.
printf '[plugin]\nBackend = bpf\nMaxFlows = 10\nIgnoreLoopback = yes\nPin = %s\nPin = %s\nPin = %s\n' \
	"passive-198.51.100.1:80-198.51.100.11:many" "active-198.51.100.1:many-198.51.100.11:9" \
	"active-198.51.100.1:many-198.51.100.99:9999" >"$HF_TMP/hostflow.conf"
netdata_start -n "$(hf_ns srv)" -P "$PLUGIN" -f "$HF_TMP/hostflow.conf" \
	-c "[plugin:hostflow]
	update every = 1" >"$HF_TMP/start.err" 2>&1 ||
	hf_setup_failed "netdata did not start: $(cat "$HF_TMP/start.err")"
netdata_wait_chart hostflow.flows_active_failed 30 || hf_setup_failed "no hostflow.flows_active_failed"

charts="flows_active_opened flows_active_closed flows_active_failed flows_passive_opened flows_passive_closed flows_passive_failed"
want_charts=$(for c in $charts; do echo "hostflow.$c connections/s hostflow.$c bpf"; done)
got_charts=$(for c in $charts; do
	netdata_json api/v1/charts '"%s %s %s %s" % (a[0], d["charts"][a[0]]["units"],
		d["charts"][a[0]]["context"], d["charts"][a[0]]["chart_labels"].get("backend"))' \
		"hostflow.$c" 2>&1
done)
check_eq "${HF_PLAN[0]}" "$want_charts" "$got_charts"

# A pinned flow's dimensions are there from the first tick; their first
# values (0) are netdata's base, so every connection below is a rate.
dimension() { netdata_json api/v1/charts 'a[1] in d["charts"][a[0]]["dimensions"] or exit(1)' "$1" "$2"; }
netdata_wait_until 20 dimension hostflow.flows_active_failed a4_198_51_100_1_many_198_51_100_99_9999 ||
	hf_setup_failed "no dimension for $A99"
sleep 2
t0=$(date +%s)
hf_sockgen c1 b80 connect --to 198.51.100.1 --port 80 --count "$N" --close ||
	hf_setup_failed "c1 burst"
hf_sockgen c2 b80c2 connect --to 198.51.100.1 --port 80 --count "$N2" --close ||
	hf_setup_failed "c2 burst"
hf_failed_connects srv 198.51.100.11:9 "$M" 2 198.51.100.99:9999 "$K" 0.3 ||
	hf_setup_failed "srv failed connects"
hf_wait_ss srv 0 -- state connected '( sport = :80 )' || hf_diag "srv still holds :80 connections"

# sums CHART: "NAME|COUNT" per dimension over [t0 - 1, now + 1]: the sum of
# its connections/s x 1 s, rounded; sorted. The API labels the data by name.
sums() {
	netdata_json "api/v1/data?chart=$1&after=$((t0 - 1))&before=$(($(date +%s) + 1))&format=json" \
		'"\n".join(sorted("%s|%d" % (l, round(sum(r[i] or 0 for r in d["data"])))
			for i, l in enumerate(d["labels"]) if i))'
}
# pick SUMS NAME: the count of dimension NAME, 0 when absent.
pick() { awk -F'|' -v d="$2" '$1 == d { n = $2 } END { print n + 0 }' <<<"$1"; }
# others SUMS: the counts of every dimension but the pinned ones, added.
others() { awk -F'|' -v a="$P80" -v b="$A9" -v c="$A99" '$1 != a && $1 != b && $1 != c { n += $2 } END { print n + 0 }' <<<"$1"; }
got=
__counted() {
	po=$(sums hostflow.flows_passive_opened) pc=$(sums hostflow.flows_passive_closed)
	pf=$(sums hostflow.flows_passive_failed) ao=$(sums hostflow.flows_active_opened)
	ac=$(sums hostflow.flows_active_closed) af=$(sums hostflow.flows_active_failed)
	got="p80 $(pick "$po" "$P80") $(pick "$pc" "$P80") $(pick "$pf" "$P80")
a9 $(pick "$ao" "$A9") $(pick "$ac" "$A9") $(pick "$af" "$A9")
a99 $(pick "$ao" "$A99") $(pick "$ac" "$A99") $(pick "$af" "$A99")
other passive $(others "$po") $(others "$pc") $(others "$pf")
other active $(others "$ao") $(others "$ac") $(others "$af")"
	[ "$got" = "$want" ]
}
want="p80 $N $N 0
a9 $M 0 $M
a99 $K 0 $K
other passive $N2 $N2 0
other active 0 0 0"
hf_wait_for 20 __counted
line() { sed -n "$1p" <<<"$2"; }
check_eq "${HF_PLAN[1]}" "$(line 1 "$want")" "$(line 1 "$got")"
check_eq "${HF_PLAN[2]}" "$(line 2 "$want")" "$(line 2 "$got")"
check_eq "${HF_PLAN[3]}" "$(line 3 "$want")" "$(line 3 "$got")"
check_eq "${HF_PLAN[4]}" "$(line 4 "$want")" "$(line 4 "$got")"
check_eq "${HF_PLAN[5]}" "$(line 5 "$want")" "$(line 5 "$got")"
hf_done
