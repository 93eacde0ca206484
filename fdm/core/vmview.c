/* What status shows of VM protection (vmview.h): the master's rows and capacity,
 * and a slave's copy of them from the master's heartbeat. The sender holds the
 * key, no more: every string is bounded and made printable before it is kept;
 * a VM whose name or state breaks a bound is left out and counted. */
#include "fdm/core/vmview.h"

#include <string.h>

#include "fdm/core/core.h"
#include "fdm/core/placement.h"
#include "lib/util.h"

void fdm_vmview_capacity(const struct fdm_core *c, struct fdm_capacity *cap)
{
	char why[FDM_HA_WHY_MAX];

	memset(cap, 0, sizeof(*cap));
	cap->known = true;
	cap->host_failures_tolerated = c->ha.host_failures_tolerated;
	fdm_ha_admitted(c, 0, &cap->spare_kib, &cap->needed_kib, why, sizeof(why));
}

static void peer_name(const struct fdm_core *c, int i, char *dst, size_t size)
{
	dst[0] = '\0';
	if (i >= 0 && (size_t)i < c->n_peers)
		fdm_strlcpy(dst, c->peers[i].id, size);
}

static void ds_name(const struct fdm_core *c, int d, char *dst, size_t size)
{
	dst[0] = '\0';
	if (d >= 0 && (size_t)d < c->n_datastores)
		fdm_strlcpy(dst, c->datastore_names[d], size);
}

bool fdm_vmview_row(const struct fdm_core *c, size_t i, struct fdm_vm_row *row)
{
	const struct fdm_vm *v;

	if (i >= c->ha.n_vms || !c->ha.vms[i].used)
		return false;
	v = &c->ha.vms[i];
	memset(row, 0, sizeof(*row));
	fdm_strlcpy(row->name, v->name, sizeof(row->name));
	fdm_strlcpy(row->state, fdm_vm_state_name(v->state), sizeof(row->state));
	peer_name(c, v->host, row->host, sizeof(row->host));
	ds_name(c, v->ds, row->datastore, sizeof(row->datastore));
	row->priority = v->priority;
	row->restarts = v->restarts;
	row->attempts = v->attempts;
	fdm_strlcpy(row->waiting, v->waiting, sizeof(row->waiting));
	fdm_strlcpy(row->last_failure, v->last_failure, sizeof(row->last_failure));
	return true;
}

/* A string of 1 to size-1 bytes: kept, printable. */
static bool bounded(const char *s, size_t size)
{
	size_t len;

	if (s == NULL)
		return false;
	len = strnlen(s, size);
	return len > 0 && len < size;
}

/* Optional display text: cut to its buffer, printable, "" when absent. */
static void text(char *dst, size_t size, const char *src)
{
	fdm_printable_copy(dst, size, src != NULL ? src : "");
}

static bool take_row(const Fdm__VmReport *w, struct fdm_vm_row *row)
{
	if (w == NULL || !bounded(w->name, FDM_VM_NAME_MAX) ||
	    !bounded(w->state, FDM_VM_STATE_TEXT_MAX))
		return false;
	memset(row, 0, sizeof(*row));
	text(row->name, sizeof(row->name), w->name);
	text(row->state, sizeof(row->state), w->state);
	text(row->host, sizeof(row->host), w->host);
	text(row->datastore, sizeof(row->datastore), w->datastore);
	/* A priority a newer agent added shows as medium, never out of the enum. */
	row->priority = w->has_priority && w->priority <= FDM__PRIORITY__PRIORITY_HIGHEST ?
			(Fdm__Priority)w->priority : FDM__PRIORITY__PRIORITY_MEDIUM;
	row->restarts = w->has_restarts ? w->restarts : 0;
	row->attempts = w->has_attempts ? w->attempts : 0;
	text(row->waiting, sizeof(row->waiting), w->waiting);
	text(row->last_failure, sizeof(row->last_failure), w->last_failure);
	return true;
}

size_t fdm_vmview_take(struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m,
		       uint64_t now)
{
	struct fdm_master_vms *mv = &c->master_vms;
	size_t n = m->n_vms, k = 0, dropped = 0;

	mv->have = true;
	mv->master = from;
	mv->term = c->term;
	mv->received_ms = now;
	mv->partial = m->has_vms_partial && m->vms_partial;
	if (n > FDM_MAX_VMS) {
		dropped += n - FDM_MAX_VMS;
		n = FDM_MAX_VMS;
		mv->partial = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (take_row(m->vms[i], &mv->rows[k]))
			k++;
		else
			dropped++;
	}
	mv->n = k;
	memset(&mv->capacity, 0, sizeof(mv->capacity));
	if (m->has_spare_kib && m->has_needed_kib && m->has_host_failures_tolerated) {
		mv->capacity.known = true;
		mv->capacity.spare_kib = m->spare_kib;
		mv->capacity.needed_kib = m->needed_kib;
		mv->capacity.host_failures_tolerated = m->host_failures_tolerated;
	}
	return dropped;
}

const struct fdm_master_vms *fdm_vmview_master(const struct fdm_core *c)
{
	const struct fdm_master_vms *mv = &c->master_vms;

	if (c->role != FDM_ROLE_SLAVE || !mv->have || mv->master != c->master ||
	    mv->term != c->term)
		return NULL;
	return mv;
}
