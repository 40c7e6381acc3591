/* SPDX-License-Identifier: MIT */
/*
 * The puller: one thread that brings the server's change feed into the
 * state database, from the stored cursor, a page at a time (each page
 * applied in one transaction together with the new cursor, so a crash
 * never skips or half-applies a page). It runs at mount, on
 * fc_pull_wake (the WebSocket "changed" hint, a push round; bursts of
 * hints share a pull), fc_pull_wake_now (user.cloudfs.sync) and every
 * interval. Local ops still in the outbox go
 * first: the feed would undo them. When the server no longer keeps the
 * tombstones after our cursor (410), the pull resyncs in full from 0
 * (fc_state_resync_begin). Each pull also refreshes the account's usage
 * and quota for statfs. Manifests of changed files are fetched lazily by
 * the mount (fc_fetch_manifest).
 *
 * Threading: fc_pull_wake, fc_pull_wake_now, fc_pull_stop, fc_pull_error
 * and fc_pull_tickets are safe from any thread; fc_pull_once runs on the
 * caller's thread.
 */
#ifndef CLOUDFS_FC_PULL_H
#define CLOUDFS_FC_PULL_H

#include <stdbool.h>
#include <stddef.h>

#include "fc_remote.h"
#include "fc_state.h"

/* Pulls without being asked, as a safety net under live updates. */
#define FC_PULL_INTERVAL_S 30

struct fc_pull_deps {
	struct fc_state *state; /* borrowed until fc_pull_free */
	struct fc_remote *remote; /* borrowed until fc_pull_free */
	fc_changed_fn changed; /* kernel cache invalidation; may be NULL */
	void *changed_arg;
	/* The outbox must be pushed before the feed applies; may be NULL. */
	void (*need_push)(void *arg);
	void *arg;
	unsigned interval_s; /* 0 = FC_PULL_INTERVAL_S */
	size_t page_limit; /* 0 = 1000 */
};

struct fc_puller;

/* -EINVAL, -ENOMEM. Caller owns *out. Not started. */
int fc_pull_new(const struct fc_pull_deps *deps, struct fc_puller **out);

/*
 * Pull every page now, on this thread. 0; -EAGAIN (local ops not pushed
 * yet); network errors (-ENOTCONN, ...); -EPROTO (a page the state
 * refuses); -ENOMEM, -EIO.
 */
int fc_pull_once(struct fc_puller *p);

/* Start the thread. -errno. */
int fc_pull_start(struct fc_puller *p);

/*
 * A hint that the feed moved: pull now, or, when a pull ended less than
 * 200 ms ago, once that gap has passed (hints in between share it).
 */
void fc_pull_wake(struct fc_puller *p);

/* Pull now, whatever the gap: someone waits for it (`cloudfs sync`). */
void fc_pull_wake_now(struct fc_puller *p);

/* Last pull's error (0 = fine). */
int fc_pull_error(struct fc_puller *p);

/*
 * Pulls are numbered as they begin; *out_started is the last number
 * given, *out_pulled the number of the last pull that completed (the feed
 * applied to its end). A pull numbered above n began after n was given:
 * `cloudfs sync` waits for one to know the server's changes are here.
 */
void fc_pull_tickets(struct fc_puller *p, uint64_t *out_started,
		     uint64_t *out_pulled);

/* Stop and join the thread. */
void fc_pull_stop(struct fc_puller *p);

/* Stop and free. NULL is a no-op. */
void fc_pull_free(struct fc_puller *p);

#endif /* CLOUDFS_FC_PULL_H */
