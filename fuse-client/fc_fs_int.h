/* SPDX-License-Identifier: MIT */
/*
 * Private to the fc_fs module (fc_fs*.c): the mount's context, the
 * in-memory inode table and the helpers and op handlers its files share.
 * fc_fs.c has the session, the inode table and attributes; fc_fs_file.c
 * the open-file ops and write epochs; fc_fs_dir.c the namespace ops,
 * statfs and the control xattrs; fc_fs_opts.c the mount options.
 *
 * Lock order: fs->itab_lock (inode table) before an inode's ->lock; the
 * cache's and the state's locks come after both. No lock is held while a
 * reply is sent or while content is fetched.
 */
#ifndef CLOUDFS_FC_FS_INT_H
#define CLOUDFS_FC_FS_INT_H

#ifndef FUSE_USE_VERSION
# define FUSE_USE_VERSION 314
#endif
#include "fc_fs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#define FC_FS_ITAB_SIZE	   4096 /* buckets */
#define FC_FS_XATTR_PREFIX "user.cloudfs."
#define FC_FS_XATTR_ID	   "user.cloudfs.id"
#define FC_FS_XATTR_STATUS "user.cloudfs.status"
#define FC_FS_XATTR_PIN	   "user.cloudfs.pin"
#define FC_FS_XATTR_SYNC   "user.cloudfs.sync"
#define FC_FS_STATFS_BSIZE 4096
#define FC_FS_DIRECT_MIN   (64 * 1024) /* writes that go around the page cache */

/* What the kernel holds of one node. */
struct fc_inode {
	int64_t ino;
	uint64_t nlookup; /* protected by fs->itab_lock */
	uint32_t nopen; /* protected by fs->itab_lock */
	struct fc_inode *next; /* protected by fs->itab_lock */
	uint8_t id[FC_ID_SIZE]; /* the node's, set by the first open */
	/*
	 * Held around each write into the cache file, so writes of one file
	 * queue here, asleep: the kernel's file system takes the file's lock
	 * for every buffered write anyway, and writers waiting on that one
	 * spin (a fifth of the client's CPU in a 1 GiB write). Protects
	 * dfd and dbuf. Taken before ->lock, never while holding it.
	 */
	pthread_mutex_t write_lock;
	int dfd; /* the cache file again, O_DIRECT, for big writes; or -1 */
	void *dbuf; /* owned: CF_DIRECT_ALIGN-aligned copy of such a write */
	pthread_mutex_t lock; /* protects the fields below */
	int fd; /* cache file while open, else -1 */
	bool epoch; /* a write epoch is open in the DB */
	uint64_t lo, hi; /* written this epoch, [lo, hi) */
	uint64_t size; /* file size while open */
	bool set_mtime;
	int64_t mtime_ns, ctime_ns;
	bool complete; /* no missing chunks since open */
	uint64_t opened_version; /* version at the last open */
	bool opened_before;
	uint64_t seq_end; /* where the last read ended */
	uint64_t ra_next; /* a sequential read past this queues read-ahead */
	int64_t blocks_at_open; /* st_blocks of the cache file */
};

struct fc_fs {
	const struct fc_fs_opts *opts; /* borrowed */
	struct fc_fs_deps deps; /* copy; pointers borrowed */
	struct fuse_session *se; /* owned during fc_fs_run */
	bool writeback; /* the kernel's writeback cache is on; set at init */
	atomic_bool no_direct; /* the cache's file system refused O_DIRECT */
	pthread_mutex_t itab_lock;
	struct fc_inode *itab[FC_FS_ITAB_SIZE]; /* protected by ->itab_lock */
};

/* Close in's O_DIRECT descriptor and free its buffer (write_lock held,
 * or in unreachable by writers). */
void fc_fs_inode_direct_release(struct fc_inode *in);

/* Wall clock in ns, for times and due dates. */
int64_t fc_fs_now_ns(void);

/* The mount a request belongs to (libfuse userdata). */
struct fc_fs *fc_fs_of(fuse_req_t req);

/* Hooks: the outbox grew; content was queued for upload at due_ns. */
void fc_fs_wake_pusher(struct fc_fs *fs);

void fc_fs_wake_uploader(struct fc_fs *fs, int64_t due_ns);

/* When content closed now is due for upload (now + debounce). */
int64_t fc_fs_due_at(struct fc_fs *fs);

/* Find ino (itab_lock held). */
struct fc_inode *fc_fs_itab_find(struct fc_fs *fs, int64_t ino);

/* Find or add ino (itab_lock held). NULL on -ENOMEM. */
struct fc_inode *fc_fs_itab_get(struct fc_fs *fs, int64_t ino);

/* Unlink in from the table (itab_lock held) and free it. */
void fc_fs_itab_remove(struct fc_fs *fs, struct fc_inode *in);

/* The kernel learned of ino once more (a reply_entry / create). */
int fc_fs_inode_lookup(struct fc_fs *fs, int64_t ino);

/* A node nobody references any more: drop it if it has no entry left. */
void fc_fs_maybe_drop(struct fc_fs *fs, int64_t ino);

/* Is ino known to the kernel or open (then an unlink must wait)? */
bool fc_fs_inode_in_use(struct fc_fs *fs, int64_t ino);

/* The kernel forgot n lookups of ino; drops the node when unused. */
void fc_fs_inode_forget(struct fc_fs *fs, int64_t ino, uint64_t n);

/* A timespec in ns. */
int64_t fc_fs_ns_of(const struct timespec *ts);

/*
 * Attributes of n (with an open epoch's size and mtime); blocks: measure
 * the cache file (getattr) rather than estimate (entry replies).
 */
void fc_fs_fill_stat(struct fc_fs *fs, const struct fc_node *n, struct stat *st,
		     bool blocks);

/* An entry reply for n with the mount's timeouts. */
void fc_fs_fill_entry(struct fc_fs *fs, const struct fc_node *n,
		      struct fuse_entry_param *e);

/* Reply with the entry for n, counting the lookup. */
void fc_fs_reply_entry(fuse_req_t req, struct fc_fs *fs,
		       const struct fc_node *n);

/*
 * Close in's write epoch, if any (in->lock held), queueing the file for
 * upload at due_ns. 1 when something was queued, 0 or -errno.
 */
int fc_fs_epoch_end(struct fc_fs *fs, struct fc_inode *in, bool durable,
		    int64_t due_ns);

/*
 * The op handlers, wired up by the op table in fc_fs.c: each replies to
 * its request exactly once (fuse_lowlevel_ops contract).
 */
void fc_fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

void fc_fs_op_release(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);

void fc_fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

void fc_fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi);

void fc_fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);

void fc_fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		    size_t size, off_t off, struct fuse_file_info *fi);

void fc_fs_op_write_buf(fuse_req_t req, fuse_ino_t ino,
			struct fuse_bufvec *bufv, off_t off,
			struct fuse_file_info *fi);

void fc_fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, struct fuse_file_info *fi);

void fc_fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		      int to_set, struct fuse_file_info *fi);

void fc_fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);

void fc_fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);

void fc_fs_op_forget_multi(fuse_req_t req, size_t count,
			   struct fuse_forget_data *forgets);

void fc_fs_op_getattr(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);

/*
 * Create a node of kind in parent as the requester (ext4's setgid
 * rules), wake the pusher. *out gets it. -errno as fc_state_create.
 */
int fc_fs_make_node(fuse_req_t req, int64_t parent, const char *name,
		    enum fc_kind kind, uint32_t mode, uint64_t rdev,
		    const char *target, bool writing, struct fc_node *out);

void fc_fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode);

void fc_fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode, dev_t rdev);

void fc_fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		      const char *name);

void fc_fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		   const char *name);

void fc_fs_op_readlink(fuse_req_t req, fuse_ino_t ino);

void fc_fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);

void fc_fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);

void fc_fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname,
		     unsigned int flags);

void fc_fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi);

void fc_fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi);

void fc_fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi);

void fc_fs_op_statfs(fuse_req_t req, fuse_ino_t ino);

void fc_fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       size_t size);

void fc_fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       const char *value, size_t size, int flags);

void fc_fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

void fc_fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif /* CLOUDFS_FC_FS_INT_H */
