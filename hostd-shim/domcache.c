/* Last known domain states and the reconnect diff (domcache.h). */
#include "hostd-shim/domcache.h"

#include <stdlib.h>
#include <string.h>

void shim_domcache_free(struct shim_domcache *c)
{
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

struct shim_dom *shim_domcache_find(struct shim_domcache *c, const char *uuid)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->v[i].uuid, uuid) == 0)
			return &c->v[i];
	return NULL;
}

static bool running(Fdm__DomainState s)
{
	return s == FDM__DOMAIN_STATE__DOMAIN_RUNNING || s == FDM__DOMAIN_STATE__DOMAIN_BLOCKED ||
	       s == FDM__DOMAIN_STATE__DOMAIN_PAUSED || s == FDM__DOMAIN_STATE__DOMAIN_SHUTDOWN ||
	       s == FDM__DOMAIN_STATE__DOMAIN_PMSUSPENDED;
}

static bool crashed(const struct shim_dom *d)
{
	return d->state == FDM__DOMAIN_STATE__DOMAIN_CRASHED ||
	       (d->has_stop_reason && d->stop_reason == FDM__STOP_REASON__STOP_CRASHED);
}

/* The event a state change old -> d amounts to, or -1. */
static int change_event(Fdm__DomainState old, const struct shim_dom *d)
{
	Fdm__DomainState now = d->state;

	if (!running(old) && running(now))
		return FDM__EVENT_TYPE__EVENT_STARTED;
	if (running(old) && !running(now))
		return crashed(d) ? FDM__EVENT_TYPE__EVENT_CRASHED : FDM__EVENT_TYPE__EVENT_STOPPED;
	if (old != FDM__DOMAIN_STATE__DOMAIN_PAUSED && now == FDM__DOMAIN_STATE__DOMAIN_PAUSED)
		return FDM__EVENT_TYPE__EVENT_PAUSED;
	if (old == FDM__DOMAIN_STATE__DOMAIN_PAUSED && now == FDM__DOMAIN_STATE__DOMAIN_RUNNING)
		return FDM__EVENT_TYPE__EVENT_RESUMED;
	return -1;
}

static void emit_diff(struct shim_domcache *c, const struct shim_dom *doms, size_t n,
		      shim_domcache_emit_fn emit, void *ctx)
{
	const char *why = "while libvirt was disconnected";
	size_t i, j;

	for (i = 0; i < n; i++) {
		struct shim_dom *old = shim_domcache_find(c, doms[i].uuid);
		int ev;

		if (old == NULL) {
			emit(ctx, FDM__EVENT_TYPE__EVENT_DEFINED, &doms[i], why);
			if (running(doms[i].state))
				emit(ctx, FDM__EVENT_TYPE__EVENT_STARTED, &doms[i], why);
			continue;
		}
		ev = change_event(old->state, &doms[i]);
		if (ev >= 0)
			emit(ctx, (Fdm__EventType)ev, &doms[i], why);
	}
	for (j = 0; j < c->n; j++) {
		bool found = false;

		for (i = 0; i < n && !found; i++)
			found = strcmp(doms[i].uuid, c->v[j].uuid) == 0;
		if (found)
			continue;
		if (running(c->v[j].state)) {
			struct shim_dom off = c->v[j];

			off.state = FDM__DOMAIN_STATE__DOMAIN_SHUTOFF;
			off.has_stop_reason = true;   /* gone: libvirt cannot say why */
			off.stop_reason = FDM__STOP_REASON__STOP_UNKNOWN;
			emit(ctx, FDM__EVENT_TYPE__EVENT_STOPPED, &off, why);
		}
		if (c->v[j].persistent)
			emit(ctx, FDM__EVENT_TYPE__EVENT_UNDEFINED, &c->v[j], why);
	}
}

void shim_domcache_replace(struct shim_domcache *c, struct shim_dom *doms, size_t n,
			   shim_domcache_emit_fn emit, void *ctx)
{
	if (emit != NULL)
		emit_diff(c, doms, n, emit, ctx);
	free(c->v);
	c->v = doms;
	c->n = n;
}

static void remove_at(struct shim_domcache *c, struct shim_dom *d)
{
	size_t i = (size_t)(d - c->v);

	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*d));
	c->n--;
}

void shim_domcache_apply(struct shim_domcache *c, Fdm__EventType type,
			 const struct shim_dom *ev, struct shim_dom *full)
{
	struct shim_dom *d = shim_domcache_find(c, ev->uuid);

	if (d == NULL) {
		struct shim_dom *nv = realloc(c->v, (c->n + 1) * sizeof(*nv));

		*full = *ev;
		if (full->state == FDM__DOMAIN_STATE__DOMAIN_UNKNOWN)
			full->state = FDM__DOMAIN_STATE__DOMAIN_SHUTOFF;
		full->persistent = type == FDM__EVENT_TYPE__EVENT_DEFINED;
		if (type == FDM__EVENT_TYPE__EVENT_UNDEFINED || nv == NULL) {
			if (nv != NULL)
				c->v = nv;
			return;
		}
		c->v = nv;
		c->v[c->n++] = *full;
		return;
	}
	/* An event that names a state also says why it is off, or that it is not. */
	if (ev->state != FDM__DOMAIN_STATE__DOMAIN_UNKNOWN) {
		d->state = ev->state;
		d->has_stop_reason = ev->has_stop_reason;
		d->stop_reason = ev->stop_reason;
	}
	if (type == FDM__EVENT_TYPE__EVENT_DEFINED)
		d->persistent = true;
	if (type == FDM__EVENT_TYPE__EVENT_UNDEFINED)
		d->persistent = false;
	*full = *d;
	/* A transient domain that is off, or an undefined one, no longer exists. */
	if (!d->persistent && !running(d->state))
		remove_at(c, d);
}
