/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd API client on libcurl + jansson. A call borrows an easy handle
 * from a small pool (so kept-alive connections are reused across calls and
 * threads), sets every option again after curl_easy_reset, runs, and turns
 * the outcome into 0 or a negative errno in fc_remote_error, the only place
 * that knows about CURLcode and HTTP statuses. Block uploads run several at
 * once on a curl multi handle.
 *
 * Lock order: r->lock is a leaf (held only to copy the token or to move a
 * handle in or out of the pool; never across a transfer).
 */
#include "fc_remote.h"

#include <errno.h>
#include <limits.h>
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
#include <openssl/evp.h>

#define CF_LOG_SUBSYS "remote"
#include "cf_log.h"

#define POOL_MAX	   16
#define JSON_MAX	   (64u * 1024 * 1024) /* a changes page, a big manifest */
#define ERR_BODY_MAX	   (64u * 1024)
#define API_PREFIX	   "/api/v1"
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

/* One request and what came back. */
struct call {
	const char *method;
	char path[512]; /* under API_PREFIX, already encoded */
	char query[256]; /* "a=1&b=2" or "" (already encoded) */
	const char *query_path; /* appended as path=<encoded> */
	json_t *body; /* borrowed, may be NULL */
	const void *raw; /* octet-stream body when raw_size */
	size_t raw_size;
	bool has_raw;
	bool auth;
	bool block; /* block transfer: longer timeout */
	struct cf_buf *sink; /* raw answer (borrowed); NULL = JSON */
	/* results */
	struct cf_buf resp; /* owned when sink is NULL */
	bool overflow;
	long status;
	json_t *json; /* owned: 2xx JSON answer */
	json_t *err; /* owned: error JSON answer */
	/* transfer state */
	CURL *h;
	CURLU *url;
	struct curl_slist *hdrs;
	char *body_text;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ----- hex, base64 ----- */

static void hex_encode(const uint8_t *in, size_t size, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < size; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * size] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex_decode(const char *hex, size_t len, uint8_t *out, size_t size)
{
	size_t i;

	if (len != 2 * size)
		return -EINVAL;
	for (i = 0; i < size; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void node_id_hex(const uint8_t id[FC_NODE_ID_SIZE],
			char out[FC_NODE_HEX_SIZE])
{
	hex_encode(id, FC_NODE_ID_SIZE, out);
}

/* base64 of size bytes as a new JSON string; NULL on -ENOMEM. */
static json_t *b64_json(const void *data, size_t size)
{
	size_t n = 4 * ((size + 2) / 3) + 1;
	json_t *j;
	char *s;

	if (size > (size_t)INT_MAX / 2)
		return NULL;
	s = malloc(n);
	if (!s)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, data, (int)size);
	j = json_string(s);
	free(s);
	return j;
}

/* Decode base64 text of len bytes into a new buffer (caller frees). */
static int b64_decode(const char *text, size_t len, uint8_t **out,
		      size_t *out_size)
{
	uint8_t *buf;
	size_t pad = 0;
	int n;

	*out = NULL;
	*out_size = 0;
	if (len % 4 || len > (size_t)INT_MAX)
		return -EPROTO;
	buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	if (len) {
		n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
		if (n < 0) {
			free(buf);
			return -EPROTO;
		}
		if (text[len - 1] == '=')
			pad++;
		if (len > 1 && text[len - 2] == '=')
			pad++;
		*out_size = (size_t)n - pad;
	}
	*out = buf;
	return 0;
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
	       rc == -EIO || rc == -ENOMEM;
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
	    hex_decode(token_hex, strlen(token_hex), raw, sizeof(raw)) < 0)
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

static void call_init(struct call *c, const char *method)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->auth = true;
	cf_buf_init(&c->resp, JSON_MAX);
}

static void call_release(struct call *c)
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
static int call_path(struct call *c, const char *fmt, ...) CF_PRINTF(2, 3);
static int call_path(struct call *c, const char *fmt, ...)
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

static int call_run(struct fc_remote *r, struct call *c)
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

/* ----- JSON helpers ----- */

static int jget_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EPROTO;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int jget_i64(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return -EPROTO;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int jget_u32(json_t *o, const char *key, uint32_t *out)
{
	uint64_t v;

	if (jget_u64(o, key, &v) < 0 || v > UINT32_MAX)
		return -EPROTO;
	*out = (uint32_t)v;
	return 0;
}

/* Optional integer: default when absent or null. */
static int jopt_u64(json_t *o, const char *key, uint64_t dflt, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	return jget_u64(o, key, out);
}

static int jopt_i64(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		*out = 0;
		return 0;
	}
	return jget_i64(o, key, out);
}

/* Fixed-size binary field sent as hex. */
static int jget_hex(json_t *o, const char *key, uint8_t *out, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return -EPROTO;
	if (hex_decode(json_string_value(v), json_string_length(v), out, size) <
	    0)
		return -EPROTO;
	return 0;
}

static int jget_block_id(json_t *v, struct blk_id *out)
{
	if (!json_is_string(v) ||
	    blk_id_from_hex(json_string_value(v), json_string_length(v), out) <
		    0)
		return -EPROTO;
	return 0;
}

static int jget_chunk(json_t *o, struct blk_chunker_params *out)
{
	json_t *ch = json_object_get(o, "chunk");

	if (!json_is_object(ch) || jget_u32(ch, "min", &out->min_size) ||
	    jget_u32(ch, "avg", &out->avg_size) ||
	    jget_u32(ch, "max", &out->max_size) ||
	    blk_chunker_params_check(out) < 0)
		return -EPROTO;
	return 0;
}

/* "codec": a name or a number. */
static int jget_codec(json_t *o, int *out)
{
	json_t *v = json_object_get(o, "codec");
	const char *s;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i != BLK_CODEC_ZSTD && i != BLK_CODEC_ZLIB)
			return -EPROTO;
		*out = (int)i;
		return 0;
	}
	s = json_string_value(v);
	if (!s)
		return -EPROTO;
	if (!strcmp(s, "zstd"))
		*out = BLK_CODEC_ZSTD;
	else if (!strcmp(s, "zlib"))
		*out = BLK_CODEC_ZLIB;
	else
		return -EPROTO;
	return 0;
}

static int json_set_new(json_t *o, const char *key, json_t *v)
{
	if (!v || json_object_set_new(o, key, v) < 0)
		return -ENOMEM;
	return 0;
}

static int json_set_hex(json_t *o, const char *key, const uint8_t *data,
			size_t size)
{
	char hex[2 * 64 + 1];

	if (size > 64)
		return -EINVAL;
	hex_encode(data, size, hex);
	return json_set_new(o, key, json_string(hex));
}

/* Names are opaque bytes on the server; JSON carries them as strings. */
static int json_set_name(json_t *o, const char *key, const char *name,
			 size_t len)
{
	json_t *v;

	if (cf_name_check(name, len) < 0)
		return cf_name_check(name, len);
	v = json_stringn(name, len);
	if (!v)
		return -EILSEQ; /* not UTF-8: the wire format cannot carry it */
	return json_set_new(o, key, v);
}

static int json_set_u64(json_t *o, const char *key, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX)
		return -EINVAL;
	return json_set_new(o, key, json_integer((json_int_t)v));
}

static const struct {
	const char *name;
	mode_t type;
} kinds[] = {
	{ "file", S_IFREG },  { "dir", S_IFDIR }, { "symlink", S_IFLNK },
	{ "fifo", S_IFIFO },  { "chr", S_IFCHR }, { "blk", S_IFBLK },
	{ "sock", S_IFSOCK },
};

static const char *kind_name(mode_t type)
{
	size_t i;

	for (i = 0; i < CF_ARRAY_SIZE(kinds); i++)
		if (kinds[i].type == (type & S_IFMT))
			return kinds[i].name;
	return NULL;
}

static int kind_parse(json_t *v, mode_t *out)
{
	const char *s = json_string_value(v);
	size_t i;

	if (!s)
		return -EPROTO;
	for (i = 0; i < CF_ARRAY_SIZE(kinds); i++) {
		if (!strcmp(kinds[i].name, s)) {
			*out = kinds[i].type;
			return 0;
		}
	}
	return -EPROTO;
}

/* A flag that may come as a bool, a number or a status string. */
static bool jflag(json_t *v, const char *true_word)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_string(v) && true_word)
		return !strcmp(json_string_value(v), true_word);
	return false;
}

/* Parse a node object; target borrowed from o. */
static int parse_node(json_t *o, struct fc_rnode *n)
{
	json_t *t;
	uint64_t v;

	memset(n, 0, sizeof(*n));
	if (!json_is_object(o) ||
	    jget_hex(o, "id", n->id, FC_NODE_ID_SIZE) < 0 ||
	    kind_parse(json_object_get(o, "kind"), &n->type) < 0 ||
	    jget_u32(o, "mode", &n->mode) < 0 ||
	    jopt_u64(o, "uid", 0, &v) < 0 || v > UINT32_MAX)
		return -EPROTO;
	n->uid = (uint32_t)v;
	if (jopt_u64(o, "gid", 0, &v) < 0 || v > UINT32_MAX)
		return -EPROTO;
	n->gid = (uint32_t)v;
	if (jopt_u64(o, "rdev", 0, &n->rdev) < 0 ||
	    jopt_u64(o, "size", 0, &n->size) < 0 ||
	    jopt_i64(o, "mtime", &n->mtime_ns) < 0 ||
	    jopt_i64(o, "ctime", &n->ctime_ns) < 0 ||
	    jopt_u64(o, "version", 0, &n->version) < 0 ||
	    jopt_i64(o, "pending_device", &n->pending_device) < 0 ||
	    jopt_u64(o, "nlink", 1, &v) < 0 || v > UINT32_MAX ||
	    jopt_u64(o, "seq", 0, &n->seq) < 0)
		return -EPROTO;
	n->nlink = (uint32_t)v;
	n->mode &= 07777;
	n->pending = jflag(json_object_get(o, "status"), "pending");
	n->deleted = jflag(json_object_get(o, "deleted"), NULL);
	t = json_object_get(o, "target");
	if (n->type == S_IFLNK) {
		if (!json_is_string(t) || !json_string_length(t) ||
		    json_string_length(t) > CF_PATH_MAX ||
		    memchr(json_string_value(t), 0, json_string_length(t)))
			return -EPROTO;
		n->target = json_string_value(t);
		n->target_len = json_string_length(t);
	}
	return 0;
}

static int parse_entry(json_t *o, struct fc_rentry *e)
{
	json_t *name;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o) ||
	    (jget_i64(o, "entry_id", &e->id) < 0 &&
	     jget_i64(o, "id", &e->id) < 0) ||
	    jget_hex(o, "parent", e->parent, FC_NODE_ID_SIZE) < 0 ||
	    jget_hex(o, "node", e->node, FC_NODE_ID_SIZE) < 0 ||
	    jopt_u64(o, "seq", 0, &e->seq) < 0)
		return -EPROTO;
	name = json_object_get(o, "name");
	if (!json_is_string(name))
		return -EPROTO;
	e->name = json_string_value(name);
	e->name_len = json_string_length(name);
	if (cf_name_check(e->name, e->name_len) < 0)
		return -EPROTO;
	e->deleted = jflag(json_object_get(o, "deleted"), NULL);
	return 0;
}

/* Times on the wire are ns since the epoch; a few fields here keep s. */
static int64_t ns_to_s(int64_t t)
{
	/* tolerate a server that sends seconds: 1e11 s is year 5138 */
	return t > 100000000000LL ? t / 1000000000 : t;
}

/* Cursor fields are optional in mutation answers. */
static void get_cursor(json_t *o, uint64_t *out)
{
	uint64_t v = 0;

	if (!out)
		return;
	if (o && jget_u64(o, "cursor", &v) < 0)
		v = 0;
	*out = v;
}

/* ----- routes ----- */

int fc_remote_prelogin(struct fc_remote *r, const char *user,
		       struct fc_prelogin *out)
{
	json_t *body = json_object(), *kdf;
	struct call c;
	int rc;

	call_init(&c, "POST");
	c.auth = false;
	memset(out, 0, sizeof(*out));
	if (!body || json_set_new(body, "user", json_string(user)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	call_path(&c, "/prelogin");
	c.body = body;
	rc = call_run(r, &c);
	if (rc < 0)
		goto out;
	kdf = json_object_get(c.json, "kdf");
	if (!json_is_object(kdf) ||
	    jget_u32(kdf, "version", &out->kdf.version) ||
	    jget_u64(kdf, "n", &out->kdf.n) ||
	    jget_u32(kdf, "r", &out->kdf.r) ||
	    jget_u32(kdf, "p", &out->kdf.p) ||
	    jget_hex(c.json, "salt", out->salt, BLK_SALT_SIZE))
		rc = -EPROTO;
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

int fc_remote_login(struct fc_remote *r, const char *user,
		    const uint8_t auth_key[BLK_KEY_SIZE], const char *device,
		    struct fc_login *out)
{
	char hex[2 * BLK_KEY_SIZE + 1];
	json_t *body = json_object(), *tok;
	struct call c;
	int rc;

	call_init(&c, "POST");
	c.auth = false;
	memset(out, 0, sizeof(*out));
	hex_encode(auth_key, BLK_KEY_SIZE, hex);
	if (!body || json_set_new(body, "user", json_string(user)) < 0 ||
	    json_set_new(body, "auth_key", json_string(hex)) < 0 ||
	    json_set_new(body, "device", json_string(device)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	call_path(&c, "/login");
	c.body = body;
	rc = call_run(r, &c);
	if (rc < 0)
		goto out;
	tok = json_object_get(c.json, "token");
	if (!json_is_string(tok) ||
	    json_string_length(tok) != FC_TOKEN_HEX_SIZE - 1 ||
	    jget_i64(c.json, "device_id", &out->device_id) ||
	    jget_i64(c.json, "user_id", &out->user_id) ||
	    jget_hex(c.json, "root", out->root, FC_NODE_ID_SIZE) ||
	    jget_chunk(c.json, &out->chunk) ||
	    jget_codec(c.json, &out->codec) ||
	    jopt_u64(c.json, "cursor", 0, &out->cursor)) {
		rc = -EPROTO;
		goto out;
	}
	memcpy(out->token, json_string_value(tok), FC_TOKEN_HEX_SIZE);
	rc = fc_remote_set_token(r, out->token);
	if (rc < 0)
		rc = -EPROTO;
out:
	OPENSSL_cleanse(hex, sizeof(hex));
	if (body) {
		/* the auth key went through jansson: wipe its copy too */
		json_t *ak = json_object_get(body, "auth_key");

		if (ak)
			json_string_set(ak, "");
		json_decref(body);
	}
	if (c.body_text)
		OPENSSL_cleanse(c.body_text, strlen(c.body_text));
	if (c.resp.cap)
		OPENSSL_cleanse(c.resp.data, c.resp.len);
	call_release(&c);
	if (rc < 0)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

int fc_remote_logout(struct fc_remote *r)
{
	struct call c;
	int rc;

	call_init(&c, "POST");
	call_path(&c, "/logout");
	rc = call_run(r, &c);
	call_release(&c);
	return rc;
}

int fc_remote_account(struct fc_remote *r, struct fc_account_info *out)
{
	struct call c;
	json_t *u;
	int rc;

	call_init(&c, "GET");
	memset(out, 0, sizeof(*out));
	call_path(&c, "/account");
	rc = call_run(r, &c);
	if (rc < 0)
		goto out;
	u = json_object_get(c.json, "user");
	if (json_is_string(u) && json_string_length(u) <= FC_USER_NAME_MAX)
		memcpy(out->user, json_string_value(u),
		       json_string_length(u) + 1);
	if (jopt_u64(c.json, "usage", 0, &out->usage) ||
	    jopt_u64(c.json, "quota", 0, &out->quota) ||
	    jopt_u64(c.json, "blocks", 0, &out->blocks) ||
	    jopt_u64(c.json, "files", 0, &out->files) ||
	    jopt_u64(c.json, "cursor", 0, &out->cursor) ||
	    jopt_u64(c.json, "max_file_size", BLK_FILE_SIZE_MAX,
		     &out->max_file_size) ||
	    jget_chunk(c.json, &out->chunk) || jget_codec(c.json, &out->codec))
		rc = -EPROTO;
out:
	call_release(&c);
	return rc;
}

int fc_remote_key_get(struct fc_remote *r, uint8_t out[BLK_WRAPPED_KEY_SIZE])
{
	struct call c;
	json_t *k;
	int rc;

	call_init(&c, "GET");
	call_path(&c, "/key");
	rc = call_run(r, &c);
	if (rc < 0)
		goto out;
	k = json_object_get(c.json, "wrapped_key");
	if (json_is_null(k) || !k) {
		rc = -ENOENT;
		goto out;
	}
	if (jget_hex(c.json, "wrapped_key", out, BLK_WRAPPED_KEY_SIZE) < 0)
		rc = -EPROTO;
out:
	call_release(&c);
	return rc;
}

int fc_remote_key_put(struct fc_remote *r,
		      const uint8_t wrapped[BLK_WRAPPED_KEY_SIZE], bool replace)
{
	json_t *body = json_object();
	struct call c;
	int rc;

	call_init(&c, "PUT");
	if (!body ||
	    json_set_hex(body, "wrapped_key", wrapped, BLK_WRAPPED_KEY_SIZE) ||
	    json_set_new(body, "replace", json_boolean(replace))) {
		rc = -ENOMEM;
		goto out;
	}
	call_path(&c, "/key");
	c.body = body;
	rc = call_run(r, &c);
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

static int missing_batch(struct fc_remote *r, const struct blk_id *ids,
			 size_t count, bool *out_missing)
{
	json_t *body = json_object(), *arr = json_array(), *miss;
	char hex[BLK_ID_HEX_SIZE];
	struct blk_id id;
	struct call c;
	size_t i, j, k;
	int rc;

	call_init(&c, "POST");
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
	call_path(&c, "/blocks/missing");
	c.body = body;
	rc = call_run(r, &c);
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
		if (jget_block_id(json_array_get(miss, k), &id) < 0) {
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
	call_release(&c);
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

	call_init(&c, "GET");
	cf_buf_reset(out);
	blk_id_to_hex(id, hex);
	call_path(&c, "/blocks/%s", hex);
	c.sink = out;
	c.block = true;
	rc = call_run(r, &c);
	if (rc < 0)
		cf_buf_reset(out);
	call_release(&c);
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
		call_init(&calls[i], "PUT");
		items[i].rc = -EINPROGRESS;
	}
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)parallel);
	while (next < count || running) {
		while (next < count && running < parallel) {
			struct call *c = &calls[next];
			struct fc_remote_put *it = &items[next];

			blk_id_to_hex(&it->id, hex);
			call_path(c, "/blocks/%s", hex);
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
			call_release(&calls[i]);
		}
	}
	for (i = 0; calls && i < count; i++)
		if (items[i].rc == -EINPROGRESS)
			items[i].rc = rc ? rc : -EIO;
	curl_multi_cleanup(m);
	free(calls);
	return rc ? rc : first;
}

/* ----- tree ----- */

void fc_changes_page_release(struct fc_changes_page *p)
{
	free(p->nodes);
	free(p->entries);
	json_decref(p->json_);
	memset(p, 0, sizeof(*p));
}

int fc_remote_changes(struct fc_remote *r, uint64_t since, size_t limit,
		      struct fc_changes_page *out)
{
	json_t *nodes, *entries;
	struct call c;
	size_t i;
	int n, rc;

	call_init(&c, "GET");
	memset(out, 0, sizeof(*out));
	call_path(&c, "/changes");
	if (limit)
		n = snprintf(c.query, sizeof(c.query), "since=%llu&limit=%zu",
			     (unsigned long long)since, limit);
	else
		n = snprintf(c.query, sizeof(c.query), "since=%llu",
			     (unsigned long long)since);
	if (n < 0 || (size_t)n >= sizeof(c.query)) {
		rc = -EINVAL;
		goto out;
	}
	rc = call_run(r, &c);
	if (rc < 0)
		goto out;
	nodes = json_object_get(c.json, "nodes");
	entries = json_object_get(c.json, "entries");
	if (!json_is_array(nodes) || !json_is_array(entries) ||
	    jget_u64(c.json, "next", &out->next) < 0) {
		rc = -EPROTO;
		goto out;
	}
	out->more = jflag(json_object_get(c.json, "more"), NULL);
	if (json_array_size(nodes)) {
		out->nodes =
			calloc(json_array_size(nodes), sizeof(*out->nodes));
		if (!out->nodes) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (json_array_size(entries)) {
		out->entries =
			calloc(json_array_size(entries), sizeof(*out->entries));
		if (!out->entries) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < json_array_size(nodes); i++) {
		rc = parse_node(json_array_get(nodes, i), &out->nodes[i]);
		if (rc < 0) {
			cf_warn("changes: malformed node #%zu", i);
			goto out;
		}
		out->node_count++;
	}
	for (i = 0; i < json_array_size(entries); i++) {
		rc = parse_entry(json_array_get(entries, i), &out->entries[i]);
		if (rc < 0) {
			cf_warn("changes: malformed entry #%zu", i);
			goto out;
		}
		out->entry_count++;
	}
	if (out->next < since) {
		rc = -EPROTO;
		goto out;
	}
	out->json_ = c.json;
	c.json = NULL;
out:
	call_release(&c);
	if (rc < 0)
		fc_changes_page_release(out);
	return rc;
}

/* Copy a node answer out of c, with the target into target_buf. */
static int node_answer(struct call *c, struct fc_rnode *out, char *target_buf,
		       size_t target_size)
{
	int rc = parse_node(c->json, out);

	if (rc < 0)
		return rc;
	if (out->target) {
		if (!target_buf || out->target_len + 1 > target_size)
			return -ENAMETOOLONG;
		memcpy(target_buf, out->target, out->target_len + 1);
		out->target = target_buf;
	}
	return 0;
}

int fc_remote_node_get(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		       struct fc_rnode *out, char *target_buf,
		       size_t target_size)
{
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	int rc;

	call_init(&c, "GET");
	node_id_hex(id, hex);
	call_path(&c, "/nodes/%s", hex);
	rc = call_run(r, &c);
	if (rc == 0)
		rc = node_answer(&c, out, target_buf, target_size);
	call_release(&c);
	return rc;
}

int fc_remote_stat(struct fc_remote *r, const char *path, struct fc_rnode *out,
		   char *target_buf, size_t target_size)
{
	struct call c;
	int rc;

	if (cf_path_check(path, strlen(path)) < 0)
		return cf_path_check(path, strlen(path));
	call_init(&c, "GET");
	call_path(&c, "/stat");
	c.query_path = path;
	rc = call_run(r, &c);
	if (rc == 0)
		rc = node_answer(&c, out, target_buf, target_size);
	call_release(&c);
	return rc;
}

int fc_remote_node_create(struct fc_remote *r, const struct fc_create_req *q,
			  uint64_t *out_cursor)
{
	const char *kind = kind_name(q->type);
	json_t *body = json_object();
	struct call c;
	int rc;

	call_init(&c, "POST");
	if (!kind) {
		rc = -EINVAL;
		goto out;
	}
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
	rc = json_set_hex(body, "id", q->id, FC_NODE_ID_SIZE);
	if (!rc)
		rc = json_set_new(body, "kind", json_string(kind));
	if (!rc)
		rc = json_set_hex(body, "parent", q->parent, FC_NODE_ID_SIZE);
	if (!rc)
		rc = json_set_name(body, "name", q->name, q->name_len);
	if (!rc)
		rc = json_set_u64(body, "mode", q->mode & 07777);
	if (!rc)
		rc = json_set_u64(body, "uid", q->uid);
	if (!rc)
		rc = json_set_u64(body, "gid", q->gid);
	if (!rc && (q->type == S_IFCHR || q->type == S_IFBLK))
		rc = json_set_u64(body, "rdev", q->rdev);
	if (!rc && q->type == S_IFLNK) {
		if (!q->target || !q->target_len ||
		    q->target_len > CF_PATH_MAX ||
		    memchr(q->target, 0, q->target_len))
			rc = -EINVAL;
		else if (json_object_set_new(
				 body, "target",
				 json_stringn(q->target, q->target_len)) < 0)
			rc = -EILSEQ;
	}
	if (!rc && q->mtime_ns)
		rc = json_set_new(body, "mtime", json_integer(q->mtime_ns));
	if (rc < 0)
		goto out;
	call_path(&c, "/nodes");
	c.body = body;
	rc = call_run(r, &c);
	if (rc == 0)
		get_cursor(c.json, out_cursor);
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

int fc_remote_node_patch(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
			 const struct fc_patch_req *p, uint64_t *out_cursor)
{
	char hex[FC_NODE_HEX_SIZE];
	json_t *body = json_object();
	struct call c;
	int rc = 0;

	call_init(&c, "PATCH");
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
	if (p->flags & FC_REMOTE_PATCH_MODE)
		rc = json_set_u64(body, "mode", p->mode & 07777);
	if (!rc && (p->flags & FC_REMOTE_PATCH_UID))
		rc = json_set_u64(body, "uid", p->uid);
	if (!rc && (p->flags & FC_REMOTE_PATCH_GID))
		rc = json_set_u64(body, "gid", p->gid);
	if (!rc && (p->flags & FC_REMOTE_PATCH_MTIME))
		rc = json_set_new(body, "mtime", json_integer(p->mtime_ns));
	if (rc < 0)
		goto out;
	node_id_hex(id, hex);
	call_path(&c, "/nodes/%s", hex);
	c.body = body;
	rc = call_run(r, &c);
	if (rc == 0)
		get_cursor(c.json, out_cursor);
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

int fc_remote_node_pending(struct fc_remote *r,
			   const uint8_t id[FC_NODE_ID_SIZE])
{
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	int rc;

	call_init(&c, "POST");
	c.body = json_object();
	if (!c.body)
		return -ENOMEM;
	node_id_hex(id, hex);
	call_path(&c, "/nodes/%s/pending", hex);
	rc = call_run(r, &c);
	json_decref(c.body);
	call_release(&c);
	return rc;
}

/* The "missing" list of a 409 missing_blocks answer. */
static int parse_missing(json_t *err, struct fc_commit_res *res)
{
	json_t *miss = json_object_get(err, "missing");
	size_t i, n;

	if (!json_is_array(miss))
		return 0;
	n = json_array_size(miss);
	if (!n)
		return 0;
	res->missing = calloc(n, sizeof(*res->missing));
	if (!res->missing)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (jget_block_id(json_array_get(miss, i), &res->missing[i]) <
		    0) {
			free(res->missing);
			res->missing = NULL;
			return -EPROTO;
		}
	}
	res->missing_count = n;
	return 0;
}

int fc_remote_commit(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		     const struct fc_commit_req *q, struct fc_commit_res *res)
{
	char hex[FC_NODE_HEX_SIZE];
	json_t *body = json_object();
	struct call c;
	int rc;

	call_init(&c, "POST");
	memset(res, 0, sizeof(*res));
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
	rc = json_set_u64(body, "base_version", q->base_version);
	if (!rc)
		rc = json_set_u64(body, "size", q->size);
	if (!rc)
		rc = json_set_new(body, "mtime", json_integer(q->mtime_ns));
	if (!rc)
		rc = json_set_new(body, "manifest",
				  b64_json(q->manifest, q->manifest_size));
	if (!rc)
		rc = json_set_hex(body, "tag", q->tag, BLK_MANIFEST_TAG_SIZE);
	if (rc < 0)
		goto out;
	node_id_hex(id, hex);
	call_path(&c, "/nodes/%s/commit", hex);
	c.body = body;
	rc = call_run(r, &c);
	if (rc == 0) {
		if (jget_u64(c.json, "version", &res->version) < 0)
			rc = -EPROTO;
		get_cursor(c.json, &res->cursor);
	} else if (rc == -ESTALE && c.err) {
		if (jget_u64(c.err, "current_version", &res->current_version) <
		    0)
			res->current_version = 0;
	} else if (rc == -ENODATA && c.err) {
		int prc = parse_missing(c.err, res);

		if (prc < 0)
			rc = prc;
	}
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

static int parse_version_info(json_t *o, struct fc_version_info *v)
{
	memset(v, 0, sizeof(*v));
	if (!json_is_object(o) || jget_u64(o, "version", &v->version) < 0 ||
	    jopt_u64(o, "size", 0, &v->size) < 0 ||
	    jopt_i64(o, "mtime", &v->mtime_ns) < 0 ||
	    jopt_i64(o, "created", &v->created) < 0 ||
	    jopt_i64(o, "device", &v->device_id) < 0)
		return -EPROTO;
	if (!v->device_id && jopt_i64(o, "device_id", &v->device_id) < 0)
		return -EPROTO;
	v->created = ns_to_s(v->created);
	return 0;
}

int fc_remote_versions(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		       struct fc_version_info **out, size_t *out_count)
{
	struct fc_version_info *v = NULL;
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	json_t *arr;
	size_t i, n;
	int rc;

	*out = NULL;
	*out_count = 0;
	call_init(&c, "GET");
	node_id_hex(id, hex);
	call_path(&c, "/nodes/%s/versions", hex);
	rc = call_run(r, &c);
	if (rc < 0)
		goto out;
	arr = json_object_get(c.json, "versions");
	if (!json_is_array(arr)) {
		rc = -EPROTO;
		goto out;
	}
	n = json_array_size(arr);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		rc = parse_version_info(json_array_get(arr, i), &v[i]);
		if (rc < 0)
			goto out;
	}
	*out = v;
	*out_count = n;
	v = NULL;
out:
	free(v);
	call_release(&c);
	return rc;
}

void fc_version_data_release(struct fc_version_data *v)
{
	free(v->manifest);
	memset(v, 0, sizeof(*v));
}

int fc_remote_version_get(struct fc_remote *r,
			  const uint8_t id[FC_NODE_ID_SIZE], uint64_t version,
			  struct fc_version_data *out)
{
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	json_t *m;
	int rc;

	memset(out, 0, sizeof(*out));
	call_init(&c, "GET");
	node_id_hex(id, hex);
	if (version)
		call_path(&c, "/nodes/%s/versions/%llu", hex,
			  (unsigned long long)version);
	else
		call_path(&c, "/nodes/%s/versions/current", hex);
	rc = call_run(r, &c);
	if (rc < 0)
		goto out;
	rc = parse_version_info(c.json, &out->info);
	if (rc < 0)
		goto out;
	m = json_object_get(c.json, "manifest");
	if (!json_is_string(m) ||
	    jget_hex(c.json, "tag", out->tag, BLK_MANIFEST_TAG_SIZE) < 0) {
		rc = -EPROTO;
		goto out;
	}
	rc = b64_decode(json_string_value(m), json_string_length(m),
			&out->manifest, &out->manifest_size);
out:
	call_release(&c);
	if (rc < 0)
		fc_version_data_release(out);
	return rc;
}

int fc_remote_restore(struct fc_remote *r, const uint8_t id[FC_NODE_ID_SIZE],
		      uint64_t version, uint64_t *out_version)
{
	char hex[FC_NODE_HEX_SIZE];
	json_t *body = json_object();
	struct call c;
	uint64_t v = 0;
	int rc;

	call_init(&c, "POST");
	if (!body || json_set_u64(body, "version", version) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	node_id_hex(id, hex);
	call_path(&c, "/nodes/%s/restore", hex);
	c.body = body;
	rc = call_run(r, &c);
	if (rc == 0 && c.json && jget_u64(c.json, "version", &v) < 0)
		v = 0;
	if (out_version)
		*out_version = v;
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

int fc_remote_link(struct fc_remote *r, const uint8_t node[FC_NODE_ID_SIZE],
		   const uint8_t parent[FC_NODE_ID_SIZE], const char *name,
		   size_t name_len, uint64_t *out_cursor)
{
	json_t *body = json_object();
	struct call c;
	int rc;

	call_init(&c, "POST");
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
	rc = json_set_hex(body, "parent", parent, FC_NODE_ID_SIZE);
	if (!rc)
		rc = json_set_name(body, "name", name, name_len);
	if (!rc)
		rc = json_set_hex(body, "node", node, FC_NODE_ID_SIZE);
	if (rc < 0)
		goto out;
	call_path(&c, "/entries");
	c.body = body;
	rc = call_run(r, &c);
	if (rc == 0)
		get_cursor(c.json, out_cursor);
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

int fc_remote_unlink(struct fc_remote *r, const uint8_t parent[FC_NODE_ID_SIZE],
		     const char *name, size_t name_len, unsigned flags,
		     uint64_t *out_cursor)
{
	json_t *body = json_object();
	struct call c;
	int rc;

	call_init(&c, "DELETE");
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
	rc = json_set_hex(body, "parent", parent, FC_NODE_ID_SIZE);
	if (!rc)
		rc = json_set_name(body, "name", name, name_len);
	if (!rc && (flags & FC_REMOTE_UNLINK_DIR))
		rc = json_set_new(body, "dir", json_true());
	if (!rc && (flags & FC_REMOTE_UNLINK_RECURSIVE))
		rc = json_set_new(body, "recursive", json_true());
	if (rc < 0)
		goto out;
	call_path(&c, "/entries");
	c.body = body;
	rc = call_run(r, &c);
	if (rc == 0)
		get_cursor(c.json, out_cursor);
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

int fc_remote_rename(struct fc_remote *r,
		     const uint8_t src_parent[FC_NODE_ID_SIZE],
		     const char *src_name, size_t src_len,
		     const uint8_t dst_parent[FC_NODE_ID_SIZE],
		     const char *dst_name, size_t dst_len, unsigned flags,
		     uint64_t *out_cursor)
{
	json_t *body = json_object();
	struct call c;
	int rc;

	call_init(&c, "POST");
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
	rc = json_set_hex(body, "src_parent", src_parent, FC_NODE_ID_SIZE);
	if (!rc)
		rc = json_set_name(body, "src_name", src_name, src_len);
	if (!rc)
		rc = json_set_hex(body, "dst_parent", dst_parent,
				  FC_NODE_ID_SIZE);
	if (!rc)
		rc = json_set_name(body, "dst_name", dst_name, dst_len);
	if (!rc && (flags & FC_REMOTE_RENAME_NOREPLACE))
		rc = json_set_new(body, "noreplace", json_true());
	if (!rc && (flags & FC_REMOTE_RENAME_EXCHANGE))
		rc = json_set_new(body, "exchange", json_true());
	if (rc < 0)
		goto out;
	call_path(&c, "/rename");
	c.body = body;
	rc = call_run(r, &c);
	if (rc == 0)
		get_cursor(c.json, out_cursor);
out:
	json_decref(body);
	call_release(&c);
	return rc;
}

/* ----- trash ----- */

int fc_remote_trash_list(struct fc_remote *r, struct fc_trash_item **out,
			 size_t *out_count)
{
	struct fc_trash_item *t = NULL;
	json_t *arr, *o, *name;
	struct call c;
	size_t i, n;
	int rc;

	*out = NULL;
	*out_count = 0;
	call_init(&c, "GET");
	call_path(&c, "/trash");
	rc = call_run(r, &c);
	if (rc < 0)
		goto out;
	arr = json_object_get(c.json, "items");
	if (!arr)
		arr = json_object_get(c.json, "trash");
	if (!json_is_array(arr)) {
		rc = -EPROTO;
		goto out;
	}
	n = json_array_size(arr);
	t = calloc(n ? n : 1, sizeof(*t));
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		o = json_array_get(arr, i);
		name = json_object_get(o, "name");
		if (jget_hex(o, "id", t[i].node, FC_NODE_ID_SIZE) < 0 &&
		    jget_hex(o, "node", t[i].node, FC_NODE_ID_SIZE) < 0) {
			rc = -EPROTO;
			goto out;
		}
		if (kind_parse(json_object_get(o, "kind"), &t[i].type) < 0 ||
		    jget_hex(o, "parent", t[i].parent, FC_NODE_ID_SIZE) < 0 ||
		    !json_is_string(name) ||
		    json_string_length(name) > CF_NAME_MAX ||
		    jopt_u64(o, "size", 0, &t[i].size) < 0 ||
		    jopt_i64(o, "deleted", &t[i].deleted) < 0) {
			rc = -EPROTO;
			goto out;
		}
		t[i].deleted = ns_to_s(t[i].deleted);
		t[i].name_len = json_string_length(name);
		memcpy(t[i].name, json_string_value(name), t[i].name_len + 1);
	}
	*out = t;
	*out_count = n;
	t = NULL;
out:
	free(t);
	call_release(&c);
	return rc;
}

int fc_remote_trash_restore(struct fc_remote *r,
			    const uint8_t node[FC_NODE_ID_SIZE])
{
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	int rc;

	call_init(&c, "POST");
	c.body = json_object();
	if (!c.body)
		return -ENOMEM;
	node_id_hex(node, hex);
	call_path(&c, "/trash/%s/restore", hex);
	rc = call_run(r, &c);
	json_decref(c.body);
	call_release(&c);
	return rc;
}

int fc_remote_trash_purge(struct fc_remote *r,
			  const uint8_t node[FC_NODE_ID_SIZE])
{
	char hex[FC_NODE_HEX_SIZE];
	struct call c;
	int rc;

	call_init(&c, "DELETE");
	node_id_hex(node, hex);
	call_path(&c, "/trash/%s", hex);
	rc = call_run(r, &c);
	call_release(&c);
	return rc;
}
