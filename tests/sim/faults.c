/* Faults made real on the minicluster: the schedule's events (hosts, network,
 * storage, shims), the heal at the end of the fault phase, and the storage
 * weather of every I/O (latency, hangs whose writes land late, slow and failed
 * I/O, torn lease writes). */
#include <string.h>

#include "tests/sim/sim.h"

static int master_now(const struct minicluster *mc)
{
	int m = mc_agreed_master(mc);

	for (size_t h = 0; m < 0 && h < mc->n; h++)
		if (mc->hosts[h].up && mc->hosts[h].core.role == FDM_ROLE_MASTER)
			m = (int)h;
	return m >= 0 ? m : 0;
}

static void crash(struct sim_run *r, int h)
{
	if (r->crashed[h])
		return;
	r->crashed[h] = true;
	mc_kill(r->mc, (size_t)h);
	r->mc->hosts[h].paused = false;
}

static void boot(struct sim_run *r, int h)
{
	if (!r->crashed[h])
		return;
	r->crashed[h] = false;
	mc_start(r->mc, (size_t)h);
}

static void stall(struct sim_run *r, int h, int ds, uint64_t ms)
{
	for (size_t i = 0; i < r->mc->n; i++) {
		uint64_t *until = &r->stall_until[i][ds];

		if ((h < 0 || (size_t)h == i) && *until < r->mc->now + ms)
			*until = r->mc->now + ms;
	}
}

/* A host that is no master now: the one after the master. */
static int slave_now(const struct minicluster *mc)
{
	return (master_now(mc) + 1) % (int)mc->n;
}

/* The home datastore of a VM host h runs (the first from a seed-drawn offset),
 * or the seed's pick when it runs none. */
static int ds_of_host(const struct sim_run *r, int h)
{
	size_t n = r->sched->n_vms, from = (size_t)(r->sched->seed % n);

	for (size_t k = 0; k < n; k++) {
		const struct sim_vm *vm = &r->vms[(from + k) % n];

		for (size_t i = 0; i < r->mc->hosts[h].n_vms; i++)
			if (strcmp(r->mc->hosts[h].vms[i], vm->name) == 0)
				return vm->ds;
	}
	return (int)(r->sched->seed % 3);
}

/* SIM_MASTER, SIM_SLAVE, SIM_SAME: the host, now (SIM_EVERY stays). */
static int resolve(struct sim_run *r, const struct sim_event *e)
{
	int a = e->a;

	if (a == SIM_MASTER || a == SIM_SLAVE) {
		a = a == SIM_MASTER ? master_now(r->mc) : slave_now(r->mc);
		r->st.host = a;
	} else if (a == SIM_SAME) {
		a = r->st.host >= 0 ? r->st.host : master_now(r->mc);
	}
	return a;
}

static void set_links(struct sim_run *r, int a, bool down)
{
	for (size_t i = 0; i < r->mc->n; i++)
		if (a == SIM_EVERY || (size_t)a == i)
			r->mc->link_down[i] = down;
	if (a == SIM_EVERY)
		r->st.out_at = down ? r->mc->now : 0;
}

/* Host h alone on its side of a partition: its link stays up, so its
 * isolation addresses answer (it is partitioned, not isolated). */
static void cut_off(struct sim_run *r, int h)
{
	for (size_t i = 0; i < r->mc->n; i++)
		for (size_t j = 0; j < r->mc->n; j++)
			r->mc->blocked[i][j] = i != j && ((int)i == h || (int)j == h);
}

/* SIGTERM: the agent tells its peers and releases its leases (until they are
 * released or 2 io + 0.5 s have passed, as the agent does), then exits; its
 * shim forgets the deadlines not yet passed (hostd-shim's clean stop) and its
 * VMs run on, unprotected, until it starts again. */
static void stop(struct sim_run *r, int h)
{
	struct minicluster *mc = r->mc;

	if (r->crashed[h] || !mc->hosts[h].up || mc->hosts[h].paused || r->st.stopped[h])
		return;
	fdm_core_leave(&mc->hosts[h].core, mc_clock(mc, (size_t)h), &mc->actions);
	mc_execute(mc, (size_t)h);
	r->st.stopped[h] = true;
	r->st.leaving[h] = true;
	r->st.leave_until[h] = mc->now + 2 * (uint64_t)mc->timing.io_timeout_ms + 500;
}

static void agent_start(struct sim_run *r, int a)
{
	struct minicluster *mc = r->mc;

	if (r->st.leaving[a])
		return;   /* still releasing: SIGTERM then start, systemd waits */
	r->st.stopped[a] = false;
	if (!r->crashed[a] && !mc->hosts[a].up)
		mc_start(mc, (size_t)a);
}

void sim_faults_step(struct sim_run *r)
{
	struct minicluster *mc = r->mc;

	for (size_t h = 0; h < mc->n; h++) {
		if (!r->st.leaving[h])
			continue;
		if (!mc->hosts[h].up) {
			r->st.leaving[h] = false;   /* crashed meanwhile */
			continue;
		}
		if (!fdm_core_released(&mc->hosts[h].core) && mc->now < r->st.leave_until[h])
			continue;
		r->st.leaving[h] = false;
		mc->hosts[h].up = false;
		mc_shim_clean_stop(mc, h);
		sim_check_stop_exit(r, h);
		if (r->healed)
			agent_start(r, (int)h);
	}
}

/* EV_DS_LOSE: b < 0 (mode mds) names a datastore where host a runs a VM, and
 * arg 1 makes it read-only rather than lost. */
static void lose(struct sim_run *r, int a, const struct sim_event *e)
{
	struct mc_host *h = &r->mc->hosts[a];
	int ds = e->b;

	if (ds < 0) {
		ds = ds_of_host(r, a);
		r->st.ds = ds;
		r->st.lost_at = r->mc->now;
	}
	if (e->arg)
		h->ro_mask |= 1u << ds;
	else
		h->ds_mask &= ~(1u << ds);
}

void sim_apply(struct sim_run *r, const struct sim_event *e)
{
	struct minicluster *mc = r->mc;
	int a = resolve(r, e);

	if ((e->kind == EV_LINK_DOWN || e->kind == EV_PARTITION) && e->a == SIM_MASTER)
		r->plot.m = a;       /* mode lateio: the master cut off is M */
	r->applied_host = a;
	switch (e->kind) {
	case EV_CRASH:
		crash(r, a);
		break;
	case EV_BOOT:
		boot(r, a);
		break;
	case EV_AGENT_KILL:
		if (!r->crashed[a] && mc->hosts[a].up)
			mc_agent_kill(mc, (size_t)a);
		break;
	case EV_AGENT_START:
		agent_start(r, a);
		break;
	case EV_STOP:
		stop(r, a);
		break;
	case EV_SHIM_OFF_FAIL:
		mc->hosts[a].power_off_fails = e->arg != 0;
		break;
	case EV_PAUSE:
		if (mc->hosts[a].up)
			mc_pause(mc, (size_t)a);
		break;
	case EV_RESUME:
		mc_resume(mc, (size_t)a);
		break;
	case EV_PARTITION:
		if (e->a == SIM_MASTER) {
			cut_off(r, a);
			break;
		}
		for (size_t i = 0; i < mc->n; i++)
			for (size_t j = 0; j < mc->n; j++)
				mc->blocked[i][j] = ((e->arg >> (4 * i)) & 15) !=
						    ((e->arg >> (4 * j)) & 15);
		break;
	case EV_CUT_ONEWAY:
		mc->blocked[a][e->b] = true;
		break;
	case EV_LINK_DOWN:
		set_links(r, a, true);
		break;
	case EV_LINK_UP:
		set_links(r, a, false);
		break;
	case EV_NET_WHOLE:
		memset(mc->blocked, 0, sizeof(mc->blocked));
		break;
	case EV_DS_LOSE:
		lose(r, a, e);
		break;
	case EV_DS_RESTORE:
		if (e->b < 0) {
			mc->hosts[a].ds_mask |= 1u << r->st.ds;
			mc->hosts[a].ro_mask &= ~(1u << r->st.ds);
		} else {
			mc->hosts[a].ds_mask |= 1u << e->b;
		}
		break;
	case EV_DS_STALL:
		stall(r, a, e->b, e->arg);
		break;
	case EV_SHIM_FAIL:
		mc->hosts[a].power_on_fails = e->arg != 0;
		break;
	case EV_VM_CRASH:
		for (size_t h = 0; h < mc->n; h++)
			if (!r->crashed[h])
				mc_vm_stop(mc, h, r->vms[e->b].name, FDM_STOP_CRASHED);
		break;
	case EV_KIND_COUNT:
		break;
	}
}

/* The end of the fault phase: every host back (unless the mode keeps a crash
 * for good), the network whole and calm, the storage whole and calm. */
void sim_heal(struct sim_run *r)
{
	struct minicluster *mc = r->mc;

	sim_check_iso_heal(r);
	r->healed = true;
	mc->loss_pct = 0;
	mc->dup_pct = 0;
	mc->delay_max_ms = 5;
	memset(mc->blocked, 0, sizeof(mc->blocked));
	memset(mc->link_down, 0, sizeof(mc->link_down));
	memset(r->stall_until, 0, sizeof(r->stall_until));
	r->st.out_at = 0;
	for (size_t h = 0; h < mc->n; h++) {
		mc->hosts[h].ds_mask = 7;
		mc->hosts[h].ro_mask = 0;
		mc->hosts[h].power_on_fails = false;
		mc->hosts[h].power_off_fails = false;
		if (r->st.stopped[h] && !r->st.leaving[h])
			agent_start(r, (int)h);
		if (!r->sched->heal_all)
			continue;
		boot(r, (int)h);
		if (!mc->hosts[h].up)
			mc_start(mc, h);
		mc_resume(mc, h);
	}
}

static bool is_write(enum fdm_storage_op op)
{
	return op == FDM_STORAGE_HB_WRITE || op == FDM_STORAGE_LEASE_WRITE ||
	       op == FDM_STORAGE_POWERON_WRITE || op == FDM_STORAGE_VMLIST_WRITE;
}

/* An I/O issued into a hang: the shell aborts it at its deadline (dsio), and
 * a write lands all the same when the hang ends (plus up to 2 io, in any
 * order: a write made later on a fresh connection may land first). Sometimes
 * the hang ends just past the deadline instead, and the answer, a success,
 * comes late: the core must take it as a failure. */
static void hung(struct sim_run *r, struct mc_io *io, uint64_t until)
{
	uint64_t io_ms = r->mc->timing.io_timeout_ms;
	uint64_t deadline = io->issued_at + io_ms;
	uint64_t end = until + sim_between(&r->io_rng, 0, 2 * io_ms);

	if (end <= deadline)
		end = deadline + 1;
	if (sim_chance(&r->io_rng, 30)) {
		io->done_at = deadline + sim_between(&r->io_rng, 1, io_ms / 2);
		io->land_at = io->done_at;
		return;
	}
	io->land_at = end;
	io->done_at = deadline;
	io->fail = true;
}

void sim_io_hook(struct minicluster *mc, struct mc_io *io)
{
	struct sim_run *r = mc->user;
	const struct sim_weather *w = &r->sched->w;
	uint64_t io_ms = mc->timing.io_timeout_ms;
	uint64_t lat = sim_between(&r->io_rng, 1, w->storage_ms_max ? w->storage_ms_max : 5);
	uint64_t until = r->stall_until[io->host][io->ds];
	bool write = is_write(io->op);

	io->done_at = mc->now + lat;
	io->land_at = write ? mc->now + sim_between(&r->io_rng, 0, lat) : mc->now + lat / 2;
	if (sim_plot_io(r, io))
		return;
	if (mc->now < r->t0 || r->healed)
		return;
	if (until > mc->now) {
		hung(r, io, until);
		return;
	}
	if (sim_chance(&r->io_rng, w->io_slow_pct)) {
		/* Slower than io_timeout: a write lands any time up to its late
		 * answer; a read was served early and answers stale. */
		io->done_at = mc->now + sim_between(&r->io_rng, io_ms + 10, 2 * io_ms);
		io->land_at = write ? sim_between(&r->io_rng, mc->now, io->done_at) : mc->now + 1;
	}
	if (sim_chance(&r->io_rng, w->io_fail_pct)) {
		io->fail = true;
		io->lost = write && sim_chance(&r->io_rng, 50);
	}
	if (io->op == FDM_STORAGE_LEASE_WRITE && sim_chance(&r->io_rng, w->torn_pct)) {
		io->torn = true;
		io->fail = true;
	}
}
