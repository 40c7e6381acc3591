/* SPDX-License-Identifier: MIT */
/*
 * The gathering VFS. Its xOpen hands every file but a WAL straight to the
 * default VFS, in the memory SQLite gave for it (ours is larger), so those
 * files cost nothing. A WAL file gets a wrapper: while gathering, writes
 * that continue the held run are copied into a buffer; xSync, and any
 * other call that looks at the file, first writes the run with one call.
 * A held write that fails surfaces as the error of that call, which for
 * a commit is the sync, so SQLite fails the transaction as it would have
 * had the write itself failed.
 *
 * Which syncs LAZY skips: SQLite syncs the WAL at a commit (the run then
 * holds the commit's frames, behind the 32-byte WAL header), after
 * writing a new header at offset 0 (the run starts there), and before a
 * checkpoint (nothing is held). Only the first kind is skipped.
 *
 * The wrapper declares io methods version 1: SQLite maps and locks the
 * shared memory through the database file, never through the WAL.
 */
#include "cf_wal_gather.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* First buffer; it doubles up to the most a run may hold. */
#define GATHER_FIRST (64u << 10)
#define GATHER_MAX   (4u << 20)
/*
 * The most one write to the default VFS may carry: the unix VFS writes at
 * most 128 KiB - 1 per call (it never needs more than a page) and reports
 * a shorter write as a full disk.
 */
#define WRITE_MAX (64u << 10)

struct gather_file {
	sqlite3_file base; /* first: what SQLite holds */
	sqlite3_file *real; /* the default VFS's file, behind this struct */
	enum cf_wal_gather_mode mode;
	unsigned char *buf; /* owned; the held run */
	size_t len, cap;
	sqlite3_int64 start; /* file offset of buf[0] */
};

/* Where the default VFS's file starts inside ours. */
#define REAL_OFFSET ((sizeof(struct gather_file) + 7) & ~(size_t)7)

static sqlite3_vfs *real_vfs;
static sqlite3_vfs gather_vfs;
static const sqlite3_io_methods gather_methods;

static struct gather_file *gather_of(sqlite3_file *f)
{
	return (struct gather_file *)(void *)f;
}

/* Write the held run, if any, in calls of at most WRITE_MAX. */
static int flush(struct gather_file *g)
{
	size_t done, n;
	int rc = SQLITE_OK;

	for (done = 0; done < g->len && rc == SQLITE_OK; done += n) {
		n = g->len - done < WRITE_MAX ? g->len - done : WRITE_MAX;
		rc = g->real->pMethods->xWrite(g->real, g->buf + done, (int)n,
					       g->start + (sqlite3_int64)done);
	}
	/* On failure too: the run is lost either way, and SQLite knows. */
	g->len = 0;
	return rc;
}

static int gather_close(sqlite3_file *f)
{
	struct gather_file *g = gather_of(f);
	int rc = flush(g), rc2;

	rc2 = g->real->pMethods->xClose(g->real);
	free(g->buf);
	g->buf = NULL;
	g->cap = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

static int gather_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
	struct gather_file *g = gather_of(f);
	int rc = flush(g);

	if (rc != SQLITE_OK)
		return rc;
	return g->real->pMethods->xRead(g->real, p, amt, off);
}

/* Room for amt more bytes in the run; false when it cannot grow. */
static bool reserve(struct gather_file *g, size_t amt)
{
	size_t cap = g->cap ? g->cap : GATHER_FIRST;
	unsigned char *grown;

	if (g->len + amt > GATHER_MAX)
		return false;
	while (cap < g->len + amt)
		cap *= 2;
	if (cap == g->cap)
		return true;
	grown = realloc(g->buf, cap);
	if (!grown)
		return false;
	g->buf = grown;
	g->cap = cap;
	return true;
}

static int gather_write(sqlite3_file *f, const void *p, int amt,
			sqlite3_int64 off)
{
	struct gather_file *g = gather_of(f);
	int rc = SQLITE_OK;

	/* Only a write that continues the run joins it, if it fits. */
	if (g->len && (g->mode == CF_WAL_GATHER_OFF ||
		       off != g->start + (sqlite3_int64)g->len ||
		       !reserve(g, (size_t)amt)))
		rc = flush(g);
	if (rc != SQLITE_OK)
		return rc;
	if (g->mode == CF_WAL_GATHER_OFF || amt <= 0 ||
	    !reserve(g, (size_t)amt))
		return g->real->pMethods->xWrite(g->real, p, amt, off);
	if (!g->len)
		g->start = off;
	memcpy(g->buf + g->len, p, (size_t)amt);
	g->len += (size_t)amt;
	return SQLITE_OK;
}

static int gather_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct gather_file *g = gather_of(f);
	int rc = flush(g);

	if (rc != SQLITE_OK)
		return rc;
	return g->real->pMethods->xTruncate(g->real, size);
}

static int gather_sync(sqlite3_file *f, int flags)
{
	struct gather_file *g = gather_of(f);
	bool commit = g->len && g->start > 0;
	int rc = flush(g);

	if (rc != SQLITE_OK)
		return rc;
	if (commit && g->mode == CF_WAL_GATHER_LAZY)
		return SQLITE_OK;
	return g->real->pMethods->xSync(g->real, flags);
}

static int gather_file_size(sqlite3_file *f, sqlite3_int64 *out)
{
	struct gather_file *g = gather_of(f);
	int rc = flush(g);

	if (rc != SQLITE_OK)
		return rc;
	return g->real->pMethods->xFileSize(g->real, out);
}

static int gather_lock(sqlite3_file *f, int level)
{
	struct gather_file *g = gather_of(f);

	return g->real->pMethods->xLock(g->real, level);
}

static int gather_unlock(sqlite3_file *f, int level)
{
	struct gather_file *g = gather_of(f);

	return g->real->pMethods->xUnlock(g->real, level);
}

static int gather_check_reserved(sqlite3_file *f, int *out)
{
	struct gather_file *g = gather_of(f);

	return g->real->pMethods->xCheckReservedLock(g->real, out);
}

static int gather_file_control(sqlite3_file *f, int op, void *arg)
{
	struct gather_file *g = gather_of(f);
	int rc = flush(g);

	if (rc != SQLITE_OK)
		return rc;
	return g->real->pMethods->xFileControl(g->real, op, arg);
}

static int gather_sector_size(sqlite3_file *f)
{
	struct gather_file *g = gather_of(f);

	return g->real->pMethods->xSectorSize(g->real);
}

static int gather_device_characteristics(sqlite3_file *f)
{
	struct gather_file *g = gather_of(f);

	return g->real->pMethods->xDeviceCharacteristics(g->real);
}

static const sqlite3_io_methods gather_methods = {
	.iVersion = 1,
	.xClose = gather_close,
	.xRead = gather_read,
	.xWrite = gather_write,
	.xTruncate = gather_truncate,
	.xSync = gather_sync,
	.xFileSize = gather_file_size,
	.xLock = gather_lock,
	.xUnlock = gather_unlock,
	.xCheckReservedLock = gather_check_reserved,
	.xFileControl = gather_file_control,
	.xSectorSize = gather_sector_size,
	.xDeviceCharacteristics = gather_device_characteristics,
};

static int gather_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
		       int flags, int *out_flags)
{
	struct gather_file *g = gather_of(f);
	int rc;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL))
		return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
	memset(g, 0, sizeof(*g));
	g->real = (sqlite3_file *)(void *)((char *)g + REAL_OFFSET);
	rc = real_vfs->xOpen(real_vfs, name, g->real, flags, out_flags);
	/* SQLite's rule: a file that failed to open has no methods. */
	g->base.pMethods = rc == SQLITE_OK ? &gather_methods : NULL;
	return rc;
}

static int register_result;

static void register_once(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs) {
		register_result = -ENOENT;
		return;
	}
	/*
	 * The default VFS's own functions serve everything but xOpen; they
	 * receive our struct, so it keeps the default's pAppData.
	 */
	gather_vfs = *real_vfs;
	gather_vfs.pNext = NULL;
	gather_vfs.zName = CF_WAL_GATHER_VFS;
	gather_vfs.szOsFile = (int)REAL_OFFSET + real_vfs->szOsFile;
	gather_vfs.xOpen = gather_open;
	if (sqlite3_vfs_register(&gather_vfs, 0) != SQLITE_OK)
		register_result = -ENOMEM;
}

int cf_wal_gather_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_once);
	return register_result;
}

int cf_wal_gather_set(sqlite3 *db, enum cf_wal_gather_mode mode)
{
	sqlite3_file *f = NULL;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
				 &f) != SQLITE_OK ||
	    !f || f->pMethods != &gather_methods)
		return -ENOENT;
	gather_of(f)->mode = mode;
	return 0;
}
