/* The delta lease state machine against a fake disk and a fake clock. io = 1000,
 * expiry = 4000, acquire wait = 2000, acting = 2000 (fdm/core/timing.c's rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/core/lease.h"
#include "lib/timing.h"

#define IO 1000

static const struct fdm_lease_timing T = { .io_ms = IO, .expiry_ms = 4 * IO,
					   .acquire_wait_ms = 2 * IO, .acting_ms = 2 * IO };

struct disk {
	struct fdm_lease_view v;
};

static void disk_put(struct disk *d, const struct fdm_lease_rec *r)
{
	d->v.kind = FDM_LEASE_VIEW_VALID;
	d->v.rec = *r;
	d->v.fingerprint++;     /* every write changes the bytes */
}

static void disk_put_owner(struct disk *d, const char *owner, uint64_t gen, uint64_t renewal)
{
	struct fdm_lease_rec r;

	memset(&r, 0, sizeof(r));
	strcpy(r.owner, owner);
	r.generation = gen;
	r.renewal = renewal;
	r.nonce = 77;
	disk_put(d, &r);
}

/* Perform the action on the disk at once (I/O takes 5 ms), return the next one. */
static struct fdm_lease_action step(struct fdm_lease *l, struct disk *d, struct fdm_lease_action a,
				    uint64_t *now)
{
	*now += 5;
	if (a.io == FDM_LEASE_IO_READ)
		return fdm_lease_read_done(l, *now, true, &d->v);
	if (a.io == FDM_LEASE_IO_WRITE) {
		disk_put(d, &a.write);
		return fdm_lease_write_done(l, *now, true);
	}
	if (a.wake_ms > *now)
		*now = a.wake_ms;
	return fdm_lease_tick(l, *now);
}

/* Run until a note appears or `until`; returns the note's action. */
static struct fdm_lease_action run_until_note(struct fdm_lease *l, struct disk *d,
					      struct fdm_lease_action a, uint64_t *now,
					      uint64_t until)
{
	while (a.note == FDM_LEASE_NOTE_NONE && *now < until)
		a = step(l, d, a, now);
	return a;
}

/* The agent's derivation gives the timing these tests use (io = 1000). */
static void test_timing_from_agent(void **state)
{
	struct fdm_timing tm;
	struct fdm_lease_timing lt;
	char err[256];

	(void)state;
	assert_int_equal(fdm_timing_derive(1000, IO, &tm, err, sizeof(err)), 0);
	fdm_lease_timing_of(&tm, &lt);
	assert_memory_equal(&lt, &T, sizeof(lt));
}

static void test_free_acquire(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 1000, write_issue;

	(void)state;
	fdm_lease_init(&l, "host-1", &T, 1234, now);
	a = fdm_lease_want(&l, now);
	assert_int_equal(a.io, FDM_LEASE_IO_READ);
	a = step(&l, &d, a, &now);                     /* empty: write at once */
	assert_int_equal(a.io, FDM_LEASE_IO_WRITE);
	assert_string_equal(a.write.owner, "host-1");
	assert_int_equal(a.write.generation, 1);
	assert_int_not_equal(a.write.nonce, 0);
	assert_int_equal(a.write.io_timeout_ms, IO);      /* our timing, for contenders */
	assert_int_equal(a.write.expiry_ms, 4 * IO);
	write_issue = now;
	a = step(&l, &d, a, &now);                     /* written: wait 2 io */
	assert_int_equal(a.io, FDM_LEASE_IO_NONE);
	assert_int_equal(a.wake_ms, now + 2 * IO);
	assert_false(fdm_lease_held(&l));
	a = step(&l, &d, a, &now);                     /* woke: re-read */
	assert_int_equal(a.io, FDM_LEASE_IO_READ);
	a = step(&l, &d, a, &now);                     /* ours: acquired, renew */
	assert_int_equal(a.note, FDM_LEASE_NOTE_ACQUIRED);
	assert_int_equal(a.io, FDM_LEASE_IO_WRITE);
	assert_int_equal(a.write.renewal, 1);
	assert_true(fdm_lease_held(&l));
	assert_false(fdm_lease_acting(&l, now));       /* acquisition write is 2 io old */
	write_issue = now;
	a = step(&l, &d, a, &now);
	assert_true(fdm_lease_acting(&l, now));
	assert_int_equal(fdm_lease_acting_until(&l), write_issue + 2 * IO);
	assert_int_equal(fdm_lease_last_write_ms(&l), write_issue);
	uint64_t since = 0;
	const struct fdm_lease_view *v = fdm_lease_last_view(&l, &since);
	assert_non_null(v);
	assert_string_equal(v->rec.owner, "host-1");
	assert_true(since > 0);
}

/* Table: what a contender does after one read of a record, by its state. */
struct decide_case {
	const char *what;
	enum fdm_lease_view_kind kind;
	const char *owner;
	enum fdm_lease_io want;
};

static void test_first_read_decision_table(void **state)
{
	const struct decide_case cases[] = {
		{ "never written", FDM_LEASE_VIEW_EMPTY, "", FDM_LEASE_IO_WRITE },
		{ "released", FDM_LEASE_VIEW_VALID, "", FDM_LEASE_IO_WRITE },
		{ "owned by another", FDM_LEASE_VIEW_VALID, "host-2", FDM_LEASE_IO_NONE },
		{ "our own old record", FDM_LEASE_VIEW_VALID, "host-1", FDM_LEASE_IO_NONE },
		{ "corrupt", FDM_LEASE_VIEW_CORRUPT, "", FDM_LEASE_IO_NONE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fdm_lease l;
		struct fdm_lease_view v = { .kind = cases[i].kind, .fingerprint = 9 };
		struct fdm_lease_action a;

		strcpy(v.rec.owner, cases[i].owner);
		v.rec.generation = 3;
		fdm_lease_init(&l, "host-1", &T, 1, 0);
		a = fdm_lease_want(&l, 0);
		assert_int_equal(a.io, FDM_LEASE_IO_READ);
		a = fdm_lease_read_done(&l, 5, true, &v);
		print_message("%s\n", cases[i].what);
		assert_int_equal(a.io, cases[i].want);
		if (a.io == FDM_LEASE_IO_WRITE)
			assert_int_equal(a.write.generation,
					 cases[i].kind == FDM_LEASE_VIEW_VALID ? 4 : 1);
		else
			assert_int_equal(a.wake_ms, 5 + IO - 5);   /* next read one io later */
	}
}

/* The owner keeps renewing: the contender never writes. Then it stops: the
 * contender writes only once the content has been unchanged for expiry. */
static void test_expiry_wait_with_changing_content(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0, last_change = 0, renewal = 0;

	(void)state;
	disk_put_owner(&d, "host-2", 5, renewal);
	fdm_lease_init(&l, "host-1", &T, 1, now);
	a = fdm_lease_want(&l, now);
	while (now < 20 * IO) {
		if (now >= last_change + IO) {          /* host-2 renews every io */
			disk_put_owner(&d, "host-2", 5, ++renewal);
			last_change = now;
		}
		assert_int_not_equal(a.io, FDM_LEASE_IO_WRITE);
		a = step(&l, &d, a, &now);
	}
	/* host-2 dies at last_change. */
	while (a.io != FDM_LEASE_IO_WRITE)
		a = step(&l, &d, a, &now);
	print_message("took over %llu ms after the last change (expiry %d)\n",
		      (unsigned long long)(now - last_change), 4 * IO);
	assert_true(now - last_change >= 4 * IO);
	assert_true(now - last_change <= 4 * IO + IO + 50);
	assert_int_equal(a.write.generation, 6);
	a = run_until_note(&l, &d, a, &now, now + 10 * IO);
	assert_int_equal(a.note, FDM_LEASE_NOTE_ACQUIRED);
}

/* Two contenders on a free record: exactly one ends up holding it. */
static void test_race_lost_at_reread(void **state)
{
	struct fdm_lease a1, a2;
	struct disk d = { 0 };
	struct fdm_lease_action x, y;
	uint64_t now = 0;

	(void)state;
	fdm_lease_init(&a1, "host-1", &T, 1, 0);
	fdm_lease_init(&a2, "host-2", &T, 2, 0);
	x = fdm_lease_want(&a1, 0);
	y = fdm_lease_want(&a2, 0);
	/* Both read the empty record before either write lands. */
	x = fdm_lease_read_done(&a1, 10, true, &d.v);
	y = fdm_lease_read_done(&a2, 12, true, &d.v);
	assert_int_equal(x.io, FDM_LEASE_IO_WRITE);
	assert_int_equal(y.io, FDM_LEASE_IO_WRITE);
	disk_put(&d, &x.write);
	x = fdm_lease_write_done(&a1, 20, true);
	disk_put(&d, &y.write);                        /* host-2 lands last */
	y = fdm_lease_write_done(&a2, 25, true);
	now = 20 + 2 * IO;
	x = fdm_lease_tick(&a1, now);
	assert_int_equal(x.io, FDM_LEASE_IO_READ);
	x = fdm_lease_read_done(&a1, now + 5, true, &d.v);
	assert_int_equal(x.note, FDM_LEASE_NOTE_RACE_LOST);
	assert_false(fdm_lease_held(&a1));
	now = 25 + 2 * IO;
	y = fdm_lease_tick(&a2, now);
	y = fdm_lease_read_done(&a2, now + 5, true, &d.v);
	assert_int_equal(y.note, FDM_LEASE_NOTE_ACQUIRED);
	assert_true(fdm_lease_held(&a2));
}

static void hold(struct fdm_lease *l, struct disk *d, uint64_t *now, struct fdm_lease_action *a)
{
	fdm_lease_init(l, "host-1", &T, 5, *now);
	*a = fdm_lease_want(l, *now);
	*a = run_until_note(l, d, *a, now, *now + 10 * IO);
	assert_int_equal(a->note, FDM_LEASE_NOTE_ACQUIRED);
	*a = step(l, d, *a, now);                       /* first renewal written */
	assert_true(fdm_lease_acting(l, *now));
}

static void test_renewal_reads_then_writes(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0, prev;

	(void)state;
	hold(&l, &d, &now, &a);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(a.io, FDM_LEASE_IO_NONE);
		prev = d.v.rec.renewal;
		a = step(&l, &d, a, &now);
		assert_int_equal(a.io, FDM_LEASE_IO_READ);   /* never a blind write */
		a = step(&l, &d, a, &now);
		assert_int_equal(a.io, FDM_LEASE_IO_WRITE);
		assert_int_equal(a.write.renewal, prev + 1);
		a = step(&l, &d, a, &now);
		assert_true(fdm_lease_acting(&l, now));
	}
}

static void test_lost_on_foreign_record(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0;

	(void)state;
	hold(&l, &d, &now, &a);
	disk_put_owner(&d, "host-2", 9, 0);
	a = step(&l, &d, a, &now);
	assert_int_equal(a.io, FDM_LEASE_IO_READ);
	a = step(&l, &d, a, &now);
	assert_int_equal(a.note, FDM_LEASE_NOTE_LOST);
	assert_int_not_equal(a.io, FDM_LEASE_IO_WRITE);
	assert_false(fdm_lease_held(&l));
	assert_false(fdm_lease_acting(&l, now));
}

/* Storage stops answering: acting ends acting_ms after the last good write's
 * issue, and the lease is dropped (never renewed again) one io later. */
static void test_acting_limit(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0, last_issue;

	(void)state;
	hold(&l, &d, &now, &a);
	last_issue = fdm_lease_acting_until(&l) - 2 * IO;
	for (;;) {
		if (a.note != FDM_LEASE_NOTE_NONE)
			break;
		if (a.io == FDM_LEASE_IO_READ) {
			now += IO;             /* every read times out */
			a = fdm_lease_read_done(&l, now, false, NULL);
		} else {
			assert_int_not_equal(a.io, FDM_LEASE_IO_WRITE);
			now = a.wake_ms > now ? a.wake_ms : now;
			a = fdm_lease_tick(&l, now);
		}
		if (now >= last_issue + 2 * IO)
			assert_false(fdm_lease_acting(&l, now));
		else
			assert_true(fdm_lease_acting(&l, now));
	}
	assert_int_equal(a.note, FDM_LEASE_NOTE_LOST);
	assert_true(now >= last_issue + 3 * IO);
	assert_false(fdm_lease_held(&l));
}

/* Paused (a master that hears no peer, DESIGN.md point 4): no write at all,
 * not even for a read issued before the pause; the lease is lost at the
 * renewal limit; unpaused in time, it reads and renews again. */
static void test_paused_writes_nothing(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0;
	uint32_t before;

	(void)state;
	hold(&l, &d, &now, &a);
	a = step(&l, &d, a, &now);                      /* the renewal read is issued */
	assert_int_equal(a.io, FDM_LEASE_IO_READ);
	assert_int_equal(fdm_lease_pause(&l, true, now).io, FDM_LEASE_IO_NONE);
	before = d.v.fingerprint;
	a = step(&l, &d, a, &now);                      /* ... and answers after the pause */
	assert_int_not_equal(a.io, FDM_LEASE_IO_WRITE);
	while (a.note == FDM_LEASE_NOTE_NONE && now < 20 * IO) {
		assert_int_not_equal(a.io, FDM_LEASE_IO_WRITE);
		a = step(&l, &d, a, &now);
	}
	assert_int_equal(d.v.fingerprint, before);
	assert_int_equal(a.note, FDM_LEASE_NOTE_LOST);
	assert_false(fdm_lease_acting(&l, now));

	/* Paused for less than the acting limit: unpaused, it renews. */
	memset(&d, 0, sizeof(d));
	now = 0;
	hold(&l, &d, &now, &a);
	assert_int_equal(fdm_lease_pause(&l, true, now).io, FDM_LEASE_IO_NONE);
	now += IO / 2;
	assert_int_equal(fdm_lease_tick(&l, now).io, FDM_LEASE_IO_NONE);
	a = fdm_lease_pause(&l, false, now);
	while (a.io != FDM_LEASE_IO_READ && now < 3 * IO)
		a = step(&l, &d, a, &now);
	assert_int_equal(a.io, FDM_LEASE_IO_READ);
	a = step(&l, &d, a, &now);
	assert_int_equal(a.io, FDM_LEASE_IO_WRITE);
	a = step(&l, &d, a, &now);
	assert_true(fdm_lease_acting(&l, now));
}

/* Paused while acquiring: a free record is not taken until unpaused. */
static void test_paused_acquires_nothing(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0;

	(void)state;
	fdm_lease_init(&l, "host-1", &T, 5, now);
	a = fdm_lease_pause(&l, true, now);             /* idle: it observes */
	assert_int_equal(a.io, FDM_LEASE_IO_READ);
	a = step(&l, &d, a, &now);
	assert_int_equal(a.io, FDM_LEASE_IO_NONE);
	a = fdm_lease_want(&l, now);
	while (now < 10 * IO || a.io != FDM_LEASE_IO_NONE) {
		assert_int_not_equal(a.io, FDM_LEASE_IO_WRITE);
		a = step(&l, &d, a, &now);

	}
	a = fdm_lease_pause(&l, false, now);
	a = run_until_note(&l, &d, a, &now, now + 10 * IO);
	assert_int_equal(a.note, FDM_LEASE_NOTE_ACQUIRED);
}

/* Paused while acquiring a record another host stopped renewing long ago: no
 * acquisition, and no read sooner than io after the last one. The expiry that
 * has passed would make the next read due at once, and a paused read decides
 * nothing, so without the io spacing each answer asked for the next at once:
 * a paused master hammered its storage with back-to-back reads (fuzz_forward
 * hung on it, its storage answering at the same instant). */
static void test_paused_acquiring_reads_once_per_io(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0;
	int reads = 0;

	(void)state;
	disk_put_owner(&d, "host-2", 1, 1);
	fdm_lease_init(&l, "host-1", &T, 5, now);
	a = fdm_lease_pause(&l, true, now);
	a = step(&l, &d, a, &now);
	a = fdm_lease_want(&l, now);
	while (now < 20 * IO) {
		assert_int_not_equal(a.io, FDM_LEASE_IO_WRITE);
		if (a.io == FDM_LEASE_IO_READ)
			reads++;
		a = step(&l, &d, a, &now);
	}
	assert_true(reads <= 21);
	assert_false(fdm_lease_held(&l));
	while (a.io != FDM_LEASE_IO_NONE)               /* the read in flight answers */
		a = step(&l, &d, a, &now);
	a = fdm_lease_pause(&l, false, now);
	a = run_until_note(&l, &d, a, &now, now + 10 * IO);
	assert_int_equal(a.note, FDM_LEASE_NOTE_ACQUIRED);
}

static void test_release(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0, issue;

	(void)state;
	hold(&l, &d, &now, &a);
	a = fdm_lease_release(&l, now);
	assert_false(fdm_lease_acting(&l, now));          /* stops acting at once */
	assert_int_equal(a.io, FDM_LEASE_IO_READ);
	a = step(&l, &d, a, &now);
	assert_int_equal(a.io, FDM_LEASE_IO_WRITE);
	assert_string_equal(a.write.owner, "");
	issue = now;
	a = step(&l, &d, a, &now);
	assert_int_equal(a.note, FDM_LEASE_NOTE_RELEASED);
	assert_int_equal(a.release_ms, issue);
	assert_string_equal(d.v.rec.owner, "");
}

static void test_release_when_not_ours(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0;

	(void)state;
	hold(&l, &d, &now, &a);
	disk_put_owner(&d, "host-2", 9, 0);
	a = fdm_lease_release(&l, now);
	a = step(&l, &d, a, &now);
	assert_int_equal(a.note, FDM_LEASE_NOTE_RELEASE_FAILED);
	assert_string_equal(d.v.rec.owner, "host-2");      /* nothing written */
}

/* Released mid-write of an acquisition: release after it completes. */
static void test_release_during_acquisition(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0;

	(void)state;
	fdm_lease_init(&l, "host-1", &T, 5, now);
	a = fdm_lease_want(&l, now);
	a = step(&l, &d, a, &now);
	assert_int_equal(a.io, FDM_LEASE_IO_WRITE);
	assert_int_equal(fdm_lease_release(&l, now).io, FDM_LEASE_IO_NONE);  /* write in flight */
	a = run_until_note(&l, &d, a, &now, now + 10 * IO);
	assert_int_equal(a.note, FDM_LEASE_NOTE_RELEASED);
	assert_string_equal(d.v.rec.owner, "");
}

static void test_stray_completion_counted(void **state)
{
	struct fdm_lease l;

	(void)state;
	fdm_lease_init(&l, "host-1", &T, 5, 0);
	fdm_lease_write_done(&l, 10, true);    /* nothing in flight: a read is asked for */
	fdm_lease_write_done(&l, 10, true);    /* a read is in flight, not a write */
	assert_int_equal(l.stray_events, 2);
	assert_string_equal(fdm_lease_state_name(FDM_LEASE_HELD), "held");
	assert_string_equal(fdm_lease_note_name(FDM_LEASE_NOTE_LOST), "lost");
}

/* Idle hosts observe every io, so a newly elected master counts expiry from
 * its earlier reads. */
static void test_idle_observation_counts(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0;

	(void)state;
	disk_put_owner(&d, "host-2", 5, 1);
	fdm_lease_init(&l, "host-1", &T, 1, now);
	a = fdm_lease_tick(&l, now);
	while (now < 6 * IO || a.io != FDM_LEASE_IO_NONE)
		a = step(&l, &d, a, &now);
	assert_string_equal(fdm_lease_last_owner(&l), "host-2");
	a = fdm_lease_want(&l, now);
	if (a.io == FDM_LEASE_IO_NONE)
		a = step(&l, &d, a, &now);
	assert_int_equal(a.io, FDM_LEASE_IO_READ);
	a = step(&l, &d, a, &now);
	assert_int_equal(a.io, FDM_LEASE_IO_WRITE);       /* unchanged for 6 io already */
}

/* Observe while idle until `until` (no I/O left in flight); the next action. */
static struct fdm_lease_action idle_until(struct fdm_lease *l, struct disk *d,
					  struct fdm_lease_action a, uint64_t *now, uint64_t until)
{
	while (*now < until) {
		if (a.io == FDM_LEASE_IO_NONE && a.wake_ms > until) {
			*now = until;
			a = fdm_lease_tick(l, *now);
			break;
		}
		a = step(l, d, a, now);
	}
	while (a.io != FDM_LEASE_IO_NONE)
		a = step(l, d, a, now);
	return a;
}

/* Wanted from now: run until the acquisition write is asked for; its issue time. */
static uint64_t acquisition_write_at(struct fdm_lease *l, struct disk *d, uint64_t *now)
{
	struct fdm_lease_action a = fdm_lease_want(l, *now);

	while (a.io != FDM_LEASE_IO_WRITE) {
		if (*now > 60 * IO)
			fail_msg("no acquisition write by %llu", (unsigned long long)*now);
		a = step(l, d, a, now);
	}
	return *now;
}

/* DESIGN.md "Heartbeats": a newly elected master counts a lease's expiry from
 * its own earlier reads (the completion of the first read that saw the
 * current content), not from its election: here it saw host-2's record at
 * 5 ms, is elected at 2.5 io, and writes at the first read issued at or after
 * 5 + expiry, well before 2.5 io + expiry. Safety holds (DESIGN.md point 1):
 * the content was unchanged for the expiry on our own clock, and the deciding
 * read is issued at its end. */
static void test_expiry_counted_from_earlier_reads(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	uint64_t now = 0, since = 0, elected, wrote;

	(void)state;
	disk_put_owner(&d, "host-2", 5, 1);
	fdm_lease_init(&l, "host-1", &T, 1, now);
	idle_until(&l, &d, fdm_lease_tick(&l, now), &now, 2 * IO + IO / 2);
	assert_non_null(fdm_lease_last_view(&l, &since));
	assert_int_equal(since, 5);
	elected = now;
	wrote = acquisition_write_at(&l, &d, &now);
	assert_true(wrote >= since + 4 * IO);          /* the full expiry, on our clock */
	assert_true(wrote < elected + 4 * IO);         /* not afresh from the election */
	assert_true(wrote <= since + 4 * IO + IO);
}

/* A record that changes while we observe restarts the wait from the first
 * read that saw the new content: the owner renewed at 3 io, so the old
 * content's expiry (5 ms + expiry) proves nothing. */
static void test_changed_record_restarts_wait(void **state)
{
	struct fdm_lease l;
	struct disk d = { 0 };
	struct fdm_lease_action a;
	uint64_t now = 0, since = 0, wrote;

	(void)state;
	disk_put_owner(&d, "host-2", 5, 1);
	fdm_lease_init(&l, "host-1", &T, 1, now);
	a = idle_until(&l, &d, fdm_lease_tick(&l, now), &now, 3 * IO - 1);
	disk_put_owner(&d, "host-2", 5, 2);            /* the owner renews */
	idle_until(&l, &d, a, &now, 4 * IO + IO / 2);
	fdm_lease_last_view(&l, &since);
	assert_true(since >= 3 * IO && since <= 4 * IO + 5);
	wrote = acquisition_write_at(&l, &d, &now);
	assert_true(wrote >= since + 4 * IO);
	assert_true(wrote <= since + 4 * IO + IO);
}

/* What peers announce only ever raises the waits, and never below our own. */
static void test_peer_timing_only_raises(void **state)
{
	struct fdm_lease l;

	(void)state;
	fdm_lease_init(&l, "host-1", &T, 1, 0);
	fdm_lease_note_peer_timing(&l, IO / 2, 2 * IO);         /* shorter than ours */
	assert_int_equal(fdm_lease_claim_wait(&l), 2 * IO);
	assert_int_equal(fdm_lease_expiry_wait(&l), 4 * IO);
	fdm_lease_note_peer_timing(&l, 3 * IO, 12 * IO);
	fdm_lease_note_peer_timing(&l, 2 * IO, 8 * IO);         /* another, shorter peer */
	assert_int_equal(fdm_lease_claim_wait(&l), 6 * IO);
	assert_int_equal(fdm_lease_expiry_wait(&l), 12 * IO);
}

/* ------------------------------------------------------------ event tables */

enum ev { E_WANT, E_RELEASE, E_TICK, E_READ_OK, E_READ_FAIL, E_WRITE_OK, E_WRITE_FAIL };
/* D_SLOW_WRITES: host-2 writes with io 2000 and expiry 8000 (twice ours).
 * D_PEER_ANNOUNCES: no write; host-2's packets announce io 2000 and expiry
 * 8000 (fdm_lease_note_peer_timing). */
enum disk_op { D_AS_IS, D_OTHER_WRITES, D_OTHER_RELEASES, D_SLOW_WRITES, D_PEER_ANNOUNCES };

struct tstep {
	enum ev ev;
	uint64_t t;
	enum disk_op disk;            /* what host-2 does to the disk just before */
	enum fdm_lease_io io;         /* expected action */
	enum fdm_lease_note note;
	uint64_t wake;                /* expected wake time when io is NONE (0: any) */
	uint64_t gen;                 /* expected generation of a write (0: any) */
	const char *owner;            /* expected owner of a write (NULL: any) */
	uint64_t acting_until;        /* expected fdm_lease_acting_until after it (0: any) */
	uint32_t expiry;              /* expected expiry announced by a write (0: any) */
};

struct tseq {
	const char *name;
	struct tstep steps[32];
};

#define R FDM_LEASE_IO_READ
#define W FDM_LEASE_IO_WRITE
#define N FDM_LEASE_IO_NONE
#define NONE FDM_LEASE_NOTE_NONE
/* The free acquisition every sequence below starts from: held at 2030 with
 * the first renewal written at 2040 (issued 2030). */
#define ACQUIRE_FREE \
	{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 }, \
	{ E_READ_OK, 10, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 }, \
	{ E_WRITE_OK, 20, D_AS_IS, N, NONE, 2020, 0, NULL, 0, 0 }, \
	{ E_TICK, 2020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 }, \
	{ E_READ_OK, 2030, D_AS_IS, W, FDM_LEASE_NOTE_ACQUIRED, 0, 1, "host-1", 0, 0 }, \
	{ E_WRITE_OK, 2040, D_AS_IS, N, NONE, 3020, 0, NULL, 0, 0 }

static const struct tseq seqs[] = {
	{ "free acquire, then renew read-check-write", {
		ACQUIRE_FREE,
		{ E_TICK, 3020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 3030, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 },
		{ E_WRITE_OK, 3040, D_AS_IS, N, NONE, 4020, 0, NULL, 0, 0 },
	} },
	{ "expiry wait restarts on every change, confirm read issued at expiry", {
		{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_OTHER_WRITES, N, NONE, 1000, 0, NULL, 0, 0 },
		{ E_TICK, 1000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 1010, D_OTHER_WRITES, N, NONE, 2000, 0, NULL, 0, 0 },
		{ E_TICK, 2000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 2010, D_AS_IS, N, NONE, 3000, 0, NULL, 0, 0 },
		{ E_TICK, 3000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 3010, D_AS_IS, N, NONE, 4000, 0, NULL, 0, 0 },
		{ E_TICK, 4000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 4010, D_AS_IS, N, NONE, 5000, 0, NULL, 0, 0 },
		{ E_TICK, 5000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 5005, D_AS_IS, N, NONE, 5010, 0, NULL, 0, 0 },   /* issued before 1010 + 4000 */
		{ E_TICK, 5010, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 5015, D_AS_IS, W, NONE, 0, 3, "host-1", 0, 0 },  /* host-2's gen 2, + 1 */
	} },
	{ "race lost at the re-read", {
		{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 },
		{ E_WRITE_OK, 20, D_AS_IS, N, NONE, 2020, 0, NULL, 0, 0 },
		{ E_TICK, 2020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 2030, D_OTHER_WRITES, N, FDM_LEASE_NOTE_RACE_LOST, 3020, 0, NULL, 0, 0 },
	} },
	{ "failed acquisition write: observe again", {
		{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 },
		{ E_WRITE_FAIL, 510, D_AS_IS, N, NONE, 1000, 0, NULL, 0, 0 },
		{ E_TICK, 1000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 1010, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 },  /* still free */
	} },
	{ "renewal finds a foreign record: lost at once, no write", {
		ACQUIRE_FREE,
		{ E_TICK, 3020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 3030, D_OTHER_WRITES, N, FDM_LEASE_NOTE_LOST, 4020, 0, NULL, 0, 0 },
	} },
	{ "reads fail: dropped at last write issue + acting + io", {
		ACQUIRE_FREE,
		{ E_TICK, 3020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_FAIL, 4020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_FAIL, 5020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_FAIL, 5040, D_AS_IS, N, FDM_LEASE_NOTE_LOST, 6020, 0, NULL, 0, 0 },
	} },
	{ "release writes it free, then observes", {
		ACQUIRE_FREE,
		{ E_RELEASE, 2100, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 2110, D_AS_IS, W, NONE, 0, 1, "", 0, 0 },
		{ E_WRITE_OK, 2120, D_AS_IS, R, FDM_LEASE_NOTE_RELEASED, 0, 0, NULL, 0, 0 },
	} },
	{ "released and wanted again: re-acquired from the free record", {
		ACQUIRE_FREE,
		{ E_RELEASE, 2100, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_WANT, 2105, D_AS_IS, N, NONE, 0, 0, NULL, 0, 0 },         /* read in flight */
		{ E_READ_OK, 2110, D_AS_IS, W, NONE, 0, 1, "", 0, 0 },
		{ E_WRITE_OK, 2120, D_AS_IS, R, FDM_LEASE_NOTE_RELEASED, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 2130, D_AS_IS, W, NONE, 0, 2, "host-1", 0, 0 },
	} },
	/* DESIGN.md point 1: the contender waits the record's longer expiry
	 * (8000, not 4000) before its confirming read, and the longer claim wait
	 * (2 x 2000) after its write; its own record announces an expiry that
	 * covers that wait (6000), so the re-read is within its renewal limit. */
	{ "longer timing in the record: expiry and claim waits are the record's", {
		{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_SLOW_WRITES, N, NONE, 1000, 0, NULL, 0, 0 },
		{ E_TICK, 1000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 1010, D_AS_IS, N, NONE, 2000, 0, NULL, 0, 0 },
		{ E_TICK, 2000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 2010, D_AS_IS, N, NONE, 3000, 0, NULL, 0, 0 },
		{ E_TICK, 3000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 3010, D_AS_IS, N, NONE, 4000, 0, NULL, 0, 0 },
		{ E_TICK, 4000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 4005, D_AS_IS, N, NONE, 5000, 0, NULL, 0, 0 },   /* own expiry: 4010 */
		{ E_TICK, 5000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 5010, D_AS_IS, N, NONE, 6000, 0, NULL, 0, 0 },   /* own expiry: a write */
		{ E_TICK, 6000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 6010, D_AS_IS, N, NONE, 7000, 0, NULL, 0, 0 },
		{ E_TICK, 7000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 7010, D_AS_IS, N, NONE, 8000, 0, NULL, 0, 0 },
		{ E_TICK, 8000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 8005, D_AS_IS, N, NONE, 8010, 0, NULL, 0, 0 },   /* issued before 10 + 8000 */
		{ E_TICK, 8010, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 8015, D_AS_IS, W, NONE, 0, 3, "host-1", 0, 6000 },
		{ E_WRITE_OK, 8020, D_AS_IS, N, NONE, 12020, 0, NULL, 0, 0 },  /* 2 x the record's io */
		{ E_TICK, 12020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 12030, D_AS_IS, W, FDM_LEASE_NOTE_ACQUIRED, 0, 3, "host-1", 0, 4000 },
		{ E_WRITE_OK, 12040, D_AS_IS, N, NONE, 0, 0, NULL, 12030 + 2000, 0 },
	} },
	/* Issue 14: a contender with a longer io that never wrote here leaves
	 * nothing on the disk; its packets announce its timing. The claim wait
	 * after our write on a free record is then 2 x its io (4000), and our
	 * acquisition record announces an expiry that covers it (6000). */
	{ "a peer's longer io, from its packets: the claim wait is 2 x its io", {
		{ E_WANT, 0, D_PEER_ANNOUNCES, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 6000 },
		{ E_WRITE_OK, 20, D_AS_IS, N, NONE, 4020, 0, NULL, 0, 0 },
		{ E_TICK, 4020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 4030, D_AS_IS, W, FDM_LEASE_NOTE_ACQUIRED, 0, 1, "host-1", 0, 4000 },
		{ E_WRITE_OK, 4040, D_AS_IS, N, NONE, 0, 0, NULL, 4030 + 2000, 0 },
	} },
	/* Heard while our claim waits: the re-read waits for it too. Our record
	 * promised writes only until 10 + 4000 - 1000, so the re-read at 4030
	 * is too late to act on: not won, never unsafe. */
	{ "a peer's longer io heard during our claim wait: the re-read waits for it", {
		{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 4000 },
		{ E_WRITE_OK, 20, D_AS_IS, N, NONE, 2020, 0, NULL, 0, 0 },
		{ E_TICK, 1000, D_PEER_ANNOUNCES, N, NONE, 4020, 0, NULL, 0, 0 },
		{ E_TICK, 2020, D_AS_IS, N, NONE, 4020, 0, NULL, 0, 0 },
		{ E_TICK, 4020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 4030, D_AS_IS, N, FDM_LEASE_NOTE_RACE_LOST, 5020, 0, NULL, 0, 0 },
	} },
	/* The owner's record carries no timing we can use (here none at all);
	 * a peer announced expiry 8000: the confirming read waits that long. */
	{ "a peer's longer expiry, from its packets: the expiry wait is its expiry", {
		{ E_WANT, 0, D_PEER_ANNOUNCES, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_OTHER_WRITES, N, NONE, 1000, 0, NULL, 0, 0 },
		{ E_TICK, 1000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 1010, D_AS_IS, N, NONE, 2000, 0, NULL, 0, 0 },
		{ E_TICK, 2000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 2010, D_AS_IS, N, NONE, 3000, 0, NULL, 0, 0 },
		{ E_TICK, 3000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 3010, D_AS_IS, N, NONE, 4000, 0, NULL, 0, 0 },
		{ E_TICK, 4000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 4005, D_AS_IS, N, NONE, 5000, 0, NULL, 0, 0 },   /* own expiry: 4010 */
		{ E_TICK, 5000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 5010, D_AS_IS, N, NONE, 6000, 0, NULL, 0, 0 },   /* own expiry: a write */
		{ E_TICK, 6000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 6010, D_AS_IS, N, NONE, 7000, 0, NULL, 0, 0 },
		{ E_TICK, 7000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 7010, D_AS_IS, N, NONE, 8000, 0, NULL, 0, 0 },
		{ E_TICK, 8000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 8005, D_AS_IS, N, NONE, 8010, 0, NULL, 0, 0 },   /* issued before 10 + 8000 */
		{ E_TICK, 8010, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 8015, D_AS_IS, W, NONE, 0, 3, "host-1", 0, 6000 },
		{ E_WRITE_OK, 8020, D_AS_IS, N, NONE, 12020, 0, NULL, 0, 0 },  /* 2 x its io */
	} },
	/* DESIGN.md point 1: an I/O that completes after issue + io failed,
	 * whatever it returned. In time at exactly issue + io. */
	{ "a renewal that succeeds late does not extend acting", {
		ACQUIRE_FREE,
		{ E_TICK, 3020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 3030, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 },
		{ E_WRITE_OK, 4031, D_AS_IS, R, NONE, 0, 0, NULL, 2030 + 2000, 0 },
	} },
	{ "a renewal done at exactly issue + io extends acting", {
		ACQUIRE_FREE,
		{ E_TICK, 3020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 3030, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 },
		{ E_WRITE_OK, 4030, D_AS_IS, R, NONE, 0, 0, NULL, 3030 + 2000, 0 },
	} },
	{ "a renewal read that answers late is not acted on", {
		ACQUIRE_FREE,
		{ E_TICK, 3020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 4021, D_AS_IS, R, NONE, 0, 0, NULL, 2030 + 2000, 0 },
	} },
	{ "a late acquisition write is no claim", {
		{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 },
		{ E_WRITE_OK, 1011, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
	} },
	{ "a late confirming read is no acquisition", {
		{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_AS_IS, W, NONE, 0, 1, "host-1", 0, 0 },
		{ E_WRITE_OK, 20, D_AS_IS, N, NONE, 2020, 0, NULL, 0, 0 },
		{ E_TICK, 2020, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 3021, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
	} },
	{ "another host released: taken at once", {
		{ E_WANT, 0, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 10, D_OTHER_WRITES, N, NONE, 1000, 0, NULL, 0, 0 },
		{ E_TICK, 1000, D_AS_IS, R, NONE, 0, 0, NULL, 0, 0 },
		{ E_READ_OK, 1010, D_OTHER_RELEASES, W, NONE, 0, 3, "host-1", 0, 0 },
	} },
};

static void test_event_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		struct fdm_lease l;
		struct disk d = { 0 };
		struct fdm_lease_rec pending = { { 0 }, 0, 0, 0, 0, 0 };
		struct fdm_lease_rec slow = { "host-2", 2, 0, 77, 2 * IO, 8 * IO };
		uint64_t other_renewal = 0;

		print_message("sequence: %s\n", seqs[i].name);
		fdm_lease_init(&l, "host-1", &T, 7, 0);
		for (size_t j = 0; j < 32 && (j == 0 || seqs[i].steps[j].t != 0); j++) {
			const struct tstep *st = &seqs[i].steps[j];
			struct fdm_lease_action a;

			if (st->disk == D_OTHER_WRITES)
				disk_put_owner(&d, "host-2", 2, ++other_renewal);
			else if (st->disk == D_OTHER_RELEASES)
				disk_put_owner(&d, "", 2, ++other_renewal);
			else if (st->disk == D_SLOW_WRITES)
				disk_put(&d, &slow);
			else if (st->disk == D_PEER_ANNOUNCES)
				fdm_lease_note_peer_timing(&l, 2 * IO, 8 * IO);
			switch (st->ev) {
			case E_WANT: a = fdm_lease_want(&l, st->t); break;
			case E_RELEASE: a = fdm_lease_release(&l, st->t); break;
			case E_TICK: a = fdm_lease_tick(&l, st->t); break;
			case E_READ_OK: a = fdm_lease_read_done(&l, st->t, true, &d.v); break;
			case E_READ_FAIL: a = fdm_lease_read_done(&l, st->t, false, NULL); break;
			case E_WRITE_OK:
				disk_put(&d, &pending);
				a = fdm_lease_write_done(&l, st->t, true);
				break;
			default: a = fdm_lease_write_done(&l, st->t, false); break;
			}
			print_message("  step %zu at %llu: io %d note %s\n", j,
				      (unsigned long long)st->t, a.io, fdm_lease_note_name(a.note));
			assert_int_equal(a.io, st->io);
			assert_int_equal(a.note, st->note);
			if (st->io == FDM_LEASE_IO_NONE && st->wake != 0)
				assert_int_equal(a.wake_ms, st->wake);
			if (st->io == FDM_LEASE_IO_WRITE) {
				pending = a.write;
				if (st->gen != 0)
					assert_int_equal(a.write.generation, st->gen);
				if (st->owner != NULL)
					assert_string_equal(a.write.owner, st->owner);
				if (st->expiry != 0)
					assert_int_equal(a.write.expiry_ms, st->expiry);
				assert_int_equal(a.write.io_timeout_ms, IO);
			}
			if (st->acting_until != 0)
				assert_int_equal(fdm_lease_acting_until(&l), st->acting_until);
		}
	}
}

#undef R
#undef W
#undef N
#undef NONE

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timing_from_agent),
		cmocka_unit_test(test_free_acquire),
		cmocka_unit_test(test_first_read_decision_table),
		cmocka_unit_test(test_expiry_wait_with_changing_content),
		cmocka_unit_test(test_race_lost_at_reread),
		cmocka_unit_test(test_renewal_reads_then_writes),
		cmocka_unit_test(test_lost_on_foreign_record),
		cmocka_unit_test(test_acting_limit),
		cmocka_unit_test(test_paused_writes_nothing),
		cmocka_unit_test(test_paused_acquires_nothing),
		cmocka_unit_test(test_paused_acquiring_reads_once_per_io),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_release_when_not_ours),
		cmocka_unit_test(test_release_during_acquisition),
		cmocka_unit_test(test_stray_completion_counted),
		cmocka_unit_test(test_idle_observation_counts),
		cmocka_unit_test(test_expiry_counted_from_earlier_reads),
		cmocka_unit_test(test_changed_record_restarts_wait),
		cmocka_unit_test(test_peer_timing_only_raises),
		cmocka_unit_test(test_event_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
