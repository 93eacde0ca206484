/* What the delta lease says, for the agent's decisions and displays: whether it
 * is held and may be acted on, until when, what the last read saw, and the
 * names of its states and notes. Read-only views of struct fdm_lease; the state
 * machine itself is lease.c. */
#include "fdm/core/lease.h"

#include <stddef.h>

static const char *const state_names[] = {
	[FDM_LEASE_IDLE] = "idle",
	[FDM_LEASE_ACQUIRING] = "acquiring",
	[FDM_LEASE_CLAIMED] = "claimed",
	[FDM_LEASE_HELD] = "held",
	[FDM_LEASE_RELEASING] = "releasing",
};

static const char *const note_names[] = {
	[FDM_LEASE_NOTE_NONE] = "none",
	[FDM_LEASE_NOTE_ACQUIRED] = "acquired",
	[FDM_LEASE_NOTE_LOST] = "lost",
	[FDM_LEASE_NOTE_RACE_LOST] = "race-lost",
	[FDM_LEASE_NOTE_RELEASED] = "released",
	[FDM_LEASE_NOTE_RELEASE_FAILED] = "release-failed",
};

const char *fdm_lease_state_name(enum fdm_lease_state s)
{
	return (unsigned)s <= FDM_LEASE_RELEASING ? state_names[s] : "?";
}

const char *fdm_lease_note_name(enum fdm_lease_note n)
{
	return (unsigned)n <= FDM_LEASE_NOTE_RELEASE_FAILED ? note_names[n] : "?";
}

bool fdm_lease_held(const struct fdm_lease *l)
{
	return l->state == FDM_LEASE_HELD;
}

bool fdm_lease_acting(const struct fdm_lease *l, uint64_t now)
{
	return l->state == FDM_LEASE_HELD && l->wanted && now < fdm_lease_acting_until(l);
}

uint64_t fdm_lease_acting_until(const struct fdm_lease *l)
{
	if (l->state != FDM_LEASE_HELD || !l->have_mine)
		return 0;
	return l->last_write_issue_ms + l->t.acting_ms;
}

const char *fdm_lease_last_owner(const struct fdm_lease *l)
{
	return l->seen && l->last.kind == FDM_LEASE_VIEW_VALID ? l->last.rec.owner : "";
}

uint64_t fdm_lease_last_write_ms(const struct fdm_lease *l)
{
	return l->state == FDM_LEASE_HELD && l->have_mine ? l->last_write_issue_ms : 0;
}

const struct fdm_lease_view *fdm_lease_last_view(const struct fdm_lease *l, uint64_t *since_ms)
{
	if (!l->seen)
		return NULL;
	if (since_ms != NULL)
		*since_ms = l->unchanged_since_ms;
	return &l->last;
}
