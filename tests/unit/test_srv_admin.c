/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for server/srv_admin.c: `user add` makes an account a client
 * can log into and whose volume key it can unwrap; `user passwd` keeps the
 * same volume key under the new password and refuses a wrong old one;
 * usage errors exit 2, failures 1.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk/keys.h"
#include "cf_log.h"
#include "srv_admin.h"
#include "srv_auth.h"
#include "srv_config.h"
#include "srv_meta.h"

struct fixture {
	char dir[64];
	struct srv_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_srv_admin.XXXXXX");
	if (!mkdtemp(f->dir) || srv_config_init(&f->cfg) < 0)
		return -1;
	free(f->cfg.data_dir);
	f->cfg.data_dir = strdup(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	srv_config_release(&f->cfg);
	free(f);
	return 0;
}

/* Run the admin command words with stdin_text as standard input. */
static int run(struct fixture *f, const char *stdin_text, ...)
{
	char path[128], *argv[8];
	va_list ap;
	FILE *in;
	int argc = 0, rc;

	snprintf(path, sizeof(path), "%s/stdin", f->dir);
	in = fopen(path, "w");
	assert_non_null(in);
	fputs(stdin_text, in);
	fclose(in);
	assert_non_null(freopen(path, "r", stdin));
	va_start(ap, stdin_text);
	while (argc < 7 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	rc = srv_admin_run(&f->cfg, argc, argv);
	return rc;
}

/* What a client does: derive from the password, check, unwrap. */
static int client_unwrap(struct fixture *f, const char *name, const char *pw,
			 uint8_t vk[BLK_KEY_SIZE])
{
	uint8_t master[BLK_KEY_SIZE], auth[BLK_KEY_SIZE], kek[BLK_KEY_SIZE];
	uint8_t wrapped[SRV_WRAPPED_KEY_MAX];
	struct srv_meta *m;
	struct srv_user u;
	char path[128];
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(srv_meta_sqlite_open(path, &m), 0);
	assert_int_equal(m->ops->user_get_by_name(m, name, &u), 0);
	assert_int_equal(
		blk_kdf_master(pw, strlen(pw), u.kdf_salt, &u.kdf, master), 0);
	assert_int_equal(blk_keys_auth_key(master, auth), 0);
	assert_int_equal(blk_keys_kek(master, kek), 0);
	rc = srv_auth_key_verify(auth, u.auth_salt, u.auth_hash);
	if (rc == 0) {
		assert_int_equal(m->ops->key_get(m, u.id, wrapped,
						 sizeof(wrapped), &len),
				 0);
		rc = blk_volume_key_unwrap(kek, wrapped, len, vk);
	}
	srv_meta_close(m);
	return rc;
}

static void test_srv_admin__user_add_and_passwd(void **state)
{
	struct fixture *f = *state;
	uint8_t vk1[BLK_KEY_SIZE], vk2[BLK_KEY_SIZE];

	assert_int_equal(run(f, "correct horse\n", "user", "add", "carol",
			     "--password-stdin", NULL),
			 0);
	assert_int_equal(client_unwrap(f, "carol", "correct horse", vk1), 0);
	assert_int_equal(client_unwrap(f, "carol", "wrong", vk2), -EACCES);

	/* Taken name, bad name, empty password. */
	assert_int_equal(
		run(f, "x\n", "user", "add", "carol", "--password-stdin", NULL),
		1);
	assert_int_equal(
		run(f, "x\n", "user", "add", "-bad", "--password-stdin", NULL),
		2);
	assert_int_equal(
		run(f, "x\n", "user", "add", "a/b", "--password-stdin", NULL),
		1);
	assert_int_equal(
		run(f, "\n", "user", "add", "dave", "--password-stdin", NULL),
		1);
	assert_int_equal(
		run(f, "", "user", "add", "dave", "--password-stdin", NULL), 1);

	/* A wrong old password changes nothing. */
	assert_int_equal(run(f, "nope\nnew one\n", "user", "passwd", "carol",
			     "--password-stdin", NULL),
			 1);
	assert_int_equal(client_unwrap(f, "carol", "correct horse", vk2), 0);

	assert_int_equal(run(f, "correct horse\nbattery staple\n", "user",
			     "passwd", "carol", "--password-stdin", NULL),
			 0);
	assert_int_equal(client_unwrap(f, "carol", "correct horse", vk2),
			 -EACCES);
	assert_int_equal(client_unwrap(f, "carol", "battery staple", vk2), 0);
	assert_memory_equal(vk1, vk2, sizeof(vk1)); /* the key survived */
	assert_int_equal(run(f, "a\nb\n", "user", "passwd", "nobody",
			     "--password-stdin", NULL),
			 1);
}

static void test_srv_admin__usage_and_devices(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, "", "frob", NULL), 2);
	assert_int_equal(run(f, "", "user", NULL), 2);
	assert_int_equal(run(f, "", "user", "add", NULL), 2);
	assert_int_equal(run(f, "", "user", "list", "extra", NULL), 2);
	assert_int_equal(run(f, "", "device", "revoke", "abc", NULL), 2);
	assert_int_equal(run(f, "", "gc", "--grace", "-1", NULL), 2);
	assert_int_equal(run(f, "", "gc", "--bogus", NULL), 2);
	assert_int_equal(run(f, "", "help", NULL), 0);

	assert_int_equal(run(f, "", "user", "list", NULL), 0);
	assert_int_equal(run(f, "", "device", "list", NULL), 0);
	assert_int_equal(run(f, "", "device", "list", "nobody", NULL), 1);
	assert_int_equal(run(f, "", "device", "revoke", "42", NULL), 1);
	assert_int_equal(
		run(f, "", "gc", "--grace", "0", "--retention", "0", NULL), 0);
	assert_int_equal(run(f, "", "scrub", NULL), 0);
	assert_int_equal(run(f, "", "fsck", NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_srv_admin__user_add_and_passwd, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_srv_admin__usage_and_devices, setup, teardown),
	};

	cf_log_setup("test_srv_admin", LOG_WARNING, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
