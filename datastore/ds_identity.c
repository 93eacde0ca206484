/* The identity record of a datastore (DESIGN.md "Datastores"): one 4 KiB slot,
 * framed and authenticated like every record (kind IDENTITY, slot generation 1),
 * body a DatastoreIdentity naming the cluster, a random uuid, the creation time
 * and the format version. file:// and nfs:// keep it in
 * <root>/.fdm-ha/<cluster>/identity, iscsi:// in the block after the format block.
 *
 * Only fdm_ds_init writes it, and only where there is none: an agent never
 * creates the cluster folder, formats a LUN or writes any record until the check
 * here has found this cluster's identity on the current connection. So a
 * file:// path whose filesystem is not mounted, an NFS path on the wrong export
 * or a blank LUN reads as "uninitialized", never as a datastore whose lease is
 * free. */
#include "datastore/ds_backend.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* What the identity slot held: why (FDM_REC_OK: valid and ours) and the
 * cluster its header or body names (unauthenticated unless why is OK). */
struct found {
	enum fdm_rec_err why;
	char owner[FDM_REC_CLUSTER_MAX];
	struct fdm_ds_identity id;
};

static void uuid_text(const uint8_t u[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 15];
	}
	out[o] = '\0';
}

/* The body of a slot that authenticated: this cluster's, a uuid, our format. */
static enum fdm_rec_err check_body(struct fdm_ds *ds, const struct fdm_rec_view *v,
				   struct found *f)
{
	Fdm__DatastoreIdentity *m = fdm__datastore_identity__unpack(NULL, v->body_len, v->body);
	enum fdm_rec_err e = FDM_REC_OK;

	if (m == NULL)
		return FDM_REC_BAD_BODY;
	fdm_strlcpy(f->owner, m->cluster, sizeof(f->owner));
	if (m->uuid.len != sizeof(f->id.uuid))
		e = FDM_REC_BAD_BODY;
	else if (strcmp(m->cluster, ds->auth.cluster) != 0)
		e = FDM_REC_WRONG_CLUSTER;
	else if (m->format_version != FDM_DS_FORMAT_VERSION)
		e = FDM_REC_BAD_VERSION;
	if (e == FDM_REC_OK) {
		fdm_strlcpy(f->id.cluster, m->cluster, sizeof(f->id.cluster));
		memcpy(f->id.uuid, m->uuid.data, sizeof(f->id.uuid));
		uuid_text(f->id.uuid, f->id.uuid_text);
		f->id.created_unix_ms = m->created_unix_ms;
		f->id.format_version = m->format_version;
		fdm_strlcpy(f->id.created_by, m->created_by != NULL ? m->created_by : "",
			    sizeof(f->id.created_by));
	}
	fdm__datastore_identity__free_unpacked(m, NULL);
	return e;
}

/* Read the identity slot on the current connection. FDM_DS_OK: f says what
 * was there (FDM_REC_EMPTY: nothing). */
static enum fdm_ds_status read_identity(struct fdm_ds *ds, uint64_t deadline, struct found *f,
					struct fdm_ds_result *res)
{
	uint8_t *buf = fdm_ds_alloc_aligned(FDM_DS_IDENTITY_SLOT);
	struct fdm_rec_view v;
	enum fdm_ds_status st;
	size_t got = 0;

	memset(f, 0, sizeof(*f));
	if (buf == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	st = fdm_ds_be_read(ds, FDM_DS_REC_IDENTITY, "", 0, buf, FDM_DS_IDENTITY_SLOT, &got,
			    deadline, res);
	if (st == FDM_DS_CORRUPT) {
		f->why = res->rec_err;      /* not a regular file */
		st = FDM_DS_OK;
	} else if (st == FDM_DS_OK) {
		fdm_rec_cluster_of(buf, got, f->owner);
		f->why = fdm_rec_decode(&ds->auth, buf, got, FDM_DS_IDENTITY_SLOT,
					FDM_REC_KIND_IDENTITY, &v);
		if (f->why == FDM_REC_OK)
			f->why = check_body(ds, &v, f);
		else if (f->why == FDM_REC_WRONG_CLUSTER)
			fdm_strlcpy(f->owner, v.cluster, sizeof(f->owner));
	}
	free(buf);
	if (st == FDM_DS_OK)
		fdm_ds_result_clear(res);
	return st;
}

/* Why f is not this cluster's identity, for an operator. */
static enum fdm_ds_status not_ours(struct fdm_ds *ds, const struct found *f, bool init,
				   struct fdm_ds_result *res)
{
	const char *owner = fdm_ds_valid_id(f->owner) ? f->owner : NULL;

	res->rec_err = f->why;
	if (f->why == FDM_REC_EMPTY)
		return fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED,
				   "no identity record for cluster %s (never initialised, or not "
				   "the filesystem, export or LUN it should be): nothing written; "
				   "initialise it once with `fdmctl datastore init %.150s`",
				   ds->auth.cluster, ds->url);
	if (f->why == FDM_REC_WRONG_CLUSTER && owner != NULL)
		return fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED,
				   "belongs to cluster %s, not %s%s", owner, ds->auth.cluster,
				   init ? ": refusing to take it over" : ": nothing written");
	if (f->why == FDM_REC_BAD_MAC && owner != NULL)
		return fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED,
				   "identity record of cluster \"%s\" does not verify with this key "
				   "(another cluster of that name, or another key)%s", owner,
				   init ? ": refusing to take it over" : ": nothing written");
	return fdm_ds_fail(ds, res, FDM_DS_UNINITIALIZED, "identity record: %s%s",
			   fdm_rec_err_name(f->why),
			   init ? ": refusing to overwrite it (remove it by hand to start afresh)"
				: ": nothing written");
}

enum fdm_ds_status fdm_ds_check_identity(struct fdm_ds *ds, uint64_t deadline,
					 struct fdm_ds_identity *out, struct fdm_ds_result *res)
{
	struct found f;
	enum fdm_ds_status st = read_identity(ds, deadline, &f, res);

	if (st != FDM_DS_OK)
		return st;
	if (f.why != FDM_REC_OK)
		return not_ours(ds, &f, false, res);
	ds->identity_gen = ds->conn_gen;
	if (out != NULL)
		*out = f.id;
	return FDM_DS_OK;
}

enum fdm_ds_status fdm_ds_identity_read(struct fdm_ds *ds, uint64_t deadline,
					struct fdm_ds_identity *out, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;

	fdm_ds_result_clear(res);
	memset(out, 0, sizeof(*out));
	st = ds->be->connect(ds, false, deadline, res);
	if (st == FDM_DS_OK)
		st = fdm_ds_check_identity(ds, deadline, out, res);
	return fdm_ds_finish(ds, deadline, st, res);
}

/* ------------------------------------------------------------ init */

static enum fdm_ds_status write_identity(struct fdm_ds *ds, const char *created_by,
					 uint64_t deadline, struct fdm_ds_result *res)
{
	Fdm__DatastoreIdentity m = FDM__DATASTORE_IDENTITY__INIT;
	uint8_t uuid[16], body[512], *buf;
	char by[128];
	enum fdm_ds_status st;

	if (RAND_bytes(uuid, sizeof(uuid)) != 1)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "no random bytes for the datastore uuid");
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);   /* RFC 4122 version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
	fdm_strlcpy(by, created_by != NULL ? created_by : "", sizeof(by));
	m.cluster = ds->auth.cluster;
	m.uuid.data = uuid;
	m.uuid.len = sizeof(uuid);
	m.created_unix_ms = fdm_now_unix_ms();
	m.format_version = FDM_DS_FORMAT_VERSION;
	m.created_by = by;
	buf = fdm_ds_alloc_aligned(FDM_DS_IDENTITY_SLOT);
	if (buf == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	fdm_rec_encode(&ds->auth, FDM_REC_KIND_IDENTITY, 1, body,
		       fdm__datastore_identity__pack(&m, body), buf, FDM_DS_IDENTITY_SLOT);
	st = fdm_ds_be_write(ds, FDM_DS_REC_IDENTITY, "", 0, buf, FDM_DS_IDENTITY_SLOT,
			     deadline, res);
	free(buf);
	return st;
}

enum fdm_ds_status fdm_ds_init(struct fdm_ds *ds, const char *created_by, uint64_t deadline,
			       struct fdm_ds_identity *out, bool *created,
			       struct fdm_ds_result *res)
{
	struct found f;
	enum fdm_ds_status st;

	fdm_ds_result_clear(res);
	memset(out, 0, sizeof(*out));
	*created = false;
	st = ds->be->connect(ds, true, deadline, res);
	if (st == FDM_DS_OK)
		st = read_identity(ds, deadline, &f, res);
	if (st == FDM_DS_OK && f.why != FDM_REC_OK && f.why != FDM_REC_EMPTY)
		st = not_ours(ds, &f, true, res);
	if (st == FDM_DS_OK && f.why == FDM_REC_EMPTY) {
		st = ds->be->prepare(ds, deadline, res);
		if (st == FDM_DS_OK)
			st = write_identity(ds, created_by, deadline, res);
		/* Read back what is there now: two inits at once both succeed,
		 * and report the uuid that stayed. */
		if (st == FDM_DS_OK)
			st = read_identity(ds, deadline, &f, res);
		if (st == FDM_DS_OK && f.why != FDM_REC_OK)
			st = not_ours(ds, &f, true, res);
		*created = st == FDM_DS_OK;
	}
	if (st == FDM_DS_OK) {
		ds->identity_gen = ds->conn_gen;
		*out = f.id;
	}
	return fdm_ds_finish(ds, deadline, st, res);
}
