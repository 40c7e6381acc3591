/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the local block store (server/srv_blocks_local.c): round
 * trips, idempotent and self-healing puts, per-account namespaces, listing,
 * removal and concurrent puts, each in a fresh temp directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_buf.h"
#include "cf_file.h"
#include "srv_blocks.h"

struct fixture {
	char dir[64];
	char blocks[128];
	struct srv_blocks *bs;
};

static int rm_rf(const char *path)
{
	char cmd[256];
	int n;

	n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return system(cmd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_srv_blocks.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->blocks, sizeof(f->blocks), "%s/data/blocks", f->dir);
	if (srv_blocks_local_open(f->blocks, &f->bs) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	srv_blocks_free(f->bs);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* A blob of size pseudo-random bytes from seed, and its id. */
static uint8_t *make_blob(unsigned seed, size_t size, struct blk_id *id)
{
	uint8_t *p = malloc(size ? size : 1);
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	assert_int_equal(blk_id_compute(p, size, id), 0);
	return p;
}

static void block_file(struct fixture *f, int64_t user, const struct blk_id *id,
		       char *out, size_t out_size)
{
	char hex[BLK_ID_HEX_SIZE];

	blk_id_to_hex(id, hex);
	snprintf(out, out_size, "%s/%lld/%.2s/%s", f->blocks, (long long)user,
		 hex, hex);
}

static void test_srv_blocks__round_trip(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	struct cf_buf b;
	uint64_t size = 0;
	uint8_t *blob = make_blob(1, 100000, &id);
	char path[512];
	struct stat sb;

	assert_int_equal(srv_blocks_put(f->bs, 7, &id, blob, 100000), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 7, &id, &size), 0);
	assert_int_equal(size, 100000);
	cf_buf_init(&b, 200000);
	assert_int_equal(srv_blocks_get(f->bs, 7, &id, &b), 0);
	assert_int_equal(b.len, 100000);
	assert_memory_equal(b.data, blob, 100000);
	cf_buf_release(&b);

	/* The documented layout: blocks/<user>/<id[0:2]>/<id>, private. */
	block_file(f, 7, &id, path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(blob);
}

static void test_srv_blocks__empty_blob(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	struct cf_buf b;
	uint64_t size = 1;
	uint8_t *blob = make_blob(2, 0, &id);

	assert_int_equal(srv_blocks_put(f->bs, 1, &id, blob, 0), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 1, &id, &size), 0);
	assert_int_equal(size, 0);
	cf_buf_init(&b, 10);
	assert_int_equal(srv_blocks_get(f->bs, 1, &id, &b), 0);
	assert_int_equal(b.len, 0);
	cf_buf_release(&b);
	free(blob);
}

static void test_srv_blocks__get_appends_and_caps(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	struct cf_buf b;
	uint8_t *blob = make_blob(3, 1000, &id);

	assert_int_equal(srv_blocks_put(f->bs, 1, &id, blob, 1000), 0);
	cf_buf_init(&b, 999);
	assert_int_equal(srv_blocks_get(f->bs, 1, &id, &b), -EMSGSIZE);
	cf_buf_release(&b);
	cf_buf_init(&b, 1002);
	assert_int_equal(cf_buf_append(&b, "xy", 2), 0);
	assert_int_equal(srv_blocks_get(f->bs, 1, &id, &b), 0);
	assert_int_equal(b.len, 1002);
	assert_memory_equal(b.data + 2, blob, 1000);
	cf_buf_release(&b);
	free(blob);
}

static void test_srv_blocks__put_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	uint8_t *blob = make_blob(4, 5000, &id);
	uint64_t size;

	assert_int_equal(srv_blocks_put(f->bs, 1, &id, blob, 5000), 0);
	assert_int_equal(srv_blocks_put(f->bs, 1, &id, blob, 5000), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 1, &id, &size), 0);
	assert_int_equal(size, 5000);
	free(blob);
}

static void test_srv_blocks__corrupt_copy_is_replaced(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	struct cf_buf b;
	uint8_t *blob = make_blob(5, 4096, &id);
	char path[512];
	int fd;

	assert_int_equal(srv_blocks_put(f->bs, 3, &id, blob, 4096), 0);
	/* Flip a byte on disk, as bit rot would. */
	block_file(f, 3, &id, path, sizeof(path));
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff\xfe", 2, 100), 2);
	close(fd);

	assert_int_equal(srv_blocks_put(f->bs, 3, &id, blob, 4096), 0);
	cf_buf_init(&b, 8192);
	assert_int_equal(srv_blocks_get(f->bs, 3, &id, &b), 0);
	assert_int_equal(b.len, 4096);
	assert_memory_equal(b.data, blob, 4096);
	cf_buf_release(&b);

	/* A truncated copy too. */
	assert_int_equal(truncate(path, 10), 0);
	assert_int_equal(srv_blocks_put(f->bs, 3, &id, blob, 4096), 0);
	cf_buf_init(&b, 8192);
	assert_int_equal(srv_blocks_get(f->bs, 3, &id, &b), 0);
	assert_int_equal(b.len, 4096);
	cf_buf_release(&b);
	free(blob);
}

/* A put's gate that records what it saw and answers rc. */
struct gate_probe {
	const char *final; /* the block's path */
	int calls;
	bool named_before; /* the final name pointed at this blob already */
	int rc;
	const uint8_t *blob;
	size_t size;
};

static int gate_probe_fn(void *arg)
{
	struct gate_probe *g = arg;
	struct cf_buf b;

	g->calls++;
	cf_buf_init(&b, g->size + 1);
	g->named_before = cf_file_read_all(AT_FDCWD, g->final, &b) == 0 &&
			  b.len == g->size &&
			  memcmp(b.data, g->blob, g->size) == 0;
	cf_buf_release(&b);
	return g->rc;
}

/* Entries of the directory holding path, . and .. aside. */
static int siblings(const char *path)
{
	char dir[512];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void put_through_gate(struct fixture *f, struct gate_probe *g,
			     const struct blk_id *id, int want)
{
	struct cf_durable_gate gate = { .fn = gate_probe_fn, .arg = g };

	g->calls = 0;
	assert_int_equal(
		srv_blocks_put_gated(f->bs, 2, id, g->blob, g->size, &gate),
		want);
	assert_int_equal(g->calls, 1);
}

static void test_srv_blocks__gate(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	uint8_t *blob = make_blob(21, 300000, &id);
	char path[512];
	struct gate_probe g = { .final = path, .blob = blob, .size = 300000 };
	struct cf_buf b;
	uint64_t size;
	int fd;

	block_file(f, 2, &id, path, sizeof(path));
	/* refused: nothing stored, no temp file left */
	g.rc = -EBADMSG;
	put_through_gate(f, &g, &id, -EBADMSG);
	assert_false(g.named_before);
	assert_int_equal(srv_blocks_stat(f->bs, 2, &id, &size), -ENOENT);
	assert_int_equal(siblings(path), 0);
	/* passed: asked before the block had its name */
	g.rc = 0;
	put_through_gate(f, &g, &id, 0);
	assert_false(g.named_before);
	assert_int_equal(srv_blocks_stat(f->bs, 2, &id, &size), 0);
	assert_int_equal(siblings(path), 1);
	/* stored already: still asked, and a refusal fails the put */
	put_through_gate(f, &g, &id, 0);
	assert_true(g.named_before);
	g.rc = -EIO;
	put_through_gate(f, &g, &id, -EIO);
	assert_int_equal(srv_blocks_stat(f->bs, 2, &id, &size), 0);
	/* a corrupt copy is not replaced by a refused blob, then is */
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff", 1, 5), 1);
	close(fd);
	put_through_gate(f, &g, &id, -EIO);
	assert_false(g.named_before);
	assert_int_equal(siblings(path), 1);
	g.rc = 0;
	put_through_gate(f, &g, &id, 0);
	cf_buf_init(&b, 300000);
	assert_int_equal(srv_blocks_get(f->bs, 2, &id, &b), 0);
	assert_memory_equal(b.data, blob, 300000);
	cf_buf_release(&b);
	free(blob);
}

static void test_srv_blocks__accounts_are_separate(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	struct cf_buf b;
	uint8_t *blob = make_blob(6, 300, &id);
	uint64_t size;

	assert_int_equal(srv_blocks_put(f->bs, 10, &id, blob, 300), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 11, &id, &size), -ENOENT);
	cf_buf_init(&b, 1000);
	assert_int_equal(srv_blocks_get(f->bs, 11, &id, &b), -ENOENT);
	assert_int_equal(srv_blocks_remove(f->bs, 11, &id), -ENOENT);
	assert_int_equal(srv_blocks_get(f->bs, 10, &id, &b), 0);
	cf_buf_release(&b);
	assert_int_equal(srv_blocks_get(f->bs, -1, &id, &b), -ENOENT);
	cf_buf_release(&b);
	free(blob);
}

static void test_srv_blocks__remove(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	uint8_t *blob = make_blob(7, 64, &id);
	uint64_t size;

	assert_int_equal(srv_blocks_remove(f->bs, 1, &id), -ENOENT);
	assert_int_equal(srv_blocks_put(f->bs, 1, &id, blob, 64), 0);
	assert_int_equal(srv_blocks_remove(f->bs, 1, &id), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 1, &id, &size), -ENOENT);
	assert_int_equal(srv_blocks_remove(f->bs, 1, &id), -ENOENT);
	/* And it can come back. */
	assert_int_equal(srv_blocks_put(f->bs, 1, &id, blob, 64), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 1, &id, &size), 0);
	free(blob);
}

struct seen {
	int count;
	int64_t users_sum;
	uint64_t bytes;
	int stop_after;
};

static int count_cb(void *arg, int64_t user_id, const struct blk_id *id,
		    uint64_t size, int64_t stored_at)
{
	struct seen *s = arg;

	(void)id;
	/* the file's time: within the test's run */
	assert_true(stored_at > time(NULL) - 600 && stored_at <= time(NULL));
	s->count++;
	s->users_sum += user_id;
	s->bytes += size;
	if (s->stop_after && s->count == s->stop_after)
		return 42;
	return 0;
}

static void test_srv_blocks__list(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	struct blk_id id;
	char path[512];
	uint8_t *blob;
	unsigned i;
	int fd;

	for (i = 0; i < 10; i++) {
		blob = make_blob(100 + i, 10 + i, &id);
		assert_int_equal(
			srv_blocks_put(f->bs, i < 6 ? 1 : 2, &id, blob, 10 + i),
			0);
		free(blob);
	}
	/* Strays that are not blocks: a temp file and a junk name. */
	block_file(f, 2, &id, path, sizeof(path)); /* the last one put */
	snprintf(path + strlen(path) - 64, 70, ".tmp-x");
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/junk", f->blocks);
	assert_int_equal(mkdir(path, 0700), 0);

	assert_int_equal(srv_blocks_list(f->bs, -1, count_cb, &s), 0);
	assert_int_equal(s.count, 10);
	assert_int_equal(s.users_sum, 6 * 1 + 4 * 2);
	assert_int_equal(s.bytes, 10 * 10 + 45);

	memset(&s, 0, sizeof(s));
	assert_int_equal(srv_blocks_list(f->bs, 2, count_cb, &s), 0);
	assert_int_equal(s.count, 4);
	memset(&s, 0, sizeof(s));
	assert_int_equal(srv_blocks_list(f->bs, 99, count_cb, &s), 0);
	assert_int_equal(s.count, 0);

	memset(&s, 0, sizeof(s));
	s.stop_after = 3;
	assert_int_equal(srv_blocks_list(f->bs, -1, count_cb, &s), 42);
	assert_int_equal(s.count, 3);
}

static void test_srv_blocks__reopen_keeps_blocks(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	uint8_t *blob = make_blob(8, 777, &id);
	uint64_t size;

	assert_int_equal(srv_blocks_put(f->bs, 5, &id, blob, 777), 0);
	srv_blocks_free(f->bs);
	f->bs = NULL;
	assert_int_equal(srv_blocks_local_open(f->blocks, &f->bs), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 5, &id, &size), 0);
	assert_int_equal(size, 777);
	/* A put into an existing directory from a fresh process works. */
	free(blob);
	blob = make_blob(9, 1, &id);
	assert_int_equal(srv_blocks_put(f->bs, 5, &id, blob, 1), 0);
	free(blob);
}

static void test_srv_blocks__account_dir_has_every_prefix(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	uint8_t *blob = make_blob(10, 5000, &id);
	char path[512], hex[BLK_ID_HEX_SIZE];
	struct stat sb;
	uint64_t size;
	int b;

	assert_int_equal(srv_blocks_put(f->bs, 11, &id, blob, 5000), 0);
	for (b = 0; b < 256; b++) {
		snprintf(path, sizeof(path), "%s/11/%02x", f->blocks, b);
		assert_int_equal(stat(path, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
	}
	/* a prefix lost from under a fresh process is made again */
	srv_blocks_free(f->bs);
	f->bs = NULL;
	blk_id_to_hex(&id, hex);
	snprintf(path, sizeof(path), "%s/11/%.2s/%s", f->blocks, hex, hex);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/11/%.2s", f->blocks, hex);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(srv_blocks_local_open(f->blocks, &f->bs), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 11, &id, &size), -ENOENT);
	assert_int_equal(srv_blocks_put(f->bs, 11, &id, blob, 5000), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 11, &id, &size), 0);
	assert_int_equal(size, 5000);
	free(blob);
}

static void test_srv_blocks__open_fails_cleanly(void **state)
{
	struct fixture *f = *state;
	struct srv_blocks *bs = (struct srv_blocks *)1;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/file/blocks", f->dir);
	assert_true(srv_blocks_local_open(path, &bs) < 0);
	assert_null(bs);
	srv_blocks_free(NULL);
}

struct racer {
	struct srv_blocks *bs;
	const uint8_t *blob;
	size_t size;
	const struct blk_id *id;
	int64_t user;
	int rc;
};

static void *race_put(void *arg)
{
	struct racer *r = arg;
	int i;

	r->rc = 0;
	for (i = 0; i < 20 && r->rc == 0; i++)
		r->rc = srv_blocks_put(r->bs, r->user, r->id, r->blob, r->size);
	return NULL;
}

static void test_srv_blocks__concurrent_puts(void **state)
{
	struct fixture *f = *state;
	struct racer r[4];
	pthread_t th[4];
	struct blk_id id;
	uint8_t *blob = make_blob(10, 20000, &id);
	struct seen s = { 0 };
	int i;

	for (i = 0; i < 4; i++) {
		r[i] = (struct racer){ f->bs, blob, 20000, &id, 1 + i % 2, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, race_put, &r[i]),
				 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].rc, 0);
	}
	assert_int_equal(srv_blocks_list(f->bs, -1, count_cb, &s), 0);
	assert_int_equal(s.count, 2); /* one copy per account, no temp left */
	free(blob);
}

static bool keep_no(void *arg)
{
	(void)arg;
	return false;
}

static bool keep_yes(void *arg)
{
	(void)arg;
	return true;
}

struct reupload {
	struct srv_blocks *bs;
	const struct blk_id *id;
	const uint8_t *blob;
	size_t size;
};

/* A client re-uploads the block while GC has it parked. */
static bool keep_after_reupload(void *arg)
{
	struct reupload *r = arg;

	assert_int_equal(srv_blocks_put(r->bs, 1, r->id, r->blob, r->size), 0);
	return true;
}

static void test_srv_blocks__remove_unless(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	uint8_t *blob = make_blob(11, 3000, &id);
	struct reupload r = { f->bs, &id, blob, 3000 };
	struct seen s = { 0 };
	struct cf_buf b;
	uint64_t size;

	assert_int_equal(srv_blocks_remove_unless(f->bs, 1, &id, keep_no, NULL),
			 -ENOENT);
	assert_int_equal(srv_blocks_put(f->bs, 1, &id, blob, 3000), 0);
	assert_int_equal(
		srv_blocks_remove_unless(f->bs, 1, &id, keep_yes, NULL), 1);
	cf_buf_init(&b, 4000);
	assert_int_equal(srv_blocks_get(f->bs, 1, &id, &b), 0);
	assert_memory_equal(b.data, blob, 3000);
	cf_buf_release(&b);

	assert_int_equal(srv_blocks_remove_unless(f->bs, 1, &id,
						  keep_after_reupload, &r),
			 1);
	assert_int_equal(srv_blocks_stat(f->bs, 1, &id, &size), 0);
	assert_int_equal(size, 3000);

	assert_int_equal(srv_blocks_remove_unless(f->bs, 1, &id, keep_no, NULL),
			 0);
	assert_int_equal(srv_blocks_stat(f->bs, 1, &id, &size), -ENOENT);
	/* Nothing stays parked. */
	assert_int_equal(srv_blocks_list(f->bs, -1, count_cb, &s), 0);
	assert_int_equal(s.count, 0);
	free(blob);
}

static void test_srv_blocks__parked_block_comes_back(void **state)
{
	struct fixture *f = *state;
	struct blk_id id;
	uint8_t *blob = make_blob(12, 500, &id);
	char from[512], to[512], hex[BLK_ID_HEX_SIZE];
	uint64_t size;

	assert_int_equal(srv_blocks_put(f->bs, 4, &id, blob, 500), 0);
	/* What a gc killed between parking and deciding leaves behind. */
	block_file(f, 4, &id, from, sizeof(from));
	blk_id_to_hex(&id, hex);
	snprintf(to, sizeof(to), "%s/.aside/4-%s", f->blocks, hex);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 4, &id, &size), -ENOENT);

	srv_blocks_free(f->bs);
	f->bs = NULL;
	assert_int_equal(srv_blocks_local_open(f->blocks, &f->bs), 0);
	assert_int_equal(srv_blocks_stat(f->bs, 4, &id, &size), 0);
	assert_int_equal(size, 500);
	assert_int_equal(access(to, F_OK), -1);
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_srv_blocks__gate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_srv_blocks__round_trip,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_blocks__empty_blob,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__get_appends_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__put_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__corrupt_copy_is_replaced, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__accounts_are_separate, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_srv_blocks__remove, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_srv_blocks__list, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__reopen_keeps_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__open_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__concurrent_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__account_dir_has_every_prefix, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_srv_blocks__remove_unless,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_blocks__parked_block_comes_back, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
