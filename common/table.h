/*
 * table.h - the collector's open-addressing hash table, private to
 * libhostflow: items in a dense array (cleared, not freed, between
 * collections), slots holding index + 1. Keys are the items' first keylen
 * bytes. Shared by the sockets, conntrack and bpf collectors.
 */
#ifndef HOSTFLOW_TABLE_H
#define HOSTFLOW_TABLE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct table {
	uint32_t *slots; /* index + 1 into items; 0 is empty */
	size_t mask;	 /* number of slots - 1 */
	char *items;
	size_t n, cap, size, keylen;
};

static inline uint64_t rotl(uint64_t v, unsigned int r)
{
	return r ? (v << r) | (v >> (64 - r)) : v;
}

/*
 * The hash of a key, once per socket: each 8-byte word is multiplied on
 * its own (the multiplies run in parallel, where a chained mix waits on
 * each one), rotated apart and folded, then avalanched once.
 */
/*
 * hash_key, key_eq, table_get and table_find are inlined into callers that
 * pass the key length as a constant (FLOW_KEYLEN, LISTENER_KEYLEN), so
 * their loops unroll into a handful of loads: they run for every socket.
 */
#define HF__INLINE static inline __attribute__((always_inline))

HF__INLINE uint64_t hash_key(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = len * 0x9e3779b97f4a7c15ull, v;
	unsigned int i = 0;

#pragma GCC unroll 8
	for (; len >= 8; p += 8, len -= 8, i++) {
		memcpy(&v, p, 8);
		h ^= rotl((v ^ (0x243f6a8885a308d3ull * (i + 1))) * 0xff51afd7ed558ccdull,
			  (i * 23) % 64);
	}
	if (len) {
		v = 0;
		memcpy(&v, p, len);
		h ^= rotl((v ^ (0x243f6a8885a308d3ull * (i + 1))) * 0xff51afd7ed558ccdull,
			  (i * 23) % 64);
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* memcmp() of a key whose length only the table knows is a libc call per probe: compare words. */
HF__INLINE bool key_eq(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;
	uint64_t u, v;

#pragma GCC unroll 8
	for (; len >= 8; x += 8, y += 8, len -= 8) {
		memcpy(&u, x, 8);
		memcpy(&v, y, 8);
		if (u != v)
			return false;
	}
	return len == 0 || memcmp(x, y, len) == 0;
}

static inline int table_init(struct table *t, size_t size, size_t keylen, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->size = size;
	t->keylen = keylen;
	t->cap = cap;
	t->mask = 2 * cap - 1;
	t->items = calloc(cap, size);
	t->slots = calloc(t->mask + 1, sizeof(*t->slots));
	if (!t->items || !t->slots) {
		free(t->items);
		free(t->slots);
		return -ENOMEM;
	}
	return 0;
}

static inline void table_free(struct table *t)
{
	free(t->items);
	free(t->slots);
}

static inline void table_reset(struct table *t)
{
	t->n = 0;
	memset(t->slots, 0, (t->mask + 1) * sizeof(*t->slots));
}

static inline void *table_item(const struct table *t, size_t i)
{
	return t->items + i * t->size;
}

static inline void table_place(struct table *t, size_t idx)
{
	size_t i = hash_key(table_item(t, idx), t->keylen) & t->mask;

	while (t->slots[i])
		i = (i + 1) & t->mask;
	t->slots[i] = (uint32_t)(idx + 1);
}

/* Double the table: only when the number of flows (or listeners) reaches a new high. */
static inline int table_grow(struct table *t)
{
	size_t cap = t->cap * 2;
	char *items;
	uint32_t *slots;

	if (cap > UINT32_MAX / 4)
		return -ENOMEM;
	items = realloc(t->items, cap * t->size);
	if (!items)
		return -ENOMEM;
	t->items = items;
	slots = calloc(2 * cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	t->mask = 2 * cap - 1;
	for (size_t i = 0; i < t->n; i++)
		table_place(t, i);
	return 0;
}

/*
 * The item whose key is the first keylen bytes of @key; a new one, zeroed
 * past the key, when absent. NULL when memory is short.
 */
HF__INLINE void *table_get(struct table *t, const void *key, size_t keylen)
{
	size_t i = hash_key(key, keylen) & t->mask;
	uint32_t s;
	char *item;

	while ((s = t->slots[i]) != 0) {
		item = table_item(t, s - 1);
		if (key_eq(item, key, keylen))
			return item;
		i = (i + 1) & t->mask;
	}
	if (t->n == t->cap) {
		if (table_grow(t) < 0)
			return NULL;
		i = hash_key(key, keylen) & t->mask;
		while (t->slots[i])
			i = (i + 1) & t->mask;
	}
	item = table_item(t, t->n);
	memcpy(item, key, keylen);
	memset(item + keylen, 0, t->size - keylen);
	t->slots[i] = (uint32_t)(++t->n);
	return item;
}

HF__INLINE void *table_find(const struct table *t, const void *key, size_t keylen)
{
	size_t i = hash_key(key, keylen) & t->mask;
	uint32_t s;

	while ((s = t->slots[i]) != 0) {
		char *item = table_item(t, s - 1);
		if (key_eq(item, key, keylen))
			return item;
		i = (i + 1) & t->mask;
	}
	return NULL;
}

#endif /* HOSTFLOW_TABLE_H */
