/* SPDX-License-Identifier: MIT */
/*
 * The client's state database (state.db, schema/client*.sql): the local copy
 * of the tree (nodes, entries), each file's server manifest as chunk rows
 * with "present in the cache file" bits, the outbox of metadata ops waiting
 * to be pushed, the upload queue (dirty files) and the account's cursor.
 *
 * Every FUSE operation is answered from here; every local change and the
 * outbox op that will replay it on the server are one transaction, so the
 * server is told exactly what the mount showed, in order.
 *
 * Threading: one struct fc_state is shared by all threads and every
 * function below is thread-safe. It holds one SQLite connection (WAL,
 * exclusive locking: the daemon is the database's only user) behind one
 * mutex that each call holds for its statements only, never across a
 * network wait. Every call blocks on local disk only; none waits for the
 * network. Nothing is fsync'd except where a function says "durable".
 */
#ifndef CLOUDFS_FC_STATE_H
#define CLOUDFS_FC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/manifest.h"
#include "blk/proto.h"
#include "cf_buf.h"
#include "cf_path.h"

#define FC_ID_SIZE BLK_FILE_ID_SIZE /* 16: node ids are 128-bit random */
#define FC_ID_HEX_SIZE (2 * FC_ID_SIZE + 1)
#define FC_ROOT_INO 1 /* the root directory: ino 1, all-zero node id */

/* Node kinds: the server's numbering (srv_meta.h enum srv_node_kind). */
enum fc_kind {
	FC_KIND_FILE = 1,
	FC_KIND_DIR = 2,
	FC_KIND_SYMLINK = 3,
	FC_KIND_FIFO = 4,
	FC_KIND_CHR = 5,
	FC_KIND_BLK = 6,
	FC_KIND_SOCK = 7,
};

/* Server API names of the kinds ("file", "dir", ...); NULL when invalid. */
const char *fc_kind_name(enum fc_kind kind);
/* Kind of a mode's S_IFMT bits; 0 when not one of the seven. */
enum fc_kind fc_kind_from_mode(uint32_t mode);
/* S_IFMT bits of a kind. */
uint32_t fc_kind_to_mode(enum fc_kind kind);

/* Lowercase hex of a node id into out (32 chars + NUL). */
void fc_id_to_hex(const uint8_t id[FC_ID_SIZE], char out[FC_ID_HEX_SIZE]);
/* Parse exactly 32 hex digits of len bytes: 0 or -EINVAL. */
int fc_id_from_hex(const char *hex, size_t len, uint8_t out[FC_ID_SIZE]);
/* 16 random bytes for a new node (getrandom): 0 or -EIO. */
int fc_id_generate(uint8_t out[FC_ID_SIZE]);

/*
 * One node as the mount sees it. Value type. Content fields (size, mtime,
 * version) are the local truth: they include local writes not yet
 * committed.
 */
struct fc_node {
	int64_t ino;                /* FUSE inode number, stable */
	uint8_t id[FC_ID_SIZE];     /* server node id */
	enum fc_kind kind;
	uint32_t mode;              /* permission, setid and sticky bits only */
	uint32_t uid, gid;
	uint64_t rdev;              /* FC_KIND_CHR / FC_KIND_BLK */
	uint64_t size;              /* files: bytes; symlinks: target length */
	int64_t atime_ns, mtime_ns, ctime_ns;
	uint32_t nlink;             /* entries naming it; dirs 2 + subdirs */
	uint64_t version;           /* server version the content is based on;
				     * 0 = never committed */
	uint64_t remote_version;    /* newest version the server announced */
	uint64_t manifest_version;  /* version the chunk rows describe */
	bool dirty;                 /* local content not yet committed */
	bool pinned;                /* keep all content cached */
	bool pushed;                /* the create op reached the server */
};

/* A node's content is the server's current one and its chunk rows are known. */
static inline bool fc_node_has_manifest(const struct fc_node *n)
{
	return n->dirty || n->remote_version == n->manifest_version;
}

struct fc_state;

/*
 * Open (creating or migrating, PRAGMA user_version) the database at path
 * (borrowed). A new database gets the root directory (ino 1, all-zero id,
 * mode 0755, owned by uid/gid). Uploads left claimed by a crash go back to
 * the queue. -ENOMEM, -EIO, -EPROTO (schema newer than this binary),
 * -EACCES and other -errno from the file system. Caller owns *out; close
 * with fc_state_close (after every thread stopped using it).
 */
int fc_state_open(const char *path, uint32_t uid, uint32_t gid,
		  struct fc_state **out);

/*
 * This device's name (copied, cut to 63 bytes), for the conflicted copy
 * names fc_state_apply_page may give; call before other threads run.
 */
void fc_state_set_device(struct fc_state *st, const char *device);

/* Checkpoint, close the connection and free. NULL is a no-op. */
void fc_state_close(struct fc_state *st);

/* ----- reads ----- */

/* -ENOENT when no such ino. */
int fc_state_getattr(struct fc_state *st, int64_t ino, struct fc_node *out);
/* By server node id. -ENOENT. */
int fc_state_get_by_id(struct fc_state *st, const uint8_t id[FC_ID_SIZE],
		       struct fc_node *out);

/*
 * The node named name (len bytes, borrowed) in directory parent.
 * -ENOENT (no entry, or no parent), -ENOTDIR (parent not a directory),
 * -ENAMETOOLONG (len > 255).
 */
int fc_state_lookup(struct fc_state *st, int64_t parent, const char *name,
		    size_t len, struct fc_node *out);

/*
 * One directory entry for fc_state_readdir: name is borrowed for the call,
 * not NUL-terminated; cookie is the stable position to resume after it
 * (always > 2, so 1 and 2 stay free for "." and "..").
 */
typedef int (*fc_dirent_fn)(void *arg, const char *name, size_t name_len,
			    const struct fc_node *n, int64_t cookie);

/*
 * Call fn for each entry of directory dir after cookie (0 = from the
 * start), in cookie order, until fn returns non-zero (that value is
 * returned; a positive value just stops). Stable under concurrent
 * creates and deletes: each entry that exists throughout is seen once.
 * -ENOENT, -ENOTDIR.
 */
int fc_state_readdir(struct fc_state *st, int64_t dir, int64_t cookie,
		     fc_dirent_fn fn, void *arg);

/* Count of live entries in dir (0 = empty). -ENOENT. */
int fc_state_dir_count(struct fc_state *st, int64_t dir, uint64_t *out);

/*
 * Symlink target into out (appended, no NUL counted). -ENOENT, -EINVAL
 * (not a symlink), -EMSGSIZE/-ENOMEM from out.
 */
int fc_state_readlink(struct fc_state *st, int64_t ino, struct cf_buf *out);

/*
 * First name of ino (some entry naming it) and its parent ino, for path
 * building by the CLI and logs: name into out (appended). -ENOENT (root
 * or unlinked).
 */
int fc_state_name_of(struct fc_state *st, int64_t ino, int64_t *out_parent,
		     struct cf_buf *out);

/* ----- local metadata changes (each one transaction + outbox op) ----- */

/* What fc_state_create makes. Pointers borrowed for the call. */
struct fc_create {
	int64_t parent;
	const char *name;
	size_t name_len;
	enum fc_kind kind;
	uint32_t mode;           /* permission bits (umask applied) */
	uint32_t uid, gid;
	uint64_t rdev;           /* FC_KIND_CHR / FC_KIND_BLK */
	const char *target;      /* FC_KIND_SYMLINK */
	size_t target_len;       /* 1 .. CF_PATH_MAX */
	int64_t now_ns;          /* atime = mtime = ctime of the new node */
	bool writing;            /* files: opened for writing by the creator
				  * (queued at fc_state_write_done), else
				  * queued for upload at due_ns */
	int64_t due_ns;
};

/*
 * Create a node of any kind (fresh random id) and its entry; the parent's
 * mtime/ctime become now, and its nlink grows for a directory. In a
 * setgid directory the node gets the directory's group (and a new
 * directory the setgid bit), as on ext4. A new file
 * starts dirty, so an empty file still gets a first version: "being
 * written" when req->writing (queued by fc_state_write_done), else queued
 * at req->due_ns. Appends FC_OP_CREATE. -ENOENT (no parent), -ENOTDIR,
 * -EEXIST (name taken), -ENAMETOOLONG, -EINVAL (bad name, kind or
 * target), -ENOMEM, -EIO.
 */
int fc_state_create(struct fc_state *st, const struct fc_create *req,
		    struct fc_node *out);

/*
 * Add entry (parent, name) for the existing non-directory ino (hard link);
 * nlink grows, ctime of ino and mtime/ctime of parent become now_ns.
 * Appends FC_OP_LINK. -ENOENT, -ENOTDIR, -EEXIST, -EPERM (directory),
 * -EMLINK, -ENAMETOOLONG, -EINVAL.
 */
int fc_state_link(struct fc_state *st, int64_t ino, int64_t parent,
		  const char *name, size_t name_len, int64_t now_ns,
		  struct fc_node *out);

/*
 * Remove entry (parent, name). dir true = rmdir (target must be an empty
 * directory: -ENOTDIR, -ENOTEMPTY), false = unlink (-EISDIR). The node's
 * nlink drops (its ctime becomes now_ns) and at zero the node row stays
 * until fc_state_node_drop (open files stay readable). *out (may be NULL)
 * gets the node after the change. Appends FC_OP_UNLINK. -ENOENT.
 */
int fc_state_unlink(struct fc_state *st, int64_t parent, const char *name,
		    size_t name_len, bool dir, int64_t now_ns,
		    struct fc_node *out);

enum fc_rename_flags {
	FC_RENAME_NOREPLACE = 1u << 0, /* -EEXIST when the target exists */
	FC_RENAME_EXCHANGE = 1u << 1,  /* swap the two entries; both exist */
};

/*
 * rename(2) on entries, POSIX semantics: a replaced target loses its entry
 * (*out_replaced, may be NULL, gets that node after the change; ino 0 when
 * nothing was replaced); a directory replaces only an empty directory
 * (-ENOTEMPTY), a file only a non-directory (-EISDIR), a directory only a
 * directory (-ENOTDIR); moving a directory under itself is -EINVAL;
 * renaming onto the same node is a no-op. Parents' mtime/ctime and the
 * moved node's ctime become now_ns; nlinks of directories follow moves.
 * Appends FC_OP_RENAME. -ENOENT, -EEXIST (NOREPLACE), -EINVAL (bad
 * flags), -ENAMETOOLONG.
 */
int fc_state_rename(struct fc_state *st, int64_t src_parent,
		    const char *src_name, size_t src_len, int64_t dst_parent,
		    const char *dst_name, size_t dst_len, unsigned flags,
		    int64_t now_ns, struct fc_node *out_replaced);

enum fc_set_flags {
	FC_SET_MODE = 1u << 0,
	FC_SET_UID = 1u << 1,
	FC_SET_GID = 1u << 2,
	FC_SET_SIZE = 1u << 3,   /* files only: truncate or extend */
	FC_SET_ATIME = 1u << 4,
	FC_SET_MTIME = 1u << 5,
	FC_SET_CTIME = 1u << 6,  /* explicit ctime, else now */
};

struct fc_setattr {
	unsigned flags;          /* enum fc_set_flags */
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime_ns, mtime_ns, ctime_ns;
	int64_t now_ns;          /* ctime when FC_SET_CTIME is not set */
	int64_t due_ns;          /* FC_SET_SIZE outside a write epoch: queue
				  * the upload at this time */
};

/*
 * Change attributes. A size change marks the content dirty over
 * [min(old, new), max(old, new)), drops chunk rows wholly past the new
 * size and (shrinking) keeps the straddling one, which the caller made
 * present first (fc_cache_truncate does); it does not touch the cache
 * file. Mode/uid/gid/mtime changes append FC_OP_SETATTR (an mtime-only
 * change of a dirty file does not: the commit carries it). -ENOENT,
 * -EINVAL (size on a non-file), -EFBIG (size > BLK_FILE_SIZE_MAX).
 */
int fc_state_setattr(struct fc_state *st, int64_t ino,
		     const struct fc_setattr *a, struct fc_node *out);

/*
 * Forget an unlinked node (nlink 0) nobody uses any more: its row, chunk
 * rows and queue state go; the caller removes the cache file.
 * -ENOENT; -EBUSY when it has entries again.
 */
int fc_state_node_drop(struct fc_state *st, int64_t ino);

/*
 * Call fn for every node with nlink 0 left by a crash, then drop it
 * (startup only, before the mount serves requests).
 */
typedef int (*fc_node_fn)(void *arg, const struct fc_node *n);
int fc_state_drop_orphans(struct fc_state *st, fc_node_fn fn, void *arg);

/* ----- the write path (content) ----- */

/*
 * The first write to a node since its last fc_state_write_done: mark it
 * dirty, bump its content generation and make it unclaimable by the
 * uploader until fc_state_write_done (an upload in flight will see the
 * generation change and leave it dirty). Cheap no-op when already so
 * marked by this epoch's caller. -ENOENT, -EINVAL (not a file).
 */
int fc_state_write_begin(struct fc_state *st, int64_t ino);

/* What a write epoch changed, handed over at flush/fsync/release. */
struct fc_write_summary {
	uint64_t lo, hi;         /* byte range written, [lo, hi);
				  * lo >= hi: none */
	uint64_t size;           /* file size now */
	bool set_mtime;
	int64_t mtime_ns, ctime_ns;
};

/*
 * End a write epoch: merge the range into the node's dirty range, store
 * size and times, bump the generation and queue the node for upload at
 * due_ns (now + debounce). durable: the transaction is fsync'd (fsync(2);
 * the caller fdatasync'd the cache file first). -ENOENT, -EIO.
 */
int fc_state_write_done(struct fc_state *st, int64_t ino,
			const struct fc_write_summary *w, int64_t due_ns,
			bool durable);

/*
 * Make every transaction committed so far durable (fsync(2) of a file with
 * no write epoch open, fsyncdir(2)): a small transaction committed with
 * the log fsync'd. 0, -EIO, -ENOSPC.
 */
int fc_state_sync(struct fc_state *st);

/*
 * Copy the log's pages into the database file, so the log starts over
 * instead of growing for the life of the mount (wal_autocheckpoint is off
 * so commits never pay for it; the log is cut back to FC_STATE_LOG_LIMIT
 * when it grew past that). Call from a background thread. 0, -EIO.
 */
int fc_state_checkpoint(struct fc_state *st);

/* The size the log is cut back to when it starts over, bytes. */
#define FC_STATE_LOG_LIMIT (16 << 20)

/* ----- chunk rows (the server manifest) and presence ----- */

struct fc_chunk {
	uint32_t idx;
	uint64_t off;
	uint32_t size;
	struct blk_id id;
	bool present;            /* the cache file holds these bytes */
};

/*
 * Chunk rows of ino overlapping [off, off + len) (len 0 = to the end),
 * ordered by offset, into a new array (*out, caller frees with free();
 * NULL when *out_count is 0). -ENOENT, -ENOMEM.
 */
int fc_state_chunks(struct fc_state *st, int64_t ino, uint64_t off,
		    uint64_t len, struct fc_chunk **out, size_t *out_count);

/*
 * Count of chunk rows of ino that are not present (0 = the cache file
 * holds the whole content). -ENOENT.
 */
int fc_state_missing_count(struct fc_state *st, int64_t ino,
			   uint64_t *out);

/* Set or clear the present bit of count rows (idx borrowed). -ENOENT. */
int fc_state_chunks_mark(struct fc_state *st, int64_t ino,
			 const uint32_t *idx, size_t count, bool present);

/*
 * Replace ino's chunk rows by manifest m (borrowed) of server version
 * version: rows with the same offset, size and block id as before keep
 * their present bit, the others start not present. Also sets the node's
 * version, remote_version, manifest_version and size (m->file_size) when
 * the node is clean. -EBUSY when the node is dirty (its content is local:
 * the uploader will meet the new version as a conflict); -ENOENT,
 * -EINVAL (not a file).
 */
int fc_state_set_manifest(struct fc_state *st, int64_t ino, uint64_t version,
			  const struct blk_manifest *m);

/* ----- pin, LRU and eviction (fc_cache drives these) ----- */

/* -ENOENT, -EINVAL (not a file). */
int fc_state_set_pinned(struct fc_state *st, int64_t ino, bool pinned);

/* Record last use of count nodes (inos borrowed) at now_ns, one transaction. */
int fc_state_touch(struct fc_state *st, const int64_t *inos, size_t count,
		   int64_t now_ns);

/*
 * Eviction candidates: clean, unpinned files with present chunk rows,
 * least recently used first, at most limit of them; fn gets each (stop by
 * returning non-zero).
 */
int fc_state_evictable(struct fc_state *st, size_t limit, fc_node_fn fn,
		       void *arg);

/*
 * Clear every present bit of ino, in one transaction, only if it is still
 * clean and unpinned: 0, or -EBUSY (dirty, pinned or being written),
 * -ENOENT. The caller punches the file's holes after this returns 0 and
 * while it holds the node's cache lock.
 */
int fc_state_evict_node(struct fc_state *st, int64_t ino);

/*
 * What a change from the server's side (a feed page, a renamed create)
 * changed, for kernel cache invalidation: called after the transaction
 * committed, once per changed inode (name NULL) and once per changed
 * entry (parent ino + name).
 */
typedef void (*fc_changed_fn)(void *arg, int64_t ino, int64_t parent,
			      const char *name, size_t name_len);

/* ----- outbox: metadata ops to replay on the server, in order ----- */

enum fc_op_kind {
	FC_OP_CREATE = 1,  /* POST /nodes: node, kind, parent, name, mode,
			    * uid, gid, rdev, target, mtime */
	FC_OP_LINK = 2,    /* POST /entries: node, parent, name */
	FC_OP_UNLINK = 3,  /* DELETE /entries: parent, name, flags FC_OP_DIR */
	FC_OP_RENAME = 4,  /* POST /rename: parent, name -> parent2, name2,
			    * flags enum fc_rename_flags */
	FC_OP_SETATTR = 5, /* PATCH /nodes/<node>: flags FC_SET_MODE, _UID,
			    * _GID, _MTIME select mode, uid, gid, mtime */
	FC_OP_RESTORE = 6, /* POST /trash/<node>/restore: node, parent, name
			    * (a file with unsaved changes that the feed
			    * removed: the local edit wins) */
};

#define FC_OP_DIR (1u << 8) /* FC_OP_UNLINK of a directory */

/* One outbox op. Value type: strings are NUL-terminated copies. */
struct fc_op {
	int64_t seq;                    /* outbox order, strictly increasing */
	enum fc_op_kind kind;
	uint8_t node[FC_ID_SIZE];
	uint8_t parent[FC_ID_SIZE];
	char name[CF_NAME_MAX + 1];
	size_t name_len;
	uint8_t parent2[FC_ID_SIZE];
	char name2[CF_NAME_MAX + 1];
	size_t name2_len;
	/* FC_OP_RENAME: the node it replaced or swapped with; zero: none */
	uint8_t node2[FC_ID_SIZE];
	unsigned flags;
	enum fc_kind node_kind;         /* FC_OP_CREATE */
	uint32_t mode, uid, gid;
	uint64_t rdev;
	int64_t mtime_ns;
	char target[CF_PATH_MAX + 1];   /* FC_OP_CREATE of a symlink */
	size_t target_len;
	uint32_t attempts;              /* failed tries so far */
};

/*
 * Copy up to max of the oldest pending ops into out (caller's array) in
 * seq order; *out_count gets how many. Ops whose retry time (see
 * fc_state_op_retry) is after now_ns stop the list there: order is never
 * skipped. 0 (possibly with *out_count 0), -ENOMEM, -EIO.
 */
int fc_state_op_peek(struct fc_state *st, int64_t now_ns, struct fc_op *out,
		     size_t max, size_t *out_count);

/*
 * The server applied op seq: remove it. A FC_OP_CREATE or FC_OP_RESTORE
 * marks its node pushed (the uploader may commit it now) and lowers
 * *io_due (if not NULL) to the node's upload due time, if it has one.
 * -ENOENT when seq is not pending.
 */
int fc_state_op_done(struct fc_state *st, int64_t seq, int64_t *io_due);

/*
 * fc_state_op_done for seqs[0..count) in one transaction, so the nodes
 * they made become the uploader's all at once. Ops no longer pending are
 * skipped. 0, or an error with none of them done (*io_due unchanged).
 */
int fc_state_ops_done(struct fc_state *st, const int64_t *seqs, size_t count,
		      int64_t *io_due);

/*
 * How many outbox ops this process saw done or failed so far: a change
 * feed page asked for before the count moved may predate those ops.
 */
uint64_t fc_state_ops_pushed(struct fc_state *st);

/*
 * Transient failure (-ENOTCONN, -ETIMEDOUT, -EIO, 5xx, 429): keep the op
 * first in line, retry not before retry_at_ns. -ENOENT.
 */
int fc_state_op_retry(struct fc_state *st, int64_t seq, int err,
		      int64_t retry_at_ns);

/*
 * Permanent failure (the server refused it: 4xx): the op leaves the
 * pending line but is kept with err and message (borrowed, may be NULL)
 * for the user to see; the caller logs it. Never silently dropped.
 * -ENOENT.
 */
int fc_state_op_failed(struct fc_state *st, int64_t seq, int err,
		       const char *message);

/*
 * Pending op seq (a create, a link, or a rename's target) met its name
 * taken on the server by another device's node: this node goes under name
 * (len bytes, borrowed) instead, a conflicted copy name in the same
 * directory. As if the op had used that name from the start, in one
 * transaction: every pending op from seq on that names the entry
 * (directory, old name) names (directory, name) instead, and the local
 * entry of that name, whatever it holds now (a later rename may have moved
 * this node away and put another there), is renamed too; the old name is
 * then free for the pull to bring the other device's node. changed (may
 * be NULL) is told both names after the commit. 0 also when name is the
 * op's name already; -EEXIST when name is taken here (an entry, or a
 * pending op naming it: try another); -ENOENT (seq is not such a pending
 * op), -EINVAL, -ENAMETOOLONG, -EIO.
 */
int fc_state_op_rename_dest(struct fc_state *st, int64_t seq, const char *name,
			    size_t len, fc_changed_fn changed, void *arg);

/* Pending and failed op counts. */
int fc_state_op_counts(struct fc_state *st, uint64_t *out_pending,
		       uint64_t *out_failed);

/* ----- upload queue ----- */

/* A claimed upload: a snapshot taken by fc_state_upload_claim. */
struct fc_upload {
	int64_t ino;
	uint8_t id[FC_ID_SIZE];
	uint64_t base_version;   /* commit with this; 0 = first version */
	uint64_t size;           /* file size at claim */
	int64_t mtime_ns;
	uint64_t gen;            /* content generation at claim */
	uint64_t lo, hi;         /* dirty range since the last commit, clamped
				  * to size; lo == hi: only the size changed */
	uint32_t attempts;       /* failed tries before this one */
};

/*
 * Claim the dirty file that has been due longest, if any is due at now_ns:
 * it must be pushed (its create op done), not being written, not claimed.
 * The node's dirty range is handed over and reset (writes from now on
 * accumulate anew). 0 and *out filled; -ENOENT when nothing is due, with
 * *out_next_due_ns (may be NULL) = the earliest due time, INT64_MAX when
 * the queue is empty.
 */
int fc_state_upload_claim(struct fc_state *st, int64_t now_ns,
			  struct fc_upload *out, int64_t *out_next_due_ns);

/*
 * Claim, in one transaction, what fc_state_upload_claim would hand out
 * next, in the same order, while each file is smaller than below: up to
 * max files, stopping once max_bytes are reached. The first file that is
 * not small stays unclaimed. 0 with *out_count (possibly 0) files in
 * out; an error with none claimed.
 */
int fc_state_upload_claim_small(struct fc_state *st, int64_t now_ns,
				uint64_t below, uint64_t max_bytes,
				struct fc_upload *out, size_t max,
				size_t *out_count);

/*
 * The commit of u succeeded as version, with manifest m (borrowed): chunk
 * rows become m's, all present (the bytes came from the cache file);
 * version = remote_version = manifest_version = version. The node becomes
 * clean unless its generation moved since the claim (*out_clean, may be
 * NULL, says which); then it stays dirty and queued. -ENOENT (the node is
 * gone: nothing to do).
 */
int fc_state_upload_done(struct fc_state *st, const struct fc_upload *u,
			 uint64_t version, const struct blk_manifest *m,
			 bool *out_clean);

/*
 * The upload of u failed (err for the log and status): the claimed range
 * merges back into the dirty range and the node is due again at
 * retry_at_ns. -ENOENT.
 */
int fc_state_upload_failed(struct fc_state *st, const struct fc_upload *u,
			   int err, int64_t retry_at_ns);

/*
 * The server lost every version of file id (purged from its trash while
 * this device kept an edit) and has made it again, empty, at version 0:
 * the whole local content goes up as its first version, due at now_ns.
 * -ENOENT (no such node here).
 */
int fc_state_node_recreated(struct fc_state *st, const uint8_t id[FC_ID_SIZE],
			    int64_t now_ns);

/*
 * Wake-up aid: make every queued upload and op due now (the
 * "user.cloudfs.sync" xattr and `cloudfs sync`).
 */
int fc_state_make_due(struct fc_state *st, int64_t now_ns);

/* Dirty files and their total size (queue numbers for status). */
int fc_state_queue_stats(struct fc_state *st, uint64_t *out_files,
			 uint64_t *out_bytes);

/* ----- account, cursor, remote changes ----- */

int fc_state_cursor_get(struct fc_state *st, uint64_t *out);
int fc_state_cursor_set(struct fc_state *st, uint64_t cursor);

/* Usage and quota from GET /account, for statfs (0 = unknown). */
int fc_state_usage_set(struct fc_state *st, uint64_t usage, uint64_t quota);
int fc_state_usage_get(struct fc_state *st, uint64_t *out_usage,
		       uint64_t *out_quota);

/* A node from the change feed. Pointers borrowed for the call. */
struct fc_remote_node {
	uint8_t id[FC_ID_SIZE];
	enum fc_kind kind;
	uint32_t mode, uid, gid;
	uint64_t rdev, size;
	int64_t mtime_ns, ctime_ns;
	uint64_t version;
	bool deleted;                   /* in the trash */
	const char *target;             /* symlinks */
	size_t target_len;
	const struct blk_manifest *manifest; /* verified manifest of version,
					      * or NULL: fetched lazily */
};

/* An entry from the change feed. Pointers borrowed for the call. */
struct fc_remote_entry {
	int64_t id;                     /* server entry id */
	uint8_t parent[FC_ID_SIZE];
	uint8_t node[FC_ID_SIZE];
	const char *name;
	size_t name_len;
	bool deleted;                   /* tombstone */
};

/* One page of GET /changes. */
struct fc_remote_page {
	const struct fc_remote_node *nodes;
	size_t node_count;
	const struct fc_remote_entry *entries;
	size_t entry_count;
	uint64_t next;                  /* cursor after this page */
	uint64_t ops_pushed;            /* fc_state_ops_pushed before the
					   page was asked for */
	uint64_t resync;                /* fc_state_resync_begin's number
					   while resyncing, else 0 */
};

/*
 * Apply one feed page and set the cursor to page->next, in one
 * transaction. Nodes: new ones get an ino; for known ones mode, uid, gid,
 * ctime, target always follow the server, content fields (size, mtime,
 * version) only when the node is clean; a clean file whose version moved
 * gets the manifest's chunk rows (when given) or is marked as needing one
 * (fc_node_has_manifest false: the mount fetches it on open). Entries are
 * matched by server id, else by (parent, name, node); tombstones remove
 * local entries. An entry whose node or parent is not known yet (the feed
 * pages by seq, so it may come a page early) waits in the database and is
 * applied with the page that brings them. A file with unsaved local
 * changes (dirty or open for writing) that loses its last entry is kept:
 * at the end of the page it goes back under its name (a conflicted copy
 * name when the name is taken, the root when its directory is gone) with
 * an FC_OP_RESTORE, so the local edit wins over the remote removal and
 * nothing written here is lost. -EAGAIN when local ops are
 * still pending in the outbox (push first, then pull: the feed would undo
 * them) or when an op was pushed after the page was asked for (the page
 * may predate it and would undo it until the next pull); -EPROTO
 * (malformed entry); -ENOMEM, -EIO.
 */
int fc_state_apply_page(struct fc_state *st, const struct fc_remote_page *p,
			fc_changed_fn changed, void *arg);

/*
 * Full resync, when the server no longer keeps the tombstones after our
 * cursor: fc_state_resync_begin numbers it (*out), stores it as the
 * resync in progress and sets the cursor to 0; pages from 0 are applied
 * with page.resync = that number, which marks every entry they send;
 * after the last page, fc_state_resync_end removes every entry known
 * from the server but not sent (as its tombstone would have), and every
 * entry made here that no op in the outbox puts there (its op reached
 * the server, which has another tree now, as after a rename whose source
 * another device had moved); a refused op keeps its entry. changed is
 * told as for a page; *out_removed counts them; the resync ends.
 * fc_state_resync_get gives the resync in progress (0: none), so one
 * cut short by a restart goes on from the stored cursor. -EAGAIN from
 * resync_end while local ops are pending (push first), or when an op
 * was pushed after ops_pushed (fc_state_ops_pushed before the pages were
 * asked for: pull again first); -EIO, -ENOMEM.
 */
int fc_state_resync_begin(struct fc_state *st, uint64_t *out);
int fc_state_resync_get(struct fc_state *st, uint64_t *out);
int fc_state_resync_end(struct fc_state *st, uint64_t resync,
			uint64_t ops_pushed, fc_changed_fn changed, void *arg,
			size_t *out_removed);

#endif /* CLOUDFS_FC_STATE_H */
