/* SPDX-License-Identifier: MIT */
/*
 * struct cf_buf: the one growable byte buffer, with a hard size cap so a peer
 * cannot grow it without bound (curl dynbuf), always NUL-terminated and able
 * to hold binary data (git strbuf).
 *
 * Invariants: data is never NULL after cf_buf_init (it points at a shared
 * empty string until the first append); data[len] == '\0'; len < cap when
 * cap > 0; len <= max. Not thread-safe: one owner at a time.
 */
#ifndef CLOUDFS_CF_BUF_H
#define CLOUDFS_CF_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "cf_util.h"

struct cf_buf {
	char *data; /* owned once cap > 0 */
	size_t len; /* bytes used, not counting the NUL */
	size_t cap; /* bytes allocated; 0 while data is the shared "" */
	size_t max; /* largest len ever allowed */
};

/* Initialise an empty buffer that may hold up to max bytes. Never fails. */
void cf_buf_init(struct cf_buf *b, size_t max);

/*
 * Make room for extra more bytes. -EMSGSIZE when len + extra would pass the
 * cap, -ENOMEM when allocation fails; the buffer is unchanged on failure.
 */
int cf_buf_grow(struct cf_buf *b, size_t extra);

/*
 * Give a buffer that has no allocation yet room for size bytes at an
 * address aligned to align (a power of two, a multiple of sizeof(void *)),
 * for data headed to O_DIRECT I/O. -EINVAL when b is allocated already,
 * -EMSGSIZE, -ENOMEM as cf_buf_grow. A later grow past size may move the
 * data to an unaligned block.
 */
int cf_buf_alloc_aligned(struct cf_buf *b, size_t size, size_t align);

/* Append size bytes of data (borrowed). -EMSGSIZE, -ENOMEM as cf_buf_grow. */
int cf_buf_append(struct cf_buf *b, const void *data, size_t size);

/* Append a NUL-terminated string. */
int cf_buf_appends(struct cf_buf *b, const char *s);

/* Append printf-formatted text. -EMSGSIZE, -ENOMEM, -EINVAL (bad format). */
int cf_buf_appendf(struct cf_buf *b, const char *fmt, ...) CF_PRINTF(2, 3);
int cf_buf_vappendf(struct cf_buf *b, const char *fmt, va_list ap)
	CF_PRINTF(2, 0);

/* Drop the contents, keep the allocation. */
void cf_buf_reset(struct cf_buf *b);

/*
 * Hand the contents to the caller (caller owns; free()) and leave b empty.
 * *out_size, when not NULL, gets the length. Returns NULL on -ENOMEM only
 * (an empty buffer is detached as a fresh "" allocation).
 */
char *cf_buf_detach(struct cf_buf *b, size_t *out_size);

/* Free the contents; b is left empty and reusable with the same cap. */
void cf_buf_release(struct cf_buf *b);

#endif /* CLOUDFS_CF_BUF_H */
