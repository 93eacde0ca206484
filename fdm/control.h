/* The agent's control socket ([control] socket, mode 0660): the only code that
 * talks to fdmctl. One request per connection: a JSON object on one line (at most
 * FDM_CONTROL_REQUEST_MAX bytes), answered by one JSON object, then close.
 * A client has FDM_CONTROL_REQUEST_MS to send its request; when every slot is
 * taken, the oldest client still sending is dropped for the newcomer, so that no
 * number of idle local connections keeps fdmctl out. */
#ifndef FDM_CONTROL_H
#define FDM_CONTROL_H

#include <json-c/json.h>
#include <systemd/sd-event.h>

#define FDM_CONTROL_REQUEST_MAX 65536
#define FDM_CONTROL_CLIENTS_MAX 32
#define FDM_CONTROL_REQUEST_MS  1000   /* from accept to a complete request */
#define FDM_CONTROL_TIMEOUT_MS  5000   /* from the request to the answer read */
#define FDM_CONTROL_DEFER_MS    30000  /* a deferred answer (fdm_control_defer) */

/* Answers one request; returns a new JSON object (the reply). A failed operation
 * answers {"error": "why"}; fdmctl exits 1 on it. */
typedef json_object *(*fdm_control_handler)(void *userdata, json_object *request);

struct fdm_control_client;

struct fdm_control {
	int fd;
	char path[108];
	sd_event *event;
	sd_event_source *listen_src;
	fdm_control_handler handler;
	void *userdata;
	struct fdm_control_client *clients;   /* oldest first */
	struct fdm_control_client *current;   /* the one being answered by the handler */
	uint64_t next_ticket;
	unsigned n_clients;
	unsigned long long rejected;    /* malformed, oversized, timed-out or dropped */
};

/* Called by the handler to answer later: it then returns NULL, and the agent
 * calls fdm_control_answer with the ticket (a request that needs the master or a
 * datastore write). A client not answered within FDM_CONTROL_DEFER_MS gets an
 * error. Returns 0 outside a handler. */
uint64_t fdm_control_defer(struct fdm_control *ctl);
/* Answer a deferred request (takes reply; dropped if its client is gone). */
void fdm_control_answer(struct fdm_control *ctl, uint64_t ticket, json_object *reply);

/* The reply of a request that failed: {"error": why}. */
json_object *fdm_control_error(const char *why);

/* Create the socket (replacing a stale one; refusing when an agent answers on it). */
int fdm_control_open(struct fdm_control *ctl, sd_event *e, const char *path,
		     fdm_control_handler handler, void *userdata, char *err, size_t errlen);
void fdm_control_close(struct fdm_control *ctl);

#endif
