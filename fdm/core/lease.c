/* The delta lease state machine (lease.h). The rules, and why each wait is what
 * it is, after Chockler and Malkhi, "Light-Weight Leases for Storage-Centric
 * Coordination" (2004), and sanlock's delta_lease.c:
 *
 * - Every I/O lands, if at all, within io of the moment it was asked for (the
 *   backends abort and drop a connection that overruns). A completion reported
 *   later than that is a failure here, whatever it says: a read's content may be
 *   older than the waits assume, and a write that the waits took for landed may
 *   still be in flight.
 * - "Unchanged" means the raw bytes read are identical (fingerprint): every write
 *   changes them, renewals included, so no live owner looks unchanged.
 * - Acting and renewing are bounded by the ISSUE time of our last successful
 *   write (w): we act until w + acting (= expiry - 2 io) and may still write until
 *   w + expiry - io (= acting + io). A write issued by then lands before
 *   w + expiry, and any contender counts expiry from a read that saw our record,
 *   so its confirming re-read, issued at or after that point, sees our last
 *   write. Renewing stops one io later than acting so that the first renewal
 *   after an acquisition (whose write-wait-read already took 2 io) is still
 *   allowed.
 *   The brief's literal "never renew past acting" would forbid that first
 *   renewal: acquisition alone takes acquire_wait = 2 io = acting.
 * - Hosts whose configured timing differs (a rolling change, a typo): every
 *   record carries its writer's io and expiry, and the writer keeps the promise
 *   its record makes (its writes land within its own expiry of the one a
 *   contender saw). A contender therefore waits the larger of its own values,
 *   those it has read in records here, and those any configured peer has
 *   announced in an authenticated packet (a host that never wrote here is
 *   invisible to the storage, not to the network); see plan() for each wait.
 */
#include "fdm/core/lease.h"

#include <string.h>

#include "lib/timing.h"

static void copy_id(char dst[FDM_LEASE_ID_MAX], const char *src)
{
	size_t n = strnlen(src, FDM_LEASE_ID_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* splitmix64: a fresh nonce per attempt from one random seed, deterministic for
 * the simulator. */
static uint64_t next_nonce(struct fdm_lease *l)
{
	uint64_t z = l->nonce_seed + ++l->attempts * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z != 0 ? z : 1;
}

void fdm_lease_timing_of(const struct fdm_timing *t, struct fdm_lease_timing *out)
{
	out->io_ms = t->io_timeout_ms;
	out->expiry_ms = t->lease_expiry_ms;
	out->acquire_wait_ms = t->lease_acquire_wait_ms;
	out->acting_ms = t->lease_acting_ms;
}

void fdm_lease_init(struct fdm_lease *l, const char *self, const struct fdm_lease_timing *t,
		    uint64_t nonce_seed, uint64_t now_ms)
{
	memset(l, 0, sizeof(*l));
	copy_id(l->self, self);
	l->t = *t;
	l->nonce_seed = nonce_seed;
	l->state = FDM_LEASE_IDLE;
	l->next_read_ms = now_ms;
}

static bool view_free(const struct fdm_lease_view *v)
{
	return v->kind == FDM_LEASE_VIEW_EMPTY ||
	       (v->kind == FDM_LEASE_VIEW_VALID && v->rec.owner[0] == '\0');
}

static bool view_same(const struct fdm_lease_view *a, const struct fdm_lease_view *b)
{
	return a->kind == b->kind && a->fingerprint == b->fingerprint;
}

/* Exactly our record: same owner, generation and nonce as our last write (the
 * renewal counter may be one ahead when a timed-out renewal did land). */
static bool view_ours(const struct fdm_lease *l, const struct fdm_lease_view *v)
{
	return l->have_mine && v->kind == FDM_LEASE_VIEW_VALID &&
	       strncmp(v->rec.owner, l->self, FDM_LEASE_ID_MAX) == 0 &&
	       v->rec.generation == l->mine.generation && v->rec.nonce == l->mine.nonce;
}

/* Remember what we saw; returns true when it differs from the previous read. */
static bool observe(struct fdm_lease *l, uint64_t now, const struct fdm_lease_view *v)
{
	bool changed = !l->seen || !view_same(&l->last, v);

	if (changed) {
		/* Since the completion of the first read that saw it: the content
		 * was written no later than that, so counting from here is late,
		 * which is the safe direction for a contender. */
		l->unchanged_since_ms = now;
		l->last = *v;
		l->seen = true;
	}
	if (v->kind == FDM_LEASE_VIEW_VALID && v->rec.generation > l->max_generation)
		l->max_generation = v->rec.generation;
	/* Kept for as long as this agent runs: a host with a longer timing
	 * that wrote here once may contend again, and its record may be
	 * overwritten before we next look (see plan()). */
	if (v->kind == FDM_LEASE_VIEW_VALID && v->rec.io_timeout_ms > l->max_io_seen_ms)
		l->max_io_seen_ms = v->rec.io_timeout_ms;
	if (v->kind == FDM_LEASE_VIEW_VALID && v->rec.expiry_ms > l->max_expiry_seen_ms)
		l->max_expiry_seen_ms = v->rec.expiry_ms;
	return changed;
}

void fdm_lease_note_peer_timing(struct fdm_lease *l, uint32_t io_ms, uint32_t expiry_ms)
{
	/* Kept for as long as this agent runs, like what records announce: a
	 * host heard once may contend later, with its network cut. */
	if (io_ms > l->max_io_seen_ms)
		l->max_io_seen_ms = io_ms;
	if (expiry_ms > l->max_expiry_seen_ms)
		l->max_expiry_seen_ms = expiry_ms;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

uint64_t fdm_lease_expiry_wait(const struct fdm_lease *l)
{
	return max_u64(l->t.expiry_ms, l->max_expiry_seen_ms);
}

uint64_t fdm_lease_claim_wait(const struct fdm_lease *l)
{
	return max_u64(l->t.acquire_wait_ms, 2 * (uint64_t)l->max_io_seen_ms);
}

/* The expiry our acquisition record announces. Normally our own (= claim wait
 * + 2 io). When the claim wait is longer than ours (a slower host wrote here),
 * claim wait + 2 io as well: the re-read, issued one claim wait after the write
 * completed, then ends inside the renewal limit w + expiry - io with the same
 * margin as with our own timing, and contenders wait that longer expiry. (An
 * absurd record whose wait does not fit: our own, and the acquisition ends
 * "too slow", never unsafe.) */
static uint32_t acquisition_expiry(const struct fdm_lease *l)
{
	uint64_t need = fdm_lease_claim_wait(l) + 2 * (uint64_t)l->t.io_ms;

	return (uint32_t)(need > l->t.expiry_ms && need <= UINT32_MAX ? need : l->t.expiry_ms);
}

/* Every record we write says how long its writer may still write after it. */
static void stamp(const struct fdm_lease *l, struct fdm_lease_rec *rec, uint32_t expiry_ms)
{
	rec->io_timeout_ms = l->t.io_ms;
	rec->expiry_ms = expiry_ms;
}

/* The promise of our last successful write: every later write of ours is issued
 * by its issue + its announced expiry - io, so it lands within that expiry. */
static uint64_t renew_limit(const struct fdm_lease *l)
{
	uint64_t expiry = max_u64(l->mine.expiry_ms, l->t.expiry_ms);

	return l->last_write_issue_ms + expiry - l->t.io_ms;
}

static struct fdm_lease_action none(void)
{
	struct fdm_lease_action a;

	memset(&a, 0, sizeof(a));
	return a;
}

static struct fdm_lease_action do_read(struct fdm_lease *l, uint64_t now)
{
	struct fdm_lease_action a = none();

	l->pending = FDM_LEASE_IO_READ;
	l->pending_issued = now;
	l->next_read_ms = now + l->t.io_ms;
	a.io = FDM_LEASE_IO_READ;
	return a;
}

static struct fdm_lease_action do_write(struct fdm_lease *l, uint64_t now,
					const struct fdm_lease_rec *rec)
{
	struct fdm_lease_action a = none();

	l->pending = FDM_LEASE_IO_WRITE;
	l->pending_issued = now;
	l->pending_rec = *rec;
	a.io = FDM_LEASE_IO_WRITE;
	a.write = *rec;
	return a;
}

static struct fdm_lease_action write_acquisition(struct fdm_lease *l, uint64_t now)
{
	struct fdm_lease_rec rec;

	memset(&rec, 0, sizeof(rec));
	copy_id(rec.owner, l->self);
	rec.generation = l->max_generation + 1;
	rec.nonce = next_nonce(l);
	stamp(l, &rec, acquisition_expiry(l));
	return do_write(l, now, &rec);
}

static struct fdm_lease_action write_renewal(struct fdm_lease *l, uint64_t now,
					     const struct fdm_lease_view *v)
{
	struct fdm_lease_rec rec = l->mine;

	rec.renewal = (v->rec.renewal > rec.renewal ? v->rec.renewal : rec.renewal) + 1;
	stamp(l, &rec, l->t.expiry_ms);
	return do_write(l, now, &rec);
}

static struct fdm_lease_action with_note(struct fdm_lease_action a, enum fdm_lease_note n,
					 const char *why)
{
	a.note = n;
	a.why = why;
	return a;
}

static struct fdm_lease_action wait_until(uint64_t t)
{
	struct fdm_lease_action a = none();

	a.wake_ms = t;
	return a;
}

/* Drop ownership (the caller logs the note), keep observing. */
static void lose(struct fdm_lease *l)
{
	l->have_mine = false;
	l->state = l->wanted ? FDM_LEASE_ACQUIRING : FDM_LEASE_IDLE;
}

/* No I/O in flight: decide the next step for the current state. */
static struct fdm_lease_action plan(struct fdm_lease *l, uint64_t now)
{
	uint64_t due;

	if (!l->wanted && (l->state == FDM_LEASE_CLAIMED || l->state == FDM_LEASE_HELD)) {
		l->state = FDM_LEASE_RELEASING;
		l->release_read_done = false;
		l->next_read_ms = now;
	}
	if (!l->wanted && l->state == FDM_LEASE_ACQUIRING)
		l->state = FDM_LEASE_IDLE;

	due = l->next_read_ms;
	switch (l->state) {
	case FDM_LEASE_IDLE:
		break;
	case FDM_LEASE_ACQUIRING:
		/* The confirming re-read must be ISSUED no earlier than expiry after
		 * the content was first seen: only then has the owner, if alive,
		 * had expiry to change it, and every write it may still issue
		 * (acting + io after its last one) has landed before this read.
		 * "Expiry" is the OWNER's: its writes land by the issue of the one
		 * we saw + the expiry that record announces, which is ours only if
		 * its timing is ours. So we wait max(our expiry, the largest expiry
		 * announced in any record read here or by any configured peer in an
		 * authenticated packet: the owner is one of those hosts, and a
		 * record that announces nothing, corrupt or written by an older
		 * fdm, still has one). By induction on the owner's
		 * writes after the content we saw: the first of them is issued
		 * within the announced expiry - io of it and lands within the
		 * expiry, so before our re-read, which then sees a change. A host
		 * that waited its own shorter expiry could take the lease while a
		 * slower owner still acts (test_lease.c "longer timing in the
		 * record", test_storage.c test_mixed_timing_never_two_actors). A
		 * corrupt record announces nothing: the largest seen still holds. */
		if (l->seen && !view_free(&l->last) && !l->paused &&
		    l->unchanged_since_ms + fdm_lease_expiry_wait(l) < due)
			due = l->unchanged_since_ms + fdm_lease_expiry_wait(l);
		/* Paused, a read decides nothing (acquiring_read): once per io,
		 * not one after the other once the expiry has passed. */
		break;
	case FDM_LEASE_CLAIMED:
		/* Wait the claim wait after our write completed before the re-read:
		 * a contender's read still in flight when our write landed (up to
		 * its io) may be followed by its write (up to its io more); after
		 * 2 x that io every such write has landed, so the re-read shows the
		 * last one and at most one contender finds its own record
		 * (Chockler-Malkhi). The io is the CONTENDER's, so the wait is
		 * 2 x the largest of: our io; any io announced in a record read
		 * here (the previous owner contending again, every host that wrote
		 * here); any io a configured peer announced in an authenticated
		 * packet, even one refused for its timing. A host with a longer io
		 * that never wrote here is invisible to the storage; the network
		 * hears it, and its packets carry its timing
		 * (fdm_lease_note_peer_timing, test_storage.c
		 * test_mixed_timing_free_lease_one_winner).
		 * What remains is a host we never heard and whose record we never
		 * saw. Its write may land after our re-read, and both of us find
		 * our own record. Then either our renewal lands after its write
		 * (its re-read sees ours, it backs off), or our renewals all landed
		 * before it: our next renewal read (within our io) sees its record
		 * and we stop acting by our last write + acting (2 x our io), before
		 * its own claim wait (2 x its longer io) ends. Two winners for a
		 * while, one after the other, never two acting at once. */
		due = l->claim_done_ms + fdm_lease_claim_wait(l);
#ifdef FDM_MUTANT_NO_2IO_WAIT
		due = l->claim_done_ms;   /* tests/sim mutant: no wait before the re-read */
#endif
		if (l->paused)            /* the re-read would renew at once */
			due = renew_limit(l);
		if (l->paused && now >= renew_limit(l)) {
			lose(l);
			return with_note(plan(l, now), FDM_LEASE_NOTE_RACE_LOST,
					 "paused past the renewal limit before the re-read");
		}
		break;
	case FDM_LEASE_HELD:
		if (now >= renew_limit(l)) {
			lose(l);
			return with_note(plan(l, now), FDM_LEASE_NOTE_LOST,
					 "not renewed within the acting limit");
		}
		if (l->paused || renew_limit(l) < due)
			due = renew_limit(l);
		break;
	case FDM_LEASE_RELEASING:
		break;
	}
	/* In HELD, now < renew_limit here, so a due time reached is a read. */
	if (now >= due)
		return do_read(l, now);
	return wait_until(due);
}

struct fdm_lease_action fdm_lease_want(struct fdm_lease *l, uint64_t now)
{
	l->wanted = true;
	if (l->state == FDM_LEASE_IDLE) {
		l->state = FDM_LEASE_ACQUIRING;
		l->next_read_ms = now;   /* decide on a fresh read */
	}
	if (l->pending != FDM_LEASE_IO_NONE)
		return none();
	return plan(l, now);
}

struct fdm_lease_action fdm_lease_release(struct fdm_lease *l, uint64_t now)
{
	l->wanted = false;
	if (l->pending != FDM_LEASE_IO_NONE)
		return none();
	return plan(l, now);
}

struct fdm_lease_action fdm_lease_pause(struct fdm_lease *l, bool paused, uint64_t now)
{
	bool changed = l->paused != paused;

	l->paused = paused;
	if (!changed || l->pending != FDM_LEASE_IO_NONE)
		return none();
	return plan(l, now);
}

struct fdm_lease_action fdm_lease_tick(struct fdm_lease *l, uint64_t now)
{
	if (l->pending != FDM_LEASE_IO_NONE)
		return none();
	return plan(l, now);
}

static struct fdm_lease_action acquiring_read(struct fdm_lease *l, uint64_t now, uint64_t issued,
					      const struct fdm_lease_view *v, bool changed)
{
	/* Free (never written, or released): take it at once. The write follows
	 * this read immediately, which the 2 io wait after it relies on. */
	if (l->paused)
		return plan(l, now);
	if (view_free(v))
		return write_acquisition(l, now);
	/* Unchanged from a read that completed expiry before this one was issued:
	 * the owner has stopped writing (see plan() for which expiry). */
	if (!changed && issued >= l->unchanged_since_ms + fdm_lease_expiry_wait(l))
		return write_acquisition(l, now);
	return plan(l, now);
}

static struct fdm_lease_action confirm_read(struct fdm_lease *l, uint64_t now,
					    const struct fdm_lease_view *v)
{
	if (!view_ours(l, v)) {
		lose(l);
		return with_note(plan(l, now), FDM_LEASE_NOTE_RACE_LOST,
				 "another record at the re-read after the acquisition wait");
	}
	if (l->paused)            /* re-read again once unpaused, then renew */
		return plan(l, now);
	l->state = FDM_LEASE_HELD;
	if (now >= renew_limit(l)) {
		lose(l);
		return with_note(plan(l, now), FDM_LEASE_NOTE_RACE_LOST,
				 "acquisition too slow: re-read after the renewal limit");
	}
	/* Renew right away, with this re-read as the renewal's read: acting
	 * counts from a write's issue, and the acquisition write is already
	 * acquire_wait old. */
	return with_note(write_renewal(l, now, v), FDM_LEASE_NOTE_ACQUIRED,
			 "our record survived the acquisition wait");
}

static struct fdm_lease_action held_read(struct fdm_lease *l, uint64_t now,
					 const struct fdm_lease_view *v)
{
	/* Never write blind: a renewal that did not check could bury a
	 * successor's acquisition under our late write. */
	if (!view_ours(l, v)) {
		lose(l);
		return with_note(plan(l, now), FDM_LEASE_NOTE_LOST,
				 "the record is no longer ours");
	}
	if (now >= renew_limit(l)) {
		lose(l);
		return with_note(plan(l, now), FDM_LEASE_NOTE_LOST,
				 "not renewed within the acting limit");
	}
	if (l->paused)            /* a read issued before the pause: no renewal */
		return plan(l, now);
	return write_renewal(l, now, v);
}

/* An I/O that ends after its issue + io failed, whatever it returned: a read
 * that old may miss a write the waits count on; a write that slow may land
 * after a contender's re-read (DESIGN.md point 1). So a renewal that "succeeds"
 * late extends nothing. */
static bool in_time(struct fdm_lease *l, uint64_t issued, uint64_t now)
{
#ifdef FDM_MUTANT_LATE_IO_OK
	return true;              /* tests/sim mutant: a late answer counts */
#endif
	if (now <= issued + l->t.io_ms)
		return true;
	l->late_events++;
	return false;
}

/* Released (or given up): wanted again meanwhile, acquire afresh. */
static void after_release(struct fdm_lease *l, uint64_t now)
{
	l->state = l->wanted ? FDM_LEASE_ACQUIRING : FDM_LEASE_IDLE;
	l->next_read_ms = now;
}

/* Releasing ends without a release written: not ours, or storage too slow. */
static struct fdm_lease_action release_failed(struct fdm_lease *l, uint64_t now, const char *why)
{
	struct fdm_lease_action a;

	l->have_mine = false;
	after_release(l, now);
	a = with_note(plan(l, now), FDM_LEASE_NOTE_RELEASE_FAILED, why);
	a.release_ms = now;
	return a;
}

static struct fdm_lease_action releasing_read(struct fdm_lease *l, uint64_t now,
					      const struct fdm_lease_view *v)
{
	struct fdm_lease_rec rec;

	l->release_read_done = true;
	if (!view_ours(l, v) || now >= renew_limit(l))
		return release_failed(l, now, "not ours any more (or past the renewal limit): "
				      "nothing written");
	rec = l->mine;
	rec.owner[0] = '\0';
	rec.nonce = 0;
	rec.renewal = (v->rec.renewal > rec.renewal ? v->rec.renewal : rec.renewal) + 1;
	stamp(l, &rec, l->t.expiry_ms);
	return do_write(l, now, &rec);
}

struct fdm_lease_action fdm_lease_read_done(struct fdm_lease *l, uint64_t now, bool ok,
					    const struct fdm_lease_view *v)
{
	uint64_t issued = l->pending_issued;
	bool changed = false;

	if (l->pending != FDM_LEASE_IO_READ) {
		l->stray_events++;
		return l->pending == FDM_LEASE_IO_NONE ? plan(l, now) : none();
	}
	l->pending = FDM_LEASE_IO_NONE;
	ok = ok && in_time(l, issued, now);
	if (ok)
		changed = observe(l, now, v);

	if (!ok) {
		/* Nothing learnt. A failed confirm read leaves our claim unproven:
		 * start over (our record, if it landed, is just content to wait on). */
		if (l->state == FDM_LEASE_CLAIMED)
			lose(l);
		if (l->state == FDM_LEASE_RELEASING) {
			l->release_read_done = false;
			if (now >= renew_limit(l))
				return release_failed(l, now, "release read failed until the "
						      "renewal limit");
		}
		return plan(l, now);
	}
	switch (l->state) {
	case FDM_LEASE_ACQUIRING:
		return l->wanted ? acquiring_read(l, now, issued, v, changed) : plan(l, now);
	case FDM_LEASE_CLAIMED:
		return confirm_read(l, now, v);
	case FDM_LEASE_HELD:
		return held_read(l, now, v);
	case FDM_LEASE_RELEASING:
		return releasing_read(l, now, v);
	case FDM_LEASE_IDLE:
		break;
	}
	return plan(l, now);
}

struct fdm_lease_action fdm_lease_write_done(struct fdm_lease *l, uint64_t now, bool ok)
{
	uint64_t issued = l->pending_issued;
	struct fdm_lease_action a;

	if (l->pending != FDM_LEASE_IO_WRITE) {
		l->stray_events++;
		return l->pending == FDM_LEASE_IO_NONE ? plan(l, now) : none();
	}
	l->pending = FDM_LEASE_IO_NONE;
	ok = ok && in_time(l, issued, now);
	switch (l->state) {
	case FDM_LEASE_ACQUIRING:
	case FDM_LEASE_IDLE:
		/* A failed acquisition write may still land: it is then just a
		 * record nobody renews, and we wait on it like any other. */
		if (!ok)
			break;
		l->state = FDM_LEASE_CLAIMED;
		l->have_mine = true;
		l->mine = l->pending_rec;
		l->last_write_issue_ms = issued;
		l->claim_done_ms = now;
		break;
	case FDM_LEASE_HELD:
		if (ok) {
			l->mine = l->pending_rec;
			l->last_write_issue_ms = issued;
		}
		break;
	case FDM_LEASE_RELEASING:
		l->have_mine = false;
		after_release(l, now);
		a = with_note(plan(l, now), ok ? FDM_LEASE_NOTE_RELEASED : FDM_LEASE_NOTE_RELEASE_FAILED,
			      ok ? "written free" : "release write failed: it may land late");
		/* A successor may take a released lease at once: from the issue of
		 * the release write on, not from its completion. */
		a.release_ms = issued;
		return a;
	case FDM_LEASE_CLAIMED:
		break;
	}
	return plan(l, now);
}
