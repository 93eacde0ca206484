/* The VM protection records of one datastore in the agent's shell
 * (datastores_vms.h). Only translation: protobuf records to the core's views
 * and back. The tables are large (FDM_MAX_VMS entries): they live here, on the
 * heap, one set per datastore, never on a stack. Every record read is hostile
 * input: a name too long for the core, a list longer than FDM_MAX_VMS, a
 * maintenance host not configured, are left out, and said once per list. */
#include "fdm/datastores_vms.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

/* A VM being protected: its XML is not in the list on disk yet. */
struct staged {
	char name[FDM_VM_NAME_MAX];
	char uuid[FDM_UUID_MAX];
	char *xml;
	uint64_t memory_kib;
	uint32_t vcpus;
};

struct fdm_ds_vms {
	char ds_name[FDM_ID_MAX];
	Fdm__ProtectedList *list;          /* as last read; NULL none or never written */
	bool warned;                       /* oddities of a list were logged ... */
	uint64_t warned_written_ms;        /* ... of the list written then */
	struct staged staged[FDM_MAX_VMS];
	size_t n_staged;
	/* VM list read -> view */
	struct fdm_vmlist_entry entries[FDM_MAX_VMS];
	/* poweron write */
	struct fdm_poweron_out po_out;
	Fdm__PowerOnRecord po;
	char *po_vms[FDM_MAX_VMS];
	char *po_isolated_off[FDM_MAX_VMS];
	Fdm__VmRestartSeen seen[FDM_MAX_VMS];
	Fdm__VmRestartSeen *seen_p[FDM_MAX_VMS];
	/* VM list write */
	struct fdm_vmlist_desired desired;
	Fdm__ProtectedList out_list;
	Fdm__ProtectedVm pvms[FDM_MAX_VMS];
	Fdm__ProtectedVm *pvms_p[FDM_MAX_VMS];
	char *maintenance[FDM_MAX_HOSTS];
	/* hosts read -> records */
	struct fdm_host_records recs[FDM_MAX_HOSTS];
	char (*names)[FDM_VM_NAME_MAX];    /* runs and echoed names of every host */
	uint32_t *restarts;
};

struct fdm_ds_vms *fdm_ds_vms_new(const char *ds_name)
{
	struct fdm_ds_vms *v = calloc(1, sizeof(*v));

	if (v != NULL)
		fdm_strlcpy(v->ds_name, ds_name, sizeof(v->ds_name));
	return v;
}

static void free_host_scratch(struct fdm_ds_vms *v)
{
	free(v->names);
	free(v->restarts);
	v->names = NULL;
	v->restarts = NULL;
}

void fdm_ds_vms_free(struct fdm_ds_vms *v)
{
	if (v == NULL)
		return;
	if (v->list != NULL)
		fdm__protected_list__free_unpacked(v->list, NULL);
	for (size_t i = 0; i < v->n_staged; i++)
		free(v->staged[i].xml);
	free_host_scratch(v);
	free(v);
}

static bool name_fits(const char *name)
{
	return name != NULL && name[0] != '\0' && strlen(name) < FDM_VM_NAME_MAX;
}

static int peer_index(const struct fdm_ds_peers *peers, const char *id)
{
	for (size_t i = 0; i < peers->n; i++)
		if (id != NULL && strcmp(peers->ids[i], id) == 0)
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------ the VM list */

static const Fdm__ProtectedVm *listed(const struct fdm_ds_vms *v, const char *name)
{
	for (size_t i = 0; v->list != NULL && i < v->list->n_vms; i++)
		if (v->list->vms[i]->name != NULL && strcmp(v->list->vms[i]->name, name) == 0)
			return v->list->vms[i];
	return NULL;
}

static struct staged *staged_vm(const struct fdm_ds_vms *v, const char *name)
{
	for (size_t i = 0; i < v->n_staged; i++)
		if (strcmp(v->staged[i].name, name) == 0)
			return (struct staged *)&v->staged[i];
	return NULL;
}

static void drop_staged(struct fdm_ds_vms *v, size_t i)
{
	free(v->staged[i].xml);
	v->staged[i] = v->staged[--v->n_staged];
}

/* A staged VM that a read shows written, with its XML, is staged no more. */
static void drop_written(struct fdm_ds_vms *v)
{
	for (size_t i = 0; i < v->n_staged;) {
		const Fdm__ProtectedVm *vm = listed(v, v->staged[i].name);

		if (vm != NULL && vm->xml != NULL && strcmp(vm->xml, v->staged[i].xml) == 0)
			drop_staged(v, i);
		else
			i++;
	}
}

static void entry_of(const Fdm__ProtectedVm *vm, struct fdm_vmlist_entry *e)
{
	memset(e, 0, sizeof(*e));
	fdm_strlcpy(e->name, vm->name, sizeof(e->name));
	if (vm->uuid != NULL && strlen(vm->uuid) < sizeof(e->uuid))
		fdm_strlcpy(e->uuid, vm->uuid, sizeof(e->uuid));
	e->priority = vm->priority;       /* MEDIUM when absent (the proto's default) */
	e->restarts = vm->restart_count;
	e->memory_kib = vm->memory_kib;
	e->stopped = vm->has_stopped && vm->stopped;
}

void fdm_ds_vms_read(struct fdm_ds_vms *v, Fdm__ProtectedList *list,
		     const struct fdm_ds_peers *peers, struct fdm_vmlist_view *out)
{
	bool warn;
	size_t skipped = 0;

	if (v->list != NULL)
		fdm__protected_list__free_unpacked(v->list, NULL);
	v->list = list;
	memset(out, 0, sizeof(*out));
	out->vms = v->entries;
	if (list == NULL) {
		out->empty = true;
		return;
	}
	warn = !v->warned || list->written_unix_ms != v->warned_written_ms;
	v->warned = true;
	v->warned_written_ms = list->written_unix_ms;
	out->generation = list->lease_generation;
	for (size_t i = 0; i < list->n_vms; i++) {
		if (!name_fits(list->vms[i]->name) || out->n == FDM_MAX_VMS) {
			skipped++;
			continue;
		}
		entry_of(list->vms[i], &v->entries[out->n++]);
	}
	for (size_t i = 0; i < list->n_maintenance; i++) {
		int p = peer_index(peers, list->maintenance[i]);

		if (p >= 0 && p < 64)
			out->maintenance_mask |= 1ull << p;
		else if (warn)
			fdm_warn("datastore %s: VM list names host %s in maintenance, not in [peers]",
				 v->ds_name, list->maintenance[i]);
	}
	if (skipped > 0 && warn)
		fdm_warn("datastore %s: %zu of the %zu VMs in its VM list are left out: a name "
			 "empty or over %d characters, or more than %d VMs", v->ds_name, skipped,
			 list->n_vms, FDM_VM_NAME_MAX - 1, FDM_MAX_VMS);
	drop_written(v);
}

/* One VM of the list to write: the core's entry, with what only the shell has. */
static bool protected_vm(struct fdm_ds_vms *v, const struct fdm_vmlist_entry *e,
			 Fdm__ProtectedVm *pvm)
{
	const struct staged *s = staged_vm(v, e->name);
	const Fdm__ProtectedVm *old = listed(v, e->name);
	const char *xml = s != NULL ? s->xml : old != NULL ? old->xml : NULL;

	if (xml == NULL) {
		fdm_warn("datastore %s: VM %s left out of the VM list written: no domain XML "
			 "known for it", v->ds_name, e->name);
		return false;
	}
	fdm__protected_vm__init(pvm);
	pvm->name = (char *)e->name;
	pvm->xml = (char *)xml;
	pvm->uuid = (char *)(e->uuid[0] != '\0' ? e->uuid : s != NULL ? s->uuid
			     : old != NULL ? old->uuid : NULL);
	pvm->has_priority = pvm->has_restart_count = pvm->has_memory_kib = true;
	pvm->priority = e->priority;
	pvm->restart_count = e->restarts;
	pvm->memory_kib = e->memory_kib != 0 ? e->memory_kib : s != NULL ? s->memory_kib
			  : old != NULL ? old->memory_kib : 0;
	pvm->has_vcpus = s != NULL || (old != NULL && old->has_vcpus);
	pvm->vcpus = s != NULL ? s->vcpus : old != NULL ? old->vcpus : 0;
	pvm->has_stopped = true;
	pvm->stopped = e->stopped;
	return true;
}

const ProtobufCMessage *fdm_ds_vms_list_of(struct fdm_ds_vms *v,
					   const struct fdm_vmlist_desired *w,
					   const struct fdm_ds_peers *peers)
{
	Fdm__ProtectedList *l = &v->out_list;
	size_t n = 0, m = 0;

	fdm__protected_list__init(l);
	for (size_t i = 0; i < w->n && i < FDM_MAX_VMS; i++)
		if (protected_vm(v, &w->vms[i], &v->pvms[n])) {
			v->pvms_p[n] = &v->pvms[n];
			n++;
		}
	for (size_t p = 0; p < peers->n && p < 64; p++)
		if (w->maintenance_mask & (1ull << p))
			v->maintenance[m++] = (char *)peers->ids[p];
	l->has_lease_generation = true;
	l->lease_generation = w->generation;
	l->n_vms = n;
	l->vms = v->pvms_p;
	l->n_maintenance = m;
	l->maintenance = v->maintenance;
	return &l->base;
}

const ProtobufCMessage *fdm_ds_vms_vmlist(struct fdm_ds_vms *v, const struct fdm_core *c,
					  int d, const struct fdm_ds_peers *peers)
{
	fdm_ha_vmlist_desired(c, d, &v->desired);
	return fdm_ds_vms_list_of(v, &v->desired, peers);
}

/* ------------------------------------------------------------ poweron */

const ProtobufCMessage *fdm_ds_vms_poweron_of(struct fdm_ds_vms *v,
					      const struct fdm_poweron_out *o, const char *host)
{
	Fdm__PowerOnRecord *r = &v->po;
	size_t n_runs, n_seen = 0;

	fdm__power_on_record__init(r);
	r->host = (char *)host;
	n_runs = o->n_runs < FDM_MAX_VMS ? o->n_runs : FDM_MAX_VMS;
	for (size_t i = 0; i < n_runs; i++)
		v->po_vms[i] = (char *)o->runs[i];
	for (size_t i = 0; i < o->n_seen && i < FDM_MAX_VMS; i++) {
		if (o->seen_names[i] == NULL)
			continue;
		fdm__vm_restart_seen__init(&v->seen[n_seen]);
		v->seen[n_seen].name = (char *)o->seen_names[i];
		v->seen[n_seen].restart_count = o->seen_restarts[i];
		v->seen_p[n_seen] = &v->seen[n_seen];
		n_seen++;
	}
	r->n_vms = n_runs;
	r->vms = v->po_vms;
	r->n_restarts_seen = n_seen;
	r->restarts_seen = v->seen_p;
	r->has_lease_generation_seen = true;
	r->lease_generation_seen = o->generation_seen;
	r->has_stopped = true;
	r->stopped = o->stopped;
	r->has_isolated = true;
	r->isolated = o->isolated;
	r->n_isolated_off = o->n_isolated_off < FDM_MAX_VMS ? o->n_isolated_off : FDM_MAX_VMS;
	for (size_t i = 0; i < r->n_isolated_off; i++)
		v->po_isolated_off[i] = (char *)o->isolated_off[i];
	r->isolated_off = v->po_isolated_off;
	return &r->base;
}

const ProtobufCMessage *fdm_ds_vms_poweron(struct fdm_ds_vms *v, const struct fdm_core *c,
					   int d, const char *host)
{
	fdm_ha_poweron_of(c, d, &v->po_out);
	return fdm_ds_vms_poweron_of(v, &v->po_out, host);
}

/* ------------------------------------------------------------ other hosts */

static size_t names_in(const Fdm__PowerOnRecord *p)
{
	size_t runs = p->n_vms < FDM_MAX_VMS ? p->n_vms : FDM_MAX_VMS;
	size_t seen = p->n_restarts_seen < FDM_MAX_VMS ? p->n_restarts_seen : FDM_MAX_VMS;
	size_t off = p->n_isolated_off < FDM_MAX_VMS ? p->n_isolated_off : FDM_MAX_VMS;

	return runs + seen + off;
}

/* One poweron record into the core's view; names go to v->names from *k. */
static void poweron_view(struct fdm_ds_vms *v, const Fdm__PowerOnRecord *p, size_t *k,
			 struct fdm_poweron_view *out)
{
	memset(out, 0, sizeof(*out));
	out->generation_seen = p->lease_generation_seen;
	out->stopped = p->has_stopped && p->stopped;
	out->isolated = p->has_isolated && p->isolated;
	out->runs = (const char (*)[FDM_VM_NAME_MAX])&v->names[*k];
	for (size_t i = 0; i < p->n_vms && i < FDM_MAX_VMS; i++)
		if (name_fits(p->vms[i])) {
			fdm_strlcpy(v->names[*k], p->vms[i], FDM_VM_NAME_MAX);
			(*k)++;
			out->n_runs++;
		}
	out->seen_names = (const char (*)[FDM_VM_NAME_MAX])&v->names[*k];
	out->seen_restarts = &v->restarts[*k];
	for (size_t i = 0; i < p->n_restarts_seen && i < FDM_MAX_VMS; i++)
		if (name_fits(p->restarts_seen[i]->name)) {
			fdm_strlcpy(v->names[*k], p->restarts_seen[i]->name, FDM_VM_NAME_MAX);
			v->restarts[*k] = p->restarts_seen[i]->restart_count;
			(*k)++;
			out->n_seen++;
		}
	out->isolated_off = (const char (*)[FDM_VM_NAME_MAX])&v->names[*k];
	for (size_t i = 0; i < p->n_isolated_off && i < FDM_MAX_VMS; i++)
		if (name_fits(p->isolated_off[i])) {
			fdm_strlcpy(v->names[*k], p->isolated_off[i], FDM_VM_NAME_MAX);
			(*k)++;
			out->n_isolated_off++;
		}
}

size_t fdm_ds_vms_hosts(struct fdm_ds_vms *v, const struct fdm_dsio_done *done,
			const struct fdm_ds_peers *peers, const struct fdm_host_records **out)
{
	size_t total = 0, n = 0, k = 0;

	*out = v->recs;
	free_host_scratch(v);
	for (size_t i = 0; i < done->n_host_recs; i++)
		if (done->host_recs[i].poweron != NULL)
			total += names_in(done->host_recs[i].poweron);
	v->names = calloc(total + 1, sizeof(*v->names));
	v->restarts = calloc(total + 1, sizeof(*v->restarts));
	if (v->names == NULL || v->restarts == NULL) {
		free_host_scratch(v);
		return 0;
	}
	for (size_t i = 0; i < done->n_host_recs && n < FDM_MAX_HOSTS; i++) {
		const struct fdm_dsio_host *h = &done->host_recs[i];
		struct fdm_host_records *r = &v->recs[n];
		int peer = peer_index(peers, h->host);

		if (peer < 0)
			continue;          /* removed by a reload meanwhile */
		memset(r, 0, sizeof(*r));
		r->peer = peer;
		r->hb.ok = h->hb_status == FDM_DS_OK || h->hb_status == FDM_DS_EMPTY;
		r->hb.fingerprint = h->hb_status == FDM_DS_OK ? h->hb.fingerprint : 0;
		/* A record that names another host is none of this one's. */
		r->poweron_ok = h->poweron_status == FDM_DS_EMPTY ||
				(h->poweron_status == FDM_DS_OK && h->poweron != NULL &&
				 h->poweron->host != NULL && strcmp(h->poweron->host, h->host) == 0);
		r->poweron.empty = h->poweron_status == FDM_DS_EMPTY;
		if (r->poweron_ok && !r->poweron.empty)
			poweron_view(v, h->poweron, &k, &r->poweron);
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ staging, XML */

int fdm_ds_vms_stage(struct fdm_ds_vms *v, const char *name, const char *uuid,
		     const char *xml, uint64_t memory_kib, uint32_t vcpus)
{
	struct staged *s;
	char *copy;

	if (!name_fits(name) || xml == NULL || (uuid != NULL && strlen(uuid) >= FDM_UUID_MAX))
		return -1;
	s = staged_vm(v, name);
	if (s == NULL && v->n_staged == FDM_MAX_VMS)
		return -1;
	copy = strdup(xml);
	if (copy == NULL)
		return -1;
	if (s == NULL) {
		s = &v->staged[v->n_staged++];
		memset(s, 0, sizeof(*s));
	}
	free(s->xml);
	fdm_strlcpy(s->name, name, sizeof(s->name));
	fdm_strlcpy(s->uuid, uuid != NULL ? uuid : "", sizeof(s->uuid));
	s->xml = copy;
	s->memory_kib = memory_kib;
	s->vcpus = vcpus;
	return 0;
}

void fdm_ds_vms_unstage(struct fdm_ds_vms *v, const char *name)
{
	for (size_t i = 0; i < v->n_staged; i++)
		if (strcmp(v->staged[i].name, name) == 0) {
			drop_staged(v, i);
			return;
		}
}

const char *fdm_ds_vms_xml(const struct fdm_ds_vms *v, const char *name)
{
	const Fdm__ProtectedVm *vm = name != NULL ? listed(v, name) : NULL;
	const struct staged *s;

	if (vm != NULL && vm->xml != NULL)
		return vm->xml;
	s = name != NULL ? staged_vm(v, name) : NULL;
	return s != NULL ? s->xml : NULL;
}
