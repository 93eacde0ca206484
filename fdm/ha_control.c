/* The operator's VM protection requests at the agent's edge (fdmctl protect,
 * unprotect, maintenance): validated here (ha_request.c), handed to the core
 * (protect.c), and answered when the core says so, which for a change is once
 * the protectedlist write is durable. On a slave the core forwards the request
 * to the master (ha_net.c), and the master's answer is the one fdmctl gets.
 * Nothing here decides. */
#include "fdm/agent.h"

#include "fdm/ha_request.h"

json_object *fdm_ha_answer_json(bool ok, const char *text)
{
	json_object *o;

	if (!ok)
		return fdm_control_error(text);
	o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "message", json_object_new_string(text));
	return o;
}

json_object *fdm_ha_control(struct fdm_agent *a, json_object *req, uint64_t now)
{
	struct fdm_ha_request r;
	const char *err = fdm_ha_request_parse(&a->cfg, a->cfg.host_id, req, &r);

	if (err != NULL)
		return fdm_control_error(err);
	r.id = fdm_control_defer(&a->control);
	if (r.id == 0)
		return fdm_control_error("internal: cannot defer the answer");
	/* Kept in the form a slave forwards, in case the core forwards it. */
	if (!fdm_ha_net_keep(a->hanet, r.id, &r, now)) {
		fdm_control_answer(&a->control, r.id,
				   fdm_control_error("too many requests in progress: try again"));
		return NULL;
	}
	fdm_ha_request(&a->core, &r, now, &a->actions);
	fdm_agent_execute(a, now);
	return NULL;   /* answered by FDM_ACT_CONTROL_REPLY or the master's ForwardReply */
}

void fdm_ha_control_reply(struct fdm_agent *a, const struct fdm_action *act, uint64_t now)
{
	if (act->to >= 0) {
		fdm_ha_net_reply(a->hanet, act, now);   /* a request forwarded to us */
		return;
	}
	fdm_ha_net_done(a->hanet, act->request_id);
	fdm_control_answer(&a->control, act->request_id, fdm_ha_answer_json(act->ok, act->text));
}
