/* libFuzzer target: the bytes a client writes to the hostd-shim socket. They
 * go through the frame reader as a stream, every whole frame is decoded as a
 * ShimRequest and its fields validated as the shim does (domain refs, the
 * deadline set); the same bytes are also tried as a state file. Build with
 * `make fuzz` (clang -fsanitize=fuzzer,address,undefined). */
#include <stddef.h>
#include <stdint.h>

#include "hostd-shim/deadlines.h"
#include "hostd-shim/frame.h"
#include "hostd-shim/statefile.h"

static const Fdm__DomainRef *request_ref(const Fdm__ShimRequest *r)
{
	switch (r->op_case) {
	case FDM__SHIM_REQUEST__OP_POWER_OFF: return r->power_off->domain;
	case FDM__SHIM_REQUEST__OP_SHUTDOWN: return r->shutdown->domain;
	case FDM__SHIM_REQUEST__OP_UNDEFINE: return r->undefine->domain;
	default: return NULL;
	}
}

static void check_request(const uint8_t *body, size_t len)
{
	Fdm__ShimRequest *r = fdm__shim_request__unpack(NULL, len, body);
	struct shim_deadlines d;
	struct shim_domref ref;
	unsigned changed;
	char why[512];

	if (r == NULL)
		return;
	if (request_ref(r) != NULL)
		shim_domref_from_pb(&ref, request_ref(r), why, sizeof(why));
	if (r->op_case == FDM__SHIM_REQUEST__OP_SET_DEADLINES) {
		shim_deadlines_init(&d);
		shim_deadlines_replace(&d, r->set_deadlines->deadlines,
				       r->set_deadlines->n_deadlines, 0, &changed, why, sizeof(why));
		shim_deadlines_next(&d);
		/* Again, later, over the first set: the in-force rules. */
		shim_deadlines_replace(&d, r->set_deadlines->deadlines,
				       r->set_deadlines->n_deadlines / 2, UINT64_MAX / 2,
				       &changed, why, sizeof(why));
		shim_deadlines_clear(&d, UINT64_MAX / 2);
		shim_deadlines_free(&d);
	}
	fdm__shim_request__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shim_frame_reader rd;
	struct shim_deadlines st;
	char why[256], boot[SHIM_BOOT_ID_LEN + 1];
	size_t off = 0;

	shim_frame_reader_init(&rd);
	while (off < size) {
		size_t used, len;
		enum shim_frame_status s = shim_frame_reader_feed(&rd, data + off, size - off, &used);

		off += used;
		if (s == SHIM_FRAME_OVERSIZED)
			break;
		if (s == SHIM_FRAME_READY) {
			const uint8_t *body = shim_frame_reader_body(&rd, &len);

			check_request(body, len);
			shim_frame_reader_next(&rd);
		} else if (used == 0) {
			break;
		}
	}
	shim_frame_reader_free(&rd);

	shim_deadlines_init(&st);
	shim_state_decode(data, size, &st, boot, why, sizeof(why));
	shim_deadlines_free(&st);
	return 0;
}
