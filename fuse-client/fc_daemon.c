/* SPDX-License-Identifier: MIT */
/*
 * Assembly of the client (see fc_daemon.h). struct daemon is the one
 * context every hook receives.
 *
 * Daemonizing: the process forks before anything starts a thread (the
 * cache opens its own, and threads do not survive a fork), and the child
 * runs the mount in "foreground" mode. The parent waits on a pipe until
 * the child's mount is up (exit 0) or the child failed (exit 1, its
 * errors already on the terminal); then the child detaches, and stderr
 * (where cf_log writes) becomes a pipe that a small thread forwards to
 * syslog.
 *
 * Lock order: none held across calls here; each worker has its own.
 */
#include "fc_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "daemon"
#include "blk/keys.h"
#include "cf_file.h"
#include "cf_log.h"
#include "fc_account.h"
#include "fc_fetch.h"
#include "fc_notify.h"
#include "fc_pull.h"
#include "fc_push.h"
#include "fc_remote.h"
#include "fc_upload.h"

struct daemon {
	const struct fc_daemon_opts *o;
	struct cf_buf state_dir, cache_dir, db_path;
	int lock_fd; /* flock'd FC_DAEMON_LOCK_FILE in state_dir, or -1 */
	struct fc_account acct;
	struct blk_volume_keys keys;
	struct fc_remote *remote;
	struct fc_state *state;
	struct fc_cache *cache;
	struct fc_fetcher *fetch;
	struct fc_uploader *up;
	struct fc_pusher *push;
	struct fc_puller *pull;
	struct fc_notify *notify; /* NULL when it could not be set up */
	struct fc_fs *fs; /* set once made; read by the hooks */
	int log_pipe; /* read end of the syslog pipe, or -1 */
	int ready_pipe; /* daemon child: tells the parent, or -1 */
	pthread_t log_thread;
	bool log_started;
};

/* ----- syslog forwarding (daemonized only) ----- */

static int line_priority(const char *line)
{
	static const struct {
		const char *word;
		int prio;
	} levels[] = {
		{ ": emerg: ", LOG_EMERG },	{ ": alert: ", LOG_ALERT },
		{ ": crit: ", LOG_CRIT },	{ ": error: ", LOG_ERR },
		{ ": warning: ", LOG_WARNING }, { ": notice: ", LOG_NOTICE },
		{ ": debug: ", LOG_DEBUG },
	};
	size_t i;

	for (i = 0; i < CF_ARRAY_SIZE(levels); i++)
		if (strstr(line, levels[i].word))
			return levels[i].prio;
	return LOG_INFO;
}

static void *log_main(void *arg)
{
	struct daemon *d = arg;
	char buf[4096];
	size_t have = 0;
	ssize_t n;

	for (;;) {
		char *nl;

		n = read(d->log_pipe, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = strchr(buf, '\n')) || have == sizeof(buf) - 1) {
			if (nl)
				*nl = '\0';
			syslog(line_priority(buf), "%s", buf);
			if (!nl) {
				have = 0;
				break;
			}
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
	}
	return NULL;
}

static int log_to_syslog(struct daemon *d)
{
	int fds[2], rc;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	if (dup2(fds[1], STDERR_FILENO) < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	close(fds[1]);
	d->log_pipe = fds[0];
	openlog("cloudfs", LOG_PID, LOG_DAEMON);
	rc = pthread_create(&d->log_thread, NULL, log_main, d);
	if (rc)
		return -rc;
	d->log_started = true;
	return 0;
}

/* ----- daemonizing ----- */

/*
 * Fork; the parent waits for the child's word and returns 1 (mounted) or
 * -EIO (the child failed and said why). The child returns 0 with
 * d->ready_pipe set.
 */
static int fork_daemon(struct daemon *d)
{
	char ok = 0;
	int fds[2];
	pid_t pid;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		close(fds[0]);
		d->ready_pipe = fds[1];
		setsid();
		return 0;
	}
	close(fds[1]);
	do
		n = read(fds[0], &ok, 1);
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n == 1 && ok == 'y')
		return 1;
	waitpid(pid, NULL, 0);
	return -EIO;
}

/* The mount is up: tell the parent, let go of the terminal. */
static int detach(struct daemon *d)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), rc;

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	rc = log_to_syslog(d);
	if (write(d->ready_pipe, "y", 1) != 1 && rc == 0)
		rc = -EIO;
	close(d->ready_pipe);
	d->ready_pipe = -1;
	if (chdir("/") < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* ----- hooks ----- */

static void wake_uploader(void *arg, int64_t due_ns)
{
	struct daemon *d = arg;

	fc_upload_wake_at(d->up, due_ns);
}

static void wake_pusher(void *arg)
{
	struct daemon *d = arg;

	fc_push_wake(d->push, false);
}

static void pushed(void *arg, int64_t due_ns)
{
	struct daemon *d = arg;

	/* creates reached the server: their first commits may go when due */
	if (due_ns != INT64_MAX)
		fc_upload_wake_at(d->up, due_ns);
	/* and a resync the pusher asked for starts without waiting */
	fc_pull_wake(d->pull);
}

static void need_push(void *arg)
{
	wake_pusher(arg);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wake_sync(void *arg)
{
	struct daemon *d = arg;

	fc_state_make_due(d->state, now_ns());
	fc_push_wake(d->push, true);
	fc_upload_wake(d->up);
	fc_pull_wake_now(d->pull);
}

static void status(void *arg, struct fc_fs_status *io)
{
	struct daemon *d = arg;
	struct fc_upload_progress p;

	io->connected = fc_remote_is_connected(d->remote);
	fc_upload_progress(d->up, &p);
	io->uploading = p.active;
	memcpy(io->upload_id, p.id, sizeof(io->upload_id));
	io->upload_done = p.done;
	io->upload_total = p.total;
	fc_pull_tickets(d->pull, &io->pull_started, &io->pull_done);
	io->live = fc_notify_live(d->notify);
	io->pull_error = d->pull ? -fc_pull_error(d->pull) : 0;
	fc_push_status(d->push, io->message, sizeof(io->message));
	if (!io->message[0])
		snprintf(io->message, sizeof(io->message), "%s", p.message);
}

/* fc_fs_deps has one arg for all hooks: these hand the fetcher on. */
static int fetch_block(void *arg, const struct blk_id *id, uint32_t size,
		       uint8_t *out)
{
	struct daemon *d = arg;

	return fc_fetch_block(d->fetch, id, size, out);
}

static int fetch_manifest(void *arg, const uint8_t id[FC_ID_SIZE],
			  struct blk_manifest *out, uint64_t *out_version)
{
	struct daemon *d = arg;

	return fc_fetch_manifest(d->fetch, id, out, out_version);
}

static void changed(void *arg, int64_t ino, int64_t parent, const char *name,
		    size_t name_len)
{
	struct daemon *d = arg;

	if (d->fs)
		fc_fs_changed(d->fs, ino, parent, name, name_len);
}

static void inval(void *arg, int64_t ino)
{
	struct daemon *d = arg;

	if (d->fs)
		fc_fs_inval_inode(d->fs, ino);
}

static int started(void *arg, struct fc_fs *fs)
{
	struct daemon *d = arg;
	int rc;

	d->fs = fs;
	/* catch up before serving (requests wait), when the server answers */
	rc = fc_pull_once(d->pull);
	if (rc < 0 && rc != -EAGAIN)
		cf_warn("cannot reach %s (%s): serving the local copy, will "
			"sync when it answers",
			d->acct.server, strerror(-rc));
	rc = fc_upload_start(d->up);
	if (rc == 0)
		rc = fc_push_start(d->push);
	if (rc == 0)
		rc = fc_pull_start(d->pull);
	if (rc < 0) {
		cf_err("cannot start the worker threads: %s", strerror(-rc));
		return rc;
	}
	if (d->notify && fc_notify_start(d->notify) < 0) {
		cf_warn("no live updates: pulling every %u s", FC_PULL_INTERVAL_S);
		fc_notify_free(d->notify);
		d->notify = NULL;
	}
	cf_info("mounted %s for %s on %s", d->acct.user, d->acct.server,
		d->o->fs->mountpoint);
	if (d->ready_pipe >= 0)
		rc = detach(d);
	return rc;
}

/* ----- run ----- */

/* dir (borrowed) into out, made absolute: a daemon leaves its cwd. */
static int absolute(const char *dir, struct cf_buf *out)
{
	char cwd[CF_PATH_MAX + 1];

	if (dir[0] == '/')
		return cf_buf_appends(out, dir);
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return cf_path_join(out, cwd, dir);
}

static int resolve_dirs(struct daemon *d)
{
	int rc;

	if (d->o->state_dir)
		rc = absolute(d->o->state_dir, &d->state_dir);
	else
		rc = fc_account_default_state_dir(&d->state_dir);
	if (rc == 0 && d->o->cache_dir)
		rc = absolute(d->o->cache_dir, &d->cache_dir);
	else if (rc == 0)
		rc = fc_account_default_cache_dir(&d->cache_dir);
	if (rc == 0)
		rc = cf_path_join(&d->db_path, d->state_dir.data,
				  FC_STATE_DB_FILE);
	if (rc < 0)
		cf_err("cannot work out the state and cache directories: %s "
		       "(use --state-dir and --cache-dir)",
		       strerror(-rc));
	return rc;
}

/*
 * One daemon per state directory: two would share the upload queue and
 * the outbox and push every op twice. The lock file names the holder.
 */
static int lock_state_dir(struct daemon *d)
{
	struct cf_buf path;
	char pid[32] = "";
	ssize_t n;
	int fd, rc;

	cf_buf_init(&path, CF_PATH_MAX);
	rc = cf_path_join(&path, d->state_dir.data, FC_DAEMON_LOCK_FILE);
	if (rc < 0)
		goto out;
	fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		cf_err("cannot open %s: %s", path.data, strerror(-rc));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (rc == -EBUSY)
			cf_err("the state directory %s is in use by another "
			       "cloudfs mount (pid %s); unmount it first",
			       d->state_dir.data, *pid ? pid : "unknown");
		else
			cf_err("cannot lock %s: %s", path.data, strerror(-rc));
		close(fd);
		goto out;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		cf_warn("cannot write %s: %s", path.data, strerror(errno));
	d->lock_fd = fd;
out:
	cf_buf_release(&path);
	return rc;
}

static int load_account(struct daemon *d)
{
	uint8_t vk[BLK_KEY_SIZE];
	int rc;

	rc = fc_account_load(d->state_dir.data, &d->acct);
	if (rc == -ENOENT) {
		cf_err("not logged in (no %s/%s): run cloudfs login first",
		       d->state_dir.data, FC_ACCOUNT_FILE);
		return rc;
	}
	if (rc < 0) {
		cf_err("cannot read the account in %s: %s", d->state_dir.data,
		       strerror(-rc));
		return rc;
	}
	rc = fc_account_key_load(d->state_dir.data, vk);
	if (rc == 0)
		rc = blk_volume_keys_derive(vk, &d->keys);
	blk_keys_wipe(vk, sizeof(vk));
	if (rc < 0) {
		cf_err("cannot load the volume key from %s: %s (run cloudfs "
		       "login again)",
		       d->state_dir.data, strerror(-rc));
		return rc;
	}
	rc = fc_account_remote(d->state_dir.data, &d->acct, &d->remote);
	if (rc < 0)
		cf_err("cannot set up the server connection: %s",
		       strerror(-rc));
	return rc;
}

static int count_one(void *arg, const struct fc_node *n)
{
	uint64_t *count = arg;

	(void)n;
	(*count)++;
	return 1;
}

static int forget_one(void *arg, const struct fc_node *n)
{
	struct daemon *d = arg;
	int rc = fc_state_evict_node(d->state, n->ino);

	return rc == -EBUSY || rc == -ENOENT ? 0 : rc;
}

/*
 * The cache directory is gone (wiped by the user, or a state directory
 * moved to another machine) while the database may still say chunks are
 * present: forget that, so reads fetch again instead of reading holes.
 * Dirty content was in the lost files and cannot be helped; say so.
 */
static int forget_presence(struct daemon *d)
{
	uint64_t files = 0, bytes = 0;
	int rc, rounds;

	if (access(d->cache_dir.data, F_OK) == 0 || errno != ENOENT)
		return 0;
	/* evictable lists nodes with present rows: stop once none is left */
	for (rounds = 0; rounds < 100000; rounds++) {
		uint64_t left = 0;

		rc = fc_state_evictable(d->state, 1024, forget_one, d);
		if (rc == 0)
			rc = fc_state_evictable(d->state, 1, count_one, &left);
		if (rc < 0)
			return rc;
		if (!left)
			break;
	}
	fc_state_queue_stats(d->state, &files, &bytes);
	if (files)
		cf_warn("the cache directory %s was removed: %llu files not "
			"uploaded yet were in it",
			d->cache_dir.data, (unsigned long long)files);
	return 0;
}

/* A change on the server: pull, unless the feed is there already. */
static void notified(void *arg, uint64_t cursor)
{
	struct daemon *d = arg;
	uint64_t have = 0;

	if (cursor && fc_state_cursor_get(d->state, &have) == 0 &&
	    have >= cursor)
		return; /* our own change, pulled already */
	fc_pull_wake(d->pull);
}

/*
 * Live updates are a speed-up: without them the puller still pulls every
 * FC_PULL_INTERVAL_S, so failing here is a warning, not an error.
 */
static void make_notify(struct daemon *d)
{
	struct fc_notify_opts no = { 0 };
	char token[FC_TOKEN_HEX_SIZE];
	int rc;

	rc = fc_account_token_load(d->state_dir.data, token);
	if (rc == 0) {
		no.base_url = d->acct.server;
		no.token_hex = token;
		no.changed = notified;
		no.arg = d;
		rc = fc_notify_new(&no, &d->notify);
	}
	OPENSSL_cleanse(token, sizeof(token));
	if (rc < 0)
		cf_warn("no live updates (%s): pulling every %u s",
			strerror(-rc), FC_PULL_INTERVAL_S);
}

static int make_workers(struct daemon *d)
{
	struct fc_fetch_opts fo = { 0 };
	struct fc_cache_opts co = { 0 };
	struct fc_upload_deps ud = { 0 };
	struct fc_push_deps pd = { 0 };
	struct fc_pull_deps ld = { 0 };
	const char *what;
	int rc;

	what = "state database";
	rc = fc_state_open(d->db_path.data, (uint32_t)getuid(),
			   (uint32_t)getgid(), &d->state);
	if (rc < 0)
		goto out;
	fc_state_set_device(d->state, d->acct.device);
	rc = forget_presence(d);
	if (rc < 0)
		goto out;
	what = "fetcher";
	fo.remote = d->remote;
	fo.keys = &d->keys;
	fo.max_chunk = d->acct.chunk.max_size;
	rc = fc_fetch_new(&fo, &d->fetch);
	if (rc < 0)
		goto out;
	what = "cache";
	co.dir = d->cache_dir.data;
	co.limit = d->o->fs->cache_size;
	co.fetch = fc_fetch_block;
	co.fetch_arg = d->fetch;
	rc = fc_cache_open(&co, d->state, &d->cache);
	if (rc < 0)
		goto out;
	what = "uploader";
	ud.state = d->state;
	ud.cache = d->cache;
	ud.remote = d->remote;
	ud.keys = &d->keys;
	ud.chunk = d->acct.chunk;
	ud.codec = d->acct.codec;
	ud.fetch = fc_fetch_block;
	ud.manifest = fc_fetch_manifest;
	ud.fetch_arg = d->fetch;
	ud.device = d->acct.device;
	ud.threads = d->o->upload_threads;
	ud.inval = inval;
	ud.wake_pusher = wake_pusher;
	ud.hook_arg = d;
	rc = fc_upload_new(&ud, &d->up);
	if (rc < 0)
		goto out;
	what = "pusher";
	pd.state = d->state;
	pd.remote = d->remote;
	pd.pushed = pushed;
	pd.changed = changed;
	pd.arg = d;
	pd.device = d->acct.device;
	rc = fc_push_new(&pd, &d->push);
	if (rc < 0)
		goto out;
	what = "puller";
	ld.state = d->state;
	ld.remote = d->remote;
	ld.changed = changed;
	ld.changed_arg = d;
	ld.need_push = need_push;
	ld.arg = d;
	rc = fc_pull_new(&ld, &d->pull);
	if (rc == 0)
		make_notify(d);
out:
	if (rc < 0)
		cf_err("cannot open the %s: %s", what, strerror(-rc));
	return rc;
}

/*
 * Every worker thread ends before any worker is freed: the pusher wakes
 * the puller and the uploader, the uploader wakes the pusher, so freeing
 * one while another still runs let a wake-up land on freed memory.
 */
static void stop_workers(struct daemon *d)
{
	fc_notify_free(d->notify); /* it wakes the puller: first */
	d->notify = NULL;
	/* transfers in flight end now; their uploads go back to the queue */
	if (d->remote)
		fc_remote_cancel(d->remote, true);
	fc_pull_stop(d->pull);
	fc_push_stop(d->push);
	fc_upload_stop(d->up);
	fc_pull_free(d->pull);
	d->pull = NULL;
	fc_push_free(d->push);
	d->push = NULL;
	fc_upload_free(d->up);
	d->up = NULL;
}

/*
 * Each file a program holds open through the mount holds a cache file
 * open here, and a local disk would let the program open as many as its
 * own limit allows. Take the hard limit (systemd's default soft limit
 * is 1,024 of a hard 524,288, meant to be raised by who needs more).
 */
#define FD_LIMIT_MAX (1ul << 20)
static void raise_fd_limit(void)
{
	unsigned long now = 0;

	/* raising the soft limit up to the hard one cannot fail */
	if (cf_file_raise_open_limit(FD_LIMIT_MAX, &now) > 0)
		cf_info("open files limit raised to %lu", now);
}

int fc_daemon_run(const struct fc_daemon_opts *o)
{
	struct fc_fs_deps deps = { 0 };
	struct daemon d;
	int rc;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.log_pipe = -1;
	d.lock_fd = -1;
	cf_buf_init(&d.state_dir, CF_PATH_MAX);
	cf_buf_init(&d.cache_dir, CF_PATH_MAX);
	cf_buf_init(&d.db_path, CF_PATH_MAX);
	d.ready_pipe = -1;
	rc = resolve_dirs(&d);
	if (rc == 0 && !o->fs->foreground) {
		/* before any thread exists; the child mounts in foreground */
		rc = fork_daemon(&d);
		if (rc == 1) {
			rc = 0;
			goto out; /* nothing was made here */
		}
		o->fs->foreground = true;
	}
	if (rc == 0) {
		raise_fd_limit();
		rc = load_account(&d);
	}
	if (rc == 0)
		rc = lock_state_dir(&d);
	if (rc == 0)
		rc = make_workers(&d);
	if (rc < 0)
		goto out;
	deps.state = d.state;
	deps.cache = d.cache;
	deps.fetch = fetch_block;
	deps.manifest = fetch_manifest;
	deps.arg = &d;
	deps.wake_uploader = wake_uploader;
	deps.wake_pusher = wake_pusher;
	deps.wake_sync = wake_sync;
	deps.status = status;
	deps.started = started;
	rc = fc_fs_new(o->fs, &deps, &d.fs);
	if (rc < 0) {
		cf_err("cannot set up the mount: %s", strerror(-rc));
		goto out;
	}
	rc = fc_fs_run(d.fs);
	if (rc < 0)
		cf_err("mount of %s failed: %s", o->fs->mountpoint,
		       strerror(-rc));
out:
	stop_workers(&d);
	fc_fs_free(d.fs);
	d.fs = NULL;
	fc_cache_close(d.cache);
	fc_fetch_free(d.fetch);
	fc_state_close(d.state);
	fc_remote_free(d.remote);
	fc_account_release(&d.acct);
	blk_keys_wipe(&d.keys, sizeof(d.keys));
	cf_buf_release(&d.state_dir);
	cf_buf_release(&d.cache_dir);
	cf_buf_release(&d.db_path);
	if (d.lock_fd >= 0)
		close(d.lock_fd); /* after the state is closed: releases it */
	if (d.ready_pipe >= 0)
		close(d.ready_pipe); /* the parent reads EOF: failure */
	if (d.log_started) {
		/* the read end sees EOF once stderr is closed */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			close(null);
		}
		pthread_join(d.log_thread, NULL);
		close(d.log_pipe);
		closelog();
	}
	return rc;
}
