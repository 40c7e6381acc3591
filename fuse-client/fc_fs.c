/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level file system. Each op is a thin wrapper that calls a
 * helper returning 0 or -errno and replies exactly once. Metadata comes
 * from fc_state, content from the per-node cache file (reads of valid
 * ranges are answered with a buffer naming the cache fd, so libfuse
 * splices), and the in-memory inode table holds what the kernel holds:
 * lookup counts, open handles and each open file's write epoch (written
 * range, size, mtime), which reaches the database at flush, fsync and
 * release rather than on every write.
 *
 * Lock order: fs->itab_lock (inode table) before an inode's ->lock; the
 * cache's and the state's locks come after both. No lock is held while a
 * reply is sent or while content is fetched.
 */
#define FUSE_USE_VERSION 314
#include "fc_fs.h"

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

#include <fuse_lowlevel.h>
#include <fuse_opt.h>
#include <jansson.h>

#define CF_LOG_SUBSYS "fs"
#include "cf_log.h"

#define ITAB_SIZE 4096 /* buckets */
#define XATTR_PREFIX "user.cloudfs."
#define XATTR_ID "user.cloudfs.id"
#define XATTR_STATUS "user.cloudfs.status"
#define XATTR_PIN "user.cloudfs.pin"
#define XATTR_SYNC "user.cloudfs.sync"
#define STATFS_BSIZE 4096

/* What the kernel holds of one node. */
struct inode {
	int64_t ino;
	uint64_t nlookup;               /* protected by fs->itab_lock */
	uint32_t nopen;                 /* protected by fs->itab_lock */
	struct inode *next;             /* protected by fs->itab_lock */
	pthread_mutex_t lock;           /* protects the fields below */
	int fd;                         /* cache file while open, else -1 */
	bool epoch;                     /* a write epoch is open in the DB */
	uint64_t lo, hi;                /* written this epoch, [lo, hi) */
	uint64_t size;                  /* file size while open */
	bool set_mtime;
	int64_t mtime_ns, ctime_ns;
	bool complete;                  /* no missing chunks since open */
	uint64_t opened_version;        /* version at the last open */
	bool opened_before;
	uint64_t seq_end;               /* where the last read ended */
	int64_t blocks_at_open;         /* st_blocks of the cache file */
};

struct fc_fs {
	const struct fc_fs_opts *opts;  /* borrowed */
	struct fc_fs_deps deps;         /* copy; pointers borrowed */
	struct fuse_session *se;        /* owned during fc_fs_run */
	pthread_mutex_t itab_lock;
	struct inode *itab[ITAB_SIZE];  /* protected by ->itab_lock */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct fc_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void wake_pusher(struct fc_fs *fs)
{
	if (fs->deps.wake_pusher)
		fs->deps.wake_pusher(fs->deps.arg);
}

static void wake_uploader(struct fc_fs *fs)
{
	if (fs->deps.wake_uploader)
		fs->deps.wake_uploader(fs->deps.arg);
}

static int64_t due_at(struct fc_fs *fs)
{
	return now_ns() + (int64_t)fs->opts->debounce_ms * 1000000;
}

/* ----- inode table ----- */

static size_t bucket(int64_t ino)
{
	return (size_t)((uint64_t)ino * 0x9e3779b97f4a7c15ull >> 52) %
	       ITAB_SIZE;
}

/* Find ino (itab_lock held). */
static struct inode *itab_find(struct fc_fs *fs, int64_t ino)
{
	struct inode *in;

	for (in = fs->itab[bucket(ino)]; in; in = in->next) {
		if (in->ino == ino)
			return in;
	}
	return NULL;
}

/* Find or add ino (itab_lock held). NULL on -ENOMEM. */
static struct inode *itab_get(struct fc_fs *fs, int64_t ino)
{
	struct inode *in = itab_find(fs, ino);
	size_t b;

	if (in)
		return in;
	in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->ino = ino;
	in->fd = -1;
	pthread_mutex_init(&in->lock, NULL);
	b = bucket(ino);
	in->next = fs->itab[b];
	fs->itab[b] = in;
	return in;
}

/* Unlink in from the table (itab_lock held) and free it. */
static void itab_remove(struct fc_fs *fs, struct inode *in)
{
	struct inode **pp;

	for (pp = &fs->itab[bucket(in->ino)]; *pp; pp = &(*pp)->next) {
		if (*pp == in) {
			*pp = in->next;
			break;
		}
	}
	if (in->fd >= 0)
		close(in->fd);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

/* The kernel learned of ino once more (a reply_entry / create). */
static int inode_lookup(struct fc_fs *fs, int64_t ino)
{
	struct inode *in;
	int rc = 0;

	pthread_mutex_lock(&fs->itab_lock);
	in = itab_get(fs, ino);
	if (in)
		in->nlookup++;
	else
		rc = -ENOMEM;
	pthread_mutex_unlock(&fs->itab_lock);
	return rc;
}

/* A node nobody references any more: drop it if it has no entry left. */
static void maybe_drop(struct fc_fs *fs, int64_t ino)
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
static bool inode_in_use(struct fc_fs *fs, int64_t ino)
{
	bool used;

	pthread_mutex_lock(&fs->itab_lock);
	used = itab_find(fs, ino) != NULL;
	pthread_mutex_unlock(&fs->itab_lock);
	return used;
}

static void inode_forget(struct fc_fs *fs, int64_t ino, uint64_t n)
{
	struct inode *in;
	bool gone = false;

	pthread_mutex_lock(&fs->itab_lock);
	in = itab_find(fs, ino);
	if (in) {
		in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
		if (!in->nlookup && !in->nopen && ino != FC_ROOT_INO) {
			itab_remove(fs, in);
			gone = true;
		}
	}
	pthread_mutex_unlock(&fs->itab_lock);
	if (gone)
		maybe_drop(fs, ino);
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

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Blocks a file occupies: its cache file's, once all of it is cached. */
static blkcnt_t file_blocks(struct fc_fs *fs, const struct fc_node *n,
			    struct inode *in)
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

static void fill_stat(struct fc_fs *fs, const struct fc_node *n,
		      struct stat *st, bool blocks)
{
	struct inode *in = NULL;

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
	in = itab_find(fs, n->ino);
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

static void fill_entry(struct fc_fs *fs, const struct fc_node *n,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (fuse_ino_t)n->ino;
	e->generation = 1;
	e->attr_timeout = fs->opts->attr_timeout;
	e->entry_timeout = fs->opts->entry_timeout;
	fill_stat(fs, n, &e->attr, false);
}

/* Reply with the entry for n, counting the lookup. */
static void reply_entry(fuse_req_t req, struct fc_fs *fs,
			const struct fc_node *n)
{
	struct fuse_entry_param e;
	int rc;

	fill_entry(fs, n, &e);
	rc = inode_lookup(fs, n->ino);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_entry(req, &e) != 0)
		inode_forget(fs, n->ino, 1); /* the request was interrupted */
}

/* ----- lookup, forget, getattr ----- */

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fc_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct fc_node n;
	int rc;

	rc = fc_state_lookup(fs->deps.state, (int64_t)parent, name,
			     strlen(name), &n);
	if (rc == -ENOENT) {
		/* Negative entry: every local create goes through us. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->opts->entry_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	reply_entry(req, fs, &n);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(fs_of(req), (int64_t)ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct fc_fs *fs = fs_of(req);
	size_t i;

	for (i = 0; i < count; i++)
		inode_forget(fs, (int64_t)forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fc_fs *fs = fs_of(req);
	struct fc_node n;
	struct stat st;
	int rc;

	(void)fi;
	rc = fc_state_getattr(fs->deps.state, (int64_t)ino, &n);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fill_stat(fs, &n, &st, true);
	fuse_reply_attr(req, &st, fs->opts->attr_timeout);
}

/* ----- write epochs ----- */

/* Open a write epoch on in (in->lock held). */
static int epoch_begin(struct fc_fs *fs, struct inode *in)
{
	int rc;

	if (in->epoch)
		return 0;
	rc = fc_state_write_begin(fs->deps.state, in->ino);
	if (rc < 0)
		return rc;
	in->epoch = true;
	in->lo = in->hi = 0;
	in->set_mtime = false;
	return 0;
}

/* Close in's write epoch, if any (in->lock held). */
static int epoch_end(struct fc_fs *fs, struct inode *in, bool durable)
{
	struct fc_write_summary w;
	int rc;

	if (!in->epoch)
		return 0;
	memset(&w, 0, sizeof(w));
	w.lo = in->lo;
	w.hi = in->hi;
	w.size = in->size;
	w.set_mtime = in->set_mtime;
	w.mtime_ns = in->mtime_ns;
	w.ctime_ns = in->ctime_ns;
	rc = fc_state_write_done(fs->deps.state, in->ino, &w, due_at(fs),
				 durable);
	if (rc < 0)
		return rc;
	in->epoch = false;
	in->set_mtime = false;
	in->lo = in->hi = 0;
	return 1; /* something was queued */
}

/* ----- open files ----- */

static struct inode *inode_of(struct fuse_file_info *fi)
{
	return (struct inode *)(uintptr_t)fi->fh;
}

/* Make sure a file whose version moved remotely has its chunk rows. */
static int need_manifest(struct fc_fs *fs, struct fc_node *n)
{
	struct blk_manifest m;
	uint64_t version = 0;
	int rc;

	if (fc_node_has_manifest(n))
		return 0;
	if (!fs->deps.manifest)
		return -EIO;
	blk_manifest_init(&m);
	rc = fs->deps.manifest(fs->deps.arg, n->id, &m, &version);
	if (rc == 0)
		rc = fc_state_set_manifest(fs->deps.state, n->ino, version, &m);
	blk_manifest_release(&m);
	if (rc == -EBUSY)
		rc = 0; /* written locally meanwhile: local content wins */
	if (rc == 0)
		rc = fc_state_getattr(fs->deps.state, n->ino, n);
	if (rc < 0) {
		cf_err("inode %" PRId64 ": cannot get its manifest: %s",
		       n->ino, strerror(-rc));
		return -EIO;
	}
	return 0;
}

/*
 * Open node n: count the handle, open the cache file on the first one and
 * give it the node's size. *out gets the inode (its nopen counted).
 */
static int open_node(struct fc_fs *fs, struct fc_node *n, bool writing_new,
		     struct inode **out, bool *out_keep_cache)
{
	struct inode *in;
	struct stat sb;
	uint64_t missing = 0;
	int fd = -1, rc;

	rc = need_manifest(fs, n);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->itab_lock);
	in = itab_get(fs, n->ino);
	if (!in) {
		pthread_mutex_unlock(&fs->itab_lock);
		return -ENOMEM;
	}
	in->nopen++;
	pthread_mutex_unlock(&fs->itab_lock);

	pthread_mutex_lock(&in->lock);
	if (in->fd < 0) {
		rc = fc_cache_file_open(fs->deps.cache, n->id, true, &fd);
		if (rc < 0)
			goto fail;
		if (fstat(fd, &sb) < 0) {
			rc = -errno;
			goto fail;
		}
		/* The cache file is as long as the file: reads never
		 * come up short. */
		if ((uint64_t)sb.st_size != n->size &&
		    ftruncate(fd, (off_t)n->size) < 0) {
			rc = -errno;
			goto fail;
		}
		in->fd = fd;
		fd = -1;
		in->size = n->size;
		in->blocks_at_open = sb.st_blocks;
		rc = fc_state_missing_count(fs->deps.state, n->ino, &missing);
		if (rc < 0)
			goto fail;
		in->complete = missing == 0;
		in->seq_end = 0;
		if (writing_new) {
			in->epoch = true;
			in->lo = in->hi = 0;
		}
	}
	*out_keep_cache = in->opened_before &&
			  in->opened_version == n->version;
	in->opened_before = true;
	in->opened_version = n->version;
	pthread_mutex_unlock(&in->lock);
	fc_cache_hold(fs->deps.cache, n->ino);
	fc_cache_touch(fs->deps.cache, n->ino);
	*out = in;
	return 0;
fail:
	pthread_mutex_unlock(&in->lock);
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&fs->itab_lock);
	in->nopen--;
	if (!in->nopen && !in->nlookup)
		itab_remove(fs, in);
	pthread_mutex_unlock(&fs->itab_lock);
	return rc;
}

static void close_node(struct fc_fs *fs, struct inode *in)
{
	bool queued = false, gone = false;
	int64_t ino = in->ino;
	struct stat sb;
	int rc;

	pthread_mutex_lock(&fs->itab_lock);
	pthread_mutex_lock(&in->lock);
	if (in->nopen == 1) {
		rc = epoch_end(fs, in, false);
		if (rc < 0)
			cf_err("inode %" PRId64 ": cannot record writes: %s",
			       ino, strerror(-rc));
		queued = rc > 0;
		if (in->fd >= 0) {
			if (fstat(in->fd, &sb) == 0)
				fc_cache_account(fs->deps.cache,
						 ((int64_t)sb.st_blocks -
						  in->blocks_at_open) *
							 512);
			close(in->fd);
			in->fd = -1;
		}
	}
	pthread_mutex_unlock(&in->lock);
	in->nopen--;
	if (!in->nopen && !in->nlookup) {
		itab_remove(fs, in);
		gone = true;
	}
	pthread_mutex_unlock(&fs->itab_lock);
	fc_cache_unhold(fs->deps.cache, ino);
	if (gone)
		maybe_drop(fs, ino);
	if (queued)
		wake_uploader(fs);
}

static int do_truncate(struct fc_fs *fs, int64_t ino, uint64_t size,
		       struct fc_setattr *a, struct fc_node *n);

/* open(O_TRUNC): libfuse asks for atomic_o_trunc, so it is ours to do. */
static int open_trunc(struct fc_fs *fs, struct fc_node *n)
{
	struct fc_setattr a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.now_ns = now_ns();
	a.due_ns = due_at(fs);
	rc = do_truncate(fs, n->ino, 0, &a, n);
	if (rc == 0)
		wake_uploader(fs);
	return rc;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fc_fs *fs = fs_of(req);
	struct inode *in = NULL;
	struct fc_node n;
	bool keep = false;
	int rc;

	rc = fc_state_getattr(fs->deps.state, (int64_t)ino, &n);
	if (rc == 0 && n.kind == FC_KIND_DIR)
		rc = -EISDIR;
	if (rc == 0 && n.kind != FC_KIND_FILE)
		rc = -EINVAL;
	if (rc == 0)
		rc = open_node(fs, &n, false, &in, &keep);
	if (rc == 0 && (fi->flags & O_TRUNC) &&
	    (fi->flags & O_ACCMODE) != O_RDONLY) {
		rc = open_trunc(fs, &n);
		keep = false;
		if (rc < 0)
			close_node(fs, in);
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)in;
	fi->keep_cache = keep;
	if (fuse_reply_open(req, fi) != 0)
		close_node(fs, in);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	close_node(fs_of(req), inode_of(fi));
	fuse_reply_err(req, 0);
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fc_fs *fs = fs_of(req);
	struct inode *in = inode_of(fi);
	int rc;

	(void)ino;
	pthread_mutex_lock(&in->lock);
	rc = epoch_end(fs, in, false);
	pthread_mutex_unlock(&in->lock);
	if (rc > 0)
		wake_uploader(fs);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct fc_fs *fs = fs_of(req);
	struct inode *in = inode_of(fi);
	int rc = 0;

	(void)ino;
	(void)datasync;
	pthread_mutex_lock(&in->lock);
	if (in->fd >= 0 && fdatasync(in->fd) < 0)
		rc = -errno;
	if (rc == 0) {
		rc = epoch_end(fs, in, true);
		if (rc == 0)
			rc = fc_state_sync(fs->deps.state);
	}
	pthread_mutex_unlock(&in->lock);
	if (rc > 0)
		wake_uploader(fs);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(0);
	struct fc_fs *fs = fs_of(req);
	struct inode *in = inode_of(fi);
	uint64_t fsize, len;
	bool complete, sequential;
	int fd, rc;

	pthread_mutex_lock(&in->lock);
	fsize = in->size;
	fd = in->fd;
	complete = in->complete;
	sequential = (uint64_t)off == in->seq_end && off > 0;
	pthread_mutex_unlock(&in->lock);
	if (off < 0 || (uint64_t)off >= fsize || !size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	len = CF_MIN((uint64_t)size, fsize - (uint64_t)off);
	if (!complete) {
		rc = fc_cache_ensure(fs->deps.cache, (int64_t)ino, fd,
				     (uint64_t)off, len, fs->deps.fetch,
				     fs->deps.arg);
		if (rc < 0) {
			cf_dbg("inode %" PRIu64 ": read at %jd: %s",
			       (uint64_t)ino, (intmax_t)off, strerror(-rc));
			fuse_reply_err(req, rc == -ENOSPC || rc == -ENOMEM
						    ? -rc
						    : EIO);
			return;
		}
		if (sequential)
			fc_cache_readahead(fs->deps.cache, (int64_t)ino,
					   (uint64_t)off + len);
	}
	pthread_mutex_lock(&in->lock);
	in->seq_end = (uint64_t)off + len;
	pthread_mutex_unlock(&in->lock);
	buf.buf[0].size = len;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static int do_write(struct fc_fs *fs, struct inode *in, const char *data,
		    size_t size, uint64_t off)
{
	int64_t now = now_ns();
	bool complete;
	int fd, rc;

	if (off > BLK_FILE_SIZE_MAX || size > BLK_FILE_SIZE_MAX - off)
		return -EFBIG;
	pthread_mutex_lock(&in->lock);
	rc = epoch_begin(fs, in);
	fd = in->fd;
	complete = in->complete;
	pthread_mutex_unlock(&in->lock);
	if (rc < 0)
		return rc;
	if (!complete) {
		rc = fc_cache_prepare_write(fs->deps.cache, in->ino, fd, off,
					    size, fs->deps.fetch,
					    fs->deps.arg);
		if (rc < 0)
			return rc == -ENOSPC || rc == -ENOMEM ? rc : -EIO;
	}
	rc = fc_cache_pwrite(fs->deps.cache, fd, data, size, off);
	pthread_mutex_lock(&in->lock);
	/* Even a failed write may have changed some bytes: record them. */
	if (!in->epoch)
		epoch_begin(fs, in);
	if (in->lo >= in->hi) {
		in->lo = off;
		in->hi = off + size;
	} else {
		in->lo = CF_MIN(in->lo, off);
		in->hi = CF_MAX(in->hi, off + size);
	}
	if (rc == 0 && off + size > in->size)
		in->size = off + size;
	in->set_mtime = true;
	in->mtime_ns = in->ctime_ns = now;
	pthread_mutex_unlock(&in->lock);
	return rc;
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	int rc;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = do_write(fs_of(req), inode_of(fi), buf, size, (uint64_t)off);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

/* ----- creating nodes ----- */

/* Owner, group and mode of a new node in parent, as ext4 does it. */
static int new_node_owner(struct fc_fs *fs, fuse_req_t req, int64_t parent,
			  enum fc_kind kind, uint32_t *mode, uint32_t *uid,
			  uint32_t *gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fc_node p;
	int rc;

	*uid = ctx->uid;
	*gid = ctx->gid;
	rc = fc_state_getattr(fs->deps.state, parent, &p);
	if (rc < 0)
		return rc;
	if (p.mode & S_ISGID) {
		*gid = p.gid;
		if (kind == FC_KIND_DIR)
			*mode |= S_ISGID;
	}
	return 0;
}

static int make_node(fuse_req_t req, int64_t parent, const char *name,
		     enum fc_kind kind, uint32_t mode, uint64_t rdev,
		     const char *target, bool writing, struct fc_node *out)
{
	struct fc_fs *fs = fs_of(req);
	struct fc_create c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.parent = parent;
	c.name = name;
	c.name_len = strlen(name);
	c.kind = kind;
	c.mode = mode & 07777;
	rc = new_node_owner(fs, req, parent, kind, &c.mode, &c.uid, &c.gid);
	if (rc < 0)
		return rc;
	c.rdev = rdev;
	if (target) {
		c.target = target;
		c.target_len = strlen(target);
		if (c.target_len > CF_PATH_MAX)
			return -ENAMETOOLONG;
	}
	c.now_ns = now_ns();
	c.writing = writing;
	c.due_ns = due_at(fs);
	rc = fc_state_create(fs->deps.state, &c, out);
	if (rc == 0)
		wake_pusher(fs);
	return rc;
}

static void reply_made(fuse_req_t req, int rc, const struct fc_node *n)
{
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, fs_of(req), n);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fc_node n;
	int rc;

	rc = make_node(req, (int64_t)parent, name, FC_KIND_DIR, mode, 0, NULL,
		       false, &n);
	reply_made(req, rc, &n);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	enum fc_kind kind = fc_kind_from_mode(mode);
	struct fc_node n;
	int rc;

	if (!kind || kind == FC_KIND_DIR || kind == FC_KIND_SYMLINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = make_node(req, (int64_t)parent, name, kind, mode, rdev, NULL,
		       false, &n);
	reply_made(req, rc, &n);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct fc_node n;
	int rc;

	rc = make_node(req, (int64_t)parent, name, FC_KIND_SYMLINK, 0777, 0,
		       link, false, &n);
	reply_made(req, rc, &n);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fc_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct inode *in = NULL;
	struct fc_node n;
	bool keep;
	int rc;

	rc = make_node(req, (int64_t)parent, name, FC_KIND_FILE, mode, 0,
		       NULL, true, &n);
	if (rc == 0)
		rc = open_node(fs, &n, true, &in, &keep);
	if (rc == 0)
		rc = inode_lookup(fs, n.ino);
	if (rc < 0) {
		if (in)
			close_node(fs, in);
		fuse_reply_err(req, -rc);
		return;
	}
	fill_entry(fs, &n, &e);
	fi->fh = (uint64_t)(uintptr_t)in;
	if (fuse_reply_create(req, &e, fi) != 0) {
		inode_forget(fs, n.ino, 1);
		close_node(fs, in);
	}
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		    const char *name)
{
	struct fc_fs *fs = fs_of(req);
	struct fc_node n;
	int rc;

	rc = fc_state_link(fs->deps.state, (int64_t)ino, (int64_t)parent,
			   name, strlen(name), now_ns(), &n);
	if (rc == 0)
		wake_pusher(fs);
	reply_made(req, rc, &n);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fc_fs *fs = fs_of(req);
	struct cf_buf b;
	int rc;

	cf_buf_init(&b, CF_PATH_MAX + 1);
	rc = fc_state_readlink(fs->deps.state, (int64_t)ino, &b);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, b.data);
	cf_buf_release(&b);
}

/* ----- removing and renaming ----- */

/* After an entry went away: forget n now unless the kernel holds it. */
static void after_unlink(struct fc_fs *fs, const struct fc_node *n)
{
	if (n->ino && n->nlink == 0 && !inode_in_use(fs, n->ino))
		maybe_drop(fs, n->ino);
}

static void do_unlink(fuse_req_t req, fuse_ino_t parent, const char *name,
		      bool dir)
{
	struct fc_fs *fs = fs_of(req);
	struct fc_node n;
	int rc;

	rc = fc_state_unlink(fs->deps.state, (int64_t)parent, name,
			     strlen(name), dir, now_ns(), &n);
	if (rc == 0) {
		after_unlink(fs, &n);
		wake_pusher(fs);
	}
	fuse_reply_err(req, -rc);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_unlink(req, parent, name, false);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_unlink(req, parent, name, true);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct fc_fs *fs = fs_of(req);
	struct fc_node rep;
	unsigned f = 0;
	int rc;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE)
		f |= FC_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		f |= FC_RENAME_EXCHANGE;
	rc = fc_state_rename(fs->deps.state, (int64_t)parent, name,
			     strlen(name), (int64_t)newparent, newname,
			     strlen(newname), f, now_ns(), &rep);
	if (rc == 0) {
		after_unlink(fs, &rep);
		wake_pusher(fs);
	}
	fuse_reply_err(req, -rc);
}

/* ----- setattr ----- */

static int do_truncate(struct fc_fs *fs, int64_t ino, uint64_t size,
		       struct fc_setattr *a, struct fc_node *n)
{
	struct inode *in;
	int fd = -1, rc;
	bool own_fd = false;

	if (size > BLK_FILE_SIZE_MAX)
		return -EFBIG;
	rc = need_manifest(fs, n);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->itab_lock);
	in = itab_find(fs, ino);
	if (in)
		pthread_mutex_lock(&in->lock);
	pthread_mutex_unlock(&fs->itab_lock);
	if (in && in->fd >= 0) {
		fd = in->fd;
		n->size = in->size;
	} else {
		rc = fc_cache_file_open(fs->deps.cache, n->id, true, &fd);
		if (rc < 0)
			goto out;
		own_fd = true;
	}
	rc = fc_cache_truncate(fs->deps.cache, ino, fd, n->size, size,
			       fs->deps.fetch, fs->deps.arg);
	if (rc < 0) {
		if (rc != -ENOSPC && rc != -ENOMEM)
			rc = -EIO;
		goto out;
	}
	a->flags |= FC_SET_SIZE;
	a->size = size;
	if (!(a->flags & FC_SET_MTIME)) {
		a->flags |= FC_SET_MTIME;
		a->mtime_ns = a->now_ns;
	}
	if (in && in->epoch) {
		/* The epoch's own summary must not undo the new size. */
		in->size = size;
		if (in->lo < in->hi && in->hi > size)
			in->hi = CF_MAX(size, in->lo);
		in->set_mtime = false;
	} else if (in) {
		in->size = size;
	}
	rc = fc_state_setattr(fs->deps.state, ino, a, n);
	if (rc == 0 && in)
		in->complete = in->complete || false;
out:
	if (in)
		pthread_mutex_unlock(&in->lock);
	if (own_fd)
		close(fd);
	return rc;
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fc_fs *fs = fs_of(req);
	struct fc_setattr a;
	struct inode *in = NULL;
	struct fc_node n;
	struct stat st;
	int64_t now = now_ns();
	int rc;

	(void)fi;
	memset(&a, 0, sizeof(a));
	a.now_ns = now;
	a.due_ns = due_at(fs);
	rc = fc_state_getattr(fs->deps.state, (int64_t)ino, &n);
	if (rc < 0)
		goto out;
	if (to_set & FUSE_SET_ATTR_MODE) {
		a.flags |= FC_SET_MODE;
		a.mode = attr->st_mode & 07777;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		a.flags |= FC_SET_UID;
		a.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		a.flags |= FC_SET_GID;
		a.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_ATIME) {
		a.flags |= FC_SET_ATIME;
		a.atime_ns = (to_set & FUSE_SET_ATTR_ATIME_NOW)
				     ? now
				     : ns_of(&attr->st_atim);
	}
	if (to_set & FUSE_SET_ATTR_MTIME) {
		a.flags |= FC_SET_MTIME;
		a.mtime_ns = (to_set & FUSE_SET_ATTR_MTIME_NOW)
				     ? now
				     : ns_of(&attr->st_mtim);
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		a.flags |= FC_SET_CTIME;
		a.ctime_ns = ns_of(&attr->st_ctim);
	}
	if (n.kind == FC_KIND_FILE &&
	    !(to_set & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |
			 FUSE_SET_ATTR_CTIME | FUSE_SET_ATTR_ATIME |
			 FUSE_SET_ATTR_ATIME_NOW)) &&
	    (to_set & FUSE_SET_ATTR_MTIME)) {
		/* Times from the kernel's writeback: keep them in the epoch. */
		pthread_mutex_lock(&fs->itab_lock);
		in = itab_find(fs, (int64_t)ino);
		if (in)
			pthread_mutex_lock(&in->lock);
		pthread_mutex_unlock(&fs->itab_lock);
		if (in && in->epoch && !(a.flags & FC_SET_ATIME)) {
			in->set_mtime = true;
			in->mtime_ns = a.mtime_ns;
			in->ctime_ns = (a.flags & FC_SET_CTIME) ? a.ctime_ns
								: now;
			pthread_mutex_unlock(&in->lock);
			fill_stat(fs, &n, &st, false);
			fuse_reply_attr(req, &st, fs->opts->attr_timeout);
			return;
		}
		if (in)
			pthread_mutex_unlock(&in->lock);
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (n.kind == FC_KIND_DIR) {
			rc = -EISDIR;
			goto out;
		}
		if (n.kind != FC_KIND_FILE) {
			rc = -EINVAL;
			goto out;
		}
		rc = do_truncate(fs, (int64_t)ino, (uint64_t)attr->st_size, &a,
				 &n);
	} else {
		rc = fc_state_setattr(fs->deps.state, (int64_t)ino, &a, &n);
	}
	if (rc < 0)
		goto out;
	if ((a.flags & FC_SET_MTIME) && n.kind == FC_KIND_FILE) {
		/* Newer than the open epoch's own mtime: do not undo it. */
		pthread_mutex_lock(&fs->itab_lock);
		in = itab_find(fs, (int64_t)ino);
		if (in) {
			pthread_mutex_lock(&in->lock);
			in->set_mtime = false;
			pthread_mutex_unlock(&in->lock);
		}
		pthread_mutex_unlock(&fs->itab_lock);
	}
	if (a.flags & (FC_SET_MODE | FC_SET_UID | FC_SET_GID | FC_SET_MTIME))
		wake_pusher(fs);
	if (to_set & FUSE_SET_ATTR_SIZE)
		wake_uploader(fs);
	fill_stat(fs, &n, &st, false);
	fuse_reply_attr(req, &st, fs->opts->attr_timeout);
	return;
out:
	fuse_reply_err(req, -rc);
}

/* ----- directories ----- */

struct dirbuf {
	fuse_req_t req;
	struct fc_fs *fs;
	char *buf;
	size_t size, used;
	bool plus;
	int64_t dir;
};

static int dir_add(struct dirbuf *d, const char *name, const struct stat *st,
		   const struct fuse_entry_param *e, off_t next)
{
	size_t rem = d->size - d->used, need;

	if (d->plus)
		need = fuse_add_direntry_plus(d->req, d->buf + d->used, rem,
					      name, e, next);
	else
		need = fuse_add_direntry(d->req, d->buf + d->used, rem, name,
					 st, next);
	if (need > rem)
		return 1; /* full */
	d->used += need;
	return 0;
}

static int dirent_cb(void *arg, const char *name, size_t name_len,
		     const struct fc_node *n, int64_t cookie)
{
	struct dirbuf *d = arg;
	struct fuse_entry_param e;
	char tmp[CF_NAME_MAX + 1];
	int rc;

	if (name_len > CF_NAME_MAX)
		return 0;
	memcpy(tmp, name, name_len);
	tmp[name_len] = '\0';
	fill_entry(d->fs, n, &e);
	rc = dir_add(d, tmp, &e.attr, &e, (off_t)cookie);
	if (rc == 0 && d->plus && inode_lookup(d->fs, n->ino) < 0) {
		/* Cannot count it: take the entry back out. */
		return -ENOMEM;
	}
	return rc;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, bool plus)
{
	struct fuse_entry_param e;
	struct dirbuf d;
	struct cf_buf name;
	int64_t parent = FC_ROOT_INO;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	d.req = req;
	d.fs = fs_of(req);
	d.plus = plus;
	d.dir = (int64_t)ino;
	d.size = size;
	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.attr.st_mode = S_IFDIR;
	if (off < 1) {
		e.attr.st_ino = ino;
		if (dir_add(&d, ".", &e.attr, &e, 1))
			goto reply;
	}
	if (off < 2) {
		if (ino != FC_ROOT_INO) {
			cf_buf_init(&name, CF_NAME_MAX + 1);
			fc_state_name_of(d.fs->deps.state, (int64_t)ino,
					 &parent, &name);
			cf_buf_release(&name);
		}
		e.attr.st_ino = (ino_t)parent;
		if (dir_add(&d, "..", &e.attr, &e, 2))
			goto reply;
	}
	rc = fc_state_readdir(d.fs->deps.state, (int64_t)ino,
			      off > 2 ? off : 0, dirent_cb, &d);
	if (rc > 0)
		rc = 0;
	if (rc < 0 && d.used)
		rc = 0; /* give what we have; the next call reports it */
reply:
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

static void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int rc;

	(void)ino;
	(void)datasync;
	(void)fi;
	rc = fc_state_sync(fs_of(req)->deps.state);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

/* ----- statfs ----- */

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fc_fs *fs = fs_of(req);
	uint64_t usage = 0, quota = 0, total = 0, avail = 0;
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	fc_state_usage_get(fs->deps.state, &usage, &quota);
	if (quota) {
		total = quota;
		avail = quota > usage ? quota - usage : 0;
	} else if (fc_cache_disk_space(fs->deps.cache, &total, &avail) < 0) {
		total = avail = 0;
	}
	sv.f_bsize = STATFS_BSIZE;
	sv.f_frsize = STATFS_BSIZE;
	sv.f_blocks = total / STATFS_BSIZE;
	sv.f_bfree = avail / STATFS_BSIZE;
	sv.f_bavail = avail / STATFS_BSIZE;
	sv.f_files = 1u << 30;
	sv.f_ffree = 1u << 30;
	sv.f_favail = 1u << 30;
	sv.f_namemax = CF_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* ----- control xattrs ----- */

static int status_json(struct fc_fs *fs, struct cf_buf *out)
{
	struct fc_fs_status s;
	char hex[FC_ID_HEX_SIZE];
	json_t *j;
	char *text;
	int rc;

	memset(&s, 0, sizeof(s));
	fc_state_cursor_get(fs->deps.state, &s.cursor);
	fc_state_queue_stats(fs->deps.state, &s.queue_files, &s.queue_bytes);
	fc_state_op_counts(fs->deps.state, &s.ops_pending, &s.ops_failed);
	s.cache_used = fc_cache_used(fs->deps.cache);
	s.cache_limit = fc_cache_limit(fs->deps.cache);
	if (fs->deps.status)
		fs->deps.status(fs->deps.arg, &s);
	s.message[sizeof(s.message) - 1] = '\0';
	fc_id_to_hex(s.upload_id, hex);
	j = json_pack("{s:b, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I},"
		      " s:{s:b, s:s, s:I, s:I}, s:s}",
		      "connected", (int)s.connected, "cursor",
		      (json_int_t)s.cursor, "queue", "files",
		      (json_int_t)s.queue_files, "bytes",
		      (json_int_t)s.queue_bytes, "ops", "pending",
		      (json_int_t)s.ops_pending, "failed",
		      (json_int_t)s.ops_failed, "cache", "used",
		      (json_int_t)s.cache_used, "limit",
		      (json_int_t)s.cache_limit, "upload", "active",
		      (int)s.uploading, "id", s.uploading ? hex : "", "done",
		      (json_int_t)s.upload_done, "total",
		      (json_int_t)s.upload_total, "message", s.message);
	if (!j)
		return -ENOMEM;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return -ENOMEM;
	rc = cf_buf_appends(out, text);
	free(text);
	return rc;
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct fc_fs *fs = fs_of(req);
	char hex[FC_ID_HEX_SIZE];
	struct fc_node n;
	struct cf_buf b;
	int rc;

	cf_buf_init(&b, 1 << 16);
	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0) {
		rc = -ENOTSUP;
		goto out;
	}
	rc = fc_state_getattr(fs->deps.state, (int64_t)ino, &n);
	if (rc < 0)
		goto out;
	if (!strcmp(name, XATTR_ID)) {
		fc_id_to_hex(n.id, hex);
		rc = cf_buf_appends(&b, hex);
	} else if (!strcmp(name, XATTR_STATUS) && ino == FC_ROOT_INO) {
		rc = status_json(fs, &b);
	} else if (!strcmp(name, XATTR_PIN) && n.kind == FC_KIND_FILE) {
		rc = cf_buf_appends(&b, n.pinned ? "1" : "0");
	} else {
		rc = -ENODATA;
	}
	if (rc < 0)
		goto out;
	if (size == 0) {
		fuse_reply_xattr(req, b.len);
	} else if (size < b.len) {
		rc = -ERANGE;
	} else {
		fuse_reply_buf(req, b.data, b.len);
	}
out:
	if (rc < 0)
		fuse_reply_err(req, -rc);
	cf_buf_release(&b);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct fc_fs *fs = fs_of(req);
	int rc;

	(void)flags;
	if (!strcmp(name, XATTR_PIN)) {
		if (size == 1 && (value[0] == '1' || value[0] == '0'))
			rc = fc_cache_pin(fs->deps.cache, (int64_t)ino,
					  value[0] == '1');
		else
			rc = -EINVAL;
	} else if (!strcmp(name, XATTR_SYNC)) {
		if (ino != FC_ROOT_INO) {
			rc = -EINVAL;
		} else {
			rc = fc_state_make_due(fs->deps.state, now_ns());
			if (fs->deps.wake_sync)
				fs->deps.wake_sync(fs->deps.arg);
			else
				wake_uploader(fs);
		}
	} else if (!strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX))) {
		rc = -EPERM; /* read-only control names */
	} else {
		rc = -ENOTSUP;
	}
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	/*
	 * The control names are not listed, so copy tools (cp -a, rsync
	 * -X) do not carry them to other file systems.
	 */
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	if (!strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)))
		fuse_reply_err(req, EPERM);
	else
		fuse_reply_err(req, ENOTSUP);
}

/* ----- session ----- */

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fc_fs *fs = userdata;

	if (fs->opts->writeback &&
	    (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
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
	conn->max_background = 64;
	conn->congestion_threshold = 48;
}

static void fs_destroy(void *userdata)
{
	struct fc_fs *fs = userdata;
	struct inode *in;
	size_t i;

	/* Unmounting: close the write epochs the kernel left open. */
	pthread_mutex_lock(&fs->itab_lock);
	for (i = 0; i < ITAB_SIZE; i++) {
		for (in = fs->itab[i]; in; in = in->next) {
			pthread_mutex_lock(&in->lock);
			epoch_end(fs, in, false);
			pthread_mutex_unlock(&in->lock);
		}
	}
	pthread_mutex_unlock(&fs->itab_lock);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.create = fs_create,
};

/* ----- options ----- */

enum {
	KEY_CACHE_SIZE,
	KEY_DEBOUNCE,
	KEY_MAX_READ,
	KEY_THREADS,
	KEY_ENTRY_TIMEOUT,
	KEY_ATTR_TIMEOUT,
	KEY_WRITEBACK,
	KEY_NO_WRITEBACK,
	KEY_ALLOW_OTHER,
	KEY_NO_DEFAULT_PERMISSIONS,
	KEY_DEFAULT_PERMISSIONS,
};

static const struct fuse_opt opt_specs[] = {
	FUSE_OPT_KEY("cache_size=", KEY_CACHE_SIZE),
	FUSE_OPT_KEY("debounce=", KEY_DEBOUNCE),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_KEY("threads=", KEY_THREADS),
	FUSE_OPT_KEY("entry_timeout=", KEY_ENTRY_TIMEOUT),
	FUSE_OPT_KEY("attr_timeout=", KEY_ATTR_TIMEOUT),
	FUSE_OPT_KEY("writeback", KEY_WRITEBACK),
	FUSE_OPT_KEY("writeback_cache", KEY_WRITEBACK),
	FUSE_OPT_KEY("no_writeback", KEY_NO_WRITEBACK),
	FUSE_OPT_KEY("no_writeback_cache", KEY_NO_WRITEBACK),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("no_default_permissions", KEY_NO_DEFAULT_PERMISSIONS),
	FUSE_OPT_END
};

/* "10G", "512M", "4096": bytes, with K/M/G/T binary suffixes. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		end++;
		break;
	case 'm': case 'M':
		shift = 20;
		end++;
		break;
	case 'g': case 'G':
		shift = 30;
		end++;
		break;
	case 't': case 'T':
		shift = 40;
		end++;
		break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno == ERANGE || end == s || *end || *out < 0)
		return -EINVAL;
	return 0;
}

struct opt_ctx {
	struct fc_fs_opts *o;
	int rc;
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct opt_ctx *ctx = data;
	struct fc_fs_opts *o = ctx->o;
	const char *val = strchr(arg, '=');
	uint64_t v = 0;
	int rc = 0;

	(void)outargs;
	val = val ? val + 1 : "";
	switch (key) {
	case KEY_CACHE_SIZE:
		rc = parse_size(val, &o->cache_size);
		break;
	case KEY_DEBOUNCE:
		rc = parse_size(val, &v);
		if (rc == 0 && v > 3600000)
			rc = -EINVAL;
		o->debounce_ms = (uint32_t)v;
		break;
	case KEY_MAX_READ:
		rc = parse_size(val, &v);
		if (rc == 0 && (v < 4096 || v > (1u << 20)))
			rc = -EINVAL;
		o->max_read = (uint32_t)v;
		break;
	case KEY_THREADS:
		rc = parse_size(val, &v);
		if (rc == 0 && (v < 1 || v > 256))
			rc = -EINVAL;
		o->max_threads = (uint32_t)v;
		break;
	case KEY_ENTRY_TIMEOUT:
		rc = parse_double(val, &o->entry_timeout);
		break;
	case KEY_ATTR_TIMEOUT:
		rc = parse_double(val, &o->attr_timeout);
		break;
	case KEY_WRITEBACK:
		o->writeback = true;
		return 0;
	case KEY_NO_WRITEBACK:
		o->writeback = false;
		return 0;
	case KEY_ALLOW_OTHER:
		o->allow_other = true;
		return 0;
	case KEY_DEFAULT_PERMISSIONS:
		o->default_permissions = true;
		return 0;
	case KEY_NO_DEFAULT_PERMISSIONS:
		o->default_permissions = false;
		return 0;
	default:
		return 1; /* not ours: keep it for libfuse */
	}
	if (rc < 0) {
		cf_err("bad mount option %s", arg);
		ctx->rc = rc;
		return -1;
	}
	return 0;
}

void fc_fs_opts_init(struct fc_fs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->debounce_ms = 2000;
	o->max_read = 1u << 20;
	o->max_threads = 16;
	o->entry_timeout = 86400;
	o->attr_timeout = 86400;
	o->writeback = true;
	o->default_permissions = true;
}

void fc_fs_opts_release(struct fc_fs_opts *o)
{
	free(o->fuse_opts);
	o->fuse_opts = NULL;
}

int fc_fs_opts_parse(struct fc_fs_opts *o, const char *optstr)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct opt_ctx ctx = { o, 0 };
	struct cf_buf b;
	int rc = 0, i;

	if (!optstr || !*optstr)
		return 0;
	if (fuse_opt_add_arg(&args, "cloudfs") < 0 ||
	    fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, optstr) < 0) {
		fuse_opt_free_args(&args);
		return -ENOMEM;
	}
	if (fuse_opt_parse(&args, &ctx, opt_specs, opt_proc) < 0) {
		fuse_opt_free_args(&args);
		return ctx.rc ? ctx.rc : -EINVAL;
	}
	/* What is left: "cloudfs" ["-o" "a,b"]... */
	cf_buf_init(&b, 1 << 16);
	if (o->fuse_opts)
		rc = cf_buf_appends(&b, o->fuse_opts);
	for (i = 1; rc == 0 && i < args.argc; i++) {
		if (!strcmp(args.argv[i], "-o"))
			continue;
		if (b.len)
			rc = cf_buf_appends(&b, ",");
		if (rc == 0)
			rc = cf_buf_appends(&b, args.argv[i]);
	}
	fuse_opt_free_args(&args);
	if (rc == 0 && b.len) {
		free(o->fuse_opts);
		o->fuse_opts = cf_buf_detach(&b, NULL);
		if (!o->fuse_opts)
			rc = -ENOMEM;
	}
	cf_buf_release(&b);
	return rc;
}

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
	if (!opts || !deps || !deps->state || !deps->cache ||
	    !opts->mountpoint)
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
	struct inode *in, *next;
	size_t i;

	if (!fs)
		return;
	for (i = 0; i < ITAB_SIZE; i++) {
		for (in = fs->itab[i]; in; in = next) {
			next = in->next;
			if (in->fd >= 0)
				close(in->fd);
			pthread_mutex_destroy(&in->lock);
			free(in);
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
	if (rc == 0 &&
	    (fuse_opt_add_arg(args, "cloudfs") < 0 ||
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
static void refresh_open(struct fc_fs *fs, int64_t ino)
{
	struct inode *in;
	struct fc_node n;

	if (fc_state_getattr(fs->deps.state, ino, &n) < 0 ||
	    n.kind != FC_KIND_FILE)
		return;
	pthread_mutex_lock(&fs->itab_lock);
	in = itab_find(fs, ino);
	if (in)
		pthread_mutex_lock(&in->lock);
	pthread_mutex_unlock(&fs->itab_lock);
	if (!in)
		return;
	in->complete = false;
	if (!in->epoch && in->fd >= 0 && !n.dirty) {
		in->size = n.size;
		if (ftruncate(in->fd, (off_t)n.size) < 0)
			cf_warn("inode %" PRId64 ": cannot resize cache file: "
				"%s",
				ino, strerror(errno));
	}
	in->opened_before = false; /* no keep_cache on the next open */
	pthread_mutex_unlock(&in->lock);
}

int fc_fs_inval_inode(struct fc_fs *fs, int64_t ino)
{
	refresh_open(fs, ino);
	if (!fs->se)
		return -ENOTCONN;
	return fuse_lowlevel_notify_inval_inode(fs->se, (fuse_ino_t)ino, 0,
						0);
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
