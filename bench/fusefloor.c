/* SPDX-License-Identifier: MIT */
/*
 * fusefloor: the FUSE protocol alone, as a baseline for fsbench's small
 * file figures. An in-memory file system that keeps names, sizes and
 * attributes and throws the bytes away, mounted with the options cloudfs
 * uses (writeback cache, default_permissions, the same timeouts, a
 * multithreaded loop), so `fsbench create` through it measures what the
 * kernel's round trips cost on this machine before any real work.
 * Reads return zeros up to the file's size, from memory, in requests as
 * large as cloudfs's: what a FUSE read costs without a disk behind it.
 *
 *   fusefloor MOUNTPOINT      (foreground; unmount with fusermount3 -u)
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TIMEOUT_S 86400.0 /* cloudfs's entry and attribute timeouts */
#define NAME_SLOTS (1u << 20)
#define MAX_IO	   (1u << 20) /* cloudfs's max_read, max_write, readahead */

struct node {
	struct stat st;
};

struct name_slot {
	fuse_ino_t parent, ino;
	char *name;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *nodes;      /* by ino; guarded by lock */
static size_t node_count, node_cap;
static struct name_slot *names; /* open addressing; guarded by lock */

static uint64_t name_hash(fuse_ino_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ parent;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return h;
}

/* The slot of (parent, name), or the empty slot where it would go. */
static struct name_slot *name_find(fuse_ino_t parent, const char *name)
{
	uint64_t i = name_hash(parent, name) & (NAME_SLOTS - 1);

	while (names[i].name &&
	       (names[i].parent != parent || strcmp(names[i].name, name)))
		i = (i + 1) & (NAME_SLOTS - 1);
	return &names[i];
}

static fuse_ino_t node_new(mode_t mode, const struct fuse_ctx *ctx)
{
	struct node *tmp;
	struct timespec now;

	if (node_count == node_cap) {
		node_cap = node_cap ? 2 * node_cap : 1024;
		tmp = realloc(nodes, node_cap * sizeof(*nodes));
		if (!tmp)
			return 0;
		nodes = tmp;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	memset(&nodes[node_count], 0, sizeof(nodes[node_count]));
	nodes[node_count].st.st_ino = node_count;
	nodes[node_count].st.st_mode = mode;
	nodes[node_count].st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	nodes[node_count].st.st_uid = ctx ? ctx->uid : 0;
	nodes[node_count].st.st_gid = ctx ? ctx->gid : 0;
	nodes[node_count].st.st_atim = now;
	nodes[node_count].st.st_mtim = now;
	nodes[node_count].st.st_ctim = now;
	return node_count++;
}

/* Fill e for ino, then drop the lock (held on entry). */
static void entry_of(fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 1;
	e->attr = nodes[ino].st;
	e->attr_timeout = TIMEOUT_S;
	e->entry_timeout = TIMEOUT_S;
	pthread_mutex_unlock(&lock);
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;

	entry_of(ino, &e);
	fuse_reply_entry(req, &e);
}

static void ff_init(void *u, struct fuse_conn_info *conn)
{
	(void)u;
	if (conn->capable & FUSE_CAP_WRITEBACK_CACHE)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_write = MAX_IO;
	conn->max_read = MAX_IO;
	conn->max_readahead = MAX_IO;
}

static void ff_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct name_slot *s;

	pthread_mutex_lock(&lock);
	s = name_find(parent, name);
	if (!s->name) {
		pthread_mutex_unlock(&lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	reply_entry(req, s->ino);
}

static void make(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct name_slot *s;
	fuse_ino_t ino;

	pthread_mutex_lock(&lock);
	s = name_find(parent, name);
	if (s->name) {
		pthread_mutex_unlock(&lock);
		fuse_reply_err(req, EEXIST);
		return;
	}
	ino = node_new(mode, fuse_req_ctx(req));
	s->name = ino ? strdup(name) : NULL;
	if (!s->name) {
		pthread_mutex_unlock(&lock);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	s->parent = parent;
	s->ino = ino;
	if (!fi) {
		reply_entry(req, ino);
		return;
	}
	entry_of(ino, &e);
	fuse_reply_create(req, &e, fi);
}

static void ff_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	make(req, parent, name, S_IFDIR | (mode & 07777), NULL);
}

static void ff_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	make(req, parent, name, S_IFREG | (mode & 07777), fi);
}

static void ff_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	pthread_mutex_lock(&lock);
	st = nodes[ino].st;
	pthread_mutex_unlock(&lock);
	fuse_reply_attr(req, &st, TIMEOUT_S);
}

static void ff_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	pthread_mutex_lock(&lock);
	if (to_set & FUSE_SET_ATTR_MODE)
		nodes[ino].st.st_mode = (nodes[ino].st.st_mode & S_IFMT) |
					(attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_SIZE)
		nodes[ino].st.st_size = attr->st_size;
	if (to_set & FUSE_SET_ATTR_MTIME)
		nodes[ino].st.st_mtim = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_CTIME)
		nodes[ino].st.st_ctim = attr->st_ctim;
	st = nodes[ino].st;
	pthread_mutex_unlock(&lock);
	fuse_reply_attr(req, &st, TIMEOUT_S);
}

static void ff_write_buf(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_bufvec *bufv, off_t off,
			 struct fuse_file_info *fi)
{
	size_t size = fuse_buf_size(bufv);

	(void)fi;
	pthread_mutex_lock(&lock);
	if ((off_t)(off + size) > nodes[ino].st.st_size)
		nodes[ino].st.st_size = off + (off_t)size;
	pthread_mutex_unlock(&lock);
	fuse_reply_write(req, size);
}

static void ff_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	static const char zeros[MAX_IO];
	off_t end;

	(void)fi;
	pthread_mutex_lock(&lock);
	end = nodes[ino].st.st_size;
	pthread_mutex_unlock(&lock);
	if (off >= end)
		size = 0;
	else if ((off_t)size > end - off)
		size = (size_t)(end - off);
	fuse_reply_buf(req, zeros, size < sizeof(zeros) ? size : sizeof(zeros));
}

static void ff_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void ff_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)datasync;
	ff_ok(req, ino, fi);
}

static void ff_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, EOPNOTSUPP); /* as cloudfs, for other names */
}

static const struct fuse_lowlevel_ops ops = {
	.init = ff_init,
	.lookup = ff_lookup,
	.getattr = ff_getattr,
	.setattr = ff_setattr,
	.mkdir = ff_mkdir,
	.create = ff_create,
	.write_buf = ff_write_buf,
	.read = ff_read,
	.flush = ff_ok,
	.release = ff_ok,
	.fsync = ff_fsync,
	.getxattr = ff_getxattr,
};

int main(int argc, char **argv)
{
	char opt_o[] = "-o",
	     opt_perm[] = "default_permissions,max_read=1048576";
	char *args[] = { argv[0], opt_o, opt_perm, NULL };
	struct fuse_args fa = FUSE_ARGS_INIT(3, args);
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: fusefloor MOUNTPOINT\n");
		return 2;
	}
	names = calloc(NAME_SLOTS, sizeof(*names));
	if (!names || node_new(0, NULL) != 0 ||
	    node_new(S_IFDIR | 0755, NULL) != FUSE_ROOT_ID)
		return 1;
	se = fuse_session_new(&fa, &ops, sizeof(ops), NULL);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) == 0 &&
	    fuse_session_mount(se, argv[1]) == 0) {
		cfg = fuse_loop_cfg_create();
		if (cfg) {
			fuse_loop_cfg_set_max_threads(cfg, 16);
			fuse_loop_cfg_set_idle_threads(cfg, 16);
			rc = fuse_session_loop_mt(se, cfg) < 0;
			fuse_loop_cfg_destroy(cfg);
		}
		fuse_session_unmount(se);
	}
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return rc;
}
