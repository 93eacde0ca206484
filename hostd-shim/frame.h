/* Framing of the hostd-shim unix socket, shared by the shim and its clients:
 *   u32 big-endian length L | L bytes of protobuf (ShimRequest or ShimMessage)
 * with L <= SHIM_FRAME_MAX. A reader accumulates bytes into whole frames and
 * reports an oversized length before reading its body; an output queue holds
 * encoded frames not yet written, with a byte cap so a peer that never reads
 * cannot grow it without bound. */
#ifndef FDM_SHIM_FRAME_H
#define FDM_SHIM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/fdm.pb-c.h"

#define SHIM_FRAME_HEADER  4
#define SHIM_FRAME_MAX     (1024u * 1024u)

enum shim_frame_status {
	SHIM_FRAME_MORE,       /* no whole frame yet: feed more bytes */
	SHIM_FRAME_READY,      /* a whole frame: shim_frame_reader_body() */
	SHIM_FRAME_OVERSIZED,  /* its length prefix exceeds SHIM_FRAME_MAX */
};

/* Reassembles frames from a byte stream. The body buffer grows with what
 * actually arrives, so a huge length prefix alone costs nothing. */
struct shim_frame_reader {
	uint8_t header[SHIM_FRAME_HEADER];
	size_t header_len;
	uint32_t body_len;         /* valid once header_len == SHIM_FRAME_HEADER */
	uint8_t *body;
	size_t body_have;
	size_t body_cap;
};

void shim_frame_reader_init(struct shim_frame_reader *r);
void shim_frame_reader_free(struct shim_frame_reader *r);

/* Consume up to len bytes from data; *used says how many were taken. Stops at
 * the end of the first whole frame (READY) or at an oversized header. */
enum shim_frame_status shim_frame_reader_feed(struct shim_frame_reader *r,
					      const uint8_t *data, size_t len,
					      size_t *used);

/* The body of the READY frame; valid until shim_frame_reader_next(). */
const uint8_t *shim_frame_reader_body(const struct shim_frame_reader *r, size_t *len);

/* Forget the READY frame and start on the next one. */
void shim_frame_reader_next(struct shim_frame_reader *r);

/* True when some bytes of a frame have arrived but not the whole frame. */
bool shim_frame_reader_partial(const struct shim_frame_reader *r);

/* One encoded frame waiting to be written. */
struct shim_frame_buf {
	struct shim_frame_buf *next;
	size_t len;
	size_t off;                /* bytes already written */
	uint8_t data[];
};

struct shim_outq {
	struct shim_frame_buf *head, *tail;
	size_t bytes;              /* unwritten bytes queued */
	size_t cap;                /* shim_outq_push refuses past this */
};

void shim_outq_init(struct shim_outq *q, size_t cap);
void shim_outq_free(struct shim_outq *q);
bool shim_outq_empty(const struct shim_outq *q);

/* Queue a frame built from msg (packed with its descriptor's pack function).
 * Returns 0, -EMSGSIZE when the message exceeds SHIM_FRAME_MAX, -ENOBUFS when
 * the queue would pass its cap, -ENOMEM. */
int shim_outq_push_message(struct shim_outq *q, const ProtobufCMessage *msg);

/* Write as much as fd takes without blocking. Returns 0 (drained or EAGAIN) or
 * -errno of a failed write (the peer is gone). */
int shim_outq_flush(struct shim_outq *q, int fd);

/* Encode msg as one frame into a fresh buffer (length prefix included): for
 * tests and callers that write synchronously. NULL if too large or no memory. */
uint8_t *shim_frame_encode(const ProtobufCMessage *msg, size_t *len);

#endif
