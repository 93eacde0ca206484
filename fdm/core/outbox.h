/* Builds the datagram an FDM_ACT_SEND action asks for, from the core's state, into
 * caller-owned storage (no malloc): the shell then signs and sends it. Pure. */
#ifndef FDM_CORE_OUTBOX_H
#define FDM_CORE_OUTBOX_H

#include "fdm/core/core.h"

/* Everything one Packet points into. Large: keep one per agent, not on the stack. */
struct fdm_outbox {
	Fdm__Packet packet;
	Fdm__Bid bid;
	Fdm__MasterHeartbeat master_hb;
	Fdm__SlaveHeartbeat slave_hb;
	Fdm__StepDown step_down;
	Fdm__Leaving leaving;
	Fdm__Echo echo;
	Fdm__Echo ack;
	Fdm__HostReport hosts[FDM_MAX_HOSTS];
	Fdm__HostReport *host_ptrs[FDM_MAX_HOSTS];
	char *host_datastores[FDM_MAX_HOSTS][FDM_MAX_DATASTORES];
	char *my_datastores[FDM_MAX_DATASTORES];
};

/* Fill ob->packet for action a (kind FDM_ACT_SEND), built at time now. */
void fdm_outbox_build(const struct fdm_core *c, const struct fdm_action *a,
		      const char *cluster, uint64_t now, struct fdm_outbox *ob);

#endif
