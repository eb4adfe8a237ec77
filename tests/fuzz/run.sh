#!/usr/bin/env bash
# Builds hostflow's libFuzzer targets with clang and runs each for a bounded time.
#
# Usage: tests/fuzz/run.sh [TARGET...]     (default: diag proc options netstat conntrack)
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 45)
#   CLANG          the compiler (default clang; Debian 12's is clang 14, whose
#                  fuzzer and sanitizer runtimes are in libclang-rt-14-dev)
#
# Every library source (common/*.c, plugin/*.c but the command's
# plugin/hostflow.c) is compiled with -fsanitize=fuzzer-no-link,address,
# undefined into build/fuzz/obj/, each tests/fuzz/fuzz_NAME.c is linked with
# it into build/fuzz/fuzz_NAME. Each target starts from the seeds in
# tests/fuzz/corpus/NAME/ plus what earlier runs found (build/fuzz/corpus/NAME/,
# which is where new inputs go: the seeds under tests/ are never written).
# Output of each run is in build/fuzz/NAME.log.
#
# A crash, leak, timeout or sanitizer report leaves its input in
# build/fuzz/crashes/NAME/; the script names it with the command that
# replays it. To keep it as a regression test, copy it to
# tests/fuzz/regress/NAME/ (tests/unit/test_regress.c replays that directory
# in `make test`).
#
# Exit status: 0 when every target ran its time without a finding, 1 when
# one found something, 2 when the targets could not be built.
set -u
cd "$(dirname "$0")/../.." || exit 2

FUZZ_SECONDS=${FUZZ_SECONDS:-45}
CLANG=${CLANG:-clang}
B=build/fuzz
ALL=(diag proc options netstat conntrack)
[ $# -gt 0 ] || set -- "${ALL[@]}"

# Largest input per target: a few netlink messages; a few /proc lines (an
# IPv6 line is 150 bytes); a short config; a whole /proc/net/netstat (4 KiB
# on Linux 6.x, which grows a counter now and then).
declare -A MAX_LEN=([diag]=2048 [proc]=1024 [options]=512 [netstat]=8192 [conntrack]=2048)

die() {
	echo "fuzz: $*" >&2
	exit 2
}

command -v "$CLANG" >/dev/null || die "no $CLANG (Debian: apt-get install clang libclang-rt-14-dev)"
for t in "$@"; do
	[ -n "${MAX_LEN[$t]:-}" ] || die "unknown target '$t' (known: ${ALL[*]})"
done

DEP_CFLAGS=$(pkg-config --cflags libmnl yajl 2>/dev/null)
DEP_LIBS=$(pkg-config --libs libmnl yajl 2>/dev/null || echo -lmnl -lyajl)
# No alignment check: fuzz_diag also replays each input against a guard page
# (see targets.h), where it starts wherever its size puts it. Alignment stays
# checked by make test, which replays the corpora from aligned buffers.
SAN="-fsanitize=address,undefined -fno-sanitize=alignment -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Icommon -Iplugin $DEP_CFLAGS"

mkdir -p "$B/obj" || exit 2
probe=$B/probe.c
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined -o "$B/probe" "$probe" 2>"$B/probe.err"; then
	cat "$B/probe.err" >&2
	die "$CLANG cannot link a fuzzer (Debian: apt-get install libclang-rt-14-dev)"
fi

# The library, once for every target; rebuilt when a source or header is
# newer, or when the compiler or its flags changed.
stamp="$CLANG $CFLAGS $SAN"
if [ "$(cat "$B/obj/flags" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$B/obj" && mkdir -p "$B/obj" && printf '%s\n' "$stamp" >"$B/obj/flags" || exit 2
fi
objs=()
for src in common/*.c plugin/*.c; do
	[ "$src" = plugin/hostflow.c ] && continue
	obj=$B/obj/${src%.c}.o
	objs+=("$obj")
	if [ ! -e "$obj" ] || [ -n "$(find "$src" common/*.h plugin/*.h -newer "$obj" 2>/dev/null)" ]; then
		mkdir -p "$(dirname "$obj")"
		# shellcheck disable=SC2086
		"$CLANG" $CFLAGS $SAN -fsanitize=fuzzer-no-link -c -o "$obj" "$src" || die "cannot compile $src"
	fi
done

for t in "$@"; do
	# shellcheck disable=SC2086
	"$CLANG" $CFLAGS $SAN -fsanitize=fuzzer -o "$B/fuzz_$t" "tests/fuzz/fuzz_$t.c" "${objs[@]}" \
		$DEP_LIBS -pthread || die "cannot link fuzz_$t"
done

failed=0
summary=()
for t in "$@"; do
	work=$B/corpus/$t crashes=$B/crashes/$t log=$B/$t.log
	mkdir -p "$work" "$crashes"
	dict=()
	[ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
	echo "fuzz: $t for ${FUZZ_SECONDS}s (max_len ${MAX_LEN[$t]}), log in $log"
	before=$(find "$crashes" -type f | wc -l)
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$B/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -max_len="${MAX_LEN[$t]}" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$crashes/" "${dict[@]}" \
		"$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
	eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
	cov=$(grep -oE '^#[0-9]+.*cov: [0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+' | awk '{print $2}')
	ncorp=$(find "$work" -type f | wc -l)
	after=$(find "$crashes" -type f | wc -l)
	line="$t: ${runs} runs, ${eps} exec/s, cov ${cov:-?}, corpus ${ncorp}"
	if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
		failed=1
		line="$line, FOUND SOMETHING (exit $rc)"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 | sed 's/^/fuzz:   /'
		for f in $(find "$crashes" -type f -newer "$probe"); do
			echo "fuzz:   input $f; replay: $B/fuzz_$t $f"
		done
	fi
	summary+=("$line")
done
printf 'fuzz: %s\n' "${summary[@]}"
exit "$failed"
