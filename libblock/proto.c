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

#include "cf_hex.h"
#include "keys_int.h"

void blk_id_to_hex(const struct blk_id *id, char out[BLK_ID_HEX_SIZE])
{
	cf_hex_encode(id->bytes, BLK_ID_SIZE, out);
}

int blk_id_from_hex(const char *hex, size_t len, struct blk_id *out)
{
	return cf_hex_decode(hex, len, out->bytes, BLK_ID_SIZE);
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
