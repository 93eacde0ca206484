/* Log lines for the daemons: plain text on stderr, one line per event, so that
 * `journalctl -u fdm` and a test's log file read the same. Settings come from the
 * environment at each call: no state to initialise or to get wrong. */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *level_tag(enum fdm_log_level level)
{
	switch (level) {
	case FDM_LOG_ERR: return "error: ";
	case FDM_LOG_WARNING: return "warning: ";
	default: return "";
	}
}

void fdm_log(enum fdm_log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	const char *debug = getenv("FDM_DEBUG");

	if (level == FDM_LOG_DEBUG && (debug == NULL || strcmp(debug, "1") != 0))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (getenv("JOURNAL_STREAM") != NULL) {
		fprintf(stderr, "<%d>%s\n", level, line);
		return;
	}
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		(long)tv.tv_usec / 1000, program_invocation_short_name, level_tag(level), line);
}
