/* fdmctl's VM protection requests as JSON (ha_request.h). The control socket
 * takes them from fdmctl; a slave forwards them in the form written here, and
 * its master parses that with the same code, so both ends apply one set of rules. */
#include "fdm/ha_request.h"

#include <string.h>

#include "fdm/core/placement.h"
#include "lib/util.h"

bool fdm_ha_request_command(const char *command)
{
	return strcmp(command, "protect") == 0 || strcmp(command, "unprotect") == 0 ||
	       strcmp(command, "maintenance") == 0;
}

/* A string member, or NULL when absent or not a string. */
static const char *str_field(json_object *req, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A string member with a NUL byte inside ("db1\u0000x") would be cut short by
 * every C string copy after this: refuse it rather than act on another name. */
static bool has_nul_string(json_object *req)
{
	json_object_object_foreach(req, key, v) {
		(void)key;
		if (json_object_is_type(v, json_type_string) &&
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
			return true;
	}
	return false;
}

static const char *parse_maintenance(const char *default_host, json_object *req,
				     struct fdm_ha_request *r)
{
	const char *action = str_field(req, "action"), *host = str_field(req, "host");

	if (action == NULL || (strcmp(action, "enter") != 0 && strcmp(action, "exit") != 0))
		return "maintenance: \"action\" must be enter or exit";
	r->op = strcmp(action, "enter") == 0 ? FDM_HA_MAINT_ENTER : FDM_HA_MAINT_EXIT;
	if (host == NULL)
		host = default_host;
	if (host == NULL || host[0] == '\0')
		return "maintenance: no \"host\" given";
	if (!fdm_strlcpy(r->name, host, sizeof(r->name)))
		return "host id too long";
	return NULL;
}

const char *fdm_ha_request_parse(const struct fdm_config *cfg, const char *default_host,
				 json_object *req, struct fdm_ha_request *r)
{
	const char *cmd = str_field(req, "command");
	const char *vm = str_field(req, "vm"), *prio = str_field(req, "priority");
	const char *ds = str_field(req, "datastore");

	memset(r, 0, sizeof(*r));
	r->origin = -1;
	r->priority = -1;
	r->ds = -1;
	if (cmd == NULL || !fdm_ha_request_command(cmd))
		return "not a protect, unprotect or maintenance request";
	if (has_nul_string(req))
		return "a request string holds a NUL byte";
	if (strcmp(cmd, "maintenance") == 0)
		return parse_maintenance(default_host, req, r);
	r->op = strcmp(cmd, "protect") == 0 ? FDM_HA_PROTECT : FDM_HA_UNPROTECT;
	if (vm == NULL || vm[0] == '\0')
		return "no \"vm\" given";
	if (!fdm_strlcpy(r->name, vm, sizeof(r->name)))
		return "VM name too long for protection (at most 63 bytes)";
	if (prio != NULL && (r->priority = fdm_priority_parse(prio)) < 0)
		return "priority: one of highest, high, medium, low, lowest, disabled";
	if (ds != NULL && (r->ds = fdm_config_datastore_index(cfg, ds)) < 0)
		return "no such datastore in [datastores]";
	return NULL;
}

const char *fdm_ha_request_parse_text(const struct fdm_config *cfg, const char *default_host,
				      const char *text, struct fdm_ha_request *r)
{
	json_object *req = json_tokener_parse(text);
	const char *err;

	if (req == NULL || !json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		memset(r, 0, sizeof(*r));
		return "the forwarded request is not a JSON object";
	}
	err = fdm_ha_request_parse(cfg, default_host, req, r);
	json_object_put(req);
	return err;
}

static const char *command_of(enum fdm_ha_op op)
{
	switch (op) {
	case FDM_HA_PROTECT:
		return "protect";
	case FDM_HA_UNPROTECT:
		return "unprotect";
	default:
		return "maintenance";
	}
}

size_t fdm_ha_request_format(const struct fdm_config *cfg, const struct fdm_ha_request *r,
			     char *buf, size_t len)
{
	json_object *o = json_object_new_object();
	const char *text;
	size_t n;

	if (o == NULL)
		return 0;
	json_object_object_add(o, "command", json_object_new_string(command_of(r->op)));
	if (r->op == FDM_HA_MAINT_ENTER || r->op == FDM_HA_MAINT_EXIT) {
		json_object_object_add(o, "action", json_object_new_string(
			r->op == FDM_HA_MAINT_ENTER ? "enter" : "exit"));
		json_object_object_add(o, "host", json_object_new_string(r->name));
	} else {
		json_object_object_add(o, "vm", json_object_new_string(r->name));
	}
	if (r->priority >= 0)
		json_object_object_add(o, "priority", json_object_new_string(
			fdm_priority_name((Fdm__Priority)r->priority)));
	if (r->ds >= 0 && (size_t)r->ds < cfg->n_datastores)
		json_object_object_add(o, "datastore",
				       json_object_new_string(cfg->datastores[r->ds].name));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	n = text != NULL ? strlen(text) : 0;
	if (n == 0 || n >= len)
		n = 0;
	else
		memcpy(buf, text, n + 1);
	json_object_put(o);
	return n;
}
