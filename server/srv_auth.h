/* SPDX-License-Identifier: MIT */
/*
 * Server-side credentials: bearer tokens (256 random bits shown to the
 * client once as hex, stored as their SHA-256), the slow hash of a client's
 * auth key (scrypt N=2^14 r=8 p=1 under a per-account salt, compared in
 * constant time) and the deterministic fake salt prelogin answers for
 * unknown users, keyed with the server secret (srv_meta's secret_get).
 *
 * Stateless and thread-safe; the slow hash blocks.
 * Secrets pass through caller buffers only and are never logged.
 */
#ifndef CLOUDFS_SRV_AUTH_H
#define CLOUDFS_SRV_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "blk/keys.h"
#include "srv_meta.h"

#define SRV_TOKEN_SIZE	   32
#define SRV_TOKEN_HEX_SIZE (2 * SRV_TOKEN_SIZE + 1) /* with the NUL */

/* The server's slow hash of auth keys: scrypt with these parameters. */
#define SRV_AUTH_SCRYPT_N (1u << 14)
#define SRV_AUTH_SCRYPT_R 8
#define SRV_AUTH_SCRYPT_P 1

/*
 * Make a fresh token: out_hex gets 64 lowercase hex digits and a NUL (what
 * the client is sent), out_hash its SHA-256 (what the server stores). Both
 * buffers are the caller's; wipe out_hex after use. 0 or -EIO.
 */
int srv_auth_token_new(char out_hex[SRV_TOKEN_HEX_SIZE],
		       uint8_t out_hash[SRV_TOKEN_HASH_SIZE]);

/*
 * Hash the hex token of len bytes (borrowed) a client presented. -EACCES
 * when it is not exactly 64 hex digits (the same answer an unknown token
 * gets), -EIO.
 */
int srv_auth_token_hash(const char *hex, size_t len,
			uint8_t out_hash[SRV_TOKEN_HASH_SIZE]);

/*
 * out = scrypt(auth_key, salt, N=2^14, r=8, p=1). Blocks ~50 ms and takes
 * 16 MiB. All buffers borrowed. 0, -ENOMEM, -EIO.
 */
int srv_auth_key_hash(const uint8_t auth_key[BLK_KEY_SIZE],
		      const uint8_t salt[BLK_SALT_SIZE],
		      uint8_t out[SRV_AUTH_HASH_SIZE]);

/*
 * Check auth_key against a stored salt and hash (all borrowed), comparing
 * in constant time. 0 when it matches, -EACCES when not, -ENOMEM, -EIO.
 */
int srv_auth_key_verify(const uint8_t auth_key[BLK_KEY_SIZE],
			const uint8_t salt[BLK_SALT_SIZE],
			const uint8_t hash[SRV_AUTH_HASH_SIZE]);

/*
 * The salt prelogin shows for a user that does not exist: the first
 * BLK_SALT_SIZE bytes of HMAC-SHA256(secret, "cloudfs prelogin" || name),
 * stable across calls so a prober cannot tell unknown users from known
 * ones. name (len bytes) and secret are borrowed. 0 or -EIO.
 */
int srv_auth_fake_salt(const uint8_t secret[SRV_SECRET_SIZE], const char *name,
		       size_t len, uint8_t out[BLK_SALT_SIZE]);

/*
 * Check an account name of len bytes (borrowed): 1 to SRV_USER_NAME_MAX
 * bytes of [A-Za-z0-9._@-], not starting with '.' or '-'. 0 or -EINVAL.
 */
int srv_auth_user_name_check(const char *name, size_t len);

#endif /* CLOUDFS_SRV_AUTH_H */
