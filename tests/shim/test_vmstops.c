/* Unit tests of the agent's stop queue (fdm/vmstops.c): every stop of a VM is
 * reported once, whether its event or a listing shows it first, and a new
 * stop after a start is news again. A duplicate would make fdm restart a
 * crashed VM twice; a lost one would leave it down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/vmstops.h"

#define S(x) FDM__STOP_REASON__STOP_##x

static struct fdm_domain vm(const char *name, bool active, Fdm__StopReason why)
{
	struct fdm_domain v;

	memset(&v, 0, sizeof(v));
	snprintf(v.name, sizeof(v.name), "%s", name);
	snprintf(v.uuid, sizeof(v.uuid), "00000000-0000-0000-0000-0000000000%s", name + 3);
	v.active = active;
	v.state = active ? FDM__DOMAIN_STATE__DOMAIN_RUNNING : FDM__DOMAIN_STATE__DOMAIN_SHUTOFF;
	v.has_stop_reason = !active;
	v.stop_reason = why;
	return v;
}

static int count(struct fdm_vmstops *s, struct fdm_domain_stop *last)
{
	int n = 0;

	while (fdm_vmstops_next(s, last))
		n++;
	return n;
}

static void test_event_then_listing(void **state)
{
	struct fdm_vmstops s;
	struct fdm_domain on = vm("vm-01", true, S(UNKNOWN)), off = vm("vm-01", false, S(CRASHED));
	struct fdm_domain_stop st;

	(void)state;
	fdm_vmstops_init(&s);
	fdm_vmstops_event(&s, on.name, on.uuid, S(CRASHED), "failed", 100);
	fdm_vmstops_listing(&s, &on, 1, &off, 1, 110, 120);
	assert_int_equal(count(&s, &st), 1);
	assert_false(st.from_listing);
	assert_int_equal(st.reason, S(CRASHED));
	assert_string_equal(st.detail, "failed");
	assert_int_equal(st.at_ms, 100);
	/* Later listings of it off say nothing new. */
	fdm_vmstops_listing(&s, &off, 1, &off, 1, 200, 210);
	assert_int_equal(count(&s, &st), 0);
	fdm_vmstops_free(&s);
}

static void test_listing_then_event(void **state)
{
	struct fdm_vmstops s;
	struct fdm_domain on = vm("vm-02", true, S(UNKNOWN)), off = vm("vm-02", false, S(SHUTDOWN));
	struct fdm_domain_stop st;

	(void)state;
	fdm_vmstops_init(&s);
	fdm_vmstops_listing(&s, &on, 1, &off, 1, 90, 100);
	fdm_vmstops_event(&s, off.name, off.uuid, S(SHUTDOWN), "shutdown", 105);
	assert_int_equal(count(&s, &st), 1);
	assert_true(st.from_listing);
	assert_int_equal(st.reason, S(SHUTDOWN));
	fdm_vmstops_free(&s);
}

static void test_stop_start_stop(void **state)
{
	struct fdm_vmstops s;
	struct fdm_domain on = vm("vm-03", true, S(UNKNOWN));
	struct fdm_domain_stop st;

	(void)state;
	fdm_vmstops_init(&s);
	fdm_vmstops_event(&s, on.name, on.uuid, S(CRASHED), "crashed", 100);
	fdm_vmstops_started(&s, on.uuid);
	fdm_vmstops_event(&s, on.name, on.uuid, S(DESTROYED), "destroyed", 200);
	assert_int_equal(count(&s, &st), 2);
	assert_int_equal(st.reason, S(DESTROYED));
	fdm_vmstops_free(&s);
}

/* A listing asked for before the report cannot show the VM running again. */
static void test_stale_listing_keeps_report(void **state)
{
	struct fdm_vmstops s;
	struct fdm_domain on = vm("vm-04", true, S(UNKNOWN)), off = vm("vm-04", false, S(CRASHED));
	struct fdm_domain_stop st;

	(void)state;
	fdm_vmstops_init(&s);
	fdm_vmstops_event(&s, on.name, on.uuid, S(CRASHED), "failed", 100);
	fdm_vmstops_listing(&s, &on, 1, &on, 1, 90, 110);     /* asked for at 90: stale */
	fdm_vmstops_listing(&s, &on, 1, &off, 1, 120, 130);   /* off: the same stop */
	assert_int_equal(count(&s, &st), 1);
	fdm_vmstops_free(&s);
}

/* Its start event lost: a listing asked for after the report shows it
 * running, so its next stop is news. */
static void test_fresh_listing_forgets_report(void **state)
{
	struct fdm_vmstops s;
	struct fdm_domain on = vm("vm-05", true, S(UNKNOWN)), off = vm("vm-05", false, S(CRASHED));
	struct fdm_domain_stop st;

	(void)state;
	fdm_vmstops_init(&s);
	fdm_vmstops_event(&s, on.name, on.uuid, S(CRASHED), "failed", 100);
	fdm_vmstops_listing(&s, &off, 1, &on, 1, 150, 160);
	fdm_vmstops_listing(&s, &on, 1, &off, 1, 200, 210);
	assert_int_equal(count(&s, &st), 2);
	assert_true(st.from_listing);
	fdm_vmstops_free(&s);
}

static void test_gone_and_never_active(void **state)
{
	struct fdm_vmstops s;
	struct fdm_domain old[2] = { vm("vm-06", true, S(UNKNOWN)), vm("vm-07", false, S(SHUTDOWN)) };
	struct fdm_domain_stop st;

	(void)state;
	fdm_vmstops_init(&s);
	fdm_vmstops_listing(&s, old, 2, NULL, 0, 100, 110);
	assert_int_equal(count(&s, &st), 1);   /* vm-07 was off already */
	assert_string_equal(st.name, "vm-06");
	assert_int_equal(st.reason, S(UNKNOWN));
	assert_string_equal(st.detail, "gone");
	fdm_vmstops_free(&s);
}

static void test_queue_overflow(void **state)
{
	struct fdm_vmstops s;
	struct fdm_domain_stop st;
	char name[32], uuid[40];
	int i;

	(void)state;
	fdm_vmstops_init(&s);
	for (i = 0; i < FDM_VMHOST_STOPS_MAX + 5; i++) {
		snprintf(name, sizeof(name), "vm-%d", i);
		snprintf(uuid, sizeof(uuid), "00000000-0000-0000-0000-%012d", i);
		fdm_vmstops_event(&s, name, uuid, S(CRASHED), "", (uint64_t)i);
	}
	assert_int_equal(s.dropped, 5);
	assert_true(fdm_vmstops_next(&s, &st));
	assert_string_equal(st.name, "vm-5");   /* the 5 oldest went */
	assert_int_equal(count(&s, &st), FDM_VMHOST_STOPS_MAX - 1);
	fdm_vmstops_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_then_listing),
		cmocka_unit_test(test_listing_then_event),
		cmocka_unit_test(test_stop_start_stop),
		cmocka_unit_test(test_stale_listing_keeps_report),
		cmocka_unit_test(test_fresh_listing_forgets_report),
		cmocka_unit_test(test_gone_and_never_active),
		cmocka_unit_test(test_queue_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
