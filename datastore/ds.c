/* The datastore interface (ds.h): picks the backend by URL scheme, and keeps every
 * record in two slots. A read takes the valid slot with the higher generation; a
 * write goes to the other slot with generation + 1, so a torn write leaves the
 * previous record readable and is itself never read as valid (record.h). */
#include "datastore/ds_backend.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crc32c.h"
#include "lib/util.h"

static const char *const status_names[FDM_DS_STATUS_COUNT] = {
	[FDM_DS_OK] = "ok",
	[FDM_DS_EMPTY] = "never written",
	[FDM_DS_CORRUPT] = "corrupt",
	[FDM_DS_TIMEOUT] = "timeout",
	[FDM_DS_IO] = "I/O error",
	[FDM_DS_TOO_BIG] = "too big",
	[FDM_DS_CLAIMING] = "claiming host slot",
	[FDM_DS_UNINITIALIZED] = "uninitialized",
};

const char *fdm_ds_status_name(enum fdm_ds_status s)
{
	return (unsigned)s < FDM_DS_STATUS_COUNT ? status_names[s] : "?";
}

struct rec_def {
	const char *name;
	enum fdm_rec_kind kind;
	size_t slot;
	const ProtobufCMessageDescriptor *desc;
	bool per_host;
};

static const struct rec_def recs[FDM_DS_REC_COUNT] = {
	[FDM_DS_REC_LEASE] = { "protectedlist:lease", FDM_REC_KIND_LEASE, FDM_DS_LEASE_SLOT,
			       &fdm__lease_record__descriptor, false },
	[FDM_DS_REC_VMLIST] = { "protectedlist", FDM_REC_KIND_VMLIST, FDM_DS_VMLIST_SLOT,
				&fdm__protected_list__descriptor, false },
	[FDM_DS_REC_HB] = { "hb", FDM_REC_KIND_HEARTBEAT, FDM_DS_HB_SLOT,
			    &fdm__host_heartbeat_record__descriptor, true },
	[FDM_DS_REC_POWERON] = { "poweron", FDM_REC_KIND_POWERON, FDM_DS_POWERON_SLOT,
				 &fdm__power_on_record__descriptor, true },
};

const char *fdm_ds_rec_name(enum fdm_ds_rec rec)
{
	return (unsigned)rec < FDM_DS_REC_COUNT ? recs[rec].name : "?";
}

size_t fdm_ds_slot_size(enum fdm_ds_rec rec)
{
	return recs[rec].slot;
}

void fdm_ds_record_label(enum fdm_ds_rec rec, const char *host, char *out, size_t len)
{
	if (recs[rec].per_host)
		snprintf(out, len, "host-%s-%s", host, recs[rec].name);
	else
		snprintf(out, len, "%s", recs[rec].name);
}

/* ------------------------------------------------------------ shared helpers */

void fdm_ds_result_clear(struct fdm_ds_result *res)
{
	memset(res, 0, sizeof(*res));
	res->damaged_slot = -1;
}

enum fdm_ds_status fdm_ds_fail(const struct fdm_ds *ds, struct fdm_ds_result *res,
			       enum fdm_ds_status status, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	res->status = status;
	snprintf(res->msg, sizeof(res->msg), "%.200s: %s", ds->url, why);
	return status;
}

void fdm_ds_file_of(enum fdm_ds_rec rec, const char *host, char *name, size_t len,
		    uint64_t *base)
{
	*base = 0;
	switch (rec) {
	case FDM_DS_REC_LEASE:
		snprintf(name, len, "protectedlist");
		break;
	case FDM_DS_REC_VMLIST:
		/* After the two lease slots, in the same file. */
		snprintf(name, len, "protectedlist");
		*base = 2 * FDM_DS_LEASE_SLOT;
		break;
	default:
		fdm_ds_record_label(rec, host, name, len);
		break;
	}
}

bool fdm_ds_host_of_file(const char *name, char *id, size_t len)
{
	static const char *const suffixes[] = { "-hb", "-poweron" };
	size_t n = strlen(name);

	if (strncmp(name, "host-", 5) != 0)
		return false;
	for (size_t i = 0; i < 2; i++) {
		size_t sl = strlen(suffixes[i]);

		if (n > 5 + sl && strcmp(name + n - sl, suffixes[i]) == 0 &&
		    n - 5 - sl < len) {
			memcpy(id, name + 5, n - 5 - sl);
			id[n - 5 - sl] = '\0';
			return fdm_ds_valid_id(id);
		}
	}
	return false;
}

void fdm_ds_list_add(struct fdm_ds_hostlist *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->ids[i], id) == 0)
			return;
	if (l->n < FDM_DS_MAX_LISTED)
		fdm_strlcpy(l->ids[l->n++], id, FDM_DS_ID_MAX);
}

bool fdm_ds_valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= FDM_DS_ID_MAX)
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

uint64_t fdm_ds_left(uint64_t deadline)
{
	uint64_t now = fdm_now_mono_ms();

	return now < deadline ? deadline - now : 0;
}

/* ------------------------------------------------------------ open, close */

int fdm_ds_open(const char *url, const struct fdm_ds_params *p, struct fdm_ds **out,
		char *err, size_t errlen)
{
	static const struct fdm_ds_backend *const backends[] = {
		&fdm_ds_file_backend, &fdm_ds_nfs_backend, &fdm_ds_iscsi_backend,
	};
	struct fdm_ds *ds;

	*out = NULL;
	if (p->key_len == 0 || p->key_len > sizeof(ds->auth.key) ||
	    strlen(p->cluster) >= FDM_REC_CLUSTER_MAX || strlen(p->host) >= FDM_DS_ID_MAX) {
		snprintf(err, errlen, "%s: bad cluster id, host id or key length", url);
		return -1;
	}
	ds = calloc(1, sizeof(*ds));
	if (ds == NULL || !fdm_strlcpy(ds->url, url, sizeof(ds->url))) {
		snprintf(err, errlen, "%s: URL too long or out of memory", url);
		free(ds);
		return -1;
	}
	fdm_strlcpy(ds->auth.cluster, p->cluster, sizeof(ds->auth.cluster));
	memcpy(ds->auth.key, p->key, p->key_len);
	ds->auth.key_len = p->key_len;
	fdm_strlcpy(ds->host, p->host, sizeof(ds->host));
	ds->io_timeout_ms = p->io_timeout_ms;
	ds->incarnation = p->incarnation;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t sl = strlen(backends[i]->scheme);

		if (strncmp(url, backends[i]->scheme, sl) != 0)
			continue;
		ds->be = backends[i];
		if (ds->be->init(ds, url + sl, err, errlen) != 0) {
			free(ds);
			return -1;
		}
		*out = ds;
		return 0;
	}
	snprintf(err, errlen, "%s: unknown scheme (file://, nfs://, iscsi://)", url);
	free(ds);
	return -1;
}

void fdm_ds_close(struct fdm_ds *ds)
{
	if (ds == NULL)
		return;
	ds->be->destroy(ds);
	OPENSSL_cleanse(ds->auth.key, sizeof(ds->auth.key));
	free(ds);
}

const char *fdm_ds_url(const struct fdm_ds *ds) { return ds->url; }
uint32_t fdm_ds_io_timeout(const struct fdm_ds *ds) { return ds->io_timeout_ms; }

uint64_t fdm_ds_deadline(const struct fdm_ds *ds)
{
	return fdm_now_mono_ms() + ds->io_timeout_ms;
}

void fdm_ds_get_stats(const struct fdm_ds *ds, struct fdm_ds_stats *out)
{
	*out = ds->stats;
}

void fdm_ds_disconnect(struct fdm_ds *ds)
{
	ds->be->disconnect(ds);
}

void fdm_ds_set_cluster(struct fdm_ds *ds, const char *cluster)
{
	fdm_strlcpy(ds->auth.cluster, cluster, sizeof(ds->auth.cluster));
	memset(ds->cache, 0, sizeof(ds->cache));
	ds->hb_counter_known = false;
}

static void count(struct fdm_ds *ds, enum fdm_ds_status st)
{
	if (st == FDM_DS_TIMEOUT)
		ds->stats.timeouts++;
	else if (st == FDM_DS_IO)
		ds->stats.errors++;
}

/* ------------------------------------------------------------ raw access */

static void *alloc_aligned(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, FDM_REC_ALIGN, len) != 0)
		return NULL;
	memset(p, 0, len);
	return p;
}

enum fdm_ds_status fdm_ds_raw_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t off, void *buf, size_t len, size_t *got,
				   uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;

	fdm_ds_result_clear(res);
	*got = 0;
	ds->stats.reads++;
	st = ds->be->read(ds, rec, host, off, buf, len, got, deadline, res);
	count(ds, st);
	return st;
}

static enum fdm_ds_status backend_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
					uint64_t off, const void *buf, size_t len,
					uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;

	fdm_ds_result_clear(res);
	ds->stats.writes++;
	st = ds->be->write(ds, rec, host, off, buf, len, deadline, res);
	count(ds, st);
	return st;
}

enum fdm_ds_status fdm_ds_raw_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    uint64_t off, const void *buf, size_t len,
				    uint64_t deadline, struct fdm_ds_result *res)
{
	/* A raw write may overwrite our own records behind the cache's back. */
	memset(ds->cache, 0, sizeof(ds->cache));
	return backend_write(ds, rec, host, off, buf, len, deadline, res);
}

enum fdm_ds_status fdm_ds_truncate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t len, uint64_t deadline, struct fdm_ds_result *res)
{
	fdm_ds_result_clear(res);
	memset(ds->cache, 0, sizeof(ds->cache));
	if (ds->be->truncate == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "truncate: not possible on this backend");
	return ds->be->truncate(ds, rec, host, len, deadline, res);
}

/* ------------------------------------------------------------ two-slot records */

struct slot {
	uint8_t *buf;
	size_t have;           /* bytes read */
	enum fdm_rec_err err;
	uint64_t gen;          /* valid when peek passed */
	bool gen_known;
	ProtobufCMessage *msg;
};

struct picked {
	struct slot s[2];
	int pick;
	uint32_t fingerprint;
};

static void picked_free(struct picked *p)
{
	for (int i = 0; i < 2; i++) {
		free(p->s[i].buf);
		if (p->s[i].msg != NULL)
			protobuf_c_message_free_unpacked(p->s[i].msg, NULL);
	}
	memset(p, 0, sizeof(*p));
}

static const char *body_host(enum fdm_ds_rec rec, const ProtobufCMessage *m)
{
	if (rec == FDM_DS_REC_HB)
		return ((const Fdm__HostHeartbeatRecord *)m)->host;
	if (rec == FDM_DS_REC_POWERON)
		return ((const Fdm__PowerOnRecord *)m)->host;
	return NULL;
}

/* Full check of one slot: frame, then the protobuf body, then its host. */
static void check_slot(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
		       struct slot *s)
{
	struct fdm_rec_view v;
	const char *h;
	size_t frame;

	s->gen_known = fdm_rec_peek(s->buf, s->have, recs[rec].slot, &s->gen, &frame) == FDM_REC_OK;
	s->err = fdm_rec_decode(&ds->auth, s->buf, s->have, recs[rec].slot, recs[rec].kind, &v);
	if (s->err != FDM_REC_OK)
		return;
	s->msg = protobuf_c_message_unpack(recs[rec].desc, NULL, v.body_len, v.body);
	if (s->msg == NULL) {
		s->err = FDM_REC_BAD_BODY;
		return;
	}
	h = body_host(rec, s->msg);
	if (h != NULL && strcmp(h, host) != 0)
		s->err = FDM_REC_WRONG_HOST;
}

/* Read the head of each slot (both at once for 4 KiB slots), then what the
 * header says is left. */
static enum fdm_ds_status read_slots(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				     uint64_t deadline, struct picked *p, struct fdm_ds_result *res)
{
	size_t slot = recs[rec].slot, head = FDM_REC_ALIGN, got;
	enum fdm_ds_status st;

	for (int i = 0; i < 2; i++) {
		p->s[i].buf = alloc_aligned(slot == head ? 2 * head : head);
		if (p->s[i].buf == NULL)
			return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	}
	if (slot == head) {
		st = fdm_ds_raw_read(ds, rec, host, 0, p->s[0].buf, 2 * head, &got, deadline, res);
		if (st != FDM_DS_OK)
			return st;
		p->s[0].have = got < head ? got : head;
		p->s[1].have = got > head ? got - head : 0;
		memcpy(p->s[1].buf, p->s[0].buf + head, head);
		return FDM_DS_OK;
	}
	for (int i = 0; i < 2; i++) {
		struct slot *s = &p->s[i];
		uint64_t gen;
		size_t frame, rest;
		uint8_t *big;

		st = fdm_ds_raw_read(ds, rec, host, (uint64_t)i * slot, s->buf, head, &s->have,
				     deadline, res);
		if (st != FDM_DS_OK)
			return st;
		if (fdm_rec_peek(s->buf, s->have, slot, &gen, &frame) != FDM_REC_OK ||
		    frame <= head || s->have < head)
			continue;
		rest = fdm_rec_padded_size(frame - FDM_REC_OVERHEAD) - head;
		big = alloc_aligned(head + rest);
		if (big == NULL)
			return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
		memcpy(big, s->buf, head);
		free(s->buf);
		s->buf = big;
		st = fdm_ds_raw_read(ds, rec, host, (uint64_t)i * slot + head, big + head, rest,
				     &got, deadline, res);
		if (st != FDM_DS_OK)
			return st;
		s->have = head + got;
	}
	return FDM_DS_OK;
}

static bool own_record(const struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host)
{
	return !recs[rec].per_host || strcmp(host, ds->host) == 0;
}

static enum fdm_ds_status read_record(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				      uint64_t deadline, struct picked *p, struct fdm_ds_result *res)
{
	char label[FDM_DS_ID_MAX + 16];
	enum fdm_ds_status st;
	int other;

	memset(p, 0, sizeof(*p));
	p->pick = -1;
	if (recs[rec].per_host && !fdm_ds_valid_id(host))
		return fdm_ds_fail(ds, res, FDM_DS_IO, "bad host id \"%s\"", host);
	st = read_slots(ds, rec, host, deadline, p, res);
	if (st != FDM_DS_OK)
		return st;
	for (int i = 0; i < 2; i++) {
		check_slot(ds, rec, host, &p->s[i]);
		if (p->s[i].err != FDM_REC_OK && p->s[i].err != FDM_REC_EMPTY) {
			ds->stats.corrupt_slots++;
			ds->stats.rejected[p->s[i].err]++;
		}
	}
	p->fingerprint = fdm_crc32c(fdm_crc32c(0, p->s[0].buf, p->s[0].have),
				    p->s[1].buf, p->s[1].have);
	p->pick = fdm_rec_pick(p->s[0].err, p->s[0].gen, p->s[1].err, p->s[1].gen);
	if (own_record(ds, rec, host)) {
		struct fdm_ds_slotcache *c = &ds->cache[rec];

		c->known = true;
		c->active = p->pick;
		c->gen = 0;
		for (int i = 0; i < 2; i++)
			if (p->s[i].gen_known && p->s[i].gen > c->gen)
				c->gen = p->s[i].gen;
	}
	fdm_ds_record_label(rec, host, label, sizeof(label));
	if (p->pick < 0) {
		/* Report the slot that had something in it, the newer one first. */
		int bad = p->s[1].err != FDM_REC_EMPTY &&
			  (p->s[0].err == FDM_REC_EMPTY || p->s[1].gen > p->s[0].gen) ? 1 : 0;

		if (p->s[0].err == FDM_REC_EMPTY && p->s[1].err == FDM_REC_EMPTY)
			return fdm_ds_fail(ds, res, FDM_DS_EMPTY, "%s: never written", label);
		res->rec_err = p->s[bad].err;
		res->damaged_slot = bad;
		return fdm_ds_fail(ds, res, FDM_DS_CORRUPT, "%s: %s", label,
				   fdm_rec_err_name(p->s[bad].err));
	}
	other = 1 - p->pick;
	if (p->s[other].err != FDM_REC_OK && p->s[other].err != FDM_REC_EMPTY) {
		res->rec_err = p->s[other].err;
		res->damaged_slot = other;
		snprintf(res->msg, sizeof(res->msg), "%.120s: %s: slot %d: %s (slot %d used)", ds->url,
			 label, other, fdm_rec_err_name(p->s[other].err), p->pick);
	}
	res->status = FDM_DS_OK;
	return FDM_DS_OK;
}

enum fdm_ds_status fdm_ds_read_msg(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t deadline, ProtobufCMessage **out,
				   uint32_t *fingerprint, struct fdm_ds_result *res)
{
	struct picked p;
	enum fdm_ds_status st;

	*out = NULL;
	st = read_record(ds, rec, host, deadline, &p, res);
	if (fingerprint != NULL)
		*fingerprint = p.fingerprint;
	if (st == FDM_DS_OK) {
		*out = p.s[p.pick].msg;
		p.s[p.pick].msg = NULL;
	}
	picked_free(&p);
	return st;
}

enum fdm_ds_status fdm_ds_write_body(struct fdm_ds *ds, enum fdm_ds_rec rec,
				     const uint8_t *body, size_t len, uint64_t deadline,
				     struct fdm_ds_result *res)
{
	struct fdm_ds_slotcache *c = &ds->cache[rec];
	size_t padded = fdm_rec_padded_size(len);
	enum fdm_ds_status st;
	uint8_t *buf;
	int slot;

	fdm_ds_result_clear(res);
	if (recs[rec].per_host && !fdm_ds_valid_id(ds->host))
		return fdm_ds_fail(ds, res, FDM_DS_IO, "no host id to write %s records",
				   recs[rec].name);
	if (padded > recs[rec].slot)
		return fdm_ds_fail(ds, res, FDM_DS_TOO_BIG, "%s: %zu bytes do not fit a %zu-byte slot",
				   recs[rec].name, len, recs[rec].slot);
	if (!c->known) {
		struct picked p;

		st = read_record(ds, rec, ds->host, deadline, &p, res);
		picked_free(&p);
		if (st != FDM_DS_OK && st != FDM_DS_EMPTY && st != FDM_DS_CORRUPT)
			return st;
		fdm_ds_result_clear(res);
	}
	buf = alloc_aligned(padded);
	if (buf == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	slot = c->active < 0 ? 0 : 1 - c->active;
	fdm_rec_encode(&ds->auth, recs[rec].kind, c->gen + 1, body, len, buf, padded);
	st = backend_write(ds, rec, ds->host, (uint64_t)slot * recs[rec].slot, buf, padded,
			   deadline, res);
	free(buf);
	/* A failed write may have landed, torn or whole: read before the next one. */
	if (st == FDM_DS_OK) {
		c->active = slot;
		c->gen++;
	} else {
		c->known = false;
	}
	return st;
}

static enum fdm_ds_status write_msg(struct fdm_ds *ds, enum fdm_ds_rec rec,
				    const ProtobufCMessage *m, uint64_t deadline,
				    struct fdm_ds_result *res)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	enum fdm_ds_status st;
	uint8_t *body;

	if (len + FDM_REC_OVERHEAD > recs[rec].slot) {
		memset(res, 0, sizeof(*res));
		return fdm_ds_fail(ds, res, FDM_DS_TOO_BIG, "%s: %zu bytes do not fit a %zu-byte slot",
				   recs[rec].name, len, recs[rec].slot);
	}
	body = malloc(len + 1);
	if (body == NULL) {
		memset(res, 0, sizeof(*res));
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	}
	protobuf_c_message_pack(m, body);
	st = fdm_ds_write_body(ds, rec, body, len, deadline, res);
	free(body);
	return st;
}

/* ------------------------------------------------------------ typed records */

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
	return write_msg(ds, FDM_DS_REC_LEASE, &r.base, deadline, res);
}

enum fdm_ds_status fdm_ds_hb_read(struct fdm_ds *ds, const char *host, uint64_t deadline,
				  struct fdm_ds_hb *out, struct fdm_ds_result *res)
{
	Fdm__HostHeartbeatRecord *r;
	enum fdm_ds_status st;

	memset(out, 0, sizeof(*out));
	st = fdm_ds_read_msg(ds, FDM_DS_REC_HB, host, deadline, (ProtobufCMessage **)&r,
			     &out->fingerprint, res);
	if (st != FDM_DS_OK)
		return st;
	fdm_strlcpy(out->host, r->host, sizeof(out->host));
	out->counter = r->counter;
	out->incarnation = r->incarnation;
	out->written_unix_ms = r->written_unix_ms;
	fdm__host_heartbeat_record__free_unpacked(r, NULL);
	return FDM_DS_OK;
}

enum fdm_ds_status fdm_ds_hb_write(struct fdm_ds *ds, uint64_t deadline, struct fdm_ds_result *res)
{
	Fdm__HostHeartbeatRecord r = FDM__HOST_HEARTBEAT_RECORD__INIT;

	if (!ds->hb_counter_known) {
		struct fdm_ds_hb old;
		enum fdm_ds_status st = fdm_ds_hb_read(ds, ds->host, deadline, &old, res);

		if (st != FDM_DS_OK && st != FDM_DS_EMPTY && st != FDM_DS_CORRUPT)
			return st;
		ds->hb_counter = old.counter;
		ds->hb_counter_known = true;
	}
	r.host = ds->host;
	r.counter = ++ds->hb_counter;
	r.has_incarnation = r.has_written_unix_ms = true;
	r.incarnation = ds->incarnation;
	r.written_unix_ms = fdm_now_unix_ms();
	return write_msg(ds, FDM_DS_REC_HB, &r.base, deadline, res);
}

enum fdm_ds_status fdm_ds_poweron_write(struct fdm_ds *ds, Fdm__PowerOnRecord *rec,
					uint64_t deadline, struct fdm_ds_result *res)
{
	if (rec->host == NULL || strcmp(rec->host, ds->host) != 0) {
		memset(res, 0, sizeof(*res));
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

enum fdm_ds_status fdm_ds_list_hosts(struct fdm_ds *ds, uint64_t deadline,
				     struct fdm_ds_hostlist *out, struct fdm_ds_result *res)
{
	fdm_ds_result_clear(res);
	memset(out, 0, sizeof(*out));
	return ds->be->list_hosts(ds, deadline, out, res);
}

enum fdm_ds_status fdm_ds_list_clusters(struct fdm_ds *ds, uint64_t deadline,
					struct fdm_ds_hostlist *out, struct fdm_ds_result *res)
{
	fdm_ds_result_clear(res);
	memset(out, 0, sizeof(*out));
	return ds->be->list_clusters(ds, deadline, out, res);
}

uint64_t fdm_ds_random_u64(void)
{
	uint64_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = fdm_now_mono_ms() ^ ((uint64_t)fdm_now_unix_ms() << 20);
	return v != 0 ? v : 1;
}
