/* SPDX-License-Identifier: MIT */
/*
 * The uploader's insides, shared by fc_upload.c (the pool, the upload of
 * a file or of a group of small ones) and fc_upload_conflict.c (a stale
 * base: keep both sides). Not for other modules: they use fc_upload.h.
 */
#ifndef CLOUDFS_FC_UPLOAD_INT_H
#define CLOUDFS_FC_UPLOAD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/codec.h"
#include "blk/manifest.h"
#include "cf_buf.h"
#include "cf_util.h"
#include "fc_remote.h"
#include "fc_upload.h"

struct fc_uploader {
	struct fc_upload_deps d; /* pointers borrowed */
	pthread_t *threads; /* owned */
	unsigned nthreads, started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* protected by ->lock */
	uint64_t wakes; /* protected by ->lock */
	/*
	 * Protected by ->lock: the workers reading the queue, whom any wake
	 * may concern, and when each asleep one wakes on its own (by slot;
	 * 0: not asleep), which a wake for later need not hurry.
	 */
	unsigned looking, slots;
	int64_t *asleep_until; /* owned, one per thread */
	struct fc_upload_progress prog; /* protected by ->lock */
	bool server_full; /* protected by ->lock: ->prog.message says so */
	atomic_bool stopping; /* lock-free copy of stop */
	atomic_bool single_commits; /* the server has no POST /commits */
};

/* A block in the current batch: its blob lives in the arena. */
struct batch_item {
	struct blk_id id;
	size_t off; /* in arena */
	size_t size;
};

/* A small file of a group: its manifest and commit, one request for all. */
struct group_item {
	struct fc_upload u;
	int fd;
	struct blk_manifest m;
	struct cf_buf enc;
	struct fc_commit_req req;
};

/* Per-thread working set: one codec, one arena, reused across uploads. */
struct worker {
	struct fc_uploader *up;
	struct blk_codec *codec; /* owned */
	uint8_t *arena; /* owned, arena_cap bytes */
	size_t arena_cap, arena_used;
	struct batch_item *batch; /* owned */
	size_t batch_count, batch_cap;
	struct fc_remote_put *puts; /* owned, batch_cap */
	struct blk_id *ids; /* owned, batch_cap */
	bool *missing; /* owned, batch_cap */
	/* the upload in hand */
	const struct fc_upload *u;
	int fd;
	struct blk_manifest_entry *news; /* owned: new chunks, in order */
	size_t news_count, news_cap;
	bool check_all; /* send every chunk through the
					      * missing check (no reuse) */
	struct group_item *group; /* owned, FC_UPLOAD_GROUP_MAX */
	struct fc_commit_item *commits; /* owned, one per group item */
};

/* Wall clock in ns: due times and retry times. */
int64_t fc_upload_now_ns(void);

/* Show an error in the status (user.cloudfs.status) until the next one. */
void fc_upload_message(struct fc_uploader *up, const char *fmt, ...)
	CF_PRINTF(2, 3);

/*
 * A stale base whose server version already holds exactly m: our own
 * commit whose answer was lost, or the same bytes from another device.
 * 1 (and *out_version) when so, 0 when not, -errno.
 */
int fc_upload_server_has(struct worker *w, const struct blk_manifest *m,
			 uint64_t *out_version);

/*
 * Keep w->u's local content as a new file next to its node: 0 with the
 * copy queued for upload, or -errno (nothing changed for the node).
 */
int fc_upload_conflict_copy(struct worker *w);

/* Give w->u's node the server's current version (after the copy). */
int fc_upload_conflict_take_server(struct worker *w);

#endif /* CLOUDFS_FC_UPLOAD_INT_H */
