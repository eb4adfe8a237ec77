/*
 * nlmsg.h - the reply loop every netlink read of libhostflow shares
 * (sock_diag in diag.c, ctnetlink and rtnetlink in nfct.c), private to
 * the library. Inlined with its handler, so that the per-socket path of a
 * dump pays no indirect call.
 */
#ifndef HOSTFLOW_NLMSG_H
#define HOSTFLOW_NLMSG_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <libmnl/libmnl.h>

/* A message's handler: 0 to go on, non-zero to stop (returned). */
typedef int (*hf__msg_cb)(const struct nlmsghdr *nlh, void *arg, const char **what);

/*
 * hf__nl_handle - the messages of one netlink read: each length checked,
 * the sequence number too unless @any_seq (events), acknowledgements
 * and NLMSG_NOOP skipped, every other message to @cb. Returns 1 at
 * NLMSG_DONE, 0 when more is to come, @cb's non-zero return, or a negative
 * errno with *@what naming the step.
 */
static inline __attribute__((always_inline)) int hf__nl_handle(const void *buf, int len,
							       uint32_t seq, bool any_seq,
							       hf__msg_cb cb, void *arg,
							       const char **what)
{
	const struct nlmsghdr *nlh = buf;
	int ret;

	/*
	 * Not mnl_nlmsg_ok(): libmnl 1.0.4 compares (int)nlmsg_len <= len, so a
	 * length of 2^31 or more would pass and mnl_nlmsg_next() jump past the
	 * buffer.
	 */
	while (len >= (int)sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
	       nlh->nlmsg_len <= (unsigned int)len) {
		if (!any_seq && nlh->nlmsg_seq != seq) {
			*what = "reply with a foreign sequence number";
			return -EPROTO;
		}
		switch (nlh->nlmsg_type) {
		case NLMSG_DONE:
			/* A dump that failed in the kernel ends with its errno in NLMSG_DONE. */
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
			break; /* an acknowledgement */
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

#endif /* HOSTFLOW_NLMSG_H */
