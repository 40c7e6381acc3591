/* SPDX-License-Identifier: MIT */
/*
 * Change feed puller (see fc_pull.h).
 *
 * The thread is an fc_loop; the counters are atomics.
 */
#include "fc_pull.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CF_LOG_SUBSYS "pull"
#include "cf_log.h"
#include "fc_loop.h"

/*
 * Hints closer together than this share one pull: a device's own burst
 * of commits (each one a "changed" message and a push round) costs a few
 * pulls, not one or two per file, while a lone change still pulls at once.
 */
#define PULL_GAP_NS (200 * 1000000LL)

struct fc_puller {
	struct fc_pull_deps d;
	struct fc_loop loop;
	atomic_bool urgent; /* fc_pull_wake_now: skip the gap */
	int64_t last_ns; /* loop thread only: when its last pull ended */
	atomic_int error;
	atomic_uint_fast64_t begun;  /* pulls begun */
	atomic_uint_fast64_t pulled;  /* the last one that completed */
};

static void no_change(void *arg, int64_t ino, int64_t parent, const char *name,
		      size_t name_len)
{
	(void)arg;
	(void)ino;
	(void)parent;
	(void)name;
	(void)name_len;
}

/* The feed's page in fc_state's terms; arrays owned by the caller. */
static int convert(const struct fc_changes_page *pg,
		   struct fc_remote_node **out_nodes,
		   struct fc_remote_entry **out_entries)
{
	struct fc_remote_node *nodes = NULL;
	struct fc_remote_entry *entries = NULL;
	size_t i;

	*out_nodes = NULL;
	*out_entries = NULL;
	nodes = calloc(pg->node_count + 1, sizeof(*nodes));
	entries = calloc(pg->entry_count + 1, sizeof(*entries));
	if (!nodes || !entries) {
		free(nodes);
		free(entries);
		return -ENOMEM;
	}
	for (i = 0; i < pg->node_count; i++) {
		const struct fc_rnode *s = &pg->nodes[i];
		struct fc_remote_node *d = &nodes[i];

		memcpy(d->id, s->id, FC_ID_SIZE);
		d->kind = fc_kind_from_mode(s->type);
		d->mode = s->mode;
		d->uid = s->uid;
		d->gid = s->gid;
		d->rdev = s->rdev;
		d->size = s->size;
		d->mtime_ns = s->mtime_ns;
		d->ctime_ns = s->ctime_ns;
		d->version = s->version;
		d->deleted = s->deleted;
		d->target = s->target;
		d->target_len = s->target_len;
	}
	for (i = 0; i < pg->entry_count; i++) {
		const struct fc_rentry *s = &pg->entries[i];
		struct fc_remote_entry *d = &entries[i];

		d->id = s->id;
		memcpy(d->parent, s->parent, FC_ID_SIZE);
		memcpy(d->node, s->node, FC_ID_SIZE);
		d->name = s->name;
		d->name_len = s->name_len;
		d->deleted = s->deleted;
	}
	*out_nodes = nodes;
	*out_entries = entries;
	return 0;
}

int fc_pull_once(struct fc_puller *p)
{
	struct fc_changes_page pg = { 0 };
	struct fc_remote_node *nodes = NULL;
	struct fc_remote_entry *entries = NULL;
	struct fc_remote_page page;
	struct fc_account_info acct;
	uint64_t cursor, pending = 0, failed = 0, pushed, ticket, resync = 0;
	size_t pages = 0, removed;
	int rc;

	ticket = atomic_fetch_add(&p->begun, 1) + 1;
	pushed = fc_state_ops_pushed(p->d.state);
	rc = fc_state_op_counts(p->d.state, &pending, &failed);
	if (rc == 0 && pending) {
		rc = -EAGAIN;
		goto out;
	}
	rc = fc_state_cursor_get(p->d.state, &cursor);
	if (rc == 0)
		rc = fc_state_resync_get(p->d.state, &resync);
	if (rc < 0)
		goto out;
	for (;;) {
		rc = fc_remote_changes(p->d.remote, cursor, p->d.page_limit,
				       &pg);
		if (rc == -ERANGE && cursor) {
			/* (again, if the horizon passed a resync's cursor) */
			cf_warn("the server no longer keeps the changes after "
				"cursor %llu: resyncing in full",
				(unsigned long long)cursor);
			fc_changes_page_release(&pg);
			rc = fc_state_resync_begin(p->d.state, &resync);
			if (rc < 0)
				goto out;
			cursor = 0;
			continue;
		}
		if (rc < 0)
			goto out;
		rc = convert(&pg, &nodes, &entries);
		if (rc < 0)
			goto out;
		page.nodes = nodes;
		page.node_count = pg.node_count;
		page.entries = entries;
		page.entry_count = pg.entry_count;
		page.next = pg.next;
		page.ops_pushed = pushed;
		page.resync = resync;
		rc = fc_state_apply_page(p->d.state, &page,
					 p->d.changed ? p->d.changed
						      : no_change,
					 p->d.changed_arg);
		free(nodes);
		free(entries);
		nodes = NULL;
		entries = NULL;
		if (rc < 0)
			goto out;
		pages++;
		cursor = pg.next;
		if (!pg.more)
			break;
		fc_changes_page_release(&pg);
	}
	if (resync) {
		rc = fc_state_resync_end(p->d.state, resync, pushed,
					 p->d.changed ? p->d.changed
						      : no_change,
					 p->d.changed_arg, &removed);
		if (rc < 0)
			goto out;
		cf_info("full resync done: %zu entries gone on the server "
			"removed here",
			removed);
	}
	if (pages > 1 || pg.node_count || pg.entry_count)
		cf_dbg("pulled %zu pages, cursor %llu", pages,
		       (unsigned long long)cursor);
	if (fc_remote_account(p->d.remote, &acct) == 0)
		fc_state_usage_set(p->d.state, acct.usage, acct.quota);
	atomic_store(&p->pulled, ticket); /* one thread: tickets only grow */
out:
	fc_changes_page_release(&pg);
	if (rc == -EAGAIN && p->d.need_push)
		p->d.need_push(p->d.arg);
	if (rc == -EPROTO)
		cf_err("change feed page refused: %s", strerror(-rc));
	atomic_store(&p->error, rc);
	return rc;
}

static int64_t pull_round(void *arg)
{
	struct fc_puller *p = arg;
	int64_t wait_s, now = fc_loop_now_ns();
	int rc;

	if (!atomic_exchange(&p->urgent, false) && p->last_ns &&
	    now < p->last_ns + PULL_GAP_NS)
		return p->last_ns + PULL_GAP_NS;
	rc = fc_pull_once(p);
	p->last_ns = fc_loop_now_ns();
	if (rc == -EAGAIN)
		wait_s = 1; /* the pusher is on it */
	else if (rc < 0)
		wait_s = 5;
	else
		wait_s = p->d.interval_s;
	if (fc_remote_backoff_ms(p->d.remote))
		wait_s += fc_remote_backoff_ms(p->d.remote) / 1000 + 1;
	return p->last_ns + wait_s * 1000000000;
}

int fc_pull_new(const struct fc_pull_deps *deps, struct fc_puller **out)
{
	struct fc_puller *p;

	*out = NULL;
	if (!deps->state || !deps->remote)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->d = *deps;
	if (!p->d.interval_s)
		p->d.interval_s = FC_PULL_INTERVAL_S;
	if (!p->d.page_limit)
		p->d.page_limit = 1000;
	fc_loop_init(&p->loop, "cloudfs-pull", pull_round, p);
	atomic_init(&p->urgent, false);
	atomic_init(&p->error, 0);
	*out = p;
	return 0;
}

int fc_pull_start(struct fc_puller *p)
{
	return fc_loop_start(&p->loop);
}

void fc_pull_wake(struct fc_puller *p)
{
	if (p)
		fc_loop_wake(&p->loop);
}

void fc_pull_wake_now(struct fc_puller *p)
{
	if (!p)
		return;
	atomic_store(&p->urgent, true);
	fc_loop_wake(&p->loop);
}

int fc_pull_error(struct fc_puller *p)
{
	return atomic_load(&p->error);
}

void fc_pull_tickets(struct fc_puller *p, uint64_t *out_started,
		     uint64_t *out_pulled)
{
	*out_started = p ? atomic_load(&p->begun) : 0;
	*out_pulled = p ? atomic_load(&p->pulled) : 0;
}

void fc_pull_stop(struct fc_puller *p)
{
	if (p)
		fc_loop_stop(&p->loop);
}

void fc_pull_free(struct fc_puller *p)
{
	if (!p)
		return;
	fc_loop_destroy(&p->loop);
	free(p);
}
