/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the cmocka tests: hex literals to bytes, and
 * deterministic test data. Header only; include after <cmocka.h>.
 */
#ifndef CLOUDFS_TESTS_UNIT_UTIL_H
#define CLOUDFS_TESTS_UNIT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decode the hex string s into out, which must hold exactly size bytes. */
static inline void unhex(const char *s, uint8_t *out, size_t size)
{
	size_t i;
	unsigned int v;

	assert_int_equal(strlen(s), 2 * size);
	for (i = 0; i < size; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* Assert that size bytes at p are the bytes spelled by hex string s. */
static inline void assert_hex_equal(const void *p, size_t size, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;
	char buf[2 * 4096 + 1];
	size_t i;

	assert_true(size <= 4096);
	for (i = 0; i < size; i++) {
		buf[2 * i] = digits[b[i] >> 4];
		buf[2 * i + 1] = digits[b[i] & 15];
	}
	buf[2 * size] = '\0';
	assert_string_equal(buf, s);
}

/* xorshift64*: a fixed, seedable stream of test bytes (not for secrets). */
static inline void fill_random(uint8_t *p, size_t size, uint64_t seed)
{
	uint64_t x = seed ? seed : 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < size; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (uint8_t)((x * 0x2545f4914f6cdd1dull) >> 56);
	}
}

/* Log-like lines with varying words and numbers: compresses ~3-4x. */
static inline void fill_text(uint8_t *p, size_t size, uint32_t seed)
{
	static const char *const words[] = {
		"upload", "block",   "GET",	"PUT",	  "status", "ok",
		"error",  "timeout", "session", "device", "cache",  "write",
		"read",	  "sync",    "notify",	"client", "server", "latency",
	};
	const size_t nwords = sizeof(words) / sizeof(words[0]);
	uint32_t s = seed;
	size_t o = 0;
	char line[160];
	int n;

	while (o < size) {
		s = s * 1103515245u + 12345u;
		n = snprintf(
			line, sizeof(line),
			"2026-11-25T04:%02u:%02u host%u cloudfsd: %s %s id=%08x size=%u\n",
			(s >> 8) % 60, (s >> 14) % 60, (s >> 20) % 8,
			words[(s >> 5) % nwords], words[(s >> 11) % nwords],
			s ^ (uint32_t)o, (s >> 7) % 100000);
		assert_true(n > 0 && (size_t)n < sizeof(line));
		if ((size_t)n > size - o)
			n = (int)(size - o);
		memcpy(p + o, line, (size_t)n);
		o += (size_t)n;
	}
}

#endif /* CLOUDFS_TESTS_UNIT_UTIL_H */
