/* Deadline enforcement (DESIGN.md safety point 5). fdm hands the shim, with
 * every step, the absolute CLOCK_BOOTTIME time after which each protected
 * domain must not run here, because from then on a master elsewhere may
 * restart it. If fdm stops refreshing (killed, hung, paused), this file powers
 * each domain off when its own deadline passes, on a pool thread of its own,
 * whether or not fdm is connected. Rules (the pure ones in deadlines.c):
 *  - only domains in the protected set are ever touched;
 *  - a deadline that has passed stays in force until its domain is seen off:
 *    no later deadline, replace or clean stop lifts it, and a failed power-off
 *    is tried again every SHIM_FENCE_RETRY_MS, logged each time, until it
 *    completes;
 *  - a deadline whose domain is not running (or unknown) is kept, and does
 *    nothing; if that domain starts later while its deadline has passed, it is
 *    powered off again (it must not run here past its deadline);
 *  - while libvirt is disconnected nothing can be powered off: due fences run
 *    as soon as it is back, logged as late;
 *  - every change of the set and of the fenced list is written to the state
 *    file first, so a restarted shim enforces what it held; a write that fails
 *    is logged, counted, and answered as an error to the client that asked. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "hostd-shim/shim.h"
#include "hostd-shim/statefile.h"

static const char *refname(const struct shim_domref *r)
{
	return r->name[0] != '\0' ? r->name : r->uuid;
}

int shim_fence_persist(struct shim *s)
{
	if (shim_state_save(s->state_path, &s->dl, s->boot_id, s->state_err,
			    sizeof(s->state_err)) < 0) {
		s->counters[SHIM_C_STATE_WRITE_ERRORS]++;
		s->state_unsaved = true;
		fdm_err("STATE NOT SAVED: %s (a restart of the shim would forget deadlines)",
			s->state_err);
		return -1;
	}
	if (s->state_unsaved)
		fdm_info("state %s saved again", s->state_path);
	s->state_unsaved = false;
	s->state_err[0] = '\0';
	s->counters[SHIM_C_STATE_WRITES]++;
	return 0;
}

static void issue(struct shim *s, struct shim_deadline *dl, uint64_t now)
{
	struct shim_job *job = shim_job_new(SHIM_OP_FENCE, NULL, 0);

	if (job == NULL)
		return;   /* stays due: the timer tries again */
	shim_deadline_issued(dl);
	if (dl->attempts == 1)
		fdm_warn("DEADLINE PASSED for %s (%" PRIu64 " ms ago): powering it off",
			 refname(&dl->ref), now - dl->boottime_ms);
	else
		fdm_warn("DEADLINE PASSED for %s %" PRIu64 " ms ago and it is not off yet: "
			 "power-off attempt %u", refname(&dl->ref), now - dl->boottime_ms,
			 dl->attempts);
	job->ref = dl->ref;
	job->deadline_ms = dl->boottime_ms;
	shim_pool_submit(&s->fence_pool, &job->pj);
}

static void fence_due(struct shim *s)
{
	uint64_t now = fdm_now_boottime_ms();
	size_t i;

	if (!s->connected)
		return;
	for (i = 0; i < s->dl.n; i++)
		if (shim_deadline_due(&s->dl.v[i], now))
			issue(s, &s->dl.v[i], now);
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

		if (dl->fence_issued || !shim_deadline_in_force(dl, now))
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
	uint64_t now = fdm_now_boottime_ms();
	struct shim_deadline *dl = shim_deadlines_running(&s->dl, dom->name, dom->uuid, now);

	if (dl == NULL || !s->connected)
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

static enum shim_fence_outcome outcome_of(struct shim *s, const struct shim_job *job)
{
	const char *name = refname(&job->ref);
	uint64_t late = fdm_now_boottime_ms() - job->deadline_ms;

	switch (job->result) {
	case FDM__RESULT_CODE__RESULT_OK:
		if (!job->was_running)
			fdm_info("deadline of %s passed: not running, nothing to do", name);
		return SHIM_FENCE_OFF;
	case FDM__RESULT_CODE__RESULT_NOT_FOUND:
		fdm_info("deadline of %s passed: no such domain here, nothing to do", name);
		return SHIM_FENCE_OFF;
	case FDM__RESULT_CODE__RESULT_DISCONNECTED:
		/* Runs again from shim_fence_on_connected(). */
		fdm_err("POWER-OFF NOT DONE for %s, its deadline passed %" PRIu64 " ms ago: "
			"%s; again once libvirt is back", name, late, job->message);
		return SHIM_FENCE_LIBVIRT_AWAY;
	default:
		s->counters[SHIM_C_FENCE_FAILED]++;
		fdm_err("POWER-OFF FAILED for %s, its deadline passed %" PRIu64 " ms ago: %s; "
			"retrying in %d ms", name, late, job->message, SHIM_FENCE_RETRY_MS);
		return SHIM_FENCE_FAILED;
	}
}

void shim_fence_done(struct shim *s, struct shim_job *job)
{
	enum shim_fence_outcome outcome = outcome_of(s, job);

	if (outcome == SHIM_FENCE_OFF && job->was_running)
		fenced(s, job);
	shim_deadlines_fence_result(&s->dl, &job->ref, outcome, fdm_now_boottime_ms());
	shim_fence_rearm(s);
}

int shim_fence_install(struct shim *s, const char *name, const char *uuid, uint64_t t)
{
	struct shim_domref ref;
	int rc;

	memset(&ref, 0, sizeof(ref));
	fdm_strlcpy(ref.name, name, sizeof(ref.name));
	fdm_strlcpy(ref.uuid, uuid, sizeof(ref.uuid));
	rc = shim_deadlines_put(&s->dl, &ref, t, fdm_now_boottime_ms());
	if (rc < 0)
		return rc;
	fdm_info("deadline of %s set with its power-on", name);
	shim_fence_persist(s);
	shim_fence_rearm(s);
	return 0;
}

/* Version 1 kept every shim of a directory in one hostd-shim.state: take it
 * over once, so an upgrade forgets no deadline. */
static void migrate(struct shim *s)
{
	char legacy[PATH_MAX], note[3 * PATH_MAX];
	int rc;

	if (!shim_state_legacy_path(s->cfg.hostd_socket, legacy, sizeof(legacy)))
		return;
	rc = shim_state_migrate(legacy, s->state_path, s->boot_id, note, sizeof(note));
	if (rc > 0)
		fdm_info("state migrated: %s", note);
	else if (rc < 0)
		fdm_err("OLD STATE FILE NOT MIGRATED: %s", note);
}

static void load(struct shim *s)
{
	char err[2 * PATH_MAX + 256], aside[PATH_MAX + 16];

	switch (shim_state_load(s->state_path, s->boot_id, &s->dl, err, sizeof(err))) {
	case SHIM_STATE_NONE:
		return;
	case SHIM_STATE_LOADED:
		fdm_info("state %s: %zu deadlines, %zu fenced not yet reported", s->state_path,
			 s->dl.n, s->dl.n_fenced);
		return;
	case SHIM_STATE_OTHER_BOOT:
		/* The machine rebooted: every QEMU of that boot is gone, and fdm,
		 * finding no deadlines, starts from its own evidence (DESIGN.md 5). */
		fdm_warn("STATE OF ANOTHER BOOT DROPPED: %s", err);
		shim_fence_persist(s);
		return;
	case SHIM_STATE_CORRUPT:
		/* Kept for the post-mortem; the next save writes a fresh file. fdm,
		 * finding no deadlines here, powers its VMs off itself (DESIGN.md 5). */
		snprintf(aside, sizeof(aside), "%s.corrupt", s->state_path);
		rename(s->state_path, aside);
		fdm_err("STATE FILE IGNORED: %s: starting with no deadlines (kept as %s)",
			err, aside);
		return;
	}
}

int shim_fence_init(struct shim *s)
{
	int rc;

	shim_deadlines_init(&s->dl);
	migrate(s);
	load(s);
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
