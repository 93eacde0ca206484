/* fdm/metrics.c and the counters of metrics_gather.c: the exposition text of a
 * struct fdm_metrics. Label values escaped as the format says (a VM or datastore
 * name may hold a quote, a backslash, a newline); every family with HELP and
 * TYPE; counters named *_total; histogram buckets cumulative, ending in +Inf,
 * with _sum and _count; the latency of an I/O is its issue to its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/metrics.h"

static void one_ds(struct fdm_metrics *m, const char *name)
{
	memset(m, 0, sizeof(*m));
	m->cluster = "c";
	m->host = "host-1";
	m->version = "1";
	m->n_ds = 1;
	m->ds[0] = (struct fdm_metrics_ds){ .name = name, .reachable = true,
					    .state = "reachable", .lease_state = "held" };
}

static void test_label_escaping(void **state)
{
	struct fdm_metrics m;
	char *text;

	(void)state;
	one_ds(&m, "a\"b\\c\nd");
	m.vms[0] = (struct fdm_metrics_count){ .label = "odd \"state\"", .n = 2 };
	m.n_vms = 1;
	text = fdm_metrics_text(&m);
	assert_non_null(text);
	assert_non_null(strstr(text, "fdm_datastore_reachable{datastore=\"a\\\"b\\\\c\\nd\"} 1\n"));
	assert_non_null(strstr(text, "fdm_vms{state=\"odd \\\"state\\\"\"} 2\n"));
	/* No raw newline inside a sample line: every line is a comment or a sample. */
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"))
		assert_true(line[0] == '#' || strncmp(line, "fdm_", 4) == 0);
	free(text);
}

/* Every family announced once by HELP and TYPE; counters end in _total. */
static void test_help_type_and_names(void **state)
{
	struct fdm_metrics m;
	char *text, *line, *save = NULL;
	char type[64];
	int helps = 0, types = 0;

	(void)state;
	one_ds(&m, "ds1");
	text = fdm_metrics_text(&m);
	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[128];

		if (strncmp(line, "# HELP ", 7) == 0) {
			helps++;
			continue;
		}
		if (sscanf(line, "# TYPE %127s %63s", name, type) == 2) {
			types++;
			assert_true(strncmp(name, "fdm_", 4) == 0);
			if (strcmp(type, "counter") == 0)
				assert_string_equal(name + strlen(name) - 6, "_total");
			else
				assert_null(strstr(name, "_total"));
		}
	}
	assert_int_equal(helps, types);
	assert_true(types >= 15);
	free(text);
}

static void test_histogram_cumulative(void **state)
{
	struct fdm_metrics m;
	char *text;

	(void)state;
	one_ds(&m, "ds1");
	fdm_metrics_observe(&m.ds[0].io, 0);       /* le 0.001 */
	fdm_metrics_observe(&m.ds[0].io, 3);       /* le 0.005 */
	fdm_metrics_observe(&m.ds[0].io, 2000);    /* le 2.5 */
	fdm_metrics_observe(&m.ds[0].io, 90000);   /* +Inf only */
	text = fdm_metrics_text(&m);
	assert_non_null(strstr(text, "fdm_storage_io_duration_seconds_bucket{datastore=\"ds1\",le=\"0.001\"} 1\n"));
	assert_non_null(strstr(text, "fdm_storage_io_duration_seconds_bucket{datastore=\"ds1\",le=\"0.005\"} 2\n"));
	assert_non_null(strstr(text, "fdm_storage_io_duration_seconds_bucket{datastore=\"ds1\",le=\"1\"} 2\n"));
	assert_non_null(strstr(text, "fdm_storage_io_duration_seconds_bucket{datastore=\"ds1\",le=\"2.5\"} 3\n"));
	assert_non_null(strstr(text, "fdm_storage_io_duration_seconds_bucket{datastore=\"ds1\",le=\"60\"} 3\n"));
	assert_non_null(strstr(text, "fdm_storage_io_duration_seconds_bucket{datastore=\"ds1\",le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(text, "fdm_storage_io_duration_seconds_sum{datastore=\"ds1\"} 92.003\n"));
	assert_non_null(strstr(text, "fdm_storage_io_duration_seconds_count{datastore=\"ds1\"} 4\n"));
	/* The lease state as an enum: one 1, the rest 0. */
	assert_non_null(strstr(text, "fdm_lease_state{datastore=\"ds1\",state=\"held\"} 1\n"));
	assert_non_null(strstr(text, "fdm_lease_state{datastore=\"ds1\",state=\"idle\"} 0\n"));
	free(text);
}

static void test_counters(void **state)
{
	struct fdm_metrics_counters *mc = calloc(1, sizeof(*mc));

	(void)state;
	fdm_metrics_count_event(mc, "vm-restarted");
	fdm_metrics_count_event(mc, "role");
	fdm_metrics_count_event(mc, "vm-restarted");
	fdm_metrics_count_event(mc, NULL);
	assert_int_equal(mc->n_events, 2);
	assert_int_equal(mc->events[0].n, 2);
	/* An I/O's latency: from its issue to its end, per datastore and kind. */
	fdm_metrics_io_issued(mc, "ds1", FDM_STORAGE_LEASE_WRITE, 1000);
	fdm_metrics_io_issued(mc, "ds1", FDM_STORAGE_HB_WRITE, 1010);
	fdm_metrics_io_done(mc, "ds1", FDM_STORAGE_HB_WRITE, true, 1015);
	fdm_metrics_io_done(mc, "ds1", FDM_STORAGE_LEASE_WRITE, true, 1042);
	fdm_metrics_io_done(mc, "ds1", FDM_STORAGE_LEASE_WRITE, true, 1050);   /* stray: none */
	assert_string_equal(mc->io[0].name, "ds1");
	assert_int_equal(mc->io[0].io.count, 2);
	assert_int_equal(mc->io[0].io.sum_ms, 5 + 42);
	assert_true(mc->io[0].have_renewal);
	assert_int_equal(mc->io[0].renewal_ms, 42);
	/* A failed lease write is no renewal. */
	fdm_metrics_io_issued(mc, "ds1", FDM_STORAGE_LEASE_WRITE, 2000);
	fdm_metrics_io_done(mc, "ds1", FDM_STORAGE_LEASE_WRITE, false, 4000);
	assert_int_equal(mc->io[0].renewal_ms, 42);
	free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_help_type_and_names),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
