/*
 * diag.c - the inet_diag dump loop over one NETLINK_SOCK_DIAG socket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include "hostflow.h"
#include "internal.h"
#include "nlmsg.h"

/*
 * 32 KiB: the kernel sizes each dump skb to the reader's last recvmsg buffer
 * (netlink_dump(), max_recvmsg_len), so one recv carries ~200 sockets; more
 * buys little and costs cache.
 */
#define HF__DIAG_BUF 32768

struct hf_diag {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	const char *what; /* the step of the last failure */
	char buf[HF__DIAG_BUF] __attribute__((aligned(8)));
};

struct hf_diag *hf_diag_open(void)
{
	struct hf_diag *d;
	int err;

	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->nl = mnl_socket_open(NETLINK_SOCK_DIAG);
	if (!d->nl) {
		err = errno;
		goto out_free;
	}
	if (mnl_socket_bind(d->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;
		goto out_close;
	}
	d->portid = mnl_socket_get_portid(d->nl);
	d->seq = 0;
	d->what = "";
	return d;

out_close:
	mnl_socket_close(d->nl);
out_free:
	free(d);
	errno = err;
	return NULL;
}

void hf_diag_close(struct hf_diag *d)
{
	if (!d)
		return;
	mnl_socket_close(d->nl);
	free(d);
}

const char *hf_diag_strerror(const struct hf_diag *d)
{
	return d->what;
}

static int diag_send(struct hf_diag *d, enum hf_diag_mode mode, int family, uint32_t states)
{
	char req[256] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;

	memset(req, 0, sizeof(req));
	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	/* Sequence 0 is what unsolicited messages carry: never use it. */
	if (++d->seq == 0)
		d->seq = 1;
	nlh->nlmsg_seq = d->seq;
	if (mode == HF_DIAG_COMPAT) {
		struct inet_diag_req *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
		nlh->nlmsg_type = TCPDIAG_GETSOCK;
		/* The kernel turns a legacy request into AF_UNSPEC: both families, one walk. */
		r->idiag_family = AF_INET;
		r->idiag_ext = 0;
		r->idiag_states = states;
	} else {
		struct inet_diag_req_v2 *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		r->sdiag_family = (uint8_t)family;
		r->sdiag_protocol = IPPROTO_TCP;
		r->idiag_ext = 0;
		r->idiag_states = states;
	}
	if (mnl_socket_sendto(d->nl, nlh, nlh->nlmsg_len) < 0) {
		d->what = "send";
		return -errno;
	}
	return 0;
}

/* Which families a message may carry when @families is asked. */
static bool family_wanted(const struct hf_sock *s, unsigned int families)
{
	unsigned int bit = s->family == AF_INET ? HF_FAMILY_V4 : HF_FAMILY_V6;
	return (families & bit) != 0;
}

struct diag_arg {
	unsigned int families;
	hf_sock_cb cb;
	void *arg;
};

static inline int on_diag_msg(const struct nlmsghdr *nlh, void *arg, const char **what)
{
	const struct diag_arg *a = arg;
	struct hf_sock s;
	int ret = hf_diag_parse(nlh, &s);

	if (ret == -EAFNOSUPPORT)
		return 0;
	if (ret < 0) {
		*what = ret == -EPROTO ? "unexpected message type" : "malformed inet_diag message";
		return ret;
	}
	if (!family_wanted(&s, a->families))
		return 0;
	ret = a->cb(&s, a->arg);
	return ret ? (ret < 0 ? ret : -ECANCELED) : 0;
}

int hf__diag_handle(const void *buf, int len, uint32_t seq, unsigned int families, hf_sock_cb cb,
		    void *arg, const char **what)
{
	struct diag_arg a = { families, cb, arg };

	return hf__nl_handle(buf, len, seq, false, on_diag_msg, &a, what);
}

static int diag_recv(struct hf_diag *d, unsigned int families, hf_sock_cb cb, void *arg)
{
	for (;;) {
		ssize_t got = mnl_socket_recvfrom(d->nl, d->buf, sizeof(d->buf));
		int ret;

		if (got < 0) {
			/* ENOBUFS: the kernel dropped part of the dump; ENOSPC: a message overran the buffer. */
			d->what = "recv";
			return -errno;
		}
		if (got == 0) {
			d->what = "recv: netlink socket closed before NLMSG_DONE";
			return -EPIPE;
		}
		ret = hf__diag_handle(d->buf, (int)got, d->seq, families, cb, arg, &d->what);
		if (ret)
			return ret > 0 ? 0 : ret;
	}
}

int hf_diag_dump(struct hf_diag *d, enum hf_diag_mode mode, uint32_t states, unsigned int families,
		 hf_sock_cb cb, void *arg)
{
	static const int fam[2] = { AF_INET, AF_INET6 };
	int ret;

	d->what = "";
	if (families == 0)
		families = HF_FAMILY_ALL;
	if (mode == HF_DIAG_COMPAT) {
		ret = diag_send(d, mode, AF_UNSPEC, states);
		if (ret == 0)
			ret = diag_recv(d, families, cb, arg);
		return ret;
	}
	for (int i = 0; i < 2; i++) {
		/*
		 * A mapped IPv4 connection lives in an AF_INET6 socket: the
		 * IPv6 dump is needed for IPv4 too, so only IPv4 is skipped.
		 */
		if (fam[i] == AF_INET && !(families & HF_FAMILY_V4))
			continue;
		ret = diag_send(d, mode, fam[i], states);
		if (ret == 0)
			ret = diag_recv(d, families, cb, arg);
		if (ret)
			return ret;
	}
	return 0;
}
