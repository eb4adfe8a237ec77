#!/usr/bin/env bash
# hostflow.plugin ends when netdata stops reading: a closed stdout is seen
# at the next tick's write (SIGPIPE ignored, write errors checked), and the
# plugin exits quietly with status 0. The bound below (5 s for 1 s ticks)
# only tells "ended" from "kept running", it measures nothing.
#
# Runs on this host's own sockets; needs no root (no namespace is made).
set -u
. "$(dirname "$0")/../lib/netns.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
HF_PLAN=(
	"netdata stdout: the plugin writes its first tick at once"
	"netdata stdout: it keeps running while its stdout is read"
	"netdata stdout: the reader closes: the plugin ends within 5 s"
	"netdata stdout: it ends with status 0 (not killed by SIGPIPE) and nothing on stderr"
	"netdata stdout: hostflow.plugin 1 | true ends"
	"netdata stdout: started with stdout closed, it ends at once (no socket takes fd 1)"
)
[ -x "$PLUGIN" ] || hf_setup_failed "$PLUGIN missing (make build/hostflow.plugin)"
mkdir -p "$HF_TMP/etc"
export NETDATA_USER_CONFIG_DIR=$HF_TMP/etc NETDATA_STOCK_CONFIG_DIR=$HF_TMP/etc

fifo=$HF_TMP/stdout
mkfifo "$fifo" || hf_setup_failed "mkfifo"
"$PLUGIN" 1 >"$fifo" 2>"$HF_TMP/err" &
pid=$!
HF_PIDS+=("$pid")
exec 3<"$fifo"
line=
read -r -t 5 -u 3 line
if [[ $line == "CHART hostflow."* ]]; then
	ok "${HF_PLAN[0]}"
else
	not_ok "${HF_PLAN[0]}" "first line: ${line:-none}"
fi
# Read for two seconds: at least two more ticks.
end=$((SECONDS + 2))
while [ $SECONDS -lt $end ]; do
	read -r -t 1 -u 3 line || true
done
if kill -0 "$pid" 2>/dev/null; then
	ok "${HF_PLAN[1]}"
else
	not_ok "${HF_PLAN[1]}" "it ended while read" "stderr: $(cat "$HF_TMP/err")"
fi
exec 3<&-
t0=${EPOCHREALTIME/./}
__ended() { ! kill -0 "$pid" 2>/dev/null || [ -n "$(ps -o stat= -p "$pid" | grep Z)" ]; }
if hf_wait_for 5 __ended; then
	ok "${HF_PLAN[2]}"
	hf_diag "ended $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after the close (ticks of 1 s)"
else
	not_ok "${HF_PLAN[2]}" "still running 5 s after its stdout was closed"
	kill "$pid" 2>/dev/null
fi
wait "$pid"
rc=$?
check_eq "${HF_PLAN[3]}" "status 0, stderr ''" "status $rc, stderr '$(cat "$HF_TMP/err")'"

# The plain pipe: true exits at once, the plugin at its first or second write.
timeout 10 sh -c '"$1" 1 | true' sh "$PLUGIN" 2>"$HF_TMP/err2"
rc=$?
check_eq "${HF_PLAN[4]}" "status 0, stderr ''" "status $rc, stderr '$(cat "$HF_TMP/err2")'"

# fd 1 closed before start: the first socket the plugin opens would get it.
timeout 10 "$PLUGIN" 1 >&- 2>"$HF_TMP/err3"
rc=$?
check_eq "${HF_PLAN[5]}" "status 0, stderr 'hostflow.plugin ERROR : MAIN : stdout is closed'" \
	"status $rc, stderr '$(sed 's/^[-0-9]* [:0-9]*: //' "$HF_TMP/err3")'"
hf_done
