/* Master election over UDP 8182 (DESIGN.md "Election"), as one state machine:
 *   election --(window over, we rank best)--> master
 *   election --(a master announces itself)--> slave
 *   slave    --(master silent master_lost, or it steps down)--> election
 *   master   --(a better-ranked master is heard: merge rule)--> slave
 *   master   --(fdmctl election --force)--> election
 * Rank: most reachable datastores, then the host id greatest as a string. A host
 * that joins while a master lives hears that master answer its first bid and
 * becomes its slave, whatever its rank: no flapping. */
#include "fdm/core/core.h"

#include <stdio.h>
#include <string.h>

#include "lib/util.h"

static const char *const handover_names[] = {
	[FDM_HANDOVER_NONE] = "none",
	[FDM_HANDOVER_YIELD] = "yield",
	[FDM_HANDOVER_MERGE] = "merge",
	[FDM_HANDOVER_ISOLATED] = "isolated",
};

const char *fdm_handover_kind_name(enum fdm_handover_kind k)
{
	return (unsigned)k <= FDM_HANDOVER_ISOLATED ? handover_names[k] : "?";
}

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

static const char *master_id(const struct fdm_core *c)
{
	return c->master >= 0 ? c->peers[c->master].id : "none";
}

/* A new mastership earns its view of the slaves afresh: nothing heard under an
 * earlier one may vouch for a host now (DESIGN.md "Election"), nor be echoed. */
static void forget_slaves(struct fdm_core *c)
{
	for (size_t i = 0; i < c->n_peers; i++) {
		c->peers[i].ever_slave = false;
		c->peers[i].last_slave_hb_ms = 0;
		c->peers[i].have_heard = false;
		c->peers[i].have_rx = false;
	}
}

/* A new mastership earns its bounds and its yield afresh: renewals and lease
 * failures of an earlier one count for nothing (DESIGN.md "Election"). */
static void new_mastership(struct fdm_core *c)
{
	c->yield_until_ms = 0;
	for (size_t d = 0; d < c->n_datastores; d++) {
		c->ds[d].renewal_ms = 0;
		c->ds[d].lease_fail_since_ms = 0;
		c->ds[d].stepdown_releasing = false;
	}
}

static void note_handover(struct fdm_core *c, enum fdm_handover_kind kind, uint64_t now,
			  const char *from, const char *to, const char *why)
{
	c->handover.kind = kind;
	c->handover.at_ms = now;
	fdm_strlcpy(c->handover.from, from, sizeof(c->handover.from));
	fdm_strlcpy(c->handover.to, to, sizeof(c->handover.to));
	fdm_strlcpy(c->handover.why, why, sizeof(c->handover.why));
}

static void set_role(struct fdm_core *c, enum fdm_role role, int master, uint64_t now,
		     const char *why, struct fdm_actions *out)
{
	enum fdm_role old = c->role;

	c->role = role;
	c->master = master;
	c->role_since_ms = now;
	c->next_hb_ms = now;  /* announce the new role at once */
	if (role == FDM_ROLE_SLAVE)
		c->last_master_hb_ms = now;
	if (role != FDM_ROLE_SLAVE) {
		c->have_master_rx = false;
		c->vouched = false;
	}
	if (role == FDM_ROLE_MASTER) {
		forget_slaves(c);
		new_mastership(c);
	}
	if (old == FDM_ROLE_MASTER && role != FDM_ROLE_MASTER)
		fdm_storage_stepped_down(c);
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "role", .has_term = true,
			.term = c->term },
		       "%s: %s -> %s (%s)", self_id(c), fdm_role_name(old),
		       fdm_role_name(role), why);
	fdm_core_action(out, FDM_ACT_ROLE);
}

/* The election record goes to `last` once decided, for fdmctl election. */
static void conclude(struct fdm_core *c, int winner, uint64_t term, uint64_t now,
		     const char *how, struct fdm_actions *out)
{
	struct fdm_election_record *r = &c->current;

	if (!r->valid) {
		memset(r, 0, sizeof(*r));
		r->valid = true;
		r->started_ms = now;
		fdm_strlcpy(r->reason, how, sizeof(r->reason));
	}
	r->decided_ms = now;
	r->term = term;
	fdm_strlcpy(r->winner, c->peers[winner].id, sizeof(r->winner));
	c->last = *r;
	r->valid = false;
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "election-result",
			.peer = c->peers[winner].id, .has_term = true, .term = term },
		       "%s: election result: %s is master, term %llu, %zu bid(s) seen, %llu ms",
		       self_id(c), c->peers[winner].id, (unsigned long long)term, c->last.n_bids,
		       (unsigned long long)(now - c->last.started_ms));
}

void fdm_election_start(struct fdm_core *c, uint64_t now, const char *reason,
			struct fdm_actions *out)
{
	struct fdm_election_record *r = &c->current;

	memset(r, 0, sizeof(*r));
	r->valid = true;
	r->started_ms = now;
	fdm_strlcpy(r->reason, reason, sizeof(r->reason));
	c->window_end_ms = now + c->timing.election_window_ms;
	c->next_bid_ms = now;
	if (c->role != FDM_ROLE_ELECTION)
		set_role(c, FDM_ROLE_ELECTION, -1, now, reason, out);
	else
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "election-started",
				.has_term = true, .term = c->term },
			       "%s: election started (%s)", self_id(c), reason);
	c->master = -1;
}

static uint64_t highest_term_seen(const struct fdm_core *c)
{
	uint64_t t = c->term;

	for (size_t i = 0; i < c->current.n_bids; i++)
		if (c->current.bids[i].term > t)
			t = c->current.bids[i].term;
	return t;
}

/* Are we the best of the bids heard in this window (and ourselves)? */
static int best_candidate(const struct fdm_core *c)
{
	int best = (int)c->self;
	uint32_t best_ds = c->my_datastores;

	for (size_t i = 0; i < c->current.n_bids; i++) {
		const struct fdm_bid_seen *b = &c->current.bids[i];
		int idx = -1;

		for (size_t p = 0; p < c->n_peers; p++)
			if (strcmp(c->peers[p].id, b->host) == 0)
				idx = (int)p;
		if (idx < 0)
			continue;
		if (fdm_rank_cmp(b->datastores, b->host, best_ds, c->peers[best].id) > 0) {
			best = idx;
			best_ds = b->datastores;
		}
	}
	return best;
}

static void decide(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	int best = best_candidate(c);
	char why[FDM_LOG_MAX];

	if ((size_t)best == c->self) {
		c->term = highest_term_seen(c) + 1;
		conclude(c, best, c->term, now, "election", out);
		snprintf(why, sizeof(why), "won election, term %llu, %u datastores",
			 (unsigned long long)c->term, c->my_datastores);
		set_role(c, FDM_ROLE_MASTER, (int)c->self, now, why, out);
		return;
	}
	/* Someone better bid: give it two more windows to announce itself. */
	if (now >= c->window_end_ms + 2 * (uint64_t)c->timing.election_window_ms) {
		snprintf(why, sizeof(why), "%s ranked best but did not announce itself",
			 c->peers[best].id);
		fdm_election_start(c, now, why, out);
	}
}

/* The best-ranked of our slaves heard within the heard window that reaches
 * datastore d and more datastores than we do now; -1: none. Its report must
 * be one sent after it had time to notice the same fault: a storage hang that
 * hits every host reaches each within two io of our first failure, or of our
 * own count's last change (a write issued just before the hang times out one
 * io later), so a report received earlier may still count a datastore the
 * slave has lost too (found on the real servers: test_storage_servers.py). */
static int better_slave(const struct fdm_core *c, size_t d, uint64_t failing_since,
			uint64_t now)
{
	uint64_t from = failing_since > c->datastores_changed_ms ? failing_since
								 : c->datastores_changed_ms;
	uint64_t fresh = from + 2 * (uint64_t)c->timing.io_timeout_ms;
	int best = -1;

	for (size_t i = 0; i < c->n_peers; i++) {
		const struct fdm_peer_state *p = &c->peers[i];

		if (i == c->self || !p->ever_slave || strcmp(p->follows, self_id(c)) != 0 ||
		    now - p->last_slave_hb_ms > c->timing.heard_window_ms ||
		    p->last_slave_hb_ms < fresh ||
		    !(p->datastore_mask & (1u << d)) || p->datastores <= c->my_datastores)
			continue;
		if (best < 0 || fdm_rank_cmp(p->datastores, p->id, c->peers[best].datastores,
					     c->peers[best].id) > 0)
			best = (int)i;
	}
	return best;
}

/* Our renewals of d's lease have failed for two io periods (and a heartbeat
 * more, for our slaves' reports to catch up: better_slave); -1: of none. */
static int failing_datastore(const struct fdm_core *c, uint64_t now, size_t from)
{
	for (size_t d = from; d < c->n_datastores; d++) {
		uint64_t since = c->ds[d].lease_fail_since_ms;

		if (since != 0 && c->ds[d].lease.wanted &&
		    now - since >= 2 * (uint64_t)c->timing.io_timeout_ms +
				   c->timing.heartbeat_interval_ms)
			return (int)d;
	}
	return -1;
}

/* Yield (DESIGN.md "Election"): our renewals of d's lease have failed for two
 * io periods while a slave that reaches d reaches more datastores than we do
 * now. Tell the slaves to elect at once and keep silent for that election's
 * length (its window, and the two more a winner has to announce itself);
 * meanwhile every lease we still can is renewed. The better master's
 * heartbeat then makes us step down (merge), and our leases pass to it. At
 * most once per yield_min_gap (host_dead): a slave that keeps losing its
 * storage too must not keep the cluster electing. A datastore no slave
 * reaches either is no reason: the hand-over would only move the problem. */
static void maybe_yield(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	int d = -1, better = -1;
	char why[FDM_LOG_MAX];

#ifdef FDM_MUTANT_NO_STEP_DOWN
	return;                   /* tests/sim mutant: a master never yields its role */
#endif
	if (now < c->yield_until_ms ||
	    (c->last_yield_ms != 0 && now < c->last_yield_ms + c->timing.yield_min_gap_ms))
		return;
	while ((d = failing_datastore(c, now, (size_t)(d + 1))) >= 0)
		if ((better = better_slave(c, (size_t)d, c->ds[d].lease_fail_since_ms, now)) >= 0)
			break;
	if (d < 0)
		return;
	c->last_yield_ms = now;
	c->yield_until_ms = now + 3 * (uint64_t)c->timing.election_window_ms +
			    c->timing.heartbeat_interval_ms;
	snprintf(why, sizeof(why), "%s renewals failing for %llu s; %s reaches %u datastores, "
		 "we reach %u", c->datastore_names[d],
		 (unsigned long long)((now - c->ds[d].lease_fail_since_ms) / 1000),
		 c->peers[better].id, c->peers[better].datastores, c->my_datastores);
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "yield",
			.peer = c->peers[better].id, .datastore = c->datastore_names[d],
			.has_term = true, .term = c->term },
		       "%s: yielding: %s", self_id(c), why);
	note_handover(c, FDM_HANDOVER_YIELD, now, self_id(c), c->peers[better].id, why);
	fdm_core_send_all(c, FDM_MSG_STEP_DOWN, now, out);
}

void fdm_election_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	char why[FDM_LOG_MAX];

	switch (c->role) {
	case FDM_ROLE_ELECTION:
		if (!c->current.valid)
			fdm_election_start(c, now, "agent started", out);
		if (now >= c->next_bid_ms) {
			fdm_core_send_all(c, FDM_MSG_BID, now, out);
			c->next_bid_ms = now + c->timing.bid_interval_ms;
		}
		if (now >= c->window_end_ms)
			decide(c, now, out);
		break;
	case FDM_ROLE_SLAVE:
		if (now - c->last_master_hb_ms >= c->timing.master_lost_ms) {
			snprintf(why, sizeof(why), "master %s silent for %llu ms", master_id(c),
				 (unsigned long long)(now - c->last_master_hb_ms));
			fdm_election_start(c, now, why, out);
			break;
		}
		if (now >= c->next_hb_ms) {
			fdm_core_send(c, FDM_MSG_SLAVE_HB, c->master, now, out);
			c->next_hb_ms = now + c->timing.heartbeat_interval_ms;
		}
		break;
	case FDM_ROLE_MASTER:
		maybe_yield(c, now, out);
		if (now >= c->next_hb_ms && now >= c->yield_until_ms) {
			fdm_core_send_all(c, FDM_MSG_MASTER_HB, now, out);
			c->next_hb_ms = now + c->timing.heartbeat_interval_ms;
		}
		break;
	}
}

static void record_bid(struct fdm_core *c, int from, const Fdm__Bid *b, uint64_t now)
{
	struct fdm_election_record *r = &c->current;
	struct fdm_bid_seen *slot = NULL;

	for (size_t i = 0; i < r->n_bids; i++)
		if (strcmp(r->bids[i].host, c->peers[from].id) == 0)
			slot = &r->bids[i];
	if (slot == NULL) {
		if (r->n_bids == FDM_MAX_HOSTS)
			return;
		slot = &r->bids[r->n_bids++];
		fdm_strlcpy(slot->host, c->peers[from].id, sizeof(slot->host));
	}
	slot->datastores = b->datastores;
	slot->term = b->term;
	slot->at_ms = now;
}

void fdm_election_on_bid(struct fdm_core *c, int from, const Fdm__Bid *b, uint64_t now,
			 struct fdm_actions *out)
{
	switch (c->role) {
	case FDM_ROLE_ELECTION:
		record_bid(c, from, b, now);
		break;
	case FDM_ROLE_MASTER:
		/* A host without a master: tell it at once that we are one (not
		 * while yielding: it is to elect another). */
		if (now >= c->yield_until_ms)
			fdm_core_send(c, FDM_MSG_MASTER_HB, from, now, out);
		break;
	case FDM_ROLE_SLAVE:
		break;
	}
}

static void follow(struct fdm_core *c, int from, uint64_t term, uint64_t now,
		   const char *how, struct fdm_actions *out)
{
	char why[FDM_LOG_MAX];

	if (term > c->term)
		c->term = term;
	conclude(c, from, term, now, how, out);
	snprintf(why, sizeof(why), "%s: master %s, term %llu", how, c->peers[from].id,
		 (unsigned long long)term);
	set_role(c, FDM_ROLE_SLAVE, from, now, why, out);
}

/* Two masters hear each other (a healed partition): the lower-ranked one steps
 * down and tells its slaves to elect, where they will find the winner. */
static void merge(struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m, uint64_t now,
		  struct fdm_actions *out)
{
	const char *other = c->peers[from].id;

	char why[FDM_LOG_MAX];

	if (fdm_rank_cmp(m->datastores, other, c->my_datastores, self_id(c)) > 0) {
		snprintf(why, sizeof(why), "master %s (%u datastores) outranks us (%u)%s",
			 other, m->datastores, c->my_datastores,
			 now < c->yield_until_ms ? " after our yield" : "");
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "step-down", .peer = other,
				.has_term = true, .term = m->term },
			       "%s: %s: stepping down, releasing our leases to it", self_id(c), why);
		note_handover(c, FDM_HANDOVER_MERGE, now, self_id(c), other, why);
		for (size_t i = 0; i < c->n_peers; i++)
			if ((int)i != from)
				fdm_core_send(c, FDM_MSG_STEP_DOWN, (int)i, now, out);
		follow(c, from, m->term, now, "merged with a better master", out);
		return;
	}
	if (m->term >= c->term) {
		c->term = m->term + 1;
		snprintf(why, sizeof(why), "second master %s (%u datastores) heard; we outrank "
			 "it (%u)", other, m->datastores, c->my_datastores);
		note_handover(c, FDM_HANDOVER_MERGE, now, other, self_id(c), why);
		fdm_core_event(out, &(struct fdm_log_fields){
				.event = "second-master", .peer = other,
				.has_term = true, .term = c->term },
			       "%s: second master %s (term %llu) heard; we outrank it, term now %llu",
			       self_id(c), other, (unsigned long long)m->term,
			       (unsigned long long)c->term);
	}
	fdm_core_send(c, FDM_MSG_MASTER_HB, from, now, out);
}

void fdm_election_on_master_hb(struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m,
			       uint64_t now, struct fdm_actions *out)
{
	switch (c->role) {
	case FDM_ROLE_ELECTION:
		follow(c, from, m->term, now, "master announced", out);
		break;
	case FDM_ROLE_SLAVE:
		if (from != c->master)
			break;  /* ours still lives; masters merge among themselves */
		c->last_master_hb_ms = now;
		if (m->term > c->term)
			c->term = m->term;
		if (m->has_yielding && m->yielding)
			fdm_election_start(c, now, "master yields its role", out);
		break;
	case FDM_ROLE_MASTER:
		merge(c, from, m, now, out);
		break;
	}
}

static void step_down(struct fdm_core *c, uint64_t now, const char *why,
		      struct fdm_actions *out)
{
	fdm_core_send_all(c, FDM_MSG_STEP_DOWN, now, out);
	fdm_election_start(c, now, why, out);
}

void fdm_election_on_step_down(struct fdm_core *c, int from, const Fdm__StepDown *s,
			       uint64_t now, struct fdm_actions *out)
{
	char why[FDM_LOG_MAX];

	if (s->term > c->term)
		c->term = s->term;
	if (c->role == FDM_ROLE_SLAVE && from == c->master) {
		snprintf(why, sizeof(why), "master %s stepped down%s%s", c->peers[from].id,
			 s->reason ? ": " : "", s->reason ? s->reason : "");
		fdm_election_start(c, now, why, out);
	} else if (c->role == FDM_ROLE_MASTER &&
		   strcmp(c->peers[from].follows, self_id(c)) == 0) {
		/* One of our slaves' operator ran `fdmctl election --force`. A master
		 * that lost a merge also says StepDown, but it never followed us. */
		snprintf(why, sizeof(why), "new election asked for by %s", c->peers[from].id);
		step_down(c, now, why, out);
	}
}

void fdm_core_force_election(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	switch (c->role) {
	case FDM_ROLE_MASTER:
		step_down(c, now, "forced by operator (fdmctl election --force)", out);
		break;
	case FDM_ROLE_SLAVE:
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "step-down-request",
				.peer = master_id(c), .has_term = true, .term = c->term },
			       "%s: asking master %s to step down (fdmctl election --force)",
			       self_id(c), master_id(c));
		fdm_core_send(c, FDM_MSG_STEP_DOWN, c->master, now, out);
		break;
	case FDM_ROLE_ELECTION:
		fdm_election_start(c, now, "forced by operator (fdmctl election --force)", out);
		break;
	}
}
