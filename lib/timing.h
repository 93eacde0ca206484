/* Every timeout of fdm, derived in one place from heartbeat_interval and
 * io_timeout (DESIGN.md's example derivation; sanlock's timeouts.c does the same).
 * Pure: no clock, no I/O. */
#ifndef FDM_CORE_TIMING_H
#define FDM_CORE_TIMING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The [timing] values a config may hold (lib/config.c refuses any other), so
 * the only ones a running agent can announce in its packets. */
#define FDM_HEARTBEAT_MIN_MS 100
#define FDM_HEARTBEAT_MAX_MS 10000
#define FDM_IO_TIMEOUT_MIN_MS 500
#define FDM_IO_TIMEOUT_MAX_MS 60000

struct fdm_timing {
	uint32_t heartbeat_interval_ms;  /* network heartbeat period (config) */
	uint32_t io_timeout_ms;          /* bound on every storage I/O (config) */

	uint32_t master_lost_ms;         /* slave: no master heartbeat this long -> election */
	uint32_t election_window_ms;     /* bids collected this long before a winner declares */
	uint32_t bid_interval_ms;        /* bids are re-sent this often inside the window */
	uint32_t heard_window_ms;        /* a slave heard within this counts as "heard" */
	uint32_t host_unreachable_ms;    /* master: no slave heartbeat this long -> unreachable */

	uint32_t storage_hb_ms;          /* hb/poweron record written this often */
	uint32_t lease_renew_ms;         /* lease renewed this often */
	uint32_t lease_expiry_ms;        /* lease unchanged this long -> may be taken */
	uint32_t lease_acquire_wait_ms;  /* write, wait this long, re-read */
	uint32_t lease_acting_ms;        /* owner stops acting this long after its last write */
	uint32_t host_dead_ms;           /* no network hb and hb record unchanged -> dead */
	uint32_t deadline_margin_ms;     /* VMs stop this long before any master may restart them */
	uint32_t isolation_probe_ms;     /* one probe of the isolation addresses */
	uint32_t isolation_delay_ms;     /* no master, no election, no probe answer -> isolated */
	uint32_t yield_min_gap_ms;       /* a master yields at most once per this */
};

/* Derive all timeouts. Returns 0, or -1 with the first broken inequality named in
 * err ("heartbeat_interval_ms: ..." so the caller can prefix file:line). */
int fdm_timing_derive(uint32_t heartbeat_interval_ms, uint32_t io_timeout_ms,
                      struct fdm_timing *t, char *err, size_t errlen);

/* `fdm --print-timing`: every value with its reason, then the inequalities. */
void fdm_timing_print(const struct fdm_timing *t, FILE *out);

#endif
