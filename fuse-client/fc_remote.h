/* SPDX-License-Identifier: MIT */
/*
 * The client side of the cloudfsd HTTP API (docs/API.md): one typed call per
 * route, on libcurl with a small pool of easy handles (connections are kept
 * alive and reused), JSON through jansson, URLs through curl_url(). Every
 * call has a connect timeout and a total timeout; CURLcode + HTTP status +
 * the server's error code become one negative errno in one place
 * (fc_remote_error).
 *
 * Threading: a struct fc_remote is shared by every thread of the client;
 * all calls are thread-safe and block for at most their timeout. Each call
 * borrows an easy handle from the pool for its duration.
 */
#ifndef CLOUDFS_FC_REMOTE_H
#define CLOUDFS_FC_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blk/chunker.h"
#include "blk/keys.h"
#include "blk/proto.h"
#include "cf_buf.h"
#include "cf_path.h"

#define FC_NODE_ID_SIZE	  BLK_FILE_ID_SIZE /* 16 */
#define FC_NODE_HEX_SIZE  33 /* 32 hex digits + NUL */
#define FC_TOKEN_SIZE	  32
#define FC_TOKEN_HEX_SIZE 65 /* 64 hex digits + NUL */
#define FC_USER_NAME_MAX  64
#define FC_MISSING_BATCH  4096 /* ids per blocks/missing call */

struct fc_remote_opts {
	const char *base_url; /* borrowed, copied: "http://127.0.0.1:8080" */
	long connect_timeout_ms; /* 0 = 5 s */
	long timeout_ms; /* total per JSON call; 0 = 30 s */
	long block_timeout_ms; /* total per block transfer; 0 = 120 s */
	const char *ca_file; /* borrowed, copied; NULL = system CAs */
	const char *user_agent; /* borrowed, copied; NULL = "cloudfs" */
};

struct fc_remote;

/*
 * Make a client for the server at opts->base_url (http or https only).
 * -EINVAL (bad URL), -ENOMEM. Caller owns; free with fc_remote_free. Calls
 * curl_global_init (reference counted by libcurl).
 */
int fc_remote_new(const struct fc_remote_opts *opts, struct fc_remote **out);
void fc_remote_free(struct fc_remote *r);

/*
 * Set the bearer token: 64 hex digits (borrowed, copied; the old one is
 * wiped), or NULL to drop it. -EINVAL when malformed. Thread-safe.
 */
int fc_remote_set_token(struct fc_remote *r, const char *token_hex);

/*
 * cancel true: every transfer in flight or started later fails at once
 * with -ECANCELED (shutdown); false: back to normal.
 */
void fc_remote_cancel(struct fc_remote *r, bool cancel);

/* True when the last call reached the server (any HTTP answer). */
bool fc_remote_is_connected(const struct fc_remote *r);

/*
 * Milliseconds to wait before the next call because the server answered
 * 429 or 503 with Retry-After (0 when none is in force). Workers check it
 * before each attempt; calls themselves never sleep.
 */
long fc_remote_backoff_ms(const struct fc_remote *r);

/*
 * How long to wait before retry number attempts + 1 of a transiently
 * failed request: 1 s doubling per attempt up to 5 minutes, plus any
 * Retry-After backoff in force. In ns.
 */
int64_t fc_remote_retry_ns(const struct fc_remote *r, uint32_t attempts);

/*
 * The one translation of a foreign error space: curl_code (a CURLcode),
 * the HTTP status (0 when no answer arrived) and the server's JSON "error"
 * code (borrowed, may be NULL) to 0 or a negative errno:
 *   network: -ENOTCONN (cannot connect, connection lost), -ETIMEDOUT,
 *     -ECANCELED (fc_remote_cancel),
 *     -EPROTO (malformed or over-long answer), -ENOMEM, -EIO;
 *   400 -EINVAL (or -ENAMETOOLONG, -ENOTDIR, -EISDIR, -ENOTEMPTY by code),
 *   401 -EACCES, 403 -EPERM, 404 -ENOENT (-ENOTDIR by code),
 *   409 -ESTALE (stale_version), -ENODATA (missing_blocks), -ENOTEMPTY,
 *     -ENOTDIR, -EISDIR, -EINVAL by code, else -EEXIST,
 *   403 -EDQUOT (quota_exceeded), 413 -EFBIG, 429 and 503 -EAGAIN,
 *   other 5xx -EIO.
 */
int fc_remote_error(int curl_code, long http_status, const char *error_code);

/*
 * True for errors worth retrying later with the same request: offline,
 * timeouts, rate limits, server errors.
 */
bool fc_remote_is_transient(int rc);

/* ----- account and keys ----- */

struct fc_prelogin {
	struct blk_kdf_params kdf; /* unchecked: the caller checks it */
	uint8_t salt[BLK_SALT_SIZE];
};

/* POST /prelogin. user borrowed. -ENOENT unknown user (if the server
 * says so), network errors. */
int fc_remote_prelogin(struct fc_remote *r, const char *user,
		       struct fc_prelogin *out);

struct fc_login {
	char token[FC_TOKEN_HEX_SIZE]; /* secret: wipe after use */
	int64_t device_id;
	int64_t user_id;
	uint8_t root[FC_NODE_ID_SIZE];
	struct blk_chunker_params chunk;
	int codec; /* enum blk_codec_id */
	uint64_t cursor;
};

/*
 * POST /login with the auth key (borrowed, never logged). -EACCES wrong
 * password or unknown user; -EPROTO malformed answer. On success the token
 * is also installed in r.
 */
int fc_remote_login(struct fc_remote *r, const char *user,
		    const uint8_t auth_key[BLK_KEY_SIZE], const char *device,
		    struct fc_login *out);

/* POST /logout: the token stops working. */
int fc_remote_logout(struct fc_remote *r);

struct fc_account_info {
	char user[FC_USER_NAME_MAX + 1];
	uint64_t usage; /* stored bytes */
	uint64_t quota; /* 0 = unlimited */
	uint64_t blocks, files;
	uint64_t cursor;
	struct blk_chunker_params chunk;
	int codec;
	uint64_t max_file_size;
};

/* GET /account. */
int fc_remote_account(struct fc_remote *r, struct fc_account_info *out);

/* GET /key: the wrapped volume key. -ENOENT when none is stored yet. */
int fc_remote_key_get(struct fc_remote *r, uint8_t out[BLK_WRAPPED_KEY_SIZE]);

/* PUT /key. -EEXIST when a key exists and !replace. */
int fc_remote_key_put(struct fc_remote *r,
		      const uint8_t wrapped[BLK_WRAPPED_KEY_SIZE],
		      bool replace);

/* ----- blocks ----- */

/*
 * POST /blocks/missing for count ids (borrowed; any count, sent in batches
 * of FC_MISSING_BATCH). out_missing[i] (caller's array of count) is set to
 * true for each id the server does not hold.
 */
int fc_remote_blocks_missing(struct fc_remote *r, const struct blk_id *ids,
			     size_t count, bool *out_missing);

/* One block upload for fc_remote_blocks_put. */
struct fc_remote_put {
	struct blk_id id;
	const void *data; /* borrowed for the call */
	size_t size;
	int rc; /* out: 0 or negative errno */
};

/*
 * PUT count blocks, at most parallel at a time over separate connections
 * (curl multi). Each item's rc is set; returns 0 when all succeeded, else
 * the first failure's errno. Blocks up to the block timeout per transfer.
 */
int fc_remote_blocks_put(struct fc_remote *r, struct fc_remote_put *items,
			 size_t count, size_t parallel);

/*
 * GET /blocks/<id> into out (reset first; its cap bounds the size, an
 * answer over it is -EPROTO). -ENOENT when the server lacks the block.
 */
int fc_remote_block_get(struct fc_remote *r, const struct blk_id *id,
			struct cf_buf *out);

/* ----- the tree ----- */

/* A node as the server reports it. Pointers borrowed from the page/call. */
struct fc_rnode {
	uint8_t id[FC_NODE_ID_SIZE];
	mode_t type; /* S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, ... */
	uint32_t mode; /* permission bits, sticky and setid */
	uint32_t uid, gid;
	uint64_t rdev;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	uint64_t version; /* files: current version, 0 = none yet */
	bool pending; /* a device announced an upload */
	int64_t pending_device;
	uint32_t nlink;
	uint64_t seq;
	bool deleted; /* in the trash (change feed only) */
	const char *target; /* symlinks, else NULL */
	size_t target_len;
};

/* An entry (parent, name) -> node. Pointers borrowed from the page. */
struct fc_rentry {
	int64_t id; /* server entry id, stable across renames */
	uint8_t parent[FC_NODE_ID_SIZE];
	uint8_t node[FC_NODE_ID_SIZE];
	const char *name; /* opaque bytes, checked by cf_name_check */
	size_t name_len;
	uint64_t seq;
	bool deleted; /* tombstone */
};

/* One page of the change feed. Release with fc_changes_page_release. */
struct fc_changes_page {
	struct fc_rnode *nodes; /* owned, node_count elements */
	size_t node_count;
	struct fc_rentry *entries; /* owned, entry_count elements */
	size_t entry_count;
	uint64_t next; /* the cursor to ask from next */
	bool more; /* more rows remain after next */
	void *json_; /* owned: keeps the borrowed strings */
};

/*
 * GET /changes?since=&limit= (limit 0 = the server's default). Every node
 * and entry is validated (ids, names, kinds) before it is returned; a bad
 * one is -EPROTO. -ERANGE: since is older than the tombstones the server
 * still keeps (410 resync_required): page from 0 again and resync. Caller
 * releases *out, also on failure (then empty).
 */
int fc_remote_changes(struct fc_remote *r, uint64_t since, size_t limit,
		      struct fc_changes_page *out);
void fc_changes_page_release(struct fc_changes_page *p);

/*
 * GET /nodes/<id>. *out's target is copied into target_buf (caller's, of
 * target_size bytes, may be NULL for non-symlinks: -ENAMETOOLONG when it
 * does not fit).
 */
int fc_remote_node_get(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		       struct fc_rnode *out, char *target_buf,
		       size_t target_size);

/*
 * GET /stat?path= (path borrowed, absolute). Same target rule as
 * fc_remote_node_get.
 */
int fc_remote_stat(struct fc_remote *r, const char *path, struct fc_rnode *out,
		   char *target_buf, size_t target_size);

/* What POST /nodes creates. Pointers borrowed for the call. */
struct fc_create_req {
	uint8_t id[FC_NODE_ID_SIZE];
	uint8_t parent[FC_NODE_ID_SIZE];
	const char *name;
	size_t name_len;
	mode_t type; /* S_IFREG ... */
	uint32_t mode, uid, gid;
	uint64_t rdev; /* S_IFCHR, S_IFBLK */
	const char *target; /* S_IFLNK */
	size_t target_len;
	int64_t mtime_ns; /* 0 = the server's clock */
};

/* POST /nodes. -EEXIST (id or name taken), -ENOENT, -ENOTDIR, ... */
int fc_remote_node_create(struct fc_remote *r, const struct fc_create_req *c,
			  uint64_t *out_cursor);

/* Creates one POST /nodes/batch takes (the server's limit). */
#define FC_REMOTE_CREATE_BATCH_MAX 256
/* Names and targets in one batch, a quarter of the server's JSON cap. */
#define FC_REMOTE_CREATE_BATCH_BYTES (256u * 1024)

/*
 * POST /nodes/batch: cs[0..count) in order, in one transaction. 0 when
 * all are made (a node already there under its name counts); else the
 * error of item *out_done (-EEXIST, -ENOENT, -ENOTDIR, -EINVAL), the
 * items before it made; or the request's error with *out_done 0 (a
 * retry is safe).
 */
int fc_remote_nodes_create(struct fc_remote *r, const struct fc_create_req *cs,
			   size_t count, size_t *out_done,
			   uint64_t *out_cursor);

enum fc_remote_patch_flags {
	FC_REMOTE_PATCH_MODE = 1u << 0,
	FC_REMOTE_PATCH_UID = 1u << 1,
	FC_REMOTE_PATCH_GID = 1u << 2,
	FC_REMOTE_PATCH_MTIME = 1u << 3,
};

struct fc_patch_req {
	unsigned flags; /* enum fc_remote_patch_flags */
	uint32_t mode, uid, gid;
	int64_t mtime_ns;
};

/* PATCH /nodes/<id>. */
int fc_remote_node_patch(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
			 const struct fc_patch_req *p, uint64_t *out_cursor);

/* POST /nodes/<id>/pending. */
int fc_remote_node_pending(struct fc_remote *r,
			   const uint8_t id[FC_NODE_ID_SIZE]);

struct fc_commit_req {
	uint64_t base_version;
	uint64_t size;
	int64_t mtime_ns;
	const void *manifest; /* borrowed, manifest_size bytes */
	size_t manifest_size;
	uint8_t tag[BLK_MANIFEST_TAG_SIZE];
};

struct fc_commit_res {
	uint64_t version; /* the new version on success */
	uint64_t cursor;
	uint64_t current_version; /* with -ESTALE */
	struct blk_id *missing; /* with -ENODATA: owned, free() */
	size_t missing_count;
};

/*
 * POST /nodes/<id>/commit. 0; -ESTALE when base_version is not current
 * (res->current_version set); -ENODATA when blocks are missing
 * (res->missing set: caller frees); -EFBIG; -EDQUOT over quota.
 */
int fc_remote_commit(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		     const struct fc_commit_req *c, struct fc_commit_res *res);

/* One commit of a batch. */
struct fc_commit_item {
	const uint8_t *id; /* FC_NODE_ID_SIZE bytes, borrowed */
	const struct fc_commit_req *req; /* borrowed */
	int rc; /* out: what fc_remote_commit would have returned */
	struct fc_commit_res res; /* out: as fc_remote_commit fills it */
};

/* Commits in one POST /commits: the server's limit. */
#define FC_REMOTE_COMMIT_BATCH_MAX 64

/*
 * POST /commits: items[0..count) in one request and one transaction on
 * the server, each independent of the others. 0 when the server answered
 * item by item: each ->rc and ->res are what fc_remote_commit would have
 * given (free each ->res.missing). Else the request's error, ->res
 * untouched: nothing was committed, or (-EPROTO, a lost answer) what was
 * committed shows as stale on the next try. A server without the route
 * answers -ENOENT.
 */
int fc_remote_commit_batch(struct fc_remote *r, struct fc_commit_item *items,
			   size_t count);

struct fc_version_info {
	uint64_t version;
	uint64_t size;
	int64_t mtime_ns;
	int64_t created; /* unix seconds, 0 when not reported */
	int64_t device_id; /* 0 when not reported */
};

/*
 * GET /nodes/<id>/versions. *out (caller frees) gets *out_count entries,
 * oldest first as the server sends them.
 */
int fc_remote_versions(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		       struct fc_version_info **out, size_t *out_count);

struct fc_version_data {
	struct fc_version_info info;
	uint8_t *manifest; /* owned, free(); unverified bytes */
	size_t manifest_size;
	uint8_t tag[BLK_MANIFEST_TAG_SIZE];
};

/*
 * GET /nodes/<id>/versions/<version> (0 = "current"). The manifest is NOT
 * verified here: the caller runs blk_manifest_verify_parse. -ENOENT.
 */
int fc_remote_version_get(struct fc_remote *r,
			  const uint8_t id[FC_NODE_ID_SIZE], uint64_t version,
			  struct fc_version_data *out);
void fc_version_data_release(struct fc_version_data *v);

/* POST /nodes/<id>/restore: makes a new version; *out_version gets it. */
int fc_remote_restore(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		      uint64_t version, uint64_t *out_version);

/*
 * POST /trash/<node>/restore: the trashed node back at (parent, name), or
 * where it was when parent is NULL (name unused). -ENOENT: not in the
 * trash, or that directory is gone; -EEXIST: the name is taken.
 */
int fc_remote_trash_restore(struct fc_remote *r,
			    const uint8_t node[FC_NODE_ID_SIZE],
			    const uint8_t parent[FC_NODE_ID_SIZE],
			    const char *name, size_t name_len,
			    uint64_t *out_cursor);

/* POST /entries: a hard link (parent, name) -> node. */
int fc_remote_link(struct fc_remote *r, const uint8_t node[FC_NODE_ID_SIZE],
		   const uint8_t parent[FC_NODE_ID_SIZE], const char *name,
		   size_t name_len, uint64_t *out_cursor);

/*
 * An entry as unlink and rename name it, with the node this device
 * expects there (NULL: whatever it holds). All borrowed.
 */
struct fc_remote_slot {
	const uint8_t *parent; /* FC_NODE_ID_SIZE bytes */
	const char *name;
	size_t len;
	const uint8_t *node; /* FC_NODE_ID_SIZE bytes, or NULL */
};

enum fc_remote_unlink_flags {
	FC_REMOTE_UNLINK_DIR = 1u << 0, /* rmdir */
	FC_REMOTE_UNLINK_RECURSIVE = 1u << 1,
};

/*
 * DELETE /entries. -ENOENT when the name is free, or holds another node
 * than at->node: that node stays.
 */
int fc_remote_unlink(struct fc_remote *r, const struct fc_remote_slot *at,
		     unsigned flags, uint64_t *out_cursor);

enum fc_remote_rename_flags {
	FC_REMOTE_RENAME_NOREPLACE = 1u << 0,
	FC_REMOTE_RENAME_EXCHANGE = 1u << 1,
};

/*
 * POST /rename. src->node ("node"): the node to move; another one at the
 * source is -ENOENT. dst->node ("replaces"): the only node the target may
 * hold for the rename to go ahead; another one is -EEXIST.
 */
int fc_remote_rename(struct fc_remote *r, const struct fc_remote_slot *src,
		     const struct fc_remote_slot *dst, unsigned flags,
		     uint64_t *out_cursor);

/* ----- trash ----- */

struct fc_trash_item {
	uint8_t node[FC_NODE_ID_SIZE];
	mode_t type;
	uint8_t parent[FC_NODE_ID_SIZE];
	char name[CF_NAME_MAX + 1];
	size_t name_len;
	uint64_t size;
	int64_t deleted; /* unix seconds */
};

/* GET /trash. *out (caller frees) gets *out_count items. */
int fc_remote_trash_list(struct fc_remote *r, struct fc_trash_item **out,
			 size_t *out_count);

/* DELETE /trash/<id>. */
int fc_remote_trash_purge(struct fc_remote *r,
			  const uint8_t node[FC_NODE_ID_SIZE]);

#endif /* CLOUDFS_FC_REMOTE_H */
