/* The invariants, checked after every step (DESIGN.md "What the simulator
 * proves"):
 *  - safety: no VM runs on two hosts; no datastore lease has two acting holders
 *    at one instant of real time (each holder judged on its own clock); no VM
 *    is ordered powered on while another live host runs it;
 *  - no needless harm (mode blip: storage out, every host up, network whole):
 *    nothing is restarted at all;
 *  - liveness, after the faults heal: within sim_liveness_bound every VM runs
 *    on exactly one host and every live host agrees on one master.
 * The first violation of a run is kept (sim_violate). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tests/sim/sim.h"

static const char *const vio_names[] = {
	[VIO_NONE] = "none",
	[VIO_DOUBLE_RUN] = "double-run",
	[VIO_TWO_ACTORS] = "two-lease-actors",
	[VIO_RESTART_WHILE_RUNS] = "restart-while-running",
	[VIO_NEEDLESS_RESTART] = "needless-restart",
	[VIO_NOT_RUNNING] = "not-running-after-heal",
	[VIO_NO_MASTER] = "no-master-after-heal",
	[VIO_NEEDLESS_POWER_OFF] = "needless-power-off",
	[VIO_NO_HANDOVER] = "no-handover",
	[VIO_ISOLATED_ACTOR] = "isolated-lease-actor",
	[VIO_STOPPED_POWER_OFF] = "stopped-host-power-off",
	[VIO_NOT_SHOWN_ISOLATED] = "not-shown-isolated",
	[VIO_NOT_RESTARTED] = "isolated-vm-not-restarted",
	[VIO_PAST_HANDED_DEADLINE] = "past-handed-deadline",
};

const char *sim_violation_name(enum sim_violation v)
{
	return vio_names[v];
}

void sim_violate(struct sim_run *r, enum sim_violation v, const char *fmt, ...)
{
	va_list ap;

	if (r->vio != VIO_NONE)
		return;
	r->vio = v;
	r->vio_at = r->mc->now;
	va_start(ap, fmt);
	vsnprintf(r->vio_text, sizeof(r->vio_text), fmt, ap);
	va_end(ap);
}

static bool has_vm(const struct mc_host *h, const char *name)
{
	for (size_t i = 0; i < h->n_vms; i++)
		if (strcmp(h->vms[i], name) == 0)
			return true;
	return false;
}

/* Hosts where the VM runs: whatever its agent's state (killed, paused). A
 * crashed host runs nothing (mc_kill). */
static size_t runs_on(const struct sim_run *r, const char *name, int *first, int *second)
{
	size_t n = 0;

	*first = *second = -1;
	for (size_t h = 0; h < r->mc->n; h++) {
		if (r->crashed[h] || !has_vm(&r->mc->hosts[h], name))
			continue;
		if (n == 0)
			*first = (int)h;
		else if (n == 1)
			*second = (int)h;
		n++;
	}
	return n;
}

static const char *id(const struct sim_run *r, int h)
{
	return h >= 0 ? r->mc->hosts[h].cfg.host_id : "-";
}

void sim_check_step(struct minicluster *mc)
{
	struct sim_run *r = mc->user;
	int a, b;

	r->steps++;
	for (size_t v = 0; v < r->sched->n_vms; v++)
		if (runs_on(r, r->vms[v].name, &a, &b) > 1)
			sim_violate(r, VIO_DOUBLE_RUN, "%s runs on %s and on %s", r->vms[v].name,
				    id(r, a), id(r, b));
	for (int d = 0; d < 3; d++) {
		if (mc_lease_actor(mc, d) != -2)
			continue;
		a = b = -1;
		for (size_t h = 0; h < mc->n; h++)
			if (mc->hosts[h].up &&
			    fdm_lease_acting(&mc->hosts[h].core.ds[d].lease, mc_clock(mc, h))) {
				if (a < 0)
					a = (int)h;
				else
					b = (int)h;
			}
		sim_violate(r, VIO_TWO_ACTORS, "ds%d: %s and %s both act as its lease holder",
			    d + 1, id(r, a), id(r, b));
	}
	sim_check_storage_step(r);
	sim_check_iso_step(r);
}

void sim_check_power_on(struct minicluster *mc, size_t host, const char *vm)
{
	struct sim_run *r = mc->user;
	int a, b;

	if (r->trace)
		printf("%+9.2f %s | (shim) power-on of %s ordered\n",
		       ((double)mc->now - (double)r->t0) / 1000.0, id(r, (int)host), vm);
	if (r->sched->mode == MODE_BLIP && mc->now >= r->t0) {
		sim_violate(r, VIO_NEEDLESS_RESTART, "%s powered on on %s during a storage blip "
			    "with every host up and the network whole", vm, id(r, (int)host));
		return;
	}
	sim_check_storage_power_on(r, host, vm);
	sim_check_iso_power(r, host, vm, true);
	runs_on(r, vm, &a, &b);
	if (a == (int)host)
		a = b;
	if (a >= 0)
		sim_violate(r, VIO_RESTART_WHILE_RUNS, "%s ordered on %s while %s (alive) runs it",
			    vm, id(r, (int)host), id(r, a));
}

bool sim_live(struct sim_run *r, char *why, size_t len)
{
	int a, b;

	for (size_t v = 0; v < r->sched->n_vms; v++) {
		size_t n = runs_on(r, r->vms[v].name, &a, &b);

		if (n != 1) {
			snprintf(why, len, "%s runs on %zu hosts", r->vms[v].name, n);
			return false;
		}
	}
	if (mc_agreed_master(r->mc) < 0) {
		snprintf(why, len, "the live hosts agree on no master");
		return false;
	}
	return true;
}

/* After the heal: an election (a few heartbeats), a lease taken afresh (its
 * expiry, then the 2 x io claim wait), the dead verdict (host_dead from that
 * acquisition), the restart count written and the power-on done (a few io);
 * and, when a power-on was refused meanwhile, the retry gap pending at the heal
 * (doubling from 1 s: at most the fault phase + 1 s). */
uint64_t sim_liveness_bound(const struct sim_run *r)
{
	const struct fdm_timing *t = &r->mc->timing;
	uint64_t b = t->host_dead_ms + t->lease_expiry_ms + 6 * (uint64_t)t->io_timeout_ms + 5000;

	if (r->power_on_failed)
		b += r->sched->fault_ms + 1000;
	return b;
}
