#!/usr/bin/env bash
# hostflow.plugin under connection churn, built with ASan+UBSan. Slow (about
# 90 s): runs only with HOSTFLOW_SLOW=1, skips loudly otherwise.
#
# srv serves [2001:db8::1]:80; c1 opens about 1,000 connections a second
# for 60 s, each from one of 5,000 peer addresses (2001:db8:100::/64 is
# local to c1, and routed to it from srv), holds each ~1.5 s, then closes
# it (c1 keeps the TIME_WAIT; srv closes on EOF). Meanwhile c2 holds a known
# set on srv's port 81: 4 IPv4 and 3 IPv6 connections. The plugin runs on
# srv at a 1 s tick with MaxFlows=10 and ObsoleteAfter=5:
#   - no sanitizer report, during the churn or at exit;
#   - every tick charts at most 4 x MaxFlows flow dimensions per chart (+
#     other; hostflow.plugin(8): 2 x MaxFlows charted, top and held, and
#     at most 2 x MaxFlows waiting ObsoleteAfter at 0): dimensions follow
#     what is reported, not the 5,000 peers;
#   - its memory after 60 s is what it was after 20 s (within 8 MiB): the
#     flow table follows the flows alive at a tick, not the peers seen;
#   - once the churn has stopped and the kernel holds only the known set,
#     the next tick charts exactly that set (and the 2 listeners);
#   - closing its stdout ends it with status 0 and LeakSanitizer silent.
set -u
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"churn: srv kernel holds the known set before the churn"
	"churn: 30,000 connections or more from 5,000 peers in 60 s"
	"churn: no sanitizer report during the churn"
	"churn: at most 4 x MaxFlows + 1 flow dimensions on every tick"
	"churn: memory at 60 s within 8 MiB of memory at 20 s"
	"churn: after the churn, the next tick charts exactly the known set"
	"churn: stdout closed: exit status 0, LeakSanitizer silent"
	"churn: no reconcile correction logged (bpf backend)"
)
[ "${HOSTFLOW_SLOW:-}" = 1 ] || skip_all "slow (90 s of connection churn): run with HOSTFLOW_SLOW=1"
hf_require_netns

SECONDS_CHURN=${CHURN_SECONDS:-60}
MAXFLOWS=10 OBSOLETE=5
PEERS=5000

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 2001:db8::12/64 || hf_setup_failed "host c2"
# c1 owns all of 2001:db8:100::/64 (AnyIP) and may bind any address in it
hf_in c1 ip -6 route add local 2001:db8:100::/64 dev lo || hf_setup_failed "AnyIP route on c1"
hf_sysctl c1 net.ipv6.ip_nonlocal_bind=1 || hf_setup_failed "ip_nonlocal_bind on c1"
hf_in srv ip -6 route add 2001:db8:100::/64 via 2001:db8::11 || hf_setup_failed "route on srv"

# The plugin and the library, with ASan+UBSan.
PLUGIN=$HF_TMP/hostflow.plugin
[ -f netdata/main.c ] || hf_setup_failed "netdata/main.c missing"
srcs=(netdata/*.c common/*.c)
for s in plugin/*.c; do [ "$s" = plugin/hostflow.c ] || srcs+=("$s"); done
# With the bpf skeleton `make` built, the plugin's Backend auto reads through
# the bpf backend here (root): the churn then checks its exactness too.
bpf=()
[ -f build/bpf/hostflow.skel.h ] && bpf=(-DHF_HAVE_BPF -Ibuild/bpf)
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -Icommon -Iplugin -Inetdata "${bpf[@]}" \
	$(pkg-config --cflags libmnl yajl 2>/dev/null) \
	-o "$PLUGIN" "${srcs[@]}" $(pkg-config --libs libmnl yajl 2>/dev/null || echo -lmnl -lyajl) \
	${bpf:+-lbpf} -pthread 2>"$HF_TMP/cc.err" || hf_setup_failed "cannot build the ASan plugin: $(cat "$HF_TMP/cc.err")"
mkdir -p "$HF_TMP/conf"

# the churn (tests/lib/churn.py): "serve" on srv (accept, close on EOF), "churn" on c1
CHURN=$HF_ROOT/tests/lib/churn.py

hf_bg srv "$HF_PYTHON" "$CHURN" serve 2001:db8::1 80 "$HF_TMP/serve.ready"
hf_wait_file "$HF_TMP/serve.ready" "$HF_LAST_PID" 20 || hf_setup_failed "churn server"
hf_sockgen srv known listen --addr :: --dualstack --port 81 || hf_setup_failed "known listener"
hf_sockgen c2 k4 connect --to 198.51.100.1 --port 81 --count 4 || hf_setup_failed "known IPv4"
hf_sockgen c2 k6 connect --to 2001:db8::1 --port 81 --count 3 || hf_setup_failed "known IPv6"
hf_wait_status known accepted=7 || hf_setup_failed "srv did not accept the known set"

known="passive 198.51.100.1:81 <- 198.51.100.12:many 4 ESTABLISHED=4
passive [2001:db8::1]:81 <- [2001:db8::12]:many 3 ESTABLISHED=3"
hf_check_kernel "churn: srv kernel holds the known set before the churn" srv "$known"

# The plugin writes into a FIFO read by cat: killing cat closes its stdout.
mkfifo "$HF_TMP/nd.fifo" || hf_setup_failed "mkfifo"
cat "$HF_TMP/nd.fifo" >"$HF_TMP/nd.out" &
reader=$!
HF_PIDS+=("$reader")
# quarantine_size_mb=1: RSS is to show the plugin's memory, not ASan's
# quarantine of freed blocks (up to 256 MiB by default), which the per-tick
# buffers (qsort's, the counters' sorted copy) fill with the bpf backend's
# thousands of flows: 42 -> 59 MiB between 20 and 60 s with it, 19 -> 23
# MiB with 1 MiB of quarantine.
hf_bg srv env NETDATA_USER_CONFIG_DIR="$HF_TMP/conf" NETDATA_STOCK_CONFIG_DIR="$HF_TMP/conf" \
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:quarantine_size_mb=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	"$PLUGIN" 1 MaxFlows=$MAXFLOWS ObsoleteAfter=$OBSOLETE >"$HF_TMP/nd.fifo" 2>"$HF_TMP/nd.err"
plugin=$HF_LAST_PID

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$plugin/status" 2>/dev/null; }
sleep 2
hf_bg c1 "$HF_PYTHON" "$CHURN" churn 2001:db8::1 80 2001:db8:100::/64 "$PEERS" \
	"$SECONDS_CHURN" 1000 1.5 "$HF_TMP/churn.result"
churner=$HF_LAST_PID
rss20='' rss60=''
for ((t = 1; t <= SECONDS_CHURN + 30; t++)); do
	sleep 1
	[ "$t" = 20 ] && rss20=$(rss)
	kill -0 "$churner" 2>/dev/null || break
done
rss60=$(rss)
hf_diag "churn: the plugin read the sockets through $(grep -o "^CLABEL 'backend' '[a-z]*'" "$HF_TMP/nd.out" | head -n 1 | cut -d"'" -f4)"
alive=0
kill -0 "$plugin" 2>/dev/null && alive=1

read -r made seen took <"$HF_TMP/churn.result" 2>/dev/null || made=0 seen=0 took=?
hf_diag "churn: $made connections from $seen peers in $took s; plugin RSS ${rss20:-?} KiB at 20 s, ${rss60:-?} KiB at the end"
if [ "$made" -ge 30000 ] && [ "$seen" -ge "$PEERS" ]; then
	ok "churn: 30,000 connections or more from 5,000 peers in 60 s"
else
	hf_fail "churn: 30,000 connections or more from 5,000 peers in 60 s" \
		"$made connections, $seen peers" "$(tail -5 "$HF_TMP"/*.err 2>/dev/null)"
fi

sanitizer() { grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error|SUMMARY:' "$HF_TMP/nd.err"; }
if [ "$alive" = 1 ] && ! sanitizer >/dev/null; then
	ok "churn: no sanitizer report during the churn"
else
	hf_fail "churn: no sanitizer report during the churn" "plugin alive: $alive" \
		"$(head -30 "$HF_TMP/nd.err")"
fi

# the most SET lines (dimensions, other included) in one BEGIN ... END of a flows chart
most=$(awk '/^BEGIN hostflow\.flows_/ { n = 0; on = 1; next }
	    /^END$/ { if (on && n > m) m = n; on = 0 }
	    on && /^SET / { n++ }
	    END { print m + 0 }' "$HF_TMP/nd.out")
bound=$((4 * MAXFLOWS + 1))
busiest=$(awk '/^BEGIN hostflow\.states/ { on = 1; next } /^END$/ { on = 0 }
	       on && $2 == "established" && $4 > m { m = $4 } END { print m + 0 }' "$HF_TMP/nd.out")
hf_diag "churn: at most $most flow dimensions on one tick (bound $bound); busiest tick: $busiest ESTABLISHED"
if [ "$most" -gt 1 ] && [ "$most" -le "$bound" ]; then
	ok "churn: at most 4 x MaxFlows + 1 flow dimensions on every tick"
else
	hf_fail "churn: at most 4 x MaxFlows + 1 flow dimensions on every tick" \
		"$most on one tick, bound $bound"
fi

if [ -n "$rss20" ] && [ -n "$rss60" ] && [ "$rss60" -le $((rss20 + 8192)) ]; then
	ok "churn: memory at 60 s within 8 MiB of memory at 20 s"
else
	hf_fail "churn: memory at 60 s within 8 MiB of memory at 20 s" \
		"RSS ${rss20:-?} KiB at 20 s, ${rss60:-?} KiB at 60 s"
fi

# The churn is over: once srv's kernel holds the known set only, the next tick charts it.
settled() { hf_in srv ss -tanH | hf_flows_check kernel "$known" >/dev/null; }
hf_wait_for 20 settled || hf_diag "srv's kernel still holds more than the known set"
settled_at=$(wc -l <"$HF_TMP/nd.out")
sleep 2.5
# the first complete passive-flows and states blocks after settling
last=$(tail -n +"$((settled_at + 1))" "$HF_TMP/nd.out" |
	awk '/^BEGIN hostflow\.(flows_passive|flows_active|states|listen)( |$)/ { c = $2; if (done[c]) { skip = 1 } else { skip = 0 }; next }
	     /^END$/ { if (c != "" && !skip) done[c] = 1; c = ""; next }
	     c != "" && !skip && /^SET / && $4 != 0 { print c, $2, $4 }' | sort)
want="hostflow.flows_passive p4_198_51_100_1_81_198_51_100_12_many 4
hostflow.flows_passive p6_2001xdb8xx1_81_2001xdb8xx12_many 3
hostflow.listen listen 2
hostflow.states established 7"
check_eq "churn: after the churn, the next tick charts exactly the known set" "$want" "$last"

kill "$reader" 2>/dev/null
status=timeout
for ((i = 0; i < 50; i++)); do
	if ! kill -0 "$plugin" 2>/dev/null; then
		wait "$plugin"
		status=$?
		break
	fi
	sleep 0.1
done
if [ "$status" = 0 ] && ! sanitizer >/dev/null; then
	ok "churn: stdout closed: exit status 0, LeakSanitizer silent"
else
	hf_fail "churn: stdout closed: exit status 0, LeakSanitizer silent" "status $status" \
		"$(head -40 "$HF_TMP/nd.err")"
fi

# The bpf backend logs its reconcile's corrections (0 expected); netlink has none.
corrections=$(grep 'reconcile corrected' "$HF_TMP/nd.err")
if [ -z "$corrections" ]; then
	ok "churn: no reconcile correction logged (bpf backend)"
else
	hf_fail "churn: no reconcile correction logged (bpf backend)" "$corrections"
fi

hf_done
