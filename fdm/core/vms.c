/* VM protection, what every host does (ha.h): the table of protected VMs built
 * from the protectedlists it reads, what it reports about the VMs it runs (its
 * poweron records and slave heartbeats), and the power-on orders it carries out.
 * The master's decisions on those reports are in failover.c.
 *
 * One rule runs through this file: a host reports a VM as running from the
 * moment it is asked to power it on until a listing of its shim taken after the
 * power-on ended shows it (or not). A report that said "not running" while a
 * power-on was under way would let the master start the VM a second time. */
#include "fdm/core/core.h"

#include <string.h>

#include "fdm/core/deadline.h"
#include "fdm/core/restart.h"
#include "lib/util.h"

static const char *const vm_state_names[FDM_VM_STATE_COUNT] = {
	[FDM_VM_PROTECTED] = "protected",
	[FDM_VM_RESTARTING] = "restarting",
	[FDM_VM_RESTART_PENDING] = "restart-pending",
	[FDM_VM_FAILED] = "failed",
	[FDM_VM_ISOLATED_OFF] = "isolated-off",
	[FDM_VM_STOPPED] = "stopped",
	[FDM_VM_UNPROTECTED] = "unprotected",
};

const char *fdm_vm_state_name(enum fdm_vm_state s)
{
	return (unsigned)s < FDM_VM_STATE_COUNT ? vm_state_names[s] : "?";
}

void fdm_ha_init(struct fdm_core *c)
{
	memset(&c->ha, 0, sizeof(c->ha));
	c->ha.next_stop_seq = 1;
	c->ha.max_attempts = FDM_RETRY_DEFAULT_MAX_ATTEMPTS;
	c->ha.retry_first_gap_ms = FDM_RETRY_DEFAULT_FIRST_GAP_MS;
	c->ha.host_failures_tolerated = 1;
	c->ha.max_inflight = FDM_PLACE_DEFAULT_INFLIGHT;
}

void fdm_ha_configure(struct fdm_core *c, const struct fdm_config *cfg)
{
	c->ha.max_attempts = cfg->max_attempts;
	c->ha.host_failures_tolerated = cfg->host_failures_tolerated;
	if (cfg->retry_first_gap_ms != 0)
		c->ha.retry_first_gap_ms = cfg->retry_first_gap_ms;
}

void fdm_ha_reset(struct fdm_core *c)
{
	struct fdm_ha *keep = &c->ha;
	struct fdm_order orders[FDM_MAX_ORDERS];
	struct fdm_order_result results[FDM_MAX_ORDERS];
	size_t n_orders = keep->n_my_orders, n_results = keep->n_results;
	uint32_t attempts = keep->max_attempts, gap = keep->retry_first_gap_ms;
	uint32_t tolerated = keep->host_failures_tolerated, inflight = keep->max_inflight;
	uint64_t stop_seq = keep->next_stop_seq;
	struct fdm_ha_ds ds[FDM_MAX_DATASTORES];

	/* The per-datastore state was remapped by name already (reconfig.c). */
	memcpy(ds, keep->ds, sizeof(ds));
	memcpy(orders, keep->my_orders, sizeof(orders));
	memcpy(results, keep->results, sizeof(results));
	fdm_ha_init(c);
	memcpy(c->ha.ds, ds, sizeof(ds));
	/* The VM table is gone until the lists are read again: a master must not
	 * write one from its empty table meanwhile. */
	for (size_t d = 0; d < FDM_MAX_DATASTORES; d++) {
		c->ha.ds[d].listed_under_lease = false;
		c->ha.ds[d].write_pending = false;
	}
	memcpy(c->ha.my_orders, orders, sizeof(orders));
	memcpy(c->ha.results, results, sizeof(results));
	c->ha.n_my_orders = n_orders;
	c->ha.n_results = n_results;
	c->ha.max_attempts = attempts;
	c->ha.retry_first_gap_ms = gap;
	c->ha.host_failures_tolerated = tolerated;
	c->ha.max_inflight = inflight;
	c->ha.next_stop_seq = stop_seq;
}

/* A new mastership, or the end of one: nothing of an earlier one counts (another
 * master may have moved VMs meanwhile, safety point 2). */
static void forget_master_state(struct fdm_core *c)
{
	memset(c->ha.requests, 0, sizeof(c->ha.requests));
	for (size_t h = 0; h < FDM_MAX_HOSTS; h++) {
		struct fdm_ha_host *host = &c->ha.hosts[h];

		host->n_orders = 0;
		host->net_echo_sent_ms = 0;
		host->last_stop_seq = 0;
		memset(host->ds, 0, sizeof(host->ds));
	}
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		struct fdm_vm *v = &c->ha.vms[i];

		if (!v->used)
			continue;
		memset(v->ev, 0, sizeof(v->ev));
		v->order_host = -1;
		v->order_sent = false;
		v->last_restart_ms = 0;
		v->attempts = 0;
		v->first_attempt_ms = 0;
		v->next_attempt_ms = 0;
		v->avoid_host = -1;
		v->crashed_host = -1;
		v->missing_since_ms = 0;
	}
	for (size_t d = 0; d < FDM_MAX_DATASTORES; d++) {
		c->ha.ds[d].listed_under_lease = false;
		c->ha.ds[d].write_pending = false;
	}
}

void fdm_ha_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	bool master = c->role == FDM_ROLE_MASTER && !c->leaving;

	if (master != c->ha.was_master) {
		forget_master_state(c);
		c->ha.was_master = master;
	}
	if (master) {
		fdm_failover_tick(c, now, out);
		fdm_protect_tick(c, now, out);
	}
}

/* ------------------------------------------------------------- the VM table */

struct fdm_vm *fdm_ha_find(struct fdm_core *c, const char *name)
{
	for (size_t i = 0; i < c->ha.n_vms; i++)
		if (c->ha.vms[i].used && strcmp(c->ha.vms[i].name, name) == 0)
			return &c->ha.vms[i];
	return NULL;
}

struct fdm_vm *fdm_ha_add_vm(struct fdm_core *c, const char *name, int ds)
{
	struct fdm_vm *v = NULL;

	for (size_t i = 0; i < c->ha.n_vms && v == NULL; i++)
		if (!c->ha.vms[i].used)
			v = &c->ha.vms[i];
	if (v == NULL && c->ha.n_vms < FDM_MAX_VMS)
		v = &c->ha.vms[c->ha.n_vms++];
	if (v == NULL)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->used = true;
	fdm_strlcpy(v->name, name, sizeof(v->name));
	v->ds = ds;
	v->host = -1;
	v->order_host = -1;
	v->avoid_host = -1;
	v->crashed_host = -1;
	v->state = FDM_VM_PROTECTED;
	return v;
}

void fdm_ha_remove_vm(struct fdm_core *c, struct fdm_vm *v)
{
	(void)c;
	memset(v, 0, sizeof(*v));
}

static bool listed(const struct fdm_vmlist_view *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->vms[i].name, name) == 0)
			return true;
	return false;
}

/* The master that acts on d owns the VM part of its table: it is the only writer
 * of d's list, and its own edits (a restart count bumped, a VM protected) must not
 * be undone by a read that raced with its write. Everyone else, and the master
 * before its first read under the lease, takes the list as read. */
static bool table_is_ours(const struct fdm_core *c, int d)
{
	return c->role == FDM_ROLE_MASTER && c->ha.ds[d].lease_acquired_ms != 0 &&
	       c->ha.ds[d].listed_under_lease;
}

static void take_vmlist(struct fdm_core *c, int d, const struct fdm_vmlist_view *v,
			struct fdm_actions *out)
{
	struct fdm_ha_ds *hd = &c->ha.ds[d];
	static const struct fdm_vmlist_view none = { .empty = true };

	if (v == NULL || v->empty)
		v = &none;
	hd->listed = true;
	hd->generation = v->empty ? 0 : v->generation;
	if (table_is_ours(c, d))
		return;
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		struct fdm_vm *vm = &c->ha.vms[i];

		if (vm->used && vm->ds == d && !listed(v, vm->name))
			fdm_ha_remove_vm(c, vm);
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct fdm_vmlist_entry *e = &v->vms[i];
		struct fdm_vm *vm = fdm_ha_find(c, e->name);

		if (vm == NULL && (vm = fdm_ha_add_vm(c, e->name, d)) == NULL) {
			fdm_core_event(out, &(struct fdm_log_fields){
					.event = "too-many-vms", .vm = e->name,
					.datastore = c->datastore_names[d] },
				       "%s: more than %d protected VMs: %s of %s ignored",
				       c->peers[c->self].id, FDM_MAX_VMS, e->name,
				       c->datastore_names[d]);
			continue;
		}
		vm->ds = d;
		fdm_strlcpy(vm->uuid, e->uuid, sizeof(vm->uuid));
		vm->priority = e->priority;
		vm->memory_kib = e->memory_kib;
		vm->restarts = e->restarts;
		vm->stopped = e->stopped;
	}
	for (size_t h = 0; h < c->n_peers && h < 64; h++) {
		if (v->maintenance_mask & (1ull << h))
			c->ha.hosts[h].maintenance = true;
		else if (!table_is_ours(c, d))
			c->ha.hosts[h].maintenance = false;
	}
	if (c->role == FDM_ROLE_MASTER && hd->lease_acquired_ms != 0 && !hd->listed_under_lease) {
		/* The table is ours from now on; write it once under our lease so
		 * that the hosts' reports can echo our generation (restart.c). */
		hd->listed_under_lease = true;
		hd->write_pending = true;
	}
}

/* --------------------------------------------------- what this host reports */

static bool runs_locally(const struct fdm_core *c, const char *name)
{
	for (size_t i = 0; i < c->ha.n_local; i++)
		if (strcmp(c->ha.local_runs[i], name) == 0)
			return true;
	return false;
}

/* Asked to power it on, and no listing taken since the power-on ended yet. */
static bool starting_locally(const struct fdm_core *c, const char *name)
{
	for (size_t i = 0; i < c->ha.n_my_orders; i++) {
		const struct fdm_order *o = &c->ha.my_orders[i];

		if (strcmp(o->name, name) == 0 &&
		    (!o->done || (o->maybe_started && c->ha.local_listed_ms <= o->done_ms)))
			return true;
	}
	return false;
}

bool fdm_ha_runs_here(const struct fdm_core *c, const char *name)
{
	return runs_locally(c, name) || starting_locally(c, name);
}

bool fdm_ha_reported_here(const struct fdm_core *c, const char *name)
{
	for (size_t k = 0; k < c->ha.n_report_runs; k++)
		if (strcmp(c->ha.report_runs[k], name) == 0)
			return true;
	return false;
}

void fdm_ha_poweron_of(const struct fdm_core *c, int d, struct fdm_poweron_out *out)
{
	memset(out, 0, sizeof(*out));
	out->runs = (const char (*)[FDM_VM_NAME_MAX])out->runs_buf;
	if (d < 0 || (size_t)d >= c->n_datastores)
		return;
	out->generation_seen = c->ha.ds[d].generation;
	out->stopped = c->leaving;
	for (size_t i = 0; i < c->ha.n_vms; i++) {
		const struct fdm_vm *v = &c->ha.vms[i];

		if (!v->used || v->ds != d)
			continue;
		out->seen_names[out->n_seen] = v->name;
		out->seen_restarts[out->n_seen++] = v->restarts;
		if (fdm_ha_runs_here(c, v->name))
			fdm_strlcpy(out->runs_buf[out->n_runs++], v->name, FDM_VM_NAME_MAX);
	}
	fdm_isoresp_poweron(c, d, out);
}

/* Recompute what our reports say runs here, after any change of the listing or
 * of the power-ons under way. */
static void refresh_report(struct fdm_core *c)
{
	struct fdm_ha *ha = &c->ha;

	ha->n_report_runs = 0;
	for (size_t i = 0; i < ha->n_local; i++)
		fdm_strlcpy(ha->report_runs[ha->n_report_runs++], ha->local_runs[i], FDM_VM_NAME_MAX);
	for (size_t i = 0; i < ha->n_my_orders && ha->n_report_runs < FDM_MAX_LOCAL_VMS; i++) {
		const char *name = ha->my_orders[i].name;

		if (starting_locally(c, name) && !runs_locally(c, name))
			fdm_strlcpy(ha->report_runs[ha->n_report_runs++], name, FDM_VM_NAME_MAX);
	}
}

void fdm_ha_slave_report_of(const struct fdm_core *c, struct fdm_slave_report *out)
{
	memset(out, 0, sizeof(*out));
	out->listed = c->ha.local_connected;
	out->free_kib = c->ha.local_free_kib;
	out->total_kib = c->ha.local_total_kib;
	out->n_runs = c->ha.n_report_runs;
	out->runs = (const char (*)[FDM_VM_NAME_MAX])c->ha.report_runs;
	out->n_stops = c->ha.n_stops;
	out->stops = c->ha.stops;
	out->n_results = c->ha.n_results;
	out->results = c->ha.results;
}

/* ------------------------------------------------------- the local host */

void fdm_ha_on_local(struct fdm_core *c, const struct fdm_local_view *v, uint64_t now,
		     struct fdm_actions *out)
{
	(void)now;
	(void)out;
	c->ha.local_connected = v->connected;
	if (!v->connected)
		return;
	c->ha.local_listed_ms = v->listed_ms;
	c->ha.local_free_kib = v->free_kib;
	c->ha.local_total_kib = v->total_kib;
	c->ha.n_local = 0;
	for (size_t i = 0; i < v->n_runs && c->ha.n_local < FDM_MAX_LOCAL_VMS; i++)
		fdm_strlcpy(c->ha.local_runs[c->ha.n_local++], v->runs[i], FDM_VM_NAME_MAX);
	refresh_report(c);
}

/* A protected VM stopped here: its reason goes to the master, in our slave
 * heartbeats until it acks it, or straight to our own decisions as master. */
static void report_stop(struct fdm_core *c, const char *name, enum fdm_stop_reason why,
			uint64_t now, struct fdm_actions *out)
{
	struct fdm_ha *ha = &c->ha;
	const size_t cap = sizeof(ha->stops) / sizeof(ha->stops[0]);

	fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-stopped-here", .vm = name },
		       "%s: vm %s stopped here (%s)", c->peers[c->self].id, name,
		       why == FDM_STOP_CRASHED ? "crashed" : why == FDM_STOP_USER ?
		       "shut down by its guest or an operator" : "stopped");
	if (c->role == FDM_ROLE_MASTER) {
		fdm_failover_on_stop(c, (int)c->self, name, why, now, out);
		return;
	}
	if (ha->n_stops == cap) {
		/* The master acks stops with every heartbeat; a full ring means it has
		 * not heard us for a while: the oldest stop is the least useful. */
		memmove(&ha->stops[0], &ha->stops[1], (cap - 1) * sizeof(ha->stops[0]));
		ha->n_stops--;
	}
	fdm_strlcpy(ha->stops[ha->n_stops].name, name, FDM_VM_NAME_MAX);
	ha->stops[ha->n_stops].reason = why;
	ha->stops[ha->n_stops].seq = ha->next_stop_seq++;
	ha->n_stops++;
}

void fdm_ha_on_local_stop(struct fdm_core *c, const char *name, enum fdm_stop_reason why,
			  uint64_t now, struct fdm_actions *out)
{
	struct fdm_ha *ha = &c->ha;
	const size_t cap = sizeof(ha->early_stops) / sizeof(ha->early_stops[0]);
	struct fdm_early_stop *e;
	const struct fdm_vm *v = fdm_ha_find(c, name);

	/* Our isolation response: no user's stop and no crash; the master learns
	 * it from our poweron record (isolated_off) and restarts it elsewhere. */
	if (fdm_isoresp_took(c, name)) {
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-stopped-here", .vm = name },
			       "%s: vm %s stopped here (isolation response)", c->peers[c->self].id,
			       name);
		return;
	}
	/* Our own power-off at its datastore's deadline, the shim's at that
	 * deadline before our tick saw it pass (its timer is its own), or the
	 * shim's at a deadline from before our start (the shim reports it
	 * destroyed): no user stop, the master restarts it elsewhere. */
	if (why == FDM_STOP_USER &&
	    ((v != NULL && v->ds >= 0 && (c->ds[v->ds].deadline_passed ||
					  fdm_deadline_passed(c, (size_t)v->ds, now))) ||
	     fdm_deadline_inherited_passed(c, name, now)))
		why = FDM_STOP_OTHER;
	if (v != NULL) {
		report_stop(c, name, why, now, out);
		return;
	}
	/* Not protected as far as we know: perhaps only not yet (report_early_stops). */
	if (ha->n_early_stops == cap) {
		memmove(&ha->early_stops[0], &ha->early_stops[1],
			(cap - 1) * sizeof(ha->early_stops[0]));
		ha->n_early_stops--;
	}
	e = &ha->early_stops[ha->n_early_stops++];
	fdm_strlcpy(e->name, name, sizeof(e->name));
	e->reason = why;
	e->at_ms = now;
}

/* A protectedlist was read: the stops of VMs it names that we did not know as
 * protected when they stopped are reported now, unless the VM has been seen
 * running here again since; those older than host_dead are forgotten (the
 * master has decided on the VM by then). */
static void report_early_stops(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	struct fdm_ha *ha = &c->ha;
	size_t keep = 0;

	for (size_t i = 0; i < ha->n_early_stops; i++) {
		const struct fdm_early_stop *e = &ha->early_stops[i];

		if (now > e->at_ms + c->timing.host_dead_ms)
			continue;
		if (fdm_ha_find(c, e->name) == NULL) {
			ha->early_stops[keep++] = *e;
			continue;
		}
		if (!(fdm_ha_runs_here(c, e->name) && ha->local_listed_ms > e->at_ms))
			report_stop(c, e->name, e->reason, now, out);
	}
	ha->n_early_stops = keep;
}

void fdm_ha_on_vmlist(struct fdm_core *c, int d, const struct fdm_vmlist_view *v,
		      uint64_t now, struct fdm_actions *out)
{
	if (d < 0 || (size_t)d >= c->n_datastores)
		return;
	take_vmlist(c, d, v, out);
	report_early_stops(c, now, out);
}

/* ------------------------------------------------------------ orders */

static struct fdm_order *my_order(struct fdm_core *c, const char *name, uint32_t restarts)
{
	for (size_t i = 0; i < c->ha.n_my_orders; i++) {
		struct fdm_order *o = &c->ha.my_orders[i];

		if (strcmp(o->name, name) == 0 && o->restarts == restarts)
			return o;
	}
	return NULL;
}

static void add_result(struct fdm_core *c, const char *name, uint32_t restarts, bool ok,
		       const char *message)
{
	struct fdm_order_result *r;

	if (c->ha.n_results == FDM_MAX_ORDERS)
		return;
	r = &c->ha.results[c->ha.n_results++];
	memset(r, 0, sizeof(*r));
	fdm_strlcpy(r->name, name, sizeof(r->name));
	r->restarts = restarts;
	r->ok = ok;
	fdm_strlcpy(r->message, message != NULL ? message : "", sizeof(r->message));
}

/* Take an order (from our master, or from ourselves as master): power on once. */
void fdm_ha_take_order(struct fdm_core *c, const struct fdm_order *o, uint64_t now,
		       struct fdm_actions *out)
{
	struct fdm_order *mine;
	struct fdm_action *a;

	if (my_order(c, o->name, o->restarts) != NULL || c->ha.n_my_orders == FDM_MAX_ORDERS)
		return;
	mine = &c->ha.my_orders[c->ha.n_my_orders++];
	*mine = *o;
	mine->issued_ms = now;
	mine->done = false;
	if (runs_locally(c, o->name)) {
		/* Already here (a retried order whose first power-on worked). */
		mine->done = true;
		mine->maybe_started = true;
		mine->done_ms = now;
		add_result(c, o->name, o->restarts, true, "already running here");
		refresh_report(c);
		return;
	}
	/* Its datastore's deadline has passed here: a master may restart it
	 * elsewhere at any moment (DESIGN.md "Restart", safety point 3). */
	if (o->ds >= 0 && fdm_deadline_passed(c, (size_t)o->ds, now)) {
		mine->done = true;
		mine->done_ms = now;
		add_result(c, o->name, o->restarts, false, "the deadline of its datastore passed here");
		return;
	}
	refresh_report(c);
	a = fdm_core_action(out, FDM_ACT_POWER_ON);
	if (a == NULL)
		return;
	a->ds = o->ds;
	fdm_strlcpy(a->vm, o->name, sizeof(a->vm));
	a->restarts = o->restarts;
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-poweron", .vm = o->name,
			.datastore = o->ds >= 0 ? c->datastore_names[o->ds] : NULL },
		       "%s: powering %s on (restart %u, datastore %s)", c->peers[c->self].id,
		       o->name, o->restarts, o->ds >= 0 ? c->datastore_names[o->ds] : "?");
}

void fdm_ha_on_power_on_done(struct fdm_core *c, const char *name, uint32_t restarts,
			     bool ok, bool maybe_started, const char *message, uint64_t now,
			     struct fdm_actions *out)
{
	struct fdm_order *o = my_order(c, name, restarts);

	if (o == NULL)
		return;
	o->done = true;
	o->maybe_started = ok || maybe_started;
	o->done_ms = now;
	add_result(c, name, restarts, ok, message);
	refresh_report(c);
	fdm_core_event(out, &(struct fdm_log_fields){ .vm = name,
			.event = ok ? "vm-poweron-done" : "vm-poweron-error" },
		       "%s: power-on of %s %s%s%s", c->peers[c->self].id, name,
		       ok ? "done" : "failed", ok ? "" : ": ", ok ? "" : (message ? message : ""));
	if (c->role == FDM_ROLE_MASTER)
		fdm_failover_on_result(c, (int)c->self, name, restarts, ok, message, now, out);
}

/* Orders absent from the master's list are answered (it saw the result) or
 * withdrawn: forget them, but keep reporting a power-on as running until a
 * listing shows the truth (starting_locally), and its result with it: a master
 * that has not seen it may order it again meanwhile (two masters merging after
 * a heal, the other's heartbeat without it), and a kept order is not taken
 * twice, so a result dropped here would never be sent (the master waits
 * ORDER_TIMEOUT_MS; tests/sim, fencing with an isolation response). */
static void forget_withdrawn(struct fdm_core *c, const struct fdm_order *o, size_t n)
{
	size_t keep = 0;

	for (size_t i = 0; i < c->ha.n_my_orders; i++) {
		struct fdm_order *m = &c->ha.my_orders[i];
		bool wanted = false;

		for (size_t k = 0; k < n && !wanted; k++)
			wanted = strcmp(o[k].name, m->name) == 0 && o[k].restarts == m->restarts;
		if (wanted || starting_locally(c, m->name))
			c->ha.my_orders[keep++] = *m;
	}
	c->ha.n_my_orders = keep;
	keep = 0;
	for (size_t i = 0; i < c->ha.n_results; i++) {
		const struct fdm_order_result *r = &c->ha.results[i];
		bool wanted = false;

		for (size_t k = 0; k < n && !wanted; k++)
			wanted = strcmp(o[k].name, r->name) == 0 && o[k].restarts == r->restarts;
		if (wanted || my_order(c, r->name, r->restarts) != NULL)
			c->ha.results[keep++] = *r;
	}
	c->ha.n_results = keep;
	refresh_report(c);
}

void fdm_ha_on_orders(struct fdm_core *c, const struct fdm_order *o, size_t n,
		      uint64_t stop_ack, uint64_t now, struct fdm_actions *out)
{
	size_t keep = 0;

	forget_withdrawn(c, o, n);
	for (size_t i = 0; i < n; i++)
		fdm_ha_take_order(c, &o[i], now, out);
	for (size_t i = 0; i < c->ha.n_stops; i++)
		if (c->ha.stops[i].seq > stop_ack)
			c->ha.stops[keep++] = c->ha.stops[i];
	c->ha.n_stops = keep;
}

/* ------------------------------------------------- the list the master writes */

void fdm_ha_vmlist_desired(const struct fdm_core *c, int d, struct fdm_vmlist_desired *out)
{
	memset(out, 0, sizeof(*out));
	if (d < 0 || (size_t)d >= c->n_datastores)
		return;
	/* Written under our lease: hosts echo this generation in their reports. */
	out->generation = c->ds[d].lease.mine.generation;
	for (size_t i = 0; i < c->ha.n_vms && out->n < FDM_MAX_VMS; i++) {
		const struct fdm_vm *v = &c->ha.vms[i];
		struct fdm_vmlist_entry *e;

		if (!v->used || v->ds != d)
			continue;
		e = &out->vms[out->n++];
		fdm_strlcpy(e->name, v->name, sizeof(e->name));
		fdm_strlcpy(e->uuid, v->uuid, sizeof(e->uuid));
		e->priority = v->priority;
		e->restarts = v->restarts;
		e->memory_kib = v->memory_kib;
		e->stopped = v->stopped;
	}
	for (size_t h = 0; h < c->n_peers && h < 64; h++)
		if (c->ha.hosts[h].maintenance)
			out->maintenance_mask |= 1ull << h;
}
