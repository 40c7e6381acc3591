/* SPDX-License-Identifier: MIT */
/*
 * Capped growable buffer. Growth doubles up to the cap so appends are
 * amortised O(1); the cap is checked before any allocation.
 */
#include "cf_buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The empty string every fresh buffer points at; never written to. */
static char empty_slot[1];

void cf_buf_init(struct cf_buf *b, size_t max)
{
	b->data = empty_slot;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int cf_buf_grow(struct cf_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (!cf_size_add(b->len, extra, &need) || need > b->max)
		return -EMSGSIZE;
	if (!cf_size_add(need, 1, &need))
		return -EMSGSIZE;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap - 1 > b->max && need - 1 <= b->max)
		cap = b->max + 1;
	p = realloc(b->cap ? b->data : NULL, cap);
	if (!p)
		return -ENOMEM;
	if (!b->cap)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return 0;
}

int cf_buf_alloc_aligned(struct cf_buf *b, size_t size, size_t align)
{
	size_t cap;
	void *p;
	int rc;

	if (b->cap)
		return -EINVAL;
	if (size > b->max || !cf_size_add(size, 1, &cap))
		return -EMSGSIZE;
	rc = posix_memalign(&p, align, cap);
	if (rc)
		return -rc;
	b->data = p;
	b->data[0] = '\0';
	b->cap = cap;
	return 0;
}

int cf_buf_append(struct cf_buf *b, const void *data, size_t size)
{
	int rc;

	if (!size)
		return 0;
	rc = cf_buf_grow(b, size);
	if (rc < 0)
		return rc;
	memcpy(b->data + b->len, data, size);
	b->len += size;
	b->data[b->len] = '\0';
	return 0;
}

int cf_buf_appends(struct cf_buf *b, const char *s)
{
	return cf_buf_append(b, s, strlen(s));
}

int cf_buf_vappendf(struct cf_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	rc = cf_buf_grow(b, (size_t)n);
	if (rc < 0)
		return rc;
	if (vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap) != n)
		return -EINVAL;
	b->len += (size_t)n;
	return 0;
}

int cf_buf_appendf(struct cf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_buf_vappendf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void cf_buf_reset(struct cf_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->data[0] = '\0';
}

char *cf_buf_detach(struct cf_buf *b, size_t *out_size)
{
	char *p;

	if (!b->cap) {
		p = calloc(1, 1);
		if (!p)
			return NULL;
	} else {
		p = b->data;
	}
	if (out_size)
		*out_size = b->len;
	cf_buf_init(b, b->max);
	return p;
}

void cf_buf_release(struct cf_buf *b)
{
	if (b->cap)
		free(b->data);
	cf_buf_init(b, b->max);
}
