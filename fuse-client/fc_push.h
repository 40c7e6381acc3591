/* SPDX-License-Identifier: MIT */
/*
 * The pusher: one thread that replays the outbox (fc_state) to the server
 * in order. A transient failure (offline, timeout, rate limit, server
 * error) keeps the op first in line and retries it with exponential
 * backoff; nothing behind it goes first. A refusal (4xx) is a hard error:
 * the op is set aside as failed with its errno (kept in the database,
 * logged, counted in the status), the queue stops for a pause and then
 * goes on with the next op (or at once on fc_push_wake with sync). Ops
 * whose effect is already on the server (a retried create whose first try
 * got through) count as done. A create, link or rename that meets its
 * name taken by another device's node is not refused: the node goes under
 * a conflicted copy name, here as on the server (fc_state_op_rename_dest),
 * and the next pull brings the other node under the name. A rename names
 * the node it replaced here, so the server replaces that one only. A
 * rename whose source another device moved first leaves the server's
 * tree standing and resyncs this one to it.
 *
 * Threading: fc_push_wake, fc_push_stop and fc_push_status are safe from
 * any thread.
 */
#ifndef CLOUDFS_FC_PUSH_H
#define CLOUDFS_FC_PUSH_H

#include <stdbool.h>
#include <stddef.h>

#include "fc_remote.h"
#include "fc_state.h"

struct fc_push_deps {
	struct fc_state *state; /* borrowed until fc_push_free */
	struct fc_remote *remote; /* borrowed until fc_push_free */
	/*
	 * Called (pusher thread) after ops reached the server, with the
	 * earliest upload due time of the files whose create was among them
	 * (INT64_MAX: none); may be NULL.
	 */
	void (*pushed)(void *arg, int64_t due_ns);
	/*
	 * Called (pusher thread) for the entries a create renamed to a
	 * conflicted copy name (kernel cache invalidation); may be NULL.
	 */
	fc_changed_fn changed;
	void *arg;
	const char *device; /* conflicted copy names; borrowed; may be NULL */
};

struct fc_pusher;

/* -ENOMEM. Caller owns *out. Not started. */
int fc_push_new(const struct fc_push_deps *deps, struct fc_pusher **out);

/* Start the thread. -errno. */
int fc_push_start(struct fc_pusher *p);

/*
 * The outbox grew (sync false) or the user asked to sync now (sync true:
 * retries wait no longer and a stop after a hard error ends).
 */
void fc_push_wake(struct fc_pusher *p, bool sync);

/* Last hard error as a sentence (copied into buf), "" when none. */
void fc_push_status(struct fc_pusher *p, char *buf, size_t size);

/* Stop and join the thread; the outbox stays in the database. */
void fc_push_stop(struct fc_pusher *p);

/* Stop and free. NULL is a no-op. */
void fc_push_free(struct fc_pusher *p);

#endif /* CLOUDFS_FC_PUSH_H */
