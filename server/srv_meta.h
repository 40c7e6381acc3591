/* SPDX-License-Identifier: MIT */
/*
 * Metadata store interface: accounts, devices, tokens, the file tree (nodes
 * and entries), versions, the per-account block index and the change feed.
 * The embedded default is SQLite (srv_meta_sqlite.c); PostgreSQL will be a
 * second implementation of these ops, not an edit elsewhere.
 *
 * Contract for every implementation:
 * - Every mutating call is atomic and durable when it returns 0: a reader
 *   sees all of it or none of it, and it survives a crash (concurrent calls
 *   may share one transaction and one fsync: group commit).
 * - Every call is scoped to one account (user_id); nothing reads or changes
 *   another account's rows, and "not yours" is -ENOENT, never -EACCES.
 * - Each account has a monotonically increasing seq. Every row a mutation
 *   touches (node or entry) gets a fresh seq = ++account.seq, so the change
 *   feed pages exactly by seq. *out_seq returns the account seq after the
 *   call (the cursor to push in a "changed" notification).
 * - Names are opaque bytes (the API checked them with cf_name_check).
 * - Iterating ops (user_list, device_list, list_dir, changes, versions,
 *   trash_list, gc_unreferenced, referenced_blocks, stored_blocks) call fn
 *   with pointers borrowed for that call only; a non-zero return stops the
 *   walk, and a negative one is returned by the op. fn may call other ops
 *   of the same store.
 * - All ops are thread-safe and block. Errors are negative errno:
 *   -ENOENT, -EEXIST, -ENOTDIR, -EISDIR, -ENOTEMPTY, -EINVAL, -ESTALE (base
 *   version is not current), -ENOMEM, -ENOSPC, -EIO.
 */
#ifndef CLOUDFS_SRV_META_H
#define CLOUDFS_SRV_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/keys.h"
#include "blk/proto.h"
#include "cf_path.h"

#define SRV_NODE_ID_SIZE BLK_FILE_ID_SIZE /* 16 */
#define SRV_AUTH_HASH_SIZE 32
#define SRV_TOKEN_HASH_SIZE 32
#define SRV_USER_NAME_MAX 64
#define SRV_SECRET_SIZE 32      /* server secret (fake prelogin salts) */
#define SRV_WRAPPED_KEY_MAX 4096 /* largest wrapped key key_put accepts */

/* The root directory of every account has the all-zero node id. */
extern const uint8_t srv_root_id[SRV_NODE_ID_SIZE];

enum srv_node_kind {
	SRV_NODE_FILE = 1,
	SRV_NODE_DIR = 2,
	SRV_NODE_SYMLINK = 3,
	SRV_NODE_FIFO = 4,
	SRV_NODE_CHR = 5,
	SRV_NODE_BLK = 6,
	SRV_NODE_SOCK = 7,
};

enum srv_node_status {
	SRV_STATUS_UPLOADED = 0,
	SRV_STATUS_PENDING = 1, /* a device said it is uploading a new version */
};

/* ----- accounts, devices, tokens ----- */

struct srv_user {
	int64_t id;
	char name[SRV_USER_NAME_MAX + 1];
	struct blk_kdf_params kdf;
	uint8_t kdf_salt[BLK_SALT_SIZE];        /* for the client's scrypt */
	uint8_t auth_salt[BLK_SALT_SIZE];       /* for the server's slow hash */
	uint8_t auth_hash[SRV_AUTH_HASH_SIZE];  /* slow hash of the auth key */
	uint32_t chunk_min, chunk_avg, chunk_max; /* fixed at creation */
	uint8_t codec;                            /* enum blk_codec_id */
	uint64_t quota;                           /* bytes; 0 = unlimited */
	uint64_t seq;                             /* change cursor */
	int64_t created;                          /* unix seconds */
};

struct srv_device {
	int64_t id;
	int64_t user_id;
	char name[CF_NAME_MAX + 1];
	int64_t created, last_seen; /* unix seconds */
	bool revoked;
};

typedef int (*srv_meta_user_fn)(void *arg, const struct srv_user *u);
typedef int (*srv_meta_device_fn)(void *arg, const struct srv_device *d);

/* ----- the tree ----- */

struct srv_node {
	uint8_t id[SRV_NODE_ID_SIZE];
	enum srv_node_kind kind;
	uint32_t mode; /* permission bits and sticky/setid, no type bits */
	uint32_t uid, gid;
	uint64_t rdev;      /* character and block devices */
	uint64_t size;      /* files: current version's size; symlinks: target length */
	int64_t mtime_ns, ctime_ns;
	uint64_t version;   /* files: current version, 0 = never committed */
	enum srv_node_status status;
	int64_t pending_device; /* with SRV_STATUS_PENDING */
	uint32_t nlink;     /* live entries naming this node (dirs: 2 + subdirs) */
	uint64_t seq;
	int64_t deleted;    /* unix seconds it went to trash, 0 = live */
	char target[CF_PATH_MAX + 1]; /* symlinks; NUL-terminated, opaque bytes */
};

/* One node of create_batch: what create takes, borrowed for the call. */
struct srv_create {
	const struct srv_node *node;
	const uint8_t *parent;
	const char *name;
	size_t name_len;
};

struct srv_entry {
	int64_t id;                         /* stable across renames */
	uint8_t parent[SRV_NODE_ID_SIZE];
	uint8_t node[SRV_NODE_ID_SIZE];
	char name[CF_NAME_MAX + 1];         /* NUL-terminated copy */
	size_t name_len;
	uint64_t seq;
	bool deleted;                       /* tombstone in the change feed */
};

/* Called for each (entry, node) pair of a listing; non-zero stops. */
typedef int (*srv_meta_dirent_fn)(void *arg, const struct srv_entry *e,
				  const struct srv_node *n);

/* Change feed callbacks, in seq order; non-zero stops (error passed up). */
typedef int (*srv_meta_node_fn)(void *arg, const struct srv_node *n);
typedef int (*srv_meta_entry_fn)(void *arg, const struct srv_entry *e);

/* What srv_meta_setattr changes. */
enum srv_setattr_flags {
	SRV_SET_MODE = 1u << 0,
	SRV_SET_UID = 1u << 1,
	SRV_SET_GID = 1u << 2,
	SRV_SET_MTIME = 1u << 3,
	SRV_SET_CTIME = 1u << 4,
};

struct srv_setattr {
	unsigned flags;
	uint32_t mode, uid, gid;
	int64_t mtime_ns, ctime_ns;
};

enum srv_rename_flags {
	SRV_RENAME_NOREPLACE = 1u << 0, /* -EEXIST when the target exists */
	SRV_RENAME_EXCHANGE = 1u << 1,  /* swap the two entries atomically */
};

enum srv_unlink_flags {
	SRV_UNLINK_DIR = 1u << 0,       /* rmdir: must be a directory */
	SRV_UNLINK_RECURSIVE = 1u << 1, /* a non-empty directory goes to trash whole */
};

/*
 * An entry as a client names it for unlink and rename: a directory and a
 * name, and the node the client expects there. A client replaying ops it
 * made offline names its node, so a name another device has since given
 * to another node is not removed or moved unseen. All borrowed.
 */
struct srv_slot {
	const uint8_t *parent;
	const char *name;
	size_t len;
	const uint8_t *node; /* SRV_NODE_ID_SIZE bytes; NULL = no expectation */
};

/* ----- versions ----- */

struct srv_version {
	uint64_t version;
	int64_t device_id;
	uint64_t size;
	int64_t mtime_ns;
	int64_t created; /* unix seconds */
	uint8_t *manifest; /* owned (free()) when requested, else NULL */
	size_t manifest_size;
	uint8_t tag[BLK_MANIFEST_TAG_SIZE];
};

typedef int (*srv_meta_version_fn)(void *arg, const struct srv_version *v);

/* A commit request: borrowed pointers for the call. */
struct srv_commit {
	const uint8_t *node;              /* SRV_NODE_ID_SIZE bytes */
	uint64_t base_version;            /* version the client started from */
	int64_t device_id;
	uint64_t size;
	int64_t mtime_ns;
	const uint8_t *manifest;          /* validated by the API (blk_manifest_parse) */
	size_t manifest_size;
	const uint8_t *tag;               /* BLK_MANIFEST_TAG_SIZE bytes */
	const struct blk_id *blocks;      /* distinct ids the manifest references */
	size_t block_count;
};

/* What commit_batch did with one commit: commit's results, item by item. */
struct srv_commit_result {
	int rc; /* 0, or commit's error for this item */
	uint64_t version; /* new version; the current one on -ESTALE */
	uint64_t seq; /* the node's cursor after the commit */
	struct blk_id *missing; /* with -ENOENT: owned, free() */
	size_t missing_count;
};

/* ----- trash ----- */

struct srv_trash_item {
	uint8_t node[SRV_NODE_ID_SIZE];
	enum srv_node_kind kind;
	uint8_t parent[SRV_NODE_ID_SIZE]; /* where it was */
	char name[CF_NAME_MAX + 1];
	size_t name_len;
	uint64_t size;
	int64_t deleted; /* unix seconds */
};

typedef int (*srv_meta_trash_fn)(void *arg, const struct srv_trash_item *t);

/* ----- blocks and garbage collection ----- */

typedef int (*srv_meta_block_fn)(void *arg, int64_t user_id,
				 const struct blk_id *id, uint64_t size);

struct srv_usage {
	uint64_t bytes;  /* stored block bytes */
	uint64_t blocks;
	uint64_t files;  /* live file nodes */
	uint64_t quota;  /* 0 = unlimited */
};

struct srv_meta;

struct srv_meta_ops {
	/* accounts */
	int (*user_create)(struct srv_meta *m, struct srv_user *u);
	int (*user_get)(struct srv_meta *m, int64_t id, struct srv_user *out);
	int (*user_get_by_name)(struct srv_meta *m, const char *name,
				struct srv_user *out);
	int (*user_list)(struct srv_meta *m, srv_meta_user_fn fn, void *arg);
	int (*user_set_auth)(struct srv_meta *m, int64_t user_id,
			     const struct srv_user *auth,
			     const uint8_t *wrapped_key, size_t wrapped_size);
	int (*key_get)(struct srv_meta *m, int64_t user_id, uint8_t *out,
		       size_t out_size, size_t *out_len);
	int (*key_put)(struct srv_meta *m, int64_t user_id,
		       const uint8_t *wrapped, size_t size, bool replace);

	/* devices and tokens */
	int (*device_create)(struct srv_meta *m, int64_t user_id,
			     const char *name, int64_t *out_id);
	int (*device_list)(struct srv_meta *m, int64_t user_id,
			   srv_meta_device_fn fn, void *arg);
	int (*device_revoke)(struct srv_meta *m, int64_t device_id);
	int (*token_create)(struct srv_meta *m, const uint8_t *hash,
			    int64_t user_id, int64_t device_id);
	int (*token_lookup)(struct srv_meta *m, const uint8_t *hash,
			    int64_t *out_user, int64_t *out_device);
	int (*token_delete)(struct srv_meta *m, const uint8_t *hash);

	/* tree reads */
	int (*node_get)(struct srv_meta *m, int64_t user_id, const uint8_t *id,
			struct srv_node *out);
	int (*lookup)(struct srv_meta *m, int64_t user_id,
		      const uint8_t *parent, const char *name, size_t name_len,
		      struct srv_entry *out_entry, struct srv_node *out_node);
	int (*list_dir)(struct srv_meta *m, int64_t user_id,
			const uint8_t *dir, const char *after,
			size_t after_len, size_t limit,
			srv_meta_dirent_fn fn, void *arg);
	int (*changes)(struct srv_meta *m, int64_t user_id, uint64_t since,
		       size_t limit, srv_meta_node_fn node_fn,
		       srv_meta_entry_fn entry_fn, void *arg,
		       uint64_t *out_next, bool *out_more);

	/* tree writes */
	int (*create)(struct srv_meta *m, int64_t user_id,
		      const struct srv_node *n, const uint8_t *parent,
		      const char *name, size_t name_len, uint64_t *out_seq);
	int (*create_batch)(struct srv_meta *m, int64_t user_id,
			    const struct srv_create *items, size_t count,
			    size_t *out_done, uint64_t *out_seq);
	int (*link)(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		    const uint8_t *parent, const char *name, size_t name_len,
		    uint64_t *out_seq);
	int (*unlink)(struct srv_meta *m, int64_t user_id,
		      const struct srv_slot *at, unsigned flags, int64_t now,
		      uint64_t *out_seq);
	int (*rename)(struct srv_meta *m, int64_t user_id,
		      const struct srv_slot *src, const struct srv_slot *dst,
		      unsigned flags, int64_t now, uint64_t *out_seq);
	int (*setattr)(struct srv_meta *m, int64_t user_id, const uint8_t *node,
		       const struct srv_setattr *attr, uint64_t *out_seq);
	int (*mark_pending)(struct srv_meta *m, int64_t user_id,
			    const uint8_t *node, int64_t device_id,
			    uint64_t *out_seq);

	/* versions */
	int (*commit)(struct srv_meta *m, int64_t user_id,
		      const struct srv_commit *c, uint64_t *out_version,
		      uint64_t *out_seq, struct blk_id **out_missing,
		      size_t *out_missing_count);
	int (*commit_batch)(struct srv_meta *m, int64_t user_id,
			    const struct srv_commit *cs, size_t count,
			    struct srv_commit_result *out);
	int (*versions)(struct srv_meta *m, int64_t user_id, const uint8_t *node,
			srv_meta_version_fn fn, void *arg);
	int (*version_get)(struct srv_meta *m, int64_t user_id,
			   const uint8_t *node, uint64_t version,
			   struct srv_version *out);
	int (*version_restore)(struct srv_meta *m, int64_t user_id,
			       const uint8_t *node, uint64_t version,
			       int64_t device_id, uint64_t *out_version,
			       uint64_t *out_seq);

	/* trash */
	int (*trash_list)(struct srv_meta *m, int64_t user_id,
			  srv_meta_trash_fn fn, void *arg);
	int (*trash_restore)(struct srv_meta *m, int64_t user_id,
			     const uint8_t *node, const uint8_t *parent,
			     const char *name, size_t name_len,
			     uint64_t *out_seq);
	int (*trash_purge)(struct srv_meta *m, int64_t user_id,
			   const uint8_t *node, uint64_t *out_seq);

	/* blocks */
	int (*blocks_missing)(struct srv_meta *m, int64_t user_id,
			      const struct blk_id *ids, size_t count,
			      int64_t now, bool *out_missing);
	int (*block_add)(struct srv_meta *m, int64_t user_id,
			 const struct blk_id *id, uint64_t size, int64_t now,
			 bool *out_new);
	int (*block_has)(struct srv_meta *m, int64_t user_id,
			 const struct blk_id *id, uint64_t *out_size);
	int (*usage)(struct srv_meta *m, int64_t user_id, struct srv_usage *out);

	/* garbage collection and checks (admin, not the request path) */
	int (*gc_prune)(struct srv_meta *m, int64_t now, int64_t retention,
			uint64_t *out_versions, uint64_t *out_nodes);
	int (*gc_unreferenced)(struct srv_meta *m, int64_t older_than,
			       srv_meta_block_fn fn, void *arg);
	int (*block_forget)(struct srv_meta *m, int64_t user_id,
			    const struct blk_id *id, int64_t older_than);
	int (*referenced_blocks)(struct srv_meta *m, srv_meta_block_fn fn,
				 void *arg);
	int (*stored_blocks)(struct srv_meta *m, srv_meta_block_fn fn,
			     void *arg);

	void (*close)(struct srv_meta *m);

	/* server-wide (added after the first draft: keep at the end) */
	int (*secret_get)(struct srv_meta *m, uint8_t out[SRV_SECRET_SIZE]);
};

/*
 * Implementations embed this as their first member. Callers use
 * m->ops->name(m, ...).
 */
struct srv_meta {
	const struct srv_meta_ops *ops;
};

/*
 * Open (creating or migrating) the SQLite store at path: WAL,
 * synchronous=FULL, schema from schema/server.sql with forward migrations
 * tracked in PRAGMA user_version. -ENOMEM, -EIO, -EPROTO (a newer schema
 * than this binary knows). Caller owns; close with srv_meta_close.
 */
int srv_meta_sqlite_open(const char *path, struct srv_meta **out);

static inline void srv_meta_close(struct srv_meta *m)
{
	if (m)
		m->ops->close(m);
}

/*
 * Per-op contracts (beyond the general ones at the top):
 *
 * user_create: u->name unique (-EEXIST), 1..SRV_USER_NAME_MAX bytes
 *   (-EINVAL); fills u->id, u->created, u->seq; creates the root directory
 *   node (mode 0755) with seq 1.
 * user_set_auth: replaces kdf, kdf_salt, auth_salt, auth_hash from auth and
 *   the wrapped key (password change), and revokes no device.
 * key_get: -ENOENT when no wrapped key is stored; -EMSGSIZE when out_size
 *   is too small. key_put: -EEXIST when a key exists and !replace; -EINVAL
 *   when size is 0 or over SRV_WRAPPED_KEY_MAX.
 * device_create: -ENOENT when the user does not exist.
 * device_revoke: also deletes the device's tokens; -ENOENT.
 * token_create: -ENOENT unless device_id is a non-revoked device of
 *   user_id; -EEXIST for a duplicate hash. token_delete: -ENOENT.
 * token_lookup: -ENOENT for unknown tokens and tokens of revoked devices;
 *   updates the device's last_seen at most once a minute.
 * node_get: also returns a node in the trash (deleted != 0).
 * lookup: -ENOENT; -ENOTDIR when parent is not a directory.
 * list_dir: live entries of dir ordered by name bytes, starting after
 *   `after` (NULL = from the start), at most limit (0 = all).
 * changes: nodes and entries (tombstones included) with seq > since, in seq
 *   order, at most limit rows in all (0 = no limit); *out_next is the seq
 *   to ask from next time, *out_more true when rows remain. An entry with
 *   deleted set is gone (unlinked, or the replaced side of a rename); a
 *   node with deleted != 0 is in the trash. Rows below a trashed directory
 *   do not change: a device drops the tree when its top entry goes, and a
 *   restore re-sends the whole tree. Purged nodes simply stop appearing.
 *   -ERANGE, with the account's feed horizon in *out_next, when since > 0
 *   is below it: tombstones after since were pruned (gc_prune), so the
 *   caller must start over from since = 0 (every live row, no tombstone
 *   older than the retention period).
 * create: n->id chosen by the client (-EEXIST when taken, even by a node in
 *   the trash), n->kind any; the entry (parent, name) must be free
 *   (-EEXIST), parent a live directory (-ENOENT, -ENOTDIR). Sets ctime.
 * create_batch: the items' creates in order, in one transaction, so many
 *   cost one fsync. An item whose node is already there under its parent
 *   and name counts as created (a retry after a lost answer). Stops at
 *   the first item that fails and returns its error, the items before it
 *   staying created; *out_done (always set) says how many are, *out_seq
 *   is the cursor after them. -EIO and the like with *out_done 0 when the
 *   transaction itself failed.
 * link: node must be a live non-directory (-EPERM for directories); a
 *   name another node holds is -EEXIST, one this node holds already is
 *   done (a retry whose answer was lost).
 * unlink: with SRV_UNLINK_DIR the target must be a directory (-ENOTDIR),
 *   without it must not be (-EISDIR); a non-empty directory is -ENOTEMPTY
 *   unless SRV_UNLINK_RECURSIVE. Removing the last entry of a node moves
 *   it to the trash (deleted = now) with its versions; a directory goes
 *   with the tree below it, whose rows stay as they are. An at->node the
 *   name does not hold is -ENOENT: the node the caller meant is gone from
 *   there already, and the one in its place stays.
 * rename: POSIX rename(2) semantics on entries: replacing an existing target
 *   moves the replaced node to the trash; a directory may replace only an
 *   empty directory (-ENOTEMPTY), a file only a non-directory (-EISDIR /
 *   -ENOTDIR); moving a directory under itself is -EINVAL; renaming onto
 *   the same node is a no-op. One entry row changes for a directory move,
 *   however large the subtree. src->node the source name does not hold is
 *   -ENOENT, as for unlink. dst->node is a compare-and-swap on the target,
 *   for a client replaying an offline rename: when the target name holds a
 *   node other than dst->node (and other than the source's own node, which
 *   stays the no-op) the call fails with -EEXIST and changes nothing; when
 *   the target is free, dst->node is ignored (the node it named was
 *   removed elsewhere: a plain move). With SRV_RENAME_EXCHANGE it checks
 *   the entry swapped in; with SRV_RENAME_NOREPLACE it is -EINVAL.
 * setattr, mark_pending: the node must be live (not in the trash).
 *   mark_pending: files only (-EISDIR for directories, -EINVAL else).
 * commit: node must be a live file (-EISDIR, -EINVAL). -ESTALE when
 *   base_version is not the current version (*out_version = current
 *   then); -ENOENT with
 *   *out_missing (caller frees) listing referenced ids not in the block
 *   index; -EFBIG is the API's job (it knows the limit). On success the new
 *   version = current + 1, status uploaded, size/mtime updated; the old
 *   version is kept.
 * commit_batch: each of cs[0..count) as commit would, in one transaction,
 *   so many small files cost one fsync. Items are independent: each runs
 *   in its own savepoint and out[i] says how it went (a stale or refused
 *   item leaves the others committed). 0 then; the transaction's error
 *   (-EIO and the like) when nothing was committed, out[] cleared.
 * versions: oldest first; also for a node in the trash.
 * version_get: version 0 means the current one; -ENOENT when there is
 *   none. out->manifest is caller-owned (free()).
 * version_restore: makes a new version whose manifest is that of version.
 * trash_list: top-level trashed nodes (the contents of a trashed directory
 *   stay below it), oldest deletion first.
 * trash_restore: parent/name NULL = the original place; -EEXIST when that
 *   name is taken now, -ENOENT when the parent is gone (or itself in the
 *   trash), -EINVAL when a directory would land inside itself. Every node
 *   and entry of a restored directory tree gets a fresh seq, so devices
 *   that dropped the tree see it again in the change feed.
 * trash_purge: deletes the node, its versions and, for a directory, the
 *   whole tree below it (a hard-linked file with links elsewhere stays).
 * blocks_missing: out_missing[i] true when ids[i] is not in the index;
 *   present ones get last_seen = now, so GC's grace also covers blocks a
 *   client was just told not to upload.
 * block_add: record a stored block (idempotent; *out_new false when known).
 *   The row is visible on return but durable only with the next durable
 *   write (at the latest the commit naming the block): a crash may forget
 *   it, and the block is then reported missing and uploaded again. The
 *   last_seen marks of blocks_missing are kept the same way.
 * gc_prune: drop non-current versions superseded (replaced by a newer
 *   one) before now - retention, and purge trash items deleted before
 *   then. Retention counts from the overwrite, not from the version's
 *   creation, so an overwrite keeps the old content for the whole period
 *   (invariant 4). Also drops entry tombstones made before then (except
 *   the one a trashed node would be restored into) and raises the
 *   account's feed horizon to the largest seq dropped (see changes).
 *   Works in bounded batches; may take a while.
 * gc_unreferenced: blocks no retained version references, last seen before
 *   older_than. block_forget: delete the index row only if still
 *   unreferenced and last seen before older_than (-EBUSY otherwise), so a
 *   concurrent upload or commit wins over GC.
 * referenced_blocks: every (user, id) some retained version references,
 *   with the size from the block index (0 when the index lacks it).
 * stored_blocks: every (user, id, size) in the block index.
 * usage: -ENOENT for an unknown user.
 * secret_get: the server secret, created randomly with the database.
 */

#endif /* CLOUDFS_SRV_META_H */
