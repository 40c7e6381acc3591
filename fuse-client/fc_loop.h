/* SPDX-License-Identifier: MIT */
/*
 * A background thread that runs rounds: one round, then a sleep until the
 * deadline the round asked for, a wake-up, or the stop. The pusher and
 * the puller are such loops. The thread is named and runs at background
 * priority (cf_thread).
 *
 * Threading: fc_loop_wake and fc_loop_stopping from any thread;
 * fc_loop_start, fc_loop_stop and fc_loop_destroy from the owner. The
 * loop's lock is a leaf, never held while a round runs.
 */
#ifndef CLOUDFS_FC_LOOP_H
#define CLOUDFS_FC_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * One round. Returns when the next should start: CLOCK_REALTIME in ns;
 * now or earlier = at once. Rounds stop early when fc_loop_stopping.
 */
typedef int64_t (*fc_loop_round_fn)(void *arg);

struct fc_loop {
	const char *name; /* borrowed: the thread's name */
	fc_loop_round_fn round;
	void *arg;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;      /* protected by ->lock */
	uint64_t wakes; /* protected by ->lock */
};

/* Set up l (no thread yet). name is borrowed for l's life. */
void fc_loop_init(struct fc_loop *l, const char *name, fc_loop_round_fn round,
		  void *arg);

/* Start the thread. 0 or -errno. */
int fc_loop_start(struct fc_loop *l);

/* Start the next round now (or right after the one running). */
void fc_loop_wake(struct fc_loop *l);

/* Whether the loop is being stopped: a long round should end. */
bool fc_loop_stopping(struct fc_loop *l);

/* Stop the thread and wait for it (its round ends first). Idempotent. */
void fc_loop_stop(struct fc_loop *l);

/* Stop, then free what init made. */
void fc_loop_destroy(struct fc_loop *l);

/* CLOCK_REALTIME in ns, the clock of round deadlines. */
int64_t fc_loop_now_ns(void);

#endif
