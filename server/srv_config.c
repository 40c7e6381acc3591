/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd settings: the defaults, a `key = value` file and `--set`
 * overrides all go through one table of keys, so the file and the command
 * line accept exactly the same names and value syntax. Sizes take binary
 * suffixes (K, M, G, T), booleans yes/no/true/false/on/off/1/0, log levels
 * a syslog name or number.
 */
#include "srv_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CF_LOG_SUBSYS "config"
#include "blk/proto.h"
#include "cf_buf.h"
#include "cf_file.h"
#include "cf_log.h"

#define CONFIG_FILE_MAX	   (1024 * 1024)
#define CONFIG_WORKERS_MAX 1024

enum key_type {
	KEY_STRING, /* char *, owned */
	KEY_OPT_STRING, /* char *, owned; "" clears it to NULL */
	KEY_BOOL,
	KEY_INT, /* int in [lo, hi] */
	KEY_U32, /* uint32_t in [lo, hi] */
	KEY_U64_SIZE, /* uint64_t bytes, suffixes allowed */
	KEY_SIZE, /* size_t bytes, suffixes allowed */
	KEY_LOG_LEVEL, /* int syslog level */
	KEY_LISTEN, /* "ADDR:PORT" into listen_addr + listen_port */
};

struct key_desc {
	const char *name;
	enum key_type type;
	size_t offset;
	uint64_t lo, hi;
};

#define K(name, type, field, lo, hi)                     \
 {                                                       \
  name, type, offsetof(struct srv_config, field), lo, hi \
 }

static const struct key_desc keys[] = {
	K("data_dir", KEY_STRING, data_dir, 0, 0),
	K("listen", KEY_LISTEN, listen_addr, 0, 0),
	K("listen_addr", KEY_STRING, listen_addr, 0, 0),
	K("listen_port", KEY_INT, listen_port, 0, 65535),
	K("tls_cert", KEY_OPT_STRING, tls_cert, 0, 0),
	K("tls_key", KEY_OPT_STRING, tls_key, 0, 0),
	K("insecure", KEY_BOOL, insecure, 0, 0),
	K("workers", KEY_INT, workers, 1, CONFIG_WORKERS_MAX),
	K("max_file_size", KEY_U64_SIZE, max_file_size, 1, UINT64_MAX),
	K("quota_default", KEY_U64_SIZE, quota_default, 0, UINT64_MAX),
	K("retention_days", KEY_U32, retention_days, 0, 36500),
	K("gc_grace_seconds", KEY_U32, gc_grace_seconds, 0, UINT32_MAX),
	K("json_body_max", KEY_SIZE, json_body_max, 1024, 1ull << 30),
	K("manifest_body_max", KEY_SIZE, manifest_body_max, 1024, 1ull << 32),
	K("rate_per_second", KEY_U32, rate_per_second, 1, UINT32_MAX),
	K("rate_burst", KEY_U32, rate_burst, 1, UINT32_MAX),
	K("ws_queue_max", KEY_U32, ws_queue_max, 1, 65536),
	K("ws_ping_seconds", KEY_U32, ws_ping_seconds, 1, 3600),
	K("body_seconds", KEY_U32, body_seconds, 1, 3600),
	K("log_level", KEY_LOG_LEVEL, log_level, 0, 0),
	K("debug", KEY_OPT_STRING, log_debug, 0, 0),
};

#undef K

/*
 * A commit body carries the manifest in base64 inside JSON: the largest
 * manifest the format allows, expanded by 4/3, plus room for the rest.
 */
#define CONFIG_MANIFEST_BODY_DEFAULT \
 ((BLK_MANIFEST_SIZE_MAX + 2) / 3 * 4 + 64 * 1024)

static int dup_into(char **field, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

int srv_config_init(struct srv_config *c)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->listen_port = 8443;
	c->workers = 16;
	c->max_file_size = BLK_FILE_SIZE_MAX;
	c->quota_default = 0;
	c->retention_days = 30;
	c->gc_grace_seconds = 24 * 3600;
	c->json_body_max = 1024 * 1024;
	c->manifest_body_max = CONFIG_MANIFEST_BODY_DEFAULT;
	/* a device reading at 1 GB/s fetches ~4,000 blocks a second */
	c->rate_per_second = 5000;
	c->rate_burst = 10000;
	c->ws_queue_max = 32;
	c->ws_ping_seconds = 30;
	c->body_seconds = 20;
	c->log_level = LOG_INFO;
	rc = dup_into(&c->data_dir, "/var/lib/cloudfs");
	if (rc == 0)
		rc = dup_into(&c->listen_addr, "127.0.0.1");
	if (rc < 0)
		srv_config_release(c);
	return rc;
}

void srv_config_release(struct srv_config *c)
{
	free(c->data_dir);
	free(c->listen_addr);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->log_debug);
	c->data_dir = c->listen_addr = c->tls_cert = c->tls_key = NULL;
	c->log_debug = NULL;
}

static int parse_u64(const char *s, bool suffixes, uint64_t *out)
{
	unsigned long long v;
	uint64_t mul = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -EINVAL;
	if (suffixes && *end) {
		switch (*end) {
		case 'k':
		case 'K':
			mul = 1ull << 10;
			break;
		case 'm':
		case 'M':
			mul = 1ull << 20;
			break;
		case 'g':
		case 'G':
			mul = 1ull << 30;
			break;
		case 't':
		case 'T':
			mul = 1ull << 40;
			break;
		default:
			return -EINVAL;
		}
		end++;
		/* accept "KiB"/"KB" spellings too */
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (__builtin_mul_overflow((uint64_t)v, mul, out))
		return -EINVAL;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	size_t i;

	for (i = 0; i < CF_ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_log_level(const char *s, int *out)
{
	static const char *const names[] = { "emerg", "alert",	 "crit",
					     "err",   "warning", "notice",
					     "info",  "debug" };
	uint64_t v;
	size_t i;

	for (i = 0; i < CF_ARRAY_SIZE(names); i++) {
		if (!strcasecmp(s, names[i])) {
			*out = (int)i;
			return 0;
		}
	}
	if (!strcasecmp(s, "error")) {
		*out = LOG_ERR;
		return 0;
	}
	if (!strcasecmp(s, "warn")) {
		*out = LOG_WARNING;
		return 0;
	}
	if (parse_u64(s, false, &v) < 0 || v > LOG_DEBUG)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* "127.0.0.1:8443", "[::1]:8443", "host:0" */
static int parse_listen(struct srv_config *c, const char *s)
{
	const char *colon, *host = s;
	size_t host_len;
	uint64_t port;
	char *h;

	colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	host_len = (size_t)(colon - s);
	if (s[0] == '[') {
		if (host_len < 3 || s[host_len - 1] != ']')
			return -EINVAL;
		host = s + 1;
		host_len -= 2;
	} else if (memchr(s, ':', host_len)) {
		return -EINVAL; /* bare IPv6 needs brackets */
	}
	if (parse_u64(colon + 1, false, &port) < 0 || port > 65535)
		return -EINVAL;
	h = strndup(host, host_len);
	if (!h)
		return -ENOMEM;
	free(c->listen_addr);
	c->listen_addr = h;
	c->listen_port = (int)port;
	return 0;
}

static const struct key_desc *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < CF_ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

int srv_config_set(struct srv_config *c, const char *key, const char *value)
{
	const struct key_desc *k = find_key(key);
	char *base = (char *)c;
	uint64_t v;
	bool b;
	int rc, level;

	if (!k || !value)
		return -EINVAL;
	switch (k->type) {
	case KEY_STRING:
		if (!*value)
			return -EINVAL;
		return dup_into((char **)(void *)(base + k->offset), value);
	case KEY_OPT_STRING:
		if (!*value) {
			char **field = (char **)(void *)(base + k->offset);

			free(*field);
			*field = NULL;
			return 0;
		}
		return dup_into((char **)(void *)(base + k->offset), value);
	case KEY_BOOL:
		rc = parse_bool(value, &b);
		if (rc == 0)
			*(bool *)(void *)(base + k->offset) = b;
		return rc;
	case KEY_INT:
	case KEY_U32:
	case KEY_U64_SIZE:
	case KEY_SIZE:
		rc = parse_u64(value,
			       k->type == KEY_U64_SIZE || k->type == KEY_SIZE,
			       &v);
		if (rc < 0 || v < k->lo || v > k->hi)
			return -EINVAL;
		if (k->type == KEY_INT)
			*(int *)(void *)(base + k->offset) = (int)v;
		else if (k->type == KEY_U32)
			*(uint32_t *)(void *)(base + k->offset) = (uint32_t)v;
		else if (k->type == KEY_U64_SIZE)
			*(uint64_t *)(void *)(base + k->offset) = v;
		else if (v > SIZE_MAX)
			return -EINVAL;
		else
			*(size_t *)(void *)(base + k->offset) = (size_t)v;
		return 0;
	case KEY_LOG_LEVEL:
		rc = parse_log_level(value, &level);
		if (rc == 0)
			*(int *)(void *)(base + k->offset) = level;
		return rc;
	case KEY_LISTEN:
		return parse_listen(c, value);
	}
	return -EINVAL;
}

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s &&
	       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

/* One line of the file: blank, comment, or key = value. */
static int load_line(struct srv_config *c, const char *path, unsigned lineno,
		     char *line, char *end)
{
	char *eq, *key, *value;
	int rc;

	line = trim(line, end);
	if (!*line || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		cf_err("%s:%u: expected key = value", path, lineno);
		return -EINVAL;
	}
	value = trim(eq + 1, line + strlen(line));
	key = trim(line, eq);
	rc = srv_config_set(c, key, value);
	if (rc == -EINVAL) {
		if (!find_key(key))
			cf_err("%s:%u: unknown key '%s'", path, lineno, key);
		else
			cf_err("%s:%u: bad value for '%s': '%s'", path, lineno,
			       key, value);
	}
	return rc;
}

int srv_config_load(struct srv_config *c, const char *path, bool missing_ok)
{
	struct cf_buf buf;
	unsigned lineno = 0;
	char *p, *end, *nl;
	int rc;

	cf_buf_init(&buf, CONFIG_FILE_MAX);
	rc = cf_file_read_all(AT_FDCWD, path, &buf);
	if (rc == -ENOENT && missing_ok) {
		rc = 0;
		goto out;
	}
	if (rc < 0) {
		cf_err("cannot read config file %s: %s", path, strerror(-rc));
		if (rc == -EMSGSIZE)
			rc = -EINVAL;
		goto out;
	}
	if (memchr(buf.data, '\0', buf.len)) {
		cf_err("%s: config file holds a NUL byte", path);
		rc = -EINVAL;
		goto out;
	}
	p = buf.data;
	end = buf.data + buf.len;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		lineno++;
		rc = load_line(c, path, lineno, p, nl);
		if (rc < 0)
			goto out;
		p = nl + 1;
	}
	rc = 0;
out:
	cf_buf_release(&buf);
	return rc;
}
