/* Entry points of the pure core: set-up, and the dispatch of each event to the
 * election (election.c) and the host table (membership.c). Also the numbering of
 * every datagram we send, so an echo of it names its send time. */
#include "fdm/core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fdm/core/deadline.h"
#include "fdm/core/vmreport.h"
#include "lib/util.h"

static const char *const role_names[] = {
	[FDM_ROLE_ELECTION] = "election",
	[FDM_ROLE_MASTER] = "master",
	[FDM_ROLE_SLAVE] = "slave",
};

static const char *const state_names[FDM_HS_COUNT] = {
	[FDM_HS_UNINITIALIZED] = "uninitialized",
	[FDM_HS_MASTER] = "master",
	[FDM_HS_CONNECTED] = "connected",
	[FDM_HS_ELECTION] = "election",
	[FDM_HS_UNREACHABLE] = "unreachable",
	[FDM_HS_ISOLATED] = "isolated",
	[FDM_HS_PARTITIONED] = "partitioned",
	[FDM_HS_DEAD] = "dead",
	[FDM_HS_STOPPED] = "stopped",
	[FDM_HS_MAINTENANCE] = "maintenance",
	[FDM_HS_INIT_ERROR] = "init-error",
};

const char *fdm_role_name(enum fdm_role r)
{
	return (unsigned)r <= FDM_ROLE_SLAVE ? role_names[r] : "?";
}

const char *fdm_host_state_name(enum fdm_host_state s)
{
	return (unsigned)s < FDM_HS_COUNT ? state_names[s] : "?";
}

int fdm_host_state_parse(const char *name)
{
	for (int s = 0; s < FDM_HS_COUNT; s++)
		if (strcmp(state_names[s], name) == 0)
			return s;
	return -1;
}

int fdm_rank_cmp(uint32_t ds_a, const char *id_a, uint32_t ds_b, const char *id_b)
{
	int by_id;

	if (ds_a != ds_b)
		return ds_a > ds_b ? 1 : -1;
	by_id = strcmp(id_a, id_b);
	return by_id > 0 ? 1 : by_id < 0 ? -1 : 0;
}

int fdm_core_init(struct fdm_core *c, const struct fdm_config *cfg,
		  const struct fdm_timing *t, uint64_t incarnation, uint64_t now)
{
	int self = fdm_config_peer_index(cfg, cfg->host_id);

	if (self < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	c->born_ms = now;
	c->timing = *t;
	c->n_peers = cfg->n_peers;
	c->self = (size_t)self;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		fdm_strlcpy(c->peers[i].id, cfg->peers[i].id, FDM_ID_MAX);
		c->peers[i].self = i == c->self;
		c->peers[i].state = FDM_HS_UNINITIALIZED;
	}
	c->n_datastores = cfg->n_datastores;
	for (size_t i = 0; i < cfg->n_datastores; i++)
		fdm_strlcpy(c->datastore_names[i], cfg->datastores[i].name, FDM_ID_MAX);
	c->incarnation = incarnation;
	for (size_t d = 0; d < cfg->n_datastores; d++)
		fdm_storage_init(c, d, cfg->datastores[d].url, now);
	c->next_seq = 1;
	c->master = -1;
	c->role = FDM_ROLE_ELECTION;
	c->role_since_ms = now;
	fdm_ha_init(c);
	fdm_ha_configure(c, cfg);
	fdm_isoresp_configure(c, cfg);
	return 0;
}

int fdm_core_peer_index(const struct fdm_core *c, const char *id)
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (strcmp(c->peers[i].id, id) == 0)
			return (int)i;
	return -1;
}

struct fdm_action *fdm_core_action(struct fdm_actions *out, enum fdm_action_kind kind)
{
	struct fdm_action *a;

	if (out->n == FDM_ACTIONS_MAX) {
		out->overflow++;
		return NULL;
	}
	a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static struct fdm_action *vevent(struct fdm_actions *out, const struct fdm_log_fields *about,
				 const char *fmt, va_list ap)
{
	struct fdm_action *a = fdm_core_action(out, FDM_ACT_LOG);

	if (a == NULL)
		return NULL;
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	a->event = about->event != NULL ? about->event : "note";
	fdm_strlcpy(a->peer, about->peer != NULL ? about->peer : "", sizeof(a->peer));
	fdm_strlcpy(a->vm, about->vm != NULL ? about->vm : "", sizeof(a->vm));
	fdm_strlcpy(a->datastore, about->datastore != NULL ? about->datastore : "",
		    sizeof(a->datastore));
	a->has_term = about->has_term;
	a->term = about->term;
	return a;
}

struct fdm_action *fdm_core_event(struct fdm_actions *out, const struct fdm_log_fields *about,
				  const char *fmt, ...)
{
	struct fdm_action *a;
	va_list ap;

	va_start(ap, fmt);
	a = vevent(out, about, fmt, ap);
	va_end(ap);
	return a;
}

void fdm_core_log(struct fdm_actions *out, const char *fmt, ...)
{
	const struct fdm_log_fields none = { .event = "note" };
	va_list ap;

	va_start(ap, fmt);
	vevent(out, &none, fmt, ap);
	va_end(ap);
}

void fdm_core_send(struct fdm_core *c, enum fdm_msg msg, int to, uint64_t now,
		   struct fdm_actions *out)
{
	struct fdm_action *a;

	if (to < 0 || (size_t)to >= c->n_peers || (size_t)to == c->self)
		return;
	a = fdm_core_action(out, FDM_ACT_SEND);
	if (a == NULL)
		return;
	a->msg = msg;
	a->to = to;
	a->seq = fdm_core_take_seq(c, now);
}

uint64_t fdm_core_take_seq(struct fdm_core *c, uint64_t now)
{
	uint64_t seq = c->next_seq++;

	c->sent[c->sent_next].seq = seq;
	c->sent[c->sent_next].at_ms = now;
	c->sent_next = (c->sent_next + 1) % FDM_SENT_RING;
	return seq;
}

void fdm_core_send_all(struct fdm_core *c, enum fdm_msg msg, uint64_t now,
		       struct fdm_actions *out)
{
	for (size_t i = 0; i < c->n_peers; i++)
		fdm_core_send(c, msg, (int)i, now, out);
}

bool fdm_core_sent_at(const struct fdm_core *c, uint64_t incarnation, uint64_t seq,
		      uint64_t *at_ms)
{
	if (incarnation != c->incarnation)
		return false;
	for (size_t i = 0; i < FDM_SENT_RING; i++) {
		if (c->sent[i].seq == seq && seq != 0) {
			*at_ms = c->sent[i].at_ms;
			return true;
		}
	}
	return false;
}

void fdm_core_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	if (!c->leaving)
		fdm_election_tick(c, now, out);
	fdm_membership_tick(c, now, out);
	fdm_storage_tick(c, now, out);
	fdm_ha_tick(c, now, out);
	fdm_isoresp_tick(c, now, out);
	fdm_deadline_tick(c, now, out);
}

enum fdm_rx fdm_core_packet(struct fdm_core *c, int from, const Fdm__Packet *p, uint64_t now,
			    struct fdm_actions *out)
{
	/* A host that is stopping only finishes its lease releases. */
	if (from < 0 || (size_t)from >= c->n_peers || (size_t)from == c->self || c->leaving)
		return FDM_RX_IGNORED;
	/* Its timing counts for our lease waits even when it differs from ours
	 * (storage.c): read before the packet may be dropped for it. */
	fdm_storage_peer_timing(c, from, p, out);
	/* A host whose timing differs is never followed, elected or vouched for. */
	if (!fdm_membership_timing_ok(c, from, p, now, out))
		return FDM_RX_TIMING_MISMATCH;
	if (!fdm_membership_fresh(c, from, p)) {
		/* A master answers a bid at once all the same: its heartbeat acks the
		 * bid, which is what lets the bidder take it into account. */
		if (c->role == FDM_ROLE_MASTER && p->body_case == FDM__PACKET__BODY_BID &&
		    now >= c->yield_until_ms)   /* a yielding master lets them elect */
			fdm_core_send(c, FDM_MSG_MASTER_HB, from, now, out);
		return FDM_RX_UNCONFIRMED;
	}
	switch (p->body_case) {
	case FDM__PACKET__BODY_BID:
		fdm_election_on_bid(c, from, p->bid, now, out);
		break;
	case FDM__PACKET__BODY_MASTER_HB:
		fdm_election_on_master_hb(c, from, p->master_hb, now, out);
		break;
	case FDM__PACKET__BODY_STEP_DOWN:
		fdm_election_on_step_down(c, from, p->step_down, now, out);
		break;
	case FDM__PACKET__BODY_SLAVE_HB:
	case FDM__PACKET__BODY_LEAVING:
	case FDM__PACKET__BODY_FORWARD:
	case FDM__PACKET__BODY_FORWARD_REPLY:
	case FDM__PACKET__BODY_DEFINE_REQUEST:
	case FDM__PACKET__BODY_DEFINE_REPLY:
	case FDM__PACKET__BODY__NOT_SET:
	default:
		break;
	}
	/* After the election: a master heartbeat that made us its slave is echoed. */
	fdm_membership_on_packet(c, from, p, now);
	/* Then what it says of VMs, from our slave or to us from our master. */
	fdm_vmreport_on_packet(c, from, p, now, out);
	/* And an operator's request or its answers, for the shell to carry out. */
	return fdm_forward_on_packet(c, from, p, now, out);
}

void fdm_core_leave(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	c->leaving = true;
	fdm_core_send_all(c, FDM_MSG_LEAVING, now, out);
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "agent-stopping" },
		       "%s: stopping cleanly, told every peer; releasing leases",
		       c->peers[c->self].id);
	fdm_storage_tick(c, now, out);
}
