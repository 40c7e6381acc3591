/* SPDX-License-Identifier: MIT */
/*
 * The account's files in the state directory and the login flow. The state
 * directory (mode 0700) holds account.json (server URL, user, ids, chunk
 * parameters, codec), token (the bearer token, hex) and volume.key (the
 * unwrapped 32-byte volume key), each mode 0600 and written durably
 * (cf_file_write_durable); state.db belongs to fc_state.
 *
 * Login: prelogin -> check the KDF parameters (a server cannot make the
 * client burn unbounded memory) -> scrypt -> auth key -> login -> GET
 * /key: unwrap it with kek, or on a first login generate a volume key,
 * wrap it and PUT it. The password and every derived key are wiped after
 * use and never logged.
 *
 * Thread-safe (no shared state); everything blocks (disk, network, KDF).
 */
#ifndef CLOUDFS_FC_ACCOUNT_H
#define CLOUDFS_FC_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "blk/chunker.h"
#include "blk/keys.h"
#include "cf_buf.h"
#include "fc_remote.h"

#define FC_ACCOUNT_FILE	 "account.json"
#define FC_TOKEN_FILE	 "token"
#define FC_KEY_FILE	 "volume.key"
#define FC_STATE_DB_FILE "state.db"
#define FC_DAEMON_LOCK_FILE "daemon.lock" /* flock: one mount per state dir */

/* What account.json says. Strings owned; release with fc_account_release. */
struct fc_account {
	char *server; /* base URL */
	char *user;
	char *device; /* this device's name */
	int64_t user_id;
	int64_t device_id;
	uint8_t root[FC_NODE_ID_SIZE];
	struct blk_chunker_params chunk;
	int codec; /* enum blk_codec_id */
};

void fc_account_release(struct fc_account *a);

/*
 * Default directories, appended to out: state = $XDG_STATE_HOME/cloudfs,
 * else $HOME/.local/state/cloudfs, else /var/lib/cloudfs for root (else
 * the passwd entry's home); cache = $XDG_CACHE_HOME/cloudfs, else
 * $HOME/.cache/cloudfs, else /var/cache/cloudfs for root. -ENOENT when
 * no home is known, -ENAMETOOLONG, -ENOMEM.
 */
int fc_account_default_state_dir(struct cf_buf *out);
int fc_account_default_cache_dir(struct cf_buf *out);

/*
 * Read dir/account.json (dir borrowed) into *out (caller releases).
 * -ENOENT (never logged in here), -EPROTO (malformed), -EACCES, -ENOMEM.
 */
int fc_account_load(const char *dir, struct fc_account *out);

/* Write dir/account.json durably, mode 0600. -errno. */
int fc_account_save(const char *dir, const struct fc_account *a);

/* Read the token (64 hex + NUL) into out. -ENOENT, -EPROTO, -errno. */
int fc_account_token_load(const char *dir, char out[FC_TOKEN_HEX_SIZE]);

/* Read the volume key. -ENOENT, -EPROTO (wrong size), -errno. */
int fc_account_key_load(const char *dir, uint8_t out[BLK_KEY_SIZE]);

/* What fc_account_login needs; all borrowed for the call. */
struct fc_login_req {
	const char *dir; /* state directory; created 0700 */
	const char *server; /* base URL */
	const char *user;
	const char *device; /* NULL = the host name */
	const char *password; /* pw_len bytes; the caller wipes it */
	size_t pw_len;
	long timeout_ms; /* per call; 0 = fc_remote's default */
};

/*
 * The whole login flow; on success the state directory holds
 * account.json, token and volume.key and *out (may be NULL; caller
 * releases) what account.json says. Errors: -EACCES (wrong user or
 * password), -EKEYREJECTED (the password logs in but does not unwrap the
 * volume key: changed elsewhere?), -EINVAL (bad URL or KDF parameters the
 * client refuses), -ENOTCONN / -ETIMEDOUT (server unreachable), -EPROTO,
 * -ENOMEM, -errno from the state directory. *out_msg (may be NULL) gets
 * a static sentence for the user.
 */
int fc_account_login(const struct fc_login_req *req, struct fc_account *out,
		     const char **out_msg);

/*
 * Make a fc_remote for a logged-in state directory: account.json's server
 * and the token. -ENOENT (not logged in), other errors as the loaders and
 * fc_remote_new. Caller owns *out.
 */
int fc_account_remote(const char *dir, const struct fc_account *a,
		      struct fc_remote **out);

#endif /* CLOUDFS_FC_ACCOUNT_H */
