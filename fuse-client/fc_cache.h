/* SPDX-License-Identifier: MIT */
/*
 * The content cache: one sparse cache file per file node,
 * CACHE_DIR/<id hex[0:2]>/<id hex>, holding the node's bytes at their file
 * offsets. A byte range is valid when every chunk row covering it is
 * present (fc_state) or no chunk row covers it (data written locally);
 * this module is the only one that fills chunks, marks them present and
 * evicts them.
 *
 * Key invariants: dirty data is never evicted; pinned and open files are
 * never evicted; a fetched chunk is written only while still not present
 * (so it never overwrites newer local data); the cache size limit is kept
 * by evicting clean files least recently used first.
 *
 * Threading: thread-safe. Per-node work is serialised by striped node locks
 * held only around local I/O and state updates, never across a fetch.
 * fc_cache owns a few background threads (started by fc_cache_open) that run
 * read-ahead, pin downloads, LRU bookkeeping and eviction; it calls the
 * fetch callback given in the options.
 */
#ifndef CLOUDFS_FC_CACHE_H
#define CLOUDFS_FC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blk/manifest.h"
#include "blk/proto.h"
#include "fc_state.h"

/*
 * Fetch block id (size plaintext bytes) from the server, verify it and
 * decrypt it into out (size bytes, borrowed). Implemented by net (GET
 * /blocks/<id>, blk_codec_decode). Called from FUSE workers and from the
 * cache thread, possibly concurrently: must be thread-safe and every wait
 * must have a timeout. Returns 0, -EIO, -ENOTCONN, -ETIMEDOUT, -EBADMSG
 * (the block failed verification; the cache logs it and reads get EIO).
 */
typedef int (*fc_fetch_fn)(void *arg, const struct blk_id *id, uint32_t size,
			   uint8_t *out);

/*
 * Fetch and verify (blk_manifest_verify_parse) the manifest of the current
 * server version of node id into out (caller releases); *out_version gets
 * that version. Same threading and errors as fc_fetch_fn, plus -ENOENT.
 * Implemented by net; the mount calls it when fc_node_has_manifest is
 * false, then stores it with fc_state_set_manifest.
 */
typedef int (*fc_manifest_fn)(void *arg, const uint8_t id[FC_ID_SIZE],
			      struct blk_manifest *out,
			      uint64_t *out_version);

struct fc_cache_opts {
	const char *dir;        /* borrowed for fc_cache_open; created 0700 */
	uint64_t limit;         /* bytes; 0 = 10% of the cache disk, >= 1 GiB */
	fc_fetch_fn fetch;      /* for read-ahead and pins; may be NULL */
	void *fetch_arg;        /* borrowed until fc_cache_close */
	uint32_t readahead;     /* bytes ahead of a sequential reader;
				 * 0 = 4 MiB */
};

struct fc_cache;

/*
 * Open the cache directory, measure what it holds and start the cache
 * thread. st is borrowed until fc_cache_close. -ENOMEM, -EACCES, -EIO,
 * other -errno. Caller owns *out.
 */
int fc_cache_open(const struct fc_cache_opts *opts, struct fc_state *st,
		  struct fc_cache **out);

/* Stop the thread, flush LRU data, free. NULL is a no-op. */
void fc_cache_close(struct fc_cache *c);

/*
 * Open node id's cache file read-write (O_CLOEXEC), creating it empty
 * (mode 0600, directory made as needed) when create is true. The caller
 * owns the fd. -ENOENT (absent and !create), -ENOSPC, -EIO.
 */
int fc_cache_file_open(struct fc_cache *c, const uint8_t id[FC_ID_SIZE],
		       bool create, int *out_fd);

/*
 * Open node id's existing cache file once more, write-only and around the
 * page cache (O_DIRECT, O_CLOEXEC), for big aligned writes: the mount's
 * own page cache holds those bytes already, so a buffered write would
 * copy them into memory a second time. The caller owns the fd. -EINVAL
 * when the file system has no O_DIRECT, -ENOENT, -errno.
 */
int fc_cache_file_open_direct(struct fc_cache *c, const uint8_t id[FC_ID_SIZE],
			      int *out_fd);

/* Remove node id's cache file (absent is success). */
int fc_cache_file_remove(struct fc_cache *c, const uint8_t id[FC_ID_SIZE]);

/* Path of node id's cache file into out (appended). -ENOMEM, -EMSGSIZE. */
int fc_cache_file_path(struct fc_cache *c, const uint8_t id[FC_ID_SIZE],
		       struct cf_buf *out);

/*
 * Make [off, off + len) of node ino valid in its cache file fd (borrowed):
 * fetch, with fetch(arg, ...), every chunk overlapping the range that is
 * not present, write it at its offset and mark it present. Concurrent
 * callers wanting the same chunk share one fetch. Blocks on the network
 * (the callback's timeouts bound it). 0; -EIO (a fetch failed, or the
 * block failed verification: logged here with the inode and block id),
 * -ENOTCONN, -ETIMEDOUT, -ENOSPC (cache disk full after eviction), -ENOMEM.
 */
int fc_cache_ensure(struct fc_cache *c, int64_t ino, int fd, uint64_t off,
		    uint64_t len, fc_fetch_fn fetch, void *arg);

/*
 * Get ready to write [off, off + len) of ino: chunks only partly covered
 * and not present are fetched first (read-modify-write), wholly covered
 * ones are marked present (their old bytes will not be needed). The
 * caller has called fc_state_write_begin and writes the bytes itself
 * after this returns 0. Errors as fc_cache_ensure.
 */
int fc_cache_prepare_write(struct fc_cache *c, int64_t ino, int fd,
			   uint64_t off, uint64_t len, fc_fetch_fn fetch,
			   void *arg);

/*
 * Write size bytes of buf (borrowed) at off in fd; on ENOSPC evict clean
 * data and retry once. 0, -ENOSPC (nothing was left half-written beyond
 * what the disk refused: the caller reports the error and the node's
 * state is unchanged), -EIO.
 */
int fc_cache_pwrite(struct fc_cache *c, int fd, const void *buf, size_t size,
		    uint64_t off);

/*
 * Truncate ino's cache file fd from old_size to new_size: shrinking into a
 * chunk that is not present fetches the kept part first. Call before
 * fc_state_setattr(FC_SET_SIZE). Errors as fc_cache_ensure.
 */
int fc_cache_truncate(struct fc_cache *c, int64_t ino, int fd,
		      uint64_t old_size, uint64_t new_size, fc_fetch_fn fetch,
		      void *arg);

/*
 * A sequential reader of ino reached off: queue a background fetch of the
 * next read-ahead window of missing chunks (non-blocking, best effort).
 * Returns where the reader should call again: a quarter of the window on,
 * so the fetches stay ahead without a job for every read.
 */
uint64_t fc_cache_readahead(struct fc_cache *c, int64_t ino, uint64_t off);

/*
 * Pin or unpin ino (fc_state_set_pinned). Pinning also queues a
 * background download of every missing chunk. -ENOENT, -EINVAL.
 */
int fc_cache_pin(struct fc_cache *c, int64_t ino, bool pin);

/*
 * ino is open (hold) or closed (unhold): held nodes are never evicted.
 * Counted; cheap; never fails.
 */
void fc_cache_hold(struct fc_cache *c, int64_t ino);
void fc_cache_unhold(struct fc_cache *c, int64_t ino);

/* ino was used now (LRU; batched to the state database). */
void fc_cache_touch(struct fc_cache *c, int64_t ino);

/*
 * Account for bytes added to (delta > 0) or freed from the cache by the
 * caller's own writes, truncates and removals; wakes eviction past the
 * limit.
 */
void fc_cache_account(struct fc_cache *c, int64_t delta);

/*
 * Evict clean, unpinned, unheld files, least recently used first, until
 * the cache holds at most target bytes or nothing evictable is left.
 * Blocks on local I/O. Returns bytes freed (>= 0) or -errno.
 */
int64_t fc_cache_evict(struct fc_cache *c, uint64_t target);

/*
 * After ENOSPC: evict until a write of size bytes, and some room beside
 * it, should fit where the cache is now. Blocks on local I/O.
 */
void fc_cache_make_room(struct fc_cache *c, uint64_t size);

/* Bytes the cache holds now, and its limit. */
uint64_t fc_cache_used(struct fc_cache *c);
uint64_t fc_cache_limit(struct fc_cache *c);

/*
 * Space of the file system holding the cache (for statfs before the
 * account usage is known). -errno from statvfs.
 */
int fc_cache_disk_space(struct fc_cache *c, uint64_t *out_total,
			uint64_t *out_free);

#endif /* CLOUDFS_FC_CACHE_H */
