/* SPDX-License-Identifier: MIT */
/*
 * Keys: the password never leaves the device. master = scrypt(password,
 * salt, params); auth_key and kek are HKDF expansions of master; the volume
 * key is random, stored on the server only wrapped by kek; K_data, K_nonce,
 * K_mac and K_name expand from the volume key. Formats carry a version so
 * parameters can change later. All functions are thread-safe and keep no
 * state; callers wipe key buffers with blk_keys_wipe (OPENSSL_cleanse).
 */
#ifndef CLOUDFS_BLK_KEYS_H
#define CLOUDFS_BLK_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define BLK_KEY_SIZE 32
#define BLK_SALT_SIZE 16

/* KDF parameter sets, versioned: version 1 is scrypt. */
#define BLK_KDF_SCRYPT 1
struct blk_kdf_params {
	uint32_t version; /* BLK_KDF_SCRYPT */
	uint64_t n;       /* CPU/memory cost, a power of two */
	uint32_t r;       /* block size */
	uint32_t p;       /* parallelism */
};

/* OWASP's current recommendation: N=2^17, r=8, p=1 (128 MiB, ~0.3 s). */
#define BLK_KDF_PARAMS_DEFAULT \
	((struct blk_kdf_params){ BLK_KDF_SCRYPT, 1u << 17, 8, 1 })

/*
 * -EINVAL unless the set is known and within sane bounds (n a power of two
 * in [2^14, 2^22], r in [1, 32], p in [1, 16], memory 128*n*r <= 1 GiB):
 * a server cannot make a client burn unbounded memory.
 */
int blk_kdf_params_check(const struct blk_kdf_params *p);

/* Fill salt with BLK_SALT_SIZE random bytes: 0 or -EIO. */
int blk_kdf_salt_generate(uint8_t salt[BLK_SALT_SIZE]);

/*
 * master = scrypt(password (borrowed, pw_len bytes), salt, params).
 * Blocks for the KDF's duration. 0, -EINVAL (params), -ENOMEM, -EIO.
 */
int blk_kdf_master(const char *password, size_t pw_len,
		   const uint8_t salt[BLK_SALT_SIZE],
		   const struct blk_kdf_params *params,
		   uint8_t out_master[BLK_KEY_SIZE]);

/* HKDF-SHA256(master, info "cloudfs auth") : what login sends. */
int blk_keys_auth_key(const uint8_t master[BLK_KEY_SIZE],
		      uint8_t out[BLK_KEY_SIZE]);

/* HKDF-SHA256(master, info "cloudfs kek") : never leaves the client. */
int blk_keys_kek(const uint8_t master[BLK_KEY_SIZE], uint8_t out[BLK_KEY_SIZE]);

/* A fresh random volume key: 0 or -EIO. */
int blk_volume_key_generate(uint8_t out[BLK_KEY_SIZE]);

/*
 * Wrapped volume key, version 1:
 *   version (1) = 1 | nonce (12) | AES-256-GCM(kek, nonce, vk, AAD =
 *   "cloudfs volume key v1") (32) | tag (16)
 */
#define BLK_WRAPPED_KEY_VERSION 1
#define BLK_WRAPPED_KEY_SIZE (1 + 12 + BLK_KEY_SIZE + 16)

/* Wrap vk under kek into out: 0 or -EIO. */
int blk_volume_key_wrap(const uint8_t kek[BLK_KEY_SIZE],
			const uint8_t vk[BLK_KEY_SIZE],
			uint8_t out[BLK_WRAPPED_KEY_SIZE]);

/*
 * Unwrap size bytes of wrapped (borrowed). 0; -EPROTONOSUPPORT unknown
 * version; -EINVAL wrong size; -EKEYREJECTED tag mismatch (wrong password).
 */
int blk_volume_key_unwrap(const uint8_t kek[BLK_KEY_SIZE],
			  const void *wrapped, size_t size,
			  uint8_t out_vk[BLK_KEY_SIZE]);

/* The keys a volume key expands to (HKDF-SHA256, info "cloudfs data" ...). */
struct blk_volume_keys {
	uint8_t data[BLK_KEY_SIZE];  /* AES-256-GCM of block payloads */
	uint8_t nonce[BLK_KEY_SIZE]; /* HMAC key of the deterministic nonce */
	uint8_t mac[BLK_KEY_SIZE];   /* HMAC key of manifest tags */
	uint8_t name[BLK_KEY_SIZE];  /* reserved for encrypted names */
};

int blk_volume_keys_derive(const uint8_t vk[BLK_KEY_SIZE],
			   struct blk_volume_keys *out);

/* OPENSSL_cleanse size bytes at p. */
void blk_keys_wipe(void *p, size_t size);

#endif /* CLOUDFS_BLK_KEYS_H */
