/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd API client, the routes half: one typed function per route of
 * docs/API.md, each building its JSON body, running one struct call
 * (fc_remote.c) and validating the answer before handing it out. Every
 * id, name, kind and size from the server is checked here; a bad one is
 * -EPROTO and nothing of the answer is used.
 *
 * This file holds the account, file content (commit, versions, restore)
 * and trash routes, and the call helpers every route file shares; the
 * tree routes (change feed, nodes, entries) are in fc_remote_tree.c.
 */
#include "fc_remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "remote"
#include "cf_hex.h"
#include "cf_log.h"
#include "cf_path.h"
#include "fc_remote_int.h"

/* Times on the wire are ns since the epoch; a few fields here keep s. */
static int64_t ns_to_s(int64_t t)
{
	/* tolerate a server that sends seconds: 1e11 s is year 5138 */
	return t > 100000000000LL ? t / 1000000000 : t;
}

/* Cursor fields are optional in mutation answers. */
void fc_remote_get_cursor(json_t *o, uint64_t *out)
{
	uint64_t v = 0;

	if (!out)
		return;
	if (o && fc_remote_jget_u64(o, "cursor", &v) < 0)
		v = 0;
	*out = v;
}

/*
 * A call that sends nothing but its path, prefix + node id hex (when id
 * is given) + suffix, and wants only the status. json_body: send {} for
 * routes that take an (empty) JSON body.
 */
int fc_remote_simple_call(struct fc_remote *r, const char *method,
			  const char *prefix, const uint8_t *id,
			  const char *suffix, bool json_body)
{
	char hex[FC_NODE_HEX_SIZE] = "";
	struct call c;
	int rc;

	fc_remote_call_init(&c, method);
	if (json_body) {
		c.body = json_object();
		if (!c.body)
			return -ENOMEM;
	}
	if (id)
		fc_remote_node_id_hex(id, hex);
	rc = fc_remote_call_path(&c, "%s%s%s", prefix, hex, suffix);
	if (rc == 0)
		rc = fc_remote_call_run(r, &c);
	json_decref(c.body);
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_post_list(struct fc_remote *r, struct call *c, const char *path,
			const char *key, const void *items, size_t count,
			size_t max, fc_remote_item_fn item)
{
	json_t *body = json_object(), *list = json_array(), *one;
	size_t i;
	int rc = body && list ? 0 : -ENOMEM;

	fc_remote_call_init(c, "POST");
	if (!count || count > max)
		rc = -EINVAL;
	for (i = 0; i < count && rc == 0; i++) {
		rc = item(items, i, &one);
		if (rc == 0 && json_array_append_new(list, one) < 0)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = fc_remote_jset_new(body, key, list);
	else
		json_decref(list);
	if (rc == 0)
		rc = fc_remote_call_path(c, "%s", path);
	if (rc == 0) {
		c->body = body;
		rc = fc_remote_call_run(r, c);
		c->body = NULL;
	}
	json_decref(body);
	return rc;
}

/* ----- routes ----- */

int fc_remote_prelogin(struct fc_remote *r, const char *user,
		       struct fc_prelogin *out)
{
	json_t *body = json_object(), *kdf;
	struct call c;
	int rc;

	fc_remote_call_init(&c, "POST");
	c.auth = false;
	memset(out, 0, sizeof(*out));
	if (!body || fc_remote_jset_new(body, "user", json_string(user)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	fc_remote_call_path(&c, "/prelogin");
	c.body = body;
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	kdf = json_object_get(c.json, "kdf");
	if (!json_is_object(kdf) ||
	    fc_remote_jget_u32(kdf, "version", &out->kdf.version) ||
	    fc_remote_jget_u64(kdf, "n", &out->kdf.n) ||
	    fc_remote_jget_u32(kdf, "r", &out->kdf.r) ||
	    fc_remote_jget_u32(kdf, "p", &out->kdf.p) ||
	    fc_remote_jget_hex(c.json, "salt", out->salt, BLK_SALT_SIZE))
		rc = -EPROTO;
out:
	json_decref(body);
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_login(struct fc_remote *r, const char *user,
		    const uint8_t auth_key[BLK_KEY_SIZE], const char *device,
		    struct fc_login *out)
{
	char hex[2 * BLK_KEY_SIZE + 1];
	json_t *body = json_object(), *tok;
	struct call c;
	int rc;

	fc_remote_call_init(&c, "POST");
	c.auth = false;
	memset(out, 0, sizeof(*out));
	cf_hex_encode(auth_key, BLK_KEY_SIZE, hex);
	if (!body || fc_remote_jset_new(body, "user", json_string(user)) < 0 ||
	    fc_remote_jset_new(body, "auth_key", json_string(hex)) < 0 ||
	    fc_remote_jset_new(body, "device", json_string(device)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	fc_remote_call_path(&c, "/login");
	c.body = body;
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	tok = json_object_get(c.json, "token");
	if (!json_is_string(tok) ||
	    json_string_length(tok) != FC_TOKEN_HEX_SIZE - 1 ||
	    fc_remote_jget_i64(c.json, "device_id", &out->device_id) ||
	    fc_remote_jget_i64(c.json, "user_id", &out->user_id) ||
	    fc_remote_jget_hex(c.json, "root", out->root, FC_NODE_ID_SIZE) ||
	    fc_remote_jget_chunk(c.json, &out->chunk) ||
	    fc_remote_jget_codec(c.json, &out->codec) ||
	    fc_remote_jopt_u64(c.json, "cursor", 0, &out->cursor)) {
		rc = -EPROTO;
		goto out;
	}
	memcpy(out->token, json_string_value(tok), FC_TOKEN_HEX_SIZE);
	rc = fc_remote_set_token(r, out->token);
	if (rc < 0)
		rc = -EPROTO;
out:
	OPENSSL_cleanse(hex, sizeof(hex));
	if (body) {
		/* the auth key went through jansson: wipe its copy too */
		json_t *ak = json_object_get(body, "auth_key");

		if (ak)
			json_string_set(ak, "");
		json_decref(body);
	}
	if (c.body_text)
		OPENSSL_cleanse(c.body_text, strlen(c.body_text));
	if (c.resp.cap)
		OPENSSL_cleanse(c.resp.data, c.resp.len);
	fc_remote_call_release(&c);
	if (rc < 0)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

int fc_remote_logout(struct fc_remote *r)
{
	return fc_remote_simple_call(r, "POST", "/logout", NULL, "", false);
}

int fc_remote_account(struct fc_remote *r, struct fc_account_info *out)
{
	struct call c;
	json_t *u;
	int rc;

	fc_remote_call_init(&c, "GET");
	memset(out, 0, sizeof(*out));
	fc_remote_call_path(&c, "/account");
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	u = json_object_get(c.json, "user");
	if (json_is_string(u) && json_string_length(u) <= FC_USER_NAME_MAX)
		memcpy(out->user, json_string_value(u),
		       json_string_length(u) + 1);
	if (fc_remote_jopt_u64(c.json, "usage", 0, &out->usage) ||
	    fc_remote_jopt_u64(c.json, "quota", 0, &out->quota) ||
	    fc_remote_jopt_u64(c.json, "blocks", 0, &out->blocks) ||
	    fc_remote_jopt_u64(c.json, "files", 0, &out->files) ||
	    fc_remote_jopt_u64(c.json, "cursor", 0, &out->cursor) ||
	    fc_remote_jopt_u64(c.json, "max_file_size", BLK_FILE_SIZE_MAX,
			       &out->max_file_size) ||
	    fc_remote_jget_chunk(c.json, &out->chunk) ||
	    fc_remote_jget_codec(c.json, &out->codec))
		rc = -EPROTO;
out:
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_key_get(struct fc_remote *r, uint8_t out[BLK_WRAPPED_KEY_SIZE])
{
	struct call c;
	json_t *k;
	int rc;

	fc_remote_call_init(&c, "GET");
	fc_remote_call_path(&c, "/key");
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	k = json_object_get(c.json, "wrapped_key");
	if (json_is_null(k) || !k) {
		rc = -ENOENT;
		goto out;
	}
	if (fc_remote_jget_hex(c.json, "wrapped_key", out,
			       BLK_WRAPPED_KEY_SIZE) < 0)
		rc = -EPROTO;
out:
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_key_put(struct fc_remote *r,
		      const uint8_t wrapped[BLK_WRAPPED_KEY_SIZE], bool replace)
{
	json_t *body = json_object();
	struct call c;
	int rc;

	fc_remote_call_init(&c, "PUT");
	if (!body ||
	    fc_remote_jset_hex(body, "wrapped_key", wrapped,
			       BLK_WRAPPED_KEY_SIZE) ||
	    fc_remote_jset_new(body, "replace", json_boolean(replace))) {
		rc = -ENOMEM;
		goto out;
	}
	fc_remote_call_path(&c, "/key");
	c.body = body;
	rc = fc_remote_call_run(r, &c);
out:
	json_decref(body);
	fc_remote_call_release(&c);
	return rc;
}

/* ----- file contents: commit and versions ----- */

/* The "missing" list of a 409 missing_blocks answer. */
static int parse_missing(json_t *err, struct fc_commit_res *res)
{
	json_t *miss = json_object_get(err, "missing");
	size_t i, n;

	if (!json_is_array(miss))
		return 0;
	n = json_array_size(miss);
	if (!n)
		return 0;
	res->missing = calloc(n, sizeof(*res->missing));
	if (!res->missing)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (fc_remote_jget_block_id(json_array_get(miss, i),
					    &res->missing[i]) < 0) {
			free(res->missing);
			res->missing = NULL;
			return -EPROTO;
		}
	}
	res->missing_count = n;
	return 0;
}

/* The JSON of a commit: q's fields, plus "node" when node is set. */
static int commit_body(const uint8_t *node, const struct fc_commit_req *q,
		       json_t **out)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc && node)
		rc = fc_remote_jset_hex(body, "node", node, FC_NODE_ID_SIZE);
	if (!rc)
		rc = fc_remote_jset_u64(body, "base_version", q->base_version);
	if (!rc)
		rc = fc_remote_jset_u64(body, "size", q->size);
	if (!rc)
		rc = fc_remote_jset_new(body, "mtime",
					json_integer(q->mtime_ns));
	if (!rc)
		rc = fc_remote_jset_new(
			body, "manifest",
			fc_remote_b64_json(q->manifest, q->manifest_size));
	if (!rc)
		rc = fc_remote_jset_hex(body, "tag", q->tag,
					BLK_MANIFEST_TAG_SIZE);
	if (rc < 0) {
		json_decref(body);
		body = NULL;
	}
	*out = body;
	return rc;
}

/* What a refused commit's answer (err) adds to rc's meaning. */
static int commit_refused(int rc, json_t *err, struct fc_commit_res *res)
{
	int prc;

	if (rc == -ESTALE && err) {
		if (fc_remote_jget_u64(err, "current_version",
				       &res->current_version) < 0)
			res->current_version = 0;
	} else if (rc == -ENODATA && err) {
		prc = parse_missing(err, res);
		if (prc < 0)
			return prc;
	}
	return rc;
}

int fc_remote_commit(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		     const struct fc_commit_req *q, struct fc_commit_res *res)
{
	char hex[FC_NODE_HEX_SIZE];
	json_t *body;
	struct call c;
	int rc;

	fc_remote_call_init(&c, "POST");
	memset(res, 0, sizeof(*res));
	rc = commit_body(NULL, q, &body);
	if (rc < 0)
		goto out;
	fc_remote_node_id_hex(id, hex);
	fc_remote_call_path(&c, "/nodes/%s/commit", hex);
	c.body = body;
	rc = fc_remote_call_run(r, &c);
	if (rc == 0) {
		if (fc_remote_jget_u64(c.json, "version", &res->version) < 0)
			rc = -EPROTO;
		fc_remote_get_cursor(c.json, &res->cursor);
	} else {
		rc = commit_refused(rc, c.err, res);
	}
out:
	json_decref(body);
	fc_remote_call_release(&c);
	return rc;
}

/* One item of a batch's "results": ->rc and ->res as the single call. */
static int commit_result(json_t *o, uint64_t cursor, struct fc_commit_item *it)
{
	json_t *err = json_object_get(o, "error");

	memset(&it->res, 0, sizeof(it->res));
	if (!json_is_object(o))
		return -EPROTO;
	if (json_is_string(err)) {
		it->rc = fc_remote_error(CURLE_OK, 409, json_string_value(err));
		it->rc = commit_refused(it->rc, o, &it->res);
		return it->rc == -EPROTO || it->rc == -ENOMEM ? it->rc : 0;
	}
	if (fc_remote_jget_u64(o, "version", &it->res.version) < 0)
		return -EPROTO;
	it->res.cursor = cursor;
	it->rc = 0;
	return 0;
}

static int commit_item_json(const void *items, size_t i, json_t **out)
{
	const struct fc_commit_item *it =
		(const struct fc_commit_item *)items + i;

	return commit_body(it->id, it->req, out);
}

int fc_remote_commit_batch(struct fc_remote *r, struct fc_commit_item *items,
			   size_t count)
{
	uint64_t cursor = 0;
	json_t *results;
	struct call c;
	size_t i;
	int rc;

	rc = fc_remote_post_list(r, &c, "/commits", "commits", items, count,
				 FC_REMOTE_COMMIT_BATCH_MAX, commit_item_json);
	if (rc < 0)
		goto out;
	results = json_object_get(c.json, "results");
	if (json_array_size(results) != count) {
		rc = -EPROTO;
		goto out;
	}
	fc_remote_get_cursor(c.json, &cursor);
	for (i = 0; i < count && rc == 0; i++)
		rc = commit_result(json_array_get(results, i), cursor,
				   &items[i]);
	if (rc < 0) {
		/* a malformed answer counts for none: what the server did
		 * commit answers stale_version on the next try */
		while (i-- > 0) {
			free(items[i].res.missing);
			memset(&items[i].res, 0, sizeof(items[i].res));
		}
	}
out:
	fc_remote_call_release(&c);
	return rc;
}

static int parse_version_info(json_t *o, struct fc_version_info *v)
{
	memset(v, 0, sizeof(*v));
	if (!json_is_object(o) ||
	    fc_remote_jget_u64(o, "version", &v->version) < 0 ||
	    fc_remote_jopt_u64(o, "size", 0, &v->size) < 0 ||
	    fc_remote_jopt_i64(o, "mtime", &v->mtime_ns) < 0 ||
	    fc_remote_jopt_i64(o, "created", &v->created) < 0 ||
	    fc_remote_jopt_i64(o, "device", &v->device_id) < 0)
		return -EPROTO;
	if (!v->device_id &&
	    fc_remote_jopt_i64(o, "device_id", &v->device_id) < 0)
		return -EPROTO;
	v->created = ns_to_s(v->created);
	return 0;
}

int fc_remote_versions(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		       struct fc_version_info **out, size_t *out_count)
{
	struct fc_version_info *v = NULL;
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	json_t *arr;
	size_t i, n;
	int rc;

	*out = NULL;
	*out_count = 0;
	fc_remote_call_init(&c, "GET");
	fc_remote_node_id_hex(id, hex);
	fc_remote_call_path(&c, "/nodes/%s/versions", hex);
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	arr = json_object_get(c.json, "versions");
	if (!json_is_array(arr)) {
		rc = -EPROTO;
		goto out;
	}
	n = json_array_size(arr);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		rc = parse_version_info(json_array_get(arr, i), &v[i]);
		if (rc < 0)
			goto out;
	}
	*out = v;
	*out_count = n;
	v = NULL;
out:
	free(v);
	fc_remote_call_release(&c);
	return rc;
}

void fc_version_data_release(struct fc_version_data *v)
{
	free(v->manifest);
	memset(v, 0, sizeof(*v));
}

int fc_remote_version_get(struct fc_remote *r,
			  const uint8_t id[FC_NODE_ID_SIZE], uint64_t version,
			  struct fc_version_data *out)
{
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	json_t *m;
	int rc;

	memset(out, 0, sizeof(*out));
	fc_remote_call_init(&c, "GET");
	fc_remote_node_id_hex(id, hex);
	if (version)
		fc_remote_call_path(&c, "/nodes/%s/versions/%llu", hex,
				    (unsigned long long)version);
	else
		fc_remote_call_path(&c, "/nodes/%s/versions/current", hex);
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	rc = parse_version_info(c.json, &out->info);
	if (rc < 0)
		goto out;
	m = json_object_get(c.json, "manifest");
	if (!json_is_string(m) ||
	    fc_remote_jget_hex(c.json, "tag", out->tag, BLK_MANIFEST_TAG_SIZE) <
		    0) {
		rc = -EPROTO;
		goto out;
	}
	rc = fc_remote_b64_decode(json_string_value(m), json_string_length(m),
				  &out->manifest, &out->manifest_size);
out:
	fc_remote_call_release(&c);
	if (rc < 0)
		fc_version_data_release(out);
	return rc;
}

int fc_remote_restore(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		      uint64_t version, uint64_t *out_version)
{
	char hex[FC_NODE_HEX_SIZE];
	json_t *body = json_object();
	struct call c;
	uint64_t v = 0;
	int rc;

	fc_remote_call_init(&c, "POST");
	if (!body || fc_remote_jset_u64(body, "version", version) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	fc_remote_node_id_hex(id, hex);
	fc_remote_call_path(&c, "/nodes/%s/restore", hex);
	c.body = body;
	rc = fc_remote_call_run(r, &c);
	if (rc == 0 && c.json && fc_remote_jget_u64(c.json, "version", &v) < 0)
		v = 0;
	if (out_version)
		*out_version = v;
out:
	json_decref(body);
	fc_remote_call_release(&c);
	return rc;
}

/* ----- trash ----- */

int fc_remote_trash_list(struct fc_remote *r, struct fc_trash_item **out,
			 size_t *out_count)
{
	struct fc_trash_item *t = NULL;
	json_t *arr, *o, *name;
	struct call c;
	size_t i, n;
	int rc;

	*out = NULL;
	*out_count = 0;
	fc_remote_call_init(&c, "GET");
	fc_remote_call_path(&c, "/trash");
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	arr = json_object_get(c.json, "items");
	if (!arr)
		arr = json_object_get(c.json, "trash");
	if (!json_is_array(arr)) {
		rc = -EPROTO;
		goto out;
	}
	n = json_array_size(arr);
	t = calloc(n ? n : 1, sizeof(*t));
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		o = json_array_get(arr, i);
		name = json_object_get(o, "name");
		if (fc_remote_jget_hex(o, "id", t[i].node, FC_NODE_ID_SIZE) <
			    0 &&
		    fc_remote_jget_hex(o, "node", t[i].node, FC_NODE_ID_SIZE) <
			    0) {
			rc = -EPROTO;
			goto out;
		}
		if (fc_remote_kind_parse(json_object_get(o, "kind"),
					 &t[i].type) < 0 ||
		    fc_remote_jget_hex(o, "parent", t[i].parent,
				       FC_NODE_ID_SIZE) < 0 ||
		    !json_is_string(name) ||
		    json_string_length(name) > CF_NAME_MAX ||
		    fc_remote_jopt_u64(o, "size", 0, &t[i].size) < 0 ||
		    fc_remote_jopt_i64(o, "deleted", &t[i].deleted) < 0) {
			rc = -EPROTO;
			goto out;
		}
		t[i].deleted = ns_to_s(t[i].deleted);
		t[i].name_len = json_string_length(name);
		memcpy(t[i].name, json_string_value(name), t[i].name_len + 1);
	}
	*out = t;
	*out_count = n;
	t = NULL;
out:
	free(t);
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_trash_purge(struct fc_remote *r,
			  const uint8_t node[FC_NODE_ID_SIZE])
{
	return fc_remote_simple_call(r, "DELETE", "/trash/", node, "", false);
}
