/* Unix-socket server for fdmctl. Each client is a small non-blocking state
 * machine (read a line, answer, write, close) with a deadline, so a stuck or
 * hostile client can never stall the agent's loop or hold memory for long. */
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
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_done;
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

/* Parse the request line and let the agent answer it. */
static void answer(struct fdm_control_client *cl)
{
	struct fdm_control *ctl = cl->ctl;
	json_object *req = json_tokener_parse(cl->in);
	json_object *reply;
	const char *text;

	if (req == NULL || !json_object_is_type(req, json_type_object)) {
		ctl->rejected++;
		reply = fdm_control_error("malformed request: expected one JSON object");
	} else {
		reply = ctl->handler(ctl->userdata, req);
	}
	json_object_put(req);
	text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	cl->out_len = strlen(text) + 1;
	cl->out = malloc(cl->out_len + 1);
	if (cl->out != NULL) {
		memcpy(cl->out, text, cl->out_len - 1);
		cl->out[cl->out_len - 1] = '\n';
	} else {
		cl->out_len = 0;
	}
	json_object_put(reply);
	sd_event_source_set_io_events(cl->io_src, EPOLLOUT);
}

static int client_read(struct fdm_control_client *cl)
{
	char buf[4096];
	ssize_t n = read(cl->fd, buf, sizeof(buf));
	char *nl;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0 && cl->in_len == 0)
		return -1;
	if (cl->in_len + (size_t)n > FDM_CONTROL_REQUEST_MAX) {
		cl->ctl->rejected++;
		return -1;
	}
	memcpy(cl->in + cl->in_len, buf, (size_t)n);
	cl->in_len += (size_t)n;
	cl->in[cl->in_len] = '\0';
	nl = memchr(cl->in, '\n', cl->in_len);
	if (nl != NULL)
		*nl = '\0';
	if (nl == NULL && n != 0)
		return 0;
	answer(cl);
	return cl->out != NULL ? 0 : -1;
}

static int client_write(struct fdm_control_client *cl)
{
	ssize_t n;

	if (cl->out_done == cl->out_len)
		return -1;
	n = write(cl->fd, cl->out + cl->out_done, cl->out_len - cl->out_done);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	cl->out_done += (size_t)n;
	return cl->out_done == cl->out_len ? -1 : 0;
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct fdm_control_client *cl = userdata;
	int rc = 0;

	(void)s;
	(void)fd;
	if (cl->out != NULL)
		rc = client_write(cl);
	else if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
		rc = client_read(cl);
	if (rc < 0)
		client_free(cl);
	return 0;
}

static int on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fdm_control_client *cl = userdata;

	(void)s;
	(void)usec;
	cl->ctl->rejected++;
	client_free(cl);
	return 0;
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
	if (ctl->n_clients >= FDM_CONTROL_CLIENTS_MAX) {
		ctl->rejected++;
		close(cfd);
		return 0;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl != NULL)
		cl->in = malloc(FDM_CONTROL_REQUEST_MAX + 1);
	if (cl == NULL || cl->in == NULL ||
	    sd_event_add_io(ctl->event, &cl->io_src, cfd, EPOLLIN, on_client_io, cl) < 0 ||
	    sd_event_add_time_relative(ctl->event, &cl->timer_src, CLOCK_MONOTONIC,
				       FDM_CONTROL_TIMEOUT_MS * 1000ULL, 0,
				       on_client_timeout, cl) < 0) {
		if (cl != NULL) {
			sd_event_source_disable_unref(cl->io_src);
			free(cl->in);
		}
		free(cl);
		close(cfd);
		return 0;
	}
	cl->ctl = ctl;
	cl->fd = cfd;
	cl->next = ctl->clients;
	ctl->clients = cl;
	ctl->n_clients++;
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
	    listen(ctl->fd, 16) < 0) {
		umask(old_mask);
		snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(errno));
		fdm_control_close(ctl);
		return -1;
	}
	umask(old_mask);
	set_access(path);
	if (sd_event_add_io(e, &ctl->listen_src, ctl->fd, EPOLLIN, on_accept, ctl) < 0) {
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
