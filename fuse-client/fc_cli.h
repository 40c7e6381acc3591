/* SPDX-License-Identifier: MIT */
/*
 * The bodies of the `cloudfs` commands; main.c parses the command line
 * into struct fc_cli_args and calls one of these. Each returns the
 * process exit status (0 success, 1 failure, 2 usage) after printing one
 * clear message on failure; none exits.
 *
 * status, sync and pin talk to the running mount through its virtual
 * xattrs (user.cloudfs.status, .sync, .pin, .id on the mount); versions
 * and restore also call the server with the token of the state directory.
 */
#ifndef CLOUDFS_FC_CLI_H
#define CLOUDFS_FC_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "fc_fs.h"

/* Everything borrowed from argv / main's storage. */
struct fc_cli_args {
	const char *server;
	const char *user;
	const char *password_file; /* NULL: prompt on the terminal or stdin */
	const char *device;
	const char *state_dir; /* NULL = default */
	const char *cache_dir; /* NULL = default */
	const char *path; /* MOUNTPOINT or PATH operand, or NULL */
	long timeout_s; /* sync: 0 = wait for ever */
	uint64_t version; /* restore: 0 = the previous version */
	unsigned upload_threads;
	struct fc_fs_opts *fs; /* mount: parsed -o and -f */
};

int fc_cli_login(const struct fc_cli_args *a);
int fc_cli_mount(const struct fc_cli_args *a);
int fc_cli_status(const struct fc_cli_args *a);
int fc_cli_sync(const struct fc_cli_args *a);
int fc_cli_versions(const struct fc_cli_args *a);
int fc_cli_restore(const struct fc_cli_args *a);
int fc_cli_pin(const struct fc_cli_args *a, bool pin);

#endif /* CLOUDFS_FC_CLI_H */
