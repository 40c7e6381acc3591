/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd settings: defaults, the config file (/etc/cloudfs/cloudfsd.conf,
 * `key = value` lines, '#' comments) and command-line overrides, in that
 * order. Read-only once the server runs, so any thread may read it.
 */
#ifndef CLOUDFS_SRV_CONFIG_H
#define CLOUDFS_SRV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_CONFIG_DEFAULT_PATH "/etc/cloudfs/cloudfsd.conf"

struct srv_config {
	char *data_dir;          /* owned; SQLite db + blocks/ live here */
	char *listen_addr;       /* owned; "127.0.0.1" */
	int listen_port;         /* 8443 */
	char *tls_cert;          /* owned or NULL: PEM certificate chain */
	char *tls_key;           /* owned or NULL: PEM private key */
	bool insecure;           /* allow plain HTTP on a non-loopback address */
	int workers;             /* request worker threads */
	uint64_t max_file_size;  /* bytes; 10 GiB */
	uint64_t quota_default;  /* bytes per new account; 0 = unlimited */
	uint32_t retention_days; /* old versions and trash kept this long; 30 */
	uint32_t gc_grace_seconds; /* unreferenced blocks younger than this stay */
	size_t json_body_max;    /* cap for JSON bodies; 1 MiB */
	size_t manifest_body_max; /* cap for commit bodies (large manifests) */
	uint32_t rate_per_second; /* sustained requests per token */
	uint32_t rate_burst;      /* bucket size */
	uint32_t ws_queue_max;    /* messages queued per WebSocket */
	uint32_t ws_ping_seconds; /* keepalive ping interval */
	uint32_t body_seconds; /* a body's time, plus 1 s per 4 KiB; 20 */
	int log_level;            /* syslog level */
	char *log_debug;          /* owned or NULL: debug subsystems */
};

/* Fill c with the defaults (strings allocated): 0 or -ENOMEM. */
int srv_config_init(struct srv_config *c);

/*
 * Apply the `key = value` file at path (borrowed). missing_ok: a missing
 * file is not an error. 0; -ENOENT; -EINVAL with a log line naming the file,
 * line and key for an unknown key or a bad value; -ENOMEM.
 */
int srv_config_load(struct srv_config *c, const char *path, bool missing_ok);

/* Set one key from text (the file and --set use this): 0 or -EINVAL, -ENOMEM. */
int srv_config_set(struct srv_config *c, const char *key, const char *value);

/* Free the strings; c is unusable until srv_config_init. */
void srv_config_release(struct srv_config *c);

#endif /* CLOUDFS_SRV_CONFIG_H */
