/* SPDX-License-Identifier: MIT */
/*
 * The uploader (see fc_upload.h). One upload, start to end, runs on one
 * pool thread with that thread's codec: claim -> pending (files from
 * FC_UPLOAD_ANNOUNCE_BYTES) -> re-chunk the dirty region (fc_rechunk.c,
 * reading through the cache, which fetches chunks it lacks) -> encode ->
 * batches of "which are missing?" (batches over FC_UPLOAD_ASK_BYTES) +
 * parallel PUTs -> manifest -> commit with base_version -> record the new
 * version. Small files due together go as a group: each re-chunked into
 * one shared batch, the batch sent once, their commits in one request. A
 * stale base (another device committed first) keeps both sides
 * (fc_upload_conflict.c).
 *
 * Lock order: up->lock is a leaf (progress numbers, stop flag, wake-ups);
 * it is never held across state, cache or network calls.
 */
#include "fc_upload.h"
#include "fc_upload_int.h"

#include <errno.h>
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
#include "fc_rechunk.h"

#define HARD_RETRY_S   600
#define IDLE_WAIT_S    30

/* ----- the pool ----- */

int64_t fc_upload_now_ns(void)
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

void fc_upload_message(struct fc_uploader *up, const char *fmt, ...)
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

/* The commit of manifest m for w->u: encoded into enc (caller releases). */
static int commit_req(struct worker *w, const struct blk_manifest *m,
		      struct cf_buf *enc, struct fc_commit_req *c)
{
	const struct fc_upload *u = w->u;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = blk_manifest_encode(m, enc);
	if (rc == 0)
		rc = blk_manifest_tag(w->up->d.keys->mac, u->id, enc->data,
				      enc->len, c->tag);
	if (rc < 0)
		return rc;
	c->base_version = u->base_version;
	c->size = u->size;
	c->mtime_ns = u->mtime_ns;
	c->manifest = enc->data;
	c->manifest_size = enc->len;
	return 0;
}

/*
 * Re-chunk w->u's dirty region into the batch and build its manifest *m.
 * New blocks may still wait in the batch: flush it before the commit.
 */
static int upload_prepare(struct worker *w, struct blk_manifest *m)
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
	}
out:
	free(old);
	return rc;
}

/* Re-chunk, upload and commit once. *m gets the manifest sent. */
static int upload_pass(struct worker *w, struct blk_manifest *m,
		       struct fc_commit_res *cres)
{
	struct fc_commit_req c;
	struct cf_buf enc;
	int rc;

	w->batch_count = 0;
	w->arena_used = 0;
	cf_buf_init(&enc, BLK_MANIFEST_SIZE_MAX);
	rc = upload_prepare(w, m);
	if (rc == 0)
		rc = batch_flush(w);
	if (rc == 0)
		rc = commit_req(w, m, &enc, &c);
	if (rc == 0)
		rc = fc_remote_commit(w->up->d.remote, w->u->id, &c, cres);
	cf_buf_release(&enc);
	return rc;
}

/* Let go of what w->u's upload held. */
static void upload_end(struct worker *w, struct fc_commit_res *cres,
		       struct blk_manifest *m)
{
	progress_set(w->up, NULL, 0, 0);
	free(cres->missing);
	memset(cres, 0, sizeof(*cres));
	blk_manifest_release(m);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->u = NULL;
}

/*
 * The end of w->u's upload, whose commit said rc: record the new version;
 * on a stale base keep both sides; else schedule the retry. Always calls
 * upload_done or _failed (directly or through the conflict path).
 */
static void upload_finish(struct worker *w, int rc, struct fc_commit_res *cres,
			  const struct blk_manifest *m)
{
	struct fc_uploader *up = w->up;
	const struct fc_upload *u = w->u;
	bool clean = false;

	if (rc == -ESTALE && fc_upload_server_has(w, m, &cres->version) == 1) {
		cf_info("node ino %lld: the server's version %llu already "
			"holds this content",
			(long long)u->ino, (unsigned long long)cres->version);
		rc = 0;
	} else if (rc == -ESTALE) {
		cf_info("node ino %lld: version %llu is stale (server has "
			"%llu)",
			(long long)u->ino, (unsigned long long)u->base_version,
			(unsigned long long)cres->current_version);
		rc = fc_upload_conflict_copy(w);
		if (rc == 0) {
			rc = fc_upload_conflict_take_server(w);
			if (rc < 0)
				cf_err("node ino %lld: could not take the "
				       "server's version: %s (local content "
				       "is safe in the conflicted copy)",
				       (long long)u->ino, strerror(-rc));
			/* the node was committed or stays queued either way */
			if (rc == 0)
				return;
		}
	}
	if (rc < 0)
		goto failed;
	rc = fc_state_upload_done(up->d.state, u, cres->version, m, &clean);
	if (rc < 0 && rc != -ENOENT)
		cf_err("node ino %lld: committed version %llu but cannot "
		       "record it: %s",
		       (long long)u->ino, (unsigned long long)cres->version,
		       strerror(-rc));
	cf_dbg("node ino %lld: committed version %llu (%llu bytes)%s",
	       (long long)u->ino, (unsigned long long)cres->version,
	       (unsigned long long)u->size, clean ? "" : ", changed since");
	server_full_set(up, false);
	return;
failed:
	if (rc == -ECANCELED) {
		fc_state_upload_failed(up->d.state, u, rc, fc_upload_now_ns());
	} else if (fc_remote_is_transient(rc) || rc == -ENOENT) {
		cf_dbg("node ino %lld: upload failed: %s, retrying",
		       (long long)u->ino, strerror(-rc));
		if (rc == -ENOSPC)
			server_full_set(up, true);
		fc_state_upload_failed(
			up->d.state, u, rc,
			fc_upload_now_ns() +
				fc_remote_retry_ns(up->d.remote, u->attempts));
	} else {
		cf_err("node ino %lld: upload failed: %s (retrying in %d s)",
		       (long long)u->ino, strerror(-rc), HARD_RETRY_S);
		fc_upload_message(up, "upload of inode %lld failed: %s",
				  (long long)u->ino, strerror(-rc));
		fc_state_upload_failed(up->d.state, u, rc,
				       fc_upload_now_ns() +
					       (int64_t)HARD_RETRY_S *
						       1000000000);
	}
}

/* One claimed upload, to the end, on its own. */
static void upload_one(struct worker *w, const struct fc_upload *u)
{
	struct fc_uploader *up = w->up;
	struct fc_commit_res cres = { 0 };
	struct blk_manifest m;
	int rc, pass;

	blk_manifest_init(&m);
	w->u = u;
	w->fd = -1;
	w->check_all = false;
	rc = fc_cache_file_open(up->d.cache, u->id, true, &w->fd);
	if (rc == 0 && u->size >= FC_UPLOAD_ANNOUNCE_BYTES) {
		rc = fc_remote_node_pending(up->d.remote, u->id);
		if (rc == -ENOENT)
			rc = 0;
	}
	for (pass = 0; rc == 0 && pass < 2; pass++) {
		blk_manifest_release(&m);
		free(cres.missing);
		memset(&cres, 0, sizeof(cres));
		rc = upload_pass(w, &m, &cres);
		if (rc != -ENODATA || pass == 1)
			break;
		/* the server lacks a block we reused: check every one */
		cf_warn("node ino %lld: server lacks %zu reused blocks, "
			"re-uploading in full",
			(long long)u->ino, cres.missing_count);
		w->check_all = true;
		rc = 0;
	}
	upload_finish(w, rc, &cres, &m);
	upload_end(w, &cres, &m);
}

/* ----- small files: many commits in one request ----- */

/* Small enough to share a commit request (and to need no pending mark). */
static bool groupable(const struct fc_upload *u)
{
	return u->size < FC_UPLOAD_ANNOUNCE_BYTES;
}

/*
 * Group item i, whose commit said rc, to the end; -ENODATA starts it over
 * alone.
 */
static void group_item_end(struct worker *w, size_t i, int rc)
{
	struct group_item *g = &w->group[i];
	struct fc_commit_res *res = &w->commits[i].res;

	w->u = &g->u;
	w->fd = g->fd;
	g->fd = -1;
	if (rc == -ENODATA) {
		/* the server lacks a reused block: the single path copes */
		upload_end(w, res, &g->m);
		upload_one(w, &g->u);
	} else {
		upload_finish(w, rc, res, &g->m);
		upload_end(w, res, &g->m);
	}
	cf_buf_release(&g->enc);
}

/*
 * The commits of group[0..n) in one request. A request the server or the
 * network could not take leaves every item to its retry; any other
 * failure sends them one by one, as does, from then on, a server without
 * the route.
 */
static void group_commit(struct worker *w, size_t n)
{
	struct fc_uploader *up = w->up;
	struct fc_commit_item *c = w->commits;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		c[i].id = w->group[i].u.id;
		c[i].req = &w->group[i].req;
	}
	rc = atomic_load(&up->single_commits)
		     ? -ENOENT
		     : fc_remote_commit_batch(up->d.remote, c, n);
	if (rc == -ENOENT && !atomic_exchange(&up->single_commits, true))
		cf_info("the server takes commits one at a time");
	for (i = 0; i < n; i++) {
		if (rc < 0 && !fc_remote_is_transient(rc))
			c[i].rc = fc_remote_commit(up->d.remote, c[i].id,
						   c[i].req, &c[i].res);
		else if (rc < 0)
			c[i].rc = rc;
		group_item_end(w, i, c[i].rc);
	}
}

/*
 * Small files group[0..n), claimed: each re-chunked into the shared
 * batch, the batch sent once, the commits in one request. An item that
 * fails on the way ends there; the ones after it go on their own.
 */
static void upload_group(struct worker *w, size_t n)
{
	struct fc_uploader *up = w->up;
	struct group_item *g = w->group;
	size_t i, ready = 0;
	int rc = 0;

	w->batch_count = 0;
	w->arena_used = 0;
	for (i = 0; i < n; i++) {
		g[i].fd = -1;
		blk_manifest_init(&g[i].m);
		cf_buf_init(&g[i].enc, BLK_MANIFEST_SIZE_MAX);
		memset(&w->commits[i], 0, sizeof(w->commits[i]));
	}
	for (i = 0; i < n && rc == 0; i++) {
		w->u = &g[i].u;
		w->fd = -1;
		w->check_all = false;
		rc = fc_cache_file_open(up->d.cache, g[i].u.id, true, &w->fd);
		if (rc == 0)
			rc = upload_prepare(w, &g[i].m);
		if (rc == 0)
			rc = commit_req(w, &g[i].m, &g[i].enc, &g[i].req);
		g[i].fd = w->fd;
		w->fd = -1;
		if (rc < 0)
			group_item_end(w, i, rc);
		else
			ready++;
	}
	rc = ready ? batch_flush(w) : 0;
	if (rc < 0) {
		for (i = 0; i < ready; i++)
			group_item_end(w, i, rc);
	} else if (ready) {
		group_commit(w, ready);
	}
	/* claimed after the item that failed: each on its own */
	for (i = ready + 1; i < n; i++) {
		cf_buf_release(&g[i].enc);
		upload_one(w, &g[i].u);
	}
}

/*
 * u, claimed; when it is small, more small files due now join it (claimed
 * in one transaction), up to a commit request's worth.
 */
static void upload_claimed(struct worker *w, const struct fc_upload *u)
{
	struct fc_uploader *up = w->up;
	struct fc_upload more[FC_UPLOAD_GROUP_MAX - 1];
	size_t n = 0, i;
	int rc;

	if (!groupable(u)) {
		upload_one(w, u);
		return;
	}
	w->group[0].u = *u;
	rc = fc_state_upload_claim_small(up->d.state, fc_upload_now_ns(),
					 FC_UPLOAD_ANNOUNCE_BYTES,
					 FC_UPLOAD_BATCH_BYTES / 2 - u->size,
					 more, CF_ARRAY_SIZE(more), &n);
	if (rc < 0)
		cf_dbg("claiming more small files: %s", strerror(-rc));
	for (i = 0; i < n; i++)
		w->group[i + 1].u = more[i];
	if (n == 0)
		upload_one(w, &w->group[0].u);
	else
		upload_group(w, n + 1);
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
	w->group = calloc(FC_UPLOAD_GROUP_MAX, sizeof(*w->group));
	w->commits = calloc(FC_UPLOAD_GROUP_MAX, sizeof(*w->commits));
	if (!w->arena || !w->batch || !w->puts || !w->ids || !w->missing ||
	    !w->group || !w->commits)
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
	free(w->group);
	free(w->commits);
	free(w->news);
	memset(w, 0, sizeof(*w));
}

static void *worker_main(void *arg)
{
	struct fc_uploader *up = arg;
	struct worker w;
	unsigned slot;
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
	pthread_mutex_lock(&up->lock);
	slot = up->slots++;
	pthread_mutex_unlock(&up->lock);
	for (;;) {
		struct fc_upload u;
		int64_t next = INT64_MAX, t = fc_upload_now_ns();
		uint64_t wakes;
		struct timespec ts;

		if (stopping(up))
			break;
		pthread_mutex_lock(&up->lock);
		wakes = up->wakes;
		up->looking++;
		pthread_mutex_unlock(&up->lock);
		if (fc_remote_backoff_ms(up->d.remote) == 0) {
			rc = fc_state_upload_claim(up->d.state, t, &u, &next);
			if (rc == 0) {
				pthread_mutex_lock(&up->lock);
				up->looking--;
				pthread_mutex_unlock(&up->lock);
				upload_claimed(&w, &u);
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
		up->looking--;
		up->asleep_until[slot] = next;
		while (!up->stop && up->wakes == wakes &&
		       pthread_cond_timedwait(&up->cond, &up->lock, &ts) == 0)
			;
		up->asleep_until[slot] = 0;
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
	up->asleep_until = calloc(up->d.threads, sizeof(*up->asleep_until));
	if (!up->threads || !up->asleep_until) {
		free(up->threads);
		free(up->asleep_until);
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
	fc_upload_wake_at(up, 0);
}

void fc_upload_wake_at(struct fc_uploader *up, int64_t due_ns)
{
	bool on_time = false;
	unsigned i;

	if (!up)
		return;
	pthread_mutex_lock(&up->lock);
	/* A worker that read the queue before the caller's change must not
	 * sleep on what it read. */
	for (i = 0; i < up->slots && !up->looking && !on_time; i++)
		on_time = up->asleep_until[i] && up->asleep_until[i] <= due_ns;
	if (!on_time) {
		up->wakes++;
		pthread_cond_broadcast(&up->cond);
	}
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
	free(up->asleep_until);
	free(up);
}
