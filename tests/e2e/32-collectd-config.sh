#!/usr/bin/env bash
# collectd plugin: a <Plugin hostflow> block with an unknown option, a bad
# value, a bad network or an option given twice is refused with an ERROR naming the option and the value;
# hostflow then dispatches nothing while collectd keeps running and its
# other plugins (load) keep reporting.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$HF_ROOT/tests/lib/collectd.sh"

HF_PLAN=(
	"collectd config: unknown option: ERROR names the option"
	"collectd config: unknown option: collectd runs on, load reports"
	"collectd config: unknown option: hostflow dispatches nothing"
	"collectd config: bad value: ERROR names the option and the value"
	"collectd config: bad value: collectd runs on, load reports"
	"collectd config: bad value: hostflow dispatches nothing"
	"collectd config: bad network: ERROR names the option and the value"
	"collectd config: bad network: collectd runs on, load reports"
	"collectd config: bad network: hostflow dispatches nothing"
	"collectd config: duplicate option: ERROR names the option and the second value"
	"collectd config: duplicate option: collectd runs on, load reports"
	"collectd config: duplicate option: hostflow dispatches nothing"
	"collectd config: the example hostflow.conf, every option uncommented, is accepted"
)
hf_require_netns
[ -f build/hostflow.so ] || hf_setup_failed "build/hostflow.so missing (make build/hostflow.so)"
hf_on_exit collectd_stop
hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
# Something hostflow would report if it ran.
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 || hf_setup_failed "listener :80"

# refused FIRST_CHECK BLOCK ERE: start collectd with BLOCK, make checks
# FIRST_CHECK..FIRST_CHECK+2 of HF_PLAN.
refused() {
	local i=$1 block=$2 ere=$3 line ids
	if ! collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -p load \
		-c "LoadPlugin hostflow
$block" >"$HF_TMP/start.err" 2>&1; then
		hf_fail "${HF_PLAN[$i]}" "collectd did not start" "$(cat "$HF_TMP/start.err")"
		hf_fail "${HF_PLAN[i + 1]}" "collectd did not start"
		hf_fail "${HF_PLAN[i + 2]}" "collectd did not start"
		collectd_stop
		return
	fi
	# Two reads of load: the daemon is past init and reading.
	collectd_wait_value "$COLLECTD_HOST/load/load" 0 0 >/dev/null 2>&1
	collectd_wait_ident '^testhost/load/load$' 10 >/dev/null 2>&1
	sleep 2.2
	line=$(grep -E "$ere" "$COLLECTD_LOG")
	if [ -n "$line" ]; then
		ok "${HF_PLAN[$i]}"
		hf_diag "$line"
	else
		not_ok "${HF_PLAN[$i]}" "no line matching: $ere" "$(collectd_log_tail 20)"
	fi
	ids=$(collectd_listval 2>&1)
	if [ -n "$COLLECTD_PID" ] && kill -0 "$COLLECTD_PID" 2>/dev/null &&
		grep -qx "$COLLECTD_HOST/load/load" <<<"$ids"; then
		ok "${HF_PLAN[i + 1]}"
	else
		not_ok "${HF_PLAN[i + 1]}" "LISTVAL: $ids" "$(collectd_log_tail 20)"
	fi
	if ! grep -q '/hostflow' <<<"$ids" && [ -z "$(ls "$COLLECTD_CSV_DIR/$COLLECTD_HOST" | grep hostflow)" ] &&
		grep -q 'hostflow plugin: .*not collecting' "$COLLECTD_LOG"; then
		ok "${HF_PLAN[i + 2]}"
	else
		not_ok "${HF_PLAN[i + 2]}" "LISTVAL: $ids" "$(collectd_log_tail 20)"
	fi
	collectd_stop
}

refused 0 '<Plugin hostflow>
	ReportStates true
	RepotListeners false
</Plugin>' '\[error\] hostflow plugin: unknown option "RepotListeners" \(with value "false"\)'

refused 3 '<Plugin hostflow>
	MaxFlows 10
	PeerPrefix4 40
</Plugin>' '\[error\] hostflow plugin: option PeerPrefix4: "40" is not a prefix length'

refused 6 '<Plugin hostflow>
	ExcludeNet "198.51.100.0/24"
	ExcludeNet "198.51.100.300/24"
</Plugin>' '\[error\] hostflow plugin: option ExcludeNet: "198\.51\.100\.300/24" is not a network'

refused 9 '<Plugin hostflow>
	MaxFlows 10
	MaxFlows 20
</Plugin>' '\[error\] hostflow plugin: option MaxFlows given twice \(second value "20"\)'

example=$(sed 's/^#<Plugin/<Plugin/; s/^#<\/Plugin/<\/Plugin/; s/^#\t\([A-Z]\)/\t\1/' collectd/hostflow.conf)
if collectd_start -n "$(hf_ns srv)" -i 1 -p build/hostflow.so -c "$example" >"$HF_TMP/start.err" 2>&1 &&
	collectd_wait_ident '^testhost/hostflow-listen-198\.51\.100\.1:80/queue_length-backlog$' 10 >/dev/null &&
	! grep -qE '\[(error|warning)\]' "$COLLECTD_LOG"; then
	ok "${HF_PLAN[12]}"
else
	not_ok "${HF_PLAN[12]}" "$(cat "$HF_TMP/start.err")" "$(grep -v '^#' <<<"$example" | grep .)" \
		"$(collectd_log_tail 20)"
fi
collectd_stop
hf_done
