/*
 * nfct.c - one network namespace's conntrack sockets: the ctnetlink dump,
 * the destroy-event socket and the RTM_GETADDR dump of its addresses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/rtnetlink.h>

#include "hostflow.h"
#include "internal.h"

/* As for inet_diag: the kernel sizes each dump skb to the reader's last buffer. */
#define HF__NFCT_BUF 32768

/* The event socket's receive buffer: ~4 MiB holds ~15,000 destroy events between reads. */
#define HF__NFCT_EVENT_RCVBUF (4 << 20)

struct hf_nfct {
	struct mnl_socket *ct;	   /* dumps */
	struct mnl_socket *rt;	   /* RTM_GETADDR */
	struct mnl_socket *events; /* NFNLGRP_CONNTRACK_DESTROY, or NULL */
	uint32_t seq;
	const char *what;
	char buf[HF__NFCT_BUF] __attribute__((aligned(8)));
};

static struct mnl_socket *nl_open(int bus, unsigned int groups)
{
	struct mnl_socket *nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
	int err;

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;
		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	return nl;
}

struct hf_nfct *hf_nfct_open(unsigned int flags)
{
	struct hf_nfct *h;
	int err, fd, size = HF__NFCT_EVENT_RCVBUF;

	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->what = "";
	h->ct = nl_open(NETLINK_NETFILTER, 0);
	if (!h->ct) {
		err = errno;
		goto out_free;
	}
	h->rt = nl_open(NETLINK_ROUTE, 0);
	if (!h->rt) {
		err = errno;
		goto out_ct;
	}
	if (flags & HF_NFCT_EVENTS) {
		/* Only the destroy group: new and update events would be one message per packet burst. */
		h->events = nl_open(NETLINK_NETFILTER, 0);
		if (!h->events) {
			err = errno;
			goto out_rt;
		}
		if (mnl_socket_setsockopt(h->events, NETLINK_ADD_MEMBERSHIP,
					  &(int){ NFNLGRP_CONNTRACK_DESTROY }, sizeof(int)) < 0) {
			err = errno;
			goto out_events;
		}
		fd = mnl_socket_get_fd(h->events);
		/* SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN; SO_RCVBUF is capped by it. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	return h;

out_events:
	mnl_socket_close(h->events);
out_rt:
	mnl_socket_close(h->rt);
out_ct:
	mnl_socket_close(h->ct);
out_free:
	free(h);
	errno = err;
	return NULL;
}

void hf_nfct_close(struct hf_nfct *h)
{
	if (!h)
		return;
	if (h->events)
		mnl_socket_close(h->events);
	mnl_socket_close(h->rt);
	mnl_socket_close(h->ct);
	free(h);
}

const char *hf_nfct_strerror(const struct hf_nfct *h)
{
	return h->what;
}

int hf_nfct_event_fd(const struct hf_nfct *h)
{
	return h->events ? mnl_socket_get_fd(h->events) : -1;
}

/* A message's handler: 0 to go on, non-zero to stop (returned). */
typedef int (*msg_cb)(const struct nlmsghdr *nlh, void *arg, const char **what);

/*
 * The messages of one netlink read, as hf__diag_handle(): lengths and
 * sequence checked (@seq 0: events, any sequence), NLMSG_DONE -> 1.
 */
static int nl_handle(const void *buf, int len, uint32_t seq, msg_cb cb, void *arg,
		     const char **what)
{
	const struct nlmsghdr *nlh = buf;
	int ret;

	/* Not mnl_nlmsg_ok(): see hf__diag_handle (libmnl 1.0.4 compares signed lengths). */
	while (len >= (int)sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
	       nlh->nlmsg_len <= (unsigned int)len) {
		if (seq && nlh->nlmsg_seq != seq) {
			*what = "reply with a foreign sequence number";
			return -EPROTO;
		}
		switch (nlh->nlmsg_type) {
		case NLMSG_DONE:
			if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
				int e;
				memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
				if (e < 0) {
					*what = "NLMSG_DONE carrying an error";
					return e;
				}
			}
			return 1;
		case NLMSG_ERROR: {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
				*what = "truncated NLMSG_ERROR";
				return -EBADMSG;
			}
			if (e->error < 0) {
				*what = "NLMSG_ERROR";
				return e->error;
			}
			break;
		}
		case NLMSG_NOOP:
			break;
		case NLMSG_OVERRUN:
			*what = "NLMSG_OVERRUN";
			return -ENOBUFS;
		default:
			ret = cb(nlh, arg, what);
			if (ret)
				return ret;
		}
		nlh = mnl_nlmsg_next(nlh, &len);
	}
	if (len != 0) {
		*what = "truncated netlink message";
		return -EBADMSG;
	}
	return 0;
}

struct ct_arg {
	hf_ct_cb cb;
	void *arg;
};

static int on_ct_msg(const struct nlmsghdr *nlh, void *arg, const char **what)
{
	struct ct_arg *a = arg;
	struct hf_ct_entry e;
	int ret = hf_ct_parse(nlh, &e);

	if (ret == -EAFNOSUPPORT)
		return 0;
	if (ret < 0) {
		*what = ret == -EPROTO ? "unexpected message type" : "malformed ctnetlink message";
		return ret;
	}
	ret = a->cb(&e, a->arg);
	return ret ? (ret < 0 ? ret : -ECANCELED) : 0;
}

int hf__ct_handle(const void *buf, int len, uint32_t seq, hf_ct_cb cb, void *arg, const char **what)
{
	struct ct_arg a = { cb, arg };

	return nl_handle(buf, len, seq, on_ct_msg, &a, what);
}

/* Send a dump request of @type with @family in the nfgenmsg or ifaddrmsg; 0 or -errno. */
static int dump_send(struct hf_nfct *h, struct mnl_socket *nl, uint16_t type, bool nf)
{
	char req[64] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;

	memset(req, 0, sizeof(req));
	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	if (++h->seq == 0)
		h->seq = 1;
	nlh->nlmsg_seq = h->seq;
	if (nf) {
		struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
		g->nfgen_family = AF_UNSPEC; /* both families (ctnetlink_dump_table()) */
		g->version = NFNETLINK_V0;
		g->res_id = 0;
	} else {
		struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
		ifa->ifa_family = AF_UNSPEC;
	}
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		h->what = "send";
		return -errno;
	}
	return 0;
}

static int dump_recv(struct hf_nfct *h, struct mnl_socket *nl, msg_cb cb, void *arg)
{
	for (;;) {
		ssize_t got = mnl_socket_recvfrom(nl, h->buf, sizeof(h->buf));
		int ret;

		if (got < 0) {
			h->what = "recv";
			return -errno;
		}
		if (got == 0) {
			h->what = "recv: netlink socket closed before NLMSG_DONE";
			return -EPIPE;
		}
		ret = nl_handle(h->buf, (int)got, h->seq, cb, arg, &h->what);
		if (ret)
			return ret > 0 ? 0 : ret;
	}
}

int hf_nfct_dump(struct hf_nfct *h, bool zero, hf_ct_cb cb, void *arg)
{
	struct ct_arg a = { cb, arg };
	uint16_t type = (NFNL_SUBSYS_CTNETLINK << 8) |
			(zero ? IPCTNL_MSG_CT_GET_CTRZERO : IPCTNL_MSG_CT_GET);
	int ret;

	h->what = "";
	ret = dump_send(h, h->ct, type, true);
	if (ret == 0)
		ret = dump_recv(h, h->ct, on_ct_msg, &a);
	return ret;
}

int hf_nfct_events(struct hf_nfct *h, hf_ct_cb cb, void *arg)
{
	h->what = "";
	if (!h->events) {
		h->what = "events";
		return -EINVAL;
	}
	for (;;) {
		ssize_t got = mnl_socket_recvfrom(h->events, h->buf, sizeof(h->buf));
		int ret;

		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			h->what = errno == ENOBUFS ? "events lost (ENOBUFS)" : "recv events";
			return -errno;
		}
		ret = hf__ct_handle(h->buf, (int)got, 0, cb, arg, &h->what);
		if (ret < 0)
			return ret;
	}
}

struct stats_arg {
	uint32_t count, max;
	bool got;
};

static int stats_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	unsigned int type = mnl_attr_get_type(attr);

	if (type <= CTA_STATS_GLOBAL_MAX)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int on_stats_msg(const struct nlmsghdr *nlh, void *arg, const char **what)
{
	const struct nlattr *tb[CTA_STATS_GLOBAL_MAX + 1] = { 0 };
	struct stats_arg *a = arg;

	if (NFNL_MSG_TYPE(nlh->nlmsg_type) != IPCTNL_MSG_CT_GET_STATS)
		return 0;
	if (nlh->nlmsg_len < sizeof(*nlh) + sizeof(struct nfgenmsg) ||
	    mnl_attr_parse(nlh, sizeof(struct nfgenmsg), stats_attr_cb, tb) < 0 ||
	    !tb[CTA_STATS_GLOBAL_ENTRIES] || !tb[CTA_STATS_GLOBAL_MAX_ENTRIES] ||
	    mnl_attr_validate(tb[CTA_STATS_GLOBAL_ENTRIES], MNL_TYPE_U32) < 0 ||
	    mnl_attr_validate(tb[CTA_STATS_GLOBAL_MAX_ENTRIES], MNL_TYPE_U32) < 0) {
		*what = "malformed IPCTNL_MSG_CT_GET_STATS reply";
		return -EBADMSG;
	}
	a->count = ntohl(mnl_attr_get_u32(tb[CTA_STATS_GLOBAL_ENTRIES]));
	a->max = ntohl(mnl_attr_get_u32(tb[CTA_STATS_GLOBAL_MAX_ENTRIES]));
	a->got = true;
	return 1; /* one reply, no NLMSG_DONE */
}

int hf_nfct_stats(struct hf_nfct *h, uint32_t *count, uint32_t *max)
{
	char req[64] __attribute__((aligned(8)));
	struct stats_arg a = { 0 };
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;
	int ret;

	h->what = "";
	memset(req, 0, sizeof(req));
	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	if (++h->seq == 0)
		h->seq = 1;
	nlh->nlmsg_seq = h->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	if (mnl_socket_sendto(h->ct, nlh, nlh->nlmsg_len) < 0) {
		h->what = "send";
		return -errno;
	}
	ret = dump_recv(h, h->ct, on_stats_msg, &a);
	if (ret == 0 && !a.got) {
		h->what = "IPCTNL_MSG_CT_GET_STATS: no reply";
		ret = -EBADMSG;
	}
	if (ret == 0) {
		*count = a.count;
		*max = a.max;
	}
	return ret;
}

/* ---- RTM_GETADDR ---------------------------------------------------------------------------- */

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	unsigned int type = mnl_attr_get_type(attr);

	if (type <= IFA_MAX)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int on_addr_msg(const struct nlmsghdr *nlh, void *arg, const char **what)
{
	struct hf_addrset *set = arg;
	const struct nlattr *tb[IFA_MAX + 1] = { 0 };
	const struct ifaddrmsg *ifa;
	const struct nlattr *a;
	union hf_addr addr;
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWADDR)
		return 0;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa)) {
		*what = "truncated RTM_NEWADDR";
		return -EBADMSG;
	}
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0) {
		*what = "malformed RTM_NEWADDR";
		return -EBADMSG;
	}
	/* IFA_LOCAL is the local end of a point-to-point link; IFA_ADDRESS otherwise. */
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	alen = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!a)
		return 0;
	if (mnl_attr_get_payload_len(a) != alen) {
		*what = "RTM_NEWADDR with a bad address length";
		return -EBADMSG;
	}
	memset(&addr, 0, sizeof(addr));
	memcpy(addr.b, mnl_attr_get_payload(a), alen);
	return hf_addrset_add(set, ifa->ifa_family, &addr);
}

int hf_nfct_addrs(struct hf_nfct *h, struct hf_addrset *set)
{
	int ret;

	set->n = 0;
	h->what = "";
	ret = dump_send(h, h->rt, RTM_GETADDR, false);
	if (ret == 0)
		ret = dump_recv(h, h->rt, on_addr_msg, set);
	if (ret == 0)
		hf_addrset_sort(set);
	else if (ret == -ENOMEM)
		h->what = "address list";
	return ret;
}

/* ---- /proc/net/nf_conntrack ------------------------------------------------------------------ */

int hf__ct_proc_dump(const char *path, char *buf, size_t cap, hf_ct_cb cb, void *arg)
{
	struct hf_ct_entry e;
	size_t start = 0, end = 0;
	bool eof = false;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (!eof || start < end) {
		char *nl = memchr(buf + start, '\n', end - start);

		if (!nl && !eof) {
			ssize_t n;
			if (start > 0) {
				memmove(buf, buf + start, end - start);
				end -= start;
				start = 0;
			}
			if (end == cap) {
				ret = -EBADMSG; /* a line longer than the buffer */
				goto out_close;
			}
			do
				n = read(fd, buf + end, cap - end);
			while (n < 0 && errno == EINTR);
			if (n < 0) {
				ret = -errno;
				goto out_close;
			}
			if (n == 0)
				eof = true;
			end += (size_t)n;
			continue;
		}
		size_t len = nl ? (size_t)(nl - (buf + start)) : end - start;
		if (len > 0) {
			ret = hf_ct_proc_parse_line(buf + start, len, &e);
			if (ret == 0)
				ret = cb(&e, arg);
			if (ret)
				goto out_close;
		}
		start += len + (nl ? 1 : 0);
	}
out_close:
	close(fd);
	return ret;
}
