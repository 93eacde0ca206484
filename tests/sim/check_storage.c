/* The invariants of the storage-faults rules (DESIGN.md points 3-5, "What the
 * simulator proves"), on top of check.c's:
 *  - mds (the master loses one datastore the others reach): nothing powered
 *    off or on, and another master acts as that datastore's lease holder
 *    within sim_handover_bound;
 *  - netout (every link down, storage whole, every host up): nothing powered
 *    off or on, and once isolation_delay has passed no host acts as any
 *    datastore's lease holder (point 4: an isolated master releases, a lone
 *    host takes none);
 *  - a clean stop: its VMs run on (its shim powers off only what had passed
 *    its deadline before the agent exited); check.c's restart-while-running
 *    says whether one was restarted while its agent was away. */
#include <stdio.h>
#include <string.h>

#include "tests/sim/sim.h"

/* The master's datastore fails at L. Its next renewal is issued within
 * lease_renew and fails within io; it yields once its renewals have failed for
 * 2 io and a heartbeat more, to a slave whose report is fresh (one heartbeat
 * more); the slaves elect within 3 election windows and a heartbeat (the
 * yield's silence). The new master reads the lease (io), sees it unchanged for
 * lease_expiry (the old master can no longer renew it, nor release it), writes
 * its claim (io), waits the claim wait and reads again (io). 1 s / 2 s: 32 s
 * (the model's mds allows 40 s). */
uint64_t sim_handover_bound(const struct fdm_timing *t)
{
	uint64_t io = t->io_timeout_ms, hb = t->heartbeat_interval_ms;

	return t->lease_renew_ms + io                 /* the first failed renewal */
	       + 2 * io + hb + hb                     /* yield to a better slave */
	       + 3 * (uint64_t)t->election_window_ms + hb   /* the election */
	       + io + t->lease_expiry_ms              /* the new master sees it expire */
	       + io + t->lease_acquire_wait_ms + io;  /* claim, wait, re-read */
}

static bool faulting(const struct sim_run *r)
{
	return r->mc->now >= r->t0 && !r->healed;
}

static void mds_step(struct sim_run *r)
{
	struct minicluster *mc = r->mc;
	const struct sim_storage *st = &r->st;

	if (st->lost_at == 0 || r->st.handed || !faulting(r))
		return;
	for (size_t h = 0; h < mc->n; h++)
		if ((int)h != st->host && mc->hosts[h].up &&
		    mc->hosts[h].core.role == FDM_ROLE_MASTER &&
		    fdm_lease_acting(&mc->hosts[h].core.ds[st->ds].lease, mc_clock(mc, h))) {
			r->st.handed = true;
			r->st.handed_after = mc->now - st->lost_at;
			return;
		}
	if (mc->now >= st->lost_at + sim_handover_bound(&mc->timing))
		sim_violate(r, VIO_NO_HANDOVER, "ds%d, lost by master %s %.1f s ago, is held by "
			    "no other acting master (bound %.1f s)", st->ds + 1,
			    mc->hosts[st->host].cfg.host_id, (double)(mc->now - st->lost_at) / 1000.0,
			    (double)sim_handover_bound(&mc->timing) / 1000.0);
}

/* After isolation_delay of a whole-network outage: the master paused its
 * renewals once it had heard no peer for the heard window, so its acting limit
 * (renewal + lease_acting) passed before; and a host elected alone takes none. */
static void netout_step(struct sim_run *r)
{
	struct minicluster *mc = r->mc;

	if (r->st.out_at == 0 || mc->now < r->st.out_at + mc->timing.isolation_delay_ms)
		return;
	for (size_t h = 0; h < mc->n; h++)
		for (int d = 0; d < 3; d++)
			if (mc->hosts[h].up &&
			    fdm_lease_acting(&mc->hosts[h].core.ds[d].lease, mc_clock(mc, h)))
				sim_violate(r, VIO_ISOLATED_ACTOR, "%s acts as ds%d's lease holder "
					    "%.1f s into a whole-network outage (isolation_delay "
					    "%.1f s)", mc->hosts[h].cfg.host_id, d + 1,
					    (double)(mc->now - r->st.out_at) / 1000.0,
					    (double)mc->timing.isolation_delay_ms / 1000.0);
}

void sim_check_storage_step(struct sim_run *r)
{
	if (r->sched->mode == MODE_MDS)
		mds_step(r);
	if (r->sched->mode == MODE_NETOUT)
		netout_step(r);
}

static int vm_index(const struct sim_run *r, const char *vm)
{
	for (size_t v = 0; v < r->sched->n_vms; v++)
		if (strcmp(r->vms[v].name, vm) == 0)
			return (int)v;
	return -1;
}

void sim_check_stop_exit(struct sim_run *r, size_t host)
{
	const struct mc_host *h = &r->mc->hosts[host];
	uint64_t now = mc_clock(r->mc, host);

	/* What the exiting agent left its shim: passed deadlines, and those of
	 * datastores where its `stopped` record did not land (they keep their
	 * deadline, fdm/core/deadline.c). Every other VM runs on. */
	(void)now;
	r->st.off_ok[host] = 0;
	for (size_t k = 0; k < h->n_deadlines; k++) {
		int v = vm_index(r, h->deadlines[k].name);

		if (v >= 0)
			r->st.off_ok[host] |= 1ull << v;
	}
}

/* A host away after a clean stop (its agent exited, not yet started again). */
static bool away(const struct sim_run *r, size_t h)
{
	return r->st.stopped[h] && !r->st.leaving[h] && !r->mc->hosts[h].up && !r->crashed[h];
}

void sim_check_storage_power_on(struct sim_run *r, size_t host, const char *vm)
{
	enum sim_mode m = r->sched->mode;

	if ((m == MODE_MDS || m == MODE_NETOUT) && faulting(r))
		sim_violate(r, VIO_NEEDLESS_RESTART, "%s powered on on %s during %s", vm,
			    r->mc->hosts[host].cfg.host_id, m == MODE_MDS ?
			    "the master's loss of one datastore" : "a whole-network outage");
	/* A VM that runs on a host stopped cleanly is check.c's restart while it
	 * runs; one its shim powered off at a deadline passed before the stop may
	 * be restarted (its host is dead for that datastore). */
}

void sim_check_storage_power_off(struct sim_run *r, size_t host, const char *vm)
{
	enum sim_mode m = r->sched->mode;
	int v = vm_index(r, vm);

	if ((m == MODE_MDS || m == MODE_NETOUT) && faulting(r))
		sim_violate(r, VIO_NEEDLESS_POWER_OFF, "%s powered off on %s during %s", vm,
			    r->mc->hosts[host].cfg.host_id, m == MODE_MDS ?
			    "the master's loss of one datastore" : "a whole-network outage");
	if (v >= 0 && away(r, host) && !(r->st.off_ok[host] >> v & 1))
		sim_violate(r, VIO_STOPPED_POWER_OFF, "%s powered off on %s, stopped cleanly, "
			    "whose deadline its agent had withdrawn at its exit", vm,
			    r->mc->hosts[host].cfg.host_id);
}
