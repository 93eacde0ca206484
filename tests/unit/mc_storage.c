/* The simulated datastores of minicluster.h: every storage I/O a core asks for
 * takes its host's storage_ms and happens at its completion, atomically: lease
 * and hb records, each host's poweron record and the VM list of VM protection.
 * Enough for the election, lease and storage rules here; tests/sim models torn,
 * late and lost writes. Write contents are asked for when the I/O is submitted,
 * as the agent's shell does. */
#include "tests/unit/minicluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static void poweron_clear(struct mc_poweron *p)
{
	free(p->runs);
	free(p->seen_names);
	free(p->seen_restarts);
	free(p->isolated_off);
	p->isolated_off = NULL;
	p->runs = NULL;
	p->seen_names = NULL;
	p->seen_restarts = NULL;
}

/* The poweron record host h's core asks to write on ds now. */
static struct mc_poweron *poweron_content(const struct fdm_core *c, int ds)
{
	struct fdm_poweron_out *out = malloc(sizeof(*out));
	struct mc_poweron *p = calloc(1, sizeof(*p));

	fdm_ha_poweron_of(c, ds, out);
	p->generation_seen = out->generation_seen;
	p->stopped = out->stopped;
	p->isolated = out->isolated;
	p->n_isolated_off = out->n_isolated_off;
	p->isolated_off = calloc(p->n_isolated_off + 1, sizeof(*p->isolated_off));
	for (size_t i = 0; i < p->n_isolated_off; i++)
		fdm_strlcpy(p->isolated_off[i], out->isolated_off[i], FDM_VM_NAME_MAX);
	p->n_runs = out->n_runs < FDM_MAX_VMS ? out->n_runs : FDM_MAX_VMS;
	p->n_seen = out->n_seen < FDM_MAX_VMS ? out->n_seen : FDM_MAX_VMS;
	p->runs = calloc(p->n_runs + 1, sizeof(*p->runs));
	p->seen_names = calloc(p->n_seen + 1, sizeof(*p->seen_names));
	p->seen_restarts = calloc(p->n_seen + 1, sizeof(*p->seen_restarts));
	for (size_t i = 0; i < p->n_runs; i++)
		fdm_strlcpy(p->runs[i], out->runs[i], FDM_VM_NAME_MAX);
	for (size_t i = 0; i < p->n_seen; i++) {
		fdm_strlcpy(p->seen_names[i], out->seen_names[i] ? out->seen_names[i] : "",
			    FDM_VM_NAME_MAX);
		p->seen_restarts[i] = out->seen_restarts[i];
	}
	free(out);
	return p;
}

static void io_free(struct mc_io *io)
{
	if (io->poweron != NULL)
		poweron_clear(io->poweron);
	free(io->poweron);
	free(io->vmlist);
	free(io->vmlist_seen);
	io->poweron = NULL;
	io->vmlist = NULL;
	io->vmlist_seen = NULL;
}

void mc_storage_start(struct minicluster *mc, size_t host, const struct fdm_action *a)
{
	struct mc_host *h = &mc->hosts[host];
	struct mc_io *io;

	if (mc->n_ios == mc->cap_ios) {
		mc->cap_ios = mc->cap_ios ? 2 * mc->cap_ios : 64;
		mc->ios = realloc(mc->ios, mc->cap_ios * sizeof(*mc->ios));
	}
	io = &mc->ios[mc->n_ios++];
	memset(io, 0, sizeof(*io));
	io->host = host;
	io->incarnation = h->incarnation;
	io->ds = a->ds;
	io->op = a->op;
	io->rec = a->lease;
	io->issued_at = mc->now;
	io->done_at = mc->now + (h->op_ms[a->op] ? h->op_ms[a->op] : h->storage_ms);
	io->land_at = io->done_at;
	if (a->op == FDM_STORAGE_POWERON_WRITE)
		io->poweron = poweron_content(&h->core, a->ds);
	if (a->op == FDM_STORAGE_VMLIST_WRITE) {
		io->vmlist = malloc(sizeof(*io->vmlist));
		fdm_ha_vmlist_desired(&h->core, a->ds, io->vmlist);
	}
	if (a->ds >= 0 && a->ds < 3) {
		mc->io_asked[host][a->ds][a->op]++;
		mc->io_last_issue[host][a->ds][a->op] = mc->now;
	}
	if (mc->io_hook != NULL)
		mc->io_hook(mc, io);
}

/* ------------------------------------------------------- VM protection records */

static void land_poweron(struct mc_datastore *ds, struct mc_io *io)
{
	struct mc_poweron *p = &ds->poweron[io->host];
	uint64_t writes = p->writes;

	poweron_clear(p);
	*p = *io->poweron;
	p->written = true;
	p->writes = writes + 1;
	p->last_write_issued = io->issued_at;
	free(io->poweron);             /* its arrays now belong to the record */
	io->poweron = NULL;
}

static void land_vmlist(struct mc_datastore *ds, const struct mc_io *io)
{
	struct mc_vmlist *l = &ds->vmlist;
	const struct fdm_vmlist_desired *w = io->vmlist;

	l->written = true;
	l->generation = w->generation;
	l->n = w->n < FDM_MAX_VMS ? w->n : FDM_MAX_VMS;
	memcpy(l->vms, w->vms, l->n * sizeof(l->vms[0]));
	l->maintenance_mask = w->maintenance_mask;
	l->writes++;
}

static void poweron_view(const struct mc_poweron *p, struct fdm_poweron_view *v)
{
	memset(v, 0, sizeof(*v));
	v->empty = !p->written;
	v->generation_seen = p->generation_seen;
	v->stopped = p->stopped;
	v->isolated = p->isolated;
	v->n_isolated_off = p->n_isolated_off;
	v->isolated_off = (const char (*)[FDM_VM_NAME_MAX])p->isolated_off;
	v->n_runs = p->n_runs;
	v->runs = (const char (*)[FDM_VM_NAME_MAX])p->runs;
	v->n_seen = p->n_seen;
	v->seen_names = (const char (*)[FDM_VM_NAME_MAX])p->seen_names;
	v->seen_restarts = p->seen_restarts;
}

/* HOSTS_READ: the hb and poweron record of every other configured host. */
static size_t host_records(const struct minicluster *mc, const struct mc_datastore *ds,
			   size_t self, struct fdm_host_records *r)
{
	size_t n = 0;

	for (size_t p = 0; p < mc->n; p++) {
		if (p == self)
			continue;
		memset(&r[n], 0, sizeof(r[n]));
		r[n].peer = (int)p;
		r[n].hb.ok = true;     /* never written is content too */
		r[n].hb.fingerprint = ds->hb_fingerprint[p];
		r[n].poweron_ok = true;
		poweron_view(&ds->poweron[p], &r[n].poweron);
		n++;
	}
	return n;
}

/* Whether the host's I/O gets to the datastore: reads where it reaches it,
 * writes only where that datastore is not read-only for it (ro_mask). */
static bool reaches(const struct mc_host *h, const struct mc_io *io)
{
	bool write = io->op == FDM_STORAGE_LEASE_WRITE || io->op == FDM_STORAGE_HB_WRITE ||
		     io->op == FDM_STORAGE_POWERON_WRITE || io->op == FDM_STORAGE_VMLIST_WRITE;

	return ((h->ds_mask >> io->ds) & 1) && !(write && ((h->ro_mask >> io->ds) & 1));
}

/* The I/O takes effect at the datastore: a write lands, a lease or hb read is
 * served (what it saw is kept for its answer). */
static void land_io(struct minicluster *mc, struct mc_io *io)
{
	struct mc_host *h = &mc->hosts[io->host];
	struct mc_datastore *ds = &mc->ds[io->ds];
	/* Without the simulator's hook, an I/O of a dead agent does nothing. */
	bool alive = mc->io_hook != NULL || (h->up && h->incarnation == io->incarnation);

	io->landed = true;
	io->reached = reaches(h, io) && alive;
	if (!io->reached || ds->uninit || io->lost)
		return;
	switch (io->op) {
	case FDM_STORAGE_LEASE_WRITE:
		ds->written = true;
		ds->torn = io->torn;
		ds->rec = io->rec;
		ds->fingerprint++;
		break;
	case FDM_STORAGE_LEASE_READ:
		io->lease_seen.kind = !ds->written ? FDM_LEASE_VIEW_EMPTY
				      : ds->torn ? FDM_LEASE_VIEW_CORRUPT : FDM_LEASE_VIEW_VALID;
		if (io->lease_seen.kind == FDM_LEASE_VIEW_VALID)
			io->lease_seen.rec = ds->rec;
		io->lease_seen.fingerprint = ds->fingerprint;
		break;
	case FDM_STORAGE_HB_WRITE:
		ds->hb_incarnation[io->host] = io->incarnation;
		ds->hb_fingerprint[io->host]++;
		break;
	case FDM_STORAGE_HB_READ:
		io->hb_seen = ds->hb_incarnation[io->host];
		break;
	case FDM_STORAGE_VMLIST_READ:
		io->vmlist_seen = malloc(sizeof(*io->vmlist_seen));
		*io->vmlist_seen = ds->vmlist;
		break;
	case FDM_STORAGE_POWERON_WRITE:
		land_poweron(ds, io);
		break;
	case FDM_STORAGE_VMLIST_WRITE:
		land_vmlist(ds, io);
		break;
	default:
		break;
	}
}

/* The core that asked hears how it ended (the other reads are served now). */
static void answer_io(struct minicluster *mc, struct mc_io *io)
{
	struct mc_host *h = &mc->hosts[io->host];
	struct mc_datastore *ds = &mc->ds[io->ds];
	struct fdm_host_records recs[MC_MAX_HOSTS];
	struct fdm_vmlist_view list;
	struct fdm_storage_outcome o;
	bool reach = io->landed ? io->reached : false;
	bool usable;

	if (!h->up || h->incarnation != io->incarnation)
		return;
	if (!io->landed)               /* an abort before the server took it */
		reach = reaches(h, io);
	usable = reach && !ds->uninit && !io->fail;
	memset(&o, 0, sizeof(o));
	o.result = !reach || io->fail ? FDM_STORAGE_FAILED
		   : ds->uninit ? FDM_STORAGE_UNINITIALIZED : FDM_STORAGE_OK;
	o.why = !reach ? "minicluster: link cut" : io->fail ? "minicluster: I/O failed"
		: ds->uninit ? "minicluster: no identity record" : NULL;
	switch (usable ? io->op : FDM_STORAGE_OP_COUNT) {
	case FDM_STORAGE_LEASE_READ:
		o.lease = &io->lease_seen;
		break;
	case FDM_STORAGE_HB_READ:
		o.hb_incarnation = io->hb_seen;
		break;
	case FDM_STORAGE_VMLIST_READ: {
		const struct mc_vmlist *seen = io->vmlist_seen != NULL ? io->vmlist_seen
								       : &ds->vmlist;

		memset(&list, 0, sizeof(list));
		list.empty = !seen->written;
		list.generation = seen->generation;
		list.n = seen->n;
		list.vms = seen->vms;
		list.maintenance_mask = seen->maintenance_mask;
		o.vmlist = &list;
		break;
	}
	case FDM_STORAGE_HOSTS_READ:
		o.n_hosts = host_records(mc, ds, io->host, recs);
		o.hosts = recs;
		break;
	default:
		break;
	}
	fdm_core_storage_done(&h->core, io->ds, io->op, &o, mc_clock(mc, io->host), &mc->actions);
	mc_execute(mc, io->host);
}

static bool due_to_land(const struct minicluster *mc, const struct mc_io *io)
{
	/* A paused agent's I/O is at the server: it lands (with the hook). */
	return !io->landed && io->land_at <= mc->now &&
	       (mc->io_hook != NULL || !mc->hosts[io->host].paused);
}

static bool due_to_answer(const struct minicluster *mc, const struct mc_io *io)
{
	return io->done_at <= mc->now && !mc->hosts[io->host].paused &&
	       (io->landed || io->land_at > io->done_at);
}

void mc_storage_finish_due(struct minicluster *mc)
{
	size_t n = mc->n_ios, keep = 0;
	struct mc_io *due = malloc((n ? n : 1) * sizeof(*due));
	size_t n_due = 0;

	/* Landings first (they change no list), then the answers taken out. */
	for (size_t i = 0; i < n; i++)
		if (due_to_land(mc, &mc->ios[i]))
			land_io(mc, &mc->ios[i]);
	for (size_t i = 0; i < n; i++) {
		if (due_to_answer(mc, &mc->ios[i]))
			due[n_due++] = mc->ios[i];
		else
			mc->ios[keep++] = mc->ios[i];
	}
	if (mc->n_ios > n)
		memmove(&mc->ios[keep], &mc->ios[n], (mc->n_ios - n) * sizeof(*mc->ios));
	mc->n_ios = keep + (mc->n_ios - n);
	for (size_t i = 0; i < n_due; i++) {
		struct mc_io *io = &due[i];

		answer_io(mc, io);
		if (!io->landed) {
			/* Answered (aborted) before it landed: it lands later all
			 * the same, in the server's own time. */
			io->done_at = UINT64_MAX;
			if (mc->n_ios == mc->cap_ios) {
				mc->cap_ios = mc->cap_ios ? 2 * mc->cap_ios : 64;
				mc->ios = realloc(mc->ios, mc->cap_ios * sizeof(*mc->ios));
			}
			mc->ios[mc->n_ios++] = *io;
			continue;
		}
		io_free(io);
	}
	/* Landed writes nobody waits for any more. */
	keep = 0;
	for (size_t i = 0; i < mc->n_ios; i++) {
		if (mc->ios[i].landed && mc->ios[i].done_at == UINT64_MAX)
			io_free(&mc->ios[i]);
		else
			mc->ios[keep++] = mc->ios[i];
	}
	mc->n_ios = keep;
	free(due);
}

void mc_storage_free(struct minicluster *mc)
{
	for (size_t i = 0; i < mc->n_ios; i++)
		io_free(&mc->ios[i]);
	free(mc->ios);
	for (size_t d = 0; d < 3; d++)
		for (size_t h = 0; h < MC_MAX_HOSTS; h++)
			poweron_clear(&mc->ds[d].poweron[h]);
}

int mc_lease_actor(const struct minicluster *mc, int d)
{
	int actor = -1;

	for (size_t i = 0; i < mc->n; i++) {
		if (!mc->hosts[i].up ||
		    !fdm_lease_acting(&mc->hosts[i].core.ds[d].lease, mc_clock(mc, i)))
			continue;
		if (actor >= 0)
			return -2;
		actor = (int)i;
	}
	return actor;
}

/* ------------------------------------------------------------ for tests */

struct fdm_vmlist_entry *mc_vm(struct minicluster *mc, int ds, const char *name)
{
	struct mc_vmlist *l = &mc->ds[ds].vmlist;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->vms[i].name, name) == 0)
			return &l->vms[i];
	return NULL;
}

void mc_protect(struct minicluster *mc, int ds, const char *name, Fdm__Priority priority,
		uint64_t memory_kib)
{
	struct mc_vmlist *l = &mc->ds[ds].vmlist;
	struct fdm_vmlist_entry *e = mc_vm(mc, ds, name);

	if (e == NULL) {
		if (l->n == FDM_MAX_VMS)
			abort();
		e = &l->vms[l->n++];
		memset(e, 0, sizeof(*e));
		fdm_strlcpy(e->name, name, sizeof(e->name));
		/* A made-up uuid, unique per name and datastore. */
		snprintf(e->uuid, sizeof(e->uuid), "00000000-0000-4000-8000-%012zx",
			 (size_t)ds * 4096 + l->n);
	}
	e->priority = priority;
	e->memory_kib = memory_kib;
	l->written = true;
}

void mc_set_maintenance(struct minicluster *mc, int ds, size_t host, bool on)
{
	struct mc_vmlist *l = &mc->ds[ds].vmlist;

	if (on)
		l->maintenance_mask |= 1ull << host;
	else
		l->maintenance_mask &= ~(1ull << host);
	l->written = true;
}
