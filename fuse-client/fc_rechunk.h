/* SPDX-License-Identifier: MIT */
/*
 * The re-chunk planner: which part of a changed file must be chunked
 * again, and the new chunks of that part. Pure (no state, cache or
 * network): the file is read and the chunks are handed on through
 * callbacks, so the uploader (fc_upload.c) and the unit test drive it alike.
 *
 * FastCDC cuts depend only on the bytes since the previous cut, so
 * scanning restarts at the last old chunk start at or before the first
 * dirty byte, and stops as soon as a new cut lands on an old cut past the
 * last dirty byte (same file size: the rest is byte-identical and cuts the
 * same). Old manifest entries before and after that region are reused
 * untouched.
 *
 * Memory is bounded: the file is streamed through one window of max chunk
 * + FC_RECHUNK_WINDOW bytes.
 *
 * Threading: fc_rechunk_plan is reentrant.
 */
#ifndef CLOUDFS_FC_RECHUNK_H
#define CLOUDFS_FC_RECHUNK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blk/chunker.h"
#include "fc_state.h"

#define FC_RECHUNK_WINDOW (1024u * 1024)

/* Read size bytes at off into buf: count read (short only at EOF) or -errno. */
typedef ssize_t (*fc_rechunk_read_fn)(void *arg, void *buf, size_t size,
				      uint64_t off);

/*
 * One new chunk: size bytes at off of the new file (data borrowed for the
 * call). Non-zero aborts the scan with that value.
 */
typedef int (*fc_rechunk_chunk_fn)(void *arg, uint64_t off, const uint8_t *data,
				   uint32_t size);

/* Input of fc_rechunk_plan; pointers borrowed for the call. */
struct fc_rechunk_req {
	struct blk_chunker_params params;
	const struct fc_chunk *old; /* old manifest rows, offset order */
	size_t old_count;
	uint64_t new_size;
	uint64_t lo, hi; /* dirty range [lo, hi) of the new file */
	fc_rechunk_read_fn read;
	void *read_arg;
	fc_rechunk_chunk_fn chunk;
	void *chunk_arg;
};

/*
 * The new manifest is old[0, head) + the chunks passed to chunk() +
 * old[tail, old_count).
 */
struct fc_rechunk_res {
	size_t head; /* old rows kept at the start */
	size_t tail; /* first old row kept at the end */
	uint64_t start, end; /* byte range that was re-chunked */
	size_t new_count; /* chunks handed to chunk() */
};

/*
 * Plan and run the re-chunk of one upload. Old rows that do not tile
 * [0, size) contiguously from 0 are ignored (everything is re-chunked).
 * 0; -ENOMEM; -EIO when read() comes back short (the file shrank under
 * us); read()'s and chunk()'s errors. Blocks in the callbacks only.
 */
int fc_rechunk_plan(const struct fc_rechunk_req *req,
		    struct fc_rechunk_res *out);

#endif /* CLOUDFS_FC_RECHUNK_H */
