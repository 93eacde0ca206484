/* dsio on file://: results reach the sd-event loop; a worker stuck in the kernel
 * (a FIFO stands in for a hung mount: open() blocks) is reported as a timeout at
 * the deadline while the loop keeps ticking, and its late result is discarded. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "datastore/dsio.h"
#include "lib/util.h"

struct fx {
	char dir[64];
	sd_event *ev;
	struct fdm_dsio *io;
	int done;
	struct fdm_dsio_done last;
	uint64_t ticks, max_gap, last_tick;
	sd_event_source *tick_src;
};

static uint8_t key[32] = { 5 };

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fx *f = userdata;
	uint64_t now = fdm_now_mono_ms();

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

	f->done++;
	f->last = *d;
	f->last.msg = NULL;
	f->last.hosts = NULL;
}

static void run_until(struct fx *f, int done, uint64_t max_ms)
{
	uint64_t end = fdm_now_mono_ms() + max_ms;

	while (f->done < done && fdm_now_mono_ms() < end)
		sd_event_run(f->ev, 50000);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct fdm_ds_params p = { .cluster = "c1", .key = key, .key_len = 32, .host = "host-1",
				   .io_timeout_ms = 300 };
	struct fdm_ds *ds;
	char url[128], err[256];

	strcpy(f->dir, "/tmp/fdm-dsio-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(url, sizeof(url), "file://%s", f->dir);
	assert_int_equal(fdm_ds_open(url, &p, &ds, err, sizeof(err)), 0);
	assert_int_equal(sd_event_new(&f->ev), 0);
	f->io = fdm_dsio_new(f->ev, ds, err, sizeof(err));
	assert_non_null(f->io);
	assert_int_equal(sd_event_add_time(f->ev, &f->tick_src, CLOCK_MONOTONIC,
					   fdm_now_mono_ms() * 1000 + 20000, 1000, on_tick, f), 0);
	sd_event_source_set_enabled(f->tick_src, SD_EVENT_ON);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

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

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct fdm_dsio_req r = { .op = FDM_DSIO_LEASE_WRITE, .cb = on_done, .userdata = f,
				  .lease = { .owner = "host-1", .generation = 1, .nonce = 5 } };
	Fdm__PowerOnRecord po = FDM__POWER_ON_RECORD__INIT;

	submit(f, FDM_DSIO_HB_WRITE, NULL, 0);
	submit(f, FDM_DSIO_HB_READ, "host-1", 0);
	run_until(f, 2, 2000);
	assert_int_equal(f->done, 2);
	assert_int_equal(f->last.op, FDM_DSIO_HB_READ);
	assert_int_equal(f->last.status, FDM_DS_OK);
	assert_int_equal(f->last.hb.counter, 1);
	submit(f, FDM_DSIO_LEASE_READ, NULL, 0);
	assert_int_equal(fdm_dsio_submit(f->io, &r, NULL), 0);
	submit(f, FDM_DSIO_LEASE_READ, NULL, 0);
	run_until(f, 5, 2000);
	assert_int_equal(f->last.status, FDM_DS_OK);
	assert_int_equal(f->last.lease.kind, FDM_LEASE_VIEW_VALID);
	assert_string_equal(f->last.lease.rec.owner, "host-1");
	po.host = "host-1";
	r.op = FDM_DSIO_POWERON_WRITE;
	r.msg = &po.base;
	assert_int_equal(fdm_dsio_submit(f->io, &r, NULL), 0);
	submit(f, FDM_DSIO_POWERON_READ, "host-1", 0);
	submit(f, FDM_DSIO_LIST_HOSTS, NULL, 0);
	run_until(f, 8, 2000);
	assert_int_equal(f->done, 8);
	assert_int_equal(f->last.status, FDM_DS_OK);
}

static void test_stuck_worker_times_out(void **state)
{
	struct fx *f = *state;
	struct fdm_dsio_stats st;
	char fifo[128];
	uint64_t t0;
	int fd;

	snprintf(fifo, sizeof(fifo), "%s/.fdm-ha", f->dir);
	mkdir(fifo, 0700);
	snprintf(fifo, sizeof(fifo), "%s/.fdm-ha/c1", f->dir);
	mkdir(fifo, 0700);
	snprintf(fifo, sizeof(fifo), "%s/.fdm-ha/c1/host-host-9-hb", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);

	t0 = fdm_now_mono_ms();
	submit(f, FDM_DSIO_HB_READ, "host-9", 0);      /* blocks in open() */
	submit(f, FDM_DSIO_LEASE_READ, NULL, 0);       /* queued behind it */
	f->max_gap = 0;
	run_until(f, 2, 3000);
	assert_int_equal(f->done, 2);
	assert_int_equal(f->last.status, FDM_DS_TIMEOUT);
	print_message("timeouts reported after %llu ms (io_timeout 300), loop max gap %llu ms\n",
		      (unsigned long long)(fdm_now_mono_ms() - t0), (unsigned long long)f->max_gap);
	assert_true(fdm_now_mono_ms() - t0 >= 300);
	assert_true(fdm_now_mono_ms() - t0 < 600);
	assert_true(f->max_gap < 200);

	/* Unblock the worker (the writer stays open while it may open the FIFO
	 * again): its results arrive late and are dropped. */
	fd = open(fifo, O_WRONLY | O_NONBLOCK);
	assert_true(fd >= 0);
	for (int i = 0; i < 40; i++) {
		sd_event_run(f->ev, 50000);
		fdm_dsio_get_stats(f->io, &st);
		if (st.late_discarded == 2)
			break;
	}
	close(fd);
	assert_int_equal(f->done, 2);
	fdm_dsio_get_stats(f->io, &st);
	assert_int_equal(st.timed_out, 2);
	assert_int_equal(st.late_discarded, 2);
	assert_int_equal(st.expired_in_queue, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck_worker_times_out, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
