/* A protobuf-c message as JSON, by its descriptor: present fields only (oneof
 * members only when chosen), enums by name, nested messages as objects,
 * repeated fields as arrays. hostd-shim-cli prints replies and events with it. */
#ifndef FDM_SHIM_PBJSON_H
#define FDM_SHIM_PBJSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/* A new object (json_object_put it); an empty one for NULL. */
json_object *shim_pb_to_json(const ProtobufCMessage *m);

#endif
