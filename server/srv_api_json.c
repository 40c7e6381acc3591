/* SPDX-License-Identifier: MIT */
/*
 * The JSON side of the API, shared by every handler: values out (hex,
 * base64, nodes, entries), fields in (typed, range-checked, each failure a
 * 400 naming the field), query parameters (percent-decoded with a cap, %00
 * refused) and path captures. Stateless; thread-safe.
 */
#include "srv_api_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cf_path.h"

/* ----- JSON values ----- */

json_t *api_json_hex(const uint8_t *data, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	char small[2 * 64 + 1] = "";
	char *buf = small;
	json_t *j;
	size_t i;

	if (size > 64) {
		buf = malloc(2 * size + 1);
		if (!buf)
			return NULL;
	}
	for (i = 0; i < size; i++) {
		buf[2 * i] = digits[data[i] >> 4];
		buf[2 * i + 1] = digits[data[i] & 0x0f];
	}
	j = json_stringn_nocheck(buf, 2 * size);
	if (buf != small)
		free(buf);
	return j;
}

json_t *api_json_base64(const uint8_t *data, size_t size)
{
	size_t out_size = (size + 2) / 3 * 4;
	unsigned char *buf;
	json_t *j;
	int n;

	if (size > (size_t)INT32_MAX / 2)
		return NULL;
	buf = malloc(out_size + 1);
	if (!buf)
		return NULL;
	n = EVP_EncodeBlock(buf, data, (int)size);
	j = n == (int)out_size ? json_stringn_nocheck((char *)buf, out_size)
			       : NULL;
	free(buf);
	return j;
}

json_t *api_json_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static const char *const kind_names[] = {
	[SRV_NODE_FILE] = "file",	[SRV_NODE_DIR] = "dir",
	[SRV_NODE_SYMLINK] = "symlink", [SRV_NODE_FIFO] = "fifo",
	[SRV_NODE_CHR] = "chr",		[SRV_NODE_BLK] = "blk",
	[SRV_NODE_SOCK] = "sock",
};

const char *api_kind_name(enum srv_node_kind kind)
{
	if ((size_t)kind < CF_ARRAY_SIZE(kind_names) && kind_names[kind])
		return kind_names[kind];
	return "unknown";
}

int api_kind_parse(const char *s, enum srv_node_kind *out)
{
	size_t i;

	for (i = 1; i < CF_ARRAY_SIZE(kind_names); i++) {
		if (kind_names[i] && strcmp(s, kind_names[i]) == 0) {
			*out = (enum srv_node_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *api_codec_name(uint8_t codec)
{
	switch (codec) {
	case BLK_CODEC_ZSTD:
		return "zstd";
	case BLK_CODEC_ZLIB:
		return "zlib";
	case BLK_CODEC_RAW:
		return "raw";
	default:
		return "unknown";
	}
}

json_t *api_node_json(const struct srv_node *n)
{
	bool pending = n->status == SRV_STATUS_PENDING;
	json_t *j = json_object();

	if (!j)
		return NULL;
	if (api_set(j, "id", api_json_hex(n->id, SRV_NODE_ID_SIZE)) < 0 ||
	    api_set(j, "kind", json_string(api_kind_name(n->kind))) < 0 ||
	    api_set(j, "mode", json_integer(n->mode)) < 0 ||
	    api_set(j, "uid", json_integer(n->uid)) < 0 ||
	    api_set(j, "gid", json_integer(n->gid)) < 0 ||
	    api_set(j, "rdev", api_json_u64(n->rdev)) < 0 ||
	    api_set(j, "size", api_json_u64(n->size)) < 0 ||
	    api_set(j, "mtime", json_integer(n->mtime_ns)) < 0 ||
	    api_set(j, "ctime", json_integer(n->ctime_ns)) < 0 ||
	    api_set(j, "version", api_json_u64(n->version)) < 0 ||
	    api_set(j, "status",
		    json_string(pending ? "pending" : "uploaded")) < 0 ||
	    api_set(j, "pending_device",
		    json_integer(pending ? n->pending_device : 0)) < 0 ||
	    api_set(j, "nlink", json_integer(n->nlink)) < 0 ||
	    api_set(j, "seq", api_json_u64(n->seq)) < 0)
		goto fail;
	if (n->kind == SRV_NODE_SYMLINK &&
	    api_set(j, "target",
		    json_stringn(n->target,
				 strnlen(n->target, sizeof(n->target)))) < 0)
		goto fail;
	if (n->deleted &&
	    api_set(j, "deleted", json_integer(api_sec_to_ns(n->deleted))) < 0)
		goto fail;
	return j;
fail:
	json_decref(j);
	return NULL;
}

json_t *api_entry_json(const struct srv_entry *e)
{
	json_t *j = json_object();

	if (!j)
		return NULL;
	if (api_set(j, "entry_id", json_integer(e->id)) < 0 ||
	    api_set(j, "parent", api_json_hex(e->parent, SRV_NODE_ID_SIZE)) <
		    0 ||
	    api_set(j, "name", json_stringn(e->name, e->name_len)) < 0 ||
	    api_set(j, "node", api_json_hex(e->node, SRV_NODE_ID_SIZE)) < 0 ||
	    api_set(j, "deleted", json_boolean(e->deleted)) < 0 ||
	    api_set(j, "seq", api_json_u64(e->seq)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ----- JSON request fields ----- */

/* The field's value, or NULL when absent or null. */
static json_t *field_get(struct api_call *c, const char *field)
{
	json_t *v = c->body ? json_object_get(c->body, field) : NULL;

	return json_is_null(v) ? NULL : v;
}

static int field_missing(struct api_call *c, const char *field, bool required)
{
	if (!required)
		return 1;
	return api_fail(c, -EINVAL, "field '%s' is missing", field);
}

int api_get_string(struct api_call *c, const char *field, bool required,
		   const char **out, size_t *out_len)
{
	json_t *v = field_get(c, field);

	if (!v)
		return field_missing(c, field, required);
	if (!json_is_string(v))
		return api_fail(c, -EINVAL, "field '%s' must be a string",
				field);
	*out = json_string_value(v);
	*out_len = json_string_length(v);
	return 0;
}

int api_get_u64(struct api_call *c, const char *field, bool required,
		uint64_t max, uint64_t *out)
{
	json_t *v = field_get(c, field);
	json_int_t x;

	if (!v)
		return field_missing(c, field, required);
	if (!json_is_integer(v))
		return api_fail(c, -EINVAL, "field '%s' must be an integer",
				field);
	x = json_integer_value(v);
	if (x < 0 || (uint64_t)x > max)
		return api_fail(c, -EINVAL,
				"field '%s' must be an integer from 0 to %llu",
				field, (unsigned long long)max);
	*out = (uint64_t)x;
	return 0;
}

int api_get_i64(struct api_call *c, const char *field, bool required,
		int64_t *out)
{
	json_t *v = field_get(c, field);

	if (!v)
		return field_missing(c, field, required);
	if (!json_is_integer(v))
		return api_fail(c, -EINVAL, "field '%s' must be an integer",
				field);
	*out = json_integer_value(v);
	return 0;
}

int api_get_bool(struct api_call *c, const char *field, bool *out)
{
	json_t *v = field_get(c, field);

	if (!v)
		return 1;
	if (!json_is_boolean(v))
		return api_fail(c, -EINVAL, "field '%s' must be true or false",
				field);
	*out = json_is_true(v);
	return 0;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Exactly 2*size hex digits of s (len bytes) into out: 0 or -EINVAL. */
static int hex_decode(const char *s, size_t len, uint8_t *out, size_t size)
{
	size_t i;
	int hi, lo;

	if (len != 2 * size)
		return -EINVAL;
	for (i = 0; i < size; i++) {
		hi = hex_digit(s[2 * i]);
		lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int api_get_hex(struct api_call *c, const char *field, bool required,
		uint8_t *out, size_t size)
{
	const char *s;
	size_t len;
	int rc;

	rc = api_get_string(c, field, required, &s, &len);
	if (rc != 0)
		return rc;
	if (hex_decode(s, len, out, size) < 0)
		return api_fail(c, -EINVAL, "field '%s' must be %zu hex digits",
				field, 2 * size);
	return 0;
}

int api_get_node_id(struct api_call *c, const char *field, bool required,
		    uint8_t out[SRV_NODE_ID_SIZE])
{
	return api_get_hex(c, field, required, out, SRV_NODE_ID_SIZE);
}

int api_get_name(struct api_call *c, const char *field, const char **out,
		 size_t *out_len)
{
	int rc;

	rc = api_get_string(c, field, true, out, out_len);
	if (rc != 0)
		return rc;
	rc = cf_name_check(*out, *out_len);
	if (rc == -ENAMETOOLONG)
		return api_fail_code(c, rc, 400, "name_too_long", NULL,
				     "field '%s' is longer than %d bytes",
				     field, CF_NAME_MAX);
	if (rc < 0)
		return api_fail_code(c, rc, 400, "bad_name", NULL,
				     "field '%s' is not a valid name: it must "
				     "not be empty, '.' or '..', nor hold '/' "
				     "or NUL",
				     field);
	return 0;
}

static bool is_b64_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

int api_get_base64(struct api_call *c, const char *field, size_t max,
		   uint8_t **out, size_t *out_size)
{
	const char *s;
	uint8_t *buf;
	size_t len, i, pad = 0, size;
	int rc, n;

	*out = NULL;
	*out_size = 0;
	rc = api_get_string(c, field, true, &s, &len);
	if (rc != 0)
		return rc;
	if (len % 4 != 0)
		goto bad;
	if (len && s[len - 1] == '=')
		pad = len >= 2 && s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++) {
		if (!is_b64_char(s[i]))
			goto bad;
	}
	size = len / 4 * 3 - pad;
	if (size > max)
		return api_fail(c, -EMSGSIZE,
				"field '%s' is larger than %zu bytes", field,
				max);
	if (len > INT32_MAX)
		goto bad;
	buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	n = len ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) : 0;
	if (n < 0 || (size_t)n != len / 4 * 3) {
		free(buf);
		goto bad;
	}
	*out = buf;
	*out_size = size;
	return 0;
bad:
	return api_fail(c, -EINVAL, "field '%s' must be standard base64",
			field);
}

/* ----- query string ----- */

/* Decode one percent-encoded value of len bytes into out. */
static int query_decode(const char *s, size_t len, struct cf_buf *out)
{
	size_t i;
	int rc, hi, lo;
	char ch;

	for (i = 0; i < len; i++) {
		ch = s[i];
		if (ch == '+') {
			ch = ' ';
		} else if (ch == '%') {
			if (len - i < 3)
				return -EINVAL;
			hi = hex_digit(s[i + 1]);
			lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			ch = (char)(hi << 4 | lo);
			if (ch == '\0')
				return -EINVAL;
			i += 2;
		}
		rc = cf_buf_append(out, &ch, 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int api_query(struct api_call *c, const char *key, struct cf_buf *out)
{
	const char *q = c->req->query ? c->req->query : "";
	size_t key_len = strlen(key), len;
	const char *amp, *eq;
	int rc;

	cf_buf_reset(out);
	while (*q) {
		amp = strchr(q, '&');
		len = amp ? (size_t)(amp - q) : strlen(q);
		eq = memchr(q, '=', len);
		if (eq && (size_t)(eq - q) == key_len &&
		    memcmp(q, key, key_len) == 0) {
			rc = query_decode(eq + 1, len - key_len - 1, out);
			if (rc == -EMSGSIZE)
				return api_fail(c,
						strcmp(key, "path") == 0
							? -ENAMETOOLONG
							: -EINVAL,
						"query parameter '%s' is too "
						"long",
						key);
			if (rc == -EINVAL)
				return api_fail(c, rc,
						"query parameter '%s' is "
						"malformed",
						key);
			return rc;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	return 1;
}

int api_query_u64(struct api_call *c, const char *key, uint64_t max,
		  uint64_t *out)
{
	unsigned long long v;
	struct cf_buf b;
	char *end = NULL;
	int rc;

	cf_buf_init(&b, 24);
	rc = api_query(c, key, &b);
	if (rc != 0)
		goto out;
	if (b.len == 0 || b.data[0] < '0' || b.data[0] > '9')
		goto bad;
	errno = 0;
	v = strtoull(b.data, &end, 10);
	if (errno == ERANGE || *end != '\0' || v > max)
		goto bad;
	*out = v;
	goto out;
bad:
	rc = api_fail(c, -EINVAL,
		      "query parameter '%s' must be an integer from 0 to %llu",
		      key, (unsigned long long)max);
out:
	cf_buf_release(&b);
	return rc;
}

/* ----- path captures ----- */

int api_arg_node_id(struct api_call *c, int i, uint8_t out[SRV_NODE_ID_SIZE])
{
	if (hex_decode(c->arg[i], c->arg_len[i], out, SRV_NODE_ID_SIZE) < 0)
		return api_fail(c, -EINVAL, "a node id is 32 hex digits");
	return 0;
}

int api_arg_block_id(struct api_call *c, int i, struct blk_id *out)
{
	if (blk_id_from_hex(c->arg[i], c->arg_len[i], out) < 0)
		return api_fail(c, -EINVAL, "a block id is 64 hex digits");
	return 0;
}
