/* libvirt states, events and stop reasons in the shim's terms (translate.h).
 *
 * How a domain stops, as libvirt reports it (event detail / state reason):
 *   guest shutdown, virsh shutdown      STOPPED_SHUTDOWN   / SHUTOFF_SHUTDOWN
 *   virsh destroy, fdm's power-off,
 *     the shim's fence at a deadline    STOPPED_DESTROYED  / SHUTOFF_DESTROYED
 *   QEMU killed (kill -9) or crashed    STOPPED_FAILED     / SHUTOFF_CRASHED
 *   guest panic with on_crash=destroy,
 *     test driver "dump --crash"        STOPPED_CRASHED    / SHUTOFF_CRASHED
 *   a start that failed                 -                  / SHUTOFF_FAILED
 * FAILED counts as a crash in both: the VM did not stop because anybody asked.
 * SHUTOFF_DAEMON (libvirtd killed it while reconnecting) is reported UNKNOWN:
 * nobody outside asked for it either, but libvirt says no more than that. */
#include "hostd-shim/translate.h"

#include <libvirt/libvirt.h>

Fdm__DomainState shim_map_state(int s)
{
	switch (s) {
	case VIR_DOMAIN_RUNNING: return FDM__DOMAIN_STATE__DOMAIN_RUNNING;
	case VIR_DOMAIN_BLOCKED: return FDM__DOMAIN_STATE__DOMAIN_BLOCKED;
	case VIR_DOMAIN_PAUSED: return FDM__DOMAIN_STATE__DOMAIN_PAUSED;
	case VIR_DOMAIN_SHUTDOWN: return FDM__DOMAIN_STATE__DOMAIN_SHUTDOWN;
	case VIR_DOMAIN_SHUTOFF: return FDM__DOMAIN_STATE__DOMAIN_SHUTOFF;
	case VIR_DOMAIN_CRASHED: return FDM__DOMAIN_STATE__DOMAIN_CRASHED;
	case VIR_DOMAIN_PMSUSPENDED: return FDM__DOMAIN_STATE__DOMAIN_PMSUSPENDED;
	default: return FDM__DOMAIN_STATE__DOMAIN_UNKNOWN;
	}
}

static Fdm__StopReason shutoff_reason(int reason)
{
	switch (reason) {
	case VIR_DOMAIN_SHUTOFF_SHUTDOWN: return FDM__STOP_REASON__STOP_SHUTDOWN;
	case VIR_DOMAIN_SHUTOFF_DESTROYED: return FDM__STOP_REASON__STOP_DESTROYED;
	case VIR_DOMAIN_SHUTOFF_CRASHED: return FDM__STOP_REASON__STOP_CRASHED;
	case VIR_DOMAIN_SHUTOFF_FAILED: return FDM__STOP_REASON__STOP_CRASHED;
	case VIR_DOMAIN_SHUTOFF_MIGRATED: return FDM__STOP_REASON__STOP_MIGRATED;
	case VIR_DOMAIN_SHUTOFF_SAVED: return FDM__STOP_REASON__STOP_SAVED;
	case VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT: return FDM__STOP_REASON__STOP_FROM_SNAPSHOT;
	default: return FDM__STOP_REASON__STOP_UNKNOWN;
	}
}

bool shim_map_state_reason(int state, int reason, Fdm__StopReason *out)
{
	if (state == VIR_DOMAIN_SHUTOFF) {
		*out = shutoff_reason(reason);
		return true;
	}
	if (state == VIR_DOMAIN_CRASHED) {
		*out = FDM__STOP_REASON__STOP_CRASHED;
		return true;
	}
	return false;
}

/* VIR_DOMAIN_EVENT_STOPPED_* -> (reason, words). */
static void stopped_detail(int detail, struct shim_event_map *m)
{
	static const struct {
		Fdm__StopReason reason;
		const char *words;
	} t[] = {
		[VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN] = { FDM__STOP_REASON__STOP_SHUTDOWN, "shutdown" },
		[VIR_DOMAIN_EVENT_STOPPED_DESTROYED] = { FDM__STOP_REASON__STOP_DESTROYED, "destroyed" },
		[VIR_DOMAIN_EVENT_STOPPED_CRASHED] = { FDM__STOP_REASON__STOP_CRASHED, "crashed" },
		[VIR_DOMAIN_EVENT_STOPPED_MIGRATED] = { FDM__STOP_REASON__STOP_MIGRATED, "migrated" },
		[VIR_DOMAIN_EVENT_STOPPED_SAVED] = { FDM__STOP_REASON__STOP_SAVED, "saved" },
		[VIR_DOMAIN_EVENT_STOPPED_FAILED] = { FDM__STOP_REASON__STOP_CRASHED, "failed" },
		[VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT] = { FDM__STOP_REASON__STOP_FROM_SNAPSHOT,
							     "from snapshot" },
	};

	m->has_stop_reason = true;
	if (detail >= 0 && (unsigned)detail < sizeof(t) / sizeof(t[0])) {
		m->stop_reason = t[detail].reason;
		m->detail = t[detail].words;
	} else {
		m->stop_reason = FDM__STOP_REASON__STOP_UNKNOWN;
	}
	m->type = m->stop_reason == FDM__STOP_REASON__STOP_CRASHED ?
		  FDM__EVENT_TYPE__EVENT_CRASHED : FDM__EVENT_TYPE__EVENT_STOPPED;
	m->state = FDM__DOMAIN_STATE__DOMAIN_SHUTOFF;
}

static const char *started_detail(int detail)
{
	static const char *const t[] = {
		[VIR_DOMAIN_EVENT_STARTED_BOOTED] = "booted",
		[VIR_DOMAIN_EVENT_STARTED_MIGRATED] = "migrated",
		[VIR_DOMAIN_EVENT_STARTED_RESTORED] = "restored",
		[VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT] = "from snapshot",
		[VIR_DOMAIN_EVENT_STARTED_WAKEUP] = "wakeup",
	};

	return detail >= 0 && (unsigned)detail < sizeof(t) / sizeof(t[0]) ? t[detail] : "";
}

static void set(struct shim_event_map *m, Fdm__EventType type, Fdm__DomainState state,
		const char *detail)
{
	m->type = type;
	m->state = state;
	m->detail = detail;
}

bool shim_map_event(int event, int detail, struct shim_event_map *m)
{
	m->has_stop_reason = false;
	m->stop_reason = FDM__STOP_REASON__STOP_UNKNOWN;
	m->detail = "";
	switch (event) {
	case VIR_DOMAIN_EVENT_DEFINED:
		set(m, FDM__EVENT_TYPE__EVENT_DEFINED, FDM__DOMAIN_STATE__DOMAIN_UNKNOWN,
		    detail == VIR_DOMAIN_EVENT_DEFINED_UPDATED ? "updated" : "added");
		return true;
	case VIR_DOMAIN_EVENT_UNDEFINED:
		set(m, FDM__EVENT_TYPE__EVENT_UNDEFINED, FDM__DOMAIN_STATE__DOMAIN_UNKNOWN, "");
		return true;
	case VIR_DOMAIN_EVENT_STARTED:
		set(m, FDM__EVENT_TYPE__EVENT_STARTED, FDM__DOMAIN_STATE__DOMAIN_RUNNING,
		    started_detail(detail));
		return true;
	case VIR_DOMAIN_EVENT_STOPPED:
		stopped_detail(detail, m);
		return true;
	case VIR_DOMAIN_EVENT_SHUTDOWN:
		/* The guest began to shut down; the STOPPED event follows. */
		set(m, FDM__EVENT_TYPE__EVENT_SHUTDOWN, FDM__DOMAIN_STATE__DOMAIN_SHUTDOWN,
		    "guest shut down");
		return true;
	case VIR_DOMAIN_EVENT_CRASHED:
		/* The guest panicked. With on_crash=destroy a STOPPED/CRASHED
		 * follows; with preserve QEMU stays, its disks open: not off. */
		set(m, FDM__EVENT_TYPE__EVENT_CRASHED, FDM__DOMAIN_STATE__DOMAIN_CRASHED,
		    "guest crashed");
		m->has_stop_reason = true;
		m->stop_reason = FDM__STOP_REASON__STOP_CRASHED;
		return true;
	case VIR_DOMAIN_EVENT_SUSPENDED:
		set(m, FDM__EVENT_TYPE__EVENT_PAUSED, FDM__DOMAIN_STATE__DOMAIN_PAUSED, "");
		return true;
	case VIR_DOMAIN_EVENT_RESUMED:
		set(m, FDM__EVENT_TYPE__EVENT_RESUMED, FDM__DOMAIN_STATE__DOMAIN_RUNNING, "");
		return true;
	default:
		return false;
	}
}

const char *shim_stop_reason_name(Fdm__StopReason r)
{
	switch (r) {
	case FDM__STOP_REASON__STOP_SHUTDOWN: return "shutdown";
	case FDM__STOP_REASON__STOP_DESTROYED: return "destroyed";
	case FDM__STOP_REASON__STOP_CRASHED: return "crashed";
	case FDM__STOP_REASON__STOP_MIGRATED: return "migrated";
	case FDM__STOP_REASON__STOP_SAVED: return "saved";
	case FDM__STOP_REASON__STOP_FROM_SNAPSHOT: return "from snapshot";
	default: return "unknown";
	}
}
