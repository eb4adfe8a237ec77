/*
 * test_collectd_naming.c - the identifiers the collectd plugin gives flows
 * and listeners (plugin/naming.c): their spelling, names and their
 * fall-backs, the 127-byte limit, and that every identifier parses back to
 * its flow.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "tap.h"

static struct hf_flow flow(int dir, const char *l, uint16_t lport, const char *p, unsigned int plen,
			   uint16_t pport)
{
	struct hf_flow f;

	memset(&f, 0, sizeof(f));
	f.dir = (uint8_t)dir;
	f.family = strchr(l, ':') ? AF_INET6 : AF_INET;
	inet_pton(f.family, l, &f.laddr);
	inet_pton(f.family, p, &f.paddr);
	f.pplen = (uint8_t)(plen ? plen : (f.family == AF_INET ? 32 : 128));
	f.lport = lport;
	f.pport = pport;
	return f;
}

static const char *id_of(const struct hf_flow *f)
{
	static char buf[HF_ID_MAX];

	if (hf_flow_id(f, buf, sizeof(buf), NULL, NULL) < 0)
		return "(error)";
	return buf;
}

/* Names by address, for the tests: a table the callback looks in. */
struct names {
	const char *addr[8];
	const char *name[8];
};

static const char *name_of(int family, const union hf_addr *a, unsigned int plen, void *arg)
{
	struct names *n = arg;
	char s[INET6_ADDRSTRLEN];

	(void)plen;
	inet_ntop(family, a, s, sizeof(s));
	for (int i = 0; i < 8 && n->addr[i]; i++)
		if (strcmp(n->addr[i], s) == 0)
			return n->name[i];
	return NULL;
}

/*
 * The parser collectd-hostflow(5) describes, written from the grammar
 * alone: Returns 0 and fills @f, or -1.
 */
static int parse_end(const char **s, int *family, union hf_addr *a, uint8_t *plen, uint16_t *port)
{
	char host[64];
	const char *p = *s, *end;
	size_t n;

	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || end[1] != ':')
			return -1;
		n = (size_t)(end - p - 1);
		p++;
		*family = AF_INET6;
		end++;
	} else {
		end = strchr(p, ':');
		if (!end)
			return -1;
		n = (size_t)(end - p);
		*family = AF_INET;
	}
	if (n >= sizeof(host))
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	char *u = strchr(host, '_');
	*plen = *family == AF_INET ? 32 : 128;
	if (u) {
		*u = '\0';
		*plen = (uint8_t)atoi(u + 1);
	}
	memset(a, 0, sizeof(*a));
	if (inet_pton(*family, host, a) != 1)
		return -1;
	p = end + 1; /* past ':' */
	if (strncmp(p, "many", 4) == 0) {
		*port = 0;
		p += 4;
	} else {
		char *e;
		unsigned long v = strtoul(p, &e, 10);
		if (e == p || v > 65535)
			return -1;
		*port = (uint16_t)v;
		p = e;
	}
	*s = p;
	return 0;
}

static int parse_id(const char *id, struct hf_flow *f)
{
	const char *s = id;
	int fam2;
	uint8_t lplen;

	memset(f, 0, sizeof(*f));
	if (strncmp(s, "passive-", 8) == 0) {
		f->dir = HF_DIR_PASSIVE;
		s += 8;
	} else if (strncmp(s, "active-", 7) == 0) {
		f->dir = HF_DIR_ACTIVE;
		s += 7;
	} else {
		return -1;
	}
	int fam;
	if (parse_end(&s, &fam, &f->laddr, &lplen, &f->lport) < 0 || *s++ != '-')
		return -1;
	if (parse_end(&s, &fam2, &f->paddr, &f->pplen, &f->pport) < 0 || *s || fam != fam2)
		return -1;
	f->family = (uint8_t)fam;
	return 0;
}

static void test_spelling(void)
{
	struct hf_flow f;
	struct hf_listener l;
	char buf[HF_ID_MAX];

	f = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 0);
	EQ_STR(id_of(&f), "passive-198.51.100.1:80-198.51.100.11:many", "IPv4 passive flow");
	f = flow(HF_DIR_ACTIVE, "2001:db8::1", 0, "2001:db8::2", 0, 443);
	EQ_STR(id_of(&f), "active-[2001:db8::1]:many-[2001:db8::2]:443", "IPv6 in brackets");
	f = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.0", 24, 0);
	EQ_STR(id_of(&f), "passive-198.51.100.1:80-198.51.100.0_24:many",
	       "IPv4 prefix, '/' as '_'");
	f = flow(HF_DIR_ACTIVE, "2001:db8::1", 0, "2001:db8::", 32, 5432);
	EQ_STR(id_of(&f), "active-[2001:db8::1]:many-[2001:db8::_32]:5432",
	       "IPv6 prefix in brackets");
	EQ_STR(hf_other_id(HF_DIR_PASSIVE), "passive-other", "passive other");
	EQ_STR(hf_other_id(HF_DIR_ACTIVE), "active-other", "active other");

	memset(&l, 0, sizeof(l));
	l.family = AF_INET;
	l.port = 80;
	EQ_INT(hf_listener_id(&l, buf, sizeof(buf)), 17, "listener length");
	EQ_STR(buf, "listen-0.0.0.0:80", "IPv4 wildcard listener");
	l.family = AF_INET6;
	l.port = 443;
	hf_listener_id(&l, buf, sizeof(buf));
	EQ_STR(buf, "listen-[::]:443", "IPv6 wildcard listener");
}

static void test_names(void)
{
	struct names n = {
		{ "198.51.100.1", "198.51.100.11", "198.51.100.12", "198.51.100.13",
		  "198.51.100.14", "198.51.100.15", "198.51.100.0" },
		{ "srv.example.net", "db-1.example.net", "bad_name.example", "198.51.100.99", "a:b",
		  "123", "net.example" },
	};
	struct hf_flow f;
	char buf[HF_ID_MAX];

	f = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 0);
	hf_flow_id(&f, buf, sizeof(buf), name_of, &n);
	EQ_STR(buf, "passive-srv.example.net:80-db-1.example.net:many", "names on both ends");
	const char *bad[] = { "198.51.100.12", "198.51.100.13", "198.51.100.14", "198.51.100.15" };
	const char *want[] = {
		"passive-srv.example.net:80-198.51.100.12:many",
		"passive-srv.example.net:80-198.51.100.13:many",
		"passive-srv.example.net:80-198.51.100.14:many",
		"passive-srv.example.net:80-198.51.100.15:many",
	};
	for (int i = 0; i < 4; i++) {
		f = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, bad[i], 0, 0);
		hf_flow_id(&f, buf, sizeof(buf), name_of, &n);
		EQ_STR(buf, want[i],
		       "a name with '_', an address as name, ':' or no letter: the address");
	}
	f = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.0", 24, 0);
	hf_flow_id(&f, buf, sizeof(buf), name_of, &n);
	EQ_STR(buf, "passive-srv.example.net:80-198.51.100.0_24:many", "no name for a prefix");

	OK(hf_id_name_ok("a"), "one letter is a name");
	OK(!hf_id_name_ok(""), "empty is no name");
	OK(!hf_id_name_ok("-a"), "leading '-' is no name");
	OK(!hf_id_name_ok("a-"), "trailing '-' is no name");
	OK(!hf_id_name_ok(".a"), "leading '.' is no name");
	OK(!hf_id_name_ok("127.1"), "digits and dots are no name");
	OK(!hf_id_name_ok("a/b"), "'/' is no name");
	OK(!hf_id_name_ok("a b"), "' ' is no name");
	OK(!hf_id_name_ok("[a]"), "brackets are no name");
}

static void test_length(void)
{
	char l100[101], p120[121], buf[HF_ID_MAX];
	struct names n = { { "198.51.100.1", "198.51.100.11" }, { l100, p120 } };
	struct hf_flow f;
	int r;

	memset(l100, 'l', 100);
	l100[100] = '\0';
	memset(p120, 'p', 120);
	p120[120] = '\0';
	f = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 0);
	/* "passive-" 8 + 100 + ":80-" 4 + 120 + ":many" 5: too long; so is 8 + 15 + 4 + 125 */
	r = hf_flow_id(&f, buf, sizeof(buf), name_of, &n);
	EQ_STR(buf, "passive-198.51.100.1:80-198.51.100.11:many", "names too long: both addresses");
	EQ_INT(r, (long long)strlen(buf), "returns the length");
	p120[90] = '\0';
	hf_flow_id(&f, buf, sizeof(buf), name_of, &n);
	OK(strncmp(buf, "passive-198.51.100.1:80-ppp", 27) == 0 && strlen(buf) <= 127,
	   "the local name goes first: %s", buf);

	/* The longest identifier of addresses: two full IPv6 addresses, a prefix, a port. */
	f = flow(HF_DIR_PASSIVE, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 127, 0);
	r = hf_flow_id(&f, buf, sizeof(buf), NULL, NULL);
	OK(r > 0 && r <= 127, "the longest address identifier fits in 127 bytes (%d)", r);
	EQ_INT(hf_flow_id(&f, buf, 20, NULL, NULL), -ENOSPC, "-ENOSPC when it does not fit");
	EQ_STR(buf, "", "and an empty string");
}

static void test_unique(void)
{
	struct names n = { { "198.51.100.11", "198.51.100.12", "198.51.100.13" },
			   { "lb.example.net", "lb.example.net", "c3.example.net" } };
	struct hf_flow f[3];
	char ids[3][HF_ID_MAX];

	f[0] = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0, 0);
	f[1] = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.12", 0, 0);
	f[2] = flow(HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.13", 0, 0);
	EQ_INT(hf_flow_ids(f, 3, ids, name_of, &n), 0, "hf_flow_ids");
	EQ_STR(ids[0], "passive-198.51.100.1:80-198.51.100.11:many", "a shared name: the address");
	EQ_STR(ids[1], "passive-198.51.100.1:80-198.51.100.12:many", "both of them");
	EQ_STR(ids[2], "passive-198.51.100.1:80-c3.example.net:many", "a name of its own stays");
}

/* Random flows, prefixes included: each identifier parses back to its key. */
static void test_round_trip(void)
{
	unsigned int bad = 0, n = 20000, seed = 1;
	char first_bad[HF_ID_MAX] = "";

	for (unsigned int i = 0; i < n; i++) {
		struct hf_flow f, g;
		memset(&f, 0, sizeof(f));
		f.dir = (uint8_t)(rand_r(&seed) % 2 ? HF_DIR_PASSIVE : HF_DIR_ACTIVE);
		f.family = (uint8_t)(rand_r(&seed) % 2 ? AF_INET6 : AF_INET);
		unsigned int full = f.family == AF_INET ? 32 : 128, bytes = full / 8;
		for (unsigned int b = 0; b < bytes; b++) {
			/* runs of zeros, so that "::" is exercised */
			f.laddr.b[b] = (uint8_t)(rand_r(&seed) % 3 ? 0 : rand_r(&seed));
			f.paddr.b[b] = (uint8_t)(rand_r(&seed) % 3 ? 0 : rand_r(&seed));
		}
		f.pplen = (uint8_t)(rand_r(&seed) % 4 ? full : 1 + rand_r(&seed) % full);
		if (f.pplen < full) /* as the core masks a grouped peer */
			for (unsigned int b = 0; b < bytes; b++) {
				int keep = (int)f.pplen - (int)b * 8;
				f.paddr.b[b] &= keep >= 8 ? 0xff :
						keep <= 0 ? 0 :
							    (uint8_t)(0xff << (8 - keep));
			}
		if (f.dir == HF_DIR_PASSIVE)
			f.lport = (uint16_t)(1 + rand_r(&seed) % 65535);
		else
			f.pport = (uint16_t)(1 + rand_r(&seed) % 65535);
		const char *id = id_of(&f);
		if (parse_id(id, &g) < 0 || !hf_flow_key_eq(&f, &g) || strchr(id, '/') ||
		    strlen(id) > 127) {
			if (!bad++)
				snprintf(first_bad, sizeof(first_bad), "%s", id);
		}
	}
	OK(bad == 0, "%u random identifiers parse back to their flows (%u did not)", n, bad);
	if (bad)
		printf("#   first: %s\n", first_bad);
}

/* The collectd host of a namespace: virt-like "HOSTNAME:NAME", sanitized, bounded. */
static void test_netns_host(void)
{
	struct hf_netns ns;
	char buf[HF_ID_MAX];

	memset(&ns, 0, sizeof(ns));
	ns.inode = 4026532999u;
	ns.self = true;
	snprintf(ns.name, sizeof(ns.name), "host");
	EQ_INT(hf_netns_host(&ns, "node1", buf, sizeof(buf)), 0, "own namespace: empty");
	EQ_STR(buf, "", "own namespace keeps the Hostname");
	ns.self = false;
	hf_netns_host(&ns, "node1", buf, sizeof(buf));
	EQ_STR(buf, "node1:host", "pid 1's namespace, seen from another");
	snprintf(ns.name, sizeof(ns.name), "shop/web-0");
	EQ_INT(hf_netns_host(&ns, "node1", buf, sizeof(buf)), 16, "pod length");
	EQ_STR(buf, "node1:shop_web-0", "'/' of NS/POD written '_'");
	snprintf(ns.name, sizeof(ns.name), "a b\"c\td");
	hf_netns_host(&ns, "my.host", buf, sizeof(buf));
	EQ_STR(buf, "my.host:a_b_c_d", "blanks and quotes written '_', the host name kept");
	memset(ns.name, 'n', sizeof(ns.name) - 1);
	ns.name[sizeof(ns.name) - 1] = '\0';
	hf_netns_host(&ns, "node1", buf, sizeof(buf));
	EQ_STR(buf, "node1:netns-4026532999", "too long for 127 bytes: the inode");
	EQ_INT(hf_netns_host(&ns, "node1", buf, 8), -ENOSPC, "not even the inode fits");
}

int main(void)
{
	test_netns_host();
	test_spelling();
	test_names();
	test_length();
	test_unique();
	test_round_trip();
	return tap_failed != 0;
}
