/* SPDX-License-Identifier: MIT */
/*
 * The API's front door: the route table (method + path pattern -> handler,
 * metrics name, body kind, whether a token is needed), authentication, the
 * per-token rate limiter, JSON body parsing, the one errno -> HTTP status
 * table and the answer helpers handlers share (srv_api_int.h). Handlers
 * live in srv_api_{account,tree,files,blocks}.c, JSON helpers in
 * srv_api_json.c.
 *
 * Every request gets exactly one response: a handler's answer, its error,
 * or the generic error for the errno it returned.
 *
 * Lock order: api->rate.lock is a leaf, held only around the bucket table.
 */
#include "srv_api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define CF_LOG_SUBSYS "api"
#include "cf_log.h"
#include "srv_api_int.h"
#include "srv_auth.h"
#include "srv_blocks.h"
#include "srv_config.h"
#include "srv_metrics.h"
#include "srv_notify.h"

/* ----- the errno table ----- */

struct err_map {
	int err;
	int status;
	const char *code;
	const char *message;
};

static const struct err_map err_table[] = {
	{ -EINVAL, 400, "bad_request", "the request is not valid" },
	{ -ENAMETOOLONG, 400, "name_too_long", "a name or path is too long" },
	{ -EBADMSG, 400, "bad_block", "the block does not verify" },
	{ -EPROTO, 400, "bad_request", "malformed data" },
	{ -EACCES, 401, "unauthorized", "a valid token is required" },
	{ -EKEYREJECTED, 401, "unauthorized", "wrong user name or password" },
	{ -EPERM, 403, "forbidden", "the operation is not permitted" },
	{ -EDQUOT, 403, "quota_exceeded", "the account's quota is used up" },
	{ -ENOENT, 404, "not_found", "no such object" },
	{ -EOPNOTSUPP, 405, "method_not_allowed",
	  "the method is not allowed here" },
	{ -EEXIST, 409, "exists", "the name or id is taken" },
	{ -ENOTEMPTY, 409, "not_empty", "the directory is not empty" },
	{ -ENOTDIR, 409, "not_a_directory", "not a directory" },
	{ -EISDIR, 409, "is_a_directory", "is a directory" },
	{ -ESTALE, 409, "stale_version", "the base version is not current" },
	{ -EBUSY, 409, "busy", "the object is in use" },
	{ -EMLINK, 409, "too_many_links", "too many links" },
	{ -EFBIG, 413, "too_large", "the file is too large" },
	{ -EMSGSIZE, 413, "too_large", "the request body is too large" },
	{ -E2BIG, 413, "too_large", "too many items" },
	{ -EAGAIN, 429, "rate_limited", "too many requests" },
	{ -EIO, 500, "internal", "internal server error" },
	{ -ENOMEM, 503, "unavailable", "the server is out of memory" },
	{ -ENOSPC, 503, "no_space", "the server is out of disk space" },
	{ -ETIMEDOUT, 503, "unavailable", "the server is busy" },
};

static const struct err_map err_default = { -EIO, 500, "internal",
					    "internal server error" };

static const struct err_map *err_lookup(int err)
{
	size_t i;

	for (i = 0; i < CF_ARRAY_SIZE(err_table); i++) {
		if (err_table[i].err == err)
			return &err_table[i];
	}
	return &err_default;
}

int srv_errno_to_status(int err)
{
	return err_lookup(err)->status;
}

const char *srv_errno_to_code(int err)
{
	return err_lookup(err)->code;
}

void srv_response_release(struct srv_response *resp)
{
	json_decref(resp->json);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

/*
 * Replace whatever resp holds with {"error": code, "message": msg}. msg
 * falls back to fallback when it is not valid UTF-8. 0 or -ENOMEM.
 */
static int error_reply(struct srv_response *resp, int status, const char *code,
		       const char *msg, const char *fallback, json_t *extra)
{
	const char *route = resp->route;
	json_t *j, *m;

	srv_response_release(resp);
	resp->route = route;
	j = json_object();
	if (!j) {
		json_decref(extra);
		return -ENOMEM;
	}
	m = json_string(msg);
	if (!m)
		m = json_string(fallback);
	if (api_set(j, "error", json_string(code)) < 0 ||
	    api_set(j, "message", m) < 0 ||
	    (extra && json_object_update(j, extra) < 0)) {
		json_decref(extra);
		json_decref(j);
		return -ENOMEM;
	}
	json_decref(extra);
	resp->status = status;
	resp->json = j;
	return 0;
}

static int verror(struct srv_response *resp, int status, const char *code,
		  const char *fallback, json_t *extra, const char *fmt,
		  va_list ap)
{
	char msg[512];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return error_reply(resp, status, code, fallback, fallback,
				   extra);
	/* A longer message is cut at a character boundary: it is prose. */
	if ((size_t)n >= sizeof(msg)) {
		size_t len = sizeof(msg) - 1;

		while (len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80)
			len--;
		msg[len] = '\0';
	}
	return error_reply(resp, status, code, msg, fallback, extra);
}

int srv_response_error(struct srv_response *resp, int err, const char *fmt, ...)
{
	const struct err_map *e = err_lookup(err);
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = verror(resp, e->status, e->code, e->message, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* ----- answers for handlers ----- */

int api_set(json_t *obj, const char *key, json_t *val)
{
	if (!val)
		return -ENOMEM;
	return json_object_set_new(obj, key, val) == 0 ? 0 : -ENOMEM;
}

int api_reply(struct api_call *c, int status, json_t *j)
{
	if (!j)
		return -ENOMEM;
	json_decref(c->resp->json);
	c->resp->json = j;
	c->resp->status = status;
	return 0;
}

int api_reply_empty(struct api_call *c, int status)
{
	c->resp->status = status;
	return 0;
}

int api_reply_cursor(struct api_call *c, uint64_t seq)
{
	json_t *j = json_object();

	if (!j || api_set(j, "cursor", api_json_u64(seq)) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return api_reply(c, 200, j);
}

int api_fail(struct api_call *c, int err, const char *fmt, ...)
{
	const struct err_map *e = err_lookup(err);
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = verror(c->resp, e->status, e->code, e->message, NULL, fmt, ap);
	va_end(ap);
	return rc < 0 ? rc : err;
}

void api_fail_item(struct api_call *c, size_t i)
{
	json_t *j = c->resp->json;
	const char *msg = json_string_value(json_object_get(j, "message"));
	char *both;

	/* no memory: the answer keeps its message as it was */
	if (msg && asprintf(&both, "item %zu: %s", i, msg) >= 0) {
		json_object_set_new(j, "message", json_string(both));
		free(both);
	}
}

int api_fail_code(struct api_call *c, int err, int status, const char *code,
		  json_t *extra, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = verror(c->resp, status, code, code, extra, fmt, ap);
	va_end(ap);
	return rc < 0 ? rc : err;
}

void api_notify_changed(struct api_call *c, uint64_t seq)
{
	if (c->api->deps.notify)
		srv_notify_changed(c->api->deps.notify, c->who.user_id, seq);
}

int64_t api_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ----- rate limiter ----- */

struct api_rate_entry {
	struct api_rate_entry *next;
	uint8_t key[32];
	double tokens;
	int64_t last_ns;
};

#define RATE_SLOTS_MIN	 1024
#define RATE_ENTRIES_MAX (1u << 20)
#define RATE_SWEEP_NS	 (10 * 1000000000ll)

static int rate_init(struct api_rate *r, uint32_t per_second, uint32_t burst)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = pthread_mutex_init(&r->lock, NULL);
	if (rc != 0)
		return -rc;
	r->per_second = per_second;
	r->burst = burst ? burst : 1;
	r->slot_count = RATE_SLOTS_MIN;
	r->slots = calloc(r->slot_count, sizeof(*r->slots));
	if (!r->slots) {
		pthread_mutex_destroy(&r->lock);
		return -ENOMEM;
	}
	return 0;
}

static void rate_release(struct api_rate *r)
{
	struct api_rate_entry *e, *next;
	size_t i;

	for (i = 0; i < r->slot_count; i++) {
		for (e = r->slots[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(r->slots);
	pthread_mutex_destroy(&r->lock);
}

static size_t rate_slot(const uint8_t key[32], size_t slot_count)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h)); /* keys are SHA-256: uniform already */
	return (size_t)h & (slot_count - 1);
}

/* The bucket's level at now: refilled, capped at burst. */
static double rate_level(const struct api_rate *r,
			 const struct api_rate_entry *e, int64_t now_ns)
{
	double t = e->tokens;

	if (now_ns > e->last_ns)
		t += (double)(now_ns - e->last_ns) * r->per_second / 1e9;
	return t > r->burst ? r->burst : t;
}

/* Drop full buckets (idle keys) and grow the table when crowded. */
static void rate_sweep(struct api_rate *r, int64_t now_ns)
{
	struct api_rate_entry **pp, *e, **slots;
	size_t i, n;

	r->last_sweep_ns = now_ns;
	for (i = 0; i < r->slot_count; i++) {
		pp = &r->slots[i];
		while ((e = *pp) != NULL) {
			if (rate_level(r, e, now_ns) >= r->burst) {
				*pp = e->next;
				free(e);
				r->count--;
			} else {
				pp = &e->next;
			}
		}
	}
	if (r->count <= 2 * r->slot_count)
		return;
	n = r->slot_count * 2;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return; /* longer chains, still correct */
	for (i = 0; i < r->slot_count; i++) {
		while ((e = r->slots[i]) != NULL) {
			r->slots[i] = e->next;
			e->next = slots[rate_slot(e->key, n)];
			slots[rate_slot(e->key, n)] = e;
		}
	}
	free(r->slots);
	r->slots = slots;
	r->slot_count = n;
}

/*
 * Take one request from key's bucket. 0, or -EAGAIN with *out_retry the
 * seconds until one is available. Fails open (0) when out of memory or
 * over RATE_ENTRIES_MAX keys: the limiter must not take the server down.
 */
static int rate_take(struct api_rate *r, const uint8_t key[32], int64_t now_ns,
		     uint32_t *out_retry)
{
	struct api_rate_entry *e;
	double need;
	size_t slot;
	int rc = 0;

	if (r->per_second <= 0)
		return 0;
	pthread_mutex_lock(&r->lock);
	if (now_ns - r->last_sweep_ns > RATE_SWEEP_NS)
		rate_sweep(r, now_ns);
	slot = rate_slot(key, r->slot_count);
	for (e = r->slots[slot]; e; e = e->next) {
		if (memcmp(e->key, key, sizeof(e->key)) == 0)
			break;
	}
	if (!e) {
		if (r->count >= RATE_ENTRIES_MAX)
			goto out;
		e = calloc(1, sizeof(*e));
		if (!e)
			goto out;
		memcpy(e->key, key, sizeof(e->key));
		e->tokens = r->burst;
		e->last_ns = now_ns;
		e->next = r->slots[slot];
		r->slots[slot] = e;
		r->count++;
	}
	e->tokens = rate_level(r, e, now_ns);
	if (now_ns > e->last_ns)
		e->last_ns = now_ns;
	if (e->tokens >= 1) {
		e->tokens -= 1;
	} else {
		need = (1 - e->tokens) / r->per_second;
		*out_retry = need < 86400 ? (uint32_t)need : 86400;
		if ((double)*out_retry < need || *out_retry == 0)
			(*out_retry)++; /* round up, at least 1 s */
		rc = -EAGAIN;
	}
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ----- the route table ----- */

enum api_body {
	BODY_NONE, /* no body */
	BODY_JSON, /* a JSON object up to json_body_max */
	BODY_COMMIT, /* a JSON object up to manifest_body_max */
	BODY_BLOCK, /* raw bytes up to the largest blob */
};

enum api_auth {
	AUTH_TOKEN, /* bearer token, rate-limited per token */
	AUTH_REMOTE, /* no token, rate-limited per peer address */
	AUTH_NONE, /* no token, no limit (the operator firewalls it) */
};

struct api_route {
	const char *method;
	const char *pattern; /* '*' matches one non-empty segment */
	const char *name; /* metrics label */
	enum api_body body;
	enum api_auth auth;
	api_handler_fn fn;
};

static int api_notify_plain(struct api_call *c);
static int api_metrics(struct api_call *c);

static const struct api_route routes[] = {
	{ "POST", "/api/v1/prelogin", "prelogin", BODY_JSON, AUTH_REMOTE,
	  api_prelogin },
	{ "POST", "/api/v1/login", "login", BODY_JSON, AUTH_REMOTE, api_login },
	{ "POST", "/api/v1/logout", "logout", BODY_NONE, AUTH_TOKEN,
	  api_logout },
	{ "GET", "/api/v1/account", "account", BODY_NONE, AUTH_TOKEN,
	  api_account },
	{ "GET", "/api/v1/key", "key_get", BODY_NONE, AUTH_TOKEN, api_key_get },
	{ "PUT", "/api/v1/key", "key_put", BODY_JSON, AUTH_TOKEN, api_key_put },
	{ "POST", "/api/v1/blocks/missing", "blocks_missing", BODY_JSON,
	  AUTH_TOKEN, api_blocks_missing },
	{ "PUT", "/api/v1/blocks/*", "blocks_put", BODY_BLOCK, AUTH_TOKEN,
	  api_block_put },
	{ "GET", "/api/v1/blocks/*", "blocks_get", BODY_NONE, AUTH_TOKEN,
	  api_block_get },
	{ "HEAD", "/api/v1/blocks/*", "blocks_head", BODY_NONE, AUTH_TOKEN,
	  api_block_head },
	{ "GET", "/api/v1/changes", "changes", BODY_NONE, AUTH_TOKEN,
	  api_changes },
	{ "GET", "/api/v1/stat", "stat", BODY_NONE, AUTH_TOKEN, api_stat },
	{ "GET", "/api/v1/list", "list", BODY_NONE, AUTH_TOKEN, api_list },
	{ "POST", "/api/v1/nodes/batch", "node_create_batch", BODY_JSON,
	  AUTH_TOKEN, api_node_create_batch },
	{ "POST", "/api/v1/nodes", "node_create", BODY_JSON, AUTH_TOKEN,
	  api_node_create },
	{ "GET", "/api/v1/nodes/*", "node_get", BODY_NONE, AUTH_TOKEN,
	  api_node_get },
	{ "PATCH", "/api/v1/nodes/*", "node_patch", BODY_JSON, AUTH_TOKEN,
	  api_node_patch },
	{ "GET", "/api/v1/nodes/*/children", "children", BODY_NONE, AUTH_TOKEN,
	  api_children },
	{ "POST", "/api/v1/nodes/*/pending", "pending", BODY_JSON, AUTH_TOKEN,
	  api_pending },
	{ "POST", "/api/v1/commits", "commit_batch", BODY_COMMIT, AUTH_TOKEN,
	  api_commit_batch },
	{ "POST", "/api/v1/nodes/*/commit", "commit", BODY_COMMIT, AUTH_TOKEN,
	  api_commit },
	{ "GET", "/api/v1/nodes/*/versions", "versions", BODY_NONE, AUTH_TOKEN,
	  api_versions },
	{ "GET", "/api/v1/nodes/*/versions/*", "version_get", BODY_NONE,
	  AUTH_TOKEN, api_version_get },
	{ "POST", "/api/v1/nodes/*/restore", "restore", BODY_JSON, AUTH_TOKEN,
	  api_restore },
	{ "POST", "/api/v1/entries", "entry_add", BODY_JSON, AUTH_TOKEN,
	  api_entry_add },
	{ "DELETE", "/api/v1/entries", "entry_delete", BODY_JSON, AUTH_TOKEN,
	  api_entry_delete },
	{ "POST", "/api/v1/rename", "rename", BODY_JSON, AUTH_TOKEN,
	  api_rename },
	{ "GET", "/api/v1/trash", "trash_list", BODY_NONE, AUTH_TOKEN,
	  api_trash_list },
	{ "POST", "/api/v1/trash/*/restore", "trash_restore", BODY_JSON,
	  AUTH_TOKEN, api_trash_restore },
	{ "DELETE", "/api/v1/trash/*", "trash_purge", BODY_NONE, AUTH_TOKEN,
	  api_trash_purge },
	{ "GET", "/api/v1/notify", "notify", BODY_NONE, AUTH_TOKEN,
	  api_notify_plain },
	{ "GET", "/metrics", "metrics", BODY_NONE, AUTH_NONE, api_metrics },
};

/* Match path against pattern, capturing '*' segments into c->arg. */
static bool route_match(const char *pat, const char *path, struct api_call *c)
{
	const char *start;
	int n = 0;

	while (*pat) {
		if (*pat == '*') {
			start = path;
			while (*path && *path != '/')
				path++;
			if (path == start)
				return false;
			if (c && n < 2) {
				c->arg[n] = start;
				c->arg_len[n] = (size_t)(path - start);
			}
			n++;
			pat++;
			continue;
		}
		if (*pat != *path)
			return false;
		pat++;
		path++;
	}
	return *path == '\0';
}

/*
 * The route for (method, path), or NULL with *out_err -ENOENT (no such
 * path) or -EOPNOTSUPP (path known, method not).
 */
static const struct api_route *route_find(const char *method, const char *path,
					  struct api_call *c, int *out_err)
{
	bool path_known = false;
	size_t i;

	*out_err = -ENOENT;
	if (!method || !path)
		return NULL;
	for (i = 0; i < CF_ARRAY_SIZE(routes); i++) {
		if (!route_match(routes[i].pattern, path, NULL))
			continue;
		path_known = true;
		if (strcmp(routes[i].method, method) != 0)
			continue;
		if (c)
			route_match(routes[i].pattern, path, c);
		return &routes[i];
	}
	if (path_known)
		*out_err = -EOPNOTSUPP;
	return NULL;
}

static size_t body_cap(const struct srv_api *api, enum api_body body)
{
	switch (body) {
	case BODY_JSON:
		return api->deps.config->json_body_max;
	case BODY_COMMIT:
		return CF_MAX(api->deps.config->manifest_body_max,
			      api->deps.config->json_body_max);
	case BODY_BLOCK:
		/* The account's own cap is checked once the token is known. */
		return BLK_BLOB_SIZE_MAX(BLK_CHUNK_MAX_LIMIT);
	case BODY_NONE:
	default:
		return 0;
	}
}

size_t srv_api_body_limit(const struct srv_api *api, const char *method,
			  const char *path)
{
	const struct api_route *r;
	int err;

	r = route_find(method, path, NULL, &err);
	return r ? body_cap(api, r->body) : 0;
}

/* ----- authentication ----- */

int srv_api_token_precheck(const struct srv_api *api, const char *method,
			   const char *path, const char *token)
{
	uint8_t hash[SRV_TOKEN_HASH_SIZE];
	const struct api_route *r;
	int err, rc;

	(void)api;
	r = route_find(method, path, NULL, &err);
	if (!r || r->auth != AUTH_TOKEN)
		return 0;
	if (!token)
		return -EACCES;
	rc = srv_auth_token_hash(token, strlen(token), hash);
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc == -EACCES ? rc : 0;
}


static int authenticate(struct srv_api *api, const char *token, int64_t now_ns,
			uint8_t out_hash[SRV_TOKEN_HASH_SIZE],
			struct srv_principal *out, uint32_t *out_retry)
{
	struct srv_meta *m = api->deps.meta;
	int rc;

	if (!token)
		return -EACCES;
	rc = srv_auth_token_hash(token, strlen(token), out_hash);
	if (rc < 0)
		return rc;
	rc = m->ops->token_lookup(m, out_hash, &out->user_id, &out->device_id);
	if (rc == -ENOENT)
		return -EACCES;
	if (rc < 0)
		return rc;
	return rate_take(&api->rate, out_hash, now_ns, out_retry);
}

int srv_api_authenticate(struct srv_api *api, const char *token,
			 struct srv_principal *out)
{
	uint8_t hash[SRV_TOKEN_HASH_SIZE];
	uint32_t retry = 0;
	int rc;

	rc = authenticate(api, token, api_now_ns(), hash, out, &retry);
	if (rc < 0 && rc != -EACCES && rc != -EAGAIN)
		rc = -EIO;
	return rc;
}

static int rate_remote(struct api_call *c, uint32_t *out_retry)
{
	static const char label[] = "remote:";
	const char *remote = c->req->remote;
	uint8_t key[32];
	unsigned int n = 0;
	EVP_MD_CTX *md;
	int ok;

	if (!remote)
		return 0;
	md = EVP_MD_CTX_new();
	if (!md)
		return 0;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(md, label, sizeof(label)) &&
	     EVP_DigestUpdate(md, remote, strlen(remote)) &&
	     EVP_DigestFinal_ex(md, key, &n);
	EVP_MD_CTX_free(md);
	if (!ok || n != sizeof(key))
		return 0;
	return rate_take(&c->api->rate, key, c->now_ns, out_retry);
}

static int fail_rate(struct api_call *c, uint32_t retry)
{
	json_t *extra = json_object();
	int rc;

	if (!extra || api_set(extra, "retry_after", json_integer(retry)) < 0) {
		json_decref(extra);
		return -ENOMEM;
	}
	rc = api_fail_code(c, -EAGAIN, 429, "rate_limited", extra,
			   "too many requests: retry in %u s", retry);
	c->resp->retry_after = retry; /* after: the error reply resets resp */
	return rc;
}

/* ----- routes answered here ----- */

static int api_notify_plain(struct api_call *c)
{
	return api_fail_code(c, -EINVAL, 400, "websocket_required", NULL,
			     "this endpoint needs a WebSocket upgrade");
}

static int api_metrics(struct api_call *c)
{
	struct srv_metrics *mx = c->api->deps.metrics;
	struct cf_buf b;
	size_t size = 0;
	int rc;

	if (!mx)
		return api_fail(c, -ENOENT, "metrics are not enabled");
	cf_buf_init(&b, 16u << 20);
	rc = srv_metrics_render(mx, &b);
	if (rc == 0) {
		c->resp->body = (uint8_t *)cf_buf_detach(&b, &size);
		if (!c->resp->body)
			rc = -ENOMEM;
	}
	cf_buf_release(&b);
	if (rc < 0)
		return rc;
	c->resp->body_size = size;
	c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	c->resp->status = 200;
	return 0;
}

/* ----- the entry point ----- */

static int parse_body(struct api_call *c)
{
	json_error_t err;

	if (c->req->body_size == 0) {
		c->body = json_object(); /* no body: every field is absent */
		return c->body ? 0 : -ENOMEM;
	}
	c->body = json_loadb((const char *)c->req->body, c->req->body_size,
			     JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!c->body) {
		if (json_error_code(&err) == json_error_out_of_memory)
			return -ENOMEM;
		return api_fail(c, -EINVAL,
				"malformed JSON at line %d column %d: %s",
				err.line, err.column, err.text);
	}
	if (!json_is_object(c->body))
		return api_fail(c, -EINVAL,
				"the request body must be a JSON object");
	return 0;
}

static int dispatch(struct api_call *c)
{
	const struct srv_request *req = c->req;
	const struct api_route *r;
	uint32_t retry = 0;
	size_t cap;
	int rc;

	r = route_find(req->method, req->path, c, &rc);
	if (!r) {
		if (rc == -EOPNOTSUPP)
			return api_fail(c, rc, "%s is not allowed on this path",
					req->method ? req->method : "(none)");
		return api_fail(c, -ENOENT, "no such endpoint");
	}
	c->resp->route = r->name;
	cap = body_cap(c->api, r->body);
	if (req->body_size > cap)
		return api_fail(c, -EMSGSIZE,
				"the request body is larger than %zu bytes",
				cap);
	if (r->auth == AUTH_TOKEN) {
		rc = authenticate(c->api, req->token, c->now_ns, c->token_hash,
				  &c->who, &retry);
		if (rc == -EACCES)
			return api_fail(c, rc,
					req->token ? "the token is not valid"
						   : "a bearer token is "
						     "required");
	} else if (r->auth == AUTH_REMOTE) {
		rc = rate_remote(c, &retry);
	} else {
		rc = 0;
	}
	if (rc == -EAGAIN)
		return fail_rate(c, retry);
	if (rc < 0)
		return rc;
	if (r->body == BODY_JSON || r->body == BODY_COMMIT) {
		rc = parse_body(c);
		if (rc < 0)
			return rc;
	}
	return r->fn(c);
}

int srv_api_handle(struct srv_api *api, const struct srv_request *req,
		   struct srv_response *resp)
{
	struct api_call c = {
		.api = api,
		.req = req,
		.resp = resp,
		.now_ns = api_now_ns(),
	};
	int rc;

	rc = dispatch(&c);
	json_decref(c.body);
	OPENSSL_cleanse(c.token_hash, sizeof(c.token_hash));
	if (rc < 0 && resp->status == 0) {
		if (srv_errno_to_status(rc) >= 500)
			cf_err("%s %s: %s", req->method ? req->method : "-",
			       resp->route ? resp->route : "-", strerror(-rc));
		rc = srv_response_error(resp, rc, "%s",
					err_lookup(rc)->message);
		if (rc < 0)
			return rc;
	}
	if (!resp->route)
		resp->route = "unknown";
	return 0;
}

/* ----- lifecycle ----- */

int srv_api_new(const struct srv_api_deps *deps, struct srv_api **out)
{
	struct srv_api *api;
	int rc;

	*out = NULL;
	if (!deps || !deps->meta || !deps->blocks || !deps->config)
		return -EINVAL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->deps = *deps;
	rc = rate_init(&api->rate, deps->config->rate_per_second,
		       deps->config->rate_burst);
	if (rc < 0) {
		free(api);
		return rc;
	}
	rc = deps->meta->ops->secret_get(deps->meta, api->secret);
	if (rc < 0) {
		cf_err("cannot read the server secret: %s", strerror(-rc));
		srv_api_free(api);
		return rc;
	}
	*out = api;
	return 0;
}

void srv_api_free(struct srv_api *api)
{
	if (!api)
		return;
	rate_release(&api->rate);
	OPENSSL_cleanse(api->secret, sizeof(api->secret));
	free(api);
}
