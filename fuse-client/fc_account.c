/* SPDX-License-Identifier: MIT */
/*
 * State directory files and the login flow (see fc_account.h). Secrets
 * live in stack buffers that are wiped on every path out; files are
 * written with cf_file_write_durable so a crash leaves the old file or the
 * new one, never half of one.
 */
#include "fc_account.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define CF_LOG_SUBSYS "account"
#include "blk/keys.h"
#include "cf_file.h"
#include "cf_log.h"
#include "cf_path.h"
#include "fc_state.h"

#define ACCOUNT_JSON_MAX (64u * 1024)

void fc_account_release(struct fc_account *a)
{
	if (!a)
		return;
	free(a->server);
	free(a->user);
	free(a->device);
	memset(a, 0, sizeof(*a));
}

/* ----- default directories ----- */

static const char *home_dir(char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	const char *home = getenv("HOME");

	if (home && *home)
		return home;
	if (getuid() == 0)
		return NULL;
	if (getpwuid_r(getuid(), &pw, buf, size, &res) || !res ||
	    !res->pw_dir || !*res->pw_dir)
		return NULL;
	return res->pw_dir;
}

static int default_dir(struct cf_buf *out, const char *xdg_var,
		       const char *home_rel, const char *root_dir)
{
	const char *xdg = getenv(xdg_var), *home;
	char pwbuf[4096];
	int rc;

	if (xdg && *xdg == '/')
		return cf_path_join(out, xdg, "cloudfs");
	home = home_dir(pwbuf, sizeof(pwbuf));
	if (home) {
		rc = cf_path_join(out, home, home_rel);
		if (rc == 0)
			rc = cf_buf_appends(out, "/cloudfs");
		return rc;
	}
	if (getuid() == 0)
		return cf_buf_appends(out, root_dir);
	return -ENOENT;
}

int fc_account_default_state_dir(struct cf_buf *out)
{
	return default_dir(out, "XDG_STATE_HOME", ".local/state",
			   "/var/lib/cloudfs");
}

int fc_account_default_cache_dir(struct cf_buf *out)
{
	return default_dir(out, "XDG_CACHE_HOME", ".cache",
			   "/var/cache/cloudfs");
}

/* ----- files ----- */

static int dir_open(const char *dir, bool create, int *out_fd)
{
	int fd, rc;

	*out_fd = -1;
	if (create) {
		rc = cf_mkdir_p(dir, 0700);
		if (rc < 0)
			return rc;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*out_fd = fd;
	return 0;
}

static int file_read(const char *dir, const char *name, struct cf_buf *out)
{
	int fd, rc;

	rc = dir_open(dir, false, &fd);
	if (rc < 0)
		return rc;
	rc = cf_file_read_all(fd, name, out);
	close(fd);
	return rc;
}

static int file_write(const char *dir, const char *name, const void *data,
		      size_t size)
{
	int fd, rc;

	rc = dir_open(dir, true, &fd);
	if (rc < 0)
		return rc;
	rc = cf_file_write_durable(fd, name, data, size, 0600, 0);
	close(fd);
	return rc;
}

static char *jstrdup(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? strdup(s) : NULL;
}

static int jint(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return -EPROTO;
	*out = json_integer_value(v);
	return 0;
}

int fc_account_load(const char *dir, struct fc_account *out)
{
	struct cf_buf b;
	json_t *j = NULL, *ch, *root;
	int64_t v[3];
	int64_t codec;
	int rc;

	memset(out, 0, sizeof(*out));
	cf_buf_init(&b, ACCOUNT_JSON_MAX);
	rc = file_read(dir, FC_ACCOUNT_FILE, &b);
	if (rc < 0)
		goto out;
	j = json_loadb(b.data, b.len, 0, NULL);
	rc = -EPROTO;
	if (!json_is_object(j))
		goto out;
	out->server = jstrdup(j, "server");
	out->user = jstrdup(j, "user");
	out->device = jstrdup(j, "device");
	if (!out->server || !out->user || !out->device)
		goto out;
	ch = json_object_get(j, "chunk");
	root = json_object_get(j, "root");
	if (jint(j, "user_id", &out->user_id) ||
	    jint(j, "device_id", &out->device_id) || jint(j, "codec", &codec) ||
	    jint(ch, "min", &v[0]) || jint(ch, "avg", &v[1]) ||
	    jint(ch, "max", &v[2]) || !json_is_string(root) ||
	    fc_id_from_hex(json_string_value(root), json_string_length(root),
			   out->root) < 0)
		goto out;
	if (v[0] < 0 || v[0] > UINT32_MAX || v[1] < 0 || v[1] > UINT32_MAX ||
	    v[2] < 0 || v[2] > UINT32_MAX ||
	    (codec != BLK_CODEC_ZSTD && codec != BLK_CODEC_ZLIB))
		goto out;
	out->chunk.min_size = (uint32_t)v[0];
	out->chunk.avg_size = (uint32_t)v[1];
	out->chunk.max_size = (uint32_t)v[2];
	out->codec = (int)codec;
	if (blk_chunker_params_check(&out->chunk) < 0)
		goto out;
	rc = 0;
out:
	if (rc == -EPROTO)
		cf_err("%s/%s is malformed", dir, FC_ACCOUNT_FILE);
	if (rc < 0)
		fc_account_release(out);
	json_decref(j);
	cf_buf_release(&b);
	return rc;
}

int fc_account_save(const char *dir, const struct fc_account *a)
{
	char root[FC_ID_HEX_SIZE];
	json_t *j;
	char *text = NULL;
	int rc = -ENOMEM;

	fc_id_to_hex(a->root, root);
	j = json_pack(
		"{ss ss ss sI sI ss s{sI sI sI} sI}", "server", a->server,
		"user", a->user, "device", a->device, "user_id",
		(json_int_t)a->user_id, "device_id", (json_int_t)a->device_id,
		"root", root, "chunk", "min", (json_int_t)a->chunk.min_size,
		"avg", (json_int_t)a->chunk.avg_size, "max",
		(json_int_t)a->chunk.max_size, "codec", (json_int_t)a->codec);
	if (!j)
		goto out;
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		goto out;
	rc = file_write(dir, FC_ACCOUNT_FILE, text, strlen(text));
out:
	free(text);
	json_decref(j);
	return rc;
}

int fc_account_token_load(const char *dir, char out[FC_TOKEN_HEX_SIZE])
{
	struct cf_buf b;
	size_t len;
	int rc;

	cf_buf_init(&b, 256);
	rc = file_read(dir, FC_TOKEN_FILE, &b);
	if (rc < 0)
		goto out;
	len = b.len;
	while (len && (b.data[len - 1] == '\n' || b.data[len - 1] == '\r'))
		len--;
	if (len != FC_TOKEN_HEX_SIZE - 1) {
		rc = -EPROTO;
		goto out;
	}
	memcpy(out, b.data, len);
	out[len] = '\0';
out:
	if (b.cap)
		OPENSSL_cleanse(b.data, b.cap);
	cf_buf_release(&b);
	return rc;
}

int fc_account_key_load(const char *dir, uint8_t out[BLK_KEY_SIZE])
{
	struct cf_buf b;
	int rc;

	cf_buf_init(&b, 256);
	rc = file_read(dir, FC_KEY_FILE, &b);
	if (rc == 0 && b.len != BLK_KEY_SIZE)
		rc = -EPROTO;
	if (rc == 0)
		memcpy(out, b.data, BLK_KEY_SIZE);
	if (b.cap)
		OPENSSL_cleanse(b.data, b.cap);
	cf_buf_release(&b);
	return rc;
}

int fc_account_remote(const char *dir, const struct fc_account *a,
		      struct fc_remote **out)
{
	struct fc_remote_opts o = { 0 };
	char token[FC_TOKEN_HEX_SIZE];
	struct fc_remote *r = NULL;
	int rc;

	*out = NULL;
	rc = fc_account_token_load(dir, token);
	if (rc < 0)
		goto out;
	o.base_url = a->server;
	rc = fc_remote_new(&o, &r);
	if (rc < 0)
		goto out;
	rc = fc_remote_set_token(r, token);
	if (rc < 0)
		goto out;
	*out = r;
	r = NULL;
out:
	OPENSSL_cleanse(token, sizeof(token));
	fc_remote_free(r);
	return rc;
}

/* ----- login ----- */

/* Secrets of one login, wiped together. */
struct secrets {
	uint8_t master[BLK_KEY_SIZE];
	uint8_t auth[BLK_KEY_SIZE];
	uint8_t kek[BLK_KEY_SIZE];
	uint8_t vk[BLK_KEY_SIZE];
	struct fc_login lg;
	char token_line[FC_TOKEN_HEX_SIZE + 1];
};

/* Get the volume key: unwrap the stored one, or make and store one. */
static int volume_key(struct fc_remote *r, struct secrets *s, const char **msg)
{
	uint8_t wrapped[BLK_WRAPPED_KEY_SIZE];
	int rc, tries;

	for (tries = 0; tries < 2; tries++) {
		rc = fc_remote_key_get(r, wrapped);
		if (rc == 0) {
			rc = blk_volume_key_unwrap(s->kek, wrapped,
						   sizeof(wrapped), s->vk);
			if (rc == -EKEYREJECTED)
				*msg = "the password does not unlock this "
				       "account's volume key (was it changed "
				       "on another device?)";
			else if (rc < 0)
				*msg = "the server's wrapped volume key is "
				       "malformed or of an unknown version";
			return rc;
		}
		if (rc != -ENOENT) {
			*msg = "cannot fetch the account's volume key";
			return rc;
		}
		/* first login of this account: make the volume key */
		rc = blk_volume_key_generate(s->vk);
		if (rc == 0)
			rc = blk_volume_key_wrap(s->kek, s->vk, wrapped);
		if (rc < 0) {
			*msg = "cannot generate a volume key";
			return rc;
		}
		rc = fc_remote_key_put(r, wrapped, false);
		if (rc != -EEXIST) {
			if (rc < 0)
				*msg = "cannot store the new volume key";
			else
				cf_info("created the account's volume key");
			return rc;
		}
		/* another device stored one first: use theirs */
		blk_keys_wipe(s->vk, sizeof(s->vk));
	}
	*msg = "the volume key keeps changing on the server";
	return -EPROTO;
}

/* Refuse to reuse a state directory that belongs to another account. */
static int check_same_account(const char *dir, const char *server,
			      const char *user, const char **msg)
{
	struct fc_account old;
	int rc = fc_account_load(dir, &old);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		*msg = "the state directory holds an unreadable account.json";
		return rc;
	}
	if (strcmp(old.server, server) || strcmp(old.user, user)) {
		*msg = "the state directory belongs to another account: use "
		       "--state-dir for a second one";
		rc = -EEXIST;
	}
	fc_account_release(&old);
	return rc;
}

int fc_account_login(const struct fc_login_req *req, struct fc_account *out,
		     const char **out_msg)
{
	struct fc_remote_opts ro = { 0 };
	struct fc_remote *r = NULL;
	struct fc_account acct = { 0 };
	struct fc_prelogin pre;
	struct secrets *s = NULL;
	const char *msg = NULL;
	char host[256];
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!req->dir || !req->server || !req->user || !req->password) {
		rc = -EINVAL;
		msg = "missing state directory, server, user or password";
		goto out;
	}
	rc = check_same_account(req->dir, req->server, req->user, &msg);
	if (rc < 0)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	ro.base_url = req->server;
	ro.timeout_ms = req->timeout_ms;
	rc = fc_remote_new(&ro, &r);
	if (rc < 0) {
		msg = rc == -EINVAL
			      ? "the server URL is not a valid http(s) URL"
			      : NULL;
		goto out;
	}
	rc = fc_remote_prelogin(r, req->user, &pre);
	if (rc == -ENOENT || rc == -EACCES) {
		rc = -EACCES;
		msg = "wrong user name or password";
		goto out;
	}
	if (rc < 0) {
		msg = "cannot reach the server";
		goto out;
	}
	rc = blk_kdf_params_check(&pre.kdf);
	if (rc < 0) {
		msg = "the server asks for key derivation parameters this "
		      "client refuses";
		rc = -EINVAL;
		goto out;
	}
	rc = blk_kdf_master(req->password, req->pw_len, pre.salt, &pre.kdf,
			    s->master);
	if (rc == 0)
		rc = blk_keys_auth_key(s->master, s->auth);
	if (rc == 0)
		rc = blk_keys_kek(s->master, s->kek);
	if (rc < 0) {
		msg = "key derivation failed";
		goto out;
	}
	if (req->device && *req->device) {
		acct.device = strdup(req->device);
	} else {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			snprintf(host, sizeof(host), "device");
		host[sizeof(host) - 1] = '\0';
		acct.device = strdup(host);
	}
	if (!acct.device) {
		rc = -ENOMEM;
		goto out;
	}
	rc = fc_remote_login(r, req->user, s->auth, acct.device, &s->lg);
	if (rc == -EACCES || rc == -ENOENT) {
		rc = -EACCES;
		msg = "wrong user name or password";
		goto out;
	}
	if (rc < 0) {
		msg = "login failed";
		goto out;
	}
	rc = volume_key(r, s, &msg);
	if (rc < 0)
		goto out;

	acct.server = strdup(req->server);
	acct.user = strdup(req->user);
	if (!acct.server || !acct.user) {
		rc = -ENOMEM;
		goto out;
	}
	acct.user_id = s->lg.user_id;
	acct.device_id = s->lg.device_id;
	memcpy(acct.root, s->lg.root, sizeof(acct.root));
	acct.chunk = s->lg.chunk;
	acct.codec = s->lg.codec;

	/* key and token first: account.json last marks a complete login */
	msg = "cannot write the state directory";
	rc = file_write(req->dir, FC_KEY_FILE, s->vk, sizeof(s->vk));
	if (rc < 0)
		goto out;
	snprintf(s->token_line, sizeof(s->token_line), "%s\n", s->lg.token);
	rc = file_write(req->dir, FC_TOKEN_FILE, s->token_line,
			strlen(s->token_line));
	if (rc < 0)
		goto out;
	rc = fc_account_save(req->dir, &acct);
	if (rc < 0)
		goto out;
	msg = NULL;
	if (out) {
		*out = acct;
		memset(&acct, 0, sizeof(acct));
	}
out:
	if (s) {
		blk_keys_wipe(s, sizeof(*s));
		free(s);
	}
	fc_account_release(&acct);
	fc_remote_free(r);
	if (out_msg)
		*out_msg = msg ? msg : rc < 0 ? "login failed" : "logged in";
	return rc;
}
