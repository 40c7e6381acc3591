/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level file system: the session (init, destroy, the op
 * table, mount and loop), the in-memory inode table that holds what the
 * kernel holds (lookup counts, open handles, each open file's write
 * epoch), attributes, and invalidation. Each op is a thin wrapper that
 * calls a helper returning 0 or -errno and replies exactly once; the ops
 * live in fc_fs_file.c and fc_fs_dir.c, options in fc_fs_opts.c.
 * Lock order: see fc_fs_int.h.
 */
#include "fc_fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "fs"
#include "cf_log.h"

int64_t fc_fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct fc_fs *fc_fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

void fc_fs_wake_pusher(struct fc_fs *fs)
{
	if (fs->deps.wake_pusher)
		fs->deps.wake_pusher(fs->deps.arg);
}

void fc_fs_wake_uploader(struct fc_fs *fs, int64_t due_ns)
{
	if (fs->deps.wake_uploader)
		fs->deps.wake_uploader(fs->deps.arg, due_ns);
}

int64_t fc_fs_due_at(struct fc_fs *fs)
{
	return fc_fs_now_ns() + (int64_t)fs->opts->debounce_ms * 1000000;
}

/* ----- inode table ----- */

static size_t bucket(int64_t ino)
{
	return (size_t)((uint64_t)ino * 0x9e3779b97f4a7c15ull >> 52) %
	       FC_FS_ITAB_SIZE;
}

/* Find ino (itab_lock held). */
struct fc_inode *fc_fs_itab_find(struct fc_fs *fs, int64_t ino)
{
	struct fc_inode *in;

	for (in = fs->itab[bucket(ino)]; in; in = in->next) {
		if (in->ino == ino)
			return in;
	}
	return NULL;
}

/* Find or add ino (itab_lock held). NULL on -ENOMEM. */
struct fc_inode *fc_fs_itab_get(struct fc_fs *fs, int64_t ino)
{
	struct fc_inode *in = fc_fs_itab_find(fs, ino);
	size_t b;

	if (in)
		return in;
	in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->ino = ino;
	in->fd = -1;
	in->dfd = -1;
	pthread_mutex_init(&in->lock, NULL);
	pthread_mutex_init(&in->write_lock, NULL);
	b = bucket(ino);
	in->next = fs->itab[b];
	fs->itab[b] = in;
	return in;
}

void fc_fs_inode_direct_release(struct fc_inode *in)
{
	if (in->dfd >= 0)
		close(in->dfd);
	in->dfd = -1;
	free(in->dbuf);
	in->dbuf = NULL;
}

static void inode_free(struct fc_inode *in)
{
	if (in->fd >= 0)
		close(in->fd);
	fc_fs_inode_direct_release(in);
	pthread_mutex_destroy(&in->lock);
	pthread_mutex_destroy(&in->write_lock);
	free(in);
}

/* Unlink in from the table (itab_lock held) and free it. */
void fc_fs_itab_remove(struct fc_fs *fs, struct fc_inode *in)
{
	struct fc_inode **pp;

	for (pp = &fs->itab[bucket(in->ino)]; *pp; pp = &(*pp)->next) {
		if (*pp == in) {
			*pp = in->next;
			break;
		}
	}
	inode_free(in);
}

/* The kernel learned of ino once more (a fc_fs_reply_entry / create). */
int fc_fs_inode_lookup(struct fc_fs *fs, int64_t ino)
{
	struct fc_inode *in;
	int rc = 0;

	pthread_mutex_lock(&fs->itab_lock);
	in = fc_fs_itab_get(fs, ino);
	if (in)
		in->nlookup++;
	else
		rc = -ENOMEM;
	pthread_mutex_unlock(&fs->itab_lock);
	return rc;
}

/* A node nobody references any more: drop it if it has no entry left. */
void fc_fs_maybe_drop(struct fc_fs *fs, int64_t ino)
{
	struct fc_node n;

	if (ino == FC_ROOT_INO)
		return;
	if (fc_state_getattr(fs->deps.state, ino, &n) < 0 || n.nlink > 0)
		return;
	if (fc_state_node_drop(fs->deps.state, ino) == 0 &&
	    n.kind == FC_KIND_FILE)
		fc_cache_file_remove(fs->deps.cache, n.id);
}

/* Is ino known to the kernel or open (then an unlink must wait)? */
bool fc_fs_inode_in_use(struct fc_fs *fs, int64_t ino)
{
	bool used;

	pthread_mutex_lock(&fs->itab_lock);
	used = fc_fs_itab_find(fs, ino) != NULL;
	pthread_mutex_unlock(&fs->itab_lock);
	return used;
}

void fc_fs_inode_forget(struct fc_fs *fs, int64_t ino, uint64_t n)
{
	struct fc_inode *in;
	bool gone = false;

	pthread_mutex_lock(&fs->itab_lock);
	in = fc_fs_itab_find(fs, ino);
	if (in) {
		in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
		if (!in->nlookup && !in->nopen && ino != FC_ROOT_INO) {
			fc_fs_itab_remove(fs, in);
			gone = true;
		}
	}
	pthread_mutex_unlock(&fs->itab_lock);
	if (gone)
		fc_fs_maybe_drop(fs, ino);
}

/* ----- attributes ----- */

static struct timespec ts_of(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	if (ts.tv_nsec < 0) {
		ts.tv_nsec += 1000000000;
		ts.tv_sec--;
	}
	return ts;
}

int64_t fc_fs_ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Blocks a file occupies: its cache file's, once all of it is cached. */
static blkcnt_t file_blocks(struct fc_fs *fs, const struct fc_node *n,
			    struct fc_inode *in)
{
	blkcnt_t est = (blkcnt_t)((n->size + 511) / 512);
	uint64_t missing = 1;
	struct stat sb;
	int fd = -1;

	if (fc_state_missing_count(fs->deps.state, n->ino, &missing) < 0 ||
	    missing)
		return est;
	if (in && in->fd >= 0) {
		if (fstat(in->fd, &sb) == 0)
			return sb.st_blocks;
		return est;
	}
	if (fc_cache_file_open(fs->deps.cache, n->id, false, &fd) < 0)
		return est;
	if (fstat(fd, &sb) < 0)
		sb.st_blocks = est;
	close(fd);
	return sb.st_blocks;
}

void fc_fs_fill_stat(struct fc_fs *fs, const struct fc_node *n, struct stat *st,
		     bool blocks)
{
	struct fc_inode *in = NULL;

	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)n->ino;
	st->st_mode = fc_kind_to_mode(n->kind) | (n->mode & 07777);
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = (dev_t)n->rdev;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_atim = ts_of(n->atime_ns);
	st->st_mtim = ts_of(n->mtime_ns);
	st->st_ctim = ts_of(n->ctime_ns);
	if (n->kind == FC_KIND_DIR) {
		st->st_size = 4096;
		st->st_blocks = 8;
		return;
	}
	if (n->kind != FC_KIND_FILE)
		return;
	/* An open write epoch knows better than the database. */
	pthread_mutex_lock(&fs->itab_lock);
	in = fc_fs_itab_find(fs, n->ino);
	if (in) {
		pthread_mutex_lock(&in->lock);
		if (in->epoch || in->nopen) {
			st->st_size = (off_t)in->size;
			if (in->set_mtime) {
				st->st_mtim = ts_of(in->mtime_ns);
				st->st_ctim = ts_of(in->ctime_ns);
			}
		}
		pthread_mutex_unlock(&in->lock);
	}
	pthread_mutex_unlock(&fs->itab_lock);
	if (blocks) {
		struct fc_node tmp = *n;

		tmp.size = (uint64_t)st->st_size;
		st->st_blocks = file_blocks(fs, &tmp, NULL);
	} else {
		/* An estimate in whole 4 KiB blocks; getattr measures. */
		st->st_blocks = (blkcnt_t)((st->st_size + 4095) / 4096 * 8);
	}
}

void fc_fs_fill_entry(struct fc_fs *fs, const struct fc_node *n,
		      struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (fuse_ino_t)n->ino;
	e->generation = 1;
	e->attr_timeout = fs->opts->attr_timeout;
	e->entry_timeout = fs->opts->entry_timeout;
	fc_fs_fill_stat(fs, n, &e->attr, false);
}

/* Reply with the entry for n, counting the lookup. */
void fc_fs_reply_entry(fuse_req_t req, struct fc_fs *fs,
		       const struct fc_node *n)
{
	struct fuse_entry_param e;
	int rc;

	fc_fs_fill_entry(fs, n, &e);
	rc = fc_fs_inode_lookup(fs, n->ino);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_entry(req, &e) != 0)
		fc_fs_inode_forget(fs, n->ino,
				   1); /* the request was interrupted */
}

/* ----- session ----- */

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fc_fs *fs = userdata;

	if (fs->opts->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	fs->writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (fs->opts->splice_read && (conn->capable & FUSE_CAP_SPLICE_READ))
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* The kernel clears setuid bits itself (and tells us by setattr). */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_read = fs->opts->max_read;
	conn->max_write = fs->opts->max_read;
	conn->max_readahead = fs->opts->max_read;
	conn->max_background = 16;
	conn->congestion_threshold = 12;
}

static void fs_destroy(void *userdata)
{
	struct fc_fs *fs = userdata;
	struct fc_inode *in;
	int64_t due = fc_fs_due_at(fs);
	size_t i;

	/* Unmounting: close the write epochs the kernel left open. */
	pthread_mutex_lock(&fs->itab_lock);
	for (i = 0; i < FC_FS_ITAB_SIZE; i++) {
		for (in = fs->itab[i]; in; in = in->next) {
			pthread_mutex_lock(&in->lock);
			fc_fs_epoch_end(fs, in, false, due);
			pthread_mutex_unlock(&in->lock);
		}
	}
	pthread_mutex_unlock(&fs->itab_lock);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.lookup = fc_fs_op_lookup,
	.forget = fc_fs_op_forget,
	.forget_multi = fc_fs_op_forget_multi,
	.getattr = fc_fs_op_getattr,
	.setattr = fc_fs_op_setattr,
	.readlink = fc_fs_op_readlink,
	.mknod = fc_fs_op_mknod,
	.mkdir = fc_fs_op_mkdir,
	.unlink = fc_fs_op_unlink,
	.rmdir = fc_fs_op_rmdir,
	.symlink = fc_fs_op_symlink,
	.rename = fc_fs_op_rename,
	.link = fc_fs_op_link,
	.open = fc_fs_op_open,
	.read = fc_fs_op_read,
	.write = fc_fs_op_write,
	.write_buf = fc_fs_op_write_buf,
	.flush = fc_fs_op_flush,
	.release = fc_fs_op_release,
	.fsync = fc_fs_op_fsync,
	.readdir = fc_fs_op_readdir,
	.readdirplus = fc_fs_op_readdirplus,
	.fsyncdir = fc_fs_op_fsyncdir,
	.statfs = fc_fs_op_statfs,
	.setxattr = fc_fs_op_setxattr,
	.getxattr = fc_fs_op_getxattr,
	.listxattr = fc_fs_op_listxattr,
	.removexattr = fc_fs_op_removexattr,
	.create = fc_fs_op_create,
};

/* ----- lifecycle ----- */

static int orphan_cb(void *arg, const struct fc_node *n)
{
	struct fc_fs *fs = arg;

	if (n->kind == FC_KIND_FILE)
		fc_cache_file_remove(fs->deps.cache, n->id);
	return 0;
}

int fc_fs_new(const struct fc_fs_opts *opts, const struct fc_fs_deps *deps,
	      struct fc_fs **out)
{
	struct fc_fs *fs;
	int rc;

	*out = NULL;
	if (!opts || !deps || !deps->state || !deps->cache || !opts->mountpoint)
		return -EINVAL;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->opts = opts;
	fs->deps = *deps;
	pthread_mutex_init(&fs->itab_lock, NULL);
	rc = fc_state_drop_orphans(deps->state, orphan_cb, fs);
	if (rc < 0) {
		fc_fs_free(fs);
		return rc;
	}
	*out = fs;
	return 0;
}

void fc_fs_free(struct fc_fs *fs)
{
	struct fc_inode *in, *next;
	size_t i;

	if (!fs)
		return;
	for (i = 0; i < FC_FS_ITAB_SIZE; i++) {
		for (in = fs->itab[i]; in; in = next) {
			next = in->next;
			inode_free(in);
		}
	}
	pthread_mutex_destroy(&fs->itab_lock);
	free(fs);
}

static int build_args(struct fc_fs *fs, struct fuse_args *args)
{
	struct cf_buf b;
	int rc;

	cf_buf_init(&b, 1 << 16);
	rc = cf_buf_appendf(&b, "fsname=cloudfs,subtype=cloudfs,max_read=%u",
			    fs->opts->max_read);
	if (rc == 0 && fs->opts->default_permissions)
		rc = cf_buf_appends(&b, ",default_permissions");
	if (rc == 0 && fs->opts->allow_other)
		rc = cf_buf_appends(&b, ",allow_other");
	if (rc == 0 && fs->opts->fuse_opts && *fs->opts->fuse_opts)
		rc = cf_buf_appendf(&b, ",%s", fs->opts->fuse_opts);
	if (rc == 0 && (fuse_opt_add_arg(args, "cloudfs") < 0 ||
			(fs->opts->debug && fuse_opt_add_arg(args, "-d") < 0) ||
			fuse_opt_add_arg(args, "-o") < 0 ||
			fuse_opt_add_arg(args, b.data) < 0))
		rc = -ENOMEM;
	cf_buf_release(&b);
	return rc;
}

int fc_fs_run(struct fc_fs *fs)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg = NULL;
	bool mounted = false, handlers = false;
	int rc;

	rc = build_args(fs, &args);
	if (rc < 0)
		goto out;
	fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->se) {
		rc = -EINVAL;
		goto out;
	}
	if (fuse_set_signal_handlers(fs->se) != 0) {
		rc = -EIO;
		goto out;
	}
	handlers = true;
	if (fuse_session_mount(fs->se, fs->opts->mountpoint) != 0) {
		cf_err("cannot mount on %s", fs->opts->mountpoint);
		rc = -EIO;
		goto out;
	}
	mounted = true;
	if (fuse_daemonize(fs->opts->foreground) != 0) {
		rc = -EIO;
		goto out;
	}
	if (fs->deps.started) {
		rc = fs->deps.started(fs->deps.arg, fs);
		if (rc != 0) {
			rc = rc < 0 ? rc : -EIO;
			goto out;
		}
	}
	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		rc = -ENOMEM;
		goto out;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, fs->opts->max_threads);
	fuse_loop_cfg_set_idle_threads(cfg, fs->opts->max_threads);
	rc = fuse_session_loop_mt(fs->se, cfg);
	rc = rc > 0 ? 0 : rc; /* a signal ended it */
out:
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	if (mounted)
		fuse_session_unmount(fs->se);
	if (handlers)
		fuse_remove_signal_handlers(fs->se);
	if (fs->se) {
		fuse_session_destroy(fs->se);
		fs->se = NULL;
	}
	fuse_opt_free_args(&args);
	return rc;
}

void fc_fs_stop(struct fc_fs *fs)
{
	if (fs->se)
		fuse_session_exit(fs->se);
}

/*
 * The node's content changed behind the open handles (a remote version, a
 * conflict resolved by the uploader): forget what the open state assumed.
 */
static void refresh_open(struct fc_fs *fs, const struct fc_node *n)
{
	struct fc_inode *in;

	pthread_mutex_lock(&fs->itab_lock);
	in = fc_fs_itab_find(fs, n->ino);
	if (in)
		pthread_mutex_lock(&in->lock);
	pthread_mutex_unlock(&fs->itab_lock);
	if (!in)
		return;
	in->complete = false;
	if (!in->epoch && in->fd >= 0 && !n->dirty) {
		in->size = n->size;
		if (ftruncate(in->fd, (off_t)n->size) < 0)
			cf_warn("inode %" PRId64 ": cannot resize cache file: "
				"%s",
				n->ino, strerror(errno));
	}
	in->opened_before = false; /* no keep_cache on the next open */
	pthread_mutex_unlock(&in->lock);
}

/*
 * With the writeback cache on, the kernel trusts its own i_size of a
 * regular file over any getattr reply, so a size changed behind the mount
 * would stick (reads cut at, or zero-filled up to, the old size). Two ways
 * out: dropping the file's dentry lets an unused inode go (FUSE deletes
 * inodes on their last reference), and the next lookup builds it afresh
 * from our attributes; for an inode still in use, a zero-byte store at the
 * new size grows i_size. NEEDSWORK(#5): a file held open while it shrinks
 * remotely keeps its old size until closed.
 */
static void inval_size(struct fc_fs *fs, const struct fc_node *n)
{
	struct fuse_bufvec none = FUSE_BUFVEC_INIT(0);
	struct cf_buf name;
	int64_t parent;

	cf_buf_init(&name, CF_NAME_MAX + 1);
	if (fc_state_name_of(fs->deps.state, n->ino, &parent, &name) == 0)
		fuse_lowlevel_notify_inval_entry(fs->se, (fuse_ino_t)parent,
						 name.data, name.len);
	cf_buf_release(&name);
	fuse_lowlevel_notify_store(fs->se, (fuse_ino_t)n->ino, (off_t)n->size,
				   &none, 0);
}

int fc_fs_inval_inode(struct fc_fs *fs, int64_t ino)
{
	struct fc_node n;
	bool file;
	int rc;

	file = fc_state_getattr(fs->deps.state, ino, &n) == 0 &&
	       n.kind == FC_KIND_FILE;
	if (file)
		refresh_open(fs, &n);
	if (!fs->se)
		return -ENOTCONN;
	rc = fuse_lowlevel_notify_inval_inode(fs->se, (fuse_ino_t)ino, 0, 0);
	if (file && fs->writeback && !n.dirty)
		inval_size(fs, &n);
	return rc;
}

int fc_fs_inval_entry(struct fc_fs *fs, int64_t parent, const char *name,
		      size_t len)
{
	if (!fs->se)
		return -ENOTCONN;
	return fuse_lowlevel_notify_inval_entry(fs->se, (fuse_ino_t)parent,
						name, len);
}

void fc_fs_changed(void *arg, int64_t ino, int64_t parent, const char *name,
		   size_t name_len)
{
	struct fc_fs *fs = arg;

	if (name)
		fc_fs_inval_entry(fs, parent, name, name_len);
	else if (ino)
		fc_fs_inval_inode(fs, ino);
}
