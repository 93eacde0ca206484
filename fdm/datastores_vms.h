/* The VM protection records of one datastore as the agent's shell handles them
 * (datastores.c runs the I/O): the PowerOnRecord and ProtectedList built from
 * what the core asks for when the write is submitted, the core's views of what
 * the reads found, and what the core never holds: each protected VM's domain
 * XML, uuid and vcpus, from the VM list as last read and from the VMs being
 * protected ("staged") until a read shows them written. */
#ifndef FDM_DATASTORES_VMS_H
#define FDM_DATASTORES_VMS_H

#include "datastore/dsio.h"
#include "fdm/core/core.h"

/* The configured host ids, by peer index (the core's indices). */
struct fdm_ds_peers {
	size_t n;
	char ids[FDM_MAX_HOSTS][FDM_ID_MAX];
};

struct fdm_ds_vms;

struct fdm_ds_vms *fdm_ds_vms_new(const char *ds_name);
void fdm_ds_vms_free(struct fdm_ds_vms *v);

/* Submit time: the record to write now, from the core's answer; valid until
 * the next call on v. NULL: nothing to write (out of memory). */
const ProtobufCMessage *fdm_ds_vms_poweron(struct fdm_ds_vms *v, const struct fdm_core *c,
					   int d, const char *host);
/* The full VM list of fdm_ha_vmlist_desired; a VM whose XML is known nowhere
 * is left out (and logged). */
const ProtobufCMessage *fdm_ds_vms_vmlist(struct fdm_ds_vms *v, const struct fdm_core *c,
					  int d, const struct fdm_ds_peers *peers);

/* The same from tables given (tests): valid until the next call on v. */
const ProtobufCMessage *fdm_ds_vms_poweron_of(struct fdm_ds_vms *v,
					      const struct fdm_poweron_out *o, const char *host);
const ProtobufCMessage *fdm_ds_vms_list_of(struct fdm_ds_vms *v,
					   const struct fdm_vmlist_desired *w,
					   const struct fdm_ds_peers *peers);

/* A VM list read: `list` is taken (NULL: never written). The view points into
 * v until the next call. */
void fdm_ds_vms_read(struct fdm_ds_vms *v, Fdm__ProtectedList *list,
		     const struct fdm_ds_peers *peers, struct fdm_vmlist_view *out);
/* A HOSTS_READ that succeeded: the core's records (pointing into v until the
 * next call), in *out; returns how many. */
size_t fdm_ds_vms_hosts(struct fdm_ds_vms *v, const struct fdm_dsio_done *done,
			const struct fdm_ds_peers *peers, const struct fdm_host_records **out);

int fdm_ds_vms_stage(struct fdm_ds_vms *v, const char *name, const char *uuid,
		     const char *xml, uint64_t memory_kib, uint32_t vcpus);
void fdm_ds_vms_unstage(struct fdm_ds_vms *v, const char *name);
const char *fdm_ds_vms_xml(const struct fdm_ds_vms *v, const char *name);

#endif
