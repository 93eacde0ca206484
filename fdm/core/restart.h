/* When the master powers a protected VM on again (DESIGN.md "Restart"): the retry
 * schedule of a failed power-on. Pure. Like vSphere HA, the gaps double: with the
 * default first gap of 2 min, attempts run at T0, T+2, T+6, T+14 and T+30 min. */
#ifndef FDM_CORE_RESTART_H
#define FDM_CORE_RESTART_H

#include <stdbool.h>
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
