/* SPDX-License-Identifier: MIT */
/*
 * Names and paths as both daemons check them. A name is opaque bytes (so a
 * later format can carry encrypted names) with a few rules; a path is names
 * joined by '/'. Over-long input is an error, never truncated. Pure
 * functions, thread-safe.
 */
#ifndef CLOUDFS_CF_PATH_H
#define CLOUDFS_CF_PATH_H

#include <stddef.h>

#include "cf_buf.h"

#define CF_NAME_MAX 255
#define CF_PATH_MAX 4096

/*
 * Check one directory entry name of len bytes (borrowed). 0 when valid;
 * -EINVAL when empty, ".", "..", or holding '/' or NUL; -ENAMETOOLONG past
 * CF_NAME_MAX bytes.
 */
int cf_name_check(const char *name, size_t len);

/*
 * Check an absolute path of len bytes: starts with '/', at most CF_PATH_MAX
 * bytes, every component valid by cf_name_check; empty components (from
 * "//" or a trailing '/') are allowed and skipped. 0, -EINVAL or
 * -ENAMETOOLONG.
 */
int cf_path_check(const char *path, size_t len);

/*
 * Walk the components of a path: on the first call *pos is 0. Each call sets
 * *out_name and *out_len to the next non-empty component (borrowed from path)
 * and returns 1, or returns 0 at the end.
 */
int cf_path_next(const char *path, size_t len, size_t *pos,
		 const char **out_name, size_t *out_len);

/* Append "dir/name" to out. -ENAMETOOLONG past CF_PATH_MAX, -ENOMEM. */
int cf_path_join(struct cf_buf *out, const char *dir, const char *name);

#endif /* CLOUDFS_CF_PATH_H */
