/* Length-prefixed protobuf frames on a stream socket (format in frame.h).
 * The reader never trusts a length before checking it against SHIM_FRAME_MAX,
 * and the output queue refuses to grow past its cap. */
#include "hostd-shim/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/util.h"

void shim_frame_reader_init(struct shim_frame_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void shim_frame_reader_free(struct shim_frame_reader *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* Grow the body buffer to hold `need` bytes, doubling from 4 KiB but never
 * past the announced length: memory follows the bytes that really came. */
static bool reserve_body(struct shim_frame_reader *r, size_t need)
{
	size_t cap = r->body_cap ? r->body_cap : 4096;
	uint8_t *nb;

	if (need <= r->body_cap)
		return true;
	while (cap < need)
		cap *= 2;
	if (cap > r->body_len)
		cap = r->body_len;
	nb = realloc(r->body, cap);
	if (nb == NULL)
		return false;
	r->body = nb;
	r->body_cap = cap;
	return true;
}

enum shim_frame_status shim_frame_reader_feed(struct shim_frame_reader *r,
					      const uint8_t *data, size_t len,
					      size_t *used)
{
	size_t n;

	*used = 0;
	if (r->header_len < SHIM_FRAME_HEADER) {
		n = SHIM_FRAME_HEADER - r->header_len;
		if (n > len)
			n = len;
		memcpy(r->header + r->header_len, data, n);
		r->header_len += n;
		*used += n;
		if (r->header_len < SHIM_FRAME_HEADER)
			return SHIM_FRAME_MORE;
		r->body_len = fdm_get_be32(r->header);
		if (r->body_len > SHIM_FRAME_MAX)
			return SHIM_FRAME_OVERSIZED;
	}
	if (r->body_len > SHIM_FRAME_MAX)
		return SHIM_FRAME_OVERSIZED;
	n = r->body_len - r->body_have;
	if (n > len - *used)
		n = len - *used;
	if (n > 0) {
		if (!reserve_body(r, r->body_have + n))
			return SHIM_FRAME_OVERSIZED;  /* no memory: treat as too big for us */
		memcpy(r->body + r->body_have, data + *used, n);
		r->body_have += n;
		*used += n;
	}
	return r->body_have == r->body_len ? SHIM_FRAME_READY : SHIM_FRAME_MORE;
}

const uint8_t *shim_frame_reader_body(const struct shim_frame_reader *r, size_t *len)
{
	*len = r->body_have;
	return r->body;
}

void shim_frame_reader_next(struct shim_frame_reader *r)
{
	r->header_len = 0;
	r->body_len = 0;
	r->body_have = 0;
	/* Keep a small buffer for the next frame; give a big one back. */
	if (r->body_cap > 65536) {
		free(r->body);
		r->body = NULL;
		r->body_cap = 0;
	}
}

bool shim_frame_reader_partial(const struct shim_frame_reader *r)
{
	return r->header_len > 0;
}

void shim_outq_init(struct shim_outq *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->cap = cap;
}

void shim_outq_free(struct shim_outq *q)
{
	struct shim_frame_buf *b = q->head, *next;

	for (; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	q->head = q->tail = NULL;
	q->bytes = 0;
}

bool shim_outq_empty(const struct shim_outq *q)
{
	return q->head == NULL;
}

static struct shim_frame_buf *frame_build(const ProtobufCMessage *msg)
{
	size_t body = protobuf_c_message_get_packed_size(msg);
	struct shim_frame_buf *b;

	if (body > SHIM_FRAME_MAX)
		return NULL;
	b = malloc(sizeof(*b) + SHIM_FRAME_HEADER + body);
	if (b == NULL)
		return NULL;
	b->next = NULL;
	b->len = SHIM_FRAME_HEADER + body;
	b->off = 0;
	fdm_put_be32(b->data, (uint32_t)body);
	protobuf_c_message_pack(msg, b->data + SHIM_FRAME_HEADER);
	return b;
}

int shim_outq_push_message(struct shim_outq *q, const ProtobufCMessage *msg)
{
	size_t body = protobuf_c_message_get_packed_size(msg);
	struct shim_frame_buf *b;

	if (body > SHIM_FRAME_MAX)
		return -EMSGSIZE;
	if (q->bytes + SHIM_FRAME_HEADER + body > q->cap)
		return -ENOBUFS;
	b = frame_build(msg);
	if (b == NULL)
		return -ENOMEM;
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->bytes += b->len;
	return 0;
}

int shim_outq_flush(struct shim_outq *q, int fd)
{
	while (q->head != NULL) {
		struct shim_frame_buf *b = q->head;
		ssize_t n = send(fd, b->data + b->off, b->len - b->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b->off += (size_t)n;
		q->bytes -= (size_t)n;
		if (b->off < b->len)
			continue;
		q->head = b->next;
		if (q->head == NULL)
			q->tail = NULL;
		free(b);
	}
	return 0;
}

uint8_t *shim_frame_encode(const ProtobufCMessage *msg, size_t *len)
{
	struct shim_frame_buf *b = frame_build(msg);
	uint8_t *out;

	if (b == NULL)
		return NULL;
	out = malloc(b->len);
	if (out != NULL) {
		memcpy(out, b->data, b->len);
		*len = b->len;
	}
	free(b);
	return out;
}
