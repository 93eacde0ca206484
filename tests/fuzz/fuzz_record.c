/* libFuzzer target: the datastore record decoder (datastore/record.c) on hostile
 * bytes, as a slot of 4 KiB and of 64 KiB, and, past the MAC, the protobuf body
 * of every record kind (what ds.c unpacks once a slot authenticates). The seed
 * corpus (make_record_seeds.py) holds validly signed records with key 0x5a. */
#include <stdint.h>
#include <string.h>

#include "datastore/record.h"
#include "proto/fdm.pb-c.h"

static const ProtobufCMessageDescriptor *const bodies[] = {
	&fdm__lease_record__descriptor, &fdm__protected_list__descriptor,
	&fdm__host_heartbeat_record__descriptor, &fdm__power_on_record__descriptor,
	&fdm__lun_layout__descriptor, &fdm__host_slot_claim__descriptor,
	&fdm__datastore_identity__descriptor,
};

static void unpack(unsigned kind, const uint8_t *body, size_t len)
{
	ProtobufCMessage *m;

	if (kind == 0 || kind > sizeof(bodies) / sizeof(bodies[0]))
		return;
	m = protobuf_c_message_unpack(bodies[kind - 1], NULL, len, body);
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t slots[] = { 4096, 65536 };
	struct fdm_rec_auth auth;
	struct fdm_rec_view v;
	uint64_t gen;
	size_t frame;
	char cluster[FDM_REC_CLUSTER_MAX];

	memset(&auth, 0, sizeof(auth));
	strcpy(auth.cluster, "fuzz");
	memset(auth.key, 0x5a, 32);
	auth.key_len = 32;
	for (size_t i = 0; i < 2; i++) {
		fdm_rec_peek(data, size, slots[i], &gen, &frame);
		if (fdm_rec_decode(&auth, data, size, slots[i], 0, &v) == FDM_REC_OK)
			unpack(v.kind, v.body, v.body_len);
	}
	fdm_rec_cluster_of(data, size, cluster);
	/* The body parsers behind the MAC, reached directly. */
	if (size > 1)
		unpack(data[0] % 8, data + 1, size - 1);
	return 0;
}
