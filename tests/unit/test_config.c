/* The config loader (lib/config*.c, lib/key.c): a good file loads; every kind of
 * bad file is refused with one line that starts "FILE:LINE: KEY:" so an operator
 * can fix it. Table-driven where the rule is one per line. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdbool.h>
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

static void expect_error_need(const struct env *e, unsigned need, const char *prefix_fmt,
			      int line, const char *rest)
{
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	char err[1024], want[512];

	snprintf(want, sizeof(want), prefix_fmt, e->conf, line);
	if (fdm_config_load(e->conf, need, cfg, err, sizeof(err)) != -1)
		fail_msg("accepted; want \"%s\" and \"%s\"", want, rest);
	if (strncmp(err, want, strlen(want)) != 0 || strstr(err, rest) == NULL)
		fail_msg("got \"%s\", want prefix \"%s\" and \"%s\"", err, want, rest);
	free(cfg);
}

static void expect_error(const struct env *e, const char *prefix_fmt, int line, const char *rest)
{
	expect_error_need(e, FDM_NEED_AGENT, prefix_fmt, line, rest);
}

static void expect_ok_need(const struct env *e, unsigned need)
{
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	char err[1024];

	if (fdm_config_load(e->conf, need, cfg, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	free(cfg);
}

/* The file as raw bytes (NULs included). */
static void write_raw(const struct env *e, const char *bytes, size_t len)
{
	FILE *f = fopen(e->conf, "w");

	fwrite(bytes, 1, len, f);
	fclose(f);
}

static void write_key(const struct env *e, size_t len, mode_t mode)
{
	FILE *f = fopen(e->key, "w");

	for (size_t i = 0; i < len; i++)
		fputc('k', f);
	fclose(f);
	chmod(e->key, mode);
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


/* One line of the good file replaced: refused at that line, naming the key. */
struct bad_line {
	const char *from, *to;
	int line;
	const char *key, *why;
};

static void run_bad_lines(const struct env *e, const struct bad_line *t, size_t n)
{
	char prefix[128];

	for (size_t i = 0; i < n; i++) {
		snprintf(prefix, sizeof(prefix), "%%s:%%d: %s: ", t[i].key);
		write_config(e, t[i].from, t[i].to);
		expect_error(e, prefix, t[i].line, t[i].why);
	}
}

static void test_addresses(void **state)
{
	static const struct bad_line t[] = {
		{ "host-2 = 10.0.0.2\n", "host-2 = 10.0.0.1\n", 12, "host-2",
		  "same address and port (10.0.0.1:8182) as host-1 on line 11" },
		{ "host-1 = 10.0.0.1\n", "host-1 = 10.0.0.2:8182\n", 12, "host-2",
		  "same address and port (10.0.0.2:8182) as host-1 on line 11" },
		{ "host-1 = 10.0.0.1\n", "host-1 = [fd00::1]:9000\nhost-3 = [fd00:0::1]:9000\n",
		  12, "host-3", "same address and port (fd00:0::1:9000) as host-1" },
		{ "address = 10.0.0.2", "address = 0.0.0.0", 7, "address",
		  "not the wildcard 0.0.0.0" },
		{ "address = 10.0.0.2", "address = ::", 7, "address", "not the wildcard ::" },
		{ "host-1 = 10.0.0.1\n", "host-1 = 0.0.0.0\n", 11, "host-1",
		  "0.0.0.0 is the wildcard address" },
	};

	run_bad_lines(*state, t, sizeof(t) / sizeof(t[0]));
}

static void test_datastore_urls(void **state)
{
	static const struct bad_line t[] = {
		{ "file:///srv/ds1", "nfs:///export", 15, "ds1", "no server name or address" },
		{ "file:///srv/ds1", "nfs://10.0.0.5", 15, "ds1", "no export path" },
		{ "file:///srv/ds1", "nfs://10.0.0.5/", 15, "ds1", "no export path" },
		{ "file:///srv/ds1", "nfs://10.0.0.5:2049/export", 15, "ds1", "nfs:// takes no port" },
		{ "file:///srv/ds1", "nfs://10.0.0/export", 15, "ds1",
		  "\"10.0.0\" is not an IPv4 address" },
		{ "file:///srv/ds1", "nfs://bad_host/export", 15, "ds1",
		  "neither a numeric address nor a host name" },
		{ "file:///srv/ds1", "nfs://-x.example/export", 15, "ds1",
		  "neither a numeric address nor a host name" },
		/* Names are never resolved: a lookup could hang a storage worker. */
		{ "file:///srv/ds1", "nfs://storage-1.example.com/export", 15, "ds1",
		  "is a host name: give the server's numeric address" },
		{ "file:///srv/ds1", "iscsi://san/eui.0123456789abcdef/255", 15, "ds1",
		  "is a host name: give the server's numeric address" },
		{ "file:///srv/ds1", "nfs://[fd00::5/export", 15, "ds1", "without its closing ]" },
		{ "file:///srv/ds1", "nfs://[10.0.0.5]/export", 15, "ds1", "is not an IPv6 address" },
		{ "file:///srv/ds1", "nfs://10.0.0.5/export?version=4", 15, "ds1", "options" },
		{ "file:///srv/ds1", "nfs://10.0.0.5/ex port", 15, "ds1", "blank or control" },
		{ "file:///srv/ds1", "iscsi://10.0.0.6/iqn.2026-01.x:ds2", 15, "ds1",
		  "want iscsi://portal[:port]/target-iqn/lun" },
		{ "file:///srv/ds1", "iscsi://10.0.0.6/iqn.2026-01.x:ds2/lun", 15, "ds1",
		  "the LUN \"lun\" must be a number" },
		{ "file:///srv/ds1", "iscsi://10.0.0.6/iqn.2026-01.x:ds2/256", 15, "ds1",
		  "the LUN \"256\" must be a number between 0 and 255" },
		{ "file:///srv/ds1", "iscsi://10.0.0.6//1", 15, "ds1", "the target must be" },
		{ "file:///srv/ds1", "iscsi://10.0.0.6/target/1", 15, "ds1", "the target must be" },
		{ "file:///srv/ds1", "iscsi://10.0.0.6/iqn.a/b/1", 15, "ds1", "the target must be" },
		{ "file:///srv/ds1", "iscsi://10.0.0.6:99999/iqn.2026-01.x:ds2/1", 15, "ds1",
		  "port \"99999\" must be a number between 1 and 65535" },
		{ "file:///srv/ds1", "iscsi:///iqn.2026-01.x:ds2/1", 15, "ds1", "no server name" },
		{ "file:///srv/ds1", "file:///", 15, "ds1", "file:// needs a directory" },
		{ "file:///srv/ds1", "file://host/srv", 15, "ds1", "file:///, nfs:// or iscsi://" },
	};

	run_bad_lines(*state, t, sizeof(t) / sizeof(t[0]));
}

static void test_good_urls(void **state)
{
	static const char *const urls[] = {
		"nfs://10.0.0.5/export/ds1", "nfs://[fd00::5]/export", "nfs://10.0.0.5/export/dir/",
		"iscsi://10.0.0.6:3260/iqn.2026-01.lan.example:ds2/1",
		"iscsi://[fd00::6]:3260/iqn.2026-01.lan.example:ds2/0",
		"iscsi://10.0.0.7/eui.0123456789abcdef/255", "file:///srv/ds1",
	};
	struct env *e = *state;
	char line[160];

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		snprintf(line, sizeof(line), "ds1 = %s", urls[i]);
		write_config(e, "ds1 = file:///srv/ds1", line);
		expect_ok_need(e, FDM_NEED_AGENT);
	}
}

static void test_lines_inih_would_misread(void **state)
{
	static const struct bad_line t[] = {
		{ "[datastores]\n", "[datastores\n", 14, "section",
		  "header \"[datastores\" has no closing ]" },
		{ "[timing]\n", "  [timing ; typo\n", 17, "section",
		  "header \"[timing\" has no closing ]" },
	};
	struct env *e = *state;
	static const char nul_value[] = "[cluster]\nid = pro\0d-a\n";
	char zeros[300] = { 0 };

	run_bad_lines(e, t, sizeof(t) / sizeof(t[0]));
	write_raw(e, zeros, sizeof(zeros));
	expect_error(e, "%s:%d: line: ", 1, "contains a NUL byte");
	write_raw(e, nul_value, sizeof(nul_value) - 1);
	expect_error(e, "%s:%d: id: ", 2, "value contains a NUL byte");
	write_raw(e, "[cluster]\n\0\n", 12);
	expect_error(e, "%s:%d: line: ", 2, "contains a NUL byte");
}

static void test_socket_paths(void **state)
{
	struct env *e = *state;
	char add[300], path[200];

	memset(path, 'd', sizeof(path));
	path[0] = '/';
	path[108] = '\0';    /* 108 characters: one more than sun_path holds */
	snprintf(add, sizeof(add), "[control]\nsocket = %s\n", path);
	write_config(e, NULL, add);
	expect_error(e, "%s:%d: socket: ", 21, "too long for a unix socket (108 characters, at most 107)");
	snprintf(add, sizeof(add), "[hostd]\nsocket = %s\n", path);
	write_config(e, NULL, add);
	expect_error(e, "%s:%d: socket: ", 21, "too long for a unix socket");
	path[107] = '\0';
	snprintf(add, sizeof(add), "[control]\nsocket = %s\n", path);
	write_config(e, NULL, add);
	expect_ok_need(e, FDM_NEED_AGENT);
}

/* A minimal agent file with the given address and control socket:
 * line 6 is address, line 10 socket. */
static void write_host_config(const struct env *e, const char *address, const char *socket)
{
	FILE *f = fopen(e->conf, "w");

	fprintf(f, "[cluster]\nid = prod-a\nkey_file = %s\n[host]\nid = host-2\naddress = %s\n"
		"[peers]\nhost-2 = %s\n[control]\nsocket = %s\n", e->key, address, address, socket);
	fclose(f);
}

/* A documentation address (RFC 5737) this machine does not have: test machines
 * use them too. */
static const char *foreign_address(void)
{
	static const char *const candidates[] = {
		"203.0.113.77", "198.51.100.77", "192.0.2.177",
	};
	struct ifaddrs *list;
	char text[INET_ADDRSTRLEN];

	assert_int_equal(getifaddrs(&list), 0);
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		bool taken = false;

		for (struct ifaddrs *a = list; a != NULL; a = a->ifa_next)
			if (a->ifa_addr != NULL && a->ifa_addr->sa_family == AF_INET &&
			    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr,
				      text, sizeof(text)) != NULL && strcmp(text, candidates[i]) == 0)
				taken = true;
		if (!taken) {
			freeifaddrs(list);
			return candidates[i];
		}
	}
	freeifaddrs(list);
	fail_msg("every candidate address is this host's");
	return NULL;
}

/* What only the machine the agent runs on can tell (FDM_NEED_THIS_HOST). */
static void test_this_host(void **state)
{
	struct env *e = *state;
	const unsigned here = FDM_NEED_AGENT | FDM_NEED_THIS_HOST;
	const char *foreign = foreign_address();
	char sock[160], why[200];

	snprintf(sock, sizeof(sock), "%s/fdm.sock", e->dir);
	write_host_config(e, "127.0.0.1", sock);
	expect_ok_need(e, here);
	/* Tools that may read another host's file (fdmctl, fdm-inspect) do not ask. */
	write_host_config(e, foreign, sock);
	snprintf(why, sizeof(why), "%s is not an address of this host", foreign);
	expect_error_need(e, here, "%s:%d: address: ", 6, why);
	expect_ok_need(e, FDM_NEED_AGENT);
	snprintf(sock, sizeof(sock), "%s/nodir/fdm.sock", e->dir);
	snprintf(why, sizeof(why), "cannot create the socket in %s/nodir: no such directory", e->dir);
	write_host_config(e, "127.0.0.1", sock);
	expect_error_need(e, here, "%s:%d: socket: ", 10, why);
	expect_ok_need(e, FDM_NEED_AGENT);
	snprintf(sock, sizeof(sock), "%s/fdm.sock", e->key);
	snprintf(why, sizeof(why), "cannot create the socket in %s: not a directory", e->key);
	write_host_config(e, "127.0.0.1", sock);
	expect_error_need(e, here, "%s:%d: socket: ", 10, why);
}

/* Only a regular file is read: a FIFO would block open() for good. */
static void test_config_not_a_regular_file(void **state)
{
	struct env *e = *state;
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	char fifo[128], err[1024], want[256];

	snprintf(fifo, sizeof(fifo), "%s/fifo", e->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(fdm_config_load(fifo, FDM_NEED_AGENT, cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", fifo);
	assert_string_equal(err, want);
	assert_int_equal(fdm_config_load(e->dir, FDM_NEED_CONTROL, cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", e->dir);
	assert_string_equal(err, want);
	unlink(fifo);
	free(cfg);
}

/* The key: private, and used whole or not at all. */
static void test_key_mode_and_length(void **state)
{
	static const struct {
		size_t len;
		mode_t mode;
		const char *why;     /* NULL: accepted */
	} t[] = {
		{ 32, 0644, "key must not be readable by group or others (mode 644" },
		{ 32, 0640, "key must not be readable by group or others (mode 640" },
		{ 32, 0604, "key must not be readable by group or others" },
		{ 32, 0620, "key must not be writable by group or others" },
		{ 65, 0600, "key file longer than 64 bytes: refused rather than cut" },
		{ 4096, 0600, "key file longer than 64 bytes" },
		{ 31, 0600, "holds 31 bytes, needs at least 32" },
		{ 32, 0600, NULL },
		{ 64, 0600, NULL },
		{ 40, 0400, NULL },
	};
	struct env *e = *state;
	uint8_t key[FDM_KEY_MAX];
	char err[512];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		write_key(e, t[i].len, t[i].mode);
		write_config(e, NULL, NULL);
		if (t[i].why == NULL) {
			expect_ok_need(e, FDM_NEED_AGENT);
			assert_int_equal(fdm_key_load(e->key, key, err, sizeof(err)), (int)t[i].len);
		} else {
			expect_error(e, "%s:%d: key_file: ", 3, t[i].why);
			assert_int_equal(fdm_key_load(e->key, key, err, sizeof(err)), -1);
		}
	}
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
		cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_datastore_urls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_urls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_inih_would_misread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_this_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_not_a_regular_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_mode_and_length, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
