/* The scripted schedules of the storage-faults rules (issues 17 and 18:
 * deadlines, the master's hand-over, isolation), after the abstract model's
 * modes of the same names (../shared/model/fdm_model.py): the master loses one
 * datastore (mds), a paused host reads stale heartbeats at resume (stale), the
 * whole network goes out (netout), an isolated master releases, then loses
 * its storage (isomaster). Hosts are named when the event is applied
 * (SIM_MASTER, SIM_SLAVE, SIM_SAME): the master is known only then. */
#include "tests/sim/sim.h"

void sim_sched_off_fails(struct sim_schedule *s, struct sim_rng *rng, uint64_t at, int h)
{
	sim_schedule_add(s, at, EV_SHIM_OFF_FAIL, h, 0, 1);
	sim_schedule_add(s, at + sim_between(rng, 1000, 20000), EV_SHIM_OFF_FAIL, h, 0, 0);
}

/* The master loses ONE datastore, one where it runs a VM, for 60 s at any
 * phase of its renewals (the first 2 io): half the schedules read-only (its
 * writes fail, its reads work: an export gone read-only), half lost. Every
 * other host reaches it; the network is whole. Nothing may be powered off, and
 * another master must hold it within sim_handover_bound (check_storage.c). */
void sim_sched_mds(struct sim_schedule *s, struct sim_rng *rng)
{
	uint64_t at = sim_between(rng, 0, 4000);

	s->fault_ms = at + 60000 + sim_between(rng, 1000, 5000);
	s->w.storage_ms_max = sim_between(rng, 2, 100);
	s->w.delay_max_ms = (unsigned)sim_between(rng, 0, 20);
	sim_schedule_add(s, at, EV_DS_LOSE, SIM_MASTER, -1, sim_chance(rng, 50));
	sim_schedule_add(s, at + 60000, EV_DS_RESTORE, SIM_SAME, -1, 0);
}

/* A host is paused (SIGSTOP) and, 1.1-1.5 s in, loses its network and every
 * datastore; the datagrams that reached its socket before (a heartbeat a
 * second) wait there, and it reads them at resume. Its links stay cut until
 * the heal. Half the schedules pause a slave for 8-11 s: the queued master
 * heartbeats echo one it sent before the pause, and it must count their
 * bounds from that send time, not from their receipt (the model's
 * receive-time), or it keeps its VMs past their restart. Half pause the
 * master for 11-16 s: the queued slave heartbeats echo master heartbeats sent
 * before the pause, and an echo counts as heard at its send time, not at its
 * receipt (the model's slave-now). Power-offs may fail meanwhile (the shim,
 * then the watchdog). */
void sim_sched_stale(struct sim_schedule *s, struct sim_rng *rng)
{
	bool master = sim_chance(rng, 50);
	uint64_t len = master ? sim_between(rng, 11000, 16000) : sim_between(rng, 8000, 11000);
	uint64_t cut = sim_between(rng, 1100, 1500);

	s->fault_ms = sim_between(rng, 40000, 60000);
	s->w.storage_ms_max = sim_between(rng, 2, 50);
	s->w.delay_max_ms = (unsigned)sim_between(rng, 0, 20);
	sim_schedule_add(s, 0, EV_PAUSE, master ? SIM_MASTER : SIM_SLAVE, 0, 0);
	sim_schedule_add(s, cut, EV_LINK_DOWN, SIM_SAME, 0, 0);
	for (int ds = 0; ds < 3; ds++)
		sim_schedule_add(s, cut, EV_DS_LOSE, SIM_SAME, ds, 0);
	sim_schedule_add(s, len, EV_RESUME, SIM_SAME, 0, 0);
	if (sim_chance(rng, 50))
		sim_sched_off_fails(s, rng, len - sim_between(rng, 0, 3000), SIM_SAME);
}

/* The whole network goes out for 10-120 s (every host's link down), storage
 * whole, every host up: nothing may be powered off or on, and no lease may be
 * acted on once isolation_delay has passed (check_storage.c). Every host is
 * isolated, and three schedules in four configure an isolation response. */
void sim_sched_netout(struct sim_schedule *s, struct sim_rng *rng)
{
	uint64_t len = sim_between(rng, 10000, 120000);

	s->fault_ms = len + sim_between(rng, 1000, 5000);
	s->w.storage_ms_max = sim_between(rng, 2, 100);
	s->w.delay_max_ms = (unsigned)sim_between(rng, 0, 20);
	sim_schedule_add(s, 0, EV_LINK_DOWN, SIM_EVERY, 0, 0);
	sim_schedule_add(s, len, EV_LINK_UP, SIM_EVERY, 0, 0);
	/* Drawn last, so each seed keeps its outage: with a response, no host may
	 * apply it (no master renews), so nothing is powered off still. */
	sim_sched_iso_response(s, rng);
}

/* The master is cut off from the network (its isolation address silent with
 * its link): it stops renewing, finds itself isolated and writes its leases
 * free (DESIGN.md point 4); then, 4-9 s after the cut, it loses every
 * datastore too, for 60 s. The others elect a master that takes the released
 * leases at once and, host_dead after its acquisition, restarts the old
 * master's VMs: the old master must have powered them off by then, counting
 * from its release, not from its last renewal (the model's
 * release-keeps-bound). */
void sim_sched_isomaster(struct sim_schedule *s, struct sim_rng *rng)
{
	uint64_t at = sim_between(rng, 0, 4000);
	uint64_t lose = at + sim_between(rng, 4000, 9000);

	s->fault_ms = lose + 60000 + sim_between(rng, 1000, 5000);
	s->w.storage_ms_max = sim_between(rng, 2, 50);
	s->w.delay_max_ms = (unsigned)sim_between(rng, 0, 20);
	sim_schedule_add(s, at, EV_LINK_DOWN, SIM_MASTER, 0, 0);
	for (int d = 0; d < 3; d++)
		sim_schedule_add(s, lose, EV_DS_LOSE, SIM_SAME, d, 0);
}
