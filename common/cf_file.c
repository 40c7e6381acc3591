/* SPDX-License-Identifier: MIT */
/*
 * Durable file writes and full-count I/O. The durable sequence is the one
 * SQLite and git use: data to a temp file in the target directory, fsync,
 * rename, fsync the directory; skipping the last step is how Seafile lost
 * blocks on power failure.
 */
#include "cf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int cf_write_full(int fd, const void *data, size_t size)
{
	const char *p = data;

	while (size) {
		ssize_t n = write(fd, p, size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

int cf_pwrite_full(int fd, const void *data, size_t size, off_t off)
{
	const char *p = data;

	while (size) {
		ssize_t n = pwrite(fd, p, size, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		size -= (size_t)n;
	}
	return 0;
}

ssize_t cf_read_full(int fd, void *buf, size_t size)
{
	char *p = buf;
	size_t done = 0;

	while (done < size) {
		ssize_t n = read(fd, p + done, size - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t cf_pread_full(int fd, void *buf, size_t size, off_t off)
{
	char *p = buf;
	size_t done = 0;

	while (done < size) {
		ssize_t n = pread(fd, p + done, size - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int cf_fsync_dir(int dirfd)
{
	if (fsync(dirfd) < 0)
		return -errno;
	return 0;
}

int cf_fsync_dir_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = cf_fsync_dir(fd);
	close(fd);
	return rc;
}

static int tmp_name(const char *name, char *out, size_t out_size)
{
	unsigned char rnd[8];
	int n;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	n = snprintf(out, out_size, ".tmp-%02x%02x%02x%02x%02x%02x%02x%02x-%s",
		     rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
		     rnd[7], name);
	if (n < 0 || (size_t)n >= out_size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The aligned part of data with O_DIRECT, then the tail (and everything,
 * should the device refuse the alignment) through the page cache: fd was
 * opened with O_DIRECT and is left without it.
 */
static int write_direct(int fd, const void *data, size_t size)
{
	size_t head = size & ~(size_t)(CF_DIRECT_ALIGN - 1);
	int fl, rc = 0;

	if (head)
		rc = cf_pwrite_full(fd, data, head, 0);
	if (rc == -EINVAL)
		head = 0; /* not the device's alignment after all */
	else if (rc < 0)
		return rc;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) < 0)
		return -errno;
	return cf_pwrite_full(fd, (const char *)data + head, size - head,
			      (off_t)head);
}

/* Create the temp file; O_DIRECT when asked for and possible. */
static int open_tmp(int dirfd, const char *tmp, mode_t mode, bool *direct)
{
	int fd, fl = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;

	if (*direct) {
		fd = openat(dirfd, tmp, fl | O_DIRECT, mode);
		if (fd >= 0 || errno != EINVAL)
			return fd < 0 ? -errno : fd;
		*direct = false; /* the file system has no O_DIRECT */
	}
	fd = openat(dirfd, tmp, fl, mode);
	return fd < 0 ? -errno : fd;
}

int cf_file_write_durable(int dirfd, const char *name, const void *data,
			  size_t size, mode_t mode, unsigned flags)
{
	return cf_file_write_durable_gated(dirfd, name, data, size, mode, flags,
					   NULL);
}

int cf_file_write_durable_gated(int dirfd, const char *name, const void *data,
				size_t size, mode_t mode, unsigned flags,
				const struct cf_durable_gate *gate)
{
	char tmp[300];
	int fd = -1, rc;
	bool linked = false;
	bool direct = (flags & CF_DURABLE_DIRECT) &&
		      (uintptr_t)data % CF_DIRECT_ALIGN == 0;

	rc = tmp_name(name, tmp, sizeof(tmp));
	if (rc < 0)
		return rc;
	fd = open_tmp(dirfd, tmp, mode, &direct);
	if (fd < 0)
		return fd;
	linked = true;
	rc = direct ? write_direct(fd, data, size)
		    : cf_write_full(fd, data, size);
	if (rc < 0)
		goto out;
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if (gate) {
		rc = gate->fn(gate->arg);
		if (rc < 0)
			goto out;
	}
	if (flags & CF_DURABLE_NOREPLACE)
		rc = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
	else
		rc = renameat(dirfd, tmp, dirfd, name);
	if (rc < 0) {
		rc = -errno;
		goto out;
	}
	linked = false;
	rc = cf_fsync_dir(dirfd);
out:
	if (fd >= 0)
		close(fd);
	if (linked)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

int cf_file_read_all(int dirfd, const char *name, struct cf_buf *out)
{
	char chunk[65536];
	int fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = cf_buf_append(out, chunk, (size_t)n);
		if (rc < 0)
			break;
	}
	close(fd);
	return rc;
}

int cf_mkdir_p(const char *path, mode_t mode)
{
	struct cf_buf b;
	size_t i;
	int rc;

	cf_buf_init(&b, 4096);
	rc = cf_buf_appends(&b, path);
	if (rc < 0)
		goto out;
	for (i = 1; i <= b.len; i++) {
		if (i < b.len && b.data[i] != '/')
			continue;
		b.data[i] = '\0';
		if (mkdir(b.data, mode) < 0 && errno != EEXIST) {
			rc = -errno;
			goto out;
		}
		if (i < b.len)
			b.data[i] = '/';
	}
	rc = 0;
out:
	cf_buf_release(&b);
	return rc == -EMSGSIZE ? -ENAMETOOLONG : rc;
}

int cf_file_raise_open_limit(unsigned long max, unsigned long *out)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	*out = rl.rlim_cur == RLIM_INFINITY ? ULONG_MAX
					    : (unsigned long)rl.rlim_cur;
	want = rl.rlim_max < (rlim_t)max ? rl.rlim_max : (rlim_t)max;
	if (rl.rlim_cur >= want)
		return 0;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	*out = (unsigned long)want;
	return 1;
}
