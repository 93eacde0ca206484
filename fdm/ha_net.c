/* Operators' requests between hosts, on the cluster network: fdmctl protect,
 * unprotect and maintenance work on any host, for a VM on any host (INTERFACE.md).
 *   slave:   FDM_ACT_FORWARD          -> Forward to the master (the request's JSON)
 *            ForwardReply             -> the answer to our control socket's client
 *   master:  Forward                  -> parsed like a local request, to the core
 *                                        (fdm_ha_request, origin: that peer)
 *            FDM_ACT_CONTROL_REPLY    -> ForwardReply (to >= 0)
 *            FDM_ACT_VM_DEFINE        -> DefineRequest (to another host)
 *            DefineReply              -> its XML staged, then fdm_ha_on_define
 *   any:     DefineRequest            -> the local shim (ha_shell.c), then a
 *                                        DefineReply to the master that asked
 * The core decides which of these it takes in (forward.c) and everything about
 * the requests (protect.c); this file builds, sends and matches. Each datagram
 * is signed like every other, and its (incarnation, seq) comes from the core
 * (fdm_core_take_seq), so replay protection and acks cover it. A datagram may
 * be lost: a Forward and a DefineRequest are sent again every heartbeat
 * interval until answered (ha_forwards.h); the master answers a request sent
 * again with the answer it gave, never by carrying it out twice. */
#include "fdm/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdm/ha_forwards.h"
#include "fdm/ha_request.h"
#include "lib/log.h"
#include "lib/util.h"

struct fdm_ha_net {
	struct fdm_agent *agent;
	struct fdm_forwards fw;
	/* The bodies being sent (the packet itself is the agent's outbox). */
	Fdm__Forward forward;
	Fdm__ForwardReply forward_reply;
	Fdm__DefineRequest define_request;
	Fdm__DefineReply define_reply;
};

static uint64_t resend_ms(const struct fdm_ha_net *n)
{
	return n->agent->timing.heartbeat_interval_ms;
}

/* protobuf-c wants char *; it never writes through them when packing. */
static char *str(const char *s)
{
	return (char *)s;
}

/* The agent's outbox, with the header of a datagram to `to` numbered by the core. */
static Fdm__Packet *start(struct fdm_ha_net *n, int to, uint64_t now)
{
	struct fdm_agent *a = n->agent;

	fdm_outbox_header(&a->core, to, fdm_core_take_seq(&a->core, now), a->cfg.cluster_id,
			  &a->outbox);
	return &a->outbox.packet;
}

static void send_to(struct fdm_ha_net *n, int to, const char *what)
{
	struct fdm_agent *a = n->agent;

	if (fdm_net_send(&a->net, to, &a->outbox.packet) < 0)
		fdm_debug("%s to %s failed: %s", what, a->cfg.peers[to].id, strerror(errno));
}

/* --------------------------------------------------------- slave: forwarding */

static void send_forward(struct fdm_ha_net *n, const struct fdm_forward_out *o, uint64_t now)
{
	Fdm__Packet *p = start(n, o->to, now);

	fdm__forward__init(&n->forward);
	n->forward.id = o->ticket;
	n->forward.request = str(o->request);
	p->body_case = FDM__PACKET__BODY_FORWARD;
	p->forward = &n->forward;
	send_to(n, o->to, "forward");
}

bool fdm_ha_net_keep(struct fdm_ha_net *n, uint64_t ticket, const struct fdm_ha_request *r,
		     uint64_t now)
{
	char json[FDM_FORWARD_REQUEST_MAX];

	if (fdm_ha_request_format(&n->agent->cfg, r, json, sizeof(json)) == 0)
		return false;
	return fdm_forwards_keep(&n->fw, ticket, json, now);
}

void fdm_ha_net_done(struct fdm_ha_net *n, uint64_t ticket)
{
	fdm_forwards_done(&n->fw, ticket);
}

void fdm_ha_net_forward(struct fdm_ha_net *n, const struct fdm_action *act, uint64_t now)
{
	struct fdm_forward_out *o = fdm_forwards_sending(&n->fw, act->request_id, act->to, now,
							  resend_ms(n));

	if (o == NULL) {
		fdm_control_answer(&n->agent->control, act->request_id,
				   fdm_control_error("internal: the request to forward is lost"));
		return;
	}
	send_forward(n, o, now);
}

static void on_forward_reply(struct fdm_ha_net *n, int from, const Fdm__ForwardReply *r)
{
	char text[FDM_LOG_MAX];

	if (!fdm_forwards_answered(&n->fw, r->id, from))
		return;   /* answered already (a reply sent again), or not ours */
	fdm_printable_copy(text, sizeof(text), r->message);
	fdm_control_answer(&n->agent->control, r->id, fdm_ha_answer_json(r->ok, text));
}

/* --------------------------------------------------------- master: forwarded */

static void send_forward_reply(struct fdm_ha_net *n, int to, uint64_t peer_id, bool ok,
			       const char *message, uint64_t now)
{
	Fdm__Packet *p = start(n, to, now);

	fdm__forward_reply__init(&n->forward_reply);
	n->forward_reply.id = peer_id;
	n->forward_reply.ok = ok;
	n->forward_reply.message = str(message);
	p->body_case = FDM__PACKET__BODY_FORWARD_REPLY;
	p->forward_reply = &n->forward_reply;
	send_to(n, to, "forward reply");
}

/* A request the core will never see gets its answer here, kept like the core's. */
static void refuse(struct fdm_ha_net *n, struct fdm_forward_in *e, const char *why,
		   uint64_t now)
{
	fdm_forwards_reply(&n->fw, e->id, e->peer, false, why);
	send_forward_reply(n, e->peer, e->peer_id, false, why, now);
}

static void on_forward(struct fdm_ha_net *n, int from, const Fdm__Packet *p, uint64_t now)
{
	struct fdm_agent *a = n->agent;
	const Fdm__Forward *f = p->forward;
	struct fdm_forward_in *e;
	struct fdm_ha_request r;
	const char *err;

	switch (fdm_forwards_accept(&n->fw, from, p->incarnation, f->id, now, &e)) {
	case FDM_FWD_PENDING:
		return;   /* sent again while the core works on it */
	case FDM_FWD_ANSWERED:
		send_forward_reply(n, from, f->id, e->ok, e->message, now);
		return;
	case FDM_FWD_FULL:
		send_forward_reply(n, from, f->id, false, "too many requests in progress at the "
				   "master: try again", now);
		return;
	case FDM_FWD_NEW:
		break;
	}
	/* The length is bounded by the core (forward.c). A maintenance naming no
	 * host is for the host where fdmctl ran. */
	err = fdm_ha_request_parse_text(&a->cfg, a->cfg.peers[from].id, f->request, &r);
	if (err != NULL) {
		refuse(n, e, err, now);
		return;
	}
	r.id = e->id;
	r.origin = from;
	fdm_ha_request(&a->core, &r, now, &a->actions);
}

void fdm_ha_net_reply(struct fdm_ha_net *n, const struct fdm_action *act, uint64_t now)
{
	struct fdm_forward_in *e = fdm_forwards_reply(&n->fw, act->request_id, act->to, act->ok,
						      act->text);

	if (e == NULL)
		return;   /* forgotten: its sender gave up on it long ago */
	send_forward_reply(n, e->peer, e->peer_id, e->ok, e->message, now);
}

/* ---------------------------------------------------- definitions of VMs */

static void send_define_request(struct fdm_ha_net *n, int to, uint64_t id, const char *vm,
				uint64_t now)
{
	Fdm__Packet *p = start(n, to, now);

	fdm__define_request__init(&n->define_request);
	n->define_request.id = id;
	n->define_request.vm = str(vm);
	p->body_case = FDM__PACKET__BODY_DEFINE_REQUEST;
	p->define_request = &n->define_request;
	send_to(n, to, "definition request");
}

void fdm_ha_net_ask(struct fdm_ha_net *n, const struct fdm_action *act, uint64_t now)
{
	fdm_forwards_ask(&n->fw, act->request_id, act->to, act->vm, now, resend_ms(n));
	send_define_request(n, act->to, act->request_id, act->vm, now);
}

static size_t datagram_size(const Fdm__Packet *p)
{
	return FDM_WIRE_HEADER + fdm__packet__get_packed_size(p) + FDM_WIRE_MAC;
}

void fdm_ha_net_defined(struct fdm_ha_net *n, int to, uint64_t id, const char *vm,
			const struct fdm_vm_define *def, const char *xml, uint64_t now)
{
	struct fdm_agent *a = n->agent;
	Fdm__DefineReply *r = &n->define_reply;
	Fdm__Packet *p = start(n, to, now);
	char message[FDM_HA_WHY_MAX];
	size_t size;

	fdm__define_reply__init(r);
	r->id = id;
	r->vm = str(vm);
	r->found = def->found && xml != NULL;
	r->message = str(def->message);
	r->has_runs = true;
	r->runs = def->runs || def->found;
	if (r->found) {
		r->uuid = str(def->uuid);
		r->has_memory_kib = true;
		r->memory_kib = def->memory_kib;
		r->has_vcpus = true;
		r->vcpus = def->vcpus;
		if (def->disk_ds >= 0 && (size_t)def->disk_ds < a->cfg.n_datastores)
			r->disk_datastore = str(a->cfg.datastores[def->disk_ds].name);
		r->xml = str(xml);
	}
	p->body_case = FDM__PACKET__BODY_DEFINE_REPLY;
	p->define_reply = r;
	size = datagram_size(p);
	if (size > FDM_WIRE_MAX) {
		/* One datagram carries it: say so rather than send what cannot arrive. */
		size_t xml_len = strlen(xml);

		snprintf(message, sizeof(message), "its domain XML of %zu bytes is too large for "
			 "the cluster network (room for %zu)", xml_len,
			 xml_len - (size - FDM_WIRE_MAX));
		fdm_warn("%s: vm %s: %s", a->cfg.host_id, vm, message);
		r->found = false;
		r->message = message;
		r->uuid = NULL;
		r->has_memory_kib = r->has_vcpus = false;
		r->disk_datastore = NULL;
		r->xml = NULL;
	}
	send_to(n, to, "definition");
}

static void on_define_reply(struct fdm_ha_net *n, int from, const Fdm__DefineReply *r,
			    uint64_t now)
{
	struct fdm_agent *a = n->agent;
	struct fdm_vm_define def;
	const char *why;

	fdm_ha_define_decode(&a->core, r, &def, &why);
	/* The master writes it where the core decides: stage it for each. */
	if (def.found)
		for (size_t d = 0; d < a->cfg.n_datastores; d++)
			fdm_datastores_stage_vm(&a->datastores, (int)d, r->vm, def.uuid, r->xml,
						def.memory_kib, def.vcpus);
	fdm_ha_on_define(&a->core, r->id, from, &def, now, &a->actions);
}

/* ------------------------------------------------------------ the loop */

void fdm_ha_net_on_packet(struct fdm_ha_net *n, int from, const Fdm__Packet *p, uint64_t now)
{
	switch (p->body_case) {
	case FDM__PACKET__BODY_FORWARD:
		on_forward(n, from, p, now);
		break;
	case FDM__PACKET__BODY_FORWARD_REPLY:
		on_forward_reply(n, from, p->forward_reply);
		break;
	case FDM__PACKET__BODY_DEFINE_REQUEST:
		fdm_ha_shell_define_for(n->agent->ha, from, p->define_request->id,
					p->define_request->vm);
		break;
	case FDM__PACKET__BODY_DEFINE_REPLY:
		on_define_reply(n, from, p->define_reply, now);
		break;
	default:
		break;
	}
}

void fdm_ha_net_tick(struct fdm_ha_net *n, uint64_t now)
{
	struct fdm_forward_out *o;
	struct fdm_define_ask *ask;

	fdm_forwards_expire(&n->fw, now);
	while ((o = fdm_forwards_resend_due(&n->fw, now, resend_ms(n))) != NULL)
		send_forward(n, o, now);
	while ((ask = fdm_forwards_ask_due(&n->fw, now, resend_ms(n))) != NULL) {
		if (!fdm_ha_define_awaited(&n->agent->core, ask->id, ask->to, ask->vm)) {
			fdm_forwards_ask_done(ask);
			continue;
		}
		send_define_request(n, ask->to, ask->id, ask->vm, now);
	}
}

int fdm_ha_net_open(struct fdm_agent *a, struct fdm_ha_net **out, char *err, size_t errlen)
{
	struct fdm_ha_net *n = calloc(1, sizeof(*n));

	*out = NULL;
	if (n == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n->agent = a;
	fdm_forwards_init(&n->fw);
	*out = n;
	return 0;
}

void fdm_ha_net_close(struct fdm_ha_net *n)
{
	free(n);
}
