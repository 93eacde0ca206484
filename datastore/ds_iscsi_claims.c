/* iscsi://: which host region of the LUN belongs to which host (ds_iscsi.h).
 *
 * Claiming a host region: read the claim table; if a block names us, it is ours.
 * Otherwise write our claim (host, random nonce) into the first free block right
 * after that read, wait 2 x io_timeout, and re-read it: ours only if our exact
 * claim is still there (the delta lease's write-wait-read: two hosts starting at
 * once cannot both keep the block). The wait does not block: writes of our hb and
 * poweron return FDM_DS_CLAIMING until the re-read has confirmed the claim. A
 * claim block that fails to verify is never reused: reformat to reclaim. */
#include "datastore/ds_iscsi.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

enum fdm_ds_status fdm_iscsi_read_claims(struct fdm_ds *ds, uint64_t deadline,
					 struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	size_t len = (size_t)MAX_HOSTS * BLOCK;
	uint8_t *tab = fdm_ds_alloc_aligned(len);
	enum fdm_ds_status st;

	if (tab == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	st = fdm_iscsi_lun_io(ds, false, CLAIMS_OFF, tab, len, deadline, res);
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

int fdm_iscsi_slot_of(const struct iscsi_be *b, const char *host)
{
	for (int i = 0; i < MAX_HOSTS; i++)
		if (strcmp(b->owners[i], host) == 0)
			return i;
	return -1;
}

static enum fdm_ds_status write_claim(struct fdm_ds *ds, int slot, uint64_t deadline,
				      struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	Fdm__HostSlotClaim cl = FDM__HOST_SLOT_CLAIM__INIT;
	uint8_t body[128], *blk = fdm_ds_alloc_aligned(BLOCK);
	enum fdm_ds_status st;
	size_t n;

	if (blk == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	cl.host = ds->host;
	cl.nonce = fdm_ds_random_u64();
	cl.has_written_unix_ms = true;
	cl.written_unix_ms = fdm_now_unix_ms();
	n = fdm__host_slot_claim__pack(&cl, body);
	fdm_rec_encode(&ds->auth, FDM_REC_KIND_CLAIM, 1, body, n, blk, BLOCK);
	st = fdm_iscsi_lun_io(ds, true, CLAIMS_OFF + (uint64_t)slot * BLOCK, blk, BLOCK,
			      deadline, res);
	free(blk);
	/* Even a write that failed may have landed: wait and re-read as usual. */
	b->my_slot = slot;
	b->claim_nonce = cl.nonce;
	b->claim = CLAIM_WRITTEN;
	b->claim_done_ms = fdm_now_boottime_ms();
	return st;
}

enum fdm_ds_status fdm_iscsi_own_slot(struct fdm_ds *ds, uint64_t deadline,
				      struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	enum fdm_ds_status st;
	int free_slot = -1;

	if (b->claim == CLAIM_OWNED)
		return FDM_DS_OK;
	/* Write, wait 2 x io_timeout, re-read, as for the lease: any other
	 * claimant's read-then-write in flight when ours landed has landed too. */
	if (b->claim == CLAIM_WRITTEN &&
	    fdm_now_boottime_ms() < b->claim_done_ms + 2ull * ds->io_timeout_ms)
		return fdm_ds_fail(ds, res, FDM_DS_CLAIMING, "host slot %d claimed, confirming",
				   b->my_slot);
	st = fdm_iscsi_read_claims(ds, deadline, res);
	if (st != FDM_DS_OK)
		return st;
	if (b->claim == CLAIM_WRITTEN) {
		if (strcmp(b->owners[b->my_slot], ds->host) == 0) {
			/* Readers take the first block naming a host: so do we, should
			 * an earlier claim of ours (a write that timed out) have landed. */
			b->my_slot = fdm_iscsi_slot_of(b, ds->host);
			b->claim = CLAIM_OWNED;
			return FDM_DS_OK;
		}
		b->claim = CLAIM_NONE;   /* lost it: try another below */
		b->my_slot = -1;
	}
	b->my_slot = fdm_iscsi_slot_of(b, ds->host);
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
