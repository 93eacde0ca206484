/* The readable form of a schedule's events, for --trace and failure reports. */
#include <stdio.h>

#include "tests/sim/sim.h"

static const char *const names[EV_KIND_COUNT] = {
	[EV_CRASH] = "host crash",
	[EV_BOOT] = "host boots",
	[EV_AGENT_KILL] = "agent killed",
	[EV_AGENT_START] = "agent started",
	[EV_PAUSE] = "agent paused",
	[EV_RESUME] = "agent resumed",
	[EV_PARTITION] = "network partition",
	[EV_CUT_ONEWAY] = "one-way cut",
	[EV_LINK_DOWN] = "link down",
	[EV_LINK_UP] = "link up",
	[EV_NET_WHOLE] = "partitions and cuts healed",
	[EV_DS_LOSE] = "datastore lost",
	[EV_DS_RESTORE] = "datastore back",
	[EV_DS_STALL] = "datastore hangs",
	[EV_SHIM_FAIL] = "shim power-ons",
	[EV_VM_CRASH] = "vm crash",
	[EV_STOP] = "agent stopped cleanly",
	[EV_SHIM_OFF_FAIL] = "shim power-offs",
};

const char *sim_ev_name(enum sim_ev_kind k)
{
	return k < EV_KIND_COUNT ? names[k] : "?";
}

static const char *host(int h)
{
	static const char *const ids[] = { "host-1", "host-2", "host-3", "host-4",
					   "host-5", "host-6", "host-7", "host-8" };

	switch (h) {
	case SIM_MASTER:
		return "the master";
	case SIM_SLAVE:
		return "a slave";
	case SIM_SAME:
		return "that host";
	case SIM_EVERY:
		return "every host";
	default:
		return h >= 0 && h < MC_MAX_HOSTS ? ids[h] : "?";
	}
}

void sim_ev_print(const struct sim_schedule *s, const struct sim_event *e, char *buf, size_t len)
{
	size_t n;

	switch (e->kind) {
	case EV_PARTITION:
		if (e->a == SIM_MASTER) {
			snprintf(buf, len, "%s: the master alone", sim_ev_name(e->kind));
			break;
		}
		n = (size_t)snprintf(buf, len, "%s:", sim_ev_name(e->kind));
		for (size_t h = 0; h < s->n_hosts && n < len; h++)
			n += (size_t)snprintf(buf + n, len - n, " %s in %u", host((int)h),
					      (unsigned)((e->arg >> (4 * h)) & 15));
		break;
	case EV_CUT_ONEWAY:
		snprintf(buf, len, "%s %s -> %s", sim_ev_name(e->kind), host(e->a), host(e->b));
		break;
	case EV_NET_WHOLE:
		snprintf(buf, len, "%s", sim_ev_name(e->kind));
		break;
	case EV_DS_LOSE:
	case EV_DS_RESTORE:
		if (e->b < 0)
			snprintf(buf, len, "%s%s: a datastore where %s runs a VM", sim_ev_name(e->kind),
				 e->arg ? " (read-only)" : "", host(e->a));
		else
			snprintf(buf, len, "%s%s: ds%d by %s", sim_ev_name(e->kind),
				 e->arg ? " (read-only)" : "", e->b + 1, host(e->a));
		break;
	case EV_DS_STALL:
		snprintf(buf, len, "%s for %.1f s: ds%d for %s", sim_ev_name(e->kind),
			 (double)e->arg / 1000.0, e->b + 1, e->a < 0 ? "every host" : host(e->a));
		break;
	case EV_SHIM_FAIL:
		snprintf(buf, len, "%s %s on %s", sim_ev_name(e->kind),
			 e->arg ? "refused" : "work again", host(e->a));
		break;
	case EV_SHIM_OFF_FAIL:
		snprintf(buf, len, "%s %s on %s", sim_ev_name(e->kind),
			 e->arg ? "fail" : "work again", host(e->a));
		break;
	case EV_VM_CRASH:
		snprintf(buf, len, "%s: vm-%02d", sim_ev_name(e->kind), e->b + 1);
		break;
	default:
		snprintf(buf, len, "%s: %s", sim_ev_name(e->kind), host(e->a));
		break;
	}
}
