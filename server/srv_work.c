/* SPDX-License-Identifier: MIT */
/*
 * The worker pool: one mutex, one condition variable, a singly linked FIFO
 * of intrusive items. Threads sleep on the condition while the queue is
 * empty; shutdown lets them drain the queue before they exit, so every
 * accepted item runs exactly once.
 *
 * Lock order: ->lock is a leaf; items run without it.
 */
#include "srv_work.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CF_LOG_SUBSYS "work"
#include "cf_log.h"

#define WORK_THREADS_MAX 1024

struct srv_work {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct srv_work_item *head, *tail; /* protected by ->lock */
	size_t pending; /* queued + running; ->lock */
	bool stopping; /* protected by ->lock */
	pthread_t *threads; /* owned */
	int thread_count; /* started */
};

static void *worker_main(void *arg)
{
	struct srv_work *w = arg;
	struct srv_work_item *item;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		item = w->head;
		if (!item)
			break; /* stopping and drained */
		w->head = item->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);
		item->next = NULL;
		item->run(item);
		pthread_mutex_lock(&w->lock);
		w->pending--;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int srv_work_new(int threads, struct srv_work **out)
{
	struct srv_work *w;
	sigset_t all, old;
	int i, err;

	*out = NULL;
	if (threads < 1 || threads > WORK_THREADS_MAX)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->threads = calloc((size_t)threads, sizeof(*w->threads));
	if (!w->threads) {
		free(w);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&w->lock, NULL) != 0) {
		free(w->threads);
		free(w);
		return -ENOMEM;
	}
	if (pthread_cond_init(&w->cond, NULL) != 0) {
		pthread_mutex_destroy(&w->lock);
		free(w->threads);
		free(w);
		return -ENOMEM;
	}
	/* Workers never take signals: the process handles them elsewhere. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < threads; i++) {
		err = pthread_create(&w->threads[i], NULL, worker_main, w);
		if (err) {
			cf_err("cannot start worker thread: %s", strerror(err));
			break;
		}
		w->thread_count++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (w->thread_count < threads) {
		srv_work_free(w);
		return -EAGAIN;
	}
	*out = w;
	return 0;
}

int srv_work_submit(struct srv_work *w, struct srv_work_item *item)
{
	int rc = 0;

	item->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		rc = -ESHUTDOWN;
		goto out_unlock;
	}
	if (w->tail)
		w->tail->next = item;
	else
		w->head = item;
	w->tail = item;
	w->pending++;
	pthread_cond_signal(&w->cond);
out_unlock:
	pthread_mutex_unlock(&w->lock);
	return rc;
}

size_t srv_work_pending(struct srv_work *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->pending;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void srv_work_free(struct srv_work *w)
{
	int i;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->thread_count; i++)
		pthread_join(w->threads[i], NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->threads);
	free(w);
}
