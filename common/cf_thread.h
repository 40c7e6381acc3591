/* SPDX-License-Identifier: MIT */
/*
 * What a thread says about itself: its name (top -H, perf, gdb and
 * /proc show it) and whether its work is background work that gives way
 * to the threads serving the user. Both apply to the calling thread only
 * and are best effort: a failure is logged at debug level and ignored.
 */
#ifndef CLOUDFS_CF_THREAD_H
#define CLOUDFS_CF_THREAD_H

#include <stdbool.h>

/* Name the calling thread; longer names are cut to 15 bytes. */
void cf_thread_name(const char *name);

/*
 * Lowest CPU priority (nice 19) for the calling thread: uploads, pushes
 * and pulls catch up when the CPUs are free, and a process of the user's
 * never waits for them. They still run on a busy machine, only slower.
 */
void cf_thread_background(void);

/* Whether the calling thread called cf_thread_background. */
bool cf_thread_is_background(void);

#endif
