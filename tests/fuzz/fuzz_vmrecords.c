/* libFuzzer target: the VM protection records of a datastore, from the bytes
 * on disk to what the core ingests. The protectedlist's VM part and the other
 * hosts' poweron records are hostile input (any host with the key, any bug of
 * theirs, any torn write): the fuzzer's bytes are written as record bodies (or
 * as raw slot bytes) into a real file:// datastore in /dev/shm, read back by
 * the agent's code (ds_records.c, ds_slots.c, record.c, the protobuf unpack and
 * its host check), turned into the core's views (fdm/datastores_vms.c) and
 * handed to a core that is master and holds the lease there (vms.c, restart.c,
 * failover.c judge them). What the core asks to write back (the VM list, our
 * poweron record) is built and written as the agent would, and read again.
 * Input: records of [1 byte kind][2 bytes length][payload]; see apply(). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datastore/ds.h"
#include "datastore/dsio.h"
#include "datastore/record.h"
#include "fdm/core/core.h"
#include "fdm/core/outbox.h"
#include "fdm/datastores_vms.h"
#include "lib/config.h"
#include "lib/util.h"

#define HOSTS 4
#define SELF 1            /* host-2 */

static const char *const ids[HOSTS] = { "host-1", "host-2", "host-9", "host-10" };

/* Set up once: the config, a core that is master with the lease of ds1, and
 * the datastore folder. Each input starts again from that core. */
struct world {
	struct fdm_config cfg;
	struct fdm_timing timing;
	struct fdm_core master;          /* the core once master (a plain value) */
	uint64_t master_now;
	struct fdm_lease_rec lease;      /* the lease as the warm-up left it */
	char root[128];
	char url[160];
	char identity_path[256];
	uint8_t identity[4096];          /* the identity slot as fdm_ds_init wrote it */
};

/* One input's run. */
struct run {
	struct fdm_core c;
	struct fdm_actions acts;
	struct fdm_actions todo;         /* execute()'s copy of acts */
	struct fdm_outbox ob;
	struct fdm_ds *ds[HOSTS];        /* a handle per host: each writes its own records */
	struct fdm_ds_vms *vms;
	struct fdm_ds_peers peers;
	struct fdm_lease_rec lease;      /* fake lease storage (not what is fuzzed) */
	bool lease_written;
	bool identity_replaced;          /* restore the world's before the next input */
	uint64_t now;
};

static void make_config(struct fdm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	fdm_strlcpy(cfg->cluster_id, "fuzz", sizeof(cfg->cluster_id));
	fdm_strlcpy(cfg->host_id, ids[SELF], sizeof(cfg->host_id));
	for (size_t i = 0; i < HOSTS; i++)
		fdm_strlcpy(cfg->peers[i].id, ids[i], FDM_ID_MAX);
	cfg->n_peers = HOSTS;
	fdm_strlcpy(cfg->datastores[0].name, "ds1", FDM_ID_MAX);
	cfg->n_datastores = 1;
}

/* ------------------------------------------------------------ the core's I/O */

static void done(struct run *r, enum fdm_storage_op op, const struct fdm_storage_outcome *o)
{
	fdm_core_storage_done(&r->c, 0, op, o, r->now, &r->acts);
}

static void ok(struct run *r, enum fdm_storage_op op)
{
	struct fdm_storage_outcome o = { .result = FDM_STORAGE_OK };

	done(r, op, &o);
}

static void failed(struct run *r, enum fdm_storage_op op, const char *why)
{
	struct fdm_storage_outcome o = { .result = FDM_STORAGE_FAILED, .why = why };

	done(r, op, &o);
}

/* Heartbeats and the lease: answered from memory (not what this target fuzzes;
 * fuzz_core does), so that the core stays master with an acting lease. */
static void lease_io(struct run *r, const struct fdm_action *a)
{
	struct fdm_storage_outcome o = { .result = FDM_STORAGE_OK };
	struct fdm_lease_view v;

	switch (a->op) {
	case FDM_STORAGE_LEASE_READ:
		memset(&v, 0, sizeof(v));
		v.kind = r->lease_written ? FDM_LEASE_VIEW_VALID : FDM_LEASE_VIEW_EMPTY;
		v.rec = r->lease;
		v.fingerprint = (uint32_t)(r->lease.generation * 7919 + r->lease.renewal);
		o.lease = &v;
		done(r, a->op, &o);
		break;
	case FDM_STORAGE_LEASE_WRITE:
		r->lease = a->lease;
		r->lease_written = true;
		done(r, a->op, &o);
		break;
	case FDM_STORAGE_HB_READ:
		o.hb_incarnation = 77;
		done(r, a->op, &o);
		break;
	default:
		done(r, a->op, &o);
		break;
	}
}

/* The VM list read, as datastores.c reports it: never written is an empty
 * list; any other failure is a failed read. */
static void vmlist_read(struct run *r)
{
	struct fdm_storage_outcome o = { .result = FDM_STORAGE_OK };
	struct fdm_vmlist_view view;
	struct fdm_ds_result res;
	Fdm__ProtectedList *list = NULL;
	enum fdm_ds_status st;

	memset(&res, 0, sizeof(res));
	st = fdm_ds_vmlist_read(r->ds[SELF], fdm_ds_deadline(r->ds[SELF]), &list, &res);
	if (st != FDM_DS_OK && st != FDM_DS_EMPTY) {
		failed(r, FDM_STORAGE_VMLIST_READ, res.msg);
		return;
	}
	fdm_ds_vms_read(r->vms, st == FDM_DS_OK ? list : NULL, &r->peers, &view);
	/* What the core is handed is bounded and each name a C string that fits. */
	if (view.n > FDM_MAX_VMS)
		abort();
	for (size_t i = 0; i < view.n; i++)
		if (view.vms[i].name[0] == '\0' ||
		    strnlen(view.vms[i].name, FDM_VM_NAME_MAX) == FDM_VM_NAME_MAX ||
		    strnlen(view.vms[i].uuid, FDM_UUID_MAX) == FDM_UUID_MAX)
			abort();
	o.vmlist = &view;
	done(r, FDM_STORAGE_VMLIST_READ, &o);
}

static void check_poweron(const struct fdm_poweron_view *p)
{
	if (p->n_runs > FDM_MAX_VMS || p->n_seen > FDM_MAX_VMS)
		abort();
	for (size_t i = 0; i < p->n_runs; i++)
		if (p->runs[i][0] == '\0' || strnlen(p->runs[i], FDM_VM_NAME_MAX) == FDM_VM_NAME_MAX)
			abort();
	for (size_t i = 0; i < p->n_seen; i++)
		if (p->seen_names[i][0] == '\0' ||
		    strnlen(p->seen_names[i], FDM_VM_NAME_MAX) == FDM_VM_NAME_MAX)
			abort();
}

/* The master's read of the other hosts' records, host by host as dsio.c's
 * HOSTS_READ does it (hb, then poweron; a damaged record is that host's only). */
static void hosts_read(struct run *r)
{
	struct fdm_storage_outcome o = { .result = FDM_STORAGE_OK };
	struct fdm_dsio_host h[HOSTS];
	struct fdm_dsio_done d;
	struct fdm_ds_result res;
	struct fdm_ds *ds = r->ds[SELF];

	memset(h, 0, sizeof(h));
	memset(&d, 0, sizeof(d));
	d.op = FDM_DSIO_HOSTS_READ;
	d.status = FDM_DS_OK;
	d.host_recs = h;
	for (size_t i = 0; i < HOSTS; i++) {
		if (i == SELF)
			continue;
		memset(&res, 0, sizeof(res));
		fdm_strlcpy(h[d.n_host_recs].host, ids[i], sizeof(h[0].host));
		h[d.n_host_recs].hb_status = fdm_ds_hb_read(ds, ids[i], fdm_ds_deadline(ds),
							     &h[d.n_host_recs].hb, &res);
		h[d.n_host_recs].poweron_status =
			fdm_ds_poweron_read(ds, ids[i], fdm_ds_deadline(ds),
					    &h[d.n_host_recs].poweron, &res);
		d.n_host_recs++;
	}
	o.n_hosts = fdm_ds_vms_hosts(r->vms, &d, &r->peers, &o.hosts);
	if (o.n_hosts > d.n_host_recs)
		abort();
	for (size_t i = 0; i < o.n_hosts; i++)
		check_poweron(&o.hosts[i].poweron);
	done(r, FDM_STORAGE_HOSTS_READ, &o);
	for (size_t i = 0; i < d.n_host_recs; i++)
		if (h[i].poweron != NULL)
			fdm__power_on_record__free_unpacked(h[i].poweron, NULL);
}

/* The records the core asks us to write, built by the shell's code and
 * written for real: the next reads see them. */
static void vm_write(struct run *r, enum fdm_storage_op op)
{
	struct fdm_ds_result res;
	enum fdm_ds_status st;
	const ProtobufCMessage *m;

	memset(&res, 0, sizeof(res));
	if (op == FDM_STORAGE_VMLIST_WRITE) {
		m = fdm_ds_vms_vmlist(r->vms, &r->c, 0, &r->peers);
		st = m == NULL ? FDM_DS_IO
		     : fdm_ds_vmlist_write(r->ds[SELF], (Fdm__ProtectedList *)m,
					   fdm_ds_deadline(r->ds[SELF]), &res);
	} else {
		m = fdm_ds_vms_poweron(r->vms, &r->c, 0, ids[SELF]);
		st = m == NULL ? FDM_DS_IO
		     : fdm_ds_poweron_write(r->ds[SELF], (Fdm__PowerOnRecord *)m,
					    fdm_ds_deadline(r->ds[SELF]), &res);
	}
	if (st == FDM_DS_OK)
		ok(r, op);
	else
		failed(r, op, res.msg);
}

/* Carry out what the core asked: datagrams are built (and must fit), storage
 * I/O is done; the rest (power-ons, definitions) has no answer here. */
static void execute(struct run *r)
{
	struct fdm_actions *todo = &r->todo;

	while (r->acts.n > 0) {
		/* Only the actions there are: the list is large. */
		todo->n = r->acts.n;
		memcpy(todo->a, r->acts.a, r->acts.n * sizeof(r->acts.a[0]));
		r->acts.n = 0;
		for (size_t i = 0; i < todo->n; i++) {
			const struct fdm_action *a = &todo->a[i];

			if (a->kind == FDM_ACT_SEND) {
				fdm_outbox_build(&r->c, a, "fuzz", r->now, &r->ob);
				if (fdm__packet__get_packed_size(&r->ob.packet) > FDM_OUTBOX_PACKET_MAX)
					abort();
			}
			if (a->kind != FDM_ACT_STORAGE || a->ds != 0)
				continue;
			switch (a->op) {
			case FDM_STORAGE_VMLIST_READ:
				vmlist_read(r);
				break;
			case FDM_STORAGE_HOSTS_READ:
				hosts_read(r);
				break;
			case FDM_STORAGE_VMLIST_WRITE:
			case FDM_STORAGE_POWERON_WRITE:
				vm_write(r, a->op);
				break;
			default:
				lease_io(r, a);
				break;
			}
		}
	}
}

static void step(struct run *r, uint64_t ms)
{
	r->now += ms;
	fdm_core_isolation_probe(&r->c, true, r->now, r->now, &r->acts);   /* not isolated */
	fdm_core_tick(&r->c, r->now, &r->acts);
	execute(r);
	if ((r->c.role == FDM_ROLE_MASTER) != (r->c.master == (int)r->c.self))
		abort();
}

/* ------------------------------------------------------------ set up once */

static char world_root[128];   /* for the exit handler */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);
	return 0;
}

/* The datastore folder goes with the process (libFuzzer exits through exit()). */
static void remove_root(void)
{
	nftw(world_root, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* The identity slot, read or written behind the datastore code's back: the
 * fuzzer's identity replaces it for one input, then the good one is put back. */
static bool file_io(const char *path, uint8_t *buf, size_t len, bool write)
{
	FILE *f = fopen(path, write ? "r+b" : "rb");
	bool ok;

	if (f == NULL)
		return false;
	ok = (write ? fwrite(buf, 1, len, f) : fread(buf, 1, len, f)) == len;
	return fclose(f) == 0 && ok;
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	struct run *r = calloc(1, sizeof(*r));
	struct fdm_ds_params p = { .cluster = "fuzz", .host = "fdmctl", .io_timeout_ms = 2000 };
	struct fdm_ds_identity id;
	struct fdm_ds_result res;
	struct fdm_ds *ds;
	uint8_t key[32];
	char err[256];
	bool created;

	memset(key, 0x5a, sizeof(key));
	p.key = key;
	p.key_len = sizeof(key);
	make_config(&w->cfg);
	fdm_timing_derive(1000, 2000, &w->timing, err, sizeof(err));
	snprintf(w->root, sizeof(w->root), "/dev/shm/fdm-fuzz-vmrecords-%d", (int)getpid());
	snprintf(w->url, sizeof(w->url), "file://%s", w->root);
	mkdir(w->root, 0700);
	fdm_strlcpy(world_root, w->root, sizeof(world_root));
	atexit(remove_root);
	if (fdm_ds_open(w->url, &p, &ds, err, sizeof(err)) != 0 ||
	    fdm_ds_init(ds, "fuzz", fdm_ds_deadline(ds), &id, &created, &res) != FDM_DS_OK) {
		fprintf(stderr, "fuzz_vmrecords: cannot set up %s\n", w->url);
		abort();
	}
	fdm_ds_close(ds);
	snprintf(w->identity_path, sizeof(w->identity_path), "%s/.fdm-ha/fuzz/identity", w->root);
	if (!file_io(w->identity_path, w->identity, sizeof(w->identity), false)) {
		fprintf(stderr, "fuzz_vmrecords: cannot read %s\n", w->identity_path);
		abort();
	}
	/* The warm-up: alone, host-2 wins the election and takes the lease. */
	r->now = 1000000;
	fdm_core_init(&r->c, &w->cfg, &w->timing, 77, r->now);
	fdm_core_datastores(&r->c, 1, r->now, &r->acts);
	for (int i = 0; i < 2000 && !(r->c.role == FDM_ROLE_MASTER &&
				      fdm_lease_acting(&r->c.ds[0].lease, r->now)); i++) {
		r->now += 100;
		fdm_core_isolation_probe(&r->c, true, r->now, r->now, &r->acts);   /* not isolated */
		fdm_core_tick(&r->c, r->now, &r->acts);
		for (size_t k = 0; k < r->acts.n; k++)
			if (r->acts.a[k].kind == FDM_ACT_STORAGE)
				lease_io(r, &r->acts.a[k]);
		r->acts.n = 0;
	}
	if (r->c.role != FDM_ROLE_MASTER || !fdm_lease_acting(&r->c.ds[0].lease, r->now)) {
		fprintf(stderr, "fuzz_vmrecords: the warm-up did not make a master\n");
		abort();
	}
	w->master = r->c;
	w->master_now = r->now;
	w->lease = r->lease;
	free(r);
	return w;
}

/* Each input on a datastore without VM records, and fresh handles (their slot
 * caches would carry one input's generations into the next). */
static bool run_start(struct run *r, struct world *w)
{
	struct fdm_ds_params p = { .cluster = "fuzz", .io_timeout_ms = 2000 };
	static const char *const recs[] = { "protectedlist", "host-1-poweron", "host-2-poweron",
					    "host-9-poweron", "host-10-poweron", "host-1-hb",
					    "host-9-hb", "host-10-hb" };
	char path[256], err[256];
	uint8_t key[32];

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		snprintf(path, sizeof(path), "%s/.fdm-ha/fuzz/%s", w->root, recs[i]);
		unlink(path);
	}
	if (r->identity_replaced &&
	    !file_io(w->identity_path, (uint8_t *)w->identity, sizeof(w->identity), true))
		return false;
	r->identity_replaced = false;
	memset(key, 0x5a, sizeof(key));
	p.key = key;
	p.key_len = sizeof(key);
	memset(r->ds, 0, sizeof(r->ds));
	r->acts.n = 0;
	r->acts.overflow = 0;
	r->lease_written = true;
	for (size_t i = 0; i < HOSTS; i++) {
		p.host = ids[i];
		if (fdm_ds_open(w->url, &p, &r->ds[i], err, sizeof(err)) != 0)
			return false;
	}
	r->vms = fdm_ds_vms_new("ds1");
	memset(&r->peers, 0, sizeof(r->peers));
	r->peers.n = HOSTS;
	for (size_t i = 0; i < HOSTS; i++)
		fdm_strlcpy(r->peers.ids[i], ids[i], FDM_ID_MAX);
	r->c = w->master;
	r->now = w->master_now;
	r->lease = w->lease;
	r->lease_written = true;
	return r->vms != NULL;
}

static void run_end(struct run *r)
{
	for (size_t i = 0; i < HOSTS; i++)
		if (r->ds[i] != NULL)
			fdm_ds_close(r->ds[i]);
	fdm_ds_vms_free(r->vms);
	r->vms = NULL;
}

/* ------------------------------------------------------------ one input */

/* The identity record holds body (signed with the key): every call on a new
 * connection checks it (ds_identity.c) before any record is read. */
static void identity(struct run *r, struct world *w, const uint8_t *body, size_t len)
{
	struct fdm_rec_auth auth;
	uint8_t slot[sizeof(w->identity)];

	memset(&auth, 0, sizeof(auth));
	fdm_strlcpy(auth.cluster, "fuzz", sizeof(auth.cluster));
	memset(auth.key, 0x5a, 32);
	auth.key_len = 32;
	if (fdm_rec_encode(&auth, FDM_REC_KIND_IDENTITY, 1, body, len, slot, sizeof(slot)) == 0)
		return;
	r->identity_replaced = true;
	file_io(w->identity_path, slot, sizeof(slot), true);
	/* New handles: the old ones checked the identity on their connection. */
	for (size_t i = 0; i < HOSTS; i++) {
		struct fdm_ds_params p = { .cluster = "fuzz", .host = ids[i], .io_timeout_ms = 2000,
					   .key = auth.key, .key_len = 32 };
		char err[256];

		fdm_ds_close(r->ds[i]);
		if (fdm_ds_open(w->url, &p, &r->ds[i], err, sizeof(err)) != 0)
			abort();
	}
}

/* One record of the input. kind % 4:
 *   0  the VM list: payload is its protobuf body (written by host-2)
 *   1  a poweron record: payload[0] % 4 names the writer, the rest its body
 *   2  an hb record of host payload[0] % 4 (written as that host would)
 *   3  raw bytes at the start of a slot: payload[0] picks the record, [1] the
 *      slot, the rest lands there unsigned (torn writes, garbage); or, when
 *      payload[0] has bit 3 set, the rest is the identity record's body (signed)
 * then time passes (kind >> 2, in units of 137 ms), the core acting on it. */
static void apply(struct run *r, struct world *w, uint8_t kind, const uint8_t *p, size_t len)
{
	struct fdm_ds_result res;
	uint8_t which = len > 0 ? p[0] : 0;
	struct fdm_ds *ds = r->ds[which % HOSTS];

	memset(&res, 0, sizeof(res));
	switch (kind % 4) {
	case 0:
		fdm_ds_write_body(r->ds[SELF], FDM_DS_REC_VMLIST, p, len, fdm_ds_deadline(ds), &res);
		break;
	case 1:
		if (len > 0)
			fdm_ds_write_body(ds, FDM_DS_REC_POWERON, p + 1, len - 1, fdm_ds_deadline(ds),
					  &res);
		break;
	case 2:
		fdm_ds_hb_write(ds, fdm_ds_deadline(ds), &res);
		break;
	case 3:
		if (len > 1 && (which & 8)) {
			identity(r, w, p + 2, len - 2);
		} else if (len > 1) {
			enum fdm_ds_rec rec = which & 1 ? FDM_DS_REC_POWERON : FDM_DS_REC_VMLIST;
			const char *host = ids[(which >> 1) % HOSTS];

			fdm_ds_raw_write(r->ds[SELF], rec, host,
					 (uint64_t)(p[1] & 1) * fdm_ds_slot_size(rec), p + 2, len - 2,
					 fdm_ds_deadline(ds), &res);
		}
		break;
	}
	for (unsigned i = 0; i <= (unsigned)(kind >> 2) % 16; i++)
		step(r, 137);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world *w;
	static struct run *r;   /* large: allocated once, every field set by run_start */

	if (w == NULL) {
		w = world_new();
		r = calloc(1, sizeof(*r));
	}
	if (r == NULL)
		return 0;
	if (run_start(r, w)) {
		while (size >= 3) {
			uint8_t kind = data[0];
			size_t len = (size_t)data[1] << 8 | data[2];

			data += 3;
			size -= 3;
			if (len > size)
				len = size;
			apply(r, w, kind, data, len);
			data += len;
			size -= len;
		}
		/* Long enough for every read and write of the records to come round
		 * (once a storage heartbeat interval). */
		for (int i = 0; i < 8; i++)
			step(r, 250);
	}
	run_end(r);
	return 0;
}
