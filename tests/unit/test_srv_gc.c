/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for server/srv_gc.c over a real SQLite metadata store and a
 * real local block store: gc keeps what retained versions reference and
 * what is inside the grace period, removes the rest, and loses nothing to
 * a racing re-upload; scrub finds corrupt blocks; fsck finds blocks that
 * are referenced or indexed but not stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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
#include <openssl/rand.h>

#include "blk/manifest.h"
#include "cf_buf.h"
#include "cf_log.h"
#include "srv_blocks.h"
#include "srv_gc.h"
#include "srv_meta.h"

struct fixture {
	char dir[64];
	struct srv_meta *meta;
	struct srv_blocks *bs;
	int64_t user;
	uint8_t file[SRV_NODE_ID_SIZE];
	int reports;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct srv_node n;
	struct srv_user u;
	char path[128];
	uint64_t seq;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_srv_gc.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	if (srv_meta_sqlite_open(path, &f->meta) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/blocks", f->dir);
	if (srv_blocks_local_open(path, &f->bs) < 0)
		return -1;
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "gc");
	u.kdf = BLK_KDF_PARAMS_DEFAULT;
	u.chunk_min = BLK_CHUNK_MIN_DEFAULT;
	u.chunk_avg = BLK_CHUNK_AVG_DEFAULT;
	u.chunk_max = BLK_CHUNK_MAX_DEFAULT;
	if (f->meta->ops->user_create(f->meta, &u) < 0)
		return -1;
	f->user = u.id;
	memset(&n, 0, sizeof(n));
	if (RAND_bytes(n.id, sizeof(n.id)) != 1)
		return -1;
	memcpy(f->file, n.id, sizeof(f->file));
	n.kind = SRV_NODE_FILE;
	n.mode = 0644;
	if (f->meta->ops->create(f->meta, f->user, &n, srv_root_id, "f", 1,
				 &seq) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	srv_blocks_free(f->bs);
	srv_meta_close(f->meta);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* Store and index a block of size random bytes; its id into *id. */
static void add_block(struct fixture *f, size_t size, int64_t when,
		      struct blk_id *id)
{
	uint8_t *data = malloc(size);
	bool is_new;

	assert_non_null(data);
	assert_int_equal(RAND_bytes(data, (int)size), 1);
	assert_int_equal(blk_id_compute(data, size, id), 0);
	assert_int_equal(srv_blocks_put(f->bs, f->user, id, data, size), 0);
	assert_int_equal(f->meta->ops->block_add(f->meta, f->user, id, size,
						 when, &is_new),
			 0);
	free(data);
}

/* Commit a version of f->file made of count blocks of 100 bytes. */
static void commit(struct fixture *f, uint64_t base, const struct blk_id *ids,
		   size_t count)
{
	uint8_t tag[BLK_MANIFEST_TAG_SIZE] = { 0 };
	struct blk_id *missing = NULL;
	struct blk_manifest m;
	struct srv_commit c;
	uint64_t version, seq;
	size_t nmissing = 0, i;
	struct cf_buf b;

	blk_manifest_init(&m);
	for (i = 0; i < count; i++)
		assert_int_equal(blk_manifest_add(&m, &ids[i], 100), 0);
	cf_buf_init(&b, 1 << 20);
	assert_int_equal(blk_manifest_encode(&m, &b), 0);
	memset(&c, 0, sizeof(c));
	c.node = f->file;
	c.base_version = base;
	c.size = m.file_size;
	c.manifest = (const uint8_t *)b.data;
	c.manifest_size = b.len;
	c.tag = tag;
	c.blocks = ids;
	c.block_count = count;
	assert_int_equal(f->meta->ops->commit(f->meta, f->user, &c, &version,
					      &seq, &missing, &nmissing),
			 0);
	assert_int_equal(version, base + 1);
	free(missing);
	cf_buf_release(&b);
	blk_manifest_release(&m);
}

static bool stored(struct fixture *f, const struct blk_id *id)
{
	uint64_t size;

	return srv_blocks_stat(f->bs, f->user, id, &size) == 0;
}

static bool indexed(struct fixture *f, const struct blk_id *id)
{
	uint64_t size;

	return f->meta->ops->block_has(f->meta, f->user, id, &size) == 0;
}

static void count_report(void *arg, int64_t user_id, const struct blk_id *id,
			 const char *what)
{
	struct fixture *f = arg;

	(void)user_id;
	(void)id;
	(void)what;
	f->reports++;
}

static void test_srv_gc__keeps_referenced_and_recent(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL);
	struct blk_id v1[2], v2[1], loose, fresh;
	struct srv_gc_stats st;

	add_block(f, 100, now - 1000, &v1[0]);
	add_block(f, 100, now - 1000, &v1[1]);
	add_block(f, 100, now - 1000, &v2[0]);
	add_block(f, 100, now - 1000, &loose); /* uploaded, never committed */
	commit(f, 0, v1, 2);
	commit(f, 1, v2, 1);

	/* Retention keeps version 1: only the loose block goes. */
	assert_int_equal(
		srv_gc_run(f->meta, f->bs, NULL, now, 30 * 86400, 60, &st), 0);
	assert_int_equal(st.removed, 1);
	assert_int_equal(st.bytes_removed, 100);
	assert_false(stored(f, &loose));
	assert_false(indexed(f, &loose));
	assert_true(stored(f, &v1[0]) && stored(f, &v1[1]));
	assert_true(stored(f, &v2[0]));

	/* Inside the grace period nothing unreferenced goes either. */
	add_block(f, 100, now, &fresh);
	assert_int_equal(
		srv_gc_run(f->meta, f->bs, NULL, now, 30 * 86400, 60, &st), 0);
	assert_int_equal(st.removed, 0);
	assert_true(stored(f, &fresh));

	/* Past retention, version 1's blocks go; the current one stays. */
	assert_int_equal(
		srv_gc_run(f->meta, f->bs, NULL, now + 100000, 0, 60, &st), 0);
	assert_true(st.versions_pruned >= 1);
	assert_false(stored(f, &v1[0]));
	assert_false(stored(f, &v1[1]));
	assert_false(stored(f, &fresh));
	assert_true(stored(f, &v2[0]));
	assert_true(indexed(f, &v2[0]));
}

static void test_srv_gc__reupload_wins(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL);
	struct srv_gc_stats st;
	struct blk_id id;
	bool is_new;

	add_block(f, 100, now - 1000, &id);
	/* A client just asked about it: its last_seen moves, gc keeps it. */
	assert_int_equal(f->meta->ops->blocks_missing(f->meta, f->user, &id, 1,
						      now, &is_new),
			 0);
	assert_false(is_new);
	assert_int_equal(srv_gc_run(f->meta, f->bs, NULL, now, 86400, 60, &st),
			 0);
	assert_int_equal(st.removed, 0);
	assert_true(stored(f, &id) && indexed(f, &id));
}

struct race {
	struct fixture *f;
	const struct blk_id *id;
};

/* The upload re-indexes the block while gc has it parked. */
static bool reindex_then_ask(void *arg)
{
	struct race *r = arg;
	uint64_t size;
	bool is_new;

	assert_int_equal(
		r->f->meta->ops->block_add(r->f->meta, r->f->user, r->id, 100,
					   (int64_t)time(NULL), &is_new),
		0);
	return r->f->meta->ops->block_has(r->f->meta, r->f->user, r->id,
					  &size) == 0;
}

static void test_srv_gc__racing_upload_keeps_block(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL);
	struct blk_id id;
	struct race r = { f, &id };

	add_block(f, 100, now - 1000, &id);
	/* gc forgot the row; before it removes the file, a client stores
	 * the same block again (the store finds the file) and indexes it */
	assert_int_equal(
		f->meta->ops->block_forget(f->meta, f->user, &id, now - 60), 0);
	assert_int_equal(srv_blocks_remove_unless(f->bs, f->user, &id,
						  reindex_then_ask, &r),
			 1);
	assert_true(stored(f, &id) && indexed(f, &id));
}

static void test_srv_gc__scrub_finds_corruption(void **state)
{
	struct fixture *f = *state;
	struct srv_scrub_stats st;
	struct blk_id id, other;
	char path[256], hex[BLK_ID_HEX_SIZE];
	uint8_t byte;
	int fd;

	add_block(f, 4000, 0, &id);
	add_block(f, 10, 0, &other);
	assert_int_equal(srv_scrub_run(f->bs, count_report, f, &st), 0);
	assert_int_equal(st.blocks, 2);
	assert_int_equal(st.bytes, 4010);
	assert_int_equal(st.corrupt, 0);
	assert_int_equal(f->reports, 0);

	blk_id_to_hex(&id, hex);
	snprintf(path, sizeof(path), "%s/blocks/%lld/%.2s/%s", f->dir,
		 (long long)f->user, hex, hex);
	/* flip a byte: random content holds any given byte 1 time in 256 */
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, 1234), 1);
	byte ^= 0xff;
	assert_int_equal(pwrite(fd, &byte, 1, 1234), 1);
	close(fd);
	assert_int_equal(srv_scrub_run(f->bs, count_report, f, &st), 0);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(f->reports, 1);
}

static void test_srv_gc__fsck(void **state)
{
	struct fixture *f = *state;
	struct srv_fsck_stats st;
	struct blk_id ids[2], orphan;
	uint8_t data[50];

	add_block(f, 100, 0, &ids[0]);
	add_block(f, 100, 0, &ids[1]);
	commit(f, 0, ids, 2);
	memset(data, 1, sizeof(data));
	assert_int_equal(blk_id_compute(data, sizeof(data), &orphan), 0);
	assert_int_equal(
		srv_blocks_put(f->bs, f->user, &orphan, data, sizeof(data)), 0);

	assert_int_equal(srv_fsck_run(f->meta, f->bs, count_report, f, &st), 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.indexed, 2);
	assert_int_equal(st.referenced, 2);
	assert_int_equal(st.stored, 3);
	assert_int_equal(st.orphans, 1);

	assert_int_equal(srv_blocks_remove(f->bs, f->user, &ids[1]), 0);
	assert_int_equal(srv_fsck_run(f->meta, f->bs, count_report, f, &st), 0);
	assert_int_equal(st.errors, 1);
	assert_int_equal(f->reports, 1);
}

/* Set the modification time of <blocks>/<user>/<id[0:2]>/<name>. */
static void age_file(struct fixture *f, const struct blk_id *id,
		     const char *name, int64_t when)
{
	char hex[BLK_ID_HEX_SIZE], path[512];
	struct timespec ts[2] = { { .tv_sec = when }, { .tv_sec = when } };

	blk_id_to_hex(id, hex);
	snprintf(path, sizeof(path), "%s/blocks/%lld/%.2s/%s", f->dir,
		 (long long)f->user, hex, name ? name : hex);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Store a block without indexing it, as an upload cut short does. */
static void store_only(struct fixture *f, unsigned seed, struct blk_id *id)
{
	uint8_t data[64];

	memset(data, (int)seed, sizeof(data));
	assert_int_equal(blk_id_compute(data, sizeof(data), id), 0);
	assert_int_equal(
		srv_blocks_put(f->bs, f->user, id, data, sizeof(data)), 0);
}

static void test_srv_gc__orphans_and_temp_files(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL);
	struct blk_id old_orphan, new_orphan, kept;
	struct srv_gc_stats st;
	char hex[BLK_ID_HEX_SIZE], path[512];
	int fd;

	add_block(f, 100, now - 1000, &kept);
	commit(f, 0, &kept, 1);
	age_file(f, &kept, NULL, now - 5000);
	store_only(f, 1, &old_orphan);
	age_file(f, &old_orphan, NULL, now - 5000);
	store_only(f, 2, &new_orphan); /* maybe an upload in flight */
	/* temp files a crash left, one old and one maybe still written */
	blk_id_to_hex(&kept, hex);
	snprintf(path, sizeof(path), "%s/blocks/%lld/%.2s/.tmp-1-%s", f->dir,
		 (long long)f->user, hex, hex);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), ".tmp-1-%s", hex);
	age_file(f, &kept, path, now - 5000);
	snprintf(path, sizeof(path), "%s/blocks/%lld/%.2s/.tmp-2-%s", f->dir,
		 (long long)f->user, hex, hex);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(
		srv_gc_run(f->meta, f->bs, NULL, now, 30 * 86400, 600, &st), 0);
	assert_int_equal(st.removed, 0);
	assert_int_equal(st.orphans_removed, 1);
	assert_int_equal(st.orphan_bytes, 64);
	assert_int_equal(st.temps_removed, 1);
	assert_false(stored(f, &old_orphan));
	assert_true(stored(f, &new_orphan));
	assert_true(stored(f, &kept) && indexed(f, &kept));
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/blocks/%lld/%.2s/.tmp-1-%s", f->dir,
		 (long long)f->user, hex, hex);
	assert_int_equal(access(path, F_OK), -1);

	/* an orphan indexed again (re-uploaded) stays, however old */
	age_file(f, &new_orphan, NULL, now - 5000);
	assert_int_equal(f->meta->ops->block_add(f->meta, f->user, &new_orphan,
						 64, now, NULL),
			 0);
	assert_int_equal(
		srv_gc_run(f->meta, f->bs, NULL, now, 30 * 86400, 600, &st), 0);
	assert_int_equal(st.orphans_removed, 0);
	assert_true(stored(f, &new_orphan));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_srv_gc__keeps_referenced_and_recent, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_srv_gc__reupload_wins,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_gc__racing_upload_keeps_block, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_gc__scrub_finds_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_gc__fsck, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_gc__orphans_and_temp_files, setup, teardown),
	};

	cf_log_setup("test_srv_gc", LOG_WARNING, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
