/* SPDX-License-Identifier: MIT */
/*
 * metabench: durable commits per second through the SQLite metadata store
 * (srv_meta: group commit, WAL, synchronous=FULL) with 1, 4 and 16
 * concurrent committers, beside the baseline of raw 4 KiB write +
 * fdatasync rounds per second on the same disk. Without group commit a
 * store cannot beat that baseline (one fsync per commit); the ratio shows
 * what batching concurrent commits into one transaction buys. Each commit
 * is the server's real one: base_version check, block index lookups,
 * version and version_blocks rows, node update, seq stamp.
 *
 * Usage: metabench [--dir DIR] [--seconds N]. DIR (default ".") must be on
 * the disk the server would use; a tmpfs makes the figures meaningless.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cf_log.h"
#include "cf_util.h"
#include "srv_meta.h"
#include "srv_meta_sqlite_int.h"

#define BLOCKS_PER_COMMIT 4
#define LAT_MAX		  (1u << 20) /* latency samples kept per thread */

struct worker {
	struct srv_meta *m;
	int64_t user;
	uint8_t node[SRV_NODE_ID_SIZE];
	const struct blk_id *blocks;
	double deadline;
	uint64_t commits;
	int rc;
	double *lat; /* owned: seconds per commit */
	size_t lat_count;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Baseline: rounds of a 4 KiB write + fdatasync for secs. append: each
 * write extends the file (the size change is journaled too); overwrite:
 * writes cycle through a preallocated 4 MiB, as a WAL that restarts does.
 */
static double fdatasync_rate(const char *dir, bool append, double secs)
{
	const off_t span = 4 << 20;
	char path[4200], buf[4096];
	double t0, t;
	uint64_t n = 0;
	off_t off = 0;
	int fd, len;

	len = snprintf(path, sizeof(path), "%s/fsync.bin", dir);
	if (len < 0 || (size_t)len >= sizeof(path))
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	memset(buf, 'x', sizeof(buf));
	if (!append) {
		for (off = 0; off < span; off += (off_t)sizeof(buf))
			if (pwrite(fd, buf, sizeof(buf), off) < 0)
				break;
		if (off < span || fsync(fd) < 0) {
			close(fd);
			unlink(path);
			return -1;
		}
		off = 0;
	}
	t0 = now_s();
	do {
		if (pwrite(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf) ||
		    fdatasync(fd) < 0) {
			n = 0;
			break;
		}
		off += (off_t)sizeof(buf);
		if (!append && off >= span)
			off = 0;
		n++;
		t = now_s();
	} while (t - t0 < secs);
	close(fd);
	unlink(path);
	return n ? (double)n / (now_s() - t0) : -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t manifest[BLK_MANIFEST_HEADER_SIZE +
			 BLOCKS_PER_COMMIT * BLK_MANIFEST_ENTRY_SIZE];
	uint8_t tag[BLK_MANIFEST_TAG_SIZE];
	struct srv_commit c;
	uint64_t base = 0, ver;
	double t0, t1;

	memset(manifest, 0x4d, sizeof(manifest));
	memset(tag, 0x54, sizeof(tag));
	memset(&c, 0, sizeof(c));
	c.node = w->node;
	c.device_id = 1;
	c.manifest = manifest;
	c.manifest_size = sizeof(manifest);
	c.tag = tag;
	c.blocks = w->blocks;
	c.block_count = BLOCKS_PER_COMMIT;
	for (;;) {
		t0 = now_s();
		if (t0 >= w->deadline)
			break;
		c.base_version = base;
		c.size = base * 1000;
		c.mtime_ns = (int64_t)base;
		w->rc = w->m->ops->commit(w->m, w->user, &c, &ver, NULL, NULL,
					  NULL);
		if (w->rc < 0)
			break;
		t1 = now_s();
		base = ver;
		w->commits++;
		if (w->lat_count < LAT_MAX)
			w->lat[w->lat_count++] = t1 - t0;
	}
	return NULL;
}

struct result {
	double rate, p50, p99, per_txn;
};

/* One phase: a fresh store in dir, nthreads committers for secs. */
static int run_phase(const char *dir, int nthreads, double secs,
		     struct result *out)
{
	struct blk_id blocks[BLOCKS_PER_COMMIT];
	struct worker *w = NULL;
	pthread_t *th = NULL;
	struct srv_meta *m = NULL;
	struct srv_user u;
	struct srv_node n;
	uint64_t commits = 0, txn0;
	double *all = NULL, t0, elapsed;
	size_t lat = 0, k;
	char path[4200], name[32];
	int i, rc, len, started = 0;

	len = snprintf(path, sizeof(path), "%s/meta.db", dir);
	if (len < 0 || (size_t)len >= sizeof(path))
		return -ENAMETOOLONG;
	rc = srv_meta_sqlite_open(path, &m);
	if (rc < 0)
		goto out;
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "bench");
	u.kdf = BLK_KDF_PARAMS_DEFAULT;
	u.chunk_min = BLK_CHUNK_MIN_DEFAULT;
	u.chunk_avg = BLK_CHUNK_AVG_DEFAULT;
	u.chunk_max = BLK_CHUNK_MAX_DEFAULT;
	rc = m->ops->user_create(m, &u);
	for (k = 0; rc == 0 && k < BLOCKS_PER_COMMIT; k++) {
		memset(&blocks[k], (int)k + 1, sizeof(blocks[k]));
		rc = m->ops->block_add(m, u.id, &blocks[k], 1 << 20, 1, NULL);
	}
	w = calloc((size_t)nthreads, sizeof(*w));
	th = calloc((size_t)nthreads, sizeof(*th));
	if (rc == 0 && (!w || !th))
		rc = -ENOMEM;
	for (i = 0; rc == 0 && i < nthreads; i++) {
		memset(&n, 0, sizeof(n));
		n.id[0] = 0xbe;
		n.id[15] = (uint8_t)(i + 1);
		n.kind = SRV_NODE_FILE;
		n.mode = 0644;
		snprintf(name, sizeof(name), "file%d", i);
		rc = m->ops->create(m, u.id, &n, srv_root_id, name,
				    strlen(name), NULL);
		w[i].m = m;
		w[i].user = u.id;
		memcpy(w[i].node, n.id, sizeof(n.id));
		w[i].blocks = blocks;
		w[i].lat = malloc(LAT_MAX * sizeof(double));
		if (rc == 0 && !w[i].lat)
			rc = -ENOMEM;
	}
	if (rc < 0)
		goto out;

	txn0 = ((struct srv_sq *)m)->batches;
	t0 = now_s();
	for (i = 0; i < nthreads; i++)
		w[i].deadline = t0 + secs;
	for (i = 0; i < nthreads; i++) {
		rc = -pthread_create(&th[i], NULL, worker_main, &w[i]);
		if (rc < 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	elapsed = now_s() - t0;
	if (rc < 0)
		goto out;
	for (i = 0; i < nthreads; i++) {
		if (w[i].rc < 0) {
			rc = w[i].rc;
			goto out;
		}
		commits += w[i].commits;
		lat += w[i].lat_count;
	}
	all = malloc((lat ? lat : 1) * sizeof(double));
	if (!all) {
		rc = -ENOMEM;
		goto out;
	}
	lat = 0;
	for (i = 0; i < nthreads; i++) {
		memcpy(all + lat, w[i].lat, w[i].lat_count * sizeof(double));
		lat += w[i].lat_count;
	}
	qsort(all, lat, sizeof(double), cmp_double);
	out->rate = (double)commits / elapsed;
	out->p50 = lat ? all[lat / 2] : 0;
	out->p99 = lat ? all[lat * 99 / 100] : 0;
	out->per_txn = (double)commits /
		       (double)CF_MAX(((struct srv_sq *)m)->batches - txn0, 1);
	rc = 0;
out:
	if (w)
		for (i = 0; i < nthreads; i++)
			free(w[i].lat);
	free(w);
	free(th);
	free(all);
	srv_meta_close(m);
	for (k = 0; k < 3; k++) {
		static const char *const sfx[] = { "", "-wal", "-shm" };

		len = snprintf(path, sizeof(path), "%s/meta.db%s", dir, sfx[k]);
		if (len > 0 && (size_t)len < sizeof(path))
			unlink(path);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const int threads[] = { 1, 4, 16 };
	const char *base = ".";
	char dir[4200], *end;
	double secs = 2, sync_rate, append_rate;
	struct result r = { 0, 0, 0, 0 };
	size_t i;
	int c, rc, len;

	cf_log_setup("metabench", LOG_WARNING, NULL);
	while ((c = getopt_long(argc, argv, "d:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			base = optarg;
			break;
		case 's':
			errno = 0;
			secs = strtod(optarg, &end);
			if (errno || *end || secs <= 0) {
				fprintf(stderr, "metabench: bad --seconds\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: metabench [--dir DIR] "
					"[--seconds N]\n");
			return 2;
		}
	}
	len = snprintf(dir, sizeof(dir), "%s/metabench.XXXXXX", base);
	if (len < 0 || (size_t)len >= sizeof(dir) || !mkdtemp(dir)) {
		fprintf(stderr, "metabench: cannot make a directory in %s\n",
			base);
		return 1;
	}
	append_rate = fdatasync_rate(dir, true, secs);
	sync_rate = fdatasync_rate(dir, false, secs);
	if (sync_rate <= 0 || append_rate <= 0) {
		fprintf(stderr, "metabench: fdatasync baseline failed\n");
		rmdir(dir);
		return 1;
	}
	printf("metabench: durable metadata commits (srv_meta, SQLite WAL, "
	       "synchronous=FULL)\n");
	printf("  baseline: 4 KiB append + fdatasync      %8.0f /s  "
	       "(%.0f us each)\n",
	       append_rate, 1e6 / append_rate);
	printf("  baseline: 4 KiB overwrite + fdatasync   %8.0f /s  "
	       "(%.0f us each; the ratios below use this one)\n",
	       sync_rate, 1e6 / sync_rate);
	for (i = 0; i < CF_ARRAY_SIZE(threads); i++) {
		rc = run_phase(dir, threads[i], secs, &r);
		if (rc < 0) {
			fprintf(stderr, "metabench: %d threads: %s\n",
				threads[i], strerror(-rc));
			rmdir(dir);
			return 1;
		}
		printf("  commits, %2d thread%s                    %8.0f /s  "
		       "(%.2fx baseline; p50 %.0f us, p99 %.0f us; "
		       "%.1f commits per fsync)\n",
		       threads[i], threads[i] == 1 ? " " : "s", r.rate,
		       r.rate / sync_rate, r.p50 * 1e6, r.p99 * 1e6, r.per_txn);
	}
	rmdir(dir);
	return 0;
}
