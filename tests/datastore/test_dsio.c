/* dsio on file://: results reach the sd-event loop; a worker stuck in the kernel
 * is reported as a timeout at the deadline while the loop keeps ticking, and its
 * late result is discarded; a result the worker gets after its deadline is a
 * timeout even when it beats the loop timer; fdm_dsio_free returns at once with
 * a worker stuck in a call, which cleans up after itself when the call returns.
 *
 * A stuck kernel call is injected: this file defines pread(), which the file://
 * backend calls, and blocks it while `hook.block` is set (the test's stand-in
 * for a read on a hung hard NFS mount). */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "datastore/dsio.h"
#include "lib/util.h"

/* ------------------------------------------------------------ the injected stall */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool block;           /* preads wait while set */
	int inside;           /* preads waiting now */
	int returned;         /* preads that waited, then returned */
} hook = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0 };

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	bool waited = false;

	pthread_mutex_lock(&hook.mu);
	while (hook.block) {
		if (!waited)
			hook.inside++;
		waited = true;
		pthread_cond_broadcast(&hook.cv);
		pthread_cond_wait(&hook.cv, &hook.mu);
	}
	if (waited) {
		hook.inside--;
		hook.returned++;
		pthread_cond_broadcast(&hook.cv);
	}
	pthread_mutex_unlock(&hook.mu);
	return syscall(SYS_pread64, fd, buf, n, off);
}

static void stall(bool on)
{
	pthread_mutex_lock(&hook.mu);
	hook.block = on;
	pthread_cond_broadcast(&hook.cv);
	pthread_mutex_unlock(&hook.mu);
}

/* Wait (bounded) until a pread is stuck, or until `n` stuck ones came back. */
static bool wait_hook(bool for_inside, int n, uint64_t max_ms)
{
	uint64_t end = fdm_now_boottime_ms() + max_ms;
	bool ok;

	pthread_mutex_lock(&hook.mu);
	for (;;) {
		ok = for_inside ? hook.inside > 0 : hook.returned >= n;
		if (ok || fdm_now_boottime_ms() >= end)
			break;
		pthread_mutex_unlock(&hook.mu);
		usleep(2000);
		pthread_mutex_lock(&hook.mu);
	}
	pthread_mutex_unlock(&hook.mu);
	return ok;
}

static void msleep(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Threads of this process now. */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ------------------------------------------------------------ fixture */

struct fx {
	char dir[64];
	sd_event *ev;
	struct fdm_dsio *io;
	int done;
	struct fdm_dsio_done last;
	enum fdm_dsio_op order[8];
	uint64_t ticks, max_gap, last_tick;
	sd_event_source *tick_src;
};

static uint8_t key[32] = { 5 };

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fx *f = userdata;
	uint64_t now = fdm_now_boottime_ms();

	if (f->last_tick != 0 && now - f->last_tick > f->max_gap)
		f->max_gap = now - f->last_tick;
	f->last_tick = now;
	f->ticks++;
	sd_event_source_set_time(s, usec + 20000);
	return 0;
}

static void on_done(struct fdm_dsio_done *d, void *userdata)
{
	struct fx *f = userdata;

	if (f->done < 8)
		f->order[f->done] = d->op;
	f->done++;
	f->last = *d;
	f->last.msg = NULL;
	f->last.hosts = NULL;
}

static void run_until(struct fx *f, int done, uint64_t max_ms)
{
	uint64_t end = fdm_now_boottime_ms() + max_ms;

	while (f->done < done && fdm_now_boottime_ms() < end)
		sd_event_run(f->ev, 50000);
}

static struct fdm_ds *open_as(const char *dir, const char *host, bool init)
{
	struct fdm_ds_params p = { .cluster = "c1", .key = key, .key_len = 32, .host = host,
				   .io_timeout_ms = 1000 };
	struct fdm_ds_identity id;
	struct fdm_ds_result res;
	struct fdm_ds *ds;
	char url[128], err[256];
	bool created;

	snprintf(url, sizeof(url), "file://%s", dir);
	assert_int_equal(fdm_ds_open(url, &p, &ds, err, sizeof(err)), 0);
	/* A generous deadline: the first call is slow under valgrind. */
	if (init)
		assert_int_equal(fdm_ds_init(ds, "test", fdm_now_boottime_ms() + 10000, &id, &created,
					     &res), FDM_DS_OK);
	return ds;
}

static struct fdm_ds *open_ds(const char *dir, bool init)
{
	return open_as(dir, "host-1", init);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	strcpy(f->dir, "/tmp/fdm-dsio-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(sd_event_new(&f->ev), 0);
	f->io = fdm_dsio_new(f->ev, open_ds(f->dir, true), err, sizeof(err));
	assert_non_null(f->io);
	assert_int_equal(sd_event_add_time(f->ev, &f->tick_src, CLOCK_BOOTTIME,
					   fdm_now_boottime_ms() * 1000 + 20000, 1000, on_tick, f), 0);
	sd_event_source_set_enabled(f->tick_src, SD_EVENT_ON);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	stall(false);
	fdm_dsio_free(f->io);
	sd_event_source_unref(f->tick_src);
	sd_event_unref(f->ev);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void submit(struct fx *f, enum fdm_dsio_op op, const char *host, uint64_t deadline)
{
	struct fdm_dsio_req r = { .op = op, .cb = on_done, .userdata = f, .deadline_ms = deadline };

	if (host != NULL)
		strcpy(r.host, host);
	assert_int_equal(fdm_dsio_submit(f->io, &r, NULL), 0);
}

/* ------------------------------------------------------------ tests */

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct fdm_dsio_req r = { .op = FDM_DSIO_LEASE_WRITE, .cb = on_done, .userdata = f,
				  .lease = { .owner = "host-1", .generation = 1, .nonce = 5,
					     .io_timeout_ms = 300, .expiry_ms = 1200 } };
	Fdm__PowerOnRecord po = FDM__POWER_ON_RECORD__INIT;

	submit(f, FDM_DSIO_HB_WRITE, NULL, 0);
	submit(f, FDM_DSIO_HB_READ, "host-1", 0);
	run_until(f, 2, 4000);
	assert_int_equal(f->done, 2);
	assert_int_equal(f->last.op, FDM_DSIO_HB_READ);
	assert_int_equal(f->last.status, FDM_DS_OK);
	assert_int_equal(f->last.hb.counter, 1);
	/* Deadlines and report times are on CLOCK_BOOTTIME, the agent's clock. */
	assert_true(f->last.finished_ms <= fdm_now_boottime_ms());
	assert_true(f->last.finished_ms + 2000 > fdm_now_boottime_ms());
	assert_int_equal(f->last.deadline_ms, f->last.submitted_ms + 1000);
	submit(f, FDM_DSIO_LEASE_READ, NULL, 0);
	assert_int_equal(fdm_dsio_submit(f->io, &r, NULL), 0);
	/* An explicit deadline (the agent passes its decision time + io); generous
	 * so that a loaded machine does not turn it into a timeout. */
	submit(f, FDM_DSIO_LEASE_READ, NULL, fdm_now_boottime_ms() + 3000);
	run_until(f, 5, 4000);
	assert_int_equal(f->last.status, FDM_DS_OK);
	assert_int_equal(f->last.lease.kind, FDM_LEASE_VIEW_VALID);
	assert_string_equal(f->last.lease.rec.owner, "host-1");
	assert_int_equal(f->last.lease.rec.io_timeout_ms, 300);
	assert_int_equal(f->last.lease.rec.expiry_ms, 1200);
	po.host = "host-1";
	r.op = FDM_DSIO_POWERON_WRITE;
	r.msg = &po.base;
	assert_int_equal(fdm_dsio_submit(f->io, &r, NULL), 0);
	submit(f, FDM_DSIO_POWERON_READ, "host-1", 0);
	submit(f, FDM_DSIO_LIST_HOSTS, NULL, 0);
	run_until(f, 8, 4000);
	assert_int_equal(f->done, 8);
	assert_int_equal(f->last.status, FDM_DS_OK);
}

static bool wait_worker_idle(struct fx *f, uint64_t max_ms)
{
	uint64_t end = fdm_now_boottime_ms() + max_ms;
	struct fdm_dsio_stats st;

	for (;;) {
		fdm_dsio_get_stats(f->io, &st);
		if (st.queued_now == 0 && st.running_now == 0)
			return true;
		if (fdm_now_boottime_ms() >= end)
			return false;
		msleep(2);
	}
}

/* Results the worker finished before the loop looked are still reported in
 * the order they finished, the order they were submitted. */
static void test_reports_in_completion_order(void **state)
{
	struct fx *f = *state;
	submit(f, FDM_DSIO_HB_WRITE, NULL, fdm_now_boottime_ms() + 20000);
	submit(f, FDM_DSIO_HB_READ, "host-1", fdm_now_boottime_ms() + 20000);
	submit(f, FDM_DSIO_LEASE_READ, NULL, fdm_now_boottime_ms() + 20000);
	/* Let the worker finish all three before the loop drains any. */
	assert_true(wait_worker_idle(f, 10000));
	run_until(f, 3, 4000);
	assert_int_equal(f->done, 3);
	assert_int_equal(f->order[0], FDM_DSIO_HB_WRITE);
	assert_int_equal(f->order[1], FDM_DSIO_HB_READ);
	assert_int_equal(f->order[2], FDM_DSIO_LEASE_READ);
}

static void test_stuck_worker_times_out(void **state)
{
	struct fx *f = *state;
	struct fdm_dsio_stats st;
	uint64_t t0;

	submit(f, FDM_DSIO_HB_WRITE, NULL, 0);
	run_until(f, 1, 2000);
	assert_int_equal(f->last.status, FDM_DS_OK);
	f->done = 0;
	stall(true);
	t0 = fdm_now_boottime_ms();
	submit(f, FDM_DSIO_HB_READ, "host-1", 0);      /* stuck in pread */
	submit(f, FDM_DSIO_LEASE_READ, NULL, 0);       /* queued behind it */
	f->max_gap = 0;
	run_until(f, 2, 3000);
	assert_int_equal(f->done, 2);
	assert_int_equal(f->last.status, FDM_DS_TIMEOUT);
	print_message("timeouts reported after %llu ms (io_timeout 1000), loop max gap %llu ms\n",
		      (unsigned long long)(fdm_now_boottime_ms() - t0), (unsigned long long)f->max_gap);
	assert_true(fdm_now_boottime_ms() - t0 >= 1000);
	assert_true(fdm_now_boottime_ms() - t0 < 1600);
	assert_true(f->max_gap < 200);

	/* Unblock the worker: its results arrive late and are dropped. */
	stall(false);
	for (int i = 0; i < 40; i++) {
		sd_event_run(f->ev, 50000);
		fdm_dsio_get_stats(f->io, &st);
		if (st.late_discarded == 2)
			break;
	}
	assert_int_equal(f->done, 2);
	fdm_dsio_get_stats(f->io, &st);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.timed_out, 2);
	assert_int_equal(st.late_discarded, 2);
	assert_int_equal(st.expired_in_queue, 1);
}

/* Issue 14 fix 4: the worker finishes after the deadline but before the loop
 * looks (the loop was busy): that result is a timeout, whatever it was. */
static void test_late_completion_is_timeout(void **state)
{
	struct fx *f = *state;
	struct fdm_dsio_stats st;
	uint64_t deadline;

	submit(f, FDM_DSIO_HB_WRITE, NULL, 0);
	run_until(f, 1, 2000);
	assert_int_equal(f->last.status, FDM_DS_OK);
	stall(true);
	deadline = fdm_now_boottime_ms() + 100;
	submit(f, FDM_DSIO_HB_READ, "host-1", deadline);
	assert_true(wait_hook(true, 0, 2000));
	/* The loop does not run: the timer cannot fire. Past the deadline the
	 * read comes back with a valid record. */
	msleep(150);
	stall(false);
	assert_true(wait_hook(false, 1, 2000));
	/* Still without the loop: wait until the worker has finished the call
	 * (on a loaded machine that takes more than a moment after the pread). */
	assert_true(wait_worker_idle(f, 5000));
	run_until(f, 2, 2000);
	assert_int_equal(f->done, 2);
	assert_int_equal(f->last.status, FDM_DS_TIMEOUT);
	assert_non_null(strstr(f->last.res.msg, "after its deadline"));
	fdm_dsio_get_stats(f->io, &st);
	assert_int_equal(st.completed + st.late_completed, 2);
	assert_int_equal(st.timed_out, 0);
}

static void *lift_stall_later(void *arg)
{
	(void)arg;
	msleep(150);
	stall(false);
	return NULL;
}

/* The same for a synchronous call: done after its deadline is a timeout. */
static void test_sync_late(void **state)
{
	struct fx *f = *state;
	struct fdm_ds *ds = open_ds(f->dir, false);
	struct fdm_ds_result res;
	struct fdm_ds_hb hb;
	struct fdm_ds_stats st;
	pthread_t t;

	assert_int_equal(fdm_ds_hb_write(ds, fdm_ds_deadline(ds), &res), FDM_DS_OK);
	stall(true);
	assert_int_equal(pthread_create(&t, NULL, lift_stall_later, NULL), 0);
	assert_int_equal(fdm_ds_hb_read(ds, "host-1", fdm_now_boottime_ms() + 100, &hb, &res),
			 FDM_DS_TIMEOUT);
	assert_non_null(strstr(res.msg, "after its deadline"));
	pthread_join(t, NULL);
	fdm_ds_get_stats(ds, &st);
	assert_int_equal(st.timeouts, 1);
	/* In time, the same read is fine. */
	assert_int_equal(fdm_ds_hb_read(ds, "host-1", fdm_ds_deadline(ds), &hb, &res), FDM_DS_OK);
	assert_int_equal(hb.counter, 1);
	fdm_ds_close(ds);
}

/* Issue 14 fix 5 / issue 15: freeing a dsio whose worker is stuck in a call
 * returns at once (a reload that drops a datastore, the agent's exit); the
 * worker frees everything when its call returns. */
static void test_free_with_stuck_worker(void **state)
{
	struct fx *f = *state;
	int before = threads();
	uint64_t t0, took;

	stall(true);
	submit(f, FDM_DSIO_HB_READ, "host-1", 0);
	submit(f, FDM_DSIO_LEASE_READ, NULL, 0);       /* queued: dropped */
	assert_true(wait_hook(true, 0, 2000));
	t0 = fdm_now_boottime_ms();
	fdm_dsio_free(f->io);
	took = fdm_now_boottime_ms() - t0;
	f->io = NULL;
	print_message("fdm_dsio_free with a stuck worker took %llu ms\n", (unsigned long long)took);
	assert_true(took < 100);
	assert_int_equal(f->done, 0);                  /* no callbacks after free */
	/* The call returns: the worker frees its job and the datastore, exits. */
	stall(false);
	for (int i = 0; i < 200 && threads() >= before; i++)
		msleep(10);
	assert_true(threads() < before);
	run_until(f, 1, 100);
	assert_int_equal(f->done, 0);
}

/* What a HOSTS_READ callback saw (its records are freed after it). */
static struct {
	int done;
	enum fdm_ds_status status;
	size_t n;
	struct {
		char host[FDM_DS_ID_MAX];
		enum fdm_ds_status hb, poweron;
		uint32_t fingerprint;
		size_t n_vms;
		char vm0[32];
	} h[4];
} seen;

static void on_hosts(struct fdm_dsio_done *d, void *userdata)
{
	(void)userdata;
	memset(&seen, 0, sizeof(seen));
	seen.done = 1;
	seen.status = d->status;
	seen.n = d->n_host_recs;
	for (size_t i = 0; i < d->n_host_recs && i < 4; i++) {
		const struct fdm_dsio_host *r = &d->host_recs[i];

		strcpy(seen.h[i].host, r->host);
		seen.h[i].hb = r->hb_status;
		seen.h[i].poweron = r->poweron_status;
		seen.h[i].fingerprint = r->hb.fingerprint;
		if (r->poweron != NULL) {
			seen.h[i].n_vms = r->poweron->n_vms;
			if (r->poweron->n_vms > 0)
				snprintf(seen.h[i].vm0, sizeof(seen.h[i].vm0), "%s", r->poweron->vms[0]);
		}
	}
}

static void read_hosts(struct fx *f)
{
	static const char ids[4][FDM_DS_ID_MAX] = { "host-1", "host-2", "host-3", "host-4" };
	struct fdm_dsio_req r = { .op = FDM_DSIO_HOSTS_READ, .cb = on_hosts, .hosts = ids,
				  .n_hosts = 4 };
	uint64_t end = fdm_now_boottime_ms() + 2000;

	seen.done = 0;
	assert_int_equal(fdm_dsio_submit(f->io, &r, NULL), 0);
	while (!seen.done && fdm_now_boottime_ms() < end)
		sd_event_run(f->ev, 50000);
	assert_int_equal(seen.done, 1);
}

/* The master's batched read of other hosts' records: per host its hb (with a
 * fingerprint that moves with every write) and poweron record; a record never
 * written reads EMPTY and a damaged one CORRUPT, neither stopping the batch. */
static void test_hosts_read(void **state)
{
	static uint8_t junk[4096] __attribute__((aligned(4096)));
	struct fx *f = *state;
	struct fdm_ds *h2 = open_as(f->dir, "host-2", false);
	Fdm__PowerOnRecord po = FDM__POWER_ON_RECORD__INIT;
	char *vms[] = { "db1" };
	struct fdm_ds_result res;
	uint32_t fp1, fp2;

	submit(f, FDM_DSIO_HB_WRITE, NULL, 0);           /* host-1: hb, no poweron */
	run_until(f, 1, 2000);
	assert_int_equal(fdm_ds_hb_write(h2, fdm_ds_deadline(h2), &res), FDM_DS_OK);
	po.host = "host-2";
	po.n_vms = 1;
	po.vms = vms;
	assert_int_equal(fdm_ds_poweron_write(h2, &po, fdm_ds_deadline(h2), &res), FDM_DS_OK);
	memset(junk, 0xa5, sizeof(junk));                /* host-4: a damaged poweron */
	for (int slot = 0; slot < 2; slot++)
		assert_int_equal(fdm_ds_raw_write(h2, FDM_DS_REC_POWERON, "host-4",
						  (uint64_t)slot * fdm_ds_slot_size(FDM_DS_REC_POWERON),
						  junk, sizeof(junk), fdm_ds_deadline(h2), &res),
				 FDM_DS_OK);

	read_hosts(f);
	assert_int_equal(seen.status, FDM_DS_OK);
	assert_int_equal(seen.n, 4);
	assert_string_equal(seen.h[0].host, "host-1");
	assert_int_equal(seen.h[0].hb, FDM_DS_OK);
	assert_int_equal(seen.h[0].poweron, FDM_DS_EMPTY);
	assert_int_equal(seen.h[1].hb, FDM_DS_OK);
	assert_int_equal(seen.h[1].poweron, FDM_DS_OK);
	assert_int_equal(seen.h[1].n_vms, 1);
	assert_string_equal(seen.h[1].vm0, "db1");
	assert_int_equal(seen.h[2].hb, FDM_DS_EMPTY);
	assert_int_equal(seen.h[2].poweron, FDM_DS_EMPTY);
	assert_int_equal(seen.h[3].hb, FDM_DS_EMPTY);
	assert_int_equal(seen.h[3].poweron, FDM_DS_CORRUPT);
	fp1 = seen.h[0].fingerprint;
	fp2 = seen.h[1].fingerprint;
	assert_true(fp1 != 0 && fp2 != 0);

	assert_int_equal(fdm_ds_hb_write(h2, fdm_ds_deadline(h2), &res), FDM_DS_OK);
	read_hosts(f);
	assert_int_equal(seen.h[0].fingerprint, fp1);     /* host-1 did not write */
	assert_true(seen.h[1].fingerprint != fp2);       /* host-2 did */
	fdm_ds_close(h2);
}

/* A batch on a datastore that fails (no identity record) fails as a whole. */
static void test_hosts_read_uninitialized(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/.fdm-ha", f->dir);
	assert_int_equal(system(cmd), 0);
	fdm_ds_disconnect(fdm_dsio_ds(f->io));   /* forget the identity checked */
	read_hosts(f);
	assert_int_equal(seen.status, FDM_DS_UNINITIALIZED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports_in_completion_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck_worker_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_completion_is_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_stuck_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hosts_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hosts_read_uninitialized, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
