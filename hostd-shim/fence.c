/* Deadline enforcement (DESIGN.md safety point 5). fdm hands the shim, with
 * every step, the absolute CLOCK_BOOTTIME time after which each protected
 * domain must not run here, because from then on a master elsewhere may
 * restart it. If fdm stops refreshing (killed, hung, paused), this file powers
 * each domain off when its own deadline passes, on a pool thread of its own,
 * whether or not fdm is connected. Rules:
 *  - only domains in the protected set are ever touched;
 *  - a deadline whose domain is not running (or unknown) is kept, and does
 *    nothing; if that domain starts later while its deadline has passed, it is
 *    powered off again (it must not run here past its deadline);
 *  - while libvirt is disconnected nothing can be powered off: due fences run
 *    as soon as it is back, logged as late;
 *  - every change of the set and of the fenced list is written to the state
 *    file first, so a restarted shim enforces what it held. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "hostd-shim/shim.h"
#include "hostd-shim/statefile.h"

static const char *refname(const struct shim_domref *r)
{
	return r->name[0] != '\0' ? r->name : r->uuid;
}

void shim_fence_persist(struct shim *s)
{
	char err[PATH_MAX + 128];

	if (shim_state_save(s->state_path, &s->dl, err, sizeof(err)) < 0) {
		s->counters[SHIM_C_STATE_WRITE_ERRORS]++;
		fdm_err("STATE NOT SAVED: %s (a restart of the shim would forget deadlines)",
			 err);
		return;
	}
	s->counters[SHIM_C_STATE_WRITES]++;
}

static void issue(struct shim *s, struct shim_deadline *dl, uint64_t now)
{
	struct shim_job *job = shim_job_new(SHIM_OP_FENCE, NULL, 0);

	if (job == NULL)
		return;   /* stays due: the timer tries again */
	fdm_warn("DEADLINE PASSED for %s (%" PRIu64 " ms ago): powering it off",
		 refname(&dl->ref), now - dl->boottime_ms);
	job->ref = dl->ref;
	job->deadline_ms = dl->boottime_ms;
	dl->fence_issued = true;
	shim_pool_submit(&s->fence_pool, &job->pj);
}

static void fence_due(struct shim *s)
{
	uint64_t now = fdm_now_boottime_ms();
	size_t i;

	if (!s->connected)
		return;
	for (i = 0; i < s->dl.n; i++) {
		struct shim_deadline *dl = &s->dl.v[i];

		if (!dl->fence_issued && dl->boottime_ms <= now && dl->retry_ms <= now)
			issue(s, dl, now);
	}
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct shim *s = userdata;

	(void)src;
	(void)usec;
	fence_due(s);
	shim_fence_rearm(s);
	return 0;
}

void shim_fence_rearm(struct shim *s)
{
	uint64_t next = shim_deadlines_next(&s->dl);

	/* Disconnected: nothing can be done until on_connected() runs. */
	if (!s->connected || next == UINT64_MAX) {
		sd_event_source_set_enabled(s->deadline_timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(s->deadline_timer, next * 1000);
	sd_event_source_set_enabled(s->deadline_timer, SD_EVENT_ONESHOT);
}

void shim_fence_on_connected(struct shim *s)
{
	uint64_t now = fdm_now_boottime_ms();
	size_t i;

	for (i = 0; i < s->dl.n; i++) {
		struct shim_deadline *dl = &s->dl.v[i];

		if (dl->fence_issued || dl->boottime_ms > now)
			continue;
		s->counters[SHIM_C_FENCE_LATE]++;
		fdm_warn("LATE: deadline of %s passed %" PRIu64 " ms ago while libvirt was "
			 "not connected", refname(&dl->ref), now - dl->boottime_ms);
	}
	fence_due(s);
	shim_fence_rearm(s);
}

void shim_fence_on_running(struct shim *s, const struct shim_dom *dom)
{
	struct shim_deadline *dl = shim_deadlines_find(&s->dl, dom->name, dom->uuid);
	uint64_t now = fdm_now_boottime_ms();

	if (dl == NULL || dl->boottime_ms > now || !s->connected)
		return;
	fdm_info("%s runs past its deadline (%" PRIu64 " ms ago)", dom->name,
		 now - dl->boottime_ms);
	issue(s, dl, now);
}

static void fenced(struct shim *s, struct shim_job *job)
{
	uint64_t now = fdm_now_boottime_ms();

	s->counters[SHIM_C_FENCED]++;
	fdm_info("FENCED %s (%s): powered off, its deadline passed %" PRIu64 " ms ago",
		 job->dom.name, job->dom.uuid, now - job->deadline_ms);
	shim_deadlines_add_fenced(&s->dl, job->dom.name, job->dom.uuid, job->deadline_ms, now);
	shim_fence_persist(s);
	shim_broadcast(s, FDM__EVENT_TYPE__EVENT_FENCED, &job->dom, "deadline passed");
}

void shim_fence_done(struct shim *s, struct shim_job *job)
{
	struct shim_deadline *dl = shim_deadlines_find_ref(&s->dl, &job->ref);
	bool current = dl != NULL && dl->boottime_ms == job->deadline_ms;

	switch (job->result) {
	case FDM__RESULT_CODE__RESULT_OK:
		if (job->was_running)
			fenced(s, job);
		else
			fdm_info("deadline of %s passed: not running, nothing to do",
				 refname(&job->ref));
		return;
	case FDM__RESULT_CODE__RESULT_NOT_FOUND:
		fdm_info("deadline of %s passed: no such domain here, nothing to do",
			 refname(&job->ref));
		return;
	case FDM__RESULT_CODE__RESULT_DISCONNECTED:
		/* Runs again from shim_fence_on_connected(). */
		fdm_info("%s: power-off at its deadline waits for libvirt: %s",
			 refname(&job->ref), job->message);
		if (current)
			dl->fence_issued = false;
		return;
	default:
		s->counters[SHIM_C_FENCE_FAILED]++;
		fdm_info("POWER-OFF FAILED for %s at its deadline: %s; retrying in %d ms",
			 refname(&job->ref), job->message, SHIM_FENCE_RETRY_MS);
		if (current) {
			dl->fence_issued = false;
			dl->retry_ms = fdm_now_boottime_ms() + SHIM_FENCE_RETRY_MS;
		}
		shim_fence_rearm(s);
		return;
	}
}

int shim_fence_install(struct shim *s, const char *name, const char *uuid, uint64_t t)
{
	struct shim_deadline *dl = shim_deadlines_find(&s->dl, name, uuid);
	struct shim_domref ref;

	if (dl != NULL) {
		dl->boottime_ms = t;
		dl->fence_issued = false;
		dl->retry_ms = 0;
	} else {
		memset(&ref, 0, sizeof(ref));
		fdm_strlcpy(ref.name, name, sizeof(ref.name));
		fdm_strlcpy(ref.uuid, uuid, sizeof(ref.uuid));
		if (shim_deadlines_put(&s->dl, &ref, t) < 0)
			return -1;
	}
	fdm_info("deadline of %s set with its power-on", name);
	shim_fence_persist(s);
	shim_fence_rearm(s);
	return 0;
}

int shim_fence_init(struct shim *s)
{
	char err[PATH_MAX + 256];
	int rc;

	shim_deadlines_init(&s->dl);
	rc = shim_state_load(s->state_path, &s->dl, err, sizeof(err));
	if (rc < 0) {
		char aside[PATH_MAX + 16];

		/* Kept for the post-mortem; the next save writes a fresh file. fdm,
		 * finding no deadlines here, powers its VMs off itself (DESIGN.md 5). */
		snprintf(aside, sizeof(aside), "%s.corrupt", s->state_path);
		rename(s->state_path, aside);
		fdm_info("STATE FILE IGNORED: %s: starting with no deadlines (kept as %s)",
			 err, aside);
	}
	else if (rc > 0)
		fdm_info("state %s: %zu deadlines, %zu fenced not yet reported", s->state_path,
			 s->dl.n, s->dl.n_fenced);
	rc = sd_event_add_time(s->event, &s->deadline_timer, CLOCK_BOOTTIME, UINT64_MAX,
			       1000, on_timer, s);
	if (rc < 0)
		return rc;
	sd_event_source_set_enabled(s->deadline_timer, SD_EVENT_OFF);
	return 0;
}

void shim_fence_free(struct shim *s)
{
	s->deadline_timer = sd_event_source_disable_unref(s->deadline_timer);
	shim_deadlines_free(&s->dl);
}
