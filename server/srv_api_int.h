/* SPDX-License-Identifier: MIT */
/*
 * Private to the API (srv_api*.c): the API object, one request in flight
 * (struct api_call), the handler type and the helpers every handler uses to
 * read JSON fields and query parameters, build node JSON and fail with a
 * clear message. Handlers live in srv_api_account.c, srv_api_tree.c,
 * srv_api_files.c and srv_api_blocks.c; the router and answers in
 * srv_api.c; the JSON, query and capture helpers in srv_api_json.c.
 *
 * Threading: a struct api_call belongs to the one worker thread answering
 * it. struct srv_api is shared by all workers: its deps are read-only and
 * the rate limiter has its own lock.
 */
#ifndef CLOUDFS_SRV_API_INT_H
#define CLOUDFS_SRV_API_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cf_buf.h"
#include "cf_util.h"
#include "srv_api.h"
#include "srv_meta.h"

/* Paging limits for listings and the change feed. */
#define API_LIST_LIMIT_DEFAULT 1000
#define API_LIST_LIMIT_MAX     10000
#define API_MISSING_IDS_MAX    4096
/* Creates in one POST /nodes/batch (each holds a 4 KiB target). */
#define API_CREATE_BATCH_MAX 256
/* Commits in one POST /commits. */
#define API_COMMIT_BATCH_MAX 64
/* Largest file-manager-style symlink target, as cf_path allows. */
#define API_TARGET_MAX CF_PATH_MAX

struct api_rate_entry;

/* Token buckets keyed by a 32-byte hash (token hash or remote address). */
struct api_rate {
	pthread_mutex_t lock;
	struct api_rate_entry **slots; /* owned; protected by ->lock */
	size_t slot_count; /* power of two */
	size_t count; /* protected by ->lock */
	int64_t last_sweep_ns; /* protected by ->lock */
	double per_second; /* 0 = unlimited */
	double burst;
};

struct srv_api {
	struct srv_api_deps deps; /* borrowed pointers, see srv_api.h */
	uint8_t secret[SRV_SECRET_SIZE]; /* owned copy; wiped on free */
	struct api_rate rate;
};

/* One request being answered. */
struct api_call {
	struct srv_api *api; /* borrowed */
	const struct srv_request *req; /* borrowed */
	struct srv_response *resp; /* borrowed: where the answer goes */
	struct srv_principal who; /* valid on routes that need a token */
	uint8_t token_hash[SRV_TOKEN_HASH_SIZE]; /* likewise */
	json_t *body; /* owned by the router: JSON routes */
	const char *arg[2]; /* borrowed from req->path: captures */
	size_t arg_len[2];
	int64_t now_ns; /* wall clock when the call began */
};

/*
 * A route handler. It fills c->resp and returns 0, or returns a negative
 * errno, having filled c->resp with a specific error (api_fail and
 * friends) or not (the router then answers the generic error for it).
 */
typedef int (*api_handler_fn)(struct api_call *c);

/* ----- answers ----- */

/* Answer status with body j (takes ownership, even on failure). */
int api_reply(struct api_call *c, int status, json_t *j);

/* Answer status with no body (204, or 200 for HEAD). */
int api_reply_empty(struct api_call *c, int status);

/* Answer {"cursor": seq} with 200, the reply of most mutations. */
int api_reply_cursor(struct api_call *c, uint64_t seq);

/*
 * Fail with the errno table's status and code for err and a printf
 * message. Returns err, so handlers `return api_fail(c, -EINVAL, ...)`.
 */
int api_fail(struct api_call *c, int err, const char *fmt, ...) CF_PRINTF(3, 4);

/*
 * Fail with an explicit status and code (a static string), for codes the
 * errno table does not name ("bad_name", "stale_version", ...). extra,
 * when not NULL, is an object whose members are merged into the error
 * body (takes ownership). Returns err.
 */
int api_fail_code(struct api_call *c, int err, int status, const char *code,
		  json_t *extra, const char *fmt, ...) CF_PRINTF(6, 7);

/* ----- JSON request fields; each fails the call with a message naming the
 * field and returns a negative errno, 1 when an optional field is absent,
 * 0 when it was read ----- */

int api_get_string(struct api_call *c, const char *field, bool required,
		   const char **out, size_t *out_len);
int api_get_u64(struct api_call *c, const char *field, bool required,
		uint64_t max, uint64_t *out);
int api_get_i64(struct api_call *c, const char *field, bool required,
		int64_t *out);
int api_get_bool(struct api_call *c, const char *field, bool *out);
/* Exactly size bytes as 2*size hex digits. */
int api_get_hex(struct api_call *c, const char *field, bool required,
		uint8_t *out, size_t size);
int api_get_node_id(struct api_call *c, const char *field, bool required,
		    uint8_t out[SRV_NODE_ID_SIZE]);
/* A directory entry name, checked with cf_name_check (400 bad_name). */
int api_get_name(struct api_call *c, const char *field, const char **out,
		 size_t *out_len);
/* Standard base64 into *out (caller owns; free()), at most max bytes. */
int api_get_base64(struct api_call *c, const char *field, size_t max,
		   uint8_t **out, size_t *out_size);

/* ----- query string ----- */

/*
 * Percent-decode the value of key in the query into out (cleared first,
 * capped by its max; '+' is a space). 0; 1 when the key is absent; fails
 * the call with 400 for bad escapes, %00 or a value over the cap.
 */
int api_query(struct api_call *c, const char *key, struct cf_buf *out);
/* A decimal query parameter in [0, max]; *out untouched when absent. */
int api_query_u64(struct api_call *c, const char *key, uint64_t max,
		  uint64_t *out);

/* ----- path captures ----- */

/* The node id in capture i (32 hex); fails with 404 when malformed. */
int api_arg_node_id(struct api_call *c, int i, uint8_t out[SRV_NODE_ID_SIZE]);
/* The block id in capture i (64 hex); fails with 400 when malformed. */
int api_arg_block_id(struct api_call *c, int i, struct blk_id *out);

/* ----- JSON values ----- */

/* Lowercase hex of size bytes: a new reference, NULL on -ENOMEM. */
json_t *api_json_hex(const uint8_t *data, size_t size);
/* Standard base64 with padding; NULL on -ENOMEM. */
json_t *api_json_base64(const uint8_t *data, size_t size);
/* An unsigned integer (clamped to the JSON integer range). */
json_t *api_json_u64(uint64_t v);
/* A node as the API shows it; NULL on -ENOMEM. */
json_t *api_node_json(const struct srv_node *n);
/* A change-feed or listing entry; NULL on -ENOMEM. */
json_t *api_entry_json(const struct srv_entry *e);
/*
 * The answer a batch's item i was refused with names the item: "item i: "
 * goes before its message. For handlers that parse items one by one.
 */
void api_fail_item(struct api_call *c, size_t i);

/* Set key in obj to val (stolen, even on failure): 0 or -ENOMEM. */
int api_set(json_t *obj, const char *key, json_t *val);

/* Names of node kinds and codecs, and back. */
const char *api_kind_name(enum srv_node_kind kind);
int api_kind_parse(const char *s, enum srv_node_kind *out);
const char *api_codec_name(uint8_t codec);

/* Wall-clock nanoseconds since the epoch. */
int64_t api_now_ns(void);

/* Seconds (as srv_meta stores them) to nanoseconds. */
static inline int64_t api_sec_to_ns(int64_t s)
{
	return s * 1000000000ll;
}

/* Publish "changed" when the API has a notifier. */
void api_notify_changed(struct api_call *c, uint64_t seq);

/* ----- handlers, by file ----- */

/* srv_api_account.c */
int api_prelogin(struct api_call *c);
int api_login(struct api_call *c);
int api_logout(struct api_call *c);
int api_account(struct api_call *c);
int api_key_get(struct api_call *c);
int api_key_put(struct api_call *c);

/* srv_api_tree.c */
int api_stat(struct api_call *c);
int api_list(struct api_call *c);
int api_node_get(struct api_call *c);
int api_children(struct api_call *c);
int api_node_create(struct api_call *c);
int api_node_create_batch(struct api_call *c);
int api_node_patch(struct api_call *c);
int api_entry_add(struct api_call *c);
int api_entry_delete(struct api_call *c);
int api_rename(struct api_call *c);
int api_changes(struct api_call *c);
int api_trash_list(struct api_call *c);
int api_trash_restore(struct api_call *c);
int api_trash_purge(struct api_call *c);

/* srv_api_files.c */
int api_pending(struct api_call *c);
int api_commit(struct api_call *c);
int api_commit_batch(struct api_call *c);
int api_versions(struct api_call *c);
int api_version_get(struct api_call *c);
int api_restore(struct api_call *c);

/* srv_api_blocks.c */
int api_blocks_missing(struct api_call *c);
int api_block_put(struct api_call *c);
int api_block_get(struct api_call *c);
int api_block_head(struct api_call *c);

#endif /* CLOUDFS_SRV_API_INT_H */
