#!/usr/bin/env bash
# hostflow.plugin under a real netdata 1.37 (tests/lib/netdata.sh: private
# config, loopback API), both inside the namespace srv:
#   srv (198.51.100.1) listens on :80 (closing each connection its peer
#   closes) and :81; c1 (198.51.100.11) opens 3 connections to :80, c2
#   (.12) 2; srv opens 4 to c1:8080.
# Options reach the plugin both ways netdata has: netdata.conf's
# [plugin:hostflow] "update every = 2" and "command options =
# IgnoreLoopback=yes" (so the API's own loopback traffic makes no flow), and
# hostflow.conf in netdata's user config dir ("ObsoleteAfter = 3").
# Read back through /api/v1/charts and /api/v1/data: the charts and their
# dimensions, the connection counts; c2 closes its connections: the flow is
# 0 at first, then, ObsoleteAfter later, no longer collected (obsolete, but
# not hidden: its history stays, see 45-netdata-series.sh); c2 connects
# again: the flow is back. The :81 listener closes: its charts go away.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/netdata.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
HF_PLAN=(
	"netdata flows: /api/v1/charts lists the hostflow charts"
	"netdata flows: update every from netdata.conf reached the plugin"
	"netdata flows: contexts, families and the backend label"
	"netdata flows: passive flows chart: one dimension per flow, named by the flow"
	"netdata flows: /api/v1/data: connections per passive flow"
	"netdata flows: /api/v1/data: connections per active flow"
	"netdata flows: /api/v1/data: listener 198.51.100.1:80: accept queue 0, fill 0, \$backlog 128"
	"netdata flows: c2 closed: its flow reads 0 within ObsoleteAfter"
	"netdata flows: c2 closed: after ObsoleteAfter its dimension is no longer collected, the others are"
	"netdata flows: c2 connects again: its flow is back with 1 connection"
	"netdata flows: listener :81 closed: after ObsoleteAfter its charts are gone"
	"netdata flows: netdata logged no error about the plugin"
)
hf_require_netns
[ -x "$PLUGIN" ] || hf_setup_failed "$PLUGIN missing (make build/hostflow.plugin)"
[ -x "$ND_BIN" ] || skip_all "no $ND_BIN (netdata-core)"
hf_on_exit netdata_stop

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 --on-eof close || hf_setup_failed "srv :80"
hf_sockgen srv l81 listen --addr 198.51.100.1 --port 81 || hf_setup_failed "srv :81"
hf_sockgen c1 l8080 listen --addr 198.51.100.11 --port 8080 || hf_setup_failed "c1 :8080"
hf_sockgen c1 a connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c2 b connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "c2 -> :80"
hf_sockgen srv d connect --to 198.51.100.11 --port 8080 --count 4 || hf_setup_failed "srv -> c1"

printf '# hostflow.conf of the test\n[plugin]\nObsoleteAfter = 3\n' >"$HF_TMP/hostflow.conf"
netdata_start -n "$(hf_ns srv)" -P "$PLUGIN" -f "$HF_TMP/hostflow.conf" \
	-c "[plugin:hostflow]
	update every = 2
	command options = IgnoreLoopback=yes" >"$HF_TMP/start.err" 2>&1 ||
	hf_setup_failed "netdata did not start: $(cat "$HF_TMP/start.err")"

P=hostflow.flows_passive
A=hostflow.flows_active
L80=hostflow.listener_v4_198_51_100_1_80
L81=hostflow.listener_v4_198_51_100_1_81
F80=hostflow.listener_fill_v4_198_51_100_1_80
F81=hostflow.listener_fill_v4_198_51_100_1_81
D11=p4_198_51_100_1_80_198_51_100_11_many
D12=p4_198_51_100_1_80_198_51_100_12_many

# charts: the hostflow charts of /api/v1/charts (netdata's own listener on
# 127.0.0.1 left out), one "ID CONTEXT FAMILY UPDATE_EVERY" line each.
charts() {
	netdata_json api/v1/charts '"\n".join("%s %s %s %s" % (k, v["context"], v["family"],
		v["update_every"]) for k, v in sorted(d["charts"].items())
		if k.startswith("hostflow.") and "_127_0_0_1_" not in k)'
}
# dims CHART: "ID NAME" per dimension of CHART in /api/v1/charts.
dims() {
	netdata_json api/v1/charts '"\n".join("%s %s" % (k, v["name"]) for k, v in
		sorted(d["charts"][a[0]]["dimensions"].items()))' "$1"
}
# latest CHART: "NAME VALUE" per dimension, from the newest row of
# /api/v1/data with a value in every column.
latest() {
	netdata_json "api/v1/data?chart=$1&after=-10&format=json" '"\n".join("%s %s" % (n, v)
		for n, v in sorted(zip(d["labels"][1:], next(r for r in d["data"]
		if None not in r)[1:])))'
}
# With the bpf backend, six counter charts too (48-netdata-counters.sh checks them).
BACKEND=$(hf_follow_backend)
want_charts=$({ echo "$A $A flows 2
$P $P flows 2
hostflow.listen hostflow.listen states 2
$F80 hostflow.listener_fill listeners 2
$F81 hostflow.listener_fill listeners 2
$L80 hostflow.listener_queue listeners 2
$L81 hostflow.listener_queue listeners 2
hostflow.states hostflow.states states 2"
	if [ "$BACKEND" = bpf ]; then
		for d in active passive; do
			for k in opened closed failed; do
				echo "hostflow.flows_${d}_$k hostflow.flows_${d}_$k flows 2"
			done
		done
	fi; } | LC_ALL=C sort)
got=
__charts() { got=$(charts) && [ "$got" = "$want_charts" ]; }
hf_wait_for 20 __charts
check_eq "${HF_PLAN[0]}" "$(cut -d' ' -f1 <<<"$want_charts")" "$(cut -d' ' -f1 <<<"$got")"
check_eq "${HF_PLAN[1]}" "$(cut -d' ' -f1,4 <<<"$want_charts")" "$(cut -d' ' -f1,4 <<<"$got")"
got_labels=$(netdata_json api/v1/charts '"\n".join("%s %s" % (k, v["chart_labels"].get("backend"))
	for k, v in sorted(d["charts"].items()) if k.startswith("hostflow.")
	and "_127_0_0_1_" not in k)')
check_eq "${HF_PLAN[2]}" "$(cut -d' ' -f1-3 <<<"$want_charts")
$(cut -d' ' -f1 <<<"$want_charts" | sed "s/\$/ $BACKEND/")" "$(cut -d' ' -f1-3 <<<"$got")
$got_labels"

__dims() { got=$(dims $P) && [ "$got" = "$want" ]; }
want="other other
$D11 198.51.100.1:80 <- 198.51.100.11:many
$D12 198.51.100.1:80 <- 198.51.100.12:many"
hf_wait_for 10 __dims
check_eq "${HF_PLAN[3]}" "$want" "$got"

__latest() { got=$(latest "$1" 2>/dev/null) && [ "$got" = "$want" ]; }
want="198.51.100.1:80 <- 198.51.100.11:many 3
198.51.100.1:80 <- 198.51.100.12:many 2
other 0"
hf_wait_for 10 __latest $P
check_eq "${HF_PLAN[4]}" "$want" "$got"
want="198.51.100.1:many -> 198.51.100.11:8080 4
other 0"
hf_wait_for 10 __latest $A
check_eq "${HF_PLAN[5]}" "$want" "$got"
want="accept_queue 0
syn_recv 0"
hf_wait_for 10 __latest $L80
got+=$'\n'$(latest $F80 2>/dev/null)
got+=$'\n'$(netdata_json "api/v1/alarm_variables?chart=$F80" \
	'"backlog %g" % d["chart_variables"]["backlog"]' 2>&1)
check_eq "${HF_PLAN[6]}" "$want
fill 0
backlog 128" "$got"

# c2 closes; srv closes its side at once (--on-eof close), so the flow
# leaves srv's kernel within a round trip.
hf_signal b USR2
hf_wait_status b open=0 || hf_diag "c2 did not close its connections"
t_closed=$SECONDS
want="198.51.100.1:80 <- 198.51.100.11:many 3
198.51.100.1:80 <- 198.51.100.12:many 0
other 0"
hf_wait_for 10 __latest $P
check_eq "${HF_PLAN[7]}" "$want" "$got"
# newest CHART: "NAME VALUE" per dimension of the newest row of the last 10 s
# (None: not collected).
newest() {
	netdata_json "api/v1/data?chart=$1&after=-10&format=json" '"\n".join("%s %s" % (n, v)
		for n, v in sorted(zip(d["labels"][1:], d["data"][0][1:])))'
}
__stopped() { got=$(newest $P 2>/dev/null) && [ "$got" = "$want" ]; }
want="198.51.100.1:80 <- 198.51.100.11:many 3
198.51.100.1:80 <- 198.51.100.12:many None
other 0"
hf_wait_for 20 __stopped
check_eq "${HF_PLAN[8]}" "$want" "$got"
hf_diag "dimension no longer collected $((SECONDS - t_closed)) s after the close (ObsoleteAfter 3, update every 2)"

hf_sockgen c2 b2 connect --to 198.51.100.1 --port 80 --count 1 || hf_diag "c2 could not connect again"
want="198.51.100.1:80 <- 198.51.100.11:many 3
198.51.100.1:80 <- 198.51.100.12:many 1
other 0"
hf_wait_for 15 __latest $P
check_eq "${HF_PLAN[9]}" "$want
$D12 198.51.100.1:80 <- 198.51.100.12:many" "$got
$(dims $P | grep "^$D12 ")"

hf_signal l81 USR1
hf_wait_status l81 listeners=0 || hf_diag "the :81 listener did not close"
__l81_gone() { got=$(charts) && ! grep -q -e "^$L81 " -e "^$F81 " <<<"$got"; }
if hf_wait_for 20 __l81_gone; then
	ok "${HF_PLAN[10]}"
else
	not_ok "${HF_PLAN[10]}" "still listed:" "$got"
fi

# The plugin's stderr goes to error.log as is; netdata's own complaints about
# it are ERROR lines of its PLUGINSD[hostflow] thread.
errs=$(grep -E 'hostflow\.plugin ERROR |ERROR : PLUGINSD\[hostflow\]' "$(netdata_error_log)")
if [ -z "$errs" ]; then
	ok "${HF_PLAN[11]}"
else
	not_ok "${HF_PLAN[11]}" "$errs"
fi
hf_done
