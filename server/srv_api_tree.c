/* SPDX-License-Identifier: MIT */
/*
 * Tree routes: stat and list by path or by node id, node creation of every
 * kind, setattr, hard links, unlink to the trash, rename (with noreplace
 * and exchange), the change feed and the trash. Every mutation answers with
 * the account's new cursor and pushes "changed" with it.
 */
#include "srv_api_int.h"

#include <errno.h>
#include <string.h>

#include "cf_path.h"

/* Paging parameters shared by listings. */
struct page {
	struct cf_buf after; /* name to start after; len 0 = from the start */
	size_t limit;
};

static int page_parse(struct api_call *c, struct page *p)
{
	uint64_t limit = 0;
	int rc;

	cf_buf_init(&p->after, CF_NAME_MAX);
	p->limit = API_LIST_LIMIT_DEFAULT;
	rc = api_query(c, "after", &p->after);
	if (rc < 0)
		return rc;
	rc = api_query_u64(c, "limit", API_LIST_LIMIT_MAX, &limit);
	if (rc < 0)
		return rc;
	if (limit)
		p->limit = (size_t)limit;
	return 0;
}

/* The node the "path" query parameter names. */
static int walk_path(struct api_call *c, struct srv_node *out)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t parent[SRV_NODE_ID_SIZE];
	struct srv_entry e;
	struct cf_buf path;
	const char *name;
	size_t pos = 0, len;
	int rc;

	cf_buf_init(&path, CF_PATH_MAX);
	rc = api_query(c, "path", &path);
	if (rc == 1)
		rc = api_fail(c, -EINVAL, "query parameter 'path' is missing");
	if (rc != 0)
		goto out;
	rc = cf_path_check(path.data, path.len);
	if (rc == -ENAMETOOLONG) {
		rc = api_fail(c, rc, "the path is longer than %d bytes",
			      CF_PATH_MAX);
		goto out;
	}
	if (rc < 0) {
		rc = api_fail_code(c, rc, 400, "bad_name", NULL,
				   "the path must be absolute and made of "
				   "valid names");
		goto out;
	}
	rc = m->ops->node_get(m, c->who.user_id, srv_root_id, out);
	while (rc == 0 &&
	       cf_path_next(path.data, path.len, &pos, &name, &len)) {
		memcpy(parent, out->id, sizeof(parent));
		rc = m->ops->lookup(m, c->who.user_id, parent, name, len, &e,
				    out);
	}
	if (rc == -ENOENT)
		rc = api_fail(c, rc, "no such file or directory");
	else if (rc == -ENOTDIR)
		rc = api_fail(c, rc, "a path component is not a directory");
out:
	cf_buf_release(&path);
	return rc;
}

static int node_by_arg(struct api_call *c, struct srv_node *out)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t id[SRV_NODE_ID_SIZE];
	int rc;

	rc = api_arg_node_id(c, 0, id);
	if (rc < 0)
		return rc;
	rc = m->ops->node_get(m, c->who.user_id, id, out);
	if (rc == -ENOENT)
		return api_fail(c, rc, "no such node");
	return rc;
}

static int reply_node(struct api_call *c, const struct srv_node *n)
{
	json_t *j = api_node_json(n);

	if (!j)
		return -ENOMEM;
	return api_reply(c, 200, j);
}

int api_stat(struct api_call *c)
{
	struct srv_node n;
	int rc;

	rc = walk_path(c, &n);
	if (rc < 0)
		return rc;
	return reply_node(c, &n);
}

int api_node_get(struct api_call *c)
{
	struct srv_node n;
	int rc;

	rc = node_by_arg(c, &n);
	if (rc < 0)
		return rc;
	return reply_node(c, &n);
}

struct list_ctx {
	json_t *entries;
	size_t limit, count;
	bool more;
};

static int list_cb(void *arg, const struct srv_entry *e,
		   const struct srv_node *n)
{
	struct list_ctx *lc = arg;
	json_t *j;

	if (lc->count == lc->limit) {
		lc->more = true;
		return 1;
	}
	j = json_object();
	if (!j || api_set(j, "name", json_stringn(e->name, e->name_len)) < 0 ||
	    api_set(j, "entry_id", json_integer(e->id)) < 0 ||
	    api_set(j, "node", api_node_json(n)) < 0 ||
	    json_array_append_new(lc->entries, j) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	lc->count++;
	return 0;
}

static int list_dir(struct api_call *c, const struct srv_node *dir)
{
	struct srv_meta *m = c->api->deps.meta;
	struct list_ctx lc = { 0 };
	struct page p;
	json_t *j = NULL;
	int rc;

	rc = page_parse(c, &p);
	if (rc < 0)
		goto out;
	if (dir->kind != SRV_NODE_DIR) {
		rc = api_fail(c, -ENOTDIR, "not a directory");
		goto out;
	}
	lc.entries = json_array();
	lc.limit = p.limit;
	if (!lc.entries) {
		rc = -ENOMEM;
		goto out;
	}
	rc = m->ops->list_dir(m, c->who.user_id, dir->id,
			      p.after.len ? p.after.data : NULL, p.after.len,
			      p.limit + 1, list_cb, &lc);
	if (rc < 0)
		goto out;
	j = json_object();
	if (!j) {
		rc = -ENOMEM;
		goto out;
	}
	rc = api_set(j, "entries", lc.entries);
	lc.entries = NULL;
	if (rc < 0 || api_set(j, "more", json_boolean(lc.more)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	rc = api_reply(c, 200, j);
	j = NULL;
out:
	json_decref(lc.entries);
	json_decref(j);
	cf_buf_release(&p.after);
	return rc;
}

int api_list(struct api_call *c)
{
	struct srv_node n;
	int rc;

	rc = walk_path(c, &n);
	if (rc < 0)
		return rc;
	return list_dir(c, &n);
}

int api_children(struct api_call *c)
{
	struct srv_node n;
	int rc;

	rc = node_by_arg(c, &n);
	if (rc < 0)
		return rc;
	return list_dir(c, &n);
}

/* Answer {node, cursor} with status after a mutation of node id. */
static int reply_node_cursor(struct api_call *c, int status, const uint8_t *id,
			     uint64_t seq)
{
	struct srv_meta *m = c->api->deps.meta;
	struct srv_node n;
	json_t *j;
	int rc;

	rc = m->ops->node_get(m, c->who.user_id, id, &n);
	if (rc < 0)
		return rc;
	j = json_object();
	if (!j || api_set(j, "node", api_node_json(&n)) < 0 ||
	    api_set(j, "cursor", api_json_u64(seq)) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return api_reply(c, status, j);
}

static bool is_root(const uint8_t *id)
{
	return memcmp(id, srv_root_id, SRV_NODE_ID_SIZE) == 0;
}

/* Fill the attribute fields of a create request into n. */
static int node_attrs(struct api_call *c, struct srv_node *n)
{
	uint64_t v;
	int rc;

	rc = api_get_u64(c, "mode", true, 07777, &v);
	if (rc != 0)
		return rc;
	n->mode = (uint32_t)v;
	rc = api_get_u64(c, "uid", true, UINT32_MAX, &v);
	if (rc != 0)
		return rc;
	n->uid = (uint32_t)v;
	rc = api_get_u64(c, "gid", true, UINT32_MAX, &v);
	if (rc != 0)
		return rc;
	n->gid = (uint32_t)v;
	n->mtime_ns = c->now_ns;
	rc = api_get_i64(c, "mtime", false, &n->mtime_ns);
	if (rc < 0)
		return rc;
	n->ctime_ns = c->now_ns;
	if (n->kind == SRV_NODE_CHR || n->kind == SRV_NODE_BLK) {
		rc = api_get_u64(c, "rdev", false, UINT64_MAX >> 1, &n->rdev);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int node_target(struct api_call *c, struct srv_node *n)
{
	const char *t;
	size_t len;
	int rc;

	rc = api_get_string(c, "target", n->kind == SRV_NODE_SYMLINK, &t, &len);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return 0;
	if (n->kind != SRV_NODE_SYMLINK)
		return api_fail(c, -EINVAL,
				"field 'target' is only for symlinks");
	if (len == 0 || memchr(t, '\0', len))
		return api_fail(c, -EINVAL,
				"field 'target' must be non-empty and hold "
				"no NUL");
	if (len > API_TARGET_MAX)
		return api_fail(c, -ENAMETOOLONG,
				"field 'target' is longer than %d bytes",
				API_TARGET_MAX);
	memcpy(n->target, t, len);
	n->target[len] = '\0';
	n->size = len;
	return 0;
}

/* The fields of one create (c->body) into n, *parent and *name. */
static int create_parse(struct api_call *c, struct srv_node *n,
			uint8_t parent[SRV_NODE_ID_SIZE], const char **name,
			size_t *name_len)
{
	const char *kind;
	size_t kind_len;
	int rc;

	rc = api_get_node_id(c, "id", true, n->id);
	if (rc == 0)
		rc = api_get_string(c, "kind", true, &kind, &kind_len);
	if (rc == 0 &&
	    (strlen(kind) != kind_len || api_kind_parse(kind, &n->kind) < 0))
		rc = api_fail(c, -EINVAL,
			      "field 'kind' must be one of file, dir, "
			      "symlink, fifo, chr, blk, sock");
	if (rc == 0)
		rc = api_get_node_id(c, "parent", true, parent);
	if (rc == 0)
		rc = api_get_name(c, "name", name, name_len);
	if (rc == 0)
		rc = node_attrs(c, n);
	if (rc == 0)
		rc = node_target(c, n);
	if (rc == 0 && is_root(n->id))
		rc = api_fail(c, -EINVAL, "the all-zero id is the root's");
	n->status = SRV_STATUS_UPLOADED;
	return rc;
}

int api_node_create(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t parent[SRV_NODE_ID_SIZE];
	const char *name;
	size_t name_len;
	uint64_t seq = 0;
	struct srv_node *n;
	int rc;

	/* struct srv_node carries a 4 KiB target: keep it off the stack. */
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	rc = create_parse(c, n, parent, &name, &name_len);
	if (rc != 0)
		goto out;
	rc = m->ops->create(m, c->who.user_id, n, parent, name, name_len, &seq);
	if (rc == -EEXIST) {
		rc = api_fail(c, rc, "the node id or the name is taken");
		goto out;
	}
	if (rc == -ENOENT) {
		rc = api_fail(c, rc, "the parent directory does not exist");
		goto out;
	}
	if (rc == -ENOTDIR) {
		rc = api_fail(c, rc, "the parent is not a directory");
		goto out;
	}
	if (rc < 0)
		goto out;
	api_notify_changed(c, seq);
	rc = reply_node_cursor(c, 201, n->id, seq);
out:
	free(n);
	return rc;
}

/* The errors of one item that leave the items before it made. */
static bool item_error(int rc)
{
	return rc == -EEXIST || rc == -ENOENT || rc == -ENOTDIR ||
	       rc == -EINVAL;
}

int api_node_create_batch(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	json_t *body = c->body, *list = json_object_get(body, "nodes");
	uint8_t(*parents)[SRV_NODE_ID_SIZE] = NULL;
	struct srv_create *items = NULL;
	struct srv_node *nodes = NULL;
	size_t count = json_array_size(list), i, done = 0;
	uint64_t seq = 0;
	json_t *j;
	int rc = 0;

	if (!json_is_array(list) || !count || count > API_CREATE_BATCH_MAX)
		return api_fail(c, -EINVAL,
				"field 'nodes' must be an array of 1 to %d "
				"creates",
				API_CREATE_BATCH_MAX);
	nodes = calloc(count, sizeof(*nodes));
	items = calloc(count, sizeof(*items));
	parents = calloc(count, sizeof(*parents));
	if (!nodes || !items || !parents) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count && rc == 0; i++) {
		c->body = json_array_get(list, i);
		if (!json_is_object(c->body))
			rc = api_fail(c, -EINVAL,
				      "item %zu of 'nodes' is not an object",
				      i);
		else
			rc = create_parse(c, &nodes[i], parents[i],
					  &items[i].name, &items[i].name_len);
		if (rc != 0 && json_is_object(c->body))
			api_fail_item(c, i);
		items[i].node = &nodes[i];
		items[i].parent = parents[i];
	}
	c->body = body;
	if (rc != 0)
		goto out;
	rc = m->ops->create_batch(m, c->who.user_id, items, count, &done, &seq);
	if (rc < 0 && !item_error(rc))
		goto out; /* a retry is safe: made items count as made */
	if (done)
		api_notify_changed(c, seq);
	j = json_object();
	if (!j || api_set(j, "done", api_json_u64(done)) < 0 ||
	    api_set(j, "cursor", api_json_u64(seq)) < 0 ||
	    (rc < 0 &&
	     api_set(j, "error", json_string(srv_errno_to_code(rc))) < 0)) {
		json_decref(j);
		rc = -ENOMEM;
		goto out;
	}
	rc = api_reply(c, 200, j);
out:
	free(nodes);
	free(items);
	free(parents);
	return rc;
}

int api_node_patch(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	struct srv_setattr attr = { 0 };
	uint8_t id[SRV_NODE_ID_SIZE];
	uint64_t v, seq = 0;
	int rc;

	rc = api_arg_node_id(c, 0, id);
	if (rc < 0)
		return rc;
	if (json_object_get(c->body, "size"))
		return api_fail(c, -EINVAL,
				"field 'size' cannot be patched: size changes "
				"are commits");
	rc = api_get_u64(c, "mode", false, 07777, &v);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		attr.flags |= SRV_SET_MODE;
		attr.mode = (uint32_t)v;
	}
	rc = api_get_u64(c, "uid", false, UINT32_MAX, &v);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		attr.flags |= SRV_SET_UID;
		attr.uid = (uint32_t)v;
	}
	rc = api_get_u64(c, "gid", false, UINT32_MAX, &v);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		attr.flags |= SRV_SET_GID;
		attr.gid = (uint32_t)v;
	}
	rc = api_get_i64(c, "mtime", false, &attr.mtime_ns);
	if (rc < 0)
		return rc;
	if (rc == 0)
		attr.flags |= SRV_SET_MTIME;
	if (!attr.flags)
		return api_fail(c, -EINVAL,
				"give at least one of mode, uid, gid, mtime");
	attr.flags |= SRV_SET_CTIME;
	attr.ctime_ns = c->now_ns;
	rc = m->ops->setattr(m, c->who.user_id, id, &attr, &seq);
	if (rc == -ENOENT)
		return api_fail(c, rc, "no such node");
	if (rc < 0)
		return rc;
	api_notify_changed(c, seq);
	return reply_node_cursor(c, 200, id, seq);
}

int api_entry_add(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t parent[SRV_NODE_ID_SIZE], node[SRV_NODE_ID_SIZE];
	struct srv_entry e;
	struct srv_node *n = NULL;
	const char *name;
	size_t len;
	uint64_t seq = 0;
	json_t *j;
	int rc;

	rc = api_get_node_id(c, "parent", true, parent);
	if (rc == 0)
		rc = api_get_name(c, "name", &name, &len);
	if (rc == 0)
		rc = api_get_node_id(c, "node", true, node);
	if (rc != 0)
		return rc;
	rc = m->ops->link(m, c->who.user_id, node, parent, name, len, &seq);
	if (rc == -EPERM)
		return api_fail(c, rc, "directories cannot be hard-linked");
	if (rc == -EEXIST)
		return api_fail(c, rc, "the name is taken");
	if (rc == -ENOENT)
		return api_fail(c, rc, "no such node or parent directory");
	if (rc < 0)
		return rc;
	api_notify_changed(c, seq);
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	rc = m->ops->lookup(m, c->who.user_id, parent, name, len, &e, n);
	if (rc < 0)
		goto out;
	j = json_object();
	if (!j || api_set(j, "entry", api_entry_json(&e)) < 0 ||
	    api_set(j, "node", api_node_json(n)) < 0 ||
	    api_set(j, "cursor", api_json_u64(seq)) < 0) {
		json_decref(j);
		rc = -ENOMEM;
		goto out;
	}
	rc = api_reply(c, 201, j);
out:
	free(n);
	return rc;
}

/*
 * An entry the request names under parent_key and name_key, with the node
 * the client expects there under node_key (optional), so a name another
 * device gave to another node since is left alone. out->node points into
 * node_buf when given, else is NULL.
 */
static int get_slot(struct api_call *c, const char *parent_key,
		    const char *name_key, const char *node_key,
		    uint8_t parent[SRV_NODE_ID_SIZE],
		    uint8_t node_buf[SRV_NODE_ID_SIZE], struct srv_slot *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = api_get_node_id(c, parent_key, true, parent);
	if (rc == 0)
		rc = api_get_name(c, name_key, &out->name, &out->len);
	if (rc < 0)
		return rc;
	out->parent = parent;
	rc = api_get_node_id(c, node_key, false, node_buf);
	if (rc < 0)
		return rc;
	if (rc == 0)
		out->node = node_buf;
	return 0;
}

int api_entry_delete(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t parent[SRV_NODE_ID_SIZE], node[SRV_NODE_ID_SIZE];
	bool dir = false, recursive = false;
	struct srv_slot at;
	unsigned flags = 0;
	uint64_t seq = 0;
	int rc;

	rc = get_slot(c, "parent", "name", "node", parent, node, &at);
	if (rc == 0)
		rc = api_get_bool(c, "dir", &dir);
	if (rc >= 0)
		rc = api_get_bool(c, "recursive", &recursive);
	if (rc < 0)
		return rc;
	if (dir)
		flags |= SRV_UNLINK_DIR;
	if (recursive)
		flags |= SRV_UNLINK_RECURSIVE;
	rc = m->ops->unlink(m, c->who.user_id, &at, flags,
			    c->now_ns / 1000000000, &seq);
	if (rc == -ENOENT)
		return api_fail(c, rc,
				at.node ? "no such entry holding 'node'"
					: "no such entry");
	if (rc == -ENOTEMPTY)
		return api_fail(c, rc,
				"the directory is not empty; set "
				"\"recursive\": true to trash it whole");
	if (rc == -EISDIR)
		return api_fail(c, rc,
				"the entry is a directory; set \"dir\": true");
	if (rc < 0)
		return rc;
	api_notify_changed(c, seq);
	return api_reply_cursor(c, seq);
}

/*
 * "node": the node the client expects at the source, "replaces": the one
 * it expects at the target (it replaced that one locally, offline).
 * Another node at the source is 404; another node at the target is 409,
 * not a silent replace; a free target is a plain move.
 */
int api_rename(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t sp[SRV_NODE_ID_SIZE], dp[SRV_NODE_ID_SIZE];
	uint8_t node[SRV_NODE_ID_SIZE], replaces[SRV_NODE_ID_SIZE];
	bool noreplace = false, exchange = false;
	struct srv_slot src, dst;
	unsigned flags = 0;
	uint64_t seq = 0;
	int rc;

	rc = get_slot(c, "src_parent", "src_name", "node", sp, node, &src);
	if (rc == 0)
		rc = get_slot(c, "dst_parent", "dst_name", "replaces", dp,
			      replaces, &dst);
	if (rc == 0)
		rc = api_get_bool(c, "noreplace", &noreplace);
	if (rc >= 0)
		rc = api_get_bool(c, "exchange", &exchange);
	if (rc < 0)
		return rc;
	if (noreplace && exchange)
		return api_fail(c, -EINVAL,
				"noreplace and exchange exclude each other");
	if (noreplace && dst.node)
		return api_fail(c, -EINVAL,
				"noreplace and replaces exclude each other: "
				"replaces names the node the target may hold");
	if (noreplace)
		flags |= SRV_RENAME_NOREPLACE;
	if (exchange)
		flags |= SRV_RENAME_EXCHANGE;
	rc = m->ops->rename(m, c->who.user_id, &src, &dst, flags,
			    c->now_ns / 1000000000, &seq);
	if (rc == -ENOENT)
		return api_fail(c, rc,
				src.node ? "no such entry holding 'node', or "
					   "no such directory"
					 : "no such entry or directory");
	/* Without noreplace, only the replaces check answers -EEXIST. */
	if (rc == -EEXIST && dst.node)
		return api_fail(c, rc,
				"the target holds another node than the one "
				"'replaces' names");
	if (rc == -EEXIST)
		return api_fail(c, rc, "the target name is taken");
	if (rc == -EINVAL)
		return api_fail(c, rc, "a directory cannot move below itself");
	if (rc < 0)
		return rc;
	api_notify_changed(c, seq);
	return api_reply_cursor(c, seq);
}

struct changes_ctx {
	json_t *nodes, *entries;
};

static int changes_node(void *arg, const struct srv_node *n)
{
	struct changes_ctx *cc = arg;

	return json_array_append_new(cc->nodes, api_node_json(n)) == 0
		       ? 0
		       : -ENOMEM;
}

static int changes_entry(void *arg, const struct srv_entry *e)
{
	struct changes_ctx *cc = arg;

	return json_array_append_new(cc->entries, api_entry_json(e)) == 0
		       ? 0
		       : -ENOMEM;
}

/*
 * 410 resync_required: deletions after the client's cursor were pruned.
 * "horizon" is the oldest cursor still answered; the client fetches the
 * feed again from since=0 and drops what that does not name.
 */
static int fail_resync(struct api_call *c, uint64_t since, uint64_t horizon)
{
	json_t *extra = json_object();

	if (!extra ||
	    api_set(extra, "horizon", api_json_u64(horizon)) < 0) {
		json_decref(extra);
		return -ENOMEM;
	}
	return api_fail_code(c, -ERANGE, 410, "resync_required", extra,
			     "changes after cursor %llu are no longer kept "
			     "(horizon %llu): fetch the feed again from "
			     "since=0",
			     (unsigned long long)since,
			     (unsigned long long)horizon);
}

int api_changes(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	struct changes_ctx cc = { NULL, NULL };
	uint64_t since = 0, limit = API_LIST_LIMIT_DEFAULT, next = 0;
	bool more = false;
	json_t *j = NULL;
	int rc;

	rc = api_query_u64(c, "since", INT64_MAX, &since);
	if (rc >= 0)
		rc = api_query_u64(c, "limit", API_LIST_LIMIT_MAX, &limit);
	if (rc < 0)
		return rc;
	if (limit == 0)
		limit = API_LIST_LIMIT_DEFAULT;
	cc.nodes = json_array();
	cc.entries = json_array();
	j = json_object();
	if (!cc.nodes || !cc.entries || !j) {
		rc = -ENOMEM;
		goto out;
	}
	rc = m->ops->changes(m, c->who.user_id, since, (size_t)limit,
			     changes_node, changes_entry, &cc, &next, &more);
	if (rc == -ERANGE) {
		rc = fail_resync(c, since, next);
		goto out;
	}
	if (rc < 0)
		goto out;
	rc = api_set(j, "nodes", cc.nodes);
	cc.nodes = NULL;
	if (rc == 0)
		rc = api_set(j, "entries", cc.entries);
	cc.entries = NULL;
	if (rc < 0 || api_set(j, "next", api_json_u64(next)) < 0 ||
	    api_set(j, "more", json_boolean(more)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	rc = api_reply(c, 200, j);
	j = NULL;
out:
	json_decref(cc.nodes);
	json_decref(cc.entries);
	json_decref(j);
	return rc;
}

static int trash_cb(void *arg, const struct srv_trash_item *t)
{
	json_t *items = arg, *j = json_object();

	if (!j ||
	    api_set(j, "node", api_json_hex(t->node, SRV_NODE_ID_SIZE)) < 0 ||
	    api_set(j, "kind", json_string(api_kind_name(t->kind))) < 0 ||
	    api_set(j, "parent", api_json_hex(t->parent, SRV_NODE_ID_SIZE)) <
		    0 ||
	    api_set(j, "name", json_stringn(t->name, t->name_len)) < 0 ||
	    api_set(j, "size", api_json_u64(t->size)) < 0 ||
	    api_set(j, "deleted", json_integer(api_sec_to_ns(t->deleted))) <
		    0 ||
	    json_array_append_new(items, j) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return 0;
}

int api_trash_list(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	json_t *items = json_array(), *j;
	int rc;

	if (!items)
		return -ENOMEM;
	rc = m->ops->trash_list(m, c->who.user_id, trash_cb, items);
	if (rc < 0) {
		json_decref(items);
		return rc;
	}
	j = json_object();
	if (!j || api_set(j, "items", items) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return api_reply(c, 200, j);
}

int api_trash_restore(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t id[SRV_NODE_ID_SIZE], parent[SRV_NODE_ID_SIZE];
	const char *name = NULL;
	size_t len = 0;
	uint64_t seq = 0;
	int rc, has_parent;

	rc = api_arg_node_id(c, 0, id);
	if (rc < 0)
		return rc;
	has_parent = api_get_node_id(c, "parent", false, parent);
	if (has_parent < 0)
		return has_parent;
	if (has_parent == 0 || json_object_get(c->body, "name")) {
		if (has_parent != 0)
			return api_fail(c, -EINVAL,
					"field 'parent' is missing: give "
					"parent and name, or neither");
		rc = api_get_name(c, "name", &name, &len);
		if (rc != 0)
			return rc;
	}
	rc = m->ops->trash_restore(m, c->who.user_id, id,
				   has_parent == 0 ? parent : NULL, name, len,
				   &seq);
	if (rc == -EEXIST)
		return api_fail(c, rc,
				"the name is taken; give another parent and "
				"name");
	if (rc == -ENOENT)
		return api_fail(c, rc,
				"no such item in the trash, or its directory "
				"is gone");
	if (rc == -EINVAL)
		return api_fail(c, rc,
				"a directory cannot be restored below itself");
	if (rc < 0)
		return rc;
	api_notify_changed(c, seq);
	return api_reply_cursor(c, seq);
}

int api_trash_purge(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t id[SRV_NODE_ID_SIZE];
	uint64_t seq = 0;
	int rc;

	rc = api_arg_node_id(c, 0, id);
	if (rc < 0)
		return rc;
	rc = m->ops->trash_purge(m, c->who.user_id, id, &seq);
	if (rc == -ENOENT)
		return api_fail(c, rc, "no such item in the trash");
	if (rc < 0)
		return rc;
	api_notify_changed(c, seq);
	return api_reply_cursor(c, seq);
}
