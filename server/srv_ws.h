/* SPDX-License-Identifier: MIT */
/*
 * The cloudfs-notify WebSocket, the part of the transport that serves
 * GET /api/v1/notify: token check on a worker, registration in srv_notify,
 * the {"type":"ready"} greeting, pushing queued messages, keepalive and the
 * close codes (1008 bad token, 1013 over the rate, 4000 queue overflow,
 * 1001 server stopping). srv_http's lws callback calls these; all run on
 * the service thread except srv_ws_auth_run (a worker).
 */
#ifndef CLOUDFS_SRV_WS_H
#define CLOUDFS_SRV_WS_H

#include <stdbool.h>

#include "srv_http_int.h"

/*
 * LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: refuse upgrades of other paths
 * and while stopping (non-zero), else keep the token for the check.
 */
int srv_ws_filter(struct srv_http *h, struct lws *wsi, struct pss *pss);

/* LWS_CALLBACK_ESTABLISHED: start the token check on a worker. */
void srv_ws_established(struct srv_http *h, struct lws *wsi, struct pss *pss);

/* The token check a came back (consumes a); its wsi is alive. */
void srv_ws_auth_done(struct srv_http *h, struct ws_auth *a);

/* LWS_CALLBACK_SERVER_WRITEABLE: greet, push one message, or close. */
int srv_ws_writeable(struct srv_http *h, struct lws *wsi, struct pss *pss);

/* The connection closes: unregister it, orphan a check in flight. */
void srv_ws_release(struct srv_http *h, struct pss *pss);

/*
 * After a wake-up: ask writeable callbacks for the connections srv_notify
 * has ready. answers is how many HTTP answers this wake-up just asked
 * writeable callbacks for; the fan-out then waits until
 * srv_ws_fanout_resume (or a short timer), so that they leave first.
 */
void srv_ws_fanout(struct srv_http *h, size_t answers);

/* LWS_CALLBACK_HTTP_WRITEABLE was served: go on with a waiting fan-out. */
void srv_ws_fanout_resume(struct srv_http *h);

/* Arm the keepalive timer (ws_ping_seconds); the loop is about to run. */
void srv_ws_ping_start(struct srv_http *h);

/* Free a token check that is not (or no longer) in the pool. */
void srv_ws_auth_free(struct ws_auth *a);

#endif /* CLOUDFS_SRV_WS_H */
