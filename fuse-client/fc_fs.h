/* SPDX-License-Identifier: MIT */
/*
 * The mounted file system: libfuse3 low-level ops answered from fc_state
 * and fc_cache, in a multithreaded session (clone_fd). Nothing in an op
 * waits for the network except reading content that is not cached yet
 * (through the fetch callback, whose waits have timeouts). Metadata ops
 * change the state database and wake the pusher; closing or fsyncing a
 * written file wakes the uploader.
 *
 * Control without a socket (virtual xattrs): "user.cloudfs.id" on any
 * node (id hex), "user.cloudfs.status" on the root (JSON), setxattr
 * "user.cloudfs.pin" = "1"/"0" on a file, setxattr "user.cloudfs.sync" on
 * the root (wakes uploader, pusher and puller). Other xattr names are
 * -ENOTSUP (get/set) and absent from listxattr.
 *
 * Threading: one struct fc_fs per mount, handed to libfuse as userdata;
 * no process-wide mutable state. fc_fs_run blocks the calling thread until
 * unmount; fc_fs_stop and the fc_fs_inval_* calls are safe from any thread.
 */
#ifndef CLOUDFS_FC_FS_H
#define CLOUDFS_FC_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fc_cache.h"
#include "fc_state.h"

/* Mount options. fc_fs_opts_init sets the defaults. */
struct fc_fs_opts {
	const char *mountpoint;  /* borrowed until fc_fs_free */
	bool foreground;         /* false: fuse_daemonize after mounting */
	bool debug;              /* libfuse debug output */
	uint64_t cache_size;     /* -o cache_size=BYTES (K/M/G suffix ok);
				  * 0 = fc_cache's default */
	uint32_t debounce_ms;    /* -o debounce=MS, default 2000 */
	uint32_t max_read;       /* -o max_read=BYTES, default 1 MiB */
	uint32_t max_threads;    /* -o threads=N, default 16 */
	double entry_timeout;    /* -o entry_timeout=S, default 86400 */
	double attr_timeout;     /* -o attr_timeout=S, default 86400 */
	bool writeback;          /* -o writeback / -o no_writeback */
	bool splice_read;        /* -o [no_]splice_read: writes spliced from
				  * the device into the cache file (on) */
	/* -o [no_]direct_write: the kernel's big write-backs go to the
	 * cache file with O_DIRECT, not into a second page cache (on) */
	bool direct_write;
	bool allow_other;        /* -o allow_other */
	bool default_permissions; /* on unless -o no_default_permissions */
	char *fuse_opts;         /* owned: other -o options, passed to libfuse
				  * (comma list), or NULL */
};

/* Defaults (see above). Never fails. */
void fc_fs_opts_init(struct fc_fs_opts *o);

/*
 * Parse one -o argument (a comma list, borrowed) into o with fuse_opt:
 * ours are taken, the rest (ro, allow_other, fsname=, ...) are appended
 * to o->fuse_opts. May be called several times. -EINVAL (bad value,
 * message logged), -ENOMEM.
 */
int fc_fs_opts_parse(struct fc_fs_opts *o, const char *optstr);

/* Free o->fuse_opts. */
void fc_fs_opts_release(struct fc_fs_opts *o);

/* What user.cloudfs.status reports. Core fills the local numbers. */
struct fc_fs_status {
	bool connected;          /* net: server reachable, logged in */
	uint64_t cursor;         /* core: change cursor applied */
	uint64_t queue_files;    /* core: dirty files */
	uint64_t queue_bytes;    /* core: their total size */
	uint64_t ops_pending;    /* core: outbox ops not pushed yet */
	uint64_t ops_failed;     /* core: outbox ops the server refused */
	uint64_t cache_used;     /* core */
	uint64_t cache_limit;    /* core */
	bool uploading;          /* net: an upload is in progress */
	uint8_t upload_id[FC_ID_SIZE]; /* net: its node */
	uint64_t upload_done;    /* net: bytes of it sent or skipped */
	uint64_t upload_total;   /* net: bytes to go through */
	uint64_t pull_started;   /* net: fc_pull_tickets */
	uint64_t pull_done;      /* net: fc_pull_tickets */
	int pull_error;          /* net: the last pull's errno, 0 = fine */
	bool live;               /* net: the server's notifications arrive */
	char message[256];       /* net: last error worth showing, or "" */
};

struct fc_fs;

/*
 * What the mount needs from the rest of the client. All pointers borrowed
 * until fc_fs_free. Every hook gets arg; hooks may be NULL. Hooks are
 * called from FUSE worker threads: they must be thread-safe and quick
 * (signal a thread, do not work).
 */
struct fc_fs_deps {
	struct fc_state *state;
	struct fc_cache *cache;
	fc_fetch_fn fetch;       /* content not cached yet */
	fc_manifest_fn manifest; /* manifests of remotely changed files */
	void *arg;
	/* After release/fsync of a written file: content queued, due at
	 * due_ns (realtime; 0: now). */
	void (*wake_uploader)(void *arg, int64_t due_ns);
	/* After any metadata op (outbox grew). */
	void (*wake_pusher)(void *arg);
	/* setxattr user.cloudfs.sync: upload, push and pull now. */
	void (*wake_sync)(void *arg);
	/* Fill the net fields of *io (core filled its own). */
	void (*status)(void *arg, struct fc_fs_status *io);
	/*
	 * Called once, after the mount exists and the process daemonized,
	 * before requests are served: start background threads here (a fork
	 * would not keep them). Non-zero aborts the mount (returned by
	 * fc_fs_run).
	 */
	int (*started)(void *arg, struct fc_fs *fs);
};

/*
 * Make a mount (not mounted yet): opts and deps borrowed until fc_fs_free.
 * Orphans left by a crash are dropped. -EINVAL, -ENOMEM. Caller owns *out.
 */
int fc_fs_new(const struct fc_fs_opts *opts, const struct fc_fs_deps *deps,
	      struct fc_fs **out);

/*
 * Mount, daemonize unless opts->foreground, call deps->started, serve
 * until unmounted (fusermount3 -u, umount, SIGTERM/SIGINT/SIGHUP or
 * fc_fs_stop), flush the in-memory write state to the database and
 * unmount. Blocks. 0, or -errno (mount failed: -EIO, -ENOTCONN, ...).
 */
int fc_fs_run(struct fc_fs *fs);

/* Ask fc_fs_run to return (any thread, async-signal-unsafe). */
void fc_fs_stop(struct fc_fs *fs);

/* Free. NULL is a no-op. Call after fc_fs_run returned. */
void fc_fs_free(struct fc_fs *fs);

/*
 * Tell the kernel that remote changes made its caches stale (a
 * fc_changed_fn for fc_state_apply_page can forward to these): attributes
 * and data of ino, or the entry name (len bytes, borrowed) in parent.
 * fc_fs_inval_inode also makes the mount's open handles of ino forget
 * what they assumed about its chunks and (when clean) its size: call it
 * after changing a node's chunk rows or cache file behind the mount.
 * Non-blocking best effort; 0 or -errno (-ENOENT: the kernel did not know
 * it, which is fine).
 */
int fc_fs_inval_inode(struct fc_fs *fs, int64_t ino);
int fc_fs_inval_entry(struct fc_fs *fs, int64_t parent, const char *name,
		      size_t len);

/* A fc_changed_fn that forwards to the two above; arg is the struct fc_fs. */
void fc_fs_changed(void *arg, int64_t ino, int64_t parent, const char *name,
		   size_t name_len);

#endif /* CLOUDFS_FC_FS_H */
