/* Unit tests of the state file (hostd-shim/statefile.c): names derived from
 * the socket, round trips, the boot id (a file of another boot is dropped),
 * version 1 files and their one-time migration, every way a file can be
 * corrupt (each reported with its own reason), a save that cannot be written,
 * and the lock that keeps a second shim off the same state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/crc32c.h"
#include "lib/util.h"
#include "hostd-shim/statefile.h"

#define UUID_A "aaaaaaaa-0000-1111-2222-333333333333"
#define BOOT_1 "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define BOOT_2 "11111111-2222-3333-4444-555555555555"

static void fill(struct shim_deadlines *d)
{
	const char *names[] = { "a", NULL, "c" };
	const char *uuids[] = { NULL, UUID_A, UUID_A };
	const uint64_t at[] = { 100, 1ull << 40, 7 };
	Fdm__DomainDeadline dl[3], *dp[3];
	Fdm__DomainRef ref[3];
	unsigned changed;
	char why[256];
	size_t i;

	for (i = 0; i < 3; i++) {
		fdm__domain_ref__init(&ref[i]);
		ref[i].name = (char *)names[i];
		ref[i].uuid = (char *)uuids[i];
		fdm__domain_deadline__init(&dl[i]);
		dl[i].domain = &ref[i];
		dl[i].boottime_ms = at[i];
		dp[i] = &dl[i];
	}
	shim_deadlines_init(d);
	assert_int_equal(shim_deadlines_replace(d, dp, 3, 0, &changed, why, sizeof(why)), 0);
	shim_deadlines_add_fenced(d, "x", UUID_A, 10, 12);
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* What a version 1 shim wrote: no boot id, the CRC over the body only. */
static uint8_t *encode_v1(const struct shim_deadlines *d, size_t *len)
{
	size_t v2len;
	uint8_t *buf = shim_state_encode(d, BOOT_1, &v2len);

	assert_non_null(buf);
	memmove(buf + SHIM_STATE_HEADER_V1, buf + SHIM_STATE_HEADER, v2len - SHIM_STATE_HEADER);
	*len = v2len - SHIM_BOOT_ID_LEN;
	fdm_put_be32(buf + 4, SHIM_STATE_VERSION_1);
	fdm_put_be32(buf + 12, fdm_crc32c(0, buf + 16, *len - 16));
	return buf;
}

static void test_paths(void **state)
{
	char path[128];

	(void)state;
	assert_true(shim_state_path("/x/y/hostd.sock", path, sizeof(path)));
	assert_string_equal(path, "/x/y/hostd.sock.state");
	assert_true(shim_state_lock_path("/x/y/hostd.sock", path, sizeof(path)));
	assert_string_equal(path, "/x/y/hostd.sock.lock");
	assert_true(shim_state_legacy_path("/x/y/hostd.sock", path, sizeof(path)));
	assert_string_equal(path, "/x/y/hostd-shim.state");
	/* Two sockets in one directory: two state files. */
	assert_true(shim_state_path("/x/y/other.sock", path, sizeof(path)));
	assert_string_equal(path, "/x/y/other.sock.state");
	assert_false(shim_state_path("/x/y/hostd.sock", path, 16));
}

static void test_round_trip(void **state)
{
	struct shim_deadlines d, back;
	char why[256], boot[SHIM_BOOT_ID_LEN + 1];
	uint8_t *buf;
	size_t len, i;

	(void)state;
	fill(&d);
	buf = shim_state_encode(&d, BOOT_1, &len);
	assert_non_null(buf);
	shim_deadlines_init(&back);
	assert_int_equal(shim_state_decode(buf, len, &back, boot, why, sizeof(why)), 0);
	assert_string_equal(boot, BOOT_1);
	assert_int_equal(back.n, d.n);
	for (i = 0; i < d.n; i++) {
		assert_string_equal(back.v[i].ref.name, d.v[i].ref.name);
		assert_string_equal(back.v[i].ref.uuid, d.v[i].ref.uuid);
		assert_int_equal(back.v[i].boottime_ms, d.v[i].boottime_ms);
	}
	assert_int_equal(back.n_fenced, 1);
	assert_string_equal(back.fenced[0].ref.name, "x");
	assert_int_equal(back.fenced[0].fenced_boottime_ms, 12);
	free(buf);
	shim_deadlines_free(&back);

	/* Version 1: read, with no boot id. */
	buf = encode_v1(&d, &len);
	shim_deadlines_init(&back);
	assert_int_equal(shim_state_decode(buf, len, &back, boot, why, sizeof(why)), 0);
	assert_string_equal(boot, "");
	assert_int_equal(back.n, 3);
	free(buf);
	shim_deadlines_free(&d);
	shim_deadlines_free(&back);
}

static void test_corrupt(void **state)
{
	static const struct {
		size_t at;        /* byte to change (from the end when `from_end`) */
		bool from_end;
		uint8_t value;    /* xor */
		const char *why;
	} cases[] = {
		{ 0, false, 'X' ^ 'F', "magic" },
		{ 7, false, 9 ^ SHIM_STATE_VERSION, "version" },
		{ 1, true, 0x40, "checksum" },
		{ 20, false, 0x01, "checksum" },     /* the boot id is checksummed too */
		{ 11, false, 0x01, "length" },
	};
	struct shim_deadlines d, back;
	char why[256], boot[SHIM_BOOT_ID_LEN + 1];
	uint8_t *buf;
	size_t len, i, at;

	(void)state;
	fill(&d);
	buf = shim_state_encode(&d, BOOT_1, &len);
	shim_deadlines_init(&back);
	assert_int_equal(shim_state_decode(buf, 10, &back, boot, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "truncated"));
	assert_int_equal(shim_state_decode(buf, 30, &back, boot, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "truncated"));
	assert_int_equal(shim_state_decode(buf, len - 1, &back, boot, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "length"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		at = cases[i].from_end ? len - cases[i].at : cases[i].at;
		buf[at] ^= cases[i].value;
		assert_int_equal(shim_state_decode(buf, len, &back, boot, why, sizeof(why)), -1);
		assert_non_null(strstr(why, cases[i].why));
		assert_int_equal(back.n, 0);
		buf[at] ^= cases[i].value;
	}
	assert_int_equal(shim_state_decode(buf, len, &back, boot, why, sizeof(why)), 0);
	free(buf);
	shim_deadlines_free(&d);
	shim_deadlines_free(&back);
}

static void test_save_load(void **state)
{
	char dir[] = "/tmp/shim-state-XXXXXX", path[128], err[512];
	struct shim_deadlines d, back;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hostd.sock.state", dir);

	shim_deadlines_init(&back);
	assert_int_equal(shim_state_load(path, BOOT_1, &back, err, sizeof(err)), SHIM_STATE_NONE);
	fill(&d);
	assert_int_equal(shim_state_save(path, &d, BOOT_1, err, sizeof(err)), 0);
	assert_int_equal(shim_state_load(path, BOOT_1, &back, err, sizeof(err)), SHIM_STATE_LOADED);
	assert_int_equal(back.n, 3);
	shim_deadlines_free(&back);

	/* Another boot: CLOCK_BOOTTIME times of a clock that no longer runs. */
	shim_deadlines_init(&back);
	assert_int_equal(shim_state_load(path, BOOT_2, &back, err, sizeof(err)),
			 SHIM_STATE_OTHER_BOOT);
	assert_non_null(strstr(err, BOOT_1));
	assert_non_null(strstr(err, BOOT_2));
	assert_int_equal(back.n, 0);
	assert_int_equal(back.n_fenced, 0);

	f = fopen(path, "r+");   /* tear the file: corrupt, reported, not trusted */
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 20), 0);
	fclose(f);
	assert_int_equal(shim_state_load(path, BOOT_1, &back, err, sizeof(err)),
			 SHIM_STATE_CORRUPT);
	assert_non_null(strstr(err, path));
	assert_int_equal(back.n, 0);
	unlink(path);

	/* Not a regular file (a directory, a FIFO): corrupt, never read from. */
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(shim_state_load(path, BOOT_1, &back, err, sizeof(err)),
			 SHIM_STATE_CORRUPT);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(path);

	rmdir(dir);
	shim_deadlines_free(&d);
	shim_deadlines_free(&back);
}

/* A save that cannot be written says so (the shim answers set_deadlines with
 * an error): here the state file's name is taken by a directory. */
static void test_save_fails(void **state)
{
	char dir[] = "/tmp/shim-state-XXXXXX", path[128], inner[160], tmp[160], err[512];
	struct shim_deadlines d;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hostd.sock.state", dir);
	snprintf(inner, sizeof(inner), "%s/keep", path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mkdir(inner, 0700), 0);
	fill(&d);
	assert_int_equal(shim_state_save(path, &d, BOOT_1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(access(tmp, F_OK), -1);   /* no temp file left behind */
	rmdir(inner);
	rmdir(path);
	/* The temp name taken by a directory: the open fails. */
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(shim_state_save(path, &d, BOOT_1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ".tmp"));
	rmdir(tmp);
	assert_int_equal(shim_state_save(path, &d, BOOT_1, err, sizeof(err)), 0);
	unlink(path);
	rmdir(dir);
	shim_deadlines_free(&d);
}

static void test_migrate(void **state)
{
	char dir[] = "/tmp/shim-state-XXXXXX", legacy[128], path[128], aside[160], note[1024];
	struct shim_deadlines d, back;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(legacy, sizeof(legacy), "%s/hostd-shim.state", dir);
	snprintf(path, sizeof(path), "%s/hostd.sock.state", dir);
	snprintf(aside, sizeof(aside), "%s.corrupt", legacy);
	fill(&d);

	assert_int_equal(shim_state_migrate(legacy, path, BOOT_1, note, sizeof(note)), 0);
	buf = encode_v1(&d, &len);
	write_file(legacy, buf, len);
	assert_int_equal(shim_state_migrate(legacy, path, BOOT_1, note, sizeof(note)), 1);
	assert_non_null(strstr(note, "3 deadlines"));
	assert_int_equal(access(legacy, F_OK), -1);    /* read once */
	shim_deadlines_init(&back);
	assert_int_equal(shim_state_load(path, BOOT_1, &back, note, sizeof(note)),
			 SHIM_STATE_LOADED);
	assert_int_equal(back.n, 3);
	assert_int_equal(back.n_fenced, 1);
	shim_deadlines_free(&back);

	/* The new file exists: an old one is left alone. */
	write_file(legacy, buf, len);
	assert_int_equal(shim_state_migrate(legacy, path, BOOT_1, note, sizeof(note)), 0);
	assert_int_equal(access(legacy, F_OK), 0);
	unlink(path);

	/* A corrupt old file is set aside and reported. */
	buf[len - 1] ^= 1;
	write_file(legacy, buf, len);
	assert_int_equal(shim_state_migrate(legacy, path, BOOT_1, note, sizeof(note)), -1);
	assert_non_null(strstr(note, "checksum"));
	assert_int_equal(access(aside, F_OK), 0);
	assert_int_equal(access(path, F_OK), -1);
	unlink(aside);
	free(buf);
	rmdir(dir);
	shim_deadlines_free(&d);
}

static void test_lock(void **state)
{
	char dir[] = "/tmp/shim-state-XXXXXX", path[128], err[512], pid[32];
	int fd, fd2;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hostd.sock.lock", dir);
	fd = shim_state_lock(path, err, sizeof(err));
	assert_true(fd >= 0);
	assert_string_equal(err, "");
	/* flock() locks belong to the open file: a second open is a second shim. */
	fd2 = shim_state_lock(path, err, sizeof(err));
	assert_int_equal(fd2, -1);
	snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
	assert_non_null(strstr(err, pid));
	assert_non_null(strstr(err, path));
	close(fd);
	fd2 = shim_state_lock(path, err, sizeof(err));
	assert_true(fd2 >= 0);
	close(fd2);
	unlink(path);
	rmdir(dir);
}

static void test_boot_id(void **state)
{
	char dir[] = "/tmp/shim-state-XXXXXX", path[128], err[512], id[SHIM_BOOT_ID_LEN + 1];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/boot_id", dir);
	f = fopen(path, "w");
	fputs(BOOT_1 "\n", f);
	fclose(f);
	assert_int_equal(shim_boot_id(path, id, err, sizeof(err)), 0);
	assert_string_equal(id, BOOT_1);
	f = fopen(path, "w");
	fputs("not a boot id\n", f);
	fclose(f);
	assert_int_equal(shim_boot_id(path, id, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a boot id"));
	unlink(path);
	assert_int_equal(shim_boot_id(path, id, err, sizeof(err)), -1);
	rmdir(dir);
	/* The real one, where the kernel has it. */
	if (access(SHIM_BOOT_ID_PATH, R_OK) == 0)
		assert_int_equal(shim_boot_id(SHIM_BOOT_ID_PATH, id, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_save_fails),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_boot_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
