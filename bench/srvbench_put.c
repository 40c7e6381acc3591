/* SPDX-License-Identifier: MIT */
/*
 * srvbench part (b): block PUT throughput. SRVBENCH_CLIENTS libcurl
 * clients PUT 1 MiB blocks; the baselines are the same bytes written by
 * as many threads here with fsync + rename + directory fsync, buffered
 * and with O_DIRECT as the server writes them. The three run in
 * alternating rounds.
 */
#include "srvbench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk/proto.h"
#include "cf_file.h"

#define PUT_ROUNDS 4 /* (b) alternates its three writers this often */
#define BIG_BLOCK  (1u << 20) /* payload of a PUT block: 1 MiB */

enum put_mode {
	PUT_HTTP, /* the server */
	PUT_RAW, /* baseline: the same files, written here */
	PUT_RAW_DIRECT, /* ...and with O_DIRECT, as the server writes them */
};

struct putter {
	pthread_t thread;
	struct bench *b;
	int index;
	unsigned first, count; /* this round's blocks: ids[first..+count) */
	enum put_mode mode;
	uint8_t *blob; /* owned */
	size_t blob_size;
	struct blk_id *ids; /* owned: one per block */
	int rc;
};

static void *putter_main(void *arg)
{
	struct putter *p = arg;
	char hex[BLK_ID_HEX_SIZE], path[4300];
	struct http h;
	unsigned i;
	int dirfd = -1;

	p->rc = -1;
	if (p->mode != PUT_HTTP) {
		snprintf(path, sizeof(path), "%s/raw%d-%d", p->b->dir, p->mode,
			 p->index);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return NULL;
		dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return NULL;
	} else if (srvbench_http_init(&h, p->b, true) < 0) {
		return NULL;
	}
	for (i = p->first; i < p->first + p->count; i++) {
		srvbench_blob_stamp(p->blob, (uint64_t)p->index << 32 | i);
		blk_id_to_hex(&p->ids[i], hex);
		if (p->mode != PUT_HTTP) {
			if (cf_file_write_durable(dirfd, hex, p->blob,
						  p->blob_size, 0600,
						  p->mode == PUT_RAW_DIRECT
							  ? CF_DURABLE_DIRECT
							  : 0) < 0)
				goto out;
			continue;
		}
		snprintf(path, sizeof(path), "/api/v1/blocks/%s", hex);
		if (srvbench_http_do(&h, "PUT", path, p->blob, p->blob_size,
				     true) != 201) {
			fprintf(stderr, "srvbench: PUT answered: %.*s\n",
				(int)h.resp.len, h.resp.data);
			goto out;
		}
	}
	p->rc = 0;
out:
	if (p->mode != PUT_HTTP)
		close(dirfd);
	else
		srvbench_http_release(&h);
	return NULL;
}

static double run_putters(struct putter *p, enum put_mode mode, unsigned first,
			  unsigned count)
{
	double t0;
	int i;

	sync();
	t0 = srvbench_now_s();
	for (i = 0; i < SRVBENCH_CLIENTS; i++) {
		p[i].mode = mode;
		p[i].first = first;
		p[i].count = count;
		if (pthread_create(&p[i].thread, NULL, putter_main, &p[i]))
			return -1;
	}
	for (i = 0; i < SRVBENCH_CLIENTS; i++)
		pthread_join(p[i].thread, NULL);
	for (i = 0; i < SRVBENCH_CLIENTS; i++)
		if (p[i].rc < 0)
			return -1;
	return srvbench_now_s() - t0;
}

int srvbench_puts(struct bench *b)
{
	struct putter p[SRVBENCH_CLIENTS];
	double secs[3] = { 0 }, t, mib, raw_s, direct_s, put_s;
	unsigned per = b->put_mib / SRVBENCH_CLIENTS, i, round_size;
	int k, r, rc = -1;

	/*
	 * The three in rounds of a quarter each, the order rotating: the
	 * virtual disks these runs get slow down after a burst, which would
	 * otherwise count against whichever ran last.
	 */
	if (per < PUT_ROUNDS)
		per = PUT_ROUNDS;
	per -= per % PUT_ROUNDS;
	round_size = per / PUT_ROUNDS;
	memset(p, 0, sizeof(p));
	for (k = 0; k < SRVBENCH_CLIENTS; k++) {
		p[k].b = b;
		p[k].index = k;
		p[k].blob = srvbench_blob_new(BIG_BLOCK, &p[k].blob_size);
		p[k].ids = calloc(per, sizeof(*p[k].ids));
		if (!p[k].blob || !p[k].ids)
			goto out;
		for (i = 0; i < per; i++) {
			srvbench_blob_stamp(p[k].blob, (uint64_t)k << 32 | i);
			if (blk_id_compute(p[k].blob, p[k].blob_size,
					   &p[k].ids[i]) < 0)
				goto out;
		}
	}
	for (r = 0; r < PUT_ROUNDS; r++) {
		for (k = 0; k < 3; k++) {
			enum put_mode mode = (enum put_mode)((r + k) % 3);

			t = run_putters(p, mode, (unsigned)r * round_size,
					round_size);
			if (t <= 0)
				goto out;
			secs[mode] += t;
		}
	}
	raw_s = secs[PUT_RAW];
	direct_s = secs[PUT_RAW_DIRECT];
	put_s = secs[PUT_HTTP];
	mib = (double)per * SRVBENCH_CLIENTS * (double)p[0].blob_size /
	      1048576.0;
	printf("  (b) baseline: 1 MiB files, fsync + rename + dir fsync, "
	       "%d threads  %6.0f MiB/s\n",
	       SRVBENCH_CLIENTS, mib / raw_s);
	printf("      the same with O_DIRECT, as the server writes   "
	       "%6.0f MiB/s\n",
	       mib / direct_s);
	printf("      block PUT 1 MiB over HTTP, %d clients            "
	       "%6.0f MiB/s  (%.0f%% of baseline, %.0f%% of O_DIRECT; "
	       "%u blocks)  target >= 80%%: %s\n",
	       SRVBENCH_CLIENTS, mib / put_s, 100.0 * raw_s / put_s,
	       100.0 * direct_s / put_s, per * SRVBENCH_CLIENTS,
	       raw_s / put_s >= 0.8 ? "met" : "MISSED");
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "srvbench: block PUT phase failed\n");
	for (k = 0; k < SRVBENCH_CLIENTS; k++) {
		free(p[k].blob);
		free(p[k].ids);
	}
	return rc;
}
