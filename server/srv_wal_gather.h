/* SPDX-License-Identifier: MIT */
/*
 * A SQLite VFS over the default one that can hold a connection's WAL
 * writes in memory and write them with one write() when SQLite syncs the
 * WAL: a commit writes each frame header and each page separately, two
 * system calls per page, which costs as much as the fsync on a small
 * transaction. Every other file, and the WAL while gathering is off, goes
 * to the default VFS untouched.
 *
 * Gather only on a connection whose every commit syncs the WAL
 * (synchronous=FULL): other connections read the WAL from the file as
 * soon as a commit is visible, and SQLite makes it visible right after the
 * sync. Anything else SQLite asks of the WAL file (read, size, truncate,
 * close) writes what is held first.
 *
 * Threading: srv_wal_gather_register is thread-safe; srv_wal_gather_set
 * follows the connection's own rule (one thread at a time).
 */
#ifndef CLOUDFS_SRV_WAL_GATHER_H
#define CLOUDFS_SRV_WAL_GATHER_H

#include <stdbool.h>

#include <sqlite3.h>

/* The VFS name to pass to sqlite3_open_v2 once registered. */
#define SRV_WAL_GATHER_VFS "cloudfs-wal-gather"

/*
 * Register the VFS (not as the default); repeated calls are no-ops. 0, or
 * -ENOENT when SQLite has no default VFS, -ENOMEM.
 */
int srv_wal_gather_register(void);

/*
 * Start (on) or stop gathering db's WAL writes; stopping writes what is
 * held. 0; -ENOENT when db has no WAL file open through this VFS yet (it
 * opens with the first transaction), so nothing is gathered; -EIO, -ENOSPC
 * when writing what was held failed.
 */
int srv_wal_gather_set(sqlite3 *db, bool on);

#endif /* CLOUDFS_SRV_WAL_GATHER_H */
