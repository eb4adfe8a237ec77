#!/usr/bin/env bash
# hostflow, scenario i: --watch with --json, the --states table, and -p on
# passive, active and TIME_WAIT-only flows. In srv:
#   :40080  listener lst (its own process group, --pgrp) accepts 5
#           connections from c1, 2 of which c1 has closed: ESTABLISHED=3
#           CLOSE_WAIT=2
#   :40082  listener tw (--pgrp too) accepts 2 connections from c1 and
#           closes them first, then c1 closes: TIME_WAIT=2 on srv, sockets
#           without an inode or a process; the flow takes its listener's
#   out     out (in the test's process group) holds 4 connections to c1's
#           listener on :40090: an active flow
# The three processes have three process groups, so a flow given another's
# process shows.
# --watch=1 --json prints one JSON document per line, paced to the clock:
# run for 3.5 s, it prints 3 or 4; 2 to 4 are accepted, as this is no timing
# test. The --states table has one column per state some flow has, in the
# kernel's order, each figure under its header. -p gives each flow the
# name and process group of its process (read here from /proc/PID/stat).
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"i: srv kernel holds the expected states"
	"i: --watch=1 --json for 3.5 s prints 2 to 4 lines"
	"i: --watch=1 --json: every line is a JSON document of the flows"
	"i: --watch=1 --json runs until stopped, nothing on stderr"
	"i: --states: a column per state present (ESTABLISHED TIME_WAIT CLOSE_WAIT), figures under them"
	"i: --states -p: the same, and a Process column"
	"i: -p --json: passive, active and TIME_WAIT-only flows carry their process and pgid"
	"i: -p --json --proc: the same"
)
hf_require_netns

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 || hf_setup_failed "host c1"

hf_sockgen srv lst listen --addr 0.0.0.0 --port 40080 --pgrp || hf_setup_failed "listener :40080"
hf_sockgen srv tw listen --addr 0.0.0.0 --port 40082 --pgrp || hf_setup_failed "listener :40082"
hf_sockgen c1 c1l listen --addr 198.51.100.11 --port 40090 || hf_setup_failed "c1 listener :40090"

hf_sockgen c1 hold80 connect --to 198.51.100.1 --port 40080 --count 3 || hf_setup_failed "c1 -> :40080"
hf_sockgen c1 close80 connect --to 198.51.100.1 --port 40080 --count 2 --close ||
	hf_setup_failed "c1 -> :40080, closing"
hf_sockgen srv out connect --to 198.51.100.11 --port 40090 --count 4 || hf_setup_failed "srv -> c1"
# :40082: srv closes first, c1 after it has the FIN (else both close at once)
hf_sockgen c1 hold82 connect --to 198.51.100.1 --port 40082 --count 2 || hf_setup_failed "c1 -> :40082"
hf_wait_status tw accepted=2 || hf_setup_failed "accept on :40082"
hf_signal tw USR2
hf_wait_status tw open=0 || hf_setup_failed "srv closing :40082"
hf_wait_ss c1 2 -- state close-wait '( dport = :40082 )' || hf_setup_failed "c1 CLOSE_WAIT on :40082"
hf_signal hold82 USR2
hf_wait_status hold82 open=0 || hf_setup_failed "c1 closing :40082"
hf_wait_status lst accepted=5 || hf_setup_failed "accept on :40080"

srv_flows="
passive 198.51.100.1:40080 <- 198.51.100.11:many 5 ESTABLISHED=3 CLOSE_WAIT=2
passive 198.51.100.1:40082 <- 198.51.100.11:many 2 TIME_WAIT=2
active 198.51.100.1:many -> 198.51.100.11:40090 4 ESTABLISHED=4"
hf_check_kernel "i: srv kernel holds the expected states" srv "$srv_flows"

# ---- --watch=1 --json
if hf_have_hostflow; then
	hf_in srv timeout 3.5 "$HOSTFLOW" -n --watch=1 --json >"$HF_TMP/watch.out" 2>"$HF_TMP/watch.err"
	rc=$?
	n=$(wc -l <"$HF_TMP/watch.out")
	hf_diag "--watch=1 --json printed $n lines in 3.5 s"
	if [ "$n" -ge 2 ] && [ "$n" -le 4 ]; then
		ok "i: --watch=1 --json for 3.5 s prints 2 to 4 lines"
	else
		not_ok "i: --watch=1 --json for 3.5 s prints 2 to 4 lines" "$n lines:" "$(cat "$HF_TMP/watch.out")"
	fi
	bad=()
	i=0
	while IFS= read -r doc; do
		i=$((i + 1))
		if ! d=$(printf '%s\n' "$doc" | hf_flows_check json "$srv_flows"); then
			bad+=("line $i:" "$d")
		fi
	done <"$HF_TMP/watch.out"
	if [ "$n" -gt 0 ] && [ ${#bad[@]} = 0 ]; then
		ok "i: --watch=1 --json: every line is a JSON document of the flows"
	else
		not_ok "i: --watch=1 --json: every line is a JSON document of the flows" "${bad[@]}"
	fi
	# timeout(1) exits 124 when it had to stop the command
	check_eq "i: --watch=1 --json runs until stopped, nothing on stderr" "status 124, stderr ''" \
		"status $rc, stderr '$(cat "$HF_TMP/watch.err")'"
else
	for d in "i: --watch=1 --json for 3.5 s prints 2 to 4 lines" \
		"i: --watch=1 --json: every line is a JSON document of the flows" \
		"i: --watch=1 --json runs until stopped, nothing on stderr"; do
		hf_fail "$d" "$HOSTFLOW missing"
	done
fi

# ---- processes: name as the kernel keeps it, pgid from /proc/PID/stat
# proc_of TAG: "NAME/PGID" of sockgen TAG.
proc_of() {
	local pid=${HF_PID[$1]}
	printf '%s/%s\n' "$(cat "/proc/$pid/comm")" "$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $3}')"
}
p_lst=$(proc_of lst) p_tw=$(proc_of tw) p_out=$(proc_of out)
hf_diag "processes: lst $p_lst, tw $p_tw, out $p_out"
srv_procs="
passive 198.51.100.1:40080 <- 198.51.100.11:many 5 ESTABLISHED=3 CLOSE_WAIT=2 process=$p_lst
passive 198.51.100.1:40082 <- 198.51.100.11:many 2 TIME_WAIT=2 process=$p_tw
active 198.51.100.1:many -> 198.51.100.11:40090 4 ESTABLISHED=4 process=$p_out"

# ---- --states text table
# table_check DESC EXPECTED ARGS...: run hostflow ARGS in srv, turn its text
# table into "columns: ..." and canonical lines (flows.py table) and compare
# with EXPECTED (its first line the columns, the rest flow lines).
table_check() {
	local desc=$1 exp=$2 got
	shift 2
	if ! hf_have_hostflow; then
		hf_fail "$desc" "$HOSTFLOW missing"
		return 1
	fi
	hf_run_hostflow srv "$@"
	if [ "$HF_RC" != 0 ]; then
		hf_fail "$desc" "hostflow $* exited $HF_RC" "$HF_ERR"
		return 1
	fi
	got=$(printf '%s\n' "$HF_OUT" | "$HF_PYTHON" -S "$HF_FLOWS" table)
	exp="$(head -n 1 <<<"$exp")
$(tail -n +2 <<<"$exp" | hf_canon)"
	check_eq "$desc" "$exp" "$got" || hf_diag "the table:" "$HF_OUT"
}
cols="columns: Local Address:Port|<-->|Peer Address:Port|Connections|ESTABLISHED|TIME_WAIT|CLOSE_WAIT"
table_check "i: --states: a column per state present (ESTABLISHED TIME_WAIT CLOSE_WAIT), figures under them" \
	"$cols$srv_flows" -n --states
table_check "i: --states -p: the same, and a Process column" "$cols|Process$srv_procs" -n --states -p

# ---- -p --json
hf_check_hostflow "i: -p --json: passive, active and TIME_WAIT-only flows carry their process and pgid" \
	srv "$srv_procs" -n --json -p
hf_check_hostflow "i: -p --json --proc: the same" srv "$srv_procs" -n --json -p --proc

hf_done
