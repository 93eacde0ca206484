/* libvirt connection keeping and event translation (virt.h). Callbacks run on
 * libvirt's event-loop thread and only copy what they need into a mail; they
 * make no libvirt call that could go to the daemon. */
#include "hostd-shim/virt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libvirt/virterror.h>

#include "lib/util.h"
#include "hostd-shim/translate.h"

/* Keepalive: a probe every 2 s, the connection is declared dead after 3
 * unanswered ones, so a hung libvirtd is noticed within ~8 s. */
#define KEEPALIVE_INTERVAL_S 2
#define KEEPALIVE_COUNT      3

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("hostd-shim: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *last_error(void)
{
	virErrorPtr e = virGetLastError();

	return e && e->message ? e->message : "unknown libvirt error";
}

/* libvirt prints every error to stderr by default; the shim logs its own. */
static void quiet_errors(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

void shim_virt_mail_free(struct shim_virt_mail *m)
{
	if (m == NULL)
		return;
	free(m->doms);
	free(m);
}

bool shim_dom_fill(virDomainPtr dom, struct shim_dom *d)
{
	virDomainInfo info;
	const char *name = virDomainGetName(dom);
	int persistent, state, reason;

	memset(d, 0, sizeof(*d));
	if (name == NULL || virDomainGetUUIDString(dom, d->uuid) < 0 ||
	    virDomainGetInfo(dom, &info) < 0)
		return false;
	fdm_strlcpy(d->name, name, sizeof(d->name));
	d->state = shim_map_state(info.state);
	/* Why it is off: virDomainInfo does not say, virDomainGetState does. */
	if (virDomainGetState(dom, &state, &reason, 0) == 0)
		d->has_stop_reason = shim_map_state_reason(state, reason, &d->stop_reason);
	d->memory_kib = info.maxMem;
	d->vcpus = info.nrVirtCpu;
	persistent = virDomainIsPersistent(dom);
	d->persistent = persistent == 1;
	return true;
}

int shim_dom_list(virConnectPtr conn, struct shim_dom **out)
{
	virDomainPtr *doms = NULL;
	struct shim_dom *v;
	int n, i, k = 0;

	*out = NULL;
	n = virConnectListAllDomains(conn, &doms, 0);
	if (n < 0)
		return -1;
	v = calloc((size_t)n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		/* A domain that vanished between list and info is simply not listed. */
		if (v != NULL && shim_dom_fill(doms[i], &v[k]))
			k++;
		virDomainFree(doms[i]);
	}
	free(doms);
	if (v == NULL)
		return -1;
	*out = v;
	return k;
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
			void *opaque)
{
	struct shim_virt *v = opaque;
	struct shim_virt_mail *m;
	struct shim_event_map ev;
	const char *name = virDomainGetName(dom);

	(void)conn;
	if (!shim_map_event(event, detail, &ev) || name == NULL)
		return 0;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return 0;
	m->mail.kind = SHIM_MAIL_LIFECYCLE;
	m->type = ev.type;
	fdm_strlcpy(m->dom.name, name, sizeof(m->dom.name));
	virDomainGetUUIDString(dom, m->dom.uuid);
	m->dom.state = ev.state;
	m->dom.has_stop_reason = ev.has_stop_reason;
	m->dom.stop_reason = ev.stop_reason;
	fdm_strlcpy(m->detail, ev.detail, sizeof(m->detail));
	shim_mailbox_post(v->mb, &m->mail);
	return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct shim_virt *v = opaque;

	(void)conn;
	(void)reason;
	pthread_mutex_lock(&v->lock);
	v->closed = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static bool stopping(struct shim_virt *v)
{
	bool s;

	pthread_mutex_lock(&v->lock);
	s = v->stopping;
	pthread_mutex_unlock(&v->lock);
	return s;
}

static void *event_loop(void *arg)
{
	struct shim_virt *v = arg;

	while (!stopping(v))
		virEventRunDefaultImpl();
	return NULL;
}

static void wake_loop(int timer, void *opaque)
{
	(void)opaque;
	virEventUpdateTimeout(timer, -1);
}

static void post_simple(struct shim_virt *v, int kind, const char *detail,
			struct shim_dom *doms, size_t n)
{
	struct shim_virt_mail *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		free(doms);
		return;
	}
	m->mail.kind = kind;
	fdm_strlcpy(m->detail, detail, sizeof(m->detail));
	m->doms = doms;
	m->n_doms = n;
	shim_mailbox_post(v->mb, &m->mail);
}

/* Sleep ms unless asked to stop. true when stopping. */
static bool backoff_wait(struct shim_virt *v, uint32_t ms)
{
	struct timespec ts;
	bool s;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&v->lock);
	while (!v->stopping &&
	       pthread_cond_timedwait(&v->cond, &v->lock, &ts) != ETIMEDOUT)
		;
	s = v->stopping;
	pthread_mutex_unlock(&v->lock);
	return s;
}

/* Open, register, list. The connection on success, else NULL (logged). */
static virConnectPtr connect_once(struct shim_virt *v, struct shim_dom **doms, int *n,
				  bool quiet)
{
	virConnectPtr conn = virConnectOpen(v->uri);

	if (conn == NULL) {
		if (!quiet)
			log_line("libvirt %s: cannot connect: %s", v->uri, last_error());
		return NULL;
	}
	/* Local drivers (test://) have no keepalive and need none. */
	if (virConnectSetKeepAlive(conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0 &&
	    virGetLastErrorCode() != VIR_ERR_NO_SUPPORT)
		log_line("libvirt %s: keepalive not set: %s", v->uri, last_error());
	pthread_mutex_lock(&v->lock);
	v->closed = false;
	pthread_mutex_unlock(&v->lock);
	if (virConnectRegisterCloseCallback(conn, on_close, v, NULL) < 0)
		log_line("libvirt %s: no close callback: %s", v->uri, last_error());
	v->lifecycle_id = virConnectDomainEventRegisterAny(conn, NULL,
		VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
		v, NULL);
	if (v->lifecycle_id < 0 || (*n = shim_dom_list(conn, doms)) < 0) {
		log_line("libvirt %s: events or domain list failed: %s", v->uri, last_error());
		if (v->lifecycle_id >= 0)
			virConnectDomainEventDeregisterAny(conn, v->lifecycle_id);
		virConnectUnregisterCloseCallback(conn, on_close);
		virConnectClose(conn);
		return NULL;
	}
	return conn;
}

static void teardown(struct shim_virt *v, virConnectPtr conn)
{
	pthread_mutex_lock(&v->lock);
	v->conn = NULL;
	pthread_mutex_unlock(&v->lock);
	virConnectDomainEventDeregisterAny(conn, v->lifecycle_id);
	virConnectUnregisterCloseCallback(conn, on_close);
	virConnectClose(conn);
}

static void *keeper(void *arg)
{
	struct shim_virt *v = arg;
	uint32_t backoff = SHIM_BACKOFF_MIN_MS;
	unsigned failures = 0;

	while (!stopping(v)) {
		struct shim_dom *doms = NULL;
		int n = 0;
		virConnectPtr conn = connect_once(v, &doms, &n, failures > 0);

		if (conn == NULL) {
			failures++;
			if (backoff_wait(v, backoff))
				break;
			backoff = backoff * 2 > SHIM_BACKOFF_MAX_MS ? SHIM_BACKOFF_MAX_MS
								    : backoff * 2;
			continue;
		}
		failures = 0;
		backoff = SHIM_BACKOFF_MIN_MS;
		pthread_mutex_lock(&v->lock);
		v->conn = conn;
		pthread_mutex_unlock(&v->lock);
		post_simple(v, SHIM_MAIL_CONNECTED, "", doms, (size_t)n);

		pthread_mutex_lock(&v->lock);
		while (!v->closed && !v->stopping)
			pthread_cond_wait(&v->cond, &v->lock);
		pthread_mutex_unlock(&v->lock);
		teardown(v, conn);
		if (!stopping(v))
			post_simple(v, SHIM_MAIL_DISCONNECTED, "connection closed", NULL, 0);
	}
	return NULL;
}

int shim_virt_start(struct shim_virt *v, const char *uri, struct shim_mailbox *mb)
{
	int rc;

	memset(v, 0, sizeof(*v));
	if (!fdm_strlcpy(v->uri, uri, sizeof(v->uri)))
		return -ENAMETOOLONG;
	v->mb = mb;
	pthread_mutex_init(&v->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&v->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	virSetErrorFunc(NULL, quiet_errors);
	if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0)
		return -EIO;
	v->wake_timer = virEventAddTimeout(-1, wake_loop, v, NULL);
	rc = pthread_create(&v->loop_thread, NULL, event_loop, v);
	if (rc != 0)
		return -rc;
	v->loop_started = true;
	rc = pthread_create(&v->keeper_thread, NULL, keeper, v);
	if (rc != 0)
		return -rc;
	v->keeper_started = true;
	return 0;
}

void shim_virt_stop(struct shim_virt *v)
{
	pthread_mutex_lock(&v->lock);
	v->stopping = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	if (v->keeper_started)
		pthread_join(v->keeper_thread, NULL);
	if (v->loop_started) {
		/* The loop sleeps in poll(): a due timer wakes it to see `stopping`. */
		virEventUpdateTimeout(v->wake_timer, 0);
		pthread_join(v->loop_thread, NULL);
	}
	if (v->wake_timer >= 0)
		virEventRemoveTimeout(v->wake_timer);
	v->keeper_started = v->loop_started = false;
	pthread_mutex_destroy(&v->lock);
	pthread_cond_destroy(&v->cond);
}

virConnectPtr shim_virt_get(struct shim_virt *v)
{
	virConnectPtr c;

	pthread_mutex_lock(&v->lock);
	c = v->conn;
	if (c != NULL)
		virConnectRef(c);
	pthread_mutex_unlock(&v->lock);
	return c;
}
