/* The client side of the hostd-shim socket, for fdm (and hostd-shim-cli):
 * non-blocking, on the caller's sd-event loop. It connects, and reconnects with
 * backoff whenever the shim goes away; requests complete through a callback
 * with the reply, or with an error (timeout, connection lost); pushed events
 * (lifecycle, fenced, libvirt connected/disconnected) go to an event callback.
 * Nothing here blocks: connect on a unix socket completes or fails at once. */
#ifndef FDM_SHIM_CLIENT_H
#define FDM_SHIM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "proto/fdm.pb-c.h"

struct hostd_client;

/* reply is valid only during the call. error: 0 (reply set), -ETIMEDOUT,
 * -ECONNRESET (the connection was lost first), -ECANCELED (client freed). */
typedef void (*hostd_reply_fn)(const Fdm__ShimReply *reply, int error, void *userdata);
typedef void (*hostd_event_fn)(const Fdm__ShimEvent *event, void *userdata);
/* Called on every connect (true) and every loss of the connection (false). */
typedef void (*hostd_connection_fn)(bool connected, void *userdata);
/* Called on every failed connect with its errno (ENOENT, EACCES, ECONNREFUSED:
 * no shim listens on that socket, ...); the client tries again with backoff. */
typedef void (*hostd_connect_error_fn)(int error, void *userdata);

struct hostd_client_opts {
	const char *socket_path;
	bool subscribe;              /* send a SubscribeRequest on each connect */
	uint32_t reconnect_min_ms;   /* 0: 100 ms; doubles per failure ... */
	uint32_t reconnect_max_ms;   /* ... up to this, 0: 2000 ms */
	hostd_event_fn on_event;     /* may be NULL */
	hostd_connection_fn on_connection;  /* may be NULL */
	hostd_connect_error_fn on_connect_error;  /* may be NULL */
	void *userdata;              /* for on_event, on_connection, on_connect_error */
};

/* Create and start connecting (the first attempt runs from the loop). */
int hostd_client_new(sd_event *event, const struct hostd_client_opts *opts,
		     struct hostd_client **out);

/* Close; pending requests complete with -ECANCELED. Not from a callback. */
void hostd_client_free(struct hostd_client *c);

bool hostd_client_connected(const struct hostd_client *c);

/* Send req (its id is assigned here). cb runs exactly once, later, from the
 * loop: with the reply, or an error when timeout_ms (0: 30 s) passes or the
 * connection is lost. Returns 0, -ENOTCONN (not connected now: nothing was
 * sent, cb will not run), -EMSGSIZE, -ENOMEM. */
int hostd_client_call(struct hostd_client *c, Fdm__ShimRequest *req, uint32_t timeout_ms,
		      hostd_reply_fn cb, void *userdata);

/* Counters of what the client dropped from the shim (frames it could not
 * decode, replies to no pending request). */
struct hostd_client_stats {
	uint64_t bad_frames;
	uint64_t unmatched_replies;
	uint64_t reconnects;
};
void hostd_client_stats(const struct hostd_client *c, struct hostd_client_stats *out);

#endif
