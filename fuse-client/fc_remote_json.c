/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd API client, the JSON helpers the routes build bodies and check
 * answers with: typed getters that turn a missing, mistyped or
 * out-of-range field into -EPROTO, setters that refuse what the wire
 * format cannot carry, and the hex and base64 encodings ids and manifests
 * travel in. Pure functions, safe from any thread.
 */
#include "fc_remote_int.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cf_hex.h"

/* ----- hex, base64 ----- */

void fc_remote_node_id_hex(const uint8_t id[FC_NODE_ID_SIZE],
			   char out[FC_NODE_HEX_SIZE])
{
	cf_hex_encode(id, FC_NODE_ID_SIZE, out);
}

/* base64 of size bytes as a new JSON string; NULL on -ENOMEM. */
json_t *fc_remote_b64_json(const void *data, size_t size)
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
int fc_remote_b64_decode(const char *text, size_t len, uint8_t **out,
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

/* ----- JSON helpers ----- */

int fc_remote_jget_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EPROTO;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int fc_remote_jget_i64(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return -EPROTO;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int fc_remote_jget_u32(json_t *o, const char *key, uint32_t *out)
{
	uint64_t v;

	if (fc_remote_jget_u64(o, key, &v) < 0 || v > UINT32_MAX)
		return -EPROTO;
	*out = (uint32_t)v;
	return 0;
}

/* Optional integer: default when absent or null. */
int fc_remote_jopt_u64(json_t *o, const char *key, uint64_t dflt, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	return fc_remote_jget_u64(o, key, out);
}

int fc_remote_jopt_i64(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		*out = 0;
		return 0;
	}
	return fc_remote_jget_i64(o, key, out);
}

/* Fixed-size binary field sent as hex. */
int fc_remote_jget_hex(json_t *o, const char *key, uint8_t *out, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return -EPROTO;
	if (cf_hex_decode(json_string_value(v), json_string_length(v), out,
			  size) < 0)
		return -EPROTO;
	return 0;
}

int fc_remote_jget_block_id(json_t *v, struct blk_id *out)
{
	if (!json_is_string(v) ||
	    blk_id_from_hex(json_string_value(v), json_string_length(v), out) <
		    0)
		return -EPROTO;
	return 0;
}

int fc_remote_jget_chunk(json_t *o, struct blk_chunker_params *out)
{
	json_t *ch = json_object_get(o, "chunk");

	if (!json_is_object(ch) ||
	    fc_remote_jget_u32(ch, "min", &out->min_size) ||
	    fc_remote_jget_u32(ch, "avg", &out->avg_size) ||
	    fc_remote_jget_u32(ch, "max", &out->max_size) ||
	    blk_chunker_params_check(out) < 0)
		return -EPROTO;
	return 0;
}

/* "codec": a name or a number. */
int fc_remote_jget_codec(json_t *o, int *out)
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

int fc_remote_jset_new(json_t *o, const char *key, json_t *v)
{
	if (!v || json_object_set_new(o, key, v) < 0)
		return -ENOMEM;
	return 0;
}

int fc_remote_jset_hex(json_t *o, const char *key, const uint8_t *data,
		       size_t size)
{
	char hex[2 * 64 + 1];

	if (size > 64)
		return -EINVAL;
	cf_hex_encode(data, size, hex);
	return fc_remote_jset_new(o, key, json_string(hex));
}

/* Names are opaque bytes on the server; JSON carries them as strings. */
static int jset_name(json_t *o, const char *key, const char *name, size_t len)
{
	json_t *v;

	if (cf_name_check(name, len) < 0)
		return cf_name_check(name, len);
	v = json_stringn(name, len);
	if (!v)
		return -EILSEQ; /* not UTF-8: the wire format cannot carry it */
	return fc_remote_jset_new(o, key, v);
}

int fc_remote_jset_entry(json_t *o, const char *parent_key,
			 const uint8_t *parent, const char *name_key,
			 const char *name, size_t len)
{
	int rc = fc_remote_jset_hex(o, parent_key, parent, FC_NODE_ID_SIZE);

	return rc ? rc : jset_name(o, name_key, name, len);
}

int fc_remote_jset_u64(json_t *o, const char *key, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX)
		return -EINVAL;
	return fc_remote_jset_new(o, key, json_integer((json_int_t)v));
}
