/* Verdicts (verdict.h): connected, unreachable (verdict pending) or dead for one
 * datastore. Each clause below is one of DESIGN.md point 2's conditions; the
 * unit tables (tests/unit/test_verdict.c) have a case where each alone keeps a
 * live host from being declared dead. */
#include "fdm/core/verdict.h"

#include <stdio.h>

const char *fdm_verdict_name(enum fdm_verdict v)
{
	switch (v) {
	case FDM_VERDICT_CONNECTED: return "connected";
	case FDM_VERDICT_UNREACHABLE: return "unreachable";
	case FDM_VERDICT_DEAD: return "dead";
	}
	return "?";
}

static double secs(uint64_t ms)
{
	return (double)ms / 1000.0;
}

static uint64_t later(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

uint64_t fdm_verdict_proof_read_at(const struct fdm_verdict_in *in)
{
	uint64_t mark;

	if (!in->hb_seen || in->lease_acquired_ms == 0)
		return 0;
	mark = later(in->hb_unchanged_since_ms, in->lease_acquired_ms) + in->host_dead_ms;
	return in->hb_last_read_issued_ms >= mark ? 0 : mark;
}

enum fdm_verdict fdm_verdict_of(const struct fdm_verdict_in *in, uint64_t now, char *why,
				size_t whylen)
{
	uint64_t net_from, hb_from, net_silent, hb_proven;

	if (in->net_heard && now < in->net_last_ms + in->connected_window_ms) {
		snprintf(why, whylen, "%s connected", in->host);
		return FDM_VERDICT_CONNECTED;
	}
#ifdef FDM_MUTANT_RESTART_UNREACHABLE
	/* tests/sim mutant: not heard on the network is enough. */
	if (in->lease_acquired_ms != 0) {
		snprintf(why, whylen, "%s dead for %s (mutant: unreachable)", in->host,
			 in->datastore);
		return FDM_VERDICT_DEAD;
	}
#endif
	if (in->lease_acquired_ms == 0) {
		snprintf(why, whylen, "%s not dead for %s: lease on %s not held", in->host,
			 in->datastore, in->datastore);
		return FDM_VERDICT_UNREACHABLE;
	}
	/* Both silences count from no earlier than our acquisition of the lease. */
	net_from = later(in->net_heard ? in->net_last_ms : 0, in->lease_acquired_ms);
#ifdef FDM_MUTANT_DEAD_NOT_FROM_ACQUISITION
	/* tests/sim mutant: silences counted from before the lease was ours. */
	net_from = in->net_heard ? in->net_last_ms : 0;
#endif
	net_silent = now > net_from ? now - net_from : 0;
	if (net_silent < in->host_dead_ms) {
		snprintf(why, whylen, "%s not dead for %s yet: no network heartbeat for %.1f s "
			 "of %.1f s", in->host, in->datastore, secs(net_silent),
			 secs(in->host_dead_ms));
		return FDM_VERDICT_UNREACHABLE;
	}
	if (!in->hb_seen) {
		snprintf(why, whylen, "%s not dead for %s yet: its hb record on %s not read",
			 in->host, in->datastore, in->datastore);
		return FDM_VERDICT_UNREACHABLE;
	}
	hb_from = later(in->hb_unchanged_since_ms, in->lease_acquired_ms);
#ifdef FDM_MUTANT_DEAD_NOT_FROM_ACQUISITION
	hb_from = in->hb_unchanged_since_ms;   /* tests/sim mutant, as net_from */
#endif
	/* Proven unchanged up to the issue of the latest read that still saw it. */
	hb_proven = in->hb_last_read_issued_ms > hb_from ? in->hb_last_read_issued_ms - hb_from : 0;
	if (hb_proven < in->host_dead_ms) {
		uint64_t age = now > hb_from ? now - hb_from : 0;

		if (age >= in->host_dead_ms)
			snprintf(why, whylen, "%s not dead for %s yet: hb unchanged for %.1f s, "
				 "waiting for a read to confirm it", in->host, in->datastore, secs(age));
		else if (in->hb_unchanged_since_ms >= in->lease_acquired_ms)
			snprintf(why, whylen, "%s not dead for %s yet: hb changed %.1f s ago",
				 in->host, in->datastore, secs(age));
		else
			snprintf(why, whylen, "%s not dead for %s yet: hb unchanged for %.1f s "
				 "of %.1f s since the lease was taken", in->host, in->datastore,
				 secs(age), secs(in->host_dead_ms));
		return FDM_VERDICT_UNREACHABLE;
	}
	snprintf(why, whylen, "%s dead for %s: no network heartbeat for %.1f s, hb unchanged "
		 "for %.1f s", in->host, in->datastore, secs(net_silent), secs(hb_proven));
	return FDM_VERDICT_DEAD;
}
