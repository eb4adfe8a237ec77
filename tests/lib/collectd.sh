# Private collectd 5.12 daemons for hostflow's tests.                -*- sh -*-
#
# Source this file from bash (set -u safe; it never calls exit and never
# relies on set -e). It starts a collectd of its own, never the system one:
# every file it uses lives in one temporary directory, removed by
# collectd_stop.
#
#   . tests/lib/collectd.sh
#   collectd_start -n "$ns" -i 1 -p tcpconns -p build/hostflow.so \
#           -c 'LoadPlugin hostflow
#   <Plugin hostflow>
#   	...
#   </Plugin>' || fail
#   collectd_wait_ident '^testhost/hostflow' 20
#   collectd_value testhost/tcpconns-all/tcp_connections-ESTABLISHED
#   collectd_stop
#
# One daemon per shell: the state lives in the COLLECTD_* variables below.
#
# Layout of the private directory ($COLLECTD_DIR), which is also the BaseDir:
#   collectd.conf          daemon config (logfile, csv, unixsock + caller's)
#   oneshot.conf           same plugins without unixsock, for collectd -T
#   plugins/               PluginDir: copies of the .so files
#   csv/HOST/PLUGIN-INST/TYPE-INST-YYYY-MM-DD
#                          csv plugin output, StoreRates false
#   oneshot-csv/           csv output of collectd_read_once
#   collectd.log           logfile plugin, LogLevel info
#   collectd.out           the daemon's own stdout and stderr
#   collectd.sock          unixsock plugin socket
#   collectd.pid           pid of the daemon (written before exec)
#
# Facts about collectd 5.12 (Debian's collectd-core) this file relies on:
#   - "collectd -f" writes no PIDFile (only a forking collectd does), so the
#     pid is written by the shell that execs collectd.
#   - Each LoadPlugin is looked up as PluginDir/NAME.so; the stock plugins
#     are in /usr/lib/collectd, the types in /usr/share/collectd/types.db.
#     A symlink there is refused ("plugin_load: ... is not a regular
#     file"), hence the copies, and a LoadPlugin that fails makes collectd
#     exit ("Error: Parsing the config file failed!"). collectd_prepare
#     runs "collectd -t" (parse the config, load the plugins) to catch that
#     early.
#   - Messages of LoadPlugin lines placed before "LoadPlugin logfile" go to
#     stderr only, so logfile is loaded first.
#   - unixsock chowns its socket to SocketGroup, "collectd" by default, a
#     group Debian does not create: we name the caller's own group.
#   - unixsock protocol: one command per line; the answer's first line is
#     "N Value(s) found" / "0 Success" or "-1 error text" on failure, then N
#     lines. LISTVAL lines are "EPOCH HOST/PLUGIN-INST/TYPE-INST"; GETVAL
#     lines are "DS=VALUE" (nan until a value arrived).
#   - "collectd -T" reads every read plugin once, dispatches to the write
#     plugins and exits 0, or non-zero when a read callback failed. It does
#     not drain the write queue ("N value lists were left after shutting
#     down the write threads"), so oneshot-csv/ may miss values: time it,
#     do not read its output. Its unixsock would replace the socket of a
#     running daemon, hence the separate oneshot.conf.
#   - SIGTERM stops it within a few milliseconds.
#   - tcpconns uses netlink (sock_diag) of the network namespace collectd
#     runs in, so a collectd started with "ip netns exec NS" counts the
#     sockets of NS only.

COLLECTD_BIN=${COLLECTD_BIN:-/usr/sbin/collectd}
COLLECTD_STOCK_PLUGINS=${COLLECTD_STOCK_PLUGINS:-/usr/lib/collectd}
COLLECTD_TYPES_DB=${COLLECTD_TYPES_DB:-/usr/share/collectd/types.db}
# Hostname collectd gives every identifier: HOST/PLUGIN-INST/TYPE-INST.
COLLECTD_HOST=${COLLECTD_HOST:-testhost}
__collectd_host=$COLLECTD_HOST
COLLECTD_DIR=''
COLLECTD_CONF=''
COLLECTD_SOCK=''
COLLECTD_LOG=''
COLLECTD_CSV_DIR=''
COLLECTD_PLUGIN_DIR=''
COLLECTD_NETNS=''
COLLECTD_PID=''
COLLECTD_INTERVAL=1
__collectd_job=''

# Process groups, namespaces, log tails (hf_daemon_*); also sets HF_PYTHON.
# shellcheck source=tests/lib/daemon.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon.sh"

# __collectd_in_ns CMD...: run CMD in $COLLECTD_NETNS, or here if none.
__collectd_in_ns() {
	hf_daemon_in_ns "$COLLECTD_NETNS" "$@"
}

# __collectd_alive PID: true while PID runs (a zombie counts as dead).
__collectd_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	# The state follows the parenthesised command name, which may hold spaces.
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# collectd_log: print the path of the daemon's log file (logfile plugin,
# LogLevel info). Valid after collectd_prepare, until collectd_stop.
collectd_log() {
	printf '%s\n' "$COLLECTD_LOG"
}

# collectd_log_tail [N]: print the last N (default 30) lines of the log
# file and of the daemon's stdout/stderr, to stdout.
collectd_log_tail() {
	[ -n "$COLLECTD_DIR" ] || return 0
	hf_daemon_log_tail "${1:-30}" "$COLLECTD_LOG" "$COLLECTD_DIR/collectd.out"
}

# __collectd_base_conf OUT CSVDIR: write the part of a config every mode
# shares (globals, logfile, csv).
__collectd_base_conf() {
	cat >"$1" <<EOF
# Private collectd of a hostflow test; written by tests/lib/collectd.sh.
Hostname "$COLLECTD_HOST"
FQDNLookup false
BaseDir "$COLLECTD_DIR"
PIDFile "$COLLECTD_DIR/collectd.pid"
PluginDir "$COLLECTD_PLUGIN_DIR"
TypesDB "$COLLECTD_TYPES_DB"
Interval $COLLECTD_INTERVAL
AutoLoadPlugin false
CollectInternalStats false
ReadThreads 2
WriteThreads 1

LoadPlugin logfile
<Plugin logfile>
	LogLevel info
	File "$COLLECTD_LOG"
	Timestamp true
	PrintSeverity true
</Plugin>

LoadPlugin csv
<Plugin csv>
	DataDir "$2"
	StoreRates false
</Plugin>
EOF
}

# collectd_prepare [-n NETNS] [-i INTERVAL] [-p PLUGIN]... [-c CONFIG]
#                  [-H HOSTNAME]
# Create the private directory and both configs without starting anything.
#   -n NETNS     run the daemon (and collectd_read_once) in this network
#                namespace; its lo is brought up.
#   -i INTERVAL  global Interval in seconds (default 1).
#   -p PLUGIN    a stock plugin name (tcpconns, load) copied from
#                /usr/lib/collectd, or a path to a .so (build/hostflow.so)
#                copied as is. Only copied: the caller's CONFIG loads it,
#                except stock names, which get a "LoadPlugin NAME" line
#                when CONFIG has none.
#   -c CONFIG    text appended to the config (LoadPlugin lines and
#                <Plugin> blocks).
#   -H HOSTNAME  Hostname of the identifiers (default $COLLECTD_HOST as
#                set when this file was sourced, testhost).
# Sets COLLECTD_DIR, COLLECTD_CONF, COLLECTD_SOCK, COLLECTD_LOG,
# COLLECTD_CSV_DIR, COLLECTD_PLUGIN_DIR, COLLECTD_NETNS, COLLECTD_HOST.
# Returns 0, or 1 with a message on stderr.
collectd_prepare() {
	local opt p extra='' plugins=() OPTIND=1
	if [ -n "$COLLECTD_DIR" ]; then
		echo "collectd.sh: a private collectd is already set up in $COLLECTD_DIR" >&2
		return 1
	fi
	COLLECTD_NETNS='' COLLECTD_INTERVAL=1 COLLECTD_HOST=$__collectd_host
	while getopts n:i:p:c:H: opt; do
		case $opt in
		n) COLLECTD_NETNS=$OPTARG ;;
		i) COLLECTD_INTERVAL=$OPTARG ;;
		p) plugins+=("$OPTARG") ;;
		c) extra+=$OPTARG$'\n' ;;
		H) COLLECTD_HOST=$OPTARG ;;
		*) echo "collectd.sh: usage: collectd_prepare [-n NETNS] [-i INTERVAL] [-p PLUGIN]... [-c CONFIG] [-H HOST]" >&2
		   return 1 ;;
		esac
	done
	if [ ! -x "$COLLECTD_BIN" ]; then
		echo "collectd.sh: $COLLECTD_BIN not found: run tools/deps.sh" >&2
		return 1
	fi
	COLLECTD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hostflow-collectd.XXXXXX") || return 1
	COLLECTD_CONF=$COLLECTD_DIR/collectd.conf
	COLLECTD_SOCK=$COLLECTD_DIR/collectd.sock
	COLLECTD_LOG=$COLLECTD_DIR/collectd.log
	COLLECTD_CSV_DIR=$COLLECTD_DIR/csv
	COLLECTD_PLUGIN_DIR=$COLLECTD_DIR/plugins
	mkdir -p "$COLLECTD_PLUGIN_DIR" "$COLLECTD_CSV_DIR" "$COLLECTD_DIR/oneshot-csv" || return 1

	for p in csv unixsock logfile; do
		cp "$COLLECTD_STOCK_PLUGINS/$p.so" "$COLLECTD_PLUGIN_DIR/" || return 1
	done
	for p in "${plugins[@]}"; do
		case $p in
		*/* | *.so)
			# -L: the copy must be a regular file even when p is a link.
			cp -L "$p" "$COLLECTD_PLUGIN_DIR/" || return 1
			;;
		*)
			cp "$COLLECTD_STOCK_PLUGINS/$p.so" "$COLLECTD_PLUGIN_DIR/" || return 1
			if ! grep -qE "^[[:space:]]*<?LoadPlugin[[:space:]]+\"?$p([\"[:space:]>]|\$)" <<<"$extra"; then
				extra="LoadPlugin $p"$'\n'$extra
			fi
			;;
		esac
	done

	__collectd_base_conf "$COLLECTD_CONF" "$COLLECTD_CSV_DIR" || return 1
	cat >>"$COLLECTD_CONF" <<EOF

LoadPlugin unixsock
<Plugin unixsock>
	SocketFile "$COLLECTD_SOCK"
	SocketGroup "$(id -gn)"
	SocketPerms "0600"
	DeleteSocket true
</Plugin>

$extra
EOF
	__collectd_base_conf "$COLLECTD_DIR/oneshot.conf" "$COLLECTD_DIR/oneshot-csv" || return 1
	printf '\n%s\n' "$extra" >>"$COLLECTD_DIR/oneshot.conf"

	if [ -n "$COLLECTD_NETNS" ]; then
		ip netns exec "$COLLECTD_NETNS" ip link set lo up || return 1
	fi
	if ! __collectd_in_ns "$COLLECTD_BIN" -t -C "$COLLECTD_CONF" >"$COLLECTD_DIR/collectd.out" 2>&1; then
		echo "collectd.sh: collectd -t rejects $COLLECTD_CONF:" >&2
		collectd_log_tail >&2
		return 1
	fi
	return 0
}

# collectd_start [collectd_prepare options] [-t TIMEOUT]
# Start the private daemon in the background ("collectd -f" under setsid,
# in COLLECTD_NETNS when set), and wait up to TIMEOUT seconds (default 30)
# until its unix socket answers LISTVAL. Without prepare options it starts
# what collectd_prepare set up; with them it calls collectd_prepare first.
# Sets COLLECTD_PID. Returns 0, or 1 with the log tail on stderr (the
# half-started daemon is then stopped, the directory kept for collectd_stop).
collectd_start() {
	local timeout=30 args=()
	while [ $# -gt 0 ]; do
		case $1 in
		-t) timeout=$2; shift 2 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	if [ ${#args[@]} -gt 0 ] || [ -z "$COLLECTD_DIR" ]; then
		collectd_prepare "${args[@]}" || return 1
	fi
	if [ -n "$COLLECTD_PID" ]; then
		echo "collectd.sh: already running as pid $COLLECTD_PID" >&2
		return 1
	fi
	hf_daemon_spawn "$COLLECTD_NETNS" "$COLLECTD_DIR/collectd.pid" "$COLLECTD_DIR/collectd.out" \
		"$COLLECTD_BIN" -C "$COLLECTD_CONF" -f
	__collectd_job=$!
	# The daemon is collectd alone: it is up or down by its own pid.
	hf_daemon_wait_up COLLECTD_PID "$COLLECTD_DIR/collectd.pid" "$timeout" __collectd_alive \
		__collectd_answers
	case $? in
	0) return 0 ;;
	1) echo "collectd.sh: collectd exited during startup" >&2 ;;
	*) echo "collectd.sh: collectd's socket did not answer within ${timeout}s" >&2 ;;
	esac
	collectd_log_tail >&2
	__collectd_kill
	return 1
}

# __collectd_kill: TERM the daemon's process group (collectd and what it
# spawned), wait up to 10 s, then KILL what is left; reap collectd when it
# is this shell's child.
__collectd_kill() {
	hf_daemon_kill collectd "$COLLECTD_PID" "$__collectd_job" 10
	COLLECTD_PID='' __collectd_job=''
}

# collectd_stop: stop the daemon (TERM, then KILL after 10 s), wait for it,
# and remove the private directory. Safe to call twice, or when start
# failed; meant for an EXIT trap. Set HF_KEEP_TMP=1 to keep the directory
# (its path is printed to stderr).
collectd_stop() {
	__collectd_kill
	hf_daemon_remove_dir collectd "$COLLECTD_DIR"
	COLLECTD_DIR='' COLLECTD_CONF='' COLLECTD_SOCK='' COLLECTD_LOG='' COLLECTD_CSV_DIR=''
	COLLECTD_PLUGIN_DIR='' COLLECTD_NETNS=''
	return 0
}

# collectd_cmd COMMAND: send one unixsock command line (LISTVAL, GETVAL
# "ID", FLUSH ...) and print the answer's lines after the status line.
# Returns 0, or 1 with collectd's error text on stderr. The socket is a
# file, so this works from any network namespace.
collectd_cmd() {
	"$HF_PYTHON" - "$COLLECTD_SOCK" "$1" <<'EOF'
import socket, sys
path, cmd = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(path)
    f = s.makefile("rwb")
    f.write(cmd.encode() + b"\n")
    f.flush()
    status = f.readline().decode().rstrip("\n")
    if not status:
        sys.exit("collectd: no answer to " + cmd)
    n, _, text = status.partition(" ")
    n = int(n)
    if n < 0:
        sys.exit("collectd: " + cmd + ": " + text)
    out = [f.readline().decode().rstrip("\n") for _ in range(n)]
except (OSError, ValueError) as e:
    sys.exit("collectd: " + cmd + ": " + str(e))
if out:
    print("\n".join(out))
EOF
}

# __collectd_answers: true when the daemon's unix socket answers LISTVAL.
__collectd_answers() {
	[ -S "$COLLECTD_SOCK" ] && collectd_cmd LISTVAL
}

# collectd_listval: print every identifier the daemon holds, one per line,
# sorted, without LISTVAL's timestamp ("testhost/load/load").
collectd_listval() {
	local out
	out=$(collectd_cmd LISTVAL) || return 1
	[ -n "$out" ] || return 0
	printf '%s\n' "$out" | cut -d' ' -f2- | sort
}

# collectd_getval IDENT: print the data sources of IDENT as DS=VALUE lines
# (GETVAL "IDENT"). Returns 1 when collectd does not know IDENT.
collectd_getval() {
	collectd_cmd "GETVAL \"$1\""
}

# collectd_value IDENT [DS]: print the value of data source DS (default
# the first one) of IDENT as collectd prints it ("6.000000e+00", "nan").
collectd_value() {
	local out line
	out=$(collectd_getval "$1") || return 1
	while IFS='' read -r line; do
		if [ -z "${2:-}" ] || [ "${line%%=*}" = "$2" ]; then
			printf '%s\n' "${line#*=}"
			return 0
		fi
	done <<<"$out"
	echo "collectd.sh: $1 has no data source ${2:-}" >&2
	return 1
}

# collectd_wait_ident ERE [TIMEOUT]: wait up to TIMEOUT seconds (default
# 20) until LISTVAL shows an identifier matching the extended regex ERE
# and that identifier's GETVAL is not nan; print the matching identifiers.
# Returns 1 on timeout.
collectd_wait_ident() {
	local deadline=$((SECONDS + ${2:-20})) ids id
	while :; do
		ids=$(collectd_listval 2>/dev/null | grep -E -- "$1")
		if [ -n "$ids" ]; then
			id=$(head -n 1 <<<"$ids")
			if collectd_getval "$id" 2>/dev/null | grep -qvi '=nan$'; then
				printf '%s\n' "$ids"
				return 0
			fi
		fi
		[ $SECONDS -lt $deadline ] || break
		sleep 0.2
	done
	echo "collectd.sh: no value matching '$1' within ${2:-20}s" >&2
	return 1
}

# collectd_wait_value IDENT EXPECTED [TIMEOUT] [DS]: wait up to TIMEOUT
# seconds (default 20) until IDENT's value (data source DS or the first),
# read as a number, equals the number EXPECTED. Prints the last value
# seen. Returns 1 on timeout, with a message on stderr.
collectd_wait_value() {
	hf_daemon_wait_number "collectd.sh: $1" "${3:-20}" "$2" collectd_value "$1" "${4:-}"
}

# collectd_read_once [TIMEOUT]: run "collectd -T" on oneshot.conf (same
# plugins and caller config, no unixsock, csv into oneshot-csv/), in
# COLLECTD_NETNS when set: every read plugin reads once, then collectd
# exits. Needs collectd_prepare (or start); a running daemon is not
# disturbed. Returns collectd's exit status (non-zero when a read failed;
# 124 after TIMEOUT seconds, default 60). The benchmark times this call.
collectd_read_once() {
	if [ -z "$COLLECTD_DIR" ]; then
		echo "collectd.sh: collectd_read_once needs collectd_prepare first" >&2
		return 1
	fi
	__collectd_in_ns timeout "${1:-60}" "$COLLECTD_BIN" -T -C "$COLLECTD_DIR/oneshot.conf" \
		</dev/null >>"$COLLECTD_DIR/collectd.out" 2>&1
}

# The TCP states of hostflow's per-flow series (tcp_connections-STATE).
COLLECTD_FLOW_STATES="ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK CLOSING"

# collectd_flow_lines ID TOTAL [STATE=N...]: print the lines
# collectd_snapshot shows for one hostflow flow (PLUGIN-INST "hostflow-ID")
# holding TOTAL connections, N of them in each STATE named (0 in the states
# of COLLECTD_FLOW_STATES not named): its tcp_connections-total, then one
# tcp_connections-STATE line per state, unsorted.
collectd_flow_lines() {
	local id=$1 total=$2 s kv n
	shift 2
	echo "hostflow-$id/tcp_connections-total $total"
	for s in $COLLECTD_FLOW_STATES; do
		n=0
		for kv in "$@"; do [ "${kv%%=*}" = "$s" ] && n=${kv#*=}; done
		echo "hostflow-$id/tcp_connections-$s $n"
	done
}

# collectd_snapshot [PLUGIN]: the values of the last complete read of PLUGIN
# (default hostflow), from the csv files, one "PLUGIN-INST/TYPE-INST VALUE"
# line each, sorted. The values of one read share a time stamp and the csv
# writer thread writes them in order, so the read before the newest time
# stamp seen is complete. Prints nothing until two reads were written.
collectd_snapshot() {
	local plugin=${1:-hostflow}
	local dir="$COLLECTD_CSV_DIR/$COLLECTD_HOST"
	[ -d "$dir" ] || return 0
	find "$dir" -mindepth 2 -type f -path "$dir/$plugin-*" -print0 |
		xargs -0 -r awk -F, -v dir="$dir/" '
		function flush(  id) {
			if (file == "" || n == 0)
				return
			id = substr(file, length(dir) + 1)
			sub(/-[0-9]+-[0-9]+-[0-9]+$/, "", id)
			ids[id] = 1
			val[id, t1] = v1; seen[t1] = 1
			if (n > 1) { val[id, t0] = v0; seen[t0] = 1 }
		}
		FNR == 1 { flush(); file = FILENAME; n = 0; next }
		{ t0 = t1; v0 = v1; t1 = $1; v1 = $2 + 0; n++ }
		END {
			flush()
			# time stamps stay strings: as numbers they would be keyed through CONVFMT
			max = prev = ""
			for (t in seen)
				if (max == "" || t + 0 > max + 0) { prev = max; max = t }
				else if (prev == "" || t + 0 > prev + 0) prev = t
			if (prev == "")
				exit
			for (id in ids)
				if ((id, prev) in val)
					printf "%s %s\n", id, val[id, prev]
		}' | LC_ALL=C sort
}
