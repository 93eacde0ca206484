/* Worker threads with a job queue (pool.h). */
#include "hostd-shim/pool.h"

#include <errno.h>
#include <string.h>

static void *worker(void *arg)
{
	struct shim_pool *p = arg;
	struct shim_pool_job *job;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		job = p->head;
		p->head = job->next_queued;
		if (p->head == NULL)
			p->tail = NULL;
		p->queued--;
		pthread_mutex_unlock(&p->lock);

		p->run(job, p->ctx);
		shim_mailbox_post(p->done, &job->mail);
	}
}

int shim_pool_start(struct shim_pool *p, const char *name, size_t n_threads,
		    shim_pool_run_fn run, void *ctx, struct shim_mailbox *done)
{
	size_t i;
	int rc;

	memset(p, 0, sizeof(*p));
	if (n_threads == 0 || n_threads > SHIM_POOL_MAX_THREADS)
		return -EINVAL;
	p->name = name;
	p->run = run;
	p->ctx = ctx;
	p->done = done;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (i = 0; i < n_threads; i++) {
		rc = pthread_create(&p->threads[i], NULL, worker, p);
		if (rc != 0) {
			shim_pool_stop(p);
			return -rc;
		}
		p->n_threads++;
	}
	return 0;
}

void shim_pool_submit(struct shim_pool *p, struct shim_pool_job *job)
{
	job->next_queued = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next_queued = job;
	else
		p->head = job;
	p->tail = job;
	p->queued++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

struct shim_pool_job *shim_pool_stop(struct shim_pool *p)
{
	struct shim_pool_job *left;
	size_t i;

	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	p->n_threads = 0;
	left = p->head;
	p->head = p->tail = NULL;
	p->queued = 0;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	return left;
}
