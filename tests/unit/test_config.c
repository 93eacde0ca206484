/* The config parser (fdm/config.c): a good file loads; every kind of bad file is
 * refused with one line that starts "FILE:LINE: KEY:" so an operator can fix it. */
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

#include "lib/config.h"

struct env {
	char dir[64];
	char conf[96];
	char key[96];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	FILE *f;

	strcpy(e->dir, "/tmp/fdm-test-config-XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		return -1;
	snprintf(e->conf, sizeof(e->conf), "%s/fdm.conf", e->dir);
	snprintf(e->key, sizeof(e->key), "%s/authkey", e->dir);
	f = fopen(e->key, "w");
	fputs("0123456789abcdef0123456789abcdef", f);
	fclose(f);
	chmod(e->key, 0600);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	unlink(e->conf);
	unlink(e->key);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* A valid config with one line replaced (or added when `from` is NULL). */
static void write_config(const struct env *e, const char *from, const char *to)
{
	char text[2048];
	char *at;
	FILE *f;

	snprintf(text, sizeof(text),
		 "[cluster]\n"                       /* 1 */
		 "id = prod-a\n"                     /* 2 */
		 "key_file = %s\n"                   /* 3 */
		 "\n"                                /* 4 */
		 "[host]\n"                          /* 5 */
		 "id = host-2\n"                     /* 6 */
		 "address = 10.0.0.2\n"              /* 7 */
		 "port = 8182\n"                     /* 8 */
		 "\n"                                /* 9 */
		 "[peers]\n"                         /* 10 */
		 "host-1 = 10.0.0.1\n"               /* 11 */
		 "host-2 = 10.0.0.2\n"               /* 12 */
		 "\n"                                /* 13 */
		 "[datastores]\n"                    /* 14 */
		 "ds1 = file:///srv/ds1\n"           /* 15 */
		 "\n"                                /* 16 */
		 "[timing]\n"                        /* 17 */
		 "heartbeat_interval_ms = 1000\n"    /* 18 */
		 "io_timeout_ms = 2000\n",           /* 19 */
		 e->key);
	if (from != NULL) {
		char rest[2048];
		at = strstr(text, from);
		assert_non_null(at);
		snprintf(rest, sizeof(rest), "%s", at + strlen(from));
		snprintf(at, sizeof(text) - (size_t)(at - text), "%s%s", to, rest);
	} else if (to != NULL) {
		strncat(text, to, sizeof(text) - strlen(text) - 1);
	}
	f = fopen(e->conf, "w");
	fputs(text, f);
	fclose(f);
}

static void expect_error(const struct env *e, const char *prefix_fmt, int line, const char *rest)
{
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	char err[1024], want[512];

	snprintf(want, sizeof(want), prefix_fmt, e->conf, line);
	assert_int_equal(fdm_config_load(e->conf, FDM_NEED_AGENT, cfg, err, sizeof(err)), -1);
	if (strncmp(err, want, strlen(want)) != 0 || strstr(err, rest) == NULL)
		fail_msg("got \"%s\", want prefix \"%s\" and \"%s\"", err, want, rest);
	free(cfg);
}

static void test_good_config(void **state)
{
	struct env *e = *state;
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	char err[1024];

	write_config(e, NULL, NULL);
	assert_int_equal(fdm_config_load(e->conf, FDM_NEED_AGENT, cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->cluster_id, "prod-a");
	assert_int_equal(cfg->n_peers, 2);
	assert_int_equal(cfg->peers[1].port, 8182);
	assert_int_equal(cfg->io_timeout_ms, 2000);
	assert_string_equal(cfg->control_socket, "/run/fdm/fdm.sock");
	free(cfg);
}

static void test_missing_key(void **state)
{
	struct env *e = *state;

	write_config(e, "id = prod-a\n", "");
	expect_error(e, "%s:%d: id: ", 1, "missing in [cluster]");
}

static void test_bad_number(void **state)
{
	struct env *e = *state;

	write_config(e, "io_timeout_ms = 2000", "io_timeout_ms = 2s");
	expect_error(e, "%s:%d: io_timeout_ms: ", 19, "between 500 and 60000");
	write_config(e, "io_timeout_ms = 2000", "io_timeout_ms = 99999999999999999999");
	expect_error(e, "%s:%d: io_timeout_ms: ", 19, "between");
	write_config(e, "port = 8182", "port = 0");
	expect_error(e, "%s:%d: port: ", 8, "between 1 and 65535");
}

static void test_unknown_section_and_key(void **state)
{
	struct env *e = *state;

	write_config(e, NULL, "[bogus]\nx = 1\n");
	expect_error(e, "%s:%d: x: ", 21, "unknown section [bogus]");
	write_config(e, "port = 8182", "prot = 8182");
	expect_error(e, "%s:%d: prot: ", 8, "unknown key in [host]");
}

static void test_inconsistent_timeouts(void **state)
{
	struct env *e = *state;

	/* 4 x heartbeat must stay under 6 x io_timeout (DESIGN.md derivation). */
	write_config(e, "heartbeat_interval_ms = 1000", "heartbeat_interval_ms = 5000");
	expect_error(e, "%s:%d: timing: ", 18, "heartbeat_interval_ms too large");
}

/* Root reads any file whatever its mode, so "unreadable" is tested as a missing
 * file and as a directory. */
static void test_unreadable_key_file(void **state)
{
	struct env *e = *state;
	char from[160], to[160];

	snprintf(from, sizeof(from), "key_file = %s", e->key);
	snprintf(to, sizeof(to), "key_file = %s.missing", e->key);
	write_config(e, from, to);
	expect_error(e, "%s:%d: key_file: ", 3, "cannot read key file: No such file");
	snprintf(to, sizeof(to), "key_file = %s", e->dir);
	write_config(e, from, to);
	expect_error(e, "%s:%d: key_file: ", 3, "cannot read key file: not a regular file");
}

static void test_short_key_file(void **state)
{
	struct env *e = *state;
	FILE *f = fopen(e->key, "w");

	fputs("short", f);
	fclose(f);
	write_config(e, NULL, NULL);
	expect_error(e, "%s:%d: key_file: ", 3, "needs at least 32");
}

static void test_host_not_in_peers(void **state)
{
	struct env *e = *state;

	write_config(e, "host-2 = 10.0.0.2\n", "host-3 = 10.0.0.3\n");
	expect_error(e, "%s:%d: host-2: ", 10, "must be listed in [peers]");
}

static void test_duplicate_key_and_peer(void **state)
{
	struct env *e = *state;

	write_config(e, "port = 8182\n", "port = 8182\nport = 8183\n");
	expect_error(e, "%s:%d: port: ", 9, "set twice");
	write_config(e, "host-2 = 10.0.0.2\n", "host-2 = 10.0.0.2\nhost-1 = 10.0.0.9\n");
	expect_error(e, "%s:%d: host-1: ", 13, "listed twice");
}

static void test_bad_values(void **state)
{
	struct env *e = *state;

	write_config(e, "address = 10.0.0.2", "address = my-host");
	expect_error(e, "%s:%d: address: ", 7, "numeric IP");
	write_config(e, "ds1 = file:///srv/ds1", "ds1 = http://x/y");
	expect_error(e, "%s:%d: ds1: ", 15, "file:///, nfs:// or iscsi://");
	write_config(e, "id = host-2", "id = host 2");
	expect_error(e, "%s:%d: id: ", 6, "must be 1-63 characters");
	write_config(e, NULL, "[isolation]\nresponse = reboot\n");
	expect_error(e, "%s:%d: response: ", 21, "none, shutdown or poweroff");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_number, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_section_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inconsistent_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_key_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_key_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_not_in_peers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_key_and_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
