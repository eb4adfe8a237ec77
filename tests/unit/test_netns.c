/*
 * test_netns.c - the pure parts of namespace naming, on the fixtures under
 * tests/unit/fixtures/netns: cgroup paths -> runtime, container id and pod
 * uid; kubelet pod directories; Docker's config.v2.json and
 * containers/storage's containers.json -> a container's name. And the
 * default collector: one namespace, the own one, index 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostflow.h"
#include "tap.h"

#define FIXTURES "tests/unit/fixtures/netns/"
#define ID_DOCKER "4f1c0b6a2d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
#define ID_K8S "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
#define ID_PODMAN "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
#define POD_UID "0a1b2c3d-4e5f-6789-abcd-ef0123456789"

static size_t slurp(const char *name, char *buf, size_t size)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), FIXTURES "%s", name);
	f = fopen(path, "r");
	if (!f) {
		printf("# cannot open %s\n", path);
		exit(1);
	}
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

static void cgroup_case(const char *fixture, int want_ret, const char *runtime, const char *id,
			const char *pod_uid)
{
	struct hf_container c;
	char buf[4096];
	size_t n = slurp(fixture, buf, sizeof(buf));
	int ret = hf_cgroup_parse(buf, n, &c);

	EQ_INT(ret, want_ret, "%s: return", fixture);
	if (ret == 0) {
		EQ_STR(c.runtime, runtime, "%s: runtime", fixture);
		EQ_STR(c.id, id, "%s: container id", fixture);
		EQ_STR(c.pod_uid, pod_uid, "%s: pod uid", fixture);
	}
}

static void test_cgroup(void)
{
	cgroup_case("cgroup-docker-v2", 0, "docker", ID_DOCKER, "");
	cgroup_case("cgroup-docker-v1", 0, "docker", ID_DOCKER, "");
	cgroup_case("cgroup-k8s-containerd", 0, "containerd", ID_K8S, POD_UID);
	cgroup_case("cgroup-k8s-crio-burstable", 0, "cri-o", ID_K8S, POD_UID);
	cgroup_case("cgroup-k8s-cgroupfs", 0, "kubernetes", ID_K8S, POD_UID);
	cgroup_case("cgroup-podman", 0, "podman", ID_PODMAN, "");
	cgroup_case("cgroup-podman-conmon", -ENOENT, "", "", "");
	cgroup_case("cgroup-host", -ENOENT, "", "", "");

	struct hf_container c;
	static const char short_id[] = "0::/system.slice/docker-4f1c0b6a.scope\n";
	static const char not_hex[] =
		"0::/system.slice/docker-"
		"zz1c0b6a2d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a."
		"scope\n";
	static const char no_newline[] = "0::/system.slice/docker-" ID_DOCKER ".scope";
	EQ_INT(hf_cgroup_parse(short_id, strlen(short_id), &c), -ENOENT,
	       "a short id is no container");
	EQ_INT(hf_cgroup_parse(not_hex, strlen(not_hex), &c), -ENOENT,
	       "a non-hex id is no container");
	EQ_INT(hf_cgroup_parse("", 0, &c), -ENOENT, "empty text: nothing");
	EQ_INT(hf_cgroup_parse(no_newline, strlen(no_newline), &c), 0,
	       "a last line without newline");
	/* a length shorter than the text: what lies past it is not read */
	EQ_INT(hf_cgroup_parse(no_newline, 30, &c), -ENOENT, "the length is honoured");
}

static void test_pod_dir(void)
{
	struct hf_container c;

	memset(&c, 0, sizeof(c));
	EQ_INT(hf_pod_dir_parse("kube-system_coredns-5d78c9869d-abcde_" POD_UID, &c), 0,
	       "pod dir: parsed");
	EQ_STR(c.pod_namespace, "kube-system", "pod dir: namespace");
	EQ_STR(c.pod, "coredns-5d78c9869d-abcde", "pod dir: pod");
	EQ_STR(c.pod_uid, POD_UID, "pod dir: uid");
	EQ_INT(hf_pod_dir_parse("default_web", &c), -EINVAL, "pod dir: two fields refused");
	EQ_INT(hf_pod_dir_parse("a_b_c_d", &c), -EINVAL, "pod dir: four fields refused");
	EQ_INT(hf_pod_dir_parse("_web_" POD_UID, &c), -EINVAL, "pod dir: empty namespace refused");
	EQ_INT(hf_pod_dir_parse("default__" POD_UID, &c), -EINVAL, "pod dir: empty pod refused");
	EQ_INT(hf_pod_dir_parse("default_web_", &c), -EINVAL, "pod dir: empty uid refused");
}

static void test_names(void)
{
	static char buf[65536];
	char name[128];
	size_t n;

	n = slurp("config.v2.json", buf, sizeof(buf));
	EQ_INT(hf_docker_name_parse(buf, n, name, sizeof(name)), 0, "config.v2.json: parsed");
	EQ_STR(name, "web-frontend", "config.v2.json: top-level Name, without its '/'");
	n = slurp("config.v2-noname.json", buf, sizeof(buf));
	EQ_INT(hf_docker_name_parse(buf, n, name, sizeof(name)), -EBADMSG,
	       "config.v2.json without a top-level Name: -EBADMSG");
	EQ_INT(hf_docker_name_parse("{\"Name\":", 8, name, sizeof(name)), -EBADMSG,
	       "truncated config.v2.json: -EBADMSG");
	EQ_INT(hf_docker_name_parse("{\"Name\":\"/\"}", 12, name, sizeof(name)), -EBADMSG,
	       "an empty Name: -EBADMSG");

	n = slurp("containers.json", buf, sizeof(buf));
	EQ_INT(hf_podman_name_parse(buf, n, ID_PODMAN, name, sizeof(name)), 0,
	       "containers.json: parsed");
	EQ_STR(name, "db-primary", "containers.json: the first name of the id");
	EQ_INT(hf_podman_name_parse(buf, n, ID_DOCKER, name, sizeof(name)), -ENOENT,
	       "containers.json: an id not there: -ENOENT");
	EQ_INT(hf_podman_name_parse("{}", 2, ID_PODMAN, name, sizeof(name)), -EBADMSG,
	       "containers.json not an array: -EBADMSG");
}

static void test_default(void)
{
	struct hf_ctx *ctx = hf_open(HF_BACKEND_PROC, "tests/unit/fixtures/proc");
	const struct hf_netns *ns;
	struct hf_flow *flows;
	size_t n, bad = 0;

	if (!ctx) {
		OK(0, "hf_open: %s", strerror(errno));
		return;
	}
	EQ_INT(hf_collect(ctx, NULL), 0, "default: collects");
	OK(!hf_netns_selected(ctx), "default: no namespace selected");
	EQ_INT(hf_netns_count(ctx), 1, "default: one namespace");
	ns = hf_netns_get(ctx, 0);
	OK(ns && ns->self && ns->collected, "default: it is the own one, collected");
	OK(hf_netns_get(ctx, 1) == NULL, "default: nothing past the end");
	OK(ns && ns->id == 0 && hf_netns_find(ctx, 0) == ns, "default: its id is 0");
	OK(hf_netns_find(ctx, 1) == NULL, "default: no namespace of id 1");
	flows = hf_flows(ctx, &n);
	for (size_t i = 0; i < n; i++)
		bad += flows[i].netns != 0;
	OK(n > 0 && bad == 0, "default: every flow in namespace 0");
	EQ_INT(ns ? ns->totals.flows : 0, n, "default: the namespace's totals are the host's");
	EQ_STR(hf_notice(ctx), "", "default: nothing to say");
	EQ_INT(hf_netns_select(ctx, ""), -EINVAL, "an empty selection is refused");
	hf_close(ctx);
}

int main(void)
{
	test_cgroup();
	test_pod_dir();
	test_names();
	test_default();
	return tap_failed != 0;
}
