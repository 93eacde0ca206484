/* `fdmctl vms` on a slave shows the master's table (fdm/core/vmview.c,
 * fdm/status_vms.c): what the master decided (restarting, restart-pending and
 * why it waits) reaches every slave's JSON with the next master heartbeat; a
 * table too large for one datagram goes out whole-VM-wise and is marked partial;
 * hostile rows are left out and counted; capacity is admission control's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/status_vms.h"
#include "lib/util.h"
#include "tests/unit/minicluster.h"

#define GIB (1024ull * 1024ull)

static const char *const ids4[] = { "host-1", "host-2", "host-3", "host-4" };
static const unsigned all3[] = { 3, 3, 3, 3 };

/* Four hosts with shims, vm-a protected on ds1 and running on host-2; the
 * master is host-4 (index 3), host-1 (index 0) a slave. */
static struct minicluster *cluster(uint32_t seed)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, seed);

	for (size_t h = 0; h < 4; h++)
		mc_shim_on(mc, h, 8 * GIB, 16 * GIB);
	mc_protect(mc, 0, "vm-a", FDM__PRIORITY__PRIORITY_HIGH, 1 * GIB);
	mc_vm_start(mc, 1, "vm-a");
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), 3);
	mc_run(mc, 30000);
	return mc;
}

/* Host h's status JSON, VM part. Caller puts it. */
static json_object *status_of(struct minicluster *mc, size_t h)
{
	json_object *o = json_object_new_object();

	fdm_status_vms(&mc->hosts[h].core, mc->now, o);
	return o;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v != NULL ? json_object_get_string(v) : "";
}

static json_object *vm_in(json_object *st, const char *name)
{
	json_object *vms = get(st, "vms");

	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		json_object *v = json_object_array_get_idx(vms, i);
		if (strcmp(str(v, "name"), name) == 0)
			return v;
	}
	return NULL;
}

/* Step until the master's vm-a is in state s; then, one heartbeat later, the
 * slave's JSON says the same. */
static void wait_master_state(struct minicluster *mc, enum fdm_vm_state s, uint64_t max_ms)
{
	uint64_t end = mc->now + max_ms;
	const struct fdm_vm *v = fdm_ha_find(&mc->hosts[3].core, "vm-a");

	assert_non_null(v);
	while (mc->now < end && v->state != s)
		mc_run(mc, MC_STEP_MS);
	assert_int_equal(v->state, s);
}

static void test_slave_shows_restarting(void **state)
{
	struct minicluster *mc = cluster(81);
	json_object *st, *v;

	(void)state;
	mc->power_on_ms = 5000;
	st = status_of(mc, 0);
	assert_string_equal(str(get(st, "vms_view"), "view"), "master");
	assert_string_equal(str(vm_in(st, "vm-a"), "state"), "protected");
	assert_string_equal(str(vm_in(st, "vm-a"), "host"), "host-2");
	json_object_put(st);

	mc_vm_stop(mc, 1, "vm-a", FDM_STOP_CRASHED);
	wait_master_state(mc, FDM_VM_RESTARTING, 30000);
	mc_run(mc, 1500);   /* the next heartbeat to host-1 */
	assert_int_equal(fdm_ha_find(&mc->hosts[3].core, "vm-a")->state, FDM_VM_RESTARTING);
	st = status_of(mc, 0);
	v = vm_in(st, "vm-a");
	assert_non_null(v);
	assert_string_equal(str(v, "state"), "restarting");
	assert_string_equal(str(v, "datastore"), "ds1");
	assert_string_equal(str(v, "priority"), "high");
	assert_false(json_object_get_boolean(get(get(st, "vms_view"), "partial")));
	assert_true(json_object_get_int64(get(get(st, "vms_view"), "age_ms")) < 1500);
	json_object_put(st);
	mc_free(mc);
}

static void test_slave_shows_restart_pending_and_why(void **state)
{
	struct minicluster *mc = cluster(82);
	const struct fdm_vm *mv;
	json_object *st, *v;

	(void)state;
	for (size_t h = 0; h < 4; h++) {
		mc->hosts[h].power_on_fails = true;
		mc->hosts[h].core.ha.retry_first_gap_ms = 20000;
		mc->hosts[h].core.ha.max_attempts = 3;
	}
	mc_vm_stop(mc, 1, "vm-a", FDM_STOP_CRASHED);
	wait_master_state(mc, FDM_VM_RESTARTING, 30000);
	wait_master_state(mc, FDM_VM_RESTART_PENDING, 30000);
	mc_run(mc, 1500);
	mv = fdm_ha_find(&mc->hosts[3].core, "vm-a");
	assert_int_equal(mv->state, FDM_VM_RESTART_PENDING);
	assert_true(mv->waiting[0] != '\0');
	st = status_of(mc, 0);
	v = vm_in(st, "vm-a");
	assert_non_null(v);
	assert_string_equal(str(v, "state"), "restart-pending");
	/* Its countdown moves on between heartbeats: the reason is the master's. */
	assert_true(strncmp(mv->waiting, "retry 2 of 3 in", 15) == 0);
	assert_true(strncmp(str(v, "waiting"), "retry 2 of 3 in", 15) == 0);
	assert_string_equal(str(v, "last_failure"), mv->last_failure);
	assert_int_equal(json_object_get_int64(get(v, "attempts")), mv->attempts);
	json_object_put(st);
	mc_free(mc);
}

/* Capacity: 4 hosts of 16 GiB, one tolerated failure: 48 GiB left, vm-a needs 1. */
static void test_capacity_on_master_and_slave(void **state)
{
	struct minicluster *mc = cluster(83);
	json_object *st;

	(void)state;
	for (size_t h = 0; h < 4; h++)
		mc->hosts[h].core.ha.host_failures_tolerated = 1;
	mc_run(mc, 1500);
	for (size_t h = 0; h < 4; h += 3) {
		json_object *cap;

		st = status_of(mc, h);
		cap = get(st, "capacity");
		assert_non_null(cap);
		assert_int_equal(json_object_get_int64(get(cap, "host_failures_tolerated")), 1);
		assert_int_equal(json_object_get_int64(get(cap, "needed_kib")), 1 * GIB);
		assert_int_equal(json_object_get_int64(get(cap, "spare_kib")), 47 * GIB);
		json_object_put(st);
	}
	mc_free(mc);
}

/* 512 VMs with long texts do not fit one datagram: whole VMs go out while there
 * is room, the rest is left out, and the slave says partial. */
static void test_large_table_partial(void **state)
{
	struct minicluster *mc = cluster(84);
	struct fdm_core *m = &mc->hosts[3].core;
	struct fdm_action a = { .kind = FDM_ACT_SEND, .msg = FDM_MSG_MASTER_HB, .to = 0 };
	Fdm__Packet *p;
	uint8_t *buf;
	size_t len, dropped;
	json_object *st;

	(void)state;
	for (size_t i = 0; i < FDM_MAX_VMS; i++) {
		struct fdm_vm *v = &m->ha.vms[i];

		memset(v, 0, sizeof(*v));
		v->used = true;
		snprintf(v->name, sizeof(v->name), "vm-%03zu-%050d", i, 0);
		v->state = FDM_VM_RESTART_PENDING;
		v->host = -1;
		memset(v->waiting, 'w', FDM_HA_WHY_MAX - 1);
		memset(v->last_failure, 'f', FDM_HA_WHY_MAX - 1);
	}
	m->ha.n_vms = FDM_MAX_VMS;
	a.seq = fdm_core_take_seq(m, mc->now);
	fdm_outbox_build(m, &a, "test", mc->now, &mc->outbox);
	len = fdm__packet__get_packed_size(&mc->outbox.packet);
	assert_true(len <= FDM_OUTBOX_PACKET_MAX);
	assert_true(mc->outbox.master_hb.vms_partial);
	assert_true(mc->outbox.master_hb.n_vms > 50);
	assert_true(mc->outbox.master_hb.n_vms < FDM_MAX_VMS);
	buf = malloc(len);
	fdm__packet__pack(&mc->outbox.packet, buf);
	p = fdm__packet__unpack(NULL, len, buf);
	assert_non_null(p);
	dropped = fdm_vmview_take(&mc->hosts[0].core, 3, p->master_hb, mc->now);
	assert_int_equal(dropped, 0);
	st = status_of(mc, 0);
	assert_true(json_object_get_boolean(get(get(st, "vms_view"), "partial")));
	assert_int_equal(json_object_array_length(get(st, "vms")), p->master_hb->n_vms);
	json_object_put(st);
	fdm__packet__free_unpacked(p, NULL);
	free(buf);
	mc_free(mc);
}

/* A hostile master heartbeat: rows without a name, with a name or state too
 * long, over FDM_MAX_VMS; each left out and counted, the rest kept. */
static void test_hostile_rows_left_out(void **state)
{
	struct minicluster *mc = cluster(85);
	struct fdm_core *c = &mc->hosts[0].core;
	Fdm__MasterHeartbeat m;
	Fdm__VmReport r[FDM_MAX_VMS + 3], *ptrs[FDM_MAX_VMS + 3];
	char longname[FDM_VM_NAME_MAX + 1], longstate[FDM_VM_STATE_TEXT_MAX + 1];

	(void)state;
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longstate, 's', sizeof(longstate) - 1);
	longstate[sizeof(longstate) - 1] = '\0';
	fdm__master_heartbeat__init(&m);
	for (size_t i = 0; i < FDM_MAX_VMS + 3; i++) {
		fdm__vm_report__init(&r[i]);
		r[i].name = (char *)"vm-ok";
		r[i].state = (char *)"protected";
		r[i].has_priority = true;
		r[i].priority = 99;   /* a newer agent's: shown as medium */
		r[i].waiting = (char *)"bad\x01text";
		ptrs[i] = &r[i];
	}
	r[0].name = (char *)"";
	r[1].name = longname;
	r[2].state = longstate;
	ptrs[3] = NULL;
	m.n_vms = FDM_MAX_VMS + 3;
	m.vms = ptrs;
	/* 3 past the bound, 4 bad rows within it. */
	assert_int_equal(fdm_vmview_take(c, c->master, &m, mc->now), 7);
	assert_int_equal(c->master_vms.n, FDM_MAX_VMS - 4);
	assert_true(c->master_vms.partial);
	assert_int_equal(c->master_vms.rows[0].priority, FDM__PRIORITY__PRIORITY_MEDIUM);
	assert_null(strchr(c->master_vms.rows[0].waiting, '\x01'));
	mc_free(mc);
}

/* A slave with no table from the master it follows shows none, not its own. */
static void test_slave_none_yet(void **state)
{
	struct minicluster *mc = cluster(86);
	json_object *st;

	(void)state;
	mc->hosts[0].core.master_vms.have = false;
	st = status_of(mc, 0);
	assert_string_equal(str(get(st, "vms_view"), "view"), "none yet");
	assert_int_equal(json_object_array_length(get(st, "vms")), 0);
	json_object_put(st);
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slave_shows_restarting),
		cmocka_unit_test(test_slave_shows_restart_pending_and_why),
		cmocka_unit_test(test_capacity_on_master_and_slave),
		cmocka_unit_test(test_large_table_partial),
		cmocka_unit_test(test_hostile_rows_left_out),
		cmocka_unit_test(test_slave_none_yet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
