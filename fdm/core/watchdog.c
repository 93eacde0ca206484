/* When the agent may pet /dev/watchdog (DESIGN.md safety point 5): only while
 * every deadline of a protected VM that runs here is still ahead, its own and
 * those inherited from before its start; and for how long: the earliest of
 * them, so that an agent that dies leaves a watchdog that fires no later than
 * that deadline + the margin (hostd-shim powers the VMs off first). A VM whose deadline passed and that
 * still runs (QEMU stuck in uninterruptible I/O, a power-off that keeps
 * failing) or a hung agent stops the petting, and the watchdog resets the
 * host before any master can restart the VM elsewhere. A power-off that
 * completed takes the VM out of what runs here, and the petting goes on. */
#include "fdm/core/deadline.h"

#include <string.h>

#include "fdm/core/core.h"

static const struct fdm_vm *protected_vm(const struct fdm_core *c, const char *name)
{
	for (size_t i = 0; i < c->ha.n_vms; i++)
		if (c->ha.vms[i].used && strcmp(c->ha.vms[i].name, name) == 0)
			return &c->ha.vms[i];
	return NULL;
}

uint64_t fdm_deadline_watchdog_until(const struct fdm_core *c, uint64_t now)
{
	uint64_t until = UINT64_MAX;

	for (size_t i = 0; i < c->ha.n_vms; i++) {
		const struct fdm_vm *v = &c->ha.vms[i];
		uint64_t at;

		if (!v->used || v->ds < 0 || (size_t)v->ds >= c->n_datastores ||
		    !fdm_ha_reported_here(c, v->name))
			continue;
		at = fdm_deadline_of(c, (size_t)v->ds);
		if (now >= at)
			return 0;
		until = at < until ? at : until;
	}
	/* Inherited: until our own list covers the VM (deadline_inherit.c). */
	for (size_t i = 0; i < c->n_inherited; i++) {
		const struct fdm_inherited_deadline *e = &c->inherited[i];
		const struct fdm_vm *v = protected_vm(c, e->name);

		if (!fdm_ha_reported_here(c, e->name) || (v != NULL && v->ds >= 0) ||
		    fdm_deadline_known_unprotected(c, e->name))
			continue;
		if (now >= e->deadline_ms)
			return 0;
		until = e->deadline_ms < until ? e->deadline_ms : until;
	}
	return until;
}
