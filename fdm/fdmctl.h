/* fdmctl's printing (fdmctl_print.c): the agent's answers as tables, or as the
 * JSON objects of INTERFACE.md with --json. */
#ifndef FDM_FDMCTL_H
#define FDM_FDMCTL_H

#include <json-c/json.h>
#include <stdbool.h>

/* view: "status", "hosts", "vms", "datastores", "election", "events" or
 * "message" (a command's one-line answer). */
void fdmctl_print_reply(json_object *reply, const char *view, bool json);
void fdmctl_print_json(json_object *o);

#endif
