/* SPDX-License-Identifier: MIT */
/*
 * The answer to an HTTP request (srv_http.c tells the life of one): the
 * worker body that runs srv_api_handle and renders its response into a
 * buffer with headroom, the answers the transport makes itself
 * ({"error", "message"}), and the writeable callback that sends the
 * headers, rendered just in front of the body so small answers leave in
 * one send, then the body in pieces. srv_http_job_run runs on a worker and
 * touches only its own job; the rest runs on the lws service thread.
 */
#include "srv_http_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libwebsockets.h>

#define CF_LOG_SUBSYS "http"
#include "cf_buf.h"
#include "cf_log.h"
#include "srv_api.h"
#include "srv_metrics.h"
#include "srv_work.h"

#define HTTP_HEADERS_MAX 1024
/*
 * Headroom in front of a response body: LWS_PRE plus room for headers.
 * The API's own headroom, so a block it read behind it is sent in place.
 */
#define OUT_BODY SRV_RESPONSE_HEADROOM
_Static_assert(LWS_PRE + HTTP_HEADERS_MAX <= OUT_BODY,
	       "headers and LWS_PRE fit in front of a body");

/* ----- building answers ----- */

/*
 * Put body (borrowed) behind OUT_BODY bytes of headroom in r->out: the
 * headers are later written just in front of it, so headers and body (or
 * its first piece) leave in one send, with LWS_PRE still free before them.
 */
int srv_http_set_out(struct http_req *r, const void *body, size_t size)
{
	free(r->out);
	r->out = malloc(OUT_BODY + size);
	r->out_size = 0;
	if (!r->out)
		return -ENOMEM;
	if (size)
		memcpy(r->out + OUT_BODY, body, size);
	r->out_size = size;
	return 0;
}

/* Take resp's body, already behind OUT_BODY bytes of headroom, as it is. */
static void adopt_out(struct http_req *r, struct srv_response *resp)
{
	free(r->out);
	r->out = resp->body;
	r->out_size = resp->body_size;
	resp->body = NULL;
}

/* Render json (borrowed) compactly into r->out. */
static int set_out_json(struct http_req *r, const json_t *json)
{
	size_t size;

	size = json_dumpb(json, NULL, 0, JSON_COMPACT);
	if (size == 0)
		return -ENOMEM;
	free(r->out);
	r->out_size = 0;
	r->out = malloc(OUT_BODY + size);
	if (!r->out)
		return -ENOMEM;
	if (json_dumpb(json, (char *)r->out + OUT_BODY, size, JSON_COMPACT) !=
	    size)
		return -ENOMEM;
	r->out_size = size;
	r->content_type = "application/json";
	return 0;
}

/* An answer made by the transport itself: {"error", "message"}. */
static void set_error(struct http_req *r, int status, const char *code,
		      const char *message)
{
	json_t *j;

	r->status = status;
	r->route = r->route ? r->route : "transport";
	r->content_type = NULL;
	j = json_pack("{s:s, s:s}", "error", code, "message", message);
	if (!j || set_out_json(r, j) < 0) {
		free(r->out);
		r->out = NULL;
		r->out_size = 0;
		r->content_type = NULL;
	}
	json_decref(j);
}

/* Service thread: the answer in r is complete; send it. */
void srv_http_answer_now(struct lws *wsi, struct http_req *r)
{
	r->state = REQ_WRITING;
	lws_callback_on_writable(wsi);
}

void srv_http_answer_error(struct lws *wsi, struct http_req *r, int status,
			   const char *code, const char *message, bool close)
{
	set_error(r, status, code, message);
	r->close_after = r->close_after || close;
	srv_http_answer_now(wsi, r);
}

/* ----- worker bodies ----- */

void srv_http_job_run(struct srv_work_item *item)
{
	struct http_req *r = (struct http_req *)(void *)item;
	struct srv_response resp;
	struct srv_request req = {
		.method = r->method,
		.path = r->path,
		.query = r->query.data,
		.token = r->token,
		.remote = r->remote,
		.body = (const uint8_t *)r->body.data,
		.body_size = r->body.len,
	};
	int rc;

	memset(&resp, 0, sizeof(resp));
	rc = srv_api_handle(r->job.h->api, &req, &resp);
	/* the body is no longer needed: give its memory back early */
	cf_buf_release(&r->body);
	if (rc < 0) {
		srv_response_release(&resp);
		r->status = 500;
		r->route = "error";
		goto out;
	}
	r->status = resp.status;
	r->route = resp.route;
	r->retry_after = resp.retry_after;
	r->head_length = resp.content_length;
	r->content_type = resp.content_type;
	if (resp.json)
		rc = set_out_json(r, resp.json);
	else if (resp.body && !r->head && resp.body_offset == OUT_BODY)
		adopt_out(r, &resp);
	else if (resp.body && !r->head)
		rc = srv_http_set_out(r, resp.body + resp.body_offset,
				      resp.body_size);
	if (rc < 0) {
		free(r->out);
		r->out = NULL;
		r->out_size = 0;
		r->status = 500;
		r->content_type = NULL;
	}
	if (!r->out_size && !resp.json)
		r->content_type = r->head ? resp.content_type : NULL;
	srv_response_release(&resp);
out:
	srv_http_job_done(&r->job);
}

/* ----- sending answers ----- */

double srv_http_elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Render the headers just in front of the body; set what to send. */
static int put_headers(struct srv_http *h, struct lws *wsi, struct http_req *r)
{
	unsigned char buf[HTTP_HEADERS_MAX];
	unsigned char *start = buf, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	char num[32];
	size_t len;
	int n;

	if (!r->out && srv_http_set_out(r, NULL, 0) < 0)
		return -1;

	if (lws_add_http_header_status(wsi, (unsigned)r->status, &p, end))
		return -1;
	if (r->content_type &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
					 (const unsigned char *)r->content_type,
					 (int)strlen(r->content_type), &p, end))
		return -1;
	if (r->status != 204 && r->status >= 200) {
		/* HEAD: announce what GET would send, but send nothing */
		n = snprintf(num, sizeof(num), "%llu",
			     (unsigned long long)(r->head ? r->head_length
							  : r->out_size));
		if (lws_add_http_header_by_token(
			    wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
			    (unsigned char *)num, n, &p, end))
			return -1;
	}
	if (r->retry_after) {
		n = snprintf(num, sizeof(num), "%u", r->retry_after);
		if (lws_add_http_header_by_name(
			    wsi, (const unsigned char *)"retry-after:",
			    (unsigned char *)num, n, &p, end))
			return -1;
	}
	if ((r->close_after || h->stopping) &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
					 (const unsigned char *)"close", 5, &p,
					 end))
		return -1;
	if (lws_finalize_http_header(wsi, &p, end))
		return -1;
	len = (size_t)(p - start);
	memcpy(r->out + OUT_BODY - len, start, len);
	r->wr_off = OUT_BODY - len;
	r->wr_end = OUT_BODY + (r->head ? 0 : r->out_size);
	return 0;
}

/* LWS_CALLBACK_HTTP_WRITEABLE */
int srv_http_writeable(struct srv_http *h, struct lws *wsi, struct pss *pss)
{
	struct http_req *r = pss->req;
	size_t n;
	bool close, final;
	int wr;

	if (!r)
		return h->stopping ? -1 : 0; /* idle keep-alive at shutdown */
	if (r->state != REQ_WRITING)
		return 0;
	if (!r->headers_sent) {
		if (put_headers(h, wsi, r) < 0)
			return -1;
		r->headers_sent = true;
	} else if (lws_send_pipe_choked(wsi)) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	n = CF_MIN(r->wr_end - r->wr_off, (size_t)HTTP_WRITE_CHUNK);
	final = r->wr_off + n == r->wr_end;
	/* the bytes before this piece were sent: lws may use them as PRE */
	wr = lws_write(wsi, r->out + r->wr_off, n,
		       final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
	if (wr < 0)
		return -1;
	r->wr_off += n;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}

	srv_metrics_request(h->metrics, r->route, r->status, r->content_length,
			    r->head ? 0 : r->out_size);
	cf_dbg("%s %s %d %zu bytes %.2f ms", r->method, r->path, r->status,
	       r->head ? (size_t)0 : r->out_size,
	       srv_http_elapsed_ms(&r->start));
	close = r->close_after || h->stopping;
	pss->req = NULL;
	srv_http_req_free(h, r);
	if (close)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}
