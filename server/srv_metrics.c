/* SPDX-License-Identifier: MIT */
/*
 * Server metrics. Scalar counters and the histogram buckets are relaxed
 * atomics, so the hot paths (every request, every commit) never take a lock
 * except for the (route, status) table, which is a short linear scan under
 * ->lock. Rendering reads each value once; a scrape can see a request
 * counted before its bytes, which Prometheus tolerates.
 *
 * Lock order: ->lock is a leaf.
 */
#include "srv_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cf_util.h"

/* Distinct (route, status) pairs kept; later ones count as route "other". */
#define METRICS_ROUTES_MAX 256

/*
 * Latency bucket upper bounds in seconds (Prometheus "le"), finer around
 * 0.1 s, the notification delivery target.
 */
static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				 0.05,	 0.075, 0.1,	0.15,  0.25, 0.5,
				 1,	 2.5,	5,	10 };
#define BUCKETS (CF_ARRAY_SIZE(bounds) + 1) /* + +Inf */

/* A latency histogram: relaxed atomics, buckets not cumulative. */
struct histogram {
	atomic_uint_fast64_t buckets[BUCKETS];
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ns;
};

struct route_count {
	const char *route; /* static string from the API */
	int status;
	uint64_t count; /* protected by ->lock */
};

struct srv_metrics {
	pthread_mutex_t lock;
	struct route_count routes[METRICS_ROUTES_MAX]; /* protected by ->lock */
	size_t route_count; /* protected by ->lock */
	uint64_t routes_other; /* protected by ->lock */

	atomic_uint_fast64_t bytes_in, bytes_out;
	atomic_int_fast64_t blocks_stored, bytes_stored;
	atomic_int_fast64_t ws_open;
	atomic_uint_fast64_t ws_opened_total;
	atomic_uint_fast64_t conns_refused;
	struct histogram commits; /* request to durable answer */
	struct histogram fanout; /* notification publish to last send */
	int64_t start_time; /* unix seconds; set once */
};

static void histogram_init(struct histogram *h)
{
	size_t i;

	for (i = 0; i < BUCKETS; i++)
		atomic_init(&h->buckets[i], 0);
	atomic_init(&h->count, 0);
	atomic_init(&h->sum_ns, 0);
}

static void histogram_observe(struct histogram *h, double seconds)
{
	size_t i;

	if (!(seconds >= 0)) /* also catches NaN */
		seconds = 0;
	for (i = 0; i < CF_ARRAY_SIZE(bounds); i++)
		if (seconds <= bounds[i])
			break;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	if (seconds > 1e9)
		seconds = 1e9;
	atomic_fetch_add_explicit(&h->sum_ns, (uint_fast64_t)(seconds * 1e9),
				  memory_order_relaxed);
}

int srv_metrics_new(struct srv_metrics **out)
{
	struct srv_metrics *m;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return -ENOMEM;
	}
	atomic_init(&m->bytes_in, 0);
	atomic_init(&m->bytes_out, 0);
	atomic_init(&m->blocks_stored, 0);
	atomic_init(&m->bytes_stored, 0);
	atomic_init(&m->ws_open, 0);
	atomic_init(&m->ws_opened_total, 0);
	atomic_init(&m->conns_refused, 0);
	histogram_init(&m->commits);
	histogram_init(&m->fanout);
	m->start_time = (int64_t)time(NULL);
	*out = m;
	return 0;
}

void srv_metrics_free(struct srv_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool same_route(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

void srv_metrics_request(struct srv_metrics *m, const char *route, int status,
			 uint64_t bytes_in, uint64_t bytes_out)
{
	size_t i;

	if (!m)
		return;
	if (!route)
		route = "unknown";
	atomic_fetch_add_explicit(&m->bytes_in, bytes_in, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->bytes_out, bytes_out,
				  memory_order_relaxed);
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->route_count; i++) {
		if (m->routes[i].status == status &&
		    same_route(m->routes[i].route, route))
			break;
	}
	if (i < m->route_count) {
		m->routes[i].count++;
	} else if (m->route_count < METRICS_ROUTES_MAX) {
		m->routes[i].route = route;
		m->routes[i].status = status;
		m->routes[i].count = 1;
		m->route_count++;
	} else {
		m->routes_other++;
	}
	pthread_mutex_unlock(&m->lock);
}

void srv_metrics_block_stored(struct srv_metrics *m, uint64_t size)
{
	if (!m)
		return;
	atomic_fetch_add_explicit(&m->blocks_stored, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->bytes_stored, (int_fast64_t)size,
				  memory_order_relaxed);
}

void srv_metrics_block_removed(struct srv_metrics *m, uint64_t size)
{
	if (!m)
		return;
	atomic_fetch_sub_explicit(&m->blocks_stored, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&m->bytes_stored, (int_fast64_t)size,
				  memory_order_relaxed);
}

void srv_metrics_set_stored(struct srv_metrics *m, uint64_t blocks,
			    uint64_t bytes)
{
	if (!m)
		return;
	atomic_store_explicit(&m->blocks_stored, (int_fast64_t)blocks,
			      memory_order_relaxed);
	atomic_store_explicit(&m->bytes_stored, (int_fast64_t)bytes,
			      memory_order_relaxed);
}

void srv_metrics_ws(struct srv_metrics *m, int delta)
{
	if (!m)
		return;
	atomic_fetch_add_explicit(&m->ws_open, delta, memory_order_relaxed);
	if (delta > 0)
		atomic_fetch_add_explicit(&m->ws_opened_total,
					  (uint_fast64_t)delta,
					  memory_order_relaxed);
}

void srv_metrics_conn_refused(struct srv_metrics *m)
{
	if (m)
		atomic_fetch_add_explicit(&m->conns_refused, 1,
					  memory_order_relaxed);
}

void srv_metrics_commit_latency(struct srv_metrics *m, double seconds)
{
	if (m)
		histogram_observe(&m->commits, seconds);
}

void srv_metrics_notify_fanout(struct srv_metrics *m, double seconds)
{
	if (m)
		histogram_observe(&m->fanout, seconds);
}

/* Label values are static route names; escape anyway, as the format says. */
static int append_label(struct cf_buf *out, const char *v)
{
	int rc = 0;

	for (; *v && rc == 0; v++) {
		if (*v == '\\' || *v == '"')
			rc = cf_buf_appendf(out, "\\%c", *v);
		else if (*v == '\n')
			rc = cf_buf_appends(out, "\\n");
		else
			rc = cf_buf_append(out, v, 1);
	}
	return rc;
}

static int render_requests(struct srv_metrics *m, struct cf_buf *out)
{
	struct route_count *snap = NULL;
	size_t n, i;
	uint64_t other;
	int rc;

	/* Copy under the lock, format outside it. */
	snap = malloc(sizeof(m->routes));
	if (!snap)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	n = m->route_count;
	memcpy(snap, m->routes, n * sizeof(*snap));
	other = m->routes_other;
	pthread_mutex_unlock(&m->lock);

	rc = cf_buf_appends(out, "# HELP cloudfs_requests_total HTTP requests "
				 "answered, by route and status.\n"
				 "# TYPE cloudfs_requests_total counter\n");
	for (i = 0; i < n && rc == 0; i++) {
		rc = cf_buf_appends(out, "cloudfs_requests_total{route=\"");
		if (rc == 0)
			rc = append_label(out, snap[i].route);
		if (rc == 0)
			rc = cf_buf_appendf(out, "\",status=\"%d\"} %llu\n",
					    snap[i].status,
					    (unsigned long long)snap[i].count);
	}
	if (rc == 0 && other)
		rc = cf_buf_appendf(out,
				    "cloudfs_requests_total{route=\"other\","
				    "status=\"other\"} %llu\n",
				    (unsigned long long)other);
	free(snap);
	return rc;
}

static unsigned long long load_u(atomic_uint_fast64_t *v)
{
	return (unsigned long long)atomic_load_explicit(v,
							memory_order_relaxed);
}

static long long load_i(atomic_int_fast64_t *v)
{
	return (long long)atomic_load_explicit(v, memory_order_relaxed);
}

/* Append histogram h as name, with its HELP text. */
static int render_histogram(struct histogram *h, const char *name,
			    const char *help, struct cf_buf *out)
{
	unsigned long long cumulative = 0;
	size_t i;
	int rc;

	rc = cf_buf_appendf(out, "# HELP %s %s\n# TYPE %s histogram\n", name,
			    help, name);
	for (i = 0; i < BUCKETS && rc == 0; i++) {
		cumulative += load_u(&h->buckets[i]);
		if (i < CF_ARRAY_SIZE(bounds))
			rc = cf_buf_appendf(out, "%s_bucket{le=\"%g\"} %llu\n",
					    name, bounds[i], cumulative);
		else
			rc = cf_buf_appendf(out,
					    "%s_bucket{le=\"+Inf\"} %llu\n",
					    name, cumulative);
	}
	/* count equals the +Inf bucket by construction of this snapshot */
	if (rc == 0)
		rc = cf_buf_appendf(out, "%s_sum %.9f\n%s_count %llu\n", name,
				    (double)load_u(&h->sum_ns) / 1e9, name,
				    cumulative);
	return rc;
}

int srv_metrics_render(struct srv_metrics *m, struct cf_buf *out)
{
	int rc;

	rc = render_requests(m, out);
	if (rc == 0)
		rc = cf_buf_appendf(
			out,
			"# HELP cloudfs_received_bytes_total Request bytes "
			"received (bodies).\n"
			"# TYPE cloudfs_received_bytes_total counter\n"
			"cloudfs_received_bytes_total %llu\n"
			"# HELP cloudfs_sent_bytes_total Response bytes sent "
			"(bodies).\n"
			"# TYPE cloudfs_sent_bytes_total counter\n"
			"cloudfs_sent_bytes_total %llu\n"
			"# HELP cloudfs_blocks_stored Blocks in the block "
			"store.\n"
			"# TYPE cloudfs_blocks_stored gauge\n"
			"cloudfs_blocks_stored %lld\n"
			"# HELP cloudfs_stored_bytes Bytes in the block "
			"store.\n"
			"# TYPE cloudfs_stored_bytes gauge\n"
			"cloudfs_stored_bytes %lld\n"
			"# HELP cloudfs_websocket_connections Open "
			"notification WebSockets.\n"
			"# TYPE cloudfs_websocket_connections gauge\n"
			"cloudfs_websocket_connections %lld\n"
			"# HELP cloudfs_websocket_connections_total "
			"Notification WebSockets opened.\n"
			"# TYPE cloudfs_websocket_connections_total counter\n"
			"cloudfs_websocket_connections_total %llu\n"
			"# HELP cloudfs_connections_refused_total Connections "
			"closed at once: too few open files left for them.\n"
			"# TYPE cloudfs_connections_refused_total counter\n"
			"cloudfs_connections_refused_total %llu\n"
			"# HELP cloudfs_start_time_seconds Unix time the "
			"server started.\n"
			"# TYPE cloudfs_start_time_seconds gauge\n"
			"cloudfs_start_time_seconds %lld\n",
			load_u(&m->bytes_in), load_u(&m->bytes_out),
			load_i(&m->blocks_stored), load_i(&m->bytes_stored),
			load_i(&m->ws_open), load_u(&m->ws_opened_total),
			load_u(&m->conns_refused), (long long)m->start_time);
	if (rc == 0)
		rc = render_histogram(&m->commits,
				      "cloudfs_commit_duration_seconds",
				      "Time from commit request to durable "
				      "acknowledgement.",
				      out);
	if (rc == 0)
		rc = render_histogram(
			&m->fanout, "cloudfs_notify_fanout_seconds",
			"Time from a notification's publish until "
			"every WebSocket it was queued for has "
			"taken it to send (or was dropped).",
			out);
	return rc;
}
