/* SPDX-License-Identifier: MIT */
/*
 * Name and path checks shared by the server's API and the client's mount.
 */
#include "cf_path.h"

#include <errno.h>
#include <string.h>

int cf_name_check(const char *name, size_t len)
{
	if (!name || !len)
		return -EINVAL;
	if (len > CF_NAME_MAX)
		return -ENAMETOOLONG;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	return 0;
}

int cf_path_next(const char *path, size_t len, size_t *pos,
		 const char **out_name, size_t *out_len)
{
	size_t i = *pos, start;

	while (i < len && path[i] == '/')
		i++;
	if (i >= len) {
		*pos = len;
		return 0;
	}
	start = i;
	while (i < len && path[i] != '/')
		i++;
	*out_name = path + start;
	*out_len = i - start;
	*pos = i;
	return 1;
}

int cf_path_check(const char *path, size_t len)
{
	const char *name;
	size_t pos = 0, name_len;
	int rc;

	if (!path || !len || path[0] != '/')
		return -EINVAL;
	if (len > CF_PATH_MAX)
		return -ENAMETOOLONG;
	if (memchr(path, '\0', len))
		return -EINVAL;
	while (cf_path_next(path, len, &pos, &name, &name_len)) {
		rc = cf_name_check(name, name_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cf_path_join(struct cf_buf *out, const char *dir, const char *name)
{
	size_t dir_len = strlen(dir), name_len = strlen(name);
	bool slash = dir_len && dir[dir_len - 1] == '/';
	int rc;

	if (dir_len + !slash + name_len > CF_PATH_MAX)
		return -ENAMETOOLONG;
	rc = cf_buf_append(out, dir, dir_len);
	if (!rc && !slash)
		rc = cf_buf_append(out, "/", 1);
	if (!rc)
		rc = cf_buf_append(out, name, name_len);
	return rc == -EMSGSIZE ? -ENAMETOOLONG : rc;
}
