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

struct hf_cd {
	struct hf_options opts;
	struct hf_ctx *ctx;	      /* opened by the first read */
	struct hf_resolver *resolver; /* with ResolveNames */
	struct hf_select *flows;      /* the reported flows, stable across reads */
	struct hf_select *listeners;  /* the reported listeners */
	enum hf_backend used;	      /* backend of the last logged collection, AUTO before any */
	bool failing;
	char err[256]; /* the failure last logged */
	bool host_failing;
	cdtime_t time; /* of the read in progress: one time stamp per read */
};

/* main.c */
struct hf_cd *cd_new(void);
void cd_free(void *arg);
int cd_register(struct hf_cd *cd);

/* config.c: the callbacks module_register registers */
int cd_config(oconfig_item_t *ci);
int cd_init(void);

/* dispatch.c: one value list per call, with the read's time stamp */
void cd_submit(const struct hf_cd *cd, const char *pi, const char *type, const char *ti,
	       value_t v);
void cd_submit_gauge(const struct hf_cd *cd, const char *pi, const char *type, const char *ti,
		     double g);
int cd_submit_flows(struct hf_cd *cd, uint64_t now);
void cd_submit_totals(const struct hf_cd *cd);
void cd_submit_host(struct hf_cd *cd);

/* listeners.c */
int cd_submit_listeners(struct hf_cd *cd, uint64_t now);

#endif /* HOSTFLOW_COLLECTD_CD_H */
