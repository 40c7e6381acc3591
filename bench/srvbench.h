/* SPDX-License-Identifier: MIT */
/*
 * What the parts of srvbench share: the run (struct bench), a libcurl
 * client of the server it started, a block blob the server accepts, and
 * timing and percentiles. srvbench.c holds main and these helpers.
 * A struct http is used by one thread; struct bench is set up by main and
 * read by the parts' threads (srvbench_prepare_manifest sets small_id).
 */
#ifndef CLOUDFS_SRVBENCH_H
#define CLOUDFS_SRVBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

#include "blk/proto.h"
#include "cf_buf.h"

#define SRVBENCH_CLIENTS     4 /* HTTP clients of (a) and (b) */
#define SRVBENCH_SMALL_BLOCK 1000 /* payload of the block every commit names */

struct bench {
	const char *cloudfsd;
	const char *wsfloor; /* bench/wsfloor: (c)'s baseline server */
	char dir[4096];
	char data[4200];
	double secs;
	unsigned put_mib;
	int ws_count;
	int commits;
	pid_t server;
	int port;
	char base[64]; /* http://127.0.0.1:PORT */
	char token[128];
	int64_t user_id;
	struct blk_id small_id;
};

struct http {
	CURL *curl;
	struct curl_slist *json_hdrs, *bin_hdrs;
	struct cf_buf resp;
	const struct bench *b;
};

/* Seconds on CLOCK_MONOTONIC. */
double srvbench_now_s(void);

/* qsort comparator: doubles in ascending order. */
int srvbench_cmp_double(const void *a, const void *b);

/* The p quantile (0 to 1) of v[0..n), sorted; 0 when n is 0. */
double srvbench_pct(double *v, size_t n, double p);

/*
 * A raw-codec blob of payload random bytes (CF_DIRECT_ALIGN-aligned) that
 * the server's blk_blob_check accepts; *out_size gets its size. NULL on
 * failure; the caller owns it (free).
 */
uint8_t *srvbench_blob_new(size_t payload, size_t *out_size);

/* Set the first 8 payload bytes of blob b to tag, so each id differs. */
void srvbench_blob_stamp(uint8_t *b, uint64_t tag);

/*
 * Set up h for b's server (b borrowed until release), sending b->token
 * when auth. 0 or -ENOMEM; call srvbench_http_release either way.
 */
int srvbench_http_init(struct http *h, const struct bench *b, bool auth);

void srvbench_http_release(struct http *h);

/*
 * One request to path (blocks, 60 s at most); body (borrowed) may be
 * NULL. The HTTP status, or -1 without an answer; the body is h->resp.
 */
long srvbench_http_do(struct http *h, const char *method, const char *path,
		      const void *body, size_t size, bool binary);

/*
 * One JSON request: body is consumed (NULL sends {}); *out, unless out is
 * NULL, gets the parsed answer (caller owns; NULL if none). The status.
 */
long srvbench_http_json(struct http *h, const char *method, const char *path,
			json_t *body, json_t **out);

/*
 * (a): durable commits/s of SRVBENCH_CLIENTS clients
 * against rounds of 4 KiB write + fdatasync. 0, or -1 (said on stderr).
 */
int srvbench_commits(struct bench *b);

#define SRVBENCH_COMMIT_PATH_SIZE 128

/*
 * Create an empty file name in the root; path gets the URL path of its
 * commits. 0 or -1.
 */
int srvbench_file_new(struct http *h, const char *name,
		      char path[SRVBENCH_COMMIT_PATH_SIZE]);

/*
 * Commit a new version of the file at path (from srvbench_file_new) whose
 * content is manifest (base64), on top of *version, which the answer
 * updates. The HTTP status.
 */
long srvbench_commit(struct http *h, const char *path, const char *manifest,
		     uint64_t *version);

/*
 * PUT the one small block every commit's manifest names (b->small_id)
 * and return that manifest in base64, or NULL; the caller owns it (free).
 */
char *srvbench_prepare_manifest(struct bench *b);

/*
 * (b): 1 MiB block PUTs against the same files written
 * here durably, buffered and with O_DIRECT. 0, or -1 (said on stderr).
 */
int srvbench_puts(struct bench *b);

/*
 * Start b->wsfloor on a free port: *floor becomes a copy of b that points
 * at it (server, port, base). 0, or -1 (said on stderr). Stop it with
 * srvbench_wsfloor_stop.
 */
int srvbench_wsfloor_start(const struct bench *b, struct bench *floor);
void srvbench_wsfloor_stop(struct bench *floor);

/*
 * (c): b->ws_count idle WebSockets (server RSS each), then b->commits
 * commits and their delivery latency. 0, or -1 when it could not start
 * or a delivery is missing.
 */
int srvbench_websockets(struct bench *b);

#endif /* CLOUDFS_SRVBENCH_H */
