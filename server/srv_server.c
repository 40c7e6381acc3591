/* SPDX-License-Identifier: MIT */
/*
 * Server assembly. Order matters: signals are blocked before any thread
 * exists (SQLite's writer, the workers), so only the watcher thread ever
 * sees SIGTERM/SIGINT; the transport is created before the API because it
 * owns the notification registry the API publishes to; teardown runs in
 * reverse, the transport first so no request is in flight when the stores
 * close.
 */
#include "srv_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CF_LOG_SUBSYS "server"
#include "cf_buf.h"
#include "cf_file.h"
#include "cf_log.h"
#include "cf_path.h"
#include "srv_api.h"
#include "srv_blocks.h"
#include "srv_config.h"
#include "srv_http.h"
#include "srv_meta.h"
#include "srv_metrics.h"

bool srv_server_is_loopback(const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!strcmp(addr, "localhost"))
		return true;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

static int check_config(const struct srv_config *cfg)
{
	if (!cfg->tls_cert != !cfg->tls_key) {
		cf_err("TLS needs both a certificate (tls_cert) and a key "
		       "(tls_key)");
		return -EINVAL;
	}
	if (!cfg->tls_cert && !cfg->insecure &&
	    !srv_server_is_loopback(cfg->listen_addr)) {
		cf_err("refusing to serve plain HTTP on %s, which is not a "
		       "loopback address: give --tls-cert and --tls-key, or "
		       "--insecure behind a TLS proxy",
		       cfg->listen_addr);
		return -EINVAL;
	}
	return 0;
}

/* SIGTERM/SIGINT arrive here, in a normal thread, never in a handler. */
struct sig_watch {
	pthread_t thread;
	sigset_t set;
	struct srv_http *http; /* borrowed */
	atomic_bool exiting;
};

static void *sig_watch_main(void *arg)
{
	struct sig_watch *w = arg;
	int sig;

	for (;;) {
		if (sigwait(&w->set, &sig) != 0)
			continue;
		if (atomic_load(&w->exiting))
			break;
		cf_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
		srv_http_stop(w->http);
	}
	return NULL;
}

struct stored_count {
	uint64_t blocks, bytes;
};

static int count_stored(void *arg, int64_t user_id, const struct blk_id *id,
			uint64_t size)
{
	struct stored_count *c = arg;

	(void)user_id;
	(void)id;
	c->blocks++;
	c->bytes += size;
	return 0;
}

static int data_path(struct cf_buf *out, const char *dir, const char *name)
{
	cf_buf_reset(out);
	return cf_buf_appendf(out, "%s/%s", dir, name);
}

int srv_server_run(struct srv_config *cfg)
{
	struct srv_metrics *metrics = NULL;
	struct srv_blocks *blocks = NULL;
	struct srv_meta *meta = NULL;
	struct srv_http *http = NULL;
	struct srv_api *api = NULL;
	struct stored_count stored = { 0, 0 };
	struct srv_api_deps deps;
	struct sig_watch watch;
	bool watching = false;
	struct cf_buf path;
	sigset_t old;
	int rc;

	cf_buf_init(&path, CF_PATH_MAX);
	rc = check_config(cfg);
	if (rc < 0)
		return rc;

	memset(&watch, 0, sizeof(watch));
	sigemptyset(&watch.set);
	sigaddset(&watch.set, SIGTERM);
	sigaddset(&watch.set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &watch.set, &old);
	atomic_init(&watch.exiting, false);

	rc = cf_mkdir_p(cfg->data_dir, 0700);
	if (rc < 0) {
		cf_err("cannot create data directory %s: %s", cfg->data_dir,
		       strerror(-rc));
		goto out;
	}
	rc = data_path(&path, cfg->data_dir, "meta.db");
	if (rc < 0)
		goto out_path;
	rc = srv_meta_sqlite_open(path.data, &meta);
	if (rc < 0) {
		cf_err("cannot open metadata store %s: %s", path.data,
		       strerror(-rc));
		goto out;
	}
	rc = data_path(&path, cfg->data_dir, "blocks");
	if (rc < 0)
		goto out_path;
	rc = srv_blocks_local_open(path.data, &blocks);
	if (rc < 0) {
		cf_err("cannot open block store %s: %s", path.data,
		       strerror(-rc));
		goto out;
	}
	rc = srv_metrics_new(&metrics);
	if (rc < 0)
		goto out;
	rc = meta->ops->stored_blocks(meta, count_stored, &stored);
	if (rc < 0) {
		cf_err("cannot count stored blocks: %s", strerror(-rc));
		goto out;
	}
	srv_metrics_set_stored(metrics, stored.blocks, stored.bytes);

	rc = srv_http_new(cfg, metrics, &http);
	if (rc < 0)
		goto out;
	memset(&deps, 0, sizeof(deps));
	deps.meta = meta;
	deps.blocks = blocks;
	deps.notify = srv_http_notify(http);
	deps.metrics = metrics;
	deps.config = cfg;
	rc = srv_api_new(&deps, &api);
	if (rc < 0) {
		cf_err("cannot set up the API: %s", strerror(-rc));
		goto out;
	}

	watch.http = http;
	rc = -pthread_create(&watch.thread, NULL, sig_watch_main, &watch);
	if (rc < 0) {
		cf_err("cannot start the signal thread: %s", strerror(-rc));
		goto out;
	}
	watching = true;
	cf_info("serving %s with %d workers (%llu blocks, %llu bytes stored)",
		cfg->data_dir, cfg->workers, (unsigned long long)stored.blocks,
		(unsigned long long)stored.bytes);
	rc = srv_http_run(http, api);
	goto out;
out_path:
	cf_err("data directory path too long: %s", cfg->data_dir);
out:
	if (watching) {
		atomic_store(&watch.exiting, true);
		pthread_kill(watch.thread, SIGTERM);
		pthread_join(watch.thread, NULL);
	}
	srv_http_free(http);
	srv_api_free(api);
	srv_blocks_free(blocks);
	srv_meta_close(meta);
	srv_metrics_free(metrics);
	cf_buf_release(&path);
	/* a signal that came in during teardown must not kill us now */
	while (sigtimedwait(&watch.set, NULL, &(struct timespec){ 0, 0 }) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
