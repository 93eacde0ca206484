/* Encoding and authenticated, length-checked decoding of cluster datagrams
 * (format in wire.h). Everything here treats its input as hostile. */
#include "fdm/wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "lib/util.h"

static const char *const drop_names[FDM_DROP_COUNT] = {
	[FDM_DROP_NONE] = "none",
	[FDM_DROP_MALFORMED] = "malformed",
	[FDM_DROP_FOREIGN_CLUSTER] = "foreign_cluster",
	[FDM_DROP_BAD_MAC] = "bad_mac",
	[FDM_DROP_REPLAY] = "replay",
	[FDM_DROP_UNKNOWN_SENDER] = "unknown_sender",
};

const char *fdm_drop_name(enum fdm_drop d)
{
	return (unsigned)d < FDM_DROP_COUNT ? drop_names[d] : "?";
}

static void mac(const struct fdm_key *key, const uint8_t *data, size_t len,
		uint8_t out[FDM_WIRE_MAC])
{
	unsigned int outlen = FDM_WIRE_MAC;

	HMAC(EVP_sha256(), key->bytes, (int)key->len, data, len, out, &outlen);
}

size_t fdm_wire_encode(const Fdm__Packet *p, const struct fdm_key *key,
		       uint8_t *buf, size_t buflen)
{
	size_t body = fdm__packet__get_packed_size(p);
	size_t total = FDM_WIRE_HEADER + body + FDM_WIRE_MAC;

	if (total > buflen || total > FDM_WIRE_MAX)
		return 0;
	memcpy(buf, FDM_WIRE_MAGIC, 4);
	fdm_put_be32(buf + 4, (uint32_t)body);
	fdm__packet__pack(p, buf + FDM_WIRE_HEADER);
	mac(key, buf, FDM_WIRE_HEADER + body, buf + FDM_WIRE_HEADER + body);
	return total;
}

enum fdm_drop fdm_wire_decode(const uint8_t *buf, size_t len, const char *cluster,
			      const struct fdm_key *key, Fdm__Packet **out)
{
	uint8_t want[FDM_WIRE_MAC];
	Fdm__Packet *p;
	size_t body;

	*out = NULL;
	if (len < FDM_WIRE_HEADER + FDM_WIRE_MAC || len > FDM_WIRE_MAX ||
	    memcmp(buf, FDM_WIRE_MAGIC, 4) != 0)
		return FDM_DROP_MALFORMED;
	body = fdm_get_be32(buf + 4);
	if (body != len - FDM_WIRE_HEADER - FDM_WIRE_MAC)
		return FDM_DROP_MALFORMED;
	p = fdm__packet__unpack(NULL, body, buf + FDM_WIRE_HEADER);
	if (p == NULL)
		return FDM_DROP_MALFORMED;
	if (strcmp(p->cluster, cluster) != 0) {
		fdm__packet__free_unpacked(p, NULL);
		return FDM_DROP_FOREIGN_CLUSTER;
	}
	mac(key, buf, FDM_WIRE_HEADER + body, want);
	if (CRYPTO_memcmp(want, buf + FDM_WIRE_HEADER + body, FDM_WIRE_MAC) != 0) {
		fdm__packet__free_unpacked(p, NULL);
		return FDM_DROP_BAD_MAC;
	}
	if (p->body_case == FDM__PACKET__BODY__NOT_SET) {
		fdm__packet__free_unpacked(p, NULL);
		return FDM_DROP_MALFORMED;
	}
	*out = p;
	return FDM_DROP_NONE;
}

bool fdm_replay_accept(struct fdm_replay *last, uint64_t incarnation, uint64_t seq)
{
	if (incarnation < last->incarnation)
		return false;
	if (incarnation == last->incarnation && seq <= last->seq)
		return false;
	last->incarnation = incarnation;
	last->seq = seq;
	return true;
}
