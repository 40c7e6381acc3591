/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the server API: arbitrary bytes become one request
 * to srv_api_handle, authenticated with a valid token, against a real
 * SQLite metadata store and block directory made once in a temp dir:
 *   byte 0   route (every route but logout, plus a free-form one)
 *   byte 1   which node id or block id the path names: the root, a
 *            directory, a file, an unknown id, or text from the input
 *   then     the query string up to the first '\n', then the body.
 * The free-form route takes "METHOD PATH" from the query line. Every
 * request must get a well-formed answer (errors are JSON with a code and
 * a message) and leave nothing leaked; sanitizers catch the rest.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "blk/proto.h"
#include "cf_log.h"
#include "srv_api.h"
#include "srv_auth.h"
#include "srv_blocks.h"
#include "srv_config.h"
#include "srv_meta.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PATH_MAX 8192

struct fuzz_env {
	char dir[64];
	struct srv_config cfg;
	struct srv_meta *meta;
	struct srv_blocks *blocks;
	struct srv_api *api;
	char token[SRV_TOKEN_HEX_SIZE];
	char dir_id[33], file_id[33];
};

static struct fuzz_env env;

static const struct {
	const char *method;
	const char *path; /* "%s" marks where the id goes */
	int id_kind; /* 0 none, 1 node id, 2 block id */
} routes[] = {
	{ "POST", "/api/v1/prelogin", 0 },
	{ "POST", "/api/v1/login", 0 },
	{ "GET", "/api/v1/account", 0 },
	{ "GET", "/api/v1/key", 0 },
	{ "PUT", "/api/v1/key", 0 },
	{ "POST", "/api/v1/blocks/missing", 0 },
	{ "PUT", "/api/v1/blocks/%s", 2 },
	{ "GET", "/api/v1/blocks/%s", 2 },
	{ "HEAD", "/api/v1/blocks/%s", 2 },
	{ "GET", "/api/v1/changes", 0 },
	{ "GET", "/api/v1/stat", 0 },
	{ "GET", "/api/v1/list", 0 },
	{ "POST", "/api/v1/nodes", 0 },
	{ "GET", "/api/v1/nodes/%s", 1 },
	{ "PATCH", "/api/v1/nodes/%s", 1 },
	{ "GET", "/api/v1/nodes/%s/children", 1 },
	{ "POST", "/api/v1/nodes/%s/pending", 1 },
	{ "POST", "/api/v1/nodes/%s/commit", 1 },
	{ "GET", "/api/v1/nodes/%s/versions", 1 },
	{ "GET", "/api/v1/nodes/%s/versions/current", 1 },
	{ "GET", "/api/v1/nodes/%s/versions/1", 1 },
	{ "POST", "/api/v1/nodes/%s/restore", 1 },
	{ "POST", "/api/v1/entries", 0 },
	{ "DELETE", "/api/v1/entries", 0 },
	{ "POST", "/api/v1/rename", 0 },
	{ "GET", "/api/v1/trash", 0 },
	{ "POST", "/api/v1/trash/%s/restore", 1 },
	{ "DELETE", "/api/v1/trash/%s", 1 },
	{ "GET", "/api/v1/notify", 0 },
	{ NULL, NULL, 0 }, /* free form */
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))

static void cleanup(void)
{
	char cmd[128];

	srv_api_free(env.api);
	srv_blocks_free(env.blocks);
	srv_meta_close(env.meta);
	srv_config_release(&env.cfg);
	if (env.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", env.dir);
	}
}

/* One request through the API; aborts on a malformed answer. */
static int handle(const char *method, const char *path, const char *query,
		  const char *token, const void *body, size_t body_size,
		  json_t **out_json)
{
	struct srv_request req = {
		.method = method,
		.path = path,
		.query = query,
		.token = token,
		.remote = "127.0.0.1",
		.body = body,
		.body_size = body_size,
	};
	struct srv_response resp;
	int status;

	memset(&resp, 0, sizeof(resp));
	srv_api_body_limit(env.api, method, path);
	if (srv_api_handle(env.api, &req, &resp) < 0)
		abort();
	status = resp.status;
	if (status < 200 || status > 599 || !resp.route)
		abort();
	if (status >= 400 &&
	    (!json_is_string(json_object_get(resp.json, "error")) ||
	     !json_is_string(json_object_get(resp.json, "message"))))
		abort();
	if (resp.json && resp.body)
		abort();
	if (out_json) {
		*out_json = resp.json;
		resp.json = NULL;
	}
	srv_response_release(&resp);
	return status;
}

static void must(int ok)
{
	if (!ok) {
		fprintf(stderr, "fuzz_srv_api: setup failed\n");
		abort();
	}
}

static void make_node(const char *id, const char *kind, const char *name)
{
	char *text;
	json_t *j;

	j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "id", id, "kind",
		      kind, "parent", "00000000000000000000000000000000",
		      "name", name, "mode", 0755, "uid", 0, "gid", 0);
	text = json_dumps(j, JSON_COMPACT);
	must(text != NULL);
	must(handle("POST", "/api/v1/nodes", "", env.token, text, strlen(text),
		    NULL) == 201);
	free(text);
	json_decref(j);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t auth_key[BLK_KEY_SIZE];
	char path[128], key_hex[2 * BLK_KEY_SIZE + 1], *text;
	struct srv_api_deps deps;
	struct srv_user u;
	json_t *j = NULL;
	size_t i;

	(void)argc;
	(void)argv;
	cf_log_setup("fuzz_srv_api", LOG_CRIT, NULL);
	snprintf(env.dir, sizeof(env.dir), "/tmp/fuzz_srv_api.XXXXXX");
	must(mkdtemp(env.dir) != NULL);
	atexit(cleanup);
	must(srv_config_init(&env.cfg) == 0);
	free(env.cfg.data_dir);
	env.cfg.data_dir = strdup(env.dir);
	env.cfg.rate_per_second = 0;
	snprintf(path, sizeof(path), "%s/meta.db", env.dir);
	must(srv_meta_sqlite_open(path, &env.meta) == 0);
	snprintf(path, sizeof(path), "%s/blocks", env.dir);
	must(srv_blocks_local_open(path, &env.blocks) == 0);
	memset(&deps, 0, sizeof(deps));
	deps.meta = env.meta;
	deps.blocks = env.blocks;
	deps.config = &env.cfg;
	must(srv_api_new(&deps, &env.api) == 0);

	/* One account, logged in the way a client does. */
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "fuzz");
	u.kdf = BLK_KDF_PARAMS_DEFAULT;
	for (i = 0; i < BLK_KEY_SIZE; i++)
		auth_key[i] = (uint8_t)i;
	u.chunk_min = BLK_CHUNK_MIN_DEFAULT;
	u.chunk_avg = BLK_CHUNK_AVG_DEFAULT;
	u.chunk_max = BLK_CHUNK_MAX_DEFAULT;
	must(srv_auth_key_hash(auth_key, u.auth_salt, u.auth_hash) == 0);
	must(env.meta->ops->user_create(env.meta, &u) == 0);
	for (i = 0; i < BLK_KEY_SIZE; i++)
		snprintf(key_hex + 2 * i, 3, "%02x", auth_key[i]);
	j = json_pack("{s:s, s:s, s:s}", "user", "fuzz", "auth_key", key_hex,
		      "device", "fuzzer");
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	must(text != NULL);
	must(handle("POST", "/api/v1/login", "", NULL, text, strlen(text),
		    &j) == 200);
	free(text);
	snprintf(env.token, sizeof(env.token), "%s",
		 json_string_value(json_object_get(j, "token")));
	json_decref(j);
	must(strlen(env.token) == 64);

	snprintf(env.dir_id, sizeof(env.dir_id),
		 "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1");
	snprintf(env.file_id, sizeof(env.file_id),
		 "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1");
	make_node(env.dir_id, "dir", "dir");
	make_node(env.file_id, "file", "file");
	return 0;
}

/* Copy a capped, NUL-free, '/'-free segment of the input into out. */
static void segment(const char *s, size_t len, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 1 < size; i++) {
		if (s[i] == '/' || s[i] == '\0')
			continue;
		out[n++] = s[i];
	}
	out[n] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[FUZZ_PATH_MAX], query[FUZZ_PATH_MAX];
	char method[16], id[FUZZ_PATH_MAX];
	const uint8_t *body, *nl;
	size_t route, choice, query_len, body_size;

	if (size < 2)
		return 0;
	route = data[0] % ROUTE_COUNT;
	choice = data[1] % 5;
	data += 2;
	size -= 2;
	nl = memchr(data, '\n', size);
	query_len = nl ? (size_t)(nl - data) : size;
	if (query_len >= sizeof(query))
		query_len = sizeof(query) - 1;
	memcpy(query, data, query_len);
	query[query_len] = '\0';
	if (memchr(query, '\0', query_len))
		return 0; /* the transport hands NUL-terminated text */
	body = nl ? nl + 1 : data + size;
	body_size = (size_t)(data + size - body);

	if (!routes[route].method) {
		/* Free form: "METHOD PATH", the rest of the input the body. */
		char *sp = strchr(query, ' ');

		if (!sp || (size_t)(sp - query) >= sizeof(method))
			return 0;
		memcpy(method, query, (size_t)(sp - query));
		method[sp - query] = '\0';
		handle(method, sp + 1, "", env.token, body, body_size, NULL);
		return 0;
	}
	switch (choice) {
	case 0:
		snprintf(id, sizeof(id), "%s",
			 routes[route].id_kind == 2
				 ? "00000000000000000000000000000000"
				   "00000000000000000000000000000000"
				 : "00000000000000000000000000000000");
		break;
	case 1:
		snprintf(id, sizeof(id), "%s", env.dir_id);
		break;
	case 2:
		snprintf(id, sizeof(id), "%s", env.file_id);
		break;
	case 3:
		if (routes[route].id_kind == 2) {
			struct blk_id bid;

			/* the body's own hash: gets past the id check */
			blk_id_compute(body, body_size, &bid);
			blk_id_to_hex(&bid, id);
		} else {
			snprintf(id, sizeof(id),
				 "0123456789abcdef0123456789abcdef");
		}
		break;
	default:
		segment(query, query_len, id, sizeof(id));
		query[0] = '\0';
		break;
	}
	if (routes[route].id_kind) {
		const char *fmt = routes[route].path;
		const char *at = strstr(fmt, "%s");

		snprintf(path, sizeof(path), "%.*s%s%s", (int)(at - fmt), fmt,
			 id, at + 2);
	} else {
		snprintf(path, sizeof(path), "%s", routes[route].path);
	}
	handle(routes[route].method, path, query, env.token, body, body_size,
	       NULL);
	return 0;
}
