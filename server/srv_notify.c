/* SPDX-License-Identifier: MIT */
/*
 * The notification registry: accounts in a small hash table, each with the
 * list of its connections; each connection with a ring of pointers to
 * shared, reference-counted message texts (one publish renders its JSON
 * once, however many devices receive it). A ring exists only while it holds
 * something, so 10,000 idle connections cost one small struct each.
 *
 * A connection is "ready" when its queue went from empty to non-empty or it
 * overflowed; ready connections sit on one list that the transport drains
 * on its own thread after a wake-up.
 *
 * Lock order: ->lock is a leaf; wake is called after dropping it.
 */
#include "srv_notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define CF_LOG_SUBSYS "notify"
#include "cf_log.h"
#include "cf_util.h"

#define NOTIFY_BUCKETS_MIN 64
#define NOTIFY_RING_MIN	   2

enum msg_type {
	MSG_CHANGED = 1,
	MSG_PENDING = 2,
};

/* A rendered message shared by every queue that holds it. */
struct msg {
	uint32_t refs; /* protected by srv_notify->lock once published */
	uint8_t type; /* enum msg_type */
	bool queued; /* on some connection's ring at least once */
	uint16_t len;
	int64_t published_ns; /* CLOCK_MONOTONIC */
	struct srv_notify *n; /* for the fan-out observer */
	char text[]; /* NUL-terminated JSON */
};

struct account;

struct srv_notify_conn {
	struct srv_notify_conn *prev, *next; /* account's list; ->lock */
	struct srv_notify_conn *rprev, *rnext; /* ready list; ->lock */
	struct account *acct; /* owned by the registry */
	void *owner; /* borrowed from transport */
	struct msg **ring; /* owned; NULL when empty */
	uint16_t head, count, cap; /* ->lock */
	bool ready, dropped; /* ->lock */
};

struct account {
	int64_t user_id;
	struct account *hnext; /* bucket chain */
	struct srv_notify_conn *conns; /* list head */
	size_t count;
};

struct srv_notify {
	pthread_mutex_t lock;
	struct account **buckets; /* owned; ->lock */
	size_t bucket_count; /* power of two */
	size_t account_count;
	size_t conn_count;
	struct srv_notify_conn *ready_head, *ready_tail; /* ->lock */
	uint32_t queue_max;
	srv_notify_wake_fn wake;
	void *wake_arg; /* borrowed */
	srv_notify_fanout_fn fanout; /* set before use; may be NULL */
	void *fanout_arg; /* borrowed */
};

static size_t bucket_of(const struct srv_notify *n, int64_t user_id)
{
	uint64_t h = (uint64_t)user_id * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (n->bucket_count - 1);
}

int srv_notify_new(uint32_t queue_max, srv_notify_wake_fn wake, void *wake_arg,
		   struct srv_notify **out)
{
	struct srv_notify *n = NULL;
	int rc;

	*out = NULL;
	if (queue_max == 0 || queue_max > UINT16_MAX)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->bucket_count = NOTIFY_BUCKETS_MIN;
	n->buckets = calloc(n->bucket_count, sizeof(*n->buckets));
	if (!n->buckets) {
		rc = -ENOMEM;
		goto out;
	}
	if (pthread_mutex_init(&n->lock, NULL) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	n->queue_max = queue_max;
	n->wake = wake;
	n->wake_arg = wake_arg;
	*out = n;
	n = NULL;
	rc = 0;
out:
	if (n) {
		free(n->buckets);
		free(n);
	}
	return rc;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Caller holds ->lock once m is published. */
static void msg_unref(struct msg *m)
{
	if (!m || --m->refs)
		return;
	/* the last queue let go: the fan-out of m is over */
	if (m->queued && m->n->fanout)
		m->n->fanout(m->n->fanout_arg,
			     (double)(mono_ns() - m->published_ns) / 1e9);
	free(m);
}

void srv_notify_set_fanout(struct srv_notify *n, srv_notify_fanout_fn fn,
			   void *arg)
{
	n->fanout = fn;
	n->fanout_arg = arg;
}

/* Drop everything c has queued. Caller holds ->lock. */
static void conn_clear(struct srv_notify_conn *c)
{
	while (c->count) {
		msg_unref(c->ring[c->head]);
		c->head = (uint16_t)((c->head + 1) % c->cap);
		c->count--;
	}
	free(c->ring);
	c->ring = NULL;
	c->head = c->cap = 0;
}

static void ready_remove(struct srv_notify *n, struct srv_notify_conn *c)
{
	if (!c->ready)
		return;
	if (c->rprev)
		c->rprev->rnext = c->rnext;
	else
		n->ready_head = c->rnext;
	if (c->rnext)
		c->rnext->rprev = c->rprev;
	else
		n->ready_tail = c->rprev;
	c->rprev = c->rnext = NULL;
	c->ready = false;
}

static void ready_add(struct srv_notify *n, struct srv_notify_conn *c)
{
	if (c->ready)
		return;
	c->rnext = NULL;
	c->rprev = n->ready_tail;
	if (n->ready_tail)
		n->ready_tail->rnext = c;
	else
		n->ready_head = c;
	n->ready_tail = c;
	c->ready = true;
}

void srv_notify_free(struct srv_notify *n)
{
	struct account *a, *next;
	struct srv_notify_conn *c, *cnext;
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->bucket_count; i++) {
		for (a = n->buckets[i]; a; a = next) {
			next = a->hnext;
			for (c = a->conns; c; c = cnext) {
				cnext = c->next;
				conn_clear(c);
				free(c);
			}
			free(a);
		}
	}
	free(n->buckets);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

static struct account *account_find(struct srv_notify *n, int64_t user_id)
{
	struct account *a;

	for (a = n->buckets[bucket_of(n, user_id)]; a; a = a->hnext)
		if (a->user_id == user_id)
			return a;
	return NULL;
}

/* Double the table when accounts outnumber buckets; failure is harmless. */
static void maybe_grow(struct srv_notify *n)
{
	struct account **old = n->buckets, **nb, *a, *next;
	size_t old_count = n->bucket_count, i, b;

	if (n->account_count <= n->bucket_count)
		return;
	nb = calloc(old_count * 2, sizeof(*nb));
	if (!nb)
		return;
	n->buckets = nb;
	n->bucket_count = old_count * 2;
	for (i = 0; i < old_count; i++) {
		for (a = old[i]; a; a = next) {
			next = a->hnext;
			b = bucket_of(n, a->user_id);
			a->hnext = nb[b];
			nb[b] = a;
		}
	}
	free(old);
}

int srv_notify_register(struct srv_notify *n, int64_t user_id, void *owner,
			struct srv_notify_conn **out)
{
	struct srv_notify_conn *c;
	struct account *a;
	size_t b;
	int rc = 0;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->owner = owner;
	pthread_mutex_lock(&n->lock);
	a = account_find(n, user_id);
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a) {
			rc = -ENOMEM;
			goto out_unlock;
		}
		a->user_id = user_id;
		b = bucket_of(n, user_id);
		a->hnext = n->buckets[b];
		n->buckets[b] = a;
		n->account_count++;
		maybe_grow(n);
	}
	c->acct = a;
	c->next = a->conns;
	if (a->conns)
		a->conns->prev = c;
	a->conns = c;
	a->count++;
	n->conn_count++;
	*out = c;
	c = NULL;
out_unlock:
	pthread_mutex_unlock(&n->lock);
	free(c);
	return rc;
}

void srv_notify_unregister(struct srv_notify *n, struct srv_notify_conn *c)
{
	struct account *a, **pp;

	if (!c)
		return;
	pthread_mutex_lock(&n->lock);
	a = c->acct;
	ready_remove(n, c);
	conn_clear(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->count--;
	n->conn_count--;
	if (a->count == 0) {
		for (pp = &n->buckets[bucket_of(n, a->user_id)]; *pp;
		     pp = &(*pp)->hnext) {
			if (*pp == a) {
				*pp = a->hnext;
				break;
			}
		}
		n->account_count--;
		free(a);
	}
	pthread_mutex_unlock(&n->lock);
	free(c);
}

size_t srv_notify_take_ready(struct srv_notify *n, size_t max,
			     srv_notify_ready_fn fn, void *arg)
{
	struct srv_notify_conn *c;
	size_t count = 0;
	bool dropped;
	void *owner;

	/*
	 * Take one connection at a time and call fn without the lock: fn may
	 * call back into pop. Unregister runs on this same thread, so c stays
	 * valid between the unlock and fn.
	 */
	while (count < max) {
		pthread_mutex_lock(&n->lock);
		c = n->ready_head;
		if (c) {
			ready_remove(n, c);
			owner = c->owner;
			dropped = c->dropped;
		}
		pthread_mutex_unlock(&n->lock);
		if (!c)
			break;
		fn(arg, owner, dropped);
		count++;
	}
	return count;
}

bool srv_notify_has_ready(struct srv_notify *n)
{
	bool yes;

	pthread_mutex_lock(&n->lock);
	yes = n->ready_head != NULL;
	pthread_mutex_unlock(&n->lock);
	return yes;
}

ssize_t srv_notify_pop(struct srv_notify *n, struct srv_notify_conn *c,
		       char *buf, size_t size)
{
	struct msg *m;
	ssize_t rc;

	if (!c || size < SRV_NOTIFY_MSG_MAX)
		return -EINVAL;
	pthread_mutex_lock(&n->lock);
	if (c->dropped) {
		rc = -EPIPE;
		goto out_unlock;
	}
	if (!c->count) {
		rc = 0;
		goto out_unlock;
	}
	m = c->ring[c->head];
	c->head = (uint16_t)((c->head + 1) % c->cap);
	c->count--;
	memcpy(buf, m->text, m->len);
	buf[m->len] = '\0';
	rc = m->len;
	msg_unref(m);
	if (!c->count)
		conn_clear(c); /* give the ring back: idle costs nothing */
out_unlock:
	pthread_mutex_unlock(&n->lock);
	return rc;
}

size_t srv_notify_queued(struct srv_notify *n, struct srv_notify_conn *c)
{
	size_t count;

	pthread_mutex_lock(&n->lock);
	count = c->count;
	pthread_mutex_unlock(&n->lock);
	return count;
}

size_t srv_notify_count(struct srv_notify *n, int64_t user_id)
{
	struct account *a;
	size_t count;

	pthread_mutex_lock(&n->lock);
	if (user_id < 0) {
		count = n->conn_count;
	} else {
		a = account_find(n, user_id);
		count = a ? a->count : 0;
	}
	pthread_mutex_unlock(&n->lock);
	return count;
}

/* Make room for one more message; false when the queue is full. */
static bool ring_reserve(struct srv_notify *n, struct srv_notify_conn *c)
{
	struct msg **ring;
	uint16_t cap, i;

	if (c->count < c->cap)
		return true;
	if (c->count >= n->queue_max)
		return false;
	cap = c->cap ? (uint16_t)CF_MIN((uint32_t)c->cap * 2, n->queue_max)
		     : (uint16_t)CF_MIN(NOTIFY_RING_MIN, n->queue_max);
	ring = malloc(cap * sizeof(*ring));
	if (!ring)
		return false; /* treated as overflow: the client resyncs */
	for (i = 0; i < c->count; i++)
		ring[i] = c->ring[(c->head + i) % c->cap];
	free(c->ring);
	c->ring = ring;
	c->head = 0;
	c->cap = cap;
	return true;
}

/* Queue m (borrowed; referenced per queue) on one connection. */
static bool conn_push(struct srv_notify *n, struct srv_notify_conn *c,
		      struct msg *m)
{
	struct msg **tail;

	if (c->dropped)
		return false;
	if (m->type == MSG_CHANGED && c->count) {
		tail = &c->ring[(c->head + c->count - 1) % c->cap];
		if ((*tail)->type == MSG_CHANGED) {
			msg_unref(*tail);
			m->refs++;
			m->queued = true;
			*tail = m;
			return false; /* already queued, so already ready */
		}
	}
	if (!ring_reserve(n, c)) {
		cf_dbg("connection of account %lld overflowed its queue",
		       (long long)c->acct->user_id);
		c->dropped = true;
		conn_clear(c);
		ready_add(n, c);
		return true;
	}
	m->refs++;
	m->queued = true;
	c->ring[(c->head + c->count) % c->cap] = m;
	c->count++;
	if (c->count == 1) {
		ready_add(n, c);
		return true;
	}
	return false;
}

/* Fan m (consumed) out to every connection of user_id. */
static void publish(struct srv_notify *n, int64_t user_id, struct msg *m)
{
	struct srv_notify_conn *c;
	struct account *a;
	bool woke = false;

	pthread_mutex_lock(&n->lock);
	a = account_find(n, user_id);
	for (c = a ? a->conns : NULL; c; c = c->next)
		if (conn_push(n, c, m))
			woke = true;
	msg_unref(m);
	pthread_mutex_unlock(&n->lock);
	if (woke && n->wake)
		n->wake(n->wake_arg);
}

/* Render obj (consumed) into a message of n with one reference. */
static struct msg *msg_new(struct srv_notify *n, enum msg_type type,
			   json_t *obj)
{
	struct msg *m = NULL;
	char *text = NULL;
	size_t len;

	if (!obj)
		goto out;
	text = json_dumps(obj, JSON_COMPACT);
	if (!text)
		goto out;
	len = strlen(text);
	if (len >= SRV_NOTIFY_MSG_MAX)
		goto out;
	m = malloc(sizeof(*m) + len + 1);
	if (!m)
		goto out;
	m->refs = 1;
	m->type = (uint8_t)type;
	m->queued = false;
	m->len = (uint16_t)len;
	m->published_ns = mono_ns();
	m->n = n;
	memcpy(m->text, text, len + 1);
out:
	if (!m)
		cf_warn("cannot render a notification");
	free(text);
	json_decref(obj);
	return m;
}

/* Cheap check before rendering: nobody of user_id listening. */
static bool has_listeners(struct srv_notify *n, int64_t user_id)
{
	bool yes;

	pthread_mutex_lock(&n->lock);
	yes = account_find(n, user_id) != NULL;
	pthread_mutex_unlock(&n->lock);
	return yes;
}

void srv_notify_changed(struct srv_notify *n, int64_t user_id, uint64_t cursor)
{
	struct msg *m;

	if (!n || !has_listeners(n, user_id))
		return;
	m = msg_new(n, MSG_CHANGED,
		    json_pack("{s:s, s:I}", "type", "changed", "cursor",
			      (json_int_t)cursor));
	if (m)
		publish(n, user_id, m);
}

void srv_notify_pending(struct srv_notify *n, int64_t user_id,
			const uint8_t node_id[16], int64_t device_id)
{
	static const char hex[] = "0123456789abcdef";
	char node[33];
	struct msg *m;
	size_t i;

	if (!n || !has_listeners(n, user_id))
		return;
	for (i = 0; i < 16; i++) {
		node[2 * i] = hex[node_id[i] >> 4];
		node[2 * i + 1] = hex[node_id[i] & 15];
	}
	node[32] = '\0';
	m = msg_new(n, MSG_PENDING,
		    json_pack("{s:s, s:s, s:I}", "type", "pending", "node",
			      node, "device", (json_int_t)device_id));
	if (m)
		publish(n, user_id, m);
}
