/* SPDX-License-Identifier: MIT */
/*
 * The client state database on SQLite: per-thread connections with lazily
 * prepared statements, one write transaction per local change (tree row
 * changes and the outbox op together), the upload queue and the change
 * feed apply. The tree rules (POSIX errnos, link counts, times) live here
 * so fc_fs only translates.
 *
 * Lock order: st->wlock (write transactions) before st->lock (the list of
 * connections). SQLite's own locks are below both. No lock is held across
 * a call out of this module except fc_state_readdir's callback, which runs
 * inside a read statement and must not write.
 */
#include "fc_state.h"

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

#define CF_LOG_SUBSYS "state"
#include "cf_log.h"

/* Generated from schema/client*.sql by schema/embed-client.awk. */
extern const char *const fc_schema_sql[];
extern const size_t fc_schema_count;

#define BUSY_TIMEOUT_MS 10000
#define LINK_MAX_COUNT 65000
#define DUE_NONE INT64_MIN /* the due column is NULL */

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SYNC_FULL,
	S_SYNC_NORMAL,
	S_NODE_GET,
	S_NODE_GET_ID,
	S_NODE_INS,
	S_NODE_PUT,
	S_NODE_DEL,
	S_TARGET_GET,
	S_TARGET_SET,
	S_ENTRY_GET,
	S_ENTRY_INS,
	S_ENTRY_DEL,
	S_ENTRY_MOVE,
	S_ENTRY_SET_INO,
	S_ENTRY_FIRST,
	S_ENTRY_BY_REMOTE,
	S_ENTRY_SET_REMOTE,
	S_ENTRIES_DEL_INO,
	S_DIR_COUNT,
	S_DIR_ANY,
	S_READDIR,
	S_LOOKUP,
	S_CHUNKS_RANGE,
	S_CHUNKS_DEL_FROM,
	S_CHUNKS_DEL_ALL,
	S_CHUNK_INS,
	S_CHUNK_MARK,
	S_CHUNKS_MISSING,
	S_CHUNKS_CLEAR,
	S_CHUNKS_ANY_PRESENT,
	S_OP_INS,
	S_OP_PEEK,
	S_OP_GET,
	S_OP_DEL,
	S_OP_RETRY,
	S_OP_FAIL,
	S_OP_COUNT_STATE,
	S_CLAIM_PICK,
	S_NEXT_DUE,
	S_UNPUSHED_DUE,
	S_QUEUE_STATS,
	S_META_GET,
	S_META_SET,
	S_TOUCH,
	S_EVICTABLE,
	S_ORPHANS,
	S_DUE_NODES,
	S_DUE_OPS,
	S_RECOVER,
	S_COUNT
};

#define NODE_COLS                                                          \
	"ino, id, kind, mode, uid, gid, rdev, size, atime, mtime, ctime, " \
	"nlink, version, remote_version, manifest_version, dirty, pinned, " \
	"pushed, gen, dirty_lo, dirty_hi, writing, due, claimed, attempts, " \
	"unlinked"
#define NODE_NCOLS 26

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
};

/* One thread's connection. */
struct conn {
	sqlite3 *db;                    /* owned */
	sqlite3_stmt *stmts[S_COUNT];   /* owned, prepared on first use */
	struct conn *next, *prev;       /* protected by fc_state->lock */
};

struct fc_state {
	char *path;                     /* owned */
	uint32_t uid, gid;
	pthread_key_t key;              /* this thread's struct conn */
	pthread_mutex_t lock;           /* protects conns */
	struct conn *conns;
	pthread_mutex_t wlock;          /* one write transaction at a time */
};

/* A node row with the queue columns fc_node does not show. */
struct row {
	struct fc_node n;
	uint64_t gen, lo, hi;
	bool writing, claimed, unlinked;
	int64_t due;                    /* DUE_NONE = NULL */
	uint32_t attempts;
	int last_error;
};

/* ----- small helpers ----- */

static const char *const kind_names[] = {
	[FC_KIND_FILE] = "file", [FC_KIND_DIR] = "dir",
	[FC_KIND_SYMLINK] = "symlink", [FC_KIND_FIFO] = "fifo",
	[FC_KIND_CHR] = "chr", [FC_KIND_BLK] = "blk",
	[FC_KIND_SOCK] = "sock",
};

static bool kind_ok(int kind)
{
	return kind >= FC_KIND_FILE && kind <= FC_KIND_SOCK;
}

const char *fc_kind_name(enum fc_kind kind)
{
	return kind_ok((int)kind) ? kind_names[kind] : NULL;
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
		[FC_KIND_FILE] = S_IFREG, [FC_KIND_DIR] = S_IFDIR,
		[FC_KIND_SYMLINK] = S_IFLNK, [FC_KIND_FIFO] = S_IFIFO,
		[FC_KIND_CHR] = S_IFCHR, [FC_KIND_BLK] = S_IFBLK,
		[FC_KIND_SOCK] = S_IFSOCK,
	};

	return kind_ok((int)kind) ? modes[kind] : 0;
}

void fc_id_to_hex(const uint8_t id[FC_ID_SIZE], char out[FC_ID_HEX_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < FC_ID_SIZE; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 15];
	}
	out[2 * FC_ID_SIZE] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fc_id_from_hex(const char *hex, size_t len, uint8_t out[FC_ID_SIZE])
{
	uint8_t tmp[FC_ID_SIZE];
	size_t i;
	int hi, lo;

	if (!hex || len != 2 * FC_ID_SIZE)
		return -EINVAL;
	for (i = 0; i < FC_ID_SIZE; i++) {
		hi = hexval(hex[2 * i]);
		lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, tmp, FC_ID_SIZE);
	return 0;
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

static int sql_fail(struct conn *c, int rc, const char *what)
{
	int err = sql_errno(rc);

	if (err != -EEXIST)
		cf_err("%s: %s", what, c && c->db ? sqlite3_errmsg(c->db)
						   : sqlite3_errstr(rc));
	return err;
}

/* ----- connections ----- */

static void conn_free(struct conn *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	sqlite3_close_v2(c->db);
	free(c);
}

static void conn_unlink(struct fc_state *st, struct conn *c)
{
	pthread_mutex_lock(&st->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		st->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&st->lock);
}

static int conn_open(const char *path, struct conn **out)
{
	static const char setup[] = "PRAGMA synchronous = NORMAL;"
				    "PRAGMA foreign_keys = OFF;"
				    "PRAGMA temp_store = MEMORY;"
				    "PRAGMA cache_size = -8192;";
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
		rc = sql_fail(c, rc, "open state database");
		goto out;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	rc = sqlite3_exec(c->db, setup, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sql_fail(c, rc, "configure state database");
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	conn_free(c);
	return rc;
}

/*
 * Thread-exit cleanup needs the owning state; a small wrapper keeps it
 * next to the connection.
 */
struct conn_slot {
	struct conn *c;
	struct fc_state *st;
};

static void slot_destructor(void *p)
{
	struct conn_slot *s = p;

	if (!s)
		return;
	conn_unlink(s->st, s->c);
	conn_free(s->c);
	free(s);
}

static int get_conn(struct fc_state *st, struct conn **out)
{
	struct conn_slot *s = pthread_getspecific(st->key);
	struct conn *c = NULL;
	int rc;

	if (s) {
		*out = s->c;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rc = conn_open(st->path, &c);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->c = c;
	s->st = st;
	if (pthread_setspecific(st->key, s) != 0) {
		conn_free(c);
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_lock(&st->lock);
	c->next = st->conns;
	if (st->conns)
		st->conns->prev = c;
	st->conns = c;
	pthread_mutex_unlock(&st->lock);
	*out = c;
	return 0;
}

void fc_state_thread_done(struct fc_state *st)
{
	struct conn_slot *s = pthread_getspecific(st->key);

	if (!s)
		return;
	pthread_setspecific(st->key, NULL);
	slot_destructor(s);
}

/* The prepared statement id of c, reset and unbound, or NULL (logged). */
static sqlite3_stmt *stmt(struct conn *c, enum stmt_id id)
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

static void done(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* Run a statement that returns no rows. 0 or -errno. */
static int run(struct conn *c, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	done(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sql_fail(c, rc, what);
	return 0;
}

static int exec_id(struct conn *c, enum stmt_id id)
{
	sqlite3_stmt *s = stmt(c, id);

	if (!s)
		return -EIO;
	return run(c, s, stmt_sql[id]);
}

/* Begin a write transaction: takes st->wlock until tx_end. */
static int tx_begin(struct fc_state *st, struct conn **out)
{
	struct conn *c;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&st->wlock);
	rc = exec_id(c, S_BEGIN);
	if (rc < 0) {
		pthread_mutex_unlock(&st->wlock);
		return rc;
	}
	*out = c;
	return 0;
}

/* Commit (rc >= 0) or roll back (rc < 0); returns the final rc. */
static int tx_end(struct fc_state *st, struct conn *c, int rc)
{
	int rc2;

	if (rc >= 0) {
		rc2 = exec_id(c, S_COMMIT);
		if (rc2 < 0) {
			exec_id(c, S_ROLLBACK);
			rc = rc2;
		}
	} else {
		exec_id(c, S_ROLLBACK);
	}
	pthread_mutex_unlock(&st->wlock);
	return rc;
}

static int bind_blob(sqlite3_stmt *s, int i, const void *p, size_t size)
{
	return sqlite3_bind_blob64(s, i, p, size, SQLITE_STATIC);
}

/* Copy a blob column into out (size bytes exactly): 0 or -EPROTO. */
static int col_blob(sqlite3_stmt *s, int i, void *out, size_t size)
{
	const void *p = sqlite3_column_blob(s, i);

	if ((size_t)sqlite3_column_bytes(s, i) != size || !p)
		return -EPROTO;
	memcpy(out, p, size);
	return 0;
}

static int row_read(sqlite3_stmt *s, int base, struct row *r)
{
	struct fc_node *n = &r->n;

	memset(r, 0, sizeof(*r));
	n->ino = sqlite3_column_int64(s, base + 0);
	if (col_blob(s, base + 1, n->id, FC_ID_SIZE) < 0)
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
	if (sqlite3_column_count(s) < base + NODE_NCOLS)
		return 0;
	r->gen = (uint64_t)sqlite3_column_int64(s, base + 18);
	r->lo = (uint64_t)sqlite3_column_int64(s, base + 19);
	r->hi = (uint64_t)sqlite3_column_int64(s, base + 20);
	r->writing = sqlite3_column_int(s, base + 21) != 0;
	if (sqlite3_column_type(s, base + 22) == SQLITE_NULL)
		r->due = DUE_NONE;
	else
		r->due = sqlite3_column_int64(s, base + 22);
	r->claimed = sqlite3_column_int(s, base + 23) != 0;
	r->attempts = (uint32_t)sqlite3_column_int64(s, base + 24);
	r->unlinked = sqlite3_column_int(s, base + 25) != 0;
	return 0;
}

/* Read node ino (full row). -ENOENT. */
static int row_get(struct conn *c, int64_t ino, struct row *out)
{
	sqlite3_stmt *s = stmt(c, S_NODE_GET);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = row_read(s, 0, out);
	else if (rc == SQLITE_DONE)
		rc = -ENOENT;
	else
		rc = sql_fail(c, rc, "read node");
	done(s);
	return rc;
}

static int row_get_id(struct conn *c, const uint8_t id[FC_ID_SIZE],
		      struct row *out)
{
	sqlite3_stmt *s = stmt(c, S_NODE_GET_ID);
	int rc;

	if (!s)
		return -EIO;
	bind_blob(s, 1, id, FC_ID_SIZE);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = row_read(s, 0, out);
	else if (rc == SQLITE_DONE)
		rc = -ENOENT;
	else
		rc = sql_fail(c, rc, "read node by id");
	done(s);
	return rc;
}

/* Write back every mutable column of r. */
static int row_put(struct conn *c, const struct row *r)
{
	sqlite3_stmt *s = stmt(c, S_NODE_PUT);
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
	if (r->due == DUE_NONE)
		sqlite3_bind_null(s, 22);
	else
		sqlite3_bind_int64(s, 22, r->due);
	sqlite3_bind_int(s, 23, r->claimed);
	sqlite3_bind_int64(s, 24, r->attempts);
	sqlite3_bind_int(s, 25, r->unlinked);
	sqlite3_bind_int(s, 26, r->last_error);
	return run(c, s, "update node");
}

/* Insert a new node; n->ino is set from the new row id. */
static int node_insert(struct conn *c, struct row *r, const char *target,
		       size_t target_len)
{
	sqlite3_stmt *s = stmt(c, S_NODE_INS);
	struct fc_node *n = &r->n;
	int rc;

	if (!s)
		return -EIO;
	bind_blob(s, 1, n->id, FC_ID_SIZE);
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
		bind_blob(s, 12, target, target_len);
	sqlite3_bind_int64(s, 13, (int64_t)n->version);
	sqlite3_bind_int64(s, 14, (int64_t)n->remote_version);
	sqlite3_bind_int64(s, 15, (int64_t)n->manifest_version);
	sqlite3_bind_int(s, 16, n->pushed);
	sqlite3_bind_int(s, 17, n->dirty);
	sqlite3_bind_int64(s, 18, (int64_t)r->gen);
	sqlite3_bind_int(s, 19, r->writing);
	if (r->due == DUE_NONE)
		sqlite3_bind_null(s, 20);
	else
		sqlite3_bind_int64(s, 20, r->due);
	rc = sqlite3_step(s);
	done(s);
	if (rc != SQLITE_DONE)
		return sql_fail(c, rc, "insert node");
	n->ino = sqlite3_last_insert_rowid(c->db);
	return 0;
}

struct ent {
	int64_t eid, ino, remote; /* remote 0 = unknown */
};

/* Entry (parent, name). -ENOENT. */
static int entry_get(struct conn *c, int64_t parent, const char *name,
		     size_t len, struct ent *out)
{
	sqlite3_stmt *s = stmt(c, S_ENTRY_GET);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, parent);
	bind_blob(s, 2, name, len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->eid = sqlite3_column_int64(s, 0);
		out->ino = sqlite3_column_int64(s, 1);
		out->remote = sqlite3_column_int64(s, 2);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = sql_fail(c, rc, "read entry");
	}
	done(s);
	return rc;
}

static int entry_insert(struct conn *c, int64_t parent, const char *name,
			size_t len, int64_t ino, int64_t remote)
{
	sqlite3_stmt *s = stmt(c, S_ENTRY_INS);

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, parent);
	bind_blob(s, 2, name, len);
	sqlite3_bind_int64(s, 3, ino);
	if (remote)
		sqlite3_bind_int64(s, 4, remote);
	return run(c, s, "insert entry");
}

static int entry_delete(struct conn *c, int64_t eid)
{
	sqlite3_stmt *s = stmt(c, S_ENTRY_DEL);

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, eid);
	return run(c, s, "delete entry");
}

static int dir_is_empty(struct conn *c, int64_t dir, bool *out)
{
	sqlite3_stmt *s = stmt(c, S_DIR_ANY);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, dir);
	rc = sqlite3_step(s);
	done(s);
	if (rc == SQLITE_ROW)
		*out = false;
	else if (rc == SQLITE_DONE)
		*out = true;
	else
		return sql_fail(c, rc, "check directory");
	return 0;
}

/* Parent of directory ino (its only entry); 0 for the root or none. */
static int dir_parent(struct conn *c, int64_t ino, int64_t *out)
{
	sqlite3_stmt *s = stmt(c, S_ENTRY_FIRST);
	int rc;

	if (!s)
		return -EIO;
	*out = 0;
	sqlite3_bind_int64(s, 1, ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		rc = sql_fail(c, rc, "read parent");
	done(s);
	return rc < 0 ? rc : 0;
}

static int op_append(struct conn *c, const struct fc_op *op)
{
	sqlite3_stmt *s = stmt(c, S_OP_INS);
	static const uint8_t zero[FC_ID_SIZE];

	if (!s)
		return -EIO;
	sqlite3_bind_int(s, 1, (int)op->kind);
	if (memcmp(op->node, zero, FC_ID_SIZE) || op->kind == FC_OP_SETATTR)
		bind_blob(s, 2, op->node, FC_ID_SIZE);
	if (op->kind != FC_OP_SETATTR) {
		bind_blob(s, 3, op->parent, FC_ID_SIZE);
		bind_blob(s, 4, op->name, op->name_len);
	}
	if (op->kind == FC_OP_RENAME) {
		bind_blob(s, 5, op->parent2, FC_ID_SIZE);
		bind_blob(s, 6, op->name2, op->name2_len);
	}
	sqlite3_bind_int64(s, 7, op->flags);
	sqlite3_bind_int(s, 8, (int)op->node_kind);
	sqlite3_bind_int64(s, 9, op->mode);
	sqlite3_bind_int64(s, 10, op->uid);
	sqlite3_bind_int64(s, 11, op->gid);
	sqlite3_bind_int64(s, 12, (int64_t)op->rdev);
	sqlite3_bind_int64(s, 13, op->mtime_ns);
	if (op->target_len)
		bind_blob(s, 14, op->target, op->target_len);
	return run(c, s, "append op");
}

static int meta_get(struct conn *c, const char *key, uint64_t *out)
{
	sqlite3_stmt *s = stmt(c, S_META_GET);
	int rc;

	if (!s)
		return -EIO;
	*out = 0;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		rc = sql_fail(c, rc, "read meta");
	done(s);
	return rc < 0 ? rc : 0;
}

static int meta_set(struct conn *c, const char *key, uint64_t v)
{
	sqlite3_stmt *s = stmt(c, S_META_SET);

	if (!s)
		return -EIO;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)v);
	return run(c, s, "write meta");
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
		rc = sql_fail(c, rc, "read schema version");
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

	rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL,
			  NULL);
	if (rc != SQLITE_OK)
		return sql_fail(c, rc, "enable wal");
	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = user_version(c, &v);
	if (rc < 0)
		goto out;
	if (v < 0 || (size_t)v > fc_schema_count) {
		cf_err("state database schema %d is newer than this client "
		       "(%zu)", v, fc_schema_count);
		rc = -EPROTO;
		goto out;
	}
	for (i = (size_t)v; i < fc_schema_count; i++) {
		rc = sqlite3_exec(c->db, fc_schema_sql[i], NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = sql_fail(c, rc, "apply client schema");
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
			rc = sql_fail(c, rc, "set schema version");
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
		root.due = DUE_NONE;
		rc = node_insert(c, &root, NULL, 0);
		if (rc == 0 && root.n.ino != FC_ROOT_INO)
			rc = -EPROTO;
		if (rc < 0)
			goto out;
	}
	/* Uploads and write epochs a crash interrupted start over. */
	{
		sqlite3_stmt *s = stmt(c, S_RECOVER);

		if (!s) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, now);
		rc = run(c, s, "recover upload queue");
	}
out:
	return tx_end(st, c, rc);
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
	struct fc_state *st;
	struct conn *c;
	int rc;

	*out = NULL;
	if (!path || !*path)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->uid = uid;
	st->gid = gid;
	st->path = strdup(path);
	if (!st->path) {
		free(st);
		return -ENOMEM;
	}
	if (pthread_key_create(&st->key, slot_destructor) != 0) {
		free(st->path);
		free(st);
		return -ENOMEM;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->wlock, NULL);
	rc = get_conn(st, &c);
	if (rc == 0)
		rc = migrate(st, c, now_ns());
	if (rc < 0) {
		fc_state_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void fc_state_close(struct fc_state *st)
{
	struct conn_slot *s;
	struct conn *c, *next;

	if (!st)
		return;
	s = pthread_getspecific(st->key);
	pthread_key_delete(st->key);
	free(s); /* its conn is on the list */
	for (c = st->conns; c; c = next) {
		next = c->next;
		conn_free(c);
	}
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->wlock);
	free(st->path);
	free(st);
}

/* ----- reads ----- */

int fc_state_getattr(struct fc_state *st, int64_t ino, struct fc_node *out)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = get_conn(st, &c);
	if (rc == 0)
		rc = row_get(c, ino, &r);
	if (rc == 0)
		*out = r.n;
	return rc;
}

int fc_state_get_by_id(struct fc_state *st, const uint8_t id[FC_ID_SIZE],
		       struct fc_node *out)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = get_conn(st, &c);
	if (rc == 0)
		rc = row_get_id(c, id, &r);
	if (rc == 0)
		*out = r.n;
	return rc;
}

/* Directory ino must exist and be a directory: -ENOENT, -ENOTDIR. */
static int need_dir(struct conn *c, int64_t ino, struct row *out)
{
	struct row tmp;
	int rc = row_get(c, ino, out ? out : &tmp);

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
	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	rc = entry_get(c, parent, name, len, &e);
	if (rc == -ENOENT) {
		int rc2 = need_dir(c, parent, NULL);

		return rc2 < 0 ? rc2 : rc;
	}
	if (rc == 0)
		rc = row_get(c, e.ino, &r);
	if (rc == 0)
		*out = r.n;
	return rc;
}

int fc_state_readdir(struct fc_state *st, int64_t dir, int64_t cookie,
		     fc_dirent_fn fn, void *arg)
{
	sqlite3_stmt *s;
	struct conn *c;
	struct row r;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	rc = need_dir(c, dir, NULL);
	if (rc < 0)
		return rc;
	s = stmt(c, S_READDIR);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, dir);
	sqlite3_bind_int64(s, 2, cookie > 2 ? cookie - 2 : 0);
	for (;;) {
		int64_t eid;
		const char *name;
		int len;

		rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			rc = 0;
			break;
		}
		if (rc != SQLITE_ROW) {
			rc = sql_fail(c, rc, "read directory");
			break;
		}
		eid = sqlite3_column_int64(s, 0);
		name = sqlite3_column_blob(s, 1);
		len = sqlite3_column_bytes(s, 1);
		rc = row_read(s, 2, &r);
		if (rc < 0)
			break;
		rc = fn(arg, name ? name : "", (size_t)len, &r.n, eid + 2);
		if (rc != 0)
			break;
	}
	done(s);
	return rc;
}

int fc_state_dir_count(struct fc_state *st, int64_t dir, uint64_t *out)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	rc = need_dir(c, dir, NULL);
	if (rc < 0)
		return rc;
	s = stmt(c, S_DIR_COUNT);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, dir);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = sql_fail(c, rc, "count directory");
	}
	done(s);
	return rc;
}

int fc_state_readlink(struct fc_state *st, int64_t ino, struct cf_buf *out)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_TARGET_GET);
	if (!s)
		return -EIO;
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
		rc = sql_fail(c, rc, "read symlink");
	}
	done(s);
	return rc;
}

int fc_state_name_of(struct fc_state *st, int64_t ino, int64_t *out_parent,
		     struct cf_buf *out)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_ENTRY_FIRST);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out_parent = sqlite3_column_int64(s, 0);
		rc = cf_buf_append(out, sqlite3_column_blob(s, 1),
				   (size_t)sqlite3_column_bytes(s, 1));
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = sql_fail(c, rc, "read name");
	}
	done(s);
	return rc;
}

/* ----- local tree changes ----- */

static int name_check(const char *name, size_t len)
{
	if (len > CF_NAME_MAX)
		return -ENAMETOOLONG;
	return cf_name_check(name, len);
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
	if (!kind_ok((int)req->kind))
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
	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = need_dir(c, req->parent, &parent);
	if (rc < 0)
		goto out;
	rc = entry_get(c, req->parent, req->name, req->name_len, &e);
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
	if (req->kind == FC_KIND_CHR || req->kind == FC_KIND_BLK)
		r.n.rdev = req->rdev;
	if (req->kind == FC_KIND_SYMLINK)
		r.n.size = req->target_len;
	r.n.atime_ns = r.n.mtime_ns = r.n.ctime_ns = req->now_ns;
	r.n.nlink = req->kind == FC_KIND_DIR ? 2 : 1;
	r.due = DUE_NONE;
	if (req->kind == FC_KIND_FILE) {
		r.n.dirty = true;
		r.gen = 1;
		r.writing = req->writing;
		if (!req->writing)
			r.due = req->due_ns;
	}
	rc = node_insert(c, &r,
			 req->kind == FC_KIND_SYMLINK ? req->target : NULL,
			 req->target_len);
	if (rc < 0)
		goto out;
	rc = entry_insert(c, req->parent, req->name, req->name_len, r.n.ino,
			  0);
	if (rc < 0)
		goto out;
	parent.n.mtime_ns = parent.n.ctime_ns = req->now_ns;
	if (req->kind == FC_KIND_DIR)
		parent.n.nlink++;
	rc = row_put(c, &parent);
	if (rc < 0)
		goto out;
	memset(&op, 0, sizeof(op));
	op.kind = FC_OP_CREATE;
	memcpy(op.node, r.n.id, FC_ID_SIZE);
	memcpy(op.parent, parent.n.id, FC_ID_SIZE);
	memcpy(op.name, req->name, req->name_len);
	op.name_len = req->name_len;
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
	rc = op_append(c, &op);
	if (rc == 0 && out)
		*out = r.n;
out:
	return tx_end(st, c, rc);
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
	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, ino, &r);
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
	if (r.n.nlink >= LINK_MAX_COUNT) {
		rc = -EMLINK;
		goto out;
	}
	rc = need_dir(c, parent, &dir);
	if (rc < 0)
		goto out;
	rc = entry_get(c, parent, name, name_len, &e);
	if (rc == 0) {
		rc = -EEXIST;
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rc = entry_insert(c, parent, name, name_len, ino, 0);
	if (rc < 0)
		goto out;
	r.n.nlink++;
	r.n.ctime_ns = now_ns;
	rc = row_put(c, &r);
	if (rc < 0)
		goto out;
	dir.n.mtime_ns = dir.n.ctime_ns = now_ns;
	rc = row_put(c, &dir);
	if (rc < 0)
		goto out;
	memset(&op, 0, sizeof(op));
	op.kind = FC_OP_LINK;
	memcpy(op.node, r.n.id, FC_ID_SIZE);
	memcpy(op.parent, dir.n.id, FC_ID_SIZE);
	memcpy(op.name, name, name_len);
	op.name_len = name_len;
	rc = op_append(c, &op);
	if (rc == 0 && out)
		*out = r.n;
out:
	return tx_end(st, c, rc);
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
		r->due = DUE_NONE; /* nothing to upload any more */
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
	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = need_dir(c, parent, &pr);
	if (rc < 0)
		goto out;
	rc = entry_get(c, parent, name, name_len, &e);
	if (rc < 0)
		goto out;
	rc = row_get(c, e.ino, &r);
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
		rc = dir_is_empty(c, r.n.ino, &empty);
		if (rc == 0 && !empty)
			rc = -ENOTEMPTY;
		if (rc < 0)
			goto out;
		pr.n.nlink--;
	}
	rc = entry_delete(c, e.eid);
	if (rc < 0)
		goto out;
	lose_link(&r, now_ns);
	rc = row_put(c, &r);
	if (rc < 0)
		goto out;
	pr.n.mtime_ns = pr.n.ctime_ns = now_ns;
	rc = row_put(c, &pr);
	if (rc < 0)
		goto out;
	memset(&op, 0, sizeof(op));
	op.kind = FC_OP_UNLINK;
	memcpy(op.node, r.n.id, FC_ID_SIZE);
	memcpy(op.parent, pr.n.id, FC_ID_SIZE);
	memcpy(op.name, name, name_len);
	op.name_len = name_len;
	op.flags = dir ? FC_OP_DIR : 0;
	rc = op_append(c, &op);
	if (rc == 0 && out)
		*out = r.n;
out:
	return tx_end(st, c, rc);
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
		rc = dir_parent(c, cur, &up);
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
	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = need_dir(c, src_parent, &sp);
	if (rc < 0)
		goto out;
	dp = &sp;
	if (dst_parent != src_parent) {
		rc = need_dir(c, dst_parent, &dpr);
		if (rc < 0)
			goto out;
		dp = &dpr;
	}
	rc = entry_get(c, src_parent, src_name, src_len, &se);
	if (rc < 0)
		goto out;
	rc = row_get(c, se.ino, &src);
	if (rc < 0)
		goto out;
	rc = entry_get(c, dst_parent, dst_name, dst_len, &de);
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
		rc = row_get(c, de.ino, &dst);
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
			rc = dir_is_empty(c, dst.n.ino, &empty);
			if (rc == 0 && !empty)
				rc = -ENOTEMPTY;
			if (rc < 0)
				goto out;
			dp->n.nlink--;
		}
		rc = entry_delete(c, de.eid);
		if (rc < 0)
			goto out;
		lose_link(&dst, now_ns);
		rc = row_put(c, &dst);
		if (rc < 0)
			goto out;
		if (out_replaced)
			*out_replaced = dst.n;
	}
	if (flags & FC_RENAME_EXCHANGE) {
		sqlite3_stmt *s = stmt(c, S_ENTRY_SET_INO);

		if (!s) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, se.eid);
		sqlite3_bind_int64(s, 2, dst.n.ino);
		rc = run(c, s, "exchange entries");
		if (rc < 0)
			goto out;
		sqlite3_bind_int64(s, 1, de.eid);
		sqlite3_bind_int64(s, 2, src.n.ino);
		rc = run(c, s, "exchange entries");
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
		rc = row_put(c, &dst);
		if (rc < 0)
			goto out;
	} else {
		sqlite3_stmt *s = stmt(c, S_ENTRY_MOVE);

		if (!s) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, se.eid);
		sqlite3_bind_int64(s, 2, dst_parent);
		bind_blob(s, 3, dst_name, dst_len);
		rc = run(c, s, "move entry");
		if (rc < 0)
			goto out;
		if (src.n.kind == FC_KIND_DIR && src_parent != dst_parent) {
			sp.n.nlink--;
			dp->n.nlink++;
		}
	}
	src.n.ctime_ns = now_ns;
	rc = row_put(c, &src);
	if (rc < 0)
		goto out;
	sp.n.mtime_ns = sp.n.ctime_ns = now_ns;
	rc = row_put(c, &sp);
	if (rc < 0)
		goto out;
	if (dp != &sp) {
		dp->n.mtime_ns = dp->n.ctime_ns = now_ns;
		rc = row_put(c, dp);
		if (rc < 0)
			goto out;
	}
	memset(&op, 0, sizeof(op));
	op.kind = FC_OP_RENAME;
	memcpy(op.node, src.n.id, FC_ID_SIZE);
	memcpy(op.parent, sp.n.id, FC_ID_SIZE);
	memcpy(op.name, src_name, src_len);
	op.name_len = src_len;
	memcpy(op.parent2, dp->n.id, FC_ID_SIZE);
	memcpy(op.name2, dst_name, dst_len);
	op.name2_len = dst_len;
	op.flags = flags;
	rc = op_append(c, &op);
out:
	return tx_end(st, c, rc);
}

static void range_merge(struct row *r, uint64_t lo, uint64_t hi)
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

int fc_state_setattr(struct fc_state *st, int64_t ino,
		     const struct fc_setattr *a, struct fc_node *out)
{
	unsigned push = 0;
	struct fc_op op;
	struct conn *c;
	struct row r;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, ino, &r);
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
			sqlite3_stmt *s = stmt(c, S_CHUNKS_DEL_FROM);

			if (!s) {
				rc = -EIO;
				goto out;
			}
			sqlite3_bind_int64(s, 1, ino);
			sqlite3_bind_int64(s, 2, (int64_t)a->size);
			rc = run(c, s, "drop chunks");
			if (rc < 0)
				goto out;
			range_merge(&r, CF_MIN(a->size, r.n.size),
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
	rc = row_put(c, &r);
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
		rc = op_append(c, &op);
	}
	if (rc == 0 && out)
		*out = r.n;
out:
	return tx_end(st, c, rc);
}

/* Delete node ino and its chunk rows (inside a transaction). */
static int node_delete(struct conn *c, int64_t ino)
{
	sqlite3_stmt *s;
	int rc;

	s = stmt(c, S_CHUNKS_DEL_ALL);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	rc = run(c, s, "drop chunks");
	if (rc < 0)
		return rc;
	s = stmt(c, S_NODE_DEL);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	return run(c, s, "drop node");
}

int fc_state_node_drop(struct fc_state *st, int64_t ino)
{
	struct conn *c;
	struct row r;
	int rc;

	if (ino == FC_ROOT_INO)
		return -EBUSY;
	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, ino, &r);
	if (rc == 0 && r.n.nlink > 0)
		rc = -EBUSY;
	if (rc == 0)
		rc = node_delete(c, ino);
	return tx_end(st, c, rc);
}

int fc_state_drop_orphans(struct fc_state *st, fc_node_fn fn, void *arg)
{
	sqlite3_stmt *s;
	struct conn *c;
	struct row r;
	int64_t *inos = NULL, *tmp;
	size_t count = 0, cap = 0, i;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_ORPHANS);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (row_read(s, 0, &r) < 0 || r.n.ino == FC_ROOT_INO)
			continue;
		if (fn)
			fn(arg, &r.n);
		if (count == cap) {
			cap = cap ? 2 * cap : 16;
			tmp = realloc(inos, cap * sizeof(*inos));
			if (!tmp) {
				rc = -ENOMEM;
				break;
			}
			inos = tmp;
		}
		inos[count++] = r.n.ino;
	}
	done(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = sql_fail(c, rc, "list orphans");
	for (i = 0; rc == 0 && i < count; i++)
		rc = node_delete(c, inos[i]);
out:
	free(inos);
	return tx_end(st, c, rc);
}

/* ----- write path ----- */

int fc_state_write_begin(struct fc_state *st, int64_t ino)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, ino, &r);
	if (rc == 0 && r.n.kind != FC_KIND_FILE)
		rc = -EINVAL;
	if (rc < 0)
		goto out;
	r.n.dirty = true;
	r.writing = true;
	r.gen++;
	r.due = DUE_NONE;
	rc = row_put(c, &r);
out:
	return tx_end(st, c, rc);
}

int fc_state_write_done(struct fc_state *st, int64_t ino,
			const struct fc_write_summary *w, int64_t due_ns,
			bool durable)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	if (durable) {
		rc = exec_id(c, S_SYNC_FULL);
		if (rc < 0)
			return rc;
	}
	rc = tx_begin(st, &c);
	if (rc < 0)
		goto sync;
	rc = row_get(c, ino, &r);
	if (rc < 0)
		goto out;
	range_merge(&r, w->lo, w->hi);
	r.n.size = w->size;
	if (w->set_mtime) {
		r.n.mtime_ns = w->mtime_ns;
		r.n.ctime_ns = w->ctime_ns;
	}
	r.n.dirty = true;
	r.writing = false;
	r.gen++;
	r.due = r.n.nlink > 0 ? due_ns : DUE_NONE;
	rc = row_put(c, &r);
out:
	rc = tx_end(st, c, rc);
sync:
	if (durable)
		exec_id(c, S_SYNC_NORMAL);
	return rc;
}

int fc_state_sync(struct fc_state *st)
{
	struct conn *c;
	uint64_t n = 0;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	rc = exec_id(c, S_SYNC_FULL);
	if (rc < 0)
		return rc;
	rc = tx_begin(st, &c);
	if (rc == 0) {
		rc = meta_get(c, "syncs", &n);
		if (rc == 0)
			rc = meta_set(c, "syncs", n + 1);
		rc = tx_end(st, c, rc);
	}
	exec_id(c, S_SYNC_NORMAL);
	return rc;
}

/* ----- chunks ----- */

int fc_state_chunks(struct fc_state *st, int64_t ino, uint64_t off,
		    uint64_t len, struct fc_chunk **out, size_t *out_count)
{
	struct fc_chunk *v = NULL, *tmp;
	size_t count = 0, cap = 0;
	sqlite3_stmt *s;
	struct conn *c;
	uint64_t end;
	int rc;

	*out = NULL;
	*out_count = 0;
	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	end = (len == 0 || off + len < off || off + len > INT64_MAX)
		      ? (uint64_t)INT64_MAX
		      : off + len;
	if (off > INT64_MAX)
		return 0;
	s = stmt(c, S_CHUNKS_RANGE);
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
		if (col_blob(s, 3, ch.id.bytes, BLK_ID_SIZE) < 0) {
			rc = -EPROTO;
			break;
		}
		ch.present = sqlite3_column_int(s, 4) != 0;
		if (ch.off + ch.size <= off)
			continue; /* the chunk before the range */
		if (count == cap) {
			cap = cap ? 2 * cap : 8;
			tmp = realloc(v, cap * sizeof(*v));
			if (!tmp) {
				rc = -ENOMEM;
				break;
			}
			v = tmp;
		}
		v[count++] = ch;
	}
	done(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = sql_fail(c, rc, "read chunks");
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*out_count = count;
	return 0;
}

int fc_state_missing_count(struct fc_state *st, int64_t ino, uint64_t *out)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_CHUNKS_MISSING);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = sql_fail(c, rc, "count missing chunks");
	}
	done(s);
	return rc;
}

int fc_state_chunks_mark(struct fc_state *st, int64_t ino,
			 const uint32_t *idx, size_t count, bool present)
{
	sqlite3_stmt *s;
	struct conn *c;
	size_t i;
	int rc;

	if (!count)
		return 0;
	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_CHUNK_MARK);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	for (i = 0; i < count && rc == 0; i++) {
		sqlite3_bind_int64(s, 1, ino);
		sqlite3_bind_int64(s, 2, idx[i]);
		sqlite3_bind_int(s, 3, present);
		rc = run(c, s, "mark chunk");
		if (rc == 0 && sqlite3_changes(c->db) == 0)
			rc = -ENOENT;
	}
out:
	return tx_end(st, c, rc);
}

/*
 * Replace ino's chunk rows by m. keep: old rows with the same offset, size
 * and id keep their present bit; all_present: every new row is present.
 */
static int chunks_replace(struct conn *c, int64_t ino,
			  const struct blk_manifest *m, bool keep,
			  bool all_present)
{
	struct fc_chunk *old = NULL, *tmp;
	size_t nold = 0, cap = 0, i, j = 0;
	sqlite3_stmt *s;
	uint64_t off = 0;
	int rc = 0;

	if (keep) {
		s = stmt(c, S_CHUNKS_RANGE);
		if (!s)
			return -EIO;
		sqlite3_bind_int64(s, 1, ino);
		sqlite3_bind_int64(s, 2, 0);
		sqlite3_bind_int64(s, 3, INT64_MAX);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (!sqlite3_column_int(s, 4))
				continue;
			if (nold == cap) {
				cap = cap ? 2 * cap : 16;
				tmp = realloc(old, cap * sizeof(*old));
				if (!tmp) {
					rc = -ENOMEM;
					break;
				}
				old = tmp;
			}
			old[nold].off = (uint64_t)sqlite3_column_int64(s, 1);
			old[nold].size = (uint32_t)sqlite3_column_int64(s, 2);
			if (col_blob(s, 3, old[nold].id.bytes, BLK_ID_SIZE) <
			    0)
				continue;
			nold++;
		}
		done(s);
		if (rc == SQLITE_DONE)
			rc = 0;
		else if (rc > 0)
			rc = sql_fail(c, rc, "read chunks");
		if (rc < 0)
			goto out;
	}
	s = stmt(c, S_CHUNKS_DEL_ALL);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, ino);
	rc = run(c, s, "drop chunks");
	if (rc < 0)
		goto out;
	s = stmt(c, S_CHUNK_INS);
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
		bind_blob(s, 5, e->id.bytes, BLK_ID_SIZE);
		sqlite3_bind_int(s, 6, present);
		rc = run(c, s, "insert chunk");
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

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, ino, &r);
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
	rc = chunks_replace(c, ino, m, true, false);
	if (rc < 0)
		goto out;
	r.n.version = r.n.manifest_version = version;
	if (r.n.remote_version < version)
		r.n.remote_version = version;
	r.n.size = m->file_size;
	rc = row_put(c, &r);
out:
	return tx_end(st, c, rc);
}

/* ----- pin, LRU, eviction ----- */

int fc_state_set_pinned(struct fc_state *st, int64_t ino, bool pinned)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, ino, &r);
	if (rc == 0 && r.n.kind != FC_KIND_FILE)
		rc = -EINVAL;
	if (rc == 0 && r.n.pinned != pinned) {
		r.n.pinned = pinned;
		rc = row_put(c, &r);
	}
	return tx_end(st, c, rc);
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
	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_TOUCH);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	for (i = 0; i < count && rc == 0; i++) {
		sqlite3_bind_int64(s, 1, inos[i]);
		sqlite3_bind_int64(s, 2, now);
		rc = run(c, s, "touch node");
	}
out:
	return tx_end(st, c, rc);
}

int fc_state_evictable(struct fc_state *st, size_t limit, fc_node_fn fn,
		       void *arg)
{
	struct row *rows = NULL;
	size_t count = 0, i;
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	if (!limit)
		return 0;
	rows = calloc(limit, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	s = stmt(c, S_EVICTABLE);
	if (!s) {
		free(rows);
		return -EIO;
	}
	sqlite3_bind_int64(s, 1, (int64_t)limit);
	while (count < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (row_read(s, 0, &rows[count]) == 0)
			count++;
	}
	done(s);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		rc = 0;
	else if (rc > 0)
		rc = sql_fail(c, rc, "list evictable");
	/* Callbacks run after the statement is done: they may write. */
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

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, ino, &r);
	if (rc == 0 && (r.n.dirty || r.n.pinned || r.writing || r.claimed))
		rc = -EBUSY;
	if (rc < 0)
		goto out;
	s = stmt(c, S_CHUNKS_CLEAR);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, ino);
	rc = run(c, s, "evict chunks");
out:
	return tx_end(st, c, rc);
}

/* ----- outbox ----- */

static void col_copy(sqlite3_stmt *s, int i, void *out, size_t cap,
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

int fc_state_op_peek(struct fc_state *st, int64_t now, struct fc_op *out,
		     size_t max, size_t *out_count)
{
	sqlite3_stmt *s;
	struct conn *c;
	size_t n = 0;
	int rc;

	*out_count = 0;
	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	if (!max)
		return 0;
	s = stmt(c, S_OP_PEEK);
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
		col_copy(s, 2, op->node, FC_ID_SIZE, NULL);
		col_copy(s, 3, op->parent, FC_ID_SIZE, NULL);
		col_copy(s, 4, op->name, CF_NAME_MAX, &op->name_len);
		op->name[op->name_len] = '\0';
		col_copy(s, 5, op->parent2, FC_ID_SIZE, NULL);
		col_copy(s, 6, op->name2, CF_NAME_MAX, &op->name2_len);
		op->name2[op->name2_len] = '\0';
		op->flags = (unsigned)sqlite3_column_int64(s, 7);
		op->node_kind = (enum fc_kind)sqlite3_column_int(s, 8);
		op->mode = (uint32_t)sqlite3_column_int64(s, 9);
		op->uid = (uint32_t)sqlite3_column_int64(s, 10);
		op->gid = (uint32_t)sqlite3_column_int64(s, 11);
		op->rdev = (uint64_t)sqlite3_column_int64(s, 12);
		op->mtime_ns = sqlite3_column_int64(s, 13);
		col_copy(s, 14, op->target, CF_PATH_MAX, &op->target_len);
		op->target[op->target_len] = '\0';
		op->attempts = (uint32_t)sqlite3_column_int64(s, 15);
		n++;
	}
	done(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = sql_fail(c, rc, "read outbox");
	*out_count = rc == 0 ? n : 0;
	return rc;
}

int fc_state_op_done(struct fc_state *st, int64_t seq)
{
	uint8_t node[FC_ID_SIZE];
	sqlite3_stmt *s;
	struct conn *c;
	struct row r;
	int kind = 0, rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_OP_GET);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		kind = sqlite3_column_int(s, 0);
		rc = col_blob(s, 1, node, FC_ID_SIZE);
		if (rc < 0 && kind != FC_OP_CREATE)
			rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = sql_fail(c, rc, "read op");
	}
	done(s);
	if (rc < 0)
		goto out;
	s = stmt(c, S_OP_DEL);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, seq);
	rc = run(c, s, "delete op");
	if (rc < 0 || kind != FC_OP_CREATE)
		goto out;
	rc = row_get_id(c, node, &r);
	if (rc == -ENOENT) {
		rc = 0; /* dropped meanwhile */
		goto out;
	}
	if (rc == 0 && !r.n.pushed) {
		r.n.pushed = true;
		rc = row_put(c, &r);
	}
out:
	return tx_end(st, c, rc);
}

int fc_state_op_retry(struct fc_state *st, int64_t seq, int err,
		      int64_t retry_at)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_OP_RETRY);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int64(s, 2, retry_at);
	sqlite3_bind_int(s, 3, err);
	rc = run(c, s, "retry op");
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
out:
	return tx_end(st, c, rc);
}

int fc_state_op_failed(struct fc_state *st, int64_t seq, int err,
		       const char *message)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_OP_FAIL);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int(s, 2, err);
	if (message)
		sqlite3_bind_text(s, 3, message, -1, SQLITE_STATIC);
	rc = run(c, s, "fail op");
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
out:
	return tx_end(st, c, rc);
}

static int count_state(struct conn *c, int state, uint64_t *out)
{
	sqlite3_stmt *s = stmt(c, S_OP_COUNT_STATE);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int(s, 1, state);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = sql_fail(c, rc, "count ops");
	}
	done(s);
	return rc;
}

int fc_state_op_counts(struct fc_state *st, uint64_t *out_pending,
		       uint64_t *out_failed)
{
	struct conn *c;
	int rc;

	rc = get_conn(st, &c);
	if (rc == 0)
		rc = count_state(c, 0, out_pending);
	if (rc == 0)
		rc = count_state(c, 2, out_failed);
	return rc;
}

/* ----- upload queue ----- */

static int next_due(struct conn *c, int64_t now, int64_t *out)
{
	sqlite3_stmt *s = stmt(c, S_NEXT_DUE);
	int rc;

	*out = INT64_MAX;
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(s, 0);
	done(s);
	if (rc != SQLITE_ROW)
		return sql_fail(c, rc, "next due");
	/* Files waiting for their create op: look again in a second. */
	s = stmt(c, S_UNPUSHED_DUE);
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	done(s);
	if (rc == SQLITE_ROW && *out > now + 1000000000)
		*out = now + 1000000000;
	return 0;
}

int fc_state_upload_claim(struct fc_state *st, int64_t now,
			  struct fc_upload *out, int64_t *out_next_due)
{
	sqlite3_stmt *s;
	struct conn *c;
	struct row r;
	int64_t ino = 0, next;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_CLAIM_PICK);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ino = sqlite3_column_int64(s, 0);
	done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sql_fail(c, rc, "pick upload");
		goto out;
	}
	if (!ino) {
		rc = next_due(c, now, &next);
		if (rc == 0)
			rc = -ENOENT;
		if (out_next_due)
			*out_next_due = next;
		goto out;
	}
	rc = row_get(c, ino, &r);
	if (rc < 0)
		goto out;
	memset(out, 0, sizeof(*out));
	out->ino = ino;
	memcpy(out->id, r.n.id, FC_ID_SIZE);
	out->base_version = r.n.version;
	out->size = r.n.size;
	out->mtime_ns = r.n.mtime_ns;
	out->gen = r.gen;
	out->attempts = r.attempts;
	if (r.lo < r.hi) {
		out->lo = CF_MIN(r.lo, r.n.size);
		out->hi = CF_MIN(r.hi, r.n.size);
	} else {
		out->lo = out->hi = CF_MIN(r.lo, r.n.size);
	}
	r.claimed = true;
	r.due = DUE_NONE;
	r.lo = r.hi = 0;
	rc = row_put(c, &r);
	if (out_next_due)
		*out_next_due = now;
out:
	return tx_end(st, c, rc);
}

int fc_state_upload_done(struct fc_state *st, const struct fc_upload *u,
			 uint64_t version, const struct blk_manifest *m,
			 bool *out_clean)
{
	struct conn *c;
	struct row r;
	bool clean;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, u->ino, &r);
	if (rc == 0 && memcmp(r.n.id, u->id, FC_ID_SIZE))
		rc = -ENOENT;
	if (rc < 0)
		goto out;
	rc = chunks_replace(c, u->ino, m, false, true);
	if (rc < 0)
		goto out;
	clean = r.gen == u->gen && !r.writing;
	if (!clean && m->file_size > r.n.size) {
		/* Truncated meanwhile: rows past the end describe nothing. */
		sqlite3_stmt *s = stmt(c, S_CHUNKS_DEL_FROM);

		if (!s) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, u->ino);
		sqlite3_bind_int64(s, 2, (int64_t)r.n.size);
		rc = run(c, s, "drop chunks");
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
		r.due = DUE_NONE;
	}
	rc = row_put(c, &r);
	if (rc == 0 && out_clean)
		*out_clean = clean;
out:
	return tx_end(st, c, rc);
}

int fc_state_upload_failed(struct fc_state *st, const struct fc_upload *u,
			   int err, int64_t retry_at)
{
	struct conn *c;
	struct row r;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = row_get(c, u->ino, &r);
	if (rc == 0 && memcmp(r.n.id, u->id, FC_ID_SIZE))
		rc = -ENOENT;
	if (rc < 0)
		goto out;
	if (u->lo < u->hi)
		range_merge(&r, u->lo, u->hi);
	else if (r.lo >= r.hi)
		r.lo = r.hi = u->lo;
	r.claimed = false;
	r.attempts++;
	r.last_error = err;
	if (!r.writing && r.n.nlink > 0 && r.n.dirty)
		r.due = retry_at;
	rc = row_put(c, &r);
out:
	return tx_end(st, c, rc);
}

int fc_state_make_due(struct fc_state *st, int64_t now)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_DUE_NODES);
	if (!s) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, now);
	rc = run(c, s, "make uploads due");
	if (rc == 0)
		rc = exec_id(c, S_DUE_OPS);
out:
	return tx_end(st, c, rc);
}

int fc_state_queue_stats(struct fc_state *st, uint64_t *out_files,
			 uint64_t *out_bytes)
{
	sqlite3_stmt *s;
	struct conn *c;
	int rc;

	rc = get_conn(st, &c);
	if (rc < 0)
		return rc;
	s = stmt(c, S_QUEUE_STATS);
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out_files = (uint64_t)sqlite3_column_int64(s, 0);
		*out_bytes = (uint64_t)sqlite3_column_double(s, 1);
		rc = 0;
	} else {
		rc = sql_fail(c, rc, "queue stats");
	}
	done(s);
	return rc;
}

/* ----- account ----- */

int fc_state_cursor_get(struct fc_state *st, uint64_t *out)
{
	struct conn *c;
	int rc = get_conn(st, &c);

	return rc < 0 ? rc : meta_get(c, "cursor", out);
}

int fc_state_cursor_set(struct fc_state *st, uint64_t cursor)
{
	struct conn *c;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = meta_set(c, "cursor", cursor);
	return tx_end(st, c, rc);
}

int fc_state_usage_set(struct fc_state *st, uint64_t usage, uint64_t quota)
{
	struct conn *c;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = meta_set(c, "usage", usage);
	if (rc == 0)
		rc = meta_set(c, "quota", quota);
	return tx_end(st, c, rc);
}

int fc_state_usage_get(struct fc_state *st, uint64_t *out_usage,
		       uint64_t *out_quota)
{
	struct conn *c;
	int rc = get_conn(st, &c);

	if (rc == 0)
		rc = meta_get(c, "usage", out_usage);
	if (rc == 0)
		rc = meta_get(c, "quota", out_quota);
	return rc;
}

/* ----- remote changes ----- */

struct change {
	int64_t ino, parent;
	size_t name_len;
	char name[CF_NAME_MAX + 1];
};

struct changes {
	struct change *v;
	size_t count, cap;
};

static int changes_add(struct changes *ch, int64_t ino, int64_t parent,
		       const char *name, size_t len)
{
	struct change *tmp;

	if (ch->count == ch->cap) {
		ch->cap = ch->cap ? 2 * ch->cap : 32;
		tmp = realloc(ch->v, ch->cap * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		ch->v = tmp;
	}
	tmp = &ch->v[ch->count++];
	tmp->ino = ino;
	tmp->parent = parent;
	tmp->name_len = name ? CF_MIN(len, (size_t)CF_NAME_MAX) : 0;
	if (name)
		memcpy(tmp->name, name, tmp->name_len);
	tmp->name[tmp->name_len] = '\0';
	return 0;
}

static int pending_ops(struct conn *c, bool *out)
{
	uint64_t n;
	int rc = count_state(c, 0, &n);

	*out = n > 0;
	return rc;
}

static int apply_node(struct conn *c, const struct fc_remote_node *rn,
		      struct changes *ch)
{
	sqlite3_stmt *s;
	struct row r;
	int rc;

	if (!kind_ok((int)rn->kind))
		return -EPROTO;
	rc = row_get_id(c, rn->id, &r);
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
		r.n.manifest_version = rn->manifest || !rn->version
					       ? rn->version
					       : 0;
		r.n.pushed = true;
		r.due = DUE_NONE;
		rc = node_insert(c, &r, rn->target, rn->target_len);
		if (rc == 0 && rn->manifest && rn->kind == FC_KIND_FILE)
			rc = chunks_replace(c, r.n.ino, rn->manifest, false,
					    false);
		return rc;
	}
	if (rc < 0)
		return rc;
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
				rc = chunks_replace(c, r.n.ino, rn->manifest,
						    true, false);
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
	rc = row_put(c, &r);
	if (rc == 0 && rn->kind == FC_KIND_SYMLINK && rn->target) {
		s = stmt(c, S_TARGET_SET);
		if (!s)
			return -EIO;
		sqlite3_bind_int64(s, 1, r.n.ino);
		bind_blob(s, 2, rn->target, rn->target_len);
		rc = run(c, s, "set symlink target");
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

	rc = entry_delete(c, eid);
	if (rc == 0)
		rc = row_get(c, ino, &r);
	if (rc < 0)
		return rc;
	if (r.n.kind == FC_KIND_DIR) {
		r.n.nlink = r.n.nlink >= 2 ? r.n.nlink - 2 : 0;
		rc = row_get(c, parent, &pr);
		if (rc == 0 && pr.n.nlink > 2) {
			pr.n.nlink--;
			rc = row_put(c, &pr);
		}
		if (rc < 0 && rc != -ENOENT)
			return rc;
	} else if (r.n.nlink > 0) {
		r.n.nlink--;
	}
	if (r.n.nlink == 0 || (r.n.kind == FC_KIND_DIR && r.n.nlink < 2)) {
		r.unlinked = true;
		r.due = DUE_NONE;
	}
	rc = row_put(c, &r);
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

	rc = entry_insert(c, parent, name, len, ino, remote);
	if (rc == 0)
		rc = row_get(c, ino, &r);
	if (rc < 0)
		return rc;
	r.n.nlink += r.n.kind == FC_KIND_DIR ? 2 : 1;
	r.unlinked = false;
	rc = row_put(c, &r);
	if (rc == 0 && r.n.kind == FC_KIND_DIR) {
		rc = row_get(c, parent, &pr);
		if (rc == 0) {
			pr.n.nlink++;
			rc = row_put(c, &pr);
		}
	}
	if (rc == 0)
		rc = changes_add(ch, 0, parent, name, len);
	return rc;
}

static int apply_entry(struct conn *c, const struct fc_remote_entry *re,
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
	rc = row_get_id(c, re->parent, &pr);
	if (rc == 0)
		rc = row_get_id(c, re->node, &nr);
	if (rc == -ENOENT)
		return re->deleted ? 0 : -EPROTO;
	if (rc < 0)
		return rc;
	s = stmt(c, S_ENTRY_BY_REMOTE);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, re->id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		eid = sqlite3_column_int64(s, 0);
		old_parent = sqlite3_column_int64(s, 1);
		col_copy(s, 2, old_name, CF_NAME_MAX, &old_len);
		old_ino = sqlite3_column_int64(s, 3);
	} else if (rc != SQLITE_DONE) {
		rc = sql_fail(c, rc, "read entry by id");
		done(s);
		return rc;
	}
	done(s);
	if (re->deleted) {
		if (eid)
			return remote_unlink(c, eid, old_parent, old_name,
					     old_len, old_ino, ch);
		rc = entry_get(c, pr.n.ino, re->name, re->name_len, &e);
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
	rc = entry_get(c, pr.n.ino, re->name, re->name_len, &e);
	if (rc == 0 && e.ino == nr.n.ino && !e.remote) {
		s = stmt(c, S_ENTRY_SET_REMOTE);
		if (!s)
			return -EIO;
		sqlite3_bind_int64(s, 1, e.eid);
		sqlite3_bind_int64(s, 2, re->id);
		return run(c, s, "adopt entry");
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

int fc_state_apply_page(struct fc_state *st, const struct fc_remote_page *p,
			fc_changed_fn changed, void *arg)
{
	struct changes ch = { 0 };
	struct conn *c;
	bool pending;
	size_t i;
	int rc;

	rc = tx_begin(st, &c);
	if (rc < 0)
		return rc;
	rc = pending_ops(c, &pending);
	if (rc == 0 && pending)
		rc = -EAGAIN;
	for (i = 0; rc == 0 && i < p->node_count; i++)
		rc = apply_node(c, &p->nodes[i], &ch);
	for (i = 0; rc == 0 && i < p->entry_count; i++)
		rc = apply_entry(c, &p->entries[i], &ch);
	if (rc == 0)
		rc = meta_set(c, "cursor", p->next);
	rc = tx_end(st, c, rc);
	if (rc == 0 && changed) {
		for (i = 0; i < ch.count; i++)
			changed(arg, ch.v[i].ino, ch.v[i].parent,
				ch.v[i].ino ? NULL : ch.v[i].name,
				ch.v[i].name_len);
	}
	free(ch.v);
	return rc;
}
