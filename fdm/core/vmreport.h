/* The VM part of heartbeats as it arrives (DESIGN.md "Heartbeats", safety point
 * 2): a slave's report (the VMs it runs, its memory, VMs that stopped there, how
 * the master's orders ended) and the master's power-on orders, decoded into the
 * views of ha.h. outbox.c writes them. Pure. */
#ifndef FDM_CORE_VMREPORT_H
#define FDM_CORE_VMREPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdm/core/core.h"

/* Where the decoded views point: caller-owned, about 77 KB. */
struct fdm_vmreport_buf {
	char runs[FDM_MAX_LOCAL_VMS][FDM_VM_NAME_MAX];
	struct fdm_vm_stop stops[FDM_MAX_STOPS];
	struct fdm_order_result results[FDM_MAX_ORDERS];
	struct fdm_order orders[FDM_MAX_ORDERS];
};

/* What decoding left out: how many items, the first reason (static text), and
 * the first datastore name of an order that we do not have ("" none; printable). */
struct fdm_vmreport_drops {
	size_t n;
	const char *first;
	char unknown_ds[FDM_ID_MAX];
};

/* A slave heartbeat's report, into r (pointing into buf). Never fails: what is
 * wrong is left out and counted in drops, and r->listed is true only when the
 * sender said listed and nothing that could be a protected VM was left out. */
void fdm_vmreport_decode_slave(const Fdm__SlaveHeartbeat *s, struct fdm_vmreport_buf *buf,
			       struct fdm_slave_report *r, struct fdm_vmreport_drops *drops);

/* A master heartbeat's orders for us, into buf->orders (*n of them), datastores
 * mapped to our config indices, and its stop_ack (0 unless the heartbeat echoes
 * a datagram of this incarnation of ours). false: more than FDM_MAX_ORDERS, an
 * inconsistent list to be ignored whole (an order left out reads as withdrawn). */
bool fdm_vmreport_decode_orders(const struct fdm_core *c, const Fdm__MasterHeartbeat *m,
				struct fdm_vmreport_buf *buf, size_t *n, uint64_t *stop_ack,
				struct fdm_vmreport_drops *drops);

/* A packet taken in (core.c, after the host table): a slave heartbeat that names
 * us as its master goes to fdm_ha_on_slave_report, with our send time of the
 * master heartbeat it echoes; a heartbeat of the master we follow goes to
 * fdm_ha_on_orders. What was left out is counted in c->ha.rx_malformed. */
void fdm_vmreport_on_packet(struct fdm_core *c, int from, const Fdm__Packet *p, uint64_t now,
			    struct fdm_actions *out);

#endif
