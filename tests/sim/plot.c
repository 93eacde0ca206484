/* Mode lateio: the one schedule family where the rule "a late I/O answer is a
 * failure" (lease.c in_time, DESIGN.md point 1) alone keeps two masters from
 * acting on one lease. The lease I/O of the cut-off master M and of the new
 * master M2 on one datastore is scripted step by step as the cores issue it:
 *
 *  FAIL  M's lease I/O fails fast: its record stops changing at its last good
 *        renewal (issued at t_prev); M2 counts expiry from there.
 *        One read of M near t_prev + 2 io is slow but in time, so M issues a
 *        renewal W1 as late as it may (just before t_prev + expiry - io).
 *  W1    hangs until M2 writes its claim A2 (so M2's confirming read saw M's
 *        old record), then lands just before A2 does and is answered at once:
 *        more than io after its issue, a success.
 *  R2    M's next read sees W1 (A2 has not landed yet), answered in time: M
 *        issues W2.
 *  W2    hangs until M2's re-read after the claim wait has been served (it
 *        sees A2: M2 holds and acts), then lands, answered late, a success.
 *
 * The real core takes W1's answer as a failure: M stopped acting at t_prev +
 * acting and drops the lease (t_prev + expiry - io has passed), so there is no
 * W2. A core that believed late answers would act until W1's issue + acting,
 * then renew with W2 and act until W2's issue + acting, while M2 acts from its
 * re-read: two acting holders. The seed varies the datastore, when the plot
 * begins and every scripted delay. */
#include <stdio.h>
#include <string.h>

#include "tests/sim/sim.h"

void sim_plot_init(struct sim_run *r)
{
	struct sim_rng rng = { r->sched->seed * 0x9e3779b97f4a7c15ull + 0x1a7e };
	struct sim_plot *p = &r->plot;

	memset(p, 0, sizeof(*p));
	p->m = -1;
	p->m2 = -1;
	p->ds = (int)sim_between(&rng, 0, 2);
	p->start_at = r->t0 + sim_between(&rng, 6000, 16000);
	p->slow_read_ms = sim_between(&rng, 10, 400);   /* short of io by this much */
	p->r2_ms = sim_between(&rng, 10, 300);           /* likewise */
}

static void say(struct sim_run *r, const char *what)
{
	if (r->trace)
		printf("%+9.2f ==== plot: %s\n", ((double)r->mc->now - (double)r->t0) / 1000.0,
		       what);
}

static struct fdm_lease *lease_of(struct sim_run *r, int h)
{
	return &r->mc->hosts[h].core.ds[r->plot.ds].lease;
}

/* The new master contending for the datastore, if any (not M). */
static int contender(struct sim_run *r)
{
	for (size_t h = 0; h < r->mc->n; h++) {
		struct mc_host *host = &r->mc->hosts[h];

		if ((int)h != r->plot.m && host->up &&
		    host->core.role == FDM_ROLE_MASTER &&
		    lease_of(r, (int)h)->state == FDM_LEASE_ACQUIRING)
			return (int)h;
	}
	return -1;
}

/* M's write that hangs: never lands, answered failed after 3 io, unless the
 * plot retargets it (land_late). */
static void hang(struct sim_run *r, struct mc_io *io)
{
	io->done_at = io->issued_at + 3 * (uint64_t)r->mc->timing.io_timeout_ms;
	io->land_at = io->done_at;
	io->fail = true;
	io->lost = true;
	r->plot.w_issued = io->issued_at;
}

/* The hung write lands at `at` and is answered then, a success. */
static bool land_late(struct sim_run *r, uint64_t at)
{
	struct minicluster *mc = r->mc;

	for (size_t i = 0; i < mc->n_ios; i++) {
		struct mc_io *io = &mc->ios[i];

		if ((int)io->host != r->plot.m || io->ds != r->plot.ds ||
		    io->op != FDM_STORAGE_LEASE_WRITE || io->issued_at != r->plot.w_issued ||
		    io->landed)
			continue;
		io->fail = false;
		io->lost = false;
		io->land_at = at;
		io->done_at = at;
		return true;
	}
	return false;
}

static bool of_m(struct sim_run *r, const struct mc_io *io)
{
	return (int)io->host == r->plot.m;
}

/* The I/O of M on the plot's datastore. */
static bool plot_m(struct sim_run *r, struct mc_io *io)
{
	struct sim_plot *p = &r->plot;
	uint64_t io_ms = r->mc->timing.io_timeout_ms, now = r->mc->now;
	bool read = io->op == FDM_STORAGE_LEASE_READ;

	switch (p->stage) {
	case PLOT_FAIL:
		if (read && now >= p->t_prev + 3 * io_ms / 2) {
			/* In time, as late as M can still renew after it. */
			uint64_t limit = p->t_prev + r->mc->timing.lease_expiry_ms - io_ms;
			uint64_t done = now + io_ms - p->slow_read_ms;

			if (done + 20 > limit)
				done = limit - 20;
			if (done <= now)
				done = now + 1;
			io->land_at = now + 1;
			io->done_at = done;
			p->stage = PLOT_W1;
			say(r, "M's read served now, answered just in time");
			return true;
		}
		io->done_at = now + 5;
		io->land_at = now + 5;
		io->fail = true;
		io->lost = true;
		return true;
	case PLOT_W1:
		if (read)
			return false;
		hang(r, io);
		p->stage = PLOT_W1_HUNG;
		say(r, "M's renewal W1 hangs until M2 writes its claim");
		return true;
	case PLOT_R2:
		if (!read)
			return false;
		/* In time, and before W1's renewal limit (W1 taken as landed). */
		io->land_at = now + 1;
		io->done_at = now + io_ms - p->r2_ms;
		if (io->done_at > p->w_issued + r->mc->timing.lease_expiry_ms - io_ms - p->r2_ms)
			io->done_at = p->w_issued + r->mc->timing.lease_expiry_ms - io_ms - p->r2_ms;
		if (io->done_at <= now)
			io->done_at = now + 1;
		p->stage = PLOT_W2;
		say(r, "M's read R2 served now (W1 there), answered in time");
		return true;
	case PLOT_W2:
		if (read)
			return false;
		hang(r, io);
		p->stage = PLOT_W2_HUNG;
		say(r, "M's renewal W2 hangs until M2's re-read is served");
		return true;
	default:
		return false;
	}
}

/* The I/O of M2 on the plot's datastore. */
static bool plot_m2(struct sim_run *r, struct mc_io *io)
{
	struct sim_plot *p = &r->plot;
	uint64_t now = r->mc->now;

	if (p->stage == PLOT_W1_HUNG && io->op == FDM_STORAGE_LEASE_WRITE) {
		io->land_at = now + 300;
		io->done_at = now + 400;
		if (land_late(r, now + 50)) {
			p->stage = PLOT_R2;
			say(r, "M2 writes its claim A2; W1 lands just before it, answered late");
		} else {
			p->stage = PLOT_DONE;
			say(r, "M2 writes its claim, W1 already answered: plot over");
		}
		return true;
	}
	if ((p->stage == PLOT_W2 || p->stage == PLOT_W2_HUNG) &&
	    io->op == FDM_STORAGE_LEASE_READ && lease_of(r, p->m2)->state == FDM_LEASE_CLAIMED) {
		io->land_at = now + 1;
		io->done_at = now + 50;
		if (p->stage == PLOT_W2_HUNG && land_late(r, now + 3 * MC_STEP_MS))
			say(r, "M2's re-read served (A2 there); W2 lands now, answered late");
		else
			say(r, "M2's re-read, and M wrote no W2 (it took W1 as failed): plot over");
		p->stage = PLOT_DONE;
		return true;
	}
	return false;
}

static void begin(struct sim_run *r, struct mc_io *io)
{
	struct sim_plot *p = &r->plot;
	struct fdm_lease *l;
	char buf[160];

	if (p->m < 0 || r->mc->now < p->start_at || !of_m(r, io) ||
	    io->op != FDM_STORAGE_LEASE_READ)
		return;
	l = lease_of(r, p->m);
	p->m2 = contender(r);
	if (l->state != FDM_LEASE_HELD || l->pending != FDM_LEASE_IO_READ || p->m2 < 0)
		return;
	p->t_prev = fdm_lease_last_write_ms(l);
	p->stage = PLOT_FAIL;
	snprintf(buf, sizeof(buf), "M = %s (renewed at %+.2f), M2 = %s, on ds%d: M's lease I/O "
		 "fails fast", r->mc->hosts[p->m].cfg.host_id,
		 ((double)p->t_prev - (double)r->t0) / 1000.0, r->mc->hosts[p->m2].cfg.host_id,
		 p->ds + 1);
	say(r, buf);
}

bool sim_plot_io(struct sim_run *r, struct mc_io *io)
{
	struct sim_plot *p = &r->plot;

	if (r->sched->mode != MODE_LATEIO || io->ds != p->ds || r->healed)
		return false;
	if (io->op != FDM_STORAGE_LEASE_READ && io->op != FDM_STORAGE_LEASE_WRITE)
		return false;
	if (p->stage == PLOT_WAIT)
		begin(r, io);
	if (p->stage == PLOT_WAIT || p->stage == PLOT_DONE)
		return false;
	if (of_m(r, io))
		return plot_m(r, io);
	if ((int)io->host == p->m2)
		return plot_m2(r, io);
	return false;
}
