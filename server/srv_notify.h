/* SPDX-License-Identifier: MIT */
/*
 * Push notifications: the registry of WebSocket connections per account and
 * the fan-out of small JSON messages to them. Publishing is thread-safe and
 * never blocks on a consumer: each connection has a bounded queue, and a
 * connection whose queue overflows is closed (the client resyncs from its
 * change cursor, which is the truth; notifications are hints).
 *
 * Messages (docs/PROTOCOL.md):
 *   {"type":"changed","cursor":N}
 *   {"type":"pending","node":"<32 hex>","device":D}
 *
 * The registry knows nothing of sockets: the transport registers each
 * authenticated connection with an opaque owner pointer, is woken (wake
 * callback, e.g. lws_cancel_service) when connections have something to
 * send, collects them with srv_notify_take_ready and pops their messages.
 * Threading: srv_notify_changed / _pending from any thread; register,
 * unregister, take_ready and pop from one thread (the lws service thread).
 * A queue that holds nothing uses no memory beyond the registration.
 */
#ifndef CLOUDFS_SRV_NOTIFY_H
#define CLOUDFS_SRV_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct srv_notify;
struct srv_notify_conn;

/* Largest message text srv_notify_pop produces, without a NUL. */
#define SRV_NOTIFY_MSG_MAX 160

/*
 * Called (from the publishing thread, with no lock held) after a publish
 * made at least one connection ready. Must be thread-safe and not block.
 */
typedef void (*srv_notify_wake_fn)(void *arg);

/*
 * Called by srv_notify_take_ready for each ready connection with its owner
 * pointer; dropped is true when its queue overflowed and the transport must
 * close it.
 */
typedef void (*srv_notify_ready_fn)(void *arg, void *owner, bool dropped);

/*
 * A registry whose connections queue at most queue_max messages (>= 1).
 * wake and wake_arg (borrowed, may be NULL) are called after publishes.
 * -EINVAL, -ENOMEM. Caller owns; free with srv_notify_free once no
 * connection is registered any more (remaining ones are freed with it).
 */
int srv_notify_new(uint32_t queue_max, srv_notify_wake_fn wake, void *wake_arg,
		   struct srv_notify **out);
void srv_notify_free(struct srv_notify *n);

/*
 * Called with the seconds from a message's publish until the last
 * connection it was queued for took it to send or dropped it (for the
 * fan-out histogram). Runs with the registry's lock held: it must be
 * quick and must not call back into srv_notify.
 */
typedef void (*srv_notify_fanout_fn)(void *arg, double seconds);

/* Set (before any publish) the fan-out observer; fn may be NULL. */
void srv_notify_set_fanout(struct srv_notify *n, srv_notify_fanout_fn fn,
			   void *arg);

/*
 * Register a connection of user_id; owner (borrowed) is handed back by
 * take_ready. -ENOMEM. *out stays valid until srv_notify_unregister.
 */
int srv_notify_register(struct srv_notify *n, int64_t user_id, void *owner,
			struct srv_notify_conn **out);

/* Forget c (consumes it) and its queued messages. NULL is a no-op. */
void srv_notify_unregister(struct srv_notify *n, struct srv_notify_conn *c);

/*
 * Call fn for every connection that became ready (messages queued or
 * overflowed) since the last call, oldest first, max of them at most (the
 * rest stay ready for the next call); returns how many. Each connection
 * is reported once per transition, so a transport that does not drain a
 * connection fully must ask again on its own (e.g. lws_callback_on_writable
 * after each pop while srv_notify_pop returns more).
 */
size_t srv_notify_take_ready(struct srv_notify *n, size_t max,
			     srv_notify_ready_fn fn, void *arg);

/* Whether some connection waits to be taken by srv_notify_take_ready. */
bool srv_notify_has_ready(struct srv_notify *n);

/*
 * Copy the oldest queued message of c into buf (size >= SRV_NOTIFY_MSG_MAX)
 * and dequeue it. Returns its length; 0 when the queue is empty; -EPIPE
 * when the queue overflowed (close the connection); -EINVAL.
 */
ssize_t srv_notify_pop(struct srv_notify *n, struct srv_notify_conn *c,
		       char *buf, size_t size);

/* Messages still queued on c (tests, metrics). */
size_t srv_notify_queued(struct srv_notify *n, struct srv_notify_conn *c);

/* Registered connections of user_id, or of every account when < 0. */
size_t srv_notify_count(struct srv_notify *n, int64_t user_id);

/*
 * Queue {"type":"changed","cursor":cursor} for every device of user_id.
 * A queued "changed" that has not been sent yet is replaced by a newer one
 * rather than followed by it (cursors only grow). n may be NULL.
 */
void srv_notify_changed(struct srv_notify *n, int64_t user_id, uint64_t cursor);

/* Queue {"type":"pending",...} for every device of user_id. n may be NULL. */
void srv_notify_pending(struct srv_notify *n, int64_t user_id,
			const uint8_t node_id[16], int64_t device_id);

#endif /* CLOUDFS_SRV_NOTIFY_H */
