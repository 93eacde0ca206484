/* The VM part of `fdmctl status` (status_vms.h). The master's table is the
 * authority: the master shows its own, a slave the copy its master sent in its
 * latest heartbeat (fdm/core/vmview.c), never the protectedlists it read itself,
 * where every VM looks protected. "vms_view" says whose table it is:
 *   "master"     the master's (on the master itself, or as it last sent it;
 *                "partial" when the datagram had no room for every VM)
 *   "none yet"   a slave that has no heartbeat with a table from its master yet
 *   "this host"  no master (election, isolated): what this host read. */
#include "fdm/status_vms.h"

#include "fdm/core/placement.h"

static json_object *string_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_object_new_string(s) : NULL;
}

static json_object *row_json(const struct fdm_vm_row *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "state", json_object_new_string(r->state));
	json_object_object_add(o, "host", string_or_null(r->host));
	json_object_object_add(o, "datastore", string_or_null(r->datastore));
	json_object_object_add(o, "priority", json_object_new_string(fdm_priority_name(r->priority)));
	json_object_object_add(o, "restarts", json_object_new_int64(r->restarts));
	json_object_object_add(o, "attempts", json_object_new_int64(r->attempts));
	json_object_object_add(o, "waiting", string_or_null(r->waiting));
	json_object_object_add(o, "last_failure", string_or_null(r->last_failure));
	return o;
}

static json_object *capacity_json(const struct fdm_capacity *cap)
{
	json_object *o;

	if (!cap->known)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "host_failures_tolerated",
			       json_object_new_int64(cap->host_failures_tolerated));
	json_object_object_add(o, "spare_kib", json_object_new_int64(cap->spare_kib));
	json_object_object_add(o, "needed_kib", json_object_new_int64((int64_t)cap->needed_kib));
	return o;
}

static json_object *view_json(const char *view, bool partial, const uint64_t *age_ms)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "view", json_object_new_string(view));
	json_object_object_add(o, "partial", json_object_new_boolean(partial));
	json_object_object_add(o, "age_ms", age_ms != NULL ?
			       json_object_new_int64((int64_t)*age_ms) : NULL);
	return o;
}

/* Our own table: the master's, or what we read with no master to ask. */
static void own_table(const struct fdm_core *c, json_object *o)
{
	json_object *arr = json_object_new_array();
	struct fdm_capacity cap = { .known = false };
	struct fdm_vm_row row;

	for (size_t i = 0; i < c->ha.n_vms; i++)
		if (fdm_vmview_row(c, i, &row))
			json_object_array_add(arr, row_json(&row));
	json_object_object_add(o, "vms", arr);
	if (c->role == FDM_ROLE_MASTER)
		fdm_vmview_capacity(c, &cap);
	json_object_object_add(o, "vms_view", view_json(c->role == FDM_ROLE_MASTER ?
							"master" : "this host", false, NULL));
	json_object_object_add(o, "capacity", capacity_json(&cap));
}

void fdm_status_vms(const struct fdm_core *c, uint64_t now, json_object *o)
{
	const struct fdm_master_vms *mv;
	json_object *arr;
	uint64_t age;

	if (c->role != FDM_ROLE_SLAVE) {
		own_table(c, o);
		return;
	}
	mv = fdm_vmview_master(c);
	arr = json_object_new_array();
	if (mv == NULL) {
		json_object_object_add(o, "vms", arr);
		json_object_object_add(o, "vms_view", view_json("none yet", false, NULL));
		json_object_object_add(o, "capacity", NULL);
		return;
	}
	for (size_t i = 0; i < mv->n; i++)
		json_object_array_add(arr, row_json(&mv->rows[i]));
	age = now >= mv->received_ms ? now - mv->received_ms : 0;
	json_object_object_add(o, "vms", arr);
	json_object_object_add(o, "vms_view", view_json("master", mv->partial, &age));
	json_object_object_add(o, "capacity", capacity_json(&mv->capacity));
}
