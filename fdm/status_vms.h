/* The VM part of `fdmctl status` (INTERFACE.md "vms"): the master's table on
 * every host, and admission control's capacity. Apart from status.c so that
 * unit tests build it from a core alone. */
#ifndef FDM_STATUS_VMS_H
#define FDM_STATUS_VMS_H

#include <json-c/json.h>
#include <stdint.h>

#include "fdm/core/core.h"

/* Adds "vms", "vms_view" and "capacity" to o (a status object). */
void fdm_status_vms(const struct fdm_core *c, uint64_t now, json_object *o);

#endif
