/* What the main loop does with news from libvirt: lifecycle events update the
 * domain cache, answer waiting guest shutdowns, re-fence a protected domain
 * started past its deadline, and go to subscribers; a (re)connect reports what
 * changed meanwhile and lets late fences run; a disconnect is announced. */
#include "hostd-shim/events.h"

#include <systemd/sd-daemon.h>

#include "lib/util.h"
#include "hostd-shim/requests.h"
#include "hostd-shim/shutdown.h"
#include "hostd-shim/translate.h"

static bool is_running(Fdm__DomainState st)
{
	return st == FDM__DOMAIN_STATE__DOMAIN_RUNNING || st == FDM__DOMAIN_STATE__DOMAIN_BLOCKED ||
	       st == FDM__DOMAIN_STATE__DOMAIN_PAUSED;
}

static void on_domain_event(struct shim *s, Fdm__EventType type, const struct shim_dom *dom,
			    const char *detail)
{
	fdm_info("event: %s %s%s%s%s%s", dom->name,
		 protobuf_c_enum_descriptor_get_value(&fdm__event_type__descriptor, type)->name,
		 detail[0] ? ": " : "", detail, dom->has_stop_reason ? ", stop reason " : "",
		 dom->has_stop_reason ? shim_stop_reason_name(dom->stop_reason) : "");
	if (type == FDM__EVENT_TYPE__EVENT_STOPPED || type == FDM__EVENT_TYPE__EVENT_CRASHED ||
	    type == FDM__EVENT_TYPE__EVENT_SHUTDOWN)
		shim_shutdown_domain_stopped(s, dom);
	if (type == FDM__EVENT_TYPE__EVENT_STARTED || type == FDM__EVENT_TYPE__EVENT_RESUMED)
		shim_fence_on_running(s, dom);
	shim_broadcast(s, type, dom, detail);
}

static void emit_diff(void *ctx, Fdm__EventType type, const struct shim_dom *dom,
		      const char *detail)
{
	on_domain_event(ctx, type, dom, detail);
}

static void on_lifecycle(struct shim *s, struct shim_virt_mail *m)
{
	struct shim_dom full;

	shim_domcache_apply(&s->cache, m->type, &m->dom, &full);
	on_domain_event(s, m->type, &full, m->detail);
}

static void on_connected(struct shim *s, struct shim_virt_mail *m)
{
	size_t i, running = 0;

	for (i = 0; i < m->n_doms; i++)
		running += is_running(m->doms[i].state);
	fdm_info("libvirt %s: connected, %zu domains (%zu running)", s->cfg.libvirt_uri,
		 m->n_doms, running);
	s->counters[SHIM_C_LIBVIRT_CONNECTS]++;
	s->connected = true;
	/* The first list is the starting point; later ones are compared with what
	 * was known before the connection was lost. */
	shim_domcache_replace(&s->cache, m->doms, m->n_doms,
			      s->ever_connected ? emit_diff : NULL, s);
	m->doms = NULL;
	s->ever_connected = true;
	shim_broadcast(s, FDM__EVENT_TYPE__EVENT_CONNECTED, NULL, s->cfg.libvirt_uri);
	shim_fence_on_connected(s);
	shim_status(s);
}

static void on_disconnected(struct shim *s, struct shim_virt_mail *m)
{
	fdm_info("libvirt %s: DISCONNECTED (%s); reconnecting", s->cfg.libvirt_uri, m->detail);
	s->counters[SHIM_C_LIBVIRT_DISCONNECTS]++;
	s->connected = false;
	s->disconnected_ms = fdm_now_boottime_ms();
	shim_broadcast(s, FDM__EVENT_TYPE__EVENT_DISCONNECTED, NULL, m->detail);
	shim_fence_rearm(s);
	shim_status(s);
}

void shim_events_handle(struct shim *s, struct shim_mail *mail)
{
	struct shim_virt_mail *m = (struct shim_virt_mail *)mail;

	switch (mail->kind) {
	case SHIM_MAIL_LIFECYCLE:
		on_lifecycle(s, m);
		break;
	case SHIM_MAIL_CONNECTED:
		on_connected(s, m);
		break;
	case SHIM_MAIL_DISCONNECTED:
		on_disconnected(s, m);
		break;
	}
	shim_virt_mail_free(m);
}

void shim_status(struct shim *s)
{
	sd_notifyf(0, "STATUS=libvirt %s, %zu clients, %zu protected domains",
		   s->connected ? "connected" : "disconnected", s->n_clients, s->dl.n);
}
