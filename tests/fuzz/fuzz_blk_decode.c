/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the block codec. Every input is first taken as a
 * blob, with its own SHA-256 as the expected id so it gets past the id
 * check: blk_blob_check and blk_codec_decode must agree and never crash.
 * Then the first byte picks a derived test on the rest of the input:
 *   0  round trip: encode (zstd and zlib codecs), decode, compare;
 *   1  encode, then flip one byte or cut the blob: decode must refuse;
 *   2  a zstd payload sealed with the real keys (le32 declared size, then
 *      the payload): the decompressor runs behind a valid tag and must
 *      produce exactly the declared size or refuse;
 *   3  the same with zlib.
 * Property violations abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blk/codec.h"
#include "blk/keys.h"
#include "cf_util.h"
#include "codec_int.h"

#define FUZZ_MAX_CHUNK (256u * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct blk_codec *zstd_codec, *zlib_codec;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct blk_codec_opts o = BLK_CODEC_OPTS_DEFAULT;
	uint8_t vk[BLK_KEY_SIZE];
	struct blk_volume_keys k;

	(void)argc;
	(void)argv;
	/* The golden volume key of the unit tests: seeds decode here. */
	for (int i = 0; i < BLK_KEY_SIZE; i++)
		vk[i] = (uint8_t)i;
	o.max_chunk_size = FUZZ_MAX_CHUNK;
	if (blk_volume_keys_derive(vk, &k) < 0 ||
	    blk_codec_new(&k, &o, &zstd_codec) < 0)
		abort();
	o.codec = BLK_CODEC_ZLIB;
	if (blk_codec_new(&k, &o, &zlib_codec) < 0)
		abort();
	blk_keys_wipe(&k, sizeof(k));
	return 0;
}

static void as_blob(const uint8_t *data, size_t size)
{
	const uint8_t *out;
	size_t out_size;
	struct blk_id id;
	int checked, decoded;

	if (blk_id_compute(data, size, &id) < 0)
		abort();
	checked = blk_blob_check(data, size, &id, FUZZ_MAX_CHUNK);
	decoded = blk_codec_decode(zstd_codec, data, size, &id, &out,
				   &out_size);
	/* What the server refuses, the client refuses the same way. */
	if (checked < 0 && decoded != checked)
		abort();
	if (decoded == 0 && (checked != 0 || out_size > FUZZ_MAX_CHUNK ||
			     out_size != cf_get_le32(data + 8)))
		abort();
}

static void round_trip(struct blk_codec *c, const uint8_t *p, size_t size)
{
	const uint8_t *out;
	size_t out_size;
	struct blk_blob b;
	struct blk_id id;
	uint8_t *copy;

	if (blk_codec_encode(c, p, size, &b) < 0)
		abort();
	copy = malloc(b.size);
	if (!copy)
		abort();
	memcpy(copy, b.data, b.size);
	id = b.id;
	if (blk_blob_check(copy, b.size, &id, FUZZ_MAX_CHUNK) != 0 ||
	    blk_codec_decode(c, copy, b.size, &id, &out, &out_size) != 0 ||
	    out_size != size || (size && memcmp(out, p, size) != 0))
		abort();
	free(copy);
}

static void mutated(struct blk_codec *c, const uint8_t *p, size_t size)
{
	const uint8_t *out;
	size_t out_size, pos, len;
	struct blk_blob b;
	uint8_t *copy;

	if (size < 4)
		return;
	if (blk_codec_encode(c, p + 4, size - 4, &b) < 0)
		abort();
	copy = malloc(b.size);
	if (!copy)
		abort();
	memcpy(copy, b.data, b.size);
	pos = cf_get_le32(p) % b.size;
	len = b.size;
	if (p[0] & 1)
		len = pos; /* cut */
	else
		copy[pos] ^= (uint8_t)(p[1] | 1); /* flip */
	/* Recompute the id: only the header checks and the tag stand. */
	if (blk_id_compute(copy, len, &b.id) < 0)
		abort();
	if (blk_codec_decode(c, copy, len, &b.id, &out, &out_size) == 0)
		abort();
	free(copy);
}

static void sealed(struct blk_codec *c, uint8_t codec, const uint8_t *p,
		   size_t size)
{
	static const uint8_t nonce[BLK_NONCE_SIZE] = { 9, 8, 7 };
	const uint8_t *out;
	size_t out_size;
	struct blk_blob b;
	uint32_t declared;
	uint8_t *copy;
	int rc;

	if (size < 4 || size - 4 > FUZZ_MAX_CHUNK)
		return;
	declared = cf_get_le32(p) % (FUZZ_MAX_CHUNK + 1);
	if (blk_codec_seal(c, codec, declared, nonce, p + 4, size - 4, &b) < 0)
		abort();
	copy = malloc(b.size);
	if (!copy)
		abort();
	memcpy(copy, b.data, b.size);
	rc = blk_codec_decode(c, copy, b.size, &b.id, &out, &out_size);
	if (rc == 0 && out_size != declared)
		abort();
	if (rc < 0 && rc != BLK_ERR_FORMAT && rc != BLK_ERR_INFLATE)
		abort();
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t n = size - 1;

	as_blob(data, size);
	if (size < 1 || n > FUZZ_MAX_CHUNK)
		return 0;
	switch (data[0] & 3) {
	case 0:
		round_trip(zstd_codec, p, n);
		round_trip(zlib_codec, p, n);
		break;
	case 1:
		mutated(data[0] & 4 ? zlib_codec : zstd_codec, p, n);
		break;
	case 2:
		sealed(zstd_codec, BLK_CODEC_ZSTD, p, n);
		break;
	default:
		sealed(zlib_codec, BLK_CODEC_ZLIB, p, n);
		break;
	}
	return 0;
}
