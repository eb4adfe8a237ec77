#!/usr/bin/env bash
# hostflow --backend bpf: listeners that close while their request
# sockets, queued children and accepted connections live. srv listens on
#   :83  (:: dual-stack, TCP_DEFER_ACCEPT 120 s, never accepts): cli's 30
#        IPv4 and 20 IPv6 clients send nothing, so srv holds 50 request
#        sockets (SYN_RECV) while the clients are ESTABLISHED
#   :84  (198.51.100.1, backlog 3, never accepts): 4 children ESTABLISHED
#        in its accept queue
#   :85  (198.51.100.1): 3 connections accepted and held
# Watchers started before any socket (srv's flows with states, listeners
# and summary, cli's flows) equal netlink once all is in place. Then every
# listener closes at once: the kernel drops :83's request sockets (their
# timers deleted) and resets :84's queued children; :85's accepted
# connections live on. At that quiet moment the watchers equal netlink
# again, with no request socket left counted, and the summary says nothing
# was lost, no reconcile corrected anything, and no request socket was
# ended by its deadline instead of its timer (requests_untraced 0).
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"listener close: srv watcher equals netlink with the listeners open"
	"listener close: srv listener watcher equals netlink with the listeners open"
	"listener close: cli watcher equals netlink with the listeners open"
	"listener close: kernel holds no request socket once the listeners closed"
	"listener close: srv watcher equals netlink after the listeners closed"
	"listener close: srv listener watcher equals netlink after the listeners closed"
	"listener close: srv summary watcher equals netlink after the listeners closed"
	"listener close: cli watcher equals netlink after the listeners closed"
	"listener close: nothing lost, no correction, no request socket ended untraced"
)
hf_require_netns
hf_skip_all_without_bpf
command -v jq >/dev/null || skip_all "jq missing (tools/deps.sh installs it)"

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host cli 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host cli"

# watch HOST FILE ARGS...: a bpf watcher in HOST, its documents in HF_TMP/FILE.
watch() {
	local h=$1 f=$2
	shift 2
	hf_bg "$h" "$HOSTFLOW" --backend bpf -n --json --watch=1 "$@" >"$HF_TMP/$f" \
		2>"$HF_TMP/$f.err" || hf_setup_failed "watcher $f"
}
watch srv w --states
watch srv wl --listen
watch srv ws --summary
watch cli wc --states
__hf_watching() { for f in w wl ws wc; do [ -s "$HF_TMP/$f" ] || return 1; done; }
hf_wait_for 20 __hf_watching || hf_setup_failed "watchers did not print: $(cat "$HF_TMP"/w*.err)"

hf_sockgen srv l83 listen --addr :: --dualstack --port 83 --defer-accept 120 --no-accept ||
	hf_setup_failed "listener :83"
hf_sockgen srv l84 listen --addr 198.51.100.1 --port 84 --backlog 3 --no-accept ||
	hf_setup_failed "listener :84"
hf_sockgen srv l85 listen --addr 198.51.100.1 --port 85 || hf_setup_failed "listener :85"
hf_sockgen cli c83v4 connect --to 198.51.100.1 --port 83 --count 30 || hf_setup_failed "clients :83 IPv4"
hf_sockgen cli c83v6 connect --to 2001:db8::1 --port 83 --count 20 || hf_setup_failed "clients :83 IPv6"
hf_sockgen cli c84 connect --to 198.51.100.1 --port 84 --count 4 || hf_setup_failed "clients :84"
hf_sockgen cli c85 connect --to 198.51.100.1 --port 85 --count 3 || hf_setup_failed "clients :85"
hf_wait_status l85 accepted=3 || hf_setup_failed ":85 did not accept its 3"
hf_wait_ss srv 50 -- state syn-recv '( sport = :83 )' || hf_setup_failed "srv's request sockets on :83"
hf_wait_ss srv 4 -- state established '( sport = :84 )' || hf_setup_failed "srv's queued children on :84"

# check_all FIRST: the four watchers against netlink, checks FIRST.. of HF_PLAN
# (the summary's only when FIRST is past the first round).
check_all() {
	local i=$1 spec h f args n0
	for spec in "srv w --states" "srv wl --listen" "srv ws --summary" "cli wc --states"; do
		read -r h f args <<<"$spec"
		if [ "$f" = ws ] && [ "$i" -lt 4 ]; then
			continue
		fi
		if [ "$f" = wl ] && [ "$i" -ge 4 ]; then
			# None left: hf_watch_eq_netlink compares listeners, not their absence.
			n0=$(wc -l <"$HF_TMP/wl")
			__hf_wl_past() { [ "$(wc -l <"$HF_TMP/wl")" -gt "$n0" ]; }
			hf_wait_for 3 __hf_wl_past
			hf_run_hostflow srv --backend netlink -n --listen --json
			check_eq "${HF_PLAN[$i]}" "netlink: 0 watcher: 0" \
				"netlink: $(jq length <<<"$HF_OUT") watcher: $(tail -n 1 "$HF_TMP/wl" | jq length)"
			i=$((i + 1))
			continue
		fi
		# shellcheck disable=SC2086 # the watcher's own arguments, split
		if hf_watch_eq_netlink "$h" "$HF_TMP/$f" "$(wc -l <"$HF_TMP/$f")" . -n --json $args; then
			ok "${HF_PLAN[$i]}"
		else
			hf_fail "${HF_PLAN[$i]}" "netlink: $HF_NL" "watcher: $HF_GOT" "$(cat "$HF_TMP/$f.err")"
		fi
		i=$((i + 1))
	done
}
check_all 0

for l in l83 l84 l85; do hf_signal "$l" USR1; done
for l in l83 l84 l85; do hf_wait_status "$l" listeners=0 || hf_setup_failed "$l did not close its listener"; done
if hf_wait_ss srv 0 -- state syn-recv; then
	ok "${HF_PLAN[3]}"
else
	hf_fail "${HF_PLAN[3]}" "request sockets left after their listener closed"
fi
hf_wait_ss srv 0 -- state established '( sport = :84 )' || hf_diag ":84's queued children not reset yet"
check_all 4

read -r lost corrections untraced < <(tail -n 1 "$HF_TMP/ws" |
	jq -r '.bpf | "\(.lost) \(.corrections) \(.requests_untraced)"')
check_eq "${HF_PLAN[8]}" "lost=0 corrections=0 untraced=0" \
	"lost=$lost corrections=$corrections untraced=$untraced"

hf_done
