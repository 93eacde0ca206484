/* Builds the datagram an FDM_ACT_SEND action asks for, from the core's state, into
 * caller-owned storage (no malloc): the shell then signs and sends it; and the
 * header of the datagrams whose body the shell builds. Pure. */
#ifndef FDM_CORE_OUTBOX_H
#define FDM_CORE_OUTBOX_H

#include "fdm/core/core.h"

/* The most a Packet may take: FDM_WIRE_MAX of fdm/wire.h (65000, the core cannot
 * include it) less its framing (8) and MAC (32). test_vmreport checks the two
 * agree. What is display only or may be incomplete (the VM table and a host's
 * datastores in a master heartbeat, the VMs a slave runs) is left out beyond it; the rest is
 * bounded by the constants of ha.h and config.h and always fits. */
#define FDM_OUTBOX_PACKET_MAX (65000 - 8 - 32)

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
	Fdm__LeaseReport leases[FDM_MAX_DATASTORES];
	Fdm__LeaseReport *lease_ptrs[FDM_MAX_DATASTORES];
	char *host_datastores[FDM_MAX_HOSTS][FDM_MAX_DATASTORES];
	char *my_datastores[FDM_MAX_DATASTORES];
	/* VM protection (ha.h): a slave's report, a master's orders. */
	char *vm_names[FDM_MAX_LOCAL_VMS];
	Fdm__VmStop stops[FDM_MAX_STOPS];
	Fdm__VmStop *stop_ptrs[FDM_MAX_STOPS];
	Fdm__OrderResult results[FDM_MAX_ORDERS];
	Fdm__OrderResult *result_ptrs[FDM_MAX_ORDERS];
	Fdm__PowerOnOrder orders[FDM_MAX_ORDERS];
	Fdm__PowerOnOrder *order_ptrs[FDM_MAX_ORDERS];
	/* A master's VM table, display only on its slaves (vmview.h). */
	Fdm__VmReport vm_reports[FDM_MAX_VMS];
	Fdm__VmReport *vm_report_ptrs[FDM_MAX_VMS];
};

/* The header of every datagram of ours to peer `to` (cluster, sender,
 * incarnation, seq, timing, the ack of its latest datagram we accepted), in
 * ob->packet with no body yet: the shell adds the bodies it builds itself
 * (ha_net.c), with a seq from fdm_core_take_seq. */
void fdm_outbox_header(const struct fdm_core *c, int to, uint64_t seq, const char *cluster,
		       struct fdm_outbox *ob);

/* Fill ob->packet for action a (kind FDM_ACT_SEND), built at time now. */
void fdm_outbox_build(const struct fdm_core *c, const struct fdm_action *a,
		      const char *cluster, uint64_t now, struct fdm_outbox *ob);

#endif
