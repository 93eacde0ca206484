/* lib/log.c for the fuzz targets: every line is still formatted (a format
 * fed with hostile strings is part of what is fuzzed), then dropped, so that
 * millions of runs do not fill the run's log. FDM_FUZZ_LOG=1 prints them. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void fdm_log(enum fdm_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (getenv("FDM_FUZZ_LOG") != NULL)
		fprintf(stderr, "<%d>%s\n", (int)level, line);
}
