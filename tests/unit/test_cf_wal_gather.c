/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/cf_wal_gather.c: a gathering writer's commits are
 * whole and visible to other connections at once, a commit leaves in one
 * write and LAZY skips only its sync, large transactions that spill
 * pages mid-way stay readable, a write that fails fails its commit and
 * leaves the connection usable, and a commit that returned survives a
 * kill -9 of its process. The writes and syncs are counted
 * (unit_syscount.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cf_wal_gather.h"
#include "unit_syscount.h"

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_cf_wal_gather.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/db", fx->dir);
	assert_int_equal(cf_wal_gather_register(), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static sqlite3 *open_db(const char *path, const char *vfs)
{
	sqlite3 *db = NULL;

	assert_int_equal(
		sqlite3_open_v2(path, &db,
				SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
				vfs),
		SQLITE_OK);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* A writer as cloudfsd's: WAL, synchronous=FULL, gathering in mode. */
static sqlite3 *open_writer(const char *path, enum cf_wal_gather_mode mode)
{
	sqlite3 *db = open_db(path, CF_WAL_GATHER_VFS);

	/* No WAL file yet: there is nothing to gather on. */
	assert_int_equal(cf_wal_gather_set(db, mode), -ENOENT);
	exec_ok(db, "PRAGMA page_size = 2048; PRAGMA journal_mode = WAL;"
		    "PRAGMA synchronous = FULL;"
		    "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY,"
		    " v BLOB NOT NULL);");
	assert_int_equal(cf_wal_gather_set(db, mode), 0);
	return db;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void insert(sqlite3 *db, int64_t k, size_t size)
{
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO t VALUES (?, "
					    "randomblob(?))",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, k);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

static void assert_intact(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;

	assert_int_equal(
		sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

/* Every commit is visible to a reader on the default VFS at once. */
static void test_commits_visible_to_readers(void **state)
{
	struct fixture *fx = *state;
	sqlite3 *w = open_writer(fx->path, CF_WAL_GATHER_DURABLE);
	sqlite3 *r = open_db(fx->path, NULL);
	int64_t k;

	for (k = 1; k <= 300; k++) {
		/* Lazy commits are visible at once as well. */
		if (k == 150)
			assert_int_equal(
				cf_wal_gather_set(w, CF_WAL_GATHER_LAZY), 0);
		exec_ok(w, "BEGIN IMMEDIATE");
		insert(w, k, 100 + (size_t)(k % 7) * 500);
		insert(w, -k, 10);
		exec_ok(w, "COMMIT");
		assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 2 * k);
		assert_int_equal(query_int(r, "SELECT max(k) FROM t"), k);
	}
	/* Checkpoints read the WAL back through the writer, too. */
	exec_ok(w, "PRAGMA wal_checkpoint(PASSIVE)");
	assert_intact(r);
	assert_int_equal(cf_wal_gather_set(w, CF_WAL_GATHER_OFF), 0);
	assert_int_equal(cf_wal_gather_set(r, CF_WAL_GATHER_DURABLE), -ENOENT);
	sqlite3_close(w);
	sqlite3_close(r);
}

/* Commit one transaction of pages rows, a 2 KiB page each. */
static void commit_pages(sqlite3 *w, int64_t k, int pages)
{
	int i;

	exec_ok(w, "BEGIN IMMEDIATE");
	for (i = 0; i < pages; i++)
		insert(w, k + i, 1500);
	exec_ok(w, "COMMIT");
}

/*
 * Off, a commit of ten pages writes each frame header and page apart and
 * syncs once; gathered, it writes once and syncs once.
 */
static void test_commit_writes_once(void **state)
{
	struct fixture *fx = *state;
	sqlite3 *w = open_writer(fx->path, CF_WAL_GATHER_OFF);
	unsigned w0, s0;

	commit_pages(w, 1, 1);
	w0 = pwrites;
	s0 = syncs;
	commit_pages(w, 100, 10);
	assert_true(pwrites - w0 >= 20);
	assert_int_equal(syncs - s0, 1);

	assert_int_equal(cf_wal_gather_set(w, CF_WAL_GATHER_DURABLE), 0);
	w0 = pwrites;
	s0 = syncs;
	commit_pages(w, 200, 10);
	assert_int_equal(pwrites - w0, 1);
	assert_int_equal(syncs - s0, 1);
	sqlite3_close(w);
}

/*
 * LAZY writes each commit once and never waits for the disk on it; the
 * syncs SQLite orders the database on still happen: the WAL (and then the
 * database file) before a checkpoint, and the new WAL header that the
 * first commit after a complete checkpoint writes.
 */
static void test_lazy_skips_only_commit_syncs(void **state)
{
	struct fixture *fx = *state;
	sqlite3 *w = open_writer(fx->path, CF_WAL_GATHER_LAZY);
	sqlite3 *r = open_db(fx->path, NULL);
	unsigned w0, s0;
	int64_t k;

	commit_pages(w, 1, 1);
	w0 = pwrites;
	s0 = syncs;
	for (k = 0; k < 20; k++)
		commit_pages(w, 100 + 10 * k, 3);
	assert_int_equal(pwrites - w0, 20);
	assert_int_equal(syncs - s0, 0);
	assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 61);

	s0 = syncs;
	exec_ok(w, "PRAGMA wal_checkpoint(PASSIVE)");
	assert_true(syncs - s0 >= 2);

	/* All frames are in the database: this commit restarts the WAL. */
	s0 = syncs;
	commit_pages(w, 1000, 3);
	assert_int_equal(syncs - s0, 1);
	s0 = syncs;
	commit_pages(w, 2000, 3);
	assert_int_equal(syncs - s0, 0);
	assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 67);
	assert_intact(r);
	sqlite3_close(w);
	sqlite3_close(r);
}

/*
 * A transaction larger than the page cache spills pages into the WAL
 * before its commit and reads them back; one larger than the gather
 * buffer's cap is written in runs.
 */
static void test_large_transaction(void **state)
{
	struct fixture *fx = *state;
	sqlite3 *w = open_writer(fx->path, CF_WAL_GATHER_DURABLE);
	sqlite3 *r = open_db(fx->path, NULL);
	int64_t k;

	exec_ok(w, "PRAGMA cache_size = 20");
	exec_ok(w, "BEGIN IMMEDIATE");
	for (k = 1; k <= 3000; k++)
		insert(w, k, 3000);
	/* Read spilled pages back inside the transaction. */
	assert_int_equal(query_int(w, "SELECT count(*) FROM t WHERE "
				      "length(v) = 3000"),
			 3000);
	exec_ok(w, "UPDATE t SET v = zeroblob(10) WHERE k % 2 = 0");
	exec_ok(w, "COMMIT");
	assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 3000);
	assert_int_equal(query_int(r, "SELECT sum(length(v)) FROM t"),
			 1500 * 3000 + 1500 * 10);
	assert_intact(r);
	sqlite3_close(w);
	sqlite3_close(r);
}

/*
 * A held write that fails (the file size limit here; a full disk alike)
 * fails the commit, loses nothing committed before, and the connection
 * commits again once the disk takes writes.
 */
static void failed_write_fails_commit(const char *path,
				      enum cf_wal_gather_mode mode)
{
	sqlite3 *w = open_writer(path, mode), *r = open_db(path, NULL);
	char wal[128];
	struct rlimit old, lim;
	struct stat sb;
	int rc;

	exec_ok(w, "BEGIN IMMEDIATE");
	insert(w, 1, 100);
	exec_ok(w, "COMMIT");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(stat(wal, &sb), 0);

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	exec_ok(w, "BEGIN IMMEDIATE");
	insert(w, 2, 200000);
	rc = sqlite3_exec(w, "COMMIT", NULL, NULL, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_not_equal(rc, SQLITE_OK);
	if (!sqlite3_get_autocommit(w))
		exec_ok(w, "ROLLBACK");

	assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 1);
	exec_ok(w, "BEGIN IMMEDIATE");
	insert(w, 3, 200000);
	exec_ok(w, "COMMIT");
	assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 2);
	assert_int_equal(query_int(r, "SELECT sum(k) FROM t"), 4);
	assert_intact(r);
	sqlite3_close(w);
	sqlite3_close(r);
}

static void test_failed_write_fails_commit(void **state)
{
	struct fixture *fx = *state;

	failed_write_fails_commit(fx->path, CF_WAL_GATHER_DURABLE);
}

static void test_failed_write_fails_lazy_commit(void **state)
{
	struct fixture *fx = *state;

	failed_write_fails_commit(fx->path, CF_WAL_GATHER_LAZY);
}

/* Child: commit k = 1, 2, ... and report each k after its COMMIT returned. */
static void commit_forever(const char *path, enum cf_wal_gather_mode mode,
			   int out)
{
	sqlite3 *w = open_writer(path, mode);
	int64_t k;

	for (k = 1;; k++) {
		exec_ok(w, "BEGIN IMMEDIATE");
		insert(w, k, 1000);
		exec_ok(w, "COMMIT");
		if (write(out, &k, sizeof(k)) != sizeof(k))
			_exit(1);
	}
}

/* A commit that returned is in the file: kill -9 loses none of them. */
static void kill_keeps_returned_commits(const char *path,
					enum cf_wal_gather_mode mode)
{
	int64_t k, last = 0;
	int fds[2], status;
	sqlite3 *db;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		commit_forever(path, mode, fds[1]);
		_exit(0);
	}
	close(fds[1]);
	while (last < 200 && read(fds[0], &k, sizeof(k)) == (ssize_t)sizeof(k))
		last = k;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Reports written before the kill count too. */
	while (read(fds[0], &k, sizeof(k)) == (ssize_t)sizeof(k))
		last = k;
	close(fds[0]);
	assert_true(last >= 200);

	db = open_db(path, NULL);
	assert_true(query_int(db, "SELECT max(k) FROM t") >= last);
	assert_int_equal(query_int(db, "SELECT count(*) FROM t"),
			 query_int(db, "SELECT max(k) FROM t"));
	assert_intact(db);
	sqlite3_close(db);
}

static void test_kill_keeps_returned_commits(void **state)
{
	struct fixture *fx = *state;

	kill_keeps_returned_commits(fx->path, CF_WAL_GATHER_DURABLE);
}

static void test_kill_keeps_returned_lazy_commits(void **state)
{
	struct fixture *fx = *state;

	kill_keeps_returned_commits(fx->path, CF_WAL_GATHER_LAZY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commits_visible_to_readers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_writes_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_lazy_skips_only_commit_syncs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_transaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_fails_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_failed_write_fails_lazy_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_kill_keeps_returned_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_kill_keeps_returned_lazy_commits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
