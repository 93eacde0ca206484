/* Two-slot records (record.h). A read takes the valid slot with the higher
 * generation; a write goes to the other slot with generation + 1, so a torn
 * write leaves the previous record readable and is itself never read as valid.
 *
 * Which slot a write takes comes from the slot cache of the handle. For a
 * record only this host writes (its hb and poweron) the cache may come from our
 * own last write. For one that several hosts write (the lease, the VM list) it
 * is valid only from a read since our last write: a write consumes it, and a
 * write without a fresh read reads first. Otherwise a former lease holder that
 * holds again would write the slot after the one it wrote long ago, with an old
 * generation, and could bury a newer record under an older one. */
#include "datastore/ds_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crc32c.h"

void fdm_ds_picked_free(struct fdm_ds_picked *p)
{
	for (int i = 0; i < 2; i++) {
		free(p->s[i].buf);
		if (p->s[i].msg != NULL)
			protobuf_c_message_free_unpacked(p->s[i].msg, NULL);
	}
	memset(p, 0, sizeof(*p));
	p->pick = -1;
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
		       struct fdm_ds_slot *s)
{
	const struct fdm_ds_rec_def *d = fdm_ds_rec_def(rec);
	struct fdm_rec_view v;
	const char *h;
	size_t frame;

	s->gen_known = fdm_rec_peek(s->buf, s->have, d->slot, &s->gen, &frame) == FDM_REC_OK;
	s->err = fdm_rec_decode(&ds->auth, s->buf, s->have, d->slot, d->kind, &v);
	if (s->err != FDM_REC_OK)
		return;
	s->msg = protobuf_c_message_unpack(d->desc, NULL, v.body_len, v.body);
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
static enum fdm_ds_status read_both(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    uint64_t deadline, struct fdm_ds_picked *p,
				    struct fdm_ds_result *res)
{
	size_t slot = fdm_ds_rec_def(rec)->slot, head = FDM_REC_ALIGN, got;
	enum fdm_ds_status st;

	for (int i = 0; i < 2; i++) {
		p->s[i].buf = fdm_ds_alloc_aligned(slot == head ? 2 * head : head);
		if (p->s[i].buf == NULL)
			return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	}
	if (slot == head) {
		st = fdm_ds_be_read(ds, rec, host, 0, p->s[0].buf, 2 * head, &got, deadline, res);
		if (st != FDM_DS_OK)
			return st;
		p->s[0].have = got < head ? got : head;
		p->s[1].have = got > head ? got - head : 0;
		memcpy(p->s[1].buf, p->s[0].buf + head, head);
		return FDM_DS_OK;
	}
	for (int i = 0; i < 2; i++) {
		struct fdm_ds_slot *s = &p->s[i];
		uint64_t gen;
		size_t frame, rest;
		uint8_t *big;

		st = fdm_ds_be_read(ds, rec, host, (uint64_t)i * slot, s->buf, head, &s->have,
				    deadline, res);
		if (st != FDM_DS_OK)
			return st;
		if (fdm_rec_peek(s->buf, s->have, slot, &gen, &frame) != FDM_REC_OK ||
		    frame <= head || s->have < head)
			continue;
		rest = fdm_rec_padded_size(frame - FDM_REC_OVERHEAD) - head;
		big = fdm_ds_alloc_aligned(head + rest);
		if (big == NULL)
			return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
		memcpy(big, s->buf, head);
		free(s->buf);
		s->buf = big;
		st = fdm_ds_be_read(ds, rec, host, (uint64_t)i * slot + head, big + head, rest,
				    &got, deadline, res);
		if (st != FDM_DS_OK)
			return st;
		s->have = head + got;
	}
	return FDM_DS_OK;
}

static bool own_record(const struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host)
{
	return !fdm_ds_rec_def(rec)->per_host || strcmp(host, ds->host) == 0;
}

/* What a write needs to know: which slot is current, the highest generation. */
static void learn_slots(struct fdm_ds *ds, enum fdm_ds_rec rec, const struct fdm_ds_picked *p)
{
	struct fdm_ds_slotcache *c = &ds->cache[rec];

	c->known = true;
	c->active = p->pick;
	c->gen = 0;
	for (int i = 0; i < 2; i++)
		if (p->s[i].gen_known && p->s[i].gen > c->gen)
			c->gen = p->s[i].gen;
}

enum fdm_ds_status fdm_ds_slots_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				     uint64_t deadline, struct fdm_ds_picked *p,
				     struct fdm_ds_result *res)
{
	char label[FDM_DS_ID_MAX + 16];
	enum fdm_ds_status st;
	int other;

	memset(p, 0, sizeof(*p));
	p->pick = -1;
	if (fdm_ds_rec_def(rec)->per_host && !fdm_ds_valid_id(host))
		return fdm_ds_fail(ds, res, FDM_DS_IO, "bad host id \"%s\"", host);
	st = read_both(ds, rec, host, deadline, p, res);
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
	if (own_record(ds, rec, host))
		learn_slots(ds, rec, p);
	fdm_ds_record_label(rec, host, label, sizeof(label));
	if (p->pick < 0) {
		/* Report the slot that had something in it, the newer one first. */
		int bad = p->s[1].err != FDM_REC_EMPTY &&
			  (p->s[0].err == FDM_REC_EMPTY || p->s[1].gen > p->s[0].gen) ? 1 : 0;

		if (p->s[0].err == FDM_REC_EMPTY && p->s[1].err == FDM_REC_EMPTY)
			return fdm_ds_fail(ds, res, FDM_DS_EMPTY, "%s: %s", label, res->present ?
					   "empty (the file holds nothing or only zeros)" :
					   "never written");
		res->rec_err = p->s[bad].err;
		res->damaged_slot = bad;
		res->present = false;
		return fdm_ds_fail(ds, res, FDM_DS_CORRUPT, "%s: %s", label,
				   fdm_rec_err_name(p->s[bad].err));
	}
	res->present = false;
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

enum fdm_ds_status fdm_ds_slots_read_msg(struct fdm_ds *ds, enum fdm_ds_rec rec,
					 const char *host, uint64_t deadline,
					 ProtobufCMessage **out, uint32_t *fingerprint,
					 struct fdm_ds_result *res)
{
	struct fdm_ds_picked p;
	enum fdm_ds_status st;

	*out = NULL;
	st = fdm_ds_slots_read(ds, rec, host, deadline, &p, res);
	if (fingerprint != NULL)
		*fingerprint = p.fingerprint;
	if (st == FDM_DS_OK) {
		*out = p.s[p.pick].msg;
		p.s[p.pick].msg = NULL;
	}
	fdm_ds_picked_free(&p);
	return st;
}

enum fdm_ds_status fdm_ds_slots_write(struct fdm_ds *ds, enum fdm_ds_rec rec,
				      const uint8_t *body, size_t len, uint64_t deadline,
				      struct fdm_ds_result *res)
{
	const struct fdm_ds_rec_def *d = fdm_ds_rec_def(rec);
	struct fdm_ds_slotcache *c = &ds->cache[rec];
	size_t padded = fdm_rec_padded_size(len);
	enum fdm_ds_status st;
	uint8_t *buf;
	int slot;

	if (d->per_host && !fdm_ds_valid_id(ds->host))
		return fdm_ds_fail(ds, res, FDM_DS_IO, "no host id to write %s records", d->name);
	if (padded > d->slot)
		return fdm_ds_fail(ds, res, FDM_DS_TOO_BIG, "%s: %zu bytes do not fit a %zu-byte slot",
				   d->name, len, d->slot);
	if (!c->known) {
		struct fdm_ds_picked p;

		st = fdm_ds_slots_read(ds, rec, ds->host, deadline, &p, res);
		fdm_ds_picked_free(&p);
		if (st != FDM_DS_OK && st != FDM_DS_EMPTY && st != FDM_DS_CORRUPT)
			return st;
		fdm_ds_result_clear(res);
	}
	buf = fdm_ds_alloc_aligned(padded);
	if (buf == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	slot = c->active < 0 ? 0 : 1 - c->active;
	fdm_rec_encode(&ds->auth, d->kind, c->gen + 1, body, len, buf, padded);
	st = fdm_ds_be_write(ds, rec, ds->host, (uint64_t)slot * d->slot, buf, padded,
			     deadline, res);
	free(buf);
	if (st == FDM_DS_OK && d->per_host) {
		c->active = slot;
		c->gen++;
	} else {
		/* Shared record: another host may write next, read first. Failed
		 * write: it may have landed, torn or whole, read first too. */
		c->known = false;
	}
	return st;
}

enum fdm_ds_status fdm_ds_slots_write_msg(struct fdm_ds *ds, enum fdm_ds_rec rec,
					  const ProtobufCMessage *m, uint64_t deadline,
					  struct fdm_ds_result *res)
{
	const struct fdm_ds_rec_def *d = fdm_ds_rec_def(rec);
	size_t len = protobuf_c_message_get_packed_size(m);
	enum fdm_ds_status st;
	uint8_t *body;

	if (len + FDM_REC_OVERHEAD > d->slot)
		return fdm_ds_fail(ds, res, FDM_DS_TOO_BIG, "%s: %zu bytes do not fit a %zu-byte slot",
				   d->name, len, d->slot);
	body = malloc(len + 1);
	if (body == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "out of memory");
	protobuf_c_message_pack(m, body);
	st = fdm_ds_slots_write(ds, rec, body, len, deadline, res);
	free(body);
	return st;
}
