/*
 * fuzz_netstat.c - libFuzzer target: /proc/net/netstat text: hf_netstat_parse().
 * The input format is described at fuzz_netstat_one() in targets.h; seeds are
 * in tests/fuzz/corpus/netstat/, crashes found are kept in tests/fuzz/regress/netstat/.
 */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_netstat_one(data, size);
	return 0;
}
