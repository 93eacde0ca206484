/* Request dispatch and replies (requests.h). Requests that need libvirt become
 * jobs on the ops pool; the deadline requests (set, clean stop, fenced, get)
 * and stats are answered at once on the main loop, connected or not.
 * A power-on is two jobs: define, then (once the deadline is checked and
 * installed here, on the main loop, with the name and UUID libvirt gave) start. */
#include "hostd-shim/requests.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "hostd-shim/shutdown.h"

void shim_dom_to_pb(const struct shim_dom *d, Fdm__DomainInfo *pb)
{
	fdm__domain_info__init(pb);
	pb->name = (char *)d->name;
	pb->uuid = (char *)d->uuid;
	pb->state = d->state;
	pb->has_memory_kib = true;
	pb->memory_kib = d->memory_kib;
	pb->has_vcpus = true;
	pb->vcpus = d->vcpus;
	pb->has_persistent = true;
	pb->persistent = d->persistent;
	pb->has_stop_reason = d->has_stop_reason;
	pb->stop_reason = d->stop_reason;
}

void shim_reply_result(struct shim_client *c, uint64_t id, Fdm__ResultCode code,
		       const char *msg)
{
	Fdm__ShimReply r = FDM__SHIM_REPLY__INIT;

	r.id = id;
	r.result = code;
	r.message = (char *)msg;
	shim_send_reply(c, &r);
}

static void bad_fields(struct shim_client *c, uint64_t id, const char *why)
{
	c->shim->counters[SHIM_C_BAD_FIELDS]++;
	fdm_info("client %llu: request %" PRIu64 ": %s", (unsigned long long)c->serial, id, why);
	shim_reply_result(c, id, FDM__RESULT_CODE__RESULT_BAD_REQUEST, why);
}

static void submit(struct shim_client *c, struct shim_job *job)
{
	if (job == NULL) {
		shim_reply_result(c, 0, FDM__RESULT_CODE__RESULT_ERROR, "out of memory");
		return;
	}
	job->client = c;
	c->refs++;
	c->inflight++;
	shim_pool_submit(&c->shim->ops_pool, &job->pj);
}

static void with_domain(struct shim_client *c, uint64_t id, enum shim_op op,
			const Fdm__DomainRef *ref, uint32_t timeout_ms)
{
	struct shim_job *job;
	char why[128];
	struct shim_domref r;

	if (!shim_domref_from_pb(&r, ref, why, sizeof(why))) {
		bad_fields(c, id, why);
		return;
	}
	job = shim_job_new(op, NULL, id);
	if (job != NULL) {
		job->ref = r;
		job->timeout_ms = timeout_ms;
	}
	submit(c, job);
}

static void power_on(struct shim_client *c, uint64_t id, const Fdm__PowerOnRequest *p)
{
	uint64_t now = fdm_now_boottime_ms();
	struct shim_job *job;
	char msg[128];

	if (p->xml[0] == '\0') {
		bad_fields(c, id, "power_on: empty domain XML");
		return;
	}
	if (p->has_deadline_boottime_ms && p->deadline_boottime_ms <= now) {
		snprintf(msg, sizeof(msg), "deadline passed %" PRIu64 " ms ago: not started",
			 now - p->deadline_boottime_ms);
		shim_reply_result(c, id, FDM__RESULT_CODE__RESULT_DEADLINE_PASSED, msg);
		return;
	}
	job = shim_job_new(SHIM_OP_DEFINE, NULL, id);
	if (job != NULL) {
		job->xml = strdup(p->xml);
		job->has_deadline = p->has_deadline_boottime_ms;
		job->deadline_ms = p->deadline_boottime_ms;
		if (job->xml == NULL) {
			shim_job_free(job);
			job = NULL;
		}
	}
	submit(c, job);
}

/* Answer a request that changed the deadlines: OK, or ERROR when they could
 * not be saved (they are enforced all the same while this shim runs). */
static void reply_saved(struct shim_client *c, uint64_t id, const char *done)
{
	struct shim *s = c->shim;
	char msg[sizeof(s->state_err) + 160];

	if (!s->state_unsaved) {
		shim_reply_result(c, id, FDM__RESULT_CODE__RESULT_OK, done);
		return;
	}
	snprintf(msg, sizeof(msg), "%s, enforced but NOT SAVED (a restart of the shim would "
		 "forget them): %s", done, s->state_err);
	shim_reply_result(c, id, FDM__RESULT_CODE__RESULT_ERROR, msg);
}

static size_t in_force(const struct shim_deadlines *d, uint64_t now)
{
	size_t i, n = 0;

	for (i = 0; i < d->n; i++)
		n += shim_deadline_in_force(&d->v[i], now);
	return n;
}

static void set_deadlines(struct shim_client *c, uint64_t id, const Fdm__SetDeadlinesRequest *r)
{
	struct shim *s = c->shim;
	uint64_t now = fdm_now_boottime_ms();
	unsigned changed;
	char why[SHIM_NAME_MAX + 64], msg[128];

	if (shim_deadlines_replace(&s->dl, r->deadlines, r->n_deadlines, now, &changed,
				   why, sizeof(why)) < 0) {
		bad_fields(c, id, why);
		return;
	}
	/* fdm refreshes every step: log only when the protected set changes. */
	if (changed & SHIM_DL_MEMBERS)
		fdm_info("deadlines: %zu protected domains (client %llu)", s->dl.n,
			 (unsigned long long)c->serial);
	/* After a failed save, every request tries again until one succeeds. */
	if ((changed & SHIM_DL_VALUES) || s->state_unsaved)
		shim_fence_persist(s);
	shim_fence_rearm(s);
	if (changed & SHIM_DL_HELD)
		snprintf(msg, sizeof(msg), "%zu deadlines held; %zu passed, in force until "
			 "their domains are off", s->dl.n, in_force(&s->dl, now));
	else
		snprintf(msg, sizeof(msg), "%zu deadlines held", s->dl.n);
	reply_saved(c, id, msg);
}

static void clean_stop(struct shim_client *c, uint64_t id)
{
	struct shim *s = c->shim;
	size_t before = s->dl.n, kept;
	char msg[128];

	kept = shim_deadlines_clear(&s->dl, fdm_now_boottime_ms());
	fdm_info("clean stop (client %llu): forgetting %zu deadlines, domains keep running; "
		 "%zu passed stay in force until their domains are off",
		 (unsigned long long)c->serial, before - kept, kept);
	shim_fence_persist(s);
	shim_fence_rearm(s);
	if (kept > 0)
		snprintf(msg, sizeof(msg), "deadlines cleared but %zu passed: in force until "
			 "their domains are off", kept);
	else
		snprintf(msg, sizeof(msg), "deadlines cleared");
	reply_saved(c, id, msg);
}

/* FencedRequest and GetDeadlinesRequest: one reply from the protected set. */
static void reply_deadlines(struct shim_client *c, uint64_t id, bool fenced)
{
	struct shim *s = c->shim;
	Fdm__ShimReply r = FDM__SHIM_REPLY__INIT;
	struct shim_deadlines_pb pb;

	if (shim_deadlines_to_pb(&s->dl, &pb) < 0) {
		shim_reply_result(c, id, FDM__RESULT_CODE__RESULT_ERROR, "out of memory");
		return;
	}
	r.id = id;
	r.result = FDM__RESULT_CODE__RESULT_OK;
	if (fenced) {
		r.message = "fenced since last asked";
		r.n_fenced = pb.n_fenced;
		r.fenced = pb.fenced;
	} else {
		r.message = "deadlines held";
		r.n_deadlines = pb.n;
		r.deadlines = pb.deadlines;
	}
	shim_send_reply(c, &r);
	shim_deadlines_pb_free(&pb);
	/* Reported: forget them (the reply is queued; a client that dies before
	 * reading it still sees the domains off in the list). */
	if (fenced && s->dl.n_fenced > 0) {
		free(s->dl.fenced);
		s->dl.fenced = NULL;
		s->dl.n_fenced = 0;
		shim_fence_persist(s);
	}
}

static void stats(struct shim_client *c, uint64_t id)
{
	struct shim *s = c->shim;
	Fdm__ShimReply r = FDM__SHIM_REPLY__INIT;
	const struct {
		const char *name;
		uint64_t value;
	} gauges[] = {
		{ "clients", s->n_clients },
		{ "deadlines", s->dl.n },
		{ "deadlines_in_force", in_force(&s->dl, fdm_now_boottime_ms()) },
		{ "state_unsaved", s->state_unsaved },
		{ "libvirt_connected", s->connected },
	};
	enum { N_GAUGES = sizeof(gauges) / sizeof(gauges[0]) };
	Fdm__Counter cs[SHIM_C_COUNT + N_GAUGES];
	Fdm__Counter *cp[SHIM_C_COUNT + N_GAUGES];
	size_t i, n = 0;

	for (i = 0; i < SHIM_C_COUNT; i++, n++) {
		fdm__counter__init(&cs[n]);
		cs[n].name = (char *)shim_counter_name((enum shim_counter)i);
		cs[n].value = s->counters[i];
		cp[n] = &cs[n];
	}
	/* Gauges, after the counters. */
	for (i = 0; i < N_GAUGES; i++, n++) {
		fdm__counter__init(&cs[n]);
		cs[n].name = (char *)gauges[i].name;
		cs[n].value = gauges[i].value;
		cp[n] = &cs[n];
	}
	r.id = id;
	r.result = FDM__RESULT_CODE__RESULT_OK;
	r.message = "counters";
	r.n_counters = n;
	r.counters = cp;
	shim_send_reply(c, &r);
}

void shim_request_dispatch(struct shim_client *c, const Fdm__ShimRequest *req)
{
	uint64_t id = req->id;

	switch (req->op_case) {
	case FDM__SHIM_REQUEST__OP_LIST_DOMAINS:
		submit(c, shim_job_new(SHIM_OP_LIST, NULL, id));
		break;
	case FDM__SHIM_REQUEST__OP_POWER_ON:
		power_on(c, id, req->power_on);
		break;
	case FDM__SHIM_REQUEST__OP_POWER_OFF:
		with_domain(c, id, SHIM_OP_DESTROY, req->power_off->domain, 0);
		break;
	case FDM__SHIM_REQUEST__OP_SHUTDOWN:
		with_domain(c, id, SHIM_OP_SHUTDOWN, req->shutdown->domain,
			    req->shutdown->timeout_ms);
		break;
	case FDM__SHIM_REQUEST__OP_UNDEFINE:
		with_domain(c, id, SHIM_OP_UNDEFINE, req->undefine->domain, 0);
		break;
	case FDM__SHIM_REQUEST__OP_HOST_RESOURCES:
		submit(c, shim_job_new(SHIM_OP_RESOURCES, NULL, id));
		break;
	case FDM__SHIM_REQUEST__OP_SUBSCRIBE:
		shim_slots_subscribe(c);
		shim_reply_result(c, id, FDM__RESULT_CODE__RESULT_OK,
				  c->shim->connected ? "subscribed; libvirt connected"
						     : "subscribed; libvirt disconnected");
		break;
	case FDM__SHIM_REQUEST__OP_SET_DEADLINES:
		set_deadlines(c, id, req->set_deadlines);
		break;
	case FDM__SHIM_REQUEST__OP_CLEAN_STOP:
		clean_stop(c, id);
		break;
	case FDM__SHIM_REQUEST__OP_FENCED:
		reply_deadlines(c, id, true);
		break;
	case FDM__SHIM_REQUEST__OP_GET_DEADLINES:
		reply_deadlines(c, id, false);
		break;
	case FDM__SHIM_REQUEST__OP_STATS:
		stats(c, id);
		break;
	case FDM__SHIM_REQUEST__OP_GET_DOMAIN_XML:
		with_domain(c, id, SHIM_OP_GET_XML, req->get_domain_xml->domain, 0);
		break;
	default:
		c->shim->counters[SHIM_C_BAD_NO_OP]++;
		shim_reply_result(c, id, FDM__RESULT_CODE__RESULT_BAD_REQUEST,
				  "request names no operation this shim knows");
		break;
	}
}

/* ------------------------------------------------------------ job results */

static void reply_job(struct shim_client *c, struct shim_job *job)
{
	Fdm__ShimReply r = FDM__SHIM_REPLY__INIT;
	Fdm__DomainInfo one, *list = NULL, **lp = NULL;
	Fdm__HostResources res = FDM__HOST_RESOURCES__INIT;
	int i;

	r.id = job->req_id;
	r.result = job->result;
	r.message = job->message;
	if (job->has_dom) {
		shim_dom_to_pb(&job->dom, &one);
		r.domain = &one;
	}
	if (job->op == SHIM_OP_LIST && job->n_doms > 0) {
		list = calloc((size_t)job->n_doms, sizeof(*list));
		lp = calloc((size_t)job->n_doms, sizeof(*lp));
		for (i = 0; list != NULL && lp != NULL && i < job->n_doms; i++) {
			shim_dom_to_pb(&job->doms[i], &list[i]);
			lp[i] = &list[i];
		}
		if (list != NULL && lp != NULL) {
			r.n_domains = (size_t)job->n_doms;
			r.domains = lp;
		}
	}
	if (job->op == SHIM_OP_RESOURCES && job->result == FDM__RESULT_CODE__RESULT_OK) {
		res.total_memory_kib = job->total_kib;
		res.free_memory_kib = job->free_kib;
		res.cpus = job->cpus;
		res.has_running_memory_kib = true;
		res.running_memory_kib = job->running_kib;
		res.has_running_domains = true;
		res.running_domains = job->running_domains;
		res.has_host_free_memory_kib = true;
		res.host_free_memory_kib = job->host_free_kib;
		r.resources = &res;
	}
	if (job->op == SHIM_OP_SHUTDOWN_FORCE) {
		r.has_forced = true;
		r.forced = job->was_running;
	}
	if (job->op == SHIM_OP_GET_XML && job->result == FDM__RESULT_CODE__RESULT_OK)
		r.xml = job->xml;
	shim_send_reply(c, &r);
	free(list);
	free(lp);
}

/* Define done: check the deadline against the domain libvirt named, install
 * it, then start. false when the job was answered here (refused or failed). */
static bool power_on_defined(struct shim *s, struct shim_job *job)
{
	uint64_t now = fdm_now_boottime_ms();
	struct shim_deadline *held;
	char msg[SHIM_NAME_MAX + 96];

	if (job->result != FDM__RESULT_CODE__RESULT_OK)
		return false;
	held = shim_deadlines_find(&s->dl, job->dom.name, job->dom.uuid);
	if (job->has_deadline && job->deadline_ms <= now) {
		snprintf(msg, sizeof(msg), "%s: deadline passed %" PRIu64
			 " ms ago (while defining): not started", job->dom.name,
			 now - job->deadline_ms);
	} else if (held != NULL && shim_deadline_in_force(held, now)) {
		snprintf(msg, sizeof(msg), "%s: its protection deadline passed %" PRIu64
			 " ms ago and it is not seen off yet: not started", job->dom.name,
			 now - held->boottime_ms);
	} else if (!job->has_deadline && held != NULL && held->boottime_ms <= now) {
		snprintf(msg, sizeof(msg), "%s: its protection deadline passed %" PRIu64
			 " ms ago: not started", job->dom.name, now - held->boottime_ms);
	} else {
		int rc = job->has_deadline ? shim_fence_install(s, job->dom.name, job->dom.uuid,
								job->deadline_ms) : 0;

		if (rc < 0) {
			job->result = rc == -2 ? FDM__RESULT_CODE__RESULT_DEADLINE_PASSED
					       : FDM__RESULT_CODE__RESULT_ERROR;
			snprintf(job->message, sizeof(job->message), "%s: %s", job->dom.name,
				 rc == -2 ? "its passed deadline is in force: not started"
					  : "cannot hold its deadline (too many)");
			return false;
		}
		job->op = SHIM_OP_START;
		fdm_strlcpy(job->ref.name, job->dom.name, sizeof(job->ref.name));
		fdm_strlcpy(job->ref.uuid, job->dom.uuid, sizeof(job->ref.uuid));
		shim_pool_submit(&s->ops_pool, &job->pj);
		return true;
	}
	job->result = FDM__RESULT_CODE__RESULT_DEADLINE_PASSED;
	fdm_strlcpy(job->message, msg, sizeof(job->message));
	return false;
}

void shim_job_done(struct shim *s, struct shim_job *job)
{
	struct shim_client *c = job->client;

	if (job->op == SHIM_OP_FENCE) {
		shim_fence_done(s, job);
		shim_job_free(job);
		return;
	}
	if (job->op == SHIM_OP_DEFINE && power_on_defined(s, job))
		return;   /* resubmitted as the start */
	if (job->op == SHIM_OP_SHUTDOWN && shim_shutdown_wait(s, job)) {
		shim_job_free(job);
		return;
	}
	if (job->result != FDM__RESULT_CODE__RESULT_OK)
		fdm_info("client %llu: request %" PRIu64 ": %s", (unsigned long long)c->serial,
			 job->req_id, job->message);
	reply_job(c, job);
	shim_client_job_finished(c);
	shim_client_unref(c);
	shim_job_free(job);
}
