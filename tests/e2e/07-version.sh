#!/usr/bin/env bash
# The version lives in one place, HF_VERSION in common/hostflow.h. Everything
# else that states it must agree: the upstream part of debian/changelog's
# version (what the Debian packages are called), the built command and
# netdata plugin (--version), and the man pages' title lines. Needs no root
# and no namespace: these checks never skip.
set -u
cd "$(dirname "$0")/../.." || exit 1

pass() { echo "ok - version: $1"; }
fail() {
	echo "not ok - version: $1"
	shift
	local l
	for l in "$@"; do echo "#   $l"; done
}
# check_eq DESC WANT GOT
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want: $2" "got:  $3"; fi
}

v=$(sed -n 's/^#define HF_VERSION "\(.*\)"$/\1/p' common/hostflow.h)
if [[ $v =~ ^[0-9]+(\.[0-9]+)*$ ]]; then
	pass "HF_VERSION in common/hostflow.h is a version ($v)"
else
	fail "HF_VERSION in common/hostflow.h is a version" "got: '$v'"
fi

# "hostflow (EPOCH:UPSTREAM-REVISION) suite; urgency=..." on the first line.
deb=$(sed -n '1s/^hostflow (\([^)]*\)).*/\1/p' debian/changelog)
up=${deb#*:}
up=${up%-*}
check_eq "debian/changelog's upstream version ($deb) is HF_VERSION" "$v" "$up"

for b in hostflow hostflow.plugin; do
	if [ -x "build/$b" ]; then
		check_eq "build/$b --version prints HF_VERSION" "$b $v" "$("build/$b" --version 2>&1 | head -1)"
	else
		fail "build/$b --version prints HF_VERSION" "build/$b not built (make all)"
	fi
done

for m in man/*.[0-9]; do
	th=$(sed -n '1s/^\.TH .*"hostflow \([^"]*\)".*/\1/p' "$m")
	check_eq "$m title line names hostflow $v" "$v" "$th"
done
