/* The master's view of hosts cut off from it (DESIGN.md "Roles and states",
 * safety point 4): a host not heard on the network whose hb record on some
 * datastore still changes is alive: `isolated` when its poweron record says so,
 * else `partitioned`. The VMs its isolation response powered off, said by a
 * poweron record that echoes the current lease generation and restart count
 * (the point-2 rule, restart.c), are `isolated-off` until they run again. */
#include "fdm/core/core.h"

#include "fdm/core/restart.h"

enum fdm_host_state fdm_isoresp_host_state(const struct fdm_core *c, size_t i, uint64_t now)
{
	/* The master reads every hb record every io; a live writer changes it as
	 * often: three io_timeouts without a change is no longer alive. */
	uint64_t window = 3 * (uint64_t)c->timing.io_timeout_ms;
	bool alive = false, isolated = false;

	if (i >= c->n_peers || i == c->self)
		return FDM_HS_UNREACHABLE;
	for (size_t d = 0; d < c->n_datastores; d++) {
		const struct fdm_ha_host *h = &c->ha.hosts[i];

		/* A change we saw: a record we found once (a host that never ran
		 * has an empty one) proves no writer. */
		if (!h->ds[d].changed || h->ds[d].unchanged_since_ms + window <= now)
			continue;
		alive = true;
		isolated |= h->ds[d].poweron_isolated;
	}
	if (!alive)
		return FDM_HS_UNREACHABLE;
	return isolated ? FDM_HS_ISOLATED : FDM_HS_PARTITIONED;
}

void fdm_isolated_off_note(const struct fdm_core *c, struct fdm_vm *v,
			   const struct fdm_runs_report *r)
{
	if (r->poweron && r->poweron_isolated_off && !r->poweron_runs &&
	    r->poweron_generation == c->ds[v->ds].lease.mine.generation &&
	    r->poweron_restarts == v->restarts)
		v->isolated_off = true;
}

void fdm_isolated_off_show(struct fdm_vm *v)
{
	if (v->isolated_off &&
	    (v->state == FDM_VM_RESTART_PENDING || v->state == FDM_VM_RESTARTING))
		v->state = FDM_VM_ISOLATED_OFF;
}
