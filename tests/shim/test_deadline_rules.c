/* Unit tests of the rules of the protected set (hostd-shim/deadlines.c),
 * DESIGN.md safety point 5: a deadline that has passed stays in force until
 * its domain is seen off; no later deadline, replace, clean stop or power-on
 * lifts it; a failed power-off is due again after SHIM_FENCE_RETRY_MS; and the
 * replace semantics a refreshing fdm relies on. Times are plain numbers (ms):
 * the rules take `now` as an argument. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hostd-shim/deadlines.h"

#define UUID_A "aaaaaaaa-0000-1111-2222-333333333333"

struct dl_input {
	const char *name;
	const char *uuid;
	uint64_t at;
};

/* Replace d's set from a table of inputs through the protobuf path. */
static int replace_at(struct shim_deadlines *d, const struct dl_input *in, size_t n,
		      uint64_t now, unsigned *changed, char *why)
{
	Fdm__DomainDeadline dl[8], *dp[8];
	Fdm__DomainRef ref[8];
	size_t i;

	for (i = 0; i < n; i++) {
		fdm__domain_ref__init(&ref[i]);
		ref[i].name = (char *)in[i].name;
		ref[i].uuid = (char *)in[i].uuid;
		fdm__domain_deadline__init(&dl[i]);
		dl[i].domain = &ref[i];
		dl[i].boottime_ms = in[i].at;
		dp[i] = &dl[i];
	}
	return shim_deadlines_replace(d, dp, n, now, changed, why, 256);
}

/* Set at `now`, expecting success; returns the change mask. */
static unsigned set(struct shim_deadlines *d, const struct dl_input *in, size_t n, uint64_t now)
{
	unsigned changed;
	char why[256];

	assert_int_equal(replace_at(d, in, n, now, &changed, why), 0);
	return changed;
}

static struct shim_deadline *get(struct shim_deadlines *d, const char *name)
{
	return shim_deadlines_find(d, name, NULL);
}

static struct shim_domref ref_of(const char *name)
{
	struct shim_domref r;

	memset(&r, 0, sizeof(r));
	strcpy(r.name, name);
	return r;
}

/* The timer fires at `now`: issue a power-off of every due entry. */
static size_t fire(struct shim_deadlines *d, uint64_t now)
{
	size_t i, n = 0;

	for (i = 0; i < d->n; i++) {
		if (shim_deadline_due(&d->v[i], now)) {
			shim_deadline_issued(&d->v[i]);
			n++;
		}
	}
	return n;
}

static void result(struct shim_deadlines *d, const char *name, enum shim_fence_outcome o,
		   uint64_t now)
{
	struct shim_domref r = ref_of(name);

	shim_deadlines_fence_result(d, &r, o, now);
}

static void test_replace_keeps_flags(void **state)
{
	const struct dl_input first[] = { { "a", NULL, 100 }, { "b", NULL, 200 } };
	const struct dl_input same[] = { { "b", NULL, 200 }, { "a", NULL, 100 } };
	const struct dl_input later[] = { { "a", NULL, 150 }, { "b", NULL, 200 } };
	const struct dl_input fewer[] = { { "b", NULL, 200 } };
	struct shim_deadlines d;

	(void)state;
	shim_deadlines_init(&d);
	assert_int_equal(set(&d, first, 2, 0), SHIM_DL_VALUES | SHIM_DL_MEMBERS);
	assert_int_equal(shim_deadlines_next(&d), 100);
	assert_int_equal(fire(&d, 100), 1);
	assert_true(get(&d, "a")->fence_issued);
	assert_int_equal(shim_deadlines_next(&d), 200);

	/* A refresh with the same values changes nothing and does not fence twice. */
	assert_int_equal(set(&d, same, 2, 100), 0);
	assert_true(get(&d, "a")->fence_issued);
	assert_int_equal(fire(&d, 100), 0);
	result(&d, "a", SHIM_FENCE_OFF, 110);
	assert_true(get(&d, "a")->seen_off);

	/* Seen off: its deadline may move, and may leave the set. */
	assert_int_equal(set(&d, later, 2, 120), SHIM_DL_VALUES);
	assert_false(get(&d, "a")->seen_off);
	assert_int_equal(shim_deadlines_next(&d), 150);
	assert_int_equal(set(&d, fewer, 1, 120), SHIM_DL_VALUES | SHIM_DL_MEMBERS);
	assert_null(get(&d, "a"));
	assert_int_equal(shim_deadlines_clear(&d, 120), 0);
	assert_int_equal(shim_deadlines_next(&d), UINT64_MAX);
	shim_deadlines_free(&d);
}

/* Issue 14: a later deadline reset the flags of a passed one, so a power-off
 * that failed and waited for its retry was never tried again. */
static void test_later_deadline_does_not_lift_a_failed_fence(void **state)
{
	const struct dl_input first[] = { { "a", NULL, 100 } };
	const struct dl_input later[] = { { "a", NULL, 60000 } };
	struct shim_deadlines d;
	unsigned changed;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, first, 1, 0);
	assert_int_equal(fire(&d, 100), 1);
	result(&d, "a", SHIM_FENCE_FAILED, 105);
	assert_int_equal(shim_deadlines_next(&d), 105 + SHIM_FENCE_RETRY_MS);

	changed = set(&d, later, 1, 200);
	assert_true(changed & SHIM_DL_HELD);
	assert_false(changed & SHIM_DL_VALUES);
	assert_int_equal(get(&d, "a")->boottime_ms, 100);
	assert_int_equal(shim_deadlines_next(&d), 105 + SHIM_FENCE_RETRY_MS);
	assert_int_equal(fire(&d, 104 + SHIM_FENCE_RETRY_MS), 0);
	assert_int_equal(fire(&d, 105 + SHIM_FENCE_RETRY_MS), 1);
	assert_int_equal(get(&d, "a")->attempts, 2);

	/* It keeps failing, it keeps being retried; once off, the new value applies. */
	result(&d, "a", SHIM_FENCE_FAILED, 2000);
	set(&d, later, 1, 2500);
	assert_int_equal(fire(&d, 3000), 1);
	result(&d, "a", SHIM_FENCE_OFF, 3100);
	assert_int_equal(shim_deadlines_next(&d), UINT64_MAX);
	set(&d, later, 1, 3200);
	assert_int_equal(get(&d, "a")->boottime_ms, 60000);
	assert_int_equal(shim_deadlines_next(&d), 60000);
	shim_deadlines_free(&d);
}

/* Passed but not yet acted on (the timer has not run, libvirt is away): a
 * later value must not lift it either. */
static void test_passed_before_the_timer_ran(void **state)
{
	const struct dl_input first[] = { { "a", NULL, 100 } };
	const struct dl_input later[] = { { "a", NULL, 60000 } };
	struct shim_deadlines d;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, first, 1, 0);
	set(&d, later, 1, 101);
	assert_int_equal(get(&d, "a")->boottime_ms, 100);
	assert_int_equal(fire(&d, 101), 1);
	/* Before it passed, a later value moves it as always. */
	shim_deadlines_free(&d);
	shim_deadlines_init(&d);
	set(&d, first, 1, 0);
	set(&d, later, 1, 99);
	assert_int_equal(get(&d, "a")->boottime_ms, 60000);
	shim_deadlines_free(&d);
}

/* Issue 14: a replace that left a passed domain out forgot it. */
static void test_replace_leaving_out_a_passed_domain(void **state)
{
	const struct dl_input both[] = { { "a", NULL, 100 }, { "b", NULL, 90000 } };
	const struct dl_input only_b[] = { { "b", NULL, 90000 } };
	struct shim_deadlines d;
	unsigned changed;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, both, 2, 0);
	assert_int_equal(fire(&d, 100), 1);
	result(&d, "a", SHIM_FENCE_FAILED, 100);

	changed = set(&d, only_b, 1, 200);
	assert_true(changed & SHIM_DL_HELD);
	assert_non_null(get(&d, "a"));
	assert_true(get(&d, "a")->released);
	assert_int_equal(shim_deadlines_next(&d), 100 + SHIM_FENCE_RETRY_MS);
	/* Left out again: no new change to log or save. */
	assert_int_equal(set(&d, only_b, 1, 300), SHIM_DL_HELD);

	assert_int_equal(fire(&d, 1100), 1);
	result(&d, "a", SHIM_FENCE_OFF, 1200);
	assert_null(get(&d, "a"));       /* released and seen off: gone */
	assert_int_equal(d.n, 1);
	assert_int_equal(set(&d, only_b, 1, 1300), 0);
	shim_deadlines_free(&d);
}

/* A passed deadline never yet acted on, then left out: still enforced. */
static void test_replace_leaving_out_before_the_timer_ran(void **state)
{
	const struct dl_input first[] = { { "a", NULL, 100 } };
	struct shim_deadlines d;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, first, 1, 0);
	set(&d, NULL, 0, 150);
	assert_int_equal(d.n, 1);
	assert_int_equal(fire(&d, 150), 1);
	shim_deadlines_free(&d);
}

/* Issue 14: a clean stop after a passed deadline forgot it. */
static void test_clean_stop_after_a_passed_deadline(void **state)
{
	const struct dl_input both[] = { { "a", NULL, 100 }, { "b", NULL, 90000 } };
	struct shim_deadlines d;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, both, 2, 0);
	assert_int_equal(fire(&d, 100), 1);
	result(&d, "a", SHIM_FENCE_FAILED, 100);
	assert_int_equal(shim_deadlines_clear(&d, 150), 1);
	assert_int_equal(d.n, 1);
	assert_null(get(&d, "b"));
	assert_true(get(&d, "a")->released);
	assert_int_equal(fire(&d, 1100), 1);
	result(&d, "a", SHIM_FENCE_OFF, 1200);
	assert_int_equal(d.n, 0);
	shim_deadlines_free(&d);
}

/* Listed again while released: it stays, and is no longer released. */
static void test_released_then_listed_again(void **state)
{
	const struct dl_input first[] = { { "a", NULL, 100 } };
	const struct dl_input later[] = { { "a", NULL, 5000 } };
	struct shim_deadlines d;
	unsigned changed;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, first, 1, 0);
	shim_deadlines_clear(&d, 120);
	changed = set(&d, later, 1, 130);
	assert_true(changed & SHIM_DL_MEMBERS);
	assert_false(get(&d, "a")->released);
	assert_int_equal(get(&d, "a")->boottime_ms, 100);
	assert_int_equal(fire(&d, 130), 1);
	result(&d, "a", SHIM_FENCE_OFF, 140);
	assert_non_null(get(&d, "a"));
	shim_deadlines_free(&d);
}

static void test_outcomes(void **state)
{
	const struct dl_input first[] = { { "a", NULL, 100 } };
	struct shim_deadlines d;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, first, 1, 0);
	/* Libvirt away: due again at once (the shim waits for the connection). */
	fire(&d, 100);
	assert_int_equal(shim_deadlines_next(&d), UINT64_MAX);
	result(&d, "a", SHIM_FENCE_LIBVIRT_AWAY, 120);
	assert_true(shim_deadline_due(get(&d, "a"), 120));
	/* Failed: due again after the retry gap, not before. */
	fire(&d, 120);
	result(&d, "a", SHIM_FENCE_FAILED, 130);
	assert_false(shim_deadline_due(get(&d, "a"), 130 + SHIM_FENCE_RETRY_MS - 1));
	assert_true(shim_deadline_due(get(&d, "a"), 130 + SHIM_FENCE_RETRY_MS));
	assert_true(shim_deadline_in_force(get(&d, "a"), 500));
	/* Off: seen off, no longer in force, nothing more due. */
	fire(&d, 130 + SHIM_FENCE_RETRY_MS);
	result(&d, "a", SHIM_FENCE_OFF, 2000);
	assert_false(shim_deadline_in_force(get(&d, "a"), 2000));
	assert_int_equal(shim_deadlines_next(&d), UINT64_MAX);
	shim_deadlines_free(&d);
}

/* Started again after it was seen off: in force again, powered off again. A
 * start while a power-off runs is followed by one more power-off. */
static void test_running_again(void **state)
{
	const struct dl_input first[] = { { "a", UUID_A, 100 } };
	struct shim_deadlines d;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, first, 1, 0);
	assert_null(shim_deadlines_running(&d, "a", UUID_A, 99));   /* not passed yet */
	fire(&d, 100);
	assert_null(shim_deadlines_running(&d, "a", UUID_A, 101));  /* one is running */
	shim_deadlines_fence_result(&d, &d.v[0].ref, SHIM_FENCE_OFF, 102);
	assert_false(d.v[0].seen_off);
	assert_true(shim_deadline_due(&d.v[0], 102));
	fire(&d, 102);
	shim_deadlines_fence_result(&d, &d.v[0].ref, SHIM_FENCE_OFF, 103);
	assert_true(d.v[0].seen_off);
	assert_ptr_equal(shim_deadlines_running(&d, "renamed", UUID_A, 200), &d.v[0]);
	assert_true(shim_deadline_in_force(&d.v[0], 200));
	assert_null(shim_deadlines_running(&d, "a", "bbbbbbbb-0000-1111-2222-333333333333", 200));
	shim_deadlines_free(&d);
}

/* A power-on with a deadline cannot lift one in force; once seen off it may. */
static void test_put(void **state)
{
	const struct dl_input first[] = { { "a", NULL, 100 } };
	struct shim_domref a = ref_of("a"), b = ref_of("b");
	struct shim_deadlines d;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, first, 1, 0);
	assert_int_equal(shim_deadlines_put(&d, &a, 5000, 50), 0);   /* not passed: moves */
	assert_int_equal(get(&d, "a")->boottime_ms, 5000);
	assert_int_equal(shim_deadlines_put(&d, &a, 9000, 6000), -2);
	assert_int_equal(get(&d, "a")->boottime_ms, 5000);
	fire(&d, 6000);
	result(&d, "a", SHIM_FENCE_OFF, 6001);
	assert_int_equal(shim_deadlines_put(&d, &a, 9000, 6002), 0);
	assert_int_equal(get(&d, "a")->boottime_ms, 9000);
	assert_false(get(&d, "a")->seen_off);
	assert_int_equal(shim_deadlines_put(&d, &b, 9000, 6002), 0);
	assert_int_equal(d.n, 2);
	shim_deadlines_free(&d);
}

static void test_replace_rejects(void **state)
{
	static const struct {
		struct dl_input in[2];
		size_t n;
		const char *why;
	} cases[] = {
		{ { { NULL, NULL, 1 } }, 1, "needs a name or a uuid" },
		{ { { "", "", 1 } }, 1, "needs a name or a uuid" },
		{ { { NULL, "not-a-uuid", 1 } }, 1, "uuid" },
		{ { { NULL, "aaaaaaaa-0000-1111-2222-33333333333g", 1 } }, 1, "uuid" },
		{ { { "bad\nname", NULL, 1 } }, 1, "control characters" },
		{ { { "a", NULL, 1 }, { "a", NULL, 2 } }, 2, "given twice" },
	};
	const struct dl_input keep[] = { { "keep", NULL, 5 } };
	struct shim_deadlines d;
	unsigned changed;
	char why[256];
	size_t i;

	(void)state;
	shim_deadlines_init(&d);
	set(&d, keep, 1, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(replace_at(&d, cases[i].in, cases[i].n, 0, &changed, why), -1);
		assert_non_null(strstr(why, cases[i].why));
		/* Nothing changes on error. */
		assert_int_equal(d.n, 1);
		assert_string_equal(d.v[0].ref.name, "keep");
	}
	shim_deadlines_free(&d);
}

static void test_match_by_uuid(void **state)
{
	struct shim_domref by_uuid = { .name = "old-name", .uuid = UUID_A };
	struct shim_domref by_name = { .name = "web" };

	(void)state;
	/* UUID wins: a renamed domain still matches, a namesake does not. */
	assert_true(shim_domref_matches(&by_uuid, "new-name", UUID_A));
	assert_false(shim_domref_matches(&by_uuid, "old-name", "bbbbbbbb-0000-1111-2222-333333333333"));
	assert_true(shim_domref_matches(&by_name, "web", UUID_A));
	assert_false(shim_domref_matches(&by_name, "web2", UUID_A));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_keeps_flags),
		cmocka_unit_test(test_later_deadline_does_not_lift_a_failed_fence),
		cmocka_unit_test(test_passed_before_the_timer_ran),
		cmocka_unit_test(test_replace_leaving_out_a_passed_domain),
		cmocka_unit_test(test_replace_leaving_out_before_the_timer_ran),
		cmocka_unit_test(test_clean_stop_after_a_passed_deadline),
		cmocka_unit_test(test_released_then_listed_again),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_running_again),
		cmocka_unit_test(test_put),
		cmocka_unit_test(test_replace_rejects),
		cmocka_unit_test(test_match_by_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
