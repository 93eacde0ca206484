/* The deadlines a restarted agent starts from (DESIGN.md safety point 5). It
 * knows none of its predecessor's writes, so it keeps handing hostd-shim the
 * deadlines the shim held at its start, VM by VM, until its own evidence covers
 * that VM (then deadline.c's value, counted only from evidence since this
 * start, replaces it), or until every datastore's protectedlist has been read
 * since the start without naming it (no longer protected). Without this, a
 * restart that cannot read a VM's datastore would hand the shim a list without
 * that VM and lift its deadline: the simulator's mode fencing found the double
 * start. */
#include "fdm/core/deadline.h"

#include <stdio.h>
#include <string.h>

#include "fdm/core/core.h"
#include "lib/util.h"

void fdm_core_inherit_deadlines(struct fdm_core *c, const struct fdm_vm_deadline *v, size_t n,
				uint64_t now, struct fdm_actions *out)
{
	uint64_t earliest = 0;

	c->n_inherited = 0;
	for (size_t i = 0; i < n && c->n_inherited < FDM_MAX_VMS; i++) {
		struct fdm_inherited_deadline *e = &c->inherited[c->n_inherited];

		if (v[i].name[0] == '\0' || v[i].deadline_ms == 0)
			continue;
		fdm_strlcpy(e->name, v[i].name, sizeof(e->name));
		e->deadline_ms = v[i].deadline_ms;
#ifdef FDM_MUTANT_ASSUME_WRITE
		/* Mutant: its start taken for a storage write, the shim's deadline
		 * extended from it (the model's assume-write). */
		e->deadline_ms = now + c->timing.host_dead_ms - c->timing.deadline_margin_ms;
#endif
		c->n_inherited++;
		if (earliest == 0 || v[i].deadline_ms < earliest)
			earliest = v[i].deadline_ms;
	}
	if (c->n_inherited == 0)
		return;
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "deadlines-inherited" },
		       "%s: hostd-shim holds %zu deadline(s) from before this start, the "
		       "earliest %s %.1f s: kept until evidence since this start covers "
		       "each VM", c->peers[c->self].id, c->n_inherited,
		       earliest > now ? "in" : "passed", earliest > now ?
		       (double)(earliest - now) / 1000.0 : (double)(now - earliest) / 1000.0);
}

static bool is_protected(const struct fdm_core *c, const char *name)
{
	for (size_t i = 0; i < c->ha.n_vms; i++)
		if (c->ha.vms[i].used && strcmp(c->ha.vms[i].name, name) == 0)
			return true;
	return false;
}

/* Every datastore's VM list read since our start, and none names the VM. */
bool fdm_deadline_known_unprotected(const struct fdm_core *c, const char *name)
{
	for (size_t d = 0; d < c->n_datastores; d++)
		if (!c->ha.ds[d].listed)
			return false;
	return !is_protected(c, name);
}

static bool listed(const struct fdm_vm_deadline *out, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(out[i].name, name) == 0)
			return true;
	return false;
}

size_t fdm_deadline_add_inherited(const struct fdm_core *c, struct fdm_vm_deadline *out,
				  size_t n, size_t max)
{
	size_t own = n;

	for (size_t i = 0; i < c->n_inherited && n < max; i++) {
		const struct fdm_inherited_deadline *e = &c->inherited[i];

		if (listed(out, own, e->name) || fdm_deadline_known_unprotected(c, e->name))
			continue;
		fdm_strlcpy(out[n].name, e->name, sizeof(out[n].name));
		out[n].ds = -1;
		out[n].deadline_ms = e->deadline_ms;
		n++;
	}
	return n;
}

bool fdm_deadline_inherited_passed(const struct fdm_core *c, const char *name, uint64_t now)
{
	for (size_t i = 0; i < c->n_inherited; i++)
		if (strcmp(c->inherited[i].name, name) == 0)
			return now >= c->inherited[i].deadline_ms;
	return false;
}

