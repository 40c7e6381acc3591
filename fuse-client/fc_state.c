/* SPDX-License-Identifier: MIT */
/*
 * The client state database on SQLite: open and migration, the reads,
 * the account values, and the kind and id helpers. fc_state_sql.c holds
 * the statement table, the connection with its lazily prepared
 * statements, transactions and the SQLite-to-errno translation,
 * fc_state_rows.c the node, entry, outbox and meta row helpers the
 * fc_state*.c files share, fc_state_tree.c the tree changes (POSIX
 * errnos, link counts, times, so fc_fs only translates), fc_state_queue.c
 * the chunk rows, the outbox and the upload queue, fc_state_feed.c the
 * change feed apply.
 *
 * One connection, guarded by st->lock (recursive), which every read and
 * every write transaction holds; SQLite's own locks are below it. No lock
 * is held across a call out of this module (fc_state_readdir and
 * fc_state_evictable call back without it). The user's requests go
 * first: a background thread (cf_thread_background) that takes the lock
 * while a foreground one waits for it steps back (fc_state_read_begin).
 */
#include "fc_state_int.h"

#include <errno.h>
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
	pthread_cond_init(&st->fg_gone, NULL);
	atomic_init(&st->fg_waiting, 0);
	rc = fc_state_conn_open(path, &st->conn);
	if (rc == 0)
		rc = migrate(st, st->conn, now_ns());
	/* The migration opened the log: from now on commits stop waiting. */
	if (rc == 0)
		rc = fc_state_durable(st->conn, false);
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
	pthread_cond_destroy(&st->fg_gone);
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
