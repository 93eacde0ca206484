/* The typed records of ds.h (lease, hb, poweron, VM list, any record by name),
 * each one call framed by fdm_ds_begin (connect, identity) and fdm_ds_finish
 * (late is a timeout) around the two-slot reads and writes of ds_slots.c. */
#include "datastore/ds_backend.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* ------------------------------------------------------------ any record */

/* A message that a late finish turned into a failure is not handed out. */
static enum fdm_ds_status finish_msg(struct fdm_ds *ds, uint64_t deadline, enum fdm_ds_status st,
				     ProtobufCMessage **out, struct fdm_ds_result *res)
{
	st = fdm_ds_finish(ds, deadline, st, res);
	if (st != FDM_DS_OK && *out != NULL) {
		protobuf_c_message_free_unpacked(*out, NULL);
		*out = NULL;
	}
	return st;
}

enum fdm_ds_status fdm_ds_read_msg(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t deadline, ProtobufCMessage **out,
				   uint32_t *fingerprint, struct fdm_ds_result *res)
{
	enum fdm_ds_status st = fdm_ds_begin(ds, deadline, res);

	*out = NULL;
	if (fingerprint != NULL)
		*fingerprint = 0;
	if (st == FDM_DS_OK)
		st = fdm_ds_slots_read_msg(ds, rec, host, deadline, out, fingerprint, res);
	return finish_msg(ds, deadline, st, out, res);
}

enum fdm_ds_status fdm_ds_write_body(struct fdm_ds *ds, enum fdm_ds_rec rec,
				     const uint8_t *body, size_t len, uint64_t deadline,
				     struct fdm_ds_result *res)
{
	enum fdm_ds_status st = fdm_ds_begin(ds, deadline, res);

	if (st == FDM_DS_OK)
		st = fdm_ds_slots_write(ds, rec, body, len, deadline, res);
	return fdm_ds_finish(ds, deadline, st, res);
}

static enum fdm_ds_status write_msg(struct fdm_ds *ds, enum fdm_ds_rec rec,
				    const ProtobufCMessage *m, uint64_t deadline,
				    struct fdm_ds_result *res)
{
	enum fdm_ds_status st = fdm_ds_begin(ds, deadline, res);

	if (st == FDM_DS_OK)
		st = fdm_ds_slots_write_msg(ds, rec, m, deadline, res);
	return fdm_ds_finish(ds, deadline, st, res);
}

/* ------------------------------------------------------------ the lease */

enum fdm_ds_status fdm_ds_lease_read_full(struct fdm_ds *ds, uint64_t deadline,
					  Fdm__LeaseRecord **out, uint32_t *fingerprint,
					  struct fdm_ds_result *res)
{
	return fdm_ds_read_msg(ds, FDM_DS_REC_LEASE, "", deadline, (ProtobufCMessage **)out,
			       fingerprint, res);
}

enum fdm_ds_status fdm_ds_lease_read(struct fdm_ds *ds, uint64_t deadline,
				     struct fdm_lease_view *out, struct fdm_ds_result *res)
{
	Fdm__LeaseRecord *r;
	enum fdm_ds_status st;

	memset(out, 0, sizeof(*out));
	st = fdm_ds_lease_read_full(ds, deadline, &r, &out->fingerprint, res);
	/* Only what the slots held decides EMPTY or CORRUPT: an uninitialised
	 * datastore or a late answer is a failed read, never a free lease. */
	if (st == FDM_DS_EMPTY) {
		out->kind = FDM_LEASE_VIEW_EMPTY;
		return FDM_DS_OK;
	}
	if (st == FDM_DS_CORRUPT) {
		out->kind = FDM_LEASE_VIEW_CORRUPT;
		return FDM_DS_OK;
	}
	if (st != FDM_DS_OK)
		return st;
	out->kind = FDM_LEASE_VIEW_VALID;
	if (r->owner != NULL)
		fdm_strlcpy(out->rec.owner, r->owner, sizeof(out->rec.owner));
	out->rec.generation = r->generation;
	out->rec.renewal = r->renewal;
	out->rec.nonce = r->nonce;
	out->rec.io_timeout_ms = r->has_io_timeout_ms ? r->io_timeout_ms : 0;
	out->rec.expiry_ms = r->has_lease_expiry_ms ? r->lease_expiry_ms : 0;
	fdm__lease_record__free_unpacked(r, NULL);
	return FDM_DS_OK;
}

enum fdm_ds_status fdm_ds_lease_write(struct fdm_ds *ds, uint64_t deadline,
				      const struct fdm_lease_rec *rec, struct fdm_ds_result *res)
{
	Fdm__LeaseRecord r = FDM__LEASE_RECORD__INIT;
	char owner[FDM_LEASE_ID_MAX];

	fdm_strlcpy(owner, rec->owner, sizeof(owner));
	r.owner = owner;
	r.has_generation = r.has_renewal = r.has_nonce = r.has_written_unix_ms = true;
	r.generation = rec->generation;
	r.renewal = rec->renewal;
	r.nonce = rec->nonce;
	r.written_unix_ms = fdm_now_unix_ms();
	r.has_io_timeout_ms = rec->io_timeout_ms != 0;
	r.io_timeout_ms = rec->io_timeout_ms;
	r.has_lease_expiry_ms = rec->expiry_ms != 0;
	r.lease_expiry_ms = rec->expiry_ms;
	return write_msg(ds, FDM_DS_REC_LEASE, &r.base, deadline, res);
}

/* ------------------------------------------------------------ heartbeats */

static enum fdm_ds_status hb_unpack(Fdm__HostHeartbeatRecord *r, struct fdm_ds_hb *out)
{
	fdm_strlcpy(out->host, r->host, sizeof(out->host));
	out->counter = r->counter;
	out->incarnation = r->incarnation;
	out->written_unix_ms = r->written_unix_ms;
	fdm__host_heartbeat_record__free_unpacked(r, NULL);
	return FDM_DS_OK;
}

enum fdm_ds_status fdm_ds_hb_read(struct fdm_ds *ds, const char *host, uint64_t deadline,
				  struct fdm_ds_hb *out, struct fdm_ds_result *res)
{
	Fdm__HostHeartbeatRecord *r;
	enum fdm_ds_status st;

	memset(out, 0, sizeof(*out));
	st = fdm_ds_read_msg(ds, FDM_DS_REC_HB, host, deadline, (ProtobufCMessage **)&r,
			     &out->fingerprint, res);
	return st == FDM_DS_OK ? hb_unpack(r, out) : st;
}

enum fdm_ds_status fdm_ds_hb_write(struct fdm_ds *ds, uint64_t deadline, struct fdm_ds_result *res)
{
	Fdm__HostHeartbeatRecord r = FDM__HOST_HEARTBEAT_RECORD__INIT;
	enum fdm_ds_status st = fdm_ds_begin(ds, deadline, res);

	if (st == FDM_DS_OK && !ds->hb_counter_known) {
		/* The counter continues from what is on disk (an agent restart). */
		Fdm__HostHeartbeatRecord *old = NULL;

		st = fdm_ds_slots_read_msg(ds, FDM_DS_REC_HB, ds->host, deadline,
					   (ProtobufCMessage **)&old, NULL, res);
		if (st == FDM_DS_OK || st == FDM_DS_EMPTY || st == FDM_DS_CORRUPT) {
			ds->hb_counter = old != NULL ? old->counter : 0;
			ds->hb_counter_known = true;
			fdm_ds_result_clear(res);
			st = FDM_DS_OK;
		}
		if (old != NULL)
			fdm__host_heartbeat_record__free_unpacked(old, NULL);
	}
	if (st == FDM_DS_OK) {
		r.host = ds->host;
		r.counter = ++ds->hb_counter;
		r.has_incarnation = r.has_written_unix_ms = true;
		r.incarnation = ds->incarnation;
		r.written_unix_ms = fdm_now_unix_ms();
		st = fdm_ds_slots_write_msg(ds, FDM_DS_REC_HB, &r.base, deadline, res);
	}
	return fdm_ds_finish(ds, deadline, st, res);
}

/* ------------------------------------------------------------ poweron, VM list */

enum fdm_ds_status fdm_ds_poweron_write(struct fdm_ds *ds, Fdm__PowerOnRecord *rec,
					uint64_t deadline, struct fdm_ds_result *res)
{
	if (rec->host == NULL || strcmp(rec->host, ds->host) != 0) {
		fdm_ds_result_clear(res);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "poweron record must name this host (%s)",
				   ds->host);
	}
	rec->has_counter = rec->has_written_unix_ms = true;
	rec->counter = ++ds->poweron_counter;
	rec->written_unix_ms = fdm_now_unix_ms();
	return write_msg(ds, FDM_DS_REC_POWERON, &rec->base, deadline, res);
}

enum fdm_ds_status fdm_ds_poweron_read(struct fdm_ds *ds, const char *host, uint64_t deadline,
				       Fdm__PowerOnRecord **out, struct fdm_ds_result *res)
{
	return fdm_ds_read_msg(ds, FDM_DS_REC_POWERON, host, deadline, (ProtobufCMessage **)out,
			       NULL, res);
}

enum fdm_ds_status fdm_ds_vmlist_write(struct fdm_ds *ds, Fdm__ProtectedList *list,
				       uint64_t deadline, struct fdm_ds_result *res)
{
	list->has_written_unix_ms = true;
	list->written_unix_ms = fdm_now_unix_ms();
	return write_msg(ds, FDM_DS_REC_VMLIST, &list->base, deadline, res);
}

enum fdm_ds_status fdm_ds_vmlist_read(struct fdm_ds *ds, uint64_t deadline,
				      Fdm__ProtectedList **out, struct fdm_ds_result *res)
{
	return fdm_ds_read_msg(ds, FDM_DS_REC_VMLIST, "", deadline, (ProtobufCMessage **)out,
			       NULL, res);
}
