/* The agent's side of `fdmctl metrics`: a struct fdm_metrics filled from the
 * agent, as `fdmctl status` sees it, with the counters of metrics_counters.c,
 * for fdm_metrics_text. */
#include "fdm/metrics.h"

#include <string.h>

#include "fdm/agent.h"
#include "fdm/core/vmview.h"
#include "lib/util.h"

static uint64_t event_count(const struct fdm_metrics_counters *mc, const char *event)
{
	for (size_t i = 0; i < mc->n_events; i++)
		if (strcmp(mc->events[i].label, event) == 0)
			return mc->events[i].n;
	return 0;
}

static const struct fdm_metrics_io *io_find(const struct fdm_metrics_counters *mc,
					    const char *ds)
{
	for (size_t i = 0; i < FDM_MAX_DATASTORES; i++)
		if (strcmp(mc->io[i].name, ds) == 0)
			return &mc->io[i];
	return NULL;
}

static void hosts_by_state(const struct fdm_core *c, struct fdm_metrics *m)
{
	for (int s = 0; s < FDM_HS_COUNT && s < FDM_METRICS_STATES; s++)
		m->hosts[m->n_hosts++] = (struct fdm_metrics_count){
			.label = fdm_host_state_name((enum fdm_host_state)s) };
	for (size_t i = 0; i < c->n_peers; i++) {
		enum fdm_host_state s = fdm_status_host_state(c, i);

		if ((size_t)s < m->n_hosts)
			m->hosts[s].n++;
	}
}

static void count_vm(struct fdm_metrics *m, const char *state)
{
	for (size_t i = 0; i < m->n_vms; i++)
		if (strcmp(m->vms[i].label, state) == 0) {
			m->vms[i].n++;
			return;
		}
	/* A state only a newer master sends: its name is in the slave's copy of the
	 * table, which lives as long as the agent does until the next heartbeat. */
	if (m->n_vms < FDM_METRICS_STATES)
		m->vms[m->n_vms++] = (struct fdm_metrics_count){ .label = state, .n = 1 };
}

/* The table `fdmctl vms` shows: the master's own, or a slave's copy of it. */
static void vms_by_state(const struct fdm_core *c, struct fdm_metrics *m)
{
	const struct fdm_master_vms *mv = c->role == FDM_ROLE_SLAVE ? fdm_vmview_master(c) : NULL;
	struct fdm_vm_row row;

	for (int s = 0; s < FDM_VM_STATE_COUNT && s < FDM_METRICS_STATES; s++)
		m->vms[m->n_vms++] = (struct fdm_metrics_count){
			.label = fdm_vm_state_name((enum fdm_vm_state)s) };
	if (c->role == FDM_ROLE_SLAVE) {
		for (size_t i = 0; mv != NULL && i < mv->n; i++)
			count_vm(m, mv->rows[i].state);
		return;
	}
	for (size_t i = 0; i < c->ha.n_vms; i++)
		if (fdm_vmview_row(c, i, &row))
			count_vm(m, fdm_vm_state_name(c->ha.vms[i].state));
}

/* Restarts and failures by reason: the master's event lines of those kinds
 * (fdm/core/failover.c names them). */
static void restarts_and_failures(const struct fdm_metrics_counters *mc, struct fdm_metrics *m)
{
	static const char *const restarts[][2] = {
		{ "host_failed", "vm-restart-host-failed" },
		{ "vm_crashed", "vm-restart-crashed" },
		{ "retry", "vm-restart-retry" },
	};
	static const char *const failures[][2] = {
		{ "retrying", "vm-poweron-failed" },
		{ "gave_up", "vm-failed" },
	};

	for (size_t i = 0; i < 3; i++)
		m->restarts[m->n_restarts++] = (struct fdm_metrics_count){
			.label = restarts[i][0], .n = event_count(mc, restarts[i][1]) };
	for (size_t i = 0; i < 2; i++)
		m->failures[m->n_failures++] = (struct fdm_metrics_count){
			.label = failures[i][0], .n = event_count(mc, failures[i][1]) };
}

static void datastores(const struct fdm_agent *a, uint64_t now, struct fdm_metrics *m)
{
	for (size_t d = 0; d < a->cfg.n_datastores && d < FDM_MAX_DATASTORES; d++) {
		const struct fdm_core_ds *s = &a->core.ds[d];
		const struct fdm_metrics_io *e = io_find(&a->metrics, a->cfg.datastores[d].name);
		struct fdm_metrics_ds *o = &m->ds[m->n_ds++];
		struct fdm_dsio_stats st;

		memset(&st, 0, sizeof(st));
		fdm_datastores_stats(&a->datastores, d, &st);
		*o = (struct fdm_metrics_ds){
			.name = a->cfg.datastores[d].name,
			.reachable = s->reachable,
			.state = fdm_ds_state_name(s->state),
			.lease_state = fdm_lease_state_name(s->lease.state),
			.lease_acting = fdm_lease_acting(&s->lease, now),
			.io_submitted = st.submitted,
			/* Each reported to the core as a timeout (dsio.h). */
			.io_timeouts = st.timed_out + st.late_completed + st.expired_in_queue,
			.io_queued = st.queued_now,
		};
		if (e != NULL) {
			o->io = e->io;
			o->have_renewal = e->have_renewal;
			o->renewal_ms = e->renewal_ms;
		}
	}
}

void fdm_metrics_gather(const struct fdm_agent *a, uint64_t now, struct fdm_metrics *m)
{
	const struct fdm_core *c = &a->core;

	memset(m, 0, sizeof(*m));
	m->cluster = a->cfg.cluster_id;
	m->host = a->cfg.host_id;
	m->version = FDM_VERSION;
	m->uptime_ms = now - a->started_ms;
	m->term = c->term;
	for (int r = FDM_ROLE_ELECTION; r <= FDM_ROLE_SLAVE; r++)
		m->roles[m->n_roles++] = (struct fdm_metrics_count){
			.label = fdm_role_name((enum fdm_role)r), .n = c->role == (enum fdm_role)r };
	hosts_by_state(c, m);
	vms_by_state(c, m);
	restarts_and_failures(&a->metrics, m);
	memcpy(m->events, a->metrics.events, a->metrics.n_events * sizeof(m->events[0]));
	m->n_events = a->metrics.n_events;
	for (int d = FDM_DROP_NONE + 1; d < FDM_DROP_COUNT && m->n_dropped < FDM_METRICS_STATES; d++)
		m->dropped[m->n_dropped++] = (struct fdm_metrics_count){
			.label = fdm_drop_name((enum fdm_drop)d), .n = a->net.dropped[d] };
	datastores(a, now, m);
}
