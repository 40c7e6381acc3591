/* SPDX-License-Identifier: MIT */
/*
 * `cloudfsd serve`: assemble the server from its parts (metadata store,
 * block store, metrics, transport, API) according to a configuration, run
 * it until SIGTERM or SIGINT, and take it apart again. The only place that
 * knows which implementation of each interface the server uses.
 */
#ifndef CLOUDFS_SRV_SERVER_H
#define CLOUDFS_SRV_SERVER_H

#include <stdbool.h>

struct srv_config;

/*
 * True when addr (borrowed) is a loopback address: 127.0.0.0/8, ::1 or
 * "localhost". Such addresses may be served without TLS.
 */
bool srv_server_is_loopback(const char *addr);

/*
 * Serve with cfg (borrowed; read-only while serving). Blocks SIGTERM and
 * SIGINT in every thread and turns them into a graceful stop (a second one
 * hurries it). Returns 0 after a clean stop; -EINVAL for a configuration
 * that must not be served (plain HTTP on a non-loopback address without
 * insecure, half a TLS pair), or the negative errno of the part that could
 * not start; the reason is logged.
 */
int srv_server_run(struct srv_config *cfg);

#endif /* CLOUDFS_SRV_SERVER_H */
