/* Small helpers every program shares: clocks, string copies that never overflow,
 * and parsing of numbers with range checks. No state. */
#ifndef FDM_UTIL_H
#define FDM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC / CLOCK_BOOTTIME / wall clock. */
uint64_t fdm_now_mono_ms(void);
uint64_t fdm_now_boottime_ms(void);
uint64_t fdm_now_unix_ms(void);

/* strlcpy semantics: returns false when src did not fit (dst is still terminated). */
bool fdm_strlcpy(char *dst, const char *src, size_t size);

/* Parse a whole decimal string into [min, max]. false on junk, overflow, range. */
bool fdm_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* Big-endian u32, the length prefix of every framed message (wire, shim socket). */
void fdm_put_be32(uint8_t *p, uint32_t v);
uint32_t fdm_get_be32(const uint8_t *p);

#endif
