/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the SQLite metadata store (server/srv_meta_sqlite*.c):
 * every op's success and error paths on a fresh database in a mkdtemp
 * directory, account isolation, exact change-feed paging, the rename
 * matrix, hard links, the trash, commits and versions, group commit under
 * concurrent writers, reopen, migrations and GC.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "srv_meta.h"
#include "srv_schema.h"
#include "srv_meta_sqlite_int.h"
#include "unit_syscount.h"

/*
 * Fault injection: the k-th allocation fails, both SQLite's (through
 * SQLITE_CONFIG_MALLOC) and the store's own (malloc, calloc, realloc are
 * wrapped: tests/unit/test_srv_meta.ldflags). 0 = off.
 */
static atomic_long fault_countdown;
static atomic_bool fault_was_hit;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static bool fault_now(void)
{
	if (atomic_fetch_sub(&fault_countdown, 1) != 1)
		return false;
	atomic_store(&fault_was_hit, true);
	return true;
}

void *__wrap_malloc(size_t size)
{
	return fault_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fault_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return fault_now() ? NULL : __real_realloc(p, size);
}

static sqlite3_mem_methods sqlite_mem;

static void *fault_sqlite_malloc(int n)
{
	return fault_now() ? NULL : sqlite_mem.xMalloc(n);
}

static void *fault_sqlite_realloc(void *p, int n)
{
	return fault_now() ? NULL : sqlite_mem.xRealloc(p, n);
}

struct fx {
	char dir[64];
	char path[128];
	struct srv_meta *m;
	int64_t ua, ub; /* two accounts */
};

static void nid(uint8_t out[SRV_NODE_ID_SIZE], unsigned n)
{
	memset(out, 0, SRV_NODE_ID_SIZE);
	out[0] = 0xa5;
	out[14] = (uint8_t)(n >> 8);
	out[15] = (uint8_t)n;
}

static struct blk_id bid(unsigned n)
{
	struct blk_id id;

	memset(&id, 0, sizeof(id));
	id.bytes[0] = 0xb1;
	id.bytes[30] = (uint8_t)(n >> 8);
	id.bytes[31] = (uint8_t)n;
	return id;
}

static int64_t make_user(struct srv_meta *m, const char *name)
{
	struct srv_user u;

	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "%s", name);
	u.kdf = (struct blk_kdf_params){ BLK_KDF_SCRYPT, 1u << 14, 8, 1 };
	memset(u.kdf_salt, 1, sizeof(u.kdf_salt));
	memset(u.auth_salt, 2, sizeof(u.auth_salt));
	memset(u.auth_hash, 3, sizeof(u.auth_hash));
	u.chunk_min = BLK_CHUNK_MIN_DEFAULT;
	u.chunk_avg = BLK_CHUNK_AVG_DEFAULT;
	u.chunk_max = BLK_CHUNK_MAX_DEFAULT;
	u.codec = BLK_CODEC_ZSTD;
	assert_int_equal(m->ops->user_create(m, &u), 0);
	assert_true(u.id > 0);
	return u.id;
}

static int open_fx(struct fx *f)
{
	return srv_meta_sqlite_open(f->path, &f->m);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cfmeta.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/meta.db", f->dir);
	assert_int_equal(open_fx(f), 0);
	f->ua = make_user(f->m, "alice");
	f->ub = make_user(f->m, "bob");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	struct fx *f = *state;
	char p[160];
	size_t i;

	srv_meta_close(f->m);
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ----- tree helpers ----- */

static uint64_t mk(struct fx *f, int64_t user, const uint8_t *parent,
		   const char *name, unsigned id, enum srv_node_kind kind)
{
	struct srv_node n;
	uint64_t seq = 0;

	memset(&n, 0, sizeof(n));
	nid(n.id, id);
	n.kind = kind;
	n.mode = kind == SRV_NODE_DIR ? 0755 : 0644;
	n.uid = 1000;
	n.gid = 1000;
	if (kind == SRV_NODE_SYMLINK)
		snprintf(n.target, sizeof(n.target), "../target");
	assert_int_equal(f->m->ops->create(f->m, user, &n, parent, name,
					   strlen(name), &seq),
			 0);
	assert_true(seq > 0);
	return seq;
}

static int mk_rc(struct fx *f, int64_t user, const uint8_t *parent,
		 const char *name, unsigned id, enum srv_node_kind kind)
{
	struct srv_node n;

	memset(&n, 0, sizeof(n));
	nid(n.id, id);
	n.kind = kind;
	n.mode = 0644;
	return f->m->ops->create(f->m, user, &n, parent, name, strlen(name),
				 NULL);
}

static struct srv_node get(struct fx *f, int64_t user, unsigned id)
{
	struct srv_node n;
	uint8_t x[SRV_NODE_ID_SIZE];

	nid(x, id);
	assert_int_equal(f->m->ops->node_get(f->m, user, x, &n), 0);
	return n;
}

static int get_rc(struct fx *f, int64_t user, unsigned id)
{
	struct srv_node n;
	uint8_t x[SRV_NODE_ID_SIZE];

	nid(x, id);
	return f->m->ops->node_get(f->m, user, x, &n);
}

static struct srv_node root(struct fx *f, int64_t user)
{
	struct srv_node n;

	assert_int_equal(f->m->ops->node_get(f->m, user, srv_root_id, &n), 0);
	return n;
}

static int lookup(struct fx *f, int64_t user, const uint8_t *parent,
		  const char *name, struct srv_entry *e, struct srv_node *n)
{
	return f->m->ops->lookup(f->m, user, parent, name, strlen(name), e, n);
}

/* The entry at parent/name, expecting node id `node` there (0: any). */
static struct srv_slot slot(const uint8_t *parent, const char *name,
			    unsigned node, uint8_t buf[SRV_NODE_ID_SIZE])
{
	struct srv_slot s = { parent, name, strlen(name), NULL };

	if (node) {
		nid(buf, node);
		s.node = buf;
	}
	return s;
}

/* rename expecting node ids `src` at the source and `dst` at the target */
static int ren_nodes(struct fx *f, int64_t user, const uint8_t *sp,
		     const char *sn, unsigned src, const uint8_t *dp,
		     const char *dn, unsigned dst, unsigned flags)
{
	uint8_t sb[SRV_NODE_ID_SIZE], db[SRV_NODE_ID_SIZE];
	struct srv_slot s = slot(sp, sn, src, sb), d = slot(dp, dn, dst, db);

	return f->m->ops->rename(f->m, user, &s, &d, flags, 1000, NULL);
}

static int ren(struct fx *f, int64_t user, const uint8_t *sp, const char *sn,
	       const uint8_t *dp, const char *dn, unsigned flags)
{
	return ren_nodes(f, user, sp, sn, 0, dp, dn, 0, flags);
}

/* ren expecting node id `dst` at the target (the "replaces" of the API). */
static int ren_cas(struct fx *f, int64_t user, const uint8_t *sp,
		   const char *sn, const uint8_t *dp, const char *dn,
		   unsigned dst, unsigned flags)
{
	return ren_nodes(f, user, sp, sn, 0, dp, dn, dst, flags);
}

/* unlink expecting node id `node` at the name (0: any) */
static int unl_node(struct fx *f, int64_t user, const uint8_t *parent,
		    const char *name, unsigned node, unsigned flags,
		    int64_t now)
{
	uint8_t b[SRV_NODE_ID_SIZE];
	struct srv_slot at = slot(parent, name, node, b);

	return f->m->ops->unlink(f->m, user, &at, flags, now, NULL);
}

static int unl(struct fx *f, int64_t user, const uint8_t *parent,
	       const char *name, unsigned flags, int64_t now)
{
	return unl_node(f, user, parent, name, 0, flags, now);
}

/* One commit and the buffers it points into. */
struct commit_buf {
	uint8_t id[SRV_NODE_ID_SIZE];
	uint8_t tag[BLK_MANIFEST_TAG_SIZE];
	struct blk_id blocks[64];
	uint8_t manifest[32];
	struct srv_commit c;
};

/* A commit of node on base: a manifest of `count` blocks from block first. */
static void commit_prep(struct commit_buf *b, unsigned node, uint64_t base,
			unsigned first, size_t count)
{
	size_t i;

	assert_true(count <= CF_ARRAY_SIZE(b->blocks));
	memset(b, 0, sizeof(*b));
	nid(b->id, node);
	for (i = 0; i < count; i++)
		b->blocks[i] = bid(first + (unsigned)i);
	memset(b->manifest, (int)(first + base), sizeof(b->manifest));
	memset(b->tag, (int)base, sizeof(b->tag));
	b->c.node = b->id;
	b->c.base_version = base;
	b->c.device_id = 7;
	b->c.size = 1000 * count + base;
	b->c.mtime_ns = 123456789;
	b->c.manifest = b->manifest;
	b->c.manifest_size = sizeof(b->manifest);
	b->c.tag = b->tag;
	b->c.blocks = b->blocks;
	b->c.block_count = count;
}

/* Commit a manifest of `count` blocks starting at block first. */
static int commit(struct fx *f, int64_t user, unsigned node, uint64_t base,
		  unsigned first, size_t count, uint64_t *out_version,
		  struct blk_id **missing, size_t *missing_count)
{
	struct commit_buf b;

	commit_prep(&b, node, base, first, count);
	return f->m->ops->commit(f->m, user, &b.c, out_version, NULL, missing,
				 missing_count);
}

static void add_blocks(struct fx *f, int64_t user, unsigned first, size_t count,
		       int64_t now)
{
	struct blk_id id;
	bool is_new;
	size_t i;

	for (i = 0; i < count; i++) {
		id = bid(first + (unsigned)i);
		assert_int_equal(f->m->ops->block_add(f->m, user, &id, 100 + i,
						      now, &is_new),
				 0);
	}
}

/* ----- open, schema, migration ----- */

static int count_fn(void *arg, const struct srv_user *u)
{
	(void)u;
	(*(int *)arg)++;
	return 0;
}

static void test_srv_meta__open_creates_schema_and_secret(void **state)
{
	struct fx *f = *state;
	uint8_t s1[SRV_SECRET_SIZE], s2[SRV_SECRET_SIZE], zero[32] = { 0 };
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(f->m->ops->secret_get(f->m, s1), 0);
	assert_memory_not_equal(s1, zero, sizeof(s1));
	srv_meta_close(f->m);
	assert_int_equal(open_fx(f), 0);
	assert_int_equal(f->m->ops->secret_get(f->m, s2), 0);
	assert_memory_equal(s1, s2, sizeof(s1));

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	/* the newest version this binary embeds */
	assert_int_equal(sqlite3_column_int(st, 0),
			 srv_schema_files[srv_schema_file_count - 1].version);
	sqlite3_finalize(st);
	assert_int_equal(
		sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(
		sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 2048);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_srv_meta__newer_schema_is_refused(void **state)
{
	struct fx *f = *state;
	char sql[64];
	sqlite3 *db;

	srv_meta_close(f->m);
	f->m = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(open_fx(f), -EPROTO);
	assert_null(f->m);
	/* Put it back so teardown closes a working store. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		 srv_schema_files[srv_schema_file_count - 1].version);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(open_fx(f), 0);
}

static void test_srv_meta__reopen_keeps_everything(void **state)
{
	struct fx *f = *state;
	struct srv_entry e;
	struct srv_node n;
	struct srv_user u;
	uint64_t v;

	mk(f, f->ua, srv_root_id, "d", 1, SRV_NODE_DIR);
	nid(n.id, 1);
	mk(f, f->ua, n.id, "f", 2, SRV_NODE_FILE);
	add_blocks(f, f->ua, 1, 3, 100);
	assert_int_equal(commit(f, f->ua, 2, 0, 1, 3, &v, NULL, NULL), 0);
	srv_meta_close(f->m);
	assert_int_equal(open_fx(f), 0);
	assert_int_equal(f->m->ops->user_get_by_name(f->m, "alice", &u), 0);
	assert_int_equal(u.id, f->ua);
	nid(n.id, 1);
	assert_int_equal(lookup(f, f->ua, n.id, "f", &e, &n), 0);
	assert_int_equal(n.version, 1);
	assert_int_equal(n.size, 3000);
	assert_int_equal(root(f, f->ua).nlink, 3);
}

/* ----- accounts, keys, devices, tokens ----- */

static void test_srv_meta__users(void **state)
{
	struct fx *f = *state;
	struct srv_user u, dup;
	struct srv_node r;
	int n = 0;

	assert_int_equal(f->m->ops->user_get(f->m, f->ua, &u), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.seq, 1);
	assert_int_equal(u.kdf.n, 1u << 14);
	assert_int_equal(u.chunk_max, BLK_CHUNK_MAX_DEFAULT);
	assert_int_equal(u.auth_hash[5], 3);
	assert_true(u.created > 0);
	assert_int_equal(f->m->ops->user_get_by_name(f->m, "bob", &u), 0);
	assert_int_equal(u.id, f->ub);
	assert_int_equal(f->m->ops->user_get_by_name(f->m, "carol", &u),
			 -ENOENT);
	assert_int_equal(f->m->ops->user_get(f->m, 9999, &u), -ENOENT);

	memset(&dup, 0, sizeof(dup));
	snprintf(dup.name, sizeof(dup.name), "alice");
	assert_int_equal(f->m->ops->user_create(f->m, &dup), -EEXIST);
	dup.name[0] = '\0';
	assert_int_equal(f->m->ops->user_create(f->m, &dup), -EINVAL);

	assert_int_equal(f->m->ops->user_list(f->m, count_fn, &n), 0);
	assert_int_equal(n, 2);

	r = root(f, f->ua);
	assert_int_equal(r.kind, SRV_NODE_DIR);
	assert_int_equal(r.mode, 0755);
	assert_int_equal(r.nlink, 2);
	assert_int_equal(r.seq, 1);
}

static void test_srv_meta__keys_and_auth(void **state)
{
	struct fx *f = *state;
	uint8_t k1[61], k2[61], out[64], small[8];
	struct srv_user auth, u;
	size_t len;

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	assert_int_equal(
		f->m->ops->key_get(f->m, f->ua, out, sizeof(out), &len),
		-ENOENT);
	assert_int_equal(f->m->ops->key_put(f->m, f->ua, k1, sizeof(k1), false),
			 0);
	assert_int_equal(f->m->ops->key_put(f->m, f->ua, k2, sizeof(k2), false),
			 -EEXIST);
	assert_int_equal(
		f->m->ops->key_get(f->m, f->ua, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(k1));
	assert_memory_equal(out, k1, sizeof(k1));
	assert_int_equal(
		f->m->ops->key_get(f->m, f->ua, small, sizeof(small), &len),
		-EMSGSIZE);
	assert_int_equal(f->m->ops->key_put(f->m, f->ua, k2, sizeof(k2), true),
			 0);
	assert_int_equal(f->m->ops->key_put(f->m, f->ua, k2, 0, true), -EINVAL);
	assert_int_equal(f->m->ops->key_put(f->m, 9999, k2, sizeof(k2), true),
			 -ENOENT);
	/* Bob has none. */
	assert_int_equal(
		f->m->ops->key_get(f->m, f->ub, out, sizeof(out), &len),
		-ENOENT);

	memset(&auth, 0, sizeof(auth));
	auth.kdf = (struct blk_kdf_params){ BLK_KDF_SCRYPT, 1u << 15, 8, 2 };
	memset(auth.kdf_salt, 9, sizeof(auth.kdf_salt));
	memset(auth.auth_salt, 8, sizeof(auth.auth_salt));
	memset(auth.auth_hash, 7, sizeof(auth.auth_hash));
	assert_int_equal(
		f->m->ops->user_set_auth(f->m, f->ua, &auth, k1, sizeof(k1)),
		0);
	assert_int_equal(f->m->ops->user_get(f->m, f->ua, &u), 0);
	assert_int_equal(u.kdf.n, 1u << 15);
	assert_int_equal(u.kdf.p, 2);
	assert_int_equal(u.auth_hash[0], 7);
	assert_int_equal(u.kdf_salt[0], 9);
	assert_int_equal(
		f->m->ops->key_get(f->m, f->ua, out, sizeof(out), &len), 0);
	assert_memory_equal(out, k1, sizeof(k1));
	/* NULL key: keep the stored one. */
	assert_int_equal(f->m->ops->user_set_auth(f->m, f->ua, &auth, NULL, 0),
			 0);
	assert_int_equal(
		f->m->ops->key_get(f->m, f->ua, out, sizeof(out), &len), 0);
	assert_memory_equal(out, k1, sizeof(k1));
	assert_int_equal(f->m->ops->user_set_auth(f->m, 9999, &auth, NULL, 0),
			 -ENOENT);
}

struct dev_seen {
	int count;
	int revoked;
};

static int dev_fn(void *arg, const struct srv_device *d)
{
	struct dev_seen *s = arg;

	s->count++;
	s->revoked += d->revoked;
	assert_string_equal(d->name, s->count == 1 ? "laptop" : "phone");
	return 0;
}

static void test_srv_meta__devices_and_tokens(void **state)
{
	struct fx *f = *state;
	uint8_t h1[32], h2[32], h3[32];
	int64_t d1, d2, db, user, dev;
	struct dev_seen seen = { 0, 0 };

	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	memset(h3, 3, sizeof(h3));
	assert_int_equal(f->m->ops->device_create(f->m, f->ua, "laptop", &d1),
			 0);
	assert_int_equal(f->m->ops->device_create(f->m, f->ua, "phone", &d2),
			 0);
	assert_int_equal(f->m->ops->device_create(f->m, f->ub, "bobs", &db), 0);
	assert_int_equal(f->m->ops->device_create(f->m, 9999, "x", &dev),
			 -ENOENT);
	assert_int_equal(f->m->ops->token_create(f->m, h1, f->ua, d1), 0);
	assert_int_equal(f->m->ops->token_create(f->m, h1, f->ua, d1), -EEXIST);
	assert_int_equal(f->m->ops->token_create(f->m, h2, f->ua, d2), 0);
	/* A token for another account's device is refused. */
	assert_int_equal(f->m->ops->token_create(f->m, h3, f->ua, db), -ENOENT);

	assert_int_equal(f->m->ops->token_lookup(f->m, h1, &user, &dev), 0);
	assert_int_equal(user, f->ua);
	assert_int_equal(dev, d1);
	assert_int_equal(f->m->ops->token_lookup(f->m, h3, &user, &dev),
			 -ENOENT);

	assert_int_equal(f->m->ops->device_revoke(f->m, d2), 0);
	assert_int_equal(f->m->ops->token_lookup(f->m, h2, &user, &dev),
			 -ENOENT);
	assert_int_equal(f->m->ops->token_create(f->m, h2, f->ua, d2), -ENOENT);
	assert_int_equal(f->m->ops->device_revoke(f->m, 9999), -ENOENT);

	assert_int_equal(f->m->ops->token_delete(f->m, h1), 0);
	assert_int_equal(f->m->ops->token_delete(f->m, h1), -ENOENT);
	assert_int_equal(f->m->ops->token_lookup(f->m, h1, &user, &dev),
			 -ENOENT);

	assert_int_equal(f->m->ops->device_list(f->m, f->ua, dev_fn, &seen), 0);
	assert_int_equal(seen.count, 2);
	assert_int_equal(seen.revoked, 1);
}

/* ----- tree ----- */

struct names {
	char name[16][CF_NAME_MAX + 1];
	int count;
	int stop_after;
};

static int names_fn(void *arg, const struct srv_entry *e,
		    const struct srv_node *n)
{
	struct names *s = arg;

	assert_memory_equal(e->node, n->id, SRV_NODE_ID_SIZE);
	assert_false(e->deleted);
	assert_true(s->count < 16);
	memcpy(s->name[s->count], e->name, e->name_len + 1);
	s->count++;
	return s->stop_after && s->count == s->stop_after ? 1 : 0;
}

static void test_srv_meta__create_every_kind(void **state)
{
	struct fx *f = *state;
	uint8_t d[SRV_NODE_ID_SIZE], x[SRV_NODE_ID_SIZE];
	struct names s = { .count = 0 };
	struct srv_entry e;
	struct srv_node n;

	mk(f, f->ua, srv_root_id, "dir", 1, SRV_NODE_DIR);
	nid(d, 1);
	mk(f, f->ua, d, "file", 2, SRV_NODE_FILE);
	mk(f, f->ua, d, "link", 3, SRV_NODE_SYMLINK);
	mk(f, f->ua, d, "fifo", 4, SRV_NODE_FIFO);
	mk(f, f->ua, d, "chr", 5, SRV_NODE_CHR);
	mk(f, f->ua, d, "blk", 6, SRV_NODE_BLK);
	mk(f, f->ua, d, "sock", 7, SRV_NODE_SOCK);
	mk(f, f->ua, d, "sub", 8, SRV_NODE_DIR);

	assert_int_equal(lookup(f, f->ua, d, "link", &e, &n), 0);
	assert_int_equal(n.kind, SRV_NODE_SYMLINK);
	assert_string_equal(n.target, "../target");
	assert_int_equal(n.size, 9);
	assert_int_equal(n.nlink, 1);
	assert_true(n.ctime_ns > 0);
	assert_string_equal(e.name, "link");
	assert_int_equal(get(f, f->ua, 1).nlink, 3); /* 2 + sub */
	assert_int_equal(root(f, f->ua).nlink, 3); /* 2 + dir */
	assert_int_equal(get(f, f->ua, 8).nlink, 2);

	/* Taken name, taken id (also by a node in the trash), bad parent. */
	assert_int_equal(mk_rc(f, f->ua, d, "file", 20, SRV_NODE_FILE),
			 -EEXIST);
	assert_int_equal(mk_rc(f, f->ua, d, "other", 2, SRV_NODE_FILE),
			 -EEXIST);
	assert_int_equal(unl(f, f->ua, d, "fifo", 0, 50), 0);
	assert_int_equal(mk_rc(f, f->ua, d, "fifo2", 4, SRV_NODE_FIFO),
			 -EEXIST);
	nid(x, 99);
	assert_int_equal(mk_rc(f, f->ua, x, "a", 21, SRV_NODE_FILE), -ENOENT);
	nid(x, 2);
	assert_int_equal(mk_rc(f, f->ua, x, "a", 21, SRV_NODE_FILE), -ENOTDIR);
	assert_int_equal(mk_rc(f, f->ua, d, "x", 22, (enum srv_node_kind)9),
			 -EINVAL);
	assert_int_equal(f->m->ops->create(f->m, f->ua, &n, d, "", 0, NULL),
			 -EINVAL);

	/* Listing: name order, paging with after and limit. */
	assert_int_equal(
		f->m->ops->list_dir(f->m, f->ua, d, NULL, 0, 0, names_fn, &s),
		0);
	assert_int_equal(s.count, 6); /* fifo is in the trash */
	assert_string_equal(s.name[0], "blk");
	assert_string_equal(s.name[1], "chr");
	assert_string_equal(s.name[2], "file");
	assert_string_equal(s.name[5], "sub");
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		f->m->ops->list_dir(f->m, f->ua, d, "chr", 3, 2, names_fn, &s),
		0);
	assert_int_equal(s.count, 2);
	assert_string_equal(s.name[0], "file");
	assert_string_equal(s.name[1], "link");
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(
		f->m->ops->list_dir(f->m, f->ua, d, NULL, 0, 0, names_fn, &s),
		0);
	assert_int_equal(s.count, 1);
	nid(x, 2);
	assert_int_equal(
		f->m->ops->list_dir(f->m, f->ua, x, NULL, 0, 0, names_fn, &s),
		-ENOTDIR);
	assert_int_equal(lookup(f, f->ua, d, "nope", &e, &n), -ENOENT);
	assert_int_equal(lookup(f, f->ua, x, "nope", &e, &n), -ENOTDIR);
}

static void test_srv_meta__create_batch(void **state)
{
	struct fx *f = *state;
	struct srv_node n[4];
	struct srv_create it[4];
	uint8_t d[SRV_NODE_ID_SIZE], bad[SRV_NODE_ID_SIZE];
	const char *names[4] = { "sub", "a", "b", "c" };
	struct srv_entry e;
	struct srv_node got;
	uint64_t seq = 0, seq2 = 0;
	size_t done = 99, i;

	nid(d, 40);
	memset(n, 0, sizeof(n));
	for (i = 0; i < 4; i++) {
		nid(n[i].id, 40 + (unsigned)i);
		n[i].kind = i ? SRV_NODE_FILE : SRV_NODE_DIR;
		n[i].mode = 0644;
		it[i].node = &n[i];
		it[i].parent = i ? d : srv_root_id; /* 1..3 inside the first */
		it[i].name = names[i];
		it[i].name_len = strlen(names[i]);
	}
	/* one transaction: a directory and what goes into it */
	assert_int_equal(
		f->m->ops->create_batch(f->m, f->ua, it, 3, &done, &seq), 0);
	assert_int_equal(done, 3);
	assert_int_equal(lookup(f, f->ua, d, "b", &e, &got), 0);
	assert_memory_equal(got.id, n[2].id, SRV_NODE_ID_SIZE);
	assert_true(seq >= e.seq && e.seq > 0);
	assert_int_equal(get(f, f->ua, 40).nlink, 2);

	/* a retry after a lost answer: done again, nothing new */
	assert_int_equal(
		f->m->ops->create_batch(f->m, f->ua, it, 4, &done, &seq2), 0);
	assert_int_equal(done, 4);
	assert_int_equal(lookup(f, f->ua, d, "c", &e, &got), 0);
	assert_true(seq2 >= e.seq && seq2 > seq); /* only "c" is new */

	/* stops at a taken name; the items before it stay */
	nid(n[1].id, 50);
	it[1].name = "a2";
	it[1].name_len = 2;
	nid(n[2].id, 51);
	it[2].name = "a"; /* 41's */
	nid(n[3].id, 52);
	it[3].name = "d";
	assert_int_equal(
		f->m->ops->create_batch(f->m, f->ua, it + 1, 3, &done, &seq),
		-EEXIST);
	assert_int_equal(done, 1);
	assert_int_equal(lookup(f, f->ua, d, "a2", &e, &got), 0);
	assert_true(seq >= e.seq && seq > seq2); /* the cursor after "a2" */
	assert_int_equal(lookup(f, f->ua, d, "d", &e, &got), -ENOENT);

	/* a parent that is not there, a bad name: nothing made */
	nid(bad, 99);
	it[3].parent = bad;
	assert_int_equal(
		f->m->ops->create_batch(f->m, f->ua, it + 3, 1, &done, NULL),
		-ENOENT);
	assert_int_equal(done, 0);
	it[3].parent = d;
	it[3].name = "";
	it[3].name_len = 0;
	assert_int_equal(
		f->m->ops->create_batch(f->m, f->ua, it + 3, 1, &done, NULL),
		-EINVAL);
	assert_int_equal(done, 0);
	/* another account's directory is not there for this one */
	it[3].name = "d";
	it[3].name_len = 1;
	assert_int_equal(
		f->m->ops->create_batch(f->m, f->ub, it + 3, 1, &done, NULL),
		-ENOENT);
}

/*
 * A batch of creates writes its commit to the log and nothing else: the
 * savepoint of each create keeps its undo pages in memory. Past 64 KiB
 * of them SQLite would move them to a temp file, written a page at a
 * time: a batch this large gets there, and so did a server taking a
 * client's creates of many small files (2.4 writes a create).
 */
static void test_srv_meta__create_batch_writes_only_the_log(void **state)
{
	enum { N = 400 };
	struct fx *f = *state;
	struct srv_node n[N];
	struct srv_create it[N];
	char names[N][8];
	unsigned p0;
	size_t done = 0, i;

	memset(n, 0, sizeof(n));
	memset(it, 0, sizeof(it));
	for (i = 0; i < N; i++) {
		nid(n[i].id, 200 + (unsigned)i);
		n[i].kind = SRV_NODE_FILE;
		n[i].mode = 0644;
		snprintf(names[i], sizeof(names[i]), "f%zu", i);
		it[i].node = &n[i];
		it[i].parent = srv_root_id;
		it[i].name = names[i];
		it[i].name_len = strlen(names[i]);
	}
	/* the first commit opens the log; count from the second */
	assert_int_equal(
		f->m->ops->create_batch(f->m, f->ua, it, 1, &done, NULL), 0);
	p0 = pwrites;
	assert_int_equal(f->m->ops->create_batch(f->m, f->ua, it + 1, N - 1,
						 &done, NULL),
			 0);
	assert_int_equal(done, N - 1);
	assert_true(pwrites - p0 <= 2);
}

static void test_srv_meta__setattr_and_pending(void **state)
{
	struct fx *f = *state;
	uint8_t x[SRV_NODE_ID_SIZE];
	struct srv_setattr a;
	struct srv_node n;
	uint64_t seq;

	mk(f, f->ua, srv_root_id, "f", 1, SRV_NODE_FILE);
	mk(f, f->ua, srv_root_id, "d", 2, SRV_NODE_DIR);
	nid(x, 1);
	memset(&a, 0, sizeof(a));
	a.flags = SRV_SET_MODE | SRV_SET_UID | SRV_SET_MTIME;
	a.mode = 04700;
	a.uid = 42;
	a.mtime_ns = 5555;
	assert_int_equal(f->m->ops->setattr(f->m, f->ua, x, &a, &seq), 0);
	n = get(f, f->ua, 1);
	assert_int_equal(n.mode, 04700);
	assert_int_equal(n.uid, 42);
	assert_int_equal(n.gid, 1000);
	assert_int_equal(n.mtime_ns, 5555);
	assert_int_equal(n.seq, seq);
	a.mode = 0170000;
	assert_int_equal(f->m->ops->setattr(f->m, f->ua, x, &a, &seq), -EINVAL);
	assert_int_equal(f->m->ops->setattr(f->m, f->ub, x, &a, &seq), -EINVAL);
	a.mode = 0600;
	assert_int_equal(f->m->ops->setattr(f->m, f->ub, x, &a, &seq), -ENOENT);

	assert_int_equal(f->m->ops->mark_pending(f->m, f->ua, x, 77, &seq), 0);
	n = get(f, f->ua, 1);
	assert_int_equal(n.status, SRV_STATUS_PENDING);
	assert_int_equal(n.pending_device, 77);
	assert_int_equal(commit(f, f->ua, 1, 0, 1, 0, NULL, NULL, NULL), 0);
	n = get(f, f->ua, 1);
	assert_int_equal(n.status, SRV_STATUS_UPLOADED);
	assert_int_equal(n.version, 1);
	nid(x, 2);
	assert_int_equal(f->m->ops->mark_pending(f->m, f->ua, x, 77, &seq),
			 -EISDIR);
	assert_int_equal(f->m->ops->mark_pending(f->m, f->ub, x, 77, &seq),
			 -ENOENT);
}

static void test_srv_meta__accounts_are_isolated(void **state)
{
	struct fx *f = *state;
	uint8_t d[SRV_NODE_ID_SIZE], x[SRV_NODE_ID_SIZE];
	struct names s = { .count = 0 };
	struct srv_version v;
	struct srv_entry e;
	struct srv_node n;
	struct blk_id b = bid(1);
	uint64_t size;
	bool missing;

	mk(f, f->ua, srv_root_id, "d", 1, SRV_NODE_DIR);
	nid(d, 1);
	mk(f, f->ua, d, "f", 2, SRV_NODE_FILE);
	add_blocks(f, f->ua, 1, 1, 100);
	assert_int_equal(commit(f, f->ua, 2, 0, 1, 1, NULL, NULL, NULL), 0);
	nid(x, 2);

	/* Bob sees none of it. */
	assert_int_equal(get_rc(f, f->ub, 1), -ENOENT);
	assert_int_equal(lookup(f, f->ub, d, "f", &e, &n), -ENOENT);
	assert_int_equal(lookup(f, f->ub, srv_root_id, "d", &e, &n), -ENOENT);
	assert_int_equal(
		f->m->ops->list_dir(f->m, f->ub, d, NULL, 0, 0, names_fn, &s),
		-ENOENT);
	assert_int_equal(mk_rc(f, f->ub, d, "g", 3, SRV_NODE_FILE), -ENOENT);
	assert_int_equal(commit(f, f->ub, 2, 1, 1, 0, NULL, NULL, NULL),
			 -ENOENT);
	assert_int_equal(f->m->ops->version_get(f->m, f->ub, x, 1, &v),
			 -ENOENT);
	assert_int_equal(f->m->ops->versions(f->m, f->ub, x, NULL, NULL),
			 -ENOENT);
	assert_int_equal(f->m->ops->block_has(f->m, f->ub, &b, &size), -ENOENT);
	assert_int_equal(
		f->m->ops->blocks_missing(f->m, f->ub, &b, 1, 200, &missing),
		0);
	assert_true(missing);
	assert_int_equal(unl(f, f->ub, d, "f", 0, 10), -ENOENT);
	assert_int_equal(ren(f, f->ub, d, "f", srv_root_id, "g", 0), -ENOENT);
	assert_int_equal(
		f->m->ops->link(f->m, f->ub, x, srv_root_id, "h", 1, NULL),
		-ENOENT);
	assert_int_equal(f->m->ops->trash_purge(f->m, f->ub, x, NULL), -ENOENT);
	/* Bob's own node with the same id is his alone. */
	mk(f, f->ub, srv_root_id, "mine", 2, SRV_NODE_FILE);
	assert_int_equal(get(f, f->ua, 2).version, 1);
	assert_int_equal(get(f, f->ub, 2).version, 0);
	assert_int_equal(f->m->ops->block_has(f->m, f->ua, &b, &size), 0);
	assert_int_equal(size, 100);
}

/* ----- change feed ----- */

struct feed {
	uint64_t last;
	size_t nodes, entries, tombstones, rows;
};

static int feed_node(void *arg, const struct srv_node *n)
{
	struct feed *s = arg;

	assert_true(n->seq > s->last);
	s->last = n->seq;
	s->nodes++;
	s->rows++;
	return 0;
}

static int feed_entry(void *arg, const struct srv_entry *e)
{
	struct feed *s = arg;

	assert_true(e->seq > s->last);
	s->last = e->seq;
	s->entries++;
	s->tombstones += e->deleted;
	s->rows++;
	return 0;
}

static void test_srv_meta__changes_page_exactly(void **state)
{
	struct fx *f = *state;
	uint8_t d[SRV_NODE_ID_SIZE];
	struct feed all = { 0 }, paged;
	struct srv_user u;
	uint64_t next, since;
	char name[32];
	size_t limit;
	bool more;
	unsigned i;

	mk(f, f->ua, srv_root_id, "d", 1, SRV_NODE_DIR);
	nid(d, 1);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "f%02u", i);
		mk(f, f->ua, d, name, 100 + i, SRV_NODE_FILE);
	}
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%02u", i);
		assert_int_equal(unl(f, f->ua, d, name, 0, 10), 0);
	}
	for (i = 10; i < 15; i++) {
		char to[32];

		snprintf(name, sizeof(name), "f%02u", i);
		snprintf(to, sizeof(to), "r%02u", i);
		assert_int_equal(ren(f, f->ua, d, name, srv_root_id, to, 0), 0);
	}
	mk(f, f->ub, srv_root_id, "bob", 1, SRV_NODE_FILE);

	assert_int_equal(f->m->ops->changes(f->m, f->ua, 0, 0, feed_node,
					    feed_entry, &all, &next, &more),
			 0);
	assert_false(more);
	assert_int_equal(f->m->ops->user_get(f->m, f->ua, &u), 0);
	assert_int_equal(next, u.seq);
	assert_int_equal(all.last, u.seq);
	assert_int_equal(all.tombstones, 10);
	assert_int_equal(all.entries, 41 - 10 + 10); /* live + tombstones */

	for (limit = 1; limit <= 7; limit++) {
		memset(&paged, 0, sizeof(paged));
		since = 0;
		do {
			size_t before = paged.rows;

			assert_int_equal(f->m->ops->changes(f->m, f->ua, since,
							    limit, feed_node,
							    feed_entry, &paged,
							    &next, &more),
					 0);
			assert_true(paged.rows - before <= limit);
			assert_true(next >= since);
			if (more)
				assert_int_equal(paged.rows - before, limit);
			since = next;
		} while (more);
		assert_int_equal(paged.rows, all.rows);
		assert_int_equal(paged.tombstones, all.tombstones);
		assert_int_equal(paged.last, all.last);
	}
	/* Nothing new: next stays, more false. */
	memset(&paged, 0, sizeof(paged));
	assert_int_equal(f->m->ops->changes(f->m, f->ua, u.seq, 5, feed_node,
					    feed_entry, &paged, &next, &more),
			 0);
	assert_int_equal(paged.rows, 0);
	assert_int_equal(next, u.seq);
	assert_false(more);
}

/* ----- rename ----- */

static void test_srv_meta__rename_matrix(void **state)
{
	struct fx *f = *state;
	uint8_t a[SRV_NODE_ID_SIZE], b[SRV_NODE_ID_SIZE], c[SRV_NODE_ID_SIZE];
	struct srv_entry e, e2;
	struct srv_node n;
	uint64_t seq_before, seq;

	/* /a/{f1,f2,e1/,e2/,full/{x}}, /b/ */
	mk(f, f->ua, srv_root_id, "a", 1, SRV_NODE_DIR);
	mk(f, f->ua, srv_root_id, "b", 2, SRV_NODE_DIR);
	nid(a, 1);
	nid(b, 2);
	mk(f, f->ua, a, "f1", 10, SRV_NODE_FILE);
	mk(f, f->ua, a, "f2", 11, SRV_NODE_FILE);
	mk(f, f->ua, a, "e1", 12, SRV_NODE_DIR);
	mk(f, f->ua, a, "e2", 13, SRV_NODE_DIR);
	mk(f, f->ua, a, "full", 14, SRV_NODE_DIR);
	nid(c, 14);
	mk(f, f->ua, c, "x", 15, SRV_NODE_FILE);
	assert_int_equal(get(f, f->ua, 1).nlink, 5);

	/* File over file: the replaced one goes to the trash. */
	assert_int_equal(lookup(f, f->ua, a, "f1", &e, &n), 0);
	assert_int_equal(ren(f, f->ua, a, "f1", a, "f2", 0), 0);
	assert_int_equal(lookup(f, f->ua, a, "f2", &e2, &n), 0);
	assert_int_equal(e2.id, e.id); /* entry ids are stable */
	assert_true(get(f, f->ua, 11).deleted != 0);
	assert_int_equal(lookup(f, f->ua, a, "f1", &e, &n), -ENOENT);

	/* Type mismatches and non-empty targets. */
	assert_int_equal(ren(f, f->ua, a, "f2", a, "e1", 0), -EISDIR);
	assert_int_equal(ren(f, f->ua, a, "e1", a, "f2", 0), -ENOTDIR);
	assert_int_equal(ren(f, f->ua, a, "e1", a, "full", 0), -ENOTEMPTY);
	assert_int_equal(ren(f, f->ua, a, "nope", a, "x", 0), -ENOENT);

	/* A directory into its own subtree, or onto itself via a child. */
	assert_int_equal(ren(f, f->ua, srv_root_id, "a", c, "a", 0), -EINVAL);
	assert_int_equal(ren(f, f->ua, srv_root_id, "a", a, "a", 0), -EINVAL);
	assert_int_equal(ren(f, f->ua, a, "full", c, "inner", 0), -EINVAL);

	/* NOREPLACE, and bad flag combinations. */
	assert_int_equal(ren(f, f->ua, a, "f2", a, "e1", SRV_RENAME_NOREPLACE),
			 -EEXIST);
	assert_int_equal(ren(f, f->ua, a, "f2", a, "e1",
			     SRV_RENAME_NOREPLACE | SRV_RENAME_EXCHANGE),
			 -EINVAL);
	assert_int_equal(ren(f, f->ua, a, "f2", a, "new", SRV_RENAME_NOREPLACE),
			 0);

	/* Onto itself: nothing changes, not even the seq. */
	seq_before = get(f, f->ua, 10).seq;
	assert_int_equal(ren(f, f->ua, a, "new", a, "new", 0), 0);
	assert_int_equal(get(f, f->ua, 10).seq, seq_before);

	/* Directory over an empty directory, across parents: nlink. */
	assert_int_equal(ren(f, f->ua, a, "e1", b, "tmp", 0), 0);
	assert_int_equal(get(f, f->ua, 1).nlink, 4);
	assert_int_equal(get(f, f->ua, 2).nlink, 3);
	assert_int_equal(ren(f, f->ua, a, "e2", b, "tmp", 0), 0);
	assert_true(get(f, f->ua, 12).deleted != 0);
	assert_int_equal(get(f, f->ua, 1).nlink, 3);
	assert_int_equal(get(f, f->ua, 2).nlink, 3);

	/* EXCHANGE: a file and a directory swap places. */
	assert_int_equal(ren(f, f->ua, a, "new", b, "tmp", SRV_RENAME_EXCHANGE),
			 0);
	assert_int_equal(lookup(f, f->ua, a, "new", &e, &n), 0);
	assert_int_equal(n.kind, SRV_NODE_DIR);
	assert_int_equal(lookup(f, f->ua, b, "tmp", &e, &n), 0);
	assert_int_equal(n.kind, SRV_NODE_FILE);
	assert_int_equal(get(f, f->ua, 1).nlink, 4);
	assert_int_equal(get(f, f->ua, 2).nlink, 2);
	assert_int_equal(
		ren(f, f->ua, a, "new", b, "absent", SRV_RENAME_EXCHANGE),
		-ENOENT);
	/* Exchanging a directory with its own child is a cycle. */
	assert_int_equal(
		ren(f, f->ua, c, "x", srv_root_id, "a", SRV_RENAME_EXCHANGE),
		-EINVAL);

	/* Two names of one file: rename(2) does nothing. */
	nid(n.id, 15);
	assert_int_equal(f->m->ops->link(f->m, f->ua, n.id, c, "y", 1, &seq),
			 0);
	assert_int_equal(ren(f, f->ua, c, "x", c, "y", 0), 0);
	assert_int_equal(lookup(f, f->ua, c, "x", &e, &n), 0);
	assert_int_equal(lookup(f, f->ua, c, "y", &e, &n), 0);
	assert_int_equal(n.nlink, 2);

	/* Moving a whole directory changes one entry row. */
	seq_before = get(f, f->ua, 15).seq;
	assert_int_equal(ren(f, f->ua, a, "full", b, "moved", 0), 0);
	assert_int_equal(get(f, f->ua, 15).seq, seq_before);
	assert_int_equal(lookup(f, f->ua, c, "x", &e, &n), 0);
}

/* The node at parent/name is node id `id`. */
static void assert_at(struct fx *f, const uint8_t *parent, const char *name,
		      unsigned id)
{
	uint8_t x[SRV_NODE_ID_SIZE];
	struct srv_entry e;
	struct srv_node n;

	nid(x, id);
	assert_int_equal(lookup(f, f->ua, parent, name, &e, &n), 0);
	assert_memory_equal(e.node, x, SRV_NODE_ID_SIZE);
}

/*
 * dst_node: a client replaying an offline rename names the node it
 * replaced; a different node at the target now was put there by someone
 * else and must not go to the trash unseen.
 */
static void test_srv_meta__rename_replaces_only_the_expected_node(void **state)
{
	struct fx *f = *state;
	uint8_t r[SRV_NODE_ID_SIZE], x[SRV_NODE_ID_SIZE];
	struct srv_entry e;
	struct srv_node n;
	uint64_t seq_r, seq_f1, seq_f2;

	/* /r/{f1,f2,f3,d/} */
	mk(f, f->ua, srv_root_id, "r", 1, SRV_NODE_DIR);
	nid(r, 1);
	mk(f, f->ua, r, "f1", 10, SRV_NODE_FILE);
	mk(f, f->ua, r, "f2", 11, SRV_NODE_FILE);
	mk(f, f->ua, r, "f3", 12, SRV_NODE_FILE);
	mk(f, f->ua, r, "d", 13, SRV_NODE_DIR);

	/* Another node at the target than expected: -EEXIST, nothing moves. */
	seq_r = get(f, f->ua, 1).seq;
	seq_f1 = get(f, f->ua, 10).seq;
	seq_f2 = get(f, f->ua, 11).seq;
	assert_int_equal(ren_cas(f, f->ua, r, "f1", r, "f2", 12, 0), -EEXIST);
	assert_at(f, r, "f1", 10);
	assert_at(f, r, "f2", 11);
	assert_int_equal(get(f, f->ua, 11).deleted, 0);
	assert_int_equal(get(f, f->ua, 1).seq, seq_r);
	assert_int_equal(get(f, f->ua, 10).seq, seq_f1);
	assert_int_equal(get(f, f->ua, 11).seq, seq_f2);

	/* The expected node: replaced, and to the trash as without dst_node. */
	assert_int_equal(ren_cas(f, f->ua, r, "f1", r, "f2", 11, 0), 0);
	assert_at(f, r, "f2", 10);
	assert_int_equal(lookup(f, f->ua, r, "f1", &e, &n), -ENOENT);
	assert_true(get(f, f->ua, 11).deleted != 0);

	/* The target is free (its node went elsewhere): a plain move. */
	assert_int_equal(ren_cas(f, f->ua, r, "f2", r, "g", 99, 0), 0);
	assert_at(f, r, "g", 10);
	assert_int_equal(lookup(f, f->ua, r, "f2", &e, &n), -ENOENT);

	/* NOREPLACE contradicts an expectation, target taken or free. */
	assert_int_equal(
		ren_cas(f, f->ua, r, "g", r, "f3", 12, SRV_RENAME_NOREPLACE),
		-EINVAL);
	assert_int_equal(
		ren_cas(f, f->ua, r, "g", r, "free", 12, SRV_RENAME_NOREPLACE),
		-EINVAL);
	assert_at(f, r, "g", 10);
	assert_at(f, r, "f3", 12);

	/* EXCHANGE checks the entry swapped in. */
	assert_int_equal(
		ren_cas(f, f->ua, r, "g", r, "d", 12, SRV_RENAME_EXCHANGE),
		-EEXIST);
	assert_at(f, r, "g", 10);
	assert_at(f, r, "d", 13);
	assert_int_equal(
		ren_cas(f, f->ua, r, "g", r, "d", 13, SRV_RENAME_EXCHANGE), 0);
	assert_at(f, r, "g", 13);
	assert_at(f, r, "d", 10);

	/* Two names of one node: still the no-op, whatever dst_node says. */
	nid(x, 12);
	assert_int_equal(f->m->ops->link(f->m, f->ua, x, r, "f3b", 3, NULL), 0);
	seq_f1 = get(f, f->ua, 12).seq;
	assert_int_equal(ren_cas(f, f->ua, r, "f3", r, "f3b", 12, 0), 0);
	assert_int_equal(ren_cas(f, f->ua, r, "f3", r, "f3b", 99, 0), 0);
	assert_at(f, r, "f3", 12);
	assert_at(f, r, "f3b", 12);
	assert_int_equal(get(f, f->ua, 12).nlink, 2);
	assert_int_equal(get(f, f->ua, 12).seq, seq_f1);
}

/*
 * The source's node (unlink's too): a client replaying an offline rename
 * or unlink names the node it moved or removed; another node at that name
 * now was put there by someone else and stays where it is.
 */
static void
test_srv_meta__rename_and_unlink_take_only_the_named_node(void **state)
{
	struct fx *f = *state;
	uint8_t r[SRV_NODE_ID_SIZE];
	uint64_t seq_r, seq_f1;

	/* /r/{f1,f2,d/} */
	mk(f, f->ua, srv_root_id, "r", 1, SRV_NODE_DIR);
	nid(r, 1);
	mk(f, f->ua, r, "f1", 10, SRV_NODE_FILE);
	mk(f, f->ua, r, "f2", 11, SRV_NODE_FILE);
	mk(f, f->ua, r, "d", 12, SRV_NODE_DIR);

	/* Another node at the source: -ENOENT, nothing moves. */
	seq_r = get(f, f->ua, 1).seq;
	seq_f1 = get(f, f->ua, 10).seq;
	assert_int_equal(ren_nodes(f, f->ua, r, "f1", 11, r, "g", 0, 0),
			 -ENOENT);
	assert_int_equal(ren_nodes(f, f->ua, r, "f1", 11, r, "f2", 0,
				   SRV_RENAME_EXCHANGE),
			 -ENOENT);
	assert_at(f, r, "f1", 10);
	assert_at(f, r, "f2", 11);
	assert_int_equal(get(f, f->ua, 1).seq, seq_r);
	assert_int_equal(get(f, f->ua, 10).seq, seq_f1);

	/* The named node: it moves, with a check on the target as well. */
	assert_int_equal(ren_nodes(f, f->ua, r, "f1", 10, r, "g", 0, 0), 0);
	assert_at(f, r, "g", 10);
	assert_int_equal(ren_nodes(f, f->ua, r, "g", 10, r, "f2", 99, 0),
			 -EEXIST);
	assert_int_equal(ren_nodes(f, f->ua, r, "g", 10, r, "f2", 11, 0), 0);
	assert_at(f, r, "f2", 10);
	assert_true(get(f, f->ua, 11).deleted != 0);

	/* unlink: another node at the name stays, the named one goes. */
	assert_int_equal(unl_node(f, f->ua, r, "f2", 11, 0, 1000), -ENOENT);
	assert_int_equal(unl_node(f, f->ua, r, "d", 10, SRV_UNLINK_DIR, 1000),
			 -ENOENT);
	assert_at(f, r, "f2", 10);
	assert_at(f, r, "d", 12);
	assert_int_equal(get(f, f->ua, 10).deleted, 0);
	assert_int_equal(unl_node(f, f->ua, r, "f2", 10, 0, 1000), 0);
	assert_true(get(f, f->ua, 10).deleted != 0);
	assert_int_equal(unl_node(f, f->ua, r, "d", 12, SRV_UNLINK_DIR, 1000),
			 0);
	assert_true(get(f, f->ua, 12).deleted != 0);
}

/* ----- hard links, trash ----- */

static int trash_count(void *arg, const struct srv_trash_item *t)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

static void test_srv_meta__hard_links_and_nlink(void **state)
{
	struct fx *f = *state;
	uint8_t d[SRV_NODE_ID_SIZE], x[SRV_NODE_ID_SIZE];
	int n = 0;

	mk(f, f->ua, srv_root_id, "d", 1, SRV_NODE_DIR);
	nid(d, 1);
	mk(f, f->ua, d, "f", 2, SRV_NODE_FILE);
	nid(x, 2);
	assert_int_equal(
		f->m->ops->link(f->m, f->ua, x, srv_root_id, "g", 1, NULL), 0);
	/* the same link again (a retry): done, nothing added */
	assert_int_equal(
		f->m->ops->link(f->m, f->ua, x, srv_root_id, "g", 1, NULL), 0);
	/* a name another node holds */
	assert_int_equal(
		f->m->ops->link(f->m, f->ua, x, srv_root_id, "d", 1, NULL),
		-EEXIST);
	assert_int_equal(
		f->m->ops->link(f->m, f->ua, d, srv_root_id, "dd", 2, NULL),
		-EPERM);
	assert_int_equal(get(f, f->ua, 2).nlink, 2);
	assert_int_equal(unl(f, f->ua, d, "f", 0, 10), 0);
	assert_int_equal(get(f, f->ua, 2).nlink, 1);
	assert_int_equal(get(f, f->ua, 2).deleted, 0);
	assert_int_equal(unl(f, f->ua, srv_root_id, "g", 0, 10), 0);
	assert_int_equal(get(f, f->ua, 2).nlink, 0);
	assert_int_equal(get(f, f->ua, 2).deleted, 10);
	assert_int_equal(f->m->ops->trash_list(f->m, f->ua, trash_count, &n),
			 0);
	assert_int_equal(n, 1);
	/* A trashed node takes no new links. */
	assert_int_equal(
		f->m->ops->link(f->m, f->ua, x, srv_root_id, "h", 1, NULL),
		-ENOENT);
}

struct trash_seen {
	int count;
	struct srv_trash_item first;
};

static int trash_fn(void *arg, const struct srv_trash_item *t)
{
	struct trash_seen *s = arg;

	if (s->count++ == 0)
		s->first = *t;
	return 0;
}

static void test_srv_meta__trash_restore_purge(void **state)
{
	struct fx *f = *state;
	uint8_t d[SRV_NODE_ID_SIZE], x[SRV_NODE_ID_SIZE];
	struct trash_seen s = { 0 };
	struct srv_entry e;
	struct srv_node n;
	uint64_t seq;

	mk(f, f->ua, srv_root_id, "d", 1, SRV_NODE_DIR);
	nid(d, 1);
	mk(f, f->ua, d, "f", 2, SRV_NODE_FILE);
	nid(x, 2);
	assert_int_equal(unl(f, f->ua, d, "f", SRV_UNLINK_DIR, 10), -ENOTDIR);
	assert_int_equal(unl(f, f->ua, srv_root_id, "d", 0, 10), -EISDIR);
	assert_int_equal(unl(f, f->ua, srv_root_id, "d", SRV_UNLINK_DIR, 10),
			 -ENOTEMPTY);
	assert_int_equal(unl(f, f->ua, d, "nope", 0, 10), -ENOENT);

	/* unlink -> trash -> restore to where it was. */
	assert_int_equal(unl(f, f->ua, d, "f", 0, 10), 0);
	assert_int_equal(lookup(f, f->ua, d, "f", &e, &n), -ENOENT);
	assert_int_equal(f->m->ops->trash_list(f->m, f->ua, trash_fn, &s), 0);
	assert_int_equal(s.count, 1);
	assert_memory_equal(s.first.node, x, SRV_NODE_ID_SIZE);
	assert_memory_equal(s.first.parent, d, SRV_NODE_ID_SIZE);
	assert_string_equal(s.first.name, "f");
	assert_int_equal(s.first.deleted, 10);
	assert_int_equal(
		f->m->ops->trash_restore(f->m, f->ua, x, NULL, NULL, 0, &seq),
		0);
	assert_int_equal(lookup(f, f->ua, d, "f", &e, &n), 0);
	assert_int_equal(n.nlink, 1);
	assert_int_equal(n.deleted, 0);
	assert_int_equal(
		f->m->ops->trash_restore(f->m, f->ua, x, NULL, NULL, 0, &seq),
		-ENOENT);

	/* Restore where the name is taken now, then under a new name. */
	assert_int_equal(unl(f, f->ua, d, "f", 0, 10), 0);
	mk(f, f->ua, d, "f", 3, SRV_NODE_FILE);
	assert_int_equal(
		f->m->ops->trash_restore(f->m, f->ua, x, NULL, NULL, 0, &seq),
		-EEXIST);
	assert_int_equal(f->m->ops->trash_restore(f->m, f->ua, x, srv_root_id,
						  "f-old", 5, &seq),
			 0);
	assert_int_equal(lookup(f, f->ua, srv_root_id, "f-old", &e, &n), 0);
	assert_memory_equal(n.id, x, SRV_NODE_ID_SIZE);

	/* Purge: gone for good. */
	assert_int_equal(unl(f, f->ua, srv_root_id, "f-old", 0, 10), 0);
	assert_int_equal(f->m->ops->trash_purge(f->m, f->ua, x, &seq), 0);
	assert_int_equal(get_rc(f, f->ua, 2), -ENOENT);
	assert_int_equal(f->m->ops->trash_purge(f->m, f->ua, x, &seq), -ENOENT);
	/* A live node is not in the trash. */
	nid(x, 3);
	assert_int_equal(f->m->ops->trash_purge(f->m, f->ua, x, &seq), -ENOENT);
}

static int feed_count_node(void *arg, const struct srv_node *n)
{
	(void)n;
	((size_t *)arg)[0]++;
	return 0;
}

static int feed_count_entry(void *arg, const struct srv_entry *e)
{
	(void)e;
	((size_t *)arg)[1]++;
	return 0;
}

static void test_srv_meta__recursive_delete_restore_purge(void **state)
{
	struct fx *f = *state;
	uint8_t d[SRV_NODE_ID_SIZE], s[SRV_NODE_ID_SIZE], x[SRV_NODE_ID_SIZE];
	struct trash_seen t = { 0 };
	struct srv_user u;
	size_t counts[2] = { 0, 0 };
	uint64_t seq, next;
	bool more;

	/* /d/{a, s/{b, c}}, and /keep = a second link of /d/s/b */
	mk(f, f->ua, srv_root_id, "d", 1, SRV_NODE_DIR);
	nid(d, 1);
	mk(f, f->ua, d, "a", 2, SRV_NODE_FILE);
	mk(f, f->ua, d, "s", 3, SRV_NODE_DIR);
	nid(s, 3);
	mk(f, f->ua, s, "b", 4, SRV_NODE_FILE);
	mk(f, f->ua, s, "c", 5, SRV_NODE_FILE);
	nid(x, 4);
	assert_int_equal(
		f->m->ops->link(f->m, f->ua, x, srv_root_id, "keep", 4, NULL),
		0);

	assert_int_equal(unl(f, f->ua, srv_root_id, "d",
			     SRV_UNLINK_DIR | SRV_UNLINK_RECURSIVE, 20),
			 0);
	assert_int_equal(root(f, f->ua).nlink, 2);
	assert_int_equal(f->m->ops->trash_list(f->m, f->ua, trash_fn, &t), 0);
	assert_int_equal(t.count, 1); /* only the top moved */
	assert_int_equal(t.first.kind, SRV_NODE_DIR);
	/* A trashed directory takes no new children. */
	assert_int_equal(mk_rc(f, f->ua, d, "z", 9, SRV_NODE_FILE), -ENOENT);
	/* Nor can it be restored into itself. */
	assert_int_equal(
		f->m->ops->trash_restore(f->m, f->ua, d, s, "d", 1, &seq),
		-EINVAL);

	/* Restore: the whole tree comes back with fresh seqs. */
	assert_int_equal(f->m->ops->user_get(f->m, f->ua, &u), 0);
	assert_int_equal(
		f->m->ops->trash_restore(f->m, f->ua, d, NULL, NULL, 0, &seq),
		0);
	assert_int_equal(f->m->ops->changes(f->m, f->ua, u.seq, 0,
					    feed_count_node, feed_count_entry,
					    counts, &next, &more),
			 0);
	/* d, a, s, b, c nodes + root; d, a, s, b, c entries. */
	assert_int_equal(counts[0], 6);
	assert_int_equal(counts[1], 5);
	assert_int_equal(root(f, f->ua).nlink, 3);

	/* Purge: everything below goes, except b which has /keep. */
	assert_int_equal(unl(f, f->ua, srv_root_id, "d",
			     SRV_UNLINK_DIR | SRV_UNLINK_RECURSIVE, 20),
			 0);
	assert_int_equal(f->m->ops->trash_purge(f->m, f->ua, d, &seq), 0);
	assert_int_equal(get_rc(f, f->ua, 1), -ENOENT);
	assert_int_equal(get_rc(f, f->ua, 2), -ENOENT);
	assert_int_equal(get_rc(f, f->ua, 3), -ENOENT);
	assert_int_equal(get_rc(f, f->ua, 5), -ENOENT);
	assert_int_equal(get(f, f->ua, 4).nlink, 1);
	assert_int_equal(get(f, f->ua, 4).deleted, 0);
}

/* ----- commits and versions ----- */

struct vlist {
	uint64_t v[8];
	int count;
};

static int vlist_fn(void *arg, const struct srv_version *v)
{
	struct vlist *l = arg;

	assert_null(v->manifest);
	if (l->count < 8)
		l->v[l->count] = v->version;
	l->count++;
	return 0;
}

static void test_srv_meta__commit_versions_restore(void **state)
{
	struct fx *f = *state;
	uint8_t x[SRV_NODE_ID_SIZE];
	struct blk_id *missing = NULL;
	struct vlist l = { .count = 0 };
	struct srv_version v;
	struct srv_usage use;
	size_t nmissing = 0;
	uint64_t ver, seq;

	mk(f, f->ua, srv_root_id, "f", 1, SRV_NODE_FILE);
	mk(f, f->ua, srv_root_id, "d", 2, SRV_NODE_DIR);
	nid(x, 1);

	/* Blocks 1..4 referenced, only 1 and 3 stored. */
	add_blocks(f, f->ua, 1, 1, 100);
	add_blocks(f, f->ua, 3, 1, 100);
	assert_int_equal(
		commit(f, f->ua, 1, 0, 1, 4, &ver, &missing, &nmissing),
		-ENOENT);
	assert_int_equal(nmissing, 2);
	assert_int_equal(missing[0].bytes[0], 0xb1);
	assert_int_equal(missing[0].bytes[31], 2);
	assert_int_equal(missing[1].bytes[31], 4);
	free(missing);
	missing = NULL;
	assert_int_equal(get(f, f->ua, 1).version, 0);

	add_blocks(f, f->ua, 2, 3, 100);
	assert_int_equal(
		commit(f, f->ua, 1, 0, 1, 4, &ver, &missing, &nmissing), 0);
	assert_null(missing);
	assert_int_equal(ver, 1);
	assert_int_equal(get(f, f->ua, 1).size, 4000);

	/* Stale base: -ESTALE with the current version. */
	ver = 99;
	assert_int_equal(commit(f, f->ua, 1, 0, 1, 2, &ver, NULL, NULL),
			 -ESTALE);
	assert_int_equal(ver, 1);
	assert_int_equal(commit(f, f->ua, 1, 1, 1, 2, &ver, NULL, NULL), 0);
	assert_int_equal(ver, 2);
	assert_int_equal(get(f, f->ua, 1).size, 2001);

	/* Not a file, not live, not there. */
	assert_int_equal(commit(f, f->ua, 2, 0, 1, 1, &ver, NULL, NULL),
			 -EISDIR);
	assert_int_equal(commit(f, f->ua, 55, 0, 1, 1, &ver, NULL, NULL),
			 -ENOENT);

	assert_int_equal(f->m->ops->versions(f->m, f->ua, x, vlist_fn, &l), 0);
	assert_int_equal(l.count, 2);
	assert_int_equal(l.v[0], 1);
	assert_int_equal(l.v[1], 2);

	assert_int_equal(f->m->ops->version_get(f->m, f->ua, x, 0, &v), 0);
	assert_int_equal(v.version, 2);
	assert_int_equal(v.size, 2001);
	assert_int_equal(v.device_id, 7);
	assert_int_equal(v.manifest_size, 32);
	assert_int_equal(v.manifest[0], 2);
	assert_int_equal(v.tag[0], 1);
	free(v.manifest);
	assert_int_equal(f->m->ops->version_get(f->m, f->ua, x, 1, &v), 0);
	assert_int_equal(v.size, 4000);
	free(v.manifest);
	assert_int_equal(f->m->ops->version_get(f->m, f->ua, x, 9, &v),
			 -ENOENT);

	/* Restore version 1: a new version 3 with its content. */
	assert_int_equal(
		f->m->ops->version_restore(f->m, f->ua, x, 1, 8, &ver, &seq),
		0);
	assert_int_equal(ver, 3);
	assert_int_equal(get(f, f->ua, 1).size, 4000);
	assert_int_equal(get(f, f->ua, 1).seq, seq);
	assert_int_equal(f->m->ops->version_get(f->m, f->ua, x, 3, &v), 0);
	assert_int_equal(v.manifest[0], 1);
	assert_int_equal(v.device_id, 8);
	free(v.manifest);
	assert_int_equal(
		f->m->ops->version_restore(f->m, f->ua, x, 42, 8, &ver, &seq),
		-ENOENT);

	assert_int_equal(f->m->ops->usage(f->m, f->ua, &use), 0);
	assert_int_equal(use.blocks, 4);
	assert_int_equal(use.bytes, 100 + 100 + 100 + 102);
	assert_int_equal(use.files, 1);
	assert_int_equal(f->m->ops->usage(f->m, 9999, &use), -ENOENT);
}

/* The versions of node (at most 8), oldest first, into *l. */
static void versions_of(struct fx *f, int64_t user, unsigned node,
			struct vlist *l)
{
	uint8_t x[SRV_NODE_ID_SIZE];

	nid(x, node);
	memset(l, 0, sizeof(*l));
	assert_int_equal(f->m->ops->versions(f->m, user, x, vlist_fn, l), 0);
}

static void test_srv_meta__commit_batch(void **state)
{
	struct fx *f = *state;
	struct commit_buf b[5];
	struct srv_commit cs[5];
	struct srv_commit_result r[5];
	struct blk_id b4 = bid(4);
	struct srv_node n, bob;
	struct vlist l;
	uint64_t seq, seqs[3];
	char name[8];
	size_t i;
	int single;

	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		mk(f, f->ua, srv_root_id, name, 1 + (unsigned)i, SRV_NODE_FILE);
	}
	mk(f, f->ua, srv_root_id, "d", 4, SRV_NODE_DIR);
	mk(f, f->ub, srv_root_id, "bobs", 5, SRV_NODE_FILE);
	bob = get(f, f->ub, 5);
	add_blocks(f, f->ua, 1, 3, 100); /* 1..3 stored, 4 is not */

	/* Three fresh files in one call: each at version 1, with its seq. */
	for (i = 0; i < 3; i++) {
		commit_prep(&b[i], 1 + (unsigned)i, 0, 1 + (unsigned)i, 1);
		cs[i] = b[i].c;
	}
	memset(r, 0xff, sizeof(r)); /* every field must be set */
	assert_int_equal(f->m->ops->commit_batch(f->m, f->ua, cs, 3, r), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(r[i].rc, 0);
		assert_int_equal(r[i].version, 1);
		assert_null(r[i].missing);
		assert_int_equal(r[i].missing_count, 0);
		n = get(f, f->ua, 1 + (unsigned)i);
		assert_int_equal(n.version, 1);
		assert_int_equal(n.seq, r[i].seq);
		assert_int_equal(n.size, 1000);
		assert_int_equal(n.status, SRV_STATUS_UPLOADED);
		versions_of(f, f->ua, 1 + (unsigned)i, &l);
		assert_int_equal(l.count, 1);
		assert_int_equal(l.v[0], 1);
		seqs[i] = r[i].seq;
	}
	assert_true(seqs[0] > 0 && seqs[0] < seqs[1] && seqs[1] < seqs[2]);
	seq = seqs[2];

	/* The same call again (its answer lost): each item is stale at 1. */
	assert_int_equal(f->m->ops->commit_batch(f->m, f->ua, cs, 3, r), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(r[i].rc, -ESTALE);
		assert_int_equal(r[i].version, 1);
		assert_null(r[i].missing);
		assert_int_equal(get(f, f->ua, 1 + (unsigned)i).seq, seqs[i]);
	}
	versions_of(f, f->ua, 1, &l);
	assert_int_equal(l.count, 1);

	/*
	 * Items are independent: a good one, a stale one, one whose block
	 * is not stored, a directory, and Bob's file named by Alice.
	 */
	commit_prep(&b[0], 1, 1, 1, 2); /* blocks 1, 2: committed */
	commit_prep(&b[1], 2, 0, 2, 1); /* 2 is at version 1 */
	commit_prep(&b[2], 3, 1, 3, 2); /* blocks 3, 4: 4 missing */
	commit_prep(&b[3], 4, 0, 1, 1); /* the directory */
	commit_prep(&b[4], 5, 0, 1, 1); /* Bob's */
	for (i = 0; i < 5; i++)
		cs[i] = b[i].c;
	assert_int_equal(f->m->ops->commit_batch(f->m, f->ua, cs, 5, r), 0);

	assert_int_equal(r[0].rc, 0);
	assert_int_equal(r[0].version, 2);
	n = get(f, f->ua, 1);
	assert_int_equal(n.version, 2);
	assert_int_equal(n.size, 2001);
	assert_int_equal(n.seq, r[0].seq);
	assert_true(r[0].seq > seq);
	versions_of(f, f->ua, 1, &l);
	assert_int_equal(l.count, 2);
	assert_int_equal(l.v[1], 2);

	assert_int_equal(r[1].rc, -ESTALE);
	assert_int_equal(r[1].version, 1);
	assert_null(r[1].missing);
	assert_int_equal(get(f, f->ua, 2).version, 1);

	assert_int_equal(r[2].rc, -ENOENT);
	assert_int_equal(r[2].missing_count, 1);
	assert_non_null(r[2].missing);
	assert_memory_equal(&r[2].missing[0], &b4, sizeof(b4));
	free(r[2].missing);
	assert_int_equal(get(f, f->ua, 3).version, 1);
	versions_of(f, f->ua, 3, &l);
	assert_int_equal(l.count, 1);

	single = commit(f, f->ua, 4, 0, 1, 1, NULL, NULL, NULL);
	assert_true(single == -EISDIR || single == -EINVAL);
	assert_int_equal(r[3].rc, single);
	assert_null(r[3].missing);
	assert_int_equal(get(f, f->ua, 4).version, 0);

	assert_int_equal(r[4].rc, -ENOENT);
	assert_null(r[4].missing);
	assert_int_equal(r[4].missing_count, 0);
	n = get(f, f->ub, 5);
	assert_int_equal(n.version, 0);
	assert_int_equal(n.seq, bob.seq);
	assert_int_equal(n.size, bob.size);
	assert_int_equal(n.status, bob.status);
	versions_of(f, f->ub, 5, &l);
	assert_int_equal(l.count, 0);

	/* An invalid item refuses the whole call: nothing is committed. */
	seq = get(f, f->ua, 1).seq;
	commit_prep(&b[0], 1, 2, 1, 1); /* would be version 3 */
	commit_prep(&b[1], 2, 1, 2, 1); /* would be version 2 */
	cs[0] = b[0].c;
	cs[1] = b[1].c;
	cs[1].manifest = NULL;
	memset(r, 0xff, sizeof(r));
	assert_int_equal(f->m->ops->commit_batch(f->m, f->ua, cs, 2, r),
			 -EINVAL);
	for (i = 0; i < 2; i++) {
		assert_int_equal(r[i].rc, 0);
		assert_int_equal(r[i].version, 0);
		assert_null(r[i].missing);
	}
	n = get(f, f->ua, 1);
	assert_int_equal(n.version, 2);
	assert_int_equal(n.seq, seq);
	assert_int_equal(get(f, f->ua, 2).version, 1);
	versions_of(f, f->ua, 1, &l);
	assert_int_equal(l.count, 2);
	/* and the same call made valid commits both */
	cs[1].manifest = b[1].manifest;
	assert_int_equal(f->m->ops->commit_batch(f->m, f->ua, cs, 2, r), 0);
	assert_int_equal(r[0].rc, 0);
	assert_int_equal(r[0].version, 3);
	assert_int_equal(r[1].rc, 0);
	assert_int_equal(r[1].version, 2);

	/* Items run in order: a second commit of a file builds on the first. */
	commit_prep(&b[0], 2, 2, 1, 1);
	commit_prep(&b[1], 2, 3, 2, 1);
	cs[0] = b[0].c;
	cs[1] = b[1].c;
	assert_int_equal(f->m->ops->commit_batch(f->m, f->ua, cs, 2, r), 0);
	assert_int_equal(r[0].rc, 0);
	assert_int_equal(r[0].version, 3);
	assert_int_equal(r[1].rc, 0);
	assert_int_equal(r[1].version, 4);
	assert_true(r[1].seq > r[0].seq);
	n = get(f, f->ua, 2);
	assert_int_equal(n.version, 4);
	assert_int_equal(n.seq, r[1].seq);
	versions_of(f, f->ua, 2, &l);
	assert_int_equal(l.count, 4);
}

/* ----- group commit ----- */

#define GC_THREADS 8
#define GC_COMMITS 500

struct gc_thread {
	struct fx *f;
	unsigned node;
	int failures;
	int order_errors;
};

static void *commit_thread(void *arg)
{
	struct gc_thread *t = arg;
	uint64_t base = 0, ver;
	int i;

	for (i = 0; i < GC_COMMITS; i++) {
		if (commit(t->f, t->f->ua, t->node, base, 1, 2, &ver, NULL,
			   NULL) != 0) {
			t->failures++;
			continue;
		}
		if (ver != base + 1)
			t->order_errors++;
		base = ver;
	}
	return NULL;
}

static void test_srv_meta__group_commit_concurrent(void **state)
{
	struct fx *f = *state;
	struct srv_sq *ms = (struct srv_sq *)f->m;
	struct gc_thread t[GC_THREADS];
	pthread_t th[GC_THREADS];
	struct vlist l;
	uint8_t x[SRV_NODE_ID_SIZE];
	struct timespec t0, t1;
	uint64_t batches0;
	double secs;
	char name[16];
	int i;

	add_blocks(f, f->ua, 1, 2, 100);
	for (i = 0; i < GC_THREADS; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		mk(f, f->ua, srv_root_id, name, 100 + (unsigned)i,
		   SRV_NODE_FILE);
		t[i] = (struct gc_thread){ f, 100 + (unsigned)i, 0, 0 };
	}
	batches0 = ms->batches;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < GC_THREADS; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, commit_thread, &t[i]), 0);
	for (i = 0; i < GC_THREADS; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("group commit: %d commits in %.2fs (%.0f/s), "
		      "%llu transactions\n",
		      GC_THREADS * GC_COMMITS, secs,
		      GC_THREADS * GC_COMMITS / secs,
		      (unsigned long long)(ms->batches - batches0));
	for (i = 0; i < GC_THREADS; i++) {
		assert_int_equal(t[i].failures, 0);
		assert_int_equal(t[i].order_errors, 0);
		assert_int_equal(get(f, f->ua, 100 + (unsigned)i).version,
				 GC_COMMITS);
		nid(x, 100 + (unsigned)i);
		memset(&l, 0, sizeof(l));
		assert_int_equal(
			f->m->ops->versions(f->m, f->ua, x, vlist_fn, &l), 0);
		assert_int_equal(l.count, GC_COMMITS);
	}
	/* Concurrent commits shared transactions. */
	assert_true(ms->batches - batches0 < GC_THREADS * GC_COMMITS);
	/* The checkpointer kept the WAL short (it restarts when done). */
	snprintf(name, sizeof(name), "-wal");
	{
		char wal[160];
		struct stat stw;

		snprintf(wal, sizeof(wal), "%s%s", f->path, name);
		assert_int_equal(stat(wal, &stw), 0);
		print_message("checkpoints: %llu + %llu, wal %lld KiB\n",
			      (unsigned long long)ms->checkpoints,
			      (unsigned long long)ms->wal_restarts,
			      (long long)stw.st_size / 1024);
		assert_true(ms->checkpoints + ms->wal_restarts > 0);
		assert_true(stw.st_size < 64 * 1024 * 1024);
	}
}

/* ----- blocks and GC ----- */

struct blist {
	unsigned last[16];
	int count;
};

static int blist_fn(void *arg, int64_t user, const struct blk_id *id,
		    uint64_t size)
{
	struct blist *l = arg;

	(void)user;
	(void)size;
	if (l->count < 16)
		l->last[l->count] = id->bytes[31];
	l->count++;
	return 0;
}

static void test_srv_meta__blocks_index(void **state)
{
	struct fx *f = *state;
	struct blk_id ids[3] = { bid(1), bid(2), bid(3) };
	bool missing[3], is_new;
	uint64_t size;

	assert_int_equal(
		f->m->ops->block_add(f->m, f->ua, &ids[0], 500, 100, &is_new),
		0);
	assert_true(is_new);
	assert_int_equal(
		f->m->ops->block_add(f->m, f->ua, &ids[0], 500, 150, &is_new),
		0);
	assert_false(is_new);
	assert_int_equal(f->m->ops->block_has(f->m, f->ua, &ids[0], &size), 0);
	assert_int_equal(size, 500);
	assert_int_equal(f->m->ops->block_has(f->m, f->ua, &ids[1], &size),
			 -ENOENT);
	assert_int_equal(
		f->m->ops->blocks_missing(f->m, f->ua, ids, 3, 200, missing),
		0);
	assert_false(missing[0]);
	assert_true(missing[1]);
	assert_true(missing[2]);
	assert_int_equal(
		f->m->ops->block_add(f->m, 9999, &ids[0], 500, 100, &is_new),
		-ENOENT);
}

/* Index rows are written without an fsync; everything else waits for one. */
static void test_srv_meta__block_rows_are_lazy(void **state)
{
	struct fx *f = *state;
	struct srv_sq *ms = (struct srv_sq *)f->m;
	struct blk_id id = bid(7);
	uint64_t size;
	bool missing;

	assert_int_equal(f->m->ops->block_add(f->m, f->ua, &id, 10, 100, NULL),
			 0);
	assert_true(ms->sync_lazy);
	mk(f, f->ua, srv_root_id, "durable", 50, SRV_NODE_FILE);
	assert_false(ms->sync_lazy);
	/* a last_seen mark is lazy too, and visible at once */
	assert_int_equal(
		f->m->ops->blocks_missing(f->m, f->ua, &id, 1, 300, &missing),
		0);
	assert_false(missing);
	assert_true(ms->sync_lazy);
	/* a reopened store still has the row (closing checkpoints it) */
	srv_meta_close(f->m);
	assert_int_equal(open_fx(f), 0);
	assert_int_equal(f->m->ops->block_has(f->m, f->ua, &id, &size), 0);
	assert_int_equal(size, 10);
}

static void test_srv_meta__gc_respects_references_and_grace(void **state)
{
	struct fx *f = *state;
	struct blk_id b1 = bid(1), b2 = bid(2), b3 = bid(3);
	struct blist l = { .count = 0 };
	struct srv_usage use;
	bool missing;

	mk(f, f->ua, srv_root_id, "f", 1, SRV_NODE_FILE);
	add_blocks(f, f->ua, 1, 3, 100); /* b1, b2, b3 seen at 100 */
	assert_int_equal(commit(f, f->ua, 1, 0, 1, 1, NULL, NULL, NULL), 0);

	/* b2, b3 unreferenced and last seen before 150. */
	assert_int_equal(f->m->ops->gc_unreferenced(f->m, 150, blist_fn, &l),
			 0);
	assert_int_equal(l.count, 2);
	assert_int_equal(l.last[0], 2);
	assert_int_equal(l.last[1], 3);
	memset(&l, 0, sizeof(l));
	assert_int_equal(f->m->ops->gc_unreferenced(f->m, 100, blist_fn, &l),
			 0);
	assert_int_equal(l.count, 0); /* within grace */

	/* Referenced: never. Seen within grace: not yet. */
	assert_int_equal(f->m->ops->block_forget(f->m, f->ua, &b1, 1000),
			 -EBUSY);
	assert_int_equal(f->m->ops->block_forget(f->m, f->ua, &b2, 100),
			 -EBUSY);
	/* A client was just told b3 is there: that refreshes its grace. */
	assert_int_equal(
		f->m->ops->blocks_missing(f->m, f->ua, &b3, 1, 300, &missing),
		0);
	assert_false(missing);
	assert_int_equal(f->m->ops->block_forget(f->m, f->ua, &b3, 200),
			 -EBUSY);
	assert_int_equal(f->m->ops->block_forget(f->m, f->ua, &b2, 200), 0);
	assert_int_equal(f->m->ops->block_forget(f->m, f->ua, &b2, 200),
			 -ENOENT);
	assert_int_equal(
		f->m->ops->blocks_missing(f->m, f->ua, &b2, 1, 300, &missing),
		0);
	assert_true(missing);
	/* Bob cannot forget Alice's block. */
	assert_int_equal(f->m->ops->block_forget(f->m, f->ub, &b3, 1000),
			 -ENOENT);

	memset(&l, 0, sizeof(l));
	assert_int_equal(f->m->ops->referenced_blocks(f->m, blist_fn, &l), 0);
	assert_int_equal(l.count, 1);
	assert_int_equal(l.last[0], 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(f->m->ops->stored_blocks(f->m, blist_fn, &l), 0);
	assert_int_equal(l.count, 2);
	assert_int_equal(f->m->ops->usage(f->m, f->ua, &use), 0);
	assert_int_equal(use.blocks, 2);
	assert_int_equal(use.bytes, 100 + 102);
}

static void test_srv_meta__gc_prune(void **state)
{
	struct fx *f = *state;
	uint8_t x[SRV_NODE_ID_SIZE], d[SRV_NODE_ID_SIZE];
	struct vlist l = { .count = 0 };
	struct blist bl = { .count = 0 };
	uint64_t versions, nodes;
	int64_t now = time(NULL);
	const int64_t day = 86400, retention = 30 * day;

	add_blocks(f, f->ua, 1, 4, now);
	mk(f, f->ua, srv_root_id, "f", 1, SRV_NODE_FILE);
	nid(x, 1);
	assert_int_equal(commit(f, f->ua, 1, 0, 1, 1, NULL, NULL, NULL), 0);
	assert_int_equal(commit(f, f->ua, 1, 1, 2, 1, NULL, NULL, NULL), 0);
	assert_int_equal(commit(f, f->ua, 1, 2, 3, 1, NULL, NULL, NULL), 0);
	/* A trashed tree: /d/g, deleted 40 days ago; /h deleted today. */
	mk(f, f->ua, srv_root_id, "d", 2, SRV_NODE_DIR);
	nid(d, 2);
	mk(f, f->ua, d, "g", 3, SRV_NODE_FILE);
	assert_int_equal(commit(f, f->ua, 3, 0, 4, 1, NULL, NULL, NULL), 0);
	mk(f, f->ua, srv_root_id, "h", 4, SRV_NODE_FILE);
	assert_int_equal(unl(f, f->ua, srv_root_id, "d",
			     SRV_UNLINK_DIR | SRV_UNLINK_RECURSIVE,
			     now - 40 * day),
			 0);
	assert_int_equal(unl(f, f->ua, srv_root_id, "h", 0, now), 0);

	/* Within retention: nothing goes. */
	assert_int_equal(f->m->ops->gc_prune(f->m, now + day, retention,
					     &versions, &nodes),
			 0);
	assert_int_equal(versions, 0);
	assert_int_equal(nodes, 1); /* only the 40-day-old tree */
	assert_int_equal(get_rc(f, f->ua, 2), -ENOENT);
	assert_int_equal(get_rc(f, f->ua, 3), -ENOENT);
	assert_int_equal(get(f, f->ua, 4).deleted, now);
	assert_int_equal(f->m->ops->versions(f->m, f->ua, x, vlist_fn, &l), 0);
	assert_int_equal(l.count, 3);

	/* 31 days after the overwrites: old versions go, current stays. */
	assert_int_equal(f->m->ops->gc_prune(f->m, now + 31 * day, retention,
					     &versions, &nodes),
			 0);
	assert_int_equal(versions, 2);
	assert_int_equal(nodes, 1); /* /h */
	memset(&l, 0, sizeof(l));
	assert_int_equal(f->m->ops->versions(f->m, f->ua, x, vlist_fn, &l), 0);
	assert_int_equal(l.count, 1);
	assert_int_equal(l.v[0], 3);
	assert_int_equal(get_rc(f, f->ua, 4), -ENOENT);

	/* Only block 3 (the current version) is still referenced. */
	assert_int_equal(f->m->ops->referenced_blocks(f->m, blist_fn, &bl), 0);
	assert_int_equal(bl.count, 1);
	assert_int_equal(bl.last[0], 3);
	assert_int_equal(f->m->ops->gc_prune(f->m, now, -1, &versions, &nodes),
			 -EINVAL);
}

/*
 * Entry tombstones older than the retention period go at gc_prune, except
 * the one a trashed node would be restored into; a feed asked from below
 * the largest pruned seq is refused with -ERANGE and the horizon, and
 * from 0 or from the horizon it works (without the pruned tombstone).
 */
static void test_srv_meta__tombstones_pruned_behind_horizon(void **state)
{
	struct fx *f = *state;
	uint8_t a[SRV_NODE_ID_SIZE];
	struct feed all, before = { 0 };
	struct srv_user u;
	uint64_t start, tomb_seq, horizon, next, versions, nodes, seq;
	int64_t now = time(NULL);
	const int64_t day = 86400, retention = 30 * day;
	bool more;

	mk(f, f->ua, srv_root_id, "a", 1, SRV_NODE_FILE);
	mk(f, f->ua, srv_root_id, "b", 2, SRV_NODE_FILE);
	mk(f, f->ub, srv_root_id, "bob", 1, SRV_NODE_FILE);
	assert_int_equal(f->m->ops->user_get(f->m, f->ua, &u), 0);
	start = u.seq;
	/* a: unlinked and purged, its tombstone now names nothing in trash */
	assert_int_equal(unl(f, f->ua, srv_root_id, "a", 0, now), 0);
	assert_int_equal(f->m->ops->user_get(f->m, f->ua, &u), 0);
	tomb_seq = u.seq; /* the tombstone's seq is at most this */
	nid(a, 1);
	assert_int_equal(f->m->ops->trash_purge(f->m, f->ua, a, &seq), 0);
	/* b: in the trash (until long after the prune), restorable */
	assert_int_equal(unl(f, f->ua, srv_root_id, "b", 0, now + 60 * day),
			 0);
	assert_int_equal(f->m->ops->changes(f->m, f->ua, 0, 0, feed_node,
					    feed_entry, &before, &next, &more),
			 0);
	assert_int_equal(before.tombstones, 2);

	/* Within retention nothing changes. */
	assert_int_equal(f->m->ops->gc_prune(f->m, now + day, retention,
					     &versions, &nodes),
			 0);
	memset(&all, 0, sizeof(all));
	assert_int_equal(f->m->ops->changes(f->m, f->ua, start, 0, feed_node,
					    feed_entry, &all, &next, &more),
			 0);
	assert_int_equal(all.tombstones, 2);

	/* Past it: a's tombstone goes, b's stays (its node is in the trash). */
	assert_int_equal(f->m->ops->gc_prune(f->m, now + 31 * day, retention,
					     &versions, &nodes),
			 0);
	memset(&all, 0, sizeof(all));
	next = 0;
	assert_int_equal(f->m->ops->changes(f->m, f->ua, start, 0, feed_node,
					    feed_entry, &all, &next, &more),
			 -ERANGE);
	assert_true(next > start && next <= tomb_seq);
	assert_int_equal(all.rows, 0);
	horizon = next;
	assert_int_equal(f->m->ops->changes(f->m, f->ua, horizon - 1, 0,
					    feed_node, feed_entry, &all, &next,
					    &more),
			 -ERANGE);
	memset(&all, 0, sizeof(all));
	assert_int_equal(f->m->ops->changes(f->m, f->ua, 0, 0, feed_node,
					    feed_entry, &all, &next, &more),
			 0);
	assert_int_equal(all.tombstones, 1);
	assert_int_equal(all.entries, before.entries - 1);
	memset(&all, 0, sizeof(all));
	assert_int_equal(f->m->ops->changes(f->m, f->ua, horizon, 0, feed_node,
					    feed_entry, &all, &next, &more),
			 0);
	assert_int_equal(all.tombstones, 1);
	/* b comes back where it was: its tombstone was kept for that. */
	nid(a, 2);
	assert_int_equal(
		f->m->ops->trash_restore(f->m, f->ua, a, NULL, NULL, 0, &seq),
		0);
	/* The other account's feed is untouched. */
	memset(&all, 0, sizeof(all));
	assert_int_equal(f->m->ops->changes(f->m, f->ub, 1, 0, feed_node,
					    feed_entry, &all, &next, &more),
			 0);
}

/* ----- allocation failures ----- */

/*
 * One round of ops with names and ids unique to round i. Returns how many
 * ops failed; every failure must be a clean negative errno.
 */
static int fault_round(struct fx *f, unsigned i, int *rcs, size_t max)
{
	uint8_t d[SRV_NODE_ID_SIZE], x[SRV_NODE_ID_SIZE], hash[32];
	struct names s = { .count = 0, .stop_after = 3 };
	struct blk_id b = bid(i);
	struct srv_version v;
	struct feed fd = { 0 };
	struct commit_buf cb;
	struct srv_commit_result r;
	int64_t dev = 0, user, device;
	uint64_t next;
	char name[32];
	size_t n = 0;
	bool more, missing;
	int failed = 0;

	snprintf(name, sizeof(name), "d%u", i);
	nid(d, 1000 + i);
	nid(x, 20000 + i);
	memset(hash, 0, sizeof(hash));
	memcpy(hash, &i, sizeof(i));
	{
		struct srv_node dn = { .kind = SRV_NODE_DIR, .mode = 0755 };
		struct srv_node fn = { .kind = SRV_NODE_FILE, .mode = 0644 };

		memcpy(dn.id, d, sizeof(d));
		memcpy(fn.id, x, sizeof(x));
		rcs[n++] = f->m->ops->create(f->m, f->ua, &dn, srv_root_id,
					     name, strlen(name), NULL);
		rcs[n++] = f->m->ops->create(f->m, f->ua, &fn, d, "f", 1, NULL);
	}
	rcs[n++] = f->m->ops->block_add(f->m, f->ua, &b, 10, 100, NULL);
	rcs[n++] = commit(f, f->ua, 20000 + i, 0, i, 1, NULL, NULL, NULL);
	/* an item's own failure counts as the op's; a failed call clears r */
	commit_prep(&cb, 20000 + i, 1, i, 1);
	rcs[n] = f->m->ops->commit_batch(f->m, f->ua, &cb.c, 1, &r);
	if (rcs[n] < 0) {
		assert_int_equal(r.rc, 0);
		assert_null(r.missing);
	} else {
		rcs[n] = r.rc;
		free(r.missing);
	}
	n++;
	rcs[n++] = f->m->ops->list_dir(f->m, f->ua, srv_root_id, NULL, 0, 0,
				       names_fn, &s);
	rcs[n++] = f->m->ops->changes(f->m, f->ua, 0, 50, feed_node, feed_entry,
				      &fd, &next, &more);
	rcs[n++] = ren(f, f->ua, d, "f", d, "g", 0);
	rcs[n++] = unl(f, f->ua, d, "g", 0, 100);
	rcs[n++] =
		f->m->ops->trash_restore(f->m, f->ua, x, NULL, NULL, 0, NULL);
	rcs[n] = f->m->ops->version_get(f->m, f->ua, x, 0, &v);
	if (rcs[n++] == 0)
		free(v.manifest);
	rcs[n++] = f->m->ops->device_create(f->m, f->ua, name, &dev);
	rcs[n++] = f->m->ops->token_create(f->m, hash, f->ua, dev);
	rcs[n++] = f->m->ops->token_lookup(f->m, hash, &user, &device);
	rcs[n++] = f->m->ops->blocks_missing(f->m, f->ua, &b, 1, 200, &missing);
	assert_true(n <= max);
	while (n-- > 0) {
		assert_true(rcs[n] <= 0);
		failed += rcs[n] < 0;
	}
	return failed;
}

/* nlink of every live node agrees with the entries (ops are atomic). */
static void check_nlink(struct fx *f)
{
	static const char sql[] =
		"SELECT count(*) FROM nodes n WHERE n.deleted = 0 AND n.nlink "
		"!= (CASE WHEN n.kind = 2 THEN 2 + (SELECT count(*) FROM "
		"entries e JOIN nodes c ON c.user_id = e.user_id AND c.id = "
		"e.node WHERE e.user_id = n.user_id AND e.parent = n.id AND "
		"e.deleted = 0 AND c.kind = 2) ELSE (SELECT count(*) FROM "
		"entries e WHERE e.user_id = n.user_id AND e.node = n.id AND "
		"e.deleted = 0) END)";
	sqlite3_stmt *st;
	sqlite3 *db;

	assert_int_equal(
		sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	assert_int_equal(
		sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_srv_meta__alloc_failures_are_clean(void **state)
{
	struct fx *f = *state;
	sqlite3_mem_methods faulty;
	int rcs[32], rc, failed;
	unsigned k, rounds = 0;
	long open_faults = 0;

	srv_meta_close(f->m);
	f->m = NULL;
	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_mem),
			 SQLITE_OK);
	faulty = sqlite_mem;
	faulty.xMalloc = fault_sqlite_malloc;
	faulty.xRealloc = fault_sqlite_realloc;
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &faulty),
			 SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);

	/* Opening: fails cleanly (no leak, no half-open store) or works. */
	for (k = 1;; k++) {
		atomic_store(&fault_was_hit, false);
		atomic_store(&fault_countdown, (long)k);
		rc = open_fx(f);
		atomic_store(&fault_countdown, 0);
		if (rc == 0)
			srv_meta_close(f->m);
		else
			assert_null(f->m);
		f->m = NULL;
		if (!atomic_load(&fault_was_hit)) {
			assert_int_equal(rc, 0);
			break;
		}
		open_faults++;
	}
	assert_int_equal(open_fx(f), 0);

	/* Ops: the k-th allocation of round k fails, until none is hit. */
	for (k = 1; k < 20000; k++) {
		atomic_store(&fault_was_hit, false);
		atomic_store(&fault_countdown, (long)k);
		failed = fault_round(f, k, rcs, CF_ARRAY_SIZE(rcs));
		atomic_store(&fault_countdown, 0);
		rounds++;
		if (!atomic_load(&fault_was_hit)) {
			assert_int_equal(failed, 0);
			break;
		}
		/* The store still works after every failure. */
		mk(f, f->ua, srv_root_id, "after", 50000 + k, SRV_NODE_FILE);
		assert_int_equal(unl(f, f->ua, srv_root_id, "after", 0, 1), 0);
	}
	print_message("fault injection: %ld open faults, %u op rounds\n",
		      open_faults, rounds);
	assert_true(k < 20000);
	check_nlink(f);

	srv_meta_close(f->m);
	f->m = NULL;
	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &sqlite_mem),
			 SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
	assert_int_equal(open_fx(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_srv_meta__open_creates_schema_and_secret),
		T(test_srv_meta__newer_schema_is_refused),
		T(test_srv_meta__reopen_keeps_everything),
		T(test_srv_meta__users),
		T(test_srv_meta__keys_and_auth),
		T(test_srv_meta__devices_and_tokens),
		T(test_srv_meta__create_every_kind),
		T(test_srv_meta__create_batch),
		T(test_srv_meta__create_batch_writes_only_the_log),
		T(test_srv_meta__commit_batch),
		T(test_srv_meta__setattr_and_pending),
		T(test_srv_meta__accounts_are_isolated),
		T(test_srv_meta__changes_page_exactly),
		T(test_srv_meta__rename_matrix),
		T(test_srv_meta__rename_replaces_only_the_expected_node),
		T(test_srv_meta__rename_and_unlink_take_only_the_named_node),
		T(test_srv_meta__hard_links_and_nlink),
		T(test_srv_meta__trash_restore_purge),
		T(test_srv_meta__recursive_delete_restore_purge),
		T(test_srv_meta__commit_versions_restore),
		T(test_srv_meta__group_commit_concurrent),
		T(test_srv_meta__blocks_index),
		T(test_srv_meta__block_rows_are_lazy),
		T(test_srv_meta__gc_respects_references_and_grace),
		T(test_srv_meta__gc_prune),
		T(test_srv_meta__tombstones_pruned_behind_horizon),
		T(test_srv_meta__alloc_failures_are_clean),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
