/* SPDX-License-Identifier: MIT */
/*
 * `cloudfs` command bodies (see fc_cli.h). Output for people goes to
 * stdout, errors to stderr as one line each; nothing secret is printed.
 */
#include "fc_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "cli"
#include "cf_log.h"
#include "fc_account.h"
#include "fc_daemon.h"
#include "fc_remote.h"

#define XATTR_ID     "user.cloudfs.id"
#define XATTR_STATUS "user.cloudfs.status"
#define XATTR_SYNC   "user.cloudfs.sync"
#define XATTR_PIN    "user.cloudfs.pin"
#define PASSWORD_MAX 1024
#define STATUS_MAX   65536

static int fail(const char *fmt, ...) CF_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("cloudfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static void human(uint64_t n, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < CF_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%llu B", (unsigned long long)n);
	else
		snprintf(out, size, "%.1f %s", v, units[u]);
}

/* ----- the mount and its xattrs ----- */

/* Is dir the root of a cloudfs mount (it answers the status xattr)? */
static bool is_mount_root(const char *dir)
{
	return lgetxattr(dir, XATTR_STATUS, NULL, 0) >= 0;
}

/* The cloudfs mount root holding path (or the first mount when NULL). */
static int find_root(const char *path, struct cf_buf *out)
{
	char *real = NULL, *slash, line[8192];
	FILE *f;
	int rc = -ENOENT;

	if (!path) {
		f = fopen("/proc/self/mounts", "re");
		if (!f)
			return -errno;
		while (fgets(line, sizeof(line), f)) {
			char dev[4096], dir[4096], type[256];

			if (sscanf(line, "%4095s %4095s %255s", dev, dir,
				   type) != 3 ||
			    !strstr(type, "fuse") ||
			    (!strstr(type, "cloudfs") &&
			     !strstr(dev, "cloudfs")))
				continue;
			if (is_mount_root(dir)) {
				rc = cf_buf_appends(out, dir);
				break;
			}
		}
		fclose(f);
		return rc;
	}
	real = realpath(path, NULL);
	if (!real)
		return -errno;
	for (;;) {
		if (is_mount_root(real)) {
			rc = cf_buf_appends(out, real);
			break;
		}
		slash = strrchr(real, '/');
		if (!slash || slash == real) {
			if (slash && real[1] && is_mount_root("/"))
				rc = cf_buf_appends(out, "/");
			break;
		}
		*slash = '\0';
	}
	free(real);
	return rc;
}

static int read_status(const char *root, json_t **out)
{
	char *buf = malloc(STATUS_MAX);
	ssize_t n;
	int rc = 0;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	n = lgetxattr(root, XATTR_STATUS, buf, STATUS_MAX - 1);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	*out = json_loadb(buf, (size_t)n, 0, NULL);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = -EPROTO;
	}
out:
	free(buf);
	return rc;
}

/* A number from the status JSON: "key", or "group" { "sub" }. */
static uint64_t jnum(json_t *j, const char *key, const char *group,
		     const char *sub)
{
	json_t *v = json_object_get(j, key);

	if (!v && group)
		v = json_object_get(json_object_get(j, group), sub);
	if (json_is_integer(v) && json_integer_value(v) > 0)
		return (uint64_t)json_integer_value(v);
	if (json_is_true(v))
		return 1;
	return 0;
}

static const char *jstr(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s ? s : "";
}

struct status_nums {
	bool connected, live, uploading;
	uint64_t cursor, files, bytes, ops, failed, used, limit, done, total;
	uint64_t pull_started, pull_done;
	int pull_error; /* errno, 0 = the last pull went fine */
};

static void status_nums(json_t *j, struct status_nums *s)
{
	s->connected = jnum(j, "connected", NULL, NULL) != 0;
	s->live = jnum(j, "live", NULL, NULL) != 0;
	s->cursor = jnum(j, "cursor", NULL, NULL);
	s->files = jnum(j, "queue_files", "queue", "files");
	s->bytes = jnum(j, "queue_bytes", "queue", "bytes");
	s->ops = jnum(j, "ops_pending", "ops", "pending");
	s->failed = jnum(j, "ops_failed", "ops", "failed");
	s->used = jnum(j, "cache_used", "cache", "used");
	s->limit = jnum(j, "cache_limit", "cache", "limit");
	s->uploading = jnum(j, "uploading", "upload", "active") != 0;
	s->done = jnum(j, "upload_done", "upload", "done");
	s->total = jnum(j, "upload_total", "upload", "total");
	s->pull_started = jnum(j, "pull_started", "pull", "started");
	s->pull_done = jnum(j, "pull_done", "pull", "done");
	s->pull_error = (int)jnum(j, "pull_error", "pull", "error");
}

static int root_of(const struct fc_cli_args *a, struct cf_buf *root)
{
	int rc = find_root(a->path, root);

	if (rc < 0) {
		if (a->path)
			return fail("%s is not in a mounted cloudfs (%s)",
				    a->path, strerror(-rc));
		return fail("no cloudfs is mounted");
	}
	return 0;
}

int fc_cli_status(const struct fc_cli_args *a)
{
	char s1[32], s2[32], bar[41];
	struct status_nums s;
	struct cf_buf root;
	json_t *j = NULL;
	int rc, i, fill;

	cf_buf_init(&root, CF_PATH_MAX);
	rc = root_of(a, &root);
	if (rc)
		goto out;
	rc = read_status(root.data, &j);
	if (rc < 0) {
		rc = fail("cannot read the status of %s: %s", root.data,
			  strerror(-rc));
		goto out;
	}
	status_nums(j, &s);
	printf("cloudfs on %s: %s\n", root.data,
	       !s.connected ? "offline"
	       : s.live     ? "connected, live updates"
			    : "connected");
	printf("  cursor:  %llu\n", (unsigned long long)s.cursor);
	human(s.bytes, s1, sizeof(s1));
	printf("  queue:   %llu files, %s\n", (unsigned long long)s.files, s1);
	printf("  outbox:  %llu operations pending", (unsigned long long)s.ops);
	if (s.failed)
		printf(", %llu refused by the server",
		       (unsigned long long)s.failed);
	printf("\n");
	if (s.limit) {
		human(s.used, s1, sizeof(s1));
		human(s.limit, s2, sizeof(s2));
		printf("  cache:   %s of %s\n", s1, s2);
	}
	if (s.uploading) {
		fill = s.total ? (int)(s.done * 40 / s.total) : 0;
		for (i = 0; i < 40; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[40] = '\0';
		human(s.done, s1, sizeof(s1));
		human(s.total, s2, sizeof(s2));
		printf("  upload:  [%s] %3d%% %s of %s\n", bar,
		       s.total ? (int)(s.done * 100 / s.total) : 0, s1, s2);
	}
	if (s.pull_error && s.pull_error != EAGAIN)
		printf("  pull:    failing: %s\n", strerror(s.pull_error));
	if (*jstr(j, "message"))
		printf("  note:    %s\n", jstr(j, "message"));
	rc = 0;
out:
	json_decref(j);
	cf_buf_release(&root);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int fc_cli_sync(const struct fc_cli_args *a)
{
	struct status_nums s = { 0 };
	double start = mono_s();
	struct cf_buf root;
	json_t *j = NULL;
	char sz[32];
	int rc;

	uint64_t asked = 0;

	cf_buf_init(&root, CF_PATH_MAX);
	rc = root_of(a, &root);
	if (rc)
		goto out;
	/* Both ways: ours on the server, and a pull begun after we asked. */
	rc = read_status(root.data, &j);
	if (rc == 0) {
		status_nums(j, &s);
		asked = s.pull_started;
		if (lsetxattr(root.data, XATTR_SYNC, "1", 1, 0) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		rc = fail("cannot ask %s to sync: %s", root.data,
			  strerror(-rc));
		goto out;
	}
	for (;;) {
		json_decref(j);
		rc = read_status(root.data, &j);
		if (rc < 0) {
			rc = fail("cannot read the status of %s: %s", root.data,
				  strerror(-rc));
			goto out;
		}
		status_nums(j, &s);
		if (!s.files && !s.ops && !s.uploading && s.pull_done > asked)
			break;
		/* a pull that cannot work (refused page, revoked device) */
		if (s.pull_error && s.pull_error != EAGAIN &&
		    !fc_remote_is_transient(-s.pull_error)) {
			rc = fail("cannot bring in the server's changes: %s "
				  "(see the log)",
				  strerror(s.pull_error));
			goto out;
		}
		if (a->timeout_s > 0 &&
		    mono_s() - start >= (double)a->timeout_s) {
			human(s.bytes, sz, sizeof(sz));
			rc = fail("sync timed out after %ld s: %llu files (%s) "
				  "and %llu operations not on the server yet%s%s"
				  "%s%s",
				  a->timeout_s, (unsigned long long)s.files, sz,
				  (unsigned long long)s.ops,
				  s.pull_done > asked
					  ? ""
					  : ", the server's changes not pulled",
				  s.connected ? "" : " (offline)",
				  *jstr(j, "message") ? "; " : "",
				  jstr(j, "message"));
			goto out;
		}
		sleep_ms(100);
	}
	if (s.failed) {
		rc = fail("synced, but %llu operations were refused by the "
			  "server (see the log)",
			  (unsigned long long)s.failed);
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	cf_buf_release(&root);
	return rc;
}

int fc_cli_pin(const struct fc_cli_args *a, bool pin)
{
	int fd, rc = 0;

	if (!a->path)
		return fail("which file?");
	/*
	 * Through an open descriptor: opening makes the mount fetch the
	 * file's current manifest, which the pin download needs.
	 */
	fd = open(a->path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (fsetxattr(fd, XATTR_PIN, pin ? "1" : "0", 1, 0) < 0)
			rc = -errno;
		close(fd);
	} else if (lsetxattr(a->path, XATTR_PIN, pin ? "1" : "0", 1, 0) < 0) {
		rc = -errno;
	}
	if (rc < 0)
		return fail("cannot %s %s: %s", pin ? "pin" : "unpin", a->path,
			    strerror(-rc));
	return 0;
}

/* ----- server calls with the state directory's token ----- */

struct session {
	struct cf_buf dir;
	struct fc_account acct;
	struct fc_remote *r;
	uint8_t id[FC_NODE_ID_SIZE];
};

static int session_open(const struct fc_cli_args *a, struct session *s)
{
	char hex[2 * FC_NODE_ID_SIZE + 8];
	ssize_t n;
	int rc;

	memset(s, 0, sizeof(*s));
	cf_buf_init(&s->dir, CF_PATH_MAX);
	if (!a->path)
		return fail("which file?");
	n = lgetxattr(a->path, XATTR_ID, hex, sizeof(hex) - 1);
	if (n < 0)
		return fail("%s: %s (not in a mounted cloudfs?)", a->path,
			    strerror(errno));
	if (fc_id_from_hex(hex, (size_t)n, s->id) < 0)
		return fail("%s: malformed node id from the mount", a->path);
	rc = a->state_dir ? cf_buf_appends(&s->dir, a->state_dir)
			  : fc_account_default_state_dir(&s->dir);
	if (rc < 0)
		return fail("no state directory: use --state-dir");
	rc = fc_account_load(s->dir.data, &s->acct);
	if (rc < 0)
		return fail("no account in %s: %s", s->dir.data,
			    rc == -ENOENT ? "run cloudfs login"
					  : strerror(-rc));
	rc = fc_account_remote(s->dir.data, &s->acct, &s->r);
	if (rc < 0)
		return fail("cannot use the login in %s: %s", s->dir.data,
			    strerror(-rc));
	return 0;
}

static void session_close(struct session *s)
{
	fc_remote_free(s->r);
	fc_account_release(&s->acct);
	cf_buf_release(&s->dir);
}

static const char *remote_error(int rc)
{
	switch (rc) {
	case -EACCES:
		return "the login is no longer valid: run cloudfs login";
	case -ENOTCONN:
		return "cannot reach the server";
	case -ENOENT:
		return "the server does not know this file (not uploaded yet?)";
	default:
		return strerror(-rc);
	}
}

static void time_str(int64_t s, char *out, size_t size)
{
	time_t t = (time_t)s;
	struct tm tm;

	if (!s || !localtime_r(&t, &tm) ||
	    !strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, size, "-");
}

int fc_cli_versions(const struct fc_cli_args *a)
{
	struct fc_version_info *v = NULL;
	struct session s;
	char sz[32], mt[32], cr[32];
	size_t n = 0, i;
	int rc;

	rc = session_open(a, &s);
	if (rc)
		goto out;
	rc = fc_remote_versions(s.r, s.id, &v, &n);
	if (rc < 0) {
		rc = fail("%s: %s", a->path, remote_error(rc));
		goto out;
	}
	printf("%8s  %12s  %-19s  %-19s\n", "VERSION", "SIZE", "MODIFIED",
	       "STORED");
	for (i = 0; i < n; i++) {
		human(v[i].size, sz, sizeof(sz));
		time_str(v[i].mtime_ns / 1000000000, mt, sizeof(mt));
		time_str(v[i].created, cr, sizeof(cr));
		printf("%8llu  %12s  %-19s  %-19s%s\n",
		       (unsigned long long)v[i].version, sz, mt, cr,
		       i + 1 == n ? "  (current)" : "");
	}
	rc = 0;
out:
	free(v);
	session_close(&s);
	return rc;
}

/*
 * Wait (bounded) until the mount has applied the feed up to cursor, and
 * the pull that did has ended: it tells the kernel what changed after its
 * transaction, so the cursor alone moves a moment too early.
 */
static void wait_pulled(const char *path, uint64_t cursor)
{
	struct fc_cli_args a = { .path = path };
	struct status_nums s = { 0 };
	struct cf_buf root;
	json_t *j = NULL;
	uint64_t asked;
	int i;

	cf_buf_init(&root, CF_PATH_MAX);
	if (find_root(a.path, &root) < 0 || read_status(root.data, &j) < 0)
		goto out;
	status_nums(j, &s);
	asked = s.pull_started;
	if (lsetxattr(root.data, XATTR_SYNC, "1", 1, 0) < 0)
		goto out;
	for (i = 0; i < 100; i++) {
		json_decref(j);
		j = NULL;
		if (read_status(root.data, &j) < 0)
			break;
		status_nums(j, &s);
		if (s.cursor >= cursor && s.pull_done > asked)
			break;
		sleep_ms(100);
	}
out:
	json_decref(j);
	cf_buf_release(&root);
}

int fc_cli_restore(const struct fc_cli_args *a)
{
	struct fc_version_info *v = NULL;
	struct fc_account_info acct;
	uint64_t want = a->version, made = 0;
	struct session s;
	size_t n = 0;
	int rc;

	rc = session_open(a, &s);
	if (rc)
		goto out;
	if (!want) {
		rc = fc_remote_versions(s.r, s.id, &v, &n);
		if (rc < 0) {
			rc = fail("%s: %s", a->path, remote_error(rc));
			goto out;
		}
		if (n < 2) {
			rc = fail("%s has no earlier version", a->path);
			goto out;
		}
		want = v[n - 2].version;
	}
	rc = fc_remote_restore(s.r, s.id, want, &made);
	if (rc < 0) {
		rc = fail("cannot restore version %llu of %s: %s",
			  (unsigned long long)want, a->path,
			  rc == -ENOENT ? "no such version" : remote_error(rc));
		goto out;
	}
	printf("restored version %llu of %s as version %llu\n",
	       (unsigned long long)want, a->path, (unsigned long long)made);
	if (fc_remote_account(s.r, &acct) == 0)
		wait_pulled(a->path, acct.cursor);
	rc = 0;
out:
	free(v);
	session_close(&s);
	return rc;
}

/* ----- login and mount ----- */

/* Read a password: the file's first line, else the terminal, else stdin. */
static int read_password(const char *file, char *buf, size_t size,
			 size_t *out_len)
{
	struct termios old, quiet;
	bool tty = false;
	FILE *f = NULL;
	size_t len;
	int rc = 0;

	if (file) {
		f = fopen(file, "re");
		if (!f)
			return -errno;
	} else {
		f = fopen("/dev/tty", "r+e");
		if (f && tcgetattr(fileno(f), &old) == 0) {
			tty = true;
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			fputs("password: ", f);
			fflush(f);
			tcsetattr(fileno(f), TCSAFLUSH, &quiet);
		} else if (f) {
			fclose(f);
			f = NULL;
		}
	}
	if (!fgets(buf, (int)size, f ? f : stdin))
		rc = -ENODATA;
	if (tty) {
		tcsetattr(fileno(f), TCSAFLUSH, &old);
		fputc('\n', f);
	}
	if (f)
		fclose(f);
	if (rc < 0)
		return rc;
	len = strlen(buf);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (!len)
		return -ENODATA;
	*out_len = len;
	return 0;
}

int fc_cli_login(const struct fc_cli_args *a)
{
	struct fc_login_req req = { 0 };
	char pw[PASSWORD_MAX];
	struct cf_buf dir;
	const char *msg = NULL;
	size_t pw_len = 0;
	int rc;

	cf_buf_init(&dir, CF_PATH_MAX);
	if (!a->server || !a->user) {
		rc = fail("login needs --server URL and --user NAME");
		goto out;
	}
	rc = a->state_dir ? cf_buf_appends(&dir, a->state_dir)
			  : fc_account_default_state_dir(&dir);
	if (rc < 0) {
		rc = fail("no state directory: use --state-dir");
		goto out;
	}
	rc = read_password(a->password_file, pw, sizeof(pw), &pw_len);
	if (rc < 0) {
		rc = fail("cannot read the password%s%s: %s",
			  a->password_file ? " from " : "",
			  a->password_file ? a->password_file : "",
			  rc == -ENODATA ? "empty" : strerror(-rc));
		goto out;
	}
	req.dir = dir.data;
	req.server = a->server;
	req.user = a->user;
	req.device = a->device;
	req.password = pw;
	req.pw_len = pw_len;
	rc = fc_account_login(&req, NULL, &msg);
	if (rc < 0) {
		rc = fail("login failed: %s", msg);
		goto out;
	}
	printf("logged in as %s on %s (state in %s)\n", a->user, a->server,
	       dir.data);
	rc = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	cf_buf_release(&dir);
	return rc;
}

int fc_cli_mount(const struct fc_cli_args *a)
{
	struct fc_daemon_opts o = { 0 };
	char *mnt = NULL;
	struct stat st;
	int rc;

	if (!a->path)
		return fail("mount needs a MOUNTPOINT");
	if (stat(a->path, &st) < 0)
		return fail("%s: %s", a->path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail("%s is not a directory", a->path);
	/* absolute: the daemon leaves its working directory */
	mnt = realpath(a->path, NULL);
	if (!mnt)
		return fail("%s: %s", a->path, strerror(errno));
	a->fs->mountpoint = mnt;
	o.state_dir = a->state_dir;
	o.cache_dir = a->cache_dir;
	o.fs = a->fs;
	o.upload_threads = a->upload_threads;
	rc = fc_daemon_run(&o);
	a->fs->mountpoint = NULL;
	free(mnt);
	return rc < 0 ? 1 : 0;
}
