/* Loading the cluster config file (INTERFACE.md): open it safely, read its lines
 * (config_parse.c), check it as a whole (config_check.c). Also the lookups every
 * program uses on a loaded config. */
#include "lib/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/config_internal.h"
#include "lib/util.h"

int config_fail(struct config_parser *p, int line, const char *key, const char *fmt, ...)
{
	char why[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s: %s", p->path, line, key, why);
	else
		snprintf(p->err, p->errlen, "%s: %s: %s", p->path, key, why);
	p->failed = true;
	p->fail_line = line;
	return 0;  /* inih: stop parsing */
}

static void set_defaults(struct fdm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->port = FDM_DEFAULT_PORT;
	c->isolation_response = FDM_ISO_NONE;
	c->shutdown_timeout_s = 300;
	fdm_strlcpy(c->watchdog_device, "/dev/watchdog", sizeof(c->watchdog_device));
	c->heartbeat_interval_ms = 1000;
	c->io_timeout_ms = 2000;
	c->max_attempts = 5;
	c->host_failures_tolerated = 1;
	fdm_strlcpy(c->hostd_socket, FDM_DEFAULT_HOSTD_SOCKET, sizeof(c->hostd_socket));
	fdm_strlcpy(c->libvirt_uri, FDM_DEFAULT_LIBVIRT_URI, sizeof(c->libvirt_uri));
	fdm_strlcpy(c->control_socket, FDM_DEFAULT_CONTROL_SOCKET, sizeof(c->control_socket));
}

/* A FIFO or a directory given as the config would hang or confuse stdio: only a
 * regular file is read, opened without blocking. */
static FILE *open_config(const char *path, char *err, size_t errlen)
{
	struct stat st;
	const char *why;
	int fd = fdm_open_regular(path, &st, &why);
	FILE *f;

	if (fd < 0) {
		if (strcmp(why, "not a regular file") == 0)
			snprintf(err, errlen, "%s: not a regular file", path);
		else
			snprintf(err, errlen, "%s: cannot open config file: %s", path, why);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open config file: out of memory", path);
		close(fd);
	}
	return f;
}

int fdm_config_load(const char *path, unsigned need, struct fdm_config *out,
		    char *err, size_t errlen)
{
	struct config_parser p = { .cfg = out, .path = path, .err = err, .errlen = errlen };
	bool ok;

	set_defaults(out);
	fdm_strlcpy(out->path, path, sizeof(out->path));
	p.file = open_config(path, err, errlen);
	if (p.file == NULL)
		return -1;
	ok = config_parse(&p);
	fclose(p.file);
	if (!ok || !config_check(&p, need))
		return -1;
	return 0;
}

const char *fdm_isolation_response_name(enum fdm_isolation_response r)
{
	switch (r) {
	case FDM_ISO_NONE: return "none";
	case FDM_ISO_SHUTDOWN: return "shutdown";
	case FDM_ISO_POWEROFF: return "poweroff";
	}
	return "?";
}

int fdm_config_peer_index(const struct fdm_config *c, const char *host_id)
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (strcmp(c->peers[i].id, host_id) == 0)
			return (int)i;
	return -1;
}

int fdm_config_datastore_index(const struct fdm_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_datastores; i++)
		if (strcmp(c->datastores[i].name, name) == 0)
			return (int)i;
	return -1;
}
