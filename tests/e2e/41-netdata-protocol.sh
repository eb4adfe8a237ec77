#!/usr/bin/env bash
# hostflow.plugin on its own, as netdata would run it ("hostflow.plugin 1"),
# in a namespace with known sockets: its stdout, read the way netdata 1.37
# reads it, must be valid plugins.d protocol and carry the expected flows.
#
# In srv (198.51.100.1, 2001:db8::1), which listens on 198.51.100.1:80 and
# [2001:db8::1]:443 and accepts:
#   c1 (198.51.100.11) opens 3 connections to :80, c2 (.12) opens 2,
#   c1 opens 1 over IPv6 to [2001:db8::1]:443, srv opens 4 to c1:8080.
# So srv holds 10 ESTABLISHED sockets: passive flows 3, 2 and 1, an active
# flow of 4, and 2 listeners (backlog 128, nothing queued: fill 0, the
# backlog a chart variable of the fill chart).
#
# Then, each run a few ticks long: hostflow.conf with a [plugin] header
# read from NETDATA_USER_CONFIG_DIR; command options overriding it; a bad
# hostflow.conf and an unreadable backend, which must print DISABLE;
# "Source conntrack" alone, which charts conntrack only. stderr lines have
# netdata's form, "DATE: hostflow.plugin LEVEL : MAIN : message".
set -u
. "$(dirname "$0")/../lib/netns.sh"

PLUGIN=${HOSTFLOW_PLUGIN:-build/hostflow.plugin}
HF_PLAN=(
	"netdata protocol: srv kernel holds the sockets of the test"
	"netdata protocol: the plugin runs for 3 ticks without a word on stderr"
	"netdata protocol: every line is valid netdata 1.37 protocol"
	"netdata protocol: at least 3 ticks, BEGIN carries microseconds after the first"
	"netdata protocol: charts, contexts and families"
	"netdata protocol: passive flows with their connections"
	"netdata protocol: active flows with their connections"
	"netdata protocol: host totals per state"
	"netdata protocol: listener charts: accept queue, half-open, fill; the backlog a chart variable"
	"netdata protocol: chart labels name the backend"
	"netdata protocol: hostflow.conf ([plugin], max flows = 1): one flow per chart, the rest in other"
	"netdata protocol: command options override hostflow.conf"
	"netdata protocol: a bad hostflow.conf: DISABLE, exit 1"
	"netdata protocol: a bad hostflow.conf: stderr names file, line, key and value"
	"netdata protocol: TCP sockets unreadable: DISABLE with the reason on stderr"
	"netdata protocol: Source conntrack alone: conntrack charts (connections, table), no sockets charts, valid protocol"
	"netdata protocol: a tick 3 s late (plugin stopped): one INFO line says where the time went"
)
hf_require_netns
[ -x "$PLUGIN" ] || hf_setup_failed "$PLUGIN missing (make build/hostflow.plugin)"

hf_host srv 198.51.100.1/24 2001:db8::1/64 || hf_setup_failed "host srv"
hf_host c1 198.51.100.11/24 2001:db8::11/64 || hf_setup_failed "host c1"
hf_host c2 198.51.100.12/24 || hf_setup_failed "host c2"
hf_sockgen srv l80 listen --addr 198.51.100.1 --port 80 || hf_setup_failed "srv :80"
hf_sockgen srv l443 listen --addr 2001:db8::1 --port 443 || hf_setup_failed "srv :443"
hf_sockgen c1 l8080 listen --addr 198.51.100.11 --port 8080 || hf_setup_failed "c1 :8080"
hf_sockgen c1 a connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "c1 -> :80"
hf_sockgen c2 b connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "c2 -> :80"
hf_sockgen c1 c connect --to 2001:db8::1 --port 443 --count 1 || hf_setup_failed "c1 -> :443"
hf_sockgen srv d connect --to 198.51.100.11 --port 8080 --count 4 || hf_setup_failed "srv -> c1"
hf_check_kernel "${HF_PLAN[0]}" srv "
passive 198.51.100.1:80 <- 198.51.100.11:many 3 ESTABLISHED=3
passive 198.51.100.1:80 <- 198.51.100.12:many 2 ESTABLISHED=2
passive [2001:db8::1]:443 <- [2001:db8::11]:many 1 ESTABLISHED=1
active 198.51.100.1:many -> 198.51.100.11:8080 4 ESTABLISHED=4"

# The checker: reads the plugin's stdout as netdata 1.37's parser does
# (words split at blanks and '=', quoted with ' or "), checks every line
# and prints the last value of every dimension as "CHART DIMNAME VALUE",
# then "ticks N", "micro N" (BEGINs with microseconds), "label CHART K V",
# "chart ID CONTEXT FAMILY", "var CHART NAME VALUE" (VARIABLE CHART, of
# the chart of the BEGIN it is in). Exit 1 with the reasons when the protocol is
# broken.
cat >"$HF_TMP/ndcheck.py" <<'EOF'
import re, sys

KEYWORDS = {"CHART", "DIMENSION", "BEGIN", "SET", "END", "VARIABLE", "CLABEL",
            "CLABEL_COMMIT", "DISABLE"}
ID = re.compile(r"^[a-z0-9_]+$")
CHART_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")

def split(line):
    """netdata's quoted_strings_splitter with isspace_map_pluginsd."""
    words, i, n = [], 0, len(line)
    while i < n:
        while i < n and line[i] in " \t\r\n=":
            i += 1
        if i >= n:
            break
        if line[i] in "'\"":
            q = line[i]
            j = line.find(q, i + 1)
            if j < 0:
                raise ValueError("unterminated quote")
            words.append(line[i + 1:j])
            i = j + 1
        else:
            j = i
            while j < n and line[j] not in " \t\r\n=":
                j += 1
            words.append(line[i:j])
            i = j
    return words

errors = []
charts = {}          # id -> {"dims": {id: name}, "context":, "family":}
values = {}          # (chart, dim id) -> last value
labels = {}
cvars = {}
cur = None           # chart of the last CHART (for DIMENSION, CLABEL)
begun = None
ticks = micro = 0
data = sys.stdin.buffer.read()
if data and not data.endswith(b"\n"):
    errors.append("output does not end with a newline")
for no, raw in enumerate(data.split(b"\n")[:-1], 1):
    def err(msg):
        errors.append("line %d: %s: %r" % (no, msg, raw[:120]))
    if len(raw) >= 1024:
        err("1024 bytes or more")
        continue
    try:
        line = raw.decode("utf-8")
        w = split(line)
    except (UnicodeDecodeError, ValueError) as e:
        err(str(e))
        continue
    if not w:
        err("empty line")
        continue
    k = w[0]
    if k not in KEYWORDS:
        err("unknown keyword")
        continue
    if k == "CHART":
        if begun:
            err("CHART inside BEGIN/END")
        if len(w) < 5 or not CHART_ID.match(w[1]):
            err("bad CHART")
            continue
        ctype = w[7] if len(w) > 7 else "line"
        opts = w[10].split() if len(w) > 10 else []
        if ctype not in ("line", "area", "stacked") or not all(
                x.isdigit() for x in w[8:10]) or not set(opts) <= {
                "obsolete", "detail", "store_first", "hidden"}:
            err("bad CHART fields")
        c = charts.setdefault(w[1], {"dims": {}})
        c.update(context=w[6] if len(w) > 6 else "", family=w[5] if len(w) > 5 else "",
                 obsolete="obsolete" in opts)
        cur = w[1]
    elif k == "DIMENSION":
        if cur is None or begun:
            err("DIMENSION without CHART")
            continue
        if len(w) < 2 or not ID.match(w[1]):
            err("bad dimension id")
            continue
        algo = w[3] if len(w) > 3 else "absolute"
        opts = w[6].split() if len(w) > 6 else []
        if algo not in ("absolute", "incremental", "percentage-of-absolute-row",
                        "percentage-of-incremental-row") or not all(
                re.match(r"^-?\d+$", x) for x in w[4:6]) or not set(opts) <= {
                "obsolete", "hidden", "noreset", "nooverflow"}:
            err("bad DIMENSION fields")
        if "obsolete" in opts:
            charts[cur]["dims"].pop(w[1], None)
        else:
            charts[cur]["dims"][w[1]] = w[2] if len(w) > 2 and w[2] else w[1]
    elif k == "CLABEL":
        if cur is None or len(w) != 4 or not w[3].isdigit():
            err("bad CLABEL")
        else:
            labels[(cur, w[1])] = w[2]
    elif k == "CLABEL_COMMIT":
        if cur is None or len(w) != 1:
            err("bad CLABEL_COMMIT")
    elif k == "BEGIN":
        if begun:
            err("BEGIN inside BEGIN")
        if len(w) not in (2, 3) or w[1] not in charts:
            err("BEGIN of an undeclared chart")
        if len(w) == 3:
            if not w[2].isdigit():
                err("BEGIN microseconds not a number")
            micro += 1
        begun = w[1]
        if w[1] == "hostflow.states":
            ticks += 1
    elif k == "SET":
        if not begun:
            err("SET outside BEGIN/END")
        elif len(w) != 3 or not re.match(r"^-?\d+$", w[2]):
            err("bad SET")
        elif w[1] not in charts[begun]["dims"]:
            err("SET of a dimension not declared for " + begun)
        else:
            values[(begun, w[1])] = int(w[2])
    elif k == "END":
        if not begun or len(w) != 1:
            err("END without BEGIN")
        begun = None
    elif k == "VARIABLE":
        ww = w[2:] if len(w) > 1 and w[1] in ("GLOBAL", "HOST", "LOCAL", "CHART") else w[1:]
        if len(ww) != 2 or not re.match(r"^[A-Za-z0-9_.]+$", ww[0]):
            err("bad VARIABLE")
        else:
            try:
                float(ww[1])
                if len(w) > 1 and w[1] == "CHART":
                    cvars[(begun or cur, ww[0])] = ww[1]
            except ValueError:
                err("bad VARIABLE value")
    elif k == "DISABLE":
        err("DISABLE")
if begun:
    errors.append("BEGIN without END at the end")
for cid, c in sorted(charts.items()):
    if c.get("obsolete"):
        continue
    print("chart %s %s %s" % (cid, c["context"], c["family"]))
    for did, name in c["dims"].items():
        if (cid, did) in values:
            print("%s %s %d" % (cid, name, values[(cid, did)]))
for (cid, key), v in sorted(labels.items()):
    print("label %s %s %s" % (cid, key, v))
for (cid, key), v in sorted(cvars.items()):
    print("var %s %s %s" % (cid, key, v))
print("ticks %d" % ticks)
print("micro %d" % micro)
if errors:
    sys.stderr.write("\n".join(errors[:20]) + "\n")
    sys.exit(1)
EOF

# run_plugin SECONDS ARGS...: run the plugin in srv with its config dir
# $HF_TMP/etc; sets OUT (stdout file), ERR (stderr text), RC.
mkdir -p "$HF_TMP/etc" "$HF_TMP/stock"
run_plugin() {
	local secs=$1
	shift
	OUT=$HF_TMP/plugin.out
	hf_in srv env NETDATA_USER_CONFIG_DIR="$HF_TMP/etc" NETDATA_STOCK_CONFIG_DIR="$HF_TMP/stock" \
		timeout -s TERM "$secs" "$PLUGIN" "$@" >"$OUT" 2>"$HF_TMP/plugin.err"
	RC=$?
	ERR=$(cat "$HF_TMP/plugin.err")
}
# undate: stdin without the date that starts each of the plugin's log lines.
undate() { sed 's/^[-0-9]* [:0-9]*: //'; }
# checked: the checker's output for $OUT, in CHECKED (status in CHECK_RC).
check_out() {
	CHECKED=$("$HF_PYTHON" "$HF_TMP/ndcheck.py" <"$OUT" 2>"$HF_TMP/check.err")
	CHECK_RC=$?
}

run_plugin 3.5 1
check_out
if [ "$RC" = 124 ] && [ -z "$ERR" ]; then
	ok "${HF_PLAN[1]}"
else
	not_ok "${HF_PLAN[1]}" "status $RC (124: still running when stopped)" "stderr: $ERR"
fi
if [ "$CHECK_RC" = 0 ]; then
	ok "${HF_PLAN[2]}"
else
	not_ok "${HF_PLAN[2]}" "$(cat "$HF_TMP/check.err")" "--- head of stdout:" "$(head -30 "$OUT")"
fi
ticks=$(sed -n 's/^ticks //p' <<<"$CHECKED")
micro=$(sed -n 's/^micro //p' <<<"$CHECKED")
nbegin=$(grep -c '^BEGIN ' "$OUT")
# Every chart's BEGIN after its first carries the microseconds since the last.
nchart=$(grep '^BEGIN ' "$OUT" | awk '{print $2}' | sort -u | wc -l)
if [ "${ticks:-0}" -ge 3 ] && [ "${micro:-0}" = $((nbegin - nchart)) ]; then
	ok "${HF_PLAN[3]}"
else
	not_ok "${HF_PLAN[3]}" "ticks ${ticks:-?}, BEGINs $nbegin over $nchart charts, with microseconds ${micro:-?}"
fi
# A plugin is long-lived: Backend auto reads through bpf where it loads.
BACKEND=$(hf_follow_backend)
# counter_lines FORMAT: with the bpf backend, FORMAT (printf, one %s: the
# chart id) for each of its six counter charts.
counter_lines() {
	local d k
	[ "$BACKEND" = bpf ] || return 0
	for d in active passive; do
		for k in opened closed failed; do printf "$1\n" "hostflow.flows_${d}_$k"; done
	done
}
check_eq "${HF_PLAN[4]}" "$({ echo "chart hostflow.flows_active hostflow.flows_active flows
chart hostflow.flows_passive hostflow.flows_passive flows
chart hostflow.listen hostflow.listen states
chart hostflow.listener_fill_v4_198_51_100_1_80 hostflow.listener_fill listeners
chart hostflow.listener_fill_v6_2001xdb8xx1_443 hostflow.listener_fill listeners
chart hostflow.listener_v4_198_51_100_1_80 hostflow.listener_queue listeners
chart hostflow.listener_v6_2001xdb8xx1_443 hostflow.listener_queue listeners
chart hostflow.states hostflow.states states"
	counter_lines 'chart %s' | awk '{ print $1, $2, $2, "flows" }'; } | LC_ALL=C sort)" \
	"$(grep '^chart ' <<<"$CHECKED" | LC_ALL=C sort)"
check_eq "${HF_PLAN[5]}" "hostflow.flows_passive 198.51.100.1:80 <- 198.51.100.11:many 3
hostflow.flows_passive 198.51.100.1:80 <- 198.51.100.12:many 2
hostflow.flows_passive [2001:db8::1]:443 <- [2001:db8::11]:many 1
hostflow.flows_passive other 0" "$(grep '^hostflow.flows_passive ' <<<"$CHECKED" | LC_ALL=C sort)"
check_eq "${HF_PLAN[6]}" "hostflow.flows_active 198.51.100.1:many -> 198.51.100.11:8080 4
hostflow.flows_active other 0" "$(grep '^hostflow.flows_active ' <<<"$CHECKED" | LC_ALL=C sort)"
check_eq "${HF_PLAN[7]}" "hostflow.listen listen 2
hostflow.states established 10" "$(grep -E '^hostflow.(states|listen) ' <<<"$CHECKED" | grep -v ' 0$' | LC_ALL=C sort)"
check_eq "${HF_PLAN[8]}" "hostflow.listener_fill_v4_198_51_100_1_80 fill 0
hostflow.listener_fill_v6_2001xdb8xx1_443 fill 0
hostflow.listener_v4_198_51_100_1_80 accept_queue 0
hostflow.listener_v4_198_51_100_1_80 syn_recv 0
hostflow.listener_v6_2001xdb8xx1_443 accept_queue 0
hostflow.listener_v6_2001xdb8xx1_443 syn_recv 0
var hostflow.listener_fill_v4_198_51_100_1_80 backlog 128
var hostflow.listener_fill_v6_2001xdb8xx1_443 backlog 128" \
	"$(grep -E '^(hostflow.listener_|var )' <<<"$CHECKED" | LC_ALL=C sort)"
check_eq "${HF_PLAN[9]}" "$({ counter_lines "label %s backend $BACKEND"; echo "label hostflow.flows_active backend $BACKEND
label hostflow.flows_passive backend $BACKEND
label hostflow.listen backend $BACKEND
label hostflow.listener_fill_v4_198_51_100_1_80 backend $BACKEND
label hostflow.listener_fill_v4_198_51_100_1_80 listener 198.51.100.1:80
label hostflow.listener_fill_v6_2001xdb8xx1_443 backend $BACKEND
label hostflow.listener_fill_v6_2001xdb8xx1_443 listener [2001:db8::1]:443
label hostflow.listener_v4_198_51_100_1_80 backend $BACKEND
label hostflow.listener_v4_198_51_100_1_80 listener 198.51.100.1:80
label hostflow.listener_v6_2001xdb8xx1_443 backend $BACKEND
label hostflow.listener_v6_2001xdb8xx1_443 listener [2001:db8::1]:443
label hostflow.states backend $BACKEND"; } | LC_ALL=C sort)" "$(grep '^label ' <<<"$CHECKED" | LC_ALL=C sort)"

printf '# hostflow.conf of the test\n[plugin]\n\tmax flows = 1\n\tReport Listeners = no\n' \
	>"$HF_TMP/etc/hostflow.conf"
run_plugin 1.5 1
check_out
check_eq "${HF_PLAN[10]}" "chart hostflow.flows_active hostflow.flows_active flows
chart hostflow.flows_passive hostflow.flows_passive flows
chart hostflow.listen hostflow.listen states
chart hostflow.states hostflow.states states
hostflow.flows_active 198.51.100.1:many -> 198.51.100.11:8080 4
hostflow.flows_active other 0
hostflow.flows_passive 198.51.100.1:80 <- 198.51.100.11:many 3
hostflow.flows_passive other 3
rc 124 stderr ''" "$(grep -E '^(hostflow\.flows_(active|passive) |chart)' <<<"$CHECKED" |
	grep -vE '^chart hostflow\.flows_[a-z]+_(opened|closed|failed) ' | LC_ALL=C sort
	echo "rc $RC stderr '$ERR'")"

run_plugin 1.5 1 MaxFlows=2 report_listeners=yes
check_out
check_eq "${HF_PLAN[11]}" "hostflow.flows_passive 198.51.100.1:80 <- 198.51.100.11:many 3
hostflow.flows_passive 198.51.100.1:80 <- 198.51.100.12:many 2
hostflow.flows_passive other 1
listeners 2
rc 124 stderr ''" "$(grep '^hostflow.flows_passive ' <<<"$CHECKED" | LC_ALL=C sort
	echo "listeners $(grep -c '^chart hostflow.listener_v' <<<"$CHECKED")"
	echo "rc $RC stderr '$ERR'")"

printf '[plugin]\nMaxFlows = 5\n\n# below: mistakes\nobsolete after = soon\nColour = blue\nExcludeNet = 198.51.100.0/40\nmaxflows = 7\n' \
	>"$HF_TMP/etc/hostflow.conf"
run_plugin 5 1
check_eq "${HF_PLAN[12]}" "DISABLE
rc 1" "$(cat "$OUT"; echo "rc $RC")"
D='[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]: hostflow.plugin ERROR : MAIN :'
want_err="$D $HF_TMP/etc/hostflow.conf:5: key \"obsolete after\", value \"soon\": *is not seconds*
$D $HF_TMP/etc/hostflow.conf:6: key \"Colour\", value \"blue\": *unknown option*
$D $HF_TMP/etc/hostflow.conf:7: key \"ExcludeNet\", value \"198.51.100.0/40\": *not a network*
$D $HF_TMP/etc/hostflow.conf:8: key \"maxflows\", value \"7\": *given twice*
$D 4 configuration error(s), disabled"
n=0
while IFS= read -r pat; do
	n=$((n + 1))
	# shellcheck disable=SC2053
	[[ "$(sed -n "${n}p" <<<"$ERR")" == $pat ]] || break
	[ "$n" = 5 ] && n=ok
done <<<"$want_err"
if [ "$n" = ok ] && [ "$(wc -l <<<"$ERR")" = 5 ]; then
	ok "${HF_PLAN[13]}"
else
	not_ok "${HF_PLAN[13]}" "wanted (glob):" "$want_err" "stderr:" "$ERR"
fi

# /proc/PID/net hidden under an empty tmpfs in a mount namespace of its
# own: with Backend=proc, nothing can be read. exec keeps the pid, so the
# plugin's /proc/self/net is the hidden one (hence timeout outside).
rm -f "$HF_TMP/etc/hostflow.conf"
if ! command -v unshare >/dev/null; then
	skip "${HF_PLAN[14]}" "no unshare(1)"
else
	OUT=$HF_TMP/plugin.out
	hf_in srv timeout 5 unshare -m sh -c 'mount -t tmpfs none /proc/$$/net && exec "$@"' sh \
		env NETDATA_USER_CONFIG_DIR="$HF_TMP/etc" NETDATA_STOCK_CONFIG_DIR="$HF_TMP/stock" \
		"$PLUGIN" 1 Backend=proc >"$OUT" 2>"$HF_TMP/plugin.err"
	RC=$?
	ERR=$(cat "$HF_TMP/plugin.err")
	check_eq "${HF_PLAN[14]}" "DISABLE
rc 1
hostflow.plugin ERROR : MAIN : cannot read TCP sockets: /proc/net/tcp: No such file or directory" \
		"$(cat "$OUT"; echo "rc $RC"; undate <<<"$ERR")"
fi

printf '[plugin]\nSource = conntrack\n' >"$HF_TMP/etc/hostflow.conf"
run_plugin 3 1
check_out
check_eq "${HF_PLAN[15]}" "ct_flows_passive yes
conntrack_table yes
flows_passive no
rc 124
checker 0" "$(for c in ct_flows_passive conntrack_table flows_passive; do
	grep -q "^CHART hostflow\.$c " "$OUT" && echo "$c yes" || echo "$c no"
done; echo "rc $RC"; echo "checker $CHECK_RC")"
rm -f "$HF_TMP/etc/hostflow.conf"

# A plugin that cannot run for a while (here SIGSTOP; a loaded host, a slow
# resolver) loses ticks, and netdata shows a gap: the plugin says so once.
# ip netns exec and env exec the plugin: $! is its pid.
ip netns exec "$(hf_ns srv)" env NETDATA_USER_CONFIG_DIR="$HF_TMP/etc" \
	NETDATA_STOCK_CONFIG_DIR="$HF_TMP/stock" "$PLUGIN" 1 >/dev/null 2>"$HF_TMP/stall.err" &
pid=$!
sleep 1.5
kill -STOP "$pid"
sleep 3
kill -CONT "$pid"
sleep 1.5
kill "$pid"
wait "$pid" 2>/dev/null
got=$(undate <"$HF_TMP/stall.err" | sed 's/[0-9][0-9]*\.[0-9][0-9] s/N s/g')
check_eq "${HF_PLAN[16]}" "hostflow.plugin INFO  : MAIN : a tick ended N s after its deadline (woke N s late, collection N s, charts and name lookups N s, output N s; ticks of 1 s): netdata leaves a gap where more than 2 points are lost" "$got"
hf_done
