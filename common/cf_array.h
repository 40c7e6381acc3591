/* SPDX-License-Identifier: MIT */
/*
 * Growing arrays: the one place that doubles a realloc'd array, so every
 * list built from query rows grows the same way and fails the same way.
 */
#ifndef CLOUDFS_CF_ARRAY_H
#define CLOUDFS_CF_ARRAY_H

#include <stddef.h>

/*
 * Make room for element number count (0-based) in the array *items
 * (items is the address of a T * pointer; *cap elements of size bytes
 * allocated), doubling from 16. 0, or -ENOMEM with *items and *cap as
 * they were (the caller still frees *items).
 */
int cf_array_reserve(void *items, size_t *cap, size_t count, size_t size);

#endif
