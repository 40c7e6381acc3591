/* SPDX-License-Identifier: MIT */
/*
 * The transport on libwebsockets: the context, the one protocol's callback,
 * HTTP requests, the completion queue and the shutdown; answers are built
 * and sent in srv_http_answer.c, the notify WebSocket lives in srv_ws.c.
 * Everything here runs on the lws service thread.
 *
 * Life of a request: LWS_CALLBACK_HTTP copies method, path, query, token
 * and peer into a struct http_req hung off the connection's per-session
 * data; the body (capped by srv_api_body_limit, refused with 413 as soon as
 * it is known to be too large) accumulates in LWS_CALLBACK_HTTP_BODY; then
 * the request is submitted to the worker pool. The worker answers it with
 * srv_api_handle, renders the body into a buffer with LWS_PRE headroom and
 * puts the job on the completion queue, waking the loop with
 * lws_cancel_service. LWS_CALLBACK_EVENT_WAIT_CANCELLED drains the queue
 * and asks for writeable callbacks, then lets srv_ws fan out notifications
 * (after those answers); LWS_CALLBACK_HTTP_WRITEABLE sends the headers
 * (rendered in front of the body, so small answers leave in one send) and
 * the body in pieces.
 *
 * Connections can close while their job runs. A job is owned by whoever
 * holds it: the connection while the request is being read or written, the
 * pool and then the completion queue while it runs. A closing connection
 * frees the jobs it owns and marks the one in flight orphaned; the
 * completion handler frees orphans without looking at their (dead) wsi.
 *
 * Shutdown (srv_http_stop, then a wake-up): new connections are refused in
 * LWS_CALLBACK_FILTER_NETWORK_CONNECTION, every connection gets a writeable
 * callback (idle keep-alives close, WebSockets get 1001), and the loop runs
 * until no request or WebSocket is left or the grace period ends.
 *
 * The loop is libev's (epoll), handed to lws as a foreign loop: lws'
 * built-in poll(2) loop scans every connection's descriptor on each turn,
 * which with 10,000 idle WebSockets made each HTTP request wait tens of
 * milliseconds (srvbench: commits answered in 34 ms, p50, against 4-5 ms
 * on epoll). lws 4.1 runs an evlib loop of its own to the end inside one
 * lws_service call, so we run the foreign one a turn at a time ourselves,
 * and stop when the shutdown says so.
 *
 * Lock order: ->done_lock is a leaf. srv_notify's lock is never held while
 * calling into lws.
 */
#include "srv_http.h"
#include "srv_http_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "http"
#include "cf_buf.h"
#include "cf_file.h"
#include "cf_log.h"
#include "cf_lws_log.h"
#include "srv_api.h"
#include "srv_config.h"
#include "srv_metrics.h"
#include "srv_notify.h"
#include "srv_work.h"
#include "srv_ws.h"

#define METRICS_PATH	       "/metrics"
#define HTTP_HEADER_DATA_MAX   16384 /* a 4096-byte path, percent-encoded */
#define HTTP_HEADER_POOL       256 /* requests parsing headers at once */
#define HTTP_SERV_BUF	       (64 * 1024) /* lws read buffer (shared) */
#define HTTP_QUERY_MAX	       (64 * 1024)
#define HTTP_AUTH_HEADER_MAX   512
#define HTTP_STRAY_BODY_MAX    4096 /* read for routes that take no body */
#define HTTP_KEEPALIVE_SECS    30
#define HTTP_SHUTDOWN_GRACE_US (10 * LWS_US_PER_SEC)
#define WS_RX_BUFFER	       128 /* we ignore what clients send */
/* A body's time: cfg->body_seconds, and a second per BODY_MIN_RATE bytes. */
#define BODY_MIN_RATE 4096.0
/* How often the loop makes lws run its timers (see timer_tick). */
#define TIMER_TICK_S 0.1
/* Descriptors raise_fd_limit keeps from connections: a base, per worker. */
#define FD_RESERVE_BASE	      64
#define FD_RESERVE_PER_WORKER 8
/* The soft open files limit raise_fd_limit goes up to (see there). */
#define FD_LIMIT_MAX (1ul << 16)

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len);

/* ----- jobs and the completion queue ----- */

void srv_http_wipe_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void srv_http_req_free(struct srv_http *h, struct http_req *r)
{
	if (!r)
		return;
	free(r->path);
	cf_buf_release(&r->query);
	srv_http_wipe_free(r->token);
	cf_buf_release(&r->body);
	free(r->out);
	free(r);
	h->live_reqs--;
}

static void job_free(struct srv_http *h, struct job *j)
{
	if (j->kind == JOB_HTTP)
		srv_http_req_free(h, (struct http_req *)j);
	else
		srv_ws_auth_free((struct ws_auth *)j);
}

/* Worker side: hand j back to the service thread. */
void srv_http_job_done(struct job *j)
{
	struct srv_http *h = j->h;

	j->done_next = NULL;
	pthread_mutex_lock(&h->done_lock);
	if (h->done_tail)
		h->done_tail->done_next = j;
	else
		h->done_head = j;
	h->done_tail = j;
	pthread_mutex_unlock(&h->done_lock);
	lws_cancel_service(h->ctx);
}

static struct job *done_take_all(struct srv_http *h)
{
	struct job *j;

	pthread_mutex_lock(&h->done_lock);
	j = h->done_head;
	h->done_head = h->done_tail = NULL;
	pthread_mutex_unlock(&h->done_lock);
	return j;
}

static void fanout_observed(void *arg, double seconds)
{
	srv_metrics_notify_fanout(arg, seconds);
}

static void notify_wake(void *arg)
{
	struct srv_http *h = arg;

	lws_cancel_service(h->ctx);
}

/* ----- HTTP requests ----- */

static const char *method_name(int m)
{
	switch (m) {
	case LWSHUMETH_GET:
		return "GET";
	case LWSHUMETH_POST:
		return "POST";
	case LWSHUMETH_PUT:
		return "PUT";
	case LWSHUMETH_PATCH:
		return "PATCH";
	case LWSHUMETH_DELETE:
		return "DELETE";
	case LWSHUMETH_HEAD:
		return "HEAD";
	default:
		return NULL;
	}
}

/*
 * lws hands the query over as percent-decoded fragments split at '&'.
 * Re-encode each side of the first '=' so srv_api sees a well-formed query
 * whose decoded values are exactly what the client sent (a decoded '&' or
 * '=' inside a value stays escaped).
 */
static int query_append_encoded(struct cf_buf *q, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3];
	size_t i;
	int rc = 0;

	for (i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || c == '/') {
			rc = cf_buf_append(q, &s[i], 1);
		} else {
			esc[0] = '%';
			esc[1] = hex[c >> 4];
			esc[2] = hex[c & 15];
			rc = cf_buf_append(q, esc, 3);
		}
	}
	return rc;
}

static int build_query(struct lws *wsi, struct cf_buf *q)
{
	char frag[HTTP_HEADER_DATA_MAX + 1];
	const char *eq;
	int i, n, rc = 0;

	for (i = 0; rc == 0; i++) {
		n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
					  WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			break;
		if (n == 0)
			continue;
		if (q->len)
			rc = cf_buf_append(q, "&", 1);
		eq = memchr(frag, '=', (size_t)n);
		if (rc == 0 && eq) {
			rc = query_append_encoded(q, frag, (size_t)(eq - frag));
			if (rc == 0)
				rc = cf_buf_append(q, "=", 1);
			if (rc == 0)
				rc = query_append_encoded(
					q, eq + 1, (size_t)(frag + n - eq - 1));
		} else if (rc == 0) {
			rc = query_append_encoded(q, frag, (size_t)n);
		}
	}
	return rc;
}

/* "Bearer <token>" from the Authorization header, or NULL. */
int srv_http_copy_token(struct lws *wsi, char **out)
{
	char buf[HTTP_AUTH_HEADER_MAX + 1];
	const char *p;
	int n;

	*out = NULL;
	n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n <= 0)
		return 0;
	if (n > HTTP_AUTH_HEADER_MAX) {
		/* an over-long token is a bad token: let the API say 401 */
		*out = strdup("");
		return *out ? 0 : -ENOMEM;
	}
	if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION) <
	    0)
		return 0;
	p = buf;
	if (strncasecmp(p, "Bearer ", 7) == 0)
		p += 7;
	else
		p = "";
	while (*p == ' ')
		p++;
	*out = strdup(p);
	OPENSSL_cleanse(buf, sizeof(buf));
	return *out ? 0 : -ENOMEM;
}

static void submit_request(struct srv_http *h, struct lws *wsi,
			   struct http_req *r)
{
	r->state = REQ_RUNNING;
	r->job.work.run = srv_http_job_run;
	if (!h->work || srv_work_submit(h->work, &r->job.work) < 0) {
		r->state = REQ_BODY;
		srv_http_answer_error(wsi, r, 503, "unavailable",
				      "the server is shutting down", true);
	}
}

static void answer_metrics(struct srv_http *h, struct lws *wsi,
			   struct http_req *r)
{
	struct cf_buf text;

	cf_buf_init(&text, 4 * 1024 * 1024);
	r->route = "metrics";
	if (!h->metrics || srv_metrics_render(h->metrics, &text) < 0 ||
	    srv_http_set_out(r, text.data, text.len) < 0) {
		cf_buf_release(&text);
		srv_http_answer_error(wsi, r, 500, "internal",
				      "cannot render metrics", false);
		return;
	}
	cf_buf_release(&text);
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4";
	srv_http_answer_now(wsi, r);
}

static int parse_content_length(struct lws *wsi, uint64_t *out)
{
	char buf[32], *end;
	unsigned long long v;
	int n;

	*out = 0;
	n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	if (n <= 0)
		return 0;
	if (n >= (int)sizeof(buf) ||
	    lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) <
		    0)
		return -EINVAL;
	if (buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno == ERANGE || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * A client that sent "Expect: 100-continue" (curl does for large bodies)
 * waits for this before sending the body; lws does not answer it itself.
 * Queued on the connection's output list, it goes out before anything
 * else we write.
 */
static void send_continue(struct lws *wsi)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	unsigned char buf[LWS_PRE + sizeof(cont)];
	char expect[32];

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_EXPECT) <= 0 ||
	    lws_hdr_copy(wsi, expect, sizeof(expect), WSI_TOKEN_HTTP_EXPECT) <
		    0 ||
	    strcasecmp(expect, "100-continue") != 0)
		return;
	memcpy(buf + LWS_PRE, cont, sizeof(cont) - 1);
	if (lws_write(wsi, buf + LWS_PRE, sizeof(cont) - 1,
		      LWS_WRITE_HTTP_HEADERS | LWS_WRITE_BUFLIST) < 0)
		cf_dbg("cannot queue 100 Continue");
}

/* LWS_CALLBACK_HTTP: the headers of a request are in. */
static int on_http(struct srv_http *h, struct lws *wsi, struct pss *pss,
		   const char *uri, size_t uri_len)
{
	struct http_req *r;
	char *uri_ptr = NULL;
	uint64_t limit;
	int m, uri_ptr_len = 0, rc;

	if (pss->req) {
		cf_warn("request on a busy connection");
		return -1;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	h->live_reqs++;
	pss->req = r;
	r->job.h = h;
	r->job.wsi = wsi;
	r->job.kind = JOB_HTTP;
	r->state = REQ_BODY;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	cf_buf_init(&r->query, HTTP_QUERY_MAX);
	cf_buf_init(&r->body, 0);
	if (lws_get_peer_simple(wsi, r->remote, sizeof(r->remote)) == NULL)
		snprintf(r->remote, sizeof(r->remote), "?");

	m = lws_http_get_uri_and_method(wsi, &uri_ptr, &uri_ptr_len);
	r->method = method_name(m);
	r->path = uri && !memchr(uri, '\0', uri_len) ? strndup(uri, uri_len)
						     : NULL;
	if (!r->method) {
		r->method = "?";
		srv_http_answer_error(wsi, r, 405, "bad_method",
				      "method not allowed", true);
		return 0;
	}
	r->head = m == LWSHUMETH_HEAD;
	if (!r->path) {
		srv_http_answer_error(wsi, r, 400, "bad_request",
				      "bad request path", true);
		return 0;
	}
	rc = build_query(wsi, &r->query);
	if (rc == 0)
		rc = srv_http_copy_token(wsi, &r->token);
	if (rc < 0) {
		srv_http_answer_error(wsi, r, rc == -ENOMEM ? 500 : 414,
				      rc == -ENOMEM ? "internal" : "too_large",
				      "request line too large", true);
		return 0;
	}
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		srv_http_answer_error(wsi, r, 411, "length_required",
				      "send the body with a Content-Length",
				      true);
		return 0;
	}
	/*
	 * lws reads a POST, PUT or PATCH without Content-Length as a body
	 * running to the end of the connection, so the next request would
	 * be taken for body bytes: answer this one (it has no body, RFC 9112
	 * 6.3) and close.
	 */
	if ((m == LWSHUMETH_POST || m == LWSHUMETH_PUT ||
	     m == LWSHUMETH_PATCH) &&
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		r->close_after = true;
	if (parse_content_length(wsi, &r->content_length) < 0) {
		srv_http_answer_error(wsi, r, 400, "bad_request",
				      "bad Content-Length", true);
		return 0;
	}
	if (h->stopping) {
		srv_http_answer_error(wsi, r, 503, "unavailable",
				      "the server is shutting down", true);
		return 0;
	}
	if (!strcmp(r->path, METRICS_PATH) && m == LWSHUMETH_GET &&
	    !r->content_length) {
		answer_metrics(h, wsi, r);
		return 0;
	}

	/*
	 * Routes without a body (and unknown ones) still get a small one
	 * read, so the API can answer 404 or 405 rather than a puzzling 413.
	 */
	limit = CF_MAX(srv_api_body_limit(h->api, r->method, r->path),
		       (size_t)HTTP_STRAY_BODY_MAX);
	if (r->content_length > limit) {
		char msg[96];

		snprintf(msg, sizeof(msg),
			 "the request body is larger than %llu bytes",
			 (unsigned long long)limit);
		srv_http_answer_error(wsi, r, 413, "too_large", msg, true);
		return 0;
	}
	/*
	 * A token that cannot be good gets its 401 before the body is read
	 * (nor asked for with 100 Continue); the connection then closes, as
	 * the body was not consumed. A well-formed token is looked up by the
	 * API on a worker, after the body.
	 */
	if (r->content_length &&
	    srv_api_token_precheck(h->api, r->method, r->path, r->token) < 0) {
		srv_http_answer_error(wsi, r, 401, "unauthorized",
				      r->token ? "the token is not valid"
					       : "a bearer token is required",
				      true);
		return 0;
	}
	if (r->content_length) {
		/* exactly as much as announced, allocated once, aligned
		 * so that a block can go to disk with O_DIRECT */
		cf_buf_init(&r->body, (size_t)r->content_length);
		if (cf_buf_alloc_aligned(&r->body, (size_t)r->content_length,
					 CF_DIRECT_ALIGN) < 0) {
			srv_http_answer_error(wsi, r, 500, "internal",
					      "out of memory", true);
			return 0;
		}
		send_continue(wsi);
		/* until its first piece arrives */
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT,
				(int)h->cfg->body_seconds);
		return 0; /* the body follows */
	}
	submit_request(h, wsi, r);
	return 0;
}

/*
 * A body may take body_seconds plus one second per BODY_MIN_RATE bytes
 * received (the rule of Apache's mod_reqtimeout): a slow link gets all
 * the time it needs, a peer dribbling a byte a second to hold a
 * connection (and the buffer its Content-Length reserved) does not. A
 * body that stops is lws' own business: it gives each piece a few
 * seconds.
 */
static bool body_on_time(const struct srv_http *h, const struct http_req *r)
{
	double allowed =
		h->cfg->body_seconds + (double)r->body.len / BODY_MIN_RATE;

	return srv_http_elapsed_ms(&r->start) / 1000.0 <= allowed;
}

static int on_http_body(struct srv_http *h, struct lws *wsi, struct pss *pss,
			const void *in, size_t len)
{
	struct http_req *r = pss->req;

	if (!r || r->state != REQ_BODY || r->out)
		return 0; /* answered early: drop what still arrives */
	if (cf_buf_append(&r->body, in, len) < 0)
		srv_http_answer_error(
			wsi, r, 413, "too_large",
			"the request body is larger than announced", true);
	else if (!body_on_time(h, r))
		srv_http_answer_error(wsi, r, 408, "timeout",
				      "the request body arrives too slowly",
				      true);
	return 0;
}

static int on_http_body_done(struct srv_http *h, struct lws *wsi,
			     struct pss *pss)
{
	struct http_req *r = pss->req;

	if (!r || r->state != REQ_BODY || r->out)
		return 0;
	if (r->body.len != r->content_length) {
		srv_http_answer_error(
			wsi, r, 400, "bad_request",
			"the request body is shorter than announced", true);
		return 0;
	}
	submit_request(h, wsi, r);
	return 0;
}

/* The connection is going away: free what it owns, orphan what runs. */
static void http_release(struct srv_http *h, struct pss *pss)
{
	struct http_req *r = pss->req;

	if (!r)
		return;
	pss->req = NULL;
	if (r->state == REQ_RUNNING)
		r->job.orphaned = true;
	else
		srv_http_req_free(h, r);
}

/* ----- the loop's wake-ups ----- */

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_http *h =
		lws_container_of(sul, struct srv_http, deadline_sul);

	cf_warn("shutdown grace period over: closing what is left");
	h->deadline_passed = true;
}

static void begin_shutdown(struct srv_http *h, lws_usec_t grace)
{
	if (!h->stopping) {
		cf_info("shutting down: finishing %zu requests, closing %zu "
			"websockets",
			h->live_reqs, h->ws_count);
		h->stopping = true;
		/* idle keep-alives close, WebSockets get 1001 */
		lws_callback_on_writable_all_protocol(h->ctx, &h->protocols[0]);
	}
	lws_sul_schedule(h->ctx, 0, &h->deadline_sul, deadline_cb, grace);
}

static void on_wake(struct srv_http *h)
{
	struct job *j, *next;
	size_t answers = 0;
	int stops;

	for (j = done_take_all(h); j; j = next) {
		next = j->done_next;
		if (j->orphaned) {
			job_free(h, j);
		} else if (j->kind == JOB_HTTP) {
			srv_http_answer_now(j->wsi, (struct http_req *)j);
			answers++;
		} else {
			srv_ws_auth_done(h, (struct ws_auth *)j);
		}
	}
	srv_ws_fanout(h, answers);
	stops = atomic_load(&h->stop_requests);
	if (stops == 1 && !h->stopping)
		begin_shutdown(h, HTTP_SHUTDOWN_GRACE_US);
	else if (stops > 1)
		begin_shutdown(h, 1); /* asked twice: do not wait */
}

/*
 * Every connected device holds a socket for its WebSocket, and the soft
 * limit on open files is often 1,024 (systemd's default, whose hard limit
 * of 524,288 is there for programs that need more to raise it to). Take
 * the hard limit, up to FD_LIMIT_MAX: lws sizes its descriptor tables
 * (16 bytes a descriptor, all of them touched) from it when its context
 * is made, so this runs first. A soft limit set higher stays.
 *
 * Of that limit, descriptors are kept free for everything but
 * connections: SQLite's files, the block files workers open, lws' own.
 * Were they all taken by connections, accept() would fail with EMFILE
 * and lws, whose listener stays readable, would retry it at once,
 * forever: a loop spinning at full CPU and logging without end. Linux
 * hands out the lowest free descriptor, so an accepted one at the
 * ceiling returned here means that few are left: that connection is
 * closed at once (over_fd_ceiling), and the others are served.
 */
static int raise_fd_limit(int workers)
{
	unsigned long limit = 0, reserve;
	int rc = cf_file_raise_open_limit(FD_LIMIT_MAX, &limit);

	/* raising the soft limit up to the hard one cannot fail */
	if (rc > 0)
		cf_info("open files limit raised to %lu", limit);
	if (limit == 0 || limit > INT_MAX) /* unknown, or no limit */
		return INT_MAX;
	reserve = FD_RESERVE_BASE +
		  FD_RESERVE_PER_WORKER * (unsigned long)workers;
	if (reserve > limit / 2)
		reserve = limit / 2;
	return (int)(limit - reserve);
}

static bool over_fd_ceiling(struct srv_http *h, int fd)
{
	int64_t now;

	if (fd < h->fd_ceiling)
		return false;
	now = (int64_t)time(NULL);
	srv_metrics_conn_refused(h->metrics);
	h->refused++;
	if (now != h->refused_logged_s) { /* once a second at most */
		cf_warn("refused %llu connection(s): open files at %d of the "
			"%d left to connections (raise the open files limit)",
			(unsigned long long)h->refused, fd, h->fd_ceiling);
		h->refused = 0;
		h->refused_logged_s = now;
	}
	return true;
}

/* ----- the one protocol: HTTP and the notify WebSocket ----- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct srv_http *h = lws_context_user(lws_get_context(wsi));
	struct pss *pss = user;
	int rc;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (h)
			on_wake(h);
		return 0;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		if (!h)
			return 0;
		return h->stopping || over_fd_ceiling(h, (int)(intptr_t)in);
	case LWS_CALLBACK_HTTP:
		return on_http(h, wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY:
		return on_http_body(h, wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return on_http_body_done(h, wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		rc = srv_http_writeable(h, wsi, pss);
		srv_ws_fanout_resume(h); /* the answer is out: fan out now */
		return rc;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss)
			http_release(h, pss);
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return srv_ws_filter(h, wsi, pss);
	case LWS_CALLBACK_ESTABLISHED:
		srv_ws_established(h, wsi, pss);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return srv_ws_writeable(h, wsi, pss);
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_RECEIVE_PONG:
		/* clients have nothing to say, but it shows they are alive */
		if (pss)
			pss->ping_unanswered = false;
		return 0;
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
		if (pss)
			srv_ws_release(h, pss);
		return 0;
	default:
		return 0;
	}
}

/* ----- lifecycle ----- */

static bool is_ipv6(const char *addr)
{
	return strchr(addr, ':') != NULL;
}

int srv_http_new(const struct srv_config *cfg, struct srv_metrics *metrics,
		 struct srv_http **out)
{
	struct lws_context_creation_info info;
	struct srv_http *h;
	struct lws_vhost *vh;
	void *loops[1];
	int rc;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = cfg;
	h->metrics = metrics;
	atomic_init(&h->stop_requests, 0);
	if (pthread_mutex_init(&h->done_lock, NULL) != 0) {
		free(h);
		return -ENOMEM;
	}
	rc = srv_notify_new(cfg->ws_queue_max, notify_wake, h, &h->notify);
	if (rc < 0)
		goto out;
	srv_notify_set_fanout(h->notify, fanout_observed, metrics);

	h->protocols[0].name = SRV_HTTP_WS_PROTOCOL;
	h->protocols[0].callback = callback;
	h->protocols[0].per_session_data_size = sizeof(struct pss);
	h->protocols[0].rx_buffer_size = WS_RX_BUFFER;
	/* without this lws cuts every send to rx_buffer_size */
	h->protocols[0].tx_packet_size = HTTP_WRITE_CHUNK;
	/*
	 * lws' keepalive (the idle policy) re-arms a per-connection timer in
	 * a sorted list on every pong: O(n) each, a second of CPU per ping
	 * round at 10,000 WebSockets. A zeroed policy turns it off and
	 * srv_ws pings in rounds instead (srv_ws_ping_start).
	 */
	memset(&h->retry, 0, sizeof(h->retry));

	cf_lws_log_setup();
	/* no signal watchers here: the server's signal thread owns signals */
	h->fd_ceiling = raise_fd_limit(cfg->workers);
	h->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!h->loop) {
		cf_err("cannot create the event loop");
		rc = -ENOMEM;
		goto out;
	}
	loops[0] = h->loop;
	memset(&info, 0, sizeof(info));
	info.foreign_loops = loops;
	info.port = cfg->listen_port;
	if (strcmp(cfg->listen_addr, "0.0.0.0") &&
	    strcmp(cfg->listen_addr, "::"))
		info.iface = cfg->listen_addr;
	info.protocols = h->protocols;
	info.user = h;
	info.server_string = "cloudfsd";
	info.max_http_header_data = HTTP_HEADER_DATA_MAX;
	info.max_http_header_pool = HTTP_HEADER_POOL;
	info.pt_serv_buf_size = HTTP_SERV_BUF;
	info.keepalive_timeout = HTTP_KEEPALIVE_SECS;
	info.retry_and_idle_policy = &h->retry;
	info.alpn = "http/1.1";
	info.options = LWS_SERVER_OPTION_LIBEV |
		       LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND |
		       LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	if (!is_ipv6(cfg->listen_addr))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->tls_cert && cfg->tls_key) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
	}
	h->ctx = lws_create_context(&info);
	if (!h->ctx) {
		cf_err("cannot listen on %s:%d%s", cfg->listen_addr,
		       cfg->listen_port,
		       info.ssl_cert_filepath ? " with TLS (check the "
						"certificate and key)"
					      : "");
		rc = -EIO;
		goto out;
	}
	vh = lws_get_vhost_by_name(h->ctx, "default");
	h->port = vh ? lws_get_vhost_listen_port(vh) : cfg->listen_port;
	cf_info("listening on %s%s%s:%d (%s)",
		is_ipv6(cfg->listen_addr) ? "[" : "", cfg->listen_addr,
		is_ipv6(cfg->listen_addr) ? "]" : "", h->port,
		info.ssl_cert_filepath ? "https" : "http");
	*out = h;
	h = NULL;
	rc = 0;
out:
	srv_http_free(h);
	return rc;
}

struct srv_notify *srv_http_notify(struct srv_http *h)
{
	return h->notify;
}

int srv_http_port(const struct srv_http *h)
{
	return h->port;
}

void srv_http_stop(struct srv_http *h)
{
	atomic_fetch_add(&h->stop_requests, 1);
	lws_cancel_service(h->ctx);
}

static bool drained(struct srv_http *h)
{
	return h->live_reqs == 0 && h->ws_count == 0 &&
	       srv_work_pending(h->work) == 0;
}

/*
 * lws 4.1 on a foreign libev loop re-arms its one timer watcher with
 * ev_timer_set + ev_timer_start, which leave a watcher that is already
 * running alone: a timeout shorter than the one armed then fires only
 * when that one does (a 3 s body timeout was seen to end after 28 s).
 * lws does run every due timer after any I/O, so a tick wakes it
 * (lws_cancel_service: LWS_CALLBACK_EVENT_WAIT_CANCELLED, then its idle
 * pass), and no lws timer is late by more than TIMER_TICK_S.
 */
static void timer_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct srv_http *h = w->data;

	(void)loop;
	(void)revents;
	lws_cancel_service(h->ctx);
}

int srv_http_run(struct srv_http *h, struct srv_api *api)
{
	ev_timer tick;
	int rc;

	h->api = api;
	rc = srv_work_new(h->cfg->workers, &h->work);
	if (rc < 0) {
		cf_err("cannot start %d worker threads", h->cfg->workers);
		return rc;
	}
	rc = 0;
	srv_ws_ping_start(h);
	ev_timer_init(&tick, timer_tick, TIMER_TICK_S, TIMER_TICK_S);
	tick.data = h;
	ev_timer_start(h->loop, &tick);
	while (!(h->stopping && drained(h)) && !h->deadline_passed)
		ev_run(h->loop, EVRUN_ONCE);
	ev_timer_stop(h->loop, &tick);
	lws_sul_cancel(&h->deadline_sul);
	lws_sul_cancel(&h->ping_sul);
	lws_sul_cancel(&h->fanout_sul);
	/* Let running jobs finish; their completions land on the queue. */
	srv_work_free(h->work);
	h->work = NULL;
	h->api = NULL;
	cf_info("stopped serving");
	return rc;
}

void srv_http_free(struct srv_http *h)
{
	struct job *j, *next;

	if (!h)
		return;
	if (h->ctx) {
		/* closes what is left: their callbacks orphan queued jobs */
		lws_context_destroy(h->ctx);
		h->ctx = NULL;
	}
	if (h->loop)
		ev_loop_destroy(h->loop);
	for (j = done_take_all(h); j; j = next) {
		next = j->done_next;
		job_free(h, j);
	}
	srv_notify_free(h->notify);
	pthread_mutex_destroy(&h->done_lock);
	free(h);
}
