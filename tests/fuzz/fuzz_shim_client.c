/* libFuzzer target: what hostd-shim sends the agent. The shim is another
 * process (another package, restarted on its own, perhaps another version):
 * its replies and events are input. The target plays the shim on a unix
 * socket; the agent's side is the real one: the client library
 * (hostd-shim/client.c: framing, reply matching, events) under the agent's
 * view of its host (fdm/vmhost.c: listings, resources, operation results,
 * fdm/vmstops.c: the stop queue). Per input, a new client connects; it asks
 * for its subscription (id 1), a listing (2) and the resources (3), and the
 * target asks for a power-on (4), a power-off (5) and a definition (6); then
 * the input is written to it as the shim's byte stream and the connection
 * closed. Every operation must end exactly once, what the view holds must be
 * bounded, and nothing outlives the input. */
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

#include "fdm/vmhost.h"
#include "lib/util.h"

#define OPS 3
#define WAIT_MS 10000   /* bounds a hang, not a slow machine */

struct world {
	sd_event *event;
	int listen_fd;
	char path[108];
};

struct run {
	int ended[OPS];                /* callbacks per operation */
	bool lost;                     /* the view saw the connection go */
};

static void on_change(struct fdm_vmhost *h, void *userdata)
{
	struct run *r = userdata;
	const struct fdm_vmhost_view *v = fdm_vmhost_view(h);

	if (!v->shim_connected)
		r->lost = true;
	for (size_t i = 0; i < v->n_vms; i++)
		if (strnlen(v->vms[i].name, FDM_DOMAIN_NAME_MAX) == FDM_DOMAIN_NAME_MAX ||
		    strnlen(v->vms[i].uuid, FDM_DOMAIN_UUID_MAX) == FDM_DOMAIN_UUID_MAX)
			abort();
}

struct op_ctx {
	struct run *run;
	int index;
};

static void on_done(const struct fdm_domain_result *res, void *userdata)
{
	const struct op_ctx *o = userdata;

	if (res->message == NULL || (res->error != 0 && res->result != FDM__RESULT_CODE__RESULT_ERROR))
		abort();
	if (res->xml != NULL)
		(void)strlen(res->xml);
	if (res->vm != NULL && strnlen(res->vm->name, FDM_DOMAIN_NAME_MAX) == FDM_DOMAIN_NAME_MAX)
		abort();
	o->run->ended[o->index]++;
}

static char socket_path[108];   /* for the exit handler */

static void remove_socket(void)
{
	unlink(socket_path);
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(w->path, sizeof(w->path), "/dev/shm/fdm-fuzz-shim-%d.sock", (int)getpid());
	unlink(w->path);
	fdm_strlcpy(sa.sun_path, w->path, sizeof(sa.sun_path));
	w->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sd_event_new(&w->event) < 0 || w->listen_fd < 0 ||
	    bind(w->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(w->listen_fd, 4) < 0) {
		fprintf(stderr, "fuzz_shim_client: cannot listen on %s\n", w->path);
		abort();
	}
	fdm_strlcpy(socket_path, w->path, sizeof(socket_path));
	atexit(remove_socket);
	return w;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read (and forget) what the client asks: the ids are known in advance. */
static void drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* The client connects from the loop; the target accepts, as the shim would. */
static int accept_client(struct world *w, struct fdm_vmhost *h, uint64_t start)
{
	int fd = -1;

	while (fd < 0 && mono_ms() - start < WAIT_MS) {
		sd_event_run(w->event, 0);
		fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	for (int i = 0; i < 4 && fd >= 0; i++)
		sd_event_run(w->event, 0);
	if (fd < 0 || !fdm_vmhost_view(h)->shim_connected)
		abort();
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world *w;
	static const char xml[] = "<domain type='kvm'><name>db1</name></domain>";
	struct run run;
	struct op_ctx ctx[OPS];
	struct fdm_vmhost *h;
	uint64_t start = mono_ms();
	size_t sent = 0;
	int fd;

	if (w == NULL)
		w = world_new();
	memset(&run, 0, sizeof(run));
	if (fdm_vmhost_new(w->event, w->path, 1000, on_change, &run, &h) < 0)
		abort();
	fd = accept_client(w, h, start);
	for (int i = 0; i < OPS; i++)
		ctx[i] = (struct op_ctx){ .run = &run, .index = i };
	if (fdm_vmhost_power_on(h, xml, 0, on_done, &ctx[0]) != 0 ||
	    fdm_vmhost_power_off(h, "db1", on_done, &ctx[1]) != 0 ||
	    fdm_vmhost_get_xml(h, "6f1c2b3a-0000-4000-8000-000000000001", on_done, &ctx[2]) != 0)
		abort();
	/* The shim's bytes, then its end: the client must see the loss. */
	while (sent < size && mono_ms() - start < WAIT_MS) {
		ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);

		if (n > 0)
			sent += (size_t)n;
		else if (errno != EAGAIN)
			break;   /* the client hung up (an oversized frame) */
		drain(fd);
		sd_event_run(w->event, 0);
	}
	drain(fd);
	close(fd);
	while (!run.lost && mono_ms() - start < WAIT_MS)
		sd_event_run(w->event, 1000);
	if (!run.lost)
		abort();
	/* Lost: every operation still waiting ended with -ECONNRESET. */
	for (int i = 0; i < OPS; i++)
		if (run.ended[i] != 1)
			abort();
	for (struct fdm_domain_stop s; fdm_vmhost_next_stop(h, &s);)
		if (strnlen(s.name, sizeof(s.name)) == sizeof(s.name) ||
		    strnlen(s.detail, sizeof(s.detail)) == sizeof(s.detail))
			abort();
	fdm_vmhost_free(h);
	return 0;
}
