#!/usr/bin/env bash
# hostflow --netns: every network namespace of the host, from the host's own
# namespace. Twelve namespaces, each with known flows, named every way
# hostflow names them:
#   srv  an `ip netns` name (kept): listeners :80 and :81
#   d1   a Docker container: cgroup system.slice/docker-ID.scope and
#        /var/lib/docker/containers/ID/config.v2.json -> its "Name"
#   d2   a Docker container without metadata -> the short id (12 hex)
#   k1   a Kubernetes pod: cgroup kubepods.slice/kubepods-besteffort.slice/
#        kubepods-besteffort-podUID.slice/cri-containerd-ID.scope and
#        /var/log/pods/NS_POD_UID -> "NS/POD"; listens on :8080
#   r1   a mount in Docker's netns directory (/run/docker/netns) -> its file
#   p1, c1, c2, c3  only processes -> pid-PID-COMM. p1's local port range
#        is 10000-10999: srv's connection to its :2222 from port 10500,
#        whose listener is gone, is passive by p1's range (by the host's it
#        would be active). c1 connects from source
#        ports 81 and 82, and srv's listener on :81 must not make its flow
#        passive: listeners classify their own namespace's connections only
#   p2   `unshare --net`, loopback only: a listener and its clients
#   br   the bridge (an `ip netns` name, no sockets)
# All but srv, br and n1 lose their `ip netns` name once their processes
# run, so that only the processes hold them. The cgroups are made under the
# cgroup v2 mount and the runtimes' metadata under /var/lib/docker and
# /var/log/pods with this run's unique ids; everything is removed on exit.
# Then, with one `hostflow --summary --json --netns all -w1` running: c3's
# processes exit (its namespace must vanish from the output, and the kernel
# must free it: its veth leaves the bridge, which it cannot while hostflow
# holds a socket in it), and a new namespace n1 appears with its flow.
# Without CAP_SYS_ADMIN, hostflow reads its own namespace alone and says so
# once. Run in a user namespace of its own, it has CAP_SYS_ADMIN there but
# cannot enter the host's namespaces: each is named once, over several
# collections, and skipped, 40 more empty ones too (more lines than 2 KB).
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"netns: srv kernel holds the test's connections"
	"netns: default (no --netns): srv's flows alone, as before"
	"netns: --netns all --json: every test namespace's flows, exact, with states"
	"netns: --netns all --proc: the same flows from /proc/PID/net/tcp{,6}"
	"netns: --netns all: the text table has a NETNS column and every row"
	"netns: --netns NAME: that namespace alone, no NETNS column"
	"netns: container objects: docker name, short id, kubernetes pod"
	"netns: --listen --json --netns all: listeners per namespace"
	"netns: --summary --json --netns all: per-namespace totals"
	"netns: watch: a namespace whose processes exit leaves the output"
	"netns: watch: the kernel frees it (hostflow holds no socket in it)"
	"netns: watch: a namespace created mid-run appears with its flow"
	"netns: without CAP_SYS_ADMIN: own namespace only, one message"
	"netns: a namespace it cannot enter is named once and skipped"
)
hf_require_netns
command -v jq >/dev/null || skip_all "no jq"
command -v unshare >/dev/null || skip_all "no unshare(1) (util-linux)"
command -v setpriv >/dev/null || skip_all "no setpriv(1) (util-linux)"
CG=$(findmnt -rn -t cgroup2 -o TARGET | head -n1)
[ -n "$CG" ] && [ -w "$CG" ] || skip_all "no writable cgroup v2 mount"
hf_have_hostflow || hf_setup_failed "$HOSTFLOW missing"

hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
ID_D1=$(hex 32)
ID_D2=$(hex 32)
ID_K1=$(hex 32)
UID_K1=$(cat /proc/sys/kernel/random/uuid)
WEB=hf-web-$$
POD=hf-pod-$$
PODNS=hfns$$
R1=hf-r1-$$
CGBASE="$CG/hf-netns-$$"

# ---- cleanup of what lives outside HF_TMP: registered before it is made
made_dirs=()
mkdir_owned() { # mkdir -p, remembering the directories this test created
	local d=$1 missing=()
	while [ ! -d "$d" ]; do
		missing=("$d" "${missing[@]}")
		d=$(dirname "$d")
	done
	mkdir -p "$1" || return 1
	made_dirs=("${missing[@]}" "${made_dirs[@]}")
}
cleanup_outside() {
	local d p i
	umount "/run/docker/netns/$R1" 2>/dev/null
	rm -f "/run/docker/netns/$R1"
	rm -rf "/var/lib/docker/containers/$ID_D1" "/var/log/pods/${PODNS}_${POD}_${UID_K1}"
	# the test's cgroups hold only the test's processes: they go first
	if [ -d "$CGBASE" ]; then
		for p in $(cat $(find "$CGBASE" -name cgroup.procs)); do kill -KILL "$p"; done
		for i in $(seq 50); do
			for d in $(find "$CGBASE" -depth -type d); do rmdir "$d"; done
			[ -d "$CGBASE" ] || break
			sleep 0.1
		done
	fi
	# the directories this test made, deepest first
	for d in $(printf '%s\n' "${made_dirs[@]}" | awk '{ print length($0), $0 }' | sort -rn |
		cut -d' ' -f2-); do
		rmdir "$d"
	done
}
hf_on_exit cleanup_outside

# put PID in cgroup PATH (under the test's base)
cgroup_put() {
	mkdir -p "$CGBASE/$2" && echo "$1" >"$CGBASE/$2/cgroup.procs"
}

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
for h in d1:11 d2:12 k1:13 p1:14 c1:15 c2:16 c3:17 r1:18; do
	hf_host "${h%:*}" "198.51.100.${h#*:}/24" || hf_setup_failed "host ${h%:*}"
done
C3_PORT=p$((HF_PORTS - 1)) # c3 is the last but one host made
BR=$HF_BRIDGE
SRV=$(hf_ns srv)

hf_sockgen srv l80 listen --addr 0.0.0.0 --port 80 || hf_setup_failed "srv :80"
hf_sockgen srv l81 listen --addr 0.0.0.0 --port 81 || hf_setup_failed "srv :81"
hf_sockgen k1 l8080 listen --addr 0.0.0.0 --port 8080 || hf_setup_failed "k1 :8080"
hf_sockgen d1 d1c connect --to 198.51.100.1 --port 80 --count 2 || hf_setup_failed "d1"
hf_sockgen d2 d2c connect --to 198.51.100.1 --port 80 --count 3 || hf_setup_failed "d2"
hf_sockgen d2 d2k connect --to 198.51.100.13 --port 8080 --count 1 || hf_setup_failed "d2 -> k1"
hf_sockgen k1 k1c connect --to 198.51.100.1 --port 81 --count 1 || hf_setup_failed "k1"
hf_sockgen p1 p1c connect --to 198.51.100.1 --port 80 --count 1 || hf_setup_failed "p1"
# from source ports 81 and 82: srv's listener :81 must not make them passive
hf_sockgen c1 c1c connect --to 198.51.100.13 --port 8080 --count 2 --sport 81 || hf_setup_failed "c1"
hf_sockgen c2 c2c connect --to 198.51.100.1 --port 81 --count 2 --close || hf_setup_failed "c2"
hf_sockgen c3 c3c connect --to 198.51.100.1 --port 80 --count 1 || hf_setup_failed "c3"
hf_sockgen r1 r1c connect --to 198.51.100.1 --port 81 --count 1 || hf_setup_failed "r1"
hf_sysctl p1 "net.ipv4.ip_local_port_range=10000 10999" || hf_setup_failed "p1 port range"
hf_sockgen p1 l2222 listen --addr 0.0.0.0 --port 2222 || hf_setup_failed "p1 :2222"
hf_sockgen srv s2222 connect --to 198.51.100.14 --port 2222 --sport 10500 || hf_setup_failed "srv -> p1"
hf_wait_status l2222 accepted=1 || hf_setup_failed "p1 accepting"
hf_signal l2222 USR1
hf_wait_status l2222 listeners=0 || hf_setup_failed "p1 closing its listener"

# p2: loopback only, in a namespace that never had a name
unshare --net -- bash -c 'ip link set lo up && exec "$@"' p2 \
	"$HF_PYTHON" "$HF_SOCKGEN" listen --addr 127.0.0.1 --port 90 \
	--ready "$HF_TMP/p2l.ready" --status "$HF_TMP/p2l.status" &
P2=$!
HF_PIDS+=("$P2")
hf_wait_file "$HF_TMP/p2l.ready" "$P2" 20 || hf_setup_failed "p2 listener"
nsenter --net="/proc/$P2/ns/net" "$HF_PYTHON" "$HF_SOCKGEN" connect --to 127.0.0.1 --port 90 \
	--count 2 --ready "$HF_TMP/p2c.ready" --status "$HF_TMP/p2c.status" &
HF_PIDS+=("$!")
hf_wait_file "$HF_TMP/p2c.ready" "$!" 20 || hf_setup_failed "p2 clients"

# the containers' cgroups and metadata
cgroup_put "${HF_PID[d1c]}" "system.slice/docker-$ID_D1.scope" || hf_setup_failed "d1 cgroup"
cgroup_put "${HF_PID[d2c]}" "system.slice/docker-$ID_D2.scope" || hf_setup_failed "d2 cgroup"
cgroup_put "${HF_PID[d2k]}" "system.slice/docker-$ID_D2.scope" || hf_setup_failed "d2 cgroup"
KPOD="kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_K1//-/_}.slice"
for t in l8080 k1c; do
	cgroup_put "${HF_PID[$t]}" "$KPOD/cri-containerd-$ID_K1.scope" || hf_setup_failed "k1 cgroup"
done
mkdir_owned "/var/lib/docker/containers/$ID_D1" &&
	printf '{"ID":"%s","Name":"/%s","Config":{"Hostname":"x"}}\n' "$ID_D1" "$WEB" \
		>"/var/lib/docker/containers/$ID_D1/config.v2.json" || hf_setup_failed "docker metadata"
mkdir_owned "/var/log/pods/${PODNS}_${POD}_${UID_K1}/app" || hf_setup_failed "pod directory"
mkdir_owned /run/docker/netns && touch "/run/docker/netns/$R1" &&
	mount --bind "/run/netns/$(hf_ns r1)" "/run/docker/netns/$R1" || hf_setup_failed "r1 mount"

hf_wait_status c2c open=0 || hf_setup_failed "c2 closing"
# srv's connections, as the kernel holds them and hostflow shows them there
SRV_FLOWS="
passive 198.51.100.1:80 <- 198.51.100.11:many 2 ESTABLISHED=2
passive 198.51.100.1:80 <- 198.51.100.12:many 3 ESTABLISHED=3
passive 198.51.100.1:80 <- 198.51.100.14:many 1 ESTABLISHED=1
passive 198.51.100.1:80 <- 198.51.100.17:many 1 ESTABLISHED=1
passive 198.51.100.1:81 <- 198.51.100.13:many 1 ESTABLISHED=1
passive 198.51.100.1:81 <- 198.51.100.16:many 2 CLOSE_WAIT=2
passive 198.51.100.1:81 <- 198.51.100.18:many 1 ESTABLISHED=1
active 198.51.100.1:many -> 198.51.100.14:2222 1 ESTABLISHED=1"
hf_check_kernel "netns: srv kernel holds the test's connections" srv "$SRV_FLOWS"

# default mode, before the names go: inside srv, exactly as before
hf_check_hostflow "netns: default (no --netns): srv's flows alone, as before" srv "$SRV_FLOWS"

# only processes (and r1's runtime mount) hold the others from now on
for h in d1 d2 k1 p1 c1 c2 c3 r1; do
	ip netns del "$(hf_ns "$h")" || hf_setup_failed "ip netns del $h"
done
comm_of() { cat "/proc/$1/comm"; }
N_P1="pid-${HF_PID[p1c]}-$(comm_of "${HF_PID[p1c]}")"
N_C1="pid-${HF_PID[c1c]}-$(comm_of "${HF_PID[c1c]}")"
N_C2="pid-${HF_PID[c2c]}-$(comm_of "${HF_PID[c2c]}")"
N_C3="pid-${HF_PID[c3c]}-$(comm_of "${HF_PID[c3c]}")"
N_P2="pid-$P2-$(comm_of "$P2")"
N_D2=${ID_D2:0:12}
N_K1="$PODNS/$POD"
NAMES=("$SRV" "$WEB" "$N_D2" "$N_K1" "$R1" "$N_P1" "$N_C1" "$N_C2" "$N_C3" "$N_P2" "$BR")
names_json=$(printf '%s\n' "${NAMES[@]}" | jq -R . | jq -sc .)
# the test's namespaces alone: other namespaces of the host are not ours to judge
ours() { jq -c --argjson n "$names_json" '[.[] | select(.netns.name as $x | $n | index($x))]'; }

ALL="
passive 198.51.100.1:80 <- 198.51.100.11:many 2 ESTABLISHED=2 netns=$SRV
passive 198.51.100.1:80 <- 198.51.100.12:many 3 ESTABLISHED=3 netns=$SRV
passive 198.51.100.1:80 <- 198.51.100.14:many 1 ESTABLISHED=1 netns=$SRV
passive 198.51.100.1:80 <- 198.51.100.17:many 1 ESTABLISHED=1 netns=$SRV
passive 198.51.100.1:81 <- 198.51.100.13:many 1 ESTABLISHED=1 netns=$SRV
passive 198.51.100.1:81 <- 198.51.100.16:many 2 CLOSE_WAIT=2 netns=$SRV
passive 198.51.100.1:81 <- 198.51.100.18:many 1 ESTABLISHED=1 netns=$SRV
active 198.51.100.1:many -> 198.51.100.14:2222 1 ESTABLISHED=1 netns=$SRV
active 198.51.100.11:many -> 198.51.100.1:80 2 ESTABLISHED=2 netns=$WEB
active 198.51.100.12:many -> 198.51.100.1:80 3 ESTABLISHED=3 netns=$N_D2
active 198.51.100.12:many -> 198.51.100.13:8080 1 ESTABLISHED=1 netns=$N_D2
active 198.51.100.13:many -> 198.51.100.1:81 1 ESTABLISHED=1 netns=$N_K1
passive 198.51.100.13:8080 <- 198.51.100.12:many 1 ESTABLISHED=1 netns=$N_K1
passive 198.51.100.13:8080 <- 198.51.100.15:many 2 ESTABLISHED=2 netns=$N_K1
active 198.51.100.14:many -> 198.51.100.1:80 1 ESTABLISHED=1 netns=$N_P1
passive 198.51.100.14:2222 <- 198.51.100.1:many 1 ESTABLISHED=1 netns=$N_P1
active 198.51.100.15:many -> 198.51.100.13:8080 2 ESTABLISHED=2 netns=$N_C1
active 198.51.100.16:many -> 198.51.100.1:81 2 FIN_WAIT2=2 netns=$N_C2
active 198.51.100.17:many -> 198.51.100.1:80 1 ESTABLISHED=1 netns=$N_C3
active 198.51.100.18:many -> 198.51.100.1:81 1 ESTABLISHED=1 netns=$R1
passive 127.0.0.1:90 <- 127.0.0.1:many 2 ESTABLISHED=2 netns=$N_P2
active 127.0.0.1:many -> 127.0.0.1:90 2 ESTABLISHED=2 netns=$N_P2"

desc="netns: --netns all --json: every test namespace's flows, exact, with states"
hf_run_hostflow - -n --json --netns all
if [ "$HF_RC" != 0 ]; then
	hf_fail "$desc" "exit $HF_RC" "$HF_ERR"
elif diff=$(printf '%s\n' "$HF_OUT" | ours | hf_flows_check json "$ALL"); then
	ok "$desc"
else
	hf_fail "$desc" "$diff" "${HF_ERR:+stderr: $HF_ERR}"
fi
JSON=$HF_OUT

desc="netns: --netns all --proc: the same flows from /proc/PID/net/tcp{,6}"
hf_run_hostflow - -n --json --netns all --proc
if [ "$HF_RC" != 0 ]; then
	hf_fail "$desc" "exit $HF_RC" "$HF_ERR"
elif diff=$(printf '%s\n' "$HF_OUT" | ours | hf_flows_check json "$ALL"); then
	ok "$desc"
else
	hf_fail "$desc" "$diff" "${HF_ERR:+stderr: $HF_ERR}"
fi

# the text table: the same rows, NETNS first; states are in the JSON check
desc="netns: --netns all: the text table has a NETNS column and every row"
hf_run_hostflow - -n --netns all
exp=$(printf '%s\n' "$ALL" | awk 'NF { sub("netns=", "", $NF);
	printf "%s %s %s %s %s\n", $NF, $2, ($3 == "<-" ? "<--" : "-->"), $4, $5 }' | sort)
act=$(printf '%s\n' "$HF_OUT" | awk -v names="$(printf '%s\n' "${NAMES[@]}")" '
	BEGIN { n = split(names, a, "\n"); for (i = 1; i <= n; i++) ours[a[i]] = 1 }
	NR == 1 { $1 = $1; print "HEADER " $0; next }
	$1 in ours { $1 = $1; print }' | sort)
check_eq "$desc" "$(printf 'HEADER NETNS Local Address:Port <--> Peer Address:Port Connections\n%s' "$exp" | sort)" "$act"

hf_check_hostflow "netns: --netns NAME: that namespace alone, no NETNS column" - "
active 198.51.100.12:many -> 198.51.100.1:80 3 ESTABLISHED=3 netns=$N_D2
active 198.51.100.12:many -> 198.51.100.13:8080 1 ESTABLISHED=1 netns=$N_D2" -n --json --netns "$N_D2"

desc="netns: container objects: docker name, short id, kubernetes pod"
got=$(printf '%s\n' "$JSON" | jq -r --argjson n "$names_json" '
	[.[] | select(.netns.name as $x | $n | index($x))] | map({(.netns.name): (.container // {})})
	| add | to_entries | sort_by(.key)[]
	| "\(.key) \(.value.runtime // "-") \(.value.id // "-") \(.value.name // "-") \(.value.pod_namespace // "-") \(.value.pod // "-")"' |
	grep -E "^($WEB|$N_D2|$PODNS/$POD|$SRV) ")
check_eq "$desc" "$(printf '%s\n' \
	"$N_K1 containerd $ID_K1 - $PODNS $POD" \
	"$N_D2 docker $ID_D2 - - -" \
	"$SRV - - - - -" \
	"$WEB docker $ID_D1 $WEB - -" | sort)" "$(printf '%s\n' "$got" | sort)"

desc="netns: --listen --json --netns all: listeners per namespace"
hf_run_hostflow - -n --listen --json --netns all
got=$(printf '%s\n' "$HF_OUT" | ours | jq -r '.[] | "\(.netns.name) \(.addr):\(.port) \(.connections)"' | sort)
check_eq "$desc" "$(printf '%s\n' "$SRV 0.0.0.0:80 7" "$SRV 0.0.0.0:81 2" "$N_K1 0.0.0.0:8080 3" \
	"$N_P2 127.0.0.1:90 2" | sort)" "$got"

desc="netns: --summary --json --netns all: per-namespace totals"
hf_run_hostflow - -n --summary --json --netns all
got=$(printf '%s\n' "$HF_OUT" | jq -c --argjson n "$names_json" '[.netns[] | select(.name as $x | $n | index($x))]' |
	jq -r '.[] | "\(.name) \(.backend) \(.sockets) \(.listeners) \(.flows)"' | sort)
check_eq "$desc" "$(printf '%s\n' "$SRV netlink 12 2 8" "$WEB netlink 2 0 1" "$N_D2 netlink 4 0 2" \
	"$N_K1 netlink 4 1 3" "$R1 netlink 1 0 1" "$N_P1 netlink 2 0 2" "$N_C1 netlink 2 0 1" \
	"$N_C2 netlink 2 0 1" "$N_C3 netlink 1 0 1" "$N_P2 netlink 4 1 2" "$BR netlink 0 0 0" |
	sort)" "$got"

# ---- one hostflow across collections: a namespace goes, another comes
"$HOSTFLOW" -n --summary --json --netns all -w1 >"$HF_TMP/watch.out" 2>"$HF_TMP/watch.err" &
WATCH=$!
HF_PIDS+=("$WATCH")
lines() { wc -l <"$HF_TMP/watch.out"; }
has_c3() { tail -n1 "$HF_TMP/watch.out" | jq -e --arg n "$N_C3" '.netns | map(.name) | index($n)' >/dev/null; }
hf_wait_for 10 has_c3 || hf_diag "the watching hostflow never saw c3"
kill "${HF_PID[c3c]}"
wait "${HF_PID[c3c]}" 2>/dev/null
n0=$(lines)
gone() { [ "$(lines)" -ge $((n0 + 2)) ] && ! has_c3; }
if hf_wait_for 10 gone; then
	ok "netns: watch: a namespace whose processes exit leaves the output"
else
	hf_fail "netns: watch: a namespace whose processes exit leaves the output" \
		"$(tail -n1 "$HF_TMP/watch.out")" "$(cat "$HF_TMP/watch.err")"
fi
freed() { ! ip -n "$BR" link show "$C3_PORT" >/dev/null 2>&1; }
if hf_wait_for 10 freed; then
	ok "netns: watch: the kernel frees it (hostflow holds no socket in it)"
else
	hf_fail "netns: watch: the kernel frees it (hostflow holds no socket in it)" \
		"bridge port $C3_PORT of c3 still there" "$(ls -l "/proc/$WATCH/fd")"
fi
hf_host n1 198.51.100.19/24 || hf_setup_failed "host n1"
hf_sockgen n1 n1c connect --to 198.51.100.1 --port 80 --count 1 || hf_setup_failed "n1"
N1=$(hf_ns n1)
has_n1() {
	tail -n1 "$HF_TMP/watch.out" |
		jq -e --arg n "$N1" '.netns[] | select(.name == $n and .sockets == 1 and .flows == 1)' >/dev/null
}
desc="netns: watch: a namespace created mid-run appears with its flow"
if hf_wait_for 10 has_n1; then
	hf_check_hostflow "$desc" - "active 198.51.100.19:many -> 198.51.100.1:80 1 ESTABLISHED=1 netns=$N1" \
		-n --json --netns "$N1"
else
	hf_fail "$desc" "$(tail -n1 "$HF_TMP/watch.out")" "$(cat "$HF_TMP/watch.err")"
fi
kill "$WATCH"

# ---- no CAP_SYS_ADMIN: inside srv, its own flows, one message
desc="netns: without CAP_SYS_ADMIN: own namespace only, one message"
out=$(ip netns exec "$SRV" setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin \
	"$HOSTFLOW" -n --json --netns all 2>"$HF_TMP/nocap.err")
rc=$?
err=$(cat "$HF_TMP/nocap.err")
exp_err="hostflow: network namespaces: without CAP_SYS_ADMIN (and CAP_SYS_PTRACE for other users' processes) only the own namespace is read"
if [ "$rc" != 0 ] || [ "$err" != "$exp_err" ]; then
	hf_fail "$desc" "exit $rc" "stderr: $err"
elif diff=$(printf '%s\n' "$out" | hf_flows_check json "
passive 198.51.100.1:80 <- 198.51.100.11:many 2 ESTABLISHED=2 netns=$SRV
passive 198.51.100.1:80 <- 198.51.100.12:many 3 ESTABLISHED=3 netns=$SRV
passive 198.51.100.1:80 <- 198.51.100.14:many 1 ESTABLISHED=1 netns=$SRV
passive 198.51.100.1:80 <- 198.51.100.17:many 1 CLOSE_WAIT=1 netns=$SRV
passive 198.51.100.1:80 <- 198.51.100.19:many 1 ESTABLISHED=1 netns=$SRV
passive 198.51.100.1:81 <- 198.51.100.13:many 1 ESTABLISHED=1 netns=$SRV
passive 198.51.100.1:81 <- 198.51.100.16:many 2 CLOSE_WAIT=2 netns=$SRV
passive 198.51.100.1:81 <- 198.51.100.18:many 1 ESTABLISHED=1 netns=$SRV
active 198.51.100.1:many -> 198.51.100.14:2222 1 ESTABLISHED=1 netns=$SRV"); then
	ok "$desc"
else
	hf_fail "$desc" "$diff"
fi

# ---- inside a user namespace of its own: setns(2) into srv is refused
# With 40 more (empty) namespaces, the lines of one collection exceed 2 KB:
# each namespace is still named, once.
EXTRA=()
drop_extra() { for x in "${EXTRA[@]}"; do ip netns del "$x"; done; }
hf_on_exit drop_extra
for i in $(seq 40); do
	EXTRA+=("hf-x$i-$$-$RANDOM")
	ip netns add "${EXTRA[-1]}" || hf_setup_failed "namespace ${EXTRA[-1]}"
done
desc="netns: a namespace it cannot enter is named once and skipped"
out=$(timeout 2.5 unshare --user --map-root-user "$HOSTFLOW" -n --json --netns all -w1 \
	2>"$HF_TMP/userns.err")
rc=$?
told=$(grep -c "^hostflow: cannot enter network namespace \"$SRV\": Operation not permitted$" \
	"$HF_TMP/userns.err")
extra_told=$(for x in "${EXTRA[@]}"; do
	grep -c "^hostflow: cannot enter network namespace \"$x\": Operation not permitted$" \
		"$HF_TMP/userns.err"
done | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
runs=$(printf '%s\n' "$out" | grep -c '^\[')
srv_flows=$(printf '%s\n' "$out" | jq -s --arg n "$SRV" '[.[][] | select(.netns.name == $n)] | length')
if [ "$rc" = 124 ] && [ "$told" = 1 ] && [ "$extra_told" = "1:40 " ] && [ "$runs" -ge 2 ] &&
	[ "$srv_flows" = 0 ]; then
	ok "$desc"
else
	hf_fail "$desc" "exit $rc (124: stopped by timeout), told $told times, $runs collections," \
		"the 40 others told (times:namespaces) $extra_told" \
		"$srv_flows flows of srv" "stderr: $(cat "$HF_TMP/userns.err")"
fi

hf_done
