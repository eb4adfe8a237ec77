/*
 * series.c - named series with the time each was last reported, so that a
 * front end can declare what is new and retire what is gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define ID_MAX 256

struct slot {
	uint64_t last; /* 0: empty */
	uint64_t hash;
	char id[ID_MAX];
};

struct hf_series {
	struct slot *slots;
	size_t mask;
	size_t n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h | 1;
}

struct hf_series *hf_series_new(void)
{
	struct hf_series *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->slots = calloc(64, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	s->mask = 63;
	return s;
}

void hf_series_free(struct hf_series *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

size_t hf_series_count(const struct hf_series *s)
{
	return s->n;
}

static struct slot *find(struct slot *slots, size_t mask, const char *id, uint64_t h)
{
	size_t i = h & mask;

	while (slots[i].last) {
		if (slots[i].hash == h && strcmp(slots[i].id, id) == 0)
			return &slots[i];
		i = (i + 1) & mask;
	}
	return &slots[i];
}

static int rehash(struct hf_series *s, size_t nslots)
{
	struct slot *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i <= s->mask; i++)
		if (s->slots[i].last)
			*find(slots, nslots - 1, s->slots[i].id, s->slots[i].hash) = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->mask = nslots - 1;
	return 0;
}

int hf_series_touch(struct hf_series *s, const char *id, uint64_t now)
{
	uint64_t h = hash_str(id);
	struct slot *sl;

	if (now == 0)
		now = 1; /* 0 marks an empty slot */
	sl = find(s->slots, s->mask, id, h);
	if (sl->last) {
		sl->last = now;
		return 0;
	}
	if ((s->n + 1) * 2 > s->mask + 1) {
		if (rehash(s, (s->mask + 1) * 2) < 0)
			return -ENOMEM;
		sl = find(s->slots, s->mask, id, h);
	}
	sl->last = now;
	sl->hash = h;
	strncpy(sl->id, id, ID_MAX - 1);
	sl->id[ID_MAX - 1] = '\0';
	s->n++;
	return 1;
}

unsigned int hf_series_expire(struct hf_series *s, uint64_t now, uint64_t grace,
			      void (*cb)(const char *id, void *arg), void *arg)
{
	unsigned int gone = 0;

	for (size_t i = 0; i <= s->mask; i++) {
		if (!s->slots[i].last || s->slots[i].last + grace >= now)
			continue;
		if (cb)
			cb(s->slots[i].id, arg);
		gone++;
	}
	if (!gone)
		return 0;
	/* Rebuild without the expired: open addressing cannot simply punch holes. */
	struct slot *old = s->slots;
	size_t omask = s->mask;
	struct slot *slots = calloc(omask + 1, sizeof(*slots));
	if (!slots) {
		/* Keep them rather than corrupt the probe chains; they expire again next time. */
		return gone;
	}
	s->n = 0;
	for (size_t i = 0; i <= omask; i++) {
		if (!old[i].last || old[i].last + grace < now)
			continue;
		*find(slots, omask, old[i].id, old[i].hash) = old[i];
		s->n++;
	}
	free(old);
	s->slots = slots;
	return gone;
}
