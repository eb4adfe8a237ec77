#!/usr/bin/env bash
# hostflow --backend bpf: transitions that come nested in the set_state
# program are made by set_state_rescue, every one, and none twice.
#   A softirq (a packet, a timer) that interrupts set_state while it runs
#   for a process's transition has its own transitions skipped by the kernel
#   (the program's recursion_misses); set_state_rescue, the second program
#   on the tracepoint, makes them. cli opens connections to srv:80 from 500
#   addresses, 2,500 a second from each of two processes for 10 s (the
#   server, alive throughout, keeps up with that), each closed at once
#   (cli keeps the TIME_WAIT, srv closes on EOF): thousands of transitions
#   a second on both sides. Three watchers (--backend bpf --watch=1, each
#   with its own programs) run meanwhile: srv's --summary, srv's and cli's
#   flows. cli also holds 7 connections to srv:81 throughout. Then:
#   - some transitions came nested (else the rescue was not exercised:
#     skipped, loudly);
#   - the summary watcher's rescues ("nested") equal its set_state's
#     recursion_misses (bpftool): each miss has its rescue, none made twice;
#   - it lost nothing and its reconciles corrected nothing;
#   - srv's and cli's watchers equal netlink once the churn is over.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"rescue: thousands of connections churned in 10 s"
	"rescue: transitions came nested in set_state (its recursion_misses)"
	"rescue: each miss has its rescue: nested transitions equal set_state's recursion_misses"
	"rescue: nothing lost, no reconcile correction"
	"rescue: srv watcher equals netlink after the churn"
	"rescue: cli watcher equals netlink after the churn"
)
hf_require_netns
hf_skip_all_without_bpf
command -v bpftool >/dev/null || skip_all "bpftool missing (tools/deps.sh installs it)"
command -v jq >/dev/null || skip_all "jq missing (tools/deps.sh installs it)"

# RATE a second per churner: faster, the server falls behind and runs out of
# file descriptors (its accepted sockets wait for their EOF).
SECS=10 PEERS=500 RATE=2500
CHURN=$HF_ROOT/tests/lib/churn.py

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host cli 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host cli"
hf_in cli ip -6 route add local 2001:db8:100::/64 dev lo || hf_setup_failed "AnyIP route on cli"
hf_sysctl cli net.ipv6.ip_nonlocal_bind=1 || hf_setup_failed "ip_nonlocal_bind on cli"
hf_in srv ip -6 route add 2001:db8:100::/64 via 2001:db8::11 || hf_setup_failed "route on srv"

# set_state_ids: the ids of every loaded program named set_state.
set_state_ids() { bpftool prog show -j | jq -r '.[] | select(.name == "set_state") | .id' | sort; }

before=$(set_state_ids)
hf_bg srv "$HOSTFLOW" --backend bpf -n --json --summary --watch=1 >"$HF_TMP/sum" \
	2>"$HF_TMP/sum.err" || hf_setup_failed "summary watcher"
hf_wait_for 20 test -s "$HF_TMP/sum" || hf_setup_failed "summary watcher: $(cat "$HF_TMP/sum.err")"
id=$(comm -13 <(echo "$before") <(set_state_ids))
[[ $id =~ ^[0-9]+$ ]] || hf_setup_failed "the summary watcher's set_state program (new ids: $id)"
for h in srv cli; do
	hf_bg "$h" "$HOSTFLOW" --backend bpf -n --json --states --watch=1 >"$HF_TMP/w.$h" \
		2>"$HF_TMP/w.$h.err" || hf_setup_failed "watcher $h"
done
__hf_watching() { [ -s "$HF_TMP/w.srv" ] && [ -s "$HF_TMP/w.cli" ]; }
hf_wait_for 20 __hf_watching || hf_setup_failed "watchers did not print: $(cat "$HF_TMP"/w.*.err)"

# A known set held through the churn: each watcher has flows to compare.
hf_sockgen srv known listen --addr :: --dualstack --port 81 || hf_setup_failed "known listener"
hf_sockgen cli k4 connect --to 198.51.100.1 --port 81 --count 4 || hf_setup_failed "known IPv4"
hf_sockgen cli k6 connect --to 2001:db8::1 --port 81 --count 3 || hf_setup_failed "known IPv6"
hf_wait_status known accepted=7 || hf_setup_failed "srv did not accept the known set"

hf_bg srv "$HF_PYTHON" "$CHURN" serve 2001:db8::1 80 "$HF_TMP/serve.ready" 2>"$HF_TMP/serve.err"
server=$HF_LAST_PID
hf_wait_file "$HF_TMP/serve.ready" "$server" 20 || hf_setup_failed "churn server"
churners=()
for i in 1 2; do
	hf_bg cli "$HF_PYTHON" "$CHURN" churn 2001:db8::1 80 2001:db8:100::/64 "$PEERS" \
		"$SECS" "$RATE" 0 "$HF_TMP/churn.$i" 2>"$HF_TMP/churn.$i.err"
	churners+=("$HF_LAST_PID")
done
for p in "${churners[@]}"; do wait "$p"; done
made=0
for i in 1 2; do
	read -r m _ _ <"$HF_TMP/churn.$i" 2>/dev/null || m=0
	made=$((made + m))
done
if [ "$made" -ge 20000 ] && kill -0 "$server" 2>/dev/null; then
	ok "${HF_PLAN[0]}"
else
	hf_fail "${HF_PLAN[0]}" "$made connections, server alive: $(kill -0 "$server" 2>/dev/null && echo yes || echo no)" \
		"$(tail -n 5 "$HF_TMP"/*.err)"
fi

# Quiet now: srv's sockets all closed (the TIME_WAIT ones are cli's).
hf_wait_ss srv 0 -- state established state close-wait state last-ack '( sport = :80 )' ||
	hf_diag "srv still holds connections on :80"
n0=$(wc -l <"$HF_TMP/sum")
__hf_sum_past_n0() { [ "$(wc -l <"$HF_TMP/sum")" -gt $((n0 + 1)) ]; }
hf_wait_for 5 __hf_sum_past_n0 || hf_diag "the summary watcher printed no new line"
read -r nested lost corrections untraced < <(tail -n 1 "$HF_TMP/sum" |
	jq -r '.bpf | "\(.nested) \(.lost) \(.corrections) \(.requests_untraced)"')
misses=$(bpftool prog show id "$id" -j | jq -r '.recursion_misses // 0')
hf_diag "rescue: $made connections; set_state $id: $misses recursion misses, $nested rescued; $untraced request sockets ended untraced"
if ! [[ $misses =~ ^[0-9]+$ ]]; then
	hf_fail "${HF_PLAN[1]}" "bpftool read no recursion_misses of program $id" "$misses"
	hf_fail "${HF_PLAN[2]}" "no misses to compare (nested: $nested)"
elif [ "$misses" -gt 0 ]; then
	ok "${HF_PLAN[1]}"
	check_eq "${HF_PLAN[2]}" "$misses" "$nested"
else
	skip "${HF_PLAN[1]}" "no transition came nested in $SECS s of churn: the rescue was not exercised"
	# Nothing skipped, yet rescues: the rescue made transitions set_state had made.
	if [ "$nested" = 0 ]; then
		skip "${HF_PLAN[2]}" "no transition came nested: nothing to rescue"
	else
		check_eq "${HF_PLAN[2]}" 0 "$nested"
	fi
fi
check_eq "${HF_PLAN[3]}" "lost=0 corrections=0" "lost=$lost corrections=$corrections"

i=4
for h in srv cli; do
	if hf_watch_eq_netlink "$h" "$HF_TMP/w.$h" "$(wc -l <"$HF_TMP/w.$h")" . -n --json --states; then
		ok "${HF_PLAN[$i]}"
	else
		hf_fail "${HF_PLAN[$i]}" "netlink: $HF_NL" "watcher: $HF_GOT" "$(cat "$HF_TMP/w.$h.err")"
	fi
	i=$((i + 1))
done

hf_done
