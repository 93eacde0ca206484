/* What `fdmctl vms` and `fdmctl status` show of VM protection on every host
 * (INTERFACE.md "vms"): the master's table, which the master sends its slaves in
 * every heartbeat (outbox.c) and a slave keeps here, and admission control's
 * capacity now. Display only: no decision reads it. Pure. */
#ifndef FDM_CORE_VMVIEW_H
#define FDM_CORE_VMVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdm/core/ha.h"
#include "lib/config.h"

#define FDM_VM_STATE_TEXT_MAX 24   /* "restart-pending" and what a newer agent adds */

/* One VM as status shows it. */
struct fdm_vm_row {
	char name[FDM_VM_NAME_MAX];
	char state[FDM_VM_STATE_TEXT_MAX];
	char host[FDM_ID_MAX];         /* "" nowhere known */
	char datastore[FDM_ID_MAX];
	Fdm__Priority priority;
	uint32_t restarts, attempts;
	char waiting[FDM_HA_WHY_MAX];
	char last_failure[FDM_HA_WHY_MAX];
};

/* Admission control: what the protected VMs need, and what is left of the hosts'
 * memory after the host_failures_tolerated largest hosts fail. */
struct fdm_capacity {
	bool known;
	uint32_t host_failures_tolerated;
	int64_t spare_kib;
	uint64_t needed_kib;
};

/* A slave's copy of its master's table, from the master's latest heartbeat. */
struct fdm_master_vms {
	bool have;                     /* a heartbeat of the master we follow had it */
	int master;                    /* from that master (peer index) ... */
	uint64_t term;                 /* ... in that term */
	uint64_t received_ms;
	bool partial;                  /* the master left VMs out (datagram full) */
	struct fdm_capacity capacity;
	size_t n;
	struct fdm_vm_row rows[FDM_MAX_VMS];
};

struct fdm_core;

/* Master: capacity now, from the hosts' total memory and the protected VMs. */
void fdm_vmview_capacity(const struct fdm_core *c, struct fdm_capacity *cap);

/* Master: row i of our own table (false: slot unused). */
bool fdm_vmview_row(const struct fdm_core *c, size_t i, struct fdm_vm_row *row);

/* Slave: the VM part of a heartbeat of the master we follow, into
 * c->ha.master_vms. Bounded: an item that breaks a bound is left out and its
 * count returned (the caller adds it to c->ha.rx_malformed); a list over
 * FDM_MAX_VMS keeps its first FDM_MAX_VMS and is marked partial. */
size_t fdm_vmview_take(struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m,
		       uint64_t now);

/* Slave: the master's table as we have it now; NULL when none yet from the
 * master we follow in this term. */
const struct fdm_master_vms *fdm_vmview_master(const struct fdm_core *c);

#endif
