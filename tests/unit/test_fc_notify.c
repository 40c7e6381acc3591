/* SPDX-License-Identifier: MIT */
/*
 * fc_notify against a small libwebsockets server in the test process: the
 * bearer token in the upgrade, "ready" making it live and calling the hook
 * with 0, "changed" cursors passed on once and in order (stale and
 * repeated ones dropped), a reconnect after the server hangs up, a refused
 * token never going live, and bad arguments.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libwebsockets.h>

#include "fc_notify.h"

#define GOOD_TOKEN \
 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define BAD_TOKEN \
 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define WAIT_S 10

/* ----- the server ----- */

struct server {
	struct lws_context *ctx;
	pthread_t thread;
	int port;
	atomic_bool stop;
	pthread_mutex_t lock;
	struct lws *wsi; /* the accepted client; server thread */
	char queue[8][64]; /* ->lock: messages to send */
	int queued;
	bool hang_up; /* ->lock: close the client at its next writeable */
	int accepted, refused; /* ->lock */
};

static struct server srv;

static int srv_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len)
{
	unsigned char buf[LWS_PRE + 64], why[] = "token";
	char auth[128];
	int n;

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		auth[0] = '\0';
		lws_hdr_copy(wsi, auth, sizeof(auth),
			     WSI_TOKEN_HTTP_AUTHORIZATION);
		pthread_mutex_lock(&srv.lock);
		if (strcmp(auth, "Bearer " GOOD_TOKEN)) {
			srv.refused++;
			pthread_mutex_unlock(&srv.lock);
			lws_close_reason(wsi, 1008, why, sizeof(why) - 1);
			return -1;
		}
		srv.accepted++;
		srv.wsi = wsi;
		snprintf(srv.queue[srv.queued++], sizeof(srv.queue[0]),
			 "{\"type\":\"ready\"}");
		pthread_mutex_unlock(&srv.lock);
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (srv.wsi)
			lws_callback_on_writable(srv.wsi);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		pthread_mutex_lock(&srv.lock);
		if (srv.hang_up) {
			srv.hang_up = false;
			srv.queued = 0;
			pthread_mutex_unlock(&srv.lock);
			return -1;
		}
		if (!srv.queued) {
			pthread_mutex_unlock(&srv.lock);
			return 0;
		}
		n = (int)strlen(srv.queue[0]);
		memcpy(buf + LWS_PRE, srv.queue[0], (size_t)n);
		memmove(srv.queue[0], srv.queue[1],
			sizeof(srv.queue[0]) * (size_t)--srv.queued);
		pthread_mutex_unlock(&srv.lock);
		if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) <
		    n)
			return -1;
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (wsi == srv.wsi)
			srv.wsi = NULL;
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols srv_protocols[] = {
	{ "cloudfs-notify", srv_callback, 0, 256, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void *srv_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&srv.stop))
		lws_service(srv.ctx, 0);
	return NULL;
}

static void srv_send(const char *msg)
{
	pthread_mutex_lock(&srv.lock);
	snprintf(srv.queue[srv.queued++], sizeof(srv.queue[0]), "%s", msg);
	pthread_mutex_unlock(&srv.lock);
	lws_cancel_service(srv.ctx);
}

static int srv_start(void **state)
{
	struct lws_context_creation_info info;

	(void)state;
	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	atomic_init(&srv.stop, false);
	memset(&info, 0, sizeof(info));
	info.port = 0;
	info.iface = "127.0.0.1";
	info.protocols = srv_protocols;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	lws_set_log_level(LLL_ERR, NULL);
	srv.ctx = lws_create_context(&info);
	if (!srv.ctx)
		return -1;
	srv.port = lws_get_vhost_listen_port(
		lws_get_vhost_by_name(srv.ctx, "default"));
	return pthread_create(&srv.thread, NULL, srv_main, NULL) ? -1 : 0;
}

static int srv_stop(void **state)
{
	(void)state;
	atomic_store(&srv.stop, true);
	lws_cancel_service(srv.ctx);
	pthread_join(srv.thread, NULL);
	lws_context_destroy(srv.ctx);
	pthread_mutex_destroy(&srv.lock);
	return 0;
}

/* ----- the client's hook ----- */

struct seen {
	pthread_mutex_t lock;
	uint64_t v[32];
	int count;
};

static void changed(void *arg, uint64_t cursor)
{
	struct seen *s = arg;

	pthread_mutex_lock(&s->lock);
	if (s->count < 32)
		s->v[s->count++] = cursor;
	pthread_mutex_unlock(&s->lock);
}

static int seen_count(struct seen *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Until the hook was called count times (true) or WAIT_S passed. */
static bool wait_seen(struct seen *s, int count)
{
	int i;

	for (i = 0; i < WAIT_S * 100; i++) {
		if (seen_count(s) >= count)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

static struct fc_notify *client(const char *token, struct seen *s)
{
	struct fc_notify_opts o = { 0 };
	struct fc_notify *n = NULL;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	o.base_url = url;
	o.token_hex = token;
	o.changed = changed;
	o.arg = s;
	assert_int_equal(fc_notify_new(&o, &n), 0);
	assert_int_equal(fc_notify_start(n), 0);
	return n;
}

/* ----- tests ----- */

static void test_fc_notify__changes_in_order(void **state)
{
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct fc_notify *n;

	(void)state;
	n = client(GOOD_TOKEN, &s);
	assert_true(wait_seen(&s, 1));
	assert_int_equal(s.v[0], 0); /* connected: catch up */
	assert_true(fc_notify_live(n));
	srv_send("{\"type\":\"changed\",\"cursor\":5}");
	srv_send("{\"type\":\"changed\",\"cursor\":5}");
	srv_send("{\"type\":\"pending\",\"node\":\"ab\",\"device\":2}");
	srv_send("{\"type\":\"changed\",\"cursor\":3}");
	srv_send("not json at all");
	srv_send("{\"type\":\"changed\",\"cursor\":9}");
	assert_true(wait_seen(&s, 3));
	usleep(200 * 1000); /* nothing more comes */
	assert_int_equal(seen_count(&s), 3);
	assert_int_equal(s.v[1], 5);
	assert_int_equal(s.v[2], 9);

	/* the server hangs up: the client comes back by itself */
	pthread_mutex_lock(&srv.lock);
	srv.hang_up = true;
	pthread_mutex_unlock(&srv.lock);
	lws_cancel_service(srv.ctx);
	assert_true(wait_seen(&s, 4));
	assert_int_equal(s.v[3], 0);
	assert_true(fc_notify_live(n));
	pthread_mutex_lock(&srv.lock);
	assert_int_equal(srv.accepted, 2);
	pthread_mutex_unlock(&srv.lock);
	fc_notify_free(n);
}

static void test_fc_notify__refused_token(void **state)
{
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct fc_notify *n;
	int i, refused = 0;

	(void)state;
	n = client(BAD_TOKEN, &s);
	for (i = 0; i < WAIT_S * 100 && !refused; i++) {
		usleep(10 * 1000);
		pthread_mutex_lock(&srv.lock);
		refused = srv.refused;
		pthread_mutex_unlock(&srv.lock);
	}
	assert_int_equal(refused, 1);
	usleep(300 * 1000);
	assert_false(fc_notify_live(n));
	assert_int_equal(seen_count(&s), 0);
	fc_notify_free(n); /* promptly, though a retry is a minute off */
}

static void test_fc_notify__bad_arguments(void **state)
{
	struct fc_notify_opts o = { 0 };
	struct fc_notify *n = NULL;

	(void)state;
	o.changed = changed;
	o.token_hex = GOOD_TOKEN;
	o.base_url = "ftp://127.0.0.1/";
	assert_int_equal(fc_notify_new(&o, &n), -EINVAL);
	o.base_url = "not a url";
	assert_int_equal(fc_notify_new(&o, &n), -EINVAL);
	o.base_url = "https://[::1]:8443/cloud/";
	o.token_hex = "abc";
	assert_int_equal(fc_notify_new(&o, &n), -EINVAL);
	o.token_hex = GOOD_TOKEN;
	o.changed = NULL;
	assert_int_equal(fc_notify_new(&o, &n), -EINVAL);
	o.changed = changed;
	assert_int_equal(fc_notify_new(&o, &n), 0);
	assert_false(fc_notify_live(n));
	fc_notify_free(n); /* never started */
	fc_notify_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fc_notify__changes_in_order),
		cmocka_unit_test(test_fc_notify__refused_token),
		cmocka_unit_test(test_fc_notify__bad_arguments),
	};

	return cmocka_run_group_tests(tests, srv_start, srv_stop);
}
