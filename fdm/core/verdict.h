/* The master's verdict on one host for one datastore (DESIGN.md safety point 2):
 * is it dead for d, so that the VMs homed on d that it ran may be restarted? Pure.
 *
 * Dead for d: the master has had no network heartbeat from the host and has seen
 * its hb record on d unchanged, both for host_dead, both counted from no earlier
 * than the moment the master acquired d's lease (what it saw before may have been
 * seen while another master held d and moved the host's VMs). "Unchanged" is
 * proven by a read ISSUED at least host_dead after the first read that saw the
 * current content: a read issued earlier may have been served before a write the
 * host made meanwhile. A host whose hb on d is alive is never dead for d. */
#ifndef FDM_CORE_VERDICT_H
#define FDM_CORE_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fdm_verdict { FDM_VERDICT_CONNECTED, FDM_VERDICT_UNREACHABLE, FDM_VERDICT_DEAD };

/* What the master knows of host h, for datastore d. Times on its own clock. */
struct fdm_verdict_in {
	const char *host;
	const char *datastore;
	bool net_heard;                /* a slave heartbeat naming us ever arrived */
	uint64_t net_last_ms;          /* ... the last one, at its receipt */
	uint64_t connected_window_ms;  /* heard within this: connected */
	bool hb_seen;                  /* a good read of its hb record on d */
	uint64_t hb_unchanged_since_ms;/* completion of the first read that saw it */
	uint64_t hb_last_read_issued_ms;  /* the latest good read that saw it, issued */
	uint64_t lease_acquired_ms;    /* when we acquired d's lease (0: not held) */
	uint64_t host_dead_ms;
};

/* The verdict, and in why one line an operator can read (`fdmctl hosts`,
 * `fdmctl vms` "waiting", `fdmctl events`). */
enum fdm_verdict fdm_verdict_of(const struct fdm_verdict_in *in, uint64_t now, char *why,
				size_t whylen);

const char *fdm_verdict_name(enum fdm_verdict v);

/* The issue time of the read that can first complete the proof that the hb is
 * unchanged (the mark: the later of the first sighting and the lease
 * acquisition, + host_dead), if no read issued at or after it has answered yet;
 * 0 when no read is wanted (no sighting, lease not held, already proven). The
 * master asks for that read at the mark itself, not at its next periodic read
 * up to io_timeout later: a dead host's VMs then wait host_dead and one read. */
uint64_t fdm_verdict_proof_read_at(const struct fdm_verdict_in *in);

#endif
