/* SPDX-License-Identifier: MIT */
/*
 * Hex encoding of byte strings, one copy for every module (block ids, node
 * ids, tokens, keys). Encoding writes lowercase; decoding takes either case.
 * Pure functions, thread-safe.
 */
#ifndef CLOUDFS_CF_HEX_H
#define CLOUDFS_CF_HEX_H

#include <stddef.h>

/*
 * Write the 2 * size lowercase hex digits of data (size bytes, borrowed)
 * plus a NUL into out, which holds at least 2 * size + 1 bytes. Never fails.
 */
void cf_hex_encode(const void *data, size_t size, char *out);

/*
 * Parse exactly 2 * size hex digits from hex (len bytes, borrowed, need not
 * be NUL-terminated) into out (size bytes). 0 on success; -EINVAL when hex
 * is NULL, len != 2 * size or a character is not a hex digit, and then out
 * is left untouched.
 */
int cf_hex_decode(const char *hex, size_t len, void *out, size_t size);

#endif /* CLOUDFS_CF_HEX_H */
