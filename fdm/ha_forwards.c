/* The tables of requests between hosts (ha_forwards.h). */
#include "fdm/ha_forwards.h"

#include <string.h>

#include "lib/util.h"

void fdm_forwards_init(struct fdm_forwards *f)
{
	memset(f, 0, sizeof(*f));
	f->next_id = FDM_FORWARD_ID_BASE;
}

void fdm_forwards_expire(struct fdm_forwards *f, uint64_t now)
{
	for (size_t i = 0; i < FDM_FORWARDS_MAX; i++) {
		if (f->out[i].used && now - f->out[i].kept_ms >= FDM_FORWARD_KEEP_MS)
			f->out[i].used = false;
		if (f->in[i].used && now - f->in[i].kept_ms >= FDM_FORWARD_KEEP_MS)
			f->in[i].used = false;
	}
	for (size_t i = 0; i < FDM_DEFINE_ASKS_MAX; i++)
		if (f->asks[i].used && now - f->asks[i].asked_ms >= FDM_DEFINE_ASK_MS)
			f->asks[i].used = false;
}

/* ------------------------------------------------------------------ outgoing */

static struct fdm_forward_out *out_of(struct fdm_forwards *f, uint64_t ticket)
{
	for (size_t i = 0; i < FDM_FORWARDS_MAX; i++)
		if (f->out[i].used && f->out[i].ticket == ticket)
			return &f->out[i];
	return NULL;
}

bool fdm_forwards_keep(struct fdm_forwards *f, uint64_t ticket, const char *request,
		       uint64_t now)
{
	fdm_forwards_expire(f, now);
	for (size_t i = 0; i < FDM_FORWARDS_MAX; i++) {
		struct fdm_forward_out *o = &f->out[i];

		if (o->used)
			continue;
		if (!fdm_strlcpy(o->request, request, sizeof(o->request)))
			return false;
		o->used = true;
		o->ticket = ticket;
		o->to = -1;
		o->kept_ms = now;
		o->next_send_ms = 0;
		return true;
	}
	return false;
}

struct fdm_forward_out *fdm_forwards_sending(struct fdm_forwards *f, uint64_t ticket, int to,
					     uint64_t now, uint64_t resend_ms)
{
	struct fdm_forward_out *o = out_of(f, ticket);

	if (o == NULL)
		return NULL;
	o->to = to;
	o->next_send_ms = now + resend_ms;
	return o;
}

struct fdm_forward_out *fdm_forwards_resend_due(struct fdm_forwards *f, uint64_t now,
						uint64_t resend_ms)
{
	for (size_t i = 0; i < FDM_FORWARDS_MAX; i++) {
		struct fdm_forward_out *o = &f->out[i];

		if (o->used && o->to >= 0 && now >= o->next_send_ms &&
		    now - o->kept_ms < FDM_FORWARD_KEEP_MS) {
			o->next_send_ms = now + resend_ms;
			return o;
		}
	}
	return NULL;
}

bool fdm_forwards_answered(struct fdm_forwards *f, uint64_t ticket, int from)
{
	struct fdm_forward_out *o = out_of(f, ticket);

	if (o == NULL || o->to < 0 || o->to != from)
		return false;
	o->used = false;
	return true;
}

void fdm_forwards_done(struct fdm_forwards *f, uint64_t ticket)
{
	struct fdm_forward_out *o = out_of(f, ticket);

	if (o != NULL)
		o->used = false;
}

/* ------------------------------------------------------------------ incoming */

enum fdm_forward_new fdm_forwards_accept(struct fdm_forwards *f, int peer, uint64_t incarnation,
					 uint64_t peer_id, uint64_t now,
					 struct fdm_forward_in **e)
{
	struct fdm_forward_in *free_slot = NULL;

	fdm_forwards_expire(f, now);
	*e = NULL;
	for (size_t i = 0; i < FDM_FORWARDS_MAX; i++) {
		struct fdm_forward_in *in = &f->in[i];

		if (!in->used) {
			if (free_slot == NULL)
				free_slot = in;
			continue;
		}
		if (in->peer == peer && in->peer_incarnation == incarnation &&
		    in->peer_id == peer_id) {
			*e = in;
			return in->answered ? FDM_FWD_ANSWERED : FDM_FWD_PENDING;
		}
	}
	if (free_slot == NULL)
		return FDM_FWD_FULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->id = f->next_id++;
	free_slot->peer = peer;
	free_slot->peer_incarnation = incarnation;
	free_slot->peer_id = peer_id;
	free_slot->kept_ms = now;
	*e = free_slot;
	return FDM_FWD_NEW;
}

struct fdm_forward_in *fdm_forwards_reply(struct fdm_forwards *f, uint64_t id, int to, bool ok,
					  const char *message)
{
	for (size_t i = 0; i < FDM_FORWARDS_MAX; i++) {
		struct fdm_forward_in *in = &f->in[i];

		if (!in->used || in->id != id || in->peer != to)
			continue;
		in->answered = true;
		in->ok = ok;
		fdm_strlcpy(in->message, message, sizeof(in->message));
		return in;
	}
	return NULL;
}

/* -------------------------------------------------------- definition requests */

void fdm_forwards_ask(struct fdm_forwards *f, uint64_t id, int to, const char *vm, uint64_t now,
		      uint64_t resend_ms)
{
	struct fdm_define_ask *slot = NULL;

	fdm_forwards_expire(f, now);
	for (size_t i = 0; i < FDM_DEFINE_ASKS_MAX; i++) {
		struct fdm_define_ask *a = &f->asks[i];

		if (a->used && a->id == id && a->to == to) {
			slot = a;
			break;
		}
		if (!a->used && slot == NULL)
			slot = a;
	}
	if (slot == NULL)
		return;   /* asked once only: the core times the request out */
	slot->used = true;
	slot->id = id;
	slot->to = to;
	fdm_strlcpy(slot->vm, vm, sizeof(slot->vm));
	slot->asked_ms = now;
	slot->next_send_ms = now + resend_ms;
}

struct fdm_define_ask *fdm_forwards_ask_due(struct fdm_forwards *f, uint64_t now,
					    uint64_t resend_ms)
{
	fdm_forwards_expire(f, now);
	for (size_t i = 0; i < FDM_DEFINE_ASKS_MAX; i++) {
		struct fdm_define_ask *a = &f->asks[i];

		if (a->used && now >= a->next_send_ms) {
			a->next_send_ms = now + resend_ms;
			return a;
		}
	}
	return NULL;
}

void fdm_forwards_ask_done(struct fdm_define_ask *a)
{
	a->used = false;
}
