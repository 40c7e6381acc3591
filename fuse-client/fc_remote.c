/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd API client, the transport half (the routes are in
 * fc_remote_api.c and fc_remote_tree.c, the JSON helpers they use in
 * fc_remote_json.c): on libcurl + jansson. A call borrows an easy handle
 * from a small pool (so kept-alive connections are reused across calls
 * and threads), sets every option again after curl_easy_reset, runs, and
 * turns the outcome into 0 or a negative errno in fc_remote_error, the
 * only place that knows about CURLcode and HTTP statuses. Block uploads
 * run several at once on a curl multi handle.
 *
 * Lock order: r->lock is a leaf (held only to copy the token or to move a
 * handle in or out of the pool; never across a transfer).
 */
#include "fc_remote.h"
#include "fc_remote_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "remote"
#include "cf_hex.h"
#include "cf_log.h"

#define POOL_MAX	   16
#define JSON_MAX	   (64u * 1024 * 1024) /* a changes page, a big manifest */
#define ERR_BODY_MAX	   (64u * 1024)
#define API_PREFIX	   "/api/v1"
#define RETRY_MAX_S	   300
#define BACKOFF_DEFAULT_MS 1000
#define BACKOFF_MAX_MS	   (5 * 60 * 1000)
#define AUTH_PREFIX	   "Authorization: Bearer "

struct fc_remote {
	CURLU *base; /* owned */
	char *base_path; /* owned; no trailing '/' */
	long connect_ms, timeout_ms, block_ms;
	char *ca_file; /* owned, may be NULL */
	char *user_agent; /* owned */
	pthread_mutex_t lock;
	char token[FC_TOKEN_HEX_SIZE]; /* protected by ->lock; "" = none */
	CURL *pool[POOL_MAX]; /* protected by ->lock */
	size_t pool_count; /* protected by ->lock */
	atomic_bool connected;
	atomic_bool cancel; /* abort transfers: shutting down */
	atomic_llong backoff_until; /* CLOCK_MONOTONIC ms */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ----- error mapping ----- */

struct code_errno {
	const char *code;
	int err;
};

/* The server's JSON error codes that name a specific errno. */
static const struct code_errno code_table[] = {
	{ "stale_version", -ESTALE },  { "missing_blocks", -ENODATA },
	{ "not_empty", -ENOTEMPTY },   { "not_a_directory", -ENOTDIR },
	{ "not_dir", -ENOTDIR },       { "is_a_directory", -EISDIR },
	{ "is_dir", -EISDIR },	       { "name_too_long", -ENAMETOOLONG },
	{ "quota_exceeded", -EDQUOT }, { "too_many_links", -EMLINK },
	{ "bad_block", -EBADMSG },     { "bad_name", -EINVAL },
	{ "exists", -EEXIST },	       { "already_exists", -EEXIST },
	{ "not_found", -ENOENT },      { "invalid_argument", -EINVAL },
	{ "too_large", -EFBIG },       { "file_too_large", -EFBIG },
	{ "unauthorized", -EACCES },   { "forbidden", -EPERM },
	{ "not_permitted", -EPERM },   { "rate_limited", -EAGAIN },
	{ "unavailable", -EAGAIN },    { "busy", -EAGAIN },
	{ "resync_required", -ERANGE },
};

static int curl_errno(int cc)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return -ENOTCONN;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -EPROTO;
	default:
		return -EIO;
	}
}

int fc_remote_error(int curl_code, long http_status, const char *error_code)
{
	size_t i;
	int err;

	if (curl_code != CURLE_OK)
		return curl_errno(curl_code);
	if (http_status >= 200 && http_status < 300)
		return 0;
	/* a full server disk: retry too, but say why nothing moves */
	if (http_status == 503 && error_code && !strcmp(error_code, "no_space"))
		return -ENOSPC;
	if (http_status == 429 || http_status == 503)
		return -EAGAIN;
	if (http_status == 401)
		return -EACCES;
	if (error_code && http_status >= 400 && http_status < 500) {
		for (i = 0; i < CF_ARRAY_SIZE(code_table); i++) {
			if (strcmp(code_table[i].code, error_code))
				continue;
			err = code_table[i].err;
			/* a code never turns a client error into "retry" */
			if (err != -EAGAIN)
				return err;
		}
	}
	switch (http_status) {
	case 400:
		return -EINVAL;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 408: /* the body came too slowly: sent again, later */
		return -ETIMEDOUT;
	case 409:
		return -EEXIST;
	case 413:
		return -EFBIG;
	case 416:
		return -EINVAL;
	default:
		break;
	}
	if (http_status >= 500)
		return -EIO;
	return http_status >= 300 && http_status < 400 ? -EPROTO : -EIO;
}

bool fc_remote_is_transient(int rc)
{
	return rc == -ENOTCONN || rc == -ETIMEDOUT || rc == -EAGAIN ||
	       rc == -EIO || rc == -ENOMEM || rc == -ENOSPC;
}

/* ----- lifecycle ----- */

int fc_remote_new(const struct fc_remote_opts *opts, struct fc_remote **out)
{
	struct fc_remote *r = NULL;
	char *scheme = NULL, *path = NULL;
	bool global = false;
	size_t len;
	int rc;

	*out = NULL;
	if (!opts || !opts->base_url)
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	global = true;
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	rc = pthread_mutex_init(&r->lock, NULL);
	if (rc) {
		free(r);
		r = NULL;
		rc = -rc;
		goto out;
	}
	r->base = curl_url();
	if (!r->base) {
		rc = -ENOMEM;
		goto out;
	}
	if (curl_url_set(r->base, CURLUPART_URL, opts->base_url, 0) ||
	    curl_url_get(r->base, CURLUPART_SCHEME, &scheme, 0) ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		rc = -EINVAL;
		goto out;
	}
	curl_url_set(r->base, CURLUPART_QUERY, NULL, 0);
	curl_url_set(r->base, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(r->base, CURLUPART_PATH, &path, 0)) {
		rc = -EINVAL;
		goto out;
	}
	len = strlen(path);
	while (len && path[len - 1] == '/')
		len--;
	r->base_path = strndup(path, len);
	r->user_agent = strdup(opts->user_agent ? opts->user_agent : "cloudfs");
	r->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
	if (!r->base_path || !r->user_agent || (opts->ca_file && !r->ca_file)) {
		rc = -ENOMEM;
		goto out;
	}
	r->connect_ms =
		opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
	r->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
	r->block_ms =
		opts->block_timeout_ms > 0 ? opts->block_timeout_ms : 120000;
	atomic_init(&r->connected, false);
	atomic_init(&r->cancel, false);
	atomic_init(&r->backoff_until, 0);
	*out = r;
	r = NULL;
	global = false;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(path);
	if (r)
		fc_remote_free(r);
	else if (global)
		curl_global_cleanup();
	return rc;
}

void fc_remote_free(struct fc_remote *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->pool_count; i++)
		curl_easy_cleanup(r->pool[i]);
	curl_url_cleanup(r->base);
	free(r->base_path);
	free(r->ca_file);
	free(r->user_agent);
	OPENSSL_cleanse(r->token, sizeof(r->token));
	pthread_mutex_destroy(&r->lock);
	free(r);
	curl_global_cleanup();
}

int fc_remote_set_token(struct fc_remote *r, const char *token_hex)
{
	uint8_t raw[FC_TOKEN_SIZE];

	if (token_hex &&
	    cf_hex_decode(token_hex, strlen(token_hex), raw, sizeof(raw)) < 0)
		return -EINVAL;
	OPENSSL_cleanse(raw, sizeof(raw));
	pthread_mutex_lock(&r->lock);
	OPENSSL_cleanse(r->token, sizeof(r->token));
	if (token_hex)
		memcpy(r->token, token_hex, FC_TOKEN_HEX_SIZE - 1);
	r->token[FC_TOKEN_HEX_SIZE - 1] = '\0';
	pthread_mutex_unlock(&r->lock);
	return 0;
}

bool fc_remote_is_connected(const struct fc_remote *r)
{
	return atomic_load(&r->connected);
}

void fc_remote_cancel(struct fc_remote *r, bool cancel)
{
	atomic_store(&r->cancel, cancel);
}

long fc_remote_backoff_ms(const struct fc_remote *r)
{
	int64_t until = atomic_load(&r->backoff_until);
	int64_t now = now_ms();

	return until > now ? (long)(until - now) : 0;
}

int64_t fc_remote_retry_ns(const struct fc_remote *r, uint32_t attempts)
{
	int64_t s = (int64_t)1 << CF_MIN(attempts, 8u);

	if (s > RETRY_MAX_S)
		s = RETRY_MAX_S;
	return s * 1000000000 + (int64_t)fc_remote_backoff_ms(r) * 1000000;
}

/* ----- handles ----- */

static CURL *handle_get(struct fc_remote *r)
{
	CURL *h = NULL;

	pthread_mutex_lock(&r->lock);
	if (r->pool_count)
		h = r->pool[--r->pool_count];
	pthread_mutex_unlock(&r->lock);
	if (!h)
		h = curl_easy_init();
	return h;
}

static void handle_put(struct fc_remote *r, CURL *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->pool_count < POOL_MAX) {
		r->pool[r->pool_count++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ----- one call ----- */

/* Abort a transfer in flight when the client shuts down. */
static int xfer_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		   curl_off_t ultotal, curl_off_t ulnow)
{
	struct fc_remote *r = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&r->cancel) ? 1 : 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct call *c = arg;
	struct cf_buf *b = c->sink ? c->sink : &c->resp;
	size_t n = size * nmemb;

	if (cf_buf_append(b, data, n) < 0) {
		c->overflow = true;
		return 0;
	}
	return n;
}

void fc_remote_call_init(struct call *c, const char *method)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->auth = true;
	cf_buf_init(&c->resp, JSON_MAX);
}

void fc_remote_call_release(struct call *c)
{
	curl_slist_free_all(c->hdrs);
	c->hdrs = NULL;
	curl_url_cleanup(c->url);
	c->url = NULL;
	free(c->body_text);
	c->body_text = NULL;
	cf_buf_release(&c->resp);
	json_decref(c->json);
	c->json = NULL;
	json_decref(c->err);
	c->err = NULL;
}

/* printf into c->path; -ENAMETOOLONG when it does not fit. */
int fc_remote_call_path(struct call *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->path, sizeof(c->path), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(c->path))
		return -ENAMETOOLONG;
	return 0;
}

static int hdr_add(struct curl_slist **list, const char *h)
{
	struct curl_slist *n = curl_slist_append(*list, h);

	if (!n)
		return -ENOMEM;
	*list = n;
	return 0;
}

/* Prepare c->h for c. */
static int call_setup(struct fc_remote *r, struct call *c)
{
	char auth[sizeof(AUTH_PREFIX) + FC_TOKEN_HEX_SIZE];
	struct cf_buf path;
	CURL *h = c->h;
	int rc = 0;

	cf_buf_init(&path, 8192);
	c->url = curl_url_dup(r->base);
	if (!c->url)
		return -ENOMEM;
	if (cf_buf_appendf(&path, "%s%s%s", r->base_path, API_PREFIX, c->path) <
	    0) {
		rc = -ENOMEM;
		goto out;
	}
	if (curl_url_set(c->url, CURLUPART_PATH, path.data, 0)) {
		rc = -EINVAL;
		goto out;
	}
	if (c->query[0] && curl_url_set(c->url, CURLUPART_QUERY, c->query, 0)) {
		rc = -EINVAL;
		goto out;
	}
	if (c->query_path) {
		cf_buf_reset(&path);
		if (cf_buf_appendf(&path, "path=%s", c->query_path) < 0 ||
		    curl_url_set(c->url, CURLUPART_QUERY, path.data,
				 CURLU_APPENDQUERY | CURLU_URLENCODE)) {
			rc = -ENAMETOOLONG;
			goto out;
		}
	}

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_CURLU, c->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
			 c->block ? r->block_ms : r->timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, r->user_agent);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (r->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);

	rc = hdr_add(&c->hdrs, "Expect:");
	if (!rc)
		rc = hdr_add(&c->hdrs,
			     c->sink ? "Accept: application/octet-stream"
				     : "Accept: application/json");
	if (rc)
		goto out;
	if (c->auth) {
		pthread_mutex_lock(&r->lock);
		memcpy(auth, AUTH_PREFIX, sizeof(AUTH_PREFIX) - 1);
		memcpy(auth + sizeof(AUTH_PREFIX) - 1, r->token,
		       sizeof(r->token));
		pthread_mutex_unlock(&r->lock);
		if (auth[sizeof(AUTH_PREFIX) - 1])
			rc = hdr_add(&c->hdrs, auth);
		OPENSSL_cleanse(auth, sizeof(auth));
		if (rc)
			goto out;
	}
	if (c->body) {
		c->body_text = json_dumps(c->body, JSON_COMPACT);
		if (!c->body_text) {
			rc = -ENOMEM;
			goto out;
		}
		rc = hdr_add(&c->hdrs, "Content-Type: application/json");
		if (rc)
			goto out;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body_text);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(c->body_text));
	} else if (c->has_raw) {
		rc = hdr_add(&c->hdrs,
			     "Content-Type: application/octet-stream");
		if (rc)
			goto out;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->raw);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)c->raw_size);
	} else if (strcmp(c->method, "GET") && strcmp(c->method, "HEAD")) {
		/* a bodiless POST/DELETE still sends Content-Length: 0 */
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	if (!strcmp(c->method, "GET"))
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else if (!strcmp(c->method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(c->method, "POST"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
out:
	cf_buf_release(&path);
	return rc;
}

/* Turn the transfer's outcome into an errno, parse JSON, note backoff. */
static int call_finish(struct fc_remote *r, struct call *c, CURLcode cc)
{
	const char *code = NULL;
	curl_off_t retry = 0;
	json_error_t jerr;
	long status = 0;
	int rc;

	if (cc == CURLE_OK || cc == CURLE_WRITE_ERROR)
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	c->status = status;
	atomic_store(&r->connected, status != 0);
	if (cc == CURLE_WRITE_ERROR && c->overflow) {
		cf_warn("%s %s: answer larger than allowed", c->method,
			c->path);
		return -EPROTO;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		atomic_store(&r->connected, true); /* we hung up, not them */
	if (cc != CURLE_OK) {
		rc = fc_remote_error(cc, 0, NULL);
		cf_dbg("%s %s: %s", c->method, c->path, curl_easy_strerror(cc));
		return rc;
	}
	if (status == 429 || status == 503) {
		int64_t ms = BACKOFF_DEFAULT_MS;

		if (curl_easy_getinfo(c->h, CURLINFO_RETRY_AFTER, &retry) ==
			    CURLE_OK &&
		    retry > 0)
			ms = retry > BACKOFF_MAX_MS / 1000 ? BACKOFF_MAX_MS
							   : retry * 1000;
		atomic_store(&r->backoff_until, now_ms() + ms);
	}
	if (status >= 200 && status < 300) {
		if (c->sink || !strcmp(c->method, "HEAD"))
			return 0;
		if (!c->resp.len)
			return 0;
		c->json = json_loadb(c->resp.data, c->resp.len, 0, &jerr);
		if (!c->json || !json_is_object(c->json)) {
			cf_warn("%s %s: bad json answer: %s", c->method,
				c->path, c->json ? "not an object" : jerr.text);
			return -EPROTO;
		}
		return 0;
	}
	if (c->sink) {
		/* an error body landed in the caller's buffer: parse it there */
		c->err = json_loadb(c->sink->data, c->sink->len, 0, &jerr);
		cf_buf_reset(c->sink);
	} else {
		c->err = json_loadb(c->resp.data, c->resp.len, 0, &jerr);
	}
	if (c->err && json_is_object(c->err))
		code = json_string_value(json_object_get(c->err, "error"));
	rc = fc_remote_error(CURLE_OK, status, code);
	cf_dbg("%s %s: http %ld %s", c->method, c->path, status,
	       code ? code : "");
	return rc;
}

int fc_remote_call_run(struct fc_remote *r, struct call *c)
{
	CURLcode cc;
	int rc;

	c->h = handle_get(r);
	if (!c->h)
		return -ENOMEM;
	rc = call_setup(r, c);
	if (rc == 0) {
		cc = curl_easy_perform(c->h);
		rc = call_finish(r, c, cc);
	}
	handle_put(r, c->h);
	c->h = NULL;
	return rc;
}

/* ----- blocks (bulk transfers live next to the handles) ----- */

static int missing_batch(struct fc_remote *r, const struct blk_id *ids,
			 size_t count, bool *out_missing)
{
	json_t *body = json_object(), *arr = json_array(), *miss;
	char hex[BLK_ID_HEX_SIZE];
	struct blk_id id;
	struct call c;
	size_t i, j, k;
	int rc;

	fc_remote_call_init(&c, "POST");
	if (!body || !arr) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		out_missing[i] = false;
		blk_id_to_hex(&ids[i], hex);
		if (json_array_append_new(arr, json_string(hex)) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = json_object_set(body, "ids", arr);
	if (rc < 0) {
		rc = -ENOMEM;
		goto out;
	}
	fc_remote_call_path(&c, "/blocks/missing");
	c.body = body;
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		goto out;
	miss = json_object_get(c.json, "missing");
	if (!json_is_array(miss) || json_array_size(miss) > count) {
		rc = -EPROTO;
		goto out;
	}
	/* the server answers in request order: walk both lists once */
	j = 0;
	for (k = 0; k < json_array_size(miss); k++) {
		if (fc_remote_jget_block_id(json_array_get(miss, k), &id) < 0) {
			rc = -EPROTO;
			goto out;
		}
		for (i = j; i < count && !blk_id_equal(&ids[i], &id); i++)
			;
		if (i == count) {
			/* out of order: fall back to a full search */
			for (i = 0; i < count && !blk_id_equal(&ids[i], &id);
			     i++)
				;
			if (i == count) {
				rc = -EPROTO;
				goto out;
			}
		} else {
			j = i + 1;
		}
		out_missing[i] = true;
	}
out:
	json_decref(arr);
	json_decref(body);
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_blocks_missing(struct fc_remote *r, const struct blk_id *ids,
			     size_t count, bool *out_missing)
{
	size_t done = 0, n;
	int rc;

	while (done < count) {
		n = CF_MIN(count - done, (size_t)FC_MISSING_BATCH);
		rc = missing_batch(r, ids + done, n, out_missing + done);
		if (rc < 0)
			return rc;
		done += n;
	}
	return 0;
}

int fc_remote_block_get(struct fc_remote *r, const struct blk_id *id,
			struct cf_buf *out)
{
	char hex[BLK_ID_HEX_SIZE];
	struct call c;
	int rc;

	fc_remote_call_init(&c, "GET");
	cf_buf_reset(out);
	blk_id_to_hex(id, hex);
	fc_remote_call_path(&c, "/blocks/%s", hex);
	c.sink = out;
	c.block = true;
	rc = fc_remote_call_run(r, &c);
	if (rc < 0)
		cf_buf_reset(out);
	fc_remote_call_release(&c);
	return rc;
}

int fc_remote_blocks_put(struct fc_remote *r, struct fc_remote_put *items,
			 size_t count, size_t parallel)
{
	struct call *calls = NULL;
	char hex[BLK_ID_HEX_SIZE];
	size_t next = 0, running = 0, i;
	CURLM *m = NULL;
	int first = 0, still, rc = 0;
	CURLMsg *msg;

	if (!count)
		return 0;
	if (!parallel)
		parallel = 1;
	calls = calloc(count, sizeof(*calls));
	m = curl_multi_init();
	if (!calls || !m) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		fc_remote_call_init(&calls[i], "PUT");
		items[i].rc = -EINPROGRESS;
	}
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)parallel);
	while (next < count || running) {
		while (next < count && running < parallel) {
			struct call *c = &calls[next];
			struct fc_remote_put *it = &items[next];

			blk_id_to_hex(&it->id, hex);
			fc_remote_call_path(c, "/blocks/%s", hex);
			c->raw = it->data;
			c->raw_size = it->size;
			c->has_raw = true;
			c->block = true;
			c->h = handle_get(r);
			rc = c->h ? call_setup(r, c) : -ENOMEM;
			if (!rc && curl_multi_add_handle(m, c->h) != CURLM_OK)
				rc = -ENOMEM;
			if (rc) {
				it->rc = rc;
				handle_put(r, c->h);
				c->h = NULL;
				goto out;
			}
			curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
			next++;
			running++;
		}
		if (curl_multi_perform(m, &still) != CURLM_OK) {
			rc = -EIO;
			goto out;
		}
		while ((msg = curl_multi_info_read(m, &still))) {
			struct call *c;
			size_t idx;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&c);
			idx = (size_t)(c - calls);
			items[idx].rc = call_finish(r, c, msg->data.result);
			if (items[idx].rc < 0 && !first)
				first = items[idx].rc;
			curl_multi_remove_handle(m, c->h);
			handle_put(r, c->h);
			c->h = NULL;
			running--;
		}
		if (running &&
		    curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
			rc = -EIO;
			goto out;
		}
	}
out:
	if (calls) {
		for (i = 0; i < count; i++) {
			if (calls[i].h) {
				curl_multi_remove_handle(m, calls[i].h);
				handle_put(r, calls[i].h);
				if (items[i].rc == -EINPROGRESS)
					items[i].rc = rc ? rc : -EIO;
			}
			fc_remote_call_release(&calls[i]);
		}
	}
	for (i = 0; calls && i < count; i++)
		if (items[i].rc == -EINPROGRESS)
			items[i].rc = rc ? rc : -EIO;
	curl_multi_cleanup(m);
	free(calls);
	return rc ? rc : first;
}
