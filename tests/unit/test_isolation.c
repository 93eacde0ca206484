/* The isolation response (DESIGN.md safety point 4, fdm/core/isolation_response.c)
 * and the master's isolated/partitioned verdicts (fdm/core/isolated_hosts.c), on
 * the minicluster: four hosts, host-4 master, each running one protected VM.
 *
 * A host cut from the network with its isolation address silent and its
 * storage whole powers its VMs off (response poweroff) once it sees the master
 * still renewing their datastore's lease; the master restarts them elsewhere,
 * never twice. Response none: nothing moves. A whole-network outage: nobody
 * renews, nothing is powered off (the mutant FDM_MUTANT_ISOLATION_NO_RENEWAL_CHECK
 * fails test_whole_network_outage_powers_nothing_off). A host cut off whose
 * isolation address answers is partitioned and keeps its VMs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fdm/core/core.h"
#include "tests/unit/minicluster.h"

#define GIB (1024ull * 1024ull)   /* in KiB */

static const char *const ids4[] = { "host-1", "host-2", "host-3", "host-4" };
static const unsigned all3[] = { 3, 3, 3, 3 };

struct seen {
	size_t offs;                   /* power-offs, by agents or shims */
	uint64_t vm_a_off_ms;          /* vm-a off on host-2 (0: not yet) */
	uint64_t vm_a_on_ms;           /* a power-on of vm-a asked, anywhere */
	int vm_a_on_host;
};

static void on_off(struct minicluster *mc, size_t host, const char *vm, bool by_shim)
{
	struct seen *s = mc->user;

	print_message("%.1f s: %s powered off on %s (%s)\n", mc->now / 1000.0, vm, ids4[host],
		      by_shim ? "its shim" : "its agent");
	s->offs++;
	if (host == 1 && strcmp(vm, "vm-a") == 0 && s->vm_a_off_ms == 0)
		s->vm_a_off_ms = mc->now;
}

static void on_on(struct minicluster *mc, size_t host, const char *vm)
{
	struct seen *s = mc->user;

	print_message("%.1f s: %s power-on asked on %s\n", mc->now / 1000.0, vm, ids4[host]);
	if (strcmp(vm, "vm-a") == 0 && s->vm_a_on_ms == 0) {
		s->vm_a_on_ms = mc->now;
		s->vm_a_on_host = (int)host;
	}
}

static void set_response(struct minicluster *mc, enum fdm_isolation_response r)
{
	for (size_t h = 0; h < mc->n; h++) {
		mc->hosts[h].cfg.isolation_response = r;
		mc->hosts[h].cfg.shutdown_timeout_s = 20;
		fdm_isoresp_configure(&mc->hosts[h].core, &mc->hosts[h].cfg);
	}
}

/* host-4 master: vm-d (ds1) on host-1, vm-a (ds1) on host-2, vm-c (ds2) on
 * host-3, vm-b (ds1) on host-4. */
static struct minicluster *cluster(uint32_t seed, struct seen *s,
				   enum fdm_isolation_response r)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, seed);
	static const char *const vms[] = { "vm-d", "vm-a", "vm-c", "vm-b" };
	static const int homes[] = { 0, 0, 1, 0 };

	memset(s, 0, sizeof(*s));
	s->vm_a_on_host = -1;
	mc->user = s;
	mc->on_power_off = on_off;
	mc->on_power_on = on_on;
	set_response(mc, r);
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

static enum fdm_vm_state master_vm_state(struct minicluster *mc, const char *name)
{
	struct fdm_vm *v = fdm_ha_find(&mc->hosts[3].core, name);

	assert_non_null(v);
	return v->state;
}

/* Event lines of host h of this kind among the last MC_EVENTS. */
static size_t events_of(const struct minicluster *mc, size_t h, const char *event)
{
	size_t n = 0, kept = mc->n_events < MC_EVENTS ? mc->n_events : MC_EVENTS;

	for (size_t i = 0; i < kept; i++)
		if (mc->events[i].host == h && mc->events[i].event != NULL &&
		    strcmp(mc->events[i].event, event) == 0)
			n++;
	return n;
}

static bool in_isolated_off(const struct mc_poweron *p, const char *name)
{
	for (size_t i = 0; i < p->n_isolated_off; i++)
		if (strcmp(p->isolated_off[i], name) == 0)
			return true;
	return false;
}

/* Cut host-2 off and run until the master has restarted vm-a elsewhere; true
 * when the master showed vm-a isolated-off in between. */
static bool isolate_host_2(struct minicluster *mc, struct seen *s)
{
	bool shown_off = false;

	mc->link_down[1] = true;
	for (int i = 0; i < 1200; i++) {
		mc_run(mc, 100);
		if (s->vm_a_off_ms != 0 && s->vm_a_on_ms == 0 &&
		    master_vm_state(mc, "vm-a") == FDM_VM_ISOLATED_OFF)
			shown_off = true;
		if (s->vm_a_on_ms != 0 && mc_vm_where(mc, "vm-a", &(int){ 0 }) >= 0 &&
		    master_vm_state(mc, "vm-a") == FDM_VM_PROTECTED)
			break;
	}
	return shown_off;
}

/* (a) Response poweroff, isolation address silent, storage whole. */
static void test_isolated_host_powers_off_and_master_restarts(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(191, &s, FDM_ISO_POWEROFF);
	uint64_t cut = mc->now;
	bool shown_off;
	int n, where;

	(void)state;
	shown_off = isolate_host_2(mc, &s);
	assert_true(mc->hosts[1].core.iso.isolated);
	assert_int_equal(mc->hosts[3].core.peers[1].state, FDM_HS_ISOLATED);
	assert_true(s.vm_a_off_ms > 0);
	assert_true(s.vm_a_on_ms > s.vm_a_off_ms);
	print_message("vm-a off on host-2 %.1f s after the cut, power-on asked on %s %.1f s "
		      "after\n", (s.vm_a_off_ms - cut) / 1000.0, ids4[s.vm_a_on_host],
		      (s.vm_a_on_ms - cut) / 1000.0);
	assert_true(shown_off);
	assert_int_not_equal(s.vm_a_on_host, 1);
	where = mc_vm_where(mc, "vm-a", &n);
	assert_true(where >= 0 && where != 1);
	assert_int_equal(n, 1);
	assert_int_equal(master_vm_state(mc, "vm-a"), FDM_VM_PROTECTED);
	/* Its own power-off is no user's stop (that would keep vm-a off for good). */
	assert_int_equal(events_of(mc, 1, "vm-stopped"), 0);
	/* Its record on ds1 says why. */
	assert_true(mc->ds[0].poweron[1].isolated);
	assert_true(in_isolated_off(&mc->ds[0].poweron[1], "vm-a"));
	/* Only vm-a was there; the others keep running where they were. */
	assert_int_equal(mc->power_offs, 1);
	assert_int_equal(mc->shim_fenced, 0);
	assert_int_equal(mc_vm_where(mc, "vm-b", &n), 3);
	assert_int_equal(mc_vm_where(mc, "vm-c", &n), 2);
	assert_int_equal(mc_vm_where(mc, "vm-d", &n), 0);
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

/* Response shutdown, guests that ignore it: the host asks a guest shutdown
 * once, then powers the VM off when shutdown_timeout_s has passed. */
static void test_isolated_host_shutdown_then_poweroff(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(196, &s, FDM_ISO_SHUTDOWN);
	uint64_t asked = 0;
	int n;

	(void)state;
	mc->guests_ignore_shutdown = true;
	mc->link_down[1] = true;
	for (int i = 0; i < 1200 && s.vm_a_on_ms == 0; i++) {
		mc_run(mc, 100);
		if (asked == 0 && mc->shutdowns > 0)
			asked = mc->now;
	}
	assert_int_equal(mc->shutdowns, 1);
	assert_true(asked > 0 && s.vm_a_off_ms > 0);
	print_message("shutdown asked, vm-a powered off %.1f s later\n",
		      (s.vm_a_off_ms - asked) / 1000.0);
	assert_true(s.vm_a_off_ms >= asked + 20000);
	assert_true(s.vm_a_on_ms > s.vm_a_off_ms);
	mc_run(mc, 10000);
	assert_true(mc_vm_where(mc, "vm-a", &n) >= 0);
	assert_int_equal(n, 1);
	assert_false(mc_vm_runs(mc, 1, "vm-a"));
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

/* (b) The same with response none: the host is alive on storage, so nothing
 * is powered off and nothing restarted. */
static void test_isolated_host_response_none(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(192, &s, FDM_ISO_NONE);
	int n;

	(void)state;
	mc->link_down[1] = true;
	mc_run(mc, 120000);
	assert_true(mc->hosts[1].core.iso.isolated);
	assert_int_equal(mc->hosts[3].core.peers[1].state, FDM_HS_ISOLATED);
	assert_int_equal(s.offs, 0);
	assert_int_equal(mc->power_ons_asked, 0);
	assert_int_equal(mc_vm_where(mc, "vm-a", &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(master_vm_state(mc, "vm-a"), FDM_VM_PROTECTED);
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

/* (c) Every link cut, every probe silent: every host is isolated, no master
 * renews anywhere, and nobody powers anything off. */
static void test_whole_network_outage_powers_nothing_off(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(193, &s, FDM_ISO_POWEROFF);
	int n;

	(void)state;
	for (size_t h = 0; h < mc->n; h++)
		mc->link_down[h] = true;
	mc_run(mc, 120000);
	for (size_t h = 0; h < mc->n; h++)
		assert_true(mc->hosts[h].core.iso.isolated);
	assert_int_equal(s.offs, 0);
	assert_int_equal(mc->power_offs + mc->shim_fenced, 0);
	assert_int_equal(mc->power_ons_asked, 0);
	assert_int_equal(mc_vm_where(mc, "vm-a", &n), 1);
	assert_int_equal(mc_vm_where(mc, "vm-b", &n), 3);
	assert_int_equal(mc_vm_where(mc, "vm-c", &n), 2);
	assert_int_equal(mc_vm_where(mc, "vm-d", &n), 0);
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

/* (d) host-2 hears no peer but its isolation address answers: partitioned,
 * not isolated; it keeps its VM. */
static void test_partitioned_host_keeps_its_vms(void **state)
{
	struct seen s;
	struct minicluster *mc = cluster(194, &s, FDM_ISO_POWEROFF);
	int n;

	(void)state;
	for (size_t h = 0; h < mc->n; h++)
		if (h != 1)
			mc->blocked[1][h] = mc->blocked[h][1] = true;
	mc_run(mc, 120000);
	assert_false(mc->hosts[1].core.iso.isolated);
	assert_int_equal(mc->hosts[3].core.peers[1].state, FDM_HS_PARTITIONED);
	assert_int_equal(s.offs, 0);
	assert_int_equal(mc->power_ons_asked, 0);
	assert_int_equal(mc_vm_where(mc, "vm-a", &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

/* (e) After (a), the network heals: one master, every VM runs once, host-2 is
 * no longer isolated, says so on disk, and has not started vm-a again. */
static void test_heal_after_isolation(void **state)
{
	static const char *const vms[] = { "vm-a", "vm-b", "vm-c", "vm-d" };
	struct seen s;
	struct minicluster *mc = cluster(195, &s, FDM_ISO_POWEROFF);
	int n;

	(void)state;
	isolate_host_2(mc, &s);
	assert_true(s.vm_a_on_ms > 0);
	mc->link_down[1] = false;
	mc_run(mc, 30000);
	assert_int_equal(mc_count_masters(mc), 1);
	assert_true(mc_agreed_master(mc) >= 0);
	assert_false(mc->hosts[1].core.iso.isolated);
	assert_int_equal(mc->hosts[1].core.role, FDM_ROLE_SLAVE);
	assert_false(mc->ds[0].poweron[1].isolated);
	assert_int_equal(mc->ds[0].poweron[1].n_isolated_off, 0);
	assert_false(mc_vm_runs(mc, 1, "vm-a"));
	for (size_t i = 0; i < 4; i++) {
		assert_true(mc_vm_where(mc, vms[i], &n) >= 0);
		assert_int_equal(n, 1);
		assert_int_equal(master_vm_state(mc, vms[i]), FDM_VM_PROTECTED);
	}
	assert_int_equal(mc->power_offs, 1);
	assert_int_equal(mc->double_runs, 0);
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_isolated_host_powers_off_and_master_restarts),
		cmocka_unit_test(test_isolated_host_shutdown_then_poweroff),
		cmocka_unit_test(test_isolated_host_response_none),
		cmocka_unit_test(test_whole_network_outage_powers_nothing_off),
		cmocka_unit_test(test_partitioned_host_keeps_its_vms),
		cmocka_unit_test(test_heal_after_isolation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
