/* What each message says (DESIGN.md "Election" and "Heartbeats"). Times that cross
 * hosts travel as offsets from the receipt of the heartbeat we echo, never as
 * absolute times: the receiver adds them to its own send time of that heartbeat. */
#include "fdm/core/outbox.h"

#include <string.h>

/* protobuf-c wants char *; it never writes through them when packing. */
static char *str(const char *s)
{
	return (char *)s;
}

static size_t datastore_names(const struct fdm_core *c, uint32_t mask, char **out)
{
	size_t n = 0;

	for (size_t d = 0; d < c->n_datastores; d++)
		if (mask & (1u << d))
			out[n++] = str(c->datastore_names[d]);
	return n;
}

static void build_bid(const struct fdm_core *c, struct fdm_outbox *ob)
{
	fdm__bid__init(&ob->bid);
	ob->bid.term = c->term;
	ob->bid.datastores = c->my_datastores;
	ob->packet.body_case = FDM__PACKET__BODY_BID;
	ob->packet.bid = &ob->bid;
}

static void build_host_report(const struct fdm_core *c, int to, size_t i, uint64_t now,
			      struct fdm_outbox *ob, Fdm__HostReport *h)
{
	const struct fdm_peer_state *p = &c->peers[i];
	uint32_t age = fdm_core_heartbeat_age(c, i, now);
	uint32_t mask = fdm_core_host_datastores(c, i);
	int64_t offset;

	fdm__host_report__init(h);
	h->host = str(p->id);
	h->state = str(fdm_host_state_name(p->state));
	if (age != UINT32_MAX) {
		h->has_heartbeat_age_ms = true;
		h->heartbeat_age_ms = age;
	}
	/* "Heard": the send time of the master heartbeat host i last echoed as our
	 * slave. Our own entry: we hear ourselves now. */
	if ((p->self || p->have_heard) &&
	    fdm_membership_offset(c, to, p->self ? now : p->heard_sent_ms, &offset)) {
		h->has_heard_offset_ms = true;
		h->heard_offset_ms = offset;
	}
	h->n_datastores = datastore_names(c, mask, ob->host_datastores[i]);
	h->datastores = ob->host_datastores[i];
}

static void build_echo(bool have, uint64_t inc, uint64_t seq, Fdm__Echo *echo,
		       Fdm__Echo **slot)
{
	if (!have)
		return;
	fdm__echo__init(echo);
	echo->incarnation = inc;
	echo->seq = seq;
	*slot = echo;
}

static void build_master_hb(const struct fdm_core *c, int to, uint64_t now,
			    struct fdm_outbox *ob)
{
	const struct fdm_peer_state *p = &c->peers[to];
	Fdm__MasterHeartbeat *m = &ob->master_hb;

	fdm__master_heartbeat__init(m);
	m->term = c->term;
	m->datastores = c->my_datastores;
	build_echo(p->have_rx, p->rx_incarnation, p->rx_seq, &ob->echo, &m->echo);
	/* Our send time, so that the slave can carry the ages below to its clock. */
	m->has_sent_offset_ms = fdm_membership_offset(c, to, now, &m->sent_offset_ms);
	for (size_t i = 0; i < c->n_peers; i++) {
		build_host_report(c, to, i, now, ob, &ob->hosts[i]);
		ob->host_ptrs[i] = &ob->hosts[i];
	}
	m->n_hosts = c->n_peers;
	m->hosts = ob->host_ptrs;
	ob->packet.body_case = FDM__PACKET__BODY_MASTER_HB;
	ob->packet.master_hb = m;
}

static void build_slave_hb(const struct fdm_core *c, struct fdm_outbox *ob)
{
	Fdm__SlaveHeartbeat *s = &ob->slave_hb;

	fdm__slave_heartbeat__init(s);
	s->master = str(c->master >= 0 ? c->peers[c->master].id : "");
	s->term = c->term;
	build_echo(c->have_master_rx, c->master_rx_incarnation, c->master_rx_seq, &ob->echo,
		   &s->echo);
	s->n_datastores = datastore_names(c, c->my_datastore_mask, ob->my_datastores);
	s->datastores = ob->my_datastores;
	ob->packet.body_case = FDM__PACKET__BODY_SLAVE_HB;
	ob->packet.slave_hb = s;
}

void fdm_outbox_build(const struct fdm_core *c, const struct fdm_action *a,
		      const char *cluster, uint64_t now, struct fdm_outbox *ob)
{
	fdm__packet__init(&ob->packet);
	ob->packet.cluster = str(cluster);
	ob->packet.sender = str(c->peers[c->self].id);
	ob->packet.incarnation = c->incarnation;
	ob->packet.seq = a->seq;
	/* Peers whose timing differs drop what we send (DESIGN.md safety point 1). */
	ob->packet.has_heartbeat_interval_ms = true;
	ob->packet.heartbeat_interval_ms = c->timing.heartbeat_interval_ms;
	ob->packet.has_io_timeout_ms = true;
	ob->packet.io_timeout_ms = c->timing.io_timeout_ms;
	/* The latest datagram we accepted from the receiver: proves to it that this
	 * incarnation of ours is alive now, not a recording (membership.c). */
	if (a->to >= 0 && (size_t)a->to < c->n_peers) {
		const struct fdm_peer_state *p = &c->peers[a->to];
		build_echo(p->have_ack, p->ack_incarnation, p->ack_seq, &ob->ack, &ob->packet.ack);
	}
	switch (a->msg) {
	case FDM_MSG_BID:
		build_bid(c, ob);
		break;
	case FDM_MSG_MASTER_HB:
		build_master_hb(c, a->to, now, ob);
		break;
	case FDM_MSG_SLAVE_HB:
		build_slave_hb(c, ob);
		break;
	case FDM_MSG_STEP_DOWN:
		fdm__step_down__init(&ob->step_down);
		ob->step_down.term = c->term;
		ob->packet.body_case = FDM__PACKET__BODY_STEP_DOWN;
		ob->packet.step_down = &ob->step_down;
		break;
	case FDM_MSG_LEAVING:
		fdm__leaving__init(&ob->leaving);
		ob->packet.body_case = FDM__PACKET__BODY_LEAVING;
		ob->packet.leaving = &ob->leaving;
		break;
	}
}
