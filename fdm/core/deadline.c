/* Per-datastore deadlines (DESIGN.md safety point 3, fdm/core/deadline.h): the
 * bounds, the vouches a slave keeps from its master's heartbeats, and the
 * power-off of the protected VMs of a datastore whose deadline passed. Pure.
 *
 * The bounds are the model's (../shared/model/fdm_model.py, safe_until and the
 * 'mhb' delivery), which is the earlier, safer reading of DESIGN.md's sums:
 *   storage        last good hb write on d (issue) + host_dead
 *   same master    send time of our echoed heartbeat + host_dead - io
 *   takeover       master's last renewal of d + lease_expiry + host_dead
 *   every host heard  earliest heard time + 2 x io + host_dead, raising takeover
 * deadline = max(storage, min(same master, takeover), step-down) - margin. */
#include "fdm/core/deadline.h"

#include <stdio.h>
#include <string.h>

#include "fdm/core/core.h"
#include "lib/util.h"

static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t fdm_deadline_network(const struct fdm_timing *t, const struct fdm_vouch *v)
{
	uint64_t takeover, same;

	/* Neither a renewal of d nor every host heard: no network bound for d
	 * (the storage bound alone). */
	if (v->renewal_ms == 0 && !v->full_house)
		return 0;
	/* Another master takes the lease no sooner than lease_expiry after our
	 * master's last renewal, then finds us dead after host_dead. With no
	 * renewal reported (d's lease not held by our master, or released) only
	 * the every-host-heard clause below bounds another master. */
	takeover = v->renewal_ms == 0 ? 0 :
		   v->renewal_ms + t->lease_expiry_ms + t->host_dead_ms;
	/* A host our master heard as its slave at t was no master at t: it must be
	 * elected, take the lease (2 x io) and find us dead. While every other host
	 * has such a t, no other master acts before the earliest + those. */
#ifndef FDM_MUTANT_NO_FULL_HOUSE
	if (v->full_house)
#else
	if (false)
#endif
		takeover = max64(takeover, v->earliest_heard_ms + 2ull * t->io_timeout_ms +
					   t->host_dead_ms);
	if (!v->same_master)
		return takeover;   /* a master bounds its own VMs: it is the same master */
	same = v->echoed_sent_ms + t->host_dead_ms;
	same = same > t->io_timeout_ms ? same - t->io_timeout_ms : 1;
	return min64(same, takeover);
}

uint64_t fdm_deadline_compute(const struct fdm_timing *t, const struct fdm_deadline_in *in)
{
	uint64_t storage = in->hb_ok_ms ? in->hb_ok_ms + t->host_dead_ms : 0;
	uint64_t at = max64(storage, max64(in->network_ms, in->stepdown_ms));

	/* No evidence since our start: a restarted agent knows none of its
	 * predecessor's writes and must not take its start for one (DESIGN.md point
	 * 5, the model's assume-write). It powers its VMs off unless evidence comes
	 * within one io_timeout.
	 * TODO(issue 19): start from the deadlines hostd-shim hands back instead. */
	if (at == 0)
		return in->born_ms + t->io_timeout_ms;
	return at > t->deadline_margin_ms ? at - t->deadline_margin_ms : 1;
}

/* ------------------------------------------------------------ on the core */
uint64_t fdm_deadline_own_renewal(const struct fdm_core *c, size_t d)
{
	const struct fdm_core_ds *ds = &c->ds[d];
	uint64_t r = max64(fdm_lease_last_write_ms(&ds->lease), ds->own_renewal_ms);

	if (c->role != FDM_ROLE_MASTER)
		return 0;
	/* Released: a successor may take it at once, the renewal bounds nothing
	 * (the step-down bound covers it, DESIGN.md "Election"). */
	if (ds->lease_release_ms != 0 && ds->lease_release_ms >= r)
		return 0;
	return r;
}

/* The earliest send time of our master heartbeats that every other configured
 * host echoed as our slave, or false when some host has echoed none. */
static bool earliest_heard(const struct fdm_core *c, uint64_t *earliest)
{
	*earliest = 0;
	if (c->n_peers < 2)
		return false;
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct fdm_peer_state *p = &c->peers[i];
		uint64_t heard = p->heard_sent_ms;
		bool have = p->have_heard;

#ifdef FDM_MUTANT_SLAVE_NOW
		/* Mutant: any packet of a host, at its receipt, taken as its echo as
		 * our slave (the model's slave-now). */
		heard = p->last_heard_ms;
		have = p->ever_heard;
#endif
		if (p->self)
			continue;
		if (!have)
			return false;
		if (*earliest == 0 || heard < *earliest)
			*earliest = heard;
	}
	return true;
}

uint64_t fdm_deadline_full_house(const struct fdm_core *c)
{
	uint64_t earliest;

	if (!earliest_heard(c, &earliest))
		return 0;
	return earliest + 2ull * c->timing.io_timeout_ms + c->timing.host_dead_ms;
}

/* A master's own vouch for d: its last renewal, and the echoes of its slaves. */
static uint64_t master_network(const struct fdm_core *c, size_t d)
{
	struct fdm_vouch v = { .renewal_ms = fdm_deadline_own_renewal(c, d) };

	v.full_house = earliest_heard(c, &v.earliest_heard_ms);
	return fdm_deadline_network(&c->timing, &v);
}

uint64_t fdm_deadline_of(const struct fdm_core *c, size_t d)
{
	const struct fdm_core_ds *ds = &c->ds[d];
	struct fdm_deadline_in in = {
		.born_ms = c->born_ms, .hb_ok_ms = ds->hb_ok_ms,
		.network_ms = ds->net_bound_ms,
		.stepdown_ms = max64(ds->stepdown_bound_ms, ds->stepdown_heard_ms),
	};

	if (c->role == FDM_ROLE_MASTER)
		in.network_ms = max64(in.network_ms, master_network(c, d));
	return fdm_deadline_compute(&c->timing, &in);
}

bool fdm_deadline_passed(const struct fdm_core *c, size_t d, uint64_t now)
{
	uint64_t held;

	if (d >= c->n_datastores)
		return false;
	held = c->ds[d].deadline_held_ms;
	return now >= fdm_deadline_of(c, d) || (held != 0 && now >= held);
}

/* Does a protected VM homed on d run here, as our reports say? */
bool fdm_deadline_applies(const struct fdm_core *c, size_t d)
{
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		const struct fdm_vm *v = &c->ha.vms[i];

		if (v->used && v->ds == (int)d && fdm_ha_reported_here(c, v->name))
			return true;
	}
	return false;
}

size_t fdm_deadline_list(const struct fdm_core *c, struct fdm_vm_deadline *out, size_t max)
{
	uint64_t at[FDM_MAX_DATASTORES];
	size_t n = 0;

	for (size_t d = 0; d < c->n_datastores; d++)
		at[d] = fdm_deadline_of(c, d);
	for (size_t i = 0; i < c->ha.n_vms && n < max; i++) {
		const struct fdm_vm *v = &c->ha.vms[i];

		if (!v->used || v->ds < 0 || (size_t)v->ds >= c->n_datastores ||
		    !fdm_ha_reported_here(c, v->name))
			continue;
		/* A clean stop: once `stopped` is on d, the master restarts none of
		 * d's VMs of ours, and they run on without a deadline (DESIGN.md 5). */
		if (c->leaving && c->ds[v->ds].stop_ok)
			continue;
		fdm_strlcpy(out[n].name, v->name, sizeof(out[n].name));
		out[n].ds = v->ds;
		out[n].deadline_ms = at[v->ds];
		n++;
	}
	return fdm_deadline_add_inherited(c, out, n, max);
}

/* The master's report of host `id` in m, or NULL. */
static const Fdm__HostReport *host_report(const Fdm__MasterHeartbeat *m, const char *id)
{
	for (size_t i = 0; i < m->n_hosts; i++)
		if (m->hosts[i] != NULL && strcmp(m->hosts[i]->host, id) == 0)
			return m->hosts[i];
	return NULL;
}

/* The report of d's lease in master heartbeat m, or NULL. */
static const Fdm__LeaseReport *lease_report(const struct fdm_core *c,
					    const Fdm__MasterHeartbeat *m, size_t d)
{
	for (size_t i = 0; i < m->n_leases; i++)
		if (m->leases[i] != NULL &&
		    fdm_core_datastore_index(c, m->leases[i]->datastore) == (int)d)
			return m->leases[i];
	return NULL;
}

/* The vouch of master heartbeat m, whose echo names our heartbeat sent at base:
 * every other host's heard time, carried to our clock (base + its offset). */
static void vouch_hosts(const struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m,
			uint64_t base, struct fdm_vouch *v)
{
	v->full_house = true;
	for (size_t i = 0; i < c->n_peers; i++) {
		const Fdm__HostReport *h;
		int64_t t;

		if (i == c->self || (int)i == from)
			continue;
		h = host_report(m, c->peers[i].id);
		if (h == NULL || !h->has_heard_offset_ms) {
			v->full_house = false;
			return;
		}
		t = (int64_t)base + h->heard_offset_ms;
		t = t > 0 ? t : 1;
		if (v->earliest_heard_ms == 0 || (uint64_t)t < v->earliest_heard_ms)
			v->earliest_heard_ms = (uint64_t)t;
	}
}

void fdm_deadline_on_master_hb(struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m)
{
	struct fdm_vouch v = { .same_master = true };
	uint64_t base;

	/* Only a heartbeat that echoes one of ours vouches: our send time of the
	 * echoed one is the base every offset counts from (never its receipt). */
	if (m->echo == NULL ||
	    !fdm_core_sent_at(c, m->echo->incarnation, m->echo->seq, &base))
		return;
#ifdef FDM_MUTANT_RECEIVE_TIME
	/* Mutant: offsets counted from the receipt (the model's receive-time). */
	base = c->last_master_hb_ms > c->timing.heard_window_ms ?
	       c->last_master_hb_ms - c->timing.heard_window_ms : base;
#endif
	v.echoed_sent_ms = base;
	vouch_hosts(c, from, m, base, &v);
	for (size_t d = 0; d < c->n_datastores; d++) {
		const Fdm__LeaseReport *l = lease_report(c, m, d);
		uint64_t bound;

		/* A released lease bounds nothing by its renewal: a successor may
		 * take it at once (the every-host-heard clause still holds). */
		v.renewal_ms = 0;
		if (l != NULL && l->held) {
			int64_t r = (int64_t)base + l->last_renewal_offset_ms;

			v.renewal_ms = r > 0 ? (uint64_t)r : 1;
		}
		bound = fdm_deadline_network(&c->timing, &v);
		if (bound == 0)
			continue;
		/* Each vouch is a lower bound on any restart, proven by what it
		 * echoes: a later vouch of another master never shortens it. */
		if (bound > c->ds[d].net_bound_ms) {
			c->ds[d].net_bound_ms = bound;
			fdm_strlcpy(c->ds[d].net_master, c->peers[from].id,
				    sizeof(c->ds[d].net_master));
		}
		c->ds[d].stepdown_bound_ms = 0;   /* a master vouches for us on d again */
		c->ds[d].stepdown_heard_ms = 0;
	}
}

/* "db1, web2" for the log: the protected VMs homed on d that run here. */
static void power_off_all(struct fdm_core *c, size_t d, char *names, size_t len,
			  struct fdm_actions *out)
{
	size_t used = 0;

	names[0] = '\0';
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		const struct fdm_vm *v = &c->ha.vms[i];
		struct fdm_action *a;
		int n;

		if (!v->used || v->ds != (int)d || !fdm_ha_reported_here(c, v->name))
			continue;
		a = fdm_core_action(out, FDM_ACT_POWER_OFF);
		if (a != NULL) {
			a->ds = (int)d;
			fdm_strlcpy(a->vm, v->name, sizeof(a->vm));
		}
		n = snprintf(names + used, len - used, "%s%s", used ? ", " : "", v->name);
		if (n > 0 && (size_t)n < len - used)
			used += (size_t)n;
	}
}

/* "no storage write since 12.0 s ago, master host-1" */
static void evidence_text(const struct fdm_core *c, size_t d, uint64_t now, char *buf,
			  size_t len)
{
	const struct fdm_core_ds *ds = &c->ds[d];
	int n;

	if (ds->hb_ok_ms)
		n = snprintf(buf, len, "last storage write %.1f s ago",
			     (double)(now - ds->hb_ok_ms) / 1000.0);
	else
		n = snprintf(buf, len, "no storage write since start");
	if (n < 0 || (size_t)n >= len)
		return;
	if (ds->net_master[0])
		snprintf(buf + n, len - (size_t)n, ", last vouched for by master %s",
			 ds->net_master);
	else
		snprintf(buf + n, len - (size_t)n, ", never vouched for by a master");
}

void fdm_deadline_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	for (size_t d = 0; d < c->n_datastores; d++) {
		struct fdm_core_ds *ds = &c->ds[d];
		char names[FDM_LOG_MAX / 2], why[FDM_LOG_MAX / 2];
		bool applies = fdm_deadline_applies(c, d);

		/* Kept across a loss of the lease; forgotten with the mastership. */
		ds->own_renewal_ms = fdm_deadline_own_renewal(c, d);
		/* Nothing of d runs here: no deadline to hold. */
		if (!applies)
			ds->deadline_held_ms = 0;

		if (!fdm_deadline_passed(c, d, now)) {
			ds->deadline_held_ms = applies ? fdm_deadline_of(c, d) : 0;
			if (ds->deadline_passed)
				fdm_core_event(out, &(struct fdm_log_fields){ .event = "deadline-renewed",
						.datastore = c->datastore_names[d] },
					       "deadline of %s renewed: its VMs may run here again",
					       c->datastore_names[d]);
			ds->deadline_passed = false;
			continue;
		}
		if (!fdm_deadline_applies(c, d) ||
		    (ds->deadline_passed && now < ds->poweroff_next_ms))
			continue;
		/* Asked again every io_timeout while one still runs (a failed power-off). */
		power_off_all(c, d, names, sizeof(names), out);
		ds->poweroff_next_ms = now + c->timing.io_timeout_ms;
		if (ds->deadline_passed)
			continue;
		ds->deadline_passed = true;
		evidence_text(c, d, now, why, sizeof(why));
		struct fdm_action *a = fdm_core_event(out, &(struct fdm_log_fields){
				.event = "deadline-passed", .datastore = c->datastore_names[d] },
			"deadline of %s passed: powering off %s (%s)", c->datastore_names[d],
			names, why);
		if (a != NULL)
			a->warning = true;
	}
}
