/* The election rule and its state machine (DESIGN.md "Election"), on real cores
 * exchanging real signed datagrams through the minicluster's fake network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tests/unit/minicluster.h"

static const char *const ids4[] = { "host-1", "host-2", "host-9", "host-10" };
static const unsigned equal4[] = { 1, 1, 1, 1 };

static void expect_master(struct minicluster *mc, const char *want, uint64_t timeout_ms)
{
	uint64_t took;
	int m = mc_run_until_agreed(mc, timeout_ms, &took);

	if (m < 0 || strcmp(mc->hosts[m].cfg.host_id, want) != 0) {
		fprintf(stderr, "expected master %s within %llu ms, got %s\n", want,
			(unsigned long long)timeout_ms, m < 0 ? "no agreement" : mc->hosts[m].cfg.host_id);
		mc_dump(mc);
		fail();
	}
}

/* ------------------------------------------------------------- the rule itself */

struct rank_case {
	uint32_t ds_a;
	const char *a;
	uint32_t ds_b;
	const char *b;
	int want;   /* > 0: a wins */
};

static void test_rank_table(void **state)
{
	static const struct rank_case cases[] = {
		{ 1, "host-9", 1, "host-10", 1 },    /* strings, not numbers */
		{ 1, "host-10", 1, "host-9", -1 },
		{ 1, "host-2", 1, "host-10", 1 },
		{ 2, "host-1", 1, "host-9", 1 },     /* datastores first */
		{ 0, "zzz", 1, "aaa", -1 },
		{ 3, "b", 3, "a", 1 },
		{ 3, "a", 3, "a", 0 },
		{ 1, "host-1", 1, "host-1b", -1 },   /* a prefix loses */
		{ 1, "Host-9", 1, "host-1", -1 },    /* byte order: 'H' < 'h' */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = fdm_rank_cmp(cases[i].ds_a, cases[i].a, cases[i].ds_b, cases[i].b);
		int sign = got > 0 ? 1 : got < 0 ? -1 : 0;
		if (sign != cases[i].want)
			fail_msg("rank(%u %s, %u %s) = %d, want %d", cases[i].ds_a, cases[i].a,
				 cases[i].ds_b, cases[i].b, sign, cases[i].want);
	}
}

/* ------------------------------------------------------------- whole elections */

static void test_greatest_string_wins(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 1);

	(void)state;
	expect_master(mc, "host-9", 5000);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(mc->hosts[i].core.term, 1);
	mc_free(mc);
}

static void test_datastores_first(void **state)
{
	static const unsigned ds[] = { 3, 2, 1, 2 };
	struct minicluster *mc = mc_new(ids4, ds, 4, 2);

	(void)state;
	expect_master(mc, "host-1", 5000);
	mc_free(mc);
}

static void test_reelection_after_master_loss(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 3);
	uint64_t took;
	int m;

	(void)state;
	expect_master(mc, "host-9", 5000);
	mc_kill(mc, 2);
	m = mc_run_until_agreed(mc, 10000, &took);
	assert_true(m >= 0);
	assert_string_equal(mc->hosts[m].cfg.host_id, "host-2");
	/* master lost (3 heartbeats) + one election window, and then some slack */
	assert_true(took <= 3000 + 1000 + 1000);
	assert_int_equal(mc->hosts[m].core.term, 2);
	mc_free(mc);
}

static void test_returning_master_joins_as_slave(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 4);

	(void)state;
	expect_master(mc, "host-9", 5000);
	mc_kill(mc, 2);
	expect_master(mc, "host-2", 10000);
	mc_start(mc, 2);
	mc_run(mc, 5000);
	expect_master(mc, "host-2", 1);
	assert_int_equal(mc->hosts[2].core.role, FDM_ROLE_SLAVE);
	mc_free(mc);
}

/* A better host joining a cluster whose master lives does not take over. */
static void test_no_flapping_when_better_host_joins(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 5);

	(void)state;
	mc_kill(mc, 2);
	mc_kill(mc, 3);
	expect_master(mc, "host-2", 5000);
	mc_start(mc, 2);   /* host-9 outranks host-2 */
	mc_start(mc, 3);
	for (int i = 0; i < 30; i++) {
		mc_run(mc, 1000);
		expect_master(mc, "host-2", 1);
	}
	mc_free(mc);
}

static void test_term_increases_on_each_election(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 6);
	uint64_t last = 0;

	(void)state;
	for (int round = 0; round < 3; round++) {
		int m = mc_run_until_agreed(mc, 10000, NULL);
		assert_true(m >= 0);
		assert_true(mc->hosts[m].core.term > last);
		last = mc->hosts[m].core.term;
		mc_force_election(mc, (size_t)m, false);
		mc_run(mc, 10);
	}
	mc_free(mc);
}

/* fdmctl election --force on the master: it steps down and a new election runs;
 * the rule picks the same host again, under a higher term. */
static void test_force_election(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 7);
	int m;

	(void)state;
	expect_master(mc, "host-9", 5000);
	m = mc_index(mc, "host-9");
	mc_force_election(mc, (size_t)m, true);  /* slaves notice by silence */
	mc_run(mc, 100);
	assert_int_equal(mc->hosts[m].core.role, FDM_ROLE_ELECTION);
	expect_master(mc, "host-9", 10000);
	assert_true(mc->hosts[m].core.term >= 2);
	mc_free(mc);
}

/* Two partitions elect two masters; when the network heals, the lower-ranked one
 * steps down and every host follows the other. */
static void test_partition_heal_merges(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 8);
	int a = mc_index(mc, "host-2"), b = mc_index(mc, "host-9");

	(void)state;
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			mc->blocked[i][j] = (i < 2) != (j < 2);
	mc_run(mc, 6000);
	assert_int_equal(mc->hosts[a].core.role, FDM_ROLE_MASTER);
	assert_int_equal(mc->hosts[b].core.role, FDM_ROLE_MASTER);
	memset(mc->blocked, 0, sizeof(mc->blocked));
	expect_master(mc, "host-9", 10000);
	assert_true(mc->hosts[b].core.term > mc->hosts[a].core.term - 1);
	mc_run(mc, 10000);
	expect_master(mc, "host-9", 1);
	mc_free(mc);
}

/* Issue 14 a: a master echoes only the slave heartbeats its "heard" rule counts.
 * When two partitions merge, the loser's master heartbeats reach the winner; an
 * echo of one, once the loser follows, would vouch for it by a heartbeat the
 * winner never counted as heard. The minicluster checks every echo sent. */
static void test_echo_only_counted_heartbeats(void **state)
{
	uint64_t checked = 0;

	(void)state;
	for (uint32_t seed = 1; seed <= 12; seed++) {
		struct minicluster *mc = mc_new(ids4, equal4, 4, seed);

		mc->delay_max_ms = seed % 3 == 0 ? 300 : 20;
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				mc->blocked[i][j] = (i < 2) != (j < 2);
		mc_run(mc, 6000);
		memset(mc->blocked, 0, sizeof(mc->blocked));
		expect_master(mc, "host-9", 10000);
		mc_run(mc, 3000);
		if (mc->echo_violations != 0) {
			fprintf(stderr, "seed %u: %llu master heartbeat(s) echoed a datagram that "
				"was no slave heartbeat naming that master\n", seed,
				(unsigned long long)mc->echo_violations);
			mc_dump(mc);
			fail();
		}
		checked += mc->echoes_checked;
		mc_free(mc);
	}
	assert_true(checked > 100);
}

/* Issue 14 b: a merge loser tells everyone but the winner to elect. A third
 * master that the loser once followed must not take that for a request of its
 * own slave: the loser has claimed mastership since, so it follows nobody.
 * host-1 follows host-2; host-1 then loses host-2 (it hears nothing from it, but
 * host-2 still hears host-1's bids and master heartbeats); host-9, alone so far,
 * meets host-1 only, and host-1 steps down in its favour. */
static void test_merge_loser_step_down_ignored(void **state)
{
	static const char *const ids3[] = { "host-1", "host-2", "host-9" };
	static const unsigned ds3[] = { 1, 1, 1 };
	struct minicluster *mc = mc_new(ids3, ds3, 3, 31);
	int h1 = mc_index(mc, "host-1"), h2 = mc_index(mc, "host-2"), h9 = mc_index(mc, "host-9");
	const struct fdm_core *c2 = &mc->hosts[h2].core, *c1 = &mc->hosts[h1].core;
	uint64_t since;

	(void)state;
	mc->link_down[h9] = true;
	mc_run(mc, 5000);
	assert_int_equal(c2->role, FDM_ROLE_MASTER);
	assert_int_equal(c1->master, h2);
	mc->blocked[h2][h1] = true;            /* host-1 no longer hears host-2 */
	mc_run(mc, 6000);
	assert_int_equal(c1->role, FDM_ROLE_MASTER);
	assert_int_equal(c2->role, FDM_ROLE_MASTER);
	mc->link_down[h9] = false;             /* host-9 meets host-1 only */
	mc->blocked[h9][h2] = mc->blocked[h2][h9] = true;
	since = c2->role_since_ms;
	mc_run(mc, 5000);
	assert_int_equal(c1->master, h9);      /* host-1 lost the merge and stepped down */
	if (c2->role != FDM_ROLE_MASTER || c2->role_since_ms != since) {
		fprintf(stderr, "host-2 took host-1's merge StepDown for its slave's request\n");
		mc_dump(mc);
		fail();
	}
	mc_free(mc);
}

/* Issue 14 c: an agent that just started has no replay state for its peers; a
 * captured old packet of a peer must not make it act. host-1 restarts, its
 * master dies, and an attacker replays the master's last heartbeat to it: it
 * must not follow a master that is gone. */
static void test_captured_packet_at_fresh_receiver(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 32);
	int s = mc_index(mc, "host-1"), m = mc_index(mc, "host-9");
	const struct fdm_core *c = &mc->hosts[s].core;

	(void)state;
	expect_master(mc, "host-9", 5000);
	mc_run(mc, 2000);
	mc_kill(mc, (size_t)m);
	mc_start(mc, (size_t)s);
	assert_true(mc_replay_captured(mc, (size_t)m, (size_t)s));
	mc_run(mc, MC_STEP_MS);
	if (c->role == FDM_ROLE_SLAVE) {
		fprintf(stderr, "a fresh host-1 followed %s on a replayed old heartbeat\n",
			c->peers[c->master].id);
		fail();
	}
	assert_true(mc->hosts[s].rx_unconfirmed >= 1);
	/* The living hosts agree on a master among themselves, host-1 with them. */
	assert_true(mc_run_until_agreed(mc, 10000, NULL) >= 0);
	mc_free(mc);
}

/* The ack handshake costs little: a host that (re)starts next to a living master
 * follows it at once (its bid is answered with a heartbeat that acks it). */
static void test_restarted_host_follows_at_once(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 33);
	int s = mc_index(mc, "host-1");
	uint64_t took;

	(void)state;
	expect_master(mc, "host-9", 5000);
	mc_kill(mc, (size_t)s);
	mc_run(mc, 1000);
	mc_start(mc, (size_t)s);
	assert_int_equal(mc_run_until_agreed(mc, 5000, &took), mc_index(mc, "host-9"));
	assert_true(took <= 200);
	mc_free(mc);
}

/* ------------------------------------------------------------- bad networks */

static void test_lossy_network_converges(void **state)
{
	(void)state;
	for (uint32_t seed = 1; seed <= 20; seed++) {
		struct minicluster *mc = mc_new(ids4, equal4, 4, seed);
		int m;

		mc->loss_pct = 20;
		mc->delay_max_ms = 50;   /* reordering */
		m = mc_run_until_agreed(mc, 20000, NULL);
		if (m < 0) {
			fprintf(stderr, "seed %u: no agreement\n", seed);
			mc_dump(mc);
			fail();
		}
		/* Once agreed, 20 % loss never costs 3 heartbeats in a row often enough
		 * to matter; the master stays. */
		mc_run(mc, 5000);
		assert_true(mc_count_masters(mc) <= 1);
		mc_free(mc);
	}
}

static void test_duplicates_reach_core_harmlessly(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 9);

	(void)state;
	mc->no_replay_filter = true;
	mc->dup_pct = 50;
	expect_master(mc, "host-9", 5000);
	mc_run(mc, 10000);
	expect_master(mc, "host-9", 1);
	mc_free(mc);
}

static void test_replay_filter(void **state)
{
	struct fdm_replay r = { 0, 0 };

	(void)state;
	assert_true(fdm_replay_accept(&r, 5, 1));
	assert_true(fdm_replay_accept(&r, 5, 2));
	assert_false(fdm_replay_accept(&r, 5, 2));   /* duplicate */
	assert_false(fdm_replay_accept(&r, 5, 1));   /* reordered: superseded */
	assert_true(fdm_replay_accept(&r, 6, 1));    /* restarted agent */
	assert_false(fdm_replay_accept(&r, 5, 99));  /* older incarnation */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rank_table),
		cmocka_unit_test(test_greatest_string_wins),
		cmocka_unit_test(test_datastores_first),
		cmocka_unit_test(test_reelection_after_master_loss),
		cmocka_unit_test(test_returning_master_joins_as_slave),
		cmocka_unit_test(test_no_flapping_when_better_host_joins),
		cmocka_unit_test(test_term_increases_on_each_election),
		cmocka_unit_test(test_force_election),
		cmocka_unit_test(test_partition_heal_merges),
		cmocka_unit_test(test_echo_only_counted_heartbeats),
		cmocka_unit_test(test_merge_loser_step_down_ignored),
		cmocka_unit_test(test_captured_packet_at_fresh_receiver),
		cmocka_unit_test(test_restarted_host_follows_at_once),
		cmocka_unit_test(test_lossy_network_converges),
		cmocka_unit_test(test_duplicates_reach_core_harmlessly),
		cmocka_unit_test(test_replay_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
