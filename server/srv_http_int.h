/* SPDX-License-Identifier: MIT */
/*
 * Private to the transport (srv_http.c, srv_http_answer.c, srv_ws.c): the
 * server object, the jobs the worker pool runs and the completion queue
 * carries, the HTTP request with its answer, and the per-connection data
 * lws allocates for every socket. Everything here is touched by the lws
 * service thread only, except a job's body while a worker runs it and
 * ->done_lock's queue.
 */
#ifndef CLOUDFS_SRV_HTTP_INT_H
#define CLOUDFS_SRV_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ev.h>
#include <libwebsockets.h>

#include "cf_buf.h"
#include "srv_api.h"
#include "srv_work.h"

struct srv_config;
struct srv_metrics;
struct srv_notify;
struct srv_notify_conn;

/* What one lws_write of an answer sends at most. */
#define HTTP_WRITE_CHUNK (64 * 1024)

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

enum req_state {
	REQ_BODY, /* reading the body; owned by the connection */
	REQ_RUNNING, /* on a worker or the completion queue */
	REQ_WRITING, /* answer ready; owned by the connection */
};

struct http_req {
	struct job job; /* first member */
	enum req_state state;
	bool close_after; /* close once the answer is out */
	bool headers_sent;
	bool head; /* HEAD: headers only */
	const char *method; /* static */
	char *path; /* owned */
	struct cf_buf query; /* owned */
	char *token; /* owned, wiped on free, or NULL */
	char remote[64];
	uint64_t content_length;
	struct cf_buf body; /* owned; capped by the route's limit */

	/* The answer, filled by the worker (or the service thread). */
	int status;
	const char *route; /* static */
	const char *content_type; /* static */
	uint64_t head_length; /* HEAD: what a GET would send */
	uint32_t retry_after;
	uint8_t *out; /* owned: OUT_BODY bytes of headroom, then the body */
	size_t out_size; /* body bytes */
	size_t wr_off, wr_end; /* what is left to send, as offsets in out */
	struct timespec start;
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
	struct ev_loop *loop; /* owned: epoll through libev, run by us */
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
	int fd_ceiling; /* refuse connections whose descriptor reaches it */
	uint64_t refused; /* connections refused at fd_ceiling, not logged */
	int64_t refused_logged_s; /* when that was last logged */
	lws_sorted_usec_list_t deadline_sul;
	lws_sorted_usec_list_t ping_sul;
	lws_sorted_usec_list_t fanout_sul; /* srv_ws: a deferred fan-out */
};

/* Worker side: hand j back to the service thread and wake it. */
void srv_http_job_done(struct job *j);

/*
 * Free r and what it owns (takes ownership) and count it out of
 * ->live_reqs; NULL is a no-op. Service thread.
 */
void srv_http_req_free(struct srv_http *h, struct http_req *r);

/*
 * Worker body of a JOB_HTTP job: answer the request with srv_api_handle,
 * render the answer into r->out, then srv_http_job_done. Touches only its
 * own request.
 */
void srv_http_job_run(struct srv_work_item *item);

/*
 * Put body (borrowed) into r->out behind the headroom the headers are
 * written into. 0 or -ENOMEM.
 */
int srv_http_set_out(struct http_req *r, const void *body, size_t size);

/* Service thread: the answer in r is complete; send it. */
void srv_http_answer_now(struct lws *wsi, struct http_req *r);

/*
 * Service thread: answer r with status and {"error": code, "message":
 * message} (both borrowed), closing the connection after it if close.
 */
void srv_http_answer_error(struct lws *wsi, struct http_req *r, int status,
			   const char *code, const char *message, bool close);

/* Milliseconds on CLOCK_MONOTONIC since start. */
double srv_http_elapsed_ms(const struct timespec *start);

/*
 * LWS_CALLBACK_HTTP_WRITEABLE: send the headers, then the body in
 * pieces; frees the request once it is out. 0, or -1 to close the
 * connection.
 */
int srv_http_writeable(struct srv_http *h, struct lws *wsi, struct pss *pss);

/*
 * The bearer token of the request's Authorization header into *out (caller
 * owns; free with srv_http_wipe_free), NULL when there is none, "" when it
 * is not a bearer token or too long. 0 or -ENOMEM. Service thread.
 */
int srv_http_copy_token(struct lws *wsi, char **out);

/* Wipe a secret string and free it; NULL is a no-op. */
void srv_http_wipe_free(char *s);

#endif /* CLOUDFS_SRV_HTTP_INT_H */
