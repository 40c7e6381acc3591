/* SPDX-License-Identifier: MIT */
/*
 * fc_account's state directory files: round trips, modes, malformed files
 * and the default directory rules. The login flow itself runs against a
 * real server in tests/e2e/t4000-client-login.sh.
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
#include <unistd.h>

#include <cmocka.h>

#include "cf_file.h"
#include "fc_account.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_fc_account.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *name, const void *data, size_t size)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(cf_file_write_durable(fd, name, data, size, 0600, 0),
			 0);
	close(fd);
}

static void test_fc_account__round_trip(void **state)
{
	struct fc_account a = { 0 }, b;
	char path[128];
	struct stat st;

	(void)state;
	a.server = (char *)(uintptr_t) "http://127.0.0.1:9/";
	a.user = (char *)(uintptr_t) "ann";
	a.device = (char *)(uintptr_t) "laptop \"x\"";
	a.user_id = 3;
	a.device_id = 77;
	a.root[15] = 1;
	a.chunk = BLK_CHUNKER_PARAMS_DEFAULT;
	a.codec = BLK_CODEC_ZLIB;
	assert_int_equal(fc_account_save(dir, &a), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, FC_ACCOUNT_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fc_account_load(dir, &b), 0);
	assert_string_equal(b.server, a.server);
	assert_string_equal(b.user, "ann");
	assert_string_equal(b.device, a.device);
	assert_int_equal(b.user_id, 3);
	assert_int_equal(b.device_id, 77);
	assert_int_equal(b.root[15], 1);
	assert_int_equal(b.chunk.avg_size, BLK_CHUNK_AVG_DEFAULT);
	assert_int_equal(b.codec, BLK_CODEC_ZLIB);
	fc_account_release(&b);
}

static void test_fc_account__malformed(void **state)
{
	static const char *const bad[] = {
		"not json",
		"{\"server\":\"x\"}",
		"{\"server\":\"x\",\"user\":\"u\",\"device\":\"d\",\"user_id\":1,"
		"\"device_id\":2,\"root\":\"zz\",\"codec\":1,\"chunk\":{\"min\":"
		"65536,\"avg\":262144,\"max\":1048576}}",
		"{\"server\":\"x\",\"user\":\"u\",\"device\":\"d\",\"user_id\":1,"
		"\"device_id\":2,\"root\":\"00000000000000000000000000000000\","
		"\"codec\":1,\"chunk\":{\"min\":65536,\"avg\":3,\"max\":1}}",
	};
	struct fc_account b;
	size_t i;

	(void)state;
	for (i = 0; i < CF_ARRAY_SIZE(bad); i++) {
		put(FC_ACCOUNT_FILE, bad[i], strlen(bad[i]));
		assert_int_equal(fc_account_load(dir, &b), -EPROTO);
		assert_null(b.server);
	}
	assert_int_equal(fc_account_load("/nonexistent/x", &b), -ENOENT);
}

static void test_fc_account__token_and_key(void **state)
{
	static const char tok[] = "00112233445566778899aabbccddeeff00112233"
				  "445566778899aabbccddeeff\n";
	char out[FC_TOKEN_HEX_SIZE];
	uint8_t key[BLK_KEY_SIZE], k2[BLK_KEY_SIZE];

	(void)state;
	put(FC_TOKEN_FILE, tok, strlen(tok));
	assert_int_equal(fc_account_token_load(dir, out), 0);
	assert_int_equal(strlen(out), 64);
	put(FC_TOKEN_FILE, "abc\n", 4);
	assert_int_equal(fc_account_token_load(dir, out), -EPROTO);
	memset(key, 7, sizeof(key));
	put(FC_KEY_FILE, key, sizeof(key));
	assert_int_equal(fc_account_key_load(dir, k2), 0);
	assert_memory_equal(key, k2, sizeof(key));
	put(FC_KEY_FILE, key, 31);
	assert_int_equal(fc_account_key_load(dir, k2), -EPROTO);
}

static void test_fc_account__default_dirs(void **state)
{
	struct cf_buf b;

	(void)state;
	cf_buf_init(&b, CF_PATH_MAX);
	setenv("XDG_STATE_HOME", "/x/state", 1);
	assert_int_equal(fc_account_default_state_dir(&b), 0);
	assert_string_equal(b.data, "/x/state/cloudfs");
	cf_buf_reset(&b);
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "/home/ann", 1);
	assert_int_equal(fc_account_default_state_dir(&b), 0);
	assert_string_equal(b.data, "/home/ann/.local/state/cloudfs");
	cf_buf_reset(&b);
	unsetenv("XDG_CACHE_HOME");
	assert_int_equal(fc_account_default_cache_dir(&b), 0);
	assert_string_equal(b.data, "/home/ann/.cache/cloudfs");
	cf_buf_reset(&b);
	/* a relative XDG value is ignored, as the spec says */
	setenv("XDG_CACHE_HOME", "rel", 1);
	assert_int_equal(fc_account_default_cache_dir(&b), 0);
	assert_string_equal(b.data, "/home/ann/.cache/cloudfs");
	cf_buf_reset(&b);
	if (getuid() == 0) {
		unsetenv("HOME");
		assert_int_equal(fc_account_default_state_dir(&b), 0);
		assert_string_equal(b.data, "/var/lib/cloudfs");
	}
	cf_buf_release(&b);
}

static void test_fc_account__login_refuses_bad_input(void **state)
{
	struct fc_login_req req = { 0 };
	struct fc_account a = { 0 };
	const char *msg = NULL;
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", dir, FC_ACCOUNT_FILE);
	unlink(path);
	req.dir = dir;
	req.server = "ftp://nowhere/";
	req.user = "ann";
	req.password = "pw";
	req.pw_len = 2;
	assert_int_equal(fc_account_login(&req, NULL, &msg), -EINVAL);
	assert_non_null(strstr(msg, "URL"));
	/* a state directory of another account is not reused */
	a.server = (char *)(uintptr_t) "http://elsewhere/";
	a.user = (char *)(uintptr_t) "bob";
	a.device = (char *)(uintptr_t) "d";
	a.chunk = BLK_CHUNKER_PARAMS_DEFAULT;
	a.codec = BLK_CODEC_ZSTD;
	assert_int_equal(fc_account_save(dir, &a), 0);
	req.server = "http://127.0.0.1:1/";
	assert_int_equal(fc_account_login(&req, NULL, &msg), -EEXIST);
	assert_non_null(strstr(msg, "another account"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fc_account__round_trip),
		cmocka_unit_test(test_fc_account__malformed),
		cmocka_unit_test(test_fc_account__token_and_key),
		cmocka_unit_test(test_fc_account__default_dirs),
		cmocka_unit_test(test_fc_account__login_refuses_bad_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
