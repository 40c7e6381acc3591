/* SPDX-License-Identifier: MIT */
/*
 * FastCDC content-defined chunking (Xia et al., 2016/2020): gear rolling
 * hash, normalized chunking with two masks, cut-point skipping below min.
 * A boundary depends only on the bytes since the previous boundary, so a
 * file can be re-chunked from any known boundary and the streaming scan
 * finds exactly the boundaries a one-shot pass finds, whatever the feed
 * sizes. Deterministic across runs and machines (the gear table is fixed).
 *
 * One struct blk_chunker per stream; not thread-safe, no global state.
 */
#ifndef CLOUDFS_BLK_CHUNKER_H
#define CLOUDFS_BLK_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/proto.h"

struct blk_chunker_params {
	uint32_t min_size; /* no boundary before this many bytes */
	uint32_t avg_size; /* target mean; a power of two */
	uint32_t max_size; /* forced boundary here */
};

#define BLK_CHUNKER_PARAMS_DEFAULT                                \
	((struct blk_chunker_params){ BLK_CHUNK_MIN_DEFAULT,      \
				      BLK_CHUNK_AVG_DEFAULT,      \
				      BLK_CHUNK_MAX_DEFAULT })

/*
 * 0 when BLK_CHUNK_MIN_LIMIT <= min < avg < max <= BLK_CHUNK_MAX_LIMIT and
 * avg is a power of two; -EINVAL otherwise.
 */
int blk_chunker_params_check(const struct blk_chunker_params *p);

struct blk_chunker;

/* Make a chunker at the start of a stream. -EINVAL, -ENOMEM; caller owns. */
int blk_chunker_new(const struct blk_chunker_params *p,
		    struct blk_chunker **out);
void blk_chunker_free(struct blk_chunker *c);

/* Forget the current chunk: the next byte fed starts a new one. */
void blk_chunker_reset(struct blk_chunker *c);

/*
 * Scan the next size bytes of the stream (borrowed). Returns how many of
 * them belong to the current chunk. When *out_cut is true the chunk ends
 * after those bytes and the chunker is already positioned at the start of
 * the next one; feed the rest of data again. When false, all size bytes
 * were consumed and the chunk goes on. At end of stream the bytes of the
 * unfinished chunk (blk_chunker_pending) form the last chunk. Never fails.
 */
size_t blk_chunker_scan(struct blk_chunker *c, const void *data, size_t size,
			bool *out_cut);

/* Bytes of the current, unfinished chunk seen so far. */
size_t blk_chunker_pending(const struct blk_chunker *c);

/*
 * One-shot convenience: length of the first chunk of data[0..size), as the
 * streaming scan would cut it if data were the whole rest of the stream.
 */
size_t blk_chunker_cut(const struct blk_chunker_params *p, const void *data,
		       size_t size);

#endif /* CLOUDFS_BLK_CHUNKER_H */
