/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for server/srv_notify.c: the queueing and fan-out logic,
 * driven without sockets (the transport's side is played by the test:
 * take_ready and pop, as the lws service thread would).
 */
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

#include "cf_log.h"
#include "srv_notify.h"

/*
 * Allocation fault injection (test_srv_notify.ldflags wraps malloc and
 * calloc): the alloc_fail_at-th allocation made by the code under test
 * fails; -1 never. Only objects linked into this binary are wrapped, so
 * jansson's and libc's own allocations are untouched.
 */
static int alloc_fail_at = -1;
static int alloc_count;

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);

static bool alloc_fails(void)
{
	return alloc_fail_at >= 0 &&
	       __atomic_fetch_add(&alloc_count, 1, __ATOMIC_RELAXED) ==
		       alloc_fail_at;
}

void *__wrap_malloc(size_t size)
{
	return alloc_fails() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t count, size_t size)
{
	return alloc_fails() ? NULL : __real_calloc(count, size);
}

struct wake_count {
	int wakes;
};

static void count_wake(void *arg)
{
	struct wake_count *w = arg;

	__atomic_fetch_add(&w->wakes, 1, __ATOMIC_RELAXED);
}

/* What the fake transport saw in one take_ready round. */
struct ready_log {
	void *owners[16];
	bool dropped[16];
	size_t count;
};

static void log_ready(void *arg, void *owner, bool dropped)
{
	struct ready_log *l = arg;

	assert_true(l->count < 16);
	l->owners[l->count] = owner;
	l->dropped[l->count] = dropped;
	l->count++;
}

static bool logged(const struct ready_log *l, void *owner, bool *dropped)
{
	size_t i;

	for (i = 0; i < l->count; i++) {
		if (l->owners[i] == owner) {
			if (dropped)
				*dropped = l->dropped[i];
			return true;
		}
	}
	return false;
}

static void test_srv_notify__fan_out_per_account(void **state)
{
	struct srv_notify_conn *a1, *a2, *b1;
	struct wake_count w = { 0 };
	struct ready_log log = { 0 };
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX];
	int o1, o2, o3;

	(void)state;
	assert_int_equal(srv_notify_new(8, count_wake, &w, &n), 0);
	assert_int_equal(srv_notify_register(n, 1, &o1, &a1), 0);
	assert_int_equal(srv_notify_register(n, 1, &o2, &a2), 0);
	assert_int_equal(srv_notify_register(n, 2, &o3, &b1), 0);
	assert_int_equal(srv_notify_count(n, 1), 2);
	assert_int_equal(srv_notify_count(n, 2), 1);
	assert_int_equal(srv_notify_count(n, -1), 3);

	srv_notify_changed(n, 1, 42);
	assert_int_equal(w.wakes, 1);
	assert_int_equal(srv_notify_take_ready(n, SIZE_MAX, log_ready, &log),
			 2);
	assert_true(logged(&log, &o1, NULL));
	assert_true(logged(&log, &o2, NULL));
	assert_false(logged(&log, &o3, NULL));

	assert_int_equal(srv_notify_pop(n, a1, buf, sizeof(buf)),
			 strlen("{\"type\":\"changed\",\"cursor\":42}"));
	assert_string_equal(buf, "{\"type\":\"changed\",\"cursor\":42}");
	assert_int_equal(srv_notify_pop(n, a1, buf, sizeof(buf)), 0);
	assert_true(srv_notify_pop(n, a2, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"type\":\"changed\",\"cursor\":42}");
	assert_int_equal(srv_notify_pop(n, b1, buf, sizeof(buf)), 0);

	srv_notify_unregister(n, a1);
	srv_notify_unregister(n, a2);
	srv_notify_unregister(n, b1);
	assert_int_equal(srv_notify_count(n, -1), 0);
	srv_notify_free(n);
}

struct fanout_log {
	int count;
	double last;
};

static void log_fanout(void *arg, double seconds)
{
	struct fanout_log *f = arg;

	f->count++;
	f->last = seconds;
}

/*
 * The fan-out observer hears of a message once, when the last connection
 * it was queued for has taken it; never of one nobody was listening to.
 */
static void test_srv_notify__fanout_observed_once(void **state)
{
	struct srv_notify_conn *a1, *a2;
	struct fanout_log f = { 0 };
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX];
	int o1, o2;

	(void)state;
	assert_int_equal(srv_notify_new(8, NULL, NULL, &n), 0);
	srv_notify_set_fanout(n, log_fanout, &f);
	assert_int_equal(srv_notify_register(n, 1, &o1, &a1), 0);
	assert_int_equal(srv_notify_register(n, 1, &o2, &a2), 0);
	srv_notify_changed(n, 2, 7); /* account 2: nobody listens */
	srv_notify_changed(n, 1, 42);
	assert_true(srv_notify_pop(n, a1, buf, sizeof(buf)) > 0);
	assert_int_equal(f.count, 0); /* a2 still holds it */
	assert_true(srv_notify_pop(n, a2, buf, sizeof(buf)) > 0);
	assert_int_equal(f.count, 1);
	assert_true(f.last >= 0 && f.last < 60);
	/* a newer "changed" replacing a queued one ends the older's fan-out */
	srv_notify_changed(n, 1, 43);
	srv_notify_changed(n, 1, 44);
	assert_int_equal(f.count, 2); /* 44 replaced 43 on both */
	assert_true(srv_notify_pop(n, a1, buf, sizeof(buf)) > 0);
	assert_true(srv_notify_pop(n, a2, buf, sizeof(buf)) > 0);
	assert_int_equal(f.count, 3);
	srv_notify_unregister(n, a1);
	srv_notify_unregister(n, a2);
	srv_notify_free(n);
}

static void test_srv_notify__accounts_are_isolated(void **state)
{
	static const uint8_t node[16] = { 0xab, 0x01, [15] = 0xff };
	struct srv_notify_conn *a, *b;
	struct wake_count w = { 0 };
	struct ready_log log = { 0 };
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX];
	int oa, ob;

	(void)state;
	assert_int_equal(srv_notify_new(8, count_wake, &w, &n), 0);
	assert_int_equal(srv_notify_register(n, 10, &oa, &a), 0);
	assert_int_equal(srv_notify_register(n, 11, &ob, &b), 0);

	srv_notify_pending(n, 11, node, 7);
	assert_int_equal(srv_notify_take_ready(n, SIZE_MAX, log_ready, &log),
			 1);
	assert_true(logged(&log, &ob, NULL));
	assert_int_equal(srv_notify_queued(n, a), 0);
	assert_int_equal(srv_notify_pop(n, a, buf, sizeof(buf)), 0);
	assert_true(srv_notify_pop(n, b, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"type\":\"pending\",\"node\":"
				 "\"ab0100000000000000000000000000ff\","
				 "\"device\":7}");

	/* an account nobody listens to: no wake, nothing queued */
	w.wakes = 0;
	srv_notify_changed(n, 12, 1);
	assert_int_equal(w.wakes, 0);
	assert_int_equal(srv_notify_queued(n, a), 0);
	assert_int_equal(srv_notify_queued(n, b), 0);

	srv_notify_unregister(n, a);
	srv_notify_unregister(n, b);
	srv_notify_free(n);
}

static void test_srv_notify__overflow_drops_connection(void **state)
{
	static const uint8_t node[16] = { 1 };
	struct srv_notify_conn *slow, *fast;
	struct ready_log log = { 0 };
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX];
	bool dropped = false;
	int os, of, i;

	(void)state;
	assert_int_equal(srv_notify_new(3, NULL, NULL, &n), 0);
	assert_int_equal(srv_notify_register(n, 5, &os, &slow), 0);
	assert_int_equal(srv_notify_register(n, 5, &of, &fast), 0);

	/* fast drains as it goes, slow never reads */
	for (i = 0; i < 5; i++) {
		srv_notify_pending(n, 5, node, i);
		assert_true(srv_notify_pop(n, fast, buf, sizeof(buf)) > 0);
	}
	assert_int_equal(srv_notify_pop(n, fast, buf, sizeof(buf)), 0);
	assert_int_equal(srv_notify_pop(n, slow, buf, sizeof(buf)), -EPIPE);
	assert_int_equal(srv_notify_queued(n, slow), 0);

	srv_notify_take_ready(n, SIZE_MAX, log_ready, &log);
	assert_true(logged(&log, &os, &dropped));
	assert_true(dropped);

	/* the dropped one stays dropped; the other keeps working */
	srv_notify_changed(n, 5, 9);
	assert_int_equal(srv_notify_pop(n, slow, buf, sizeof(buf)), -EPIPE);
	assert_true(srv_notify_pop(n, fast, buf, sizeof(buf)) > 0);

	srv_notify_unregister(n, slow);
	srv_notify_unregister(n, fast);
	srv_notify_free(n);
}

static void test_srv_notify__queue_keeps_order_up_to_cap(void **state)
{
	static const uint8_t node[16] = { 2 };
	struct srv_notify_conn *c;
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX], want[SRV_NOTIFY_MSG_MAX];
	int o, i;

	(void)state;
	assert_int_equal(srv_notify_new(4, NULL, NULL, &n), 0);
	assert_int_equal(srv_notify_register(n, 1, &o, &c), 0);
	for (i = 0; i < 4; i++)
		srv_notify_pending(n, 1, node, i);
	assert_int_equal(srv_notify_queued(n, c), 4);
	for (i = 0; i < 4; i++) {
		assert_true(srv_notify_pop(n, c, buf, sizeof(buf)) > 0);
		snprintf(want, sizeof(want),
			 "{\"type\":\"pending\",\"node\":"
			 "\"02000000000000000000000000000000\",\"device\":%d}",
			 i);
		assert_string_equal(buf, want);
	}
	/* wrap around the ring after partial drains */
	for (i = 0; i < 10; i++) {
		srv_notify_pending(n, 1, node, i);
		srv_notify_pending(n, 1, node, i + 100);
		assert_true(srv_notify_pop(n, c, buf, sizeof(buf)) > 0);
		assert_true(srv_notify_pop(n, c, buf, sizeof(buf)) > 0);
	}
	assert_int_equal(srv_notify_pop(n, c, buf, sizeof(buf)), 0);
	assert_int_equal(srv_notify_pop(n, c, buf, 10), -EINVAL);
	srv_notify_unregister(n, c);
	srv_notify_free(n);
}

static void test_srv_notify__changed_coalesces(void **state)
{
	static const uint8_t node[16] = { 3 };
	struct srv_notify_conn *c;
	struct wake_count w = { 0 };
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX];
	int o, i;

	(void)state;
	assert_int_equal(srv_notify_new(2, count_wake, &w, &n), 0);
	assert_int_equal(srv_notify_register(n, 1, &o, &c), 0);
	/* many changes never overflow: only the newest cursor matters */
	for (i = 1; i <= 100; i++)
		srv_notify_changed(n, 1, (uint64_t)i);
	assert_int_equal(w.wakes, 1);
	assert_int_equal(srv_notify_queued(n, c), 1);
	srv_notify_pending(n, 1, node, 4);
	srv_notify_changed(n, 1, 101);
	assert_int_equal(srv_notify_pop(n, c, buf, sizeof(buf)), -EPIPE);

	srv_notify_unregister(n, c);
	assert_int_equal(srv_notify_register(n, 1, &o, &c), 0);
	srv_notify_changed(n, 1, 5);
	srv_notify_pending(n, 1, node, 4);
	srv_notify_changed(n, 1, 6); /* not merged across a pending */
	assert_int_equal(srv_notify_pop(n, c, buf, sizeof(buf)), -EPIPE);
	srv_notify_unregister(n, c);

	assert_int_equal(srv_notify_register(n, 1, &o, &c), 0);
	srv_notify_changed(n, 1, 5);
	srv_notify_changed(n, 1, 6);
	assert_true(srv_notify_pop(n, c, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"type\":\"changed\",\"cursor\":6}");
	srv_notify_unregister(n, c);
	srv_notify_free(n);
}

static void test_srv_notify__ready_once_per_transition(void **state)
{
	struct srv_notify_conn *c;
	struct ready_log log = { 0 };
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX];
	int o;

	(void)state;
	assert_int_equal(srv_notify_new(8, NULL, NULL, &n), 0);
	assert_int_equal(srv_notify_register(n, 1, &o, &c), 0);
	assert_false(srv_notify_has_ready(n));
	srv_notify_changed(n, 1, 1);
	srv_notify_changed(n, 1, 2);
	assert_true(srv_notify_has_ready(n));
	assert_int_equal(srv_notify_take_ready(n, SIZE_MAX, log_ready, &log),
			 1);
	assert_false(srv_notify_has_ready(n));
	assert_int_equal(srv_notify_take_ready(n, SIZE_MAX, log_ready, &log),
			 0);
	assert_true(srv_notify_pop(n, c, buf, sizeof(buf)) > 0);
	srv_notify_changed(n, 1, 3);
	assert_int_equal(srv_notify_take_ready(n, SIZE_MAX, log_ready, &log),
			 1);

	/* unregistering a ready connection takes it off the ready list */
	srv_notify_changed(n, 1, 4);
	assert_true(srv_notify_pop(n, c, buf, sizeof(buf)) > 0);
	srv_notify_changed(n, 1, 5);
	srv_notify_unregister(n, c);
	assert_int_equal(srv_notify_take_ready(n, SIZE_MAX, log_ready, &log),
			 0);
	srv_notify_free(n);
}

/* A transport taking ready connections a slice at a time sees each once. */
static void test_srv_notify__take_ready_in_slices(void **state)
{
	struct srv_notify_conn *c[3];
	struct ready_log log = { 0 };
	struct srv_notify *n;
	int o[3], i;

	(void)state;
	assert_int_equal(srv_notify_new(8, NULL, NULL, &n), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(srv_notify_register(n, 1, &o[i], &c[i]), 0);
	srv_notify_changed(n, 1, 7);
	assert_int_equal(srv_notify_take_ready(n, 2, log_ready, &log), 2);
	assert_true(srv_notify_has_ready(n));
	assert_int_equal(srv_notify_take_ready(n, 0, log_ready, &log), 0);
	assert_int_equal(srv_notify_take_ready(n, 2, log_ready, &log), 1);
	assert_false(srv_notify_has_ready(n));
	assert_int_equal(log.count, 3);
	for (i = 0; i < 3; i++) /* each connection exactly once */
		assert_true(logged(&log, &o[i], NULL));
	assert_true(log.owners[0] != log.owners[1] &&
		    log.owners[1] != log.owners[2] &&
		    log.owners[0] != log.owners[2]);
	for (i = 0; i < 3; i++)
		srv_notify_unregister(n, c[i]);
	srv_notify_free(n);
}

static void test_srv_notify__many_accounts_grow_table(void **state)
{
	struct srv_notify_conn *c[300];
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX];
	int owner, i;

	(void)state;
	assert_int_equal(srv_notify_new(4, NULL, NULL, &n), 0);
	for (i = 0; i < 300; i++)
		assert_int_equal(srv_notify_register(n, i, &owner, &c[i]), 0);
	for (i = 0; i < 300; i += 7)
		srv_notify_changed(n, i, (uint64_t)i);
	for (i = 0; i < 300; i++) {
		assert_int_equal(srv_notify_count(n, i), 1);
		assert_int_equal(srv_notify_pop(n, c[i], buf, sizeof(buf)) > 0,
				 i % 7 == 0);
	}
	/* free with connections still registered releases them too */
	for (i = 0; i < 150; i++)
		srv_notify_unregister(n, c[i]);
	srv_notify_changed(n, 200, 1);
	srv_notify_free(n);
	srv_notify_free(NULL);
	srv_notify_changed(NULL, 1, 1);
}

struct publisher {
	struct srv_notify *n;
	int64_t user;
};

static void *publish_many(void *arg)
{
	static const uint8_t node[16] = { 9 };
	struct publisher *p = arg;
	int i;

	for (i = 0; i < 2000; i++) {
		if (i & 1)
			srv_notify_changed(p->n, p->user, (uint64_t)i);
		else
			srv_notify_pending(p->n, p->user, node, i);
	}
	return NULL;
}

/* Publishers on other threads while this one drains (ASan/TSan food). */
static void test_srv_notify__concurrent_publish(void **state)
{
	struct srv_notify_conn *c;
	struct wake_count w = { 0 };
	struct publisher p;
	struct srv_notify *n;
	pthread_t t[3];
	char buf[SRV_NOTIFY_MSG_MAX];
	int o, i;
	ssize_t r;

	(void)state;
	assert_int_equal(srv_notify_new(64, count_wake, &w, &n), 0);
	assert_int_equal(srv_notify_register(n, 1, &o, &c), 0);
	p.n = n;
	p.user = 1;
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, publish_many, &p),
				 0);
	for (i = 0; i < 20000; i++) {
		r = srv_notify_pop(n, c, buf, sizeof(buf));
		assert_true(r >= 0 || r == -EPIPE);
		if (r == -EPIPE)
			break;
	}
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_true(w.wakes >= 1);
	srv_notify_unregister(n, c);
	srv_notify_free(n);
}

/* Everything the registry does, tolerating -ENOMEM at each step. */
static void fault_scenario(void)
{
	static const uint8_t node[16] = { 7 };
	struct srv_notify_conn *c[3] = { NULL, NULL, NULL };
	struct srv_notify *n;
	char buf[SRV_NOTIFY_MSG_MAX];
	int owner[3], i, rc;
	ssize_t r;

	rc = srv_notify_new(4, NULL, NULL, &n);
	if (rc < 0) {
		assert_int_equal(rc, -ENOMEM);
		assert_null(n);
		return;
	}
	for (i = 0; i < 3; i++) {
		rc = srv_notify_register(n, i < 2 ? 1 : 2, &owner[i], &c[i]);
		if (rc < 0) {
			assert_int_equal(rc, -ENOMEM);
			assert_null(c[i]);
		}
	}
	srv_notify_changed(n, 1, 5);
	srv_notify_pending(n, 1, node, 3);
	srv_notify_changed(n, 2, 1);
	srv_notify_pending(n, 2, node, 4);
	for (i = 0; i < 3; i++) {
		if (!c[i])
			continue;
		while ((r = srv_notify_pop(n, c[i], buf, sizeof(buf))) > 0)
			assert_true(buf[0] == '{');
		assert_true(r == 0 || r == -EPIPE);
	}
	srv_notify_unregister(n, c[0]);
	srv_notify_changed(n, 1, 6);
	srv_notify_free(n); /* frees c[1] and c[2] too */
}

/* Fail the k-th allocation for every k: clean errors, no leak (ASan). */
static void test_srv_notify__allocation_failures(void **state)
{
	int k;

	(void)state;
	cf_log_setup("test", LOG_ERR, NULL); /* expected warnings */
	for (k = 0;; k++) {
		alloc_count = 0;
		alloc_fail_at = k;
		fault_scenario();
		alloc_fail_at = -1;
		if (alloc_count <= k)
			break; /* ran to the end without reaching the k-th */
	}
	cf_log_setup("test", LOG_INFO, NULL);
	assert_true(k > 5);
}

static void test_srv_notify__bad_arguments(void **state)
{
	struct srv_notify *n = (struct srv_notify *)&n;

	(void)state;
	assert_int_equal(srv_notify_new(0, NULL, NULL, &n), -EINVAL);
	assert_null(n);
	assert_int_equal(srv_notify_new(70000, NULL, NULL, &n), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_srv_notify__fan_out_per_account),
		cmocka_unit_test(test_srv_notify__fanout_observed_once),
		cmocka_unit_test(test_srv_notify__accounts_are_isolated),
		cmocka_unit_test(test_srv_notify__overflow_drops_connection),
		cmocka_unit_test(test_srv_notify__queue_keeps_order_up_to_cap),
		cmocka_unit_test(test_srv_notify__changed_coalesces),
		cmocka_unit_test(test_srv_notify__ready_once_per_transition),
		cmocka_unit_test(test_srv_notify__take_ready_in_slices),
		cmocka_unit_test(test_srv_notify__many_accounts_grow_table),
		cmocka_unit_test(test_srv_notify__concurrent_publish),
		cmocka_unit_test(test_srv_notify__allocation_failures),
		cmocka_unit_test(test_srv_notify__bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
