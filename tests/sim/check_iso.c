/* The invariants of mode isoslave (DESIGN.md point 4, issue 19's scenario 1):
 * a slave whose cluster link alone is cut, storage whole:
 *  - the master shows it `isolated` within sim_iso_shown_bound of the cut;
 *  - nothing is powered off but the cut slave's VMs, and with response `none`
 *    nothing at all (its storage heartbeat lives: no deadline passes), and
 *    nothing is powered on (check.c's restart-while-running says the rest);
 *  - with a response, each VM it ran is running on another host by
 *    sim_iso_restart_bound after the cut (checked at the heal, when the cut
 *    lasted that long): the master restarted what it powered off.
 * Whether an isolation response was applied where it must not be (netout: no
 * master renews) is check_storage.c's needless power-off.
 * Mode cutkill (issue 19's restarted agent): once the cut host's agent is
 * killed or paused, no VM of it runs past the deadline its shim held then
 * (the old agent's last), until the heal: a restarted agent has no evidence
 * since its start (cut off from both), so it may not extend one. */
#include <stdio.h>
#include <string.h>

#include "tests/sim/sim.h"

/* Declared after isolation_delay once a probe round begun after the quiet
 * went unanswered (a probe period more), then its poweron record says so
 * within storage_hb, the master reads it within io, and reads it changed
 * within 3 io (isolated_hosts.c's window), plus a heartbeat of slack. */
static uint64_t shown_bound(const struct fdm_timing *t)
{
	return (uint64_t)t->isolation_delay_ms + 2ull * t->isolation_probe_ms +
	       t->storage_hb_ms + 2ull * t->io_timeout_ms + t->heartbeat_interval_ms;
}

/* Then two lease reads after the declaration (2 storage_hb), the power-off
 * (at most shutdown_timeout_s + io with guests that ignore a shutdown, and up
 * to 20 s of failing power-offs), a listing without it (1 s), its poweron
 * record (storage_hb), the master's read (io), the restart count written and
 * the power-on ordered (2 io) and done (0.5 s), plus a heartbeat. */
static uint64_t restart_bound(const struct sim_run *r)
{
	const struct fdm_timing *t = &r->mc->timing;
	const struct sim_schedule *s = r->sched;
	uint64_t b = shown_bound(t) + 2ull * t->storage_hb_ms + 1000 + t->storage_hb_ms +
		     3ull * t->io_timeout_ms + 500 + t->heartbeat_interval_ms;

	if (s->iso_response == FDM_ISO_SHUTDOWN && s->guests_ignore_shutdown)
		b += s->shutdown_timeout_s * 1000ull + t->io_timeout_ms;
	for (size_t i = 0; i < s->n_ev; i++)
		if (s->on[i] && s->ev[i].kind == EV_SHIM_OFF_FAIL)
			b += 20000 + t->io_timeout_ms;
	return b;
}

static bool faulting(const struct sim_run *r)
{
	return r->mc->now >= r->t0 && !r->healed;
}

static int vm_index(const struct sim_run *r, const char *vm)
{
	for (size_t v = 0; v < r->sched->n_vms; v++)
		if (strcmp(r->vms[v].name, vm) == 0)
			return (int)v;
	return -1;
}

/* Runs on that host, whatever its agent's state. */
static bool on_host(const struct mc_host *h, const char *name)
{
	for (size_t i = 0; i < h->n_vms; i++)
		if (strcmp(h->vms[i], name) == 0)
			return true;
	return false;
}

/* cutkill: the old agent's last deadlines, taken when it stops answering. */
static void cutkill_step(struct sim_run *r)
{
	struct minicluster *mc = r->mc;
	struct sim_storage *st = &r->st;
	int h = st->host;
	const struct mc_host *host;
	uint64_t now;

	if (!faulting(r) || h < 0 || !mc->link_down[h])
		return;
	host = &mc->hosts[h];
	if (!st->kill_seen && (!host->up || host->paused)) {
		st->kill_seen = true;
		for (size_t k = 0; k < host->n_deadlines; k++) {
			int v = vm_index(r, host->deadlines[k].name);

			if (v >= 0)
				st->handed_at[v] = host->deadlines[k].at;
		}
	}
	if (!st->kill_seen)
		return;
	now = mc_clock(mc, (size_t)h);
	for (size_t v = 0; v < r->sched->n_vms; v++)
		if (st->handed_at[v] != 0 && now >= st->handed_at[v] + MC_STEP_MS &&
		    on_host(host, r->vms[v].name))
			sim_violate(r, VIO_PAST_HANDED_DEADLINE, "%s still runs on %s %.2f s past "
				    "the deadline its old agent handed the shim", r->vms[v].name,
				    host->cfg.host_id,
				    (double)(now - st->handed_at[v]) / 1000.0);
}

void sim_check_iso_step(struct sim_run *r)
{
	struct minicluster *mc = r->mc;
	struct sim_storage *st = &r->st;
	int h = st->host;

	if (r->sched->mode == MODE_CUTKILL)
		cutkill_step(r);
	if (r->sched->mode != MODE_ISOSLAVE || !faulting(r) || h < 0 || !mc->link_down[h])
		return;
	if (st->cut_at == 0) {
		st->cut_at = mc->now;
		for (size_t i = 0; i < mc->hosts[h].n_vms; i++) {
			int v = vm_index(r, mc->hosts[h].vms[i]);

			if (v >= 0)
				st->iso_vms |= 1ull << v;
		}
	}
	if (st->shown_isolated_at != 0)
		return;
	for (size_t m = 0; m < mc->n; m++)
		if ((int)m != h && mc->hosts[m].up && mc->hosts[m].core.role == FDM_ROLE_MASTER &&
		    mc->hosts[m].core.peers[h].state == FDM_HS_ISOLATED) {
			st->shown_isolated_at = mc->now;
			return;
		}
	if (mc->now >= st->cut_at + shown_bound(&mc->timing))
		sim_violate(r, VIO_NOT_SHOWN_ISOLATED, "%.1f s after %s's link went down no master "
			    "shows it isolated (bound %.1f s)",
			    (double)(mc->now - st->cut_at) / 1000.0, mc->hosts[h].cfg.host_id,
			    (double)shown_bound(&mc->timing) / 1000.0);
}

void sim_check_iso_power(struct sim_run *r, size_t host, const char *vm, bool on)
{
	const char *id = r->mc->hosts[host].cfg.host_id;

	if (r->sched->mode != MODE_ISOSLAVE || !faulting(r) || r->st.cut_at == 0)
		return;
	if (on && r->sched->iso_response == FDM_ISO_NONE)
		sim_violate(r, VIO_NEEDLESS_RESTART, "%s powered on on %s while a slave cut off "
			    "with response none keeps its VMs", vm, id);
	if (!on && ((int)host != r->st.host || r->sched->iso_response == FDM_ISO_NONE))
		sim_violate(r, VIO_NEEDLESS_POWER_OFF, "%s powered off on %s while only %s's link "
			    "is down (response %s)", vm, id,
			    r->mc->hosts[r->st.host].cfg.host_id,
			    fdm_isolation_response_name(r->sched->iso_response));
}

void sim_check_iso_heal(struct sim_run *r)
{
	struct minicluster *mc = r->mc;
	const struct sim_storage *st = &r->st;

	if (r->sched->mode != MODE_ISOSLAVE || st->cut_at == 0 ||
	    r->sched->iso_response == FDM_ISO_NONE || mc->now < st->cut_at + restart_bound(r))
		return;
	for (size_t v = 0; v < r->sched->n_vms; v++) {
		int where;
		int n;

		if (!(st->iso_vms >> v & 1))
			continue;
		where = mc_vm_where(mc, r->vms[v].name, &n);
		if (where < 0 || where == st->host)
			sim_violate(r, VIO_NOT_RESTARTED, "%s, on %s when its link went down %.1f s "
				    "ago, runs %s (response %s; bound %.1f s)", r->vms[v].name,
				    mc->hosts[st->host].cfg.host_id,
				    (double)(mc->now - st->cut_at) / 1000.0,
				    where < 0 ? "nowhere" : "there still",
				    fdm_isolation_response_name(r->sched->iso_response),
				    (double)restart_bound(r) / 1000.0);
	}
}
