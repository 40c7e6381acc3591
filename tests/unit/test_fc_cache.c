/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fuse-client/fc_cache: ensure-present through a fake fetch
 * callback serving blocks from a table (and a failing one), shared fetches,
 * read-modify-write preparation, truncation, eviction that never touches
 * dirty, pinned or open files, and ENOSPC on a tiny tmpfs (root only).
 */
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fc_cache.h"
#include "fc_state.h"

#include "unit_fault.h"

#define CHUNK 4096u
#define NCHUNKS 8

struct fake {
	pthread_mutex_t lock;
	int calls;
	int fail;          /* errno to return, 0 = serve */
	unsigned delay_us;
	int active, max_active; /* fetches running at once */
};

struct fx {
	char dir[64];
	char cache_dir[96];
	char db[96];
	struct fc_state *st;
	struct fc_cache *c;
	struct fake fake;
	int64_t ino;
	uint8_t id[FC_ID_SIZE];
	int fd;
	bool tmpfs;
};

/* Chunk i of the test file: bytes derived from i. */
static void chunk_bytes(uint32_t i, uint8_t *out, uint32_t size)
{
	uint32_t k;

	for (k = 0; k < size; k++)
		out[k] = (uint8_t)(i * 31 + k * 7);
}

static int fake_fetch(void *arg, const struct blk_id *id, uint32_t size,
		      uint8_t *out)
{
	struct fake *f = arg;
	int fail;

	pthread_mutex_lock(&f->lock);
	f->calls++;
	fail = f->fail;
	if (++f->active > f->max_active)
		f->max_active = f->active;
	pthread_mutex_unlock(&f->lock);
	if (f->delay_us)
		usleep(f->delay_us);
	pthread_mutex_lock(&f->lock);
	f->active--;
	pthread_mutex_unlock(&f->lock);
	if (fail)
		return -fail;
	chunk_bytes(id->bytes[0], out, size);
	return 0;
}

static int calls(struct fx *f)
{
	int n;

	pthread_mutex_lock(&f->fake.lock);
	n = f->fake.calls;
	f->fake.calls = 0;
	pthread_mutex_unlock(&f->fake.lock);
	return n;
}

/* A committed file of NCHUNKS chunks, all evicted: nothing is present. */
static void make_remote_file(struct fx *f, const char *name, int64_t *ino,
			     uint8_t id[FC_ID_SIZE])
{
	struct fc_create req = { 0 };
	struct fc_write_summary w = { 0 };
	struct blk_manifest m;
	struct fc_op ops[8];
	struct fc_upload u;
	struct fc_node n;
	struct blk_id bid;
	size_t count, i;
	int64_t next;

	req.parent = FC_ROOT_INO;
	req.name = name;
	req.name_len = strlen(name);
	req.kind = FC_KIND_FILE;
	req.mode = 0644;
	req.writing = true;
	assert_int_equal(fc_state_create(f->st, &req, &n), 0);
	w.size = (uint64_t)CHUNK * NCHUNKS;
	w.hi = w.size;
	assert_int_equal(fc_state_write_done(f->st, n.ino, &w, 0, false), 0);
	do {
		assert_int_equal(fc_state_op_peek(f->st, 1, ops, 8, &count),
				 0);
		for (i = 0; i < count; i++)
			assert_int_equal(
				fc_state_op_done(f->st, ops[i].seq, NULL), 0);
	} while (count);
	assert_int_equal(fc_state_upload_claim(f->st, 1, &u, &next), 0);
	blk_manifest_init(&m);
	for (i = 0; i < NCHUNKS; i++) {
		memset(&bid, 0, sizeof(bid));
		bid.bytes[0] = (uint8_t)i;
		bid.bytes[1] = 0xcc;
		assert_int_equal(blk_manifest_add(&m, &bid, CHUNK), 0);
	}
	assert_int_equal(fc_state_upload_done(f->st, &u, 1, &m, NULL), 0);
	blk_manifest_release(&m);
	assert_int_equal(fc_state_evict_node(f->st, n.ino), 0);
	*ino = n.ino;
	memcpy(id, n.id, FC_ID_SIZE);
}

static int setup_common(void **state, bool tmpfs)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct fc_cache_opts o = { 0 };

	assert_non_null(f);
	pthread_mutex_init(&f->fake.lock, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_fc_cache.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cache_dir, sizeof(f->cache_dir), "%s/cache", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	if (tmpfs) {
		assert_int_equal(mkdir(f->cache_dir, 0700), 0);
		if (mount("tmpfs", f->cache_dir, "tmpfs", 0, "size=2m") < 0) {
			free(f);
			return -1;
		}
		f->tmpfs = true;
	}
	assert_int_equal(fc_state_open(f->db, 0, 0, &f->st), 0);
	o.dir = f->cache_dir;
	o.limit = 1u << 20;
	o.fetch = fake_fetch;
	o.fetch_arg = &f->fake;
	o.readahead = 2 * CHUNK;
	assert_int_equal(fc_cache_open(&o, f->st, &f->c), 0);
	make_remote_file(f, "f", &f->ino, f->id);
	assert_int_equal(fc_cache_file_open(f->c, f->id, true, &f->fd), 0);
	assert_int_equal(ftruncate(f->fd, (off_t)CHUNK * NCHUNKS), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_common(state, false);
}

static int setup_tmpfs(void **state)
{
	if (geteuid() != 0)
		return -1;
	return setup_common(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	close(f->fd);
	fc_cache_close(f->c);
	fc_state_close(f->st);
	if (f->tmpfs)
		umount2(f->cache_dir, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	pthread_mutex_destroy(&f->fake.lock);
	free(f);
	return 0;
}

static void assert_chunk_in_file(struct fx *f, uint32_t i)
{
	uint8_t want[CHUNK], got[CHUNK];

	chunk_bytes(i, want, CHUNK);
	assert_int_equal(pread(f->fd, got, CHUNK, (off_t)i * CHUNK), CHUNK);
	assert_memory_equal(got, want, CHUNK);
}

static uint64_t missing(struct fx *f)
{
	uint64_t n;

	assert_int_equal(fc_state_missing_count(f->st, f->ino, &n), 0);
	return n;
}

static void test_fc_cache__ensure_fetches_only_missing(void **state)
{
	struct fx *f = *state;

	assert_int_equal(missing(f), NCHUNKS);
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, CHUNK + 10,
					 CHUNK, fake_fetch, &f->fake),
			 0);
	assert_int_equal(calls(f), 2);
	assert_chunk_in_file(f, 1);
	assert_chunk_in_file(f, 2);
	assert_int_equal(missing(f), NCHUNKS - 2);
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, CHUNK, 2 * CHUNK,
					 fake_fetch, &f->fake),
			 0);
	assert_int_equal(calls(f), 0);
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0,
					 NCHUNKS * CHUNK, fake_fetch, &f->fake),
			 0);
	assert_true(fc_cache_used(f->c) >= 2 * CHUNK);
}

static void test_fc_cache__failed_fetch_is_eio(void **state)
{
	struct fx *f = *state;

	f->fake.fail = EBADMSG;
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0, 10,
					 fake_fetch, &f->fake),
			 -EIO);
	assert_int_equal(missing(f), NCHUNKS);
	f->fake.fail = ETIMEDOUT;
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0, 10,
					 fake_fetch, &f->fake),
			 -ETIMEDOUT);
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0, 10, NULL,
					 NULL),
			 -ENOTCONN);
	f->fake.fail = 0;
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0, 10,
					 fake_fetch, &f->fake),
			 0);
	assert_chunk_in_file(f, 0);
}

struct racer {
	struct fx *f;
	int rc;
};

static void *race_main(void *arg)
{
	struct racer *r = arg;

	r->rc = fc_cache_ensure(r->f->c, r->f->ino, r->f->fd, 0, CHUNK,
				fake_fetch, &r->f->fake);
	return NULL;
}

static void test_fc_cache__concurrent_readers_share_a_fetch(void **state)
{
	struct fx *f = *state;
	struct racer r[4];
	pthread_t t[4];
	int i;

	f->fake.delay_us = 100000;
	for (i = 0; i < 4; i++) {
		r[i].f = f;
		assert_int_equal(pthread_create(&t[i], NULL, race_main, &r[i]),
				 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].rc, 0);
	}
	assert_int_equal(calls(f), 1);
	assert_chunk_in_file(f, 0);
}

static void test_fc_cache__prepare_write(void **state)
{
	struct fx *f = *state;
	struct fc_chunk *ch;
	size_t n;

	/* partly covering chunk 0, wholly covering 1: fetch 0 only */
	assert_int_equal(fc_cache_prepare_write(f->c, f->ino, f->fd, 100,
						2 * CHUNK - 100, fake_fetch,
						&f->fake),
			 0);
	assert_int_equal(calls(f), 1);
	assert_chunk_in_file(f, 0);
	assert_int_equal(fc_state_chunks(f->st, f->ino, 0, 2 * CHUNK, &ch, &n),
			 0);
	assert_int_equal(n, 2);
	assert_true(ch[0].present);
	assert_true(ch[1].present);
	free(ch);
	/* a late fetch of chunk 1 must not overwrite the writer's bytes */
	assert_int_equal(pwrite(f->fd, "WRITER", 6, CHUNK), 6);
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, CHUNK, CHUNK,
					 fake_fetch, &f->fake),
			 0);
	assert_int_equal(calls(f), 0);
	{
		char buf[6];

		assert_int_equal(pread(f->fd, buf, 6, CHUNK), 6);
		assert_memory_equal(buf, "WRITER", 6);
	}
	/* beyond the manifest: nothing to do */
	assert_int_equal(fc_cache_prepare_write(f->c, f->ino, f->fd,
						NCHUNKS * CHUNK, 100,
						fake_fetch, &f->fake),
			 0);
	assert_int_equal(calls(f), 0);
}

static void test_fc_cache__truncate(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	uint8_t buf[16];

	/* shrinking into chunk 2 fetches it first */
	assert_int_equal(fc_cache_truncate(f->c, f->ino, f->fd,
					   NCHUNKS * CHUNK,
					   2 * CHUNK + 100, fake_fetch,
					   &f->fake),
			 0);
	assert_int_equal(calls(f), 1);
	assert_int_equal(fstat(f->fd, &sb), 0);
	assert_int_equal(sb.st_size, 2 * CHUNK + 100);
	/* growing again reads zeros past the old end */
	assert_int_equal(fc_cache_truncate(f->c, f->ino, f->fd,
					   2 * CHUNK + 50, 3 * CHUNK,
					   fake_fetch, &f->fake),
			 0);
	assert_int_equal(pread(f->fd, buf, 16, 2 * CHUNK + 50), 16);
	assert_true(buf[0] == 0 && buf[15] == 0);
}

static void test_fc_cache__eviction_spares_dirty_pinned_open(void **state)
{
	struct fx *f = *state;
	struct fc_write_summary w = { 0 };
	uint64_t used;

	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0,
					 NCHUNKS * CHUNK, fake_fetch, &f->fake),
			 0);
	assert_int_equal(missing(f), 0);
	used = fc_cache_used(f->c);
	assert_true(used >= NCHUNKS * CHUNK);
	/* open: kept */
	fc_cache_hold(f->c, f->ino);
	assert_int_equal(fc_cache_evict(f->c, 0), 0);
	assert_int_equal(missing(f), 0);
	fc_cache_unhold(f->c, f->ino);
	/* pinned: kept */
	assert_int_equal(fc_cache_pin(f->c, f->ino, true), 0);
	assert_int_equal(fc_cache_evict(f->c, 0), 0);
	assert_int_equal(missing(f), 0);
	assert_int_equal(fc_cache_pin(f->c, f->ino, false), 0);
	/* dirty: kept */
	assert_int_equal(fc_state_write_begin(f->st, f->ino), 0);
	assert_int_equal(fc_cache_evict(f->c, 0), 0);
	assert_int_equal(missing(f), 0);
	w.size = NCHUNKS * CHUNK;
	assert_int_equal(fc_state_write_done(f->st, f->ino, &w, 0, false), 0);
	assert_int_equal(fc_cache_evict(f->c, 0), 0);
	assert_int_equal(missing(f), 0);
}

static void test_fc_cache__eviction_frees_clean(void **state)
{
	struct fx *f = *state;
	struct stat sb;

	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0,
					 NCHUNKS * CHUNK, fake_fetch, &f->fake),
			 0);
	calls(f);
	assert_true(fc_cache_evict(f->c, 0) >= NCHUNKS * CHUNK);
	assert_int_equal(missing(f), NCHUNKS);
	assert_int_equal(fstat(f->fd, &sb), 0);
	assert_int_equal(sb.st_size, NCHUNKS * CHUNK);
	assert_true(sb.st_blocks == 0);
	/* and it comes back on demand */
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 5 * CHUNK, 1,
					 fake_fetch, &f->fake),
			 0);
	assert_int_equal(calls(f), 1);
	assert_chunk_in_file(f, 5);
}

static void test_fc_cache__pin_downloads_in_background(void **state)
{
	struct fx *f = *state;
	int i;

	assert_int_equal(fc_cache_pin(f->c, f->ino, true), 0);
	for (i = 0; i < 200 && missing(f); i++)
		usleep(10000);
	assert_int_equal(missing(f), 0);
	assert_chunk_in_file(f, NCHUNKS - 1);
	calls(f);
	fc_cache_readahead(f->c, f->ino, 0); /* nothing missing: no fetch */
	usleep(50000);
	assert_int_equal(calls(f), 0);
}

static void test_fc_cache__readahead_fetches_in_parallel(void **state)
{
	struct fx *f = *state;
	int i;

	f->fake.delay_us = 200000;
	/* window: chunks 1 and 2; the reader calls again a quarter on */
	assert_int_equal(fc_cache_readahead(f->c, f->ino, CHUNK),
			 CHUNK + 2 * CHUNK / 4);
	for (i = 0; i < 300 && missing(f) > NCHUNKS - 2; i++)
		usleep(10000);
	assert_int_equal(missing(f), NCHUNKS - 2);
	assert_chunk_in_file(f, 1);
	assert_chunk_in_file(f, 2);
	assert_int_equal(calls(f), 2);
	pthread_mutex_lock(&f->fake.lock);
	assert_int_equal(f->fake.max_active, 2);
	pthread_mutex_unlock(&f->fake.lock);
}

static void test_fc_cache__file_open_remove(void **state)
{
	struct fx *f = *state;
	uint8_t id[FC_ID_SIZE];
	struct cf_buf p;
	int fd;

	memset(id, 0xab, sizeof(id));
	assert_int_equal(fc_cache_file_open(f->c, id, false, &fd), -ENOENT);
	assert_int_equal(fc_cache_file_open(f->c, id, true, &fd), 0);
	close(fd);
	cf_buf_init(&p, 4096);
	assert_int_equal(fc_cache_file_path(f->c, id, &p), 0);
	assert_non_null(strstr(p.data, "/ab/abababab"));
	assert_int_equal(access(p.data, F_OK), 0);
	assert_int_equal(fc_cache_file_remove(f->c, id), 0);
	assert_int_equal(access(p.data, F_OK), -1);
	assert_int_equal(fc_cache_file_remove(f->c, id), 0);
	cf_buf_release(&p);
}

static void test_fc_cache__enospc(void **state)
{
	struct fx *f = *state;
	uint8_t *big = calloc(1, 3u << 20);
	uint64_t total, avail;

	assert_non_null(big);
	assert_int_equal(fc_cache_disk_space(f->c, &total, &avail), 0);
	assert_true(total <= 2u << 20);
	/* a write larger than the disk fails cleanly */
	assert_int_equal(fc_cache_pwrite(f->c, f->fd, big, 3u << 20, 0),
			 -ENOSPC);
	/* evictable data makes room for a write that fits once it goes */
	assert_int_equal(ftruncate(f->fd, NCHUNKS * CHUNK), 0);
	assert_int_equal(fc_state_evict_node(f->st, f->ino), 0);
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0,
					 NCHUNKS * CHUNK, fake_fetch, &f->fake),
			 0);
	{
		uint8_t id[FC_ID_SIZE];
		int fd2;

		memset(id, 0x11, sizeof(id));
		assert_int_equal(fc_cache_file_open(f->c, id, true, &fd2), 0);
		/* fill the disk to leave less than the evictable file */
		assert_int_equal(fc_cache_pwrite(f->c, fd2, big,
						 (2u << 20) -
							 (NCHUNKS + 3) * CHUNK,
						 0),
				 0);
		assert_int_equal(missing(f), 0);
		assert_int_equal(fc_cache_pwrite(f->c, fd2, big, 4 * CHUNK,
						 (2u << 20)),
				 0);
		assert_int_equal(missing(f), NCHUNKS);
		close(fd2);
	}
	free(big);
}

/* One pass over the cache API on the fixture; the first failure, or 0. */
static int fault_pass(struct fx *f)
{
	struct fc_cache_opts o = { 0 };
	struct fc_cache *c = NULL;
	uint8_t id[FC_ID_SIZE];
	int fd = -1, rc;

	o.dir = f->cache_dir;
	o.limit = 1u << 20;
	o.fetch = fake_fetch;
	o.fetch_arg = &f->fake;
	rc = fc_cache_open(&o, f->st, &c);
	if (rc < 0)
		return rc;
	fc_cache_hold(c, f->ino);
	fc_cache_touch(c, f->ino);
	rc = fc_cache_ensure(c, f->ino, f->fd, 0, 2 * CHUNK, fake_fetch,
			     &f->fake);
	if (rc == 0)
		rc = fc_cache_prepare_write(c, f->ino, f->fd, CHUNK * 3 + 5,
					    CHUNK * 2, fake_fetch, &f->fake);
	if (rc == 0)
		rc = fc_cache_truncate(c, f->ino, f->fd, NCHUNKS * CHUNK,
				       NCHUNKS * CHUNK - 10, fake_fetch,
				       &f->fake);
	fc_cache_unhold(c, f->ino);
	memset(id, 0x5a, sizeof(id));
	if (rc == 0)
		rc = fc_cache_file_open(c, id, true, &fd);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && fc_cache_evict(c, 0) < 0)
		rc = -ENOMEM;
	fc_cache_close(c);
	return rc;
}

static void test_fc_cache__allocation_failures(void **state)
{
	struct fx *f = *state;
	unsigned long k;
	int rc;

	for (k = 1; k < 10000; k++) {
		/* start each pass from nothing cached */
		assert_int_equal(fc_state_evict_node(f->st, f->ino), 0);
		assert_int_equal(ftruncate(f->fd, 0), 0);
		assert_int_equal(ftruncate(f->fd, NCHUNKS * CHUNK), 0);
		fault_arm(k);
		rc = fault_pass(f);
		fault_disarm();
		/* fetch failures surface as -ENOMEM too (the fake is fine) */
		FAULT_OK(rc);
		if (!fault_failed) {
			assert_int_equal(rc, 0);
			break;
		}
	}
	assert_true(k > 3);
}

/*
 * A fetch that meets a full disk evicts to make room, with no node lock
 * held: evicting a node whose lock stripe is the fetching node's own
 * (ino 2 and ino 66 of 64 stripes) once deadlocked.
 */
static void test_fc_cache__enospc_fetch_evicts_same_stripe(void **state)
{
	struct fx *f = *state;
	struct fc_create req = { 0 };
	uint8_t *big = calloc(1, 2u << 20);
	uint8_t gid[FC_ID_SIZE], id[FC_ID_SIZE];
	struct fc_node n;
	char name[16];
	int64_t g = 0;
	int gfd, fd2, i;

	assert_non_null(big);
	req.parent = FC_ROOT_INO;
	req.kind = FC_KIND_DIR;
	req.mode = 0755;
	for (i = 0; i < 200 && g == 0; i++) {
		snprintf(name, sizeof(name), "pad%d", i);
		req.name = name;
		req.name_len = strlen(name);
		assert_int_equal(fc_state_create(f->st, &req, &n), 0);
		if ((n.ino + 1) % 64 == f->ino % 64)
			make_remote_file(f, "g", &g, gid);
	}
	assert_int_equal(g % 64, f->ino % 64);
	/* f cached, the rest of the disk full */
	assert_int_equal(fc_cache_ensure(f->c, f->ino, f->fd, 0,
					 NCHUNKS * CHUNK, fake_fetch, &f->fake),
			 0);
	memset(id, 0x22, sizeof(id));
	assert_int_equal(fc_cache_file_open(f->c, id, true, &fd2), 0);
	assert_int_equal(fc_cache_pwrite(f->c, fd2, big,
					 (2u << 20) - (NCHUNKS + 1) * CHUNK, 0),
			 0);
	assert_int_equal(fc_cache_file_open(f->c, gid, true, &gfd), 0);
	assert_int_equal(ftruncate(gfd, NCHUNKS * CHUNK), 0);
	/* two chunks of g do not fit until f goes */
	assert_int_equal(fc_cache_ensure(f->c, g, gfd, 0, 3 * CHUNK,
					 fake_fetch, &f->fake),
			 0);
	assert_int_equal(missing(f), NCHUNKS);
	close(gfd);
	close(fd2);
	free(big);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fc_cache__ensure_fetches_only_missing),
		T(test_fc_cache__failed_fetch_is_eio),
		T(test_fc_cache__concurrent_readers_share_a_fetch),
		T(test_fc_cache__prepare_write),
		T(test_fc_cache__truncate),
		T(test_fc_cache__eviction_spares_dirty_pinned_open),
		T(test_fc_cache__eviction_frees_clean),
		T(test_fc_cache__pin_downloads_in_background),
		T(test_fc_cache__readahead_fetches_in_parallel),
		T(test_fc_cache__file_open_remove),
		T(test_fc_cache__allocation_failures),
		cmocka_unit_test_setup_teardown(test_fc_cache__enospc,
						setup_tmpfs, teardown),
		cmocka_unit_test_setup_teardown(
			test_fc_cache__enospc_fetch_evicts_same_stripe,
			setup_tmpfs, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
