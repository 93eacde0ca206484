/* Per-datastore deadlines (fdm/core/deadline.c, DESIGN.md safety point 3): a
 * table where each clause of the bound has a case in which it alone decides.
 * Timing of DESIGN.md's example: io 2 s, lease_expiry 8 s, host_dead 14 s,
 * margin 2 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/core/deadline.h"
#include "lib/timing.h"

struct deadline_case {
	const char *what;
	struct fdm_vouch vouch;        /* .renewal_ms 0: never vouched for d */
	uint64_t born, hb_ok, stepdown;
	uint64_t want;
};

/* Our hb write on d at 100 s; a master heartbeat echoing ours sent at 200 s. */
static const struct deadline_case cases[] = {
	{ "storage bound alone: never vouched for d", { 0 }, 1000, 100000, 0,
	  100000 + 14000 - 2000 },
	{ "no evidence since start: born + io (issue 19: the shim's deadlines)", { 0 },
	  1000, 0, 0, 1000 + 2000 },
	/* The same master stops hearing us: sent + host_dead - io, then the margin. */
	{ "same-master bound", { true, 200000, 199000, false, 0 }, 1000, 100000, 0,
	  200000 + 14000 - 2000 - 2000 },
	/* Renewal long ago: another master may take d over first. */
	{ "takeover bound", { true, 200000, 150000, false, 0 }, 1000, 100000, 0,
	  150000 + 8000 + 14000 - 2000 },
	/* Every other host heard as a slave at 190 s: none is a master before
	 * 190 + 2 x io + host_dead, however old the renewal (a storage outage). */
	{ "every host heard raises the takeover bound", { true, 200000, 150000, true, 190000 },
	  1000, 100000, 0, 190000 + 4000 + 14000 - 2000 },
	{ "one host not heard: no raise", { true, 200000, 150000, false, 190000 }, 1000, 100000, 0,
	  150000 + 8000 + 14000 - 2000 },
	/* Heard later than the same master's bound: the same master still rules. */
	{ "same master earlier than every-host-heard", { true, 200000, 150000, true, 199000 },
	  1000, 100000, 0, 200000 + 14000 - 2000 - 2000 },
	{ "a master bounds its own VMs: no same-master clause", { false, 0, 150000, true, 199000 },
	  1000, 100000, 0, 199000 + 4000 + 14000 - 2000 },
	{ "storage bound later than the network's", { true, 200000, 150000, false, 0 }, 1000,
	  300000, 0, 300000 + 14000 - 2000 },
	{ "step-down bound", { 0 }, 1000, 100000, 250000, 250000 - 2000 },
};

static void test_deadline_table(void **state)
{
	struct fdm_timing t;
	char err[200];

	(void)state;
	assert_int_equal(fdm_timing_derive(1000, 2000, &t, err, sizeof(err)), 0);
	assert_int_equal(t.lease_expiry_ms, 8000);
	assert_int_equal(t.host_dead_ms, 14000);
	assert_int_equal(t.deadline_margin_ms, 2000);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct deadline_case *k = &cases[i];
		struct fdm_deadline_in in = {
			.born_ms = k->born, .hb_ok_ms = k->hb_ok,
			.network_ms = fdm_deadline_network(&t, &k->vouch),
			.stepdown_ms = k->stepdown,
		};
		uint64_t got = fdm_deadline_compute(&t, &in);

		if (got != k->want)
			fail_msg("%s: deadline %llu, want %llu", k->what, (unsigned long long)got,
				 (unsigned long long)k->want);
	}
}

/* The margin is what makes a VM stop before a restart: with none, the deadline
 * would be the storage bound itself. */
static void test_margin(void **state)
{
	struct fdm_timing t;
	char err[200];
	struct fdm_deadline_in in = { .born_ms = 1, .hb_ok_ms = 50000 };

	(void)state;
	assert_int_equal(fdm_timing_derive(1000, 2000, &t, err, sizeof(err)), 0);
	assert_true(fdm_deadline_compute(&t, &in) < 50000 + t.host_dead_ms);
	assert_int_equal(fdm_deadline_compute(&t, &in),
			 50000 + t.host_dead_ms - t.deadline_margin_ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline_table),
		cmocka_unit_test(test_margin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
