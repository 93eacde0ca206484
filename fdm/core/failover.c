/* The master's decisions on protected VMs (DESIGN.md "Restart", safety point 2):
 * it gathers what every host reports (slave heartbeats, poweron and hb records),
 * decides for each VM whether it runs somewhere, runs nowhere (restart it) or is
 * not known yet (wait, and say why), places the restarts, and writes the new
 * restart count to the datastore BEFORE a power-on order goes out (orders.c).
 * What it decides from is gathered in evidence.c.
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

			fdm_ha_drop_order(c, h, v->name);
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
