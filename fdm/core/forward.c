/* Operators' requests between hosts (fdmctl protect, unprotect and maintenance
 * work on any host): which of the four messages that carry them the core takes
 * in, from whom, and how their contents are bounded. The shell (fdm/ha_net.c)
 * builds and sends them and carries out what the core hands back; the decisions
 * stay here and in protect.c:
 *   Forward        a slave's request for its master: taken from any peer, and
 *                  fdm_ha_request decides (a host that is no master says so)
 *   ForwardReply   a master's answer: taken from any peer; the shell matches it
 *                  to a request it forwarded to that very peer
 *   DefineRequest  taken only from the master we follow
 *   DefineReply    taken only by a master, for a protect in progress that asked
 *                  that host about that VM
 * Like vmreport.c, it trusts the sender with the key no further than that: a
 * body that breaks a bound is dropped, counted in c->ha.rx_malformed and logged
 * at most once a minute; a malformed answer to a protect in progress still ends
 * it, as "not found" with the reason. */
#include "fdm/core/core.h"

#include <stdio.h>
#include <string.h>

#include "lib/util.h"

#define MALFORMED_LOG_MS 60000

static bool vm_name_ok(const char *name)
{
	size_t len;

	if (name == NULL)
		return false;
	len = strnlen(name, FDM_VM_NAME_MAX);
	return len > 0 && len < FDM_VM_NAME_MAX;
}

/* libvirt's form: 36 characters of hex digits and dashes. */
static bool uuid_ok(const char *u)
{
	if (u == NULL || strnlen(u, FDM_UUID_MAX) != FDM_UUID_MAX - 1)
		return false;
	for (size_t i = 0; u[i] != '\0'; i++)
		if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f') ||
		      (u[i] >= 'A' && u[i] <= 'F') || u[i] == '-'))
			return false;
	return true;
}

static void note_malformed(struct fdm_core *c, int from, const char *what, const char *why,
			   uint64_t now, struct fdm_actions *out)
{
	struct fdm_ha *ha = &c->ha;

	ha->rx_malformed++;
	if (ha->rx_malformed_logged_ms != 0 && now - ha->rx_malformed_logged_ms < MALFORMED_LOG_MS)
		return;
	ha->rx_malformed_logged_ms = now;
	fdm_core_event(out, &(struct fdm_log_fields){
			.event = "malformed", .peer = c->peers[from].id },
		       "%s: %s of %s dropped as malformed (%s); %llu VM item(s) in all",
		       c->peers[c->self].id, what, c->peers[from].id, why,
		       (unsigned long long)ha->rx_malformed);
}

bool fdm_ha_define_decode(const struct fdm_core *c, const Fdm__DefineReply *r,
			  struct fdm_vm_define *d, const char **why)
{
	memset(d, 0, sizeof(*d));
	d->disk_ds = -1;
	*why = NULL;
	if (!r->found) {
		d->runs = r->has_runs && r->runs;
		fdm_printable_copy(d->message, sizeof(d->message),
				   r->message != NULL ? r->message : "it does not run there");
		return true;
	}
	if (r->xml == NULL || r->xml[0] == '\0')
		*why = "no domain XML";
	else if (!uuid_ok(r->uuid))
		*why = "no uuid, or not a uuid";
	else if (!r->has_memory_kib || r->memory_kib == 0 || r->memory_kib > FDM_VM_MEMORY_MAX_KIB)
		*why = "no memory size, or over 1 PiB";
	else if (r->disk_datastore != NULL && strnlen(r->disk_datastore, FDM_ID_MAX) == FDM_ID_MAX)
		*why = "datastore name too long";
	if (*why != NULL) {
		d->runs = true;   /* it said so: asking the others is no use */
		snprintf(d->message, sizeof(d->message), "its answer was malformed: %s", *why);
		return false;
	}
	d->found = true;
	fdm_strlcpy(d->uuid, r->uuid, sizeof(d->uuid));
	d->memory_kib = r->memory_kib;
	d->vcpus = r->has_vcpus ? r->vcpus : 0;
	if (r->disk_datastore != NULL)
		d->disk_ds = fdm_core_datastore_index(c, r->disk_datastore);
	return true;
}

enum fdm_rx fdm_forward_on_packet(struct fdm_core *c, int from, const Fdm__Packet *p,
				  uint64_t now, struct fdm_actions *out)
{
	const Fdm__DefineReply *r;
	struct fdm_vm_define def;
	const char *why;

	switch (p->body_case) {
	case FDM__PACKET__BODY_FORWARD:
		if (p->forward->request == NULL ||
		    strnlen(p->forward->request, FDM_FORWARD_REQUEST_MAX) == FDM_FORWARD_REQUEST_MAX) {
			note_malformed(c, from, "forwarded request", "over 1023 bytes", now, out);
			return FDM_RX_TAKEN;
		}
		return FDM_RX_SHELL;
	case FDM__PACKET__BODY_FORWARD_REPLY:
		/* Its message is cut to a log line by the shell. */
		return p->forward_reply->message != NULL ? FDM_RX_SHELL : FDM_RX_TAKEN;
	case FDM__PACKET__BODY_DEFINE_REQUEST:
		if (!vm_name_ok(p->define_request->vm)) {
			note_malformed(c, from, "definition request", "VM name", now, out);
			return FDM_RX_TAKEN;
		}
		return c->role == FDM_ROLE_SLAVE && from == c->master ? FDM_RX_SHELL : FDM_RX_TAKEN;
	case FDM__PACKET__BODY_DEFINE_REPLY:
		r = p->define_reply;
		if (!vm_name_ok(r->vm) || c->role != FDM_ROLE_MASTER ||
		    !fdm_ha_define_awaited(c, r->id, from, r->vm))
			return FDM_RX_TAKEN;
		if (!fdm_ha_define_decode(c, r, &def, &why))
			note_malformed(c, from, "definition", why, now, out);
		return FDM_RX_SHELL;
	default:
		return FDM_RX_TAKEN;
	}
}
