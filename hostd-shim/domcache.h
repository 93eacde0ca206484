/* The shim's last known view of libvirt's domains, kept from the list taken at
 * each (re)connect and from lifecycle events. After a reconnect the new list is
 * compared with it, and what changed while libvirt was away is reported as the
 * events that would have been seen (DESIGN.md "hostd-shim"). */
#ifndef FDM_SHIM_DOMCACHE_H
#define FDM_SHIM_DOMCACHE_H

#include <stddef.h>

#include "hostd-shim/virt.h"

struct shim_domcache {
	struct shim_dom *v;
	size_t n;
};

typedef void (*shim_domcache_emit_fn)(void *ctx, Fdm__EventType type,
				      const struct shim_dom *dom, const char *detail);

void shim_domcache_free(struct shim_domcache *c);

struct shim_dom *shim_domcache_find(struct shim_domcache *c, const char *uuid);

/* Take a fresh full list (ownership of doms passes to the cache). With emit,
 * report the differences: DEFINED for new domains, UNDEFINED for vanished ones,
 * STARTED / STOPPED / PAUSED / RESUMED for state changes. */
void shim_domcache_replace(struct shim_domcache *c, struct shim_dom *doms, size_t n,
			   shim_domcache_emit_fn emit, void *ctx);

/* Apply one lifecycle event to the cache; *full gets the domain as now known
 * (event fields plus memory, vCPUs, persistence from the cache). */
void shim_domcache_apply(struct shim_domcache *c, Fdm__EventType type,
			 const struct shim_dom *ev, struct shim_dom *full);

#endif
