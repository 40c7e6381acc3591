/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd API client, the routes half: one typed function per route of
 * docs/API.md, each building its JSON body, running one struct call
 * (fc_remote.c) and validating the answer before handing it out. Every
 * id, name, kind and size from the server is checked here; a bad one is
 * -EPROTO and nothing of the answer is used.
 */
#include "fc_remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "remote"
#include "cf_hex.h"
#include "cf_log.h"
#include "cf_path.h"
#include "fc_remote_int.h"

static const struct {
	const char *name;
	mode_t type;
} kinds[] = {
	{ "file", S_IFREG },  { "dir", S_IFDIR }, { "symlink", S_IFLNK },
	{ "fifo", S_IFIFO },  { "chr", S_IFCHR }, { "blk", S_IFBLK },
	{ "sock", S_IFSOCK },
};

static const char *kind_name(mode_t type)
{
	size_t i;

	for (i = 0; i < CF_ARRAY_SIZE(kinds); i++)
		if (kinds[i].type == (type & S_IFMT))
			return kinds[i].name;
	return NULL;
}

static int kind_parse(json_t *v, mode_t *out)
{
	const char *s = json_string_value(v);
	size_t i;

	if (!s)
		return -EPROTO;
	for (i = 0; i < CF_ARRAY_SIZE(kinds); i++) {
		if (!strcmp(kinds[i].name, s)) {
			*out = kinds[i].type;
			return 0;
		}
	}
	return -EPROTO;
}

/* A flag that may come as a bool, a number or a status string. */
static bool jflag(json_t *v, const char *true_word)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_string(v) && true_word)
		return !strcmp(json_string_value(v), true_word);
	return false;
}

/* Parse a node object; target borrowed from o. */
static int parse_node(json_t *o, struct fc_rnode *n)
{
	json_t *t;
	uint64_t v;

	memset(n, 0, sizeof(*n));
	if (!json_is_object(o) ||
	    fc_remote_jget_hex(o, "id", n->id, FC_NODE_ID_SIZE) < 0 ||
	    kind_parse(json_object_get(o, "kind"), &n->type) < 0 ||
	    fc_remote_jget_u32(o, "mode", &n->mode) < 0 ||
	    fc_remote_jopt_u64(o, "uid", 0, &v) < 0 || v > UINT32_MAX)
		return -EPROTO;
	n->uid = (uint32_t)v;
	if (fc_remote_jopt_u64(o, "gid", 0, &v) < 0 || v > UINT32_MAX)
		return -EPROTO;
	n->gid = (uint32_t)v;
	if (fc_remote_jopt_u64(o, "rdev", 0, &n->rdev) < 0 ||
	    fc_remote_jopt_u64(o, "size", 0, &n->size) < 0 ||
	    fc_remote_jopt_i64(o, "mtime", &n->mtime_ns) < 0 ||
	    fc_remote_jopt_i64(o, "ctime", &n->ctime_ns) < 0 ||
	    fc_remote_jopt_u64(o, "version", 0, &n->version) < 0 ||
	    fc_remote_jopt_i64(o, "pending_device", &n->pending_device) < 0 ||
	    fc_remote_jopt_u64(o, "nlink", 1, &v) < 0 || v > UINT32_MAX ||
	    fc_remote_jopt_u64(o, "seq", 0, &n->seq) < 0)
		return -EPROTO;
	n->nlink = (uint32_t)v;
	n->mode &= 07777;
	n->pending = jflag(json_object_get(o, "status"), "pending");
	n->deleted = jflag(json_object_get(o, "deleted"), NULL);
	t = json_object_get(o, "target");
	if (n->type == S_IFLNK) {
		if (!json_is_string(t) || !json_string_length(t) ||
		    json_string_length(t) > CF_PATH_MAX ||
		    memchr(json_string_value(t), 0, json_string_length(t)))
			return -EPROTO;
		n->target = json_string_value(t);
		n->target_len = json_string_length(t);
	}
	return 0;
}

static int parse_entry(json_t *o, struct fc_rentry *e)
{
	json_t *name;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o) ||
	    (fc_remote_jget_i64(o, "entry_id", &e->id) < 0 &&
	     fc_remote_jget_i64(o, "id", &e->id) < 0) ||
	    fc_remote_jget_hex(o, "parent", e->parent, FC_NODE_ID_SIZE) < 0 ||
	    fc_remote_jget_hex(o, "node", e->node, FC_NODE_ID_SIZE) < 0 ||
	    fc_remote_jopt_u64(o, "seq", 0, &e->seq) < 0)
		return -EPROTO;
	name = json_object_get(o, "name");
	if (!json_is_string(name))
		return -EPROTO;
	e->name = json_string_value(name);
	e->name_len = json_string_length(name);
	if (cf_name_check(e->name, e->name_len) < 0)
		return -EPROTO;
	e->deleted = jflag(json_object_get(o, "deleted"), NULL);
	return 0;
}

/* Times on the wire are ns since the epoch; a few fields here keep s. */
static int64_t ns_to_s(int64_t t)
{
	/* tolerate a server that sends seconds: 1e11 s is year 5138 */
	return t > 100000000000LL ? t / 1000000000 : t;
}

/* Cursor fields are optional in mutation answers. */
static void get_cursor(json_t *o, uint64_t *out)
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
static int simple_call(struct fc_remote *r, const char *method,
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

/*
 * Send body (consumed: released on every path) with method to prefix +
 * node id hex (when id is given) + suffix and read the cursor of the
 * answer into *out_cursor (may be NULL). rc < 0 is a failure from
 * building the body (a NULL body counts as -ENOMEM): it is returned
 * without a call.
 */
static int cursor_call_to(struct fc_remote *r, const char *method,
			  const char *prefix, const uint8_t *id,
			  const char *suffix, json_t *body, int rc,
			  uint64_t *out_cursor)
{
	char hex[FC_NODE_HEX_SIZE] = "";
	struct call c;

	fc_remote_call_init(&c, method);
	if (rc == 0 && !body)
		rc = -ENOMEM;
	if (rc < 0)
		goto out;
	if (id)
		fc_remote_node_id_hex(id, hex);
	fc_remote_call_path(&c, "%s%s%s", prefix, hex, suffix);
	c.body = body;
	rc = fc_remote_call_run(r, &c);
	if (rc == 0)
		get_cursor(c.json, out_cursor);
out:
	json_decref(body);
	fc_remote_call_release(&c);
	return rc;
}

static int cursor_call(struct fc_remote *r, const char *method,
		       const char *prefix, const uint8_t *id, json_t *body,
		       int rc, uint64_t *out_cursor)
{
	return cursor_call_to(r, method, prefix, id, "", body, rc, out_cursor);
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
	return simple_call(r, "POST", "/logout", NULL, "", false);
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

/* ----- tree ----- */

void fc_changes_page_release(struct fc_changes_page *p)
{
	free(p->nodes);
	free(p->entries);
	json_decref(p->json_);
	memset(p, 0, sizeof(*p));
}

int fc_remote_changes(struct fc_remote *r, uint64_t since, size_t limit,
		      struct fc_changes_page *out)
{
	json_t *nodes, *entries;
	struct call c;
	size_t i;
	int n, rc;

	fc_remote_call_init(&c, "GET");
	memset(out, 0, sizeof(*out));
	fc_remote_call_path(&c, "/changes");
	if (limit)
		n = snprintf(c.query, sizeof(c.query), "since=%llu&limit=%zu",
			     (unsigned long long)since, limit);
	else
		n = snprintf(c.query, sizeof(c.query), "since=%llu",
			     (unsigned long long)since);
	if (n < 0 || (size_t)n >= sizeof(c.query)) {
		rc = -EINVAL;
		goto out;
	}
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	nodes = json_object_get(c.json, "nodes");
	entries = json_object_get(c.json, "entries");
	if (!json_is_array(nodes) || !json_is_array(entries) ||
	    fc_remote_jget_u64(c.json, "next", &out->next) < 0) {
		rc = -EPROTO;
		goto out;
	}
	out->more = jflag(json_object_get(c.json, "more"), NULL);
	if (json_array_size(nodes)) {
		out->nodes =
			calloc(json_array_size(nodes), sizeof(*out->nodes));
		if (!out->nodes) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (json_array_size(entries)) {
		out->entries =
			calloc(json_array_size(entries), sizeof(*out->entries));
		if (!out->entries) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < json_array_size(nodes); i++) {
		rc = parse_node(json_array_get(nodes, i), &out->nodes[i]);
		if (rc < 0) {
			cf_warn("changes: malformed node #%zu", i);
			goto out;
		}
		out->node_count++;
	}
	for (i = 0; i < json_array_size(entries); i++) {
		rc = parse_entry(json_array_get(entries, i), &out->entries[i]);
		if (rc < 0) {
			cf_warn("changes: malformed entry #%zu", i);
			goto out;
		}
		out->entry_count++;
	}
	if (out->next < since) {
		rc = -EPROTO;
		goto out;
	}
	out->json_ = c.json;
	c.json = NULL;
out:
	fc_remote_call_release(&c);
	if (rc < 0)
		fc_changes_page_release(out);
	return rc;
}

/* Copy a node answer out of c, with the target into target_buf. */
static int node_answer(struct call *c, struct fc_rnode *out, char *target_buf,
		       size_t target_size)
{
	int rc = parse_node(c->json, out);

	if (rc < 0)
		return rc;
	if (out->target) {
		if (!target_buf || out->target_len + 1 > target_size)
			return -ENAMETOOLONG;
		memcpy(target_buf, out->target, out->target_len + 1);
		out->target = target_buf;
	}
	return 0;
}

int fc_remote_node_get(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		       struct fc_rnode *out, char *target_buf,
		       size_t target_size)
{
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	int rc;

	fc_remote_call_init(&c, "GET");
	fc_remote_node_id_hex(id, hex);
	fc_remote_call_path(&c, "/nodes/%s", hex);
	rc = fc_remote_call_run(r, &c);
	if (rc == 0)
		rc = node_answer(&c, out, target_buf, target_size);
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_stat(struct fc_remote *r, const char *path, struct fc_rnode *out,
		   char *target_buf, size_t target_size)
{
	struct call c;
	int rc;

	if (cf_path_check(path, strlen(path)) < 0)
		return cf_path_check(path, strlen(path));
	fc_remote_call_init(&c, "GET");
	fc_remote_call_path(&c, "/stat");
	c.query_path = path;
	rc = fc_remote_call_run(r, &c);
	if (rc == 0)
		rc = node_answer(&c, out, target_buf, target_size);
	fc_remote_call_release(&c);
	return rc;
}

/* The JSON of one create; NULL on bad input (-EINVAL) or -ENOMEM. */
static int create_body(const struct fc_create_req *q, json_t **out)
{
	const char *kind = kind_name(q->type);
	json_t *body = json_object();
	int rc = 0;

	if (!kind)
		rc = -EINVAL;
	else if (!body)
		rc = -ENOMEM;
	if (!rc)
		rc = fc_remote_jset_hex(body, "id", q->id, FC_NODE_ID_SIZE);
	if (!rc)
		rc = fc_remote_jset_new(body, "kind", json_string(kind));
	if (!rc)
		rc = fc_remote_jset_hex(body, "parent", q->parent,
					FC_NODE_ID_SIZE);
	if (!rc)
		rc = fc_remote_jset_name(body, "name", q->name, q->name_len);
	if (!rc)
		rc = fc_remote_jset_u64(body, "mode", q->mode & 07777);
	if (!rc)
		rc = fc_remote_jset_u64(body, "uid", q->uid);
	if (!rc)
		rc = fc_remote_jset_u64(body, "gid", q->gid);
	if (!rc && (q->type == S_IFCHR || q->type == S_IFBLK))
		rc = fc_remote_jset_u64(body, "rdev", q->rdev);
	if (!rc && q->type == S_IFLNK) {
		if (!q->target || !q->target_len ||
		    q->target_len > CF_PATH_MAX ||
		    memchr(q->target, 0, q->target_len))
			rc = -EINVAL;
		else if (json_object_set_new(
				 body, "target",
				 json_stringn(q->target, q->target_len)) < 0)
			rc = -EILSEQ;
	}
	if (!rc && q->mtime_ns)
		rc = fc_remote_jset_new(body, "mtime",
					json_integer(q->mtime_ns));
	if (rc < 0) {
		json_decref(body);
		body = NULL;
	}
	*out = body;
	return rc;
}

int fc_remote_node_create(struct fc_remote *r, const struct fc_create_req *q,
			  uint64_t *out_cursor)
{
	json_t *body;
	int rc = create_body(q, &body);

	return cursor_call(r, "POST", "/nodes", NULL, body, rc, out_cursor);
}

int fc_remote_nodes_create(struct fc_remote *r, const struct fc_create_req *qs,
			   size_t count, size_t *out_done, uint64_t *out_cursor)
{
	json_t *body = json_object(), *list = json_array(), *item;
	const char *code = NULL;
	uint64_t done = 0;
	struct call c;
	size_t i;
	int rc = body && list ? 0 : -ENOMEM;

	*out_done = 0;
	fc_remote_call_init(&c, "POST");
	if (!count || count > FC_REMOTE_CREATE_BATCH_MAX)
		rc = -EINVAL;
	for (i = 0; i < count && rc == 0; i++) {
		rc = create_body(&qs[i], &item);
		if (rc == 0 && json_array_append_new(list, item) < 0)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = fc_remote_jset_new(body, "nodes", list);
	else
		json_decref(list);
	if (rc < 0)
		goto out;
	fc_remote_call_path(&c, "/nodes/batch");
	c.body = body;
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	item = json_object_get(c.json, "error");
	code = json_is_string(item) ? json_string_value(item) : NULL;
	if (fc_remote_jget_u64(c.json, "done", &done) < 0 || done > count ||
	    (done < count) != (code != NULL)) {
		rc = -EPROTO;
		goto out;
	}
	get_cursor(c.json, out_cursor);
	*out_done = (size_t)done;
	/* item done's error, as the single call would have said it */
	if (code)
		rc = fc_remote_error(CURLE_OK, 409, code);
out:
	json_decref(body);
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_node_patch(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
			 const struct fc_patch_req *p, uint64_t *out_cursor)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc && (p->flags & FC_REMOTE_PATCH_MODE))
		rc = fc_remote_jset_u64(body, "mode", p->mode & 07777);
	if (!rc && (p->flags & FC_REMOTE_PATCH_UID))
		rc = fc_remote_jset_u64(body, "uid", p->uid);
	if (!rc && (p->flags & FC_REMOTE_PATCH_GID))
		rc = fc_remote_jset_u64(body, "gid", p->gid);
	if (!rc && (p->flags & FC_REMOTE_PATCH_MTIME))
		rc = fc_remote_jset_new(body, "mtime",
					json_integer(p->mtime_ns));
	return cursor_call(r, "PATCH", "/nodes/", id, body, rc, out_cursor);
}

int fc_remote_node_pending(struct fc_remote *r,
			   const uint8_t id[FC_NODE_ID_SIZE])
{
	return simple_call(r, "POST", "/nodes/", id, "/pending", true);
}

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

int fc_remote_commit(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		     const struct fc_commit_req *q, struct fc_commit_res *res)
{
	char hex[FC_NODE_HEX_SIZE];
	json_t *body = json_object();
	struct call c;
	int rc;

	fc_remote_call_init(&c, "POST");
	memset(res, 0, sizeof(*res));
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
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
	if (rc < 0)
		goto out;
	fc_remote_node_id_hex(id, hex);
	fc_remote_call_path(&c, "/nodes/%s/commit", hex);
	c.body = body;
	rc = fc_remote_call_run(r, &c);
	if (rc == 0) {
		if (fc_remote_jget_u64(c.json, "version", &res->version) < 0)
			rc = -EPROTO;
		get_cursor(c.json, &res->cursor);
	} else if (rc == -ESTALE && c.err) {
		if (fc_remote_jget_u64(c.err, "current_version",
				       &res->current_version) < 0)
			res->current_version = 0;
	} else if (rc == -ENODATA && c.err) {
		int prc = parse_missing(c.err, res);

		if (prc < 0)
			rc = prc;
	}
out:
	json_decref(body);
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

int fc_remote_link(struct fc_remote *r, const uint8_t node[FC_NODE_ID_SIZE],
		   const uint8_t parent[FC_NODE_ID_SIZE], const char *name,
		   size_t name_len, uint64_t *out_cursor)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc)
		rc = fc_remote_jset_hex(body, "parent", parent,
					FC_NODE_ID_SIZE);
	if (!rc)
		rc = fc_remote_jset_name(body, "name", name, name_len);
	if (!rc)
		rc = fc_remote_jset_hex(body, "node", node, FC_NODE_ID_SIZE);
	return cursor_call(r, "POST", "/entries", NULL, body, rc, out_cursor);
}

int fc_remote_trash_restore(struct fc_remote *r,
			    const uint8_t node[FC_NODE_ID_SIZE],
			    const uint8_t parent[FC_NODE_ID_SIZE],
			    const char *name, size_t name_len,
			    uint64_t *out_cursor)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc && parent)
		rc = fc_remote_jset_hex(body, "parent", parent,
					FC_NODE_ID_SIZE);
	if (!rc && parent)
		rc = fc_remote_jset_name(body, "name", name, name_len);
	return cursor_call_to(r, "POST", "/trash/", node, "/restore", body, rc,
			      out_cursor);
}

int fc_remote_unlink(struct fc_remote *r, const uint8_t parent[FC_NODE_ID_SIZE],
		     const char *name, size_t name_len, unsigned flags,
		     uint64_t *out_cursor)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc)
		rc = fc_remote_jset_hex(body, "parent", parent,
					FC_NODE_ID_SIZE);
	if (!rc)
		rc = fc_remote_jset_name(body, "name", name, name_len);
	if (!rc && (flags & FC_REMOTE_UNLINK_DIR))
		rc = fc_remote_jset_new(body, "dir", json_true());
	if (!rc && (flags & FC_REMOTE_UNLINK_RECURSIVE))
		rc = fc_remote_jset_new(body, "recursive", json_true());
	return cursor_call(r, "DELETE", "/entries", NULL, body, rc,
			   out_cursor);
}

int fc_remote_rename(struct fc_remote *r,
		     const uint8_t src_parent[FC_NODE_ID_SIZE],
		     const char *src_name, size_t src_len,
		     const uint8_t dst_parent[FC_NODE_ID_SIZE],
		     const char *dst_name, size_t dst_len, unsigned flags,
		     uint64_t *out_cursor)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc)
		rc = fc_remote_jset_hex(body, "src_parent", src_parent,
					FC_NODE_ID_SIZE);
	if (!rc)
		rc = fc_remote_jset_name(body, "src_name", src_name, src_len);
	if (!rc)
		rc = fc_remote_jset_hex(body, "dst_parent", dst_parent,
					FC_NODE_ID_SIZE);
	if (!rc)
		rc = fc_remote_jset_name(body, "dst_name", dst_name, dst_len);
	if (!rc && (flags & FC_REMOTE_RENAME_NOREPLACE))
		rc = fc_remote_jset_new(body, "noreplace", json_true());
	if (!rc && (flags & FC_REMOTE_RENAME_EXCHANGE))
		rc = fc_remote_jset_new(body, "exchange", json_true());
	return cursor_call(r, "POST", "/rename", NULL, body, rc, out_cursor);
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
		if (kind_parse(json_object_get(o, "kind"), &t[i].type) < 0 ||
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
	return simple_call(r, "DELETE", "/trash/", node, "", false);
}
