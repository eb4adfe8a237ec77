#!/usr/bin/env bash
# Installs the Debian packages hostflow needs to build, run and test.
#
# Usage: tools/deps.sh          install what is missing (needs root)
#        tools/deps.sh --check  list what is missing, install nothing;
#                               exit 1 when something is missing
#
# Only missing packages are installed (dpkg-query says which), with one
# "apt-get update" first, and only then. When everything is there it does
# nothing and takes a few milliseconds.
#
# collectd-core and netdata-core come with init scripts. The tests start
# private daemons of their own, so the system ones must not start: while
# installing, a /usr/sbin/policy-rc.d that denies every start is put in
# place when there is none (and removed afterwards); an existing one is
# left as it is.
set -euo pipefail
export LC_ALL=C

packages=(
	# build
	build-essential gcc make pkg-config libmnl-dev libyajl-dev
	# the collectd plugin: headers, and the daemon the tests run
	collectd-core collectd-dev
	# write_prometheus, which the collectd writer test loads, links these
	libmicrohttpd12 libprotobuf-c1
	# the netdata plugin: the daemon the tests run
	netdata-core
	# tests: network namespaces (ip), ps, the JSON/socket helper, the
	# netdata API client, jq for the namespace test's JSON
	iproute2 procps python3 curl util-linux coreutils jq
	# the conntrack source's tests: tracking turned on by an nftables rule
	# in a namespace, conntrack -L as the judge of the counts
	nftables conntrack
	# fuzzing and sanitizers: clang 14 finds libclang_rt.fuzzer and the
	# asan/ubsan runtimes in libclang-rt-14-dev, only recommended by
	# libclang-common-14-dev, so not pulled in without recommends
	clang libclang-rt-14-dev
	# the bpf backend: libbpf, bpftool (vmlinux.h from the kernel's BTF and
	# the skeleton); libbpf links libelf and zlib
	libbpf-dev bpftool libelf-dev zlib1g-dev
	# the tree stays formatted
	clang-format
	# benchmark plot
	gnuplot-nox
	# Debian packages (make deb) and their test (make test-packages):
	# dpkg-buildpackage and dh, lintian, a throwaway Debian 12 root
	debhelper dpkg-dev devscripts fakeroot lintian mmdebstrap
)

prog=${0##*/}
die() {
	echo "$prog: $*" >&2
	exit 1
}

check_only=0
case ${1:-} in
--check) check_only=1 ;;
"") ;;
-h | --help)
	sed -n '2,10s/^# \{0,1\}//p' "$0"
	exit 0
	;;
*) die "unknown argument '$1' (usage: $prog [--check])" ;;
esac

command -v dpkg-query >/dev/null || die "dpkg-query not found: hostflow's set-up expects Debian 12"

# missing: print the packages of the list that are not fully installed.
missing() {
	local installed
	# ${db:Status-Abbrev} is e.g. "ii "; its second letter is the state,
	# "i" for installed. Packages dpkg never saw are not printed at all.
	# Unknown packages also make dpkg-query exit 1: not an error here.
	installed=$({ dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null || true; } |
		awk 'substr($2, 2, 1) == "i" { print $1 }' | sort -u)
	comm -23 <(printf '%s\n' "${packages[@]}" | sort -u) <(printf '%s\n' "$installed")
}

todo=()
list=$(missing) || die "cannot tell which packages are installed"
[ -z "$list" ] || mapfile -t todo <<<"$list"

if [ ${#todo[@]} -eq 0 ]; then
	[ $check_only -eq 1 ] && echo "$prog: all ${#packages[@]} packages are installed"
	exit 0
fi

if [ $check_only -eq 1 ]; then
	echo "$prog: missing: ${todo[*]}"
	exit 1
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo=sudo
	else
		die "missing ${todo[*]}; run $0 as root to install them"
	fi
fi

policy=/usr/sbin/policy-rc.d
our_policy=0
cleanup() {
	if [ "$our_policy" -eq 1 ]; then
		$sudo rm -f "$policy"
	fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
	# 101: "action not allowed" for invoke-rc.d, which every init script
	# start of a package goes through.
	printf '#!/bin/sh\n# Written by hostflow tools/deps.sh while it installs packages.\nexit 101\n' |
		$sudo tee "$policy" >/dev/null || die "cannot write $policy"
	$sudo chmod 755 "$policy"
	our_policy=1
fi

echo "$prog: installing ${todo[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
$sudo env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -q update ||
	die "apt-get update failed"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -q -y --no-install-recommends \
	install "${todo[@]}" || die "apt-get install ${todo[*]} failed"

list=$(missing) || die "cannot tell which packages are installed"
[ -z "$list" ] || die "still missing after apt-get install: ${list//$'\n'/ }"
echo "$prog: installed ${todo[*]}"

# A system collectd or netdata would only compete with the tests' own.
for d in collectd netdata; do
	for pid in $(pgrep -x "$d" 2>/dev/null || true); do
		args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
		case $args in
		*hostflow-$d.*) ;;
		*) echo "$prog: warning: a $d not started by hostflow's tests runs (pid $pid: $args)" >&2 ;;
		esac
	done
done
exit 0
