/* SPDX-License-Identifier: MIT */
/* Growing arrays: cf_array.h. */
#include "cf_array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cf_array_reserve(void *items, size_t *cap, size_t count, size_t size)
{
	void *old, *grown;
	size_t want;

	if (count < *cap)
		return 0;
	want = *cap ? 2 * *cap : 16;
	if (want <= count)
		want = count + 1;
	if (!size || want > SIZE_MAX / size)
		return -ENOMEM;
	/* items is a T **: copy the pointer out and back, no aliasing */
	memcpy(&old, items, sizeof(old));
	grown = realloc(old, want * size);
	if (!grown)
		return -ENOMEM;
	memcpy(items, &grown, sizeof(grown));
	*cap = want;
	return 0;
}
