/* libFuzzer target: operators' requests between agents, the shell's side
 * (fdm/ha_net.c's dispatch, here over the same pure parts). A peer with the key
 * may still be buggy: its Forward (the JSON of an fdmctl request, parsed by
 * fdm_ha_request_parse_text with the peer as the default host), its
 * ForwardReply (matched in the tables of fdm/ha_forwards.c, its message made
 * printable), its DefineReply (decoded by the core, its XML staged by
 * fdm/datastores_vms.c) go through the core (forward.c decides which it takes,
 * protect.c answers) and the tables, which must stay bounded and consistent;
 * every answer the master sends back must fit one datagram. Local requests
 * (as from the control socket) make this host forward to its master.
 * Input: records of [1 byte kind][2 bytes length][payload], see the loop. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fdm/core/core.h"
#include "fdm/core/outbox.h"
#include "fdm/datastores_vms.h"
#include "fdm/ha_forwards.h"
#include "fdm/ha_request.h"
#include "lib/config.h"
#include "lib/util.h"

#define HOSTS 4
#define RESEND_MS 1000

struct run {
	struct fdm_config cfg;
	struct fdm_core c;
	struct fdm_actions acts;
	struct fdm_actions todo;         /* execute()'s copy of acts */
	struct fdm_outbox ob;
	struct fdm_forwards fw;
	struct fdm_ds_vms *vms;          /* what a DefineReply stages */
	struct fdm_lease_rec lease;      /* in-memory storage for the core */
	bool lease_written;
	uint64_t next_ticket;            /* control socket tickets */
	uint64_t now;
};

static void make_config(struct fdm_config *cfg)
{
	static const char *const ids[HOSTS] = { "host-1", "host-2", "host-9", "host-10" };

	memset(cfg, 0, sizeof(*cfg));
	fdm_strlcpy(cfg->cluster_id, "fuzz", sizeof(cfg->cluster_id));
	fdm_strlcpy(cfg->host_id, "host-2", sizeof(cfg->host_id));
	for (size_t i = 0; i < HOSTS; i++)
		fdm_strlcpy(cfg->peers[i].id, ids[i], FDM_ID_MAX);
	cfg->n_peers = HOSTS;
	fdm_strlcpy(cfg->datastores[0].name, "ds1", FDM_ID_MAX);
	cfg->n_datastores = 1;
}

/* A Forward or ForwardReply the shell would send (ha_net.c): in the outbox's
 * packet, as it is sent, it fits one datagram whatever came in. */
static void check_fits(struct run *r, int to, Fdm__Forward *f, Fdm__ForwardReply *fr)
{
	Fdm__Packet *p = &r->ob.packet;

	fdm_outbox_header(&r->c, to, fdm_core_take_seq(&r->c, r->now), "fuzz", &r->ob);
	if (f != NULL) {
		p->body_case = FDM__PACKET__BODY_FORWARD;
		p->forward = f;
	} else {
		p->body_case = FDM__PACKET__BODY_FORWARD_REPLY;
		p->forward_reply = fr;
	}
	if (fdm__packet__get_packed_size(p) > FDM_OUTBOX_PACKET_MAX)
		abort();
	p->body_case = FDM__PACKET__BODY__NOT_SET;   /* the bodies are on our stack */
}

static void send_forward_reply(struct run *r, int to, uint64_t peer_id, bool ok,
			       const char *message)
{
	Fdm__ForwardReply fr = FDM__FORWARD_REPLY__INIT;

	if (message == NULL || strnlen(message, FDM_LOG_MAX) == FDM_LOG_MAX)
		abort();
	fr.id = peer_id;
	fr.ok = ok;
	fr.message = (char *)message;
	check_fits(r, to, NULL, &fr);
}

static void send_forward(struct run *r, const struct fdm_forward_out *o)
{
	Fdm__Forward f = FDM__FORWARD__INIT;

	if (o->to < 0 || o->to >= HOSTS || strnlen(o->request, sizeof(o->request)) ==
	    sizeof(o->request))
		abort();
	f.id = o->ticket;
	f.request = (char *)o->request;
	check_fits(r, o->to, &f, NULL);
}

/* ------------------------------------------------- what the core asks for */

static void storage(struct run *r, const struct fdm_action *a)
{
	struct fdm_storage_outcome o = { .result = FDM_STORAGE_OK };
	struct fdm_lease_view v;
	struct fdm_vmlist_view empty = { .empty = true };

	memset(&v, 0, sizeof(v));
	if (a->op == FDM_STORAGE_LEASE_READ) {
		v.kind = r->lease_written ? FDM_LEASE_VIEW_VALID : FDM_LEASE_VIEW_EMPTY;
		v.rec = r->lease;
		v.fingerprint = (uint32_t)(r->lease.generation * 7919 + r->lease.renewal);
		o.lease = &v;
	} else if (a->op == FDM_STORAGE_LEASE_WRITE) {
		r->lease = a->lease;
		r->lease_written = true;
	} else if (a->op == FDM_STORAGE_HB_READ) {
		o.hb_incarnation = 77;
	} else if (a->op == FDM_STORAGE_VMLIST_READ) {
		o.vmlist = &empty;
	}
	fdm_core_storage_done(&r->c, a->ds, a->op, &o, r->now, &r->acts);
}

/* As fdm_ha_control_reply and fdm_ha_net_forward / _ask do. */
static void execute(struct run *r)
{
	struct fdm_actions *todo = &r->todo;

	while (r->acts.n > 0) {
		/* Only the actions there are: the list is large. */
		todo->n = r->acts.n;
		memcpy(todo->a, r->acts.a, r->acts.n * sizeof(r->acts.a[0]));
		r->acts.n = 0;
		for (size_t i = 0; i < todo->n; i++) {
			const struct fdm_action *a = &todo->a[i];
			struct fdm_forward_in *e;
			struct fdm_forward_out *o;

			switch (a->kind) {
			case FDM_ACT_STORAGE:
				storage(r, a);
				break;
			case FDM_ACT_CONTROL_REPLY:
				if (a->to < 0) {
					fdm_forwards_done(&r->fw, a->request_id);
					break;
				}
				e = fdm_forwards_reply(&r->fw, a->request_id, a->to, a->ok, a->text);
				if (e != NULL)
					send_forward_reply(r, e->peer, e->peer_id, e->ok, e->message);
				break;
			case FDM_ACT_FORWARD:
				o = fdm_forwards_sending(&r->fw, a->request_id, a->to, r->now, RESEND_MS);
				if (o != NULL)
					send_forward(r, o);
				break;
			case FDM_ACT_VM_DEFINE:
				if (a->to != (int)r->c.self)
					fdm_forwards_ask(&r->fw, a->request_id, a->to, a->vm, r->now,
							 RESEND_MS);
				break;
			default:
				break;
			}
		}
	}
}

static void tick(struct run *r, uint64_t ms)
{
	struct fdm_forward_out *o;
	struct fdm_define_ask *ask;

	r->now += ms;
	fdm_core_tick(&r->c, r->now, &r->acts);
	execute(r);
	fdm_forwards_expire(&r->fw, r->now);
	while ((o = fdm_forwards_resend_due(&r->fw, r->now, RESEND_MS)) != NULL)
		send_forward(r, o);
	while ((ask = fdm_forwards_ask_due(&r->fw, r->now, RESEND_MS)) != NULL)
		if (!fdm_ha_define_awaited(&r->c, ask->id, ask->to, ask->vm))
			fdm_forwards_ask_done(ask);
}

/* ------------------------------------------------- what comes in */

/* fdm_ha_net_on_packet, but the shim (a DefineRequest goes there). */
static void on_forward(struct run *r, int from, const Fdm__Packet *p)
{
	const Fdm__Forward *f = p->forward;
	struct fdm_forward_in *e;
	struct fdm_ha_request req;
	const char *err;

	switch (fdm_forwards_accept(&r->fw, from, p->incarnation, f->id, r->now, &e)) {
	case FDM_FWD_PENDING:
		return;
	case FDM_FWD_ANSWERED:
		send_forward_reply(r, from, f->id, e->ok, e->message);
		return;
	case FDM_FWD_FULL:
		send_forward_reply(r, from, f->id, false, "too many requests");
		return;
	case FDM_FWD_NEW:
		break;
	}
	if (e->peer != from || e->peer_id != f->id)
		abort();
	err = fdm_ha_request_parse_text(&r->cfg, r->cfg.peers[from].id, f->request, &req);
	if (err != NULL) {
		fdm_forwards_reply(&r->fw, e->id, e->peer, false, err);
		send_forward_reply(r, e->peer, e->peer_id, false, err);
		return;
	}
	req.id = e->id;
	req.origin = from;
	fdm_ha_request(&r->c, &req, r->now, &r->acts);
}

static void on_forward_reply(struct run *r, int from, const Fdm__ForwardReply *fr)
{
	char text[FDM_LOG_MAX];

	if (!fdm_forwards_answered(&r->fw, fr->id, from))
		return;
	fdm_printable_copy(text, sizeof(text), fr->message);
	for (size_t i = 0; text[i] != '\0'; i++)
		if ((unsigned char)text[i] < 0x20)
			abort();
}

static void on_define_reply(struct run *r, int from, const Fdm__DefineReply *dr)
{
	struct fdm_vm_define def;
	const char *why;

	fdm_ha_define_decode(&r->c, dr, &def, &why);
	if (def.found)
		fdm_ds_vms_stage(r->vms, dr->vm, def.uuid, dr->xml, def.memory_kib, def.vcpus);
	fdm_ha_on_define(&r->c, dr->id, from, &def, r->now, &r->acts);
}

static void packet(struct run *r, int from, const uint8_t *data, size_t len)
{
	Fdm__Packet *p = fdm__packet__unpack(NULL, len, data);

	if (p == NULL)
		return;
	if (fdm_core_packet(&r->c, from, p, r->now, &r->acts) == FDM_RX_SHELL) {
		switch (p->body_case) {
		case FDM__PACKET__BODY_FORWARD:
			on_forward(r, from, p);
			break;
		case FDM__PACKET__BODY_FORWARD_REPLY:
			on_forward_reply(r, from, p->forward_reply);
			break;
		case FDM__PACKET__BODY_DEFINE_REPLY:
			on_define_reply(r, from, p->define_reply);
			break;
		default:
			break;
		}
	}
	fdm__packet__free_unpacked(p, NULL);
	execute(r);
}

/* A request from our own control socket (fdm_ha_control): kept in the form a
 * slave forwards, then to the core. */
static void local_request(struct run *r, const uint8_t *data, size_t len)
{
	char text[FDM_FORWARD_REQUEST_MAX];
	char json[FDM_FORWARD_REQUEST_MAX];
	struct fdm_ha_request req;

	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, data, len);
	text[len] = '\0';
	if (fdm_ha_request_parse_text(&r->cfg, r->cfg.host_id, text, &req) != NULL)
		return;
	req.id = ++r->next_ticket;
	if (fdm_ha_request_format(&r->cfg, &req, json, sizeof(json)) == 0)
		abort();   /* ha_request.h: always fits */
	if (!fdm_forwards_keep(&r->fw, req.id, json, r->now))
		return;
	fdm_ha_request(&r->c, &req, r->now, &r->acts);
	execute(r);
}

/* No entry of the tables says more than the core could have asked. */
static void check_tables(const struct run *r)
{
	for (size_t i = 0; i < FDM_FORWARDS_MAX; i++) {
		const struct fdm_forward_in *in = &r->fw.in[i];

		if (in->used && (in->peer < 0 || in->peer >= HOSTS ||
				 strnlen(in->message, sizeof(in->message)) == sizeof(in->message)))
			abort();
	}
	for (size_t i = 0; i < FDM_DEFINE_ASKS_MAX; i++)
		if (r->fw.asks[i].used && (r->fw.asks[i].to < 0 || r->fw.asks[i].to >= HOSTS))
			abort();
}

/* Input records, kind:
 *   < 0x80         a Packet protobuf from peer kind % 4 (3 of them are others)
 *   0x80 .. 0xbf   a local request: payload is its JSON
 *   >= 0xc0        time passes: (kind & 0x3f) + 1 steps of 137 ms */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run *r;   /* large: allocated once, set up again for each input */
	struct fdm_timing t;
	char err[256];

	if (r == NULL && (r = calloc(1, sizeof(*r))) == NULL)
		return 0;
	r->acts.n = r->acts.overflow = 0;
	r->lease_written = false;
	memset(&r->lease, 0, sizeof(r->lease));
	r->next_ticket = 0;
	r->vms = fdm_ds_vms_new("ds1");
	make_config(&r->cfg);
	fdm_timing_derive(1000, 2000, &t, err, sizeof(err));
	r->now = 1000000;
	fdm_core_init(&r->c, &r->cfg, &t, 77, r->now);
	fdm_core_datastores(&r->c, 1, r->now, &r->acts);
	fdm_forwards_init(&r->fw);
	while (r->vms != NULL && size >= 3) {
		uint8_t kind = data[0];
		size_t len = (size_t)data[1] << 8 | data[2];

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (kind < 0x80)
			packet(r, kind % HOSTS, data, len);
		else if (kind < 0xc0)
			local_request(r, data, len);
		else
			for (int i = 0; i <= (kind & 0x3f); i++)
				tick(r, 137);
		check_tables(r);
		data += len;
		size -= len;
	}
	fdm_ds_vms_free(r->vms);
	return 0;
}
