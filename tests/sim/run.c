/* One run: a cluster of real cores on the minicluster, its VMs protected and
 * running, the warm-up, the schedule's events at their times, the heal, then
 * the liveness wait; the checks of check.c after every step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

#define GIB (1024ull * 1024ull)

static const char *const ids[MC_MAX_HOSTS] = { "host-1", "host-2", "host-3", "host-4",
					       "host-5", "host-6", "host-7", "host-8" };

static double rel(const struct sim_run *r)
{
	return ((double)r->mc->now - (double)r->t0) / 1000.0;
}

static void on_log(struct minicluster *mc, size_t host, const char *text)
{
	struct sim_run *r = mc->user;

	if (r->trace)
		printf("%+9.2f %s | %s\n", rel(r), mc->hosts[host].cfg.host_id, text);
}

/* The watchdog reset host h: it is down until the heal boots it. */
static void on_reset(struct minicluster *mc, size_t host)
{
	struct sim_run *r = mc->user;

	r->crashed[host] = true;
	mc->hosts[host].paused = false;
	if (r->trace)
		printf("%+9.2f %s | (watchdog) host reset: a VM outlived its deadline\n", rel(r),
		       mc->hosts[host].cfg.host_id);
}

/* VMs of several priorities and sizes, spread over the three datastores and
 * over the hosts. */
static void add_vms(struct sim_run *r, struct sim_rng *rng)
{
	struct minicluster *mc = r->mc;

	for (size_t v = 0; v < r->sched->n_vms; v++) {
		struct sim_vm *vm = &r->vms[v];

		snprintf(vm->name, sizeof(vm->name), "vm-%02zu", v + 1);
		vm->ds = (int)(v % 3);
		vm->priority = (Fdm__Priority)sim_between(rng, FDM__PRIORITY__PRIORITY_LOWEST,
							  FDM__PRIORITY__PRIORITY_HIGHEST);
		vm->memory_kib = sim_between(rng, 1, 8) * GIB / 2;
		mc_protect(mc, vm->ds, vm->name, vm->priority, vm->memory_kib);
		mc_vm_start(mc, v % mc->n, vm->name);
	}
}

static struct minicluster *cluster(struct sim_run *r)
{
	const struct sim_schedule *s = r->sched;
	unsigned counts[MC_MAX_HOSTS];
	struct minicluster *mc;
	struct sim_rng rng = { s->seed ^ 0x5eed };

	for (size_t h = 0; h < s->n_hosts; h++)
		counts[h] = 3;
	mc = mc_new(ids, counts, s->n_hosts, (uint32_t)(s->seed * 2654435761u) | 1);
	r->mc = mc;
	mc->user = r;
	mc->io_hook = sim_io_hook;
	mc->on_step = sim_check_step;
	mc->on_power_on = sim_check_power_on;
	mc->on_power_off = sim_check_power_off;
	mc->on_log = on_log;
	mc->on_reset = on_reset;
	/* The watchdog resets a host whose VM outlives its deadline by half the
	 * margin (a power-off that keeps failing): shorter than the margin. */
	mc->watchdog_ms = s->no_watchdog ? 0 : mc->timing.deadline_margin_ms / 2;
	mc->guests_ignore_shutdown = s->guests_ignore_shutdown;
	for (size_t h = 0; h < s->n_hosts; h++) {
		struct mc_host *host = &mc->hosts[h];

		/* Retries every 1 s doubling (instead of 2 min), many of them: the
		 * schedule stays short and no VM ends `failed` while a host could
		 * run it. */
		host->cfg.max_attempts = 10;
		host->cfg.retry_first_gap_ms = 1000;
		host->cfg.host_failures_tolerated = 1;
		host->drift_ppm = s->drift_ppm[h];
		host->list_every_ms = 1000;
		host->cfg.isolation_response = s->iso_response;
		host->cfg.shutdown_timeout_s = s->shutdown_timeout_s;
		mc_start(mc, h);
		mc_shim_on(mc, h, 64 * GIB, 64 * GIB);
	}
	add_vms(r, &rng);
	return mc;
}

static void apply_due(struct sim_run *r)
{
	const struct sim_schedule *s = r->sched;
	char buf[256];

	while (r->next_ev < s->n_ev && r->t0 + s->ev[r->next_ev].at <= r->mc->now) {
		const struct sim_event *e = &s->ev[r->next_ev];

		if (s->on[r->next_ev]) {
			sim_apply(r, e);
			if (e->kind == EV_SHIM_FAIL && e->arg)
				r->power_on_failed = true;
			if (r->trace) {
				sim_ev_print(s, e, buf, sizeof(buf));
				printf("%+9.2f ==== %s%s%s\n", rel(r), buf,
				       e->a < 0 && r->applied_host >= 0 ? " = " : "",
				       e->a < 0 && r->applied_host >= 0
					       ? r->mc->hosts[r->applied_host].cfg.host_id : "");
			}
		}
		r->next_ev++;
	}
}

/* What every master thinks of every VM, for a failure's trace. */
static void dump_masters(const struct sim_run *r)
{
	for (size_t h = 0; h < r->mc->n; h++) {
		struct fdm_core *c = &r->mc->hosts[h].core;

		if (!r->mc->hosts[h].up || c->role != FDM_ROLE_MASTER)
			continue;
		for (size_t v = 0; v < r->sched->n_vms; v++) {
			const struct fdm_vm *vm = fdm_ha_find(c, r->vms[v].name);

			if (vm == NULL)
				continue;
			printf("          master %s: %s %s host %d order %d%s restarts %u: %s\n",
			       c->peers[h].id, vm->name, fdm_vm_state_name(vm->state), vm->host,
			       vm->order_host, vm->order_sent ? " sent" : "", vm->restarts,
			       vm->waiting);
		}
	}
}

static void weather_on(struct sim_run *r)
{
	const struct sim_weather *w = &r->sched->w;

	r->mc->loss_pct = w->loss_pct;
	r->mc->dup_pct = w->dup_pct;
	r->mc->delay_max_ms = w->delay_max_ms;
}

bool sim_run_schedule(const struct sim_schedule *s, bool trace, struct sim_run *r)
{
	struct minicluster *mc;
	uint64_t heal_at, live_since = 0;
	char why[SIM_VIOLATION_MAX] = "";

	memset(r, 0, sizeof(*r));
	r->sched = s;
	r->trace = trace;
	r->io_rng.s = s->seed * 0x9e3779b97f4a7c15ull + 17;
	r->t0 = MC_EPOCH + SIM_WARMUP_MS;
	r->st.host = -1;
	sim_plot_init(r);
	mc = cluster(r);
	mc_run(mc, SIM_WARMUP_MS);
	if (r->vio == VIO_NONE && !sim_live(r, why, sizeof(why)))
		sim_violate(r, VIO_NO_MASTER, "not settled after the warm-up: %s", why);
	weather_on(r);
	heal_at = r->t0 + s->fault_ms;
	while (r->vio == VIO_NONE) {
		apply_due(r);
		if (!r->healed && mc->now >= heal_at) {
			sim_heal(r);
			if (trace)
				printf("%+9.2f ==== heal%s\n", rel(r),
				       s->heal_all ? ": every host, the network and storage" : "");
		}
		mc_run(mc, MC_STEP_MS);
		sim_faults_step(r);
		if (!r->healed)
			continue;
		if (sim_live(r, why, sizeof(why))) {
			if (live_since == 0) {
				live_since = mc->now;
				r->liveness_took = mc->now - heal_at;
			}
			if (mc->now >= live_since + SIM_SETTLE_MS)
				break;
			continue;
		}
		live_since = 0;
		if (mc->now > heal_at + sim_liveness_bound(r))
			sim_violate(r, strstr(why, "master") ? VIO_NO_MASTER : VIO_NOT_RUNNING,
				    "%.1f s after the heal (bound %.1f s): %s",
				    (double)(mc->now - heal_at) / 1000.0,
				    (double)sim_liveness_bound(r) / 1000.0, why);
	}
	if (trace && r->vio != VIO_NONE) {
		printf("%+9.2f !!!! %s: %s\n", rel(r), sim_violation_name(r->vio), r->vio_text);
		dump_masters(r);
	}
	mc_free(mc);
	r->mc = NULL;
	return r->vio == VIO_NONE;
}
