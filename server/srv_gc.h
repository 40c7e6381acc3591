/* SPDX-License-Identifier: MIT */
/*
 * Maintenance over the metadata and block stores: garbage collection
 * (prune old versions and trash, then mark-and-sweep unreferenced blocks
 * past a grace period), scrub (re-hash every stored block) and fsck (the
 * index, the references and the store agree). They run from the admin CLI,
 * possibly while a server runs on the same data: every removal is
 * conditional (block_forget, srv_blocks remove_unless) so an upload or a
 * commit in flight always wins (invariant 4).
 *
 * Blocking; call one at a time per store. No global state.
 */
#ifndef CLOUDFS_SRV_GC_H
#define CLOUDFS_SRV_GC_H

#include <stdint.h>

#include "blk/proto.h"

struct srv_meta;
struct srv_blocks;
struct srv_metrics;

/*
 * Called for each problem found: user_id and id name the block (id may be
 * NULL for problems that are not about one block), what is a sentence.
 * All pointers borrowed for the call.
 */
typedef void (*srv_gc_report_fn)(void *arg, int64_t user_id,
				 const struct blk_id *id, const char *what);

struct srv_gc_stats {
	uint64_t versions_pruned; /* old versions dropped */
	uint64_t nodes_purged; /* trash items purged */
	uint64_t candidates; /* unreferenced blocks past the grace */
	uint64_t removed; /* blocks deleted from index and store */
	uint64_t bytes_removed;
	uint64_t kept; /* re-used or re-uploaded meanwhile */
	uint64_t absent; /* indexed but already gone from the store */
	uint64_t orphans_removed; /* stored, never indexed (a cut upload) */
	uint64_t orphan_bytes;
	uint64_t temps_removed; /* temp files of uploads cut by a crash */
};

/*
 * Collect garbage as of now (unix seconds): drop non-current versions and
 * trash older than retention seconds, then remove every block no retained
 * version references and nobody touched in the last grace seconds, every
 * stored block the index does not know (an upload cut between store and
 * index, or an index row a crash lost) stored before the grace, and the
 * store's leftover temp files from before it. mx (may be NULL) counts
 * removed blocks. 0 and *out filled, or -ENOMEM, -EIO (after removing what
 * it could).
 */
int srv_gc_run(struct srv_meta *m, struct srv_blocks *bs,
	       struct srv_metrics *mx, int64_t now, int64_t retention,
	       int64_t grace, struct srv_gc_stats *out);

struct srv_scrub_stats {
	uint64_t blocks; /* stored blocks read */
	uint64_t bytes;
	uint64_t corrupt; /* content does not hash to the name */
};

/*
 * Re-hash every stored block of every account; report (may be NULL: log
 * instead) each one whose content does not hash to its id or cannot be
 * read. 0 when the walk completed (check out->corrupt), -ENOMEM, -EIO.
 */
int srv_scrub_run(struct srv_blocks *bs, srv_gc_report_fn report, void *arg,
		  struct srv_scrub_stats *out);

struct srv_fsck_stats {
	uint64_t indexed; /* rows in the block index */
	uint64_t referenced; /* (account, block) pairs retained versions use */
	uint64_t stored; /* files in the store */
	uint64_t errors; /* referenced or indexed blocks not stored, ... */
	uint64_t orphans; /* stored but not indexed: harmless leftovers */
};

/*
 * Check that every block a retained version references is in the index
 * and in the store, and every index row has a stored file of its size.
 * Files the index does not know (an upload cut between store and index)
 * are counted as orphans, not errors. report as for scrub. 0 when the
 * check completed (check out->errors), -ENOMEM, -EIO.
 */
int srv_fsck_run(struct srv_meta *m, struct srv_blocks *bs,
		 srv_gc_report_fn report, void *arg,
		 struct srv_fsck_stats *out);

#endif /* CLOUDFS_SRV_GC_H */
