/* SPDX-License-Identifier: MIT */
/*
 * A fixed pool of worker threads running queued items in FIFO order: the
 * place where blocking work (SQLite, disk, slow hashes) happens so the lws
 * service thread never waits. Items are intrusive (the caller embeds a
 * struct srv_work_item in its own object), so submitting never allocates.
 *
 * Threading: srv_work_submit from any thread; srv_work_new and
 * srv_work_free from one owner thread. Items run on pool threads, several
 * at once.
 */
#ifndef CLOUDFS_SRV_WORK_H
#define CLOUDFS_SRV_WORK_H

#include <stddef.h>

struct srv_work_item;

/* Runs item on a pool thread; the item's owner decides what happens next. */
typedef void (*srv_work_fn)(struct srv_work_item *item);

struct srv_work_item {
	struct srv_work_item *next; /* queue link; private to srv_work */
	srv_work_fn run; /* set by the caller before submit */
};

struct srv_work;

/*
 * Start threads (1..1024) workers. -EINVAL, -ENOMEM, -EAGAIN (thread
 * creation). Caller owns; free with srv_work_free.
 */
int srv_work_new(int threads, struct srv_work **out);

/*
 * Queue item (borrowed until its run function is called; it must stay valid
 * until then). 0, or -ESHUTDOWN once srv_work_free has begun (item not
 * queued, run never called). Never blocks.
 */
int srv_work_submit(struct srv_work *w, struct srv_work_item *item);

/* Items queued or running right now. */
size_t srv_work_pending(struct srv_work *w);

/*
 * Refuse new items, run every item already queued, join the threads and
 * free the pool. Blocks until the last item returned. NULL is a no-op.
 */
void srv_work_free(struct srv_work *w);

#endif /* CLOUDFS_SRV_WORK_H */
