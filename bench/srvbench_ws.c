/* SPDX-License-Identifier: MIT */
/*
 * srvbench part (c): b->ws_count WebSocket clients of one account, held
 * by this process in one lws client context. The server's RSS per idle
 * connection comes from its VmRSS before and after they connect; then
 * b->commits commits, each timed from just before its request to its
 * receipt on every client. The same runs first against bench/wsfloor,
 * lws alone with cloudfsd's settings, which sends on a GET instead of a
 * commit: the baseline for both figures. The RSS is read once more at
 * half the connections, for what one more costs on its own. lws runs on
 * the main thread, on a libev (epoll) loop as the server does: its own
 * poll(2) loop would scan 10,000 descriptors per turn and time the
 * bench's client more than the server. The commits (or GETs) come from
 * a thread of their own.
 */
#include "srvbench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "cf_util.h"

#define WS_INFLIGHT	   256 /* connects in progress at once */
#define WS_TIMEOUT_S	   120.0
#define DELIVERY_TIMEOUT_S 10.0

static long server_rss_kib(const struct bench *b)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)b->server);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

struct wsc {
	int epoch; /* last commit epoch this client saw */
	bool ready;
	bool dead;
};

struct wsbench {
	struct bench *b;
	struct lws_context *ctx;
	struct wsc *clients;
	int n, started, ready, dead;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int epoch; /* protected by ->lock */
	double t0; /* protected by ->lock: commit of ->epoch sent */
	int received; /* protected by ->lock: clients seen ->epoch */
	double *lat; /* protected by ->lock */
	size_t lat_count, lat_cap;
	double commit_lat[1024]; /* the commit requests themselves */
	int commit_count;
	bool floor; /* the server is bench/wsfloor: GET /go, not commits */
	atomic_bool done;
};

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len)
{
	struct wsbench *w = lws_context_user(lws_get_context(wsi));
	struct wsc *c = user;
	unsigned char **p, *end;
	char auth[200];
	double now;
	int n;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		p = (unsigned char **)in;
		end = *p + len;
		n = snprintf(auth, sizeof(auth), "Bearer %s", w->b->token);
		return lws_add_http_header_by_token(
			       wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
			       (unsigned char *)auth, n, p, end)
			       ? -1
			       : 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!c)
			return 0;
		if (!c->ready && len >= 16 && memmem(in, len, "\"ready\"", 7)) {
			c->ready = true;
			w->ready++;
			return 0;
		}
		if (!memmem(in, len, "\"changed\"", 9))
			return 0;
		now = srvbench_now_s();
		pthread_mutex_lock(&w->lock);
		if (c->epoch < w->epoch) {
			c->epoch = w->epoch;
			if (w->lat_count < w->lat_cap)
				w->lat[w->lat_count++] = now - w->t0;
			if (++w->received >= w->ready)
				pthread_cond_signal(&w->cond);
		}
		pthread_mutex_unlock(&w->lock);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c && !c->dead) {
			c->dead = true;
			w->dead++;
			if (c->ready)
				w->ready--;
		}
		return 0;
	default:
		return 0;
	}
}

/* What makes the server send "changed": a commit, or the floor's GET /go. */
struct trigger {
	struct http h;
	bool http_ok; /* h was set up */
	char path[SRVBENCH_COMMIT_PATH_SIZE];
	char *manifest; /* owned; cloudfsd only */
	uint64_t version;
};

/* For cloudfsd, a file to commit new versions of. 0 or -1. */
static int trigger_setup(struct wsbench *w, struct trigger *t)
{
	memset(t, 0, sizeof(*t));
	if (srvbench_http_init(&t->h, w->b, !w->floor) < 0)
		return -1;
	t->http_ok = true;
	if (w->floor) {
		snprintf(t->path, sizeof(t->path), "/go");
		return 0;
	}
	t->manifest = srvbench_prepare_manifest(w->b);
	if (!t->manifest || srvbench_file_new(&t->h, "ws-commits", t->path) < 0)
		return -1;
	/* the create itself pushed "changed": let it arrive first */
	usleep(500 * 1000);
	return 0;
}

/* One commit (or GET /go). 0 or -1. */
static int trigger_fire(struct wsbench *w, struct trigger *t)
{
	if (w->floor)
		return srvbench_http_do(&t->h, "GET", t->path, NULL, 0,
					false) == 200
			       ? 0
			       : -1;
	return srvbench_commit(&t->h, t->path, t->manifest, &t->version) == 200
		       ? 0
		       : -1;
}

static void trigger_release(struct trigger *t)
{
	if (t->http_ok)
		srvbench_http_release(&t->h);
	free(t->manifest);
}

static void *ws_committer(void *arg)
{
	struct wsbench *w = arg;
	struct timespec until;
	struct trigger t;
	int k;

	if (trigger_setup(w, &t) < 0)
		goto out;
	for (k = 1; k <= w->b->commits; k++) {
		pthread_mutex_lock(&w->lock);
		w->epoch = k;
		w->received = 0;
		w->t0 = srvbench_now_s();
		pthread_mutex_unlock(&w->lock);
		if (trigger_fire(w, &t) < 0)
			goto out;
		if (w->commit_count < (int)CF_ARRAY_SIZE(w->commit_lat))
			w->commit_lat[w->commit_count++] =
				srvbench_now_s() - w->t0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)DELIVERY_TIMEOUT_S;
		pthread_mutex_lock(&w->lock);
		while (w->received < w->ready)
			if (pthread_cond_timedwait(&w->cond, &w->lock,
						   &until) != 0)
				break;
		if (w->received < w->ready)
			fprintf(stderr,
				"srvbench: %s %d reached %d of %d clients\n",
				w->floor ? "wsfloor message" : "commit", k,
				w->received, w->ready);
		pthread_mutex_unlock(&w->lock);
		usleep(100 * 1000); /* idle between commits */
	}
out:
	trigger_release(&t);
	atomic_store(&w->done, true);
	lws_cancel_service(w->ctx);
	return NULL;
}

/*
 * The server's own share of delivery, from its fan-out histogram on
 * /metrics: the mean, and the bucket bound p99 falls under. It leaves
 * out this process's client, which shares the CPUs with the server.
 */
static void print_server_fanout(struct bench *b)
{
	static const char name[] = "cloudfs_notify_fanout_seconds";
	double le[32], cum[32], sum = 0, count = 0, x, y;
	size_t buckets = 0, i;
	struct http h;
	char *line, *save = NULL, *text = NULL;

	if (srvbench_http_init(&h, b, false) == 0 &&
	    srvbench_http_do(&h, "GET", "/metrics", NULL, 0, false) == 200)
		text = strndup(h.resp.data, h.resp.len);
	srvbench_http_release(&h);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, name, sizeof(name) - 1))
			continue;
		line += sizeof(name) - 1;
		if (sscanf(line, "_bucket{le=\"%lf\"} %lf", &x, &y) == 2 &&
		    buckets < CF_ARRAY_SIZE(le)) {
			le[buckets] = x;
			cum[buckets++] = y;
		} else if (sscanf(line, "_sum %lf", &x) == 1) {
			sum = x;
		} else if (sscanf(line, "_count %lf", &x) == 1) {
			count = x;
		}
	}
	free(text);
	if (count <= 0) {
		printf("      (server fan-out: no histogram on /metrics)\n");
		return;
	}
	for (i = 0; i < buckets && cum[i] < 0.99 * count; i++)
		;
	printf("      server fan-out alone (its /metrics histogram, %.0f "
	       "messages): mean %.1f ms, p99 within the %.0f ms bucket\n",
	       count, sum / count * 1e3, i < buckets ? le[i] * 1e3 : 1e4);
}

/* One run of (c) against one server: cloudfsd, or bench/wsfloor. */
struct ws_result {
	int n, ready;
	double t_conn; /* seconds until all were ready */
	long rss_before, rss_half, rss_after; /* KiB: none, half, all idle */
	int ready_half; /* ready when rss_half was read */
	double *lat; /* owned: sorted delivery latencies */
	size_t lat_count;
	double commit_p50, commit_max;
};

static double rss_per_conn(const struct ws_result *r)
{
	return (double)(r->rss_after - r->rss_before) * 1024.0 /
	       (r->ready ? r->ready : 1);
}

/* The same for the second half of the connections alone: what one more
 * costs, without what the first ones cost once (thread stacks and malloc
 * arenas of the workers that checked their tokens, caches warming up). */
static double rss_per_more_conn(const struct ws_result *r)
{
	int more = r->ready - r->ready_half;

	return (double)(r->rss_after - r->rss_half) * 1024.0 /
	       (more > 0 ? more : 1);
}

/* Run the loop for secs without starting anything: the server settles. */
static void settle(struct ev_loop *loop, double secs)
{
	double t0 = srvbench_now_s();

	while (srvbench_now_s() - t0 < secs) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(10 * 1000);
	}
}

/*
 * Connect b->ws_count clients to b's server, read its RSS before and
 * with them idle, then time b->commits deliveries (commits for cloudfsd,
 * GET /go for the floor). 0 or -1.
 */
static int ws_measure(struct bench *b, bool floor, struct ws_result *r)
{
	struct lws_protocols protocols[] = {
		{ "cloudfs-notify", ws_callback, 0, 512, 0, NULL, 0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct ev_loop *loop = NULL;
	void *loops[1];
	struct wsbench w;
	struct rlimit rl;
	pthread_t thread;
	double t0;
	int rc = -1;

	memset(&w, 0, sizeof(w));
	memset(r, 0, sizeof(*r));
	w.b = b;
	w.floor = floor;
	w.n = b->ws_count;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	atomic_init(&w.done, false);
	getrlimit(RLIMIT_NOFILE, &rl);
	w.clients = calloc((size_t)w.n, sizeof(*w.clients));
	w.lat_cap = (size_t)w.n * (size_t)b->commits;
	w.lat = malloc((w.lat_cap ? w.lat_cap : 1) * sizeof(double));
	if (!w.clients || !w.lat)
		goto out;

	loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!loop)
		goto out;
	loops[0] = loop;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = loops;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = &w;
	info.fd_limit_per_thread = (unsigned)rl.rlim_cur;
	w.ctx = lws_create_context(&info);
	if (!w.ctx)
		goto out;

	sleep(1);
	r->rss_before = server_rss_kib(b);
	t0 = srvbench_now_s();
	while (w.ready + w.dead < w.n && srvbench_now_s() - t0 < WS_TIMEOUT_S) {
		if (!r->rss_half && w.started == w.n / 2 &&
		    w.ready + w.dead == w.started) {
			settle(loop, 1.0);
			r->rss_half = server_rss_kib(b);
			r->ready_half = w.ready;
		}
		while (w.started < w.n &&
		       (r->rss_half || w.started < w.n / 2) &&
		       w.started - w.ready - w.dead < WS_INFLIGHT) {
			memset(&ci, 0, sizeof(ci));
			ci.context = w.ctx;
			ci.address = "127.0.0.1";
			ci.port = b->port;
			ci.path = "/api/v1/notify";
			ci.host = "127.0.0.1";
			ci.origin = "127.0.0.1";
			ci.protocol = "cloudfs-notify";
			ci.userdata = &w.clients[w.started];
			if (!lws_client_connect_via_info(&ci) &&
			    !w.clients[w.started].dead) {
				w.clients[w.started].dead = true;
				w.dead++;
			}
			w.started++;
		}
		ev_run(loop, EVRUN_ONCE);
	}
	r->t_conn = srvbench_now_s() - t0;
	if (w.ready < w.n)
		fprintf(stderr,
			"srvbench: only %d of %d websockets became "
			"ready (%d failed)\n",
			w.ready, w.n, w.dead);
	/* let the server settle: idle connections only */
	settle(loop, 2.0);
	r->rss_after = server_rss_kib(b);

	if (pthread_create(&thread, NULL, ws_committer, &w))
		goto out;
	while (!atomic_load(&w.done))
		ev_run(loop, EVRUN_ONCE);
	pthread_join(thread, NULL);

	qsort(w.lat, w.lat_count, sizeof(double), srvbench_cmp_double);
	qsort(w.commit_lat, (size_t)w.commit_count, sizeof(double),
	      srvbench_cmp_double);
	r->n = w.n;
	r->ready = w.ready;
	r->lat = w.lat;
	r->lat_count = w.lat_count;
	w.lat = NULL;
	r->commit_p50 = srvbench_pct(w.commit_lat, (size_t)w.commit_count, 0.5);
	r->commit_max = srvbench_pct(w.commit_lat, (size_t)w.commit_count, 1.0);
	rc = r->lat_count == (size_t)w.ready * (size_t)b->commits ? 0 : -1;
out:
	if (w.ctx)
		lws_context_destroy(w.ctx);
	if (loop)
		ev_loop_destroy(loop);
	free(w.clients);
	free(w.lat);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

int srvbench_websockets(struct bench *b)
{
	struct ws_result cfs, bare;
	struct bench floor;
	const char *verdict;
	struct rlimit rl;
	double p99;
	int rc;

	/* the baseline first, each server alone on the machine */
	if (srvbench_wsfloor_start(b, &floor) < 0)
		return -1;
	rc = ws_measure(&floor, true, &bare);
	srvbench_wsfloor_stop(&floor);
	if (rc == 0)
		rc = ws_measure(b, false, &cfs);
	else
		memset(&cfs, 0, sizeof(cfs));
	if (rc < 0)
		goto out;

	getrlimit(RLIMIT_NOFILE, &rl);
	printf("  (c) RLIMIT_NOFILE %llu; %d of %d websockets ready in %.1f "
	       "s (bare lws: %.1f s)\n",
	       (unsigned long long)rl.rlim_cur, cfs.ready, cfs.n, cfs.t_conn,
	       bare.t_conn);
	printf("      server RSS %.1f MiB before, %.1f MiB with them idle: "
	       "%.0f bytes per connection  target < 1024: %s\n",
	       cfs.rss_before / 1024.0, cfs.rss_after / 1024.0,
	       rss_per_conn(&cfs),
	       rss_per_conn(&cfs) < 1024 ? "met" : "MISSED");
	printf("      baseline: bare lws, cloudfsd's settings (bench/wsfloor): "
	       "%.0f bytes per connection\n",
	       rss_per_conn(&bare));
	printf("      the second %d connections alone: %.0f bytes each; bare "
	       "lws: %.0f\n",
	       cfs.ready - cfs.ready_half, rss_per_more_conn(&cfs),
	       rss_per_more_conn(&bare));
	p99 = srvbench_pct(cfs.lat, cfs.lat_count, 0.99);
	/* no delivery measured (--commits 0) is no verdict */
	verdict = !cfs.lat_count ? "not measured"
		  : p99 < 0.1	 ? "met"
				 : "MISSED";
	printf("      delivery after commit, %d commits x %d clients: p50 "
	       "%.1f ms, p99 %.1f ms, max %.1f ms (%zu deliveries)  "
	       "target p99 < 100 ms: %s\n",
	       b->commits, cfs.ready,
	       srvbench_pct(cfs.lat, cfs.lat_count, 0.5) * 1e3, p99 * 1e3,
	       srvbench_pct(cfs.lat, cfs.lat_count, 1.0) * 1e3, cfs.lat_count,
	       verdict);
	printf("      baseline: bare lws writing each message to all at once "
	       "after a GET: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
	       srvbench_pct(bare.lat, bare.lat_count, 0.5) * 1e3,
	       srvbench_pct(bare.lat, bare.lat_count, 0.99) * 1e3,
	       srvbench_pct(bare.lat, bare.lat_count, 1.0) * 1e3);
	printf("      (the commit requests alone: p50 %.1f ms, max %.1f ms; "
	       "the GETs: p50 %.1f ms)\n",
	       cfs.commit_p50 * 1e3, cfs.commit_max * 1e3,
	       bare.commit_p50 * 1e3);
	print_server_fanout(b);
out:
	free(cfs.lat);
	free(bare.lat);
	return rc;
}
