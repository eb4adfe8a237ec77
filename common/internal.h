/*
 * internal.h - names shared inside libhostflow only (hf__ prefix).
 */
#ifndef HOSTFLOW_INTERNAL_H
#define HOSTFLOW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hostflow.h"

/* Every TCP state bit but LISTEN, request sockets (SYN_RECV) included. */
#define HF__STATES_CONN (((1u << HF_STATE_MAX) - 2u) & ~(1u << HF_LISTEN))
#define HF__STATES_LISTEN (1u << HF_LISTEN)

/*
 * hf__read_small - read at most @len - 1 bytes of a small file (/proc/sys)
 * into @buf, NUL-terminated. Returns the length or a negative errno.
 */
long hf__read_small(const char *path, char *buf, size_t len);

/* hf__addr_mask - clear all but the first @plen bits of @a. */
void hf__addr_mask(int family, union hf_addr *a, unsigned int plen);

/*
 * hf__diag_handle - the messages of one netlink read: check each length and
 * sequence number, parse sockets into @cb. Returns 1 at NLMSG_DONE, 0 when
 * more is to come, a negative errno (and *@what) otherwise. Pure, for tests.
 */
int hf__diag_handle(const void *buf, int len, uint32_t seq, unsigned int families, hf_sock_cb cb,
		    void *arg, const char **what);

/*
 * hf__ct_handle - the messages of one ctnetlink read (a dump's, or events'
 * with @seq 0: any sequence), as hf__diag_handle(). Pure, for tests.
 */
int hf__ct_handle(const void *buf, int len, uint32_t seq, hf_ct_cb cb, void *arg,
		  const char **what);

/*
 * hf__ct_proc_dump - read @path (/proc/net/nf_conntrack) line by line
 * through @buf of @cap bytes, calling @cb for each entry. Returns 0, the
 * callback's return, -EBADMSG for a malformed line or a negative errno.
 */
int hf__ct_proc_dump(const char *path, char *buf, size_t cap, hf_ct_cb cb, void *arg);

#endif /* HOSTFLOW_INTERNAL_H */
