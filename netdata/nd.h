/*
 * nd.h - hostflow.plugin's private interface, shared by its files:
 *
 *   ids.c     dimension and chart ids, protocol words
 *   charts.c  chart and dimension state, the protocol output of one tick
 *   config.c  hostflow.conf and the command line
 *   log.c     log lines on stderr in netdata's form
 *   main.c    the process: the tick loop and its lifecycle
 *
 * Everything but main.c is linked into tests/unit/test_netdata_plugin.c.
 *
 * Ownership: struct nd owns its chart tables (they grow with the flows and
 * listeners reported and with the namespaces charted, shrink as they
 * expire or go), its three selections (sockets flows, listeners, conntrack
 * flows) and the resolver; the flows and listeners of a tick come from
 * libhostflow and are only read, except that nd_tick() and nd_ct_tick()
 * reorder the flow array, as the library allows. The names in struct
 * nd_nsview are copied.
 */
#ifndef HOSTFLOW_ND_H
#define HOSTFLOW_ND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hostflow.h"
#include "plugin.h"

#define ND_PROG "hostflow.plugin"
#define ND_TYPE "hostflow"
#define ND_CONF "hostflow.conf"
#define ND_ID_MAX 112	/* a flow id is at most 98 bytes */
#define ND_NAME_MAX 400 /* dimension names; keeps each line below 1024 bytes */
#define ND_LABEL_MAX 80 /* a listener "[addr]:port" */
#define ND_CONF_LINE_MAX 1024
#define ND_RESOLVE_TIMEOUT_MS 300
#define ND_PRIO_BASE 70000
#define ND_USEC 1000000ull

/* ---- ids.c ----------------------------------------------------------------------------- */

/* The dimension id of flow @f into @buf (ND_ID_MAX bytes); returns its length. */
size_t nd_flow_id(const struct hf_flow *f, char *buf, size_t len);

/* A conntrack flow's: its protocol first, "udp_a4_...", "p47_f4_..." */
size_t nd_ct_flow_id(const struct hf_flow *f, char *buf, size_t len);

/* The id of listener @l, "v4_0_0_0_0_80", into @buf; returns its length. */
size_t nd_listener_id(const struct hf_listener *l, char *buf, size_t len);

/*
 * Copy @s into @buf as a quotable protocol word: quotes and backslashes
 * (which netdata's splitter would take as syntax) and control bytes become
 * '_'; cut to @len - 1 bytes.
 */
void nd_word(const char *s, char *buf, size_t len);

/* ---- log.c ----------------------------------------------------------------------------- */

enum nd_level {
	ND_INFO,
	ND_ERROR
};

/*
 * nd_log - one line on @f as netdata's own programs write theirs to
 * error.log: "2026-01-02 03:04:05: hostflow.plugin ERROR : MAIN : message".
 */
void nd_log(FILE *f, enum nd_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- charts.c -------------------------------------------------------------------------- */

/* A dimension of a flows chart (a traffic chart: the pair "ID_in", "ID_out"). */
struct nd_dim {
	char id[ND_ID_MAX];
	char name[ND_NAME_MAX]; /* the readable flow, decided when the dimension is created */
	uint64_t seen;		/* tick (usec) it was last among the reported flows */
	uint32_t value;		/* connections this tick; 0 when not reported */
	/*
	 * traffic: the bytes received and sent as written (monotonic: a flow's
	 * counters that restart, when it comes back, are added to what was
	 * written before), and the flow's counters as last read; a counter
	 * chart (opened, closed, failed) uses in and raw_in alike
	 */
	uint64_t in, out, raw_in, raw_out;
	bool gone; /* expired: declared obsolete once more, then dropped */
};

/* The charts of flows of one namespace. */
enum nd_chart {
	ND_C_ACTIVE,	     /* sockets: connections per active flow */
	ND_C_PASSIVE,	     /* sockets: connections per passive flow */
	ND_C_CT_ACTIVE,	     /* conntrack: connections per flow, per direction */
	ND_C_CT_PASSIVE,     /* */
	ND_C_CT_FORWARDED,   /* */
	ND_C_TR_ACTIVE,	     /* conntrack: traffic per flow, per direction */
	ND_C_TR_PASSIVE,     /* */
	ND_C_TR_FORWARDED,   /* */
	ND_C_OPENED_ACTIVE,  /* bpf backend: connections/s per flow, per counter and direction */
	ND_C_OPENED_PASSIVE, /* */
	ND_C_CLOSED_ACTIVE,  /* */
	ND_C_CLOSED_PASSIVE, /* */
	ND_C_FAILED_ACTIVE,  /* */
	ND_C_FAILED_PASSIVE, /* */
	ND_CHARTS
};

#define ND_NS_PART_MAX 48 /* "_ns_" and at most 40 bytes */
#define ND_CHART_ID_MAX (ND_ID_MAX + 16 + ND_NS_PART_MAX)

/* A flows chart: one dimension per reported flow plus "other". */
struct nd_flows {
	char id[ND_CHART_ID_MAX];
	const char *title, *context;
	int priority;
	bool traffic; /* kilobits/s from counters, two dimensions per flow */
	int counter; /* -1, or 0 opened, 1 closed, 2 failed: connections/s from hf_select's totals */
	bool declared; /* CHART sent with the current labels */
	bool dirty;    /* a dimension came or went: send CHART and every DIMENSION again */
	uint64_t last_begin;
	uint64_t other;		      /* connections */
	uint64_t other_in, other_out; /* traffic: monotonic (hf_select) */
	bool other_traffic;	      /* traffic: "other" has known counters */
	struct nd_dim *dims;	      /* sorted by id */
	size_t n, cap;
};

/* A listener's charts: its queues, and its fill where the backlog is known. */
struct nd_lst {
	char id[ND_ID_MAX + ND_NS_PART_MAX]; /* nd_listener_id, then its namespace's part */
	char label[ND_LABEL_MAX];
	uint64_t ns_key; /* its namespace (struct nd_ns.key) */
	uint64_t seen;
	uint64_t last_begin, fill_begin;
	bool present; /* reported in this tick */
	bool declared, fill_declared;
	bool backlog_known;
	bool loopback; /* fill charted in hostflow.loopback_listener_fill, which no stock alarm watches */
	uint32_t accept_queue, backlog, syn_recv;
	double fill;	      /* hf_listener_fill: percent, -1 when the backlog is unknown */
	int64_t backlog_sent; /* the chart variable as last sent; -1: never */
};

/*
 * A namespace as a source's collection saw it (Namespaces): main.c fills
 * these from hf_netns_get() for the namespaces collected.
 */
struct nd_nsview {
	uint32_t id;			/* hf_flow.netns in that source's collector */
	uint64_t inode;			/* the namespace, across both sources */
	const char *name;		/* hf_netns.name */
	const struct hf_totals *totals; /* its share of the collection */
	int64_t ct_count, ct_max;	/* conntrack: its table, -1 when unknown */
};

/*
 * The charts of one namespace. Without Namespaces there is one, the
 * plugin's own, with key 0 and part "": the chart ids of old. With
 * Namespaces, the namespace of id 0 (the plugin's own) keeps them, every
 * other one has part "_ns_" + nd_ns_part(name) at the end of its ids.
 */
struct nd_ns {
	uint64_t key; /* 0: the plugin's own namespace; else its inode */
	char part[ND_NS_PART_MAX];
	char name[ND_LABEL_MAX]; /* the "netns" chart label; "" without Namespaces */
	uint32_t id[2];		 /* its id in the sockets [0] and conntrack [1] collectors */
	bool in[2];		 /* in that source's last update */
	uint64_t seen;		 /* tick it was last in an update */
	struct nd_flows flows[ND_CHARTS];
	struct hf_totals totals; /* sockets: its share */
	bool totals_known;
	int64_t ct_count, ct_max;
	bool states_declared, listen_declared, table_declared, used_declared;
	uint64_t states_begin, listen_begin, table_begin, used_begin;
};

struct nd {
	FILE *out;
	struct hf_options opt;
	unsigned int every; /* seconds */
	enum hf_backend backend;
	struct hf_resolver *resolver;
	struct hf_select *sel_flows, *sel_lst, *sel_ct;
	bool netns;	  /* Namespaces given: charts per namespace, with a "netns" label */
	struct nd_ns *ns; /* ns[0] is the plugin's own namespace, the rest as they came */
	size_t nns, capns;
	struct nd_lst *lst; /* sorted by id */
	size_t nlst, caplst;
	int vars[3]; /* somaxconn, tcp_max_syn_backlog, tcp_syncookies as last sent; -2: never */
};

/*
 * nd_init - charts for @opt, written to @out every @every seconds, with
 * names from @resolver (NULL: addresses; owned by @nd from now on).
 * Returns 0 or -ENOMEM; nd_free() undoes it either way.
 */
int nd_init(struct nd *nd, FILE *out, const struct hf_options *opt, unsigned int every,
	    struct hf_resolver *resolver);
void nd_free(struct nd *nd);

/*
 * nd_ns_part - the chart id part of namespace @name into @buf
 * (ND_NS_PART_MAX): "_ns_" and the name in lower-case letters, digits and
 * '_'; a name longer than 40 bytes is cut to 31 and followed by '_' and 8
 * hex digits of a hash of the whole name, so ids stay within netdata's.
 */
void nd_ns_part(const char *name, char *buf, size_t len);

/*
 * nd_ns_update - with Namespaces, the @n namespaces the collector of @source
 * read at @now (call before nd_tick / nd_ct_tick of the same @now).
 * Returns 0 or -ENOMEM.
 */
int nd_ns_update(struct nd *nd, enum hf_source source, const struct nd_nsview *v, size_t n,
		 uint64_t now);

/*
 * nd_tick - write one collection at @now (usec on a monotonic clock): the
 * flows charts (the flows hf_select reports, each with its own dimension;
 * a dimension no longer reported reads 0 and is declared obsolete, never
 * hidden, after ObsoleteAfter), host totals, and, with ReportListeners,
 * the charts of the listeners hf_select reports and the host variables
 * (@host NULL when they could not be read). With Namespaces, each
 * namespace's states come from nd_ns_update, @t is not used. Reorders @flows. Returns 0
 * or -ENOMEM; write errors are left in nd->out for the caller.
 */
int nd_tick(struct nd *nd, uint64_t now, enum hf_backend backend, struct hf_flow *flows, size_t n,
	    const struct hf_listener *l, size_t nl, const struct hf_totals *t,
	    const struct hf_host *host);

/*
 * nd_ct_tick - write one collection of the conntrack source at @now:
 * connections per flow and direction, traffic per flow (flows whose
 * traffic is known), and each namespace's table from @ci (without
 * Namespaces) or from nd_ns_update. Reorders @flows. Returns 0 or -ENOMEM.
 */
int nd_ct_tick(struct nd *nd, uint64_t now, struct hf_flow *flows, size_t n,
	       const struct hf_ct_info *ci);

/*
 * nd_end_tick - after the ticks of @now: the charts of a namespace that no
 * source reported any more are declared obsolete, and it is forgotten.
 */
void nd_end_tick(struct nd *nd, uint64_t now);

/* ---- config.c -------------------------------------------------------------------------- */

/* Options given on the command line; their keys replace those of hostflow.conf. */
struct nd_args {
	unsigned int every; /* 0: not given */
	size_t nkv;
	char **kv; /* "KEY=VALUE" words of argv */
	bool help, version;
};

/* nd_option_set - hf_options_set, a message in @err when it fails. */
int nd_option_set(struct hf_options *o, const char *key, const char *value, char *err,
		  size_t errlen);

/*
 * nd_config_read - apply hostflow.conf, read from @f and called @path in
 * messages, to @o: "key = value" lines, '#' comments, blank lines and an
 * optional "[plugin]" section header. Keys given in @a are skipped. Every
 * bad line is logged on @err with the file, line, key and value.
 * Returns the number of bad lines.
 */
unsigned int nd_config_read(struct hf_options *o, FILE *f, const char *path,
			    const struct nd_args *a, FILE *err);

/* The KEY=VALUE words of the command line; returns the number of bad ones. */
unsigned int nd_args_apply(struct hf_options *o, const struct nd_args *a, FILE *err);

/*
 * nd_args_parse - argv: [UPDATE_EVERY] [KEY=VALUE]..., or --help / --version.
 * Returns 0 or -EINVAL after a message on @err. @a points into @argv.
 */
int nd_args_parse(int argc, char **argv, struct nd_args *a, FILE *err);

/*
 * nd_config_path - the hostflow.conf to read into @buf: the user's
 * (NETDATA_USER_CONFIG_DIR, else NETDATA_CONFIG_DIR, else /etc/netdata) if
 * it exists, else the stock one (NETDATA_STOCK_CONFIG_DIR, else
 * /usr/lib/netdata/conf.d). Returns false when there is neither.
 */
bool nd_config_path(char *buf, size_t len);

#endif /* HOSTFLOW_ND_H */
