/* SPDX-License-Identifier: MIT */
/*
 * The local-directory block store: DATA/blocks/<user_id>/<id[0:2]>/<id>,
 * one file per block, written with cf_file_write_durable (temp file, fsync,
 * rename without replacing, directory fsync), around the page cache where
 * the file system allows: an upload is rarely read back soon, and the copy
 * into the cache costs more than the disk. A put that finds the name
 * taken re-hashes the existing file: a good copy makes the put a success
 * (git's finalize_object_file), a corrupt one is replaced atomically.
 *
 * Directories are created on demand, one at a time under ->mkdir_lock,
 * and a new account's directory comes with all 256 prefix directories
 * (one parent fsync instead of one per prefix on its first puts). open
 * runs syncfs first, so whatever existed then is durable; after that,
 * only this process creates directories, so under ->mkdir_lock an EEXIST
 * names a directory that is durable already, and a mkdir that succeeds is
 * followed by an fsync of its parent before anyone learns of it. ->known
 * remembers which directories are settled.
 *
 * Garbage collection removes through remove_unless, which parks the file
 * in DATA/blocks/.aside/<user>-<id> while it asks the index a last time,
 * so a re-upload racing it (even from another process) is never lost;
 * open puts back anything a crash left parked.
 *
 * Lock order: ->mkdir_lock, then ->lock; ->lock is held only around
 * ->known, never over I/O.
 */
#include "srv_blocks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define CF_LOG_SUBSYS "blocks"
#include "cf_file.h"
#include "cf_log.h"

/* Room for "<int64>/<xx>/<64 hex>" and a NUL. */
#define REL_PATH_SIZE 128

/* Which directories of one account are known durable in this process. */
struct known_dirs {
	int64_t user_id; /* -1 = free slot */
	bool user_dir; /* <user>/ is durable */
	uint64_t prefix[4]; /* bit b: <user>/<b as hex>/ likewise */
};

struct local_store {
	struct srv_blocks base; /* first: the vtable */
	int rootfd; /* owned: DATA/blocks */
	int asidefd; /* owned: DATA/blocks/.aside */
	char *root; /* owned: its path, for logs */
	pthread_mutex_t mkdir_lock; /* serialises creating directories */
	pthread_mutex_t lock;
	struct known_dirs *known; /* owned; protected by ->lock */
	size_t known_cap; /* power of two; protected by ->lock */
	size_t known_count; /* protected by ->lock */
};

static struct local_store *to_local(struct srv_blocks *bs)
{
	return (struct local_store *)bs;
}

static int user_path(int64_t user_id, char *out, size_t out_size)
{
	int n = snprintf(out, out_size, "%" PRId64, user_id);

	if (n < 0 || (size_t)n >= out_size)
		return -ENAMETOOLONG;
	return 0;
}

static int prefix_path(int64_t user_id, const struct blk_id *id, char *out,
		       size_t out_size)
{
	int n = snprintf(out, out_size, "%" PRId64 "/%02x", user_id,
			 id->bytes[0]);

	if (n < 0 || (size_t)n >= out_size)
		return -ENAMETOOLONG;
	return 0;
}

static int block_path(int64_t user_id, const struct blk_id *id, char *out,
		      size_t out_size)
{
	char hex[BLK_ID_HEX_SIZE];
	int n;

	blk_id_to_hex(id, hex);
	n = snprintf(out, out_size, "%" PRId64 "/%.2s/%s", user_id, hex, hex);
	if (n < 0 || (size_t)n >= out_size)
		return -ENAMETOOLONG;
	return 0;
}

/* ----- the known-durable directory set ----- */

static size_t known_slot(const struct known_dirs *tab, size_t cap,
			 int64_t user_id)
{
	uint64_t h = (uint64_t)user_id * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 32) & (cap - 1);

	while (tab[i].user_id != -1 && tab[i].user_id != user_id)
		i = (i + 1) & (cap - 1);
	return i;
}

/* Find or add user_id's row; NULL on -ENOMEM. Caller holds ->lock. */
static struct known_dirs *known_get(struct local_store *st, int64_t user_id)
{
	struct known_dirs *tab;
	size_t i, cap;

	if (st->known_cap) {
		i = known_slot(st->known, st->known_cap, user_id);
		if (st->known[i].user_id == user_id)
			return &st->known[i];
	}
	if ((st->known_count + 1) * 2 > st->known_cap) {
		cap = st->known_cap ? st->known_cap * 2 : 64;
		tab = malloc(cap * sizeof(*tab));
		if (!tab)
			return NULL;
		for (i = 0; i < cap; i++)
			tab[i] = (struct known_dirs){ .user_id = -1 };
		for (i = 0; i < st->known_cap; i++) {
			int64_t uid = st->known[i].user_id;

			if (uid != -1)
				tab[known_slot(tab, cap, uid)] = st->known[i];
		}
		free(st->known);
		st->known = tab;
		st->known_cap = cap;
	}
	i = known_slot(st->known, st->known_cap, user_id);
	st->known[i] = (struct known_dirs){ .user_id = user_id };
	st->known_count++;
	return &st->known[i];
}

/* 0 nothing known, 1 user dir known, 2 user and prefix dirs known. */
static int known_level(struct local_store *st, int64_t user_id, uint8_t b)
{
	struct known_dirs *k;
	size_t i;
	int level = 0;

	pthread_mutex_lock(&st->lock);
	if (st->known_cap) {
		i = known_slot(st->known, st->known_cap, user_id);
		k = &st->known[i];
		if (k->user_id == user_id && k->user_dir)
			level = (k->prefix[b >> 6] >> (b & 63)) & 1 ? 2 : 1;
	}
	pthread_mutex_unlock(&st->lock);
	return level;
}

/* level 1: the user dir; 2: also prefix b; 3: also every prefix. */
static int known_mark(struct local_store *st, int64_t user_id, int level,
		      uint8_t b)
{
	struct known_dirs *k;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	k = known_get(st, user_id);
	if (!k) {
		rc = -ENOMEM;
		goto out;
	}
	k->user_dir = true;
	if (level == 2)
		k->prefix[b >> 6] |= 1ull << (b & 63);
	if (level == 3)
		memset(k->prefix, 0xff, sizeof(k->prefix));
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* mkdir dirfd/name: 1 made, 0 it existed, -errno. */
static int mkdir_new(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

/* mkdir dirfd/name (0 when it exists) and fsync dirfd. */
static int mkdir_durable(int dirfd, const char *name)
{
	int rc = mkdir_new(dirfd, name);

	return rc < 0 ? rc : cf_fsync_dir(dirfd);
}

/*
 * Like mkdir_new, but a made directory is durable before this returns, or
 * is gone again: existing must keep meaning durable (see the top).
 */
static int mkdir_synced(int dirfd, const char *name)
{
	int rc = mkdir_new(dirfd, name), err;

	if (rc == 1) {
		err = cf_fsync_dir(dirfd);
		if (err < 0) {
			unlinkat(dirfd, name, AT_REMOVEDIR);
			rc = err;
		}
	}
	return rc;
}

/* The prefixes of a new account's directory; one fsync for them all. */
static int make_prefixes(int userfd)
{
	char name[3];
	int b, made, rc = 0;

	for (made = 0; made < 256; made++) {
		snprintf(name, sizeof(name), "%02x", (unsigned)(uint8_t)made);
		rc = mkdir_new(userfd, name);
		if (rc < 0)
			break;
	}
	if (rc >= 0) {
		rc = cf_fsync_dir(userfd);
		if (rc == 0)
			return 0;
	}
	for (b = 0; b < made; b++) {
		snprintf(name, sizeof(name), "%02x", (unsigned)(uint8_t)b);
		unlinkat(userfd, name, AT_REMOVEDIR);
	}
	return rc;
}

/* mkdir <user>/ with every prefix in it: 1 made, 0 it existed, -errno. */
static int make_user_dir(struct local_store *st, const char *path)
{
	int userfd, rc;

	rc = mkdir_synced(st->rootfd, path);
	if (rc <= 0)
		return rc;
	userfd = openat(st->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (userfd < 0)
		return -errno;
	rc = make_prefixes(userfd);
	close(userfd);
	return rc < 0 ? rc : 1;
}

/* Make <user>/<prefix>/ exist durably; see the top of the file. */
static int ensure_dirs(struct local_store *st, int64_t user_id,
		       const struct blk_id *id)
{
	char path[REL_PATH_SIZE], name[3];
	uint8_t b = id->bytes[0];
	int level, userfd = -1, rc;

	if (known_level(st, user_id, b) == 2)
		return 0;
	pthread_mutex_lock(&st->mkdir_lock);
	level = known_level(st, user_id, b);
	if (level == 2) {
		rc = 0;
		goto out;
	}
	rc = user_path(user_id, path, sizeof(path));
	if (rc == 0 && level == 0) {
		rc = make_user_dir(st, path);
		if (rc == 1) {
			rc = known_mark(st, user_id, 3, b);
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	userfd = openat(st->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (userfd < 0) {
		rc = -errno;
		goto out;
	}
	snprintf(name, sizeof(name), "%02x", b);
	rc = mkdir_synced(userfd, name);
	if (rc >= 0)
		rc = known_mark(st, user_id, 2, b);
out:
	pthread_mutex_unlock(&st->mkdir_lock);
	if (userfd >= 0)
		close(userfd);
	if (rc < 0)
		cf_err("cannot create block directory for user %" PRId64
		       " prefix %02x: %s",
		       user_id, b, strerror(-rc));
	return rc < 0 ? rc : 0;
}

/* SHA-256 of dirfd/name, streamed, and its stat: 0, -ENOENT, -EIO, -errno. */
static int hash_file(int dirfd, const char *name, struct blk_id *out,
		     struct stat *out_sb)
{
	uint8_t chunk[65536];
	EVP_MD_CTX *md = NULL;
	unsigned int n = 0;
	ssize_t got;
	int fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, out_sb) < 0) {
		rc = -errno;
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md) {
		rc = -ENOMEM;
		goto out;
	}
	if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		rc = -EIO;
		goto out;
	}
	for (;;) {
		got = cf_read_full(fd, chunk, sizeof(chunk));
		if (got < 0) {
			rc = (int)got;
			goto out;
		}
		if (got == 0)
			break;
		if (!EVP_DigestUpdate(md, chunk, (size_t)got)) {
			rc = -EIO;
			goto out;
		}
		if ((size_t)got < sizeof(chunk))
			break;
	}
	if (!EVP_DigestFinal_ex(md, out->bytes, &n) || n != BLK_ID_SIZE)
		rc = -EIO;
out:
	EVP_MD_CTX_free(md);
	close(fd);
	return rc;
}

/* Seconds within which an existing copy may still await its directory fsync. */
#define YOUNG_COPY_S 5

/*
 * Whether the stored copy of id is intact: 0 yes, -ENOENT none, -EBADMSG
 * corrupt, -errno. A copy made in the last seconds may be a racing PUT's
 * whose rename is not yet durable: its directory is fsync'd before it
 * counts, so an answer never rests on a rename a crash could undo.
 */
static int intact_copy(int dirfd, const char *hex, const struct blk_id *id)
{
	struct blk_id have;
	struct stat sb;
	int rc;

	rc = hash_file(dirfd, hex, &have, &sb);
	if (rc < 0)
		return rc;
	if (!blk_id_equal(&have, id))
		return -EBADMSG;
	if (time(NULL) - sb.st_ctime < YOUNG_COPY_S)
		return cf_fsync_dir(dirfd);
	return 0;
}

/* put's gate, asked once whichever way the put goes, then remembered. */
struct put_gate {
	const struct cf_durable_gate *outer; /* the caller's; may be NULL */
	bool asked;
	int rc;
};

static int put_gate_ask(void *arg)
{
	struct put_gate *g = arg;

	if (!g->asked && g->outer) {
		g->rc = g->outer->fn(g->outer->arg);
		g->asked = true;
	}
	return g->rc;
}

static int local_put(struct srv_blocks *bs, int64_t user_id,
		     const struct blk_id *id, const void *data, size_t size,
		     const struct cf_durable_gate *outer)
{
	struct local_store *st = to_local(bs);
	char path[REL_PATH_SIZE], hex[BLK_ID_HEX_SIZE];
	struct put_gate g = { .outer = outer };
	struct cf_durable_gate gate = { .fn = put_gate_ask, .arg = &g };
	int dirfd = -1, rc;

	if (user_id < 0)
		return -EINVAL;
	blk_id_to_hex(id, hex);
	rc = ensure_dirs(st, user_id, id);
	if (rc < 0)
		return rc;
	rc = prefix_path(user_id, id, path, sizeof(path));
	if (rc < 0)
		return rc;
	dirfd = openat(st->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = -errno;
		goto out;
	}
	/*
	 * Stored before (a re-upload, or a small batch the client sent
	 * without asking): reading the copy back costs less than writing it
	 * again, and it counts only if intact.
	 */
	rc = intact_copy(dirfd, hex, id);
	if (rc == -ENOENT) {
		rc = cf_file_write_durable_gated(
			dirfd, hex, data, size, 0600,
			CF_DURABLE_NOREPLACE | CF_DURABLE_DIRECT, &gate);
		if (rc != -EEXIST)
			goto out;
		rc = intact_copy(dirfd, hex, id); /* a racing PUT's */
	}
	if (rc != -EBADMSG && rc != -ENOENT)
		goto out;
	if (rc == -EBADMSG)
		cf_warn("replacing corrupt copy of block %.12s of user %" PRId64,
			hex, user_id);
	rc = cf_file_write_durable_gated(dirfd, hex, data, size, 0600,
					 CF_DURABLE_DIRECT, &gate);
out:
	if (dirfd >= 0)
		close(dirfd);
	/* stored already, or written: the gate still has its say */
	if (rc == 0)
		rc = put_gate_ask(&g);
	else if (!g.asked || rc != g.rc)
		cf_err("cannot store block %.12s of user %" PRId64 " in %s: %s",
		       hex, user_id, st->root, strerror(-rc));
	return rc;
}

static int local_get(struct srv_blocks *bs, int64_t user_id,
		     const struct blk_id *id, struct cf_buf *out)
{
	struct local_store *st = to_local(bs);
	char path[REL_PATH_SIZE];
	struct stat sb;
	ssize_t got;
	size_t size;
	int fd = -1, rc;

	if (user_id < 0)
		return -ENOENT;
	rc = block_path(user_id, id, path, sizeof(path));
	if (rc < 0)
		return rc;
	fd = openat(st->rootfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto out;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > SIZE_MAX) {
		rc = -EMSGSIZE;
		goto out;
	}
	size = (size_t)sb.st_size;
	rc = cf_buf_grow(out, size);
	if (rc < 0)
		goto out;
	got = cf_read_full(fd, out->data + out->len, size);
	if (got < 0) {
		rc = (int)got;
		goto out;
	}
	if ((size_t)got != size) { /* shrank under us: not a stored block */
		rc = -EIO;
		goto out;
	}
	out->len += size;
	out->data[out->len] = '\0';
out:
	close(fd);
	return rc;
}

static int local_stat(struct srv_blocks *bs, int64_t user_id,
		      const struct blk_id *id, uint64_t *out_size)
{
	struct local_store *st = to_local(bs);
	char path[REL_PATH_SIZE];
	struct stat sb;
	int rc;

	if (user_id < 0)
		return -ENOENT;
	rc = block_path(user_id, id, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (fstatat(st->rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return -ENOENT;
	*out_size = (uint64_t)sb.st_size;
	return 0;
}

static int local_remove(struct srv_blocks *bs, int64_t user_id,
			const struct blk_id *id)
{
	struct local_store *st = to_local(bs);
	char path[REL_PATH_SIZE], hex[BLK_ID_HEX_SIZE];
	int dirfd, rc;

	if (user_id < 0)
		return -ENOENT;
	rc = prefix_path(user_id, id, path, sizeof(path));
	if (rc < 0)
		return rc;
	dirfd = openat(st->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	blk_id_to_hex(id, hex);
	if (unlinkat(dirfd, hex, 0) < 0)
		rc = -errno;
	else
		rc = cf_fsync_dir(dirfd);
	close(dirfd);
	return rc;
}


/* Where remove_unless parks a block while it asks: "<user>-<id>". */
static int parse_user_dir(const char *name, int64_t *out);
static int aside_name(int64_t user_id, const struct blk_id *id, char *out,
		      size_t out_size)
{
	char hex[BLK_ID_HEX_SIZE];
	int n;

	blk_id_to_hex(id, hex);
	n = snprintf(out, out_size, "%" PRId64 "-%s", user_id, hex);
	if (n < 0 || (size_t)n >= out_size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * Move the parked block back under its name in dirfd, unless a newer copy
 * took the name meanwhile (then the parked one goes). 0 or -errno.
 */
static int aside_restore(struct local_store *st, const char *aside, int dirfd,
			 const char *name)
{
	if (renameat2(st->asidefd, aside, dirfd, name, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST) {
			unlinkat(st->asidefd, aside, 0);
			return 0;
		}
		if (errno != ENOENT) /* ENOENT: someone restored it already */
			return -errno;
	}
	return cf_fsync_dir(dirfd);
}

static int local_remove_unless(struct srv_blocks *bs, int64_t user_id,
			       const struct blk_id *id, srv_blocks_keep_fn keep,
			       void *arg)
{
	struct local_store *st = to_local(bs);
	char path[REL_PATH_SIZE], hex[BLK_ID_HEX_SIZE], aside[REL_PATH_SIZE];
	int dirfd, rc;

	if (user_id < 0)
		return -ENOENT;
	rc = prefix_path(user_id, id, path, sizeof(path));
	if (rc == 0)
		rc = aside_name(user_id, id, aside, sizeof(aside));
	if (rc < 0)
		return rc;
	dirfd = openat(st->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	blk_id_to_hex(id, hex);
	if (renameat(dirfd, hex, st->asidefd, aside) < 0) {
		rc = -errno;
		goto out;
	}
	rc = cf_fsync_dir(dirfd);
	if (rc == 0 && !keep(arg)) {
		if (unlinkat(st->asidefd, aside, 0) < 0 && errno != ENOENT)
			rc = -errno;
		goto out;
	}
	/* Kept (an upload re-indexed it), or the removal failed: undo. */
	if (aside_restore(st, aside, dirfd, hex) < 0) {
		cf_err("cannot put block %.12s of user %" PRId64
		       " back from %s/.aside: it is restored at next start",
		       hex, user_id, st->root);
		rc = -EIO;
	}
	if (rc == 0)
		rc = 1;
out:
	close(dirfd);
	return rc;
}

/* Put back whatever a crashed remove_unless left parked. */
static int aside_recover(struct local_store *st)
{
	char path[REL_PATH_SIZE], *dash;
	struct blk_id id;
	struct dirent *de;
	int64_t user_id;
	DIR *d;
	int fd, dirfd, rc = 0;

	fd = openat(st->asidefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		dash = strchr(de->d_name, '-');
		if (!dash || strlen(dash + 1) != 2 * BLK_ID_SIZE ||
		    blk_id_from_hex(dash + 1, 2 * BLK_ID_SIZE, &id) < 0)
			continue;
		*dash = '\0';
		if (parse_user_dir(de->d_name, &user_id) < 0)
			continue;
		*dash = '-';
		rc = ensure_dirs(st, user_id, &id);
		if (rc == 0)
			rc = prefix_path(user_id, &id, path, sizeof(path));
		if (rc < 0)
			break;
		dirfd = openat(st->rootfd, path,
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			rc = -errno;
			break;
		}
		rc = aside_restore(st, de->d_name, dirfd, dash + 1);
		close(dirfd);
		if (rc < 0)
			break;
		cf_info("restored block %.12s of user %" PRId64
			" left aside by an interrupted gc",
			dash + 1, user_id);
	}
	if (rc == 0 && errno != 0)
		rc = -errno;
	closedir(d);
	return rc;
}

static bool is_lower_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* Call fn for every block file in one <user>/<xx>/ directory. */
/* What a walk over the store does: list blocks, or sweep temp files. */
struct walk {
	srv_blocks_list_fn fn; /* listing when set */
	void *arg;
	int64_t older_than; /* sweeping: temp files made before this go */
	uint64_t swept;
};

static bool is_temp_name(const char *name)
{
	return strncmp(name, ".tmp-", 5) == 0;
}

/* One entry of a prefix directory; fd is the directory. */
static int walk_entry(struct walk *w, int fd, const char *name,
		      const char *prefix, int64_t user_id)
{
	size_t len = strlen(name);
	struct blk_id id;
	struct stat sb;

	if (w->fn && (len != 2 * BLK_ID_SIZE || !is_lower_hex(name, len) ||
		      memcmp(name, prefix, 2) != 0 ||
		      blk_id_from_hex(name, len, &id) < 0))
		return 0; /* temp files and strays */
	if (!w->fn && !is_temp_name(name))
		return 0;
	if (fstatat(fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno; /* removed meanwhile */
	if (!S_ISREG(sb.st_mode))
		return 0;
	if (w->fn)
		return w->fn(w->arg, user_id, &id, (uint64_t)sb.st_size,
			     (int64_t)sb.st_mtim.tv_sec);
	if ((int64_t)sb.st_mtim.tv_sec >= w->older_than)
		return 0; /* maybe an upload in flight */
	if (unlinkat(fd, name, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	w->swept++;
	return 0;
}

static int walk_prefix(struct walk *w, int userfd, const char *prefix,
		       int64_t user_id)
{
	struct dirent *de;
	DIR *d = NULL;
	int fd, rc = 0;

	fd = openat(userfd, prefix, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL)
		rc = walk_entry(w, fd, de->d_name, prefix, user_id);
	if (rc == 0 && errno != 0)
		rc = -errno;
	if (rc == 0 && !w->fn && w->swept)
		rc = cf_fsync_dir(fd);
	closedir(d);
	return rc;
}

static int walk_user(struct local_store *st, struct walk *w, int64_t user_id)
{
	char path[REL_PATH_SIZE], prefix[3];
	int userfd, rc = 0;
	unsigned b;

	rc = user_path(user_id, path, sizeof(path));
	if (rc < 0)
		return rc;
	userfd = openat(st->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (userfd < 0)
		return errno == ENOENT ? 0 : -errno;
	for (b = 0; b < 256 && rc == 0; b++) {
		if (snprintf(prefix, sizeof(prefix), "%02x", b) != 2) {
			rc = -EIO;
			break;
		}
		rc = walk_prefix(w, userfd, prefix, user_id);
	}
	close(userfd);
	return rc;
}

/* A directory name that is a user id: decimal digits, no sign or zeros. */
static int parse_user_dir(const char *name, int64_t *out)
{
	unsigned long long v;
	char *end = NULL;

	if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1]))
		return -EINVAL;
	errno = 0;
	v = strtoull(name, &end, 10);
	if (errno == ERANGE || *end != '\0' || v > INT64_MAX)
		return -EINVAL;
	*out = (int64_t)v;
	return 0;
}

/* Every account's directory (user_id < 0) or one. */
static int walk(struct local_store *st, struct walk *w, int64_t user_id)
{
	struct dirent *de;
	int64_t uid;
	DIR *d;
	int fd, rc = 0;

	if (user_id >= 0)
		return walk_user(st, w, user_id);
	fd = openat(st->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (parse_user_dir(de->d_name, &uid) < 0)
			continue;
		rc = walk_user(st, w, uid);
		if (rc != 0)
			goto out;
	}
	if (errno != 0)
		rc = -errno;
out:
	closedir(d);
	return rc;
}

static int local_list(struct srv_blocks *bs, int64_t user_id,
		      srv_blocks_list_fn fn, void *arg)
{
	struct walk w = { .fn = fn, .arg = arg };

	return walk(to_local(bs), &w, user_id);
}

static int local_sweep(struct srv_blocks *bs, int64_t older_than,
		       uint64_t *out_count)
{
	struct walk w = { .older_than = older_than };
	int rc = walk(to_local(bs), &w, -1);

	*out_count = w.swept;
	return rc;
}

static void local_free(struct srv_blocks *bs)
{
	struct local_store *st = to_local(bs);

	if (st->rootfd >= 0)
		close(st->rootfd);
	if (st->asidefd >= 0)
		close(st->asidefd);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->mkdir_lock);
	free(st->known);
	free(st->root);
	free(st);
}

static const struct srv_blocks_ops local_ops = {
	.put = local_put,
	.get = local_get,
	.stat = local_stat,
	.remove = local_remove,
	.list = local_list,
	.remove_unless = local_remove_unless,
	.sweep = local_sweep,
	.free = local_free,
};

/* fsync the directory holding path, so a just-made path is durable. */
static int fsync_parent(const char *path)
{
	struct cf_buf b;
	char *slash;
	int rc;

	cf_buf_init(&b, 4096);
	rc = cf_buf_appends(&b, path);
	if (rc < 0)
		goto out;
	while (b.len > 1 && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	slash = strrchr(b.data, '/');
	if (!slash)
		rc = cf_fsync_dir_path(".");
	else if (slash == b.data)
		rc = cf_fsync_dir_path("/");
	else {
		*slash = '\0';
		rc = cf_fsync_dir_path(b.data);
	}
out:
	cf_buf_release(&b);
	return rc == -EMSGSIZE ? -ENAMETOOLONG : rc;
}

int srv_blocks_local_open(const char *dir, struct srv_blocks **out)
{
	struct local_store *st = NULL;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->base.ops = &local_ops;
	st->rootfd = -1;
	st->asidefd = -1;
	rc = pthread_mutex_init(&st->lock, NULL);
	if (rc != 0) {
		free(st);
		return -rc;
	}
	rc = pthread_mutex_init(&st->mkdir_lock, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&st->lock);
		free(st);
		return -rc;
	}
	st->root = strdup(dir);
	if (!st->root) {
		rc = -ENOMEM;
		goto out;
	}
	rc = cf_mkdir_p(dir, 0700);
	if (rc == 0)
		rc = fsync_parent(dir);
	if (rc < 0) {
		cf_err("cannot create block directory %s: %s", dir,
		       strerror(-rc));
		goto out;
	}
	st->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->rootfd < 0) {
		rc = -errno;
		cf_err("cannot open block directory %s: %s", dir,
		       strerror(-rc));
		goto out;
	}
	/* what a crashed predecessor made is durable from here on */
	if (syncfs(st->rootfd) < 0) {
		rc = -errno;
		cf_err("cannot sync the file system of %s: %s", dir,
		       strerror(-rc));
		goto out;
	}
	rc = mkdir_durable(st->rootfd, ".aside");
	if (rc == 0) {
		st->asidefd = openat(st->rootfd, ".aside",
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (st->asidefd < 0)
			rc = -errno;
	}
	if (rc == 0)
		rc = aside_recover(st);
	if (rc < 0) {
		cf_err("cannot prepare %s/.aside: %s", dir, strerror(-rc));
		goto out;
	}
	*out = &st->base;
	st = NULL;
out:
	if (st)
		local_free(&st->base);
	return rc;
}
