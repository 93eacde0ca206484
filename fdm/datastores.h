/* The agent's datastores: one libfdmds handle and storage worker (dsio) per
 * configured datastore. Runs the storage I/O the core asks for, off the event
 * loop, and reports each end back by datastore name (indices move on reload). */
#ifndef FDM_DATASTORES_H
#define FDM_DATASTORES_H

#include <systemd/sd-event.h>

#include "datastore/dsio.h"
#include "lib/config.h"
#include "fdm/core/core.h"
#include "fdm/datastores_vms.h"
#include "fdm/wire.h"

typedef void (*fdm_storage_done_fn)(void *userdata, const char *datastore,
				    enum fdm_storage_op op, const struct fdm_storage_outcome *o);

struct fdm_ds_slot;

struct fdm_datastores {
	sd_event *event;
	struct fdm_ds_params params;
	char cluster[FDM_ID_MAX];
	char host[FDM_ID_MAX];
	struct fdm_ds_peers peers;                       /* [peers], config order */
	struct fdm_ds_slot *slots[FDM_MAX_DATASTORES];   /* config order */
	size_t n;
	fdm_storage_done_fn done;
	void *userdata;
	uint64_t submit_errors;
};

int fdm_datastores_open(struct fdm_datastores *dss, sd_event *e, const struct fdm_config *cfg,
			const struct fdm_key *key, uint64_t incarnation,
			fdm_storage_done_fn done, void *userdata, char *err, size_t errlen);
/* After a reload: keep the handles whose name and URL stay, open new ones, close
 * the rest (fdm_dsio_free: a worker stuck in I/O is left behind, not waited
 * for, once libfdmds detaches it). */
int fdm_datastores_reconfigure(struct fdm_datastores *dss, const struct fdm_config *cfg,
			       char *err, size_t errlen);
void fdm_datastores_close(struct fdm_datastores *dss);

/* Carry out one FDM_ACT_STORAGE action, by its deadline (dsio reports a
 * timeout then). The content of a poweron or VM list write is asked of the
 * core c now (fdm_ha_poweron_of, fdm_ha_vmlist_desired). */
void fdm_datastores_submit(struct fdm_datastores *dss, const struct fdm_core *c,
			   const struct fdm_action *a);

/* VM protection, by datastore config index. A VM being protected: its domain
 * XML, uuid, memory and vcpus, kept until a read of d's VM list shows it
 * written with that XML (the VM list writes take them from here; the core
 * holds none of them). -1: a name the core cannot hold (empty, over
 * FDM_VM_NAME_MAX - 1), no XML, a full table, out of memory. */
int fdm_datastores_stage_vm(struct fdm_datastores *dss, int d, const char *name,
			    const char *uuid, const char *xml, uint64_t memory_kib,
			    uint32_t vcpus);
/* Forget a staged VM (its protection was refused or withdrawn). */
void fdm_datastores_unstage_vm(struct fdm_datastores *dss, int d, const char *name);
/* The domain XML of VM `name` homed on d, for a power-on: from the VM list as
 * last read, else from a staged VM; NULL when unknown. Valid until the next
 * completion on d or the next stage/unstage. */
const char *fdm_datastores_vm_xml(const struct fdm_datastores *dss, int d, const char *name);

/* The worker's counters for `fdmctl datastores`, by config index. */
void fdm_datastores_stats(const struct fdm_datastores *dss, size_t d,
			  struct fdm_dsio_stats *out);

#endif
