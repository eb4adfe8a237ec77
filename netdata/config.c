/*
 * config.c - hostflow.plugin's options: hostflow.conf and the command line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "nd.h"

/* @key folded as hf_options_set matches keys: lower case, no ' ', '\t', '_' or '-'. */
static void key_fold(const char *key, char *buf, size_t len)
{
	size_t o = 0;

	for (; *key && o + 1 < len; key++) {
		if (*key == ' ' || *key == '\t' || *key == '_' || *key == '-')
			continue;
		buf[o++] = (char)(*key >= 'A' && *key <= 'Z' ? *key + 32 : *key);
	}
	buf[o] = '\0';
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static bool key_given(const struct nd_args *a, const char *key)
{
	char k[64], g[64];

	key_fold(key, k, sizeof(k));
	for (size_t i = 0; i < a->nkv; i++) {
		char buf[64];
		const char *eq = strchr(a->kv[i], '=');
		size_t n = (size_t)(eq - a->kv[i]);
		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		memcpy(buf, a->kv[i], n);
		buf[n] = '\0';
		key_fold(buf, g, sizeof(g));
		if (strcmp(k, g) == 0)
			return true;
	}
	return false;
}

/* nd_option_set - hf_options_set: every shared option is charted (see hostflow.plugin(8)). */
int nd_option_set(struct hf_options *o, const char *key, const char *value, char *err,
		  size_t errlen)
{
	return hf_options_set(o, key, value, err, errlen);
}

/*
 * nd_config_read - apply hostflow.conf, read from @f and called @path in
 * messages, to @o: "key = value" lines, '#' comments, blank lines and an
 * optional "[plugin]" section header. Keys given in @a are skipped. Every
 * bad line is reported on @err with the file, line, key and value.
 * Returns the number of bad lines.
 */
unsigned int nd_config_read(struct hf_options *o, FILE *f, const char *path,
			    const struct nd_args *a, FILE *err)
{
	char line[ND_CONF_LINE_MAX + 2], msg[256];
	unsigned int lineno = 0, bad = 0;

	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *key, *value, *hash;
		size_t len = strlen(line);

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			int c;
			nd_log(err, ND_ERROR, "%s:%u: line longer than %d bytes", path, lineno,
			       ND_CONF_LINE_MAX);
			bad++;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			if (strcasecmp(s, "[plugin]") != 0) {
				nd_log(err, ND_ERROR, "%s:%u: section %s: only [plugin] is known",
				       path, lineno, s);
				bad++;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			nd_log(err, ND_ERROR, "%s:%u: \"%s\" is not \"key = value\"", path, lineno,
			       s);
			bad++;
			continue;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		len = strlen(value);
		if (len >= 2 && (value[0] == '"' || value[0] == '\'') &&
		    value[len - 1] == value[0]) {
			value[len - 1] = '\0';
			value++;
		}
		if (key_given(a, key))
			continue;
		if (nd_option_set(o, key, value, msg, sizeof(msg)) < 0) {
			nd_log(err, ND_ERROR, "%s:%u: key \"%s\", value \"%s\": %s", path, lineno,
			       key, value, msg);
			bad++;
		}
	}
	if (ferror(f)) {
		nd_log(err, ND_ERROR, "%s: read error: %s", path, strerror(errno));
		bad++;
	}
	return bad;
}

/* The KEY=VALUE words of the command line; returns the number of bad ones. */
unsigned int nd_args_apply(struct hf_options *o, const struct nd_args *a, FILE *err)
{
	unsigned int bad = 0;
	char msg[256];

	for (size_t i = 0; i < a->nkv; i++) {
		char buf[ND_CONF_LINE_MAX], *eq, *key, *value;

		snprintf(buf, sizeof(buf), "%s", a->kv[i]);
		eq = strchr(buf, '=');
		*eq = '\0';
		key = trim(buf);
		value = trim(eq + 1);
		if (nd_option_set(o, key, value, msg, sizeof(msg)) < 0) {
			nd_log(err, ND_ERROR, "command options: key \"%s\", value \"%s\": %s", key,
			       value, msg);
			bad++;
		}
	}
	return bad;
}

/*
 * nd_args_parse - argv: [UPDATE_EVERY] [KEY=VALUE]..., or --help / --version.
 * Returns 0 or -EINVAL after a message on @err. @a points into @argv.
 */
int nd_args_parse(int argc, char **argv, struct nd_args *a, FILE *err)
{
	int i = 1;

	memset(a, 0, sizeof(*a));
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		a->help = true;
		return 0;
	}
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
		a->version = true;
		return 0;
	}
	if (argc > 1 && !strchr(argv[1], '=')) {
		char *end;
		unsigned long v;
		errno = 0;
		v = strtoul(argv[1], &end, 10);
		if (errno || end == argv[1] || *end || v < 1 || v > 86400) {
			nd_log(err, ND_ERROR, "update every \"%s\" is not seconds from 1 to 86400",
			       argv[1]);
			return -EINVAL;
		}
		a->every = (unsigned int)v;
		i = 2;
	}
	a->kv = argv + i;
	for (; i < argc; i++) {
		if (!strchr(argv[i], '=') || argv[i][0] == '=') {
			nd_log(err, ND_ERROR, "argument \"%s\" is not KEY=VALUE", argv[i]);
			return -EINVAL;
		}
		a->nkv++;
	}
	return 0;
}

/*
 * nd_config_path - the hostflow.conf to read into @buf: the user's
 * (NETDATA_USER_CONFIG_DIR, else NETDATA_CONFIG_DIR, else /etc/netdata) if
 * it exists, else the stock one (NETDATA_STOCK_CONFIG_DIR, else
 * /usr/lib/netdata/conf.d). Returns false when there is neither.
 */
bool nd_config_path(char *buf, size_t len)
{
	const char *user = getenv("NETDATA_USER_CONFIG_DIR");
	const char *stock = getenv("NETDATA_STOCK_CONFIG_DIR");

	if (!user || !*user)
		user = getenv("NETDATA_CONFIG_DIR");
	if (!user || !*user)
		user = "/etc/netdata";
	if (!stock || !*stock)
		stock = "/usr/lib/netdata/conf.d";
	snprintf(buf, len, "%s/" ND_CONF, user);
	if (access(buf, F_OK) == 0)
		return true;
	snprintf(buf, len, "%s/" ND_CONF, stock);
	return access(buf, F_OK) == 0;
}
