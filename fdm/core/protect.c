/* fdmctl protect, unprotect and maintenance, as the master carries them out
 * (INTERFACE.md; DESIGN.md "Restart"). A request comes from the local control
 * socket or from a slave that forwarded it. For a protect, the master asks every
 * connected host for the VM's definition (the one that runs it answers; the XML
 * itself stays in the shells, which stage it for the datastore write), checks the
 * home datastore's lease and admission control, writes the protectedlist, and
 * replies only once the write is durable: protection survives every agent's
 * restart because it is on the datastore. */
#include "fdm/core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fdm/core/placement.h"
#include "lib/util.h"

/* How long a request may take: the hosts' answers, then the list writes. */
#define REQUEST_TIMEOUT_MS 15000u

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

static double gib(uint64_t kib)
{
	return (double)kib / (1024.0 * 1024.0);
}

static void answer(struct fdm_actions *out, const struct fdm_ha_request *r, bool ok,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void answer(struct fdm_actions *out, const struct fdm_ha_request *r, bool ok,
		   const char *fmt, ...)
{
	struct fdm_action *a = fdm_core_action(out, FDM_ACT_CONTROL_REPLY);
	va_list ap;

	if (a == NULL)
		return;
	a->request_id = r->id;
	a->to = r->origin;
	a->ok = ok;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
}

static void finish(struct fdm_ha_pending *p)
{
	memset(p, 0, sizeof(*p));
}

static struct fdm_ha_pending *pending_of(struct fdm_core *c, uint64_t id)
{
	for (size_t i = 0; i < FDM_HA_REQUESTS; i++)
		if (c->ha.requests[i].used && c->ha.requests[i].req.id == id)
			return &c->ha.requests[i];
	return NULL;
}

static struct fdm_ha_pending *new_pending(struct fdm_core *c, const struct fdm_ha_request *r,
					  uint64_t now)
{
	for (size_t i = 0; i < FDM_HA_REQUESTS; i++) {
		struct fdm_ha_pending *p = &c->ha.requests[i];

		if (!p->used) {
			memset(p, 0, sizeof(*p));
			p->used = true;
			p->req = *r;
			p->started_ms = now;
			p->host = -1;
			return p;
		}
	}
	return NULL;
}

/* Mark d's list for writing; the request completes when the write does. */
static void write_list(struct fdm_core *c, struct fdm_ha_pending *p, int d)
{
	c->ha.ds[d].write_pending = true;
	p->writes |= 1u << d;
}

static bool acting_on(const struct fdm_core *c, int d, uint64_t now)
{
	return fdm_lease_acting(&c->ds[d].lease, now) && c->ha.ds[d].lease_acquired_ms != 0 &&
	       c->ha.ds[d].listed_under_lease;
}

/* The lease is ours but not to act on this instant: just acquired, its VM list
 * not read yet or its first renewal not done (both within an io). A lease whose
 * renewals fail stops being ours within lease_expiry, so the wait is bounded. */
static bool lease_settling(const struct fdm_core *c, int d, uint64_t now)
{
	const struct fdm_lease *l = &c->ds[d].lease;

	if (c->ha.ds[d].lease_acquired_ms != 0 && !acting_on(c, d, now))
		return true;
	/* Being acquired by us, a new master (2 io for a free lease): the request's
	 * own timeout bounds the wait when another host holds it. */
	return c->role == FDM_ROLE_MASTER && l->wanted && c->ds[d].reachable &&
	       (l->state == FDM_LEASE_ACQUIRING || l->state == FDM_LEASE_CLAIMED);
}

/* ------------------------------------------------------------------ protect */

/* Admission control: every protected VM, and more_kib more, must still fit
 * after the configured number of the largest hosts fail. Also what `fdmctl
 * status` shows as capacity (more_kib 0). */
bool fdm_ha_admitted(const struct fdm_core *c, uint64_t more_kib, int64_t *spare_kib,
		     uint64_t *need_kib, char *why, size_t len)
{
	uint64_t host_kib[FDM_MAX_HOSTS], need = more_kib;

	for (size_t h = 0; h < c->n_peers; h++)
		host_kib[h] = h == c->self ? c->ha.local_total_kib : c->ha.hosts[h].total_kib;
	for (size_t i = 0; i < c->ha.n_vms; i++)
		if (c->ha.vms[i].used)
			need += c->ha.vms[i].memory_kib;
	*need_kib = need;
	return fdm_admission_ok(host_kib, c->n_peers, c->ha.host_failures_tolerated, need,
				spare_kib, why, len);
}

static void protect_defined(struct fdm_core *c, struct fdm_ha_pending *p, uint64_t now,
			    struct fdm_actions *out)
{
	const struct fdm_ha_request *r = &p->req;
	int d = r->ds >= 0 ? r->ds : p->def.disk_ds;
	char why[200];
	int64_t spare;
	uint64_t need;
	struct fdm_vm *v;

	if (d < 0) {
		answer(out, r, false, "cannot tell the home datastore of %s (its first disk is on "
		       "no configured datastore): give --datastore", r->name);
		finish(p);
		return;
	}
	if (lease_settling(c, d, now))
		return;   /* fdm_protect_tick tries again */
	if (!acting_on(c, d, now)) {
		answer(out, r, false, "datastore %s is not held by the master (%s) right now: "
		       "try again when `fdmctl datastores` shows it held", c->datastore_names[d],
		       self_id(c));
		finish(p);
		return;
	}
	if (!fdm_ha_admitted(c, p->def.memory_kib, &spare, &need, why, sizeof(why))) {
		answer(out, r, false, "admission control refuses %s: %s (host_failures_tolerated "
		       "= %u)", r->name, why, c->ha.host_failures_tolerated);
		finish(p);
		return;
	}
	v = fdm_ha_add_vm(c, r->name, d);
	if (v == NULL) {
		answer(out, r, false, "more than %d protected VMs", FDM_MAX_VMS);
		finish(p);
		return;
	}
	fdm_strlcpy(v->uuid, p->def.uuid, sizeof(v->uuid));
	v->memory_kib = p->def.memory_kib;
	v->priority = r->priority >= 0 ? (Fdm__Priority)r->priority : FDM__PRIORITY__PRIORITY_MEDIUM;
	v->host = p->host;
	write_list(c, p, d);
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-protected", .vm = v->name,
			.datastore = c->datastore_names[d], .peer = c->peers[p->host].id },
		       "%s: protecting vm %s on %s (priority %s, %.1f GiB, runs on %s)",
		       self_id(c), v->name, c->datastore_names[d], fdm_priority_name(v->priority),
		       gib(v->memory_kib), c->peers[p->host].id);
}

/* Ask every connected host (and ourselves) not asked yet for the definition. */
static void ask_connected(struct fdm_core *c, struct fdm_ha_pending *p, struct fdm_actions *out)
{
	for (size_t h = 0; h < c->n_peers; h++) {
		uint64_t bit = 1ull << h;
		struct fdm_action *a;

		if ((p->asked_all & bit) ||
		    (h != c->self && c->peers[h].state != FDM_HS_CONNECTED))
			continue;
		a = fdm_core_action(out, FDM_ACT_VM_DEFINE);
		if (a == NULL)
			continue;
		a->to = (int)h;
		a->request_id = p->req.id;
		fdm_strlcpy(a->vm, p->req.name, sizeof(a->vm));
		p->asked_mask |= bit;
		p->asked_all |= bit;
	}
}

/* A host we could not ask but heard within host_dead: after a network blip it
 * is back within a few heartbeats, and the VM may run there. A protect waits
 * for it (up to the request's time) rather than answer "runs on no host". */
static bool may_come_back(const struct fdm_core *c, size_t h, uint64_t now)
{
	const struct fdm_peer_state *p = &c->peers[h];

	return h != c->self && p->state != FDM_HS_CONNECTED && p->state != FDM_HS_DEAD &&
	       p->state != FDM_HS_STOPPED && p->ever_heard &&
	       now - p->last_heard_ms < c->timing.host_dead_ms;
}

static uint64_t awaited_hosts(const struct fdm_core *c, const struct fdm_ha_pending *p,
			      uint64_t now)
{
	uint64_t mask = 0;

	for (size_t h = 0; h < c->n_peers; h++)
		if (!(p->asked_all & (1ull << h)) && may_come_back(c, h, now))
			mask |= 1ull << h;
	return mask;
}

static void protect_start(struct fdm_core *c, const struct fdm_ha_request *r, uint64_t now,
			  struct fdm_actions *out)
{
	struct fdm_vm *v = fdm_ha_find(c, r->name);
	struct fdm_ha_pending *p;

	if (v != NULL) {
		/* Already protected: a new priority is the only change. */
		if (r->priority < 0 || (int)v->priority == r->priority) {
			answer(out, r, true, "%s is already protected on %s (priority %s)", v->name,
			       c->datastore_names[v->ds], fdm_priority_name(v->priority));
			return;
		}
		if (!acting_on(c, v->ds, now)) {
			answer(out, r, false, "datastore %s is not held by the master right now",
			       c->datastore_names[v->ds]);
			return;
		}
		p = new_pending(c, r, now);
		if (p == NULL) {
			answer(out, r, false, "too many requests in progress: try again");
			return;
		}
		v->priority = (Fdm__Priority)r->priority;
		write_list(c, p, v->ds);
		return;
	}
	p = new_pending(c, r, now);
	if (p == NULL) {
		answer(out, r, false, "too many requests in progress: try again");
		return;
	}
	/* Ask every host that can answer now; the one that runs it will. Hosts
	 * that cannot are asked when they return (fdm_protect_tick). */
	p->finding = true;
	ask_connected(c, p, out);
}

/* "host-1, host-2, host-4": the hosts asked for a definition. */
static void hosts_of(const struct fdm_core *c, uint64_t mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t h = 0; h < c->n_peers && used < len; h++) {
		int n;

		if (!(mask & (1ull << h)))
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", c->peers[h].id);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

bool fdm_ha_define_awaited(const struct fdm_core *c, uint64_t id, int from, const char *vm)
{
	for (size_t i = 0; i < FDM_HA_REQUESTS; i++) {
		const struct fdm_ha_pending *p = &c->ha.requests[i];

		if (p->used && p->req.id == id && p->req.op == FDM_HA_PROTECT && from >= 0 &&
		    (size_t)from < c->n_peers && (p->asked_mask & (1ull << from)) &&
		    strcmp(p->req.name, vm) == 0)
			return true;
	}
	return false;
}

/* Every host asked said no, and none that may come back is left to ask. */
static void runs_nowhere(const struct fdm_core *c, struct fdm_ha_pending *p,
			 struct fdm_actions *out)
{
	char asked[FDM_HA_WHY_MAX];

	hosts_of(c, p->asked_all, asked, sizeof(asked));
	answer(out, &p->req, false, "%s runs on no connected host (asked %s)",
	       p->req.name, asked);
	finish(p);
}

void fdm_ha_on_define(struct fdm_core *c, uint64_t id, int from, const struct fdm_vm_define *d,
		      uint64_t now, struct fdm_actions *out)
{
	struct fdm_ha_pending *p = pending_of(c, id);

	if (p == NULL || from < 0 || (size_t)from >= c->n_peers ||
	    !(p->asked_mask & (1ull << from)))
		return;
	p->asked_mask &= ~(1ull << from);
	if (d->found && p->host < 0) {
		p->host = from;
		p->def = *d;
		protect_defined(c, p, now, out);
		return;
	}
	if (d->runs && p->host < 0) {
		/* It runs there, and only one host runs it: no other answer helps. */
		answer(out, &p->req, false, "%s runs on %s, but %s", p->req.name, c->peers[from].id,
		       d->message[0] ? d->message : "its definition could not be read");
		finish(p);
		return;
	}
	if (p->asked_mask == 0 && p->host < 0 && awaited_hosts(c, p, now) == 0)
		runs_nowhere(c, p, out);
}

/* --------------------------------------------------- unprotect, maintenance */

static void unprotect(struct fdm_core *c, const struct fdm_ha_request *r, uint64_t now,
		      struct fdm_actions *out)
{
	struct fdm_vm *v = fdm_ha_find(c, r->name);
	struct fdm_ha_pending *p;
	int d;

	if (v == NULL) {
		answer(out, r, true, "%s is not protected", r->name);
		return;
	}
	d = v->ds;
	if (!acting_on(c, d, now)) {
		answer(out, r, false, "datastore %s is not held by the master right now",
		       c->datastore_names[d]);
		return;
	}
	p = new_pending(c, r, now);
	if (p == NULL) {
		answer(out, r, false, "too many requests in progress: try again");
		return;
	}
	fdm_ha_remove_vm(c, v);
	write_list(c, p, d);
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "vm-unprotected", .vm = r->name },
		       "%s: vm %s unprotected", self_id(c), r->name);
}

static void maintenance(struct fdm_core *c, const struct fdm_ha_request *r, bool enter,
			uint64_t now, struct fdm_actions *out)
{
	int h = fdm_core_peer_index(c, r->name);
	struct fdm_ha_pending *p;

	if (h < 0) {
		answer(out, r, false, "no host %s in [peers]", r->name);
		return;
	}
	p = new_pending(c, r, now);
	if (p == NULL) {
		answer(out, r, false, "too many requests in progress: try again");
		return;
	}
	c->ha.hosts[h].maintenance = enter;
	/* On every datastore we hold, so that it survives a restart of every agent. */
	for (size_t d = 0; d < c->n_datastores; d++)
		if (acting_on(c, (int)d, now))
			write_list(c, p, (int)d);
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "maintenance", .peer = r->name },
		       "%s: host %s %s maintenance", self_id(c), r->name,
		       enter ? "enters" : "leaves");
	if (p->writes == 0) {
		answer(out, r, false, "the master holds no datastore right now: maintenance of "
		       "%s set in memory only", r->name);
		finish(p);
	}
}

void fdm_ha_request(struct fdm_core *c, const struct fdm_ha_request *r, uint64_t now,
		    struct fdm_actions *out)
{
	if (c->role != FDM_ROLE_MASTER) {
		struct fdm_action *a;

		if (r->origin >= 0) {
			/* Its sender took us for the master: an election moved on. */
			answer(out, r, false, "%s is not the master (any more): try again in a few "
			       "seconds (`fdmctl status`)", self_id(c));
			return;
		}
		if (c->role != FDM_ROLE_SLAVE || c->master < 0) {
			answer(out, r, false, "no master elected right now: try again in a few "
			       "seconds (`fdmctl status`)");
			return;
		}
		a = fdm_core_action(out, FDM_ACT_FORWARD);
		if (a != NULL) {
			a->to = c->master;
			a->request_id = r->id;
		}
		return;
	}
	switch (r->op) {
	case FDM_HA_PROTECT:
		protect_start(c, r, now, out);
		break;
	case FDM_HA_UNPROTECT:
		unprotect(c, r, now, out);
		break;
	case FDM_HA_MAINT_ENTER:
	case FDM_HA_MAINT_EXIT:
		maintenance(c, r, r->op == FDM_HA_MAINT_ENTER, now, out);
		break;
	}
}

void fdm_protect_on_written(struct fdm_core *c, int d, bool ok, uint64_t now,
			    struct fdm_actions *out)
{
	(void)now;
	if (!ok)
		return;   /* written again at the next io; the request waits */
	for (size_t i = 0; i < FDM_HA_REQUESTS; i++) {
		struct fdm_ha_pending *p = &c->ha.requests[i];

		if (!p->used || !(p->writes & (1u << d)))
			continue;
		p->writes &= ~(1u << d);
		if (p->writes != 0)
			continue;
		switch (p->req.op) {
		case FDM_HA_PROTECT:
			answer(out, &p->req, true, "%s protected on %s", p->req.name,
			       c->datastore_names[d]);
			break;
		case FDM_HA_UNPROTECT:
			answer(out, &p->req, true, "%s unprotected", p->req.name);
			break;
		case FDM_HA_MAINT_ENTER:
		case FDM_HA_MAINT_EXIT:
			answer(out, &p->req, true, "host %s %s maintenance", p->req.name,
			       p->req.op == FDM_HA_MAINT_ENTER ? "in" : "out of");
			break;
		}
		finish(p);
	}
}

static void timed_out(const struct fdm_core *c, struct fdm_ha_pending *p, uint64_t now,
		      struct fdm_actions *out)
{
	char silent[FDM_HA_WHY_MAX];

	if (p->finding && p->host < 0) {
		hosts_of(c, awaited_hosts(c, p, now), silent, sizeof(silent));
		answer(out, &p->req, false, "%s: no answer within %u s (no host said it runs "
		       "it%s%s)", p->req.name, REQUEST_TIMEOUT_MS / 1000,
		       silent[0] ? "; not heard from: " : "", silent);
	} else {
		answer(out, &p->req, false, "%s: no answer within %u s (the protectedlist "
		       "write did not complete)", p->req.name, REQUEST_TIMEOUT_MS / 1000);
	}
	finish(p);
}

void fdm_protect_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	for (size_t i = 0; i < FDM_HA_REQUESTS; i++) {
		struct fdm_ha_pending *p = &c->ha.requests[i];

		/* A protect whose VM was found, waiting for its home lease to settle. */
		if (p->used && p->req.op == FDM_HA_PROTECT && p->host >= 0 && p->writes == 0)
			protect_defined(c, p, now, out);
		/* Not found yet: ask hosts that came back; give up on those that
		 * will not (dead, stopped, or silent for host_dead). */
		if (p->used && p->finding && p->host < 0) {
			ask_connected(c, p, out);
			if (p->asked_mask == 0 && awaited_hosts(c, p, now) == 0) {
				runs_nowhere(c, p, out);
				continue;
			}
		}
		if (!p->used || now < p->started_ms + REQUEST_TIMEOUT_MS)
			continue;
		timed_out(c, p, now, out);
	}
}
