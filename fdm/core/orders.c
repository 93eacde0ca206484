/* The master's power-on orders (DESIGN.md "Restart"): an order goes out only
 * once the VM list carrying its bumped restart count is on disk; results come
 * back and a failure is retried on the doubling schedule of restart.c; a lost
 * lease withdraws every order of its datastore. failover.c decides them. */
#include "fdm/core/core.h"

#include <stdio.h>
#include <string.h>

#include "fdm/core/restart.h"
#include "lib/util.h"

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

static bool is_master(const struct fdm_core *c)
{
	return c->role == FDM_ROLE_MASTER;
}

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

void fdm_ha_drop_order(struct fdm_core *c, int h, const char *name)
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
			fdm_ha_drop_order(c, v->order_host, v->name);
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
		fdm_ha_drop_order(c, host, name);
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
