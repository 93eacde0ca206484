/* libFuzzer target: the UDP datagram decoder (fdm/wire.c) on hostile bytes.
 * The MAC is checked last, so framing, protobuf and cluster-id parsing all see
 * the fuzzer's input; the seed corpus has validly signed datagrams. */
#include <stdint.h>
#include <string.h>

#include "fdm/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fdm_key key;
	Fdm__Packet *p = NULL;

	memset(key.bytes, 0x5a, 32);
	key.len = 32;
	if (fdm_wire_decode(data, size, "fuzz", &key, &p) == FDM_DROP_NONE)
		fdm__packet__free_unpacked(p, NULL);
	return 0;
}
