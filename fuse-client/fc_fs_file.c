/* SPDX-License-Identifier: MIT */
/*
 * fc_fs, open files: open, create's open half, read (splicing from the
 * cache file), write, flush, fsync, release, truncation and setattr, and
 * the write epochs that record writes in the state database at flush,
 * fsync and release instead of on every write. Lock order: fc_fs_int.h.
 */
#include "fc_fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "fs"
#include "cf_file.h"
#include "cf_log.h"

/* ----- write epochs ----- */

/* Open a write epoch on in (in->lock held). */
static int epoch_begin(struct fc_fs *fs, struct fc_inode *in)
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

int fc_fs_epoch_end(struct fc_fs *fs, struct fc_inode *in, bool durable,
		    int64_t due_ns)
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
	rc = fc_state_write_done(fs->deps.state, in->ino, &w, due_ns, durable);
	if (rc < 0)
		return rc;
	in->epoch = false;
	in->set_mtime = false;
	in->lo = in->hi = 0;
	return 1; /* something was queued */
}

/* ----- open files ----- */

static struct fc_inode *inode_of(struct fuse_file_info *fi)
{
	return (struct fc_inode *)(uintptr_t)fi->fh;
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
		cf_err("inode %" PRId64 ": cannot get its manifest: %s", n->ino,
		       strerror(-rc));
		return -EIO;
	}
	return 0;
}

/*
 * Open node n: count the handle, open the cache file on the first one and
 * give it the node's size. *out gets the inode (its nopen counted).
 */
static int open_node(struct fc_fs *fs, struct fc_node *n, bool writing_new,
		     struct fc_inode **out, bool *out_keep_cache)
{
	struct fc_inode *in;
	struct stat sb;
	uint64_t missing = 0;
	int fd = -1, rc;

	rc = need_manifest(fs, n);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->itab_lock);
	in = fc_fs_itab_get(fs, n->ino);
	if (!in) {
		pthread_mutex_unlock(&fs->itab_lock);
		return -ENOMEM;
	}
	in->nopen++;
	pthread_mutex_unlock(&fs->itab_lock);

	pthread_mutex_lock(&in->lock);
	memcpy(in->id, n->id, sizeof(in->id));
	if (in->fd < 0 && writing_new) {
		/* A node created just now: empty, local, nothing to check. */
		rc = fc_cache_file_open(fs->deps.cache, n->id, true, &fd);
		if (rc < 0)
			goto fail;
		in->fd = fd;
		fd = -1;
		in->size = 0;
		in->blocks_at_open = 0;
		in->complete = true;
		in->seq_end = 0;
		in->ra_next = 0;
		in->epoch = true;
		in->lo = in->hi = 0;
	} else if (in->fd < 0) {
		/*
		 * The row as it is now, not as the caller read it: the
		 * release of the last handle, on another thread, may have
		 * ended a write epoch and closed the cache file since. Its
		 * size is the file's; the caller's would cut the file back.
		 */
		rc = fc_state_getattr(fs->deps.state, n->ino, n);
		if (rc < 0)
			goto fail;
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
		/* Readers of the mount mostly stream: read ahead further. */
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		in->fd = fd;
		fd = -1;
		in->size = n->size;
		in->blocks_at_open = sb.st_blocks;
		rc = fc_state_missing_count(fs->deps.state, n->ino, &missing);
		if (rc < 0)
			goto fail;
		in->complete = missing == 0;
		in->seq_end = 0;
		in->ra_next = 0;
	}
	*out_keep_cache = in->opened_before && in->opened_version == n->version;
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
		fc_fs_itab_remove(fs, in);
	pthread_mutex_unlock(&fs->itab_lock);
	return rc;
}

/*
 * Release one handle of in: end the write epoch (so every close of a
 * written file queues it, whoever else keeps it open) and, on the last
 * handle, close the cache file. The database work runs under in->lock
 * only, never under the inode table's lock.
 */
static void close_node(struct fc_fs *fs, struct fc_inode *in)
{
	bool queued = false, gone = false;
	int64_t ino = in->ino, due = fc_fs_due_at(fs);
	struct stat sb;
	int rc;

	pthread_mutex_lock(&in->lock);
	rc = fc_fs_epoch_end(fs, in, false, due);
	pthread_mutex_unlock(&in->lock);
	if (rc < 0)
		cf_err("inode %" PRId64 ": cannot record writes: %s", ino,
		       strerror(-rc));
	queued = rc > 0;

	pthread_mutex_lock(&fs->itab_lock);
	if (--in->nopen == 0) {
		pthread_mutex_lock(&in->lock);
		if (in->fd >= 0 && !in->epoch) {
			if (fstat(in->fd, &sb) == 0)
				fc_cache_account(fs->deps.cache,
						 ((int64_t)sb.st_blocks -
						  in->blocks_at_open) *
							 512);
			close(in->fd);
			in->fd = -1;
			/* no write is in flight: the kernel releases a
			 * file's last handle after its writes */
			fc_fs_inode_direct_release(in);
		}
		pthread_mutex_unlock(&in->lock);
		if (!in->nlookup) {
			fc_fs_itab_remove(fs, in);
			gone = true;
		}
	}
	pthread_mutex_unlock(&fs->itab_lock);
	fc_cache_unhold(fs->deps.cache, ino);
	if (gone)
		fc_fs_maybe_drop(fs, ino);
	if (queued)
		fc_fs_wake_uploader(fs, due);
}

static int do_truncate(struct fc_fs *fs, int64_t ino, uint64_t size,
		       struct fc_setattr *a, struct fc_node *n);

/* open(O_TRUNC): libfuse asks for atomic_o_trunc, so it is ours to do. */
static int open_trunc(struct fc_fs *fs, struct fc_node *n)
{
	struct fc_setattr a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.now_ns = fc_fs_now_ns();
	a.due_ns = fc_fs_due_at(fs);
	rc = do_truncate(fs, n->ino, 0, &a, n);
	if (rc == 0)
		fc_fs_wake_uploader(fs, a.due_ns);
	return rc;
}

void fc_fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fc_fs *fs = fc_fs_of(req);
	struct fc_inode *in = NULL;
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

void fc_fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close_node(fc_fs_of(req), inode_of(fi));
	fuse_reply_err(req, 0);
}

void fc_fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	/*
	 * Nothing to do: the kernel wrote the dirty pages back before
	 * sending this, and the write epoch ends at release, which the
	 * closing process does not wait for.
	 */
	fuse_reply_err(req, 0);
}

void fc_fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi)
{
	struct fc_fs *fs = fc_fs_of(req);
	struct fc_inode *in = inode_of(fi);
	int64_t due = fc_fs_due_at(fs);
	int rc = 0;

	(void)ino;
	(void)datasync;
	pthread_mutex_lock(&in->lock);
	if (in->fd >= 0 && fdatasync(in->fd) < 0)
		rc = -errno;
	if (rc == 0) {
		rc = fc_fs_epoch_end(fs, in, true, due);
		if (rc == 0)
			rc = fc_state_sync(fs->deps.state);
	}
	pthread_mutex_unlock(&in->lock);
	if (rc > 0)
		fc_fs_wake_uploader(fs, due);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

void fc_fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(0);
	struct fc_fs *fs = fc_fs_of(req);
	struct fc_inode *in = inode_of(fi);
	uint64_t fsize, len, ra_next;
	bool complete, sequential;
	int fd, rc;

	pthread_mutex_lock(&in->lock);
	fsize = in->size;
	fd = in->fd;
	complete = in->complete;
	sequential = (uint64_t)off == in->seq_end && off > 0;
	ra_next = sequential ? in->ra_next : 0;
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
		if (sequential && (uint64_t)off + len >= ra_next)
			ra_next =
				fc_cache_readahead(fs->deps.cache, (int64_t)ino,
						   (uint64_t)off + len);
	}
	pthread_mutex_lock(&in->lock);
	in->seq_end = (uint64_t)off + len;
	in->ra_next = ra_next;
	pthread_mutex_unlock(&in->lock);
	buf.buf[0].size = len;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* Before writing [off, off + size): open the epoch, fetch partial chunks. */
static int write_begin(struct fc_fs *fs, struct fc_inode *in, size_t size,
		       uint64_t off, int *out_fd)
{
	bool complete;
	int rc;

	if (off > BLK_FILE_SIZE_MAX || size > BLK_FILE_SIZE_MAX - off)
		return -EFBIG;
	pthread_mutex_lock(&in->lock);
	rc = epoch_begin(fs, in);
	*out_fd = in->fd;
	complete = in->complete;
	pthread_mutex_unlock(&in->lock);
	if (rc < 0)
		return rc;
	if (!complete) {
		rc = fc_cache_prepare_write(fs->deps.cache, in->ino, *out_fd,
					    off, size, fs->deps.fetch,
					    fs->deps.arg);
		if (rc < 0)
			return rc == -ENOSPC || rc == -ENOMEM ? rc : -EIO;
	}
	return 0;
}

/*
 * After writing done of size bytes at off (done may be short on error):
 * record the range (even a failed write may have changed bytes), size
 * and mtime in the epoch.
 */
static void write_end(struct fc_fs *fs, struct fc_inode *in, size_t size,
		      size_t done, uint64_t off)
{
	int64_t now = fc_fs_now_ns();

	pthread_mutex_lock(&in->lock);
	if (!in->epoch)
		epoch_begin(fs, in);
	if (in->lo >= in->hi) {
		in->lo = off;
		in->hi = off + size;
	} else {
		in->lo = CF_MIN(in->lo, off);
		in->hi = CF_MAX(in->hi, off + size);
	}
	if (done && off + done > in->size)
		in->size = off + done;
	in->set_mtime = true;
	in->mtime_ns = in->ctime_ns = now;
	pthread_mutex_unlock(&in->lock);
}

/*
 * Write size bytes at off through in's O_DIRECT descriptor (write_lock
 * held), copied first to an aligned buffer: libfuse hands the data over
 * just past the request's header. -EAGAIN: use the buffered descriptor
 * instead (no O_DIRECT here, or the device wants another alignment).
 */
static int write_direct(struct fc_fs *fs, struct fc_inode *in, const char *data,
			size_t size, uint64_t off)
{
	int rc;

	if (in->dfd < 0) {
		rc = fc_cache_file_open_direct(fs->deps.cache, in->id,
					       &in->dfd);
		if (rc == -EINVAL && !atomic_exchange(&fs->no_direct, true))
			cf_info("the cache's file system has no O_DIRECT: "
				"writes go through its page cache");
		if (rc < 0)
			return -EAGAIN;
	}
	if (!in->dbuf &&
	    posix_memalign(&in->dbuf, CF_DIRECT_ALIGN, fs->opts->max_read)) {
		in->dbuf = NULL;
		return -EAGAIN;
	}
	memcpy(in->dbuf, data, size);
	rc = fc_cache_pwrite(fs->deps.cache, in->dfd, in->dbuf, size, off);
	return rc == -EINVAL ? -EAGAIN : rc;
}

/*
 * Big page-aligned writes of the kernel's write-back (a streamed file)
 * go around the cache file's page cache; the rest, and any that cannot,
 * through it. Without the writeback cache each write is an application's
 * own write(2), which would then wait for the disk.
 */
static bool direct_fits(struct fc_fs *fs, size_t size, uint64_t off)
{
	return fs->writeback && fs->opts->direct_write &&
	       size >= FC_FS_DIRECT_MIN && size <= fs->opts->max_read &&
	       size % CF_DIRECT_ALIGN == 0 && off % CF_DIRECT_ALIGN == 0 &&
	       !atomic_load(&fs->no_direct);
}

/* Where a write's bytes are: in memory (mem), else in the device's pipe. */
struct write_src {
	const char *mem;
	struct fuse_bufvec *bufv;
};

/* From memory: around the page cache when direct_fits, else through it. */
static ssize_t step_mem(struct fc_fs *fs, struct fc_inode *in, int fd,
			const struct write_src *src, size_t size, uint64_t off)
{
	int rc;

	rc = direct_fits(fs, size, off)
		     ? write_direct(fs, in, src->mem, size, off)
		     : -EAGAIN;
	if (rc == -EAGAIN)
		rc = fc_cache_pwrite(fs->deps.cache, fd, src->mem, size, off);
	return rc < 0 ? rc : (ssize_t)size;
}

/*
 * Spliced from the device (FUSE_CAP_SPLICE_READ): from the kernel's pipe
 * into the cache file without a copy through this process.
 */
static ssize_t step_splice(struct fc_fs *fs, struct fc_inode *in, int fd,
			   const struct write_src *src, size_t size,
			   uint64_t off)
{
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
	ssize_t n;

	(void)in;
	dst.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	dst.buf[0].fd = fd;
	dst.buf[0].pos = (off_t)off;
	n = fuse_buf_copy(&dst, src->bufv, 0);
	if (n == -ENOSPC) /* room for the retry the kernel's writeback does */
		fc_cache_make_room(fs->deps.cache, size);
	return n;
}

/*
 * The bytes go into the cache file with in->write_lock held, by step_mem
 * or step_splice: each returns the count written (short only on error) or
 * -errno.
 */
static int do_write(struct fc_fs *fs, struct fc_inode *in, size_t size,
		    uint64_t off, const struct write_src *src)
{
	ssize_t n;
	int fd, rc;

	rc = write_begin(fs, in, size, off, &fd);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&in->write_lock);
	n = src->mem ? step_mem(fs, in, fd, src, size, off)
		     : step_splice(fs, in, fd, src, size, off);
	pthread_mutex_unlock(&in->write_lock);
	write_end(fs, in, size, n > 0 ? (size_t)n : 0, off);
	return n < 0 ? (int)n : (size_t)n == size ? 0 : -EIO;
}

static void reply_write(fuse_req_t req, int rc, size_t size)
{
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

void fc_fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		    size_t size, off_t off, struct fuse_file_info *fi)
{
	struct write_src src = { .mem = buf };

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	reply_write(req,
		    do_write(fc_fs_of(req), inode_of(fi), size, (uint64_t)off,
			     &src),
		    size);
}

/* A memory buffer (the device was read, not spliced) takes step_mem. */
void fc_fs_op_write_buf(fuse_req_t req, fuse_ino_t ino,
			struct fuse_bufvec *bufv, off_t off,
			struct fuse_file_info *fi)
{
	struct write_src src = { .bufv = bufv };
	size_t size = fuse_buf_size(bufv);

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (bufv->count == 1 && !(bufv->buf[0].flags & FUSE_BUF_IS_FD))
		src.mem = (const char *)bufv->buf[0].mem + bufv->off;
	reply_write(req,
		    do_write(fc_fs_of(req), inode_of(fi), size, (uint64_t)off,
			     &src),
		    size);
}

void fc_fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, struct fuse_file_info *fi)
{
	struct fc_fs *fs = fc_fs_of(req);
	struct fuse_entry_param e;
	struct fc_inode *in = NULL;
	struct fc_node n;
	bool keep;
	int rc;

	rc = fc_fs_make_node(req, (int64_t)parent, name, FC_KIND_FILE, mode, 0,
			     NULL, true, &n);
	if (rc == 0)
		rc = open_node(fs, &n, true, &in, &keep);
	if (rc == 0)
		rc = fc_fs_inode_lookup(fs, n.ino);
	if (rc < 0) {
		if (in)
			close_node(fs, in);
		fuse_reply_err(req, -rc);
		return;
	}
	fc_fs_fill_entry(fs, &n, &e);
	fi->fh = (uint64_t)(uintptr_t)in;
	if (fuse_reply_create(req, &e, fi) != 0) {
		fc_fs_inode_forget(fs, n.ino, 1);
		close_node(fs, in);
	}
}

/* ----- setattr ----- */

static int do_truncate(struct fc_fs *fs, int64_t ino, uint64_t size,
		       struct fc_setattr *a, struct fc_node *n)
{
	struct fc_inode *in;
	int fd = -1, rc;
	bool own_fd = false;

	if (size > BLK_FILE_SIZE_MAX)
		return -EFBIG;
	rc = need_manifest(fs, n);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->itab_lock);
	in = fc_fs_itab_find(fs, ino);
	if (in)
		pthread_mutex_lock(&in->lock);
	pthread_mutex_unlock(&fs->itab_lock);
	if (in && in->fd >= 0) {
		fd = in->fd;
		n->size = in->size;
	} else {
		/* as in open_node: a release may have ended an epoch since
		 * the caller read the row */
		rc = fc_state_getattr(fs->deps.state, ino, n);
		if (rc < 0)
			goto out;
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
	if (in)
		in->size = size;
	if (in && in->epoch) {
		/* The epoch's own summary must not undo the new size. */
		if (in->lo < in->hi && in->hi > size)
			in->hi = CF_MAX(size, in->lo);
		in->set_mtime = false;
	}
	rc = fc_state_setattr(fs->deps.state, ino, a, n);
out:
	if (in)
		pthread_mutex_unlock(&in->lock);
	if (own_fd)
		close(fd);
	return rc;
}

void fc_fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		      int to_set, struct fuse_file_info *fi)
{
	struct fc_fs *fs = fc_fs_of(req);
	struct fc_setattr a;
	struct fc_inode *in = NULL;
	struct fc_node n;
	struct stat st;
	int64_t now = fc_fs_now_ns();
	int rc;

	(void)fi;
	memset(&a, 0, sizeof(a));
	a.now_ns = now;
	a.due_ns = fc_fs_due_at(fs);
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
				     : fc_fs_ns_of(&attr->st_atim);
	}
	if (to_set & FUSE_SET_ATTR_MTIME) {
		a.flags |= FC_SET_MTIME;
		a.mtime_ns = (to_set & FUSE_SET_ATTR_MTIME_NOW)
				     ? now
				     : fc_fs_ns_of(&attr->st_mtim);
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		a.flags |= FC_SET_CTIME;
		a.ctime_ns = fc_fs_ns_of(&attr->st_ctim);
	}
	if (n.kind == FC_KIND_FILE &&
	    !(to_set & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |
			 FUSE_SET_ATTR_CTIME | FUSE_SET_ATTR_ATIME |
			 FUSE_SET_ATTR_ATIME_NOW)) &&
	    (to_set & FUSE_SET_ATTR_MTIME)) {
		/* Times from the kernel's writeback: keep them in the epoch. */
		pthread_mutex_lock(&fs->itab_lock);
		in = fc_fs_itab_find(fs, (int64_t)ino);
		if (in)
			pthread_mutex_lock(&in->lock);
		pthread_mutex_unlock(&fs->itab_lock);
		if (in && in->epoch && !(a.flags & FC_SET_ATIME)) {
			in->set_mtime = true;
			in->mtime_ns = a.mtime_ns;
			in->ctime_ns =
				(a.flags & FC_SET_CTIME) ? a.ctime_ns : now;
			pthread_mutex_unlock(&in->lock);
			fc_fs_fill_stat(fs, &n, &st, false);
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
		in = fc_fs_itab_find(fs, (int64_t)ino);
		if (in) {
			pthread_mutex_lock(&in->lock);
			in->set_mtime = false;
			pthread_mutex_unlock(&in->lock);
		}
		pthread_mutex_unlock(&fs->itab_lock);
	}
	if (a.flags & (FC_SET_MODE | FC_SET_UID | FC_SET_GID | FC_SET_MTIME))
		fc_fs_wake_pusher(fs);
	if (to_set & FUSE_SET_ATTR_SIZE)
		fc_fs_wake_uploader(fs, a.due_ns);
	fc_fs_fill_stat(fs, &n, &st, false);
	fuse_reply_attr(req, &st, fs->opts->attr_timeout);
	return;
out:
	fuse_reply_err(req, -rc);
}
