#!/usr/bin/env bash
# hostflow, scenario i: bad usage. An unknown option or a bad --filter/-f
# value ends with exit status 2, a message on stderr (the usage for an
# unknown option) and nothing on stdout. No namespace needed, so no root
# either: these checks never skip.
set -u
# shellcheck source=tests/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HF_PLAN=(
	"i: unknown option exits 2"
	"i: unknown option prints the usage on stderr, nothing on stdout"
	"i: --filter bogus exits 2"
	"i: --filter bogus complains on stderr, nothing on stdout"
	"i: -f bogus exits 2"
	"i: --filter with no value exits 2"
	"i: --backend bogus exits 2"
	"i: --backend bogus complains on stderr, nothing on stdout"
	"i: --reconcile -1 exits 2"
)

# usage_check DESC_STATUS DESC_OUTPUT WANT_USAGE ARGS...: run hostflow with
# ARGS; check the exit status is 2, then (if DESC_OUTPUT is not empty) that
# stdout is empty and stderr non-empty, and starts with "usage:" somewhere
# when WANT_USAGE is 1.
usage_check() {
	local dstatus=$1 doutput=$2 want_usage=$3
	shift 3
	if ! hf_have_hostflow; then
		hf_fail "$dstatus" "$HOSTFLOW missing"
		[ -z "$doutput" ] || hf_fail "$doutput" "$HOSTFLOW missing"
		return
	fi
	hf_run_hostflow - "$@"
	check_eq "$dstatus" 2 "$HF_RC"
	[ -n "$doutput" ] || return
	if [ -n "$HF_OUT" ]; then
		hf_fail "$doutput" "stdout not empty" "$HF_OUT"
	elif [ -z "$HF_ERR" ]; then
		hf_fail "$doutput" "stderr empty"
	elif [ "$want_usage" = 1 ] && ! grep -qi '^usage:' <<<"$HF_ERR"; then
		hf_fail "$doutput" "no usage line on stderr" "$HF_ERR"
	else
		ok "$doutput"
	fi
}

usage_check "i: unknown option exits 2" \
	"i: unknown option prints the usage on stderr, nothing on stdout" 1 -n --json --no-such-option
usage_check "i: --filter bogus exits 2" \
	"i: --filter bogus complains on stderr, nothing on stdout" 0 -n --json --filter bogus
usage_check "i: -f bogus exits 2" "" 0 -n -f bogus
usage_check "i: --filter with no value exits 2" "" 0 --filter
usage_check "i: --backend bogus exits 2" \
	"i: --backend bogus complains on stderr, nothing on stdout" 0 -n --backend bogus
usage_check "i: --reconcile -1 exits 2" "" 0 -n --reconcile -1

hf_done
