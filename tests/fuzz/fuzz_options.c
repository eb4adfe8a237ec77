/*
 * fuzz_options.c - libFuzzer target: the plugin option parser: lines of key=value into hf_options_set().
 * The input format is described at fuzz_options_one() in targets.h; seeds are
 * in tests/fuzz/corpus/options/, crashes found are kept in tests/fuzz/regress/options/.
 */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_options_one(data, size);
	return 0;
}
