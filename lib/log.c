/* Log lines for the daemons, one line per event, so that `journalctl -u fdm` and a
 * test's log file read the same. Under systemd, when stderr is the journal stream
 * systemd gave us (JOURNAL_STREAM holds its device:inode), each line is sent with
 * sd_journal_sendv instead, so that it can carry fields (`journalctl FDM_VM=db1`);
 * when journald's socket is not there or the send fails, the line goes to the
 * stream with its sd-daemon "<N>" priority prefix, without fields. Settings come from the environment at each call: no state to
 * initialise or to get wrong. */
#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

/* Where sd_journal_sendv sends (systemd-journald.service(8)). */
#define FDM_JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *level_tag(enum fdm_log_level level)
{
	switch (level) {
	case FDM_LOG_ERR: return "error: ";
	case FDM_LOG_WARNING: return "warning: ";
	default: return "";
	}
}

static size_t add_field(char out[][FDM_LOG_FIELD_MAX], size_t n, size_t max, const char *key,
			const char *value)
{
	if (value == NULL || value[0] == '\0' || n >= max)
		return n;
	snprintf(out[n], FDM_LOG_FIELD_MAX, "%s=%s", key, value);
	return n + 1;
}

size_t fdm_log_fields_format(const struct fdm_log_fields *f, char out[][FDM_LOG_FIELD_MAX],
			     size_t max)
{
	char term[24];
	size_t n = 0;

	if (f == NULL)
		return 0;
	n = add_field(out, n, max, "FDM_EVENT", f->event);
	n = add_field(out, n, max, "FDM_HOST", f->host);
	n = add_field(out, n, max, "FDM_PEER", f->peer);
	n = add_field(out, n, max, "FDM_VM", f->vm);
	n = add_field(out, n, max, "FDM_DATASTORE", f->datastore);
	if (f->has_term) {
		snprintf(term, sizeof(term), "%" PRIu64, f->term);
		n = add_field(out, n, max, "FDM_TERM", term);
	}
	return n;
}

/* Is our stderr the journal stream systemd connected (not a file it was
 * redirected to after JOURNAL_STREAM was inherited)? systemd.exec(5). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* One entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the fields. */
static int journal_send(enum fdm_log_level level, const struct fdm_log_fields *f,
			const char *line)
{
	char fields[FDM_LOG_FIELDS_MAX][FDM_LOG_FIELD_MAX];
	char message[1100], priority[16], ident[80];
	struct iovec iov[3 + FDM_LOG_FIELDS_MAX];
	size_t n = fdm_log_fields_format(f, fields, FDM_LOG_FIELDS_MAX);
	size_t k = 0;

	snprintf(message, sizeof(message), "MESSAGE=%s", line);
	snprintf(priority, sizeof(priority), "PRIORITY=%d", (int)level);
	snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
	iov[k++] = (struct iovec){ .iov_base = message, .iov_len = strlen(message) };
	iov[k++] = (struct iovec){ .iov_base = priority, .iov_len = strlen(priority) };
	iov[k++] = (struct iovec){ .iov_base = ident, .iov_len = strlen(ident) };
	for (size_t i = 0; i < n; i++)
		iov[k++] = (struct iovec){ .iov_base = fields[i], .iov_len = strlen(fields[i]) };
	return sd_journal_sendv(iov, (int)k);
}

static void log_line(enum fdm_log_level level, const struct fdm_log_fields *f,
		     const char *fmt, va_list ap)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	const char *debug = getenv("FDM_DEBUG");

	if (level == FDM_LOG_DEBUG && (debug == NULL || strcmp(debug, "1") != 0))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* sd_journal_sendv drops the line and says 0 when journald's socket is
	 * missing (a container handed only the stream): look first. */
	if (stderr_is_journal()) {
		if (access(FDM_JOURNAL_SOCKET, W_OK) == 0 && journal_send(level, f, line) >= 0)
			return;
		fprintf(stderr, "<%d>%s\n", level, line);
		return;
	}
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		(long)tv.tv_usec / 1000, program_invocation_short_name, level_tag(level), line);
}

void fdm_log(enum fdm_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(level, NULL, fmt, ap);
	va_end(ap);
}

void fdm_log_kv(enum fdm_log_level level, const struct fdm_log_fields *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(level, f, fmt, ap);
	va_end(ap);
}
