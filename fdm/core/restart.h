/* When the master powers a protected VM on again (DESIGN.md "Restart"): the retry
 * schedule of a failed power-on. Pure. Like vSphere HA, the gaps double: with the
 * default first gap of 2 min, attempts run at T0, T+2, T+6, T+14 and T+30 min. */
#ifndef FDM_CORE_RESTART_H
#define FDM_CORE_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDM_RETRY_DEFAULT_FIRST_GAP_MS (2u * 60u * 1000u)
#define FDM_RETRY_DEFAULT_MAX_ATTEMPTS 5

/* The gap after failed attempt number `failed` (1 = the first attempt failed):
 * first_gap_ms * 2^(failed-1), capped so it never overflows. */
uint64_t fdm_retry_gap_ms(uint32_t failed, uint32_t first_gap_ms);

/* When the next attempt is due after `failed` attempts, the first made at t0; or
 * false when max_attempts are used up (the VM is then `failed`). */
bool fdm_retry_next(uint64_t t0, uint32_t failed, uint32_t max_attempts,
		    uint32_t first_gap_ms, uint64_t *next_ms);

#endif

/* ---- safety point 2: restart only what is known to run nowhere */

/* What the master holding d's lease knows of one other host, for one VM v homed
 * on d. A report counts by what it echoes, never by when it arrived. */
struct fdm_runs_report {
	const char *host;
	bool dead;                     /* verdict.h: dead for d */
	const char *not_dead_why;      /* the verdict's reason when not dead */
	/* Its latest slave heartbeat: the send time (our clock) of the master
	 * heartbeat it echoed, and whether it lists v as running. */
	bool net;
	uint64_t net_echo_sent_ms;
	bool net_runs;
	/* Its latest poweron record on d: the lease generation and v's restart
	 * count it last read from d's protectedlist, and whether it lists v. */
	bool poweron;
	uint64_t poweron_generation;
	uint32_t poweron_restarts;
	bool poweron_runs;
	/* Its agent stopped cleanly (`stopped` in its poweron record on d), and
	 * its last word before that listed v: a clean
	 * stop leaves its VMs running, unprotected, and nothing of it is
	 * restarted until its agent returns (DESIGN.md point 5). */
	bool stopped;
	bool stopped_runs;
	bool poweron_isolated_off;     /* ... lists v as powered off by its isolation response */
};

/* The VM, as the protectedlist and the master see it now. */
struct fdm_runs_vm {
	const char *name;
	uint64_t generation;           /* d's lease generation (ours) */
	uint32_t restarts;             /* v's restart count in the protectedlist */
	uint64_t lease_acquired_ms;
	uint64_t last_restart_ms;      /* our last restart order for v (0: none) */
};

enum fdm_runs { FDM_RUNS_NOWHERE, FDM_RUNS_THERE, FDM_RUNS_UNKNOWN };

/* Is v known to run nowhere (then it may be restarted), known to run on a host
 * (*where = its index), or not known yet (why says which host holds it back)? */
enum fdm_runs fdm_runs_check(const struct fdm_runs_vm *v, const struct fdm_runs_report *r,
			     size_t n, int *where, char *why, size_t whylen);
