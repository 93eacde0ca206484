/* The agent shell's translation of VM protection records (fdm/datastores_vms.c):
 * a VM list read into the core's view (names the core cannot hold left out,
 * maintenance hosts as peer bits), the full VM list written from the core's
 * desired one with the XML only the shell keeps (from the last read or a
 * staged protect; a VM with no XML anywhere left out), the poweron record, and
 * the master's batched hosts read into the core's records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/datastores_vms.h"
#include "lib/util.h"

static const struct fdm_ds_peers peers = {
	4, { "host-1", "host-2", "host-9", "host-10" }
};

/* Through pack and unpack, as a read hands it over (freed by the callee). */
static Fdm__ProtectedList *as_read(const Fdm__ProtectedList *l)
{
	size_t len = fdm__protected_list__get_packed_size(l);
	uint8_t *buf = malloc(len + 1);
	Fdm__ProtectedList *out;

	fdm__protected_list__pack(l, buf);
	out = fdm__protected_list__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(out);
	return out;
}

static Fdm__ProtectedList *decode_written(const ProtobufCMessage *m)
{
	return as_read((const Fdm__ProtectedList *)m);
}

/* A list on disk: db1 (everything set), web1 (defaults), one name too long. */
static Fdm__ProtectedList *disk_list(const char *db1_xml)
{
	static char long_name[80];
	static char *maint[] = { "host-9", "ghost" };
	Fdm__ProtectedList l = FDM__PROTECTED_LIST__INIT;
	Fdm__ProtectedVm a = FDM__PROTECTED_VM__INIT, b = FDM__PROTECTED_VM__INIT,
			 c = FDM__PROTECTED_VM__INIT;
	Fdm__ProtectedVm *vms[] = { &a, &b, &c };

	memset(long_name, 'x', sizeof(long_name) - 1);
	a.name = "db1";
	a.uuid = "11111111-2222-4333-8444-555555555555";
	a.xml = (char *)db1_xml;
	a.has_priority = a.has_restart_count = a.has_memory_kib = a.has_vcpus = true;
	a.priority = FDM__PRIORITY__PRIORITY_HIGH;
	a.restart_count = 2;
	a.memory_kib = 1024;
	a.vcpus = 2;
	a.has_stopped = true;
	a.stopped = true;
	b.name = "web1";
	b.xml = "<web1/>";
	c.name = long_name;
	c.xml = "<long/>";
	l.has_lease_generation = true;
	l.lease_generation = 7;
	l.has_written_unix_ms = true;
	l.written_unix_ms = 1;
	l.n_vms = 3;
	l.vms = vms;
	l.n_maintenance = 2;
	l.maintenance = maint;
	return as_read(&l);
}

static void test_read_view(void **state)
{
	struct fdm_ds_vms *v = fdm_ds_vms_new("ds1");
	struct fdm_vmlist_view view;

	(void)state;
	fdm_ds_vms_read(v, disk_list("<db1/>"), &peers, &view);
	assert_false(view.empty);
	assert_int_equal(view.generation, 7);
	assert_int_equal(view.n, 2);                       /* the long name left out */
	assert_string_equal(view.vms[0].name, "db1");
	assert_string_equal(view.vms[0].uuid, "11111111-2222-4333-8444-555555555555");
	assert_int_equal(view.vms[0].priority, FDM__PRIORITY__PRIORITY_HIGH);
	assert_int_equal(view.vms[0].restarts, 2);
	assert_int_equal(view.vms[0].memory_kib, 1024);
	assert_true(view.vms[0].stopped);
	assert_string_equal(view.vms[1].name, "web1");
	assert_int_equal(view.vms[1].priority, FDM__PRIORITY__PRIORITY_MEDIUM);
	assert_false(view.vms[1].stopped);
	assert_int_equal(view.maintenance_mask, 1u << 2);  /* host-9; ghost is no peer */
	assert_string_equal(fdm_ds_vms_xml(v, "db1"), "<db1/>");
	assert_null(fdm_ds_vms_xml(v, "nope"));
	/* Never written: empty, and nothing known any more. */
	fdm_ds_vms_read(v, NULL, &peers, &view);
	assert_true(view.empty);
	assert_int_equal(view.n, 0);
	assert_null(fdm_ds_vms_xml(v, "db1"));
	fdm_ds_vms_free(v);
}

static void test_write_list(void **state)
{
	struct fdm_ds_vms *v = fdm_ds_vms_new("ds1");
	struct fdm_vmlist_desired *w = calloc(1, sizeof(*w));
	struct fdm_vmlist_view view;
	Fdm__ProtectedList *l;
	char too_long[FDM_VM_NAME_MAX + 1] = "";

	(void)state;
	fdm_ds_vms_read(v, disk_list("<db1/>"), &peers, &view);
	assert_int_equal(fdm_ds_vms_stage(v, "new1", "99999999-2222-4333-8444-555555555555",
					  "<new1/>", 512, 1), 0);
	memset(too_long, 'y', sizeof(too_long) - 1);
	assert_int_equal(fdm_ds_vms_stage(v, too_long, NULL, "<x/>", 1, 1), -1);
	assert_int_equal(fdm_ds_vms_stage(v, "noxml", NULL, NULL, 1, 1), -1);
	assert_string_equal(fdm_ds_vms_xml(v, "new1"), "<new1/>");
	w->generation = 9;
	w->n = 3;
	fdm_strlcpy(w->vms[0].name, "db1", FDM_VM_NAME_MAX);
	w->vms[0].priority = FDM__PRIORITY__PRIORITY_HIGH;
	w->vms[0].restarts = 3;
	fdm_strlcpy(w->vms[1].name, "new1", FDM_VM_NAME_MAX);
	w->vms[1].priority = FDM__PRIORITY__PRIORITY_LOW;
	fdm_strlcpy(w->vms[2].name, "ghost", FDM_VM_NAME_MAX);   /* no XML anywhere */
	w->maintenance_mask = 1u << 0 | 1u << 3;
	l = decode_written(fdm_ds_vms_list_of(v, w, &peers));
	assert_int_equal(l->lease_generation, 9);
	assert_int_equal(l->n_vms, 2);
	assert_string_equal(l->vms[0]->name, "db1");
	assert_string_equal(l->vms[0]->xml, "<db1/>");
	assert_string_equal(l->vms[0]->uuid, "11111111-2222-4333-8444-555555555555");
	assert_int_equal(l->vms[0]->restart_count, 3);
	assert_int_equal(l->vms[0]->memory_kib, 1024);
	assert_int_equal(l->vms[0]->vcpus, 2);
	assert_false(l->vms[0]->stopped);
	assert_string_equal(l->vms[1]->name, "new1");
	assert_string_equal(l->vms[1]->xml, "<new1/>");
	assert_string_equal(l->vms[1]->uuid, "99999999-2222-4333-8444-555555555555");
	assert_int_equal(l->vms[1]->priority, FDM__PRIORITY__PRIORITY_LOW);
	assert_int_equal(l->vms[1]->memory_kib, 512);
	assert_int_equal(l->n_maintenance, 2);
	assert_string_equal(l->maintenance[0], "host-1");
	assert_string_equal(l->maintenance[1], "host-10");
	/* Read back as written: new1 is staged no more, its XML is the list's. */
	fdm_ds_vms_read(v, l, &peers, &view);
	assert_int_equal(view.n, 2);
	assert_string_equal(fdm_ds_vms_xml(v, "new1"), "<new1/>");
	fdm_ds_vms_read(v, disk_list("<db1/>"), &peers, &view);
	assert_null(fdm_ds_vms_xml(v, "new1"));
	/* A staged VM whose XML changed stays staged until written with it. */
	assert_int_equal(fdm_ds_vms_stage(v, "db1", NULL, "<db1 v2/>", 0, 0), 0);
	fdm_ds_vms_read(v, disk_list("<db1/>"), &peers, &view);
	l = decode_written(fdm_ds_vms_list_of(v, w, &peers));
	assert_string_equal(l->vms[0]->xml, "<db1 v2/>");
	fdm__protected_list__free_unpacked(l, NULL);
	fdm_ds_vms_unstage(v, "db1");
	l = decode_written(fdm_ds_vms_list_of(v, w, &peers));
	assert_string_equal(l->vms[0]->xml, "<db1/>");
	fdm__protected_list__free_unpacked(l, NULL);
	free(w);
	fdm_ds_vms_free(v);
}

static void test_poweron_record(void **state)
{
	struct fdm_ds_vms *v = fdm_ds_vms_new("ds1");
	struct fdm_poweron_out *o = calloc(1, sizeof(*o));
	const Fdm__PowerOnRecord *r;

	(void)state;
	fdm_strlcpy(o->runs_buf[0], "db1", FDM_VM_NAME_MAX);
	fdm_strlcpy(o->runs_buf[1], "web1", FDM_VM_NAME_MAX);
	o->runs = (const char (*)[FDM_VM_NAME_MAX])o->runs_buf;
	o->n_runs = 2;
	o->seen_names[0] = "db1";
	o->seen_restarts[0] = 4;
	o->n_seen = 1;
	o->generation_seen = 5;
	o->stopped = true;
	o->isolated = true;
	o->isolated_off[0] = "app1";
	o->n_isolated_off = 1;
	r = (const Fdm__PowerOnRecord *)fdm_ds_vms_poweron_of(v, o, "host-2");
	assert_string_equal(r->host, "host-2");
	assert_int_equal(r->n_vms, 2);
	assert_string_equal(r->vms[1], "web1");
	assert_int_equal(r->n_restarts_seen, 1);
	assert_string_equal(r->restarts_seen[0]->name, "db1");
	assert_int_equal(r->restarts_seen[0]->restart_count, 4);
	assert_true(r->has_lease_generation_seen);
	assert_int_equal(r->lease_generation_seen, 5);
	assert_true(r->has_stopped && r->stopped);
	/* The isolation response (DESIGN.md point 4). */
	assert_true(r->has_isolated && r->isolated);
	assert_int_equal(r->n_isolated_off, 1);
	assert_string_equal(r->isolated_off[0], "app1");
	free(o);
	fdm_ds_vms_free(v);
}

static Fdm__PowerOnRecord *poweron(const char *host)
{
	static char *vms[] = { "db1", "web1" };
	static char *off[] = { "app1" };
	Fdm__VmRestartSeen s = FDM__VM_RESTART_SEEN__INIT;
	Fdm__VmRestartSeen *sp[] = { &s };
	Fdm__PowerOnRecord p = FDM__POWER_ON_RECORD__INIT;
	uint8_t buf[512];
	size_t len;

	p.host = (char *)host;
	p.n_vms = 2;
	p.vms = vms;
	s.name = "db1";
	s.restart_count = 2;
	p.n_restarts_seen = 1;
	p.restarts_seen = sp;
	p.has_lease_generation_seen = p.has_isolated = true;
	p.lease_generation_seen = 4;
	p.isolated = true;
	p.n_isolated_off = 1;
	p.isolated_off = off;
	len = fdm__power_on_record__pack(&p, buf);
	return fdm__power_on_record__unpack(NULL, len, buf);
}

static void test_hosts_view(void **state)
{
	struct fdm_ds_vms *v = fdm_ds_vms_new("ds1");
	struct fdm_dsio_host h[5];
	struct fdm_dsio_done d;
	const struct fdm_host_records *r;
	size_t n;

	(void)state;
	memset(h, 0, sizeof(h));
	memset(&d, 0, sizeof(d));
	strcpy(h[0].host, "host-1");
	h[0].hb_status = FDM_DS_OK;
	h[0].hb.fingerprint = 11;
	h[0].poweron_status = FDM_DS_OK;
	h[0].poweron = poweron("host-1");
	strcpy(h[1].host, "ghost");                      /* removed by a reload */
	strcpy(h[2].host, "host-9");
	h[2].hb_status = FDM_DS_EMPTY;
	h[2].poweron_status = FDM_DS_EMPTY;
	strcpy(h[3].host, "host-10");
	h[3].hb_status = FDM_DS_CORRUPT;
	h[3].poweron_status = FDM_DS_CORRUPT;
	strcpy(h[4].host, "host-2");
	h[4].hb_status = FDM_DS_OK;
	h[4].hb.fingerprint = 12;
	h[4].poweron_status = FDM_DS_OK;
	h[4].poweron = poweron("host-9");                /* names another host */
	d.host_recs = h;
	d.n_host_recs = 5;
	n = fdm_ds_vms_hosts(v, &d, &peers, &r);
	assert_int_equal(n, 4);
	assert_int_equal(r[0].peer, 0);
	assert_true(r[0].hb.ok);
	assert_int_equal(r[0].hb.fingerprint, 11);
	assert_true(r[0].poweron_ok);
	assert_false(r[0].poweron.empty);
	assert_int_equal(r[0].poweron.generation_seen, 4);
	assert_true(r[0].poweron.isolated);
	assert_int_equal(r[0].poweron.n_runs, 2);
	assert_string_equal(r[0].poweron.runs[1], "web1");
	assert_int_equal(r[0].poweron.n_seen, 1);
	assert_string_equal(r[0].poweron.seen_names[0], "db1");
	assert_int_equal(r[0].poweron.seen_restarts[0], 2);
	assert_int_equal(r[0].poweron.n_isolated_off, 1);
	assert_string_equal(r[0].poweron.isolated_off[0], "app1");
	assert_int_equal(r[1].peer, 2);                  /* never written: content */
	assert_true(r[1].hb.ok);
	assert_int_equal(r[1].hb.fingerprint, 0);
	assert_true(r[1].poweron_ok);
	assert_true(r[1].poweron.empty);
	assert_int_equal(r[2].peer, 3);                  /* damaged: no evidence */
	assert_false(r[2].hb.ok);
	assert_false(r[2].poweron_ok);
	assert_int_equal(r[3].peer, 1);
	assert_true(r[3].hb.ok);
	assert_false(r[3].poweron_ok);
	fdm__power_on_record__free_unpacked(h[0].poweron, NULL);
	fdm__power_on_record__free_unpacked(h[4].poweron, NULL);
	fdm_ds_vms_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_view),
		cmocka_unit_test(test_write_list),
		cmocka_unit_test(test_poweron_record),
		cmocka_unit_test(test_hosts_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
