/*
 * bpf.c - the bpf backend: flow counts kept up to date in the kernel by the
 * programs of common/bpf/hostflow.bpf.c, read here in O(flows).
 *
 * Opening loads and attaches the programs first, then seeds the counts
 * with a BPF TCP iterator over the sockets of this network namespace (see
 * the program's comment for how the seed and live transitions share the
 * work), then reconciles once against a netlink snapshot. A collection
 * reads the flow map (entries of this namespace only) and the listeners
 * (a LISTEN-only inet_diag dump: the kernel walks the listening hash
 * alone). Built only where clang, bpftool and libbpf were found
 * (HF_HAVE_BPF); elsewhere hf__bpf_open() says "not built".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostflow.h"
#include "internal.h"
#include "bpf/hostflow_bpf.h"

_Static_assert(sizeof(struct hf_bpf_key) == 44, "the map key has no hidden padding");
_Static_assert(sizeof(struct hf_bpf_val) == 96, "the map value has no hidden padding");

int hf__bpf_decode(const struct hf_bpf_key *k, const struct hf_bpf_val *v, struct hf_sock *s,
		   enum hf_dir *dir, uint32_t states[HF_STATE_MAX], uint32_t *tw_fw2)
{
	bool any = false;

	if ((k->family != AF_INET && k->family != AF_INET6) ||
	    (k->dir != HF_DIR_ACTIVE && k->dir != HF_DIR_PASSIVE))
		return -EBADMSG;
	memset(s, 0, sizeof(*s));
	s->family = k->family;
	memcpy(s->laddr.b, k->laddr, k->family == AF_INET ? 4 : 16);
	memcpy(s->raddr.b, k->paddr, k->family == AF_INET ? 4 : 16);
	s->lport = k->lport;
	s->rport = k->pport;
	s->inode = v->inode;
	*dir = (enum hf_dir)k->dir;
	memset(states, 0, HF_STATE_MAX * sizeof(*states));
	/* A count below zero is a lost event the reconcile corrects: read it as none. */
	for (unsigned int st = 1; st < HF_STATE_MAX && st < HF_BPF_STATES; st++)
		if (v->states[st] > 0 && st != HF_LISTEN && st != HF_CLOSE) {
			states[st] = (uint32_t)v->states[st];
			any = true;
		}
	*tw_fw2 = v->states[HF_BPF_TW_FW2] > 0 ? (uint32_t)v->states[HF_BPF_TW_FW2] : 0;
	return any || *tw_fw2 || v->opened || v->closed || v->failed ? 0 : -ENOENT;
}

#ifdef HF_HAVE_BPF

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hostflow.skel.h"

struct hf__bpf {
	struct hostflow_bpf *skel;
	bool timers; /* time-wait and request sockets followed (their timers' programs attached) */
	uint32_t netns;
	int ncpus;
	uint64_t *percpu; /* ncpus values of one error counter */
	size_t entries;	  /* flows in the map (every namespace) at the last read */
};

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int verbose(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

/* One run of the iterator @link: the program does its work as it is read. */
static int iter_run(struct bpf_link *link)
{
	char buf[256];
	ssize_t n;
	int fd = bpf_iter_create(bpf_link__fd(link));

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -errno : 0;
}

static int seed(struct hf__bpf *b)
{
	struct bpf_link *link = bpf_program__attach_iter(b->skel->progs.seed, NULL);
	int ret;

	if (!link)
		return -errno;
	ret = iter_run(link);
	bpf_link__destroy(link);
	return ret;
}

int hf__bpf_expire(struct hf__bpf *b)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	if (!b->timers)
		return 0;
	if (bpf_prog_test_run_opts(bpf_program__fd(b->skel->progs.tw_settle), &opts) < 0 ||
	    bpf_prog_test_run_opts(bpf_program__fd(b->skel->progs.reqs_expire), &opts) < 0)
		return -errno;
	return 0;
}

/*
 * The addresses of tw_timer_handler and reqsk_timer_handler, which tell a
 * time-wait or request socket's timer from any other. 0 and 0 when
 * /proc/kallsyms hides them (kptr_restrict, no CAP_SYSLOG) or lacks them.
 */
static void timer_handlers(uint64_t *tw, uint64_t *rsk)
{
	char line[256], name[128], type;
	unsigned long long addr;
	FILE *f = fopen("/proc/kallsyms", "re");

	*tw = *rsk = 0;
	if (!f)
		return;
	while ((!*tw || !*rsk) && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %127s", &addr, &type, name) != 3 || !addr)
			continue;
		if (!strcmp(name, "tw_timer_handler"))
			*tw = addr;
		else if (!strcmp(name, "reqsk_timer_handler"))
			*rsk = addr;
	}
	fclose(f);
	if (!*tw || !*rsk)
		*tw = *rsk = 0;
}

static struct bpf_link *attach(struct bpf_program *p, int *ret)
{
	struct bpf_link *l = *ret < 0 ? NULL : bpf_program__attach(p);

	if (!l && *ret == 0)
		*ret = -errno;
	return l;
}

int hf__bpf_open(struct hf__bpf **out, uint16_t port_lo, uint16_t port_hi, char *err, size_t errlen)
{
	uint64_t tw_fn, rsk_fn;
	struct hf__bpf *b;
	struct stat st;
	int ret;

	if (stat("/proc/self/ns/net", &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "bpf: /proc/self/ns/net: %s", strerror(-ret));
		return ret;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->netns = (uint32_t)st.st_ino;
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus <= 0 || !(b->percpu = calloc((size_t)b->ncpus, sizeof(uint64_t)))) {
		ret = -ENOMEM;
		goto out_free;
	}
	/* HOSTFLOW_BPF_DEBUG set: libbpf's messages (the verifier's log) go to stderr. */
	libbpf_set_print(getenv("HOSTFLOW_BPF_DEBUG") ? verbose : silent);
	b->skel = hostflow_bpf__open();
	if (!b->skel) {
		ret = -errno;
		snprintf(err, errlen, "bpf: cannot open the programs: %s", strerror(-ret));
		goto out_free;
	}
	b->skel->data->port_lo = port_lo;
	b->skel->data->port_hi = port_hi;
	b->skel->bss->seeded_netns = b->netns;
	bpf_program__set_autoattach(b->skel->progs.seed, false);
	timer_handlers(&tw_fn, &rsk_fn);
	b->skel->rodata->tw_timer_fn = tw_fn;
	b->skel->rodata->rsk_timer_fn = rsk_fn;
	b->timers = tw_fn != 0 && !getenv("HOSTFLOW_BPF_NO_TIMERS");
	if (!b->timers) {
		bpf_program__set_autoload(b->skel->progs.timer_start, false);
		bpf_program__set_autoload(b->skel->progs.timer_cancel, false);
		bpf_program__set_autoload(b->skel->progs.reqs_expire, false);
		bpf_program__set_autoload(b->skel->progs.tw_settle, false);
	}
	ret = hostflow_bpf__load(b->skel);
	if (ret < 0) {
		snprintf(
			err, errlen, "bpf: cannot load the programs: %s%s", strerror(-ret),
			ret == -EPERM ?
				" (needs CAP_BPF and CAP_PERFMON, or root)" :
			ret == -ESRCH || ret == -ENOENT ?
				" (a hook this kernel lacks: needs BTF, tp_btf/inet_sock_set_state, "
				"tp_btf/timer_start)" :
				"");
		goto out_skel;
	}
	/*
	 * set_state_rescue must run after set_state: a tracepoint calls its
	 * programs in attach order. The timers' programs come first: a
	 * listener is in the map before its first request socket's timer.
	 */
	ret = 0;
	if (b->timers) {
		b->skel->links.timer_start = attach(b->skel->progs.timer_start, &ret);
		b->skel->links.timer_cancel = attach(b->skel->progs.timer_cancel, &ret);
	}
	b->skel->links.set_state = attach(b->skel->progs.set_state, &ret);
	b->skel->links.set_state_rescue = attach(b->skel->progs.set_state_rescue, &ret);
	if (ret < 0) {
		snprintf(err, errlen, "bpf: cannot attach the programs: %s", strerror(-ret));
		goto out_skel;
	}
	ret = seed(b);
	if (ret < 0) {
		snprintf(err, errlen, "bpf: seed (iter/tcp): %s", strerror(-ret));
		goto out_skel;
	}
	*out = b;
	return 0;

out_skel:
	hostflow_bpf__destroy(b->skel);
out_free:
	free(b->percpu);
	free(b);
	return ret;
}

void hf__bpf_close(struct hf__bpf *b)
{
	if (!b)
		return;
	hostflow_bpf__destroy(b->skel);
	free(b->percpu);
	free(b);
}

/*
 * No connection counted. @gone, a namespace gone: no full socket above
 * zero. Its time-wait and request sockets are not waited for: a count
 * below zero is one born before the attach that died, and one above zero
 * may never come back, counted in another flow when it dies if the
 * listener that classified it closed meanwhile (the namespace's exit
 * purges them).
 */
static bool idle(const struct hf_bpf_val *v, bool gone)
{
	for (unsigned int i = 0; i < HF_BPF_STATES; i++) {
		if (gone && (i == HF_SYN_RECV || i == HF_TIME_WAIT))
			continue;
		if (gone ? v->states[i] > 0 : v->states[i] != 0)
			return false;
	}
	return true;
}

int hf__bpf_read(struct hf__bpf *b, bool all, hf__bpf_flow_cb cb, void *arg)
{
	int fd = bpf_map__fd(b->skel->maps.flows);
	struct hf_bpf_key k, next, last;
	struct hf_bpf_val v;
	void *prev = NULL;
	bool gc = b->entries > HF_BPF_FLOWS_MAX / 2;
	size_t entries = 0;
	int ret;

	/*
	 * Flows whose connections all ended stay in the map with their
	 * counters. Past half the map, they are deleted (any namespace's):
	 * a connection that opens between the lookup and the delete loses its
	 * counts to the next reconcile; a new one makes the flow anew.
	 */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		bool mine, have;

		k = next;
		entries++;
		mine = all || k.netns == b->netns;
		have = (mine || gc) && bpf_map_lookup_elem(fd, &k, &v) == 0;
		if (have && gc && idle(&v, false) && bpf_map_delete_elem(fd, &k) == 0) {
			/* The walk goes on from the last key kept: a deleted key is not found. */
			entries--;
		} else {
			last = k;
			prev = &last;
		}
		if (have && mine) {
			ret = cb(&k, &v, arg);
			if (ret)
				return ret;
		}
	}
	b->entries = entries;
	return errno == ENOENT ? 0 : -errno;
}

int hf__bpf_errors(struct hf__bpf *b, uint64_t out[HF_BPF_ERR_MAX])
{
	int fd = bpf_map__fd(b->skel->maps.errors);
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	/*
	 * The misses first: a miss comes just before its rescue, so rescues
	 * read after the misses take in every miss's. Nested timer events are
	 * skipped the same way, and none is rescued: any is a loss.
	 */
	out[HF_BPF_ERR_MISSED] = 0;
	for (int i = 0; i < 3; i++) {
		struct bpf_program *p = i == 0 ? b->skel->progs.set_state :
					i == 1 ? b->skel->progs.timer_start :
						 b->skel->progs.timer_cancel;
		if (i > 0 && !b->timers)
			break;
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) < 0)
			return -errno;
		out[HF_BPF_ERR_MISSED] += info.recursion_misses;
	}
	for (uint32_t i = 0; i < HF_BPF_ERR_MAP; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, b->percpu) < 0)
			return -errno;
		for (int c = 0; c < b->ncpus; c++)
			out[i] += b->percpu[c];
	}
	return 0;
}

bool hf__bpf_timers(const struct hf__bpf *b)
{
	return b->timers;
}

int64_t hf__bpf_pending(struct hf__bpf *b)
{
	int fd = bpf_map__fd(b->skel->maps.pending);
	uint32_t zero = 0;
	int64_t sum = 0;

	if (bpf_map_lookup_elem(fd, &zero, b->percpu) < 0)
		return 1; /* unknown: as if one were pending */
	for (int c = 0; c < b->ncpus; c++)
		sum += (int64_t)b->percpu[c];
	return sum;
}

int64_t hf__bpf_listeners(struct hf__bpf *b, uint32_t netns)
{
	int64_t n = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.ns_listeners), &netns, &n) < 0 &&
	    errno != ENOENT)
		return 1; /* unknown: as if there were one */
	return n;
}

uint64_t hf__bpf_fw2_until(struct hf__bpf *b, uint32_t netns)
{
	uint64_t until = 0;

	bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.fw2_until), &netns, &until);
	return until;
}

void hf__bpf_every_netns(struct hf__bpf *b)
{
	b->skel->bss->seeded_netns = 0;
}

int hf__bpf_forget(struct hf__bpf *b, const struct hf_bpf_key *k)
{
	int fd = bpf_map__fd(b->skel->maps.flows);
	struct hf_bpf_val v;

	if (bpf_map_lookup_elem(fd, k, &v) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (idle(&v, true) && bpf_map_delete_elem(fd, k) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

uint32_t hf__bpf_netns(const struct hf__bpf *b)
{
	return b->netns;
}

int hf__bpf_seed_ports(struct hf__bpf *b, uint16_t port_lo, uint16_t port_hi)
{
	b->skel->data->port_lo = port_lo;
	b->skel->data->port_hi = port_hi;
	return hf__bpf_reseed(b);
}

int hf__bpf_reseed(struct hf__bpf *b)
{
	/* The listeners map is kept by the listeners' own transitions: it needs no reset. */
	return seed(b);
}

#else /* !HF_HAVE_BPF */

bool hf__bpf_timers(const struct hf__bpf *b)
{
	(void)b;
	return false;
}

int64_t hf__bpf_pending(struct hf__bpf *b)
{
	(void)b;
	return 0;
}

uint64_t hf__bpf_fw2_until(struct hf__bpf *b, uint32_t netns)
{
	(void)b;
	(void)netns;
	return 0;
}

int64_t hf__bpf_listeners(struct hf__bpf *b, uint32_t netns)
{
	(void)b;
	(void)netns;
	return 1;
}

int hf__bpf_open(struct hf__bpf **out, uint16_t port_lo, uint16_t port_hi, char *err, size_t errlen)
{
	(void)out;
	(void)port_lo;
	(void)port_hi;
	snprintf(err, errlen,
		 "bpf backend not built (clang, bpftool or libbpf missing at build time)");
	return -ENOTSUP;
}

void hf__bpf_close(struct hf__bpf *b)
{
	(void)b;
}

int hf__bpf_read(struct hf__bpf *b, bool all, hf__bpf_flow_cb cb, void *arg)
{
	(void)b;
	(void)all;
	(void)cb;
	(void)arg;
	return -ENOTSUP;
}

int hf__bpf_errors(struct hf__bpf *b, uint64_t out[HF_BPF_ERR_MAX])
{
	(void)b;
	memset(out, 0, HF_BPF_ERR_MAX * sizeof(*out));
	return -ENOTSUP;
}

int hf__bpf_reseed(struct hf__bpf *b)
{
	(void)b;
	return -ENOTSUP;
}

int hf__bpf_expire(struct hf__bpf *b)
{
	(void)b;
	return -ENOTSUP;
}

void hf__bpf_every_netns(struct hf__bpf *b)
{
	(void)b;
}

int hf__bpf_forget(struct hf__bpf *b, const struct hf_bpf_key *k)
{
	(void)b;
	(void)k;
	return -ENOTSUP;
}

uint32_t hf__bpf_netns(const struct hf__bpf *b)
{
	(void)b;
	return 0;
}

int hf__bpf_seed_ports(struct hf__bpf *b, uint16_t port_lo, uint16_t port_hi)
{
	(void)b;
	(void)port_lo;
	(void)port_hi;
	return -ENOTSUP;
}

#endif /* HF_HAVE_BPF */
