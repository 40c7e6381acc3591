/* SPDX-License-Identifier: MIT */
/*
 * Block routes: which of these ids are missing, PUT (verified with
 * blk_blob_check, stored durably, then indexed: invariant 1), GET and HEAD.
 * Blocks are namespaced per account in both the store and the index, so
 * another account's block is simply not found.
 *
 * A PUT can race garbage collection (which runs in another process): GC
 * may forget an old index row and be about to remove the file just as a
 * client re-uploads the same block and the store finds the file present.
 * So after indexing, the PUT checks the file is still there and stores it
 * again if not; GC, for its part, takes a file out of sight before it asks
 * the index a last time (srv_blocks remove_unless). Between the two, an
 * acknowledged block always ends up both indexed and stored.
 *
 * A large PUT is checked on a thread of its own while the store writes it
 * to a temp file: the SHA-256 (0.7 ms a MiB here) then overlaps the disk's
 * fsyncs instead of adding to them (srvbench, 4 clients, 5 interleaved
 * runs: 450 against 416 MiB/s). The store's gate waits for the verdict
 * before the block takes its name, so a blob that fails is never stored
 * nor indexed.
 */
#include "srv_api_int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define CF_LOG_SUBSYS "api"
#include "blk/codec.h"
#include "cf_log.h"
#include "srv_blocks.h"
#include "srv_metrics.h"

/* How many times a PUT re-stores a block GC took away under it. */
#define PUT_GC_RETRIES 3

/* Below this, a thread costs more than the hash it would take aside. */
#define CHECK_ASIDE_MIN (128 * 1024)

/* blk_blob_check of a PUT's body, on a thread of its own when worth it. */
struct blob_check {
	const uint8_t *blob; /* borrowed: the request body */
	size_t size;
	struct blk_id id;
	uint32_t chunk_max;
	pthread_t thread;
	bool running; /* started on thread, not joined yet */
	int rc; /* blk_blob_check's, once done */
};

static void *check_run(void *arg)
{
	struct blob_check *k = arg;

	k->rc = blk_blob_check(k->blob, k->size, &k->id, k->chunk_max);
	return NULL;
}

/* Start the check aside, or run it here when small or no thread is had. */
static void check_start(struct blob_check *k)
{
	if (k->size >= CHECK_ASIDE_MIN)
		k->running =
			pthread_create(&k->thread, NULL, check_run, k) == 0;
	if (!k->running)
		check_run(k);
}

/* The verdict, waiting for it: the store's gate, and every way out. */
static int check_wait(void *arg)
{
	struct blob_check *k = arg;

	if (k->running) {
		pthread_join(k->thread, NULL);
		k->running = false;
	}
	return k->rc < 0 ? -EBADMSG : 0;
}

/* The answer to a body that failed the check (k->rc < 0). */
static int check_fail(struct api_call *c, const struct blob_check *k)
{
	if (k->rc == BLK_ERR_ID)
		return api_fail_code(c, -EBADMSG, 400, "bad_block", NULL,
				     "the body's SHA-256 is not the block id");
	if (k->rc == -ENOMEM || k->rc == -EIO)
		return k->rc;
	return api_fail_code(c, -EBADMSG, 400, "bad_block", NULL,
			     "the block does not verify: %s",
			     blk_strerror(k->rc));
}

int api_blocks_missing(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	struct blk_id *ids = NULL;
	bool *missing = NULL;
	json_t *arr, *v, *out = NULL, *j = NULL;
	size_t i, count;
	int rc;

	arr = json_object_get(c->body, "ids");
	if (!arr)
		return api_fail(c, -EINVAL, "field 'ids' is missing");
	if (!json_is_array(arr))
		return api_fail(c, -EINVAL, "field 'ids' must be an array");
	count = json_array_size(arr);
	if (count > API_MISSING_IDS_MAX)
		return api_fail(c, -E2BIG, "field 'ids' holds more than %d ids",
				API_MISSING_IDS_MAX);
	ids = calloc(count ? count : 1, sizeof(*ids));
	missing = calloc(count ? count : 1, sizeof(*missing));
	out = json_array();
	if (!ids || !missing || !out) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) ||
		    blk_id_from_hex(json_string_value(v), json_string_length(v),
				    &ids[i]) < 0) {
			rc = api_fail(c, -EINVAL,
				      "field 'ids' must hold block ids of 64 "
				      "hex digits (item %zu is not one)",
				      i);
			goto out;
		}
	}
	rc = m->ops->blocks_missing(m, c->who.user_id, ids, count,
				    c->now_ns / 1000000000, missing);
	if (rc < 0)
		goto out;
	for (i = 0; i < count; i++) {
		char hex[BLK_ID_HEX_SIZE];

		if (!missing[i])
			continue;
		blk_id_to_hex(&ids[i], hex);
		if (json_array_append_new(out, json_string(hex)) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	j = json_object();
	if (!j) {
		rc = -ENOMEM;
		goto out;
	}
	rc = api_set(j, "missing", out);
	out = NULL;
	if (rc < 0)
		goto out;
	rc = api_reply(c, 200, j);
	j = NULL;
out:
	json_decref(out);
	json_decref(j);
	free(ids);
	free(missing);
	return rc;
}

/* Refuse a new block that would take the account past its quota. */
static int check_quota(struct api_call *c, const struct srv_user *u,
		       const struct blk_id *id, uint64_t size)
{
	struct srv_meta *m = c->api->deps.meta;
	struct srv_usage usage;
	uint64_t have;
	int rc;

	if (!u->quota)
		return 0;
	rc = m->ops->block_has(m, u->id, id, &have);
	if (rc == 0)
		return 0; /* stored already: costs nothing */
	if (rc != -ENOENT)
		return rc;
	rc = m->ops->usage(m, u->id, &usage);
	if (rc < 0)
		return rc;
	if (usage.bytes + size > u->quota)
		return api_fail(c, -EDQUOT,
				"the block would take the account past its "
				"quota of %llu bytes",
				(unsigned long long)u->quota);
	return 0;
}

/* Store and index the block; its check runs meanwhile, gating the store. */
static int put_checked(struct api_call *c, const struct srv_user *u,
		       struct blob_check *k, bool *is_new)
{
	struct srv_meta *m = c->api->deps.meta;
	struct srv_blocks *bs = c->api->deps.blocks;
	struct cf_durable_gate gate = { .fn = check_wait, .arg = k };
	uint64_t have;
	bool again;
	int rc, tries;

	check_start(k);
	rc = check_quota(c, u, &k->id, k->size);
	for (tries = 0; rc == 0; tries++) {
		rc = srv_blocks_put_gated(bs, u->id, &k->id, k->blob, k->size,
					  &gate);
		if (rc < 0)
			break;
		/* Durable now: only then may the index name it. */
		rc = m->ops->block_add(m, u->id, &k->id, k->size,
				       c->now_ns / 1000000000,
				       tries ? &again : is_new);
		if (rc < 0)
			break;
		rc = srv_blocks_stat(bs, u->id, &k->id, &have);
		if (rc != -ENOENT || tries == PUT_GC_RETRIES)
			break;
		cf_info("block of user %lld was collected during its upload; "
			"storing it again",
			(long long)u->id);
	}
	/* a bad body is the answer, whatever else went wrong meanwhile */
	return check_wait(k) < 0 ? check_fail(c, k) : rc;
}

int api_block_put(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	struct blob_check k = { .blob = c->req->body,
				.size = c->req->body_size };
	const struct blk_id *id = &k.id;
	struct srv_user u;
	bool is_new = false;
	json_t *j;
	int rc;

	rc = api_arg_block_id(c, 0, &k.id);
	if (rc < 0)
		return rc;
	rc = m->ops->user_get(m, c->who.user_id, &u);
	if (rc < 0)
		return rc;
	if (k.size > BLK_BLOB_SIZE_MAX(u.chunk_max))
		return api_fail(c, -EMSGSIZE,
				"a block of this account is at most %zu bytes",
				BLK_BLOB_SIZE_MAX(u.chunk_max));
	k.chunk_max = u.chunk_max;
	rc = put_checked(c, &u, &k, &is_new);
	if (rc < 0)
		return rc;
	if (is_new && c->api->deps.metrics)
		srv_metrics_block_stored(c->api->deps.metrics, k.size);
	j = json_object();
	if (!j ||
	    api_set(j, "id", api_json_hex(id->bytes, sizeof(id->bytes))) < 0 ||
	    api_set(j, "size", api_json_u64(k.size)) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return api_reply(c, is_new ? 201 : 200, j);
}

/* The block named by the path, if this account has it indexed. */
static int indexed_block(struct api_call *c, struct blk_id *id, uint64_t *size)
{
	struct srv_meta *m = c->api->deps.meta;
	int rc;

	rc = api_arg_block_id(c, 0, id);
	if (rc < 0)
		return rc;
	rc = m->ops->block_has(m, c->who.user_id, id, size);
	if (rc == -ENOENT)
		return api_fail(c, rc, "no such block");
	return rc;
}

int api_block_get(struct api_call *c)
{
	struct srv_blocks *bs = c->api->deps.blocks;
	struct blk_id id;
	struct cf_buf b;
	uint64_t size;
	size_t len = 0;
	int rc;

	rc = indexed_block(c, &id, &size);
	if (rc < 0)
		return rc;
	cf_buf_init(&b, SRV_RESPONSE_HEADROOM +
				BLK_BLOB_SIZE_MAX(BLK_CHUNK_MAX_LIMIT));
	rc = cf_buf_grow(&b, SRV_RESPONSE_HEADROOM + size);
	if (rc < 0)
		goto out;
	b.len = SRV_RESPONSE_HEADROOM; /* the block goes behind it */
	rc = srv_blocks_get(bs, c->who.user_id, &id, &b);
	if (rc == -ENOENT) {
		cf_err("block indexed but not stored (user %lld): run fsck",
		       (long long)c->who.user_id);
		rc = api_fail(c, -EIO, "the block is indexed but not stored");
		goto out;
	}
	if (rc < 0)
		goto out;
	c->resp->body = (uint8_t *)cf_buf_detach(&b, &len);
	if (!c->resp->body) {
		rc = -ENOMEM;
		goto out;
	}
	c->resp->body_offset = SRV_RESPONSE_HEADROOM;
	c->resp->body_size = len - SRV_RESPONSE_HEADROOM;
	c->resp->content_type = "application/octet-stream";
	c->resp->status = 200;
out:
	cf_buf_release(&b);
	return rc;
}

int api_block_head(struct api_call *c)
{
	struct srv_blocks *bs = c->api->deps.blocks;
	struct blk_id id;
	uint64_t size, stored;
	int rc;

	rc = indexed_block(c, &id, &size);
	if (rc < 0)
		return rc;
	rc = srv_blocks_stat(bs, c->who.user_id, &id, &stored);
	if (rc == -ENOENT)
		return api_fail(c, -EIO, "the block is indexed but not stored");
	if (rc < 0)
		return rc;
	c->resp->content_length = stored;
	c->resp->content_type = "application/octet-stream";
	return api_reply_empty(c, 200);
}
