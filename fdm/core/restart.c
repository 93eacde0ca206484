/* The restart retry schedule (restart.h). Counted from the first attempt, not
 * from each failure, so a slow failing power-on does not stretch the schedule and
 * an operator can read the next attempt's time off `fdmctl vms`. */
#include "fdm/core/restart.h"

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
