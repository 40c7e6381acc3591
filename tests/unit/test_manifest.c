/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for libblock/manifest.c: golden bytes and tag (cross-checked
 * with Python's hmac), round trips up to the entry limit, every tampering
 * the tag must catch, hostile headers refused with the right code before
 * any allocation (ASan watches the reads), and a fault loop over the
 * allocations (see test_manifest.ldflags).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blk/keys.h"
#include "blk/manifest.h"
#include "cf_buf.h"
#include "cf_util.h"
#include "unit_util.h"

/* --- allocation fault injection -------------------------------------- */

void *__real_malloc(size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_realloc(void *p, size_t size);

static bool fault_armed;
static unsigned long fault_calls, fault_at, fault_failed;

static bool fault_hit(void)
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

void *__wrap_realloc(void *p, size_t size)
{
	return fault_hit() ? NULL : __real_realloc(p, size);
}

static void fault_arm(unsigned long k)
{
	fault_calls = 0;
	fault_failed = 0;
	fault_at = k;
	fault_armed = true;
}

/* --- fixtures ---------------------------------------------------------- */

#define GOLDEN_HELLO_ID \
 "cef433edbccab7a406dd60d873bd96efdcb9ee95a9837c0b051d9bb98565311e"
#define GOLDEN_PATTERN_ID \
 "10f6f9612bc104dfc19ffe768e430c44a8af98dfd2fa7cccd0a00bf59435aaf2"
/* Built and tagged by Python from the layout in docs/PROTOCOL.md. */
#define GOLDEN_MANIFEST                                               \
 "43464d3101000000059001000000000002000000cef433edbccab7a406dd60d873" \
 "bd96efdcb9ee95a9837c0b051d9bb98565311e0500000010f6f9612bc104dfc19f" \
 "fe768e430c44a8af98dfd2fa7cccd0a00bf59435aaf200900100"
#define GOLDEN_TAG \
 "c0b0cb61b356b27e6db29b98db471f79e772066143e507cf1a15c6dd9fe4679f"

static uint8_t k_mac[BLK_KEY_SIZE];
static uint8_t file_id[BLK_FILE_ID_SIZE];

static int group_setup(void **state)
{
	uint8_t vk[BLK_KEY_SIZE];
	struct blk_volume_keys k;

	(void)state;
	for (int i = 0; i < BLK_KEY_SIZE; i++)
		vk[i] = (uint8_t)i;
	for (int i = 0; i < BLK_FILE_ID_SIZE; i++)
		file_id[i] = (uint8_t)i;
	if (blk_volume_keys_derive(vk, &k) < 0)
		return -1;
	memcpy(k_mac, k.mac, sizeof(k_mac));
	blk_keys_wipe(&k, sizeof(k));
	return 0;
}

static struct blk_id id_of(unsigned int n)
{
	struct blk_id id;

	memset(&id, 0, sizeof(id));
	cf_put_le32(id.bytes, n);
	id.bytes[31] = 0xee;
	return id;
}

/* A manifest of count entries of varying sizes, encoded into out. */
static void build(struct blk_manifest *m, size_t count, struct cf_buf *out)
{
	blk_manifest_init(m);
	for (size_t i = 0; i < count; i++) {
		struct blk_id id = id_of((unsigned int)i);

		assert_int_equal(
			blk_manifest_add(m, &id, (uint32_t)(65536 + i * 7)), 0);
	}
	cf_buf_init(out, BLK_MANIFEST_SIZE_MAX);
	assert_int_equal(blk_manifest_encode(m, out), 0);
	assert_int_equal(out->len, BLK_MANIFEST_HEADER_SIZE +
					   count * BLK_MANIFEST_ENTRY_SIZE);
}

static void assert_same(const struct blk_manifest *a,
			const struct blk_manifest *b)
{
	assert_int_equal(a->file_size, b->file_size);
	assert_int_equal(a->count, b->count);
	for (size_t i = 0; i < a->count; i++) {
		assert_memory_equal(&a->entries[i].id, &b->entries[i].id,
				    BLK_ID_SIZE);
		assert_int_equal(a->entries[i].size, b->entries[i].size);
	}
}

/* Parse a copy of size bytes of data, expecting rc, checking out is empty. */
static void parse_expect(const void *data, size_t size, int rc)
{
	struct blk_manifest m;
	uint8_t *copy = malloc(size ? size : 1);

	assert_non_null(copy);
	/* An exact-size heap copy: ASan flags any read past the end. */
	memcpy(copy, data, size);
	m.entries = (struct blk_manifest_entry *)&m; /* must be reset */
	assert_int_equal(blk_manifest_parse(copy, size, &m), rc);
	if (rc < 0) {
		assert_null(m.entries);
		assert_int_equal(m.count, 0);
		assert_int_equal(m.file_size, 0);
	}
	blk_manifest_release(&m);
	free(copy);
}

/* --- tests ------------------------------------------------------------- */

static void test_manifest__golden_bytes_and_tag(void **state)
{
	struct blk_manifest m, back;
	struct blk_id id;
	struct cf_buf b;
	uint8_t tag[BLK_MANIFEST_TAG_SIZE], want[BLK_MANIFEST_TAG_SIZE];

	(void)state;
	blk_manifest_init(&m);
	assert_int_equal(blk_id_from_hex(GOLDEN_HELLO_ID, 64, &id), 0);
	assert_int_equal(blk_manifest_add(&m, &id, 5), 0);
	assert_int_equal(blk_id_from_hex(GOLDEN_PATTERN_ID, 64, &id), 0);
	assert_int_equal(blk_manifest_add(&m, &id, 102400), 0);
	assert_int_equal(m.file_size, 102405);
	cf_buf_init(&b, 4096);
	assert_int_equal(blk_manifest_encode(&m, &b), 0);
	assert_hex_equal(b.data, b.len, GOLDEN_MANIFEST);
	assert_int_equal(blk_manifest_tag(k_mac, file_id, b.data, b.len, tag),
			 0);
	unhex(GOLDEN_TAG, want, sizeof(want));
	assert_memory_equal(tag, want, sizeof(tag));
	assert_int_equal(blk_manifest_verify_parse(k_mac, file_id, b.data,
						   b.len, want, &back),
			 0);
	assert_same(&m, &back);
	blk_manifest_release(&back);
	blk_manifest_release(&m);
	cf_buf_release(&b);
}

static void test_manifest__round_trip(void **state)
{
	static const size_t counts[] = { 0, 1, 2, 15, 16, 17, 1000 };
	uint8_t tag[BLK_MANIFEST_TAG_SIZE];
	struct blk_manifest m, back;
	struct blk_id id = id_of(99);
	struct cf_buf b;

	(void)state;
	for (size_t i = 0; i < CF_ARRAY_SIZE(counts); i++) {
		build(&m, counts[i], &b);
		assert_true(m.alloc >= m.count);
		assert_int_equal(blk_manifest_parse(b.data, b.len, &back), 0);
		assert_same(&m, &back);
		blk_manifest_release(&back);
		assert_int_equal(
			blk_manifest_tag(k_mac, file_id, b.data, b.len, tag),
			0);
		assert_int_equal(blk_manifest_verify_parse(k_mac, file_id,
							   b.data, b.len, tag,
							   &back),
				 0);
		assert_same(&m, &back);
		/* A parsed manifest can grow like a built one. */
		assert_int_equal(blk_manifest_add(&back, &id, 10), 0);
		assert_int_equal(back.count, counts[i] + 1);
		assert_int_equal(back.file_size, m.file_size + 10);
		blk_manifest_release(&back);
		assert_int_equal(back.count, 0);
		assert_null(back.entries);
		blk_manifest_release(&m);
		cf_buf_release(&b);
	}
}

static void test_manifest__empty_file(void **state)
{
	struct blk_manifest m;
	struct cf_buf b;

	(void)state;
	build(&m, 0, &b);
	assert_int_equal(b.len, BLK_MANIFEST_HEADER_SIZE);
	assert_int_equal(blk_manifest_parse(b.data, b.len, &m), 0);
	assert_int_equal(m.count, 0);
	assert_int_equal(m.file_size, 0);
	assert_null(m.entries);
	blk_manifest_release(&m);
	cf_buf_release(&b);
}

static void test_manifest__every_tampered_byte(void **state)
{
	uint8_t tag[BLK_MANIFEST_TAG_SIZE], bad_tag[BLK_MANIFEST_TAG_SIZE];
	uint8_t other_id[BLK_FILE_ID_SIZE], *copy;
	struct blk_manifest m, back;
	struct cf_buf b;

	(void)state;
	build(&m, 3, &b);
	assert_int_equal(blk_manifest_tag(k_mac, file_id, b.data, b.len, tag),
			 0);
	copy = malloc(b.len);
	assert_non_null(copy);
	for (size_t i = 0; i < b.len; i++) {
		memcpy(copy, b.data, b.len);
		copy[i] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(blk_manifest_verify_parse(k_mac, file_id, copy,
							   b.len, tag, &back),
				 -EBADMSG);
		assert_null(back.entries);
	}
	for (size_t i = 0; i < sizeof(tag); i++) {
		memcpy(bad_tag, tag, sizeof(tag));
		bad_tag[i] ^= 0x80;
		assert_int_equal(blk_manifest_verify_parse(k_mac, file_id,
							   b.data, b.len,
							   bad_tag, &back),
				 -EBADMSG);
	}
	/* Another file's manifest moved here. */
	for (size_t i = 0; i < sizeof(other_id); i++) {
		memcpy(other_id, file_id, sizeof(other_id));
		other_id[i] ^= 1;
		assert_int_equal(blk_manifest_verify_parse(k_mac, other_id,
							   b.data, b.len, tag,
							   &back),
				 -EBADMSG);
	}
	/* The server's key is not ours. */
	k_mac[0] ^= 1;
	assert_int_equal(blk_manifest_verify_parse(k_mac, file_id, b.data,
						   b.len, tag, &back),
			 -EBADMSG);
	k_mac[0] ^= 1;
	free(copy);
	blk_manifest_release(&m);
	cf_buf_release(&b);
}

static void test_manifest__truncated_and_reordered(void **state)
{
	uint8_t tag[BLK_MANIFEST_TAG_SIZE];
	uint8_t e[BLK_MANIFEST_ENTRY_SIZE];
	struct blk_manifest m, back;
	struct cf_buf b;
	char *p;

	(void)state;
	build(&m, 3, &b);
	assert_int_equal(blk_manifest_tag(k_mac, file_id, b.data, b.len, tag),
			 0);
	for (size_t len = 0; len < b.len; len++) {
		assert_int_equal(blk_manifest_verify_parse(k_mac, file_id,
							   b.data, len, tag,
							   &back),
				 -EBADMSG);
		/* Without the tag the parser still refuses it. */
		parse_expect(b.data, len, -ENODATA);
	}
	/* Swap the first two entries: sizes still sum, the tag does not. */
	p = b.data + BLK_MANIFEST_HEADER_SIZE;
	memcpy(e, p, sizeof(e));
	memmove(p, p + sizeof(e), sizeof(e));
	memcpy(p + sizeof(e), e, sizeof(e));
	assert_int_equal(blk_manifest_parse(b.data, b.len, &back), 0);
	blk_manifest_release(&back);
	assert_int_equal(blk_manifest_verify_parse(k_mac, file_id, b.data,
						   b.len, tag, &back),
			 -EBADMSG);
	blk_manifest_release(&m);
	cf_buf_release(&b);
}

/* A header with the given fields followed by nentries entries of esize. */
static size_t hostile(uint8_t *buf, uint64_t file_size, uint32_t count,
		      size_t nentries, uint32_t esize)
{
	memcpy(buf, BLK_MANIFEST_MAGIC, 4);
	buf[4] = BLK_MANIFEST_VERSION;
	buf[5] = buf[6] = buf[7] = 0;
	cf_put_le64(buf + 8, file_size);
	cf_put_le32(buf + 16, count);
	for (size_t i = 0; i < nentries; i++) {
		uint8_t *e = buf + BLK_MANIFEST_HEADER_SIZE +
			     i * BLK_MANIFEST_ENTRY_SIZE;

		memset(e, (int)i, BLK_ID_SIZE);
		cf_put_le32(e + BLK_ID_SIZE, esize);
	}
	return BLK_MANIFEST_HEADER_SIZE + nentries * BLK_MANIFEST_ENTRY_SIZE;
}

static void test_manifest__hostile_headers(void **state)
{
	static uint8_t
		buf[BLK_MANIFEST_HEADER_SIZE + 2000 * BLK_MANIFEST_ENTRY_SIZE];
	const uint32_t lim = BLK_CHUNK_MAX_LIMIT;
	size_t n;

	(void)state;
	n = hostile(buf, 200, 2, 2, 100);
	parse_expect(buf, n, 0);
	buf[0] = 'X';
	parse_expect(buf, n, -EPROTO);
	hostile(buf, 200, 2, 2, 100);
	buf[4] = 2;
	parse_expect(buf, n, -EPROTONOSUPPORT);
	buf[4] = 0;
	parse_expect(buf, n, -EPROTONOSUPPORT);
	hostile(buf, 200, 2, 2, 100);
	buf[7] = 1;
	parse_expect(buf, n, -EPROTO);
	/* Counts that lie about the bytes behind them. */
	n = hostile(buf, 200, UINT32_MAX, 0, 0);
	parse_expect(buf, n, -E2BIG);
	n = hostile(buf, 200, (uint32_t)BLK_MANIFEST_ENTRIES_MAX + 1, 2, 100);
	parse_expect(buf, n, -E2BIG);
	n = hostile(buf, 200, (uint32_t)BLK_MANIFEST_ENTRIES_MAX, 2, 100);
	parse_expect(buf, n, -ENODATA);
	n = hostile(buf, 200, 3, 2, 100);
	parse_expect(buf, n, -ENODATA);
	n = hostile(buf, 200, 1, 2, 100);
	parse_expect(buf, n, -ENODATA);
	n = hostile(buf, 0, 0, 1, 100);
	parse_expect(buf, n, -ENODATA);
	n = hostile(buf, 200, 2, 2, 100);
	parse_expect(buf, n - 1, -ENODATA);
	parse_expect(buf, n + 1, -ENODATA);
	/* Sizes out of range or not adding up. */
	n = hostile(buf, BLK_FILE_SIZE_MAX + 1, 2, 2, 100);
	parse_expect(buf, n, -E2BIG);
	n = hostile(buf, UINT64_MAX, 2, 2, 100);
	parse_expect(buf, n, -E2BIG);
	n = hostile(buf, 0, 2, 2, 0);
	parse_expect(buf, n, -EPROTO);
	n = hostile(buf, 2ull * (lim + 1), 2, 2, lim + 1);
	parse_expect(buf, n, -EPROTO);
	n = hostile(buf, 2ull * UINT32_MAX, 2, 2, UINT32_MAX);
	parse_expect(buf, n, -EPROTO);
	n = hostile(buf, 201, 2, 2, 100);
	parse_expect(buf, n, -EPROTO);
	n = hostile(buf, 199, 2, 2, 100);
	parse_expect(buf, n, -EPROTO);
	n = hostile(buf, 100, 0, 0, 0);
	parse_expect(buf, n, -EPROTO);
	/* Exactly at the file size limit: 1280 entries of 8 MiB. */
	n = hostile(buf, BLK_FILE_SIZE_MAX, 1280, 1280, lim);
	parse_expect(buf, n, 0);
	n = hostile(buf, BLK_FILE_SIZE_MAX, 1281, 1281, lim);
	parse_expect(buf, n, -EPROTO);
	assert_int_equal(
		blk_manifest_parse(NULL, 5, &(struct blk_manifest){ 0 }),
		-EINVAL);
}

static void test_manifest__add_limits(void **state)
{
	struct blk_manifest m, back;
	struct blk_id id = id_of(1);
	struct cf_buf b;

	(void)state;
	blk_manifest_init(&m);
	assert_int_equal(blk_manifest_add(&m, &id, 0), -EINVAL);
	assert_int_equal(blk_manifest_add(&m, &id, BLK_CHUNK_MAX_LIMIT + 1),
			 -EINVAL);
	for (int i = 0; i < 1280; i++)
		assert_int_equal(blk_manifest_add(&m, &id, BLK_CHUNK_MAX_LIMIT),
				 0);
	assert_int_equal(m.file_size, BLK_FILE_SIZE_MAX);
	assert_int_equal(blk_manifest_add(&m, &id, 1), -EINVAL);
	assert_int_equal(m.count, 1280);
	blk_manifest_release(&m);
	/* The entry limit, and a full-size manifest round trip. */
	for (size_t i = 0; i < BLK_MANIFEST_ENTRIES_MAX; i++)
		assert_int_equal(blk_manifest_add(&m, &id, 1), 0);
	assert_int_equal(blk_manifest_add(&m, &id, 1), -EINVAL);
	cf_buf_init(&b, BLK_MANIFEST_SIZE_MAX);
	assert_int_equal(blk_manifest_encode(&m, &b), 0);
	assert_int_equal(b.len, BLK_MANIFEST_SIZE_MAX);
	assert_int_equal(blk_manifest_parse(b.data, b.len, &back), 0);
	assert_int_equal(back.count, BLK_MANIFEST_ENTRIES_MAX);
	blk_manifest_release(&back);
	blk_manifest_release(&m);
	cf_buf_release(&b);
}

static void test_manifest__encode_refuses_inconsistent(void **state)
{
	struct blk_manifest m;
	struct cf_buf b, small;

	(void)state;
	build(&m, 3, &b);
	cf_buf_reset(&b);
	m.file_size++;
	assert_int_equal(blk_manifest_encode(&m, &b), -EINVAL);
	m.file_size--;
	m.entries[1].size = 0;
	assert_int_equal(blk_manifest_encode(&m, &b), -EINVAL);
	m.entries[1].size = BLK_CHUNK_MAX_LIMIT + 1;
	assert_int_equal(blk_manifest_encode(&m, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	blk_manifest_release(&m);
	cf_buf_release(&b);
	/* A capped buffer that cannot hold it is left as it was. */
	build(&m, 3, &b);
	cf_buf_init(&small, 50);
	assert_int_equal(cf_buf_append(&small, "xyz", 3), 0);
	assert_int_equal(blk_manifest_encode(&m, &small), -EMSGSIZE);
	assert_int_equal(small.len, 3);
	assert_string_equal(small.data, "xyz");
	cf_buf_release(&small);
	/* Appends after what is there. */
	cf_buf_init(&small, 1000);
	assert_int_equal(cf_buf_append(&small, "xyz", 3), 0);
	assert_int_equal(blk_manifest_encode(&m, &small), 0);
	assert_int_equal(small.len, 3 + b.len);
	assert_memory_equal(small.data + 3, b.data, b.len);
	cf_buf_release(&small);
	blk_manifest_release(&m);
	cf_buf_release(&b);
	m.count = 1;
	m.entries = NULL;
	m.file_size = 1;
	assert_int_equal(blk_manifest_encode(&m, &b), -EINVAL);
}

static void test_manifest__fault_loop(void **state)
{
	struct blk_manifest m, back;
	struct blk_id id = id_of(5);
	struct cf_buf b;
	unsigned long k;
	size_t i;
	int rc;

	(void)state;
	for (k = 1;; k++) {
		blk_manifest_init(&m);
		cf_buf_init(&b, BLK_MANIFEST_SIZE_MAX);
		fault_arm(k);
		rc = 0;
		for (i = 0; i < 100 && rc == 0; i++) {
			rc = blk_manifest_add(&m, &id, 1000);
			/* A failed add leaves the manifest as it was. */
			if (rc < 0)
				assert_int_equal(m.count, i);
		}
		if (rc == 0)
			rc = blk_manifest_encode(&m, &b);
		if (rc == 0)
			rc = blk_manifest_parse(b.data, b.len, &back);
		fault_armed = false;
		if (rc == 0) {
			assert_same(&m, &back);
			blk_manifest_release(&back);
		}
		blk_manifest_release(&m);
		cf_buf_release(&b);
		if (!fault_failed) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
	}
	assert_true(k > 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest__golden_bytes_and_tag),
		cmocka_unit_test(test_manifest__round_trip),
		cmocka_unit_test(test_manifest__empty_file),
		cmocka_unit_test(test_manifest__every_tampered_byte),
		cmocka_unit_test(test_manifest__truncated_and_reordered),
		cmocka_unit_test(test_manifest__hostile_headers),
		cmocka_unit_test(test_manifest__add_limits),
		cmocka_unit_test(test_manifest__encode_refuses_inconsistent),
		cmocka_unit_test(test_manifest__fault_loop),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
