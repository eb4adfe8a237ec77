/*
 * fuzz_diag.c - libFuzzer target: inet_diag replies: hf__diag_handle() over one netlink read, hf_diag_parse() on each message.
 * The input format is described at fuzz_diag_one() in targets.h; seeds are
 * in tests/fuzz/corpus/diag/, crashes found are kept in tests/fuzz/regress/diag/.
 */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_diag_one(data, size, true);
	return 0;
}
