/* SPDX-License-Identifier: MIT */
/*
 * fc_fs, the namespace: lookup, forget, getattr, creating nodes of every
 * kind, link, unlink, rmdir, rename, readdir(plus), statfs and the
 * user.cloudfs.* control xattrs. Lock order: fc_fs_int.h.
 */
#include "fc_fs_int.h"

#include <sys/statvfs.h>

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "fs"
#include "cf_log.h"

/* ----- lookup, forget, getattr ----- */

void fc_fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fc_fs *fs = fc_fs_of(req);
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
	fc_fs_reply_entry(req, fs, &n);
}

void fc_fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fc_fs_inode_forget(fc_fs_of(req), (int64_t)ino, nlookup);
	fuse_reply_none(req);
}

void fc_fs_op_forget_multi(fuse_req_t req, size_t count,
			   struct fuse_forget_data *forgets)
{
	struct fc_fs *fs = fc_fs_of(req);
	size_t i;

	for (i = 0; i < count; i++)
		fc_fs_inode_forget(fs, (int64_t)forgets[i].ino,
				   forgets[i].nlookup);
	fuse_reply_none(req);
}

void fc_fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fc_fs *fs = fc_fs_of(req);
	struct fc_node n;
	struct stat st;
	int rc;

	(void)fi;
	rc = fc_state_getattr(fs->deps.state, (int64_t)ino, &n);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fc_fs_fill_stat(fs, &n, &st, true);
	fuse_reply_attr(req, &st, fs->opts->attr_timeout);
}

/* ----- creating nodes ----- */

int fc_fs_make_node(fuse_req_t req, int64_t parent, const char *name,
		    enum fc_kind kind, uint32_t mode, uint64_t rdev,
		    const char *target, bool writing, struct fc_node *out)
{
	struct fc_fs *fs = fc_fs_of(req);
	struct fc_create c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.parent = parent;
	c.name = name;
	c.name_len = strlen(name);
	c.kind = kind;
	c.mode = mode & 07777;
	c.uid = fuse_req_ctx(req)->uid;
	c.gid = fuse_req_ctx(req)->gid;
	c.rdev = rdev;
	if (target) {
		c.target = target;
		c.target_len = strlen(target);
		if (c.target_len > CF_PATH_MAX)
			return -ENAMETOOLONG;
	}
	c.now_ns = fc_fs_now_ns();
	c.writing = writing;
	c.due_ns = fc_fs_due_at(fs);
	rc = fc_state_create(fs->deps.state, &c, out);
	if (rc == 0)
		fc_fs_wake_pusher(fs);
	return rc;
}

static void reply_made(fuse_req_t req, int rc, const struct fc_node *n)
{
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fc_fs_reply_entry(req, fc_fs_of(req), n);
}

void fc_fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode)
{
	struct fc_node n;
	int rc;

	rc = fc_fs_make_node(req, (int64_t)parent, name, FC_KIND_DIR, mode, 0,
			     NULL, false, &n);
	reply_made(req, rc, &n);
}

void fc_fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode, dev_t rdev)
{
	enum fc_kind kind = fc_kind_from_mode(mode);
	struct fc_node n;
	int rc;

	if (!kind || kind == FC_KIND_DIR || kind == FC_KIND_SYMLINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = fc_fs_make_node(req, (int64_t)parent, name, kind, mode, rdev, NULL,
			     false, &n);
	reply_made(req, rc, &n);
}

void fc_fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		      const char *name)
{
	struct fc_node n;
	int rc;

	rc = fc_fs_make_node(req, (int64_t)parent, name, FC_KIND_SYMLINK, 0777,
			     0, link, false, &n);
	reply_made(req, rc, &n);
}

void fc_fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		   const char *name)
{
	struct fc_fs *fs = fc_fs_of(req);
	struct fc_node n;
	int rc;

	rc = fc_state_link(fs->deps.state, (int64_t)ino, (int64_t)parent, name,
			   strlen(name), fc_fs_now_ns(), &n);
	if (rc == 0)
		fc_fs_wake_pusher(fs);
	reply_made(req, rc, &n);
}

void fc_fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fc_fs *fs = fc_fs_of(req);
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
	if (n->ino && n->nlink == 0 && !fc_fs_inode_in_use(fs, n->ino))
		fc_fs_maybe_drop(fs, n->ino);
}

static void do_unlink(fuse_req_t req, fuse_ino_t parent, const char *name,
		      bool dir)
{
	struct fc_fs *fs = fc_fs_of(req);
	struct fc_node n;
	int rc;

	rc = fc_state_unlink(fs->deps.state, (int64_t)parent, name,
			     strlen(name), dir, fc_fs_now_ns(), &n);
	if (rc == 0) {
		after_unlink(fs, &n);
		fc_fs_wake_pusher(fs);
	}
	fuse_reply_err(req, -rc);
}

void fc_fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_unlink(req, parent, name, false);
}

void fc_fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_unlink(req, parent, name, true);
}

void fc_fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname,
		     unsigned int flags)
{
	struct fc_fs *fs = fc_fs_of(req);
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
			     strlen(newname), f, fc_fs_now_ns(), &rep);
	if (rc == 0) {
		after_unlink(fs, &rep);
		fc_fs_wake_pusher(fs);
	}
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
	fc_fs_fill_entry(d->fs, n, &e);
	rc = dir_add(d, tmp, &e.attr, &e, (off_t)cookie);
	if (rc == 0 && d->plus && fc_fs_inode_lookup(d->fs, n->ino) < 0) {
		/* Cannot count it: take the entry back out. */
		return -ENOMEM;
	}
	return rc;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       bool plus)
{
	struct fuse_entry_param e;
	struct dirbuf d;
	struct cf_buf name;
	int64_t parent = FC_ROOT_INO;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	d.req = req;
	d.fs = fc_fs_of(req);
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
	rc = fc_state_readdir(d.fs->deps.state, (int64_t)ino, off > 2 ? off : 0,
			      dirent_cb, &d);
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

void fc_fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void fc_fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

void fc_fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi)
{
	int rc;

	(void)ino;
	(void)datasync;
	(void)fi;
	rc = fc_state_sync(fc_fs_of(req)->deps.state);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

/* ----- statfs ----- */

void fc_fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fc_fs *fs = fc_fs_of(req);
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
	sv.f_bsize = FC_FS_STATFS_BSIZE;
	sv.f_frsize = FC_FS_STATFS_BSIZE;
	sv.f_blocks = total / FC_FS_STATFS_BSIZE;
	sv.f_bfree = avail / FC_FS_STATFS_BSIZE;
	sv.f_bavail = avail / FC_FS_STATFS_BSIZE;
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
	j = json_pack(
		"{s:b, s:b, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I},"
		" s:{s:b, s:s, s:I, s:I}, s:{s:I, s:I, s:i}, s:s}",
		"connected", (int)s.connected, "live", (int)s.live, "cursor",
		(json_int_t)s.cursor,
		"queue", "files", (json_int_t)s.queue_files, "bytes",
		(json_int_t)s.queue_bytes, "ops", "pending",
		(json_int_t)s.ops_pending, "failed", (json_int_t)s.ops_failed,
		"cache", "used", (json_int_t)s.cache_used, "limit",
		(json_int_t)s.cache_limit, "upload", "active", (int)s.uploading,
		"id", s.uploading ? hex : "", "done", (json_int_t)s.upload_done,
		"total", (json_int_t)s.upload_total, "pull", "started",
		(json_int_t)s.pull_started, "done", (json_int_t)s.pull_done,
		"error", s.pull_error,
		"message", s.message);
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

void fc_fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       size_t size)
{
	struct fc_fs *fs = fc_fs_of(req);
	char hex[FC_ID_HEX_SIZE];
	struct fc_node n;
	struct cf_buf b;
	int rc;

	cf_buf_init(&b, 1 << 16);
	if (strncmp(name, FC_FS_XATTR_PREFIX, strlen(FC_FS_XATTR_PREFIX)) !=
	    0) {
		rc = -ENOTSUP;
		goto out;
	}
	rc = fc_state_getattr(fs->deps.state, (int64_t)ino, &n);
	if (rc < 0)
		goto out;
	if (!strcmp(name, FC_FS_XATTR_ID)) {
		fc_id_to_hex(n.id, hex);
		rc = cf_buf_appends(&b, hex);
	} else if (!strcmp(name, FC_FS_XATTR_STATUS) && ino == FC_ROOT_INO) {
		rc = status_json(fs, &b);
	} else if (!strcmp(name, FC_FS_XATTR_PIN) && n.kind == FC_KIND_FILE) {
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

void fc_fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       const char *value, size_t size, int flags)
{
	struct fc_fs *fs = fc_fs_of(req);
	int rc;

	(void)flags;
	if (!strcmp(name, FC_FS_XATTR_PIN)) {
		if (size == 1 && (value[0] == '1' || value[0] == '0'))
			rc = fc_cache_pin(fs->deps.cache, (int64_t)ino,
					  value[0] == '1');
		else
			rc = -EINVAL;
	} else if (!strcmp(name, FC_FS_XATTR_SYNC)) {
		if (ino != FC_ROOT_INO) {
			rc = -EINVAL;
		} else {
			rc = fc_state_make_due(fs->deps.state, fc_fs_now_ns());
			if (fs->deps.wake_sync)
				fs->deps.wake_sync(fs->deps.arg);
			else
				fc_fs_wake_uploader(fs, 0);
		}
	} else if (!strncmp(name, FC_FS_XATTR_PREFIX,
			    strlen(FC_FS_XATTR_PREFIX))) {
		rc = -EPERM; /* read-only control names */
	} else {
		rc = -ENOTSUP;
	}
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

void fc_fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
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

void fc_fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	if (!strncmp(name, FC_FS_XATTR_PREFIX, strlen(FC_FS_XATTR_PREFIX)))
		fuse_reply_err(req, EPERM);
	else
		fuse_reply_err(req, ENOTSUP);
}
