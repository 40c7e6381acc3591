/* SPDX-License-Identifier: MIT */
/* Unit tests for server/srv_metrics.c and server/srv_work.c. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cf_buf.h"
#include "srv_metrics.h"
#include "srv_work.h"

static char *render(struct srv_metrics *m)
{
	struct cf_buf b;
	char *s;

	cf_buf_init(&b, 1 << 20);
	assert_int_equal(srv_metrics_render(m, &b), 0);
	s = cf_buf_detach(&b, NULL);
	assert_non_null(s);
	return s;
}

static void test_srv_metrics__counts_requests_by_route(void **state)
{
	struct srv_metrics *m;
	char *text;

	(void)state;
	assert_int_equal(srv_metrics_new(&m), 0);
	srv_metrics_request(m, "blocks_put", 201, 1000, 10);
	srv_metrics_request(m, "blocks_put", 201, 1000, 10);
	srv_metrics_request(m, "blocks_put", 200, 5, 0);
	srv_metrics_request(m, "commit", 409, 7, 30);
	srv_metrics_request(m, NULL, 404, 0, 0);
	text = render(m);
	assert_non_null(strstr(text, "cloudfs_requests_total{route=\"blocks_put"
				     "\",status=\"201\"} 2\n"));
	assert_non_null(strstr(text, "cloudfs_requests_total{route=\"blocks_put"
				     "\",status=\"200\"} 1\n"));
	assert_non_null(strstr(text, "{route=\"commit\",status=\"409\"} 1\n"));
	assert_non_null(strstr(text, "{route=\"unknown\",status=\"404\"} 1\n"));
	assert_non_null(strstr(text, "cloudfs_received_bytes_total 2012\n"));
	assert_non_null(strstr(text, "cloudfs_sent_bytes_total 50\n"));
	assert_non_null(
		strstr(text, "# TYPE cloudfs_requests_total counter\n"));
	free(text);
	srv_metrics_free(m);
	srv_metrics_free(NULL);
}

static void test_srv_metrics__gauges_and_histogram(void **state)
{
	struct srv_metrics *m;
	char *text;

	(void)state;
	assert_int_equal(srv_metrics_new(&m), 0);
	srv_metrics_set_stored(m, 10, 1000);
	srv_metrics_block_stored(m, 24);
	srv_metrics_block_removed(m, 4);
	srv_metrics_ws(m, 3);
	srv_metrics_ws(m, -1);
	srv_metrics_conn_refused(m);
	srv_metrics_conn_refused(m);
	srv_metrics_commit_latency(m, 0.0002);
	srv_metrics_commit_latency(m, 0.003);
	srv_metrics_commit_latency(m, 99);
	srv_metrics_commit_latency(m, -1);
	srv_metrics_notify_fanout(m, 0.02);
	srv_metrics_notify_fanout(m, 0.2);
	text = render(m);
	assert_non_null(strstr(text, "cloudfs_blocks_stored 10\n"));
	assert_non_null(strstr(text, "cloudfs_stored_bytes 1020\n"));
	assert_non_null(strstr(text, "cloudfs_websocket_connections 2\n"));
	assert_non_null(
		strstr(text, "cloudfs_websocket_connections_total 3\n"));
	assert_non_null(strstr(text, "cloudfs_connections_refused_total 2\n"));
	assert_non_null(strstr(text, "_bucket{le=\"0.0005\"} 2\n"));
	assert_non_null(strstr(text, "_bucket{le=\"0.005\"} 3\n"));
	assert_non_null(strstr(text, "_bucket{le=\"10\"} 3\n"));
	assert_non_null(strstr(text, "_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(text, "cloudfs_commit_duration_seconds_count "
				     "4\n"));
	assert_non_null(strstr(text, "# TYPE cloudfs_notify_fanout_seconds "
				     "histogram\n"));
	assert_non_null(strstr(text, "cloudfs_notify_fanout_seconds_bucket{le="
				     "\"0.01\"} 0\n"));
	assert_non_null(strstr(text, "cloudfs_notify_fanout_seconds_bucket{le="
				     "\"0.025\"} 1\n"));
	assert_non_null(strstr(text, "cloudfs_notify_fanout_seconds_bucket{le="
				     "\"0.25\"} 2\n"));
	assert_non_null(
		strstr(text, "cloudfs_notify_fanout_seconds_count 2\n"));
	free(text);
	srv_metrics_free(m);
}

static void test_srv_metrics__route_table_overflows_to_other(void **state)
{
	struct srv_metrics *m;
	char *text;
	int i;

	(void)state;
	assert_int_equal(srv_metrics_new(&m), 0);
	for (i = 0; i < 600; i++)
		srv_metrics_request(m, "r", 100 + i, 0, 0);
	text = render(m);
	assert_non_null(strstr(text, "{route=\"other\",status=\"other\"} 344"));
	free(text);
	srv_metrics_free(m);
}

struct counter {
	struct srv_work_item item;
	int *sum;
	pthread_mutex_t *lock;
};

static void add_one(struct srv_work_item *item)
{
	struct counter *c = (struct counter *)(void *)item;

	pthread_mutex_lock(c->lock);
	(*c->sum)++;
	pthread_mutex_unlock(c->lock);
}

static void test_srv_work__runs_every_item_before_free(void **state)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct counter items[500];
	struct srv_work *w;
	int sum = 0, i;

	(void)state;
	assert_int_equal(srv_work_new(4, &w), 0);
	for (i = 0; i < 500; i++) {
		items[i].item.run = add_one;
		items[i].sum = &sum;
		items[i].lock = &lock;
		assert_int_equal(srv_work_submit(w, &items[i].item), 0);
	}
	srv_work_free(w); /* drains */
	assert_int_equal(sum, 500);
	srv_work_free(NULL);
}

static void test_srv_work__bad_thread_count(void **state)
{
	struct srv_work *w = (struct srv_work *)&w;

	(void)state;
	assert_int_equal(srv_work_new(0, &w), -EINVAL);
	assert_null(w);
	assert_int_equal(srv_work_new(100000, &w), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_srv_metrics__counts_requests_by_route),
		cmocka_unit_test(test_srv_metrics__gauges_and_histogram),
		cmocka_unit_test(
			test_srv_metrics__route_table_overflows_to_other),
		cmocka_unit_test(test_srv_work__runs_every_item_before_free),
		cmocka_unit_test(test_srv_work__bad_thread_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
