/* SPDX-License-Identifier: MIT */
/*
 * Names for local content kept aside when the server's view wins: the
 * uploader's stale commits and the feed's removals of files with unsaved
 * changes both keep the bytes under such a name.
 */
#include "fc_conflict.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "cf_path.h"

int fc_conflict_name(const char *name, size_t len, bool is_dir,
		     const char *device, int64_t when_s, unsigned n,
		     struct cf_buf *out)
{
	char mid[160], dev[64];
	const char *dot = NULL;
	size_t base_len, ext_len, mid_len, i;
	time_t t = (time_t)when_s;
	struct tm tm;
	int k;

	if (!len || len > CF_NAME_MAX)
		return -EINVAL;
	for (i = len; i > 1 && !is_dir; i--) {
		if (name[i - 1] == '.') {
			dot = name + i - 1;
			break;
		}
	}
	base_len = dot ? (size_t)(dot - name) : len;
	ext_len = len - base_len;
	for (i = 0; device && device[i] && i < sizeof(dev) - 1; i++)
		dev[i] = device[i] == '/' ? '_' : device[i];
	dev[i] = '\0';
	if (!localtime_r(&t, &tm))
		return -EINVAL;
	if (n > 1)
		k = snprintf(mid, sizeof(mid),
			     " (conflicted copy %s %04d-%02d-%02d %u)", dev,
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, n);
	else
		k = snprintf(mid, sizeof(mid),
			     " (conflicted copy %s %04d-%02d-%02d)", dev,
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	if (k < 0 || (size_t)k >= sizeof(mid))
		return -EINVAL;
	mid_len = (size_t)k;
	if (ext_len + mid_len >= CF_NAME_MAX)
		ext_len = 0; /* a huge extension: keep the suffix whole */
	if (base_len + mid_len + ext_len > CF_NAME_MAX) {
		base_len = CF_NAME_MAX - mid_len - ext_len;
		/* never end inside a UTF-8 sequence */
		while (base_len &&
		       ((unsigned char)name[base_len] & 0xc0) == 0x80)
			base_len--;
	}
	if (!base_len)
		return -EINVAL;
	if (cf_buf_append(out, name, base_len) < 0 ||
	    cf_buf_append(out, mid, mid_len) < 0 ||
	    cf_buf_append(out, name + len - ext_len, ext_len) < 0)
		return -ENOMEM;
	return 0;
}

int fc_conflict_candidate(const char *name, size_t len, bool is_dir,
			  const char *device, int64_t when_s, unsigned n,
			  struct cf_buf *out)
{
	cf_buf_reset(out);
	if (n)
		return fc_conflict_name(name, len, is_dir, device, when_s, n,
					out);
	return cf_buf_append(out, name, len) < 0 ? -ENOMEM : 0;
}
