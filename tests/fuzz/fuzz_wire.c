/* libFuzzer target: the UDP datagram decoder (fdm/wire.c) on hostile bytes.
 * The MAC is checked before any decoding, so the input goes in twice: as it is
 * (framing, the cluster id read before the MAC, the MAC itself), and framed and
 * signed with the key as a packet body, so that the protobuf decoding and the
 * checks after the MAC see the fuzzer's bytes too (a peer with the key may still
 * be buggy). The seed corpus has signed datagrams and raw packet bodies. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fdm/wire.h"
#include "lib/util.h"

static void decode(const uint8_t *buf, size_t len, const struct fdm_key *key)
{
	Fdm__Packet *p = NULL;

	if (fdm_wire_decode(buf, len, "fuzz", key, &p) == FDM_DROP_NONE)
		fdm__packet__free_unpacked(p, NULL);
	else if (p != NULL)
		abort();   /* a dropped datagram leaves nothing behind */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fdm_key key;
	uint8_t *signed_buf;
	unsigned int maclen = FDM_WIRE_MAC;
	size_t total = FDM_WIRE_HEADER + size + FDM_WIRE_MAC;

	memset(key.bytes, 0x5a, 32);
	key.len = 32;
	decode(data, size, &key);
	if (total > FDM_WIRE_MAX)
		return 0;
	signed_buf = malloc(total);
	memcpy(signed_buf, FDM_WIRE_MAGIC, 4);
	fdm_put_be32(signed_buf + 4, (uint32_t)size);
	memcpy(signed_buf + FDM_WIRE_HEADER, data, size);
	HMAC(EVP_sha256(), key.bytes, (int)key.len, signed_buf, FDM_WIRE_HEADER + size,
	     signed_buf + FDM_WIRE_HEADER + size, &maclen);
	decode(signed_buf, total, &key);
	free(signed_buf);
	return 0;
}
