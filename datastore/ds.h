/* libfdmds: one interface to a shared datastore, whatever its kind:
 *   file:///path                  a directory on a mounted shared filesystem
 *   nfs://address/export[/dir]    NFSv3 through libnfs, nothing mounted
 *   iscsi://address/iqn/lun       a raw LUN through libiscsi (layout in ds_iscsi.c)
 * Records live under <root>/.fdm-ha/<cluster id>/ (INTERFACE.md "On a datastore"):
 * `identity`, `protectedlist` (the lease record and the protected VM list),
 * `host-<id>-hb`, `host-<id>-poweron`; each is framed, checksummed and
 * authenticated by record.h, and (but the identity) kept in two slots.
 *
 * Initialised explicitly. A datastore is used only once `fdm_ds_init`
 * (`fdmctl datastore init URL`) has written its identity record naming the
 * cluster. Every call that reads or writes records checks that record first
 * (once per connection: for file:// per identity of the cluster folder, see
 * ds_file.c) and, when it is missing or not this cluster's, returns
 * FDM_DS_UNINITIALIZED having created and written nothing: an unmounted
 * filesystem, an NFS path on the wrong export or a blank LUN is never taken for
 * a datastore on which the lease is free.
 *
 * Deadlines. The calls are synchronous and bounded. Every deadline is an
 * absolute CLOCK_BOOTTIME time in ms (lib/util.h fdm_now_boottime_ms, the
 * agent's clock: the agent passes "decision time + io_timeout"), normally
 * fdm_ds_deadline(). A call that is not done by its deadline, or that completes
 * after it whatever it got, returns FDM_DS_TIMEOUT (DESIGN.md point 1: an I/O
 * that completes later than issue + io_timeout counts as failed). On a timeout
 * nfs:// and iscsi:// destroy their connection, so nothing sent on it can be
 * resent later, and reconnect on the next call. file:// cannot abort a read or
 * write stuck in the kernel: the call returns when the kernel does and then
 * reports the timeout. A handle is used by one thread at a time; dsio.h runs one
 * per datastore on its own worker thread so that the agent's event loop never
 * waits for storage. */
#ifndef FDM_DS_H
#define FDM_DS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/lease_record.h"
#include "datastore/record.h"
#include "proto/fdm.pb-c.h"

#define FDM_DS_ID_MAX 64

/* The records of a datastore. HB and POWERON exist once per host. */
enum fdm_ds_rec {
	FDM_DS_REC_LEASE,      /* protectedlist, lease part (4 KiB slots) */
	FDM_DS_REC_VMLIST,     /* protectedlist, VM part (4 MiB slots) */
	FDM_DS_REC_HB,         /* host-<id>-hb (4 KiB slots) */
	FDM_DS_REC_POWERON,    /* host-<id>-poweron (64 KiB slots) */
	FDM_DS_REC_IDENTITY,   /* identity (one 4 KiB slot, written by fdm_ds_init) */
	FDM_DS_REC_COUNT
};

/* Slot sizes. The VM list holds about 1000 VMs of 4 KiB of domain XML each, or
 * 500 of 8 KiB: FDM_DS_VMLIST_SLOT minus the 124-byte frame, protobuf-encoded. */
#define FDM_DS_LEASE_SLOT    4096u
#define FDM_DS_VMLIST_SLOT   (4u << 20)
#define FDM_DS_HB_SLOT       4096u
#define FDM_DS_POWERON_SLOT  (64u << 10)
#define FDM_DS_IDENTITY_SLOT 4096u

enum fdm_ds_status {
	FDM_DS_OK = 0,
	FDM_DS_EMPTY,          /* read: never written */
	FDM_DS_CORRUPT,        /* read: something there, no valid slot (rec_err: why);
				* file://: a FIFO, device or directory in a record's
				* place (FDM_REC_NOT_A_FILE), never read or written */
	FDM_DS_TIMEOUT,        /* not done by the deadline (connection dropped) */
	FDM_DS_IO,             /* the server or disk failed the request (msg) */
	FDM_DS_TOO_BIG,        /* write larger than its slot */
	FDM_DS_CLAIMING,       /* iscsi: this host's slot claim is being confirmed;
				* retry the write after 2 x io_timeout */
	FDM_DS_UNINITIALIZED,  /* no identity record for this cluster: never
				* initialised (fdmctl datastore init), or not the
				* filesystem/export/LUN it should be; nothing written */
	FDM_DS_STATUS_COUNT
};

const char *fdm_ds_status_name(enum fdm_ds_status s);

struct fdm_ds_result {
	enum fdm_ds_status status;
	/* CORRUPT: why the newest slot was refused. OK: a damaged slot that was
	 * passed over (the other one was valid), or FDM_REC_OK. */
	enum fdm_rec_err rec_err;
	int damaged_slot;      /* -1 none */
	/* EMPTY: the record's file exists but holds only zeros or nothing (file,
	 * nfs); fdm-inspect names it. A missing file is just "never written". */
	bool present;
	char msg[512];         /* one line naming the datastore and the record */
};

struct fdm_ds_params {
	const char *cluster;           /* [cluster] id */
	const uint8_t *key;            /* cluster key, key_len bytes */
	size_t key_len;
	const char *host;              /* this host's id ("" for read-only tools) */
	uint32_t io_timeout_ms;
	uint64_t incarnation;          /* written in hb records (agent start, unix ms) */
};

struct fdm_ds;

/* Parse the URL and prepare a handle; no I/O (the first call connects). Returns
 * 0, or -1 with one line in err (bad URL, unknown scheme). */
int fdm_ds_open(const char *url, const struct fdm_ds_params *p, struct fdm_ds **out,
		char *err, size_t errlen);
void fdm_ds_close(struct fdm_ds *ds);

const char *fdm_ds_url(const struct fdm_ds *ds);
uint32_t fdm_ds_io_timeout(const struct fdm_ds *ds);
/* now + io_timeout on CLOCK_BOOTTIME (ms). */
uint64_t fdm_ds_deadline(const struct fdm_ds *ds);

/* Counters, for logs and `fdmctl datastores`. */
struct fdm_ds_stats {
	uint64_t reads, writes, timeouts, errors, reconnects;
	uint64_t corrupt_slots;                    /* slots refused, all reasons */
	uint64_t rejected[FDM_REC_ERR_COUNT];      /* ... by reason (record.h) */
};
void fdm_ds_get_stats(const struct fdm_ds *ds, struct fdm_ds_stats *out);

/* Drop the connection now (nfs, iscsi); the next call reconnects (and checks
 * the identity again). */
void fdm_ds_disconnect(struct fdm_ds *ds);

/* ---- the identity record (DatastoreIdentity in proto/fdm.proto) */
struct fdm_ds_identity {
	char cluster[FDM_REC_CLUSTER_MAX];
	uint8_t uuid[16];
	char uuid_text[37];            /* 8-4-4-4-12 hex */
	uint64_t created_unix_ms;
	uint32_t format_version;
	char created_by[128];
};
#define FDM_DS_FORMAT_VERSION 1

/* Initialise the datastore for the handle's cluster: file:// and nfs:// create
 * .fdm-ha/<cluster>/ (the URL's directory itself must exist: it is never
 * created), iscsi:// formats a blank LUN; then the identity record is written
 * (a fresh random uuid) and read back. Idempotent: a datastore that already
 * holds this cluster's identity is left alone (*created false). Refused
 * (FDM_DS_UNINITIALIZED, msg names the owner) when it holds another cluster's
 * identity or LUN format, or an identity that does not verify with this key;
 * nothing is overwritten then. created_by: free text kept in the record. */
enum fdm_ds_status fdm_ds_init(struct fdm_ds *ds, const char *created_by, uint64_t deadline,
			       struct fdm_ds_identity *out, bool *created,
			       struct fdm_ds_result *res);
/* Read and verify the identity (fdm-inspect); FDM_DS_UNINITIALIZED when it is
 * missing or not this cluster's (msg says why and how to initialise). */
enum fdm_ds_status fdm_ds_identity_read(struct fdm_ds *ds, uint64_t deadline,
					struct fdm_ds_identity *out, struct fdm_ds_result *res);

/* ---- the lease (the small part of protectedlist, renewed every io) */
enum fdm_ds_status fdm_ds_lease_read(struct fdm_ds *ds, uint64_t deadline,
				     struct fdm_lease_view *out, struct fdm_ds_result *res);
/* Writes the slot after the one the last lease read found current. Several
 * hosts write this record: the slot is taken from a read since this handle's
 * last write (the lease state machine always reads first), or the write reads
 * first itself. written_unix_ms is filled in here. */
enum fdm_ds_status fdm_ds_lease_write(struct fdm_ds *ds, uint64_t deadline,
				      const struct fdm_lease_rec *rec, struct fdm_ds_result *res);
/* The full decoded lease record, with written_unix_ms (fdm-inspect). */
enum fdm_ds_status fdm_ds_lease_read_full(struct fdm_ds *ds, uint64_t deadline,
					  Fdm__LeaseRecord **out, uint32_t *fingerprint,
					  struct fdm_ds_result *res);

/* ---- this host's storage heartbeat; the counter continues from what is on disk */
struct fdm_ds_hb {
	char host[FDM_DS_ID_MAX];
	uint64_t counter;
	uint64_t incarnation;
	uint64_t written_unix_ms;      /* display only: writer's wall clock */
	uint32_t fingerprint;          /* changes with every write */
};
enum fdm_ds_status fdm_ds_hb_write(struct fdm_ds *ds, uint64_t deadline, struct fdm_ds_result *res);
enum fdm_ds_status fdm_ds_hb_read(struct fdm_ds *ds, const char *host, uint64_t deadline,
				  struct fdm_ds_hb *out, struct fdm_ds_result *res);

/* ---- poweron records (rec->host must be this host; counter and time filled in) */
enum fdm_ds_status fdm_ds_poweron_write(struct fdm_ds *ds, Fdm__PowerOnRecord *rec,
					uint64_t deadline, struct fdm_ds_result *res);
/* *out: free with fdm__power_on_record__free_unpacked(*out, NULL). */
enum fdm_ds_status fdm_ds_poweron_read(struct fdm_ds *ds, const char *host, uint64_t deadline,
				       Fdm__PowerOnRecord **out, struct fdm_ds_result *res);

/* ---- the protected VM list (written by the lease holder only; like the lease,
 * each write reads the record first unless a read since the last write did) */
enum fdm_ds_status fdm_ds_vmlist_write(struct fdm_ds *ds, Fdm__ProtectedList *list,
				       uint64_t deadline, struct fdm_ds_result *res);
enum fdm_ds_status fdm_ds_vmlist_read(struct fdm_ds *ds, uint64_t deadline,
				      Fdm__ProtectedList **out, struct fdm_ds_result *res);

/* ---- any record by name: the body is the packed protobuf message of its kind */
const char *fdm_ds_rec_name(enum fdm_ds_rec rec);   /* "protectedlist", "hb", ... */
/* "protectedlist", "protectedlist:lease", "host-<id>-hb", "host-<id>-poweron". */
void fdm_ds_record_label(enum fdm_ds_rec rec, const char *host, char *out, size_t len);
/* Write rec (of this host for HB and POWERON) with body as its protobuf body. */
enum fdm_ds_status fdm_ds_write_body(struct fdm_ds *ds, enum fdm_ds_rec rec,
				     const uint8_t *body, size_t len, uint64_t deadline,
				     struct fdm_ds_result *res);
/* Read rec and unpack it: *out is a ProtobufCMessage of the record's type (free
 * with protobuf_c_message_free_unpacked). */
enum fdm_ds_status fdm_ds_read_msg(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t deadline, ProtobufCMessage **out,
				   uint32_t *fingerprint, struct fdm_ds_result *res);

/* ---- who is there */
#define FDM_DS_MAX_LISTED 256
struct fdm_ds_hostlist {
	size_t n;
	char ids[FDM_DS_MAX_LISTED][FDM_DS_ID_MAX];
};
/* Hosts with an hb or poweron record (iscsi: with a claimed host slot). */
enum fdm_ds_status fdm_ds_list_hosts(struct fdm_ds *ds, uint64_t deadline,
				     struct fdm_ds_hostlist *out, struct fdm_ds_result *res);
/* Cluster ids with a folder (file, nfs) or the LUN's owner (iscsi), for
 * fdm-inspect --key. The ids are unauthenticated until a record verifies. */
enum fdm_ds_status fdm_ds_list_clusters(struct fdm_ds *ds, uint64_t deadline,
					struct fdm_ds_hostlist *out, struct fdm_ds_result *res);
/* Switch the cluster the handle reads (fdm-inspect --key with several). */
void fdm_ds_set_cluster(struct fdm_ds *ds, const char *cluster);

/* ---- raw access for tests and ds-tool: bytes of a record's area */
enum fdm_ds_status fdm_ds_raw_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t off, void *buf, size_t len, size_t *got,
				   uint64_t deadline, struct fdm_ds_result *res);
enum fdm_ds_status fdm_ds_raw_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    uint64_t off, const void *buf, size_t len,
				    uint64_t deadline, struct fdm_ds_result *res);
/* file, nfs: cut the record's file to len bytes (tests: a truncated record). */
enum fdm_ds_status fdm_ds_truncate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t len, uint64_t deadline, struct fdm_ds_result *res);
size_t fdm_ds_slot_size(enum fdm_ds_rec rec);

#endif
