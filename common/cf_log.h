/* SPDX-License-Identifier: MIT */
/*
 * Logging with syslog levels to stderr, one write(2) per line so lines from
 * many threads never interleave. Under systemd (JOURNAL_STREAM set) each line
 * carries a <N> priority prefix for journald. A file sets its subsystem tag
 * with `#define CF_LOG_SUBSYS "upq"` before including this header.
 *
 * The level and debug categories are process-wide settings made once at
 * start-up (cf_log_setup) and read without locks afterwards.
 */
#ifndef CLOUDFS_CF_LOG_H
#define CLOUDFS_CF_LOG_H

#include <stdbool.h>
#include <syslog.h>

#include "cf_util.h"

#ifndef CF_LOG_SUBSYS
# define CF_LOG_SUBSYS "main"
#endif

/* Highest syslog level printed; LOG_INFO unless cf_log_setup says else. */
extern int cf_log_level_max;

/*
 * Configure logging. ident names the program in plain-stderr mode. debug is
 * NULL or a comma list of subsystem tags ("upq,ws") or "all": those
 * subsystems log at LOG_DEBUG. Not thread-safe: call before threads start.
 */
void cf_log_setup(const char *ident, int level, const char *debug);

/* True when the subsystem logs at this level; cheap. */
bool cf_log_is_enabled(int level, const char *subsys);

void cf_log_emit(int level, const char *subsys, const char *fmt, ...)
	CF_PRINTF(3, 4);

/* Arguments are evaluated only when the line will be printed. */
#define cf_log(level, ...)                                              \
	do {                                                            \
		if (cf_log_is_enabled((level), CF_LOG_SUBSYS))          \
			cf_log_emit((level), CF_LOG_SUBSYS, __VA_ARGS__); \
	} while (0)

#define cf_err(...) cf_log(LOG_ERR, __VA_ARGS__)
#define cf_warn(...) cf_log(LOG_WARNING, __VA_ARGS__)
#define cf_info(...) cf_log(LOG_INFO, __VA_ARGS__)
#define cf_dbg(...) cf_log(LOG_DEBUG, __VA_ARGS__)

#endif /* CLOUDFS_CF_LOG_H */
