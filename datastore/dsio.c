/* The datastore worker (dsio.h). Ownership of a job: the loop thread creates it
 * and keeps it on `outstanding` until it is both finished by the worker and
 * reported to the caller; the worker only touches a job between taking it from
 * `queue` and putting it on `done`, both under the mutex. The loop timer never
 * reads a running job's results: a timeout report is made from the request
 * alone, so a stuck worker can hold its job as long as it likes. */
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
	bool finished;                 /* worker done (under mutex) */
	bool reported;                 /* callback made (loop thread) */
	struct fdm_dsio_done out;      /* worker's result */
};

struct fdm_dsio {
	sd_event *ev;
	sd_event_source *io_src;
	sd_event_source *timer_src;
	int efd;
	struct fdm_ds *ds;
	uint32_t io_timeout_ms;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *queue_head, *queue_tail;
	struct job *done_head;
	bool stop;
	struct job *outstanding;
	uint64_t next_id;
	struct fdm_dsio_stats stats;
};

static void free_job(struct job *j)
{
	if (j->out.msg != NULL)
		protobuf_c_message_free_unpacked(j->out.msg, NULL);
	free(j->out.hosts);
	free(j->packed);
	free(j);
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
	case FDM_DSIO_OP_COUNT:
		break;
	}
	return fdm_ds_fail(ds, &o->res, FDM_DS_IO, "unknown request");
}

static void *worker(void *arg)
{
	struct fdm_dsio *io = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&io->mu);
	for (;;) {
		struct job *j;

		while (!io->stop && io->queue_head == NULL)
			pthread_cond_wait(&io->cv, &io->mu);
		if (io->stop)
			break;
		j = io->queue_head;
		io->queue_head = j->next;
		if (io->queue_head == NULL)
			io->queue_tail = NULL;
		io->stats.queued_now--;
		pthread_mutex_unlock(&io->mu);

		/* A request that waited past its deadline is not started: a write
		 * must land within io of the moment its caller decided on it. */
		if (fdm_now_mono_ms() >= j->out.deadline_ms) {
			j->out.status = fdm_ds_fail(io->ds, &j->out.res, FDM_DS_TIMEOUT,
						    "%s: deadline passed while queued",
						    fdm_dsio_op_name(j->req.op));
			pthread_mutex_lock(&io->mu);
			io->stats.expired_in_queue++;
		} else {
			j->out.status = run_job(io->ds, j);
			pthread_mutex_lock(&io->mu);
		}
		j->finished = true;
		j->next = io->done_head;
		io->done_head = j;
		if (write(io->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow in practice; nothing to do. */
		}
	}
	pthread_mutex_unlock(&io->mu);
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
	d->finished_ms = fdm_now_mono_ms();
	if (j->req.cb != NULL)
		j->req.cb(d, j->req.userdata);
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

/* Deliver what the worker finished. */
static void drain(struct fdm_dsio *io)
{
	struct job *list, *next;

	pthread_mutex_lock(&io->mu);
	list = io->done_head;
	io->done_head = NULL;
	pthread_mutex_unlock(&io->mu);
	for (struct job *j = list; j != NULL; j = next) {
		next = j->next;
		if (j->reported) {
			io->stats.late_discarded++;
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
	uint64_t now = fdm_now_mono_ms();
	bool again = true;

	(void)s; (void)usec;
	drain(io);   /* a result already there is not a timeout */
	/* Report one at a time: a callback may submit and so change the list. */
	while (again) {
		again = false;
		for (struct job *j = io->outstanding; j != NULL; j = j->onext) {
			struct fdm_dsio_done d;

			if (j->reported || j->out.deadline_ms > now)
				continue;
			d = j->out;
			memset(&d.res, 0, sizeof(d.res));
			d.msg = NULL;
			d.hosts = NULL;
			d.res.damaged_slot = -1;
			d.status = fdm_ds_fail(io->ds, &d.res, FDM_DS_TIMEOUT,
					       "%s: no result within its deadline",
					       fdm_dsio_op_name(j->req.op));
			io->stats.timed_out++;
			report(j, &d);
			again = true;
			break;
		}
	}
	arm_timer(io);
	return 0;
}

struct fdm_dsio *fdm_dsio_new(sd_event *ev, struct fdm_ds *ds, char *err, size_t errlen)
{
	struct fdm_dsio *io = calloc(1, sizeof(*io));

	if (io == NULL) {
		snprintf(err, errlen, "%s: out of memory", fdm_ds_url(ds));
		fdm_ds_close(ds);
		return NULL;
	}
	io->ev = sd_event_ref(ev);
	io->ds = ds;
	io->io_timeout_ms = fdm_ds_io_timeout(ds);
	io->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&io->mu, NULL);
	pthread_cond_init(&io->cv, NULL);
	if (io->efd < 0 ||
	    sd_event_add_io(ev, &io->io_src, io->efd, EPOLLIN, on_eventfd, io) < 0 ||
	    sd_event_add_time(ev, &io->timer_src, CLOCK_MONOTONIC, UINT64_MAX, 1000,
			      on_timer, io) < 0 ||
	    pthread_create(&io->thread, NULL, worker, io) != 0) {
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
	uint64_t now = fdm_now_mono_ms();

	if (j == NULL)
		return -1;
	j->req = *req;
	j->req.msg = NULL;
	if (req->msg != NULL) {
		j->packed_len = protobuf_c_message_get_packed_size(req->msg);
		j->packed = malloc(j->packed_len + 1);
		if (j->packed == NULL) {
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
	pthread_mutex_lock(&io->mu);
	if (io->queue_tail != NULL)
		io->queue_tail->next = j;
	else
		io->queue_head = j;
	io->queue_tail = j;
	io->stats.queued_now++;
	pthread_cond_signal(&io->cv);
	pthread_mutex_unlock(&io->mu);
	if (id != NULL)
		*id = j->out.id;
	arm_timer(io);
	return 0;
}

void fdm_dsio_get_stats(struct fdm_dsio *io, struct fdm_dsio_stats *out)
{
	pthread_mutex_lock(&io->mu);
	*out = io->stats;
	pthread_mutex_unlock(&io->mu);
}

struct fdm_ds *fdm_dsio_ds(struct fdm_dsio *io)
{
	return io->ds;
}

void fdm_dsio_free(struct fdm_dsio *io)
{
	struct job *next;

	if (io == NULL)
		return;
	if (io->thread_started) {
		pthread_mutex_lock(&io->mu);
		io->stop = true;
		pthread_cond_signal(&io->cv);
		pthread_mutex_unlock(&io->mu);
		pthread_join(io->thread, NULL);
	}
	/* Every job is on outstanding until freed, queued or done alike. */
	for (struct job *j = io->outstanding; j != NULL; j = next) {
		next = j->onext;
		free_job(j);
	}
	sd_event_source_unref(io->io_src);
	sd_event_source_unref(io->timer_src);
	if (io->efd >= 0)
		close(io->efd);
	sd_event_unref(io->ev);
	pthread_mutex_destroy(&io->mu);
	pthread_cond_destroy(&io->cv);
	fdm_ds_close(io->ds);
	free(io);
}
