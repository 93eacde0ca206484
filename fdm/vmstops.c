/* The stop queue and its once-only rule (vmstops.h). */
#include "fdm/vmstops.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

void fdm_vmstops_init(struct fdm_vmstops *s)
{
	memset(s, 0, sizeof(*s));
}

void fdm_vmstops_free(struct fdm_vmstops *s)
{
	free(s->reported);
	s->reported = NULL;
	s->n_reported = s->cap_reported = 0;
}

static struct fdm_vmstops_reported *find_reported(struct fdm_vmstops *s, const char *uuid)
{
	size_t i;

	for (i = 0; i < s->n_reported; i++)
		if (strcmp(s->reported[i].uuid, uuid) == 0)
			return &s->reported[i];
	return NULL;
}

static void forget(struct fdm_vmstops *s, struct fdm_vmstops_reported *r)
{
	*r = s->reported[--s->n_reported];
}

/* Remember uuid as reported off; false when it already was. */
static bool mark_reported(struct fdm_vmstops *s, const char *uuid, uint64_t now)
{
	struct fdm_vmstops_reported *r;
	size_t i, oldest = 0;

	if (find_reported(s, uuid) != NULL)
		return false;
	if (s->n_reported == FDM_VMSTOPS_REPORTED_MAX) {
		for (i = 1; i < s->n_reported; i++)
			if (s->reported[i].at_ms < s->reported[oldest].at_ms)
				oldest = i;
		forget(s, &s->reported[oldest]);
	}
	if (s->n_reported == s->cap_reported) {
		size_t cap = s->cap_reported ? 2 * s->cap_reported : 16;

		r = realloc(s->reported, cap * sizeof(*r));
		if (r == NULL)
			return true;   /* report it: a duplicate is the lesser harm */
		s->reported = r;
		s->cap_reported = cap;
	}
	r = &s->reported[s->n_reported++];
	fdm_strlcpy(r->uuid, uuid, sizeof(r->uuid));
	r->at_ms = now;
	return true;
}

/* The reason's name for the log. The shim's reason is input: one this build
 * does not know (a newer shim, a bad frame) has no name, and is said as such. */
static const char *reason_name(Fdm__StopReason reason)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&fdm__stop_reason__descriptor, reason);

	return v != NULL ? v->name : "a reason unknown here";
}

static void queue(struct fdm_vmstops *s, const char *name, const char *uuid,
		  Fdm__StopReason reason, const char *detail, bool from_listing, uint64_t now)
{
	struct fdm_domain_stop *st;

	if (!mark_reported(s, uuid, now))
		return;
	if (s->n == FDM_VMHOST_STOPS_MAX) {
		s->first = (s->first + 1) % FDM_VMHOST_STOPS_MAX;
		s->n--;
		s->dropped++;
	}
	st = &s->q[(s->first + s->n++) % FDM_VMHOST_STOPS_MAX];
	memset(st, 0, sizeof(*st));
	fdm_strlcpy(st->name, name, sizeof(st->name));
	fdm_strlcpy(st->uuid, uuid, sizeof(st->uuid));
	st->reason = reason;
	fdm_strlcpy(st->detail, detail ? detail : "", sizeof(st->detail));
	st->at_ms = now;
	st->from_listing = from_listing;
	fdm_info("vm %s stopped here: %s%s%s%s%s", name,
		 reason_name(reason),
		 st->detail[0] ? " (" : "", st->detail, st->detail[0] ? ")" : "",
		 from_listing ? ", seen in a listing (no event)" : "");
}

void fdm_vmstops_event(struct fdm_vmstops *s, const char *name, const char *uuid,
		       Fdm__StopReason reason, const char *detail, uint64_t now_ms)
{
	queue(s, name, uuid, reason, detail, false, now_ms);
}

void fdm_vmstops_started(struct fdm_vmstops *s, const char *uuid)
{
	struct fdm_vmstops_reported *r = find_reported(s, uuid);

	if (r != NULL)
		forget(s, r);
}

static const struct fdm_domain *find_uuid(const struct fdm_domain *v, size_t n, const char *uuid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].uuid, uuid) == 0)
			return &v[i];
	return NULL;
}

void fdm_vmstops_listing(struct fdm_vmstops *s, const struct fdm_domain *old, size_t n_old,
			 const struct fdm_domain *nv, size_t n, uint64_t sent_ms, uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < n_old; i++) {
		const struct fdm_domain *now = find_uuid(nv, n, old[i].uuid);

		if (!old[i].active || (now != NULL && now->active))
			continue;
		if (now == NULL)
			queue(s, old[i].name, old[i].uuid, FDM__STOP_REASON__STOP_UNKNOWN, "gone",
			      true, now_ms);
		else
			queue(s, now->name, now->uuid, now->has_stop_reason ? now->stop_reason :
			      FDM__STOP_REASON__STOP_UNKNOWN, "", true, now_ms);
	}
	for (i = 0; i < s->n_reported;) {
		struct fdm_vmstops_reported *r = &s->reported[i];
		const struct fdm_domain *now = find_uuid(nv, n, r->uuid);

		/* Only a listing asked for after the report speaks of after it. */
		if (r->at_ms < sent_ms && (now == NULL || now->active))
			forget(s, r);
		else
			i++;
	}
}

bool fdm_vmstops_next(struct fdm_vmstops *s, struct fdm_domain_stop *out)
{
	if (s->n == 0)
		return false;
	*out = s->q[s->first];
	s->first = (s->first + 1) % FDM_VMHOST_STOPS_MAX;
	s->n--;
	return true;
}
