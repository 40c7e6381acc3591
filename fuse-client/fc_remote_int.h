/* SPDX-License-Identifier: MIT */
/*
 * Private to fc_remote.c (transport: handles, one call, errors, block
 * transfers), fc_remote_json.c (JSON, hex and base64 helpers),
 * fc_remote_api.c and fc_remote_tree.c (one function per route). A struct
 * call describes one request and holds what came back; it lives on the
 * caller's stack: fc_remote_call_init, set the fields, fc_remote_call_run,
 * read json/err, fc_remote_call_release.
 */
#ifndef CLOUDFS_FC_REMOTE_INT_H
#define CLOUDFS_FC_REMOTE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

#include "blk/chunker.h"
#include "blk/proto.h"
#include "cf_buf.h"
#include "cf_util.h"
#include "fc_remote.h"

/* One request and what came back. */
struct call {
	const char *method;
	char path[512]; /* under API_PREFIX, already encoded */
	char query[256]; /* "a=1&b=2" or "" (already encoded) */
	const char *query_path; /* appended as path=<encoded> */
	json_t *body; /* borrowed, may be NULL */
	const void *raw; /* octet-stream body when raw_size */
	size_t raw_size;
	bool has_raw;
	bool auth;
	bool block; /* block transfer: longer timeout */
	struct cf_buf *sink; /* raw answer (borrowed); NULL = JSON */
	/* results */
	struct cf_buf resp; /* owned when sink is NULL */
	bool overflow;
	long status;
	json_t *json; /* owned: 2xx JSON answer */
	json_t *err; /* owned: error JSON answer */
	/* transfer state */
	CURL *h;
	CURLU *url;
	struct curl_slist *hdrs;
	char *body_text;
};

/* Start c for method (a static string); auth on, JSON answer. */
void fc_remote_call_init(struct call *c, const char *method);
/* Free what c holds (answer JSON, buffers); c can be inited again. */
void fc_remote_call_release(struct call *c);
/* printf the path under /api/v1 into c: -ENAMETOOLONG when too long. */
int fc_remote_call_path(struct call *c, const char *fmt, ...) CF_PRINTF(2, 3);
/*
 * Run c on a pooled handle: 0 (c->json holds a 2xx JSON object, or NULL
 * for an empty answer) or the errno of fc_remote_error (c->err may hold
 * the error JSON). Blocks up to the call's timeout.
 */
int fc_remote_call_run(struct fc_remote *r, struct call *c);

void fc_remote_node_id_hex(const uint8_t id[FC_NODE_ID_SIZE],
			   char out[FC_NODE_HEX_SIZE]);
/* base64 of size bytes as a new JSON string; NULL on -ENOMEM. */
json_t *fc_remote_b64_json(const void *data, size_t size);
/* Decode base64 text into a new buffer (caller frees): 0, -EPROTO. */
int fc_remote_b64_decode(const char *text, size_t len, uint8_t **out,
			 size_t *out_size);

/* Required fields: 0 or -EPROTO (absent, wrong type, out of range). */
int fc_remote_jget_u64(json_t *o, const char *key, uint64_t *out);
int fc_remote_jget_i64(json_t *o, const char *key, int64_t *out);
int fc_remote_jget_u32(json_t *o, const char *key, uint32_t *out);
int fc_remote_jget_hex(json_t *o, const char *key, uint8_t *out, size_t size);
int fc_remote_jget_block_id(json_t *v, struct blk_id *out);
int fc_remote_jget_chunk(json_t *o, struct blk_chunker_params *out);
int fc_remote_jget_codec(json_t *o, int *out);
/* Optional fields: the default when absent or null. */
int fc_remote_jopt_u64(json_t *o, const char *key, uint64_t dflt,
		       uint64_t *out);
int fc_remote_jopt_i64(json_t *o, const char *key, int64_t *out);
/* Setters: take ownership of v; 0, -ENOMEM, -EINVAL, -EILSEQ (names). */
int fc_remote_jset_new(json_t *o, const char *key, json_t *v);
int fc_remote_jset_hex(json_t *o, const char *key, const uint8_t *data,
		       size_t size);
/* An entry: parent (a node id, hex) and name, under those two keys. */
int fc_remote_jset_entry(json_t *o, const char *parent_key,
			 const uint8_t *parent, const char *name_key,
			 const char *name, size_t len);
int fc_remote_jset_u64(json_t *o, const char *key, uint64_t v);

/*
 * Shared by the route files: fc_remote_kind_parse lives in
 * fc_remote_tree.c, the two calls after it in fc_remote_api.c.
 */
/* A node kind ("file", "dir", ...) as S_IF* type bits: 0 or -EPROTO. */
int fc_remote_kind_parse(json_t *v, mode_t *out);
/*
 * The optional "cursor" of answer o (may be NULL) into *out (may be
 * NULL): 0 when absent or malformed.
 */
void fc_remote_get_cursor(json_t *o, uint64_t *out);
/*
 * A call to prefix + node id hex (id may be NULL) + suffix, with {} as
 * the body when json_body, that wants only the status: 0 or the errno of
 * fc_remote_call_run. Blocks up to the call's timeout.
 */
int fc_remote_simple_call(struct fc_remote *r, const char *method,
			  const char *prefix, const uint8_t *id,
			  const char *suffix, bool json_body);

/* Item i of a batch as JSON, into *out: 0 or -errno. */
typedef int (*fc_remote_item_fn)(const void *items, size_t i, json_t **out);

/*
 * POST path with {key: [item 0, ..., item count - 1]}, count in 1..max:
 * the answer is in c (initialised here; the caller releases it). 0 or
 * the errno of fc_remote_call_run; -EINVAL for a bad count.
 */
int fc_remote_post_list(struct fc_remote *r, struct call *c, const char *path,
			const char *key, const void *items, size_t count,
			size_t max, fc_remote_item_fn item);

#endif /* CLOUDFS_FC_REMOTE_INT_H */
