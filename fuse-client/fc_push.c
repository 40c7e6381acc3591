/* SPDX-License-Identifier: MIT */
/*
 * Outbox replay (see fc_push.h).
 *
 * The thread is an fc_loop. Lock order: p->lock is a leaf (sync
 * requests, message); never held across a state or network call.
 */
#include "fc_push.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CF_LOG_SUBSYS "push"
#include "cf_buf.h"
#include "cf_log.h"
#include "fc_conflict.h"
#include "fc_loop.h"

#define PEEK_MAX	   128 /* also the most creates sent in one batch */
_Static_assert(PEEK_MAX <= FC_REMOTE_CREATE_BATCH_MAX,
	       "a batch of peeked creates fits one POST /nodes/batch");
#define HARD_PAUSE_S 60
#define IDLE_WAIT_S  30
#define RESTORE_NAME_TRIES 100
#define CREATE_NAME_TRIES  100 /* conflicted copy names for a create */
#define REVIVE_DEPTH_MAX   64 /* directories brought back above one op */

struct fc_pusher {
	struct fc_push_deps d;
	struct fc_loop loop;
	pthread_mutex_t lock;
	uint64_t syncs; /* protected by ->lock */
	uint64_t syncs_seen; /* pusher thread only */
	char message[256]; /* protected by ->lock */
	struct fc_op ops[PEEK_MAX]; /* pusher thread only */
	struct fc_create_req reqs[PEEK_MAX]; /* pusher thread only */
	int64_t seqs[PEEK_MAX]; /* pusher thread only */
	int64_t retry_at; /* pusher thread only: head op's retry */
	/* pusher thread only: the earliest upload due among the files whose
	 * create this round pushed */
	int64_t pushed_due;
	bool renamed; /* pusher thread only: ops after it in ->ops are stale */
};

#define now_ns fc_loop_now_ns

static const char *op_name(enum fc_op_kind k)
{
	switch (k) {
	case FC_OP_CREATE:
		return "create";
	case FC_OP_LINK:
		return "link";
	case FC_OP_UNLINK:
		return "unlink";
	case FC_OP_RENAME:
		return "rename";
	case FC_OP_SETATTR:
		return "setattr";
	case FC_OP_RESTORE:
		return "restore";
	}
	return "op";
}

/* Where trashed node id was: its directory, into *out. -ENOENT. */
static int trash_parent(struct fc_remote *r, const uint8_t id[FC_ID_SIZE],
			uint8_t out[FC_ID_SIZE])
{
	struct fc_trash_item *v = NULL;
	size_t n = 0, i;
	int rc = fc_remote_trash_list(r, &v, &n);

	for (i = 0; rc == 0 && i < n; i++)
		if (!memcmp(v[i].node, id, FC_ID_SIZE))
			break;
	if (rc == 0 && i == n)
		rc = -ENOENT;
	if (rc == 0)
		memcpy(out, v[i].parent, FC_ID_SIZE);
	free(v);
	return rc;
}

static int remake_dir(struct fc_pusher *p, const uint8_t dir[FC_ID_SIZE],
		      unsigned depth);

/*
 * Local changes into a directory another device removed win as edits do:
 * take dir out of the server's trash to where it was, and first the
 * directory it was in when that went too; make it again when it was
 * purged from the trash. 1 when it came back, 0 when dir is live.
 */
static int revive_dir(struct fc_pusher *p, const uint8_t dir[FC_ID_SIZE],
		      unsigned depth)
{
	struct fc_remote *r = p->d.remote;
	uint8_t up[FC_ID_SIZE];
	struct fc_rnode n;
	int rc;

	rc = fc_remote_node_get(r, dir, &n, NULL, 0);
	if (rc == -ENOENT && depth < REVIVE_DEPTH_MAX)
		return remake_dir(p, dir, depth);
	if (rc < 0 || !n.deleted)
		return rc;
	rc = fc_remote_trash_restore(r, dir, NULL, NULL, 0, NULL);
	if (rc != -ENOENT || depth >= REVIVE_DEPTH_MAX)
		goto out;
	rc = trash_parent(r, dir, up);
	if (rc == 0)
		rc = revive_dir(p, up, depth + 1);
	if (rc >= 0)
		rc = fc_remote_trash_restore(r, dir, NULL, NULL, 0, NULL);
out:
	if (rc < 0)
		return rc;
	cf_warn("a directory removed on another device came back: this "
		"device changed something in it");
	return 1;
}

/* Create op's request under name (both borrowed for its life). */
static void create_req(const struct fc_op *op, const char *name, size_t len,
		       struct fc_create_req *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->id, op->node, FC_ID_SIZE);
	memcpy(c->parent, op->parent, FC_ID_SIZE);
	c->name = name;
	c->name_len = len;
	c->type = (mode_t)fc_kind_to_mode(op->node_kind);
	c->mode = op->mode;
	c->uid = op->uid;
	c->gid = op->gid;
	c->rdev = op->rdev;
	c->target = op->target;
	c->target_len = op->target_len;
	c->mtime_ns = op->mtime_ns;
}

/*
 * POST /nodes for create op under name. 0 also when the node is there
 * already (a retry after a lost answer); -EEXIST when another node holds
 * the name.
 */
static int create_node(struct fc_remote *r, const struct fc_op *op,
		       const char *name, size_t len)
{
	struct fc_create_req c;
	struct fc_rnode n;
	int rc;

	create_req(op, name, len, &c);
	rc = fc_remote_node_create(r, &c, NULL);
	if (rc != -EEXIST)
		return rc;
	rc = fc_remote_node_get(r, op->node, &n, NULL, 0);
	return rc == -ENOENT ? -EEXIST : rc;
}

/*
 * *out becomes the create that makes local node n (a file or a directory)
 * again on the server, same id, under parent.
 */
static void remake_create(const struct fc_node *n,
			  const uint8_t parent[FC_ID_SIZE], struct fc_op *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = FC_OP_CREATE;
	memcpy(out->node, n->id, FC_ID_SIZE);
	memcpy(out->parent, parent, FC_ID_SIZE);
	out->node_kind = n->kind;
	out->mode = n->mode;
	out->uid = n->uid;
	out->gid = n->gid;
	out->mtime_ns = n->mtime_ns;
}

/*
 * A kept file the server has no trace of any more (another device purged
 * it from the trash, or retention did): *out becomes the create that makes
 * it again under the same id, from the local node. 1 when so; 0 when the
 * node is gone here too (nothing left to keep); -errno.
 */
static int remake_op(struct fc_pusher *p, const struct fc_op *op,
		     struct fc_op *out)
{
	struct fc_node n;
	int rc = fc_state_get_by_id(p->d.state, op->node, &n);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (n.kind != FC_KIND_FILE)
		return -ENOENT; /* only an edited file is kept */
	remake_create(&n, op->parent, out);
	return 1;
}

/*
 * Take a kept file out of the server's trash (FC_OP_RESTORE) to where the
 * op says, bringing that directory back when it went too; failing that,
 * to the root; a name taken meanwhile gets a conflicted copy name. A file
 * purged from the trash is made again, empty, and its whole content goes
 * up as a first version. The next pull brings the entry the server made,
 * wherever that is.
 */
static int push_restore(struct fc_pusher *p, const struct fc_op *op)
{
	static const uint8_t root[FC_ID_SIZE];
	struct fc_remote *r = p->d.remote;
	const uint8_t *parent = op->parent;
	struct fc_op remake; /* with remade: the create that makes it again */
	struct cf_buf name;
	struct fc_rnode n;
	bool revived = false, remade = false;
	unsigned k = 0;
	int rc;

	cf_buf_init(&name, CF_NAME_MAX);
	for (;;) {
		rc = fc_conflict_candidate(op->name, op->name_len, false,
					   p->d.device, (int64_t)time(NULL), k,
					   &name);
		if (rc == 0 && remade) {
			memcpy(remake.parent, parent, FC_ID_SIZE);
			rc = create_node(r, &remake, name.data, name.len);
		} else if (rc == 0) {
			rc = fc_remote_trash_restore(r, op->node, parent,
						     name.data, name.len, NULL);
		}
		if (rc == -EEXIST && k < RESTORE_NAME_TRIES) {
			k++;
			continue;
		}
		if (rc != -ENOENT)
			break;
		/* not in the trash (any more), or its directory is gone */
		if (!remade) {
			rc = fc_remote_node_get(r, op->node, &n, NULL, 0);
			if (rc == 0 && !n.deleted)
				break; /* live: an earlier try's answer was lost */
			if (rc == -ENOENT) {
				rc = remake_op(p, op, &remake);
				if (rc <= 0)
					break;
				remade = true;
				continue; /* where it was, first */
			}
			if (rc < 0)
				break;
		}
		if (parent == root) {
			rc = -ENOENT;
			break;
		}
		if (!revived) {
			revived = true;
			if (revive_dir(p, parent, 0) >= 0)
				continue;
		}
		parent = root;
	}
	if (rc == 0 && remade) {
		cf_warn("\"%.*s\" was purged on the server while this device "
			"kept an edit: made again, its content goes up whole",
			(int)op->name_len, op->name);
		rc = fc_state_node_recreated(p->d.state, op->node, now_ns());
		if (rc == -ENOENT)
			rc = 0;
	}
	cf_buf_release(&name);
	return rc;
}

/*
 * rmdir of a directory another device has put something in meanwhile:
 * their content wins, as edits win over removals. The op is dropped and
 * a full resync begun (before the op is marked done, so no page of the
 * old view applies in between): it brings the directory and what is in
 * it back here, and the next pull starts it.
 */
static int keep_filled_dir(struct fc_pusher *p, const struct fc_op *op)
{
	uint64_t resync;
	int rc = fc_state_resync_begin(p->d.state, &resync);

	if (rc < 0)
		return rc;
	cf_warn("\"%.*s\" was not removed: another device put something in "
		"it; bringing it back",
		(int)op->name_len, op->name);
	return 0;
}

/*
 * dir is gone from the server altogether (purged from the trash after
 * another device removed it): make it again, same id, where this device
 * has it, bringing the directory above it back first. What else was in
 * it on the server is gone; a full resync (started here, run by the next
 * pull) takes it away here too. 1 when made; -ENOENT when this device
 * does not have it as a directory either; -EEXIST when its name is taken
 * on the server.
 */
static int remake_dir(struct fc_pusher *p, const uint8_t dir[FC_ID_SIZE],
		      unsigned depth)
{
	struct fc_node n, up;
	struct cf_buf name;
	struct fc_op op;
	uint64_t resync;
	int64_t parent;
	int rc;

	rc = fc_state_get_by_id(p->d.state, dir, &n);
	if (rc == 0 && n.kind != FC_KIND_DIR)
		rc = -ENOENT;
	if (rc < 0)
		return rc;
	cf_buf_init(&name, CF_NAME_MAX);
	rc = fc_state_name_of(p->d.state, n.ino, &parent, &name);
	if (rc == 0)
		rc = fc_state_getattr(p->d.state, parent, &up);
	if (rc == 0)
		rc = revive_dir(p, up.id, depth + 1);
	if (rc >= 0) {
		remake_create(&n, up.id, &op);
		rc = create_node(p->d.remote, &op, name.data, name.len);
	}
	if (rc == 0)
		rc = fc_state_resync_begin(p->d.state, &resync);
	if (rc == 0) {
		cf_warn("\"%.*s\", a directory purged on the server after "
			"another device removed it, was made again: this "
			"device changed something in it",
			(int)name.len, name.data);
		rc = 1;
	}
	cf_buf_release(&name);
	return rc;
}

/* Sends op with name (borrowed) for the name op puts its node under. */
typedef int (*send_as_fn)(struct fc_pusher *p, const struct fc_op *op,
			  const char *name, size_t len);

static int create_as(struct fc_pusher *p, const struct fc_op *op,
		     const char *name, size_t len)
{
	return create_node(p->d.remote, op, name, len);
}

static int link_as(struct fc_pusher *p, const struct fc_op *op,
		   const char *name, size_t len)
{
	return fc_remote_link(p->d.remote, op->node, op->parent, name, len,
			      NULL);
}

/*
 * A rename replays with the node it replaced here (op->node2) as the only
 * one the server may replace, and with a target that was free here as a
 * target that must be free there: what another device put at that name
 * meanwhile is never replaced unseen.
 */
static int rename_as(struct fc_pusher *p, const struct fc_op *op,
		     const char *name, size_t len)
{
	static const uint8_t none[FC_ID_SIZE];
	struct fc_remote_slot src, dst;
	const uint8_t *replaces = NULL;
	unsigned fl = 0;

	if (memcmp(op->node2, none, FC_ID_SIZE) != 0)
		replaces = op->node2;
	if (op->flags & FC_RENAME_EXCHANGE) {
		fl = FC_REMOTE_RENAME_EXCHANGE;
	} else if (!replaces || (op->flags & FC_RENAME_NOREPLACE)) {
		fl = FC_REMOTE_RENAME_NOREPLACE;
		replaces = NULL; /* the server takes one or the other */
	}
	src = (struct fc_remote_slot){ op->parent, op->name, op->name_len,
				       op->node };
	dst = (struct fc_remote_slot){ op->parent2, name, len, replaces };
	return fc_remote_rename(p->d.remote, &src, &dst, fl, NULL);
}

/*
 * Send op, which puts its node under name. When another device's node
 * took the name meanwhile (both made it unseen by the other), the first
 * one wins the name and this one is kept under a conflicted copy name,
 * renamed here first (with the ops that follow it), so a retry after a
 * lost answer sends the name the server has. Directories too: merging two
 * directories made apart would mix their files silently, and a file in
 * both would still need a conflicted copy.
 */
static int send_dest(struct fc_pusher *p, const struct fc_op *op,
		     send_as_fn send, const char *name, size_t len, bool is_dir)
{
	struct cf_buf alt;
	unsigned k;
	int rc = send(p, op, name, len);

	if (rc != -EEXIST)
		return rc;
	cf_buf_init(&alt, CF_NAME_MAX);
	for (k = 1;; k++) {
		rc = fc_conflict_candidate(name, len, is_dir, p->d.device,
					   (int64_t)time(NULL), k, &alt);
		if (rc == 0)
			rc = fc_state_op_rename_dest(p->d.state, op->seq,
						     alt.data, alt.len,
						     p->d.changed, p->d.arg);
		if (rc == 0)
			rc = send(p, op, alt.data, alt.len);
		if (rc != -EEXIST || k == CREATE_NAME_TRIES)
			break;
	}
	/* the ops peeked after this one may name the old name */
	p->renamed = rc == 0;
	if (rc == 0)
		cf_warn("conflict: another device put something at \"%.*s\" "
			"first: this device's %s is kept as \"%.*s\"",
			(int)len, name, op_name(op->kind), (int)alt.len,
			alt.data);
	cf_buf_release(&alt);
	return rc;
}

static int push_create(struct fc_pusher *p, const struct fc_op *op)
{
	return send_dest(p, op, create_as, op->name, op->name_len,
			 op->node_kind == FC_KIND_DIR);
}

/*
 * A rename whose source name no longer holds its node on the server:
 * another device moved or removed it first, and maybe put another node
 * there, which stays (or this device's earlier try got through and its
 * answer was lost), or removed it for good (purged from the trash). The
 * server's tree stands; a full resync brings this device's tree in line
 * with it (unsaved changes here are kept, as for any removal).
 */
static int rename_source_gone(struct fc_pusher *p, const struct fc_op *op)
{
	uint64_t resync;
	int rc = fc_state_resync_begin(p->d.state, &resync);

	if (rc < 0)
		return rc;
	cf_warn("\"%.*s\" was moved or removed on the server before this "
		"device's rename to \"%.*s\" got there: the server's tree "
		"stands, this device follows it",
		(int)op->name_len, op->name, (int)op->name2_len, op->name2);
	return 0;
}

static int push_rename(struct fc_pusher *p, const struct fc_op *op)
{
	struct fc_node n;

	if (op->flags & FC_RENAME_EXCHANGE)
		return rename_as(p, op, op->name2, op->name2_len);
	return send_dest(p, op, rename_as, op->name2, op->name2_len,
			 fc_state_get_by_id(p->d.state, op->node, &n) == 0 &&
				 n.kind == FC_KIND_DIR);
}

/* Send op once. 0 when the server has its effect. */
static int send_op(struct fc_pusher *p, const struct fc_op *op)
{
	struct fc_remote *r = p->d.remote;
	struct fc_patch_req pt = { 0 };
	struct fc_remote_slot at;
	unsigned fl = 0;
	int rc = -EINVAL;

	switch (op->kind) {
	case FC_OP_CREATE:
		rc = push_create(p, op);
		break;
	case FC_OP_LINK:
		rc = send_dest(p, op, link_as, op->name, op->name_len, false);
		break;
	case FC_OP_UNLINK:
		if (op->flags & FC_OP_DIR)
			fl |= FC_REMOTE_UNLINK_DIR;
		at = (struct fc_remote_slot){ op->parent, op->name,
					      op->name_len, op->node };
		rc = fc_remote_unlink(r, &at, fl, NULL);
		if (rc == -ENOENT)
			rc = 0; /* gone already, or another node took the name */
		if (rc == -ENOTEMPTY && (op->flags & FC_OP_DIR))
			rc = keep_filled_dir(p, op);
		break;
	case FC_OP_RENAME:
		rc = push_rename(p, op);
		break;
	case FC_OP_RESTORE:
		rc = push_restore(p, op);
		break;
	case FC_OP_SETATTR:
		if (op->flags & FC_SET_MODE)
			pt.flags |= FC_REMOTE_PATCH_MODE;
		if (op->flags & FC_SET_UID)
			pt.flags |= FC_REMOTE_PATCH_UID;
		if (op->flags & FC_SET_GID)
			pt.flags |= FC_REMOTE_PATCH_GID;
		if (op->flags & FC_SET_MTIME)
			pt.flags |= FC_REMOTE_PATCH_MTIME;
		pt.mode = op->mode;
		pt.uid = op->uid;
		pt.gid = op->gid;
		pt.mtime_ns = op->mtime_ns;
		rc = pt.flags ? fc_remote_node_patch(r, op->node, &pt, NULL)
			      : 0;
		if (rc == -ENOENT)
			rc = 0; /* the node went away on the server */
		break;
	}
	return rc;
}

/* The directory op puts an entry into, or NULL (restore sees to its own). */
static const uint8_t *target_dir(const struct fc_op *op)
{
	switch (op->kind) {
	case FC_OP_CREATE:
	case FC_OP_LINK:
		return op->parent;
	case FC_OP_RENAME:
		return op->parent2;
	default:
		return NULL;
	}
}

/*
 * Send one op; one whose directory another device removed (404) brings
 * that directory back and goes again. 0 when the server has its effect.
 */
static int push_one(struct fc_pusher *p, const struct fc_op *op)
{
	const uint8_t *dir = target_dir(op);
	int rc = send_op(p, op);

	if (rc == -ENOENT && dir && revive_dir(p, dir, 0) > 0)
		rc = send_op(p, op);
	if (rc == -ENOENT && op->kind == FC_OP_RENAME)
		rc = rename_source_gone(p, op);
	return rc;
}

/* The server has op's effect: out of the outbox. 0, or -errno (logged). */
static int op_done(struct fc_pusher *p, const struct fc_op *op)
{
	int rc = fc_state_op_done(p->d.state, op->seq, &p->pushed_due);

	if (rc == -ENOENT)
		return 0; /* dropped meanwhile */
	if (rc < 0)
		cf_err("outbox op %lld: %s", (long long)op->seq, strerror(-rc));
	return rc;
}

/* Whether a setattr op at p->ops[from..to) names node. */
static bool setattr_between(const struct fc_pusher *p, size_t from, size_t to,
			    const uint8_t *node)
{
	size_t k;

	for (k = from; k < to; k++)
		if (p->ops[k].kind == FC_OP_SETATTR &&
		    memcmp(p->ops[k].node, node, FC_ID_SIZE) == 0)
			return true;
	return false;
}

/* Where in at[0..run) the create of node is, or run. */
static size_t create_of(const struct fc_pusher *p, const size_t *at, size_t run,
			const uint8_t *node)
{
	size_t j;

	for (j = 0; j < run; j++)
		if (memcmp(p->ops[at[j]].node, node, FC_ID_SIZE) == 0)
			break;
	return j;
}

/* A setattr of a node being made goes into its create request. */
static void fold_setattr(const struct fc_op *op, struct fc_create_req *c)
{
	if (op->flags & FC_SET_MODE)
		c->mode = op->mode;
	if (op->flags & FC_SET_UID)
		c->uid = op->uid;
	if (op->flags & FC_SET_GID)
		c->gid = op->gid;
	if (op->flags & FC_SET_MTIME)
		c->mtime_ns = op->mtime_ns;
}

/*
 * The creates at p->ops[i..*n) in one request, the common case of many
 * new files: how many ops the server applied (marked done and taken out
 * of the window, the others keeping their order). tar and cp -a set a
 * file's mode and times right after writing it, so creates are taken
 * past setattr ops: a setattr names a node made before it, never one of
 * these; but not past a setattr of the create's own parent, whose mtime
 * the create moves. A setattr of a node of the batch rides in its create.
 * What the server did not make goes one by one (push_one), which knows
 * the ways a create can fail; so does everything after a failed request.
 */
static size_t push_creates(struct fc_pusher *p, size_t i, size_t *n)
{
	size_t at[PEEK_MAX], fold[PEEK_MAX], into[PEEK_MAX];
	size_t run = 0, nfold = 0, done = 0, nseq = 0, bytes = 0, k, j;
	bool gone[PEEK_MAX] = { false };
	int rc;

	/* symlink targets take room: stay far below the server's body cap */
	for (k = i; k < *n && bytes < FC_REMOTE_CREATE_BATCH_BYTES; k++) {
		if (p->ops[k].kind == FC_OP_SETATTR) {
			j = create_of(p, at, run, p->ops[k].node);
			if (j < run) {
				fold[nfold] = k;
				into[nfold++] = j;
			}
			continue;
		}
		if (p->ops[k].kind != FC_OP_CREATE ||
		    setattr_between(p, i, k, p->ops[k].parent))
			break;
		bytes += p->ops[k].target_len + p->ops[k].name_len;
		at[run++] = k;
	}
	if (run < 2)
		return 0;
	for (k = 0; k < run; k++)
		create_req(&p->ops[at[k]], p->ops[at[k]].name,
			   p->ops[at[k]].name_len, &p->reqs[k]);
	for (k = 0; k < nfold; k++)
		fold_setattr(&p->ops[fold[k]], &p->reqs[into[k]]);
	rc = fc_remote_nodes_create(p->d.remote, p->reqs, run, &done, NULL);
	cf_dbg("%zu creates (and %zu setattrs) in one request: %zu made%s%s",
	       run, nfold, done, rc < 0 ? ", then " : "",
	       rc < 0 ? strerror(-rc) : "");
	for (k = 0; k < done; k++)
		gone[at[k] - i] = true;
	for (k = 0; k < nfold; k++)
		if (into[k] < done)
			gone[fold[k] - i] = true;
	for (k = i; k < *n; k++)
		if (gone[k - i])
			p->seqs[nseq++] = p->ops[k].seq;
	rc = nseq ? fc_state_ops_done(p->d.state, p->seqs, nseq, &p->pushed_due)
		  : 0;
	if (rc < 0) {
		cf_err("outbox: %zu applied ops: %s", nseq, strerror(-rc));
		return 0;
	}
	for (k = j = i; k < *n; k++) {
		if (gone[k - i])
			continue;
		if (j != k)
			p->ops[j] = p->ops[k];
		j++;
	}
	*n = j;
	return nseq;
}

/*
 * Push what is due. Returns the time to look again: now when more may be
 * due, later after a failure.
 */
static int64_t push_round(struct fc_pusher *p)
{
	char name[CF_NAME_MAX + 1];
	int64_t t = now_ns();
	size_t n = 0, i, done = 0;
	int rc;

	p->pushed_due = INT64_MAX;
	rc = fc_state_op_peek(p->d.state, t, p->ops, PEEK_MAX, &n);
	if (rc < 0) {
		cf_err("outbox: %s", strerror(-rc));
		return t + (int64_t)5 * 1000000000;
	}
	if (!n) {
		/* nothing due: the head op may be waiting for its retry */
		if (p->retry_at > t)
			return p->retry_at;
		return t + (int64_t)IDLE_WAIT_S * 1000000000;
	}
	for (i = 0; i < n; i++) {
		const struct fc_op *op;
		size_t made;

		if (fc_loop_stopping(&p->loop))
			break;
		made = push_creates(p, i, &n);
		done += made;
		if (i == n)
			break;
		op = &p->ops[i];
		rc = push_one(p, op);
		if (rc == 0) {
			if (op_done(p, op) < 0)
				break;
			done++;
			if (p->renamed) {
				/* later ops changed in the outbox: peek again */
				p->renamed = false;
				i = n;
				break;
			}
			continue;
		}
		if (rc == -ECANCELED)
			break; /* unmounting: the op stays for the next mount */
		if (fc_remote_is_transient(rc)) {
			cf_dbg("%s op %lld: %s, will retry", op_name(op->kind),
			       (long long)op->seq, strerror(-rc));
			if (rc == -ENOSPC) {
				pthread_mutex_lock(&p->lock);
				snprintf(p->message, sizeof(p->message),
					 "the server is out of disk space: "
					 "operations wait and retry");
				pthread_mutex_unlock(&p->lock);
			}
			p->retry_at =
				now_ns() +
				fc_remote_retry_ns(p->d.remote, op->attempts);
			fc_state_op_retry(p->d.state, op->seq, rc, p->retry_at);
			break;
		}
		snprintf(name, sizeof(name), "%.*s", (int)op->name_len,
			 op->name);
		cf_err("the server refused %s of \"%s\" (outbox op %lld): %s",
		       op_name(op->kind), name, (long long)op->seq,
		       strerror(-rc));
		fc_state_op_failed(p->d.state, op->seq, rc, strerror(-rc));
		pthread_mutex_lock(&p->lock);
		snprintf(p->message, sizeof(p->message),
			 "server refused %s of \"%.64s\": %s",
			 op_name(op->kind), name, strerror(-rc));
		pthread_mutex_unlock(&p->lock);
		if (done && p->d.pushed)
			p->d.pushed(p->d.arg, p->pushed_due);
		return now_ns() + (int64_t)HARD_PAUSE_S * 1000000000;
	}
	if (done && p->d.pushed)
		p->d.pushed(p->d.arg, p->pushed_due);
	if (i == n)
		return now_ns(); /* all sent: look for more at once */
	return p->retry_at > now_ns() ? p->retry_at
				      : now_ns() + (int64_t)1000000000;
}

static int64_t push_loop_round(void *arg)
{
	struct fc_pusher *p = arg;
	uint64_t syncs;

	pthread_mutex_lock(&p->lock);
	syncs = p->syncs;
	if (syncs != p->syncs_seen)
		p->message[0] = '\0';
	pthread_mutex_unlock(&p->lock);
	if (syncs != p->syncs_seen) {
		/* sync: ops waiting for their retry time go now */
		p->syncs_seen = syncs;
		fc_state_make_due(p->d.state, now_ns());
	}
	if (fc_remote_backoff_ms(p->d.remote))
		return now_ns() +
		       (int64_t)fc_remote_backoff_ms(p->d.remote) * 1000000;
	return push_round(p);
}

int fc_push_new(const struct fc_push_deps *deps, struct fc_pusher **out)
{
	struct fc_pusher *p;

	*out = NULL;
	if (!deps->state || !deps->remote)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->d = *deps;
	pthread_mutex_init(&p->lock, NULL);
	fc_loop_init(&p->loop, "cloudfs-push", push_loop_round, p);
	*out = p;
	return 0;
}

int fc_push_start(struct fc_pusher *p)
{
	return fc_loop_start(&p->loop);
}

void fc_push_wake(struct fc_pusher *p, bool sync)
{
	if (!p)
		return;
	if (sync) {
		pthread_mutex_lock(&p->lock);
		p->syncs++;
		pthread_mutex_unlock(&p->lock);
	}
	fc_loop_wake(&p->loop);
}

void fc_push_status(struct fc_pusher *p, char *buf, size_t size)
{
	pthread_mutex_lock(&p->lock);
	snprintf(buf, size, "%s", p->message);
	pthread_mutex_unlock(&p->lock);
}

void fc_push_stop(struct fc_pusher *p)
{
	if (p)
		fc_loop_stop(&p->loop);
}

void fc_push_free(struct fc_pusher *p)
{
	if (!p)
		return;
	fc_loop_destroy(&p->loop);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
