/*
 * options.c - the one option vocabulary of the collectd and netdata plugins.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin.h"

void hf_options_init(struct hf_options *o, enum hf_agent agent)
{
	memset(o, 0, sizeof(*o));
	o->agent = agent;
	hf_filter_init(&o->filter);
	o->backend = HF_BACKEND_AUTO;
	o->report_states = false;
	o->report_listeners = true;
	o->resolve_names = false;
	o->max_flows = HF_MAX_FLOWS_DEFAULT;
	o->max_listeners = HF_MAX_LISTENERS_DEFAULT;
	o->sources = HF_SOURCES_SOCKETS;
	o->hold_time = HF_HOLD_TIME_DEFAULT;
	o->obsolete_after = 60;
}

enum key {
	K_REPORT_STATES,
	K_REPORT_LISTENERS,
	K_RESOLVE_NAMES,
	K_FILTER,
	K_IGNORE_LOOPBACK,
	K_INCLUDE_NET,
	K_EXCLUDE_NET,
	K_INCLUDE_PORT,
	K_EXCLUDE_PORT,
	K_PEER_PREFIX4,
	K_PEER_PREFIX6,
	K_MAX_FLOWS,
	K_BACKEND,
	K_OBSOLETE_AFTER,
	K_FAMILY,
	K_MAX_LISTENERS,
	K_HOLD_TIME,
	K_PIN,
	K_IGNORE_STATE,
	K_SOURCE,
	K_PROTOCOL,
	K_COUNT,
};

static const char *const key_names[K_COUNT] = {
	[K_REPORT_STATES] = "ReportStates",
	[K_REPORT_LISTENERS] = "ReportListeners",
	[K_RESOLVE_NAMES] = "ResolveNames",
	[K_FILTER] = "Filter",
	[K_IGNORE_LOOPBACK] = "IgnoreLoopback",
	[K_INCLUDE_NET] = "IncludeNet",
	[K_EXCLUDE_NET] = "ExcludeNet",
	[K_INCLUDE_PORT] = "IncludePort",
	[K_EXCLUDE_PORT] = "ExcludePort",
	[K_PEER_PREFIX4] = "PeerPrefix4",
	[K_PEER_PREFIX6] = "PeerPrefix6",
	[K_MAX_FLOWS] = "MaxFlows",
	[K_BACKEND] = "Backend",
	[K_OBSOLETE_AFTER] = "ObsoleteAfter",
	[K_FAMILY] = "Family",
	[K_MAX_LISTENERS] = "MaxListeners",
	[K_HOLD_TIME] = "HoldTime",
	[K_PIN] = "Pin",
	[K_IGNORE_STATE] = "IgnoreState",
	[K_SOURCE] = "Source",
	[K_PROTOCOL] = "Protocol",
};

/* Compare ignoring case, spaces, '_' and '-' (collectd's parser never passes a space). */
static bool key_eq(const char *canon, const char *given)
{
	for (;;) {
		while (*given == ' ' || *given == '_' || *given == '-' || *given == '\t')
			given++;
		if (!*canon || !*given)
			return !*canon && !*given;
		if (tolower((unsigned char)*canon) != tolower((unsigned char)*given))
			return false;
		canon++;
		given++;
	}
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_uint(const char *v, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	if (!*v || !isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	*out = strtoul(v, &end, 10);
	if (errno || *end || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

#define FAIL(code, ...)                             \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		return code;                        \
	} while (0)

int hf_options_set(struct hf_options *o, const char *key, const char *value, char *err,
		   size_t errlen)
{
	struct hf_filter *f = &o->filter;
	unsigned long n;
	int k;
	bool b;

	for (k = 0; k < K_COUNT; k++)
		if (key_eq(key_names[k], key))
			break;
	if (k == K_COUNT)
		FAIL(-ENOENT, "unknown option \"%s\"", key);
	if (!value)
		value = "";
	bool repeats = k == K_INCLUDE_NET || k == K_EXCLUDE_NET || k == K_INCLUDE_PORT ||
		       k == K_EXCLUDE_PORT || k == K_PIN || k == K_IGNORE_STATE || k == K_SOURCE ||
		       k == K_PROTOCOL;
	if (k == K_OBSOLETE_AFTER && o->agent == HF_AGENT_COLLECTD)
		FAIL(-ENOTSUP,
		     "option ObsoleteAfter is for the netdata plugin; collectd forgets a value "
		     "that is not updated by itself (its global Timeout)");
	if (k == K_REPORT_STATES && o->agent == HF_AGENT_NETDATA)
		FAIL(-ENOTSUP, "option ReportStates is for the collectd plugin; netdata charts the "
			       "TCP states per host (hostflow.states)");
	if (!repeats && (o->seen_ & (1ull << k)))
		FAIL(-EEXIST, "option %s given twice (second value \"%s\")", key_names[k], value);

	switch (k) {
	case K_REPORT_STATES:
	case K_REPORT_LISTENERS:
	case K_RESOLVE_NAMES:
	case K_IGNORE_LOOPBACK:
		if (parse_bool(value, &b) < 0)
			FAIL(-EINVAL, "option %s: \"%s\" is not a boolean (true or false)",
			     key_names[k], value);
		if (k == K_REPORT_STATES)
			o->report_states = b;
		else if (k == K_REPORT_LISTENERS)
			o->report_listeners = b;
		else if (k == K_RESOLVE_NAMES)
			o->resolve_names = b;
		else
			f->ignore_loopback = b;
		break;
	case K_FILTER:
		if (strcasecmp(value, "all") == 0)
			f->scope = HF_SCOPE_ALL;
		else if (strcasecmp(value, "public") == 0)
			f->scope = HF_SCOPE_PUBLIC;
		else if (strcasecmp(value, "private") == 0)
			f->scope = HF_SCOPE_PRIVATE;
		else
			FAIL(-EINVAL, "option Filter: \"%s\" is not all, public or private", value);
		break;
	case K_BACKEND:
		if (strcasecmp(value, "auto") == 0)
			o->backend = HF_BACKEND_AUTO;
		else if (strcasecmp(value, "netlink") == 0)
			o->backend = HF_BACKEND_NETLINK;
		else if (strcasecmp(value, "proc") == 0)
			o->backend = HF_BACKEND_PROC;
		else
			FAIL(-EINVAL, "option Backend: \"%s\" is not auto, netlink or proc", value);
		break;
	case K_FAMILY:
		if (strcasecmp(value, "all") == 0 || strcasecmp(value, "any") == 0)
			f->families = HF_FAMILY_ALL;
		else if (strcasecmp(value, "ipv4") == 0 || strcmp(value, "4") == 0)
			f->families = HF_FAMILY_V4;
		else if (strcasecmp(value, "ipv6") == 0 || strcmp(value, "6") == 0)
			f->families = HF_FAMILY_V6;
		else
			FAIL(-EINVAL, "option Family: \"%s\" is not all, ipv4 or ipv6", value);
		break;
	case K_INCLUDE_NET:
	case K_EXCLUDE_NET: {
		struct hf_cidr *list = k == K_INCLUDE_NET ? f->include_net : f->exclude_net;
		unsigned int *cnt = k == K_INCLUDE_NET ? &f->n_include_net : &f->n_exclude_net;
		if (*cnt == HF_FILTER_MAX)
			FAIL(-E2BIG, "option %s: more than %d networks (at \"%s\")", key_names[k],
			     HF_FILTER_MAX, value);
		if (hf_cidr_parse(value, &list[*cnt]) < 0)
			FAIL(-EINVAL,
			     "option %s: \"%s\" is not a network (CIDR like 198.51.100.0/24)",
			     key_names[k], value);
		(*cnt)++;
		break;
	}
	case K_INCLUDE_PORT:
	case K_EXCLUDE_PORT: {
		uint16_t *list = k == K_INCLUDE_PORT ? f->include_port : f->exclude_port;
		unsigned int *cnt = k == K_INCLUDE_PORT ? &f->n_include_port : &f->n_exclude_port;
		if (*cnt == HF_FILTER_MAX)
			FAIL(-E2BIG, "option %s: more than %d ports (at \"%s\")", key_names[k],
			     HF_FILTER_MAX, value);
		if (parse_uint(value, 1, 65535, &n) < 0)
			FAIL(-EINVAL, "option %s: \"%s\" is not a port (1-65535)", key_names[k],
			     value);
		list[(*cnt)++] = (uint16_t)n;
		break;
	}
	case K_PEER_PREFIX4:
	case K_PEER_PREFIX6: {
		unsigned long max = k == K_PEER_PREFIX4 ? 32 : 128;
		if (parse_uint(value, 1, max, &n) < 0)
			FAIL(-EINVAL, "option %s: \"%s\" is not a prefix length (1-%lu)",
			     key_names[k], value, max);
		if (k == K_PEER_PREFIX4)
			f->peer_prefix4 = (uint8_t)n;
		else
			f->peer_prefix6 = (uint8_t)n;
		break;
	}
	case K_MAX_FLOWS:
		if (parse_uint(value, 1, 100000, &n) < 0)
			FAIL(-EINVAL, "option MaxFlows: \"%s\" is not a number from 1 to 100000",
			     value);
		o->max_flows = (unsigned int)n;
		break;
	case K_MAX_LISTENERS:
		if (parse_uint(value, 1, 100000, &n) < 0)
			FAIL(-EINVAL,
			     "option MaxListeners: \"%s\" is not a number from 1 to 100000", value);
		o->max_listeners = (unsigned int)n;
		break;
	case K_HOLD_TIME:
		if (parse_uint(value, 0, 86400, &n) < 0)
			FAIL(-EINVAL, "option HoldTime: \"%s\" is not seconds from 0 to 86400",
			     value);
		o->hold_time = (unsigned int)n;
		break;
	case K_PIN:
		if (o->n_pins == HF_PIN_MAX)
			FAIL(-E2BIG, "option Pin: more than %d pinned flows (at \"%s\")",
			     HF_PIN_MAX, value);
		if (hf_pin_parse(value, &o->pins[o->n_pins], &o->pin_ct[o->n_pins]) < 0)
			FAIL(-EINVAL,
			     "option Pin: \"%s\" is not a flow identifier with addresses, like "
			     "\"passive-198.51.100.1:80-198.51.100.13:many\" or "
			     "\"active-198.51.100.1:many-[2001:db8::1]:443\"",
			     value);
		for (unsigned int i = 0; i < o->n_pins; i++)
			if (o->pin_ct[i] == o->pin_ct[o->n_pins] &&
			    hf_flow_key_cmp(&o->pins[i], &o->pins[o->n_pins]) == 0)
				FAIL(-EEXIST, "option Pin: \"%s\" is pinned twice", value);
		o->n_pins++;
		break;
	case K_IGNORE_STATE: {
		unsigned int st = hf_state_parse(value);
		if (!st || st == HF_LISTEN)
			FAIL(-EINVAL,
			     "option IgnoreState: \"%s\" is not a TCP connection state "
			     "(" HF_CONN_STATES ")",
			     value);
		f->ignore_states |= 1u << st;
		break;
	}
	case K_SOURCE: {
		unsigned int bit;
		if (strcasecmp(value, "sockets") == 0)
			bit = HF_SOURCES_SOCKETS;
		else if (strcasecmp(value, "conntrack") == 0)
			bit = HF_SOURCES_CONNTRACK;
		else
			FAIL(-EINVAL, "option Source: \"%s\" is not sockets or conntrack", value);
		/* The first Source replaces the default; more add sources side by side. */
		if (!(o->seen_ & (1ull << k)))
			o->sources = 0;
		o->sources |= bit;
		break;
	}
	case K_PROTOCOL:
		if (strcasecmp(value, "tcp") == 0)
			f->protocols |= HF_PROTO_TCP;
		else if (strcasecmp(value, "udp") == 0)
			f->protocols |= HF_PROTO_UDP;
		else if (strcasecmp(value, "other") == 0)
			f->protocols |= HF_PROTO_OTHER;
		else
			FAIL(-EINVAL, "option Protocol: \"%s\" is not tcp, udp or other", value);
		break;
	case K_OBSOLETE_AFTER:
		if (parse_uint(value, 1, 86400, &n) < 0)
			FAIL(-EINVAL, "option ObsoleteAfter: \"%s\" is not seconds from 1 to 86400",
			     value);
		o->obsolete_after = (unsigned int)n;
		break;
	}
	o->seen_ |= 1ull << k;
	return 0;
}
