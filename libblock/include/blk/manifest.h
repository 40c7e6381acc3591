/* SPDX-License-Identifier: MIT */
/*
 * Manifests: the ordered (block id, plaintext size) list of one file
 * version plus its size, in the layout of blk/proto.h, authenticated by
 * HMAC-SHA256(K_mac, file id || bytes). The server parses manifests (to know
 * which blocks a version references) but cannot make or check tags; the
 * client checks the tag before trusting anything in one. The parser
 * validates every count and size before it allocates or reads.
 * Thread-safe; no global state.
 */
#ifndef CLOUDFS_BLK_MANIFEST_H
#define CLOUDFS_BLK_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "blk/keys.h"
#include "blk/proto.h"
#include "cf_buf.h"

struct blk_manifest_entry {
	struct blk_id id;
	uint32_t size; /* plaintext bytes, 1 .. BLK_CHUNK_MAX_LIMIT */
};

/*
 * A parsed or to-be-encoded manifest. Value type: fields are public.
 * Invariants: count <= alloc; entries is NULL when alloc is 0. Grow it
 * with blk_manifest_add only, so alloc stays true.
 */
struct blk_manifest {
	uint64_t file_size;
	size_t count;
	struct blk_manifest_entry *entries; /* owned, alloc elements */
	size_t alloc;                       /* entries allocated */
};

/* Initialise an empty manifest (size 0, no entries). */
void blk_manifest_init(struct blk_manifest *m);

/*
 * Append one entry, growing the array. -EINVAL (size 0 or too big, too
 * many entries, or file_size past BLK_FILE_SIZE_MAX), -ENOMEM; m is
 * unchanged on failure. file_size grows by size.
 */
int blk_manifest_add(struct blk_manifest *m, const struct blk_id *id,
		     uint32_t size);

/* Free the entries; m is left empty. */
void blk_manifest_release(struct blk_manifest *m);

/*
 * Serialise m to out (appended). -EINVAL when the entry sizes do not sum
 * to file_size or a limit is broken; -EMSGSIZE / -ENOMEM from out.
 */
int blk_manifest_encode(const struct blk_manifest *m, struct cf_buf *out);

/*
 * Parse size bytes of data (borrowed) into out (caller releases it; it
 * need not be initialised and is left empty on failure).
 * -EPROTO bad magic, reserved bytes or inconsistent sizes;
 * -EPROTONOSUPPORT unknown version; -ENODATA truncated or trailing bytes
 * mismatch; -E2BIG too many entries or too large a file; -ENOMEM.
 */
int blk_manifest_parse(const void *data, size_t size, struct blk_manifest *out);

/* tag = HMAC-SHA256(k_mac, file_id || data[0..size)). 0 or -EIO. */
int blk_manifest_tag(const uint8_t k_mac[BLK_KEY_SIZE],
		     const uint8_t file_id[BLK_FILE_ID_SIZE], const void *data,
		     size_t size, uint8_t out_tag[BLK_MANIFEST_TAG_SIZE]);

/*
 * Check tag (constant time), then parse. 0; -EBADMSG when the tag does not
 * match (tampered, truncated, reordered, or another file's manifest);
 * parse errors as blk_manifest_parse.
 */
int blk_manifest_verify_parse(const uint8_t k_mac[BLK_KEY_SIZE],
			      const uint8_t file_id[BLK_FILE_ID_SIZE],
			      const void *data, size_t size,
			      const uint8_t tag[BLK_MANIFEST_TAG_SIZE],
			      struct blk_manifest *out);

#endif /* CLOUDFS_BLK_MANIFEST_H */
