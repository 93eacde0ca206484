/* What the master learns about each protected VM (DESIGN.md "Restart"): stops
 * its hosts report, slave heartbeats listing what runs where, and the hb and
 * poweron records read from every datastore. failover.c decides from it. */
#include "fdm/core/core.h"

#include <stdio.h>
#include <string.h>

#include "lib/util.h"

static const char *self_id(const struct fdm_core *c)
{
	return c->peers[c->self].id;
}

static bool is_master(const struct fdm_core *c)
{
	return c->role == FDM_ROLE_MASTER;
}

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
