/* SPDX-License-Identifier: MIT */
/* Unit tests for server/srv_config.c: defaults, the file, overrides. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_log.h"
#include "srv_config.h"

/* Write text to a fresh temp file; the caller unlinks and frees. */
static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/test_srv_config.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int load_text(struct srv_config *c, const char *text)
{
	char *path = write_temp(text);
	int rc;

	rc = srv_config_load(c, path, false);
	unlink(path);
	free(path);
	return rc;
}

static void test_srv_config__defaults(void **state)
{
	struct srv_config c;

	(void)state;
	assert_int_equal(srv_config_init(&c), 0);
	assert_string_equal(c.listen_addr, "127.0.0.1");
	assert_int_equal(c.listen_port, 8443);
	assert_non_null(c.data_dir);
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_false(c.insecure);
	assert_true(c.workers >= 1);
	assert_int_equal(c.max_file_size, 10ull << 30);
	assert_int_equal(c.retention_days, 30);
	assert_int_equal(c.json_body_max, 1024 * 1024);
	assert_true(c.manifest_body_max > c.json_body_max);
	assert_true(c.ws_queue_max >= 1);
	assert_true(c.ws_ping_seconds >= 1);
	assert_int_equal(c.log_level, LOG_INFO);
	srv_config_release(&c);
	srv_config_release(&c); /* idempotent */
}

static void test_srv_config__file_sets_keys(void **state)
{
	struct srv_config c;

	(void)state;
	assert_int_equal(srv_config_init(&c), 0);
	assert_int_equal(load_text(&c,
				   "# cloudfsd test config\n"
				   "\n"
				   "data_dir = /srv/cloudfs # not a comment\n"
				   "  listen=[::1]:9000\r\n"
				   "insecure = yes\n"
				   "workers = 4\n"
				   "max_file_size = 2G\n"
				   "json_body_max = 64KiB\n"
				   "quota_default = 0\n"
				   "log_level = debug\n"
				   "debug = http,ws\n"
				   "tls_cert = /etc/c.pem\n"
				   "tls_key = /etc/k.pem\n"
				   "\t# indented comment\n"
				   "ws_queue_max = 7"),
			 0);
	assert_string_equal(c.data_dir, "/srv/cloudfs # not a comment");
	assert_string_equal(c.listen_addr, "::1");
	assert_int_equal(c.listen_port, 9000);
	assert_true(c.insecure);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.max_file_size, 2ull << 30);
	assert_int_equal(c.json_body_max, 64 * 1024);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_string_equal(c.log_debug, "http,ws");
	assert_string_equal(c.tls_cert, "/etc/c.pem");
	assert_string_equal(c.tls_key, "/etc/k.pem");
	assert_int_equal(c.ws_queue_max, 7);
	srv_config_release(&c);
}

static void test_srv_config__set_overrides(void **state)
{
	struct srv_config c;

	(void)state;
	assert_int_equal(srv_config_init(&c), 0);
	assert_int_equal(srv_config_set(&c, "listen", "0.0.0.0:0"), 0);
	assert_string_equal(c.listen_addr, "0.0.0.0");
	assert_int_equal(c.listen_port, 0);
	assert_int_equal(srv_config_set(&c, "listen_port", "65535"), 0);
	assert_int_equal(c.listen_port, 65535);
	assert_int_equal(srv_config_set(&c, "insecure", "off"), 0);
	assert_false(c.insecure);
	assert_int_equal(srv_config_set(&c, "tls_cert", "/x"), 0);
	assert_int_equal(srv_config_set(&c, "tls_cert", ""), 0);
	assert_null(c.tls_cert);
	assert_int_equal(srv_config_set(&c, "rate_per_second", "100000"), 0);
	assert_int_equal(c.rate_per_second, 100000);
	assert_int_equal(srv_config_set(&c, "log_level", "3"), 0);
	assert_int_equal(c.log_level, LOG_ERR);
	assert_int_equal(srv_config_set(&c, "log_level", "warning"), 0);
	assert_int_equal(c.log_level, LOG_WARNING);
	srv_config_release(&c);
}

static void test_srv_config__bad_values_rejected(void **state)
{
	static const char *const bad[][2] = {
		{ "nosuchkey", "1" },
		{ "workers", "0" },
		{ "workers", "-1" },
		{ "workers", "4x" },
		{ "workers", "" },
		{ "listen_port", "65536" },
		{ "listen", "8443" },
		{ "listen", ":8443" },
		{ "listen", "::1:8443" },
		{ "listen", "[::1]" },
		{ "listen", "127.0.0.1:99999" },
		{ "insecure", "maybe" },
		{ "max_file_size", "99999999999999999999" },
		{ "max_file_size", "20000000T" },
		{ "max_file_size", "1Q" },
		{ "log_level", "loud" },
		{ "log_level", "8" },
		{ "data_dir", "" },
		{ "ws_queue_max", "0" },
		{ "json_body_max", "12" },
	};
	struct srv_config c;
	size_t i;

	(void)state;
	assert_int_equal(srv_config_init(&c), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = srv_config_set(&c, bad[i][0], bad[i][1]);

		if (rc != -EINVAL)
			fail_msg("%s = '%s' gave %d", bad[i][0], bad[i][1], rc);
	}
	/* nothing changed */
	assert_int_equal(c.workers, 16);
	assert_int_equal(c.listen_port, 8443);
	assert_string_equal(c.listen_addr, "127.0.0.1");
	srv_config_release(&c);
}

static void test_srv_config__bad_file(void **state)
{
	struct srv_config c;

	(void)state;
	cf_log_setup("test", LOG_CRIT, NULL); /* keep expected errors quiet */
	assert_int_equal(srv_config_init(&c), 0);
	assert_int_equal(load_text(&c, "workers = 2\nbogus = 1\n"), -EINVAL);
	assert_int_equal(load_text(&c, "workers\n"), -EINVAL);
	assert_int_equal(load_text(&c, "workers = many\n"), -EINVAL);
	assert_int_equal(
		srv_config_load(&c, "/nonexistent/cloudfsd.conf", false),
		-ENOENT);
	assert_int_equal(
		srv_config_load(&c, "/nonexistent/cloudfsd.conf", true), 0);
	srv_config_release(&c);
	cf_log_setup("test", LOG_INFO, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_srv_config__defaults),
		cmocka_unit_test(test_srv_config__file_sets_keys),
		cmocka_unit_test(test_srv_config__set_overrides),
		cmocka_unit_test(test_srv_config__bad_values_rejected),
		cmocka_unit_test(test_srv_config__bad_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
