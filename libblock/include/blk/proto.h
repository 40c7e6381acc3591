/* SPDX-License-Identifier: MIT */
/*
 * Wire constants shared by the client and the server: block blob layout,
 * manifest layout, size limits and the block id type. docs/PROTOCOL.md says
 * the same in prose. Changing a value here changes the format: bump the
 * matching version.
 */
#ifndef CLOUDFS_BLK_PROTO_H
#define CLOUDFS_BLK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Block blob, all integers little-endian:
 *   0  magic "CFB1" (4)      the '1' is part of the magic, not the version
 *   4  format version (1)   BLK_FORMAT_VERSION
 *   5  codec (1)            enum blk_codec_id
 *   6  flags (2)            must be 0 in version 1
 *   8  plaintext size (4)   bytes the payload decodes to
 *  12  nonce (12)           first 12 bytes of HMAC-SHA256(K_nonce, chunk)
 *  24  ciphertext           AES-256-GCM(K_data, nonce, payload, AAD = bytes 0..23)
 *  ..  tag (16)
 * id = SHA-256 of the whole blob.
 */
#define BLK_MAGIC "CFB1"
#define BLK_MAGIC_SIZE 4
#define BLK_FORMAT_VERSION 1
#define BLK_NONCE_SIZE 12
#define BLK_TAG_SIZE 16
#define BLK_HEADER_SIZE 24
#define BLK_OVERHEAD (BLK_HEADER_SIZE + BLK_TAG_SIZE)

enum blk_codec_id {
	BLK_CODEC_RAW = 0,  /* stored as is: compression did not pay */
	BLK_CODEC_ZSTD = 1, /* default for new blocks */
	BLK_CODEC_ZLIB = 2, /* deflate (zlib wrapper) */
};

/* Chunk size limits. Accounts pick min/avg/max within these. */
#define BLK_CHUNK_MIN_DEFAULT (64u * 1024)
#define BLK_CHUNK_AVG_DEFAULT (256u * 1024)
#define BLK_CHUNK_MAX_DEFAULT (1024u * 1024)
#define BLK_CHUNK_MIN_LIMIT 64u                  /* smallest min allowed */
#define BLK_CHUNK_MAX_LIMIT (8u * 1024 * 1024)   /* largest max allowed */

/* Largest blob a chunk of at most max_chunk bytes can become. */
#define BLK_BLOB_SIZE_MAX(max_chunk) ((size_t)(max_chunk) + BLK_OVERHEAD)

/* A block id: SHA-256 of the blob. Value type; hex form is 64 lowercase. */
#define BLK_ID_SIZE 32
#define BLK_ID_HEX_SIZE 65 /* with the NUL */
struct blk_id {
	uint8_t bytes[BLK_ID_SIZE];
};

/* Node (file) ids: 128-bit random, chosen by the creating client. */
#define BLK_FILE_ID_SIZE 16

/*
 * Manifest, little-endian:
 *   0  magic "CFM1" (4)
 *   4  format version (1)   BLK_MANIFEST_VERSION
 *   5  reserved (3)         zero
 *   8  file size (8)
 *  16  entry count (4)
 *  20  entries: count x (block id (32), plaintext size (4))
 * The sizes sum to the file size; an empty file has no entries.
 * tag = HMAC-SHA256(K_mac, file id (16) || manifest bytes), kept beside it.
 */
#define BLK_MANIFEST_MAGIC "CFM1"
#define BLK_MANIFEST_VERSION 1
#define BLK_MANIFEST_HEADER_SIZE 20
#define BLK_MANIFEST_ENTRY_SIZE 36
#define BLK_MANIFEST_TAG_SIZE 32

/* Largest file the format and the default server limit accept: 10 GiB. */
#define BLK_FILE_SIZE_MAX (10ull * 1024 * 1024 * 1024)

/*
 * Most entries a manifest may hold: a BLK_FILE_SIZE_MAX file cut at the
 * smallest default min chunk, with room to spare. Parsers refuse more.
 */
#define BLK_MANIFEST_ENTRIES_MAX (BLK_FILE_SIZE_MAX / BLK_CHUNK_MIN_DEFAULT * 2)
#define BLK_MANIFEST_SIZE_MAX                  \
	(BLK_MANIFEST_HEADER_SIZE +            \
	 (size_t)BLK_MANIFEST_ENTRIES_MAX * BLK_MANIFEST_ENTRY_SIZE)

/* Write the 64-char lowercase hex of id plus a NUL into out. */
void blk_id_to_hex(const struct blk_id *id, char out[BLK_ID_HEX_SIZE]);

/* Parse exactly 64 hex digits (either case) of len bytes: 0 or -EINVAL. */
int blk_id_from_hex(const char *hex, size_t len, struct blk_id *out);

/* Constant-time equality of two ids. */
bool blk_id_equal(const struct blk_id *a, const struct blk_id *b);

/* SHA-256 of data: the id a blob must have. 0 or -EIO (OpenSSL failure). */
int blk_id_compute(const void *data, size_t size, struct blk_id *out);

#endif /* CLOUDFS_BLK_PROTO_H */
