/* Unit tests of how the shim reads libvirt (hostd-shim/translate.c): every
 * lifecycle event detail and every state reason, as tables. fdm restarts a VM
 * that stopped STOP_CRASHED and leaves SHUTDOWN and DESTROYED off, so a wrong
 * row here restarts a VM an operator stopped, or leaves a crashed one down.
 * Also the reconnect diff (domcache.c): a domain found crashed after libvirt
 * was away is reported crashed, with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <libvirt/libvirt.h>

#include "hostd-shim/domcache.h"
#include "hostd-shim/translate.h"

#define S(x) FDM__STOP_REASON__STOP_##x
#define E(x) FDM__EVENT_TYPE__EVENT_##x
#define D(x) FDM__DOMAIN_STATE__DOMAIN_##x

static void test_stopped_event_details(void **state)
{
	static const struct {
		int detail;
		Fdm__EventType type;
		Fdm__StopReason reason;
		const char *words;
	} rows[] = {
		{ VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, E(STOPPED), S(SHUTDOWN), "shutdown" },
		{ VIR_DOMAIN_EVENT_STOPPED_DESTROYED, E(STOPPED), S(DESTROYED), "destroyed" },
		{ VIR_DOMAIN_EVENT_STOPPED_CRASHED, E(CRASHED), S(CRASHED), "crashed" },
		{ VIR_DOMAIN_EVENT_STOPPED_MIGRATED, E(STOPPED), S(MIGRATED), "migrated" },
		{ VIR_DOMAIN_EVENT_STOPPED_SAVED, E(STOPPED), S(SAVED), "saved" },
		/* QEMU killed or dead: libvirt says FAILED; nobody asked, so a crash. */
		{ VIR_DOMAIN_EVENT_STOPPED_FAILED, E(CRASHED), S(CRASHED), "failed" },
		{ VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT, E(STOPPED), S(FROM_SNAPSHOT),
		  "from snapshot" },
		{ 99, E(STOPPED), S(UNKNOWN), "" },
		{ -1, E(STOPPED), S(UNKNOWN), "" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct shim_event_map m;

		assert_true(shim_map_event(VIR_DOMAIN_EVENT_STOPPED, rows[i].detail, &m));
		assert_int_equal(m.type, rows[i].type);
		assert_int_equal(m.state, D(SHUTOFF));
		assert_true(m.has_stop_reason);
		assert_int_equal(m.stop_reason, rows[i].reason);
		assert_string_equal(m.detail, rows[i].words);
	}
}

static void test_other_events(void **state)
{
	static const struct {
		int event, detail;
		Fdm__EventType type;
		Fdm__DomainState st;
		bool has_reason;
	} rows[] = {
		{ VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_ADDED, E(DEFINED), D(UNKNOWN), false },
		{ VIR_DOMAIN_EVENT_UNDEFINED, 0, E(UNDEFINED), D(UNKNOWN), false },
		{ VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED, E(STARTED), D(RUNNING), false },
		{ VIR_DOMAIN_EVENT_STARTED, 42, E(STARTED), D(RUNNING), false },
		{ VIR_DOMAIN_EVENT_SHUTDOWN, 0, E(SHUTDOWN), D(SHUTDOWN), false },
		/* A panic: the domain is crashed, off or (on_crash=preserve) held. */
		{ VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED, E(CRASHED), D(CRASHED), true },
		{ VIR_DOMAIN_EVENT_SUSPENDED, 0, E(PAUSED), D(PAUSED), false },
		{ VIR_DOMAIN_EVENT_RESUMED, 0, E(RESUMED), D(RUNNING), false },
	};
	struct shim_event_map m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_true(shim_map_event(rows[i].event, rows[i].detail, &m));
		assert_int_equal(m.type, rows[i].type);
		assert_int_equal(m.state, rows[i].st);
		assert_int_equal(m.has_stop_reason, rows[i].has_reason);
		if (rows[i].has_reason)
			assert_int_equal(m.stop_reason, S(CRASHED));
	}
	assert_false(shim_map_event(VIR_DOMAIN_EVENT_PMSUSPENDED, 0, &m));
	assert_false(shim_map_event(1000, 0, &m));
}

static void test_state_reasons(void **state)
{
	static const struct {
		int st, reason;
		bool off;
		Fdm__StopReason want;
	} rows[] = {
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_UNKNOWN, true, S(UNKNOWN) },
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SHUTDOWN, true, S(SHUTDOWN) },
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED, true, S(DESTROYED) },
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED, true, S(CRASHED) },
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_MIGRATED, true, S(MIGRATED) },
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SAVED, true, S(SAVED) },
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_FAILED, true, S(CRASHED) },
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT, true, S(FROM_SNAPSHOT) },
		{ VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DAEMON, true, S(UNKNOWN) },
		{ VIR_DOMAIN_SHUTOFF, 77, true, S(UNKNOWN) },
		{ VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED, true, S(CRASHED) },
		{ VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_UNKNOWN, true, S(CRASHED) },
		{ VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED, false, S(UNKNOWN) },
		{ VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER, false, S(UNKNOWN) },
		{ VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER, false, S(UNKNOWN) },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		Fdm__StopReason r = S(SAVED);   /* untouched when not off */

		assert_int_equal(shim_map_state_reason(rows[i].st, rows[i].reason, &r), rows[i].off);
		assert_int_equal(r, rows[i].off ? rows[i].want : S(SAVED));
	}
	assert_int_equal(shim_map_state(VIR_DOMAIN_SHUTOFF), D(SHUTOFF));
	assert_int_equal(shim_map_state(VIR_DOMAIN_CRASHED), D(CRASHED));
	assert_int_equal(shim_map_state(99), D(UNKNOWN));
	assert_string_equal(shim_stop_reason_name(S(CRASHED)), "crashed");
	assert_string_equal(shim_stop_reason_name((Fdm__StopReason)99), "unknown");
}

/* ------------------------------------------------- the reconnect diff */

struct seen {
	int n;
	Fdm__EventType type[8];
	struct shim_dom dom[8];
};

static void record(void *ctx, Fdm__EventType type, const struct shim_dom *dom,
		   const char *detail)
{
	struct seen *s = ctx;

	(void)detail;
	assert_true(s->n < 8);
	s->type[s->n] = type;
	s->dom[s->n++] = *dom;
}

static struct shim_dom *doms(int n, const Fdm__DomainState *st, const Fdm__StopReason *why)
{
	struct shim_dom *v = calloc((size_t)n + 1, sizeof(*v));
	int i;

	assert_non_null(v);
	for (i = 0; i < n; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "vm-%d", i);
		snprintf(v[i].uuid, sizeof(v[i].uuid), "00000000-0000-0000-0000-%012d", i);
		v[i].state = st[i];
		v[i].persistent = true;
		v[i].has_stop_reason = st[i] == D(SHUTOFF);
		v[i].stop_reason = why[i];
	}
	return v;
}

static void test_reconnect_diff(void **state)
{
	static const Fdm__DomainState before[] = { D(RUNNING), D(RUNNING), D(RUNNING) };
	static const Fdm__DomainState after[] = { D(SHUTOFF), D(SHUTOFF), D(RUNNING) };
	static const Fdm__StopReason none[] = { S(UNKNOWN), S(UNKNOWN), S(UNKNOWN) };
	static const Fdm__StopReason why[] = { S(CRASHED), S(DESTROYED), S(UNKNOWN) };
	struct shim_domcache c = { 0 };
	struct seen seen = { 0 };
	struct shim_dom full, ev;

	(void)state;
	shim_domcache_replace(&c, doms(3, before, none), 3, NULL, NULL);
	shim_domcache_replace(&c, doms(3, after, why), 3, record, &seen);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.type[0], E(CRASHED));
	assert_int_equal(seen.dom[0].stop_reason, S(CRASHED));
	assert_int_equal(seen.type[1], E(STOPPED));
	assert_int_equal(seen.dom[1].stop_reason, S(DESTROYED));

	/* A start clears the reason; a stop event sets it again. */
	memset(&ev, 0, sizeof(ev));
	strcpy(ev.uuid, c.v[0].uuid);
	ev.state = D(RUNNING);
	shim_domcache_apply(&c, E(STARTED), &ev, &full);
	assert_false(full.has_stop_reason);
	ev.state = D(SHUTOFF);
	ev.has_stop_reason = true;
	ev.stop_reason = S(SHUTDOWN);
	shim_domcache_apply(&c, E(STOPPED), &ev, &full);
	assert_true(full.has_stop_reason);
	assert_int_equal(full.stop_reason, S(SHUTDOWN));
	assert_string_equal(full.name, "vm-0");

	/* Every domain gone: the running one (vm-2) stopped, reason unknown;
	 * all three undefined. */
	seen.n = 0;
	shim_domcache_replace(&c, doms(0, NULL, NULL), 0, record, &seen);
	assert_int_equal(seen.n, 4);
	assert_int_equal(seen.type[2], E(STOPPED));
	assert_string_equal(seen.dom[2].name, "vm-2");
	assert_true(seen.dom[2].has_stop_reason);
	assert_int_equal(seen.dom[2].stop_reason, S(UNKNOWN));
	shim_domcache_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stopped_event_details),
		cmocka_unit_test(test_other_events),
		cmocka_unit_test(test_state_reasons),
		cmocka_unit_test(test_reconnect_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
