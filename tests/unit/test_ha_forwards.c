/* The shell's tables of requests between hosts (fdm/ha_forwards.c): a slave's
 * requests kept until the master they went to answers (only that master), sent
 * again until then, forgotten after FDM_FORWARD_KEEP_MS; a master's ids for
 * forwarded requests, apart from control tickets, a request sent again never
 * carried out twice (its answer sent again), and a restarted slave's ticket 1
 * not taken for its predecessor's; definition requests asked again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/ha_forwards.h"

#define T0     1000000u
#define RESEND 500u

static struct fdm_forwards *fw;

static int setup(void **state)
{
	(void)state;
	fw = malloc(sizeof(*fw));
	fdm_forwards_init(fw);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(fw);
	return 0;
}

static const char *const req = "{\"command\":\"protect\",\"vm\":\"db1\"}";

static void test_answered_only_by_the_master_it_went_to(void **state)
{
	struct fdm_forward_out *o;

	(void)state;
	assert_true(fdm_forwards_keep(fw, 1, req, T0));
	assert_false(fdm_forwards_answered(fw, 1, 3));    /* not forwarded yet */
	o = fdm_forwards_sending(fw, 1, 3, T0, RESEND);
	assert_non_null(o);
	assert_string_equal(o->request, req);
	assert_int_equal(o->ticket, 1);
	assert_false(fdm_forwards_answered(fw, 1, 2));    /* another host */
	assert_false(fdm_forwards_answered(fw, 2, 3));    /* another ticket */
	assert_true(fdm_forwards_answered(fw, 1, 3));
	assert_false(fdm_forwards_answered(fw, 1, 3));    /* the same reply again */
	assert_null(fdm_forwards_sending(fw, 1, 3, T0, RESEND));
}

static void test_answered_here_is_forgotten(void **state)
{
	(void)state;
	assert_true(fdm_forwards_keep(fw, 2, req, T0));
	fdm_forwards_done(fw, 2);
	assert_null(fdm_forwards_sending(fw, 2, 3, T0, RESEND));
	fdm_forwards_done(fw, 99);   /* unknown: nothing happens */
}

static void test_sent_again_until_answered(void **state)
{
	(void)state;
	assert_true(fdm_forwards_keep(fw, 1, req, T0));
	assert_true(fdm_forwards_keep(fw, 2, req, T0));   /* never forwarded: never sent */
	assert_non_null(fdm_forwards_sending(fw, 1, 3, T0, RESEND));
	assert_null(fdm_forwards_resend_due(fw, T0 + RESEND - 1, RESEND));
	assert_int_equal(fdm_forwards_resend_due(fw, T0 + RESEND, RESEND)->ticket, 1);
	assert_null(fdm_forwards_resend_due(fw, T0 + RESEND, RESEND));
	assert_non_null(fdm_forwards_resend_due(fw, T0 + 2 * RESEND, RESEND));
	assert_true(fdm_forwards_answered(fw, 1, 3));
	assert_null(fdm_forwards_resend_due(fw, T0 + 10 * RESEND, RESEND));
}

static void test_forgotten_when_the_client_gave_up(void **state)
{
	(void)state;
	assert_true(fdm_forwards_keep(fw, 1, req, T0));
	assert_non_null(fdm_forwards_sending(fw, 1, 3, T0, RESEND));
	assert_null(fdm_forwards_resend_due(fw, T0 + FDM_FORWARD_KEEP_MS, RESEND));
	fdm_forwards_expire(fw, T0 + FDM_FORWARD_KEEP_MS);
	assert_false(fdm_forwards_answered(fw, 1, 3));
}

static void test_full_then_room_again(void **state)
{
	char big[FDM_FORWARD_REQUEST_MAX + 1];

	(void)state;
	for (uint64_t t = 1; t <= FDM_FORWARDS_MAX; t++)
		assert_true(fdm_forwards_keep(fw, t, req, T0));
	assert_false(fdm_forwards_keep(fw, 100, req, T0 + 1));
	assert_true(fdm_forwards_keep(fw, 100, req, T0 + FDM_FORWARD_KEEP_MS));
	/* A request over the bound is never kept (nor forwarded cut short). */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fdm_forwards_init(fw);
	assert_false(fdm_forwards_keep(fw, 1, big, T0));
}

static void test_master_ids_and_requests_sent_again(void **state)
{
	struct fdm_forward_in *a, *b, *e;

	(void)state;
	assert_int_equal(fdm_forwards_accept(fw, 1, 555, 1, T0, &a), FDM_FWD_NEW);
	assert_int_equal(fdm_forwards_accept(fw, 2, 777, 1, T0, &b), FDM_FWD_NEW);
	assert_true(a->id >= FDM_FORWARD_ID_BASE && b->id >= FDM_FORWARD_ID_BASE);
	assert_int_not_equal(a->id, b->id);
	/* Sent again while the core works on it: not a new request. */
	assert_int_equal(fdm_forwards_accept(fw, 1, 555, 1, T0 + 1, &e), FDM_FWD_PENDING);
	assert_ptr_equal(e, a);
	/* The core's answer goes to the peer that asked, under its own id. */
	assert_null(fdm_forwards_reply(fw, a->id, 2, true, "wrong peer"));
	e = fdm_forwards_reply(fw, a->id, 1, true, "db1 protected on ds1");
	assert_ptr_equal(e, a);
	assert_int_equal(e->peer_id, 1);
	/* Sent again after the answer: the same answer, not a second protect. */
	assert_int_equal(fdm_forwards_accept(fw, 1, 555, 1, T0 + 2, &e), FDM_FWD_ANSWERED);
	assert_true(e->ok);
	assert_string_equal(e->message, "db1 protected on ds1");
	/* A restarted slave's ticket 1 (a new incarnation) is a new request. */
	assert_int_equal(fdm_forwards_accept(fw, 1, 556, 1, T0 + 3, &e), FDM_FWD_NEW);
	assert_ptr_not_equal(e, a);
	/* Kept FDM_FORWARD_KEEP_MS, then forgotten. */
	fdm_forwards_expire(fw, T0 + FDM_FORWARD_KEEP_MS);
	assert_null(fdm_forwards_reply(fw, b->id, 2, true, "late"));
}

static void test_master_table_full(void **state)
{
	struct fdm_forward_in *e;

	(void)state;
	for (uint64_t i = 0; i < FDM_FORWARDS_MAX; i++)
		assert_int_equal(fdm_forwards_accept(fw, 1, 555, i, T0, &e), FDM_FWD_NEW);
	assert_int_equal(fdm_forwards_accept(fw, 1, 555, 999, T0, &e), FDM_FWD_FULL);
	assert_null(e);
	assert_int_equal(fdm_forwards_accept(fw, 1, 555, 999, T0 + FDM_FORWARD_KEEP_MS, &e),
			 FDM_FWD_NEW);
}

static void test_definition_asked_again(void **state)
{
	struct fdm_define_ask *a;

	(void)state;
	fdm_forwards_ask(fw, 42, 1, "db1", T0, RESEND);
	fdm_forwards_ask(fw, 42, 2, "db1", T0, RESEND);
	fdm_forwards_ask(fw, 42, 1, "db1", T0, RESEND);   /* the same ask: one entry */
	assert_null(fdm_forwards_ask_due(fw, T0 + RESEND - 1, RESEND));
	a = fdm_forwards_ask_due(fw, T0 + RESEND, RESEND);
	assert_non_null(a);
	assert_int_equal(a->id, 42);
	assert_string_equal(a->vm, "db1");
	fdm_forwards_ask_done(a);                          /* answered: the core waits no more */
	a = fdm_forwards_ask_due(fw, T0 + RESEND, RESEND);
	assert_non_null(a);
	assert_null(fdm_forwards_ask_due(fw, T0 + RESEND, RESEND));
	/* Past the core's request timeout nobody waits. */
	assert_null(fdm_forwards_ask_due(fw, T0 + FDM_DEFINE_ASK_MS, RESEND));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answered_only_by_the_master_it_went_to, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_answered_here_is_forgotten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sent_again_until_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forgotten_when_the_client_gave_up, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_then_room_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_master_ids_and_requests_sent_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_master_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_definition_asked_again, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
