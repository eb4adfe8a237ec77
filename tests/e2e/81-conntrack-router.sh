#!/usr/bin/env bash
# hostflow --source conntrack on a router: forwarded flows and NAT.
#   cli 198.51.100.2/25 -- (bridge) -- .1 rtr .129 -- (veth) -- .130 srv
# rtr forwards; UDP leaving towards srv is masqueraded to .129, TCP is not.
# cli holds 2 TCP connections to srv:80 (1000 bytes each way) and made 2
# UDP exchanges with srv:53 (100 bytes). rtr, which owns neither end, must
# show both as forwarded flows, initiator (many) => responder, with the
# traffic conntrack -L sums, and the UDP flow's translated address; srv
# must see UDP from .129 and TCP from .2.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/conntrack.sh
. "$(dirname "$0")/../lib/conntrack.sh"

HF_PLAN=(
	"router: TCP cli => srv:80 is one forwarded flow, traffic equals conntrack -L's sums"
	"router: UDP cli => srv:53 is forwarded, masqueraded to 198.51.100.129 (nat)"
	"router: text output shows forwarded flows with =>"
	"router: srv sees UDP from the translated address, TCP from cli"
)
hf_require_netns
hf_ct_require

hf_host cli 198.51.100.2/25 || hf_setup_failed "host cli"
hf_host rtr 198.51.100.1/25 || hf_setup_failed "host rtr"
# srv hangs off rtr by its own veth pair, not the bridge.
ns="hf-srv-$$-$RANDOM"
ip netns add "$ns" || hf_setup_failed "host srv"
HF_NS[srv]=$ns
HF_HOSTS+=(srv)
ip -n "$(hf_ns rtr)" link add eth1 type veth peer name eth0 netns "$ns" || hf_setup_failed "veth"
ip -n "$ns" link set lo up && ip -n "$ns" link set eth0 up &&
	ip -n "$ns" addr add 198.51.100.130/25 dev eth0 &&
	ip -n "$ns" route add default via 198.51.100.129 || hf_setup_failed "srv addresses"
ip -n "$(hf_ns rtr)" link set eth1 up && ip -n "$(hf_ns rtr)" addr add 198.51.100.129/25 dev eth1 ||
	hf_setup_failed "rtr eth1"
ip -n "$(hf_ns cli)" route add default via 198.51.100.1 || hf_setup_failed "cli route"
hf_sysctl rtr net.ipv4.ip_forward=1 || hf_setup_failed "forwarding"
hf_ct_enable rtr || hf_setup_failed "conntrack on rtr"
hf_ct_enable srv || hf_setup_failed "conntrack on srv"
hf_in rtr nft add table ip hfnat &&
	hf_in rtr nft add chain ip hfnat post '{ type nat hook postrouting priority 100; }' &&
	hf_in rtr nft add rule ip hfnat post meta l4proto udp oifname eth1 masquerade ||
	hf_setup_failed "masquerade on rtr"

hf_ctgen srv udp53 echo --addr 0.0.0.0 --port 53 --udp || hf_setup_failed "udp echo"
hf_ctgen srv tcp80 echo --addr 0.0.0.0 --port 80 || hf_setup_failed "tcp echo"
hf_in cli "$HF_PYTHON" "$HF_CTGEN" send --to 198.51.100.130 --port 53 --udp --count 2 --size 100 ||
	hf_setup_failed "udp exchanges"
hf_ctgen cli hold80 send --to 198.51.100.130 --port 80 --count 2 --size 1000 --hold ||
	hf_setup_failed "tcp exchanges"
sleep 0.2

hf_run_hostflow rtr --source conntrack -n --json
json=$HF_OUT
# forwarded: "sent" is the initiator's (original) direction
read -r n po bo pr br < <(hf_ct_sum rtr -p tcp --dport 80)
got=$(hf_ct_flow "$json" tcp forwarded 80)
ends=$("$HF_PYTHON" -c 'import json,sys
print([(f["local"]["addr"], f["local"]["port"], f["peer"]["addr"], f["peer"]["port"], "nat" in f) for f in json.loads(sys.argv[1]) if f["protocol"] == "tcp"])' "$json")
if [ "$got" = "$n $bo $br $po $pr" ] && [ "$n" = 2 ] &&
	[ "$ends" = "[('198.51.100.2', 'many', '198.51.100.130', '80', False)]" ]; then
	ok "router: TCP cli => srv:80 is one forwarded flow, traffic equals conntrack -L's sums"
else
	not_ok "router: TCP cli => srv:80 is one forwarded flow, traffic equals conntrack -L's sums" \
		"hostflow: $got $ends" "conntrack -L: $n $bo $br $po $pr" "$json"
fi

got=$("$HF_PYTHON" -c 'import json,sys
for f in json.loads(sys.argv[1]):
    if f["protocol"] == "udp":
        t = f["traffic"]
        print(f["direction"], f["local"]["addr"], f["peer"]["addr"], f["peer"]["port"], f["connections"],
              t["bytes_sent"], t["bytes_received"], json.dumps(f.get("nat"), sort_keys=True))' "$json")
check_eq "router: UDP cli => srv:53 is forwarded, masqueraded to 198.51.100.129 (nat)" \
	'forwarded 198.51.100.2 198.51.100.130 53 2 256 256 {"local_addr": "198.51.100.129"}' "$got"

hf_run_hostflow rtr --source conntrack -n -t
got=$(printf '%s\n' "$HF_OUT" | tr -s ' ' | sed -n 2p | cut -d' ' -f1-5)
check_eq "router: text output shows forwarded flows with =>" \
	"tcp 198.51.100.2:many => 198.51.100.130:80 2" "$got"

hf_run_hostflow srv --source conntrack -n --json
got=$("$HF_PYTHON" -c 'import json,sys
print(sorted((f["protocol"], f["direction"], f["peer"]["addr"], f["connections"]) for f in json.loads(sys.argv[1])))' "$HF_OUT")
check_eq "router: srv sees UDP from the translated address, TCP from cli" \
	"[('tcp', 'passive', '198.51.100.2', 2), ('udp', 'passive', '198.51.100.129', 2)]" "$got"
hf_done
