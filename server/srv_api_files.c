/* SPDX-License-Identifier: MIT */
/*
 * File content routes: the pending mark, commit of a new version (manifest
 * parsed, size checked against it and the server limit, referenced blocks
 * collected for the store to check), the version list, one version's
 * manifest, and restore. The server never sees content: manifests are
 * parsed only to learn which blocks a version references; their tags are
 * stored unread for the client to check.
 */
#include "srv_api_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blk/codec.h"
#include "blk/manifest.h"
#include "srv_config.h"
#include "srv_metrics.h"
#include "srv_notify.h"

int api_pending(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t id[SRV_NODE_ID_SIZE];
	uint64_t seq = 0;
	int rc;

	rc = api_arg_node_id(c, 0, id);
	if (rc < 0)
		return rc;
	rc = m->ops->mark_pending(m, c->who.user_id, id, c->who.device_id,
				  &seq);
	if (rc == -ENOENT)
		return api_fail(c, rc, "no such file");
	if (rc == -EISDIR || rc == -EINVAL)
		return api_fail(c, rc, "only files can be pending");
	if (rc < 0)
		return rc;
	if (c->api->deps.notify)
		srv_notify_pending(c->api->deps.notify, c->who.user_id, id,
				   c->who.device_id);
	api_notify_changed(c, seq);
	return api_reply_cursor(c, seq);
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct blk_id));
}

/* The distinct block ids of m into *out (caller frees), sorted. */
static int distinct_ids(const struct blk_manifest *m, struct blk_id **out,
			size_t *out_count)
{
	struct blk_id *ids;
	size_t i, n = 0;

	*out = NULL;
	*out_count = 0;
	if (!m->count)
		return 0;
	ids = malloc(m->count * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (i = 0; i < m->count; i++)
		ids[i] = m->entries[i].id;
	qsort(ids, m->count, sizeof(*ids), id_cmp);
	for (i = 0; i < m->count; i++) {
		if (n && memcmp(&ids[n - 1], &ids[i], sizeof(*ids)) == 0)
			continue;
		ids[n++] = ids[i];
	}
	*out = ids;
	*out_count = n;
	return 0;
}

/* The ids as a JSON array of hex strings, or NULL without memory. */
static json_t *missing_json(const struct blk_id *missing, size_t count)
{
	char hex[BLK_ID_HEX_SIZE];
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < count; i++) {
		blk_id_to_hex(&missing[i], hex);
		if (json_array_append_new(arr, json_string(hex)) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

static int fail_missing(struct api_call *c, const struct blk_id *missing,
			size_t count)
{
	json_t *extra = json_object();

	if (!extra ||
	    api_set(extra, "missing", missing_json(missing, count)) < 0) {
		json_decref(extra);
		return -ENOMEM;
	}
	return api_fail_code(c, -ENOENT, 409, "missing_blocks", extra,
			     "%zu referenced block(s) are not stored", count);
}

static int fail_stale(struct api_call *c, uint64_t current)
{
	json_t *extra = json_object();

	if (!extra ||
	    api_set(extra, "current_version", api_json_u64(current)) < 0) {
		json_decref(extra);
		return -ENOMEM;
	}
	return api_fail_code(c, -ESTALE, 409, "stale_version", extra,
			     "the base version is not current: it is %llu",
			     (unsigned long long)current);
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One commit as the API parsed it; ->cm points into the rest. */
struct commit_item {
	uint8_t id[SRV_NODE_ID_SIZE];
	uint8_t tag[BLK_MANIFEST_TAG_SIZE];
	struct srv_commit cm;
	struct blk_manifest man;
	struct blk_id *ids;
	uint8_t *mf;
};

static void commit_item_release(struct commit_item *it)
{
	blk_manifest_release(&it->man);
	free(it->ids);
	free(it->mf);
}

/*
 * The fields of a commit of node it->id from c->body: checked against
 * the server's limits and the manifest they carry. 0, or the answer
 * (400, 413) already set. Release it either way.
 */
static int commit_parse(struct api_call *c, struct commit_item *it)
{
	const struct srv_config *cfg = c->api->deps.config;
	struct srv_commit *cm = &it->cm;
	size_t mf_size = 0, id_count = 0;
	int rc;

	blk_manifest_init(&it->man);
	rc = api_get_u64(c, "base_version", true, INT64_MAX, &cm->base_version);
	if (rc == 0)
		rc = api_get_u64(c, "size", true, INT64_MAX, &cm->size);
	if (rc == 0)
		rc = api_get_i64(c, "mtime", true, &cm->mtime_ns);
	if (rc == 0)
		rc = api_get_hex(c, "tag", true, it->tag, sizeof(it->tag));
	if (rc != 0)
		return rc;
	if (cm->size > cfg->max_file_size)
		return api_fail(c, -EFBIG,
				"the file is larger than this server's limit "
				"of %llu bytes",
				(unsigned long long)cfg->max_file_size);
	rc = api_get_base64(c, "manifest", BLK_MANIFEST_SIZE_MAX, &it->mf,
			    &mf_size);
	if (rc != 0)
		return rc;
	rc = blk_manifest_parse(it->mf, mf_size, &it->man);
	if (rc == -E2BIG)
		return api_fail(c, -EFBIG, "the manifest has too many entries");
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return api_fail_code(c, -EINVAL, 400, "bad_manifest", NULL,
				     "the manifest does not parse: %s",
				     blk_strerror(rc));
	if (it->man.file_size != cm->size)
		return api_fail_code(c, -EINVAL, 400, "bad_manifest", NULL,
				     "the manifest describes %llu bytes but "
				     "field 'size' says %llu",
				     (unsigned long long)it->man.file_size,
				     (unsigned long long)cm->size);
	rc = distinct_ids(&it->man, &it->ids, &id_count);
	if (rc < 0)
		return rc;
	cm->node = it->id;
	cm->device_id = c->who.device_id;
	cm->manifest = it->mf;
	cm->manifest_size = mf_size;
	cm->tag = it->tag;
	cm->blocks = it->ids;
	cm->block_count = id_count;
	return 0;
}

int api_commit(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	struct blk_id *missing = NULL;
	size_t missing_count = 0;
	uint64_t version = 0, seq = 0;
	double t0 = mono_seconds();
	struct commit_item it;
	json_t *j;
	int rc;

	memset(&it, 0, sizeof(it));
	rc = api_arg_node_id(c, 0, it.id);
	if (rc == 0)
		rc = commit_parse(c, &it);
	if (rc != 0)
		goto out;
	rc = m->ops->commit(m, c->who.user_id, &it.cm, &version, &seq, &missing,
			    &missing_count);
	if (rc == -ESTALE) {
		rc = fail_stale(c, version);
		goto out;
	}
	if (rc == -ENOENT && missing_count) {
		rc = fail_missing(c, missing, missing_count);
		goto out;
	}
	if (rc == -ENOENT) {
		rc = api_fail(c, rc, "no such file");
		goto out;
	}
	if (rc == -EISDIR || rc == -EINVAL) {
		rc = api_fail(c, rc, "only files have versions");
		goto out;
	}
	if (rc < 0)
		goto out;
	if (c->api->deps.metrics)
		srv_metrics_commit_latency(c->api->deps.metrics,
					   mono_seconds() - t0);
	api_notify_changed(c, seq);
	j = json_object();
	if (!j || api_set(j, "version", api_json_u64(version)) < 0 ||
	    api_set(j, "cursor", api_json_u64(seq)) < 0) {
		json_decref(j);
		rc = -ENOMEM;
		goto out;
	}
	rc = api_reply(c, 200, j);
out:
	commit_item_release(&it);
	free(missing);
	return rc;
}

/* One item's answer in a batch: what the single commit would have said. */
static json_t *commit_result_json(const struct srv_commit_result *r)
{
	json_t *j = json_object();
	int rc;

	if (!j)
		return NULL;
	if (r->rc == 0) {
		rc = api_set(j, "version", api_json_u64(r->version));
	} else if (r->rc == -ESTALE) {
		rc = api_set(j, "error", json_string("stale_version"));
		if (rc == 0)
			rc = api_set(j, "current_version",
				     api_json_u64(r->version));
	} else if (r->rc == -ENOENT && r->missing_count) {
		rc = api_set(j, "error", json_string("missing_blocks"));
		if (rc == 0)
			rc = api_set(
				j, "missing",
				missing_json(r->missing, r->missing_count));
	} else {
		rc = api_set(j, "error", json_string(srv_errno_to_code(r->rc)));
	}
	if (rc < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int api_commit_batch(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	json_t *body = c->body, *list = json_object_get(body, "commits");
	struct srv_commit_result *res = NULL;
	struct commit_item *items = NULL;
	struct srv_commit *cs = NULL;
	size_t count = json_array_size(list), i, parsed = 0;
	uint64_t seq = 0;
	double t0 = mono_seconds();
	json_t *j = NULL, *arr;
	int rc = 0;

	if (!json_is_array(list) || !count || count > API_COMMIT_BATCH_MAX)
		return api_fail(c, -EINVAL,
				"field 'commits' must be an array of 1 to %d "
				"commits",
				API_COMMIT_BATCH_MAX);
	items = calloc(count, sizeof(*items));
	cs = calloc(count, sizeof(*cs));
	res = calloc(count, sizeof(*res));
	if (!items || !cs || !res) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count && rc == 0; i++, parsed++) {
		c->body = json_array_get(list, i);
		if (!json_is_object(c->body))
			rc = api_fail(c, -EINVAL,
				      "item %zu of 'commits' is not an object",
				      i);
		else
			rc = api_get_node_id(c, "node", true, items[i].id);
		if (rc == 0)
			rc = commit_parse(c, &items[i]);
		if (rc != 0 && json_is_object(c->body))
			api_fail_item(c, i);
		cs[i] = items[i].cm;
	}
	c->body = body;
	if (rc != 0)
		goto out;
	rc = m->ops->commit_batch(m, c->who.user_id, cs, count, res);
	if (rc < 0)
		goto out; /* nothing committed: a retry is safe */
	/* committed: counted and told even if the answer cannot be made */
	for (i = 0; i < count; i++) {
		if (res[i].rc != 0)
			continue;
		seq = CF_MAX(seq, res[i].seq);
		if (c->api->deps.metrics)
			srv_metrics_commit_latency(c->api->deps.metrics,
						   mono_seconds() - t0);
	}
	if (seq)
		api_notify_changed(c, seq);
	j = json_object();
	arr = j ? json_array() : NULL; /* api_set takes it, even on failure */
	if (!arr || api_set(j, "results", arr) < 0 ||
	    api_set(j, "cursor", api_json_u64(seq)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (json_array_append_new(arr, commit_result_json(&res[i])) <
		    0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = api_reply(c, 200, j);
	j = NULL;
out:
	json_decref(j);
	for (i = 0; i < parsed; i++)
		commit_item_release(&items[i]);
	for (i = 0; res && i < count; i++)
		free(res[i].missing);
	free(items);
	free(cs);
	free(res);
	return rc;
}

static int version_cb(void *arg, const struct srv_version *v)
{
	json_t *arr = arg, *j = json_object();

	if (!j || api_set(j, "version", api_json_u64(v->version)) < 0 ||
	    api_set(j, "size", api_json_u64(v->size)) < 0 ||
	    api_set(j, "mtime", json_integer(v->mtime_ns)) < 0 ||
	    api_set(j, "device", json_integer(v->device_id)) < 0 ||
	    api_set(j, "created", json_integer(api_sec_to_ns(v->created))) <
		    0 ||
	    json_array_append_new(arr, j) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return 0;
}

int api_versions(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t id[SRV_NODE_ID_SIZE];
	json_t *arr, *j;
	int rc;

	rc = api_arg_node_id(c, 0, id);
	if (rc < 0)
		return rc;
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	rc = m->ops->versions(m, c->who.user_id, id, version_cb, arr);
	if (rc < 0) {
		json_decref(arr);
		if (rc == -ENOENT)
			return api_fail(c, rc, "no such node");
		return rc;
	}
	j = json_object();
	if (!j || api_set(j, "versions", arr) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return api_reply(c, 200, j);
}

/* Capture 1 as a version: "current" is 0 (srv_meta's "current"), else N. */
static int version_arg(struct api_call *c, uint64_t *out)
{
	const char *s = c->arg[1];
	size_t len = c->arg_len[1], i;
	uint64_t v = 0;

	if (len == 7 && memcmp(s, "current", 7) == 0) {
		*out = 0;
		return 0;
	}
	if (len == 0 || len > 18)
		goto bad;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v == 0)
		goto bad;
	*out = v;
	return 0;
bad:
	return api_fail(c, -EINVAL,
			"a version is \"current\" or a positive integer");
}

int api_version_get(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t id[SRV_NODE_ID_SIZE];
	struct srv_version v;
	uint64_t version = 0;
	json_t *j;
	int rc;

	memset(&v, 0, sizeof(v));
	rc = api_arg_node_id(c, 0, id);
	if (rc == 0)
		rc = version_arg(c, &version);
	if (rc < 0)
		return rc;
	rc = m->ops->version_get(m, c->who.user_id, id, version, &v);
	if (rc == -ENOENT)
		return api_fail(c, rc, "no such node or version");
	if (rc < 0)
		return rc;
	j = json_object();
	if (!j || api_set(j, "version", api_json_u64(v.version)) < 0 ||
	    api_set(j, "size", api_json_u64(v.size)) < 0 ||
	    api_set(j, "mtime", json_integer(v.mtime_ns)) < 0 ||
	    api_set(j, "device", json_integer(v.device_id)) < 0 ||
	    api_set(j, "created", json_integer(api_sec_to_ns(v.created))) < 0 ||
	    api_set(j, "manifest",
		    api_json_base64(v.manifest, v.manifest_size)) < 0 ||
	    api_set(j, "tag", api_json_hex(v.tag, sizeof(v.tag))) < 0) {
		json_decref(j);
		rc = -ENOMEM;
	} else {
		rc = api_reply(c, 200, j);
	}
	free(v.manifest);
	return rc;
}

int api_restore(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t id[SRV_NODE_ID_SIZE];
	uint64_t version = 0, new_version = 0, seq = 0;
	json_t *j;
	int rc;

	rc = api_arg_node_id(c, 0, id);
	if (rc == 0)
		rc = api_get_u64(c, "version", true, INT64_MAX, &version);
	if (rc != 0)
		return rc;
	if (version == 0)
		return api_fail(c, -EINVAL,
				"field 'version' must be a positive integer");
	rc = m->ops->version_restore(m, c->who.user_id, id, version,
				     c->who.device_id, &new_version, &seq);
	if (rc == -ENOENT)
		return api_fail(c, rc, "no such file or version");
	if (rc == -EISDIR || rc == -EINVAL)
		return api_fail(c, rc, "only files have versions");
	if (rc < 0)
		return rc;
	api_notify_changed(c, seq);
	j = json_object();
	if (!j || api_set(j, "version", api_json_u64(new_version)) < 0 ||
	    api_set(j, "cursor", api_json_u64(seq)) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return api_reply(c, 200, j);
}
