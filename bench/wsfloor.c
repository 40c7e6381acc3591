/* SPDX-License-Identifier: MIT */
/*
 * wsfloor: libwebsockets alone, as a baseline for srvbench's WebSocket
 * figures. A server with no cloudfs code in it, built on the same lws
 * with the settings cloudfsd gives it (a libev loop, the same buffer
 * sizes and header pool, the same open files limit), that greets each
 * WebSocket with {"type":"ready"} as cloudfsd does and, on GET /go,
 * writes a "changed" message to every WebSocket at once, the way
 * cloudfsd's fan-out writes to an idle one. Its RSS per idle connection
 * is what lws itself costs on this machine; its delivery times are what
 * one thread writing to every socket costs, before any work of ours.
 *
 *   wsfloor PORT      (foreground, 127.0.0.1 only; stop it with SIGTERM)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <ev.h>
#include <libwebsockets.h>

/* cloudfsd's settings (server/srv_http.c), which shape lws' memory. */
#define SERV_BUF	(64 * 1024)
#define WS_RX_BUFFER	128
#define TX_PACKET	(64 * 1024)
#define HEADER_DATA_MAX 16384
#define HEADER_POOL	256
#define FD_LIMIT	(1ul << 16)
#define CONNS_MAX	(1u << 16)
#define READY_MSG	"{\"type\":\"ready\"}"
#define CHANGED_MSG_MAX 64

struct conn {
	unsigned slot; /* index in floor_state.conns; CONNS_MAX: none */
	bool greeted;
};

static struct {
	struct lws **conns; /* the WebSockets, packed */
	unsigned count;
	unsigned long cursor;
} floor_state;

static void conn_add(struct lws *wsi, struct conn *c)
{
	if (floor_state.count == CONNS_MAX) {
		c->slot = CONNS_MAX; /* past the bench's count: not sent to */
		return;
	}
	c->slot = floor_state.count;
	floor_state.conns[floor_state.count++] = wsi;
}

static void conn_remove(struct conn *c)
{
	struct lws *last;

	if (c->slot >= floor_state.count || floor_state.conns[c->slot] == NULL)
		return;
	last = floor_state.conns[--floor_state.count];
	floor_state.conns[c->slot] = last;
	((struct conn *)lws_wsi_user(last))->slot = c->slot;
	floor_state.conns[floor_state.count] = NULL;
}

/* Write msg to every WebSocket now; lws keeps what a socket won't take. */
static void fan_out(void)
{
	unsigned char buf[LWS_PRE + CHANGED_MSG_MAX];
	char *msg = (char *)buf + LWS_PRE;
	unsigned i;
	int n;

	n = snprintf(msg, CHANGED_MSG_MAX,
		     "{\"type\":\"changed\",\"cursor\":%lu}",
		     ++floor_state.cursor);
	for (i = 0; i < floor_state.count; i++) {
		struct lws *wsi = floor_state.conns[i];

		if (lws_partial_buffered(wsi))
			continue; /* a stuck client: not this floor's concern */
		lws_write(wsi, (unsigned char *)msg, (size_t)n, LWS_WRITE_TEXT);
	}
}

/* 200 with "{}", keeping the connection for the next request. */
static int answer_ok(struct lws *wsi)
{
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	unsigned char body[LWS_PRE + 2];

	if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json",
					2, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	memcpy(body + LWS_PRE, "{}", 2);
	if (lws_write(wsi, body + LWS_PRE, 2, LWS_WRITE_HTTP_FINAL) != 2)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	unsigned char buf[LWS_PRE + sizeof(READY_MSG)];
	struct conn *c = user;

	(void)len;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (in && !strcmp((const char *)in, "/go"))
			fan_out();
		return answer_ok(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		conn_add(wsi, c);
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c->greeted)
			return 0;
		c->greeted = true;
		memcpy(buf + LWS_PRE, READY_MSG, sizeof(READY_MSG) - 1);
		return lws_write(wsi, buf + LWS_PRE, sizeof(READY_MSG) - 1,
				 LWS_WRITE_TEXT) < 0
			       ? -1
			       : 0;
	case LWS_CALLBACK_CLOSED:
		conn_remove(c);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

int main(int argc, char **argv)
{
	struct lws_protocols protocols[2];
	struct lws_context_creation_info info;
	lws_retry_bo_t retry;
	struct ev_loop *loop;
	struct lws_context *ctx;
	struct rlimit rl;
	void *loops[1];
	char *end;
	long port;

	if (argc != 2 || (port = strtol(argv[1], &end, 10)) <= 0 ||
	    port > 65535 || *end) {
		fprintf(stderr, "usage: wsfloor PORT\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < FD_LIMIT) {
		rl.rlim_cur = rl.rlim_max < FD_LIMIT ? rl.rlim_max : FD_LIMIT;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	floor_state.conns = calloc(CONNS_MAX, sizeof(*floor_state.conns));
	loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!floor_state.conns || !loop) {
		fprintf(stderr, "wsfloor: out of memory\n");
		return 1;
	}
	lws_set_log_level(LLL_ERR, NULL);
	memset(protocols, 0, sizeof(protocols));
	protocols[0].name = "cloudfs-notify";
	protocols[0].callback = callback;
	protocols[0].per_session_data_size = sizeof(struct conn);
	protocols[0].rx_buffer_size = WS_RX_BUFFER;
	protocols[0].tx_packet_size = TX_PACKET;
	memset(&retry, 0, sizeof(retry)); /* lws' idle keepalive off */
	loops[0] = loop;
	memset(&info, 0, sizeof(info));
	info.port = (int)port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.foreign_loops = loops;
	info.max_http_header_data = HEADER_DATA_MAX;
	info.max_http_header_pool = HEADER_POOL;
	info.pt_serv_buf_size = SERV_BUF;
	info.retry_and_idle_policy = &retry;
	info.options = LWS_SERVER_OPTION_LIBEV |
		       LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND |
		       LWS_SERVER_OPTION_DISABLE_IPV6;
	ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "wsfloor: cannot listen on 127.0.0.1:%ld\n",
			port);
		return 1;
	}
	/* SIGTERM's default action ends it; there is nothing to save */
	ev_run(loop, 0);
	lws_context_destroy(ctx);
	return 0;
}
