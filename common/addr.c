/*
 * addr.c - addresses, prefixes and the flow filter's predicates.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostflow.h"
#include "internal.h"

static unsigned int addr_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static void mask_bits(union hf_addr *a, unsigned int plen, unsigned int bits)
{
	for (unsigned int i = 0; i < bits / 8; i++) {
		unsigned int keep = plen > i * 8 ? plen - i * 8 : 0;
		if (keep >= 8)
			continue;
		a->b[i] &= (uint8_t)(0xff00u >> keep);
	}
}

void hf__addr_mask(int family, union hf_addr *a, unsigned int plen)
{
	mask_bits(a, plen, addr_bits(family));
}

int hf_cidr_parse(const char *s, struct hf_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash, *end;
	unsigned long plen;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	memset(out, 0, sizeof(*out));
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, &out->addr.v4) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &out->addr.v6) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;
	plen = addr_bits(out->family);
	if (slash) {
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || errno || plen > addr_bits(out->family))
			return -EINVAL;
	}
	if (out->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&out->addr.v6) && plen >= 96) {
		uint32_t v4 = out->addr.v6.s6_addr32[3];
		memset(&out->addr, 0, sizeof(out->addr));
		out->addr.v4.s_addr = v4;
		out->family = AF_INET;
		plen -= 96;
	}
	out->plen = (uint8_t)plen;
	mask_bits(&out->addr, out->plen, addr_bits(out->family));
	return 0;
}

bool hf_cidr_contains(const struct hf_cidr *c, int family, const union hf_addr *addr)
{
	union hf_addr a;

	if (c->family != family)
		return false;
	a = *addr;
	mask_bits(&a, c->plen, addr_bits(family));
	return memcmp(&a, &c->addr, addr_bits(family) / 8) == 0;
}

bool hf_addr_is_loopback(int family, const union hf_addr *addr)
{
	if (family == AF_INET)
		return addr->b[0] == 127;
	return IN6_IS_ADDR_LOOPBACK(&addr->v6);
}

bool hf_addr_is_private(int family, const union hf_addr *addr)
{
	const uint8_t *b = addr->b;

	if (hf_addr_is_loopback(family, addr))
		return true;
	if (family == AF_INET)
		return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
		       (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254);
	return (b[0] & 0xfe) == 0xfc || IN6_IS_ADDR_LINKLOCAL(&addr->v6);
}

char *hf_addr_str(int family, const union hf_addr *addr, unsigned int plen, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (!inet_ntop(family, addr, tmp, sizeof(tmp)))
		snprintf(tmp, sizeof(tmp), "?");
	if (plen && plen < addr_bits(family))
		snprintf(buf, len, "%s/%u", tmp, plen);
	else
		snprintf(buf, len, "%s", tmp);
	return buf;
}

void hf_filter_init(struct hf_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->families = HF_FAMILY_ALL;
	f->scope = HF_SCOPE_ALL;
	f->peer_prefix4 = 32;
	f->peer_prefix6 = 128;
}

const char *hf_backend_name(enum hf_backend b)
{
	switch (b) {
	case HF_BACKEND_NETLINK:
		return "netlink";
	case HF_BACKEND_PROC:
		return "proc";
	case HF_BACKEND_BPF:
		return "bpf";
	default:
		return "auto";
	}
}
