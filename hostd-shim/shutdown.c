/* Guest shutdowns with a timeout (ShutdownRequest): the guest was asked to
 * shut down (a job on the ops pool); the reply waits here, on the main loop,
 * until the domain stops (its lifecycle event) or the timeout passes, when
 * the domain is powered off (a SHUTDOWN_FORCE job, reply forced = true). */
#include "hostd-shim/shutdown.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "hostd-shim/requests.h"

static bool domain_off(const struct shim_job *job)
{
	return job->has_dom && job->dom.state == FDM__DOMAIN_STATE__DOMAIN_SHUTOFF;
}

static int on_shutdown_timeout(sd_event_source *src, uint64_t usec, void *userdata);

bool shim_shutdown_wait(struct shim *s, struct shim_job *job)
{
	struct shim_shutdown_wait *w;
	uint64_t at;

	if (job->result != FDM__RESULT_CODE__RESULT_OK || domain_off(job))
		return false;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return false;
	w->shim = s;
	w->client = job->client;   /* takes over the job's reference and slot */
	w->req_id = job->req_id;
	fdm_strlcpy(w->ref.name, job->dom.name, sizeof(w->ref.name));
	fdm_strlcpy(w->ref.uuid, job->dom.uuid, sizeof(w->ref.uuid));
	at = (job->started_ms + job->timeout_ms) * 1000;
	if (sd_event_add_time(s->event, &w->timer, CLOCK_BOOTTIME, at, 1000,
			      on_shutdown_timeout, w) < 0) {
		free(w);
		return false;
	}
	w->next = s->shutdowns;
	s->shutdowns = w;
	return true;
}

static void wait_remove(struct shim *s, struct shim_shutdown_wait *w)
{
	struct shim_shutdown_wait **p;

	for (p = &s->shutdowns; *p != NULL; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	sd_event_source_disable_unref(w->timer);
	free(w);
}

static int on_shutdown_timeout(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct shim_shutdown_wait *w = userdata;
	struct shim *s = w->shim;
	struct shim_job *job = shim_job_new(SHIM_OP_SHUTDOWN_FORCE, w->client, w->req_id);

	(void)src;
	(void)usec;
	fdm_info("%s: guest did not shut down in time: powering off", w->ref.name);
	if (job == NULL) {
		shim_reply_result(w->client, w->req_id, FDM__RESULT_CODE__RESULT_ERROR,
				  "out of memory");
		shim_client_job_finished(w->client);
		shim_client_unref(w->client);
	} else {
		job->ref = w->ref;
		shim_pool_submit(&s->ops_pool, &job->pj);
	}
	wait_remove(s, w);
	return 0;
}

void shim_shutdown_domain_stopped(struct shim *s, const struct shim_dom *dom)
{
	struct shim_shutdown_wait *w = s->shutdowns, *next;
	char msg[SHIM_NAME_MAX + 32];

	for (; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->ref.uuid, dom->uuid) != 0)
			continue;
		snprintf(msg, sizeof(msg), "%s: guest shut down", dom->name);
		shim_reply_result(w->client, w->req_id, FDM__RESULT_CODE__RESULT_OK, msg);
		shim_client_job_finished(w->client);
		shim_client_unref(w->client);
		wait_remove(s, w);
	}
}

void shim_shutdown_free(struct shim *s)
{
	while (s->shutdowns != NULL) {
		struct shim_client *c = s->shutdowns->client;

		wait_remove(s, s->shutdowns);
		shim_client_unref(c);
	}
}
