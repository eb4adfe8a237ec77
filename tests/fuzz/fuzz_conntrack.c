/*
 * fuzz_conntrack.c - libFuzzer target: ctnetlink replies and events:
 * hf__ct_handle() over one netlink read, hf_ct_parse() on each message,
 * hf_ct_proc_parse_line() on each line. The input format is described at
 * fuzz_conntrack_one() in targets.h; seeds are in tests/fuzz/corpus/conntrack/.
 */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_conntrack_one(data, size, true);
	return 0;
}
