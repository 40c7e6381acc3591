/* SPDX-License-Identifier: MIT */
/*
 * Block ids: the SHA-256 of a blob, its hex form and its comparison. The
 * comparison is constant-time because ids double as integrity checks.
 * Stateless and thread-safe.
 */
#include "blk/proto.h"

#include <errno.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "keys_int.h"

void blk_id_to_hex(const struct blk_id *id, char out[BLK_ID_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < BLK_ID_SIZE; i++) {
		out[2 * i] = digits[id->bytes[i] >> 4];
		out[2 * i + 1] = digits[id->bytes[i] & 0x0f];
	}
	out[2 * BLK_ID_SIZE] = '\0';
}

/* Value of one hex digit, or -1. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int blk_id_from_hex(const char *hex, size_t len, struct blk_id *out)
{
	struct blk_id id;
	size_t i;
	int hi, lo;

	if (!hex || len != 2 * BLK_ID_SIZE)
		return -EINVAL;
	for (i = 0; i < BLK_ID_SIZE; i++) {
		hi = hex_value(hex[2 * i]);
		lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		id.bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = id;
	return 0;
}

bool blk_id_equal(const struct blk_id *a, const struct blk_id *b)
{
	return CRYPTO_memcmp(a->bytes, b->bytes, BLK_ID_SIZE) == 0;
}

int blk_id_compute(const void *data, size_t size, struct blk_id *out)
{
	unsigned int n = 0;

	if (!EVP_Digest(size ? data : "", size, out->bytes, &n, EVP_sha256(),
			NULL) ||
	    n != BLK_ID_SIZE)
		return blk_crypto_errno();
	return 0;
}
