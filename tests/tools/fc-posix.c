/* SPDX-License-Identifier: MIT */
/*
 * fc-posix: the system calls the POSIX mount test needs that coreutils do
 * not expose exactly (renameat2 flags, O_EXCL, mmap, reading an unlinked
 * open file, xattrs, many files at once). Each command prints "ok" or the
 * errno name and exits 0; exit 2 on bad usage.
 *
 *   fc-posix rename SRC DST [noreplace|exchange]
 *   fc-posix open-excl PATH
 *   fc-posix unlink-read PATH        (prints the content after unlink)
 *   fc-posix mmap-read PATH          (prints the content via mmap)
 *   fc-posix append PATH TEXT        (O_APPEND write)
 *   fc-posix mkfiles DIR COUNT [SIZE] (COUNT files of SIZE bytes, def. 100)
 *   fc-posix getxattr PATH NAME      (prints the value)
 *   fc-posix setxattr PATH NAME VALUE
 *   fc-posix listxattr PATH          (prints the names)
 *   fc-posix truncate PATH SIZE
 *   fc-posix write-at PATH OFFSET TEXT
 *   fc-posix fsync PATH
 *   fc-posix reopen-grow PATH ROUNDS (append 1000 bytes, close, every
 *                                      other round truncate 24 bytes
 *                                      longer, reopen, check size and
 *                                      bytes, ROUNDS times)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int report(int rc)
{
	if (rc < 0) {
		const char *name = strerrorname_np(-rc);

		printf("%s\n", name ? name : "E?");
	} else {
		printf("ok\n");
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n) {
		w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cat_fd(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write_all(1, buf, (size_t)n) < 0)
			return -EIO;
	return n < 0 ? -errno : 0;
}

/*
 * Grow path by 1000 bytes a round, closing and reopening in between, and
 * every other round by truncate(2) as well: each reopen must see the size
 * and the bytes the close before it left (the client once lost them when
 * the reopen or the truncate raced the release). Prints "ok", an errno
 * name, or the first mismatch.
 */
static int reopen_grow(const char *path, uint64_t rounds)
{
	char want[1000], got[1000];
	uint64_t i, size = 0, end;
	struct stat st;
	int fd, rc = 0;

	for (i = 0; i < rounds && rc == 0; i++) {
		memset(want, 'a' + (int)(i % 26), sizeof(want));
		fd = open(path, O_WRONLY | O_CREAT | (i ? 0 : O_TRUNC), 0644);
		if (fd < 0)
			return report(-errno);
		rc = pwrite(fd, want, sizeof(want), (off_t)size) ==
				     (ssize_t)sizeof(want)
			     ? 0
			     : -EIO;
		if (close(fd) < 0 && rc == 0)
			rc = -errno;
		size += sizeof(want);
		end = size;
		/* every other round, grown by truncate(2) with no handle open */
		if (rc == 0 && i % 2) {
			size += 24;
			if (truncate(path, (off_t)size) < 0)
				rc = -errno;
		}
		fd = rc == 0 ? open(path, O_RDONLY) : -1;
		if (rc == 0 && fd < 0)
			rc = -errno;
		if (rc == 0 && fstat(fd, &st) < 0)
			rc = -errno;
		if (rc == 0 && (uint64_t)st.st_size != size) {
			printf("round %llu: size %lld, want %llu\n",
			       (unsigned long long)i, (long long)st.st_size,
			       (unsigned long long)size);
			close(fd);
			return 0;
		}
		if (rc == 0 &&
		    (pread(fd, got, sizeof(got), (off_t)(end - sizeof(got))) !=
			     (ssize_t)sizeof(got) ||
		     memcmp(got, want, sizeof(got)))) {
			printf("round %llu: the last bytes differ\n",
			       (unsigned long long)i);
			close(fd);
			return 0;
		}
		if (fd >= 0)
			close(fd);
	}
	return report(rc);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	uint64_t a = 0, b = 0;
	int fd, rc = 0;

	if (!strcmp(cmd, "rename") && (argc == 4 || argc == 5)) {
		unsigned flags = 0;

		if (argc == 5 && !strcmp(argv[4], "noreplace"))
			flags = RENAME_NOREPLACE;
		else if (argc == 5 && !strcmp(argv[4], "exchange"))
			flags = RENAME_EXCHANGE;
		else if (argc == 5)
			return 2;
		rc = renameat2(AT_FDCWD, argv[2], AT_FDCWD, argv[3], flags);
		return report(rc < 0 ? -errno : 0);
	}
	if (!strcmp(cmd, "open-excl") && argc == 3) {
		fd = open(argv[2], O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			return report(-errno);
		close(fd);
		return report(0);
	}
	if (!strcmp(cmd, "unlink-read") && argc == 3) {
		fd = open(argv[2], O_RDONLY);
		if (fd < 0)
			return report(-errno);
		if (unlink(argv[2]) < 0)
			rc = -errno;
		if (rc == 0)
			rc = cat_fd(fd);
		close(fd);
		if (rc < 0)
			return report(rc);
		return 0;
	}
	if (!strcmp(cmd, "mmap-read") && argc == 3) {
		struct stat st;
		void *p;

		fd = open(argv[2], O_RDONLY);
		if (fd < 0 || fstat(fd, &st) < 0)
			return report(-errno);
		if (st.st_size == 0)
			return 0;
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd,
			 0);
		if (p == MAP_FAILED)
			return report(-errno);
		rc = write_all(1, p, (size_t)st.st_size);
		munmap(p, (size_t)st.st_size);
		close(fd);
		return rc < 0 ? report(rc) : 0;
	}
	if (!strcmp(cmd, "append") && argc == 4) {
		fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (fd < 0)
			return report(-errno);
		rc = write_all(fd, argv[3], strlen(argv[3]));
		if (close(fd) < 0 && rc == 0)
			rc = -errno;
		return report(rc);
	}
	if (!strcmp(cmd, "mkfiles") && (argc == 4 || argc == 5)) {
		char path[4096], data[65536];
		uint64_t i, size = 100;

		if (parse_u64(argv[3], &a) < 0 ||
		    (argc == 5 &&
		     (parse_u64(argv[4], &size) < 0 || size > sizeof(data))))
			return 2;
		memset(data, 'x', sizeof(data));
		for (i = 0; i < a && rc == 0; i++) {
			if (snprintf(path, sizeof(path), "%s/file-%06llu",
				     argv[2], (unsigned long long)i) >=
			    (int)sizeof(path))
				return 2;
			fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0) {
				rc = -errno;
				break;
			}
			rc = write_all(fd, data, (size_t)size);
			if (close(fd) < 0 && rc == 0)
				rc = -errno;
		}
		return report(rc);
	}
	if (!strcmp(cmd, "getxattr") && argc == 4) {
		char buf[65536];
		ssize_t n = getxattr(argv[2], argv[3], buf, sizeof(buf) - 1);

		if (n < 0)
			return report(-errno);
		buf[n] = '\0';
		printf("%s\n", buf);
		return 0;
	}
	if (!strcmp(cmd, "setxattr") && argc == 5) {
		rc = setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0);
		return report(rc < 0 ? -errno : 0);
	}
	if (!strcmp(cmd, "listxattr") && argc == 3) {
		char buf[65536];
		ssize_t n = listxattr(argv[2], buf, sizeof(buf)), i;

		if (n < 0)
			return report(-errno);
		for (i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
			printf("%s\n", buf + i);
		return 0;
	}
	if (!strcmp(cmd, "truncate") && argc == 4) {
		if (parse_u64(argv[3], &a) < 0)
			return 2;
		rc = truncate(argv[2], (off_t)a);
		return report(rc < 0 ? -errno : 0);
	}
	if (!strcmp(cmd, "write-at") && argc == 5) {
		ssize_t n;

		if (parse_u64(argv[3], &b) < 0)
			return 2;
		fd = open(argv[2], O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			return report(-errno);
		n = pwrite(fd, argv[4], strlen(argv[4]), (off_t)b);
		rc = n < 0 ? -errno : 0;
		if (close(fd) < 0 && rc == 0)
			rc = -errno;
		return report(rc);
	}
	if (!strcmp(cmd, "fsync") && argc == 3) {
		fd = open(argv[2], O_RDWR);
		if (fd < 0)
			return report(-errno);
		rc = fsync(fd) < 0 ? -errno : 0;
		close(fd);
		return report(rc);
	}
	if (!strcmp(cmd, "reopen-grow") && argc == 4) {
		if (parse_u64(argv[3], &a) < 0)
			return 2;
		return reopen_grow(argv[2], a);
	}
	fprintf(stderr, "fc-posix: bad usage (see the source)\n");
	return 2;
}
