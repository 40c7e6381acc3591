/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fuse-client/fc_state: the tree ops and their errnos, link
 * counts, the outbox order and its rename after a create met a taken
 * name, the upload queue (claim, done, the generation
 * race, failure), chunk rows and feed apply, each on a fresh database in
 * a temp directory; when commits wait for the disk (unit_syscount.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cf_thread.h"
#include "fc_state.h"
#include "fc_state_int.h"

#include "unit_fault.h"
#include "unit_syscount.h"

struct fx {
	char dir[64];
	char path[96];
	struct fc_state *st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_fc_state.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	assert_int_equal(fc_state_open(f->path, 1000, 1000, &f->st), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	fc_state_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int64_t mk(struct fc_state *st, int64_t parent, const char *name,
		  enum fc_kind kind, int expect)
{
	struct fc_create req = { 0 };
	struct fc_node n;

	req.parent = parent;
	req.name = name;
	req.name_len = strlen(name);
	req.kind = kind;
	req.mode = kind == FC_KIND_DIR ? 0755 : 0644;
	req.uid = 1000;
	req.gid = 1000;
	req.now_ns = 1000;
	req.due_ns = 5;
	if (kind == FC_KIND_SYMLINK) {
		req.target = "some/where";
		req.target_len = 10;
	}
	assert_int_equal(fc_state_create(st, &req, &n), expect);
	return expect == 0 ? n.ino : 0;
}

static struct fc_node get(struct fc_state *st, int64_t ino)
{
	struct fc_node n;

	assert_int_equal(fc_state_getattr(st, ino, &n), 0);
	return n;
}

/* Drain the outbox: the kinds in order, marking each done. */
static size_t drain(struct fc_state *st, enum fc_op_kind *kinds, size_t max)
{
	struct fc_op ops[16];
	size_t n, i, total = 0;

	for (;;) {
		assert_int_equal(fc_state_op_peek(st, 1, ops, 16, &n), 0);
		if (!n)
			break;
		for (i = 0; i < n; i++) {
			if (total < max)
				kinds[total] = ops[i].kind;
			total++;
			assert_int_equal(fc_state_op_done(st, ops[i].seq, NULL),
					 0);
		}
	}
	return total;
}

static void test_fc_state__root_exists(void **state)
{
	struct fx *f = *state;
	struct fc_node n = get(f->st, FC_ROOT_INO);
	static const uint8_t zero[FC_ID_SIZE];

	assert_int_equal(n.kind, FC_KIND_DIR);
	assert_int_equal(n.nlink, 2);
	assert_int_equal(n.uid, 1000);
	assert_memory_equal(n.id, zero, FC_ID_SIZE);
	/* reopen keeps it, does not duplicate it */
	fc_state_close(f->st);
	assert_int_equal(fc_state_open(f->path, 0, 0, &f->st), 0);
	n = get(f->st, FC_ROOT_INO);
	assert_int_equal(n.uid, 1000);
}

static void test_fc_state__create_lookup_errnos(void **state)
{
	struct fx *f = *state;
	char longname[300];
	struct fc_node n;
	int64_t d, file;

	d = mk(f->st, FC_ROOT_INO, "d", FC_KIND_DIR, 0);
	file = mk(f->st, d, "f", FC_KIND_FILE, 0);
	mk(f->st, d, "f", FC_KIND_FILE, -EEXIST);
	mk(f->st, file, "x", FC_KIND_FILE, -ENOTDIR);
	mk(f->st, 9999, "x", FC_KIND_FILE, -ENOENT);
	mk(f->st, d, "a/b", FC_KIND_FILE, -EINVAL);
	mk(f->st, d, "..", FC_KIND_FILE, -EINVAL);
	memset(longname, 'a', sizeof(longname));
	longname[256] = '\0';
	mk(f->st, d, longname, FC_KIND_FILE, -ENAMETOOLONG);
	longname[255] = '\0';
	mk(f->st, d, longname, FC_KIND_FILE, 0);

	assert_int_equal(fc_state_lookup(f->st, d, "f", 1, &n), 0);
	assert_int_equal(n.ino, file);
	assert_int_equal(n.kind, FC_KIND_FILE);
	assert_true(n.dirty);
	assert_false(n.pushed);
	assert_int_equal(fc_state_lookup(f->st, d, "g", 1, &n), -ENOENT);
	assert_int_equal(fc_state_lookup(f->st, file, "g", 1, &n), -ENOTDIR);
	assert_int_equal(get(f->st, FC_ROOT_INO).nlink, 3);
	assert_int_equal(get(f->st, d).mtime_ns, 1000);
}

static void test_fc_state__symlink_and_special(void **state)
{
	struct fx *f = *state;
	struct fc_create req = { 0 };
	struct cf_buf b;
	struct fc_node n;
	int64_t l;

	l = mk(f->st, FC_ROOT_INO, "l", FC_KIND_SYMLINK, 0);
	cf_buf_init(&b, 8192);
	assert_int_equal(fc_state_readlink(f->st, l, &b), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "some/where", 10);
	assert_int_equal(get(f->st, l).size, 10);
	assert_int_equal(fc_state_readlink(f->st, FC_ROOT_INO, &b), -EINVAL);
	cf_buf_release(&b);

	req.parent = FC_ROOT_INO;
	req.name = "dev";
	req.name_len = 3;
	req.kind = FC_KIND_CHR;
	req.mode = 0600;
	req.rdev = 0x0103;
	assert_int_equal(fc_state_create(f->st, &req, &n), 0);
	assert_int_equal(n.rdev, 0x0103);
	req.name = "s";
	req.name_len = 1;
	req.kind = FC_KIND_SYMLINK; /* without a target */
	assert_int_equal(fc_state_create(f->st, &req, &n), -EINVAL);
}

static void test_fc_state__links_and_unlink(void **state)
{
	struct fx *f = *state;
	struct fc_node n;
	int64_t d, file, sub;

	d = mk(f->st, FC_ROOT_INO, "d", FC_KIND_DIR, 0);
	file = mk(f->st, d, "f", FC_KIND_FILE, 0);
	assert_int_equal(fc_state_link(f->st, file, FC_ROOT_INO, "g", 1, 7,
				       &n),
			 0);
	assert_int_equal(n.nlink, 2);
	assert_int_equal(n.ctime_ns, 7);
	assert_int_equal(fc_state_link(f->st, file, FC_ROOT_INO, "g", 1, 7,
				       &n),
			 -EEXIST);
	assert_int_equal(fc_state_link(f->st, d, FC_ROOT_INO, "dd", 2, 7, &n),
			 -EPERM);
	sub = mk(f->st, d, "sub", FC_KIND_DIR, 0);
	assert_int_equal(get(f->st, d).nlink, 3);

	assert_int_equal(fc_state_unlink(f->st, d, "sub", 3, false, 8, &n),
			 -EISDIR);
	assert_int_equal(fc_state_unlink(f->st, d, "f", 1, true, 8, &n),
			 -ENOTDIR);
	assert_int_equal(fc_state_unlink(f->st, FC_ROOT_INO, "d", 1, true, 8,
					 &n),
			 -ENOTEMPTY);
	assert_int_equal(fc_state_unlink(f->st, d, "nope", 4, false, 8, &n),
			 -ENOENT);
	assert_int_equal(fc_state_unlink(f->st, d, "f", 1, false, 8, &n), 0);
	assert_int_equal(n.nlink, 1);
	assert_int_equal(fc_state_unlink(f->st, FC_ROOT_INO, "g", 1, false, 9,
					 &n),
			 0);
	assert_int_equal(n.nlink, 0);
	/* the row stays for open handles until dropped */
	assert_int_equal(get(f->st, file).nlink, 0);
	assert_int_equal(fc_state_unlink(f->st, d, "sub", 3, true, 9, &n), 0);
	assert_int_equal(get(f->st, d).nlink, 2);
	assert_int_equal(get(f->st, sub).nlink, 0);
	/* creating in a removed directory fails */
	mk(f->st, sub, "x", FC_KIND_FILE, -ENOENT);
	assert_int_equal(fc_state_node_drop(f->st, file), 0);
	assert_int_equal(fc_state_getattr(f->st, file, &n), -ENOENT);
	assert_int_equal(fc_state_node_drop(f->st, d), -EBUSY);
}

static void test_fc_state__rename(void **state)
{
	struct fx *f = *state;
	struct fc_node n, rep;
	int64_t a, b, x, y, e;

	a = mk(f->st, FC_ROOT_INO, "a", FC_KIND_DIR, 0);
	b = mk(f->st, FC_ROOT_INO, "b", FC_KIND_DIR, 0);
	x = mk(f->st, a, "x", FC_KIND_FILE, 0);
	y = mk(f->st, b, "y", FC_KIND_FILE, 0);
	/* over an existing file: y is replaced */
	assert_int_equal(fc_state_rename(f->st, a, "x", 1, b, "y", 1, 0, 20,
					 &rep),
			 0);
	assert_int_equal(rep.ino, y);
	assert_int_equal(rep.nlink, 0);
	assert_int_equal(fc_state_lookup(f->st, b, "y", 1, &n), 0);
	assert_int_equal(n.ino, x);
	assert_int_equal(n.ctime_ns, 20);
	assert_int_equal(fc_state_lookup(f->st, a, "x", 1, &n), -ENOENT);
	/* noreplace */
	mk(f->st, a, "z", FC_KIND_FILE, 0);
	assert_int_equal(fc_state_rename(f->st, a, "z", 1, b, "y", 1,
					 FC_RENAME_NOREPLACE, 21, &rep),
			 -EEXIST);
	/* exchange swaps */
	assert_int_equal(fc_state_rename(f->st, a, "z", 1, b, "y", 1,
					 FC_RENAME_EXCHANGE, 22, &rep),
			 0);
	assert_int_equal(fc_state_lookup(f->st, a, "z", 1, &n), 0);
	assert_int_equal(n.ino, x);
	/* directory moves: link counts, no move under itself */
	assert_int_equal(fc_state_rename(f->st, FC_ROOT_INO, "a", 1, b, "a", 1,
					 0, 23, &rep),
			 0);
	assert_int_equal(get(f->st, b).nlink, 3);
	assert_int_equal(get(f->st, FC_ROOT_INO).nlink, 3);
	assert_int_equal(fc_state_rename(f->st, FC_ROOT_INO, "b", 1, a, "b", 1,
					 0, 24, &rep),
			 -EINVAL);
	/* dir over non-empty dir, dir over file, file over dir */
	e = mk(f->st, FC_ROOT_INO, "e", FC_KIND_DIR, 0);
	(void)e;
	assert_int_equal(fc_state_rename(f->st, FC_ROOT_INO, "e", 1,
					 FC_ROOT_INO, "b", 1, 0, 25, &rep),
			 -ENOTEMPTY);
	assert_int_equal(fc_state_rename(f->st, FC_ROOT_INO, "e", 1, a, "z", 1,
					 0, 25, &rep),
			 -ENOTDIR);
	assert_int_equal(fc_state_rename(f->st, a, "z", 1, FC_ROOT_INO, "e", 1,
					 0, 25, &rep),
			 -EISDIR);
	/* dir over empty dir */
	mk(f->st, FC_ROOT_INO, "f", FC_KIND_DIR, 0);
	assert_int_equal(get(f->st, FC_ROOT_INO).nlink, 5);
	assert_int_equal(fc_state_rename(f->st, FC_ROOT_INO, "e", 1,
					 FC_ROOT_INO, "f", 1, 0, 26, &rep),
			 0);
	assert_int_equal(get(f->st, FC_ROOT_INO).nlink, 4);
	/* same node: no-op */
	assert_int_equal(fc_state_link(f->st, x, a, "x2", 2, 27, &n), 0);
	assert_int_equal(fc_state_rename(f->st, a, "z", 1, a, "x2", 2, 0, 28,
					 &rep),
			 0);
	assert_int_equal(rep.ino, 0);
	assert_int_equal(get(f->st, x).nlink, 2);
	assert_int_equal(fc_state_rename(f->st, a, "q", 1, a, "r", 1, 0, 28,
					 &rep),
			 -ENOENT);
	assert_int_equal(fc_state_rename(f->st, a, "z", 1, a, "r", 1,
					 FC_RENAME_EXCHANGE, 28, &rep),
			 -ENOENT);
}

static void test_fc_state__setattr(void **state)
{
	struct fx *f = *state;
	struct fc_setattr a = { 0 };
	struct fc_node n;
	int64_t file, d;

	file = mk(f->st, FC_ROOT_INO, "f", FC_KIND_FILE, 0);
	d = mk(f->st, FC_ROOT_INO, "d", FC_KIND_DIR, 0);
	a.flags = FC_SET_MODE | FC_SET_UID | FC_SET_MTIME;
	a.mode = 04751;
	a.uid = 5;
	a.mtime_ns = 77;
	a.now_ns = 88;
	assert_int_equal(fc_state_setattr(f->st, file, &a, &n), 0);
	assert_int_equal(n.mode, 04751);
	assert_int_equal(n.uid, 5);
	assert_int_equal(n.mtime_ns, 77);
	assert_int_equal(n.ctime_ns, 88);
	a.flags = FC_SET_SIZE;
	a.size = BLK_FILE_SIZE_MAX + 1;
	assert_int_equal(fc_state_setattr(f->st, file, &a, &n), -EFBIG);
	a.size = 1000;
	assert_int_equal(fc_state_setattr(f->st, file, &a, &n), 0);
	assert_int_equal(n.size, 1000);
	assert_int_equal(fc_state_setattr(f->st, d, &a, &n), -EISDIR);
	assert_int_equal(fc_state_setattr(f->st, 4242, &a, &n), -ENOENT);
}

static void test_fc_state__outbox_order(void **state)
{
	struct fx *f = *state;
	enum fc_op_kind k[16];
	struct fc_setattr a = { 0 };
	struct fc_op ops[4];
	struct fc_node n;
	size_t count;
	int64_t d, file, due = INT64_MAX;
	uint64_t pending, failed;

	d = mk(f->st, FC_ROOT_INO, "d", FC_KIND_DIR, 0);
	file = mk(f->st, d, "f", FC_KIND_FILE, 0);
	assert_int_equal(fc_state_link(f->st, file, d, "g", 1, 1, &n), 0);
	assert_int_equal(fc_state_rename(f->st, d, "g", 1, FC_ROOT_INO, "h", 1,
					 0, 2, NULL),
			 0);
	a.flags = FC_SET_MODE;
	a.mode = 0600;
	assert_int_equal(fc_state_setattr(f->st, file, &a, NULL), 0);
	assert_int_equal(fc_state_unlink(f->st, FC_ROOT_INO, "h", 1, false, 3,
					 NULL),
			 0);
	/* peek keeps order and content */
	assert_int_equal(fc_state_op_peek(f->st, 1, ops, 2, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(ops[0].kind, FC_OP_CREATE);
	assert_int_equal(ops[0].node_kind, FC_KIND_DIR);
	assert_string_equal(ops[0].name, "d");
	assert_int_equal(ops[1].kind, FC_OP_CREATE);
	assert_true(ops[0].seq < ops[1].seq);
	/* a retry holds the line */
	assert_int_equal(fc_state_op_retry(f->st, ops[0].seq, -EIO, 100), 0);
	assert_int_equal(fc_state_op_peek(f->st, 50, ops, 4, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(fc_state_op_peek(f->st, 100, ops, 4, &count), 0);
	assert_int_equal(count, 4);
	assert_int_equal(ops[0].attempts, 1);
	assert_int_equal(ops[2].kind, FC_OP_LINK);
	assert_int_equal(ops[3].kind, FC_OP_RENAME);
	assert_string_equal(ops[3].name, "g");
	assert_string_equal(ops[3].name2, "h");
	/* done on a create marks the node pushed and tells when a file's
	 * upload is due (mk: 5); a directory has none */
	assert_int_equal(fc_state_op_done(f->st, ops[0].seq, &due), 0);
	assert_int_equal(due, INT64_MAX);
	assert_int_equal(fc_state_op_done(f->st, ops[1].seq, &due), 0);
	assert_int_equal(due, 5);
	assert_true(get(f->st, file).pushed);
	assert_int_equal(fc_state_op_done(f->st, ops[1].seq, NULL), -ENOENT);
	/* a failure is kept, out of line */
	assert_int_equal(fc_state_op_failed(f->st, ops[2].seq, -EPERM, "no"),
			 0);
	assert_int_equal(fc_state_op_counts(f->st, &pending, &failed), 0);
	assert_int_equal(pending, 3);
	assert_int_equal(failed, 1);
	assert_int_equal(drain(f->st, k, 16), 3);
	assert_int_equal(k[0], FC_OP_RENAME);
	assert_int_equal(k[1], FC_OP_SETATTR);
	assert_int_equal(k[2], FC_OP_UNLINK);
}

/* Make file dirty over [lo, hi) and closed, due at 10. */
static void write_epoch(struct fc_state *st, int64_t ino, uint64_t lo,
			uint64_t hi, uint64_t size)
{
	struct fc_write_summary w = { 0 };

	assert_int_equal(fc_state_write_begin(st, ino), 0);
	w.lo = lo;
	w.hi = hi;
	w.size = size;
	assert_int_equal(fc_state_write_done(st, ino, &w, 10, false), 0);
}

static void manifest_of(struct blk_manifest *m, size_t n, uint32_t size,
			uint8_t seed)
{
	struct blk_id id;
	size_t i;

	blk_manifest_init(m);
	for (i = 0; i < n; i++) {
		memset(&id, (int)(seed + i), sizeof(id));
		assert_int_equal(blk_manifest_add(m, &id, size), 0);
	}
}

static void test_fc_state__upload_queue(void **state)
{
	struct fx *f = *state;
	struct fc_write_summary w = { 0 };
	struct blk_manifest m;
	struct fc_upload u, u2;
	enum fc_op_kind k[4];
	uint64_t files, bytes;
	int64_t file, next;
	bool clean;

	file = mk(f->st, FC_ROOT_INO, "f", FC_KIND_FILE, 0);
	write_epoch(f->st, file, 0, 300, 300);
	/* not pushed yet: not claimable, but polled */
	assert_int_equal(fc_state_upload_claim(f->st, 20, &u, &next),
			 -ENOENT);
	assert_true(next <= 20 + 1000000000);
	assert_int_equal(drain(f->st, k, 4), 1);
	/* not due yet */
	assert_int_equal(fc_state_upload_claim(f->st, 9, &u, &next), -ENOENT);
	assert_int_equal(next, 10);
	assert_int_equal(fc_state_queue_stats(f->st, &files, &bytes), 0);
	assert_int_equal(files, 1);
	assert_int_equal(bytes, 300);
	assert_int_equal(fc_state_upload_claim(f->st, 10, &u, &next), 0);
	assert_int_equal(u.ino, file);
	assert_int_equal(u.base_version, 0);
	assert_int_equal(u.lo, 0);
	assert_int_equal(u.hi, 300);
	assert_int_equal(u.size, 300);
	/* claimed once only */
	assert_int_equal(fc_state_upload_claim(f->st, 10, &u2, &next),
			 -ENOENT);
	assert_int_equal(next, INT64_MAX);
	/* failure: back in line with its range */
	assert_int_equal(fc_state_upload_failed(f->st, &u, -EIO, 40), 0);
	assert_int_equal(fc_state_upload_claim(f->st, 39, &u, &next), -ENOENT);
	assert_int_equal(next, 40);
	assert_int_equal(fc_state_upload_claim(f->st, 40, &u, &next), 0);
	assert_int_equal(u.lo, 0);
	assert_int_equal(u.hi, 300);
	assert_int_equal(u.attempts, 1);
	/* success */
	manifest_of(&m, 3, 100, 1);
	assert_int_equal(fc_state_upload_done(f->st, &u, 1, &m, &clean), 0);
	assert_true(clean);
	blk_manifest_release(&m);
	assert_false(get(f->st, file).dirty);
	assert_int_equal(get(f->st, file).version, 1);
	assert_int_equal(fc_state_queue_stats(f->st, &files, &bytes), 0);
	assert_int_equal(files, 0);

	/* the generation race: a write during the upload keeps it dirty */
	write_epoch(f->st, file, 150, 160, 300);
	assert_int_equal(fc_state_upload_claim(f->st, 50, &u, &next), 0);
	assert_int_equal(u.base_version, 1);
	assert_int_equal(u.lo, 150);
	assert_int_equal(u.hi, 160);
	assert_int_equal(fc_state_write_begin(f->st, file), 0);
	w.lo = 10;
	w.hi = 20;
	w.size = 300;
	manifest_of(&m, 3, 100, 7);
	assert_int_equal(fc_state_upload_done(f->st, &u, 2, &m, &clean), 0);
	assert_false(clean);
	assert_true(get(f->st, file).dirty);
	assert_int_equal(get(f->st, file).version, 2);
	/* still being written: not claimable */
	assert_int_equal(fc_state_upload_claim(f->st, 100, &u, &next),
			 -ENOENT);
	assert_int_equal(fc_state_write_done(f->st, file, &w, 60, true), 0);
	assert_int_equal(fc_state_upload_claim(f->st, 100, &u, &next), 0);
	assert_int_equal(u.base_version, 2);
	assert_int_equal(u.lo, 10);
	assert_int_equal(u.hi, 20);
	assert_int_equal(fc_state_upload_done(f->st, &u, 3, &m, &clean), 0);
	assert_true(clean);
	blk_manifest_release(&m);

	/* the server made it again, empty: everything goes up onto version 0 */
	assert_int_equal(
		fc_state_node_recreated(f->st, get(f->st, file).id, 200), 0);
	assert_true(get(f->st, file).dirty);
	assert_int_equal(get(f->st, file).version, 0);
	assert_int_equal(fc_state_upload_claim(f->st, 200, &u, &next), 0);
	assert_int_equal(u.base_version, 0);
	assert_int_equal(u.lo, 0);
	assert_int_equal(u.hi, 300);
	assert_int_equal(fc_state_upload_failed(f->st, &u, -EIO, 300), 0);
	{
		uint8_t none[FC_ID_SIZE] = { 0xee };

		assert_int_equal(fc_state_node_recreated(f->st, none, 1),
				 -ENOENT);
	}
}

/* Small files claimed in one go, in due order, up to a large one. */
static void test_fc_state__upload_claim_small(void **state)
{
	struct fx *f = *state;
	static const uint64_t sizes[] = { 100, 200, 5000, 300 };
	struct fc_write_summary w = { 0 };
	struct fc_upload u[8];
	enum fc_op_kind k[8];
	int64_t ino[4];
	char name[8];
	size_t n, i;

	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "s%zu", i);
		ino[i] = mk(f->st, FC_ROOT_INO, name, FC_KIND_FILE, 0);
		assert_int_equal(fc_state_write_begin(f->st, ino[i]), 0);
		w.lo = 0;
		w.hi = w.size = sizes[i];
		assert_int_equal(fc_state_write_done(f->st, ino[i], &w,
						     10 + (int64_t)i, false),
				 0);
	}
	assert_int_equal(drain(f->st, k, 8), 4);
	/* nothing due yet */
	assert_int_equal(
		fc_state_upload_claim_small(f->st, 9, 1000, 1 << 20, u, 8, &n),
		0);
	assert_int_equal(n, 0);
	/* the two small ones due first; the large one stops the run */
	assert_int_equal(fc_state_upload_claim_small(f->st, 100, 1000, 1 << 20,
						     u, 8, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(u[0].ino, ino[0]);
	assert_int_equal(u[0].hi, 100);
	assert_int_equal(u[1].ino, ino[1]);
	assert_int_equal(u[1].size, 200);
	/* ... and stays unclaimed, next for a claim of its own */
	assert_int_equal(fc_state_upload_claim(f->st, 100, &u[2], NULL), 0);
	assert_int_equal(u[2].ino, ino[2]);
	/* at most max */
	assert_int_equal(fc_state_upload_claim_small(f->st, 100, 1000, 1 << 20,
						     u + 3, 1, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(u[3].ino, ino[3]);
	assert_int_equal(fc_state_upload_claim_small(f->st, 100, 1000, 1 << 20,
						     u + 4, 4, &n),
			 0);
	assert_int_equal(n, 0);
	/* stops once max_bytes are reached */
	assert_int_equal(fc_state_upload_failed(f->st, &u[0], -EIO, 150), 0);
	assert_int_equal(fc_state_upload_failed(f->st, &u[1], -EIO, 151), 0);
	assert_int_equal(
		fc_state_upload_claim_small(f->st, 200, 1000, 50, u, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(u[0].ino, ino[0]);
}

static void test_fc_state__unlinked_file_leaves_queue(void **state)
{
	struct fx *f = *state;
	enum fc_op_kind k[4];
	struct fc_upload u;
	int64_t file, next;

	file = mk(f->st, FC_ROOT_INO, "f", FC_KIND_FILE, 0);
	write_epoch(f->st, file, 0, 10, 10);
	drain(f->st, k, 4);
	assert_int_equal(fc_state_unlink(f->st, FC_ROOT_INO, "f", 1, false, 1,
					 NULL),
			 0);
	assert_int_equal(fc_state_upload_claim(f->st, 100, &u, &next),
			 -ENOENT);
}

static void test_fc_state__crash_recovery_requeues(void **state)
{
	struct fx *f = *state;
	enum fc_op_kind k[4];
	struct fc_upload u;
	int64_t file, next;

	file = mk(f->st, FC_ROOT_INO, "f", FC_KIND_FILE, 0);
	write_epoch(f->st, file, 5, 10, 1000);
	drain(f->st, k, 4);
	assert_int_equal(fc_state_upload_claim(f->st, 100, &u, &next), 0);
	/* crash: the claim is lost, the whole file goes again */
	fc_state_close(f->st);
	assert_int_equal(fc_state_open(f->path, 0, 0, &f->st), 0);
	assert_int_equal(fc_state_upload_claim(f->st, INT64_MAX - 1, &u,
					       &next),
			 0);
	assert_int_equal(u.ino, file);
	assert_int_equal(u.lo, 0);
	assert_int_equal(u.hi, 1000);
}

static void test_fc_state__chunks(void **state)
{
	struct fx *f = *state;
	struct blk_manifest m;
	struct fc_chunk *ch;
	enum fc_op_kind k[4];
	struct fc_upload u;
	size_t n;
	uint64_t missing;
	uint32_t idx[2] = { 1, 3 };
	struct fc_setattr a = { 0 };
	int64_t file, next;

	file = mk(f->st, FC_ROOT_INO, "f", FC_KIND_FILE, 0);
	write_epoch(f->st, file, 0, 400, 400);
	drain(f->st, k, 4);
	assert_int_equal(fc_state_upload_claim(f->st, 100, &u, &next), 0);
	manifest_of(&m, 4, 100, 1);
	assert_int_equal(fc_state_upload_done(f->st, &u, 1, &m, NULL), 0);
	blk_manifest_release(&m);

	assert_int_equal(fc_state_chunks(f->st, file, 150, 100, &ch, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ch[0].off, 100);
	assert_int_equal(ch[0].idx, 1);
	assert_int_equal(ch[1].off, 200);
	assert_true(ch[0].present);
	free(ch);
	assert_int_equal(fc_state_chunks(f->st, file, 399, 0, &ch, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ch[0].idx, 3);
	free(ch);
	assert_int_equal(fc_state_chunks(f->st, file, 400, 10, &ch, &n), 0);
	assert_int_equal(n, 0);

	/* eviction clears present bits, marking sets them */
	assert_int_equal(fc_state_evict_node(f->st, file), 0);
	assert_int_equal(fc_state_missing_count(f->st, file, &missing), 0);
	assert_int_equal(missing, 4);
	assert_int_equal(fc_state_chunks_mark(f->st, file, idx, 2, true), 0);
	assert_int_equal(fc_state_missing_count(f->st, file, &missing), 0);
	assert_int_equal(missing, 2);

	/* a new version keeps the present bits of identical chunks */
	manifest_of(&m, 4, 100, 1);
	m.entries[3].id.bytes[0] ^= 1;
	assert_int_equal(fc_state_set_manifest(f->st, file, 2, &m), 0);
	blk_manifest_release(&m);
	assert_int_equal(fc_state_chunks(f->st, file, 0, 0, &ch, &n), 0);
	assert_int_equal(n, 4);
	assert_false(ch[0].present);
	assert_true(ch[1].present);
	assert_false(ch[3].present);
	free(ch);
	assert_int_equal(get(f->st, file).version, 2);

	/* truncate drops rows past the end; dirty refuses set_manifest */
	a.flags = FC_SET_SIZE;
	a.size = 150;
	a.due_ns = 5;
	assert_int_equal(fc_state_setattr(f->st, file, &a, NULL), 0);
	assert_int_equal(fc_state_chunks(f->st, file, 0, 0, &ch, &n), 0);
	assert_int_equal(n, 2);
	free(ch);
	manifest_of(&m, 1, 100, 1);
	assert_int_equal(fc_state_set_manifest(f->st, file, 3, &m), -EBUSY);
	blk_manifest_release(&m);
	/* pinned or dirty files are not evicted */
	assert_int_equal(fc_state_evict_node(f->st, file), -EBUSY);
}

static int count_cb(void *arg, const struct fc_node *n)
{
	(void)n;
	(*(int *)arg)++;
	return 0;
}

static void test_fc_state__evictable_lru(void **state)
{
	struct fx *f = *state;
	struct blk_manifest m;
	enum fc_op_kind k[8];
	struct fc_upload u;
	int64_t a, b, next, inos[1];
	int count = 0;

	a = mk(f->st, FC_ROOT_INO, "a", FC_KIND_FILE, 0);
	b = mk(f->st, FC_ROOT_INO, "b", FC_KIND_FILE, 0);
	write_epoch(f->st, a, 0, 100, 100);
	write_epoch(f->st, b, 0, 100, 100);
	drain(f->st, k, 8);
	manifest_of(&m, 1, 100, 1);
	assert_int_equal(fc_state_upload_claim(f->st, 100, &u, &next), 0);
	assert_int_equal(fc_state_upload_done(f->st, &u, 1, &m, NULL), 0);
	assert_int_equal(fc_state_evictable(f->st, 10, count_cb, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(fc_state_upload_claim(f->st, 100, &u, &next), 0);
	assert_int_equal(fc_state_upload_done(f->st, &u, 1, &m, NULL), 0);
	blk_manifest_release(&m);
	inos[0] = a;
	assert_int_equal(fc_state_touch(f->st, inos, 1, 999), 0);
	count = 0;
	assert_int_equal(fc_state_evictable(f->st, 10, count_cb, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(fc_state_set_pinned(f->st, b, true), 0);
	count = 0;
	assert_int_equal(fc_state_evictable(f->st, 10, count_cb, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(fc_state_evict_node(f->st, b), -EBUSY);
}

struct seen {
	int inodes, entries;
};

static void changed_cb(void *arg, int64_t ino, int64_t parent,
		       const char *name, size_t len)
{
	struct seen *s = arg;

	(void)parent;
	(void)len;
	if (name)
		s->entries++;
	else if (ino)
		s->inodes++;
}

static void test_fc_state__apply_page(void **state)
{
	struct fx *f = *state;
	struct fc_remote_node nodes[3];
	struct fc_remote_entry entries[3];
	struct fc_remote_page p = { 0 };
	struct blk_manifest m;
	struct seen seen = { 0 };
	struct fc_node n, dn;
	enum fc_op_kind k[4];
	uint64_t cursor;
	uint8_t did[FC_ID_SIZE], fid[FC_ID_SIZE];

	memset(nodes, 0, sizeof(nodes));
	memset(entries, 0, sizeof(entries));
	memset(did, 0xd1, sizeof(did));
	memset(fid, 0xf1, sizeof(fid));
	manifest_of(&m, 2, 50, 3);
	memcpy(nodes[0].id, did, FC_ID_SIZE);
	nodes[0].kind = FC_KIND_DIR;
	nodes[0].mode = 0700;
	memcpy(nodes[1].id, fid, FC_ID_SIZE);
	nodes[1].kind = FC_KIND_FILE;
	nodes[1].mode = 0640;
	nodes[1].size = 100;
	nodes[1].version = 4;
	nodes[1].manifest = &m;
	entries[0].id = 10;
	memcpy(entries[0].node, did, FC_ID_SIZE);
	entries[0].name = "rd";
	entries[0].name_len = 2;
	entries[1].id = 11;
	memcpy(entries[1].parent, did, FC_ID_SIZE);
	memcpy(entries[1].node, fid, FC_ID_SIZE);
	entries[1].name = "rf";
	entries[1].name_len = 2;
	p.nodes = nodes;
	p.node_count = 2;
	p.entries = entries;
	p.entry_count = 2;
	p.next = 42;

	/* pending local ops block the feed */
	mk(f->st, FC_ROOT_INO, "local", FC_KIND_DIR, 0);
	assert_int_equal(fc_state_apply_page(f->st, &p, NULL, NULL), -EAGAIN);
	p.ops_pushed = fc_state_ops_pushed(f->st);
	drain(f->st, k, 4);
	/* a page asked for before those ops were pushed may predate them */
	assert_int_equal(fc_state_apply_page(f->st, &p, NULL, NULL), -EAGAIN);
	assert_true(fc_state_ops_pushed(f->st) > p.ops_pushed);
	p.ops_pushed = fc_state_ops_pushed(f->st);
	assert_int_equal(fc_state_apply_page(f->st, &p, changed_cb, &seen),
			 0);
	assert_int_equal(fc_state_cursor_get(f->st, &cursor), 0);
	assert_int_equal(cursor, 42);
	assert_int_equal(fc_state_lookup(f->st, FC_ROOT_INO, "rd", 2, &dn), 0);
	assert_int_equal(dn.nlink, 2);
	assert_int_equal(dn.mode, 0700);
	assert_int_equal(fc_state_lookup(f->st, dn.ino, "rf", 2, &n), 0);
	assert_int_equal(n.size, 100);
	assert_int_equal(n.version, 4);
	assert_true(fc_node_has_manifest(&n));
	assert_true(n.pushed);
	assert_int_equal(get(f->st, FC_ROOT_INO).nlink, 4);
	assert_true(seen.entries >= 2);

	/* rename remotely, then a new version without a manifest */
	entries[1].name = "rf2";
	entries[1].name_len = 3;
	memcpy(entries[1].parent, fid, 0);
	memset(entries[1].parent, 0, FC_ID_SIZE); /* to the root */
	nodes[1].version = 5;
	nodes[1].manifest = NULL;
	p.nodes = &nodes[1];
	p.node_count = 1;
	p.entries = &entries[1];
	p.entry_count = 1;
	p.next = 43;
	assert_int_equal(fc_state_apply_page(f->st, &p, changed_cb, &seen),
			 0);
	assert_int_equal(fc_state_lookup(f->st, dn.ino, "rf", 2, &n), -ENOENT);
	assert_int_equal(fc_state_lookup(f->st, FC_ROOT_INO, "rf2", 3, &n), 0);
	assert_int_equal(n.nlink, 1);
	assert_false(fc_node_has_manifest(&n));
	/* a row older than the version we have changes nothing */
	nodes[1].version = 3;
	nodes[1].size = 7;
	nodes[1].mode = 0600;
	p.entry_count = 0;
	assert_int_equal(fc_state_apply_page(f->st, &p, NULL, NULL), 0);
	assert_int_equal(get(f->st, n.ino).version, 5);
	assert_int_equal(get(f->st, n.ino).size, 100);
	assert_int_equal(get(f->st, n.ino).mode, 0640);
	p.entry_count = 1;
	nodes[1].version = 5;
	nodes[1].size = 100;
	nodes[1].mode = 0640;
	assert_int_equal(fc_state_set_manifest(f->st, n.ino, 5, &m), 0);
	assert_true(fc_node_has_manifest(&(struct fc_node){ 0 }));
	n = get(f->st, n.ino);
	assert_true(fc_node_has_manifest(&n));

	/*
	 * The version we have, coming back with nothing different (our own
	 * change echoed by the feed): no change for the kernel. A different
	 * mode at that version is one.
	 */
	p.entry_count = 0;
	memset(&seen, 0, sizeof(seen));
	nodes[1].mtime_ns = get(f->st, n.ino).mtime_ns;
	assert_int_equal(fc_state_apply_page(f->st, &p, changed_cb, &seen), 0);
	assert_int_equal(seen.inodes, 0);
	nodes[1].mode = 0600;
	assert_int_equal(fc_state_apply_page(f->st, &p, changed_cb, &seen), 0);
	assert_int_equal(seen.inodes, 1);
	assert_int_equal(get(f->st, n.ino).mode, 0600);
	nodes[1].mode = 0640;
	assert_int_equal(fc_state_apply_page(f->st, &p, changed_cb, &seen), 0);
	assert_int_equal(seen.inodes, 2);
	p.entry_count = 1;

	/* a tombstone removes the entry */
	entries[1].deleted = true;
	p.node_count = 0;
	assert_int_equal(fc_state_apply_page(f->st, &p, NULL, NULL), 0);
	assert_int_equal(fc_state_lookup(f->st, FC_ROOT_INO, "rf2", 3, &n),
			 -ENOENT);
	blk_manifest_release(&m);

	/* an entry naming a node of a later page waits for it */
	memset(entries[2].node, 0x77, FC_ID_SIZE);
	entries[2].id = 99;
	entries[2].name = "zz";
	entries[2].name_len = 2;
	p.entries = &entries[2];
	p.entry_count = 1;
	assert_int_equal(fc_state_apply_page(f->st, &p, NULL, NULL), 0);
	assert_int_equal(fc_state_lookup(f->st, FC_ROOT_INO, "zz", 2, &n),
			 -ENOENT);
	memset(&nodes[2], 0, sizeof(nodes[2]));
	memset(nodes[2].id, 0x77, FC_ID_SIZE);
	nodes[2].kind = FC_KIND_DIR;
	nodes[2].mode = 0755;
	p.nodes = &nodes[2];
	p.node_count = 1;
	p.entry_count = 0;
	assert_int_equal(fc_state_apply_page(f->st, &p, NULL, NULL), 0);
	assert_int_equal(fc_state_lookup(f->st, FC_ROOT_INO, "zz", 2, &n), 0);
	assert_int_equal(n.kind, FC_KIND_DIR);
	assert_int_equal(n.nlink, 2);
	/* a malformed entry is a protocol error */
	entries[2].name_len = 0;
	p.entries = &entries[2];
	p.entry_count = 1;
	assert_int_equal(fc_state_apply_page(f->st, &p, NULL, NULL), -EPROTO);
}

/* The names of the pending ops, "name>name2" each, in order, into out. */
static size_t op_names(struct fc_state *st, char out[][2 * CF_NAME_MAX + 2],
		       size_t max)
{
	struct fc_op ops[16];
	size_t n, i;

	assert_int_equal(fc_state_op_peek(st, 1, ops, 16, &n), 0);
	assert_true(n <= max);
	for (i = 0; i < n; i++)
		snprintf(out[i], 2 * CF_NAME_MAX + 2, "%s>%s", ops[i].name,
			 ops[i].name2);
	return n;
}

/*
 * A create whose name another device took goes under a new name: the
 * local entry of that name and every later op naming it follow; what the
 * ops moved it to stays.
 */
static void test_fc_state__rename_create(void **state)
{
	struct fx *f = *state;
	char names[16][2 * CF_NAME_MAX + 2];
	struct fc_setattr a = { 0 };
	struct seen seen = { 0 };
	struct fc_op ops[16];
	struct fc_node n;
	size_t count;
	int64_t d, x, y;

	d = mk(f->st, FC_ROOT_INO, "d", FC_KIND_DIR, 0);
	x = mk(f->st, d, "x.txt", FC_KIND_FILE, 0);
	a.flags = FC_SET_MODE;
	a.mode = 0600;
	assert_int_equal(fc_state_setattr(f->st, x, &a, NULL), 0);
	assert_int_equal(fc_state_link(f->st, x, FC_ROOT_INO, "h", 1, 1, &n),
			 0);
	assert_int_equal(fc_state_op_peek(f->st, 1, ops, 16, &count), 0);
	assert_int_equal(count, 4);
	/* not a create, not pending, a bad name */
	assert_int_equal(
		fc_state_op_rename_dest(f->st, ops[2].seq, "c", 1, NULL, NULL),
		-ENOENT);
	assert_int_equal(fc_state_op_rename_dest(f->st, ops[3].seq + 1, "c", 1,
						 NULL, NULL),
			 -ENOENT);
	assert_int_equal(fc_state_op_rename_dest(f->st, ops[1].seq, "a/b", 3,
						 NULL, NULL),
			 -EINVAL);
	/* taken here: by an entry, or by an op still to replay */
	mk(f->st, d, "taken", FC_KIND_FILE, 0);
	assert_int_equal(fc_state_op_rename_dest(f->st, ops[1].seq, "taken", 5,
						 NULL, NULL),
			 -EEXIST);
	assert_int_equal(fc_state_unlink(f->st, d, "taken", 5, false, 2, NULL),
			 0);
	assert_int_equal(fc_state_op_rename_dest(f->st, ops[1].seq, "taken", 5,
						 NULL, NULL),
			 -EEXIST);
	/* the create, its entry and what followed it on that name */
	assert_int_equal(fc_state_unlink(f->st, d, "x.txt", 5, false, 3, NULL),
			 0);
	assert_int_equal(fc_state_rename(f->st, FC_ROOT_INO, "h", 1, d, "x.txt",
					 5, 0, 3, NULL),
			 0);
	assert_int_equal(fc_state_op_rename_dest(f->st, ops[1].seq, "x 1.txt",
						 7, changed_cb, &seen),
			 0);
	assert_int_equal(seen.entries, 2);
	assert_int_equal(fc_state_lookup(f->st, d, "x.txt", 5, &n), -ENOENT);
	assert_int_equal(fc_state_lookup(f->st, d, "x 1.txt", 7, &n), 0);
	assert_int_equal(n.ino, x);
	assert_int_equal(op_names(f->st, names, 16), 8);
	assert_string_equal(names[0], "d>");
	assert_string_equal(names[1], "x 1.txt>");
	assert_string_equal(names[2], ">"); /* setattr: by node */
	assert_string_equal(names[3], "h>");
	assert_string_equal(names[4], "taken>");
	assert_string_equal(names[5], "taken>");
	assert_string_equal(names[6], "x 1.txt>");
	assert_string_equal(names[7], "h>x 1.txt");
	/* again with the name it has: nothing to do */
	seen.entries = 0;
	assert_int_equal(fc_state_op_rename_dest(f->st, ops[1].seq, "x 1.txt",
						 7, changed_cb, &seen),
			 0);
	assert_int_equal(seen.entries, 0);
	/* and from there to a third name, when the second is taken too */
	assert_int_equal(fc_state_op_rename_dest(f->st, ops[1].seq, "x 2.txt",
						 7, NULL, NULL),
			 0);
	assert_int_equal(fc_state_lookup(f->st, d, "x 2.txt", 7, &n), 0);
	assert_int_equal(op_names(f->st, names, 16), 8);
	assert_string_equal(names[1], "x 2.txt>");
	assert_string_equal(names[6], "x 2.txt>");
	assert_string_equal(names[7], "h>x 2.txt");

	/* renamed away before the push: only the ops change */
	y = mk(f->st, FC_ROOT_INO, "y", FC_KIND_DIR, 0);
	assert_int_equal(fc_state_rename(f->st, FC_ROOT_INO, "y", 1,
					 FC_ROOT_INO, "z", 1, 0, 4, NULL),
			 0);
	assert_int_equal(fc_state_op_peek(f->st, 1, ops, 16, &count), 0);
	assert_int_equal(count, 10);
	assert_int_equal(fc_state_op_rename_dest(f->st, ops[8].seq, "y 1", 3,
						 NULL, NULL),
			 0);
	assert_int_equal(fc_state_lookup(f->st, FC_ROOT_INO, "z", 1, &n), 0);
	assert_int_equal(n.ino, y);
	assert_int_equal(fc_state_lookup(f->st, FC_ROOT_INO, "y 1", 3, &n),
			 -ENOENT);
	assert_int_equal(op_names(f->st, names, 16), 10);
	assert_string_equal(names[8], "y 1>");
	assert_string_equal(names[9], "y 1>z");
}

/* A page of remote files in the root: entry ids ids[i], node (0xa0 + i). */
static void remote_files(struct fc_state *st, const int64_t *ids, size_t n,
			 uint64_t resync, uint64_t next)
{
	struct fc_remote_node nodes[8];
	struct fc_remote_entry entries[8];
	struct fc_remote_page p = { 0 };
	static const char *const names[] = { "r0", "r1", "r2", "r3",
					     "r4", "r5", "r6", "r7" };
	size_t i;

	assert_true(n <= 8);
	memset(nodes, 0, sizeof(nodes));
	memset(entries, 0, sizeof(entries));
	for (i = 0; i < n; i++) {
		memset(nodes[i].id, 0xa0 + (int)ids[i], FC_ID_SIZE);
		nodes[i].kind = FC_KIND_FILE;
		nodes[i].mode = 0644;
		entries[i].id = ids[i];
		memcpy(entries[i].node, nodes[i].id, FC_ID_SIZE);
		entries[i].name = names[ids[i] % 8];
		entries[i].name_len = 2;
	}
	p.nodes = nodes;
	p.node_count = n;
	p.entries = entries;
	p.entry_count = n;
	p.next = next;
	p.resync = resync;
	p.ops_pushed = fc_state_ops_pushed(st);
	assert_int_equal(fc_state_apply_page(st, &p, NULL, NULL), 0);
}

/*
 * One-entry page: entry id (deleted or not) of file node_id in the root;
 * resync: the resync in progress, or 0.
 */
static void remote_file_entry(struct fc_state *st, int64_t id,
			      const uint8_t node_id[FC_ID_SIZE],
			      const char *name, bool deleted, uint64_t resync,
			      uint64_t next)
{
	struct fc_remote_node node = { 0 };
	struct fc_remote_entry e = { 0 };
	struct fc_remote_page p = { 0 };

	memcpy(node.id, node_id, FC_ID_SIZE);
	node.kind = FC_KIND_FILE;
	node.mode = 0644;
	e.id = id;
	memcpy(e.node, node.id, FC_ID_SIZE);
	e.name = name;
	e.name_len = strlen(name);
	e.deleted = deleted;
	p.nodes = &node;
	p.node_count = deleted ? 0 : 1;
	p.entries = &e;
	p.entry_count = 1;
	p.next = next;
	p.resync = resync;
	p.ops_pushed = fc_state_ops_pushed(st);
	assert_int_equal(fc_state_apply_page(st, &p, NULL, NULL), 0);
}

/* remote_file_entry of node id node_byte x 16, no resync */
static void remote_entry(struct fc_state *st, int64_t id, int node_byte,
			 const char *name, bool deleted, uint64_t next)
{
	uint8_t node_id[FC_ID_SIZE];

	memset(node_id, node_byte, FC_ID_SIZE);
	remote_file_entry(st, id, node_id, name, deleted, 0, next);
}

/*
 * The feed removes files with unsaved local changes: they stay, under
 * their name or (taken) a conflicted copy name, not pushed, with an
 * FC_OP_RESTORE for each; a clean file goes.
 */
static void test_fc_state__edit_wins_over_removal(void **state)
{
	struct fc_state *st = ((struct fx *)*state)->st;
	static const int64_t ids[] = { 1, 2, 3 };
	struct fc_remote_node rn;
	struct fc_remote_entry re[2];
	struct fc_remote_page pg = { 0 };
	struct fc_op ops[4];
	struct fc_node n, f1, f2;
	size_t count;

	fc_state_set_device(st, "laptop");
	remote_files(st, ids, 3, 0, 10);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r1", 2, &f1), 0);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r2", 2, &f2), 0);
	write_epoch(st, f1.ino, 0, 5, 5);
	write_epoch(st, f2.ino, 0, 7, 7);

	/* r1 removed on the server while dirty here */
	remote_entry(st, 1, 0xa1, "r1", true, 11);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r1", 2, &n), 0);
	assert_int_equal(n.ino, f1.ino);
	assert_int_equal(n.nlink, 1);
	assert_false(n.pushed);
	assert_true(n.dirty);
	assert_int_equal(fc_state_op_peek(st, 1, ops, 4, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(ops[0].kind, FC_OP_RESTORE);
	assert_memory_equal(ops[0].node, f1.id, FC_ID_SIZE);
	assert_int_equal(ops[0].name_len, 2);
	assert_memory_equal(ops[0].name, "r1", 2);
	/* the feed waits for that op; once pushed, the node is pushed */
	assert_int_equal(fc_state_op_done(st, ops[0].seq, NULL), 0);
	assert_true(get(st, f1.ino).pushed);

	/* a rename over r2 on the server: its tombstone and the new entry
	 * come in one page; r2 keeps its bytes under a conflicted name */
	memset(&rn, 0, sizeof(rn));
	memset(rn.id, 0xb7, FC_ID_SIZE);
	rn.kind = FC_KIND_FILE;
	rn.mode = 0644;
	memset(re, 0, sizeof(re));
	re[0].id = 2;
	memset(re[0].node, 0xa2, FC_ID_SIZE);
	re[0].name = "r2";
	re[0].name_len = 2;
	re[0].deleted = true;
	re[1].id = 7;
	memcpy(re[1].node, rn.id, FC_ID_SIZE);
	re[1].name = "r2";
	re[1].name_len = 2;
	pg.nodes = &rn;
	pg.node_count = 1;
	pg.entries = re;
	pg.entry_count = 2;
	pg.next = 12;
	pg.ops_pushed = fc_state_ops_pushed(st);
	assert_int_equal(fc_state_apply_page(st, &pg, NULL, NULL), 0);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r2", 2, &n), 0);
	assert_memory_equal(n.id, rn.id, FC_ID_SIZE);
	assert_int_equal(fc_state_op_peek(st, 1, ops, 4, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(ops[0].kind, FC_OP_RESTORE);
	assert_memory_equal(ops[0].node, f2.id, FC_ID_SIZE);
	assert_true(ops[0].name_len > 2);
	assert_non_null(strstr(ops[0].name, "r2 (conflicted copy laptop "));
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, ops[0].name,
					 ops[0].name_len, &n),
			 0);
	assert_int_equal(n.ino, f2.ino);
	assert_false(n.pushed);
	drain(st, NULL, 0);
	/* a clean file simply goes */
	remote_entry(st, 3, 0xa3, "r3", true, 14);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r3", 2, &n),
			 -ENOENT);
	assert_int_equal(fc_state_op_peek(st, 1, ops, 4, &count), 0);
	assert_int_equal(count, 0);
}

/*
 * A full resync removes what the server no longer sends (its tombstones
 * were pruned) and what this device made that no op puts there any more,
 * and keeps the rest; a restart in the middle goes on.
 */
static void test_fc_state__resync(void **state)
{
	struct fc_state *st = ((struct fx *)*state)->st;
	static const int64_t all[] = { 1, 2, 3 }, kept[] = { 1, 3 };
	struct seen seen = { 0 };
	struct fc_node n, local;
	struct fc_op ops[2];
	enum fc_op_kind k[2];
	uint64_t gen = 0, got, cursor, pushed;
	size_t removed, count;

	remote_files(st, all, 3, 0, 50);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r2", 2, &n), 0);
	assert_int_equal(fc_state_resync_get(st, &got), 0);
	assert_int_equal(got, 0);

	assert_int_equal(fc_state_resync_begin(st, &gen), 0);
	assert_true(gen > 0);
	assert_int_equal(fc_state_cursor_get(st, &cursor), 0);
	assert_int_equal(cursor, 0);
	remote_files(st, kept, 1, gen, 60);
	/* cut short: the resync in progress is remembered */
	assert_int_equal(fc_state_resync_get(st, &got), 0);
	assert_int_equal(got, gen);
	remote_files(st, kept + 1, 1, gen, 70);

	/* local ops go first */
	pushed = fc_state_ops_pushed(st);
	local = get(st, mk(st, FC_ROOT_INO, "local", FC_KIND_FILE, 0));
	assert_int_equal(
		fc_state_resync_end(st, gen, pushed, NULL, NULL, &removed),
		-EAGAIN);
	drain(st, k, 2);
	/* pushed after the pages were asked for: they may not show it */
	assert_int_equal(
		fc_state_resync_end(st, gen, pushed, NULL, NULL, &removed),
		-EAGAIN);
	/* the next page shows it */
	remote_file_entry(st, 9, local.id, "local", false, gen, 80);
	/* made here, pushed, and not on the server (another device's tree
	 * stands): stale; made here and refused: kept */
	mk(st, FC_ROOT_INO, "stale", FC_KIND_DIR, 0);
	drain(st, k, 2);
	mk(st, FC_ROOT_INO, "refused", FC_KIND_FILE, 0);
	assert_int_equal(fc_state_op_peek(st, 1, ops, 2, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(fc_state_op_failed(st, ops[0].seq, EINVAL, "no"), 0);
	pushed = fc_state_ops_pushed(st);
	assert_int_equal(fc_state_resync_end(st, gen, pushed, changed_cb, &seen,
					     &removed),
			 0);
	assert_int_equal(removed, 2);
	assert_true(seen.entries >= 2);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r2", 2, &n),
			 -ENOENT);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "stale", 5, &n),
			 -ENOENT);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r1", 2, &n), 0);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "r3", 2, &n), 0);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "local", 5, &n), 0);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "refused", 7, &n), 0);
	assert_int_equal(fc_state_resync_get(st, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(fc_state_cursor_get(st, &cursor), 0);
	assert_int_equal(cursor, 80);
	/* the next resync has its own number */
	assert_int_equal(fc_state_resync_begin(st, &got), 0);
	assert_true(got > gen);
}

static void test_fc_state__readdir_cookies(void **state)
{
	struct fx *f = *state;
	char name[16];
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		mk(f->st, FC_ROOT_INO, name, FC_KIND_FILE, 0);
	}
	(void)name;
}

struct rd {
	int count;
	int64_t last;
	int stop_at;
};

static int rd_cb(void *arg, const char *name, size_t len,
		 const struct fc_node *n, int64_t cookie)
{
	struct rd *r = arg;

	(void)name;
	(void)len;
	(void)n;
	assert_true(cookie > r->last);
	assert_true(cookie > 2);
	r->last = cookie;
	r->count++;
	return r->count == r->stop_at ? 1 : 0;
}

static void test_fc_state__readdir(void **state)
{
	struct fx *f = *state;
	struct rd r = { 0, 0, 20 };
	uint64_t count;

	test_fc_state__readdir_cookies(state);
	assert_int_equal(fc_state_readdir(f->st, FC_ROOT_INO, 0, rd_cb, &r), 1);
	assert_int_equal(r.count, 20);
	r.stop_at = 0;
	assert_int_equal(fc_state_unlink(f->st, FC_ROOT_INO, "n25", 3, false,
					 1, NULL),
			 0);
	assert_int_equal(fc_state_readdir(f->st, FC_ROOT_INO, r.last, rd_cb,
					  &r),
			 0);
	assert_int_equal(r.count, 49);
	assert_int_equal(fc_state_dir_count(f->st, FC_ROOT_INO, &count), 0);
	assert_int_equal(count, 49);
}

struct thr {
	struct fc_state *st;
	int id;
};

static void *thr_main(void *p)
{
	struct thr *t = p;
	char name[32];
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "t%d-%d", t->id, i);
		mk(t->st, FC_ROOT_INO, name, FC_KIND_FILE, 0);
	}
	return NULL;
}

/* ----- the user's requests first ----- */

struct order {
	struct fc_state *st;
	bool background;
	char *log; /* appended to under the state's lock */
};

static void *order_main(void *arg)
{
	struct order *o = arg;
	struct conn *c;
	size_t n;

	if (o->background)
		cf_thread_background();

	fc_state_read_begin(o->st, &c);
	n = strlen(o->log);
	o->log[n] = o->background ? 'B' : 'F';
	o->log[n + 1] = '\0';
	fc_state_read_end(o->st, 0);
	return NULL;
}

/*
 * A background thread that gets the lock while a foreground one waits
 * for it steps back: the foreground one goes first, however the mutex
 * hands the lock over.
 */
static void test_fc_state__foreground_first(void **state)
{
	struct fx *f = *state;
	char log[8] = "";
	struct order bg = { f->st, true, log }, fg = { f->st, false, log };
	pthread_t tb, tf;
	struct conn *c;
	int i;

	fc_state_read_begin(f->st, &c);
	assert_int_equal(pthread_create(&tb, NULL, order_main, &bg), 0);
	usleep(20000); /* let it block on the lock, most of the time */
	assert_int_equal(pthread_create(&tf, NULL, order_main, &fg), 0);
	for (i = 0; i < 5000 && atomic_load(&f->st->fg_waiting) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&f->st->fg_waiting), 1);
	fc_state_read_end(f->st, 0);
	pthread_join(tf, NULL);
	pthread_join(tb, NULL);
	assert_string_equal(log, "FB");
}

static void test_fc_state__threads(void **state)
{
	struct fx *f = *state;
	struct thr t[4];
	pthread_t th[4];
	uint64_t count;
	int i;

	for (i = 0; i < 4; i++) {
		t[i].st = f->st;
		t[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]),
				 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(fc_state_dir_count(f->st, FC_ROOT_INO, &count), 0);
	assert_int_equal(count, 400);
}

static off_t wal_size(const char *db)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s-wal", db);
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/*
 * A commit reaches the log in one write and waits for the disk only when
 * it is durable: an fsync(2) of a file, or fc_state_sync.
 */
static void test_fc_state__durable_only_when_asked(void **state)
{
	struct fx *f = *state;
	struct fc_write_summary w = { .lo = 0, .hi = 10, .size = 10 };
	unsigned p0, s0;
	int64_t ino;

	ino = mk(f->st, FC_ROOT_INO, "first", FC_KIND_FILE, 0);
	p0 = pwrites;
	s0 = syncs;
	mk(f->st, FC_ROOT_INO, "second", FC_KIND_FILE, 0);
	assert_int_equal(pwrites - p0, 1);
	assert_int_equal(syncs, s0);

	assert_int_equal(fc_state_write_done(f->st, ino, &w, 5, true), 0);
	assert_true(syncs > s0);
	s0 = syncs;
	w.hi = w.size = 20;
	assert_int_equal(fc_state_write_done(f->st, ino, &w, 5, false), 0);
	mk(f->st, FC_ROOT_INO, "third", FC_KIND_FILE, 0);
	assert_int_equal(syncs, s0);

	assert_int_equal(fc_state_sync(f->st), 0);
	assert_true(syncs > s0);
	s0 = syncs;
	mk(f->st, FC_ROOT_INO, "fourth", FC_KIND_FILE, 0);
	assert_int_equal(syncs, s0);
	assert_int_equal(get(f->st, ino).size, 20);
}

/* What a commit that returned wrote is there after a kill -9. */
static void test_fc_state__commit_survives_kill(void **state)
{
	struct fx *f = *state;
	struct fc_state *st;
	struct fc_node n;
	char path[128];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/killed.db", f->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (fc_state_open(path, 1000, 1000, &st) < 0 ||
		    !mk(st, FC_ROOT_INO, "kept", FC_KIND_FILE, 0))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(fc_state_open(path, 1000, 1000, &st), 0);
	assert_int_equal(fc_state_lookup(st, FC_ROOT_INO, "kept", 4, &n), 0);
	fc_state_close(st);
}

/* A long burst grows the log; a checkpoint lets it start over, cut back. */
static void test_fc_state__log_starts_over(void **state)
{
	struct fx *f = *state;
	char name[32];
	off_t grown;
	int i;

	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "burst-%d", i);
		mk(f->st, FC_ROOT_INO, name, FC_KIND_FILE, 0);
	}
	grown = wal_size(f->path);
	assert_true(grown > FC_STATE_LOG_LIMIT);
	assert_int_equal(fc_state_checkpoint(f->st), 0);
	mk(f->st, FC_ROOT_INO, "after", FC_KIND_FILE, 0);
	assert_true(wal_size(f->path) <= FC_STATE_LOG_LIMIT);
	assert_int_equal(fc_state_checkpoint(f->st), 0);
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "burst-%d", i);
		assert_int_equal(fc_state_unlink(f->st, FC_ROOT_INO, name,
						 strlen(name), false, 1, NULL),
				 0);
	}
	assert_int_equal(fc_state_checkpoint(f->st), 0);
	mk(f->st, FC_ROOT_INO, "again", FC_KIND_FILE, 0);
	assert_true(wal_size(f->path) <= FC_STATE_LOG_LIMIT);
}

static void test_fc_state__orphans(void **state)
{
	struct fx *f = *state;
	int64_t file;
	int count = 0;
	struct fc_node n;

	file = mk(f->st, FC_ROOT_INO, "f", FC_KIND_FILE, 0);
	assert_int_equal(fc_state_unlink(f->st, FC_ROOT_INO, "f", 1, false, 1,
					 NULL),
			 0);
	assert_int_equal(fc_state_drop_orphans(f->st, count_cb, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(fc_state_getattr(f->st, file, &n), -ENOENT);
}

static int user_version_of(const char *path)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s,
					    NULL),
			 SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Generated from schema/client*.sql (the versions this client knows). */
extern const size_t fc_schema_count;

static void test_fc_state__migrates_forward(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = NULL;
	int64_t d;

	d = mk(f->st, FC_ROOT_INO, "kept", FC_KIND_DIR, 0);
	fc_state_close(f->st);
	f->st = NULL;
	assert_int_equal(user_version_of(f->path), (int)fc_schema_count);
	assert_true(fc_schema_count >= 5);
	/* make it a version 1 database again */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "DROP TABLE feed_defer; "
				      "DROP INDEX nodes_claimable; "
				      "DROP INDEX nodes_unpushed; "
				      "DROP INDEX nodes_dirty; "
				      "DROP INDEX outbox_state; "
				      "DROP INDEX entries_unseen; "
				      "ALTER TABLE entries DROP COLUMN seen; "
				      "ALTER TABLE outbox DROP COLUMN node2; "
				      "PRAGMA user_version = 1",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(fc_state_open(f->path, 0, 0, &f->st), 0);
	assert_int_equal(get(f->st, d).kind, FC_KIND_DIR);
	/* the daemon is the database's only user while it has it open */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 0);
	assert_int_not_equal(sqlite3_exec(db, "SELECT count(*) FROM nodes",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	sqlite3_close(db);
	fc_state_close(f->st);
	f->st = NULL;
	assert_int_equal(user_version_of(f->path), (int)fc_schema_count);
	/* a newer schema than the binary knows is refused */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(fc_state_open(f->path, 0, 0, &f->st), -EPROTO);
	assert_null(f->st);
}

static void test_fc_state__ids(void **state)
{
	uint8_t id[FC_ID_SIZE], back[FC_ID_SIZE];
	char hex[FC_ID_HEX_SIZE];

	(void)state;
	assert_int_equal(fc_id_generate(id), 0);
	fc_id_to_hex(id, hex);
	assert_int_equal(strlen(hex), 32);
	assert_int_equal(fc_id_from_hex(hex, 32, back), 0);
	assert_memory_equal(id, back, FC_ID_SIZE);
	assert_int_equal(fc_id_from_hex(hex, 31, back), -EINVAL);
	hex[3] = 'g';
	assert_int_equal(fc_id_from_hex(hex, 32, back), -EINVAL);
	assert_int_equal(fc_kind_from_mode(0100644), FC_KIND_FILE);
	assert_int_equal(fc_kind_to_mode(FC_KIND_FIFO), 0010000);
	assert_string_equal(fc_kind_name(FC_KIND_SYMLINK), "symlink");
	assert_null(fc_kind_name(0));
}

/* One pass of most of the API; returns the first failure, or 0. */
static int fault_pass(const char *path)
{
	struct fc_remote_page p = { 0 };
	struct fc_remote_entry re = { 0 };
	struct fc_remote_node rn = { 0 };
	struct fc_create req = { 0 };
	struct fc_write_summary w = { 0 };
	struct blk_manifest m;
	struct fc_state *st = NULL;
	struct fc_chunk *ch = NULL;
	struct fc_upload u;
	struct fc_op ops[8];
	struct fc_node n;
	struct blk_id bid;
	struct cf_buf b;
	size_t count, i;
	int64_t next;
	int rc;

	blk_manifest_init(&m);
	cf_buf_init(&b, 4096);
	rc = fc_state_open(path, 0, 0, &st);
	if (rc < 0)
		goto out;
	req.parent = FC_ROOT_INO;
	req.name = "f";
	req.name_len = 1;
	req.kind = FC_KIND_FILE;
	req.writing = true;
	rc = fc_state_create(st, &req, &n);
	if (rc < 0)
		goto out;
	w.hi = w.size = 300;
	rc = fc_state_write_done(st, n.ino, &w, 0, true);
	if (rc < 0)
		goto out;
	rc = fc_state_op_peek(st, 1, ops, 8, &count);
	for (i = 0; rc == 0 && i < count; i++)
		rc = fc_state_op_done(st, ops[i].seq, NULL);
	if (rc == 0)
		rc = fc_state_upload_claim(st, 1, &u, &next);
	for (i = 0; rc == 0 && i < 3; i++) {
		memset(&bid, (int)i + 1, sizeof(bid));
		rc = blk_manifest_add(&m, &bid, 100);
	}
	if (rc == 0)
		rc = fc_state_upload_done(st, &u, 1, &m, NULL);
	if (rc == 0)
		rc = fc_state_chunks(st, n.ino, 0, 0, &ch, &count);
	free(ch);
	if (rc == 0)
		rc = fc_state_name_of(st, n.ino, &next, &b);
	if (rc < 0)
		goto out;
	memset(rn.id, 0x42, FC_ID_SIZE);
	rn.kind = FC_KIND_DIR;
	rn.mode = 0755;
	re.id = 7;
	memcpy(re.node, rn.id, FC_ID_SIZE);
	re.name = "r";
	re.name_len = 1;
	p.entries = &re;
	p.entry_count = 1;
	p.next = 5;
	p.ops_pushed = fc_state_ops_pushed(st);
	rc = fc_state_apply_page(st, &p, NULL, NULL);
	if (rc < 0)
		goto out;
	p.nodes = &rn;
	p.node_count = 1;
	p.entry_count = 0;
	rc = fc_state_apply_page(st, &p, NULL, NULL);
	if (rc == 0)
		rc = fc_state_unlink(st, FC_ROOT_INO, "f", 1, false, 1, NULL);
	if (rc == 0)
		rc = fc_state_drop_orphans(st, NULL, NULL);
out:
	fc_state_close(st);
	blk_manifest_release(&m);
	cf_buf_release(&b);
	return rc;
}

static void test_fc_state__allocation_failures(void **state)
{
	struct fx *f = *state;
	char path[128];
	unsigned long k;
	int rc;

	for (k = 1; k < 10000; k++) {
		snprintf(path, sizeof(path), "%s/fault-%lu.db", f->dir, k);
		fault_arm(k);
		rc = fault_pass(path);
		fault_disarm();
		FAULT_OK(rc);
		if (!fault_failed) {
			assert_int_equal(rc, 0);
			break; /* every allocation of the pass succeeded */
		}
	}
	assert_true(k > 5);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fc_state__root_exists),
		T(test_fc_state__create_lookup_errnos),
		T(test_fc_state__symlink_and_special),
		T(test_fc_state__links_and_unlink),
		T(test_fc_state__rename),
		T(test_fc_state__setattr),
		T(test_fc_state__outbox_order),
		T(test_fc_state__rename_create),
		T(test_fc_state__upload_queue),
		T(test_fc_state__upload_claim_small),
		T(test_fc_state__unlinked_file_leaves_queue),
		T(test_fc_state__crash_recovery_requeues),
		T(test_fc_state__chunks),
		T(test_fc_state__evictable_lru),
		T(test_fc_state__apply_page),
		T(test_fc_state__readdir),
		T(test_fc_state__threads),
		T(test_fc_state__foreground_first),
		T(test_fc_state__orphans),
		T(test_fc_state__resync),
		T(test_fc_state__edit_wins_over_removal),
		T(test_fc_state__log_starts_over),
		T(test_fc_state__durable_only_when_asked),
		T(test_fc_state__commit_survives_kill),
		T(test_fc_state__migrates_forward),
		T(test_fc_state__allocation_failures),
		cmocka_unit_test(test_fc_state__ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
