/* The VM part of heartbeats as it arrives (vmreport.h). The sender holds the key,
 * no more: it may be buggy, a newer agent, or in hostile hands. So every count
 * and string is bounded before VM protection (ha.h) sees it; an item that breaks
 * a bound is left out and counted (c->ha.rx_malformed, logged once a minute), and
 * the rest of the heartbeat still counts, except where leaving one item out would
 * change what the others mean:
 *  - the VMs a slave runs: a listing that lost a name which could be a protected
 *    VM's is no listing any more (listed false: "not in it" proves nothing, safety
 *    point 2). A name of FDM_VM_NAME_MAX bytes or more cannot be protected
 *    (protect refuses it), so it is left out without that;
 *  - the master's orders: every heartbeat carries all of them, and an order
 *    missing from one reads as withdrawn, so a list over FDM_MAX_ORDERS is
 *    ignored whole; so are stops over FDM_MAX_STOPS (the master acks every seq up
 *    to the highest it took in).
 * A report counts by the master heartbeat it echoes, never by when it arrived: a
 * heartbeat that sat in a queue for a minute says what ran a minute ago.
 * The master's VM table in its heartbeat (display only) goes to vmview.c. */
#include "fdm/core/vmreport.h"

#include <stdio.h>
#include <string.h>

#include "lib/util.h"

#define MALFORMED_LOG_MS 60000

static bool vm_name_ok(const char *name)
{
	size_t len;

	if (name == NULL)
		return false;
	len = strnlen(name, FDM_VM_NAME_MAX);
	return len > 0 && len < FDM_VM_NAME_MAX;
}

static void note_drop(struct fdm_vmreport_drops *d, size_t n, const char *why)
{
	if (n == 0)
		return;
	if (d->n == 0)
		d->first = why;
	d->n += n;
}

/* Free memory over the total is no reading: unknown (0), as when absent. */
static void decode_memory(const Fdm__SlaveHeartbeat *s, struct fdm_slave_report *r,
			  struct fdm_vmreport_drops *drops)
{
	uint64_t free_kib = s->has_free_memory_kib ? s->free_memory_kib : 0;
	uint64_t total_kib = s->has_total_memory_kib ? s->total_memory_kib : 0;

	if (free_kib > total_kib) {
		note_drop(drops, 1, "free memory over total memory");
		free_kib = total_kib = 0;
	}
	r->free_kib = free_kib;
	r->total_kib = total_kib;
}

static void decode_runs(const Fdm__SlaveHeartbeat *s, struct fdm_vmreport_buf *buf,
			struct fdm_slave_report *r, struct fdm_vmreport_drops *drops)
{
	size_t n = s->n_vms, k = 0;
	bool complete = s->has_listed && s->listed;

	if (n > FDM_MAX_LOCAL_VMS) {
		note_drop(drops, n - FDM_MAX_LOCAL_VMS, "more than 1024 running VMs");
		n = FDM_MAX_LOCAL_VMS;
		complete = false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!vm_name_ok(s->vms[i])) {
			note_drop(drops, 1, "running VM name empty or of 64 bytes or more");
			continue;
		}
		fdm_strlcpy(buf->runs[k++], s->vms[i], FDM_VM_NAME_MAX);
	}
	r->listed = complete;
	r->n_runs = k;
	r->runs = buf->runs;
}

static void decode_stops(const Fdm__SlaveHeartbeat *s, struct fdm_vmreport_buf *buf,
			 struct fdm_slave_report *r, struct fdm_vmreport_drops *drops)
{
	size_t k = 0;

	r->stops = buf->stops;
	r->n_stops = 0;
	if (s->n_stops > FDM_MAX_STOPS) {
		note_drop(drops, s->n_stops, "more than 16 stops");
		return;
	}
	for (size_t i = 0; i < s->n_stops; i++) {
		const Fdm__VmStop *w = s->stops[i];
		struct fdm_vm_stop *st = &buf->stops[k];

		if (w == NULL || !vm_name_ok(w->name)) {
			note_drop(drops, 1, "stopped VM name empty or of 64 bytes or more");
			continue;
		}
		fdm_strlcpy(st->name, w->name, FDM_VM_NAME_MAX);
		/* A reason a newer agent added: neither a crash nor a user's stop. */
		st->reason = w->reason <= FDM_STOP_OTHER ? (enum fdm_stop_reason)w->reason
							 : FDM_STOP_OTHER;
		st->seq = w->seq;
		k++;
	}
	r->n_stops = k;
}

static void decode_results(const Fdm__SlaveHeartbeat *s, struct fdm_vmreport_buf *buf,
			   struct fdm_slave_report *r, struct fdm_vmreport_drops *drops)
{
	size_t n = s->n_results, k = 0;

	/* Results are reported until their order is gone: one left out comes again. */
	if (n > FDM_MAX_ORDERS) {
		note_drop(drops, n - FDM_MAX_ORDERS, "more than 32 order results");
		n = FDM_MAX_ORDERS;
	}
	for (size_t i = 0; i < n; i++) {
		const Fdm__OrderResult *w = s->results[i];
		struct fdm_order_result *res = &buf->results[k];

		if (w == NULL || !vm_name_ok(w->name)) {
			note_drop(drops, 1, "order result for a VM name empty or of 64 bytes or more");
			continue;
		}
		fdm_strlcpy(res->name, w->name, FDM_VM_NAME_MAX);
		res->restarts = w->restarts;
		res->ok = w->ok;
		fdm_printable_copy(res->message, sizeof(res->message), w->message);
		k++;
	}
	r->n_results = k;
	r->results = buf->results;
}

void fdm_vmreport_decode_slave(const Fdm__SlaveHeartbeat *s, struct fdm_vmreport_buf *buf,
			       struct fdm_slave_report *r, struct fdm_vmreport_drops *drops)
{
	memset(r, 0, sizeof(*r));
	decode_memory(s, r, drops);
	decode_runs(s, buf, r, drops);
	decode_stops(s, buf, r, drops);
	decode_results(s, buf, r, drops);
}

static bool ordered_already(const struct fdm_vmreport_buf *buf, size_t k, const char *name)
{
	for (size_t i = 0; i < k; i++)
		if (strcmp(buf->orders[i].name, name) == 0)
			return true;
	return false;
}

bool fdm_vmreport_decode_orders(const struct fdm_core *c, const Fdm__MasterHeartbeat *m,
				struct fdm_vmreport_buf *buf, size_t *n, uint64_t *stop_ack,
				struct fdm_vmreport_drops *drops)
{
	size_t k = 0;
	uint64_t sent;

	*n = 0;
	*stop_ack = 0;
	if (m->n_orders > FDM_MAX_ORDERS) {
		note_drop(drops, m->n_orders, "more than 32 power-on orders");
		return false;
	}
	for (size_t i = 0; i < m->n_orders; i++) {
		const Fdm__PowerOnOrder *w = m->orders[i];
		struct fdm_order *o = &buf->orders[k];
		int ds;

		if (w == NULL || !vm_name_ok(w->name)) {
			note_drop(drops, 1, "order for a VM name empty or of 64 bytes or more");
			continue;
		}
		ds = w->datastore != NULL ? fdm_core_datastore_index(c, w->datastore) : -1;
		/* Not malformed: our configs differ. Left out, logged, not counted. */
		if (ds < 0) {
			if (drops->unknown_ds[0] == '\0')
				fdm_printable_copy(drops->unknown_ds, sizeof(drops->unknown_ds),
					       w->datastore != NULL ? w->datastore : "");
			continue;
		}
		/* A master orders a VM once at a time: a second order is no order. */
		if (ordered_already(buf, k, w->name)) {
			note_drop(drops, 1, "two orders for one VM");
			continue;
		}
		memset(o, 0, sizeof(*o));
		fdm_strlcpy(o->name, w->name, FDM_VM_NAME_MAX);
		o->ds = ds;
		o->restarts = w->restarts;
		k++;
	}
	*n = k;
	/* Stop seqs start afresh with every incarnation: an ack in a heartbeat that
	 * still echoes our predecessor's datagram acks its stops, not ours. */
	if (m->has_stop_ack && m->echo != NULL &&
	    fdm_core_sent_at(c, m->echo->incarnation, m->echo->seq, &sent))
		*stop_ack = m->stop_ack;
	return true;
}

/* Counted, and logged at most once a minute: a buggy peer must not flood the log. */
static void count_drops(struct fdm_core *c, int from, const struct fdm_vmreport_drops *d,
			uint64_t now, struct fdm_actions *out)
{
	struct fdm_ha *ha = &c->ha;

	if (d->n == 0)
		return;
	ha->rx_malformed += d->n;
	if (ha->rx_malformed_logged_ms != 0 && now - ha->rx_malformed_logged_ms < MALFORMED_LOG_MS)
		return;
	ha->rx_malformed_logged_ms = now;
	fdm_core_event(out, &(struct fdm_log_fields){
			.event = "malformed", .peer = c->peers[from].id },
		       "%s: heartbeat of %s: %zu VM item(s) left out as malformed (%s); "
		       "%llu in all", c->peers[c->self].id, c->peers[from].id, d->n, d->first,
		       (unsigned long long)ha->rx_malformed);
}

/* An order for a datastore we do not have (configs that differ, a reload not
 * yet everywhere): logged once per name in a row, not with every heartbeat. */
static void note_unknown_datastore(struct fdm_core *c, int from,
				   const struct fdm_vmreport_drops *d, struct fdm_actions *out)
{
	struct fdm_ha *ha = &c->ha;

	if (d->unknown_ds[0] == '\0') {
		ha->unknown_ds_logged[0] = '\0';
		return;
	}
	if (strcmp(d->unknown_ds, ha->unknown_ds_logged) == 0)
		return;
	fdm_strlcpy(ha->unknown_ds_logged, d->unknown_ds, sizeof(ha->unknown_ds_logged));
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "unknown-datastore",
			.peer = c->peers[from].id, .datastore = d->unknown_ds },
		       "%s: master %s orders a VM of datastore \"%s\", which is not in our "
		       "[datastores]: order ignored (is the config the same on every host?)",
		       c->peers[c->self].id, c->peers[from].id, d->unknown_ds);
}

static void take_slave_report(struct fdm_core *c, int from, const Fdm__SlaveHeartbeat *s,
			      uint64_t now, struct fdm_actions *out)
{
	struct fdm_vmreport_buf buf;
	struct fdm_vmreport_drops drops;
	struct fdm_slave_report r;
	uint64_t echo_sent_ms = 0;

	/* Only our slave's report: the one our "heard" rule counts (membership.c). */
	if (c->role != FDM_ROLE_MASTER || strcmp(s->master, c->peers[c->self].id) != 0)
		return;
	memset(&drops, 0, sizeof(drops));
	fdm_vmreport_decode_slave(s, &buf, &r, &drops);
	/* What it says was true when it had our heartbeat sent at echo_sent_ms, at
	 * the earliest: that send time, never now (DESIGN.md safety point 2). */
	if (s->echo == NULL ||
	    !fdm_core_sent_at(c, s->echo->incarnation, s->echo->seq, &echo_sent_ms))
		echo_sent_ms = 0;
	count_drops(c, from, &drops, now, out);
	fdm_ha_on_slave_report(c, from, &r, echo_sent_ms, now, out);
}

static void take_orders(struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m,
			uint64_t now, struct fdm_actions *out)
{
	struct fdm_vmreport_buf buf;
	struct fdm_vmreport_drops drops;
	uint64_t stop_ack;
	size_t n;
	bool ok;

	if (c->role != FDM_ROLE_SLAVE || from != c->master)
		return;
	memset(&drops, 0, sizeof(drops));
	note_drop(&drops, fdm_vmview_take(c, from, m, now),
		  "VM report with a name or state empty or too long, or over 512 VMs");
	ok = fdm_vmreport_decode_orders(c, m, &buf, &n, &stop_ack, &drops);
	count_drops(c, from, &drops, now, out);
	note_unknown_datastore(c, from, &drops, out);
	if (ok)
		fdm_ha_on_orders(c, buf.orders, n, stop_ack, now, out);
}

void fdm_vmreport_on_packet(struct fdm_core *c, int from, const Fdm__Packet *p, uint64_t now,
			    struct fdm_actions *out)
{
	if (p->body_case == FDM__PACKET__BODY_SLAVE_HB && p->slave_hb != NULL)
		take_slave_report(c, from, p->slave_hb, now, out);
	else if (p->body_case == FDM__PACKET__BODY_MASTER_HB && p->master_hb != NULL)
		take_orders(c, from, p->master_hb, now, out);
}
