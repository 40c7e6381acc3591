/* SPDX-License-Identifier: MIT */
/*
 * fc_fs, mount options: ours (cache_size=, debounce=, max_read=, threads=,
 * entry_timeout=, attr_timeout=, [no_]writeback, [no_]splice_read,
 * [no_]direct_write, allow_other, [no_]default_permissions) parsed with
 * fuse_opt, the rest kept for libfuse. Pure functions on the caller's
 * struct.
 */
#include "fc_fs_int.h"

#include <fuse_opt.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "fs"
#include "cf_log.h"

/* ----- options ----- */

enum {
	KEY_CACHE_SIZE,
	KEY_DEBOUNCE,
	KEY_MAX_READ,
	KEY_THREADS,
	KEY_ENTRY_TIMEOUT,
	KEY_ATTR_TIMEOUT,
	KEY_WRITEBACK,
	KEY_SPLICE_READ,
	KEY_NO_SPLICE_READ,
	KEY_DIRECT_WRITE,
	KEY_NO_DIRECT_WRITE,
	KEY_NO_WRITEBACK,
	KEY_ALLOW_OTHER,
	KEY_NO_DEFAULT_PERMISSIONS,
	KEY_DEFAULT_PERMISSIONS,
};

static const struct fuse_opt opt_specs[] = {
	FUSE_OPT_KEY("cache_size=", KEY_CACHE_SIZE),
	FUSE_OPT_KEY("debounce=", KEY_DEBOUNCE),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_KEY("threads=", KEY_THREADS),
	FUSE_OPT_KEY("entry_timeout=", KEY_ENTRY_TIMEOUT),
	FUSE_OPT_KEY("attr_timeout=", KEY_ATTR_TIMEOUT),
	FUSE_OPT_KEY("writeback", KEY_WRITEBACK),
	FUSE_OPT_KEY("splice_read", KEY_SPLICE_READ),
	FUSE_OPT_KEY("no_splice_read", KEY_NO_SPLICE_READ),
	FUSE_OPT_KEY("direct_write", KEY_DIRECT_WRITE),
	FUSE_OPT_KEY("no_direct_write", KEY_NO_DIRECT_WRITE),
	FUSE_OPT_KEY("writeback_cache", KEY_WRITEBACK),
	FUSE_OPT_KEY("no_writeback", KEY_NO_WRITEBACK),
	FUSE_OPT_KEY("no_writeback_cache", KEY_NO_WRITEBACK),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("no_default_permissions", KEY_NO_DEFAULT_PERMISSIONS),
	FUSE_OPT_END
};

/* "10G", "512M", "4096": bytes, with K/M/G/T binary suffixes. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno == ERANGE || end == s || *end || *out < 0)
		return -EINVAL;
	return 0;
}

struct opt_ctx {
	struct fc_fs_opts *o;
	int rc;
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct opt_ctx *ctx = data;
	struct fc_fs_opts *o = ctx->o;
	const char *val = strchr(arg, '=');
	uint64_t v = 0;
	int rc = 0;

	(void)outargs;
	val = val ? val + 1 : "";
	switch (key) {
	case KEY_CACHE_SIZE:
		rc = parse_size(val, &o->cache_size);
		break;
	case KEY_DEBOUNCE:
		rc = parse_size(val, &v);
		if (rc == 0 && v > 3600000)
			rc = -EINVAL;
		o->debounce_ms = (uint32_t)v;
		break;
	case KEY_MAX_READ:
		rc = parse_size(val, &v);
		if (rc == 0 && (v < 4096 || v > (1u << 20)))
			rc = -EINVAL;
		o->max_read = (uint32_t)v;
		break;
	case KEY_THREADS:
		rc = parse_size(val, &v);
		if (rc == 0 && (v < 1 || v > 256))
			rc = -EINVAL;
		o->max_threads = (uint32_t)v;
		break;
	case KEY_ENTRY_TIMEOUT:
		rc = parse_double(val, &o->entry_timeout);
		break;
	case KEY_ATTR_TIMEOUT:
		rc = parse_double(val, &o->attr_timeout);
		break;
	case KEY_WRITEBACK:
		o->writeback = true;
		return 0;
	case KEY_NO_WRITEBACK:
		o->writeback = false;
		return 0;
	case KEY_SPLICE_READ:
		o->splice_read = true;
		return 0;
	case KEY_NO_SPLICE_READ:
		o->splice_read = false;
		return 0;
	case KEY_DIRECT_WRITE:
		o->direct_write = true;
		return 0;
	case KEY_NO_DIRECT_WRITE:
		o->direct_write = false;
		return 0;
	case KEY_ALLOW_OTHER:
		o->allow_other = true;
		return 0;
	case KEY_DEFAULT_PERMISSIONS:
		o->default_permissions = true;
		return 0;
	case KEY_NO_DEFAULT_PERMISSIONS:
		o->default_permissions = false;
		return 0;
	default:
		return 1; /* not ours: keep it for libfuse */
	}
	if (rc < 0) {
		cf_err("bad mount option %s", arg);
		ctx->rc = rc;
		return -1;
	}
	return 0;
}

void fc_fs_opts_init(struct fc_fs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->debounce_ms = 2000;
	o->max_read = 1u << 20;
	o->max_threads = 16;
	o->entry_timeout = 86400;
	o->attr_timeout = 86400;
	o->writeback = true;
	o->splice_read = true;
	o->direct_write = true;
	o->default_permissions = true;
}

void fc_fs_opts_release(struct fc_fs_opts *o)
{
	free(o->fuse_opts);
	o->fuse_opts = NULL;
}

int fc_fs_opts_parse(struct fc_fs_opts *o, const char *optstr)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct opt_ctx ctx = { o, 0 };
	struct cf_buf b;
	int rc = 0, i;

	if (!optstr || !*optstr)
		return 0;
	if (fuse_opt_add_arg(&args, "cloudfs") < 0 ||
	    fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, optstr) < 0) {
		fuse_opt_free_args(&args);
		return -ENOMEM;
	}
	if (fuse_opt_parse(&args, &ctx, opt_specs, opt_proc) < 0) {
		fuse_opt_free_args(&args);
		return ctx.rc ? ctx.rc : -EINVAL;
	}
	/* What is left: "cloudfs" ["-o" "a,b"]... */
	cf_buf_init(&b, 1 << 16);
	if (o->fuse_opts)
		rc = cf_buf_appends(&b, o->fuse_opts);
	for (i = 1; rc == 0 && i < args.argc; i++) {
		if (!strcmp(args.argv[i], "-o"))
			continue;
		if (b.len)
			rc = cf_buf_appends(&b, ",");
		if (rc == 0)
			rc = cf_buf_appends(&b, args.argv[i]);
	}
	fuse_opt_free_args(&args);
	if (rc == 0 && b.len) {
		free(o->fuse_opts);
		o->fuse_opts = cf_buf_detach(&b, NULL);
		if (!o->fuse_opts)
			rc = -ENOMEM;
	}
	cf_buf_release(&b);
	return rc;
}
