/* The delta lease state machine against a fake disk and a fake clock. io = 1000,
 * expiry = 4000, acquire wait = 2000, acting = 2000 (fdm/core/timing.c's rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "datastore/lease.h"
#include "fdm/core/timing.h"

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
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_release_when_not_ours),
		cmocka_unit_test(test_release_during_acquisition),
		cmocka_unit_test(test_stray_completion_counted),
		cmocka_unit_test(test_idle_observation_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
