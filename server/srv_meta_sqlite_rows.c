/* SPDX-License-Identifier: MIT */
/*
 * Rows of the SQLite metadata store's tree: node and entry rows to and
 * from structs, load/save helpers that stamp a fresh account seq on every
 * row they write, and the walks the tree ops share (subtree collection,
 * walking up to the root, dropping a link). All run on a connection the
 * caller holds: the writer's inside an op, or a read connection.
 */
#include "srv_meta.h"

#define CF_LOG_SUBSYS "meta"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cf_log.h"
#include "srv_meta_sqlite_int.h"

/* A walk up the tree longer than this means a cycle: a corrupt database. */
#define WALK_DEPTH_MAX (CF_PATH_MAX / 2 + 16)
/* Largest tree srv_sq_subtree collects (a sanity bound, not a policy). */
#define SUBTREE_MAX (64u * 1024 * 1024)

static bool is_root(const uint8_t *id)
{
	return memcmp(id, srv_root_id, SRV_NODE_ID_SIZE) == 0;
}

/* ----- rows ----- */

int srv_sq_node_from_row(sqlite3_stmt *st, int col, struct srv_node *out)
{
	const void *target;
	int len, rc;

	memset(out, 0, sizeof(*out));
	rc = srv_sq_col_fixed(st, col, out->id, SRV_NODE_ID_SIZE);
	out->kind = (enum srv_node_kind)sqlite3_column_int(st, col + 1);
	out->mode = (uint32_t)sqlite3_column_int64(st, col + 2);
	out->uid = (uint32_t)sqlite3_column_int64(st, col + 3);
	out->gid = (uint32_t)sqlite3_column_int64(st, col + 4);
	out->rdev = (uint64_t)sqlite3_column_int64(st, col + 5);
	out->size = (uint64_t)sqlite3_column_int64(st, col + 6);
	out->mtime_ns = sqlite3_column_int64(st, col + 7);
	out->ctime_ns = sqlite3_column_int64(st, col + 8);
	out->version = (uint64_t)sqlite3_column_int64(st, col + 9);
	out->status = (enum srv_node_status)sqlite3_column_int(st, col + 10);
	out->pending_device = sqlite3_column_int64(st, col + 11);
	out->nlink = (uint32_t)sqlite3_column_int64(st, col + 12);
	out->seq = (uint64_t)sqlite3_column_int64(st, col + 13);
	out->deleted = sqlite3_column_int64(st, col + 14);
	if (sqlite3_column_type(st, col + 15) != SQLITE_NULL) {
		target = sqlite3_column_blob(st, col + 15);
		len = sqlite3_column_bytes(st, col + 15);
		if (len < 0 || len > CF_PATH_MAX) {
			cf_err("corrupt row: symlink target of %d bytes", len);
			return -EIO;
		}
		if (len)
			memcpy(out->target, target, (size_t)len);
	}
	return rc;
}

int srv_sq_entry_from_row(sqlite3_stmt *st, int col, struct srv_entry *out)
{
	const void *name;
	int len, rc;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, col);
	rc = srv_sq_col_fixed(st, col + 1, out->parent, SRV_NODE_ID_SIZE);
	if (rc == 0)
		rc = srv_sq_col_fixed(st, col + 2, out->node, SRV_NODE_ID_SIZE);
	name = sqlite3_column_blob(st, col + 3);
	len = sqlite3_column_bytes(st, col + 3);
	if (rc == 0 && (!name || len <= 0 || len > CF_NAME_MAX)) {
		cf_err("corrupt row: entry %lld name of %d bytes",
		       (long long)out->id, len);
		rc = -EIO;
	}
	if (rc == 0) {
		memcpy(out->name, name, (size_t)len);
		out->name_len = (size_t)len;
	}
	out->seq = (uint64_t)sqlite3_column_int64(st, col + 4);
	out->deleted = sqlite3_column_int(st, col + 5) != 0;
	return rc;
}

int srv_sq_node_load(struct srv_sq_conn *c, int64_t user_id, const uint8_t *id,
		     struct srv_sq_node *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_row(c, ST_NODE_GET, &st, "iN", user_id, id);
	if (rc < 0)
		return rc;
	rc = srv_sq_node_from_row(st, 0, &out->n);
	out->trash_entry = sqlite3_column_int64(st, 16);
	sqlite3_reset(st);
	return rc;
}

int srv_sq_node_save(struct srv_sq_conn *c, int64_t user_id,
		     struct srv_sq_node *mn)
{
	const struct srv_node *n = &mn->n;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_seq_next(c, user_id, &mn->n.seq);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_NODE_UPDATE, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st,
				 mn->trash_entry ? "iNiiiuuiiuiiiuii"
						 : "iNiiiuuiiuiiiuiz",
				 user_id, n->id, (int64_t)n->mode,
				 (int64_t)n->uid, (int64_t)n->gid, n->rdev,
				 n->size, n->mtime_ns, n->ctime_ns, n->version,
				 (int64_t)n->status, n->pending_device,
				 (int64_t)n->nlink, n->seq, n->deleted,
				 mn->trash_entry);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc == 0 && sqlite3_changes(c->db) != 1)
		rc = -ENOENT;
	return rc;
}

int srv_sq_node_destroy(struct srv_sq_conn *c, int64_t user_id,
			const uint8_t *id)
{
	static const enum srv_sq_stmt steps[] = {
		ST_VBLOCKS_OF_NODE_DELETE,
		ST_VERSIONS_OF_NODE_DELETE,
		ST_NODE_DELETE,
	};
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	for (i = 0; i < CF_ARRAY_SIZE(steps) && rc == 0; i++) {
		rc = srv_sq_stmt(c, steps[i], &st);
		if (rc == 0)
			rc = srv_sq_bind(c, st, "iN", user_id, id);
		if (rc == 0)
			rc = srv_sq_exec(c, st);
	}
	return rc;
}

int srv_sq_entry_get(struct srv_sq_conn *c, int64_t user_id, int64_t id,
		     struct srv_entry *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_row(c, ST_ENTRY_GET, &st, "ii", user_id, id);
	if (rc < 0)
		return rc;
	rc = srv_sq_entry_from_row(st, 0, out);
	sqlite3_reset(st);
	return rc;
}

int srv_sq_entry_lookup(struct srv_sq_conn *c, int64_t user_id,
			const uint8_t *parent, const char *name, size_t len,
			struct srv_entry *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_row(c, ST_ENTRY_LOOKUP, &st, "iNb", user_id, parent, name, len);
	if (rc < 0)
		return rc;
	rc = srv_sq_entry_from_row(st, 0, out);
	sqlite3_reset(st);
	return rc;
}

int srv_sq_entry_save(struct srv_sq_conn *c, int64_t user_id,
		      struct srv_entry *e)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_seq_next(c, user_id, &e->seq);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_ENTRY_UPDATE, &st);
	if (rc == 0)
		/* a tombstone records when it was made, for gc_prune */
		rc = srv_sq_bind(c, st, "iiNbui", user_id, e->id, e->parent,
				 e->name, e->name_len, e->seq,
				 e->deleted ? CF_MAX(srv_sq_now_s(), 1) : 0);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc == 0 && sqlite3_changes(c->db) != 1)
		rc = -ENOENT;
	return rc;
}

int srv_sq_entry_insert(struct srv_sq_conn *c, int64_t user_id,
			struct srv_entry *e)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_seq_next(c, user_id, &e->seq);
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_ENTRY_INSERT, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iNbNu", user_id, e->parent, e->name,
				 e->name_len, e->node, e->seq);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc == 0) {
		e->id = sqlite3_last_insert_rowid(c->db);
		e->deleted = false;
	}
	return rc;
}

int srv_sq_subtree(struct srv_sq_conn *c, int64_t user_id, const uint8_t *dir,
		   struct srv_sq_item **out, size_t *out_count)
{
	struct srv_sq_item *items = NULL, *grown;
	size_t count = 0, cap = 0, next = 0;
	uint8_t cur[SRV_NODE_ID_SIZE];
	sqlite3_stmt *st;
	int rc = 0;

	*out = NULL;
	*out_count = 0;
	memcpy(cur, dir, sizeof(cur));
	for (;;) {
		rc = srv_sq_stmt(c, ST_DIR_CHILDREN, &st);
		if (rc == 0)
			rc = srv_sq_bind(c, st, "iN", user_id, cur);
		while (rc == 0 && (rc = srv_sq_step(c, st)) > 0) {
			if (count == cap) {
				cap = cap ? cap * 2 : 64;
				if (cap > SUBTREE_MAX) {
					cf_err("tree below a directory too "
					       "large or cyclic");
					rc = -EIO;
					break;
				}
				grown = realloc(items, cap * sizeof(*items));
				if (!grown) {
					rc = -ENOMEM;
					break;
				}
				items = grown;
			}
			items[count].entry = sqlite3_column_int64(st, 0);
			rc = srv_sq_col_fixed(st, 1, items[count].node,
					      SRV_NODE_ID_SIZE);
			items[count].kind = sqlite3_column_int(st, 2);
			count++;
		}
		sqlite3_reset(st);
		if (rc < 0)
			goto out;
		/* Breadth first: descend into the next directory found. */
		while (next < count && items[next].kind != SRV_NODE_DIR)
			next++;
		if (next == count)
			break;
		memcpy(cur, items[next++].node, sizeof(cur));
	}
	*out = items;
	*out_count = count;
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

/* ----- shared tree helpers ----- */

int srv_sq_dir_load(struct srv_sq_conn *c, int64_t user_id, const uint8_t *id,
		    struct srv_sq_node *out)
{
	int rc;

	rc = srv_sq_node_load(c, user_id, id, out);
	if (rc < 0)
		return rc;
	if (out->n.deleted)
		return -ENOENT;
	if (out->n.kind != SRV_NODE_DIR)
		return -ENOTDIR;
	return 0;
}

int srv_sq_dir_touch(struct srv_sq_conn *c, int64_t user_id, const uint8_t *id,
		     int nlink_delta, int64_t now_ns)
{
	struct srv_sq_node dir;
	int rc;

	rc = srv_sq_node_load(c, user_id, id, &dir);
	if (rc < 0)
		return rc;
	dir.n.mtime_ns = now_ns;
	dir.n.ctime_ns = now_ns;
	dir.n.nlink = (uint32_t)((int64_t)dir.n.nlink + nlink_delta);
	return srv_sq_node_save(c, user_id, &dir);
}

int srv_sq_walk_up(struct srv_sq_conn *c, int64_t user_id, const uint8_t *start,
		   const uint8_t *stop)
{
	uint8_t cur[SRV_NODE_ID_SIZE];
	sqlite3_stmt *st;
	int depth, rc;

	memcpy(cur, start, sizeof(cur));
	for (depth = 0; depth < WALK_DEPTH_MAX; depth++) {
		if (stop && memcmp(cur, stop, sizeof(cur)) == 0)
			return SRV_SQ_WALK_HIT;
		if (is_root(cur))
			return SRV_SQ_WALK_ROOT;
		rc = srv_sq_stmt(c, ST_ENTRY_PARENT_OF, &st);
		if (rc == 0)
			rc = srv_sq_bind(c, st, "iN", user_id, cur);
		if (rc == 0)
			rc = srv_sq_step(c, st);
		if (rc == 0)
			return SRV_SQ_WALK_DETACHED;
		if (rc < 0)
			return rc;
		rc = srv_sq_col_fixed(st, 0, cur, sizeof(cur));
		sqlite3_reset(st);
		if (rc < 0)
			return rc;
	}
	cf_err("user %lld: directory chain too deep (a cycle?)",
	       (long long)user_id);
	return -EIO;
}

int srv_sq_drop_link(struct srv_sq_conn *c, int64_t user_id,
		     const uint8_t *node, int64_t entry_id, int64_t now)
{
	struct srv_sq_node mn;
	int rc;

	rc = srv_sq_node_load(c, user_id, node, &mn);
	if (rc < 0)
		return rc;
	mn.n.ctime_ns = srv_sq_now_ns();
	if (mn.n.kind != SRV_NODE_DIR && mn.n.nlink > 0)
		mn.n.nlink--;
	if (mn.n.kind == SRV_NODE_DIR || mn.n.nlink == 0) {
		mn.n.deleted = now > 0 ? now : 1;
		mn.trash_entry = entry_id;
	}
	return srv_sq_node_save(c, user_id, &mn);
}
