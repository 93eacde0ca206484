/* The shim's unix socket: accepting clients, reading frames, queueing replies
 * and events. No client can stall another: every socket is non-blocking, a
 * client's reads are bounded per wake-up, a client with too many requests in
 * flight is not read until they finish, one whose output queue passes its
 * cap (it does not read) is dropped, and slots.c drops one that starts a frame
 * and does not finish it, or makes room when every slot is taken. Writes use
 * MSG_NOSIGNAL (and SIGPIPE is ignored): a client gone before its reply never
 * kills the shim. Requests themselves are in requests.c. */
#include "hostd-shim/shim.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/util.h"
#include "hostd-shim/requests.h"

#define READ_CHUNK        65536
#define READS_PER_WAKEUP  4     /* then yield to the other clients */

static const char *const counter_names[SHIM_C_COUNT] = {
	[SHIM_C_CLIENTS_ACCEPTED] = "clients_accepted",
	[SHIM_C_CLIENTS_REFUSED] = "clients_refused",
	[SHIM_C_CLIENTS_DROPPED_SLOW] = "clients_dropped_slow",
	[SHIM_C_CLIENTS_DROPPED_STALLED] = "clients_dropped_stalled",
	[SHIM_C_CLIENTS_DROPPED_IDLE] = "clients_dropped_idle",
	[SHIM_C_SUBSCRIBERS_DROPPED] = "subscribers_dropped",
	[SHIM_C_REQUESTS] = "requests",
	[SHIM_C_BAD_UNDECODABLE] = "bad_undecodable",
	[SHIM_C_BAD_OVERSIZED] = "bad_oversized",
	[SHIM_C_BAD_TRUNCATED] = "bad_truncated",
	[SHIM_C_BAD_NO_OP] = "bad_no_op",
	[SHIM_C_BAD_FIELDS] = "bad_fields",
	[SHIM_C_EVENTS_SENT] = "events_sent",
	[SHIM_C_LIBVIRT_CONNECTS] = "libvirt_connects",
	[SHIM_C_LIBVIRT_DISCONNECTS] = "libvirt_disconnects",
	[SHIM_C_FENCED] = "fenced",
	[SHIM_C_FENCE_FAILED] = "fence_failed",
	[SHIM_C_FENCE_LATE] = "fence_late",
	[SHIM_C_STATE_WRITES] = "state_writes",
	[SHIM_C_STATE_WRITE_ERRORS] = "state_write_errors",
};

const char *shim_counter_name(enum shim_counter c)
{
	return (unsigned)c < SHIM_C_COUNT ? counter_names[c] : "?";
}

static void client_update_events(struct shim_client *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (!c->close_after_flush && !c->eof && c->inflight < SHIM_CLIENT_INFLIGHT)
		ev |= EPOLLIN;
	if (!shim_outq_empty(&c->out))
		ev |= EPOLLOUT;
	sd_event_source_set_io_events(c->io, ev);
}

static void client_flush(struct shim_client *c)
{
	int rc = shim_outq_flush(&c->out, c->fd);

	if (rc < 0) {
		shim_client_close(c, strerror(-rc));
		return;
	}
	if (c->close_after_flush && shim_outq_empty(&c->out)) {
		shim_client_close(c, c->eof ? "end of stream" : "closed after a bad frame");
		return;
	}
	client_update_events(c);
}

/* Queue one ShimMessage; drops the client when it does not keep up. */
static void client_push(struct shim_client *c, const Fdm__ShimMessage *m)
{
	int rc;

	if (c->dead)
		return;
	rc = shim_outq_push_message(&c->out, &m->base);
	if (rc == -ENOBUFS) {
		c->shim->counters[SHIM_C_CLIENTS_DROPPED_SLOW]++;
		shim_client_close(c, "does not read its replies (output queue full)");
		return;
	}
	if (rc < 0) {
		fdm_info("client %llu: cannot queue a message: %s",
			 (unsigned long long)c->serial, strerror(-rc));
		return;
	}
	client_flush(c);
}

void shim_send_reply(struct shim_client *c, Fdm__ShimReply *reply)
{
	Fdm__ShimMessage m = FDM__SHIM_MESSAGE__INIT;
	Fdm__ShimReply too_big = FDM__SHIM_REPLY__INIT;

	reply->has_now_boottime_ms = true;
	reply->now_boottime_ms = fdm_now_boottime_ms();
	m.kind_case = FDM__SHIM_MESSAGE__KIND_REPLY;
	m.reply = reply;
	/* Every request gets its reply: one that cannot be framed (a huge domain
	 * XML or list) becomes an error that says so. */
	if (fdm__shim_message__get_packed_size(&m) > SHIM_FRAME_MAX) {
		too_big.id = reply->id;
		too_big.result = FDM__RESULT_CODE__RESULT_ERROR;
		too_big.message = "the reply exceeds the 1 MiB frame limit";
		too_big.has_now_boottime_ms = true;
		too_big.now_boottime_ms = reply->now_boottime_ms;
		m.reply = &too_big;
	}
	client_push(c, &m);
}

void shim_broadcast(struct shim *s, Fdm__EventType type, const struct shim_dom *dom,
		    const char *detail)
{
	Fdm__ShimMessage m = FDM__SHIM_MESSAGE__INIT;
	Fdm__ShimEvent ev = FDM__SHIM_EVENT__INIT;
	Fdm__DomainInfo info = FDM__DOMAIN_INFO__INIT;
	struct shim_client *c, *next;

	ev.type = type;
	if (dom != NULL) {
		shim_dom_to_pb(dom, &info);
		ev.domain = &info;
		ev.has_stop_reason = info.has_stop_reason &&
			(type == FDM__EVENT_TYPE__EVENT_STOPPED ||
			 type == FDM__EVENT_TYPE__EVENT_CRASHED ||
			 type == FDM__EVENT_TYPE__EVENT_FENCED);
		ev.stop_reason = info.stop_reason;
	}
	if (detail != NULL && detail[0] != '\0')
		ev.detail = (char *)detail;
	m.kind_case = FDM__SHIM_MESSAGE__KIND_EVENT;
	m.event = &ev;
	for (c = s->clients; c != NULL; c = next) {
		next = c->next;   /* client_push may close (not free) c */
		if (!c->subscribed || c->dead)
			continue;
		s->counters[SHIM_C_EVENTS_SENT]++;
		client_push(c, &m);
	}
}

void shim_client_unref(struct shim_client *c)
{
	if (--c->refs > 0)
		return;
	shim_frame_reader_free(&c->rd);
	shim_outq_free(&c->out);
	free(c);
}

void shim_client_close(struct shim_client *c, const char *why)
{
	struct shim *s = c->shim;

	if (c->dead)
		return;
	fdm_info("client %llu: disconnected (%s)", (unsigned long long)c->serial, why);
	c->dead = true;
	c->io = sd_event_source_disable_unref(c->io);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_clients--;
	shim_client_unref(c);
}

/* A frame the shim cannot use: answer with id 0 and count it by reason. */
static void bad_frame(struct shim_client *c, enum shim_counter reason, const char *msg)
{
	c->shim->counters[reason]++;
	fdm_info("client %llu: %s", (unsigned long long)c->serial, msg);
	shim_reply_result(c, 0, FDM__RESULT_CODE__RESULT_BAD_REQUEST, msg);
}

static void handle_frame(struct shim_client *c, const uint8_t *body, size_t len)
{
	Fdm__ShimRequest *req = fdm__shim_request__unpack(NULL, len, body);

	if (req == NULL) {
		bad_frame(c, SHIM_C_BAD_UNDECODABLE, "frame is not a valid ShimRequest");
		return;
	}
	c->shim->counters[SHIM_C_REQUESTS]++;
	shim_request_dispatch(c, req);
	fdm__shim_request__free_unpacked(req, NULL);
}

/* Feed bytes to the reader, acting on every whole frame. false: stop reading. */
static bool consume(struct shim_client *c, const uint8_t *buf, size_t n)
{
	while (n > 0 && !c->dead && !c->close_after_flush) {
		size_t used, len;
		const uint8_t *body;

		switch (shim_frame_reader_feed(&c->rd, buf, n, &used)) {
		case SHIM_FRAME_MORE:
			return true;
		case SHIM_FRAME_OVERSIZED:
			bad_frame(c, SHIM_C_BAD_OVERSIZED,
				  "frame length over 1 MiB: closing this connection");
			c->close_after_flush = true;
			if (!c->dead)
				client_flush(c);
			return false;
		case SHIM_FRAME_READY:
			c->frame_started_ms = 0;   /* the next frame has a clock of its own */
			body = shim_frame_reader_body(&c->rd, &len);
			handle_frame(c, body, len);
			shim_frame_reader_next(&c->rd);
			break;
		}
		buf += used;
		n -= used;
	}
	return !c->dead;
}

/* The peer shut its writing side: answer what it asked, then close. */
static void client_eof(struct shim_client *c)
{
	c->eof = true;
	if (shim_frame_reader_partial(&c->rd))
		bad_frame(c, SHIM_C_BAD_TRUNCATED, "connection closed in the middle of a frame");
	if (c->dead)
		return;
	if (c->inflight == 0) {
		c->close_after_flush = true;
		client_flush(c);
	} else {
		client_update_events(c);
	}
}

static void client_read(struct shim_client *c)
{
	uint8_t buf[READ_CHUNK];
	int i;

	for (i = 0; i < READS_PER_WAKEUP && !c->dead && !c->close_after_flush &&
		    !c->eof && c->inflight < SHIM_CLIENT_INFLIGHT; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0) {
			shim_client_close(c, strerror(errno));
			return;
		}
		if (n == 0) {
			client_eof(c);
			return;
		}
		if (!consume(c, buf, (size_t)n))
			return;
		shim_slots_heard(c);
	}
}

static int on_client_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct shim_client *c = userdata;

	(void)src;
	(void)fd;
	c->refs++;   /* anything below may close c */
	if (revents & (EPOLLERR))
		shim_client_close(c, "socket error");
	if (!c->dead && (revents & EPOLLOUT))
		client_flush(c);
	if (!c->dead && (revents & (EPOLLIN | EPOLLHUP)))
		client_read(c);
	/* Both directions closed: nothing more can be delivered. */
	if (!c->dead && (revents & EPOLLHUP) && c->eof)
		shim_client_close(c, "peer closed");
	if (!c->dead)
		client_update_events(c);
	shim_client_unref(c);
	return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct shim *s = userdata;
	struct shim_client *c;
	int cfd;

	(void)src;
	(void)revents;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (s->n_clients >= SHIM_MAX_CLIENTS && !shim_slots_make_room(s)) {
		s->counters[SHIM_C_CLIENTS_REFUSED]++;
		fdm_info("refusing a client: %zu connected, every one subscribed or busy",
			 s->n_clients);
		close(cfd);
		return 0;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		s->counters[SHIM_C_CLIENTS_REFUSED]++;
		close(cfd);
		return 0;
	}
	c->shim = s;
	c->fd = cfd;
	c->serial = ++s->next_serial;
	c->refs = 1;
	c->heard_ms = fdm_now_mono_ms();
	shim_frame_reader_init(&c->rd);
	shim_outq_init(&c->out, SHIM_CLIENT_OUTQ_CAP);
	if (sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_client_io, c) < 0) {
		close(cfd);
		shim_client_unref(c);
		return 0;
	}
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
	s->counters[SHIM_C_CLIENTS_ACCEPTED]++;
	fdm_info("client %llu: connected", (unsigned long long)c->serial);
	return 0;
}

/* Refuse to take over the socket of a shim that is still running. */
static int check_not_running(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	return 0;
}

static void socket_permissions(const char *path)
{
	struct group *g = getgrnam("fdm");

	/* Group fdm when it exists (operators in it may talk to the shim). */
	if (g != NULL && chown(path, 0, g->gr_gid) < 0)
		fdm_info("%s: chown to group fdm: %s", path, strerror(errno));
	if (chmod(path, 0660) < 0)
		fdm_info("%s: chmod 0660: %s", path, strerror(errno));
}

int shim_server_open(struct shim *s)
{
	const char *path = s->cfg.hostd_socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	mode_t old;
	int fd, rc;

	if (!fdm_strlcpy(sa.sun_path, path, sizeof(sa.sun_path))) {
		fdm_info("%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	fdm_strlcpy(dir, path, sizeof(dir));
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST) {
		fdm_info("%s: cannot create its directory: %s", path, strerror(errno));
		return -errno;
	}
	if (check_not_running(&sa) < 0) {
		fdm_info("%s: another hostd-shim is serving this socket", path);
		return -EADDRINUSE;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0117);   /* never world-accessible, not even for an instant */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		fdm_info("%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	socket_permissions(path);
	s->listen_fd = fd;
	if ((rc = shim_slots_init(s)) < 0)
		return rc;
	rc = sd_event_add_io(s->event, &s->listen_src, fd, EPOLLIN, on_accept, s);
	if (rc < 0)
		return rc;
	fdm_info("listening on %s", path);
	return 0;
}

void shim_server_close(struct shim *s)
{
	while (s->clients != NULL)
		shim_client_close(s->clients, "shim stopping");
	shim_slots_free(s);
	s->listen_src = sd_event_source_disable_unref(s->listen_src);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->cfg.hostd_socket);
	}
	s->listen_fd = -1;
}

/* Called by requests.c when a job of c finished: c may be read again. */
void shim_client_job_finished(struct shim_client *c)
{
	if (c->inflight > 0)
		c->inflight--;
	if (c->dead)
		return;
	if (c->eof && c->inflight == 0) {
		c->close_after_flush = true;
		client_flush(c);
		return;
	}
	client_update_events(c);
}
