/* Framing and hostile-input decoding of datastore records (layout in record.h).
 * Checks run cheapest first and each failure has its own reason, as sanlock's
 * verify_leader() does, so an operator reading fdm-inspect knows what broke. */
#include "datastore/record.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "lib/crc32c.h"
#include "lib/util.h"

#define OFF_VERSION  4
#define OFF_KIND     6
#define OFF_LEN      8
#define OFF_RESERVED 12
#define OFF_GEN      16
#define OFF_CLUSTER  24
#define MAC_LEN      32

static const char *const err_names[FDM_REC_ERR_COUNT] = {
	[FDM_REC_OK] = "ok",
	[FDM_REC_EMPTY] = "empty",
	[FDM_REC_SHORT] = "truncated",
	[FDM_REC_BAD_MAGIC] = "bad magic",
	[FDM_REC_BAD_VERSION] = "unsupported format version",
	[FDM_REC_BAD_LENGTH] = "bad length",
	[FDM_REC_BAD_CHECKSUM] = "checksum mismatch",
	[FDM_REC_BAD_MAC] = "authentication failed (forged or another key)",
	[FDM_REC_WRONG_KIND] = "wrong record kind",
	[FDM_REC_BAD_BODY] = "undecodable body",
	[FDM_REC_WRONG_CLUSTER] = "record of another cluster",
	[FDM_REC_WRONG_HOST] = "record names another host",
	[FDM_REC_NOT_A_FILE] = "not a regular file",
};

const char *fdm_rec_err_name(enum fdm_rec_err e)
{
	return (unsigned)e < FDM_REC_ERR_COUNT ? err_names[e] : "?";
}

static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void mac(const struct fdm_rec_auth *auth, const uint8_t *data, size_t len,
		uint8_t out[MAC_LEN])
{
	unsigned int outlen = MAC_LEN;

	HMAC(EVP_sha256(), auth->key, (int)auth->key_len, data, len, out, &outlen);
}

size_t fdm_rec_padded_size(size_t body_len)
{
	size_t n = FDM_REC_OVERHEAD + body_len;

	return (n + FDM_REC_ALIGN - 1) / FDM_REC_ALIGN * FDM_REC_ALIGN;
}

size_t fdm_rec_encode(const struct fdm_rec_auth *auth, enum fdm_rec_kind kind,
		      uint64_t slot_gen, const uint8_t *body, size_t body_len,
		      uint8_t *out, size_t out_len)
{
	size_t padded = fdm_rec_padded_size(body_len);
	size_t end = FDM_REC_HEADER + body_len;

	if (body_len > UINT32_MAX || padded > out_len)
		return 0;
	memset(out, 0, padded);
	memcpy(out, FDM_REC_MAGIC, 4);
	put_be16(out + OFF_VERSION, FDM_REC_VERSION);
	put_be16(out + OFF_KIND, (uint16_t)kind);
	fdm_put_be32(out + OFF_LEN, (uint32_t)body_len);
	put_be64(out + OFF_GEN, slot_gen);
	memcpy(out + OFF_CLUSTER, auth->cluster, strnlen(auth->cluster, FDM_REC_CLUSTER_MAX - 1));
	if (body_len > 0)
		memcpy(out + FDM_REC_HEADER, body, body_len);
	fdm_put_be32(out + end, fdm_crc32c(0, out, end));
	mac(auth, out, end + 4, out + end + 4);
	return padded;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

enum fdm_rec_err fdm_rec_peek(const uint8_t *buf, size_t len, size_t slot_size,
			      uint64_t *slot_gen, size_t *frame_len)
{
	size_t body;

	if (len == 0 || (len >= FDM_REC_HEADER && all_zero(buf, FDM_REC_HEADER)))
		return FDM_REC_EMPTY;
	if (len < FDM_REC_HEADER)
		return all_zero(buf, len) ? FDM_REC_EMPTY : FDM_REC_SHORT;
	if (memcmp(buf, FDM_REC_MAGIC, 4) != 0)
		return FDM_REC_BAD_MAGIC;
	if (get_be16(buf + OFF_VERSION) != FDM_REC_VERSION)
		return FDM_REC_BAD_VERSION;
	body = fdm_get_be32(buf + OFF_LEN);
	if (fdm_get_be32(buf + OFF_RESERVED) != 0 || body > slot_size ||
	    FDM_REC_OVERHEAD + body > slot_size)
		return FDM_REC_BAD_LENGTH;
	*slot_gen = get_be64(buf + OFF_GEN);
	*frame_len = FDM_REC_OVERHEAD + body;
	return FDM_REC_OK;
}

bool fdm_rec_cluster_of(const uint8_t *buf, size_t len, char out[FDM_REC_CLUSTER_MAX])
{
	if (len < FDM_REC_HEADER || memcmp(buf, FDM_REC_MAGIC, 4) != 0)
		return false;
	memcpy(out, buf + OFF_CLUSTER, FDM_REC_CLUSTER_MAX - 1);
	out[FDM_REC_CLUSTER_MAX - 1] = '\0';
	return out[0] != '\0';
}

enum fdm_rec_err fdm_rec_decode(const struct fdm_rec_auth *auth, const uint8_t *buf,
				size_t len, size_t slot_size, enum fdm_rec_kind want_kind,
				struct fdm_rec_view *out)
{
	uint8_t want_mac[MAC_LEN];
	size_t frame, end;
	uint64_t gen;
	enum fdm_rec_err e;

	memset(out, 0, sizeof(*out));
	e = fdm_rec_peek(buf, len, slot_size, &gen, &frame);
	if (e != FDM_REC_OK)
		return e;
	if (frame > len)
		return FDM_REC_SHORT;
	end = frame - FDM_REC_TRAILER;
	if (fdm_get_be32(buf + end) != fdm_crc32c(0, buf, end))
		return FDM_REC_BAD_CHECKSUM;
	mac(auth, buf, end + 4, want_mac);
	if (CRYPTO_memcmp(want_mac, buf + end + 4, MAC_LEN) != 0)
		return FDM_REC_BAD_MAC;
	out->kind = (enum fdm_rec_kind)get_be16(buf + OFF_KIND);
	out->slot_gen = gen;
	out->body = buf + FDM_REC_HEADER;
	out->body_len = end - FDM_REC_HEADER;
	fdm_rec_cluster_of(buf, len, out->cluster);
	if (want_kind != 0 && out->kind != want_kind)
		return FDM_REC_WRONG_KIND;
	if (auth->cluster[0] != '\0' &&
	    strncmp(out->cluster, auth->cluster, FDM_REC_CLUSTER_MAX) != 0)
		return FDM_REC_WRONG_CLUSTER;
	return FDM_REC_OK;
}

int fdm_rec_pick(enum fdm_rec_err e0, uint64_t gen0, enum fdm_rec_err e1, uint64_t gen1)
{
	if (e0 == FDM_REC_OK && e1 == FDM_REC_OK)
		return gen1 > gen0 ? 1 : 0;
	if (e0 == FDM_REC_OK)
		return 0;
	if (e1 == FDM_REC_OK)
		return 1;
	return -1;
}
