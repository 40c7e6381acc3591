/* SPDX-License-Identifier: MIT */
/*
 * Account routes: prelogin (KDF parameters and salt, faked for unknown
 * users so names cannot be enumerated), login (auth key -> device + token),
 * logout, the account summary and the wrapped volume key. The password
 * never reaches the server; the auth key is checked against a slow hash and
 * unknown users cost the same hash, so timing tells nothing either.
 */
#include "srv_api_int.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "api"
#include "cf_log.h"
#include "srv_auth.h"
#include "srv_config.h"

static int get_user_name(struct api_call *c, const char **out, size_t *len)
{
	int rc;

	rc = api_get_string(c, "user", true, out, len);
	if (rc != 0)
		return rc;
	if (srv_auth_user_name_check(*out, *len) < 0)
		return api_fail(c, -EINVAL,
				"field 'user' must be 1 to %d letters, digits "
				"or . _ @ -",
				SRV_USER_NAME_MAX);
	return 0;
}

static json_t *kdf_json(const struct blk_kdf_params *p)
{
	json_t *j = json_object();

	if (!j)
		return NULL;
	if (api_set(j, "version", json_integer(p->version)) < 0 ||
	    api_set(j, "n", api_json_u64(p->n)) < 0 ||
	    api_set(j, "r", json_integer(p->r)) < 0 ||
	    api_set(j, "p", json_integer(p->p)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *chunk_json(const struct srv_user *u)
{
	json_t *j = json_object();

	if (!j)
		return NULL;
	if (api_set(j, "min", json_integer(u->chunk_min)) < 0 ||
	    api_set(j, "avg", json_integer(u->chunk_avg)) < 0 ||
	    api_set(j, "max", json_integer(u->chunk_max)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int api_prelogin(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	struct blk_kdf_params kdf;
	uint8_t salt[BLK_SALT_SIZE];
	struct srv_user u;
	const char *name;
	size_t len;
	json_t *j;
	int rc;

	rc = get_user_name(c, &name, &len);
	if (rc != 0)
		return rc;
	rc = m->ops->user_get_by_name(m, name, &u);
	if (rc == 0) {
		kdf = u.kdf;
		memcpy(salt, u.kdf_salt, sizeof(salt));
	} else if (rc == -ENOENT) {
		kdf = BLK_KDF_PARAMS_DEFAULT;
		rc = srv_auth_fake_salt(c->api->secret, name, len, salt);
		if (rc < 0)
			goto out;
	} else {
		goto out;
	}
	j = json_object();
	if (!j || api_set(j, "kdf", kdf_json(&kdf)) < 0 ||
	    api_set(j, "salt", api_json_hex(salt, sizeof(salt))) < 0) {
		json_decref(j);
		rc = -ENOMEM;
		goto out;
	}
	rc = api_reply(c, 200, j);
out:
	OPENSSL_cleanse(&u, sizeof(u));
	return rc;
}

int api_login(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t auth_key[BLK_KEY_SIZE], salt[BLK_SALT_SIZE];
	uint8_t hash[SRV_TOKEN_HASH_SIZE], dummy[SRV_AUTH_HASH_SIZE];
	char token[SRV_TOKEN_HEX_SIZE] = "";
	const char *name, *device;
	size_t len, device_len;
	int64_t device_id = 0;
	struct srv_user u;
	json_t *j = NULL;
	int rc;

	memset(&u, 0, sizeof(u));
	rc = get_user_name(c, &name, &len);
	if (rc == 0)
		rc = api_get_hex(c, "auth_key", true, auth_key,
				 sizeof(auth_key));
	if (rc == 0)
		rc = api_get_name(c, "device", &device, &device_len);
	if (rc != 0)
		goto out;
	rc = m->ops->user_get_by_name(m, name, &u);
	if (rc == -ENOENT) {
		/* Pay for the hash anyway: no user enumeration by timing. */
		rc = srv_auth_fake_salt(c->api->secret, name, len, salt);
		if (rc == 0)
			rc = srv_auth_key_hash(auth_key, salt, dummy);
		if (rc == 0)
			rc = -EACCES;
	} else if (rc == 0) {
		rc = srv_auth_key_verify(auth_key, u.auth_salt, u.auth_hash);
	}
	if (rc == -EACCES) {
		rc = api_fail(c, -EKEYREJECTED, "wrong user name or password");
		goto out;
	}
	if (rc < 0)
		goto out;
	rc = m->ops->device_create(m, u.id, device, &device_id);
	if (rc < 0)
		goto out;
	rc = srv_auth_token_new(token, hash);
	if (rc < 0)
		goto out;
	rc = m->ops->token_create(m, hash, u.id, device_id);
	if (rc < 0)
		goto out;
	j = json_object();
	if (!j || api_set(j, "token", json_string(token)) < 0 ||
	    api_set(j, "device_id", json_integer(device_id)) < 0 ||
	    api_set(j, "user_id", json_integer(u.id)) < 0 ||
	    api_set(j, "root", api_json_hex(srv_root_id, SRV_NODE_ID_SIZE)) <
		    0 ||
	    api_set(j, "chunk", chunk_json(&u)) < 0 ||
	    api_set(j, "codec", json_string(api_codec_name(u.codec))) < 0 ||
	    api_set(j, "cursor", api_json_u64(u.seq)) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	rc = api_reply(c, 200, j);
	j = NULL;
	cf_info("user %lld logged in as device %lld from %s", (long long)u.id,
		(long long)device_id, c->req->remote ? c->req->remote : "-");
out:
	json_decref(j);
	OPENSSL_cleanse(auth_key, sizeof(auth_key));
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(hash, sizeof(hash));
	OPENSSL_cleanse(&u, sizeof(u));
	return rc;
}

int api_logout(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	int rc;

	rc = m->ops->token_delete(m, c->token_hash);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	return api_reply_empty(c, 204);
}

int api_account(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	struct srv_usage usage;
	struct srv_user u;
	json_t *j;
	int rc;

	rc = m->ops->user_get(m, c->who.user_id, &u);
	if (rc == 0)
		rc = m->ops->usage(m, c->who.user_id, &usage);
	if (rc < 0)
		goto out;
	j = json_object();
	if (!j || api_set(j, "user", json_string(u.name)) < 0 ||
	    api_set(j, "user_id", json_integer(u.id)) < 0 ||
	    api_set(j, "device_id", json_integer(c->who.device_id)) < 0 ||
	    api_set(j, "usage", api_json_u64(usage.bytes)) < 0 ||
	    api_set(j, "quota", api_json_u64(usage.quota)) < 0 ||
	    api_set(j, "blocks", api_json_u64(usage.blocks)) < 0 ||
	    api_set(j, "files", api_json_u64(usage.files)) < 0 ||
	    api_set(j, "cursor", api_json_u64(u.seq)) < 0 ||
	    api_set(j, "chunk", chunk_json(&u)) < 0 ||
	    api_set(j, "codec", json_string(api_codec_name(u.codec))) < 0 ||
	    api_set(j, "max_file_size",
		    api_json_u64(c->api->deps.config->max_file_size)) < 0) {
		json_decref(j);
		rc = -ENOMEM;
		goto out;
	}
	rc = api_reply(c, 200, j);
out:
	OPENSSL_cleanse(&u, sizeof(u));
	return rc;
}

int api_key_get(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t key[SRV_WRAPPED_KEY_MAX];
	size_t len = 0;
	json_t *j;
	int rc;

	rc = m->ops->key_get(m, c->who.user_id, key, sizeof(key), &len);
	if (rc == -ENOENT)
		return api_fail(c, rc, "no wrapped key is stored");
	if (rc < 0)
		return rc;
	j = json_object();
	if (!j || api_set(j, "wrapped_key", api_json_hex(key, len)) < 0) {
		json_decref(j);
		return -ENOMEM;
	}
	return api_reply(c, 200, j);
}

int api_key_put(struct api_call *c)
{
	struct srv_meta *m = c->api->deps.meta;
	uint8_t key[SRV_WRAPPED_KEY_MAX];
	bool replace = false;
	const char *hex;
	size_t len;
	int rc;

	rc = api_get_string(c, "wrapped_key", true, &hex, &len);
	if (rc != 0)
		return rc;
	if (len == 0 || len % 2 || len > 2 * sizeof(key))
		return api_fail(c, -EINVAL,
				"field 'wrapped_key' must be 2 to %zu hex "
				"digits",
				2 * sizeof(key));
	rc = api_get_hex(c, "wrapped_key", true, key, len / 2);
	if (rc == 0)
		rc = api_get_bool(c, "replace", &replace);
	if (rc < 0)
		return rc;
	rc = m->ops->key_put(m, c->who.user_id, key, len / 2, replace);
	if (rc == -EEXIST)
		return api_fail(c, rc,
				"a wrapped key is stored already; set "
				"\"replace\": true to overwrite it");
	if (rc < 0)
		return rc;
	return api_reply_empty(c, 204);
}
