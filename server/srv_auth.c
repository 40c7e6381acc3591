/* SPDX-License-Identifier: MIT */
/*
 * Tokens, the auth-key slow hash and the fake prelogin salt. The password
 * never reaches the server: what it checks is the client's HKDF-derived
 * auth key, hashed again with scrypt so a stolen database does not hand
 * out logins. Tokens are stored as SHA-256, which is
 * enough for 256 random bits.
 */
#include "srv_auth.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "cf_hex.h"

static const char prelogin_label[] = "cloudfs prelogin";

static int sha256(const void *data, size_t size, uint8_t out[32])
{
	unsigned int n = 0;

	if (!EVP_Digest(data, size, out, &n, EVP_sha256(), NULL) || n != 32)
		return -EIO;
	return 0;
}

int srv_auth_token_new(char out_hex[SRV_TOKEN_HEX_SIZE],
		       uint8_t out_hash[SRV_TOKEN_HASH_SIZE])
{
	uint8_t raw[SRV_TOKEN_SIZE];
	int rc;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	cf_hex_encode(raw, sizeof(raw), out_hex);
	rc = sha256(raw, sizeof(raw), out_hash);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int srv_auth_token_hash(const char *hex, size_t len,
			uint8_t out_hash[SRV_TOKEN_HASH_SIZE])
{
	uint8_t raw[SRV_TOKEN_SIZE];
	int rc;

	if (cf_hex_decode(hex, len, raw, sizeof(raw)) < 0)
		return -EACCES;
	rc = sha256(raw, sizeof(raw), out_hash);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int srv_auth_key_hash(const uint8_t auth_key[BLK_KEY_SIZE],
		      const uint8_t salt[BLK_SALT_SIZE],
		      uint8_t out[SRV_AUTH_HASH_SIZE])
{
	/* 128 * N * r bytes of scrypt state, plus room for OpenSSL's own. */
	const uint64_t maxmem =
		128ull * SRV_AUTH_SCRYPT_N * SRV_AUTH_SCRYPT_R + (1u << 20);

	if (!EVP_PBE_scrypt((const char *)auth_key, BLK_KEY_SIZE, salt,
			    BLK_SALT_SIZE, SRV_AUTH_SCRYPT_N, SRV_AUTH_SCRYPT_R,
			    SRV_AUTH_SCRYPT_P, maxmem, out, SRV_AUTH_HASH_SIZE))
		return -ENOMEM; /* the parameters are fixed: memory it is */
	return 0;
}

int srv_auth_key_verify(const uint8_t auth_key[BLK_KEY_SIZE],
			const uint8_t salt[BLK_SALT_SIZE],
			const uint8_t hash[SRV_AUTH_HASH_SIZE])
{
	uint8_t got[SRV_AUTH_HASH_SIZE];
	int rc;

	rc = srv_auth_key_hash(auth_key, salt, got);
	if (rc < 0)
		goto out;
	if (CRYPTO_memcmp(got, hash, sizeof(got)) != 0)
		rc = -EACCES;
out:
	OPENSSL_cleanse(got, sizeof(got));
	return rc;
}

int srv_auth_fake_salt(const uint8_t secret[SRV_SECRET_SIZE], const char *name,
		       size_t len, uint8_t out[BLK_SALT_SIZE])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t mac_len = 0;
	EVP_MAC *alg = NULL;
	EVP_MAC_CTX *ctx = NULL;
	int rc = -EIO;

	params[0] = OSSL_PARAM_construct_utf8_string("digest", digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!alg)
		goto out;
	ctx = EVP_MAC_CTX_new(alg);
	if (!ctx) {
		rc = -ENOMEM;
		goto out;
	}
	if (!EVP_MAC_init(ctx, secret, SRV_SECRET_SIZE, params) ||
	    !EVP_MAC_update(ctx, (const uint8_t *)prelogin_label,
			    sizeof(prelogin_label)) ||
	    !EVP_MAC_update(ctx, (const uint8_t *)name, len) ||
	    !EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) ||
	    mac_len < BLK_SALT_SIZE)
		goto out;
	memcpy(out, mac, BLK_SALT_SIZE);
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(alg);
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

int srv_auth_user_name_check(const char *name, size_t len)
{
	size_t i;

	if (!name || len == 0 || len > SRV_USER_NAME_MAX)
		return -EINVAL;
	if (name[0] == '.' || name[0] == '-')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '@' || c == '-')
			continue;
		return -EINVAL;
	}
	return 0;
}
