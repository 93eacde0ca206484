/* Whether this host is isolated as far as leases go (DESIGN.md safety point 4,
 * its end): it hears none of its peers and none of its isolation addresses
 * answers. Such a host acquires no lease, even when it wins an election alone,
 * and a master that finds itself so releases its leases (storage.c): otherwise
 * in a whole-network outage a lone winner's lease looks like a live master to
 * every other isolated host, and they all power their VMs off. The exception:
 * every other host's hb record on the datastore unchanged for host_dead (a
 * two-host cluster whose other host died while the address was down must
 * still recover). The shell probes the addresses (fdm/isolation_probe.c). */
#include "fdm/core/core.h"

#include <stdio.h>

void fdm_core_isolation_probe(struct fdm_core *c, bool answered, uint64_t now,
			      struct fdm_actions *out)
{
	bool was = c->iso_answer_ms != 0 && c->iso_answer_ms >= c->iso_silent_ms;

	if (answered)
		c->iso_answer_ms = now;
	else
		c->iso_silent_ms = now;
	if (was != answered)
		fdm_core_event(out, &(struct fdm_log_fields){ .event = "isolation-probe" },
			       "%s: isolation addresses %s", c->peers[c->self].id,
			       answered ? "answer" : "do not answer");
}

/* Some peer sent us an authenticated packet within the heard window. */
static bool hears_a_peer(const struct fdm_core *c, uint64_t now)
{
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct fdm_peer_state *p = &c->peers[i];

		if (i != c->self && p->ever_heard &&
		    now - p->last_heard_ms <= c->timing.heard_window_ms)
			return true;
	}
	return false;
}

/* The latest probe answered, and recently: an answer older than the heard
 * window and one more probe proves nothing about now. No address configured,
 * or none probed yet: nothing answers. */
static bool reaches_an_address(const struct fdm_core *c, uint64_t now)
{
	return c->iso_answer_ms != 0 && c->iso_answer_ms >= c->iso_silent_ms &&
	       now - c->iso_answer_ms <= (uint64_t)c->timing.heard_window_ms +
					 c->timing.isolation_probe_ms;
}

bool fdm_core_isolated(const struct fdm_core *c, uint64_t now)
{
	/* A one-host cluster has nobody to hear and nobody to mislead. */
	if (c->n_peers < 2)
		return false;
	return !hears_a_peer(c, now) && !reaches_an_address(c, now);
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

bool fdm_core_lease_barred(const struct fdm_core *c, size_t d, uint64_t now,
			   char *why, size_t len)
{
	if (!fdm_core_isolated(c, now) || others_dead_on(c, d, now))
		return false;
	snprintf(why, len, "isolated: no peer heard for %u ms and no isolation address "
		 "answers, and some other host's hb record on %s changed within host_dead",
		 c->timing.heard_window_ms, c->datastore_names[d]);
	return true;
}
