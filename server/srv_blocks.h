/* SPDX-License-Identifier: MIT */
/*
 * Block store interface: where block blobs live, namespaced per account.
 * The embedded default is a local directory (srv_blocks_local.c,
 * blocks/<account>/<id[0:2]>/<id>); an S3-compatible store is a second
 * implementation of the same ops, not an edit elsewhere.
 *
 * Contract: put returns only when the blob is durable (invariant 1 of
 * DESIGN.md: file and directory fsync'd, or the object store said 200); put
 * of an id that exists succeeds after verifying the stored bytes hash to
 * the id (a corrupt copy is replaced). The store checks nothing else: the
 * API verifies blobs, before put or, through put's gate, while put writes.
 * All ops are thread-safe and block.
 */
#ifndef CLOUDFS_SRV_BLOCKS_H
#define CLOUDFS_SRV_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/proto.h"
#include "cf_buf.h"
#include "cf_file.h"

struct srv_blocks;

/*
 * Called by srv_blocks_list for every stored block, with the time it was
 * stored (seconds since the epoch); non-zero stops.
 */
typedef int (*srv_blocks_list_fn)(void *arg, int64_t user_id,
				  const struct blk_id *id, uint64_t size,
				  int64_t stored_at);

/* Asked by remove_unless whether the block must stay after all. */
typedef bool (*srv_blocks_keep_fn)(void *arg);

struct srv_blocks_ops {
	/*
	 * gate (may be NULL) is called once before put reports success:
	 * before the blob takes its name when put writes it (see
	 * cf_durable_gate), before put returns when the block is stored
	 * already. A negative return from it fails the put, stores nothing
	 * new and is returned.
	 */
	int (*put)(struct srv_blocks *bs, int64_t user_id,
		   const struct blk_id *id, const void *data, size_t size,
		   const struct cf_durable_gate *gate);
	/* Append the blob to out (capped by out->max): -ENOENT, -EMSGSIZE, -EIO. */
	int (*get)(struct srv_blocks *bs, int64_t user_id,
		   const struct blk_id *id, struct cf_buf *out);
	/* 0 and *out_size when stored, -ENOENT when not. */
	int (*stat)(struct srv_blocks *bs, int64_t user_id,
		    const struct blk_id *id, uint64_t *out_size);
	/* Remove durably; -ENOENT when absent. */
	int (*remove)(struct srv_blocks *bs, int64_t user_id,
		      const struct blk_id *id);
	/* Every stored block of every account (user_id < 0) or of one. */
	int (*list)(struct srv_blocks *bs, int64_t user_id,
		    srv_blocks_list_fn fn, void *arg);
	/*
	 * Garbage collection's remove, safe against a concurrent re-upload
	 * of the same block (possibly from another process): take the block
	 * out of sight, then call keep(arg); when it returns true (the index
	 * names the block again) put it back, else delete it durably.
	 * 0 deleted, 1 kept, -ENOENT, -EIO. A crash in between leaves the
	 * block to be put back at the next open: never lost, at worst kept.
	 */
	int (*remove_unless)(struct srv_blocks *bs, int64_t user_id,
			     const struct blk_id *id,
			     srv_blocks_keep_fn keep, void *arg);
	/*
	 * Delete what uploads cut short by a crash left behind (temp files)
	 * before older_than; *out_count of them. 0 or -errno.
	 */
	int (*sweep)(struct srv_blocks *bs, int64_t older_than,
		     uint64_t *out_count);
	void (*free)(struct srv_blocks *bs);
};

/* Implementations embed this as their first member. */
struct srv_blocks {
	const struct srv_blocks_ops *ops;
};

/*
 * The local-directory store rooted at dir (created if missing, mode 0700).
 * -ENOMEM, -errno from mkdir/open. Caller owns; free with srv_blocks_free.
 */
int srv_blocks_local_open(const char *dir, struct srv_blocks **out);

static inline int srv_blocks_put(struct srv_blocks *bs, int64_t user_id,
				 const struct blk_id *id, const void *data,
				 size_t size)
{
	return bs->ops->put(bs, user_id, id, data, size, NULL);
}

static inline int srv_blocks_put_gated(struct srv_blocks *bs, int64_t user_id,
				       const struct blk_id *id,
				       const void *data, size_t size,
				       const struct cf_durable_gate *gate)
{
	return bs->ops->put(bs, user_id, id, data, size, gate);
}

static inline int srv_blocks_get(struct srv_blocks *bs, int64_t user_id,
				 const struct blk_id *id, struct cf_buf *out)
{
	return bs->ops->get(bs, user_id, id, out);
}

static inline int srv_blocks_stat(struct srv_blocks *bs, int64_t user_id,
				  const struct blk_id *id, uint64_t *out_size)
{
	return bs->ops->stat(bs, user_id, id, out_size);
}

static inline int srv_blocks_remove(struct srv_blocks *bs, int64_t user_id,
				    const struct blk_id *id)
{
	return bs->ops->remove(bs, user_id, id);
}

static inline int srv_blocks_list(struct srv_blocks *bs, int64_t user_id,
				  srv_blocks_list_fn fn, void *arg)
{
	return bs->ops->list(bs, user_id, fn, arg);
}

static inline int srv_blocks_remove_unless(struct srv_blocks *bs,
					   int64_t user_id,
					   const struct blk_id *id,
					   srv_blocks_keep_fn keep, void *arg)
{
	return bs->ops->remove_unless(bs, user_id, id, keep, arg);
}

static inline int srv_blocks_sweep(struct srv_blocks *bs, int64_t older_than,
				   uint64_t *out_count)
{
	return bs->ops->sweep(bs, older_than, out_count);
}

static inline void srv_blocks_free(struct srv_blocks *bs)
{
	if (bs)
		bs->ops->free(bs);
}

#endif /* CLOUDFS_SRV_BLOCKS_H */

