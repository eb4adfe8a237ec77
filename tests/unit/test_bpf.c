/*
 * test_bpf.c - the user-space decoding of the bpf backend's flow map
 * (hf__bpf_decode): crafted entries, then random ones held to the
 * properties every entry must keep.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hostflow.h"
#include "internal.h"
#include "bpf/hostflow_bpf.h"
#include "tap.h"

static void key_v4(struct hf_bpf_key *k, uint8_t dir, const char *l, uint16_t lport, const char *p,
		   uint16_t pport)
{
	memset(k, 0, sizeof(*k));
	k->netns = 4026531840u;
	k->dir = dir;
	k->family = AF_INET;
	k->lport = lport;
	k->pport = pport;
	inet_pton(AF_INET, l, k->laddr);
	inet_pton(AF_INET, p, k->paddr);
}

static void test_crafted(void)
{
	struct hf_bpf_key k;
	struct hf_bpf_val v;
	struct hf_sock s;
	enum hf_dir dir;
	uint32_t st[HF_STATE_MAX], tw;
	char a[HF_ADDRSTRLEN];

	key_v4(&k, HF_DIR_PASSIVE, "198.51.100.1", 80, "198.51.100.11", 0);
	memset(&v, 0, sizeof(v));
	v.states[HF_ESTABLISHED] = 3;
	v.states[HF_CLOSE_WAIT] = 1;
	v.inode = 1234;
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), 0, "passive v4 entry decodes");
	EQ_INT(dir, HF_DIR_PASSIVE, "direction kept");
	EQ_INT(s.family, AF_INET, "family kept");
	EQ_STR(hf_addr_str(AF_INET, &s.laddr, 32, a, sizeof(a)), "198.51.100.1", "local address");
	EQ_STR(hf_addr_str(AF_INET, &s.raddr, 32, a, sizeof(a)), "198.51.100.11", "peer address");
	OK(memcmp(s.laddr.b + 4, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) == 0,
	   "an IPv4 address's tail is zero, as the flow table's keys want");
	EQ_INT(s.lport, 80, "local port");
	EQ_INT(s.rport, 0, "peer port many");
	EQ_INT(st[HF_ESTABLISHED], 3, "ESTABLISHED count");
	EQ_INT(st[HF_CLOSE_WAIT], 1, "CLOSE_WAIT count");
	EQ_INT(s.inode, 1234, "inode for -p");

	memset(&k, 0, sizeof(k));
	k.dir = HF_DIR_ACTIVE;
	k.family = AF_INET6;
	k.pport = 443;
	inet_pton(AF_INET6, "2001:db8::1", k.laddr);
	inet_pton(AF_INET6, "2001:db8::2", k.paddr);
	memset(&v, 0, sizeof(v));
	v.states[HF_SYN_SENT] = 1;
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), 0, "active v6 entry decodes");
	EQ_STR(hf_addr_str(AF_INET6, &s.raddr, 128, a, sizeof(a)), "2001:db8::2", "v6 peer");
	EQ_INT(s.rport, 443, "v6 peer port");
	EQ_INT(st[HF_SYN_SENT], 1, "SYN_SENT count");

	memset(&v, 0, sizeof(v));
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), -ENOENT,
	       "an empty entry has nothing to report");
	v.failed = 2;
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), 0, "an entry with counters only is reported");
	memset(&v, 0, sizeof(v));
	v.states[HF_ESTABLISHED] = -1;
	v.states[HF_CLOSE] = 5;
	v.states[HF_LISTEN] = 5;
	v.states[12] = 5; /* TCP_NEW_SYN_RECV: the programs never count it */
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), -ENOENT,
	       "a negative count, CLOSE, LISTEN and states past CLOSING count nothing");
	EQ_INT(st[HF_ESTABLISHED], 0, "a negative count reads as none");
	EQ_INT(tw, 0, "no time-wait socket in FIN_WAIT2");
	v.states[HF_BPF_TW_FW2] = 2;
	v.states[HF_FIN_WAIT2] = 1;
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), 0,
	       "an entry with time-wait sockets in FIN_WAIT2 is reported");
	EQ_INT(tw, 2, "time-wait sockets in FIN_WAIT2 apart");
	EQ_INT(st[HF_FIN_WAIT2], 1, "FIN_WAIT2: the full sockets only");
	v.states[HF_BPF_TW_FW2] = -3;
	v.states[HF_FIN_WAIT2] = 0;
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), -ENOENT,
	       "time-wait sockets in FIN_WAIT2 below zero count nothing");
	EQ_INT(tw, 0, "a negative count of them reads as none");
	v.states[HF_BPF_TW_FW2] = 0;

	k.family = 7;
	v.states[HF_ESTABLISHED] = 1;
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), -EBADMSG, "an unknown family is refused");
	k.family = AF_INET;
	k.dir = 3;
	EQ_INT(hf__bpf_decode(&k, &v, &s, &dir, st, &tw), -EBADMSG, "an unknown direction is refused");
}

/* Random entries: decoded counts are the positive ones of connection states, nothing else. */
static void test_random(void)
{
	unsigned int seed = 12345, bad = 0;

	for (int i = 0; i < 200000; i++) {
		struct hf_bpf_key k;
		struct hf_bpf_val v;
		struct hf_sock s;
		enum hf_dir dir;
		uint32_t st[HF_STATE_MAX], tw;
		uint64_t want = 0, got = 0;
		int ret;

		for (size_t b = 0; b < sizeof(k); b++)
			((uint8_t *)&k)[b] = (uint8_t)rand_r(&seed);
		for (size_t b = 0; b < sizeof(v); b++)
			((uint8_t *)&v)[b] = (uint8_t)rand_r(&seed);
		if (i & 1)
			k.family = (i & 2) ? AF_INET : AF_INET6;
		if (i & 4)
			k.dir = (i & 8) ? HF_DIR_ACTIVE : HF_DIR_PASSIVE;
		ret = hf__bpf_decode(&k, &v, &s, &dir, st, &tw);
		if (ret == -EBADMSG) {
			bad += (k.family == AF_INET || k.family == AF_INET6) &&
			       (k.dir == HF_DIR_ACTIVE || k.dir == HF_DIR_PASSIVE);
			continue;
		}
		for (unsigned int x = 1; x < HF_STATE_MAX; x++) {
			if (x != HF_LISTEN && x != HF_CLOSE && v.states[x] > 0)
				want += (uint64_t)v.states[x];
			got += st[x];
		}
		bad += got != want || st[0] != 0 || st[HF_LISTEN] || st[HF_CLOSE];
		bad += tw != (v.states[HF_BPF_TW_FW2] > 0 ? (uint32_t)v.states[HF_BPF_TW_FW2] : 0);
		bad += ret == -ENOENT && (want || tw || v.opened || v.closed || v.failed);
		bad += s.family == AF_INET && memcmp(s.raddr.b + 4, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
	}
	EQ_INT(bad, 0,
	       "200000 random entries decode to exactly their positive connection counts, "
	       "time-wait sockets in FIN_WAIT2 apart");
}

/*
 * A .follow collector with AUTO: the bpf backend, or another with a note
 * saying why not; without .follow: never bpf, no note. Which one a machine
 * gets depends on its privileges and kernel: both branches assert.
 */
static void test_follow(void)
{
	struct hf_ctx *ctx = hf_open_with(&(struct hf_open_opts){ .follow = true });
	struct hf_ctx *once = hf_open_with(&(struct hf_open_opts){ 0 });

	OK(ctx != NULL, "a .follow collector opens");
	if (ctx && hf_backend(ctx) == HF_BACKEND_BPF)
		EQ_STR(hf_open_note(ctx), "", "follow + auto got bpf: no note");
	else if (ctx)
		OK(strncmp(hf_open_note(ctx), "bpf backend unavailable: ", 25) == 0 &&
			   strlen(hf_open_note(ctx)) > 25,
		   "follow + auto without bpf: the note says why (%s)", hf_open_note(ctx));
	printf("# follow + auto: backend %s\n", ctx ? hf_backend_name(hf_backend(ctx)) : "none");
	OK(once && hf_backend(once) != HF_BACKEND_BPF && !hf_open_note(once)[0],
	   "without .follow, auto never loads the programs and has no note");
	hf_close(ctx);
	hf_close(once);
}

int main(void)
{
	test_crafted();
	test_random();
	test_follow();
	return tap_failed != 0;
}
