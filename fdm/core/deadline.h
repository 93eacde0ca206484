/* Per-datastore deadlines (DESIGN.md safety point 3): the earliest moment any
 * master could restart the VMs homed on d, on this host's own clock, less the
 * margin; the protected VMs homed on d that run here are powered off when it
 * passes, and every deadline is handed to hostd-shim (point 5). Pure. */
#ifndef FDM_CORE_DEADLINE_H
#define FDM_CORE_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdm/core/ha.h"

struct fdm_core;
struct fdm_actions;
struct fdm_timing;

/* What one master heartbeat (or, on a master, its own renewals and the echoes
 * of its slaves) says about datastore d. Every time is on our own clock, turned
 * from an echoed send time of ours + an offset, never a receipt time. */
struct fdm_vouch {
	bool same_master;          /* a slave: the clause "our master stops hearing us" */
	uint64_t echoed_sent_ms;   /* ... our send time of the heartbeat it echoed */
	uint64_t renewal_ms;       /* the master's last renewal of d's lease (0: none) */
	bool full_house;           /* a "heard" time for every other configured host */
	uint64_t earliest_heard_ms;/* ... the earliest of them */
};

/* The network bound a vouch gives for d (0: none, d's lease not reported). */
uint64_t fdm_deadline_network(const struct fdm_timing *t, const struct fdm_vouch *v);

/* Everything the deadline of d is made of (0: no such evidence). */
struct fdm_deadline_in {
	uint64_t born_ms;          /* this agent's start: no evidence before it */
	uint64_t hb_ok_ms;         /* issue time of our last successful hb write on d */
	uint64_t network_ms;       /* fdm_deadline_network of the last vouch for d */
	uint64_t stepdown_ms;      /* struct fdm_core_ds stepdown_bound_ms */
};

/* The deadline of d: the later of the storage and network bounds, less the
 * margin. With no evidence at all since our start: born + io_timeout. */
uint64_t fdm_deadline_compute(const struct fdm_timing *t, const struct fdm_deadline_in *in);

/* ------------------------------------------------ on the core (deadline.c) */
/* A master's last renewal of d it has not released (0: none): what it reports
 * in its heartbeats and bounds its own VMs with, after a loss too. */
uint64_t fdm_deadline_own_renewal(const struct fdm_core *c, size_t d);
/* A master: earliest send time that every other host echoed as our slave +
 * 2 x io + host_dead (no other master restarts anything before it); 0 when
 * some host echoed none. Kept by a master that steps down (storage.c). */
uint64_t fdm_deadline_full_house(const struct fdm_core *c);
/* The deadline of d now (always > 0). */
uint64_t fdm_deadline_of(const struct fdm_core *c, size_t d);
/* Does a protected VM homed on d run here (or is it being powered on)? */
bool fdm_deadline_applies(const struct fdm_core *c, size_t d);
/* Has d's deadline passed? A power-on of a VM homed on d is refused here then. */
bool fdm_deadline_passed(const struct fdm_core *c, size_t d, uint64_t now);

/* A slave took a heartbeat of its master `from`: keep its vouch per datastore. */
void fdm_deadline_on_master_hb(struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m);
/* Time passes: power off the protected VMs of every datastore whose deadline passed. */
void fdm_deadline_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);

/* One protected VM running here and its deadline, for hostd-shim. */
struct fdm_vm_deadline {
	char name[FDM_VM_NAME_MAX];
	int ds;
	uint64_t deadline_ms;      /* on the core's clock (CLOCK_BOOTTIME in the agent) */
};
/* Every protected VM that runs here, with its home datastore's deadline, and
 * the deadlines inherited from before this agent's start that still hold
 * (deadline_inherit.c; ds -1). What the shell hands hostd-shim. */
size_t fdm_deadline_list(const struct fdm_core *c, struct fdm_vm_deadline *out, size_t max);

/* A restarted agent: the deadlines hostd-shim held when we connected to it
 * first (DESIGN.md point 5). The shell hands no deadline to the shim before. */
void fdm_core_inherit_deadlines(struct fdm_core *c, const struct fdm_vm_deadline *v, size_t n,
				uint64_t now, struct fdm_actions *out);
/* The VM had an inherited deadline, and it has passed: hostd-shim powers it
 * off, which is no user's stop. */
bool fdm_deadline_inherited_passed(const struct fdm_core *c, const char *name, uint64_t now);
/* Every datastore's VM list read since our start, and none names the VM. */
bool fdm_deadline_known_unprotected(const struct fdm_core *c, const char *name);
/* Append to out[0..n) the inherited deadlines not covered by it. */
size_t fdm_deadline_add_inherited(const struct fdm_core *c, struct fdm_vm_deadline *out,
				  size_t n, size_t max);

/* /dev/watchdog (DESIGN.md point 5, fdm/core/watchdog.c): 0 when a deadline of
 * a protected VM that runs here has passed (no petting), else the earliest
 * such deadline, UINT64_MAX when there is none. */
uint64_t fdm_deadline_watchdog_until(const struct fdm_core *c, uint64_t now);

#endif
