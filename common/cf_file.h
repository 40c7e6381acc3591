/* SPDX-License-Identifier: MIT */
/*
 * File I/O that finishes what it starts: full reads and writes that retry on
 * EINTR and short counts, and the one function that makes a file durable
 * (temp file in the target directory, fsync, rename, fsync the directory).
 * Everything here blocks; all of it is thread-safe.
 */
#ifndef CLOUDFS_CF_FILE_H
#define CLOUDFS_CF_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "cf_buf.h"

enum cf_durable_flags {
	/* Fail with -EEXIST instead of replacing an existing name. */
	CF_DURABLE_NOREPLACE = 1u << 0,
	/*
	 * Write around the page cache (O_DIRECT) when the data's address is
	 * CF_DIRECT_ALIGN-aligned and the file system allows it, buffered
	 * otherwise: for large files nobody reads back soon.
	 */
	CF_DURABLE_DIRECT = 1u << 1,
};

/* Address and size alignment that O_DIRECT accepts on common devices. */
#define CF_DIRECT_ALIGN 4096

/* Write all size bytes or fail: 0 or -errno (-ENOSPC, -EIO, ...). */
int cf_write_full(int fd, const void *data, size_t size);
int cf_pwrite_full(int fd, const void *data, size_t size, off_t off);

/* Read up to size bytes, stopping early only at end of file: count or -errno. */
ssize_t cf_read_full(int fd, void *buf, size_t size);
ssize_t cf_pread_full(int fd, void *buf, size_t size, off_t off);

/* fsync a directory by fd or by path: 0 or -errno. */
int cf_fsync_dir(int dirfd);
int cf_fsync_dir_path(const char *path);

/*
 * Store size bytes of data as dirfd/name durably: when this returns 0 the
 * content and the name survive a crash. The data is written to a temp file
 * in the same directory, fsync'd, renamed into place (renameat2 with
 * RENAME_NOREPLACE under CF_DURABLE_NOREPLACE) and the directory fsync'd.
 * Returns 0, -EEXIST (NOREPLACE and the name exists: the caller decides,
 * after verifying the existing file, whether that is success), -ENOSPC,
 * -EIO, -ENAMETOOLONG or another -errno. The temp file never survives a
 * failure. mode is the new file's permission bits.
 */
int cf_file_write_durable(int dirfd, const char *name, const void *data,
			  size_t size, mode_t mode, unsigned flags);

/*
 * A last word before a durable write takes its name: fn(arg) is called
 * once the data is durable under the temp name, before the rename; a
 * negative return removes the temp file and is returned. Lets a caller
 * check the data (a slow hash, on another thread) while the disk writes
 * it, and still never publish data that fails the check.
 */
struct cf_durable_gate {
	int (*fn)(void *arg);
	void *arg;
};

/* cf_file_write_durable with a gate (NULL: none). */
int cf_file_write_durable_gated(int dirfd, const char *name, const void *data,
				size_t size, mode_t mode, unsigned flags,
				const struct cf_durable_gate *gate);

/*
 * Read a whole file (dirfd may be AT_FDCWD) into out, which must be empty;
 * -EMSGSIZE when it is larger than out's cap, -ENOENT, other -errno.
 */
int cf_file_read_all(int dirfd, const char *name, struct cf_buf *out);

/* mkdir -p for a directory path, each new level with mode: 0 or -errno. */
int cf_mkdir_p(const char *path, mode_t mode);

/*
 * Raise this process's soft limit on open files to its hard limit, up to
 * max; a soft limit already at or above that stays. *out gets the soft
 * limit in force afterwards (ULONG_MAX: none), and is left alone when the
 * limit cannot be read. 1 when raised, 0 when left as it was, -errno when
 * it could not be read or raised.
 */
int cf_file_raise_open_limit(unsigned long max, unsigned long *out);

#endif /* CLOUDFS_CF_FILE_H */
