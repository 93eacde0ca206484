/* Record frame: round trip, every rejection reason, every single-byte flip, and
 * the two-slot choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "datastore/record.h"

static const uint8_t body[] = "a protobuf body, not parsed here";

static void auth_init(struct fdm_rec_auth *a, const char *cluster, uint8_t fill)
{
	memset(a, 0, sizeof(*a));
	strcpy(a->cluster, cluster);
	memset(a->key, fill, 32);
	a->key_len = 32;
}

static size_t encode(uint8_t *buf, size_t len, uint64_t gen)
{
	struct fdm_rec_auth a;

	auth_init(&a, "prod-a", 0x42);
	return fdm_rec_encode(&a, FDM_REC_KIND_HEARTBEAT, gen, body, sizeof(body), buf, len);
}

static enum fdm_rec_err decode(const uint8_t *buf, size_t len, struct fdm_rec_view *v)
{
	struct fdm_rec_auth a;

	auth_init(&a, "prod-a", 0x42);
	return fdm_rec_decode(&a, buf, len, 4096, FDM_REC_KIND_HEARTBEAT, v);
}

static void test_round_trip(void **state)
{
	uint8_t buf[4096];
	struct fdm_rec_view v;

	(void)state;
	assert_int_equal(encode(buf, sizeof(buf), 7), 4096);
	assert_int_equal(decode(buf, sizeof(buf), &v), FDM_REC_OK);
	assert_int_equal(v.slot_gen, 7);
	assert_int_equal(v.kind, FDM_REC_KIND_HEARTBEAT);
	assert_int_equal(v.body_len, sizeof(body));
	assert_memory_equal(v.body, body, sizeof(body));
	assert_string_equal(v.cluster, "prod-a");
}

static void test_does_not_fit(void **state)
{
	uint8_t buf[4096];
	uint8_t big[4096] = { 0 };
	struct fdm_rec_auth a;

	(void)state;
	auth_init(&a, "c", 1);
	assert_int_equal(fdm_rec_encode(&a, FDM_REC_KIND_LEASE, 1, big, sizeof(big) - 100,
					 buf, sizeof(buf)), 0);
	assert_int_equal(fdm_rec_padded_size(4096 - FDM_REC_OVERHEAD), 4096);
	assert_int_equal(fdm_rec_padded_size(4096 - FDM_REC_OVERHEAD + 1), 8192);
}

/* Table: which region of the frame a flipped byte lands in, and what it gives. */
struct flip_case {
	const char *region;
	size_t offset;
	enum fdm_rec_err want;
};

static void test_flip_regions(void **state)
{
	const size_t body_end = FDM_REC_HEADER + sizeof(body);
	const struct flip_case cases[] = {
		{ "magic", 0, FDM_REC_BAD_MAGIC },
		{ "version", 5, FDM_REC_BAD_VERSION },
		{ "kind", 7, FDM_REC_BAD_CHECKSUM },
		{ "length high byte", 8, FDM_REC_BAD_LENGTH },
		{ "length low byte", 11, FDM_REC_BAD_CHECKSUM },
		{ "reserved", 12, FDM_REC_BAD_LENGTH },
		{ "generation", 20, FDM_REC_BAD_CHECKSUM },
		{ "cluster", 30, FDM_REC_BAD_CHECKSUM },
		{ "body", FDM_REC_HEADER + 3, FDM_REC_BAD_CHECKSUM },
		{ "crc", body_end + 1, FDM_REC_BAD_CHECKSUM },
		{ "mac", body_end + 4 + 10, FDM_REC_BAD_MAC },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[4096];
		struct fdm_rec_view v;

		encode(buf, sizeof(buf), 3);
		buf[cases[i].offset] ^= 0x80;
		print_message("flip %s\n", cases[i].region);
		assert_int_equal(decode(buf, sizeof(buf), &v), cases[i].want);
	}
}

static void test_every_byte_flip_rejected(void **state)
{
	const size_t frame = FDM_REC_OVERHEAD + sizeof(body);
	uint8_t buf[4096];
	struct fdm_rec_view v;

	(void)state;
	for (size_t i = 0; i < frame; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			encode(buf, sizeof(buf), 3);
			buf[i] ^= (uint8_t)(1u << bit);
			assert_int_not_equal(decode(buf, sizeof(buf), &v), FDM_REC_OK);
		}
	}
}

static void test_truncated(void **state)
{
	uint8_t buf[4096];
	struct fdm_rec_view v;

	(void)state;
	encode(buf, sizeof(buf), 3);
	assert_int_equal(decode(buf, 40, &v), FDM_REC_SHORT);
	assert_int_equal(decode(buf, FDM_REC_HEADER + 5, &v), FDM_REC_SHORT);
	assert_int_equal(decode(buf, FDM_REC_OVERHEAD + sizeof(body) - 1, &v), FDM_REC_SHORT);
	assert_int_equal(decode(buf, 0, &v), FDM_REC_EMPTY);
}

static void test_empty(void **state)
{
	uint8_t buf[4096] = { 0 };
	struct fdm_rec_view v;

	(void)state;
	assert_int_equal(decode(buf, sizeof(buf), &v), FDM_REC_EMPTY);
}

static void test_wrong_key_cluster_kind(void **state)
{
	uint8_t buf[4096];
	struct fdm_rec_auth other;
	struct fdm_rec_view v;

	(void)state;
	encode(buf, sizeof(buf), 3);
	auth_init(&other, "prod-a", 0x43);
	assert_int_equal(fdm_rec_decode(&other, buf, sizeof(buf), 4096, FDM_REC_KIND_HEARTBEAT, &v),
			 FDM_REC_BAD_MAC);
	auth_init(&other, "prod-b", 0x42);
	assert_int_equal(fdm_rec_decode(&other, buf, sizeof(buf), 4096, FDM_REC_KIND_HEARTBEAT, &v),
			 FDM_REC_WRONG_CLUSTER);
	auth_init(&other, "", 0x42);   /* any cluster: fdm-inspect --key */
	assert_int_equal(fdm_rec_decode(&other, buf, sizeof(buf), 4096, FDM_REC_KIND_HEARTBEAT, &v),
			 FDM_REC_OK);
	auth_init(&other, "prod-a", 0x42);
	assert_int_equal(fdm_rec_decode(&other, buf, sizeof(buf), 4096, FDM_REC_KIND_POWERON, &v),
			 FDM_REC_WRONG_KIND);
}

/* A forger who fixes the CRC still fails the MAC. */
static void test_forged_with_good_crc(void **state)
{
	uint8_t buf[4096];
	struct fdm_rec_auth forger;
	struct fdm_rec_view v;

	(void)state;
	auth_init(&forger, "prod-a", 0x99);
	fdm_rec_encode(&forger, FDM_REC_KIND_HEARTBEAT, 9, body, sizeof(body), buf, sizeof(buf));
	assert_int_equal(decode(buf, sizeof(buf), &v), FDM_REC_BAD_MAC);
}

static void test_slot_too_small(void **state)
{
	uint8_t buf[8192];
	struct fdm_rec_auth a;
	uint8_t big[5000] = { 1 };
	struct fdm_rec_view v;

	(void)state;
	auth_init(&a, "prod-a", 0x42);
	assert_int_equal(fdm_rec_encode(&a, FDM_REC_KIND_POWERON, 1, big, sizeof(big), buf,
					sizeof(buf)), 8192);
	assert_int_equal(fdm_rec_decode(&a, buf, sizeof(buf), 8192, 0, &v), FDM_REC_OK);
	assert_int_equal(fdm_rec_decode(&a, buf, sizeof(buf), 4096, 0, &v), FDM_REC_BAD_LENGTH);
}

/* Two slots: the valid one with the higher generation; a torn newer slot leaves
 * the older one in charge. */
static void test_pick(void **state)
{
	uint8_t s0[4096], s1[4096];
	struct fdm_rec_view v0, v1;
	enum fdm_rec_err e0, e1;

	(void)state;
	(void)v0;
	assert_int_equal(fdm_rec_pick(FDM_REC_OK, 4, FDM_REC_OK, 5), 1);
	assert_int_equal(fdm_rec_pick(FDM_REC_OK, 6, FDM_REC_OK, 5), 0);
	assert_int_equal(fdm_rec_pick(FDM_REC_OK, 5, FDM_REC_OK, 5), 0);
	assert_int_equal(fdm_rec_pick(FDM_REC_EMPTY, 0, FDM_REC_EMPTY, 0), -1);

	encode(s0, sizeof(s0), 4);
	encode(s1, sizeof(s1), 5);
	/* The write of generation 5 tore after its first 100 bytes. */
	memset(s1 + 100, 0, sizeof(s1) - 100);
	e0 = decode(s0, sizeof(s0), &v0);
	e1 = decode(s1, sizeof(s1), &v1);
	assert_int_equal(e0, FDM_REC_OK);
	assert_int_equal(e1, FDM_REC_BAD_CHECKSUM);
	assert_int_equal(fdm_rec_pick(e0, v0.slot_gen, e1, 0), 0);
}

static void test_err_names(void **state)
{
	(void)state;
	for (int e = 0; e < FDM_REC_ERR_COUNT; e++)
		assert_string_not_equal(fdm_rec_err_name(e), "?");
	assert_string_equal(fdm_rec_err_name(FDM_REC_BAD_CHECKSUM), "checksum mismatch");
	assert_string_equal(fdm_rec_err_name(FDM_REC_ERR_COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_does_not_fit),
		cmocka_unit_test(test_flip_regions),
		cmocka_unit_test(test_every_byte_flip_rejected),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_wrong_key_cluster_kind),
		cmocka_unit_test(test_forged_with_good_crc),
		cmocka_unit_test(test_slot_too_small),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_err_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
