/*
 * report.c - top-N selection with "other", and flow labels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

void hf_report_select(struct hf_flow *flows, size_t n, unsigned int max, struct hf_report *r)
{
	unsigned int kept[2] = { 0, 0 };
	size_t out = 0;

	memset(r, 0, sizeof(*r));
	r->other[0].dir = HF_DIR_ACTIVE;
	r->other[1].dir = HF_DIR_PASSIVE;
	qsort(flows, n, sizeof(*flows), hf_flow_cmp);
	/*
	 * Stable partition in place: kept flows move to the front in order;
	 * folded ones are summed first, so overwriting them loses nothing.
	 */
	for (size_t i = 0; i < n; i++) {
		int d = flows[i].dir == HF_DIR_PASSIVE;
		if (max == 0 || kept[d] < max) {
			kept[d]++;
			if (out != i)
				flows[out] = flows[i];
			out++;
			continue;
		}
		r->other[d].conns += flows[i].conns;
		for (unsigned int s = 0; s < HF_STATE_MAX; s++)
			r->other[d].states[s] += flows[i].states[s];
		r->folded[d]++;
	}
	r->flows = flows;
	r->n = out;
}

size_t hf_endpoint_str(int family, const union hf_addr *a, unsigned int plen, uint16_t port,
		       const char *name, char *buf, size_t len)
{
	char addr[HF_ADDRSTRLEN], p[8];
	int w;

	if (!name)
		name = hf_addr_str(family, a, plen, addr, sizeof(addr));
	if (port)
		snprintf(p, sizeof(p), "%u", port);
	else
		snprintf(p, sizeof(p), "many");
	/* Brackets keep an IPv6 address's colons apart from the port's. */
	if (family == AF_INET6 && strchr(name, ':'))
		w = snprintf(buf, len, "[%s]:%s", name, p);
	else
		w = snprintf(buf, len, "%s:%s", name, p);
	return w < 0 ? 0 : ((size_t)w < len ? (size_t)w : len - 1);
}

size_t hf_flow_label(const struct hf_flow *f, char *buf, size_t len,
		     const char *(*names)(int family, const union hf_addr *a, unsigned int plen,
					  void *arg),
		     void *arg)
{
	char l[300], p[300];
	const char *ln = names ? names(f->family, &f->laddr, 0, arg) : NULL;
	const char *pn = names ? names(f->family, &f->paddr, f->pplen, arg) : NULL;
	int w;

	hf_endpoint_str(f->family, &f->laddr, 0, f->lport, ln, l, sizeof(l));
	hf_endpoint_str(f->family, &f->paddr, f->pplen, f->pport, pn, p, sizeof(p));
	w = snprintf(buf, len, "%s %s %s", l, f->dir == HF_DIR_PASSIVE ? "<-" : "->", p);
	return w < 0 ? 0 : ((size_t)w < len ? (size_t)w : len - 1);
}
