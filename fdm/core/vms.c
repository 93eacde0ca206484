/* VM protection: the master's decisions on protected VMs, and what every host
 * reports about the VMs it runs (ha.h; DESIGN.md "Restart", safety point 2).
 * Being written: the interface is in place so that the storage and network
 * plumbing can be built against it; the decisions land next. */
#include "fdm/core/core.h"

#include <string.h>

static const char *const vm_state_names[FDM_VM_STATE_COUNT] = {
	[FDM_VM_PROTECTED] = "protected",
	[FDM_VM_RESTARTING] = "restarting",
	[FDM_VM_RESTART_PENDING] = "restart-pending",
	[FDM_VM_FAILED] = "failed",
	[FDM_VM_ISOLATED_OFF] = "isolated-off",
	[FDM_VM_STOPPED] = "stopped",
	[FDM_VM_UNPROTECTED] = "unprotected",
};

const char *fdm_vm_state_name(enum fdm_vm_state s)
{
	return (unsigned)s < FDM_VM_STATE_COUNT ? vm_state_names[s] : "?";
}

void fdm_ha_init(struct fdm_core *c)
{
	memset(&c->ha, 0, sizeof(c->ha));
}

void fdm_ha_on_vmlist(struct fdm_core *c, int ds, const struct fdm_vmlist_view *v,
		      uint64_t now, struct fdm_actions *out)
{
	(void)c; (void)ds; (void)v; (void)now; (void)out;
}

void fdm_ha_poweron_of(const struct fdm_core *c, int ds, struct fdm_poweron_out *out)
{
	(void)c; (void)ds;
	memset(out, 0, sizeof(*out));
}

void fdm_ha_on_host_records(struct fdm_core *c, int ds, const struct fdm_host_records *r,
			    size_t n, uint64_t issued, uint64_t now, struct fdm_actions *out)
{
	(void)c; (void)ds; (void)r; (void)n; (void)issued; (void)now; (void)out;
}

void fdm_ha_vmlist_desired(const struct fdm_core *c, int ds, struct fdm_vmlist_desired *out)
{
	(void)c; (void)ds;
	memset(out, 0, sizeof(*out));
}

void fdm_ha_on_vmlist_written(struct fdm_core *c, int ds, bool ok, uint64_t now,
			      struct fdm_actions *out)
{
	(void)c; (void)ds; (void)ok; (void)now; (void)out;
}

void fdm_ha_on_slave_report(struct fdm_core *c, int from, const struct fdm_slave_report *r,
			    uint64_t echo_sent_ms, uint64_t now, struct fdm_actions *out)
{
	(void)c; (void)from; (void)r; (void)echo_sent_ms; (void)now; (void)out;
}

void fdm_ha_on_orders(struct fdm_core *c, const struct fdm_order *o, size_t n,
		      uint64_t stop_ack, uint64_t now, struct fdm_actions *out)
{
	(void)c; (void)o; (void)n; (void)stop_ack; (void)now; (void)out;
}

void fdm_ha_slave_report_of(const struct fdm_core *c, struct fdm_slave_report *out)
{
	(void)c;
	memset(out, 0, sizeof(*out));
}

size_t fdm_ha_orders_for(const struct fdm_core *c, int to, const struct fdm_order **out)
{
	(void)to;
	*out = c->ha.hosts[0].orders;
	return 0;
}

void fdm_ha_on_local(struct fdm_core *c, const struct fdm_local_view *v, uint64_t now,
		     struct fdm_actions *out)
{
	(void)c; (void)v; (void)now; (void)out;
}

void fdm_ha_on_local_stop(struct fdm_core *c, const char *name, enum fdm_stop_reason why,
			  uint64_t now, struct fdm_actions *out)
{
	(void)c; (void)name; (void)why; (void)now; (void)out;
}

void fdm_ha_on_power_on_done(struct fdm_core *c, const char *name, uint32_t restarts,
			     bool ok, const char *message, uint64_t now, struct fdm_actions *out)
{
	(void)c; (void)name; (void)restarts; (void)ok; (void)message; (void)now; (void)out;
}

void fdm_ha_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out)
{
	(void)c; (void)now; (void)out;
}
