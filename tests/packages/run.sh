#!/usr/bin/env bash
# hostflow's Debian packages and make install, end to end (make test-packages).
#
#  1. make install / make uninstall into a DESTDIR: one PREFIX, an edited
#     config is never overwritten (the new one goes beside it as .dist).
#  2. make deb; lintian on the .debs: no error, no warning.
#  3. A throwaway Debian 12 root (mmdebstrap from the mirrors in
#     /etc/apt/sources.list*, with collectd-core and netdata-core). Its
#     tarball is cached in $HOSTFLOW_TEST_CACHE (/var/cache/hostflow-tests),
#     outside the tree, and built again when missing or when what goes
#     into it changes.
#  4. apt-get install ./build/deb/*.deb in that root; the packaged collectd
#     snippet loads nothing until LoadPlugin is uncommented; then
#     "collectd -T" loads and reads the plugin; hostflow.plugin runs from
#     its packaged path as the netdata user and writes CHART lines; the
#     packaged netdata, started as installed (in namespaces of its own),
#     runs it and lists its charts.
#  5. The conffiles are edited; packages rebuilt with a higher version (and
#     changed conffiles) are installed over them with --force-confold: the
#     edits stay, collectd and the netdata plugin still work.
#  6. apt-get purge: nothing of hostflow is left in the root.
#
# Needs root (chroot, mounts) and the mirror for a cold cache. Prints TAP
# lines and "N passed, N failed"; exits 1 when a check failed.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
top=$PWD

CACHE=${HOSTFLOW_TEST_CACHE:-/var/cache/hostflow-tests}
SUITE=bookworm
PACKAGES=(hostflow collectd-plugin-hostflow netdata-plugin-hostflow)
PLUGIN=/usr/lib/netdata/plugins.d/hostflow.plugin
CD_CONF=/etc/collectd/collectd.conf.d/hostflow.conf
ND_CONF=/etc/netdata/hostflow.conf

passed=0 failed=0
pass() {
	echo "ok - $1"
	passed=$((passed + 1))
}
fail() {
	echo "not ok - $1"
	failed=$((failed + 1))
	shift
	local l
	for l in "$@"; do
		printf '%s\n' "$l" | head -n 30 | sed 's/^/#   /'
	done
}
# check DESC CMD...: ok when CMD succeeds.
check() {
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
# check_eq DESC WANT GOT
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want: $2" "got:  $3"; fi
}
note() { echo "# $*"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

t_start=$SECONDS
# phase NAME: time of the phase that ended, as a comment.
t_phase=$SECONDS
phase() {
	note "$1: $((SECONDS - t_phase)) s"
	t_phase=$SECONDS
}

if [ "$(id -u)" -ne 0 ]; then
	echo "ok - packages # SKIP not root: chroot and mounts need root"
	finish
fi
missing=()
for c in dpkg-buildpackage dh lintian mmdebstrap unshare chroot; do
	command -v "$c" >/dev/null || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
	fail "the tools are installed (tools/deps.sh)" "missing: ${missing[*]}"
	finish
fi

tmp=$(mktemp -d /var/tmp/hostflow-packages.XXXXXX) || exit 1
ROOT=$tmp/root
cleanup() {
	# Every chroot command ran in its own mount namespace (inroot), so no
	# mount is left; --one-file-system guards against one anyway.
	[ -n "${tmp:-}" ] && rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# inroot CMD...: CMD in the throwaway root, with /proc mounted in a mount
# namespace of its own that goes away with it. Daemons never start there
# (policy-rc.d), nothing is fetched (no apt lists).
inroot() {
	unshare --mount --propagation private -- sh -c '
		r=$1; shift
		mount -t proc proc "$r/proc" || exit 1
		exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive LC_ALL=C HOME=/root "$@"
	' sh "$ROOT" "$@"
}

# tree_of ROOT: every path of the root with type, mode and owner, less what
# apt and dpkg keep as logs, state and caches, and the state of the netdata
# daemon the test ran (/var/lib/netdata).
tree_of() {
	(cd "$1" && find . -xdev \( -path ./proc -o -path ./build -o -path ./tmp -o -path ./var/log \
		-o -path ./var/cache -o -path ./var/lib/dpkg -o -path ./var/lib/apt \
		-o -path ./var/lib/netdata \) -prune -o \
		-printf '%p %y %m %u:%g\n' | sort)
}

# ---------------------------------------------------------------- 1. install
d=$tmp/destdir
make -s all >/dev/null 2>&1 || fail "make all"
out=$(make -s install DESTDIR="$d" 2>&1)
check "make install: exit 0" [ $? -eq 0 ]
want="./usr/local/bin/hostflow
./usr/local/etc/collectd/collectd.conf.d/hostflow.conf
./usr/local/etc/netdata/hostflow.conf
./usr/local/lib/collectd/hostflow.so
./usr/local/lib/netdata/conf.d/health.d/hostflow.conf
./usr/local/lib/netdata/conf.d/hostflow.conf
./usr/local/lib/netdata/plugins.d/hostflow.plugin
./usr/local/share/man/man1/hostflow.1
./usr/local/share/man/man5/collectd-hostflow.5
./usr/local/share/man/man8/hostflow.plugin.8"
check_eq "make install: every file under the one PREFIX /usr/local" "$want" \
	"$(cd "$d" && find . -type f | sort)"
check "make install: the collectd snippet is installed disabled" \
	grep -q '^#LoadPlugin hostflow$' "$d/usr/local/etc/collectd/collectd.conf.d/hostflow.conf"
echo "MaxFlows = 7" >>"$d/usr/local/etc/netdata/hostflow.conf"
out=$(make -s install DESTDIR="$d" 2>&1)
check "make install again: the edited hostflow.conf is kept" \
	grep -qx 'MaxFlows = 7' "$d/usr/local/etc/netdata/hostflow.conf"
check "make install again: the new one is beside it as hostflow.conf.dist" \
	cmp -s netdata/hostflow.conf "$d/usr/local/etc/netdata/hostflow.conf.dist"
check "make install again: says so" grep -q 'kept .*/etc/netdata/hostflow.conf (edited)' <<<"$out"
check "make install again: an unedited config is not doubled" \
	[ ! -e "$d/usr/local/etc/collectd/collectd.conf.d/hostflow.conf.dist" ]
out=$(make -s uninstall DESTDIR="$d" 2>&1)
check_eq "make uninstall: only the edited config is left" \
	"./usr/local/etc/netdata/hostflow.conf" "$(cd "$d" && find . -type f)"
rm -rf "$d"
make -s install DESTDIR="$d" PREFIX=/usr >/dev/null 2>&1
check_eq "make install PREFIX=/usr: Debian's paths, config in /etc" \
	"./etc/collectd/collectd.conf.d/hostflow.conf
./etc/netdata/hostflow.conf
./usr/bin/hostflow
./usr/lib/collectd/hostflow.so
./usr/lib/netdata/conf.d/health.d/hostflow.conf
./usr/lib/netdata/conf.d/hostflow.conf
./usr/lib/netdata/plugins.d/hostflow.plugin
./usr/share/man/man1/hostflow.1
./usr/share/man/man5/collectd-hostflow.5
./usr/share/man/man8/hostflow.plugin.8" "$(cd "$d" && find . -type f | sort)"
make -s uninstall DESTDIR="$d" PREFIX=/usr >/dev/null 2>&1
check_eq "make uninstall PREFIX=/usr: no file left" "" "$(cd "$d" && find . -type f)"
phase "make install and uninstall"

# -------------------------------------------------------- 2. make deb, lintian
version=$(dpkg-parsechangelog -S Version)
if out=$(make deb 2>&1); then
	pass "make deb: exit 0"
else
	fail "make deb: exit 0" "$(tail -n 30 <<<"$out")"
fi
debs=()
for p in "${PACKAGES[@]}"; do
	f=build/deb/${p}_${version}_$(dpkg --print-architecture).deb
	check "make deb: $f" [ -f "$f" ]
	debs+=("$f")
done
phase "make deb"
# lintian exits non-zero on an error; warnings are judged from its tags.
mapfile -t all_debs < <(find build/deb -name '*.deb' | sort)
lint=$(lintian --pedantic -I -E "${all_debs[@]}" 2>&1)
lint_rc=$?
lint=$(grep -v '^running with root privileges' <<<"$lint")
bad=$(grep -E '^[EW]: ' <<<"$lint")
if [ -z "$bad" ] && [ "$lint_rc" -eq 0 ]; then
	pass "lintian: no error, no warning"
else
	fail "lintian: no error, no warning" "exit status $lint_rc" "$bad"
fi
[ -z "$lint" ] || note "lintian (info, pedantic, experimental): $(tr '\n' ' ' <<<"$lint")"
phase "lintian"

# ---------------------------------------------------------- 3. the base root
missing=()
for f in "${debs[@]}"; do [ -f "$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -gt 0 ]; then
	fail "the packages to install are built" "missing: ${missing[*]}"
	finish
fi
# What the root holds besides apt: what the packages depend on (the daemons,
# the libraries; the first of alternatives), so that installing them needs
# no mirror. A new dependency changes the cache key below.
ROOT_PACKAGES=$(for f in "${debs[@]}"; do dpkg-deb -f "$f" Depends; done | tr ',' '\n' |
	sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$' | sort -u | paste -sd,)
note "base root packages: $ROOT_PACKAGES"
# The cache key: what goes into the root, and the mirrors it comes from.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -s "$f" ] && sources+=("$f")
done
key=$( (
	echo "$SUITE $ROOT_PACKAGES"
	cat "${sources[@]}" </dev/null
) | sha256sum | cut -c1-12)
base=$CACHE/$SUITE-$key.tar
# mmdebstrap picks its output format from the name: keep ".tar" last.
building=$CACHE/.building-$SUITE-$key.tar
mkdir -p "$CACHE"
# One builder at a time; a second run waits for the first one's tarball.
exec 9>"$CACHE/.lock"
flock 9
if [ -s "$base" ]; then
	note "base root: cached $base"
else
	note "base root: building $base (mmdebstrap $SUITE from ${sources[*]})"
	if out=$(mmdebstrap --variant=apt --include="$ROOT_PACKAGES" \
		--aptopt='APT::Install-Recommends "false"' \
		"$SUITE" "$building" "${sources[@]}" 2>&1) && [ -f "$building" ]; then
		rm -f "$CACHE/$SUITE"-*.tar
		mv "$building" "$base"
	else
		rm -rf "$building"
		fail "base root: mmdebstrap $SUITE" "$(tail -n 20 <<<"$out")"
		finish
	fi
fi
flock -u 9
mkdir -p "$ROOT"
if out=$(tar -C "$ROOT" -xf "$base" 2>&1) && [ -x "$ROOT/usr/bin/apt-get" ] && [ -d "$ROOT/proc" ]; then
	pass "base root: unpacked"
else
	fail "base root: unpacked" "$out"
	finish
fi
# No daemon starts in the root (netdata-core's and collectd-core's scripts).
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# The host name in /etc/hosts, as the Debian installer writes it: collectd
# looks up its fully qualified name (FQDNLookup true) and stops without it.
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$(uname -n)" >"$ROOT/etc/hosts"
before=$(tree_of "$ROOT")
phase "base root"

# --------------------------------------------------------------- 4. install
# put_debs DEB...: the packages as ./build/deb/*.deb of the root.
put_debs() {
	rm -rf "$ROOT/build"
	mkdir -p "$ROOT/build/deb"
	cp "$@" "$ROOT/build/deb/"
}
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
put_debs "${debs[@]}"
if out=$(inroot sh -c 'cd / && apt-get install "$@" ./build/deb/*.deb' sh "${apt_opts[@]}" 2>&1); then
	pass "apt-get install ./build/deb/*.deb"
else
	fail "apt-get install ./build/deb/*.deb" "$(tail -n 30 <<<"$out")"
fi
for p in "${PACKAGES[@]}"; do
	check_eq "installed: $p $version" "install ok installed $version" \
		"$(inroot dpkg-query -W -f='${Status} ${Version}' "$p" 2>&1)"
done
check_eq "installed: hostflow --version is the package's upstream version" \
	"hostflow ${version%-*}" "$(inroot hostflow --version 2>&1)"
check_eq "installed: conffiles are the two configs" "$CD_CONF
$ND_CONF" "$(inroot dpkg-query -W -f='${Conffiles}\n' "${PACKAGES[@]}" | awk 'NF { print $1 }' | sort)"
# netdata-core's own unprivileged plugins: root:netdata, 0755.
check_eq "installed: hostflow.plugin is root:netdata 0755, as netdata's own plugins" \
	"root:netdata 755" "$(inroot stat -c '%U:%G %a' "$PLUGIN" 2>&1)"
check_eq "installed: dpkg-statoverride records it" "root netdata 755 $PLUGIN" \
	"$(inroot dpkg-statoverride --list "$PLUGIN" 2>&1)"
check_eq "installed: hostflow.plugin carries no file capability" "" \
	"$(inroot getcap "$PLUGIN" 2>&1)"

# collectd_T CONF: collectd -T in the root (load every plugin, read once);
# its output in $out.
collectd_T() {
	out=$(inroot timeout 30 collectd -T -C "$1" 2>&1)
}
# A collectd.conf as Debian's collectd package writes it: plugins of its
# own, then the conf.d snippets, "*.conf" only.
printf 'LoadPlugin load\n<Include "/etc/collectd/collectd.conf.d">\n\tFilter "*.conf"\n</Include>\n' \
	>"$ROOT/tmp/collectd.conf"
collectd_T /tmp/collectd.conf
check "collectd -T with Debian's conf.d include and the packaged snippet: exit 0" [ $? -eq 0 ]
if grep -q 'plugin "load" successfully loaded' <<<"$out" &&
	! grep -q 'plugin "hostflow"' <<<"$out"; then
	pass "collectd -T with the packaged snippet: hostflow is not loaded (installed disabled)"
else
	fail "collectd -T with the packaged snippet: hostflow is not loaded (installed disabled)" "$out"
fi

# ------------------------------------------------------ edit the conffiles
sed -i 's/^#LoadPlugin hostflow$/LoadPlugin hostflow/' "$ROOT$CD_CONF"
printf '<Plugin hostflow>\n\tMaxFlows 7\n</Plugin>\n' >>"$ROOT$CD_CONF"
printf 'MaxFlows = 7\n' >>"$ROOT$ND_CONF"
cd_edited=$(cat "$ROOT$CD_CONF" 2>&1)
nd_edited=$(cat "$ROOT$ND_CONF" 2>&1)
check "edit: LoadPlugin hostflow uncommented, a <Plugin hostflow> block added" \
	grep -qx 'LoadPlugin hostflow' "$ROOT$CD_CONF"
check "edit: MaxFlows = 7 in $ND_CONF" grep -qx 'MaxFlows = 7' "$ROOT$ND_CONF"

# collectd_checks WHEN: collectd loads the plugin and its read succeeds.
collectd_checks() {
	local w=$1 c
	for c in "$CD_CONF" /tmp/collectd.conf; do
		collectd_T "$c"
		if [ $? -eq 0 ] && grep -q 'plugin "hostflow" successfully loaded' <<<"$out"; then
			pass "$w: collectd -T -C $c loads hostflow and reads it (exit 0)"
		else
			fail "$w: collectd -T -C $c loads hostflow and reads it (exit 0)" "$out"
		fi
	done
}
# plugin_checks WHEN: hostflow.plugin from its packaged path, as netdata
# runs it (the netdata user, netdata's config dirs), one collection.
plugin_checks() {
	local w=$1 err
	out=$(inroot setpriv --reuid=netdata --regid=netdata --init-groups \
		env NETDATA_USER_CONFIG_DIR=/etc/netdata NETDATA_STOCK_CONFIG_DIR=/usr/lib/netdata/conf.d \
		sh -c "timeout 20 $PLUGIN 1 2>/tmp/plugin.err | sed '/^END/q'" 2>&1)
	err=$(cat "$ROOT/tmp/plugin.err" 2>/dev/null)
	if grep -q '^CHART hostflow\.' <<<"$out" && grep -q '^END' <<<"$out"; then
		pass "$w: $PLUGIN as the netdata user writes CHART lines and one collection"
	else
		fail "$w: $PLUGIN as the netdata user writes CHART lines and one collection" "$out" "$err"
	fi
	if ! grep -q '^CHART' <<<"$out"; then
		fail "$w: hostflow.plugin reads the edited $ND_CONF without complaint" "it did not run"
	elif grep -qi 'error\|DISABLE' <<<"$out$err"; then
		fail "$w: hostflow.plugin reads the edited $ND_CONF without complaint" "$err"
	else
		pass "$w: hostflow.plugin reads the edited $ND_CONF without complaint"
	fi
}
# netdata_checks WHEN: the packaged netdata, as installed, in a network
# and PID namespace of its own (so its port is free, and it ends with the
# namespace): within 30 s it has started hostflow.plugin from the packaged
# path as the netdata user, and /api/v1/charts lists the plugin's charts.
netdata_checks() {
	local w=$1 charts
	rm -f "$ROOT/tmp/netdata.charts" "$ROOT/tmp/netdata.ps"
	out=$(unshare --mount --propagation private --net --pid --fork -- sh -c '
		r=$1
		# /proc of this PID namespace, for ps here and in the root
		mount -t proc proc /proc && mount -t proc proc "$r/proc" && ip link set lo up || exit 1
		chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DO_NOT_TRACK=1 \
			/usr/sbin/netdata -D >"$r/tmp/netdata.out" 2>&1 &
		i=0
		while [ $i -lt 30 ]; do
			c=$(curl -s --max-time 2 http://127.0.0.1:19999/api/v1/charts) &&
				case $c in *"\"hostflow."*) break ;; esac
			sleep 1
			i=$((i + 1))
		done
		printf "%s\n" "$c" | grep -o "\"hostflow\.[a-z0-9_]*\"" | tr -d "\"" | sort -u >"$r/tmp/netdata.charts"
		ps -eo user:20,args | grep "[h]ostflow\.plugin" >"$r/tmp/netdata.ps"
		echo "netdata answered with hostflow charts after ${i} s"
	' sh "$ROOT" 2>&1)
	note "$w: $out"
	charts=$(cat "$ROOT/tmp/netdata.charts" 2>/dev/null)
	if grep -qx 'hostflow.flows_active' <<<"$charts" && grep -qx 'hostflow.states' <<<"$charts"; then
		pass "$w: netdata as packaged charts hostflow.flows_active and hostflow.states"
	else
		fail "$w: netdata as packaged charts hostflow.flows_active and hostflow.states" \
			"$charts" "$out" "$(tail -n 5 "$ROOT/tmp/netdata.out" 2>/dev/null)"
	fi
	check_eq "$w: netdata started $PLUGIN as the netdata user" "netdata $PLUGIN 1" \
		"$(awk '{ print $1, $2, $3 }' "$ROOT/tmp/netdata.ps" 2>/dev/null)"
	if grep -i 'hostflow' "$ROOT/var/log/netdata/error.log" 2>/dev/null | grep -qi 'error\|disable'; then
		fail "$w: netdata's error.log has no error of hostflow.plugin" \
			"$(grep -i hostflow "$ROOT/var/log/netdata/error.log" | tail -n 5)"
	else
		pass "$w: netdata's error.log has no error of hostflow.plugin"
	fi
}
collectd_checks "install, LoadPlugin uncommented"
plugin_checks "install"
netdata_checks "install"
phase "install and checks"

# ---------------------------------------------------------------- 5. upgrade
# The same tree, the changelog one Debian revision higher and both configs
# changed, so that dpkg has a conffile conflict to settle.
src=$tmp/src
mkdir -p "$src"
if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$top" ]; then
	git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -
else
	tar --exclude=./build --exclude=./.git -cf - .
fi | tar -xf - -C "$src"
# First with a changelog whose upstream version is not HF_VERSION: the
# package build must stop and say so.
cp "$src/debian/changelog" "$tmp/changelog"
sed -i '1s/^hostflow ([^)]*)/hostflow (9.9.9-1)/' "$src/debian/changelog"
if out=$(make -C "$src" deb 2>&1); then
	fail "make deb stops when debian/changelog (9.9.9) is not HF_VERSION" "it built"
elif grep -q "debian/changelog says 9.9.9, common/hostflow.h HF_VERSION says '${version%-*}'" <<<"$out"; then
	pass "make deb stops when debian/changelog (9.9.9) is not HF_VERSION"
else
	fail "make deb stops when debian/changelog (9.9.9) is not HF_VERSION" "$(tail -n 20 <<<"$out")"
fi
cp "$tmp/changelog" "$src/debian/changelog"
rm -rf "$src/build"
up_version=$version+pkgtest1
{
	printf 'hostflow (%s) %s; urgency=medium\n\n  * Rebuilt by tests/packages/run.sh: the upgrade test.\n\n' "$up_version" "$SUITE"
	printf ' -- hostflow maintainers <dev@hostflow.invalid>  %s\n\n' "$(date -R)"
	cat "$src/debian/changelog"
} >"$src/debian/changelog.new" && mv "$src/debian/changelog.new" "$src/debian/changelog"
echo '# upgrade marker' >>"$src/collectd/hostflow.conf"
echo '# upgrade marker' >>"$src/netdata/hostflow.conf"
if out=$(make -C "$src" deb 2>&1); then
	pass "upgrade: packages rebuilt as $up_version"
else
	fail "upgrade: packages rebuilt as $up_version" "$(tail -n 30 <<<"$out")"
fi
phase "rebuild"
put_debs "$src"/build/deb/*.deb
if out=$(inroot sh -c 'cd / && apt-get install "$@" ./build/deb/*.deb' sh "${apt_opts[@]}" 2>&1); then
	pass "upgrade: apt-get install ./build/deb/*.deb --force-confold"
else
	fail "upgrade: apt-get install ./build/deb/*.deb --force-confold" "$(tail -n 30 <<<"$out")"
fi
for p in "${PACKAGES[@]}"; do
	check_eq "upgrade: $p $up_version" "install ok installed $up_version" \
		"$(inroot dpkg-query -W -f='${Status} ${Version}' "$p" 2>&1)"
done
check_eq "upgrade: the edited $CD_CONF is kept" "$cd_edited" "$(cat "$ROOT$CD_CONF" 2>&1)"
check_eq "upgrade: the edited $ND_CONF is kept" "$nd_edited" "$(cat "$ROOT$ND_CONF" 2>&1)"
for f in "$CD_CONF" "$ND_CONF"; do
	check "upgrade: the new $f is beside it as .dpkg-dist" grep -q '^# upgrade marker' "$ROOT$f.dpkg-dist"
done
check_eq "upgrade: hostflow.plugin is still root:netdata 0755" "root:netdata 755" \
	"$(inroot stat -c '%U:%G %a' "$PLUGIN" 2>&1)"
collectd_checks "upgrade"
plugin_checks "upgrade"
netdata_checks "upgrade"
phase "upgrade and checks"

# ------------------------------------------------------------------ 6. purge
rm -rf "$ROOT/build"
if out=$(inroot apt-get purge -y -q "${PACKAGES[@]}" 2>&1); then
	pass "apt-get purge ${PACKAGES[*]}"
else
	fail "apt-get purge ${PACKAGES[*]}" "$(tail -n 30 <<<"$out")"
fi
# dpkg-query -W exits 1 for packages it does not know: what it prints counts.
check_eq "purge: dpkg knows none of the packages" "" \
	"$(inroot sh -c 'dpkg-query -W -f="\${Package} \${db:Status-Abbrev}\n" "$@" 2>&1; exit 0' sh "${PACKAGES[@]}" |
		grep -v ' un \|no packages found matching')"
check_eq "purge: no file of the root is named *hostflow*" "" \
	"$(cd "$ROOT" && find . -xdev -path ./proc -prune -o -iname '*hostflow*' -print)"
check_eq "purge: no dpkg-statoverride left" "" "$(inroot dpkg-statoverride --list 2>&1 | grep hostflow)"
check_eq "purge: the root's files are those before the installation" "$before" "$(tree_of "$ROOT")"
phase "purge"

note "total: $((SECONDS - t_start)) s"
finish
