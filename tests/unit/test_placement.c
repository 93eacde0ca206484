/* Placement, admission control and the retry schedule of the master (DESIGN.md
 * "Restart"): tables of hosts and VMs, the choice each one must lead to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/core/placement.h"
#include "fdm/core/restart.h"

#define GIB (1024ull * 1024ull)
#define HI FDM__PRIORITY__PRIORITY_HIGHEST
#define HIGH FDM__PRIORITY__PRIORITY_HIGH
#define MED FDM__PRIORITY__PRIORITY_MEDIUM
#define LOW FDM__PRIORITY__PRIORITY_LOWEST
#define OFF FDM__PRIORITY__PRIORITY_DISABLED

static void test_most_free_memory_first(void **state)
{
	struct fdm_place_host h[] = {
		{ "host-1", 1, 4 * GIB, 0 }, { "host-2", 1, 16 * GIB, 0 }, { "host-3", 1, 8 * GIB, 0 },
	};
	struct fdm_place_vm v[] = { { "db1", MED, 2 * GIB, 0, -1, -1 } };
	struct fdm_place_result r[1];

	(void)state;
	fdm_place(h, 3, v, 1, FDM_PLACE_DEFAULT_INFLIGHT, r);
	assert_int_equal(r[0].host, 1);
	assert_int_equal(h[1].free_kib, 14 * GIB);
	assert_non_null(strstr(r[0].why, "host-2"));
}

static void test_priority_order_when_short(void **state)
{
	/* Room for two 4 GiB VMs: the highest priorities get it, whatever the order
	 * they are listed in; the low one waits, with the reason. */
	struct fdm_place_host h[] = { { "host-1", 1, 8 * GIB, 0 } };
	struct fdm_place_vm v[] = {
		{ "low", LOW, 4 * GIB, 0, -1, -1 }, { "high", HIGH, 4 * GIB, 0, -1, -1 },
		{ "top", HI, 4 * GIB, 0, -1, -1 },
	};
	struct fdm_place_result r[3];

	(void)state;
	fdm_place(h, 1, v, 3, FDM_PLACE_DEFAULT_INFLIGHT, r);
	assert_int_equal(r[2].host, 0);
	assert_int_equal(r[1].host, 0);
	assert_int_equal(r[0].host, -1);
	assert_string_equal(r[0].why, "no host with 4.0 GiB free");
}

static void test_disabled_never(void **state)
{
	struct fdm_place_host h[] = { { "host-1", 1, 64 * GIB, 0 } };
	struct fdm_place_vm v[] = { { "scratch", OFF, 1 * GIB, 0, -1, -1 } };
	struct fdm_place_result r[1];

	(void)state;
	fdm_place(h, 1, v, 1, FDM_PLACE_DEFAULT_INFLIGHT, r);
	assert_int_equal(r[0].host, -1);
	assert_string_equal(r[0].why, "restart priority disabled");
	assert_int_equal(h[0].free_kib, 64 * GIB);
}

static void test_only_hosts_alive_on_home_datastore(void **state)
{
	/* host-2 has the most memory, but its hb on ds1 (bit 1) was not just seen. */
	struct fdm_place_host h[] = { { "host-1", 3, 4 * GIB, 0 }, { "host-2", 1, 32 * GIB, 0 } };
	struct fdm_place_vm v[] = { { "web", MED, 1 * GIB, 1, -1, -1 }, { "db", MED, 64 * GIB, 1, -1, -1 } };
	struct fdm_place_result r[2];

	(void)state;
	fdm_place(h, 2, v, 2, FDM_PLACE_DEFAULT_INFLIGHT, r);
	assert_int_equal(r[0].host, 0);
	assert_int_equal(r[1].host, -1);
	assert_string_equal(r[1].why, "no host with 64.0 GiB free");
}

static void test_no_candidate_says_so(void **state)
{
	struct fdm_place_host h[] = { { "host-1", 0, 64 * GIB, 0 } };
	struct fdm_place_vm v[] = { { "web", MED, 1 * GIB, 0, -1, -1 } };
	struct fdm_place_result r[1];

	(void)state;
	fdm_place(h, 1, v, 1, FDM_PLACE_DEFAULT_INFLIGHT, r);
	assert_int_equal(r[0].host, -1);
	assert_non_null(strstr(r[0].why, "no connected host"));
}

static void test_inflight_bound(void **state)
{
	struct fdm_place_host h[] = { { "host-1", 1, 64 * GIB, 0 }, { "host-2", 1, 1 * GIB, 0 } };
	struct fdm_place_vm v[4];
	struct fdm_place_result r[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		v[i] = (struct fdm_place_vm){ "vm", MED, 2 * GIB, 0, -1, -1 };
	fdm_place(h, 2, v, 4, 2, r);
	assert_int_equal(r[0].host, 0);
	assert_int_equal(r[1].host, 0);
	assert_int_equal(r[2].host, -1);   /* host-2 is too small, host-1 is busy */
	assert_non_null(strstr(r[2].why, "power-ons in progress"));
	assert_int_equal(h[0].inflight, 2);
}

static void test_crashed_vm_back_on_its_host_first(void **state)
{
	struct fdm_place_host h[] = { { "host-1", 1, 64 * GIB, 0 }, { "host-2", 1, 8 * GIB, 0 } };
	struct fdm_place_vm v[] = { { "db", MED, 4 * GIB, 0, -1, 1 }, { "big", MED, 16 * GIB, 0, -1, 1 } };
	struct fdm_place_result r[2];

	(void)state;
	fdm_place(h, 2, v, 2, FDM_PLACE_DEFAULT_INFLIGHT, r);
	assert_int_equal(r[1].host, 0);    /* does not fit its own host: elsewhere */
	assert_int_equal(r[0].host, 1);    /* fits its own host: there */
}

static void test_failed_host_avoided_when_possible(void **state)
{
	struct fdm_place_host h[] = { { "host-1", 1, 64 * GIB, 0 }, { "host-2", 1, 8 * GIB, 0 } };
	struct fdm_place_vm v[] = { { "db", MED, 4 * GIB, 0, 0, -1 }, { "big", MED, 32 * GIB, 0, 0, -1 } };
	struct fdm_place_result r[2];

	(void)state;
	fdm_place(h, 2, v, 2, FDM_PLACE_DEFAULT_INFLIGHT, r);
	assert_int_equal(r[0].host, 1);    /* elsewhere first */
	assert_int_equal(r[1].host, 0);    /* nowhere else fits: the same host again */
}

struct admission_case {
	uint64_t hosts[4];
	size_t n;
	uint32_t tolerated;
	uint64_t need;
	bool ok;
};

static void test_admission_table(void **state)
{
	static const struct admission_case cases[] = {
		{ { 16, 16, 16 }, 3, 1, 32, true },     /* two of 16 remain: 32 fits exactly */
		{ { 16, 16, 16 }, 3, 1, 33, false },
		{ { 64, 16, 16 }, 3, 1, 32, true },     /* the 64 GiB host is the one that fails */
		{ { 64, 16, 16 }, 3, 1, 40, false },
		{ { 16, 16, 16 }, 3, 0, 48, true },
		{ { 16, 16, 16 }, 3, 2, 17, false },
		{ { 16, 16 }, 2, 2, 0, true },
		{ { 16, 16 }, 2, 3, 1, false },         /* more failures than hosts */
	};
	char why[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t kib[4];
		int64_t spare;
		bool ok;

		for (size_t h = 0; h < cases[i].n; h++)
			kib[h] = cases[i].hosts[h] * GIB;
		ok = fdm_admission_ok(kib, cases[i].n, cases[i].tolerated, cases[i].need * GIB,
				      &spare, why, sizeof(why));
		if (ok != cases[i].ok)
			fail_msg("case %zu: %s, want %s (%s)", i, ok ? "ok" : "refused",
				 cases[i].ok ? "ok" : "refused", why);
	}
	{
		uint64_t kib[] = { 16 * GIB, 16 * GIB, 16 * GIB };
		int64_t spare;

		fdm_admission_ok(kib, 3, 1, 40 * GIB, &spare, why, sizeof(why));
		assert_string_equal(why, "protected VMs need 40.0 GiB; after the 1 largest of 3 "
				    "hosts fail, 32.0 GiB remain (spare -8.0 GiB)");
	}
}

static void test_retry_schedule(void **state)
{
	/* vSphere's: attempts at T0, +2, +6, +14, +30 min, then failed. */
	static const uint64_t want_min[] = { 0, 2, 6, 14, 30 };
	uint64_t t;

	(void)state;
	for (uint32_t failed = 0; failed < 5; failed++) {
		assert_true(fdm_retry_next(1000, failed, 5, FDM_RETRY_DEFAULT_FIRST_GAP_MS, &t));
		assert_int_equal(t, 1000 + want_min[failed] * 60 * 1000);
	}
	assert_false(fdm_retry_next(1000, 5, 5, FDM_RETRY_DEFAULT_FIRST_GAP_MS, &t));
	assert_false(fdm_retry_next(1000, 1, 1, FDM_RETRY_DEFAULT_FIRST_GAP_MS, &t));
	assert_int_equal(fdm_retry_gap_ms(0, 1000), 0);
	assert_int_equal(fdm_retry_gap_ms(3, 1000), 4000);
	assert_true(fdm_retry_gap_ms(4000000000u, 1000) > 0);   /* no overflow to 0 */
}

/* Safety point 2: each clause has a case where it alone prevents a double start
 * (the VM in fact runs on host-2, which is alive). */
struct runs_case {
	const char *what;
	struct fdm_runs_report r;
	enum fdm_runs want;
};

static void test_runs_table(void **state)
{
	/* Lease generation 7 taken at t=1000; v restarted by us at t=5000, count 3. */
	static const struct fdm_runs_vm v = { "db1", 7, 3, 1000, 5000 };
	static const struct runs_case cases[] = {
		{ "current heartbeat says it runs",
		  { "host-2", false, "", true, 6000, true, false, 0, 0, false, false, false, false }, FDM_RUNS_THERE },
		{ "current poweron record says it runs",
		  { "host-2", false, "", false, 0, false, true, 7, 3, true, false, false, false }, FDM_RUNS_THERE },
		{ "heartbeat echoes a master heartbeat sent before the acquisition",
		  { "host-2", false, "", true, 900, false, false, 0, 0, false, false, false, false }, FDM_RUNS_UNKNOWN },
		{ "heartbeat echoes one sent before our last restart of v",
		  { "host-2", false, "", true, 4000, false, false, 0, 0, false, false, false, false }, FDM_RUNS_UNKNOWN },
		{ "poweron record of an older lease generation (a late write)",
		  { "host-2", false, "", false, 0, false, true, 6, 3, false, false, false, false }, FDM_RUNS_UNKNOWN },
		{ "poweron record from before v's last restart",
		  { "host-2", false, "", false, 0, false, true, 7, 2, false, false, false, false }, FDM_RUNS_UNKNOWN },
		{ "no report, not dead",
		  { "host-2", false, "host-2 not dead for ds1 yet: hb changed 1.0 s ago", false, 0, false,
		    false, 0, 0, false, false, false, false }, FDM_RUNS_UNKNOWN },
		{ "current reports disagree: the one that says it runs wins",
		  { "host-2", false, "", true, 6000, false, true, 7, 3, true, false, false, false }, FDM_RUNS_THERE },
		{ "dead, with an old report that it runs",
		  { "host-2", true, "", true, 900, true, true, 6, 2, true, false, false, false }, FDM_RUNS_NOWHERE },
		{ "dead, its last (current) report said it runs",
		  { "host-2", true, "", true, 6000, true, true, 7, 3, true, false, false, false }, FDM_RUNS_NOWHERE },
		{ "heartbeat echoes one sent in the millisecond of our restart order",
		  { "host-2", false, "", true, 5000, false, false, 0, 0, false, false, false, false }, FDM_RUNS_UNKNOWN },
		{ "current heartbeat: not running",
		  { "host-2", false, "", true, 5001, false, false, 0, 0, false, false, false, false }, FDM_RUNS_NOWHERE },
		{ "current poweron record: not running",
		  { "host-2", false, "", false, 0, false, true, 7, 3, false, false, false, false }, FDM_RUNS_NOWHERE },
		{ "stopped cleanly, so dead by now; its last word: it runs",
		  { "host-2", true, "", true, 900, true, true, 6, 2, true, true, true, false }, FDM_RUNS_THERE },
		{ "stopped cleanly; its last word: not running",
		  { "host-2", true, "", true, 900, false, true, 6, 2, false, true, false, false }, FDM_RUNS_NOWHERE },
		{ "stopped cleanly, silent since the acquisition, not dead yet: not running",
		  { "host-2", false, "", false, 0, false, false, 0, 0, false, true, false, false }, FDM_RUNS_NOWHERE },
		/* DESIGN.md point 4: powered off by its isolation response, said by a
		 * current record, beats its older heartbeat that said it runs. */
		{ "current record: isolated-off, heartbeat from before the cut: runs",
		  { "host-2", false, "", true, 6000, true, true, 7, 3, false, false, false, true }, FDM_RUNS_NOWHERE },
		{ "record from before v's last restart: isolated-off does not count",
		  { "host-2", false, "", true, 6000, true, true, 7, 2, false, false, false, true }, FDM_RUNS_THERE },
		{ "current record lists it both running and isolated-off: runs",
		  { "host-2", false, "", false, 0, false, true, 7, 3, true, false, false, true }, FDM_RUNS_THERE },
		/* Its deadline stopped v only if it knew v was protected. */
		{ "dead, ran v, its poweron record never listed v (it could not read the list)",
		  { "host-2", true, "", true, 6000, true, false, 0, 0, false, false, false, false }, FDM_RUNS_UNKNOWN },
		{ "dead, no heartbeat since v was protected, no poweron record listing v",
		  { "host-2", true, "", false, 0, false, false, 0, 0, false, false, false, false }, FDM_RUNS_UNKNOWN },
		{ "dead, its last heartbeat said it does not run v, no poweron record",
		  { "host-2", true, "", true, 6000, false, false, 0, 0, false, false, false, false }, FDM_RUNS_NOWHERE },
		{ "dead, its poweron record listed v, its last heartbeat said it runs v",
		  { "host-2", true, "", true, 6000, true, true, 6, 2, false, false, false, false }, FDM_RUNS_NOWHERE },
	};
	char why[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fdm_runs_report r[2] = {
			/* host-1, the master itself, listed its shim after both times */
			{ "host-1", false, "", true, 5500, false, false, 0, 0, false, false, false, false },
			cases[i].r,
		};
		int where;
		enum fdm_runs got = fdm_runs_check(&v, r, 2, &where, why, sizeof(why));

		if (got != cases[i].want)
			fail_msg("%s: got %d (%s), want %d", cases[i].what, got, why, cases[i].want);
		if (got == FDM_RUNS_THERE)
			assert_int_equal(where, 1);
	}
	{
		struct fdm_runs_report r[1] = { { "host-3", false, NULL, false, 0, false, false, 0, 0, false, false, false, false } };
		int where;

		assert_int_equal(fdm_runs_check(&v, r, 1, &where, why, sizeof(why)), FDM_RUNS_UNKNOWN);
		assert_string_equal(why, "host-3 has not reported on db1 since the lease was taken");
	}
	{
		struct fdm_runs_report r[1] = { { "host-3", true, "", true, 6000, true, false, 0, 0, false, false, false, false } };
		int where;

		assert_int_equal(fdm_runs_check(&v, r, 1, &where, why, sizeof(why)), FDM_RUNS_UNKNOWN);
		assert_string_equal(why, "host-3 is dead but may run db1 with no deadline: its "
				    "poweron record never listed db1 as protected");
	}
}

static void test_priority_names(void **state)
{
	(void)state;
	for (int p = 0; p <= FDM__PRIORITY__PRIORITY_HIGHEST; p++)
		assert_int_equal(fdm_priority_parse(fdm_priority_name((Fdm__Priority)p)), p);
	assert_int_equal(fdm_priority_parse("urgent"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_most_free_memory_first),
		cmocka_unit_test(test_priority_order_when_short),
		cmocka_unit_test(test_disabled_never),
		cmocka_unit_test(test_only_hosts_alive_on_home_datastore),
		cmocka_unit_test(test_no_candidate_says_so),
		cmocka_unit_test(test_inflight_bound),
		cmocka_unit_test(test_failed_host_avoided_when_possible),
		cmocka_unit_test(test_crashed_vm_back_on_its_host_first),
		cmocka_unit_test(test_admission_table),
		cmocka_unit_test(test_retry_schedule),
		cmocka_unit_test(test_runs_table),
		cmocka_unit_test(test_priority_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
