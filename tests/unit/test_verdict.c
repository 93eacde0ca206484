/* The master's verdicts (fdm/core/verdict.c, DESIGN.md safety point 2): a table
 * where each condition of "dead for d" has a case in which it alone keeps a live
 * host from being declared dead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/core/verdict.h"

#define DEAD_MS 14000
#define WINDOW 3000

struct verdict_case {
	const char *what;
	bool net_heard;
	uint64_t net_last;
	bool hb_seen;
	uint64_t hb_since, hb_read_issued;
	uint64_t acquired;
	uint64_t now;
	enum fdm_verdict want;
	const char *why;     /* expected start of the reason, or NULL */
};

static const struct verdict_case cases[] = {
	{ "heartbeating", true, 99000, true, 0, 99000, 1000, 100000,
	  FDM_VERDICT_CONNECTED, "host-2 connected" },
	{ "silent and hb unchanged long enough", true, 80000, true, 80000, 99000, 1000, 100000,
	  FDM_VERDICT_DEAD, "host-2 dead for ds1: no network heartbeat for 20.0 s, hb unchanged for 19.0 s" },
	{ "lease not held: never dead", true, 10000, true, 10000, 99000, 0, 100000,
	  FDM_VERDICT_UNREACHABLE, "host-2 not dead for ds1: lease on ds1 not held" },
	{ "network silent too short", true, 90000, true, 50000, 99000, 1000, 100000,
	  FDM_VERDICT_UNREACHABLE, "host-2 not dead for ds1 yet: no network heartbeat for 10.0 s" },
	{ "hb changed recently", true, 50000, true, 95000, 99000, 1000, 100000,
	  FDM_VERDICT_UNREACHABLE, "host-2 not dead for ds1 yet: hb changed 5.0 s ago" },
	{ "hb never read", true, 50000, false, 0, 0, 1000, 100000,
	  FDM_VERDICT_UNREACHABLE, "host-2 not dead for ds1 yet: its hb record on ds1 not read" },
	/* Silence seen before the lease was ours does not count: another master may
	 * have held ds1 and moved host-2's VMs meanwhile. Network clause alone: */
	{ "network silence counted from acquisition", true, 10000, true, 10000, 99000, 90000, 100000,
	  FDM_VERDICT_UNREACHABLE, "host-2 not dead for ds1 yet: no network heartbeat for 10.0 s" },
	/* Storage clause alone: the network was silent since long before the
	 * acquisition, the hb unchanged since long before, but proven only 9 s since. */
	{ "hb silence counted from acquisition", false, 0, true, 10000, 99000, 86000, 100001,
	  FDM_VERDICT_UNREACHABLE, "host-2 not dead for ds1 yet: hb unchanged for 14.0 s, waiting for a read" },
	/* The proof is the issue time of the latest read that still saw the record:
	 * a read issued before the threshold may predate a write. */
	{ "last read issued too early", true, 50000, true, 60000, 73999, 1000, 100000,
	  FDM_VERDICT_UNREACHABLE, "host-2 not dead for ds1 yet: hb unchanged for 40.0 s, waiting for a read" },
	{ "exactly host_dead of both", true, 60000, true, 60000, 74000, 1000, 74000,
	  FDM_VERDICT_DEAD, "host-2 dead for ds1" },
	{ "never heard on the network at all", false, 0, true, 1000, 16000, 1000, 16000,
	  FDM_VERDICT_DEAD, "host-2 dead for ds1" },
};

static void test_verdict_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct verdict_case *c = &cases[i];
		struct fdm_verdict_in in = {
			.host = "host-2", .datastore = "ds1",
			.net_heard = c->net_heard, .net_last_ms = c->net_last,
			.connected_window_ms = WINDOW,
			.hb_seen = c->hb_seen, .hb_unchanged_since_ms = c->hb_since,
			.hb_last_read_issued_ms = c->hb_read_issued,
			.lease_acquired_ms = c->acquired, .host_dead_ms = DEAD_MS,
		};
		char why[200];
		enum fdm_verdict got = fdm_verdict_of(&in, c->now, why, sizeof(why));

		if (got != c->want || (c->why && strncmp(why, c->why, strlen(c->why)) != 0))
			fail_msg("%s: %s (%s), want %s (%s)", c->what, fdm_verdict_name(got), why,
				 fdm_verdict_name(c->want), c->why ? c->why : "");
	}
}

/* The proof read asked for at the mark (failover.c issues it then) is the
 * earliest that completes the verdict: issued there it proves "dead", a
 * millisecond earlier it does not; none is asked for once it is proven, nor
 * without a sighting or the lease. */
static void test_proof_read_at_the_mark(void **state)
{
	static const uint64_t since[][2] = {   /* hb first seen, lease acquired */
		{ 60000, 1000 }, { 10000, 30000 }, { 45000, 45000 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(since) / sizeof(since[0]); i++) {
		struct fdm_verdict_in in = {
			.host = "host-2", .datastore = "ds1",
			.net_heard = false, .connected_window_ms = WINDOW,
			.hb_seen = true, .hb_unchanged_since_ms = since[i][0],
			.hb_last_read_issued_ms = since[i][0],
			.lease_acquired_ms = since[i][1], .host_dead_ms = DEAD_MS,
		};
		uint64_t at = fdm_verdict_proof_read_at(&in);
		char why[200];

		assert_int_equal(at, (since[i][0] > since[i][1] ? since[i][0] : since[i][1]) + DEAD_MS);
		in.hb_last_read_issued_ms = at - 1;
		assert_int_equal(fdm_verdict_of(&in, at + 5, why, sizeof(why)), FDM_VERDICT_UNREACHABLE);
		assert_int_equal(fdm_verdict_proof_read_at(&in), at);
		in.hb_last_read_issued_ms = at;
		assert_int_equal(fdm_verdict_of(&in, at + 5, why, sizeof(why)), FDM_VERDICT_DEAD);
		assert_int_equal(fdm_verdict_proof_read_at(&in), 0);
		in.hb_last_read_issued_ms = 0;
		in.lease_acquired_ms = 0;
		assert_int_equal(fdm_verdict_proof_read_at(&in), 0);
		in.lease_acquired_ms = since[i][1];
		in.hb_seen = false;
		assert_int_equal(fdm_verdict_proof_read_at(&in), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdict_table),
		cmocka_unit_test(test_proof_read_at_the_mark),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
