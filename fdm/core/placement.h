/* Where the master restarts VMs (DESIGN.md "Restart"), and whether a new
 * protection still leaves room for host failures (admission control). Pure
 * functions of the numbers they are given: the caller decides which hosts are
 * candidates (master or connected, not in maintenance, hb on the VM's home
 * datastore just seen renewed) and feeds their free memory. */
#ifndef FDM_CORE_PLACEMENT_H
#define FDM_CORE_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/fdm.pb-c.h"

#define FDM_PLACE_WHY_MAX 120
/* vSphere HA's default bound on concurrent power-ons per host. */
#define FDM_PLACE_DEFAULT_INFLIGHT 32
/* VMs placed by one call (more wait for the next round; 32 power-ons per host
 * run out long before on any cluster fdm allows). */
#define FDM_PLACE_BATCH 4096
#define FDM_PLACE_MAX_HOSTS 256

/* One host the master may power VMs on. */
struct fdm_place_host {
	const char *id;
	uint32_t ds_mask;       /* home datastores (config index bits) whose hb of this
				 * host the master has just seen renewed */
	uint64_t free_kib;      /* free memory it reported last */
	uint32_t inflight;      /* power-ons already in progress there */
};

/* One VM waiting to be powered on. */
struct fdm_place_vm {
	const char *name;
	Fdm__Priority priority;
	uint64_t memory_kib;
	int ds;                 /* home datastore (config index) */
	int avoid;              /* host index its last attempt failed on, or -1: tried
				 * elsewhere first, used when nothing else fits */
	int prefer;             /* host index to try first (a crashed VM's own), or -1 */
};

struct fdm_place_result {
	int host;               /* index into the hosts, or -1: not now */
	char why[FDM_PLACE_WHY_MAX];  /* the choice, or what holds the VM back */
};

/* Place vms[] on hosts[]: highest priority first (disabled never), each on the
 * host with the most free memory that fits it, at most max_inflight power-ons per
 * host. The hosts' free memory and inflight counts are charged as VMs are placed
 * (hosts[] is updated). Ties: larger VMs first within a priority, then input
 * order; between hosts, the earlier index. n_vms <= FDM_PLACE_BATCH (more are
 * left with host -1 and say so). */
void fdm_place(struct fdm_place_host *hosts, size_t n_hosts, const struct fdm_place_vm *vms,
	       size_t n_vms, uint32_t max_inflight, struct fdm_place_result *out);

/* Admission control: the protected VMs' memory must fit on the hosts that remain
 * after the `tolerated` hosts with the most memory fail. host_kib: each host's
 * memory for VMs; need_kib: every protected VM's memory, the new one included.
 * Returns true when it fits; *spare_kib (may be negative) is what is left. why
 * gets the numbers either way. */
bool fdm_admission_ok(const uint64_t *host_kib, size_t n_hosts, uint32_t tolerated,
		      uint64_t need_kib, int64_t *spare_kib, char *why, size_t whylen);

/* "highest" .. "lowest", "disabled"; and back (-1 when unknown). */
const char *fdm_priority_name(Fdm__Priority p);
int fdm_priority_parse(const char *name);

#endif
