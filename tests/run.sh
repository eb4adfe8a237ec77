#!/usr/bin/env bash
# Runs every test of hostflow and prints one summary line.
#
# A test is an executable that prints TAP-style lines:
#   ok - description
#   not ok - description
#   ok - description # SKIP reason
# Its exit status is not counted; its lines are. A test that prints no line
# at all, or dies on a signal, counts as one failure, so a crashed test can
# never look like a pass.
#
# Usage: tests/run.sh TEST...
set -u
passed=0 failed=0 skipped=0
for t in "$@"; do
	name=${t#./}
	echo "# $name"
	out=$(mktemp)
	"$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(grep -cE '^ok( |$)' "$out" | head -1)
	s=$(grep -cE '^ok.*# SKIP' "$out" | head -1)
	f=$(grep -cE '^not ok( |$)' "$out" | head -1)
	p=$((p - s))
	if [ $((p + s + f)) -eq 0 ] || [ "$rc" -gt 128 ]; then
		echo "not ok - $name ended with status $rc"
		f=$((f + 1))
	fi
	if [ "$s" -gt 0 ]; then
		echo "### $name SKIPPED $s check(s):"
		grep -E '^ok.*# SKIP' "$out" | sed 's/^/###   /'
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	rm -f "$out"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
