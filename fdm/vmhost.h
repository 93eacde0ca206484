/* The agent's view of its own host's VMs, through hostd-shim: what libvirt
 * lists here (stamped with when the listing was asked for), the host's free
 * memory, whether the shim and libvirt are reachable, and why VMs stopped; and
 * the power operations the agent orders. It decides nothing: it reports and
 * carries out. One connection to the shim (the client library reconnects),
 * subscribed to its events; on the loop of the agent (sd-event).
 *
 * When it lists: on each (re)connect, after every lifecycle event (coalesced:
 * one listing in flight at a time, one more queued), and at least every
 * refresh_ms. The host resources travel with
 * every listing. */
#ifndef FDM_VMHOST_H
#define FDM_VMHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "proto/fdm.pb-c.h"

#define FDM_DOMAIN_NAME_MAX      256   /* incl. NUL (libvirt allows longer: such a VM is skipped) */
#define FDM_DOMAIN_UUID_MAX      37
#define FDM_VMHOST_STOPS_MAX 256   /* stop queue; past it the oldest is dropped, counted */
/* Power operations: a cold QEMU start with its capability probe takes ~5 s. */
#define FDM_VMHOST_POWER_TIMEOUT_MS 60000

struct fdm_vmhost;
struct hostd_client;

struct fdm_domain {
	char name[FDM_DOMAIN_NAME_MAX];
	char uuid[FDM_DOMAIN_UUID_MAX];
	Fdm__DomainState state;
	/* Anything but SHUTOFF: its QEMU may hold its disks (a CRASHED guest
	 * too: libvirt keeps it with on_crash=preserve). */
	bool active;
	uint64_t memory_kib;
	uint32_t vcpus;
	bool persistent;
	bool has_stop_reason;        /* off: why, as libvirt said */
	Fdm__StopReason stop_reason;
};

struct fdm_vmhost_view {
	bool shim_connected;         /* our socket to hostd-shim is up */
	bool libvirt_connected;      /* and the shim reaches libvirt (as last heard) */
	/* vms is exactly the last listing libvirt gave, nothing merged into it.
	 * listed_at_ms: CLOCK_BOOTTIME when that listing was *asked for*; libvirt
	 * took it at or after that moment, so "listed_at_ms > T" proves the
	 * listing is younger than T. A VM it shows off was off at some moment
	 * at or after listed_at_ms. Kept across disconnects (then stale: see
	 * shim_connected and libvirt_connected). */
	bool listed;                 /* a listing was taken on the current connection */
	uint64_t listed_at_ms;       /* 0: never listed */
	size_t n_vms;
	const struct fdm_domain *vms;
	/* Memory (HostResources in proto/fdm.proto): free is total less what the
	 * running domains may use. resources_at_ms as listed_at_ms; 0: never. */
	uint64_t resources_at_ms;
	uint64_t total_memory_kib;
	uint64_t free_memory_kib;
	uint32_t cpus;
	uint64_t stops_dropped;      /* stop queue overflowed: oldest lost */
	uint64_t reconnects;         /* connections to the shim after the first */
};

/* Why one VM stopped, in the order learnt. */
struct fdm_domain_stop {
	char name[FDM_DOMAIN_NAME_MAX];
	char uuid[FDM_DOMAIN_UUID_MAX];
	Fdm__StopReason reason;      /* STOP_CRASHED: fdm's to restart if protected */
	char detail[32];             /* libvirt's word ("failed", "destroyed"), or "" */
	uint64_t at_ms;              /* CLOCK_BOOTTIME when this agent learnt it */
	/* Seen first in a listing: its event was lost (the shim was away) or
	 * comes later. The reason is then libvirt's state reason, which maps to
	 * the same StopReason; STOP_UNKNOWN with detail "gone" when the domain
	 * no longer exists. Otherwise from the shim's event. Either way, each
	 * stop is reported once. */
	bool from_listing;
};

/* Anything in the view or the stop queue changed. Runs from the loop; must
 * not free h. */
typedef void (*fdm_vmhost_change_fn)(struct fdm_vmhost *h, void *userdata);

/* The end of one power operation or get_xml, exactly once, from the loop. */
struct fdm_domain_result {
	int error;                   /* 0: the shim answered; -ETIMEDOUT, -ECONNRESET
				      * (connection lost first), -ECANCELED (freed) */
	Fdm__ResultCode result;      /* error 0: the shim's answer */
	const char *message;         /* one line, never NULL */
	const struct fdm_domain *vm;     /* the domain after the operation, or NULL */
	const char *xml;             /* get_xml with RESULT_OK, else NULL */
	/* get_deadlines with RESULT_OK: the deadlines the shim holds. */
	Fdm__DomainDeadline *const *deadlines;
	size_t n_deadlines;
};
/* r and everything it points to are valid during the call only. */
typedef void (*fdm_vmhost_done_fn)(const struct fdm_domain_result *r, void *userdata);

/* Start connecting to the shim's socket (the first attempt runs from the
 * loop). refresh_ms: list at least this often (the agent passes io_timeout).
 * Returns 0 and *out, or -errno. */
int fdm_vmhost_new(sd_event *event, const char *socket_path, uint32_t refresh_ms,
		   fdm_vmhost_change_fn on_change, void *userdata, struct fdm_vmhost **out);

/* Close. Operations in flight complete with -ECANCELED. Not from a callback. */
void fdm_vmhost_free(struct fdm_vmhost *h);

/* Valid until control returns to the loop. */
const struct fdm_vmhost_view *fdm_vmhost_view(const struct fdm_vmhost *h);

/* The VM of that name in the view, or NULL. */
const struct fdm_domain *fdm_vmhost_find(const struct fdm_vmhost *h, const char *name);

/* Take the oldest stop not yet taken: true and *out, or false when none. */
bool fdm_vmhost_next_stop(struct fdm_vmhost *h, struct fdm_domain_stop *out);

/* Operations. Each returns 0 (sent: cb runs later, exactly once) or a
 * negative errno and cb never runs: -ENOTCONN (no connection to the shim
 * now), -EINVAL, -ENOMEM, -EMSGSIZE. domain: a name, or a UUID (36
 * characters, dashes at 8, 13, 18, 23).
 * power_on: define from xml (or redefine) and start. deadline_boottime_ms:
 * 0, or the absolute CLOCK_BOOTTIME time past which it must not run here: the
 * shim refuses it (RESULT_DEADLINE_PASSED) once passed, else holds that
 * deadline before starting it (DESIGN.md point 5). */
int fdm_vmhost_power_on(struct fdm_vmhost *h, const char *xml, uint64_t deadline_boottime_ms,
			fdm_vmhost_done_fn cb, void *userdata);
/* Destroy (the stop is reported STOP_DESTROYED). */
int fdm_vmhost_power_off(struct fdm_vmhost *h, const char *domain, fdm_vmhost_done_fn cb,
			 void *userdata);
/* Guest shutdown; the shim destroys the domain once timeout_ms has passed
 * (the isolation response `shutdown`, DESIGN.md point 4). */
int fdm_vmhost_shutdown(struct fdm_vmhost *h, const char *domain, uint32_t timeout_ms,
			fdm_vmhost_done_fn cb, void *userdata);
/* The deadlines the shim holds now (result's deadlines): what a restarted
 * agent starts from (DESIGN.md point 5). */
int fdm_vmhost_get_deadlines(struct fdm_vmhost *h, fdm_vmhost_done_fn cb, void *userdata);
/* Replace the shim's whole set of protected domains and their deadlines
 * (absolute CLOCK_BOOTTIME ms, DESIGN.md point 5): names[i] by boottime_ms[i]. */
int fdm_vmhost_set_deadlines(struct fdm_vmhost *h, const char *const *names,
			     const uint64_t *boottime_ms, size_t n, fdm_vmhost_done_fn cb,
			     void *userdata);
/* The persistent definition, for the protectedlist: r->xml. */
int fdm_vmhost_get_xml(struct fdm_vmhost *h, const char *domain, fdm_vmhost_done_fn cb,
		       void *userdata);

/* The connection itself, for the shim calls this file does not wrap (the
 * deadlines): one connection per agent. */
struct hostd_client *fdm_vmhost_client(struct fdm_vmhost *h);

#endif
