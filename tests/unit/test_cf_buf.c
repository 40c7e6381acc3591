/* SPDX-License-Identifier: MIT */
/* Unit tests for common/: cf_buf, cf_path, cf_file and cf_hex. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_array.h"
#include "cf_buf.h"
#include "cf_file.h"
#include "cf_hex.h"
#include "cf_path.h"

static void test_cf_buf__append_keeps_nul(void **state)
{
	struct cf_buf b;

	(void)state;
	cf_buf_init(&b, 100);
	assert_string_equal(b.data, "");
	assert_int_equal(cf_buf_append(&b, "ab", 2), 0);
	assert_int_equal(cf_buf_appendf(&b, "%d-%s", 42, "x"), 0);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "ab42-x");
	cf_buf_reset(&b);
	assert_string_equal(b.data, "");
	cf_buf_release(&b);
}

static void test_cf_buf__cap_is_enforced(void **state)
{
	struct cf_buf b;
	char big[64];

	(void)state;
	memset(big, 'a', sizeof(big));
	cf_buf_init(&b, 10);
	assert_int_equal(cf_buf_append(&b, big, 10), 0);
	assert_int_equal(cf_buf_append(&b, big, 1), -EMSGSIZE);
	assert_int_equal(b.len, 10);
	assert_int_equal(cf_buf_appendf(&b, "%s", "z"), -EMSGSIZE);
	assert_int_equal(cf_buf_grow(&b, SIZE_MAX), -EMSGSIZE);
	cf_buf_release(&b);
}

static void test_cf_buf__detach_hands_over(void **state)
{
	struct cf_buf b;
	size_t size;
	char *p;

	(void)state;
	cf_buf_init(&b, 100);
	p = cf_buf_detach(&b, &size);
	assert_non_null(p);
	assert_int_equal(size, 0);
	free(p);
	assert_int_equal(cf_buf_append(&b, "bin\0ary", 7), 0);
	p = cf_buf_detach(&b, &size);
	assert_int_equal(size, 7);
	assert_memory_equal(p, "bin\0ary", 7);
	assert_int_equal(b.len, 0);
	free(p);
	cf_buf_release(&b);
}

static void test_cf_path__names(void **state)
{
	char long_name[300];

	(void)state;
	memset(long_name, 'n', sizeof(long_name));
	assert_int_equal(cf_name_check("a", 1), 0);
	assert_int_equal(cf_name_check("...", 3), 0);
	assert_int_equal(cf_name_check(".", 1), -EINVAL);
	assert_int_equal(cf_name_check("..", 2), -EINVAL);
	assert_int_equal(cf_name_check("", 0), -EINVAL);
	assert_int_equal(cf_name_check("a/b", 3), -EINVAL);
	assert_int_equal(cf_name_check("a\0b", 3), -EINVAL);
	assert_int_equal(cf_name_check(long_name, 255), 0);
	assert_int_equal(cf_name_check(long_name, 256), -ENAMETOOLONG);
}

static void test_cf_path__paths(void **state)
{
	const char *name;
	size_t pos = 0, len;
	char *p = malloc(5000);

	(void)state;
	assert_int_equal(cf_path_check("/", 1), 0);
	assert_int_equal(cf_path_check("/a//b/", 6), 0);
	assert_int_equal(cf_path_check("a/b", 3), -EINVAL);
	assert_int_equal(cf_path_check("/a/../b", 7), -EINVAL);
	memset(p, 'x', 5000);
	p[0] = '/';
	for (int i = 200; i < 5000; i += 200)
		p[i] = '/';
	assert_int_equal(cf_path_check(p, 4096), 0);
	assert_int_equal(cf_path_check(p, 4097), -ENAMETOOLONG);
	free(p);
	assert_int_equal(cf_path_next("//ab/c", 6, &pos, &name, &len), 1);
	assert_int_equal(len, 2);
	assert_memory_equal(name, "ab", 2);
	assert_int_equal(cf_path_next("//ab/c", 6, &pos, &name, &len), 1);
	assert_memory_equal(name, "c", 1);
	assert_int_equal(cf_path_next("//ab/c", 6, &pos, &name, &len), 0);
}

static void test_cf_file__durable_write(void **state)
{
	char dir[] = "/tmp/cf-test-XXXXXX";
	struct cf_buf b;
	int dfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(cf_file_write_durable(dfd, "f", "hello", 5, 0600, 0), 0);
	assert_int_equal(cf_file_write_durable(dfd, "f", "x", 1, 0600,
					       CF_DURABLE_NOREPLACE),
			 -EEXIST);
	cf_buf_init(&b, 100);
	assert_int_equal(cf_file_read_all(dfd, "f", &b), 0);
	assert_string_equal(b.data, "hello");
	cf_buf_release(&b);
	cf_buf_init(&b, 3);
	assert_int_equal(cf_file_read_all(dfd, "f", &b), -EMSGSIZE);
	cf_buf_release(&b);
	assert_int_equal(cf_file_write_durable(dfd, "f", "bye", 3, 0600, 0), 0);
	cf_buf_init(&b, 100);
	assert_int_equal(cf_file_read_all(dfd, "f", &b), 0);
	assert_string_equal(b.data, "bye");
	cf_buf_release(&b);
	/* no temp file is left behind */
	assert_int_equal(unlinkat(dfd, "f", 0), 0);
	close(dfd);
	assert_int_equal(rmdir(dir), 0);
}

/* A gate that sees whether dirfd has the name yet, and answers rc. */
struct gate_seen {
	int dfd;
	int rc;
	int calls;
	bool named;
};

static int gate_seen_fn(void *arg)
{
	struct gate_seen *g = arg;

	g->calls++;
	g->named = faccessat(g->dfd, "g", F_OK, 0) == 0;
	return g->rc;
}

static void test_cf_file__durable_write_gated(void **state)
{
	char dir[] = "/tmp/cf-test-XXXXXX";
	struct gate_seen g = { .rc = -EBADMSG };
	struct cf_durable_gate gate = { .fn = gate_seen_fn, .arg = &g };

	(void)state;
	assert_non_null(mkdtemp(dir));
	g.dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(g.dfd >= 0);
	/* refused: neither the name nor the temp file is left */
	assert_int_equal(cf_file_write_durable_gated(g.dfd, "g", "data", 4,
						     0600, 0, &gate),
			 -EBADMSG);
	assert_int_equal(g.calls, 1);
	assert_false(g.named);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	close(g.dfd);
	g.dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(g.dfd >= 0);
	/* passed: asked before the rename */
	g.rc = 0;
	assert_int_equal(cf_file_write_durable_gated(g.dfd, "g", "data", 4,
						     0600, 0, &gate),
			 0);
	assert_int_equal(g.calls, 2);
	assert_false(g.named);
	assert_int_equal(faccessat(g.dfd, "g", F_OK, 0), 0);
	assert_int_equal(unlinkat(g.dfd, "g", 0), 0);
	close(g.dfd);
	assert_int_equal(rmdir(dir), 0);
}

static void test_cf_buf__alloc_aligned(void **state)
{
	struct cf_buf b;

	(void)state;
	cf_buf_init(&b, 10000);
	assert_int_equal(cf_buf_alloc_aligned(&b, 10001, 4096), -EMSGSIZE);
	assert_int_equal(cf_buf_alloc_aligned(&b, 9000, 4096), 0);
	assert_int_equal((uintptr_t)b.data % 4096, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(cf_buf_alloc_aligned(&b, 10, 4096), -EINVAL);
	assert_int_equal(cf_buf_append(&b, "abc", 3), 0);
	assert_int_equal((uintptr_t)b.data % 4096, 0);
	assert_string_equal(b.data, "abc");
	cf_buf_release(&b);
}

/* Write n bytes from p as dfd/name with CF_DURABLE_DIRECT; read back. */
static void direct_round_trip(int dfd, const char *name, const char *p,
			      size_t n)
{
	struct cf_buf b;

	assert_int_equal(cf_file_write_durable(dfd, name, p, n, 0600,
					       CF_DURABLE_DIRECT |
						       CF_DURABLE_NOREPLACE),
			 0);
	cf_buf_init(&b, 1 << 20);
	assert_int_equal(cf_file_read_all(dfd, name, &b), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, p, n);
	cf_buf_release(&b);
	assert_int_equal(unlinkat(dfd, name, 0), 0);
}

static void test_cf_file__durable_write_direct(void **state)
{
	/* on the disk the tests run from, and on /tmp (maybe a tmpfs) */
	const char *bases[] = { ".", "/tmp" };
	char dir[300];
	size_t size = 3 * CF_DIRECT_ALIGN + 123, i, k;
	void *mem = NULL;
	char *p;
	int dfd;

	(void)state;
	assert_int_equal(posix_memalign(&mem, CF_DIRECT_ALIGN, size + 1), 0);
	p = mem;
	for (i = 0; i < size + 1; i++)
		p[i] = (char)(i * 7 + i / 4096);
	for (k = 0; k < CF_ARRAY_SIZE(bases); k++) {
		snprintf(dir, sizeof(dir), "%s/cf-direct-XXXXXX", bases[k]);
		assert_non_null(mkdtemp(dir));
		dfd = open(dir, O_RDONLY | O_DIRECTORY);
		assert_true(dfd >= 0);
		/* aligned head, buffered tail */
		direct_round_trip(dfd, "a", p, size);
		/* whole pages only; less than a page */
		direct_round_trip(dfd, "b", p, 2 * CF_DIRECT_ALIGN);
		direct_round_trip(dfd, "c", p, 100);
		direct_round_trip(dfd, "d", p, 0);
		/* an unaligned address goes through the page cache */
		direct_round_trip(dfd, "e", p + 1, size);
		close(dfd);
		assert_int_equal(rmdir(dir), 0); /* no temp file left */
	}
	free(mem);
}

static void test_cf_array__grows_and_refuses_overflow(void **state)
{
	int *v = NULL, *before;
	size_t cap = 0, n;

	(void)state;
	for (n = 0; n < 1000; n++) {
		assert_int_equal(cf_array_reserve(&v, &cap, n, sizeof(*v)), 0);
		assert_true(cap > n);
		v[n] = (int)n;
	}
	for (n = 0; n < 1000; n++)
		assert_int_equal(v[n], (int)n);
	/* room already: nothing moves */
	before = v;
	assert_int_equal(cf_array_reserve(&v, &cap, 999, sizeof(*v)), 0);
	assert_ptr_equal(v, before);
	/* a size that cannot be allocated leaves the array as it was */
	n = cap;
	assert_int_equal(cf_array_reserve(&v, &cap, cap, SIZE_MAX / 4), -ENOMEM);
	assert_int_equal(cap, n);
	assert_ptr_equal(v, before);
	free(v);
}

static void test_cf_hex__round_trip_and_bad_input(void **state)
{
	const unsigned char in[4] = { 0x00, 0x9f, 0xa0, 0xff };
	unsigned char out[4] = { 1, 2, 3, 4 };
	char hex[9];

	(void)state;
	cf_hex_encode(in, sizeof(in), hex);
	assert_string_equal(hex, "009fa0ff");
	assert_int_equal(cf_hex_decode("009FA0fF", 8, out, sizeof(out)), 0);
	assert_memory_equal(out, in, sizeof(in));
	memset(out, 7, sizeof(out));
	/* wrong length, a bad digit late, NULL: -EINVAL, out untouched */
	assert_int_equal(cf_hex_decode("009fa0f", 7, out, sizeof(out)), -EINVAL);
	assert_int_equal(cf_hex_decode("009fa0fg", 8, out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(cf_hex_decode(NULL, 8, out, sizeof(out)), -EINVAL);
	assert_int_equal(out[0], 7);
	assert_int_equal(out[3], 7);
	cf_hex_encode(in, 0, hex);
	assert_string_equal(hex, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cf_buf__append_keeps_nul),
		cmocka_unit_test(test_cf_buf__cap_is_enforced),
		cmocka_unit_test(test_cf_buf__detach_hands_over),
		cmocka_unit_test(test_cf_path__names),
		cmocka_unit_test(test_cf_path__paths),
		cmocka_unit_test(test_cf_file__durable_write),
		cmocka_unit_test(test_cf_file__durable_write_gated),
		cmocka_unit_test(test_cf_buf__alloc_aligned),
		cmocka_unit_test(test_cf_file__durable_write_direct),
		cmocka_unit_test(test_cf_hex__round_trip_and_bad_input),
		cmocka_unit_test(test_cf_array__grows_and_refuses_overflow),
	};

	return cmocka_run_group_tests_name("cf_buf", tests, NULL, NULL);
}
