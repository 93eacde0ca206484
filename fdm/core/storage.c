/* What this host does on each datastore, every io_timeout (DESIGN.md
 * "Heartbeats" and safety point 1): write its storage heartbeat, read the lease
 * record of the protectedlist, read its own heartbeat back, and, as master, hold
 * that lease (the delta lease of lease.c). Pure: the shell performs each I/O
 * asked for and reports how it ended through fdm_core_storage_done.
 *
 * A datastore's state comes from its heartbeat writes: reachable while they
 * succeed in time (a completion after issue + io_timeout is a failure, whatever
 * it says), unreachable otherwise, uninitialized while it has no identity record
 * for this cluster. The election bids count the reachable ones. The master wants
 * the lease on every datastore that is not uninitialized, and keeps trying where
 * I/O fails (the lease machine gives up ownership by itself when its renewals
 * fail); any other role, and a clean stop, releases it. A datastore that is down
 * is logged with the shell's reason when it goes down (or at its first answer
 * after start or a reload), and again every few minutes while it stays down. */
#include "fdm/core/core.h"
#include "fdm/core/deadline.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

/* A datastore still down is logged again this often. */
#define FDM_DS_REMIND_MS (5u * 60 * 1000)
/* Another agent writing as this host: logged at most this often, and forgotten
 * once none of its writes has been seen for this long. */
#define FDM_IMPOSTOR_LOG_MS (60u * 1000)
#define FDM_IMPOSTOR_FORGET_MS (2u * 60 * 1000)

static const char *const ds_state_names[] = {
	[FDM_DSS_UNKNOWN] = "unknown",
	[FDM_DSS_REACHABLE] = "reachable",
	[FDM_DSS_UNREACHABLE] = "unreachable",
	[FDM_DSS_UNINITIALIZED] = "uninitialized",
};

const char *fdm_ds_state_name(enum fdm_ds_state s)
{
	return (unsigned)s <= FDM_DSS_UNINITIALIZED ? ds_state_names[s] : "?";
}

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

/* A log line an operator must act on (the shell logs it as a warning), about
 * datastore ds: its text. */
static void warn(struct fdm_actions *out, const char *event, const char *ds,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void warn(struct fdm_actions *out, const char *event, const char *ds,
		 const char *fmt, ...)
{
	struct fdm_action *a = fdm_core_event(out, &(struct fdm_log_fields){ .event = event,
							.datastore = ds }, "%s", "");
	va_list ap;

	if (a == NULL)
		return;
	a->warning = true;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
}

bool fdm_storage_action(struct fdm_actions *out, int d, enum fdm_storage_op op,
			const struct fdm_lease_rec *rec, uint64_t deadline)
{
	struct fdm_action *a = fdm_core_action(out, FDM_ACT_STORAGE);

	if (a == NULL)
		return false;
	a->ds = d;
	a->op = op;
	a->deadline_ms = deadline;
	if (rec != NULL)
		a->lease = *rec;
	return true;
}

void fdm_storage_init(struct fdm_core *c, size_t d, const char *url, uint64_t now)
{
	struct fdm_core_ds *s = &c->ds[d];
	struct fdm_lease_timing lt;

	fdm_lease_timing_of(&c->timing, &lt);
	memset(s, 0, sizeof(*s));
	fdm_strlcpy(s->url, url, sizeof(s->url));
	s->hb_next_ms = now;
	s->self_next_ms = UINT64_MAX;      /* after our first hb write */
	s->state = FDM_DSS_UNKNOWN;
	/* Nonces only need to differ between this host's attempts and other hosts'
	 * records; the incarnation (wall clock at start) and index make them so. */
	fdm_lease_init(&s->lease, self_id(c), &lt, c->incarnation * 64 + d, now);
	fdm_lease_note_peer_timing(&s->lease, c->peer_io_max_ms, c->peer_expiry_max_ms);
}

/* A peer's timing, as its packets announce it, widens our lease waits (lease.c,
 * plan(): the claim wait covers the io of every contender, the expiry wait the
 * expiry of every owner). A contender that never wrote on a datastore leaves
 * no timing there for us to read; the network may still hear it, even cut off
 * from it later, or refused for its timing. Only a pair that a config may hold
 * and lib/timing.c accepts is taken: no agent runs with another, and an absurd
 * value must not hold every acquisition off for days. */
void fdm_storage_peer_timing(struct fdm_core *c, int from, const Fdm__Packet *p,
			     struct fdm_actions *out)
{
	struct fdm_timing t;
	char err[256];

	if (!p->has_heartbeat_interval_ms || !p->has_io_timeout_ms ||
	    p->io_timeout_ms <= c->peer_io_max_ms)
		return;
	if (p->heartbeat_interval_ms < FDM_HEARTBEAT_MIN_MS ||
	    p->heartbeat_interval_ms > FDM_HEARTBEAT_MAX_MS ||
	    p->io_timeout_ms < FDM_IO_TIMEOUT_MIN_MS || p->io_timeout_ms > FDM_IO_TIMEOUT_MAX_MS ||
	    fdm_timing_derive(p->heartbeat_interval_ms, p->io_timeout_ms, &t, err, sizeof(err)) < 0)
		return;
	c->peer_io_max_ms = t.io_timeout_ms;
	if (t.lease_expiry_ms > c->peer_expiry_max_ms)
		c->peer_expiry_max_ms = t.lease_expiry_ms;
	for (size_t d = 0; d < c->n_datastores; d++)
		fdm_lease_note_peer_timing(&c->ds[d].lease, c->peer_io_max_ms, c->peer_expiry_max_ms);
	if (t.io_timeout_ms > c->timing.io_timeout_ms)
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "peer-timing",
				.peer = c->peers[from].id },
			       "%s: host %s announces io_timeout %u ms, ours %u ms: lease "
			       "waits on every datastore now cover it (claim %u ms, expiry %u ms)",
			       self_id(c), c->peers[from].id, t.io_timeout_ms,
			       c->timing.io_timeout_ms, 2 * t.io_timeout_ms, t.lease_expiry_ms);
}

void fdm_storage_reloaded(struct fdm_core *c)
{
	for (size_t d = 0; d < c->n_datastores; d++)
		c->ds[d].remind_ms = 0;
}

/* The bound of a master that steps down on d (DESIGN.md "Election"): a
 * successor takes the lease no earlier than our last renewal's issue + expiry
 * (+ 2 io for its write-wait-read) and restarts our VMs no earlier than
 * host_dead after that. Our renewals are forgotten: elected again, we earn
 * bounds only from new ones. A release written after this lowers it. */
static void stepdown_bound(struct fdm_core *c, size_t d)
{
	struct fdm_core_ds *s = &c->ds[d];
	const struct fdm_timing *t = &c->timing;
	uint64_t bound;

	s->stepdown_releasing = s->lease.wanted || s->lease.state != FDM_LEASE_IDLE;
	s->stepdown_heard_ms = fdm_deadline_full_house(c);
	if (s->renewal_ms == 0)
		return;
	bound = s->renewal_ms + t->lease_expiry_ms + 2 * (uint64_t)t->io_timeout_ms +
		t->host_dead_ms;
	if (s->stepdown_bound_ms == 0 || bound < s->stepdown_bound_ms)
		s->stepdown_bound_ms = bound;
	s->renewal_ms = 0;
}

void fdm_storage_stepped_down(struct fdm_core *c)
{
	for (size_t d = 0; d < c->n_datastores; d++)
		stepdown_bound(c, d);
}

/* A release after a step-down (written, or failed and possibly landing late):
 * a successor may take the lease from its issue on, so the expiry wait protects
 * nothing and the bound is its issue + host_dead, if that is earlier (the
 * model's mutation release-keeps-bound finds the double start otherwise). */
static void released_bound(struct fdm_core *c, int d, uint64_t release_ms)
{
	struct fdm_core_ds *s = &c->ds[d];
	uint64_t bound = release_ms + c->timing.host_dead_ms;

#ifdef FDM_MUTANT_RELEASE_KEEPS_BOUND
	return;   /* tests/sim mutant: the expiry bound outlives the release */
#endif
	if (!s->stepdown_releasing)
		return;
	s->stepdown_releasing = false;
	if (s->stepdown_bound_ms == 0 || bound < s->stepdown_bound_ms)
		s->stepdown_bound_ms = bound;
}

/* As master: a lease I/O of d ended. Failures since the last lease write that
 * succeeded feed the yield rule (election.c); only a write clears them: a
 * datastore that still reads but no longer takes writes (an export gone
 * read-only for this host) renews nothing, before and after the lease is
 * lost. A datastore back from a hang stays marked until our acquisition write
 * succeeds; the yield also needs a slave that reaches more datastores than we
 * do in a report sent well after our own count last changed (election.c). */
static void note_lease_io(struct fdm_core *c, int d, bool write, bool ok, uint64_t now)
{
	struct fdm_core_ds *s = &c->ds[d];

	if (c->role != FDM_ROLE_MASTER || (write && ok))
		s->lease_fail_since_ms = 0;
	else if (!ok && s->lease_fail_since_ms == 0)
		s->lease_fail_since_ms = now;
}

/* Carry out what the lease machine asked for, and say what happened to it. */
static void follow_lease(struct fdm_core *c, int d, struct fdm_lease_action a, uint64_t now,
			 struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	const char *name = c->datastore_names[d];
	/* The lease machine counts a completion after this as a failure. */
	uint64_t deadline = now + s->lease.t.io_ms;

	switch (a.note) {
	case FDM_LEASE_NOTE_NONE:
		break;
	case FDM_LEASE_NOTE_ACQUIRED:
		fdm_core_event(out, &(struct fdm_log_fields){
				.event = "lease-acquired", .datastore = name },
			       "%s: lease on %s acquired, generation %llu (%s)", self_id(c),
			       name, (unsigned long long)s->lease.mine.generation, a.why);
		break;
	case FDM_LEASE_NOTE_LOST:
	case FDM_LEASE_NOTE_RACE_LOST:
		fdm_core_event(out, &(struct fdm_log_fields){ .datastore = name,
				.event = a.note == FDM_LEASE_NOTE_LOST ? "lease-lost" : "lease-not-won" },
			       "%s: lease on %s %s: %s", self_id(c), name,
			       a.note == FDM_LEASE_NOTE_LOST ? "lost" : "not won", a.why);
		break;
	case FDM_LEASE_NOTE_RELEASED:
	case FDM_LEASE_NOTE_RELEASE_FAILED:
		s->lease_release_ms = a.release_ms;
		released_bound(c, d, a.release_ms);
		fdm_core_event(out, &(struct fdm_log_fields){ .datastore = name,
				.event = a.note == FDM_LEASE_NOTE_RELEASED ? "lease-released" :
			       "lease-release-failed" },
			       "%s: lease on %s %s (%s)", self_id(c), name,
			       a.note == FDM_LEASE_NOTE_RELEASED ? "released" : "not released", a.why);
		break;
	}
	/* VM protection counts its evidence from the moment the lease became
	 * ours (DESIGN.md point 2): the confirming re-read. While the machine
	 * stays HELD nobody else can have held it (every renewal first reads that
	 * the record is still ours), so only leaving HELD forgets it. */
	if (a.note == FDM_LEASE_NOTE_ACQUIRED)
		c->ha.ds[d].lease_acquired_ms = now;
	/* Renewals of this mastership only, for the step-down bound. */
	if (c->role == FDM_ROLE_MASTER && fdm_lease_last_write_ms(&s->lease) > s->renewal_ms)
		s->renewal_ms = fdm_lease_last_write_ms(&s->lease);
	if (!fdm_lease_held(&s->lease) && c->ha.ds[d].lease_acquired_ms != 0) {
		c->ha.ds[d].lease_acquired_ms = 0;
		fdm_ha_on_lease_lost(c, d);
	}
	switch (a.io) {
	case FDM_LEASE_IO_READ:
		s->lease_busy = true;
		fdm_storage_action(out, d, FDM_STORAGE_LEASE_READ, NULL, deadline);
		break;
	case FDM_LEASE_IO_WRITE:
		s->lease_busy = true;
		fdm_storage_action(out, d, FDM_STORAGE_LEASE_WRITE, &a.write, deadline);
		break;
	case FDM_LEASE_IO_NONE:
		s->lease_wake_ms = a.wake_ms > now ? a.wake_ms : now;
		break;
	}
}

/* The master holds the lease of every datastore it may use; nobody else does.
 * An uninitialized one is not this cluster's storage (or not the filesystem,
 * export or LUN it should be): a lease "held" there would protect nothing. */
static bool lease_wanted(const struct fdm_core *c, const struct fdm_core_ds *s)
{
	return c->role == FDM_ROLE_MASTER && !c->leaving && s->state != FDM_DSS_UNINITIALIZED;
}

/* What isolation.c allows a master's lease on d: logged when it changes. An
 * isolated master releases with the bounds of a step-down. */
static enum fdm_lease_hold lease_hold(struct fdm_core *c, size_t d, uint64_t now,
				      struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	char why[FDM_LOG_MAX];
	enum fdm_lease_hold hold = FDM_HOLD_RENEW;

	if (c->role == FDM_ROLE_MASTER)
		hold = fdm_core_lease_hold(c, d, now, why, sizeof(why));
	if (hold == s->lease_hold)
		return hold;
	if (hold == FDM_HOLD_RENEW)
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "lease-renewals",
				.datastore = c->datastore_names[d] },
			       "%s: the lease of %s may be renewed again", self_id(c),
			       c->datastore_names[d]);
	else
		fdm_core_event(out, &(struct fdm_log_fields){ .event = hold == FDM_HOLD_PAUSE
				? "lease-paused" : "lease-barred",
				.datastore = c->datastore_names[d] },
			       "%s: %s lease of %s: %s", self_id(c),
			       hold == FDM_HOLD_PAUSE ? "no renewal of the" : "no",
			       c->datastore_names[d], why);
	if (hold == FDM_HOLD_RELEASE && s->lease.wanted) {
		stepdown_bound(c, d);
		c->handover.kind = FDM_HANDOVER_ISOLATED;
		c->handover.at_ms = now;
		fdm_strlcpy(c->handover.from, self_id(c), sizeof(c->handover.from));
		c->handover.to[0] = '\0';
		fdm_strlcpy(c->handover.why, why, sizeof(c->handover.why));
	}
	s->lease_hold = hold;
	return hold;
}

static void drive_lease(struct fdm_core *c, size_t d, uint64_t now, struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	enum fdm_lease_hold hold = lease_hold(c, d, now, out);
	bool want = lease_wanted(c, s) && hold != FDM_HOLD_RELEASE;
	bool pause = hold == FDM_HOLD_PAUSE;

	if (want != s->lease.wanted) {
		s->lease.paused = pause;
		follow_lease(c, (int)d, want ? fdm_lease_want(&s->lease, now)
					     : fdm_lease_release(&s->lease, now), now, out);
		return;
	}
	if (pause != s->lease.paused) {
		follow_lease(c, (int)d, fdm_lease_pause(&s->lease, pause, now), now, out);
		return;
	}
	if (!s->lease_busy && now >= s->lease_wake_ms)
		follow_lease(c, (int)d, fdm_lease_tick(&s->lease, now), now, out);
}

static void write_heartbeat(struct fdm_core *c, size_t d, uint64_t now,
			    struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];

	if (s->hb_busy || now < s->hb_next_ms || c->leaving ||
	    !fdm_storage_action(out, (int)d, FDM_STORAGE_HB_WRITE, NULL,
				now + c->timing.io_timeout_ms))
		return;
	s->hb_busy = true;
	s->hb_issued_ms = now;
	s->hb_next_ms = now + c->timing.storage_hb_ms;
}

/* Read our own hb record back, half an io after each of our hb writes that
 * succeeded: another agent writing as this host (same [host] id, a cloned
 * config) shows there as another incarnation. Half-way between our writes, a
 * writer at the same rate lands in the window about every other time. */
static void read_own_heartbeat(struct fdm_core *c, size_t d, uint64_t now,
			       struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];

	if (s->self_busy || now < s->self_next_ms || c->leaving ||
	    s->state != FDM_DSS_REACHABLE ||
	    !fdm_storage_action(out, (int)d, FDM_STORAGE_HB_READ, NULL,
				now + c->timing.io_timeout_ms))
		return;
	s->self_busy = true;
	s->self_issued_ms = now;
	s->self_next_ms = UINT64_MAX;      /* the next hb write success sets it */
}

static void forget_impostor(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	if (c->impostor_reason[0] == '\0' || now < c->impostor_seen_ms + FDM_IMPOSTOR_FORGET_MS)
		return;
	c->impostor_reason[0] = '\0';
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "impostor-gone" },
		       "%s: no other agent has written as %s for %u s", self_id(c),
		       self_id(c), FDM_IMPOSTOR_FORGET_MS / 1000);
}

void fdm_storage_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	for (size_t d = 0; d < c->n_datastores; d++) {
		write_heartbeat(c, d, now, out);
		read_own_heartbeat(c, d, now, out);
		drive_lease(c, d, now, out);
		fdm_storage_ha_tick(c, d, now, out);
	}
	forget_impostor(c, now, out);
}

static void log_change(struct fdm_core *c, int d, enum fdm_ds_state was, uint64_t now,
		       struct fdm_actions *out)
{
	const struct fdm_core_ds *s = &c->ds[d];
	const char *name = c->datastore_names[d];

	switch (s->state) {
	case FDM_DSS_REACHABLE:
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "datastore-reachable",
				.datastore = name },
			       "%s: datastore %s reachable%s", self_id(c), name,
			       was == FDM_DSS_UNINITIALIZED ? " (initialised meanwhile)" :
			       was == FDM_DSS_UNREACHABLE ? " again" : "");
		break;
	case FDM_DSS_UNREACHABLE:
		/* Storage loss alone stops nothing (DESIGN.md point 3), but an
		 * operator must hear of it: the VMs there lose their storage bound. */
		warn(out, "datastore-unreachable", name,
		     "%s: datastore %s unreachable%s: %s; its VMs keep running while the "
		     "master hears this host", self_id(c), name,
		     was == FDM_DSS_UNKNOWN ? " from the start" : "", s->why);
		break;
	case FDM_DSS_UNINITIALIZED:
		/* The hint first: a long reason must not push it out of the line. */
		warn(out, "datastore-uninitialized", name,
		     "%s: datastore %s is not initialised for this cluster and is not used "
		     "until it is: run `fdmctl datastore init %s` once, on one host (%s)",
		     self_id(c), name, s->url, s->why);
		break;
	case FDM_DSS_UNKNOWN:
		break;
	}
	(void)now;
}

static void log_still_down(struct fdm_core *c, int d, uint64_t now, struct fdm_actions *out)
{
	const struct fdm_core_ds *s = &c->ds[d];
	const char *name = c->datastore_names[d];
	unsigned long long secs = (now - s->down_since_ms) / 1000;

	if (s->state == FDM_DSS_UNINITIALIZED)
		warn(out, "datastore-uninitialized", name,
		     "%s: datastore %s still not initialised for this cluster after %llu s: "
		     "run `fdmctl datastore init %s` once, on one host (%s)", self_id(c), name,
		     secs, s->url, s->why);
	else
		warn(out, "datastore-unreachable", name,
		     "%s: datastore %s still unreachable after %llu s: %s",
		     self_id(c), name, secs, s->why);
}

/* One answer (or failure) of a heartbeat write decides the datastore's state. */
static void set_state(struct fdm_core *c, int d, enum fdm_ds_state next, const char *why,
		      uint64_t now, struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	enum fdm_ds_state was = s->state;
	bool down = next == FDM_DSS_UNREACHABLE || next == FDM_DSS_UNINITIALIZED;
	uint32_t mask = c->my_datastore_mask;

	fdm_strlcpy(s->why, !down ? "" : why != NULL && why[0] ? why : "no reason given",
		    sizeof(s->why));
	if (next == was) {
		if (down && now >= s->remind_ms) {
			log_still_down(c, d, now, out);
			s->remind_ms = now + FDM_DS_REMIND_MS;
		}
		return;
	}
	s->state = next;
	s->down_since_ms = down ? now : 0;
	s->remind_ms = down ? now + FDM_DS_REMIND_MS : 0;
	log_change(c, d, was, now, out);
	if (s->reachable == (next == FDM_DSS_REACHABLE))
		return;
	s->reachable = next == FDM_DSS_REACHABLE;
	mask = s->reachable ? mask | (1u << d) : mask & ~(1u << d);
	fdm_core_datastores(c, mask, now, out);
}

static void heartbeat_done(struct fdm_core *c, int d, const struct fdm_storage_outcome *o,
			   uint64_t now, struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	enum fdm_storage_result r = o->result;
	const char *why = o->why;

	s->hb_busy = false;
	/* Late is failed, whatever it returned (DESIGN.md point 1): a write that
	 * took longer than io_timeout is no evidence of a live host at its issue
	 * time, and a datastore that slow is not one to bid with. */
	if (now > s->hb_issued_ms + c->timing.io_timeout_ms && r != FDM_STORAGE_FAILED) {
		r = FDM_STORAGE_FAILED;
		why = "the heartbeat write answered after io_timeout";
	}
	s->hb_written = r == FDM_STORAGE_OK;
	if (r == FDM_STORAGE_OK) {
		s->hb_ok_ms = s->hb_issued_ms;
		s->hb_done_ms = now;
		if (!s->self_busy)
			s->self_next_ms = now + c->timing.io_timeout_ms / 2;
	}
	set_state(c, d, r == FDM_STORAGE_FAILED ? FDM_DSS_UNREACHABLE :
			r == FDM_STORAGE_UNINITIALIZED ? FDM_DSS_UNINITIALIZED : FDM_DSS_REACHABLE,
		  why, now, out);
}

/* Our hb record, read back, names another incarnation than ours: another agent
 * runs with this host id. Not proof of anything before this agent's start + io
 * (our predecessor's last write may land up to io after its exit), nor before
 * our own first write (the record is then just our predecessor's). One sighting
 * may still be a write of our predecessor that sat in a hung server's socket;
 * the same incarnation in a second read, after another write of ours, is not. */
static void own_record_read(struct fdm_core *c, int d, const struct fdm_storage_outcome *o,
			    uint64_t now, struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	uint64_t io = c->timing.io_timeout_ms;
	bool first = c->impostor_reason[0] == '\0';

	s->self_busy = false;
	if (o->result != FDM_STORAGE_OK || now > s->self_issued_ms + io ||
	    o->hb_incarnation == 0 || o->hb_incarnation == c->incarnation ||
	    s->hb_done_ms == 0 || s->self_issued_ms < s->hb_done_ms ||
	    s->self_issued_ms < c->born_ms + io)
		return;
	if (o->hb_incarnation != c->impostor_incarnation) {
		c->impostor_incarnation = o->hb_incarnation;
		return;
	}
	snprintf(c->impostor_reason, sizeof(c->impostor_reason),
		 "another agent writes as %s: its hb record on %s was written by agent "
		 "incarnation %llu after this agent's (%llu) own write", self_id(c),
		 c->datastore_names[d], (unsigned long long)o->hb_incarnation,
		 (unsigned long long)c->incarnation);
	c->impostor_seen_ms = now;
	if (!first && now < c->impostor_logged_ms + FDM_IMPOSTOR_LOG_MS)
		return;
	c->impostor_logged_ms = now;
	warn(out, "impostor", c->datastore_names[d],
	     "%s: %s; two agents with one [host] id break every guarantee of fdm: "
	     "stop one of them", self_id(c), c->impostor_reason);
}

void fdm_core_storage_done(struct fdm_core *c, int d, enum fdm_storage_op op,
			   const struct fdm_storage_outcome *o, uint64_t now,
			   struct fdm_actions *out)
{
	struct fdm_core_ds *s;
	bool ok;

	if (d < 0 || (size_t)d >= c->n_datastores || o == NULL)
		return;
	s = &c->ds[d];
	ok = o->result == FDM_STORAGE_OK;
	switch (op) {
	case FDM_STORAGE_HB_WRITE:
		heartbeat_done(c, d, o, now, out);
		break;
	case FDM_STORAGE_HB_READ:
		own_record_read(c, d, o, now, out);
		break;
	case FDM_STORAGE_LEASE_READ:
		s->lease_busy = false;
		/* An isolated host watches for a master still renewing d. */
		fdm_isoresp_lease_read(c, (size_t)d, s->lease.pending_issued,
				       ok && now <= s->lease.pending_issued + s->lease.t.io_ms ?
				       o->lease : NULL, now, out);
		note_lease_io(c, d, false, ok && o->lease != NULL &&
			      now <= s->lease.pending_issued + s->lease.t.io_ms, now);
		follow_lease(c, d, fdm_lease_read_done(&s->lease, now, ok && o->lease != NULL,
						       o->lease), now, out);
		break;
	case FDM_STORAGE_LEASE_WRITE:
		s->lease_busy = false;
		note_lease_io(c, d, true, ok && now <= s->lease.pending_issued + s->lease.t.io_ms,
			      now);
		follow_lease(c, d, fdm_lease_write_done(&s->lease, now, ok), now, out);
		break;
	case FDM_STORAGE_VMLIST_READ:
	case FDM_STORAGE_POWERON_WRITE:
	case FDM_STORAGE_HOSTS_READ:
	case FDM_STORAGE_VMLIST_WRITE:
		fdm_storage_ha_done(c, d, op, o, now, out);
		break;
	case FDM_STORAGE_OP_COUNT:
		return;
	}
	/* A role or state change may be waiting for this I/O to end (a release). */
	drive_lease(c, (size_t)d, now, out);
}

bool fdm_core_released(const struct fdm_core *c)
{
	for (size_t d = 0; d < c->n_datastores; d++) {
		const struct fdm_lease *l = &c->ds[d].lease;

		if (c->ds[d].lease_busy || l->state == FDM_LEASE_RELEASING ||
		    l->state == FDM_LEASE_HELD || l->state == FDM_LEASE_CLAIMED)
			return false;
	}
	return fdm_storage_ha_stopped(c);
}

void fdm_core_datastores(struct fdm_core *c, uint32_t mask, uint64_t now,
			 struct fdm_actions *out)
{
	uint32_t count = (uint32_t)__builtin_popcount(mask);

	if (mask == c->my_datastore_mask)
		return;
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "datastores-count" },
		       "%s: reachable datastores %u -> %u", self_id(c), c->my_datastores,
		       count);
	c->my_datastore_mask = mask;
	c->my_datastores = count;
	c->datastores_changed_ms = now;
}
