/*
 * ids.c - dimension and chart ids of hostflow.plugin, and protocol words.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nd.h"

/*
 * Dimension and chart ids: lower-case letters, digits and '_' only, one per
 * key, the same on every tick and across restarts:
 *
 *   flow      p4_10_0_1_10_3306_10_0_1_9_many     passive, IPv4: local end, peer end
 *             a6_2001xdb8xx1_many_2001xdb8xx11_443  active, IPv6
 *   listener  v4_0_0_0_0_80, v6_xx_443
 *   conntrack udp_f4_198_51_100_2_many_198_51_100_3_53  forwarded: initiator, responder
 *
 * An IPv4 address is four '_'-separated fields, an IPv6 address a single
 * field (groups joined by 'x', "::" written "xx", never a dotted tail), a
 * port is decimal or "many", a peer prefix "_s" and its length: every field
 * has a fixed place, so two keys never share an id. The dimension name
 * carries the readable flow.
 */
struct idbuf {
	char *buf;
	size_t len, off;
};

static void id_put(struct idbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void id_put(struct idbuf *b, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(b->off < b->len ? b->buf + b->off : NULL,
		      b->off < b->len ? b->len - b->off : 0, fmt, ap);
	va_end(ap);
	if (w > 0)
		b->off += (size_t)w;
}

static void id_put_addr(struct idbuf *b, int family, const union hf_addr *a, unsigned int plen)
{
	unsigned int full = family == AF_INET ? 32 : 128;

	if (family == AF_INET) {
		id_put(b, "%u_%u_%u_%u", a->b[0], a->b[1], a->b[2], a->b[3]);
	} else {
		unsigned int g[8];
		int best = -1, best_n = 1;

		for (int i = 0; i < 8; i++)
			g[i] = (unsigned int)a->b[2 * i] << 8 | a->b[2 * i + 1];
		/* The first longest run of two or more zero groups, as RFC 5952 compresses it. */
		for (int i = 0; i < 8;) {
			int n = 0;
			while (i + n < 8 && g[i + n] == 0)
				n++;
			if (n > best_n) {
				best = i;
				best_n = n;
			}
			i += n ? n : 1;
		}
		for (int i = 0; i < 8; i++) {
			if (i == best) {
				id_put(b, "xx");
				i += best_n - 1;
				continue;
			}
			id_put(b, "%s%x", i > 0 && i != best + best_n ? "x" : "", g[i]);
		}
	}
	if (plen && plen < full)
		id_put(b, "_s%u", plen);
}

static void id_put_port(struct idbuf *b, uint16_t port)
{
	if (port)
		id_put(b, "_%u", port);
	else
		id_put(b, "_many");
}

/* The dimension id of flow @f into @buf (ND_ID_MAX bytes); returns its length. */
size_t nd_flow_id(const struct hf_flow *f, char *buf, size_t len)
{
	struct idbuf b = { buf, len, 0 };

	buf[0] = '\0';
	id_put(&b, "%c%c_",
	       f->dir == HF_DIR_PASSIVE	  ? 'p' :
	       f->dir == HF_DIR_FORWARDED ? 'f' :
					    'a',
	       f->family == AF_INET ? '4' : '6');
	id_put_addr(&b, f->family, &f->laddr, 0);
	id_put_port(&b, f->lport);
	id_put(&b, "_");
	id_put_addr(&b, f->family, &f->paddr, f->pplen);
	id_put_port(&b, f->pport);
	return b.off;
}

/* A conntrack flow's: its protocol first, "udp_a4_...", "p47_f4_..." */
size_t nd_ct_flow_id(const struct hf_flow *f, char *buf, size_t len)
{
	const char *p = hf_proto_name(f->proto);
	int w = p ? snprintf(buf, len, "%s_", p) : snprintf(buf, len, "p%u_", f->proto);

	if (w < 0 || (size_t)w >= len)
		return (size_t)(w < 0 ? 0 : w);
	return (size_t)w + nd_flow_id(f, buf + w, len - (size_t)w);
}

/*
 * nd_ns_part - "_ns_" and @name in lower-case letters, digits and '_'; a
 * name longer than 40 bytes is cut to 31 and followed by '_' and 8 hex
 * digits of its FNV-1a hash: stable, and within netdata's id lengths.
 */
void nd_ns_part(const char *name, char *buf, size_t len)
{
	size_t n = strlen(name), keep = n > 40 ? 31 : n, o = 4;
	uint32_t h = 2166136261u;

	if (len < ND_NS_PART_MAX) {
		buf[0] = '\0';
		return;
	}
	memcpy(buf, "_ns_", 4);
	for (size_t i = 0; i < keep; i++) {
		char c = name[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '_';
		buf[o++] = c;
	}
	if (n > 40) {
		for (size_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)name[i]) * 16777619u;
		o += (size_t)snprintf(buf + o, len - o, "_%08x", h);
	}
	buf[o] = '\0';
}

/* The id of listener @l, "v4_0_0_0_0_80", into @buf; returns its length. */
size_t nd_listener_id(const struct hf_listener *l, char *buf, size_t len)
{
	struct idbuf b = { buf, len, 0 };

	buf[0] = '\0';
	id_put(&b, "v%c_", l->family == AF_INET ? '4' : '6');
	id_put_addr(&b, l->family, &l->addr, 0);
	id_put_port(&b, l->port);
	return b.off;
}

/*
 * Copy @s into @buf as a quotable protocol word: quotes and backslashes
 * (which netdata's splitter would take as syntax) and control bytes become
 * '_'; cut to @len - 1 bytes.
 */
void nd_word(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool syntax = c < 0x20 || c == 0x7f || c == '\'' || c == '"' || c == '\\';

		buf[i] = syntax ? '_' : (char)c;
	}
	buf[i] = '\0';
}
