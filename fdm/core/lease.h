/* The delta lease on a datastore's protectedlist (DESIGN.md safety point 1), as a
 * pure state machine: no I/O, no clock, no malloc, no threads. The caller (the
 * agent, ds-tool, a simulator) performs the one action it returns and reports the
 * outcome with the time on its own monotonic clock:
 *
 *   act = fdm_lease_want(&l, now);            // or _tick/_read_done/_write_done
 *   act.io == FDM_LEASE_IO_READ   -> read the lease record, then fdm_lease_read_done
 *   act.io == FDM_LEASE_IO_WRITE  -> write act.write,      then fdm_lease_write_done
 *   act.io == FDM_LEASE_IO_NONE   -> call fdm_lease_tick at act.wake_ms (or later)
 *
 * At most one I/O is in flight; every I/O must be bounded by io_timeout from the
 * moment the action was returned (report a timeout as a failure, at its deadline).
 * A completion reported later than that counts as a failure here, whatever it
 * says (DESIGN.md point 1): its content is stale, and a write that took longer
 * may land later than the waits below allow for.
 * Every record written carries this host's io_timeout and expiry; a contender
 * waits the larger of its own and those it has read here, or that a peer has
 * announced in its packets (fdm_lease_note_peer_timing; lease.c says why).
 * The algorithm is sanlock's delta lease after Chockler and Malkhi, "Light-Weight
 * Leases for Storage-Centric Coordination" (2004); lease.c explains each wait. */
#ifndef FDM_CORE_LEASE_H
#define FDM_CORE_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/lease_record.h"

struct fdm_lease_timing {
	uint32_t io_ms;                /* io_timeout: renewal period, bound on each I/O */
	uint32_t expiry_ms;            /* content unchanged this long -> may be taken */
	uint32_t acquire_wait_ms;      /* write, wait this long, re-read */
	uint32_t acting_ms;            /* owner acts this long after a write's issue */
};

enum fdm_lease_state {
	FDM_LEASE_IDLE,        /* not wanted: observe the record every io */
	FDM_LEASE_ACQUIRING,   /* wanted: wait for free, or unchanged for expiry */
	FDM_LEASE_CLAIMED,     /* our record written: waiting to re-read it */
	FDM_LEASE_HELD,        /* ours: read-check-write every io */
	FDM_LEASE_RELEASING,   /* read, and if still ours write it free */
};

enum fdm_lease_io { FDM_LEASE_IO_NONE, FDM_LEASE_IO_READ, FDM_LEASE_IO_WRITE };

enum fdm_lease_note {
	FDM_LEASE_NOTE_NONE,
	FDM_LEASE_NOTE_ACQUIRED,        /* held from now */
	FDM_LEASE_NOTE_LOST,            /* held no more (why says why); acquiring again */
	FDM_LEASE_NOTE_RACE_LOST,       /* our acquisition was overwritten */
	FDM_LEASE_NOTE_RELEASED,        /* released; release_ms: when its write was issued */
	FDM_LEASE_NOTE_RELEASE_FAILED,  /* the release write failed and may land late,
					 * from release_ms on; or was not ours any more */
};

struct fdm_lease_action {
	enum fdm_lease_io io;
	struct fdm_lease_rec write;    /* FDM_LEASE_IO_WRITE: this record */
	uint64_t wake_ms;              /* FDM_LEASE_IO_NONE: call fdm_lease_tick then */
	enum fdm_lease_note note;
	const char *why;               /* static text for the note, for the log */
	uint64_t release_ms;
};

struct fdm_lease {
	char self[FDM_LEASE_ID_MAX];
	struct fdm_lease_timing t;
	uint64_t nonce_seed;
	uint64_t attempts;

	enum fdm_lease_state state;
	bool wanted;
	bool paused;                   /* no acquisition or renewal write (fdm_lease_pause) */
	enum fdm_lease_io pending;     /* I/O in flight */
	uint64_t pending_issued;       /* when it was asked for */
	struct fdm_lease_rec pending_rec;
	uint64_t next_read_ms;         /* periodic read due */

	/* What this host saw, and since when it has been unchanged. */
	bool seen;
	struct fdm_lease_view last;
	uint64_t unchanged_since_ms;
	uint64_t max_generation;
	/* The largest timing any writer announced in a record read here, or any
	 * configured peer in an authenticated packet (0: none). Never lowered. */
	uint32_t max_io_seen_ms;
	uint32_t max_expiry_seen_ms;

	/* Our record: the last one we wrote successfully. */
	bool have_mine;
	struct fdm_lease_rec mine;
	uint64_t last_write_issue_ms;  /* issue time of that write */
	uint64_t claim_done_ms;        /* acquisition write completed */
	bool release_read_done;

	uint64_t stray_events;         /* completions with no I/O in flight (caller bug) */
	uint64_t late_events;          /* completions after issue + io: taken as failures */
};

/* The lease's share of the agent's derived timing (fdm/core/timing.h). */
struct fdm_timing;
void fdm_lease_timing_of(const struct fdm_timing *t, struct fdm_lease_timing *out);

void fdm_lease_init(struct fdm_lease *l, const char *self, const struct fdm_lease_timing *t,
		    uint64_t nonce_seed, uint64_t now_ms);

/* Start holding (acquire, then renew until released or lost). */
struct fdm_lease_action fdm_lease_want(struct fdm_lease *l, uint64_t now_ms);
/* Stop holding: stops acting at once, then writes the record free if still ours. */
struct fdm_lease_action fdm_lease_release(struct fdm_lease *l, uint64_t now_ms);
/* Paused: write nothing that extends our hold (no acquisition, no renewal, no
 * claim re-read) until unpaused; reads, the loss at the renewal limit and a
 * release still happen. A master that hears no peer stops renewing before it
 * checks for its own isolation (DESIGN.md point 4), so that no renewal of
 * its can come after that check. */
struct fdm_lease_action fdm_lease_pause(struct fdm_lease *l, bool paused, uint64_t now_ms);
/* A timer (or anything) woke the caller. */
struct fdm_lease_action fdm_lease_tick(struct fdm_lease *l, uint64_t now_ms);
/* The READ finished: ok false on error/timeout (then view is ignored). */
struct fdm_lease_action fdm_lease_read_done(struct fdm_lease *l, uint64_t now_ms, bool ok,
					    const struct fdm_lease_view *view);
/* The WRITE finished (ok false: failed or timed out; it may still land late). */
struct fdm_lease_action fdm_lease_write_done(struct fdm_lease *l, uint64_t now_ms, bool ok);

/* A configured peer announced this io_timeout and the lease expiry derived
 * from it (lib/timing.c) in an authenticated packet: the waits cover it from
 * now on, even if it never writes here (see plan() in lease.c). Only raises. */
void fdm_lease_note_peer_timing(struct fdm_lease *l, uint32_t io_ms, uint32_t expiry_ms);

/* Queries. */
bool fdm_lease_held(const struct fdm_lease *l);
/* May the owner act on the lease (restart VMs) at now? */
bool fdm_lease_acting(const struct fdm_lease *l, uint64_t now_ms);
/* Until when acting holds without another successful renewal (0: not held). */
uint64_t fdm_lease_acting_until(const struct fdm_lease *l);
/* The owner the last good read named ("" free or unknown). */
const char *fdm_lease_last_owner(const struct fdm_lease *l);
/* Issue time of our last successful write while held (the "last renewal" a
 * master reports in its heartbeats), 0 when not held. */
uint64_t fdm_lease_last_write_ms(const struct fdm_lease *l);
/* What the last good read saw and since when (completion of the first read that
 * saw it) it has been unchanged; NULL before any good read. */
const struct fdm_lease_view *fdm_lease_last_view(const struct fdm_lease *l, uint64_t *since_ms);
/* The waits a contender uses now: on a record that is not free, and between its
 * acquisition write and the re-read (its own, or longer ones read in records). */
uint64_t fdm_lease_expiry_wait(const struct fdm_lease *l);
uint64_t fdm_lease_claim_wait(const struct fdm_lease *l);

const char *fdm_lease_state_name(enum fdm_lease_state s);
const char *fdm_lease_note_name(enum fdm_lease_note n);

#endif
