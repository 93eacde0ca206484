/* What a datastore backend provides to the ds*.c files, and what those files
 * share. A backend connects (and says when a connection is new, so that the
 * identity is checked again) and moves bytes of a record's area (addressed by
 * record and host, offsets relative to the area) within a deadline; slots,
 * framing, authentication and the identity are ds*.c's. Internal to datastore/.
 *
 *   ds.c           open by URL, begin/finish of every call, shared helpers
 *   ds_identity.c  the identity record: the check every call makes, and init
 *   ds_slots.c     two-slot records: read both, pick the valid newest, write the other
 *   ds_records.c   the typed records (lease, hb, poweron, VM list) on top */
#ifndef FDM_DS_BACKEND_H
#define FDM_DS_BACKEND_H

#include "datastore/ds.h"

struct fdm_ds_slotcache {
	/* active/gen learnt from a read, or from our own write of a per-host
	 * record. For records several hosts write (lease, VM list) a write
	 * consumes it: the next write reads first (DESIGN.md "Datastores"). */
	bool known;
	int active;            /* slot readers take now, -1 none */
	uint64_t gen;
};

struct fdm_ds_backend;

struct fdm_ds {
	char url[512];
	struct fdm_rec_auth auth;
	char host[FDM_DS_ID_MAX];
	uint32_t io_timeout_ms;
	uint64_t incarnation;
	const struct fdm_ds_backend *be;
	void *priv;                                 /* the backend's state */
	/* Bumped by the backend on every new connection (file: whenever the
	 * cluster folder is another one than last time). */
	uint64_t conn_gen;
	/* The identity was verified on connection identity_gen (0: not yet). */
	uint64_t identity_gen;
	struct fdm_ds_slotcache cache[FDM_DS_REC_COUNT];   /* our own records */
	bool hb_counter_known;
	uint64_t hb_counter;
	uint64_t poweron_counter;
	struct fdm_ds_stats stats;
};

struct fdm_ds_backend {
	const char *scheme;                         /* "file://" */
	/* Parse what follows the scheme; no I/O. */
	int (*init)(struct fdm_ds *ds, const char *rest, char *err, size_t errlen);
	/* Make sure there is a connection (nfs: mount; iscsi: login and check the
	 * LUN's format block; file: look at the root and the cluster folder);
	 * ds->conn_gen++ when it is a new one. Never creates anything. for_init:
	 * a blank LUN is fine (fdm_ds_init formats it); otherwise it is
	 * FDM_DS_UNINITIALIZED. */
	enum fdm_ds_status (*connect)(struct fdm_ds *ds, bool for_init, uint64_t deadline,
				      struct fdm_ds_result *res);
	/* fdm_ds_init only, once connected: create the cluster folder (file, nfs)
	 * or write the format block of a blank LUN (iscsi). */
	enum fdm_ds_status (*prepare)(struct fdm_ds *ds, uint64_t deadline,
				      struct fdm_ds_result *res);
	/* Once connected. *got: bytes that exist (short at the end of a file, 0
	 * for none); the rest of buf is zeroed. res->present as ds.h says. A
	 * file that is not a regular file: FDM_DS_CORRUPT, FDM_REC_NOT_A_FILE. */
	enum fdm_ds_status (*read)(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t off, void *buf, size_t len, size_t *got,
				   uint64_t deadline, struct fdm_ds_result *res);
	enum fdm_ds_status (*write)(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    uint64_t off, const void *buf, size_t len,
				    uint64_t deadline, struct fdm_ds_result *res);
	enum fdm_ds_status (*truncate)(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				       uint64_t len, uint64_t deadline, struct fdm_ds_result *res);
	enum fdm_ds_status (*list_hosts)(struct fdm_ds *ds, uint64_t deadline,
					 struct fdm_ds_hostlist *out, struct fdm_ds_result *res);
	enum fdm_ds_status (*list_clusters)(struct fdm_ds *ds, uint64_t deadline,
					    struct fdm_ds_hostlist *out, struct fdm_ds_result *res);
	void (*disconnect)(struct fdm_ds *ds);
	void (*destroy)(struct fdm_ds *ds);
};

extern const struct fdm_ds_backend fdm_ds_file_backend;
extern const struct fdm_ds_backend fdm_ds_nfs_backend;
extern const struct fdm_ds_backend fdm_ds_iscsi_backend;

/* ------------------------------------------------------------ ds.c */

/* An empty result: status OK, no damaged slot, no message. */
void fdm_ds_result_clear(struct fdm_ds_result *res);

/* Set res to status with a message "URL: ...". Returns status. */
enum fdm_ds_status fdm_ds_fail(const struct fdm_ds *ds, struct fdm_ds_result *res,
			       enum fdm_ds_status status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Every public call that touches records: clear res, connect, check the
 * identity (unless verified on this connection) ... */
enum fdm_ds_status fdm_ds_begin(struct fdm_ds *ds, uint64_t deadline, struct fdm_ds_result *res);
/* ... and after it: a call that completed after its deadline is a timeout,
 * whatever it got (nfs, iscsi: the connection is dropped, as on any timeout);
 * counts errors. Returns the final status (also in res->status). */
enum fdm_ds_status fdm_ds_finish(struct fdm_ds *ds, uint64_t deadline, enum fdm_ds_status st,
				 struct fdm_ds_result *res);

/* The record table: name, frame kind, slot size, protobuf type, per host. */
struct fdm_ds_rec_def {
	const char *name;
	enum fdm_rec_kind kind;
	size_t slot;
	const ProtobufCMessageDescriptor *desc;
	bool per_host;
};
const struct fdm_ds_rec_def *fdm_ds_rec_def(enum fdm_ds_rec rec);

/* Backend I/O once connected (no identity check), counted in the stats. */
enum fdm_ds_status fdm_ds_be_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				  uint64_t off, void *buf, size_t len, size_t *got,
				  uint64_t deadline, struct fdm_ds_result *res);
enum fdm_ds_status fdm_ds_be_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t off, const void *buf, size_t len,
				   uint64_t deadline, struct fdm_ds_result *res);

/* A zeroed buffer aligned for O_DIRECT and SCSI (free()). */
void *fdm_ds_alloc_aligned(size_t len);

/* file and nfs: the file holding rec, and where the record's area starts in it. */
void fdm_ds_file_of(enum fdm_ds_rec rec, const char *host, char *name, size_t len,
		    uint64_t *base);
/* file and nfs: "host-<id>-hb" or "host-<id>-poweron" -> id; false otherwise. */
bool fdm_ds_host_of_file(const char *name, char *id, size_t len);
/* Add id to a list unless present. */
void fdm_ds_list_add(struct fdm_ds_hostlist *l, const char *id);
/* Valid cluster/host id characters (as the config's): safe in a file name. */
bool fdm_ds_valid_id(const char *s);
/* nfs, iscsi: a numeric IPv4 address, or an IPv6 one in brackets (host names
 * are refused: libnfs and libiscsi resolve them synchronously, unbounded). */
bool fdm_ds_numeric_host(const char *s);

/* A random nonce (iscsi slot claims). */
uint64_t fdm_ds_random_u64(void);

/* Milliseconds left until deadline (0 if past), on CLOCK_BOOTTIME. */
uint64_t fdm_ds_left(uint64_t deadline);
/* The deadline has passed: now > deadline. */
bool fdm_ds_past(uint64_t deadline);

/* ------------------------------------------------------------ ds_identity.c */

/* Read and verify the identity on the current connection; remember success. */
enum fdm_ds_status fdm_ds_check_identity(struct fdm_ds *ds, uint64_t deadline,
					 struct fdm_ds_identity *out, struct fdm_ds_result *res);

/* ------------------------------------------------------------ ds_slots.c */

/* A two-slot record read and checked; the picked slot's message is taken with
 * fdm_ds_slots_take. */
struct fdm_ds_slot {
	uint8_t *buf;
	size_t have;           /* bytes read */
	enum fdm_rec_err err;
	uint64_t gen;          /* valid when gen_known */
	bool gen_known;
	ProtobufCMessage *msg;
};
struct fdm_ds_picked {
	struct fdm_ds_slot s[2];
	int pick;              /* -1 none */
	uint32_t fingerprint;  /* CRC32C of both slots' bytes */
};
void fdm_ds_picked_free(struct fdm_ds_picked *p);

/* Once connected: read rec's two slots and pick (EMPTY, CORRUPT, OK). */
enum fdm_ds_status fdm_ds_slots_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				     uint64_t deadline, struct fdm_ds_picked *p,
				     struct fdm_ds_result *res);
/* ... and unpack: *out the picked message (OK only). */
enum fdm_ds_status fdm_ds_slots_read_msg(struct fdm_ds *ds, enum fdm_ds_rec rec,
					 const char *host, uint64_t deadline,
					 ProtobufCMessage **out, uint32_t *fingerprint,
					 struct fdm_ds_result *res);
/* Once connected: write body into the slot after the current one. */
enum fdm_ds_status fdm_ds_slots_write(struct fdm_ds *ds, enum fdm_ds_rec rec,
				      const uint8_t *body, size_t len, uint64_t deadline,
				      struct fdm_ds_result *res);
/* ... a protobuf message as the body. */
enum fdm_ds_status fdm_ds_slots_write_msg(struct fdm_ds *ds, enum fdm_ds_rec rec,
					  const ProtobufCMessage *m, uint64_t deadline,
					  struct fdm_ds_result *res);

#endif
