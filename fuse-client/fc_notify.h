/* SPDX-License-Identifier: MIT */
/*
 * The notification client: one WebSocket to the server's /api/v1/notify,
 * kept open on its own thread, so a change made on another device is
 * pulled within moments instead of at the next periodic pull. It only
 * says "pull now"; the change feed stays the one source of changes, so a
 * lost message or a dropped connection costs a delay, never a change.
 */
#ifndef FC_NOTIFY_H
#define FC_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct fc_notify_opts {
	const char *base_url; /* the server, as fc_remote_opts; copied */
	const char *token_hex; /* the device's bearer token; copied */
	const char *ca_file; /* copied; NULL = the system's CAs */
	/*
	 * Called on the notify thread: with the cursor of a "changed"
	 * message, and with 0 each time the connection is (re)established,
	 * since changes may have been missed while it was down.
	 */
	void (*changed)(void *arg, uint64_t cursor);
	void *arg;
};

struct fc_notify;

/* -EINVAL (bad URL or token), -ENOMEM. Caller owns *out. Not started. */
int fc_notify_new(const struct fc_notify_opts *opts, struct fc_notify **out);

/* Start the thread; it connects, and reconnects with backoff. -errno. */
int fc_notify_start(struct fc_notify *n);

/* Whether the server's notifications reach us now. Thread-safe. */
bool fc_notify_live(struct fc_notify *n);

/* Stop (closing the connection), join and free. NULL is a no-op. */
void fc_notify_free(struct fc_notify *n);

#endif
