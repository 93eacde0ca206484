/* The file:// backend on a temp dir: every record round-trips, torn and damaged
 * slots are passed over and named, other keys and clusters are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "datastore/ds.h"

struct fx {
	char dir[64];
	char url[128];
	struct fdm_ds *ds;
};

static uint8_t key_a[32] = { 1, 2, 3 };
static uint8_t key_b[32] = { 9, 9, 9 };

static struct fdm_ds *open_as(const char *url, const char *cluster, const char *host,
			      const uint8_t *key)
{
	struct fdm_ds_params p = { .cluster = cluster, .key = key, .key_len = 32, .host = host,
				   .io_timeout_ms = 2000, .incarnation = 42 };
	struct fdm_ds *ds;
	char err[256];

	assert_int_equal(fdm_ds_open(url, &p, &ds, err, sizeof(err)), 0);
	return ds;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/fdm-ds-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "file://%s", f->dir);
	f->ds = open_as(f->url, "prod-a", "host-1", key_a);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	fdm_ds_close(f->ds);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_open_errors(void **state)
{
	struct fdm_ds_params p = { .cluster = "c", .key = key_a, .key_len = 32, .host = "h",
				   .io_timeout_ms = 1000 };
	struct fdm_ds *ds;
	char err[256];

	(void)state;
	assert_int_equal(fdm_ds_open("ftp://x/y", &p, &ds, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown scheme"));
	assert_int_equal(fdm_ds_open("file://relative", &p, &ds, err, sizeof(err)), -1);
	assert_int_equal(fdm_ds_open("nfs://server", &p, &ds, err, sizeof(err)), -1);
	assert_int_equal(fdm_ds_open("iscsi://portal/iqn/notalun", &p, &ds, err, sizeof(err)), -1);
	assert_int_equal(fdm_ds_open("iscsi://1.2.3.4:3260/iqn.x:y/1", &p, &ds, err, sizeof(err)), 0);
	fdm_ds_close(ds);
}

static void test_lease_round_trip(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_lease_view v;
	struct fdm_lease_rec r = { .owner = "host-1", .generation = 3, .renewal = 0, .nonce = 99 };
	uint32_t fp;

	assert_int_equal(fdm_ds_lease_read(f->ds, fdm_ds_deadline(f->ds), &v, &res), FDM_DS_OK);
	assert_int_equal(v.kind, FDM_LEASE_VIEW_EMPTY);
	for (int i = 0; i < 5; i++) {
		r.renewal = (uint64_t)i;
		assert_int_equal(fdm_ds_lease_read(f->ds, fdm_ds_deadline(f->ds), &v, &res), FDM_DS_OK);
		fp = v.fingerprint;
		assert_int_equal(fdm_ds_lease_write(f->ds, fdm_ds_deadline(f->ds), &r, &res), FDM_DS_OK);
		assert_int_equal(fdm_ds_lease_read(f->ds, fdm_ds_deadline(f->ds), &v, &res), FDM_DS_OK);
		assert_int_equal(v.kind, FDM_LEASE_VIEW_VALID);
		assert_string_equal(v.rec.owner, "host-1");
		assert_int_equal(v.rec.renewal, i);
		assert_int_equal(v.rec.nonce, 99);
		assert_int_not_equal(v.fingerprint, fp);
	}
	/* Another handle (another host) sees the same. */
	struct fdm_ds *other = open_as(f->url, "prod-a", "host-2", key_a);
	assert_int_equal(fdm_ds_lease_read(other, fdm_ds_deadline(other), &v, &res), FDM_DS_OK);
	assert_int_equal(v.rec.renewal, 4);
	fdm_ds_close(other);
}

static void test_hb_counter_continues(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_ds_hb hb;

	for (int i = 0; i < 3; i++)
		assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res), FDM_DS_OK);
	assert_int_equal(hb.counter, 3);
	assert_int_equal(hb.incarnation, 42);
	/* A restarted agent continues the counter. */
	struct fdm_ds *again = open_as(f->url, "prod-a", "host-1", key_a);
	assert_int_equal(fdm_ds_hb_write(again, fdm_ds_deadline(again), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_hb_read(again, "host-1", fdm_ds_deadline(again), &hb, &res), FDM_DS_OK);
	assert_int_equal(hb.counter, 4);
	fdm_ds_close(again);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-9", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_EMPTY);
}

static void test_poweron_and_hosts(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	Fdm__PowerOnRecord rec = FDM__POWER_ON_RECORD__INIT, *got;
	char *vms[] = { "db1", "web1" };
	struct fdm_ds_hostlist hosts;

	rec.host = "host-1";
	rec.has_isolated = true;
	rec.isolated = true;
	rec.n_vms = 2;
	rec.vms = vms;
	assert_int_equal(fdm_ds_poweron_write(f->ds, &rec, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_poweron_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &got, &res),
			 FDM_DS_OK);
	assert_true(got->isolated);
	assert_int_equal(got->n_vms, 2);
	assert_string_equal(got->vms[1], "web1");
	fdm__power_on_record__free_unpacked(got, NULL);
	rec.host = "host-2";   /* only our own */
	assert_int_equal(fdm_ds_poweron_write(f->ds, &rec, fdm_ds_deadline(f->ds), &res), FDM_DS_IO);
	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_list_hosts(f->ds, fdm_ds_deadline(f->ds), &hosts, &res), FDM_DS_OK);
	assert_int_equal(hosts.n, 1);
	assert_string_equal(hosts.ids[0], "host-1");
	assert_int_equal(fdm_ds_list_clusters(f->ds, fdm_ds_deadline(f->ds), &hosts, &res), FDM_DS_OK);
	assert_int_equal(hosts.n, 1);
	assert_string_equal(hosts.ids[0], "prod-a");
}

/* Hundreds of VMs with realistic domain XML fit the VM list. */
static void test_vmlist_hundreds(void **state)
{
	struct fx *f = *state;
	enum { N = 500 };
	struct fdm_ds_result res;
	Fdm__ProtectedList list = FDM__PROTECTED_LIST__INIT, *got;
	Fdm__ProtectedVm vms[N], *ptrs[N];
	char names[N][16];
	char *xml = malloc(6000);

	memset(xml, 'x', 5999);
	xml[5999] = '\0';
	for (int i = 0; i < N; i++) {
		fdm__protected_vm__init(&vms[i]);
		snprintf(names[i], sizeof(names[i]), "vm-%d", i);
		vms[i].name = names[i];
		vms[i].xml = xml;
		vms[i].has_priority = true;
		vms[i].priority = FDM__PRIORITY__PRIORITY_HIGH;
		ptrs[i] = &vms[i];
	}
	list.n_vms = N;
	list.vms = ptrs;
	list.has_lease_generation = true;
	list.lease_generation = 7;
	assert_int_equal(fdm_ds_vmlist_write(f->ds, &list, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_vmlist_write(f->ds, &list, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_vmlist_read(f->ds, fdm_ds_deadline(f->ds), &got, &res), FDM_DS_OK);
	assert_int_equal(got->n_vms, N);
	assert_string_equal(got->vms[N - 1]->name, "vm-499");
	assert_int_equal(strlen(got->vms[3]->xml), 5999);
	fdm__protected_list__free_unpacked(got, NULL);
	/* The lease is unaffected by VM list writes, and vice versa. */
	struct fdm_lease_view v;
	assert_int_equal(fdm_ds_lease_read(f->ds, fdm_ds_deadline(f->ds), &v, &res), FDM_DS_OK);
	assert_int_equal(v.kind, FDM_LEASE_VIEW_EMPTY);
	/* Too many: refused, not truncated. */
	char *huge = malloc(20000);
	memset(huge, 'y', 19999);
	huge[19999] = '\0';
	for (int i = 0; i < N; i++)
		vms[i].xml = huge;
	assert_int_equal(fdm_ds_vmlist_write(f->ds, &list, fdm_ds_deadline(f->ds), &res), FDM_DS_TOO_BIG);
	free(huge);
	free(xml);
}

/* A write torn in the slot being written leaves the older record readable, and
 * the damage is reported. */
static void test_torn_write_falls_back(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_ds_hb hb;
	uint8_t junk[4096];
	size_t got;

	for (int i = 0; i < 2; i++)
		assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	/* Counter 1 in slot 0, counter 2 in slot 1. Tear slot 1. */
	assert_int_equal(fdm_ds_raw_read(f->ds, FDM_DS_REC_HB, "host-1", 4096, junk, 4096, &got,
					 fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	memset(junk + 90, 0xee, 20);   /* inside the body */
	assert_int_equal(fdm_ds_raw_write(f->ds, FDM_DS_REC_HB, "host-1", 4096, junk, 4096,
					  fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res), FDM_DS_OK);
	assert_int_equal(hb.counter, 1);
	assert_int_equal(res.damaged_slot, 1);
	assert_int_equal(res.rec_err, FDM_REC_BAD_CHECKSUM);
	/* The next write goes over the torn slot. */
	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res), FDM_DS_OK);
	assert_int_equal(hb.counter, 3);
	assert_int_equal(res.damaged_slot, -1);
}

static void test_truncated_record(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_ds_hb hb;

	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_truncate(f->ds, FDM_DS_REC_HB, "host-1", 100,
					 fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_CORRUPT);
	assert_int_equal(res.rec_err, FDM_REC_SHORT);
	assert_non_null(strstr(res.msg, "host-host-1-hb"));
}

static void test_other_key_and_cluster(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_ds_hb hb;
	struct fdm_ds *forger = open_as(f->url, "prod-a", "host-1", key_b);

	assert_int_equal(fdm_ds_hb_write(forger, fdm_ds_deadline(forger), &res), FDM_DS_OK);
	fdm_ds_close(forger);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_CORRUPT);
	assert_int_equal(res.rec_err, FDM_REC_BAD_MAC);
	struct fdm_ds_stats st;
	fdm_ds_get_stats(f->ds, &st);
	assert_int_equal(st.rejected[FDM_REC_BAD_MAC], 1);      /* the forger wrote one slot */
	assert_int_equal(st.corrupt_slots, 1);
	/* Another cluster's records live in another folder; copied here they are
	 * refused by name. */
	struct fdm_ds *other = open_as(f->url, "prod-b", "host-1", key_a);
	assert_int_equal(fdm_ds_hb_write(other, fdm_ds_deadline(other), &res), FDM_DS_OK);
	fdm_ds_close(other);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cp %s/.fdm-ha/prod-b/host-host-1-hb %s/.fdm-ha/prod-a/host-host-1-hb",
		 f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_CORRUPT);
	assert_int_equal(res.rec_err, FDM_REC_WRONG_CLUSTER);
	/* A record copied to another host's name is refused too. */
	snprintf(cmd, sizeof(cmd), "cp %s/.fdm-ha/prod-a/host-host-1-hb %s/.fdm-ha/prod-a/host-host-2-hb",
		 f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	snprintf(cmd, sizeof(cmd), "cp %s/.fdm-ha/prod-a/host-host-1-hb %s/.fdm-ha/prod-a/host-host-2-hb",
		 f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-2", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_CORRUPT);
	assert_int_equal(res.rec_err, FDM_REC_WRONG_HOST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test_setup_teardown(test_lease_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hb_counter_continues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poweron_and_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmlist_hundreds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_write_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_key_and_cluster, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
