#!/usr/bin/env bash
# hostflow --source conntrack --netns: each namespace's own conntrack table,
# read from outside it (ctnetlink sockets opened inside each namespace).
#   cli sends 3 UDP exchanges of 100 bytes to srv:53 and holds 2 TCP
#   connections to srv:80; c2 (accounting off) holds one. hostflow runs in
#   the test's own namespace and must show, under each namespace's name,
#   exactly what it shows when run inside that namespace, with each
#   table's count; a connection deleted between two collections of a
#   --cumulative --watch must be counted as closed in its namespace's flow.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/conntrack.sh
. "$(dirname "$0")/../lib/conntrack.sh"

HF_PLAN=(
	"ct netns: srv's flows read from outside equal hostflow run inside srv"
	"ct netns: cli's flows read from outside equal hostflow run inside cli"
	"ct netns: every flow carries its namespace's name"
	"ct netns: --netns all finds srv's UDP :53 flow among the host's namespaces"
	"ct netns: --summary --json: entries and nf_conntrack_count per namespace"
	"ct netns: text output has a NETNS column"
	"ct netns: accounting off in c2: its traffic null, one message naming nf_conntrack_acct"
	"ct netns: --cumulative: a connection deleted in srv is counted closed in srv's flow"
)
hf_require_netns
hf_ct_require

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
hf_host cli 198.51.100.2/24 || hf_setup_failed "host cli"
hf_host c2 198.51.100.3/24 || hf_setup_failed "host c2"
hf_ct_enable srv || hf_setup_failed "conntrack on srv"
hf_ct_enable cli || hf_setup_failed "conntrack on cli"
hf_ct_enable c2 0 || hf_setup_failed "conntrack on c2"
srv=$(hf_ns srv) cli=$(hf_ns cli) c2=$(hf_ns c2)

hf_ctgen srv udp53 echo --addr 0.0.0.0 --port 53 --udp || hf_setup_failed "udp echo"
hf_ctgen srv tcp80 echo --addr 0.0.0.0 --port 80 || hf_setup_failed "tcp echo"
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.1 --port 53 --udp --count 3 --size 100 ||
	hf_setup_failed "udp exchanges"
hf_ctgen cli hold80 send --to 198.51.100.1 --port 80 --count 2 --size 1000 --hold ||
	hf_setup_failed "tcp exchanges"
hf_ctgen c2 hold2 send --to 198.51.100.1 --port 80 --count 1 --size 500 --hold ||
	hf_setup_failed "c2 tcp exchange"
sleep 0.2

# strip NAME JSON: the flows of namespace NAME, without the netns field, sorted.
strip() {
	"$HF_PYTHON" -c 'import json,sys
fl = [f for f in json.loads(sys.argv[2]) if sys.argv[1] == "" or f.get("netns", {}).get("name") == sys.argv[1]]
for f in fl: f.pop("netns", None)
print(json.dumps(sorted(fl, key=lambda f: json.dumps(f, sort_keys=True)), sort_keys=True))' "$1" "$2"
}

hf_run_hostflow - --source conntrack -n --json --netns "$srv" --netns "$cli" --netns "$c2"
outside=$HF_OUT outside_err=$HF_ERR
for h in srv cli; do
	hf_run_hostflow "$h" --source conntrack -n --json
	inside=$(strip "" "$HF_OUT")
	got=$(strip "$(hf_ns $h)" "$outside")
	if [ "$inside" = "$got" ] && [ "$inside" != "[]" ]; then
		ok "ct netns: $h's flows read from outside equal hostflow run inside $h"
	else
		not_ok "ct netns: $h's flows read from outside equal hostflow run inside $h" \
			"inside: $inside" "outside: $got" "stderr: $outside_err"
	fi
done

names=$("$HF_PYTHON" -c 'import json,sys
print(" ".join(sorted({f["netns"]["name"] for f in json.loads(sys.argv[1])})))' "$outside")
want=$(printf '%s\n' "$srv" "$cli" "$c2" | sort | tr '\n' ' ')
check_eq "ct netns: every flow carries its namespace's name" "${want% }" "$names"

hf_run_hostflow - --source conntrack -n --json --netns all
got=$("$HF_PYTHON" -c 'import json,sys
for f in json.loads(sys.argv[1]):
    if f["netns"]["name"] == sys.argv[2] and f["protocol"] == "udp" and f["local"]["port"] == "53":
        print(f["connections"], f["traffic"]["bytes_received"])' "$HF_OUT" "$srv")
check_eq "ct netns: --netns all finds srv's UDP :53 flow among the host's namespaces" "3 384" "$got"

hf_run_hostflow - --source conntrack -n --json --summary --netns "$srv" --netns "$cli"
got=$("$HF_PYTHON" -c 'import json,sys
s = json.loads(sys.argv[1])
print(" ".join("%s=%d/%d" % ("srv" if n["name"] == sys.argv[2] else "cli", n["entries"], n["nf_conntrack_count"])
               for n in sorted(s["netns"], key=lambda n: n["name"] != sys.argv[2])))' "$HF_OUT" "$srv")
n_srv=$(hf_in srv conntrack -C 2>/dev/null)
n_cli=$(hf_in cli conntrack -C 2>/dev/null)
check_eq "ct netns: --summary --json: entries and nf_conntrack_count per namespace" \
	"srv=$n_srv/$n_srv cli=$n_cli/$n_cli" "$got"

hf_run_hostflow - --source conntrack -n -u --netns "$srv" --netns "$cli"
got=$(printf '%s\n' "$HF_OUT" | tr -s ' ' | sort)
want=$(printf '%s\n' "NETNS Proto Local Address:Port <--> Peer Address:Port Connections Bytes-Sent Bytes-Recv Pkts-Sent Pkts-Recv" \
	"$srv udp 198.51.100.1:53 <-- 198.51.100.2:many 3 384 384 3 3" \
	"$cli udp 198.51.100.2:many --> 198.51.100.1:53 3 384 384 3 3" | sort)
check_eq "ct netns: text output has a NETNS column" "$want" "$got"

c2flow=$("$HF_PYTHON" -c 'import json,sys
print([f["traffic"] for f in json.loads(sys.argv[1]) if f["netns"]["name"] == sys.argv[2]])' "$outside" "$c2")
hints=$(grep -c 'nf_conntrack_acct' <<<"$outside_err")
if [ "$c2flow" = "[None]" ] && [ "$hints" = 1 ]; then
	ok "ct netns: accounting off in c2: its traffic null, one message naming nf_conntrack_acct"
else
	not_ok "ct netns: accounting off in c2: its traffic null, one message naming nf_conntrack_acct" \
		"c2 traffic: $c2flow" "stderr: $outside_err"
fi

# ---- destroy events per namespace
# An entry made before anyone listened to the namespace's events carries no
# event (net.netfilter.nf_conntrack_events=2, the default): the connection
# to be deleted is made once hostflow watches.
hf_ctgen srv tcp81 echo --addr 0.0.0.0 --port 81 || hf_setup_failed "tcp echo :81"
out=$HF_TMP/watch.out
"$HOSTFLOW" --source conntrack --cumulative -n --json -w1 --netns "$srv" >"$out" 2>"$HF_TMP/watch.err" &
watch_pid=$!
hf_wait_for 5 test -s "$out" || hf_setup_failed "hostflow --watch output"
hf_ctgen c2 hold81 send --to 198.51.100.1 --port 81 --count 1 --size 300 --hold ||
	hf_setup_failed "c2 tcp exchange to :81"
sleep 0.2
read -r _ po bo pr br < <(hf_ct_sum srv -p tcp --dport 81)
hf_in srv conntrack -D -p tcp --dport 81 >/dev/null 2>&1
# closed81: "closed bytes_received" of srv's TCP :81 flow in the first
# output line where it is closed (a flow with no entry left is shown once,
# then dropped), or "none".
closed81() {
	"$HF_PYTHON" -c 'import json,sys
for line in open(sys.argv[1]):
    for f in json.loads(line or "[]"):
        if f["protocol"] == "tcp" and f["local"]["port"] == "81" and f.get("closed"):
            print(f["closed"], f["traffic"]["bytes_received"] if f["traffic"] else None)
            sys.exit(0)
print("none")' "$out"
}
got=none
deadline=$((SECONDS + 6))
while [ $SECONDS -lt $deadline ]; do
	got=$(closed81)
	[ "$got" != none ] && break
	sleep 0.3
done
kill "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
check_eq "ct netns: --cumulative: a connection deleted in srv is counted closed in srv's flow" \
	"1 $bo" "$got" || hf_diag "$(cat "$HF_TMP/watch.err")" "$(tail -n 2 "$out")"

hf_done
