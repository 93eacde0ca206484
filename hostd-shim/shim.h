/* The hostd-shim daemon's one context, passed to every part of it (no globals).
 *
 * Threads: the main loop (sd-event) owns every field below but the pools and
 * virt, which own their own locks. Client requests become jobs on the ops pool;
 * deadline power-offs become jobs on the fence pool (threads of their own, so
 * a fence never waits behind a client's slow define or start). Results, libvirt events
 * and connection changes come back through the mailbox, in order.
 *
 * Files: main.c (start, signals, the lock, sd_notify), server.c (socket,
 * clients, frames, dispatch), slots.c (frame timeout, room for new clients),
 * fence.c (deadline enforcement and the state file), shutdown.c (guest
 * shutdowns waiting for their timeout), translate.c (libvirt's states, events
 * and stop reasons in the shim's terms), domcache.c (last known
 * domain states, the diff after a reconnect), ops.c (libvirt calls), virt.c
 * (the connection), pool.c, mailbox.c, frame.c, deadlines.c, statefile.c. */
#ifndef FDM_SHIM_SHIM_H
#define FDM_SHIM_SHIM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "lib/config.h"
#include "lib/log.h"
#include "hostd-shim/deadlines.h"
#include "hostd-shim/domcache.h"
#include "hostd-shim/frame.h"
#include "hostd-shim/mailbox.h"
#include "hostd-shim/ops.h"
#include "hostd-shim/pool.h"
#include "hostd-shim/statefile.h"
#include "hostd-shim/virt.h"

#define SHIM_OPS_THREADS        4
/* Deadline power-offs run in parallel: deadlines are per datastore, so many
 * domains share one, and a QEMU destroy takes 1.5-2 s: one at a time would
 * push the last ones past the margin. */
#define SHIM_FENCE_THREADS      8
#define SHIM_MAX_CLIENTS        128
/* Event streams: fdm needs one. A new subscriber past this drops the oldest
 * (fdm's client reconnects and subscribes again), so subscribers never fill
 * the slots that slots.c keeps free for requests. */
#define SHIM_MAX_SUBSCRIBERS    8
#define SHIM_CLIENT_INFLIGHT    32           /* then stop reading that client */
#define SHIM_CLIENT_OUTQ_CAP    (4u * 1024u * 1024u)
/* A client that starts a request frame must finish it within this: a
 * byte-a-second client cannot hold a slot (a real one takes microseconds). */
#define SHIM_FRAME_TIMEOUT_MS   1000

/* Counters (StatsRequest), by name. */
enum shim_counter {
	SHIM_C_CLIENTS_ACCEPTED,
	SHIM_C_CLIENTS_REFUSED,        /* past SHIM_MAX_CLIENTS */
	SHIM_C_CLIENTS_DROPPED_SLOW,   /* output queue over its cap */
	SHIM_C_CLIENTS_DROPPED_STALLED,/* a request frame not finished in time */
	SHIM_C_CLIENTS_DROPPED_IDLE,   /* every slot taken: the longest silent made room */
	SHIM_C_SUBSCRIBERS_DROPPED,    /* a subscriber past the limit: the oldest went */
	SHIM_C_REQUESTS,
	SHIM_C_BAD_UNDECODABLE,        /* frame body is not a ShimRequest */
	SHIM_C_BAD_OVERSIZED,          /* length prefix over 1 MiB */
	SHIM_C_BAD_TRUNCATED,          /* peer closed in the middle of a frame */
	SHIM_C_BAD_NO_OP,              /* decodes, but names no operation */
	SHIM_C_BAD_FIELDS,             /* an operation with invalid fields */
	SHIM_C_EVENTS_SENT,
	SHIM_C_LIBVIRT_CONNECTS,
	SHIM_C_LIBVIRT_DISCONNECTS,
	SHIM_C_FENCED,                 /* domains powered off at their deadline */
	SHIM_C_FENCE_FAILED,
	SHIM_C_FENCE_LATE,             /* deadline passed while libvirt was away */
	SHIM_C_STATE_WRITES,
	SHIM_C_STATE_WRITE_ERRORS,
	SHIM_C_COUNT
};

const char *shim_counter_name(enum shim_counter c);

struct shim_client {
	struct shim_client *next, *prev;
	struct shim *shim;
	uint64_t serial;               /* "client N" in logs */
	int fd;
	sd_event_source *io;
	struct shim_frame_reader rd;
	struct shim_outq out;
	unsigned refs;                 /* the list + each job or wait holding it */
	unsigned inflight;
	bool subscribed;
	uint64_t subscribed_seq;       /* order of subscription: the oldest goes first */
	bool eof;                      /* the peer will send nothing more */
	bool dead;                     /* closed; freed when refs drop to 0 */
	bool close_after_flush;        /* oversized frame: reply, then close */
	uint64_t heard_ms;             /* boottime of its last bytes (or its connect) */
	uint64_t frame_started_ms;     /* boottime its unfinished frame began; 0: none */
};

/* A guest shutdown waiting for the domain to stop or the timeout. */
struct shim_shutdown_wait {
	struct shim_shutdown_wait *next;
	struct shim *shim;
	struct shim_client *client;
	uint64_t req_id;
	struct shim_domref ref;        /* name and uuid both filled */
	sd_event_source *timer;
};

struct shim {
	sd_event *event;
	struct fdm_config cfg;
	char state_path[PATH_MAX];
	char lock_path[PATH_MAX];
	int lock_fd;                   /* flock()ed while running: one shim per state */
	char boot_id[SHIM_BOOT_ID_LEN + 1];
	bool state_unsaved;            /* the last save failed: state_err says why */
	char state_err[PATH_MAX + 128];

	int listen_fd;
	sd_event_source *listen_src;
	struct shim_client *clients;
	size_t n_clients;
	uint64_t next_serial;
	uint64_t next_subscription;
	sd_event_source *stall_timer;  /* the next unfinished frame to time out */

	struct shim_mailbox mb;
	sd_event_source *mb_src;
	struct shim_pool ops_pool;
	struct shim_pool fence_pool;
	bool pools_started;
	struct shim_virt virt;
	bool virt_started;

	bool connected;                /* libvirt, as last announced */
	bool ever_connected;
	uint64_t disconnected_ms;      /* boottime of the last disconnect */
	struct shim_domcache cache;

	struct shim_deadlines dl;
	sd_event_source *deadline_timer;
	struct shim_shutdown_wait *shutdowns;

	uint64_t counters[SHIM_C_COUNT];
};


/* server.c */
int shim_server_open(struct shim *s);
void shim_server_close(struct shim *s);
void shim_client_close(struct shim_client *c, const char *why);
void shim_client_unref(struct shim_client *c);
void shim_send_reply(struct shim_client *c, Fdm__ShimReply *reply);
void shim_broadcast(struct shim *s, Fdm__EventType type, const struct shim_dom *dom,
		    const char *detail);
void shim_job_done(struct shim *s, struct shim_job *job);
void shim_status(struct shim *s);

/* slots.c: the frame timeout, and room for a new client when all are taken */
int shim_slots_init(struct shim *s);
void shim_slots_free(struct shim *s);
/* Bytes arrived from c (after the reader took them): start or stop the clock
 * of its unfinished frame. */
void shim_slots_heard(struct shim_client *c);
/* Every slot is taken: drop the longest silent client that is neither
 * subscribed nor waiting for a reply. false when there is none. */
bool shim_slots_make_room(struct shim *s);
/* c subscribes to events; past SHIM_MAX_SUBSCRIBERS the oldest subscriber is
 * disconnected (logged, counted). */
void shim_slots_subscribe(struct shim_client *c);

/* fence.c */
int shim_fence_init(struct shim *s);
void shim_fence_free(struct shim *s);
void shim_fence_rearm(struct shim *s);
void shim_fence_on_connected(struct shim *s);
void shim_fence_on_running(struct shim *s, const struct shim_dom *dom);
void shim_fence_done(struct shim *s, struct shim_job *job);
/* Save the state file: 0, or -1 (logged, counted, s->state_err says why). */
int shim_fence_persist(struct shim *s);
/* Power-on with a deadline: install it for (name, uuid) and persist. -1 when
 * the set is full, -2 when the domain's deadline is in force. */
int shim_fence_install(struct shim *s, const char *name, const char *uuid, uint64_t t);

#endif
