/*
 * collectd/cd.h - what the files of the collectd read plugin share
 * (LoadPlugin hostflow): the plugin's state and the functions each file
 * gives the others. Only module_register (main.c) is exported from the
 * shared object (hostflow.map).
 *
 *   config.c     <Plugin hostflow> blocks -> struct hf_options
 *   main.c       init, registration, the read callback, failures
 *   dispatch.c   value lists: flows, host totals, TcpExt counters
 *   listeners.c  listener values
 *   conntrack.c  the conntrack source (Source conntrack): flows, traffic, table
 *   netns.c      Namespaces: the collectd host of each network namespace
 *
 * Ownership: the config callback builds one struct hf_cd from the
 * <Plugin hostflow> blocks (the init callback, from the defaults when there
 * is none); the init callback hands it to collectd as the read callback's
 * user_data, and collectd frees it with cd_free() when the callback is
 * unregistered. The collector (and its netlink socket) is opened by the
 * first read and kept.
 */
#ifndef HOSTFLOW_COLLECTD_CD_H
#define HOSTFLOW_COLLECTD_CD_H

#include "hostflow.h"
#include "plugin.h"

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include <stdbool.h>
#include <stdint.h>

#define PLUGIN_NAME "hostflow"
#define RESOLVE_TIMEOUT_MS 500

/* A failure logged once, and again only when its cause changes. */
struct cd_fail {
	bool failing;
	char err[256]; /* the failure last logged */
};

/*
 * A network namespace's collectd host (Namespaces): decided when it is
 * first seen and kept; kept one read after the namespace is gone, so that
 * its series can end with zeros under their host.
 */
struct cd_ns {
	uint32_t id;		      /* struct hf_netns.id */
	char host[DATA_MAX_NAME_LEN]; /* "" for the namespace collectd runs in: its Hostname */
	struct hf_totals totals;      /* its share of the last collection */
	int64_t ct_count, ct_max;     /* the conntrack source: its table, -1 unknown */
	bool gone;		      /* not in the last collection: zeros, then forgotten */
};

/* The namespaces of one collector (each numbers its own), sorted by id. */
struct cd_nsmap {
	struct cd_ns *v;
	size_t n, cap;
};

struct hf_cd {
	struct hf_options opts;
	struct hf_resolver *resolver; /* with ResolveNames */
	cdtime_t time;		      /* of the read in progress: one time stamp per read */
	/* the sockets source */
	struct hf_ctx *ctx;	     /* opened by the first read */
	struct hf_select *flows;     /* the reported flows, stable across reads */
	struct hf_select *listeners; /* the reported listeners */
	enum hf_backend used;	     /* backend of the last logged collection, AUTO before any */
	uint64_t bpf_corrections;    /* the bpf backend's, as last logged */
	struct cd_fail fail;
	bool host_failing;
	struct cd_nsmap ns; /* Namespaces */
	/* the conntrack source */
	struct hf_ctx *ct;	    /* opened by the first read, with destroy events */
	struct hf_select *ct_flows; /* "ct-PROTO-..." series */
	struct cd_fail ct_fail;
	bool ct_off;	       /* refused for good (Namespaces): said once */
	bool acct_told;	       /* the accounting hint was logged */
	cdtime_t ct_last;      /* time of the last conntrack read dispatched, 0 before the first */
	struct cd_nsmap ct_ns; /* Namespaces, as the conntrack collector numbers them */
};

/* main.c */
struct hf_cd *cd_new(void);
void cd_free(void *arg);
int cd_register(struct hf_cd *cd);
/* cd_failed - log @fmt as an ERROR unless it is @f's failure already. Returns -1. */
int cd_failed(struct cd_fail *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* cd_notices_log - what the core has to say once (a namespace not entered), as WARNINGs. */
void cd_notices_log(const struct hf_ctx *ctx);
/* cd_recovered - after a success: say once "@what" "collecting again" (@what "" or "conntrack: "). */
void cd_recovered(struct cd_fail *f, const char *what);

/* config.c: the callbacks module_register registers */
int cd_config(oconfig_item_t *ci);
int cd_init(void);

/*
 * dispatch.c: one value list per call. @host NULL or "": collectd's
 * Hostname; cd_submit and cd_submit_gauge use the read's time stamp.
 */
void cd_submit_at(const struct hf_cd *cd, const char *host, const char *pi, const char *type,
		  const char *ti, value_t *v, size_t n, cdtime_t t);
void cd_submit(const struct hf_cd *cd, const char *host, const char *pi, const char *type,
	       const char *ti, value_t v);
void cd_submit_gauge(const struct hf_cd *cd, const char *host, const char *pi, const char *type,
		     const char *ti, double g);
int cd_submit_flows(struct hf_cd *cd, uint64_t now);
void cd_submit_totals(const struct hf_cd *cd);
void cd_submit_host(struct hf_cd *cd);

/* listeners.c */
int cd_submit_listeners(struct hf_cd *cd, uint64_t now);

/* conntrack.c: one read of the conntrack source; 0 or -1 (logged) */
int cd_ct_read(struct hf_cd *cd, uint64_t now);

/*
 * netns.c: cd_ns_update after each collection of @ctx (with Namespaces);
 * cd_ns_host - the host of @ctx's namespace @id: "" for collectd's
 * Hostname, NULL when unknown (its series are not dispatched).
 */
int cd_ns_update(struct cd_nsmap *m, const struct hf_ctx *ctx);
const char *cd_ns_host(const struct cd_nsmap *m, const struct hf_ctx *ctx, uint32_t id);
void cd_ns_free(struct cd_nsmap *m);

#endif /* HOSTFLOW_COLLECTD_CD_H */
