/* SPDX-License-Identifier: MIT */
/*
 * The trash and retention of the SQLite metadata store: listing, restoring
 * and purging trashed nodes, and gc_prune (old versions and expired trash,
 * in bounded batches so the writer never stalls other ops for long).
 *
 * A trashed node keeps its versions and, for a directory, the whole tree
 * below it (those rows stay as they were: only the top entry moved). A
 * restore revives the top entry's tombstone and re-stamps the tree with
 * fresh seqs so devices that dropped it see it again; a purge deletes the
 * tree, keeping hard-linked files that still have a link elsewhere.
 */
#include "srv_meta.h"

#define CF_LOG_SUBSYS "meta"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cf_log.h"
#include "srv_meta_sqlite_int.h"

/* Rows gc_prune handles per writer op. */
#define PRUNE_VERSIONS_BATCH 512
#define PRUNE_NODES_BATCH    64
#define PRUNE_ENTRIES_BATCH  512

static struct srv_sq *sq_of(struct srv_meta *m)
{
	return (struct srv_sq *)m;
}

int srv_sq_trash_list(struct srv_meta *m, int64_t user_id, srv_meta_trash_fn fn,
		      void *arg)
{
	struct srv_sq_conn *c = NULL;
	struct srv_trash_item t;
	const void *name;
	sqlite3_stmt *st;
	int rc, len;

	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_stmt(c, ST_TRASH_LIST, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "i", user_id);
	while (rc == 0 && (rc = srv_sq_step(c, st)) > 0) {
		memset(&t, 0, sizeof(t));
		rc = srv_sq_col_fixed(st, 0, t.node, SRV_NODE_ID_SIZE);
		t.kind = (enum srv_node_kind)sqlite3_column_int(st, 1);
		t.size = (uint64_t)sqlite3_column_int64(st, 2);
		t.deleted = sqlite3_column_int64(st, 3);
		if (rc == 0 && sqlite3_column_type(st, 4) != SQLITE_NULL)
			rc = srv_sq_col_fixed(st, 4, t.parent,
					      SRV_NODE_ID_SIZE);
		name = sqlite3_column_blob(st, 5);
		len = sqlite3_column_bytes(st, 5);
		if (name && len > 0 && len <= CF_NAME_MAX) {
			memcpy(t.name, name, (size_t)len);
			t.name_len = (size_t)len;
		}
		if (rc == 0)
			rc = fn(arg, &t);
	}
	if (rc > 0)
		rc = 0;
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

/* Give every node and entry of the tree below dir a fresh seq. */
static int restamp_tree(struct srv_sq_conn *c, int64_t user_id,
			const uint8_t *dir)
{
	struct srv_sq_item *items = NULL;
	struct srv_sq_node mn;
	struct srv_entry e;
	size_t i, count = 0;
	int rc;

	rc = srv_sq_subtree(c, user_id, dir, &items, &count);
	for (i = 0; rc == 0 && i < count; i++) {
		rc = srv_sq_entry_get(c, user_id, items[i].entry, &e);
		if (rc == 0)
			rc = srv_sq_entry_save(c, user_id, &e);
		if (rc == 0)
			rc = srv_sq_node_load(c, user_id, items[i].node, &mn);
		if (rc == 0)
			rc = srv_sq_node_save(c, user_id, &mn);
	}
	free(items);
	return rc;
}

struct restore_args {
	int64_t user_id;
	const uint8_t *node;
	const uint8_t *parent;
	const char *name;
	size_t len;
	uint64_t seq;
};

static int restore_run(struct srv_sq_conn *c, void *arg)
{
	struct restore_args *a = arg;
	int64_t now_ns = srv_sq_now_ns();
	struct srv_sq_node mn, dir;
	struct srv_entry e, taken;
	bool have_entry, is_dir;
	int rc;

	rc = srv_sq_node_load(c, a->user_id, a->node, &mn);
	if (rc < 0)
		return rc;
	if (!mn.n.deleted)
		return -ENOENT;
	is_dir = mn.n.kind == SRV_NODE_DIR;
	memset(&e, 0, sizeof(e));
	rc = mn.trash_entry
		     ? srv_sq_entry_get(c, a->user_id, mn.trash_entry, &e)
		     : -ENOENT;
	if (rc < 0 && rc != -ENOENT)
		return rc;
	have_entry = rc == 0 && e.deleted;
	if (!have_entry && (!a->parent || !a->name))
		return -ENOENT; /* nowhere known to put it back */
	if (a->parent)
		memcpy(e.parent, a->parent, SRV_NODE_ID_SIZE);
	if (a->name) {
		memcpy(e.name, a->name, a->len);
		e.name[a->len] = '\0';
		e.name_len = a->len;
	}
	memcpy(e.node, a->node, SRV_NODE_ID_SIZE);

	rc = srv_sq_dir_load(c, a->user_id, e.parent, &dir);
	if (rc < 0)
		return rc;
	/* The new parent must hang from the root, and not from the node. */
	rc = srv_sq_walk_up(c, a->user_id, e.parent, a->node);
	if (rc < 0)
		return rc;
	if (rc == SRV_SQ_WALK_HIT)
		return is_dir ? -EINVAL : -ENOENT;
	if (rc == SRV_SQ_WALK_DETACHED)
		return -ENOENT;
	rc = srv_sq_entry_lookup(c, a->user_id, e.parent, e.name, e.name_len,
				 &taken);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;

	if (have_entry) {
		e.deleted = false;
		rc = srv_sq_entry_save(c, a->user_id, &e);
	} else {
		rc = srv_sq_entry_insert(c, a->user_id, &e);
	}
	if (rc < 0)
		return rc;
	mn.n.deleted = 0;
	mn.trash_entry = 0;
	mn.n.ctime_ns = now_ns;
	if (!is_dir)
		mn.n.nlink++;
	rc = srv_sq_node_save(c, a->user_id, &mn);
	if (rc == 0)
		rc = srv_sq_dir_touch(c, a->user_id, e.parent, is_dir ? 1 : 0,
				      now_ns);
	if (rc == 0 && is_dir)
		rc = restamp_tree(c, a->user_id, a->node);
	if (rc == 0)
		rc = srv_sq_seq_get(c, a->user_id, &a->seq);
	return rc;
}

int srv_sq_trash_restore(struct srv_meta *m, int64_t user_id,
			 const uint8_t *node, const uint8_t *parent,
			 const char *name, size_t name_len, uint64_t *out_seq)
{
	struct restore_args a = { user_id, node, parent, name, name_len, 0 };
	int rc;

	if (name && (name_len == 0 || name_len > CF_NAME_MAX))
		return -EINVAL;
	rc = srv_sq_write(sq_of(m), restore_run, &a);
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	return rc;
}

/*
 * Delete a trashed node for good: its versions, and for a directory the
 * tree below it. A file below with links outside the tree loses one link
 * per entry removed and stays.
 */
static int purge_node(struct srv_sq_conn *c, int64_t user_id,
		      const uint8_t *node, int kind)
{
	struct srv_sq_item *items = NULL;
	struct srv_sq_node mn;
	sqlite3_stmt *st;
	size_t i, count = 0;
	int rc = 0;

	if (kind == SRV_NODE_DIR)
		rc = srv_sq_subtree(c, user_id, node, &items, &count);
	for (i = 0; rc == 0 && i < count; i++) {
		rc = srv_sq_stmt(c, ST_ENTRY_DELETE, &st);
		if (rc == 0)
			rc = srv_sq_bind(c, st, "ii", user_id, items[i].entry);
		if (rc == 0)
			rc = srv_sq_exec(c, st);
		if (rc < 0)
			break;
		if (items[i].kind == SRV_NODE_DIR) {
			rc = srv_sq_node_destroy(c, user_id, items[i].node);
			continue;
		}
		rc = srv_sq_node_load(c, user_id, items[i].node, &mn);
		if (rc < 0)
			break;
		if (mn.n.nlink > 0)
			mn.n.nlink--;
		if (mn.n.nlink == 0 && !mn.n.deleted) {
			rc = srv_sq_node_destroy(c, user_id, items[i].node);
		} else {
			mn.n.ctime_ns = srv_sq_now_ns();
			rc = srv_sq_node_save(c, user_id, &mn);
		}
	}
	free(items);
	if (rc == 0)
		rc = srv_sq_node_destroy(c, user_id, node);
	return rc;
}

struct purge_args {
	int64_t user_id;
	const uint8_t *node;
	uint64_t seq;
};

static int purge_run(struct srv_sq_conn *c, void *arg)
{
	struct purge_args *a = arg;
	struct srv_sq_node mn;
	int rc;

	rc = srv_sq_node_load(c, a->user_id, a->node, &mn);
	if (rc < 0)
		return rc;
	if (!mn.n.deleted)
		return -ENOENT;
	rc = purge_node(c, a->user_id, a->node, (int)mn.n.kind);
	if (rc == 0)
		rc = srv_sq_seq_get(c, a->user_id, &a->seq);
	return rc;
}

int srv_sq_trash_purge(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		       uint64_t *out_seq)
{
	struct purge_args a = { user_id, node, 0 };
	int rc;

	rc = srv_sq_write(sq_of(m), purge_run, &a);
	if (rc == 0 && out_seq)
		*out_seq = a.seq;
	return rc;
}

/* ----- gc_prune ----- */

struct version_key {
	int64_t user_id;
	uint8_t node[SRV_NODE_ID_SIZE];
	int64_t version;
};

struct prune_args {
	int64_t cutoff;
	uint64_t done; /* rows handled by this batch */
	struct version_key from; /* versions: where the next batch starts */
	bool more; /* versions: rows remain after from */
};

static bool same_node(const struct version_key *a, const struct version_key *b)
{
	return a->user_id == b->user_id &&
	       memcmp(a->node, b->node, SRV_NODE_ID_SIZE) == 0;
}

/*
 * One batch of the versions walk in key order: a version goes when the
 * next version of its node was created before the cutoff (that is when it
 * was superseded). The last row read has no successor in this batch: the
 * next batch starts there.
 */
static int prune_versions_run(struct srv_sq_conn *c, void *arg)
{
	static const enum srv_sq_stmt steps[] = {
		ST_VBLOCKS_OF_VERSION_DELETE,
		ST_VERSION_DELETE,
	};
	struct version_key keys[PRUNE_VERSIONS_BATCH];
	int64_t created[PRUNE_VERSIONS_BATCH];
	struct prune_args *a = arg;
	size_t i, j, count = 0;
	sqlite3_stmt *st;
	int rc;

	a->done = 0;
	a->more = false;
	rc = srv_sq_stmt(c, ST_VERSIONS_FROM, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "ibii", a->from.user_id, a->from.node,
				 sizeof(a->from.node), a->from.version,
				 (int64_t)PRUNE_VERSIONS_BATCH);
	while (rc == 0 && count < PRUNE_VERSIONS_BATCH &&
	       (rc = srv_sq_step(c, st)) > 0) {
		keys[count].user_id = sqlite3_column_int64(st, 0);
		rc = srv_sq_col_fixed(st, 1, keys[count].node,
				      SRV_NODE_ID_SIZE);
		keys[count].version = sqlite3_column_int64(st, 2);
		created[count] = sqlite3_column_int64(st, 3);
		count++;
	}
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	for (i = 0; i + 1 < count; i++) {
		if (!same_node(&keys[i], &keys[i + 1]) ||
		    created[i + 1] >= a->cutoff)
			continue;
		for (j = 0; j < CF_ARRAY_SIZE(steps); j++) {
			rc = srv_sq_stmt(c, steps[j], &st);
			if (rc == 0)
				rc = srv_sq_bind(c, st, "iNi", keys[i].user_id,
						 keys[i].node, keys[i].version);
			if (rc == 0)
				rc = srv_sq_exec(c, st);
			if (rc < 0)
				return rc;
		}
		a->done++;
	}
	if (count == PRUNE_VERSIONS_BATCH) {
		a->from = keys[count - 1];
		a->more = true;
	}
	return 0;
}

static int prune_trash_run(struct srv_sq_conn *c, void *arg)
{
	struct version_key keys[PRUNE_NODES_BATCH]; /* version unused */
	struct prune_args *a = arg;
	struct srv_sq_node mn;
	size_t i, count = 0;
	sqlite3_stmt *st;
	int rc;

	a->done = 0;
	rc = srv_sq_stmt(c, ST_TRASH_EXPIRED, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "ii", a->cutoff,
				 (int64_t)PRUNE_NODES_BATCH);
	while (rc == 0 && count < PRUNE_NODES_BATCH &&
	       (rc = srv_sq_step(c, st)) > 0) {
		keys[count].user_id = sqlite3_column_int64(st, 0);
		rc = srv_sq_col_fixed(st, 1, keys[count].node,
				      SRV_NODE_ID_SIZE);
		count++;
	}
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	for (i = 0; i < count; i++) {
		rc = srv_sq_node_load(c, keys[i].user_id, keys[i].node, &mn);
		if (rc == 0)
			rc = purge_node(c, keys[i].user_id, keys[i].node,
					(int)mn.n.kind);
		if (rc < 0)
			return rc;
	}
	a->done = count;
	return 0;
}

/*
 * One batch of entry tombstones made before the cutoff: each goes, and its
 * account's feed horizon rises to its seq, so a feed asked from below it
 * is told to resync (srv_sq_tree_changes) instead of missing the deletion.
 */
static int prune_tombstones_run(struct srv_sq_conn *c, void *arg)
{
	struct tomb {
		int64_t user_id, id;
		uint64_t seq;
	} t[PRUNE_ENTRIES_BATCH];
	struct prune_args *a = arg;
	size_t i, count = 0;
	sqlite3_stmt *st;
	int rc;

	a->done = 0;
	rc = srv_sq_stmt(c, ST_TOMBSTONES_EXPIRED, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "ii", a->cutoff,
				 (int64_t)PRUNE_ENTRIES_BATCH);
	while (rc == 0 && count < PRUNE_ENTRIES_BATCH &&
	       (rc = srv_sq_step(c, st)) > 0) {
		t[count].user_id = sqlite3_column_int64(st, 0);
		t[count].id = sqlite3_column_int64(st, 1);
		t[count].seq = (uint64_t)sqlite3_column_int64(st, 2);
		count++;
		rc = 0;
	}
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	for (i = 0; i < count; i++) {
		rc = srv_sq_stmt(c, ST_ENTRY_DELETE, &st);
		if (rc == 0)
			rc = srv_sq_bind(c, st, "ii", t[i].user_id, t[i].id);
		if (rc == 0)
			rc = srv_sq_exec(c, st);
		if (rc == 0)
			rc = srv_sq_stmt(c, ST_FEED_HORIZON_RAISE, &st);
		if (rc == 0)
			rc = srv_sq_bind(c, st, "iu", t[i].user_id, t[i].seq);
		if (rc == 0)
			rc = srv_sq_exec(c, st);
		if (rc < 0)
			return rc;
	}
	a->done = count;
	return 0;
}

int srv_sq_gc_prune(struct srv_meta *m, int64_t now, int64_t retention,
		    uint64_t *out_versions, uint64_t *out_nodes)
{
	struct prune_args a = { .cutoff = now - retention };
	uint64_t versions = 0, nodes = 0, tombstones = 0;
	int rc;

	if (out_versions)
		*out_versions = 0;
	if (out_nodes)
		*out_nodes = 0;
	if (retention < 0)
		return -EINVAL;
	/* Trash first: purging a node also drops its old versions. */
	do {
		rc = srv_sq_write(sq_of(m), prune_trash_run, &a);
		nodes += a.done;
	} while (rc == 0 && a.done == PRUNE_NODES_BATCH);
	do {
		rc = srv_sq_write(sq_of(m), prune_tombstones_run, &a);
		tombstones += a.done;
	} while (rc == 0 && a.done == PRUNE_ENTRIES_BATCH);
	a.from.user_id = INT64_MIN;
	a.from.version = INT64_MIN;
	do {
		rc = srv_sq_write(sq_of(m), prune_versions_run, &a);
		versions += a.done;
	} while (rc == 0 && a.more);
	if (rc == 0)
		cf_info("gc: pruned %llu versions, %llu trashed nodes and "
			"%llu entry tombstones",
			(unsigned long long)versions, (unsigned long long)nodes,
			(unsigned long long)tombstones);
	if (out_versions)
		*out_versions = versions;
	if (out_nodes)
		*out_nodes = nodes;
	return rc;
}
