/* SPDX-License-Identifier: MIT */
/*
 * The uploader (fc_upload.c) against a fake server (fc_fake_http.h), with
 * a real state database and cache: how small files' commits reach a
 * server that has no POST /commits (older than the route) or that cannot
 * parse a batch. Every file must end committed, one request at a time,
 * and a server without the route is asked for it only once.
 * One uploader thread, so the files go up as two groups, in turn.
 * And how a close wakes it: not when it will look by the file's due time
 * anyway, at once when it would look later.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk/keys.h"
#include "cf_log.h"
#include "fc_cache.h"
#include "fc_fake_http.h"
#include "fc_state.h"
#include "fc_upload.h"
#include "fc_upload_int.h"

/* More than one group of small files (FC_UPLOAD_GROUP_MAX). */
#define FILES (FC_UPLOAD_GROUP_MAX + 6)

/* What the fake server saw; protected by srv_lock. */
static int puts_seen, batch_seen, singles_seen;
static int batch_status; /* what POST /commits answers */

static void h_upload(const struct req *q, struct resp *p)
{
	bool put = !strcmp(q->method, "PUT") &&
		   !strncmp(q->target, "/api/v1/blocks/", 15);
	bool batch = !strcmp(q->method, "POST") &&
		     !strcmp(q->target, "/api/v1/commits");
	bool single = !strcmp(q->method, "POST") &&
		      !strncmp(q->target, "/api/v1/nodes/", 14) &&
		      strstr(q->target, "/commit");
	int status;

	pthread_mutex_lock(&srv_lock);
	puts_seen += put;
	batch_seen += batch;
	singles_seen += single;
	status = batch_status;
	pthread_mutex_unlock(&srv_lock);
	if (put)
		resp_json(p, 201, "{}");
	else if (batch && status == 404)
		resp_error(p, 404, "not_found");
	else if (batch)
		resp_json(p, status,
			  "{\"error\":\"bad_request\",\"message\":"
			  "\"cannot parse\"}");
	else if (single)
		resp_json(p, 200, "{\"version\":1,\"cursor\":7}");
	else
		resp_error(p, 404, "not_found");
}

struct fx {
	char dir[64];
	struct fc_state *st;
	struct fc_cache *cache;
	struct fc_remote *r;
	struct blk_volume_keys keys;
	int64_t ino[FILES];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A small file, written and due for upload at due_ns. */
static int64_t small_file(struct fx *f, int i, int64_t due_ns)
{
	struct fc_write_summary w = { 0 };
	struct fc_create c = { 0 };
	char name[32], data[64];
	struct fc_node n;
	int fd, len;

	snprintf(name, sizeof(name), "f%d", i);
	c.parent = FC_ROOT_INO;
	c.name = name;
	c.name_len = strlen(name);
	c.kind = FC_KIND_FILE;
	c.mode = 0644;
	c.now_ns = now_ns();
	assert_int_equal(fc_state_create(f->st, &c, &n), 0);
	len = snprintf(data, sizeof(data), "small file %d\n", i);
	assert_int_equal(fc_state_write_begin(f->st, n.ino), 0);
	assert_int_equal(fc_cache_file_open(f->cache, n.id, true, &fd), 0);
	assert_int_equal(fc_cache_pwrite(f->cache, fd, data, (size_t)len, 0),
			 0);
	close(fd);
	w.lo = 0;
	w.hi = w.size = (uint64_t)len;
	w.set_mtime = true;
	w.mtime_ns = w.ctime_ns = now_ns();
	assert_int_equal(fc_state_write_done(f->st, n.ino, &w, due_ns, false),
			 0);
	return n.ino;
}

/* The want creates count as pushed: the uploader takes only those files. */
static void creates_pushed(struct fx *f, size_t want)
{
	struct fc_op ops[FILES];
	size_t n = 0, i;

	assert_int_equal(fc_state_op_peek(f->st, now_ns(), ops, FILES, &n), 0);
	assert_int_equal(n, want);
	for (i = 0; i < n; i++)
		assert_int_equal(fc_state_op_done(f->st, ops[i].seq, NULL), 0);
}

static int setup(void **state)
{
	struct fc_cache_opts co = { 0 };
	uint8_t vk[BLK_KEY_SIZE];
	char path[128];
	struct fx *f;
	int i;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_fc_upload.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(fc_state_open(path, 0, 0, &f->st), 0);
	snprintf(path, sizeof(path), "%s/cache", f->dir);
	co.dir = path;
	co.limit = 1ull << 30;
	assert_int_equal(fc_cache_open(&co, f->st, &f->cache), 0);
	assert_int_equal(blk_volume_key_generate(vk), 0);
	assert_int_equal(blk_volume_keys_derive(vk, &f->keys), 0);
	f->r = client(5000);
	for (i = 0; i < FILES; i++)
		f->ino[i] = small_file(f, i, 0);
	creates_pushed(f, FILES);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	fc_remote_free(f->r);
	fc_cache_close(f->cache);
	fc_state_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* An uploader of one thread on f's state, started. */
static struct fc_uploader *uploader(struct fx *f)
{
	struct fc_upload_deps d = { 0 };
	struct fc_uploader *u;

	d.state = f->st;
	d.cache = f->cache;
	d.remote = f->r;
	d.keys = &f->keys;
	d.chunk = BLK_CHUNKER_PARAMS_DEFAULT;
	d.codec = BLK_CODEC_ZSTD;
	d.device = "tdev";
	d.threads = 1; /* one group: the files are claimed together */
	assert_int_equal(fc_upload_new(&d, &u), 0);
	assert_int_equal(fc_upload_start(u), 0);
	return u;
}

/*
 * Files still queued after waiting up to tenths * 0.1 s for the queue to
 * hold at most want, waking u first each time if asked to.
 */
static uint64_t queue_wait(struct fx *f, struct fc_uploader *u, bool wake,
			   uint64_t want, int tenths)
{
	uint64_t files = UINT64_MAX, bytes;
	int i;

	for (i = 0; i < 2 * tenths && files > want; i++) {
		if (wake)
			fc_upload_wake(u);
		assert_int_equal(fc_state_queue_stats(f->st, &files, &bytes),
				 0);
		if (files > want)
			usleep(50000);
	}
	return files;
}

/* Run the uploader until nothing is dirty (bounded), then stop it. */
static void upload_all(struct fx *f)
{
	struct fc_uploader *u = uploader(f);
	uint64_t files = queue_wait(f, u, true, 0, 100);

	fc_upload_free(u);
	assert_int_equal(files, 0);
}

static void reset(int status)
{
	pthread_mutex_lock(&srv_lock);
	puts_seen = batch_seen = singles_seen = 0;
	batch_status = status;
	pthread_mutex_unlock(&srv_lock);
	srv_handler = h_upload;
}

/* What the server saw: batch requests, single commits, block PUTs. */
static void seen(int *out_batch, int *out_singles, int *out_puts)
{
	pthread_mutex_lock(&srv_lock);
	*out_batch = batch_seen;
	*out_singles = singles_seen;
	*out_puts = puts_seen;
	pthread_mutex_unlock(&srv_lock);
}

static void assert_all_committed(struct fx *f)
{
	struct fc_node n;
	int i;

	for (i = 0; i < FILES; i++) {
		assert_int_equal(fc_state_getattr(f->st, f->ino[i], &n), 0);
		assert_int_equal(n.version, 1);
		assert_false(n.dirty);
	}
}

/*
 * Every file uploaded while the server answers the batch route with
 * status: each ends committed, each of its blocks PUT once, and every
 * file committed alone after want_batch batch requests.
 */
static void upload_with_batch_answer(struct fx *f, int status, int want_batch)
{
	int batch, singles, puts;

	reset(status);
	upload_all(f);
	assert_all_committed(f);
	seen(&batch, &singles, &puts);
	assert_int_equal(batch, want_batch);
	assert_int_equal(singles, FILES);
	assert_int_equal(puts, FILES); /* one block each, sent once */
}

/*
 * A server without the route answers 404: the first group's commits go
 * one by one, and the second group's go so at once, without asking.
 */
static void test_fc_upload__no_batch_route(void **state)
{
	upload_with_batch_answer(*state, 404, 1);
}

/*
 * A batch the server refuses as a whole (400): each of its items goes
 * alone, and the route stays in use: the second group asks it too.
 */
static void test_fc_upload__batch_refused(void **state)
{
	upload_with_batch_answer(*state, 400, 2);
}

/* The worker's wakes so far, once it is asleep (waited for). */
static uint64_t wakes_when_asleep(struct fc_uploader *u)
{
	uint64_t wakes;
	bool asleep;
	int i;

	for (i = 0; i < 200; i++) {
		pthread_mutex_lock(&u->lock);
		asleep = u->asleep_until[0] != 0;
		wakes = u->wakes;
		pthread_mutex_unlock(&u->lock);
		if (asleep)
			return wakes;
		usleep(10000);
	}
	fail_msg("the upload worker never went to sleep");
	return 0;
}

/*
 * A worker with nothing left sleeps for long (IDLE_WAIT_S, 30 s). A file
 * due after that costs no wake; one due before it is woken for and goes
 * up at once; the later one stays queued.
 */
static void test_fc_upload__wake_only_to_hurry(void **state)
{
	struct fx *f = *state;
	struct fc_uploader *u;
	int64_t later = now_ns() + (int64_t)3600 * 1000000000, ino;
	uint64_t wakes;
	struct fc_node n;

	reset(200);
	u = uploader(f);
	/* the worker finds the setup's files due on its own */
	assert_int_equal(queue_wait(f, u, false, 0, 100), 0);
	wakes = wakes_when_asleep(u);
	ino = small_file(f, FILES, later);
	creates_pushed(f, 1);
	fc_upload_wake_at(u, later);
	pthread_mutex_lock(&u->lock);
	assert_int_equal(u->wakes, wakes);
	pthread_mutex_unlock(&u->lock);

	small_file(f, FILES + 1, now_ns());
	creates_pushed(f, 1);
	fc_upload_wake_at(u, now_ns());
	pthread_mutex_lock(&u->lock);
	assert_int_equal(u->wakes, wakes + 1);
	pthread_mutex_unlock(&u->lock);
	assert_int_equal(queue_wait(f, u, false, 1, 50), 1);
	fc_upload_free(u);
	assert_int_equal(fc_state_getattr(f->st, ino, &n), 0);
	assert_true(n.dirty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fc_upload__no_batch_route,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_fc_upload__batch_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_fc_upload__wake_only_to_hurry, setup, teardown),
	};
	int rc;

	cf_log_setup("test", LOG_CRIT, getenv("TEST_DEBUG"));
	server_start();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	server_stop();
	return rc;
}
