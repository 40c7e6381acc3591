/* SPDX-License-Identifier: MIT */
/*
 * The row helpers the fc_state*.c files share: node rows read, written
 * and inserted whole, directory entries, appending to the outbox and the
 * meta key-value rows. Each runs on the connection its caller took (a
 * read, or a write transaction; see fc_state_int.h) and takes no lock.
 */
#include "fc_state_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "cf_util.h"

/* ----- node rows ----- */

int fc_state_row_read(sqlite3_stmt *s, int base, struct row *r)
{
	struct fc_node *n = &r->n;

	memset(r, 0, sizeof(*r));
	n->ino = sqlite3_column_int64(s, base + 0);
	if (fc_state_col_blob(s, base + 1, n->id, FC_ID_SIZE) < 0)
		return -EPROTO;
	n->kind = (enum fc_kind)sqlite3_column_int(s, base + 2);
	n->mode = (uint32_t)sqlite3_column_int64(s, base + 3);
	n->uid = (uint32_t)sqlite3_column_int64(s, base + 4);
	n->gid = (uint32_t)sqlite3_column_int64(s, base + 5);
	n->rdev = (uint64_t)sqlite3_column_int64(s, base + 6);
	n->size = (uint64_t)sqlite3_column_int64(s, base + 7);
	n->atime_ns = sqlite3_column_int64(s, base + 8);
	n->mtime_ns = sqlite3_column_int64(s, base + 9);
	n->ctime_ns = sqlite3_column_int64(s, base + 10);
	n->nlink = (uint32_t)sqlite3_column_int64(s, base + 11);
	n->version = (uint64_t)sqlite3_column_int64(s, base + 12);
	n->remote_version = (uint64_t)sqlite3_column_int64(s, base + 13);
	n->manifest_version = (uint64_t)sqlite3_column_int64(s, base + 14);
	n->dirty = sqlite3_column_int(s, base + 15) != 0;
	n->pinned = sqlite3_column_int(s, base + 16) != 0;
	n->pushed = sqlite3_column_int(s, base + 17) != 0;
	if (sqlite3_column_count(s) < base + FC_STATE_NODE_NCOLS)
		return 0;
	r->gen = (uint64_t)sqlite3_column_int64(s, base + 18);
	r->lo = (uint64_t)sqlite3_column_int64(s, base + 19);
	r->hi = (uint64_t)sqlite3_column_int64(s, base + 20);
	r->writing = sqlite3_column_int(s, base + 21) != 0;
	if (sqlite3_column_type(s, base + 22) == SQLITE_NULL)
		r->due = FC_STATE_DUE_NONE;
	else
		r->due = sqlite3_column_int64(s, base + 22);
	r->claimed = sqlite3_column_int(s, base + 23) != 0;
	r->attempts = (uint32_t)sqlite3_column_int64(s, base + 24);
	r->unlinked = sqlite3_column_int(s, base + 25) != 0;
	return 0;
}

/* Read node ino (full row). -ENOENT. */
int fc_state_row_get(struct conn *c, int64_t ino, struct row *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_NODE_GET);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = fc_state_row_read(s, 0, out);
	else if (rc == SQLITE_DONE)
		rc = -ENOENT;
	else
		rc = fc_state_sql_fail(c, rc, "read node");
	fc_state_reset(s);
	return rc;
}

int fc_state_row_get_id(struct conn *c, const uint8_t id[FC_ID_SIZE],
			struct row *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_NODE_GET_ID);
	int rc;

	if (!s)
		return -EIO;
	fc_state_bind_blob(s, 1, id, FC_ID_SIZE);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = fc_state_row_read(s, 0, out);
	else if (rc == SQLITE_DONE)
		rc = -ENOENT;
	else
		rc = fc_state_sql_fail(c, rc, "read node by id");
	fc_state_reset(s);
	return rc;
}

/* Write back every mutable column of r. */
int fc_state_row_put(struct conn *c, const struct row *r)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_NODE_PUT);
	const struct fc_node *n = &r->n;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, n->ino);
	sqlite3_bind_int(s, 2, (int)n->kind);
	sqlite3_bind_int64(s, 3, n->mode);
	sqlite3_bind_int64(s, 4, n->uid);
	sqlite3_bind_int64(s, 5, n->gid);
	sqlite3_bind_int64(s, 6, (int64_t)n->rdev);
	sqlite3_bind_int64(s, 7, (int64_t)n->size);
	sqlite3_bind_int64(s, 8, n->atime_ns);
	sqlite3_bind_int64(s, 9, n->mtime_ns);
	sqlite3_bind_int64(s, 10, n->ctime_ns);
	sqlite3_bind_int64(s, 11, n->nlink);
	sqlite3_bind_int64(s, 12, (int64_t)n->version);
	sqlite3_bind_int64(s, 13, (int64_t)n->remote_version);
	sqlite3_bind_int64(s, 14, (int64_t)n->manifest_version);
	sqlite3_bind_int(s, 15, n->dirty);
	sqlite3_bind_int(s, 16, n->pinned);
	sqlite3_bind_int(s, 17, n->pushed);
	sqlite3_bind_int64(s, 18, (int64_t)r->gen);
	sqlite3_bind_int64(s, 19, (int64_t)r->lo);
	sqlite3_bind_int64(s, 20, (int64_t)r->hi);
	sqlite3_bind_int(s, 21, r->writing);
	if (r->due == FC_STATE_DUE_NONE)
		sqlite3_bind_null(s, 22);
	else
		sqlite3_bind_int64(s, 22, r->due);
	sqlite3_bind_int(s, 23, r->claimed);
	sqlite3_bind_int64(s, 24, r->attempts);
	sqlite3_bind_int(s, 25, r->unlinked);
	sqlite3_bind_int(s, 26, r->last_error);
	return fc_state_run(c, s, "update node");
}

/* Insert a new node; n->ino is set from the new row id. */
int fc_state_node_insert(struct conn *c, struct row *r, const char *target,
			 size_t target_len)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_NODE_INS);
	struct fc_node *n = &r->n;
	int rc;

	if (!s)
		return -EIO;
	fc_state_bind_blob(s, 1, n->id, FC_ID_SIZE);
	sqlite3_bind_int(s, 2, (int)n->kind);
	sqlite3_bind_int64(s, 3, n->mode);
	sqlite3_bind_int64(s, 4, n->uid);
	sqlite3_bind_int64(s, 5, n->gid);
	sqlite3_bind_int64(s, 6, (int64_t)n->rdev);
	sqlite3_bind_int64(s, 7, (int64_t)n->size);
	sqlite3_bind_int64(s, 8, n->atime_ns);
	sqlite3_bind_int64(s, 9, n->mtime_ns);
	sqlite3_bind_int64(s, 10, n->ctime_ns);
	sqlite3_bind_int64(s, 11, n->nlink);
	if (target)
		fc_state_bind_blob(s, 12, target, target_len);
	sqlite3_bind_int64(s, 13, (int64_t)n->version);
	sqlite3_bind_int64(s, 14, (int64_t)n->remote_version);
	sqlite3_bind_int64(s, 15, (int64_t)n->manifest_version);
	sqlite3_bind_int(s, 16, n->pushed);
	sqlite3_bind_int(s, 17, n->dirty);
	sqlite3_bind_int64(s, 18, (int64_t)r->gen);
	sqlite3_bind_int(s, 19, r->writing);
	if (r->due == FC_STATE_DUE_NONE)
		sqlite3_bind_null(s, 20);
	else
		sqlite3_bind_int64(s, 20, r->due);
	rc = sqlite3_step(s);
	fc_state_reset(s);
	if (rc != SQLITE_DONE)
		return fc_state_sql_fail(c, rc, "insert node");
	n->ino = sqlite3_last_insert_rowid(c->db);
	return 0;
}

/* Directory ino must exist and be a directory: -ENOENT, -ENOTDIR. */
int fc_state_need_dir(struct conn *c, int64_t ino, struct row *out)
{
	struct row tmp;
	int rc = fc_state_row_get(c, ino, out ? out : &tmp);

	if (rc < 0)
		return rc;
	if ((out ? out : &tmp)->n.kind != FC_KIND_DIR)
		return -ENOTDIR;
	if ((out ? out : &tmp)->n.nlink == 0)
		return -ENOENT; /* removed directory */
	return 0;
}

void fc_state_range_merge(struct row *r, uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return;
	if (r->lo >= r->hi) {
		r->lo = lo;
		r->hi = hi;
		return;
	}
	r->lo = CF_MIN(r->lo, lo);
	r->hi = CF_MAX(r->hi, hi);
}

/* ----- entries ----- */

/* Entry (parent, name). -ENOENT. */
int fc_state_entry_get(struct conn *c, int64_t parent, const char *name,
		       size_t len, struct ent *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_ENTRY_GET);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, parent);
	fc_state_bind_blob(s, 2, name, len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->eid = sqlite3_column_int64(s, 0);
		out->ino = sqlite3_column_int64(s, 1);
		out->remote = sqlite3_column_int64(s, 2);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = fc_state_sql_fail(c, rc, "read entry");
	}
	fc_state_reset(s);
	return rc;
}

int fc_state_entry_insert(struct conn *c, int64_t parent, const char *name,
			  size_t len, int64_t ino, int64_t remote)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_ENTRY_INS);

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, parent);
	fc_state_bind_blob(s, 2, name, len);
	sqlite3_bind_int64(s, 3, ino);
	if (remote)
		sqlite3_bind_int64(s, 4, remote);
	return fc_state_run(c, s, "insert entry");
}

int fc_state_entry_delete(struct conn *c, int64_t eid)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_ENTRY_DEL);

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, eid);
	return fc_state_run(c, s, "delete entry");
}

int fc_state_dir_is_empty(struct conn *c, int64_t dir, bool *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_DIR_ANY);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, dir);
	rc = sqlite3_step(s);
	fc_state_reset(s);
	if (rc == SQLITE_ROW)
		*out = false;
	else if (rc == SQLITE_DONE)
		*out = true;
	else
		return fc_state_sql_fail(c, rc, "check directory");
	return 0;
}

/* Parent of directory ino (its only entry); 0 for the root or none. */
int fc_state_dir_parent(struct conn *c, int64_t ino, int64_t *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_ENTRY_FIRST);
	int rc;

	if (!s)
		return -EIO;
	*out = 0;
	sqlite3_bind_int64(s, 1, ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		rc = fc_state_sql_fail(c, rc, "read parent");
	fc_state_reset(s);
	return rc < 0 ? rc : 0;
}

/* ----- outbox ----- */

int fc_state_op_append(struct conn *c, const struct fc_op *op)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_OP_INS);
	static const uint8_t zero[FC_ID_SIZE];

	if (!s)
		return -EIO;
	sqlite3_bind_int(s, 1, (int)op->kind);
	if (memcmp(op->node, zero, FC_ID_SIZE) || op->kind == FC_OP_SETATTR)
		fc_state_bind_blob(s, 2, op->node, FC_ID_SIZE);
	if (op->kind != FC_OP_SETATTR) {
		fc_state_bind_blob(s, 3, op->parent, FC_ID_SIZE);
		fc_state_bind_blob(s, 4, op->name, op->name_len);
	}
	if (op->kind == FC_OP_RENAME) {
		fc_state_bind_blob(s, 5, op->parent2, FC_ID_SIZE);
		fc_state_bind_blob(s, 6, op->name2, op->name2_len);
	}
	sqlite3_bind_int64(s, 7, op->flags);
	sqlite3_bind_int(s, 8, (int)op->node_kind);
	sqlite3_bind_int64(s, 9, op->mode);
	sqlite3_bind_int64(s, 10, op->uid);
	sqlite3_bind_int64(s, 11, op->gid);
	sqlite3_bind_int64(s, 12, (int64_t)op->rdev);
	sqlite3_bind_int64(s, 13, op->mtime_ns);
	if (op->target_len)
		fc_state_bind_blob(s, 14, op->target, op->target_len);
	if (memcmp(op->node2, zero, FC_ID_SIZE))
		fc_state_bind_blob(s, 15, op->node2, FC_ID_SIZE);
	return fc_state_run(c, s, "append op");
}

int fc_state_count_ops(struct conn *c, int state, uint64_t *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_OP_COUNT_STATE);

	if (!s)
		return -EIO;
	sqlite3_bind_int(s, 1, state);
	return fc_state_count(c, s, "count ops", out);
}

/* ----- meta ----- */

int fc_state_meta_get(struct conn *c, const char *key, uint64_t *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_META_GET);
	int rc;

	if (!s)
		return -EIO;
	*out = 0;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		rc = fc_state_sql_fail(c, rc, "read meta");
	fc_state_reset(s);
	return rc < 0 ? rc : 0;
}

int fc_state_meta_set(struct conn *c, const char *key, uint64_t v)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_META_SET);

	if (!s)
		return -EIO;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)v);
	return fc_state_run(c, s, "write meta");
}
