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
	[FDM_DROP_TIMING_MISMATCH] = "timing_mismatch",
	[FDM_DROP_WRONG_ADDRESS] = "wrong_address",
	[FDM_DROP_KERNEL] = "kernel",
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

/* Does the packet name another cluster in its first field (field 1, a string:
 * protobuf-c packs fields in number order)? Read as plain bytes, before the MAC,
 * so that a datagram of another cluster counts as foreign_cluster whatever its
 * key. false when the body does not start that way: the MAC decides then. */
static bool names_other_cluster(const uint8_t *body, size_t len, const char *cluster)
{
	size_t n, want = strlen(cluster);

	if (len < 2 || body[0] != 0x0a)      /* field 1, length-delimited */
		return false;
	n = body[1] & 0x7f;
	if (body[1] & 0x80) {                /* a two-byte varint: names up to 16 KiB */
		if (len < 3 || (body[2] & 0x80))
			return false;
		n |= (size_t)body[2] << 7;
		body++;
		len--;
	}
	if (n > len - 2)
		return false;
	return n != want || memcmp(body + 2, cluster, n) != 0;
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
	if (names_other_cluster(buf + FDM_WIRE_HEADER, body, cluster))
		return FDM_DROP_FOREIGN_CLUSTER;
	/* The MAC before any decoding: a flood of unsigned datagrams built to be
	 * slow to decode (64 KB of empty repeated strings) costs one HMAC each. */
	mac(key, buf, FDM_WIRE_HEADER + body, want);
	if (CRYPTO_memcmp(want, buf + FDM_WIRE_HEADER + body, FDM_WIRE_MAC) != 0)
		return FDM_DROP_BAD_MAC;
	p = fdm__packet__unpack(NULL, body, buf + FDM_WIRE_HEADER);
	if (p == NULL)
		return FDM_DROP_MALFORMED;
	if (strcmp(p->cluster, cluster) != 0) {   /* signed with our key, yet not ours */
		fdm__packet__free_unpacked(p, NULL);
		return FDM_DROP_FOREIGN_CLUSTER;
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
