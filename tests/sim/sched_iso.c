/* The scripted schedules of issue 19 (DESIGN.md points 4 and 5): a slave whose
 * cluster link alone is cut, storage fine, applies its isolation response and
 * the master restarts what it powered off (isoslave); a host cut from the
 * network and from its storage whose agent is then killed, restarted or paused
 * while its VMs run (cutkill): its shim must power them off by the deadline the
 * old agent handed it, and a restarted agent must not extend it from its start.
 * The isolation response itself is drawn for netout too (sched_storage.c). */
#include "tests/sim/sim.h"

/* Every host's [isolation] response: none a quarter of the time, shutdown a
 * quarter (guests that ignore it half of those: the power-off at
 * shutdown_timeout_s stops them), poweroff half. */
void sim_sched_iso_response(struct sim_schedule *s, struct sim_rng *rng)
{
	unsigned k = (unsigned)sim_between(rng, 0, 3);

	s->iso_response = k == 0 ? FDM_ISO_NONE : k == 1 ? FDM_ISO_SHUTDOWN : FDM_ISO_POWEROFF;
	s->shutdown_timeout_s = (unsigned)sim_between(rng, 2, 20);
	s->guests_ignore_shutdown = sim_chance(rng, 50);
}

/* A slave's link goes down (its isolation address with it) for 15-70 s, storage
 * whole, every host up: it finds itself isolated, sees the master renew its
 * leases and applies its response; the master shows it isolated and restarts
 * what it powered off elsewhere (check_iso.c). Its shim's power-offs fail for a
 * while in 30 % of the schedules. */
void sim_sched_isoslave(struct sim_schedule *s, struct sim_rng *rng)
{
	uint64_t at = sim_between(rng, 0, 4000);
	uint64_t len = sim_between(rng, 15000, 70000);

	s->fault_ms = at + len + sim_between(rng, 1000, 5000);
	s->w.storage_ms_max = sim_between(rng, 2, 100);
	s->w.delay_max_ms = (unsigned)sim_between(rng, 0, 20);
	sim_sched_iso_response(s, rng);
	sim_schedule_add(s, at, EV_LINK_DOWN, SIM_SLAVE, 0, 0);
	sim_schedule_add(s, at + len, EV_LINK_UP, SIM_SAME, 0, 0);
	if (sim_chance(rng, 30))
		sim_sched_off_fails(s, rng, at + sim_between(rng, 0, 12000), SIM_SAME);
}

/* A slave (the master a quarter of the time) loses its link and every
 * datastore (half the schedules: they turn read-only for it, so a restarted
 * agent reads its protectedlist and knows its VMs, but no hb write of its
 * lands); 0.5-9 s later, while its VMs still run and before its deadline, its
 * agent is killed and started again 0.3-3 s later, still cut off (half the
 * schedules: the model's assume-write), killed for good (a quarter) or paused
 * for 15-40 s (a quarter: a plain ping watchdog's case). Hosts without
 * /dev/watchdog: the shim alone must stop the VMs in time. With read-only
 * storage the host sees the master renew, so an isolation response would
 * power its VMs off before any deadline: none is configured there. */
void sim_sched_cutkill(struct sim_schedule *s, struct sim_rng *rng)
{
	uint64_t cut = sim_between(rng, 0, 3000);
	uint64_t at = cut + sim_between(rng, 500, 9000);
	unsigned how = (unsigned)sim_between(rng, 0, 3);
	bool ro = sim_chance(rng, 50);

	s->fault_ms = cut + sim_between(rng, 35000, 60000);
	s->w.storage_ms_max = sim_between(rng, 2, 100);
	s->w.delay_max_ms = (unsigned)sim_between(rng, 0, 20);
	s->no_watchdog = true;
	sim_sched_iso_response(s, rng);
	if (ro)
		s->iso_response = FDM_ISO_NONE;
	sim_schedule_add(s, cut, EV_LINK_DOWN, sim_chance(rng, 25) ? SIM_MASTER : SIM_SLAVE, 0, 0);
	for (int d = 0; d < 3; d++)
		sim_schedule_add(s, cut, EV_DS_LOSE, SIM_SAME, d, ro);
	if (how == 3) {
		sim_schedule_add(s, at, EV_PAUSE, SIM_SAME, 0, 0);
		sim_schedule_add(s, at + sim_between(rng, 15000, 40000), EV_RESUME, SIM_SAME, 0, 0);
		return;
	}
	sim_schedule_add(s, at, EV_AGENT_KILL, SIM_SAME, 0, 0);
	if (how <= 1)
		sim_schedule_add(s, at + sim_between(rng, 300, 3000), EV_AGENT_START, SIM_SAME, 0, 0);
}
