/* SPDX-License-Identifier: MIT */
/*
 * The uploader: a small pool of threads that claim quiet dirty files from
 * the upload queue (fc_state), re-chunk only what changed, encode the new
 * chunks, ask the server which blocks it lacks, PUT those in parallel and
 * commit the new manifest with the version the edit started from.
 *
 * Re-chunking is the planner in fc_rechunk.h (pure and unit-tested): only
 * the region around the dirty bytes is chunked again, old manifest
 * entries before and after it are reused untouched.
 *
 * Memory is bounded: files are streamed through the planner's window of
 * max chunk + 1 MiB, and encoded blocks are uploaded in batches of at most
 * FC_UPLOAD_BATCH_BYTES per thread. Uploads are resumable: blocks the
 * server already holds are skipped by the missing check.
 *
 * Small files cost few round trips: a batch of at most
 * FC_UPLOAD_ASK_BYTES goes up without the missing check (re-sending it
 * costs less than asking; PUT is idempotent), and a file under
 * FC_UPLOAD_ANNOUNCE_BYTES is not marked pending first (its commit
 * follows within a round trip or two, so "being updated" would only
 * double the server's work for it).
 *
 * Threading: struct fc_uploader runs its own threads; fc_upload_wake,
 * fc_upload_wake_at, fc_upload_progress and fc_upload_stop are safe from
 * any thread.
 */
#ifndef CLOUDFS_FC_UPLOAD_H
#define CLOUDFS_FC_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/chunker.h"
#include "blk/keys.h"
#include "fc_cache.h"
#include "fc_remote.h"
#include "fc_state.h"

/*
 * Small files are bound by round trips, not CPU: four threads keep four
 * uploads in flight. Each holds one batch arena, so memory stays where
 * two threads with 16 MiB batches had it.
 */
#define FC_UPLOAD_THREADS	 4
#define FC_UPLOAD_BATCH_BYTES	 (8u * 1024 * 1024)
#define FC_UPLOAD_ASK_BYTES	 (64u * 1024)
#define FC_UPLOAD_ANNOUNCE_BYTES (1024u * 1024)
/*
 * Files under FC_UPLOAD_ANNOUNCE_BYTES due at once share one commit
 * request (and one transaction on the server): up to this many, up to
 * half a batch of bytes.
 */
#define FC_UPLOAD_GROUP_MAX FC_REMOTE_COMMIT_BATCH_MAX

/* Progress of the upload in flight (for user.cloudfs.status). */
struct fc_upload_progress {
	bool active;
	uint8_t id[FC_ID_SIZE];
	uint64_t done, total; /* bytes of the file gone through */
	uint64_t sent; /* block bytes put on the wire, all uploads */
	char message[256]; /* last error worth showing, or "" */
};

struct fc_uploader;

/* Everything the uploader works with; borrowed until fc_upload_free. */
struct fc_upload_deps {
	struct fc_state *state;
	struct fc_cache *cache;
	struct fc_remote *remote;
	const struct blk_volume_keys *keys;
	struct blk_chunker_params chunk;
	int codec; /* enum blk_codec_id for new blocks */
	fc_fetch_fn fetch; /* fill chunks the cache lacks */
	fc_manifest_fn manifest; /* the server's manifest, on conflicts */
	void *fetch_arg;
	const char *device; /* for conflicted copy names */
	unsigned threads; /* 0 = FC_UPLOAD_THREADS */
	unsigned parallel; /* PUTs at once per thread; 0 = 4 */
	/* Hooks, each may be NULL; called from uploader threads with arg. */
	/* The kernel's cache of ino is stale. */
	void (*inval)(void *arg, int64_t ino);
	/* The outbox grew (a conflicted copy was created). */
	void (*wake_pusher)(void *arg);
	void *hook_arg;
};

/* Make the pool (threads not started). -ENOMEM, -EINVAL. Caller owns. */
int fc_upload_new(const struct fc_upload_deps *deps, struct fc_uploader **out);

/* Start the threads. -errno from pthread_create. */
int fc_upload_start(struct fc_uploader *u);

/* Look at the queue now (an upload became due or sync was asked). */
void fc_upload_wake(struct fc_uploader *u);

/*
 * An upload was queued for due_ns (realtime): wake a worker, unless one
 * asleep will wake by then on its own and none is reading the queue. A
 * burst of closes then costs no wake each.
 */
void fc_upload_wake_at(struct fc_uploader *u, int64_t due_ns);

/* Snapshot of the progress. */
void fc_upload_progress(struct fc_uploader *u, struct fc_upload_progress *out);

/*
 * Stop the threads: uploads in flight end at their next batch and go
 * back to the queue (persisted in the state database). Blocks until the
 * threads joined. Idempotent.
 */
void fc_upload_stop(struct fc_uploader *u);

/* Stop and free. NULL is a no-op. */
void fc_upload_free(struct fc_uploader *u);

#endif /* CLOUDFS_FC_UPLOAD_H */
