/* SPDX-License-Identifier: MIT */
/*
 * Private to the transport (srv_http.c, srv_ws.c): the server object, the
 * jobs the worker pool runs and the completion queue carries, and the
 * per-connection data lws allocates for every socket. Everything here is
 * touched by the lws service thread only, except a job's body while a
 * worker runs it and ->done_lock's queue.
 */
#ifndef CLOUDFS_SRV_HTTP_INT_H
#define CLOUDFS_SRV_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "srv_api.h"
#include "srv_work.h"

struct srv_config;
struct srv_metrics;
struct srv_notify;
struct srv_notify_conn;
struct http_req;

enum job_kind {
	JOB_HTTP,
	JOB_WS_AUTH,
};

/* What the pool runs and the completion queue carries. */
struct job {
	struct srv_work_item work; /* first member: the pool hands it back */
	struct job *done_next; /* completion queue; ->done_lock */
	struct srv_http *h; /* borrowed */
	struct lws *wsi; /* borrowed; only while !orphaned */
	enum job_kind kind;
	bool orphaned; /* service thread only */
};

struct ws_auth {
	struct job job; /* first member */
	char *token; /* owned, wiped on free, or NULL */
	bool submitted;
	int rc;
	struct srv_principal who;
};

/*
 * lws per-session data, allocated for every connection: kept small, since
 * 10,000 idle WebSockets each hold one.
 */
struct pss {
	struct http_req *req; /* HTTP: request in progress; owned */
	struct ws_auth *auth; /* WS: token check; owned until submitted */
	struct srv_notify_conn *nc; /* WS: registration once accepted */
	uint16_t close_code; /* WS: close with this when writeable */
	bool is_ws;
	bool send_ready;
	uint8_t ping_round; /* WS: the keepalive round last pinged in */
	bool ping_unanswered; /* WS: no pong since that ping */
};

struct srv_http {
	const struct srv_config *cfg; /* borrowed */
	struct srv_metrics *metrics; /* borrowed, may be NULL */
	struct srv_api *api; /* borrowed during srv_http_run */
	struct srv_notify *notify; /* owned */
	struct srv_work *work; /* owned during srv_http_run */
	struct lws_context *ctx; /* owned */
	struct lws_protocols protocols[2];
	lws_retry_bo_t retry; /* all zero: lws' own keepalive is off */
	uint8_t ping_round; /* WebSocket keepalive round, wraps */
	bool fanout_deferred; /* srv_ws: until HTTP answers leave */
	int port;

	pthread_mutex_t done_lock;
	struct job *done_head, *done_tail; /* protected by ->done_lock */

	atomic_int stop_requests; /* srv_http_stop calls */
	bool stopping; /* service thread from here on */
	bool deadline_passed;
	size_t live_reqs; /* http_req objects alive */
	size_t ws_count; /* established WebSockets */
	lws_sorted_usec_list_t deadline_sul;
	lws_sorted_usec_list_t ping_sul;
	lws_sorted_usec_list_t fanout_sul; /* srv_ws: a deferred fan-out */
};

/* Worker side: hand j back to the service thread and wake it. */
void srv_http_job_done(struct job *j);

/*
 * The bearer token of the request's Authorization header into *out (caller
 * owns; free with srv_http_wipe_free), NULL when there is none, "" when it
 * is not a bearer token or too long. 0 or -ENOMEM. Service thread.
 */
int srv_http_copy_token(struct lws *wsi, char **out);

/* Wipe a secret string and free it; NULL is a no-op. */
void srv_http_wipe_free(char *s);

#endif /* CLOUDFS_SRV_HTTP_INT_H */
