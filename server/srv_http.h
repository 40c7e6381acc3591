/* SPDX-License-Identifier: MIT */
/*
 * The transport of cloudfsd: one libwebsockets context and vhost (HTTP/1.1,
 * WebSocket, optional TLS) served by one thread. Complete requests go to a
 * worker pool that calls srv_api_handle; answers come back through a
 * completion queue and are written by the service thread. GET /metrics is
 * answered on the service thread; GET /api/v1/notify upgrades to the
 * "cloudfs-notify" WebSocket, authenticated on a worker and registered in
 * the srv_notify registry this object owns.
 *
 * Threading: srv_http_new, _run and _free on one thread (which becomes the
 * service thread during _run); srv_http_stop from any thread (not from a
 * signal handler: it calls lws_cancel_service).
 */
#ifndef CLOUDFS_SRV_HTTP_H
#define CLOUDFS_SRV_HTTP_H

#include <stdbool.h>

struct srv_api;
struct srv_config;
struct srv_http;
struct srv_metrics;
struct srv_notify;

/* Sent after a WebSocket's token was accepted: {"type":"ready"}. */
#define SRV_HTTP_WS_PROTOCOL "cloudfs-notify"
#define SRV_HTTP_NOTIFY_PATH "/api/v1/notify"

/* Close code for a WebSocket whose queue overflowed: resync and reconnect. */
#define SRV_HTTP_WS_CLOSE_OVERFLOW 4000

/*
 * Create the context and start listening on cfg->listen_addr and
 * listen_port (0: the kernel picks; see srv_http_port). cfg and metrics
 * (may be NULL) are borrowed for the object's lifetime. TLS when
 * cfg->tls_cert and tls_key are set. -EINVAL (bad TLS files, bad address),
 * -EADDRINUSE or -EIO (cannot listen), -ENOMEM; the reason is logged.
 * Caller owns; free with srv_http_free.
 */
int srv_http_new(const struct srv_config *cfg, struct srv_metrics *metrics,
		 struct srv_http **out);

/* The registry WebSockets are registered in (owned by h; for srv_api). */
struct srv_notify *srv_http_notify(struct srv_http *h);

/* The port actually listened on. */
int srv_http_port(const struct srv_http *h);

/*
 * Serve until srv_http_stop: start cfg->workers worker threads answering
 * with api (borrowed until this returns), then on stop refuse new
 * connections, finish requests in flight (bounded wait), close WebSockets
 * with 1001 and join the workers. Blocks. 0, or -ENOMEM / -EAGAIN when the
 * workers cannot start, -EIO when the event loop fails.
 */
int srv_http_run(struct srv_http *h, struct srv_api *api);

/* Ask srv_http_run to shut down gracefully; a second call hurries it. */
void srv_http_stop(struct srv_http *h);

/* Close every remaining connection and free h. NULL is a no-op. */
void srv_http_free(struct srv_http *h);

#endif /* CLOUDFS_SRV_HTTP_H */
