/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for libblock/keys.c: RFC 7914 (scrypt) and RFC 5869 (HKDF)
 * known answers, golden vectors pinning our key schedule (cross-checked
 * with Python's hashlib and cryptography), parameter bounds, and volume
 * key wrapping including every tampered byte.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "blk/keys.h"
#include "keys_int.h"
#include "unit_util.h"

/* Our golden inputs: volume key 00..1f, salt 00..0f. */
static void golden_vk(uint8_t vk[BLK_KEY_SIZE])
{
	for (int i = 0; i < BLK_KEY_SIZE; i++)
		vk[i] = (uint8_t)i;
}

static void test_keys__scrypt_rfc7914_vectors(void **state)
{
	uint8_t out[64];

	(void)state;
	/* RFC 7914 section 12, all three vectors that run in a test. */
	assert_int_equal(blk_scrypt("", 0, "", 0, 16, 1, 1, out, 64), 0);
	assert_hex_equal(
		out, 64,
		"77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
	assert_int_equal(
		blk_scrypt("password", 8, "NaCl", 4, 1024, 8, 16, out, 64), 0);
	assert_hex_equal(
		out, 64,
		"fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
	assert_int_equal(blk_scrypt("pleaseletmein", 13, "SodiumChloride", 14,
				    16384, 8, 1, out, 64),
			 0);
	assert_hex_equal(
		out, 64,
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
}

static void test_keys__scrypt_refuses_bad_parameters(void **state)
{
	uint8_t out[32];

	(void)state;
	assert_int_equal(blk_scrypt("a", 1, "b", 1, 1000, 8, 1, out, 32),
			 -EINVAL); /* n not a power of two */
	assert_int_equal(blk_scrypt("a", 1, "b", 1, 1024, 0, 1, out, 32),
			 -EINVAL);
	assert_int_equal(blk_scrypt("a", 1, "b", 1, 1024, 8, 0, out, 32),
			 -EINVAL);
	assert_int_equal(blk_scrypt("a", 1, "b", 1, 1024, 8, 1, out, 0),
			 -EINVAL);
	assert_int_equal(blk_scrypt("a", 1, "b", 1, UINT64_MAX / 2, UINT32_MAX,
				    1, out, 32),
			 -EINVAL); /* the memory size overflows */
}

static void test_keys__hkdf_rfc5869_vectors(void **state)
{
	uint8_t ikm[22], salt[13], info[10], out[42];

	(void)state;
	/* Test case 1: with salt and info. */
	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(blk_hkdf_sha256(ikm, 22, salt, 13, info, 10, out, 42),
			 0);
	assert_hex_equal(
		out, 42,
		"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
	/* Test case 3: no salt, no info, the mode our key schedule uses. */
	assert_int_equal(blk_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, out, 42),
			 0);
	assert_hex_equal(
		out, 42,
		"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
	assert_int_equal(blk_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, out, 0),
			 -EINVAL);
	assert_int_equal(blk_hkdf_sha256(NULL, 0, NULL, 0, NULL, 0, out, 32),
			 -EINVAL);
}

static void test_keys__params_check_bounds(void **state)
{
	struct blk_kdf_params p = BLK_KDF_PARAMS_DEFAULT;

	(void)state;
	assert_int_equal(blk_kdf_params_check(&p), 0);
	assert_int_equal(blk_kdf_params_check(NULL), -EINVAL);
	p.version = 2;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p = BLK_KDF_PARAMS_DEFAULT;
	p.n = 1u << 13;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p.n = 1u << 14;
	assert_int_equal(blk_kdf_params_check(&p), 0);
	p.n = (1u << 15) + (1u << 14);
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p.n = 1u << 23;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p.n = 0;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	/* Memory: 128 * n * r <= 1 GiB, so 2^20 x 8 passes, 2^21 x 8 not. */
	p.n = 1u << 20;
	assert_int_equal(blk_kdf_params_check(&p), 0);
	p.n = 1u << 21;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p = BLK_KDF_PARAMS_DEFAULT;
	p.r = 0;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p.r = 33;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p.r = 32;
	assert_int_equal(blk_kdf_params_check(&p), 0);
	p = BLK_KDF_PARAMS_DEFAULT;
	p.p = 0;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p.p = 17;
	assert_int_equal(blk_kdf_params_check(&p), -EINVAL);
	p.p = 16;
	assert_int_equal(blk_kdf_params_check(&p), 0);
}

static void test_keys__master_golden(void **state)
{
	struct blk_kdf_params p = { BLK_KDF_SCRYPT, 1u << 14, 8, 1 };
	uint8_t salt[BLK_SALT_SIZE], master[BLK_KEY_SIZE], k[BLK_KEY_SIZE];
	const char *pw = "correct horse battery staple";

	(void)state;
	for (int i = 0; i < BLK_SALT_SIZE; i++)
		salt[i] = (uint8_t)i;
	assert_int_equal(blk_kdf_master(pw, strlen(pw), salt, &p, master), 0);
	assert_hex_equal(
		master, 32,
		"d7590aca2c9801cf06eeba772a69dc31ce3862591d96522ac4e6bba6ad1f31a5");
	assert_int_equal(blk_keys_auth_key(master, k), 0);
	assert_hex_equal(
		k, 32,
		"c32ef13ef485c1321ad713a83df224d4b1ed2bab4d972e898d85fe497b8790e8");
	assert_int_equal(blk_keys_kek(master, k), 0);
	assert_hex_equal(
		k, 32,
		"5a427dde6cdda7f9ac2aeeb27a1aa74318a0c824368bec45dcb9e8da93c2d51b");
	/* Another salt, another master. */
	salt[0] ^= 1;
	assert_int_equal(blk_kdf_master(pw, strlen(pw), salt, &p, k), 0);
	assert_memory_not_equal(k, master, 32);
}

static void test_keys__master_default_params(void **state)
{
	struct blk_kdf_params p = BLK_KDF_PARAMS_DEFAULT;
	uint8_t salt[BLK_SALT_SIZE], master[BLK_KEY_SIZE];
	const char *pw = "correct horse battery staple";

	(void)state;
	/* 128 MiB: above OpenSSL's default scrypt memory limit of 32 MiB. */
	for (int i = 0; i < BLK_SALT_SIZE; i++)
		salt[i] = (uint8_t)i;
	assert_int_equal(blk_kdf_master(pw, strlen(pw), salt, &p, master), 0);
	assert_hex_equal(
		master, 32,
		"1b2946da71f41179e83b99dc33842d15741b87c4121c8c7f3781c1df864fb58b");
}

static void test_keys__master_refuses_bad_params(void **state)
{
	struct blk_kdf_params p = { BLK_KDF_SCRYPT, 1024, 8, 16 };
	uint8_t salt[BLK_SALT_SIZE] = { 0 }, master[BLK_KEY_SIZE];

	(void)state;
	/* RFC 7914's second vector is below our floor: refused, not run. */
	assert_int_equal(blk_kdf_master("password", 8, salt, &p, master),
			 -EINVAL);
	p.n = 1u << 14;
	assert_int_equal(blk_kdf_master(NULL, 3, salt, &p, master), -EINVAL);
	/* An empty password is the caller's policy, not ours. */
	assert_int_equal(blk_kdf_master(NULL, 0, salt, &p, master), 0);
}

static void test_keys__volume_keys_golden(void **state)
{
	uint8_t vk[BLK_KEY_SIZE];
	struct blk_volume_keys k;

	(void)state;
	golden_vk(vk);
	assert_int_equal(blk_volume_keys_derive(vk, &k), 0);
	assert_hex_equal(
		k.data, 32,
		"06970ac6c0ef14987e817004db86cc96473de667698c7de90ef87b10eb2d169a");
	assert_hex_equal(
		k.nonce, 32,
		"464341db42b10fe3cb37374a307272b0312ac80d335a2b010547302a770fdd68");
	assert_hex_equal(
		k.mac, 32,
		"0a62d9372da6b4790517db6746daef3bd523f46235e5bb20376b30283a3e6e5a");
	assert_hex_equal(
		k.name, 32,
		"39a342597f6634b761a3928891cc350eede48c424c2e054fd660e9087365b0a4");
	blk_keys_wipe(&k, sizeof(k));
}

static void test_keys__random_outputs_differ(void **state)
{
	uint8_t a[BLK_KEY_SIZE], b[BLK_KEY_SIZE];
	uint8_t s1[BLK_SALT_SIZE], s2[BLK_SALT_SIZE];

	(void)state;
	assert_int_equal(blk_volume_key_generate(a), 0);
	assert_int_equal(blk_volume_key_generate(b), 0);
	assert_memory_not_equal(a, b, BLK_KEY_SIZE);
	assert_int_equal(blk_kdf_salt_generate(s1), 0);
	assert_int_equal(blk_kdf_salt_generate(s2), 0);
	assert_memory_not_equal(s1, s2, BLK_SALT_SIZE);
}

static void test_keys__wrap_round_trip(void **state)
{
	uint8_t kek[BLK_KEY_SIZE], vk[BLK_KEY_SIZE], got[BLK_KEY_SIZE];
	uint8_t w1[BLK_WRAPPED_KEY_SIZE], w2[BLK_WRAPPED_KEY_SIZE];

	(void)state;
	assert_int_equal(blk_volume_key_generate(kek), 0);
	assert_int_equal(blk_volume_key_generate(vk), 0);
	assert_int_equal(blk_volume_key_wrap(kek, vk, w1), 0);
	assert_int_equal(w1[0], BLK_WRAPPED_KEY_VERSION);
	assert_int_equal(blk_volume_key_unwrap(kek, w1, sizeof(w1), got), 0);
	assert_memory_equal(got, vk, BLK_KEY_SIZE);
	/* A fresh nonce each time: the same key wraps differently. */
	assert_int_equal(blk_volume_key_wrap(kek, vk, w2), 0);
	assert_memory_not_equal(w1, w2, sizeof(w1));
	assert_int_equal(blk_volume_key_unwrap(kek, w2, sizeof(w2), got), 0);
	assert_memory_equal(got, vk, BLK_KEY_SIZE);
}

static void test_keys__unwrap_golden(void **state)
{
	/* Made by Python's cryptography AESGCM, nonce a0..ab. */
	static const char wrapped_hex[] =
		"01a0a1a2a3a4a5a6a7a8a9aaabd78e043ce6ee9a2a71664bf585b13ef9ff06e7d4f87a933afac5f481f5df60e7dec46a4f34aed9e5ca286fd2e5d51ca2";
	uint8_t w[BLK_WRAPPED_KEY_SIZE], kek[BLK_KEY_SIZE], vk[BLK_KEY_SIZE];
	uint8_t got[BLK_KEY_SIZE];

	(void)state;
	unhex(wrapped_hex, w, sizeof(w));
	for (int i = 0; i < BLK_KEY_SIZE; i++)
		kek[i] = (uint8_t)(0x40 + i);
	golden_vk(vk);
	assert_int_equal(blk_volume_key_unwrap(kek, w, sizeof(w), got), 0);
	assert_memory_equal(got, vk, BLK_KEY_SIZE);
}

static void test_keys__unwrap_refuses_tampering(void **state)
{
	uint8_t kek[BLK_KEY_SIZE], vk[BLK_KEY_SIZE], got[BLK_KEY_SIZE];
	uint8_t w[BLK_WRAPPED_KEY_SIZE], bad[BLK_WRAPPED_KEY_SIZE];
	uint8_t sentinel[BLK_KEY_SIZE];
	size_t i;

	(void)state;
	memset(kek, 0x11, sizeof(kek));
	golden_vk(vk);
	memset(sentinel, 0xee, sizeof(sentinel));
	assert_int_equal(blk_volume_key_wrap(kek, vk, w), 0);
	for (i = 0; i < sizeof(w); i++) {
		memcpy(bad, w, sizeof(w));
		bad[i] ^= 0x01;
		memcpy(got, sentinel, sizeof(got));
		assert_int_equal(
			blk_volume_key_unwrap(kek, bad, sizeof(bad), got),
			i == 0 ? -EPROTONOSUPPORT : -EKEYREJECTED);
		/* Nothing unauthenticated reaches the caller. */
		assert_memory_equal(got, sentinel, sizeof(got));
	}
	/* The wrong password means the wrong kek. */
	kek[5] ^= 0x80;
	assert_int_equal(blk_volume_key_unwrap(kek, w, sizeof(w), got),
			 -EKEYREJECTED);
}

static void test_keys__unwrap_refuses_bad_sizes(void **state)
{
	uint8_t kek[BLK_KEY_SIZE] = { 0 }, vk[BLK_KEY_SIZE] = { 0 };
	uint8_t w[BLK_WRAPPED_KEY_SIZE + 1], got[BLK_KEY_SIZE];

	(void)state;
	assert_int_equal(blk_volume_key_wrap(kek, vk, w), 0);
	assert_int_equal(blk_volume_key_unwrap(kek, w, 0, got), -EINVAL);
	assert_int_equal(blk_volume_key_unwrap(kek, NULL, 0, got), -EINVAL);
	assert_int_equal(
		blk_volume_key_unwrap(kek, w, BLK_WRAPPED_KEY_SIZE - 1, got),
		-EINVAL);
	assert_int_equal(
		blk_volume_key_unwrap(kek, w, BLK_WRAPPED_KEY_SIZE + 1, got),
		-EINVAL);
	/* An unknown version is reported as such whatever its size. */
	w[0] = 2;
	assert_int_equal(blk_volume_key_unwrap(kek, w, 7, got),
			 -EPROTONOSUPPORT);
}

static void test_keys__wipe_zeroes(void **state)
{
	uint8_t k[BLK_KEY_SIZE], zero[BLK_KEY_SIZE] = { 0 };

	(void)state;
	memset(k, 0xa5, sizeof(k));
	blk_keys_wipe(k, sizeof(k));
	assert_memory_equal(k, zero, sizeof(k));
	blk_keys_wipe(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys__scrypt_rfc7914_vectors),
		cmocka_unit_test(test_keys__scrypt_refuses_bad_parameters),
		cmocka_unit_test(test_keys__hkdf_rfc5869_vectors),
		cmocka_unit_test(test_keys__params_check_bounds),
		cmocka_unit_test(test_keys__master_golden),
		cmocka_unit_test(test_keys__master_default_params),
		cmocka_unit_test(test_keys__master_refuses_bad_params),
		cmocka_unit_test(test_keys__volume_keys_golden),
		cmocka_unit_test(test_keys__random_outputs_differ),
		cmocka_unit_test(test_keys__wrap_round_trip),
		cmocka_unit_test(test_keys__unwrap_golden),
		cmocka_unit_test(test_keys__unwrap_refuses_tampering),
		cmocka_unit_test(test_keys__unwrap_refuses_bad_sizes),
		cmocka_unit_test(test_keys__wipe_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
