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
 */
#ifndef CLOUDFS_SRV_NOTIFY_H
#define CLOUDFS_SRV_NOTIFY_H

#include <stdint.h>

struct srv_notify;

/* Queue {"type":"changed","cursor":cursor} for every device of user_id. */
void srv_notify_changed(struct srv_notify *n, int64_t user_id,
			uint64_t cursor);

/* Queue {"type":"pending",...} for every device of user_id. */
void srv_notify_pending(struct srv_notify *n, int64_t user_id,
			const uint8_t node_id[16], int64_t device_id);

#endif /* CLOUDFS_SRV_NOTIFY_H */
