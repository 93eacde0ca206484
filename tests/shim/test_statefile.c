/* Unit tests of the protected set (hostd-shim/deadlines.c) and the state file
 * (hostd-shim/statefile.c): replace semantics, validation, round trips, and
 * every way a state file can be corrupt, each reported with its own reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hostd-shim/statefile.h"

#define UUID_A "aaaaaaaa-0000-1111-2222-333333333333"

struct dl_input {
	const char *name;
	const char *uuid;
	uint64_t at;
};

/* Replace d's set from a table of inputs through the protobuf path. */
static int replace(struct shim_deadlines *d, const struct dl_input *in, size_t n,
		   unsigned *changed, char *why)
{
	Fdm__DomainDeadline dl[8], *dp[8];
	Fdm__DomainRef ref[8];
	size_t i;

	for (i = 0; i < n; i++) {
		fdm__domain_ref__init(&ref[i]);
		ref[i].name = (char *)in[i].name;
		ref[i].uuid = (char *)in[i].uuid;
		fdm__domain_deadline__init(&dl[i]);
		dl[i].domain = &ref[i];
		dl[i].boottime_ms = in[i].at;
		dp[i] = &dl[i];
	}
	return shim_deadlines_replace(d, dp, n, changed, why, 256);
}

static void test_replace_keeps_flags(void **state)
{
	const struct dl_input first[] = { { "a", NULL, 100 }, { "b", NULL, 200 } };
	const struct dl_input same[] = { { "b", NULL, 200 }, { "a", NULL, 100 } };
	const struct dl_input later[] = { { "a", NULL, 150 }, { "b", NULL, 200 } };
	const struct dl_input fewer[] = { { "b", NULL, 200 } };
	struct shim_deadlines d;
	unsigned changed;
	char why[256];

	(void)state;
	shim_deadlines_init(&d);
	assert_int_equal(replace(&d, first, 2, &changed, why), 0);
	assert_int_equal(changed, SHIM_DL_VALUES | SHIM_DL_MEMBERS);
	assert_int_equal(shim_deadlines_next(&d), 100);
	shim_deadlines_find(&d, "a", "whatever")->fence_issued = true;
	assert_int_equal(shim_deadlines_next(&d), 200);

	assert_int_equal(replace(&d, same, 2, &changed, why), 0);
	assert_int_equal(changed, 0);
	assert_true(shim_deadlines_find(&d, "a", NULL)->fence_issued);

	assert_int_equal(replace(&d, later, 2, &changed, why), 0);
	assert_int_equal(changed, SHIM_DL_VALUES);
	assert_false(shim_deadlines_find(&d, "a", NULL)->fence_issued);
	assert_int_equal(shim_deadlines_next(&d), 150);

	assert_int_equal(replace(&d, fewer, 1, &changed, why), 0);
	assert_int_equal(changed, SHIM_DL_VALUES | SHIM_DL_MEMBERS);
	assert_null(shim_deadlines_find(&d, "a", NULL));
	shim_deadlines_clear(&d);
	assert_int_equal(shim_deadlines_next(&d), UINT64_MAX);
	shim_deadlines_free(&d);
}

static void test_replace_rejects(void **state)
{
	static const struct {
		struct dl_input in[2];
		size_t n;
		const char *why;
	} cases[] = {
		{ { { NULL, NULL, 1 } }, 1, "needs a name or a uuid" },
		{ { { "", "", 1 } }, 1, "needs a name or a uuid" },
		{ { { NULL, "not-a-uuid", 1 } }, 1, "uuid" },
		{ { { NULL, "aaaaaaaa-0000-1111-2222-33333333333g", 1 } }, 1, "uuid" },
		{ { { "bad\nname", NULL, 1 } }, 1, "control characters" },
		{ { { "a", NULL, 1 }, { "a", NULL, 2 } }, 2, "given twice" },
	};
	const struct dl_input keep[] = { { "keep", NULL, 5 } };
	struct shim_deadlines d;
	unsigned changed;
	char why[256];
	size_t i;

	(void)state;
	shim_deadlines_init(&d);
	assert_int_equal(replace(&d, keep, 1, &changed, why), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(replace(&d, cases[i].in, cases[i].n, &changed, why), -1);
		assert_non_null(strstr(why, cases[i].why));
		/* Nothing changes on error. */
		assert_int_equal(d.n, 1);
		assert_string_equal(d.v[0].ref.name, "keep");
	}
	shim_deadlines_free(&d);
}

static void test_match_by_uuid(void **state)
{
	struct shim_domref by_uuid = { .name = "old-name", .uuid = UUID_A };
	struct shim_domref by_name = { .name = "web" };

	(void)state;
	/* UUID wins: a renamed domain still matches, a namesake does not. */
	assert_true(shim_domref_matches(&by_uuid, "new-name", UUID_A));
	assert_false(shim_domref_matches(&by_uuid, "old-name", "bbbbbbbb-0000-1111-2222-333333333333"));
	assert_true(shim_domref_matches(&by_name, "web", UUID_A));
	assert_false(shim_domref_matches(&by_name, "web2", UUID_A));
}

static void fill(struct shim_deadlines *d)
{
	const struct dl_input in[] = { { "a", NULL, 100 }, { NULL, UUID_A, 1ull << 40 },
				       { "c", UUID_A, 7 } };
	unsigned changed;
	char why[256];

	shim_deadlines_init(d);
	assert_int_equal(replace(d, in, 3, &changed, why), 0);
	shim_deadlines_add_fenced(d, "x", UUID_A, 10, 12);
}

static void test_round_trip(void **state)
{
	struct shim_deadlines d, back;
	uint8_t *buf;
	size_t len, i;
	char why[256];

	(void)state;
	fill(&d);
	buf = shim_state_encode(&d, &len);
	assert_non_null(buf);
	shim_deadlines_init(&back);
	assert_int_equal(shim_state_decode(buf, len, &back, why, sizeof(why)), 0);
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
	shim_deadlines_free(&d);
	shim_deadlines_free(&back);
}

static void test_corrupt(void **state)
{
	struct shim_deadlines d, back;
	uint8_t *buf;
	size_t len;
	char why[256];

	(void)state;
	fill(&d);
	buf = shim_state_encode(&d, &len);
	shim_deadlines_init(&back);

	assert_int_equal(shim_state_decode(buf, 10, &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "truncated"));
	assert_int_equal(shim_state_decode(buf, len - 1, &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "length"));
	buf[len - 1] ^= 0x40;
	assert_int_equal(shim_state_decode(buf, len, &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "checksum"));
	buf[len - 1] ^= 0x40;
	buf[7] = 9;
	assert_int_equal(shim_state_decode(buf, len, &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "version"));
	buf[7] = SHIM_STATE_VERSION;
	buf[0] = 'X';
	assert_int_equal(shim_state_decode(buf, len, &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "magic"));
	assert_int_equal(back.n, 0);
	free(buf);
	shim_deadlines_free(&d);
}

static void test_save_load(void **state)
{
	char dir[] = "/tmp/shim-state-XXXXXX", path[128], err[512];
	struct shim_deadlines d, back;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(shim_state_path("/x/y/hostd.sock", path, sizeof(path)));
	assert_string_equal(path, "/x/y/hostd-shim.state");
	snprintf(path, sizeof(path), "%s/hostd-shim.state", dir);

	shim_deadlines_init(&back);
	assert_int_equal(shim_state_load(path, &back, err, sizeof(err)), 0);  /* no file */
	fill(&d);
	assert_int_equal(shim_state_save(path, &d, err, sizeof(err)), 0);
	assert_int_equal(shim_state_load(path, &back, err, sizeof(err)), 1);
	assert_int_equal(back.n, 3);
	shim_deadlines_free(&back);

	f = fopen(path, "r+");   /* tear the file: corrupt, reported, not trusted */
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 20), 0);
	fclose(f);
	shim_deadlines_init(&back);
	assert_int_equal(shim_state_load(path, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(back.n, 0);

	unlink(path);
	rmdir(dir);
	shim_deadlines_free(&d);
	shim_deadlines_free(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_keeps_flags),
		cmocka_unit_test(test_replace_rejects),
		cmocka_unit_test(test_match_by_uuid),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_save_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
