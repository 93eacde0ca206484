/* What this host does on each datastore, every io_timeout (DESIGN.md
 * "Heartbeats" and safety point 1): write its storage heartbeat, read the lease
 * record of the protectedlist, and, as master, hold that lease (the delta lease
 * of datastore/lease.c). Pure: the shell performs each I/O asked for and reports
 * how it ended through fdm_core_storage_done.
 *
 * A datastore is reachable while its heartbeat writes answer; the election bids
 * count the reachable ones. The master wants the lease on every datastore, and
 * keeps trying where I/O fails (the lease machine gives up ownership by itself
 * when its renewals fail); any other role, and a clean stop, releases it. */
#include "fdm/core/core.h"

#include <string.h>

#include "lib/util.h"

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

static void storage_action(struct fdm_actions *out, int d, enum fdm_storage_op op,
			   const struct fdm_lease_rec *rec)
{
	struct fdm_action *a = fdm_core_action(out, FDM_ACT_STORAGE);

	if (a == NULL)
		return;
	a->ds = d;
	a->op = op;
	if (rec != NULL)
		a->lease = *rec;
}

void fdm_storage_init(struct fdm_core *c, size_t d, const char *url, uint64_t now)
{
	struct fdm_core_ds *s = &c->ds[d];
	struct fdm_lease_timing lt;

	fdm_lease_timing_of(&c->timing, &lt);
	memset(s, 0, sizeof(*s));
	fdm_strlcpy(s->url, url, sizeof(s->url));
	s->hb_next_ms = now;
	/* Nonces only need to differ between this host's attempts and other hosts'
	 * records; the incarnation (wall clock at start) and index make them so. */
	fdm_lease_init(&s->lease, self_id(c), &lt, c->incarnation * 64 + d, now);
}

/* Carry out what the lease machine asked for, and say what happened to it. */
static void follow_lease(struct fdm_core *c, int d, struct fdm_lease_action a, uint64_t now,
			 struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	const char *name = c->datastore_names[d];

	switch (a.note) {
	case FDM_LEASE_NOTE_NONE:
		break;
	case FDM_LEASE_NOTE_ACQUIRED:
		fdm_core_log(out, "%s: lease on %s acquired, generation %llu (%s)", self_id(c),
			     name, (unsigned long long)s->lease.mine.generation, a.why);
		break;
	case FDM_LEASE_NOTE_LOST:
	case FDM_LEASE_NOTE_RACE_LOST:
		fdm_core_log(out, "%s: lease on %s %s: %s", self_id(c), name,
			     a.note == FDM_LEASE_NOTE_LOST ? "lost" : "not won", a.why);
		break;
	case FDM_LEASE_NOTE_RELEASED:
	case FDM_LEASE_NOTE_RELEASE_FAILED:
		s->lease_release_ms = a.release_ms;
		fdm_core_log(out, "%s: lease on %s %s (%s)", self_id(c), name,
			     a.note == FDM_LEASE_NOTE_RELEASED ? "released" : "not released", a.why);
		break;
	}
	switch (a.io) {
	case FDM_LEASE_IO_READ:
		s->lease_busy = true;
		storage_action(out, d, FDM_STORAGE_LEASE_READ, NULL);
		break;
	case FDM_LEASE_IO_WRITE:
		s->lease_busy = true;
		storage_action(out, d, FDM_STORAGE_LEASE_WRITE, &a.write);
		break;
	case FDM_LEASE_IO_NONE:
		s->lease_wake_ms = a.wake_ms > now ? a.wake_ms : now;
		break;
	}
}

/* The master holds the lease of every datastore; nobody else does. */
static bool lease_wanted(const struct fdm_core *c)
{
	return c->role == FDM_ROLE_MASTER && !c->leaving;
}

static void drive_lease(struct fdm_core *c, size_t d, uint64_t now, struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];
	bool want = lease_wanted(c);

	if (want != s->lease.wanted) {
		follow_lease(c, (int)d, want ? fdm_lease_want(&s->lease, now)
					     : fdm_lease_release(&s->lease, now), now, out);
		return;
	}
	if (!s->lease_busy && now >= s->lease_wake_ms)
		follow_lease(c, (int)d, fdm_lease_tick(&s->lease, now), now, out);
}

static void write_heartbeat(struct fdm_core *c, size_t d, uint64_t now,
			    struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];

	if (s->hb_busy || now < s->hb_next_ms || c->leaving)
		return;
	s->hb_busy = true;
	s->hb_issued_ms = now;
	s->hb_next_ms = now + c->timing.storage_hb_ms;
	storage_action(out, (int)d, FDM_STORAGE_HB_WRITE, NULL);
}

void fdm_storage_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	for (size_t d = 0; d < c->n_datastores; d++) {
		write_heartbeat(c, d, now, out);
		drive_lease(c, d, now, out);
	}
}

static void set_reachable(struct fdm_core *c, int d, bool up, uint64_t now,
			  struct fdm_actions *out)
{
	uint32_t mask = c->my_datastore_mask;

	if (c->ds[d].reachable == up)
		return;
	c->ds[d].reachable = up;
	fdm_core_log(out, "%s: datastore %s %s", self_id(c), c->datastore_names[d],
		     up ? "reachable" : "unreachable (its I/O failed or timed out)");
	mask = up ? mask | (1u << d) : mask & ~(1u << d);
	fdm_core_datastores(c, mask, now, out);
}

static void heartbeat_done(struct fdm_core *c, int d, enum fdm_storage_result r,
			   uint64_t now, struct fdm_actions *out)
{
	struct fdm_core_ds *s = &c->ds[d];

	s->hb_busy = false;
	s->hb_written = r == FDM_STORAGE_OK;
	if (r == FDM_STORAGE_OK)
		s->hb_ok_ms = s->hb_issued_ms;
	set_reachable(c, d, r != FDM_STORAGE_FAILED, now, out);
}

void fdm_core_storage_done(struct fdm_core *c, int d, enum fdm_storage_op op,
			   enum fdm_storage_result result, const struct fdm_lease_view *view,
			   uint64_t now, struct fdm_actions *out)
{
	struct fdm_core_ds *s;
	bool ok = result == FDM_STORAGE_OK;

	if (d < 0 || (size_t)d >= c->n_datastores)
		return;
	s = &c->ds[d];
	switch (op) {
	case FDM_STORAGE_HB_WRITE:
		heartbeat_done(c, d, result, now, out);
		break;
	case FDM_STORAGE_LEASE_READ:
		s->lease_busy = false;
		follow_lease(c, d, fdm_lease_read_done(&s->lease, now, ok, view), now, out);
		break;
	case FDM_STORAGE_LEASE_WRITE:
		s->lease_busy = false;
		follow_lease(c, d, fdm_lease_write_done(&s->lease, now, ok), now, out);
		break;
	}
	/* A role change may be waiting for this I/O to end (a release). */
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
	return true;
}

void fdm_core_datastores(struct fdm_core *c, uint32_t mask, uint64_t now,
			 struct fdm_actions *out)
{
	uint32_t count = (uint32_t)__builtin_popcount(mask);

	(void)now;
	if (mask == c->my_datastore_mask)
		return;
	fdm_core_log(out, "%s: reachable datastores %u -> %u", self_id(c), c->my_datastores,
		     count);
	c->my_datastore_mask = mask;
	c->my_datastores = count;
}
