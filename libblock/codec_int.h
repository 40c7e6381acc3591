/* SPDX-License-Identifier: MIT */
/*
 * Private to libblock and its tests: a hook that builds blobs the encoder
 * never would (any codec byte, any declared size, any payload), sealed with
 * the codec's real keys, so tests and fuzzers can reach the decompressors
 * behind a valid tag. Same threading rule as struct blk_codec.
 */
#ifndef CLOUDFS_BLK_CODEC_INT_H
#define CLOUDFS_BLK_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "blk/codec.h"

/* zstd level that probes whether a chunk is worth compressing. */
#define BLK_CODEC_PROBE_LEVEL 1

/*
 * Build header (version 1, flags 0, codec, declared, nonce) ||
 * AES-256-GCM(K_data, nonce, payload, AAD = header) || tag and its id into
 * the codec's blob buffer. payload (borrowed, payload_size <=
 * max_chunk_size) is not checked against codec or declared. out->data is
 * borrowed until the codec's next call. 0, -EINVAL, -ENOMEM, -EIO.
 */
int blk_codec_seal(struct blk_codec *c, uint8_t codec, uint32_t declared,
		   const uint8_t nonce[BLK_NONCE_SIZE], const void *payload,
		   size_t payload_size, struct blk_blob *out);

#endif /* CLOUDFS_BLK_CODEC_INT_H */
