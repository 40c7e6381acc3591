/* SPDX-License-Identifier: MIT */
/*
 * fc_remote against a tiny HTTP/1.1 server running in the test process (one
 * thread per connection, keep-alive): request building (method, path,
 * query, headers, JSON body), answer parsing, the errno mapping, parallel
 * block uploads, timeouts and Retry-After.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "fc_remote.h"

#include "fc_fake_http.h"

static const char token_hex[] =
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* ----- handlers ----- */

static void h_login(const struct req *q, struct resp *p)
{
	if (!strcmp(q->target, "/api/v1/prelogin"))
		resp_json(
			p, 200,
			"{\"kdf\":{\"version\":1,\"n\":16384,\"r\":8,\"p\":1},"
			"\"salt\":\"000102030405060708090a0b0c0d0e0f\"}");
	else if (!strcmp(q->target, "/api/v1/login") &&
		 strstr(q->body, "\"auth_key\":\"0101"))
		resp_json(p, 200,
			  "{\"token\":\"00112233445566778899aabbccddeeff0011"
			  "2233445566778899aabbccddeeff\",\"device_id\":7,"
			  "\"user_id\":3,\"root\":\"0000000000000000000000000"
			  "0000000\",\"chunk\":{\"min\":65536,\"avg\":262144,"
			  "\"max\":1048576},\"codec\":\"zstd\",\"cursor\":12}");
	else if (!strcmp(q->target, "/api/v1/login"))
		resp_json(p, 401,
			  "{\"error\":\"unauthorized\",\"message\":"
			  "\"wrong user or password\"}");
	else if (!strcmp(q->target, "/api/v1/key") && !strcmp(q->method, "GET"))
		resp_json(p, 404,
			  "{\"error\":\"not_found\",\"message\":\"no key\"}");
	else if (!strcmp(q->target, "/api/v1/account"))
		resp_json(p, 200,
			  "{\"user\":\"ann\",\"usage\":100,\"quota\":0,"
			  "\"blocks\":2,\"files\":1,\"cursor\":40,\"chunk\":"
			  "{\"min\":65536,\"avg\":262144,\"max\":1048576},"
			  "\"codec\":1,\"max_file_size\":1000}");
	else
		resp_error(p, 404, "not_found");
}

static void test_fc_remote__error_mapping(void **state)
{
	(void)state;
	assert_int_equal(fc_remote_error(CURLE_OK, 200, NULL), 0);
	assert_int_equal(fc_remote_error(CURLE_OK, 201, NULL), 0);
	assert_int_equal(fc_remote_error(CURLE_OK, 400, NULL), -EINVAL);
	assert_int_equal(fc_remote_error(CURLE_OK, 400, "name_too_long"),
			 -ENAMETOOLONG);
	assert_int_equal(fc_remote_error(CURLE_OK, 401, "whatever"), -EACCES);
	assert_int_equal(fc_remote_error(CURLE_OK, 408, "timeout"), -ETIMEDOUT);
	assert_true(fc_remote_is_transient(
		fc_remote_error(CURLE_OK, 408, "timeout")));
	assert_int_equal(fc_remote_error(CURLE_OK, 403, NULL), -EPERM);
	assert_int_equal(fc_remote_error(CURLE_OK, 404, NULL), -ENOENT);
	assert_int_equal(fc_remote_error(CURLE_OK, 409, NULL), -EEXIST);
	assert_int_equal(fc_remote_error(CURLE_OK, 409, "exists"), -EEXIST);
	assert_int_equal(fc_remote_error(CURLE_OK, 409, "stale_version"),
			 -ESTALE);
	assert_int_equal(fc_remote_error(CURLE_OK, 409, "missing_blocks"),
			 -ENODATA);
	assert_int_equal(fc_remote_error(CURLE_OK, 409, "not_empty"),
			 -ENOTEMPTY);
	assert_int_equal(fc_remote_error(CURLE_OK, 413, NULL), -EFBIG);
	assert_int_equal(fc_remote_error(CURLE_OK, 429, NULL), -EAGAIN);
	assert_int_equal(fc_remote_error(CURLE_OK, 503, NULL), -EAGAIN);
	assert_int_equal(fc_remote_error(CURLE_OK, 503, "unavailable"),
			 -EAGAIN);
	/* the server's disk is full: retried, and said so */
	assert_int_equal(fc_remote_error(CURLE_OK, 503, "no_space"), -ENOSPC);
	assert_true(fc_remote_is_transient(-ENOSPC));
	assert_int_equal(fc_remote_error(CURLE_OK, 500, NULL), -EIO);
	assert_int_equal(fc_remote_error(CURLE_OK, 302, NULL), -EPROTO);
	assert_int_equal(fc_remote_error(CURLE_COULDNT_CONNECT, 0, NULL),
			 -ENOTCONN);
	assert_int_equal(fc_remote_error(CURLE_COULDNT_RESOLVE_HOST, 0, NULL),
			 -ENOTCONN);
	assert_int_equal(fc_remote_error(CURLE_OPERATION_TIMEDOUT, 0, NULL),
			 -ETIMEDOUT);
	assert_int_equal(fc_remote_error(CURLE_GOT_NOTHING, 0, NULL),
			 -ENOTCONN);
	assert_true(fc_remote_is_transient(-ENOTCONN));
	assert_true(fc_remote_is_transient(-EAGAIN));
	assert_false(fc_remote_is_transient(-EEXIST));
	assert_false(fc_remote_is_transient(-EACCES));
}

static void test_fc_remote__bad_url(void **state)
{
	struct fc_remote_opts o = { .base_url = "ftp://x/" };
	struct fc_remote *r = (void *)1;

	(void)state;
	assert_int_equal(fc_remote_new(&o, &r), -EINVAL);
	assert_null(r);
	o.base_url = "not a url";
	assert_int_equal(fc_remote_new(&o, &r), -EINVAL);
}

static void test_fc_remote__login_flow(void **state)
{
	struct fc_remote *r;
	struct fc_prelogin pre;
	struct fc_login lg;
	struct fc_account_info acct;
	uint8_t ak[BLK_KEY_SIZE], wk[BLK_WRAPPED_KEY_SIZE];
	struct req q;
	json_t *j;

	(void)state;
	srv_handler = h_login;
	r = client(5000);
	assert_int_equal(fc_remote_prelogin(r, "ann", &pre), 0);
	assert_int_equal(pre.kdf.version, 1);
	assert_int_equal(pre.kdf.n, 16384);
	assert_int_equal(pre.salt[15], 15);
	q = last_req();
	assert_string_equal(q.method, "POST");
	assert_string_equal(q.auth, "");
	assert_string_equal(q.ctype, "application/json");
	j = last_body_json();
	assert_string_equal(json_string_value(json_object_get(j, "user")),
			    "ann");
	json_decref(j);

	memset(ak, 2, sizeof(ak));
	assert_int_equal(fc_remote_login(r, "ann", ak, "laptop", &lg), -EACCES);
	memset(ak, 1, sizeof(ak));
	assert_int_equal(fc_remote_login(r, "ann", ak, "laptop", &lg), 0);
	assert_string_equal(lg.token, token_hex);
	assert_int_equal(lg.device_id, 7);
	assert_int_equal(lg.user_id, 3);
	assert_int_equal(lg.chunk.avg_size, 262144);
	assert_int_equal(lg.codec, BLK_CODEC_ZSTD);
	assert_int_equal(lg.cursor, 12);
	j = last_body_json();
	assert_string_equal(json_string_value(json_object_get(j, "device")),
			    "laptop");
	json_decref(j);

	/* the token now goes with every call */
	assert_int_equal(fc_remote_key_get(r, wk), -ENOENT);
	q = last_req();
	assert_string_equal(q.target, "/api/v1/key");
	assert_string_equal(q.auth, "Bearer 00112233445566778899aabbccddeeff"
				    "00112233445566778899aabbccddeeff");
	assert_true(fc_remote_is_connected(r));
	assert_int_equal(fc_remote_account(r, &acct), 0);
	assert_string_equal(acct.user, "ann");
	assert_int_equal(acct.cursor, 40);
	assert_int_equal(acct.max_file_size, 1000);
	assert_int_equal(fc_remote_set_token(r, "xyz"), -EINVAL);
	fc_remote_free(r);
}

static void h_changes(const struct req *q, struct resp *p)
{
	if (strstr(q->target, "since=5"))
		resp_json(
			p, 200,
			"{\"nodes\":[{\"id\":\"0102030405060708090a0b0c0d0e0f10\","
			"\"kind\":\"symlink\",\"mode\":511,\"uid\":1,\"gid\":2,"
			"\"size\":3,\"mtime\":1000,\"ctime\":2000,\"version\":0,"
			"\"status\":\"uploaded\",\"nlink\":1,\"seq\":6,"
			"\"target\":\"a/b\"},{\"id\":\"0102030405060708090a0b"
			"0c0d0e0f11\",\"kind\":\"file\",\"mode\":420,\"uid\":0,"
			"\"gid\":0,\"size\":9,\"mtime\":1,\"ctime\":1,"
			"\"version\":4,\"status\":\"pending\",\"pending_device\""
			":9,\"nlink\":2,\"seq\":7}],\"entries\":[{\"id\":44,"
			"\"parent\":\"00000000000000000000000000000000\","
			"\"name\":\"l\\u00e9\",\"node\":\"0102030405060708090a"
			"0b0c0d0e0f10\",\"deleted\":false,\"seq\":6}],"
			"\"next\":7,\"more\":true}");
	else if (strstr(q->target, "since=6"))
		resp_json(
			p, 200,
			"{\"nodes\":[],\"entries\":[{\"id\":45,\"parent\":\""
			"00000000000000000000000000000000\",\"name\":\"a/b\","
			"\"node\":\"0102030405060708090a0b0c0d0e0f10\","
			"\"deleted\":true,\"seq\":8}],\"next\":8,\"more\":false}");
	else
		resp_json(p, 200,
			  "{\"nodes\":[{\"id\":\"zz\"}],\"entries\":[],"
			  "\"next\":1,\"more\":false}");
}

static void test_fc_remote__changes(void **state)
{
	struct fc_changes_page pg;
	struct fc_remote *r;

	(void)state;
	srv_handler = h_changes;
	r = client(5000);
	assert_int_equal(fc_remote_changes(r, 5, 100, &pg), 0);
	assert_string_equal(last_req().target,
			    "/api/v1/changes?since=5&limit=100");
	assert_int_equal(pg.node_count, 2);
	assert_int_equal(pg.entry_count, 1);
	assert_true(pg.more);
	assert_int_equal(pg.next, 7);
	assert_int_equal(pg.nodes[0].type, S_IFLNK);
	assert_int_equal(pg.nodes[0].mode, 0777);
	assert_int_equal(pg.nodes[0].target_len, 3);
	assert_string_equal(pg.nodes[0].target, "a/b");
	assert_false(pg.nodes[0].pending);
	assert_int_equal(pg.nodes[1].type, S_IFREG);
	assert_true(pg.nodes[1].pending);
	assert_int_equal(pg.nodes[1].pending_device, 9);
	assert_int_equal(pg.nodes[1].version, 4);
	assert_int_equal(pg.nodes[1].nlink, 2);
	assert_int_equal(pg.entries[0].id, 44);
	assert_int_equal(pg.entries[0].name_len, 3);
	assert_memory_equal(pg.entries[0].name, "l\xc3\xa9", 3);
	assert_int_equal(pg.entries[0].node[15], 0x10);
	fc_changes_page_release(&pg);

	/* a name with '/' is refused, not applied */
	assert_int_equal(fc_remote_changes(r, 6, 0, &pg), -EPROTO);
	assert_null(pg.entries);
	assert_int_equal(fc_remote_changes(r, 1, 0, &pg), -EPROTO);
	fc_remote_free(r);
}

static void h_commit(const struct req *q, struct resp *p)
{
	if (strstr(q->body, "\"base_version\":1,"))
		resp_json(p, 409,
			  "{\"error\":\"stale_version\",\"message\":\"x\","
			  "\"current_version\":3}");
	else if (strstr(q->body, "\"base_version\":2,"))
		resp_json(
			p, 409,
			"{\"error\":\"missing_blocks\",\"message\":\"x\","
			"\"missing\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			"aaaaaaaaaaaaaaaaaaaaaaaa\"]}");
	else if (strstr(q->body, "\"base_version\":5,"))
		resp_error(p, 413, "too_large");
	else
		resp_json(p, 200, "{\"version\":4,\"cursor\":99}");
}

static void test_fc_remote__commit(void **state)
{
	uint8_t id[FC_NODE_ID_SIZE] = { 0xab };
	struct fc_commit_req c = { 0 };
	struct fc_commit_res res;
	struct fc_remote *r;
	json_t *j;

	(void)state;
	srv_handler = h_commit;
	r = client(5000);
	c.manifest = "hello";
	c.manifest_size = 5;
	c.size = 10;
	c.mtime_ns = 77;
	c.base_version = 3;
	memset(c.tag, 0xcd, sizeof(c.tag));
	assert_int_equal(fc_remote_commit(r, id, &c, &res), 0);
	assert_int_equal(res.version, 4);
	assert_int_equal(res.cursor, 99);
	assert_string_equal(
		last_req().target,
		"/api/v1/nodes/ab000000000000000000000000000000/commit");
	j = last_body_json();
	assert_string_equal(json_string_value(json_object_get(j, "manifest")),
			    "aGVsbG8=");
	assert_int_equal(json_integer_value(json_object_get(j, "mtime")), 77);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "tag"))),
			 64);
	json_decref(j);

	c.base_version = 1;
	assert_int_equal(fc_remote_commit(r, id, &c, &res), -ESTALE);
	assert_int_equal(res.current_version, 3);
	c.base_version = 2;
	assert_int_equal(fc_remote_commit(r, id, &c, &res), -ENODATA);
	assert_int_equal(res.missing_count, 1);
	assert_int_equal(res.missing[0].bytes[31], 0xaa);
	free(res.missing);
	c.base_version = 5;
	assert_int_equal(fc_remote_commit(r, id, &c, &res), -EFBIG);
	fc_remote_free(r);
}

/* blocks/missing: every id whose first byte is odd is missing */
static void h_missing(const struct req *q, struct resp *p)
{
	json_t *j = json_loads(q->body, 0, NULL), *ids, *miss, *out;
	size_t i;

	ids = json_object_get(j, "ids");
	miss = json_array();
	for (i = 0; i < json_array_size(ids); i++) {
		const char *s = json_string_value(json_array_get(ids, i));

		if ((s[1] - '0') & 1)
			json_array_append_new(miss, json_string(s));
	}
	out = json_pack("{so}", "missing", miss);
	p->status = json_array_size(ids) <= FC_MISSING_BATCH ? 200 : 413;
	p->body = json_dumps(out, JSON_COMPACT);
	p->body_size = strlen(p->body);
	json_decref(out);
	json_decref(j);
}

static void test_fc_remote__blocks_missing(void **state)
{
	size_t n = FC_MISSING_BATCH + 10, i, reqs;
	struct blk_id *ids = calloc(n, sizeof(*ids));
	bool *miss = calloc(n, sizeof(*miss));
	struct fc_remote *r;

	(void)state;
	srv_handler = h_missing;
	r = client(5000);
	for (i = 0; i < n; i++) {
		ids[i].bytes[0] = (uint8_t)(i % 8);
		ids[i].bytes[1] = (uint8_t)(i >> 8);
		ids[i].bytes[2] = (uint8_t)i;
	}
	pthread_mutex_lock(&srv_lock);
	reqs = (size_t)srv_requests;
	pthread_mutex_unlock(&srv_lock);
	assert_int_equal(fc_remote_blocks_missing(r, ids, n, miss), 0);
	pthread_mutex_lock(&srv_lock);
	assert_int_equal((size_t)srv_requests - reqs, 2);
	pthread_mutex_unlock(&srv_lock);
	for (i = 0; i < n; i++)
		assert_int_equal(miss[i], (i % 8) & 1);
	fc_remote_free(r);
	free(ids);
	free(miss);
}

/* PUT: 500 for ids starting with ff, else 201 after a short delay */
static void h_put(const struct req *q, struct resp *p)
{
	if (strncmp(q->target, "/api/v1/blocks/", 15) ||
	    strcmp(q->method, "PUT") ||
	    strcmp(q->ctype, "application/octet-stream") || q->body_size != 100)
		resp_error(p, 400, "bad_request");
	else if (!strncmp(q->target + 15, "ff", 2))
		resp_error(p, 500, "internal");
	else {
		p->hang_ms = 50;
		resp_json(p, 201, "{}");
	}
}

static void test_fc_remote__blocks_put_parallel(void **state)
{
	struct fc_remote_put items[12];
	char data[100];
	struct fc_remote *r;
	size_t i;

	(void)state;
	srv_handler = h_put;
	r = client(5000);
	memset(data, 'x', sizeof(data));
	memset(items, 0, sizeof(items));
	for (i = 0; i < 12; i++) {
		items[i].id.bytes[0] = (uint8_t)i;
		items[i].data = data;
		items[i].size = sizeof(data);
	}
	pthread_mutex_lock(&srv_lock);
	srv_peak = 0;
	pthread_mutex_unlock(&srv_lock);
	assert_int_equal(fc_remote_blocks_put(r, items, 12, 4), 0);
	for (i = 0; i < 12; i++)
		assert_int_equal(items[i].rc, 0);
	pthread_mutex_lock(&srv_lock);
	assert_true(srv_peak >= 2 && srv_peak <= 4);
	pthread_mutex_unlock(&srv_lock);

	items[5].id.bytes[0] = 0xff;
	assert_int_equal(fc_remote_blocks_put(r, items, 12, 3), -EIO);
	for (i = 0; i < 12; i++)
		assert_int_equal(items[i].rc, i == 5 ? -EIO : 0);
	fc_remote_free(r);
}

static void h_block_get(const struct req *q, struct resp *p)
{
	if (strstr(q->target, "/blocks/00")) {
		p->status = 200;
		p->body = malloc(3000);
		memset(p->body, 7, 3000);
		p->body_size = 3000;
	} else if (strstr(q->target, "/blocks/01")) {
		p->status = 200;
		p->body = malloc(5000);
		memset(p->body, 7, 5000);
		p->body_size = 5000;
	} else if (strstr(q->target, "/blocks/02")) {
		resp_error(p, 429, "rate_limited");
		snprintf(p->headers, sizeof(p->headers), "Retry-After: 3\r\n");
	} else if (strstr(q->target, "/blocks/03")) {
		p->hang_ms = 1500;
		resp_json(p, 200, "{}");
	} else if (strstr(q->target, "/blocks/04")) {
		p->close = true;
	} else {
		resp_error(p, 404, "not_found");
	}
}

static void test_fc_remote__block_get(void **state)
{
	struct blk_id id = { { 0 } };
	struct fc_remote *r;
	struct cf_buf b;

	(void)state;
	srv_handler = h_block_get;
	r = client(400);
	cf_buf_init(&b, 4096);
	assert_int_equal(fc_remote_block_get(r, &id, &b), 0);
	assert_int_equal(b.len, 3000);
	assert_int_equal(b.data[2999], 7);
	id.bytes[0] = 1; /* larger than the buffer's cap */
	assert_int_equal(fc_remote_block_get(r, &id, &b), -EPROTO);
	assert_int_equal(b.len, 0);
	id.bytes[0] = 9;
	assert_int_equal(fc_remote_block_get(r, &id, &b), -ENOENT);
	assert_int_equal(b.len, 0);
	assert_int_equal(fc_remote_backoff_ms(r), 0);
	id.bytes[0] = 2;
	assert_int_equal(fc_remote_block_get(r, &id, &b), -EAGAIN);
	assert_true(fc_remote_backoff_ms(r) > 2000);
	assert_true(fc_remote_backoff_ms(r) <= 3000);
	id.bytes[0] = 3;
	assert_int_equal(fc_remote_block_get(r, &id, &b), -ETIMEDOUT);
	assert_false(fc_remote_is_connected(r));
	id.bytes[0] = 4;
	assert_int_equal(fc_remote_block_get(r, &id, &b), -ENOTCONN);
	/* shutting down: transfers stop at once */
	fc_remote_cancel(r, true);
	id.bytes[0] = 0;
	assert_int_equal(fc_remote_block_get(r, &id, &b), -ECANCELED);
	fc_remote_cancel(r, false);
	assert_int_equal(fc_remote_block_get(r, &id, &b), 0);
	cf_buf_release(&b);
	fc_remote_free(r);
}

static void test_fc_remote__offline(void **state)
{
	struct fc_remote_opts o = { .base_url = "http://127.0.0.1:1/" };
	struct fc_changes_page pg;
	struct fc_remote *r;

	(void)state;
	assert_int_equal(fc_remote_new(&o, &r), 0);
	assert_int_equal(fc_remote_changes(r, 0, 0, &pg), -ENOTCONN);
	assert_false(fc_remote_is_connected(r));
	fc_remote_free(r);
}

static void h_tree(const struct req *q, struct resp *p)
{
	if (!strncmp(q->target, "/api/v1/stat?", 13))
		resp_json(p, 200,
			  "{\"id\":\"0102030405060708090a0b0c0d0e0f10\","
			  "\"kind\":\"dir\",\"mode\":493,\"nlink\":3}");
	else if (strstr(q->target, "/versions/current"))
		resp_json(p, 200,
			  "{\"version\":2,\"size\":5,\"mtime\":3,\"manifest\":"
			  "\"aGVsbG8=\",\"tag\":\"0000000000000000000000000000"
			  "000000000000000000000000000000000001\"}");
	else if (strstr(q->target, "/versions"))
		resp_json(
			p, 200,
			"{\"versions\":[{\"version\":1,\"size\":4,\"mtime\":1,"
			"\"created\":100000000000000},{\"version\":2,\"size\":5,"
			"\"mtime\":3,"
			"\"created\":200000000000000}]}");
	else if (!strcmp(q->target, "/api/v1/nodes") &&
		 strstr(q->body, "\"name\":\"taken\""))
		resp_error(p, 409, "exists");
	else
		resp_json(p, 201, "{\"cursor\":5}");
}

static void test_fc_remote__tree_calls(void **state)
{
	uint8_t id[FC_NODE_ID_SIZE] = { 1 }, root[FC_NODE_ID_SIZE] = { 0 };
	struct fc_create_req c = { 0 };
	struct fc_patch_req pt = { 0 };
	struct fc_remote_slot src, dst;
	struct fc_version_info *vs;
	struct fc_version_data vd;
	struct fc_remote *r;
	struct fc_rnode n;
	uint64_t cursor;
	size_t count;
	json_t *j;

	(void)state;
	srv_handler = h_tree;
	r = client(5000);
	assert_int_equal(fc_remote_stat(r, "/a b/c", &n, NULL, 0), 0);
	assert_string_equal(last_req().target, "/api/v1/stat?path=%2fa+b%2fc");
	assert_int_equal(n.type, S_IFDIR);
	assert_int_equal(n.mode, 0755);

	memcpy(c.id, id, sizeof(id));
	memcpy(c.parent, root, sizeof(root));
	c.name = "x.txt";
	c.name_len = 5;
	c.type = S_IFLNK;
	c.mode = 0777;
	c.target = "../t";
	c.target_len = 4;
	assert_int_equal(fc_remote_node_create(r, &c, &cursor), 0);
	assert_int_equal(cursor, 5);
	j = last_body_json();
	assert_string_equal(json_string_value(json_object_get(j, "kind")),
			    "symlink");
	assert_string_equal(json_string_value(json_object_get(j, "target")),
			    "../t");
	assert_string_equal(json_string_value(json_object_get(j, "id")),
			    "01000000000000000000000000000000");
	json_decref(j);
	c.name = "taken";
	assert_int_equal(fc_remote_node_create(r, &c, &cursor), -EEXIST);
	c.name = "a/b";
	c.name_len = 3;
	assert_int_equal(fc_remote_node_create(r, &c, &cursor), -EINVAL);

	pt.flags = FC_REMOTE_PATCH_MODE | FC_REMOTE_PATCH_MTIME;
	pt.mode = 0100644;
	pt.mtime_ns = 123;
	assert_int_equal(fc_remote_node_patch(r, id, &pt, NULL), 0);
	assert_string_equal(last_req().method, "PATCH");
	j = last_body_json();
	assert_int_equal(json_integer_value(json_object_get(j, "mode")), 0644);
	assert_null(json_object_get(j, "uid"));
	json_decref(j);

	src = (struct fc_remote_slot){ root, "a", 1, NULL };
	dst = (struct fc_remote_slot){ id, "b", 1, NULL };
	assert_int_equal(fc_remote_rename(r, &src, &dst,
					  FC_REMOTE_RENAME_NOREPLACE, NULL),
			 0);
	j = last_body_json();
	assert_true(json_is_true(json_object_get(j, "noreplace")));
	assert_null(json_object_get(j, "exchange"));
	assert_null(json_object_get(j, "replaces"));
	assert_null(json_object_get(j, "node"));
	json_decref(j);
	src.node = root;
	dst.node = id;
	assert_int_equal(fc_remote_rename(r, &src, &dst, 0, NULL), 0);
	j = last_body_json();
	assert_null(json_object_get(j, "noreplace"));
	assert_string_equal(json_string_value(json_object_get(j, "replaces")),
			    "01000000000000000000000000000000");
	assert_string_equal(json_string_value(json_object_get(j, "node")),
			    "00000000000000000000000000000000");
	json_decref(j);
	assert_int_equal(fc_remote_unlink(r, &src, FC_REMOTE_UNLINK_DIR, NULL),
			 0);
	assert_string_equal(last_req().method, "DELETE");
	j = last_body_json();
	assert_true(json_is_true(json_object_get(j, "dir")));
	assert_string_equal(json_string_value(json_object_get(j, "node")),
			    "00000000000000000000000000000000");
	json_decref(j);
	assert_int_equal(fc_remote_link(r, id, root, "h", 1, NULL), 0);
	assert_int_equal(fc_remote_node_pending(r, id), 0);
	assert_string_equal(
		last_req().target,
		"/api/v1/nodes/01000000000000000000000000000000/pending");

	assert_int_equal(fc_remote_versions(r, id, &vs, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(vs[1].version, 2);
	assert_int_equal(vs[1].created, 200000);
	free(vs);
	assert_int_equal(fc_remote_version_get(r, id, 0, &vd), 0);
	assert_int_equal(vd.manifest_size, 5);
	assert_memory_equal(vd.manifest, "hello", 5);
	assert_int_equal(vd.tag[31], 1);
	fc_version_data_release(&vd);
	fc_remote_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fc_remote__error_mapping),
		cmocka_unit_test(test_fc_remote__bad_url),
		cmocka_unit_test(test_fc_remote__login_flow),
		cmocka_unit_test(test_fc_remote__changes),
		cmocka_unit_test(test_fc_remote__commit),
		cmocka_unit_test(test_fc_remote__blocks_missing),
		cmocka_unit_test(test_fc_remote__blocks_put_parallel),
		cmocka_unit_test(test_fc_remote__block_get),
		cmocka_unit_test(test_fc_remote__offline),
		cmocka_unit_test(test_fc_remote__tree_calls),
	};
	int rc;

	server_start();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	server_stop();
	return rc;
}
