/* SPDX-License-Identifier: MIT */
/*
 * Private to the SQLite metadata store (srv_meta_sqlite*.c): the store
 * struct, connections with their prepared-statement caches, the statement
 * table, the group-commit entry point and row helpers shared by the files.
 *
 * Threading: one writer thread owns ms->wconn and runs every mutating op
 * (srv_sq_write queues a closure and waits); reads take a connection from
 * the pool (srv_sq_read_get / srv_sq_read_put); a checkpointer thread keeps
 * the WAL short. A srv_sq_conn is used by one thread at a time. Lock
 * order: ms->lock, ms->pool_lock and ms->ckpt_lock are leaves, never held
 * together and never across SQLite calls.
 */
#ifndef CLOUDFS_SRV_META_SQLITE_INT_H
#define CLOUDFS_SRV_META_SQLITE_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "srv_meta.h"

/* Prepared statements, cached per connection; texts in srv_sq_sql[]. */
enum srv_sq_stmt {
	ST_BEGIN,
	ST_BEGIN_IMMEDIATE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_SEQ_NEXT,
	ST_SEQ_GET,
	ST_SECRET_GET,
	ST_SECRET_PUT,

	ST_USER_INSERT,
	ST_USER_GET,
	ST_USER_GET_NAME,
	ST_USER_LIST,
	ST_USER_SET_AUTH,
	ST_KEY_GET,
	ST_KEY_PUT,
	ST_USAGE,

	ST_DEV_INSERT,
	ST_DEV_LIST,
	ST_DEV_GET,
	ST_DEV_REVOKE,
	ST_DEV_TOUCH,
	ST_TOKEN_INSERT,
	ST_TOKEN_LOOKUP,
	ST_TOKEN_DELETE,
	ST_TOKENS_OF_DEVICE_DELETE,

	ST_NODE_GET,
	ST_NODE_EXISTS,
	ST_NODE_INSERT,
	ST_NODE_UPDATE,
	ST_NODE_DELETE,
	ST_ENTRY_GET,
	ST_ENTRY_LOOKUP,
	ST_ENTRY_INSERT,
	ST_ENTRY_UPDATE,
	ST_ENTRY_DELETE,
	ST_ENTRY_PARENT_OF,
	ST_DIR_HAS_CHILD,
	ST_DIR_CHILDREN,
	ST_LIST_DIR,
	ST_CHANGES_NODES,
	ST_CHANGES_ENTRIES,

	ST_TRASH_LIST,
	ST_TRASH_EXPIRED,
	ST_TOMBSTONES_EXPIRED,
	ST_FEED_HORIZON_GET,
	ST_FEED_HORIZON_RAISE,

	ST_VERSION_INSERT,
	ST_VERSION_LIST,
	ST_VERSION_GET,
	ST_VERSION_DELETE,
	ST_VERSIONS_OF_NODE_DELETE,
	ST_VERSIONS_FROM,
	ST_VBLOCK_INSERT,
	ST_VBLOCK_COPY,
	ST_VBLOCKS_OF_VERSION_DELETE,
	ST_VBLOCKS_OF_NODE_DELETE,

	ST_BLOCK_GET,
	ST_BLOCK_INSERT,
	ST_BLOCK_TOUCH,
	ST_BLOCK_DELETE,
	ST_BLOCK_REFERENCED,
	ST_BLOCKS_UNREFERENCED,
	ST_BLOCKS_REFERENCED,
	ST_BLOCKS_ALL,

	ST_COUNT
};

/* Statement texts, indexed by enum srv_sq_stmt (srv_meta_sqlite_sql.c). */
extern const char *const srv_sq_sql[ST_COUNT];

struct srv_sq;

struct srv_sq_conn {
	sqlite3 *db; /* owned */
	struct srv_sq *ms; /* borrowed: the store it belongs to */
	struct srv_sq_conn *next; /* free-pool link, under ms->pool_lock */
	sqlite3_stmt *st[ST_COUNT]; /* owned; prepared on first use */
};

struct srv_sq_wop;

struct srv_sq {
	struct srv_meta base; /* first: callers hold &base */
	char *path; /* owned */
	uint8_t secret[SRV_SECRET_SIZE];

	pthread_mutex_t lock; /* protects the queue and stopping */
	pthread_cond_t wake; /* the writer waits here */
	struct srv_sq_wop *head; /* protected by ->lock */
	struct srv_sq_wop **tail; /* protected by ->lock */
	bool stopping; /* protected by ->lock */
	unsigned queued; /* ops in the queue; protected by ->lock */
	bool writer_running;
	pthread_t writer;
	struct srv_sq_conn *wconn; /* owned; used by the writer only */

	pthread_mutex_t pool_lock; /* protects pool */
	struct srv_sq_conn *pool; /* owned: idle read connections */

	/* Statistics: written by one thread, read by anyone (tests, bench). */
	_Atomic uint64_t batches, batched_ops; /* by the writer */

	/*
	 * The checkpointer copies WAL frames into the database file on its
	 * own connection, so the writer never stalls on a checkpoint's
	 * fsyncs; the writer's WAL hook wakes it.
	 */
	pthread_mutex_t ckpt_lock; /* protects ckpt_due, ckpt_stopping */
	pthread_cond_t ckpt_wake;
	bool ckpt_due;
	bool ckpt_stopping;
	bool ckpt_running;
	pthread_t ckpt;
	struct srv_sq_conn *cconn; /* owned; used by the checkpointer only */
	_Atomic uint64_t checkpoints; /* by the checkpointer */
	int wal_frames; /* writer-only: WAL size after last commit */
	bool sync_lazy; /* writer-only: the last batch did not wait */
	_Atomic uint64_t wal_restarts; /* by the writer */
};

/* A mutating op: runs on the writer thread inside its own SAVEPOINT. */
typedef int (*srv_sq_write_fn)(struct srv_sq_conn *c, void *arg);

/*
 * Queue fn(arg) for the writer and wait until its transaction is durable.
 * Returns fn's result, or the commit's error when fn succeeded but the
 * batch could not commit. arg is borrowed until return. Blocks.
 */
int srv_sq_write(struct srv_sq *ms, srv_sq_write_fn fn, void *arg);

/*
 * Like srv_sq_write, but returns once the transaction is committed and
 * visible, without waiting for its fsync: for index entries a crash may
 * lose without harm, because they are re-derived from the client (a
 * stored block's row; a block's last_seen). The WAL is written in order,
 * so the next durable transaction makes this one durable too: a commit
 * that names a block lands no earlier than the block's row.
 */
int srv_sq_write_lazy(struct srv_sq *ms, srv_sq_write_fn fn, void *arg);

/*
 * On the writer, inside an op: run fn(c, arg) in a nested SAVEPOINT, so
 * its failure undoes only its own changes. Returns fn's result. When the
 * transaction itself is gone (SQLite rolled it back: I/O error, disk
 * full) or the savepoint cannot be undone, sets *lost and returns it.
 */
int srv_sq_nested(struct srv_sq_conn *c, srv_sq_write_fn fn, void *arg,
		  int *lost);

/* Borrow a read connection (-ENOMEM, -EIO); give it back with put. */
int srv_sq_read_get(struct srv_sq *ms, struct srv_sq_conn **out);
void srv_sq_read_put(struct srv_sq *ms, struct srv_sq_conn *c);

/* Start / end a consistent read snapshot on a read connection. */
int srv_sq_read_begin(struct srv_sq_conn *c);
void srv_sq_read_end(struct srv_sq_conn *c);

/*
 * The cached statement id of c, reset and with bindings cleared. The
 * statement stays owned by c; callers sqlite3_reset it when done.
 */
int srv_sq_stmt(struct srv_sq_conn *c, enum srv_sq_stmt id, sqlite3_stmt **out);

/*
 * Bind parameters 1.. of st from a format: 'i' int64_t, 'u' uint64_t,
 * 'N' node id (const uint8_t *, SRV_NODE_ID_SIZE bytes), 'K' block id
 * (const struct blk_id *), 'b' blob (const void *, size_t), 't' text
 * (const char *, size_t), 'z' NULL. Pointers are borrowed until the
 * statement is reset. 0 or -errno.
 */
int srv_sq_bind(struct srv_sq_conn *c, sqlite3_stmt *st, const char *fmt, ...);
int srv_sq_vbind(struct srv_sq_conn *c, sqlite3_stmt *st, const char *fmt,
		 va_list ap);

/*
 * Fetch statement id into *out, bind fmt as srv_sq_bind, step once:
 * 1 = a row (reset *out when done with it), -ENOENT = no row, <0 = -errno.
 */
int srv_sq_row(struct srv_sq_conn *c, enum srv_sq_stmt id, sqlite3_stmt **out,
	       const char *fmt, ...);

/*
 * Step st once: 1 = a row, 0 = done, <0 = -errno (logged). On done or
 * error the statement is reset.
 */
int srv_sq_step(struct srv_sq_conn *c, sqlite3_stmt *st);

/* Step a statement that returns no rows to completion, then reset it. */
int srv_sq_exec(struct srv_sq_conn *c, sqlite3_stmt *st);

/* The one translation of SQLite result codes into negative errno. */
int srv_sq_errno(struct srv_sq_conn *c, int rc, const char *what);

/* Next account seq (users.seq + 1, stored): -ENOENT for unknown users. */
int srv_sq_seq_next(struct srv_sq_conn *c, int64_t user_id, uint64_t *out);

/* The account seq as it is: -ENOENT for unknown users. */
int srv_sq_seq_get(struct srv_sq_conn *c, int64_t user_id, uint64_t *out);

/* Wall clock: nanoseconds and seconds since the epoch. */
int64_t srv_sq_now_ns(void);
int64_t srv_sq_now_s(void);

/* A node row with the columns srv_node does not carry. */
struct srv_sq_node {
	struct srv_node n;
	int64_t trash_entry; /* entry id that held it when trashed, else 0 */
};

/* Load one node of user_id: 0 or -ENOENT, -EIO. */
int srv_sq_node_load(struct srv_sq_conn *c, int64_t user_id, const uint8_t *id,
		     struct srv_sq_node *out);

/* Give mn a fresh seq and write back its mutable columns. */
int srv_sq_node_save(struct srv_sq_conn *c, int64_t user_id,
		     struct srv_sq_node *mn);

/* Delete a node with its versions and version_blocks rows. */
int srv_sq_node_destroy(struct srv_sq_conn *c, int64_t user_id,
			const uint8_t *id);

/* Load an entry by id (live or tombstone): 0, -ENOENT. */
int srv_sq_entry_get(struct srv_sq_conn *c, int64_t user_id, int64_t id,
		     struct srv_entry *out);

/* The live entry (parent, name): 0, -ENOENT. */
int srv_sq_entry_lookup(struct srv_sq_conn *c, int64_t user_id,
			const uint8_t *parent, const char *name, size_t len,
			struct srv_entry *out);

/* Give e a fresh seq and write back parent, name and deleted. */
int srv_sq_entry_save(struct srv_sq_conn *c, int64_t user_id,
		      struct srv_entry *e);

/* Rows into structs; col is the first column (NODE_COLS / ENTRY_COLS). */
int srv_sq_node_from_row(sqlite3_stmt *st, int col, struct srv_node *out);
int srv_sq_entry_from_row(sqlite3_stmt *st, int col, struct srv_entry *out);

/* Read a fixed-size blob column into out: 0 or -EIO (wrong size). */
int srv_sq_col_fixed(sqlite3_stmt *st, int col, void *out, size_t size);

/* Insert e (parent, name, node) as a live entry: fresh seq, fills e->id. */
int srv_sq_entry_insert(struct srv_sq_conn *c, int64_t user_id,
			struct srv_entry *e);

/* One live entry below a directory, as srv_sq_subtree collects them. */
struct srv_sq_item {
	int64_t entry;
	uint8_t node[SRV_NODE_ID_SIZE];
	int kind; /* enum srv_node_kind */
};

/*
 * The live entries of the tree below dir (not dir's own entry), breadth
 * first. Caller frees *out. -ENOMEM, -EIO.
 */
int srv_sq_subtree(struct srv_sq_conn *c, int64_t user_id, const uint8_t *dir,
		   struct srv_sq_item **out, size_t *out_count);

/* Load a live directory: -ENOENT (missing or trashed), -ENOTDIR. */
int srv_sq_dir_load(struct srv_sq_conn *c, int64_t user_id, const uint8_t *id,
		    struct srv_sq_node *out);

/* Directory id changed: mtime = ctime = now_ns, nlink += delta, new seq. */
int srv_sq_dir_touch(struct srv_sq_conn *c, int64_t user_id, const uint8_t *id,
		     int nlink_delta, int64_t now_ns);

/* Results of srv_sq_walk_up. */
enum srv_sq_walk {
	SRV_SQ_WALK_ROOT = 1, /* reached the account's root */
	SRV_SQ_WALK_HIT = 2, /* met stop on the way */
	SRV_SQ_WALK_DETACHED = 3, /* met a node without a live entry: trash */
};

/*
 * Follow live entries from start up to the root, stopping early at stop
 * (may be NULL). An enum srv_sq_walk value, or -EIO for a cycle.
 */
int srv_sq_walk_up(struct srv_sq_conn *c, int64_t user_id, const uint8_t *start,
		   const uint8_t *stop);

/*
 * One entry of node (entry_id, already tombstoned) went away: a
 * non-directory loses a link; a directory, or a node left without links,
 * moves to the trash with deleted = now. New seq for the node.
 */
int srv_sq_drop_link(struct srv_sq_conn *c, int64_t user_id,
		     const uint8_t *node, int64_t entry_id, int64_t now);

/* The ops of each file, wired into the vtable by srv_meta_sqlite.c. */
int srv_sq_tree_node_get(struct srv_meta *m, int64_t user_id, const uint8_t *id,
			 struct srv_node *out);
int srv_sq_tree_lookup(struct srv_meta *m, int64_t user_id,
		       const uint8_t *parent, const char *name, size_t name_len,
		       struct srv_entry *out_entry, struct srv_node *out_node);
int srv_sq_tree_list_dir(struct srv_meta *m, int64_t user_id,
			 const uint8_t *dir, const char *after,
			 size_t after_len, size_t limit, srv_meta_dirent_fn fn,
			 void *arg);
int srv_sq_tree_changes(struct srv_meta *m, int64_t user_id, uint64_t since,
			size_t limit, srv_meta_node_fn node_fn,
			srv_meta_entry_fn entry_fn, void *arg,
			uint64_t *out_next, bool *out_more);
int srv_sq_tree_create(struct srv_meta *m, int64_t user_id,
		       const struct srv_node *n, const uint8_t *parent,
		       const char *name, size_t name_len, uint64_t *out_seq);
int srv_sq_tree_create_batch(struct srv_meta *m, int64_t user_id,
			     const struct srv_create *items, size_t count,
			     size_t *out_done, uint64_t *out_seq);
int srv_sq_tree_link(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		     const uint8_t *parent, const char *name, size_t name_len,
		     uint64_t *out_seq);
int srv_sq_tree_unlink(struct srv_meta *m, int64_t user_id,
		       const struct srv_slot *at, unsigned flags, int64_t now,
		       uint64_t *out_seq);
int srv_sq_tree_rename(struct srv_meta *m, int64_t user_id,
		       const struct srv_slot *src, const struct srv_slot *dst,
		       unsigned flags, int64_t now, uint64_t *out_seq);
int srv_sq_tree_setattr(struct srv_meta *m, int64_t user_id,
			const uint8_t *node, const struct srv_setattr *attr,
			uint64_t *out_seq);
int srv_sq_tree_mark_pending(struct srv_meta *m, int64_t user_id,
			     const uint8_t *node, int64_t device_id,
			     uint64_t *out_seq);

int srv_sq_trash_list(struct srv_meta *m, int64_t user_id, srv_meta_trash_fn fn,
		      void *arg);
int srv_sq_trash_restore(struct srv_meta *m, int64_t user_id,
			 const uint8_t *node, const uint8_t *parent,
			 const char *name, size_t name_len, uint64_t *out_seq);
int srv_sq_trash_purge(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		       uint64_t *out_seq);
int srv_sq_gc_prune(struct srv_meta *m, int64_t now, int64_t retention,
		    uint64_t *out_versions, uint64_t *out_nodes);

int srv_sq_ver_commit(struct srv_meta *m, int64_t user_id,
		      const struct srv_commit *cm, uint64_t *out_version,
		      uint64_t *out_seq, struct blk_id **out_missing,
		      size_t *out_missing_count);
int srv_sq_ver_commit_batch(struct srv_meta *m, int64_t user_id,
			    const struct srv_commit *cs, size_t count,
			    struct srv_commit_result *out);
int srv_sq_ver_versions(struct srv_meta *m, int64_t user_id,
			const uint8_t *node, srv_meta_version_fn fn, void *arg);
int srv_sq_ver_get(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		   uint64_t version, struct srv_version *out);
int srv_sq_ver_restore(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		       uint64_t version, int64_t device_id,
		       uint64_t *out_version, uint64_t *out_seq);
int srv_sq_blocks_missing(struct srv_meta *m, int64_t user_id,
			  const struct blk_id *ids, size_t count, int64_t now,
			  bool *out_missing);
int srv_sq_block_add(struct srv_meta *m, int64_t user_id,
		     const struct blk_id *id, uint64_t size, int64_t now,
		     bool *out_new);
int srv_sq_block_has(struct srv_meta *m, int64_t user_id,
		     const struct blk_id *id, uint64_t *out_size);
int srv_sq_gc_unreferenced(struct srv_meta *m, int64_t older_than,
			   srv_meta_block_fn fn, void *arg);
int srv_sq_block_forget(struct srv_meta *m, int64_t user_id,
			const struct blk_id *id, int64_t older_than);
int srv_sq_referenced_blocks(struct srv_meta *m, srv_meta_block_fn fn,
			     void *arg);
int srv_sq_stored_blocks(struct srv_meta *m, srv_meta_block_fn fn, void *arg);

/* Accounts, devices, tokens (srv_meta_sqlite_acct.c). */
int srv_sq_user_create(struct srv_meta *m, struct srv_user *u);
int srv_sq_user_get(struct srv_meta *m, int64_t id, struct srv_user *out);
int srv_sq_user_get_by_name(struct srv_meta *m, const char *name,
			    struct srv_user *out);
int srv_sq_user_list(struct srv_meta *m, srv_meta_user_fn fn, void *arg);
int srv_sq_user_set_auth(struct srv_meta *m, int64_t user_id,
			 const struct srv_user *auth,
			 const uint8_t *wrapped_key, size_t wrapped_size);
int srv_sq_key_get(struct srv_meta *m, int64_t user_id, uint8_t *out,
		   size_t out_size, size_t *out_len);
int srv_sq_key_put(struct srv_meta *m, int64_t user_id, const uint8_t *wrapped,
		   size_t size, bool replace);
int srv_sq_usage(struct srv_meta *m, int64_t user_id, struct srv_usage *out);
int srv_sq_secret_get(struct srv_meta *m, uint8_t out[SRV_SECRET_SIZE]);
int srv_sq_device_create(struct srv_meta *m, int64_t user_id, const char *name,
			 int64_t *out_id);
int srv_sq_device_list(struct srv_meta *m, int64_t user_id,
		       srv_meta_device_fn fn, void *arg);
int srv_sq_device_revoke(struct srv_meta *m, int64_t device_id);
int srv_sq_token_create(struct srv_meta *m, const uint8_t *hash,
			int64_t user_id, int64_t device_id);
int srv_sq_token_lookup(struct srv_meta *m, const uint8_t *hash,
			int64_t *out_user, int64_t *out_device);
int srv_sq_token_delete(struct srv_meta *m, const uint8_t *hash);

#endif /* CLOUDFS_SRV_META_SQLITE_INT_H */
