/* libvirt's numbers in the shim's terms: domain states, lifecycle events, and
 * why a domain stopped (StopReason in proto/fdm.proto). Pure functions that use
 * libvirt's constants only and call nothing, so one table test covers every
 * case (tests/shim/test_translate.c). fdm restarts a protected VM that stopped
 * STOP_CRASHED and leaves one stopped STOP_SHUTDOWN or STOP_DESTROYED off: the
 * mapping below is what that decision rests on. */
#ifndef FDM_SHIM_TRANSLATE_H
#define FDM_SHIM_TRANSLATE_H

#include <stdbool.h>

#include "proto/fdm.pb-c.h"

/* virDomainState -> DomainState. */
Fdm__DomainState shim_map_state(int vir_state);

/* virDomainGetState's (state, reason) -> why the domain is off. false when the
 * domain is not off (running, paused, ...): no stop reason then. */
bool shim_map_state_reason(int vir_state, int reason, Fdm__StopReason *out);

/* One libvirt lifecycle event as the shim reports it. */
struct shim_event_map {
	Fdm__EventType type;
	Fdm__DomainState state;       /* DOMAIN_UNKNOWN: the event does not say */
	bool has_stop_reason;         /* stopped or crashed: stop_reason says why */
	Fdm__StopReason stop_reason;
	const char *detail;           /* libvirt's detail in words, "" when none */
};

/* (VIR_DOMAIN_EVENT_*, its detail) -> out. false for events the shim does not
 * report. */
bool shim_map_event(int event, int detail, struct shim_event_map *out);

/* "STOP_CRASHED" -> "crashed", for logs. */
const char *shim_stop_reason_name(Fdm__StopReason r);

#endif
