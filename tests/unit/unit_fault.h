/* SPDX-License-Identifier: MIT */
/*
 * Allocation fault injection for one cmocka binary. When armed, the k-th
 * malloc/calloc/realloc of the binary's own and linked archives' code
 * fails (SQLite, a shared library, is not wrapped). The test's .ldflags
 * must hold -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc.
 * Include once per binary, after <cmocka.h>; single-threaded use only.
 */
#ifndef CLOUDFS_TESTS_UNIT_FAULT_H
#define CLOUDFS_TESTS_UNIT_FAULT_H

#include <stdbool.h>
#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static bool fault_armed;
static unsigned long fault_calls, fault_at, fault_failed;

static inline bool fault_hit(void)
{
	if (!fault_armed || ++fault_calls != fault_at)
		return false;
	fault_failed++;
	return true;
}

void *__wrap_malloc(size_t size)
{
	return fault_hit() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fault_hit() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return fault_hit() ? NULL : __real_realloc(p, size);
}

/* Fail the k-th allocation from now on (counting from 1). */
static inline void fault_arm(unsigned long k)
{
	fault_calls = 0;
	fault_failed = 0;
	fault_at = k;
	fault_armed = true;
}

static inline void fault_disarm(void)
{
	fault_armed = false;
}

/* rc of a step under faults: fine, or a clean -ENOMEM. */
#define FAULT_OK(rc) assert_true((rc) == 0 || (rc) == -ENOMEM)

#endif /* CLOUDFS_TESTS_UNIT_FAULT_H */
