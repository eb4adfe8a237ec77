#!/usr/bin/env bash
# hostflow without -n never hangs on a dead resolver. srv's resolv.conf
# names a nameserver whose packets vanish (hf_blackhole), with glibc's own
# timeout at 5 s and 2 attempts, so every DNS lookup would take 10 s; four
# peers and srv's own address would take 50 s. hostflow waits at most
# 500 ms per lookup and, after three lookups in a row time out, stops
# asking: the command ends well inside its 20 s limit, prints the peers it
# could not name as addresses, and the name /etc/hosts gives to the first
# peer it looks up (the largest flow; once the resolver is taken for dead,
# not even /etc/hosts is asked, as hostflow(1) says).
#
# /etc/resolv.conf, /etc/hosts and /etc/nsswitch.conf are replaced for the
# command only, by bind mounts in a mount namespace of its own.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"dead resolver: srv kernel holds the connections of 4 peers"
	"dead resolver: hostflow without -n ends, exit status 0, within its 20 s limit"
	"dead resolver: names from /etc/hosts, addresses where DNS never answered"
)
hf_require_netns
command -v unshare >/dev/null || hf_setup_failed "unshare(1) missing"

hf_host srv 198.51.100.1/24 || hf_setup_failed "host srv"
for i in 1 2 3 4; do
	hf_host "c$i" "198.51.100.1$i/24" || hf_setup_failed "host c$i"
done
hf_blackhole srv 198.51.100.99 || hf_setup_failed "blackhole .99"

hf_sockgen srv lst listen --addr 198.51.100.1 --port 40200 || hf_setup_failed "listener"
for i in 1 2 3 4; do
	hf_sockgen "c$i" "con$i" connect --to 198.51.100.1 --port 40200 --count "$i" ||
		hf_setup_failed "c$i connections"
done
hf_wait_status lst accepted=10 open=10 || hf_setup_failed "srv did not accept 10 connections"

srv_flows="
passive 198.51.100.1:40200 <- 198.51.100.11:many 1 ESTABLISHED=1
passive 198.51.100.1:40200 <- 198.51.100.12:many 2 ESTABLISHED=2
passive 198.51.100.1:40200 <- 198.51.100.13:many 3 ESTABLISHED=3
passive 198.51.100.1:40200 <- 198.51.100.14:many 4 ESTABLISHED=4"
hf_check_kernel "${HF_PLAN[0]}" srv "$srv_flows"

printf 'nameserver 198.51.100.99\noptions timeout:5 attempts:2\n' >"$HF_TMP/resolv.conf"
printf '127.0.0.1 localhost\n198.51.100.14 peer-four.example\n' >"$HF_TMP/hosts"
printf 'hosts: files dns\n' >"$HF_TMP/nsswitch.conf"

if ! hf_have_hostflow; then
	hf_fail "${HF_PLAN[1]}" "$HOSTFLOW missing"
	hf_fail "${HF_PLAN[2]}" "$HOSTFLOW missing"
	hf_done
fi
start=$SECONDS
out=$(hf_in srv unshare -m sh -c '
	mount --make-rprivate / &&
	mount --bind "$1/resolv.conf" /etc/resolv.conf &&
	mount --bind "$1/hosts" /etc/hosts &&
	mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf &&
	exec timeout 20 "$2"' sh "$HF_TMP" "$(realpath "$HOSTFLOW")" 2>"$HF_TMP/stderr")
rc=$?
took=$((SECONDS - start))
if [ "$rc" = 0 ]; then
	ok "${HF_PLAN[1]}"
	hf_diag "took about ${took} s"
else
	not_ok "${HF_PLAN[1]}" "exit status $rc after ${took} s (124: killed by its 20 s limit)" \
		"$(cat "$HF_TMP/stderr")"
fi
# The rows, without the header, as "local peer connections", sorted.
got=$(awk 'NR > 1 { print $1, $3, $4 }' <<<"$out" | LC_ALL=C sort)
want=$(LC_ALL=C sort <<'EOF'
198.51.100.1:40200 198.51.100.11:many 1
198.51.100.1:40200 198.51.100.12:many 2
198.51.100.1:40200 198.51.100.13:many 3
198.51.100.1:40200 peer-four.example:many 4
EOF
)
check_eq "${HF_PLAN[2]}" "$want" "$got"
hf_done
