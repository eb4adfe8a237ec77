/*
 * hostflow - print host flows: who this host talks to, how many
 * connections, in which direction. A superset of lstf's interface.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "hostflow.h"
#include "plugin.h"

#define RESOLVE_TIMEOUT_MS 500
#define WATCH_DEFAULT 3

struct cmd {
	bool numeric, processes, json, states, summary, listen;
	unsigned int watch; /* seconds; 0: once */
	enum hf_backend backend;
	unsigned int reconcile; /* --reconcile SECONDS (bpf backend) */
	enum hf_source source;
	bool acct_told;	 /* the accounting message was printed */
	bool cumulative; /* conntrack: traffic since start, closed connections included */
	struct hf_filter filter;
	struct hf_resolver *resolver;
	/* -p: inode -> process, for the inodes of the reported flows */
	struct proc_ent *procs;
	size_t nprocs;
	/* --netns: what to read; a NETNS column when it may be more than one */
	const char *netns[64];
	size_t nnetns;
	bool netns_column;
	struct hf_ctx *ctx;
	/* --watch with the bpf backend: the last interval's flows, by key, for the counters' deltas */
	struct hf_flow *prev;
	size_t nprev;
};

struct proc_ent {
	uint32_t inode;
	int pgid;
	char name[32];
	bool found;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hostflow [-46hnptu] [--json] [-f all|public|private] [-w[SECONDS]]\n"
		"                [--states] [--summary] [--listen] [--proc]\n"
		"                [--source sockets|conntrack] [--cumulative] [--version]\n"
		"                [--ignore-state STATE]... [--netns all|host|NAME]...\n"
		"                [--backend auto|netlink|proc|bpf] [--reconcile SECONDS]\n"
		"\n"
		"Print host flows between this host and others: TCP connections collapsed\n"
		"by direction, with the ephemeral side shown as \"many\".\n"
		"\n"
		"      --source SOURCE    sockets (default): this host's TCP sockets;\n"
		"                         conntrack: netfilter's connection tracking table\n"
		"                         (TCP, UDP, other protocols, forwarded flows, traffic)\n"
		"  -t, --tcp, -u, --udp   conntrack: TCP or UDP flows only (both: both)\n"
		"      --cumulative       conntrack: traffic since hostflow started, connections\n"
		"                         that closed included (destroy events; with --watch)\n"
		"  -n, --numeric          show addresses, do not resolve names\n"
		"  -p, --processes        show the process (name, process group) of each flow\n"
		"      --json             print JSON (lstf's schema, plus \"states\")\n"
		"  -f, --filter SCOPE     peers to show: all (default), public or private\n"
		"  -w, --watch[=SECONDS]  print again every SECONDS (default %d)\n"
		"      --states           per-state connection counts\n"
		"  -4, -6                 IPv4 or IPv6 flows only\n"
		"      --proc             read /proc/net/tcp{,6} (conntrack: /proc/net/nf_conntrack)\n"
		"                         instead of netlink\n"
		"      --backend NAME     auto (bpf, then netlink, then /proc with --watch;\n"
		"                         netlink, then /proc otherwise), netlink, proc, bpf\n"
		"      --reconcile SECONDS\n"
		"                         bpf: compare the counts with a netlink snapshot\n"
		"                         every SECONDS (default 600; 0: on lost events only)\n"
		"      --summary          host totals per state, flows, backend, counters\n"
		"      --listen           the listeners: backlog, accept queue, half-open\n"
		"      --ignore-state STATE\n"
		"                         leave connections in STATE (e.g. TIME_WAIT) out of\n"
		"                         the flows; host totals keep them (repeatable)\n"
		"      --netns NS         network namespaces to read: all, host, self or a name\n"
		"                         (repeatable; default: the one hostflow runs in)\n"
		"      --version          print the version\n"
		"  -h, --help             print this help\n",
		WATCH_DEFAULT);
}

static const char *name_of(int family, const union hf_addr *a, unsigned int plen, void *arg)
{
	struct cmd *c = arg;
	return c->numeric ? NULL : hf_resolve(c->resolver, family, a, plen);
}

/* ---- -p: processes by socket inode ----------------------------------------------------- */

static struct proc_ent *proc_find(struct cmd *c, uint32_t inode)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i].inode == inode)
			return &c->procs[i];
	return NULL;
}

static void proc_fill(struct proc_ent *e, const char *pid)
{
	char path[300], buf[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f)) {
		/* "pid (comm) state ppid pgrp": comm may hold spaces and parentheses. */
		char *open = strchr(buf, '('), *close = strrchr(buf, ')');
		int ppid, pgrp;
		char st;
		if (open && close && close > open &&
		    sscanf(close + 1, " %c %d %d", &st, &ppid, &pgrp) == 3) {
			size_t n = (size_t)(close - open - 1);
			if (n >= sizeof(e->name))
				n = sizeof(e->name) - 1;
			memcpy(e->name, open + 1, n);
			e->name[n] = '\0';
			e->pgid = pgrp;
			e->found = true;
		}
	}
	fclose(f);
}

/*
 * Find the owners of the flows' inodes: one walk of /proc/PID/fd. Only the
 * inodes the flows carry are kept, so memory follows flows.
 */
static int procs_load(struct cmd *c, const struct hf_flow *flows, size_t n)
{
	DIR *proc, *fd;
	struct dirent *p, *d;
	size_t want = 0;

	free(c->procs);
	c->procs = calloc(n ? n : 1, sizeof(*c->procs));
	c->nprocs = 0;
	if (!c->procs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (flows[i].inode && !proc_find(c, flows[i].inode))
			c->procs[c->nprocs++].inode = flows[i].inode;
	if (!c->nprocs)
		return 0;
	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while (want < c->nprocs && (p = readdir(proc)) != NULL) {
		char path[300], link[64];
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fd = opendir(path);
		if (!fd)
			continue; /* gone, or not ours to read without root */
		while ((d = readdir(fd)) != NULL) {
			char lpath[600];
			unsigned int ino;
			ssize_t len;
			snprintf(lpath, sizeof(lpath), "%s/%s", path, d->d_name);
			len = readlink(lpath, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = '\0';
			if (sscanf(link, "socket:[%u]", &ino) != 1)
				continue;
			struct proc_ent *e = proc_find(c, ino);
			if (e && !e->found) {
				proc_fill(e, p->d_name);
				want += e->found;
			}
		}
		closedir(fd);
	}
	closedir(proc);
	return 0;
}

static bool process_of(const struct hf_flow *f, const char **name, int *pgid, void *arg)
{
	struct proc_ent *e = f->inode ? proc_find(arg, f->inode) : NULL;

	if (!e || !e->found)
		return false;
	*name = e->name;
	*pgid = e->pgid;
	return true;
}

/* ---- output ---------------------------------------------------------------------------- */

static int put_json(yajl_gen g)
{
	const unsigned char *buf;
	size_t len;

	yajl_gen_get_buf(g, &buf, &len);
	fwrite(buf, 1, len, stdout);
	putchar('\n');
	return 0;
}

static int print_json(struct cmd *c, struct hf_ctx *ctx, struct hf_flow *flows, size_t n)
{
	struct hf_json_opts o = {
		.states = true,
		.counters = c->watch && hf_backend(ctx) == HF_BACKEND_BPF,
		.traffic = c->source == HF_SOURCE_CONNTRACK,
		.name = name_of,
		.process = c->processes ? process_of : NULL,
		.arg = c,
		.netns_ctx = c->nnetns ? ctx : NULL,
	};
	yajl_gen g = yajl_gen_alloc(NULL);
	int ret;

	if (!g)
		return -ENOMEM;
	if (c->summary) {
		struct hf_host host;
		hf_host_read("/proc", &host);
		ret = hf_json_summary(g, ctx, &host);
	} else if (c->listen) {
		size_t nl;
		struct hf_listener *l = hf_listeners(ctx, &nl);
		ret = hf_json_listeners(g, l, nl, c->nnetns ? ctx : NULL);
	} else {
		ret = hf_json_flows(g, flows, n, &o);
	}
	if (ret == 0)
		put_json(g);
	yajl_gen_free(g);
	return ret;
}

/* Print rows of cells padded to their column's width, columns three spaces apart. */
static void print_rows(char ***rows, size_t nrows, size_t ncols)
{
	size_t w[16] = { 0 };

	for (size_t r = 0; r < nrows; r++)
		for (size_t k = 0; k < ncols; k++) {
			size_t l = rows[r][k] ? strlen(rows[r][k]) : 0;
			if (l > w[k])
				w[k] = l;
		}
	for (size_t r = 0; r < nrows; r++) {
		for (size_t k = 0; k < ncols; k++) {
			const char *cell = rows[r][k] ? rows[r][k] : ""; /* strdup failed */
			if (k + 1 == ncols)
				fputs(cell, stdout);
			else
				printf("%-*s   ", (int)w[k], cell);
		}
		putchar('\n');
	}
}

/* A growable grid of strings for the text table. */
struct grid {
	char ***rows;
	size_t nrows, ncols;
};

static int grid_add(struct grid *g, size_t ncols)
{
	char ***rows = realloc(g->rows, (g->nrows + 1) * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	g->rows = rows;
	g->rows[g->nrows] = calloc(ncols, sizeof(char *));
	if (!g->rows[g->nrows])
		return -ENOMEM;
	g->nrows++;
	g->ncols = ncols;
	return 0;
}

static void grid_set(struct grid *g, size_t col, const char *s)
{
	g->rows[g->nrows - 1][col] = strdup(s ? s : "");
}

static void grid_free(struct grid *g)
{
	for (size_t r = 0; r < g->nrows; r++) {
		for (size_t k = 0; k < g->ncols; k++)
			free(g->rows[r][k]);
		free(g->rows[r]);
	}
	free(g->rows);
	memset(g, 0, sizeof(*g));
}

/* Print the table unless @ret says it is incomplete, free it, return @ret. */
static int grid_flush(struct grid *g, int ret)
{
	if (ret == 0)
		print_rows(g->rows, g->nrows, g->ncols);
	grid_free(g);
	return ret;
}

static const char *netns_name(const struct cmd *c, uint32_t id)
{
	const struct hf_netns *ns = hf_netns_find(c->ctx, id);
	return ns ? ns->name : "?";
}

/* The conntrack table: protocol, ends, connections, traffic, conntrack's TCP states. */
static int print_ct_flows(struct cmd *c, struct hf_flow *flows, size_t n)
{
	static const char *const head[] = {
		"Proto",      "Local Address:Port", "<-->",	 "Peer Address:Port", "Connections",
		"Bytes-Sent", "Bytes-Recv",	    "Pkts-Sent", "Pkts-Recv"
	};
	enum {
		NHEAD = sizeof(head) / sizeof(head[0])
	};
	struct grid g = { 0 };
	unsigned int states[HF_CT_TCP_MAX];
	size_t nstates = 0, ncols, nc = c->netns_column ? 1 : 0;
	char buf[HF_LABEL_MAX];

	if (c->states)
		for (unsigned int s = 0; s < HF_CT_TCP_MAX; s++) {
			bool any = false;
			for (size_t i = 0; i < n && !any; i++)
				any = flows[i].ct.tcp_states[s] != 0;
			if (any)
				states[nstates++] = s;
		}
	ncols = nc + NHEAD + nstates;
	if (grid_add(&g, ncols) < 0)
		goto out_nomem;
	if (nc)
		grid_set(&g, 0, "NETNS");
	for (size_t k = 0; k < NHEAD; k++)
		grid_set(&g, nc + k, head[k]);
	for (size_t k = 0; k < nstates; k++)
		grid_set(&g, nc + NHEAD + k, hf_ct_tcp_state_name(states[k]));
	for (size_t i = 0; i < n; i++) {
		const struct hf_flow *f = &flows[i];
		const uint64_t v[4] = { f->ct.bytes_sent, f->ct.bytes_received, f->ct.packets_sent,
					f->ct.packets_received };
		if (grid_add(&g, ncols) < 0)
			goto out_nomem;
		if (nc)
			grid_set(&g, 0, netns_name(c, f->netns));
		if (hf_proto_name(f->proto))
			grid_set(&g, nc + 0, hf_proto_name(f->proto));
		else {
			snprintf(buf, sizeof(buf), "%u", f->proto);
			grid_set(&g, nc + 0, buf);
		}
		hf_endpoint_str(f->family, &f->laddr, 0, f->lport,
				name_of(f->family, &f->laddr, 0, c), buf, sizeof(buf));
		grid_set(&g, nc + 1, buf);
		grid_set(&g, nc + 2,
			 f->dir == HF_DIR_PASSIVE   ? "<--" :
			 f->dir == HF_DIR_FORWARDED ? "=>" :
						      "-->");
		hf_endpoint_str(f->family, &f->paddr, f->pplen, f->pport,
				name_of(f->family, &f->paddr, f->pplen, c), buf, sizeof(buf));
		grid_set(&g, nc + 3, buf);
		snprintf(buf, sizeof(buf), "%u", f->conns);
		grid_set(&g, nc + 4, buf);
		for (size_t k = 0; k < 4; k++) {
			if (f->ct.traffic_known)
				snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v[k]);
			else
				snprintf(buf, sizeof(buf), "-");
			grid_set(&g, nc + 5 + k, buf);
		}
		for (size_t k = 0; k < nstates; k++) {
			snprintf(buf, sizeof(buf), "%u", f->ct.tcp_states[states[k]]);
			grid_set(&g, nc + NHEAD + k, buf);
		}
	}
	return grid_flush(&g, 0);
out_nomem:
	return grid_flush(&g, -ENOMEM);
}

/* Flows grouped by namespace name, then as hf_flow_cmp orders them. */
static int flow_cmp_netns(const void *a, const void *b, void *arg)
{
	const struct hf_flow *x = a, *y = b;
	int r = x->netns == y->netns ? 0 :
				       strcmp(netns_name(arg, x->netns), netns_name(arg, y->netns));
	return r ? r : hf_flow_cmp(a, b);
}

static int print_flows(struct cmd *c, struct hf_flow *flows, size_t n)
{
	struct grid g = { 0 };
	unsigned int states[HF_STATE_MAX];
	size_t nstates = 0, ncols, nc = c->netns_column ? 1 : 0;
	char buf[HF_LABEL_MAX];

	if (c->states)
		for (unsigned int s = 1; s < HF_STATE_MAX; s++) {
			bool any = false;
			for (size_t i = 0; i < n && !any; i++)
				any = flows[i].states[s] != 0;
			if (any)
				states[nstates++] = s;
		}
	ncols = 4 + nstates + (c->processes ? 1 : 0) + nc;
	if (grid_add(&g, ncols) < 0)
		goto out_nomem;
	if (nc)
		grid_set(&g, 0, "NETNS");
	grid_set(&g, nc + 0, "Local Address:Port");
	grid_set(&g, nc + 1, "<-->");
	grid_set(&g, nc + 2, "Peer Address:Port");
	grid_set(&g, nc + 3, "Connections");
	for (size_t k = 0; k < nstates; k++)
		grid_set(&g, nc + 4 + k, hf_state_name(states[k]));
	if (c->processes)
		grid_set(&g, ncols - 1, "Process");
	for (size_t i = 0; i < n; i++) {
		const struct hf_flow *f = &flows[i];
		if (grid_add(&g, ncols) < 0)
			goto out_nomem;
		if (nc)
			grid_set(&g, 0, netns_name(c, f->netns));
		hf_endpoint_str(f->family, &f->laddr, 0, f->lport,
				name_of(f->family, &f->laddr, 0, c), buf, sizeof(buf));
		grid_set(&g, nc + 0, buf);
		grid_set(&g, nc + 1, f->dir == HF_DIR_PASSIVE ? "<--" : "-->");
		hf_endpoint_str(f->family, &f->paddr, f->pplen, f->pport,
				name_of(f->family, &f->paddr, f->pplen, c), buf, sizeof(buf));
		grid_set(&g, nc + 2, buf);
		snprintf(buf, sizeof(buf), "%u", f->conns);
		grid_set(&g, nc + 3, buf);
		for (size_t k = 0; k < nstates; k++) {
			snprintf(buf, sizeof(buf), "%u", f->states[states[k]]);
			grid_set(&g, nc + 4 + k, buf);
		}
		if (c->processes) {
			const char *pn;
			int pgid;
			if (process_of(f, &pn, &pgid, c))
				snprintf(buf, sizeof(buf), "%s(pgid=%d)", pn, pgid);
			else
				snprintf(buf, sizeof(buf), "-");
			grid_set(&g, ncols - 1, buf);
		}
	}
	return grid_flush(&g, 0);
out_nomem:
	return grid_flush(&g, -ENOMEM);
}

static int print_listeners(struct cmd *c, struct hf_ctx *ctx)
{
	struct grid g = { 0 };
	size_t n, nc = c->netns_column ? 1 : 0;
	struct hf_listener *l = hf_listeners(ctx, &n);
	char buf[HF_LABEL_MAX];
	static const char *const head[] = { "NETNS",	    "Local Address:Port", "Backlog",
					    "Accept-Queue", "SYN-Recv",		  "Connections",
					    "Sockets" };

	if (grid_add(&g, 6 + nc) < 0)
		goto out_nomem;
	for (size_t k = 0; k < 6 + nc; k++)
		grid_set(&g, k, head[k + 1 - nc]);
	for (size_t i = 0; i < n; i++) {
		if (grid_add(&g, 6 + nc) < 0)
			goto out_nomem;
		if (nc)
			grid_set(&g, 0, netns_name(c, l[i].netns));
		hf_endpoint_str(l[i].family, &l[i].addr, 0, l[i].port, NULL, buf, sizeof(buf));
		grid_set(&g, nc, buf);
		if (l[i].backlog_known)
			snprintf(buf, sizeof(buf), "%u", l[i].backlog);
		else
			snprintf(buf, sizeof(buf), "-");
		grid_set(&g, nc + 1, buf);
		snprintf(buf, sizeof(buf), "%u", l[i].accept_queue);
		grid_set(&g, nc + 2, buf);
		snprintf(buf, sizeof(buf), "%u", l[i].syn_recv);
		grid_set(&g, nc + 3, buf);
		snprintf(buf, sizeof(buf), "%u", l[i].established);
		grid_set(&g, nc + 4, buf);
		snprintf(buf, sizeof(buf), "%u", l[i].nsocks);
		grid_set(&g, nc + 5, buf);
	}
	return grid_flush(&g, 0);
out_nomem:
	return grid_flush(&g, -ENOMEM);
}

static void print_summary(struct hf_ctx *ctx, bool cumulative)
{
	const struct hf_totals *t = hf_totals(ctx);
	const struct hf_ct_info *ci = hf_ct_info(ctx);
	struct hf_host host;
	int ret;

	if (ci) {
		printf("%-34s %s\n", "source", "conntrack");
		printf("%-34s %s\n", "backend", hf_backend_name(hf_backend(ctx)));
		printf("%-34s %llu\n", "entries", (unsigned long long)ci->entries);
		printf("%-34s %llu\n", "flows", (unsigned long long)t->flows);
		printf("%-34s %lld\n", "net.netfilter.nf_conntrack_count", (long long)ci->count);
		printf("%-34s %lld\n", "net.netfilter.nf_conntrack_max", (long long)ci->max);
		printf("%-34s %d\n", "net.netfilter.nf_conntrack_acct", ci->acct);
		printf("%-34s %llu\n", "entries without counters",
		       (unsigned long long)ci->entries_no_acct);
		if (cumulative)
			printf("%-34s %llu (lost %llu times)\n", "destroy events",
			       (unsigned long long)ci->destroyed, (unsigned long long)ci->lost);
		if (hf_netns_selected(ctx))
			for (uint32_t i = 0; i < hf_netns_count(ctx); i++) {
				const struct hf_netns *ns = hf_netns_get(ctx, i);
				if (ns->collected)
					printf("netns %-24s entries %llu flows %llu "
					       "nf_conntrack_count %lld nf_conntrack_max %lld\n",
					       ns->name, (unsigned long long)ns->totals.sockets,
					       (unsigned long long)ns->totals.flows,
					       (long long)ns->ct_count, (long long)ns->ct_max);
			}
		return;
	}
	ret = hf_host_read("/proc", &host);

	printf("%-30s %s\n", "backend", hf_backend_name(hf_backend(ctx)));
	printf("%-30s %llu\n", "sockets", (unsigned long long)t->sockets);
	printf("%-30s %llu\n", "listeners", (unsigned long long)t->listeners);
	printf("%-30s %llu\n", "flows", (unsigned long long)t->flows);
	if (hf_backend(ctx) == HF_BACKEND_BPF) {
		struct hf_bpf_stats b;
		hf_bpf_stats(ctx, &b);
		printf("%-30s %llu\n", "bpf reconciles", (unsigned long long)b.reconciles);
		printf("%-30s %llu\n", "bpf corrections", (unsigned long long)b.corrections);
		printf("%-30s %llu\n", "bpf seed corrections",
		       (unsigned long long)b.seed_corrections);
		printf("%-30s %llu\n", "bpf map full", (unsigned long long)b.map_full);
		printf("%-30s %llu\n", "bpf lost events", (unsigned long long)b.lost);
		printf("%-30s %llu\n", "bpf nested transitions", (unsigned long long)b.rescued);
		printf("%-30s %llu\n", "bpf requests untraced", (unsigned long long)b.req_untraced);
		printf("%-30s %llu\n", "bpf dumps skipped", (unsigned long long)b.dumps_skipped);
		printf("%-30s %s\n", "bpf timers", b.timers ? "followed" : "not followed");
	}
	for (unsigned int s = 1; s < HF_STATE_MAX; s++)
		if (s != HF_LISTEN)
			printf("%-30s %llu\n", hf_state_name(s), (unsigned long long)t->states[s]);
	if (ret == 0)
		for (unsigned int k = 0; k < HF_NETSTAT_MAX; k++)
			if (host.present & (1u << k))
				printf("%-30s %llu\n", hf_netstat_name(k),
				       (unsigned long long)host.counters[k]);
	printf("%-30s %d\n", "net.core.somaxconn", host.somaxconn);
	printf("%-30s %d\n", "net.ipv4.tcp_max_syn_backlog", host.max_syn_backlog);
	printf("%-30s %d\n", "net.ipv4.tcp_syncookies", host.syncookies);
	if (hf_netns_selected(ctx))
		for (uint32_t i = 0; i < hf_netns_count(ctx); i++) {
			const struct hf_netns *ns = hf_netns_get(ctx, i);
			if (ns->collected)
				printf("netns %-24s sockets %llu listeners %llu flows %llu\n",
				       ns->name, (unsigned long long)ns->totals.sockets,
				       (unsigned long long)ns->totals.listeners,
				       (unsigned long long)ns->totals.flows);
		}
}

static int key_cmp(const void *a, const void *b)
{
	return hf_flow_key_cmp(a, b);
}

/*
 * The bpf backend's flows may carry counters with no connection left.
 * Once, they are left out (the snapshot has no such flow); with --watch,
 * the counters become this interval's, and with --json (the only output
 * that shows them) a flow with no connection left but news in the
 * interval is kept.
 */
static int counters_interval(struct cmd *c, struct hf_ctx *ctx, struct hf_flow *flows, size_t *n)
{
	struct hf_flow *copy;
	size_t k = 0, all = *n;

	if (hf_backend(ctx) != HF_BACKEND_BPF) {
		free(c->prev);
		c->prev = NULL;
		c->nprev = 0;
		return 0;
	}
	copy = malloc((*n ? *n : 1) * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, flows, *n * sizeof(*copy));
	qsort(copy, *n, sizeof(*copy), key_cmp);
	for (size_t i = 0; i < *n; i++) {
		struct hf_flow *f = &flows[i];
		const struct hf_flow *p =
			c->prev ? bsearch(f, c->prev, c->nprev, sizeof(*f), key_cmp) : NULL;
		/* A flow deleted from the map and made anew counts from 0 again. */
		if (p && f->opened >= p->opened && f->closed >= p->closed &&
		    f->failed >= p->failed) {
			f->opened -= p->opened;
			f->closed -= p->closed;
			f->failed -= p->failed;
		}
		if (f->conns || (c->watch && c->json && (f->opened || f->closed || f->failed)))
			flows[k++] = *f;
	}
	*n = k;
	free(c->prev);
	c->prev = copy;
	c->nprev = all;
	return 0;
}

static int run_once(struct cmd *c, struct hf_ctx *ctx)
{
	struct hf_flow *flows;
	size_t n;
	int ret;

	ret = hf_collect(ctx, &c->filter);
	if (ret < 0) {
		fprintf(stderr, "hostflow: %s\n", hf_strerror(ctx));
		return 1;
	}
	/* Each notice comes once: a namespace that cannot be entered, no privilege. */
	for (const char *p = hf_notice(ctx), *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		fprintf(stderr, "hostflow: %.*s\n", (int)(nl - p), p);
	}
	flows = hf_flows(ctx, &n);
	if (counters_interval(c, ctx, flows, &n) < 0) {
		fprintf(stderr, "hostflow: %s\n", strerror(ENOMEM));
		return 1;
	}
	if (hf_ct_info(ctx) && hf_ct_info(ctx)->resynced)
		fprintf(stderr,
			"hostflow: conntrack destroy events were lost (the socket overran): "
			"traffic counters restarted from the live entries\n");
	/* Once per run: a --watch would repeat it every interval. */
	if (hf_ct_info(ctx) && hf_ct_info(ctx)->traffic_unknown && !c->acct_told) {
		fprintf(stderr, "hostflow: %s\n", hf_ct_acct_hint());
		c->acct_told = true;
	}
	if (c->netns_column)
		qsort_r(flows, n, sizeof(*flows), flow_cmp_netns, c);
	else
		qsort(flows, n, sizeof(*flows), hf_flow_cmp);
	if (c->processes && procs_load(c, flows, n) < 0)
		fprintf(stderr, "hostflow: /proc: cannot list processes: %s\n", strerror(errno));
	if (c->json)
		ret = print_json(c, ctx, flows, n);
	else if (c->summary)
		print_summary(ctx, c->cumulative);
	else if (c->listen)
		ret = print_listeners(c, ctx);
	else if (c->source == HF_SOURCE_CONNTRACK)
		ret = print_ct_flows(c, flows, n);
	else
		ret = print_flows(c, flows, n);
	if (ret < 0) {
		fprintf(stderr, "hostflow: %s\n", strerror(-ret));
		return 1;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "hostflow: write error: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

static int parse_args(struct cmd *c, int argc, char **argv)
{
	enum {
		O_JSON = 256,
		O_VERSION,
		O_STATES,
		O_PROC,
		O_SUMMARY,
		O_LISTEN,
		O_SOURCE,
		O_CUMULATIVE,
		O_IGNORE_STATE,
		O_NETNS,
		O_BACKEND,
		O_RECONCILE
	};
	static const struct option opts[] = {
		{ "numeric", no_argument, NULL, 'n' },
		{ "processes", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, O_JSON },
		{ "filter", required_argument, NULL, 'f' },
		{ "watch", optional_argument, NULL, 'w' },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ "states", no_argument, NULL, O_STATES },
		{ "proc", no_argument, NULL, O_PROC },
		{ "summary", no_argument, NULL, O_SUMMARY },
		{ "listen", no_argument, NULL, O_LISTEN },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "cumulative", no_argument, NULL, O_CUMULATIVE },
		{ "tcp", no_argument, NULL, 't' },
		{ "udp", no_argument, NULL, 'u' },
		{ "ignore-state", required_argument, NULL, O_IGNORE_STATE },
		{ "netns", required_argument, NULL, O_NETNS },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "reconcile", required_argument, NULL, O_RECONCILE },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "46hnptuf:w::", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			c->filter.protocols |= HF_PROTO_TCP;
			break;
		case 'u':
			c->filter.protocols |= HF_PROTO_UDP;
			break;
		case O_CUMULATIVE:
			c->cumulative = true;
			break;
		case O_SOURCE:
			if (strcmp(optarg, "sockets") == 0)
				c->source = HF_SOURCE_SOCKETS;
			else if (strcmp(optarg, "conntrack") == 0)
				c->source = HF_SOURCE_CONNTRACK;
			else {
				fprintf(stderr,
					"hostflow: --source: \"%s\" is not sockets or conntrack\n",
					optarg);
				return 2;
			}
			break;
		case '4':
			c->filter.families = HF_FAMILY_V4;
			break;
		case '6':
			c->filter.families = HF_FAMILY_V6;
			break;
		case 'n':
			c->numeric = true;
			break;
		case 'p':
			c->processes = true;
			break;
		case 'f':
			if (strcmp(optarg, "all") == 0)
				c->filter.scope = HF_SCOPE_ALL;
			else if (strcmp(optarg, "public") == 0)
				c->filter.scope = HF_SCOPE_PUBLIC;
			else if (strcmp(optarg, "private") == 0)
				c->filter.scope = HF_SCOPE_PRIVATE;
			else {
				fprintf(stderr,
					"hostflow: --filter: \"%s\" is not all, public or private\n",
					optarg);
				return 2;
			}
			break;
		case 'w': {
			char *end;
			long v = WATCH_DEFAULT;
			if (optarg) {
				errno = 0;
				v = strtol(optarg, &end, 10);
				if (errno || *end || v < 1 || v > 86400) {
					fprintf(stderr,
						"hostflow: --watch: \"%s\" is not seconds from 1 to 86400\n",
						optarg);
					return 2;
				}
			}
			c->watch = (unsigned int)v;
			break;
		}
		case O_JSON:
			c->json = true;
			break;
		case O_VERSION:
			printf("hostflow %s\n", HF_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case O_STATES:
			c->states = true;
			break;
		case O_PROC:
			c->backend = HF_BACKEND_PROC;
			break;
		case O_SUMMARY:
			c->summary = true;
			break;
		case O_BACKEND:
			if (strcmp(optarg, "auto") == 0)
				c->backend = HF_BACKEND_AUTO;
			else if (strcmp(optarg, "netlink") == 0)
				c->backend = HF_BACKEND_NETLINK;
			else if (strcmp(optarg, "proc") == 0)
				c->backend = HF_BACKEND_PROC;
			else if (strcmp(optarg, "bpf") == 0)
				c->backend = HF_BACKEND_BPF;
			else {
				fprintf(stderr,
					"hostflow: --backend: \"%s\" is not auto, netlink, proc or bpf\n",
					optarg);
				return 2;
			}
			break;
		case O_RECONCILE: {
			char *end;
			long v;
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 0 || v > 86400 * 365) {
				fprintf(stderr,
					"hostflow: --reconcile: \"%s\" is not seconds from 0 to 31536000\n",
					optarg);
				return 2;
			}
			c->reconcile = (unsigned int)v;
			break;
		}
		case O_LISTEN:
			c->listen = true;
			break;
		case O_IGNORE_STATE: {
			unsigned int st = hf_state_parse(optarg);
			if (!st || st == HF_LISTEN) {
				fprintf(stderr,
					"hostflow: --ignore-state: \"%s\" is not a TCP connection "
					"state (" HF_CONN_STATES ")\n",
					optarg);
				return 2;
			}
			c->filter.ignore_states |= 1u << st;
			break;
		}
		case O_NETNS:
			if (!*optarg || c->nnetns == sizeof(c->netns) / sizeof(c->netns[0])) {
				fprintf(stderr, "hostflow: --netns: %s\n",
					*optarg ? "more than 64 namespaces named" :
						  "an empty name is not a namespace");
				return 2;
			}
			c->netns[c->nnetns++] = optarg;
			if (strcmp(optarg, "all") == 0 || c->nnetns > 1)
				c->netns_column = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hostflow: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (c->source == HF_SOURCE_CONNTRACK && (c->listen || c->processes)) {
		fprintf(stderr, "hostflow: --%s needs sockets: conntrack has no %s\n",
			c->listen ? "listen" : "processes", c->listen ? "listeners" : "processes");
		return 2;
	}
	if (c->source == HF_SOURCE_CONNTRACK && c->backend == HF_BACKEND_BPF) {
		fprintf(stderr, "hostflow: --backend bpf needs --source sockets\n");
		return 2;
	}
	if (c->cumulative && (c->source != HF_SOURCE_CONNTRACK || c->backend == HF_BACKEND_PROC)) {
		fprintf(stderr, "hostflow: --cumulative needs --source conntrack over netlink\n");
		return 2;
	}
	if (c->source == HF_SOURCE_SOCKETS && c->filter.protocols & HF_PROTO_UDP) {
		fprintf(stderr, "hostflow: --udp needs --source conntrack: sockets are TCP only\n");
		return 2;
	}
	return -1;
}

/*
 * The bpf backend when asked for, or with --watch when auto: loading the
 * programs costs more than one dump, so a single collection keeps
 * netlink.
 */
static struct hf_ctx *open_ctx(struct cmd *c)
{
	char err[256];
	struct hf_ctx *ctx;

	if (c->backend == HF_BACKEND_BPF || (c->backend == HF_BACKEND_AUTO && c->watch)) {
		ctx = hf_open_bpf("/proc", err, sizeof(err));
		if (ctx) {
			hf_set_reconcile(ctx, c->reconcile);
			return ctx;
		}
		if (c->backend == HF_BACKEND_BPF) {
			fprintf(stderr, "hostflow: --backend bpf: %s\n", err);
			exit(1);
		}
		fprintf(stderr, "hostflow: bpf backend unavailable, using netlink: %s\n", err);
	}
	return hf_open(c->backend, "/proc");
}

int main(int argc, char **argv)
{
	struct cmd c;
	struct hf_ctx *ctx;
	struct timespec next;
	int ret;

	memset(&c, 0, sizeof(c));
	c.reconcile = 600;
	hf_filter_init(&c.filter);
	ret = parse_args(&c, argc, argv);
	if (ret >= 0)
		return ret;
	/* A closed stdout is reported as a write error, not a silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Started with stdout closed, the netlink socket would take fd 1 and
	 * the output would go to the kernel: refuse. A closed stdin or stderr
	 * is pointed at /dev/null for the same reason.
	 */
	if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
		fprintf(stderr, "hostflow: write error: standard output is closed\n");
		return 1;
	}
	for (int fd = 0; fd <= 2; fd += 2)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return 1;
	if (!c.numeric) {
		c.resolver = hf_resolver_new(RESOLVE_TIMEOUT_MS);
		if (!c.resolver) {
			fprintf(stderr, "hostflow: %s\n", strerror(errno));
			return 1;
		}
	}
	if (c.source == HF_SOURCE_CONNTRACK)
		ctx = hf_open_with(
			&(struct hf_open_opts){ .source = c.source,
						.backend = c.backend,
						.proc_root = "/proc",
						.ct_flags = c.cumulative ? HF_CT_EVENTS : 0 });
	else
		ctx = open_ctx(&c);
	if (!ctx && c.source == HF_SOURCE_CONNTRACK) {
		int e = errno;
		fprintf(stderr, "hostflow: conntrack: cannot open the ctnetlink sockets%s: %s%s\n",
			c.cumulative ? " (with destroy events)" : "", strerror(e),
			e == EPERM || e == EACCES ? " (needs CAP_NET_ADMIN)" :
			e == EPROTONOSUPPORT	  ? " (no nfnetlink in this kernel)" :
						    "");
		ret = 1;
		goto out;
	}
	if (!ctx) {
		fprintf(stderr, "hostflow: cannot open the collector: %s\n", strerror(errno));
		ret = 1;
		goto out;
	}
	c.ctx = ctx;
	for (size_t i = 0; i < c.nnetns; i++)
		if ((ret = hf_netns_select(ctx, c.netns[i])) < 0) {
			fprintf(stderr, "hostflow: --netns %s: %s\n", c.netns[i],
				ret == -EOPNOTSUPP ? hf_strerror(ctx) : strerror(-ret));
			ret = ret == -EOPNOTSUPP ? 2 : 1;
			goto out_close;
		}
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		ret = run_once(&c, ctx);
		if (ret || !c.watch)
			break;
		if (!c.json)
			putchar('\n');
		next.tv_sec += c.watch;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
out_close:
	hf_close(ctx);
out:
	free(c.procs);
	free(c.prev);
	hf_resolver_free(c.resolver);
	return ret;
}
