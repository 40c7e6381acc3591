/* SPDX-License-Identifier: MIT */
/*
 * Block codec: chunk -> blob (compress when it pays, deterministic nonce,
 * AES-256-GCM, SHA-256 id) and blob -> chunk (id check, tag check,
 * decompress with bounds). Layout in blk/proto.h.
 *
 * A struct blk_codec owns its cipher, HMAC and compression contexts and its
 * scratch buffers: one per thread, no locking inside, no global state. Keys
 * are copied in and wiped on free.
 */
#ifndef CLOUDFS_BLK_CODEC_H
#define CLOUDFS_BLK_CODEC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/keys.h"
#include "blk/proto.h"

/*
 * Decode failures, each its own negative errno so callers and logs can tell
 * them apart (blk_strerror gives the sentence):
 */
#define BLK_ERR_ID (-EBADMSG)               /* SHA-256 of blob != expected id */
#define BLK_ERR_TAG (-EKEYREJECTED)         /* GCM tag: tampered or wrong key */
#define BLK_ERR_VERSION (-EPROTONOSUPPORT)  /* unknown format version */
#define BLK_ERR_TRUNCATED (-ENODATA)        /* shorter than its header + tag */
#define BLK_ERR_INFLATE (-EOVERFLOW)        /* payload inflates past the declared size or the max chunk size */
#define BLK_ERR_FORMAT (-EPROTO)            /* bad magic, codec, flags or sizes */

/* A sentence for a libblock error code (any negative errno works). */
const char *blk_strerror(int rc);

struct blk_codec_opts {
	enum blk_codec_id codec; /* for new blocks: BLK_CODEC_ZSTD or _ZLIB */
	int zstd_level;          /* 0 = libblock's default */
	int zlib_level;          /* 0 = libblock's default */
	uint32_t max_chunk_size; /* largest chunk encoded or decoded */
};

#define BLK_CODEC_OPTS_DEFAULT \
	((struct blk_codec_opts){ BLK_CODEC_ZSTD, 0, 0, BLK_CHUNK_MAX_DEFAULT })

struct blk_codec;

/*
 * Make a codec for one volume. keys (borrowed) are copied; opts may be NULL
 * for the defaults. -EINVAL (bad opts), -ENOMEM, -EIO (OpenSSL).
 */
int blk_codec_new(const struct blk_volume_keys *keys,
		  const struct blk_codec_opts *opts, struct blk_codec **out);
void blk_codec_free(struct blk_codec *c);

/* An encoded block. data is borrowed from the codec until its next call. */
struct blk_blob {
	const uint8_t *data;
	size_t size;
	struct blk_id id;
	enum blk_codec_id codec; /* what the payload ended up as */
};

/*
 * Encode size bytes of chunk (borrowed; size <= max_chunk_size, may be 0;
 * it may be a chunk the codec decoded, but not its own blob).
 * Deterministic: the same chunk under the same keys and options gives the
 * same blob and id. 0, -EINVAL (too large), -ENOMEM, -EIO.
 */
int blk_codec_encode(struct blk_codec *c, const void *chunk, size_t size,
		     struct blk_blob *out);

/*
 * Decode blob_size bytes of blob (borrowed; it may be the codec's own last
 * encoded blob), which must have id expected. On success *out_chunk
 * (borrowed from the codec until its next call) holds *out_size plaintext
 * bytes. Errors: BLK_ERR_* above, -EINVAL, -ENOMEM, -EIO.
 */
int blk_codec_decode(struct blk_codec *c, const void *blob, size_t blob_size,
		     const struct blk_id *expected, const uint8_t **out_chunk,
		     size_t *out_size);

/*
 * The checks a server can make without keys: size within limits, header
 * well-formed (magic, version, codec, flags, declared size <= max_chunk_size,
 * compressed payload no larger than the declared size), id = SHA-256.
 * 0 or a BLK_ERR_* code; -EINVAL when max_chunk_size > BLK_CHUNK_MAX_LIMIT.
 * Thread-safe.
 */
int blk_blob_check(const void *blob, size_t blob_size,
		   const struct blk_id *expected, uint32_t max_chunk_size);

#endif /* CLOUDFS_BLK_CODEC_H */
