/* Unit tests of the shim socket framing (hostd-shim/frame.c): reassembly at
 * every split point, oversized lengths, the output queue's cap, flushing
 * through a real socket pair with a small buffer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "hostd-shim/frame.h"

static uint8_t *stats_request(uint64_t id, size_t *len)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__StatsRequest st = FDM__STATS_REQUEST__INIT;

	req.id = id;
	req.op_case = FDM__SHIM_REQUEST__OP_STATS;
	req.stats = &st;
	return shim_frame_encode(&req.base, len);
}

/* Feed `data` in pieces of `step` bytes; return the ids of decoded frames. */
static int feed_all(const uint8_t *data, size_t len, size_t step, uint64_t *ids, int max)
{
	struct shim_frame_reader r;
	size_t off = 0;
	int n = 0;

	shim_frame_reader_init(&r);
	while (off < len) {
		size_t chunk = len - off < step ? len - off : step, used, blen;

		while (chunk > 0) {
			enum shim_frame_status st = shim_frame_reader_feed(&r, data + off, chunk, &used);

			off += used;
			chunk -= used;
			assert_int_not_equal(st, SHIM_FRAME_OVERSIZED);
			if (st == SHIM_FRAME_READY) {
				const uint8_t *body = shim_frame_reader_body(&r, &blen);
				Fdm__ShimRequest *req = fdm__shim_request__unpack(NULL, blen, body);

				assert_non_null(req);
				assert_true(n < max);
				ids[n++] = req->id;
				fdm__shim_request__free_unpacked(req, NULL);
				shim_frame_reader_next(&r);
			}
		}
	}
	assert_false(shim_frame_reader_partial(&r));
	shim_frame_reader_free(&r);
	return n;
}

static void test_every_split(void **state)
{
	uint8_t buf[256];
	size_t len1, len2, len3, total, step;
	uint8_t *f1 = stats_request(1, &len1), *f2 = stats_request(300, &len2),
		*f3 = stats_request(1ull << 40, &len3);
	uint64_t ids[8];

	(void)state;
	total = len1 + len2 + len3;
	assert_true(total <= sizeof(buf));
	memcpy(buf, f1, len1);
	memcpy(buf + len1, f2, len2);
	memcpy(buf + len1 + len2, f3, len3);
	for (step = 1; step <= total; step++) {
		assert_int_equal(feed_all(buf, total, step, ids, 8), 3);
		assert_true(ids[0] == 1 && ids[1] == 300 && ids[2] == 1ull << 40);
	}
	free(f1);
	free(f2);
	free(f3);
}

static void test_oversized(void **state)
{
	static const struct {
		uint8_t hdr[4];
		enum shim_frame_status want;
	} cases[] = {
		{ { 0x00, 0x10, 0x00, 0x00 }, SHIM_FRAME_MORE },      /* exactly 1 MiB: allowed */
		{ { 0x00, 0x10, 0x00, 0x01 }, SHIM_FRAME_OVERSIZED }, /* 1 MiB + 1 */
		{ { 0xff, 0xff, 0xff, 0xff }, SHIM_FRAME_OVERSIZED },
		{ { 0x00, 0x00, 0x00, 0x00 }, SHIM_FRAME_READY },     /* empty body */
	};
	size_t i, used;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shim_frame_reader r;

		shim_frame_reader_init(&r);
		assert_int_equal(shim_frame_reader_feed(&r, cases[i].hdr, 4, &used), cases[i].want);
		assert_int_equal(used, 4);
		/* An oversized header does not allocate the announced size. */
		assert_true(r.body_cap == 0);
		shim_frame_reader_free(&r);
	}
}

static void test_outq_cap(void **state)
{
	Fdm__ShimReply reply = FDM__SHIM_REPLY__INIT;
	Fdm__ShimMessage m = FDM__SHIM_MESSAGE__INIT;
	struct shim_outq q;
	size_t one;
	int i;

	(void)state;
	reply.id = 1;
	reply.message = "0123456789";
	m.kind_case = FDM__SHIM_MESSAGE__KIND_REPLY;
	m.reply = &reply;
	one = SHIM_FRAME_HEADER + protobuf_c_message_get_packed_size(&m.base);
	shim_outq_init(&q, one * 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(shim_outq_push_message(&q, &m.base), 0);
	assert_int_equal(shim_outq_push_message(&q, &m.base), -ENOBUFS);
	assert_int_equal(q.bytes, one * 3);
	shim_outq_free(&q);
	assert_true(shim_outq_empty(&q));
}

static void test_outq_too_big(void **state)
{
	Fdm__ShimReply reply = FDM__SHIM_REPLY__INIT;
	struct shim_outq q;
	char *big = malloc(SHIM_FRAME_MAX + 1);

	(void)state;
	memset(big, 'x', SHIM_FRAME_MAX);
	big[SHIM_FRAME_MAX] = '\0';
	reply.message = big;
	shim_outq_init(&q, 4 * SHIM_FRAME_MAX);
	assert_int_equal(shim_outq_push_message(&q, &reply.base), -EMSGSIZE);
	shim_outq_free(&q);
	free(big);
}

/* Many frames through a socket pair whose buffer fills: partial writes resume. */
static void test_flush_partial(void **state)
{
	Fdm__ShimReply reply = FDM__SHIM_REPLY__INIT;
	struct shim_outq q;
	int sv[2], i, bufsz = 4096;
	char *text = malloc(20000);
	uint8_t rbuf[65536];
	size_t got = 0, want = 0;

	(void)state;
	memset(text, 'y', 19999);
	text[19999] = '\0';
	reply.message = text;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	shim_outq_init(&q, 1 << 24);
	for (i = 0; i < 20; i++) {
		reply.id = (uint64_t)i;
		assert_int_equal(shim_outq_push_message(&q, &reply.base), 0);
	}
	want = q.bytes;
	while (!shim_outq_empty(&q)) {
		ssize_t n;

		assert_int_equal(shim_outq_flush(&q, sv[0]), 0);
		n = read(sv[1], rbuf, sizeof(rbuf));
		assert_true(n > 0);
		got += (size_t)n;
	}
	while (got < want) {
		ssize_t n = read(sv[1], rbuf, sizeof(rbuf));

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(got, want);
	close(sv[1]);
	reply.id = 99;
	assert_int_equal(shim_outq_push_message(&q, &reply.base), 0);
	assert_int_equal(shim_outq_flush(&q, sv[0]), -EPIPE);
	shim_outq_free(&q);
	close(sv[0]);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_outq_cap),
		cmocka_unit_test(test_outq_too_big),
		cmocka_unit_test(test_flush_partial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
