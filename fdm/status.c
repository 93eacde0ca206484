/* The agent's answers to `fdmctl status` and `fdmctl events`, as the JSON of
 * INTERFACE.md. Read-only views of the agent: field names here are a contract
 * that users and the acceptance tests depend on. */
#include "fdm/agent.h"

#include <string.h>

#include "fdm/core/deadline.h"
#include "fdm/status_vms.h"
#include "lib/util.h"

static json_object *string_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_object_new_string(s) : NULL;
}

/* INTERFACE.md role: master|slave|election|isolated|uninitialized. */
static const char *role_json(const struct fdm_core *c)
{
	if (c->iso.isolated)
		return "isolated";   /* DESIGN.md point 4 (isolation_response.c) */
	return fdm_role_name(c->role);
}

static json_object *datastore_list(const struct fdm_core *c, uint32_t mask)
{
	json_object *arr = json_object_new_array();

	for (size_t d = 0; d < c->n_datastores; d++)
		if (mask & (1u << d))
			json_object_array_add(arr, json_object_new_string(c->datastore_names[d]));
	return arr;
}


/* Datastore d counts for the master's dead verdicts: we are master and hold it. */
static bool verdict_ds(const struct fdm_core *c, size_t d)
{
	return c->role == FDM_ROLE_MASTER && c->ha.ds[d].lease_acquired_ms != 0;
}

/* The master's dead verdicts on host i: the datastores it is dead for (of those
 * whose lease we hold). */
static json_object *dead_for(const struct fdm_core *c, size_t i)
{
	json_object *arr = json_object_new_array();

	for (size_t d = 0; d < c->n_datastores; d++)
		if (verdict_ds(c, d) && c->ha.hosts[i].ds[d].dead)
			json_object_array_add(arr, json_object_new_string(c->datastore_names[d]));
	return arr;
}

/* Dead for every datastore whose lease we hold (and we hold one). */
static bool dead_everywhere(const struct fdm_core *c, size_t i)
{
	size_t held = 0, dead = 0;

	for (size_t d = 0; d < c->n_datastores; d++) {
		if (!verdict_ds(c, d))
			continue;
		held++;
		dead += c->ha.hosts[i].ds[d].dead;
	}
	return held > 0 && dead == held;
}

/* The state `fdmctl hosts` shows: this host is init-error while another agent
 * writes as it (storage.c); unreachable and dead for every datastore we hold
 * is dead (DESIGN.md "Roles and states"; dead_for lists each verdict). */
enum fdm_host_state fdm_status_host_state(const struct fdm_core *c, size_t i)
{
	if (c->peers[i].self)
		return c->impostor_reason[0] != '\0' ? FDM_HS_INIT_ERROR : c->peers[i].state;
	if (c->peers[i].state == FDM_HS_UNREACHABLE && dead_everywhere(c, i))
		return FDM_HS_DEAD;
	return c->peers[i].state;
}

static json_object *hosts_json(const struct fdm_agent *a, uint64_t now)
{
	const struct fdm_core *c = &a->core;
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < c->n_peers; i++) {
		json_object *h = json_object_new_object();
		uint32_t age = fdm_core_heartbeat_age(c, i, now);
		char why[FDM_LOG_MAX];
		const char *reason = fdm_core_host_reason(c, i, now, why, sizeof(why));

		/* Not heard by us as master: the verdict and why (dead or not yet). */
		if (reason == NULL && fdm_ha_verdict_reason(c, i, now, why, sizeof(why)))
			reason = why;

		json_object_object_add(h, "id", json_object_new_string(c->peers[i].id));
		json_object_object_add(h, "address", json_object_new_string(a->cfg.peers[i].address));
		json_object *dead = c->peers[i].self ? json_object_new_array() : dead_for(c, i);
		enum fdm_host_state st = fdm_status_host_state(c, i);

		json_object_object_add(h, "state", json_object_new_string(fdm_host_state_name(st)));
		json_object_object_add(h, "dead_for", dead);
		if (c->peers[i].self && c->impostor_reason[0] != '\0')
			json_object_object_add(h, "reason",
					       json_object_new_string(c->impostor_reason));
		json_object_object_add(h, "heartbeat_age_ms",
				       age == UINT32_MAX ? NULL : json_object_new_int64(age));
		json_object_object_add(h, "datastores",
				       datastore_list(c, fdm_core_host_datastores(c, i)));
		/* Why it is in that state, where there is more to say (init-error). */
		if (reason != NULL)
			json_object_object_add(h, "reason", json_object_new_string(reason));
		json_object_array_add(arr, h);
	}
	return arr;
}

/* How long the protected VMs homed on d that run here may still run (0: its
 * deadline passed, they are being powered off); null when none runs here. */
static json_object *deadline_json(const struct fdm_core *c, size_t d, uint64_t now)
{
	uint64_t at;

	if (!fdm_deadline_applies(c, d))
		return NULL;
	at = fdm_deadline_of(c, d);
	return json_object_new_int64(at > now ? (int64_t)(at - now) : 0);
}

/* lock_holder: the owner named by this host's last read of the lease record
 * (null: free, never written, or not read yet); heartbeat: this host's last
 * storage heartbeat write there succeeded; state: reachable, unreachable,
 * uninitialized (no identity record: INTERFACE.md) or unknown (no answer yet),
 * with the backend's reason while it is down. */
static json_object *datastores_json(const struct fdm_agent *a, uint64_t now)
{
	json_object *arr = json_object_new_array();

	for (size_t d = 0; d < a->cfg.n_datastores; d++) {
		const struct fdm_core_ds *s = &a->core.ds[d];
		json_object *o = json_object_new_object();
		struct fdm_dsio_stats st;

		fdm_datastores_stats(&a->datastores, d, &st);
		json_object_object_add(o, "name", json_object_new_string(a->cfg.datastores[d].name));
		json_object_object_add(o, "url", json_object_new_string(a->cfg.datastores[d].url));
		json_object_object_add(o, "reachable", json_object_new_boolean(s->reachable));
		json_object_object_add(o, "state", json_object_new_string(fdm_ds_state_name(s->state)));
		json_object_object_add(o, "reason", string_or_null(s->why));
		json_object_object_add(o, "lock_holder", string_or_null(fdm_lease_last_owner(&s->lease)));
		json_object_object_add(o, "heartbeat", json_object_new_boolean(s->hb_written));
		json_object_object_add(o, "deadline_ms", deadline_json(&a->core, d, now));
		json_object_object_add(o, "lease", json_object_new_string(
			fdm_lease_state_name(s->lease.state)));
		json_object_object_add(o, "acting", json_object_new_boolean(
			fdm_lease_acting(&s->lease, now)));
		json_object_object_add(o, "io_timeouts", json_object_new_int64((int64_t)st.timed_out));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* A core time (CLOCK_BOOTTIME ms) as an age in ms and a wall-clock time. */
static void add_time(json_object *o, const char *age_key, const char *at_key, uint64_t t,
		     uint64_t now)
{
	uint64_t age = now >= t ? now - t : 0;

	json_object_object_add(o, age_key, json_object_new_int64((int64_t)age));
	json_object_object_add(o, at_key, json_object_new_int64((int64_t)(fdm_now_unix_ms() - age)));
}

/* The last master hand-over (yield, merge, isolated release); NULL: none. */
static json_object *handover_json(const struct fdm_core *c, uint64_t now)
{
	const struct fdm_handover *h = &c->handover;
	json_object *o;

	if (h->kind == FDM_HANDOVER_NONE)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string(fdm_handover_kind_name(h->kind)));
	add_time(o, "age_ms", "at_unix_ms", h->at_ms, now);
	json_object_object_add(o, "from", json_object_new_string(h->from));
	json_object_object_add(o, "to", h->to[0] ? json_object_new_string(h->to) : NULL);
	json_object_object_add(o, "why", json_object_new_string(h->why));
	return o;
}

static json_object *election_json(const struct fdm_core *c, uint64_t now)
{
	const struct fdm_election_record *r = c->current.valid ? &c->current : &c->last;
	json_object *o = json_object_new_object();
	json_object *bids = json_object_new_array();

	json_object_object_add(o, "handover", handover_json(c, now));
	if (!r->valid && r->decided_ms == 0) {
		json_object_object_add(o, "state", json_object_new_string("none yet"));
		json_object_put(bids);
		return o;
	}
	json_object_object_add(o, "state",
			       json_object_new_string(c->current.valid ? "in progress" : "decided"));
	json_object_object_add(o, "reason", json_object_new_string(r->reason));
	add_time(o, "started_age_ms", "started_unix_ms", r->started_ms, now);
	if (r->decided_ms != 0) {
		json_object_object_add(o, "duration_ms",
				       json_object_new_int64((int64_t)(r->decided_ms - r->started_ms)));
		json_object_object_add(o, "term", json_object_new_int64((int64_t)r->term));
		json_object_object_add(o, "winner", json_object_new_string(r->winner));
	}
	for (size_t i = 0; i < r->n_bids; i++) {
		json_object *b = json_object_new_object();

		json_object_object_add(b, "host", json_object_new_string(r->bids[i].host));
		json_object_object_add(b, "datastores",
				       json_object_new_int64(r->bids[i].datastores));
		json_object_object_add(b, "term", json_object_new_int64((int64_t)r->bids[i].term));
		json_object_array_add(bids, b);
	}
	json_object_object_add(o, "bids", bids);
	return o;
}

static json_object *dropped_json(const struct fdm_net *n)
{
	json_object *o = json_object_new_object();

	for (int d = FDM_DROP_NONE + 1; d < FDM_DROP_COUNT; d++)
		json_object_object_add(o, fdm_drop_name((enum fdm_drop)d),
				       json_object_new_int64((int64_t)n->dropped[d]));
	return o;
}

json_object *fdm_status_json(const struct fdm_agent *a, uint64_t now)
{
	const struct fdm_core *c = &a->core;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "cluster", json_object_new_string(a->cfg.cluster_id));
	json_object_object_add(o, "host", json_object_new_string(a->cfg.host_id));
	json_object_object_add(o, "role", json_object_new_string(role_json(c)));
	json_object_object_add(o, "master",
			       string_or_null(c->master >= 0 ? c->peers[c->master].id : NULL));
	json_object_object_add(o, "term", json_object_new_int64((int64_t)c->term));
	json_object_object_add(o, "uptime_ms", json_object_new_int64((int64_t)(now - a->started_ms)));
	json_object_object_add(o, "hosts", hosts_json(a, now));
	json_object_object_add(o, "datastores", datastores_json(a, now));
	fdm_status_vms(c, now, o);   /* "vms", "vms_view", "capacity" */
	json_object_object_add(o, "election", election_json(c, now));
	json_object_object_add(o, "dropped", dropped_json(&a->net));
	return o;
}

json_object *fdm_events_json(const struct fdm_agent *a, uint64_t now, uint64_t since_ms)
{
	json_object *o = json_object_new_object();
	json_object *arr = json_object_new_array();
	size_t first = (a->events_next + FDM_EVENTS_MAX - a->events_count) % FDM_EVENTS_MAX;

	for (size_t k = 0; k < a->events_count; k++) {
		const struct fdm_event_line *e = &a->events[(first + k) % FDM_EVENTS_MAX];
		json_object *ev;

		if (since_ms != 0 && now - e->boot_ms > since_ms)
			continue;
		ev = json_object_new_object();
		json_object_object_add(ev, "unix_ms", json_object_new_int64((int64_t)e->unix_ms));
		json_object_object_add(ev, "age_ms", json_object_new_int64((int64_t)(now - e->boot_ms)));
		json_object_object_add(ev, "text", json_object_new_string(e->text));
		json_object_array_add(arr, ev);
	}
	json_object_object_add(o, "events", arr);
	return o;
}
