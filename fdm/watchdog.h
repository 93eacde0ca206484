/* /dev/watchdog for the agent (DESIGN.md safety point 5): armed at start where
 * the device exists, petted with every tick while the core says every deadline
 * of a protected VM running here is ahead, with a timeout that ends no later
 * than the earliest of them + the margin; disarmed at a clean exit. */
#ifndef FDM_WATCHDOG_H
#define FDM_WATCHDOG_H

#include <stdint.h>

struct fdm_watchdog;

/* Open device ("" or missing: none, logged once). Never fails the agent: a
 * host without a watchdog runs with hostd-shim's enforcement alone. */
struct fdm_watchdog *fdm_watchdog_open(const char *device, uint32_t margin_ms);
/* until: fdm_deadline_watchdog_until (0: do not pet). now: its clock. */
void fdm_watchdog_pet(struct fdm_watchdog *w, uint64_t now, uint64_t until);
/* Clean exit: the magic close, so that the host is not reset. */
void fdm_watchdog_close(struct fdm_watchdog *w);
/* The timeout for a deadline `until` (ms on now's clock): whole seconds, no
 * later than until + margin, at least 1, at most max_s. */
uint32_t fdm_watchdog_timeout_s(uint64_t now, uint64_t until, uint32_t margin_ms,
				uint32_t max_s);

#endif
