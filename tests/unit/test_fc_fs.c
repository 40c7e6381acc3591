/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fuse-client/fc_fs mount options: ours are parsed with
 * their suffixes and limits, everything else is kept for libfuse. The file
 * system itself is tested through real mounts (tests/e2e/t3000-*).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fc_fs.h"

static void test_fc_fs__defaults(void **state)
{
	struct fc_fs_opts o;

	(void)state;
	fc_fs_opts_init(&o);
	assert_int_equal(o.debounce_ms, 2000);
	assert_int_equal(o.max_read, 1u << 20);
	assert_true(o.writeback);
	assert_true(o.splice_read);
	assert_true(o.direct_write);
	assert_true(o.default_permissions);
	assert_false(o.allow_other);
	assert_null(o.fuse_opts);
	assert_int_equal(fc_fs_opts_parse(&o, NULL), 0);
	assert_int_equal(fc_fs_opts_parse(&o, ""), 0);
	fc_fs_opts_release(&o);
}

static void test_fc_fs__ours_and_theirs(void **state)
{
	struct fc_fs_opts o;

	(void)state;
	fc_fs_opts_init(&o);
	assert_int_equal(fc_fs_opts_parse(&o, "cache_size=2G,debounce=150,"
					      "ro,allow_other,fsname=x"),
			 0);
	assert_int_equal(o.cache_size, 2ull << 30);
	assert_int_equal(o.debounce_ms, 150);
	assert_true(o.allow_other);
	assert_non_null(o.fuse_opts);
	assert_string_equal(o.fuse_opts, "ro,fsname=x");
	assert_int_equal(fc_fs_opts_parse(&o, "no_writeback,max_read=65536,"
					      "threads=4,entry_timeout=1.5,"
					      "noatime"),
			 0);
	assert_false(o.writeback);
	assert_int_equal(o.max_read, 65536);
	assert_int_equal(o.max_threads, 4);
	assert_true(o.entry_timeout > 1.4 && o.entry_timeout < 1.6);
	assert_string_equal(o.fuse_opts, "ro,fsname=x,noatime");
	assert_int_equal(fc_fs_opts_parse(&o, "cache_size=512K"), 0);
	assert_int_equal(o.cache_size, 512u << 10);
	assert_int_equal(fc_fs_opts_parse(&o, "no_default_permissions"), 0);
	assert_false(o.default_permissions);
	assert_int_equal(fc_fs_opts_parse(&o, "no_splice_read"), 0);
	assert_false(o.splice_read);
	assert_int_equal(fc_fs_opts_parse(&o, "no_direct_write"), 0);
	assert_false(o.direct_write);
	assert_int_equal(fc_fs_opts_parse(&o, "direct_write"), 0);
	assert_true(o.direct_write);
	fc_fs_opts_release(&o);
}

static void test_fc_fs__bad_values(void **state)
{
	static const char *const bad[] = {
		"cache_size=abc", "cache_size=1X", "debounce=-1",
		"max_read=100", "max_read=4M", "threads=0", "threads=1000",
		"attr_timeout=x", "cache_size=99999999999999T",
	};
	struct fc_fs_opts o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fc_fs_opts_init(&o);
		assert_int_equal(fc_fs_opts_parse(&o, bad[i]), -EINVAL);
		fc_fs_opts_release(&o);
	}
}

static void test_fc_fs__new_checks_arguments(void **state)
{
	struct fc_fs_opts o;
	struct fc_fs_deps d;
	struct fc_fs *fs = (struct fc_fs *)&o;

	(void)state;
	memset(&d, 0, sizeof(d));
	fc_fs_opts_init(&o);
	assert_int_equal(fc_fs_new(&o, &d, &fs), -EINVAL);
	assert_null(fs);
	fc_fs_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fc_fs__defaults),
		cmocka_unit_test(test_fc_fs__ours_and_theirs),
		cmocka_unit_test(test_fc_fs__bad_values),
		cmocka_unit_test(test_fc_fs__new_checks_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
