/* Unix-socket server for fdmctl. Each client is a small non-blocking state
 * machine (read a line, answer, write, close) with a deadline, so a stuck or
 * hostile client can never stall the agent's loop or hold memory for long:
 * FDM_CONTROL_REQUEST_MS to send the request, then FDM_CONTROL_TIMEOUT_MS to read
 * the answer. Slots are few; a newcomer takes the slot of a client that has not
 * sent a whole request yet (the oldest of the process holding the most), so idle
 * connections cannot lock fdmctl out. */
#include "fdm/control.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

struct fdm_control_client {
	struct fdm_control *ctl;
	struct fdm_control_client *next;
	int fd;
	sd_event_source *io_src;
	sd_event_source *timer_src;
	char *in;                  /* the request so far, NUL-terminated */
	size_t in_len, in_cap;
	char *out;                 /* the answer; NULL while the request is incomplete */
	size_t out_len, out_done;
	pid_t pid;                 /* the connecting process (SO_PEERCRED), 0 if unknown */
	bool deferred;             /* the agent answers later (fdm_control_answer) */
	bool draining;             /* answered an oversized request: read the rest */
	uint64_t ticket;
};

static void client_free(struct fdm_control_client *cl)
{
	struct fdm_control *ctl = cl->ctl;
	struct fdm_control_client **pp;

	for (pp = &ctl->clients; *pp; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	ctl->n_clients--;
	sd_event_source_disable_unref(cl->io_src);
	sd_event_source_disable_unref(cl->timer_src);
	close(cl->fd);
	free(cl->in);
	free(cl->out);
	free(cl);
}

json_object *fdm_control_error(const char *why)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(why));
	return o;
}

/* Queue the reply (one line) and switch the client to writing, with the longer
 * deadline of a client that may be slow to read a big answer. */
static int set_reply(struct fdm_control_client *cl, json_object *reply)
{
	const char *text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);

	cl->out = malloc(len + 1);
	if (cl->out != NULL) {
		memcpy(cl->out, text, len);
		cl->out[len] = '\n';
		cl->out_len = len + 1;
	}
	json_object_put(reply);
	if (cl->out == NULL)
		return -1;
	sd_event_source_set_io_events(cl->io_src, EPOLLOUT);
	sd_event_source_set_time_relative(cl->timer_src, FDM_CONTROL_TIMEOUT_MS * 1000ULL);
	return 0;
}

/* Parse the request line and let the agent answer it. */
static int answer(struct fdm_control_client *cl)
{
	struct fdm_control *ctl = cl->ctl;
	json_object *req = json_tokener_parse(cl->in);
	json_object *reply;

	if (req == NULL || !json_object_is_type(req, json_type_object)) {
		ctl->rejected++;
		reply = fdm_control_error("malformed request: expected one JSON object");
	} else {
		ctl->current = cl;
		reply = ctl->handler(ctl->userdata, req);
		ctl->current = NULL;
	}
	json_object_put(req);
	if (reply == NULL && cl->out != NULL)
		return 0;   /* deferred, and answered before the handler returned */
	if (reply == NULL && cl->deferred) {
		/* Answered later; meanwhile only a hang-up is of interest. */
		sd_event_source_set_time_relative(cl->timer_src, FDM_CONTROL_DEFER_MS * 1000ULL);
		return 0;
	}
	if (reply == NULL)
		reply = fdm_control_error("internal: no answer");
	return set_reply(cl, reply);
}

uint64_t fdm_control_defer(struct fdm_control *ctl)
{
	struct fdm_control_client *cl = ctl->current;

	if (cl == NULL)
		return 0;
	cl->deferred = true;
	cl->ticket = ++ctl->next_ticket;
	return cl->ticket;
}

void fdm_control_answer(struct fdm_control *ctl, uint64_t ticket, json_object *reply)
{
	for (struct fdm_control_client *cl = ctl->clients; cl != NULL; cl = cl->next)
		if (cl->deferred && cl->ticket == ticket) {
			cl->deferred = false;
			if (set_reply(cl, reply) < 0)
				client_free(cl);
			return;
		}
	json_object_put(reply);   /* its client is gone */
}

/* Room for n more bytes and the NUL (the caller checked the request limit);
 * the buffer grows with the request, so an idle client costs little. */
static bool reserve(struct fdm_control_client *cl, size_t n)
{
	size_t cap = cl->in_cap ? cl->in_cap : 1024;
	char *p;

	while (cap < cl->in_len + n + 1)
		cap *= 2;
	if (cap == cl->in_cap)
		return true;
	p = realloc(cl->in, cap);
	if (p == NULL)
		return false;
	cl->in = p;
	cl->in_cap = cap;
	return true;
}

static int client_read(struct fdm_control_client *cl)
{
	char buf[4096];
	ssize_t n = read(cl->fd, buf, sizeof(buf));
	char *nl;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (cl->deferred)
		return n == 0 ? -1 : 0;   /* gone before its answer; more input ignored */
	if (n == 0 && cl->in_len == 0)
		return -1;
	if (cl->in_len + (size_t)n > FDM_CONTROL_REQUEST_MAX) {
		char why[96];

		/* Said, not just hung up on: fdmctl (or a script) can tell why.
		 * The rest of its request is read and dropped after the answer,
		 * so that its writes do not meet a closed socket (EPIPE). */
		cl->ctl->rejected++;
		cl->draining = true;
		snprintf(why, sizeof(why), "request too long (at most %d bytes on one line)",
			 FDM_CONTROL_REQUEST_MAX);
		return set_reply(cl, fdm_control_error(why));
	}
	if (!reserve(cl, (size_t)n))
		return -1;
	memcpy(cl->in + cl->in_len, buf, (size_t)n);
	cl->in_len += (size_t)n;
	cl->in[cl->in_len] = '\0';
	nl = memchr(cl->in, '\n', cl->in_len);
	if (nl != NULL)
		*nl = '\0';
	if (nl == NULL && n != 0)
		return 0;
	return answer(cl);
}

/* The answer is out; a client still sending an oversized request is read to
 * its end (bounded by the request deadline), then closed. */
static int start_draining(struct fdm_control_client *cl)
{
	shutdown(cl->fd, SHUT_WR);
	sd_event_source_set_io_events(cl->io_src, EPOLLIN);
	sd_event_source_set_time_relative(cl->timer_src, FDM_CONTROL_REQUEST_MS * 1000ULL);
	return 0;
}

static int drain(struct fdm_control_client *cl)
{
	char buf[4096];
	ssize_t n = read(cl->fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	return n == 0 ? -1 : 0;
}

static int client_write(struct fdm_control_client *cl)
{
	ssize_t n;

	if (cl->out_done == cl->out_len)
		return cl->draining ? drain(cl) : -1;
	/* MSG_NOSIGNAL: a client gone before its answer is an EPIPE here, never a
	 * SIGPIPE that would end the agent. */
	n = send(cl->fd, cl->out + cl->out_done, cl->out_len - cl->out_done,
		 MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	cl->out_done += (size_t)n;
	if (cl->out_done < cl->out_len)
		return 0;
	return cl->draining ? start_draining(cl) : -1;
}

/* Read while the request is incomplete, write once the answer is ready; -1 when
 * the client is done with (answered, gone or in error). */
static int serve(struct fdm_control_client *cl)
{
	if (cl->out == NULL && client_read(cl) < 0)
		return -1;
	if (cl->out != NULL)
		return client_write(cl);
	return 0;
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct fdm_control_client *cl = userdata;

	(void)s;
	(void)fd;
	(void)revents;
	if (serve(cl) < 0)
		client_free(cl);
	return 0;
}

static int on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fdm_control_client *cl = userdata;

	(void)s;
	(void)usec;
	if (cl->deferred) {
		cl->deferred = false;
		if (set_reply(cl, fdm_control_error("no answer from the cluster in time")) == 0)
			return 0;
	}
	cl->ctl->rejected++;
	client_free(cl);
	return 0;
}

/* How many clients still sending their request the process pid holds. */
static unsigned idle_slots_of(const struct fdm_control *ctl, pid_t pid)
{
	unsigned n = 0;

	for (const struct fdm_control_client *cl = ctl->clients; cl != NULL; cl = cl->next)
		if (cl->out == NULL && !cl->deferred && cl->pid == pid)
			n++;
	return n;
}

/* Every slot is taken: free one of a client that has not sent a whole request
 * (a client being answered is about to leave by itself): the oldest of the
 * process that holds the most such slots. A process that floods the socket thus
 * only ever pushes out its own connections, never the one of an fdmctl that was
 * accepted just before it wrote its request (a flood reconnects faster than
 * that). */
static bool drop_oldest_idle(struct fdm_control *ctl)
{
	struct fdm_control_client *victim = NULL;
	unsigned most = 0;

	for (struct fdm_control_client *cl = ctl->clients; cl != NULL; cl = cl->next) {
		unsigned n;

		if (cl->out != NULL || cl->deferred)
			continue;
		n = idle_slots_of(ctl, cl->pid);
		if (n > most) {      /* strictly more: the oldest of that process stays first */
			most = n;
			victim = cl;
		}
	}
	if (victim == NULL)
		return false;
	ctl->rejected++;
	client_free(victim);
	return true;
}

static struct fdm_control_client *client_new(struct fdm_control *ctl, int cfd)
{
	struct fdm_control_client *cl = calloc(1, sizeof(*cl)), **tail;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (cl == NULL)
		return NULL;
	cl->ctl = ctl;
	cl->fd = cfd;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		cl->pid = cred.pid;
	if (sd_event_add_io(ctl->event, &cl->io_src, cfd, EPOLLIN, on_client_io, cl) < 0 ||
	    sd_event_add_time_relative(ctl->event, &cl->timer_src, CLOCK_MONOTONIC,
				       FDM_CONTROL_REQUEST_MS * 1000ULL, 0,
				       on_client_timeout, cl) < 0) {
		sd_event_source_disable_unref(cl->io_src);
		free(cl);
		return NULL;
	}
	for (tail = &ctl->clients; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = cl;
	ctl->n_clients++;
	return cl;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct fdm_control *ctl = userdata;
	struct fdm_control_client *cl;
	int cfd;

	(void)s;
	(void)revents;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (ctl->n_clients >= FDM_CONTROL_CLIENTS_MAX && !drop_oldest_idle(ctl)) {
		ctl->rejected++;
		close(cfd);
		return 0;
	}
	cl = client_new(ctl, cfd);
	if (cl == NULL) {
		close(cfd);
		return 0;
	}
	/* fdmctl writes its request right after connect: it is usually here
	 * already, and answering now keeps it clear of the next drop. */
	if (serve(cl) < 0)
		client_free(cl);
	return 0;
}

/* A socket file left by a crashed agent is removed; a live agent is not. */
static int claim_path(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	fdm_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		snprintf(err, errlen, "%s: another fdm agent is running on this socket", path);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	return 0;
}

/* Mode 0660, group `fdm` when it exists (INTERFACE.md / DESIGN.md Security). */
static void set_access(const char *path)
{
	struct group *g = getgrnam("fdm");

	if (g != NULL && chown(path, (uid_t)-1, g->gr_gid) < 0)
		fdm_warn("control socket %s: cannot give it to group fdm: %s", path,
			 strerror(errno));
	chmod(path, 0660);
}

int fdm_control_open(struct fdm_control *ctl, sd_event *e, const char *path,
		     fdm_control_handler handler, void *userdata, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old_mask;

	memset(ctl, 0, sizeof(*ctl));
	ctl->fd = -1;
	ctl->event = e;
	ctl->handler = handler;
	ctl->userdata = userdata;
	if (!fdm_strlcpy(sa.sun_path, path, sizeof(sa.sun_path)) ||
	    !fdm_strlcpy(ctl->path, path, sizeof(ctl->path))) {
		snprintf(err, errlen, "%s: socket path too long (at most %zu)", path,
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (claim_path(path, err, errlen) < 0)
		return -1;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	old_mask = umask(0117);
	if (ctl->fd < 0 || bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ctl->fd, 64) < 0) {
		umask(old_mask);
		snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(errno));
		fdm_control_close(ctl);
		return -1;
	}
	umask(old_mask);
	set_access(path);
	/* Clients already connected are served before new ones are accepted (and
	 * perhaps take their slot). */
	if (sd_event_add_io(e, &ctl->listen_src, ctl->fd, EPOLLIN, on_accept, ctl) < 0 ||
	    sd_event_source_set_priority(ctl->listen_src, SD_EVENT_PRIORITY_NORMAL + 1) < 0) {
		snprintf(err, errlen, "%s: cannot watch the socket", path);
		fdm_control_close(ctl);
		return -1;
	}
	return 0;
}

void fdm_control_close(struct fdm_control *ctl)
{
	while (ctl->clients != NULL)
		client_free(ctl->clients);
	ctl->listen_src = sd_event_source_disable_unref(ctl->listen_src);
	if (ctl->fd >= 0) {
		close(ctl->fd);
		unlink(ctl->path);
	}
	ctl->fd = -1;
}
