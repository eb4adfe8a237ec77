/*
 * tap.h - the smallest test harness: TAP lines that tests/run.sh counts.
 */
#ifndef HOSTFLOW_TAP_H
#define HOSTFLOW_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_failed;

#define OK(cond, ...)                                                            \
	do {                                                                     \
		if (cond) {                                                      \
			printf("ok - ");                                         \
		} else {                                                         \
			printf("not ok - ");                                     \
			tap_failed++;                                            \
		}                                                                \
		printf(__VA_ARGS__);                                             \
		printf("\n");                                                    \
		if (!(cond))                                                     \
			printf("#   at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	} while (0)

#define EQ_INT(got, want, ...)                                           \
	do {                                                             \
		long long g_ = (long long)(got), w_ = (long long)(want); \
		OK(g_ == w_, __VA_ARGS__);                               \
		if (g_ != w_)                                            \
			printf("#   got %lld, want %lld\n", g_, w_);     \
	} while (0)

#define EQ_STR(got, want, ...)                                                   \
	do {                                                                     \
		const char *g_ = (got), *w_ = (want);                            \
		int same_ = g_ && w_ && strcmp(g_, w_) == 0;                     \
		OK(same_, __VA_ARGS__);                                          \
		if (!same_)                                                      \
			printf("#   got  %s\n#   want %s\n", g_ ? g_ : "(null)", \
			       w_ ? w_ : "(null)");                              \
	} while (0)

#endif /* HOSTFLOW_TAP_H */
