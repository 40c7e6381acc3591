/* SPDX-License-Identifier: MIT */
/*
 * ws_client: a real libwebsockets client for the end-to-end tests. It
 * opens GET /api/v1/notify on a cloudfsd with a bearer token, prints every
 * text message it receives as one line on stdout (flushed at once, so a
 * test can poll the file), and exits:
 *   0  after --count messages (the {"type":"ready"} greeting counts) on
 *      each of its --conns connections (default 1)
 *   1  on a timeout, a connection error or bad usage
 *   2  when the server refused the token (close 1008)
 *   3  when the server closed the connection with any other code; a line
 *      "#close CODE" is printed first
 * --stall stops reading after the greeting: a consumer that never drains.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <libwebsockets.h>

struct client {
	const char *host;
	const char *path;
	const char *token;
	int port;
	long count; /* messages to wait for; 0 = until closed */
	long conns; /* connections opened */
	long conns_done; /* ...that received count messages */
	long received; /* by all of them */
	bool tls;
	bool subprotocol;
	bool stall;
	bool done;
	int status; /* exit status once done */
	lws_sorted_usec_list_t timeout;
	struct lws_context *ctx;
};

/* One connection (lws' per-session data). */
struct conn {
	struct line_buf {
		char *data;
		size_t len, cap;
	} line; /* a message arriving in fragments */
	long received;
	bool done; /* received count messages: its close is no error */
};

static void finish(struct client *c, int status)
{
	if (c->done)
		return;
	c->done = true;
	c->status = status;
}

static int line_append(struct line_buf *l, const void *data, size_t len)
{
	char *p;

	if (l->len + len + 1 > l->cap) {
		size_t cap = (l->len + len + 1) * 2;

		if (cap > 16 * 1024 * 1024)
			return -EMSGSIZE;
		p = realloc(l->data, cap);
		if (!p)
			return -ENOMEM;
		l->data = p;
		l->cap = cap;
	}
	memcpy(l->data + l->len, data, len);
	l->len += len;
	l->data[l->len] = '\0';
	return 0;
}

static void on_message(struct client *c, struct conn *k, struct lws *wsi)
{
	size_t i;

	/* one line per message, whatever it holds */
	for (i = 0; i < k->line.len; i++)
		if (k->line.data[i] == '\n' || k->line.data[i] == '\r')
			k->line.data[i] = ' ';
	printf("%s\n", k->line.len ? k->line.data : "");
	fflush(stdout);
	k->line.len = 0;
	k->received++;
	c->received++;
	if (c->count && k->received >= c->count) {
		k->done = true;
		if (++c->conns_done == c->conns)
			finish(c, 0);
		return;
	}
	if (c->stall)
		lws_rx_flow_control(wsi, 0);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct client *c = lws_context_user(lws_get_context(wsi));
	struct conn *k = user;
	unsigned char **p, *end;
	char auth[600];
	int n, code;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (!c->token)
			return 0;
		p = (unsigned char **)in;
		end = *p + len;
		n = snprintf(auth, sizeof(auth), "Bearer %s", c->token);
		if (n < 0 || (size_t)n >= sizeof(auth))
			return -1;
		if (lws_add_http_header_by_token(
			    wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
			    (unsigned char *)auth, n, p, end))
			return -1;
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "ws_client: connection error: %s\n",
			in ? (const char *)in : "unknown");
		finish(c, 1);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		fprintf(stderr, "ws_client: connected\n");
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (line_append(&k->line, in, len) < 0) {
			finish(c, 1);
			return -1;
		}
		if (lws_is_final_fragment(wsi))
			on_message(c, k, wsi);
		return c->done || k->done ? -1 : 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		code = len >= 2 ? ((unsigned char *)in)[0] << 8 |
					  ((unsigned char *)in)[1]
				: 1005;
		printf("#close %d\n", code);
		fflush(stdout);
		fprintf(stderr, "ws_client: closed by the server: %d %.*s\n",
			code, len > 2 ? (int)len - 2 : 0,
			len > 2 ? (const char *)in + 2 : "");
		finish(c, code == LWS_CLOSE_STATUS_POLICY_VIOLATION ? 2 : 3);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		free(k->line.data);
		k->line.data = NULL;
		if (k->done)
			return 0; /* this one got all it waited for */
		if (!c->done)
			fprintf(stderr, "ws_client: connection closed\n");
		finish(c, 3);
		return 0;
	default:
		return 0;
	}
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
	struct client *c = lws_container_of(sul, struct client, timeout);

	fprintf(stderr, "ws_client: timeout after %ld messages\n", c->received);
	finish(c, 1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ws_client --port PORT --token TOKEN [--host H]\n"
		"                 [--path P] [--count N] [--timeout SECS]\n"
		"                 [--conns N] [--tls] [--no-subprotocol]\n"
		"                 [--stall]\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "token", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "conns", required_argument, NULL, 'c' },
		{ "tls", no_argument, NULL, 's' },
		{ "no-subprotocol", no_argument, NULL, 'N' },
		{ "stall", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct lws_protocols protocols[] = {
		{ "cloudfs-notify", callback, sizeof(struct conn), 4096, 0,
		  NULL, 0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct client c;
	struct rlimit rl;
	long port = 0, timeout = 30, i;
	int opt;

	memset(&c, 0, sizeof(c));
	c.host = "127.0.0.1";
	c.path = "/api/v1/notify";
	c.subprotocol = true;
	c.conns = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			c.host = optarg;
			break;
		case 'p':
			if (parse_long(optarg, 1, 65535, &port) < 0)
				goto bad;
			break;
		case 'P':
			c.path = optarg;
			break;
		case 't':
			c.token = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 0, 1L << 30, &c.count) < 0)
				goto bad;
			break;
		case 'T':
			if (parse_long(optarg, 1, 86400, &timeout) < 0)
				goto bad;
			break;
		case 'c':
			if (parse_long(optarg, 1, 4096, &c.conns) < 0)
				goto bad;
			break;
		case 's':
			c.tls = true;
			break;
		case 'N':
			c.subprotocol = false;
			break;
		case 'S':
			c.stall = true;
			break;
		default:
			goto bad;
		}
	}
	if (!port || optind != argc)
		goto bad;
	c.port = (int)port;
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max; /* --conns may need more */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	lws_set_log_level(LLL_ERR, NULL);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = &c;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	c.ctx = lws_create_context(&info);
	if (!c.ctx) {
		fprintf(stderr, "ws_client: cannot create lws context\n");
		return 1;
	}
	memset(&ci, 0, sizeof(ci));
	ci.context = c.ctx;
	ci.address = c.host;
	ci.port = c.port;
	ci.path = c.path;
	ci.host = c.host;
	ci.origin = c.host;
	ci.protocol = c.subprotocol ? "cloudfs-notify" : NULL;
	ci.local_protocol_name = "cloudfs-notify";
	if (c.tls)
		ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED |
				    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
	lws_sul_schedule(c.ctx, 0, &c.timeout, on_timeout,
			 timeout * LWS_US_PER_SEC);
	for (i = 0; i < c.conns && !c.done; i++) {
		if (!lws_client_connect_via_info(&ci)) {
			fprintf(stderr, "ws_client: cannot connect\n");
			finish(&c, 1);
		}
	}
	while (!c.done && lws_service(c.ctx, 0) >= 0)
		;
	lws_sul_cancel(&c.timeout);
	lws_context_destroy(c.ctx);
	return c.status;
bad:
	usage();
	return 1;
}
