/* SPDX-License-Identifier: MIT */
/*
 * fc_state, the queues: chunk rows and their present bits, pins, LRU and
 * eviction candidates, the outbox (peek, done, retry, failed) and the
 * upload queue (claim with a generation snapshot, done, failed). Lock
 * order as in fc_state.c.
 */
#include "fc_state_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CF_LOG_SUBSYS "state"
#include "cf_array.h"
#include "cf_log.h"

/* ----- chunks ----- */

static int chunks_read(struct conn *c, int64_t ino, uint64_t off,
		       uint64_t len, struct fc_chunk **out, size_t *out_count)
{
	struct fc_chunk *v = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *s;
	uint64_t end;
	int rc;

	end = (len == 0 || off + len < off || off + len > INT64_MAX)
		      ? (uint64_t)INT64_MAX
		      : off + len;
	if (off > INT64_MAX)
		return 0;
	s = fc_state_stmt(c, S_CHUNKS_RANGE);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	sqlite3_bind_int64(s, 2, (int64_t)off);
	sqlite3_bind_int64(s, 3, (int64_t)end);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct fc_chunk ch;

		ch.idx = (uint32_t)sqlite3_column_int64(s, 0);
		ch.off = (uint64_t)sqlite3_column_int64(s, 1);
		ch.size = (uint32_t)sqlite3_column_int64(s, 2);
		if (fc_state_col_blob(s, 3, ch.id.bytes, BLK_ID_SIZE) < 0) {
			rc = -EPROTO;
			break;
		}
		ch.present = sqlite3_column_int(s, 4) != 0;
		if (ch.off + ch.size <= off)
			continue; /* the chunk before the range */
		if (cf_array_reserve(&v, &cap, count, sizeof(*v))) {
			rc = -ENOMEM;
			break;
		}
		v[count++] = ch;
	}
	fc_state_reset(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fc_state_sql_fail(c, rc, "read chunks");
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*out_count = count;
	return 0;
}

int fc_state_chunks(struct fc_state *st, int64_t ino, uint64_t off,
		    uint64_t len, struct fc_chunk **out, size_t *out_count)
{
	struct conn *c;

	*out = NULL;
	*out_count = 0;
	fc_state_read_begin(st, &c);
	return fc_state_read_end(st, chunks_read(c, ino, off, len, out,
						 out_count));
}

int fc_state_missing_count(struct fc_state *st, int64_t ino, uint64_t *out)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	s = fc_state_stmt(c, S_CHUNKS_MISSING);
	if (!s)
		return fc_state_read_end(st, -EIO);
	sqlite3_bind_int64(s, 1, ino);
	rc = fc_state_count(c, s, "count missing chunks", out);
	return fc_state_read_end(st, rc);
}

int fc_state_chunks_mark(struct fc_state *st, int64_t ino, const uint32_t *idx,
			 size_t count, bool present)
{
	sqlite3_stmt *s;
	struct conn *c;
	size_t i;
	int rc;

	if (!count)
		return 0;
	rc = fc_state_tx_stmt(st, S_CHUNK_MARK, &c, &s);
	if (rc < 0)
		return rc;
	for (i = 0; i < count && rc == 0; i++) {
		sqlite3_bind_int64(s, 1, ino);
		sqlite3_bind_int64(s, 2, idx[i]);
		sqlite3_bind_int(s, 3, present);
		rc = fc_state_run_changed(c, s, "mark chunk");
	}
	return fc_state_tx_end(st, c, rc);
}

/*
 * Replace ino's chunk rows by m. keep: old rows with the same offset, size
 * and id keep their present bit; all_present: every new row is present.
 */
int fc_state_chunks_replace(struct conn *c, int64_t ino,
			    const struct blk_manifest *m, bool keep,
			    bool all_present)
{
	struct fc_chunk *old = NULL;
	size_t nold = 0, cap = 0, i, j = 0;
	sqlite3_stmt *s;
	uint64_t off = 0;
	int rc = 0;

	if (keep) {
		s = fc_state_stmt(c, S_CHUNKS_RANGE);
		if (!s)
			return -EIO;
		sqlite3_bind_int64(s, 1, ino);
		sqlite3_bind_int64(s, 2, 0);
		sqlite3_bind_int64(s, 3, INT64_MAX);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (!sqlite3_column_int(s, 4))
				continue;
			if (cf_array_reserve(&old, &cap, nold, sizeof(*old))) {
				rc = -ENOMEM;
				break;
			}
			old[nold].off = (uint64_t)sqlite3_column_int64(s, 1);
			old[nold].size = (uint32_t)sqlite3_column_int64(s, 2);
			if (fc_state_col_blob(s, 3, old[nold].id.bytes,
					      BLK_ID_SIZE) < 0)
				continue;
			nold++;
		}
		fc_state_reset(s);
		if (rc == SQLITE_DONE)
			rc = 0;
		else if (rc > 0)
			rc = fc_state_sql_fail(c, rc, "read chunks");
		if (rc < 0)
			goto out;
	}
	s = fc_state_stmt(c, S_CHUNKS_DEL_ALL);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, ino);
	rc = fc_state_run(c, s, "drop chunks");
	if (rc < 0)
		goto out;
	s = fc_state_stmt(c, S_CHUNK_INS);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	for (i = 0; i < m->count; i++) {
		const struct blk_manifest_entry *e = &m->entries[i];
		bool present = all_present;

		while (j < nold && old[j].off < off)
			j++;
		if (!present && j < nold && old[j].off == off &&
		    old[j].size == e->size &&
		    !memcmp(old[j].id.bytes, e->id.bytes, BLK_ID_SIZE))
			present = true;
		sqlite3_bind_int64(s, 1, ino);
		sqlite3_bind_int64(s, 2, (int64_t)i);
		sqlite3_bind_int64(s, 3, (int64_t)off);
		sqlite3_bind_int64(s, 4, e->size);
		fc_state_bind_blob(s, 5, e->id.bytes, BLK_ID_SIZE);
		sqlite3_bind_int(s, 6, present);
		rc = fc_state_run(c, s, "insert chunk");
		if (rc < 0)
			goto out;
		off += e->size;
	}
out:
	free(old);
	return rc;
}

int fc_state_set_manifest(struct fc_state *st, int64_t ino, uint64_t version,
			  const struct blk_manifest *m)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get(c, ino, &r);
	if (rc < 0)
		goto out;
	if (r.n.kind != FC_KIND_FILE) {
		rc = -EINVAL;
		goto out;
	}
	if (r.n.dirty) {
		rc = -EBUSY;
		goto out;
	}
	rc = fc_state_chunks_replace(c, ino, m, true, false);
	if (rc < 0)
		goto out;
	r.n.version = r.n.manifest_version = version;
	if (r.n.remote_version < version)
		r.n.remote_version = version;
	r.n.size = m->file_size;
	rc = fc_state_row_put(c, &r);
out:
	return fc_state_tx_end(st, c, rc);
}

/* ----- pin, LRU, eviction ----- */

int fc_state_set_pinned(struct fc_state *st, int64_t ino, bool pinned)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get(c, ino, &r);
	if (rc == 0 && r.n.kind != FC_KIND_FILE)
		rc = -EINVAL;
	if (rc == 0 && r.n.pinned != pinned) {
		r.n.pinned = pinned;
		rc = fc_state_row_put(c, &r);
	}
	return fc_state_tx_end(st, c, rc);
}

int fc_state_touch(struct fc_state *st, const int64_t *inos, size_t count,
		   int64_t now)
{
	sqlite3_stmt *s;
	struct conn *c;
	size_t i;
	int rc;

	if (!count)
		return 0;
	rc = fc_state_tx_stmt(st, S_TOUCH, &c, &s);
	if (rc < 0)
		return rc;
	for (i = 0; i < count && rc == 0; i++) {
		sqlite3_bind_int64(s, 1, inos[i]);
		sqlite3_bind_int64(s, 2, now);
		rc = fc_state_run(c, s, "touch node");
	}
	return fc_state_tx_end(st, c, rc);
}

int fc_state_evictable(struct fc_state *st, size_t limit, fc_node_fn fn,
		       void *arg)
{
	struct row *rows = NULL;
	size_t count = 0, i;
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	if (!limit)
		return 0;
	rows = calloc(limit, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	fc_state_read_begin(st, &c);
	s = fc_state_stmt(c, S_EVICTABLE);
	if (!s) {
		free(rows);
		return fc_state_read_end(st, -EIO);
	}
	sqlite3_bind_int64(s, 1, (int64_t)limit);
	while (count < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (fc_state_row_read(s, 0, &rows[count]) == 0)
			count++;
	}
	fc_state_reset(s);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		rc = 0;
	else if (rc > 0)
		rc = fc_state_sql_fail(c, rc, "list evictable");
	fc_state_read_end(st, rc);
	/* Callbacks run unlocked: they do file I/O and may write. */
	for (i = 0; rc == 0 && i < count; i++) {
		if (rows[i].writing || rows[i].claimed)
			continue;
		if (fn(arg, &rows[i].n))
			break;
	}
	free(rows);
	return rc;
}

int fc_state_evict_node(struct fc_state *st, int64_t ino)
{
	sqlite3_stmt *s;
	struct conn *c;
	struct row r;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get(c, ino, &r);
	if (rc == 0 && (r.n.dirty || r.n.pinned || r.writing || r.claimed))
		rc = -EBUSY;
	if (rc < 0)
		goto out;
	s = fc_state_stmt(c, S_CHUNKS_CLEAR);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, ino);
	rc = fc_state_run(c, s, "evict chunks");
out:
	return fc_state_tx_end(st, c, rc);
}

static int ops_read(struct conn *c, int64_t now, struct fc_op *out,
		    size_t max, size_t *out_count)
{
	sqlite3_stmt *s;
	size_t n = 0;
	int rc;

	s = fc_state_stmt(c, S_OP_PEEK);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, (int64_t)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct fc_op *op = &out[n];

		if (sqlite3_column_int64(s, 16) > now)
			break; /* waiting for its retry time: keep order */
		memset(op, 0, sizeof(*op));
		op->seq = sqlite3_column_int64(s, 0);
		op->kind = (enum fc_op_kind)sqlite3_column_int(s, 1);
		fc_state_col_copy(s, 2, op->node, FC_ID_SIZE, NULL);
		fc_state_col_copy(s, 3, op->parent, FC_ID_SIZE, NULL);
		fc_state_col_copy(s, 4, op->name, CF_NAME_MAX, &op->name_len);
		op->name[op->name_len] = '\0';
		fc_state_col_copy(s, 5, op->parent2, FC_ID_SIZE, NULL);
		fc_state_col_copy(s, 6, op->name2, CF_NAME_MAX, &op->name2_len);
		op->name2[op->name2_len] = '\0';
		op->flags = (unsigned)sqlite3_column_int64(s, 7);
		op->node_kind = (enum fc_kind)sqlite3_column_int(s, 8);
		op->mode = (uint32_t)sqlite3_column_int64(s, 9);
		op->uid = (uint32_t)sqlite3_column_int64(s, 10);
		op->gid = (uint32_t)sqlite3_column_int64(s, 11);
		op->rdev = (uint64_t)sqlite3_column_int64(s, 12);
		op->mtime_ns = sqlite3_column_int64(s, 13);
		fc_state_col_copy(s, 14, op->target, CF_PATH_MAX,
				  &op->target_len);
		op->target[op->target_len] = '\0';
		op->attempts = (uint32_t)sqlite3_column_int64(s, 15);
		fc_state_col_copy(s, 17, op->node2, FC_ID_SIZE, NULL);
		n++;
	}
	fc_state_reset(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fc_state_sql_fail(c, rc, "read outbox");
	*out_count = rc == 0 ? n : 0;
	return rc;
}

int fc_state_op_peek(struct fc_state *st, int64_t now, struct fc_op *out,
		     size_t max, size_t *out_count)
{
	struct conn *c;

	*out_count = 0;
	if (!max)
		return 0;
	fc_state_read_begin(st, &c);
	return fc_state_read_end(st, ops_read(c, now, out, max, out_count));
}

/* Remove op seq in c's transaction; a create or restore marks its node. */
static int op_done_in(struct conn *c, int64_t seq, int64_t *io_due)
{
	uint8_t node[FC_ID_SIZE];
	sqlite3_stmt *s;
	int kind = 0, rc;

	s = fc_state_stmt(c, S_OP_GET);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		kind = sqlite3_column_int(s, 0);
		rc = fc_state_col_blob(s, 1, node, FC_ID_SIZE);
		if (rc < 0 && kind != FC_OP_CREATE && kind != FC_OP_RESTORE)
			rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = fc_state_sql_fail(c, rc, "read op");
	}
	fc_state_reset(s);
	if (rc < 0)
		return rc;
	s = fc_state_stmt(c, S_OP_DEL);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, seq);
	rc = fc_state_run(c, s, "delete op");
	if (rc < 0 || (kind != FC_OP_CREATE && kind != FC_OP_RESTORE))
		return rc;
	/* no row: the node was dropped meanwhile, or was pushed before */
	s = fc_state_stmt(c, S_NODE_PUSHED);
	if (!s)
		return -EIO;
	fc_state_bind_blob(s, 1, node, FC_ID_SIZE);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) != SQLITE_NULL && io_due)
			*io_due = CF_MIN(*io_due, sqlite3_column_int64(s, 0));
		rc = sqlite3_step(s);
	}
	fc_state_reset(s);
	return rc == SQLITE_DONE ? 0 : fc_state_sql_fail(c, rc, "mark pushed");
}

/* fc_state_ops_done; strict: an op no longer pending is an error. */
static int ops_done(struct fc_state *st, const int64_t *seqs, size_t count,
		    bool strict, int64_t *io_due)
{
	int64_t due = io_due ? *io_due : INT64_MAX;
	struct conn *c;
	size_t i, done = 0;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	for (i = 0; i < count && rc >= 0; i++) {
		rc = op_done_in(c, seqs[i], &due);
		if (rc == 0)
			done++;
		else if (rc == -ENOENT && !strict)
			rc = 0; /* dropped meanwhile */
	}
	/* counted before the commit: a failed one only costs a re-pull */
	if (rc == 0)
		st->ops_pushed += done;
	rc = fc_state_tx_end(st, c, rc);
	if (rc == 0 && io_due)
		*io_due = due;
	return rc;
}

int fc_state_op_done(struct fc_state *st, int64_t seq, int64_t *io_due)
{
	return ops_done(st, &seq, 1, true, io_due);
}

int fc_state_ops_done(struct fc_state *st, const int64_t *seqs, size_t count,
		      int64_t *io_due)
{
	return ops_done(st, seqs, count, false, io_due);
}

uint64_t fc_state_ops_pushed(struct fc_state *st)
{
	struct conn *c;
	uint64_t n;

	fc_state_read_begin(st, &c);
	n = st->ops_pushed;
	fc_state_read_end(st, 0);
	return n;
}

int fc_state_op_retry(struct fc_state *st, int64_t seq, int err,
		      int64_t retry_at)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = fc_state_tx_stmt(st, S_OP_RETRY, &c, &s);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int64(s, 2, retry_at);
	sqlite3_bind_int(s, 3, err);
	rc = fc_state_run_changed(c, s, "retry op");
	return fc_state_tx_end(st, c, rc);
}

int fc_state_op_failed(struct fc_state *st, int64_t seq, int err,
		       const char *message)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = fc_state_tx_stmt(st, S_OP_FAIL, &c, &s);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int(s, 2, err);
	if (message)
		sqlite3_bind_text(s, 3, message, -1, SQLITE_STATIC);
	rc = fc_state_run_changed(c, s, "fail op");
	if (rc == 0)
		st->ops_pushed++;
	return fc_state_tx_end(st, c, rc);
}

/*
 * The directory and name pending op seq puts a node under (a create's or
 * link's entry, a rename's target): -ENOENT if no such op.
 */
static int dest_slot(struct conn *c, int64_t seq, uint8_t dir[FC_ID_SIZE],
		     char *name, size_t *out_len)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_OP_SLOT);
	int rc, col = 1;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		switch (sqlite3_column_int(s, 0)) {
		case FC_OP_CREATE:
		case FC_OP_LINK:
			rc = 0;
			break;
		case FC_OP_RENAME:
			col = 3;
			rc = 0;
			break;
		default:
			rc = -ENOENT;
			break;
		}
		if (rc == 0)
			rc = fc_state_col_blob(s, col, dir, FC_ID_SIZE);
		fc_state_col_copy(s, col + 1, name, CF_NAME_MAX, out_len);
		if (rc == 0 && !*out_len)
			rc = -EPROTO;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = fc_state_sql_fail(c, rc, "read op");
	}
	fc_state_reset(s);
	return rc;
}

/* Bind the slot (seq on, directory dir, name) of S_OP_NAMES/S_OP_RENAME. */
static void bind_slot(sqlite3_stmt *s, int64_t seq,
		      const uint8_t dir[FC_ID_SIZE], const char *name,
		      size_t len)
{
	sqlite3_bind_int64(s, 1, seq);
	fc_state_bind_blob(s, 2, dir, FC_ID_SIZE);
	fc_state_bind_blob(s, 3, name, len);
}

/*
 * The rename of fc_state_op_rename_dest inside its transaction; *out_dir
 * gets the directory's ino (0 when it is not known here).
 */
static int rename_dest(struct conn *c, int64_t seq, const char *name,
		       size_t len, char *old, size_t *out_old_len,
		       int64_t *out_dir)
{
	uint8_t dir[FC_ID_SIZE];
	sqlite3_stmt *s;
	struct row d;
	struct ent e;
	int rc;

	*out_dir = 0;
	rc = dest_slot(c, seq, dir, old, out_old_len);
	if (rc < 0)
		return rc;
	if (*out_old_len == len && !memcmp(old, name, len))
		return 0; /* an earlier try renamed it so */
	rc = fc_state_row_get_id(c, dir, &d);
	if (rc == 0)
		*out_dir = d.n.ino;
	else if (rc != -ENOENT)
		return rc;
	/*
	 * The new name must be free in the local tree and in every op still
	 * to replay, or the server would see two entries merged into one.
	 */
	rc = *out_dir ? fc_state_entry_get(c, *out_dir, name, len, &e)
		      : -ENOENT;
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	s = fc_state_stmt(c, S_OP_NAMES);
	if (!s)
		return -EIO;
	bind_slot(s, seq, dir, name, len);
	rc = sqlite3_step(s);
	fc_state_reset(s);
	if (rc == SQLITE_ROW)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return fc_state_sql_fail(c, rc, "look up op names");
	s = fc_state_stmt(c, S_OP_RENAME);
	if (!s)
		return -EIO;
	bind_slot(s, seq, dir, old, *out_old_len);
	fc_state_bind_blob(s, 4, name, len);
	rc = fc_state_run(c, s, "rename in ops");
	if (rc < 0 || !*out_dir)
		return rc;
	/* the local tree's entry of that name is the server's new one */
	rc = fc_state_entry_get(c, *out_dir, old, *out_old_len, &e);
	if (rc == -ENOENT)
		return 0; /* renamed or removed since: the ops say so */
	if (rc < 0)
		return rc;
	s = fc_state_stmt(c, S_ENTRY_MOVE);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, e.eid);
	sqlite3_bind_int64(s, 2, *out_dir);
	fc_state_bind_blob(s, 3, name, len);
	return fc_state_run(c, s, "rename entry");
}

int fc_state_op_rename_dest(struct fc_state *st, int64_t seq, const char *name,
			    size_t len, fc_changed_fn changed, void *arg)
{
	char old[CF_NAME_MAX + 1];
	size_t old_len = 0;
	int64_t dir = 0;
	struct conn *c;
	int rc;

	if (len > CF_NAME_MAX)
		return -ENAMETOOLONG;
	rc = cf_name_check(name, len);
	if (rc < 0)
		return rc;
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = rename_dest(c, seq, name, len, old, &old_len, &dir);
	rc = fc_state_tx_end(st, c, rc);
	if (rc == 0 && dir && changed) {
		changed(arg, 0, dir, old, old_len);
		changed(arg, 0, dir, name, len);
	}
	return rc;
}

int fc_state_op_counts(struct fc_state *st, uint64_t *out_pending,
		       uint64_t *out_failed)
{
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	rc = fc_state_count_ops(c, 0, out_pending);
	if (rc == 0)
		rc = fc_state_count_ops(c, 2, out_failed);
	return fc_state_read_end(st, rc);
}

/* ----- upload queue ----- */

static int next_due(struct conn *c, int64_t now, int64_t *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_NEXT_DUE);
	int rc;

	*out = INT64_MAX;
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(s, 0);
	fc_state_reset(s);
	if (rc != SQLITE_ROW)
		return fc_state_sql_fail(c, rc, "next due");
	/* Files waiting for their create op: look again in a second. */
	s = fc_state_stmt(c, S_UNPUSHED_DUE);
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	fc_state_reset(s);
	if (rc == SQLITE_ROW && *out > now + 1000000000)
		*out = now + 1000000000;
	return 0;
}

/* The file to upload next (*out_ino, 0 = none due). Lock held. */
static int claim_pick(struct conn *c, int64_t now, int64_t *out_ino)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_CLAIM_PICK);
	int rc;

	*out_ino = 0;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out_ino = sqlite3_column_int64(s, 0);
	fc_state_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fc_state_sql_fail(c, rc, "pick upload");
	return 0;
}

/* Claim row r (ino) for upload into *out, in c's transaction. */
static int claim_row(struct conn *c, int64_t ino, struct row *r,
		     struct fc_upload *out)
{
	memset(out, 0, sizeof(*out));
	out->ino = ino;
	memcpy(out->id, r->n.id, FC_ID_SIZE);
	out->base_version = r->n.version;
	out->size = r->n.size;
	out->mtime_ns = r->n.mtime_ns;
	out->gen = r->gen;
	out->attempts = r->attempts;
	if (r->lo < r->hi) {
		out->lo = CF_MIN(r->lo, r->n.size);
		out->hi = CF_MIN(r->hi, r->n.size);
	} else {
		out->lo = out->hi = CF_MIN(r->lo, r->n.size);
	}
	r->claimed = true;
	r->due = FC_STATE_DUE_NONE;
	r->lo = r->hi = 0;
	return fc_state_row_put(c, r);
}

/*
 * The uploader wakes on every close: looking costs reads only, and a
 * write transaction is opened once there is something to claim (the lock
 * is held across both, so the pick stays true).
 */
int fc_state_upload_claim(struct fc_state *st, int64_t now,
			  struct fc_upload *out, int64_t *out_next_due)
{
	struct conn *c;
	struct row r;
	int64_t ino, next = INT64_MAX;
	int rc;

	fc_state_read_begin(st, &c);
	rc = claim_pick(c, now, &ino);
	if (rc == 0 && !ino) {
		rc = next_due(c, now, &next);
		if (rc == 0)
			rc = -ENOENT;
		if (out_next_due)
			*out_next_due = next;
	}
	if (rc < 0)
		return fc_state_read_end(st, rc);
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return fc_state_read_end(st, rc);
	rc = fc_state_row_get(c, ino, &r);
	if (rc == 0)
		rc = claim_row(c, ino, &r, out);
	if (out_next_due)
		*out_next_due = now;
	rc = fc_state_tx_end(st, c, rc);
	return fc_state_read_end(st, rc);
}

int fc_state_upload_claim_small(struct fc_state *st, int64_t now,
				uint64_t below, uint64_t max_bytes,
				struct fc_upload *out, size_t max,
				size_t *out_count)
{
	uint64_t bytes = 0;
	struct conn *c;
	struct row r;
	int64_t ino;
	size_t n = 0;
	int rc;

	*out_count = 0;
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	while (n < max && bytes < max_bytes) {
		rc = claim_pick(c, now, &ino);
		if (rc < 0 || !ino)
			break;
		rc = fc_state_row_get(c, ino, &r);
		if (rc < 0 || r.n.size >= below)
			break; /* left for a claim of its own */
		rc = claim_row(c, ino, &r, &out[n]);
		if (rc < 0)
			break;
		bytes += r.n.size;
		n++;
	}
	rc = fc_state_tx_end(st, c, rc);
	if (rc == 0)
		*out_count = n;
	return rc;
}

int fc_state_upload_done(struct fc_state *st, const struct fc_upload *u,
			 uint64_t version, const struct blk_manifest *m,
			 bool *out_clean)
{
	struct conn *c;
	struct row r;
	bool clean;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get(c, u->ino, &r);
	if (rc == 0 && memcmp(r.n.id, u->id, FC_ID_SIZE))
		rc = -ENOENT;
	if (rc < 0)
		goto out;
	rc = fc_state_chunks_replace(c, u->ino, m, false, true);
	if (rc < 0)
		goto out;
	clean = r.gen == u->gen && !r.writing;
	if (!clean && m->file_size > r.n.size) {
		/* Truncated meanwhile: rows past the end describe nothing. */
		sqlite3_stmt *s = fc_state_stmt(c, S_CHUNKS_DEL_FROM);

		if (!s) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, u->ino);
		sqlite3_bind_int64(s, 2, (int64_t)r.n.size);
		rc = fc_state_run(c, s, "drop chunks");
		if (rc < 0)
			goto out;
	}
	r.n.version = r.n.manifest_version = version;
	if (r.n.remote_version < version)
		r.n.remote_version = version;
	r.claimed = false;
	r.attempts = 0;
	r.last_error = 0;
	if (clean) {
		r.n.dirty = false;
		r.lo = r.hi = 0;
		r.due = FC_STATE_DUE_NONE;
	}
	rc = fc_state_row_put(c, &r);
	if (rc == 0 && out_clean)
		*out_clean = clean;
out:
	return fc_state_tx_end(st, c, rc);
}

int fc_state_upload_failed(struct fc_state *st, const struct fc_upload *u,
			   int err, int64_t retry_at)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get(c, u->ino, &r);
	if (rc == 0 && memcmp(r.n.id, u->id, FC_ID_SIZE))
		rc = -ENOENT;
	if (rc < 0)
		goto out;
	if (u->lo < u->hi)
		fc_state_range_merge(&r, u->lo, u->hi);
	else if (r.lo >= r.hi)
		r.lo = r.hi = u->lo;
	r.claimed = false;
	r.attempts++;
	r.last_error = err;
	if (!r.writing && r.n.nlink > 0 && r.n.dirty)
		r.due = retry_at;
	rc = fc_state_row_put(c, &r);
out:
	return fc_state_tx_end(st, c, rc);
}

int fc_state_node_recreated(struct fc_state *st, const uint8_t id[FC_ID_SIZE],
			    int64_t now_ns)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get_id(c, id, &r);
	if (rc < 0)
		goto out;
	/* the chunk rows stay: they map the cache file, and blocks the
	 * server no longer has come back as "missing" at commit */
	r.n.version = 0;
	r.n.remote_version = 0;
	r.n.dirty = true;
	fc_state_range_merge(&r, 0, r.n.size);
	r.gen++;
	r.attempts = 0;
	if (!r.writing && r.n.nlink > 0)
		r.due = now_ns;
	rc = fc_state_row_put(c, &r);
out:
	return fc_state_tx_end(st, c, rc);
}

int fc_state_make_due(struct fc_state *st, int64_t now)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = fc_state_tx_stmt(st, S_DUE_NODES, &c, &s);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(s, 1, now);
	rc = fc_state_run(c, s, "make uploads due");
	if (rc == 0)
		rc = fc_state_exec(c, S_DUE_OPS);
	return fc_state_tx_end(st, c, rc);
}

int fc_state_queue_stats(struct fc_state *st, uint64_t *out_files,
			 uint64_t *out_bytes)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	s = fc_state_stmt(c, S_QUEUE_STATS);
	if (!s)
		return fc_state_read_end(st, -EIO);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out_files = (uint64_t)sqlite3_column_int64(s, 0);
		*out_bytes = (uint64_t)sqlite3_column_double(s, 1);
		rc = 0;
	} else {
		rc = fc_state_sql_fail(c, rc, "queue stats");
	}
	fc_state_reset(s);
	return fc_state_read_end(st, rc);
}
