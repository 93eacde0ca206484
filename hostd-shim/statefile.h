/* The shim's state file: the protected set and the unreported fenced list.
 *
 * Named after the socket, <socket>.state (/run/fdm/hostd.sock.state in
 * production), so two shims whose sockets share a directory never share it;
 * <socket>.lock beside it is flock()ed by the running shim, so a second shim
 * on the same socket and state refuses to start. It lives in /run on purpose:
 * it survives a restart of the shim, not a reboot.
 *
 * Format, version 2, all integers big-endian:
 *   "FDMS" | u32 version | u32 length L | u32 CRC32C of boot id + body |
 *   boot id (36 bytes) | ShimState (L bytes)
 * The boot id (/proc/sys/kernel/random/boot_id) names the boot that wrote the
 * file: CLOCK_BOOTTIME times of another boot mean nothing here, so such a file
 * is dropped at load (and logged). Version 1 (no boot id, CRC of the body
 * only) was written by earlier shims at <dirname(socket)>/hostd-shim.state;
 * it is read once and migrated, so an upgrade forgets no deadline.
 * Saved atomically: temp file, fsync, rename, fsync of the directory.
 *
 * Not kept: the flags of each deadline (power-off running, seen off,
 * released). A restarted shim powers off again every domain whose deadline has
 * passed (nothing to do when it is off), and keeps a deadline fdm released
 * until fdm sets or clears the deadlines again. */
#ifndef FDM_SHIM_STATEFILE_H
#define FDM_SHIM_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostd-shim/deadlines.h"

#define SHIM_STATE_MAGIC      "FDMS"
#define SHIM_STATE_VERSION    2
#define SHIM_STATE_VERSION_1  1
#define SHIM_BOOT_ID_LEN      36
#define SHIM_STATE_HEADER_V1  16
#define SHIM_STATE_HEADER     (16 + SHIM_BOOT_ID_LEN)
#define SHIM_STATE_MAX        (8u * 1024u * 1024u)
#define SHIM_STATE_LEGACY     "hostd-shim.state"   /* version 1's name, in the socket's dir */
#define SHIM_BOOT_ID_PATH     "/proc/sys/kernel/random/boot_id"

/* <socket>.state, <socket>.lock, <dirname(socket)>/hostd-shim.state into out.
 * false if it does not fit. */
bool shim_state_path(const char *socket_path, char *out, size_t outlen);
bool shim_state_lock_path(const char *socket_path, char *out, size_t outlen);
bool shim_state_legacy_path(const char *socket_path, char *out, size_t outlen);

/* This boot's id from path (SHIM_BOOT_ID_PATH) into out (36 characters + NUL).
 * 0, or -1 with "PATH: why". */
int shim_boot_id(const char *path, char out[SHIM_BOOT_ID_LEN + 1], char *err, size_t errlen);

/* Encode d, written in boot boot_id, into a fresh buffer. NULL on no memory. */
uint8_t *shim_state_encode(const struct shim_deadlines *d, const char *boot_id, size_t *len);

/* Decode buf into d (which must be empty) and the writer's boot id into
 * file_boot (empty for a version 1 file). 0, or -1 with the reason in why; d
 * is left empty on error. */
int shim_state_decode(const uint8_t *buf, size_t len, struct shim_deadlines *d,
		      char file_boot[SHIM_BOOT_ID_LEN + 1], char *why, size_t whylen);

/* Write atomically. 0, or -1 with "PATH: why". */
int shim_state_save(const char *path, const struct shim_deadlines *d, const char *boot_id,
		    char *err, size_t errlen);

enum shim_state_load_result {
	SHIM_STATE_CORRUPT = -1,    /* unreadable or corrupt: "PATH: why" */
	SHIM_STATE_NONE = 0,        /* no file: empty set */
	SHIM_STATE_LOADED = 1,
	SHIM_STATE_OTHER_BOOT = 2,  /* written in another boot: dropped, "PATH: why" */
};

/* Load path into d (empty on anything but SHIM_STATE_LOADED). A version 1 file
 * carries no boot id and is taken as this boot's. */
enum shim_state_load_result shim_state_load(const char *path, const char *boot_id,
					    struct shim_deadlines *d, char *err, size_t errlen);

/* Upgrade from version 1's shared name: when path does not exist and legacy
 * does, load legacy, save it as path and remove legacy. 1 when migrated (note
 * says what), 0 when there was nothing to do, -1 on error (err; a corrupt
 * legacy file is renamed to legacy.corrupt). */
int shim_state_migrate(const char *legacy, const char *path, const char *boot_id,
		       char *note, size_t notelen);

/* Take the exclusive lock on path (created if needed) and write our pid in it.
 * The fd to keep open while running (err empty, or a warning that the pid
 * could not be written), or -1 with err ("held by another hostd-shim (pid N)"
 * when another shim holds it). */
int shim_state_lock(const char *path, char *err, size_t errlen);

#endif
