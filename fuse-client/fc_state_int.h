/* SPDX-License-Identifier: MIT */
/*
 * Private to the fc_state module (fc_state*.c): the connection,
 * the prepared statement ids, the full node row and the helpers the
 * module's files share. Nothing outside fuse-client/fc_state*.c includes
 * this. Same threading rules as fc_state.h; write helpers must run between
 * fc_state_tx_begin and fc_state_tx_end.
 */
#ifndef CLOUDFS_FC_STATE_INT_H
#define CLOUDFS_FC_STATE_INT_H

#include "fc_state.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#define FC_STATE_LINK_MAX 65000
#define FC_STATE_DUE_NONE INT64_MIN /* the due column is NULL */

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_NODE_GET,
	S_NODE_GET_ID,
	S_NODE_INS,
	S_NODE_PUT,
	S_NODE_DEL,
	S_NODE_PUSHED,
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
	S_OP_SLOT,
	S_OP_NAMES,
	S_OP_RENAME,
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
	S_DEFER_PUT,
	S_DEFER_DEL,
	S_DEFER_ALL,
	S_ENTRY_SEEN,
	S_ENTRIES_UNSEEN,
	S_COUNT
};

/* The connection and its statements. */
struct conn {
	sqlite3 *db; /* owned */
	sqlite3_stmt *stmts[S_COUNT]; /* owned, prepared on first use */
};

struct fc_state {
	uint32_t uid, gid;
	pthread_mutex_t lock; /* recursive; guards conn and ops_pushed */
	atomic_int fg_waiting; /* foreground threads waiting for ->lock */
	pthread_cond_t fg_gone; /* with ->lock: fg_waiting fell to 0 */
	struct conn *conn;    /* owned */
	uint64_t ops_pushed;  /* outbox ops done or failed, this process */
	char device[64];      /* for conflicted copy names */
};

/* The columns of a full node row: NODE_COLS of the statement table. */
#define FC_STATE_NODE_NCOLS 26

/* A node row with the queue columns fc_node does not show. */
struct row {
	struct fc_node n;
	uint64_t gen, lo, hi;
	bool writing, claimed, unlinked;
	int64_t due; /* FC_STATE_DUE_NONE = NULL */
	uint32_t attempts;
	int last_error;
};

/* An entry row. */
struct ent {
	int64_t eid, ino, remote; /* remote 0 = unknown */
};

/* kind is one of enum fc_kind. */
bool fc_state_kind_ok(int kind);

/* Log a SQLite failure (what, c's message) and map rc to -errno once. */
int fc_state_sql_fail(struct conn *c, int rc, const char *what);

/*
 * Open the state database at path (borrowed) as the one connection,
 * configured but not migrated; *out is the caller's (fc_state_conn_free).
 * -ENOMEM, or the mapped SQLite failure (logged).
 */
int fc_state_conn_open(const char *path, struct conn **out);

/* Finalize c's statements and close it; NULL is a no-op. */
void fc_state_conn_free(struct conn *c);

/*
 * Take the connection for reads (st->lock) until fc_state_read_end, which
 * returns rc so a function can end with `return fc_state_read_end(st,
 * rc);`. Reads may nest inside a write transaction of the same thread.
 * A background thread steps back while a foreground one waits.
 */
void fc_state_read_begin(struct fc_state *st, struct conn **out);
int fc_state_read_end(struct fc_state *st, int rc);

/* The prepared statement id of c, reset and unbound, or NULL (logged). */
sqlite3_stmt *fc_state_stmt(struct conn *c, enum stmt_id id);

/* Reset s and clear its bindings after use (NULL is a no-op). */
void fc_state_reset(sqlite3_stmt *s);

/* Run a statement that returns no rows. 0 or -errno. */
int fc_state_run(struct conn *c, sqlite3_stmt *s, const char *what);

/* Run a statement that changes rows: as fc_state_run, -ENOENT on none. */
int fc_state_run_changed(struct conn *c, sqlite3_stmt *s, const char *what);

/*
 * Step s (bound by the caller), a query of one row, and read its first
 * column into *out. 0 or -errno (no row is an error too); resets s.
 */
int fc_state_count(struct conn *c, sqlite3_stmt *s, const char *what,
		   uint64_t *out);

/* Run statement id, which returns no rows. 0 or -errno. */
int fc_state_exec(struct conn *c, enum stmt_id id);

/*
 * Whether c's next commits wait for the disk (fsync(2)) or only reach the
 * file, at once and in one write: a killed process loses none of them, a
 * power cut may lose the last (cf_wal_gather.h). Not durable from the open
 * on. 0, or -ENOENT (logged) before the log file is open.
 */
int fc_state_durable(struct conn *c, bool durable);

/* Begin a write transaction: takes st->lock until tx_end. */
int fc_state_tx_begin(struct fc_state *st, struct conn **out);

/*
 * Begin a write transaction and fetch statement id in it. On failure
 * nothing is left open (the transaction is rolled back): -EIO, -ENOMEM.
 */
int fc_state_tx_stmt(struct fc_state *st, enum stmt_id id, struct conn **out_c,
		     sqlite3_stmt **out_s);

/* Commit (rc >= 0) or roll back (rc < 0); returns the final rc. */
int fc_state_tx_end(struct fc_state *st, struct conn *c, int rc);

/* Bind p (borrowed until the step) as a blob parameter. */
int fc_state_bind_blob(sqlite3_stmt *s, int i, const void *p, size_t size);

/* Copy a blob column into out (size bytes exactly): 0 or -EPROTO. */
int fc_state_col_blob(sqlite3_stmt *s, int i, void *out, size_t size);

/* Read a node row starting at column base of s. 0 or -EPROTO. */
int fc_state_row_read(sqlite3_stmt *s, int base, struct row *r);

/* Read node ino (full row). -ENOENT. */
int fc_state_row_get(struct conn *c, int64_t ino, struct row *out);

/* Read node by server id (full row). -ENOENT. */
int fc_state_row_get_id(struct conn *c, const uint8_t id[FC_ID_SIZE],
			struct row *out);

/* Write back every mutable column of r. */
int fc_state_row_put(struct conn *c, const struct row *r);

/* Insert a new node; n->ino is set from the new row id. */
int fc_state_node_insert(struct conn *c, struct row *r, const char *target,
			 size_t target_len);

/* Entry (parent, name). -ENOENT. */
int fc_state_entry_get(struct conn *c, int64_t parent, const char *name,
		       size_t len, struct ent *out);

/* Insert entry (parent, name) -> ino; remote 0 = not known yet. */
int fc_state_entry_insert(struct conn *c, int64_t parent, const char *name,
			  size_t len, int64_t ino, int64_t remote);

/* Delete entry eid. */
int fc_state_entry_delete(struct conn *c, int64_t eid);

/* *out = directory dir has no entries. */
int fc_state_dir_is_empty(struct conn *c, int64_t dir, bool *out);

/* Parent of directory ino (its only entry); 0 for the root or none. */
int fc_state_dir_parent(struct conn *c, int64_t ino, int64_t *out);

/* Append op to the outbox (inside the change's transaction). */
int fc_state_op_append(struct conn *c, const struct fc_op *op);

/* Account value key (0 when unset) and its update. */
int fc_state_meta_get(struct conn *c, const char *key, uint64_t *out);

int fc_state_meta_set(struct conn *c, const char *key, uint64_t v);

/* Directory ino must exist and be a directory: -ENOENT, -ENOTDIR. */
int fc_state_need_dir(struct conn *c, int64_t ino, struct row *out);

/* Merge [lo, hi) into r's dirty range (lo >= hi: nothing). */
void fc_state_range_merge(struct row *r, uint64_t lo, uint64_t hi);

/*
 * Copy a blob column of at most cap bytes into out; *out_len gets its
 * size (0 when absent or too long).
 */
void fc_state_col_copy(sqlite3_stmt *s, int i, void *out, size_t cap,
		       size_t *out_len);

/* Outbox ops in state (0 pending, 2 failed). */
int fc_state_count_ops(struct conn *c, int state, uint64_t *out);

/*
 * Replace ino's chunk rows by m. keep: old rows with the same offset, size
 * and id keep their present bit; all_present: every new row is present.
 */
int fc_state_chunks_replace(struct conn *c, int64_t ino,
			    const struct blk_manifest *m, bool keep,
			    bool all_present);

#endif /* CLOUDFS_FC_STATE_INT_H */
