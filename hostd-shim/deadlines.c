/* The protected set and the fenced list (deadlines.h). Small arrays searched
 * linearly: fdm protects tens of domains per host, and every change is driven
 * by one request, so clarity beats a hash table here. */
#include "hostd-shim/deadlines.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

void shim_deadlines_init(struct shim_deadlines *d)
{
	memset(d, 0, sizeof(*d));
}

void shim_deadlines_free(struct shim_deadlines *d)
{
	free(d->v);
	free(d->fenced);
	memset(d, 0, sizeof(*d));
}

static bool valid_uuid(const char *s)
{
	static const int dash_at[] = { 8, 13, 18, 23 };
	size_t i, k = 0;

	if (strlen(s) != SHIM_UUID_MAX - 1)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (k < 4 && (int)i == dash_at[k]) {
			if (s[i] != '-')
				return false;
			k++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= SHIM_NAME_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

bool shim_domref_from_pb(struct shim_domref *ref, const Fdm__DomainRef *pb,
			 char *why, size_t whylen)
{
	bool has_name = pb != NULL && pb->name != NULL && pb->name[0] != '\0';
	bool has_uuid = pb != NULL && pb->uuid != NULL && pb->uuid[0] != '\0';
	size_t i;

	memset(ref, 0, sizeof(*ref));
	if (!has_name && !has_uuid) {
		snprintf(why, whylen, "domain: needs a name or a uuid");
		return false;
	}
	if (has_name && !valid_name(pb->name)) {
		snprintf(why, whylen, "domain name: empty, too long or has control characters");
		return false;
	}
	if (has_uuid && !valid_uuid(pb->uuid)) {
		snprintf(why, whylen, "domain uuid: not of the form 8-4-4-4-12 hex digits");
		return false;
	}
	if (has_name)
		fdm_strlcpy(ref->name, pb->name, sizeof(ref->name));
	if (has_uuid) {
		for (i = 0; pb->uuid[i] != '\0'; i++)
			ref->uuid[i] = (char)tolower((unsigned char)pb->uuid[i]);
		ref->uuid[i] = '\0';
	}
	return true;
}

bool shim_domref_matches(const struct shim_domref *ref, const char *name, const char *uuid)
{
	if (ref->uuid[0] != '\0')
		return uuid != NULL && strcasecmp(ref->uuid, uuid) == 0;
	return name != NULL && strcmp(ref->name, name) == 0;
}

static bool same_ref(const struct shim_domref *a, const struct shim_domref *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->uuid, b->uuid) == 0;
}

struct shim_deadline *shim_deadlines_find_ref(struct shim_deadlines *d,
					      const struct shim_domref *ref)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (same_ref(&d->v[i].ref, ref))
			return &d->v[i];
	return NULL;
}

bool shim_deadline_in_force(const struct shim_deadline *dl, uint64_t now)
{
	return dl->boottime_ms <= now && !dl->seen_off;
}

static bool listed(const struct shim_deadline *v, size_t n, const struct shim_domref *ref)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (same_ref(&v[i].ref, ref))
			return true;
	return false;
}

/* Parse and check the request into nv[0..n). */
static int parse_set(struct shim_deadline *nv, Fdm__DomainDeadline *const *pb, size_t n,
		     char *why, size_t whylen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!shim_domref_from_pb(&nv[i].ref, pb[i]->domain, why, whylen))
			return -1;
		if (listed(nv, i, &nv[i].ref)) {
			snprintf(why, whylen, "deadlines: domain %s given twice",
				 nv[i].ref.name[0] ? nv[i].ref.name : nv[i].ref.uuid);
			return -1;
		}
		nv[i].boottime_ms = pb[i]->boottime_ms;
	}
	return 0;
}

int shim_deadlines_replace(struct shim_deadlines *d, Fdm__DomainDeadline *const *pb,
			   size_t n, uint64_t now, unsigned *changed, char *why, size_t whylen)
{
	struct shim_deadline *nv;
	size_t i, k;

	*changed = 0;
	if (n > SHIM_MAX_DEADLINES) {
		snprintf(why, whylen, "deadlines: %zu given, at most %d", n, SHIM_MAX_DEADLINES);
		return -1;
	}
	/* Room for the request and for every old entry in force that it leaves out. */
	if ((nv = calloc(n + d->n + 1, sizeof(*nv))) == NULL) {
		snprintf(why, whylen, "deadlines: out of memory");
		return -1;
	}
	if (parse_set(nv, pb, n, why, whylen) < 0) {
		free(nv);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct shim_deadline *old = shim_deadlines_find_ref(d, &nv[i].ref);

		if (old == NULL) {
			*changed |= SHIM_DL_VALUES | SHIM_DL_MEMBERS;
		} else if (shim_deadline_in_force(old, now)) {
			/* Passed: its value stands until the domain is seen off. */
			if (old->boottime_ms != nv[i].boottime_ms)
				*changed |= SHIM_DL_HELD;
			if (old->released)
				*changed |= SHIM_DL_MEMBERS;
			nv[i] = *old;
			nv[i].released = false;
		} else if (old->boottime_ms == nv[i].boottime_ms) {
			nv[i] = *old;
		} else {
			*changed |= SHIM_DL_VALUES;
		}
	}
	for (i = 0, k = n; i < d->n; i++) {
		const struct shim_deadline *old = &d->v[i];

		if (listed(nv, n, &old->ref))
			continue;
		if (!old->released)
			*changed |= SHIM_DL_VALUES | SHIM_DL_MEMBERS;
		if (shim_deadline_in_force(old, now)) {
			*changed |= SHIM_DL_HELD;
			nv[k] = *old;
			nv[k++].released = true;
		}
	}
	free(d->v);
	d->v = nv;
	d->n = k;
	return 0;
}

static void reset(struct shim_deadline *dl, uint64_t boottime_ms)
{
	struct shim_domref ref = dl->ref;

	memset(dl, 0, sizeof(*dl));
	dl->ref = ref;
	dl->boottime_ms = boottime_ms;
}

int shim_deadlines_put(struct shim_deadlines *d, const struct shim_domref *ref,
		       uint64_t boottime_ms, uint64_t now)
{
	struct shim_deadline *dl = shim_deadlines_find(d, ref->name, ref->uuid), *nv;

	if (dl != NULL && shim_deadline_in_force(dl, now))
		return -2;
	if (dl == NULL) {
		if (d->n >= SHIM_MAX_DEADLINES)
			return -1;
		nv = realloc(d->v, (d->n + 1) * sizeof(*nv));
		if (nv == NULL)
			return -1;
		d->v = nv;
		dl = &d->v[d->n++];
		dl->ref = *ref;
	}
	reset(dl, boottime_ms);
	return 0;
}

struct shim_deadline *shim_deadlines_find(struct shim_deadlines *d, const char *name,
					  const char *uuid)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (shim_domref_matches(&d->v[i].ref, name, uuid))
			return &d->v[i];
	return NULL;
}

size_t shim_deadlines_clear(struct shim_deadlines *d, uint64_t now)
{
	size_t i, k = 0;

	for (i = 0; i < d->n; i++) {
		if (!shim_deadline_in_force(&d->v[i], now))
			continue;
		d->v[k] = d->v[i];
		d->v[k++].released = true;
	}
	d->n = k;
	if (k == 0) {
		free(d->v);
		d->v = NULL;
	}
	return k;
}

uint64_t shim_deadlines_next(const struct shim_deadlines *d)
{
	uint64_t next = UINT64_MAX;
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct shim_deadline *dl = &d->v[i];
		uint64_t due = dl->retry_ms > dl->boottime_ms ? dl->retry_ms : dl->boottime_ms;

		if (!dl->fence_issued && !dl->seen_off && due < next)
			next = due;
	}
	return next;
}

bool shim_deadline_due(const struct shim_deadline *dl, uint64_t now)
{
	return !dl->fence_issued && shim_deadline_in_force(dl, now) && dl->retry_ms <= now;
}

void shim_deadline_issued(struct shim_deadline *dl)
{
	dl->fence_issued = true;
	dl->again = false;
	dl->attempts++;
}

struct shim_deadline *shim_deadlines_running(struct shim_deadlines *d, const char *name,
					     const char *uuid, uint64_t now)
{
	struct shim_deadline *dl = shim_deadlines_find(d, name, uuid);

	if (dl == NULL || dl->boottime_ms > now)
		return NULL;
	/* Seen off before, running now: in force again. */
	dl->seen_off = false;
	if (dl->fence_issued) {
		/* That power-off may have looked before the start: one more after it. */
		dl->again = true;
		return NULL;
	}
	return dl;
}

static void remove_entry(struct shim_deadlines *d, struct shim_deadline *dl)
{
	size_t i = (size_t)(dl - d->v);

	memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof(*dl));
	d->n--;
}

void shim_deadlines_fence_result(struct shim_deadlines *d, const struct shim_domref *ref,
				 enum shim_fence_outcome outcome, uint64_t now)
{
	struct shim_deadline *dl = shim_deadlines_find_ref(d, ref);

	/* A deadline in force never changes or leaves while its power-off runs. */
	if (dl == NULL)
		return;
	dl->fence_issued = false;
	switch (outcome) {
	case SHIM_FENCE_OFF:
		if (dl->again) {
			dl->again = false;
			dl->retry_ms = 0;
			return;
		}
		dl->seen_off = true;
		dl->attempts = 0;
		if (dl->released)
			remove_entry(d, dl);
		return;
	case SHIM_FENCE_LIBVIRT_AWAY:
		dl->again = false;
		dl->retry_ms = 0;
		return;
	case SHIM_FENCE_FAILED:
		dl->again = false;
		dl->retry_ms = now + SHIM_FENCE_RETRY_MS;
		return;
	}
}

void shim_deadlines_add_fenced(struct shim_deadlines *d, const char *name,
			       const char *uuid, uint64_t deadline_ms, uint64_t fenced_ms)
{
	struct shim_fenced *f, *nv;

	if (d->n_fenced >= SHIM_MAX_FENCED) {
		/* fdm has not asked for a very long time: keep the newest. */
		memmove(d->fenced, d->fenced + 1, (d->n_fenced - 1) * sizeof(*f));
		d->n_fenced--;
	}
	nv = realloc(d->fenced, (d->n_fenced + 1) * sizeof(*nv));
	if (nv == NULL)
		return;
	d->fenced = nv;
	f = &d->fenced[d->n_fenced++];
	memset(f, 0, sizeof(*f));
	fdm_strlcpy(f->ref.name, name ? name : "", sizeof(f->ref.name));
	fdm_strlcpy(f->ref.uuid, uuid ? uuid : "", sizeof(f->ref.uuid));
	f->deadline_boottime_ms = deadline_ms;
	f->fenced_boottime_ms = fenced_ms;
}

static void deadline_to_pb(const struct shim_deadline *dl, Fdm__DomainDeadline *pb,
			   Fdm__DomainRef *ref)
{
	fdm__domain_ref__init(ref);
	fdm__domain_deadline__init(pb);
	if (dl->ref.name[0] != '\0')
		ref->name = (char *)dl->ref.name;
	if (dl->ref.uuid[0] != '\0')
		ref->uuid = (char *)dl->ref.uuid;
	pb->domain = ref;
	pb->boottime_ms = dl->boottime_ms;
}

static void fenced_to_pb(const struct shim_fenced *f, Fdm__FencedDomain *pb)
{
	fdm__fenced_domain__init(pb);
	pb->name = (char *)f->ref.name;
	pb->uuid = (char *)f->ref.uuid;
	pb->deadline_boottime_ms = f->deadline_boottime_ms;
	pb->fenced_boottime_ms = f->fenced_boottime_ms;
}

int shim_deadlines_to_pb(const struct shim_deadlines *d, struct shim_deadlines_pb *pb)
{
	size_t i;

	memset(pb, 0, sizeof(*pb));
	pb->deadlines = calloc(d->n + 1, sizeof(*pb->deadlines));
	pb->dl_store = calloc(d->n + 1, sizeof(*pb->dl_store));
	pb->ref_store = calloc(d->n + 1, sizeof(*pb->ref_store));
	pb->fenced = calloc(d->n_fenced + 1, sizeof(*pb->fenced));
	pb->fenced_store = calloc(d->n_fenced + 1, sizeof(*pb->fenced_store));
	if (!pb->deadlines || !pb->dl_store || !pb->ref_store || !pb->fenced ||
	    !pb->fenced_store) {
		shim_deadlines_pb_free(pb);
		return -1;
	}
	for (i = 0; i < d->n; i++) {
		deadline_to_pb(&d->v[i], &pb->dl_store[i], &pb->ref_store[i]);
		pb->deadlines[i] = &pb->dl_store[i];
	}
	for (i = 0; i < d->n_fenced; i++) {
		fenced_to_pb(&d->fenced[i], &pb->fenced_store[i]);
		pb->fenced[i] = &pb->fenced_store[i];
	}
	pb->n = d->n;
	pb->n_fenced = d->n_fenced;
	return 0;
}

void shim_deadlines_pb_free(struct shim_deadlines_pb *pb)
{
	free(pb->deadlines);
	free(pb->dl_store);
	free(pb->ref_store);
	free(pb->fenced);
	free(pb->fenced_store);
	memset(pb, 0, sizeof(*pb));
}
