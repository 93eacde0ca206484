/* The deadline invariants (DESIGN.md safety point 3): with every host up and the
 * network whole, a storage outage of any length powers nothing off (mode blip);
 * elsewhere a power-off at a deadline is fine, and the double-run check of
 * check.c says whether it came in time. */
#include <stdio.h>

#include "tests/sim/sim.h"

void sim_check_power_off(struct minicluster *mc, size_t host, const char *vm, bool by_shim)
{
	struct sim_run *r = mc->user;
	const char *who = by_shim ? "its shim (a deadline it holds)" : "its agent";

	if (r->trace)
		printf("%+9.2f %s | (shim) %s powered off by %s\n",
		       ((double)mc->now - (double)r->t0) / 1000.0, mc->hosts[host].cfg.host_id,
		       vm, who);
	sim_check_storage_power_off(r, host, vm);
	sim_check_iso_power(r, host, vm, false);
	if (r->sched->mode == MODE_BLIP && mc->now >= r->t0)
		sim_violate(r, VIO_NEEDLESS_POWER_OFF, "%s powered off on %s by %s during a "
			    "storage blip with every host up and the network whole", vm,
			    mc->hosts[host].cfg.host_id, who);
}
