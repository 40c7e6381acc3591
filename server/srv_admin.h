/* SPDX-License-Identifier: MIT */
/*
 * The admin commands of cloudfsd, run on the server's data directory (and
 * safe beside a running server): user add / list / passwd, device list /
 * revoke, gc, scrub and fsck. `user add` and `user passwd` do the client's
 * key work themselves (scrypt master, auth key, kek) so the password never
 * reaches a server either way, and the account is ready to use with a
 * wrapped volume key.
 *
 * Reads the terminal or stdin, writes results to stdout and errors to
 * stderr. Single-threaded use; blocks.
 */
#ifndef CLOUDFS_SRV_ADMIN_H
#define CLOUDFS_SRV_ADMIN_H

struct srv_config;

/*
 * Run the command in argv[0] with its arguments (argc >= 1; argv and cfg
 * borrowed; argv may be permuted by option parsing). Returns the process
 * exit code: 0 success, 1 failure (a message was printed), 2 bad usage.
 */
int srv_admin_run(struct srv_config *cfg, int argc, char **argv);

#endif /* CLOUDFS_SRV_ADMIN_H */
