/* SPDX-License-Identifier: MIT */
/*
 * Versions and blocks of the SQLite metadata store: commit (the hot path
 * of every upload), version listing, fetching and restoring, the block
 * index, and the GC queries.
 *
 * Why GC cannot lose a block a commit needs: commit and block_forget both
 * run on the writer thread, so they are serialized. A commit checks every
 * referenced id against the block index inside its transaction; a forget
 * deletes an index row only when no version references it and it was not
 * seen (uploaded, or answered "not missing") since older_than. Either the
 * commit sees the row and its version_blocks rows then protect the block,
 * or it sees the row gone and answers "missing" so the client uploads
 * again.
 */
#include "srv_meta.h"

#define CF_LOG_SUBSYS "meta"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cf_log.h"
#include "srv_meta_sqlite_int.h"

static struct srv_sq *sq_of(struct srv_meta *m)
{
	return (struct srv_sq *)m;
}

/* Load a node that must be a live regular file. */
static int file_load(struct srv_sq_conn *c, int64_t user_id, const uint8_t *id,
		     struct srv_sq_node *out)
{
	int rc;

	rc = srv_sq_node_load(c, user_id, id, out);
	if (rc < 0)
		return rc;
	if (out->n.deleted)
		return -ENOENT;
	if (out->n.kind == SRV_NODE_DIR)
		return -EISDIR;
	if (out->n.kind != SRV_NODE_FILE)
		return -EINVAL;
	return 0;
}

/* Look a block up: 1 = indexed (*out_size, *out_seen set), 0 = not. */
static int block_get(struct srv_sq_conn *c, int64_t user_id,
		     const struct blk_id *id, uint64_t *out_size,
		     int64_t *out_seen)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_BLOCK_GET, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iK", user_id, id);
	if (rc == 0)
		rc = srv_sq_step(c, st);
	if (rc <= 0)
		return rc;
	if (out_size)
		*out_size = (uint64_t)sqlite3_column_int64(st, 0);
	if (out_seen)
		*out_seen = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 1;
}

static int version_insert(struct srv_sq_conn *c, int64_t user_id,
			  const uint8_t *node, uint64_t version,
			  int64_t device_id, uint64_t size, int64_t mtime_ns,
			  const void *manifest, size_t manifest_size,
			  const uint8_t *tag)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_VERSION_INSERT, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iNuiuiibb", user_id, node, version,
				 device_id, size, mtime_ns, srv_sq_now_s(),
				 manifest, manifest_size, tag,
				 (size_t)BLK_MANIFEST_TAG_SIZE);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

/* ----- commit ----- */

struct commit_args {
	int64_t user_id;
	const struct srv_commit *cm;
	uint64_t version; /* new version, or current on -ESTALE */
	uint64_t seq;
	struct blk_id *missing; /* owned until handed to the caller */
	size_t missing_count;
};

static int collect_missing(struct srv_sq_conn *c, struct commit_args *a)
{
	const struct srv_commit *cm = a->cm;
	struct blk_id *grown;
	size_t i, cap = 0;
	int rc;

	for (i = 0; i < cm->block_count; i++) {
		rc = block_get(c, a->user_id, &cm->blocks[i], NULL, NULL);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue;
		if (a->missing_count == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(a->missing, cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			a->missing = grown;
		}
		a->missing[a->missing_count++] = cm->blocks[i];
	}
	return a->missing_count ? -ENOENT : 0;
}

static int commit_run(struct srv_sq_conn *c, void *arg)
{
	struct commit_args *a = arg;
	const struct srv_commit *cm = a->cm;
	struct srv_sq_node mn;
	sqlite3_stmt *st;
	uint64_t v;
	size_t i;
	int rc;

	rc = file_load(c, a->user_id, cm->node, &mn);
	if (rc < 0)
		return rc;
	if (mn.n.version != cm->base_version) {
		a->version = mn.n.version;
		return -ESTALE;
	}
	rc = collect_missing(c, a);
	if (rc < 0)
		return rc;
	v = mn.n.version + 1;
	rc = version_insert(c, a->user_id, cm->node, v, cm->device_id, cm->size,
			    cm->mtime_ns, cm->manifest, cm->manifest_size,
			    cm->tag);
	for (i = 0; rc == 0 && i < cm->block_count; i++) {
		rc = srv_sq_stmt(c, ST_VBLOCK_INSERT, &st);
		if (rc == 0)
			rc = srv_sq_bind(c, st, "iNuK", a->user_id, cm->node, v,
					 &cm->blocks[i]);
		if (rc == 0)
			rc = srv_sq_exec(c, st);
	}
	if (rc < 0)
		return rc;
	mn.n.version = v;
	mn.n.size = cm->size;
	mn.n.mtime_ns = cm->mtime_ns;
	mn.n.ctime_ns = srv_sq_now_ns();
	mn.n.status = SRV_STATUS_UPLOADED;
	mn.n.pending_device = 0;
	rc = srv_sq_node_save(c, a->user_id, &mn);
	if (rc == 0) {
		a->version = v;
		a->seq = mn.n.seq;
	}
	return rc;
}

/* What commit checks before a trip to the writer. */
static bool commit_valid(const struct srv_commit *cm)
{
	return cm->node && cm->tag && cm->manifest && cm->manifest_size &&
	       cm->manifest_size <= BLK_MANIFEST_SIZE_MAX &&
	       (!cm->block_count || cm->blocks);
}

int srv_sq_ver_commit(struct srv_meta *m, int64_t user_id,
		      const struct srv_commit *cm, uint64_t *out_version,
		      uint64_t *out_seq, struct blk_id **out_missing,
		      size_t *out_missing_count)
{
	struct commit_args a = { .user_id = user_id, .cm = cm };
	int rc;

	if (out_missing)
		*out_missing = NULL;
	if (out_missing_count)
		*out_missing_count = 0;
	if (!commit_valid(cm))
		return -EINVAL;
	rc = srv_sq_write(sq_of(m), commit_run, &a);
	if (rc == 0 || rc == -ESTALE) {
		if (out_version)
			*out_version = a.version;
	}
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	if (rc == -ENOENT && a.missing && out_missing && out_missing_count) {
		*out_missing = a.missing;
		*out_missing_count = a.missing_count;
		a.missing = NULL;
	}
	free(a.missing);
	return rc;
}

struct commit_batch_args {
	int64_t user_id;
	const struct srv_commit *cs;
	size_t count;
	struct srv_commit_result *out;
};

static void results_clear(struct srv_commit_result *out, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(out[i].missing);
	memset(out, 0, count * sizeof(*out));
}

/* Each commit in its own savepoint: a refused one leaves the others. */
static int commit_batch_run(struct srv_sq_conn *c, void *arg)
{
	struct commit_batch_args *b = arg;
	int lost = 0, rc;
	size_t i;

	for (i = 0; i < b->count; i++) {
		struct commit_args a = { .user_id = b->user_id,
					 .cm = &b->cs[i] };
		struct srv_commit_result *r = &b->out[i];

		rc = srv_sq_nested(c, commit_run, &a, &lost);
		if (lost) {
			free(a.missing);
			return lost;
		}
		r->rc = rc;
		r->version = a.version;
		r->seq = a.seq;
		if (rc == -ENOENT) {
			r->missing = a.missing;
			r->missing_count = a.missing_count;
		} else {
			free(a.missing);
		}
	}
	return 0;
}

int srv_sq_ver_commit_batch(struct srv_meta *m, int64_t user_id,
			    const struct srv_commit *cs, size_t count,
			    struct srv_commit_result *out)
{
	struct commit_batch_args b = {
		.user_id = user_id, .cs = cs, .count = count, .out = out
	};
	size_t i;
	int rc;

	memset(out, 0, count * sizeof(*out));
	for (i = 0; i < count; i++)
		if (!commit_valid(&cs[i]))
			return -EINVAL;
	rc = srv_sq_write(sq_of(m), commit_batch_run, &b);
	if (rc < 0)
		results_clear(out, count);
	return rc;
}

/* ----- versions ----- */

int srv_sq_ver_versions(struct srv_meta *m, int64_t user_id,
			const uint8_t *node, srv_meta_version_fn fn, void *arg)
{
	struct srv_sq_conn *c = NULL;
	struct srv_sq_node mn;
	struct srv_version v;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_read_begin(c);
	if (rc == 0)
		rc = srv_sq_node_load(c, user_id, node, &mn);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_VERSION_LIST, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iN", user_id, node);
	while (rc == 0 && (rc = srv_sq_step(c, st)) > 0) {
		memset(&v, 0, sizeof(v));
		v.version = (uint64_t)sqlite3_column_int64(st, 0);
		v.device_id = sqlite3_column_int64(st, 1);
		v.size = (uint64_t)sqlite3_column_int64(st, 2);
		v.mtime_ns = sqlite3_column_int64(st, 3);
		v.created = sqlite3_column_int64(st, 4);
		rc = fn(arg, &v);
	}
	if (rc > 0)
		rc = 0;
	srv_sq_read_end(c);
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

/* Read one version row, manifest copied into *out (caller frees). */
static int version_read(struct srv_sq_conn *c, int64_t user_id,
			const uint8_t *node, uint64_t version,
			struct srv_version *out)
{
	sqlite3_stmt *st;
	const void *p;
	size_t size;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = srv_sq_row(c, ST_VERSION_GET, &st, "iNu", user_id, node, version);
	if (rc < 0)
		return rc;
	out->version = (uint64_t)sqlite3_column_int64(st, 0);
	out->device_id = sqlite3_column_int64(st, 1);
	out->size = (uint64_t)sqlite3_column_int64(st, 2);
	out->mtime_ns = sqlite3_column_int64(st, 3);
	out->created = sqlite3_column_int64(st, 4);
	rc = srv_sq_col_fixed(st, 6, out->tag, BLK_MANIFEST_TAG_SIZE);
	p = sqlite3_column_blob(st, 5);
	size = (size_t)sqlite3_column_bytes(st, 5);
	if (rc == 0) {
		out->manifest = malloc(size ? size : 1);
		if (!out->manifest)
			rc = -ENOMEM;
		else if (size)
			memcpy(out->manifest, p, size);
		out->manifest_size = size;
	}
	sqlite3_reset(st);
	if (rc < 0) {
		free(out->manifest);
		out->manifest = NULL;
		out->manifest_size = 0;
	}
	return rc;
}

int srv_sq_ver_get(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		   uint64_t version, struct srv_version *out)
{
	struct srv_sq_conn *c = NULL;
	struct srv_sq_node mn;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_read_begin(c);
	if (rc == 0 && version == 0) {
		rc = srv_sq_node_load(c, user_id, node, &mn);
		version = mn.n.version;
		if (rc == 0 && version == 0)
			rc = -ENOENT;
	}
	if (rc == 0)
		rc = version_read(c, user_id, node, version, out);
	srv_sq_read_end(c);
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

struct restore_args {
	int64_t user_id;
	const uint8_t *node;
	uint64_t from;
	int64_t device_id;
	uint64_t version;
	uint64_t seq;
};

static int ver_restore_run(struct srv_sq_conn *c, void *arg)
{
	struct restore_args *a = arg;
	struct srv_version old = { 0 };
	struct srv_sq_node mn;
	sqlite3_stmt *st;
	uint64_t v;
	int rc;

	rc = file_load(c, a->user_id, a->node, &mn);
	if (rc == 0)
		rc = version_read(c, a->user_id, a->node, a->from, &old);
	if (rc < 0)
		goto out;
	v = mn.n.version + 1;
	rc = version_insert(c, a->user_id, a->node, v, a->device_id, old.size,
			    old.mtime_ns, old.manifest, old.manifest_size,
			    old.tag);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_VBLOCK_COPY, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iNuu", a->user_id, a->node, a->from,
				 v);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc < 0)
		goto out;
	mn.n.version = v;
	mn.n.size = old.size;
	mn.n.mtime_ns = old.mtime_ns;
	mn.n.ctime_ns = srv_sq_now_ns();
	mn.n.status = SRV_STATUS_UPLOADED;
	mn.n.pending_device = 0;
	rc = srv_sq_node_save(c, a->user_id, &mn);
	if (rc == 0) {
		a->version = v;
		a->seq = mn.n.seq;
	}
out:
	free(old.manifest);
	return rc;
}

int srv_sq_ver_restore(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		       uint64_t version, int64_t device_id,
		       uint64_t *out_version, uint64_t *out_seq)
{
	struct restore_args a = { user_id, node, version, device_id, 0, 0 };
	int rc;

	if (version == 0)
		return -ENOENT;
	rc = srv_sq_write(sq_of(m), ver_restore_run, &a);
	if (rc == 0) {
		if (out_version)
			*out_version = a.version;
		if (out_seq)
			*out_seq = a.seq;
	}
	return rc;
}

/* ----- blocks ----- */

struct missing_args {
	int64_t user_id;
	const struct blk_id *ids;
	size_t count;
	int64_t now;
	bool *out;
};

static int touch_block(struct srv_sq_conn *c, int64_t user_id,
		       const struct blk_id *id, int64_t now)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_BLOCK_TOUCH, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iKi", user_id, id, now);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

/* On the writer: the authoritative answer, with last_seen refreshed. */
static int missing_run(struct srv_sq_conn *c, void *arg)
{
	struct missing_args *a = arg;
	int64_t seen;
	size_t i;
	int rc;

	for (i = 0; i < a->count; i++) {
		rc = block_get(c, a->user_id, &a->ids[i], NULL, &seen);
		if (rc < 0)
			return rc;
		a->out[i] = rc == 0;
		if (rc > 0 && seen < a->now) {
			rc = touch_block(c, a->user_id, &a->ids[i], a->now);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int srv_sq_blocks_missing(struct srv_meta *m, int64_t user_id,
			  const struct blk_id *ids, size_t count, int64_t now,
			  bool *out_missing)
{
	struct missing_args a = { user_id, ids, count, now, out_missing };
	struct srv_sq_conn *c = NULL;
	bool stale = false;
	int64_t seen;
	size_t i;
	int rc;

	if (count && (!ids || !out_missing))
		return -EINVAL;
	/*
	 * Answer from a read connection; only when a present block's
	 * last_seen must move does the writer get involved (and then it
	 * answers again, authoritatively).
	 */
	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_read_begin(c);
	for (i = 0; rc == 0 && i < count; i++) {
		rc = block_get(c, user_id, &ids[i], NULL, &seen);
		if (rc >= 0) {
			out_missing[i] = rc == 0;
			stale = stale || (rc > 0 && seen < now);
			rc = 0;
		}
	}
	srv_sq_read_end(c);
	srv_sq_read_put(sq_of(m), c);
	if (rc < 0 || !stale)
		return rc;
	return srv_sq_write_lazy(sq_of(m), missing_run, &a);
}

struct block_add_args {
	int64_t user_id;
	const struct blk_id *id;
	uint64_t size;
	int64_t now;
	bool is_new;
};

static int block_add_run(struct srv_sq_conn *c, void *arg)
{
	struct block_add_args *a = arg;
	sqlite3_stmt *st;
	int64_t seen;
	int rc;

	rc = block_get(c, a->user_id, a->id, NULL, &seen);
	if (rc < 0)
		return rc;
	a->is_new = rc == 0;
	if (!a->is_new)
		return seen < a->now ? touch_block(c, a->user_id, a->id, a->now)
				     : 0;
	rc = srv_sq_stmt(c, ST_BLOCK_INSERT, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iKui", a->user_id, a->id, a->size,
				 a->now);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

int srv_sq_block_add(struct srv_meta *m, int64_t user_id,
		     const struct blk_id *id, uint64_t size, int64_t now,
		     bool *out_new)
{
	struct block_add_args a = { user_id, id, size, now, false };
	int rc;

	rc = srv_sq_write_lazy(sq_of(m), block_add_run, &a);
	if (out_new)
		*out_new = rc == 0 && a.is_new;
	return rc;
}

int srv_sq_block_has(struct srv_meta *m, int64_t user_id,
		     const struct blk_id *id, uint64_t *out_size)
{
	struct srv_sq_conn *c = NULL;
	uint64_t size = 0;
	int rc;

	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = block_get(c, user_id, id, &size, NULL);
	srv_sq_read_put(sq_of(m), c);
	if (rc == 0)
		return -ENOENT;
	if (rc < 0)
		return rc;
	if (out_size)
		*out_size = size;
	return 0;
}

/* ----- garbage collection ----- */

/* Walk a (user_id, id, size) query on a read snapshot, calling fn. */
static int walk_blocks(struct srv_meta *m, enum srv_sq_stmt id,
		       const int64_t *param, srv_meta_block_fn fn, void *arg)
{
	struct srv_sq_conn *c = NULL;
	struct blk_id bid;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_stmt(c, id, &st);
	if (rc == 0 && param)
		rc = srv_sq_bind(c, st, "i", *param);
	while (rc == 0 && (rc = srv_sq_step(c, st)) > 0) {
		rc = srv_sq_col_fixed(st, 1, bid.bytes, BLK_ID_SIZE);
		if (rc == 0)
			rc = fn(arg, sqlite3_column_int64(st, 0), &bid,
				(uint64_t)sqlite3_column_int64(st, 2));
	}
	if (rc > 0)
		rc = 0;
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

int srv_sq_gc_unreferenced(struct srv_meta *m, int64_t older_than,
			   srv_meta_block_fn fn, void *arg)
{
	return walk_blocks(m, ST_BLOCKS_UNREFERENCED, &older_than, fn, arg);
}

int srv_sq_referenced_blocks(struct srv_meta *m, srv_meta_block_fn fn,
			     void *arg)
{
	return walk_blocks(m, ST_BLOCKS_REFERENCED, NULL, fn, arg);
}

int srv_sq_stored_blocks(struct srv_meta *m, srv_meta_block_fn fn, void *arg)
{
	return walk_blocks(m, ST_BLOCKS_ALL, NULL, fn, arg);
}

struct forget_args {
	int64_t user_id;
	const struct blk_id *id;
	int64_t older_than;
};

static int forget_run(struct srv_sq_conn *c, void *arg)
{
	struct forget_args *a = arg;
	sqlite3_stmt *st;
	int64_t seen;
	int rc;

	rc = block_get(c, a->user_id, a->id, NULL, &seen);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	if (seen >= a->older_than)
		return -EBUSY;
	rc = srv_sq_stmt(c, ST_BLOCK_REFERENCED, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iK", a->user_id, a->id);
	if (rc == 0)
		rc = srv_sq_step(c, st);
	if (rc > 0) {
		sqlite3_reset(st);
		return -EBUSY;
	}
	if (rc < 0)
		return rc;
	rc = srv_sq_stmt(c, ST_BLOCK_DELETE, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iK", a->user_id, a->id);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

int srv_sq_block_forget(struct srv_meta *m, int64_t user_id,
			const struct blk_id *id, int64_t older_than)
{
	struct forget_args a = { user_id, id, older_than };

	return srv_sq_write(sq_of(m), forget_run, &a);
}
