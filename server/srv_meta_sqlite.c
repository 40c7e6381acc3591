/* SPDX-License-Identifier: MIT */
/*
 * The SQLite metadata store: opening and migrating the database, the
 * group-commit writer thread, the read-connection pool, the statement
 * cache and SQLite-to-errno translation. The ops live beside it:
 * accounts, devices and tokens in srv_meta_sqlite_acct.c, tree rows in
 * srv_meta_sqlite_rows.c, tree ops in srv_meta_sqlite_tree.c, trash and
 * pruning in srv_meta_sqlite_trash.c, versions, commits and blocks in
 * srv_meta_sqlite_ver.c, and every SQL text in srv_meta_sqlite_sql.c.
 *
 * Group commit: every mutating op is a closure queued to one writer
 * thread. The writer takes everything queued, opens one BEGIN IMMEDIATE
 * transaction, runs each op inside its own SAVEPOINT (a failing op rolls
 * back only itself), commits once (WAL, synchronous=FULL: one fsync for
 * the whole batch) and then wakes every caller. The commit's WAL frames
 * leave in one write (cf_wal_gather.h). A batch made only of lazy ops
 * (srv_sq_write_lazy) commits without the fsync. Reads use pooled
 * connections and see only committed data, so a caller reads its own
 * writes once meta_write returned.
 *
 * Lock order: ms->lock (queue) and ms->pool_lock (pool) are leaves; neither
 * is held across an SQLite call or while taking the other.
 */
#include "srv_meta.h"

#define CF_LOG_SUBSYS "meta"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "cf_log.h"
#include "cf_wal_gather.h"
#include "srv_meta_sqlite_int.h"
#include "srv_schema.h"

const uint8_t srv_root_id[SRV_NODE_ID_SIZE] = { 0 };

/* Idle read connections kept; more are closed when returned. */
#define POOL_IDLE_MAX 32
/* Busy timeout for the rare cross-process lock wait (the CLI's gc). */
#define BUSY_TIMEOUT_MS 10000
/* WAL frames (pages) after which the checkpointer is woken. */
#define CKPT_FRAMES 2000
/* WAL frames after which the writer finishes the checkpoint itself. */
#define CKPT_WRITER_FRAMES (2 * CKPT_FRAMES)

struct srv_sq_wop {
	srv_sq_write_fn fn;
	void *arg; /* borrowed from the waiting caller */
	int rc; /* protected by ms->lock once queued */
	bool lazy; /* need not be durable when done */
	bool done; /* protected by ms->lock */
	pthread_cond_t cond; /* the caller waits here, with ms->lock */
	struct srv_sq_wop *next; /* protected by ms->lock */
};

static struct srv_sq *sq_of(struct srv_meta *m)
{
	return (struct srv_sq *)m;
}

int64_t srv_sq_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t srv_sq_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* ----- errors, statements, binding ----- */

int srv_sq_errno(struct srv_sq_conn *c, int rc, const char *what)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return -ENOENT;
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		cf_err("sqlite: %s: %s (%d)", what ? what : "?",
		       c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc),
		       rc);
		return -EIO;
	}
}

int srv_sq_stmt(struct srv_sq_conn *c, enum srv_sq_stmt id, sqlite3_stmt **out)
{
	int rc;

	*out = NULL;
	if (!c->st[id]) {
		rc = sqlite3_prepare_v3(c->db, srv_sq_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT, &c->st[id],
					NULL);
		if (rc != SQLITE_OK)
			return srv_sq_errno(c, rc, srv_sq_sql[id]);
	} else {
		sqlite3_reset(c->st[id]);
		sqlite3_clear_bindings(c->st[id]);
	}
	*out = c->st[id];
	return 0;
}

static int bind_blob(sqlite3_stmt *st, int i, const void *p, size_t size)
{
	if (size > INT_MAX)
		return SQLITE_TOOBIG;
	if (size == 0)
		return sqlite3_bind_zeroblob(st, i, 0);
	return sqlite3_bind_blob(st, i, p, (int)size, SQLITE_STATIC);
}

int srv_sq_vbind(struct srv_sq_conn *c, sqlite3_stmt *st, const char *fmt,
		 va_list ap)
{
	const struct blk_id *id;
	const void *p;
	size_t size;
	int i, rc = SQLITE_OK;

	for (i = 1; fmt[i - 1] && rc == SQLITE_OK; i++) {
		switch (fmt[i - 1]) {
		case 'i':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'u':
			rc = sqlite3_bind_int64(st, i,
						(int64_t)va_arg(ap, uint64_t));
			break;
		case 'N':
			p = va_arg(ap, const uint8_t *);
			rc = bind_blob(st, i, p, SRV_NODE_ID_SIZE);
			break;
		case 'K':
			id = va_arg(ap, const struct blk_id *);
			rc = bind_blob(st, i, id->bytes, BLK_ID_SIZE);
			break;
		case 'b':
			p = va_arg(ap, const void *);
			size = va_arg(ap, size_t);
			rc = bind_blob(st, i, p, size);
			break;
		case 't':
			p = va_arg(ap, const char *);
			size = va_arg(ap, size_t);
			rc = size > INT_MAX
				     ? SQLITE_TOOBIG
				     : sqlite3_bind_text(st, i, p, (int)size,
							 SQLITE_STATIC);
			break;
		case 'z':
			rc = sqlite3_bind_null(st, i);
			break;
		default:
			rc = SQLITE_MISUSE;
			break;
		}
	}
	if (rc != SQLITE_OK)
		return srv_sq_errno(c, rc, sqlite3_sql(st));
	return 0;
}

int srv_sq_bind(struct srv_sq_conn *c, sqlite3_stmt *st, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = srv_sq_vbind(c, st, fmt, ap);
	va_end(ap);
	return rc;
}

int srv_sq_row(struct srv_sq_conn *c, enum srv_sq_stmt id, sqlite3_stmt **out,
	       const char *fmt, ...)
{
	va_list ap;
	int rc;

	rc = srv_sq_stmt(c, id, out);
	if (rc < 0)
		return rc;
	va_start(ap, fmt);
	rc = srv_sq_vbind(c, *out, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = srv_sq_step(c, *out);
	return rc == 0 ? -ENOENT : rc;
}

int srv_sq_step(struct srv_sq_conn *c, sqlite3_stmt *st)
{
	int rc, err;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	err = srv_sq_errno(c, rc, sqlite3_sql(st));
	sqlite3_reset(st);
	return err;
}

int srv_sq_exec(struct srv_sq_conn *c, sqlite3_stmt *st)
{
	int rc;

	rc = srv_sq_step(c, st);
	if (rc > 0) {
		sqlite3_reset(st);
		rc = 0;
	}
	return rc;
}

static int exec_id(struct srv_sq_conn *c, enum srv_sq_stmt id)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, id, &st);
	if (rc < 0)
		return rc;
	return srv_sq_exec(c, st);
}

/* Reset every statement still stepping (after an op failed midway). */
static void reset_busy(struct srv_sq_conn *c)
{
	sqlite3_stmt *st = NULL;

	while ((st = sqlite3_next_stmt(c->db, st)))
		if (sqlite3_stmt_busy(st))
			sqlite3_reset(st);
}

int srv_sq_col_fixed(sqlite3_stmt *st, int col, void *out, size_t size)
{
	const void *p = sqlite3_column_blob(st, col);

	if (!p || (size_t)sqlite3_column_bytes(st, col) != size) {
		cf_err("corrupt row: column %d of \"%.60s\" is not %zu bytes",
		       col, sqlite3_sql(st), size);
		return -EIO;
	}
	memcpy(out, p, size);
	return 0;
}

int srv_sq_seq_next(struct srv_sq_conn *c, int64_t user_id, uint64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_row(c, ST_SEQ_NEXT, &st, "i", user_id);
	if (rc < 0)
		return rc;
	*out = (uint64_t)sqlite3_column_int64(st, 0);
	return srv_sq_exec(c, st);
}

int srv_sq_seq_get(struct srv_sq_conn *c, int64_t user_id, uint64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_row(c, ST_SEQ_GET, &st, "i", user_id);
	if (rc < 0)
		return rc;
	*out = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

/* ----- connections ----- */

static void conn_close(struct srv_sq_conn *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	if (sqlite3_close(c->db) != SQLITE_OK)
		cf_err("sqlite close: %s", sqlite3_errmsg(c->db));
	free(c);
}

/*
 * The writer keeps its temp files in memory: each op of a batch runs in a
 * savepoint, whose undo copy of every page it changes would otherwise be
 * one write(2) each into a temp file (2.4 per create of a small file).
 * They hold one batch's pages at most.
 */
static int conn_open(struct srv_sq *ms, bool writer, struct srv_sq_conn **out)
{
	static const char writer_pragmas[] = "PRAGMA foreign_keys = ON;"
					     "PRAGMA synchronous = FULL;"
					     "PRAGMA temp_store = MEMORY;";
	static const char reader_pragmas[] = "PRAGMA foreign_keys = ON;"
					     "PRAGMA query_only = ON;";
	struct srv_sq_conn *c;
	int flags, rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ms = ms;
	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (writer)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(ms->path, &c->db, flags,
			     writer ? CF_WAL_GATHER_VFS : NULL);
	if (rc != SQLITE_OK) {
		if (!c->db) {
			free(c);
			return -ENOMEM;
		}
		rc = srv_sq_errno(c, rc, ms->path);
		goto out;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	rc = sqlite3_exec(c->db, writer ? writer_pragmas : reader_pragmas, NULL,
			  NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = srv_sq_errno(c, rc, "pragmas");
		goto out;
	}
	rc = 0;
	*out = c;
	c = NULL;
out:
	conn_close(c);
	return rc;
}

int srv_sq_read_get(struct srv_sq *ms, struct srv_sq_conn **out)
{
	struct srv_sq_conn *c;

	pthread_mutex_lock(&ms->pool_lock);
	c = ms->pool;
	if (c)
		ms->pool = c->next;
	pthread_mutex_unlock(&ms->pool_lock);
	if (c) {
		c->next = NULL;
		*out = c;
		return 0;
	}
	return conn_open(ms, false, out);
}

void srv_sq_read_put(struct srv_sq *ms, struct srv_sq_conn *c)
{
	size_t idle = 0;
	struct srv_sq_conn *p;

	if (!c)
		return;
	reset_busy(c);
	if (!sqlite3_get_autocommit(c->db))
		exec_id(c, ST_ROLLBACK);
	pthread_mutex_lock(&ms->pool_lock);
	for (p = ms->pool; p && idle < POOL_IDLE_MAX; p = p->next)
		idle++;
	if (idle < POOL_IDLE_MAX) {
		c->next = ms->pool;
		ms->pool = c;
		c = NULL;
	}
	pthread_mutex_unlock(&ms->pool_lock);
	conn_close(c);
}

int srv_sq_read_begin(struct srv_sq_conn *c)
{
	return exec_id(c, ST_BEGIN);
}

void srv_sq_read_end(struct srv_sq_conn *c)
{
	reset_busy(c);
	if (!sqlite3_get_autocommit(c->db) && exec_id(c, ST_COMMIT) < 0)
		exec_id(c, ST_ROLLBACK);
}

/* ----- the writer ----- */

int srv_sq_nested(struct srv_sq_conn *c, srv_sq_write_fn fn, void *arg,
		  int *lost)
{
	int rc = exec_id(c, ST_SAVEPOINT);

	if (rc == 0)
		rc = fn(c, arg);
	if (rc < 0)
		reset_busy(c);
	if (sqlite3_get_autocommit(c->db)) {
		/*
		 * SQLite rolled the whole transaction back (I/O error, disk
		 * full): everything in it is lost.
		 */
		*lost = rc < 0 ? rc : -EIO;
		return *lost;
	}
	if (rc < 0 && exec_id(c, ST_ROLLBACK_TO) < 0)
		*lost = rc;
	if (exec_id(c, ST_RELEASE) < 0 && !*lost)
		*lost = -EIO;
	return *lost ? *lost : rc;
}

/*
 * A batch of lazy ops only commits without waiting for the disk (see
 * cf_wal_gather.h: the durability of synchronous=NORMAL). Until the WAL
 * file opens, with the first transaction, every commit waits.
 */
static void set_durability(struct srv_sq *ms, const struct srv_sq_wop *batch)
{
	const struct srv_sq_wop *op;
	bool lazy = true;
	int rc;

	for (op = batch; op && lazy; op = op->next)
		lazy = op->lazy;
	rc = cf_wal_gather_set(ms->wconn->db, lazy ? CF_WAL_GATHER_LAZY
						   : CF_WAL_GATHER_DURABLE);
	ms->sync_lazy = lazy && rc == 0;
}

/* Run one batch in one transaction; sets every op's rc. */
static void run_batch(struct srv_sq *ms, struct srv_sq_wop *batch)
{
	struct srv_sq_conn *c = ms->wconn;
	struct srv_sq_wop *op;
	int rc, lost = 0;

	set_durability(ms, batch);
	rc = exec_id(c, ST_BEGIN_IMMEDIATE);
	if (rc < 0) {
		for (op = batch; op; op = op->next)
			op->rc = rc;
		return;
	}
	for (op = batch; op; op = op->next)
		op->rc = lost ? lost : srv_sq_nested(c, op->fn, op->arg, &lost);
	if (!lost) {
		reset_busy(c); /* an op may have left a SELECT mid-way */
		rc = exec_id(c, ST_COMMIT);
		if (rc < 0)
			lost = rc;
	}
	if (lost) {
		reset_busy(c);
		if (!sqlite3_get_autocommit(c->db))
			exec_id(c, ST_ROLLBACK);
		for (op = batch; op; op = op->next)
			if (op->rc >= 0)
				op->rc = lost;
	}
	ms->batches++;
}

/*
 * The WAL restarts from its beginning only when a write transaction starts
 * with every frame checkpointed, which a background checkpoint racing a
 * busy writer never sees. So once the WAL is long, the writer finishes
 * the job between two batches: the checkpointer has copied most frames
 * already, this copies the tail (or returns at once with SQLITE_BUSY while
 * the checkpointer is mid-way), and the next batch restarts the WAL.
 */
static void wal_catch_up(struct srv_sq *ms)
{
	int rc, log = 0, done = 0;

	if (ms->wal_frames < CKPT_WRITER_FRAMES)
		return;
	rc = sqlite3_wal_checkpoint_v2(ms->wconn->db, NULL,
				       SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (rc == SQLITE_OK && log == done) {
		ms->wal_frames = 0;
		ms->wal_restarts++;
	} else if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		srv_sq_errno(ms->wconn, rc, "checkpoint");
	}
}

static void *writer_main(void *arg)
{
	struct srv_sq *ms = arg;
	struct srv_sq_wop *batch, *op, *next;
	unsigned n;

	for (;;) {
		pthread_mutex_lock(&ms->lock);
		while (!ms->head && !ms->stopping)
			pthread_cond_wait(&ms->wake, &ms->lock);
		batch = ms->head;
		n = ms->queued;
		ms->head = NULL;
		ms->tail = &ms->head;
		ms->queued = 0;
		pthread_mutex_unlock(&ms->lock);
		if (!batch)
			break; /* stopping and drained */

		run_batch(ms, batch);

		pthread_mutex_lock(&ms->lock);
		for (op = batch; op; op = next) {
			next = op->next;
			op->done = true;
			pthread_cond_signal(&op->cond);
		}
		pthread_mutex_unlock(&ms->lock);
		ms->batched_ops += n;
		wal_catch_up(ms);
	}
	return NULL;
}

static int write_op(struct srv_sq *ms, srv_sq_write_fn fn, void *arg,
		    bool lazy)
{
	struct srv_sq_wop op = { .fn = fn, .arg = arg, .lazy = lazy };
	int rc;

	rc = pthread_cond_init(&op.cond, NULL);
	if (rc)
		return -rc;
	pthread_mutex_lock(&ms->lock);
	if (ms->stopping) {
		pthread_mutex_unlock(&ms->lock);
		pthread_cond_destroy(&op.cond);
		return -ESHUTDOWN;
	}
	*ms->tail = &op;
	ms->tail = &op.next;
	ms->queued++;
	pthread_cond_signal(&ms->wake);
	while (!op.done)
		pthread_cond_wait(&op.cond, &ms->lock);
	rc = op.rc;
	pthread_mutex_unlock(&ms->lock);
	pthread_cond_destroy(&op.cond);
	return rc;
}

int srv_sq_write(struct srv_sq *ms, srv_sq_write_fn fn, void *arg)
{
	return write_op(ms, fn, arg, false);
}

int srv_sq_write_lazy(struct srv_sq *ms, srv_sq_write_fn fn, void *arg)
{
	return write_op(ms, fn, arg, true);
}

/* ----- the checkpointer ----- */

/* Called by SQLite on the writer after each commit. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct srv_sq *ms = arg;

	(void)db;
	(void)name;
	/* Once per CKPT_FRAMES: each checkpoint costs a database fsync. */
	if (frames / CKPT_FRAMES > ms->wal_frames / CKPT_FRAMES) {
		pthread_mutex_lock(&ms->ckpt_lock);
		ms->ckpt_due = true;
		pthread_cond_signal(&ms->ckpt_wake);
		pthread_mutex_unlock(&ms->ckpt_lock);
	}
	ms->wal_frames = frames;
	return SQLITE_OK;
}

/*
 * PASSIVE checkpoints never block the writer or readers; once every frame
 * is in the database file, the writer's next transaction restarts the WAL
 * from its beginning, so the WAL file stays small and is overwritten in
 * place (an fdatasync then has no file size to journal).
 */
static void *ckpt_main(void *arg)
{
	struct srv_sq *ms = arg;
	int rc, log, done;

	for (;;) {
		pthread_mutex_lock(&ms->ckpt_lock);
		while (!ms->ckpt_due && !ms->ckpt_stopping)
			pthread_cond_wait(&ms->ckpt_wake, &ms->ckpt_lock);
		ms->ckpt_due = false;
		if (ms->ckpt_stopping) {
			pthread_mutex_unlock(&ms->ckpt_lock);
			break;
		}
		pthread_mutex_unlock(&ms->ckpt_lock);
		rc = sqlite3_wal_checkpoint_v2(ms->cconn->db, NULL,
					       SQLITE_CHECKPOINT_PASSIVE, &log,
					       &done);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			srv_sq_errno(ms->cconn, rc, "checkpoint");
		ms->checkpoints++;
	}
	return NULL;
}

/* ----- open, migrate, close ----- */

static int schema_version(struct srv_sq_conn *c, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = srv_sq_errno(c, rc, "user_version");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = srv_sq_errno(c, rc, "user_version");
		goto out;
	}
	*out = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Page size first (it only takes on a new database, and never once in WAL
 * mode), then WAL. 2 KiB pages: a commit dirties a handful of b-tree
 * pages, and every dirty page goes to the WAL and through the commit's
 * fdatasync; halving the page roughly halves those bytes, which measured
 * about 1.5x more durable commits per second than 4 KiB (bench/metabench).
 */
static int set_wal(struct srv_sq_conn *c)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc;

	rc = sqlite3_exec(c->db, "PRAGMA page_size = 2048", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return srv_sq_errno(c, rc, "page_size");
	rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = srv_sq_errno(c, rc, "journal_mode");
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	if (!mode || strcmp((const char *)mode, "wal") != 0) {
		cf_err("%s: cannot use WAL (journal mode %s)", c->ms->path,
		       mode ? (const char *)mode : "?");
		rc = -EIO;
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Bring the schema up to the newest embedded version, all in one
 * transaction: a crash leaves the old version, never half of a new one.
 */
static int migrate(struct srv_sq_conn *c)
{
	const struct srv_schema_file *f;
	int have = 0, newest, rc;
	char pragma[64];
	size_t i;
	int n;

	newest = srv_schema_files[srv_schema_file_count - 1].version;
	rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return srv_sq_errno(c, rc, "begin migration");
	rc = schema_version(c, &have);
	if (rc < 0)
		goto out;
	if (have > newest) {
		cf_err("%s: schema version %d is newer than this cloudfsd "
		       "knows (%d)",
		       c->ms->path, have, newest);
		rc = -EPROTO;
		goto out;
	}
	for (i = (size_t)have; i < srv_schema_file_count; i++) {
		f = &srv_schema_files[i];
		rc = sqlite3_exec(c->db, f->sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = srv_sq_errno(c, rc, f->name);
			goto out;
		}
		/* A constant from the binary, not data: safe to format. */
		n = snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
			     f->version);
		if (n < 0 || (size_t)n >= sizeof(pragma)) {
			rc = -EOVERFLOW;
			goto out;
		}
		rc = sqlite3_exec(c->db, pragma, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = srv_sq_errno(c, rc, "user_version");
			goto out;
		}
		cf_info("%s: schema %s applied (version %d)", c->ms->path,
			f->name, f->version);
	}
	rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		rc = srv_sq_errno(c, rc, "commit migration");
	else
		rc = 0;
out:
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int secret_load(struct srv_sq *ms)
{
	struct srv_sq_conn *c = ms->wconn;
	uint8_t fresh[SRV_SECRET_SIZE];
	sqlite3_stmt *st;
	int rc, tries;

	for (tries = 0; tries < 2; tries++) {
		rc = srv_sq_stmt(c, ST_SECRET_GET, &st);
		if (rc == 0)
			rc = srv_sq_step(c, st);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			rc = srv_sq_col_fixed(st, 0, ms->secret,
					      SRV_SECRET_SIZE);
			sqlite3_reset(st);
			return rc;
		}
		if (RAND_bytes(fresh, sizeof(fresh)) != 1)
			return -EIO;
		rc = srv_sq_stmt(c, ST_SECRET_PUT, &st);
		if (rc == 0)
			rc = srv_sq_bind(c, st, "b", fresh, sizeof(fresh));
		if (rc == 0)
			rc = srv_sq_exec(c, st);
		OPENSSL_cleanse(fresh, sizeof(fresh));
		/* -EEXIST: another process won the race; read theirs. */
		if (rc < 0 && rc != -EEXIST)
			return rc;
	}
	return -EIO;
}

static void sq_free(struct srv_sq *ms)
{
	struct srv_sq_conn *c;

	if (ms->ckpt_running) {
		pthread_mutex_lock(&ms->ckpt_lock);
		ms->ckpt_stopping = true;
		pthread_cond_signal(&ms->ckpt_wake);
		pthread_mutex_unlock(&ms->ckpt_lock);
		pthread_join(ms->ckpt, NULL);
	}
	conn_close(ms->cconn);
	if (ms->writer_running) {
		pthread_mutex_lock(&ms->lock);
		ms->stopping = true;
		pthread_cond_signal(&ms->wake);
		pthread_mutex_unlock(&ms->lock);
		pthread_join(ms->writer, NULL);
		cf_dbg("writer: %llu ops in %llu transactions",
		       (unsigned long long)ms->batched_ops,
		       (unsigned long long)ms->batches);
	}
	while (ms->pool) {
		c = ms->pool;
		ms->pool = c->next;
		conn_close(c);
	}
	/* The last connection closed checkpoints and removes the WAL. */
	conn_close(ms->wconn);
	pthread_mutex_destroy(&ms->lock);
	pthread_mutex_destroy(&ms->pool_lock);
	pthread_mutex_destroy(&ms->ckpt_lock);
	pthread_cond_destroy(&ms->wake);
	pthread_cond_destroy(&ms->ckpt_wake);
	OPENSSL_cleanse(ms->secret, sizeof(ms->secret));
	free(ms->path);
	free(ms);
}

static void sq_close(struct srv_meta *m)
{
	sq_free(sq_of(m));
}

/* ----- the vtable and open ----- */

static const struct srv_meta_ops sq_ops = {
	.user_create = srv_sq_user_create,
	.user_get = srv_sq_user_get,
	.user_get_by_name = srv_sq_user_get_by_name,
	.user_list = srv_sq_user_list,
	.user_set_auth = srv_sq_user_set_auth,
	.key_get = srv_sq_key_get,
	.key_put = srv_sq_key_put,
	.device_create = srv_sq_device_create,
	.device_list = srv_sq_device_list,
	.device_revoke = srv_sq_device_revoke,
	.token_create = srv_sq_token_create,
	.token_lookup = srv_sq_token_lookup,
	.token_delete = srv_sq_token_delete,
	.node_get = srv_sq_tree_node_get,
	.lookup = srv_sq_tree_lookup,
	.list_dir = srv_sq_tree_list_dir,
	.changes = srv_sq_tree_changes,
	.create = srv_sq_tree_create,
	.create_batch = srv_sq_tree_create_batch,
	.link = srv_sq_tree_link,
	.unlink = srv_sq_tree_unlink,
	.rename = srv_sq_tree_rename,
	.setattr = srv_sq_tree_setattr,
	.mark_pending = srv_sq_tree_mark_pending,
	.commit = srv_sq_ver_commit,
	.commit_batch = srv_sq_ver_commit_batch,
	.versions = srv_sq_ver_versions,
	.version_get = srv_sq_ver_get,
	.version_restore = srv_sq_ver_restore,
	.trash_list = srv_sq_trash_list,
	.trash_restore = srv_sq_trash_restore,
	.trash_purge = srv_sq_trash_purge,
	.blocks_missing = srv_sq_blocks_missing,
	.block_add = srv_sq_block_add,
	.block_has = srv_sq_block_has,
	.usage = srv_sq_usage,
	.gc_prune = srv_sq_gc_prune,
	.gc_unreferenced = srv_sq_gc_unreferenced,
	.block_forget = srv_sq_block_forget,
	.referenced_blocks = srv_sq_referenced_blocks,
	.stored_blocks = srv_sq_stored_blocks,
	.close = sq_close,
	.secret_get = srv_sq_secret_get,
};

int srv_meta_sqlite_open(const char *path, struct srv_meta **out)
{
	struct srv_sq *ms;
	int rc;

	*out = NULL;
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	ms->base.ops = &sq_ops;
	ms->tail = &ms->head;
	pthread_mutex_init(&ms->lock, NULL);
	pthread_mutex_init(&ms->pool_lock, NULL);
	pthread_mutex_init(&ms->ckpt_lock, NULL);
	pthread_cond_init(&ms->wake, NULL);
	pthread_cond_init(&ms->ckpt_wake, NULL);
	ms->path = strdup(path);
	if (!ms->path) {
		rc = -ENOMEM;
		goto out;
	}
	rc = cf_wal_gather_register();
	if (rc == 0)
		rc = conn_open(ms, true, &ms->wconn);
	if (rc == 0)
		rc = set_wal(ms->wconn);
	if (rc == 0)
		rc = migrate(ms->wconn);
	if (rc == 0)
		rc = secret_load(ms);
	if (rc == 0)
		rc = conn_open(ms, false, &ms->cconn);
	if (rc < 0)
		goto out;
	sqlite3_wal_hook(ms->wconn->db, wal_hook,
			 ms); /* replaces autocheckpoint */
	rc = -pthread_create(&ms->ckpt, NULL, ckpt_main, ms);
	if (rc < 0)
		goto out;
	ms->ckpt_running = true;
	rc = -pthread_create(&ms->writer, NULL, writer_main, ms);
	if (rc < 0)
		goto out;
	ms->writer_running = true;
	*out = &ms->base;
	ms = NULL;
out:
	if (ms)
		sq_free(ms);
	return rc;
}
