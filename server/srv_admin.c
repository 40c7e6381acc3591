/* SPDX-License-Identifier: MIT */
/*
 * The admin CLI: `cloudfsd user add|list|passwd`, `device list|revoke`,
 * `gc`, `scrub`, `fsck`. Accounts are made the way a client would make
 * them: the tool derives master = scrypt(password, salt), the auth key and
 * the kek, stores only a slow hash of the auth key, and stores a fresh
 * volume key wrapped by the kek, so the account is usable at once and the
 * server never holds a password or a usable key. A password change unwraps
 * the volume key with the old kek and rewraps it with the new one; blocks
 * are never re-encrypted and the key is never lost.
 */
#include "srv_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "admin"
#include "blk/keys.h"
#include "cf_buf.h"
#include "cf_util.h"
#include "cf_file.h"
#include "cf_log.h"
#include "srv_auth.h"
#include "srv_blocks.h"
#include "srv_config.h"
#include "srv_gc.h"
#include "srv_meta.h"

#define PASSWORD_MAX 1024
#define EXIT_USAGE   2

struct admin {
	struct srv_config *cfg; /* borrowed */
	struct srv_meta *meta; /* owned */
	struct srv_blocks *blocks; /* owned */
};

static const char usage_text[] =
	"usage: cloudfsd user add NAME [--password-stdin]\n"
	"       cloudfsd user list\n"
	"       cloudfsd user passwd NAME [--password-stdin]\n"
	"       cloudfsd device list [USER]\n"
	"       cloudfsd device revoke ID\n"
	"       cloudfsd gc [--grace SECONDS] [--retention DAYS]\n"
	"       cloudfsd scrub\n"
	"       cloudfsd fsck\n"
	"With --password-stdin the password is the first line of standard\n"
	"input (for passwd: the old one, then the new one on the next line).\n";

/* Print why (printf-style, may be NULL) and the usage: the usage code. */
static int usage(const char *fmt, ...) CF_PRINTF(1, 2);
static int usage(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fputs("cloudfsd: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "cloudfsd: %s: %s\n", what, strerror(-rc));
	return 1;
}

/* ----- opening the data directory ----- */

static int data_path(struct cf_buf *b, const char *dir, const char *name)
{
	cf_buf_reset(b);
	return cf_buf_appendf(b, "%s/%s", dir, name);
}

static int admin_open(struct admin *a, bool with_blocks)
{
	struct cf_buf path;
	int rc;

	cf_buf_init(&path, 4096);
	rc = cf_mkdir_p(a->cfg->data_dir, 0700);
	if (rc < 0) {
		fprintf(stderr,
			"cloudfsd: cannot create data directory %s: %s\n",
			a->cfg->data_dir, strerror(-rc));
		goto out;
	}
	rc = data_path(&path, a->cfg->data_dir, "meta.db");
	if (rc == 0)
		rc = srv_meta_sqlite_open(path.data, &a->meta);
	if (rc < 0) {
		fprintf(stderr, "cloudfsd: cannot open %s/meta.db: %s\n",
			a->cfg->data_dir, strerror(-rc));
		goto out;
	}
	if (with_blocks) {
		rc = data_path(&path, a->cfg->data_dir, "blocks");
		if (rc == 0)
			rc = srv_blocks_local_open(path.data, &a->blocks);
		if (rc < 0) {
			fprintf(stderr, "cloudfsd: cannot open %s/blocks: %s\n",
				a->cfg->data_dir, strerror(-rc));
			goto out;
		}
	}
out:
	cf_buf_release(&path);
	return rc;
}

static void admin_close(struct admin *a)
{
	srv_blocks_free(a->blocks);
	srv_meta_close(a->meta);
	a->blocks = NULL;
	a->meta = NULL;
}

/* ----- passwords ----- */

/* One line of stdin without its newline: 0, -ENODATA, -E2BIG. */
static int read_stdin_line(char *buf, size_t size)
{
	size_t len;

	if (!fgets(buf, (int)size, stdin))
		return -ENODATA;
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (!feof(stdin))
		return -E2BIG;
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return 0;
}

/* Prompt on the terminal with echo off: 0, -ENOTTY, -E2BIG, -errno. */
static int read_tty(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	bool restore = false;
	size_t len = 0;
	int fd, rc = 0;
	ssize_t n;
	char ch;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -ENOTTY;
	if (cf_write_full(fd, prompt, strlen(prompt)) < 0) {
		rc = -EIO;
		goto out;
	}
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	for (;;) {
		n = read(fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0 || ch == '\n' || ch == '\r')
			break;
		if (len + 1 >= size) {
			rc = -E2BIG; /* keep reading: drain the line */
			continue;
		}
		buf[len++] = ch;
	}
	buf[len] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	cf_write_full(fd, "\n", 1);
out:
	close(fd);
	return rc;
}

/*
 * A password into buf: the next stdin line, or from the terminal (twice
 * when confirm). Prints why on failure and returns -errno.
 */
static int get_password(const char *prompt, bool from_stdin, bool confirm,
			char *buf, size_t size)
{
	char again[PASSWORD_MAX + 1];
	int rc;

	if (from_stdin)
		rc = read_stdin_line(buf, size);
	else
		rc = read_tty(prompt, buf, size);
	if (rc == 0 && !from_stdin && confirm) {
		rc = read_tty("Repeat it: ", again, sizeof(again));
		if (rc == 0 && strcmp(again, buf) != 0) {
			fprintf(stderr, "cloudfsd: the passwords differ\n");
			rc = -EINVAL;
		}
		blk_keys_wipe(again, sizeof(again));
		if (rc == -EINVAL)
			return rc;
	}
	if (rc == -ENOTTY)
		fprintf(stderr, "cloudfsd: no terminal to ask for the "
				"password: use --password-stdin\n");
	else if (rc == -ENODATA)
		fprintf(stderr, "cloudfsd: no password on standard input\n");
	else if (rc == -E2BIG)
		fprintf(stderr,
			"cloudfsd: the password is longer than %d "
			"bytes\n",
			PASSWORD_MAX);
	else if (rc < 0)
		fprintf(stderr, "cloudfsd: cannot read the password: %s\n",
			strerror(-rc));
	else if (buf[0] == '\0') {
		fprintf(stderr, "cloudfsd: the password is empty\n");
		rc = -EINVAL;
	}
	return rc;
}

/* ----- keys, as a client derives them ----- */

/*
 * New credentials for password pw: fresh KDF salt and parameters, the
 * auth salt and slow hash into u, and the kek into kek.
 */
static int derive_new(const char *pw, struct srv_user *u,
		      uint8_t kek[BLK_KEY_SIZE])
{
	uint8_t master[BLK_KEY_SIZE], auth[BLK_KEY_SIZE];
	int rc;

	u->kdf = BLK_KDF_PARAMS_DEFAULT;
	rc = blk_kdf_salt_generate(u->kdf_salt);
	if (rc == 0)
		rc = blk_kdf_salt_generate(u->auth_salt);
	if (rc == 0)
		rc = blk_kdf_master(pw, strlen(pw), u->kdf_salt, &u->kdf,
				    master);
	if (rc == 0)
		rc = blk_keys_auth_key(master, auth);
	if (rc == 0)
		rc = blk_keys_kek(master, kek);
	if (rc == 0)
		rc = srv_auth_key_hash(auth, u->auth_salt, u->auth_hash);
	blk_keys_wipe(master, sizeof(master));
	blk_keys_wipe(auth, sizeof(auth));
	return rc;
}

/* The kek of u's current password pw; -EACCES when pw is wrong. */
static int derive_old(const char *pw, const struct srv_user *u,
		      uint8_t kek[BLK_KEY_SIZE])
{
	uint8_t master[BLK_KEY_SIZE], auth[BLK_KEY_SIZE];
	int rc;

	rc = blk_kdf_master(pw, strlen(pw), u->kdf_salt, &u->kdf, master);
	if (rc == 0)
		rc = blk_keys_auth_key(master, auth);
	if (rc == 0)
		rc = srv_auth_key_verify(auth, u->auth_salt, u->auth_hash);
	if (rc == 0)
		rc = blk_keys_kek(master, kek);
	blk_keys_wipe(master, sizeof(master));
	blk_keys_wipe(auth, sizeof(auth));
	return rc;
}

/* ----- option parsing ----- */

/* Options of a subcommand; positional words land in pos[]. */
struct opts {
	bool password_stdin;
	const char *grace, *retention;
	const char *pos[4];
	int pos_count;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "grace", required_argument, NULL, 'g' },
		{ "retention", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0; /* glibc: start over, whoever parsed before */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->password_stdin = true;
			break;
		case 'g':
			o->grace = optarg;
			break;
		case 'r':
			o->retention = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1; /* done: exit 0 */
		default:
			return usage("unknown or incomplete option '%s'",
				     argv[optind - 1]);
		}
	}
	for (; optind < argc; optind++) {
		if (o->pos_count == (int)CF_ARRAY_SIZE(o->pos))
			return usage("too many arguments");
		o->pos[o->pos_count++] = argv[optind];
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end = NULL;

	if (!s || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || *end != '\0' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void format_time(int64_t secs, char *out, size_t size)
{
	struct tm tm;
	time_t t = (time_t)secs;

	if (secs <= 0 || !gmtime_r(&t, &tm) ||
	    strftime(out, size, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "-");
}

/* ----- user ----- */

static int user_add(struct admin *a, const struct opts *o)
{
	char pw[PASSWORD_MAX + 1] = "";
	uint8_t kek[BLK_KEY_SIZE], vk[BLK_KEY_SIZE];
	uint8_t wrapped[BLK_WRAPPED_KEY_SIZE];
	const char *name;
	struct srv_user u;
	int rc, status = 1;

	if (o->pos_count != 1)
		return usage("user add takes one NAME");
	name = o->pos[0];
	if (srv_auth_user_name_check(name, strlen(name)) < 0) {
		fprintf(stderr,
			"cloudfsd: '%s' is not a valid user name: use 1 to %d "
			"letters, digits or . _ @ -, not starting with . or "
			"-\n",
			name, SRV_USER_NAME_MAX);
		return 1;
	}
	memset(&u, 0, sizeof(u));
	memcpy(u.name, name, strlen(name) + 1);
	if (get_password("Password: ", o->password_stdin, true, pw,
			 sizeof(pw)) < 0)
		goto out;
	rc = admin_open(a, false);
	if (rc < 0)
		goto out;
	rc = derive_new(pw, &u, kek);
	if (rc < 0) {
		fail("cannot derive the keys", rc);
		goto out;
	}
	u.chunk_min = BLK_CHUNK_MIN_DEFAULT;
	u.chunk_avg = BLK_CHUNK_AVG_DEFAULT;
	u.chunk_max = BLK_CHUNK_MAX_DEFAULT;
	u.codec = BLK_CODEC_ZSTD;
	u.quota = a->cfg->quota_default;
	rc = a->meta->ops->user_create(a->meta, &u);
	if (rc == -EEXIST) {
		fprintf(stderr, "cloudfsd: user '%s' exists already\n", name);
		goto out;
	}
	if (rc < 0) {
		fail("cannot create the user", rc);
		goto out;
	}
	rc = blk_volume_key_generate(vk);
	if (rc == 0)
		rc = blk_volume_key_wrap(kek, vk, wrapped);
	if (rc == 0)
		rc = a->meta->ops->key_put(a->meta, u.id, wrapped,
					   sizeof(wrapped), false);
	if (rc < 0) {
		fail("user created, but storing its volume key failed (a "
		     "client will make one at first login)",
		     rc);
		goto out;
	}
	printf("created user %s (id %" PRId64 ")\n", u.name, u.id);
	status = 0;
out:
	blk_keys_wipe(pw, sizeof(pw));
	blk_keys_wipe(kek, sizeof(kek));
	blk_keys_wipe(vk, sizeof(vk));
	blk_keys_wipe(&u, sizeof(u));
	return status;
}

static int print_user(void *arg, const struct srv_user *u)
{
	struct admin *a = arg;
	struct srv_usage use = { 0 };
	char when[32];

	a->meta->ops->usage(a->meta, u->id, &use);
	format_time(u->created, when, sizeof(when));
	printf("%-6" PRId64 " %-24s %-20s %8" PRIu64 " %8" PRIu64 " %14" PRIu64
	       " %14" PRIu64 "\n",
	       u->id, u->name, when, use.files, use.blocks, use.bytes,
	       use.quota);
	return 0;
}

static int user_list(struct admin *a, const struct opts *o)
{
	int rc;

	if (o->pos_count)
		return usage("user list takes no arguments");
	rc = admin_open(a, false);
	if (rc < 0)
		return 1;
	printf("%-6s %-24s %-20s %8s %8s %14s %14s\n", "ID", "NAME", "CREATED",
	       "FILES", "BLOCKS", "BYTES", "QUOTA");
	rc = a->meta->ops->user_list(a->meta, print_user, a);
	if (rc < 0)
		return fail("cannot list users", rc);
	return 0;
}

static int user_passwd(struct admin *a, const struct opts *o)
{
	char old_pw[PASSWORD_MAX + 1] = "", new_pw[PASSWORD_MAX + 1] = "";
	uint8_t old_kek[BLK_KEY_SIZE], new_kek[BLK_KEY_SIZE];
	uint8_t vk[BLK_KEY_SIZE], wrapped[SRV_WRAPPED_KEY_MAX];
	uint8_t rewrapped[BLK_WRAPPED_KEY_SIZE];
	struct srv_user u, nu;
	size_t wrapped_len = 0;
	bool have_key;
	int rc, status = 1;

	memset(&u, 0, sizeof(u));
	memset(&nu, 0, sizeof(nu));
	if (o->pos_count != 1)
		return usage("user passwd takes one NAME");
	rc = admin_open(a, false);
	if (rc < 0)
		return 1;
	rc = a->meta->ops->user_get_by_name(a->meta, o->pos[0], &u);
	if (rc == -ENOENT) {
		fprintf(stderr, "cloudfsd: no user '%s'\n", o->pos[0]);
		return 1;
	}
	if (rc < 0)
		return fail("cannot read the user", rc);
	if (get_password("Current password: ", o->password_stdin, false, old_pw,
			 sizeof(old_pw)) < 0)
		goto out;
	rc = derive_old(old_pw, &u, old_kek);
	if (rc == -EACCES) {
		fprintf(stderr, "cloudfsd: wrong password for '%s'\n", u.name);
		goto out;
	}
	if (rc < 0) {
		fail("cannot derive the keys", rc);
		goto out;
	}
	rc = a->meta->ops->key_get(a->meta, u.id, wrapped, sizeof(wrapped),
				   &wrapped_len);
	have_key = rc == 0;
	if (rc < 0 && rc != -ENOENT) {
		fail("cannot read the wrapped volume key", rc);
		goto out;
	}
	if (have_key) {
		rc = blk_volume_key_unwrap(old_kek, wrapped, wrapped_len, vk);
		if (rc < 0) {
			fail("cannot unwrap the volume key with the current "
			     "password; nothing changed",
			     rc);
			goto out;
		}
	}
	if (get_password("New password: ", o->password_stdin, true, new_pw,
			 sizeof(new_pw)) < 0)
		goto out;
	nu = u;
	rc = derive_new(new_pw, &nu, new_kek);
	if (rc == 0 && have_key)
		rc = blk_volume_key_wrap(new_kek, vk, rewrapped);
	if (rc < 0) {
		fail("cannot derive the new keys", rc);
		goto out;
	}
	rc = a->meta->ops->user_set_auth(a->meta, u.id, &nu,
					 have_key ? rewrapped : NULL,
					 have_key ? sizeof(rewrapped) : 0);
	if (rc < 0) {
		fail("cannot store the new password", rc);
		goto out;
	}
	printf("changed the password of %s%s\n", u.name,
	       have_key ? " (volume key rewrapped)" : "");
	status = 0;
out:
	blk_keys_wipe(old_pw, sizeof(old_pw));
	blk_keys_wipe(new_pw, sizeof(new_pw));
	blk_keys_wipe(old_kek, sizeof(old_kek));
	blk_keys_wipe(new_kek, sizeof(new_kek));
	blk_keys_wipe(vk, sizeof(vk));
	blk_keys_wipe(&u, sizeof(u));
	blk_keys_wipe(&nu, sizeof(nu));
	return status;
}

/* ----- device ----- */

struct name_list {
	struct srv_user *v; /* owned */
	size_t count, cap;
};

static int collect_user(void *arg, const struct srv_user *u)
{
	struct name_list *l = arg;
	struct srv_user *v;
	size_t cap;

	if (l->count == l->cap) {
		cap = l->cap ? 2 * l->cap : 16;
		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->count] = *u;
	blk_keys_wipe(l->v[l->count].auth_hash,
		      sizeof(l->v[l->count].auth_hash));
	l->count++;
	return 0;
}

static int print_device(void *arg, const struct srv_device *d)
{
	const char *user = arg;
	char created[32], seen[32];

	format_time(d->created, created, sizeof(created));
	format_time(d->last_seen, seen, sizeof(seen));
	printf("%-6" PRId64 " %-24s %-24s %-20s %-20s %s\n", d->id, user,
	       d->name, created, seen, d->revoked ? "revoked" : "active");
	return 0;
}

static int device_list(struct admin *a, const struct opts *o)
{
	struct name_list users = { 0 };
	struct srv_user u;
	size_t i;
	int rc, status = 1;

	if (o->pos_count > 1)
		return usage("device list takes at most one USER");
	if (admin_open(a, false) < 0)
		return 1;
	if (o->pos_count == 1) {
		rc = a->meta->ops->user_get_by_name(a->meta, o->pos[0], &u);
		if (rc == -ENOENT) {
			fprintf(stderr, "cloudfsd: no user '%s'\n", o->pos[0]);
			return 1;
		}
		if (rc == 0)
			rc = collect_user(&users, &u);
		blk_keys_wipe(&u, sizeof(u));
	} else {
		rc = a->meta->ops->user_list(a->meta, collect_user, &users);
	}
	if (rc < 0) {
		fail("cannot list users", rc);
		goto out;
	}
	printf("%-6s %-24s %-24s %-20s %-20s %s\n", "ID", "USER", "NAME",
	       "CREATED", "LAST SEEN", "STATUS");
	for (i = 0; i < users.count; i++) {
		rc = a->meta->ops->device_list(a->meta, users.v[i].id,
					       print_device, users.v[i].name);
		if (rc < 0) {
			fail("cannot list devices", rc);
			goto out;
		}
	}
	status = 0;
out:
	free(users.v);
	return status;
}

static int device_revoke(struct admin *a, const struct opts *o)
{
	uint64_t id;
	int rc;

	if (o->pos_count != 1 || parse_u64(o->pos[0], INT64_MAX, &id) < 0)
		return usage("device revoke takes one numeric device ID");
	if (admin_open(a, false) < 0)
		return 1;
	rc = a->meta->ops->device_revoke(a->meta, (int64_t)id);
	if (rc == -ENOENT) {
		fprintf(stderr, "cloudfsd: no device %s\n", o->pos[0]);
		return 1;
	}
	if (rc < 0)
		return fail("cannot revoke the device", rc);
	printf("revoked device %s and its tokens\n", o->pos[0]);
	return 0;
}

/* ----- gc, scrub, fsck ----- */

static int run_gc(struct admin *a, const struct opts *o)
{
	uint64_t grace = a->cfg->gc_grace_seconds;
	uint64_t days = a->cfg->retention_days;
	struct srv_gc_stats st;
	int rc;

	if (o->pos_count)
		return usage("gc takes no arguments");
	if (o->grace && parse_u64(o->grace, 100ull * 365 * 86400, &grace) < 0)
		return usage("--grace wants a number of seconds, not '%s'",
			     o->grace);
	if (o->retention && parse_u64(o->retention, 100ull * 365, &days) < 0)
		return usage("--retention wants a number of days, not '%s'",
			     o->retention);
	if (admin_open(a, true) < 0)
		return 1;
	rc = srv_gc_run(a->meta, a->blocks, NULL, (int64_t)time(NULL),
			(int64_t)days * 86400, (int64_t)grace, &st);
	printf("gc: pruned %" PRIu64 " old versions and %" PRIu64
	       " trash items; removed %" PRIu64 " of %" PRIu64
	       " unreferenced blocks (%" PRIu64 " bytes); %" PRIu64
	       " kept (in use again), %" PRIu64 " already gone; removed %" PRIu64
	       " blocks the index did not know (%" PRIu64 " bytes) and %" PRIu64
	       " temp files of cut uploads\n",
	       st.versions_pruned, st.nodes_purged, st.removed, st.candidates,
	       st.bytes_removed, st.kept, st.absent, st.orphans_removed,
	       st.orphan_bytes, st.temps_removed);
	if (rc < 0)
		return fail("gc did not finish", rc);
	return 0;
}

static void print_problem(void *arg, int64_t user_id, const struct blk_id *id,
			  const char *what)
{
	char hex[BLK_ID_HEX_SIZE] = "-";

	(void)arg;
	if (id)
		blk_id_to_hex(id, hex);
	printf("user %" PRId64 " block %s: %s\n", user_id, hex, what);
}

static int run_scrub(struct admin *a, const struct opts *o)
{
	struct srv_scrub_stats st;
	int rc;

	if (o->pos_count)
		return usage("scrub takes no arguments");
	if (admin_open(a, true) < 0)
		return 1;
	rc = srv_scrub_run(a->blocks, print_problem, NULL, &st);
	if (rc < 0)
		return fail("scrub did not finish", rc);
	printf("scrub: %" PRIu64 " blocks (%" PRIu64 " bytes) checked, %" PRIu64
	       " corrupt\n",
	       st.blocks, st.bytes, st.corrupt);
	return st.corrupt ? 1 : 0;
}

static int run_fsck(struct admin *a, const struct opts *o)
{
	struct srv_fsck_stats st;
	int rc;

	if (o->pos_count)
		return usage("fsck takes no arguments");
	if (admin_open(a, true) < 0)
		return 1;
	rc = srv_fsck_run(a->meta, a->blocks, print_problem, NULL, &st);
	if (rc < 0)
		return fail("fsck did not finish", rc);
	printf("fsck: %" PRIu64 " indexed, %" PRIu64 " referenced, %" PRIu64
	       " stored blocks; %" PRIu64 " errors, %" PRIu64
	       " unindexed leftovers\n",
	       st.indexed, st.referenced, st.stored, st.errors, st.orphans);
	return st.errors ? 1 : 0;
}

/* ----- dispatch ----- */

struct command {
	const char *word, *sub; /* sub NULL: a one-word command */
	int (*fn)(struct admin *a, const struct opts *o);
};

static const struct command commands[] = {
	{ "user", "add", user_add },
	{ "user", "list", user_list },
	{ "user", "passwd", user_passwd },
	{ "device", "list", device_list },
	{ "device", "revoke", device_revoke },
	{ "gc", NULL, run_gc },
	{ "scrub", NULL, run_scrub },
	{ "fsck", NULL, run_fsck },
};

int srv_admin_run(struct srv_config *cfg, int argc, char **argv)
{
	struct admin a = { .cfg = cfg };
	const struct command *cmd = NULL;
	struct opts o;
	size_t i;
	int skip, status;

	if (argc < 1 || !argv[0])
		return usage("no command given");
	if (!strcmp(argv[0], "help") || !strcmp(argv[0], "--help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (i = 0; i < CF_ARRAY_SIZE(commands); i++) {
		if (strcmp(commands[i].word, argv[0]) != 0)
			continue;
		if (commands[i].sub &&
		    (argc < 2 || strcmp(commands[i].sub, argv[1]) != 0))
			continue;
		cmd = &commands[i];
		break;
	}
	if (!cmd) {
		if (argc >= 2 &&
		    (!strcmp(argv[0], "user") || !strcmp(argv[0], "device")))
			return usage("unknown subcommand '%s'", argv[1]);
		return usage("unknown command '%s'", argv[0]);
	}
	skip = cmd->sub ? 1 : 0;
	status = parse_opts(argc - skip, argv + skip, &o);
	if (status != 0)
		return status < 0 ? 0 : status;
	status = cmd->fn(&a, &o);
	admin_close(&a);
	fflush(stdout);
	return status;
}
