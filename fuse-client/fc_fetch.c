/* SPDX-License-Identifier: MIT */
/*
 * Block and manifest download (see fc_fetch.h). Per-thread contexts hang
 * off a pthread key owned by the fetcher and are also kept on a list, so
 * the fetcher can free those of threads that are still alive.
 *
 * Lock order: f->lock is a leaf (the context list only).
 */
#include "fc_fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "fetch"
#include "blk/codec.h"
#include "cf_log.h"
#include "cf_util.h"

/* Longest a block fetch waits out server back-pressure (429/503). */
#define FETCH_BACKOFF_MAX_MS 20000L

struct ctx {
	struct fc_fetcher *f;
	struct blk_codec *codec; /* owned */
	struct cf_buf blob; /* owned receive buffer */
	struct ctx *next; /* protected by f->lock */
	struct ctx **pprev; /* protected by f->lock */
};

struct fc_fetcher {
	struct fc_remote *remote; /* borrowed */
	struct blk_volume_keys keys; /* copy, wiped on free */
	uint32_t max_chunk;
	pthread_key_t key;
	pthread_mutex_t lock;
	struct ctx *all; /* protected by ->lock */
	atomic_ullong blocks, bytes;
};

static void ctx_free(struct ctx *c)
{
	blk_codec_free(c->codec);
	cf_buf_release(&c->blob);
	free(c);
}

/* Thread exit: unlink and free this thread's context. */
static void ctx_destroy(void *arg)
{
	struct ctx *c = arg;
	struct fc_fetcher *f = c->f;

	pthread_mutex_lock(&f->lock);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	pthread_mutex_unlock(&f->lock);
	ctx_free(c);
}

static int ctx_get(struct fc_fetcher *f, struct ctx **out)
{
	struct blk_codec_opts o = BLK_CODEC_OPTS_DEFAULT;
	struct ctx *c = pthread_getspecific(f->key);
	int rc;

	if (c) {
		*out = c;
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->f = f;
	cf_buf_init(&c->blob, BLK_BLOB_SIZE_MAX(f->max_chunk));
	o.max_chunk_size = f->max_chunk;
	rc = blk_codec_new(&f->keys, &o, &c->codec);
	if (rc < 0) {
		ctx_free(c);
		return rc;
	}
	rc = -pthread_setspecific(f->key, c);
	if (rc < 0) {
		ctx_free(c);
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	c->next = f->all;
	if (f->all)
		f->all->pprev = &c->next;
	c->pprev = &f->all;
	f->all = c;
	pthread_mutex_unlock(&f->lock);
	*out = c;
	return 0;
}

int fc_fetch_new(const struct fc_fetch_opts *o, struct fc_fetcher **out)
{
	struct fc_fetcher *f;
	int rc;

	*out = NULL;
	if (!o->remote || !o->keys || !o->max_chunk ||
	    o->max_chunk > BLK_CHUNK_MAX_LIMIT)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = pthread_key_create(&f->key, ctx_destroy);
	if (rc) {
		free(f);
		return -rc;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->remote = o->remote;
	f->keys = *o->keys;
	f->max_chunk = o->max_chunk;
	atomic_init(&f->blocks, 0);
	atomic_init(&f->bytes, 0);
	*out = f;
	return 0;
}

void fc_fetch_free(struct fc_fetcher *f)
{
	struct ctx *c, *next;

	if (!f)
		return;
	/* after this no destructor runs: free what is left ourselves */
	pthread_key_delete(f->key);
	for (c = f->all; c; c = next) {
		next = c->next;
		ctx_free(c);
	}
	pthread_mutex_destroy(&f->lock);
	blk_keys_wipe(&f->keys, sizeof(f->keys));
	free(f);
}

int fc_fetch_block(void *arg, const struct blk_id *id, uint32_t size,
		   uint8_t *out)
{
	struct fc_fetcher *f = arg;
	char hex[BLK_ID_HEX_SIZE];
	const uint8_t *plain;
	size_t plain_size;
	struct ctx *c;
	long waited_ms;
	int rc, tries;

	if (size > f->max_chunk)
		return -EBADMSG;
	rc = ctx_get(f, &c);
	if (rc < 0)
		return rc;
	/*
	 * One retry when a kept-alive connection was closed. A 429/503 is
	 * waited out (bounded): parallel read-ahead can pass the server's
	 * per-token rate, and a fast reader must be slowed, never failed.
	 */
	for (tries = 0, waited_ms = 0;;) {
		rc = fc_remote_block_get(f->remote, id, &c->blob);
		if (rc == -ENOTCONN && ++tries < 2)
			continue;
		if (rc == -EAGAIN && waited_ms < FETCH_BACKOFF_MAX_MS) {
			long ms = fc_remote_backoff_ms(f->remote);

			ms = CF_MIN(CF_MAX(ms, 10L), 1000L);
			usleep((useconds_t)ms * 1000);
			waited_ms += ms;
			continue;
		}
		break;
	}
	if (rc == -ENOENT || rc == -EPROTO) {
		blk_id_to_hex(id, hex);
		cf_warn("block %.12s: %s", hex,
			rc == -ENOENT ? "not on the server"
				      : "malformed answer");
		return rc == -ENOENT ? -EIO : -EBADMSG;
	}
	if (rc < 0)
		return fc_remote_is_transient(rc) ? rc : -EIO;
	rc = blk_codec_decode(c->codec, c->blob.data, c->blob.len, id, &plain,
			      &plain_size);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0 || plain_size != size) {
		blk_id_to_hex(id, hex);
		cf_dbg("block %.12s: %s", hex,
		       rc < 0 ? blk_strerror(rc) : "unexpected size");
		return -EBADMSG;
	}
	memcpy(out, plain, size);
	atomic_fetch_add(&f->blocks, 1);
	atomic_fetch_add(&f->bytes, c->blob.len);
	cf_buf_reset(&c->blob);
	return 0;
}

int fc_fetch_manifest(void *arg, const uint8_t id[BLK_FILE_ID_SIZE],
		      struct blk_manifest *out, uint64_t *out_version)
{
	struct fc_fetcher *f = arg;
	struct fc_version_data v;
	int rc;

	blk_manifest_init(out);
	*out_version = 0;
	rc = fc_remote_version_get(f->remote, id, 0, &v);
	if (rc < 0)
		return rc == -EPROTO ? -EBADMSG : rc;
	rc = blk_manifest_verify_parse(f->keys.mac, id, v.manifest,
				       v.manifest_size, v.tag, out);
	if (rc == 0 && out->file_size != v.info.size)
		rc = -EBADMSG;
	if (rc < 0) {
		cf_err("manifest of version %llu fails verification: %s",
		       (unsigned long long)v.info.version, blk_strerror(rc));
		blk_manifest_release(out);
		rc = rc == -ENOMEM ? rc : -EBADMSG;
	} else {
		*out_version = v.info.version;
	}
	fc_version_data_release(&v);
	return rc;
}

void fc_fetch_stats(struct fc_fetcher *f, uint64_t *out_blocks,
		    uint64_t *out_bytes)
{
	*out_blocks = atomic_load(&f->blocks);
	*out_bytes = atomic_load(&f->bytes);
}
