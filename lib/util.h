/* Small helpers every program shares: clocks, string copies that never overflow,
 * parsing of numbers with range checks, and opening an input file safely. No state. */
#ifndef FDM_UTIL_H
#define FDM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>

/* Milliseconds on CLOCK_MONOTONIC / CLOCK_BOOTTIME / wall clock. */
uint64_t fdm_now_mono_ms(void);
uint64_t fdm_now_mono_us(void);   /* for latency samples */
uint64_t fdm_now_boottime_ms(void);
uint64_t fdm_now_unix_ms(void);

/* strlcpy semantics: returns false when src did not fit (dst is still terminated). */
bool fdm_strlcpy(char *dst, const char *src, size_t size);

/* A string from the wire for a log line or fdmctl: cut to fit, every control
 * character replaced by '?' (a newline would forge a log line). src NULL: "". */
void fdm_printable_copy(char *dst, size_t size, const char *src);

/* Parse a whole decimal string into [min, max]. false on junk, overflow, range. */
bool fdm_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* Big-endian u32, the length prefix of every framed message (wire, shim socket). */
void fdm_put_be32(uint8_t *p, uint32_t v);
uint32_t fdm_get_be32(const uint8_t *p);

/* Open an existing file for reading that must be a regular file (a config or a
 * key). O_NONBLOCK, so that a FIFO or a device named by mistake cannot hang the
 * caller in open(); then fstat: anything but a regular file (FIFO, directory,
 * device, socket) is refused. Returns the fd (O_CLOEXEC) with *st filled, or -1
 * with *why set to a static text: strerror(errno), or "not a regular file". */
int fdm_open_regular(const char *path, struct stat *st, const char **why);

/* Read until EOF or len bytes (a read may return less than a file holds, or be
 * interrupted); -1 on an error. */
ssize_t fdm_read_full(int fd, void *buf, size_t len);

#endif
