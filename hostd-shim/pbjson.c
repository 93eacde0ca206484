/* Any protobuf-c message as a JSON object, by its descriptor (pbjson.h). */
#include "hostd-shim/pbjson.h"

#include <stdbool.h>
#include <stdint.h>

static json_object *value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	const ProtobufCEnumValue *ev;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return json_object_new_string(*(char *const *)p ? *(char *const *)p : "");
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_object_new_uint64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
		return json_object_new_int64(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_object_new_uint64(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
		return json_object_new_int(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_object_new_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		return ev ? json_object_new_string(ev->name) : json_object_new_int(*(const int *)p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return shim_pb_to_json(*(ProtobufCMessage *const *)p);
	default:
		return NULL;
	}
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
		return 8;
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

/* Present fields only; oneof members only when chosen. */
static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset) > 0;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *)(base + f->offset) != NULL;
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
}

json_object *shim_pb_to_json(const ProtobufCMessage *m)
{
	json_object *o = json_object_new_object();
	unsigned i;

	if (m == NULL)
		return o;
	for (i = 0; i < m->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
		const char *p = (const char *)m + f->offset;

		if (!field_present(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset), k;
			const char *arr = *(char *const *)p;
			json_object *a = json_object_new_array();

			for (k = 0; k < n; k++)
				json_object_array_add(a, value_to_json(f, arr + k * value_size(f)));
			json_object_object_add(o, f->name, a);
		} else {
			json_object_object_add(o, f->name, value_to_json(f, p));
		}
	}
	return o;
}
