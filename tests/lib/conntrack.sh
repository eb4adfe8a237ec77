# tests/lib/conntrack.sh: helpers for the conntrack source's end-to-end tests.
# shellcheck shell=bash
#
# Source after tests/lib/netns.sh. Gives:
#   hf_ct_require [DESC...]     skip_all without nft(8), conntrack(8) or
#                               conntrack in the kernel
#   hf_ct_enable NAME [ACCT]    turn tracking on in host NAME (an nftables
#                               rule with `ct state`), accounting ACCT (1)
#   hf_ctgen NAME TAG ARGS...   tests/tools/ctgen.py ARGS in the background,
#                               waits for its --ready file
#   hf_ct_sum NAME ARGS...      sums of `conntrack -L -o extended ARGS` in
#                               host NAME: "entries packets_orig bytes_orig
#                               packets_reply bytes_reply"
#   hf_ct_flow JSON PROTO DIR PORT
#                               from hostflow --json output, the flow of
#                               PROTO, direction DIR, service port PORT:
#                               "connections bytes_sent bytes_received
#                               packets_sent packets_received" ("null" for
#                               unknown traffic), or "none"

HF_CTGEN="$HF_ROOT/tests/tools/ctgen.py"

hf_ct_require() {
	command -v nft >/dev/null || skip_all "no nft(8) (package nftables; tools/deps.sh)" "$@"
	command -v conntrack >/dev/null || skip_all "no conntrack(8) (package conntrack; tools/deps.sh)" "$@"
	[ -e /proc/sys/net/netfilter/nf_conntrack_max ] ||
		modprobe nf_conntrack 2>/dev/null ||
		skip_all "no conntrack in this kernel (nf_conntrack)" "$@"
}

hf_ct_enable() {
	local name=$1 acct=${2:-1}
	hf_in "$name" nft add table inet hft || return 1
	hf_in "$name" nft add chain inet hft in '{ type filter hook input priority 0; }' || return 1
	hf_in "$name" nft add rule inet hft in ct state established,related accept || return 1
	hf_sysctl "$name" net.netfilter.nf_conntrack_acct="$acct"
}

hf_ctgen() {
	local name=$1 tag=$2
	shift 2
	rm -f "$HF_TMP/$tag.ready"
	hf_bg "$name" "$HF_PYTHON" "$HF_CTGEN" "$@" --ready "$HF_TMP/$tag.ready" || return 1
	# shellcheck disable=SC2034 # read by hf_signal (netns.sh)
	HF_PID[$tag]=$HF_LAST_PID
	if ! hf_wait_file "$HF_TMP/$tag.ready" "$HF_LAST_PID" 20; then
		hf_diag "ctgen '$tag' in $name did not get ready: $*"
		return 1
	fi
}

hf_ct_sum() {
	local name=$1
	shift
	hf_in "$name" conntrack -L -o extended "$@" 2>/dev/null | awk '
		{ n++; k = 0
		  for (i = 1; i <= NF; i++) {
			if ($i ~ /^packets=/) { split($i, a, "="); p[k] += a[2] }
			if ($i ~ /^bytes=/) { split($i, a, "="); b[k] += a[2]; k++ }
		  } }
		END { printf "%d %d %d %d %d\n", n, p[0], b[0], p[1], b[1] }'
}

hf_ct_flow() {
	"$HF_PYTHON" -c '
import json, sys
flows = json.loads(sys.argv[1])
proto, d, port = sys.argv[2], sys.argv[3], sys.argv[4]
for f in flows:
    svc = f["local"]["port"] if f["direction"] == "passive" else f["peer"]["port"]
    if f["protocol"] == proto and f["direction"] == d and svc == port:
        t = f.get("traffic")
        v = ["null"] * 4 if t is None else [t["bytes_sent"], t["bytes_received"], t["packets_sent"], t["packets_received"]]
        print(f["connections"], *v)
        break
else:
    print("none")' "$@"
}
