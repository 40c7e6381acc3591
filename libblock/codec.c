/* SPDX-License-Identifier: MIT */
/*
 * Block codec (blk/codec.h): chunk -> blob and back, layout in blk/proto.h.
 *
 * Encode makes one pass per stage and no copies: HMAC the chunk for the
 * nonce, compress it straight into the blob buffer after the header,
 * encrypt the payload in place (or from the chunk when it stays raw),
 * append the tag, hash the blob. Incompressible data skips the compressor:
 * a few small samples spread over the chunk are compressed first with
 * zstd's fastest regular level, and the chunk is stored raw when they do
 * not shrink. When a full pass runs, its output is capped at 7/8 of the
 * chunk, so a chunk that cannot save 1/8 stops as soon as it overflows.
 *
 * Decode checks the header and the id before touching keys, decrypts into
 * a scratch buffer, and decompresses with the declared size as the hard
 * output bound.
 *
 * Every context (AES-GCM keyed once, HMAC keyed once, SHA-256, zstd, zlib)
 * and both scratch buffers are made in blk_codec_new and reused: encode and
 * decode allocate nothing of their own. One codec per thread.
 */
#include "blk/codec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "cf_util.h"
#include "codec_int.h"
#include "keys_int.h"

/*
 * The probe: PROBE_SAMPLES slices of PROBE_SAMPLE_SIZE bytes, evenly spread
 * from the first byte to the last. Compression is tried in full only when
 * they shrink to 15/16 or less: small samples compress worse than the
 * whole chunk, so this gate is looser than the 1/8 the real pass must save.
 * Chunks below PROBE_MIN_SIZE are probed whole (zlib) or compressed
 * directly (zstd, whose capped pass is as cheap as the probe).
 */
#define PROBE_SAMPLES	  4
#define PROBE_SAMPLE_SIZE 2048
#define PROBE_MIN_SIZE	  (4 * PROBE_SAMPLES * PROBE_SAMPLE_SIZE)

struct blk_codec {
	struct blk_codec_opts opts;
	int level; /* effective level of opts.codec */
	EVP_CIPHER *aes; /* owned: AES-256-GCM, fetched once */
	EVP_CIPHER_CTX *enc; /* owned: keyed with K_data */
	EVP_CIPHER_CTX *dec; /* owned: keyed with K_data */
	EVP_MAC *hmac; /* owned */
	EVP_MAC_CTX *nonce_mac; /* owned: HMAC-SHA256 keyed with K_nonce */
	EVP_MD *sha256; /* owned */
	EVP_MD_CTX *md; /* owned: block ids */
	ZSTD_CCtx *zc; /* owned: the zstd codec, NULL for zlib */
	ZSTD_CCtx *probe; /* owned: the sampling probe */
	ZSTD_DCtx *zd; /* owned */
	z_stream def; /* owned once def_ready: the zlib codec */
	z_stream inf; /* owned once inf_ready */
	bool def_ready;
	bool inf_ready;
	uint8_t *blob; /* owned: BLK_BLOB_SIZE_MAX(max) bytes */
	uint8_t *plain; /* owned: max + 1 bytes, decode output */
};

/* A header that passed check_header. */
struct hdr {
	uint8_t codec;
	uint32_t declared;
	size_t payload_size;
};

const char *blk_strerror(int rc)
{
	static const struct {
		int rc;
		const char *msg;
	} table[] = {
		{ 0, "success" },
		{ BLK_ERR_ID,
		  "data does not match its block id or manifest tag" },
		{ BLK_ERR_TAG,
		  "authentication failed: the data was tampered with or the key is wrong" },
		{ BLK_ERR_VERSION, "unsupported format version" },
		{ BLK_ERR_TRUNCATED, "block or manifest is truncated" },
		{ BLK_ERR_INFLATE,
		  "payload decompresses past its declared size" },
		{ BLK_ERR_FORMAT, "malformed block or manifest" },
		{ -E2BIG, "manifest has too many entries or too large a file" },
		{ -EINVAL, "invalid argument" },
		{ -ENOMEM, "out of memory" },
		{ -EIO, "input/output or crypto library error" },
		{ -EMSGSIZE, "result exceeds the buffer's size limit" },
	};
	const char *desc;
	size_t i;

	for (i = 0; i < CF_ARRAY_SIZE(table); i++) {
		if (table[i].rc == rc)
			return table[i].msg;
	}
	/* glibc's own table: thread-safe, NULL for unknown numbers. */
	desc = rc < 0 ? strerrordesc_np(-rc) : NULL;
	return desc ? desc : "unknown error";
}

/* zlib allocates through these so its memory is ours to account for. */
static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size)
{
	size_t n;

	(void)opaque;
	if (!cf_size_mul(items, size, &n))
		return NULL;
	return malloc(n);
}

static void zlib_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	free(p);
}

/* A zstd error code as an errno; dstSize_tooSmall is handled by callers. */
static int zstd_errno(size_t r)
{
	return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -ENOMEM
								    : -EIO;
}

static int opts_check(const struct blk_codec_opts *o, int *out_level)
{
	int level;

	if (o->max_chunk_size < BLK_CHUNK_MIN_LIMIT ||
	    o->max_chunk_size > BLK_CHUNK_MAX_LIMIT)
		return -EINVAL;
	switch (o->codec) {
	case BLK_CODEC_ZSTD:
		level = o->zstd_level ? o->zstd_level
				      : BLK_CODEC_ZSTD_LEVEL_DEFAULT;
		if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
			return -EINVAL;
		break;
	case BLK_CODEC_ZLIB:
		level = o->zlib_level ? o->zlib_level
				      : BLK_CODEC_ZLIB_LEVEL_DEFAULT;
		if (level < 1 || level > 9)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	/* The level of the codec not chosen must still be sane. */
	if (o->zstd_level && (o->zstd_level < ZSTD_minCLevel() ||
			      o->zstd_level > ZSTD_maxCLevel()))
		return -EINVAL;
	if (o->zlib_level && (o->zlib_level < 1 || o->zlib_level > 9))
		return -EINVAL;
	*out_level = level;
	return 0;
}

/* The OpenSSL half of blk_codec_new. */
static int crypto_setup(struct blk_codec *c, const struct blk_volume_keys *k)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];

	c->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	c->hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	c->sha256 = EVP_MD_fetch(NULL, OSSL_DIGEST_NAME_SHA2_256, NULL);
	c->enc = EVP_CIPHER_CTX_new();
	c->dec = EVP_CIPHER_CTX_new();
	c->md = EVP_MD_CTX_new();
	if (!c->aes || !c->hmac || !c->sha256 || !c->enc || !c->dec || !c->md)
		return blk_crypto_errno();
	c->nonce_mac = EVP_MAC_CTX_new(c->hmac);
	if (!c->nonce_mac)
		return blk_crypto_errno();
	/* Key once; each block only sets its IV or re-inits the HMAC. */
	if (EVP_EncryptInit_ex2(c->enc, c->aes, k->data, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex2(c->dec, c->aes, k->data, NULL, NULL) != 1)
		return blk_crypto_errno();
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(c->nonce_mac, k->nonce, BLK_KEY_SIZE, params) != 1)
		return blk_crypto_errno();
	return 0;
}

/* The compression half of blk_codec_new. */
static int zip_setup(struct blk_codec *c)
{
	int zrc;

	c->probe = ZSTD_createCCtx();
	c->zd = ZSTD_createDCtx();
	if (!c->probe || !c->zd)
		return -ENOMEM;
	if (c->opts.codec == BLK_CODEC_ZSTD) {
		c->zc = ZSTD_createCCtx();
		if (!c->zc)
			return -ENOMEM;
		/* No frame checksum: the GCM tag covers the payload. */
		if (ZSTD_isError(ZSTD_CCtx_setParameter(
			    c->zc, ZSTD_c_compressionLevel, c->level)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(
			    c->zc, ZSTD_c_checksumFlag, 0)))
			return -EIO;
	} else {
		c->def.zalloc = zlib_alloc;
		c->def.zfree = zlib_free;
		zrc = deflateInit2(&c->def, c->level, Z_DEFLATED, 15, 8,
				   Z_DEFAULT_STRATEGY);
		if (zrc != Z_OK)
			return zrc == Z_MEM_ERROR ? -ENOMEM : -EIO;
		c->def_ready = true;
	}
	c->inf.zalloc = zlib_alloc;
	c->inf.zfree = zlib_free;
	zrc = inflateInit(&c->inf);
	if (zrc != Z_OK)
		return zrc == Z_MEM_ERROR ? -ENOMEM : -EIO;
	c->inf_ready = true;
	return 0;
}

int blk_codec_new(const struct blk_volume_keys *keys,
		  const struct blk_codec_opts *opts, struct blk_codec **out)
{
	const struct blk_codec_opts defaults = BLK_CODEC_OPTS_DEFAULT;
	struct blk_codec *c = NULL;
	int level, rc;

	*out = NULL;
	if (!keys)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	rc = opts_check(opts, &level);
	if (rc < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->opts = *opts;
	c->level = level;
	c->blob = malloc(BLK_BLOB_SIZE_MAX(opts->max_chunk_size));
	c->plain = malloc((size_t)opts->max_chunk_size + 1);
	if (!c->blob || !c->plain) {
		rc = -ENOMEM;
		goto out;
	}
	rc = crypto_setup(c, keys);
	if (rc < 0)
		goto out;
	rc = zip_setup(c);
	if (rc < 0)
		goto out;
	*out = c;
	c = NULL;
out:
	blk_codec_free(c);
	return rc;
}

void blk_codec_free(struct blk_codec *c)
{
	if (!c)
		return;
	/* The EVP frees wipe the key schedules and the HMAC key. */
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	EVP_MAC_CTX_free(c->nonce_mac);
	EVP_MD_CTX_free(c->md);
	EVP_CIPHER_free(c->aes);
	EVP_MAC_free(c->hmac);
	EVP_MD_free(c->sha256);
	ZSTD_freeCCtx(c->zc);
	ZSTD_freeCCtx(c->probe);
	ZSTD_freeDCtx(c->zd);
	if (c->def_ready)
		deflateEnd(&c->def);
	if (c->inf_ready)
		inflateEnd(&c->inf);
	free(c->blob);
	free(c->plain);
	free(c);
}

/* Whether [a, a + an) and [b, b + bn) share a byte. */
static bool overlaps(const void *a, size_t an, const void *b, size_t bn)
{
	uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;

	return an && bn && pa < pb + bn && pb < pa + an;
}

static int sha256(struct blk_codec *c, const void *data, size_t size,
		  struct blk_id *out)
{
	unsigned int n = 0;

	if (EVP_DigestInit_ex2(c->md, c->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(c->md, data, size) != 1 ||
	    EVP_DigestFinal_ex(c->md, out->bytes, &n) != 1 || n != BLK_ID_SIZE)
		return blk_crypto_errno();
	return 0;
}

/* nonce = first 12 bytes of HMAC-SHA256(K_nonce, chunk). */
static int make_nonce(struct blk_codec *c, const void *chunk, size_t size,
		      uint8_t nonce[BLK_NONCE_SIZE])
{
	uint8_t mac[32];
	size_t n = 0;

	/* A NULL key re-inits with the key set in crypto_setup. */
	if (EVP_MAC_init(c->nonce_mac, NULL, 0, NULL) != 1 ||
	    (size && EVP_MAC_update(c->nonce_mac, chunk, size) != 1) ||
	    EVP_MAC_final(c->nonce_mac, mac, &n, sizeof(mac)) != 1 ||
	    n != sizeof(mac))
		return blk_crypto_errno();
	memcpy(nonce, mac, BLK_NONCE_SIZE);
	/* The other 20 bytes are a keyed digest of the chunk: drop them. */
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/*
 * Write the header, encrypt payload_size bytes of payload into the blob
 * after it (payload is either elsewhere or exactly c->blob + header: GCM
 * works in place), append the tag and hash the result.
 */
static int seal(struct blk_codec *c, uint8_t codec, uint32_t declared,
		const uint8_t nonce[BLK_NONCE_SIZE], const uint8_t *payload,
		size_t payload_size, struct blk_blob *out)
{
	uint8_t *h = c->blob, *ct = c->blob + BLK_HEADER_SIZE;
	int n, rc;

	memcpy(h, BLK_MAGIC, BLK_MAGIC_SIZE);
	h[4] = BLK_FORMAT_VERSION;
	h[5] = codec;
	h[6] = 0;
	h[7] = 0;
	cf_put_le32(h + 8, declared);
	memcpy(h + 12, nonce, BLK_NONCE_SIZE);
	if (EVP_EncryptInit_ex2(c->enc, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(c->enc, NULL, &n, h, BLK_HEADER_SIZE) != 1 ||
	    (payload_size && EVP_EncryptUpdate(c->enc, ct, &n, payload,
					       (int)payload_size) != 1) ||
	    EVP_EncryptFinal_ex(c->enc, ct + payload_size, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_GCM_GET_TAG, BLK_TAG_SIZE,
				ct + payload_size) != 1)
		return blk_crypto_errno();
	out->data = c->blob;
	out->size = BLK_OVERHEAD + payload_size;
	out->codec = codec;
	rc = sha256(c, out->data, out->size, &out->id);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int blk_codec_seal(struct blk_codec *c, uint8_t codec, uint32_t declared,
		   const uint8_t nonce[BLK_NONCE_SIZE], const void *payload,
		   size_t payload_size, struct blk_blob *out)
{
	if (payload_size > c->opts.max_chunk_size ||
	    (payload_size && !payload) ||
	    overlaps(payload, payload_size, c->blob,
		     BLK_BLOB_SIZE_MAX(c->opts.max_chunk_size)))
		return -EINVAL;
	return seal(c, codec, declared, nonce, payload, payload_size, out);
}

/*
 * zstd-compress size bytes of src into at most cap bytes of dst, at level,
 * or with the context's own parameters when level is 0. *out_size is 0
 * when it does not fit. 0, -ENOMEM, -EIO.
 */
static int zstd_fit(ZSTD_CCtx *z, int level, uint8_t *dst, size_t cap,
		    const uint8_t *src, size_t size, size_t *out_size)
{
	size_t r;

	if (level == 0)
		r = ZSTD_compress2(z, dst, cap, src, size);
	else
		r = ZSTD_compressCCtx(z, dst, cap, src, size, level);
	*out_size = 0;
	if (!ZSTD_isError(r)) {
		*out_size = r;
		return 0;
	}
	if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
		return 0;
	return zstd_errno(r);
}

/*
 * Whether a full compression pass over the chunk looks worth it. Writes
 * scratch output into the blob's payload area, which the caller
 * overwrites afterwards.
 */
static int probe(struct blk_codec *c, const uint8_t *p, size_t size, bool *out)
{
	uint8_t *dst = c->blob + BLK_HEADER_SIZE;
	size_t i, off, got, in = 0, total = 0;
	int rc;

	*out = false;
	if (size < PROBE_MIN_SIZE) {
		if (c->opts.codec == BLK_CODEC_ZSTD) {
			*out = true;
			return 0;
		}
		rc = zstd_fit(c->probe, BLK_CODEC_PROBE_LEVEL, dst,
			      size - size / 8, p, size, &got);
		*out = got != 0;
		return rc;
	}
	for (i = 0; i < PROBE_SAMPLES; i++) {
		off = (size - PROBE_SAMPLE_SIZE) * i / (PROBE_SAMPLES - 1);
		rc = zstd_fit(c->probe, BLK_CODEC_PROBE_LEVEL, dst,
			      PROBE_SAMPLE_SIZE, p + off, PROBE_SAMPLE_SIZE,
			      &got);
		if (rc < 0)
			return rc;
		in += PROBE_SAMPLE_SIZE;
		total += got ? got : PROBE_SAMPLE_SIZE;
	}
	*out = total * 16 <= in * 15;
	return 0;
}

/*
 * Compress the chunk into the blob after the header, capped at 7/8 of its
 * size. *out_size is 0 when it does not fit (store raw).
 */
static int compress_fit(struct blk_codec *c, const uint8_t *p, size_t size,
			size_t *out_size)
{
	uint8_t *dst = c->blob + BLK_HEADER_SIZE;
	size_t cap = size - size / 8;
	int zrc;

	*out_size = 0;
	if (c->opts.codec == BLK_CODEC_ZSTD)
		return zstd_fit(c->zc, 0, dst, cap, p, size, out_size);
	zrc = deflateReset(&c->def);
	if (zrc != Z_OK)
		return -EIO;
	c->def.next_in = (Bytef *)(uintptr_t)p;
	c->def.avail_in = (uInt)size;
	c->def.next_out = dst;
	c->def.avail_out = (uInt)cap;
	zrc = deflate(&c->def, Z_FINISH);
	if (zrc == Z_STREAM_END) {
		*out_size = c->def.total_out;
		return 0;
	}
	/* Out of room: Z_OK or Z_BUF_ERROR with the output full. */
	if (zrc == Z_OK || zrc == Z_BUF_ERROR)
		return 0;
	return zrc == Z_MEM_ERROR ? -ENOMEM : -EIO;
}

int blk_codec_encode(struct blk_codec *c, const void *chunk, size_t size,
		     struct blk_blob *out)
{
	const uint8_t *p = chunk;
	uint8_t nonce[BLK_NONCE_SIZE];
	size_t zsize = 0;
	bool try_zip = false;
	int rc;

	memset(out, 0, sizeof(*out));
	if (size > c->opts.max_chunk_size || (size && !chunk) ||
	    overlaps(chunk, size, c->blob,
		     BLK_BLOB_SIZE_MAX(c->opts.max_chunk_size)))
		return -EINVAL;
	rc = make_nonce(c, p, size, nonce);
	if (rc < 0)
		return rc;
	/* Nothing under 8 bytes can save 1/8 of itself. */
	if (size >= 8) {
		rc = probe(c, p, size, &try_zip);
		if (rc < 0)
			return rc;
	}
	if (try_zip) {
		rc = compress_fit(c, p, size, &zsize);
		if (rc < 0)
			return rc;
	}
	if (zsize)
		return seal(c, (uint8_t)c->opts.codec, (uint32_t)size, nonce,
			    c->blob + BLK_HEADER_SIZE, zsize, out);
	return seal(c, BLK_CODEC_RAW, (uint32_t)size, nonce, p, size, out);
}

/* The keyless header checks shared by blk_blob_check and decode. */
static int check_header(const uint8_t *b, size_t size, uint32_t max_chunk,
			struct hdr *out)
{
	if (size < BLK_OVERHEAD)
		return BLK_ERR_TRUNCATED;
	if (memcmp(b, BLK_MAGIC, BLK_MAGIC_SIZE) != 0)
		return BLK_ERR_FORMAT;
	/* Version before the rest: a later version may redefine it. */
	if (b[4] != BLK_FORMAT_VERSION)
		return BLK_ERR_VERSION;
	out->codec = b[5];
	out->declared = cf_get_le32(b + 8);
	out->payload_size = size - BLK_OVERHEAD;
	if (out->codec > BLK_CODEC_ZLIB || b[6] != 0 || b[7] != 0)
		return BLK_ERR_FORMAT;
	if (out->declared > max_chunk)
		return BLK_ERR_FORMAT;
	if (out->codec == BLK_CODEC_RAW) {
		if (out->payload_size != out->declared)
			return BLK_ERR_FORMAT;
	} else if (out->payload_size == 0 ||
		   out->payload_size > out->declared) {
		return BLK_ERR_FORMAT;
	}
	return 0;
}

int blk_blob_check(const void *blob, size_t blob_size,
		   const struct blk_id *expected, uint32_t max_chunk_size)
{
	struct blk_id id;
	struct hdr h;
	int rc;

	if ((!blob && blob_size) || !expected ||
	    max_chunk_size > BLK_CHUNK_MAX_LIMIT)
		return -EINVAL;
	rc = check_header(blob, blob_size, max_chunk_size, &h);
	if (rc < 0)
		return rc;
	rc = blk_id_compute(blob, blob_size, &id);
	if (rc < 0)
		return rc;
	return blk_id_equal(&id, expected) ? 0 : BLK_ERR_ID;
}

/*
 * Inflate the payload into c->plain: exactly declared bytes or an error.
 * The output room is declared + 1 (plain has the spare byte), so a stream
 * that would go past the declared size shows itself by filling that byte,
 * and a full buffer is never mistaken for a stream that ran out of input.
 */
static int unzip(struct blk_codec *c, const struct hdr *h,
		 const uint8_t *payload)
{
	size_t room = (size_t)h->declared + 1, r;
	int zrc;

	if (h->codec == BLK_CODEC_ZSTD) {
		r = ZSTD_decompressDCtx(c->zd, c->plain, room, payload,
					h->payload_size);
		if (ZSTD_isError(r)) {
			switch (ZSTD_getErrorCode(r)) {
			case ZSTD_error_dstSize_tooSmall:
				return BLK_ERR_INFLATE;
			case ZSTD_error_memory_allocation:
				return -ENOMEM;
			default:
				return BLK_ERR_FORMAT;
			}
		}
	} else {
		zrc = inflateReset(&c->inf);
		if (zrc != Z_OK)
			return -EIO;
		c->inf.next_in = (Bytef *)(uintptr_t)payload;
		c->inf.avail_in = (uInt)h->payload_size;
		c->inf.next_out = c->plain;
		c->inf.avail_out = (uInt)room;
		zrc = inflate(&c->inf, Z_FINISH);
		r = c->inf.total_out;
		if (zrc == Z_MEM_ERROR)
			return -ENOMEM;
		if (r > h->declared)
			return BLK_ERR_INFLATE;
		/* Short of the end, or bytes after it. */
		if (zrc != Z_STREAM_END || c->inf.avail_in != 0)
			return BLK_ERR_FORMAT;
	}
	if (r > h->declared)
		return BLK_ERR_INFLATE;
	return r == h->declared ? 0 : BLK_ERR_FORMAT;
}

int blk_codec_decode(struct blk_codec *c, const void *blob, size_t blob_size,
		     const struct blk_id *expected, const uint8_t **out_chunk,
		     size_t *out_size)
{
	const uint8_t *b = blob;
	const uint8_t *ct = b + BLK_HEADER_SIZE;
	size_t blob_cap = BLK_BLOB_SIZE_MAX(c->opts.max_chunk_size);
	uint8_t tag[BLK_TAG_SIZE];
	uint8_t *dst;
	struct blk_id id;
	struct hdr h;
	int n, rc;

	*out_chunk = NULL;
	*out_size = 0;
	/* blob may be this codec's last encoded blob, but nothing else of it. */
	if ((!blob && blob_size) || !expected ||
	    overlaps(blob, blob_size, c->plain,
		     (size_t)c->opts.max_chunk_size + 1) ||
	    (blob != c->blob && overlaps(blob, blob_size, c->blob, blob_cap)))
		return -EINVAL;
	rc = check_header(b, blob_size, c->opts.max_chunk_size, &h);
	if (rc < 0)
		return rc;
	rc = sha256(c, b, blob_size, &id);
	if (rc < 0)
		return rc;
	if (!blk_id_equal(&id, expected))
		return BLK_ERR_ID;
	/*
	 * Raw payloads decrypt straight into the output; compressed ones
	 * into the blob buffer at the same offset, which is exactly in place
	 * when blob is the codec's own buffer.
	 */
	dst = h.codec == BLK_CODEC_RAW ? c->plain : c->blob + BLK_HEADER_SIZE;
	memcpy(tag, ct + h.payload_size, BLK_TAG_SIZE);
	if (EVP_DecryptInit_ex2(c->dec, NULL, NULL, b + 12, NULL) != 1 ||
	    EVP_DecryptUpdate(c->dec, NULL, &n, b, BLK_HEADER_SIZE) != 1 ||
	    (h.payload_size && EVP_DecryptUpdate(c->dec, dst, &n, ct,
						 (int)h.payload_size) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_GCM_SET_TAG, BLK_TAG_SIZE,
				tag) != 1)
		return blk_crypto_errno();
	if (EVP_DecryptFinal_ex(c->dec, dst + h.payload_size, &n) != 1) {
		ERR_clear_error();
		return BLK_ERR_TAG;
	}
	if (h.codec != BLK_CODEC_RAW) {
		rc = unzip(c, &h, dst);
		if (rc < 0)
			return rc;
	}
	*out_chunk = c->plain;
	*out_size = h.declared;
	return 0;
}
