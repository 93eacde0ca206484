/* The host table and the heartbeat echoes (DESIGN.md "Heartbeats"): states as the
 * master sees them, and times that cross hosts as offsets, never later than the
 * truth whatever the network delay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/util.h"
#include "tests/unit/minicluster.h"

static const char *const ids4[] = { "host-1", "host-2", "host-9", "host-10" };
static const unsigned equal4[] = { 1, 1, 1, 1 };

static struct minicluster *agreed_cluster(uint32_t seed)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, seed);

	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), mc_index(mc, "host-9"));
	mc_run(mc, 2000);
	return mc;
}

static enum fdm_host_state state_at(struct minicluster *mc, const char *viewer, const char *h)
{
	return mc->hosts[mc_index(mc, viewer)].core.peers[mc_index(mc, h)].state;
}

static void test_master_sees_slaves_connected(void **state)
{
	struct minicluster *mc = agreed_cluster(11);

	(void)state;
	assert_int_equal(state_at(mc, "host-9", "host-9"), FDM_HS_MASTER);
	assert_int_equal(state_at(mc, "host-9", "host-1"), FDM_HS_CONNECTED);
	assert_int_equal(state_at(mc, "host-9", "host-10"), FDM_HS_CONNECTED);
	/* A slave shows the master's view. */
	assert_int_equal(state_at(mc, "host-1", "host-2"), FDM_HS_CONNECTED);
	assert_int_equal(state_at(mc, "host-1", "host-9"), FDM_HS_MASTER);
	mc_free(mc);
}

static void test_cut_host_becomes_unreachable(void **state)
{
	struct minicluster *mc = agreed_cluster(12);
	int h = mc_index(mc, "host-2");

	(void)state;
	mc->link_down[h] = true;
	/* Its last heartbeat left up to one period before the cut. */
	mc_run(mc, mc->timing.host_unreachable_ms - mc->timing.heartbeat_interval_ms - 100);
	assert_int_equal(state_at(mc, "host-9", "host-2"), FDM_HS_CONNECTED);
	mc_run(mc, mc->timing.heartbeat_interval_ms + 200);
	/* Its hb records still change: alive on storage, so partitioned, not
	 * merely unreachable (DESIGN.md "Roles and states"). */
	assert_int_equal(state_at(mc, "host-9", "host-2"), FDM_HS_PARTITIONED);
	/* Healing: it re-elects on its side, finds the master, and is connected again. */
	mc->link_down[h] = false;
	mc_run(mc, 8000);
	if (state_at(mc, "host-9", "host-2") != FDM_HS_CONNECTED)
		mc_dump(mc);
	assert_int_equal(state_at(mc, "host-9", "host-2"), FDM_HS_CONNECTED);
	mc_free(mc);
}

/* A configured host that never ran has no hb record: the master's first read
 * of it (empty) proves no writer, so it is unreachable, not partitioned
 * (tests/cli/test_metrics.sh saw a never-started host-2 counted partitioned). */
static void test_host_that_never_ran_is_unreachable(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 14);
	int h = mc_index(mc, "host-2");

	(void)state;
	mc_kill(mc, (size_t)h);
	mc_run_until_agreed(mc, 5000, NULL);
	/* Soon after the master's first reads, and long after. */
	for (int k = 0; k < 40; k++) {
		mc_run(mc, 500);
		if (k >= 8)   /* past the master's first unreachable period */
			assert_int_equal(state_at(mc, "host-9", "host-2"), FDM_HS_UNREACHABLE);
	}
	mc_free(mc);
}

static void test_leaving_host_is_stopped(void **state)
{
	struct minicluster *mc = agreed_cluster(13);
	int h = mc_index(mc, "host-1");

	(void)state;
	mc_leave(mc, (size_t)h);
	mc_run(mc, 10000);
	assert_int_equal(state_at(mc, "host-9", "host-1"), FDM_HS_STOPPED);
	mc_start(mc, (size_t)h);
	mc_run(mc, 5000);
	assert_int_equal(state_at(mc, "host-9", "host-1"), FDM_HS_CONNECTED);
	mc_free(mc);
}

/* A slave's "vouched" time is the send time of its own heartbeat that the master
 * echoed: never later than when the master really heard it, even with delays. */
static void test_echo_times_never_later_than_truth(void **state)
{
	struct minicluster *mc = agreed_cluster(14);
	int s = mc_index(mc, "host-1");
	const struct fdm_core *c = &mc->hosts[s].core;

	(void)state;
	mc->delay_max_ms = 400;
	for (int i = 0; i < 50; i++) {
		mc_run(mc, 100);
		if (c->vouched)
			assert_true(c->vouched_sent_ms <= mc->now);
	}
	assert_true(c->vouched);
	/* It lags by at most the slave's period, the master's period and two delays. */
	assert_true(mc->now - c->vouched_sent_ms <= 2 * 1000 + 2 * 400 + 2 * MC_STEP_MS);
	mc_free(mc);
}

/* The master's "heard" time of a slave is the send time of the master heartbeat
 * that slave echoed; the master reports it to others as an offset from its receipt
 * of their echoed heartbeat. */
static void test_heard_offsets(void **state)
{
	struct minicluster *mc = agreed_cluster(15);
	int m = mc_index(mc, "host-9"), s = mc_index(mc, "host-1");
	const struct fdm_core *mcore = &mc->hosts[m].core;
	int64_t off;

	(void)state;
	assert_true(mcore->peers[s].have_heard);
	assert_true(mcore->peers[s].heard_sent_ms <= mc->now);
	assert_true(fdm_membership_offset(mcore, s, mcore->peers[s].heard_sent_ms, &off));
	/* heard (a send time) precedes the receipt of the slave's later heartbeat */
	assert_true(off <= 1000 + 100);
	mc_free(mc);
}

/* Reload (SIGHUP): the host table is matched by id; a master that vanishes from
 * [peers] makes its slaves elect; the rest keep their state and their term. */
static void test_reconfigure(void **state)
{
	struct minicluster *mc = agreed_cluster(16);
	int s = mc_index(mc, "host-1");
	struct mc_host *h = &mc->hosts[s];
	struct fdm_config next = h->cfg;
	uint64_t term = h->core.term;

	(void)state;
	/* Reorder the peers and drop host-2: host-9 is still master. */
	next.peers[0] = h->cfg.peers[3];
	next.peers[1] = h->cfg.peers[0];
	next.peers[2] = h->cfg.peers[2];
	next.n_peers = 3;
	assert_int_equal(fdm_core_reconfigure(&h->core, &next, &mc->timing, mc->now, &mc->actions), 0);
	mc->actions.n = 0;
	assert_int_equal(h->core.role, FDM_ROLE_SLAVE);
	assert_string_equal(h->core.peers[h->core.master].id, "host-9");
	assert_string_equal(h->core.peers[h->core.self].id, "host-1");
	assert_int_equal(h->core.term, term);
	/* Drop the master: election. */
	next.peers[2] = next.peers[0];
	next.n_peers = 2;
	assert_int_equal(fdm_core_reconfigure(&h->core, &next, &mc->timing, mc->now, &mc->actions), 0);
	mc->actions.n = 0;
	assert_int_equal(h->core.role, FDM_ROLE_ELECTION);
	/* Another host id is refused. */
	fdm_strlcpy(next.host_id, "host-10", sizeof(next.host_id));
	assert_int_equal(fdm_core_reconfigure(&h->core, &next, &mc->timing, mc->now, &mc->actions), -1);
	mc_free(mc);
}

/* Safety fix 1 (DESIGN.md point 1): a host whose io_timeout differs is never
 * followed, elected or vouched for. host-9, the best id, would be everybody's
 * master; with another io_timeout it stays alone, the others elect host-2, and
 * each side shows the other init-error with the reason, logged once a minute. */
static void test_timing_mismatch_refused(void **state)
{
	struct minicluster *mc = mc_new(ids4, equal4, 4, 21);
	int odd = mc_index(mc, "host-9"), best = mc_index(mc, "host-2");
	char why[FDM_LOG_MAX];
	const char *r;

	(void)state;
	mc->log_watch = "timing differs";
	mc_set_timing(mc, (size_t)odd, 1000, 5000);
	mc_run(mc, 130000);
	for (size_t i = 0; i < 4; i++) {
		const struct fdm_core *c = &mc->hosts[i].core;

		if ((int)i == odd)
			continue;
		assert_int_equal(c->master, best);
		assert_int_equal(state_at(mc, c->peers[c->self].id, "host-9"), FDM_HS_INIT_ERROR);
		assert_true(mc->hosts[i].rx_timing_mismatch > 100);
		r = fdm_core_host_reason(c, (size_t)odd, mc->now, why, sizeof(why));
		assert_non_null(r);
		assert_string_equal(r, "timing differs: io_timeout 5000 ms, ours 2000 ms");
	}
	assert_int_equal(mc->hosts[odd].core.role, FDM_ROLE_MASTER);
	assert_int_equal(state_at(mc, "host-9", "host-2"), FDM_HS_INIT_ERROR);
	r = fdm_core_host_reason(&mc->hosts[odd].core, (size_t)best, mc->now, why, sizeof(why));
	assert_string_equal(r, "timing differs: io_timeout 2000 ms, ours 5000 ms");
	assert_true(mc->hosts[odd].rx_timing_mismatch > 100);
	/* Once a minute per peer: 4 pairs that keep hearing each other for 130 s,
	 * and host-9's first view of the two slaves (silent toward it since). */
	if (mc->log_watch_hits > 4 * 3 + 2)
		fail_msg("%zu timing log lines in 130 s", mc->log_watch_hits);
	assert_true(mc->log_watch_hits >= 4);
	/* Fixed (the operator restarts it with the cluster's timing): it joins the
	 * running master as a slave. */
	mc_set_timing(mc, (size_t)odd, 1000, 2000);
	mc_run(mc, 6000);
	assert_int_equal(mc_agreed_master(mc), best);
	assert_int_equal(state_at(mc, "host-2", "host-9"), FDM_HS_CONNECTED);
	mc_free(mc);
}

/* A packet that carries no timing (an older agent) is refused the same way. */
static void test_timing_unknown_refused(void **state)
{
	struct minicluster *mc = agreed_cluster(22);
	int m = mc_index(mc, "host-9"), s = mc_index(mc, "host-1");
	struct fdm_core *c = &mc->hosts[m].core;
	Fdm__Packet p = FDM__PACKET__INIT;
	Fdm__Leaving leaving = FDM__LEAVING__INIT;
	char why[FDM_LOG_MAX];

	(void)state;
	p.cluster = (char *)"unit";
	p.sender = (char *)"host-1";
	p.incarnation = mc->hosts[s].incarnation;
	p.seq = 1000000;
	p.body_case = FDM__PACKET__BODY_LEAVING;
	p.leaving = &leaving;
	assert_int_equal(fdm_core_packet(c, s, &p, mc->now, &mc->actions), FDM_RX_TIMING_MISMATCH);
	mc->actions.n = 0;
	/* Not taken: a Leaving would have made it "stopped". */
	assert_false(c->peers[s].stopped);
	fdm_core_tick(c, mc->now, &mc->actions);
	mc->actions.n = 0;
	assert_int_equal(c->peers[s].state, FDM_HS_INIT_ERROR);
	assert_string_equal(fdm_core_host_reason(c, (size_t)s, mc->now, why, sizeof(why)),
			    "timing unknown: its packets carry none (an older fdm?)");
	mc_free(mc);
}

/* Issue 14 d: a slave shows heartbeat ages from the master's ages carried through
 * the echo, never from the receipt time of a master heartbeat. host-1 is paused
 * (SIGSTOP) while the master still sends, then the master dies; at resume host-1
 * reads a master heartbeat sent 10 s ago, and must not show host-2 as heard
 * just now. */
static void test_slave_ages_not_from_receipt(void **state)
{
	struct minicluster *mc = agreed_cluster(23);
	int s = mc_index(mc, "host-1"), other = mc_index(mc, "host-2");
	int m = mc_index(mc, "host-9");
	const struct fdm_core *c = &mc->hosts[s].core;
	uint32_t age;

	(void)state;
	age = fdm_core_heartbeat_age(c, (size_t)other, mc->now);
	assert_true(age <= 2 * 1000 + 100);    /* a living cluster: about a period */
	mc_pause(mc, (size_t)s);
	mc_run(mc, 1500);                      /* master heartbeats queue for host-1 */
	mc_kill(mc, (size_t)m);
	mc_run(mc, 10000);
	mc_resume(mc, (size_t)s);
	mc_run(mc, MC_STEP_MS);
	assert_int_equal(c->role, FDM_ROLE_SLAVE);   /* it read the queued heartbeats */
	age = fdm_core_heartbeat_age(c, (size_t)other, mc->now);
	if (age < 10000)
		fail_msg("host-1 shows host-2 heard %u ms ago; the master last heard it more "
			 "than 10 s ago", age);
	assert_true(fdm_core_heartbeat_age(c, (size_t)m, mc->now) >= 10000);
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_master_sees_slaves_connected),
		cmocka_unit_test(test_cut_host_becomes_unreachable),
		cmocka_unit_test(test_host_that_never_ran_is_unreachable),
		cmocka_unit_test(test_leaving_host_is_stopped),
		cmocka_unit_test(test_echo_times_never_later_than_truth),
		cmocka_unit_test(test_heard_offsets),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_timing_mismatch_refused),
		cmocka_unit_test(test_timing_unknown_refused),
		cmocka_unit_test(test_slave_ages_not_from_receipt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
