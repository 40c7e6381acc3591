/* SPDX-License-Identifier: MIT */
/*
 * The notification client (see fc_notify.h) on a libwebsockets client
 * context of its own, served by its own thread. Everything below runs on
 * that thread except fc_notify_live, fc_notify_start and the stop in
 * fc_notify_free, which only touch the atomics and wake the loop with
 * lws_cancel_service.
 *
 * Reconnects are lws timers (sul): 1 s after a drop, doubling to a
 * minute while the server does not answer, back to 1 s once it greets us
 * with "ready". A refused token (close 1008) waits the full minute: a
 * revoked device stays quiet, and the puller reports why.
 */
#include "fc_notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "notify"
#include "cf_log.h"
#include "cf_lws_log.h"
#include "cf_thread.h"
#include "fc_remote.h"

#define NOTIFY_PATH	"/api/v1/notify"
#define NOTIFY_PROTOCOL "cloudfs-notify"
#define MSG_MAX		1024 /* the server's messages are < 100 bytes */
#define RETRY_MIN_US	((lws_usec_t)1000000)
#define RETRY_MAX_US	((lws_usec_t)60000000)
#define CLOSE_POLICY	1008 /* the token was refused */

struct fc_notify {
	char *host, *path, *ca_file;
	int port;
	bool tls;
	char token[FC_TOKEN_HEX_SIZE]; /* secret: wiped on free */
	void (*changed)(void *arg, uint64_t cursor);
	void *arg;

	struct lws_context *ctx;
	struct lws *wsi; /* notify thread */
	lws_sorted_usec_list_t retry; /* notify thread */
	lws_usec_t retry_us; /* notify thread: the next wait */
	char msg[MSG_MAX]; /* notify thread: a message being reassembled */
	size_t msg_len;
	bool msg_over;
	uint64_t cursor; /* notify thread: the newest one announced */

	pthread_t thread;
	bool started;
	atomic_bool stop, live;
};

static struct fc_notify *of_wsi(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* Call changed for a complete message text, when it says "changed". */
static void on_message(struct fc_notify *n, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	const char *type = json_string_value(json_object_get(j, "type"));
	json_int_t cursor;

	if (!type) {
		cf_dbg("a message that is not ours: ignored");
	} else if (!strcmp(type, "ready")) {
		atomic_store(&n->live, true);
		n->retry_us = RETRY_MIN_US;
		cf_info("live: the server's changes arrive as they happen");
		n->changed(n->arg, 0); /* whatever came while we were away */
	} else if (!strcmp(type, "changed")) {
		cursor = json_integer_value(json_object_get(j, "cursor"));
		if (cursor > 0 && (uint64_t)cursor > n->cursor) {
			n->cursor = (uint64_t)cursor;
			n->changed(n->arg, (uint64_t)cursor);
		}
	}
	json_decref(j);
}

static void connect_now(lws_sorted_usec_list_t *sul);

/* The connection is gone (or never came): try again after a wait. */
static void schedule_retry(struct fc_notify *n, bool refused)
{
	lws_usec_t wait = refused ? RETRY_MAX_US : n->retry_us;

	n->wsi = NULL;
	atomic_store(&n->live, false);
	if (atomic_load(&n->stop))
		return;
	n->retry_us = wait * 2 > RETRY_MAX_US ? RETRY_MAX_US : wait * 2;
	lws_sul_schedule(n->ctx, 0, &n->retry, connect_now, wait);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
	struct fc_notify *n = lws_container_of(sul, struct fc_notify, retry);
	struct lws_client_connect_info ci;

	if (atomic_load(&n->stop) || n->wsi)
		return;
	memset(&ci, 0, sizeof(ci));
	ci.context = n->ctx;
	ci.address = n->host;
	ci.port = n->port;
	ci.path = n->path;
	ci.host = n->host;
	ci.origin = n->host;
	ci.protocol = NOTIFY_PROTOCOL;
	ci.ssl_connection = n->tls ? LCCSCF_USE_SSL : 0;
	ci.pwsi = &n->wsi;
	n->msg_len = 0;
	n->msg_over = false;
	if (!lws_client_connect_via_info(&ci))
		schedule_retry(n, false); /* n->wsi was cleared for us */
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct fc_notify *n = of_wsi(wsi);
	unsigned char **p, *end;
	char auth[16 + FC_TOKEN_HEX_SIZE];
	const unsigned char *code = in;
	int k;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		p = (unsigned char **)in;
		end = *p + len;
		k = snprintf(auth, sizeof(auth), "Bearer %s", n->token);
		k = lws_add_http_header_by_token(
			wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
			(unsigned char *)auth, k, p, end);
		OPENSSL_cleanse(auth, sizeof(auth));
		return k ? -1 : 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (n->msg_len + len > sizeof(n->msg))
			n->msg_over = true;
		else
			memcpy(n->msg + n->msg_len, in, len);
		n->msg_len += len;
		if (!lws_is_final_fragment(wsi))
			return 0;
		if (!n->msg_over)
			on_message(n, n->msg, n->msg_len);
		n->msg_len = 0;
		n->msg_over = false;
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2 && ((code[0] << 8) | code[1]) == CLOSE_POLICY) {
			cf_warn("the server refused this device's "
				"notifications (token not accepted)");
			atomic_store(&n->live, false);
			n->retry_us = RETRY_MAX_US;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		cf_dbg("cannot reach the notifications: %s",
		       in ? (const char *)in : "connection failed");
		if (wsi == n->wsi || !n->wsi)
			schedule_retry(n, false);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (atomic_load(&n->live) && !atomic_load(&n->stop))
			cf_info("live updates paused: the connection closed");
		schedule_retry(n, n->retry_us == RETRY_MAX_US);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ NOTIFY_PROTOCOL, callback, 0, MSG_MAX, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void *notify_main(void *arg)
{
	struct fc_notify *n = arg;

	cf_thread_name("cloudfs-notify");
	cf_thread_background();
	lws_sul_schedule(n->ctx, 0, &n->retry, connect_now, 1);
	while (!atomic_load(&n->stop))
		if (lws_service(n->ctx, 0) < 0)
			break;
	return NULL;
}

/* host, port, path and scheme of base_url + NOTIFY_PATH into n. */
static int parse_url(struct fc_notify *n, const char *base_url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *end;
	size_t len;
	long v;
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, base_url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0))
		goto out;
	if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		goto out;
	n->tls = !strcmp(scheme, "https");
	errno = 0;
	v = strtol(port, &end, 10);
	if (errno || *end || v <= 0 || v > 65535)
		goto out;
	n->port = (int)v;
	len = strlen(host);
	/* lws wants an IPv6 literal without its brackets */
	if (len > 2 && host[0] == '[' && host[len - 1] == ']')
		n->host = strndup(host + 1, len - 2);
	else
		n->host = strdup(host);
	len = strlen(path);
	while (len && path[len - 1] == '/')
		len--;
	n->path = malloc(len + sizeof(NOTIFY_PATH));
	if (n->path) {
		memcpy(n->path, path, len);
		memcpy(n->path + len, NOTIFY_PATH, sizeof(NOTIFY_PATH));
	}
	rc = n->host && n->path ? 0 : -ENOMEM;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

int fc_notify_new(const struct fc_notify_opts *opts, struct fc_notify **out)
{
	struct lws_context_creation_info info;
	struct fc_notify *n;
	int rc;

	*out = NULL;
	if (!opts || !opts->base_url || !opts->changed || !opts->token_hex ||
	    strlen(opts->token_hex) != FC_TOKEN_HEX_SIZE - 1)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	memcpy(n->token, opts->token_hex, FC_TOKEN_HEX_SIZE);
	n->changed = opts->changed;
	n->arg = opts->arg;
	n->retry_us = RETRY_MIN_US;
	atomic_init(&n->stop, false);
	atomic_init(&n->live, false);
	rc = parse_url(n, opts->base_url);
	if (rc == 0 && opts->ca_file) {
		n->ca_file = strdup(opts->ca_file);
		if (!n->ca_file)
			rc = -ENOMEM;
	}
	if (rc < 0)
		goto fail;
	cf_lws_log_setup();
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = n;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	if (n->tls)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = n->ca_file;
	n->ctx = lws_create_context(&info);
	if (!n->ctx) {
		rc = -ENOMEM;
		goto fail;
	}
	*out = n;
	return 0;
fail:
	fc_notify_free(n);
	return rc;
}

int fc_notify_start(struct fc_notify *n)
{
	int rc = pthread_create(&n->thread, NULL, notify_main, n);

	if (rc)
		return -rc;
	n->started = true;
	return 0;
}

bool fc_notify_live(struct fc_notify *n)
{
	return n && atomic_load(&n->live);
}

void fc_notify_free(struct fc_notify *n)
{
	if (!n)
		return;
	atomic_store(&n->stop, true);
	if (n->started) {
		lws_cancel_service(n->ctx);
		pthread_join(n->thread, NULL);
	}
	/* closes a connection still open: its callbacks run here */
	if (n->ctx)
		lws_context_destroy(n->ctx);
	OPENSSL_cleanse(n->token, sizeof(n->token));
	free(n->host);
	free(n->path);
	free(n->ca_file);
	free(n);
}
