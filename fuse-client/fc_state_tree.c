/* SPDX-License-Identifier: MIT */
/*
 * fc_state, local tree changes: create, link, unlink, rename and setattr
 * with POSIX errnos, link counts and times, each one transaction with the
 * outbox op that replays it; dropping unlinked nodes; the write path's
 * epoch records and durable syncs. Lock order as in fc_state.c.
 */
#include "fc_state_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CF_LOG_SUBSYS "state"
#include "cf_array.h"
#include "cf_log.h"

/* ----- local tree changes ----- */

static int name_check(const char *name, size_t len)
{
	if (len > CF_NAME_MAX)
		return -ENAMETOOLONG;
	return cf_name_check(name, len);
}

/*
 * Start an outbox op of kind on node (an entry name_len bytes long, at
 * most CF_NAME_MAX, checked by the caller) in directory parent; the rest
 * of *op is zeroed for the caller to fill in.
 */
static void op_init(struct fc_op *op, enum fc_op_kind kind,
		    const struct row *node, const struct row *parent,
		    const char *name, size_t name_len)
{
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	memcpy(op->node, node->n.id, FC_ID_SIZE);
	memcpy(op->parent, parent->n.id, FC_ID_SIZE);
	memcpy(op->name, name, name_len);
	op->name_len = name_len;
}

int fc_state_create(struct fc_state *st, const struct fc_create *req,
		    struct fc_node *out)
{
	struct row parent, r;
	struct fc_op op;
	struct conn *c;
	struct ent e;
	int rc;

	rc = name_check(req->name, req->name_len);
	if (rc < 0)
		return rc;
	if (!fc_state_kind_ok((int)req->kind))
		return -EINVAL;
	if (req->kind == FC_KIND_SYMLINK &&
	    (!req->target || !req->target_len ||
	     req->target_len > CF_PATH_MAX ||
	     memchr(req->target, '\0', req->target_len)))
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	rc = fc_id_generate(r.n.id);
	if (rc < 0)
		return rc;
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_need_dir(c, req->parent, &parent);
	if (rc < 0)
		goto out;
	rc = fc_state_entry_get(c, req->parent, req->name, req->name_len, &e);
	if (rc == 0) {
		rc = -EEXIST;
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	r.n.kind = req->kind;
	r.n.mode = req->mode & 07777;
	r.n.uid = req->uid;
	r.n.gid = req->gid;
	if (parent.n.mode & S_ISGID) {
		/* A setgid directory hands its group down, as on ext4. */
		r.n.gid = parent.n.gid;
		if (req->kind == FC_KIND_DIR)
			r.n.mode |= S_ISGID;
	}
	if (req->kind == FC_KIND_CHR || req->kind == FC_KIND_BLK)
		r.n.rdev = req->rdev;
	if (req->kind == FC_KIND_SYMLINK)
		r.n.size = req->target_len;
	r.n.atime_ns = r.n.mtime_ns = r.n.ctime_ns = req->now_ns;
	r.n.nlink = req->kind == FC_KIND_DIR ? 2 : 1;
	r.due = FC_STATE_DUE_NONE;
	if (req->kind == FC_KIND_FILE) {
		r.n.dirty = true;
		r.gen = 1;
		r.writing = req->writing;
		if (!req->writing)
			r.due = req->due_ns;
	}
	rc = fc_state_node_insert(
		c, &r, req->kind == FC_KIND_SYMLINK ? req->target : NULL,
		req->target_len);
	if (rc < 0)
		goto out;
	rc = fc_state_entry_insert(c, req->parent, req->name, req->name_len,
				   r.n.ino, 0);
	if (rc < 0)
		goto out;
	parent.n.mtime_ns = parent.n.ctime_ns = req->now_ns;
	if (req->kind == FC_KIND_DIR)
		parent.n.nlink++;
	rc = fc_state_row_put(c, &parent);
	if (rc < 0)
		goto out;
	op_init(&op, FC_OP_CREATE, &r, &parent, req->name, req->name_len);
	op.node_kind = req->kind;
	op.mode = r.n.mode;
	op.uid = r.n.uid;
	op.gid = r.n.gid;
	op.rdev = r.n.rdev;
	op.mtime_ns = req->now_ns;
	if (req->kind == FC_KIND_SYMLINK) {
		memcpy(op.target, req->target, req->target_len);
		op.target_len = req->target_len;
	}
	rc = fc_state_op_append(c, &op);
	if (rc == 0 && out)
		*out = r.n;
out:
	return fc_state_tx_end(st, c, rc);
}

int fc_state_link(struct fc_state *st, int64_t ino, int64_t parent,
		  const char *name, size_t name_len, int64_t now_ns,
		  struct fc_node *out)
{
	struct row dir, r;
	struct fc_op op;
	struct conn *c;
	struct ent e;
	int rc;

	rc = name_check(name, name_len);
	if (rc < 0)
		return rc;
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get(c, ino, &r);
	if (rc < 0)
		goto out;
	if (r.n.kind == FC_KIND_DIR) {
		rc = -EPERM;
		goto out;
	}
	if (r.n.nlink == 0) {
		rc = -ENOENT;
		goto out;
	}
	if (r.n.nlink >= FC_STATE_LINK_MAX) {
		rc = -EMLINK;
		goto out;
	}
	rc = fc_state_need_dir(c, parent, &dir);
	if (rc < 0)
		goto out;
	rc = fc_state_entry_get(c, parent, name, name_len, &e);
	if (rc == 0) {
		rc = -EEXIST;
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rc = fc_state_entry_insert(c, parent, name, name_len, ino, 0);
	if (rc < 0)
		goto out;
	r.n.nlink++;
	r.n.ctime_ns = now_ns;
	rc = fc_state_row_put(c, &r);
	if (rc < 0)
		goto out;
	dir.n.mtime_ns = dir.n.ctime_ns = now_ns;
	rc = fc_state_row_put(c, &dir);
	if (rc < 0)
		goto out;
	op_init(&op, FC_OP_LINK, &r, &dir, name, name_len);
	rc = fc_state_op_append(c, &op);
	if (rc == 0 && out)
		*out = r.n;
out:
	return fc_state_tx_end(st, c, rc);
}

/*
 * The node r lost one entry (its row is written back by the caller's
 * row_put). Directories drop to 0 at once (they were empty).
 */
static void lose_link(struct row *r, int64_t now)
{
	if (r->n.kind == FC_KIND_DIR)
		r->n.nlink = 0;
	else if (r->n.nlink > 0)
		r->n.nlink--;
	r->n.ctime_ns = now;
	if (r->n.nlink == 0) {
		r->unlinked = true;
		r->due = FC_STATE_DUE_NONE; /* nothing to upload any more */
	}
}

int fc_state_unlink(struct fc_state *st, int64_t parent, const char *name,
		    size_t name_len, bool dir, int64_t now_ns,
		    struct fc_node *out)
{
	struct row pr, r;
	struct fc_op op;
	struct conn *c;
	struct ent e;
	bool empty;
	int rc;

	if (name_len > CF_NAME_MAX)
		return -ENAMETOOLONG;
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_need_dir(c, parent, &pr);
	if (rc < 0)
		goto out;
	rc = fc_state_entry_get(c, parent, name, name_len, &e);
	if (rc < 0)
		goto out;
	rc = fc_state_row_get(c, e.ino, &r);
	if (rc < 0)
		goto out;
	if (dir && r.n.kind != FC_KIND_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!dir && r.n.kind == FC_KIND_DIR) {
		rc = -EISDIR;
		goto out;
	}
	if (dir) {
		rc = fc_state_dir_is_empty(c, r.n.ino, &empty);
		if (rc == 0 && !empty)
			rc = -ENOTEMPTY;
		if (rc < 0)
			goto out;
		pr.n.nlink--;
	}
	rc = fc_state_entry_delete(c, e.eid);
	if (rc < 0)
		goto out;
	lose_link(&r, now_ns);
	rc = fc_state_row_put(c, &r);
	if (rc < 0)
		goto out;
	pr.n.mtime_ns = pr.n.ctime_ns = now_ns;
	rc = fc_state_row_put(c, &pr);
	if (rc < 0)
		goto out;
	op_init(&op, FC_OP_UNLINK, &r, &pr, name, name_len);
	op.flags = dir ? FC_OP_DIR : 0;
	rc = fc_state_op_append(c, &op);
	if (rc == 0 && out)
		*out = r.n;
out:
	return fc_state_tx_end(st, c, rc);
}

/* Is directory anc an ancestor of (or equal to) directory ino? */
static int is_ancestor(struct conn *c, int64_t anc, int64_t ino, bool *out)
{
	int64_t cur = ino, up;
	int depth = 0, rc;

	*out = false;
	while (cur && cur != FC_ROOT_INO) {
		if (cur == anc) {
			*out = true;
			return 0;
		}
		if (++depth > 100000)
			return -ELOOP;
		rc = fc_state_dir_parent(c, cur, &up);
		if (rc < 0)
			return rc;
		cur = up;
	}
	*out = anc == FC_ROOT_INO;
	return 0;
}

int fc_state_rename(struct fc_state *st, int64_t src_parent,
		    const char *src_name, size_t src_len, int64_t dst_parent,
		    const char *dst_name, size_t dst_len, unsigned flags,
		    int64_t now_ns, struct fc_node *out_replaced)
{
	struct row sp, dpr, src, dst, *dp;
	struct ent se, de;
	struct fc_op op;
	struct conn *c;
	bool have_dst = false, under, empty;
	int rc;

	if (out_replaced)
		memset(out_replaced, 0, sizeof(*out_replaced));
	if (flags & ~(unsigned)(FC_RENAME_NOREPLACE | FC_RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & FC_RENAME_NOREPLACE) && (flags & FC_RENAME_EXCHANGE))
		return -EINVAL;
	if (src_len > CF_NAME_MAX)
		return -ENAMETOOLONG;
	rc = name_check(dst_name, dst_len);
	if (rc < 0)
		return rc;
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_need_dir(c, src_parent, &sp);
	if (rc < 0)
		goto out;
	dp = &sp;
	if (dst_parent != src_parent) {
		rc = fc_state_need_dir(c, dst_parent, &dpr);
		if (rc < 0)
			goto out;
		dp = &dpr;
	}
	rc = fc_state_entry_get(c, src_parent, src_name, src_len, &se);
	if (rc < 0)
		goto out;
	rc = fc_state_row_get(c, se.ino, &src);
	if (rc < 0)
		goto out;
	rc = fc_state_entry_get(c, dst_parent, dst_name, dst_len, &de);
	if (rc == 0)
		have_dst = true;
	else if (rc != -ENOENT)
		goto out;
	rc = 0;
	if ((flags & FC_RENAME_EXCHANGE) && !have_dst) {
		rc = -ENOENT;
		goto out;
	}
	if (have_dst && (flags & FC_RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out;
	}
	if (have_dst && de.ino == se.ino)
		goto out; /* same node: nothing to do (POSIX) */
	if (have_dst) {
		rc = fc_state_row_get(c, de.ino, &dst);
		if (rc < 0)
			goto out;
	}
	/* A directory may not move under itself. */
	if (src.n.kind == FC_KIND_DIR) {
		rc = is_ancestor(c, src.n.ino, dst_parent, &under);
		if (rc == 0 && under)
			rc = -EINVAL;
		if (rc < 0)
			goto out;
	}
	if ((flags & FC_RENAME_EXCHANGE) && dst.n.kind == FC_KIND_DIR) {
		rc = is_ancestor(c, dst.n.ino, src_parent, &under);
		if (rc == 0 && under)
			rc = -EINVAL;
		if (rc < 0)
			goto out;
	}
	if (have_dst && !(flags & FC_RENAME_EXCHANGE)) {
		if (src.n.kind == FC_KIND_DIR && dst.n.kind != FC_KIND_DIR) {
			rc = -ENOTDIR;
			goto out;
		}
		if (src.n.kind != FC_KIND_DIR && dst.n.kind == FC_KIND_DIR) {
			rc = -EISDIR;
			goto out;
		}
		if (dst.n.kind == FC_KIND_DIR) {
			rc = fc_state_dir_is_empty(c, dst.n.ino, &empty);
			if (rc == 0 && !empty)
				rc = -ENOTEMPTY;
			if (rc < 0)
				goto out;
			dp->n.nlink--;
		}
		rc = fc_state_entry_delete(c, de.eid);
		if (rc < 0)
			goto out;
		lose_link(&dst, now_ns);
		rc = fc_state_row_put(c, &dst);
		if (rc < 0)
			goto out;
		if (out_replaced)
			*out_replaced = dst.n;
	}
	if (flags & FC_RENAME_EXCHANGE) {
		sqlite3_stmt *s = fc_state_stmt(c, S_ENTRY_SET_INO);

		if (!s) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, se.eid);
		sqlite3_bind_int64(s, 2, dst.n.ino);
		rc = fc_state_run(c, s, "exchange entries");
		if (rc < 0)
			goto out;
		sqlite3_bind_int64(s, 1, de.eid);
		sqlite3_bind_int64(s, 2, src.n.ino);
		rc = fc_state_run(c, s, "exchange entries");
		if (rc < 0)
			goto out;
		if (src_parent != dst_parent) {
			if (src.n.kind == FC_KIND_DIR) {
				sp.n.nlink--;
				dp->n.nlink++;
			}
			if (dst.n.kind == FC_KIND_DIR) {
				dp->n.nlink--;
				sp.n.nlink++;
			}
		}
		/*
		 * src, dst, sp and dp are distinct nodes here: the ancestor
		 * checks above refused the overlapping cases.
		 */
		dst.n.ctime_ns = now_ns;
		rc = fc_state_row_put(c, &dst);
		if (rc < 0)
			goto out;
	} else {
		sqlite3_stmt *s = fc_state_stmt(c, S_ENTRY_MOVE);

		if (!s) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, se.eid);
		sqlite3_bind_int64(s, 2, dst_parent);
		fc_state_bind_blob(s, 3, dst_name, dst_len);
		rc = fc_state_run(c, s, "move entry");
		if (rc < 0)
			goto out;
		if (src.n.kind == FC_KIND_DIR && src_parent != dst_parent) {
			sp.n.nlink--;
			dp->n.nlink++;
		}
	}
	src.n.ctime_ns = now_ns;
	rc = fc_state_row_put(c, &src);
	if (rc < 0)
		goto out;
	sp.n.mtime_ns = sp.n.ctime_ns = now_ns;
	rc = fc_state_row_put(c, &sp);
	if (rc < 0)
		goto out;
	if (dp != &sp) {
		dp->n.mtime_ns = dp->n.ctime_ns = now_ns;
		rc = fc_state_row_put(c, dp);
		if (rc < 0)
			goto out;
	}
	op_init(&op, FC_OP_RENAME, &src, &sp, src_name, src_len);
	memcpy(op.parent2, dp->n.id, FC_ID_SIZE);
	memcpy(op.name2, dst_name, dst_len);
	op.name2_len = dst_len;
	op.flags = flags;
	if (have_dst)
		memcpy(op.node2, dst.n.id, FC_ID_SIZE);
	rc = fc_state_op_append(c, &op);
out:
	return fc_state_tx_end(st, c, rc);
}

int fc_state_setattr(struct fc_state *st, int64_t ino,
		     const struct fc_setattr *a, struct fc_node *out)
{
	unsigned push = 0;
	struct fc_op op;
	struct conn *c;
	struct row r;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get(c, ino, &r);
	if (rc < 0)
		goto out;
	if (a->flags & FC_SET_SIZE) {
		if (r.n.kind == FC_KIND_DIR) {
			rc = -EISDIR;
			goto out;
		}
		if (r.n.kind != FC_KIND_FILE) {
			rc = -EINVAL;
			goto out;
		}
		if (a->size > BLK_FILE_SIZE_MAX) {
			rc = -EFBIG;
			goto out;
		}
		if (a->size != r.n.size) {
			sqlite3_stmt *s = fc_state_stmt(c, S_CHUNKS_DEL_FROM);

			if (!s) {
				rc = -EIO;
				goto out;
			}
			sqlite3_bind_int64(s, 1, ino);
			sqlite3_bind_int64(s, 2, (int64_t)a->size);
			rc = fc_state_run(c, s, "drop chunks");
			if (rc < 0)
				goto out;
			fc_state_range_merge(&r, CF_MIN(a->size, r.n.size),
					     CF_MAX(a->size, r.n.size));
			r.n.size = a->size;
			r.n.dirty = true;
			r.gen++;
			if (!r.writing && r.n.nlink > 0)
				r.due = a->due_ns;
		}
	}
	if (a->flags & FC_SET_MODE) {
		r.n.mode = a->mode & 07777;
		push |= FC_SET_MODE;
	}
	if (a->flags & FC_SET_UID) {
		r.n.uid = a->uid;
		push |= FC_SET_UID;
	}
	if (a->flags & FC_SET_GID) {
		r.n.gid = a->gid;
		push |= FC_SET_GID;
	}
	if (a->flags & FC_SET_ATIME)
		r.n.atime_ns = a->atime_ns;
	if (a->flags & FC_SET_MTIME) {
		r.n.mtime_ns = a->mtime_ns;
		/* A dirty file's commit carries its mtime. */
		if (!(r.n.kind == FC_KIND_FILE && r.n.dirty))
			push |= FC_SET_MTIME;
	}
	r.n.ctime_ns = (a->flags & FC_SET_CTIME) ? a->ctime_ns : a->now_ns;
	rc = fc_state_row_put(c, &r);
	if (rc < 0)
		goto out;
	if (push && r.n.nlink > 0) {
		memset(&op, 0, sizeof(op));
		op.kind = FC_OP_SETATTR;
		memcpy(op.node, r.n.id, FC_ID_SIZE);
		op.flags = push;
		op.mode = r.n.mode;
		op.uid = r.n.uid;
		op.gid = r.n.gid;
		op.mtime_ns = r.n.mtime_ns;
		rc = fc_state_op_append(c, &op);
	}
	if (rc == 0 && out)
		*out = r.n;
out:
	return fc_state_tx_end(st, c, rc);
}

/* Delete node ino and its chunk rows (inside a transaction). */
static int node_delete(struct conn *c, int64_t ino)
{
	sqlite3_stmt *s;
	int rc;

	s = fc_state_stmt(c, S_CHUNKS_DEL_ALL);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	rc = fc_state_run(c, s, "drop chunks");
	if (rc < 0)
		return rc;
	s = fc_state_stmt(c, S_NODE_DEL);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	return fc_state_run(c, s, "drop node");
}

int fc_state_node_drop(struct fc_state *st, int64_t ino)
{
	struct conn *c;
	struct row r;
	int rc;

	if (ino == FC_ROOT_INO)
		return -EBUSY;
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_row_get(c, ino, &r);
	if (rc == 0 && r.n.nlink > 0)
		rc = -EBUSY;
	if (rc == 0)
		rc = node_delete(c, ino);
	return fc_state_tx_end(st, c, rc);
}

int fc_state_drop_orphans(struct fc_state *st, fc_node_fn fn, void *arg)
{
	sqlite3_stmt *s;
	struct conn *c;
	struct row r;
	int64_t *inos = NULL;
	size_t count = 0, cap = 0, i;
	int rc;

	rc = fc_state_tx_stmt(st, S_ORPHANS, &c, &s);
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (fc_state_row_read(s, 0, &r) < 0 || r.n.ino == FC_ROOT_INO)
			continue;
		if (fn)
			fn(arg, &r.n);
		if (cf_array_reserve(&inos, &cap, count, sizeof(*inos))) {
			rc = -ENOMEM;
			break;
		}
		inos[count++] = r.n.ino;
	}
	fc_state_reset(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fc_state_sql_fail(c, rc, "list orphans");
	for (i = 0; rc == 0 && i < count; i++)
		rc = node_delete(c, inos[i]);
	free(inos);
	return fc_state_tx_end(st, c, rc);
}

/* ----- write path ----- */

int fc_state_write_begin(struct fc_state *st, int64_t ino)
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
	if (rc < 0)
		goto out;
	r.n.dirty = true;
	r.writing = true;
	r.gen++;
	r.due = FC_STATE_DUE_NONE;
	rc = fc_state_row_put(c, &r);
out:
	return fc_state_tx_end(st, c, rc);
}

int fc_state_write_done(struct fc_state *st, int64_t ino,
			const struct fc_write_summary *w, int64_t due_ns,
			bool durable)
{
	struct conn *c;
	struct row r;
	int rc;

	/* Held across the transaction: the durability setting is ours. */
	fc_state_read_begin(st, &c);
	if (durable) {
		rc = fc_state_durable(c, true);
		if (rc < 0)
			return fc_state_read_end(st, rc);
	}
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		goto sync;
	rc = fc_state_row_get(c, ino, &r);
	if (rc < 0)
		goto out;
	fc_state_range_merge(&r, w->lo, w->hi);
	r.n.size = w->size;
	if (w->set_mtime) {
		r.n.mtime_ns = w->mtime_ns;
		r.n.ctime_ns = w->ctime_ns;
	}
	r.n.dirty = true;
	r.writing = false;
	r.gen++;
	r.due = r.n.nlink > 0 ? due_ns : FC_STATE_DUE_NONE;
	rc = fc_state_row_put(c, &r);
out:
	rc = fc_state_tx_end(st, c, rc);
sync:
	if (durable)
		fc_state_durable(c, false);
	return fc_state_read_end(st, rc);
}

int fc_state_sync(struct fc_state *st)
{
	struct conn *c;
	uint64_t n = 0;
	int rc;

	fc_state_read_begin(st, &c);
	rc = fc_state_durable(c, true);
	if (rc < 0)
		return fc_state_read_end(st, rc);
	rc = fc_state_tx_begin(st, &c);
	if (rc == 0) {
		rc = fc_state_meta_get(c, "syncs", &n);
		if (rc == 0)
			rc = fc_state_meta_set(c, "syncs", n + 1);
		rc = fc_state_tx_end(st, c, rc);
	}
	fc_state_durable(c, false);
	return fc_state_read_end(st, rc);
}
