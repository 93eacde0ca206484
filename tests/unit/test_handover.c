/* Master hand-over on datastore loss (DESIGN.md "Election", issue 18), on real
 * cores in the minicluster: a master whose renewals fail yields to a slave that
 * reaches more datastores, steps down when it hears the better master (merge),
 * releases what it can, and keeps per-datastore step-down bounds; at most one
 * yield per host_dead; none when no slave reaches more. And DESIGN.md point 4's
 * end: a host that hears no peer and whose isolation addresses do not answer
 * takes no lease, unless every other host's hb record stayed unchanged for
 * host_dead (fdm/core/isolation.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/unit/minicluster.h"

static const char *const ids3[] = { "host-1", "host-2", "host-9" };
static const unsigned two3[] = { 2, 2, 2 };

/* Run until host h acts on every datastore in mask; the ms it took. */
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

/* HO_DEBUG=1: every core log line, for a failing run. */
static void print_log(struct minicluster *mc, size_t host, const char *text)
{
	printf("%8llu %s\n", (unsigned long long)(mc->now - MC_EPOCH), text);
	(void)host;
}

/* host-9, master of three hosts reaching ds0 and ds1, holds both leases. */
static struct minicluster *settled(uint32_t seed, int *m)
{
	struct minicluster *mc = mc_new(ids3, two3, 3, seed);

	if (getenv("HO_DEBUG") != NULL)
		mc->on_log = print_log;
	*m = mc_index(mc, "host-9");
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), *m);
	until_acting(mc, *m, 3, 10000);
	mc_run(mc, 3000);
	return mc;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* The master loses ds1 alone: it yields, host-2 (reaching both) is elected,
 * the old master steps down when it hears it, and host-2 holds both leases
 * within: the yield (renewals failing 2 io, found within another io, and the
 * first failure within 2 io of the loss) + the election window, or ds1's
 * expiry counted from host-2's own reads (its record last changed at the
 * loss, seen within io), whichever is later, + the write-wait-read + an io of
 * slack. Without the yield host-9 keeps the role and ds1 is never held. */
static void test_yield_hands_lost_datastore_over(void **state)
{
	int m, b;
	struct minicluster *mc = settled(71, &m);
	const struct fdm_timing *t = &mc->timing;
	uint64_t io = t->io_timeout_ms, t0, took, bound, acquired;
	const struct fdm_core *old;
	uint64_t down0, down1;

	(void)state;
	b = mc_index(mc, "host-2");
	mc->watch = "yielding: ds2 renewals failing for";
	mc->hosts[m].ds_mask = 1;                      /* ds2 (index 1) gone for host-9 alone */
	t0 = mc->now;
	bound = max_u64(5 * io + t->election_window_ms + t->heartbeat_interval_ms,
			io + t->lease_expiry_ms) + t->lease_acquire_wait_ms + io;
	/* The step-down bounds, read at the step-down: a vouch of the new master
	 * clears them later (deadline.c). */
	old = &mc->hosts[m].core;
	while (old->role == FDM_ROLE_MASTER && mc->now < t0 + bound)
		mc_run(mc, 10);
	down0 = old->ds[0].stepdown_bound_ms;
	down1 = old->ds[1].stepdown_bound_ms;
	took = until_acting(mc, b, 3, bound);
	printf("      ds2 lost by the master -> host-2 holds it: %llu ms (bound %llu)\n",
	       (unsigned long long)took, (unsigned long long)bound);
	assert_int_equal(mc->watch_hits, 1);
	assert_int_equal(mc_agreed_master(mc), b);
	old = &mc->hosts[m].core;
	assert_int_equal(old->handover.kind, FDM_HANDOVER_MERGE);
	assert_string_equal(old->handover.from, "host-9");
	assert_string_equal(old->handover.to, "host-2");
	/* Bounds: ds0 released (release + host_dead); ds1 not (its last renewal,
	 * before the loss, + expiry + 2 io + host_dead). */
	assert_int_not_equal(old->ds[0].lease_release_ms, 0);
	(void)down0;   /* the release comes after the step-down: see released_bound */
	assert_true(down1 <= t0 + t->lease_expiry_ms + 2 * io + t->host_dead_ms);
	assert_true(down1 + 2 * io > t0 + t->lease_expiry_ms + 2 * io + t->host_dead_ms);
	for (int d = 0; d < 2; d++)
		assert_int_equal(old->ds[d].renewal_ms, 0);   /* forgotten */
	/* The released lease passed at once: host-2's next read saw it free (within
	 * io), then write, wait 2 io, re-read; no expiry wait. */
	acquired = mc->hosts[b].core.ha.ds[0].lease_acquired_ms;
	printf("      ds1 released by host-9 -> acquired by host-2 %llu ms later\n",
	       (unsigned long long)(acquired - old->ds[0].lease_release_ms));
	assert_true(acquired <= old->ds[0].lease_release_ms + io + t->lease_acquire_wait_ms +
				io / 2);
	assert_true(acquired - old->ds[0].lease_release_ms < t->lease_expiry_ms);
	mc_run(mc, 30000);
	assert_int_equal(mc_agreed_master(mc), b);
	assert_int_equal(mc->watch_hits, 1);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* ds2 read-only for the master alone (an export gone read-only for one host):
 * its lease reads still succeed, its writes fail; the renewals fail all the
 * same, and it yields as when the datastore is gone. */
static void test_yield_when_reads_work_but_writes_fail(void **state)
{
	int m, b;
	struct minicluster *mc = settled(77, &m);

	(void)state;
	b = mc_index(mc, "host-2");
	mc->watch = "yielding: ds2 renewals failing for";
	mc->hosts[m].ro_mask = 2;
	until_acting(mc, b, 3, 30000);
	assert_int_equal(mc->watch_hits, 1);
	assert_int_equal(mc_agreed_master(mc), b);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* The master loses ds2 (index 1), the slaves ds1 (index 0): they reach the
 * datastore the master cannot renew, but no more datastores than it does, so
 * it keeps the role (a yield would only move the problem, and the election
 * would pick it again). */
static void test_no_yield_without_better_slave(void **state)
{
	int m;
	struct minicluster *mc = settled(72, &m);

	(void)state;
	mc->watch = "yielding:";
	for (size_t i = 0; i < 3; i++)
		mc->hosts[i].ds_mask = (int)i == m ? 1 : 2;
	mc_run(mc, 30000);
	assert_int_equal(mc->watch_hits, 0);
	assert_int_equal(mc_agreed_master(mc), m);
	assert_int_equal(mc->hosts[m].core.last_yield_ms, 0);
	assert_int_equal(mc_lease_actor(mc, 0), m);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* host-9 yields to host-2; host-2 dies and host-9 is elected again (host-1
 * reaches ds0 only for a while, host-9 outranks it); host-1 then reaches both
 * again while host-9's ds1 renewals still fail: host-9 yields again only
 * host_dead after its first yield. */
static void test_one_yield_per_host_dead(void **state)
{
	int m, one;
	struct minicluster *mc = settled(73, &m);
	const struct fdm_timing *t = &mc->timing;
	uint64_t first;

	(void)state;
	one = mc_index(mc, "host-1");
	mc->watch = "yielding:";
	mc->hosts[m].ds_mask = 1;
	while (mc->hosts[m].core.role != FDM_ROLE_SLAVE && mc->now < MC_EPOCH + 60000)
		mc_run(mc, MC_STEP_MS);
	assert_int_equal(mc->watch_hits, 1);
	first = mc->hosts[m].core.last_yield_ms;
	mc->hosts[one].ds_mask = 1;
	mc_kill(mc, (size_t)mc_index(mc, "host-2"));
	assert_int_equal(mc_run_until_agreed(mc, 20000, NULL), m);
	mc->hosts[one].ds_mask = 3;
	while (mc_clock(mc, (size_t)m) + MC_STEP_MS < first + t->yield_min_gap_ms)
		mc_run(mc, MC_STEP_MS);
	assert_int_equal(mc->watch_hits, 1);
	assert_int_equal(mc->hosts[m].core.role, FDM_ROLE_MASTER);
	assert_int_equal(mc->hosts[m].core.peers[one].datastores, 2);   /* it would yield */
	mc_run(mc, 4 * t->io_timeout_ms);
	assert_int_equal(mc->watch_hits, 2);
	assert_int_equal(mc_run_until_agreed(mc, 20000, NULL), one);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* ------------------------------------------------------------------ isolation */

/* Everyone cut off from everyone, isolation addresses silent: each host wins
 * its own election and none takes a lease (other hosts' hb records keep
 * changing), so none looks like a live master to the others. */
static void test_lone_isolated_winner_takes_no_lease(void **state)
{
	struct minicluster *mc = mc_new(ids3, two3, 3, 74);

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		mc->link_down[i] = true;
		mc->hosts[i].iso_down = true;
	}
	for (uint64_t ms = 0; ms < 60000; ms += MC_STEP_MS) {
		mc_run(mc, MC_STEP_MS);
		for (int d = 0; d < 2; d++)
			for (size_t i = 0; i < 3; i++)
				if (mc->hosts[i].core.ds[d].lease.state != FDM_LEASE_IDLE &&
				    mc->hosts[i].core.ds[d].lease.state != FDM_LEASE_ACQUIRING)
					fail_msg("%s takes ds%d's lease while isolated at %llu ms",
						 mc->hosts[i].cfg.host_id, d, (unsigned long long)ms);
	}
	assert_int_equal(mc_count_masters(mc), 3);
	/* The addresses answer again: each lone master may act as one. */
	for (size_t i = 0; i < 3; i++)
		mc->hosts[i].iso_down = false;
	for (size_t i = 0; i < 3; i++)
		mc->link_down[i] = false;
	assert_int_equal(mc_run_until_agreed(mc, 20000, NULL), mc_index(mc, "host-9"));
	until_acting(mc, mc_index(mc, "host-9"), 3, 30000);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* Two hosts, the master dies while the isolation address is down: the
 * survivor is elected alone and isolated, and takes the leases once the dead
 * host's hb records have been unchanged for host_dead (a two-host cluster
 * must still recover), not before. */
static void test_two_host_exception(void **state)
{
	static const char *const ids[] = { "host-1", "host-2" };
	static const unsigned ds[] = { 2, 2 };
	struct minicluster *mc = mc_new(ids, ds, 2, 75);
	const struct fdm_timing *t = &mc->timing;
	int one = mc_index(mc, "host-1"), two = mc_index(mc, "host-2");
	uint64_t killed, took;

	(void)state;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), two);
	until_acting(mc, two, 3, 10000);
	mc->hosts[one].iso_down = true;
	mc_kill(mc, (size_t)two);
	killed = mc->now;
	took = until_acting(mc, one, 3, t->master_lost_ms + 3 * t->election_window_ms +
			    t->host_dead_ms + t->lease_acquire_wait_ms + 3 * t->io_timeout_ms);
	printf("      lone isolated survivor holds the leases %llu ms after the kill "
	       "(host_dead %u)\n", (unsigned long long)took, t->host_dead_ms);
	assert_true(mc->now >= killed + t->host_dead_ms);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* The master's own link is cut (it hears no slave, its addresses do not
 * answer): it releases its leases, with a release's bound, and the others'
 * new master takes them without waiting the expiry. */
static void test_isolated_master_releases(void **state)
{
	int m, b;
	struct minicluster *mc = settled(76, &m);
	const struct fdm_timing *t = &mc->timing;
	const struct fdm_core *old = &mc->hosts[m].core;
	uint64_t t0, took;

	(void)state;
	b = mc_index(mc, "host-2");
	mc->link_down[m] = true;
	t0 = mc->now;
	took = until_acting(mc, b, 3, t->lease_expiry_ms + t->lease_acquire_wait_ms);
	printf("      isolated master's leases held by host-2 %llu ms after the cut\n",
	       (unsigned long long)took);
	for (int d = 0; d < 2; d++) {
		assert_int_not_equal(old->ds[d].lease_release_ms, 0);
		assert_true(old->ds[d].lease_release_ms > t0);
		assert_int_equal(old->ds[d].stepdown_bound_ms,
				 old->ds[d].lease_release_ms + t->host_dead_ms);
	}
	assert_int_equal(old->handover.kind, FDM_HANDOVER_ISOLATED);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* The master's link is cut for less than the heard window, again and again:
 * it may stop renewing for a moment, but a probe begun after that answers
 * once the link is back, so it never releases, never loses a lease and stays
 * the only actor (a blip must not cost the cluster its leases: on the old
 * rule, one silent round of the probe during the blip released them). */
static void test_master_blip_keeps_its_leases(void **state)
{
	int m;
	struct minicluster *mc = settled(77, &m);
	const struct fdm_timing *t = &mc->timing;
	const struct fdm_core *c = &mc->hosts[m].core;

	(void)state;
	for (int blip = 0; blip < 20; blip++) {
		mc->link_down[m] = true;
		for (uint64_t ms = 0; ms < t->heard_window_ms - 50; ms += MC_STEP_MS)
			mc_run(mc, MC_STEP_MS);
		mc->link_down[m] = false;
		mc_run(mc, 1000 + 37 * (uint64_t)blip);
		for (int d = 0; d < 2; d++) {
			if (c->ds[d].lease_release_ms != 0 || mc_lease_actor(mc, d) != m)
				fail_msg("blip %d: ds%d released at %llu ms, actor %d", blip, d,
					 (unsigned long long)c->ds[d].lease_release_ms,
					 mc_lease_actor(mc, d));
		}
	}
	assert_int_not_equal(c->handover.kind, FDM_HANDOVER_ISOLATED);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* A master that hears no slave (theirs cut) but whose isolation address
 * answers is partitioned, not isolated: it keeps renewing. */
static void test_partitioned_master_keeps_its_leases(void **state)
{
	int m;
	struct minicluster *mc = settled(78, &m);
	const struct fdm_core *c = &mc->hosts[m].core;

	(void)state;
	for (size_t i = 0; i < 3; i++)
		if ((int)i != m)
			mc->link_down[i] = true;
	for (uint64_t ms = 0; ms < 30000; ms += MC_STEP_MS) {
		mc_run(mc, MC_STEP_MS);
		for (int d = 0; d < 2; d++)
			if (c->ds[d].lease_release_ms != 0)
				fail_msg("ds%d released at %llu ms", d, (unsigned long long)ms);
	}
	assert_int_equal(mc_lease_actor(mc, 0), m);
	assert_int_equal(mc_lease_actor(mc, 1), m);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yield_hands_lost_datastore_over),
		cmocka_unit_test(test_yield_when_reads_work_but_writes_fail),
		cmocka_unit_test(test_no_yield_without_better_slave),
		cmocka_unit_test(test_one_yield_per_host_dead),
		cmocka_unit_test(test_lone_isolated_winner_takes_no_lease),
		cmocka_unit_test(test_two_host_exception),
		cmocka_unit_test(test_isolated_master_releases),
		cmocka_unit_test(test_master_blip_keeps_its_leases),
		cmocka_unit_test(test_partitioned_master_keeps_its_leases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
