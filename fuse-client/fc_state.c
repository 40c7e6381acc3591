/* SPDX-License-Identifier: MIT */
/*
 * The client state database on SQLite: one connection with lazily
 * prepared statements, transactions, the node and entry row helpers the
 * other fc_state_*.c files share, open and migration, and the reads.
 * fc_state_tree.c holds the tree changes (POSIX errnos, link counts,
 * times, so fc_fs only translates), fc_state_queue.c the chunk rows, the
 * outbox and the upload queue, fc_state_feed.c the change feed apply.
 *
 * One connection, guarded by st->lock (recursive), which every read and
 * every write transaction holds; SQLite's own locks are below it. No lock
 * is held across a call out of this module (fc_state_readdir and
 * fc_state_evictable call back without it).
 */
#include "fc_state_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "cf_hex.h"

#define CF_LOG_SUBSYS "state"
#include "cf_log.h"

/* Generated from schema/client*.sql by schema/embed-client.awk. */
extern const char *const fc_schema_sql[];
extern const size_t fc_schema_count;

#define BUSY_TIMEOUT_MS 10000

/* In the order fc_state_row_read reads them: FC_STATE_NODE_NCOLS columns. */
#define NODE_COLS                                                     \
 "ino, id, kind, mode, uid, gid, rdev, size, atime, mtime, ctime, "   \
 "nlink, version, remote_version, manifest_version, dirty, pinned, "  \
 "pushed, gen, dirty_lo, dirty_hi, writing, due, claimed, attempts, " \
 "unlinked"
/* pending ops from seq ?1 on that name entry (parent ?2, name ?3) */
#define OP_NAMES_SLOT                                           \
 "state = 0 AND seq >= ?1 AND ((parent = ?2 AND name = ?3) OR " \
 "(parent2 = ?2 AND name2 = ?3))"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SYNC_FULL] = "PRAGMA synchronous = FULL",
	[S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
	[S_NODE_GET] = "SELECT " NODE_COLS " FROM nodes WHERE ino = ?1",
	[S_NODE_GET_ID] = "SELECT " NODE_COLS " FROM nodes WHERE id = ?1",
	[S_NODE_INS] = "INSERT INTO nodes (id, kind, mode, uid, gid, rdev, "
		       "size, atime, mtime, ctime, nlink, target, version, "
		       "remote_version, manifest_version, pushed, dirty, gen, "
		       "writing, due) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
		       "?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
		       "?20)",
	[S_NODE_PUT] = "UPDATE nodes SET kind = ?2, mode = ?3, uid = ?4, "
		       "gid = ?5, rdev = ?6, size = ?7, atime = ?8, "
		       "mtime = ?9, ctime = ?10, nlink = ?11, version = ?12, "
		       "remote_version = ?13, manifest_version = ?14, "
		       "dirty = ?15, pinned = ?16, pushed = ?17, gen = ?18, "
		       "dirty_lo = ?19, dirty_hi = ?20, writing = ?21, "
		       "due = ?22, claimed = ?23, attempts = ?24, "
		       "unlinked = ?25, last_error = ?26 WHERE ino = ?1",
	[S_NODE_DEL] = "DELETE FROM nodes WHERE ino = ?1",
	/* one column: a full row write would touch every index of nodes */
	[S_NODE_PUSHED] = "UPDATE nodes SET pushed = 1 WHERE id = ?1 AND "
			  "pushed = 0",
	[S_TARGET_GET] = "SELECT kind, target FROM nodes WHERE ino = ?1",
	[S_TARGET_SET] = "UPDATE nodes SET target = ?2 WHERE ino = ?1",
	[S_ENTRY_GET] = "SELECT eid, ino, remote FROM entries "
			"WHERE parent = ?1 AND name = ?2",
	[S_ENTRY_INS] = "INSERT INTO entries (parent, name, ino, remote) "
			"VALUES (?1, ?2, ?3, ?4)",
	[S_ENTRY_DEL] = "DELETE FROM entries WHERE eid = ?1",
	[S_ENTRY_MOVE] = "UPDATE entries SET parent = ?2, name = ?3, "
			 "remote = ?4 WHERE eid = ?1",
	[S_ENTRY_SET_INO] = "UPDATE entries SET ino = ?2, remote = NULL "
			    "WHERE eid = ?1",
	[S_ENTRY_FIRST] = "SELECT parent, name FROM entries WHERE ino = ?1 "
			  "ORDER BY eid LIMIT 1",
	[S_ENTRY_BY_REMOTE] = "SELECT eid, parent, name, ino FROM entries "
			      "WHERE remote = ?1",
	[S_ENTRY_SET_REMOTE] = "UPDATE entries SET remote = ?2 "
			       "WHERE eid = ?1",
	[S_ENTRIES_DEL_INO] = "DELETE FROM entries WHERE ino = ?1",
	[S_DIR_COUNT] = "SELECT count(*) FROM entries WHERE parent = ?1",
	[S_DIR_ANY] = "SELECT 1 FROM entries WHERE parent = ?1 LIMIT 1",
	[S_READDIR] = "SELECT e.eid, e.name, n.ino, n.id, n.kind, n.mode, "
		      "n.uid, n.gid, n.rdev, n.size, n.atime, n.mtime, "
		      "n.ctime, n.nlink, n.version, n.remote_version, "
		      "n.manifest_version, n.dirty, n.pinned, n.pushed "
		      "FROM entries e JOIN nodes n ON n.ino = e.ino "
		      "WHERE e.parent = ?1 AND e.eid > ?2 ORDER BY e.eid",
	[S_LOOKUP] = "SELECT n.ino FROM entries e JOIN nodes n "
		     "ON n.ino = e.ino WHERE e.parent = ?1 AND e.name = ?2",
	[S_CHUNKS_RANGE] = "SELECT idx, off, size, block, present FROM chunks "
			   "WHERE ino = ?1 AND off >= (SELECT coalesce(max(off)"
			   ", 0) FROM chunks WHERE ino = ?1 AND off <= ?2) "
			   "AND off < ?3 ORDER BY off",
	[S_CHUNKS_DEL_FROM] = "DELETE FROM chunks WHERE ino = ?1 AND off >= ?2",
	[S_CHUNKS_DEL_ALL] = "DELETE FROM chunks WHERE ino = ?1",
	[S_CHUNK_INS] = "INSERT INTO chunks (ino, idx, off, size, block, "
			"present) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_CHUNK_MARK] = "UPDATE chunks SET present = ?3 WHERE ino = ?1 "
			 "AND idx = ?2",
	[S_CHUNKS_MISSING] = "SELECT count(*) FROM chunks WHERE ino = ?1 "
			     "AND present = 0",
	[S_CHUNKS_CLEAR] = "UPDATE chunks SET present = 0 WHERE ino = ?1 "
			   "AND present = 1",
	[S_CHUNKS_ANY_PRESENT] = "SELECT 1 FROM chunks WHERE ino = ?1 "
				 "AND present = 1 LIMIT 1",
	[S_OP_INS] = "INSERT INTO outbox (kind, node, parent, name, parent2, "
		     "name2, flags, node_kind, mode, uid, gid, rdev, mtime, "
		     "target) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
		     "?11, ?12, ?13, ?14)",
	[S_OP_PEEK] = "SELECT seq, kind, node, parent, name, parent2, name2, "
		      "flags, node_kind, mode, uid, gid, rdev, mtime, target, "
		      "attempts, retry_at FROM outbox WHERE state = 0 "
		      "ORDER BY seq LIMIT ?1",
	[S_OP_GET] = "SELECT kind, node FROM outbox WHERE seq = ?1 "
		     "AND state = 0",
	[S_OP_DEL] = "DELETE FROM outbox WHERE seq = ?1",
	[S_OP_RETRY] = "UPDATE outbox SET attempts = attempts + 1, "
		       "retry_at = ?2, error = ?3 WHERE seq = ?1 AND state = 0",
	[S_OP_FAIL] = "UPDATE outbox SET state = 2, attempts = attempts + 1, "
		      "error = ?2, message = ?3 WHERE seq = ?1 AND state = 0",
	[S_OP_COUNT_STATE] = "SELECT count(*) FROM outbox WHERE state = ?1",
	[S_OP_SLOT] = "SELECT kind, parent, name FROM outbox WHERE seq = ?1 "
		      "AND state = 0",
	[S_OP_NAMES] = "SELECT 1 FROM outbox WHERE " OP_NAMES_SLOT " LIMIT 1",
	[S_OP_RENAME] = "UPDATE outbox SET name = CASE WHEN parent = ?2 AND "
			"name = ?3 THEN ?4 ELSE name END, name2 = CASE WHEN "
			"parent2 = ?2 AND name2 = ?3 THEN ?4 ELSE name2 END "
			"WHERE " OP_NAMES_SLOT,
	[S_CLAIM_PICK] = "SELECT ino FROM nodes WHERE due IS NOT NULL AND "
			 "due <= ?1 AND claimed = 0 AND writing = 0 AND "
			 "pushed = 1 AND nlink > 0 ORDER BY due LIMIT 1",
	[S_NEXT_DUE] = "SELECT min(due) FROM nodes WHERE due IS NOT NULL AND "
		       "claimed = 0 AND writing = 0 AND pushed = 1 AND "
		       "nlink > 0",
	[S_UNPUSHED_DUE] = "SELECT 1 FROM nodes WHERE due IS NOT NULL AND "
			   "pushed = 0 AND nlink > 0 LIMIT 1",
	[S_QUEUE_STATS] = "SELECT count(*), total(size) FROM nodes "
			  "WHERE dirty = 1 AND nlink > 0",
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[S_META_SET] = "INSERT OR REPLACE INTO meta (key, value) "
		       "VALUES (?1, ?2)",
	[S_TOUCH] = "UPDATE nodes SET used = ?2 WHERE ino = ?1",
	[S_EVICTABLE] = "SELECT " NODE_COLS " FROM nodes WHERE dirty = 0 AND "
			"pinned = 0 AND kind = 1 AND EXISTS (SELECT 1 FROM "
			"chunks c WHERE c.ino = nodes.ino AND c.present = 1) "
			"ORDER BY used LIMIT ?1",
	[S_ORPHANS] = "SELECT " NODE_COLS " FROM nodes WHERE unlinked = 1 "
		      "AND nlink = 0",
	[S_DUE_NODES] = "UPDATE nodes SET due = ?1 WHERE due IS NOT NULL AND "
			"due > ?1",
	[S_DUE_OPS] = "UPDATE outbox SET retry_at = 0 WHERE state = 0",
	[S_RECOVER] = "UPDATE nodes SET claimed = 0, writing = 0, "
		      "dirty_lo = 0, dirty_hi = size, "
		      "due = coalesce(due, ?1) "
		      "WHERE (claimed = 1 OR writing = 1) AND nlink > 0",
	[S_DEFER_PUT] = "INSERT OR REPLACE INTO feed_defer (id, parent, node, "
			"name) VALUES (?1, ?2, ?3, ?4)",
	[S_DEFER_DEL] = "DELETE FROM feed_defer WHERE id = ?1",
	[S_DEFER_ALL] = "SELECT id, parent, node, name FROM feed_defer "
			"ORDER BY id",
	[S_ENTRY_SEEN] = "UPDATE entries SET seen = ?2 WHERE remote = ?1",
	[S_ENTRIES_UNSEEN] = "SELECT eid, parent, name, ino FROM entries "
			     "WHERE remote IS NOT NULL AND seen != ?1",
};

/* ----- small helpers ----- */

static const char *const kind_names[] = {
	[FC_KIND_FILE] = "file",       [FC_KIND_DIR] = "dir",
	[FC_KIND_SYMLINK] = "symlink", [FC_KIND_FIFO] = "fifo",
	[FC_KIND_CHR] = "chr",	       [FC_KIND_BLK] = "blk",
	[FC_KIND_SOCK] = "sock",
};

bool fc_state_kind_ok(int kind)
{
	return kind >= FC_KIND_FILE && kind <= FC_KIND_SOCK;
}

const char *fc_kind_name(enum fc_kind kind)
{
	return fc_state_kind_ok((int)kind) ? kind_names[kind] : NULL;
}

enum fc_kind fc_kind_from_mode(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return FC_KIND_FILE;
	case S_IFDIR:
		return FC_KIND_DIR;
	case S_IFLNK:
		return FC_KIND_SYMLINK;
	case S_IFIFO:
		return FC_KIND_FIFO;
	case S_IFCHR:
		return FC_KIND_CHR;
	case S_IFBLK:
		return FC_KIND_BLK;
	case S_IFSOCK:
		return FC_KIND_SOCK;
	}
	return 0;
}

uint32_t fc_kind_to_mode(enum fc_kind kind)
{
	static const uint32_t modes[] = {
		[FC_KIND_FILE] = S_IFREG,    [FC_KIND_DIR] = S_IFDIR,
		[FC_KIND_SYMLINK] = S_IFLNK, [FC_KIND_FIFO] = S_IFIFO,
		[FC_KIND_CHR] = S_IFCHR,     [FC_KIND_BLK] = S_IFBLK,
		[FC_KIND_SOCK] = S_IFSOCK,
	};

	return fc_state_kind_ok((int)kind) ? modes[kind] : 0;
}

void fc_id_to_hex(const uint8_t id[FC_ID_SIZE], char out[FC_ID_HEX_SIZE])
{
	cf_hex_encode(id, FC_ID_SIZE, out);
}

int fc_id_from_hex(const char *hex, size_t len, uint8_t out[FC_ID_SIZE])
{
	return cf_hex_decode(hex, len, out, FC_ID_SIZE);
}

int fc_id_generate(uint8_t out[FC_ID_SIZE])
{
	size_t got = 0;
	ssize_t n;

	while (got < FC_ID_SIZE) {
		n = getrandom(out + got, FC_ID_SIZE - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		got += (size_t)n;
	}
	return 0;
}

/* The one translation of SQLite result codes into errno. */
static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	}
	return -EIO;
}

int fc_state_sql_fail(struct conn *c, int rc, const char *what)
{
	int err = sql_errno(rc);

	if (err != -EEXIST)
		cf_err("%s: %s", what,
		       c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
	return err;
}

/* ----- connections ----- */

void fc_state_conn_free(struct conn *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	sqlite3_close_v2(c->db);
	free(c);
}

/*
 * The one connection. Exclusive locking: the daemon is the database's only
 * user, so SQLite keeps the WAL index in memory and takes no file lock per
 * transaction, and the page cache stays warm because no other connection
 * can change the file under it (with a connection per thread, every write
 * made every other thread re-read its pages).
 */
int fc_state_conn_open(const char *path, struct conn **out)
{
	static const char setup[] = "PRAGMA locking_mode = EXCLUSIVE;"
				    "PRAGMA synchronous = NORMAL;"
				    "PRAGMA foreign_keys = OFF;"
				    "PRAGMA temp_store = MEMORY;"
				    "PRAGMA cache_size = -16384;"
				    "PRAGMA wal_autocheckpoint = 0;";
	char limit[64];
	struct conn *c;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		rc = fc_state_sql_fail(c, rc, "open state database");
		goto out;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	rc = sqlite3_exec(c->db, setup, NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		snprintf(limit, sizeof(limit), "PRAGMA journal_size_limit = %d",
			 FC_STATE_LOG_LIMIT);
		rc = sqlite3_exec(c->db, limit, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		rc = fc_state_sql_fail(c, rc, "configure state database");
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	fc_state_conn_free(c);
	return rc;
}

void fc_state_read_begin(struct fc_state *st, struct conn **out)
{
	pthread_mutex_lock(&st->lock);
	*out = st->conn;
}

int fc_state_read_end(struct fc_state *st, int rc)
{
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* The prepared statement id of c, reset and unbound, or NULL (logged). */
sqlite3_stmt *fc_state_stmt(struct conn *c, enum stmt_id id)
{
	sqlite3_stmt *s = c->stmts[id];
	int rc;

	if (s)
		return s;
	rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
				SQLITE_PREPARE_PERSISTENT, &s, NULL);
	if (rc != SQLITE_OK) {
		cf_err("prepare statement %d: %s", (int)id,
		       sqlite3_errmsg(c->db));
		return NULL;
	}
	c->stmts[id] = s;
	return s;
}

void fc_state_reset(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* Run a statement that returns no rows. 0 or -errno. */
int fc_state_run(struct conn *c, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	fc_state_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return fc_state_sql_fail(c, rc, what);
	return 0;
}

int fc_state_run_changed(struct conn *c, sqlite3_stmt *s, const char *what)
{
	int rc = fc_state_run(c, s, what);

	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	return rc;
}

int fc_state_count(struct conn *c, sqlite3_stmt *s, const char *what,
		   uint64_t *out)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = fc_state_sql_fail(c, rc, what);
	}
	fc_state_reset(s);
	return rc;
}

int fc_state_exec(struct conn *c, enum stmt_id id)
{
	sqlite3_stmt *s = fc_state_stmt(c, id);

	if (!s)
		return -EIO;
	return fc_state_run(c, s, stmt_sql[id]);
}

/* Begin a write transaction: holds st->lock until tx_end. */
int fc_state_tx_begin(struct fc_state *st, struct conn **out)
{
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	rc = fc_state_exec(c, S_BEGIN);
	if (rc < 0)
		return fc_state_read_end(st, rc);
	*out = c;
	return 0;
}

/* Commit (rc >= 0) or roll back (rc < 0); returns the final rc. */
int fc_state_tx_end(struct fc_state *st, struct conn *c, int rc)
{
	int rc2;

	if (rc >= 0) {
		rc2 = fc_state_exec(c, S_COMMIT);
		if (rc2 < 0) {
			fc_state_exec(c, S_ROLLBACK);
			rc = rc2;
		}
	} else {
		fc_state_exec(c, S_ROLLBACK);
	}
	return fc_state_read_end(st, rc);
}

int fc_state_tx_stmt(struct fc_state *st, enum stmt_id id, struct conn **out_c,
		     sqlite3_stmt **out_s)
{
	int rc = fc_state_tx_begin(st, out_c);

	if (rc < 0)
		return rc;
	*out_s = fc_state_stmt(*out_c, id);
	if (!*out_s)
		return fc_state_tx_end(st, *out_c, -EIO);
	return 0;
}

int fc_state_bind_blob(sqlite3_stmt *s, int i, const void *p, size_t size)
{
	return sqlite3_bind_blob64(s, i, p, size, SQLITE_STATIC);
}

/* Copy a blob column into out (size bytes exactly): 0 or -EPROTO. */
int fc_state_col_blob(sqlite3_stmt *s, int i, void *out, size_t size)
{
	const void *p = sqlite3_column_blob(s, i);

	if ((size_t)sqlite3_column_bytes(s, i) != size || !p)
		return -EPROTO;
	memcpy(out, p, size);
	return 0;
}

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
	return fc_state_run(c, s, "append op");
}

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

/* ----- open, migrate, close ----- */

static int user_version(struct conn *c, int *out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(s, 0);
		rc = 0;
	} else {
		rc = fc_state_sql_fail(c, rc, "read schema version");
	}
	sqlite3_finalize(s);
	return rc;
}

static int migrate(struct fc_state *st, struct conn *c, int64_t now)
{
	char pragma[64];
	struct row root;
	int v = 0, rc, n;
	size_t i;

	rc = user_version(c, &v);
	if (rc < 0)
		return rc;
	/*
	 * Small pages for a new database: a change writes whole pages into
	 * the log, and a create touches about eight of them.
	 */
	if (v == 0)
		sqlite3_exec(c->db, "PRAGMA page_size = 1024", NULL, NULL,
			     NULL);
	rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return fc_state_sql_fail(c, rc, "enable wal");
	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = user_version(c, &v);
	if (rc < 0)
		goto out;
	if (v < 0 || (size_t)v > fc_schema_count) {
		cf_err("state database schema %d is newer than this client "
		       "(%zu)",
		       v, fc_schema_count);
		rc = -EPROTO;
		goto out;
	}
	for (i = (size_t)v; i < fc_schema_count; i++) {
		rc = sqlite3_exec(c->db, fc_schema_sql[i], NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = fc_state_sql_fail(c, rc, "apply client schema");
			goto out;
		}
	}
	if ((size_t)v < fc_schema_count) {
		n = snprintf(pragma, sizeof(pragma),
			     "PRAGMA user_version = %zu", fc_schema_count);
		if (n < 0 || (size_t)n >= sizeof(pragma)) {
			rc = -EINVAL;
			goto out;
		}
		rc = sqlite3_exec(c->db, pragma, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = fc_state_sql_fail(c, rc, "set schema version");
			goto out;
		}
	}
	if (v == 0) {
		memset(&root, 0, sizeof(root));
		root.n.kind = FC_KIND_DIR;
		root.n.mode = 0755;
		root.n.uid = st->uid;
		root.n.gid = st->gid;
		root.n.atime_ns = root.n.mtime_ns = root.n.ctime_ns = now;
		root.n.nlink = 2;
		root.n.pushed = true;
		root.due = FC_STATE_DUE_NONE;
		rc = fc_state_node_insert(c, &root, NULL, 0);
		if (rc == 0 && root.n.ino != FC_ROOT_INO)
			rc = -EPROTO;
		if (rc < 0)
			goto out;
	}
	/* Uploads and write epochs a crash interrupted start over. */
	{
		sqlite3_stmt *s = fc_state_stmt(c, S_RECOVER);

		if (!s) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, now);
		rc = fc_state_run(c, s, "recover upload queue");
	}
out:
	return fc_state_tx_end(st, c, rc);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int fc_state_open(const char *path, uint32_t uid, uint32_t gid,
		  struct fc_state **out)
{
	pthread_mutexattr_t ma;
	struct fc_state *st;
	int rc;

	*out = NULL;
	if (!path || !*path)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->uid = uid;
	st->gid = gid;
	/*
	 * Recursive: a read helper may run inside a write transaction of the
	 * same thread (the tree changes read rows through the public reads).
	 */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	rc = fc_state_conn_open(path, &st->conn);
	if (rc == 0)
		rc = migrate(st, st->conn, now_ns());
	if (rc < 0) {
		fc_state_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void fc_state_set_device(struct fc_state *st, const char *device)
{
	snprintf(st->device, sizeof(st->device), "%s", device ? device : "");
}

void fc_state_close(struct fc_state *st)
{
	if (!st)
		return;
	if (st->conn)
		sqlite3_wal_checkpoint_v2(st->conn->db, NULL,
					  SQLITE_CHECKPOINT_TRUNCATE, NULL,
					  NULL);
	fc_state_conn_free(st->conn);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* ----- reads ----- */

int fc_state_getattr(struct fc_state *st, int64_t ino, struct fc_node *out)
{
	struct conn *c;
	struct row r;
	int rc;

	fc_state_read_begin(st, &c);
	rc = fc_state_row_get(c, ino, &r);
	if (rc == 0)
		*out = r.n;
	return fc_state_read_end(st, rc);
}

int fc_state_get_by_id(struct fc_state *st, const uint8_t id[FC_ID_SIZE],
		       struct fc_node *out)
{
	struct conn *c;
	struct row r;
	int rc;

	fc_state_read_begin(st, &c);
	rc = fc_state_row_get_id(c, id, &r);
	if (rc == 0)
		*out = r.n;
	return fc_state_read_end(st, rc);
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

int fc_state_lookup(struct fc_state *st, int64_t parent, const char *name,
		    size_t len, struct fc_node *out)
{
	struct conn *c;
	struct ent e;
	struct row r;
	int rc;

	if (len > CF_NAME_MAX)
		return -ENAMETOOLONG;
	fc_state_read_begin(st, &c);
	rc = fc_state_entry_get(c, parent, name, len, &e);
	if (rc == -ENOENT) {
		int rc2 = fc_state_need_dir(c, parent, NULL);

		return fc_state_read_end(st, rc2 < 0 ? rc2 : rc);
	}
	if (rc == 0)
		rc = fc_state_row_get(c, e.ino, &r);
	if (rc == 0)
		*out = r.n;
	return fc_state_read_end(st, rc);
}

/* A page of directory entries, read under the lock, handed out after. */
#define DIRENT_PAGE 64

struct dirent_row {
	int64_t eid;
	size_t name_len;
	char name[CF_NAME_MAX];
	struct row r;
};

/* Up to DIRENT_PAGE entries of dir after eid `after` into v. */
static int dirent_page(struct conn *c, int64_t dir, int64_t after,
		       struct dirent_row *v, size_t *out_n)
{
	sqlite3_stmt *s;
	size_t n = 0;
	int rc;

	*out_n = 0;
	rc = fc_state_need_dir(c, dir, NULL);
	if (rc < 0)
		return rc;
	s = fc_state_stmt(c, S_READDIR);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, dir);
	sqlite3_bind_int64(s, 2, after);
	while (n < DIRENT_PAGE && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct dirent_row *d = &v[n];

		d->eid = sqlite3_column_int64(s, 0);
		fc_state_col_copy(s, 1, d->name, sizeof(d->name),
				  &d->name_len);
		if (fc_state_row_read(s, 2, &d->r) == 0)
			n++;
	}
	fc_state_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fc_state_sql_fail(c, rc, "read directory");
	*out_n = n;
	return 0;
}

/*
 * Pages of entries are read under the lock and given to fn without it:
 * fn takes the file system's inode locks, which come before ours.
 */
int fc_state_readdir(struct fc_state *st, int64_t dir, int64_t cookie,
		     fc_dirent_fn fn, void *arg)
{
	struct dirent_row *v;
	int64_t after = cookie > 2 ? cookie - 2 : 0;
	struct conn *c;
	size_t n, i;
	int rc;

	v = malloc(DIRENT_PAGE * sizeof(*v));
	if (!v)
		return -ENOMEM;
	do {
		fc_state_read_begin(st, &c);
		rc = fc_state_read_end(st, dirent_page(c, dir, after, v, &n));
		for (i = 0; rc == 0 && i < n; i++) {
			rc = fn(arg, v[i].name, v[i].name_len, &v[i].r.n,
				v[i].eid + 2);
			after = v[i].eid;
		}
	} while (rc == 0 && n == DIRENT_PAGE);
	free(v);
	return rc;
}

int fc_state_dir_count(struct fc_state *st, int64_t dir, uint64_t *out)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	rc = fc_state_need_dir(c, dir, NULL);
	if (rc < 0)
		return fc_state_read_end(st, rc);
	s = fc_state_stmt(c, S_DIR_COUNT);
	if (!s)
		return fc_state_read_end(st, -EIO);
	sqlite3_bind_int64(s, 1, dir);
	return fc_state_read_end(st, fc_state_count(c, s, "count directory",
						    out));
}

int fc_state_readlink(struct fc_state *st, int64_t ino, struct cf_buf *out)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	s = fc_state_stmt(c, S_TARGET_GET);
	if (!s)
		return fc_state_read_end(st, -EIO);
	sqlite3_bind_int64(s, 1, ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_int(s, 0) != FC_KIND_SYMLINK)
			rc = -EINVAL;
		else
			rc = cf_buf_append(out, sqlite3_column_blob(s, 1),
					   (size_t)sqlite3_column_bytes(s, 1));
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = fc_state_sql_fail(c, rc, "read symlink");
	}
	fc_state_reset(s);
	return fc_state_read_end(st, rc);
}

int fc_state_name_of(struct fc_state *st, int64_t ino, int64_t *out_parent,
		     struct cf_buf *out)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	s = fc_state_stmt(c, S_ENTRY_FIRST);
	if (!s)
		return fc_state_read_end(st, -EIO);
	sqlite3_bind_int64(s, 1, ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out_parent = sqlite3_column_int64(s, 0);
		rc = cf_buf_append(out, sqlite3_column_blob(s, 1),
				   (size_t)sqlite3_column_bytes(s, 1));
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = fc_state_sql_fail(c, rc, "read name");
	}
	fc_state_reset(s);
	return fc_state_read_end(st, rc);
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

/* ----- outbox ----- */

void fc_state_col_copy(sqlite3_stmt *s, int i, void *out, size_t cap,
		       size_t *out_len)
{
	const void *p = sqlite3_column_blob(s, i);
	size_t n = (size_t)sqlite3_column_bytes(s, i);

	if (!p || n > cap)
		n = 0;
	if (n)
		memcpy(out, p, n);
	if (out_len)
		*out_len = n;
}

int fc_state_count_ops(struct conn *c, int state, uint64_t *out)
{
	sqlite3_stmt *s = fc_state_stmt(c, S_OP_COUNT_STATE);

	if (!s)
		return -EIO;
	sqlite3_bind_int(s, 1, state);
	return fc_state_count(c, s, "count ops", out);
}

/* ----- account ----- */

int fc_state_cursor_get(struct fc_state *st, uint64_t *out)
{
	struct conn *c;

	fc_state_read_begin(st, &c);
	return fc_state_read_end(st, fc_state_meta_get(c, "cursor", out));
}

int fc_state_cursor_set(struct fc_state *st, uint64_t cursor)
{
	struct conn *c;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_meta_set(c, "cursor", cursor);
	return fc_state_tx_end(st, c, rc);
}

int fc_state_usage_set(struct fc_state *st, uint64_t usage, uint64_t quota)
{
	struct conn *c;
	int rc;

	rc = fc_state_tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = fc_state_meta_set(c, "usage", usage);
	if (rc == 0)
		rc = fc_state_meta_set(c, "quota", quota);
	return fc_state_tx_end(st, c, rc);
}

int fc_state_usage_get(struct fc_state *st, uint64_t *out_usage,
		       uint64_t *out_quota)
{
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	rc = fc_state_meta_get(c, "usage", out_usage);
	if (rc == 0)
		rc = fc_state_meta_get(c, "quota", out_quota);
	return fc_state_read_end(st, rc);
}

int fc_state_checkpoint(struct fc_state *st)
{
	struct conn *c;
	int rc;

	fc_state_read_begin(st, &c);
	rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
				       NULL, NULL);
	if (rc != SQLITE_OK)
		rc = fc_state_sql_fail(c, rc, "checkpoint");
	return fc_state_read_end(st, rc);
}
