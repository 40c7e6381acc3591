/* SPDX-License-Identifier: MIT */
/*
 * The uploader (see fc_upload.h). One upload, start to end, runs on one
 * pool thread with that thread's codec: claim -> pending (files from
 * FC_UPLOAD_ANNOUNCE_BYTES) -> re-chunk the dirty region (fc_rechunk.c,
 * reading through the cache, which fetches chunks it lacks) -> encode ->
 * batches of "which are missing?" (batches over FC_UPLOAD_ASK_BYTES) +
 * parallel PUTs -> manifest -> commit with base_version -> record the new
 * version. A stale base (another device committed first) keeps both sides:
 * the local content becomes a conflicted copy and the file takes the
 * server's version.
 *
 * Lock order: up->lock is a leaf (progress numbers, stop flag, wake-ups);
 * it is never held across state, cache or network calls.
 */
#include "fc_upload.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "upload"
#include "blk/codec.h"
#include "blk/manifest.h"
#include "cf_file.h"
#include "cf_log.h"
#include "cf_thread.h"
#include "fc_conflict.h"
#include "fc_rechunk.h"

#define HARD_RETRY_S   600
#define IDLE_WAIT_S    30
#define CONFLICT_TRIES 3

/* ----- the pool ----- */

struct fc_uploader {
	struct fc_upload_deps d; /* pointers borrowed */
	pthread_t *threads; /* owned */
	unsigned nthreads, started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* protected by ->lock */
	uint64_t wakes; /* protected by ->lock */
	struct fc_upload_progress prog; /* protected by ->lock */
	bool server_full; /* protected by ->lock: ->prog.message says so */
	atomic_bool stopping; /* lock-free copy of stop */
};

/* A block in the current batch: its blob lives in the arena. */
struct batch_item {
	struct blk_id id;
	size_t off; /* in arena */
	size_t size;
};

/* Per-thread working set: one codec, one arena, reused across uploads. */
struct worker {
	struct fc_uploader *up;
	struct blk_codec *codec; /* owned */
	uint8_t *arena; /* owned, arena_cap bytes */
	size_t arena_cap, arena_used;
	struct batch_item *batch; /* owned */
	size_t batch_count, batch_cap;
	struct fc_remote_put *puts; /* owned, batch_cap */
	struct blk_id *ids; /* owned, batch_cap */
	bool *missing; /* owned, batch_cap */
	/* the upload in hand */
	const struct fc_upload *u;
	int fd;
	struct blk_manifest_entry *news; /* owned: new chunks, in order */
	size_t news_count, news_cap;
	bool check_all; /* send every chunk through the
					      * missing check (no reuse) */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool stopping(struct fc_uploader *up)
{
	return atomic_load(&up->stopping);
}

static void progress_set(struct fc_uploader *up, const struct fc_upload *u,
			 uint64_t done, uint64_t total)
{
	pthread_mutex_lock(&up->lock);
	up->prog.active = u != NULL;
	if (u)
		memcpy(up->prog.id, u->id, FC_ID_SIZE);
	up->prog.done = done;
	up->prog.total = total;
	pthread_mutex_unlock(&up->lock);
}

static void progress_add(struct fc_uploader *up, uint64_t done, uint64_t sent)
{
	pthread_mutex_lock(&up->lock);
	up->prog.done += done;
	if (up->prog.done > up->prog.total)
		up->prog.total = up->prog.done;
	up->prog.sent += sent;
	pthread_mutex_unlock(&up->lock);
}

static void message_set(struct fc_uploader *up, const char *fmt, ...)
	CF_PRINTF(2, 3);
static void message_set(struct fc_uploader *up, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&up->lock);
	va_start(ap, fmt);
	vsnprintf(up->prog.message, sizeof(up->prog.message), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&up->lock);
}

/*
 * The server's disk is full (or has room again): uploads wait and retry,
 * and the status says why they do not finish.
 */
static void server_full_set(struct fc_uploader *up, bool full)
{
	bool was;

	pthread_mutex_lock(&up->lock);
	was = up->server_full;
	up->server_full = full;
	if (full && !was)
		snprintf(up->prog.message, sizeof(up->prog.message),
			 "the server is out of disk space: uploads wait and "
			 "retry");
	else if (!full && was)
		up->prog.message[0] = '\0';
	pthread_mutex_unlock(&up->lock);
	if (full && !was)
		cf_warn("the server is out of disk space: uploads wait and "
			"retry");
	else if (!full && was)
		cf_info("the server takes uploads again");
}

/* Send the batch: ask which blocks are missing, PUT those in parallel. */
static int batch_flush(struct worker *w)
{
	struct fc_uploader *up = w->up;
	size_t i, k, nput = 0;
	uint64_t sent = 0;
	int rc = 0;

	if (!w->batch_count)
		return 0;
	if (stopping(up)) {
		rc = -ECANCELED;
		goto out;
	}
	if (w->arena_used <= FC_UPLOAD_ASK_BYTES) {
		/* sending it all costs less than asking first */
		for (i = 0; i < w->batch_count; i++)
			w->missing[i] = true;
	} else {
		for (i = 0; i < w->batch_count; i++)
			w->ids[i] = w->batch[i].id;
		rc = fc_remote_blocks_missing(up->d.remote, w->ids,
					      w->batch_count, w->missing);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < w->batch_count; i++) {
		if (!w->missing[i])
			continue;
		/* the same chunk twice in one batch goes up once */
		for (k = 0; k < nput; k++)
			if (blk_id_equal(&w->puts[k].id, &w->batch[i].id))
				break;
		if (k < nput)
			continue;
		w->puts[nput].id = w->batch[i].id;
		w->puts[nput].data = w->arena + w->batch[i].off;
		w->puts[nput].size = w->batch[i].size;
		w->puts[nput].rc = 0;
		sent += w->batch[i].size;
		nput++;
	}
	rc = fc_remote_blocks_put(up->d.remote, w->puts, nput, up->d.parallel);
	if (rc == 0)
		progress_add(up, 0, sent);
out:
	w->batch_count = 0;
	w->arena_used = 0;
	return rc;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* fc_rechunk_chunk_fn: encode, remember, batch. */
static int on_chunk(void *arg, uint64_t off, const uint8_t *data, uint32_t size)
{
	struct worker *w = arg;
	struct blk_blob blob;
	int rc;

	(void)off;
	rc = blk_codec_encode(w->codec, data, size, &blob);
	if (rc < 0)
		return rc;
	rc = grow((void **)&w->news, &w->news_cap, w->news_count + 1,
		  sizeof(*w->news));
	if (rc < 0)
		return rc;
	w->news[w->news_count].id = blob.id;
	w->news[w->news_count].size = size;
	w->news_count++;
	if (w->arena_used + blob.size > w->arena_cap ||
	    w->batch_count == w->batch_cap) {
		rc = batch_flush(w);
		if (rc < 0)
			return rc;
	}
	memcpy(w->arena + w->arena_used, blob.data, blob.size);
	w->batch[w->batch_count].id = blob.id;
	w->batch[w->batch_count].off = w->arena_used;
	w->batch[w->batch_count].size = blob.size;
	w->batch_count++;
	w->arena_used += blob.size;
	progress_add(w->up, size, 0);
	return 0;
}

/* fc_rechunk_read_fn: through the cache, which fetches what it lacks. */
static ssize_t on_read(void *arg, void *buf, size_t size, uint64_t off)
{
	struct worker *w = arg;
	struct fc_uploader *up = w->up;
	ssize_t n;
	int rc;

	if (stopping(up))
		return -ECANCELED;
	rc = fc_cache_ensure(up->d.cache, w->u->ino, w->fd, off, size,
			     up->d.fetch, up->d.fetch_arg);
	if (rc < 0)
		return rc;
	n = cf_pread_full(w->fd, buf, size, (off_t)off);
	if (n < 0)
		return n;
	/* a sparse tail past the cache file's end reads as zeros */
	if ((size_t)n < size)
		memset((uint8_t *)buf + n, 0, size - (size_t)n);
	return (ssize_t)size;
}

/* Rows that tile the file from 0; NULL/0 when unknown. */
static int old_rows(struct worker *w, struct fc_chunk **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	if (w->check_all || !w->u->base_version)
		return 0;
	return fc_state_chunks(w->up->d.state, w->u->ino, 0, 0, out, count);
}

/* The new manifest: old head rows, the new chunks, old tail rows. */
static int build_manifest(struct worker *w, const struct fc_chunk *old,
			  size_t count, const struct fc_rechunk_res *res,
			  struct blk_manifest *m)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < res->head && !rc; i++)
		rc = blk_manifest_add(m, &old[i].id, old[i].size);
	for (i = 0; i < w->news_count && !rc; i++)
		rc = blk_manifest_add(m, &w->news[i].id, w->news[i].size);
	for (i = res->tail; i < count && !rc; i++)
		rc = blk_manifest_add(m, &old[i].id, old[i].size);
	return rc;
}

static int commit_manifest(struct worker *w, uint64_t base,
			   const struct blk_manifest *m, uint64_t size,
			   int64_t mtime_ns, struct fc_commit_res *res)
{
	struct fc_uploader *up = w->up;
	struct fc_commit_req c = { 0 };
	struct cf_buf enc;
	int rc;

	cf_buf_init(&enc, BLK_MANIFEST_SIZE_MAX);
	rc = blk_manifest_encode(m, &enc);
	if (rc < 0)
		goto out;
	rc = blk_manifest_tag(up->d.keys->mac, w->u->id, enc.data, enc.len,
			      c.tag);
	if (rc < 0)
		goto out;
	c.base_version = base;
	c.size = size;
	c.mtime_ns = mtime_ns;
	c.manifest = enc.data;
	c.manifest_size = enc.len;
	rc = fc_remote_commit(up->d.remote, w->u->id, &c, res);
out:
	cf_buf_release(&enc);
	return rc;
}

/* Re-chunk, upload and commit once. *m gets the manifest sent. */
static int upload_pass(struct worker *w, struct blk_manifest *m,
		       struct fc_commit_res *cres)
{
	struct fc_uploader *up = w->up;
	const struct fc_upload *u = w->u;
	struct fc_rechunk_req q = { 0 };
	struct fc_rechunk_res res;
	struct fc_chunk *old = NULL;
	size_t count = 0, i;
	uint64_t kept = 0;
	int rc;

	w->news_count = 0;
	w->batch_count = 0;
	w->arena_used = 0;
	rc = old_rows(w, &old, &count);
	if (rc < 0)
		goto out;
	q.params = up->d.chunk;
	q.old = old;
	q.old_count = count;
	q.new_size = u->size;
	q.lo = u->lo;
	q.hi = u->hi;
	if (w->check_all) {
		q.lo = 0;
		q.hi = u->size;
	}
	q.read = on_read;
	q.read_arg = w;
	q.chunk = on_chunk;
	q.chunk_arg = w;
	progress_set(up, u, 0, u->size);
	rc = fc_rechunk_plan(&q, &res);
	if (rc == 0)
		rc = batch_flush(w);
	if (rc < 0)
		goto out;
	for (i = 0; i < res.head; i++)
		kept += old[i].size;
	for (i = res.tail; i < count; i++)
		kept += old[i].size;
	progress_add(up, kept, 0);
	cf_dbg("node ino %lld: re-chunked [%llu, %llu): %zu new chunks, "
	       "%zu + %zu kept",
	       (long long)u->ino, (unsigned long long)res.start,
	       (unsigned long long)res.end, res.new_count, res.head,
	       count - res.tail);
	rc = build_manifest(w, old, count, &res, m);
	if (rc < 0)
		goto out;
	if (m->file_size != u->size) {
		cf_err("node ino %lld: manifest covers %llu bytes, file has "
		       "%llu",
		       (long long)u->ino, (unsigned long long)m->file_size,
		       (unsigned long long)u->size);
		rc = -EIO;
		goto out;
	}
	rc = commit_manifest(w, u->base_version, m, u->size, u->mtime_ns, cres);
out:
	free(old);
	return rc;
}

/* Copy count bytes of fd_in to fd_out from offset 0. */
static int copy_range(int fd_in, int fd_out, uint64_t count)
{
	loff_t in = 0, out = 0;
	char buf[65536];
	ssize_t n;
	int rc;

	while ((uint64_t)in < count) {
		n = copy_file_range(
			fd_in, &in, fd_out, &out,
			(size_t)CF_MIN(count - (uint64_t)in, (uint64_t)1 << 30),
			0);
		if (n > 0)
			continue;
		if (n == 0)
			break;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP)
			return -errno;
		/* no copy_file_range here: plain copy */
		while ((uint64_t)in < count) {
			n = cf_pread_full(fd_in, buf,
					  (size_t)CF_MIN(sizeof(buf),
							 count - (uint64_t)in),
					  in);
			if (n <= 0)
				return n < 0 ? (int)n : -EIO;
			rc = cf_pwrite_full(fd_out, buf, (size_t)n, out);
			if (rc < 0)
				return rc;
			in += n;
			out += n;
		}
	}
	if ((uint64_t)in < count && ftruncate(fd_out, (off_t)count) < 0)
		return -errno;
	return 0;
}

/*
 * Keep the local content as a new file next to u's node: returns 0 with
 * the copy queued for upload, or -errno (nothing changed for the node).
 */
static int conflict_copy(struct worker *w)
{
	struct fc_uploader *up = w->up;
	const struct fc_upload *u = w->u;
	struct fc_write_summary ws = { 0 };
	struct fc_create cr = { 0 };
	struct cf_buf name, copy;
	struct fc_node node, c;
	int64_t parent, t = now_ns();
	unsigned n;
	int fd = -1, rc;

	cf_buf_init(&name, CF_NAME_MAX);
	cf_buf_init(&copy, CF_NAME_MAX);
	rc = fc_state_getattr(up->d.state, u->ino, &node);
	if (rc == 0)
		rc = fc_state_name_of(up->d.state, u->ino, &parent, &name);
	if (rc < 0)
		goto out;
	/* the whole local content must be in the cache file */
	rc = fc_cache_ensure(up->d.cache, u->ino, w->fd, 0, u->size,
			     up->d.fetch, up->d.fetch_arg);
	if (rc < 0)
		goto out;
	cr.parent = parent;
	cr.kind = FC_KIND_FILE;
	cr.mode = node.mode;
	cr.uid = node.uid;
	cr.gid = node.gid;
	cr.now_ns = t;
	for (n = 1; n < 100; n++) {
		rc = fc_conflict_candidate(name.data, name.len, false,
					   up->d.device, t / 1000000000, n,
					   &copy);
		if (rc < 0)
			goto out;
		cr.name = copy.data;
		cr.name_len = copy.len;
		rc = fc_state_create(up->d.state, &cr, &c);
		if (rc != -EEXIST)
			break;
	}
	if (rc < 0)
		goto out;
	rc = fc_cache_file_open(up->d.cache, c.id, true, &fd);
	if (rc == 0)
		rc = copy_range(w->fd, fd, u->size);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	ws.lo = 0;
	ws.hi = rc == 0 ? u->size : 0;
	ws.size = rc == 0 ? u->size : 0;
	ws.set_mtime = true;
	ws.mtime_ns = u->mtime_ns;
	ws.ctime_ns = t;
	/* end the new file's write epoch even on failure: never left stuck */
	{
		int rc2 = fc_state_write_done(up->d.state, c.ino, &ws, t, true);

		if (rc == 0)
			rc = rc2;
	}
	if (rc < 0)
		goto out;
	fc_cache_account(up->d.cache, (int64_t)u->size);
	if (up->d.wake_pusher)
		up->d.wake_pusher(up->d.hook_arg);
	cf_warn("conflict: %.*s changed on another device; local content "
		"kept as \"%.*s\"",
		(int)name.len, name.data, (int)copy.len, copy.data);
	message_set(up, "conflict: local changes kept as \"%.*s\"",
		    (int)copy.len, copy.data);
out:
	if (fd >= 0)
		close(fd);
	cf_buf_release(&name);
	cf_buf_release(&copy);
	return rc;
}

/*
 * After a conflict copy: make u's node the server's current content by
 * committing that version's manifest again on top of itself (identical
 * content, no block moves), then drop the local bytes from the cache.
 */
static int conflict_take_server(struct worker *w)
{
	struct fc_uploader *up = w->up;
	struct fc_upload base = *w->u;
	struct fc_version_data vd = { 0 };
	struct fc_commit_req c = { 0 };
	struct fc_commit_res res = { 0 };
	struct blk_manifest m;
	struct fc_chunk *rows = NULL;
	uint32_t *idx = NULL;
	size_t count = 0, i;
	bool clean = false;
	int tries, rc;

	blk_manifest_init(&m);
	for (tries = 0; tries < CONFLICT_TRIES; tries++) {
		fc_version_data_release(&vd);
		blk_manifest_release(&m);
		rc = fc_remote_version_get(up->d.remote, base.id, 0, &vd);
		if (rc < 0)
			goto out;
		rc = blk_manifest_verify_parse(up->d.keys->mac, base.id,
					       vd.manifest, vd.manifest_size,
					       vd.tag, &m);
		if (rc < 0) {
			cf_err("node ino %lld: server manifest of version "
			       "%llu fails verification",
			       (long long)base.ino,
			       (unsigned long long)vd.info.version);
			rc = -EBADMSG;
			goto out;
		}
		c.base_version = vd.info.version;
		c.size = m.file_size;
		c.mtime_ns = vd.info.mtime_ns;
		c.manifest = vd.manifest;
		c.manifest_size = vd.manifest_size;
		memcpy(c.tag, vd.tag, sizeof(c.tag));
		rc = fc_remote_commit(up->d.remote, base.id, &c, &res);
		free(res.missing);
		res.missing = NULL;
		if (rc != -ESTALE)
			break;
	}
	if (rc < 0)
		goto out;
	base.base_version = vd.info.version;
	rc = fc_state_upload_done(up->d.state, &base, res.version, &m, &clean);
	if (rc < 0 || !clean)
		goto out;
	/* the cache file holds the local bytes, not these: refetch */
	rc = fc_state_chunks(up->d.state, base.ino, 0, 0, &rows, &count);
	if (rc < 0)
		goto out;
	idx = calloc(count ? count : 1, sizeof(*idx));
	if (!idx) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++)
		idx[i] = rows[i].idx;
	rc = fc_state_chunks_mark(up->d.state, base.ino, idx, count, false);
	/* same rows, now not present; this also sets the server's size */
	if (rc == 0)
		rc = fc_state_set_manifest(up->d.state, base.ino, res.version,
					   &m);
	if (rc == 0 &&
	    fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)CF_MAX(base.size, m.file_size)) == 0)
		fc_cache_account(up->d.cache, -(int64_t)base.size);
	if (rc == 0 && ftruncate(w->fd, (off_t)m.file_size) < 0)
		rc = -errno;
	if (up->d.inval)
		up->d.inval(up->d.hook_arg, base.ino);
out:
	free(idx);
	free(rows);
	blk_manifest_release(&m);
	fc_version_data_release(&vd);
	return rc;
}

static bool manifest_equal(const struct blk_manifest *a,
			   const struct blk_manifest *b)
{
	size_t i;

	if (a->file_size != b->file_size || a->count != b->count)
		return false;
	for (i = 0; i < a->count; i++)
		if (a->entries[i].size != b->entries[i].size ||
		    memcmp(&a->entries[i].id, &b->entries[i].id,
			   sizeof(a->entries[i].id)) != 0)
			return false;
	return true;
}

/*
 * A stale base whose server version already holds exactly m: our own
 * commit whose answer was lost (unmount, crash, dropped connection), or
 * the same bytes from another device. Neither is a conflict. 1 (and
 * *out_version) when so, 0 when not, -errno.
 */
static int server_has(struct worker *w, const struct blk_manifest *m,
		      uint64_t *out_version)
{
	struct fc_uploader *up = w->up;
	struct fc_version_data vd = { 0 };
	struct blk_manifest cur;
	int rc;

	blk_manifest_init(&cur);
	rc = fc_remote_version_get(up->d.remote, w->u->id, 0, &vd);
	if (rc == 0)
		rc = blk_manifest_verify_parse(up->d.keys->mac, w->u->id,
					       vd.manifest, vd.manifest_size,
					       vd.tag, &cur);
	if (rc == 0) {
		rc = manifest_equal(&cur, m) ? 1 : 0;
		*out_version = vd.info.version;
	}
	blk_manifest_release(&cur);
	fc_version_data_release(&vd);
	return rc;
}

/* One claimed upload, to the end: always calls upload_done or _failed. */
static void upload_one(struct worker *w, const struct fc_upload *u)
{
	struct fc_uploader *up = w->up;
	struct fc_commit_res cres = { 0 };
	struct blk_manifest m;
	bool clean = false;
	int rc, pass;

	blk_manifest_init(&m);
	w->u = u;
	w->fd = -1;
	w->check_all = false;
	rc = fc_cache_file_open(up->d.cache, u->id, true, &w->fd);
	if (rc < 0)
		goto out;
	if (u->size >= FC_UPLOAD_ANNOUNCE_BYTES) {
		rc = fc_remote_node_pending(up->d.remote, u->id);
		if (rc < 0 && rc != -ENOENT)
			goto out;
	}
	for (pass = 0; pass < 2; pass++) {
		blk_manifest_release(&m);
		free(cres.missing);
		memset(&cres, 0, sizeof(cres));
		rc = upload_pass(w, &m, &cres);
		if (rc != -ENODATA)
			break;
		/* the server lacks a block we reused: check every one */
		cf_warn("node ino %lld: server lacks %zu reused blocks, "
			"re-uploading in full",
			(long long)u->ino, cres.missing_count);
		w->check_all = true;
	}
	if (rc == -ESTALE && server_has(w, &m, &cres.version) == 1) {
		cf_info("node ino %lld: the server's version %llu already "
			"holds this content",
			(long long)u->ino, (unsigned long long)cres.version);
		rc = 0;
	} else if (rc == -ESTALE) {
		cf_info("node ino %lld: version %llu is stale (server has "
			"%llu)",
			(long long)u->ino, (unsigned long long)u->base_version,
			(unsigned long long)cres.current_version);
		rc = conflict_copy(w);
		if (rc == 0) {
			rc = conflict_take_server(w);
			if (rc < 0)
				cf_err("node ino %lld: could not take the "
				       "server's version: %s (local content "
				       "is safe in the conflicted copy)",
				       (long long)u->ino, strerror(-rc));
			/* the node was committed or stays queued either way */
			if (rc == 0)
				goto done;
		}
		goto out;
	}
	if (rc < 0)
		goto out;
	rc = fc_state_upload_done(up->d.state, u, cres.version, &m, &clean);
	if (rc < 0 && rc != -ENOENT)
		cf_err("node ino %lld: committed version %llu but cannot "
		       "record it: %s",
		       (long long)u->ino, (unsigned long long)cres.version,
		       strerror(-rc));
	cf_dbg("node ino %lld: committed version %llu (%llu bytes)%s",
	       (long long)u->ino, (unsigned long long)cres.version,
	       (unsigned long long)u->size, clean ? "" : ", changed since");
	server_full_set(up, false);
	goto done;
out:
	if (rc == -ECANCELED) {
		fc_state_upload_failed(up->d.state, u, rc, now_ns());
	} else if (fc_remote_is_transient(rc) || rc == -ENOENT) {
		cf_dbg("node ino %lld: upload failed: %s, retrying",
		       (long long)u->ino, strerror(-rc));
		if (rc == -ENOSPC)
			server_full_set(up, true);
		fc_state_upload_failed(
			up->d.state, u, rc,
			now_ns() +
				fc_remote_retry_ns(up->d.remote, u->attempts));
	} else {
		cf_err("node ino %lld: upload failed: %s (retrying in %d s)",
		       (long long)u->ino, strerror(-rc), HARD_RETRY_S);
		message_set(up, "upload of inode %lld failed: %s",
			    (long long)u->ino, strerror(-rc));
		fc_state_upload_failed(up->d.state, u, rc,
				       now_ns() + (int64_t)HARD_RETRY_S *
							  1000000000);
	}
done:
	progress_set(up, NULL, 0, 0);
	free(cres.missing);
	blk_manifest_release(&m);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->u = NULL;
}

static int worker_init(struct fc_uploader *up, struct worker *w)
{
	struct blk_codec_opts o = BLK_CODEC_OPTS_DEFAULT;
	int rc;

	memset(w, 0, sizeof(*w));
	w->up = up;
	w->fd = -1;
	o.codec = (enum blk_codec_id)up->d.codec;
	o.max_chunk_size = up->d.chunk.max_size;
	rc = blk_codec_new(up->d.keys, &o, &w->codec);
	if (rc < 0)
		return rc;
	/* an account's chunks may be larger than a batch: one always fits */
	w->arena_cap = CF_MAX((size_t)FC_UPLOAD_BATCH_BYTES,
			      BLK_BLOB_SIZE_MAX(up->d.chunk.max_size));
	w->batch_cap = FC_UPLOAD_BATCH_BYTES / up->d.chunk.min_size + 1;
	w->arena = malloc(w->arena_cap);
	w->batch = calloc(w->batch_cap, sizeof(*w->batch));
	w->puts = calloc(w->batch_cap, sizeof(*w->puts));
	w->ids = calloc(w->batch_cap, sizeof(*w->ids));
	w->missing = calloc(w->batch_cap, sizeof(*w->missing));
	if (!w->arena || !w->batch || !w->puts || !w->ids || !w->missing)
		return -ENOMEM;
	return 0;
}

static void worker_release(struct worker *w)
{
	blk_codec_free(w->codec);
	free(w->arena);
	free(w->batch);
	free(w->puts);
	free(w->ids);
	free(w->missing);
	free(w->news);
	memset(w, 0, sizeof(*w));
}

static void *worker_main(void *arg)
{
	struct fc_uploader *up = arg;
	struct worker w;
	int rc;

	/*
	 * Chunking, compressing and encrypting are background work: let the
	 * FUSE workers serving the user's reads and writes have the CPUs
	 * first.
	 */
	cf_thread_name("cloudfs-upload");
	cf_thread_background();
	rc = worker_init(up, &w);
	if (rc < 0) {
		cf_err("uploader thread cannot start: %s", strerror(-rc));
		worker_release(&w);
		return NULL;
	}
	for (;;) {
		struct fc_upload u;
		int64_t next = INT64_MAX, t = now_ns();
		uint64_t wakes;
		struct timespec ts;

		pthread_mutex_lock(&up->lock);
		wakes = up->wakes;
		pthread_mutex_unlock(&up->lock);
		if (stopping(up))
			break;
		if (fc_remote_backoff_ms(up->d.remote) == 0) {
			rc = fc_state_upload_claim(up->d.state, t, &u, &next);
			if (rc == 0) {
				upload_one(&w, &u);
				continue;
			}
			if (rc != -ENOENT) {
				cf_err("upload queue: %s", strerror(-rc));
				next = t + (int64_t)5 * 1000000000;
			}
		} else {
			next = t + (int64_t)fc_remote_backoff_ms(up->d.remote) *
					   1000000;
		}
		if (next > t + (int64_t)IDLE_WAIT_S * 1000000000)
			next = t + (int64_t)IDLE_WAIT_S * 1000000000;
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		pthread_mutex_lock(&up->lock);
		while (!up->stop && up->wakes == wakes &&
		       pthread_cond_timedwait(&up->cond, &up->lock, &ts) == 0)
			;
		pthread_mutex_unlock(&up->lock);
	}
	worker_release(&w);
	return NULL;
}

int fc_upload_new(const struct fc_upload_deps *deps, struct fc_uploader **out)
{
	struct fc_uploader *up;
	pthread_condattr_t ca;

	*out = NULL;
	if (!deps->state || !deps->cache || !deps->remote || !deps->keys ||
	    blk_chunker_params_check(&deps->chunk) < 0)
		return -EINVAL;
	up = calloc(1, sizeof(*up));
	if (!up)
		return -ENOMEM;
	up->d = *deps;
	if (!up->d.threads)
		up->d.threads = FC_UPLOAD_THREADS;
	if (!up->d.parallel)
		up->d.parallel = 4;
	up->threads = calloc(up->d.threads, sizeof(*up->threads));
	if (!up->threads) {
		free(up);
		return -ENOMEM;
	}
	pthread_mutex_init(&up->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_REALTIME);
	pthread_cond_init(&up->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&up->stopping, false);
	*out = up;
	return 0;
}

int fc_upload_start(struct fc_uploader *up)
{
	int rc;

	while (up->started < up->d.threads) {
		rc = pthread_create(&up->threads[up->started], NULL,
				    worker_main, up);
		if (rc)
			return -rc;
		up->started++;
	}
	return 0;
}

void fc_upload_wake(struct fc_uploader *up)
{
	if (!up)
		return;
	pthread_mutex_lock(&up->lock);
	up->wakes++;
	pthread_cond_broadcast(&up->cond);
	pthread_mutex_unlock(&up->lock);
}

void fc_upload_progress(struct fc_uploader *up, struct fc_upload_progress *out)
{
	pthread_mutex_lock(&up->lock);
	*out = up->prog;
	pthread_mutex_unlock(&up->lock);
}

void fc_upload_stop(struct fc_uploader *up)
{
	unsigned i;

	if (!up)
		return;
	pthread_mutex_lock(&up->lock);
	up->stop = true;
	atomic_store(&up->stopping, true);
	pthread_cond_broadcast(&up->cond);
	pthread_mutex_unlock(&up->lock);
	for (i = 0; i < up->started; i++)
		pthread_join(up->threads[i], NULL);
	up->started = 0;
}

void fc_upload_free(struct fc_uploader *up)
{
	if (!up)
		return;
	fc_upload_stop(up);
	pthread_cond_destroy(&up->cond);
	pthread_mutex_destroy(&up->lock);
	free(up->threads);
	free(up);
}
