/* Storage workers of the agent (datastores.h). The core decides which I/O to do
 * and when; this file only maps its actions onto dsio requests and the results
 * back, so nothing here can make a wrong decision about a lease. The records of
 * VM protection are translated by datastores_vms.c, one table per datastore. */
#include "fdm/datastores.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

struct fdm_ds_slot {
	struct fdm_datastores *owner;
	char name[FDM_ID_MAX];
	char url[FDM_URL_MAX];
	struct fdm_dsio *io;
	/* A request dsio could not even queue (out of memory) still ends, as a
	 * failure, from the loop: never from inside the core's action list. */
	sd_event_source *unqueued_src;
	unsigned unqueued;            /* bit per enum fdm_storage_op */
	struct fdm_ds_vms *vms;       /* VM list, XML, the records' tables */
	char hosts[FDM_MAX_HOSTS][FDM_DS_ID_MAX];   /* HOSTS_READ: whom to read */
};

static enum fdm_storage_result result_of(const struct fdm_dsio_done *d)
{
	switch (d->status) {
	case FDM_DS_OK:
		return FDM_STORAGE_OK;
	case FDM_DS_EMPTY:
		/* Our own hb record never written: nothing to compare, no failure.
		 * A VM list never written: no VM is homed there yet. */
		return d->op == FDM_DSIO_HB_READ || d->op == FDM_DSIO_VMLIST_READ
		       ? FDM_STORAGE_OK : FDM_STORAGE_FAILED;
	case FDM_DS_CLAIMING:
		return FDM_STORAGE_ANSWERED;
	case FDM_DS_UNINITIALIZED:
		return FDM_STORAGE_UNINITIALIZED;
	default:
		return FDM_STORAGE_FAILED;
	}
}

/* What a VM list read or a hosts read found, for the core. */
static void vm_records(struct fdm_ds_slot *slot, struct fdm_dsio_done *d,
		       struct fdm_storage_outcome *o, struct fdm_vmlist_view *view)
{
	const struct fdm_ds_peers *peers = &slot->owner->peers;

	if (o->result != FDM_STORAGE_OK)
		return;
	if (d->op == FDM_DSIO_VMLIST_READ) {
		fdm_ds_vms_read(slot->vms, (Fdm__ProtectedList *)d->msg, peers, view);
		d->msg = NULL;            /* kept: each VM's XML, for writes and power-ons */
		o->vmlist = view;
	} else if (d->op == FDM_DSIO_HOSTS_READ) {
		o->n_hosts = fdm_ds_vms_hosts(slot->vms, d, peers, &o->hosts);
	}
}

static void on_done(struct fdm_dsio_done *d, void *userdata)
{
	struct fdm_ds_slot *slot = userdata;
	struct fdm_datastores *dss = slot->owner;
	struct fdm_storage_outcome o;
	struct fdm_vmlist_view view;
	enum fdm_storage_op op;

	switch (d->op) {
	case FDM_DSIO_HB_WRITE: op = FDM_STORAGE_HB_WRITE; break;
	case FDM_DSIO_HB_READ: op = FDM_STORAGE_HB_READ; break;
	case FDM_DSIO_LEASE_READ: op = FDM_STORAGE_LEASE_READ; break;
	case FDM_DSIO_LEASE_WRITE: op = FDM_STORAGE_LEASE_WRITE; break;
	case FDM_DSIO_VMLIST_READ: op = FDM_STORAGE_VMLIST_READ; break;
	case FDM_DSIO_POWERON_WRITE: op = FDM_STORAGE_POWERON_WRITE; break;
	case FDM_DSIO_HOSTS_READ: op = FDM_STORAGE_HOSTS_READ; break;
	case FDM_DSIO_VMLIST_WRITE: op = FDM_STORAGE_VMLIST_WRITE; break;
	default: return;   /* not one the core asks for */
	}
	memset(&o, 0, sizeof(o));
	o.result = result_of(d);
	vm_records(slot, d, &o, &view);
	/* The backend's line names the datastore and the record; the core logs it
	 * when the datastore goes (or stays) down. */
	o.why = d->res.msg[0] != '\0' ? d->res.msg : fdm_ds_status_name(d->status);
	if (op == FDM_STORAGE_LEASE_READ)
		o.lease = &d->lease;
	if (op == FDM_STORAGE_HB_READ && d->status == FDM_DS_OK)
		o.hb_incarnation = d->hb.incarnation;
	if (o.result != FDM_STORAGE_OK)
		fdm_debug("datastore %s: %s: %s (%s)", slot->name, fdm_dsio_op_name(d->op),
			  fdm_ds_status_name(d->status), d->res.msg);
	dss->done(dss->userdata, slot->name, op, &o);
}

static int on_unqueued(sd_event_source *src, void *userdata)
{
	struct fdm_ds_slot *slot = userdata;
	struct fdm_datastores *dss = slot->owner;
	unsigned ops = slot->unqueued;
	struct fdm_storage_outcome o;

	(void)src;
	slot->unqueued = 0;
	memset(&o, 0, sizeof(o));
	o.result = FDM_STORAGE_FAILED;
	o.why = "the storage worker could not queue the request (out of memory)";
	for (unsigned op = 0; op < FDM_STORAGE_OP_COUNT; op++)
		if (ops & (1u << op))
			dss->done(dss->userdata, slot->name, (enum fdm_storage_op)op, &o);
	return 0;
}

static void slot_close(struct fdm_ds_slot *slot)
{
	if (slot == NULL)
		return;
	sd_event_source_disable_unref(slot->unqueued_src);
	if (slot->io != NULL)
		fdm_dsio_free(slot->io);
	fdm_ds_vms_free(slot->vms);
	free(slot);
}

static struct fdm_ds_slot *slot_open(struct fdm_datastores *dss,
				     const struct fdm_datastore_conf *conf, char *err,
				     size_t errlen)
{
	struct fdm_ds_slot *slot = calloc(1, sizeof(*slot));
	struct fdm_ds *ds;

	if (slot == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	slot->owner = dss;
	fdm_strlcpy(slot->name, conf->name, sizeof(slot->name));
	fdm_strlcpy(slot->url, conf->url, sizeof(slot->url));
	slot->vms = fdm_ds_vms_new(conf->name);
	if (slot->vms == NULL) {
		snprintf(err, errlen, "out of memory");
		slot_close(slot);
		return NULL;
	}
	if (sd_event_add_defer(dss->event, &slot->unqueued_src, on_unqueued, slot) < 0 ||
	    sd_event_source_set_enabled(slot->unqueued_src, SD_EVENT_OFF) < 0) {
		snprintf(err, errlen, "%s: cannot set up the event loop", conf->name);
		slot_close(slot);
		return NULL;
	}
	if (fdm_ds_open(conf->url, &dss->params, &ds, err, errlen) < 0) {
		slot_close(slot);
		return NULL;
	}
	slot->io = fdm_dsio_new(dss->event, ds, err, errlen);
	if (slot->io == NULL) {
		slot_close(slot);
		return NULL;
	}
	return slot;
}

int fdm_datastores_open(struct fdm_datastores *dss, sd_event *e, const struct fdm_config *cfg,
			const struct fdm_key *key, uint64_t incarnation,
			fdm_storage_done_fn done, void *userdata, char *err, size_t errlen)
{
	memset(dss, 0, sizeof(*dss));
	dss->event = e;
	dss->done = done;
	dss->userdata = userdata;
	fdm_strlcpy(dss->cluster, cfg->cluster_id, sizeof(dss->cluster));
	fdm_strlcpy(dss->host, cfg->host_id, sizeof(dss->host));
	dss->params.cluster = dss->cluster;
	dss->params.host = dss->host;
	dss->params.key = key->bytes;   /* copied by fdm_ds_open */
	dss->params.key_len = key->len;
	dss->params.io_timeout_ms = cfg->io_timeout_ms;
	dss->params.incarnation = incarnation;
	return fdm_datastores_reconfigure(dss, cfg, err, errlen);
}

static int kept_index(const struct fdm_datastores *dss, const struct fdm_datastore_conf *conf)
{
	for (size_t o = 0; o < dss->n; o++)
		if (dss->slots[o] != NULL && strcmp(dss->slots[o]->name, conf->name) == 0 &&
		    strcmp(dss->slots[o]->url, conf->url) == 0)
			return (int)o;
	return -1;
}

int fdm_datastores_reconfigure(struct fdm_datastores *dss, const struct fdm_config *cfg,
			       char *err, size_t errlen)
{
	struct fdm_ds_slot *next[FDM_MAX_DATASTORES] = { NULL };
	int kept[FDM_MAX_DATASTORES];

	dss->params.io_timeout_ms = cfg->io_timeout_ms;
	dss->peers.n = cfg->n_peers;
	for (size_t i = 0; i < cfg->n_peers; i++)
		fdm_strlcpy(dss->peers.ids[i], cfg->peers[i].id, FDM_ID_MAX);
	/* Open what is new first: on failure nothing has changed. */
	for (size_t d = 0; d < cfg->n_datastores; d++) {
		kept[d] = kept_index(dss, &cfg->datastores[d]);
		if (kept[d] < 0 && (next[d] = slot_open(dss, &cfg->datastores[d], err, errlen)) == NULL) {
			for (size_t k = 0; k < d; k++)
				if (kept[k] < 0)
					slot_close(next[k]);
			return -1;
		}
	}
	for (size_t d = 0; d < cfg->n_datastores; d++)
		if (kept[d] >= 0) {
			next[d] = dss->slots[kept[d]];
			dss->slots[kept[d]] = NULL;
		}
	for (size_t o = 0; o < dss->n; o++)
		slot_close(dss->slots[o]);
	memcpy(dss->slots, next, sizeof(next));
	dss->n = cfg->n_datastores;
	return 0;
}

void fdm_datastores_close(struct fdm_datastores *dss)
{
	for (size_t d = 0; d < dss->n; d++)
		slot_close(dss->slots[d]);
	dss->n = 0;
}

/* HOSTS_READ: every configured host but this one. */
static size_t other_hosts(const struct fdm_datastores *dss, struct fdm_ds_slot *slot)
{
	size_t n = 0;

	for (size_t i = 0; i < dss->peers.n; i++)
		if (strcmp(dss->peers.ids[i], dss->host) != 0)
			fdm_strlcpy(slot->hosts[n++], dss->peers.ids[i], FDM_DS_ID_MAX);
	return n;
}

void fdm_datastores_submit(struct fdm_datastores *dss, const struct fdm_core *c,
			   const struct fdm_action *a)
{
	struct fdm_dsio_req req;
	struct fdm_ds_slot *slot;

	if (a->ds < 0 || (size_t)a->ds >= dss->n || dss->slots[a->ds] == NULL)
		return;
	slot = dss->slots[a->ds];
	memset(&req, 0, sizeof(req));
	req.cb = on_done;
	req.userdata = slot;
	/* The core's deadline (CLOCK_BOOTTIME ms, fdm_agent_now): the worker
	 * aborts the I/O by then and the core takes nothing later as a success. */
	req.deadline_ms = a->deadline_ms;
	switch (a->op) {
	case FDM_STORAGE_HB_WRITE: req.op = FDM_DSIO_HB_WRITE; break;
	case FDM_STORAGE_HB_READ:
		req.op = FDM_DSIO_HB_READ;
		fdm_strlcpy(req.host, dss->host, sizeof(req.host));
		break;
	case FDM_STORAGE_LEASE_READ: req.op = FDM_DSIO_LEASE_READ; break;
	case FDM_STORAGE_LEASE_WRITE:
		req.op = FDM_DSIO_LEASE_WRITE;
		req.lease = a->lease;
		break;
	case FDM_STORAGE_VMLIST_READ: req.op = FDM_DSIO_VMLIST_READ; break;
	case FDM_STORAGE_POWERON_WRITE:
		/* The content is the core's answer now, at submit (dsio packs it). */
		req.op = FDM_DSIO_POWERON_WRITE;
		req.msg = fdm_ds_vms_poweron(slot->vms, c, a->ds, dss->host);
		break;
	case FDM_STORAGE_HOSTS_READ:
		req.op = FDM_DSIO_HOSTS_READ;
		req.n_hosts = other_hosts(dss, slot);
		req.hosts = (const char (*)[FDM_DS_ID_MAX])slot->hosts;
		break;
	case FDM_STORAGE_VMLIST_WRITE:
		req.op = FDM_DSIO_VMLIST_WRITE;
		req.msg = fdm_ds_vms_vmlist(slot->vms, c, a->ds, &dss->peers);
		break;
	case FDM_STORAGE_OP_COUNT:
		return;
	}
	if (fdm_dsio_submit(slot->io, &req, NULL) < 0) {
		dss->submit_errors++;
		slot->unqueued |= 1u << a->op;
		sd_event_source_set_enabled(slot->unqueued_src, SD_EVENT_ONESHOT);
	}
}

void fdm_datastores_stats(const struct fdm_datastores *dss, size_t d,
			  struct fdm_dsio_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (d < dss->n && dss->slots[d] != NULL)
		fdm_dsio_get_stats(dss->slots[d]->io, out);
}

static struct fdm_ds_vms *vms_of(const struct fdm_datastores *dss, int d)
{
	if (d < 0 || (size_t)d >= dss->n || dss->slots[d] == NULL)
		return NULL;
	return dss->slots[d]->vms;
}

int fdm_datastores_stage_vm(struct fdm_datastores *dss, int d, const char *name,
			    const char *uuid, const char *xml, uint64_t memory_kib,
			    uint32_t vcpus)
{
	struct fdm_ds_vms *v = vms_of(dss, d);

	return v != NULL ? fdm_ds_vms_stage(v, name, uuid, xml, memory_kib, vcpus) : -1;
}

void fdm_datastores_unstage_vm(struct fdm_datastores *dss, int d, const char *name)
{
	struct fdm_ds_vms *v = vms_of(dss, d);

	if (v != NULL)
		fdm_ds_vms_unstage(v, name);
}

const char *fdm_datastores_vm_xml(const struct fdm_datastores *dss, int d, const char *name)
{
	const struct fdm_ds_vms *v = vms_of(dss, d);

	return v != NULL ? fdm_ds_vms_xml(v, name) : NULL;
}
