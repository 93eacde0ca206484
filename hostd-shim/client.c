/* hostd-shim client library (client.h). One connection, a list of pending
 * requests (a handful at a time: a linear list is enough), one timer for their
 * timeouts, one for reconnecting. */
#include "hostd-shim/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/util.h"
#include "hostd-shim/frame.h"

#define DEFAULT_TIMEOUT_MS    30000
#define DEFAULT_RECONNECT_MIN 100
#define DEFAULT_RECONNECT_MAX 2000
#define CLIENT_OUTQ_CAP       (16u * 1024u * 1024u)
#define READ_CHUNK            65536

struct pending {
	struct pending *next;
	uint64_t id;
	uint64_t deadline_ms;        /* CLOCK_MONOTONIC */
	hostd_reply_fn cb;
	void *userdata;
};

struct hostd_client {
	sd_event *event;
	struct hostd_client_opts opts;
	char path[108];
	int fd;
	bool connected;
	sd_event_source *io;
	sd_event_source *reconnect_timer;
	sd_event_source *timeout_timer;
	uint32_t backoff_ms;
	struct shim_frame_reader rd;
	struct shim_outq out;
	struct pending *pending;
	uint64_t next_id;
	struct hostd_client_stats stats;
};

static void schedule_reconnect(struct hostd_client *c);

static void fail_all(struct hostd_client *c, int error)
{
	struct pending *p = c->pending, *next;

	c->pending = NULL;
	for (; p != NULL; p = next) {
		next = p->next;
		p->cb(NULL, error, p->userdata);
		free(p);
	}
}

static void disconnect(struct hostd_client *c)
{
	bool was = c->connected;

	c->io = sd_event_source_disable_unref(c->io);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->connected = false;
	shim_frame_reader_free(&c->rd);
	shim_outq_free(&c->out);
	fail_all(c, -ECONNRESET);
	if (was && c->opts.on_connection)
		c->opts.on_connection(false, c->opts.userdata);
	schedule_reconnect(c);
}

static void arm_timeout(struct hostd_client *c)
{
	uint64_t next = UINT64_MAX;
	struct pending *p;

	for (p = c->pending; p != NULL; p = p->next)
		if (p->deadline_ms < next)
			next = p->deadline_ms;
	if (next == UINT64_MAX) {
		sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(c->timeout_timer, next * 1000);
	sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_ONESHOT);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct hostd_client *c = userdata;
	uint64_t now = fdm_now_mono_ms();
	struct pending **pp = &c->pending, *p;

	(void)s;
	(void)usec;
	while ((p = *pp) != NULL) {
		if (p->deadline_ms > now) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->cb(NULL, -ETIMEDOUT, p->userdata);
		free(p);
	}
	arm_timeout(c);
	return 0;
}

static void update_io(struct hostd_client *c)
{
	if (c->io == NULL)
		return;
	sd_event_source_set_io_events(c->io, EPOLLIN | (shim_outq_empty(&c->out) ? 0 : EPOLLOUT));
}

static void on_reply(struct hostd_client *c, const Fdm__ShimReply *r)
{
	struct pending **pp, *p;

	for (pp = &c->pending; (p = *pp) != NULL; pp = &p->next) {
		if (p->id != r->id)
			continue;
		*pp = p->next;
		p->cb(r, 0, p->userdata);
		free(p);
		arm_timeout(c);
		return;
	}
	c->stats.unmatched_replies++;
}

static void on_frame(struct hostd_client *c, const uint8_t *body, size_t len)
{
	Fdm__ShimMessage *m = fdm__shim_message__unpack(NULL, len, body);

	if (m == NULL) {
		c->stats.bad_frames++;
		return;
	}
	if (m->kind_case == FDM__SHIM_MESSAGE__KIND_REPLY)
		on_reply(c, m->reply);
	else if (m->kind_case == FDM__SHIM_MESSAGE__KIND_EVENT && c->opts.on_event)
		c->opts.on_event(m->event, c->opts.userdata);
	else
		c->stats.bad_frames++;
	fdm__shim_message__free_unpacked(m, NULL);
}

/* false when the connection was dropped. */
static bool read_some(struct hostd_client *c)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	size_t off = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		disconnect(c);
		return false;
	}
	while (off < (size_t)n && c->fd >= 0) {
		size_t used, len;
		const uint8_t *body;

		switch (shim_frame_reader_feed(&c->rd, buf + off, (size_t)n - off, &used)) {
		case SHIM_FRAME_MORE:
			return true;
		case SHIM_FRAME_OVERSIZED:
			c->stats.bad_frames++;
			disconnect(c);
			return false;
		case SHIM_FRAME_READY:
			body = shim_frame_reader_body(&c->rd, &len);
			on_frame(c, body, len);
			shim_frame_reader_next(&c->rd);
			break;
		}
		off += used;
	}
	return c->fd >= 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct hostd_client *c = userdata;

	(void)s;
	(void)fd;
	if ((revents & EPOLLOUT) && shim_outq_flush(&c->out, c->fd) < 0) {
		disconnect(c);
		return 0;
	}
	if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !read_some(c))
		return 0;
	update_io(c);
	return 0;
}

static void ignore_reply(const Fdm__ShimReply *r, int error, void *userdata)
{
	(void)r;
	(void)error;
	(void)userdata;
}

static void try_connect(struct hostd_client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err = 0;

	fdm_strlcpy(sa.sun_path, c->path, sizeof(sa.sun_path));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err = errno;
	else if (sd_event_add_io(c->event, &c->io, fd, EPOLLIN, on_io, c) < 0)
		err = ENOMEM;
	if (err != 0) {
		if (fd >= 0)
			close(fd);
		schedule_reconnect(c);
		if (c->opts.on_connect_error)
			c->opts.on_connect_error(err, c->opts.userdata);
		return;
	}
	c->fd = fd;
	c->connected = true;
	c->backoff_ms = c->opts.reconnect_min_ms;
	shim_frame_reader_init(&c->rd);
	shim_outq_init(&c->out, CLIENT_OUTQ_CAP);
	if (c->opts.subscribe) {
		Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
		Fdm__SubscribeRequest sub = FDM__SUBSCRIBE_REQUEST__INIT;

		req.op_case = FDM__SHIM_REQUEST__OP_SUBSCRIBE;
		req.subscribe = &sub;
		hostd_client_call(c, &req, 0, ignore_reply, NULL);
	}
	if (c->opts.on_connection)
		c->opts.on_connection(true, c->opts.userdata);
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct hostd_client *c = userdata;

	(void)s;
	(void)usec;
	if (c->fd < 0)
		try_connect(c);
	return 0;
}

static void schedule_reconnect(struct hostd_client *c)
{
	uint64_t at = (fdm_now_mono_ms() + c->backoff_ms) * 1000;

	c->stats.reconnects++;
	sd_event_source_set_time(c->reconnect_timer, at);
	sd_event_source_set_enabled(c->reconnect_timer, SD_EVENT_ONESHOT);
	c->backoff_ms *= 2;
	if (c->backoff_ms > c->opts.reconnect_max_ms)
		c->backoff_ms = c->opts.reconnect_max_ms;
}

int hostd_client_new(sd_event *event, const struct hostd_client_opts *opts,
		     struct hostd_client **out)
{
	struct hostd_client *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return -ENOMEM;
	c->fd = -1;
	c->event = sd_event_ref(event);
	c->opts = *opts;
	if (c->opts.reconnect_min_ms == 0)
		c->opts.reconnect_min_ms = DEFAULT_RECONNECT_MIN;
	if (c->opts.reconnect_max_ms == 0)
		c->opts.reconnect_max_ms = DEFAULT_RECONNECT_MAX;
	c->backoff_ms = c->opts.reconnect_min_ms;
	if (!fdm_strlcpy(c->path, opts->socket_path, sizeof(c->path))) {
		hostd_client_free(c);
		return -ENAMETOOLONG;
	}
	c->opts.socket_path = c->path;
	/* First attempt right away (from the loop), later ones after backoff. */
	rc = sd_event_add_time(event, &c->reconnect_timer, CLOCK_MONOTONIC, 0, 1000,
			       on_reconnect, c);
	if (rc >= 0)
		rc = sd_event_add_time(event, &c->timeout_timer, CLOCK_MONOTONIC, UINT64_MAX,
				       1000, on_timeout, c);
	if (rc < 0) {
		hostd_client_free(c);
		return rc;
	}
	sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_OFF);
	*out = c;
	return 0;
}

void hostd_client_free(struct hostd_client *c)
{
	if (c == NULL)
		return;
	c->io = sd_event_source_disable_unref(c->io);
	if (c->fd >= 0)
		close(c->fd);
	fail_all(c, -ECANCELED);
	shim_frame_reader_free(&c->rd);
	shim_outq_free(&c->out);
	sd_event_source_disable_unref(c->reconnect_timer);
	sd_event_source_disable_unref(c->timeout_timer);
	sd_event_unref(c->event);
	free(c);
}

bool hostd_client_connected(const struct hostd_client *c)
{
	return c->connected;
}

int hostd_client_call(struct hostd_client *c, Fdm__ShimRequest *req, uint32_t timeout_ms,
		      hostd_reply_fn cb, void *userdata)
{
	struct pending *p;
	int rc;

	if (!c->connected)
		return -ENOTCONN;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	req->id = ++c->next_id;
	rc = shim_outq_push_message(&c->out, &req->base);
	if (rc < 0) {
		free(p);
		return rc == -ENOBUFS ? -ENOMEM : rc;
	}
	p->id = req->id;
	p->deadline_ms = fdm_now_mono_ms() + (timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS);
	p->cb = cb;
	p->userdata = userdata;
	p->next = c->pending;
	c->pending = p;
	arm_timeout(c);
	if (shim_outq_flush(&c->out, c->fd) < 0) {
		/* Reported from the loop, like any loss of the connection. */
		sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLOUT);
		return 0;
	}
	update_io(c);
	return 0;
}

void hostd_client_stats(const struct hostd_client *c, struct hostd_client_stats *out)
{
	*out = c->stats;
}
