/* SPDX-License-Identifier: MIT */
/*
 * The notify WebSocket. An upgrade of /api/v1/notify keeps its bearer
 * token in a struct ws_auth; once established, the token is checked on a
 * worker (srv_api_authenticate touches SQLite) and, until the answer comes
 * back through the completion queue, the connection receives nothing. An
 * accepted connection is registered in srv_notify with its wsi as owner
 * and greeted with {"type":"ready"}; a refused one is closed with 1008.
 * srv_notify reports connections with queued messages (or an overflow)
 * after a wake-up; an idle connection gets its message right then, a
 * busy one in writeable callbacks, one message each. A fan-out
 * that a wake-up starts together with HTTP answers waits for them to
 * leave first (a commit's answer does not queue behind the 10,000
 * writeable callbacks of the fan-out it caused). Keepalive:
 * every ws_ping_seconds a round starts and each connection, in its next
 * writeable callback, is pinged, or hung up on when it left the previous
 * round's ping unanswered.
 *
 * The wsi is safe to use as the registry's owner: registration ends in
 * srv_ws_release (LWS_CALLBACK_CLOSED) on this same thread, before lws
 * frees the wsi, and take_ready runs on this thread too.
 */
#include "srv_ws.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CF_LOG_SUBSYS "ws"
#include "cf_log.h"
#include "srv_config.h"
#include "srv_http.h"
#include "srv_metrics.h"
#include "srv_notify.h"

#define WS_SNDBUF    8192 /* the kernel doubles it */
#define WS_READY_MSG "{\"type\":\"ready\"}"
/* How long a fan-out waits at most for HTTP answers to leave first. */
#define WS_FANOUT_DEFER_US (10 * LWS_US_PER_MS)
/* Connections one turn of the loop serves in a fan-out (a few ms). */
#define WS_FANOUT_SLICE 512

void srv_ws_auth_free(struct ws_auth *a)
{
	if (!a)
		return;
	srv_http_wipe_free(a->token);
	free(a);
}

static void ws_auth_run(struct srv_work_item *item)
{
	struct ws_auth *a = (struct ws_auth *)(void *)item;

	if (a->token)
		a->rc = srv_api_authenticate(a->job.h->api, a->token, &a->who);
	else
		a->rc = -EACCES;
	srv_http_job_done(&a->job);
}

int srv_ws_filter(struct srv_http *h, struct lws *wsi, struct pss *pss)
{
	char uri[64];
	struct ws_auth *a;

	if (h->stopping)
		return 1;
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 ||
	    strcmp(uri, SRV_HTTP_NOTIFY_PATH) != 0) {
		cf_dbg("websocket upgrade refused for another path");
		return 1;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return 1;
	a->job.h = h;
	a->job.wsi = wsi;
	a->job.kind = JOB_WS_AUTH;
	a->job.work.run = ws_auth_run;
	if (srv_http_copy_token(wsi, &a->token) < 0) {
		srv_ws_auth_free(a);
		return 1;
	}
	srv_ws_auth_free(pss->auth);
	pss->auth = a;
	return 0;
}

static void ws_close_soon(struct lws *wsi, struct pss *pss, uint16_t code)
{
	if (!pss->close_code)
		pss->close_code = code;
	lws_callback_on_writable(wsi);
}

/*
 * A consumer too far behind: it is told so and resyncs from its cursor.
 * The fan-out or a send may find the overflow first, and the other one
 * then finds it again: the log says it once.
 */
static void drop_overflowed(struct lws *wsi, struct pss *pss)
{
	if (!pss->close_code)
		cf_info("websocket dropped: its queue overflowed");
	ws_close_soon(wsi, pss, SRV_HTTP_WS_CLOSE_OVERFLOW);
}

void srv_ws_established(struct srv_http *h, struct lws *wsi, struct pss *pss)
{
	int fd = lws_get_socket_fd(wsi), sndbuf = WS_SNDBUF;

	pss->is_ws = true;
	h->ws_count++;
	/*
	 * Notifications are tiny: a small send buffer (no autotuning up to
	 * megabytes) means a consumer that stops reading shows up as an
	 * overflowing queue after a few hundred messages, not thousands.
	 */
	if (fd >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
		cf_dbg("cannot shrink a websocket's send buffer: %s",
		       strerror(errno));
	if (!pss->auth || !h->work) {
		ws_close_soon(wsi, pss, LWS_CLOSE_STATUS_GOINGAWAY);
		return;
	}
	pss->auth->submitted = true;
	if (srv_work_submit(h->work, &pss->auth->job.work) < 0) {
		pss->auth->submitted = false;
		ws_close_soon(wsi, pss, LWS_CLOSE_STATUS_GOINGAWAY);
	}
}

void srv_ws_auth_done(struct srv_http *h, struct ws_auth *a)
{
	struct lws *wsi = a->job.wsi;
	struct pss *pss = lws_wsi_user(wsi);
	int rc = a->rc;

	pss->auth = NULL;
	if (rc == 0 && h->stopping)
		rc = -ESHUTDOWN;
	if (rc == 0)
		rc = srv_notify_register(h->notify, a->who.user_id, wsi,
					 &pss->nc);
	if (rc == 0) {
		cf_dbg("websocket of account %lld device %lld registered",
		       (long long)a->who.user_id, (long long)a->who.device_id);
		srv_metrics_ws(h->metrics, 1);
		pss->send_ready = true;
		pss->ping_round = h->ping_round; /* first ping next round */
		lws_callback_on_writable(wsi);
	} else if (rc == -EACCES) {
		cf_dbg("websocket refused: bad token");
		ws_close_soon(wsi, pss, LWS_CLOSE_STATUS_POLICY_VIOLATION);
	} else if (rc == -EAGAIN) {
		ws_close_soon(wsi, pss, 1013); /* try again later */
	} else if (rc == -ESHUTDOWN) {
		ws_close_soon(wsi, pss, LWS_CLOSE_STATUS_GOINGAWAY);
	} else {
		cf_warn("websocket authentication failed: %s", strerror(-rc));
		ws_close_soon(wsi, pss, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
	}
	srv_ws_auth_free(a);
}

static int ws_close_now(struct lws *wsi, uint16_t code, const char *why)
{
	lws_close_reason(wsi, (enum lws_close_status)code,
			 (unsigned char *)(uintptr_t)why, strlen(why));
	return -1;
}

/*
 * Write msg (n bytes, LWS_PRE free before it) and ask for a writeable
 * callback when more messages wait. 0, or -EIO when the connection failed.
 */
static int send_msg(struct srv_http *h, struct lws *wsi, struct pss *pss,
		    char *msg, size_t n, enum lws_write_protocol wp)
{
	if (lws_write(wsi, (unsigned char *)msg, n, wp) < (int)n)
		return -EIO;
	if (srv_notify_queued(h->notify, pss->nc))
		lws_callback_on_writable(wsi);
	return 0;
}

/*
 * Send pss's next queued message. 0 (also when none was queued), -EPIPE
 * when the queue overflowed, -EIO when the connection failed.
 */
static int send_next(struct srv_http *h, struct lws *wsi, struct pss *pss)
{
	unsigned char buf[LWS_PRE + SRV_NOTIFY_MSG_MAX];
	char *msg = (char *)buf + LWS_PRE;
	ssize_t n;

	n = srv_notify_pop(h->notify, pss->nc, msg, SRV_NOTIFY_MSG_MAX);
	if (n == -EPIPE)
		return -EPIPE;
	if (n <= 0)
		return 0;
	return send_msg(h, wsi, pss, msg, (size_t)n, LWS_WRITE_TEXT);
}

int srv_ws_writeable(struct srv_http *h, struct lws *wsi, struct pss *pss)
{
	unsigned char buf[LWS_PRE + SRV_NOTIFY_MSG_MAX];
	char *msg = (char *)buf + LWS_PRE;
	int rc;

	switch (pss->close_code) {
	case 0:
		break;
	case LWS_CLOSE_STATUS_POLICY_VIOLATION:
		return ws_close_now(wsi, pss->close_code, "unauthorized");
	case SRV_HTTP_WS_CLOSE_OVERFLOW:
		return ws_close_now(wsi, pss->close_code,
				    "queue overflow: resync");
	case LWS_CLOSE_STATUS_GOINGAWAY:
		return ws_close_now(wsi, pss->close_code, "server stopping");
	default:
		return ws_close_now(wsi, pss->close_code, "try again later");
	}
	if (h->stopping)
		return ws_close_now(wsi, LWS_CLOSE_STATUS_GOINGAWAY,
				    "server stopping");
	if (!pss->nc)
		return 0; /* not authenticated yet: nothing to say */
	if (pss->ping_round != h->ping_round && !pss->send_ready) {
		/* a keepalive round (ping_cb) */
		if (pss->ping_unanswered) {
			cf_dbg("websocket left a ping unanswered: hanging up");
			return -1;
		}
		pss->ping_round = h->ping_round;
		pss->ping_unanswered = true;
		/* lws 4.1 reports only pongs with a payload to the callback */
		memcpy(msg, "cfs", 3);
		rc = send_msg(h, wsi, pss, msg, 3, LWS_WRITE_PING);
	} else if (pss->send_ready) {
		pss->send_ready = false;
		memcpy(msg, WS_READY_MSG, strlen(WS_READY_MSG));
		rc = send_msg(h, wsi, pss, msg, strlen(WS_READY_MSG),
			      LWS_WRITE_TEXT);
	} else {
		rc = send_next(h, wsi, pss);
	}
	if (rc == -EPIPE) {
		drop_overflowed(wsi, pss);
		return 0;
	}
	return rc < 0 ? -1 : 0;
}

void srv_ws_release(struct srv_http *h, struct pss *pss)
{
	if (pss->auth) {
		if (pss->auth->submitted)
			pss->auth->job.orphaned = true;
		else
			srv_ws_auth_free(pss->auth);
		pss->auth = NULL;
	}
	if (pss->nc) {
		srv_notify_unregister(h->notify, pss->nc);
		pss->nc = NULL;
		srv_metrics_ws(h->metrics, -1);
	}
	if (pss->is_ws) {
		pss->is_ws = false;
		h->ws_count--;
	}
}

/* srv_notify_ready_fn for srv_notify_take_ready (arg is the srv_http). */
static void notify_ready(void *arg, void *owner, bool dropped)
{
	struct srv_http *h = arg;
	struct lws *wsi = owner;
	struct pss *pss = lws_wsi_user(wsi);
	int rc;

	if (dropped) {
		drop_overflowed(wsi, pss);
		return;
	}
	/*
	 * The common case, a message for an idle connection, is sent right
	 * here: asking for a writeable callback instead costs two epoll_ctl
	 * calls (write interest on, then off) and a wake-up per connection,
	 * which made up much of a fan-out to 10,000 of them. lws buffers
	 * whatever the socket does not take and sends it when it can.
	 * Anything else (a close, a ping round, the greeting, output still
	 * buffered) goes through the writeable callback as before.
	 */
	if (!pss->close_code && !h->stopping && pss->nc && !pss->send_ready &&
	    pss->ping_round == h->ping_round && !lws_partial_buffered(wsi)) {
		rc = send_next(h, wsi, pss);
		if (rc == -EPIPE)
			drop_overflowed(wsi, pss);
		else if (rc < 0) /* a dead socket: lws closes it */
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
		return;
	}
	lws_callback_on_writable(wsi);
}

static void fanout_timer(lws_sorted_usec_list_t *sul)
{
	struct srv_http *h =
		lws_container_of(sul, struct srv_http, fanout_sul);

	srv_ws_fanout_resume(h);
}

/*
 * Up to WS_FANOUT_SLICE ready connections get their message now (most are
 * written to right away, see notify_ready); the rest wait for the next
 * turn of the loop, where the wake-up (srv_http's on_wake) calls
 * srv_ws_fanout again. HTTP requests that arrive meanwhile are served
 * between slices instead of behind all 10,000 sends.
 */
static void fanout_slice(struct srv_http *h)
{
	if (srv_notify_take_ready(h->notify, WS_FANOUT_SLICE, notify_ready,
				  h) == WS_FANOUT_SLICE &&
	    srv_notify_has_ready(h->notify))
		lws_cancel_service(h->ctx);
}

void srv_ws_fanout(struct srv_http *h, size_t answers)
{
	if (!srv_notify_has_ready(h->notify))
		return;
	/*
	 * The answers just queued leave in writeable callbacks of the next
	 * round of the loop; the writeable callbacks asked for now would be
	 * served in that same round, 10,000 of them, in socket order. So
	 * the fan-out waits for the first HTTP writeable callback (normally
	 * in the very next round), or WS_FANOUT_DEFER_US at most.
	 */
	if (answers && !h->fanout_deferred) {
		h->fanout_deferred = true;
		lws_sul_schedule(h->ctx, 0, &h->fanout_sul, fanout_timer,
				 WS_FANOUT_DEFER_US);
	}
	if (!h->fanout_deferred)
		fanout_slice(h);
}

void srv_ws_fanout_resume(struct srv_http *h)
{
	if (!h->fanout_deferred)
		return;
	h->fanout_deferred = false;
	lws_sul_cancel(&h->fanout_sul);
	fanout_slice(h);
}

/*
 * A keepalive round: every WebSocket gets a writeable callback, in which
 * srv_ws_writeable pings it, or hangs up on it when the previous round's
 * ping is still unanswered.
 */
static void ping_cb(lws_sorted_usec_list_t *sul)
{
	struct srv_http *h = lws_container_of(sul, struct srv_http, ping_sul);

	if (h->stopping)
		return;
	h->ping_round++;
	lws_callback_on_writable_all_protocol(h->ctx, &h->protocols[0]);
	srv_ws_ping_start(h);
}

void srv_ws_ping_start(struct srv_http *h)
{
	lws_sul_schedule(h->ctx, 0, &h->ping_sul, ping_cb,
			 (lws_usec_t)h->cfg->ws_ping_seconds * LWS_US_PER_SEC);
}
