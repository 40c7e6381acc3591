/* SPDX-License-Identifier: MIT */
/*
 * srvbench part (a): durable commits/s of SRVBENCH_CLIENTS libcurl
 * clients, each committing new versions of its own file (a tiny manifest
 * whose block was PUT once), against rounds of 4 KiB write + fdatasync
 * on the same disk. Also the manifest part (c) commits.
 */
#include "srvbench.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "blk/proto.h"
#include "cf_util.h"

static double fdatasync_rate(const char *dir, double secs)
{
	const off_t span = 4 << 20;
	char path[4200], buf[4096];
	double t0;
	uint64_t n = 0;
	off_t off;
	int fd;

	snprintf(path, sizeof(path), "%s/fsync.bin", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	memset(buf, 'x', sizeof(buf));
	for (off = 0; off < span; off += (off_t)sizeof(buf))
		if (pwrite(fd, buf, sizeof(buf), off) < 0)
			break;
	if (fsync(fd) < 0)
		n = 0;
	off = 0;
	t0 = srvbench_now_s();
	while (srvbench_now_s() - t0 < secs) {
		if (pwrite(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf) ||
		    fdatasync(fd) < 0)
			break;
		off = (off + (off_t)sizeof(buf)) % span;
		n++;
	}
	close(fd);
	unlink(path);
	return n ? (double)n / (srvbench_now_s() - t0) : -1;
}

struct committer {
	pthread_t thread;
	struct bench *b;
	int index;
	const char *manifest_b64;
	double deadline;
	uint64_t commits;
	double *lat;
	size_t lat_count, lat_cap;
	int rc;
};

int srvbench_file_new(struct http *h, const char *name,
		      char path[SRVBENCH_COMMIT_PATH_SIZE])
{
	char node[33];
	uint8_t id[16];
	int i;

	RAND_bytes(id, sizeof(id));
	for (i = 0; i < 16; i++)
		snprintf(node + 2 * i, 3, "%02x", id[i]);
	if (srvbench_http_json(h, "POST", "/api/v1/nodes",
			       json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}",
					 "id", node, "kind", "file", "parent",
					 "00000000000000000000000000000000",
					 "name", name, "mode", 0644, "uid", 0,
					 "gid", 0),
			       NULL) != 201)
		return -1;
	snprintf(path, SRVBENCH_COMMIT_PATH_SIZE, "/api/v1/nodes/%s/commit",
		 node);
	return 0;
}

long srvbench_commit(struct http *h, const char *path, const char *manifest,
		     uint64_t *version)
{
	static const char tag[] = "ab";
	char tag_hex[65];
	json_t *ans = NULL;
	long st;
	int i;

	for (i = 0; i < 32; i++)
		memcpy(tag_hex + 2 * i, tag, 2);
	tag_hex[64] = '\0';
	st = srvbench_http_json(h, "POST", path,
				json_pack("{s:I, s:i, s:I, s:s, s:s}",
					  "base_version", (json_int_t)*version,
					  "size", SRVBENCH_SMALL_BLOCK, "mtime",
					  (json_int_t)1700000000000000000LL,
					  "manifest", manifest, "tag", tag_hex),
				&ans);
	if (st == 200)
		*version = (uint64_t)json_integer_value(
			json_object_get(ans, "version"));
	json_decref(ans);
	return st;
}

static void *committer_main(void *arg)
{
	struct committer *c = arg;
	char name[32], path[SRVBENCH_COMMIT_PATH_SIZE];
	struct http h;
	uint64_t version = 0;
	double t;
	long st;

	c->rc = -1;
	if (srvbench_http_init(&h, c->b, true) < 0)
		return NULL;
	snprintf(name, sizeof(name), "commits-%d", c->index);
	if (srvbench_file_new(&h, name, path) < 0)
		goto out;
	while ((t = srvbench_now_s()) < c->deadline) {
		st = srvbench_commit(&h, path, c->manifest_b64, &version);
		if (st != 200) {
			fprintf(stderr, "srvbench: commit answered %ld: %.*s\n",
				st, (int)h.resp.len, h.resp.data);
			goto out;
		}
		if (c->lat_count < c->lat_cap)
			c->lat[c->lat_count++] = srvbench_now_s() - t;
		c->commits++;
	}
	c->rc = 0;
out:
	srvbench_http_release(&h);
	return NULL;
}

/* PUT the one small block every commit's manifest names. */
char *srvbench_prepare_manifest(struct bench *b)
{
	uint8_t man[BLK_MANIFEST_HEADER_SIZE + BLK_MANIFEST_ENTRY_SIZE];
	char hex[BLK_ID_HEX_SIZE], path[128], *b64 = NULL;
	uint8_t *blob;
	struct http h;
	size_t size;

	blob = srvbench_blob_new(SRVBENCH_SMALL_BLOCK, &size);
	if (!blob || blk_id_compute(blob, size, &b->small_id) < 0 ||
	    srvbench_http_init(&h, b, true) < 0) {
		free(blob);
		return NULL;
	}
	blk_id_to_hex(&b->small_id, hex);
	snprintf(path, sizeof(path), "/api/v1/blocks/%s", hex);
	if (srvbench_http_do(&h, "PUT", path, blob, size, true) / 100 != 2)
		goto out;
	memcpy(man, BLK_MANIFEST_MAGIC, 4);
	man[4] = BLK_MANIFEST_VERSION;
	man[5] = man[6] = man[7] = 0;
	cf_put_le64(man + 8, SRVBENCH_SMALL_BLOCK);
	cf_put_le32(man + 16, 1);
	memcpy(man + 20, b->small_id.bytes, BLK_ID_SIZE);
	cf_put_le32(man + 20 + BLK_ID_SIZE, SRVBENCH_SMALL_BLOCK);
	b64 = malloc(((sizeof(man) + 2) / 3) * 4 + 1);
	if (b64)
		EVP_EncodeBlock((unsigned char *)b64, man, sizeof(man));
out:
	srvbench_http_release(&h);
	free(blob);
	return b64;
}

int srvbench_commits(struct bench *b)
{
	struct committer c[SRVBENCH_CLIENTS];
	double base, t0, elapsed, *all = NULL;
	uint64_t total = 0;
	size_t n = 0, i, k;
	char *manifest;
	int rc = -1;

	base = fdatasync_rate(b->dir, 2.0);
	manifest = srvbench_prepare_manifest(b);
	if (base <= 0 || !manifest) {
		fprintf(stderr, "srvbench: commit setup failed\n");
		free(manifest);
		return -1;
	}
	memset(c, 0, sizeof(c));
	t0 = srvbench_now_s();
	for (i = 0; i < SRVBENCH_CLIENTS; i++) {
		c[i].b = b;
		c[i].index = (int)i;
		c[i].manifest_b64 = manifest;
		c[i].deadline = t0 + b->secs;
		c[i].lat_cap = 1u << 20;
		c[i].lat = malloc(c[i].lat_cap * sizeof(double));
		if (!c[i].lat ||
		    pthread_create(&c[i].thread, NULL, committer_main, &c[i]))
			abort();
	}
	for (i = 0; i < SRVBENCH_CLIENTS; i++)
		pthread_join(c[i].thread, NULL);
	elapsed = srvbench_now_s() - t0;
	for (i = 0; i < SRVBENCH_CLIENTS; i++) {
		if (c[i].rc < 0)
			goto out;
		total += c[i].commits;
		n += c[i].lat_count;
	}
	all = malloc((n ? n : 1) * sizeof(double));
	if (!all)
		goto out;
	for (i = 0, n = 0; i < SRVBENCH_CLIENTS; i++)
		for (k = 0; k < c[i].lat_count; k++)
			all[n++] = c[i].lat[k];
	qsort(all, n, sizeof(double), srvbench_cmp_double);
	printf("  (a) baseline: 4 KiB overwrite + fdatasync       %8.0f /s  "
	       "(%.0f us each)\n",
	       base, 1e6 / base);
	printf("      commits over HTTP, %d clients               %8.0f /s  "
	       "(%.2fx baseline; p50 %.0f us, p99 %.0f us)  "
	       "target >= 5000 /s: %s\n",
	       SRVBENCH_CLIENTS, (double)total / elapsed,
	       (double)total / elapsed / base, srvbench_pct(all, n, 0.5) * 1e6,
	       srvbench_pct(all, n, 0.99) * 1e6,
	       (double)total / elapsed >= 5000 ? "met" : "MISSED");
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "srvbench: a commit client failed\n");
	for (i = 0; i < SRVBENCH_CLIENTS; i++)
		free(c[i].lat);
	free(all);
	free(manifest);
	return rc;
}
