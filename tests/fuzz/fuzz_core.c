/* libFuzzer target: authenticated-but-hostile packets, and storage results of
 * any shape, into a running core. A peer with the key may still be buggy, and a
 * datastore may hold anything: whatever protobuf arrives (huge host lists,
 * unknown state names, echoes of anything) and whatever a lease read returns,
 * in any order, the election, the host table, the leases, the VM part of
 * heartbeats (vmreport.c: hostile VM lists, stops, results, orders) and the
 * requests between hosts (forward.c: a DefineReply is decoded whether or not the
 * core awaits it) must neither crash nor break their invariants. Input: records of [1 byte kind][2 bytes length]
 * [payload], ticks between. kind < 0x80: a Packet protobuf from peer kind % 4;
 * else a storage completion built from the payload. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "fdm/core/core.h"
#include "fdm/core/outbox.h"
#include "lib/util.h"

#define HOSTS 4

static void make_config(struct fdm_config *cfg)
{
	static const char *const ids[HOSTS] = { "host-1", "host-2", "host-9", "host-10" };

	memset(cfg, 0, sizeof(*cfg));
	fdm_strlcpy(cfg->cluster_id, "fuzz", sizeof(cfg->cluster_id));
	fdm_strlcpy(cfg->host_id, "host-2", sizeof(cfg->host_id));
	for (size_t i = 0; i < HOSTS; i++)
		fdm_strlcpy(cfg->peers[i].id, ids[i], FDM_ID_MAX);
	cfg->n_peers = HOSTS;
	fdm_strlcpy(cfg->datastores[0].name, "ds1", FDM_ID_MAX);
	fdm_strlcpy(cfg->datastores[1].name, "ds2", FDM_ID_MAX);
	cfg->n_datastores = 2;
}

/* Every action the core asks for is built, as the agent would, and fits in one
 * datagram whatever the core was told (outbox.c cuts what may be cut). */
static void drain(struct fdm_core *c, struct fdm_actions *acts, struct fdm_outbox *ob,
		  uint64_t now)
{
	for (size_t i = 0; i < acts->n; i++) {
		if (acts->a[i].kind != FDM_ACT_SEND)
			continue;
		fdm_outbox_build(c, &acts->a[i], "fuzz", now, ob);
		if (fdm__packet__get_packed_size(&ob->packet) > FDM_OUTBOX_PACKET_MAX)
			abort();
	}
	acts->n = 0;
}

/* A definition from the wire, as the shell hands it to the core: whatever it
 * says, what the core keeps is bounded and printable. */
static void define_reply(struct fdm_core *c, int from, const Fdm__Packet *p, enum fdm_rx rx,
			 uint64_t now, struct fdm_actions *acts)
{
	struct fdm_vm_define d;
	const char *why;

	if (p->body_case != FDM__PACKET__BODY_DEFINE_REPLY)
		return;
	fdm_ha_define_decode(c, p->define_reply, &d, &why);
	if (strnlen(d.message, sizeof(d.message)) == sizeof(d.message))
		abort();
	for (size_t i = 0; d.message[i] != '\0'; i++)
		if ((unsigned char)d.message[i] < 0x20)
			abort();
	if (d.found && (strlen(d.uuid) != FDM_UUID_MAX - 1 || d.memory_kib == 0 ||
			d.memory_kib > FDM_VM_MEMORY_MAX_KIB ||
			d.disk_ds >= (int)c->n_datastores || d.disk_ds < -1))
		abort();
	if (rx == FDM_RX_SHELL)
		fdm_ha_on_define(c, p->define_reply->id, from, &d, now, acts);
}

/* A storage completion: datastore, operation, result and lease view from bytes. */
static void storage_event(struct fdm_core *c, uint8_t kind, const uint8_t *p, size_t len,
			  uint64_t now, struct fdm_actions *acts)
{
	struct fdm_lease_view v;
	struct fdm_storage_outcome o;
	uint8_t b[24] = { 0 };

	memcpy(b, p, len < sizeof(b) ? len : sizeof(b));
	memset(&v, 0, sizeof(v));
	v.kind = (enum fdm_lease_view_kind)(b[0] % 3);
	memcpy(v.rec.owner, b + 1, 7);   /* NUL-terminated: owner[7] stays 0 */
	v.rec.generation = b[8] % 4;
	v.rec.renewal = b[9];
	v.rec.nonce = b[10] % 3;
	v.fingerprint = (uint32_t)b[11] << 8 | b[12];
	v.rec.io_timeout_ms = b[14] % 3 * 1000;
	v.rec.expiry_ms = b[15] % 3 * 4000;
	memset(&o, 0, sizeof(o));
	o.result = (enum fdm_storage_result)(b[13] % 4);
	o.why = "fuzz";
	o.lease = &v;
	o.hb_incarnation = b[16] % 3 ? 77 + b[16] % 2 : 0;
	fdm_core_storage_done(c, kind & 1, (enum fdm_storage_op)((kind >> 1) % FDM_STORAGE_OP_COUNT),
			      &o, now, acts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	struct fdm_core *c = calloc(1, sizeof(*c));
	struct fdm_actions *acts = calloc(1, sizeof(*acts));
	struct fdm_outbox *ob = calloc(1, sizeof(*ob));
	struct fdm_timing t;
	char err[256];
	uint64_t now = 1000000;

	make_config(cfg);
	fdm_timing_derive(1000, 2000, &t, err, sizeof(err));
	fdm_core_init(c, cfg, &t, 77, now);
	fdm_core_datastores(c, 1, now, acts);
	while (size >= 3) {
		uint8_t kind = data[0];
		int from = kind % HOSTS;
		size_t len = (size_t)data[1] << 8 | data[2];
		Fdm__Packet *p;
		enum fdm_rx rx;
		bool same_timing;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		now += 137;
		fdm_core_tick(c, now, acts);
		drain(c, acts, ob, now);
		if (kind >= 0x80) {
			storage_event(c, kind, data, len, now, acts);
			drain(c, acts, ob, now);
			data += len;
			size -= len;
			continue;
		}
		p = fdm__packet__unpack(NULL, len, data);
		data += len;
		size -= len;
		if (p == NULL)
			continue;
		rx = fdm_core_packet(c, from, p, now, acts);
		define_reply(c, from, p, rx, now, acts);
		drain(c, acts, ob, now);
		/* A peer with another timing (or none) is never taken in; ours is. */
		same_timing = p->has_heartbeat_interval_ms && p->has_io_timeout_ms &&
			      p->heartbeat_interval_ms == 1000 && p->io_timeout_ms == 2000;
		if (rx != FDM_RX_IGNORED && (rx == FDM_RX_TIMING_MISMATCH) == same_timing)
			abort();
		fdm__packet__free_unpacked(p, NULL);
		/* Invariants of core.h that no input may break. */
		if ((c->role == FDM_ROLE_MASTER) != (c->master == (int)c->self))
			abort();
		if (c->role == FDM_ROLE_SLAVE && (c->master < 0 || c->master == (int)c->self))
			abort();
		/* Only a master holds a lease it acts on. */
		for (size_t d = 0; d < c->n_datastores; d++)
			if (fdm_lease_acting(&c->ds[d].lease, now) && c->role != FDM_ROLE_MASTER)
				abort();
	}
	free(ob);
	free(acts);
	free(c);
	free(cfg);
	return 0;
}
