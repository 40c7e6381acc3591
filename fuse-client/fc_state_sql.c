/* SPDX-License-Identifier: MIT */
/*
 * The SQLite side of the client state database: every SQL statement in
 * one table (prepared once on first use, only ever bound), the one
 * translation of SQLite result codes into errno, the connection, running
 * statements, transactions, and binding and copying blob columns. The
 * other fc_state*.c files build on these; the locking rule is the one
 * fc_state.c states (st->lock, held by every read and every write
 * transaction).
 */
#include "fc_state_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define CF_LOG_SUBSYS "state"
#include "cf_log.h"
#include "cf_thread.h"
#include "cf_wal_gather.h"

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
			  "pushed = 0 RETURNING due",
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
	[S_OP_INS] =
		"INSERT INTO outbox (kind, node, parent, name, parent2, "
		"name2, flags, node_kind, mode, uid, gid, rdev, mtime, "
		"target, node2) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
		"?10, ?11, ?12, ?13, ?14, ?15)",
	[S_OP_PEEK] = "SELECT seq, kind, node, parent, name, parent2, name2, "
		      "flags, node_kind, mode, uid, gid, rdev, mtime, target, "
		      "attempts, retry_at, node2 FROM outbox WHERE state = 0 "
		      "ORDER BY seq LIMIT ?1",
	[S_OP_GET] = "SELECT kind, node FROM outbox WHERE seq = ?1 "
		     "AND state = 0",
	[S_OP_DEL] = "DELETE FROM outbox WHERE seq = ?1",
	[S_OP_RETRY] = "UPDATE outbox SET attempts = attempts + 1, "
		       "retry_at = ?2, error = ?3 WHERE seq = ?1 AND state = 0",
	[S_OP_FAIL] = "UPDATE outbox SET state = 2, attempts = attempts + 1, "
		      "error = ?2, message = ?3 WHERE seq = ?1 AND state = 0",
	[S_OP_COUNT_STATE] = "SELECT count(*) FROM outbox WHERE state = ?1",
	[S_OP_SLOT] = "SELECT kind, parent, name, parent2, name2 FROM outbox "
		      "WHERE seq = ?1 AND state = 0",
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
	/* known from the server and not sent again; or made here, with no
	 * op left to put it there (a refused op keeps its entry) */
	[S_ENTRIES_UNSEEN] =
		"SELECT eid, parent, name, ino FROM entries e "
		"WHERE (remote IS NOT NULL AND seen != ?1) OR "
		"(remote IS NULL AND NOT EXISTS (SELECT 1 FROM outbox o "
		"JOIN nodes n ON o.node = n.id OR o.node2 = n.id "
		"WHERE n.ino = e.ino))",
};

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
 * made every other thread re-read its pages). Through the gathering VFS,
 * with synchronous=FULL as it asks: fc_state_durable says which commits
 * wait for the disk.
 */
int fc_state_conn_open(const char *path, struct conn **out)
{
	static const char setup[] = "PRAGMA locking_mode = EXCLUSIVE;"
				    "PRAGMA synchronous = FULL;"
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
	rc = cf_wal_gather_register();
	if (rc < 0) {
		cf_err("state database: cannot register the SQLite VFS: %s",
		       strerror(-rc));
		goto out;
	}
	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     CF_WAL_GATHER_VFS);
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

/* This thread's hold on a state's lock (it is recursive). */
static _Thread_local unsigned lock_depth;

/*
 * The user's requests first: a background thread (uploads, pushes, pulls)
 * that takes the lock while a FUSE request waits for it steps back until
 * none does. Only on the outermost take: cond_wait needs the recursive
 * mutex held once.
 */
void fc_state_read_begin(struct fc_state *st, struct conn **out)
{
	if (lock_depth++) {
		pthread_mutex_lock(&st->lock);
	} else if (cf_thread_is_background()) {
		pthread_mutex_lock(&st->lock);
		while (atomic_load(&st->fg_waiting) > 0)
			pthread_cond_wait(&st->fg_gone, &st->lock);
	} else {
		atomic_fetch_add(&st->fg_waiting, 1);
		pthread_mutex_lock(&st->lock);
		atomic_fetch_sub(&st->fg_waiting, 1);
	}
	*out = st->conn;
}

int fc_state_read_end(struct fc_state *st, int rc)
{
	if (--lock_depth == 0 && atomic_load(&st->fg_waiting) == 0)
		pthread_cond_broadcast(&st->fg_gone);
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

int fc_state_durable(struct conn *c, bool durable)
{
	int rc = cf_wal_gather_set(c->db, durable ? CF_WAL_GATHER_DURABLE
						  : CF_WAL_GATHER_LAZY);

	if (rc < 0)
		cf_err("state database: its log is not open through %s",
		       CF_WAL_GATHER_VFS);
	return rc;
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
