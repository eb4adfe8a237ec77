/*
 * naming.c - identifiers of flows and listeners for agents with short,
 * restricted series names. The grammar is in plugin.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

bool hf_id_name_ok(const char *name)
{
	bool letter = false;
	size_t len;

	if (!name)
		return false;
	len = strlen(name);
	if (len < 1 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			letter = true;
		else if (!(c >= '0' && c <= '9') && c != '-' && c != '.')
			return false;
	}
	if (name[0] == '-' || name[0] == '.' || name[len - 1] == '-')
		return false;
	return letter;
}

/*
 * One end, "host:port", into @buf. A peer prefix, a missing name and a name
 * hf_id_name_ok refuses all give the address ('/' written '_'); IPv6
 * addresses go in brackets. Returns what snprintf returns.
 */
static int end_str(int family, const union hf_addr *a, unsigned int plen, uint16_t port,
		   const char *name, char *buf, size_t len)
{
	unsigned int full = family == AF_INET ? 32 : 128;
	char p[8], host[HF_ADDRSTRLEN];
	char *slash;

	if (port)
		snprintf(p, sizeof(p), "%u", port);
	else
		strcpy(p, "many");
	if (name && !(plen && plen < full) && hf_id_name_ok(name))
		return snprintf(buf, len, "%s:%s", name, p);
	hf_addr_str(family, a, plen, host, sizeof(host));
	slash = strchr(host, '/');
	if (slash)
		*slash = '_';
	if (family == AF_INET6)
		return snprintf(buf, len, "[%s]:%s", host, p);
	return snprintf(buf, len, "%s:%s", host, p);
}

static int flow_id(const struct hf_flow *f, const char *lname, const char *pname, char *buf,
		   size_t len)
{
	char l[300], p[300];
	int ln, pn;

	ln = end_str(f->family, &f->laddr, 0, f->lport, lname, l, sizeof(l));
	pn = end_str(f->family, &f->paddr, f->pplen, f->pport, pname, p, sizeof(p));
	if ((unsigned int)ln >= sizeof(l) || (unsigned int)pn >= sizeof(p))
		return -ENOSPC;
	return snprintf(buf, len, "%s-%s-%s",
			f->dir == HF_DIR_PASSIVE     ? "passive" :
			f->dir == HF_DIR_FORWARDED ? "forwarded" :
						     "active",
			l, p);
}

int hf_flow_id(const struct hf_flow *f, char *buf, size_t len,
	       const char *(*names)(int family, const union hf_addr *a, unsigned int plen,
				    void *arg),
	       void *arg)
{
	const char *ln = NULL, *pn = NULL;
	int w;

	if (names) {
		ln = names(f->family, &f->laddr, 0, arg);
		pn = names(f->family, &f->paddr, f->pplen, arg);
	}
	if (len == 0)
		return -ENOSPC;
	w = flow_id(f, ln, pn, buf, len);
	if (w < 0)
		goto out_nospc;
	/* Too long with names: the local name goes first, then the peer's. */
	if (ln && (size_t)w >= len) {
		w = flow_id(f, NULL, pn, buf, len);
		if (w < 0)
			goto out_nospc;
	}
	if (pn && (size_t)w >= len) {
		w = flow_id(f, NULL, NULL, buf, len);
		if (w < 0)
			goto out_nospc;
	}
	if ((size_t)w >= len)
		goto out_nospc;
	return w;
out_nospc:
	buf[0] = '\0';
	return -ENOSPC;
}

void hf_ct_prefix(unsigned int proto, char *buf, size_t len)
{
	const char *name = proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : NULL;

	if (name)
		snprintf(buf, len, "ct-%s-", name);
	else
		snprintf(buf, len, "ct-p%u-", proto);
}

const char *hf_other_id(enum hf_dir dir)
{
	return dir == HF_DIR_PASSIVE ? "passive-other" : "active-other";
}

int hf_listener_id(const struct hf_listener *l, char *buf, size_t len)
{
	char end[HF_ID_MAX];
	int w;

	w = end_str(l->family, &l->addr, 0, l->port, NULL, end, sizeof(end));
	if ((unsigned int)w >= sizeof(end) || len == 0)
		return -ENOSPC;
	w = snprintf(buf, len, "listen-%s", end);
	if (w < 0 || (size_t)w >= len) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return w;
}

struct id_ref {
	const char *id; /* NULL once known to clash */
	size_t i;
};

static int id_ref_cmp(const void *a, const void *b)
{
	const struct id_ref *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return (x->i > y->i) - (x->i < y->i);
}

int hf_flow_ids(const struct hf_flow *flows, size_t n, char (*ids)[HF_ID_MAX],
		const char *(*names)(int family, const union hf_addr *a, unsigned int plen,
				     void *arg),
		void *arg)
{
	struct id_ref *refs;
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		ret = hf_flow_id(&flows[i], ids[i], HF_ID_MAX, names, arg);
		if (ret < 0)
			return ret;
	}
	if (!names || n < 2)
		return 0;
	refs = malloc(n * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		refs[i].id = ids[i];
		refs[i].i = i;
	}
	qsort(refs, n, sizeof(*refs), id_ref_cmp);
	/* Every member of a run of equal identifiers falls back to addresses. */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && strcmp(refs[i].id, refs[j].id) == 0)
			j++;
		if (j - i > 1)
			for (size_t k = i; k < j; k++)
				refs[k].id = NULL;
		i = j;
	}
	for (size_t k = 0; k < n && ret >= 0; k++)
		if (!refs[k].id)
			ret = hf_flow_id(&flows[refs[k].i], ids[refs[k].i], HF_ID_MAX, NULL, NULL);
	free(refs);
	return ret > 0 ? 0 : ret;
}

/*
 * One end of a pin, "host:port" with an address (never a name), into
 * @addr/@plen/@port (0 for "many"). @end is NUL-terminated.
 */
static int pin_end(char *end, uint8_t *family, union hf_addr *addr, uint8_t *plen, uint16_t *port)
{
	char *colon, *us, *host = end;
	unsigned long p, bits;
	char *e;
	int fam;

	if (*host == '[') {
		char *close = strchr(host, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		*close = '\0';
		host++;
		colon = close + 1;
		fam = AF_INET6;
	} else {
		colon = strchr(host, ':');
		if (!colon)
			return -EINVAL;
		*colon = '\0';
		fam = AF_INET;
	}
	us = strchr(host, '_');
	bits = fam == AF_INET ? 32 : 128;
	if (us) {
		*us = '\0';
		if (!us[1] || us[1] < '0' || us[1] > '9')
			return -EINVAL;
		errno = 0;
		bits = strtoul(us + 1, &e, 10);
		if (errno || *e || bits < 1 || bits > (fam == AF_INET ? 32u : 128u))
			return -EINVAL;
	}
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(fam, host, addr) != 1)
		return -EINVAL;
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int keep = bits > i * 8 ? (unsigned int)bits - i * 8 : 0;
		if (keep < 8)
			addr->b[i] &= (uint8_t)(0xff00u >> keep);
	}
	if (strcmp(colon + 1, "many") == 0) {
		p = 0;
	} else {
		if (colon[1] < '0' || colon[1] > '9')
			return -EINVAL;
		errno = 0;
		p = strtoul(colon + 1, &e, 10);
		if (errno || *e || p < 1 || p > 65535)
			return -EINVAL;
	}
	*family = (uint8_t)fam;
	*plen = (uint8_t)bits;
	*port = (uint16_t)p;
	return 0;
}

/* "ct-tcp-", "ct-udp-", "ct-pN-": the protocol, and the length of the prefix; 0 when none. */
static size_t pin_ct_prefix(const char *s, uint8_t *proto)
{
	unsigned long p;
	char *end;

	if (strncmp(s, "ct-tcp-", 7) == 0) {
		*proto = IPPROTO_TCP;
		return 7;
	}
	if (strncmp(s, "ct-udp-", 7) == 0) {
		*proto = IPPROTO_UDP;
		return 7;
	}
	if (strncmp(s, "ct-p", 4) != 0 || s[4] < '0' || s[4] > '9')
		return 0;
	errno = 0;
	p = strtoul(s + 4, &end, 10);
	if (errno || p > 255 || *end != '-')
		return 0;
	*proto = (uint8_t)p;
	return (size_t)(end + 1 - s);
}

int hf_pin_parse(const char *s, struct hf_flow *out, bool *conntrack)
{
	char buf[HF_ID_MAX], *local, *peer, *sep, *rest;
	uint8_t lfam, pfam, lplen, pplen, proto = IPPROTO_TCP;
	uint16_t lport, pport;
	size_t pre;
	int dir;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	strcpy(buf, s);
	pre = pin_ct_prefix(buf, &proto);
	*conntrack = pre > 0;
	rest = buf + pre;
	if (strncmp(rest, "passive-", 8) == 0)
		dir = HF_DIR_PASSIVE, local = rest + 8;
	else if (strncmp(rest, "active-", 7) == 0)
		dir = HF_DIR_ACTIVE, local = rest + 7;
	else if (pre && strncmp(rest, "forwarded-", 10) == 0)
		dir = HF_DIR_FORWARDED, local = rest + 10;
	else
		return -EINVAL;
	/* The local end ends at the first '-' after its port (past any ']'): a port holds none. */
	sep = local[0] == '[' ? strchr(local, ']') : local;
	if (sep)
		sep = strchr(sep, ':');
	if (sep)
		sep = strchr(sep, '-');
	if (!sep)
		return -EINVAL;
	*sep = '\0';
	peer = sep + 1;
	if (pin_end(local, &lfam, &out->laddr, &lplen, &lport) < 0 ||
	    pin_end(peer, &pfam, &out->paddr, &pplen, &pport) < 0)
		return -EINVAL;
	if (lfam != pfam || lplen != (lfam == AF_INET ? 32 : 128))
		return -EINVAL;
	/*
	 * As the collectors key flows: the service port on its side, the other
	 * "many"; conntrack flows of protocols without ports have neither.
	 */
	if (!(pre && lport == 0 && pport == 0 && proto != IPPROTO_TCP && proto != IPPROTO_UDP) &&
	    (dir == HF_DIR_PASSIVE ? (lport == 0 || pport != 0) : (lport != 0 || pport == 0)))
		return -EINVAL;
	out->dir = (uint8_t)dir;
	out->proto = proto;
	out->family = lfam;
	out->pplen = pplen;
	out->lport = lport;
	out->pport = pport;
	return 0;
}
