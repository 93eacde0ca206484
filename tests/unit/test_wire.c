/* The authenticated datagram (fdm/wire.c): every way a datagram can be wrong is
 * dropped with its own reason, and nothing crashes on hostile bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fdm/wire.h"
#include "lib/util.h"

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
	struct fdm_key k = key(1), other = key(2);
	uint8_t buf[512];
	size_t len = sample(buf, sizeof(buf), "other", &k);
	Fdm__Packet *p;

	(void)state;
	assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_FOREIGN_CLUSTER);
	/* Another cluster with its own key: still told apart from a forgery, since
	 * the cluster id is read (as bytes) before the MAC. */
	len = sample(buf, sizeof(buf), "other", &other);
	assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_FOREIGN_CLUSTER);
	/* A name that is a prefix of ours, or ours with more after it. */
	len = sample(buf, sizeof(buf), "pro", &other);
	assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_FOREIGN_CLUSTER);
	len = sample(buf, sizeof(buf), "prod-b", &other);
	assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_FOREIGN_CLUSTER);
	assert_null(p);
}

/* Issue 15: the datagram a flood is made of. Right magic, right cluster id,
 * 32k empty repeated strings (slow to decode: 2.4 ms each when decoding came
 * first), a wrong MAC. It must be refused by the MAC, before any decoding. */
static size_t slow_to_decode(uint8_t *buf, size_t buflen, const char *cluster)
{
	size_t n = 0, cl = strlen(cluster), body;
	uint8_t *b = buf + FDM_WIRE_HEADER;

	memcpy(buf, FDM_WIRE_MAGIC, 4);
	b[n++] = 0x0a;                    /* Packet.cluster */
	b[n++] = (uint8_t)cl;
	memcpy(b + n, cluster, cl);
	n += cl;
	b[n++] = 0x12;                    /* Packet.sender */
	b[n++] = 1;
	b[n++] = 'x';
	b[n++] = 0x18;                    /* incarnation 1, seq 1 */
	b[n++] = 1;
	b[n++] = 0x20;
	b[n++] = 1;
	/* Packet.slave_hb (field 12) = { master "", term 0, vms: "" x many } */
	body = buflen - FDM_WIRE_HEADER - FDM_WIRE_MAC - n - 4;
	body -= body % 2;
	b[n++] = 0x62;
	b[n++] = (uint8_t)(0x80 | (body & 0x7f));
	b[n++] = (uint8_t)(0x80 | ((body >> 7) & 0x7f));
	b[n++] = (uint8_t)(body >> 14);
	b[n++] = 0x0a;                    /* SlaveHeartbeat.master "" */
	b[n++] = 0;
	b[n++] = 0x10;                    /* SlaveHeartbeat.term 0 */
	b[n++] = 0;
	for (size_t i = 4; i < body; i += 2) {
		b[n++] = 0x2a;                /* SlaveHeartbeat.vms (field 5), empty */
		b[n++] = 0;
	}
	fdm_put_be32(buf + 4, (uint32_t)n);
	memset(b + n, 0xee, FDM_WIRE_MAC);
	return FDM_WIRE_HEADER + n + FDM_WIRE_MAC;
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_mac_before_decoding(void **state)
{
	struct fdm_key k = key(1);
	uint8_t *buf = malloc(FDM_WIRE_MAX);
	size_t len = slow_to_decode(buf, FDM_WIRE_MAX, "prod");
	Fdm__Packet *p;
	double t0, per;
	int rounds = 200;

	(void)state;
	assert_true(len > 60000 && len <= FDM_WIRE_MAX);
	/* Signed, it decodes: the bytes are a real protobuf, slow to unpack. */
	{
		unsigned int maclen = FDM_WIRE_MAC;
		size_t body = len - FDM_WIRE_HEADER - FDM_WIRE_MAC;
		HMAC(EVP_sha256(), k.bytes, (int)k.len, buf, FDM_WIRE_HEADER + body,
		     buf + FDM_WIRE_HEADER + body, &maclen);
		assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_NONE);
		assert_true(p->slave_hb->n_vms > 30000);
		fdm__packet__free_unpacked(p, NULL);
		buf[len - 1] ^= 1;
	}
	t0 = seconds();
	for (int i = 0; i < rounds; i++)
		assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_BAD_MAC);
	per = (seconds() - t0) / rounds;
	print_message("a %zu-byte unsigned datagram costs %.3f ms to refuse\n", len, per * 1e3);
	/* Bad MAC and a body that is no protobuf at all: still bad_mac, since the
	 * protobuf decoder never sees an unsigned body. */
	memset(buf + FDM_WIRE_HEADER + 10, 0xff, 100);
	assert_int_equal(fdm_wire_decode(buf, len, "prod", &k, &p), FDM_DROP_BAD_MAC);
	free(buf);
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
		cmocka_unit_test(test_mac_before_decoding),
		cmocka_unit_test(test_every_flipped_byte_is_dropped),
		cmocka_unit_test(test_truncated_and_padded),
		cmocka_unit_test(test_random_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
