/* SPDX-License-Identifier: MIT */
/*
 * Manifests (blk/manifest.h), layout in blk/proto.h. The parser trusts
 * nothing: it checks the header, bounds the entry count by the limit and
 * by the bytes actually present, and checks every entry size and their sum
 * before it allocates anything. Tags are HMAC-SHA256 through EVP_MAC.
 * Thread-safe, no state.
 */
#include "blk/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cf_util.h"
#include "keys_int.h"

/* First allocation of blk_manifest_add; doubles from there. */
#define ENTRIES_FIRST 16

void blk_manifest_init(struct blk_manifest *m)
{
	memset(m, 0, sizeof(*m));
}

int blk_manifest_add(struct blk_manifest *m, const struct blk_id *id,
		     uint32_t size)
{
	struct blk_manifest_entry *e;
	size_t alloc;

	if (size == 0 || size > BLK_CHUNK_MAX_LIMIT ||
	    m->count >= BLK_MANIFEST_ENTRIES_MAX ||
	    m->file_size > BLK_FILE_SIZE_MAX - size)
		return -EINVAL;
	if (m->count == m->alloc) {
		alloc = m->alloc ? m->alloc * 2 : ENTRIES_FIRST;
		if (alloc > BLK_MANIFEST_ENTRIES_MAX)
			alloc = BLK_MANIFEST_ENTRIES_MAX;
		/* alloc <= BLK_MANIFEST_ENTRIES_MAX: the product fits. */
		e = realloc(m->entries, alloc * sizeof(*e));
		if (!e)
			return -ENOMEM;
		m->entries = e;
		m->alloc = alloc;
	}
	m->entries[m->count].id = *id;
	m->entries[m->count].size = size;
	m->count++;
	m->file_size += size;
	return 0;
}

void blk_manifest_release(struct blk_manifest *m)
{
	free(m->entries);
	blk_manifest_init(m);
}

int blk_manifest_encode(const struct blk_manifest *m, struct cf_buf *out)
{
	uint64_t sum = 0;
	size_t i, total;
	uint8_t *p;
	int rc;

	if (m->count > BLK_MANIFEST_ENTRIES_MAX ||
	    m->file_size > BLK_FILE_SIZE_MAX || (m->count && !m->entries))
		return -EINVAL;
	/* count and each size are bounded, so neither sum can overflow. */
	for (i = 0; i < m->count; i++) {
		if (m->entries[i].size == 0 ||
		    m->entries[i].size > BLK_CHUNK_MAX_LIMIT)
			return -EINVAL;
		sum += m->entries[i].size;
	}
	if (sum != m->file_size)
		return -EINVAL;
	total = BLK_MANIFEST_HEADER_SIZE + m->count * BLK_MANIFEST_ENTRY_SIZE;
	rc = cf_buf_grow(out, total);
	if (rc < 0)
		return rc;
	p = (uint8_t *)out->data + out->len;
	memcpy(p, BLK_MANIFEST_MAGIC, 4);
	p[4] = BLK_MANIFEST_VERSION;
	p[5] = p[6] = p[7] = 0;
	cf_put_le64(p + 8, m->file_size);
	cf_put_le32(p + 16, (uint32_t)m->count);
	p += BLK_MANIFEST_HEADER_SIZE;
	for (i = 0; i < m->count; i++) {
		memcpy(p, m->entries[i].id.bytes, BLK_ID_SIZE);
		cf_put_le32(p + BLK_ID_SIZE, m->entries[i].size);
		p += BLK_MANIFEST_ENTRY_SIZE;
	}
	out->len += total;
	out->data[out->len] = '\0';
	return 0;
}

int blk_manifest_parse(const void *data, size_t size, struct blk_manifest *out)
{
	const uint8_t *p = data, *e;
	uint64_t file_size, sum = 0;
	uint32_t esize;
	size_t count, body, i;

	blk_manifest_init(out);
	if (!data && size)
		return -EINVAL;
	if (size < BLK_MANIFEST_HEADER_SIZE)
		return -ENODATA;
	if (memcmp(p, BLK_MANIFEST_MAGIC, 4) != 0)
		return -EPROTO;
	if (p[4] != BLK_MANIFEST_VERSION)
		return -EPROTONOSUPPORT;
	if (p[5] || p[6] || p[7])
		return -EPROTO;
	file_size = cf_get_le64(p + 8);
	count = cf_get_le32(p + 16);
	if (file_size > BLK_FILE_SIZE_MAX || count > BLK_MANIFEST_ENTRIES_MAX)
		return -E2BIG;
	/* The bytes present must be exactly count entries. */
	body = size - BLK_MANIFEST_HEADER_SIZE;
	if (body % BLK_MANIFEST_ENTRY_SIZE != 0 ||
	    body / BLK_MANIFEST_ENTRY_SIZE != count)
		return -ENODATA;
	e = p + BLK_MANIFEST_HEADER_SIZE;
	for (i = 0; i < count; i++, e += BLK_MANIFEST_ENTRY_SIZE) {
		esize = cf_get_le32(e + BLK_ID_SIZE);
		if (esize == 0 || esize > BLK_CHUNK_MAX_LIMIT)
			return -EPROTO;
		sum += esize;
	}
	if (sum != file_size)
		return -EPROTO;
	if (count == 0)
		return 0;
	out->entries = malloc(count * sizeof(*out->entries));
	if (!out->entries)
		return -ENOMEM;
	e = p + BLK_MANIFEST_HEADER_SIZE;
	for (i = 0; i < count; i++, e += BLK_MANIFEST_ENTRY_SIZE) {
		memcpy(out->entries[i].id.bytes, e, BLK_ID_SIZE);
		out->entries[i].size = cf_get_le32(e + BLK_ID_SIZE);
	}
	out->count = count;
	out->alloc = count;
	out->file_size = file_size;
	return 0;
}

int blk_manifest_tag(const uint8_t k_mac[BLK_KEY_SIZE],
		     const uint8_t file_id[BLK_FILE_ID_SIZE], const void *data,
		     size_t size, uint8_t out_tag[BLK_MANIFEST_TAG_SIZE])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	size_t n = 0;
	int rc;

	if (!data && size)
		return -EINVAL;
	mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	if (!ctx) {
		rc = blk_crypto_errno();
		goto out;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, k_mac, BLK_KEY_SIZE, params) != 1 ||
	    EVP_MAC_update(ctx, file_id, BLK_FILE_ID_SIZE) != 1 ||
	    (size && EVP_MAC_update(ctx, data, size) != 1) ||
	    EVP_MAC_final(ctx, out_tag, &n, BLK_MANIFEST_TAG_SIZE) != 1 ||
	    n != BLK_MANIFEST_TAG_SIZE) {
		rc = blk_crypto_errno();
		goto out;
	}
	rc = 0;
out:
	/* Freeing the context wipes its copy of k_mac. */
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

int blk_manifest_verify_parse(const uint8_t k_mac[BLK_KEY_SIZE],
			      const uint8_t file_id[BLK_FILE_ID_SIZE],
			      const void *data, size_t size,
			      const uint8_t tag[BLK_MANIFEST_TAG_SIZE],
			      struct blk_manifest *out)
{
	uint8_t want[BLK_MANIFEST_TAG_SIZE];
	int rc;

	blk_manifest_init(out);
	rc = blk_manifest_tag(k_mac, file_id, data, size, want);
	if (rc < 0)
		return rc;
	/* Nothing in data is looked at before the tag holds. */
	if (CRYPTO_memcmp(want, tag, sizeof(want)) != 0)
		return -EBADMSG;
	return blk_manifest_parse(data, size, out);
}
