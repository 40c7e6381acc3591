/* SPDX-License-Identifier: MIT */
/*
 * cloudfs: the command line. Parses the command and its options with
 * getopt_long into struct fc_cli_args, sets up logging and runs the
 * command's body in fc_cli.c; the only place that decides the exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cf_log.h"
#include "fc_cli.h"
#include "fc_fs.h"

static const char usage[] =
	"usage: cloudfs COMMAND [OPTIONS]\n"
	"\n"
	"  login --server URL --user NAME [--password-file F] [--device NAME]\n"
	"        [--state-dir D]\n"
	"  mount MOUNTPOINT [--state-dir D] [--cache-dir D] [-f] [-o OPTS]\n"
	"        [--uploaders N (upload threads, default 4)]\n"
	"  status [MOUNTPOINT]\n"
	"  sync [MOUNTPOINT] [--timeout S]\n"
	"  versions PATH [--state-dir D]\n"
	"  restore PATH [--version N] [--state-dir D]\n"
	"  pin PATH | unpin PATH\n"
	"\n"
	"common options: --debug=CATS (e.g. upload,push or all), -v, -h\n"
	"mount -o options: cache_size=BYTES, debounce=MS, max_read=BYTES,\n"
	"  threads=N, entry_timeout=S, attr_timeout=S, [no_]writeback,\n"
	"  [no_]splice_read, [no_]direct_write, [no_]default_permissions,\n"
	"  allow_other, and the usual FUSE options\n";

enum {
	OPT_SERVER = 256,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_DEVICE,
	OPT_STATE_DIR,
	OPT_CACHE_DIR,
	OPT_TIMEOUT,
	OPT_VERSION,
	OPT_DEBUG,
	OPT_UPLOADERS,
};

static const struct option long_opts[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "version", required_argument, NULL, OPT_VERSION },
	{ "debug", optional_argument, NULL, OPT_DEBUG },
	{ "uploaders", required_argument, NULL, OPT_UPLOADERS },
	{ "foreground", no_argument, NULL, 'f' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Parse a non-negative decimal number: 0 or -EINVAL. */
static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || end == s || *end || *s == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

struct cmdline {
	struct fc_cli_args a;
	struct fc_fs_opts fs;
	const char *cmd;
	const char *debug;
	int level;
};

/* 0, or the exit status for a usage error. */
static int parse(int argc, char **argv, struct cmdline *c)
{
	uint64_t v;
	int opt;

	if (argc < 2)
		return 2;
	c->cmd = argv[1];
	if (!strcmp(c->cmd, "-h") || !strcmp(c->cmd, "--help") ||
	    !strcmp(c->cmd, "help"))
		return 3;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "fo:vh", long_opts, NULL)) !=
	       -1) {
		switch (opt) {
		case OPT_SERVER:
			c->a.server = optarg;
			break;
		case OPT_USER:
			c->a.user = optarg;
			break;
		case OPT_PASSWORD_FILE:
			c->a.password_file = optarg;
			break;
		case OPT_DEVICE:
			c->a.device = optarg;
			break;
		case OPT_STATE_DIR:
			c->a.state_dir = optarg;
			break;
		case OPT_CACHE_DIR:
			c->a.cache_dir = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_num(optarg, 1000000000, &v) < 0)
				goto bad;
			c->a.timeout_s = (long)v;
			break;
		case OPT_VERSION:
			if (parse_num(optarg, UINT64_MAX, &v) < 0 || !v)
				goto bad;
			c->a.version = v;
			break;
		case OPT_UPLOADERS:
			if (parse_num(optarg, 64, &v) < 0 || !v)
				goto bad;
			c->a.upload_threads = (unsigned)v;
			break;
		case OPT_DEBUG:
			c->debug = optarg ? optarg : "all";
			break;
		case 'f':
			c->fs.foreground = true;
			break;
		case 'o':
			if (fc_fs_opts_parse(&c->fs, optarg) < 0)
				goto bad;
			break;
		case 'v':
			c->level = LOG_DEBUG;
			break;
		case 'h':
			return 3;
		default:
			return 2;
		}
	}
	if (optind < argc)
		c->a.path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "cloudfs: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	c->a.fs = &c->fs;
	return 0;
bad:
	fprintf(stderr, "cloudfs: bad value '%s' for an option\n", optarg);
	return 2;
}

int main(int argc, char **argv)
{
	struct cmdline c;
	const char *cmd;
	int rc;

	memset(&c, 0, sizeof(c));
	c.level = LOG_INFO;
	fc_fs_opts_init(&c.fs);
	rc = parse(argc, argv, &c);
	if (rc == 3) {
		fputs(usage, stdout);
		rc = 0;
		goto out;
	}
	if (rc) {
		fputs(usage, stderr);
		goto out;
	}
	cf_log_setup("cloudfs", c.level, c.debug);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "cloudfs: cannot initialise libcurl\n");
		rc = 1;
		goto out;
	}
	cmd = c.cmd;
	if (!strcmp(cmd, "login"))
		rc = fc_cli_login(&c.a);
	else if (!strcmp(cmd, "mount"))
		rc = fc_cli_mount(&c.a);
	else if (!strcmp(cmd, "status"))
		rc = fc_cli_status(&c.a);
	else if (!strcmp(cmd, "sync"))
		rc = fc_cli_sync(&c.a);
	else if (!strcmp(cmd, "versions"))
		rc = fc_cli_versions(&c.a);
	else if (!strcmp(cmd, "restore"))
		rc = fc_cli_restore(&c.a);
	else if (!strcmp(cmd, "pin"))
		rc = fc_cli_pin(&c.a, true);
	else if (!strcmp(cmd, "unpin"))
		rc = fc_cli_pin(&c.a, false);
	else {
		fprintf(stderr, "cloudfs: unknown command '%s'\n%s", cmd,
			usage);
		rc = 2;
	}
	curl_global_cleanup();
out:
	fc_fs_opts_release(&c.fs);
	return rc;
}
