/* The isolation probe (fdm/isolation_probe.c) on loopback only: its checksum,
 * a round answered by 127.0.0.1 reported as answered, and rounds with nothing
 * to probe reported as not answered, each within a bounded wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "fdm/isolation_probe.h"
#include "lib/util.h"

struct seen {
	unsigned answered, silent;
	unsigned bad_start;           /* a round said to begin in the future, or long ago */
};

/* started: when the round began, which the core compares with the moment it
 * stopped renewing: never later than now, never more than two rounds ago. */
static void on_probe(void *user, bool answered, uint64_t started)
{
	struct seen *s = user;
	uint64_t now = fdm_now_boottime_ms();

	if (started > now || now - started > 2000)
		s->bad_start++;
	if (answered)
		s->answered++;
	else
		s->silent++;
}

/* Run the loop until pred holds or 3 s pass. */
static void run_until(sd_event *ev, const struct seen *s, bool want_answer)
{
	for (int i = 0; i < 300; i++) {
		if (want_answer ? s->answered > 0 : s->silent > 1)
			return;
		sd_event_run(ev, 10000);
	}
}

static void test_checksum(void **state)
{
	/* RFC 1071's example: 0001 f203 f4f5 f6f7 sums (end-around) to ddf2. */
	static const uint8_t data[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	static const uint8_t odd[] = { 0x01 };

	(void)state;
	assert_int_equal(fdm_iso_checksum(data, sizeof(data)), (uint16_t)~0xddf2);
	assert_int_equal(fdm_iso_checksum(odd, 1), (uint16_t)~0x0100);
}

static void test_loopback_answers(void **state)
{
	struct fdm_config cfg;
	struct fdm_iso_probe *p;
	struct seen s = { 0, 0, 0 };
	sd_event *ev;
	char err[256];
	int fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);

	(void)state;
	if (fd < 0)
		fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd < 0)
		skip();                /* neither a ping socket nor root here */
	close(fd);
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.isolation_addresses[0], "127.0.0.1");
	cfg.n_isolation_addresses = 1;
	assert_int_equal(sd_event_new(&ev), 0);
	assert_int_equal(fdm_iso_probe_open(ev, &cfg, 200, on_probe, &s, &p, err, sizeof(err)), 0);
	run_until(ev, &s, true);
	assert_true(s.answered > 0);
	assert_int_equal(s.bad_start, 0);
	fdm_iso_probe_close(p);
	sd_event_unref(ev);
}

static void test_nothing_to_probe_is_silence(void **state)
{
	struct fdm_config cfg;
	struct fdm_iso_probe *p;
	struct seen s = { 0, 0, 0 };
	sd_event *ev;
	char err[256];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.isolation_addresses[0], "not-an-address");   /* names are refused */
	cfg.n_isolation_addresses = 1;
	assert_int_equal(sd_event_new(&ev), 0);
	assert_int_equal(fdm_iso_probe_open(ev, &cfg, 100, on_probe, &s, &p, err, sizeof(err)), 0);
	run_until(ev, &s, false);
	assert_true(s.silent > 1);
	assert_int_equal(s.answered, 0);
	assert_int_equal(s.bad_start, 0);
	fdm_iso_probe_close(p);
	sd_event_unref(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_loopback_answers),
		cmocka_unit_test(test_nothing_to_probe_is_silence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
