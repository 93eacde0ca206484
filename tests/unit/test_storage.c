/* Storage heartbeats and leases driven by the core (fdm/core/storage.c) on the
 * minicluster's simulated datastores: the master holds the lease of every
 * datastore it reaches, a successor waits out the expiry, a released lease
 * passes at once, and never do two hosts act on one datastore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tests/unit/minicluster.h"

static const char *const ids4[] = { "host-1", "host-2", "host-9", "host-10" };
static const unsigned all3[] = { 3, 3, 3, 3 };

/* Run until host h acts on every datastore in mask; returns the ms it took. */
static uint64_t until_acting(struct minicluster *mc, int h, unsigned mask, uint64_t timeout)
{
	uint64_t start = mc->now;

	for (;;) {
		bool all = true;
		for (int d = 0; d < 3; d++)
			if ((mask >> d) & 1)
				all = all && mc_lease_actor(mc, d) == h;
		if (all)
			return mc->now - start;
		if (mc->now - start > timeout) {
			mc_dump(mc);
			fail_msg("host %s does not hold the leases after %llu ms",
				 mc->hosts[h].cfg.host_id, (unsigned long long)timeout);
		}
		mc_run(mc, MC_STEP_MS);
	}
}

static void test_master_takes_every_lease(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 21);
	int m = mc_index(mc, "host-9");
	uint64_t took;

	(void)state;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), m);
	/* Free leases: read, write, wait 2 x io, re-read. */
	took = until_acting(mc, m, 7, 3 * mc->timing.io_timeout_ms);
	assert_true(took >= mc->timing.lease_acquire_wait_ms);
	mc_run(mc, 2 * mc->timing.io_timeout_ms);   /* every host has read it since */
	for (size_t i = 0; i < 4; i++)
		for (int d = 0; d < 3; d++)
			assert_string_equal(fdm_lease_last_owner(&mc->hosts[i].core.ds[d].lease),
					    "host-9");
	/* It keeps them: renewals every io. */
	mc_run(mc, 30000);
	for (int d = 0; d < 3; d++)
		assert_int_equal(mc_lease_actor(mc, d), m);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

static void test_successor_waits_for_expiry(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 22);
	int m = mc_index(mc, "host-9"), next = mc_index(mc, "host-2");
	uint64_t killed, took;

	(void)state;
	mc_run_until_agreed(mc, 5000, NULL);
	until_acting(mc, m, 7, 10000);
	mc_kill(mc, (size_t)m);
	killed = mc->now;
	assert_int_equal(mc_run_until_agreed(mc, 10000, NULL), next);
	until_acting(mc, next, 7, 30000);
	took = mc->now - killed;
	/* Unchanged for lease_expiry as seen by the successor, then write-wait-read. */
	assert_true(took >= mc->timing.lease_expiry_ms + mc->timing.lease_acquire_wait_ms);
	printf("      successor acts %llu ms after the master's death (expiry %u + wait %u)\n",
	       (unsigned long long)took, mc->timing.lease_expiry_ms,
	       mc->timing.lease_acquire_wait_ms);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

static void test_released_lease_passes_at_once(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 23);
	int m = mc_index(mc, "host-9");
	uint64_t t0, took;

	(void)state;
	mc_run_until_agreed(mc, 5000, NULL);
	until_acting(mc, m, 7, 10000);
	mc_run(mc, 3000);
	mc_leave(mc, (size_t)m);   /* the release write is its last I/O */
	mc_start(mc, (size_t)m);   /* back at once: not the master any more */
	mc_kill(mc, (size_t)m);
	t0 = mc->now;
	assert_int_equal(mc_run_until_agreed(mc, 10000, NULL), mc_index(mc, "host-2"));
	until_acting(mc, mc_index(mc, "host-2"), 7, 30000);
	took = mc->now - t0;
	/* No expiry wait: master lost + election + write-wait-read only. */
	assert_true(took < mc->timing.lease_expiry_ms + mc->timing.lease_acquire_wait_ms);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* Two masters in a 2|2 partition, both reaching every datastore: at most one
 * acts on each, at every step. */
static void test_partition_never_two_owners(void **state)
{
	(void)state;
	for (uint32_t seed = 1; seed <= 5; seed++) {
		struct minicluster *mc = mc_new(ids4, all3, 4, 30 + seed);

		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				mc->blocked[i][j] = (i < 2) != (j < 2);
		mc_run(mc, 40000);
		assert_int_equal(mc_count_masters(mc), 2);
		memset(mc->blocked, 0, sizeof(mc->blocked));
		mc_run(mc, 30000);
		assert_int_equal(mc_agreed_master(mc), mc_index(mc, "host-9"));
		for (int d = 0; d < 3; d++)
			assert_int_equal(mc_lease_actor(mc, d), mc_index(mc, "host-9"));
		assert_int_equal(mc->lease_violations, 0);
		mc_free(mc);
	}
}

/* A host that reaches fewer datastores bids fewer; heartbeat writes show it. */
static void test_reachability_from_heartbeats(void **state)
{
	static const unsigned ds[] = { 3, 1, 1, 1 };
	struct minicluster *mc = mc_new(ids4, ds, 4, 24);
	int h1 = mc_index(mc, "host-1");

	(void)state;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), h1);
	assert_int_equal(mc->hosts[mc_index(mc, "host-9")].core.my_datastores, 1);
	assert_true(mc->hosts[h1].core.ds[2].reachable);
	assert_false(mc->hosts[mc_index(mc, "host-9")].core.ds[2].reachable);
	/* host-1 loses ds3: its next heartbeat write there fails. */
	mc_set_datastores(mc, (size_t)h1, 2);
	mc_run(mc, 2 * mc->timing.io_timeout_ms + 100);
	assert_false(mc->hosts[h1].core.ds[2].reachable);
	assert_int_equal(mc->hosts[h1].core.my_datastores, 2);
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_master_takes_every_lease),
		cmocka_unit_test(test_successor_waits_for_expiry),
		cmocka_unit_test(test_released_lease_passes_at_once),
		cmocka_unit_test(test_partition_never_two_owners),
		cmocka_unit_test(test_reachability_from_heartbeats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
