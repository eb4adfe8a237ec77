/*
 * main.c - hostflow.plugin, netdata's external plugin for host flows: who
 * this host talks to, its TCP sockets per state, and the health of its
 * listeners, as netdata charts written on stdout in the plugins.d text
 * protocol.
 *
 *   hostflow.plugin [UPDATE_EVERY] [KEY=VALUE]...
 *
 * netdata starts it with its update frequency as the first argument and
 * [plugin:hostflow] "command options" after it; options also come from
 * hostflow.conf (see man/hostflow.plugin.8).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nd.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: " ND_PROG " [UPDATE_EVERY] [KEY=VALUE]...\n"
		   "       " ND_PROG " --help | --version\n"
		   "\n"
		   "A netdata external plugin: host flows, TCP states and listener health as\n"
		   "netdata charts, in the plugins.d protocol on stdout. netdata starts it with\n"
		   "UPDATE_EVERY (seconds) and [plugin:hostflow] \"command options\"; KEY=VALUE\n"
		   "options (MaxFlows=10, ObsoleteAfter=120, ...) override hostflow.conf,\n"
		   "read from $NETDATA_USER_CONFIG_DIR or $NETDATA_STOCK_CONFIG_DIR.\n"
		   "See hostflow.plugin(8).\n");
}

/* Tell netdata not to start this plugin again, and end. */
static void disable(void)
{
	fputs("DISABLE\n", stdout);
	fflush(stdout);
	exit(1);
}

static uint64_t clock_us(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * ND_USEC + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Sleep until the next multiple of @every_us on the wall clock, as netdata
 * aligns its own points, and return that moment on the monotonic clock.
 * The sleep itself is on the monotonic clock, so a wall clock step changes
 * one interval at most, and each deadline is computed afresh from the wall
 * clock, so nothing drifts.
 */
static uint64_t tick_wait(uint64_t every_us)
{
	uint64_t rt = clock_us(CLOCK_REALTIME), mono = clock_us(CLOCK_MONOTONIC);
	uint64_t deadline = mono + ((rt / every_us + 1) * every_us - rt);
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / ND_USEC),
		.tv_nsec = (long)(deadline % ND_USEC) * 1000,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return deadline;
}

/*
 * A tick that ends more than an interval after its deadline makes netdata
 * lose points: 1.37 interpolates over two lost points at most ([db] gap
 * when lost iterations above = 1, plus 2) and leaves a gap beyond. Say so
 * in error.log with where the time went, at most once a minute, so that a
 * gap in the charts has a cause to read.
 */
struct nd_slow {
	uint64_t logged;    /* when the last line was written; 0: never */
	unsigned int quiet; /* slow ticks since, not logged */
};

static void slow_tick(struct nd_slow *sl, uint64_t deadline, uint64_t woke, uint64_t collected,
		      uint64_t charted, uint64_t end, unsigned int every)
{
	uint64_t every_us = (uint64_t)every * ND_USEC, late = end - deadline;

	if (end < deadline || late <= every_us)
		return;
	if (sl->logged && end - sl->logged < 60 * ND_USEC) {
		sl->quiet++;
		return;
	}
	nd_log(stderr, ND_INFO,
	       "a tick ended %.2f s after its deadline (woke %.2f s late, collection %.2f s, "
	       "charts and name lookups %.2f s, output %.2f s; ticks of %u s): netdata leaves a "
	       "gap where more than 2 points are lost%s",
	       late / 1e6, (woke - deadline) / 1e6, (collected - woke) / 1e6,
	       (charted - collected) / 1e6, (end - charted) / 1e6, every,
	       sl->quiet ? " (more such ticks since the last line)" : "");
	sl->logged = end;
	sl->quiet = 0;
}

/*
 * The backend read when it changes after the first collection, and with the
 * bpf backend the flows its reconcile corrected (0 expected), when that
 * number grows.
 */
static void backend_log(const struct hf_ctx *ctx, enum hf_backend *used, uint64_t *corrections)
{
	struct hf_bpf_stats b;

	/* The first is in the charts' backend label; a change (a fallback) is logged too. */
	hf_bpf_stats(ctx, &b);
	if (hf_backend(ctx) != *used) {
		if (*used != HF_BACKEND_AUTO)
			nd_log(stderr, ND_INFO, "reading the sockets through %s",
			       hf_backend_name(hf_backend(ctx)));
		*used = hf_backend(ctx);
		/* Said only when it costs more: error.log stays quiet when all is well. */
		if (*used == HF_BACKEND_BPF && !b.timers)
			nd_log(stderr, ND_INFO,
			       "bpf backend: time-wait and request sockets dumped at each "
			       "collection (their timers not followed)");
	}
	if (*used != HF_BACKEND_BPF)
		return;
	if (b.corrections != *corrections)
		nd_log(stderr, ND_ERROR,
		       "bpf backend: the reconcile corrected %llu flows so far (%llu reconciles)",
		       (unsigned long long)b.corrections, (unsigned long long)b.reconciles);
	*corrections = b.corrections;
}

/* hf_notice's lines, each logged once (the library says each thing once). */
static void notices_log(const struct hf_ctx *ctx)
{
	const char *n = ctx ? hf_notice(ctx) : "";

	while (*n) {
		const char *e = strchr(n, '\n');
		int len = e ? (int)(e - n) : (int)strlen(n);
		if (len > 0)
			nd_log(stderr, ND_INFO, "%.*s", len, n);
		n += len + (e ? 1 : 0);
	}
}

/* The namespaces @ctx collected, as nd_ns_update takes them; -ENOMEM. */
static int ns_views(const struct hf_ctx *ctx, struct nd_nsview **v, size_t *cap, size_t *n)
{
	size_t count = hf_netns_count(ctx);

	*n = 0;
	if (count > *cap) {
		struct nd_nsview *p = realloc(*v, count * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = count;
	}
	for (uint32_t i = 0; i < count; i++) {
		const struct hf_netns *ns = hf_netns_get(ctx, i);
		if (!ns || !ns->collected)
			continue;
		(*v)[(*n)++] = (struct nd_nsview){
			.id = ns->id,
			.inode = ns->inode,
			.name = ns->name,
			.totals = &ns->totals,
			.ct_count = ns->ct_count,
			.ct_max = ns->ct_max,
		};
	}
	return 0;
}

/* Namespaces: each spec of @opt selected in @ctx; false after a message naming the cause. */
static bool ns_select(struct hf_ctx *ctx, const struct hf_options *opt, const char *what)
{
	for (unsigned int i = 0; i < opt->n_netns; i++) {
		int ret = hf_netns_select(ctx, opt->netns[i]);
		if (ret < 0) {
			nd_log(stderr, ND_ERROR, "%s: Namespaces \"%s\": %s", what, opt->netns[i],
			       ret == -EOPNOTSUPP ? hf_strerror(ctx) : strerror(-ret));
			return false;
		}
	}
	return true;
}

/*
 * The conntrack collector, over ctnetlink with destroy events: flows'
 * traffic are counters that hold the connections that ended between two
 * ticks. NULL after one line naming the cause.
 */
static struct hf_ctx *ct_open(const struct hf_options *opt)
{
	struct hf_ctx *ct = hf_open_with(&(struct hf_open_opts){ .source = HF_SOURCE_CONNTRACK,
								 .backend = HF_BACKEND_NETLINK,
								 .proc_root = "/proc",
								 .ct_flags = HF_CT_EVENTS });
	int e = errno;

	if (!ct) {
		nd_log(stderr, ND_ERROR,
		       "Source conntrack: cannot open the ctnetlink sockets (with destroy events): "
		       "%s%s; no conntrack charts",
		       strerror(e),
		       e == EPERM || e == EACCES ? " (needs CAP_NET_ADMIN)" :
		       e == EPROTONOSUPPORT	 ? " (no nfnetlink in this kernel: load "
						   "nf_conntrack_netlink)" :
						   "");
		return NULL;
	}
	if (!ns_select(ct, opt, "Source conntrack")) {
		hf_close(ct);
		return NULL;
	}
	return ct;
}

static unsigned int env_every(void)
{
	const char *s = getenv("NETDATA_UPDATE_EVERY");
	char *end;
	unsigned long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	return errno || *end || v < 1 || v > 86400 ? 0 : (unsigned int)v;
}

int main(int argc, char **argv)
{
	struct hf_options opt;
	struct nd_args args;
	struct hf_resolver *resolver = NULL;
	struct hf_ctx *ctx = NULL, *ct = NULL;
	struct nd_nsview *views = NULL;
	size_t capv = 0;
	bool ct_failing = false, acct_told = false;
	struct nd nd;
	char path[4096];
	unsigned int every, min_every, bad = 0;
	bool failing = false, host_failing = false;
	struct nd_slow slow = { 0, 0 };
	int status = 1;
	uint64_t now, bpf_corrections = 0;
	enum hf_backend used = HF_BACKEND_AUTO;
	FILE *f;

	/*
	 * With fd 1 closed, the netlink socket opened below would become
	 * stdout and take the charts: nobody reads us, so end as when netdata
	 * closes the pipe. A closed stdin or stderr gets /dev/null in its place.
	 */
	if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
		nd_log(stderr, ND_ERROR, "stdout is closed");
		return 0;
	}
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return 1;
	/* A closed stdout must show up as a write error, not kill us silently. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (nd_args_parse(argc, argv, &args, stderr) < 0) {
		usage(stderr);
		disable();
	}
	if (args.help) {
		usage(stdout);
		return 0;
	}
	if (args.version) {
		printf(ND_PROG " %s\n", HF_VERSION);
		return 0;
	}
	/* NETDATA_UPDATE_EVERY is netdata's own clock: nothing faster is of use to it. */
	min_every = env_every();
	every = args.every ? args.every : (min_every ? min_every : 1);
	if (every < min_every)
		every = min_every;

	hf_options_init(&opt, HF_AGENT_NETDATA);
	bad += nd_args_apply(&opt, &args, stderr);
	if (nd_config_path(path, sizeof(path))) {
		f = fopen(path, "re");
		if (!f) {
			nd_log(stderr, ND_ERROR, "%s: %s", path, strerror(errno));
			bad++;
		} else {
			bad += nd_config_read(&opt, f, path, &args, stderr);
			fclose(f);
		}
	}
	if (bad) {
		/* Not a guess at what was meant: a filter typo could chart what was to stay hidden. */
		nd_log(stderr, ND_ERROR, "%u configuration error(s), disabled", bad);
		disable();
	}
	if (opt.resolve_names) {
		resolver = hf_resolver_new(ND_RESOLVE_TIMEOUT_MS);
		if (!resolver) {
			nd_log(stderr, ND_ERROR, "%s", strerror(errno));
			disable();
		}
	}
	if (nd_init(&nd, stdout, &opt, every, resolver) < 0) {
		nd_log(stderr, ND_ERROR, "out of memory");
		disable();
	}
	if (opt.sources & HF_SOURCES_SOCKETS) {
		/* A plugin is long-lived: Backend auto tries the bpf backend first. */
		ctx = hf_open_with(&(struct hf_open_opts){
			.backend = opt.backend, .proc_root = "/proc", .follow = true });
		if (!ctx) {
			nd_log(stderr, ND_ERROR, "cannot open the %s collector: %s",
			       hf_backend_name(opt.backend), strerror(errno));
			disable();
		}
		if (hf_open_note(ctx)[0])
			nd_log(stderr, ND_INFO, "%s", hf_open_note(ctx));
		/* The bpf backend's counts are brought back to a snapshot every minute. */
		if (hf_backend(ctx) == HF_BACKEND_BPF)
			hf_set_reconcile(ctx, HF_PLUGIN_RECONCILE);
		if (!ns_select(ctx, &opt, "Source sockets"))
			disable();
	}
	if (opt.sources & HF_SOURCES_CONNTRACK) {
		ct = ct_open(&opt);
		/* Beside the sockets, these charts go on without conntrack's. */
		if (!ct && !ctx)
			disable();
		if (!ctx)
			nd.backend = HF_BACKEND_NETLINK; /* the backend label: ctnetlink's */
	}
	now = clock_us(CLOCK_MONOTONIC);
	for (bool first = true;; first = false) {
		struct hf_host host, *hp = NULL;
		struct hf_listener *l;
		struct hf_flow *flows;
		size_t n, nl, nv;
		uint64_t woke = clock_us(CLOCK_MONOTONIC), collected, charted;
		int ret = ctx ? hf_collect(ctx, &opt.filter) : 0;
		int ct_ret = ct ? hf_collect(ct, &opt.filter) : 0;

		collected = clock_us(CLOCK_MONOTONIC);
		charted = collected;
		if (ctx && ret < 0) {
			if (first) {
				/* Neither netlink nor /proc (or the backend asked for) can be read. */
				nd_log(stderr, ND_ERROR, "cannot read TCP sockets: %s",
				       hf_strerror(ctx));
				disable();
			}
			if (!failing)
				nd_log(stderr, ND_ERROR, "collection failed, charts wait: %s",
				       hf_strerror(ctx));
			failing = true;
		} else if (ctx) {
			if (failing)
				nd_log(stderr, ND_INFO, "collection works again (%s)",
				       hf_backend_name(hf_backend(ctx)));
			failing = false;
			notices_log(ctx);
			backend_log(ctx, &used, &bpf_corrections);
			if (opt.report_listeners) {
				ret = hf_host_read("/proc", &host);
				if (ret == 0)
					hp = &host;
				else if (!host_failing)
					nd_log(stderr, ND_ERROR, "/proc/net/netstat: %s",
					       strerror(-ret));
				host_failing = ret < 0;
			}
			if (nd.netns &&
			    (ns_views(ctx, &views, &capv, &nv) < 0 ||
			     nd_ns_update(&nd, HF_SOURCE_SOCKETS, views, nv, now) < 0)) {
				nd_log(stderr, ND_ERROR, "out of memory");
				break;
			}
			flows = hf_flows(ctx, &n);
			l = hf_listeners(ctx, &nl);
			if (nd_tick(&nd, now, hf_backend(ctx), flows, n, l, nl, hf_totals(ctx),
				    hp) < 0) {
				nd_log(stderr, ND_ERROR, "out of memory");
				break;
			}
		}
		if (ct && ct_ret < 0) {
			/* The module absent, the table unreadable: said once, until it works. */
			if (!ct_failing)
				nd_log(stderr, ND_ERROR,
				       "Source conntrack: %s; conntrack charts wait",
				       hf_strerror(ct));
			ct_failing = true;
		} else if (ct) {
			const struct hf_ct_info *ci = hf_ct_info(ct);

			if (ct_failing)
				nd_log(stderr, ND_INFO, "Source conntrack works again");
			ct_failing = false;
			notices_log(ct);
			if (ci->resynced)
				nd_log(stderr, ND_INFO,
				       "conntrack destroy events were lost (the socket overran): "
				       "traffic counters restart from the live entries");
			if (ci->traffic_unknown && !acct_told) {
				nd_log(stderr, ND_INFO, "Source conntrack: %s", hf_ct_acct_hint());
				acct_told = true;
			}
			if (nd.netns &&
			    (ns_views(ct, &views, &capv, &nv) < 0 ||
			     nd_ns_update(&nd, HF_SOURCE_CONNTRACK, views, nv, now) < 0)) {
				nd_log(stderr, ND_ERROR, "out of memory");
				break;
			}
			flows = hf_flows(ct, &n);
			if (nd_ct_tick(&nd, now, flows, n, ci) < 0) {
				nd_log(stderr, ND_ERROR, "out of memory");
				break;
			}
		}
		nd_end_tick(&nd, now);
		charted = clock_us(CLOCK_MONOTONIC);
		if (nd.resolver) {
			const char *news = hf_resolver_news(nd.resolver);
			if (news)
				nd_log(stderr, ND_INFO, "ResolveNames: %s", news);
		}
		if (fflush(stdout) != 0 || ferror(stdout)) {
			/* netdata closed the pipe: it stopped or restarts us. Nothing to report. */
			if (errno == EPIPE)
				status = 0;
			else
				nd_log(stderr, ND_ERROR, "stdout: %s", strerror(errno));
			break;
		}
		if (!first)
			slow_tick(&slow, now, woke, collected, charted, clock_us(CLOCK_MONOTONIC),
				  every);
		now = tick_wait((uint64_t)every * ND_USEC);
	}
	if (ctx)
		hf_close(ctx);
	if (ct)
		hf_close(ct);
	free(views);
	nd_free(&nd);
	return status;
}
