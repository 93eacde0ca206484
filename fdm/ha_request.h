/* An operator's VM protection request (fdmctl protect, unprotect, maintenance) as
 * JSON, both ways: the control socket's request into the core's struct
 * fdm_ha_request, validated against the config, and back into the one JSON form
 * a slave forwards to its master (ha_net.c), where it is parsed again. Pure: no
 * agent state, no I/O. */
#ifndef FDM_HA_REQUEST_H
#define FDM_HA_REQUEST_H

#include <json-c/json.h>

#include "fdm/core/ha.h"
#include "lib/config.h"

/* Is this control command a VM protection request? */
bool fdm_ha_request_command(const char *command);

/* Parse request object req ({"command": "protect", "vm": ..., ...}) into *r
 * (id 0, origin -1): NULL, or the error to answer. A maintenance request that
 * names no host is for default_host (the host where fdmctl ran). */
const char *fdm_ha_request_parse(const struct fdm_config *cfg, const char *default_host,
				 json_object *req, struct fdm_ha_request *r);

/* The same from the JSON text of a Forward (a peer's bytes, ha_net.c): NULL,
 * or the error to answer when it is not one JSON object or not a valid request. */
const char *fdm_ha_request_parse_text(const struct fdm_config *cfg, const char *default_host,
				      const char *text, struct fdm_ha_request *r);

/* The request as a slave forwards it: every field explicit (the host of a
 * maintenance, the datastore by name), nothing else. Returns the length
 * written, or 0 when it does not fit in len bytes (FDM_FORWARD_REQUEST_MAX
 * always fits what fdm_ha_request_parse accepts). */
size_t fdm_ha_request_format(const struct fdm_config *cfg, const struct fdm_ha_request *r,
			     char *buf, size_t len);

#endif
