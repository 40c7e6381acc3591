/* SPDX-License-Identifier: MIT */
/*
 * Garbage collection, scrub and fsck. GC is mark-and-sweep run by the
 * metadata store's own queries: gc_prune drops what retention no longer
 * keeps, gc_unreferenced lists blocks no retained version references and
 * nobody has touched within the grace period, and each one goes through
 * two conditional steps: block_forget (refused while a commit references
 * the block or an upload or missing-check touched it) and then the store's
 * remove_unless (puts the file back if the index names the block again).
 * Then stored blocks the index does not know, and the store's leftover
 * temp files, go once they are older than the grace period.
 * Lists are collected before they are acted on, so no store iteration
 * stays open across writes.
 */
#include "srv_gc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CF_LOG_SUBSYS "gc"
#include "cf_buf.h"
#include "cf_log.h"
#include "srv_blocks.h"
#include "srv_meta.h"
#include "srv_metrics.h"

/* One (account, block) pair. */
struct ref {
	int64_t user_id;
	struct blk_id id;
	uint64_t size;
	int64_t stored_at; /* from the store's listing; 0 from the index */
};

struct ref_list {
	struct ref *v; /* owned */
	size_t count, cap;
};

static void ref_list_release(struct ref_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int ref_add(void *arg, int64_t user_id, const struct blk_id *id,
		   uint64_t size)
{
	struct ref_list *l = arg;
	struct ref *v;
	size_t cap;

	if (l->count == l->cap) {
		cap = l->cap ? l->cap * 2 : 1024;
		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->count].user_id = user_id;
	l->v[l->count].id = *id;
	l->v[l->count].size = size;
	l->v[l->count].stored_at = 0;
	l->count++;
	return 0;
}

static int file_add(void *arg, int64_t user_id, const struct blk_id *id,
		    uint64_t size, int64_t stored_at)
{
	struct ref_list *l = arg;
	int rc = ref_add(arg, user_id, id, size);

	if (rc == 0)
		l->v[l->count - 1].stored_at = stored_at;
	return rc;
}

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;

	if (x->user_id != y->user_id)
		return x->user_id < y->user_id ? -1 : 1;
	return memcmp(x->id.bytes, y->id.bytes, BLK_ID_SIZE);
}

static void ref_sort(struct ref_list *l)
{
	if (l->count)
		qsort(l->v, l->count, sizeof(*l->v), ref_cmp);
}

static const struct ref *ref_find(const struct ref_list *l, int64_t user_id,
				  const struct blk_id *id)
{
	struct ref key = { .user_id = user_id, .id = *id };

	if (!l->count)
		return NULL;
	return bsearch(&key, l->v, l->count, sizeof(*l->v), ref_cmp);
}

/* The index's rows (sorted, for ref_find) and the store's files. */
static int index_and_files(struct srv_meta *m, struct srv_blocks *bs,
			   struct ref_list *index, struct ref_list *files)
{
	int rc = m->ops->stored_blocks(m, ref_add, index);

	if (rc == 0)
		rc = srv_blocks_list(bs, -1, file_add, files);
	if (rc == 0)
		ref_sort(index);
	return rc;
}

static void report(srv_gc_report_fn fn, void *arg, int64_t user_id,
		   const struct blk_id *id, const char *what)
{
	char hex[BLK_ID_HEX_SIZE] = "-";

	if (fn) {
		fn(arg, user_id, id, what);
		return;
	}
	if (id)
		blk_id_to_hex(id, hex);
	cf_warn("user %" PRId64 " block %s: %s", user_id, hex, what);
}

/* ----- gc ----- */

struct keep_ctx {
	struct srv_meta *m;
	int64_t user_id;
	const struct blk_id *id;
};

/* Keep the parked block if the index names it again (a re-upload). */
static bool keep_if_indexed(void *arg)
{
	struct keep_ctx *k = arg;
	uint64_t size;
	int rc;

	rc = k->m->ops->block_has(k->m, k->user_id, k->id, &size);
	return rc != -ENOENT; /* when in doubt, keep */
}

/*
 * Remove one block through remove_unless, counting it in *count and
 * *bytes (and mx) when it goes: 0 gone, 1 kept, -errno.
 */
static int remove_block(struct srv_meta *m, struct srv_blocks *bs,
			struct srv_metrics *mx, const struct ref *r,
			uint64_t *count, uint64_t *bytes)
{
	struct keep_ctx k = { .m = m, .user_id = r->user_id, .id = &r->id };
	int rc;

	rc = srv_blocks_remove_unless(bs, r->user_id, &r->id, keep_if_indexed,
				      &k);
	if (rc == 0) {
		(*count)++;
		*bytes += r->size;
		if (mx)
			srv_metrics_block_removed(mx, r->size);
	}
	return rc;
}

/*
 * Stored blocks the index does not know, stored before older_than: an
 * upload cut between the store and its index row, or a row a crash lost
 * (block rows are written lazily). Uploads in flight are younger than the
 * grace; one that indexes its block meanwhile keeps it (remove_unless).
 */
static int sweep_orphans(struct srv_meta *m, struct srv_blocks *bs,
			 struct srv_metrics *mx, int64_t older_than,
			 struct srv_gc_stats *out)
{
	struct ref_list index = { 0 }, files = { 0 };
	size_t i;
	int rc, err = 0;

	rc = index_and_files(m, bs, &index, &files);
	if (rc < 0)
		goto out;
	for (i = 0; i < files.count; i++) {
		const struct ref *r = &files.v[i];

		if (r->stored_at >= older_than ||
		    ref_find(&index, r->user_id, &r->id))
			continue;
		rc = remove_block(m, bs, mx, r, &out->orphans_removed,
				  &out->orphan_bytes);
		if (rc < 0 && rc != -ENOENT)
			err = rc;
	}
	rc = srv_blocks_sweep(bs, older_than, &out->temps_removed);
	if (rc == 0)
		rc = err;
out:
	ref_list_release(&index);
	ref_list_release(&files);
	return rc;
}

int srv_gc_run(struct srv_meta *m, struct srv_blocks *bs,
	       struct srv_metrics *mx, int64_t now, int64_t retention,
	       int64_t grace, struct srv_gc_stats *out)
{
	struct ref_list cand = { 0 };
	int64_t older_than = now - grace;
	size_t i;
	int rc, err = 0;

	memset(out, 0, sizeof(*out));
	rc = m->ops->gc_prune(m, now, retention, &out->versions_pruned,
			      &out->nodes_purged);
	if (rc < 0) {
		cf_err("pruning old versions failed: %s", strerror(-rc));
		goto out;
	}
	rc = m->ops->gc_unreferenced(m, older_than, ref_add, &cand);
	if (rc < 0) {
		cf_err("listing unreferenced blocks failed: %s", strerror(-rc));
		goto out;
	}
	out->candidates = cand.count;
	for (i = 0; i < cand.count; i++) {
		const struct ref *r = &cand.v[i];

		rc = m->ops->block_forget(m, r->user_id, &r->id, older_than);
		if (rc == -EBUSY || rc == -ENOENT) {
			out->kept++; /* touched or referenced meanwhile */
			continue;
		}
		if (rc < 0) {
			err = rc;
			continue;
		}
		rc = remove_block(m, bs, mx, r, &out->removed,
				  &out->bytes_removed);
		if (rc == 1)
			out->kept++;
		else if (rc == -ENOENT)
			out->absent++;
		else if (rc < 0)
			err = rc;
	}
	rc = sweep_orphans(m, bs, mx, older_than, out);
	if (rc < 0)
		err = rc;
	rc = err;
	if (rc < 0)
		cf_err("some blocks could not be removed: %s", strerror(-rc));
out:
	ref_list_release(&cand);
	return rc;
}

/* ----- scrub ----- */

int srv_scrub_run(struct srv_blocks *bs, srv_gc_report_fn fn, void *arg,
		  struct srv_scrub_stats *out)
{
	struct ref_list stored = { 0 };
	struct blk_id got;
	struct cf_buf b;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	cf_buf_init(&b, BLK_BLOB_SIZE_MAX(BLK_CHUNK_MAX_LIMIT));
	rc = srv_blocks_list(bs, -1, file_add, &stored);
	if (rc < 0)
		goto out;
	for (i = 0; i < stored.count; i++) {
		const struct ref *r = &stored.v[i];

		cf_buf_reset(&b);
		rc = srv_blocks_get(bs, r->user_id, &r->id, &b);
		if (rc == -ENOENT)
			continue; /* removed since the listing */
		if (rc == -EMSGSIZE) {
			out->corrupt++;
			report(fn, arg, r->user_id, &r->id,
			       "larger than any block can be");
			continue;
		}
		if (rc < 0) {
			out->corrupt++;
			report(fn, arg, r->user_id, &r->id, "cannot be read");
			continue;
		}
		out->blocks++;
		out->bytes += b.len;
		rc = blk_id_compute(b.data, b.len, &got);
		if (rc < 0)
			goto out;
		if (!blk_id_equal(&got, &r->id)) {
			out->corrupt++;
			report(fn, arg, r->user_id, &r->id,
			       "content does not match its id (corrupt)");
		}
	}
	rc = 0;
out:
	cf_buf_release(&b);
	ref_list_release(&stored);
	return rc;
}

/* ----- fsck ----- */

int srv_fsck_run(struct srv_meta *m, struct srv_blocks *bs, srv_gc_report_fn fn,
		 void *arg, struct srv_fsck_stats *out)
{
	struct ref_list index = { 0 }, refs = { 0 }, files = { 0 };
	const struct ref *f;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = index_and_files(m, bs, &index, &files);
	if (rc == 0)
		rc = m->ops->referenced_blocks(m, ref_add, &refs);
	if (rc < 0)
		goto out;
	ref_sort(&files);
	out->indexed = index.count;
	out->referenced = refs.count;
	out->stored = files.count;

	for (i = 0; i < index.count; i++) {
		const struct ref *r = &index.v[i];

		f = ref_find(&files, r->user_id, &r->id);
		if (!f) {
			out->errors++;
			report(fn, arg, r->user_id, &r->id,
			       "indexed but not stored");
		} else if (f->size != r->size) {
			out->errors++;
			report(fn, arg, r->user_id, &r->id,
			       "stored size differs from the index");
		}
	}
	for (i = 0; i < refs.count; i++) {
		const struct ref *r = &refs.v[i];

		if (!ref_find(&index, r->user_id, &r->id)) {
			out->errors++;
			report(fn, arg, r->user_id, &r->id,
			       ref_find(&files, r->user_id, &r->id)
				       ? "referenced by a version but not "
					 "indexed"
				       : "referenced by a version but neither "
					 "indexed nor stored");
		}
	}
	for (i = 0; i < files.count; i++) {
		const struct ref *r = &files.v[i];

		if (!ref_find(&index, r->user_id, &r->id))
			out->orphans++;
	}
	rc = 0;
out:
	ref_list_release(&index);
	ref_list_release(&refs);
	ref_list_release(&files);
	return rc;
}
