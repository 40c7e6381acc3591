/* SPDX-License-Identifier: MIT */
/*
 * Accounts, devices, tokens and the server secret of the SQLite metadata
 * store. Every write goes through the group-commit writer (srv_sq_write);
 * reads use pooled connections. Token hashes and auth hashes are opaque
 * bytes here and never logged.
 */
#include "srv_meta.h"

#define CF_LOG_SUBSYS "meta"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cf_log.h"
#include "srv_meta_sqlite_int.h"

/* token_lookup refreshes a device's last_seen at most this often. */
#define DEVICE_SEEN_INTERVAL 60

static struct srv_sq *sq_of(struct srv_meta *m)
{
	return (struct srv_sq *)m;
}

/* ----- accounts ----- */

static int user_from_row(sqlite3_stmt *st, struct srv_user *u)
{
	const unsigned char *name;
	int len, rc;

	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, 0);
	name = sqlite3_column_text(st, 1);
	len = sqlite3_column_bytes(st, 1);
	if (!name || len <= 0 || len > SRV_USER_NAME_MAX) {
		cf_err("corrupt row: user %lld name", (long long)u->id);
		return -EIO;
	}
	memcpy(u->name, name, (size_t)len);
	u->kdf.version = (uint32_t)sqlite3_column_int64(st, 2);
	u->kdf.n = (uint64_t)sqlite3_column_int64(st, 3);
	u->kdf.r = (uint32_t)sqlite3_column_int64(st, 4);
	u->kdf.p = (uint32_t)sqlite3_column_int64(st, 5);
	rc = srv_sq_col_fixed(st, 6, u->kdf_salt, sizeof(u->kdf_salt));
	if (rc == 0)
		rc = srv_sq_col_fixed(st, 7, u->auth_salt,
				      sizeof(u->auth_salt));
	if (rc == 0)
		rc = srv_sq_col_fixed(st, 8, u->auth_hash,
				      sizeof(u->auth_hash));
	u->chunk_min = (uint32_t)sqlite3_column_int64(st, 9);
	u->chunk_avg = (uint32_t)sqlite3_column_int64(st, 10);
	u->chunk_max = (uint32_t)sqlite3_column_int64(st, 11);
	u->codec = (uint8_t)sqlite3_column_int(st, 12);
	u->quota = (uint64_t)sqlite3_column_int64(st, 13);
	u->seq = (uint64_t)sqlite3_column_int64(st, 14);
	u->created = sqlite3_column_int64(st, 15);
	return rc;
}

static int user_create_run(struct srv_sq_conn *c, void *arg)
{
	struct srv_user *u = arg;
	int64_t now_ns = srv_sq_now_ns();
	sqlite3_stmt *st;
	int rc;

	u->created = srv_sq_now_s();
	rc = srv_sq_stmt(c, ST_USER_INSERT, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "tiuiibbbiiiiui", u->name,
				 strlen(u->name), (int64_t)u->kdf.version,
				 u->kdf.n, (int64_t)u->kdf.r, (int64_t)u->kdf.p,
				 u->kdf_salt, sizeof(u->kdf_salt), u->auth_salt,
				 sizeof(u->auth_salt), u->auth_hash,
				 sizeof(u->auth_hash), (int64_t)u->chunk_min,
				 (int64_t)u->chunk_avg, (int64_t)u->chunk_max,
				 (int64_t)u->codec, u->quota, u->created);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc < 0)
		return rc;
	u->id = sqlite3_last_insert_rowid(c->db);
	u->seq = 1;

	/* The root directory: all-zero id, seq 1 (the user row says 1). */
	rc = srv_sq_stmt(c, ST_NODE_INSERT, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iNiiiiuuiiiuz", u->id, srv_root_id,
				 (int64_t)SRV_NODE_DIR, (int64_t)0755,
				 (int64_t)0, (int64_t)0, (uint64_t)0,
				 (uint64_t)0, now_ns, now_ns, (int64_t)2,
				 (uint64_t)1);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

int srv_sq_user_create(struct srv_meta *m, struct srv_user *u)
{
	size_t len = strnlen(u->name, sizeof(u->name));

	if (len == 0 || len > SRV_USER_NAME_MAX)
		return -EINVAL;
	return srv_sq_write(sq_of(m), user_create_run, u);
}

static int user_get_by(struct srv_meta *m, enum srv_sq_stmt id, int64_t uid,
		       const char *name, struct srv_user *out)
{
	struct srv_sq_conn *c = NULL;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_stmt(c, id, &st);
	if (rc == 0)
		rc = name ? srv_sq_bind(c, st, "t", name, strlen(name))
			  : srv_sq_bind(c, st, "i", uid);
	if (rc == 0)
		rc = srv_sq_step(c, st);
	if (rc == 0)
		rc = -ENOENT;
	if (rc > 0) {
		rc = user_from_row(st, out);
		sqlite3_reset(st);
	}
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

int srv_sq_user_get(struct srv_meta *m, int64_t id, struct srv_user *out)
{
	return user_get_by(m, ST_USER_GET, id, NULL, out);
}

int srv_sq_user_get_by_name(struct srv_meta *m, const char *name,
			    struct srv_user *out)
{
	if (strnlen(name, SRV_USER_NAME_MAX + 1) > SRV_USER_NAME_MAX)
		return -ENOENT;
	return user_get_by(m, ST_USER_GET_NAME, 0, name, out);
}

int srv_sq_user_list(struct srv_meta *m, srv_meta_user_fn fn, void *arg)
{
	struct srv_sq_conn *c = NULL;
	struct srv_user u;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_stmt(c, ST_USER_LIST, &st);
	while (rc == 0 && (rc = srv_sq_step(c, st)) > 0) {
		rc = user_from_row(st, &u);
		if (rc == 0)
			rc = fn(arg, &u);
	}
	if (rc > 0)
		rc = 0;
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

struct set_auth_args {
	int64_t user_id;
	const struct srv_user *auth;
	const uint8_t *wrapped;
	size_t wrapped_size;
};

static int set_auth_run(struct srv_sq_conn *c, void *arg)
{
	struct set_auth_args *a = arg;
	const struct srv_user *u = a->auth;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_USER_SET_AUTH, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, a->wrapped ? "iiuiibbbb" : "iiuiibbbz",
				 a->user_id, (int64_t)u->kdf.version, u->kdf.n,
				 (int64_t)u->kdf.r, (int64_t)u->kdf.p,
				 u->kdf_salt, sizeof(u->kdf_salt), u->auth_salt,
				 sizeof(u->auth_salt), u->auth_hash,
				 sizeof(u->auth_hash), a->wrapped,
				 a->wrapped_size);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	return rc;
}

int srv_sq_user_set_auth(struct srv_meta *m, int64_t user_id,
			 const struct srv_user *auth,
			 const uint8_t *wrapped_key, size_t wrapped_size)
{
	struct set_auth_args a = { user_id, auth, wrapped_key, wrapped_size };

	if (wrapped_key &&
	    (wrapped_size == 0 || wrapped_size > SRV_WRAPPED_KEY_MAX))
		return -EINVAL;
	return srv_sq_write(sq_of(m), set_auth_run, &a);
}

int srv_sq_key_get(struct srv_meta *m, int64_t user_id, uint8_t *out,
		   size_t out_size, size_t *out_len)
{
	struct srv_sq_conn *c = NULL;
	sqlite3_stmt *st;
	size_t size;
	int rc;

	*out_len = 0;
	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_row(c, ST_KEY_GET, &st, "i", user_id);
	if (rc < 0)
		goto out;
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		rc = -ENOENT;
		goto out;
	}
	size = (size_t)sqlite3_column_bytes(st, 0);
	*out_len = size;
	if (size > out_size) {
		rc = -EMSGSIZE;
		goto out;
	}
	if (size)
		memcpy(out, sqlite3_column_blob(st, 0), size);
	rc = 0;
out:
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

struct key_put_args {
	int64_t user_id;
	const uint8_t *wrapped;
	size_t size;
	bool replace;
};

static int key_put_run(struct srv_sq_conn *c, void *arg)
{
	struct key_put_args *a = arg;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_row(c, ST_KEY_GET, &st, "i", a->user_id);
	if (rc < 0)
		return rc;
	rc = sqlite3_column_type(st, 0) != SQLITE_NULL && !a->replace ? -EEXIST
								      : 0;
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	rc = srv_sq_stmt(c, ST_KEY_PUT, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "ib", a->user_id, a->wrapped, a->size);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

int srv_sq_key_put(struct srv_meta *m, int64_t user_id, const uint8_t *wrapped,
		   size_t size, bool replace)
{
	struct key_put_args a = { user_id, wrapped, size, replace };

	if (!wrapped || size == 0 || size > SRV_WRAPPED_KEY_MAX)
		return -EINVAL;
	return srv_sq_write(sq_of(m), key_put_run, &a);
}

int srv_sq_usage(struct srv_meta *m, int64_t user_id, struct srv_usage *out)
{
	struct srv_sq_conn *c = NULL;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_row(c, ST_USAGE, &st, "i", user_id);
	if (rc > 0) {
		out->quota = (uint64_t)sqlite3_column_int64(st, 0);
		out->bytes = (uint64_t)sqlite3_column_int64(st, 1);
		out->blocks = (uint64_t)sqlite3_column_int64(st, 2);
		out->files = (uint64_t)sqlite3_column_int64(st, 3);
		rc = 0;
	}
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

int srv_sq_secret_get(struct srv_meta *m, uint8_t out[SRV_SECRET_SIZE])
{
	memcpy(out, sq_of(m)->secret, SRV_SECRET_SIZE);
	return 0;
}

/* ----- devices and tokens ----- */

struct device_create_args {
	int64_t user_id;
	const char *name;
	size_t len;
	int64_t id;
};

static int device_create_run(struct srv_sq_conn *c, void *arg)
{
	struct device_create_args *a = arg;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_DEV_INSERT, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "iti", a->user_id, a->name, a->len,
				 srv_sq_now_s());
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc == 0)
		a->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int srv_sq_device_create(struct srv_meta *m, int64_t user_id, const char *name,
			 int64_t *out_id)
{
	struct device_create_args a = { user_id, name, 0, 0 };
	int rc;

	*out_id = 0;
	a.len = strnlen(name, CF_NAME_MAX + 1);
	if (a.len > CF_NAME_MAX)
		return -EINVAL;
	rc = srv_sq_write(sq_of(m), device_create_run, &a);
	if (rc == 0)
		*out_id = a.id;
	return rc;
}

int srv_sq_device_list(struct srv_meta *m, int64_t user_id,
		       srv_meta_device_fn fn, void *arg)
{
	struct srv_sq_conn *c = NULL;
	const unsigned char *name;
	struct srv_device d;
	sqlite3_stmt *st;
	int rc, len;

	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_stmt(c, ST_DEV_LIST, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "i", user_id);
	while (rc == 0 && (rc = srv_sq_step(c, st)) > 0) {
		memset(&d, 0, sizeof(d));
		d.id = sqlite3_column_int64(st, 0);
		d.user_id = sqlite3_column_int64(st, 1);
		name = sqlite3_column_text(st, 2);
		len = sqlite3_column_bytes(st, 2);
		if (name && len > 0 && len <= CF_NAME_MAX)
			memcpy(d.name, name, (size_t)len);
		d.created = sqlite3_column_int64(st, 3);
		d.last_seen = sqlite3_column_int64(st, 4);
		d.revoked = sqlite3_column_int(st, 5) != 0;
		rc = fn(arg, &d);
	}
	if (rc > 0)
		rc = 0;
	srv_sq_read_put(sq_of(m), c);
	return rc;
}

static int device_revoke_run(struct srv_sq_conn *c, void *arg)
{
	int64_t id = *(int64_t *)arg;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_DEV_REVOKE, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "i", id);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	if (rc == 0)
		rc = srv_sq_stmt(c, ST_TOKENS_OF_DEVICE_DELETE, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "i", id);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

int srv_sq_device_revoke(struct srv_meta *m, int64_t device_id)
{
	return srv_sq_write(sq_of(m), device_revoke_run, &device_id);
}

struct token_args {
	const uint8_t *hash;
	int64_t user_id;
	int64_t device_id;
	int64_t now;
};

static int token_create_run(struct srv_sq_conn *c, void *arg)
{
	struct token_args *a = arg;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_row(c, ST_DEV_GET, &st, "i", a->device_id);
	if (rc < 0)
		return rc;
	rc = sqlite3_column_int64(st, 0) != a->user_id ||
			     sqlite3_column_int(st, 1) != 0
		     ? -ENOENT
		     : 0;
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	rc = srv_sq_stmt(c, ST_TOKEN_INSERT, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "biii", a->hash,
				 (size_t)SRV_TOKEN_HASH_SIZE, a->user_id,
				 a->device_id, a->now);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

int srv_sq_token_create(struct srv_meta *m, const uint8_t *hash,
			int64_t user_id, int64_t device_id)
{
	struct token_args a = { hash, user_id, device_id, srv_sq_now_s() };

	return srv_sq_write(sq_of(m), token_create_run, &a);
}

static int device_touch_run(struct srv_sq_conn *c, void *arg)
{
	struct token_args *a = arg;
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_DEV_TOUCH, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "ii", a->device_id, a->now);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	return rc;
}

int srv_sq_token_lookup(struct srv_meta *m, const uint8_t *hash,
			int64_t *out_user, int64_t *out_device)
{
	struct token_args a = { hash, 0, 0, srv_sq_now_s() };
	struct srv_sq_conn *c = NULL;
	int64_t last_seen = 0;
	sqlite3_stmt *st;
	int rc;

	*out_user = 0;
	*out_device = 0;
	rc = srv_sq_read_get(sq_of(m), &c);
	if (rc < 0)
		return rc;
	rc = srv_sq_row(c, ST_TOKEN_LOOKUP, &st, "b", hash,
			(size_t)SRV_TOKEN_HASH_SIZE);
	if (rc > 0) {
		a.user_id = sqlite3_column_int64(st, 0);
		a.device_id = sqlite3_column_int64(st, 1);
		last_seen = sqlite3_column_int64(st, 2);
		sqlite3_reset(st);
		rc = 0;
	}
	srv_sq_read_put(sq_of(m), c);
	if (rc < 0)
		return rc;
	/* last_seen is advisory: a failed refresh does not fail the lookup. */
	if (a.now - last_seen >= DEVICE_SEEN_INTERVAL &&
	    srv_sq_write(sq_of(m), device_touch_run, &a) < 0)
		cf_warn("device %lld: last_seen not updated",
			(long long)a.device_id);
	*out_user = a.user_id;
	*out_device = a.device_id;
	return 0;
}

static int token_delete_run(struct srv_sq_conn *c, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	rc = srv_sq_stmt(c, ST_TOKEN_DELETE, &st);
	if (rc == 0)
		rc = srv_sq_bind(c, st, "b", (const uint8_t *)arg,
				 (size_t)SRV_TOKEN_HASH_SIZE);
	if (rc == 0)
		rc = srv_sq_exec(c, st);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	return rc;
}

int srv_sq_token_delete(struct srv_meta *m, const uint8_t *hash)
{
	/* The op only reads the hash: casting away const is safe. */
	return srv_sq_write(sq_of(m), token_delete_run,
			    (void *)(uintptr_t)hash);
}
