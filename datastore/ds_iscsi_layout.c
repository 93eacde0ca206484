/* iscsi://: the LUN layout (ds_iscsi.h): the format block at offset 0, checked on
 * every connection and written only by fdm_ds_init on a blank LUN, and where
 * each record lives. */
#include "datastore/ds_iscsi.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

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
	l->has_identity_offset = true;
	l->identity_offset = IDENTITY_OFF;
}

/* The identity offset may be absent (a LUN formatted before it existed): the
 * block is the same, and init writes the identity there. */
static bool layout_matches(const Fdm__LunLayout *l)
{
	Fdm__LunLayout want = FDM__LUN_LAYOUT__INIT;

	layout_of(&want, 0);
	return l->layout_version == want.layout_version && l->max_hosts == want.max_hosts &&
	       l->lease_offset == want.lease_offset && l->hosts_offset == want.hosts_offset &&
	       l->host_stride == want.host_stride && l->protected_offset == want.protected_offset &&
	       l->protected_slot_size == want.protected_slot_size &&
	       l->end_offset == want.end_offset && l->claims_offset == want.claims_offset &&
	       (!l->has_identity_offset || l->identity_offset == want.identity_offset);
}

enum fdm_ds_status fdm_iscsi_format(struct fdm_ds *ds, uint64_t deadline,
				    struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	Fdm__LunLayout l = FDM__LUN_LAYOUT__INIT;
	uint8_t body[128], *blk;
	enum fdm_ds_status st;
	size_t n;

	if (!b->blank)
		return FDM_DS_OK;
	blk = fdm_ds_alloc_aligned(BLOCK);
	if (blk == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	layout_of(&l, b->block_size);
	n = fdm__lun_layout__pack(&l, body);
	fdm_rec_encode(&ds->auth, FDM_REC_KIND_LAYOUT, 1, body, n, blk, BLOCK);
	st = fdm_iscsi_lun_io(ds, true, 0, blk, BLOCK, deadline, res);
	free(blk);
	if (st == FDM_DS_OK) {
		b->blank = false;
		fdm_strlcpy(b->lun_cluster, ds->auth.cluster, sizeof(b->lun_cluster));
	}
	return st;
}

/* A block 0 we did not write: name what it is, touch nothing. */
static enum fdm_ds_status foreign(struct fdm_ds *ds, enum fdm_rec_err e,
				  struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);

	res->rec_err = e;
	if (fdm_ds_valid_id(b->lun_cluster) && strcmp(b->lun_cluster, ds->auth.cluster) != 0)
		return fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED,
				   "LUN of cluster %s, not %s (format block: %s): nothing written",
				   b->lun_cluster, ds->auth.cluster, fdm_rec_err_name(e));
	if (fdm_ds_valid_id(b->lun_cluster))
		return fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED,
				   "LUN of a cluster named %s whose format block does not verify "
				   "with this key (%s): nothing written", b->lun_cluster,
				   fdm_rec_err_name(e));
	return fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED,
			   "not an fdm LUN (format block: %s): nothing written", fdm_rec_err_name(e));
}

enum fdm_ds_status fdm_iscsi_check_format(struct fdm_ds *ds, bool for_init, uint64_t deadline,
					  struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	uint8_t *blk = fdm_ds_alloc_aligned(BLOCK);
	struct fdm_rec_view v;
	Fdm__LunLayout *l;
	enum fdm_rec_err e;
	enum fdm_ds_status st;

	if (blk == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	b->blank = false;
	b->lun_cluster[0] = '\0';
	st = fdm_iscsi_lun_io(ds, false, 0, blk, BLOCK, deadline, res);
	if (st != FDM_DS_OK)
		goto out;
	fdm_rec_cluster_of(blk, BLOCK, b->lun_cluster);
	e = fdm_rec_decode(&ds->auth, blk, BLOCK, BLOCK, FDM_REC_KIND_LAYOUT, &v);
	if (e == FDM_REC_EMPTY) {
		b->blank = true;
		if (!for_init)
			st = fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED,
					 "blank LUN, not formatted for fdm: nothing written; "
					 "initialise it once with `fdmctl datastore init %.150s`",
					 ds->url);
		goto out;
	}
	if (e != FDM_REC_OK) {
		st = foreign(ds, e, res);
		goto out;
	}
	l = fdm__lun_layout__unpack(NULL, v.body_len, v.body);
	if (l == NULL || !layout_matches(l)) {
		res->rec_err = FDM_REC_BAD_BODY;
		st = fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED,
				 "format block: unsupported layout: nothing written");
	}
	if (l != NULL)
		fdm__lun_layout__free_unpacked(l, NULL);
out:
	free(blk);
	return st;
}

enum fdm_ds_status fdm_iscsi_locate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    bool write, uint64_t deadline, uint64_t *base, bool *none,
				    struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	enum fdm_ds_status st = FDM_DS_OK;
	int slot;

	*none = false;
	switch (rec) {
	case FDM_DS_REC_IDENTITY: *base = IDENTITY_OFF; return FDM_DS_OK;
	case FDM_DS_REC_LEASE: *base = LEASE_OFF; return FDM_DS_OK;
	case FDM_DS_REC_VMLIST: *base = VMLIST_OFF; return FDM_DS_OK;
	default: break;
	}
	if (write && strcmp(host, ds->host) == 0) {
		st = fdm_iscsi_own_slot(ds, deadline, res);
		slot = b->my_slot;
	} else {
		slot = fdm_iscsi_slot_of(b, host);
		if (slot < 0) {
			st = fdm_iscsi_read_claims(ds, deadline, res);
			slot = fdm_iscsi_slot_of(b, host);
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
