/* A fixed set of threads running blocking work (libvirt calls) off the main
 * loop. Jobs run oldest first; each finished job goes back to the main loop
 * through the mailbox. The shim has two pools: one for client requests and one
 * for deadline power-offs, so a fence never waits behind a client's slow
 * define or start. */
#ifndef FDM_SHIM_POOL_H
#define FDM_SHIM_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "hostd-shim/mailbox.h"

#define SHIM_POOL_MAX_THREADS 16

struct shim_pool_job {
	struct shim_mail mail;     /* first: posted to the mailbox when done */
	struct shim_pool_job *next_queued;
};

typedef void (*shim_pool_run_fn)(struct shim_pool_job *job, void *ctx);

struct shim_pool {
	const char *name;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct shim_pool_job *head, *tail;
	size_t queued;
	bool stopping;
	pthread_t threads[SHIM_POOL_MAX_THREADS];
	size_t n_threads;
	shim_pool_run_fn run;
	void *ctx;
	struct shim_mailbox *done;
};

int shim_pool_start(struct shim_pool *p, const char *name, size_t n_threads,
		    shim_pool_run_fn run, void *ctx, struct shim_mailbox *done);

void shim_pool_submit(struct shim_pool *p, struct shim_pool_job *job);

/* Stop the threads after their current job; jobs still queued are returned
 * (linked through next_queued) for the caller to free. */
struct shim_pool_job *shim_pool_stop(struct shim_pool *p);

#endif
