/* libFuzzer target: the agent's control socket (fdm/control.c) and the request
 * decoders behind it. The input is what one local client writes on its
 * connection; it goes through the real socket server on an sd-event loop (the
 * line cut, the size limit, the JSON parse, the deferred answers), and every
 * request that names a command goes to a handler that validates it as the
 * agent's on_control does: the command, and for protect, unprotect and
 * maintenance fdm_ha_request_parse (fdm/ha_request.c), whose result must also
 * survive the form a slave forwards to its master (fdm_ha_request_format, then
 * parsed again). Every client with bytes to say gets exactly one answer line, a
 * JSON object, and nothing outlives the input. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fdm/control.h"
#include "fdm/ha_request.h"
#include "lib/config.h"
#include "lib/util.h"

#define TICKETS_MAX 8
#define WAIT_MS 10000   /* a hang, not a slow machine */

/* What lives across inputs: the loop, the socket, the config. */
struct world {
	sd_event *event;
	struct fdm_control ctl;
	struct fdm_config cfg;
	char path[108];
	/* Answers deferred by the handler, given on the next turn of the loop. */
	uint64_t tickets[TICKETS_MAX];
	size_t n_tickets;
};

static struct fdm_config *make_config(struct fdm_config *cfg)
{
	static const char *const ids[] = { "host-1", "host-2", "host-9" };

	memset(cfg, 0, sizeof(*cfg));
	fdm_strlcpy(cfg->cluster_id, "fuzz", sizeof(cfg->cluster_id));
	fdm_strlcpy(cfg->host_id, "host-2", sizeof(cfg->host_id));
	for (size_t i = 0; i < 3; i++)
		fdm_strlcpy(cfg->peers[i].id, ids[i], FDM_ID_MAX);
	cfg->n_peers = 3;
	fdm_strlcpy(cfg->datastores[0].name, "ds1", FDM_ID_MAX);
	fdm_strlcpy(cfg->datastores[1].name, "nfs-a", FDM_ID_MAX);
	cfg->n_datastores = 2;
	return cfg;
}

static json_object *ok(const char *text)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "message", json_object_new_string(text));
	return o;
}

/* What the parser accepts is what the core may take: a name that fits, a
 * configured datastore, a priority that exists; and the forwarded form of it
 * reads back the same on the master. */
static void check_request(const struct fdm_config *cfg, const struct fdm_ha_request *r)
{
	struct fdm_ha_request again;
	char text[FDM_FORWARD_REQUEST_MAX];
	json_object *forwarded;
	const char *err;

	if (r->name[0] == '\0' || strnlen(r->name, sizeof(r->name)) == sizeof(r->name))
		abort();
	if (r->ds < -1 || r->ds >= (int)cfg->n_datastores || r->priority < -1 ||
	    r->priority > FDM__PRIORITY__PRIORITY_HIGHEST)
		abort();
	if (fdm_ha_request_format(cfg, r, text, sizeof(text)) == 0)
		abort();   /* ha_request.h: whatever the parser accepts fits */
	forwarded = json_tokener_parse(text);
	if (forwarded == NULL)
		abort();
	err = fdm_ha_request_parse(cfg, "host-9", forwarded, &again);
	json_object_put(forwarded);
	if (err != NULL)
		abort();
	if (again.op != r->op || strcmp(again.name, r->name) != 0 ||
	    again.priority != r->priority || again.ds != r->ds)
		abort();
}

/* The agent's on_control, but for what needs a running cluster: the edge
 * validation is the same code. */
static json_object *handle(void *userdata, json_object *req)
{
	struct world *w = userdata;
	struct fdm_ha_request r;
	json_object *cmd_obj, *arg;
	const char *cmd, *err;
	uint64_t ticket;

	if (!json_object_object_get_ex(req, "command", &cmd_obj) ||
	    !json_object_is_type(cmd_obj, json_type_string))
		return fdm_control_error("malformed request: no \"command\" string");
	cmd = json_object_get_string(cmd_obj);
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "election-force") == 0)
		return ok(cmd);
	if (strcmp(cmd, "events") == 0) {
		if (json_object_object_get_ex(req, "since_ms", &arg))
			(void)json_object_get_int64(arg);
		return ok("events");
	}
	if (!fdm_ha_request_command(cmd))
		return fdm_control_error("unknown command");
	err = fdm_ha_request_parse(&w->cfg, w->cfg.host_id, req, &r);
	if (err != NULL)
		return fdm_control_error(err);
	check_request(&w->cfg, &r);
	ticket = fdm_control_defer(&w->ctl);
	if (ticket == 0)
		abort();
	/* As the agent: sometimes answered before the handler returns (a full
	 * table), usually later (the core's answer). */
	if (r.name[0] & 1)
		fdm_control_answer(&w->ctl, ticket, fdm_control_error("too many requests"));
	else if (w->n_tickets < TICKETS_MAX)
		w->tickets[w->n_tickets++] = ticket;
	else
		abort();   /* one client, one request */
	return NULL;
}

static struct fdm_control *open_control;   /* for the exit handler */

/* The socket file goes with the process. */
static void close_control(void)
{
	fdm_control_close(open_control);
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[256];

	make_config(&w->cfg);
	snprintf(w->path, sizeof(w->path), "/dev/shm/fdm-fuzz-control-%d.sock", (int)getpid());
	if (sd_event_new(&w->event) < 0 ||
	    fdm_control_open(&w->ctl, w->event, w->path, handle, w, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_control: %s\n", err);
		abort();
	}
	open_control = &w->ctl;
	atexit(close_control);
	return w;
}

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	fdm_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The answer: one line, one JSON object, saying ok or error. */
static void check_answer(const char *reply, size_t len, size_t sent)
{
	json_object *o;

	if (len == 0) {
		if (sent != 0)
			abort();   /* something said, nothing answered */
		return;
	}
	if (reply[len - 1] != '\n' || memchr(reply, '\n', len - 1) != NULL)
		abort();
	o = json_tokener_parse(reply);
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    (!json_object_object_get_ex(o, "error", NULL) &&
	     !json_object_object_get_ex(o, "ok", NULL)))
		abort();
	json_object_put(o);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world *w;
	char reply[4096];
	size_t sent = 0, got = 0;
	bool closed = false, eof = false;
	uint64_t start = mono_ms();
	int fd;

	if (w == NULL)
		w = world_new();
	fd = client_connect(w->path);
	if (fd < 0)
		abort();
	/* Until the agent closes our connection (it does, at the latest at its
	 * request deadline); the bound only keeps a bug from hanging the run. */
	while (!eof && mono_ms() - start < WAIT_MS) {
		ssize_t n;

		if (sent < size) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (errno != EAGAIN)
				sent = size;   /* the agent closed on us (answered) */
		}
		if (sent == size && !closed) {
			shutdown(fd, SHUT_WR);
			closed = true;
		}
		sd_event_run(w->event, 0);
		for (size_t i = 0; i < w->n_tickets; i++)
			fdm_control_answer(&w->ctl, w->tickets[i], ok("done"));
		w->n_tickets = 0;
		n = read(fd, reply + got, sizeof(reply) - 1 - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || errno != EAGAIN)
			eof = true;
		if (got == sizeof(reply) - 1)
			abort();   /* no answer of ours is that long */
	}
	if (!eof)
		abort();
	close(fd);
	/* Let the server free the client it may still hold. */
	while (w->ctl.n_clients > 0 && mono_ms() - start < 2 * WAIT_MS)
		sd_event_run(w->event, 0);
	if (w->ctl.n_clients > 0)
		abort();
	reply[got] = '\0';
	/* A machine so loaded that the request deadline passed: closed unanswered. */
	check_answer(reply, got, mono_ms() - start < FDM_CONTROL_REQUEST_MS ? size : 0);
	return 0;
}
