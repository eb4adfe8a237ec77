# Daemon plumbing of tests/lib/collectd.sh and tests/lib/netdata.sh. -*- sh -*-
# shellcheck shell=bash
#
# Sourced by both (bash, set -u safe; never exits, never relies on set -e);
# tests source those two, not this file. It knows nothing of either daemon:
# each lib keeps its own state variables and passes them in. What it does:
#   - run a command in a network namespace, or here (hf_daemon_in_ns);
#   - start a daemon in a process group of its own, its pid written to a
#     file before exec (hf_daemon_spawn), and wait until it answers
#     (hf_daemon_wait_up);
#   - check whether a process group still has a live process
#     (hf_daemon_group_alive);
#   - stop a group: TERM, then KILL (hf_daemon_kill);
#   - wait with a deadline until a value reaches a number
#     (hf_daemon_wait_number);
#   - print log tails (hf_daemon_log_tail), and remove or keep (HF_KEEP_TMP)
#     the private directory (hf_daemon_remove_dir).
# Messages are prefixed with NAME.sh (collectd.sh, netdata.sh), as the libs'
# own messages are.

# The JSON/socket helper of both libs: Debian's python3 when there, else the
# first one on PATH.
if [ -z "${HF_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then HF_PYTHON=/usr/bin/python3; else HF_PYTHON=python3; fi
fi

# hf_daemon_in_ns NETNS CMD...: run CMD in network namespace NETNS, or in
# this one when NETNS is empty. Returns CMD's status.
hf_daemon_in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@"
	else
		"$@"
	fi
}

# hf_daemon_group_alive PGID: true while a live (not zombie) process is in
# the process group PGID.
hf_daemon_group_alive() {
	ps -e -o pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^[ZX]/ { f = 1 } END { exit !f }'
}

# hf_daemon_spawn NETNS PIDFILE OUTFILE CMD...: start CMD in the background,
# in NETNS (see hf_daemon_in_ns), under setsid, stdin from /dev/null, stdout
# and stderr appended to OUTFILE. Under setsid, CMD and whatever it spawns
# get a process group of their own, which hf_daemon_kill signals as a whole.
# CMD's pid is written to PIDFILE (removed first) after setsid (which forks
# when it has to) and before exec, so it is CMD's own pid and its group's id.
# Returns at once; $! is then the background job, for hf_daemon_kill to reap.
# Variables assigned on the call (DO_NOT_TRACK=1 hf_daemon_spawn ...) reach CMD.
hf_daemon_spawn() {
	local ns=$1 pidfile=$2 outfile=$3
	shift 3
	rm -f "$pidfile"
	# shellcheck disable=SC2016 # $$ and $1 belong to the inner sh
	hf_daemon_in_ns "$ns" setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh \
		"$pidfile" "$@" </dev/null >>"$outfile" 2>&1 &
}

# hf_daemon_wait_up PIDVAR PIDFILE TIMEOUT ALIVE READY...: after
# hf_daemon_spawn, poll every 0.1 s for up to TIMEOUT seconds. Sets the
# variable named PIDVAR from PIDFILE as soon as that is written; once it is
# set, the daemon is down when "ALIVE PID" fails, and up when the command
# READY... succeeds (its output is discarded). Returns 0 when up, 1 when the
# daemon exited, 2 on timeout; the caller says why and stops the daemon.
hf_daemon_wait_up() {
	local pidvar=$1 pidfile=$2 timeout=$3 alive=$4 deadline
	shift 4
	deadline=$((SECONDS + timeout))
	while :; do
		if [ -z "${!pidvar}" ] && [ -s "$pidfile" ]; then
			printf -v "$pidvar" '%s' "$(cat "$pidfile")"
		fi
		if [ -n "${!pidvar}" ]; then
			"$alive" "${!pidvar}" || return 1
			"$@" >/dev/null 2>&1 && return 0
		fi
		[ $SECONDS -lt $deadline ] || return 2
		sleep 0.1
	done
}

# hf_daemon_kill NAME PGID JOB SECONDS: TERM the process group PGID (the
# daemon and what it spawned), wait up to SECONDS for it to be gone, then
# KILL what is left and wait up to 5 s more; reap JOB (the daemon's
# background job, when this shell started it). Either of PGID and JOB may
# be empty. Says on stderr when it has to KILL. Returns 0.
hf_daemon_kill() {
	local name=$1 pgid=$2 job=$3 i
	if [ -n "$pgid" ]; then
		kill -TERM -- "-$pgid" 2>/dev/null
		for ((i = 0; i < $4 * 10; i++)); do
			hf_daemon_group_alive "$pgid" || break
			sleep 0.1
		done
		if hf_daemon_group_alive "$pgid"; then
			echo "$name.sh: $name group $pgid still alive after SIGTERM, killing it" >&2
			kill -KILL -- "-$pgid" 2>/dev/null
			for ((i = 0; i < 50; i++)); do
				hf_daemon_group_alive "$pgid" || break
				sleep 0.1
			done
		fi
	fi
	if [ -n "$job" ]; then
		wait "$job" 2>/dev/null
	fi
	return 0
}

# hf_daemon_log_tail N LOG OUT: print, to stdout, the last N lines of the
# daemon's LOG file (whatever there is of it) and, when it is not empty, of
# OUT, its own stdout and stderr; each under a "--- tail of FILE" line.
hf_daemon_log_tail() {
	echo "--- tail of $2"
	tail -n "$1" "$2" 2>/dev/null
	if [ -s "$3" ]; then
		echo "--- tail of $3"
		tail -n "$1" "$3"
	fi
}

# hf_daemon_remove_dir NAME DIR: remove the private directory DIR, or keep
# it and print its path to stderr when HF_KEEP_TMP is set. Nothing when DIR
# is empty. Returns 0.
hf_daemon_remove_dir() {
	[ -n "$2" ] || return 0
	if [ -n "${HF_KEEP_TMP:-}" ]; then
		echo "$1.sh: kept $2" >&2
	else
		rm -rf "$2"
	fi
	return 0
}

# hf_daemon_wait_number WHAT TIMEOUT EXPECTED CMD...: run CMD (its stderr
# discarded) every 0.2 s for up to TIMEOUT seconds until what it prints,
# read as a number, equals the number EXPECTED. Prints the last value seen
# ("none" when CMD never printed one). Returns 0, or 1 on timeout with
# "WHAT is VALUE, not EXPECTED, after TIMEOUTs" on stderr.
hf_daemon_wait_number() {
	local what=$1 timeout=$2 want=$3 deadline v=''
	shift 3
	deadline=$((SECONDS + timeout))
	while :; do
		v=$("$@" 2>/dev/null) || v=''
		if [ -n "$v" ] && awk -v a="$v" -v b="$want" 'BEGIN { exit !(a + 0 == b + 0) }'; then
			printf '%s\n' "$v"
			return 0
		fi
		[ $SECONDS -lt $deadline ] || break
		sleep 0.2
	done
	printf '%s\n' "${v:-none}"
	echo "$what is ${v:-not there}, not $want, after ${timeout}s" >&2
	return 1
}
