/* SPDX-License-Identifier: MIT */
/*
 * fc-localmount: mount the client's core (state database, cache, FUSE ops)
 * without any network part, for the tests of tests/e2e/t3000-*. Nothing
 * is uploaded, so files written through the mount stay local (dirty,
 * never evicted).
 *
 * -R NAME:SIZE[:BAD] seeds a "remote" file NAME in the root (once: kept
 * on later mounts): committed, clean and not cached, cut into 64 KiB
 * chunks whose bytes are all (index % 251) + 1. The fake fetch callback
 * serves them, logs one line "index" per fetch to STATE_DIR/fetch.log,
 * and answers -EBADMSG for chunk index BAD. Without seeds the fetch
 * callback answers -ENOTCONN.
 *
 *   fc-localmount [-f] [-d] [-o OPTS] [-R SEED]... STATE_DIR CACHE_DIR MNT
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "localmount"
#include "cf_buf.h"
#include "cf_file.h"
#include "cf_log.h"
#include "fc_cache.h"
#include "fc_fs.h"
#include "fc_state.h"

#define SEED_CHUNK 65536u
#define SEED_MAGIC 0x5e

struct fake {
	int log_fd;                     /* fetch.log */
	pthread_mutex_t lock;
};

static int no_fetch(void *arg, const struct blk_id *id, uint32_t size,
		    uint8_t *out)
{
	struct fake *f = arg;
	uint32_t idx;
	char line[32];
	int n;

	if (id->bytes[0] != SEED_MAGIC)
		return -ENOTCONN;
	idx = cf_get_le32(id->bytes + 1);
	n = snprintf(line, sizeof(line), "%u\n", idx);
	pthread_mutex_lock(&f->lock);
	if (f->log_fd >= 0 && n > 0)
		cf_write_full(f->log_fd, line, (size_t)n);
	pthread_mutex_unlock(&f->lock);
	if (id->bytes[5])
		return -EBADMSG; /* the chunk marked bad */
	memset(out, (int)(idx % 251 + 1), size);
	return 0;
}

/* Seed NAME:SIZE[:BAD] as a committed, clean, uncached file. */
static int seed(struct fc_state *st, const char *spec)
{
	char name[CF_NAME_MAX + 1];
	unsigned long long size, bad = ~0ull;
	struct fc_create req = { 0 };
	struct fc_write_summary w = { 0 };
	struct blk_manifest m;
	struct fc_upload u;
	struct fc_node n;
	struct fc_op ops[64];
	struct blk_id id;
	size_t count, i;
	uint64_t off;
	int64_t next;
	int rc;

	if (sscanf(spec, "%255[^:]:%llu:%llu", name, &size, &bad) < 2)
		return -EINVAL;
	if (fc_state_lookup(st, FC_ROOT_INO, name, strlen(name), &n) == 0)
		return 0; /* seeded by an earlier mount */
	req.parent = FC_ROOT_INO;
	req.name = name;
	req.name_len = strlen(name);
	req.kind = FC_KIND_FILE;
	req.mode = 0644;
	req.uid = getuid();
	req.gid = getgid();
	req.writing = true;
	rc = fc_state_create(st, &req, &n);
	if (rc < 0)
		return rc;
	w.size = size;
	rc = fc_state_write_done(st, n.ino, &w, 0, false);
	/* the create op "reached the server" */
	while (rc == 0 && (rc = fc_state_op_peek(st, 1, ops, 64, &count)) == 0
	       && count) {
		for (i = 0; i < count && rc == 0; i++)
			rc = fc_state_op_done(st, ops[i].seq, NULL);
	}
	if (rc == 0)
		rc = fc_state_upload_claim(st, INT64_MAX - 1, &u, &next);
	if (rc < 0)
		return rc;
	blk_manifest_init(&m);
	for (i = 0, off = 0; off < size && rc == 0; i++) {
		uint32_t len = (uint32_t)CF_MIN((uint64_t)SEED_CHUNK,
						size - off);

		memset(&id, 0, sizeof(id));
		id.bytes[0] = SEED_MAGIC;
		cf_put_le32(id.bytes + 1, (uint32_t)i);
		id.bytes[5] = i == bad;
		memcpy(id.bytes + 6, n.id, FC_ID_SIZE);
		rc = blk_manifest_add(&m, &id, len);
		off += len;
	}
	if (rc == 0)
		rc = fc_state_upload_done(st, &u, 1, &m, NULL);
	if (rc == 0)
		rc = fc_state_evict_node(st, n.ino);
	blk_manifest_release(&m);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: fc-localmount [-f] [-d] [-o OPTS] "
			"[-R NAME:SIZE[:BAD]]... STATE_DIR CACHE_DIR "
			"MOUNTPOINT\n");
}

int main(int argc, char **argv)
{
	struct fc_cache_opts co = { 0 };
	struct fc_fs_deps deps = { 0 };
	struct fc_state *st = NULL;
	struct fc_cache *cache = NULL;
	struct fc_fs *fs = NULL;
	struct fake fake = { -1, PTHREAD_MUTEX_INITIALIZER };
	const char *seeds[16];
	size_t nseeds = 0, i;
	struct fc_fs_opts o;
	struct cf_buf db;
	int c, rc;

	fc_fs_opts_init(&o);
	cf_buf_init(&db, 8192);
	while ((c = getopt(argc, argv, "fdo:R:")) != -1) {
		switch (c) {
		case 'f':
			o.foreground = true;
			break;
		case 'd':
			o.debug = true;
			break;
		case 'o':
			if (fc_fs_opts_parse(&o, optarg) < 0)
				return 2;
			break;
		case 'R':
			if (nseeds == CF_ARRAY_SIZE(seeds))
				return 2;
			seeds[nseeds++] = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind != 3) {
		usage();
		return 2;
	}
	cf_log_setup("fc-localmount", o.debug ? LOG_DEBUG : LOG_INFO,
		     o.debug ? "all" : NULL);
	o.mountpoint = argv[optind + 2];
	rc = cf_mkdir_p(argv[optind], 0700);
	if (rc == 0)
		rc = cf_buf_appendf(&db, "%s/state.db", argv[optind]);
	if (rc == 0)
		rc = fc_state_open(db.data, getuid(), getgid(), &st);
	for (i = 0; rc == 0 && i < nseeds; i++)
		rc = seed(st, seeds[i]);
	if (rc < 0) {
		fprintf(stderr, "fc-localmount: state: %s\n", strerror(-rc));
		goto out;
	}
	cf_buf_reset(&db);
	if (cf_buf_appendf(&db, "%s/fetch.log", argv[optind]) == 0)
		fake.log_fd = open(db.data, O_WRONLY | O_CREAT | O_APPEND |
						    O_CLOEXEC,
				   0644);
	co.dir = argv[optind + 1];
	co.limit = o.cache_size;
	co.fetch = no_fetch;
	co.fetch_arg = &fake;
	rc = fc_cache_open(&co, st, &cache);
	if (rc < 0) {
		fprintf(stderr, "fc-localmount: cache: %s\n", strerror(-rc));
		goto out;
	}
	deps.state = st;
	deps.cache = cache;
	deps.fetch = no_fetch;
	deps.arg = &fake;
	rc = fc_fs_new(&o, &deps, &fs);
	if (rc == 0)
		rc = fc_fs_run(fs);
	if (rc < 0)
		fprintf(stderr, "fc-localmount: %s\n", strerror(-rc));
out:
	fc_fs_free(fs);
	fc_cache_close(cache);
	fc_state_close(st);
	fc_fs_opts_release(&o);
	cf_buf_release(&db);
	if (fake.log_fd >= 0)
		close(fake.log_fd);
	return rc < 0 ? 1 : 0;
}
