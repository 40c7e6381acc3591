/* SPDX-License-Identifier: MIT */
/*
 * fc_push and fc_pull against a real state database and the in-process
 * HTTP server: outbox ops reach the server in order, a transient failure
 * retries the same op first, a refused op is set aside without stopping
 * the rest, a retried create that already landed counts as done, a
 * create whose name another device took goes under a conflicted copy
 * name with the ops after it, a create into a directory another device
 * removed brings it back, an rmdir of a directory another device filled
 * gives way to a resync; feed
 * pages apply with the cursor, wait for the outbox, and a malformed page
 * changes nothing.
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
#include <jansson.h>

#include "cf_log.h"
#include "fc_conflict.h"
#include "fc_fake_http.h"
#include "fc_pull.h"
#include "fc_push.h"
#include "fc_state.h"

/* ----- what the fake server saw ----- */

static char seen[64][96]; /* protected by srv_lock */
static int seen_count; /* protected by srv_lock */
static int fail_first; /* protected by srv_lock: 503s to send */
static const char *refuse; /* name the server refuses */
static int batches; /* protected by srv_lock: POST /nodes/batch answered */
/* protected by srv_lock: "NAME MODE" of each item a batch made */
static char batch_modes[64][96];
static int batch_mode_count;

/* GET /nodes/ID of a live file: what the pusher's checks ask. */
static void resp_file_node(struct resp *p)
{
	resp_json(p, 200,
		  "{\"id\":\"0102030405060708090a0b0c0d0e0f10\","
		  "\"kind\":\"file\",\"mode\":420}");
}

/*
 * POST /nodes/batch as the server does it: items in order, stopping at a
 * taken name ("dup"); a refused name refuses the whole batch. Each item
 * made is seen as its own "POST nodes NAME".
 */
static void h_batch(json_t *list, struct resp *p)
{
	char out[96];
	size_t i;

	for (i = 0; i < json_array_size(list); i++) {
		const char *name = json_string_value(
			json_object_get(json_array_get(list, i), "name"));

		if (name && refuse && !strcmp(name, refuse)) {
			resp_json(
				p, 400,
				"{\"error\":\"bad_name\",\"message\":\"no\"}");
			return;
		}
	}
	pthread_mutex_lock(&srv_lock);
	batches++;
	for (i = 0; i < json_array_size(list); i++) {
		const char *name = json_string_value(
			json_object_get(json_array_get(list, i), "name"));

		json_int_t mode = json_integer_value(
			json_object_get(json_array_get(list, i), "mode"));

		if (name && !strcmp(name, "dup"))
			break;
		if (seen_count < 64)
			snprintf(seen[seen_count++], sizeof(seen[0]),
				 "POST nodes %s", name ? name : "-");
		if (batch_mode_count < 64)
			snprintf(batch_modes[batch_mode_count++],
				 sizeof(batch_modes[0]), "%s %o",
				 name ? name : "-", (unsigned)mode);
	}
	pthread_mutex_unlock(&srv_lock);
	snprintf(out, sizeof(out), "{\"done\":%zu,\"cursor\":1%s}", i,
		 i < json_array_size(list) ? ",\"error\":\"exists\"" : "");
	resp_json(p, 200, out);
}

static void h_tree(const struct req *q, struct resp *p)
{
	json_t *j = json_loads(q->body ? q->body : "", 0, NULL);
	const char *name = json_string_value(json_object_get(j, "name"));
	bool fail503;

	if (!strcmp(q->target, "/api/v1/nodes/batch")) {
		pthread_mutex_lock(&srv_lock);
		fail503 = fail_first > 0;
		if (fail503)
			fail_first--;
		pthread_mutex_unlock(&srv_lock);
		if (fail503)
			resp_json(p, 503, "{\"error\":\"unavailable\"}");
		else
			h_batch(json_object_get(j, "nodes"), p);
		json_decref(j);
		return;
	}

	if (!name)
		name = json_string_value(json_object_get(j, "src_name"));
	pthread_mutex_lock(&srv_lock);
	fail503 = fail_first > 0;
	if (fail503)
		fail_first--;
	if (!fail503 && seen_count < 64)
		snprintf(seen[seen_count++], sizeof(seen[0]), "%s %.40s %s",
			 q->method, q->target + 8, name ? name : "-");
	pthread_mutex_unlock(&srv_lock);
	if (fail503)
		resp_error(p, 503, "unavailable");
	else if (name && refuse && !strcmp(name, refuse))
		resp_json(p, 400,
			  "{\"error\":\"bad_name\",\"message\":\"no\"}");
	else if (name && !strcmp(name, "full") && !strcmp(q->method, "DELETE"))
		resp_error(p, 409, "not_empty");
	else if (name && !strcmp(name, "dup"))
		resp_error(p, 409, "exists");
	else if (!strcmp(q->method, "GET"))
		resp_file_node(p);
	else
		resp_json(p, 201, "{\"cursor\":1}");
	json_decref(j);
}

static char dir[64];

static struct fc_state *state_new(void)
{
	char path[128];
	struct fc_state *st;

	snprintf(dir, sizeof(dir), "/tmp/test_fc_push.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	assert_int_equal(fc_state_open(path, 0, 0, &st), 0);
	return st;
}

static void state_free(struct fc_state *st)
{
	char cmd[128];

	fc_state_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct fc_node make(struct fc_state *st, int64_t parent,
			   const char *name, enum fc_kind kind)
{
	struct fc_create c = { 0 };
	struct fc_node n;

	c.parent = parent;
	c.name = name;
	c.name_len = strlen(name);
	c.kind = kind;
	c.mode = kind == FC_KIND_DIR ? 0755 : 0644;
	c.now_ns = now_ns();
	c.due_ns = c.now_ns;
	assert_int_equal(fc_state_create(st, &c, &n), 0);
	return n;
}

/* Wait (bounded) until the outbox has no pending op. */
static void drain(struct fc_state *st, int seconds)
{
	uint64_t pending = 1, failed;
	int i;

	for (i = 0; i < seconds * 20 && pending; i++) {
		assert_int_equal(fc_state_op_counts(st, &pending, &failed), 0);
		if (pending)
			usleep(50000);
	}
	assert_int_equal(pending, 0);
}

static struct fc_pusher *pusher(struct fc_state *st, struct fc_remote *r)
{
	struct fc_push_deps d = { 0 };
	struct fc_pusher *p;

	d.state = st;
	d.remote = r;
	assert_int_equal(fc_push_new(&d, &p), 0);
	assert_int_equal(fc_push_start(p), 0);
	return p;
}

static void reset(int fails, const char *refuse_name)
{
	pthread_mutex_lock(&srv_lock);
	seen_count = 0;
	batches = 0;
	batch_mode_count = 0;
	fail_first = fails;
	refuse = refuse_name;
	pthread_mutex_unlock(&srv_lock);
}

static void test_fc_push__ops_in_order(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	struct fc_setattr sa = { 0 };
	struct fc_pusher *p;
	struct fc_node d;
	static const char *const want[] = {
		"POST nodes d", "POST nodes f",	    "POST rename f",
		"PATCH nodes/", "DELETE entries g", "DELETE entries d",
	};
	size_t i;

	(void)state;
	reset(0, NULL);
	srv_handler = h_tree;
	d = make(st, FC_ROOT_INO, "d", FC_KIND_DIR);
	make(st, d.ino, "f", FC_KIND_FILE);
	assert_int_equal(fc_state_rename(st, d.ino, "f", 1, d.ino, "g", 1, 0,
					 now_ns(), NULL),
			 0);
	{
		struct fc_node g;

		assert_int_equal(fc_state_lookup(st, d.ino, "g", 1, &g), 0);
		sa.flags = FC_SET_MODE;
		sa.mode = 0600;
		sa.now_ns = now_ns();
		assert_int_equal(fc_state_setattr(st, g.ino, &sa, NULL), 0);
	}
	assert_int_equal(
		fc_state_unlink(st, d.ino, "g", 1, false, now_ns(), NULL), 0);
	assert_int_equal(
		fc_state_unlink(st, FC_ROOT_INO, "d", 1, true, now_ns(), NULL),
		0);
	p = pusher(st, r);
	fc_push_wake(p, false);
	drain(st, 10);
	fc_push_free(p);
	pthread_mutex_lock(&srv_lock);
	i = (size_t)batches;
	pthread_mutex_unlock(&srv_lock);
	assert_int_equal(i, 1); /* both creates in one request */
	pthread_mutex_lock(&srv_lock);
	assert_int_equal(seen_count, CF_ARRAY_SIZE(want));
	for (i = 0; i < CF_ARRAY_SIZE(want); i++)
		assert_int_equal(strncmp(seen[i], want[i], strlen(want[i])), 0);
	pthread_mutex_unlock(&srv_lock);
	fc_remote_free(r);
	state_free(st);
}

/*
 * tar and cp -a set modes and times after each file: creates go in one
 * request past those setattrs, which ride in the creates of their nodes;
 * but not past a setattr of their parent.
 */
static void test_fc_push__creates_past_setattrs(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	struct fc_setattr sa = { 0 };
	struct fc_pusher *p;
	struct fc_node d, f1, e;
	static const char *const want[] = {
		"POST nodes d", "POST nodes f1", "POST nodes f2",
		"PATCH nodes/", "POST nodes f3", "POST nodes e",
	};
	static const char *const modes[] = { "f1 600", "f2 644", "f3 644",
					     "e 640" };
	size_t i;

	(void)state;
	reset(0, NULL);
	srv_handler = h_tree;
	d = make(st, FC_ROOT_INO, "d", FC_KIND_DIR);
	p = pusher(st, r);
	fc_push_wake(p, false);
	drain(st, 10);
	fc_push_free(p);

	sa.flags = FC_SET_MODE;
	sa.now_ns = now_ns();
	f1 = make(st, d.ino, "f1", FC_KIND_FILE);
	sa.mode = 0600;
	assert_int_equal(fc_state_setattr(st, f1.ino, &sa, NULL), 0);
	make(st, d.ino, "f2", FC_KIND_FILE);
	sa.mode = 0700;
	assert_int_equal(fc_state_setattr(st, d.ino, &sa, NULL), 0);
	make(st, d.ino, "f3", FC_KIND_FILE);
	e = make(st, FC_ROOT_INO, "e", FC_KIND_FILE);
	sa.mode = 0640;
	assert_int_equal(fc_state_setattr(st, e.ino, &sa, NULL), 0);
	p = pusher(st, r);
	fc_push_wake(p, false);
	drain(st, 10);
	fc_push_free(p);
	pthread_mutex_lock(&srv_lock);
	assert_int_equal(batches, 2);
	assert_int_equal(seen_count, CF_ARRAY_SIZE(want));
	for (i = 0; i < CF_ARRAY_SIZE(want); i++)
		assert_int_equal(strncmp(seen[i], want[i], strlen(want[i])), 0);
	/* the setattrs of f1 and e rode in their creates: no PATCH */
	assert_int_equal(batch_mode_count, CF_ARRAY_SIZE(modes));
	for (i = 0; i < CF_ARRAY_SIZE(modes); i++)
		assert_string_equal(batch_modes[i], modes[i]);
	pthread_mutex_unlock(&srv_lock);
	fc_remote_free(r);
	state_free(st);
}

static void test_fc_push__transient_retries_first(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	struct fc_pusher *p;

	(void)state;
	reset(2, NULL);
	srv_handler = h_tree;
	make(st, FC_ROOT_INO, "a", FC_KIND_DIR);
	make(st, FC_ROOT_INO, "b", FC_KIND_DIR);
	p = pusher(st, r);
	drain(st, 15);
	fc_push_free(p);
	pthread_mutex_lock(&srv_lock);
	assert_int_equal(seen_count, 2);
	assert_string_equal(seen[0], "POST nodes a");
	assert_string_equal(seen[1], "POST nodes b");
	pthread_mutex_unlock(&srv_lock);
	fc_remote_free(r);
	state_free(st);
}

static void test_fc_push__refused_set_aside(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	uint64_t pending, failed;
	struct fc_pusher *p;
	char msg[256];

	(void)state;
	reset(0, "bad");
	srv_handler = h_tree;
	make(st, FC_ROOT_INO, "bad", FC_KIND_DIR);
	make(st, FC_ROOT_INO, "dup", FC_KIND_DIR);
	make(st, FC_ROOT_INO, "good", FC_KIND_DIR);
	p = pusher(st, r);
	/* a refusal pauses the queue until woken: sync wakes it */
	for (int i = 0; i < 100; i++) {
		fc_state_op_counts(st, &pending, &failed);
		if (failed)
			break;
		usleep(20000);
	}
	assert_int_equal(failed, 1);
	fc_push_status(p, msg, sizeof(msg));
	assert_non_null(strstr(msg, "\"bad\""));
	fc_push_wake(p, true);
	drain(st, 10);
	fc_push_free(p);
	fc_state_op_counts(st, &pending, &failed);
	assert_int_equal(failed, 1);
	pthread_mutex_lock(&srv_lock);
	/* bad (refused), dup (409, then GET shows it is there), good */
	assert_string_equal(seen[0], "POST nodes bad");
	assert_string_equal(seen[1], "POST nodes dup");
	assert_int_equal(strncmp(seen[2], "GET nodes/", 10), 0);
	assert_string_equal(seen[3], "POST nodes good");
	pthread_mutex_unlock(&srv_lock);
	fc_remote_free(r);
	state_free(st);
}

/* rmdir of a directory another device filled: dropped, resync begun */
static void test_fc_push__rmdir_of_filled_dir(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	uint64_t pending, failed, resync = 0;
	struct fc_pusher *p;

	(void)state;
	reset(0, NULL);
	srv_handler = h_tree;
	make(st, FC_ROOT_INO, "full", FC_KIND_DIR);
	assert_int_equal(fc_state_unlink(st, FC_ROOT_INO, "full", 4, true,
					 now_ns(), NULL),
			 0);
	p = pusher(st, r);
	drain(st, 10);
	fc_push_free(p);
	fc_state_op_counts(st, &pending, &failed);
	assert_int_equal(failed, 0);
	assert_int_equal(fc_state_resync_get(st, &resync), 0);
	assert_true(resync > 0);
	fc_remote_free(r);
	state_free(st);
}

/*
 * A server without POST /nodes/batch (older than the route) answers it
 * 404: the pusher then sends each create alone, which the handlers below
 * script. True when q was that and is answered.
 */
static bool no_batch_route(const struct req *q, struct resp *p)
{
	if (strcmp(q->target, "/api/v1/nodes/batch"))
		return false;
	resp_error(p, 404, "not_found");
	return true;
}

/*
 * A directory another device removed: creating in it answers 404 until
 * it is taken out of the trash.
 */
static bool restored; /* protected by srv_lock */

static void h_removed_dir(const struct req *q, struct resp *p)
{
	json_t *j = json_loads(q->body ? q->body : "", 0, NULL);
	const char *name = json_string_value(json_object_get(j, "name"));
	bool late = name && !strcmp(name, "late"), back;

	if (no_batch_route(q, p)) {
		json_decref(j);
		return;
	}
	pthread_mutex_lock(&srv_lock);
	if (!strcmp(q->method, "POST") && strstr(q->target, "/restore"))
		restored = true;
	back = restored;
	if (seen_count < 64)
		snprintf(seen[seen_count++], sizeof(seen[0]), "%s %.12s %s",
			 q->method, q->target + 8, name ? name : "-");
	pthread_mutex_unlock(&srv_lock);
	if (late && !back)
		resp_error(p, 404, "not_found");
	else if (!strcmp(q->method, "GET"))
		resp_json(p, 200,
			  back ? "{\"id\":\"0102030405060708090a0b0c0d0e0f10\","
				 "\"kind\":\"dir\",\"mode\":493}"
			       : "{\"id\":\"0102030405060708090a0b0c0d0e0f10\","
				 "\"kind\":\"dir\",\"mode\":493,"
				 "\"deleted\":1700000000000000000}");
	else
		resp_json(p, strstr(q->target, "/restore") ? 200 : 201,
			  "{\"cursor\":1}");
	json_decref(j);
}

static void test_fc_push__revives_removed_dir(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	char want[2][96], got[8][96];
	uint64_t pending, failed;
	struct fc_pusher *p;
	struct fc_node d;
	int count;

	(void)state;
	reset(0, NULL);
	restored = false;
	srv_handler = h_removed_dir;
	d = make(st, FC_ROOT_INO, "d", FC_KIND_DIR);
	make(st, d.ino, "late", FC_KIND_FILE);
	p = pusher(st, r);
	drain(st, 10);
	fc_push_free(p);
	fc_state_op_counts(st, &pending, &failed);
	assert_int_equal(failed, 0);
	/* create refused, the directory found in the trash, restored, create */
	pthread_mutex_lock(&srv_lock);
	snprintf(want[0], sizeof(want[0]), "GET nodes/%02x%02x%02x -", d.id[0],
		 d.id[1], d.id[2]);
	snprintf(want[1], sizeof(want[1]), "POST trash/%02x%02x%02x -", d.id[0],
		 d.id[1], d.id[2]);
	memcpy(got, seen, sizeof(got));
	count = seen_count;
	pthread_mutex_unlock(&srv_lock);
	assert_int_equal(count, 5);
	assert_string_equal(got[0], "POST nodes d");
	assert_string_equal(got[1], "POST nodes late");
	assert_string_equal(got[2], want[0]);
	assert_string_equal(got[3], want[1]);
	assert_string_equal(got[4], "POST nodes late");
	fc_remote_free(r);
	state_free(st);
}

/*
 * Another device created "taken" and "taken.txt" and the first conflicted
 * copy name of each: creates of those names answer 409, and GET of a
 * node answers 404 unless this device created it. lose_one: the next
 * create that lands is answered 503 (its answer lost).
 */
static char made[16][96]; /* protected by srv_lock: names created here */
static char made_ids[16][33]; /* protected by srv_lock */
static int made_count; /* protected by srv_lock */
static bool lose_one; /* protected by srv_lock */

static bool name_taken(const char *name)
{
	size_t len = strlen(name);
	int i;

	if (!strcmp(name, "taken") || !strcmp(name, "taken.txt"))
		return true;
	if (!strncmp(name, "taken (conflicted copy tdev ", 28) &&
	    !strstr(name, " 2)"))
		return true;
	for (i = 0; i < made_count; i++)
		if (strlen(made[i]) == len && !strcmp(made[i], name))
			return true;
	return false;
}

static void h_same_name(const struct req *q, struct resp *p)
{
	json_t *j = json_loads(q->body ? q->body : "", 0, NULL);
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *id = json_string_value(json_object_get(j, "id"));
	bool create = !strcmp(q->method, "POST") &&
		      !strcmp(q->target, "/api/v1/nodes");
	bool mine = false, taken = false, lose = false;
	int i;

	if (no_batch_route(q, p)) {
		json_decref(j);
		return;
	}
	if (!name)
		name = json_string_value(json_object_get(j, "src_name"));
	pthread_mutex_lock(&srv_lock);
	if (seen_count < 64)
		snprintf(seen[seen_count++], sizeof(seen[0]), "%s %.5s %s",
			 q->method, q->target + 8, name ? name : "-");
	for (i = 0; i < made_count; i++)
		if (strstr(q->target, made_ids[i]))
			mine = true;
	if (create && name)
		taken = name_taken(name);
	if (!strcmp(q->target, "/api/v1/rename") && name) {
		const char *to =
			json_string_value(json_object_get(j, "dst_name"));

		for (i = 0; to && i < made_count; i++)
			if (!strcmp(made[i], name))
				snprintf(made[i], sizeof(made[0]), "%s", to);
	}
	if (create && name && id && !taken && made_count < 16) {
		snprintf(made[made_count], sizeof(made[0]), "%s", name);
		snprintf(made_ids[made_count++], sizeof(made_ids[0]), "%s", id);
		lose = lose_one;
		lose_one = false;
	}
	pthread_mutex_unlock(&srv_lock);
	if (taken || lose)
		resp_error(p, lose ? 503 : 409,
			   lose ? "unavailable" : "exists");
	else if (!strcmp(q->method, "GET") && !mine)
		resp_error(p, 404, "not_found");
	else if (!strcmp(q->method, "GET"))
		resp_file_node(p);
	else
		resp_json(p, 201, "{\"cursor\":1}");
	json_decref(j);
}

static int entries_changed; /* pusher thread, read after it stopped */

static void count_changed(void *arg, int64_t ino, int64_t parent,
			  const char *name, size_t name_len)
{
	(void)arg;
	(void)ino;
	(void)parent;
	(void)name_len;
	if (name)
		entries_changed++;
}

static struct fc_pusher *pusher_dev(struct fc_state *st, struct fc_remote *r)
{
	struct fc_push_deps d = { 0 };
	struct fc_pusher *p;

	d.state = st;
	d.remote = r;
	d.device = "tdev";
	d.changed = count_changed;
	assert_int_equal(fc_push_new(&d, &p), 0);
	assert_int_equal(fc_push_start(p), 0);
	return p;
}

/* Push everything st's outbox holds as device tdev; none is refused. */
static void push_all_dev(struct fc_state *st, struct fc_remote *r)
{
	struct fc_pusher *p = pusher_dev(st, r);
	uint64_t pending, failed;

	drain(st, 15);
	fc_push_free(p);
	assert_int_equal(fc_state_op_counts(st, &pending, &failed), 0);
	assert_int_equal(failed, 0);
}

static void reset_same_name(bool lose)
{
	pthread_mutex_lock(&srv_lock);
	seen_count = 0;
	made_count = 0;
	lose_one = lose;
	pthread_mutex_unlock(&srv_lock);
	entries_changed = 0;
	srv_handler = h_same_name;
}

/* The n-th conflicted copy name of name from device tdev, today. */
static void copy_name(const char *name, unsigned n, char *out, size_t size)
{
	struct cf_buf b;

	cf_buf_init(&b, CF_NAME_MAX);
	assert_int_equal(fc_conflict_candidate(name, strlen(name), false,
					       "tdev", (int64_t)time(NULL), n,
					       &b),
			 0);
	snprintf(out, size, "%s", b.data);
	cf_buf_release(&b);
}

/*
 * Node ino was kept under the k-th conflicted copy name of name (into
 * copy): that name holds it here, and name is gone here. Its node.
 */
static struct fc_node kept_as_copy(struct fc_state *st, const char *name,
				   unsigned k, int64_t ino, char *copy,
				   size_t size)
{
	struct fc_node n;

	copy_name(name, k, copy, size);
	assert_int_equal(
		fc_state_lookup(st, FC_ROOT_INO, name, strlen(name), &n),
		-ENOENT);
	assert_int_equal(
		fc_state_lookup(st, FC_ROOT_INO, copy, strlen(copy), &n), 0);
	assert_int_equal(n.ino, ino);
	return n;
}

/*
 * A new file meets its name taken by another device's node: it is kept
 * under a conflicted copy name (the first one is taken too: the second),
 * here as on the server; the write and mode change that follow reach it;
 * its create's answer is lost once and the retry counts as done.
 */
static void test_fc_push__create_name_taken(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	struct fc_setattr sa = { 0 };
	char cc2[128], want[8][160], got[16][96];
	struct fc_node f, n;
	int count, i;

	(void)state;
	reset_same_name(true);
	f = make(st, FC_ROOT_INO, "taken.txt", FC_KIND_FILE);
	sa.flags = FC_SET_MODE;
	sa.mode = 0600;
	sa.now_ns = now_ns();
	assert_int_equal(fc_state_setattr(st, f.ino, &sa, NULL), 0);
	make(st, FC_ROOT_INO, "other", FC_KIND_FILE);
	push_all_dev(st, r);
	/* two names tried and renamed here: both entries each time */
	assert_int_equal(entries_changed, 4);
	n = kept_as_copy(st, "taken.txt", 2, f.ino, cc2, sizeof(cc2));
	assert_true(n.pushed);
	snprintf(want[0], sizeof(want[0]), "POST nodes taken.txt");
	snprintf(want[1], sizeof(want[1]), "GET nodes -");
	copy_name("taken.txt", 1, want[2] + 11, sizeof(want[2]) - 11);
	memcpy(want[2], "POST nodes ", 11);
	snprintf(want[3], sizeof(want[3]), "GET nodes -");
	snprintf(want[4], sizeof(want[4]), "POST nodes %s", cc2); /* lost */
	snprintf(want[5], sizeof(want[5]), "POST nodes %s", cc2); /* 409 */
	snprintf(want[6], sizeof(want[6]), "GET nodes -"); /* ours: done */
	snprintf(want[7], sizeof(want[7]), "PATCH nodes -");
	pthread_mutex_lock(&srv_lock);
	memcpy(got, seen, sizeof(got));
	count = seen_count;
	pthread_mutex_unlock(&srv_lock);
	assert_int_equal(count, 9);
	for (i = 0; i < 8; i++)
		assert_string_equal(got[i], want[i]);
	assert_string_equal(got[8], "POST nodes other");
	fc_remote_free(r);
	state_free(st);
}

/*
 * A new directory meets its name taken: it is kept under a conflicted
 * copy name, a file made in it follows by id, a rename of it before the
 * push starts from the name the server has, and a second directory made
 * under the old name after that rename takes the new name too.
 */
static void test_fc_push__mkdir_name_taken_then_renamed(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	char cc1[128], cc2[128], got[16][96];
	struct fc_node d, second, n;
	int count;

	(void)state;
	reset_same_name(false);
	d = make(st, FC_ROOT_INO, "taken", FC_KIND_DIR);
	make(st, d.ino, "inside", FC_KIND_FILE);
	assert_int_equal(fc_state_rename(st, FC_ROOT_INO, "taken", 5,
					 FC_ROOT_INO, "mine", 4, 0, now_ns(),
					 NULL),
			 0);
	/* a new one under the old name, with a file in it */
	second = make(st, FC_ROOT_INO, "taken", FC_KIND_DIR);
	make(st, second.ino, "f", FC_KIND_FILE);
	push_all_dev(st, r);
	copy_name("taken", 1, cc1, sizeof(cc1));
	copy_name("taken", 2, cc2, sizeof(cc2));
	pthread_mutex_lock(&srv_lock);
	memcpy(got, seen, sizeof(got));
	count = seen_count;
	pthread_mutex_unlock(&srv_lock);
	/*
	 * taken, GET, cc1, GET, cc2 (made), inside, rename cc2 > mine; the
	 * second directory's create named the same entry ("taken" here), so
	 * it followed the first rename: cc2 (free again), f
	 */
	assert_int_equal(count, 9);
	assert_int_equal(strncmp(got[4], "POST nodes ", 11), 0);
	assert_string_equal(got[4] + 11, cc2);
	assert_string_equal(got[5], "POST nodes inside");
	assert_int_equal(strncmp(got[6], "POST renam ", 11), 0);
	assert_string_equal(got[6] + 11, cc2);
	assert_int_equal(strncmp(got[7], "POST nodes ", 11), 0);
	assert_string_equal(got[7] + 11, cc2);
	assert_string_equal(got[8], "POST nodes f");
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "mine", 4, &n), 0);
	assert_int_equal(n.ino, d.ino);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "taken", 5, &n),
			 -ENOENT);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, cc1, strlen(cc1), &n),
			 -ENOENT);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, cc2, strlen(cc2), &n),
			 0);
	assert_int_equal(n.ino, second.ino);
	assert_int_equal(fc_state_lookup(st, n.ino, "f", 1, &n), 0);
	fc_remote_free(r);
	state_free(st);
}

/* ----- pull ----- */

static void h_feed(const struct req *q, struct resp *p)
{
	if (strstr(q->target, "/changes?since=0"))
		resp_json(
			p, 200,
			"{\"nodes\":[{\"id\":\"0102030405060708090a0b0c0d0e0f"
			"10\",\"kind\":\"dir\",\"mode\":448,\"uid\":0,\"gid\":0,"
			"\"size\":0,\"mtime\":1000,\"ctime\":1000,\"version\":0,"
			"\"status\":\"uploaded\",\"nlink\":2,\"seq\":6}],"
			"\"entries\":[{\"entry_id\":5,\"parent\":\"00000000000"
			"000000000000000000000\",\"name\":\"remote\",\"node\":"
			"\"0102030405060708090a0b0c0d0e0f10\",\"deleted\":false,"
			"\"seq\":7}],\"next\":7,\"more\":false}");
	else if (strstr(q->target, "/changes?since=7"))
		resp_json(
			p, 200,
			"{\"nodes\":[],\"entries\":[{\"entry_id\":6,\"parent\":"
			"\"00000000000000000000000000000000\",\"name\":\"a/b\","
			"\"node\":\"0102030405060708090a0b0c0d0e0f10\","
			"\"deleted\":false,\"seq\":8}],\"next\":8,"
			"\"more\":false}");
	else if (strstr(q->target, "/account"))
		resp_json(p, 200,
			  "{\"user\":\"ann\",\"usage\":100,\"quota\":1000,"
			  "\"chunk\":{\"min\":65536,\"avg\":262144,\"max\":"
			  "1048576},\"codec\":\"zstd\"}");
	else
		resp_error(p, 404, "not_found");
}

static int pushes;

static void need_push(void *arg)
{
	(void)arg;
	pushes++;
}

static void test_fc_pull__pages_and_cursor(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	struct fc_pull_deps d = { 0 };
	uint64_t cursor, usage, quota;
	struct fc_puller *p;
	struct fc_node n;

	(void)state;
	srv_handler = h_feed;
	d.state = st;
	d.remote = r;
	d.need_push = need_push;
	assert_int_equal(fc_pull_new(&d, &p), 0);
	assert_int_equal(fc_pull_once(p), 0);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "remote", 6, &n), 0);
	assert_int_equal(n.kind, FC_KIND_DIR);
	assert_int_equal(n.mode, 0700);
	assert_int_equal(fc_state_cursor_get(st, &cursor), 0);
	assert_int_equal(cursor, 7);
	assert_int_equal(fc_state_usage_get(st, &usage, &quota), 0);
	assert_int_equal(usage, 100);
	assert_int_equal(quota, 1000);

	/* a malformed page changes nothing */
	assert_int_equal(fc_pull_once(p), -EPROTO);
	assert_int_equal(fc_pull_error(p), -EPROTO);
	assert_int_equal(fc_state_cursor_get(st, &cursor), 0);
	assert_int_equal(cursor, 7);

	/* local ops go first */
	make(st, FC_ROOT_INO, "local", FC_KIND_DIR);
	pushes = 0;
	assert_int_equal(fc_pull_once(p), -EAGAIN);
	assert_int_equal(pushes, 1);
	fc_pull_free(p);
	fc_remote_free(r);
	state_free(st);
}

/*
 * Another device put "theirs" (and its first conflicted copy name) and
 * "theirs-link" at the root first: a rename or link onto those names
 * answers 409 exists unless it says it replaces the node there, "their
 * node" (its id: 32 'e's). A rename from "moved-away" answers 404 (another
 * device moved it), as does one from "purged-away", whose node (id in
 * purged_hex) is gone altogether. Each rename and link is seen as "KIND DST nr=N rp=ID";
 * renames that do not name the node they move are counted.
 */
#define THEIR_NODE "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
static int renames_without_node; /* protected by srv_lock */
static char purged_hex[33]; /* protected by srv_lock */

static void h_dest_taken(const struct req *q, struct resp *p)
{
	json_t *j = json_loads(q->body ? q->body : "", 0, NULL);
	const char *src = json_string_value(json_object_get(j, "src_name"));
	const char *dst = json_string_value(json_object_get(j, "dst_name"));
	const char *rp = json_string_value(json_object_get(j, "replaces"));
	bool nr = json_is_true(json_object_get(j, "noreplace"));
	bool rename = !strcmp(q->target, "/api/v1/rename");
	bool link = !strcmp(q->target, "/api/v1/entries");
	bool taken = false, purged;

	if (link)
		dst = json_string_value(json_object_get(j, "name"));
	if ((rename || link) && dst)
		taken = (!strcmp(dst, "theirs") ||
			 !strncmp(dst, "theirs (conflicted copy tdev ", 29) ||
			 !strcmp(dst, "theirs-link")) &&
			!strstr(dst, " 2)") && !(rp && !strcmp(rp, THEIR_NODE));
	pthread_mutex_lock(&srv_lock);
	if ((rename || link) && seen_count < 64)
		snprintf(seen[seen_count++], sizeof(seen[0]),
			 "%s %.50s nr=%d rp=%.4s", rename ? "rename" : "link",
			 dst ? dst : "-", nr, rp ? rp : "-");
	if (rename && !json_is_string(json_object_get(j, "node")))
		renames_without_node++;
	purged = purged_hex[0] && strstr(q->target, purged_hex);
	pthread_mutex_unlock(&srv_lock);
	if (taken)
		resp_error(p, 409, "exists");
	else if (rename && src &&
		 (!strcmp(src, "moved-away") || !strcmp(src, "purged-away")))
		resp_error(p, 404, "not_found");
	else if (!strcmp(q->method, "GET") && purged)
		resp_error(p, 404, "not_found");
	else if (!strcmp(q->method, "GET"))
		resp_file_node(p);
	else if (!strcmp(q->target, "/api/v1/nodes/batch"))
		h_batch(json_object_get(j, "nodes"), p);
	else
		resp_json(p, 201, "{\"cursor\":1}");
	json_decref(j);
}

/*
 * Renames and a link replayed onto names another device took first: a
 * rename onto a name free here says so (noreplace) and, refused, is kept
 * under a conflicted copy name (the first is taken too: the second), here
 * as on the server; a rename that replaced a node here names it
 * (replaces) and goes ahead; a link is kept under a conflicted copy name;
 * a rename whose source another device moved leaves the server's tree
 * standing and starts a resync. Nothing is refused.
 */
static void test_fc_push__rename_and_link_name_taken(void **state)
{
	struct fc_state *st = state_new();
	struct fc_remote *r = client(5000);
	char cc2[128], lcc[128], got[16][96], want[160], hex[33];
	struct fc_node a, b, mine, gone, n;
	uint64_t resync = 0;
	int count, i;

	(void)state;
	reset(0, NULL);
	srv_handler = h_dest_taken;
	renames_without_node = 0;
	a = make(st, FC_ROOT_INO, "a.txt", FC_KIND_FILE);
	b = make(st, FC_ROOT_INO, "b.txt", FC_KIND_FILE);
	mine = make(st, FC_ROOT_INO, "mine.txt", FC_KIND_FILE);
	make(st, FC_ROOT_INO, "moved-away", FC_KIND_FILE);
	gone = make(st, FC_ROOT_INO, "purged-away", FC_KIND_FILE);
	pthread_mutex_lock(&srv_lock);
	for (i = 0; i < 16; i++)
		snprintf(purged_hex + 2 * i, 3, "%02x", gone.id[i]);
	pthread_mutex_unlock(&srv_lock);
	assert_int_equal(fc_state_rename(st, FC_ROOT_INO, "a.txt", 5,
					 FC_ROOT_INO, "theirs", 6, 0, now_ns(),
					 NULL),
			 0);
	assert_int_equal(fc_state_rename(st, FC_ROOT_INO, "b.txt", 5,
					 FC_ROOT_INO, "mine.txt", 8, 0,
					 now_ns(), NULL),
			 0);
	assert_int_equal(fc_state_link(st, b.ino, FC_ROOT_INO, "theirs-link",
				       11, now_ns(), NULL),
			 0);
	assert_int_equal(fc_state_rename(st, FC_ROOT_INO, "moved-away", 10,
					 FC_ROOT_INO, "elsewhere", 9, 0,
					 now_ns(), NULL),
			 0);
	assert_int_equal(fc_state_rename(st, FC_ROOT_INO, "purged-away", 11,
					 FC_ROOT_INO, "purged-moved", 12, 0,
					 now_ns(), NULL),
			 0);
	push_all_dev(st, r);

	kept_as_copy(st, "theirs", 2, a.ino, cc2, sizeof(cc2));
	kept_as_copy(st, "theirs-link", 1, b.ino, lcc, sizeof(lcc));
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "mine.txt", 8, &n),
			 0);
	assert_int_equal(n.ino, b.ino);
	assert_int_equal(fc_state_resync_get(st, &resync), 0);
	assert_true(resync > 0);

	pthread_mutex_lock(&srv_lock);
	memcpy(got, seen, sizeof(got));
	count = seen_count;
	i = renames_without_node;
	pthread_mutex_unlock(&srv_lock);
	/* each rename names the node it moves */
	assert_int_equal(i, 0);
	/* the five creates went in one batch */
	assert_int_equal(count, 13);
	assert_string_equal(got[5], "rename theirs nr=1 rp=-");
	copy_name("theirs", 1, want, sizeof(want));
	assert_int_equal(strncmp(got[6], "rename ", 7), 0);
	assert_int_equal(strncmp(got[6] + 7, want, strlen(want)), 0);
	snprintf(want, sizeof(want), "rename %s nr=1 rp=-", cc2);
	assert_string_equal(got[7], want);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", mine.id[i]);
	snprintf(want, sizeof(want), "rename mine.txt nr=0 rp=%.4s", hex);
	assert_string_equal(got[8], want);
	assert_string_equal(got[9], "link theirs-link nr=0 rp=-");
	snprintf(want, sizeof(want), "link %s nr=0 rp=-", lcc);
	assert_string_equal(got[10], want);
	/* sent once: its directory is live, nothing to bring back */
	assert_string_equal(got[11], "rename elsewhere nr=1 rp=-");
	/* its node gone altogether: the server's tree stands all the same */
	assert_string_equal(got[12], "rename purged-moved nr=1 rp=-");
	pthread_mutex_lock(&srv_lock);
	purged_hex[0] = 0;
	pthread_mutex_unlock(&srv_lock);
	fc_remote_free(r);
	state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fc_push__ops_in_order),
		cmocka_unit_test(test_fc_push__creates_past_setattrs),
		cmocka_unit_test(test_fc_push__transient_retries_first),
		cmocka_unit_test(test_fc_push__refused_set_aside),
		cmocka_unit_test(test_fc_push__revives_removed_dir),
		cmocka_unit_test(test_fc_push__rmdir_of_filled_dir),
		cmocka_unit_test(test_fc_push__create_name_taken),
		cmocka_unit_test(test_fc_push__mkdir_name_taken_then_renamed),
		cmocka_unit_test(test_fc_push__rename_and_link_name_taken),
		cmocka_unit_test(test_fc_pull__pages_and_cursor),
	};
	int rc;

	cf_log_setup("test", LOG_CRIT, getenv("TEST_DEBUG"));
	server_start();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	server_stop();
	return rc;
}
