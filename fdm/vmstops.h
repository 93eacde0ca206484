/* The stop queue of fdm/vmhost.c: why this host's VMs stopped, each stop
 * reported once, in the order learnt. Pure (no I/O, the time passed in), so
 * its rules have a table test (tests/shim/test_vmstops.c).
 *
 * A stop comes from the shim's event when there is one (it carries libvirt's
 * reason), or from the comparison of two listings when a VM active in the
 * first is off or gone in the second (the shim was away and its event is
 * lost, or the event is still on its way). `reported` holds the VMs reported
 * off and not seen active since, so the same stop seen both ways is reported
 * once. A VM leaves it when its start event comes, or when a listing asked for
 * after the report shows it active (or gone). */
#ifndef FDM_VMSTOPS_H
#define FDM_VMSTOPS_H

#include "fdm/vmhost.h"

#define FDM_VMSTOPS_REPORTED_MAX 4096   /* VMs reported off at once; the oldest forgotten past it */

struct fdm_vmstops_reported {
	char uuid[FDM_DOMAIN_UUID_MAX];
	uint64_t at_ms;                  /* when its stop was reported */
};

struct fdm_vmstops {
	struct fdm_domain_stop q[FDM_VMHOST_STOPS_MAX];   /* ring */
	size_t first, n;
	uint64_t dropped;                /* the oldest lost: the queue was full */
	struct fdm_vmstops_reported *reported;
	size_t n_reported, cap_reported;
};

void fdm_vmstops_init(struct fdm_vmstops *s);
void fdm_vmstops_free(struct fdm_vmstops *s);

/* The shim reported a stop (EVENT_STOPPED or EVENT_CRASHED, domain off). */
void fdm_vmstops_event(struct fdm_vmstops *s, const char *name, const char *uuid,
		       Fdm__StopReason reason, const char *detail, uint64_t now_ms);

/* The shim reported a start or resume: the next stop of uuid is news. */
void fdm_vmstops_started(struct fdm_vmstops *s, const char *uuid);

/* A listing asked for at sent_ms replaces old: report the VMs it shows off
 * or gone that were active before, unless already reported; forget the
 * reports it contradicts. */
void fdm_vmstops_listing(struct fdm_vmstops *s, const struct fdm_domain *old, size_t n_old,
			 const struct fdm_domain *now, size_t n_now, uint64_t sent_ms, uint64_t now_ms);

/* Take the oldest stop: true and *out, or false when none. */
bool fdm_vmstops_next(struct fdm_vmstops *s, struct fdm_domain_stop *out);

#endif
