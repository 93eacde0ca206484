/* The agent's view of its host's VMs through hostd-shim (vmhost.h).
 *
 * `vms` is the last listing, replaced whole by the next one: events never
 * edit it, so its stamp stays true (see listed_at_ms). Events only ask for a
 * new listing, and feed the stop queue (vmstops.c: each stop reported once,
 * from the event or, when the event was lost, from two listings). */
#include "fdm/vmhost.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hostd-shim/client.h"
#include "lib/log.h"
#include "lib/util.h"
#include "fdm/vmstops.h"

struct fdm_vmhost {
	sd_event *event;
	struct hostd_client *client;
	uint32_t refresh_ms;
	fdm_vmhost_change_fn on_change;
	void *userdata;
	sd_event_source *refresh_timer;
	bool freeing;
	bool ever_connected;
	char socket_path[108];
	uint64_t unreachable_logged_ms;  /* last "cannot reach the shim" line */

	struct fdm_vmhost_view view;
	struct fdm_domain *vms;          /* view.vms, owned */
	bool list_inflight, list_again, res_inflight;
	uint64_t list_sent_ms, res_sent_ms;

	struct fdm_vmstops stops;
};

/* One power operation or get_xml in flight. */
struct op {
	struct fdm_vmhost *h;
	fdm_vmhost_done_fn cb;
	void *userdata;
};

static void changed(struct fdm_vmhost *h)
{
	h->view.stops_dropped = h->stops.dropped;
	if (h->on_change != NULL && !h->freeing)
		h->on_change(h, h->userdata);
}

static bool active(Fdm__DomainState s)
{
	return s != FDM__DOMAIN_STATE__DOMAIN_SHUTOFF;
}

/* DomainInfo -> fdm_vm. false for names or UUIDs too long to keep. */
static bool vm_from_pb(struct fdm_domain *vm, const Fdm__DomainInfo *d)
{
	memset(vm, 0, sizeof(*vm));
	if (!fdm_strlcpy(vm->name, d->name, sizeof(vm->name)) ||
	    !fdm_strlcpy(vm->uuid, d->uuid, sizeof(vm->uuid)))
		return false;
	vm->state = d->state;
	vm->active = active(d->state);
	vm->memory_kib = d->memory_kib;
	vm->vcpus = d->vcpus;
	vm->persistent = d->persistent;
	vm->has_stop_reason = d->has_stop_reason;
	vm->stop_reason = d->stop_reason;
	return true;
}

bool fdm_vmhost_next_stop(struct fdm_vmhost *h, struct fdm_domain_stop *out)
{
	return fdm_vmstops_next(&h->stops, out);
}

/* --------------------------------------------------------------- listing */

static void refresh(struct fdm_vmhost *h);

static uint32_t list_timeout(const struct fdm_vmhost *h)
{
	uint32_t t = 2 * h->refresh_ms;

	return t < 1000 ? 1000 : t > 30000 ? 30000 : t;
}

static void apply_listing(struct fdm_vmhost *h, const Fdm__ShimReply *r)
{
	struct fdm_domain *nv = calloc(r->n_domains + 1, sizeof(*nv));
	size_t i, n = 0;

	if (nv == NULL) {
		fdm_err("hostd-shim: out of memory for a listing of %zu VMs", r->n_domains);
		return;
	}
	for (i = 0; i < r->n_domains; i++)
		if (vm_from_pb(&nv[n], r->domains[i]))
			n++;
	if (h->view.listed_at_ms != 0)
		fdm_vmstops_listing(&h->stops, h->vms, h->view.n_vms, nv, n, h->list_sent_ms,
				    fdm_now_boottime_ms());
	free(h->vms);
	h->vms = nv;
	h->view.vms = nv;
	h->view.n_vms = n;
	h->view.listed = true;
	h->view.listed_at_ms = h->list_sent_ms;
}

static void set_libvirt(struct fdm_vmhost *h, bool connected)
{
	if (h->view.libvirt_connected != connected)
		fdm_info("hostd-shim: libvirt %s", connected ? "connected" : "NOT CONNECTED");
	h->view.libvirt_connected = connected;
}

static void on_list(const Fdm__ShimReply *r, int error, void *userdata)
{
	struct fdm_vmhost *h = userdata;

	if (h->freeing)
		return;
	h->list_inflight = false;
	if (r != NULL && r->result == FDM__RESULT_CODE__RESULT_OK) {
		set_libvirt(h, true);
		apply_listing(h, r);
	} else if (r != NULL && r->result == FDM__RESULT_CODE__RESULT_DISCONNECTED) {
		set_libvirt(h, false);
	} else if (r != NULL) {
		fdm_warn("hostd-shim: list domains: %s", r->message ? r->message : "failed");
	} else if (error == -ETIMEDOUT) {
		fdm_warn("hostd-shim: list domains: no answer within %u ms", list_timeout(h));
	}
	if (h->list_again) {
		h->list_again = false;
		refresh(h);
	}
	changed(h);
}

static void on_resources(const Fdm__ShimReply *r, int error, void *userdata)
{
	struct fdm_vmhost *h = userdata;

	(void)error;
	if (h->freeing)
		return;
	h->res_inflight = false;
	if (r == NULL || r->result != FDM__RESULT_CODE__RESULT_OK || r->resources == NULL)
		return;
	h->view.resources_at_ms = h->res_sent_ms;
	h->view.total_memory_kib = r->resources->total_memory_kib;
	h->view.free_memory_kib = r->resources->free_memory_kib;
	h->view.cpus = r->resources->cpus;
	changed(h);
}

/* List, and fetch the resources, unless already asked (then once more after). */
static void refresh(struct fdm_vmhost *h)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__ListDomainsRequest list = FDM__LIST_DOMAINS_REQUEST__INIT;
	Fdm__HostResourcesRequest res = FDM__HOST_RESOURCES_REQUEST__INIT;

	if (!hostd_client_connected(h->client))
		return;
	if (h->list_inflight) {
		h->list_again = true;
	} else {
		req.op_case = FDM__SHIM_REQUEST__OP_LIST_DOMAINS;
		req.list_domains = &list;
		/* Stamped before sending: libvirt lists at or after this moment. */
		h->list_sent_ms = fdm_now_boottime_ms();
		h->list_inflight = hostd_client_call(h->client, &req, list_timeout(h),
						     on_list, h) == 0;
	}
	if (!h->res_inflight) {
		req.op_case = FDM__SHIM_REQUEST__OP_HOST_RESOURCES;
		req.host_resources = &res;
		h->res_sent_ms = fdm_now_boottime_ms();
		h->res_inflight = hostd_client_call(h->client, &req, list_timeout(h),
						    on_resources, h) == 0;
	}
}

static int on_refresh_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fdm_vmhost *h = userdata;

	refresh(h);
	sd_event_source_set_time(s, usec + (uint64_t)h->refresh_ms * 1000);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

/* ---------------------------------------------------------------- events */

static void on_domain_event(struct fdm_vmhost *h, const Fdm__ShimEvent *ev)
{
	const Fdm__DomainInfo *d = ev->domain;

	if (d == NULL || strlen(d->name) >= FDM_DOMAIN_NAME_MAX || strlen(d->uuid) >= FDM_DOMAIN_UUID_MAX)
		return;
	/* A crashed guest that libvirt holds (on_crash=preserve) is not off. */
	if ((ev->type == FDM__EVENT_TYPE__EVENT_STOPPED ||
	     ev->type == FDM__EVENT_TYPE__EVENT_CRASHED) &&
	    d->state == FDM__DOMAIN_STATE__DOMAIN_SHUTOFF)
		fdm_vmstops_event(&h->stops, d->name, d->uuid, ev->has_stop_reason ?
				  ev->stop_reason : FDM__STOP_REASON__STOP_UNKNOWN, ev->detail,
				  fdm_now_boottime_ms());
	if (ev->type == FDM__EVENT_TYPE__EVENT_STARTED ||
	    ev->type == FDM__EVENT_TYPE__EVENT_RESUMED)
		fdm_vmstops_started(&h->stops, d->uuid);
}

static void on_event(const Fdm__ShimEvent *ev, void *userdata)
{
	struct fdm_vmhost *h = userdata;

	switch (ev->type) {
	case FDM__EVENT_TYPE__EVENT_DISCONNECTED:
		set_libvirt(h, false);
		break;
	case FDM__EVENT_TYPE__EVENT_CONNECTED:
		set_libvirt(h, true);
		break;
	default:
		on_domain_event(h, ev);
		break;
	}
	refresh(h);
	changed(h);
}

static void on_connection(bool connected, void *userdata)
{
	struct fdm_vmhost *h = userdata;

	if (h->freeing)
		return;
	h->view.shim_connected = connected;
	h->view.listed = false;
	if (connected) {
		fdm_info("hostd-shim: connected");
		if (h->ever_connected)
			h->view.reconnects++;
		h->ever_connected = true;
		refresh(h);
	} else {
		fdm_warn("hostd-shim: CONNECTION LOST; reconnecting");
		set_libvirt(h, false);
		h->list_inflight = h->res_inflight = h->list_again = false;
	}
	changed(h);
}

/* ------------------------------------------------------------ operations */

static void on_op(const Fdm__ShimReply *r, int error, void *userdata)
{
	struct op *op = userdata;
	struct fdm_domain_result res = { .error = error, .message = "" };
	struct fdm_domain vm;

	if (r != NULL) {
		res.result = r->result;
		res.message = r->message ? r->message : "";
		if (r->domain != NULL && vm_from_pb(&vm, r->domain))
			res.vm = &vm;
		if (r->result == FDM__RESULT_CODE__RESULT_OK) {
			res.xml = r->xml;
			res.deadlines = r->deadlines;
			res.n_deadlines = r->n_deadlines;
		}
	} else {
		res.result = FDM__RESULT_CODE__RESULT_ERROR;
		res.message = error == -ETIMEDOUT ? "no answer from hostd-shim in time" :
			      error == -ECANCELED ? "cancelled" : "connection to hostd-shim lost";
	}
	/* What it did comes back as an event, and the event asks for a listing. */
	op->cb(&res, op->userdata);
	free(op);
}

static int send_op_within(struct fdm_vmhost *h, Fdm__ShimRequest *req, uint32_t timeout_ms,
			  fdm_vmhost_done_fn cb, void *userdata)
{
	struct op *op;
	int rc;

	if (cb == NULL)
		return -EINVAL;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return -ENOMEM;
	op->h = h;
	op->cb = cb;
	op->userdata = userdata;
	rc = hostd_client_call(h->client, req, timeout_ms, on_op, op);
	if (rc < 0)
		free(op);
	return rc;
}

static int send_op(struct fdm_vmhost *h, Fdm__ShimRequest *req, fdm_vmhost_done_fn cb,
		   void *userdata)
{
	return send_op_within(h, req, FDM_VMHOST_POWER_TIMEOUT_MS, cb, userdata);
}

static bool is_uuid(const char *s)
{
	return strlen(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-';
}

static void set_ref(Fdm__DomainRef *ref, const char *domain)
{
	fdm__domain_ref__init(ref);
	if (is_uuid(domain))
		ref->uuid = (char *)domain;
	else
		ref->name = (char *)domain;
}

int fdm_vmhost_power_on(struct fdm_vmhost *h, const char *xml, uint64_t deadline_boottime_ms,
			fdm_vmhost_done_fn cb, void *userdata)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__PowerOnRequest on = FDM__POWER_ON_REQUEST__INIT;

	if (xml == NULL || xml[0] == '\0')
		return -EINVAL;
	on.xml = (char *)xml;
	on.has_deadline_boottime_ms = deadline_boottime_ms != 0;
	on.deadline_boottime_ms = deadline_boottime_ms;
	req.op_case = FDM__SHIM_REQUEST__OP_POWER_ON;
	req.power_on = &on;
	return send_op(h, &req, cb, userdata);
}

int fdm_vmhost_power_off(struct fdm_vmhost *h, const char *domain, fdm_vmhost_done_fn cb,
			 void *userdata)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__PowerOffRequest off = FDM__POWER_OFF_REQUEST__INIT;
	Fdm__DomainRef ref;

	if (domain == NULL || domain[0] == '\0')
		return -EINVAL;
	set_ref(&ref, domain);
	off.domain = &ref;
	req.op_case = FDM__SHIM_REQUEST__OP_POWER_OFF;
	req.power_off = &off;
	return send_op(h, &req, cb, userdata);
}

int fdm_vmhost_shutdown(struct fdm_vmhost *h, const char *domain, uint32_t timeout_ms,
			fdm_vmhost_done_fn cb, void *userdata)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__ShutdownRequest sd = FDM__SHUTDOWN_REQUEST__INIT;
	Fdm__DomainRef ref;

	if (domain == NULL || domain[0] == '\0')
		return -EINVAL;
	set_ref(&ref, domain);
	sd.domain = &ref;
	sd.timeout_ms = timeout_ms;
	req.op_case = FDM__SHIM_REQUEST__OP_SHUTDOWN;
	req.shutdown = &sd;
	/* The shim answers once the guest is off or it destroyed it at the timeout. */
	return send_op_within(h, &req, timeout_ms + FDM_VMHOST_POWER_TIMEOUT_MS, cb, userdata);
}

int fdm_vmhost_set_deadlines(struct fdm_vmhost *h, const char *const *names,
			     const uint64_t *boottime_ms, size_t n, fdm_vmhost_done_fn cb,
			     void *userdata)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__SetDeadlinesRequest set = FDM__SET_DEADLINES_REQUEST__INIT;
	Fdm__DomainDeadline *dl = calloc(n ? n : 1, sizeof(*dl));
	Fdm__DomainDeadline **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	Fdm__DomainRef *refs = calloc(n ? n : 1, sizeof(*refs));
	int rc = -ENOMEM;

	if (dl != NULL && ptrs != NULL && refs != NULL) {
		for (size_t i = 0; i < n; i++) {
			fdm__domain_deadline__init(&dl[i]);
			set_ref(&refs[i], names[i]);
			dl[i].domain = &refs[i];
			dl[i].boottime_ms = boottime_ms[i];
			ptrs[i] = &dl[i];
		}
		set.n_deadlines = n;
		set.deadlines = ptrs;
		req.op_case = FDM__SHIM_REQUEST__OP_SET_DEADLINES;
		req.set_deadlines = &set;
		rc = send_op(h, &req, cb, userdata);   /* packed at once: ours to free */
	}
	free(dl);
	free(ptrs);
	free(refs);
	return rc;
}

int fdm_vmhost_get_deadlines(struct fdm_vmhost *h, fdm_vmhost_done_fn cb, void *userdata)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__GetDeadlinesRequest get = FDM__GET_DEADLINES_REQUEST__INIT;

	req.op_case = FDM__SHIM_REQUEST__OP_GET_DEADLINES;
	req.get_deadlines = &get;
	return send_op(h, &req, cb, userdata);
}

int fdm_vmhost_get_xml(struct fdm_vmhost *h, const char *domain, fdm_vmhost_done_fn cb,
		       void *userdata)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__GetDomainXmlRequest gx = FDM__GET_DOMAIN_XML_REQUEST__INIT;
	Fdm__DomainRef ref;

	if (domain == NULL || domain[0] == '\0')
		return -EINVAL;
	set_ref(&ref, domain);
	gx.domain = &ref;
	req.op_case = FDM__SHIM_REQUEST__OP_GET_DOMAIN_XML;
	req.get_domain_xml = &gx;
	return send_op(h, &req, cb, userdata);
}

/* ------------------------------------------------------------- lifecycle */

/* No shim: VM protection cannot see or start this host's VMs. Said at once and
 * every five minutes, never at every reconnect attempt. */
static void on_connect_error(int error, void *userdata)
{
	struct fdm_vmhost *h = userdata;
	uint64_t now = fdm_now_boottime_ms();

	if (h->unreachable_logged_ms != 0 && now < h->unreachable_logged_ms + 300000)
		return;
	h->unreachable_logged_ms = now;
	fdm_warn("hostd-shim: cannot reach it at %s (%s): this host's VMs are neither "
		 "reported nor started until it answers (systemctl status hostd-shim)",
		 h->socket_path, strerror(error));
}

int fdm_vmhost_new(sd_event *event, const char *socket_path, uint32_t refresh_ms,
		   fdm_vmhost_change_fn on_change, void *userdata, struct fdm_vmhost **out)
{
	struct fdm_vmhost *h = calloc(1, sizeof(*h));
	struct hostd_client_opts o = {
		.socket_path = socket_path,
		.subscribe = true,
		.on_event = on_event,
		.on_connection = on_connection,
		.on_connect_error = on_connect_error,
	};
	int rc;

	if (h == NULL)
		return -ENOMEM;
	h->event = sd_event_ref(event);
	fdm_strlcpy(h->socket_path, socket_path, sizeof(h->socket_path));
	fdm_vmstops_init(&h->stops);
	h->refresh_ms = refresh_ms ? refresh_ms : 1000;
	h->on_change = on_change;
	h->userdata = userdata;
	o.userdata = h;
	rc = hostd_client_new(event, &o, &h->client);
	if (rc >= 0)
		rc = sd_event_add_time_relative(event, &h->refresh_timer, CLOCK_MONOTONIC,
						(uint64_t)h->refresh_ms * 1000, 1000,
						on_refresh_timer, h);
	if (rc < 0) {
		fdm_vmhost_free(h);
		return rc;
	}
	sd_event_source_set_enabled(h->refresh_timer, SD_EVENT_ON);
	*out = h;
	return 0;
}

void fdm_vmhost_free(struct fdm_vmhost *h)
{
	if (h == NULL)
		return;
	h->freeing = true;
	hostd_client_free(h->client);   /* operations in flight: -ECANCELED */
	sd_event_source_disable_unref(h->refresh_timer);
	sd_event_unref(h->event);
	free(h->vms);
	fdm_vmstops_free(&h->stops);
	free(h);
}

const struct fdm_vmhost_view *fdm_vmhost_view(const struct fdm_vmhost *h)
{
	return &h->view;
}

const struct fdm_domain *fdm_vmhost_find(const struct fdm_vmhost *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->view.n_vms; i++)
		if (strcmp(h->vms[i].name, name) == 0)
			return &h->vms[i];
	return NULL;
}

struct hostd_client *fdm_vmhost_client(struct fdm_vmhost *h)
{
	return h->client;
}
