/* SPDX-License-Identifier: MIT */
/*
 * Private to libblock: the raw KDF primitives behind blk/keys.h (exposed
 * for known-answer tests against RFC 7914 and RFC 5869) and the one place
 * OpenSSL's error queue becomes an errno. Thread-safe, no state.
 */
#ifndef CLOUDFS_BLK_KEYS_INT_H
#define CLOUDFS_BLK_KEYS_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Translate the calling thread's OpenSSL error queue after a failed call:
 * -ENOMEM when an allocation failed, -EIO for anything else. Clears the
 * queue so errors do not pile up in a long-lived thread.
 */
int blk_crypto_errno(void);

/*
 * scrypt (RFC 7914) with no parameter policy: n, r, p are passed to
 * OpenSSL as is, with a memory limit just above what they need. password
 * and salt are borrowed and may be empty. 0, -EINVAL (OpenSSL refuses the
 * parameters), -ENOMEM, -EIO. Blocks for the KDF's duration.
 */
int blk_scrypt(const void *password, size_t pw_size, const void *salt,
	       size_t salt_size, uint64_t n, uint32_t r, uint32_t p,
	       uint8_t *out, size_t out_size);

/*
 * HKDF-SHA256 (RFC 5869), extract then expand. salt may be NULL/0 (the
 * RFC's default of HashLen zero bytes), info may be NULL/0. All buffers
 * borrowed. 0, -EINVAL (out_size 0 or above 255 * 32), -ENOMEM, -EIO.
 */
int blk_hkdf_sha256(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt,
		    size_t salt_size, const void *info, size_t info_size,
		    uint8_t *out, size_t out_size);

#endif /* CLOUDFS_BLK_KEYS_INT_H */
