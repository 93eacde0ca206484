/* The frame of every record fdm keeps on a datastore, and the two-slot rule.
 *
 *   offset  size  field
 *        0     4  magic "FDMR"
 *        4     2  format version (1), big-endian like every integer here
 *        6     2  record kind (enum fdm_rec_kind)
 *        8     4  body length L
 *       12     4  reserved, zero
 *       16     8  slot generation: a writer puts generation+1 of the slot it read
 *                 as current into the other slot, so the newest valid slot wins
 *       24    64  cluster id, NUL padded
 *       88     L  body: a protobuf message of proto/fdm.proto
 *     88+L     4  CRC32C of bytes [0, 88+L): cheap check for torn and rotted data
 *     92+L    32  HMAC-SHA256 (cluster key) of bytes [0, 92+L): another cluster's
 *                 or a forged record is rejected
 *
 * A record lives in two slots of a fixed size, multiples of 4096 bytes so that
 * O_DIRECT and 512- or 4096-byte iSCSI sectors all work. A reader takes the valid
 * slot with the higher generation; a torn write only damages the slot being
 * written, so it is never read as valid and the older record stays readable. */
#ifndef FDM_DS_RECORD_H
#define FDM_DS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDM_REC_MAGIC      "FDMR"
#define FDM_REC_VERSION    1
#define FDM_REC_CLUSTER_MAX 64
#define FDM_REC_HEADER     88
#define FDM_REC_TRAILER    36      /* CRC32C + HMAC-SHA256 */
#define FDM_REC_OVERHEAD   (FDM_REC_HEADER + FDM_REC_TRAILER)
#define FDM_REC_ALIGN      4096u

enum fdm_rec_kind {
	FDM_REC_KIND_LEASE = 1,      /* LeaseRecord, in protectedlist */
	FDM_REC_KIND_VMLIST = 2,     /* ProtectedList, in protectedlist */
	FDM_REC_KIND_HEARTBEAT = 3,  /* HostHeartbeatRecord, host-<id>-hb */
	FDM_REC_KIND_POWERON = 4,    /* PowerOnRecord, host-<id>-poweron */
	FDM_REC_KIND_LAYOUT = 5,     /* LunLayout, iscsi format block */
	FDM_REC_KIND_CLAIM = 6,      /* HostSlotClaim, iscsi claim table */
	FDM_REC_KIND_IDENTITY = 7,   /* DatastoreIdentity, identity (one slot) */
};

/* Why a slot was not accepted, in the order the decoder checks (fdm-inspect
 * prints fdm_rec_err_name). */
enum fdm_rec_err {
	FDM_REC_OK = 0,
	FDM_REC_EMPTY,          /* nothing there: never written */
	FDM_REC_SHORT,          /* fewer bytes than the frame needs: truncated */
	FDM_REC_BAD_MAGIC,
	FDM_REC_BAD_VERSION,
	FDM_REC_BAD_LENGTH,     /* body length impossible for this slot */
	FDM_REC_BAD_CHECKSUM,
	FDM_REC_BAD_MAC,        /* forged, altered after the CRC, or another key */
	FDM_REC_WRONG_KIND,
	FDM_REC_BAD_BODY,       /* authenticated, but the protobuf does not decode */
	FDM_REC_WRONG_CLUSTER,
	FDM_REC_WRONG_HOST,     /* the body names another host than its file/slot */
	/* Found by the backend before any decoding: */
	FDM_REC_NOT_A_FILE,     /* file://: a FIFO, device or directory in its place */
	FDM_REC_ERR_COUNT
};

const char *fdm_rec_err_name(enum fdm_rec_err e);

/* Who may write records: the cluster id and its key (fdm_key_load). */
struct fdm_rec_auth {
	char cluster[FDM_REC_CLUSTER_MAX];
	uint8_t key[64];
	size_t key_len;
};

/* A decoded slot; body points into the caller's buffer. */
struct fdm_rec_view {
	enum fdm_rec_kind kind;
	uint64_t slot_gen;
	const uint8_t *body;
	size_t body_len;
	char cluster[FDM_REC_CLUSTER_MAX];   /* as found (set from WRONG_CLUSTER on) */
};

/* Bytes a record with a body of body_len takes, rounded up to FDM_REC_ALIGN. */
size_t fdm_rec_padded_size(size_t body_len);

/* Frame body into out (out_len bytes, zero-filled past the frame). Returns the
 * padded size written, or 0 when it does not fit. */
size_t fdm_rec_encode(const struct fdm_rec_auth *auth, enum fdm_rec_kind kind,
		      uint64_t slot_gen, const uint8_t *body, size_t body_len,
		      uint8_t *out, size_t out_len);

/* Check the header only (empty, magic, version, length within slot_size), for
 * ordering slots and sizing the rest of a read. On FDM_REC_OK sets *slot_gen and
 * *frame_len (header + body + trailer). len may be as small as FDM_REC_HEADER. */
enum fdm_rec_err fdm_rec_peek(const uint8_t *buf, size_t len, size_t slot_size,
			      uint64_t *slot_gen, size_t *frame_len);

/* Full check of one slot of len readable bytes (hostile input): every reason of
 * enum fdm_rec_err up to WRONG_CLUSTER. want_kind 0 accepts any kind. */
enum fdm_rec_err fdm_rec_decode(const struct fdm_rec_auth *auth, const uint8_t *buf,
				size_t len, size_t slot_size, enum fdm_rec_kind want_kind,
				struct fdm_rec_view *out);

/* The cluster id a slot claims to belong to (unauthenticated: for finding the
 * cluster folder or LUN owner with --key only). false if the header is not ours. */
bool fdm_rec_cluster_of(const uint8_t *buf, size_t len, char out[FDM_REC_CLUSTER_MAX]);

/* Of two decoded slots, which one readers take: the valid one with the higher
 * generation (slot 0 on a tie). -1 when neither is valid. */
int fdm_rec_pick(enum fdm_rec_err e0, uint64_t gen0, enum fdm_rec_err e1, uint64_t gen1);

#endif
