/* The host table (DESIGN.md "Roles and states", "Heartbeats"): what this agent
 * knows of every configured host, the heartbeat echoes that let times cross hosts
 * as offsets, and the state of each host as the master sees it. Pure: packets and
 * ticks in, log lines out.
 *
 * Echoes: every heartbeat carries (incarnation, seq). A slave echoes the latest
 * master heartbeat it got; the master echoes to each slave the latest heartbeat it
 * got from that slave. The sender of the echoed datagram looks up when it sent it
 * (fdm_core_sent_at), which is never later than the truth, however long the
 * packet queued. */
#include "fdm/core/core.h"

#include <string.h>

#include "lib/util.h"

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

int fdm_core_datastore_index(const struct fdm_core *c, const char *name)
{
	for (size_t i = 0; i < c->n_datastores; i++)
		if (strcmp(c->datastore_names[i], name) == 0)
			return (int)i;
	return -1;
}

static uint32_t datastore_mask_of(const struct fdm_core *c, char **names, size_t n)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < n; i++) {
		int d = fdm_core_datastore_index(c, names[i]);
		if (d >= 0)
			mask |= 1u << d;
	}
	return mask;
}

/* The latest heartbeat received from a peer: what we echo back to it. */
static void note_rx(struct fdm_peer_state *p, const Fdm__Packet *pk, uint64_t now)
{
	p->have_rx = true;
	p->rx_incarnation = pk->incarnation;
	p->rx_seq = pk->seq;
	p->rx_at_ms = now;
}

/* Our own datagram that `echo` names: its send time, when it is ours. */
static bool echoed_send_time(const struct fdm_core *c, const Fdm__Echo *echo, uint64_t *at)
{
	return echo != NULL && fdm_core_sent_at(c, echo->incarnation, echo->seq, at);
}

/* A slave keeps the master's view of the cluster to show it in `fdmctl status`. */
static void keep_master_report(struct fdm_core *c, const Fdm__MasterHeartbeat *m,
			       uint64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_hosts && n < FDM_MAX_HOSTS; i++) {
		const Fdm__HostReport *h = m->hosts[i];
		struct fdm_reported_host *r = &c->reported[n];
		int state = fdm_host_state_parse(h->state);

		if (state < 0 || !fdm_strlcpy(r->id, h->host, sizeof(r->id)))
			continue;   /* a newer agent's state name: skip, do not guess */
		r->state = (enum fdm_host_state)state;
		r->heartbeat_age_ms = h->has_heartbeat_age_ms ? h->heartbeat_age_ms : 0;
		r->datastore_mask = datastore_mask_of(c, h->datastores, h->n_datastores);
		n++;
	}
	c->n_reported = n;
	c->reported_at_ms = now;
}

static void on_master_hb(struct fdm_core *c, int from, const Fdm__Packet *pk, uint64_t now)
{
	const Fdm__MasterHeartbeat *m = pk->master_hb;
	struct fdm_peer_state *p = &c->peers[from];
	uint64_t sent;

	p->last_master_hb_ms = now;
	p->datastores = m->datastores;
	if (c->role != FDM_ROLE_SLAVE || from != c->master)
		return;
	c->have_master_rx = true;
	c->master_rx_incarnation = pk->incarnation;
	c->master_rx_seq = pk->seq;
	/* The master echoes the latest heartbeat it got from us; it heard us at least
	 * up to that heartbeat's send time (DESIGN.md point 3, same-master bound). */
	if (echoed_send_time(c, m->echo, &sent) && (!c->vouched || sent > c->vouched_sent_ms)) {
		c->vouched = true;
		c->vouched_sent_ms = sent;
	}
	keep_master_report(c, m, now);
}

static void on_slave_hb(struct fdm_core *c, int from, const Fdm__SlaveHeartbeat *s,
			uint64_t now)
{
	struct fdm_peer_state *p = &c->peers[from];
	uint64_t sent;

	fdm_strlcpy(p->follows, s->master, sizeof(p->follows));
	p->datastore_mask = datastore_mask_of(c, s->datastores, s->n_datastores);
	p->datastores = (uint32_t)s->n_datastores;
	/* Only a heartbeat naming us as its master makes it our slave ("heard"). */
	if (c->role != FDM_ROLE_MASTER || strcmp(s->master, self_id(c)) != 0)
		return;
	p->last_slave_hb_ms = now;
	p->ever_slave = true;
	if (echoed_send_time(c, s->echo, &sent) && (!p->have_heard || sent > p->heard_sent_ms)) {
		p->have_heard = true;
		p->heard_sent_ms = sent;
	}
}

void fdm_membership_on_packet(struct fdm_core *c, int from, const Fdm__Packet *pk,
			      uint64_t now)
{
	struct fdm_peer_state *p = &c->peers[from];

	p->ever_heard = true;
	p->last_heard_ms = now;
	if (pk->body_case != FDM__PACKET__BODY_LEAVING)
		p->stopped = false;
	switch (pk->body_case) {
	case FDM__PACKET__BODY_BID:
		p->last_bid_ms = now;
		p->datastores = pk->bid->datastores;
		break;
	case FDM__PACKET__BODY_MASTER_HB:
		note_rx(p, pk, now);
		on_master_hb(c, from, pk, now);
		break;
	case FDM__PACKET__BODY_SLAVE_HB:
		note_rx(p, pk, now);
		on_slave_hb(c, from, pk->slave_hb, now);
		break;
	case FDM__PACKET__BODY_LEAVING:
		p->stopped = true;
		p->last_slave_hb_ms = 0;
		break;
	case FDM__PACKET__BODY_STEP_DOWN:
	case FDM__PACKET__BODY__NOT_SET:
	default:
		break;
	}
}

/* The state of another host as a master sees it, from what it heard and when. */
static enum fdm_host_state master_view(const struct fdm_core *c,
				       const struct fdm_peer_state *p, uint64_t now)
{
	const struct fdm_timing *t = &c->timing;

	if (p->stopped)
		return FDM_HS_STOPPED;
	if (p->last_slave_hb_ms != 0 && now - p->last_slave_hb_ms < t->host_unreachable_ms)
		return FDM_HS_CONNECTED;
	if (p->last_bid_ms != 0 && now - p->last_bid_ms < t->host_unreachable_ms)
		return FDM_HS_ELECTION;
	/* A master that just took over gives every host one unreachable period to
	 * report before calling it unreachable. */
	if (!p->ever_slave && now - c->role_since_ms < t->host_unreachable_ms)
		return FDM_HS_UNINITIALIZED;
	return FDM_HS_UNREACHABLE;
}

/* A slave shows other hosts as its master last reported them. */
static const struct fdm_reported_host *reported(const struct fdm_core *c, const char *id)
{
	for (size_t r = 0; r < c->n_reported; r++)
		if (strcmp(c->reported[r].id, id) == 0)
			return &c->reported[r];
	return NULL;
}

static enum fdm_host_state state_of(const struct fdm_core *c, size_t i, uint64_t now)
{
	const struct fdm_reported_host *r;

	const struct fdm_peer_state *p = &c->peers[i];

	switch (c->role) {
	case FDM_ROLE_MASTER:
		return p->self ? FDM_HS_MASTER : master_view(c, p, now);
	case FDM_ROLE_SLAVE:
		if (p->self)
			return FDM_HS_CONNECTED;
		if ((int)i == c->master)
			return FDM_HS_MASTER;
		r = reported(c, p->id);
		return r ? r->state : FDM_HS_UNINITIALIZED;
	case FDM_ROLE_ELECTION:
		if (p->self)
			return FDM_HS_ELECTION;
		if (p->last_bid_ms != 0 && now - p->last_bid_ms < c->timing.host_unreachable_ms)
			return FDM_HS_ELECTION;
		return p->state;
	}
	return p->state;
}

static const char *state_reason(const struct fdm_peer_state *p, enum fdm_host_state s,
				uint64_t now, char *buf, size_t len)
{
	uint64_t last = p->last_slave_hb_ms ? p->last_slave_hb_ms : p->last_heard_ms;

	switch (s) {
	case FDM_HS_UNREACHABLE:
		if (last == 0)
			return "never heard";
		snprintf(buf, len, "no heartbeat for %llu ms", (unsigned long long)(now - last));
		return buf;
	case FDM_HS_STOPPED:
		return "its agent stopped cleanly";
	case FDM_HS_CONNECTED:
		return "heartbeats as our slave";
	case FDM_HS_ELECTION:
		return "bidding in an election";
	default:
		return "role change";
	}
}

void fdm_membership_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	char why[96];

	for (size_t i = 0; i < c->n_peers; i++) {
		struct fdm_peer_state *p = &c->peers[i];
		enum fdm_host_state s = state_of(c, i, now);

		if (s == p->state)
			continue;
		/* Transitions are logged where they are decided: on the master. */
		if (c->role == FDM_ROLE_MASTER && !p->self)
			fdm_core_log(out, "%s: host %s %s -> %s (%s)", self_id(c), p->id,
				     fdm_host_state_name(p->state), fdm_host_state_name(s),
				     state_reason(p, s, now, why, sizeof(why)));
		p->state = s;
	}
}

bool fdm_membership_offset(const struct fdm_core *c, int to, uint64_t t, int64_t *offset_ms)
{
	const struct fdm_peer_state *p = &c->peers[to];

	if (!p->have_rx)
		return false;
	*offset_ms = (int64_t)t - (int64_t)p->rx_at_ms;
	return true;
}

uint32_t fdm_core_heartbeat_age(const struct fdm_core *c, size_t i, uint64_t now)
{
	const struct fdm_peer_state *p = &c->peers[i];
	uint64_t last;

	if (p->self)
		return 0;
	if (c->role == FDM_ROLE_SLAVE && (int)i != c->master) {
		const struct fdm_reported_host *r = reported(c, p->id);
		if (r != NULL)
			return r->heartbeat_age_ms + (uint32_t)(now - c->reported_at_ms);
	}
	last = c->role == FDM_ROLE_MASTER && p->last_slave_hb_ms ? p->last_slave_hb_ms
								  : p->last_heard_ms;
	if (last == 0)
		return UINT32_MAX;
	return now - last > UINT32_MAX ? UINT32_MAX : (uint32_t)(now - last);
}

uint32_t fdm_core_host_datastores(const struct fdm_core *c, size_t i)
{
	const struct fdm_peer_state *p = &c->peers[i];
	const struct fdm_reported_host *r;

	if (p->self)
		return c->my_datastore_mask;
	if (c->role == FDM_ROLE_SLAVE) {
		r = reported(c, p->id);
		return r != NULL ? r->datastore_mask : 0;
	}
	return p->datastore_mask;
}
