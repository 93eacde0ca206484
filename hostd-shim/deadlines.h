/* The protected set of hostd-shim (DESIGN.md safety point 5): which domains fdm
 * protects, each with the absolute CLOCK_BOOTTIME time (ms) after which it must
 * not run here, and the domains the shim powered off on its own that fdm has not
 * yet been told about. Pure data and rules: no clock, no I/O, no libvirt; the
 * shim's fence.c drives it and statefile.c persists it. */
#ifndef FDM_SHIM_DEADLINES_H
#define FDM_SHIM_DEADLINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/fdm.pb-c.h"

#define SHIM_NAME_MAX        256   /* domain name, incl. NUL */
#define SHIM_UUID_MAX        37    /* canonical 8-4-4-4-12 form, incl. NUL */
#define SHIM_MAX_DEADLINES   4096
#define SHIM_MAX_FENCED      4096  /* oldest dropped past this (logged) */
#define SHIM_FENCE_RETRY_MS  1000  /* a failed power-off is tried again after this */

/* A domain is named by UUID, by name, or both (then the UUID decides). */
struct shim_domref {
	char name[SHIM_NAME_MAX];
	char uuid[SHIM_UUID_MAX];
};

/* One protected domain. Its deadline is *in force* once it has passed and until
 * a power-off at that deadline has completed (the domain was seen off here):
 * while in force, nothing a client sends moves or removes it (DESIGN.md
 * safety point 5), and a failed power-off is tried again every
 * SHIM_FENCE_RETRY_MS until it completes. */
struct shim_deadline {
	struct shim_domref ref;
	uint64_t boottime_ms;
	bool fence_issued;    /* a power-off job for it is running now */
	bool again;           /* it started while that job ran: power off once more */
	bool seen_off;        /* a power-off at this deadline completed */
	bool released;        /* fdm let it go while it was in force (a replace left
				 it out, a clean stop): dropped once seen off */
	uint64_t retry_ms;    /* a failed power-off is tried again from this time */
	unsigned attempts;    /* power-offs issued for this deadline (for the log) */
};

struct shim_fenced {
	struct shim_domref ref;    /* both fields filled from libvirt */
	uint64_t deadline_boottime_ms;
	uint64_t fenced_boottime_ms;
};

struct shim_deadlines {
	struct shim_deadline *v;
	size_t n;
	struct shim_fenced *fenced;
	size_t n_fenced;
};

void shim_deadlines_init(struct shim_deadlines *d);
void shim_deadlines_free(struct shim_deadlines *d);

/* Fill ref from a protobuf DomainRef, checking lengths and the UUID's form
 * (lower-cased). false with a one-line reason in why. */
bool shim_domref_from_pb(struct shim_domref *ref, const Fdm__DomainRef *pb,
			 char *why, size_t whylen);

/* Does the domain (name, uuid) answer to ref? */
bool shim_domref_matches(const struct shim_domref *ref, const char *name, const char *uuid);

/* Has dl's deadline passed with its domain not yet seen off? */
bool shim_deadline_in_force(const struct shim_deadline *dl, uint64_t now);

/* What a replace changed: values (persist), the set of domains (log), and
 * whether a deadline in force was held against what the request asked. */
enum shim_deadlines_change {
	SHIM_DL_VALUES = 1 << 0,
	SHIM_DL_MEMBERS = 1 << 1,
	SHIM_DL_HELD = 1 << 2,
};

/* Replace the whole set from a request (validated first: nothing changes on
 * error). A domain whose deadline value is unchanged keeps its flags, so a
 * refresh with the same values does not fence twice. A deadline in force at
 * `now` stays as it is, whatever the request says: a later value is ignored,
 * and one the request leaves out is kept, released, until its domain is seen
 * off. Returns 0, or -1 with why. *changed gets a mask of
 * shim_deadlines_change. */
int shim_deadlines_replace(struct shim_deadlines *d, Fdm__DomainDeadline *const *pb,
			   size_t n, uint64_t now, unsigned *changed, char *why, size_t whylen);

/* Set (add or move) the deadline of one domain, as a power-on with a deadline
 * does. -1 when the set is full, -2 when its deadline is in force (refused). */
int shim_deadlines_put(struct shim_deadlines *d, const struct shim_domref *ref,
		       uint64_t boottime_ms, uint64_t now);

/* The entry with exactly this ref (as stored), or NULL. */
struct shim_deadline *shim_deadlines_find_ref(struct shim_deadlines *d,
					      const struct shim_domref *ref);

/* The deadline that applies to domain (name, uuid), or NULL. */
struct shim_deadline *shim_deadlines_find(struct shim_deadlines *d, const char *name,
					  const char *uuid);

/* A clean stop of fdm: forget every deadline but those in force at `now`,
 * which are released (kept until seen off). Fenced entries stay. Returns how
 * many were kept. */
size_t shim_deadlines_clear(struct shim_deadlines *d, uint64_t now);

/* When the next power-off is due: the earliest deadline (or its retry time)
 * of a domain not seen off, with no power-off running; UINT64_MAX when none. */
uint64_t shim_deadlines_next(const struct shim_deadlines *d);

/* Is a power-off of dl due at `now` (passed, not seen off, none running, its
 * retry time reached)? */
bool shim_deadline_due(const struct shim_deadline *dl, uint64_t now);

/* A power-off of dl is being issued. */
void shim_deadline_issued(struct shim_deadline *dl);

/* Domain (name, uuid) was seen running at `now`. Returns its entry when it must
 * be powered off now (its deadline passed; an entry seen off is in force
 * again); NULL when it may run, or when a power-off already runs (that one is
 * then followed by another). */
struct shim_deadline *shim_deadlines_running(struct shim_deadlines *d, const char *name,
					     const char *uuid, uint64_t now);

/* How a power-off at a deadline ended. */
enum shim_fence_outcome {
	SHIM_FENCE_OFF,          /* the domain is off (or not here) */
	SHIM_FENCE_LIBVIRT_AWAY, /* not tried: due again once libvirt is back */
	SHIM_FENCE_FAILED,       /* libvirt refused: due again after SHIM_FENCE_RETRY_MS */
};

/* Record the outcome of the power-off of entry ref at `now`. An entry released
 * by fdm is removed once seen off. */
void shim_deadlines_fence_result(struct shim_deadlines *d, const struct shim_domref *ref,
				 enum shim_fence_outcome outcome, uint64_t now);

/* Record a power-off done on the shim's own account. */
void shim_deadlines_add_fenced(struct shim_deadlines *d, const char *name,
			       const char *uuid, uint64_t deadline_ms, uint64_t fenced_ms);

/* The set and the fenced list as protobuf arrays, for a reply or the state
 * file. The strings point into d: keep d unchanged while they are used. */
struct shim_deadlines_pb {
	Fdm__DomainDeadline **deadlines;   /* n pointers */
	size_t n;
	Fdm__FencedDomain **fenced;        /* n_fenced pointers */
	size_t n_fenced;
	Fdm__DomainDeadline *dl_store;
	Fdm__DomainRef *ref_store;
	Fdm__FencedDomain *fenced_store;
};

/* 0, or -1 when out of memory (pb is then empty, nothing to free). */
int shim_deadlines_to_pb(const struct shim_deadlines *d, struct shim_deadlines_pb *pb);
void shim_deadlines_pb_free(struct shim_deadlines_pb *pb);

#endif
