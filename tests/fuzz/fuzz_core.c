/* libFuzzer target: authenticated-but-hostile packets into a running core. A peer
 * with the key may still be buggy: whatever protobuf it sends (huge host lists,
 * unknown state names, echoes of anything), the election and the host table
 * must neither crash nor break their invariants. Input: a sequence of
 * [1 byte sender index][2 bytes length][Packet protobuf] records, ticks between. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fdm/config.h"
#include "fdm/core/core.h"
#include "fdm/core/outbox.h"
#include "fdm/util.h"

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

/* Every action the core asks for is built, as the agent would. */
static void drain(struct fdm_core *c, struct fdm_actions *acts, struct fdm_outbox *ob,
		  uint64_t now)
{
	for (size_t i = 0; i < acts->n; i++)
		if (acts->a[i].kind == FDM_ACT_SEND)
			fdm_outbox_build(c, &acts->a[i], "fuzz", now, ob);
	acts->n = 0;
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
		int from = data[0] % HOSTS;
		size_t len = (size_t)data[1] << 8 | data[2];
		Fdm__Packet *p;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		p = fdm__packet__unpack(NULL, len, data);
		data += len;
		size -= len;
		now += 137;
		fdm_core_tick(c, now, acts);
		drain(c, acts, ob, now);
		if (p == NULL)
			continue;
		fdm_core_packet(c, from, p, now, acts);
		drain(c, acts, ob, now);
		fdm__packet__free_unpacked(p, NULL);
		/* Invariants of core.h that no input may break. */
		if ((c->role == FDM_ROLE_MASTER) != (c->master == (int)c->self))
			abort();
		if (c->role == FDM_ROLE_SLAVE && (c->master < 0 || c->master == (int)c->self))
			abort();
	}
	free(ob);
	free(acts);
	free(c);
	free(cfg);
	return 0;
}
