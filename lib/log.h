/* One line per event. Under systemd with stderr connected to the journal
 * (JOURNAL_STREAM names our stderr) each line goes through sd-journal with its
 * priority and, for fdm_log_kv, structured fields (FDM_EVENT, FDM_HOST, FDM_PEER,
 * FDM_VM, FDM_DATASTORE, FDM_TERM: fdm(8)); elsewhere each line goes to stderr,
 * starting with the local time and the program name. FDM_DEBUG=1 in the
 * environment shows debug lines. */
#ifndef FDM_LOG_H
#define FDM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fdm_log_level { FDM_LOG_ERR = 3, FDM_LOG_WARNING = 4, FDM_LOG_INFO = 6, FDM_LOG_DEBUG = 7 };

/* What a line is about. NULL or "" leaves a field out; term only with has_term. */
struct fdm_log_fields {
	const char *event;      /* FDM_EVENT: the kind of event ("lease-acquired") */
	const char *host;       /* FDM_HOST: the host that logs (its [host] id) */
	const char *peer;       /* FDM_PEER: the other host the line is about */
	const char *vm;         /* FDM_VM */
	const char *datastore;  /* FDM_DATASTORE */
	bool has_term;
	uint64_t term;          /* FDM_TERM */
};

#define FDM_LOG_FIELDS_MAX 6     /* one per member of struct fdm_log_fields */
#define FDM_LOG_FIELD_MAX  160   /* "FDM_DATASTORE=" and a value, cut to fit */

/* The journal fields of f as "KEY=value" strings, in the order of the struct;
 * returns how many were written (at most max). Pure. */
size_t fdm_log_fields_format(const struct fdm_log_fields *f, char out[][FDM_LOG_FIELD_MAX],
			     size_t max);

void fdm_log(enum fdm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same line, with fields for the journal (f may be NULL). */
void fdm_log_kv(enum fdm_log_level level, const struct fdm_log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define fdm_err(...)   fdm_log(FDM_LOG_ERR, __VA_ARGS__)
#define fdm_warn(...)  fdm_log(FDM_LOG_WARNING, __VA_ARGS__)
#define fdm_info(...)  fdm_log(FDM_LOG_INFO, __VA_ARGS__)
#define fdm_debug(...) fdm_log(FDM_LOG_DEBUG, __VA_ARGS__)

#endif
