/* VM protection in the agent's shell: what the local hostd-shim says goes to
 * the core (the listing, free memory, why a VM stopped), and what the core asks
 * of this host is carried out through it (power-ons, a VM's definition for
 * fdmctl protect, power-offs at a datastore's deadline), and every deadline is
 * handed to the shim, which enforces it if this agent dies (DESIGN.md point 5).
 * Results come back to the core from the loop, never from inside the list of
 * actions being carried out. */
#include "fdm/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdm/core/deadline.h"
#include "fdm/vmhost.h"
#include "lib/log.h"
#include "lib/util.h"

/* A result for the core, handed over at the loop's next turn. */
struct later {
	struct later *next;
	struct fdm_ha_shell *shell;
	enum { LATER_POWER_ON, LATER_DEFINE, LATER_INHERIT } kind;
	char vm[FDM_VM_NAME_MAX];
	uint32_t restarts;
	bool ok, maybe_started;
	char message[FDM_HA_WHY_MAX];
	uint64_t request_id;
	int asker;                     /* LATER_DEFINE: for this host's core, or another's */
	struct fdm_vm_define def;
	char *xml;                     /* ... found, for another host: sent to it */
	struct fdm_vm_deadline *dl;    /* LATER_INHERIT: what the shim held */
	size_t n_dl;
};

struct fdm_ha_shell {
	struct fdm_agent *agent;
	struct fdm_vmhost *host;
	sd_event_source *later_src;
	struct later *later, **later_tail;
	/* The names of the last listing, as the core takes them. */
	char (*runs)[FDM_VM_NAME_MAX];
	size_t cap_runs;
	/* The deadlines the shim holds as far as we know (last sent and answered). */
	struct fdm_vm_deadline *sent, *now;
	size_t n_sent;
	bool sent_ok, set_inflight;
	/* A restarted agent hands the shim nothing before it has taken what the
	 * shim holds (DESIGN.md point 5, deadline_inherit.c). */
	bool inherited, get_inflight, get_failed_logged;
	uint64_t sent_at_ms, listed_ms;
};

/* Same as vSphere: a VM shut down from inside or by an operator stays off. */
static enum fdm_stop_reason reason_of(Fdm__StopReason r)
{
	switch (r) {
	case FDM__STOP_REASON__STOP_CRASHED:
		return FDM_STOP_CRASHED;
	case FDM__STOP_REASON__STOP_SHUTDOWN:
	case FDM__STOP_REASON__STOP_DESTROYED:
		return FDM_STOP_USER;
	default:
		return FDM_STOP_OTHER;
	}
}

static void feed_listing(struct fdm_ha_shell *s, uint64_t now)
{
	const struct fdm_vmhost_view *v = fdm_vmhost_view(s->host);
	struct fdm_agent *a = s->agent;
	struct fdm_local_view lv;
	size_t n = 0;

	if (s->cap_runs < v->n_vms) {
		void *p = realloc(s->runs, v->n_vms * sizeof(*s->runs));

		if (p == NULL)
			return;
		s->runs = p;
		s->cap_runs = v->n_vms;
	}
	for (size_t i = 0; i < v->n_vms; i++)
		if (v->vms[i].active && fdm_strlcpy(s->runs[n], v->vms[i].name, FDM_VM_NAME_MAX))
			n++;
	memset(&lv, 0, sizeof(lv));
	lv.connected = v->shim_connected && v->libvirt_connected && v->listed;
	lv.listed_ms = v->listed_at_ms;
	lv.free_kib = v->free_memory_kib;
	lv.total_kib = v->total_memory_kib;
	lv.n_runs = n;
	lv.runs = (const char (*)[FDM_VM_NAME_MAX])s->runs;
	fdm_ha_on_local(&a->core, &lv, now, &a->actions);
}

static void on_host_change(struct fdm_vmhost *h, void *userdata)
{
	struct fdm_ha_shell *s = userdata;
	struct fdm_agent *a = s->agent;
	uint64_t now = fdm_agent_now();
	struct fdm_domain_stop stop;

	while (fdm_vmhost_next_stop(h, &stop))
		fdm_ha_on_local_stop(&a->core, stop.name, reason_of(stop.reason), now, &a->actions);
	feed_listing(s, now);
	fdm_agent_execute(a, now);
}

/* ----------------------------------------------------------- later results */

static void queue_later(struct fdm_ha_shell *s, struct later *l)
{
	l->next = NULL;
	*s->later_tail = l;
	s->later_tail = &l->next;
	sd_event_source_set_enabled(s->later_src, SD_EVENT_ONESHOT);
}

static int on_later(sd_event_source *src, void *userdata)
{
	struct fdm_ha_shell *s = userdata;
	struct fdm_agent *a = s->agent;
	uint64_t now = fdm_agent_now();
	struct later *l = s->later;

	(void)src;
	s->later = NULL;
	s->later_tail = &s->later;
	while (l != NULL) {
		struct later *next = l->next;

		if (l->kind == LATER_INHERIT) {
			fdm_core_inherit_deadlines(&a->core, l->dl, l->n_dl, now, &a->actions);
			s->inherited = true;
			s->get_inflight = false;
		} else if (l->kind == LATER_POWER_ON)
			fdm_ha_on_power_on_done(&a->core, l->vm, l->restarts, l->ok,
						l->maybe_started, l->message,
						now, &a->actions);
		else if ((size_t)l->asker == a->core.self)
			fdm_ha_on_define(&a->core, l->request_id, l->asker, &l->def, now,
					 &a->actions);
		else
			fdm_ha_net_defined(a->hanet, l->asker, l->request_id, l->vm, &l->def,
					   l->xml, now);
		free(l->xml);
		free(l->dl);
		free(l);
		l = next;
	}
	fdm_agent_execute(a, now);
	return 0;
}

/* ---------------------------------------------------------------- power-on */

static void on_powered(const struct fdm_domain_result *r, void *userdata)
{
	struct later *l = userdata;
	struct fdm_ha_shell *s = l->shell;

	l->ok = r->error == 0 && r->result == FDM__RESULT_CODE__RESULT_OK;
	/* libvirt said no: the domain did not start. No answer, a timeout or an
	 * "invalid state" (it runs already) may mean it runs. */
	l->maybe_started = l->ok || r->error != 0 ||
			   r->result == FDM__RESULT_CODE__RESULT_TIMEOUT ||
			   r->result == FDM__RESULT_CODE__RESULT_DISCONNECTED ||
			   r->result == FDM__RESULT_CODE__RESULT_INVALID_STATE;
	if (!l->ok)
		fdm_strlcpy(l->message, r->message != NULL ? r->message : "hostd-shim: no answer",
			    sizeof(l->message));
	queue_later(s, l);
}

void fdm_ha_shell_power_on(struct fdm_ha_shell *s, const struct fdm_action *act)
{
	struct fdm_agent *a = s->agent;
	struct later *l = calloc(1, sizeof(*l));
	const char *xml;

	if (l == NULL)
		return;
	l->shell = s;
	l->kind = LATER_POWER_ON;
	fdm_strlcpy(l->vm, act->vm, sizeof(l->vm));
	l->restarts = act->restarts;
	xml = fdm_datastores_vm_xml(&a->datastores, act->ds, act->vm);
	if (xml == NULL) {
		fdm_strlcpy(l->message, "its definition is not in this host's read of the "
			    "protectedlist yet", sizeof(l->message));
		queue_later(s, l);
		return;
	}
	/* The shim holds the deadline before it starts the domain, and refuses a
	 * power-on whose deadline has passed. The core's clock is CLOCK_BOOTTIME
	 * (fdm_agent_now), the shim's clock for deadlines: passed as is. */
	if (fdm_vmhost_power_on(s->host, xml, act->ds >= 0 ?
				fdm_deadline_of(&a->core, (size_t)act->ds) : 0, on_powered, l) < 0) {
		fdm_strlcpy(l->message, "hostd-shim is not connected", sizeof(l->message));
		queue_later(s, l);
	}
}

/* --------------------------------------------------------------- power-off */

static void on_powered_off(const struct fdm_domain_result *r, void *userdata)
{
	char *vm = userdata;

	/* The core asks again every io_timeout while the VM still runs; the shim
	 * holds the passed deadline and retries too. */
	if (r->error != 0 || r->result != FDM__RESULT_CODE__RESULT_OK)
		fdm_err("power-off of %s failed: %s", vm, r->message);
	free(vm);
}

void fdm_ha_shell_power_off(struct fdm_ha_shell *s, const struct fdm_action *act)
{
	char *vm = strdup(act->vm);

	if (vm == NULL)
		return;
	/* The isolation response `shutdown`: the guest first, destroyed at the timeout. */
	if (act->shutdown_ms != 0) {
		if (fdm_vmhost_shutdown(s->host, vm, act->shutdown_ms, on_powered_off, vm) < 0) {
			fdm_err("shutdown of %s: hostd-shim is not connected", vm);
			free(vm);
		}
		return;
	}
	if (fdm_vmhost_power_off(s->host, vm, on_powered_off, vm) < 0) {
		fdm_err("power-off of %s at its deadline: hostd-shim is not connected "
			"(it enforces the deadline it holds)", vm);
		free(vm);
	}
}

/* --------------------------------------------------------------- deadlines */

static void on_deadlines_set(const struct fdm_domain_result *r, void *userdata)
{
	struct fdm_ha_shell *s = userdata;

	s->set_inflight = false;
	s->sent_ok = r->error == 0 && r->result == FDM__RESULT_CODE__RESULT_OK;
	if (!s->sent_ok && r->error != -ECANCELED)
		fdm_warn("hostd-shim did not take the deadlines: %s", r->message);
}

static bool same_deadlines(const struct fdm_ha_shell *s, size_t n)
{
	if (!s->sent_ok || n != s->n_sent)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->sent[i].name, s->now[i].name) != 0 ||
		    s->sent[i].deadline_ms != s->now[i].deadline_ms)
			return false;
	return true;
}

/* The shim holds the list the core gives now (a clean stop waits for it: the
 * VMs whose datastores say `stopped` leave the list and run on). */
bool fdm_ha_shell_deadlines_synced(struct fdm_ha_shell *s)
{
	size_t n;

	if (s == NULL || !fdm_vmhost_view(s->host)->shim_connected)
		return true;      /* nothing to hand over: the shim keeps what it holds */
	if (!s->inherited || s->set_inflight || !s->sent_ok)
		return false;
	n = fdm_deadline_list(&s->agent->core, s->now, FDM_MAX_LOCAL_VMS);
	return same_deadlines(s, n);
}

/* What the shim holds, for the core (deadline_inherit.c), from the loop. */
static void on_deadlines_got(const struct fdm_domain_result *r, void *userdata)
{
	struct fdm_ha_shell *s = userdata;
	struct later *l;

	if (r->error != 0 || r->result != FDM__RESULT_CODE__RESULT_OK ||
	    (l = calloc(1, sizeof(*l))) == NULL ||
	    (l->dl = calloc(r->n_deadlines ? r->n_deadlines : 1, sizeof(*l->dl))) == NULL) {
		s->get_inflight = false;   /* asked again at the next step */
		if (r->error != -ECANCELED && !s->get_failed_logged)
			fdm_warn("hostd-shim: cannot read the deadlines it holds (%s): no "
				 "deadline is handed to it until it answers", r->message);
		s->get_failed_logged = true;
		return;
	}
	l->shell = s;
	l->kind = LATER_INHERIT;
	for (size_t i = 0; i < r->n_deadlines; i++) {
		const Fdm__DomainDeadline *d = r->deadlines[i];
		const char *name = d->domain->name ? d->domain->name : d->domain->uuid;

		if (name == NULL || !fdm_strlcpy(l->dl[l->n_dl].name, name, FDM_VM_NAME_MAX))
			continue;
		l->dl[l->n_dl].ds = -1;
		l->dl[l->n_dl].deadline_ms = d->boottime_ms;
		l->n_dl++;
	}
	queue_later(s, l);
}

/* With every step: the deadlines the core gives now go to the shim when they
 * changed, and at least every io_timeout. The times are the core's clock,
 * CLOCK_BOOTTIME (fdm_agent_now), as the shim wants them: absolute, never a
 * duration a queued message would stretch. */
void fdm_ha_shell_deadlines(struct fdm_ha_shell *s, uint64_t now)
{
	struct fdm_agent *a = s->agent;
	const char *names[FDM_MAX_LOCAL_VMS];
	uint64_t at[FDM_MAX_LOCAL_VMS];
	size_t n;

	/* At most every 100 ms: the list costs VMs x running domains, and the
	 * agent itself powers off at the deadline; the shim is the backstop. */
	if (!s->inherited) {
		if (!s->get_inflight && fdm_vmhost_get_deadlines(s->host, on_deadlines_got, s) == 0)
			s->get_inflight = true;
		return;
	}
	if (s->set_inflight || now < s->listed_ms + 100)
		return;
	s->listed_ms = now;
	n = fdm_deadline_list(&a->core, s->now, FDM_MAX_LOCAL_VMS);
	if (same_deadlines(s, n) && now < s->sent_at_ms + a->core.timing.io_timeout_ms)
		return;
	for (size_t i = 0; i < n; i++) {
		names[i] = s->now[i].name;
		at[i] = s->now[i].deadline_ms;
	}
	if (fdm_vmhost_set_deadlines(s->host, names, at, n, on_deadlines_set, s) < 0)
		return;   /* not connected: sent once it is */
	s->set_inflight = true;
	s->sent_ok = false;
	memcpy(s->sent, s->now, n * sizeof(s->sent[0]));
	s->n_sent = n;
	s->sent_at_ms = now;
}

/* ------------------------------------------------------------- definitions */

/* The configured datastore that holds the file at path: a file:// datastore
 * whose directory contains it (network disks and nfs:// datastores are named
 * with --datastore). */
static int datastore_of_path(const struct fdm_config *cfg, const char *path)
{
	for (size_t d = 0; d < cfg->n_datastores; d++) {
		const char *url = cfg->datastores[d].url;
		size_t n;

		if (strncmp(url, "file://", 7) != 0)
			continue;
		url += 7;
		n = strlen(url);
		while (n > 1 && url[n - 1] == '/')
			n--;
		if (strncmp(path, url, n) == 0 && path[n] == '/')
			return (int)d;
	}
	return -1;
}

/* The first <source file='...'/> of the domain XML (a plain scan: libvirt
 * writes it this way; anything else means "ask for --datastore"). */
static int first_disk_datastore(const struct fdm_config *cfg, const char *xml)
{
	const char *p = strstr(xml, "<disk");
	char path[1024];
	const char *q, *end;

	if (p == NULL || (q = strstr(p, "<source file=")) == NULL)
		return -1;
	q += strlen("<source file=");
	if (*q != '\'' && *q != '"')
		return -1;
	end = strchr(q + 1, *q);
	if (end == NULL || (size_t)(end - q - 1) >= sizeof(path))
		return -1;
	memcpy(path, q + 1, (size_t)(end - q - 1));
	path[end - q - 1] = '\0';
	return datastore_of_path(cfg, path);
}

static void on_xml(const struct fdm_domain_result *r, void *userdata)
{
	struct later *l = userdata;
	struct fdm_ha_shell *s = l->shell;
	struct fdm_agent *a = s->agent;
	const struct fdm_domain *dom = fdm_vmhost_find(s->host, l->vm);

	l->def.runs = true;   /* it was running when asked */
	if (r->error != 0 || r->result != FDM__RESULT_CODE__RESULT_OK || r->xml == NULL ||
	    dom == NULL) {
		snprintf(l->def.message, sizeof(l->def.message), "its definition could not be "
			 "read: %s", r->message != NULL ? r->message : "no answer");
		queue_later(s, l);
		return;
	}
	if ((size_t)l->asker != a->core.self && (l->xml = strdup(r->xml)) == NULL) {
		fdm_strlcpy(l->def.message, "out of memory", sizeof(l->def.message));
		queue_later(s, l);
		return;
	}
	l->def.found = true;
	fdm_strlcpy(l->def.uuid, dom->uuid, sizeof(l->def.uuid));
	l->def.memory_kib = dom->memory_kib;
	l->def.vcpus = dom->vcpus;
	l->def.disk_ds = first_disk_datastore(&a->cfg, r->xml);
	/* The master writes it where the core decides: stage it for each. Another
	 * host's master does the same with what ha_net.c sends it. */
	if ((size_t)l->asker == a->core.self)
		for (size_t d = 0; d < a->cfg.n_datastores; d++)
			fdm_datastores_stage_vm(&a->datastores, (int)d, l->vm, dom->uuid, r->xml,
						dom->memory_kib, dom->vcpus);
	queue_later(s, l);
}

void fdm_ha_shell_define(struct fdm_ha_shell *s, const struct fdm_action *act)
{
	if ((size_t)act->to != s->agent->core.self)
		return;   /* another host's: asked over the network (ha_net.c) */
	fdm_ha_shell_define_for(s, act->to, act->request_id, act->vm);
}

void fdm_ha_shell_define_for(struct fdm_ha_shell *s, int asker, uint64_t id, const char *vm)
{
	struct later *l;
	const struct fdm_domain *dom;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return;
	l->shell = s;
	l->kind = LATER_DEFINE;
	l->request_id = id;
	l->asker = asker;
	l->def.disk_ds = -1;
	fdm_strlcpy(l->vm, vm, sizeof(l->vm));
	dom = fdm_vmhost_find(s->host, vm);
	if (dom == NULL || !dom->active) {
		snprintf(l->def.message, sizeof(l->def.message), "%s does not run on %s",
			 vm, s->agent->cfg.host_id);
		queue_later(s, l);
		return;
	}
	if (fdm_vmhost_get_xml(s->host, vm, on_xml, l) < 0) {
		l->def.runs = true;
		fdm_strlcpy(l->def.message, "hostd-shim is not connected", sizeof(l->def.message));
		queue_later(s, l);
	}
}

/* ------------------------------------------------------------------ set-up */

int fdm_ha_shell_open(struct fdm_agent *a, struct fdm_ha_shell **out, char *err, size_t errlen)
{
	struct fdm_ha_shell *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->agent = a;
	s->later_tail = &s->later;
	s->sent = calloc(FDM_MAX_LOCAL_VMS, sizeof(*s->sent));
	s->now = calloc(FDM_MAX_LOCAL_VMS, sizeof(*s->now));
	if (s->sent == NULL || s->now == NULL ||
	    sd_event_add_defer(a->event, &s->later_src, on_later, s) < 0 ||
	    sd_event_source_set_enabled(s->later_src, SD_EVENT_OFF) < 0 ||
	    fdm_vmhost_new(a->event, a->cfg.hostd_socket, a->cfg.io_timeout_ms, on_host_change, s,
			   &s->host) < 0) {
		snprintf(err, errlen, "cannot set up the link to hostd-shim (%s)",
			 a->cfg.hostd_socket);
		fdm_ha_shell_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

void fdm_ha_shell_close(struct fdm_ha_shell *s)
{
	if (s == NULL)
		return;
	if (s->host != NULL)
		fdm_vmhost_free(s->host);
	sd_event_source_disable_unref(s->later_src);
	while (s->later != NULL) {
		struct later *next = s->later->next;

		free(s->later->xml);
		free(s->later->dl);
		free(s->later);
		s->later = next;
	}
	free(s->runs);
	free(s->sent);
	free(s->now);
	free(s);
}
