/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the API (server/srv_api*.c), driven through
 * srv_api_handle with a real SQLite metadata store and a real local block
 * store in a temp directory: the login flow, every route's success and
 * error paths, isolation between two accounts both ways, and the 400 /
 * 401 / 404 / 405 / 409 / 413 / 429 answers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "blk/codec.h"
#include "blk/keys.h"
#include "blk/manifest.h"
#include "cf_buf.h"
#include "cf_log.h"
#include "srv_api.h"
#include "srv_auth.h"
#include "srv_blocks.h"
#include "srv_config.h"
#include "srv_meta.h"
#include "srv_metrics.h"

struct account {
	char name[32];
	uint8_t auth_key[BLK_KEY_SIZE];
	char token[SRV_TOKEN_HEX_SIZE];
	int64_t user_id, device_id;
};

struct fixture {
	char dir[64];
	struct srv_config cfg;
	struct srv_meta *meta;
	struct srv_blocks *blocks;
	struct srv_metrics *metrics;
	struct srv_api *api;
	struct srv_response resp;
	struct account a, b;
	struct blk_codec *codec;
};

/* ----- plumbing ----- */

static void rm_rf(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", path);
}

static void make_user(struct fixture *f, struct account *acct, const char *name)
{
	struct srv_user u;

	memset(&u, 0, sizeof(u));
	snprintf(acct->name, sizeof(acct->name), "%s", name);
	snprintf(u.name, sizeof(u.name), "%s", name);
	u.kdf = BLK_KDF_PARAMS_DEFAULT;
	assert_int_equal(RAND_bytes(u.kdf_salt, sizeof(u.kdf_salt)), 1);
	assert_int_equal(RAND_bytes(u.auth_salt, sizeof(u.auth_salt)), 1);
	assert_int_equal(RAND_bytes(acct->auth_key, sizeof(acct->auth_key)), 1);
	assert_int_equal(
		srv_auth_key_hash(acct->auth_key, u.auth_salt, u.auth_hash), 0);
	u.chunk_min = BLK_CHUNK_MIN_DEFAULT;
	u.chunk_avg = BLK_CHUNK_AVG_DEFAULT;
	u.chunk_max = BLK_CHUNK_MAX_DEFAULT;
	u.codec = BLK_CODEC_ZSTD;
	assert_int_equal(f->meta->ops->user_create(f->meta, &u), 0);
	acct->user_id = u.id;
}

/* Answer one request; the response stays in f->resp. */
static int call_raw(struct fixture *f, const char *method, const char *path,
		    const char *query, const char *token, const void *body,
		    size_t body_size)
{
	struct srv_request req = {
		.method = method,
		.path = path,
		.query = query ? query : "",
		.token = token,
		.remote = "127.0.0.1",
		.body = body,
		.body_size = body_size,
	};

	srv_response_release(&f->resp);
	assert_int_equal(srv_api_handle(f->api, &req, &f->resp), 0);
	assert_non_null(f->resp.route);
	/* Errors are always JSON with a code and a message. */
	if (f->resp.status >= 400) {
		assert_non_null(f->resp.json);
		assert_true(
			json_is_string(json_object_get(f->resp.json, "error")));
		assert_true(json_is_string(
			json_object_get(f->resp.json, "message")));
	}
	return f->resp.status;
}

/* Answer a request with body j (stolen; NULL = no body). */
static int call(struct fixture *f, const char *method, const char *path,
		const char *query, const char *token, json_t *j)
{
	char *text = NULL;
	int status;

	if (j) {
		text = json_dumps(j, JSON_COMPACT);
		assert_non_null(text);
		json_decref(j);
	}
	status = call_raw(f, method, path, query, token, text,
			  text ? strlen(text) : 0);
	free(text);
	return status;
}

static const char *err_code(struct fixture *f)
{
	return json_string_value(json_object_get(f->resp.json, "error"));
}

static const char *err_msg(struct fixture *f)
{
	return json_string_value(json_object_get(f->resp.json, "message"));
}

static json_int_t jint(struct fixture *f, const char *key)
{
	json_t *v = json_object_get(f->resp.json, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* An integer member of an object member of the reply. */
static json_int_t jint2(struct fixture *f, const char *obj, const char *key)
{
	json_t *v = json_object_get(json_object_get(f->resp.json, obj), key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *jstr(struct fixture *f, const char *key)
{
	json_t *v = json_object_get(f->resp.json, key);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void login(struct fixture *f, struct account *acct)
{
	char key[2 * BLK_KEY_SIZE + 1];

	hex(acct->auth_key, sizeof(acct->auth_key), key);
	assert_int_equal(call(f, "POST", "/api/v1/login", NULL, NULL,
			      json_pack("{s:s, s:s, s:s}", "user", acct->name,
					"auth_key", key, "device", "laptop")),
			 200);
	snprintf(acct->token, sizeof(acct->token), "%s", jstr(f, "token"));
	acct->device_id = jint(f, "device_id");
	assert_int_equal(jint(f, "user_id"), acct->user_id);
}

static int open_api(struct fixture *f)
{
	struct srv_api_deps deps = {
		.meta = f->meta,
		.blocks = f->blocks,
		.notify = NULL,
		.metrics = f->metrics,
		.config = &f->cfg,
	};

	return srv_api_new(&deps, &f->api);
}

static int setup(void **state)
{
	struct blk_volume_keys keys;
	uint8_t vk[BLK_KEY_SIZE];
	char path[128];
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_srv_api.XXXXXX");
	if (!mkdtemp(f->dir) || srv_config_init(&f->cfg) < 0)
		return -1;
	free(f->cfg.data_dir);
	f->cfg.data_dir = strdup(f->dir);
	f->cfg.rate_per_second = 0; /* the rate test sets its own */
	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	if (srv_meta_sqlite_open(path, &f->meta) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/blocks", f->dir);
	if (srv_blocks_local_open(path, &f->blocks) < 0 ||
	    srv_metrics_new(&f->metrics) < 0 || open_api(f) < 0)
		return -1;
	make_user(f, &f->a, "alice");
	make_user(f, &f->b, "bob");
	login(f, &f->a);
	login(f, &f->b);
	/* A client's codec for alice, to make real blocks. */
	if (blk_volume_key_generate(vk) < 0 ||
	    blk_volume_keys_derive(vk, &keys) < 0 ||
	    blk_codec_new(&keys, NULL, &f->codec) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	srv_response_release(&f->resp);
	srv_api_free(f->api);
	srv_blocks_free(f->blocks);
	srv_meta_close(f->meta);
	srv_metrics_free(f->metrics);
	blk_codec_free(f->codec);
	rm_rf(f->dir);
	srv_config_release(&f->cfg);
	free(f);
	return 0;
}

/* A fresh random node id in hex. */
static void new_id(char out[33])
{
	uint8_t id[16];

	assert_int_equal(RAND_bytes(id, sizeof(id)), 1);
	hex(id, sizeof(id), out);
}

static const char root_hex[] = "00000000000000000000000000000000";

/* Create a node of kind under parent; returns the status. */
static int mknode(struct fixture *f, struct account *acct, const char *id,
		  const char *kind, const char *parent, const char *name)
{
	return call(f, "POST", "/api/v1/nodes", NULL, acct->token,
		    json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "id", id,
			      "kind", kind, "parent", parent, "name", name,
			      "mode", 0644, "uid", 1000, "gid", 1000));
}

static void node_path(char *out, size_t size, const char *id,
		      const char *suffix)
{
	snprintf(out, size, "/api/v1/nodes/%s%s", id, suffix);
}

/* Encode chunk into a blob; *blob is the caller's (free()). */
static void make_block(struct fixture *f, const void *chunk, size_t size,
		       uint8_t **blob, size_t *blob_size, struct blk_id *id,
		       char id_hex[BLK_ID_HEX_SIZE])
{
	struct blk_blob b;

	assert_int_equal(blk_codec_encode(f->codec, chunk, size, &b), 0);
	*blob = malloc(b.size);
	assert_non_null(*blob);
	memcpy(*blob, b.data, b.size);
	*blob_size = b.size;
	*id = b.id;
	blk_id_to_hex(&b.id, id_hex);
}

static int put_block(struct fixture *f, struct account *acct,
		     const char *id_hex, const uint8_t *blob, size_t size)
{
	char path[256];

	snprintf(path, sizeof(path), "/api/v1/blocks/%s", id_hex);
	return call_raw(f, "PUT", path, NULL, acct->token, blob, size);
}

/* A manifest of (id, size) pairs in base64, for commits. */
static char *manifest_b64(const struct blk_id *ids, const uint32_t *sizes,
			  size_t count, uint64_t *file_size)
{
	struct blk_manifest m;
	struct cf_buf b;
	char *out;
	size_t i;

	blk_manifest_init(&m);
	for (i = 0; i < count; i++)
		assert_int_equal(blk_manifest_add(&m, &ids[i], sizes[i]), 0);
	*file_size = m.file_size;
	cf_buf_init(&b, 1 << 20);
	assert_int_equal(blk_manifest_encode(&m, &b), 0);
	out = malloc(b.len / 3 * 4 + 8);
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)b.data,
			(int)b.len);
	cf_buf_release(&b);
	blk_manifest_release(&m);
	return out;
}

static int commit(struct fixture *f, struct account *acct, const char *id,
		  uint64_t base, uint64_t size, const char *manifest)
{
	char path[128], tag[65];

	memset(tag, 'a', 64);
	tag[64] = '\0';
	node_path(path, sizeof(path), id, "/commit");
	return call(f, "POST", path, NULL, acct->token,
		    json_pack("{s:I, s:I, s:I, s:s, s:s}", "base_version",
			      (json_int_t)base, "size", (json_int_t)size,
			      "mtime", (json_int_t)1700000000000000000ll,
			      "manifest", manifest, "tag", tag));
}

/* ----- accounts ----- */

static void test_srv_api__prelogin(void **state)
{
	struct fixture *f = *state;
	char salt1[64], salt2[64];

	assert_int_equal(call(f, "POST", "/api/v1/prelogin", NULL, NULL,
			      json_pack("{s:s}", "user", "alice")),
			 200);
	assert_int_equal(strlen(jstr(f, "salt")), 32);
	assert_int_equal(jint2(f, "kdf", "n"), BLK_KDF_PARAMS_DEFAULT.n);

	/* Unknown users get a stable salt that looks like a real one. */
	assert_int_equal(call(f, "POST", "/api/v1/prelogin", NULL, NULL,
			      json_pack("{s:s}", "user", "nobody")),
			 200);
	snprintf(salt1, sizeof(salt1), "%s", jstr(f, "salt"));
	assert_int_equal(strlen(salt1), 32);
	assert_int_equal(call(f, "POST", "/api/v1/prelogin", NULL, NULL,
			      json_pack("{s:s}", "user", "nobody")),
			 200);
	assert_string_equal(jstr(f, "salt"), salt1);
	assert_int_equal(call(f, "POST", "/api/v1/prelogin", NULL, NULL,
			      json_pack("{s:s}", "user", "nobody2")),
			 200);
	snprintf(salt2, sizeof(salt2), "%s", jstr(f, "salt"));
	assert_string_not_equal(salt1, salt2);
	assert_non_null(json_object_get(f->resp.json, "kdf"));

	assert_int_equal(call(f, "POST", "/api/v1/prelogin", NULL, NULL,
			      json_pack("{s:s}", "user", "no/slash")),
			 400);
	assert_int_equal(call(f, "POST", "/api/v1/prelogin", NULL, NULL,
			      json_pack("{}")),
			 400);
	assert_non_null(strstr(err_msg(f), "'user'"));
}

static void test_srv_api__login(void **state)
{
	struct fixture *f = *state;
	char key[65], bad[65];

	hex(f->a.auth_key, 32, key);
	assert_int_equal(call(f, "POST", "/api/v1/login", NULL, NULL,
			      json_pack("{s:s, s:s, s:s}", "user", "alice",
					"auth_key", key, "device", "phone")),
			 200);
	assert_int_equal(strlen(jstr(f, "token")), 64);
	assert_string_equal(jstr(f, "root"), root_hex);
	assert_string_equal(jstr(f, "codec"), "zstd");
	assert_int_equal(jint2(f, "chunk", "max"), BLK_CHUNK_MAX_DEFAULT);
	assert_true(jint(f, "cursor") >= 1);
	assert_true(jint(f, "device_id") != f->a.device_id);

	snprintf(bad, sizeof(bad), "%s", key);
	bad[0] = bad[0] == '0' ? '1' : '0';
	assert_int_equal(call(f, "POST", "/api/v1/login", NULL, NULL,
			      json_pack("{s:s, s:s, s:s}", "user", "alice",
					"auth_key", bad, "device", "x")),
			 401);
	assert_string_equal(err_code(f), "unauthorized");
	assert_int_equal(call(f, "POST", "/api/v1/login", NULL, NULL,
			      json_pack("{s:s, s:s, s:s}", "user", "nobody",
					"auth_key", key, "device", "x")),
			 401);
	assert_int_equal(
		call(f, "POST", "/api/v1/login", NULL, NULL,
		     json_pack("{s:s, s:s}", "user", "alice", "auth_key", key)),
		400);
	assert_non_null(strstr(err_msg(f), "'device'"));
	assert_int_equal(call(f, "POST", "/api/v1/login", NULL, NULL,
			      json_pack("{s:s, s:s, s:s}", "user", "alice",
					"auth_key", "abcd", "device", "x")),
			 400);
	assert_non_null(strstr(err_msg(f), "'auth_key'"));
	assert_int_equal(call(f, "POST", "/api/v1/login", NULL, NULL,
			      json_pack("{s:s, s:i, s:s}", "user", "alice",
					"auth_key", 5, "device", "x")),
			 400);
	assert_int_equal(call(f, "POST", "/api/v1/login", NULL, NULL,
			      json_pack("{s:s, s:s, s:s}", "user", "alice",
					"auth_key", key, "device", "..")),
			 400);
	assert_string_equal(err_code(f), "bad_name");
}

static void test_srv_api__tokens(void **state)
{
	struct fixture *f = *state;
	char bad[SRV_TOKEN_HEX_SIZE];

	assert_int_equal(call(f, "GET", "/api/v1/account", NULL, NULL, NULL),
			 401);
	assert_string_equal(err_code(f), "unauthorized");
	assert_int_equal(call(f, "GET", "/api/v1/account", NULL, "zz", NULL),
			 401);
	snprintf(bad, sizeof(bad), "%s", f->a.token);
	bad[5] = bad[5] == 'a' ? 'b' : 'a';
	assert_int_equal(call(f, "GET", "/api/v1/account", NULL, bad, NULL),
			 401);

	assert_int_equal(
		call(f, "GET", "/api/v1/account", NULL, f->a.token, NULL), 200);
	assert_string_equal(jstr(f, "user"), "alice");
	assert_int_equal(jint(f, "max_file_size"), f->cfg.max_file_size);
	assert_int_equal(jint(f, "usage"), 0);

	assert_int_equal(
		call(f, "POST", "/api/v1/logout", NULL, f->a.token, NULL), 204);
	assert_null(f->resp.json);
	assert_int_equal(
		call(f, "GET", "/api/v1/account", NULL, f->a.token, NULL), 401);
	/* bob is not affected */
	assert_int_equal(
		call(f, "GET", "/api/v1/account", NULL, f->b.token, NULL), 200);
}

static void test_srv_api__authenticate(void **state)
{
	struct fixture *f = *state;
	struct srv_principal p;

	assert_int_equal(srv_api_authenticate(f->api, f->a.token, &p), 0);
	assert_int_equal(p.user_id, f->a.user_id);
	assert_int_equal(p.device_id, f->a.device_id);
	assert_int_equal(srv_api_authenticate(f->api, "00", &p), -EACCES);
	assert_int_equal(srv_api_authenticate(f->api, NULL, &p), -EACCES);
}

static void test_srv_api__wrapped_key(void **state)
{
	struct fixture *f = *state;
	char key[2 * BLK_WRAPPED_KEY_SIZE + 1];

	memset(key, 'c', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(call(f, "GET", "/api/v1/key", NULL, f->a.token, NULL),
			 404);
	assert_int_equal(call(f, "PUT", "/api/v1/key", NULL, f->a.token,
			      json_pack("{s:s}", "wrapped_key", key)),
			 204);
	assert_int_equal(call(f, "GET", "/api/v1/key", NULL, f->a.token, NULL),
			 200);
	assert_string_equal(jstr(f, "wrapped_key"), key);
	key[0] = 'd';
	assert_int_equal(call(f, "PUT", "/api/v1/key", NULL, f->a.token,
			      json_pack("{s:s}", "wrapped_key", key)),
			 409);
	assert_string_equal(err_code(f), "exists");
	assert_int_equal(
		call(f, "PUT", "/api/v1/key", NULL, f->a.token,
		     json_pack("{s:s, s:b}", "wrapped_key", key, "replace", 1)),
		204);
	assert_int_equal(call(f, "GET", "/api/v1/key", NULL, f->a.token, NULL),
			 200);
	assert_string_equal(jstr(f, "wrapped_key"), key);
	/* bob has none */
	assert_int_equal(call(f, "GET", "/api/v1/key", NULL, f->b.token, NULL),
			 404);
	assert_int_equal(call(f, "PUT", "/api/v1/key", NULL, f->a.token,
			      json_pack("{s:s}", "wrapped_key", "abc")),
			 400);
	assert_int_equal(call(f, "PUT", "/api/v1/key", NULL, f->a.token,
			      json_pack("{s:s, s:s}", "wrapped_key", key,
					"replace", "yes")),
			 400);
	assert_non_null(strstr(err_msg(f), "'replace'"));
}

/* ----- routing and bodies ----- */

static void test_srv_api__routing(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(call(f, "GET", "/api/v1/nope", NULL, f->a.token, NULL),
			 404);
	assert_string_equal(err_code(f), "not_found");
	assert_int_equal(
		call(f, "DELETE", "/api/v1/account", NULL, f->a.token, NULL),
		405);
	assert_int_equal(
		call(f, "GET", "/api/v1/nodes/", NULL, f->a.token, NULL), 404);
	assert_int_equal(call_raw(f, "POST", "/api/v1/nodes", NULL, f->a.token,
				  "{\"id\":", 6),
			 400);
	assert_non_null(strstr(err_msg(f), "malformed JSON"));
	assert_int_equal(call_raw(f, "POST", "/api/v1/nodes", NULL, f->a.token,
				  "[1,2]", 5),
			 400);
	assert_int_equal(call_raw(f, "POST", "/api/v1/nodes", NULL, f->a.token,
				  "{\"a\":1,\"a\":2}", 13),
			 400);
	assert_int_equal(
		call(f, "GET", "/api/v1/notify", NULL, f->a.token, NULL), 400);
	assert_int_equal(call(f, "GET", "/metrics", NULL, NULL, NULL), 200);
	assert_non_null(f->resp.body);
	assert_string_equal(f->resp.route, "metrics");
	assert_int_equal(call(f, "GET", NULL, NULL, NULL, NULL), 404);
}

static void test_srv_api__body_limits(void **state)
{
	struct fixture *f = *state;
	size_t big = f->cfg.json_body_max + 1;
	char *body;

	assert_int_equal(srv_api_body_limit(f->api, "POST", "/api/v1/nodes"),
			 f->cfg.json_body_max);
	assert_int_equal(srv_api_body_limit(f->api, "GET", "/api/v1/account"),
			 0);
	assert_int_equal(
		srv_api_body_limit(f->api, "PUT", "/api/v1/blocks/abc"),
		BLK_BLOB_SIZE_MAX(BLK_CHUNK_MAX_LIMIT));
	assert_true(
		srv_api_body_limit(f->api, "POST", "/api/v1/nodes/x/commit") >=
		f->cfg.json_body_max);
	assert_int_equal(srv_api_body_limit(f->api, "GET", "/nowhere"), 0);

	body = malloc(big);
	assert_non_null(body);
	memset(body, ' ', big);
	assert_int_equal(call_raw(f, "POST", "/api/v1/nodes", NULL, f->a.token,
				  body, big),
			 413);
	assert_string_equal(err_code(f), "too_large");
	assert_int_equal(call_raw(f, "GET", "/api/v1/account", NULL, f->a.token,
				  body, 1),
			 413);
	free(body);
}

static void test_srv_api__rate_limit(void **state)
{
	struct fixture *f = *state;
	int i;

	srv_api_free(f->api);
	f->cfg.rate_per_second = 1;
	f->cfg.rate_burst = 3;
	assert_int_equal(open_api(f), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(call(f, "GET", "/api/v1/account", NULL,
				      f->a.token, NULL),
				 200);
	assert_int_equal(
		call(f, "GET", "/api/v1/account", NULL, f->a.token, NULL), 429);
	assert_string_equal(err_code(f), "rate_limited");
	assert_true(jint(f, "retry_after") >= 1);
	assert_true(f->resp.retry_after >= 1);
	/* Per token: bob still has his bucket. */
	assert_int_equal(
		call(f, "GET", "/api/v1/account", NULL, f->b.token, NULL), 200);
	/* The WebSocket upgrade counts too. */
	{
		struct srv_principal p;

		assert_int_equal(srv_api_authenticate(f->api, f->a.token, &p),
				 -EAGAIN);
	}
	/* Logins are limited per peer address. */
	for (i = 0; i < 5; i++)
		call(f, "POST", "/api/v1/prelogin", NULL, NULL,
		     json_pack("{s:s}", "user", "x"));
	assert_int_equal(f->resp.status, 429);
}

/* ----- the tree ----- */

static void test_srv_api__create_every_kind(void **state)
{
	struct fixture *f = *state;
	const char *kinds[] = { "file", "dir", "fifo", "sock" };
	char id[33], path[128];
	size_t i;

	for (i = 0; i < 4; i++) {
		new_id(id);
		assert_int_equal(
			mknode(f, &f->a, id, kinds[i], root_hex, kinds[i]),
			201);
		assert_string_equal(
			json_string_value(json_object_get(
				json_object_get(f->resp.json, "node"), "kind")),
			kinds[i]);
		assert_true(jint(f, "cursor") > 1);
	}
	new_id(id);
	assert_int_equal(
		call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, "
			       "s:s}",
			       "id", id, "kind", "symlink", "parent", root_hex,
			       "name", "link", "mode", 0777, "uid", 0, "gid", 0,
			       "target", "../some where")),
		201);
	node_path(path, sizeof(path), id, "");
	assert_int_equal(call(f, "GET", path, NULL, f->a.token, NULL), 200);
	assert_string_equal(jstr(f, "target"), "../some where");
	assert_int_equal(jint(f, "size"), 13);
	new_id(id);
	assert_int_equal(call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, "
					"s:i}",
					"id", id, "kind", "chr", "parent",
					root_hex, "name", "tty", "mode", 0620,
					"uid", 0, "gid", 5, "rdev", 1025)),
			 201);
	assert_int_equal(jint2(f, "node", "rdev"), 1025);
	new_id(id);
	assert_int_equal(
		call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, "
			       "s:I}",
			       "id", id, "kind", "blk", "parent", root_hex,
			       "name", "sda", "mode", 0660, "uid", 0, "gid", 6,
			       "mtime", (json_int_t)123456789)),
		201);
	assert_int_equal(jint2(f, "node", "mtime"), 123456789);

	/* Symlinks need a target; others may not have one. */
	new_id(id);
	assert_int_equal(mknode(f, &f->a, id, "symlink", root_hex, "l2"), 400);
	assert_non_null(strstr(err_msg(f), "'target'"));
	assert_int_equal(call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, "
					"s:s}",
					"id", id, "kind", "file", "parent",
					root_hex, "name", "t", "mode", 0644,
					"uid", 0, "gid", 0, "target", "x")),
			 400);
	assert_int_equal(mknode(f, &f->a, id, "door", root_hex, "d"), 400);
	assert_non_null(strstr(err_msg(f), "'kind'"));
}

static void test_srv_api__create_errors(void **state)
{
	struct fixture *f = *state;
	char id[33], id2[33], file[33], name[300];
	json_t *j;

	new_id(id);
	assert_int_equal(mknode(f, &f->a, id, "dir", root_hex, "d"), 201);
	new_id(id2);
	assert_int_equal(mknode(f, &f->a, id2, "dir", root_hex, "d"), 409);
	assert_string_equal(err_code(f), "exists");
	assert_int_equal(mknode(f, &f->a, id, "dir", root_hex, "e"), 409);
	assert_int_equal(mknode(f, &f->a, id2, "dir", id2, "e"), 404);
	new_id(file);
	assert_int_equal(mknode(f, &f->a, file, "file", root_hex, "f"), 201);
	assert_int_equal(mknode(f, &f->a, id2, "dir", file, "e"), 409);
	assert_string_equal(err_code(f), "not_a_directory");
	assert_int_equal(mknode(f, &f->a, root_hex, "dir", root_hex, "r"), 400);

	/* Bad names. */
	assert_int_equal(mknode(f, &f->a, id2, "dir", root_hex, "a/b"), 400);
	assert_string_equal(err_code(f), "bad_name");
	assert_int_equal(mknode(f, &f->a, id2, "dir", root_hex, "."), 400);
	assert_int_equal(mknode(f, &f->a, id2, "dir", root_hex, ".."), 400);
	assert_int_equal(mknode(f, &f->a, id2, "dir", root_hex, ""), 400);
	memset(name, 'n', 256);
	name[256] = '\0';
	assert_int_equal(mknode(f, &f->a, id2, "dir", root_hex, name), 400);
	assert_string_equal(err_code(f), "name_too_long");
	name[255] = '\0';
	assert_int_equal(mknode(f, &f->a, id2, "dir", root_hex, name), 201);
	j = json_pack("{s:s, s:s, s:s, s:s#, s:i, s:i, s:i}", "id", id2, "kind",
		      "dir", "parent", root_hex, "name", "a\0b", (size_t)3,
		      "mode", 0755, "uid", 0, "gid", 0);
	assert_int_equal(call(f, "POST", "/api/v1/nodes", NULL, f->a.token, j),
			 400);
	assert_string_equal(err_code(f), "bad_name");

	/* Wrong types and ranges name the field. */
	new_id(id2);
	assert_int_equal(
		call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "id", id2,
			       "kind", "dir", "parent", root_hex, "name", "m",
			       "mode", "0755", "uid", 0, "gid", 0)),
		400);
	assert_non_null(strstr(err_msg(f), "'mode'"));
	assert_int_equal(
		call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "id", id2,
			       "kind", "dir", "parent", root_hex, "name", "m",
			       "mode", 070000, "uid", 0, "gid", 0)),
		400);
	assert_int_equal(
		call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "id", id2,
			       "kind", "dir", "parent", root_hex, "name", "m",
			       "mode", 0755, "uid", -1, "gid", 0)),
		400);
	assert_non_null(strstr(err_msg(f), "'uid'"));
	assert_int_equal(call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}", "id",
					id2, "kind", "dir", "parent", root_hex,
					"mode", 0755, "uid", 0, "gid", 0)),
			 400);
	assert_non_null(strstr(err_msg(f), "'name'"));
	assert_int_equal(
		call(f, "POST", "/api/v1/nodes", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "id",
			       "xyz", "kind", "dir", "parent", root_hex, "name",
			       "m", "mode", 0755, "uid", 0, "gid", 0)),
		400);
	assert_non_null(strstr(err_msg(f), "'id'"));
}

static void test_srv_api__stat_and_list(void **state)
{
	struct fixture *f = *state;
	char d[33], x[33], path[128], q[128], long_q[5200];
	json_t *entries;
	int i;

	new_id(d);
	assert_int_equal(mknode(f, &f->a, d, "dir", root_hex, "docs"), 201);
	for (i = 0; i < 5; i++) {
		char name[16];

		new_id(x);
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(mknode(f, &f->a, x, "file", d, name), 201);
	}
	new_id(x);
	assert_int_equal(mknode(f, &f->a, x, "file", d, "a b+c"), 201);

	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/", f->a.token, NULL),
		200);
	assert_string_equal(jstr(f, "id"), root_hex);
	assert_string_equal(jstr(f, "kind"), "dir");
	assert_int_equal(call(f, "GET", "/api/v1/stat", "path=%2Fdocs%2Ff3",
			      f->a.token, NULL),
			 200);
	assert_string_equal(jstr(f, "kind"), "file");
	assert_int_equal(call(f, "GET", "/api/v1/stat",
			      "x=1&path=/docs/a+b%2Bc&y", f->a.token, NULL),
			 200);
	assert_string_equal(jstr(f, "id"), x);
	assert_int_equal(call(f, "GET", "/api/v1/stat", "path=/docs/zz",
			      f->a.token, NULL),
			 404);
	assert_int_equal(call(f, "GET", "/api/v1/stat", "path=/docs/f1/x",
			      f->a.token, NULL),
			 409);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=docs", f->a.token, NULL),
		400);
	assert_int_equal(call(f, "GET", "/api/v1/stat", "path=/docs/..",
			      f->a.token, NULL),
			 400);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/a%00b", f->a.token, NULL),
		400);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/a%zz", f->a.token, NULL),
		400);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/a%2", f->a.token, NULL),
		400);
	assert_int_equal(call(f, "GET", "/api/v1/stat", NULL, f->a.token, NULL),
			 400);
	assert_non_null(strstr(err_msg(f), "'path'"));
	snprintf(long_q, sizeof(long_q), "path=");
	for (i = 0; i < 2100; i++) {
		size_t l = strlen(long_q);

		long_q[l] = '/';
		long_q[l + 1] = 'a';
		long_q[l + 2] = '\0';
	}
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", long_q, f->a.token, NULL), 400);
	assert_string_equal(err_code(f), "name_too_long");

	assert_int_equal(
		call(f, "GET", "/api/v1/list", "path=/docs", f->a.token, NULL),
		200);
	entries = json_object_get(f->resp.json, "entries");
	assert_int_equal(json_array_size(entries), 6);
	assert_false(json_is_true(json_object_get(f->resp.json, "more")));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(entries, 0), "name")),
			    "a b+c");
	assert_true(json_is_object(
		json_object_get(json_array_get(entries, 0), "node")));

	node_path(path, sizeof(path), d, "/children");
	assert_int_equal(call(f, "GET", path, "limit=2", f->a.token, NULL),
			 200);
	entries = json_object_get(f->resp.json, "entries");
	assert_int_equal(json_array_size(entries), 2);
	assert_true(json_is_true(json_object_get(f->resp.json, "more")));
	assert_int_equal(
		call(f, "GET", path, "limit=2&after=f2", f->a.token, NULL),
		200);
	entries = json_object_get(f->resp.json, "entries");
	assert_int_equal(json_array_size(entries), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(entries, 0), "name")),
			    "f3");
	assert_false(json_is_true(json_object_get(f->resp.json, "more")));
	assert_int_equal(call(f, "GET", path, "limit=-1", f->a.token, NULL),
			 400);
	assert_int_equal(call(f, "GET", path, "limit=100000", f->a.token, NULL),
			 400);
	snprintf(q, sizeof(q), "path=/docs/f1");
	assert_int_equal(call(f, "GET", "/api/v1/list", q, f->a.token, NULL),
			 409);
	assert_int_equal(call(f, "GET", "/api/v1/nodes/zz/children", NULL,
			      f->a.token, NULL),
			 400);
	node_path(path, sizeof(path), x, "");
	path[strlen(path) - 1] = path[strlen(path) - 1] == '0' ? '1' : '0';
	assert_int_equal(call(f, "GET", path, NULL, f->a.token, NULL), 404);
}

static void test_srv_api__patch(void **state)
{
	struct fixture *f = *state;
	char id[33], path[128];

	new_id(id);
	assert_int_equal(mknode(f, &f->a, id, "file", root_hex, "p"), 201);
	node_path(path, sizeof(path), id, "");
	assert_int_equal(call(f, "PATCH", path, NULL, f->a.token,
			      json_pack("{s:i, s:i, s:I}", "mode", 0600, "gid",
					7, "mtime", (json_int_t)42)),
			 200);
	assert_int_equal(jint2(f, "node", "mode"), 0600);
	assert_int_equal(jint2(f, "node", "gid"), 7);
	assert_int_equal(jint2(f, "node", "uid"), 1000);
	assert_int_equal(jint2(f, "node", "mtime"), 42);
	assert_true(jint(f, "cursor") > 0);
	assert_int_equal(call(f, "PATCH", path, NULL, f->a.token,
			      json_pack("{s:i}", "size", 0)),
			 400);
	assert_non_null(strstr(err_msg(f), "'size'"));
	assert_int_equal(
		call(f, "PATCH", path, NULL, f->a.token, json_pack("{}")), 400);
	assert_int_equal(call(f, "PATCH", path, NULL, f->a.token,
			      json_pack("{s:b}", "mode", 1)),
			 400);
	assert_int_equal(call(f, "PATCH", path, NULL, f->b.token,
			      json_pack("{s:i}", "mode", 0)),
			 404);
}

static void test_srv_api__links_unlink_trash(void **state)
{
	struct fixture *f = *state;
	char d[33], x[33], sub[33], path[128];
	json_t *items;

	new_id(d);
	new_id(x);
	new_id(sub);
	assert_int_equal(mknode(f, &f->a, d, "dir", root_hex, "d"), 201);
	assert_int_equal(mknode(f, &f->a, x, "file", d, "x"), 201);
	assert_int_equal(call(f, "POST", "/api/v1/entries", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s}", "parent", root_hex,
					"name", "x-link", "node", x)),
			 201);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(f->resp.json, "entry"), "name")),
		"x-link");
	assert_int_equal(jint2(f, "node", "nlink"), 2);
	assert_int_equal(call(f, "POST", "/api/v1/entries", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s}", "parent", root_hex,
					"name", "d-link", "node", d)),
			 403);
	/* the same link again (a retry): done, nothing added */
	assert_int_equal(call(f, "POST", "/api/v1/entries", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s}", "parent", root_hex,
					"name", "x-link", "node", x)),
			 201);
	assert_int_equal(jint2(f, "node", "nlink"), 2);
	/* a name another node holds */
	assert_int_equal(call(f, "POST", "/api/v1/entries", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s}", "parent", root_hex,
					"name", "d", "node", x)),
			 409);
	assert_string_equal(
		json_string_value(json_object_get(f->resp.json, "error")),
		"exists");

	/* unlink one link: the node lives on */
	assert_int_equal(call(f, "DELETE", "/api/v1/entries", NULL, f->a.token,
			      json_pack("{s:s, s:s}", "parent", root_hex,
					"name", "x-link")),
			 200);
	assert_true(jint(f, "cursor") > 0);
	assert_int_equal(call(f, "DELETE", "/api/v1/entries", NULL, f->a.token,
			      json_pack("{s:s, s:s}", "parent", root_hex,
					"name", "x-link")),
			 404);
	/* rmdir rules */
	assert_int_equal(
		call(f, "DELETE", "/api/v1/entries", NULL, f->a.token,
		     json_pack("{s:s, s:s}", "parent", root_hex, "name", "d")),
		409);
	assert_string_equal(err_code(f), "is_a_directory");
	assert_int_equal(call(f, "DELETE", "/api/v1/entries", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:b}", "parent", root_hex,
					"name", "d", "dir", 1)),
			 409);
	assert_string_equal(err_code(f), "not_empty");
	assert_int_equal(
		call(f, "DELETE", "/api/v1/entries", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:b, s:b}", "parent", root_hex,
			       "name", "d", "dir", 1, "recursive", 1)),
		200);

	assert_int_equal(
		call(f, "GET", "/api/v1/trash", NULL, f->a.token, NULL), 200);
	items = json_object_get(f->resp.json, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(items, 0), "node")),
			    d);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(items, 0), "name")),
			    "d");
	assert_true(json_integer_value(json_object_get(json_array_get(items, 0),
						       "deleted")) > 0);

	/* bob sees no trash and cannot restore alice's */
	assert_int_equal(
		call(f, "GET", "/api/v1/trash", NULL, f->b.token, NULL), 200);
	assert_int_equal(
		json_array_size(json_object_get(f->resp.json, "items")), 0);
	snprintf(path, sizeof(path), "/api/v1/trash/%s/restore", d);
	assert_int_equal(call(f, "POST", path, NULL, f->b.token, NULL), 404);

	/* restore to the original place, then under another name */
	assert_int_equal(call(f, "POST", path, NULL, f->a.token, NULL), 200);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/d/x", f->a.token, NULL),
		200);
	assert_int_equal(
		call(f, "DELETE", "/api/v1/entries", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:b, s:b}", "parent", root_hex,
			       "name", "d", "dir", 1, "recursive", 1)),
		200);
	assert_int_equal(mknode(f, &f->a, sub, "file", root_hex, "d"), 201);
	assert_int_equal(call(f, "POST", path, NULL, f->a.token, NULL), 409);
	assert_int_equal(call(f, "POST", path, NULL, f->a.token,
			      json_pack("{s:s}", "name", "d2")),
			 400);
	assert_int_equal(
		call(f, "POST", path, NULL, f->a.token,
		     json_pack("{s:s, s:s}", "parent", root_hex, "name", "d2")),
		200);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/d2/x", f->a.token, NULL),
		200);

	/* purge */
	assert_int_equal(
		call(f, "DELETE", "/api/v1/entries", NULL, f->a.token,
		     json_pack("{s:s, s:s}", "parent", root_hex, "name", "d")),
		200);
	snprintf(path, sizeof(path), "/api/v1/trash/%s", sub);
	assert_int_equal(call(f, "DELETE", path, NULL, f->b.token, NULL), 404);
	assert_int_equal(call(f, "DELETE", path, NULL, f->a.token, NULL), 200);
	assert_int_equal(call(f, "DELETE", path, NULL, f->a.token, NULL), 404);
}

static void test_srv_api__rename(void **state)
{
	struct fixture *f = *state;
	char d[33], e[33], x[33], y[33];

	new_id(d);
	new_id(e);
	new_id(x);
	new_id(y);
	assert_int_equal(mknode(f, &f->a, d, "dir", root_hex, "d"), 201);
	assert_int_equal(mknode(f, &f->a, e, "dir", d, "e"), 201);
	assert_int_equal(mknode(f, &f->a, x, "file", root_hex, "x"), 201);
	assert_int_equal(mknode(f, &f->a, y, "file", root_hex, "y"), 201);

	assert_int_equal(call(f, "POST", "/api/v1/rename", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s, s:s}", "src_parent",
					root_hex, "src_name", "x", "dst_parent",
					d, "dst_name", "x2")),
			 200);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/d/x2", f->a.token, NULL),
		200);
	assert_string_equal(jstr(f, "id"), x);
	assert_int_equal(
		call(f, "POST", "/api/v1/rename", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:b}", "src_parent",
			       root_hex, "src_name", "y", "dst_parent", d,
			       "dst_name", "x2", "noreplace", 1)),
		409);
	assert_int_equal(
		call(f, "POST", "/api/v1/rename", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:b}", "src_parent",
			       root_hex, "src_name", "y", "dst_parent", d,
			       "dst_name", "x2", "exchange", 1)),
		200);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/y", f->a.token, NULL),
		200);
	assert_string_equal(jstr(f, "id"), x);
	assert_int_equal(
		call(f, "POST", "/api/v1/rename", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "src_parent",
			       root_hex, "src_name", "y", "dst_parent", d,
			       "dst_name", "z", "exchange", 1, "noreplace", 1)),
		400);
	/* a directory under itself */
	assert_int_equal(call(f, "POST", "/api/v1/rename", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s, s:s}", "src_parent",
					root_hex, "src_name", "d", "dst_parent",
					e, "dst_name", "d")),
			 400);
	assert_int_equal(call(f, "POST", "/api/v1/rename", NULL, f->a.token,
			      json_pack("{s:s, s:s, s:s, s:s}", "src_parent",
					root_hex, "src_name", "nope",
					"dst_parent", e, "dst_name", "d")),
			 404);
	assert_int_equal(
		call(f, "POST", "/api/v1/rename", NULL, f->a.token,
		     json_pack("{s:s, s:s, s:s}", "src_parent", root_hex,
			       "src_name", "y", "dst_parent", e)),
		400);
	assert_non_null(strstr(err_msg(f), "'dst_name'"));
	/* bob cannot move alice's entries */
	assert_int_equal(call(f, "POST", "/api/v1/rename", NULL, f->b.token,
			      json_pack("{s:s, s:s, s:s, s:s}", "src_parent", d,
					"src_name", "x2", "dst_parent",
					root_hex, "dst_name", "stolen")),
			 404);
}

/* POST /rename with "replaces": the node the client expects at the target. */
static int rename_replaces(struct fixture *f, const char *sn, const char *dn,
			   const char *replaces, int noreplace)
{
	return call(f, "POST", "/api/v1/rename", NULL, f->a.token,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "src_parent",
			      root_hex, "src_name", sn, "dst_parent", root_hex,
			      "dst_name", dn, "replaces", replaces, "noreplace",
			      noreplace));
}

static void test_srv_api__rename_replaces(void **state)
{
	struct fixture *f = *state;
	char x[33], y[33], z[33];

	new_id(x);
	new_id(y);
	new_id(z);
	assert_int_equal(mknode(f, &f->a, x, "file", root_hex, "x"), 201);
	assert_int_equal(mknode(f, &f->a, y, "file", root_hex, "y"), 201);

	/* another node at the target: 409, and nothing moved */
	assert_int_equal(rename_replaces(f, "x", "y", z, 0), 409);
	assert_string_equal(err_code(f), "exists");
	assert_non_null(strstr(err_msg(f), "another node"));
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/y", f->a.token, NULL),
		200);
	assert_string_equal(jstr(f, "id"), y);
	/* malformed, or together with noreplace: 400 */
	assert_int_equal(rename_replaces(f, "x", "y", "12ab", 0), 400);
	assert_non_null(strstr(err_msg(f), "'replaces'"));
	assert_int_equal(rename_replaces(f, "x", "y", y, 1), 400);
	assert_non_null(strstr(err_msg(f), "noreplace and replaces"));
	/* the expected node: replaced */
	assert_int_equal(rename_replaces(f, "x", "y", y, 0), 200);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/y", f->a.token, NULL),
		200);
	assert_string_equal(jstr(f, "id"), x);
	/* a free target: a plain move */
	assert_int_equal(rename_replaces(f, "y", "w", z, 0), 200);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/w", f->a.token, NULL),
		200);
	assert_string_equal(jstr(f, "id"), x);
}

/* POST /rename and DELETE /entries in the root, naming node (a string) */
static int rename_node(struct fixture *f, const char *sn, const char *dn,
		       const char *node)
{
	return call(f, "POST", "/api/v1/rename", NULL, f->a.token,
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "src_parent",
			      root_hex, "src_name", sn, "dst_parent", root_hex,
			      "dst_name", dn, "node", node));
}

static int unlink_node(struct fixture *f, const char *name, const char *node)
{
	return call(f, "DELETE", "/api/v1/entries", NULL, f->a.token,
		    json_pack("{s:s, s:s, s:s}", "parent", root_hex, "name",
			      name, "node", node));
}

/* "node" on rename and unlink: the node the client expects at the name. */
static void test_srv_api__rename_unlink_name_their_node(void **state)
{
	struct fixture *f = *state;
	char x[33], y[33];

	new_id(x);
	new_id(y);
	assert_int_equal(mknode(f, &f->a, x, "file", root_hex, "x"), 201);

	/* another node at the source: 404, nothing moved or removed */
	assert_int_equal(rename_node(f, "x", "x2", y), 404);
	assert_non_null(strstr(err_msg(f), "holding 'node'"));
	assert_int_equal(unlink_node(f, "x", y), 404);
	assert_non_null(strstr(err_msg(f), "holding 'node'"));
	assert_int_equal(unlink_node(f, "x", "zz"), 400);
	assert_non_null(strstr(err_msg(f), "'node'"));
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/x", f->a.token, NULL),
		200);
	assert_string_equal(jstr(f, "id"), x);

	/* the named node: moved, then removed */
	assert_int_equal(rename_node(f, "x", "x2", x), 200);
	assert_int_equal(unlink_node(f, "x2", x), 200);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/x2", f->a.token, NULL),
		404);
}

static void test_srv_api__changes(void **state)
{
	struct fixture *f = *state;
	char d[33];
	json_int_t next;
	int i, total = 0;

	for (i = 0; i < 4; i++) {
		char name[8];

		new_id(d);
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(mknode(f, &f->a, d, "dir", root_hex, name),
				 201);
	}
	assert_int_equal(
		call(f, "GET", "/api/v1/changes", "since=0", f->a.token, NULL),
		200);
	assert_true(json_array_size(json_object_get(f->resp.json, "nodes")) >=
		    5);
	assert_int_equal(
		json_array_size(json_object_get(f->resp.json, "entries")), 4);
	assert_false(json_is_true(json_object_get(f->resp.json, "more")));
	next = jint(f, "next");

	/* paging */
	assert_int_equal(call(f, "GET", "/api/v1/changes", "since=0&limit=3",
			      f->a.token, NULL),
			 200);
	assert_true(json_is_true(json_object_get(f->resp.json, "more")));
	for (i = 0; i < 10; i++) {
		char q[64];
		bool more;

		total += (int)json_array_size(
				 json_object_get(f->resp.json, "nodes")) +
			 (int)json_array_size(
				 json_object_get(f->resp.json, "entries"));
		more = json_is_true(json_object_get(f->resp.json, "more"));
		if (!more)
			break;
		snprintf(q, sizeof(q), "since=%lld&limit=3",
			 (long long)jint(f, "next"));
		assert_int_equal(
			call(f, "GET", "/api/v1/changes", q, f->a.token, NULL),
			200);
	}
	assert_true(total >= 9);
	assert_int_equal(jint(f, "next"), next);

	/* nothing new, and bob's feed has none of alice's */
	{
		char q[64];

		snprintf(q, sizeof(q), "since=%lld", (long long)next);
		assert_int_equal(
			call(f, "GET", "/api/v1/changes", q, f->a.token, NULL),
			200);
		assert_int_equal(json_array_size(json_object_get(f->resp.json,
								 "entries")),
				 0);
	}
	assert_int_equal(
		call(f, "GET", "/api/v1/changes", "since=0", f->b.token, NULL),
		200);
	assert_int_equal(
		json_array_size(json_object_get(f->resp.json, "entries")), 0);
	assert_int_equal(call(f, "GET", "/api/v1/changes", "since=abc",
			      f->a.token, NULL),
			 400);
}

/* A feed asked from behind pruned tombstones: 410 and the horizon. */
static void test_srv_api__changes_resync_after_prune(void **state)
{
	struct fixture *f = *state;
	struct srv_meta *m = f->meta;
	struct srv_entry e;
	struct srv_node n;
	uint64_t seq, versions, nodes;
	int64_t now = time(NULL);
	json_int_t horizon;
	struct srv_slot at;
	char d[33], q[64];

	new_id(d);
	assert_int_equal(mknode(f, &f->a, d, "file", root_hex, "gone"), 201);
	assert_int_equal(m->ops->lookup(m, f->a.user_id, srv_root_id, "gone",
					4, &e, &n),
			 0);
	at = (struct srv_slot){ srv_root_id, "gone", 4, NULL };
	assert_int_equal(m->ops->unlink(m, f->a.user_id, &at, 0, now, NULL), 0);
	assert_int_equal(m->ops->trash_purge(m, f->a.user_id, n.id, &seq), 0);
	assert_int_equal(m->ops->gc_prune(m, now + 40 * 86400, 30 * 86400,
					  &versions, &nodes),
			 0);

	assert_int_equal(
		call(f, "GET", "/api/v1/changes", "since=1", f->a.token, NULL),
		410);
	assert_string_equal(err_code(f), "resync_required");
	assert_non_null(strstr(err_msg(f), "since=0"));
	horizon = jint(f, "horizon");
	assert_true(horizon > 1);
	snprintf(q, sizeof(q), "since=%lld", (long long)horizon);
	assert_int_equal(call(f, "GET", "/api/v1/changes", q, f->a.token, NULL),
			 200);
	assert_int_equal(
		call(f, "GET", "/api/v1/changes", "since=0", f->a.token, NULL),
		200);
	/* bob lost nothing */
	assert_int_equal(
		call(f, "GET", "/api/v1/changes", "since=1", f->b.token, NULL),
		200);
}

/* ----- blocks and versions ----- */

static void test_srv_api__blocks(void **state)
{
	struct fixture *f = *state;
	char id_hex[BLK_ID_HEX_SIZE], other_hex[BLK_ID_HEX_SIZE], path[128];
	uint8_t chunk[5000], *blob, *big;
	struct blk_id id;
	size_t size;
	json_t *ids;
	int i;

	memset(chunk, 7, sizeof(chunk));
	make_block(f, chunk, sizeof(chunk), &blob, &size, &id, id_hex);

	assert_int_equal(call(f, "POST", "/api/v1/blocks/missing", NULL,
			      f->a.token, json_pack("{s:[s]}", "ids", id_hex)),
			 200);
	assert_int_equal(
		json_array_size(json_object_get(f->resp.json, "missing")), 1);
	assert_int_equal(put_block(f, &f->a, id_hex, blob, size), 201);
	assert_int_equal(put_block(f, &f->a, id_hex, blob, size), 200);
	assert_int_equal(call(f, "POST", "/api/v1/blocks/missing", NULL,
			      f->a.token, json_pack("{s:[s]}", "ids", id_hex)),
			 200);
	assert_int_equal(
		json_array_size(json_object_get(f->resp.json, "missing")), 0);

	snprintf(path, sizeof(path), "/api/v1/blocks/%s", id_hex);
	assert_int_equal(call(f, "GET", path, NULL, f->a.token, NULL), 200);
	assert_int_equal(f->resp.body_size, size);
	assert_memory_equal(f->resp.body + f->resp.body_offset, blob, size);
	assert_string_equal(f->resp.content_type, "application/octet-stream");
	assert_int_equal(call(f, "HEAD", path, NULL, f->a.token, NULL), 200);
	assert_int_equal(f->resp.content_length, size);
	assert_null(f->resp.body);

	/* isolation: bob has no such block, and his copy is his own */
	assert_int_equal(call(f, "GET", path, NULL, f->b.token, NULL), 404);
	assert_int_equal(call(f, "HEAD", path, NULL, f->b.token, NULL), 404);
	assert_int_equal(call(f, "POST", "/api/v1/blocks/missing", NULL,
			      f->b.token, json_pack("{s:[s]}", "ids", id_hex)),
			 200);
	assert_int_equal(
		json_array_size(json_object_get(f->resp.json, "missing")), 1);
	assert_int_equal(put_block(f, &f->b, id_hex, blob, size), 201);

	/* account usage counts it */
	assert_int_equal(
		call(f, "GET", "/api/v1/account", NULL, f->a.token, NULL), 200);
	assert_int_equal(jint(f, "blocks"), 1);
	assert_int_equal(jint(f, "usage"), size);

	/* bad blocks */
	chunk[0] = 8;
	make_block(f, chunk, sizeof(chunk), &big, &size, &id, other_hex);
	assert_int_equal(put_block(f, &f->a, id_hex, big, size), 400);
	assert_string_equal(err_code(f), "bad_block");
	big[0] ^= 1; /* a broken magic under its own hash */
	blk_id_compute(big, size, &id);
	blk_id_to_hex(&id, other_hex);
	assert_int_equal(put_block(f, &f->a, other_hex, big, size), 400);
	assert_string_equal(err_code(f), "bad_block");
	free(big);
	assert_int_equal(put_block(f, &f->a, "xyz", blob, size), 400);
	assert_int_equal(
		call(f, "GET", "/api/v1/blocks/xyz", NULL, f->a.token, NULL),
		400);
	size = BLK_BLOB_SIZE_MAX(BLK_CHUNK_MAX_DEFAULT) + 1;
	big = calloc(1, size);
	assert_non_null(big);
	assert_int_equal(put_block(f, &f->a, id_hex, big, size), 413);
	assert_int_equal(put_block(f, &f->a, id_hex, big,
				   BLK_BLOB_SIZE_MAX(BLK_CHUNK_MAX_LIMIT) + 1),
			 413);
	free(big);
	assert_int_equal(put_block(f, &f->a, id_hex, blob, 0), 400);

	/* missing: shape and limits */
	assert_int_equal(call(f, "POST", "/api/v1/blocks/missing", NULL,
			      f->a.token, json_pack("{s:[s]}", "ids", "ab")),
			 400);
	assert_int_equal(call(f, "POST", "/api/v1/blocks/missing", NULL,
			      f->a.token, json_pack("{s:s}", "ids", "ab")),
			 400);
	assert_int_equal(call(f, "POST", "/api/v1/blocks/missing", NULL,
			      f->a.token, json_pack("{s:[]}", "ids")),
			 200);
	ids = json_array();
	for (i = 0; i < 4097; i++)
		json_array_append_new(ids, json_string(id_hex));
	assert_int_equal(call(f, "POST", "/api/v1/blocks/missing", NULL,
			      f->a.token, json_pack("{s:o}", "ids", ids)),
			 413);
	free(blob);
}

static void test_srv_api__commit_and_versions(void **state)
{
	struct fixture *f = *state;
	char id_hex[2][BLK_ID_HEX_SIZE], node[33], dir[33], path[128];
	uint8_t chunk[2][3000], *blob[2];
	struct blk_id ids[3];
	uint32_t sizes[3] = { 3000, 3000, 3000 };
	size_t size[2];
	uint64_t fsize;
	char *mf, *mf_short;
	json_t *miss, *vers;
	int i;

	for (i = 0; i < 2; i++) {
		memset(chunk[i], 'a' + i, sizeof(chunk[i]));
		make_block(f, chunk[i], sizeof(chunk[i]), &blob[i], &size[i],
			   &ids[i], id_hex[i]);
	}
	ids[2] = ids[0]; /* a repeated block counts once */
	mf = manifest_b64(ids, sizes, 3, &fsize);
	assert_int_equal(fsize, 9000);
	mf_short = manifest_b64(ids, sizes, 1, &fsize);

	new_id(node);
	new_id(dir);
	assert_int_equal(mknode(f, &f->a, node, "file", root_hex, "doc"), 201);
	assert_int_equal(mknode(f, &f->a, dir, "dir", root_hex, "dd"), 201);

	/* pending */
	node_path(path, sizeof(path), node, "/pending");
	assert_int_equal(call(f, "POST", path, NULL, f->a.token, NULL), 200);
	assert_true(jint(f, "cursor") > 0);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/doc", f->a.token, NULL),
		200);
	assert_string_equal(jstr(f, "status"), "pending");
	assert_int_equal(jint(f, "pending_device"), f->a.device_id);
	node_path(path, sizeof(path), dir, "/pending");
	assert_int_equal(call(f, "POST", path, NULL, f->a.token, NULL), 409);
	node_path(path, sizeof(path), node, "/pending");
	assert_int_equal(call(f, "POST", path, NULL, f->b.token, NULL), 404);

	/* blocks not stored yet */
	assert_int_equal(commit(f, &f->a, node, 0, 9000, mf), 409);
	assert_string_equal(err_code(f), "missing_blocks");
	miss = json_object_get(f->resp.json, "missing");
	assert_int_equal(json_array_size(miss), 2);
	for (i = 0; i < 2; i++)
		assert_int_equal(
			put_block(f, &f->a, id_hex[i], blob[i], size[i]), 201);
	/* bob's copy does not count for alice and vice versa */
	assert_int_equal(commit(f, &f->b, node, 0, 9000, mf), 404);

	assert_int_equal(commit(f, &f->a, node, 0, 9000, mf), 200);
	assert_int_equal(jint(f, "version"), 1);
	assert_int_equal(commit(f, &f->a, node, 0, 9000, mf), 409);
	assert_string_equal(err_code(f), "stale_version");
	assert_int_equal(jint(f, "current_version"), 1);
	assert_int_equal(commit(f, &f->a, node, 1, 3000, mf_short), 200);
	assert_int_equal(jint(f, "version"), 2);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/doc", f->a.token, NULL),
		200);
	assert_int_equal(jint(f, "size"), 3000);
	assert_int_equal(jint(f, "version"), 2);
	assert_string_equal(jstr(f, "status"), "uploaded");

	/* bad commits */
	assert_int_equal(commit(f, &f->a, node, 2, 9001, mf), 400);
	assert_string_equal(err_code(f), "bad_manifest");
	assert_int_equal(
		commit(f, &f->a, node, 2, f->cfg.max_file_size + 1, mf), 413);
	assert_int_equal(commit(f, &f->a, node, 2, 9000, "not base64!"), 400);
	assert_non_null(strstr(err_msg(f), "'manifest'"));
	assert_int_equal(commit(f, &f->a, node, 2, 9000, "AAAA"), 400);
	assert_string_equal(err_code(f), "bad_manifest");
	assert_int_equal(commit(f, &f->a, dir, 0, 9000, mf), 409);
	node_path(path, sizeof(path), node, "/commit");
	assert_int_equal(
		call(f, "POST", path, NULL, f->a.token,
		     json_pack("{s:i, s:i, s:i, s:s}", "base_version", 2,
			       "size", 9000, "mtime", 0, "manifest", mf)),
		400);
	assert_non_null(strstr(err_msg(f), "'tag'"));

	/* versions */
	node_path(path, sizeof(path), node, "/versions");
	assert_int_equal(call(f, "GET", path, NULL, f->a.token, NULL), 200);
	vers = json_object_get(f->resp.json, "versions");
	assert_int_equal(json_array_size(vers), 2);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(vers, 0), "size")),
			 9000);
	assert_int_equal(call(f, "GET", path, NULL, f->b.token, NULL), 404);
	node_path(path, sizeof(path), node, "/versions/current");
	assert_int_equal(call(f, "GET", path, NULL, f->a.token, NULL), 200);
	assert_int_equal(jint(f, "version"), 2);
	assert_string_equal(jstr(f, "manifest"), mf_short);
	assert_int_equal(strlen(jstr(f, "tag")), 64);
	node_path(path, sizeof(path), node, "/versions/1");
	assert_int_equal(call(f, "GET", path, NULL, f->a.token, NULL), 200);
	assert_string_equal(jstr(f, "manifest"), mf);
	assert_int_equal(call(f, "GET", path, NULL, f->b.token, NULL), 404);
	node_path(path, sizeof(path), node, "/versions/9");
	assert_int_equal(call(f, "GET", path, NULL, f->a.token, NULL), 404);
	node_path(path, sizeof(path), node, "/versions/x1");
	assert_int_equal(call(f, "GET", path, NULL, f->a.token, NULL), 400);

	/* restore */
	node_path(path, sizeof(path), node, "/restore");
	assert_int_equal(call(f, "POST", path, NULL, f->a.token,
			      json_pack("{s:i}", "version", 1)),
			 200);
	assert_int_equal(jint(f, "version"), 3);
	assert_int_equal(call(f, "POST", path, NULL, f->b.token,
			      json_pack("{s:i}", "version", 1)),
			 404);
	assert_int_equal(call(f, "POST", path, NULL, f->a.token,
			      json_pack("{s:i}", "version", 0)),
			 400);
	assert_int_equal(call(f, "POST", path, NULL, f->a.token,
			      json_pack("{s:i}", "version", 99)),
			 404);
	assert_int_equal(
		call(f, "GET", "/api/v1/stat", "path=/doc", f->a.token, NULL),
		200);
	assert_int_equal(jint(f, "size"), 9000);

	for (i = 0; i < 2; i++)
		free(blob[i]);
	free(mf);
	free(mf_short);
}

static void test_srv_api__isolation(void **state)
{
	struct fixture *f = *state;
	struct account *who[2] = { &f->a, &f->b };
	char d[33], path[128];
	int i;

	for (i = 0; i < 2; i++) {
		struct account *me = who[i], *other = who[1 - i];
		const char *mine = i == 0 ? "mine-a" : "mine-b";
		char q[64], x[33];

		new_id(d);
		assert_int_equal(mknode(f, me, d, "dir", root_hex, mine), 201);
		node_path(path, sizeof(path), d, "");
		assert_int_equal(call(f, "GET", path, NULL, other->token, NULL),
				 404);
		node_path(path, sizeof(path), d, "/children");
		assert_int_equal(call(f, "GET", path, NULL, other->token, NULL),
				 404);
		node_path(path, sizeof(path), d, "/versions");
		assert_int_equal(call(f, "GET", path, NULL, other->token, NULL),
				 404);
		new_id(x);
		assert_int_equal(mknode(f, other, x, "file", d, "in"), 404);
		assert_int_equal(
			call(f, "POST", "/api/v1/entries", NULL, other->token,
			     json_pack("{s:s, s:s, s:s}", "parent", root_hex,
				       "name", "ln", "node", d)),
			404);
		assert_int_equal(call(f, "DELETE", "/api/v1/entries", NULL,
				      other->token,
				      json_pack("{s:s, s:s, s:b}", "parent", d,
						"name", "x", "dir", 1)),
				 404);
		snprintf(q, sizeof(q), "path=/%s", mine);
		assert_int_equal(
			call(f, "GET", "/api/v1/stat", q, other->token, NULL),
			404);
		assert_int_equal(
			call(f, "GET", "/api/v1/stat", q, me->token, NULL),
			200);
		assert_string_equal(jstr(f, "id"), d);
	}
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	cf_log_setup("test_srv_api", LOG_WARNING, NULL);
	const struct CMUnitTest tests[] = {
		T(test_srv_api__prelogin),
		T(test_srv_api__login),
		T(test_srv_api__tokens),
		T(test_srv_api__authenticate),
		T(test_srv_api__wrapped_key),
		T(test_srv_api__routing),
		T(test_srv_api__body_limits),
		T(test_srv_api__rate_limit),
		T(test_srv_api__create_every_kind),
		T(test_srv_api__create_errors),
		T(test_srv_api__stat_and_list),
		T(test_srv_api__patch),
		T(test_srv_api__links_unlink_trash),
		T(test_srv_api__rename),
		T(test_srv_api__rename_replaces),
		T(test_srv_api__rename_unlink_name_their_node),
		T(test_srv_api__changes),
		T(test_srv_api__changes_resync_after_prune),
		T(test_srv_api__blocks),
		T(test_srv_api__commit_and_versions),
		T(test_srv_api__isolation),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
