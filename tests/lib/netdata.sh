# Private netdata 1.37 daemons for hostflow's tests.                  -*- sh -*-
#
# Source this file from bash (set -u safe; it never calls exit and never
# relies on set -e). It starts a netdata of its own, never the system one:
# its netdata.conf, config, lib, cache and log directories and its plugins
# directory all live in one temporary directory, removed by netdata_stop.
#
#   . tests/lib/netdata.sh
#   netdata_start -n "$ns" -P build/hostflow.plugin -H tests/e2e/health.d || fail
#   netdata_wait_chart hostflow.flows 30
#   netdata_api 'api/v1/data?chart=hostflow.flows&after=-5'
#   netdata_stop
#
# One daemon per shell: the state lives in the ND_* variables below. (They
# are not named NETDATA_*: netdata itself exports NETDATA_* variables to its
# plugins, see below.)
#
# Layout of the private directory ($ND_DIR):
#   netdata.conf     the daemon's config (netdata -c)
#   etc/             user config dir ([directories] config). External
#                    plugins find it in NETDATA_USER_CONFIG_DIR and read
#                    their own config files from it (-f FILE puts one here).
#   etc/health.d/    health config dir ([directories] health config): every
#                    *.conf here is loaded (-H copies files here).
#   plugins/         the only plugins dir ([directories] plugins): netdata
#                    runs every executable named *.plugin found here (-P
#                    copies one here).
#   lib/ cache/      [directories] lib and cache (sqlite metadata, health log)
#   log/error.log    netdata's errors, and the stderr of every plugin
#   log/health.log, log/access.log, log/debug.log
#   netdata.out      netdata's own stdout and stderr
#   netdata.pid      pid of the daemon (written before exec)
#
# Facts about Debian's netdata-core 1.37.1 this file relies on, read off
# GET /netdata.conf of a running 1.37.1 (which lists every key it used):
#   - [directories] holds the paths: config, stock config
#     (/usr/lib/netdata/conf.d), log, cache, lib, plugins, web
#     (/usr/share/netdata/web), home, lock, health config (default
#     <config>/health.d), stock health config (<stock config>/health.d).
#     Older releases spelled these in [global] ("plugins directory",
#     "config directory", "memory mode", ...) and [health] ("health
#     configuration directory"): configs copied from old documentation use
#     keys 1.37 does not list. "plugins" is a list of quoted paths; its
#     stock value is "/usr/lib/netdata/plugins.d"
#     "/etc/netdata/custom-plugins.d".
#   - Health reads every *.conf of "health config" plus, unless [health]
#     "enable stock health configuration = no", of "stock health config"
#     (a user file of the same name replaces the stock one). We turn the
#     stock alarms off: only the caller's templates are loaded. [health]
#     "run at least every seconds" (default 10) is set to 1 so that an alarm
#     with "every: 1s" is evaluated every second.
#   - [web] "bind to = 127.0.0.1:PORT" is what it listens on; "default port"
#     is only what it passes to plugins as NETDATA_LISTEN_PORT: both are set.
#   - [db] "mode" (ram|dbengine|...), "update every" and "storage tiers"
#     (3 by default; 1 here). [plugins] NAME = no disables an internal
#     plugin (proc, diskspace, cgroups, tc, idlejitter, timex, statsd,
#     netdata monitoring) or an external one (NAME.plugin: "test = yes" for
#     test.plugin). "check for new plugins every" (default 60) is how often
#     the plugins dirs are scanned; the first scan is at startup.
#   - [plugin:NAME] holds "update every" (the plugin's first argument) and
#     "command options" (appended to its command line).
#   - Debian builds it with --disable-cloud (no ACLK at all), the registry is
#     off by default ([registry] enabled = no); we also export DO_NOT_TRACK=1
#     and create etc/.opt-out-from-anonymous-statistics.
#   - An external plugin is started as "PLUGINS_DIR/NAME.plugin UPDATE_EVERY
#     [COMMAND OPTIONS]", in netdata's process group, with its stdout read as the plugins.d protocol and its stderr
#     going to log/error.log as is (no prefix). Environment it gets, on top of
#     netdata's own: NETDATA_USER_CONFIG_DIR and NETDATA_CONFIG_DIR (both
#     [directories] config), NETDATA_STOCK_CONFIG_DIR, NETDATA_PLUGINS_DIR,
#     NETDATA_USER_PLUGINS_DIRS (empty here), NETDATA_WEB_DIR,
#     NETDATA_CACHE_DIR, NETDATA_LIB_DIR, NETDATA_LOCK_DIR, NETDATA_LOG_DIR,
#     NETDATA_UPDATE_EVERY, NETDATA_LISTEN_PORT, NETDATA_HOSTNAME,
#     NETDATA_HOST_PREFIX, NETDATA_VERSION (v1.37.1), NETDATA_DEBUG_FLAGS,
#     NETDATA_ERRORS_THROTTLE_PERIOD, NETDATA_ERRORS_PER_PERIOD,
#     NETDATA_INTERNALS_MONITORING, NETDATA_REGISTRY_*; MALLOC_ARENA_MAX=1,
#     TZ, PATH and PYTHONPATH from [environment variables].
#   - Error log flood protection (200 lines per 1200 s by default) would
#     silence a chatty plugin's stderr: "errors flood protection period = 0"
#     turns it off.
#   - Timings with this config on 2 cores: /api/v1/info answers 0.3-0.7 s
#     after exec; a plugin present at startup has its chart in
#     /api/v1/charts 0.1-0.2 s later; with dbengine its first values come
#     out of /api/v1/data 2-3.5 s after exec (ram: about 1 s); an alarm
#     with "every: 1s" on it is raised 2.3-5 s after exec. SIGTERM ends it
#     in 0.2-0.7 s (2-3 s with the stock internal plugins running).
#   - /api/v1/alarms lists only raised alarms (WARNING, CRITICAL);
#     /api/v1/alarms?all lists every alarm and template instance, keyed
#     "CHART.NAME", each with "name", "chart", "status" (UNINITIALIZED,
#     UNDEFINED, CLEAR, WARNING, CRITICAL, REMOVED), "value", "source"
#     ("LINE@FILE") and the expressions, with < > & HTML-escaped.

ND_BIN=${ND_BIN:-/usr/sbin/netdata}
ND_STOCK_CONFIG_DIR=${ND_STOCK_CONFIG_DIR:-/usr/lib/netdata/conf.d}
ND_WEB_DIR=${ND_WEB_DIR:-/usr/share/netdata/web}
# Hostname netdata reports (/api/v1/info, NETDATA_HOSTNAME).
ND_HOST=${ND_HOST:-testhost}
ND_DIR=''
ND_CONF=''
ND_CONFIG_DIR=''
ND_PLUGINS_DIR=''
ND_HEALTH_DIR=''
ND_LOG_DIR=''
ND_PORT=''
ND_NETNS=''
ND_PID=''
__nd_job=''

# Process groups, namespaces, log tails (hf_daemon_*); also sets HF_PYTHON.
# shellcheck source=tests/lib/daemon.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon.sh"

# __nd_in_ns CMD...: run CMD in $ND_NETNS, or here if none.
__nd_in_ns() {
	hf_daemon_in_ns "$ND_NETNS" "$@"
}

# netdata_error_log: print the path of netdata's error.log, where the
# stderr of every plugin goes too. Valid after netdata_prepare, until
# netdata_stop.
netdata_error_log() {
	printf '%s\n' "$ND_LOG_DIR/error.log"
}

# netdata_log_tail [N]: print the last N (default 40) lines of error.log
# and of netdata's stdout/stderr, to stdout.
netdata_log_tail() {
	[ -n "$ND_DIR" ] || return 0
	hf_daemon_log_tail "${1:-40}" "$ND_LOG_DIR/error.log" "$ND_DIR/netdata.out"
}

# __nd_free_port: print a free TCP port on 127.0.0.1 in $ND_NETNS.
__nd_free_port() {
	__nd_in_ns "$HF_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# netdata_prepare [-n NETNS] [-p PORT] [-u UPDATE_EVERY] [-m MODE]
#                 [-P PLUGIN]... [-H HEALTH]... [-f FILE]... [-c CONF]
# Create the private directories and netdata.conf without starting
# anything. The caller may then add files to ND_PLUGINS_DIR (executables
# named *.plugin), ND_HEALTH_DIR (*.conf) and ND_CONFIG_DIR.
#   -n NETNS   run netdata in this network namespace (its lo is brought up),
#              so that its plugins see that namespace's sockets.
#   -p PORT    web/API port on 127.0.0.1 (default: a free one).
#   -u N       [db] update every, seconds (default 1).
#   -m MODE    [db] mode: dbengine (default, files under cache/) or ram.
#              In ram mode 1.37 answers 0, not null, for some points
#              before a new chart's first collection: a test waiting for
#              a zero would pass too early.
#   -P FILE    copy FILE (e.g. build/hostflow.plugin) into the plugins dir,
#              keeping its name and making it executable.
#   -H PATH    copy PATH (a health .conf file, or every *.conf of a
#              directory) into the health config dir.
#   -f FILE    copy FILE into the user config dir (plugin config files).
#   -c CONF    text appended to netdata.conf (e.g. "[plugin:hostflow]"
#              lines). A later section of the same name adds to or
#              overrides keys of ours.
# Sets ND_DIR, ND_CONF, ND_CONFIG_DIR, ND_PLUGINS_DIR, ND_HEALTH_DIR,
# ND_LOG_DIR, ND_PORT, ND_NETNS. Returns 0, or 1 with a message on stderr.
netdata_prepare() {
	local opt f every=1 mode=dbengine extra='' OPTIND=1
	local plugins=() health=() files=()
	if [ -n "$ND_DIR" ]; then
		echo "netdata.sh: a private netdata is already set up in $ND_DIR" >&2
		return 1
	fi
	ND_NETNS='' ND_PORT=''
	while getopts n:p:u:m:P:H:f:c: opt; do
		case $opt in
		n) ND_NETNS=$OPTARG ;;
		p) ND_PORT=$OPTARG ;;
		u) every=$OPTARG ;;
		m) mode=$OPTARG ;;
		P) plugins+=("$OPTARG") ;;
		H) health+=("$OPTARG") ;;
		f) files+=("$OPTARG") ;;
		c) extra+=$OPTARG$'\n' ;;
		*) echo "netdata.sh: usage: netdata_prepare [-n NETNS] [-p PORT] [-u N] [-m MODE] [-P PLUGIN]... [-H HEALTH]... [-f FILE]... [-c CONF]" >&2
		   return 1 ;;
		esac
	done
	if [ ! -x "$ND_BIN" ]; then
		echo "netdata.sh: $ND_BIN not found: run tools/deps.sh" >&2
		return 1
	fi
	if [ -n "$ND_NETNS" ]; then
		ip netns exec "$ND_NETNS" ip link set lo up || return 1
	fi
	if [ -z "$ND_PORT" ]; then
		ND_PORT=$(__nd_free_port) || return 1
	fi

	ND_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hostflow-netdata.XXXXXX") || return 1
	ND_CONF=$ND_DIR/netdata.conf
	ND_CONFIG_DIR=$ND_DIR/etc
	ND_PLUGINS_DIR=$ND_DIR/plugins
	ND_HEALTH_DIR=$ND_CONFIG_DIR/health.d
	ND_LOG_DIR=$ND_DIR/log
	mkdir -p "$ND_CONFIG_DIR" "$ND_HEALTH_DIR" "$ND_PLUGINS_DIR" "$ND_LOG_DIR" \
		"$ND_DIR/lib" "$ND_DIR/cache" || return 1
	# .environment and statsd.d only keep "cannot open" lines out of
	# error.log.
	mkdir -p "$ND_CONFIG_DIR/statsd.d" || return 1
	touch "$ND_CONFIG_DIR/.opt-out-from-anonymous-statistics" "$ND_CONFIG_DIR/.environment" || return 1

	for f in "${plugins[@]}"; do
		cp -L "$f" "$ND_PLUGINS_DIR/" || return 1
		chmod +x "$ND_PLUGINS_DIR/${f##*/}" || return 1
	done
	for f in "${health[@]}"; do
		if [ -d "$f" ]; then
			cp -L "$f"/*.conf "$ND_HEALTH_DIR/" || return 1
		else
			cp -L "$f" "$ND_HEALTH_DIR/" || return 1
		fi
	done
	for f in "${files[@]}"; do
		cp -L "$f" "$ND_CONFIG_DIR/" || return 1
	done

	cat >"$ND_CONF" <<EOF
# Private netdata of a hostflow test; written by tests/lib/netdata.sh.
[global]
	run as user = root
	hostname = $ND_HOST
	process scheduling policy = keep
	OOM score = keep

[db]
	mode = $mode
	update every = $every
	retention = 3600
	storage tiers = 1
	dbengine disk space MB = 64
	dbengine multihost disk space MB = 64

[directories]
	config = $ND_CONFIG_DIR
	stock config = $ND_STOCK_CONFIG_DIR
	log = $ND_LOG_DIR
	cache = $ND_DIR/cache
	lib = $ND_DIR/lib
	home = $ND_DIR
	plugins = "$ND_PLUGINS_DIR"
	web = $ND_WEB_DIR
	health config = $ND_HEALTH_DIR
	stock health config = $ND_STOCK_CONFIG_DIR/health.d

[logs]
	errors flood protection period = 0

[health]
	enabled = yes
	enable stock health configuration = no
	run at least every seconds = 1
	script to execute on alarm = /bin/true

[web]
	bind to = 127.0.0.1:$ND_PORT
	default port = $ND_PORT

[registry]
	enabled = no

[ml]
	enabled = no

[plugins]
	enable running new plugins = yes
	check for new plugins every = 1
	proc = no
	diskspace = no
	cgroups = no
	tc = no
	idlejitter = no
	timex = no
	statsd = no
	netdata monitoring = no
	apps = no
	charts.d = no
	python.d = no
	go.d = no
	ebpf = no
	perf = no
	slabinfo = no
	nfacct = no
	freeipmi = no
	cups = no
	ioping = no
	fping = no

$extra
EOF
	return 0
}

# netdata_start [netdata_prepare options] [-t TIMEOUT]
# Start the private daemon in the background ("netdata -D" under setsid,
# in ND_NETNS when set, with DO_NOT_TRACK=1) and wait up to TIMEOUT seconds
# (default 60) until GET /api/v1/info answers. Without prepare options it
# starts what netdata_prepare set up; with them it calls netdata_prepare
# first. Sets ND_PID (also the process group of netdata and its plugins).
# Returns 0, or 1 with the log tail on stderr (the half-started daemon is
# then stopped, the directory kept for netdata_stop).
netdata_start() {
	local timeout=60 args=()
	while [ $# -gt 0 ]; do
		case $1 in
		-t) timeout=$2; shift 2 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	if [ ${#args[@]} -gt 0 ] || [ -z "$ND_DIR" ]; then
		netdata_prepare "${args[@]}" || return 1
	fi
	if [ -n "$ND_PID" ]; then
		echo "netdata.sh: already running as pid $ND_PID" >&2
		return 1
	fi
	DO_NOT_TRACK=1 hf_daemon_spawn "$ND_NETNS" "$ND_DIR/netdata.pid" "$ND_DIR/netdata.out" \
		"$ND_BIN" -D -c "$ND_CONF"
	__nd_job=$!
	# netdata and its plugins share a process group: it is down when the
	# whole group is.
	hf_daemon_wait_up ND_PID "$ND_DIR/netdata.pid" "$timeout" hf_daemon_group_alive \
		netdata_api api/v1/info
	case $? in
	0) return 0 ;;
	1) echo "netdata.sh: netdata exited during startup" >&2 ;;
	*) echo "netdata.sh: /api/v1/info did not answer within ${timeout}s" >&2 ;;
	esac
	netdata_log_tail >&2
	__nd_kill
	return 1
}

# __nd_kill: TERM netdata's process group, wait up to 20 s, then KILL what
# is left of it; reap netdata when it is this shell's child.
__nd_kill() {
	hf_daemon_kill netdata "$ND_PID" "$__nd_job" 20
	ND_PID='' __nd_job=''
}

# netdata_restart [-t TIMEOUT]: stop netdata and its plugins as
# netdata_stop does, keeping the private directory (config, database,
# metadata), and start it again on them. Returns as netdata_start.
netdata_restart() {
	__nd_kill
	netdata_start "$@"
}

# netdata_stop: stop netdata and its plugins (TERM to the process group,
# KILL after 20 s), wait for them, and remove the private directory. Safe
# to call twice, or when start failed; meant for an EXIT trap. Set
# HF_KEEP_TMP=1 to keep the directory (its path is printed to stderr).
netdata_stop() {
	__nd_kill
	hf_daemon_remove_dir netdata "$ND_DIR"
	ND_DIR='' ND_CONF='' ND_CONFIG_DIR='' ND_PLUGINS_DIR='' ND_HEALTH_DIR='' ND_LOG_DIR=''
	ND_PORT='' ND_NETNS=''
	return 0
}

# netdata_api PATH: GET http://127.0.0.1:PORT/PATH (PATH with or without
# the leading slash, e.g. 'api/v1/charts') from inside ND_NETNS and print
# the body. Returns curl's status: 0, or 22 on an HTTP error (404 for an
# unknown chart), 7 when nothing listens.
netdata_api() {
	__nd_in_ns curl -sS -f --max-time 10 "http://127.0.0.1:$ND_PORT/${1#/}"
}

# netdata_json PATH EXPR [ARG]...: GET PATH and print the Python
# expression EXPR evaluated with d bound to the parsed JSON body and a to
# the list of ARGs: strings as is, None as nothing, other values as JSON.
# Returns 1 when the request, the parse or EXPR fails (a missing key
# included).
#   netdata_json api/v1/info 'd["version"]'
#   netdata_json api/v1/charts 'a[0] in d["charts"]' hostflow.flows
netdata_json() {
	local body path=$1
	shift
	body=$(netdata_api "$path") || return 1
	"$HF_PYTHON" -c '
import json, sys
d = json.loads(sys.stdin.read())
try:
    v = eval(sys.argv[1], {"json": json, "d": d, "a": sys.argv[2:]})
except (KeyError, IndexError, TypeError, StopIteration) as e:
    sys.exit("netdata.sh: %s: %r" % (sys.argv[1], e))
if v is None:
    pass
elif isinstance(v, str):
    print(v)
else:
    print(json.dumps(v))
' "$@" <<<"$body"
}

# netdata_chart_ids: print the id of every chart in /api/v1/charts, one per
# line, sorted.
netdata_chart_ids() {
	netdata_json api/v1/charts '"\n".join(sorted(d["charts"]))'
}

# netdata_value CHART DIM: print the latest collected value of dimension
# DIM (id or name) of CHART, from /api/v1/data over the last 10 s (the
# newest non-null point). Returns 1 when there is none.
netdata_value() {
	netdata_json "api/v1/data?chart=$1&dimension=$2&after=-10&format=json" \
		'next(r[1] for r in d["data"] if r[1] is not None)'
}

# netdata_alarm_status ALARM: print the status (CLEAR, WARNING, ...) of
# ALARM from /api/v1/alarms?all. ALARM is a key of that list (CHART.NAME)
# or an alarm name, matching its first instance. Returns 1 when no alarm
# matches.
netdata_alarm_status() {
	netdata_json 'api/v1/alarms?all' \
		'next(v["status"] for k, v in d["alarms"].items() if a[0] in (k, v["name"]))' "$1"
}

# netdata_wait_until TIMEOUT CMD...: run CMD (quietly) every 0.2 s until it
# succeeds or TIMEOUT seconds pass. Returns 0, or 1 on timeout.
netdata_wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
	return 0
}

# __nd_has_chart CHART: true when /api/v1/charts lists CHART.
__nd_has_chart() {
	netdata_json api/v1/charts 'a[0] in d["charts"] or exit(1)' "$1"
}

# netdata_wait_chart CHART [TIMEOUT]: wait up to TIMEOUT seconds (default
# 30) until /api/v1/charts lists CHART. Returns 1 on timeout, with a
# message and the log tail on stderr.
netdata_wait_chart() {
	if netdata_wait_until "${2:-30}" __nd_has_chart "$1"; then
		return 0
	fi
	echo "netdata.sh: chart $1 not listed within ${2:-30}s" >&2
	netdata_log_tail >&2
	return 1
}

# netdata_wait_value CHART DIM EXPECTED [TIMEOUT]: wait up to TIMEOUT
# seconds (default 20) until netdata_value CHART DIM, read as a number,
# equals the number EXPECTED. Prints the last value seen. Returns 1 on
# timeout, with a message on stderr.
netdata_wait_value() {
	hf_daemon_wait_number "netdata.sh: $1 $2" "${4:-20}" "$3" netdata_value "$1" "$2"
}

# netdata_wait_alarm ALARM STATUS [TIMEOUT]: wait up to TIMEOUT seconds
# (default 30) until netdata_alarm_status ALARM prints STATUS. Prints the
# last status seen. Returns 1 on timeout.
netdata_wait_alarm() {
	local deadline=$((SECONDS + ${3:-30})) st=''
	while :; do
		st=$(netdata_alarm_status "$1" 2>/dev/null) || st=''
		if [ "$st" = "$2" ]; then
			printf '%s\n' "$st"
			return 0
		fi
		[ $SECONDS -lt $deadline ] || break
		sleep 0.2
	done
	printf '%s\n' "${st:-none}"
	echo "netdata.sh: alarm $1 is ${st:-not there}, not $2, after ${3:-30}s" >&2
	return 1
}
