/* Whether a master may renew, must pause, or must give up its leases because it
 * may be isolated (DESIGN.md safety point 4, its end). Order matters: a master
 * that has heard no peer for the heard window first stops renewing, then waits
 * for a probe round of its isolation addresses that began after that moment;
 * silent, it is isolated and releases (storage.c), so no renewal of its can
 * follow its isolation check and look like a live master to isolated slaves.
 * An answer, or a peer heard, lets it renew again. An isolated host takes no
 * lease even when it wins an election alone, unless every other host's hb
 * record on the datastore is unchanged for host_dead (a two-host cluster whose
 * other host died while the address was down must still recover). The shell
 * probes the addresses (fdm/isolation_probe.c). */
#include "fdm/core/core.h"

#include <stdio.h>

void fdm_core_isolation_probe(struct fdm_core *c, bool answered, uint64_t started,
			      uint64_t now, struct fdm_actions *out)
{
	bool was = c->iso_answer_ms != 0 && c->iso_answer_ms >= c->iso_silent_ms;

	if (answered) {
		c->iso_answer_ms = now;
	} else {
		c->iso_silent_ms = now;
		c->iso_silent_start_ms = started;
	}
	if (was != answered)
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "isolation-probe" },
			       "%s: isolation addresses %s", c->peers[c->self].id,
			       answered ? "answer" : "do not answer");
}

/* The moment this host had heard no peer for the heard window: the last
 * authenticated packet of any peer + the window; our start when we have heard
 * none yet (a host just started knows nothing of its peers). */
static uint64_t quiet_from(const struct fdm_core *c)
{
	uint64_t last = 0;
	bool heard = false;

	for (size_t i = 0; i < c->n_peers; i++) {
		const struct fdm_peer_state *p = &c->peers[i];

		if (i != c->self && p->ever_heard && (!heard || p->last_heard_ms > last)) {
			last = p->last_heard_ms;
			heard = true;
		}
	}
	return heard ? last + c->timing.heard_window_ms : c->born_ms;
}

/* Every other host's hb record on d read (as master, storage_ha.c) and
 * unchanged for host_dead: they are all dead for d, nobody to mislead. */
static bool others_dead_on(const struct fdm_core *c, size_t d, uint64_t now)
{
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct fdm_ha_host *h = &c->ha.hosts[i];

		if (i == c->self)
			continue;
		if (!h->ds[d].seen || now < h->ds[d].unchanged_since_ms + c->timing.host_dead_ms)
			return false;
	}
	return true;
}

enum fdm_lease_hold fdm_core_lease_hold(const struct fdm_core *c, size_t d, uint64_t now,
					char *why, size_t len)
{
	uint64_t quiet = quiet_from(c);
	bool answer_last = c->iso_answer_ms != 0 && c->iso_answer_ms >= c->iso_silent_ms;

	/* A one-host cluster has nobody to hear and nobody to mislead. */
	if (c->n_peers < 2 || now < quiet || others_dead_on(c, d, now))
		return FDM_HOLD_RENEW;
	if (answer_last && c->iso_answer_ms >= quiet)
		return FDM_HOLD_RENEW;
	if (!answer_last && c->iso_silent_ms != 0 && c->iso_silent_start_ms >= quiet) {
		snprintf(why, len, "isolated: no peer heard for %llu ms and a probe of the "
			 "isolation addresses begun since got no answer, and some other "
			 "host's hb record on %s changed within host_dead",
			 (unsigned long long)(now - quiet + c->timing.heard_window_ms),
			 c->datastore_names[d]);
		return FDM_HOLD_RELEASE;
	}
	snprintf(why, len, "no peer heard for %llu ms: renewals wait for an isolation "
		 "address to answer or a peer to be heard",
		 (unsigned long long)(now - quiet + c->timing.heard_window_ms));
	return FDM_HOLD_PAUSE;
}

bool fdm_core_isolated(const struct fdm_core *c, uint64_t now)
{
	bool answer_last = c->iso_answer_ms != 0 && c->iso_answer_ms >= c->iso_silent_ms;
	uint64_t quiet = quiet_from(c);

	return c->n_peers >= 2 && now >= quiet && !answer_last && c->iso_silent_ms != 0 &&
	       c->iso_silent_start_ms >= quiet;
}
