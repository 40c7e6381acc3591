/* SPDX-License-Identifier: MIT */
/* libwebsockets' log into cf_log (see cf_lws_log.h). */
#include "cf_lws_log.h"

#include <string.h>
#include <syslog.h>

#include <libwebsockets.h>

#include "cf_log.h"

static void emit(int level, const char *line)
{
	int prio = LOG_DEBUG;
	size_t len = strlen(line);

	if (level & LLL_ERR)
		prio = LOG_ERR;
	else if (level & LLL_WARN)
		prio = LOG_WARNING;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	cf_log_emit(prio, "lws", "%.*s", (int)len, line);
}

void cf_lws_log_setup(void)
{
	int levels = LLL_ERR | LLL_WARN;

	if (cf_log_is_enabled(LOG_DEBUG, "lws"))
		levels |= LLL_NOTICE | LLL_INFO;
	lws_set_log_level(levels, emit);
}
