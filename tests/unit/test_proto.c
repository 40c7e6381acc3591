/* SPDX-License-Identifier: MIT */
/* Unit tests for libblock/proto.c: block id hex, equality and SHA-256. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "blk/proto.h"

static void test_proto__id_hex_and_compute(void **state)
{
	struct blk_id id, back;
	char hex[BLK_ID_HEX_SIZE];
	char upper[65];

	(void)state;
	assert_int_equal(blk_id_compute("abc", 3, &id), 0);
	blk_id_to_hex(&id, hex);
	/* FIPS 180-2's "abc" vector. */
	assert_string_equal(
		hex,
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(blk_id_from_hex(hex, 64, &back), 0);
	assert_true(blk_id_equal(&id, &back));
	for (int i = 0; i < 64; i++)
		upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
	upper[64] = '\0';
	assert_int_equal(blk_id_from_hex(upper, 64, &back), 0);
	assert_true(blk_id_equal(&id, &back));
	assert_int_equal(blk_id_from_hex(hex, 63, &back), -EINVAL);
	assert_int_equal(blk_id_from_hex(hex, 65, &back), -EINVAL);
	assert_int_equal(blk_id_from_hex(NULL, 64, &back), -EINVAL);
	hex[10] = 'g';
	assert_int_equal(blk_id_from_hex(hex, 64, &back), -EINVAL);
	hex[10] = ' ';
	assert_int_equal(blk_id_from_hex(hex, 64, &back), -EINVAL);
	back.bytes[0] ^= 1;
	assert_false(blk_id_equal(&id, &back));
	assert_int_equal(blk_id_compute(NULL, 0, &id), 0);
	blk_id_to_hex(&id, hex);
	assert_string_equal(
		hex,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_proto__layout_constants(void **state)
{
	(void)state;
	/* The sizes docs/PROTOCOL.md states. */
	assert_int_equal(BLK_HEADER_SIZE,
			 BLK_MAGIC_SIZE + 1 + 1 + 2 + 4 + BLK_NONCE_SIZE);
	assert_int_equal(BLK_OVERHEAD, 40);
	assert_int_equal(BLK_MANIFEST_HEADER_SIZE, 4 + 1 + 3 + 8 + 4);
	assert_int_equal(BLK_MANIFEST_ENTRY_SIZE, BLK_ID_SIZE + 4);
	assert_int_equal(BLK_MANIFEST_ENTRIES_MAX, 327680);
	assert_true(BLK_MANIFEST_ENTRIES_MAX <= UINT32_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto__id_hex_and_compute),
		cmocka_unit_test(test_proto__layout_constants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
