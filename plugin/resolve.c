/*
 * resolve.c - reverse lookups with a cache and a bounded wait.
 *
 * getnameinfo() has no timeout of its own, so each lookup runs in a
 * detached thread that the caller waits for at most timeout_ms. A lookup
 * that times out leaves its thread to finish on its own (the job is
 * reference counted) and is cached as "no name". After a few timeouts in a
 * row the resolver is taken for dead and no more lookups are started, so a
 * host with thousands of peers and a dead resolver still answers quickly.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin.h"

#define DEAD_AFTER_TIMEOUTS 3

struct entry {
	uint8_t family;
	union hf_addr addr;
	char *name; /* NULL: no name */
};

struct hf_resolver {
	unsigned int timeout_ms;
	unsigned int timeouts_in_row;
	bool told_failing, told_dead;
	char news[2][192]; /* [0] failing, [1] given up: not yet fetched when not "" */
	char fetched[192]; /* the last message hf_resolver_news returned */
	struct entry *e;
	size_t n, cap;
};

struct job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool done;
	int rc;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[NI_MAXHOST];
};

struct hf_resolver *hf_resolver_new(unsigned int timeout_ms)
{
	struct hf_resolver *r = calloc(1, sizeof(*r));
	if (r)
		r->timeout_ms = timeout_ms;
	return r;
}

void hf_resolver_free(struct hf_resolver *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->e[i].name);
	free(r->e);
	free(r);
}

static void job_put(struct job *j)
{
	bool last;

	pthread_mutex_lock(&j->mu);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->mu);
	if (last) {
		pthread_mutex_destroy(&j->mu);
		pthread_cond_destroy(&j->cv);
		free(j);
	}
}

static void *job_run(void *arg)
{
	struct job *j = arg;
	char host[NI_MAXHOST];
	int rc = getnameinfo((struct sockaddr *)&j->ss, j->sslen, host, sizeof(host), NULL, 0,
			     NI_NAMEREQD);

	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	if (rc == 0)
		memcpy(j->host, host, sizeof(host));
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	job_put(j);
	return NULL;
}

/* Look @addr up, waiting at most timeout_ms. Returns a new string or NULL. */
static char *lookup(struct hf_resolver *r, int family, const union hf_addr *addr)
{
	struct job *j;
	pthread_t t;
	pthread_attr_t attr;
	struct timespec deadline;
	char *name = NULL;

	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->refs = 2;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&j->ss;
		sin->sin_family = AF_INET;
		sin->sin_addr = addr->v4;
		j->sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&j->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = addr->v6;
		j->sslen = sizeof(*sin6);
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, job_run, j) != 0) {
		pthread_attr_destroy(&attr);
		j->refs = 1;
		job_put(j);
		return NULL;
	}
	pthread_attr_destroy(&attr);

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += r->timeout_ms / 1000;
	deadline.tv_nsec += (long)(r->timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->mu);
	while (!j->done)
		if (pthread_cond_timedwait(&j->cv, &j->mu, &deadline) == ETIMEDOUT)
			break;
	if (j->done) {
		r->timeouts_in_row = 0;
		if (j->rc == 0)
			name = strdup(j->host);
		else if (j->rc != EAI_NONAME && !r->told_failing) {
			/* EAI_NONAME is an address without a name: an answer, not a failure. */
			snprintf(r->news[0], sizeof(r->news[0]),
				 "name lookups fail (%s); such peers are shown by address",
				 gai_strerror(j->rc));
			r->told_failing = true;
		}
	} else {
		r->timeouts_in_row++;
		if (r->timeouts_in_row >= DEAD_AFTER_TIMEOUTS && !r->told_dead) {
			snprintf(r->news[1], sizeof(r->news[1]),
				 "%d name lookups in a row took over %u ms: no more lookups, "
				 "addresses from now on",
				 DEAD_AFTER_TIMEOUTS, r->timeout_ms);
			r->told_dead = true;
		}
		if (!r->told_failing) {
			snprintf(r->news[0], sizeof(r->news[0]),
				 "a name lookup took over %u ms; that peer is shown by address",
				 r->timeout_ms);
			r->told_failing = true;
		}
	}
	pthread_mutex_unlock(&j->mu);
	job_put(j);
	return name;
}

const char *hf_resolve(struct hf_resolver *r, int family, const union hf_addr *addr,
		       unsigned int plen)
{
	unsigned int full = family == AF_INET ? 32 : 128;
	struct entry *e;

	if (!r || (plen && plen < full))
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].family == family && memcmp(&r->e[i].addr, addr, sizeof(*addr)) == 0)
			return r->e[i].name;
	if (r->timeouts_in_row >= DEAD_AFTER_TIMEOUTS)
		return NULL;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		e = realloc(r->e, cap * sizeof(*e));
		if (!e)
			return NULL;
		r->e = e;
		r->cap = cap;
	}
	e = &r->e[r->n++];
	e->family = (uint8_t)family;
	e->addr = *addr;
	e->name = lookup(r, family, addr);
	return e->name;
}

const char *hf_resolver_news(struct hf_resolver *r)
{
	for (int i = 0; r && i < 2; i++) {
		if (!r->news[i][0])
			continue;
		memcpy(r->fetched, r->news[i], sizeof(r->fetched));
		r->news[i][0] = '\0';
		return r->fetched;
	}
	return NULL;
}

const char *hf_resolve_cb(int family, const union hf_addr *addr, unsigned int plen, void *arg)
{
	return hf_resolve(arg, family, addr, plen);
}
