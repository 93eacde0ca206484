/* The core's event lines carry what they are about, for the journal's fields
 * (fdm(8) "JOURNAL FIELDS", `journalctl FDM_VM=db1`) and `fdmctl metrics`:
 * FDM_EVENT by kind, the VM, the other host, the datastore, the term. Driven on
 * the minicluster (the real core of every host): an election, a lease, a dead
 * host's VM restarted elsewhere, a crashed VM restarted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tests/unit/minicluster.h"

#define GIB (1024ull * 1024ull)

static const char *const ids4[] = { "host-1", "host-2", "host-3", "host-4" };
static const unsigned all3[] = { 3, 3, 3, 3 };

/* Four hosts with shims, vm-a protected on ds1 and running on host-2. */
static struct minicluster *cluster(uint32_t seed)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, seed);

	for (size_t h = 0; h < 4; h++)
		mc_shim_on(mc, h, 8 * GIB, 16 * GIB);
	mc_protect(mc, 0, "vm-a", FDM__PRIORITY__PRIORITY_HIGH, 1 * GIB);
	mc_vm_start(mc, 1, "vm-a");
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), mc_index(mc, "host-4"));
	mc_run(mc, 30000);
	return mc;
}

/* The last event of this kind logged by host `host` (any host: -1). */
static const struct mc_event *last_event(const struct minicluster *mc, int host, const char *kind)
{
	size_t n = mc->n_events < MC_EVENTS ? mc->n_events : MC_EVENTS;

	for (size_t k = 1; k <= n; k++) {
		const struct mc_event *e = &mc->events[(mc->n_events - k) % MC_EVENTS];

		if (e->event != NULL && strcmp(e->event, kind) == 0 &&
		    (host < 0 || e->host == (size_t)host))
			return e;
	}
	return NULL;
}

static void test_every_line_has_a_kind(void **state)
{
	struct minicluster *mc = cluster(81);
	size_t n = mc->n_events < MC_EVENTS ? mc->n_events : MC_EVENTS;

	(void)state;
	assert_true(n > 0);
	for (size_t k = 0; k < n; k++)
		assert_non_null(mc->events[k].event);
	mc_free(mc);
}

static void test_election_and_lease_fields(void **state)
{
	struct minicluster *mc = cluster(82);
	int m = mc_index(mc, "host-4");
	const struct mc_event *e = last_event(mc, m, "election-result");

	(void)state;
	assert_non_null(e);
	assert_string_equal(e->peer, "host-4");    /* the winner */
	assert_true(e->has_term);
	assert_int_equal(e->term, mc->hosts[m].core.term);
	e = last_event(mc, m, "role");
	assert_non_null(e);
	assert_true(e->has_term);
	e = last_event(mc, m, "lease-acquired");
	assert_non_null(e);
	assert_true(strcmp(e->datastore, "ds1") == 0 || strcmp(e->datastore, "ds2") == 0 ||
		    strcmp(e->datastore, "ds3") == 0);
	mc_free(mc);
}

static void test_dead_host_restart_fields(void **state)
{
	struct minicluster *mc = cluster(83);
	int m = mc_index(mc, "host-4");
	const struct mc_event *e;

	(void)state;
	mc_kill(mc, 1);
	mc_run(mc, 3 * mc->timing.host_dead_ms);
	e = last_event(mc, m, "verdict-dead");
	assert_non_null(e);
	assert_string_equal(e->peer, "host-2");
	assert_true(e->datastore[0] != '\0');
	e = last_event(mc, m, "vm-restart-host-failed");
	if (e == NULL)
		mc_dump(mc);
	assert_non_null(e);
	assert_string_equal(e->vm, "vm-a");
	assert_true(e->peer[0] != '\0' && strcmp(e->peer, "host-2") != 0);
	e = last_event(mc, m, "vm-restarted");
	assert_non_null(e);
	assert_string_equal(e->vm, "vm-a");
	assert_null(last_event(mc, m, "vm-restart-crashed"));
	mc_free(mc);
}

static void test_crashed_vm_restart_fields(void **state)
{
	struct minicluster *mc = cluster(84);
	int m = mc_index(mc, "host-4");
	const struct mc_event *e;

	(void)state;
	mc_vm_stop(mc, 1, "vm-a", FDM_STOP_CRASHED);
	mc_run(mc, 30000);
	e = last_event(mc, m, "vm-crashed");
	assert_non_null(e);
	assert_string_equal(e->vm, "vm-a");
	assert_string_equal(e->peer, "host-2");
	e = last_event(mc, m, "vm-restart-crashed");
	if (e == NULL)
		mc_dump(mc);
	assert_non_null(e);
	assert_string_equal(e->vm, "vm-a");
	assert_null(last_event(mc, m, "vm-restart-host-failed"));
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_line_has_a_kind),
		cmocka_unit_test(test_election_and_lease_fields),
		cmocka_unit_test(test_dead_host_restart_fields),
		cmocka_unit_test(test_crashed_vm_restart_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
