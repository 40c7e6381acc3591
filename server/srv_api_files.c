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

static int fail_missing(struct api_call *c, const struct blk_id *missing,
			size_t count)
{
	char hex[BLK_ID_HEX_SIZE];
	json_t *extra, *arr;
	size_t i;

	extra = json_object();
	arr = json_array();
	if (!extra || !arr) {
		json_decref(extra);
		json_decref(arr);
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		blk_id_to_hex(&missing[i], hex);
		if (json_array_append_new(arr, json_string(hex)) < 0) {
			json_decref(extra);
			json_decref(arr);
			return -ENOMEM;
		}
	}
	if (api_set(extra, "missing", arr) < 0) {
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

int api_commit(struct api_call *c)
{
	const struct srv_config *cfg = c->api->deps.config;
	struct srv_meta *m = c->api->deps.meta;
	uint8_t id[SRV_NODE_ID_SIZE], tag[BLK_MANIFEST_TAG_SIZE];
	struct srv_commit cm = { 0 };
	struct blk_manifest man;
	struct blk_id *ids = NULL, *missing = NULL;
	size_t id_count = 0, missing_count = 0, mf_size = 0;
	uint64_t version = 0, seq = 0;
	uint8_t *mf = NULL;
	double t0 = mono_seconds();
	json_t *j;
	int rc;

	blk_manifest_init(&man);
	rc = api_arg_node_id(c, 0, id);
	if (rc == 0)
		rc = api_get_u64(c, "base_version", true, INT64_MAX,
				 &cm.base_version);
	if (rc == 0)
		rc = api_get_u64(c, "size", true, INT64_MAX, &cm.size);
	if (rc == 0)
		rc = api_get_i64(c, "mtime", true, &cm.mtime_ns);
	if (rc == 0)
		rc = api_get_hex(c, "tag", true, tag, sizeof(tag));
	if (rc != 0)
		goto out;
	if (cm.size > cfg->max_file_size) {
		rc = api_fail(c, -EFBIG,
			      "the file is larger than this server's limit "
			      "of %llu bytes",
			      (unsigned long long)cfg->max_file_size);
		goto out;
	}
	rc = api_get_base64(c, "manifest", BLK_MANIFEST_SIZE_MAX, &mf,
			    &mf_size);
	if (rc != 0)
		goto out;
	rc = blk_manifest_parse(mf, mf_size, &man);
	if (rc == -E2BIG) {
		rc = api_fail(c, -EFBIG, "the manifest has too many entries");
		goto out;
	}
	if (rc == -ENOMEM)
		goto out;
	if (rc < 0) {
		rc = api_fail_code(c, -EINVAL, 400, "bad_manifest", NULL,
				   "the manifest does not parse: %s",
				   blk_strerror(rc));
		goto out;
	}
	if (man.file_size != cm.size) {
		rc = api_fail_code(c, -EINVAL, 400, "bad_manifest", NULL,
				   "the manifest describes %llu bytes but "
				   "field 'size' says %llu",
				   (unsigned long long)man.file_size,
				   (unsigned long long)cm.size);
		goto out;
	}
	rc = distinct_ids(&man, &ids, &id_count);
	if (rc < 0)
		goto out;
	cm.node = id;
	cm.device_id = c->who.device_id;
	cm.manifest = mf;
	cm.manifest_size = mf_size;
	cm.tag = tag;
	cm.blocks = ids;
	cm.block_count = id_count;
	rc = m->ops->commit(m, c->who.user_id, &cm, &version, &seq, &missing,
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
	blk_manifest_release(&man);
	free(missing);
	free(ids);
	free(mf);
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
