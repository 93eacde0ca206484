/* The master's decisions on protected VMs (DESIGN.md "Restart", safety point 2):
 * it gathers what every host reports (slave heartbeats, poweron and hb records),
 * decides for each VM whether it runs somewhere, runs nowhere (restart it) or is
 * not known yet (wait, and say why), places the restarts, writes the new restart
 * count to the datastore BEFORE it sends a power-on order, and retries failures
 * on the doubling schedule of restart.c.
 *
 * Why the write comes first: every report echoes the restart counts its writer
 * read, so once the count is bumped on disk, no report written before this
 * restart can ever again count as "does not run it" (restart.c). */
#include "fdm/core/core.h"

#include <stdio.h>
#include <string.h>

#include "fdm/core/placement.h"
#include "fdm/core/restart.h"
#include "fdm/core/verdict.h"
#include "lib/util.h"

/* An order that has had no result for this long is counted as failed (the host
 * keeps reporting the VM as running if its power-on is in fact still under way,
 * which keeps the next attempt from starting it twice). */
#define ORDER_TIMEOUT_MS (120u * 1000u)

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

static bool is_master(const struct fdm_core *c)
{
	return c->role == FDM_ROLE_MASTER;
}

/* ------------------------------------------------------------- evidence in */

static bool name_in(const char (*names)[FDM_VM_NAME_MAX], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

void fdm_failover_on_stop(struct fdm_core *c, int h, const char *name,
			  enum fdm_stop_reason reason, uint64_t now, struct fdm_actions *out)
{
	struct fdm_vm *v = fdm_ha_find(c, name);

	if (v == NULL || !is_master(c) || h < 0 || (size_t)h >= c->n_peers)
		return;
	if (reason == FDM_STOP_USER) {
		v->crashed_host = -1;
		v->stopped_at_ms = now;
		/* As vSphere unprotects a VM powered off by its user: it stays off,
		 * and is protected again once it runs. On disk, so that the next
		 * master does not restart it either. */
		if (!v->stopped) {
			v->stopped = true;
			c->ha.ds[v->ds].write_pending = true;
			fdm_core_event(out, &(struct fdm_log_fields){
					.event = "vm-stopped", .vm = v->name,
					.peer = c->peers[h].id },
				       "%s: vm %s shut down on %s by its guest or an operator: "
				       "it stays off (stopped)", self_id(c), v->name, c->peers[h].id);
		}
		return;
	}
	v->crashed_host = h;
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-crashed", .vm = v->name,
			.peer = c->peers[h].id },
		       "%s: vm %s %s on %s: powering it on again", self_id(c), v->name,
		       reason == FDM_STOP_CRASHED ? "crashed" : "stopped unexpectedly",
		       c->peers[h].id);
}

void fdm_ha_on_slave_report(struct fdm_core *c, int from, const struct fdm_slave_report *r,
			    uint64_t echo_sent_ms, uint64_t now, struct fdm_actions *out)
{
	struct fdm_ha_host *host;

	if (!is_master(c) || from < 0 || (size_t)from >= c->n_peers || (size_t)from == c->self)
		return;
	host = &c->ha.hosts[from];
	host->free_kib = r->free_kib;
	host->total_kib = r->total_kib;
	/* Stops first: a "not running" with its reason must never be read
	 * without the reason. */
	for (size_t i = 0; i < r->n_stops; i++)
		if (r->stops[i].seq > host->last_stop_seq) {
			fdm_failover_on_stop(c, from, r->stops[i].name, r->stops[i].reason,
					     now, out);
			host->last_stop_seq = r->stops[i].seq;
		}
	/* Its listing counts from the master heartbeat it echoes (never from its
	 * arrival), and only if its shim answered. */
	host->net_echo_sent_ms = r->listed ? echo_sent_ms : 0;
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		struct fdm_vm *v = &c->ha.vms[i];

		if (v->used) {
			v->ev[from].net_runs = r->listed && name_in(r->runs, r->n_runs, v->name);
			v->ev[from].net_known = true;
		}
	}
	for (size_t i = 0; i < r->n_results; i++)
		fdm_failover_on_result(c, from, r->results[i].name, r->results[i].restarts,
				       r->results[i].ok, r->results[i].message, now, out);
}

static void note_hb(struct fdm_ha_host *host, int d, const struct fdm_hb_view *hb,
		    uint64_t issued, uint64_t now)
{
	if (!hb->ok)
		return;
	if (!host->ds[d].seen || host->ds[d].fingerprint != hb->fingerprint) {
		host->ds[d].changed = host->ds[d].seen;
		host->ds[d].seen = true;
		host->ds[d].fingerprint = hb->fingerprint;
		/* From the completion of the first read that saw it: late, so safe. */
		host->ds[d].unchanged_since_ms = now;
	}
	host->ds[d].last_read_issued_ms = issued;
}

static void note_poweron(struct fdm_core *c, int h, int d, const struct fdm_poweron_view *p)
{
	struct fdm_ha_host *host = &c->ha.hosts[h];

	host->ds[d].poweron_seen = !p->empty;
	host->ds[d].poweron_generation = p->empty ? 0 : p->generation_seen;
	host->ds[d].poweron_stopped = !p->empty && p->stopped;
	host->ds[d].poweron_isolated = !p->empty && p->isolated;
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		struct fdm_vm *v = &c->ha.vms[i];
		struct fdm_vm_evidence *ev;

		if (!v->used || v->ds != d)
			continue;
		ev = &v->ev[h];
		ev->poweron = false;
		for (size_t k = 0; k < p->n_seen && !p->empty; k++)
			if (strcmp(p->seen_names[k], v->name) == 0) {
				ev->poweron = true;
				ev->poweron_restarts = p->seen_restarts[k];
			}
		ev->poweron_runs = !p->empty && name_in(p->runs, p->n_runs, v->name);
		/* What it ran at its clean stop outlives the first record of its
		 * returning agent, written before it read the protectedlist (it
		 * echoes no generation and lists nothing). */
		if (!p->empty && p->stopped)
			ev->stop_runs = ev->poweron_runs;
		else if (!p->empty && p->generation_seen != 0)
			ev->stop_runs = false;
		ev->poweron_isolated_off = !p->empty && p->isolated_off != NULL &&
					   name_in(p->isolated_off, p->n_isolated_off, v->name);
	}
}

void fdm_ha_on_host_records(struct fdm_core *c, int d, const struct fdm_host_records *r,
			    size_t n, uint64_t issued, uint64_t now, struct fdm_actions *out)
{
	(void)out;
	if (!is_master(c) || d < 0 || (size_t)d >= c->n_datastores)
		return;
	for (size_t i = 0; i < n; i++) {
		int h = r[i].peer;

		if (h < 0 || (size_t)h >= c->n_peers || (size_t)h == c->self)
			continue;
		note_hb(&c->ha.hosts[h], d, &r[i].hb, issued, now);
		if (r[i].poweron_ok)
			note_poweron(c, h, d, &r[i].poweron);
	}
}

/* ----------------------------------------------------------------- verdicts */

static bool host_connected(const struct fdm_core *c, size_t h)
{
	return h == c->self || c->peers[h].state == FDM_HS_CONNECTED;
}

static void verdict_in(const struct fdm_core *c, size_t h, int d, struct fdm_verdict_in *in)
{
	const struct fdm_peer_state *p = &c->peers[h];
	const struct fdm_ha_host *host = &c->ha.hosts[h];

	memset(in, 0, sizeof(*in));
	in->host = p->id;
	in->datastore = c->datastore_names[d];
	in->net_heard = p->last_slave_hb_ms != 0;
	in->net_last_ms = p->last_slave_hb_ms;
	in->connected_window_ms = c->timing.host_unreachable_ms;
	in->hb_seen = host->ds[d].seen;
	in->hb_unchanged_since_ms = host->ds[d].unchanged_since_ms;
	in->hb_last_read_issued_ms = host->ds[d].last_read_issued_ms;
	in->lease_acquired_ms = c->ha.ds[d].lease_acquired_ms;
	in->host_dead_ms = c->timing.host_dead_ms;
	/* Back from a clean stop: its VMs ran on meanwhile with no deadline, so
	 * its silences count only from its return, as from an acquisition. */
	if (in->lease_acquired_ms != 0 && p->returned_ms > in->lease_acquired_ms)
		in->lease_acquired_ms = p->returned_ms;
}

static enum fdm_verdict verdict(const struct fdm_core *c, size_t h, int d, uint64_t now,
				char *why, size_t len)
{
	struct fdm_verdict_in in;

	/* Its agent stopped cleanly and wrote so on d: its VMs there run on, with
	 * no deadline; nothing of it is restarted until it returns (DESIGN.md 5). */
	if (c->ha.hosts[h].ds[d].poweron_stopped) {
		snprintf(why, len, "%s stopped its agent cleanly (its poweron record on %s "
			 "says so): nothing of it is restarted until it returns", c->peers[h].id,
			 c->datastore_names[d]);
		return FDM_VERDICT_UNREACHABLE;
	}
	verdict_in(c, h, d, &in);
	return fdm_verdict_of(&in, now, why, len);
}

uint64_t fdm_ha_proof_read_at(const struct fdm_core *c, int d, uint64_t after)
{
	uint64_t first = UINT64_MAX;

	if (!is_master(c) || d < 0 || (size_t)d >= c->n_datastores)
		return first;
	for (size_t h = 0; h < c->n_peers; h++) {
		struct fdm_verdict_in in;
		uint64_t at;

		if (h == c->self)
			continue;
		verdict_in(c, h, d, &in);
		at = fdm_verdict_proof_read_at(&in);
		if (at > after && at < first)
			first = at;
	}
	return first;
}

bool fdm_ha_verdict_reason(const struct fdm_core *c, size_t h, uint64_t now, char *buf,
			   size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (!is_master(c) || h >= c->n_peers || h == c->self || host_connected(c, h))
		return false;
	for (size_t d = 0; d < c->n_datastores && used + 1 < len; d++) {
		char why[FDM_HA_WHY_MAX];
		int n;

		if (c->ha.ds[d].lease_acquired_ms == 0)
			continue;
		verdict(c, h, (int)d, now, why, sizeof(why));
		n = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", why);
		if (n < 0)
			break;
		used += (size_t)n < len - used ? (size_t)n : len - used - 1;
	}
	return used > 0;
}

/* -------------------------------------------------------- where does v run? */

static enum fdm_runs where_runs(struct fdm_core *c, struct fdm_vm *v, uint64_t now, int *where,
				char *why, size_t len)
{
	char (*dead_why)[FDM_HA_WHY_MAX] = c->ha.scratch.dead_why;
	struct fdm_runs_report r[FDM_MAX_HOSTS];
	struct fdm_runs_vm rv = {
		.name = v->name,
		.generation = c->ds[v->ds].lease.mine.generation,
		.restarts = v->restarts,
		.lease_acquired_ms = c->ha.ds[v->ds].lease_acquired_ms,
		.last_restart_ms = v->last_restart_ms,
	};
	size_t n = 0;
	int idx[FDM_MAX_HOSTS];
	enum fdm_runs res;

	for (size_t h = 0; h < c->n_peers; h++) {
		const struct fdm_ha_host *host = &c->ha.hosts[h];
		const struct fdm_vm_evidence *ev = &v->ev[h];
		struct fdm_runs_report *x = &r[n];

		memset(x, 0, sizeof(*x));
		x->host = c->peers[h].id;
		if (h == c->self) {
			/* Our own shim: its listing counts from when it was taken. */
			x->net = c->ha.local_connected && c->ha.local_listed_ms != 0;
			x->net_echo_sent_ms = c->ha.local_listed_ms;
			x->net_runs = fdm_ha_runs_here(c, v->name);
		} else {
			x->dead = verdict(c, h, v->ds, now, dead_why[h], sizeof(dead_why[h])) ==
				  FDM_VERDICT_DEAD;
			x->not_dead_why = dead_why[h];
			/* A heartbeat read before v was protected says nothing of v. */
			x->net = host->net_echo_sent_ms != 0 && ev->net_known;
			x->net_echo_sent_ms = host->net_echo_sent_ms;
			x->net_runs = ev->net_runs;
			x->poweron = host->ds[v->ds].poweron_seen && ev->poweron;
			x->poweron_generation = host->ds[v->ds].poweron_generation;
			x->poweron_restarts = ev->poweron_restarts;
			x->poweron_runs = ev->poweron_runs;
			/* Stopped for d only where its record on d says so: there, and
			 * only there, its agent took d's VMs out of its shim's deadlines
			 * (fdm/core/deadline.c). Where that write failed they keep their
			 * deadline, and the host may be found dead for d as usual. */
			x->stopped = host->ds[v->ds].poweron_stopped;
			/* Its last word before the stop, whichever way it came (a
			 * master sends no listing: its poweron records say it). */
			x->stopped_runs = ev->stop_runs || (ev->net_known && ev->net_runs) ||
					  (host->ds[v->ds].poweron_seen && ev->poweron_runs);
			x->poweron_isolated_off = ev->poweron_isolated_off;
			fdm_isolated_off_note(c, v, x);
		}
		idx[n++] = (int)h;
	}
	res = fdm_runs_check(&rv, r, n, where, why, len);
	if (res == FDM_RUNS_THERE) {
		*where = idx[*where];
		v->isolated_off = false;   /* it runs again */
	}
	return res;
}

/* --------------------------------------------------------------- orders out */

static void issue_order(struct fdm_core *c, struct fdm_vm *v, uint64_t now,
			struct fdm_actions *out)
{
	struct fdm_order o;
	struct fdm_ha_host *host = &c->ha.hosts[v->order_host];

	memset(&o, 0, sizeof(o));
	fdm_strlcpy(o.name, v->name, sizeof(o.name));
	o.ds = v->ds;
	o.restarts = v->restarts;
	o.issued_ms = now;
	v->order_sent = true;
	v->order_issued_ms = now;
	v->last_restart_ms = now;
	if (v->first_attempt_ms == 0)
		v->first_attempt_ms = now;
	/* The moment the power-on is asked for (the restart count is on disk). */
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-poweron-ordered", .vm = v->name,
			.peer = c->peers[v->order_host].id },
		       "%s: vm %s power-on ordered on %s (restart %u)", self_id(c), v->name,
		       c->peers[v->order_host].id, v->restarts);
	if ((size_t)v->order_host == c->self) {
		fdm_ha_take_order(c, &o, now, out);
		return;
	}
	if (host->n_orders < FDM_MAX_ORDERS)
		host->orders[host->n_orders++] = o;
	/* Out now, not with the next heartbeat up to heartbeat_interval later: the
	 * heartbeat carries every order for that host (outbox.c), this one included. */
	fdm_core_send(c, FDM_MSG_MASTER_HB, v->order_host, now, out);
}

static void drop_order(struct fdm_core *c, int h, const char *name)
{
	struct fdm_ha_host *host = &c->ha.hosts[h];
	size_t keep = 0;

	for (size_t i = 0; i < host->n_orders; i++)
		if (strcmp(host->orders[i].name, name) != 0)
			host->orders[keep++] = host->orders[i];
	host->n_orders = keep;
}

size_t fdm_ha_orders_for(const struct fdm_core *c, int to, const struct fdm_order **out)
{
	*out = NULL;
	if (!is_master(c) || to < 0 || (size_t)to >= c->n_peers)
		return 0;
	*out = c->ha.hosts[to].orders;
	return c->ha.hosts[to].n_orders;
}

void fdm_ha_on_vmlist_written(struct fdm_core *c, int d, bool ok, uint64_t now,
			      struct fdm_actions *out)
{
	if (d < 0 || (size_t)d >= c->n_datastores)
		return;
	fdm_protect_on_written(c, d, ok, now, out);
	if (!ok) {
		c->ha.ds[d].write_pending = true;   /* again at the next io */
		return;
	}
	/* The bumped restart counts are durable: the orders may go out, those
	 * whose count this write carried (one bumped while it was in flight waits
	 * for the next write; tests/unit/test_failover.c). */
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		struct fdm_vm *v = &c->ha.vms[i];

		if (v->used && v->ds == d && v->order_host >= 0 && !v->order_sent &&
		    v->order_restarts == v->restarts &&
		    v->order_edit <= c->ha.ds[d].writing_edits && is_master(c))
			issue_order(c, v, now, out);
	}
}

void fdm_ha_on_lease_lost(struct fdm_core *c, int d)
{
	if (d < 0 || (size_t)d >= c->n_datastores)
		return;
	c->ha.ds[d].listed_under_lease = false;
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		struct fdm_vm *v = &c->ha.vms[i];

		/* Its bumped count may never reach the disk (the next read
		 * brings back the old one, and the order would wait for ever),
		 * and its evidence is from a lease another master may have held
		 * since (safety point 2). An order already sent leaves our
		 * heartbeats too: a host that has not taken it yet must never
		 * take it from a master without the lease (withdrawn, as an
		 * order absent from a heartbeat is). */
		if (!v->used || v->ds != d || v->order_host < 0)
			continue;
		if (v->order_sent)
			drop_order(c, v->order_host, v->name);
		v->order_host = -1;
		v->order_sent = false;
	}
}

static void schedule_retry(struct fdm_core *c, struct fdm_vm *v, const char *why,
			   uint64_t now, struct fdm_actions *out)
{
	uint64_t next;

	v->attempts++;
	fdm_strlcpy(v->last_failure, why, sizeof(v->last_failure));
	if (!fdm_retry_next(v->first_attempt_ms, v->attempts, c->ha.max_attempts,
			    c->ha.retry_first_gap_ms, &next)) {
		v->state = FDM_VM_FAILED;
		snprintf(v->waiting, sizeof(v->waiting), "failed: %u attempts, last: %s",
			 v->attempts, why);
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-failed", .vm = v->name },
			       "%s: vm %s failed: %u power-on attempts, the last: %s",
			       self_id(c), v->name, v->attempts, why);
		return;
	}
	v->next_attempt_ms = next > now ? next : now;
	v->state = FDM_VM_RESTART_PENDING;
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-poweron-failed", .vm = v->name },
		       "%s: vm %s power-on failed (%s): retry %u of %u in %llu s",
		       self_id(c), v->name, why, v->attempts + 1, c->ha.max_attempts,
		       (unsigned long long)((v->next_attempt_ms - now) / 1000));
}

void fdm_failover_on_result(struct fdm_core *c, int host, const char *name, uint32_t restarts,
			    bool ok, const char *message, uint64_t now, struct fdm_actions *out)
{
	struct fdm_vm *v = fdm_ha_find(c, name);

	if (host >= 0 && (size_t)host != c->self)
		drop_order(c, host, name);
	if (v == NULL || v->order_host != host || v->restarts != restarts || !v->order_sent)
		return;   /* an old or foreign answer */
	v->order_host = -1;
	v->order_sent = false;
	if (ok) {
		v->host = host;
		v->state = FDM_VM_PROTECTED;
		v->isolated_off = false;
		v->attempts = 0;
		v->first_attempt_ms = 0;
		v->crashed_host = -1;
		v->waiting[0] = '\0';
		fdm_core_event(out, &(struct fdm_log_fields){
				.event = "vm-restarted", .vm = v->name,
				.peer = c->peers[host].id },
			       "%s: vm %s restarted on %s (priority %s, restart %u)",
			       self_id(c), v->name, c->peers[host].id,
			       fdm_priority_name(v->priority), v->restarts);
		return;
	}
	v->avoid_host = host;
	schedule_retry(c, v, message != NULL && message[0] ? message : "power-on failed", now, out);
}

/* ------------------------------------------------------------ the decisions */

/* The journal's FDM_EVENT of a restart, by its reason (fdm(8); `fdmctl
 * metrics` counts them): another attempt after a failed power-on, a VM that
 * crashed on a live host, or a VM whose host failed. */
static const char *restart_kind(const struct fdm_vm *v)
{
	if (v->attempts > 0)
		return "vm-restart-retry";
	if (v->crashed_host >= 0)
		return "vm-restart-crashed";
	return "vm-restart-host-failed";
}

static void set_waiting(struct fdm_vm *v, enum fdm_vm_state s, const char *why)
{
	v->state = s;
	fdm_strlcpy(v->waiting, why, sizeof(v->waiting));
}

/* Hosts a VM of datastore d may be placed on now (DESIGN.md "Restart"). */
static uint32_t fresh_ds_mask(const struct fdm_core *c, size_t h, uint64_t now)
{
	uint64_t window = 3 * (uint64_t)c->timing.io_timeout_ms;
	uint32_t mask = 0;

	for (size_t d = 0; d < c->n_datastores; d++) {
		if (h == c->self) {
			if (c->ds[d].hb_ok_ms != 0 && c->ds[d].hb_ok_ms + window > now)
				mask |= 1u << d;
		} else if (c->ha.hosts[h].ds[d].seen &&
			   c->ha.hosts[h].ds[d].unchanged_since_ms + window > now) {
			mask |= 1u << d;
		}
	}
	return mask;
}

static void build_candidates(struct fdm_core *c, uint64_t now, struct fdm_place_host *hosts,
			     int *peer_of, size_t *n)
{
	*n = 0;
	for (size_t h = 0; h < c->n_peers; h++) {
		const struct fdm_ha_host *host = &c->ha.hosts[h];
		struct fdm_place_host *p = &hosts[*n];
		uint64_t committed = 0;

		if (!host_connected(c, h) || host->maintenance ||
		    (h == c->self && !c->ha.local_connected))
			continue;
		/* Memory promised to power-ons not yet seen in its report. */
		for (size_t i = 0; i < c->ha.n_vms; i++)
			if (c->ha.vms[i].used && c->ha.vms[i].order_host == (int)h)
				committed += c->ha.vms[i].memory_kib;
		p->id = c->peers[h].id;
		p->ds_mask = fresh_ds_mask(c, h, now);
		p->free_kib = h == c->self ? c->ha.local_free_kib : host->free_kib;
		p->free_kib = p->free_kib > committed ? p->free_kib - committed : 0;
		p->inflight = 0;
		for (size_t i = 0; i < c->ha.n_vms; i++)
			if (c->ha.vms[i].used && c->ha.vms[i].order_host == (int)h)
				p->inflight++;
		peer_of[(*n)++] = (int)h;
	}
}

/* v runs nowhere: may it be powered on now? (the caller places it) */
static bool restart_due(struct fdm_core *c, struct fdm_vm *v, uint64_t now)
{
	char why[FDM_HA_WHY_MAX];

	if (v->stopped) {
		set_waiting(v, FDM_VM_STOPPED, "shut down by its guest or an operator");
		return false;
	}
	if (v->state == FDM_VM_FAILED)
		return false;
	if (v->host >= 0 && (size_t)v->host != c->self && c->ha.hosts[v->host].maintenance) {
		snprintf(why, sizeof(why), "its host %s is in maintenance", c->peers[v->host].id);
		set_waiting(v, FDM_VM_RESTART_PENDING, why);
		return false;
	}
	/* Seen running on a host that is still connected, and no stop reported:
	 * wait a little for the reason (a guest shutdown stays off). */
	if (v->host >= 0 && v->crashed_host < 0 && host_connected(c, (size_t)v->host)) {
		if (v->missing_since_ms == 0)
			v->missing_since_ms = now;
		if (now < v->missing_since_ms + c->timing.host_dead_ms) {
			snprintf(why, sizeof(why), "not running on %s, which is up: waiting for "
				 "why it stopped", c->peers[v->host].id);
			set_waiting(v, FDM_VM_RESTART_PENDING, why);
			return false;
		}
	}
	if (v->next_attempt_ms > now) {
		snprintf(why, sizeof(why), "retry %u of %u in %llu s", v->attempts + 1,
			 c->ha.max_attempts, (unsigned long long)((v->next_attempt_ms - now) / 1000));
		set_waiting(v, FDM_VM_RESTART_PENDING, why);
		return false;
	}
	return true;
}

/* Does a network report (or our own listing) taken after t show v on host h? */
static bool seen_since(const struct fdm_core *c, const struct fdm_vm *v, int h, uint64_t t)
{
	if ((size_t)h == c->self)
		return c->ha.local_listed_ms > t && fdm_ha_runs_here(c, v->name);
	return v->ev[h].net_runs && c->ha.hosts[h].net_echo_sent_ms > t;
}

static void decide_vm(struct fdm_core *c, struct fdm_vm *v, uint64_t now, bool *want)
{
	char why[FDM_HA_WHY_MAX];
	int where;

	*want = false;
	if (!fdm_lease_acting(&c->ds[v->ds].lease, now) || c->ha.ds[v->ds].lease_acquired_ms == 0) {
		snprintf(why, sizeof(why), "lease on %s not held", c->datastore_names[v->ds]);
		fdm_strlcpy(v->waiting, why, sizeof(v->waiting));
		return;
	}
	/* Decide only on the table as read under our lease (vms.c): a read
	 * issued before this decision and answered after it would take back the
	 * restart count we bump here, and the order, which waits for that count
	 * to be on disk, would never go out (tests/sim, stormy seed 33). */
	if (!c->ha.ds[v->ds].listed_under_lease) {
		snprintf(why, sizeof(why), "VM list of %s not read under our lease yet",
			 c->datastore_names[v->ds]);
		fdm_strlcpy(v->waiting, why, sizeof(v->waiting));
		return;
	}
	if (v->order_host >= 0) {
		if (v->order_sent && now > v->order_issued_ms + ORDER_TIMEOUT_MS) {
			int h = v->order_host;

			drop_order(c, h, v->name);
			v->order_host = -1;
			v->order_sent = false;
			v->avoid_host = h;
			snprintf(why, sizeof(why), "no answer from %s within %u s", c->peers[h].id,
				 ORDER_TIMEOUT_MS / 1000);
			v->attempts++;
			fdm_strlcpy(v->last_failure, why, sizeof(v->last_failure));
		} else {
			snprintf(why, sizeof(why), "powering on on %s", c->peers[v->order_host].id);
			set_waiting(v, FDM_VM_RESTARTING, why);
			return;
		}
	}
	switch (where_runs(c, v, now, &where, why, sizeof(why))) {
	case FDM_RUNS_THERE:
		/* Started again by its user: protected again, but only on a report
		 * sent after the stop (a record written before it still says it ran). */
		if (v->stopped && seen_since(c, v, where, v->stopped_at_ms)) {
			v->stopped = false;
			c->ha.ds[v->ds].write_pending = true;
		}
		v->host = where;
		v->missing_since_ms = 0;
		/* crashed_host stays: a report written before the crash may still
		 * say it runs; the restart clears it. */
		v->attempts = 0;
		v->first_attempt_ms = 0;
		v->next_attempt_ms = 0;
		/* Its host's last report says it runs, but the host is not heard:
		 * say what a restart would wait for (the verdict's reason). */
		set_waiting(v, FDM_VM_PROTECTED, host_connected(c, (size_t)where) ? "" :
			    c->ha.scratch.dead_why[where]);
		return;
	case FDM_RUNS_UNKNOWN:
		/* Not known to run anywhere, nor known not to: it may still run on a
		 * host we have not heard (safety point 2). A failed VM stays failed:
		 * only seeing it run ends that. */
		if (v->state == FDM_VM_FAILED)
			return;
		set_waiting(v, v->host >= 0 && host_connected(c, (size_t)v->host) ?
			    FDM_VM_PROTECTED : FDM_VM_RESTART_PENDING, why);
		return;
	case FDM_RUNS_NOWHERE:
		*want = restart_due(c, v, now);
		return;
	}
}

static void place_and_order(struct fdm_core *c, size_t *wanted, size_t n_wanted, uint64_t now,
			    struct fdm_actions *out)
{
	struct fdm_place_vm *pv = c->ha.scratch.place;
	struct fdm_place_result *res = c->ha.scratch.result;
	struct fdm_place_host hosts[FDM_MAX_HOSTS];
	int peer_of[FDM_MAX_HOSTS], index_of[FDM_MAX_HOSTS];
	size_t n_hosts;

	build_candidates(c, now, hosts, peer_of, &n_hosts);
	for (size_t h = 0; h < FDM_MAX_HOSTS; h++)
		index_of[h] = -1;
	for (size_t i = 0; i < n_hosts; i++)
		index_of[peer_of[i]] = (int)i;
	for (size_t i = 0; i < n_wanted; i++) {
		struct fdm_vm *v = &c->ha.vms[wanted[i]];

		pv[i].name = v->name;
		pv[i].priority = v->priority;
		pv[i].memory_kib = v->memory_kib;
		pv[i].ds = v->ds;
		/* A crashed VM goes back to its own host first; one whose power-on
		 * failed tries elsewhere first. */
		pv[i].avoid = v->avoid_host >= 0 ? index_of[v->avoid_host] : -1;
		pv[i].prefer = v->crashed_host >= 0 ? index_of[v->crashed_host] : -1;
	}
	fdm_place(hosts, n_hosts, pv, n_wanted, c->ha.max_inflight, res);
	for (size_t i = 0; i < n_wanted; i++) {
		struct fdm_vm *v = &c->ha.vms[wanted[i]];

		if (res[i].host < 0) {
			set_waiting(v, FDM_VM_RESTART_PENDING, res[i].why);
			continue;
		}
		/* Bump the count and write it; the order goes out once it is on
		 * disk (fdm_ha_on_vmlist_written). */
		v->restarts++;
		v->order_host = peer_of[res[i].host];
		v->order_restarts = v->restarts;
		v->order_edit = ++c->ha.ds[v->ds].edits;
		v->order_sent = false;
		c->ha.ds[v->ds].write_pending = true;
		set_waiting(v, FDM_VM_RESTARTING, res[i].why);
		fdm_core_event(out, &(struct fdm_log_fields){
				.event = restart_kind(v), .vm = v->name,
				.peer = c->peers[v->order_host].id },
			       "%s: vm %s runs nowhere: restarting it %s", self_id(c), v->name,
			       res[i].why);
	}
}

/* One event line per verdict change (fdmctl events says why a restart began). */
static void log_verdicts(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	char why[FDM_HA_WHY_MAX];

	for (size_t d = 0; d < c->n_datastores; d++) {
		if (c->ha.ds[d].lease_acquired_ms == 0)
			continue;
		for (size_t h = 0; h < c->n_peers; h++) {
			bool dead;

			if (h == c->self)
				continue;
			dead = verdict(c, h, (int)d, now, why, sizeof(why)) == FDM_VERDICT_DEAD;
			if (dead != c->ha.hosts[h].ds[d].dead) {
				c->ha.hosts[h].ds[d].dead = dead;
				if (dead)
					fdm_core_event(out, &(struct fdm_log_fields){
							.event = "verdict-dead",
							.peer = c->peers[h].id,
							.datastore = c->datastore_names[d] },
						       "%s: %s", self_id(c), why);
				else
					fdm_core_event(out, &(struct fdm_log_fields){
							.event = "verdict-alive",
							.peer = c->peers[h].id,
							.datastore = c->datastore_names[d] },
						       "%s: %s alive again for %s", self_id(c),
						       c->peers[h].id, c->datastore_names[d]);
			}
		}
	}
}

void fdm_failover_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	size_t *wanted = c->ha.scratch.wanted;
	size_t n_wanted = 0;

	log_verdicts(c, now, out);
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		struct fdm_vm *v = &c->ha.vms[i];
		bool want;

		if (!v->used || v->ds < 0 || (size_t)v->ds >= c->n_datastores)
			continue;
		decide_vm(c, v, now, &want);
		if (want)
			wanted[n_wanted++] = i;
	}
	if (n_wanted > 0)
		place_and_order(c, wanted, n_wanted, now, out);
	for (size_t i = 0; i < c->ha.n_vms; i++)
		if (c->ha.vms[i].used)
			fdm_isolated_off_show(&c->ha.vms[i]);
}
