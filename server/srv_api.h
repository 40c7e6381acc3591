/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API of cloudfsd as plain function calls: the transport (srv_http,
 * libwebsockets) turns a request into a struct srv_request, asks for the body
 * cap before reading the body, and hands the complete request to
 * srv_api_handle on a worker thread; the API never sees a socket. This is
 * also what the request fuzzer drives.
 *
 * Threading: srv_api_handle and srv_api_authenticate are thread-safe and
 * may block (database, disk); call them from worker threads, never from the
 * lws service thread. srv_api_body_limit depends on the route and the
 * configuration only: it never blocks and the service thread calls it when
 * the headers arrive.
 */
#ifndef CLOUDFS_SRV_API_H
#define CLOUDFS_SRV_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct srv_meta;
struct srv_blocks;
struct srv_notify;
struct srv_metrics;
struct srv_config;

/* Who a valid token belongs to. */
struct srv_principal {
	int64_t user_id;
	int64_t device_id;
};

/* A complete request; every pointer is borrowed for the call. */
struct srv_request {
	const char *method;     /* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;       /* URL path, percent-decoded, no query */
	const char *query;      /* raw query string without '?', or "" */
	const char *token;      /* bearer token from Authorization, or NULL */
	const char *remote;     /* peer address, for logs */
	const uint8_t *body;
	size_t body_size;
};

/*
 * Bytes a handler may leave free in front of a large body (body_offset):
 * the transport writes its headers there and sends the block as it is,
 * without copying a megabyte into a buffer of its own.
 */
#define SRV_RESPONSE_HEADROOM 2048

/*
 * The answer. Exactly one of json or body is set (or neither, for an empty
 * 2xx reply or HEAD). The transport sends it and frees it with
 * srv_response_release.
 */
struct srv_response {
	int status;              /* HTTP status */
	json_t *json;            /* owned; sent as application/json */
	uint8_t *body;           /* owned (free()); raw bytes, e.g. a block */
	size_t body_offset; /* they start here: 0 or SRV_RESPONSE_HEADROOM */
	size_t body_size; /* bytes from body_offset */
	const char *content_type; /* static string for body */
	uint64_t content_length;  /* for HEAD: the length a GET would send */
	const char *route;        /* static route name for metrics, e.g. "blocks_put" */
	uint32_t retry_after;     /* seconds; when non-zero, send Retry-After */
};

/* Everything the handlers use, all borrowed for the API's lifetime. */
struct srv_api_deps {
	struct srv_meta *meta;
	struct srv_blocks *blocks;
	struct srv_notify *notify;   /* may be NULL: no push */
	struct srv_metrics *metrics; /* may be NULL */
	const struct srv_config *config;
};

struct srv_api;

/* Build the API over deps (borrowed; must outlive it). -ENOMEM. */
int srv_api_new(const struct srv_api_deps *deps, struct srv_api **out);
void srv_api_free(struct srv_api *api);

/*
 * Largest body the route for (method, path) accepts, known from the headers
 * alone: the transport answers 413 without reading more once a request
 * announces or sends more than this. 0 for routes without a body.
 * Non-blocking; callable from any thread.
 */
size_t srv_api_body_limit(const struct srv_api *api, const char *method,
			  const char *path);

/*
 * Refuse a request from its headers alone, before its body is read: -EACCES
 * when the route takes a bearer token and token (borrowed, NULL when none
 * was sent) is missing or not 64 hex digits, the answer srv_api_handle
 * would give after the body; else 0 (a well-formed token is looked up by
 * srv_api_handle). Never blocks; the service thread calls it.
 */
int srv_api_token_precheck(const struct srv_api *api, const char *method,
			   const char *path, const char *token);

/*
 * Answer req into resp (which the caller zeroes first). Always produces a
 * response: errors become {"error": code, "message": sentence} with the
 * fitting status. Returns 0, or -ENOMEM when not even an error response
 * could be built (the transport then answers a bare 500).
 */
int srv_api_handle(struct srv_api *api, const struct srv_request *req,
		   struct srv_response *resp);

/*
 * Check a bearer token (borrowed) for the WebSocket upgrade. 0 and *out
 * filled; -EACCES for an unknown, expired or revoked token; -EAGAIN when the
 * token is over its request rate (429); -EIO.
 */
int srv_api_authenticate(struct srv_api *api, const char *token,
			 struct srv_principal *out);

/* Fill resp with an error reply: status from err (negative errno). */
int srv_response_error(struct srv_response *resp, int err, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));

/* Free what resp owns and zero it. */
void srv_response_release(struct srv_response *resp);

/* The HTTP status a negative errno maps to (one table for the server). */
int srv_errno_to_status(int err);

/* The JSON "error" code for a negative errno, e.g. "not_found". */
const char *srv_errno_to_code(int err);

#endif /* CLOUDFS_SRV_API_H */
