/* SPDX-License-Identifier: MIT */
/*
 * srvbench: cloudfsd end to end on loopback, each figure beside its
 * baseline on the same disk:
 *   (a) durable commits/s with 4 libcurl clients (each commits new
 *       versions of its own file, a tiny manifest whose block was PUT
 *       once) vs. rounds of 4 KiB write + fdatasync;
 *   (b) PUT of 1 MiB blocks with 4 clients vs. the same bytes written by
 *       4 threads here with fsync + rename + directory fsync;
 *   (c) N WebSocket clients of one account held by this process (one lws
 *       client context): server RSS per idle connection from VmRSS before
 *       and after, then K commits and the delivery latency from just
 *       before each commit request to receipt on every client.
 * It starts its own cloudfsd (--cloudfsd PATH) on a free loopback port in
 * a temporary directory under --dir and stops it by PID at the end.
 * This file holds main, the server process, login and the helpers the
 * parts share (srvbench.h); the parts are srvbench_commit.c (a),
 * srvbench_put.c (b) and srvbench_ws.c (c).
 *
 * Usage: srvbench [--cloudfsd PATH] [--dir DIR] [--seconds N]
 *                 [--put-mib N] [--ws N] [--commits K] [--keep]
 * (--keep leaves the directory and the server log behind)
 */
#include "srvbench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/rand.h>

#include "blk/keys.h"
#include "blk/proto.h"
#include "cf_buf.h"
#include "cf_file.h"
#include "cf_log.h"
#include "cf_util.h"

#define USER	 "bench"
#define PASSWORD "srvbench password"
#define RESP_MAX (2u << 20) /* the largest answer: a block GET */

double srvbench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int srvbench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double srvbench_pct(double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* ----- a raw-codec blob the server's blk_blob_check accepts ----- */

/*
 * header (magic, version 1, codec raw, flags 0, size, nonce) || payload ||
 * tag: the server verifies the layout and the id, not the AEAD tag.
 * payload is filled with random bytes; the first 8 are set to tag so each
 * blob (and id) is distinct.
 */
uint8_t *srvbench_blob_new(size_t payload, size_t *out_size)
{
	size_t size = BLK_HEADER_SIZE + payload + BLK_TAG_SIZE;
	void *mem;
	uint8_t *b;

	/* aligned, so the O_DIRECT baseline writes it as the server would */
	if (posix_memalign(&mem, CF_DIRECT_ALIGN, size))
		return NULL;
	b = mem;
	memcpy(b, BLK_MAGIC, BLK_MAGIC_SIZE);
	b[4] = BLK_FORMAT_VERSION;
	b[5] = BLK_CODEC_RAW;
	b[6] = b[7] = 0;
	cf_put_le32(b + 8, (uint32_t)payload);
	if (RAND_bytes(b + 12, (int)(size - 12)) != 1) {
		free(b);
		return NULL;
	}
	*out_size = size;
	return b;
}

void srvbench_blob_stamp(uint8_t *b, uint64_t tag)
{
	cf_put_le64(b + BLK_HEADER_SIZE, tag);
}

/* ----- HTTP with libcurl ----- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http *h = arg;

	return cf_buf_append(&h->resp, p, size * n) < 0 ? 0 : size * n;
}

int srvbench_http_init(struct http *h, const struct bench *b, bool auth)
{
	char hdr[200];

	memset(h, 0, sizeof(*h));
	h->b = b;
	cf_buf_init(&h->resp, RESP_MAX);
	h->curl = curl_easy_init();
	if (!h->curl)
		return -ENOMEM;
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", b->token);
	h->json_hdrs =
		curl_slist_append(NULL, "Content-Type: application/json");
	h->bin_hdrs = curl_slist_append(
		NULL, "Content-Type: application/octet-stream");
	/* as the client does: no 100-continue round trip before a body */
	h->json_hdrs = curl_slist_append(h->json_hdrs, "Expect:");
	h->bin_hdrs = curl_slist_append(h->bin_hdrs, "Expect:");
	if (auth) {
		h->json_hdrs = curl_slist_append(h->json_hdrs, hdr);
		h->bin_hdrs = curl_slist_append(h->bin_hdrs, hdr);
	}
	if (!h->json_hdrs || !h->bin_hdrs)
		return -ENOMEM;
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	return 0;
}

void srvbench_http_release(struct http *h)
{
	curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->json_hdrs);
	curl_slist_free_all(h->bin_hdrs);
	cf_buf_release(&h->resp);
}

/* One request; body may be NULL. The answer is in h->resp. */
long srvbench_http_do(struct http *h, const char *method, const char *path,
		      const void *body, size_t size, bool binary)
{
	char url[512];
	long status = 0;

	snprintf(url, sizeof(url), "%s%s", h->b->base, path);
	cf_buf_reset(&h->resp);
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER,
			 binary ? h->bin_hdrs : h->json_hdrs);
	if (body) {
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)size);
	} else {
		curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
	if (curl_easy_perform(h->curl) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* POST/PATCH json (consumed); *out the parsed answer (caller owns). */
long srvbench_http_json(struct http *h, const char *method, const char *path,
			json_t *body, json_t **out)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long status;

	json_decref(body);
	status = srvbench_http_do(h, method, path, text ? text : "{}",
				  text ? strlen(text) : 2, false);
	free(text);
	if (out)
		*out = status > 0
			       ? json_loadb(h->resp.data, h->resp.len, 0, NULL)
			       : NULL;
	return status;
}

/* ----- the server process ----- */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd, port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* In the child: execv wants mutable strings. */
static void exec_args(const char *prog, const char *const args[])
{
	char **v;
	size_t n = 0, i;

	while (args[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return;
	for (i = 0; i < n; i++)
		if (!(v[i] = strdup(args[i])))
			return;
	execv(prog, v);
}

/*
 * Run args[0] (cloudfsd or wsfloor) with args, output to the run's
 * server.log; stdin from in (may be NULL); wait when !bg.
 */
static pid_t run_child(const struct bench *b, const char *const args[],
		       const char *in, bool bg, int *out_status)
{
	char log[4300];
	int pfd[2] = { -1, -1 }, fd, st;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/server.log", b->dir);
	if (in && pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (in) {
			dup2(pfd[0], 0);
			close(pfd[1]);
		}
		exec_args(args[0], args);
		_exit(127);
	}
	if (in) {
		close(pfd[0]);
		if (cf_write_full(pfd[1], in, strlen(in)) < 0)
			fprintf(stderr, "srvbench: cannot feed cloudfsd\n");
		close(pfd[1]);
	}
	if (bg)
		return pid;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	*out_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	return pid;
}

/* Wait up to 10 s for b's server to answer GET path with 200. */
static int wait_answering(struct bench *b, const char *path)
{
	struct http h;
	long status = -1;
	int st, i;

	if (srvbench_http_init(&h, b, false) < 0)
		return -1;
	for (i = 0; i < 200; i++) {
		status = srvbench_http_do(&h, "GET", path, NULL, 0, false);
		if (status == 200)
			break;
		if (waitpid(b->server, &st, WNOHANG) == b->server) {
			b->server = -1;
			break;
		}
		usleep(50 * 1000);
	}
	srvbench_http_release(&h);
	return status == 200 ? 0 : -1;
}

/* Start cloudfsd on a free port; first create the account (add_user). */
static int start_server(struct bench *b, bool add_user)
{
	const char *argv[32];
	char listen[32];
	int st = 0, argc = 0;

	argv[argc++] = b->cloudfsd;
	argv[argc++] = "--data";
	argv[argc++] = b->data;
	argv[argc++] = "user";
	argv[argc++] = "add";
	argv[argc++] = USER;
	argv[argc++] = "--password-stdin";
	argv[argc] = NULL;
	if (add_user &&
	    (run_child(b, argv, PASSWORD "\n", false, &st) < 0 || st != 0)) {
		fprintf(stderr,
			"srvbench: cloudfsd user add failed (%d); "
			"see %s/server.log\n",
			st, b->dir);
		return -1;
	}
	b->port = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", b->port);
	snprintf(b->base, sizeof(b->base), "http://%s", listen);
	argc = 0;
	argv[argc++] = b->cloudfsd;
	argv[argc++] = "serve";
	argv[argc++] = "--data";
	argv[argc++] = b->data;
	argv[argc++] = "--listen";
	argv[argc++] = listen;
	argv[argc++] = "--set";
	argv[argc++] = "rate_per_second=100000000";
	argv[argc++] = "--set";
	argv[argc++] = "rate_burst=100000000";
	argv[argc] = NULL;
	b->server = run_child(b, argv, NULL, true, &st);
	if (b->server < 0)
		return -1;
	if (wait_answering(b, "/metrics") < 0) {
		fprintf(stderr,
			"srvbench: cloudfsd did not start; see "
			"%s/server.log\n",
			b->dir);
		return -1;
	}
	return 0;
}

static void stop_server(struct bench *b)
{
	int st, i;

	if (b->server <= 0)
		return;
	kill(b->server, SIGTERM);
	for (i = 0; i < 300; i++) {
		if (waitpid(b->server, &st, WNOHANG) == b->server) {
			b->server = -1;
			return;
		}
		usleep(50 * 1000);
	}
	kill(b->server, SIGKILL);
	waitpid(b->server, &st, 0);
	b->server = -1;
}

int srvbench_wsfloor_start(const struct bench *b, struct bench *floor)
{
	const char *argv[3];
	char port[16];
	int st;

	*floor = *b;
	floor->port = free_port();
	snprintf(port, sizeof(port), "%d", floor->port);
	snprintf(floor->base, sizeof(floor->base), "http://127.0.0.1:%d",
		 floor->port);
	argv[0] = b->wsfloor;
	argv[1] = port;
	argv[2] = NULL;
	floor->server = run_child(floor, argv, NULL, true, &st);
	if (floor->server < 0 || wait_answering(floor, "/") < 0) {
		fprintf(stderr,
			"srvbench: %s did not start; see %s/server.log\n",
			b->wsfloor, b->dir);
		stop_server(floor);
		return -1;
	}
	return 0;
}

void srvbench_wsfloor_stop(struct bench *floor)
{
	stop_server(floor);
}

/* ----- login: what a client does ----- */

static int hex_to(const char *hex, uint8_t *out, size_t size)
{
	size_t i;
	unsigned v;

	if (!hex || strlen(hex) != 2 * size)
		return -EINVAL;
	for (i = 0; i < size; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int login(struct bench *b)
{
	struct blk_kdf_params kdf = BLK_KDF_PARAMS_DEFAULT;
	uint8_t salt[BLK_SALT_SIZE], master[BLK_KEY_SIZE], key[BLK_KEY_SIZE];
	char key_hex[2 * BLK_KEY_SIZE + 1];
	json_t *ans = NULL;
	struct http h;
	int rc = -1, i;

	if (srvbench_http_init(&h, b, false) < 0)
		goto out;
	if (srvbench_http_json(&h, "POST", "/api/v1/prelogin",
			       json_pack("{s:s}", "user", USER), &ans) != 200 ||
	    hex_to(json_string_value(json_object_get(ans, "salt")), salt,
		   sizeof(salt)) < 0)
		goto out;
	kdf.n = (uint64_t)json_integer_value(
		json_object_get(json_object_get(ans, "kdf"), "n"));
	kdf.r = (uint32_t)json_integer_value(
		json_object_get(json_object_get(ans, "kdf"), "r"));
	kdf.p = (uint32_t)json_integer_value(
		json_object_get(json_object_get(ans, "kdf"), "p"));
	json_decref(ans);
	ans = NULL;
	if (blk_kdf_master(PASSWORD, strlen(PASSWORD), salt, &kdf, master) <
		    0 ||
	    blk_keys_auth_key(master, key) < 0)
		goto out;
	for (i = 0; i < BLK_KEY_SIZE; i++)
		snprintf(key_hex + 2 * i, 3, "%02x", key[i]);
	if (srvbench_http_json(&h, "POST", "/api/v1/login",
			       json_pack("{s:s, s:s, s:s}", "user", USER,
					 "auth_key", key_hex, "device",
					 "srvbench"),
			       &ans) != 200 ||
	    !json_string_value(json_object_get(ans, "token")))
		goto out;
	snprintf(b->token, sizeof(b->token), "%s",
		 json_string_value(json_object_get(ans, "token")));
	b->user_id = json_integer_value(json_object_get(ans, "user_id"));
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "srvbench: login failed\n");
	json_decref(ans);
	srvbench_http_release(&h);
	return rc;
}

/* ----- main ----- */

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cloudfsd", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 's' },
		{ "put-mib", required_argument, NULL, 'p' },
		{ "ws", required_argument, NULL, 'w' },
		{ "commits", required_argument, NULL, 'k' },
		{ "wsfloor", required_argument, NULL, 'f' },
		{ "keep", no_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b;
	struct rlimit rl;
	const char *base = ".";
	bool keep = false;
	long v;
	int opt, rc = 1;

	memset(&b, 0, sizeof(b));
	b.cloudfsd = "build/cloudfsd";
	b.wsfloor = "build/bench/wsfloor";
	b.secs = 5;
	b.put_mib = 256;
	b.ws_count = 10000;
	b.commits = 20;
	b.server = -1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'K') {
			keep = true;
			continue;
		}
		if (opt == 'c' || opt == 'd' || opt == 'f') {
			if (opt == 'c')
				b.cloudfsd = optarg;
			else if (opt == 'f')
				b.wsfloor = optarg;
			else
				base = optarg;
			continue;
		}
		if (opt == '?' ||
		    parse_num(optarg, opt == 's' ? 1 : 0, 1000000, &v) < 0) {
			fprintf(stderr,
				"usage: srvbench [--cloudfsd PATH] [--dir DIR] "
				"[--seconds N] [--put-mib N] [--ws N] "
				"[--commits K] [--wsfloor PATH] [--keep]\n");
			return 2;
		}
		if (opt == 's')
			b.secs = (double)v;
		else if (opt == 'p')
			b.put_mib = (unsigned)v;
		else if (opt == 'w')
			b.ws_count = (int)v;
		else
			b.commits = (int)v;
	}
	signal(SIGPIPE, SIG_IGN);
	cf_log_setup("srvbench", LOG_WARNING, NULL);
	lws_set_log_level(LLL_ERR, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* 10,000 sockets here and as many in the server (it inherits this) */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(b.dir, sizeof(b.dir), "%s/srvbench.XXXXXX", base);
	if (!mkdtemp(b.dir)) {
		fprintf(stderr, "srvbench: cannot make a directory in %s\n",
			base);
		return 1;
	}
	snprintf(b.data, sizeof(b.data), "%s/data", b.dir);
	if (start_server(&b, true) < 0 || login(&b) < 0)
		goto out;
	printf("srvbench: cloudfsd %s on 127.0.0.1:%d, data in %s\n",
	       b.cloudfsd, b.port, b.dir);
	fflush(stdout);
	if (srvbench_commits(&b) < 0)
		goto out;
	fflush(stdout);
	if (b.put_mib && srvbench_puts(&b) < 0)
		goto out;
	fflush(stdout);
	/*
	 * A fresh server for (c): its heap holds nothing freed by (a) and (b)
	 * that the connections could reuse, so the RSS delta is theirs.
	 */
	if (b.ws_count) {
		stop_server(&b);
		if (start_server(&b, false) < 0)
			goto out;
	}
	if (b.ws_count && srvbench_websockets(&b) < 0)
		goto out;
	rc = 0;
out:
	stop_server(&b);
	if (rc || keep)
		fprintf(stderr, "srvbench: %s; server log kept in %s\n",
			rc ? "failed" : "done", b.dir);
	else
		nftw(b.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	curl_global_cleanup();
	return rc;
}
