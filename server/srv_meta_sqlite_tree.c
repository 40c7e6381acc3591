/* SPDX-License-Identifier: MIT */
/*
 * The file tree ops of the SQLite metadata store: lookup, listing, the
 * change feed, and create, link, unlink, rename, setattr and pending (row
 * helpers are in srv_meta_sqlite_rows.c). Writes run on the writer thread (srv_sq_write); every node or
 * entry row they touch gets a fresh account seq, so the change feed pages
 * exactly. A directory move changes one entry row, whatever lies below.
 *
 * nlink: a non-directory counts its live entries; a directory has 2 plus
 * its subdirectories. Removing a node's last entry moves it to the trash
 * (deleted = now, trash_entry = that entry's tombstone).
 */
#include "srv_meta.h"

#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "srv_meta_sqlite_int.h"

static struct srv_sq *sq_of(struct srv_meta *m)
{
	return (struct srv_sq *)m;
}

static int dir_is_empty(struct srv_sq_conn *c, int64_t user_id,
			const uint8_t *dir)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_DIR_HAS_CHILD, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iN", user_id, dir);
	if (rc == 0)
		rc = srv_sq_step(c, st);
	if (rc > 0) {
		sqlite3_reset(st);
		return 0;
	}
	return rc < 0 ? rc : 1;
}

static int name_check(const char *name, size_t len)
{
	if (!name || len == 0 || len > CF_NAME_MAX)
		return -EINVAL;
	return 0;
}

static void entry_name_set(struct srv_entry *e, const char *name, size_t len)
{
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	e->name_len = len;
}

/* ----- reads ----- */

int srv_sq_tree_node_get(struct srv_meta *m, int64_t user_id, const uint8_t *id,
			 struct srv_node *out)
{
	struct srv_sq_conn *c = NULL;
	struct srv_sq_node mn;
	int rc;

	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_node_load(c, user_id, id, &mn);
	if (rc == 0)
		memcpy(out, &mn.n, sizeof(*out));
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

int srv_sq_tree_lookup(struct srv_meta *m, int64_t user_id,
		       const uint8_t *parent, const char *name, size_t name_len,
		       struct srv_entry *out_entry, struct srv_node *out_node)
{
	struct srv_sq_conn *c = NULL;
	struct srv_sq_node mn;
	struct srv_entry e;
	int rc;

	rc = name_check(name, name_len);
	if (rc < 0)
		return rc == -EINVAL ? -ENOENT : rc;
	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_read_begin(c);
	if (rc == 0)
		rc = srv_sq_dir_load(c, user_id, parent, &mn);
	if (rc == 0)
		rc = srv_sq_entry_lookup(c, user_id, parent, name, name_len,
					 &e);
	if (rc == 0)
		rc = srv_sq_node_load(c, user_id, e.node, &mn);
	srv_sq_read_end(c);
	srv_sq_read_put(sq_of(m), c);
	if (rc < 0)
		return rc;
	if (out_entry)
		*out_entry = e;
	if (out_node)
		memcpy(out_node, &mn.n, sizeof(*out_node));
	return 0;
}

int srv_sq_tree_list_dir(struct srv_meta *m, int64_t user_id,
			 const uint8_t *dir, const char *after,
			 size_t after_len, size_t limit, srv_meta_dirent_fn fn,
			 void *arg)
{
	struct srv_sq_conn *c = NULL;
	struct srv_sq_node mn;
	struct srv_entry e;
	sqlite3_stmt *st;
	int rc;

	if (!after)
		after_len = 0;
	if (after_len > CF_NAME_MAX)
		return -EINVAL;
	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_read_begin(c);
	if (rc == 0)
		rc = srv_sq_dir_load(c, user_id, dir, &mn);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_LIST_DIR, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iNbi", user_id, dir, after, after_len,
				 limit ? (int64_t)limit : (int64_t)-1);
	while (rc == 0 && (rc = srv_sq_step(c, st)) > 0) {
		rc = srv_sq_entry_from_row(st, 0, &e);
		if (rc == 0)
			rc = srv_sq_node_from_row(st, 6, &mn.n);
		if (rc == 0)
			rc = fn(arg, &e, &mn.n);
	}
	if (rc > 0)
		rc = 0;
	srv_sq_read_end(c);
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

/*
 * -ERANGE, and the feed horizon in *out, when tombstones after since were
 * pruned (srv_sq_gc_prune).
 */
static int feed_check(struct srv_sq_conn *c, int64_t user_id, uint64_t since,
		      uint64_t *out)
{
	sqlite3_stmt *st;
	uint64_t horizon;
	int rc;

	rc = srv_sq_row(c, ST_FEED_HORIZON_GET, &st, "i", user_id);
	if (rc == -ENOENT)
		return 0; /* no such account: nothing to miss */
	if (rc < 0)
		return rc;
	horizon = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (since >= horizon)
		return 0;
	*out = horizon;
	return -ERANGE;
}

int srv_sq_tree_changes(struct srv_meta *m, int64_t user_id, uint64_t since,
			size_t limit, srv_meta_node_fn node_fn,
			srv_meta_entry_fn entry_fn, void *arg,
			uint64_t *out_next, bool *out_more)
{
	struct srv_sq_conn *c = NULL;
	sqlite3_stmt *sn = NULL, *se = NULL;
	uint64_t nseq, eseq, next = since;
	int64_t fetch;
	struct srv_node n;
	struct srv_entry e;
	int rc, rn = 0, re = 0;
	size_t count = 0;

	*out_next = since;
	*out_more = false;
	/* limit + 1 rows of each kind tell whether more remain. */
	fetch = limit && limit < INT64_MAX ? (int64_t)limit + 1 : -1;
	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_read_begin(c);
	if (rc == 0 && since > 0)
		rc = feed_check(c, user_id, since, out_next);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_CHANGES_NODES, &sn);
	if (rc == 0)
		rc = srv_sq_bind(c, sn, "iui", user_id, since, fetch);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_CHANGES_ENTRIES, &se);
	if (rc == 0)
		rc = srv_sq_bind(c, se, "iui", user_id, since, fetch);
	if (rc == 0)
		rn = srv_sq_step(c, sn);
	if (rc == 0 && rn >= 0)
		re = srv_sq_step(c, se);
	rc = rn < 0 ? rn : re < 0 ? re : rc;
	while (rc == 0 && (rn > 0 || re > 0) && (!limit || count < limit)) {
		nseq = rn > 0 ? (uint64_t)sqlite3_column_int64(sn, 13)
			      : UINT64_MAX;
		eseq = re > 0 ? (uint64_t)sqlite3_column_int64(se, 4)
			      : UINT64_MAX;
		count++;
		if (nseq < eseq) {
			next = nseq;
			rc = srv_sq_node_from_row(sn, 0, &n);
			if (rc == 0 && node_fn)
				rc = node_fn(arg, &n);
			if (rc == 0 && (rn = srv_sq_step(c, sn)) < 0)
				rc = rn;
		} else {
			next = eseq;
			rc = srv_sq_entry_from_row(se, 0, &e);
			if (rc == 0 && entry_fn)
				rc = entry_fn(arg, &e);
			if (rc == 0 && (re = srv_sq_step(c, se)) < 0)
				rc = re;
		}
	}
	if (rc >= 0) {
		/* rc > 0: the callback stopped the walk; what it saw counts. */
		*out_next = next;
		*out_more = rc > 0 || rn > 0 || re > 0;
		rc = 0;
	}
	srv_sq_read_end(c);
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

/* ----- writes ----- */

struct create_args {
	int64_t user_id;
	const struct srv_create *items;
	size_t count;
	bool batch; /* an item already made under its name counts as done */
	const struct srv_create *cur; /* the item being made */
	size_t done;
	int item_rc; /* the error of item done, when done < count */
	uint64_t seq;
};

/* What needs no database: the name, the kind, the mode, the target. */
static int create_check(const struct srv_node *n, const char *name,
			size_t name_len, size_t *out_target_len)
{
	int rc = name_check(name, name_len);

	if (rc < 0)
		return rc;
	if (n->kind < SRV_NODE_FILE || n->kind > SRV_NODE_SOCK ||
	    n->mode & ~07777u)
		return -EINVAL;
	*out_target_len = 0;
	if (n->kind == SRV_NODE_SYMLINK) {
		*out_target_len = strnlen(n->target, sizeof(n->target));
		if (*out_target_len == 0 || *out_target_len > CF_PATH_MAX)
			return -EINVAL;
	}
	return 0;
}

/* One item, in its own savepoint (srv_sq_nested). */
static int create_item_run(struct srv_sq_conn *c, void *arg)
{
	struct create_args *a = arg;
	const struct srv_create *it = a->cur;
	const struct srv_node *n = it->node;
	int64_t now_ns = srv_sq_now_ns();
	struct srv_sq_node dir;
	struct srv_entry e;
	sqlite3_stmt *st;
	uint64_t seq;
	size_t target_len;
	bool symlink = n->kind == SRV_NODE_SYMLINK, exists;
	int rc;

	rc = create_check(n, it->name, it->name_len, &target_len);
	if (rc == 0)
		rc = srv_sq_dir_load(c, a->user_id, it->parent, &dir);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_NODE_EXISTS, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iN", a->user_id, n->id);
	if (rc == 0)
		rc = srv_sq_step(c, st);
	if (rc < 0)
		return rc;
	exists = rc > 0;
	sqlite3_reset(st);
	rc = srv_sq_entry_lookup(c, a->user_id, it->parent, it->name,
				 it->name_len, &e);
	if (rc == 0 && exists && a->batch &&
	    memcmp(e.node, n->id, SRV_NODE_ID_SIZE) == 0)
		return 0; /* made by an earlier try of this batch */
	if (rc == 0 || exists)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;

	rc = srv_sq_seq_next(c, a->user_id, &seq);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_NODE_INSERT, &st);
	if (rc == 0)
		rc = srv_sq_bind(
			c, st, symlink ? "iNiiiiuuiiiub" : "iNiiiiuuiiiuz",
			a->user_id, n->id, (int64_t)n->kind, (int64_t)n->mode,
			(int64_t)n->uid, (int64_t)n->gid,
			n->kind == SRV_NODE_CHR || n->kind == SRV_NODE_BLK
				? n->rdev
				: (uint64_t)0,
			symlink ? (uint64_t)target_len : (uint64_t)0,
			n->mtime_ns ? n->mtime_ns : now_ns, now_ns,
			(int64_t)(n->kind == SRV_NODE_DIR ? 2 : 1), seq,
			n->target, target_len);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc < 0)
		return rc;

	memset(&e, 0, sizeof(e));
	memcpy(e.parent, it->parent, SRV_NODE_ID_SIZE);
	memcpy(e.node, n->id, SRV_NODE_ID_SIZE);
	entry_name_set(&e, it->name, it->name_len);
	rc = srv_sq_entry_insert(c, a->user_id, &e);
	if (rc == 0)
		rc = srv_sq_dir_touch(c, a->user_id, it->parent,
				      n->kind == SRV_NODE_DIR ? 1 : 0, now_ns);
	return rc;
}

/* The items in order, each in its own savepoint, up to the first failure. */
static int create_run(struct srv_sq_conn *c, void *arg)
{
	struct create_args *a = arg;
	int lost = 0, rc = 0;

	for (a->done = 0; a->done < a->count; a->done++) {
		a->cur = &a->items[a->done];
		rc = srv_sq_nested(c, create_item_run, a, &lost);
		if (lost)
			return lost;
		if (rc < 0)
			break;
	}
	a->item_rc = rc;
	return a->done ? srv_sq_seq_get(c, a->user_id, &a->seq) : 0;
}

int srv_sq_tree_create_batch(struct srv_meta *m, int64_t user_id,
			     const struct srv_create *items, size_t count,
			     size_t *out_done, uint64_t *out_seq)
{
	struct create_args a = { .user_id = user_id,
				 .items = items,
				 .count = count,
				 .batch = true };
	int rc = srv_sq_write(sq_of(m), create_run, &a);

	*out_done = rc < 0 ? 0 : a.done;
	if (out_seq)
		*out_seq = a.seq;
	return rc < 0 ? rc : a.item_rc;
}

int srv_sq_tree_create(struct srv_meta *m, int64_t user_id,
		       const struct srv_node *n, const uint8_t *parent,
		       const char *name, size_t name_len, uint64_t *out_seq)
{
	struct srv_create it = { n, parent, name, name_len };
	struct create_args a = { .user_id = user_id, .items = &it, .count = 1 };
	size_t target_len;
	int rc;

	/* bad input is refused without a trip to the writer */
	rc = create_check(n, name, name_len, &target_len);
	if (rc == 0)
		rc = srv_sq_write(sq_of(m), create_run, &a);
	if (rc == 0)
		rc = a.item_rc;
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	return rc;
}

struct link_args {
	int64_t user_id;
	const uint8_t *node;
	const uint8_t *parent;
	const char *name;
	size_t len;
	uint64_t seq;
};

static int link_run(struct srv_sq_conn *c, void *arg)
{
	struct link_args *a = arg;
	int64_t now_ns = srv_sq_now_ns();
	struct srv_sq_node mn, dir;
	struct srv_entry e;
	int rc;

	rc = srv_sq_node_load(c, a->user_id, a->node, &mn);
	if (rc < 0)
		return rc;
	if (mn.n.deleted)
		return -ENOENT;
	if (mn.n.kind == SRV_NODE_DIR)
		return -EPERM;
	rc = srv_sq_dir_load(c, a->user_id, a->parent, &dir);
	if (rc < 0)
		return rc;
	rc = srv_sq_entry_lookup(c, a->user_id, a->parent, a->name, a->len, &e);
	/* The same link again is a retry whose answer was lost: done. */
	if (rc == 0 && memcmp(e.node, a->node, SRV_NODE_ID_SIZE) == 0)
		return srv_sq_seq_get(c, a->user_id, &a->seq);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	memset(&e, 0, sizeof(e));
	memcpy(e.parent, a->parent, SRV_NODE_ID_SIZE);
	memcpy(e.node, a->node, SRV_NODE_ID_SIZE);
	entry_name_set(&e, a->name, a->len);
	rc = srv_sq_entry_insert(c, a->user_id, &e);
	if (rc < 0)
		return rc;
	mn.n.nlink++;
	mn.n.ctime_ns = now_ns;
	rc = srv_sq_node_save(c, a->user_id, &mn);
	if (rc == 0)
		rc = srv_sq_dir_touch(c, a->user_id, a->parent, 0, now_ns);
	if (rc == 0)
		rc = srv_sq_seq_get(c, a->user_id, &a->seq);
	return rc;
}

int srv_sq_tree_link(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		     const uint8_t *parent, const char *name, size_t name_len,
		     uint64_t *out_seq)
{
	struct link_args a = { user_id, node, parent, name, name_len, 0 };
	int rc;

	rc = name_check(name, name_len);
	if (rc < 0)
		return rc;
	rc = srv_sq_write(sq_of(m), link_run, &a);
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	return rc;
}

/*
 * The live entry at slot, which must hold slot->node when the caller
 * names one: -ENOENT otherwise, as for a free name.
 */
static int slot_lookup(struct srv_sq_conn *c, int64_t user_id,
		       const struct srv_slot *slot, struct srv_entry *e)
{
	int rc = srv_sq_entry_lookup(c, user_id, slot->parent, slot->name,
				     slot->len, e);

	if (rc == 0 && slot->node &&
	    memcmp(e->node, slot->node, SRV_NODE_ID_SIZE) != 0)
		return -ENOENT;
	return rc;
}

struct unlink_args {
	int64_t user_id;
	const struct srv_slot *at;
	unsigned flags;
	int64_t now;
	uint64_t seq;
};

static int unlink_run(struct srv_sq_conn *c, void *arg)
{
	struct unlink_args *a = arg;
	struct srv_sq_node dir, mn;
	struct srv_entry e;
	bool is_dir;
	int rc;

	rc = srv_sq_dir_load(c, a->user_id, a->at->parent, &dir);
	if (rc == 0)
		rc = slot_lookup(c, a->user_id, a->at, &e);
	if (rc == 0)
		rc = srv_sq_node_load(c, a->user_id, e.node, &mn);
	if (rc < 0)
		return rc;
	is_dir = mn.n.kind == SRV_NODE_DIR;
	if ((a->flags & SRV_UNLINK_DIR) && !is_dir)
		return -ENOTDIR;
	if (!(a->flags & SRV_UNLINK_DIR) && is_dir)
		return -EISDIR;
	if (is_dir && !(a->flags & SRV_UNLINK_RECURSIVE)) {
		rc = dir_is_empty(c, a->user_id, e.node);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return -ENOTEMPTY;
	}
	/* Only the top entry moves: the tree below stays under it. */
	e.deleted = true;
	rc = srv_sq_entry_save(c, a->user_id, &e);
	if (rc == 0)
		rc = srv_sq_drop_link(c, a->user_id, e.node, e.id, a->now);
	if (rc == 0)
		rc = srv_sq_dir_touch(c, a->user_id, a->at->parent,
				      is_dir ? -1 : 0, srv_sq_now_ns());
	if (rc == 0)
		rc = srv_sq_seq_get(c, a->user_id, &a->seq);
	return rc;
}

int srv_sq_tree_unlink(struct srv_meta *m, int64_t user_id,
		       const struct srv_slot *at, unsigned flags, int64_t now,
		       uint64_t *out_seq)
{
	struct unlink_args a = { user_id, at, flags, now, 0 };
	int rc;

	if (flags & ~(unsigned)(SRV_UNLINK_DIR | SRV_UNLINK_RECURSIVE))
		return -EINVAL;
	rc = name_check(at->name, at->len);
	if (rc < 0)
		return rc;
	rc = srv_sq_write(sq_of(m), unlink_run, &a);
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	return rc;
}

struct rename_args {
	int64_t user_id;
	const struct srv_slot *src, *dst;
	unsigned flags;
	int64_t now;
	uint64_t seq;
};

/* -EINVAL when moving node (a directory) under dir would make a cycle. */
static int check_not_below(struct srv_sq_conn *c, int64_t user_id,
			   const uint8_t *dir, const uint8_t *node)
{
	int rc;

	rc = srv_sq_walk_up(c, user_id, dir, node);
	if (rc < 0)
		return rc;
	return rc == SRV_SQ_WALK_HIT ? -EINVAL : 0;
}

static int node_ctime(struct srv_sq_conn *c, int64_t user_id, const uint8_t *id,
		      int64_t now_ns)
{
	struct srv_sq_node mn;
	int rc;

	rc = srv_sq_node_load(c, user_id, id, &mn);
	if (rc < 0)
		return rc;
	mn.n.ctime_ns = now_ns;
	return srv_sq_node_save(c, user_id, &mn);
}

/* Parent bookkeeping after a move: mtime of both, nlink of dir moves. */
static int touch_parents(struct srv_sq_conn *c, struct rename_args *a,
			 int sp_delta, int dp_delta, int64_t now_ns)
{
	const uint8_t *sp = a->src->parent, *dp = a->dst->parent;
	int rc;

	if (memcmp(sp, dp, SRV_NODE_ID_SIZE) == 0)
		return srv_sq_dir_touch(c, a->user_id, sp, sp_delta + dp_delta,
					now_ns);
	rc = srv_sq_dir_touch(c, a->user_id, sp, sp_delta, now_ns);
	if (rc == 0)
		rc = srv_sq_dir_touch(c, a->user_id, dp, dp_delta, now_ns);
	return rc;
}

static int exchange(struct srv_sq_conn *c, struct rename_args *a,
		    struct srv_entry *se, const struct srv_sq_node *sn,
		    struct srv_entry *de, const struct srv_sq_node *dn)
{
	int64_t now_ns = srv_sq_now_ns();
	bool sdir = sn->n.kind == SRV_NODE_DIR;
	bool ddir = dn->n.kind == SRV_NODE_DIR;
	int rc;

	if (sdir) {
		rc = check_not_below(c, a->user_id, a->dst->parent, se->node);
		if (rc < 0)
			return rc;
	}
	if (ddir) {
		rc = check_not_below(c, a->user_id, a->src->parent, de->node);
		if (rc < 0)
			return rc;
	}
	/*
	 * Names are unique among live entries, checked row by row: park the
	 * source as a tombstone while the target takes its place.
	 */
	memcpy(se->parent, a->dst->parent, SRV_NODE_ID_SIZE);
	entry_name_set(se, a->dst->name, a->dst->len);
	se->deleted = true;
	rc = srv_sq_entry_save(c, a->user_id, se);
	if (rc < 0)
		return rc;
	memcpy(de->parent, a->src->parent, SRV_NODE_ID_SIZE);
	entry_name_set(de, a->src->name, a->src->len);
	rc = srv_sq_entry_save(c, a->user_id, de);
	if (rc < 0)
		return rc;
	se->deleted = false;
	rc = srv_sq_entry_save(c, a->user_id, se);
	if (rc == 0)
		rc = node_ctime(c, a->user_id, se->node, now_ns);
	if (rc == 0)
		rc = node_ctime(c, a->user_id, de->node, now_ns);
	if (rc == 0)
		rc = touch_parents(c, a, (int)ddir - (int)sdir,
				   (int)sdir - (int)ddir, now_ns);
	return rc;
}

static int rename_run(struct srv_sq_conn *c, void *arg)
{
	struct rename_args *a = arg;
	int64_t now_ns = srv_sq_now_ns();
	struct srv_sq_node sdir, ddir, sn, dn;
	struct srv_entry se, de;
	bool have_dst, src_is_dir;
	int rc, dp_delta = 0;

	rc = srv_sq_dir_load(c, a->user_id, a->src->parent, &sdir);
	if (rc == 0)
		rc = srv_sq_dir_load(c, a->user_id, a->dst->parent, &ddir);
	if (rc == 0)
		rc = slot_lookup(c, a->user_id, a->src, &se);
	if (rc == 0)
		rc = srv_sq_node_load(c, a->user_id, se.node, &sn);
	if (rc < 0)
		return rc;
	rc = srv_sq_entry_lookup(c, a->user_id, a->dst->parent, a->dst->name,
				 a->dst->len, &de);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	have_dst = rc == 0;
	if (have_dst) {
		rc = srv_sq_node_load(c, a->user_id, de.node, &dn);
		if (rc < 0)
			return rc;
	}
	src_is_dir = sn.n.kind == SRV_NODE_DIR;

	/*
	 * The caller's compare-and-swap: a target holding a node other than
	 * the one it meant to replace was put there by someone else, so it
	 * must not go to the trash unseen. The source's own node there is
	 * the no-op below (or a swap of two names of one node).
	 */
	if (have_dst && a->dst->node &&
	    memcmp(de.node, a->dst->node, SRV_NODE_ID_SIZE) != 0 &&
	    memcmp(de.node, se.node, SRV_NODE_ID_SIZE) != 0)
		return -EEXIST;

	if (a->flags & SRV_RENAME_EXCHANGE) {
		if (!have_dst)
			return -ENOENT;
		if (se.id == de.id)
			goto done;
		rc = exchange(c, a, &se, &sn, &de, &dn);
		goto out;
	}
	if (have_dst && (a->flags & SRV_RENAME_NOREPLACE))
		return -EEXIST;
	/* Two names of one node (or one name twice): rename(2) does nothing. */
	if (have_dst && memcmp(se.node, de.node, SRV_NODE_ID_SIZE) == 0)
		goto done;
	if (have_dst) {
		if (src_is_dir && dn.n.kind != SRV_NODE_DIR)
			return -ENOTDIR;
		if (!src_is_dir && dn.n.kind == SRV_NODE_DIR)
			return -EISDIR;
		if (dn.n.kind == SRV_NODE_DIR) {
			rc = dir_is_empty(c, a->user_id, de.node);
			if (rc < 0)
				return rc;
			if (rc == 0)
				return -ENOTEMPTY;
		}
	}
	if (src_is_dir) {
		rc = check_not_below(c, a->user_id, a->dst->parent, se.node);
		if (rc < 0)
			return rc;
	}
	if (have_dst) {
		/* The replaced node goes to the trash, restorable. */
		de.deleted = true;
		rc = srv_sq_entry_save(c, a->user_id, &de);
		if (rc == 0)
			rc = srv_sq_drop_link(c, a->user_id, de.node, de.id,
					      a->now);
		if (rc < 0)
			return rc;
		if (dn.n.kind == SRV_NODE_DIR)
			dp_delta--;
	}
	memcpy(se.parent, a->dst->parent, SRV_NODE_ID_SIZE);
	entry_name_set(&se, a->dst->name, a->dst->len);
	rc = srv_sq_entry_save(c, a->user_id, &se);
	if (rc == 0)
		rc = node_ctime(c, a->user_id, se.node, now_ns);
	if (rc == 0)
		rc = touch_parents(c, a, src_is_dir ? -1 : 0,
				   dp_delta + (src_is_dir ? 1 : 0), now_ns);
out:
	if (rc < 0)
		return rc;
done:
	return srv_sq_seq_get(c, a->user_id, &a->seq);
}

int srv_sq_tree_rename(struct srv_meta *m, int64_t user_id,
		       const struct srv_slot *src, const struct srv_slot *dst,
		       unsigned flags, int64_t now, uint64_t *out_seq)
{
	struct rename_args a = {
		.user_id = user_id,
		.src = src,
		.dst = dst,
		.flags = flags,
		.now = now,
	};
	int rc;

	if (flags & ~(unsigned)(SRV_RENAME_NOREPLACE | SRV_RENAME_EXCHANGE) ||
	    ((flags & SRV_RENAME_NOREPLACE) && (flags & SRV_RENAME_EXCHANGE)))
		return -EINVAL;
	/* "Fail if taken" and "replace only this node" contradict. */
	if ((flags & SRV_RENAME_NOREPLACE) && dst->node)
		return -EINVAL;
	rc = name_check(src->name, src->len);
	if (rc == 0)
		rc = name_check(dst->name, dst->len);
	if (rc < 0)
		return rc;
	rc = srv_sq_write(sq_of(m), rename_run, &a);
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	return rc;
}

struct node_args {
	int64_t user_id;
	const uint8_t *node;
	const struct srv_setattr *attr;
	int64_t device_id;
	uint64_t seq;
};

static int setattr_run(struct srv_sq_conn *c, void *arg)
{
	struct node_args *a = arg;
	const struct srv_setattr *at = a->attr;
	struct srv_sq_node mn;
	int rc;

	rc = srv_sq_node_load(c, a->user_id, a->node, &mn);
	if (rc < 0)
		return rc;
	if (mn.n.deleted)
		return -ENOENT;
	if (at->flags & SRV_SET_MODE)
		mn.n.mode = at->mode;
	if (at->flags & SRV_SET_UID)
		mn.n.uid = at->uid;
	if (at->flags & SRV_SET_GID)
		mn.n.gid = at->gid;
	if (at->flags & SRV_SET_MTIME)
		mn.n.mtime_ns = at->mtime_ns;
	mn.n.ctime_ns =
		at->flags & SRV_SET_CTIME ? at->ctime_ns : srv_sq_now_ns();
	rc = srv_sq_node_save(c, a->user_id, &mn);
	if (rc == 0)
		a->seq = mn.n.seq;
	return rc;
}

int srv_sq_tree_setattr(struct srv_meta *m, int64_t user_id,
			const uint8_t *node, const struct srv_setattr *attr,
			uint64_t *out_seq)
{
	struct node_args a = { user_id, node, attr, 0, 0 };
	int rc;

	if (attr->flags & ~(unsigned)(SRV_SET_MODE | SRV_SET_UID | SRV_SET_GID |
				      SRV_SET_MTIME | SRV_SET_CTIME))
		return -EINVAL;
	if ((attr->flags & SRV_SET_MODE) && (attr->mode & ~07777u))
		return -EINVAL;
	rc = srv_sq_write(sq_of(m), setattr_run, &a);
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	return rc;
}

static int pending_run(struct srv_sq_conn *c, void *arg)
{
	struct node_args *a = arg;
	struct srv_sq_node mn;
	int rc;

	rc = srv_sq_node_load(c, a->user_id, a->node, &mn);
	if (rc < 0)
		return rc;
	if (mn.n.deleted)
		return -ENOENT;
	if (mn.n.kind == SRV_NODE_DIR)
		return -EISDIR;
	if (mn.n.kind != SRV_NODE_FILE)
		return -EINVAL;
	mn.n.status = SRV_STATUS_PENDING;
	mn.n.pending_device = a->device_id;
	rc = srv_sq_node_save(c, a->user_id, &mn);
	if (rc == 0)
		a->seq = mn.n.seq;
	return rc;
}

int srv_sq_tree_mark_pending(struct srv_meta *m, int64_t user_id,
			     const uint8_t *node, int64_t device_id,
			     uint64_t *out_seq)
{
	struct node_args a = { user_id, node, NULL, device_id, 0 };
	int rc;

	rc = srv_sq_write(sq_of(m), pending_run, &a);
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	return rc;
}
