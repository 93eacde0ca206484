/* The authenticated datagram (fdm/wire.c): every way a datagram can be wrong is
 * dropped with its own reason, and nothing crashes on hostile bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/wire.h"

static struct fdm_key key(uint8_t fill)
{
	struct fdm_key k;

	memset(k.bytes, fill, sizeof(k.bytes));
	k.len = 32;
	return k;
}

static size_t sample(uint8_t *buf, size_t len, const char *cluster, const struct fdm_key *k)
{
	Fdm__Packet p = FDM__PACKET__INIT;
	Fdm__Bid bid = FDM__BID__INIT;

	p.cluster = (char *)cluster;
	p.sender = (char *)"host-1";
	p.incarnation = 42;
	p.seq = 7;
	bid.term = 3;
	bid.datastores = 2;
	p.body_case = FDM__PACKET__BODY_BID;
	p.bid = &bid;
	return fdm_wire_encode(&p, k, buf, len);
}

static void test_round_trip(void **state)
{
	struct fdm_key k = key(1);
	uint8_t buf[512];
	size_t len = sample(buf, sizeof(buf), "prod", &k);
	Fdm__Packet *p;

	(void)state;
	assert_true(len > FDM_WIRE_HEADER + FDM_WIRE_MAC);
	assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_NONE);
	assert_string_equal(p->sender, "host-1");
	assert_int_equal(p->seq, 7);
	assert_int_equal(p->bid->datastores, 2);
	fdm__packet__free_unpacked(p, NULL);
}

static void test_wrong_key_is_bad_mac(void **state)
{
	struct fdm_key k = key(1), other = key(2);
	uint8_t buf[512];
	size_t len = sample(buf, sizeof(buf), "prod", &other);
	Fdm__Packet *p;

	(void)state;
	assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_BAD_MAC);
	assert_null(p);
}

static void test_foreign_cluster(void **state)
{
	struct fdm_key k = key(1);
	uint8_t buf[512];
	size_t len = sample(buf, sizeof(buf), "other", &k);
	Fdm__Packet *p;

	(void)state;
	assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_FOREIGN_CLUSTER);
}

/* Any single flipped byte is caught: as malformed (framing, protobuf), as a
 * foreign cluster (the name changed) or as a bad MAC, never accepted. */
static void test_every_flipped_byte_is_dropped(void **state)
{
	struct fdm_key k = key(1);
	uint8_t buf[512];
	size_t len = sample(buf, sizeof(buf), "prod", &k);
	Fdm__Packet *p;

	(void)state;
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x20;
		assert_int_not_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_NONE);
		assert_null(p);
		buf[i] ^= 0x20;
	}
}

static void test_truncated_and_padded(void **state)
{
	struct fdm_key k = key(1);
	uint8_t buf[512];
	size_t len = sample(buf, sizeof(buf), "prod", &k);
	Fdm__Packet *p;

	(void)state;
	for (size_t n = 0; n < len; n++)
		assert_int_equal(fdm_wire_decode(buf, n, "prod", &k, &p), FDM_DROP_MALFORMED);
	assert_int_equal(fdm_wire_decode(buf, len + 1, "prod", &k, &p), FDM_DROP_MALFORMED);
	assert_int_equal(fdm_wire_decode(buf, FDM_WIRE_MAX + 1, "prod", &k, &p),
			 FDM_DROP_MALFORMED);
}

static void test_random_garbage(void **state)
{
	struct fdm_key k = key(1);
	uint8_t buf[600];
	uint32_t x = 12345;
	Fdm__Packet *p;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(x % sizeof(buf));
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (uint8_t)(x >> 16);
		}
		if (len >= 8) {   /* plausible framing, so the protobuf decoder sees it */
			memcpy(buf, FDM_WIRE_MAGIC, 4);
			uint32_t body = (uint32_t)(len >= 40 ? len - 40 : 0);
			buf[4] = (uint8_t)(body >> 24);
			buf[5] = (uint8_t)(body >> 16);
			buf[6] = (uint8_t)(body >> 8);
			buf[7] = (uint8_t)body;
		}
		assert_int_not_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_NONE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_key_is_bad_mac),
		cmocka_unit_test(test_foreign_cluster),
		cmocka_unit_test(test_every_flipped_byte_is_dropped),
		cmocka_unit_test(test_truncated_and_padded),
		cmocka_unit_test(test_random_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
