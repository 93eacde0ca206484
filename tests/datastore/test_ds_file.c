/* The file:// backend on a temp dir: nothing is used before an explicit init
 * (and nothing is created then), init refuses another cluster's datastore, every
 * record round-trips, torn and damaged slots are passed over and named, other
 * keys and clusters are refused, records several hosts write are read before
 * each write, and a FIFO in a record's place is a bad record, never waited on. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static enum fdm_ds_status init_ds(struct fdm_ds *ds, bool *created, struct fdm_ds_result *res)
{
	struct fdm_ds_identity id;

	return fdm_ds_init(ds, "test", fdm_ds_deadline(ds), &id, created, res);
}

/* Entries in dir (not . and ..). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
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

static int setup_init(void **state)
{
	struct fdm_ds_result res;
	struct fx *f;
	bool created;

	setup(state);
	f = *state;
	assert_int_equal(init_ds(f->ds, &created, &res), FDM_DS_OK);
	assert_true(created);
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
	/* A forger without the key cannot even pass the identity check, so its
	 * record is framed here and put in place by hand. */
	Fdm__HostHeartbeatRecord fake = FDM__HOST_HEARTBEAT_RECORD__INIT;
	struct fdm_rec_auth forger = { .cluster = "prod-a", .key_len = 32 };
	static uint8_t slot[4096] __attribute__((aligned(4096)));
	uint8_t body[64];

	memcpy(forger.key, key_b, 32);
	fake.host = "host-1";
	fake.counter = 99;
	fdm_rec_encode(&forger, FDM_REC_KIND_HEARTBEAT, 1, body,
		       fdm__host_heartbeat_record__pack(&fake, body), slot, sizeof(slot));
	assert_int_equal(fdm_ds_raw_write(f->ds, FDM_DS_REC_HB, "host-1", 0, slot, sizeof(slot),
					  fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
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
	bool created;
	assert_int_equal(init_ds(other, &created, &res), FDM_DS_OK);
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

/* Issue 14: an empty directory (an unmounted filesystem, a datastore never
 * initialised) is never used: every call says UNINITIALIZED, and nothing at all
 * is created on disk; the lease is never read as free. */
static void test_uninitialized_touches_nothing(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_lease_view v;
	struct fdm_lease_rec r = { .owner = "host-1", .generation = 1, .nonce = 7 };
	struct fdm_ds_hb hb;
	struct fdm_ds_hostlist hosts;
	struct fdm_ds_identity id;
	Fdm__PowerOnRecord po = FDM__POWER_ON_RECORD__INIT, *pgot;
	Fdm__ProtectedList list = FDM__PROTECTED_LIST__INIT, *lgot;
	uint8_t buf[4096];
	size_t got;

	po.host = "host-1";
#define UNINIT(call) do { assert_int_equal((call), FDM_DS_UNINITIALIZED); \
		assert_non_null(strstr(res.msg, "fdmctl datastore init")); } while (0)
	UNINIT(fdm_ds_lease_read(f->ds, fdm_ds_deadline(f->ds), &v, &res));   /* never "free" */
	UNINIT(fdm_ds_lease_write(f->ds, fdm_ds_deadline(f->ds), &r, &res));
	UNINIT(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res));
	UNINIT(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res));
	UNINIT(fdm_ds_poweron_write(f->ds, &po, fdm_ds_deadline(f->ds), &res));
	UNINIT(fdm_ds_poweron_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &pgot, &res));
	UNINIT(fdm_ds_vmlist_write(f->ds, &list, fdm_ds_deadline(f->ds), &res));
	UNINIT(fdm_ds_vmlist_read(f->ds, fdm_ds_deadline(f->ds), &lgot, &res));
	UNINIT(fdm_ds_list_hosts(f->ds, fdm_ds_deadline(f->ds), &hosts, &res));
	UNINIT(fdm_ds_raw_write(f->ds, FDM_DS_REC_HB, "host-1", 0, buf, sizeof(buf),
				fdm_ds_deadline(f->ds), &res));
	UNINIT(fdm_ds_raw_read(f->ds, FDM_DS_REC_HB, "host-1", 0, buf, sizeof(buf), &got,
			       fdm_ds_deadline(f->ds), &res));
	UNINIT(fdm_ds_identity_read(f->ds, fdm_ds_deadline(f->ds), &id, &res));
#undef UNINIT
	assert_int_equal(entries(f->dir), 0);
	/* A cluster folder without an identity (made by hand, or an old agent's)
	 * is not enough either, and still nothing is written into it. */
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/.fdm-ha", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/.fdm-ha/prod-a", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_UNINITIALIZED);
	assert_int_equal(fdm_ds_lease_write(f->ds, fdm_ds_deadline(f->ds), &r, &res),
			 FDM_DS_UNINITIALIZED);
	assert_int_equal(entries(dir), 0);
}

/* Init makes the datastore usable, is idempotent, and the identity is checked
 * again when the folder changes under an open handle (the filesystem is
 * unmounted, or another one mounted): never a private empty copy. */
static void test_init_then_unmounted(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_ds_identity id, id2;
	struct fdm_lease_view v;
	char from[128], to[128];
	bool created;

	assert_int_equal(fdm_ds_init(f->ds, "test", fdm_ds_deadline(f->ds), &id, &created, &res),
			 FDM_DS_OK);
	assert_true(created);
	assert_string_equal(id.cluster, "prod-a");
	assert_int_equal(id.format_version, 1);
	assert_int_equal(strlen(id.uuid_text), 36);
	assert_int_equal(fdm_ds_init(f->ds, "test", fdm_ds_deadline(f->ds), &id2, &created, &res),
			 FDM_DS_OK);
	assert_false(created);
	assert_memory_equal(id.uuid, id2.uuid, 16);
	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	assert_int_equal(fdm_ds_lease_read(f->ds, fdm_ds_deadline(f->ds), &v, &res), FDM_DS_OK);
	assert_int_equal(v.kind, FDM_LEASE_VIEW_EMPTY);
	/* "Unmount": the folder goes; the mount point stays, empty. */
	snprintf(from, sizeof(from), "%s/.fdm-ha", f->dir);
	snprintf(to, sizeof(to), "%s/elsewhere", f->dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(fdm_ds_lease_read(f->ds, fdm_ds_deadline(f->ds), &v, &res),
			 FDM_DS_UNINITIALIZED);
	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_UNINITIALIZED);
	assert_int_equal(entries(f->dir), 1);           /* just "elsewhere" */
	/* "Mounted again": usable again, after the identity check. */
	assert_int_equal(rename(to, from), 0);
	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_OK);
	/* Init never creates the datastore's directory itself. */
	char url[160];
	snprintf(url, sizeof(url), "file://%s/missing", f->dir);
	struct fdm_ds *missing = open_as(url, "prod-a", "host-1", key_a);
	assert_int_equal(init_ds(missing, &created, &res), FDM_DS_IO);
	assert_non_null(strstr(res.msg, "No such file or directory"));
	fdm_ds_close(missing);
	assert_int_equal(entries(f->dir), 1);
}

/* Init refuses a datastore that holds another cluster's identity, and one
 * whose identity does not verify with this key; neither is overwritten. */
static void test_init_refuses_other_cluster(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_ds_identity id;
	char cmd[512];
	bool created;

	assert_int_equal(init_ds(f->ds, &created, &res), FDM_DS_OK);
	/* Same cluster name, another key: another cluster. */
	struct fdm_ds *other_key = open_as(f->url, "prod-a", "host-1", key_b);
	assert_int_equal(init_ds(other_key, &created, &res), FDM_DS_UNINITIALIZED);
	assert_false(created);
	assert_non_null(strstr(res.msg, "does not verify with this key"));
	assert_non_null(strstr(res.msg, "prod-a"));
	assert_int_equal(fdm_ds_hb_write(other_key, fdm_ds_deadline(other_key), &res),
			 FDM_DS_UNINITIALIZED);
	fdm_ds_close(other_key);
	/* Our identity copied into another cluster's folder names its owner. */
	snprintf(cmd, sizeof(cmd), "mkdir %s/.fdm-ha/prod-b && cp %s/.fdm-ha/prod-a/identity "
		 "%s/.fdm-ha/prod-b/identity", f->dir, f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	struct fdm_ds *b = open_as(f->url, "prod-b", "host-1", key_a);
	assert_int_equal(init_ds(b, &created, &res), FDM_DS_UNINITIALIZED);
	assert_non_null(strstr(res.msg, "cluster prod-a"));
	assert_int_equal(fdm_ds_lease_read(b, fdm_ds_deadline(b), &(struct fdm_lease_view){ 0 },
					   &res), FDM_DS_UNINITIALIZED);
	fdm_ds_close(b);
	/* Ours is untouched. */
	assert_int_equal(fdm_ds_identity_read(f->ds, fdm_ds_deadline(f->ds), &id, &res), FDM_DS_OK);
	assert_string_equal(id.created_by, "test");
}

static void write_list(struct fdm_ds *ds, uint64_t tag)
{
	Fdm__ProtectedList list = FDM__PROTECTED_LIST__INIT;
	struct fdm_ds_result res;

	list.has_lease_generation = true;
	list.lease_generation = tag;
	assert_int_equal(fdm_ds_vmlist_write(ds, &list, fdm_ds_deadline(ds), &res), FDM_DS_OK);
}

static uint64_t read_list(struct fdm_ds *ds)
{
	Fdm__ProtectedList *got;
	struct fdm_ds_result res;
	uint64_t tag;

	assert_int_equal(fdm_ds_vmlist_read(ds, fdm_ds_deadline(ds), &got, &res), FDM_DS_OK);
	tag = got->lease_generation;
	fdm__protected_list__free_unpacked(got, NULL);
	return tag;
}

/* Issue 14 fix 6: records several hosts write are read before each write. A
 * former holder (A) that writes again must not write the slot after the one
 * it wrote long ago, with an old generation, under B's newer record. */
static void test_shared_records_read_before_write(void **state)
{
	struct fx *f = *state;
	struct fdm_ds *a = f->ds, *b = open_as(f->url, "prod-a", "host-2", key_a);
	struct fdm_ds *reader = open_as(f->url, "prod-a", "host-3", key_a);
	struct fdm_ds_result res;
	struct fdm_lease_view v;
	uint64_t tag = 0;
	/* Who writes next: A once, B twice, A once, ... */
	static const int order[] = { 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0 };

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		write_list(order[i] ? b : a, ++tag);
		assert_int_equal(read_list(reader), tag);
	}
	/* The lease too, when a write comes without a read of its own. */
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		struct fdm_lease_rec r = { .generation = ++tag };

		strcpy(r.owner, order[i] ? "host-2" : "host-1");
		assert_int_equal(fdm_ds_lease_write(order[i] ? b : a, fdm_ds_deadline(a), &r, &res),
				 FDM_DS_OK);
		assert_int_equal(fdm_ds_lease_read(reader, fdm_ds_deadline(reader), &v, &res), FDM_DS_OK);
		assert_int_equal(v.rec.generation, tag);
	}
	fdm_ds_close(b);
	fdm_ds_close(reader);
}

static void on_alarm(int sig)
{
	(void)sig;
	/* Only reached when a call blocked on a FIFO: fail loudly. */
	static const char msg[] = "test_ds_file: a datastore call blocked on a FIFO\n";
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to say */
	}
	_exit(1);
}

/* Issue 15: a FIFO named like a record is a bad record ("not a regular
 * file"), never opened blocking, never written to. */
static void test_fifo_is_a_bad_record(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_lease_view v;
	struct fdm_lease_rec r = { .owner = "host-1", .generation = 1 };
	struct fdm_ds_hb hb;
	char path[160];
	int held;

	signal(SIGALRM, on_alarm);
	alarm(10);
	/* Nobody at the other end: a blocking open would wait for ever. */
	snprintf(path, sizeof(path), "%s/.fdm-ha/prod-a/protectedlist", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(fdm_ds_lease_read(f->ds, fdm_ds_deadline(f->ds), &v, &res), FDM_DS_OK);
	assert_int_equal(v.kind, FDM_LEASE_VIEW_CORRUPT);              /* not free */
	assert_int_equal(fdm_ds_lease_write(f->ds, fdm_ds_deadline(f->ds), &r, &res), FDM_DS_CORRUPT);
	assert_int_equal(res.rec_err, FDM_REC_NOT_A_FILE);
	assert_non_null(strstr(res.msg, "not a regular file"));
	/* Someone holds both ends: still not read from or written to. */
	snprintf(path, sizeof(path), "%s/.fdm-ha/prod-a/host-host-1-hb", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	held = open(path, O_RDWR | O_NONBLOCK);
	assert_true(held >= 0);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_CORRUPT);
	assert_int_equal(res.rec_err, FDM_REC_NOT_A_FILE);
	assert_int_equal(fdm_ds_hb_write(f->ds, fdm_ds_deadline(f->ds), &res), FDM_DS_CORRUPT);
	assert_int_equal(res.rec_err, FDM_REC_NOT_A_FILE);
	char junk[16];
	assert_true(read(held, junk, sizeof(junk)) < 0);             /* nothing was written */
	close(held);
	/* A directory in a record's place. */
	snprintf(path, sizeof(path), "%s/.fdm-ha/prod-a/host-host-2-hb", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-2", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_CORRUPT);
	assert_int_equal(res.rec_err, FDM_REC_NOT_A_FILE);
	alarm(0);
}

/* fdm-inspect names a record whose file is empty or zeroed; a record never
 * written is just absent. */
static void test_empty_record_is_present(void **state)
{
	struct fx *f = *state;
	struct fdm_ds_result res;
	struct fdm_ds_hb hb;
	char cmd[256];

	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_EMPTY);
	assert_false(res.present);
	snprintf(cmd, sizeof(cmd), "touch %s/.fdm-ha/prod-a/host-host-1-hb", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_EMPTY);
	assert_true(res.present);
	snprintf(cmd, sizeof(cmd), "head -c 8192 /dev/zero > %s/.fdm-ha/prod-a/host-host-1-hb", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(fdm_ds_hb_read(f->ds, "host-1", fdm_ds_deadline(f->ds), &hb, &res),
			 FDM_DS_EMPTY);
	assert_true(res.present);
}

/* nfs:// and iscsi:// take numeric addresses only (no unbounded lookups). */
static void test_numeric_addresses_only(void **state)
{
	struct fdm_ds_params p = { .cluster = "c", .key = key_a, .key_len = 32, .host = "h",
				   .io_timeout_ms = 1000 };
	static const struct { const char *url; int ok; } cases[] = {
		{ "nfs://10.0.0.5/export/ds1", 0 },
		{ "nfs://[fd00::5]/export/ds1", 0 },
		{ "nfs://nas.example.com/export/ds1", -1 },
		{ "nfs://fd00::5/export", -1 },
		{ "iscsi://10.0.0.6:3260/iqn.2026-01.lan.example:ds2/1", 0 },
		{ "iscsi://10.0.0.6/iqn.x:y/1", 0 },
		{ "iscsi://[fd00::6]:3260/iqn.x:y/1", 0 },
		{ "iscsi://san.example.com:3260/iqn.x:y/1", -1 },
		{ "iscsi://10.0.0.6:port/iqn.x:y/1", -1 },
	};
	struct fdm_ds *ds;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = fdm_ds_open(cases[i].url, &p, &ds, err, sizeof(err));

		if (rc != cases[i].ok)
			fail_msg("%s: open returned %d (%s)", cases[i].url, rc, err);
		if (rc == 0)
			fdm_ds_close(ds);
		else
			assert_non_null(strstr(err, "numeric"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_numeric_addresses_only),
		cmocka_unit_test_setup_teardown(test_uninitialized_touches_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_then_unmounted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_other_cluster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_round_trip, setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_hb_counter_continues, setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_poweron_and_hosts, setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_vmlist_hundreds, setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_torn_write_falls_back, setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_record, setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_other_key_and_cluster, setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_shared_records_read_before_write, setup_init,
						teardown),
		cmocka_unit_test_setup_teardown(test_fifo_is_a_bad_record, setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_empty_record_is_present, setup_init, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
