/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every module uses: unused-parameter marker, array size,
 * overflow-checked size arithmetic. Header only, no state.
 */
#ifndef CLOUDFS_CF_UTIL_H
#define CLOUDFS_CF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_UNUSED __attribute__((unused))
#define CF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CF_MAX(a, b) ((a) > (b) ? (a) : (b))
#define CF_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* a + b into *out; false (and *out untouched) when it would overflow. */
static inline bool cf_size_add(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* a * b into *out; false (and *out untouched) when it would overflow. */
static inline bool cf_size_mul(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

/* Little-endian loads and stores for wire formats, alignment-free. */
static inline void cf_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t cf_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void cf_put_le64(uint8_t *p, uint64_t v)
{
	cf_put_le32(p, (uint32_t)v);
	cf_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t cf_get_le64(const uint8_t *p)
{
	return (uint64_t)cf_get_le32(p) | (uint64_t)cf_get_le32(p + 4) << 32;
}

#endif /* CLOUDFS_CF_UTIL_H */
