/* The authenticated datagram of UDP 8182:
 *   "FDM1" | u32 big-endian length L | Packet (protobuf, L bytes) | HMAC-SHA256
 * The HMAC (cluster key) covers everything before it. Decoding checks, in order:
 * size and magic, the cluster id where every encoder puts it (the packet's first
 * field, compared as bytes), the MAC, and only then the protobuf: an unsigned
 * datagram costs one HMAC, never a decode. The caller then checks the sender,
 * its address and the replay table. Each failure has its own drop reason. */
#ifndef FDM_WIRE_H
#define FDM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/fdm.pb-c.h"

#define FDM_WIRE_MAGIC      "FDM1"
#define FDM_WIRE_HEADER     8
#define FDM_WIRE_MAC        32
#define FDM_WIRE_MAX        65000  /* under the UDP limit; a 64-host heartbeat is ~4 KiB */

enum fdm_drop {
	FDM_DROP_NONE = 0,
	FDM_DROP_MALFORMED,        /* too short/long, bad magic, length, protobuf */
	FDM_DROP_FOREIGN_CLUSTER,  /* decodes, but names another cluster */
	FDM_DROP_BAD_MAC,          /* forged, altered, or another key */
	FDM_DROP_REPLAY,           /* (incarnation, seq) not newer than the last accepted */
	FDM_DROP_UNKNOWN_SENDER,   /* not in [peers], or claims to be us */
	FDM_DROP_TIMING_MISMATCH,  /* its [timing] differs from ours (the core decides) */
	FDM_DROP_WRONG_ADDRESS,    /* authentic, but not from the sender's configured address */
	FDM_DROP_KERNEL,           /* the socket's queue overflowed (SO_RXQ_OVFL) */
	FDM_DROP_COUNT
};

/* JSON names for `fdmctl --json status` "dropped". */
const char *fdm_drop_name(enum fdm_drop d);

struct fdm_key {
	uint8_t bytes[64];
	size_t len;
};

/* Encode p into buf. Returns the datagram length, or 0 if it does not fit. */
size_t fdm_wire_encode(const Fdm__Packet *p, const struct fdm_key *key,
		       uint8_t *buf, size_t buflen);

/* Decode and authenticate. On FDM_DROP_NONE *out holds the packet, to be freed
 * with fdm__packet__free_unpacked(*out, NULL). */
enum fdm_drop fdm_wire_decode(const uint8_t *buf, size_t len, const char *cluster,
			      const struct fdm_key *key, Fdm__Packet **out);

/* Replay protection per sender: accept only (incarnation, seq) strictly newer
 * than the last accepted one. Reordered packets are dropped too: every message
 * supersedes the ones before it. */
struct fdm_replay {
	uint64_t incarnation;
	uint64_t seq;
};

bool fdm_replay_accept(struct fdm_replay *last, uint64_t incarnation, uint64_t seq);

#endif
