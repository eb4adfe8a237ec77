/*
 * report.c - flows and endpoints as people read them (labels, the command's cells).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

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
