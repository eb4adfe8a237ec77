/*
 * fuzz_proc.c - libFuzzer target: /proc/net/tcp{,6} lines: hf_proc_parse_line() for both families.
 * The input format is described at fuzz_proc_one() in targets.h; seeds are
 * in tests/fuzz/corpus/proc/, crashes found are kept in tests/fuzz/regress/proc/.
 */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_proc_one(data, size);
	return 0;
}
