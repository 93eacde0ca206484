/* The shim's libvirt connection. Two threads live here: libvirt's default event
 * loop (needed for keepalive and domain events), and a keeper that opens the
 * connection, registers for lifecycle events, lists the domains and announces
 * "connected" to the main loop; when the connection closes it announces
 * "disconnected" and reconnects with backoff (0.5 s doubling to 8 s).
 * Everything reaches the main loop through the mailbox, in order. */
#ifndef FDM_SHIM_VIRT_H
#define FDM_SHIM_VIRT_H

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hostd-shim/deadlines.h"
#include "hostd-shim/mailbox.h"
#include "proto/fdm.pb-c.h"

#define SHIM_BACKOFF_MIN_MS  500
#define SHIM_BACKOFF_MAX_MS  8000

/* A domain as the shim reports it. */
struct shim_dom {
	char name[SHIM_NAME_MAX];
	char uuid[SHIM_UUID_MAX];
	Fdm__DomainState state;
	uint64_t memory_kib;
	uint32_t vcpus;
	bool persistent;
	bool has_stop_reason;        /* off (shut off or crashed): stop_reason says why */
	Fdm__StopReason stop_reason;
};

enum shim_virt_mail_kind {
	SHIM_MAIL_LIFECYCLE = 100,   /* struct shim_virt_mail: one domain event */
	SHIM_MAIL_CONNECTED,         /* doms: the full list right after connecting */
	SHIM_MAIL_DISCONNECTED,      /* detail: why */
};

struct shim_virt_mail {
	struct shim_mail mail;       /* first */
	Fdm__EventType type;         /* LIFECYCLE */
	struct shim_dom dom;         /* LIFECYCLE: name, uuid, state, stop reason only */
	char detail[128];
	struct shim_dom *doms;       /* CONNECTED */
	size_t n_doms;
};

void shim_virt_mail_free(struct shim_virt_mail *m);

struct shim_virt {
	char uri[512];
	struct shim_mailbox *mb;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	virConnectPtr conn;          /* NULL while disconnected; guarded by lock */
	bool closed;                 /* the close callback fired */
	bool stopping;
	int lifecycle_id;
	int wake_timer;              /* libvirt event-loop timer used to stop it */
	pthread_t loop_thread, keeper_thread;
	bool loop_started, keeper_started;
};

/* Register libvirt's event loop (before any connection) and start both threads. */
int shim_virt_start(struct shim_virt *v, const char *uri, struct shim_mailbox *mb);
void shim_virt_stop(struct shim_virt *v);

/* A reference to the live connection for a worker (virConnectClose it after),
 * or NULL while disconnected. */
virConnectPtr shim_virt_get(struct shim_virt *v);

/* Fill d from a libvirt domain. false when libvirt failed. */
bool shim_dom_fill(virDomainPtr dom, struct shim_dom *d);

/* All domains of conn. Returns the count, or -1 (libvirt failed). */
int shim_dom_list(virConnectPtr conn, struct shim_dom **out);

#endif
