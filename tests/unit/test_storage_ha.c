/* The storage side of VM protection (fdm/core/storage_ha.c) on the
 * minicluster's simulated datastores: every host reads the VM list and writes
 * its poweron record every io on each datastore it reaches, and only there;
 * only the master reads the other hosts' records, and writes the VM list only
 * while its lease is acting; a late completion is a failure; the master knows
 * when it acquired each lease; a clean stop writes its poweron record once more.
 * vms.c (the decisions) is observed only through what reaches the records. */
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

static const struct fdm_ds_io *hio(const struct minicluster *mc, size_t h, int d,
				   enum fdm_storage_op op)
{
	return &mc->hosts[h].core.ds[d].ha_io[op - FDM_STORAGE_VMLIST_READ];
}

static uint64_t asked(const struct minicluster *mc, size_t h, int d, enum fdm_storage_op op)
{
	return mc->io_asked[h][d][op];
}

/* Run until host h acts on datastore d. */
static void until_acting(struct minicluster *mc, int h, int d, uint64_t timeout)
{
	uint64_t end = mc->now + timeout;

	while (mc_lease_actor(mc, d) != h) {
		if (mc->now > end) {
			mc_dump(mc);
			fail_msg("host %d does not act on ds%d", h, d + 1);
		}
		mc_run(mc, MC_STEP_MS);
	}
}

/* Every host, every io, on each datastore it reaches: a VM list read and a
 * poweron write; the master also reads the others' records, every half io.
 * Nothing on a datastore a host cannot reach, nor on an uninitialised one. */
static void test_every_io_where_reachable(void **state)
{
	static const unsigned ds[] = { 3, 3, 3, 2 };
	struct minicluster *mc = mc_new(ids4, ds, 4, 61);
	uint32_t io = mc->timing.io_timeout_ms;
	uint64_t before[4][3][FDM_STORAGE_OP_COUNT];
	int m;

	(void)state;
	mc->ds[1].uninit = true;
	m = mc_run_until_agreed(mc, 5000, NULL);
	assert_int_equal(m, mc_index(mc, "host-9"));
	mc_run(mc, 2 * io);
	memcpy(before, mc->io_asked, sizeof(before));
	mc_run(mc, 10 * io);
	for (size_t h = 0; h < 4; h++) {
		for (int d = 0; d < 3; d++) {
			bool used = d != 1 && d < (int)ds[h];
			uint64_t reads = asked(mc, h, d, FDM_STORAGE_VMLIST_READ) -
					 before[h][d][FDM_STORAGE_VMLIST_READ];
			uint64_t writes = asked(mc, h, d, FDM_STORAGE_POWERON_WRITE) -
					  before[h][d][FDM_STORAGE_POWERON_WRITE];
			uint64_t hosts = asked(mc, h, d, FDM_STORAGE_HOSTS_READ) -
					 before[h][d][FDM_STORAGE_HOSTS_READ];

			if (!used) {
				assert_int_equal(asked(mc, h, d, FDM_STORAGE_VMLIST_READ), 0);
				assert_int_equal(asked(mc, h, d, FDM_STORAGE_POWERON_WRITE), 0);
				assert_int_equal(asked(mc, h, d, FDM_STORAGE_HOSTS_READ), 0);
				assert_false(mc->ds[d].poweron[h].written);
				continue;
			}
			assert_true(reads >= 9 && reads <= 11);
			assert_true(writes >= 9 && writes <= 11);
			/* The master reads the others' records every half io. */
			if ((int)h == m)
				assert_true(hosts >= 2 * reads - 1 && hosts <= 2 * reads + 1);
			else
				assert_int_equal(hosts, 0);
			assert_true(mc->ds[d].poweron[h].writes >= 9);
			assert_true(hio(mc, h, d, FDM_STORAGE_VMLIST_READ)->ok >= 9);
			assert_int_equal(hio(mc, h, d, FDM_STORAGE_VMLIST_READ)->failed, 0);
		}
	}
	/* The master wrote each list at most once, to stamp its lease generation
	 * (vms.c): nothing else had changed. */
	for (int d = 0; d < 3; d++)
		assert_true(mc->ds[d].vmlist.writes <= 1);
	mc_free(mc);
}

/* The VM list is written by the master only, only when vms.c asks for it
 * (write_pending), and only while its lease there is acting; `writing` spans
 * the write, `write_pending` is cleared when it is submitted. */
static void test_vmlist_written_by_acting_master_only(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 62);
	int m = mc_index(mc, "host-9");
	struct fdm_core *mc_core;
	uint64_t written;

	(void)state;
	mc_protect(mc, 0, "db1", FDM__PRIORITY__PRIORITY_HIGH, 1 << 20);
	mc_protect(mc, 0, "web1", FDM__PRIORITY__PRIORITY_LOW, 1 << 19);
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), m);
	mc_core = &mc->hosts[m].core;
	for (size_t h = 0; h < 4; h++)
		mc->hosts[h].core.ha.ds[0].write_pending = true;
	/* The master has not acquired the lease yet: no write until it acts. */
	while (mc_lease_actor(mc, 0) != m) {
		assert_int_equal(asked(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE), 0);
		mc_run(mc, MC_STEP_MS);
	}
	/* The step it began acting: submitted, in flight. */
	assert_int_equal(asked(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE), 1);
	assert_true(mc_core->ha.ds[0].writing);
	assert_false(mc_core->ha.ds[0].write_pending);
	mc_run(mc, MC_STEP_MS);
	assert_false(mc_core->ha.ds[0].writing);
	assert_int_equal(hio(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE)->ok, 1);
	/* It landed: the two VMs, under the master's lease generation. */
	assert_int_equal(mc->ds[0].vmlist.writes, 1);
	assert_int_equal(mc->ds[0].vmlist.n, 2);
	/* Once more after its first read under the lease (vms.c stamps its
	 * generation), then no more without an edit. */
	mc_run(mc, 10000);
	assert_true(asked(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE) <= 2);
	{
		uint64_t n = asked(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE);

		mc_run(mc, 10000);
		assert_int_equal(asked(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE), n);
	}
	for (size_t h = 0; h < 4; h++) {
		if ((int)h == m)
			continue;
		assert_int_equal(asked(mc, h, 0, FDM_STORAGE_VMLIST_WRITE), 0);
		assert_true(mc->hosts[h].core.ha.ds[0].write_pending);
	}

	/* Its renewals now answer late: acting lapses while the datastore stays
	 * reachable (hb writes are fine). An edit then waits. */
	written = asked(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE);
	mc->hosts[m].op_ms[FDM_STORAGE_LEASE_READ] = mc->timing.io_timeout_ms + 10;
	while (fdm_lease_acting(&mc_core->ds[0].lease, mc->now))
		mc_run(mc, MC_STEP_MS);
	assert_true(mc_core->ds[0].reachable);
	mc_core->ha.ds[0].write_pending = true;
	mc_run(mc, 3000);
	assert_true(mc_core->ds[0].reachable);
	assert_false(fdm_lease_acting(&mc_core->ds[0].lease, mc->now));
	assert_int_equal(asked(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE), written);
	assert_true(mc_core->ha.ds[0].write_pending);
	/* Renewals in time again: it acts, and the edit goes out. */
	mc->hosts[m].op_ms[FDM_STORAGE_LEASE_READ] = 0;
	until_acting(mc, m, 0, 30000);
	mc_run(mc, 2 * MC_STEP_MS);
	assert_int_equal(asked(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE), written + 1);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* Only the master reads the others' records; a new master starts when it is
 * one. The `issued` it is given is the read's decision time (the one the
 * minicluster saw the action at), kept while it is in flight. */
static void test_hosts_read_by_master_only(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 63);
	int m = mc_index(mc, "host-9"), next = mc_index(mc, "host-2");
	uint64_t n_next;

	(void)state;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), m);
	mc->hosts[m].op_ms[FDM_STORAGE_HOSTS_READ] = 500;
	mc_run(mc, 10000);
	for (size_t h = 0; h < 4; h++)
		for (int d = 0; d < 3; d++)
			assert_true((asked(mc, h, d, FDM_STORAGE_HOSTS_READ) > 0) == ((int)h == m));
	for (int k = 0; k < 200; k++) {
		const struct fdm_ds_io *r = hio(mc, (size_t)m, 1, FDM_STORAGE_HOSTS_READ);

		if (r->busy) {
			assert_int_equal(r->issued_ms, mc->io_last_issue[m][1][FDM_STORAGE_HOSTS_READ]);
			assert_int_equal(r->deadline_ms, r->issued_ms + mc->timing.io_timeout_ms);
			assert_true(mc->now >= r->issued_ms);
		}
		mc_run(mc, MC_STEP_MS);
	}
	assert_true(hio(mc, (size_t)m, 1, FDM_STORAGE_HOSTS_READ)->ok >= 3);
	mc_kill(mc, (size_t)m);
	assert_int_equal(mc_run_until_agreed(mc, 10000, NULL), next);
	n_next = asked(mc, (size_t)next, 0, FDM_STORAGE_HOSTS_READ);
	mc_run(mc, 10000);
	assert_true(asked(mc, (size_t)next, 0, FDM_STORAGE_HOSTS_READ) >= n_next + 4);
	mc_free(mc);
}

/* DESIGN.md point 1: a completion after its deadline is a failure, whatever
 * it says; at the deadline it is in time. One of each in flight at most. */
static void test_late_completion_is_a_failure(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 64);
	int m = mc_index(mc, "host-9"), h = mc_index(mc, "host-1");
	uint32_t io = mc->timing.io_timeout_ms;
	const struct fdm_ds_io *r = hio(mc, (size_t)h, 0, FDM_STORAGE_VMLIST_READ);
	const struct fdm_ds_io *w = hio(mc, (size_t)m, 0, FDM_STORAGE_VMLIST_WRITE);
	struct fdm_core *master;
	uint64_t ok, failed, n;

	(void)state;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), m);
	master = &mc->hosts[m].core;
	mc_run(mc, 2 * io);
	mc->hosts[h].op_ms[FDM_STORAGE_VMLIST_READ] = io + 10;
	mc_run(mc, 2 * io);                     /* what was in flight ends */
	ok = r->ok;
	failed = r->failed;
	n = asked(mc, (size_t)h, 0, FDM_STORAGE_VMLIST_READ);
	mc_run(mc, 10 * io);
	assert_int_equal(r->ok, ok);
	assert_true(r->failed >= failed + 9);
	assert_true(mc->hosts[h].core.ds[0].reachable);
	/* Each takes 3 io: never two in flight, so one per 3 io. */
	mc->hosts[h].op_ms[FDM_STORAGE_VMLIST_READ] = 3 * io;
	mc_run(mc, 3 * io);
	n = asked(mc, (size_t)h, 0, FDM_STORAGE_VMLIST_READ);
	mc_run(mc, 12 * io);
	assert_int_equal(asked(mc, (size_t)h, 0, FDM_STORAGE_VMLIST_READ) - n, 4);
	mc->hosts[h].op_ms[FDM_STORAGE_VMLIST_READ] = io;   /* exactly at the deadline */
	mc_run(mc, 2 * io);
	ok = r->ok;
	mc_run(mc, 4 * io);
	assert_true(r->ok >= ok + 3);

	/* A late VM list write: failed, logged, and written again (vms.c wants
	 * it until it lands). */
	until_acting(mc, m, 0, 10000);
	mc_run(mc, 4 * io);   /* the first writes under the lease are done */
	mc->hosts[m].op_ms[FDM_STORAGE_VMLIST_WRITE] = io + 10;
	mc->watch = "host-9: VM list on ds1 not written: it answered after io_timeout";
	{
		uint64_t failed = w->failed, okd = w->ok;

		master->ha.ds[0].write_pending = true;
		mc_run(mc, io + 30);
		assert_int_equal(w->failed, failed + 1);
		assert_int_equal(w->ok, okd);
		assert_int_equal(mc->watch_hits, 1);
		assert_true(master->ha.ds[0].write_pending || master->ha.ds[0].writing);
	}
	mc_free(mc);
}

/* The master's lease_acquired_ms: the completion of the confirming re-read,
 * kept through renewals, 0 on every other host and once the lease is lost;
 * a successor has its own, later one. */
static void test_lease_acquired_ms(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 65);
	int m = mc_index(mc, "host-9"), next = mc_index(mc, "host-2");
	const struct fdm_core *c;
	uint64_t acquired, killed;

	(void)state;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), m);
	c = &mc->hosts[m].core;
	while (!fdm_lease_held(&c->ds[1].lease)) {
		assert_int_equal(c->ha.ds[1].lease_acquired_ms, 0);
		mc_run(mc, MC_STEP_MS);
	}
	acquired = mc->now;                       /* the step of the confirming read */
	assert_int_equal(c->ha.ds[1].lease_acquired_ms, acquired);
	mc_run(mc, 30000);
	assert_int_equal(c->ha.ds[1].lease_acquired_ms, acquired);
	for (size_t h = 0; h < 4; h++)
		for (int d = 0; d < 3; d++)
			assert_true((mc->hosts[h].core.ha.ds[d].lease_acquired_ms != 0) == ((int)h == m));

	/* It loses ds2: not held any more, 0. */
	mc->hosts[m].ds_mask = 5;
	while (fdm_lease_held(&c->ds[1].lease))
		mc_run(mc, MC_STEP_MS);
	assert_int_equal(c->ha.ds[1].lease_acquired_ms, 0);
	assert_int_equal(c->ha.ds[0].lease_acquired_ms != 0, 1);

	mc_kill(mc, (size_t)m);
	killed = mc->now;
	assert_int_equal(mc_run_until_agreed(mc, 10000, NULL), next);
	until_acting(mc, next, 0, 30000);
	assert_true(mc->hosts[next].core.ha.ds[0].lease_acquired_ms > killed);
	assert_int_equal(mc->lease_violations, 0);
	mc_free(mc);
}

/* A clean stop writes the poweron record once more, after the stop began (its
 * content says `stopped`), on every datastore, before the agent exits. */
static void test_clean_stop_writes_poweron(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 66);
	int m = mc_index(mc, "host-9"), h = mc_index(mc, "host-1");
	uint64_t t0;

	(void)state;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), m);
	until_acting(mc, m, 0, 10000);
	mc_run(mc, 3 * MC_STEP_MS);
	for (int k = 0; k < 2; k++) {
		size_t who = (size_t)(k == 0 ? h : m);

		t0 = mc->now;
		mc_leave(mc, who);
		assert_false(mc->hosts[who].up);
		for (int d = 0; d < 3; d++)
			assert_true(mc->ds[d].poweron[who].last_write_issued >= t0);
	}
	mc_free(mc);
}

/* A reload keeps what storage_ha.c and vms.c know of each datastore that
 * stays, by name, and forgets a datastore whose URL changed: a write in flight
 * on its old handle never reports back, so it is not `writing` any more. */
static void test_reload_keeps_kept_datastores(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 67);
	int m = mc_index(mc, "host-9");
	struct fdm_core *c = &mc->hosts[m].core;
	uint64_t acquired;

	(void)state;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), m);
	until_acting(mc, m, 0, 10000);
	until_acting(mc, m, 2, 10000);
	acquired = c->ha.ds[0].lease_acquired_ms;
	c->ha.ds[2].writing = true;
	c->ha.ds[2].lease_acquired_ms = 1;
	snprintf(mc->hosts[m].cfg.datastores[2].url, FDM_URL_MAX, "file:///ds3-moved");
	mc_reload(mc, (size_t)m);
	assert_int_equal(c->ha.ds[0].lease_acquired_ms, acquired);
	assert_false(c->ha.ds[2].writing);
	assert_int_equal(c->ha.ds[2].lease_acquired_ms, 0);
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_io_where_reachable),
		cmocka_unit_test(test_vmlist_written_by_acting_master_only),
		cmocka_unit_test(test_hosts_read_by_master_only),
		cmocka_unit_test(test_late_completion_is_a_failure),
		cmocka_unit_test(test_lease_acquired_ms),
		cmocka_unit_test(test_clean_stop_writes_poweron),
		cmocka_unit_test(test_reload_keeps_kept_datastores),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
