/* SPDX-License-Identifier: MIT */
/*
 * Cache files: filling chunks through the fetch callback (one fetch per
 * chunk however many readers want it), read-modify-write preparation,
 * truncation, the background thread (read-ahead, pins, LRU bookkeeping,
 * eviction) and the size accounting that drives it.
 *
 * Lock order: a node lock (c->node_locks[ino % N]) before c->lock; the
 * state database's internal locks come after both. No lock is held while
 * the fetch callback runs. c->lock protects the hold table, the in-flight
 * list, the job queue and the touched list; c->used is atomic.
 */
#include "fc_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "cache"
#include "cf_file.h"
#include "cf_log.h"
#include "cf_thread.h"

#define NODE_LOCKS 64
#define JOBS_MAX 256
#define TOUCH_MAX 1024
#define EVICT_BATCH 64
#define LIMIT_MIN (1ull << 30)
#define READAHEAD_DEFAULT (16u << 20)
#define TICK_NS 2000000000ll

/* What fc_cache_make_room frees beside the write that hit ENOSPC. */
#define ROOM_SPARE (64ull << 20)

/*
 * Background threads: read-ahead windows are split into one job per
 * missing chunk so these fetch in parallel; memory stays bounded at one
 * chunk buffer per thread. A fetch is mostly waiting for the server (a
 * request per chunk of 256 KiB on average), so more threads than cores
 * pay: 8 threads and a 16 MiB window read 12 % faster from a cold cache
 * than 4 and 4 MiB did.
 */
#define CACHE_THREADS 8

struct inflight {
	int64_t ino;
	uint32_t idx;
	int refs;                       /* owner + waiters */
	bool done;
	int rc;
	struct inflight *next;
};

struct hold {
	int64_t ino;
	uint32_t count;
};

struct job {
	int64_t ino;
	uint64_t off, len;              /* len 0 = to the end */
};

struct fc_cache {
	char *dir;                      /* owned */
	int dirfd;                      /* owned */
	struct fc_state *st;            /* borrowed */
	uint64_t limit;
	fc_fetch_fn fetch;              /* borrowed from opts */
	void *fetch_arg;
	uint32_t readahead;
	_Atomic int64_t used;
	pthread_mutex_t node_locks[NODE_LOCKS];
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* an in-flight fetch finished */
	pthread_cond_t wake;            /* work for the thread */
	struct inflight *inflight;      /* protected by ->lock */
	struct hold *holds;             /* protected by ->lock */
	size_t hold_count, hold_cap;
	struct job jobs[JOBS_MAX];      /* ring, protected by ->lock */
	size_t job_head, job_count;
	int64_t touched[TOUCH_MAX];     /* protected by ->lock */
	size_t touched_count;
	bool stop;                      /* protected by ->lock */
	int64_t checkpoint_ns;          /* protected by ->lock */
	size_t thread_count;
	pthread_t threads[CACHE_THREADS];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static pthread_mutex_t *node_lock(struct fc_cache *c, int64_t ino)
{
	return &c->node_locks[(uint64_t)ino % NODE_LOCKS];
}

/* ----- files ----- */

/* "xx/<hex>" for id into name (3 + 32 + 1 bytes). */
static void rel_name(const uint8_t id[FC_ID_SIZE], char name[40])
{
	char hex[FC_ID_HEX_SIZE];

	fc_id_to_hex(id, hex);
	memcpy(name, hex, 2);
	name[2] = '/';
	memcpy(name + 3, hex, sizeof(hex));
}

int fc_cache_file_path(struct fc_cache *c, const uint8_t id[FC_ID_SIZE],
		       struct cf_buf *out)
{
	char name[40];

	rel_name(id, name);
	return cf_buf_appendf(out, "%s/%s", c->dir, name);
}

int fc_cache_file_open(struct fc_cache *c, const uint8_t id[FC_ID_SIZE],
		       bool create, int *out_fd)
{
	char name[40];
	int fd, flags;

	*out_fd = -1;
	rel_name(id, name);
	flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
	fd = openat(c->dirfd, name, flags, 0600);
	if (fd < 0 && errno == ENOENT && create) {
		/* The first file of its xx/ directory. */
		name[2] = '\0';
		if (mkdirat(c->dirfd, name, 0700) < 0 && errno != EEXIST)
			return -errno;
		name[2] = '/';
		fd = openat(c->dirfd, name, flags, 0600);
	}
	if (fd < 0)
		return -errno;
	*out_fd = fd;
	return 0;
}

int fc_cache_file_open_direct(struct fc_cache *c, const uint8_t id[FC_ID_SIZE],
			      int *out_fd)
{
	char name[40];
	int fd;

	rel_name(id, name);
	fd = openat(c->dirfd, name, O_WRONLY | O_DIRECT | O_CLOEXEC);
	*out_fd = fd;
	return fd < 0 ? -errno : 0;
}

int fc_cache_file_remove(struct fc_cache *c, const uint8_t id[FC_ID_SIZE])
{
	char name[40];
	struct stat sb;

	rel_name(id, name);
	if (fstatat(c->dirfd, name, &sb, 0) == 0)
		atomic_fetch_sub(&c->used, (int64_t)sb.st_blocks * 512);
	if (unlinkat(c->dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* ----- holds, touches, jobs ----- */

void fc_cache_hold(struct fc_cache *c, int64_t ino)
{
	struct hold *tmp;
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->hold_count; i++) {
		if (c->holds[i].ino == ino) {
			c->holds[i].count++;
			goto out;
		}
	}
	if (c->hold_count == c->hold_cap) {
		size_t cap = c->hold_cap ? 2 * c->hold_cap : 64;

		tmp = realloc(c->holds, cap * sizeof(*tmp));
		if (!tmp) {
			/*
			 * Out of memory: the node stays evictable, which
			 * costs a refetch at worst (eviction re-checks the
			 * database, never drops dirty data).
			 */
			goto out;
		}
		c->holds = tmp;
		c->hold_cap = cap;
	}
	c->holds[c->hold_count].ino = ino;
	c->holds[c->hold_count].count = 1;
	c->hold_count++;
out:
	pthread_mutex_unlock(&c->lock);
}

void fc_cache_unhold(struct fc_cache *c, int64_t ino)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->hold_count; i++) {
		if (c->holds[i].ino != ino)
			continue;
		if (--c->holds[i].count == 0)
			c->holds[i] = c->holds[--c->hold_count];
		break;
	}
	pthread_mutex_unlock(&c->lock);
}

static bool is_held(struct fc_cache *c, int64_t ino)
{
	bool held = false;
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->hold_count && !held; i++)
		held = c->holds[i].ino == ino;
	pthread_mutex_unlock(&c->lock);
	return held;
}

void fc_cache_touch(struct fc_cache *c, int64_t ino)
{
	pthread_mutex_lock(&c->lock);
	if (c->touched_count < TOUCH_MAX)
		c->touched[c->touched_count++] = ino;
	else
		pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

static void job_push(struct fc_cache *c, int64_t ino, uint64_t off,
		     uint64_t len)
{
	size_t i, pos;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->job_count; i++) {
		pos = (c->job_head + i) % JOBS_MAX;
		if (c->jobs[pos].ino == ino && c->jobs[pos].off == off &&
		    c->jobs[pos].len == len)
			goto out; /* already queued */
	}
	if (c->job_count == JOBS_MAX) {
		/* Read-ahead is a hint: drop the oldest one. */
		c->job_head = (c->job_head + 1) % JOBS_MAX;
		c->job_count--;
	}
	pos = (c->job_head + c->job_count) % JOBS_MAX;
	c->jobs[pos].ino = ino;
	c->jobs[pos].off = off;
	c->jobs[pos].len = len;
	c->job_count++;
	pthread_cond_signal(&c->wake);
out:
	pthread_mutex_unlock(&c->lock);
}

uint64_t fc_cache_readahead(struct fc_cache *c, int64_t ino, uint64_t off)
{
	if (!c->fetch || !c->readahead)
		return UINT64_MAX;
	job_push(c, ino, off, c->readahead);
	return off + c->readahead / 4;
}

void fc_cache_account(struct fc_cache *c, int64_t delta)
{
	int64_t used = atomic_fetch_add(&c->used, delta) + delta;

	if (used > (int64_t)c->limit) {
		pthread_mutex_lock(&c->lock);
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
}

uint64_t fc_cache_used(struct fc_cache *c)
{
	int64_t used = atomic_load(&c->used);

	return used > 0 ? (uint64_t)used : 0;
}

uint64_t fc_cache_limit(struct fc_cache *c)
{
	return c->limit;
}

int fc_cache_disk_space(struct fc_cache *c, uint64_t *out_total,
			uint64_t *out_free)
{
	struct statvfs sv;

	if (fstatvfs(c->dirfd, &sv) < 0)
		return -errno;
	*out_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	*out_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	return 0;
}

/* ----- writing into cache files ----- */

/*
 * Write all size bytes at off; a short count only when the disk fills
 * part way. Returns bytes written (maybe short), or -errno when none.
 */
static ssize_t pwrite_some(int fd, const void *buf, size_t size, uint64_t off)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < size) {
		n = pwrite(fd, p + done, size - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (done)
				return (ssize_t)done;
			return -errno;
		}
		if (n == 0)
			return done ? (ssize_t)done : -EIO;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int fc_cache_pwrite(struct fc_cache *c, int fd, const void *buf, size_t size,
		    uint64_t off)
{
	bool evicted = false;
	ssize_t n;

	for (;;) {
		n = pwrite_some(fd, buf, size, off);
		if (n >= 0 && (size_t)n == size)
			return 0;
		if (n >= 0) {
			/* Partly written: go on with the rest. */
			buf = (const char *)buf + n;
			size -= (size_t)n;
			off += (uint64_t)n;
			continue;
		}
		if (n != -ENOSPC || evicted)
			return (int)n;
		evicted = true;
		fc_cache_make_room(c, size);
	}
}

/* ----- fetching chunks ----- */

/*
 * Write a fetched chunk into fd if it is still wanted: same block at the
 * same offset and not present (a writer may have covered it meanwhile).
 */
static int store_chunk(struct fc_cache *c, int64_t ino, int fd,
		       const struct fc_chunk *ch, const uint8_t *data)
{
	pthread_mutex_t *nl = node_lock(c, ino);
	struct fc_chunk *now = NULL;
	size_t n = 0, i;
	bool want = false;
	int rc;

	pthread_mutex_lock(nl);
	rc = fc_state_chunks(c->st, ino, ch->off, 1, &now, &n);
	if (rc < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (now[i].idx == ch->idx && now[i].off == ch->off &&
		    now[i].size == ch->size && !now[i].present &&
		    blk_id_equal(&now[i].id, &ch->id))
			want = true;
	}
	if (!want)
		goto out;
	/*
	 * No eviction under the node lock (eviction takes node locks): on
	 * ENOSPC the caller evicts with no lock held and calls again.
	 */
	n = 0;
	while (n < ch->size) {
		ssize_t w = pwrite_some(fd, data + n, ch->size - n,
					ch->off + n);

		if (w < 0) {
			rc = (int)w;
			goto out;
		}
		n += (size_t)w;
	}
	rc = fc_state_chunks_mark(c->st, ino, &ch->idx, 1, true);
	if (rc == 0)
		atomic_fetch_add(&c->used, (int64_t)ch->size);
out:
	pthread_mutex_unlock(nl);
	free(now);
	return rc;
}

static int fetch_chunk(struct fc_cache *c, int64_t ino, int fd,
		       const struct fc_chunk *ch, fc_fetch_fn fetch, void *arg)
{
	struct inflight *f, **pp;
	uint8_t *buf = NULL;
	char hex[BLK_ID_HEX_SIZE];
	int rc;

	if (!fetch)
		return -ENOTCONN;
	pthread_mutex_lock(&c->lock);
	for (f = c->inflight; f; f = f->next) {
		if (f->ino == ino && f->idx == ch->idx)
			break;
	}
	if (f) {
		/* Someone fetches it already: wait for the result. */
		f->refs++;
		while (!f->done)
			pthread_cond_wait(&c->cond, &c->lock);
		rc = f->rc;
		if (--f->refs == 0)
			free(f);
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	f->ino = ino;
	f->idx = ch->idx;
	f->refs = 1;
	f->next = c->inflight;
	c->inflight = f;
	pthread_mutex_unlock(&c->lock);

	buf = malloc(ch->size ? ch->size : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = fetch(arg, &ch->id, ch->size, buf);
	if (rc < 0) {
		blk_id_to_hex(&ch->id, hex);
		if (rc == -EBADMSG) {
			cf_err("inode %" PRId64 ": block %.12s at %" PRIu64
			       " failed verification",
			       ino, hex, ch->off);
			rc = -EIO;
		} else {
			cf_warn("inode %" PRId64 ": fetch of block %.12s "
				"failed: %s",
				ino, hex, strerror(-rc));
		}
		goto out;
	}
	rc = store_chunk(c, ino, fd, ch, buf);
	if (rc == -ENOSPC) {
		fc_cache_make_room(c, ch->size);
		rc = store_chunk(c, ino, fd, ch, buf);
	}
	if (rc < 0 && rc != -ENOSPC)
		cf_err("inode %" PRId64 ": storing chunk %" PRIu32
		       " failed: %s",
		       ino, ch->idx, strerror(-rc));
out:
	free(buf);
	pthread_mutex_lock(&c->lock);
	for (pp = &c->inflight; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->done = true;
	f->rc = rc;
	if (--f->refs == 0)
		free(f);
	else
		pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int fc_cache_ensure(struct fc_cache *c, int64_t ino, int fd, uint64_t off,
		    uint64_t len, fc_fetch_fn fetch, void *arg)
{
	struct fc_chunk *ch = NULL;
	size_t n = 0, i;
	int rc, first = 0;

	if (!len)
		return 0;
	rc = fc_state_chunks(c->st, ino, off, len, &ch, &n);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++) {
		if (ch[i].present)
			continue;
		rc = fetch_chunk(c, ino, fd, &ch[i], fetch, arg);
		if (rc < 0 && !first)
			first = rc;
		if (rc < 0)
			break;
	}
	free(ch);
	return first;
}

int fc_cache_prepare_write(struct fc_cache *c, int64_t ino, int fd,
			   uint64_t off, uint64_t len, fc_fetch_fn fetch,
			   void *arg)
{
	struct fc_chunk *ch = NULL;
	uint32_t *covered = NULL;
	size_t n = 0, i, ncov = 0;
	uint64_t end = off + len;
	pthread_mutex_t *nl;
	int rc;

	if (!len)
		return 0;
	rc = fc_state_chunks(c->st, ino, off, len, &ch, &n);
	if (rc < 0 || !n)
		return rc;
	covered = calloc(n, sizeof(*covered));
	if (!covered) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (ch[i].present)
			continue;
		if (ch[i].off >= off && ch[i].off + ch[i].size <= end) {
			covered[ncov++] = ch[i].idx;
			continue;
		}
		/* Partly covered: the rest of it must be here first. */
		rc = fetch_chunk(c, ino, fd, &ch[i], fetch, arg);
		if (rc < 0)
			goto out;
	}
	if (ncov) {
		nl = node_lock(c, ino);
		pthread_mutex_lock(nl);
		rc = fc_state_chunks_mark(c->st, ino, covered, ncov, true);
		pthread_mutex_unlock(nl);
	}
out:
	free(covered);
	free(ch);
	return rc;
}

int fc_cache_truncate(struct fc_cache *c, int64_t ino, int fd,
		      uint64_t old_size, uint64_t new_size, fc_fetch_fn fetch,
		      void *arg)
{
	struct fc_chunk *ch = NULL;
	size_t n = 0, i;
	struct stat sb;
	int rc;

	if (new_size < old_size) {
		rc = fc_state_chunks(c->st, ino, new_size, 1, &ch, &n);
		if (rc < 0)
			return rc;
		for (i = 0; i < n; i++) {
			if (ch[i].present || ch[i].off >= new_size)
				continue;
			rc = fetch_chunk(c, ino, fd, &ch[i], fetch, arg);
			if (rc < 0)
				break;
		}
		free(ch);
		if (rc < 0)
			return rc;
	} else if (new_size > old_size) {
		/* Cut stale bytes past the old end, so the gap reads 0. */
		if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size > old_size &&
		    ftruncate(fd, (off_t)old_size) < 0)
			return -errno;
	}
	if (ftruncate(fd, (off_t)new_size) < 0)
		return -errno;
	return 0;
}

/* ----- pins and eviction ----- */

int fc_cache_pin(struct fc_cache *c, int64_t ino, bool pin)
{
	int rc = fc_state_set_pinned(c->st, ino, pin);

	if (rc == 0 && pin && c->fetch)
		job_push(c, ino, 0, 0);
	return rc;
}

struct evict_ctx {
	struct fc_cache *c;
	int64_t inos[EVICT_BATCH];
	uint8_t ids[EVICT_BATCH][FC_ID_SIZE];
	uint64_t sizes[EVICT_BATCH];
	size_t count;
};

static int evict_collect(void *arg, const struct fc_node *n)
{
	struct evict_ctx *e = arg;

	if (e->count >= EVICT_BATCH)
		return 1;
	if (is_held(e->c, n->ino))
		return 0;
	e->inos[e->count] = n->ino;
	memcpy(e->ids[e->count], n->id, FC_ID_SIZE);
	e->sizes[e->count] = n->size;
	e->count++;
	return 0;
}

/* Evict one node's data. Returns bytes freed or -errno. */
static int64_t evict_one(struct fc_cache *c, int64_t ino,
			 const uint8_t id[FC_ID_SIZE], uint64_t size)
{
	pthread_mutex_t *nl = node_lock(c, ino);
	struct stat before, after;
	int64_t freed = 0;
	int fd = -1, rc;

	pthread_mutex_lock(nl);
	if (is_held(c, ino)) {
		rc = -EBUSY;
		goto out;
	}
	rc = fc_state_evict_node(c->st, ino);
	if (rc < 0)
		goto out;
	rc = fc_cache_file_open(c, id, false, &fd);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc < 0 || fstat(fd, &before) < 0)
		goto out;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)CF_MAX(size, (uint64_t)before.st_size)) < 0) {
		/* No hole punching here: drop and restore the size. */
		if (ftruncate(fd, 0) < 0 ||
		    ftruncate(fd, before.st_size) < 0) {
			rc = -errno;
			goto out;
		}
	}
	if (fstat(fd, &after) == 0)
		freed = ((int64_t)before.st_blocks - (int64_t)after.st_blocks) *
			512;
	if (freed > 0)
		atomic_fetch_sub(&c->used, freed);
	cf_dbg("evicted inode %" PRId64 " (%" PRId64 " bytes)", ino, freed);
out:
	pthread_mutex_unlock(nl);
	if (fd >= 0)
		close(fd);
	return rc < 0 ? rc : freed;
}

int64_t fc_cache_evict(struct fc_cache *c, uint64_t target)
{
	struct evict_ctx e;
	int64_t freed = 0, n;
	size_t i;
	int rc, rounds = 0;

	while (fc_cache_used(c) > target && rounds++ < 1000) {
		memset(&e, 0, sizeof(e));
		e.c = c;
		rc = fc_state_evictable(c->st, EVICT_BATCH, evict_collect, &e);
		if (rc < 0)
			return freed ? freed : rc;
		if (!e.count)
			break;
		for (i = 0; i < e.count && fc_cache_used(c) > target; i++) {
			n = evict_one(c, e.inos[i], e.ids[i], e.sizes[i]);
			if (n > 0)
				freed += n;
		}
		if (e.count < EVICT_BATCH)
			break;
	}
	return freed;
}

void fc_cache_make_room(struct fc_cache *c, uint64_t size)
{
	uint64_t used = fc_cache_used(c);
	uint64_t need = size + ROOM_SPARE;

	fc_cache_evict(c, used > need ? used - need : 0);
}

/* ----- the cache thread ----- */

static bool is_inflight(struct fc_cache *c, int64_t ino, uint32_t idx)
{
	struct inflight *f;
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (f = c->inflight; f && !found; f = f->next)
		found = f->ino == ino && f->idx == idx;
	pthread_mutex_unlock(&c->lock);
	return found;
}

/*
 * A read-ahead window with more than one missing chunk becomes one job per
 * chunk, for the other threads to fetch in parallel; 1 when it did.
 * Whole-file jobs (pins, len 0) stay one job: they could overflow the ring.
 */
static int split_job(struct fc_cache *c, const struct job *j, uint64_t len)
{
	struct fc_chunk *ch = NULL;
	size_t n = 0, i, missing = 0;
	int rc;

	if (!j->len)
		return 0;
	rc = fc_state_chunks(c->st, j->ino, j->off, len, &ch, &n);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++)
		missing += !ch[i].present;
	if (missing > 1) {
		for (i = 0; i < n; i++) {
			if (!ch[i].present &&
			    !is_inflight(c, j->ino, ch[i].idx))
				job_push(c, j->ino, ch[i].off, ch[i].size);
		}
	}
	free(ch);
	return missing > 1;
}

static int run_job(struct fc_cache *c, const struct job *j)
{
	struct fc_node n;
	uint64_t len;
	int fd = -1, rc;

	rc = fc_state_getattr(c->st, j->ino, &n);
	if (rc < 0 || n.kind != FC_KIND_FILE || j->off >= n.size)
		return rc;
	len = j->len ? CF_MIN(j->len, n.size - j->off) : n.size - j->off;
	rc = split_job(c, j, len);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = fc_cache_file_open(c, n.id, true, &fd);
	if (rc < 0)
		return rc;
	rc = fc_cache_ensure(c, j->ino, fd, j->off, len, c->fetch,
			     c->fetch_arg);
	close(fd);
	return rc;
}

static void *cache_thread(void *arg)
{
	struct fc_cache *c = arg;
	int64_t touched[TOUCH_MAX];
	struct timespec ts;
	struct job j = { 0 };
	size_t nt;
	bool have_job, checkpoint;
	int64_t t;

	/* read-ahead serves a reader: normal priority */
	cf_thread_name("cloudfs-cache");
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		have_job = c->job_count > 0;
		if (have_job) {
			j = c->jobs[c->job_head];
			c->job_head = (c->job_head + 1) % JOBS_MAX;
			c->job_count--;
		}
		nt = c->touched_count;
		memcpy(touched, c->touched, nt * sizeof(*touched));
		c->touched_count = 0;
		t = now_ns();
		checkpoint = t - c->checkpoint_ns >= TICK_NS;
		if (checkpoint)
			c->checkpoint_ns = t;
		pthread_mutex_unlock(&c->lock);

		if (nt)
			fc_state_touch(c->st, touched, nt, t);
		/* keep the state log from growing for the life of the mount */
		if (checkpoint)
			fc_state_checkpoint(c->st);
		if (fc_cache_used(c) > c->limit)
			fc_cache_evict(c, c->limit / 10 * 9);
		if (have_job)
			run_job(c, &j);

		pthread_mutex_lock(&c->lock);
		if (c->stop || c->job_count || c->touched_count == TOUCH_MAX)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += TICK_NS / 1000000000;
		pthread_cond_timedwait(&c->wake, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Sum of the allocated bytes of every cache file. */
static int64_t measure(int dirfd)
{
	struct dirent *de, *fe;
	struct stat sb;
	int64_t total = 0;
	DIR *d, *sub;
	int fd, sfd;

	fd = dup(dirfd);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) != 2)
			continue;
		sfd = openat(dirfd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0)
			continue;
		sub = fdopendir(sfd);
		if (!sub) {
			close(sfd);
			continue;
		}
		while ((fe = readdir(sub))) {
			if (fe->d_name[0] == '.')
				continue;
			if (fstatat(sfd, fe->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) == 0)
				total += (int64_t)sb.st_blocks * 512;
		}
		closedir(sub);
	}
	closedir(d);
	return total;
}

int fc_cache_open(const struct fc_cache_opts *opts, struct fc_state *st,
		  struct fc_cache **out)
{
	struct fc_cache *c;
	uint64_t total = 0, avail = 0;
	size_t i;
	int rc;

	*out = NULL;
	if (!opts || !opts->dir || !*opts->dir || !st)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->dirfd = -1;
	c->st = st;
	c->fetch = opts->fetch;
	c->fetch_arg = opts->fetch_arg;
	c->readahead = opts->readahead ? opts->readahead : READAHEAD_DEFAULT;
	for (i = 0; i < NODE_LOCKS; i++)
		pthread_mutex_init(&c->node_locks[i], NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	pthread_cond_init(&c->wake, NULL);
	c->dir = strdup(opts->dir);
	if (!c->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = cf_mkdir_p(c->dir, 0700);
	if (rc < 0) {
		cf_err("cache directory %s: %s", c->dir, strerror(-rc));
		goto fail;
	}
	c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		rc = -errno;
		cf_err("cache directory %s: %s", c->dir, strerror(-rc));
		goto fail;
	}
	c->limit = opts->limit;
	if (!c->limit) {
		rc = fc_cache_disk_space(c, &total, &avail);
		if (rc < 0)
			goto fail;
		c->limit = CF_MAX(total / 10, LIMIT_MIN);
	}
	atomic_store(&c->used, measure(c->dirfd));
	for (i = 0; i < CACHE_THREADS; i++) {
		if (pthread_create(&c->threads[i], NULL, cache_thread, c) !=
		    0) {
			rc = -EAGAIN;
			goto fail;
		}
		c->thread_count++;
	}
	*out = c;
	return 0;
fail:
	fc_cache_close(c);
	return rc;
}

void fc_cache_close(struct fc_cache *c)
{
	size_t i;

	if (!c)
		return;
	if (c->thread_count) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_broadcast(&c->wake);
		pthread_mutex_unlock(&c->lock);
		for (i = 0; i < c->thread_count; i++)
			pthread_join(c->threads[i], NULL);
	}
	if (c->touched_count)
		fc_state_touch(c->st, c->touched, c->touched_count, now_ns());
	for (i = 0; i < NODE_LOCKS; i++)
		pthread_mutex_destroy(&c->node_locks[i]);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	pthread_cond_destroy(&c->wake);
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c->holds);
	free(c->dir);
	free(c);
}
