/*
 * collectd/config.c - the <Plugin hostflow> blocks, parsed by the shared
 * option vocabulary (hf_options_set), and the init callback that registers
 * the read callback with them.
 */
#include "cd.h"

#include <errno.h>
#include <stdio.h>

/*
 * From the config callbacks to the init callback, and NULL and 0 after it:
 * the options of the <Plugin hostflow> blocks, and how many were refused.
 */
static struct hf_cd *pending;
static int config_errors;

/* A config value as the text hf_options_set() parses. */
static int value_text(const oconfig_value_t *v, char *buf, size_t len)
{
	switch (v->type) {
	case OCONFIG_TYPE_STRING:
		snprintf(buf, len, "%s", v->value.string);
		return 0;
	case OCONFIG_TYPE_NUMBER:
		snprintf(buf, len, "%.15g", v->value.number);
		return 0;
	case OCONFIG_TYPE_BOOLEAN:
		snprintf(buf, len, "%s", v->value.boolean ? "true" : "false");
		return 0;
	}
	return -EINVAL;
}

/* One value of option @c, as hf_options_set() takes it. */
static int config_value(struct hf_cd *cd, const oconfig_item_t *c, const oconfig_value_t *v)
{
	char value[256], err[512];
	int ret;

	if (value_text(v, value, sizeof(value)) < 0) {
		ERROR(PLUGIN_NAME " plugin: option \"%s\": a value of unknown type", c->key);
		return -EINVAL;
	}
	ret = hf_options_set(&cd->opts, c->key, value, err, sizeof(err));
	if (ret == -ENOENT) {
		ERROR(PLUGIN_NAME " plugin: %s (with value \"%s\")", err, value);
		return ret;
	}
	if (ret < 0) {
		ERROR(PLUGIN_NAME " plugin: %s", err);
		return ret;
	}
	return 0;
}

/* An option line: one value, or several for an option that repeats (Namespaces "a" "b"). */
static int config_option(struct hf_cd *cd, const oconfig_item_t *c)
{
	int ret = 0;

	if (c->children_num > 0) {
		ERROR(PLUGIN_NAME " plugin: <%s> is a block; options are \"Key value\" lines",
		      c->key);
		return -EINVAL;
	}
	if (c->values_num < 1 || (c->values_num > 1 && !hf_options_repeats(c->key))) {
		ERROR(PLUGIN_NAME " plugin: option \"%s\" takes exactly one value (%d given)",
		      c->key, c->values_num);
		return -EINVAL;
	}
	for (int i = 0; i < c->values_num && ret == 0; i++)
		ret = config_value(cd, c, &c->values[i]);
	return ret;
}

/*
 * A <Plugin hostflow> block: its options are added to the pending ones
 * (several blocks add up; an option given twice is an error). Every error
 * is logged. The status is 0 even then: collectd 5.12 gives up on the
 * whole configuration when a plugin's config callback fails, and one
 * plugin's mistake must not stop the others. The init callback fails
 * instead, so "collectd -T" exits 1 on a bad option. (collectd 5.12's "-t"
 * exits before it reads the configuration: it cannot catch anything.)
 */
int cd_config(oconfig_item_t *ci)
{
	int errors = 0;

	if (!pending)
		pending = cd_new();
	if (!pending) {
		ERROR(PLUGIN_NAME " plugin: out of memory; not collecting");
		config_errors++;
		return 0;
	}
	for (int i = 0; i < ci->children_num; i++)
		if (config_option(pending, &ci->children[i]) < 0)
			errors++;
	if (errors)
		ERROR(PLUGIN_NAME " plugin: %d error%s in <Plugin " PLUGIN_NAME ">; not collecting",
		      errors, errors == 1 ? "" : "s");
	config_errors += errors;
	return 0;
}

/*
 * After every config callback: register the read callback with the options
 * of the blocks, or the defaults when there was none. After an error, no
 * read callback: a failed init makes collectd say the plugin is unloaded.
 */
int cd_init(void)
{
	struct hf_cd *cd = pending;
	int errors = config_errors;

	pending = NULL;
	config_errors = 0;
	if (errors) {
		cd_free(cd);
		return -1;
	}
	if (!cd)
		cd = cd_new();
	if (!cd) {
		ERROR(PLUGIN_NAME " plugin: out of memory; not collecting");
		return -1;
	}
	return cd_register(cd) == 0 ? 0 : -1;
}
