/* SPDX-License-Identifier: MIT */
/*
 * libwebsockets' own log lines, routed into cf_log under the subsystem
 * "lws": errors and warnings always, its notices and info only when
 * "lws" logs at debug level. Without this lws prints its banner and
 * chatter straight to stderr, which is the daemons' log.
 */
#ifndef CLOUDFS_CF_LWS_LOG_H
#define CLOUDFS_CF_LWS_LOG_H

/* Set lws's log level and sink; process-wide, idempotent. */
void cf_lws_log_setup(void);

#endif
