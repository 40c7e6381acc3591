/* SPDX-License-Identifier: MIT */
/* Background round loops (see fc_loop.h). */
#include "fc_loop.h"

#include <errno.h>
#include <time.h>

#include "cf_thread.h"

int64_t fc_loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *loop_main(void *arg)
{
	struct fc_loop *l = arg;
	struct timespec ts;
	uint64_t wakes;
	int64_t next;

	cf_thread_name(l->name);
	cf_thread_background();
	for (;;) {
		pthread_mutex_lock(&l->lock);
		wakes = l->wakes;
		if (l->stop) {
			pthread_mutex_unlock(&l->lock);
			break;
		}
		pthread_mutex_unlock(&l->lock);
		next = l->round(l->arg);
		if (next <= fc_loop_now_ns())
			continue;
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		pthread_mutex_lock(&l->lock);
		while (!l->stop && l->wakes == wakes &&
		       pthread_cond_timedwait(&l->cond, &l->lock, &ts) == 0)
			;
		pthread_mutex_unlock(&l->lock);
	}
	return NULL;
}

void fc_loop_init(struct fc_loop *l, const char *name, fc_loop_round_fn round,
		  void *arg)
{
	l->name = name;
	l->round = round;
	l->arg = arg;
	l->started = false;
	l->stop = false;
	l->wakes = 0;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
}

int fc_loop_start(struct fc_loop *l)
{
	int rc = pthread_create(&l->thread, NULL, loop_main, l);

	if (rc)
		return -rc;
	l->started = true;
	return 0;
}

void fc_loop_wake(struct fc_loop *l)
{
	pthread_mutex_lock(&l->lock);
	l->wakes++;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

bool fc_loop_stopping(struct fc_loop *l)
{
	bool stop;

	pthread_mutex_lock(&l->lock);
	stop = l->stop;
	pthread_mutex_unlock(&l->lock);
	return stop;
}

void fc_loop_stop(struct fc_loop *l)
{
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (l->started)
		pthread_join(l->thread, NULL);
	l->started = false;
}

void fc_loop_destroy(struct fc_loop *l)
{
	fc_loop_stop(l);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
}
