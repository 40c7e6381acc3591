/* SPDX-License-Identifier: MIT */
/*
 * A tiny HTTP/1.1 server inside a unit test process, for the client's
 * network modules: one thread per connection, keep-alive, a handler the
 * test sets (srv_handler) that turns each request into an answer, the
 * last request kept for assertions. Header-only: each test binary gets
 * its own copy of the statics. Not a general server: the client's
 * requests only (Content-Length bodies, no chunked encoding).
 */
#ifndef CLOUDFS_TEST_FC_FAKE_HTTP_H
#define CLOUDFS_TEST_FC_FAKE_HTTP_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "fc_remote.h"

/* ----- the fake server ----- */

struct req {
	char method[16];
	char target[1024]; /* path and query */
	char auth[128];
	char ctype[128];
	char *body; /* NUL-terminated copy */
	size_t body_size;
};

struct resp {
	int status;
	char headers[256]; /* extra header lines, each ending in \r\n */
	char *body; /* malloc'd */
	size_t body_size;
	int hang_ms; /* sleep before answering */
	bool close; /* close without answering */
};

typedef void (*handler_fn)(const struct req *q, struct resp *p);

static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;
static handler_fn srv_handler;
static int srv_fd = -1;
static int srv_port;
static pthread_t srv_thread;
static int srv_requests; /* protected by srv_lock */
static struct req srv_last; /* protected by srv_lock */
static int srv_active, srv_peak; /* concurrent requests */

static inline void resp_json(struct resp *p, int status, const char *json)
{
	p->status = status;
	p->body = strdup(json);
	p->body_size = strlen(json);
}

/* The server's error answer, with code and a placeholder message. */
static inline void resp_error(struct resp *p, int status, const char *code)
{
	char json[128];

	snprintf(json, sizeof(json), "{\"error\":\"%s\",\"message\":\"x\"}",
		 code);
	resp_json(p, status, json);
}

static inline int read_request(int fd, char *buf, size_t cap, size_t *have,
			       struct req *q)
{
	char *end, *line, *next;
	size_t hdr_len, clen = 0;
	ssize_t n;

	memset(q, 0, sizeof(*q));
	for (;;) {
		buf[*have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (*have + 1 >= cap)
			return -1;
		n = read(fd, buf + *have, cap - 1 - *have);
		if (n <= 0)
			return -1;
		*have += (size_t)n;
	}
	hdr_len = (size_t)(end - buf) + 4;
	*end = '\0';
	if (sscanf(buf, "%15s %1023s", q->method, q->target) != 2)
		return -1;
	for (line = strstr(buf, "\r\n"); line; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (next)
			*next = '\0';
		if (!strncasecmp(line, "Content-Length:", 15))
			clen = strtoull(line + 15, NULL, 10);
		else if (!strncasecmp(line, "Authorization:", 14))
			snprintf(q->auth, sizeof(q->auth), "%s", line + 15);
		else if (!strncasecmp(line, "Content-Type:", 13))
			snprintf(q->ctype, sizeof(q->ctype), "%s", line + 14);
	}
	q->body = malloc(clen + 1);
	if (!q->body)
		return -1;
	q->body_size = clen;
	{
		size_t got = CF_MIN(clen, *have - hdr_len);

		memcpy(q->body, buf + hdr_len, got);
		memmove(buf, buf + hdr_len + got, *have - hdr_len - got);
		*have -= hdr_len + got;
		while (got < clen) {
			n = read(fd, q->body + got, clen - got);
			if (n <= 0)
				return -1;
			got += (size_t)n;
		}
	}
	q->body[clen] = '\0';
	return 0;
}

static inline void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static const size_t cap = 1 << 20;
	char *buf = malloc(cap);
	size_t have = 0;

	while (buf) {
		struct resp p = { 0 };
		struct req q;
		char head[512];
		int n;

		if (read_request(fd, buf, cap, &have, &q) < 0) {
			free(q.body);
			break;
		}
		pthread_mutex_lock(&srv_lock);
		srv_requests++;
		srv_active++;
		if (srv_active > srv_peak)
			srv_peak = srv_active;
		free(srv_last.body);
		srv_last = q;
		srv_last.body = strdup(q.body);
		pthread_mutex_unlock(&srv_lock);
		srv_handler(&q, &p);
		free(q.body);
		if (p.hang_ms)
			usleep((useconds_t)p.hang_ms * 1000);
		pthread_mutex_lock(&srv_lock);
		srv_active--;
		pthread_mutex_unlock(&srv_lock);
		if (p.close) {
			free(p.body);
			break;
		}
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
			     "Content-Type: application/json\r\n%s\r\n",
			     p.status, p.body_size, p.headers);
		if (write(fd, head, (size_t)n) != n ||
		    (p.body_size &&
		     write(fd, p.body, p.body_size) != (ssize_t)p.body_size)) {
			free(p.body);
			break;
		}
		free(p.body);
	}
	free(buf);
	close(fd);
	return NULL;
}

static inline void *accept_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(srv_fd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			return NULL;
		if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd))
			close(fd);
		else
			pthread_detach(t);
	}
}

static inline void server_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int one = 1;

	srv_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(srv_fd >= 0);
	setsockopt(srv_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(srv_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv_fd, 64), 0);
	assert_int_equal(getsockname(srv_fd, (struct sockaddr *)&a, &len), 0);
	srv_port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&srv_thread, NULL, accept_main, NULL),
			 0);
}

static inline struct fc_remote *client(long timeout_ms)
{
	struct fc_remote_opts o = { 0 };
	struct fc_remote *r;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv_port);
	o.base_url = url;
	o.timeout_ms = timeout_ms;
	o.block_timeout_ms = timeout_ms;
	assert_int_equal(fc_remote_new(&o, &r), 0);
	return r;
}

static inline struct req last_req(void)
{
	struct req q;

	pthread_mutex_lock(&srv_lock);
	q = srv_last;
	pthread_mutex_unlock(&srv_lock);
	return q;
}

static inline json_t *last_body_json(void)
{
	struct req q = last_req();
	json_t *j = json_loads(q.body ? q.body : "", 0, NULL);

	assert_non_null(j);
	return j;
}

static inline void server_stop(void)
{
	shutdown(srv_fd, SHUT_RDWR);
	close(srv_fd);
	pthread_join(srv_thread, NULL);
	free(srv_last.body);
	srv_last.body = NULL;
}

#endif /* CLOUDFS_TEST_FC_FAKE_HTTP_H */
