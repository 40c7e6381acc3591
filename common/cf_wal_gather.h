/* SPDX-License-Identifier: MIT */
/*
 * A SQLite VFS over the default one that holds a connection's WAL writes
 * in memory and writes them with one write() when SQLite syncs the WAL: a
 * commit writes each frame header and each page separately, two system
 * calls per page, which on a small transaction cost as much as the fsync.
 * Every other file, and the WAL while gathering is off, goes to the
 * default VFS untouched.
 *
 * Gather only on a connection with synchronous=FULL, so that every commit
 * syncs the WAL: other connections read the WAL from the file as soon as
 * a commit is visible, SQLite makes it visible right after that sync, and
 * a write that fails then fails the commit. Anything else SQLite asks of
 * the WAL file (read, size, truncate, close) writes what is held first.
 *
 * Threading: cf_wal_gather_register is thread-safe; cf_wal_gather_set
 * follows the connection's own rule (one thread at a time).
 */
#ifndef CLOUDFS_CF_WAL_GATHER_H
#define CLOUDFS_CF_WAL_GATHER_H

#include <sqlite3.h>

/* The VFS name to pass to sqlite3_open_v2 once registered. */
#define CF_WAL_GATHER_VFS "cloudfs-wal-gather"

enum cf_wal_gather_mode {
	/* Each WAL write goes to the file at once (a new connection's mode). */
	CF_WAL_GATHER_OFF,
	/* Held until the next sync, which then reaches the disk: FULL. */
	CF_WAL_GATHER_DURABLE,
	/*
	 * Held until the next sync, which writes them but returns without
	 * waiting for the disk when it ends a commit: the durability of
	 * synchronous=NORMAL (a power cut may undo the last commits, a killed
	 * process undoes none), with the errors of FULL. The syncs SQLite
	 * makes before a checkpoint and after writing a new WAL header still
	 * reach the disk: SQLite orders the database on them.
	 */
	CF_WAL_GATHER_LAZY,
};

/*
 * Register the VFS (not as the default); repeated calls are no-ops. 0, or
 * -ENOENT when SQLite has no default VFS, -ENOMEM.
 */
int cf_wal_gather_register(void);

/*
 * Set how db's WAL writes are made from now on. What is held when
 * gathering stops leaves with the next call SQLite makes on the file, as
 * it would have. 0, or -ENOENT when db has no WAL file open through this
 * VFS (it opens with the first transaction), which then writes through.
 */
int cf_wal_gather_set(sqlite3 *db, enum cf_wal_gather_mode mode);

#endif /* CLOUDFS_CF_WAL_GATHER_H */
