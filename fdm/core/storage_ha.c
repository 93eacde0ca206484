/* The records of VM protection on each datastore (DESIGN.md "Heartbeats",
 * "Restart", safety point 2), scheduled beside the storage heartbeat of
 * storage.c and at its cadence: on every datastore it reaches, every host reads
 * the protectedlist's VM part and writes its poweron record; the master also
 * reads every other host's hb and poweron records there (twice as often:
 * read_hosts), and writes the VM list when vms.c has edits for it, only while
 * its lease there is acting. One of each
 * in flight at most, each bounded by io_timeout from its decision; a completion
 * after that is a failure, whatever it says. What the records mean is vms.c's
 * to judge: this file only carries them. A clean stop writes the poweron record
 * once more at once (it says `stopped`) and the agent exits after it. */
#include "fdm/core/core.h"

#include <string.h>

_Static_assert(FDM_STORAGE_OP_COUNT - FDM_STORAGE_VMLIST_READ == FDM_HA_IO_OPS,
	       "one fdm_ds_io per VM protection op");

static struct fdm_ds_io *io_of(struct fdm_core_ds *s, enum fdm_storage_op op)
{
	return &s->ha_io[op - FDM_STORAGE_VMLIST_READ];
}

/* Ask for one, if the action list has room (else the next tick tries again). */
static bool issue(struct fdm_core *c, size_t d, enum fdm_storage_op op, uint64_t now,
		  struct fdm_actions *out)
{
	struct fdm_ds_io *io = io_of(&c->ds[d], op);
	uint64_t deadline = now + c->timing.io_timeout_ms;

	if (!fdm_storage_action(out, (int)d, op, NULL, deadline))
		return false;
	io->busy = true;
	io->issued_ms = now;
	io->deadline_ms = deadline;
	io->next_ms = now + c->timing.storage_hb_ms;
	return true;
}

static void every_io(struct fdm_core *c, size_t d, enum fdm_storage_op op, uint64_t now,
		     struct fdm_actions *out)
{
	const struct fdm_ds_io *io = io_of(&c->ds[d], op);

	if (!io->busy && now >= io->next_ms)
		issue(c, d, op, now, out);
}

/* The master reads the other hosts' records every half io, and also at the
 * very moment a host's dead verdict can first be proven (the hb unchanged for
 * host_dead up to a read issued then, verdict.h). Both bound what a failover
 * adds to host_dead: "unchanged" counts from the first read that saw a host's
 * last hb write, so that read comes at most half an io after the write (every
 * io, it added up to io_timeout), and the proving read waits for no period at
 * all. Each mark is asked for once: a read that fails there does not turn
 * into a read per tick. */
static void read_hosts(struct fdm_core *c, size_t d, uint64_t now, struct fdm_actions *out)
{
	struct fdm_ds_io *io = io_of(&c->ds[d], FDM_STORAGE_HOSTS_READ);
	struct fdm_ha_ds *h = &c->ha.ds[d];
	uint64_t mark;

	if (io->busy)
		return;
	mark = fdm_ha_proof_read_at(c, (int)d, h->proof_asked_ms);
	if (now < io->next_ms && now < mark)
		return;
	if (!issue(c, d, FDM_STORAGE_HOSTS_READ, now, out))
		return;
	io->next_ms = now + c->timing.storage_hb_ms / 2;
	if (now >= mark)
		h->proof_asked_ms = mark;
}

/* The VM list of d, written under our lease: only while it is acting, so the
 * write (bounded by io) lands before any successor can hold the lease. */
static void write_vmlist(struct fdm_core *c, size_t d, uint64_t now, struct fdm_actions *out)
{
	struct fdm_ha_ds *h = &c->ha.ds[d];

	if (!h->write_pending || h->writing || io_of(&c->ds[d], FDM_STORAGE_VMLIST_WRITE)->busy ||
	    !fdm_lease_acting(&c->ds[d].lease, now))
		return;
	if (!issue(c, d, FDM_STORAGE_VMLIST_WRITE, now, out))
		return;
	h->writing = true;
	h->write_pending = false;
	h->writing_edits = h->edits;   /* the shell takes the content now */
}

/* Clean stop: one more poweron write, at once, whose content says so. It
 * counts (stop_ok) only if no earlier failed write may still land over it
 * (limbo); the exit does not wait for that: where it does not count, the VMs
 * keep their deadlines, which is safe. */
static void write_stop(struct fdm_core *c, size_t d, uint64_t now, struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];

	if (s->stop_issued || io_of(s, FDM_STORAGE_POWERON_WRITE)->busy)
		return;
	if (issue(c, d, FDM_STORAGE_POWERON_WRITE, now, out))
		s->stop_issued = true;
}

/* A poweron write ended (every one: periodic or the stop's). */
static void poweron_written(struct fdm_core *c, struct fdm_core_ds *s, bool ok,
			    uint64_t issued, uint64_t now)
{
	bool clean = ok && !s->limbo_pending && issued >= s->limbo_until_ms;

	if (!ok) {
		s->limbo_pending = true;
	} else if (s->limbo_pending) {
		s->limbo_pending = false;
		s->limbo_until_ms = now + 2ull * c->timing.io_timeout_ms;
	}
	if (!c->leaving || !s->stop_issued)
		return;
	/* Written past any limbo: `stopped` is the last record to land there,
	 * and d's VMs may leave the shim's deadlines (fdm/core/deadline.c). */
	s->stop_ok = clean;
	s->stop_done = true;
}

void fdm_storage_ha_tick(struct fdm_core *c, size_t d, uint64_t now, struct fdm_actions *out)
{
	bool master = c->role == FDM_ROLE_MASTER;

	if (c->ds[d].state != FDM_DSS_REACHABLE)
		return;
	if (c->leaving) {
		write_stop(c, d, now, out);
		return;
	}
	every_io(c, d, FDM_STORAGE_VMLIST_READ, now, out);
	every_io(c, d, FDM_STORAGE_POWERON_WRITE, now, out);
	if (master)
		read_hosts(c, d, now, out);
	if (master)
		write_vmlist(c, d, now, out);
}

void fdm_storage_ha_done(struct fdm_core *c, int d, enum fdm_storage_op op,
			 const struct fdm_storage_outcome *o, uint64_t now,
			 struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	struct fdm_ds_io *io = io_of(s, op);
	bool ok;

	if (!io->busy)
		return;            /* nothing of ours in flight (a stray report) */
	io->busy = false;
	/* Late is failed, whatever it returned (DESIGN.md point 1): a read that
	 * old may describe records rewritten since, a write may land later still. */
	ok = o->result == FDM_STORAGE_OK && now <= io->deadline_ms;
#ifdef FDM_MUTANT_LATE_IO_OK
	ok = o->result == FDM_STORAGE_OK;   /* tests/sim mutant: a late answer counts */
#endif
	if (ok)
		io->ok++;
	else
		io->failed++;
	switch (op) {
	case FDM_STORAGE_VMLIST_READ:
		if (ok && o->vmlist != NULL)
			fdm_ha_on_vmlist(c, d, o->vmlist, now, out);
		break;
	case FDM_STORAGE_POWERON_WRITE:
		poweron_written(c, s, ok, io->issued_ms, now);
		break;
	case FDM_STORAGE_HOSTS_READ:
		/* The master's evidence: counted from the read's decision time. */
		if (ok && c->role == FDM_ROLE_MASTER && (o->hosts != NULL || o->n_hosts == 0))
			fdm_ha_on_host_records(c, d, o->hosts, o->n_hosts, io->issued_ms, now, out);
		break;
	case FDM_STORAGE_VMLIST_WRITE:
		c->ha.ds[d].writing = false;
		if (!ok)
			fdm_core_event(out, &(struct fdm_log_fields){
					.event = "vmlist-write-failed",
					.datastore = c->datastore_names[d] },
				       "%s: VM list on %s not written: %s", c->peers[c->self].id,
				       c->datastore_names[d],
				       o->result == FDM_STORAGE_OK ? "it answered after io_timeout"
				       : o->why != NULL && o->why[0] ? o->why : "no reason given");
		fdm_ha_on_vmlist_written(c, d, ok, now, out);
		break;
	default:
		break;
	}
}

bool fdm_storage_ha_stopped(const struct fdm_core *c)
{
	if (!c->leaving)
		return true;
	for (size_t d = 0; d < c->n_datastores; d++) {
		const struct fdm_core_ds *s = &c->ds[d];

		if (s->stop_issued ? !s->stop_done : s->state == FDM_DSS_REACHABLE)
			return false;
	}
	return true;
}
