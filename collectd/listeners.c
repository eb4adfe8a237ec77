/*
 * collectd/listeners.c - per listener: accept queue, backlog, fill,
 * half-open and established connections, for the MaxListeners fullest
 * (hf_select, HF_SELECT_LISTENERS), each under its namespace's host.
 */
#include "cd.h"

int cd_submit_listeners(struct hf_cd *cd, uint64_t now)
{
	const struct hf_series *ser;
	const struct hf_listener *l;
	size_t n;
	int ret;

	l = hf_listeners(cd->ctx, &n);
	ret = hf_select_listeners(cd->listeners, l, n, &cd->opts.filter, now);
	if (ret < 0)
		return ret;
	ser = hf_select_series(cd->listeners, &n);
	for (size_t i = 0; i < n; i++) {
		const struct hf_listener *li = &ser[i].listener;
		const char *host = cd_ns_host(&cd->ns, cd->ctx, li->netns);
		double fill = hf_listener_fill(li);

		if (!host)
			continue;
		cd_submit_gauge(cd, host, ser[i].id, "queue_length", "accept", li->accept_queue);
		/* A listener that is gone has no backlog: its zeros say it holds nothing. */
		if (li->backlog_known && !ser[i].ended)
			cd_submit_gauge(cd, host, ser[i].id, "queue_length", "backlog",
					li->backlog);
		if (fill >= 0)
			cd_submit_gauge(cd, host, ser[i].id, "percent", "fill", fill);
		cd_submit_gauge(cd, host, ser[i].id, "tcp_connections", "SYN_RECV", li->syn_recv);
		cd_submit_gauge(cd, host, ser[i].id, "tcp_connections", "ESTABLISHED",
				li->established);
	}
	return 0;
}
