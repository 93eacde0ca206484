/* The restart retry schedule (restart.h). Counted from the first attempt, not
 * from each failure, so a slow failing power-on does not stretch the schedule and
 * an operator can read the next attempt's time off `fdmctl vms`. */
#include "fdm/core/restart.h"

#include <stdio.h>

uint64_t fdm_retry_gap_ms(uint32_t failed, uint32_t first_gap_ms)
{
	uint64_t gap = first_gap_ms;

	if (failed == 0)
		return 0;
	/* 2^20 x the first gap is already years; stop doubling long before overflow. */
	for (uint32_t i = 1; i < failed && i < 20; i++)
		gap *= 2;
	return gap;
}

bool fdm_retry_next(uint64_t t0, uint32_t failed, uint32_t max_attempts,
		    uint32_t first_gap_ms, uint64_t *next_ms)
{
	uint64_t t = t0;

	if (failed >= max_attempts)
		return false;
	for (uint32_t k = 1; k <= failed; k++)
		t += fdm_retry_gap_ms(k, first_gap_ms);
	*next_ms = t;
	return true;
}

/* A heartbeat that echoes a master heartbeat sent after the lease was ours, and
 * after our last restart of v, was sent after both: what it says of v is news.
 * Strictly after: a heartbeat sent in the same millisecond as a restart order may
 * have gone out before it. */
static bool net_current(const struct fdm_runs_vm *v, const struct fdm_runs_report *r)
{
	uint64_t since = v->lease_acquired_ms > v->last_restart_ms ? v->lease_acquired_ms
								   : v->last_restart_ms;

#ifdef FDM_MUTANT_STALE_PLACEMENT
	(void)since;
	return r->net;            /* tests/sim mutant: any report, however old */
#endif
	return r->net && r->net_echo_sent_ms > since;
}

/* A poweron record that echoes d's current generation and v's current restart
 * count was written after the host read both: after our acquisition and restart.
 * A write that sat in a hung server's queue echoes older values and never counts. */
static bool poweron_current(const struct fdm_runs_vm *v, const struct fdm_runs_report *r)
{
#ifdef FDM_MUTANT_STALE_PLACEMENT
	(void)v;
	return r->poweron;        /* tests/sim mutant: any record, however old */
#endif
	return r->poweron && r->poweron_generation == v->generation &&
	       r->poweron_restarts == v->restarts;
}

enum fdm_runs fdm_runs_check(const struct fdm_runs_vm *v, const struct fdm_runs_report *r,
			     size_t n, int *where, char *why, size_t whylen)
{
	int waiting = -1;
	bool unaware = false;

	*where = -1;
	for (size_t h = 0; h < n; h++) {
		bool net = net_current(v, &r[h]), pwr = poweron_current(v, &r[h]);

		/* Stopped cleanly: silent on both, so it would soon look dead, but
		 * what it ran runs on (no deadline stops it). Its last word counts,
		 * however old: it has said nothing since. */
		if (r[h].stopped && r[h].stopped_runs) {
			*where = (int)h;
			snprintf(why, whylen, "%s runs on %s (its agent stopped cleanly: "
				 "not restarted until it returns)", v->name, r[h].host);
			return FDM_RUNS_THERE;
		}
		if (r[h].stopped)
			continue;
		/* Dead for d: silent on the network and on d for host_dead since our
		 * acquisition. Its last word that it ran v is what it said before it
		 * died, and its deadline has stopped v since (safety point 3), but
		 * only if it knew v was protected: a host learns that from its own
		 * read of d's list, which its poweron record echoes. One that ran v
		 * and never could read the list keeps no deadline for v
		 * (tests/cluster/test_protect_unread.py). */
		if (r[h].dead) {
			if (!r[h].poweron && !(r[h].net && !r[h].net_runs) && waiting < 0) {
				waiting = (int)h;
				unaware = true;
			}
			continue;
		}
		/* Powered off by its isolation response, said by a record that
		 * echoes v's current count: it stays off there until a new order
		 * (a new count). Its network reports, all sent before it was cut
		 * off, are older than that (DESIGN.md point 4). */
		if (pwr && r[h].poweron_isolated_off && !r[h].poweron_runs)
			continue;
		if ((net && r[h].net_runs) || (pwr && r[h].poweron_runs)) {
			*where = (int)h;
			snprintf(why, whylen, "%s runs on %s", v->name, r[h].host);
			return FDM_RUNS_THERE;
		}
		if (net || pwr)
			continue;
		if (waiting < 0)
			waiting = (int)h;
	}
	if (waiting >= 0) {
		const struct fdm_runs_report *w = &r[waiting];

		if (unaware)
			snprintf(why, whylen, "%s is dead but may run %s with no deadline: its "
				 "poweron record never listed %s as protected", w->host, v->name,
				 v->name);
		else
			snprintf(why, whylen, "%s", w->not_dead_why != NULL ? w->not_dead_why : "");
		if (why[0] == '\0')
			snprintf(why, whylen, "%s has not reported on %s since the lease was taken",
				 w->host, v->name);
		return FDM_RUNS_UNKNOWN;
	}
	snprintf(why, whylen, "%s runs nowhere", v->name);
	return FDM_RUNS_NOWHERE;
}
