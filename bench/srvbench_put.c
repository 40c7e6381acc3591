/* SPDX-License-Identifier: MIT */
/*
 * srvbench part (b): block PUT and GET throughput. SRVBENCH_CLIENTS
 * libcurl clients PUT 1 MiB blocks; the baselines are the same bytes
 * written by as many threads here with fsync + rename + directory fsync,
 * buffered and with O_DIRECT as the server writes them. The three run in
 * alternating rounds. Then the clients GET the blocks back, against as
 * many threads reading the O_DIRECT baseline's files, both from the page
 * cache (an untimed pass reads everything first): what serving a block
 * costs the server beyond reading it, without the disk's noise.
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
	GET_HTTP, /* the server, reading the blocks back */
	GET_RAW, /* baseline: read() of PUT_RAW_DIRECT's files */
};

struct putter {
	pthread_t thread;
	struct bench *b;
	int index;
	unsigned first, count; /* this round's blocks: ids[first..+count) */
	enum put_mode mode;
	uint8_t *blob; /* owned */
	size_t blob_size;
	uint8_t *rbuf; /* owned: GET_RAW reads into it */
	struct blk_id *ids; /* owned: one per block */
	int rc;
};

/* dir of mode's raw files for putter p: PUT_RAW's or PUT_RAW_DIRECT's */
static int raw_dir(const struct putter *p, enum put_mode mode)
{
	char path[4300];

	snprintf(path, sizeof(path), "%s/raw%d-%d", p->b->dir, mode, p->index);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/*
 * Block i (in p->blob) by mode: written, PUT, or read or fetched and
 * compared. 0 or -1.
 */
static int move_block(struct putter *p, struct http *h, int dirfd, unsigned i)
{
	char hex[BLK_ID_HEX_SIZE], path[128];
	ssize_t got;
	int fd;

	blk_id_to_hex(&p->ids[i], hex);
	snprintf(path, sizeof(path), "/api/v1/blocks/%s", hex);
	switch (p->mode) {
	case PUT_RAW:
	case PUT_RAW_DIRECT:
		return cf_file_write_durable(
			dirfd, hex, p->blob, p->blob_size, 0600,
			p->mode == PUT_RAW_DIRECT ? CF_DURABLE_DIRECT : 0);
	case GET_RAW:
		fd = openat(dirfd, hex, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		got = cf_read_full(fd, p->rbuf, p->blob_size);
		close(fd);
		if (got != (ssize_t)p->blob_size)
			return -1;
		return memcmp(p->rbuf, p->blob, p->blob_size) ? -1 : 0;
	case GET_HTTP:
		if (srvbench_http_do(h, "GET", path, NULL, 0, true) == 200 &&
		    h->resp.len == p->blob_size &&
		    !memcmp(h->resp.data, p->blob, p->blob_size))
			return 0;
		break;
	case PUT_HTTP:
		if (srvbench_http_do(h, "PUT", path, p->blob, p->blob_size,
				     true) == 201)
			return 0;
		break;
	}
	fprintf(stderr, "srvbench: %s answered %zu bytes (%zu sent): %.*s\n",
		p->mode == PUT_HTTP ? "PUT" : "GET", h->resp.len, p->blob_size,
		(int)(h->resp.len < 200 ? h->resp.len : 200), h->resp.data);
	return -1;
}

static void *putter_main(void *arg)
{
	struct putter *p = arg;
	bool http = p->mode == PUT_HTTP || p->mode == GET_HTTP;
	struct http h;
	unsigned i;
	int dirfd = -1;

	p->rc = -1;
	if (!http) {
		dirfd = raw_dir(p,
				p->mode == GET_RAW ? PUT_RAW_DIRECT : p->mode);
		if (dirfd < 0)
			return NULL;
	} else if (srvbench_http_init(&h, p->b, true) < 0) {
		return NULL;
	}
	for (i = p->first; i < p->first + p->count; i++) {
		srvbench_blob_stamp(p->blob, (uint64_t)p->index << 32 | i);
		if (move_block(p, &h, dirfd, i) < 0)
			goto out;
	}
	p->rc = 0;
out:
	if (!http)
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
	double secs[GET_RAW + 1] = { 0 }, t, mib, raw_s, direct_s, put_s;
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
		p[k].rbuf = malloc(p[k].blob_size);
		if (!p[k].blob || !p[k].ids || !p[k].rbuf)
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
	if (run_putters(p, GET_HTTP, 0, per) <= 0 ||
	    run_putters(p, GET_RAW, 0, per) <= 0)
		goto out; /* the untimed pass: everything in the page cache */
	for (r = 0; r < PUT_ROUNDS; r++) {
		for (k = 0; k < 2; k++) {
			enum put_mode mode = (r + k) % 2 ? GET_RAW : GET_HTTP;

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
	printf("      baseline: read() of those files, page cache      "
	       "%6.0f MiB/s\n",
	       mib / secs[GET_RAW]);
	printf("      block GET 1 MiB over HTTP, %d clients, cached    "
	       "%6.0f MiB/s  (%.0f%% of baseline)\n",
	       SRVBENCH_CLIENTS, mib / secs[GET_HTTP],
	       100.0 * secs[GET_RAW] / secs[GET_HTTP]);
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "srvbench: block PUT/GET phase failed\n");
	for (k = 0; k < SRVBENCH_CLIENTS; k++) {
		free(p[k].blob);
		free(p[k].ids);
		free(p[k].rbuf);
	}
	return rc;
}
