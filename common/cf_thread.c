/* SPDX-License-Identifier: MIT */
/* Thread names and background priority: cf_thread.h. */
#include "cf_thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "thread"
#include "cf_log.h"

#define BACKGROUND_NICE 19

void cf_thread_name(const char *name)
{
	char cut[16];
	int rc;

	snprintf(cut, sizeof(cut), "%s", name);
	rc = pthread_setname_np(pthread_self(), cut);
	if (rc != 0)
		cf_dbg("cannot name thread %s: %s", cut, strerror(rc));
}

static _Thread_local bool background;

bool cf_thread_is_background(void)
{
	return background;
}

void cf_thread_background(void)
{
	background = true;
	/* Linux keeps a nice value per thread: PRIO_PROCESS with a tid. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), BACKGROUND_NICE) < 0)
		cf_dbg("cannot lower a thread's priority: %s", strerror(errno));
}
