/*
 * netns.c - every network namespace of the host: discovery, names, and a
 * netlink socket opened inside each one.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "hostflow.h"
#include "internal.h"

#define CAP_SYS_ADMIN_BIT 21

/* Where the runtimes keep their metadata (fixed paths of their packages). */
#define DOCKER_CONTAINERS "/var/lib/docker/containers"
#define PODMAN_CONTAINERS_JSON "/var/lib/containers/storage/overlay-containers/containers.json"
#define KUBELET_POD_LOGS "/var/log/pods"

/* ---- pure parsers ------------------------------------------------------------------------- */

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

static void copy_n(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* "<prefix><64 hex>.scope" -> the id; true when @c is one. */
static bool scope_id(const char *c, size_t n, const char *prefix, struct hf_container *out,
		     const char *runtime)
{
	size_t pl = strlen(prefix);

	if (n != pl + 64 + 6 || memcmp(c, prefix, pl) != 0 ||
	    memcmp(c + pl + 64, ".scope", 6) != 0 || !is_hex(c + pl, 64))
		return false;
	copy_n(out->id, sizeof(out->id), c + pl, 64);
	snprintf(out->runtime, sizeof(out->runtime), "%s", runtime);
	return true;
}

/* "kubepods[-qos]-pod<uid with _>.slice" or "pod<uid>" -> pod_uid with '-'. */
static bool pod_component(const char *c, size_t n, struct hf_container *out)
{
	const char *p;
	size_t ul;

	if (n > 6 && memcmp(c, "kubepods", 8) == 0 && memcmp(c + n - 6, ".slice", 6) == 0) {
		p = memmem(c, n, "-pod", 4);
		if (!p)
			return false;
		p += 4;
		ul = (size_t)(c + n - 6 - p);
	} else if (n > 3 && memcmp(c, "pod", 3) == 0) {
		p = c + 3;
		ul = n - 3;
	} else {
		return false;
	}
	if (ul < 32 || ul >= sizeof(out->pod_uid))
		return false;
	for (size_t i = 0; i < ul; i++)
		if (!isxdigit((unsigned char)p[i]) && p[i] != '_' && p[i] != '-')
			return false;
	copy_n(out->pod_uid, sizeof(out->pod_uid), p, ul);
	for (char *q = out->pod_uid; *q; q++)
		if (*q == '_')
			*q = '-';
	return true;
}

/* One cgroup path: its components, a container id and a pod uid. */
static bool cgroup_path_parse(const char *path, size_t len, struct hf_container *out)
{
	const char *c = path, *end = path + len, *prev = NULL;
	size_t prevn = 0;
	bool found = false;

	while (c < end) {
		const char *slash = memchr(c, '/', (size_t)(end - c));
		size_t n = (size_t)((slash ? slash : end) - c);

		if (n == 0)
			goto next;
		if (scope_id(c, n, "docker-", out, "docker") ||
		    scope_id(c, n, "cri-containerd-", out, "containerd") ||
		    scope_id(c, n, "crio-", out, "cri-o") ||
		    scope_id(c, n, "libpod-", out, "podman")) {
			found = true;
		} else if (pod_component(c, n, out)) {
			found = true;
		} else if (n == 64 && is_hex(c, 64) && prev) {
			/* cgroupfs driver: /docker/ID, /kubepods/QOS/podUID/ID */
			copy_n(out->id, sizeof(out->id), c, 64);
			if (prevn == 6 && memcmp(prev, "docker", 6) == 0)
				snprintf(out->runtime, sizeof(out->runtime), "docker");
			found = true;
		}
		prev = c;
		prevn = n;
next:
		c = slash ? slash + 1 : end;
	}
	if (found && out->pod_uid[0] && !out->runtime[0])
		snprintf(out->runtime, sizeof(out->runtime), "kubernetes");
	return found;
}

int hf_cgroup_parse(const char *text, size_t len, struct hf_container *out)
{
	const char *p = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		/* "hierarchy:controllers:path"; the path is after the second colon */
		const char *c1 = memchr(p, ':', (size_t)(le - p));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;

		if (c2 && cgroup_path_parse(c2 + 1, (size_t)(le - c2 - 1), out))
			return 0;
		memset(out, 0, sizeof(*out));
		p = nl ? nl + 1 : end;
	}
	return -ENOENT;
}

int hf_pod_dir_parse(const char *dirname, struct hf_container *out)
{
	/* Kubernetes names are DNS labels: no '_' in a namespace or a pod name. */
	const char *u1 = strchr(dirname, '_');
	const char *u2 = u1 ? strchr(u1 + 1, '_') : NULL;

	if (!u1 || !u2 || strchr(u2 + 1, '_') || u1 == dirname || u2 == u1 + 1 || !u2[1])
		return -EINVAL;
	if ((size_t)(u1 - dirname) >= sizeof(out->pod_namespace) ||
	    (size_t)(u2 - u1 - 1) >= sizeof(out->pod) || strlen(u2 + 1) >= sizeof(out->pod_uid))
		return -EINVAL;
	copy_n(out->pod_namespace, sizeof(out->pod_namespace), dirname, (size_t)(u1 - dirname));
	copy_n(out->pod, sizeof(out->pod), u1 + 1, (size_t)(u2 - u1 - 1));
	snprintf(out->pod_uid, sizeof(out->pod_uid), "%s", u2 + 1);
	return 0;
}

static yajl_val json_parse(const char *json, size_t len)
{
	char *text = malloc(len + 1);
	yajl_val v;

	if (!text)
		return NULL;
	memcpy(text, json, len);
	text[len] = '\0';
	v = yajl_tree_parse(text, NULL, 0);
	free(text);
	return v;
}

int hf_docker_name_parse(const char *json, size_t len, char *name, size_t size)
{
	const char *path[] = { "Name", NULL };
	yajl_val root = json_parse(json, len), v;
	const char *s;
	int ret = -EBADMSG;

	if (!root)
		return -EBADMSG;
	v = yajl_tree_get(root, path, yajl_t_string);
	s = v ? YAJL_GET_STRING(v) : NULL;
	if (s) {
		if (*s == '/')
			s++;
		if (*s) {
			snprintf(name, size, "%s", s);
			ret = 0;
		}
	}
	yajl_tree_free(root);
	return ret;
}

int hf_podman_name_parse(const char *json, size_t len, const char *id, char *name, size_t size)
{
	const char *id_path[] = { "id", NULL };
	const char *names_path[] = { "names", NULL };
	yajl_val root = json_parse(json, len);
	int ret = -ENOENT;

	if (!root)
		return -EBADMSG;
	if (!YAJL_IS_ARRAY(root)) {
		ret = -EBADMSG;
		goto out_free;
	}
	for (size_t i = 0; i < root->u.array.len; i++) {
		yajl_val c = root->u.array.values[i];
		yajl_val vid = yajl_tree_get(c, id_path, yajl_t_string);
		yajl_val vn = yajl_tree_get(c, names_path, yajl_t_array);

		const char *cid = vid ? YAJL_GET_STRING(vid) : NULL;

		if (!cid || strcmp(cid, id) != 0)
			continue;
		if (vn && vn->u.array.len > 0 && YAJL_IS_STRING(vn->u.array.values[0])) {
			const char *n0 = YAJL_GET_STRING(vn->u.array.values[0]);
			snprintf(name, size, "%s", n0 ? n0 : "");
			ret = 0;
		}
		break;
	}
out_free:
	yajl_tree_free(root);
	return ret;
}

/* ---- the set of namespaces ---------------------------------------------------------------- */

bool hf__notice_add(struct hf__nsset *s, const char *fmt, ...)
{
	size_t need;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	need = s->notice_len + (size_t)n + 1;
	/* Every namespace refused may be named in one collection: no fixed cap. */
	if (need > s->notice_cap) {
		size_t cap = s->notice_cap ? s->notice_cap : 1024;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(s->notice, cap);
		if (!p)
			return false;
		s->notice = p;
		s->notice_cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(s->notice + s->notice_len, s->notice_cap - s->notice_len, fmt, ap);
	va_end(ap);
	s->notice_len += (size_t)n;
	return true;
}

static int stat_ns(const char *path, uint64_t *dev, uint64_t *ino)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

/*
 * The host's namespace: pid 1's; when pid 1 is not ours to look at (a
 * sandbox), kthreadd's (pid 2): kernel threads live in the initial one.
 */
static int host_ns(uint64_t *dev, uint64_t *ino)
{
	char comm[32];

	if (stat_ns("/proc/1/ns/net", dev, ino) == 0)
		return 0;
	if (hf__read_small("/proc/2/comm", comm, sizeof(comm)) > 0 &&
	    strcmp(comm, "kthreadd\n") == 0)
		return stat_ns("/proc/2/ns/net", dev, ino);
	return -ENOENT;
}

int hf__nsset_init(struct hf__nsset *s)
{
	struct hf__ns *e;

	memset(s, 0, sizeof(*s));
	s->cap = 8;
	s->v = calloc(s->cap, sizeof(*s->v));
	if (!s->v)
		return -ENOMEM;
	/* The default: the own namespace alone, index 0. */
	e = &s->v[s->n++];
	stat_ns("/proc/self/ns/net", &s->self_dev, &s->self_ino);
	e->dev = s->self_dev;
	e->pub.inode = s->self_ino;
	e->pub.self = true;
	e->pub.id = s->next_id++; /* 0 */
	e->pub.pid = getpid();
	e->selected = true;
	e->entered = true;
	{
		uint64_t d, i;
		bool host = host_ns(&d, &i) < 0 || (d == s->self_dev && i == s->self_ino);
		snprintf(e->pub.name, sizeof(e->pub.name), "%s", host ? "host" : "self");
		e->pub.kind = host ? HF_NETNS_HOST : HF_NETNS_PROCESS;
	}
	return 0;
}

static void ns_release(struct hf__ns *e)
{
	/* The netlink socket holds the namespace: close it as soon as it is gone. */
	hf_diag_close(e->diag);
	e->diag = NULL;
	hf_nfct_close(e->nfct);
	e->nfct = NULL;
	for (int i = 0; i < 2; i++) {
		if (e->stat_fd[i] > 0)
			close(e->stat_fd[i] - 1);
		e->stat_fd[i] = 0;
	}
	hf_addrset_free(&e->ct_local);
}

void hf__nsset_release_gone(struct hf__nsset *s, const struct hf__nsset *ref)
{
	for (size_t i = 0; i < s->n; i++) {
		struct hf__ns *e = &s->v[i];
		bool known = e->pub.self;

		for (size_t j = 0; !known && j < ref->n; j++)
			known = ref->v[j].pub.inode == e->pub.inode && ref->v[j].dev == e->dev;
		if (known || !e->entered)
			continue;
		ns_release(e);
		/* Entered again if it comes back: an inode may be reused once it is freed. */
		e->entered = false;
	}
}

void hf__nsset_free(struct hf__nsset *s)
{
	for (size_t i = 0; i < s->n; i++)
		ns_release(&s->v[i]);
	free(s->v);
	for (size_t i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	free(s->names_told);
	free(s->notice);
	memset(s, 0, sizeof(*s));
}

static struct hf__ns *ns_find(struct hf__nsset *s, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].pub.inode == ino && s->v[i].dev == dev)
			return &s->v[i];
	return NULL;
}

/* The entry of (dev, ino), marked seen; a new one (name "") when absent. */
static struct hf__ns *ns_get(struct hf__nsset *s, uint64_t dev, uint64_t ino)
{
	struct hf__ns *e = ns_find(s, dev, ino);

	if (!e) {
		if (s->n == s->cap) {
			struct hf__ns *v = realloc(s->v, 2 * s->cap * sizeof(*v));
			if (!v)
				return NULL;
			s->v = v;
			s->cap *= 2;
		}
		e = &s->v[s->n++];
		memset(e, 0, sizeof(*e));
		e->dev = dev;
		e->pub.inode = ino;
		/* Appended with a growing id: the array stays sorted by id. */
		e->pub.id = s->next_id++;
	}
	e->seen = true;
	return e;
}

/* The mounts of one directory of namespace files (/run/netns, a runtime's). */
static int scan_mounts(struct hf__nsset *s, const char *dir, bool named)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[600];
	uint64_t dev = 0, ino = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct hf__ns *e;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* A file left without its mount is on tmpfs, not nsfs: skip it. */
		if (stat_ns(path, &dev, &ino) < 0 || dev != s->self_dev)
			continue;
		e = ns_get(s, dev, ino);
		if (!e) {
			closedir(d);
			return -ENOMEM;
		}
		if (!e->mount[0] || (named && !e->named_mount)) {
			snprintf(e->mount, sizeof(e->mount), "%.255s", path);
			e->named_mount = named;
		}
	}
	closedir(d);
	return 0;
}

/* Every process: one stat of /proc/PID/ns/net, the first member kept. */
static int scan_procs(struct hf__nsset *s)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char path[64];
	uint64_t dev = 0, ino = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct hf__ns *e;
		int pid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = atoi(de->d_name);
		snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
		/* EACCES without CAP_SYS_PTRACE for other users', ENOENT for the exited. */
		if (stat_ns(path, &dev, &ino) < 0)
			continue;
		e = ns_get(s, dev, ino);
		if (!e) {
			closedir(d);
			return -ENOMEM;
		}
		if (e->pub.pid == 0 || e->pub.pid > pid)
			e->pub.pid = pid;
	}
	closedir(d);
	return 0;
}

static long read_file(const char *path, char **out)
{
	struct stat st;
	char *buf;
	long n;

	if (stat(path, &st) < 0)
		return -errno;
	if (st.st_size > 16 * 1024 * 1024)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	n = hf__read_small(path, buf, (size_t)st.st_size + 1);
	if (n < 0) {
		free(buf);
		return n;
	}
	*out = buf;
	return n;
}

/* The pod of @c->pod_uid from the kubelet's log directories. */
static void pod_lookup(struct hf_container *c)
{
	DIR *d = opendir(KUBELET_POD_LOGS);
	struct dirent *de;
	size_t ul = strlen(c->pod_uid);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		struct hf_container p;

		if (n <= ul || strcmp(de->d_name + n - ul, c->pod_uid) != 0 ||
		    hf_pod_dir_parse(de->d_name, &p) < 0 || strcmp(p.pod_uid, c->pod_uid) != 0)
			continue;
		memcpy(c->pod, p.pod, sizeof(c->pod));
		memcpy(c->pod_namespace, p.pod_namespace, sizeof(c->pod_namespace));
		break;
	}
	closedir(d);
}

static void container_lookup(struct hf_container *c)
{
	char path[512], *text = NULL;
	long n;

	if (c->pod_uid[0])
		pod_lookup(c);
	if (!c->id[0])
		return;
	if (strcmp(c->runtime, "docker") == 0) {
		snprintf(path, sizeof(path), "%s/%s/config.v2.json", DOCKER_CONTAINERS, c->id);
		n = read_file(path, &text);
		if (n >= 0)
			hf_docker_name_parse(text, (size_t)n, c->name, sizeof(c->name));
	} else if (strcmp(c->runtime, "podman") == 0) {
		n = read_file(PODMAN_CONTAINERS_JSON, &text);
		if (n >= 0)
			hf_podman_name_parse(text, (size_t)n, c->id, c->name, sizeof(c->name));
	}
	free(text);
}

static void comm_of(int pid, char *buf, size_t size)
{
	char path[64];
	long n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	n = hf__read_small(path, buf, size);
	if (n <= 0) {
		snprintf(buf, size, "?");
		return;
	}
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
}

/* Name a namespace seen for the first time; the name then stays. */
static void ns_name(struct hf__nsset *s, struct hf__ns *e, uint64_t host_dev, uint64_t host_ino)
{
	struct hf_netns *p = &e->pub;
	char path[64], cg[4096];
	long n;

	if (e->dev == host_dev && p->inode == host_ino) {
		p->kind = HF_NETNS_HOST;
		snprintf(p->name, sizeof(p->name), "host");
		return;
	}
	if (e->named_mount) {
		p->kind = HF_NETNS_NAMED;
		snprintf(p->name, sizeof(p->name), "%s", strrchr(e->mount, '/') + 1);
		return;
	}
	if (p->pid) {
		snprintf(path, sizeof(path), "/proc/%d/cgroup", p->pid);
		n = hf__read_small(path, cg, sizeof(cg));
		if (n > 0 && hf_cgroup_parse(cg, (size_t)n, &p->container) == 0) {
			struct hf_container *c = &p->container;
			container_lookup(c);
			p->kind = HF_NETNS_CONTAINER;
			if (c->pod[0])
				snprintf(p->name, sizeof(p->name), "%.63s/%.95s", c->pod_namespace,
					 c->pod);
			else if (c->name[0])
				snprintf(p->name, sizeof(p->name), "%s", c->name);
			else if (c->id[0])
				snprintf(p->name, sizeof(p->name), "%.12s", c->id);
			else
				snprintf(p->name, sizeof(p->name), "pod-%s", c->pod_uid);
			goto out_unique;
		}
	}
	if (e->mount[0]) {
		p->kind = HF_NETNS_RUNTIME;
		snprintf(p->name, sizeof(p->name), "%s", strrchr(e->mount, '/') + 1);
	} else {
		char comm[32];
		comm_of(p->pid, comm, sizeof(comm));
		p->kind = HF_NETNS_PROCESS;
		snprintf(p->name, sizeof(p->name), "pid-%d-%s", p->pid, comm);
	}
out_unique:
	/* Two containers of one name (a pod's restart, say): the inode tells them apart. */
	for (size_t i = 0; i < s->n; i++)
		if (&s->v[i] != e && s->v[i].pub.name[0] &&
		    strcmp(s->v[i].pub.name, p->name) == 0) {
			size_t len = strlen(p->name);
			snprintf(p->name + len, sizeof(p->name) - len, "-%llu",
				 (unsigned long long)p->inode);
			break;
		}
}

static bool has_cap(int bit)
{
	char buf[4096], *p;
	unsigned long long caps;

	if (hf__read_small("/proc/self/status", buf, sizeof(buf)) <= 0)
		return false;
	p = strstr(buf, "\nCapEff:");
	if (!p || sscanf(p + 8, "%llx", &caps) != 1)
		return false;
	return (caps >> bit) & 1;
}

static const char *const runtime_dirs[] = {
	"/run/docker/netns",
	"/var/run/docker/netns",
	"/run/containerd/netns",
};

int hf__nsset_discover(struct hf__nsset *s)
{
	uint64_t host_dev = 0, host_ino = 0;
	size_t k;
	int ret = 0;

	if (!s->degraded && !has_cap(CAP_SYS_ADMIN_BIT))
		s->degraded = true;
	if (s->degraded && !s->degraded_told) {
		s->degraded_told = hf__notice_add(
			s, "network namespaces: without CAP_SYS_ADMIN (and CAP_SYS_PTRACE "
			   "for other users' processes) only the own namespace is read\n");
	}
	for (size_t i = 0; i < s->n; i++) {
		struct hf__ns *e = &s->v[i];
		e->seen = e->pub.self;
		/* and its mounts: one may have gone while processes hold it */
		e->mount[0] = '\0';
		e->named_mount = false;
		/* a member process is found anew: the last one may have exited */
		if (!e->pub.self && !s->degraded)
			e->pub.pid = 0;
	}
	/* The mounts name the own namespace too; the processes only matter with privilege. */
	ret = scan_mounts(s, "/run/netns", true);
	if (ret == 0)
		ret = scan_mounts(s, "/var/run/netns", true);
	for (k = 0; ret == 0 && k < sizeof(runtime_dirs) / sizeof(runtime_dirs[0]); k++)
		ret = scan_mounts(s, runtime_dirs[k], false);
	if (ret == 0 && !s->degraded) {
		/* rootless podman: /run/user/UID/netns */
		DIR *d = opendir("/run/user");
		struct dirent *de;
		char dir[300];
		while (ret == 0 && d && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(dir, sizeof(dir), "/run/user/%s/netns", de->d_name);
			ret = scan_mounts(s, dir, false);
		}
		if (d)
			closedir(d);
	}
	if (ret == 0 && !s->degraded)
		ret = scan_procs(s);
	host_ns(&host_dev, &host_ino);
	/* Forget the namespaces gone, keeping the order of the others. */
	for (size_t i = 0, j = 0, n = s->n; i < n; i++) {
		if (s->v[i].seen) {
			if (i != j)
				s->v[j] = s->v[i];
			j++;
		} else {
			ns_release(&s->v[i]);
			s->n--;
		}
	}
	/* The own namespace's name of hf_open() ("host" or "self") is refined once. */
	if (!s->self_named) {
		for (size_t i = 0; i < s->n; i++)
			if (s->v[i].pub.self)
				s->v[i].pub.name[0] = '\0';
		s->self_named = true;
	}
	for (size_t i = 0; i < s->n; i++)
		if (!s->v[i].pub.name[0])
			ns_name(s, &s->v[i], host_dev, host_ino);
	for (size_t i = 0; i < s->n; i++) {
		struct hf__ns *e = &s->v[i];
		e->selected = s->degraded ? e->pub.self :
					    s->all || (s->self && e->pub.self) ||
						    (s->host && e->pub.kind == HF_NETNS_HOST);
		for (k = 0; !e->selected && k < s->nnames; k++)
			e->selected = strcmp(s->names[k], e->pub.name) == 0;
	}
	for (k = 0; !s->degraded && k < s->nnames; k++) {
		bool found = false;
		for (size_t i = 0; i < s->n && !found; i++)
			found = strcmp(s->names[k], s->v[i].pub.name) == 0;
		if (!found && !s->names_told[k]) {
			s->names_told[k] = hf__notice_add(s, "network namespace \"%s\" not found\n",
							  s->names[k]);
		}
	}
	return ret;
}

/* ---- entering a namespace ----------------------------------------------------------------- */

struct enter_arg {
	enum hf_backend want;
	struct hf_diag *diag;
	int stat_fd[2];
	uint16_t lo, hi;
	int err;
};

/* /proc/sys/net answers for the namespace of the thread that opens it. */
static void enter(void *p)
{
	struct enter_arg *a = p;

	hf_port_range_read("/proc", &a->lo, &a->hi);
	if (a->want != HF_BACKEND_PROC) {
		a->diag = hf_diag_open();
		/* refused: AUTO reads /proc/PID/net of a member instead */
		if (!a->diag && a->want == HF_BACKEND_NETLINK)
			a->err = -errno;
	}
	/*
	 * The bpf backend's sockstat: a /proc/net file stays bound to the
	 * namespace it was opened in, member process or not.
	 */
	if (a->want == HF_BACKEND_NETLINK) {
		a->stat_fd[0] = open("/proc/thread-self/net/sockstat", O_RDONLY | O_CLOEXEC) + 1;
		a->stat_fd[1] = open("/proc/thread-self/net/sockstat6", O_RDONLY | O_CLOEXEC) + 1;
	}
}

struct run_arg {
	int fd;
	void (*fn)(void *);
	void *arg;
	int err;
};

/*
 * setns(CLONE_NEWNET) moves the calling thread only: the collector's own
 * threads stay where they are, and a socket keeps the namespace it was
 * made in after this thread is gone.
 */
static void *run_thread(void *p)
{
	struct run_arg *a = p;

	if (setns(a->fd, CLONE_NEWNET) < 0) {
		a->err = -errno;
		return NULL;
	}
	a->fn(a->arg);
	return NULL;
}

int hf__ns_run(struct hf__ns *e, void (*fn)(void *), void *arg)
{
	struct run_arg a = { .fn = fn, .arg = arg };
	char path[300];
	struct stat st;
	pthread_t t;
	int ret;

	if (e->mount[0])
		snprintf(path, sizeof(path), "%s", e->mount);
	else
		snprintf(path, sizeof(path), "/proc/%d/ns/net", e->pub.pid);
	a.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (a.fd < 0)
		return errno == ESRCH ? -ENOENT : -errno;
	/* The pid may have been reused by a process of another namespace. */
	if (fstat(a.fd, &st) < 0 || st.st_ino != e->pub.inode || st.st_dev != e->dev) {
		ret = -ENOENT;
		goto out_close;
	}
	ret = pthread_create(&t, NULL, run_thread, &a);
	if (ret) {
		ret = -ret;
		goto out_close;
	}
	pthread_join(t, NULL);
	ret = a.err;
out_close:
	/* Never keep a namespace file open: it would hold the namespace too. */
	close(a.fd);
	return ret;
}

int hf__ns_enter(struct hf__ns *e, enum hf_backend want)
{
	struct enter_arg a = { .want = want };
	int ret = hf__ns_run(e, enter, &a);

	if (ret == 0)
		ret = a.err;
	if (ret == 0) {
		e->diag = a.diag;
		e->stat_fd[0] = a.stat_fd[0];
		e->stat_fd[1] = a.stat_fd[1];
		e->port_lo = a.lo;
		e->port_hi = a.hi;
		e->entered = true;
	}
	return ret;
}

/* ---- the public accessors ----------------------------------------------------------------- */

int hf__nsset_select(struct hf__nsset *s, const char *spec)
{
	char **names;
	bool *told;

	if (!spec || !*spec)
		return -EINVAL;
	s->active = true;
	if (strcmp(spec, "all") == 0) {
		s->all = true;
		return 0;
	}
	if (strcmp(spec, "host") == 0) {
		s->host = true;
		return 0;
	}
	if (strcmp(spec, "self") == 0) {
		s->self = true;
		return 0;
	}
	names = realloc(s->names, (s->nnames + 1) * sizeof(*names));
	if (!names)
		return -ENOMEM;
	s->names = names;
	told = realloc(s->names_told, (s->nnames + 1) * sizeof(*told));
	if (!told)
		return -ENOMEM;
	s->names_told = told;
	s->names[s->nnames] = strdup(spec);
	if (!s->names[s->nnames])
		return -ENOMEM;
	s->names_told[s->nnames++] = false;
	return 0;
}
