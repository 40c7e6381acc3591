/* SPDX-License-Identifier: MIT */
/*
 * Log line formatting and output. A line is built in a stack buffer and
 * written with one write(2); an over-long message is cut and marked, never
 * split across writes.
 */
#include "cf_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cf_log_level_max = LOG_INFO;

static const char *log_ident = "cloudfs";
static bool log_journal;
static char log_debug[256]; /* ",upq,ws," or ",all," */

void cf_log_setup(const char *ident, int level, const char *debug)
{
	int n;

	if (ident)
		log_ident = ident;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	cf_log_level_max = level;
	log_debug[0] = '\0';
	if (debug && *debug) {
		n = snprintf(log_debug, sizeof(log_debug), ",%s,", debug);
		if (n < 0 || (size_t)n >= sizeof(log_debug))
			snprintf(log_debug, sizeof(log_debug), ",all,");
	}
}

bool cf_log_is_enabled(int level, const char *subsys)
{
	char tag[40];
	int n;

	if (level <= cf_log_level_max)
		return true;
	if (level != LOG_DEBUG || !log_debug[0])
		return false;
	if (strstr(log_debug, ",all,"))
		return true;
	n = snprintf(tag, sizeof(tag), ",%s,", subsys);
	return n > 0 && (size_t)n < sizeof(tag) && strstr(log_debug, tag);
}

static const char *level_name(int level)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warning", "notice", "info",
					     "debug" };

	if (level < 0 || level > LOG_DEBUG)
		return "log";
	return names[level];
}

void cf_log_emit(int level, const char *subsys, const char *fmt, ...)
{
	char line[2048];
	size_t len = 0;
	va_list ap;
	int saved = errno, n;

	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>%s: ", level, subsys);
	else
		n = snprintf(line, sizeof(line), "%s: %s: %s: ", log_ident,
			     level_name(level), subsys);
	if (n > 0)
		len = CF_MIN((size_t)n, sizeof(line) - 1);
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += CF_MIN((size_t)n, sizeof(line) - len - 1);
	if (n > 0 && len == sizeof(line) - 1)
		memcpy(line + len - 4, "...", 3);
	line[len++] = '\n';
	/* A lost log line is not worth failing or retrying over. */
	if (write(STDERR_FILENO, line, len) < 0)
		errno = saved;
	errno = saved;
}
