/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd API client, the tree routes (see fc_remote_api.c for how a
 * route works): the change feed, nodes (get, stat, create, patch,
 * pending) and entries (link, unlink, rename, trash restore). Nodes and
 * entries from the server are parsed and checked here: a bad kind, id,
 * name or symlink target is -EPROTO.
 */
#include "fc_remote.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#define CF_LOG_SUBSYS "remote"
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

int fc_remote_kind_parse(json_t *v, mode_t *out)
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
	    fc_remote_kind_parse(json_object_get(o, "kind"), &n->type) < 0 ||
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
		fc_remote_get_cursor(c.json, out_cursor);
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
		rc = fc_remote_jset_entry(body, "parent", q->parent, "name",
					  q->name, q->name_len);
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

static int create_item_json(const void *items, size_t i, json_t **out)
{
	return create_body((const struct fc_create_req *)items + i, out);
}

int fc_remote_nodes_create(struct fc_remote *r, const struct fc_create_req *qs,
			   size_t count, size_t *out_done, uint64_t *out_cursor)
{
	const char *code = NULL;
	uint64_t done = 0;
	struct call c;
	json_t *err;
	int rc;

	*out_done = 0;
	rc = fc_remote_post_list(r, &c, "/nodes/batch", "nodes", qs, count,
				 FC_REMOTE_CREATE_BATCH_MAX, create_item_json);
	if (rc < 0)
		goto out;
	err = json_object_get(c.json, "error");
	code = json_is_string(err) ? json_string_value(err) : NULL;
	if (fc_remote_jget_u64(c.json, "done", &done) < 0 || done > count ||
	    (done < count) != (code != NULL)) {
		rc = -EPROTO;
		goto out;
	}
	fc_remote_get_cursor(c.json, out_cursor);
	*out_done = (size_t)done;
	/* item done's error, as the single call would have said it */
	if (code)
		rc = fc_remote_error(CURLE_OK, 409, code);
out:
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
	return fc_remote_simple_call(r, "POST", "/nodes/", id, "/pending",
				     true);
}

int fc_remote_link(struct fc_remote *r, const uint8_t node[FC_NODE_ID_SIZE],
		   const uint8_t parent[FC_NODE_ID_SIZE], const char *name,
		   size_t name_len, uint64_t *out_cursor)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc)
		rc = fc_remote_jset_entry(body, "parent", parent, "name", name,
					  name_len);
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
		rc = fc_remote_jset_entry(body, "parent", parent, "name", name,
					  name_len);
	return cursor_call_to(r, "POST", "/trash/", node, "/restore", body, rc,
			      out_cursor);
}

/* slot's directory and name under the keys given, its node under node_key */
static int jset_slot(json_t *o, const char *parent_key, const char *name_key,
		     const char *node_key, const struct fc_remote_slot *slot)
{
	int rc = fc_remote_jset_entry(o, parent_key, slot->parent, name_key,
				      slot->name, slot->len);

	if (!rc && slot->node)
		rc = fc_remote_jset_hex(o, node_key, slot->node,
					FC_NODE_ID_SIZE);
	return rc;
}

int fc_remote_unlink(struct fc_remote *r, const struct fc_remote_slot *at,
		     unsigned flags, uint64_t *out_cursor)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc)
		rc = jset_slot(body, "parent", "name", "node", at);
	if (!rc && (flags & FC_REMOTE_UNLINK_DIR))
		rc = fc_remote_jset_new(body, "dir", json_true());
	if (!rc && (flags & FC_REMOTE_UNLINK_RECURSIVE))
		rc = fc_remote_jset_new(body, "recursive", json_true());
	return cursor_call(r, "DELETE", "/entries", NULL, body, rc, out_cursor);
}

int fc_remote_rename(struct fc_remote *r, const struct fc_remote_slot *src,
		     const struct fc_remote_slot *dst, unsigned flags,
		     uint64_t *out_cursor)
{
	json_t *body = json_object();
	int rc = body ? 0 : -ENOMEM;

	if (!rc)
		rc = jset_slot(body, "src_parent", "src_name", "node", src);
	if (!rc)
		rc = jset_slot(body, "dst_parent", "dst_name", "replaces", dst);
	if (!rc && (flags & FC_REMOTE_RENAME_NOREPLACE))
		rc = fc_remote_jset_new(body, "noreplace", json_true());
	if (!rc && (flags & FC_REMOTE_RENAME_EXCHANGE))
		rc = fc_remote_jset_new(body, "exchange", json_true());
	return cursor_call(r, "POST", "/rename", NULL, body, rc, out_cursor);
}
