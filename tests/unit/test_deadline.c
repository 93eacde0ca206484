/* Per-datastore deadlines (fdm/core/deadline.c, DESIGN.md safety point 3): a
 * table where each clause of the bound has a case in which it alone decides
 * (timing of DESIGN.md's example: io 2 s, lease_expiry 8 s, host_dead 14 s,
 * margin 2 s); then whole clusters on the minicluster, whose fake shims enforce
 * the deadlines their agents hand over: a whole-cluster storage outage powers
 * nothing off; with a host down it powers VMs off, no sooner than the
 * lease-expiry bound, none running twice; a host cut from network and storage
 * powers its VMs off before the master restarts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/core/deadline.h"
#include "lib/timing.h"
#include "lib/util.h"
#include "tests/unit/minicluster.h"

#define GIB (1024ull * 1024ull)

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

/* ------------------------------------------------------ whole clusters */
static const char *const ids4[] = { "host-1", "host-2", "host-3", "host-4" };
static const unsigned all3[] = { 3, 3, 3, 3 };

/* What the fake shims did, with the fake clock. */
struct seen {
	uint64_t first_off_ms;         /* 0: none */
	size_t offs;
	uint64_t first_on_ms;
	char first_on[FDM_VM_NAME_MAX];
};

static void on_off(struct minicluster *mc, size_t host, const char *vm, bool by_shim)
{
	struct seen *s = mc->user;

	print_message("%.1f s: %s powered off on %s (%s)\n", mc->now / 1000.0, vm, ids4[host],
		      by_shim ? "the shim, at its deadline" : "the agent");
	if (s->first_off_ms == 0)
		s->first_off_ms = mc->now;
	s->offs++;
}

static void on_on(struct minicluster *mc, size_t host, const char *vm)
{
	struct seen *s = mc->user;

	print_message("%.1f s: %s power-on asked on %s\n", mc->now / 1000.0, vm, ids4[host]);
	if (s->first_on_ms == 0) {
		s->first_on_ms = mc->now;
		snprintf(s->first_on, sizeof(s->first_on), "%s", vm);
	}
}

/* Four hosts, host-4 master: vm-a (ds1) on host-2, vm-b (ds1) on the master,
 * vm-c (ds2) on host-3, vm-d (ds1) on host-1. */
static struct minicluster *cluster(uint32_t seed, struct seen *s)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, seed);
	static const char *const vms[] = { "vm-d", "vm-a", "vm-c", "vm-b" };
	static const int homes[] = { 0, 0, 1, 0 };

	memset(s, 0, sizeof(*s));
	mc->user = s;
	mc->on_power_off = on_off;
	mc->on_power_on = on_on;
	for (size_t h = 0; h < 4; h++) {
		mc_shim_on(mc, h, 8 * GIB, 16 * GIB);
		mc_protect(mc, homes[h], vms[h], FDM__PRIORITY__PRIORITY_HIGH, 1 * GIB);
		mc_vm_start(mc, h, vms[h]);
	}
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), 3);
	mc_run(mc, 30000);   /* leases, lists, reports, vouches flowing */
	assert_int_equal(s->offs, 0);
	return mc;
}

static void storage_outage(struct minicluster *mc)
{
	for (size_t h = 0; h < mc->n; h++)
		mc->hosts[h].ds_mask = 0;
}

/* Every host up, the network whole: however long the storage is gone, no
 * other master can appear, and nothing is powered off (sanlock would kill
 * every VM after 80 s). */
static void test_storage_outage_powers_nothing_off(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(181, &s);
	const uint64_t span = 10ull * (mc->timing.lease_expiry_ms + mc->timing.host_dead_ms);
	int n;

	(void)state;
	storage_outage(mc);
	mc_run(mc, span);
	assert_int_equal(s.offs, 0);
	assert_int_equal(mc->power_offs + mc->shim_fenced, 0);
	assert_int_equal(mc->power_ons_asked, 0);
	assert_int_equal(mc->double_runs, 0);
	assert_int_equal(mc_vm_where(mc, "vm-a", &n), 1);
	assert_int_equal(mc_vm_where(mc, "vm-b", &n), 3);
	assert_int_equal(mc_vm_where(mc, "vm-c", &n), 2);
	/* Every deadline is still ahead, on the master and on a slave. */
	assert_true(fdm_deadline_of(&mc->hosts[3].core, 0) > mc_clock(mc, 3));
	assert_true(fdm_deadline_of(&mc->hosts[1].core, 0) > mc_clock(mc, 1));
	print_message("storage gone %.0f s: nothing powered off\n", span / 1000.0);
	mc_free(mc);
}

/* host-1 died before the outage (vm-d restarted elsewhere): it may come back
 * alone, reach the storage, take a lease and restart the others' VMs, so they
 * are powered off, but no sooner than the lease-expiry bound. */
static void test_storage_outage_with_a_host_down(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(182, &s);
	const struct fdm_timing *t = &mc->timing;
	uint64_t start, off_after;
	int n, where;

	(void)state;
	mc_kill(mc, 0);
	mc_run(mc, 60000);
	where = mc_vm_where(mc, "vm-d", &n);
	assert_true(where > 0);
	assert_int_equal(n, 1);
	storage_outage(mc);
	start = mc->now;
	mc_run(mc, 3ull * (t->lease_expiry_ms + t->host_dead_ms));
	assert_true(s.offs >= 4);
	off_after = s.first_off_ms - start;
	print_message("first power-off %.1f s into the outage (lease_expiry + host_dead %.1f s)\n",
		      off_after / 1000.0, (t->lease_expiry_ms + t->host_dead_ms) / 1000.0);
	/* The master renewed at most io before the outage. */
	assert_true(off_after + t->io_timeout_ms >= t->lease_expiry_ms + t->host_dead_ms -
						      2ull * t->deadline_margin_ms);
	assert_int_equal(mc->double_runs, 0);
	for (size_t h = 0; h < 4; h++)
		assert_int_equal(mc->hosts[h].n_vms, 0);
	mc_free(mc);
}

/* host-2 loses network and storage at once: the master finds it dead after
 * host_dead and restarts vm-a; host-2 must have powered vm-a off first (the
 * double start the core had before deadlines: chaos seed 172 of `fencing`). */
static void test_cut_off_host_powers_off_before_restart(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(183, &s);
	uint64_t cut;
	int n, where;

	(void)state;
	mc->link_down[1] = true;
	mc->hosts[1].ds_mask = 0;
	cut = mc->now;
	mc_run(mc, 60000);
	assert_true(s.first_off_ms > 0);
	assert_true(s.first_on_ms > 0);
	assert_string_equal(s.first_on, "vm-a");
	print_message("vm-a off on host-2 %.1f s after the cut, power-on asked %.1f s after\n",
		      (s.first_off_ms - cut) / 1000.0, (s.first_on_ms - cut) / 1000.0);
	assert_true(s.first_off_ms < s.first_on_ms);
	assert_int_equal(mc->power_offs, 1);      /* by its agent, the shim as backstop */
	assert_int_equal(mc->shim_fenced, 0);
	assert_false(mc_vm_runs(mc, 1, "vm-a"));
	where = mc_vm_where(mc, "vm-a", &n);
	assert_true(where >= 0 && where != 1);
	assert_int_equal(n, 1);
	assert_int_equal(mc->double_runs, 0);
	/* The others keep theirs. */
	assert_int_equal(mc_vm_where(mc, "vm-b", &n), 3);
	assert_int_equal(mc_vm_where(mc, "vm-c", &n), 2);
	/* While ds1's deadline has passed there, host-2 refuses to power a VM of
	 * ds1 on (its master may restart it elsewhere at any moment). */
	{
		static struct fdm_actions acts;
		struct fdm_order o = { .name = "vm-a", .ds = 0, .restarts = 7 };
		struct fdm_core *c = &mc->hosts[1].core;

		assert_true(fdm_deadline_passed(c, 0, mc_clock(mc, 1)));
		fdm_ha_take_order(c, &o, mc_clock(mc, 1), &acts);
		for (size_t i = 0; i < acts.n; i++)
			assert_int_not_equal(acts.a[i].kind, FDM_ACT_POWER_ON);
		assert_int_equal(c->ha.n_results > 0, 1);
		assert_false(c->ha.results[c->ha.n_results - 1].ok);
		assert_string_equal(c->ha.results[c->ha.n_results - 1].message,
				    "the deadline of its datastore passed here");
	}
	mc_free(mc);
}

/* host-2 (vm-a) is cut off from the network and every datastore; its agent is
 * killed and restarted (its shim lives on). The new agent can read no
 * protectedlist, so it does not know vm-a is protected: it must still hand the
 * shim the deadline the old agent had given it (DESIGN.md point 5), and the
 * shim powers vm-a off by then, before the master restarts it, which it then
 * does (a power-off at a deadline is no user's stop). Without the inherited
 * deadline, the new agent's first list lifts it: vm-a runs twice. */
static void test_restarted_agent_keeps_the_shims_deadline(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(184, &s);
	const struct mc_host *h = &mc->hosts[1];
	uint64_t left = 0, killed;
	int n, where;

	(void)state;
	mc->link_down[1] = true;
	mc->hosts[1].ds_mask = 0;
	mc_run(mc, 5000);
	for (size_t k = 0; k < h->n_deadlines; k++)
		if (strcmp(h->deadlines[k].name, "vm-a") == 0)
			left = h->deadlines[k].at - mc_clock(mc, 1);
	assert_true(left > 0);
	mc_agent_kill(mc, 1);
	mc_run(mc, 1000);
	mc_start(mc, 1);
	killed = mc->now;
	mc_run(mc, 60000);
	print_message("vm-a off %.1f s after the restart (the old agent's deadline: %.1f s), "
		      "power-on asked %.1f s after\n", (s.first_off_ms - killed) / 1000.0,
		      (left - 1000) / 1000.0, (s.first_on_ms - killed) / 1000.0);
	assert_true(s.first_off_ms > 0);
	assert_true(s.first_off_ms <= killed + left - 1000 + MC_STEP_MS);
	assert_int_equal(mc->shim_fenced, 1);
	assert_true(s.first_on_ms > s.first_off_ms);
	where = mc_vm_where(mc, "vm-a", &n);
	assert_true(where >= 0 && where != 1);
	assert_int_equal(n, 1);
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

/* A passed deadline stays in force while its VM runs, whatever evidence comes
 * after (deadline.c deadline_held_ms). host-2 is cut off and its power-offs
 * fail, so vm-a outlives ds1's deadline there; the links come back at once
 * (fresh storage writes, the master vouching again), then the power-offs work.
 * Held, the agent still counts the deadline passed, powers vm-a off, and
 * reports it stopped by the deadline: the master restarts it. Recomputed from
 * the fresh evidence instead, the deadline looks ahead again and the stop the
 * shim makes at its own, held copy is taken for an operator's: vm-a is left off
 * (the simulator's stormy 72430, fencing 72837). Once off, it may well be
 * restarted on host-2 itself, whose deadline is then ahead again. */
static void test_passed_deadline_held_until_the_vm_is_off(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(185, &s);
	struct fdm_core *c = &mc->hosts[1].core;
	uint32_t mask = mc->hosts[1].ds_mask;
	int n, where;

	(void)state;
	mc->hosts[1].power_off_fails = true;
	mc->link_down[1] = true;
	mc->hosts[1].ds_mask = 0;
	for (int i = 0; i < 6000 && !fdm_deadline_passed(c, 0, mc_clock(mc, 1)); i++)
		mc_run(mc, MC_STEP_MS);
	assert_true(fdm_deadline_passed(c, 0, mc_clock(mc, 1)));
	mc->link_down[1] = false;
	mc->hosts[1].ds_mask = mask;
	mc_run(mc, 5000);
	assert_true(mc_vm_runs(mc, 1, "vm-a"));
	assert_true(fdm_deadline_passed(c, 0, mc_clock(mc, 1)));   /* held */
	mc->hosts[1].power_off_fails = false;
	mc_run(mc, 60000);
	assert_true(s.first_off_ms > 0);
	assert_true(s.first_on_ms > s.first_off_ms);   /* restarted, by the master */
	where = mc_vm_where(mc, "vm-a", &n);
	print_message("vm-a off on host-2, then running on host-%d (%d copies)\n", where + 1, n);
	assert_true(where >= 0);
	assert_int_equal(n, 1);
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

/* A clean stop (DESIGN.md point 5): host-2's agent stops, writes `stopped` to
 * its poweron records and leaves vm-a's datastore out of the deadlines its shim
 * holds; vm-a runs on there, and the master, reading `stopped`, restarts
 * nothing of host-2, however long its agent stays away. */
static void test_clean_stop_leaves_vms_running(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(186, &s);
	int n;

	(void)state;
	mc_leave(mc, 1);
	mc_run(mc, 90000);
	assert_int_equal(s.offs, 0);
	assert_int_equal(s.first_on_ms, 0);
	/* Its agent is gone (mc_vm_runs asks a live agent): look at its shim. */
	assert_int_equal(mc->hosts[1].n_vms, 1);
	assert_string_equal(mc->hosts[1].vms[0], "vm-a");
	assert_int_equal(mc_vm_where(mc, "vm-a", &n), -1);
	assert_int_equal(n, 0);
	assert_int_equal(mc->hosts[1].n_deadlines, 0);
	assert_int_equal(mc->hosts[3].core.peers[1].state, FDM_HS_STOPPED);
	mc_free(mc);
}

/* The inherited deadlines are handed on until the core lists the VM itself or
 * has read every protectedlist without it; a stop after one passed is no
 * user's stop. */
static void test_inherited_deadlines_list(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(185, &s);
	struct fdm_core *c = &mc->hosts[1].core;
	struct fdm_vm_deadline in[2] = { { .name = "vm-a", .ds = -1 },
					 { .name = "vm-gone", .ds = -1 } };
	struct fdm_vm_deadline out[8];
	uint64_t now = mc_clock(mc, 1);
	size_t n;

	(void)state;
	in[0].deadline_ms = now + 5000;
	in[1].deadline_ms = now + 6000;
	fdm_core_inherit_deadlines(c, in, 2, now, &mc->actions);
	mc_execute(mc, 1);
	/* vm-a: the core's own deadline; vm-gone: every list read, not named. */
	n = fdm_deadline_list(c, out, 8);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].name, "vm-a");
	assert_int_equal(out[0].ds, 0);
	/* Before any list was read, both are handed on as they were. */
	c->ha.ds[2].listed = false;
	n = fdm_deadline_list(c, out, 8);
	assert_int_equal(n, 2);
	assert_string_equal(out[1].name, "vm-gone");
	assert_int_equal(out[1].deadline_ms, now + 6000);
	assert_false(fdm_deadline_inherited_passed(c, "vm-gone", now + 5999));
	assert_true(fdm_deadline_inherited_passed(c, "vm-gone", now + 6000));
	assert_false(fdm_deadline_inherited_passed(c, "vm-other", now + 6000));
	/* The watchdog (fdm/core/watchdog.c): while vm-gone runs here, petted
	 * until its inherited deadline, then not at all. */
	fdm_strlcpy(c->ha.report_runs[c->ha.n_report_runs++], "vm-gone", FDM_VM_NAME_MAX);
	assert_int_equal(fdm_deadline_watchdog_until(c, now + 5999),
			 now + 6000 < fdm_deadline_of(c, 0) ? now + 6000 : fdm_deadline_of(c, 0));
	assert_int_equal(fdm_deadline_watchdog_until(c, now + 6000), 0);
	c->ha.n_report_runs--;
	/* The shim powered vm-gone off at it: reported as no user's stop (the
	 * master restarts it; a user stop would leave it off for good). */
	fdm_ha_on_local_stop(c, "vm-gone", FDM_STOP_USER, now + 6000, &mc->actions);
	mc_execute(mc, 1);
	assert_true(c->ha.n_early_stops > 0);
	assert_int_equal(c->ha.early_stops[c->ha.n_early_stops - 1].reason, FDM_STOP_OTHER);
	mc_free(mc);
}

/* host-2 (vm-a) is SIGSTOPped with its storage and its way out cut; the master
 * heartbeats queue in its socket. At resume it reads them: they echo only what
 * it sent before the pause, so they prove nothing new, and it powers vm-a off
 * before the master, which finds it dead after host_dead, restarts it. Taken
 * as fresh at receipt (the model's receive-time), they would keep it running. */
static void test_queued_master_heartbeats_are_not_fresh(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(184, &s);
	uint64_t cut;
	int n, where;

	(void)state;
	mc_pause(mc, 1);
	mc->hosts[1].ds_mask = 0;
	for (size_t h = 0; h < mc->n; h++)
		mc->blocked[1][h] = true;
	cut = mc->now;
	mc_run(mc, 8000);
	mc_resume(mc, 1);
	mc_run(mc, 52000);
	assert_true(s.first_off_ms > 0);
	assert_true(s.first_on_ms > 0);
	print_message("vm-a off on host-2 %.1f s after the pause, power-on asked %.1f s after\n",
		      (s.first_off_ms - cut) / 1000.0, (s.first_on_ms - cut) / 1000.0);
	assert_true(s.first_off_ms < s.first_on_ms);
	where = mc_vm_where(mc, "vm-a", &n);
	assert_true(where >= 0 && where != 1);
	assert_int_equal(n, 1);
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline_table),
		cmocka_unit_test(test_margin),
		cmocka_unit_test(test_storage_outage_powers_nothing_off),
		cmocka_unit_test(test_storage_outage_with_a_host_down),
		cmocka_unit_test(test_cut_off_host_powers_off_before_restart),
		cmocka_unit_test(test_queued_master_heartbeats_are_not_fresh),
		cmocka_unit_test(test_restarted_agent_keeps_the_shims_deadline),
		cmocka_unit_test(test_inherited_deadlines_list),
		cmocka_unit_test(test_clean_stop_leaves_vms_running),
		cmocka_unit_test(test_passed_deadline_held_until_the_vm_is_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
