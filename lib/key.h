/* The cluster key (key_file, written by `fdmctl keygen`): the HMAC key of every
 * datagram and datastore record. Read whole or not at all. */
#ifndef FDM_KEY_H
#define FDM_KEY_H

#include <stddef.h>
#include <stdint.h>

#define FDM_KEY_MIN 32
#define FDM_KEY_MAX 64

/* Read the key file: a regular file, mode 0600 or stricter (no group or other
 * bits, as sshd wants of a private key), of FDM_KEY_MIN to FDM_KEY_MAX bytes; a
 * longer file is refused, never cut. Returns the length or -1 with a
 * "FILE: why" message in err. */
int fdm_key_load(const char *path, uint8_t key[FDM_KEY_MAX], char *err, size_t errlen);

#endif
