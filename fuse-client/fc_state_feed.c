/* SPDX-License-Identifier: MIT */
/*
 * fc_state, remote changes: one page of the server's change feed applied
 * in one transaction (nodes by id, entries by server entry id or by
 * parent, name and node), with the changed inodes and entries reported
 * after the commit for kernel cache invalidation; files with unsaved
 * local changes that the page removes are kept (the local edit wins).
 * Lock order as in fc_state.c.
 */
#include "fc_state_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CF_LOG_SUBSYS "state"
#include "cf_array.h"
#include "cf_buf.h"
#include "cf_log.h"
#include "fc_conflict.h"

/* Conflicted copy names tried for a kept file before giving up. */
#define KEEP_NAME_TRIES 100

/* ----- remote changes ----- */

struct change {
	int64_t ino, parent;
	size_t name_len;
	char name[CF_NAME_MAX + 1];
};

/*
 * What a page changed (for the kernel), and the files with unsaved local
 * changes it took the last entry of: (ino, the parent and name they had).
 */
struct changes {
	struct change *v, *kept;
	size_t count, cap, kept_count, kept_cap;
};

static int change_push(struct change **v, size_t *count, size_t *cap,
		       int64_t ino, int64_t parent, const char *name,
		       size_t len)
{
	struct change *tmp;

	if (cf_array_reserve(v, cap, *count, sizeof(**v)))
		return -ENOMEM;
	tmp = &(*v)[(*count)++];
	tmp->ino = ino;
	tmp->parent = parent;
	tmp->name_len = name ? CF_MIN(len, (size_t)CF_NAME_MAX) : 0;
	if (name)
		memcpy(tmp->name, name, tmp->name_len);
	tmp->name[tmp->name_len] = '\0';
	return 0;
}

static int changes_add(struct changes *ch, int64_t ino, int64_t parent,
		       const char *name, size_t len)
{
	return change_push(&ch->v, &ch->count, &ch->cap, ino, parent, name,
			   len);
}

/* Local bytes the server has not got: the feed must not drop them. */
static bool unsaved(const struct row *r)
{
	return r->n.kind == FC_KIND_FILE && (r->n.dirty || r->writing);
}

static int pending_ops(struct conn *c, bool *out)
{
	uint64_t n;
	int rc = fc_state_count_ops(c, 0, &n);

	*out = n > 0;
	return rc;
}

static int apply_node(struct conn *c, const struct fc_remote_node *rn,
		      struct changes *ch)
{
	sqlite3_stmt *s;
	struct row r;
	int rc;

	if (!fc_state_kind_ok((int)rn->kind))
		return -EPROTO;
	rc = fc_state_row_get_id(c, rn->id, &r);
	if (rc == -ENOENT) {
		memset(&r, 0, sizeof(r));
		memcpy(r.n.id, rn->id, FC_ID_SIZE);
		r.n.kind = rn->kind;
		r.n.mode = rn->mode & 07777;
		r.n.uid = rn->uid;
		r.n.gid = rn->gid;
		r.n.rdev = rn->rdev;
		r.n.size = rn->size;
		r.n.atime_ns = r.n.mtime_ns = rn->mtime_ns;
		r.n.ctime_ns = rn->ctime_ns;
		r.n.version = r.n.remote_version = rn->version;
		r.n.manifest_version =
			rn->manifest || !rn->version ? rn->version : 0;
		r.n.pushed = true;
		r.due = FC_STATE_DUE_NONE;
		rc = fc_state_node_insert(c, &r, rn->target, rn->target_len);
		if (rc == 0 && rn->manifest && rn->kind == FC_KIND_FILE)
			rc = fc_state_chunks_replace(c, r.n.ino, rn->manifest,
						     false, false);
		return rc;
	}
	if (rc < 0)
		return rc;
	/*
	 * Versions only grow. A row older than what we know came in a page
	 * asked for before our own commit answered: nothing in it is news,
	 * and its size and mtime would undo the commit.
	 */
	if (rn->version < r.n.remote_version || rn->version < r.n.version)
		return 0;
	/*
	 * Our own change coming back (a commit, a create, a setattr this
	 * device pushed): nothing a program could see differs, so neither
	 * the row nor the kernel's cache of it needs touching. The server's
	 * ctime may differ from ours; ours stays, as it would on a disk.
	 */
	if (r.n.pushed && rn->version == r.n.version &&
	    rn->version == r.n.remote_version &&
	    (rn->mode & 07777) == r.n.mode && rn->uid == r.n.uid &&
	    rn->gid == r.n.gid && rn->rdev == r.n.rdev &&
	    (r.n.dirty ||
	     (rn->size == r.n.size && rn->mtime_ns == r.n.mtime_ns)))
		return 0;
	r.n.mode = rn->mode & 07777;
	r.n.uid = rn->uid;
	r.n.gid = rn->gid;
	r.n.rdev = rn->rdev;
	r.n.ctime_ns = rn->ctime_ns;
	r.n.pushed = true;
	if (!r.n.dirty) {
		r.n.size = rn->size;
		r.n.mtime_ns = rn->mtime_ns;
		if (r.n.kind == FC_KIND_FILE && rn->version != r.n.version) {
			if (rn->manifest) {
				rc = fc_state_chunks_replace(
					c, r.n.ino, rn->manifest, true, false);
				if (rc < 0)
					return rc;
				r.n.manifest_version = rn->version;
				r.n.size = rn->manifest->file_size;
			}
			r.n.version = rn->version;
		}
		r.n.remote_version = rn->version;
	} else if (rn->version > r.n.remote_version) {
		r.n.remote_version = rn->version;
	}
	rc = fc_state_row_put(c, &r);
	if (rc == 0 && rn->kind == FC_KIND_SYMLINK && rn->target) {
		s = fc_state_stmt(c, S_TARGET_SET);
		if (!s)
			return -EIO;
		sqlite3_bind_int64(s, 1, r.n.ino);
		fc_state_bind_blob(s, 2, rn->target, rn->target_len);
		rc = fc_state_run(c, s, "set symlink target");
	}
	if (rc == 0)
		rc = changes_add(ch, r.n.ino, 0, NULL, 0);
	return rc;
}

/* Remove entry eid = (parent, name) -> ino, fixing link counts. */
static int remote_unlink(struct conn *c, int64_t eid, int64_t parent,
			 const char *name, size_t len, int64_t ino,
			 struct changes *ch)
{
	struct row r, pr;
	int rc;

	rc = fc_state_entry_delete(c, eid);
	if (rc == 0)
		rc = fc_state_row_get(c, ino, &r);
	if (rc < 0)
		return rc;
	if (r.n.kind == FC_KIND_DIR) {
		r.n.nlink = r.n.nlink >= 2 ? r.n.nlink - 2 : 0;
		rc = fc_state_row_get(c, parent, &pr);
		if (rc == 0 && pr.n.nlink > 2) {
			pr.n.nlink--;
			rc = fc_state_row_put(c, &pr);
		}
		if (rc < 0 && rc != -ENOENT)
			return rc;
	} else if (r.n.nlink > 0) {
		r.n.nlink--;
	}
	if (r.n.nlink == 0 || (r.n.kind == FC_KIND_DIR && r.n.nlink < 2)) {
		r.unlinked = true;
		/* kept at the end of the page, upload still due, unless a
		 * later row of the page links it again (a move) */
		if (!unsaved(&r))
			r.due = FC_STATE_DUE_NONE;
		else if (change_push(&ch->kept, &ch->kept_count, &ch->kept_cap,
				     ino, parent, name, len))
			return -ENOMEM;
	}
	rc = fc_state_row_put(c, &r);
	if (rc == 0)
		rc = changes_add(ch, ino, 0, NULL, 0);
	if (rc == 0)
		rc = changes_add(ch, 0, parent, name, len);
	return rc;
}

static int remote_link(struct conn *c, int64_t parent, const char *name,
		       size_t len, int64_t ino, int64_t remote,
		       struct changes *ch)
{
	struct row r, pr;
	int rc;

	rc = fc_state_entry_insert(c, parent, name, len, ino, remote);
	if (rc == 0)
		rc = fc_state_row_get(c, ino, &r);
	if (rc < 0)
		return rc;
	r.n.nlink += r.n.kind == FC_KIND_DIR ? 2 : 1;
	r.unlinked = false;
	rc = fc_state_row_put(c, &r);
	if (rc == 0 && r.n.kind == FC_KIND_DIR) {
		rc = fc_state_row_get(c, parent, &pr);
		if (rc == 0) {
			pr.n.nlink++;
			rc = fc_state_row_put(c, &pr);
		}
	}
	if (rc == 0)
		rc = changes_add(ch, 0, parent, name, len);
	return rc;
}

static int apply_entry_row(struct conn *c, const struct fc_remote_entry *re,
			   struct changes *ch)
{
	struct row pr, nr;
	struct ent e;
	sqlite3_stmt *s;
	int64_t eid = 0, old_parent = 0, old_ino = 0;
	char old_name[CF_NAME_MAX + 1];
	size_t old_len = 0;
	int rc;

	if (re->name_len > CF_NAME_MAX || !re->name_len || re->id <= 0)
		return -EPROTO;
	/* A newer state of this entry supersedes a deferred one. */
	s = fc_state_stmt(c, S_DEFER_DEL);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, re->id);
	rc = fc_state_run(c, s, "undefer entry");
	if (rc < 0)
		return rc;
	rc = fc_state_row_get_id(c, re->parent, &pr);
	if (rc == 0)
		rc = fc_state_row_get_id(c, re->node, &nr);
	if (rc == -ENOENT && re->deleted)
		return 0; /* a tombstone of something never seen here */
	if (rc == -ENOENT) {
		/* Its node or parent comes on a later page: wait. */
		s = fc_state_stmt(c, S_DEFER_PUT);
		if (!s)
			return -EIO;
		sqlite3_bind_int64(s, 1, re->id);
		fc_state_bind_blob(s, 2, re->parent, FC_ID_SIZE);
		fc_state_bind_blob(s, 3, re->node, FC_ID_SIZE);
		fc_state_bind_blob(s, 4, re->name, re->name_len);
		return fc_state_run(c, s, "defer entry");
	}
	if (rc < 0)
		return rc;
	s = fc_state_stmt(c, S_ENTRY_BY_REMOTE);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, re->id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		eid = sqlite3_column_int64(s, 0);
		old_parent = sqlite3_column_int64(s, 1);
		fc_state_col_copy(s, 2, old_name, CF_NAME_MAX, &old_len);
		old_ino = sqlite3_column_int64(s, 3);
	} else if (rc != SQLITE_DONE) {
		rc = fc_state_sql_fail(c, rc, "read entry by id");
		fc_state_reset(s);
		return rc;
	}
	fc_state_reset(s);
	if (re->deleted) {
		if (eid)
			return remote_unlink(c, eid, old_parent, old_name,
					     old_len, old_ino, ch);
		rc = fc_state_entry_get(c, pr.n.ino, re->name, re->name_len,
					&e);
		if (rc == 0 && e.ino == nr.n.ino && !e.remote)
			return remote_unlink(c, e.eid, pr.n.ino, re->name,
					     re->name_len, e.ino, ch);
		return rc == -ENOENT ? 0 : rc;
	}
	if (eid && old_parent == pr.n.ino && old_ino == nr.n.ino &&
	    old_len == re->name_len && !memcmp(old_name, re->name, old_len))
		return 0; /* already so */
	if (eid) {
		/* Moved or relinked: take the old one out, put the new in. */
		rc = remote_unlink(c, eid, old_parent, old_name, old_len,
				   old_ino, ch);
		if (rc < 0)
			return rc;
	}
	rc = fc_state_entry_get(c, pr.n.ino, re->name, re->name_len, &e);
	if (rc == 0 && e.ino == nr.n.ino && !e.remote) {
		s = fc_state_stmt(c, S_ENTRY_SET_REMOTE);
		if (!s)
			return -EIO;
		sqlite3_bind_int64(s, 1, e.eid);
		sqlite3_bind_int64(s, 2, re->id);
		return fc_state_run(c, s, "adopt entry");
	}
	if (rc == 0) {
		/* The server's name wins over a stale local entry. */
		rc = remote_unlink(c, e.eid, pr.n.ino, re->name, re->name_len,
				   e.ino, ch);
		if (rc < 0)
			return rc;
	} else if (rc != -ENOENT) {
		return rc;
	}
	return remote_link(c, pr.n.ino, re->name, re->name_len, nr.n.ino,
			   re->id, ch);
}

/* Apply re; during resync number `resync` (0: none), mark it seen. */
static int apply_entry(struct conn *c, const struct fc_remote_entry *re,
		       uint64_t resync, struct changes *ch)
{
	sqlite3_stmt *s;
	int rc = apply_entry_row(c, re, ch);

	if (rc < 0 || !resync || re->deleted)
		return rc;
	s = fc_state_stmt(c, S_ENTRY_SEEN);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, re->id);
	sqlite3_bind_int64(s, 2, (int64_t)resync);
	return fc_state_run(c, s, "mark entry seen");
}

/*
 * Apply the deferred entries whose node and parent are known now. Each is
 * read into memory first: applying one runs other statements.
 */
static int apply_deferred(struct conn *c, uint64_t resync, struct changes *ch)
{
	struct fc_remote_entry *v = NULL;
	char (*names)[CF_NAME_MAX + 1] = NULL;
	size_t count = 0, cap = 0, names_cap = 0, i, len;
	struct row r;
	sqlite3_stmt *s;
	int rc;

	s = fc_state_stmt(c, S_DEFER_ALL);
	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cf_array_reserve(&v, &cap, count, sizeof(*v)) ||
		    cf_array_reserve(&names, &names_cap, count,
				     sizeof(*names))) {
			rc = -ENOMEM;
			break;
		}
		memset(&v[count], 0, sizeof(v[count]));
		v[count].id = sqlite3_column_int64(s, 0);
		if (fc_state_col_blob(s, 1, v[count].parent, FC_ID_SIZE) < 0 ||
		    fc_state_col_blob(s, 2, v[count].node, FC_ID_SIZE) < 0)
			continue;
		fc_state_col_copy(s, 3, names[count], CF_NAME_MAX, &len);
		if (!len)
			continue;
		v[count].name_len = len;
		count++;
	}
	fc_state_reset(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fc_state_sql_fail(c, rc, "read deferred entries");
	for (i = 0; rc == 0 && i < count; i++) {
		v[i].name = names[i];
		if (fc_state_row_get_id(c, v[i].parent, &r) < 0 ||
		    fc_state_row_get_id(c, v[i].node, &r) < 0)
			continue; /* still waiting */
		rc = apply_entry(c, &v[i], resync, ch);
	}
	free(v);
	free(names);
	return rc;
}

/*
 * Put kept file k back where it was: under its name when that is free,
 * else under a conflicted copy name; in the root when its directory is
 * gone too. An FC_OP_RESTORE takes the node out of the server's trash to
 * the same place; the upload follows once that op is pushed.
 */
static int keep_one(struct fc_state *st, struct conn *c, const struct change *k,
		    struct changes *ch)
{
	struct cf_buf name;
	struct row r, dir;
	struct fc_op op;
	struct ent e;
	int64_t parent = k->parent;
	unsigned n;
	int rc;

	rc = fc_state_row_get(c, k->ino, &r);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	if (!r.unlinked || r.n.nlink > 0)
		return 0; /* linked again later in the page: a move */
	if (fc_state_need_dir(c, parent, &dir) < 0) {
		parent = FC_ROOT_INO;
		rc = fc_state_need_dir(c, parent, &dir);
		if (rc < 0)
			return rc;
	}
	cf_buf_init(&name, CF_NAME_MAX);
	for (n = 0;; n++) {
		rc = fc_conflict_candidate(k->name, k->name_len,
					   r.n.kind == FC_KIND_DIR, st->device,
					   (int64_t)time(NULL), n, &name);
		if (rc == 0)
			rc = fc_state_entry_get(c, parent, name.data, name.len,
						&e);
		if (rc != 0 || n == KEEP_NAME_TRIES)
			break;
	}
	if (rc == 0)
		rc = -EEXIST; /* every name taken */
	if (rc != -ENOENT)
		goto out;
	rc = fc_state_entry_insert(c, parent, name.data, name.len, r.n.ino, 0);
	if (rc < 0)
		goto out;
	r.n.nlink = 1;
	r.unlinked = false;
	r.n.pushed = false;
	rc = fc_state_row_put(c, &r);
	if (rc < 0)
		goto out;
	memset(&op, 0, sizeof(op));
	op.kind = FC_OP_RESTORE;
	memcpy(op.node, r.n.id, FC_ID_SIZE);
	memcpy(op.parent, dir.n.id, FC_ID_SIZE);
	memcpy(op.name, name.data, name.len);
	op.name_len = name.len;
	rc = fc_state_op_append(c, &op);
	if (rc == 0)
		rc = changes_add(ch, 0, parent, name.data, name.len);
	if (rc == 0)
		cf_warn("conflict: \"%.*s\" was removed on another device "
			"while it had unsaved changes here: kept as \"%.*s\"%s",
			(int)k->name_len, k->name, (int)name.len, name.data,
			parent == k->parent ? "" : " in the top directory");
out:
	cf_buf_release(&name);
	return rc;
}

static int keep_all(struct fc_state *st, struct conn *c, struct changes *ch)
{
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < ch->kept_count; i++)
		rc = keep_one(st, c, &ch->kept[i], ch);
	return rc;
}

/*
 * Begin a transaction that applies the server's view: -EAGAIN (and no
 * transaction) while local ops wait in the outbox, for the feed would
 * undo them: push first, then pull.
 */
static int feed_tx_begin(struct fc_state *st, struct conn **out)
{
	bool pending;
	int rc = fc_state_tx_begin(st, out);

	if (rc < 0)
		return rc;
	rc = pending_ops(*out, &pending);
	if (rc == 0 && pending)
		rc = -EAGAIN;
	return rc < 0 ? fc_state_tx_end(st, *out, rc) : 0;
}

/* Tell changed what a committed transaction (rc 0) changed; free ch. */
static int report(struct changes *ch, int rc, fc_changed_fn changed,
		  void *arg)
{
	size_t i;

	if (rc == 0 && changed) {
		for (i = 0; i < ch->count; i++)
			changed(arg, ch->v[i].ino, ch->v[i].parent,
				ch->v[i].ino ? NULL : ch->v[i].name,
				ch->v[i].name_len);
	}
	free(ch->v);
	free(ch->kept);
	ch->v = ch->kept = NULL;
	return rc;
}

int fc_state_apply_page(struct fc_state *st, const struct fc_remote_page *p,
			fc_changed_fn changed, void *arg)
{
	struct changes ch = { 0 };
	struct conn *c;
	size_t i;
	int rc;

	rc = feed_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	if (p->ops_pushed != st->ops_pushed)
		rc = -EAGAIN;
	for (i = 0; rc == 0 && i < p->node_count; i++)
		rc = apply_node(c, &p->nodes[i], &ch);
	if (rc == 0 && p->node_count)
		rc = apply_deferred(c, p->resync, &ch);
	for (i = 0; rc == 0 && i < p->entry_count; i++)
		rc = apply_entry(c, &p->entries[i], p->resync, &ch);
	if (rc == 0)
		rc = keep_all(st, c, &ch);
	if (rc == 0)
		rc = fc_state_meta_set(c, "cursor", p->next);
	rc = fc_state_tx_end(st, c, rc);
	return report(&ch, rc, changed, arg);
}

/* ----- full resync ----- */

int fc_state_resync_get(struct fc_state *st, uint64_t *out)
{
	struct conn *c;

	fc_state_read_begin(st, &c);
	return fc_state_read_end(st, fc_state_meta_get(c, "resync", out));
}

int fc_state_resync_begin(struct fc_state *st, uint64_t *out)
{
	struct conn *c;
	uint64_t last = 0;
	int rc;

	*out = 0;
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_meta_get(c, "resyncs", &last);
	if (rc == 0)
		rc = fc_state_meta_set(c, "resyncs", last + 1);
	if (rc == 0)
		rc = fc_state_meta_set(c, "resync", last + 1);
	if (rc == 0)
		rc = fc_state_meta_set(c, "cursor", 0);
	rc = fc_state_tx_end(st, c, rc);
	if (rc == 0)
		*out = last + 1;
	return rc;
}

/* The entries resync did not see: eid, parent, name, ino of each. */
struct unseen {
	int64_t eid, parent, ino;
	size_t len;
	char name[CF_NAME_MAX];
};

static int unseen_list(struct conn *c, uint64_t resync, struct unseen **out,
		       size_t *out_count)
{
	struct unseen *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = fc_state_stmt(c, S_ENTRIES_UNSEEN);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, (int64_t)resync);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cf_array_reserve(&v, &cap, n, sizeof(*v))) {
			rc = -ENOMEM;
			break;
		}
		v[n].eid = sqlite3_column_int64(s, 0);
		v[n].parent = sqlite3_column_int64(s, 1);
		fc_state_col_copy(s, 2, v[n].name, sizeof(v[n].name),
				  &v[n].len);
		v[n].ino = sqlite3_column_int64(s, 3);
		n++;
	}
	fc_state_reset(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fc_state_sql_fail(c, rc, "list unseen entries");
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*out_count = n;
	return 0;
}

int fc_state_resync_end(struct fc_state *st, uint64_t resync,
			uint64_t ops_pushed, fc_changed_fn changed, void *arg,
			size_t *out_removed)
{
	struct changes ch = { 0 };
	struct unseen *v = NULL;
	struct conn *c;
	size_t n = 0, i;
	int rc;

	*out_removed = 0;
	rc = feed_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	/*
	 * An op pushed since the pages were asked for made an entry the
	 * pages may not show yet: it is not stale, pull once more first.
	 */
	if (ops_pushed != st->ops_pushed)
		rc = -EAGAIN;
	if (rc == 0)
		rc = unseen_list(c, resync, &v, &n);
	for (i = 0; rc == 0 && i < n; i++)
		rc = remote_unlink(c, v[i].eid, v[i].parent, v[i].name,
				   v[i].len, v[i].ino, &ch);
	if (rc == 0)
		rc = keep_all(st, c, &ch);
	if (rc == 0)
		rc = fc_state_meta_set(c, "resync", 0);
	rc = fc_state_tx_end(st, c, rc);
	if (rc == 0)
		*out_removed = n;
	free(v);
	return report(&ch, rc, changed, arg);
}
