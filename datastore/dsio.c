/* The datastore worker (dsio.h). Ownership of a job: the loop thread creates it
 * and keeps it on `outstanding` until it is both finished by the worker and
 * reported to the caller; the worker only touches a job between taking it from
 * the queue and putting it on the done list, both under the mutex. The loop
 * timer never reads a running job's results: a timeout report is made from the
 * request alone, so a stuck worker can hold its job as long as it likes.
 * fdm_dsio_free never waits for a worker that is in a call: it leaves it behind
 * with its job and the shared state (struct shared, reference counted), which
 * the worker frees when its call returns. Every time is CLOCK_BOOTTIME ms. */
#include "datastore/dsio.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "datastore/ds_backend.h"
#include "lib/util.h"

static const char *const op_names[FDM_DSIO_OP_COUNT] = {
	[FDM_DSIO_LEASE_READ] = "lease-read",
	[FDM_DSIO_LEASE_WRITE] = "lease-write",
	[FDM_DSIO_HB_WRITE] = "hb-write",
	[FDM_DSIO_HB_READ] = "hb-read",
	[FDM_DSIO_POWERON_WRITE] = "poweron-write",
	[FDM_DSIO_POWERON_READ] = "poweron-read",
	[FDM_DSIO_VMLIST_WRITE] = "vmlist-write",
	[FDM_DSIO_VMLIST_READ] = "vmlist-read",
	[FDM_DSIO_LIST_HOSTS] = "list-hosts",
	[FDM_DSIO_HOSTS_READ] = "hosts-read",
};

const char *fdm_dsio_op_name(enum fdm_dsio_op op)
{
	return (unsigned)op < FDM_DSIO_OP_COUNT ? op_names[op] : "?";
}

struct job {
	struct job *next;              /* queue or done list (under mutex) */
	struct job *onext;             /* outstanding list (loop thread) */
	struct fdm_dsio_req req;
	uint8_t *packed;               /* req.msg, packed at submit */
	size_t packed_len;
	char (*hosts)[FDM_DS_ID_MAX];  /* req.hosts, copied at submit */
	uint64_t worker_done_ms;       /* when the worker's call returned (CLOCK_BOOTTIME) */
	bool reported;                 /* callback made (loop thread) */
	struct fdm_dsio_done out;      /* worker's result */
};

/* What the loop and the worker thread share, under mu. Two references, the
 * loop's and the worker's; whoever lets go last frees it (and closes ds). So a
 * worker stuck in the kernel can be left behind by fdm_dsio_free: when its call
 * returns it finds `stop`, frees its job and, being last, everything else. */
struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool stop;
	struct job *queue_head, *queue_tail;
	struct job *done_head;
	struct job *running;           /* the job the worker is in, NULL when idle */
	uint64_t queued_now;
	uint64_t expired_in_queue;
	int efd;                       /* worker -> loop: something is on done */
	struct fdm_ds *ds;             /* the worker's; the loop reads only its url */
};

struct fdm_dsio {
	sd_event *ev;
	sd_event_source *io_src;
	sd_event_source *timer_src;
	struct shared *sh;
	uint32_t io_timeout_ms;
	pthread_t thread;
	bool thread_started;
	struct job *outstanding;       /* every job not yet freed (loop thread) */
	uint64_t next_id;
	struct fdm_dsio_stats stats;   /* the loop's counters */
};

static void free_host_recs(struct fdm_dsio_host *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].poweron != NULL)
			fdm__power_on_record__free_unpacked(r[i].poweron, NULL);
	free(r);
}

static void free_job(struct job *j)
{
	if (j->out.msg != NULL)
		protobuf_c_message_free_unpacked(j->out.msg, NULL);
	free(j->out.hosts);
	free_host_recs(j->out.host_recs, j->out.n_host_recs);
	free(j->hosts);
	free(j->packed);
	free(j);
}

static void shared_unref(struct shared *sh)
{
	bool last;

	pthread_mutex_lock(&sh->mu);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->mu);
	if (!last)
		return;
	if (sh->efd >= 0)
		close(sh->efd);
	pthread_mutex_destroy(&sh->mu);
	pthread_cond_destroy(&sh->cv);
	fdm_ds_close(sh->ds);
	free(sh);
}

/* ------------------------------------------------------------ worker thread */

static enum fdm_ds_status write_packed(struct fdm_ds *ds, struct job *j, uint64_t dl)
{
	struct fdm_dsio_done *o = &j->out;
	enum fdm_ds_status st;

	if (j->req.op == FDM_DSIO_POWERON_WRITE) {
		Fdm__PowerOnRecord *r = fdm__power_on_record__unpack(NULL, j->packed_len, j->packed);

		if (r == NULL)
			return fdm_ds_fail(ds, &o->res, FDM_DS_IO, "poweron record does not unpack");
		st = fdm_ds_poweron_write(ds, r, dl, &o->res);
		fdm__power_on_record__free_unpacked(r, NULL);
	} else {
		Fdm__ProtectedList *l = fdm__protected_list__unpack(NULL, j->packed_len, j->packed);

		if (l == NULL)
			return fdm_ds_fail(ds, &o->res, FDM_DS_IO, "VM list does not unpack");
		st = fdm_ds_vmlist_write(ds, l, dl, &o->res);
		fdm__protected_list__free_unpacked(l, NULL);
	}
	return st;
}

/* A failure of the datastore itself, not of one record: the batch stops. */
static bool datastore_failed(enum fdm_ds_status st)
{
	return st != FDM_DS_OK && st != FDM_DS_EMPTY && st != FDM_DS_CORRUPT &&
	       st != FDM_DS_TOO_BIG;
}

/* The master's read of every other host's records (DESIGN.md point 2), in one
 * call under one deadline: hb (its fingerprint) and poweron, host by host. */
static enum fdm_ds_status read_hosts(struct fdm_ds *ds, struct job *j, uint64_t dl)
{
	struct fdm_dsio_done *o = &j->out;
	struct fdm_ds_result res;

	fdm_ds_result_clear(&res);
	o->host_recs = calloc(j->req.n_hosts + 1, sizeof(*o->host_recs));
	if (o->host_recs == NULL)
		return fdm_ds_fail(ds, &o->res, FDM_DS_IO, "out of memory");
	for (size_t i = 0; i < j->req.n_hosts; i++) {
		struct fdm_dsio_host *h = &o->host_recs[i];

		o->n_host_recs = i + 1;
		fdm_strlcpy(h->host, j->hosts[i], sizeof(h->host));
		h->hb_status = fdm_ds_hb_read(ds, h->host, dl, &h->hb, &res);
		if (!datastore_failed(h->hb_status))
			h->poweron_status = fdm_ds_poweron_read(ds, h->host, dl, &h->poweron, &res);
		if (datastore_failed(h->hb_status) || datastore_failed(h->poweron_status)) {
			o->res = res;
			return datastore_failed(h->hb_status) ? h->hb_status : h->poweron_status;
		}
	}
	return FDM_DS_OK;
}

static enum fdm_ds_status run_job(struct fdm_ds *ds, struct job *j)
{
	struct fdm_dsio_done *o = &j->out;
	uint64_t dl = j->out.deadline_ms;

	switch (j->req.op) {
	case FDM_DSIO_LEASE_READ:
		return fdm_ds_lease_read(ds, dl, &o->lease, &o->res);
	case FDM_DSIO_LEASE_WRITE:
		return fdm_ds_lease_write(ds, dl, &j->req.lease, &o->res);
	case FDM_DSIO_HB_WRITE:
		return fdm_ds_hb_write(ds, dl, &o->res);
	case FDM_DSIO_HB_READ:
		return fdm_ds_hb_read(ds, j->req.host, dl, &o->hb, &o->res);
	case FDM_DSIO_POWERON_WRITE:
	case FDM_DSIO_VMLIST_WRITE:
		return write_packed(ds, j, dl);
	case FDM_DSIO_POWERON_READ:
		return fdm_ds_poweron_read(ds, j->req.host, dl, (Fdm__PowerOnRecord **)&o->msg,
					   &o->res);
	case FDM_DSIO_VMLIST_READ:
		return fdm_ds_vmlist_read(ds, dl, (Fdm__ProtectedList **)&o->msg, &o->res);
	case FDM_DSIO_LIST_HOSTS:
		o->hosts = calloc(1, sizeof(*o->hosts));
		if (o->hosts == NULL)
			return fdm_ds_fail(ds, &o->res, FDM_DS_IO, "out of memory");
		return fdm_ds_list_hosts(ds, dl, o->hosts, &o->res);
	case FDM_DSIO_HOSTS_READ:
		return read_hosts(ds, j, dl);
	case FDM_DSIO_OP_COUNT:
		break;
	}
	return fdm_ds_fail(ds, &o->res, FDM_DS_IO, "unknown request");
}

static void *worker(void *arg)
{
	struct shared *sh = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&sh->mu);
	for (;;) {
		struct job *j;
		bool expired;

		while (!sh->stop && sh->queue_head == NULL)
			pthread_cond_wait(&sh->cv, &sh->mu);
		if (sh->stop)
			break;
		j = sh->queue_head;
		sh->queue_head = j->next;
		if (sh->queue_head == NULL)
			sh->queue_tail = NULL;
		sh->queued_now--;
		sh->running = j;
		pthread_mutex_unlock(&sh->mu);

		/* A request that waited past its deadline is not started: a write
		 * must land within io of the moment its caller decided on it. */
		expired = fdm_now_boottime_ms() >= j->out.deadline_ms;
		if (expired)
			j->out.status = fdm_ds_fail(sh->ds, &j->out.res, FDM_DS_TIMEOUT,
						    "%s: deadline passed while queued",
						    fdm_dsio_op_name(j->req.op));
		else
			j->out.status = run_job(sh->ds, j);
		j->worker_done_ms = fdm_now_boottime_ms();

		pthread_mutex_lock(&sh->mu);
		sh->running = NULL;
		if (expired)
			sh->expired_in_queue++;
		if (sh->stop) {
			/* fdm_dsio_free left us behind: the job is ours to free. */
			pthread_mutex_unlock(&sh->mu);
			free_job(j);
			pthread_mutex_lock(&sh->mu);
			break;
		}
		j->next = sh->done_head;
		sh->done_head = j;
		if (write(sh->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow in practice; nothing to do. */
		}
	}
	pthread_mutex_unlock(&sh->mu);
	shared_unref(sh);
	return NULL;
}

/* ------------------------------------------------------------ loop side */

static void unlink_outstanding(struct fdm_dsio *io, struct job *j)
{
	for (struct job **p = &io->outstanding; *p != NULL; p = &(*p)->onext) {
		if (*p == j) {
			*p = j->onext;
			return;
		}
	}
}

static void report(struct job *j, struct fdm_dsio_done *d)
{
	j->reported = true;
	d->finished_ms = fdm_now_boottime_ms();
	if (j->req.cb != NULL)
		j->req.cb(d, j->req.userdata);
}

/* A timeout report made from the request alone (the loop never reads a
 * running job's results). */
static void report_timeout(struct fdm_dsio *io, struct job *j, const char *why)
{
	struct fdm_dsio_done d = j->out;

	d.msg = NULL;
	d.hosts = NULL;
	d.host_recs = NULL;
	d.n_host_recs = 0;
	memset(&d.res, 0, sizeof(d.res));
	d.res.damaged_slot = -1;
	d.status = fdm_ds_fail(io->sh->ds, &d.res, FDM_DS_TIMEOUT, "%s: %s",
			       fdm_dsio_op_name(j->req.op), why);
	report(j, &d);
}

static void arm_timer(struct fdm_dsio *io)
{
	uint64_t first = UINT64_MAX;

	for (struct job *j = io->outstanding; j != NULL; j = j->onext)
		if (!j->reported && j->out.deadline_ms < first)
			first = j->out.deadline_ms;
	if (first == UINT64_MAX) {
		sd_event_source_set_enabled(io->timer_src, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(io->timer_src, first * 1000);
	sd_event_source_set_enabled(io->timer_src, SD_EVENT_ONESHOT);
}

/* The worker pushes finished jobs on a stack; callers get them in the order
 * they finished (a heartbeat write is reported before the read after it). */
static struct job *oldest_first(struct job *stack)
{
	struct job *out = NULL, *next;

	for (struct job *j = stack; j != NULL; j = next) {
		next = j->next;
		j->next = out;
		out = j;
	}
	return out;
}

/* Deliver what the worker finished. A result the worker got after the
 * deadline is a timeout, whatever it was (DESIGN.md point 1), even when it
 * beat the loop timer here. */
static void drain(struct fdm_dsio *io)
{
	struct job *list, *next;

	pthread_mutex_lock(&io->sh->mu);
	list = io->sh->done_head;
	io->sh->done_head = NULL;
	pthread_mutex_unlock(&io->sh->mu);
	list = oldest_first(list);
	for (struct job *j = list; j != NULL; j = next) {
		next = j->next;
		if (j->reported) {
			io->stats.late_discarded++;
		} else if (j->worker_done_ms > j->out.deadline_ms) {
			io->stats.late_completed++;
			report_timeout(io, j, "completed after its deadline: counted as failed");
		} else {
			io->stats.completed++;
			report(j, &j->out);
		}
		unlink_outstanding(io, j);
		free_job(j);
	}
}

static int on_eventfd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct fdm_dsio *io = userdata;
	uint64_t v;

	(void)s; (void)revents;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	drain(io);
	arm_timer(io);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fdm_dsio *io = userdata;
	uint64_t now = fdm_now_boottime_ms();
	bool again = true;

	(void)s; (void)usec;
	drain(io);   /* a result already there is not a timeout */
	/* Report one at a time: a callback may submit and so change the list. */
	while (again) {
		again = false;
		for (struct job *j = io->outstanding; j != NULL; j = j->onext) {
			if (j->reported || j->out.deadline_ms > now)
				continue;
			io->stats.timed_out++;
			report_timeout(io, j, "no result within its deadline");
			again = true;
			break;
		}
	}
	arm_timer(io);
	return 0;
}

static struct shared *shared_new(struct fdm_ds *ds)
{
	struct shared *sh = calloc(1, sizeof(*sh));

	if (sh == NULL)
		return NULL;
	sh->refs = 1;
	sh->ds = ds;
	sh->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&sh->mu, NULL);
	pthread_cond_init(&sh->cv, NULL);
	return sh;
}

struct fdm_dsio *fdm_dsio_new(sd_event *ev, struct fdm_ds *ds, char *err, size_t errlen)
{
	struct fdm_dsio *io = calloc(1, sizeof(*io));

	if (io != NULL)
		io->sh = shared_new(ds);
	if (io == NULL || io->sh == NULL) {
		snprintf(err, errlen, "%s: out of memory", fdm_ds_url(ds));
		fdm_ds_close(ds);
		free(io);
		return NULL;
	}
	io->ev = sd_event_ref(ev);
	io->io_timeout_ms = fdm_ds_io_timeout(ds);
	if (io->sh->efd < 0 ||
	    sd_event_add_io(ev, &io->io_src, io->sh->efd, EPOLLIN, on_eventfd, io) < 0 ||
	    sd_event_add_time(ev, &io->timer_src, CLOCK_BOOTTIME, UINT64_MAX, 1000,
			      on_timer, io) < 0) {
		snprintf(err, errlen, "%s: cannot start the storage worker", fdm_ds_url(ds));
		fdm_dsio_free(io);
		return NULL;
	}
	io->sh->refs = 2;     /* the worker's, from its start */
	if (pthread_create(&io->thread, NULL, worker, io->sh) != 0) {
		io->sh->refs = 1;
		snprintf(err, errlen, "%s: cannot start the storage worker", fdm_ds_url(ds));
		fdm_dsio_free(io);
		return NULL;
	}
	io->thread_started = true;
	sd_event_source_set_enabled(io->timer_src, SD_EVENT_OFF);
	return io;
}

int fdm_dsio_submit(struct fdm_dsio *io, const struct fdm_dsio_req *req, uint64_t *id)
{
	struct job *j = calloc(1, sizeof(*j));
	uint64_t now = fdm_now_boottime_ms();

	if (j == NULL)
		return -1;
	j->req = *req;
	j->req.msg = NULL;
	j->req.hosts = NULL;
	if (req->op == FDM_DSIO_HOSTS_READ && req->n_hosts > 0) {
		j->hosts = malloc(req->n_hosts * sizeof(*j->hosts));
		if (j->hosts == NULL) {
			free(j);
			return -1;
		}
		memcpy(j->hosts, req->hosts, req->n_hosts * sizeof(*j->hosts));
	} else {
		j->req.n_hosts = 0;
	}
	if (req->msg != NULL) {
		j->packed_len = protobuf_c_message_get_packed_size(req->msg);
		j->packed = malloc(j->packed_len + 1);
		if (j->packed == NULL) {
			free(j->hosts);
			free(j);
			return -1;
		}
		protobuf_c_message_pack(req->msg, j->packed);
	}
	j->out.op = req->op;
	j->out.id = ++io->next_id;
	j->out.host = j->req.host;
	j->out.submitted_ms = now;
	j->out.deadline_ms = req->deadline_ms != 0 ? req->deadline_ms : now + io->io_timeout_ms;
	j->out.res.damaged_slot = -1;
	j->onext = io->outstanding;
	io->outstanding = j;
	io->stats.submitted++;
	pthread_mutex_lock(&io->sh->mu);
	if (io->sh->queue_tail != NULL)
		io->sh->queue_tail->next = j;
	else
		io->sh->queue_head = j;
	io->sh->queue_tail = j;
	io->sh->queued_now++;
	pthread_cond_signal(&io->sh->cv);
	pthread_mutex_unlock(&io->sh->mu);
	if (id != NULL)
		*id = j->out.id;
	arm_timer(io);
	return 0;
}

void fdm_dsio_get_stats(struct fdm_dsio *io, struct fdm_dsio_stats *out)
{
	*out = io->stats;
	pthread_mutex_lock(&io->sh->mu);
	out->queued_now = io->sh->queued_now;
	out->running_now = io->sh->running != NULL;
	out->expired_in_queue = io->sh->expired_in_queue;
	pthread_mutex_unlock(&io->sh->mu);
}

struct fdm_ds *fdm_dsio_ds(struct fdm_dsio *io)
{
	return io->sh->ds;
}

void fdm_dsio_free(struct fdm_dsio *io)
{
	struct job *running = NULL, *next;

	if (io == NULL)
		return;
	if (io->thread_started) {
		pthread_mutex_lock(&io->sh->mu);
		io->sh->stop = true;
		running = io->sh->running;
		/* Queued and finished jobs are dropped (freed below, from
		 * outstanding); the worker takes nothing more. */
		io->sh->queue_head = io->sh->queue_tail = NULL;
		io->sh->done_head = NULL;
		io->sh->queued_now = 0;
		pthread_cond_signal(&io->sh->cv);
		pthread_mutex_unlock(&io->sh->mu);
		/* An idle worker wakes and exits at once: wait for it. One in a
		 * call may be stuck in the kernel for good (a hard NFS mount):
		 * leave it; it frees its job and, last, the shared state. */
		if (running == NULL)
			pthread_join(io->thread, NULL);
		else
			pthread_detach(io->thread);
	}
	for (struct job *j = io->outstanding; j != NULL; j = next) {
		next = j->onext;
		if (j != running)
			free_job(j);
	}
	sd_event_source_unref(io->io_src);
	sd_event_source_unref(io->timer_src);
	sd_event_unref(io->ev);
	shared_unref(io->sh);
	free(io);
}
