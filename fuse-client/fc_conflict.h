/* SPDX-License-Identifier: MIT */
/*
 * Conflicted copy names: where local content goes when another device's
 * change takes its place.
 */
#ifndef FC_CONFLICT_H
#define FC_CONFLICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_buf.h"

/*
 * The name of a conflicted copy: "NAME (conflicted copy DEVICE
 * YYYY-MM-DD).EXT" (EXT: after the last '.', unless the name starts with
 * it; a directory's name has none, "photos.2024" stays whole), " N" added
 * before ")" when n > 1. Appended to out; names longer than CF_NAME_MAX
 * are shortened in NAME (never cut inside the suffix). -ENOMEM, -EINVAL.
 */
int fc_conflict_name(const char *name, size_t len, bool is_dir,
		     const char *device, int64_t when_s, unsigned n,
		     struct cf_buf *out);

/*
 * The n-th name to try for local content that wants name: name itself
 * for n = 0, else fc_conflict_name's n-th. out is reset first. -ENOMEM,
 * -EINVAL.
 */
int fc_conflict_candidate(const char *name, size_t len, bool is_dir,
			  const char *device, int64_t when_s, unsigned n,
			  struct cf_buf *out);

#endif
