/* SPDX-License-Identifier: MIT */
/*
 * The writes and syncs SQLite makes, counted: a test that includes this
 * defines pwrite64 and fdatasync, and SQLite, a shared library, then
 * calls these instead of libc's. The counts are the process's own (a
 * forked child counts apart). Include from one file of a test binary.
 */
#ifndef CLOUDFS_TESTS_UNIT_SYSCOUNT_H
#define CLOUDFS_TESTS_UNIT_SYSCOUNT_H

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static unsigned pwrites, syncs;

ssize_t pwrite64(int fd, const void *buf, size_t size, off64_t off)
{
	pwrites++;
	return syscall(SYS_pwrite64, fd, buf, size, off);
}

int fdatasync(int fd)
{
	syncs++;
	return (int)syscall(SYS_fdatasync, fd);
}

#endif /* CLOUDFS_TESTS_UNIT_SYSCOUNT_H */
