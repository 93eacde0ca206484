/* Internal to the iscsi:// backend: the LUN layout, the backend's state, and
 * what its three files share.
 *   ds_iscsi.c         connection and bounded SCSI I/O; the backend's entry points
 *   ds_iscsi_layout.c  where each record lives; the format block (check, write)
 *   ds_iscsi_claims.c  which host region belongs to which host (slot claims)
 *
 * LUN layout (version 1; bytes; every offset and size a multiple of 4096, so
 * 512- and 4096-byte logical blocks both work; the LUN needs >= 43 MiB):
 *
 *   0          format block: a LunLayout record (kind LAYOUT, one slot), written
 *              by fdm_ds_init (`fdmctl datastore init`) on a blank LUN, never by
 *              an agent. A block 0 that is neither zero nor our exact layout is
 *              never overwritten: the LUN is refused ("not an fdm LUN", another
 *              cluster, another key).
 *   4 KiB      identity: a DatastoreIdentity record (kind IDENTITY, one slot),
 *              written by fdm_ds_init right after the format block
 *   1 MiB      lease: two 4 KiB slots           (file: protectedlist @ 0)
 *   2 MiB      VM list: two 4 MiB slots         (file: protectedlist @ 8 KiB)
 *   10 MiB     claim table: 128 blocks of 4 KiB, block i a HostSlotClaim naming
 *              the host that owns host region i
 *   11 MiB     host regions, 128 x 256 KiB; region i:
 *                +0       hb: two 4 KiB slots   (file: host-<id>-hb)
 *                +64 KiB  poweron: two 64 KiB slots (file: host-<id>-poweron)
 *   43 MiB     end */
#ifndef FDM_DS_ISCSI_H
#define FDM_DS_ISCSI_H

#include "datastore/ds_backend.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define LAYOUT_VERSION  1
#define MAX_HOSTS       128
#define IDENTITY_OFF    (4 * KIB)
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
	char portal[256];              /* numeric address[:port] */
	char target[256];
	int lun;
	struct iscsi_context *iscsi;   /* NULL: not connected */
	uint32_t block_size;
	uint64_t lun_bytes;
	bool blank;                    /* block 0 all zero (fdm_ds_init formats it) */
	char lun_cluster[FDM_REC_CLUSTER_MAX];  /* from the format block, unverified */
	/* The claim table as last read (hosts never give a region back). */
	char owners[MAX_HOSTS][FDM_DS_ID_MAX];
	enum claim_state claim;
	int my_slot;
	uint64_t claim_nonce;
	uint64_t claim_done_ms;        /* CLOCK_BOOTTIME */
};

static inline struct iscsi_be *iscsi_be_of(struct fdm_ds *ds) { return ds->priv; }

/* ds_iscsi.c: one SCSI read or write (FUA) of whole blocks, within deadline. */
enum fdm_ds_status fdm_iscsi_lun_io(struct fdm_ds *ds, bool write, uint64_t off, void *buf,
				    size_t len, uint64_t deadline, struct fdm_ds_result *res);

/* ds_iscsi_layout.c: read block 0 once connected: our layout, or (for_init) a
 * blank LUN; anything else is FDM_DS_UNINITIALIZED naming what is there. */
enum fdm_ds_status fdm_iscsi_check_format(struct fdm_ds *ds, bool for_init, uint64_t deadline,
					  struct fdm_ds_result *res);
/* fdm_ds_init: write the format block of a blank LUN. */
enum fdm_ds_status fdm_iscsi_format(struct fdm_ds *ds, uint64_t deadline,
				    struct fdm_ds_result *res);
/* Where rec of host starts on the LUN (write: of this host, claiming a region
 * if it has none: FDM_DS_CLAIMING meanwhile). *none: a read of a host that has
 * no region (nothing there). */
enum fdm_ds_status fdm_iscsi_locate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    bool write, uint64_t deadline, uint64_t *base, bool *none,
				    struct fdm_ds_result *res);

/* ds_iscsi_claims.c */
enum fdm_ds_status fdm_iscsi_read_claims(struct fdm_ds *ds, uint64_t deadline,
					 struct fdm_ds_result *res);
/* The region of host as last read, -1 none. */
int fdm_iscsi_slot_of(const struct iscsi_be *b, const char *host);
/* This host's region, or FDM_DS_CLAIMING while a claim waits for its re-read. */
enum fdm_ds_status fdm_iscsi_own_slot(struct fdm_ds *ds, uint64_t deadline,
				      struct fdm_ds_result *res);

#endif
