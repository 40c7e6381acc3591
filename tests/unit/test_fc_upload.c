/* SPDX-License-Identifier: MIT */
/*
 * The uploader's re-chunk planner (fc_rechunk.c) without a server: files
 * live in memory, a chunk's "block id" is the SHA-256 of its bytes (the
 * codec is deterministic per chunk, so equal chunks mean equal blocks).
 * Every plan must produce exactly the manifest a full re-chunk of the new
 * content gives, while touching only the region around the edit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "fc_conflict.h"
#include "fc_rechunk.h"

#define MiB (1024u * 1024)

struct file {
  uint8_t *data;
  uint64_t size;
  int fail_at; /* read number that fails, 0 = none */
  int reads;
};

struct chunks {
  struct fc_chunk *rows;
  size_t count, cap;
};

static void fill_random(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  size_t i;

  for (i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (uint8_t)(x >> 24);
  }
}

static ssize_t mem_read(void *arg, void *buf, size_t size, uint64_t off) {
  struct file *f = arg;

  f->reads++;
  if (f->fail_at && f->reads == f->fail_at)
    return -EIO;
  if (off >= f->size)
    return 0;
  if (size > f->size - off)
    size = (size_t)(f->size - off);
  memcpy(buf, f->data + off, size);
  return (ssize_t)size;
}

static int collect(void *arg, uint64_t off, const uint8_t *data,
                   uint32_t size) {
  struct chunks *c = arg;
  struct fc_chunk *r;
  unsigned int len = 0;

  if (c->count == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 256;
    c->rows = realloc(c->rows, c->cap * sizeof(*c->rows));
    assert_non_null(c->rows);
  }
  r = &c->rows[c->count];
  memset(r, 0, sizeof(*r));
  r->idx = (uint32_t)c->count;
  r->off = off;
  r->size = size;
  r->present = true;
  assert_int_equal(
      EVP_Digest(data, size, r->id.bytes, &len, EVP_sha256(), NULL), 1);
  c->count++;
  return 0;
}

static struct fc_rechunk_req req_for(struct file *f, struct chunks *out,
                                     const struct chunks *old, uint64_t lo,
                                     uint64_t hi) {
  struct fc_rechunk_req q = {0};

  q.params = BLK_CHUNKER_PARAMS_DEFAULT;
  q.old = old ? old->rows : NULL;
  q.old_count = old ? old->count : 0;
  q.new_size = f->size;
  q.lo = lo;
  q.hi = hi;
  q.read = mem_read;
  q.read_arg = f;
  q.chunk = collect;
  q.chunk_arg = out;
  return q;
}

/* Full chunking of f. */
static void chunk_all(struct file *f, struct chunks *out) {
  struct fc_rechunk_req q = req_for(f, out, NULL, 0, f->size);
  struct fc_rechunk_res res;

  assert_int_equal(fc_rechunk_plan(&q, &res), 0);
  assert_int_equal(res.head, 0);
  assert_int_equal(res.start, 0);
  assert_int_equal(res.end, f->size);
}

/*
 * Re-chunk f against old with dirty [lo, hi); check the assembled
 * manifest equals a full chunking of f; return how many chunks were
 * re-encoded and how many ids are new (not in old).
 */
static void plan_check(struct file *f, const struct chunks *old, uint64_t lo,
                       uint64_t hi, size_t *out_encoded, size_t *out_new) {
  struct chunks news = {0}, full = {0}, got = {0};
  struct fc_rechunk_req q = req_for(f, &news, old, lo, hi);
  struct fc_rechunk_res res;
  uint64_t off = 0;
  size_t i, k, fresh = 0;

  assert_int_equal(fc_rechunk_plan(&q, &res), 0);
  assert_int_equal(res.new_count, news.count);
  got.cap = res.head + news.count + old->count - res.tail;
  got.rows = calloc(got.cap + 1, sizeof(*got.rows));
  for (i = 0; i < res.head; i++)
    got.rows[got.count++] = old->rows[i];
  for (i = 0; i < news.count; i++)
    got.rows[got.count++] = news.rows[i];
  for (i = res.tail; i < old->count; i++)
    got.rows[got.count++] = old->rows[i];
  chunk_all(f, &full);
  assert_int_equal(got.count, full.count);
  for (i = 0; i < got.count; i++) {
    assert_int_equal(got.rows[i].off, off);
    assert_int_equal(got.rows[i].off, full.rows[i].off);
    assert_int_equal(got.rows[i].size, full.rows[i].size);
    assert_memory_equal(got.rows[i].id.bytes, full.rows[i].id.bytes,
                        BLK_ID_SIZE);
    off += got.rows[i].size;
  }
  assert_int_equal(off, f->size);
  for (i = 0; i < news.count; i++) {
    for (k = 0; k < old->count; k++)
      if (!memcmp(news.rows[i].id.bytes, old->rows[k].id.bytes, BLK_ID_SIZE))
        break;
    fresh += k == old->count;
  }
  *out_encoded = news.count;
  *out_new = fresh;
  free(news.rows);
  free(full.rows);
  free(got.rows);
}

static uint8_t *base64mib;

static int setup(void **state) {
  (void)state;
  base64mib = malloc(64 * MiB + 200);
  if (!base64mib)
    return -1;
  fill_random(base64mib, 64 * MiB, 42);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(base64mib);
  return 0;
}

static void test_fc_upload__one_byte_edit_reencodes_two(void **state) {
  struct file a = {base64mib, 64 * MiB, 0, 0};
  struct chunks old = {0};
  uint8_t *b = malloc(64 * MiB);
  struct file fb = {b, 64 * MiB, 0, 0};
  size_t enc, fresh;

  (void)state;
  chunk_all(&a, &old);
  assert_true(old.count > 100);
  memcpy(b, base64mib, 64 * MiB);
  b[32 * MiB + 12345] ^= 0x5a;
  plan_check(&fb, &old, 32 * MiB + 12345, 32 * MiB + 12346, &enc, &fresh);
  print_message("1-byte edit: %zu of %zu chunks re-encoded, %zu new\n", enc,
                old.count, fresh);
  assert_true(enc >= 1);
  assert_true(enc <= 2);
  assert_true(fresh <= 2);
  free(b);
  free(old.rows);
}

static void test_fc_upload__insert_at_start_three_new(void **state) {
  struct file a = {base64mib, 64 * MiB, 0, 0};
  struct chunks old = {0};
  uint8_t *c = malloc(64 * MiB + 100);
  struct file fc = {c, 64 * MiB + 100, 0, 0};
  size_t enc, fresh;

  (void)state;
  chunk_all(&a, &old);
  fill_random(c, 100, 7);
  memcpy(c + 100, base64mib, 64 * MiB);
  /* the whole file was rewritten: everything is dirty */
  plan_check(&fc, &old, 0, fc.size, &enc, &fresh);
  print_message("100 bytes inserted at the start: %zu new chunks\n", fresh);
  assert_true(fresh <= 3);
  /* an insert in the middle, rewritten from there to the end */
  memcpy(c, base64mib, 20 * MiB);
  fill_random(c + 20 * MiB, 100, 9);
  memcpy(c + 20 * MiB + 100, base64mib + 20 * MiB, 44 * MiB);
  plan_check(&fc, &old, 20 * MiB, fc.size, &enc, &fresh);
  assert_true(fresh <= 3);
  free(c);
  free(old.rows);
}

static void test_fc_upload__append_and_truncate(void **state) {
  struct file a = {base64mib, 64 * MiB, 0, 0};
  struct chunks old = {0};
  uint8_t *d = malloc(65 * MiB);
  struct file fd = {d, 65 * MiB, 0, 0};
  struct file fe = {base64mib, 40 * MiB + 7, 0, 0};
  size_t enc, fresh;

  (void)state;
  chunk_all(&a, &old);
  memcpy(d, base64mib, 64 * MiB);
  fill_random(d + 64 * MiB, MiB, 11);
  plan_check(&fd, &old, 64 * MiB, 65 * MiB, &enc, &fresh);
  assert_true(enc <= 8);
  /* truncate: only the straddling chunk changes */
  plan_check(&fe, &old, 40 * MiB + 7, 64 * MiB, &enc, &fresh);
  assert_true(enc <= 1);
  free(d);
  free(old.rows);
}

static void test_fc_upload__identical_content_shares_blocks(void **state) {
  struct file a = {base64mib, 64 * MiB, 0, 0};
  struct file b = {base64mib, 64 * MiB, 0, 0};
  struct file part = {base64mib, 10 * MiB, 0, 0};
  struct chunks ca = {0}, cb = {0}, cp = {0};
  size_t i;

  (void)state;
  chunk_all(&a, &ca);
  chunk_all(&b, &cb);
  chunk_all(&part, &cp);
  assert_int_equal(ca.count, cb.count);
  for (i = 0; i < ca.count; i++)
    assert_memory_equal(ca.rows[i].id.bytes, cb.rows[i].id.bytes, BLK_ID_SIZE);
  /* a file that is a prefix of another shares all but its last chunk */
  for (i = 0; i + 1 < cp.count; i++)
    assert_memory_equal(ca.rows[i].id.bytes, cp.rows[i].id.bytes, BLK_ID_SIZE);
  free(ca.rows);
  free(cb.rows);
  free(cp.rows);
}

static void test_fc_upload__metadata_only_and_bad_rows(void **state) {
  struct file a = {base64mib, 8 * MiB, 0, 0};
  struct chunks old = {0}, news = {0};
  struct fc_rechunk_req q;
  struct fc_rechunk_res res;

  (void)state;
  chunk_all(&a, &old);
  q = req_for(&a, &news, &old, 5, 5);
  assert_int_equal(fc_rechunk_plan(&q, &res), 0);
  assert_int_equal(res.head, old.count);
  assert_int_equal(res.tail, old.count);
  assert_int_equal(news.count, 0);
  /* rows with a gap are not trusted: everything is re-chunked */
  old.rows[1].off += 1;
  q = req_for(&a, &news, &old, 4 * MiB, 4 * MiB + 1);
  assert_int_equal(fc_rechunk_plan(&q, &res), 0);
  assert_int_equal(res.head, 0);
  assert_int_equal(res.start, 0);
  assert_int_equal(news.count, old.count);
  free(news.rows);
  free(old.rows);
}

static void test_fc_upload__empty_and_errors(void **state) {
  struct file empty = {base64mib, 0, 0, 0};
  struct file a = {base64mib, 8 * MiB, 2, 0};
  struct file shrunk = {base64mib, 3 * MiB, 0, 0};
  struct chunks news = {0};
  struct fc_rechunk_req q;
  struct fc_rechunk_res res;

  (void)state;
  q = req_for(&empty, &news, NULL, 0, 0);
  assert_int_equal(fc_rechunk_plan(&q, &res), 0);
  assert_int_equal(news.count, 0);
  q = req_for(&a, &news, NULL, 0, a.size);
  assert_int_equal(fc_rechunk_plan(&q, &res), -EIO);
  free(news.rows);
  news = (struct chunks){0};
  /* the file is shorter than the size we were told */
  q = req_for(&shrunk, &news, NULL, 0, 4 * MiB);
  q.new_size = 4 * MiB;
  assert_int_equal(fc_rechunk_plan(&q, &res), -EIO);
  free(news.rows);
}

static void test_fc_upload__conflict_name(void **state) {
  char longname[256];
  struct cf_buf b;

  (void)state;
  cf_buf_init(&b, 1024);
  assert_int_equal(fc_conflict_name("report.txt", 10, false, "laptop",
				    86400 * 365, 1, &b),
		   0);
  assert_non_null(strstr(b.data, "report (conflicted copy laptop 1971-01-0"));
  assert_int_equal(strcmp(b.data + b.len - 5, ").txt"), 0);
  cf_buf_reset(&b);
  assert_int_equal(fc_conflict_name(".bashrc", 7, false, "a/b", 0, 2, &b), 0);
  assert_int_equal(strncmp(b.data, ".bashrc (conflicted copy a_b 19", 31), 0);
  assert_int_equal(strcmp(b.data + b.len - 3, " 2)"), 0);
  cf_buf_reset(&b);
  memset(longname, 'x', 255);
  memcpy(longname + 250, ".html", 5);
  assert_int_equal(fc_conflict_name(longname, 255, false, "dev", 0, 1, &b), 0);
  assert_true(b.len <= CF_NAME_MAX);
  assert_int_equal(strcmp(b.data + b.len - 6, ").html"), 0);
  cf_buf_reset(&b);
  /* never cut inside a UTF-8 sequence */
  memset(longname, 0, sizeof(longname));
  for (int i = 0; i < 254; i += 2)
    memcpy(longname + i, "\xc3\xa9", 2);
  assert_int_equal(fc_conflict_name(longname, 254, false, "dev", 0, 1, &b), 0);
  assert_true(b.len <= CF_NAME_MAX);
  /* the kept part is whole two-byte sequences */
  assert_int_equal((strstr(b.data, " (conflicted") - b.data) % 2, 0);
  /* candidates: the name itself first, then the conflicted names; each
   * replaces what the buffer held */
  assert_int_equal(fc_conflict_candidate("a.txt", 5, false, "dev", 0, 0, &b),
		   0);
  assert_string_equal(b.data, "a.txt");
  assert_int_equal(fc_conflict_candidate("a.txt", 5, false, "dev", 0, 2, &b),
		   0);
  assert_non_null(strstr(b.data, "a (conflicted copy dev "));
  assert_int_equal(strcmp(b.data + b.len - 7, " 2).txt"), 0);
  /* a directory's name is not split at its last dot */
  assert_int_equal(
	  fc_conflict_candidate("photos.2024", 11, true, "dev", 0, 1, &b), 0);
  assert_int_equal(strncmp(b.data, "photos.2024 (conflicted copy dev 19", 35),
		   0);
  assert_int_equal(b.data[b.len - 1], ')');
  cf_buf_release(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fc_upload__one_byte_edit_reencodes_two),
      cmocka_unit_test(test_fc_upload__insert_at_start_three_new),
      cmocka_unit_test(test_fc_upload__append_and_truncate),
      cmocka_unit_test(test_fc_upload__identical_content_shares_blocks),
      cmocka_unit_test(test_fc_upload__metadata_only_and_bad_rows),
      cmocka_unit_test(test_fc_upload__empty_and_errors),
      cmocka_unit_test(test_fc_upload__conflict_name),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
