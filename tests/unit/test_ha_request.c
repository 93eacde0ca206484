/* The JSON form of operators' requests (fdm/ha_request.c): what the control
 * socket takes, with one error line for each thing at fault, and the form a
 * slave forwards to its master, which parses back to the same request (the
 * host of a maintenance filled in where fdmctl ran, not where it is carried out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/ha_request.h"
#include "lib/util.h"

static struct fdm_config cfg;

static int setup(void **state)
{
	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	fdm_strlcpy(cfg.datastores[0].name, "ds1", FDM_ID_MAX);
	fdm_strlcpy(cfg.datastores[1].name, "ds2", FDM_ID_MAX);
	cfg.n_datastores = 2;
	return 0;
}

struct parse_case {
	const char *json;
	const char *error;            /* NULL: parses */
	enum fdm_ha_op op;
	const char *name;
	int priority, ds;
};

#define VM63 "vm-456789012345678901234567890123456789012345678901234567890123"
#define VM64 VM63 "x"

static const struct parse_case cases[] = {
	{ "{\"command\":\"protect\",\"vm\":\"db1\"}", NULL, FDM_HA_PROTECT, "db1", -1, -1 },
	{ "{\"command\":\"protect\",\"vm\":\"db1\",\"priority\":\"high\",\"datastore\":\"ds2\"}",
	  NULL, FDM_HA_PROTECT, "db1", FDM__PRIORITY__PRIORITY_HIGH, 1 },
	{ "{\"command\":\"protect\",\"vm\":\"db1\",\"priority\":\"disabled\"}",
	  NULL, FDM_HA_PROTECT, "db1", FDM__PRIORITY__PRIORITY_DISABLED, -1 },
	{ "{\"command\":\"protect\",\"vm\":\"" VM63 "\"}", NULL, FDM_HA_PROTECT, VM63, -1, -1 },
	{ "{\"command\":\"protect\",\"vm\":\"" VM64 "\"}",
	  "VM name too long for protection (at most 63 bytes)", 0, NULL, 0, 0 },
	{ "{\"command\":\"protect\"}", "no \"vm\" given", 0, NULL, 0, 0 },
	{ "{\"command\":\"protect\",\"vm\":\"\"}", "no \"vm\" given", 0, NULL, 0, 0 },
	{ "{\"command\":\"protect\",\"vm\":7}", "no \"vm\" given", 0, NULL, 0, 0 },
	{ "{\"command\":\"protect\",\"vm\":\"db1\",\"priority\":\"urgent\"}",
	  "priority: one of highest, high, medium, low, lowest, disabled", 0, NULL, 0, 0 },
	{ "{\"command\":\"protect\",\"vm\":\"db1\",\"datastore\":\"ds9\"}",
	  "no such datastore in [datastores]", 0, NULL, 0, 0 },
	{ "{\"command\":\"unprotect\",\"vm\":\"db1\"}", NULL, FDM_HA_UNPROTECT, "db1", -1, -1 },
	{ "{\"command\":\"maintenance\",\"action\":\"enter\"}",
	  NULL, FDM_HA_MAINT_ENTER, "host-2", -1, -1 },
	{ "{\"command\":\"maintenance\",\"action\":\"exit\",\"host\":\"host-3\"}",
	  NULL, FDM_HA_MAINT_EXIT, "host-3", -1, -1 },
	{ "{\"command\":\"maintenance\",\"action\":\"stay\"}",
	  "maintenance: \"action\" must be enter or exit", 0, NULL, 0, 0 },
	{ "{\"command\":\"maintenance\"}",
	  "maintenance: \"action\" must be enter or exit", 0, NULL, 0, 0 },
	{ "{\"command\":\"maintenance\",\"action\":\"enter\",\"host\":\"\"}",
	  "maintenance: no \"host\" given", 0, NULL, 0, 0 },
	{ "{\"command\":\"status\"}", "not a protect, unprotect or maintenance request",
	  0, NULL, 0, 0 },
	{ "{\"vm\":\"db1\"}", "not a protect, unprotect or maintenance request", 0, NULL, 0, 0 },
	{ "{\"command\":\"protect\",\"vm\":\"db1\\u0000x\"}",
	  "a request string holds a NUL byte", 0, NULL, 0, 0 },
	{ "{\"command\":\"maintenance\",\"action\":\"enter\",\"host\":\"host-1\\u0000\"}",
	  "a request string holds a NUL byte", 0, NULL, 0, 0 },
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *k = &cases[i];
		json_object *req = json_tokener_parse(k->json);
		struct fdm_ha_request r;
		const char *err;

		assert_non_null(req);
		err = fdm_ha_request_parse(&cfg, "host-2", req, &r);
		json_object_put(req);
		print_message("%s -> %s\n", k->json, err ? err : "ok");
		if (k->error != NULL) {
			assert_non_null(err);
			assert_string_equal(err, k->error);
			continue;
		}
		assert_null(err);
		assert_int_equal(r.op, k->op);
		assert_string_equal(r.name, k->name);
		assert_int_equal(r.priority, k->priority);
		assert_int_equal(r.ds, k->ds);
		assert_int_equal(r.origin, -1);
		assert_int_equal(r.id, 0);
	}
}

/* Every request that parses, formatted as a slave forwards it and parsed again
 * by a master elsewhere (default host host-4): the same request. */
static void test_forwarded_form_parses_back(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *k = &cases[i];
		json_object *req = json_tokener_parse(k->json), *again;
		struct fdm_ha_request r, back;
		char buf[FDM_FORWARD_REQUEST_MAX];
		size_t n;

		if (k->error != NULL) {
			json_object_put(req);
			continue;
		}
		assert_null(fdm_ha_request_parse(&cfg, "host-2", req, &r));
		json_object_put(req);
		n = fdm_ha_request_format(&cfg, &r, buf, sizeof(buf));
		assert_true(n > 0 && n == strlen(buf));
		print_message("%s\n", buf);
		again = json_tokener_parse(buf);
		assert_non_null(again);
		assert_null(fdm_ha_request_parse(&cfg, "host-4", again, &back));
		json_object_put(again);
		assert_int_equal(back.op, r.op);
		assert_string_equal(back.name, r.name);   /* host-2's maintenance stays host-2's */
		assert_int_equal(back.priority, r.priority);
		assert_int_equal(back.ds, r.ds);
	}
}

/* The longest request fits the bound; a buffer too small gets nothing. */
static void test_format_bounds(void **state)
{
	struct fdm_ha_request r = { .op = FDM_HA_PROTECT, .priority = FDM__PRIORITY__PRIORITY_LOWEST,
				    .ds = 1 };
	char buf[FDM_FORWARD_REQUEST_MAX];

	(void)state;
	memset(r.name, '"', FDM_VM_NAME_MAX - 1);   /* each escaped: the worst case */
	r.name[FDM_VM_NAME_MAX - 1] = '\0';
	memset(cfg.datastores[1].name, '\\', FDM_ID_MAX - 1);
	cfg.datastores[1].name[FDM_ID_MAX - 1] = '\0';
	assert_true(fdm_ha_request_format(&cfg, &r, buf, sizeof(buf)) > 0);
	assert_int_equal(fdm_ha_request_format(&cfg, &r, buf, 20), 0);
	fdm_strlcpy(cfg.datastores[1].name, "ds2", FDM_ID_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_parse, setup),
		cmocka_unit_test_setup(test_forwarded_form_parses_back, setup),
		cmocka_unit_test_setup(test_format_bounds, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
