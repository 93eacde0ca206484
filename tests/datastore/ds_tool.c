/* ds-tool: drives the real lease state machine, dsio and the sync datastore API
 * against a URL, for the Python system tests. One line per event on stdout:
 *   <CLOCK_BOOTTIME ms> <event> [key=value ...]
 * Commands:
 *   acquire-and-hold [--for MS] [--release-after MS]   lease via dsio + sd-event
 *   hold-without-renewing [--for MS]   acquire, then stop renewing (stay alive)
 *   write-hb N                 N heartbeat writes; latency median/p99/max
 *   measure-acquire N          N acquisitions of a free lease (total and I/O part)
 *   write-records              hb, poweron and a 2-VM protected list
 *   corrupt RECORD | truncate RECORD     RECORD: lease|vmlist|hb|poweron (own)
 *   forge RECORD KEYFILE       write RECORD (hb|poweron) framed with another key
 *   stall-probe MS             hb write every io via dsio, tick every 100 ms
 *   read-hosts ID...           the master's batched read (dsio HOSTS_READ): per
 *                              host its hb (fingerprint) and poweron record */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datastore/ds_backend.h"
#include "datastore/dsio.h"
#include "fdm/core/lease.h"
#include "lib/config.h"
#include "lib/stats.h"
#include "lib/timing.h"
#include "lib/util.h"

struct tool {
	struct fdm_ds_params p;
	uint8_t key[FDM_KEY_MAX];
	const char *url;
	struct fdm_ds *ds;             /* sync commands */
	struct fdm_lease_timing lt;
	uint64_t for_ms;
	uint64_t release_after_ms;
	/* event-loop commands */
	sd_event *ev;
	struct fdm_dsio *io;
	sd_event_source *lease_timer;
	sd_event_source *tick;
	struct fdm_lease lease;
	bool freeze_when_held;
	bool frozen;
	uint64_t start_ms;
	uint64_t last_tick;
	uint64_t max_gap;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	printf("%llu ", (unsigned long long)fdm_now_boottime_ms());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void msleep(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static enum fdm_ds_rec rec_by_name(const char *s)
{
	static const char *const names[FDM_DS_REC_COUNT] = {
		[FDM_DS_REC_LEASE] = "lease", [FDM_DS_REC_VMLIST] = "vmlist",
		[FDM_DS_REC_HB] = "hb", [FDM_DS_REC_POWERON] = "poweron",
		[FDM_DS_REC_IDENTITY] = "identity",
	};

	for (int i = 0; i < FDM_DS_REC_COUNT; i++)
		if (names[i] != NULL && strcmp(s, names[i]) == 0)
			return (enum fdm_ds_rec)i;
	fprintf(stderr, "ds-tool: unknown record %s (lease|vmlist|hb|poweron|identity)\n", s);
	exit(2);
}

static void print_stats(const char *what, uint64_t *v, size_t n)
{
	struct fdm_stats st;

	if (n == 0)
		return;
	st = fdm_stats_of(v, n);
	say("%s n=%zu median_us=%llu p99_us=%llu max_us=%llu", what, n,
	    (unsigned long long)st.median, (unsigned long long)st.p99,
	    (unsigned long long)st.max);
}

/* ------------------------------------------------------------ lease on the loop */

static void lease_apply(struct tool *t, struct fdm_lease_action a);

static void on_lease_io(struct fdm_dsio_done *d, void *userdata)
{
	struct tool *t = userdata;
	bool ok = d->status == FDM_DS_OK;

	if (!ok)
		say("lease-io op=%s status=%s msg=\"%s\"", fdm_dsio_op_name(d->op),
		    fdm_ds_status_name(d->status), d->res.msg);
	if (d->op == FDM_DSIO_LEASE_READ)
		lease_apply(t, fdm_lease_read_done(&t->lease, d->finished_ms, ok, &d->lease));
	else
		lease_apply(t, fdm_lease_write_done(&t->lease, d->finished_ms, ok));
}

static int on_lease_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tool *t = userdata;

	(void)s; (void)usec;
	lease_apply(t, fdm_lease_tick(&t->lease, fdm_now_boottime_ms()));
	return 0;
}

static void lease_apply(struct tool *t, struct fdm_lease_action a)
{
	struct fdm_dsio_req r = { .cb = on_lease_io, .userdata = t };

	if (a.note != FDM_LEASE_NOTE_NONE)
		say("%s owner=%s why=\"%s\" release_ms=%llu", fdm_lease_note_name(a.note),
		    fdm_lease_last_owner(&t->lease), a.why ? a.why : "",
		    (unsigned long long)a.release_ms);
	if (a.note == FDM_LEASE_NOTE_ACQUIRED && t->freeze_when_held) {
		t->frozen = true;
		say("stopped-renewing");
	}
	if (t->frozen)
		return;
	if (a.io == FDM_LEASE_IO_READ) {
		r.op = FDM_DSIO_LEASE_READ;
		fdm_dsio_submit(t->io, &r, NULL);
	} else if (a.io == FDM_LEASE_IO_WRITE) {
		r.op = FDM_DSIO_LEASE_WRITE;
		r.lease = a.write;
		fdm_dsio_submit(t->io, &r, NULL);
	} else {
		sd_event_source_set_time(t->lease_timer, a.wake_ms * 1000);
		sd_event_source_set_enabled(t->lease_timer, SD_EVENT_ONESHOT);
	}
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tool *t = userdata;
	uint64_t now = fdm_now_boottime_ms();

	if (t->last_tick != 0 && now - t->last_tick > t->max_gap)
		t->max_gap = now - t->last_tick;
	t->last_tick = now;
	say("tick");
	sd_event_source_set_time(s, usec + 100000);
	return 0;
}

static int loop_start(struct tool *t)
{
	char err[256];

	if (sd_event_new(&t->ev) < 0)
		return -1;
	t->io = fdm_dsio_new(t->ev, t->ds, err, sizeof(err));
	t->ds = NULL;
	if (t->io == NULL) {
		fprintf(stderr, "ds-tool: %s\n", err);
		return -1;
	}
	sd_event_add_time(t->ev, &t->lease_timer, CLOCK_BOOTTIME, UINT64_MAX, 1000,
			  on_lease_timer, t);
	sd_event_source_set_enabled(t->lease_timer, SD_EVENT_OFF);
	t->start_ms = fdm_now_boottime_ms();
	return 0;
}

static void loop_run(struct tool *t, uint64_t for_ms)
{
	uint64_t end = t->start_ms + for_ms;
	bool released = false;

	while (fdm_now_boottime_ms() < end) {
		sd_event_run(t->ev, 50000);
		if (t->release_after_ms && !released && fdm_lease_held(&t->lease) &&
		    fdm_now_boottime_ms() >= t->start_ms + t->release_after_ms) {
			released = true;
			say("releasing");
			lease_apply(t, fdm_lease_release(&t->lease, fdm_now_boottime_ms()));
		}
	}
}

static void loop_stop(struct tool *t)
{
	struct fdm_dsio_stats st;

	fdm_dsio_get_stats(t->io, &st);
	say("dsio submitted=%llu completed=%llu timed_out=%llu late_discarded=%llu max_tick_gap_ms=%llu",
	    (unsigned long long)st.submitted, (unsigned long long)st.completed,
	    (unsigned long long)st.timed_out, (unsigned long long)st.late_discarded,
	    (unsigned long long)t->max_gap);
	sd_event_source_unref(t->lease_timer);
	sd_event_source_unref(t->tick);
	fdm_dsio_free(t->io);
	sd_event_unref(t->ev);
}

static int cmd_hold(struct tool *t, bool freeze)
{
	if (loop_start(t) != 0)
		return 1;
	t->freeze_when_held = freeze;
	fdm_lease_init(&t->lease, t->p.host, &t->lt, fdm_ds_random_u64(), fdm_now_boottime_ms());
	say("wanting lease host=%s expiry_ms=%u", t->p.host, t->lt.expiry_ms);
	lease_apply(t, fdm_lease_want(&t->lease, fdm_now_boottime_ms()));
	loop_run(t, t->for_ms);
	say("exit held=%d acting=%d", fdm_lease_held(&t->lease),
	    fdm_lease_acting(&t->lease, fdm_now_boottime_ms()));
	loop_stop(t);
	return 0;
}

static void on_probe_done(struct fdm_dsio_done *d, void *userdata)
{
	(void)userdata;
	say("%s status=%s latency_ms=%llu msg=\"%s\"", fdm_dsio_op_name(d->op),
	    fdm_ds_status_name(d->status), (unsigned long long)(d->finished_ms - d->submitted_ms),
	    d->status == FDM_DS_OK ? "" : d->res.msg);
}

static int cmd_stall_probe(struct tool *t, uint64_t ms)
{
	uint64_t next = 0, end;

	if (loop_start(t) != 0)
		return 1;
	sd_event_add_time(t->ev, &t->tick, CLOCK_BOOTTIME, fdm_now_boottime_ms() * 1000 + 100000,
			  1000, on_tick, t);
	sd_event_source_set_enabled(t->tick, SD_EVENT_ON);
	end = t->start_ms + ms;
	while (fdm_now_boottime_ms() < end) {
		if (fdm_now_boottime_ms() >= next) {
			struct fdm_dsio_req r = { .op = FDM_DSIO_HB_WRITE, .cb = on_probe_done };

			fdm_dsio_submit(t->io, &r, NULL);
			next = fdm_now_boottime_ms() + t->p.io_timeout_ms;
		}
		sd_event_run(t->ev, 20000);
	}
	loop_stop(t);
	return 0;
}

/* One word per status, for key=value lines. */
static const char *status_word(enum fdm_ds_status st)
{
	return st == FDM_DS_OK ? "ok" : st == FDM_DS_EMPTY ? "empty"
	       : st == FDM_DS_CORRUPT ? "corrupt" : "failed";
}

static void on_hosts_read(struct fdm_dsio_done *d, void *userdata)
{
	int *done = userdata;

	say("hosts-read status=%s n=%zu msg=\"%s\"", status_word(d->status),
	    d->n_host_recs, d->status == FDM_DS_OK ? "" : d->res.msg);
	for (size_t i = 0; i < d->n_host_recs; i++) {
		const struct fdm_dsio_host *h = &d->host_recs[i];
		char vms[256] = "";
		size_t len = 0;

		for (size_t k = 0; h->poweron != NULL && k < h->poweron->n_vms; k++)
			len += (size_t)snprintf(vms + len, len < sizeof(vms) ? sizeof(vms) - len : 0,
						"%s%s", k > 0 ? "," : "", h->poweron->vms[k]);
		say("host id=%s hb=%s fingerprint=%u poweron=%s vms=%s", h->host,
		    status_word(h->hb_status), h->hb.fingerprint,
		    status_word(h->poweron_status), vms);
	}
	*done = 1;
}

static int cmd_read_hosts(struct tool *t, char **ids, int n)
{
	char (*hosts)[FDM_DS_ID_MAX] = calloc((size_t)n + 1, sizeof(*hosts));
	struct fdm_dsio_req r = { .op = FDM_DSIO_HOSTS_READ, .cb = on_hosts_read, .n_hosts = (size_t)n };
	uint64_t end;
	int done = 0;

	if (hosts == NULL || loop_start(t) != 0) {
		free(hosts);
		return 1;
	}
	for (int i = 0; i < n; i++)
		fdm_strlcpy(hosts[i], ids[i], FDM_DS_ID_MAX);
	r.hosts = (const char (*)[FDM_DS_ID_MAX])hosts;
	r.userdata = &done;
	fdm_dsio_submit(t->io, &r, NULL);
	end = fdm_now_boottime_ms() + 2 * t->p.io_timeout_ms + 1000;
	while (!done && fdm_now_boottime_ms() < end)
		sd_event_run(t->ev, 50000);
	loop_stop(t);
	free(hosts);
	return done ? 0 : 1;
}

/* ------------------------------------------------------------ sync commands */

static int cmd_init(struct tool *t)
{
	struct fdm_ds_identity id;
	struct fdm_ds_result res;
	bool created;

	if (fdm_ds_init(t->ds, "ds-tool", fdm_ds_deadline(t->ds), &id, &created, &res) != FDM_DS_OK) {
		say("init status=%s msg=\"%s\"", fdm_ds_status_name(res.status), res.msg);
		return 1;
	}
	say("%s cluster=%s uuid=%s", created ? "initialised" : "already-initialised", id.cluster,
	    id.uuid_text);
	return 0;
}

static int cmd_write_hb(struct tool *t, int n)
{
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	struct fdm_ds_result res;
	size_t ok = 0;

	for (int i = 0; i < n; i++) {
		uint64_t t0 = fdm_now_mono_us();
		enum fdm_ds_status st = fdm_ds_hb_write(t->ds, fdm_ds_deadline(t->ds), &res);

		if (st == FDM_DS_CLAIMING) {
			msleep(t->p.io_timeout_ms / 4);
			i--;
			continue;
		}
		if (st != FDM_DS_OK) {
			say("hb-write status=%s msg=\"%s\"", fdm_ds_status_name(st), res.msg);
			free(lat);
			return 1;
		}
		lat[ok++] = fdm_now_mono_us() - t0;
	}
	print_stats("hb-write", lat, ok);
	free(lat);
	return 0;
}

/* Drive the lease synchronously (sleeping through waits); *io_us: time spent in I/O. */
static enum fdm_lease_note sync_until_note(struct tool *t, struct fdm_lease_action a,
					   uint64_t *io_us)
{
	struct fdm_ds_result res;
	uint64_t give_up = fdm_now_boottime_ms() + 10ull * t->lt.expiry_ms;

	while (a.note == FDM_LEASE_NOTE_NONE) {
		uint64_t t0 = fdm_now_boottime_ms(), u0 = fdm_now_mono_us();

		if (t0 >= give_up)
			return FDM_LEASE_NOTE_NONE;

		if (a.io == FDM_LEASE_IO_READ) {
			struct fdm_lease_view v;
			bool ok = fdm_ds_lease_read(t->ds, fdm_ds_deadline(t->ds), &v, &res) == FDM_DS_OK;

			*io_us += fdm_now_mono_us() - u0;
			a = fdm_lease_read_done(&t->lease, fdm_now_boottime_ms(), ok, &v);
		} else if (a.io == FDM_LEASE_IO_WRITE) {
			bool ok = fdm_ds_lease_write(t->ds, fdm_ds_deadline(t->ds), &a.write,
						     &res) == FDM_DS_OK;

			*io_us += fdm_now_mono_us() - u0;
			a = fdm_lease_write_done(&t->lease, fdm_now_boottime_ms(), ok);
		} else {
			if (a.wake_ms > t0)
				msleep(a.wake_ms - t0);
			a = fdm_lease_tick(&t->lease, fdm_now_boottime_ms());
		}
	}
	/* Finish the I/O that came with the note (the first renewal). */
	if (a.io == FDM_LEASE_IO_WRITE) {
		uint64_t u0 = fdm_now_mono_us();
		bool ok = fdm_ds_lease_write(t->ds, fdm_ds_deadline(t->ds), &a.write, &res) == FDM_DS_OK;

		*io_us += fdm_now_mono_us() - u0;
		fdm_lease_write_done(&t->lease, fdm_now_boottime_ms(), ok);
	}
	return a.note;
}

static int cmd_measure_acquire(struct tool *t, int n)
{
	uint64_t *total = calloc((size_t)n, sizeof(*total)), *io = calloc((size_t)n, sizeof(*io));
	int done = 0;

	for (int i = 0; i < n; i++) {
		uint64_t t0 = fdm_now_boottime_ms(), u0 = fdm_now_mono_us(), io_us = 0;
		enum fdm_lease_note note;

		fdm_lease_init(&t->lease, t->p.host, &t->lt, fdm_ds_random_u64(), t0);
		note = sync_until_note(t, fdm_lease_want(&t->lease, t0), &io_us);
		if (note != FDM_LEASE_NOTE_ACQUIRED) {
			say("measure-acquire note=%s", fdm_lease_note_name(note));
			break;
		}
		total[done] = fdm_now_mono_us() - u0;
		io[done++] = io_us;
		note = sync_until_note(t, fdm_lease_release(&t->lease, fdm_now_boottime_ms()), &io_us);
		if (note != FDM_LEASE_NOTE_RELEASED) {
			say("measure-release note=%s", fdm_lease_note_name(note));
			break;
		}
	}
	print_stats("acquire-total", total, (size_t)done);
	print_stats("acquire-io", io, (size_t)done);
	free(total);
	free(io);
	return done == n ? 0 : 1;
}

static int cmd_write_records(struct tool *t)
{
	Fdm__PowerOnRecord po = FDM__POWER_ON_RECORD__INIT;
	Fdm__ProtectedList list = FDM__PROTECTED_LIST__INIT;
	Fdm__ProtectedVm vm1 = FDM__PROTECTED_VM__INIT, vm2 = FDM__PROTECTED_VM__INIT;
	Fdm__ProtectedVm *vms[2] = { &vm1, &vm2 };
	char *names[2] = { "db1", "web1" };
	struct fdm_ds_result res;
	enum fdm_ds_status st;

	do {
		st = fdm_ds_hb_write(t->ds, fdm_ds_deadline(t->ds), &res);
		if (st == FDM_DS_CLAIMING)
			msleep(t->p.io_timeout_ms / 4);
	} while (st == FDM_DS_CLAIMING);
	if (st != FDM_DS_OK)
		goto fail;
	po.host = (char *)t->p.host;
	po.n_vms = 2;
	po.vms = names;
	st = fdm_ds_poweron_write(t->ds, &po, fdm_ds_deadline(t->ds), &res);
	if (st != FDM_DS_OK)
		goto fail;
	vm1.name = "db1";
	vm1.has_priority = true;
	vm1.priority = FDM__PRIORITY__PRIORITY_HIGH;
	vm1.xml = "<domain type='kvm'><name>db1</name></domain>";
	vm2.name = "web1";
	vm2.xml = "<domain type='kvm'><name>web1</name></domain>";
	list.n_vms = 2;
	list.vms = vms;
	st = fdm_ds_vmlist_write(t->ds, &list, fdm_ds_deadline(t->ds), &res);
	if (st != FDM_DS_OK)
		goto fail;
	say("records-written host=%s", t->p.host);
	return 0;
fail:
	say("write-records status=%s msg=\"%s\"", fdm_ds_status_name(st), res.msg);
	return 1;
}

/* The slot readers take now (by header generation), or -1. */
static int active_slot(struct tool *t, enum fdm_ds_rec rec, uint8_t blk[2][4096])
{
	struct fdm_ds_result res;
	uint64_t gen[2] = { 0, 0 };
	bool ok[2];
	size_t got, frame;

	for (int i = 0; i < 2; i++) {
		if (fdm_ds_raw_read(t->ds, rec, t->p.host, (uint64_t)i * fdm_ds_slot_size(rec), blk[i],
				    4096, &got, fdm_ds_deadline(t->ds), &res) != FDM_DS_OK) {
			say("read status=%s msg=\"%s\"", fdm_ds_status_name(res.status), res.msg);
			return -2;
		}
		ok[i] = fdm_rec_peek(blk[i], got, fdm_ds_slot_size(rec), &gen[i], &frame) == FDM_REC_OK;
	}
	if (!ok[0] && !ok[1])
		return -1;
	return ok[1] && (!ok[0] || gen[1] > gen[0]) ? 1 : 0;
}

static int cmd_corrupt(struct tool *t, enum fdm_ds_rec rec)
{
	static uint8_t blk[2][4096] __attribute__((aligned(4096)));
	struct fdm_ds_result res;
	int s = active_slot(t, rec, blk);

	if (s < 0)
		return 1;
	blk[s][FDM_REC_HEADER + 1] ^= 0x5a;     /* one byte of the body */
	if (fdm_ds_raw_write(t->ds, rec, t->p.host, (uint64_t)s * fdm_ds_slot_size(rec), blk[s],
			     4096, fdm_ds_deadline(t->ds), &res) != FDM_DS_OK) {
		say("corrupt status=%s msg=\"%s\"", fdm_ds_status_name(res.status), res.msg);
		return 1;
	}
	say("corrupted record=%s slot=%d", fdm_ds_rec_name(rec), s);
	return 0;
}

/* file, nfs: cut the file inside the first slot's frame. iscsi has no length:
 * zero both slots after the same point, which is what a cut leaves behind. */
static int cmd_truncate(struct tool *t, enum fdm_ds_rec rec)
{
	static uint8_t blk[2][4096] __attribute__((aligned(4096)));
	struct fdm_ds_result res;

	if (strncmp(t->url, "iscsi://", 8) != 0) {
		if (fdm_ds_truncate(t->ds, rec, t->p.host, 100, fdm_ds_deadline(t->ds), &res) != FDM_DS_OK) {
			say("truncate msg=\"%s\"", res.msg);
			return 1;
		}
		say("truncated record=%s", fdm_ds_rec_name(rec));
		return 0;
	}
	if (active_slot(t, rec, blk) < -1)
		return 1;
	for (int i = 0; i < 2; i++) {
		memset(blk[i] + 100, 0, 4096 - 100);
		if (i == 1)
			memset(blk[i], 0, 100);
		if (fdm_ds_raw_write(t->ds, rec, t->p.host, (uint64_t)i * fdm_ds_slot_size(rec), blk[i],
				     4096, fdm_ds_deadline(t->ds), &res) != FDM_DS_OK) {
			say("truncate msg=\"%s\"", res.msg);
			return 1;
		}
	}
	say("truncated record=%s", fdm_ds_rec_name(rec));
	return 0;
}

static int cmd_forge(struct tool *t, enum fdm_ds_rec rec, const char *keyfile)
{
	static uint8_t blk[4096] __attribute__((aligned(4096)));
	Fdm__HostHeartbeatRecord hb = FDM__HOST_HEARTBEAT_RECORD__INIT;
	Fdm__PowerOnRecord po = FDM__POWER_ON_RECORD__INIT;
	struct fdm_rec_auth forger;
	struct fdm_ds_result res;
	uint8_t body[256];
	size_t n;
	char err[256];
	int len;

	memset(&forger, 0, sizeof(forger));
	fdm_strlcpy(forger.cluster, t->p.cluster, sizeof(forger.cluster));
	len = fdm_key_load(keyfile, forger.key, err, sizeof(err));
	if (len < 0) {
		fprintf(stderr, "ds-tool: %s\n", err);
		return 2;
	}
	forger.key_len = (size_t)len;
	hb.host = po.host = (char *)t->p.host;
	hb.counter = 999999;
	n = rec == FDM_DS_REC_HB ? fdm__host_heartbeat_record__pack(&hb, body)
				 : fdm__power_on_record__pack(&po, body);
	for (int i = 0; i < 2; i++) {
		fdm_rec_encode(&forger, rec == FDM_DS_REC_HB ? FDM_REC_KIND_HEARTBEAT : FDM_REC_KIND_POWERON,
			       100 + (uint64_t)i, body, n, blk, sizeof(blk));
		if (fdm_ds_raw_write(t->ds, rec, t->p.host, (uint64_t)i * fdm_ds_slot_size(rec), blk,
				     sizeof(blk), fdm_ds_deadline(t->ds), &res) != FDM_DS_OK) {
			say("forge msg=\"%s\"", res.msg);
			return 1;
		}
	}
	say("forged record=%s", fdm_ds_rec_name(rec));
	return 0;
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr, "usage: ds-tool --url URL --cluster ID --key FILE --host ID [--io MS]\n"
		"               [--for MS] [--release-after MS] COMMAND [ARGS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' }, { "cluster", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' }, { "host", required_argument, NULL, 'H' },
		{ "io", required_argument, NULL, 'i' }, { "for", required_argument, NULL, 'f' },
		{ "release-after", required_argument, NULL, 'r' }, { NULL, 0, NULL, 0 },
	};
	struct tool *t = calloc(1, sizeof(*t));
	const char *keyfile = NULL, *cmd;
	struct fdm_timing tm;
	uint32_t v;
	char err[512];
	int c, len, rc = 2;

	t->p.io_timeout_ms = 1000;
	t->p.cluster = "test";
	t->p.host = "";
	t->for_ms = 10000;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': t->url = optarg; break;
		case 'c': t->p.cluster = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'H': t->p.host = optarg; break;
		case 'i': if (!fdm_parse_u32(optarg, 100, 60000, &v)) usage(); t->p.io_timeout_ms = v; break;
		case 'f': if (!fdm_parse_u32(optarg, 0, 3600000, &v)) usage(); t->for_ms = v; break;
		case 'r': if (!fdm_parse_u32(optarg, 0, 3600000, &v)) usage(); t->release_after_ms = v; break;
		default: usage();
		}
	}
	if (t->url == NULL || keyfile == NULL || optind >= argc)
		usage();
	cmd = argv[optind];
	len = fdm_key_load(keyfile, t->key, err, sizeof(err));
	t->p.key = t->key;
	t->p.key_len = len > 0 ? (size_t)len : 0;
	t->p.incarnation = fdm_now_unix_ms();
	/* heartbeat_interval = io keeps the derivation's inequalities. */
	if (len < 0 ||
	    fdm_timing_derive(t->p.io_timeout_ms, t->p.io_timeout_ms, &tm, err, sizeof(err)) != 0 ||
	    fdm_ds_open(t->url, &t->p, &t->ds, err, sizeof(err)) != 0) {
		fprintf(stderr, "ds-tool: %s\n", err);
		free(t);
		return 2;
	}
	fdm_lease_timing_of(&tm, &t->lt);
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(cmd, "init") == 0)
		rc = cmd_init(t);
	else if (strcmp(cmd, "acquire-and-hold") == 0)
		rc = cmd_hold(t, false);
	else if (strcmp(cmd, "hold-without-renewing") == 0)
		rc = cmd_hold(t, true);
	else if (strcmp(cmd, "stall-probe") == 0 && optind + 1 < argc)
		rc = cmd_stall_probe(t, strtoull(argv[optind + 1], NULL, 10));
	else if (strcmp(cmd, "write-hb") == 0 && optind + 1 < argc)
		rc = cmd_write_hb(t, atoi(argv[optind + 1]));
	else if (strcmp(cmd, "measure-acquire") == 0 && optind + 1 < argc)
		rc = cmd_measure_acquire(t, atoi(argv[optind + 1]));
	else if (strcmp(cmd, "read-hosts") == 0 && optind + 1 < argc)
		rc = cmd_read_hosts(t, argv + optind + 1, argc - optind - 1);
	else if (strcmp(cmd, "write-records") == 0)
		rc = cmd_write_records(t);
	else if (strcmp(cmd, "corrupt") == 0 && optind + 1 < argc)
		rc = cmd_corrupt(t, rec_by_name(argv[optind + 1]));
	else if (strcmp(cmd, "truncate") == 0 && optind + 1 < argc)
		rc = cmd_truncate(t, rec_by_name(argv[optind + 1]));
	else if (strcmp(cmd, "forge") == 0 && optind + 2 < argc)
		rc = cmd_forge(t, rec_by_name(argv[optind + 1]), argv[optind + 2]);
	else
		usage();
	fdm_ds_close(t->ds);
	free(t);
	return rc;
}
