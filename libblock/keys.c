/* SPDX-License-Identifier: MIT */
/*
 * Key derivation and volume key wrapping (blk/keys.h), on OpenSSL EVP only:
 * scrypt through EVP_PBE_scrypt, HKDF-SHA256 through EVP_KDF "HKDF",
 * AES-256-GCM through EVP_CIPHER, randomness from RAND_bytes.
 *
 * HKDF runs without a salt (RFC 5869: HashLen zero bytes): its inputs are
 * already uniform 32-byte keys (scrypt output, a random volume key), so
 * extract needs no salt, and the info strings keep the outputs apart.
 * Every intermediate secret lives on the stack and is wiped before return.
 */
#include "blk/keys.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "keys_int.h"

#define INFO_AUTH	"cloudfs auth"
#define INFO_KEK	"cloudfs kek"
#define INFO_DATA	"cloudfs data"
#define INFO_NONCE	"cloudfs nonce"
#define INFO_MAC	"cloudfs mac"
#define INFO_NAME	"cloudfs name"
#define WRAP_AAD	"cloudfs volume key v1"
#define WRAP_NONCE_SIZE 12
#define WRAP_TAG_SIZE	16

/* Bounds of blk_kdf_params_check; see keys.h. */
#define KDF_N_MIN   (1ull << 14)
#define KDF_N_MAX   (1ull << 22)
#define KDF_R_MAX   32
#define KDF_P_MAX   16
#define KDF_MEM_MAX (1ull << 30)

/* HKDF-SHA256 can expand to at most 255 blocks of 32 bytes. */
#define HKDF_OUT_MAX (255 * 32)

int blk_crypto_errno(void)
{
	unsigned long e;
	int rc = -EIO;

	while ((e = ERR_get_error()) != 0) {
		if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
			rc = -ENOMEM;
	}
	return rc;
}

/* OSSL_PARAM wants a non-const pointer even for inputs it only reads. */
static void *unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

int blk_kdf_params_check(const struct blk_kdf_params *p)
{
	if (!p || p->version != BLK_KDF_SCRYPT)
		return -EINVAL;
	if (p->n < KDF_N_MIN || p->n > KDF_N_MAX || (p->n & (p->n - 1)) != 0)
		return -EINVAL;
	if (p->r < 1 || p->r > KDF_R_MAX || p->p < 1 || p->p > KDF_P_MAX)
		return -EINVAL;
	/* Both factors are bounded above, so this cannot overflow. */
	if (128ull * p->n * p->r > KDF_MEM_MAX)
		return -EINVAL;
	return 0;
}

int blk_kdf_salt_generate(uint8_t salt[BLK_SALT_SIZE])
{
	if (RAND_bytes(salt, BLK_SALT_SIZE) != 1)
		return blk_crypto_errno();
	return 0;
}

int blk_scrypt(const void *password, size_t pw_size, const void *salt,
	       size_t salt_size, uint64_t n, uint32_t r, uint32_t p,
	       uint8_t *out, size_t out_size)
{
	uint64_t v_size, b_size, maxmem;

	/*
	 * OpenSSL needs 128 * r * (n + 2) bytes for V and 128 * r * p for B;
	 * its default limit (32 MiB) is below our default parameters, so
	 * pass what these parameters need plus slack for its own use.
	 */
	if (n < 2 || r == 0 || p == 0 || out_size == 0)
		return -EINVAL;
	if (__builtin_mul_overflow(128ull * r, n + 2, &v_size) ||
	    __builtin_mul_overflow(128ull * r, (uint64_t)p, &b_size) ||
	    __builtin_add_overflow(v_size, b_size, &maxmem) ||
	    __builtin_add_overflow(maxmem, 1ull << 20, &maxmem))
		return -EINVAL;
	/* A NULL key asks OpenSSL to validate the parameters only. */
	if (!EVP_PBE_scrypt(NULL, 0, NULL, 0, n, r, p, maxmem, NULL, 0)) {
		ERR_clear_error();
		return -EINVAL;
	}
	if (!EVP_PBE_scrypt(pw_size ? password : "", pw_size,
			    salt_size ? salt : (const void *)"", salt_size, n,
			    r, p, maxmem, out, out_size)) {
		OPENSSL_cleanse(out, out_size);
		return blk_crypto_errno();
	}
	return 0;
}

int blk_kdf_master(const char *password, size_t pw_len,
		   const uint8_t salt[BLK_SALT_SIZE],
		   const struct blk_kdf_params *params,
		   uint8_t out_master[BLK_KEY_SIZE])
{
	int rc;

	rc = blk_kdf_params_check(params);
	if (rc < 0)
		return rc;
	if (!password && pw_len)
		return -EINVAL;
	return blk_scrypt(password, pw_len, salt, BLK_SALT_SIZE, params->n,
			  params->r, params->p, out_master, BLK_KEY_SIZE);
}

int blk_hkdf_sha256(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt,
		    size_t salt_size, const void *info, size_t info_size,
		    uint8_t *out, size_t out_size)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[5], *q = params;
	int rc;

	if (!ikm || ikm_size == 0 || out_size == 0 || out_size > HKDF_OUT_MAX)
		return -EINVAL;
	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	if (!kdf) {
		rc = blk_crypto_errno();
		goto out;
	}
	ctx = EVP_KDF_CTX_new(kdf);
	if (!ctx) {
		rc = blk_crypto_errno();
		goto out;
	}
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						unconst("SHA256"), 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 unconst(ikm), ikm_size);
	if (salt_size)
		*q++ = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_SALT, unconst(salt), salt_size);
	if (info_size)
		*q++ = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_INFO, unconst(info), info_size);
	*q = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_size, params) != 1) {
		OPENSSL_cleanse(out, out_size);
		rc = blk_crypto_errno();
		goto out;
	}
	rc = 0;
out:
	/* EVP_KDF_CTX_free wipes the copy of the key the context holds. */
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* HKDF-SHA256 of a 32-byte key under a string info, no salt. */
static int expand(const uint8_t key[BLK_KEY_SIZE], const char *info,
		  uint8_t out[BLK_KEY_SIZE])
{
	return blk_hkdf_sha256(key, BLK_KEY_SIZE, NULL, 0, info, strlen(info),
			       out, BLK_KEY_SIZE);
}

int blk_keys_auth_key(const uint8_t master[BLK_KEY_SIZE],
		      uint8_t out[BLK_KEY_SIZE])
{
	return expand(master, INFO_AUTH, out);
}

int blk_keys_kek(const uint8_t master[BLK_KEY_SIZE], uint8_t out[BLK_KEY_SIZE])
{
	return expand(master, INFO_KEK, out);
}

int blk_volume_key_generate(uint8_t out[BLK_KEY_SIZE])
{
	if (RAND_priv_bytes(out, BLK_KEY_SIZE) != 1)
		return blk_crypto_errno();
	return 0;
}

int blk_volume_key_wrap(const uint8_t kek[BLK_KEY_SIZE],
			const uint8_t vk[BLK_KEY_SIZE],
			uint8_t out[BLK_WRAPPED_KEY_SIZE])
{
	uint8_t *nonce = out + 1;
	uint8_t *ct = nonce + WRAP_NONCE_SIZE;
	uint8_t *tag = ct + BLK_KEY_SIZE;
	const EVP_CIPHER *aes = EVP_aes_256_gcm();
	EVP_CIPHER_CTX *ctx = NULL;
	int n, rc;

	out[0] = BLK_WRAPPED_KEY_VERSION;
	/* A random nonce: a kek wraps a handful of keys in its lifetime. */
	if (RAND_bytes(nonce, WRAP_NONCE_SIZE) != 1) {
		rc = blk_crypto_errno();
		goto out;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		rc = blk_crypto_errno();
		goto out;
	}
	if (EVP_EncryptInit_ex2(ctx, aes, kek, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)WRAP_AAD,
			      (int)strlen(WRAP_AAD)) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &n, vk, BLK_KEY_SIZE) != 1 ||
	    n != BLK_KEY_SIZE || EVP_EncryptFinal_ex(ctx, ct + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WRAP_TAG_SIZE,
				tag) != 1) {
		rc = blk_crypto_errno();
		goto out;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (rc < 0)
		OPENSSL_cleanse(out, BLK_WRAPPED_KEY_SIZE);
	return rc;
}

int blk_volume_key_unwrap(const uint8_t kek[BLK_KEY_SIZE], const void *wrapped,
			  size_t size, uint8_t out_vk[BLK_KEY_SIZE])
{
	const uint8_t *w = wrapped;
	const uint8_t *nonce = w + 1;
	const uint8_t *ct = nonce + WRAP_NONCE_SIZE;
	uint8_t tag[WRAP_TAG_SIZE];
	uint8_t vk[BLK_KEY_SIZE];
	const EVP_CIPHER *aes = EVP_aes_256_gcm();
	EVP_CIPHER_CTX *ctx = NULL;
	int n, rc;

	/* The version comes first: a later version may have another size. */
	if (!wrapped || size < 1)
		return -EINVAL;
	if (w[0] != BLK_WRAPPED_KEY_VERSION)
		return -EPROTONOSUPPORT;
	if (size != BLK_WRAPPED_KEY_SIZE)
		return -EINVAL;
	memcpy(tag, ct + BLK_KEY_SIZE, WRAP_TAG_SIZE);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		rc = blk_crypto_errno();
		goto out;
	}
	if (EVP_DecryptInit_ex2(ctx, aes, kek, nonce, NULL) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)WRAP_AAD,
			      (int)strlen(WRAP_AAD)) != 1 ||
	    EVP_DecryptUpdate(ctx, vk, &n, ct, BLK_KEY_SIZE) != 1 ||
	    n != BLK_KEY_SIZE ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WRAP_TAG_SIZE,
				tag) != 1) {
		rc = blk_crypto_errno();
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, vk + n, &n) != 1) {
		/* The only way a well-formed final fails is a tag mismatch. */
		ERR_clear_error();
		rc = -EKEYREJECTED;
		goto out;
	}
	memcpy(out_vk, vk, BLK_KEY_SIZE);
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(vk, sizeof(vk));
	return rc;
}

int blk_volume_keys_derive(const uint8_t vk[BLK_KEY_SIZE],
			   struct blk_volume_keys *out)
{
	int rc;

	rc = expand(vk, INFO_DATA, out->data);
	if (rc == 0)
		rc = expand(vk, INFO_NONCE, out->nonce);
	if (rc == 0)
		rc = expand(vk, INFO_MAC, out->mac);
	if (rc == 0)
		rc = expand(vk, INFO_NAME, out->name);
	if (rc < 0)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

void blk_keys_wipe(void *p, size_t size)
{
	if (p && size)
		OPENSSL_cleanse(p, size);
}
