/* The isolation probe (DESIGN.md safety point 4): ICMP echo to each configured
 * [isolation] address, one round per period, on the agent's sd-event loop.
 * It decides nothing: it tells the agent, which tells the core
 * (fdm_core_isolation_probe), "some address answered" at the first reply of a
 * round, or "none answered" when a round ends without one. */
#ifndef FDM_ISOLATION_PROBE_H
#define FDM_ISOLATION_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "lib/config.h"

struct fdm_iso_probe;

/* started: when the round began (fdm_now_boottime_ms): the core counts only a
 * round begun after it stopped renewing (DESIGN.md point 4). */
typedef void (*fdm_iso_probe_cb)(void *user, bool answered, uint64_t started);

/* Start probing cfg's isolation addresses every period_ms (a reply later than
 * that counts for nothing). Never fails for want of addresses or of an ICMP
 * socket: then it logs why once and each round reports "none answered". -1
 * only when the event loop refuses a timer (err says so). */
int fdm_iso_probe_open(sd_event *ev, const struct fdm_config *cfg, uint32_t period_ms,
		       fdm_iso_probe_cb cb, void *user, struct fdm_iso_probe **out,
		       char *err, size_t errlen);
void fdm_iso_probe_close(struct fdm_iso_probe *p);

/* The ICMP echo checksum (RFC 1071) over len bytes. */
uint16_t fdm_iso_checksum(const void *buf, size_t len);

#endif
