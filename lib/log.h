/* One line per event on stderr. Under systemd (JOURNAL_STREAM set) journald adds
 * the time, and reads the priority from an sd-daemon "<N>" prefix; elsewhere each
 * line starts with the local time and the program name. FDM_DEBUG=1 in the
 * environment shows debug lines. */
#ifndef FDM_LOG_H
#define FDM_LOG_H

enum fdm_log_level { FDM_LOG_ERR = 3, FDM_LOG_WARNING = 4, FDM_LOG_INFO = 6, FDM_LOG_DEBUG = 7 };

void fdm_log(enum fdm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define fdm_err(...)   fdm_log(FDM_LOG_ERR, __VA_ARGS__)
#define fdm_warn(...)  fdm_log(FDM_LOG_WARNING, __VA_ARGS__)
#define fdm_info(...)  fdm_log(FDM_LOG_INFO, __VA_ARGS__)
#define fdm_debug(...) fdm_log(FDM_LOG_DEBUG, __VA_ARGS__)

#endif
