/* SPDX-License-Identifier: MIT */
/*
 * Private to libblock, its tests and bench/: the default compression
 * levels, and a hook that builds blobs the encoder never would (any codec
 * byte, any declared size, any payload), sealed with the codec's real keys,
 * so tests and fuzzers can reach the decompressors behind a valid tag. Same
 * threading rule as struct blk_codec.
 */
#ifndef CLOUDFS_BLK_CODEC_INT_H
#define CLOUDFS_BLK_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "blk/codec.h"

/*
 * Levels used when blk_codec_opts leaves zstd_level / zlib_level at 0,
 * measured with 256 KiB chunks of log-like text on a 2-core EPYC (SHA-NI,
 * VAES): zstd 1 encodes at ~270 MB/s through the whole codec (ratio 0.29;
 * level 2 drops to ~220 MB/s for 0.29, level 3 to ~180). zlib 1 is the
 * fastest deflate, ~120 MB/s at ratio 0.35; zlib 6 would give 0.29 at
 * ~33 MB/s, slower than most uplinks. Callers wanting more ratio set
 * zlib_level. bench/blockbench.c runs its baselines at these levels.
 */
#define BLK_CODEC_ZSTD_LEVEL_DEFAULT 1
#define BLK_CODEC_ZLIB_LEVEL_DEFAULT 1

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
