/* SPDX-License-Identifier: MIT */
/*
 * Server metrics in Prometheus text format: requests by route and status,
 * bytes in and out, blocks and bytes stored, WebSocket connections, commit
 * latency and notification fan-out histograms. Updates are lock-free atomics or a short mutex and may
 * come from any thread; rendering takes a consistent-enough snapshot.
 */
#ifndef CLOUDFS_SRV_METRICS_H
#define CLOUDFS_SRV_METRICS_H

#include <stdint.h>

#include "cf_buf.h"

struct srv_metrics;

int srv_metrics_new(struct srv_metrics **out);
void srv_metrics_free(struct srv_metrics *m);

/* One finished request: route (static string), HTTP status, byte counts. */
void srv_metrics_request(struct srv_metrics *m, const char *route, int status,
			 uint64_t bytes_in, uint64_t bytes_out);

/* A block newly stored (not a duplicate PUT) of size bytes; or removed. */
void srv_metrics_block_stored(struct srv_metrics *m, uint64_t size);
void srv_metrics_block_removed(struct srv_metrics *m, uint64_t size);

/* Set the stored totals at start-up from the metadata store. */
void srv_metrics_set_stored(struct srv_metrics *m, uint64_t blocks,
			    uint64_t bytes);

/* WebSocket connections opened / closed. */
void srv_metrics_ws(struct srv_metrics *m, int delta);

/* A connection was refused: too few open files left for it. */
void srv_metrics_conn_refused(struct srv_metrics *m);

/* A commit took seconds from request to durable acknowledgement. */
void srv_metrics_commit_latency(struct srv_metrics *m, double seconds);

/*
 * A notification took seconds from its publish until the last connection
 * it was queued for took it to send (or dropped it): the server's own
 * share of the delivery latency.
 */
void srv_metrics_notify_fanout(struct srv_metrics *m, double seconds);

/* Append the Prometheus text exposition to out. -EMSGSIZE, -ENOMEM. */
int srv_metrics_render(struct srv_metrics *m, struct cf_buf *out);

#endif /* CLOUDFS_SRV_METRICS_H */
