/* The lease record of a datastore's protectedlist as the lease state machine
 * (fdm/core/lease.c) and the datastore codec (datastore/ds.c) both see it: a plain
 * value, shared so that neither includes the other. */
#ifndef FDM_LIB_LEASE_RECORD_H
#define FDM_LIB_LEASE_RECORD_H

#include <stdint.h>

#define FDM_LEASE_ID_MAX 64

struct fdm_lease_rec {
	char owner[FDM_LEASE_ID_MAX];  /* host id; "" = free (released) */
	uint64_t generation;           /* +1 on every acquisition */
	uint64_t renewal;              /* +1 on every renewal */
	uint64_t nonce;                /* random per acquisition attempt */
	/* The writer's timing (DESIGN.md point 1): a contender waits the larger of
	 * its own and these. 0: not recorded (then the reader's own apply). */
	uint32_t io_timeout_ms;
	uint32_t expiry_ms;
};

/* What one read of the lease record found. */
enum fdm_lease_view_kind {
	FDM_LEASE_VIEW_EMPTY,          /* never written: free */
	FDM_LEASE_VIEW_VALID,
	FDM_LEASE_VIEW_CORRUPT,        /* something there, no valid slot: not free */
};

struct fdm_lease_view {
	enum fdm_lease_view_kind kind;
	struct fdm_lease_rec rec;      /* VALID only */
	uint32_t fingerprint;          /* CRC32C of the raw bytes read: any write changes it */
};

#endif
