/* The host table (DESIGN.md "Roles and states", "Heartbeats"): what this agent
 * knows of every configured host, the heartbeat echoes that let times cross hosts
 * as offsets, and the state of each host as the master sees it. Pure: packets and
 * ticks in, log lines out.
 *
 * Echoes: every heartbeat carries (incarnation, seq). A slave echoes the latest
 * master heartbeat it got; the master echoes to each slave the latest heartbeat it
 * got from that slave. The sender of the echoed datagram looks up when it sent it
 * (fdm_core_sent_at), which is never later than the truth, however long the
 * packet queued. A master echoes only the slave heartbeats that named it, the
 * ones its "heard" rule counts: an echo of anything else would vouch for a host
 * the master does not count as heard (after a merge, the loser's master
 * heartbeats).
 *
 * Freshness: the replay filter only knows what it has seen, so a receiver that
 * has no state for a sender (just started) would take a captured old packet of
 * it as new, and receipt time is never evidence (DESIGN.md "Heartbeats"). Every
 * datagram therefore acks the latest one its sender accepted from the receiver
 * (Packet.ack), and a receiver takes an incarnation of a sender into account only
 * from its first packet that acks a datagram of the receiver's own incarnation:
 * that incarnation was alive after we sent it. Until then its packets are only
 * remembered, to be acked back; a master still answers a bid at once. A sender's
 * later packets of that incarnation are newer still (the replay filter).
 *
 * Timing: a peer whose heartbeat_interval or io_timeout differs from ours is
 * never followed, elected or vouched for (DESIGN.md safety point 1): its packets
 * are dropped, counted by the shell, logged once a minute, and it shows
 * init-error while they keep coming. */
#include "fdm/core/core.h"

#include <stdio.h>
#include <string.h>

#include "fdm/core/deadline.h"
#include "lib/util.h"

#define TIMING_LOG_MS 60000

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

/* A slave keeps the master's view of the cluster to show it in `fdmctl status`.
 * Each host's last heartbeat at the master is carried to our clock through the
 * echo: our send time of the echoed heartbeat + the master's send offset - the
 * age it reports. Without a usable echo, the times already known stay. */
static void keep_master_report(struct fdm_core *c, const Fdm__MasterHeartbeat *m)
{
	struct fdm_reported_host old[FDM_MAX_HOSTS];
	size_t n_old = c->n_reported, n = 0;
	bool convert;
	uint64_t sent;

	memcpy(old, c->reported, n_old * sizeof(old[0]));
	convert = echoed_send_time(c, m->echo, &sent) && m->has_sent_offset_ms;
	for (size_t i = 0; i < m->n_hosts && n < FDM_MAX_HOSTS; i++) {
		const Fdm__HostReport *h = m->hosts[i];
		struct fdm_reported_host *r = &c->reported[n];
		int state = fdm_host_state_parse(h->state);

		if (state < 0 || !fdm_strlcpy(r->id, h->host, sizeof(r->id)))
			continue;   /* a newer agent's state name: skip, do not guess */
		r->state = (enum fdm_host_state)state;
		r->datastore_mask = datastore_mask_of(c, h->datastores, h->n_datastores);
		r->have_last_hb = false;
		if (convert && h->has_heartbeat_age_ms) {
			int64_t last = (int64_t)sent + m->sent_offset_ms - (int64_t)h->heartbeat_age_ms;
			r->have_last_hb = true;
			r->last_hb_ms = last > 0 ? (uint64_t)last : 0;
		} else {
			for (size_t k = 0; k < n_old; k++)
				if (strcmp(old[k].id, r->id) == 0 && old[k].have_last_hb) {
					r->have_last_hb = true;
					r->last_hb_ms = old[k].last_hb_ms;
				}
		}
		n++;
	}
	c->n_reported = n;
}

static void on_master_hb(struct fdm_core *c, int from, const Fdm__Packet *pk, uint64_t now)
{
	const Fdm__MasterHeartbeat *m = pk->master_hb;
	struct fdm_peer_state *p = &c->peers[from];
	uint64_t sent;

	p->last_master_hb_ms = now;
	p->datastores = m->datastores;
	p->follows[0] = '\0';   /* a master follows nobody: its old StepDown is no request */
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
	fdm_deadline_on_master_hb(c, from, m);
	keep_master_report(c, m);
}

static void on_slave_hb(struct fdm_core *c, int from, const Fdm__Packet *pk, uint64_t now)
{
	const Fdm__SlaveHeartbeat *s = pk->slave_hb;
	struct fdm_peer_state *p = &c->peers[from];
	uint64_t sent;

	fdm_strlcpy(p->follows, s->master, sizeof(p->follows));
	p->datastore_mask = datastore_mask_of(c, s->datastores, s->n_datastores);
	p->datastores = (uint32_t)s->n_datastores;
	/* Only a heartbeat naming us as its master makes it our slave ("heard"), and
	 * only such a heartbeat is echoed back to it. */
	if (c->role != FDM_ROLE_MASTER || strcmp(s->master, self_id(c)) != 0)
		return;
	note_rx(p, pk, now);
	p->last_slave_hb_ms = now;
	p->ever_slave = true;
	if (echoed_send_time(c, s->echo, &sent) && (!p->have_heard || sent > p->heard_sent_ms)) {
		p->have_heard = true;
		p->heard_sent_ms = sent;
	}
}

/* "timing differs: heartbeat_interval 500 ms, ours 1000 ms; io_timeout ..." */
static void timing_text(const struct fdm_core *c, const struct fdm_peer_state *p, char *buf,
			size_t len)
{
	const struct fdm_timing *t = &c->timing;
	int n;

	if (!p->timing_known) {
		snprintf(buf, len, "timing unknown: its packets carry none (an older fdm?)");
		return;
	}
	n = snprintf(buf, len, "timing differs:");
	if (n < 0 || (size_t)n >= len)
		return;
	if (p->their_heartbeat_ms != t->heartbeat_interval_ms)
		n += snprintf(buf + n, len - (size_t)n, " heartbeat_interval %u ms, ours %u ms%s",
			      p->their_heartbeat_ms, t->heartbeat_interval_ms,
			      p->their_io_timeout_ms != t->io_timeout_ms ? ";" : "");
	if (n < 0 || (size_t)n >= len)
		return;
	if (p->their_io_timeout_ms != t->io_timeout_ms)
		snprintf(buf + n, len - (size_t)n, " io_timeout %u ms, ours %u ms",
			 p->their_io_timeout_ms, t->io_timeout_ms);
}

bool fdm_membership_timing_ok(struct fdm_core *c, int from, const Fdm__Packet *pk,
			      uint64_t now, struct fdm_actions *out)
{
	struct fdm_peer_state *p = &c->peers[from];
	char why[FDM_LOG_MAX - 64];

	p->timing_known = pk->has_heartbeat_interval_ms && pk->has_io_timeout_ms;
	p->their_heartbeat_ms = pk->has_heartbeat_interval_ms ? pk->heartbeat_interval_ms : 0;
	p->their_io_timeout_ms = pk->has_io_timeout_ms ? pk->io_timeout_ms : 0;
	if (p->timing_known && p->their_heartbeat_ms == c->timing.heartbeat_interval_ms &&
	    p->their_io_timeout_ms == c->timing.io_timeout_ms) {
		if (p->timing_mismatch)
			fdm_core_event(out, &(struct fdm_log_fields){
					.event = "timing-match", .peer = p->id },
				       "%s: host %s: timing now equals ours, its packets count again",
				       self_id(c), p->id);
		p->timing_mismatch = false;
		return true;
	}
	p->timing_mismatch = true;
	p->mismatch_at_ms = now;
	if (p->mismatch_logged_ms == 0 || now - p->mismatch_logged_ms >= TIMING_LOG_MS) {
		p->mismatch_logged_ms = now;
		timing_text(c, p, why, sizeof(why));
		fdm_core_event(out, &(struct fdm_log_fields){
				.event = "timing-mismatch", .peer = p->id },
			       "%s: host %s: %s; its packets are dropped (dropped.timing_mismatch)",
			       self_id(c), p->id, why);
	}
	return false;
}

bool fdm_membership_fresh(struct fdm_core *c, int from, const Fdm__Packet *pk)
{
	struct fdm_peer_state *p = &c->peers[from];
	uint64_t sent;

	/* Acked back in our next datagram to it, confirmed or not. */
	p->have_ack = true;
	p->ack_incarnation = pk->incarnation;
	p->ack_seq = pk->seq;
	if (p->confirmed && p->confirmed_incarnation == pk->incarnation)
		return true;
	if (!echoed_send_time(c, pk->ack, &sent))
		return false;
	p->confirmed = true;
	p->confirmed_incarnation = pk->incarnation;
	return true;
}

void fdm_membership_on_packet(struct fdm_core *c, int from, const Fdm__Packet *pk,
			      uint64_t now)
{
	struct fdm_peer_state *p = &c->peers[from];

	p->ever_heard = true;
	p->last_heard_ms = now;
	if (pk->body_case != FDM__PACKET__BODY_LEAVING && p->stopped) {
		p->stopped = false;
		p->returned_ms = now;
	}
	switch (pk->body_case) {
	case FDM__PACKET__BODY_BID:
		p->last_bid_ms = now;
		p->datastores = pk->bid->datastores;
		p->follows[0] = '\0';   /* it has no master now */
		break;
	case FDM__PACKET__BODY_MASTER_HB:
		on_master_hb(c, from, pk, now);
		break;
	case FDM__PACKET__BODY_SLAVE_HB:
		on_slave_hb(c, from, pk, now);
		break;
	case FDM__PACKET__BODY_LEAVING:
		/* Its network silence still counts from its last slave heartbeat:
		 * where its `stopped` record did not land, its VMs keep a deadline
		 * counted from the master heartbeats it echoed until now, and a dead
		 * verdict must not come before it (stormy seed 344). */
		p->stopped = true;
		p->follows[0] = '\0';
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
	/* Alive on storage: isolated or partitioned (isolated_hosts.c). */
	return fdm_isoresp_host_state(c, (size_t)(p - c->peers), now);
}

/* A slave shows other hosts as its master last reported them. */
static const struct fdm_reported_host *reported(const struct fdm_core *c, const char *id)
{
	for (size_t r = 0; r < c->n_reported; r++)
		if (strcmp(c->reported[r].id, id) == 0)
			return &c->reported[r];
	return NULL;
}

/* Its packets carried another timing lately: init-error, whatever else we know.
 * Once they stop, the ordinary rules say what it is (unreachable, mostly). */
static bool timing_refused(const struct fdm_core *c, const struct fdm_peer_state *p,
			   uint64_t now)
{
	return !p->self && p->timing_mismatch &&
	       now - p->mismatch_at_ms < c->timing.host_unreachable_ms;
}

static enum fdm_host_state state_of(const struct fdm_core *c, size_t i, uint64_t now)
{
	const struct fdm_reported_host *r;

	const struct fdm_peer_state *p = &c->peers[i];

	if (timing_refused(c, p, now))
		return FDM_HS_INIT_ERROR;
	if (p->self && c->iso.isolated)
		return FDM_HS_ISOLATED;   /* isolation_response.c */
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
	case FDM_HS_ISOLATED:
		return "no network heartbeat; alive on storage, says it is isolated";
	case FDM_HS_PARTITIONED:
		return "no network heartbeat; alive on storage";
	case FDM_HS_STOPPED:
		return "its agent stopped cleanly";
	case FDM_HS_CONNECTED:
		return "heartbeats as our slave";
	case FDM_HS_ELECTION:
		return "bidding in an election";
	case FDM_HS_INIT_ERROR:
		return "its timing differs from ours";
	default:
		return "role change";
	}
}

/* A host the master no longer hears is a warning: network loss alone stops
 * nothing (DESIGN.md point 3), but an operator must know of it. */
static bool lost(enum fdm_host_state s)
{
	return s == FDM_HS_UNREACHABLE || s == FDM_HS_PARTITIONED || s == FDM_HS_ISOLATED ||
	       s == FDM_HS_DEAD;
}

static void log_transition(struct fdm_core *c, const struct fdm_peer_state *p,
			   enum fdm_host_state s, uint64_t now, struct fdm_actions *out)
{
	char why[96];
	struct fdm_action *a;

	a = fdm_core_event(out, &(struct fdm_log_fields){ .event = "host-state", .peer = p->id },
			   "%s: host %s %s -> %s (%s)", self_id(c), p->id,
			   fdm_host_state_name(p->state), fdm_host_state_name(s),
			   state_reason(p, s, now, why, sizeof(why)));
	if (a != NULL && lost(s))
		a->warning = true;
}

void fdm_membership_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	for (size_t i = 0; i < c->n_peers; i++) {
		struct fdm_peer_state *p = &c->peers[i];
		enum fdm_host_state s = state_of(c, i, now);

		if (s == p->state)
			continue;
		/* Transitions are logged where they are decided: on the master. */
		if (c->role == FDM_ROLE_MASTER && !p->self)
			log_transition(c, p, s, now, out);
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
	/* A slave shows the master's ages, carried through the echo, never the
	 * receipt time of a master heartbeat that may have queued for long. */
	if (c->role == FDM_ROLE_SLAVE) {
		const struct fdm_reported_host *r = reported(c, p->id);
		if (r == NULL || !r->have_last_hb)
			return UINT32_MAX;
		last = r->last_hb_ms;
		if (now <= last)
			return 0;
		return now - last > UINT32_MAX ? UINT32_MAX : (uint32_t)(now - last);
	}
	last = c->role == FDM_ROLE_MASTER && p->last_slave_hb_ms ? p->last_slave_hb_ms
								  : p->last_heard_ms;
	if (last == 0)
		return UINT32_MAX;
	return now - last > UINT32_MAX ? UINT32_MAX : (uint32_t)(now - last);
}

const char *fdm_core_host_reason(const struct fdm_core *c, size_t i, uint64_t now,
				 char *buf, size_t len)
{
	const struct fdm_peer_state *p = &c->peers[i];

	if (!timing_refused(c, p, now))
		return NULL;
	timing_text(c, p, buf, len);
	return buf;
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
