/* The operator's VM protection requests at the agent's edge (fdmctl protect,
 * unprotect, maintenance): validated here, handed to the core (protect.c), and
 * answered when the core says so, which for a change is once the protectedlist
 * write is durable. Nothing here decides. */
#include "fdm/agent.h"

#include <string.h>

#include "fdm/core/placement.h"
#include "lib/util.h"

static const char *str_field(json_object *req, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The request as the core takes it, or an error text. */
static const char *parse(const struct fdm_agent *a, const char *cmd, json_object *req,
			 struct fdm_ha_request *r)
{
	const char *vm = str_field(req, "vm"), *prio = str_field(req, "priority");
	const char *ds = str_field(req, "datastore"), *action = str_field(req, "action");
	const char *host = str_field(req, "host");

	memset(r, 0, sizeof(*r));
	r->origin = -1;
	r->priority = -1;
	r->ds = -1;
	if (strcmp(cmd, "maintenance") == 0) {
		if (action == NULL || (strcmp(action, "enter") != 0 && strcmp(action, "exit") != 0))
			return "maintenance: \"action\" must be enter or exit";
		r->op = strcmp(action, "enter") == 0 ? FDM_HA_MAINT_ENTER : FDM_HA_MAINT_EXIT;
		if (!fdm_strlcpy(r->name, host != NULL ? host : a->cfg.host_id, sizeof(r->name)))
			return "host id too long";
		return NULL;
	}
	r->op = strcmp(cmd, "protect") == 0 ? FDM_HA_PROTECT : FDM_HA_UNPROTECT;
	if (vm == NULL || vm[0] == '\0')
		return "no \"vm\" given";
	if (!fdm_strlcpy(r->name, vm, sizeof(r->name)))
		return "VM name too long for protection (at most 63 bytes)";
	if (prio != NULL && (r->priority = fdm_priority_parse(prio)) < 0)
		return "priority: one of highest, high, medium, low, lowest, disabled";
	if (ds != NULL && (r->ds = fdm_config_datastore_index(&a->cfg, ds)) < 0)
		return "no such datastore in [datastores]";
	return NULL;
}

json_object *fdm_ha_control(struct fdm_agent *a, const char *cmd, json_object *req, uint64_t now)
{
	struct fdm_ha_request r;
	const char *err = parse(a, cmd, req, &r);

	if (err != NULL)
		return fdm_control_error(err);
	r.id = fdm_control_defer(&a->control);
	if (r.id == 0)
		return fdm_control_error("internal: cannot defer the answer");
	fdm_ha_request(&a->core, &r, now, &a->actions);
	fdm_agent_execute(a, now);
	return NULL;   /* answered by FDM_ACT_CONTROL_REPLY */
}

void fdm_ha_control_reply(struct fdm_agent *a, const struct fdm_action *act)
{
	json_object *o;

	if (act->to >= 0)
		return;   /* a forwarded request: answered over the network (not yet) */
	if (!act->ok) {
		fdm_control_answer(&a->control, act->request_id, fdm_control_error(act->text));
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "message", json_object_new_string(act->text));
	fdm_control_answer(&a->control, act->request_id, o);
}

