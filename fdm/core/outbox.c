/* What each message says (DESIGN.md "Election" and "Heartbeats"). Times that cross
 * hosts travel as offsets from the receipt of the heartbeat we echo, never as
 * absolute times: the receiver adds them to its own send time of that heartbeat.
 * Every list is bounded by ha.h and config.h; those that may grow past the
 * datagram (a master's VM table and per-host datastores, display only, and the
 * VMs a slave runs, then sent as not `listed`) are cut at FDM_OUTBOX_PACKET_MAX. */
#include "fdm/core/outbox.h"

#include <string.h>

#include "fdm/core/deadline.h"

/* Room for the length prefixes that grow as lists are added: the heartbeat's
 * own (2 -> 3 bytes), and per host report (1 -> 2 bytes). */
#define BODY_PREFIX_SLACK 4
#define HOST_PREFIX_SLACK 2

/* protobuf-c wants char *; it never writes through them when packing. */
static char *str(const char *s)
{
	return (char *)s;
}

/* A VM name that can be protected: 1 to FDM_VM_NAME_MAX - 1 bytes, terminated
 * inside its buffer. No other name is ever sent. */
static bool vm_name_ok(const char *name)
{
	size_t len = strnlen(name, FDM_VM_NAME_MAX);

	return len > 0 && len < FDM_VM_NAME_MAX;
}

/* What a string field of a given length adds to a message: tag (fields below
 * 16), length varint, bytes. */
static size_t string_cost(size_t len)
{
	size_t cost = 1 + len;

	do {
		cost++;
		len >>= 7;
	} while (len != 0);
	return cost;
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
	/* Its datastores come last, within what the datagram has room for. */
	h->n_datastores = 0;
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

/* Per datastore whose lease we hold or held in this mastership, the issue time of our last renewal as an
 * offset from our receipt of the heartbeat of `to` we echo: the slave's
 * takeover bound (DESIGN.md point 3, deadline.c), which a lost lease still
 * gives (a storage outage). A released lease is not reported: a successor may take it at once, so it bounds nothing. */
static void add_leases(const struct fdm_core *c, int to, struct fdm_outbox *ob)
{
	Fdm__MasterHeartbeat *m = &ob->master_hb;
	size_t k = 0;

	for (size_t d = 0; d < c->n_datastores; d++) {
		uint64_t renewal = fdm_deadline_own_renewal(c, d);
		Fdm__LeaseReport *l = &ob->leases[k];
		int64_t offset;

		if (renewal == 0 || !fdm_membership_offset(c, to, renewal, &offset))
			continue;
		fdm__lease_report__init(l);
		l->datastore = str(c->datastore_names[d]);
		l->last_renewal_offset_ms = offset;
		l->held = true;
		ob->lease_ptrs[k++] = l;
	}
	m->n_leases = k;
	m->leases = ob->lease_ptrs;
}

/* Our power-on orders for `to` (all of them: one left out would read as
 * withdrawn), and the highest of its stops we have taken into account. An
 * order of a datastore whose lease we no longer act on is left out at once
 * (withdrawn): a master without the lease orders nothing there. */
static void add_orders(const struct fdm_core *c, int to, uint64_t now, struct fdm_outbox *ob)
{
	Fdm__MasterHeartbeat *m = &ob->master_hb;
	const struct fdm_order *o;
	size_t n = fdm_ha_orders_for(c, to, &o), k = 0;

	if (n > FDM_MAX_ORDERS)
		n = FDM_MAX_ORDERS;
	for (size_t i = 0; i < n; i++) {
		Fdm__PowerOnOrder *po = &ob->orders[k];

		if (!vm_name_ok(o[i].name) || o[i].ds < 0 || (size_t)o[i].ds >= c->n_datastores)
			continue;
		if (!fdm_lease_acting(&c->ds[o[i].ds].lease, now))
			continue;
		fdm__power_on_order__init(po);
		po->name = str(o[i].name);
		po->datastore = str(c->datastore_names[o[i].ds]);
		po->restarts = o[i].restarts;
		ob->order_ptrs[k++] = po;
	}
	m->n_orders = k;
	m->orders = ob->order_ptrs;
	m->has_stop_ack = true;
	m->stop_ack = c->ha.hosts[to].last_stop_seq;
}

/* A VM of our table as the slaves show it: strings point into the core. */
static void build_vm_report(const struct fdm_core *c, const struct fdm_vm *v,
			    Fdm__VmReport *r)
{
	fdm__vm_report__init(r);
	r->name = str(v->name);
	r->state = str(fdm_vm_state_name(v->state));
	if (v->host >= 0 && (size_t)v->host < c->n_peers)
		r->host = str(c->peers[v->host].id);
	if (v->ds >= 0 && (size_t)v->ds < c->n_datastores)
		r->datastore = str(c->datastore_names[v->ds]);
	r->has_priority = true;
	r->priority = (uint32_t)v->priority;
	r->has_restarts = true;
	r->restarts = v->restarts;
	r->has_attempts = true;
	r->attempts = v->attempts;
	if (v->waiting[0] && strnlen(v->waiting, FDM_HA_WHY_MAX) < FDM_HA_WHY_MAX)
		r->waiting = str(v->waiting);
	if (v->last_failure[0] && strnlen(v->last_failure, FDM_HA_WHY_MAX) < FDM_HA_WHY_MAX)
		r->last_failure = str(v->last_failure);
}

/* Our VM table and capacity, display only on the slaves (fdmctl vms, status):
 * whole VMs while the datagram has room, then vms_partial. Before the hosts'
 * datastores, which say less to an operator than where each VM is. */
static void add_vm_reports(const struct fdm_core *c, struct fdm_outbox *ob)
{
	Fdm__MasterHeartbeat *m = &ob->master_hb;
	struct fdm_capacity cap;
	size_t used, k = 0;

	fdm_vmview_capacity(c, &cap);
	m->has_spare_kib = m->has_needed_kib = m->has_host_failures_tolerated = true;
	m->spare_kib = cap.spare_kib;
	m->needed_kib = cap.needed_kib;
	m->host_failures_tolerated = cap.host_failures_tolerated;
	m->has_vms_partial = true;
	m->vms_partial = false;
	used = fdm__packet__get_packed_size(&ob->packet) + BODY_PREFIX_SLACK;
	for (size_t i = 0; i < c->ha.n_vms && k < FDM_MAX_VMS; i++) {
		const struct fdm_vm *v = &c->ha.vms[i];
		Fdm__VmReport *r = &ob->vm_reports[k];
		size_t cost;

		if (!v->used || !vm_name_ok(v->name))
			continue;
		build_vm_report(c, v, r);
		/* tag, length varint (3 bytes at most), the report */
		cost = 1 + 3 + fdm__vm_report__get_packed_size(r);
		if (used + cost > FDM_OUTBOX_PACKET_MAX) {
			m->vms_partial = true;
			break;
		}
		used += cost;
		ob->vm_report_ptrs[k++] = r;
	}
	m->n_vms = k;
	m->vms = ob->vm_report_ptrs;
}

/* Each host's datastores while the datagram has room: display only on the slaves
 * (fdmctl status), so a host goes without them rather than the heartbeat going
 * unsent (64 hosts x 32 datastores of 63 bytes would take 140 KB). */
static void add_host_datastores(const struct fdm_core *c, struct fdm_outbox *ob)
{
	size_t used = fdm__packet__get_packed_size(&ob->packet) + BODY_PREFIX_SLACK;

	for (size_t i = 0; i < c->n_peers; i++) {
		char **names = ob->host_datastores[i];
		size_t n = datastore_names(c, fdm_core_host_datastores(c, i), names);
		size_t cost = HOST_PREFIX_SLACK;

		for (size_t k = 0; k < n; k++)
			cost += string_cost(strlen(names[k]));
		if (used + cost > FDM_OUTBOX_PACKET_MAX)
			continue;
		used += cost;
		ob->hosts[i].n_datastores = n;
	}
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
	add_leases(c, to, ob);
	add_orders(c, to, now, ob);
	ob->packet.body_case = FDM__PACKET__BODY_MASTER_HB;
	ob->packet.master_hb = m;
	add_vm_reports(c, ob);
	add_host_datastores(c, ob);
}

/* VMs that stopped here, until the master acks them. */
static void add_stops(const struct fdm_slave_report *r, struct fdm_outbox *ob)
{
	Fdm__SlaveHeartbeat *s = &ob->slave_hb;
	size_t n = r->n_stops < FDM_MAX_STOPS ? r->n_stops : FDM_MAX_STOPS, k = 0;

	for (size_t i = 0; i < n; i++) {
		Fdm__VmStop *st = &ob->stops[k];

		if (!vm_name_ok(r->stops[i].name))
			continue;
		fdm__vm_stop__init(st);
		st->name = str(r->stops[i].name);
		st->reason = (uint32_t)r->stops[i].reason;
		st->seq = r->stops[i].seq;
		ob->stop_ptrs[k++] = st;
	}
	s->n_stops = k;
	s->stops = ob->stop_ptrs;
}

/* How the master's orders ended, until they leave its heartbeat. */
static void add_results(const struct fdm_slave_report *r, struct fdm_outbox *ob)
{
	Fdm__SlaveHeartbeat *s = &ob->slave_hb;
	size_t n = r->n_results < FDM_MAX_ORDERS ? r->n_results : FDM_MAX_ORDERS, k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct fdm_order_result *res = &r->results[i];
		Fdm__OrderResult *o = &ob->results[k];

		if (!vm_name_ok(res->name))
			continue;
		fdm__order_result__init(o);
		o->name = str(res->name);
		o->restarts = res->restarts;
		o->ok = res->ok;
		if (strnlen(res->message, FDM_HA_WHY_MAX) < FDM_HA_WHY_MAX && res->message[0])
			o->message = str(res->message);
		ob->result_ptrs[k++] = o;
	}
	s->n_results = k;
	s->results = ob->result_ptrs;
}

/* The VMs running here, last: while the datagram has room (1024 names of 63
 * bytes would not fit). A list that lost a name the master could protect is not
 * a listing any more: `listed` goes false, so that the master never takes a VM
 * left out for "not running" (DESIGN.md safety point 2). Names that cannot be
 * protected are left out without that. */
static void add_runs(const struct fdm_slave_report *r, struct fdm_outbox *ob)
{
	Fdm__SlaveHeartbeat *s = &ob->slave_hb;
	size_t used, n = r->n_runs < FDM_MAX_LOCAL_VMS ? r->n_runs : FDM_MAX_LOCAL_VMS, k = 0;
	bool complete = r->n_runs <= FDM_MAX_LOCAL_VMS;

	s->has_listed = true;
	s->listed = false;
	used = fdm__packet__get_packed_size(&ob->packet) + BODY_PREFIX_SLACK;

	for (size_t i = 0; i < n; i++) {
		size_t cost;

		if (!vm_name_ok(r->runs[i]))
			continue;
		cost = string_cost(strlen(r->runs[i]));
		if (used + cost > FDM_OUTBOX_PACKET_MAX) {
			complete = false;
			break;
		}
		used += cost;
		ob->vm_names[k++] = str(r->runs[i]);
	}
	s->n_vms = k;
	s->vms = ob->vm_names;
	s->listed = r->listed && complete;
}

static void build_slave_hb(const struct fdm_core *c, struct fdm_outbox *ob)
{
	Fdm__SlaveHeartbeat *s = &ob->slave_hb;
	struct fdm_slave_report r;

	fdm__slave_heartbeat__init(s);
	s->master = str(c->master >= 0 ? c->peers[c->master].id : "");
	s->term = c->term;
	build_echo(c->have_master_rx, c->master_rx_incarnation, c->master_rx_seq, &ob->echo,
		   &s->echo);
	s->n_datastores = datastore_names(c, c->my_datastore_mask, ob->my_datastores);
	s->datastores = ob->my_datastores;
	/* What VM protection reports (ha.h): memory, stops, results, then the VMs
	 * running here within the room that is left. */
	fdm_ha_slave_report_of(c, &r);
	s->has_free_memory_kib = true;
	s->free_memory_kib = r.free_kib;
	s->has_total_memory_kib = true;
	s->total_memory_kib = r.total_kib;
	add_stops(&r, ob);
	add_results(&r, ob);
	ob->packet.body_case = FDM__PACKET__BODY_SLAVE_HB;
	ob->packet.slave_hb = s;
	add_runs(&r, ob);
}

void fdm_outbox_header(const struct fdm_core *c, int to, uint64_t seq, const char *cluster,
		       struct fdm_outbox *ob)
{
	fdm__packet__init(&ob->packet);
	ob->packet.cluster = str(cluster);
	ob->packet.sender = str(c->peers[c->self].id);
	ob->packet.incarnation = c->incarnation;
	ob->packet.seq = seq;
	/* Peers whose timing differs drop what we send (DESIGN.md safety point 1). */
	ob->packet.has_heartbeat_interval_ms = true;
	ob->packet.heartbeat_interval_ms = c->timing.heartbeat_interval_ms;
	ob->packet.has_io_timeout_ms = true;
	ob->packet.io_timeout_ms = c->timing.io_timeout_ms;
	/* The latest datagram we accepted from the receiver: proves to it that this
	 * incarnation of ours is alive now, not a recording (membership.c). */
	if (to >= 0 && (size_t)to < c->n_peers) {
		const struct fdm_peer_state *p = &c->peers[to];
		build_echo(p->have_ack, p->ack_incarnation, p->ack_seq, &ob->ack, &ob->packet.ack);
	}
}

void fdm_outbox_build(const struct fdm_core *c, const struct fdm_action *a,
		      const char *cluster, uint64_t now, struct fdm_outbox *ob)
{
	fdm_outbox_header(c, a->to, a->seq, cluster, ob);
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
