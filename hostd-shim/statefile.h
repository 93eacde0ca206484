/* The shim's state file: the protected set and the unreported fenced list, kept
 * beside the socket (<dirname(socket)>/hostd-shim.state, so /run/fdm/ in
 * production: it survives a restart of the shim, not a reboot, which is right
 * because CLOCK_BOOTTIME deadlines mean nothing after a reboot either).
 *   "FDMS" | u32 version | u32 length L | u32 CRC32C of the body | ShimState (L bytes)
 * all big-endian. Saved atomically: temp file, fsync, rename, fsync of the dir. */
#ifndef FDM_SHIM_STATEFILE_H
#define FDM_SHIM_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "hostd-shim/deadlines.h"

#define SHIM_STATE_MAGIC     "FDMS"
#define SHIM_STATE_VERSION   1
#define SHIM_STATE_HEADER    16
#define SHIM_STATE_MAX       (8u * 1024u * 1024u)
#define SHIM_STATE_BASENAME  "hostd-shim.state"

/* <dirname(socket_path)>/hostd-shim.state into out. false if it does not fit. */
bool shim_state_path(const char *socket_path, char *out, size_t outlen);

/* Encode d into a fresh buffer. NULL on no memory. */
uint8_t *shim_state_encode(const struct shim_deadlines *d, size_t *len);

/* Decode buf into d (which must be empty). 0, or -1 with the reason in why;
 * d is left empty on error. */
int shim_state_decode(const uint8_t *buf, size_t len, struct shim_deadlines *d,
		      char *why, size_t whylen);

/* Write atomically. 0, or -1 with "PATH: why". */
int shim_state_save(const char *path, const struct shim_deadlines *d,
		    char *err, size_t errlen);

/* 1: loaded; 0: no file (empty set); -1: unreadable or corrupt ("PATH: why"),
 * d left empty. */
int shim_state_load(const char *path, struct shim_deadlines *d, char *err, size_t errlen);

#endif
