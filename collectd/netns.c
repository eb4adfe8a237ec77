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

static size_t ns_find(const struct hf_cd *cd, uint32_t id, bool *found)
{
	size_t lo = 0, hi = cd->nns;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cd->ns[mid].id == id) {
			*found = true;
			return mid;
		}
		if (cd->ns[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int cd_ns_update(struct hf_cd *cd)
{
	size_t kept = 0;

	/* Those gone at the last read had their zeros: forget them. */
	for (size_t i = 0; i < cd->nns; i++) {
		if (cd->ns[i].gone)
			continue;
		if (kept != i)
			cd->ns[kept] = cd->ns[i];
		cd->ns[kept].gone = true;
		memset(&cd->ns[kept].totals, 0, sizeof(cd->ns[kept].totals));
		kept++;
	}
	cd->nns = kept;
	for (uint32_t idx = 0; idx < hf_netns_count(cd->ctx); idx++) {
		const struct hf_netns *n = hf_netns_get(cd->ctx, idx);
		struct cd_ns *e;
		bool found;
		size_t at;

		if (!n || !n->collected)
			continue;
		at = ns_find(cd, n->id, &found);
		if (!found) {
			if (cd->nns == cd->ns_cap) {
				size_t cap = cd->ns_cap ? 2 * cd->ns_cap : 8;
				struct cd_ns *p = realloc(cd->ns, cap * sizeof(*p));
				if (!p)
					return -ENOMEM;
				cd->ns = p;
				cd->ns_cap = cap;
			}
			memmove(&cd->ns[at + 1], &cd->ns[at], (cd->nns - at) * sizeof(*cd->ns));
			cd->nns++;
			e = &cd->ns[at];
			memset(e, 0, sizeof(*e));
			e->id = n->id;
			if (hf_netns_host(n, hostname_g ? hostname_g : "", e->host,
					  sizeof(e->host)) < 0)
				snprintf(e->host, sizeof(e->host), "netns-%llu",
					 (unsigned long long)n->inode);
		}
		e = &cd->ns[at];
		e->gone = false;
		e->totals = n->totals;
	}
	return 0;
}

const char *cd_ns_host(const struct hf_cd *cd, uint32_t id)
{
	bool found;
	size_t at;

	/* Id 0 is collectd's own namespace, selected or not (a Pin names its flows). */
	if (!cd->ctx || !hf_netns_selected(cd->ctx) || id == 0)
		return "";
	at = ns_find(cd, id, &found);
	return found ? cd->ns[at].host : NULL;
}

void cd_ns_free(struct hf_cd *cd)
{
	free(cd->ns);
	cd->ns = NULL;
	cd->nns = cd->ns_cap = 0;
}
