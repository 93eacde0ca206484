/* iscsi://portal[:port]/target-iqn/lun: a raw LUN through libiscsi's async API.
 *
 * LUN layout (version 1; bytes; every offset and size a multiple of 4096, so
 * 512- and 4096-byte logical blocks both work; the LUN needs >= 43 MiB):
 *
 *   0          format block: a LunLayout record (kind LAYOUT, one slot). Written
 *              by the first host that finds block 0 all zero, identically by any
 *              host (no time, no nonce), so concurrent formatting is harmless.
 *              A block 0 that is neither zero nor our exact layout is never
 *              overwritten: the LUN is refused ("not an fdm LUN", another
 *              cluster, another key).
 *   1 MiB      lease: two 4 KiB slots           (file: protectedlist @ 0)
 *   2 MiB      VM list: two 4 MiB slots         (file: protectedlist @ 8 KiB)
 *   10 MiB     claim table: 128 blocks of 4 KiB, block i a HostSlotClaim naming
 *              the host that owns host region i
 *   11 MiB     host regions, 128 x 256 KiB; region i:
 *                +0       hb: two 4 KiB slots   (file: host-<id>-hb)
 *                +64 KiB  poweron: two 64 KiB slots (file: host-<id>-poweron)
 *   43 MiB     end
 *
 * Claiming a host region: read the claim table; if a block names us, it is ours.
 * Otherwise write our claim (host, random nonce) into the first free block right
 * after that read, wait 2 x io_timeout, and re-read it: ours only if our exact
 * claim is still there (the delta lease's write-wait-read: two hosts starting at
 * once cannot both keep the block). The wait does not block: writes of our hb and
 * poweron return FDM_DS_CLAIMING until the re-read has confirmed the claim. A
 * claim block that fails to verify is never reused: reformat to reclaim.
 *
 * Bounded I/O: as nfs://, the context is destroyed at the deadline or on a
 * connection error (libiscsi's own reconnect is off), so a command that missed
 * its deadline is never resent on a later connection. Writes use FUA. */
#include "datastore/ds_backend.h"

#include <errno.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define LAYOUT_VERSION  1
#define MAX_HOSTS       128
#define LEASE_OFF       (1 * MIB)
#define VMLIST_OFF      (2 * MIB)
#define CLAIMS_OFF      (10 * MIB)
#define HOSTS_OFF       (11 * MIB)
#define HOST_STRIDE     (256 * KIB)
#define HOST_HB         0
#define HOST_POWERON    (64 * KIB)
#define LUN_END         (HOSTS_OFF + MAX_HOSTS * HOST_STRIDE)
#define BLOCK           4096u

enum claim_state { CLAIM_NONE, CLAIM_WRITTEN, CLAIM_OWNED };

struct iscsi_be {
	char portal[256];
	char target[256];
	int lun;
	struct iscsi_context *iscsi;   /* NULL: not connected */
	uint32_t block_size;
	uint64_t lun_bytes;
	bool format_checked;
	char lun_cluster[FDM_REC_CLUSTER_MAX];  /* from the format block */
	/* The claim table as last read (hosts never give a region back). */
	char owners[MAX_HOSTS][FDM_DS_ID_MAX];
	enum claim_state claim;
	int my_slot;
	uint64_t claim_nonce;
	uint64_t claim_done_ms;
};

struct task_call {
	bool done;
	int status;
	uint8_t *rbuf;
	size_t rlen;
	uint32_t block_len;           /* read capacity */
	uint64_t last_lba;
	char err[160];
};

static struct iscsi_be *be_of(struct fdm_ds *ds) { return ds->priv; }

static int iscsi_be_init(struct fdm_ds *ds, const char *rest, char *err, size_t errlen)
{
	const char *slash = strchr(rest, '/');
	const char *last = strrchr(rest, '/');
	struct iscsi_be *b;
	uint32_t lun;

	if (slash == NULL || slash == rest || last == slash || last[1] == '\0' ||
	    !fdm_parse_u32(last + 1, 0, 255, &lun) || (size_t)(slash - rest) >= sizeof(b->portal) ||
	    (size_t)(last - slash - 1) >= sizeof(b->target)) {
		snprintf(err, errlen, "%s: want iscsi://portal[:port]/target-iqn/lun", ds->url);
		return -1;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, errlen, "%s: out of memory", ds->url);
		return -1;
	}
	memcpy(b->portal, rest, (size_t)(slash - rest));
	memcpy(b->target, slash + 1, (size_t)(last - slash - 1));
	b->lun = (int)lun;
	b->my_slot = -1;
	ds->priv = b;
	return 0;
}

static void drop(struct fdm_ds *ds)
{
	struct iscsi_be *b = be_of(ds);

	if (b->iscsi == NULL)
		return;
	/* Cancels every task: their callbacks run now and free them. */
	iscsi_destroy_context(b->iscsi);
	b->iscsi = NULL;
}

static void task_cb(struct iscsi_context *iscsi, int status, void *command_data, void *priv)
{
	struct task_call *c = priv;
	struct scsi_task *task = command_data;

	c->done = true;
	c->status = status;
	if (status != SCSI_STATUS_GOOD) {
		snprintf(c->err, sizeof(c->err), "%s", iscsi_get_error(iscsi));
	} else if (c->rbuf != NULL && task != NULL) {
		size_t n = (size_t)task->datain.size < c->rlen ? (size_t)task->datain.size : c->rlen;

		memcpy(c->rbuf, task->datain.data, n);
	} else if (task != NULL && task->cdb[0] == SCSI_OPCODE_SERVICE_ACTION_IN) {
		struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(task);

		if (rc != NULL) {
			c->block_len = rc->block_length;
			c->last_lba = rc->returned_lba;
		}
	}
	if (task != NULL)
		scsi_free_scsi_task(task);
}

static void connect_cb(struct iscsi_context *iscsi, int status, void *command_data, void *priv)
{
	struct task_call *c = priv;

	(void)command_data;
	c->done = true;
	c->status = status;
	if (status != SCSI_STATUS_GOOD)
		snprintf(c->err, sizeof(c->err), "%s", iscsi_get_error(iscsi));
}

static enum fdm_ds_status wait_task(struct fdm_ds *ds, struct task_call *c, uint64_t deadline,
				    const char *what, struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);

	while (!c->done) {
		uint64_t left = fdm_ds_left(deadline);
		struct pollfd pfd;
		int n;

		if (left == 0) {
			drop(ds);
			return fdm_ds_fail(ds, res, FDM_DS_TIMEOUT,
					   "%s: no answer within the deadline: connection dropped", what);
		}
		pfd.fd = iscsi_get_fd(b->iscsi);
		pfd.events = (short)iscsi_which_events(b->iscsi);
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)(left < 100 ? left : 100));
		if (n < 0 && errno != EINTR) {
			drop(ds);
			return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: poll: %s", what, strerror(errno));
		}
		if (iscsi_service(b->iscsi, n > 0 ? pfd.revents : 0) < 0) {
			char why[160];

			snprintf(why, sizeof(why), "%s", iscsi_get_error(b->iscsi));
			drop(ds);
			return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: connection failed: %s", what, why);
		}
	}
	if (c->status != SCSI_STATUS_GOOD) {
		/* A failed command leaves the session in doubt: start afresh. */
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: %s", what, c->err);
	}
	return FDM_DS_OK;
}

static enum fdm_ds_status lun_io(struct fdm_ds *ds, bool write, uint64_t off, void *buf,
				 size_t len, uint64_t deadline, struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	struct task_call c = { 0 };
	struct scsi_task *t;
	uint32_t bs = b->block_size;

	if (off % bs != 0 || len % bs != 0 || off + len > b->lun_bytes)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "%s of %zu bytes at %llu: outside the LUN or "
				   "not block aligned", write ? "write" : "read", len,
				   (unsigned long long)off);
	if (write) {
		t = iscsi_write16_task(b->iscsi, b->lun, off / bs, buf, (uint32_t)len, (int)bs,
				       0, 0, 1, 0, 0, task_cb, &c);
	} else {
		c.rbuf = buf;
		c.rlen = len;
		t = iscsi_read16_task(b->iscsi, b->lun, off / bs, (uint32_t)len, (int)bs,
				      0, 0, 0, 0, 0, task_cb, &c);
	}
	if (t == NULL) {
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "cannot queue a SCSI command");
	}
	return wait_task(ds, &c, deadline, write ? "write" : "read", res);
}

/* ------------------------------------------------------------ connect, format */

static void layout_of(Fdm__LunLayout *l, uint32_t bs)
{
	l->layout_version = LAYOUT_VERSION;
	l->max_hosts = MAX_HOSTS;
	l->lease_offset = LEASE_OFF;
	l->hosts_offset = HOSTS_OFF;
	l->host_stride = HOST_STRIDE;
	l->protected_offset = VMLIST_OFF;
	l->protected_slot_size = FDM_DS_VMLIST_SLOT;
	l->end_offset = LUN_END;
	l->has_claims_offset = true;
	l->claims_offset = CLAIMS_OFF;
	l->has_sector_size = bs != 0;
	l->sector_size = bs;
}

static bool layout_matches(const Fdm__LunLayout *l)
{
	Fdm__LunLayout want = FDM__LUN_LAYOUT__INIT;

	layout_of(&want, 0);
	return l->layout_version == want.layout_version && l->max_hosts == want.max_hosts &&
	       l->lease_offset == want.lease_offset && l->hosts_offset == want.hosts_offset &&
	       l->host_stride == want.host_stride && l->protected_offset == want.protected_offset &&
	       l->protected_slot_size == want.protected_slot_size &&
	       l->end_offset == want.end_offset && l->claims_offset == want.claims_offset;
}

static enum fdm_ds_status write_format(struct fdm_ds *ds, uint8_t *blk, uint64_t deadline,
				       struct fdm_ds_result *res)
{
	Fdm__LunLayout l = FDM__LUN_LAYOUT__INIT;
	uint8_t body[128];
	size_t n;

	layout_of(&l, be_of(ds)->block_size);
	n = fdm__lun_layout__pack(&l, body);
	fdm_rec_encode(&ds->auth, FDM_REC_KIND_LAYOUT, 1, body, n, blk, BLOCK);
	return lun_io(ds, true, 0, blk, BLOCK, deadline, res);
}

/* Block 0: format it if blank, else accept only our own layout. */
static enum fdm_ds_status check_format(struct fdm_ds *ds, bool may_format, uint64_t deadline,
				       struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	uint8_t *blk = NULL;
	struct fdm_rec_view v;
	Fdm__LunLayout *l;
	enum fdm_rec_err e;
	enum fdm_ds_status st;

	if (posix_memalign((void **)&blk, BLOCK, BLOCK) != 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	st = lun_io(ds, false, 0, blk, BLOCK, deadline, res);
	if (st != FDM_DS_OK)
		goto out;
	fdm_rec_cluster_of(blk, BLOCK, b->lun_cluster);
	e = fdm_rec_decode(&ds->auth, blk, BLOCK, BLOCK, FDM_REC_KIND_LAYOUT, &v);
	if (e == FDM_REC_EMPTY && !may_format) {
		st = fdm_ds_fail(ds, res, FDM_DS_EMPTY, "LUN not formatted for fdm yet");
		goto out;
	}
	if (e == FDM_REC_EMPTY) {
		st = write_format(ds, blk, deadline, res);
		if (st == FDM_DS_OK)
			b->format_checked = true;
		fdm_strlcpy(b->lun_cluster, ds->auth.cluster, sizeof(b->lun_cluster));
		goto out;
	}
	if (e != FDM_REC_OK) {
		res->rec_err = e;
		st = fdm_ds_fail(ds, res, FDM_DS_CORRUPT, "format block: %s%s%s", fdm_rec_err_name(e),
				 b->lun_cluster[0] ? " (LUN of cluster " : " (not an fdm LUN?)",
				 b->lun_cluster[0] ? b->lun_cluster : "");
		if (b->lun_cluster[0])
			strncat(res->msg, ")", sizeof(res->msg) - strlen(res->msg) - 1);
		goto out;
	}
	l = fdm__lun_layout__unpack(NULL, v.body_len, v.body);
	if (l == NULL || !layout_matches(l)) {
		res->rec_err = FDM_REC_BAD_BODY;
		st = fdm_ds_fail(ds, res, FDM_DS_CORRUPT, "format block: unsupported layout");
	} else {
		b->format_checked = true;
	}
	if (l != NULL)
		fdm__lun_layout__free_unpacked(l, NULL);
out:
	free(blk);
	return st;
}

static enum fdm_ds_status read_capacity(struct fdm_ds *ds, uint64_t deadline,
					struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	struct task_call c = { 0 };
	enum fdm_ds_status st;

	if (iscsi_readcapacity16_task(b->iscsi, b->lun, task_cb, &c) == NULL) {
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "cannot queue READ CAPACITY");
	}
	st = wait_task(ds, &c, deadline, "read capacity", res);
	if (st != FDM_DS_OK)
		return st;
	if (c.block_len == 0 || BLOCK % c.block_len != 0) {
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "block size %u not supported (512..4096)",
				   c.block_len);
	}
	b->block_size = c.block_len;
	b->lun_bytes = (c.last_lba + 1) * c.block_len;
	if (b->lun_bytes < LUN_END) {
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "LUN of %llu bytes is smaller than the "
				   "%llu the layout needs", (unsigned long long)b->lun_bytes,
				   (unsigned long long)LUN_END);
	}
	return FDM_DS_OK;
}

static enum fdm_ds_status connect_lun(struct fdm_ds *ds, bool may_format, uint64_t deadline,
				      struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	struct task_call c = { 0 };
	char initiator[160];
	enum fdm_ds_status st;

	if (b->iscsi != NULL)
		return FDM_DS_OK;
	ds->stats.reconnects++;
	/* Unique per process: a second login with the same name and ISID would
	 * make the target drop the first session. */
	snprintf(initiator, sizeof(initiator), "iqn.2026-01.org.fdm:%s-%ld",
		 ds->host[0] ? ds->host : "inspect", (long)getpid());
	b->iscsi = iscsi_create_context(initiator);
	if (b->iscsi == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "cannot create an iSCSI context");
	iscsi_set_targetname(b->iscsi, b->target);
	iscsi_set_session_type(b->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(b->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	/* libiscsi would otherwise log in again by itself and resend queued tasks. */
	iscsi_set_noautoreconnect(b->iscsi, 1);
	if (iscsi_full_connect_async(b->iscsi, b->portal, b->lun, connect_cb, &c) != 0) {
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "connect %s: %s", b->portal,
				 iscsi_get_error(b->iscsi));
		drop(ds);
		return st;
	}
	st = wait_task(ds, &c, deadline, "connect", res);
	if (st == FDM_DS_OK)
		st = read_capacity(ds, deadline, res);
	if (st == FDM_DS_OK && !b->format_checked)
		st = check_format(ds, may_format, deadline, res);
	if (st != FDM_DS_OK)
		drop(ds);
	return st;
}

/* ------------------------------------------------------------ host regions */

static enum fdm_ds_status read_claims(struct fdm_ds *ds, uint64_t deadline,
				      struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	size_t len = (size_t)MAX_HOSTS * BLOCK;
	uint8_t *tab = NULL;
	enum fdm_ds_status st;

	if (posix_memalign((void **)&tab, BLOCK, len) != 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	st = lun_io(ds, false, CLAIMS_OFF, tab, len, deadline, res);
	for (int i = 0; st == FDM_DS_OK && i < MAX_HOSTS; i++) {
		struct fdm_rec_view v;
		Fdm__HostSlotClaim *cl;
		enum fdm_rec_err e = fdm_rec_decode(&ds->auth, tab + (size_t)i * BLOCK, BLOCK, BLOCK,
						    FDM_REC_KIND_CLAIM, &v);

		b->owners[i][0] = '\0';
		if (e == FDM_REC_EMPTY)
			continue;
		/* Unreadable: "?" keeps it from being claimed again. */
		fdm_strlcpy(b->owners[i], "?", FDM_DS_ID_MAX);
		if (e != FDM_REC_OK)
			continue;
		cl = fdm__host_slot_claim__unpack(NULL, v.body_len, v.body);
		if (cl == NULL)
			continue;
		if (fdm_ds_valid_id(cl->host))
			fdm_strlcpy(b->owners[i], cl->host, FDM_DS_ID_MAX);
		if (i == b->my_slot && b->claim == CLAIM_WRITTEN && cl->nonce != b->claim_nonce)
			fdm_strlcpy(b->owners[i], "~", FDM_DS_ID_MAX);   /* same id, not our claim */
		fdm__host_slot_claim__free_unpacked(cl, NULL);
	}
	free(tab);
	return st;
}

static int slot_of(const struct iscsi_be *b, const char *host)
{
	for (int i = 0; i < MAX_HOSTS; i++)
		if (strcmp(b->owners[i], host) == 0)
			return i;
	return -1;
}

static enum fdm_ds_status write_claim(struct fdm_ds *ds, int slot, uint64_t deadline,
				      struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	Fdm__HostSlotClaim cl = FDM__HOST_SLOT_CLAIM__INIT;
	uint8_t body[128], *blk = NULL;
	enum fdm_ds_status st;
	size_t n;

	if (posix_memalign((void **)&blk, BLOCK, BLOCK) != 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	cl.host = ds->host;
	cl.nonce = fdm_ds_random_u64();
	cl.has_written_unix_ms = true;
	cl.written_unix_ms = fdm_now_unix_ms();
	n = fdm__host_slot_claim__pack(&cl, body);
	fdm_rec_encode(&ds->auth, FDM_REC_KIND_CLAIM, 1, body, n, blk, BLOCK);
	st = lun_io(ds, true, CLAIMS_OFF + (uint64_t)slot * BLOCK, blk, BLOCK, deadline, res);
	free(blk);
	b->my_slot = slot;
	b->claim_nonce = cl.nonce;
	b->claim = CLAIM_WRITTEN;
	b->claim_done_ms = fdm_now_mono_ms();
	return st;
}

/* Our host region, or FDM_DS_CLAIMING while a claim waits for its re-read. */
static enum fdm_ds_status own_slot(struct fdm_ds *ds, uint64_t deadline, struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	enum fdm_ds_status st;
	int free_slot = -1;

	if (b->claim == CLAIM_OWNED)
		return FDM_DS_OK;
	/* Write, wait 2 x io_timeout, re-read, as for the lease: any other
	 * claimant's read-then-write in flight when ours landed has landed too. */
	if (b->claim == CLAIM_WRITTEN &&
	    fdm_now_mono_ms() < b->claim_done_ms + 2ull * ds->io_timeout_ms)
		return fdm_ds_fail(ds, res, FDM_DS_CLAIMING, "host slot %d claimed, confirming",
				   b->my_slot);
	st = read_claims(ds, deadline, res);
	if (st != FDM_DS_OK)
		return st;
	if (b->claim == CLAIM_WRITTEN) {
		if (strcmp(b->owners[b->my_slot], ds->host) == 0) {
			/* Readers take the first block naming a host: so do we, should
			 * an earlier claim of ours (a write that timed out) have landed. */
			b->my_slot = slot_of(b, ds->host);
			b->claim = CLAIM_OWNED;
			return FDM_DS_OK;
		}
		b->claim = CLAIM_NONE;   /* lost it: try another below */
		b->my_slot = -1;
	}
	b->my_slot = slot_of(b, ds->host);
	if (b->my_slot >= 0) {
		b->claim = CLAIM_OWNED;
		return FDM_DS_OK;
	}
	for (int i = 0; i < MAX_HOSTS && free_slot < 0; i++)
		if (b->owners[i][0] == '\0')
			free_slot = i;
	if (free_slot < 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "no free host slot (%d in use)", MAX_HOSTS);
	st = write_claim(ds, free_slot, deadline, res);
	if (st != FDM_DS_OK)
		return st;
	return fdm_ds_fail(ds, res, FDM_DS_CLAIMING, "host slot %d claimed, confirming", free_slot);
}

/* Where rec of host starts on the LUN. */
static enum fdm_ds_status locate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				 bool write, uint64_t deadline, uint64_t *base, bool *none,
				 struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	enum fdm_ds_status st;
	int slot;

	*none = false;
	if (rec == FDM_DS_REC_LEASE) {
		*base = LEASE_OFF;
		return FDM_DS_OK;
	}
	if (rec == FDM_DS_REC_VMLIST) {
		*base = VMLIST_OFF;
		return FDM_DS_OK;
	}
	if (write && strcmp(host, ds->host) == 0) {
		st = own_slot(ds, deadline, res);
		slot = b->my_slot;
	} else {
		slot = slot_of(b, host);
		st = FDM_DS_OK;
		if (slot < 0) {
			st = read_claims(ds, deadline, res);
			slot = slot_of(b, host);
		}
		if (st == FDM_DS_OK && slot < 0) {
			if (write)
				return fdm_ds_fail(ds, res, FDM_DS_IO, "host %s has no slot", host);
			*none = true;
		}
	}
	if (st != FDM_DS_OK)
		return st;
	*base = HOSTS_OFF + (uint64_t)(slot < 0 ? 0 : slot) * HOST_STRIDE +
		(rec == FDM_DS_REC_HB ? HOST_HB : HOST_POWERON);
	return FDM_DS_OK;
}

static enum fdm_ds_status iscsi_be_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
					uint64_t off, void *buf, size_t len, size_t *got,
					uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;
	uint64_t base;
	bool none;

	memset(buf, 0, len);
	*got = 0;
	st = connect_lun(ds, false, deadline, res);
	if (st == FDM_DS_EMPTY) {
		memset(res, 0, sizeof(*res));   /* blank LUN: nothing written yet */
		res->damaged_slot = -1;
		return FDM_DS_OK;
	}
	if (st == FDM_DS_OK)
		st = locate(ds, rec, host, false, deadline, &base, &none, res);
	if (st != FDM_DS_OK || none)
		return st;
	st = lun_io(ds, false, base + off, buf, len, deadline, res);
	if (st == FDM_DS_OK)
		*got = len;
	return st;
}

static enum fdm_ds_status iscsi_be_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
					 uint64_t off, const void *buf, size_t len,
					 uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;
	uint64_t base;
	bool none;

	st = connect_lun(ds, true, deadline, res);
	if (st == FDM_DS_OK)
		st = locate(ds, rec, host, true, deadline, &base, &none, res);
	if (st == FDM_DS_OK)
		st = lun_io(ds, true, base + off, (void *)buf, len, deadline, res);
	return st;
}

static enum fdm_ds_status iscsi_be_list_hosts(struct fdm_ds *ds, uint64_t deadline,
					      struct fdm_ds_hostlist *out,
					      struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	enum fdm_ds_status st = connect_lun(ds, false, deadline, res);

	if (st == FDM_DS_EMPTY) {
		fdm_ds_result_clear(res);
		return FDM_DS_OK;
	}
	if (st == FDM_DS_OK)
		st = read_claims(ds, deadline, res);
	for (int i = 0; st == FDM_DS_OK && i < MAX_HOSTS; i++)
		if (fdm_ds_valid_id(b->owners[i]))
			fdm_ds_list_add(out, b->owners[i]);
	return st;
}

/* The LUN's owner as block 0 names it: read the block without verifying it. */
static enum fdm_ds_status iscsi_be_list_clusters(struct fdm_ds *ds, uint64_t deadline,
						 struct fdm_ds_hostlist *out,
						 struct fdm_ds_result *res)
{
	struct iscsi_be *b = be_of(ds);
	enum fdm_ds_status st = connect_lun(ds, false, deadline, res);

	/* A key mismatch or a blank LUN fails connect, but block 0 was read. */
	if (b->lun_cluster[0] != '\0' && fdm_ds_valid_id(b->lun_cluster)) {
		fdm_ds_list_add(out, b->lun_cluster);
		fdm_ds_result_clear(res);
		return FDM_DS_OK;
	}
	return st == FDM_DS_EMPTY ? FDM_DS_OK : st;
}

static void iscsi_be_disconnect(struct fdm_ds *ds)
{
	drop(ds);
}

static void iscsi_be_destroy(struct fdm_ds *ds)
{
	drop(ds);
	free(ds->priv);
	ds->priv = NULL;
}

const struct fdm_ds_backend fdm_ds_iscsi_backend = {
	.scheme = "iscsi://",
	.init = iscsi_be_init,
	.read = iscsi_be_read,
	.write = iscsi_be_write,
	.truncate = NULL,
	.list_hosts = iscsi_be_list_hosts,
	.list_clusters = iscsi_be_list_clusters,
	.disconnect = iscsi_be_disconnect,
	.destroy = iscsi_be_destroy,
};
