/* Storage I/O off the agent's event loop. One worker thread per open datastore
 * runs the synchronous ds.h calls from a small FIFO queue; completions reach the
 * sd-event loop through an eventfd. Every request has a deadline, an absolute
 * CLOCK_BOOTTIME time in ms like every time here (the agent passes "decision
 * time + io_timeout"; 0 means now + io_timeout). If its completion has not
 * arrived by then, a loop timer reports FDM_DS_TIMEOUT to the caller at the
 * deadline, and the late completion, when the worker finally returns, is
 * discarded and counted. A completion that the worker got after the deadline is
 * reported as FDM_DS_TIMEOUT too, even when it beats the timer (DESIGN.md point
 * 1: an I/O that completes late has failed, whatever it returned). So a hung NFS
 * server or iSCSI target never delays the loop (network heartbeats), and every
 * request gets exactly one callback, in the loop thread, by its deadline.
 *
 *   io = fdm_dsio_new(event, ds, err, sizeof(err));     // takes ds
 *   struct fdm_dsio_req r = { .op = FDM_DSIO_LEASE_READ, .cb = on_lease, .userdata = x };
 *   fdm_dsio_submit(io, &r, NULL);
 *   ...
 *   static void on_lease(struct fdm_dsio_done *d, void *x)
 *   { if (d->status == FDM_DS_OK) fdm_lease_read_done(&l, d->finished_ms, true, &d->lease); }
 *
 * Callbacks may submit more requests; they must not call fdm_dsio_free. */
#ifndef FDM_DS_DSIO_H
#define FDM_DS_DSIO_H

#include <stdint.h>
#include <systemd/sd-event.h>

#include "datastore/ds.h"

enum fdm_dsio_op {
	FDM_DSIO_LEASE_READ,
	FDM_DSIO_LEASE_WRITE,      /* req.lease */
	FDM_DSIO_HB_WRITE,
	FDM_DSIO_HB_READ,          /* req.host */
	FDM_DSIO_POWERON_WRITE,    /* req.msg: Fdm__PowerOnRecord of this host */
	FDM_DSIO_POWERON_READ,     /* req.host */
	FDM_DSIO_VMLIST_WRITE,     /* req.msg: Fdm__ProtectedList */
	FDM_DSIO_VMLIST_READ,
	FDM_DSIO_LIST_HOSTS,
	FDM_DSIO_HOSTS_READ,       /* req.hosts: each one's hb and poweron record */
	FDM_DSIO_OP_COUNT
};

const char *fdm_dsio_op_name(enum fdm_dsio_op op);

struct fdm_dsio_done;
typedef void (*fdm_dsio_cb)(struct fdm_dsio_done *d, void *userdata);

struct fdm_dsio_req {
	enum fdm_dsio_op op;
	char host[FDM_DS_ID_MAX];
	struct fdm_lease_rec lease;
	const ProtobufCMessage *msg;   /* copied (packed) at submit */
	const char (*hosts)[FDM_DS_ID_MAX];   /* HOSTS_READ: n_hosts ids, copied at submit */
	size_t n_hosts;
	uint64_t deadline_ms;          /* CLOCK_BOOTTIME ms; 0: now + io_timeout */
	fdm_dsio_cb cb;
	void *userdata;
};

/* HOSTS_READ: what one host's records held. A record never written reads
 * FDM_DS_EMPTY; a damaged one FDM_DS_CORRUPT (or TOO_BIG): only that record. */
struct fdm_dsio_host {
	char host[FDM_DS_ID_MAX];
	enum fdm_ds_status hb_status;
	struct fdm_ds_hb hb;           /* OK: content and fingerprint */
	enum fdm_ds_status poweron_status;
	Fdm__PowerOnRecord *poweron;   /* OK: decoded; freed after the callback */
};

/* Valid during the callback only. */
struct fdm_dsio_done {
	enum fdm_dsio_op op;
	uint64_t id;
	const char *host;              /* req.host */
	enum fdm_ds_status status;
	struct fdm_ds_result res;
	uint64_t submitted_ms;         /* CLOCK_BOOTTIME, as every time here */
	uint64_t deadline_ms;
	uint64_t finished_ms;          /* when reported: use it as "now" */
	struct fdm_lease_view lease;   /* LEASE_READ */
	struct fdm_ds_hb hb;           /* HB_READ */
	ProtobufCMessage *msg;         /* POWERON_READ, VMLIST_READ: take it by
					* setting it NULL, or it is freed after */
	struct fdm_ds_hostlist *hosts; /* LIST_HOSTS */
	/* HOSTS_READ, OK: one per requested host, in request order. The whole
	 * batch fails (status) at the first failure of the datastore itself: a
	 * timeout, an I/O error, no identity record. */
	struct fdm_dsio_host *host_recs;
	size_t n_host_recs;
};

struct fdm_dsio_stats {
	uint64_t submitted;
	uint64_t completed;            /* reported with the worker's result */
	uint64_t timed_out;            /* reported as FDM_DS_TIMEOUT by the loop timer */
	uint64_t late_completed;       /* the worker finished after the deadline, before
					* the timer: reported as FDM_DS_TIMEOUT */
	uint64_t late_discarded;       /* worker results that came after that */
	uint64_t expired_in_queue;     /* never started: deadline passed while queued */
	uint64_t queued_now;
	uint64_t running_now;          /* 1 while the worker is in a call */
};

struct fdm_dsio;

/* Start the worker for ds (owned by dsio from now on, closed by fdm_dsio_free). */
struct fdm_dsio *fdm_dsio_new(sd_event *ev, struct fdm_ds *ds, char *err, size_t errlen);
/* Queue a request. Returns 0 (and its id), or -1 when out of memory or the
 * message does not pack. */
int fdm_dsio_submit(struct fdm_dsio *io, const struct fdm_dsio_req *req, uint64_t *id);
void fdm_dsio_get_stats(struct fdm_dsio *io, struct fdm_dsio_stats *out);
struct fdm_ds *fdm_dsio_ds(struct fdm_dsio *io);   /* for its url, io_timeout */
/* Returns at once, without callbacks: queued requests are dropped; an idle
 * worker is stopped and joined; a worker in a call (perhaps stuck in the kernel
 * on a hung file:// mount) is left to finish on its own, and then frees its
 * request and closes the datastore. Nothing the caller owns is touched after. */
void fdm_dsio_free(struct fdm_dsio *io);

#endif
