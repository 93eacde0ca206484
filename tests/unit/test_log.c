/* lib/log.c: the journal fields of a line (a pure function: fields -> "KEY=value"
 * strings), and where a line goes: stderr with the time when stderr is not the
 * journal; through sd-journal when JOURNAL_STREAM names our stderr, or, with no
 * journald to take it, stderr with the "<N>" priority prefix. Where journald
 * runs, the line is looked up with `journalctl FDM_VM=...` (best effort: skipped
 * where there is none, as in CI without systemd as PID 1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/log.h"

static void test_all_fields_in_order(void **state)
{
	char out[FDM_LOG_FIELDS_MAX][FDM_LOG_FIELD_MAX];
	const struct fdm_log_fields f = {
		.event = "vm-restarted", .host = "host-1", .peer = "host-3", .vm = "db1",
		.datastore = "ds1", .has_term = true, .term = 7,
	};

	(void)state;
	assert_int_equal(fdm_log_fields_format(&f, out, FDM_LOG_FIELDS_MAX), 6);
	assert_string_equal(out[0], "FDM_EVENT=vm-restarted");
	assert_string_equal(out[1], "FDM_HOST=host-1");
	assert_string_equal(out[2], "FDM_PEER=host-3");
	assert_string_equal(out[3], "FDM_VM=db1");
	assert_string_equal(out[4], "FDM_DATASTORE=ds1");
	assert_string_equal(out[5], "FDM_TERM=7");
}

static void test_absent_fields_left_out(void **state)
{
	char out[FDM_LOG_FIELDS_MAX][FDM_LOG_FIELD_MAX];
	const struct fdm_log_fields f = { .event = "lease-acquired", .peer = "", .datastore = "ds2" };
	const struct fdm_log_fields term0 = { .has_term = true, .term = 0 };

	(void)state;
	assert_int_equal(fdm_log_fields_format(&f, out, FDM_LOG_FIELDS_MAX), 2);
	assert_string_equal(out[0], "FDM_EVENT=lease-acquired");
	assert_string_equal(out[1], "FDM_DATASTORE=ds2");
	assert_int_equal(fdm_log_fields_format(NULL, out, FDM_LOG_FIELDS_MAX), 0);
	/* Term 0 is a term (before any election); has_term says whether it is one. */
	assert_int_equal(fdm_log_fields_format(&term0, out, FDM_LOG_FIELDS_MAX), 1);
	assert_string_equal(out[0], "FDM_TERM=0");
}

static void test_bounded(void **state)
{
	char out[2][FDM_LOG_FIELD_MAX];
	char longname[400];
	const struct fdm_log_fields f = { .event = "e", .host = "h", .vm = longname };

	(void)state;
	memset(longname, 'v', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	/* At most max strings, each cut to fit. */
	assert_int_equal(fdm_log_fields_format(&f, out, 2), 2);
	assert_string_equal(out[1], "FDM_HOST=h");
	const struct fdm_log_fields g = { .vm = longname };
	assert_int_equal(fdm_log_fields_format(&g, out, 2), 1);
	assert_int_equal(strlen(out[0]), FDM_LOG_FIELD_MAX - 1);
	assert_memory_equal(out[0], "FDM_VM=vvv", 10);
}

/* Log one line with stderr sent to a temporary file; what the file got. */
static char *logged_to_stderr(const char *journal_stream, const char *vm, const char *text)
{
	char path[] = "/tmp/fdm-test-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	const struct fdm_log_fields f = { .event = "test", .vm = vm };
	static char got[4096];
	char js[64];
	struct stat st;
	FILE *in;
	size_t n;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	fstat(fd, &st);
	if (journal_stream != NULL && strcmp(journal_stream, "ours") == 0) {
		snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", js, 1);
	} else if (journal_stream != NULL) {
		setenv("JOURNAL_STREAM", journal_stream, 1);
	} else {
		unsetenv("JOURNAL_STREAM");
	}
	fdm_log_kv(FDM_LOG_INFO, &f, "%s", text);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	in = fdopen(fd, "r");
	rewind(in);
	n = fread(got, 1, sizeof(got) - 1, in);
	got[n] = '\0';
	fclose(in);
	unlink(path);
	return got;
}

static bool journald_here(void)
{
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

static void test_plain_line_without_journal(void **state)
{
	(void)state;
	char *got = logged_to_stderr(NULL, "db1", "plain line");

	assert_non_null(strstr(got, ": plain line\n"));
	assert_null(strstr(got, "<6>"));
	/* JOURNAL_STREAM inherited, but stderr was redirected since: not the journal. */
	got = logged_to_stderr("1:1", "db1", "redirected line");
	assert_non_null(strstr(got, ": redirected line\n"));
	assert_null(strstr(got, "<6>"));
}

static void test_journal_stream(void **state)
{
	char vm[64], cmd[160], line[256];
	char *got;
	FILE *p;
	bool found = false;

	(void)state;
	snprintf(vm, sizeof(vm), "fdm-test-%d", (int)getpid());
	got = logged_to_stderr("ours", vm, "journal line");
	if (!journald_here()) {
		/* sd_journal_sendv fails: the line is not lost, it goes to stderr as
		 * journald would have read it from the stream. */
		assert_string_equal(got, "<6>journal line\n");
		printf("no journald here (/run/systemd/journal/socket): the journal lookup "
		       "is skipped\n");
		return;
	}
	assert_null(strstr(got, "journal line"));   /* went through sd-journal */
	snprintf(cmd, sizeof(cmd), "timeout 10 journalctl --no-pager -o cat FDM_VM=%s 2>/dev/null",
		 vm);
	for (int tries = 0; tries < 20 && !found; tries++) {
		p = popen(cmd, "r");
		while (p != NULL && fgets(line, sizeof(line), p) != NULL)
			found |= strstr(line, "journal line") != NULL;
		if (p != NULL)
			pclose(p);
		if (!found)
			usleep(250000);
	}
	if (!found)
		printf("journald takes entries but journalctl does not show them here: skipped\n");
	else
		printf("journalctl FDM_VM=%s shows the line\n", vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_fields_in_order),
		cmocka_unit_test(test_absent_fields_left_out),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_plain_line_without_journal),
		cmocka_unit_test(test_journal_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
