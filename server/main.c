/* SPDX-License-Identifier: MIT */
/*
 * cloudfsd: parse the command line, build the configuration (defaults,
 * then the config file, then options in the order given), set up logging
 * and run one command: `serve`, or an admin command handed to srv_admin.
 * Options that name configuration keys are accepted anywhere on the line,
 * before or after the command, so `cloudfsd --data D user list` and
 * `cloudfsd user list --data D` mean the same.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cf_log.h"
#include "srv_admin.h"
#include "srv_config.h"
#include "srv_server.h"

#ifndef CLOUDFS_VERSION
# define CLOUDFS_VERSION "0.1.0"
#endif

#define OVERRIDES_MAX 64

static const char usage_text[] =
	"usage: cloudfsd serve [options]\n"
	"       cloudfsd user add NAME [--password-stdin] | user list |\n"
	"                user passwd NAME [--password-stdin]\n"
	"       cloudfsd device list USER | device revoke ID\n"
	"       cloudfsd gc | scrub | fsck\n"
	"       cloudfsd --version | help\n"
	"\n"
	"options (any command):\n"
	"  --config FILE          config file (default " SRV_CONFIG_DEFAULT_PATH
	")\n"
	"  --data DIR             data directory (meta.db, blocks/)\n"
	"  --listen ADDR:PORT     listen address, e.g. 127.0.0.1:8443\n"
	"  --tls-cert FILE        PEM certificate chain (with --tls-key)\n"
	"  --tls-key FILE         PEM private key\n"
	"  --insecure             allow plain HTTP on a non-loopback address\n"
	"  --set KEY=VALUE        set any config key (repeatable)\n"
	"  --debug[=SUBSYS,...]   debug logging for subsystems, or all\n"
	"  -v                     verbose (debug level for everything)\n";

/* A config key set on the command line; applied after the file. */
struct override {
	const char *key;
	const char *value; /* borrowed from argv */
	char *owned; /* for --set: "key\0value" copy */
};

struct cmdline {
	const char *config_path;
	struct override ov[OVERRIDES_MAX];
	int ov_count;
	const char *debug;
	int verbose;
	char **rest; /* command words and its own options */
	int rest_count;
};

static int add_override(struct cmdline *cl, const char *key, const char *value)
{
	if (cl->ov_count >= OVERRIDES_MAX) {
		fprintf(stderr, "cloudfsd: too many options\n");
		return -E2BIG;
	}
	cl->ov[cl->ov_count].key = key;
	cl->ov[cl->ov_count].value = value;
	cl->ov_count++;
	return 0;
}

static int add_set(struct cmdline *cl, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *copy;
	int rc;

	if (!eq || eq == kv) {
		fprintf(stderr, "cloudfsd: --set needs KEY=VALUE, got '%s'\n",
			kv);
		return -EINVAL;
	}
	copy = strdup(kv);
	if (!copy)
		return -ENOMEM;
	copy[eq - kv] = '\0';
	rc = add_override(cl, copy, copy + (eq - kv) + 1);
	if (rc < 0) {
		free(copy);
		return rc;
	}
	cl->ov[cl->ov_count - 1].owned = copy;
	return 0;
}

/* Options taking a value, and the config key each one sets. */
static const struct {
	const char *opt;
	const char *key; /* NULL: handled specially */
} value_opts[] = {
	{ "--config", NULL },	    { "--data", "data_dir" },
	{ "--listen", "listen" },   { "--tls-cert", "tls_cert" },
	{ "--tls-key", "tls_key" }, { "--set", NULL },
};

/* 1 when arg is value option i ("--x V" or "--x=V"); *value set. */
static int match_value_opt(char **argv, int argc, int *i, size_t o,
			   const char **value)
{
	size_t n = strlen(value_opts[o].opt);
	const char *arg = argv[*i];

	if (strncmp(arg, value_opts[o].opt, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*value = arg + n + 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "cloudfsd: %s needs a value\n", arg);
		return -EINVAL;
	}
	*value = argv[++*i];
	return 1;
}

static int parse_args(int argc, char **argv, struct cmdline *cl)
{
	const char *value;
	bool literal = false;
	size_t o;
	int i, m, rc;

	cl->rest = calloc((size_t)argc + 1, sizeof(*cl->rest));
	if (!cl->rest)
		return -ENOMEM;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (literal || arg[0] != '-') {
			cl->rest[cl->rest_count++] = argv[i];
			continue;
		}
		if (!strcmp(arg, "--")) {
			literal = true;
			continue;
		}
		if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) {
			cl->verbose++;
			continue;
		}
		if (!strcmp(arg, "--insecure")) {
			rc = add_override(cl, "insecure", "yes");
			if (rc < 0)
				return rc;
			continue;
		}
		if (!strcmp(arg, "--debug") || !strncmp(arg, "--debug=", 8)) {
			cl->debug = arg[7] == '=' ? arg + 8 : "all";
			continue;
		}
		for (o = 0, m = 0; o < sizeof(value_opts) / sizeof(*value_opts);
		     o++) {
			m = match_value_opt(argv, argc, &i, o, &value);
			if (m)
				break;
		}
		if (m < 0)
			return m;
		if (m == 0) {
			/* not ours: the command's own option */
			cl->rest[cl->rest_count++] = argv[i];
			continue;
		}
		if (!strcmp(value_opts[o].opt, "--config"))
			cl->config_path = value;
		else if (!strcmp(value_opts[o].opt, "--set"))
			rc = add_set(cl, value);
		else
			rc = add_override(cl, value_opts[o].key, value);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int build_config(const struct cmdline *cl, struct srv_config *cfg)
{
	int rc, i;

	rc = srv_config_init(cfg);
	if (rc < 0)
		return rc;
	if (cl->config_path)
		rc = srv_config_load(cfg, cl->config_path, false);
	else
		rc = srv_config_load(cfg, SRV_CONFIG_DEFAULT_PATH, true);
	if (rc < 0) {
		fprintf(stderr, "cloudfsd: bad configuration file %s\n",
			cl->config_path ? cl->config_path
					: SRV_CONFIG_DEFAULT_PATH);
		srv_config_release(cfg);
		return rc;
	}
	for (i = 0; i < cl->ov_count && rc == 0; i++) {
		rc = srv_config_set(cfg, cl->ov[i].key, cl->ov[i].value);
		if (rc < 0)
			fprintf(stderr, "cloudfsd: bad value for %s: '%s'\n",
				cl->ov[i].key, cl->ov[i].value);
	}
	if (rc < 0)
		srv_config_release(cfg);
	return rc;
}

static void free_cmdline(struct cmdline *cl)
{
	int i;

	for (i = 0; i < cl->ov_count; i++)
		free(cl->ov[i].owned);
	free(cl->rest);
}

static int run_command(struct srv_config *cfg, int argc, char **argv)
{
	int rc;

	if (!strcmp(argv[0], "serve")) {
		if (argc > 1) {
			fprintf(stderr, "cloudfsd: serve: unexpected '%s'\n",
				argv[1]);
			return 2;
		}
		return srv_server_run(cfg) < 0 ? 1 : 0;
	}
	rc = srv_admin_run(cfg, argc, argv);
	return rc < 0 ? 1 : rc;
}

int main(int argc, char **argv)
{
	struct cmdline cl;
	struct srv_config cfg;
	bool have_cfg = false;
	int status = 1;

	memset(&cl, 0, sizeof(cl));
	if (argc >= 2 &&
	    (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
		printf("cloudfsd %s\n", CLOUDFS_VERSION);
		return 0;
	}
	if (argc >= 2 &&
	    (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	     !strcmp(argv[1], "-h"))) {
		fputs(usage_text, stdout);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	cf_log_setup("cloudfsd", LOG_INFO, NULL);
	if (parse_args(argc, argv, &cl) < 0) {
		status = 2;
		goto out;
	}
	if (cl.rest_count == 0) {
		fputs(usage_text, stderr);
		status = 2;
		goto out;
	}
	if (build_config(&cl, &cfg) < 0) {
		status = 2;
		goto out;
	}
	have_cfg = true;
	if (cl.debug) {
		if (srv_config_set(&cfg, "debug", cl.debug) < 0)
			goto out;
	}
	if (cl.verbose)
		cfg.log_level = LOG_DEBUG;
	cf_log_setup("cloudfsd", cfg.log_level, cfg.log_debug);
	status = run_command(&cfg, cl.rest_count, cl.rest);
out:
	if (have_cfg)
		srv_config_release(&cfg);
	free_cmdline(&cl);
	return status;
}
