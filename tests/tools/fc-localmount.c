/* SPDX-License-Identifier: MIT */
/*
 * fc-localmount: mount the client's core (state database, cache, FUSE ops)
 * without any network part, for the POSIX tests of tests/e2e/t3000-*.
 * There is no server: the fetch callback answers -ENOTCONN and nothing is
 * uploaded, so every file stays local (dirty, never evicted).
 *
 *   fc-localmount [-f] [-d] [-o OPTS] STATE_DIR CACHE_DIR MOUNTPOINT
 */
#include <errno.h>
#include <getopt.h>
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

static int no_fetch(void *arg, const struct blk_id *id, uint32_t size,
		    uint8_t *out)
{
	(void)arg;
	(void)id;
	(void)size;
	(void)out;
	return -ENOTCONN;
}

static void usage(void)
{
	fprintf(stderr, "usage: fc-localmount [-f] [-d] [-o OPTS] STATE_DIR "
			"CACHE_DIR MOUNTPOINT\n");
}

int main(int argc, char **argv)
{
	struct fc_cache_opts co = { 0 };
	struct fc_fs_deps deps = { 0 };
	struct fc_state *st = NULL;
	struct fc_cache *cache = NULL;
	struct fc_fs *fs = NULL;
	struct fc_fs_opts o;
	struct cf_buf db;
	int c, rc;

	fc_fs_opts_init(&o);
	cf_buf_init(&db, 8192);
	while ((c = getopt(argc, argv, "fdo:")) != -1) {
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
	if (rc < 0) {
		fprintf(stderr, "fc-localmount: state: %s\n", strerror(-rc));
		goto out;
	}
	co.dir = argv[optind + 1];
	co.limit = o.cache_size;
	co.fetch = no_fetch;
	rc = fc_cache_open(&co, st, &cache);
	if (rc < 0) {
		fprintf(stderr, "fc-localmount: cache: %s\n", strerror(-rc));
		goto out;
	}
	deps.state = st;
	deps.cache = cache;
	deps.fetch = no_fetch;
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
	return rc < 0 ? 1 : 0;
}
