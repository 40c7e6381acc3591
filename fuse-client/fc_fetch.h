/* SPDX-License-Identifier: MIT */
/*
 * On-demand download for the cache: the fc_fetch_fn and fc_manifest_fn
 * callbacks of fc_cache.h. A block is fetched with GET /blocks/<id>,
 * checked against its id and GCM tag and decrypted (blk_codec_decode); a
 * manifest is fetched with GET /nodes/<id>/versions/current and trusted
 * only after its HMAC tag verifies (blk_manifest_verify_parse).
 *
 * Threading: both callbacks are thread-safe; each calling thread gets its
 * own codec and receive buffer (a pthread key of the fetcher, freed when
 * the thread exits or with the fetcher). Every wait is bounded by
 * fc_remote's timeouts.
 */
#ifndef CLOUDFS_FC_FETCH_H
#define CLOUDFS_FC_FETCH_H

#include <stdint.h>

#include "blk/keys.h"
#include "blk/manifest.h"
#include "blk/proto.h"
#include "fc_remote.h"

struct fc_fetch_opts {
	struct fc_remote *remote; /* borrowed until fc_fetch_free */
	const struct blk_volume_keys *keys; /* borrowed, copied per thread */
	uint32_t max_chunk; /* the account's max chunk size */
};

struct fc_fetcher;

/* -EINVAL, -ENOMEM, -EAGAIN (no pthread key). Caller owns *out. */
int fc_fetch_new(const struct fc_fetch_opts *o, struct fc_fetcher **out);

/* Free every thread's context. Call once no thread fetches any more. */
void fc_fetch_free(struct fc_fetcher *f);

/*
 * fc_fetch_fn (arg is the struct fc_fetcher): block id, size plaintext
 * bytes, into out (borrowed). 0; -EBADMSG (the block does not verify, or
 * decodes to another size); -EIO (the server lacks it, or failed);
 * -ENOTCONN, -ETIMEDOUT, -EAGAIN (offline, slow, rate limited); -ENOMEM.
 */
int fc_fetch_block(void *arg, const struct blk_id *id, uint32_t size,
		   uint8_t *out);

/*
 * fc_manifest_fn (arg is the struct fc_fetcher): the verified manifest of
 * node id's current version into out (caller releases), its number into
 * *out_version. 0; -ENOENT (no version yet, or no such node); -EBADMSG
 * (tag mismatch or malformed); network errors as fc_fetch_block.
 */
int fc_fetch_manifest(void *arg, const uint8_t id[BLK_FILE_ID_SIZE],
		      struct blk_manifest *out, uint64_t *out_version);

/* Blocks and bytes fetched so far (for status and benchmarks). */
void fc_fetch_stats(struct fc_fetcher *f, uint64_t *out_blocks,
		    uint64_t *out_bytes);

#endif /* CLOUDFS_FC_FETCH_H */
