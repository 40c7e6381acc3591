/* SPDX-License-Identifier: MIT */
/*
 * The mounted client put together: loads the account and keys from the
 * state directory, opens the state database and the cache, makes the API
 * client, the fetcher, the uploader pool, the pusher and the puller, pulls
 * the change feed once, then runs the FUSE session (fc_fs) until unmount
 * and stops every worker with the queues persisted in the database.
 *
 * One struct per process run, on the caller's stack; nothing global.
 */
#ifndef CLOUDFS_FC_DAEMON_H
#define CLOUDFS_FC_DAEMON_H

#include <stdbool.h>

#include "fc_fs.h"

struct fc_daemon_opts {
	const char *state_dir; /* borrowed; NULL = the default */
	const char *cache_dir; /* borrowed; NULL = the default */
	struct fc_fs_opts *fs; /* borrowed: mountpoint, -f, -o options */
	unsigned upload_threads; /* 0 = FC_UPLOAD_THREADS */
};

/*
 * Mount and serve until unmounted. Blocks. 0 after a clean unmount;
 * -ENOENT (not logged in: no account in the state directory), -EACCES,
 * -EPROTO (a malformed state file), -errno of the mount; each failure is
 * logged once with what to do about it.
 */
int fc_daemon_run(const struct fc_daemon_opts *o);

#endif /* CLOUDFS_FC_DAEMON_H */
