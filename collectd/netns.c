/*
 * collectd/netns.c - Namespaces: every network namespace is reported as a
 * collectd host of its own, the way the virt plugin reports its guests:
 * HOSTNAME:NAME (hf_netns_host: NAME as hf_netns names it, the `ip netns`
 * name, the container's, "pid-PID-COMM", '/' written '_'); the namespace
 * collectd runs in keeps collectd's Hostname, so its series are where they
 * were without Namespaces.
 *
 * A namespace's host is decided when it is first seen and kept while it
 * lives (a member process that changes does not rename it). One that is
 * gone is kept for one more read, in which its series end with zeros.
 * Memory: one struct cd_ns per namespace.
 */
#include "cd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t ns_find(const struct cd_nsmap *m, uint32_t id, bool *found)
{
	size_t lo = 0, hi = m->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].id == id) {
			*found = true;
			return mid;
		}
		if (m->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int cd_ns_update(struct cd_nsmap *m, const struct hf_ctx *ctx)
{
	size_t kept = 0;

	/* Those gone at the last read had their zeros: forget them. */
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].gone)
			continue;
		if (kept != i)
			m->v[kept] = m->v[i];
		m->v[kept].gone = true;
		memset(&m->v[kept].totals, 0, sizeof(m->v[kept].totals));
		m->v[kept].ct_count = m->v[kept].ct_max = -1;
		kept++;
	}
	m->n = kept;
	for (uint32_t idx = 0; idx < hf_netns_count(ctx); idx++) {
		const struct hf_netns *n = hf_netns_get(ctx, idx);
		struct cd_ns *e;
		bool found;
		size_t at;

		if (!n || !n->collected)
			continue;
		at = ns_find(m, n->id, &found);
		if (!found) {
			if (m->n == m->cap) {
				size_t cap = m->cap ? 2 * m->cap : 8;
				struct cd_ns *p = realloc(m->v, cap * sizeof(*p));
				if (!p)
					return -ENOMEM;
				m->v = p;
				m->cap = cap;
			}
			memmove(&m->v[at + 1], &m->v[at], (m->n - at) * sizeof(*m->v));
			m->n++;
			e = &m->v[at];
			memset(e, 0, sizeof(*e));
			e->id = n->id;
			if (hf_netns_host(n, hostname_g ? hostname_g : "", e->host,
					  sizeof(e->host)) < 0)
				snprintf(e->host, sizeof(e->host), "netns-%llu",
					 (unsigned long long)n->inode);
		}
		e = &m->v[at];
		e->gone = false;
		e->totals = n->totals;
		e->ct_count = n->ct_count;
		e->ct_max = n->ct_max;
	}
	return 0;
}

const char *cd_ns_host(const struct cd_nsmap *m, const struct hf_ctx *ctx, uint32_t id)
{
	bool found;
	size_t at;

	/* Id 0 is collectd's own namespace, selected or not (a Pin names its flows). */
	if (!ctx || !hf_netns_selected(ctx) || id == 0)
		return "";
	at = ns_find(m, id, &found);
	return found ? m->v[at].host : NULL;
}

void cd_ns_free(struct cd_nsmap *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}
