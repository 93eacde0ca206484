/* The shell's tables of operators' requests between hosts (ha_net.c), kept apart
 * from the sockets so that they can be tested alone. Pure, fixed-size, the time
 * passed in.
 *
 * Outgoing (a slave): each request of our control socket, by its ticket, with
 * the JSON form a forward carries (ha_request.c), kept until it is answered
 * here, answered by the master it went to, or FDM_FORWARD_KEEP_MS old (the
 * control socket gave up on it by then). While it waits for that master it is
 * sent again every resend period: a datagram may be lost.
 *
 * Incoming (a master): each request forwarded to us gets an id of ours (ids
 * from FDM_FORWARD_ID_BASE up, apart from the control socket's tickets), which
 * the core uses for it; an answer of the core to that peer is mapped back to
 * the peer's own id. A request sent again (same peer, incarnation and id) is
 * not a new one: while it is in the core it is ignored; once answered, the same
 * answer goes out again. Entries are kept FDM_FORWARD_KEEP_MS for that.
 *
 * Definition requests (a master): each DefineRequest out to another host, sent
 * again every resend period for as long as the core still waits for that
 * host's answer (fdm_ha_define_awaited), at most FDM_DEFINE_ASK_MS. */
#ifndef FDM_HA_FORWARDS_H
#define FDM_HA_FORWARDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdm/core/core.h"

#define FDM_FORWARDS_MAX     32
#define FDM_FORWARD_KEEP_MS  30000                /* = FDM_CONTROL_DEFER_MS */
#define FDM_FORWARD_ID_BASE  (UINT64_C(1) << 62)  /* control tickets stay below */
#define FDM_DEFINE_ASKS_MAX  (FDM_HA_REQUESTS * FDM_MAX_HOSTS)
#define FDM_DEFINE_ASK_MS    15000                /* the core's request timeout */

struct fdm_forward_out {
	bool used;
	uint64_t ticket;               /* our control socket's */
	int to;                        /* the master it went to, -1: not forwarded */
	uint64_t kept_ms;
	uint64_t next_send_ms;
	char request[FDM_FORWARD_REQUEST_MAX];
};

struct fdm_forward_in {
	bool used;
	uint64_t id;                   /* ours, for the core */
	int peer;
	uint64_t peer_incarnation;
	uint64_t peer_id;
	uint64_t kept_ms;
	bool answered;                 /* the core answered: ok and message */
	bool ok;
	char message[FDM_LOG_MAX];
};

struct fdm_define_ask {
	bool used;
	uint64_t id;                   /* the core's request */
	int to;
	char vm[FDM_VM_NAME_MAX];
	uint64_t asked_ms;
	uint64_t next_send_ms;
};

struct fdm_forwards {
	struct fdm_forward_out out[FDM_FORWARDS_MAX];
	struct fdm_forward_in in[FDM_FORWARDS_MAX];
	uint64_t next_id;
	struct fdm_define_ask asks[FDM_DEFINE_ASKS_MAX];
};

void fdm_forwards_init(struct fdm_forwards *f);
/* Forget what is FDM_FORWARD_KEEP_MS old. */
void fdm_forwards_expire(struct fdm_forwards *f, uint64_t now);

/* ---- outgoing (slave) */
/* Keep the JSON of request `ticket` before the core sees it. false: no room. */
bool fdm_forwards_keep(struct fdm_forwards *f, uint64_t ticket, const char *request,
		       uint64_t now);
/* The core forwards it to `to` (FDM_ACT_FORWARD): the entry, to send now and
 * again from next_send_ms; NULL when unknown. */
struct fdm_forward_out *fdm_forwards_sending(struct fdm_forwards *f, uint64_t ticket, int to,
					     uint64_t now, uint64_t resend_ms);
/* The next entry to send again at now (next_send_ms passed; moved on by
 * resend_ms), or NULL. */
struct fdm_forward_out *fdm_forwards_resend_due(struct fdm_forwards *f, uint64_t now,
						uint64_t resend_ms);
/* A ForwardReply of peer `from`: true when it answers our request `ticket`
 * that went to that peer (then forgotten). */
bool fdm_forwards_answered(struct fdm_forwards *f, uint64_t ticket, int from);
/* Answered here (the core answered it locally): forget it. */
void fdm_forwards_done(struct fdm_forwards *f, uint64_t ticket);

/* ---- incoming (master) */
enum fdm_forward_new { FDM_FWD_NEW, FDM_FWD_PENDING, FDM_FWD_ANSWERED, FDM_FWD_FULL };
/* A Forward of peer `peer` (incarnation, its id): NEW with *e the new entry
 * (e->id for the core); PENDING: the same request is in the core; ANSWERED: it
 * was, *e holds the answer to send again; FULL: no room. */
enum fdm_forward_new fdm_forwards_accept(struct fdm_forwards *f, int peer, uint64_t incarnation,
					 uint64_t peer_id, uint64_t now,
					 struct fdm_forward_in **e);
/* The core answers our id `id` to peer `to`: the entry, now answered with
 * (ok, message); NULL when unknown. */
struct fdm_forward_in *fdm_forwards_reply(struct fdm_forwards *f, uint64_t id, int to, bool ok,
					  const char *message);

/* ---- definition requests (master) */
/* Host `to` is asked for `vm` for the core's request `id` (FDM_ACT_VM_DEFINE),
 * now: remembered to ask again (an ask for the same id and host is renewed). */
void fdm_forwards_ask(struct fdm_forwards *f, uint64_t id, int to, const char *vm, uint64_t now,
		      uint64_t resend_ms);
/* The next ask to send again at now (moved on by resend_ms), or NULL; the
 * caller drops it (fdm_forwards_ask_done) when the core no longer waits. */
struct fdm_define_ask *fdm_forwards_ask_due(struct fdm_forwards *f, uint64_t now,
					    uint64_t resend_ms);
void fdm_forwards_ask_done(struct fdm_define_ask *a);

#endif
