/* The isolation response of this host (DESIGN.md safety point 4). A host that has
 * heard no peer for isolation_delay, and whose probe round begun after it stopped
 * hearing them got no answer (isolation.c), declares itself isolated. Per
 * datastore d it then powers off (or shuts down) the protected VMs homed on d
 * that run here, but only once two reads of d's lease record, both issued after
 * the declaration, name the same other host and differ: a master elsewhere holds
 * d and still renews it, so it can restart them. In a whole-network outage no
 * master renews (isolation.c pauses, then releases), so nothing is powered off.
 * What it powered off goes into its poweron record on d (isolated_off), which
 * lets the master restart it elsewhere (restart.c). */
#include "fdm/core/core.h"

#include <stdio.h>
#include <string.h>

#include "lib/util.h"

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

void fdm_isoresp_configure(struct fdm_core *c, const struct fdm_config *cfg)
{
	c->iso.response = cfg->isolation_response;
	c->iso.shutdown_timeout_ms = cfg->shutdown_timeout_s * 1000u;
	/* A reload may renumber datastores: renewals are proven again (safe: it
	 * only delays the response by two reads). */
	memset(c->iso.ds, 0, sizeof(c->iso.ds));
}

/* The last authenticated packet of any peer; our start when none was heard. */
static uint64_t last_heard(const struct fdm_core *c)
{
	uint64_t last = c->born_ms;

	for (size_t i = 0; i < c->n_peers; i++)
		if (i != c->self && c->peers[i].ever_heard && c->peers[i].last_heard_ms > last)
			last = c->peers[i].last_heard_ms;
	return last;
}

/* No peer heard for isolation_delay, and the probe says nobody answers. */
static bool isolated_now(const struct fdm_core *c, uint64_t now)
{
	return fdm_core_isolated(c, now) &&
	       now >= last_heard(c) + c->timing.isolation_delay_ms;
}

void fdm_isoresp_lease_read(struct fdm_core *c, size_t d, uint64_t issued,
			    const struct fdm_lease_view *view, uint64_t now,
			    struct fdm_actions *out)
{
	struct fdm_isoresp_ds *s;
	const char *owner;
	bool other;

	if (!c->iso.isolated || d >= c->n_datastores || issued < c->iso.since_ms ||
	    view == NULL || view->kind != FDM_LEASE_VIEW_VALID)
		return;
	s = &c->iso.ds[d];
	owner = view->rec.owner;
	other = owner[0] != '\0' && strcmp(owner, self_id(c)) != 0;
	/* A release writes the record free, an acquisition writes a new owner:
	 * neither is a master still renewing. */
	if (s->renewed_ms == 0 && s->have_prev && other && strcmp(s->prev_owner, owner) == 0 &&
	    s->prev_fingerprint != view->fingerprint) {
		s->renewed_ms = now;
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "isolation-lease-renewed",
				.datastore = c->datastore_names[d], .peer = owner },
			       "%s: isolated, and %s still renews the lease of %s: it can restart "
			       "the VMs homed there", self_id(c), owner, c->datastore_names[d]);
	}
	s->have_prev = true;
	s->prev_fingerprint = view->fingerprint;
	fdm_strlcpy(s->prev_owner, owner, sizeof(s->prev_owner));
}

static void declare(struct fdm_core *c, bool isolated, uint64_t now, struct fdm_actions *out)
{
	struct fdm_action *a;

	c->iso.isolated = isolated;
	c->iso.since_ms = now;
	memset(c->iso.ds, 0, sizeof(c->iso.ds));
	if (!isolated) {
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "isolation-ended" },
			       "%s: no longer isolated (%s)", self_id(c),
			       now < last_heard(c) + c->timing.isolation_delay_ms ?
			       "a peer is heard" : "an isolation address answers");
		return;
	}
	a = fdm_core_event(out, &(struct fdm_log_fields){ .event = "isolated" },
			   "%s: ISOLATED: no peer heard for %llu ms and no isolation address "
			   "answers; isolation response %s, applied per datastore once another "
			   "master is seen renewing its lease", self_id(c),
			   (unsigned long long)(now - last_heard(c)),
			   fdm_isolation_response_name(c->iso.response));
	if (a != NULL)
		a->warning = true;
}

static struct fdm_isoresp_vm *entry(struct fdm_core *c, const char *name)
{
	for (size_t i = 0; i < c->iso.n_vms; i++)
		if (strcmp(c->iso.vms[i].name, name) == 0)
			return &c->iso.vms[i];
	return NULL;
}

bool fdm_isoresp_took(const struct fdm_core *c, const char *name)
{
	for (size_t i = 0; i < c->iso.n_vms; i++)
		if (strcmp(c->iso.vms[i].name, name) == 0)
			return true;
	return false;
}

/* Ask the shim: a guest shutdown first (response shutdown), then power-off
 * once shutdown_timeout_s has passed; power-off again every io_timeout while it
 * runs (a failed power-off). */
static void ask(struct fdm_core *c, struct fdm_isoresp_vm *e, uint64_t now,
		struct fdm_actions *out)
{
	bool shutdown = c->iso.response == FDM_ISO_SHUTDOWN;
	uint64_t shut_until = e->first_ms + c->iso.shutdown_timeout_ms + c->timing.io_timeout_ms;
	struct fdm_action *a;

	if (e->asked_ms != 0 && now < e->asked_ms + c->timing.io_timeout_ms)
		return;
	if (shutdown && e->asked_ms != 0 && now < shut_until)
		return;   /* the shim powers it off itself at the timeout */
	a = fdm_core_action(out, FDM_ACT_POWER_OFF);
	if (a == NULL)
		return;
	a->ds = e->ds;
	fdm_strlcpy(a->vm, e->name, sizeof(a->vm));
	if (shutdown && e->asked_ms == 0)
		a->shutdown_ms = c->iso.shutdown_timeout_ms;
	e->asked_ms = now;
}

/* The protected VMs homed on d that run here: the response. */
static void respond(struct fdm_core *c, size_t d, uint64_t now, struct fdm_actions *out)
{
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		const struct fdm_vm *v = &c->ha.vms[i];
		struct fdm_isoresp_vm *e;
		struct fdm_action *a;

		if (!v->used || v->ds != (int)d || !fdm_ha_runs_here(c, v->name))
			continue;
		e = entry(c, v->name);
		if (e == NULL) {
			if (c->iso.n_vms == FDM_MAX_VMS)
				continue;
			e = &c->iso.vms[c->iso.n_vms++];
			memset(e, 0, sizeof(*e));
			fdm_strlcpy(e->name, v->name, sizeof(e->name));
			e->ds = (int)d;
			e->first_ms = now;
			a = fdm_core_event(out, &(struct fdm_log_fields){
					.event = "isolation-response", .vm = v->name,
					.datastore = c->datastore_names[d] },
				"%s: isolated: %s vm %s (another master holds the lease of %s "
				"and can restart it)", self_id(c),
				c->iso.response == FDM_ISO_SHUTDOWN ? "shutting down" : "powering off",
				v->name, c->datastore_names[d]);
			if (a != NULL)
				a->warning = true;
		}
		e->off = false;
		ask(c, e, now, out);
	}
}

/* A VM the response took is off once a listing taken after the last ask
 * lacks it. The list is forgotten once a peer is heard again: the master
 * then has our network reports, which say what runs here now. */
static void follow_up(struct fdm_core *c)
{
	size_t keep = 0;
	uint64_t heard = last_heard(c);

	for (size_t i = 0; i < c->iso.n_vms; i++) {
		struct fdm_isoresp_vm *e = &c->iso.vms[i];

		if (!c->iso.isolated && heard > e->first_ms)
			continue;
		e->off = c->ha.local_connected && c->ha.local_listed_ms > e->asked_ms &&
			 !fdm_ha_runs_here(c, e->name);
		c->iso.vms[keep++] = *e;
	}
	c->iso.n_vms = keep;
}

void fdm_isoresp_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	bool isolated = c->n_peers >= 2 && !c->leaving && isolated_now(c, now);

	if (isolated != c->iso.isolated)
		declare(c, isolated, now, out);
	follow_up(c);
	if (!c->iso.isolated || c->iso.response == FDM_ISO_NONE)
		return;
	for (size_t d = 0; d < c->n_datastores; d++) {
		/* The mutants (unit tests, simulator) skip the live holder's proof. */
#if !defined(FDM_MUTANT_ISOLATION_NO_RENEWAL_CHECK) && !defined(FDM_MUTANT_ISO_NO_LIVE_HOLDER)
		if (c->iso.ds[d].renewed_ms == 0)
			continue;
#endif
		respond(c, d, now, out);
	}
}

void fdm_isoresp_poweron(const struct fdm_core *c, int d, struct fdm_poweron_out *out)
{
	out->isolated = c->iso.isolated;
	out->n_isolated_off = 0;
	for (size_t i = 0; i < c->iso.n_vms; i++) {
		const struct fdm_isoresp_vm *e = &c->iso.vms[i];

		if (e->ds == d && e->off && !fdm_ha_runs_here(c, e->name))
			out->isolated_off[out->n_isolated_off++] = e->name;
	}
}
