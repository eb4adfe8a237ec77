/*
 * test_diag.c - the inet_diag parser and the dump loop's message handling,
 * on netlink messages crafted with libmnl's put helpers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include "hostflow.h"
#include "internal.h"
#include "tap.h"

static char buf[8192] __attribute__((aligned(8)));

/* Append one inet_diag reply at @at; returns the header. */
static struct nlmsghdr *put_sock(void *at, uint32_t seq, int family, const char *src,
				 uint16_t sport, const char *dst, uint16_t dport, uint8_t state,
				 uint32_t inode)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	struct inet_diag_msg *m;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = seq;
	m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));
	m->idiag_family = (uint8_t)family;
	m->idiag_state = state;
	m->id.idiag_sport = htons(sport);
	m->id.idiag_dport = htons(dport);
	inet_pton(family, src, m->id.idiag_src);
	inet_pton(family, dst, m->id.idiag_dst);
	m->idiag_inode = inode;
	m->idiag_rqueue = 3;
	m->idiag_wqueue = 128;
	return nlh;
}

static void *next(struct nlmsghdr *nlh)
{
	return (char *)nlh + NLMSG_ALIGN(nlh->nlmsg_len);
}

static struct hf_sock got[16];
static int ngot;

static int collect(const struct hf_sock *s, void *arg)
{
	(void)arg;
	if (ngot < 16)
		got[ngot++] = *s;
	return 0;
}

static void test_parse_v4(void)
{
	struct hf_sock s;
	struct nlmsghdr *nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 40001,
					HF_ESTABLISHED, 1234);
	char a[HF_ADDRSTRLEN];

	EQ_INT(hf_diag_parse(nlh, &s), 0, "IPv4 message parses");
	EQ_INT(s.family, AF_INET, "IPv4 family");
	EQ_STR(hf_addr_str(AF_INET, &s.laddr, 0, a, sizeof(a)), "198.51.100.1", "IPv4 source");
	EQ_STR(hf_addr_str(AF_INET, &s.raddr, 0, a, sizeof(a)), "198.51.100.11", "IPv4 peer");
	EQ_INT(s.lport, 80, "source port in host order");
	EQ_INT(s.rport, 40001, "peer port in host order");
	EQ_INT(s.state, HF_ESTABLISHED, "state");
	EQ_INT(s.inode, 1234, "inode");
	EQ_INT(s.rqueue, 3, "rqueue");
	EQ_INT(s.wqueue, 128, "wqueue");
	OK(!s.v6only_known, "no V6ONLY attribute on IPv4");
}

static void test_parse_v6_attrs(void)
{
	struct hf_sock s;
	struct nlmsghdr *nlh =
		put_sock(buf, 1, AF_INET6, "2001:db8::1", 443, "::", 0, HF_LISTEN, 77);
	char a[HF_ADDRSTRLEN];

	mnl_attr_put_u32(nlh, 99, 0xdeadbeef); /* unknown: skipped */
	mnl_attr_put_u8(nlh, INET_DIAG_SKV6ONLY, 1);
	mnl_attr_put_u8(nlh, INET_DIAG_SHUTDOWN, 0);
	EQ_INT(hf_diag_parse(nlh, &s), 0, "IPv6 message with attributes parses");
	EQ_INT(s.family, AF_INET6, "IPv6 family");
	EQ_STR(hf_addr_str(AF_INET6, &s.laddr, 0, a, sizeof(a)), "2001:db8::1", "IPv6 source");
	OK(s.v6only_known && s.v6only, "INET_DIAG_SKV6ONLY read past an unknown attribute");

	nlh = put_sock(buf, 1, AF_INET6, "::ffff:198.51.100.1", 443, "::ffff:198.51.100.16", 40005,
		       HF_ESTABLISHED, 78);
	mnl_attr_put_u8(nlh, INET_DIAG_SKV6ONLY, 0);
	EQ_INT(hf_diag_parse(nlh, &s), 0, "v4-mapped message parses");
	OK(s.family == AF_INET && s.mapped, "v4-mapped becomes IPv4");
	EQ_STR(hf_addr_str(s.family, &s.laddr, 0, a, sizeof(a)), "198.51.100.1",
	       "v4-mapped local printed as IPv4");
	EQ_STR(hf_addr_str(s.family, &s.raddr, 0, a, sizeof(a)), "198.51.100.16",
	       "v4-mapped peer printed as IPv4");
}

/* SYN_RECV: a request socket's message carries no INET_DIAG_SHUTDOWN, a full socket's does. */
static void test_parse_request(void)
{
	struct hf_sock s;
	struct nlmsghdr *nlh;

	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 40000, HF_SYN_RECV, 0);
	EQ_INT(hf_diag_parse(nlh, &s), 0, "a request socket's message parses");
	OK(s.request, "SYN_RECV with no attribute: a request socket");

	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 40000, HF_SYN_RECV, 0);
	mnl_attr_put_u32(nlh, INET_DIAG_MARK, 7); /* sent for a request socket to CAP_NET_ADMIN */
	EQ_INT(hf_diag_parse(nlh, &s), 0, "a request socket's message with its mark parses");
	OK(s.request, "SYN_RECV with INET_DIAG_MARK alone: a request socket");

	nlh = put_sock(buf, 1, AF_INET6, "2001:db8::1", 80, "2001:db8::11", 40000, HF_SYN_RECV, 0);
	mnl_attr_put_u8(nlh, INET_DIAG_SHUTDOWN, 0);
	mnl_attr_put_u8(nlh, INET_DIAG_SKV6ONLY, 1);
	EQ_INT(hf_diag_parse(nlh, &s), 0, "a listener's child in SYN_RECV parses");
	OK(!s.request, "SYN_RECV with INET_DIAG_SHUTDOWN: a full socket (a listener's child)");
	OK(!s.v6only_known, "a connection's INET_DIAG_SKV6ONLY is left unread");

	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 40000, HF_ESTABLISHED,
		       5);
	EQ_INT(hf_diag_parse(nlh, &s), 0, "an established socket's message parses");
	OK(!s.request, "ESTABLISHED: never a request socket");

	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 40000, HF_SYN_RECV, 0);
	mnl_attr_put(nlh, INET_DIAG_SHUTDOWN, 0, NULL);
	((struct nlattr *)mnl_nlmsg_get_payload_tail(nlh) - 1)->nla_len = 200;
	EQ_INT(hf_diag_parse(nlh, &s), -EBADMSG,
	       "a SYN_RECV attribute past its message is an error");
}

static void test_parse_broken(void)
{
	struct hf_sock s;
	struct nlmsghdr *nlh;
	struct nlattr *attr;

	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 1, 1, 1);
	nlh->nlmsg_len = sizeof(*nlh) + sizeof(struct inet_diag_msg) - 4;
	EQ_INT(hf_diag_parse(nlh, &s), -EBADMSG, "truncated inet_diag_msg is an error");

	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "0.0.0.0", 0, HF_LISTEN, 1);
	attr = (struct nlattr *)mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put_u32(nlh, 99, 1);
	attr->nla_len = 200; /* runs past the message */
	EQ_INT(hf_diag_parse(nlh, &s), -EBADMSG,
	       "a listener's attribute longer than its message is an error");

	nlh = put_sock(buf, 1, AF_INET6, "2001:db8::1", 80, "::", 0, HF_LISTEN, 1);
	mnl_attr_put(nlh, INET_DIAG_SKV6ONLY, 0, NULL); /* u8 with no payload */
	EQ_INT(hf_diag_parse(nlh, &s), -EBADMSG, "INET_DIAG_SKV6ONLY without payload is an error");

	/* A connection's attributes are never read: the hot path skips the walk. */
	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 1, HF_ESTABLISHED, 1);
	attr = (struct nlattr *)mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put_u32(nlh, 99, 1);
	attr->nla_len = 200;
	EQ_INT(hf_diag_parse(nlh, &s), 0, "a connection's attributes are not walked");

	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 1, 1, 1);
	nlh->nlmsg_type = 16; /* RTM_NEWLINK */
	EQ_INT(hf_diag_parse(nlh, &s), -EPROTO, "a message of another type is refused");

	nlh = put_sock(buf, 1, AF_INET, "198.51.100.1", 80, "198.51.100.11", 1, 1, 1);
	((struct inet_diag_msg *)mnl_nlmsg_get_payload(nlh))->idiag_family = AF_UNIX;
	EQ_INT(hf_diag_parse(nlh, &s), -EAFNOSUPPORT, "a foreign family is reported as such");
}

static int handle(void *b, int len, uint32_t seq, const char **what)
{
	ngot = 0;
	*what = "";
	return hf__diag_handle(b, len, seq, HF_FAMILY_ALL, collect, NULL, what);
}

static void test_handle(void)
{
	struct nlmsghdr *a, *b, *done, *err;
	const char *what;
	int len;

	a = put_sock(buf, 7, AF_INET, "198.51.100.1", 80, "198.51.100.11", 40001, 1, 1);
	b = put_sock(next(a), 7, AF_INET6, "2001:db8::1", 443, "2001:db8::2", 40002, 1, 2);
	done = mnl_nlmsg_put_header(next(b));
	done->nlmsg_type = NLMSG_DONE;
	done->nlmsg_seq = 7;
	*(int *)mnl_nlmsg_put_extra_header(done, sizeof(int)) = 0;
	len = (int)((char *)next(done) - buf);
	EQ_INT(handle(buf, len, 7, &what), 1, "two sockets then NLMSG_DONE: done");
	EQ_INT(ngot, 2, "both sockets delivered");

	len = (int)((char *)next(b) - buf);
	EQ_INT(handle(buf, len, 7, &what), 0, "two sockets, no NLMSG_DONE yet: more to read");

	EQ_INT(handle(buf, len - 10, 7, &what), -EBADMSG, "a truncated message is an error");
	EQ_STR(what, "truncated netlink message", "truncation named");

	EQ_INT(handle(buf, len, 8, &what), -EPROTO, "a foreign sequence number is an error");

	*(int *)mnl_nlmsg_get_payload(done) = -EINTR;
	len = (int)((char *)next(done) - buf);
	EQ_INT(handle(buf, len, 7, &what), -EINTR, "an error-bearing NLMSG_DONE is an error");
	EQ_STR(what, "NLMSG_DONE carrying an error", "NLMSG_DONE error named");
	OK(ngot == 2, "sockets before the failing NLMSG_DONE were seen");

	err = mnl_nlmsg_put_header(buf);
	err->nlmsg_type = NLMSG_ERROR;
	err->nlmsg_seq = 7;
	struct nlmsgerr *e = mnl_nlmsg_put_extra_header(err, sizeof(*e));
	e->error = -EPERM;
	EQ_INT(handle(buf, (int)err->nlmsg_len, 7, &what), -EPERM, "NLMSG_ERROR is an error");
	EQ_STR(what, "NLMSG_ERROR", "NLMSG_ERROR named");

	err->nlmsg_len = sizeof(*err) + 2;
	EQ_INT(handle(buf, (int)err->nlmsg_len, 7, &what), -EBADMSG,
	       "a short NLMSG_ERROR is an error");

	a = put_sock(buf, 7, AF_INET, "198.51.100.1", 80, "198.51.100.11", 40001, 1, 1);
	a->nlmsg_len = sizeof(*a) + 8;
	EQ_INT(handle(buf, (int)a->nlmsg_len, 7, &what), -EBADMSG,
	       "a socket message too short for inet_diag_msg stops the dump");
}

static void test_real_dump(void)
{
	struct hf_diag *d = hf_diag_open();

	if (!d) {
		OK(1, "real dump # SKIP netlink sock_diag unavailable: %s", strerror(errno));
		return;
	}
	ngot = 0;
	EQ_INT(hf_diag_dump(d, HF_DIAG_COMPAT, 1u << HF_LISTEN, HF_FAMILY_ALL, collect, NULL), 0,
	       "a real LISTEN dump (legacy request) succeeds");
	int compat = ngot;
	ngot = 0;
	EQ_INT(hf_diag_dump(d, HF_DIAG_BY_FAMILY, 1u << HF_LISTEN, HF_FAMILY_ALL, collect, NULL), 0,
	       "a real LISTEN dump (per family) succeeds");
	EQ_INT(ngot, compat, "both request kinds see the same listeners");
	hf_diag_close(d);
}

int main(void)
{
	test_parse_v4();
	test_parse_v6_attrs();
	test_parse_request();
	test_parse_broken();
	test_handle();
	test_real_dump();
	return tap_failed != 0;
}
