/* The agent's watchdog (fdm/watchdog.c): the timeout it sets for a deadline,
 * and that a missing device, none configured, or a device that is no watchdog
 * (/dev/null) never stops the agent. The core's side, when to pet, is in
 * test_deadline.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fdm/watchdog.h"

static void test_timeout_for_a_deadline(void **state)
{
	static const struct {
		uint64_t now, until;
		uint32_t margin_ms, max_s, want;
	} t[] = {
		{ 1000, UINT64_MAX, 2000, 60, 60 },   /* no deadline: the idle timeout */
		{ 1000, 11000, 2000, 60, 12 },        /* fires by until + margin */
		{ 1000, 11500, 2000, 60, 12 },        /* whole seconds, rounded down */
		{ 1000, 1000, 2000, 60, 2 },          /* at the deadline: the margin */
		{ 5000, 4000, 2000, 60, 1 },          /* just passed: at least 1 s */
		{ 5000, 1000, 2000, 60, 1 },          /* long passed */
		{ 0, 600000, 2000, 60, 60 },          /* far: the driver's maximum */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(fdm_watchdog_timeout_s(t[i].now, t[i].until, t[i].margin_ms,
							t[i].max_s), t[i].want);
}

static void test_no_device_no_stop(void **state)
{
	struct fdm_watchdog *w;

	(void)state;
	assert_null(fdm_watchdog_open("", 2000));
	assert_null(fdm_watchdog_open("/nonexistent/watchdog", 2000));
	fdm_watchdog_pet(NULL, 0, 1000);
	fdm_watchdog_close(NULL);
	/* Not a watchdog: ioctls fail, logged; nothing stops. */
	w = fdm_watchdog_open("/dev/null", 2000);
	assert_non_null(w);
	fdm_watchdog_pet(w, 0, 10000);
	fdm_watchdog_pet(w, 0, 0);
	fdm_watchdog_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeout_for_a_deadline),
		cmocka_unit_test(test_no_device_no_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
