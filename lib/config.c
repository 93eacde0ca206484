/* Strict parser of the cluster config file (INTERFACE.md), on top of inih.
 * Unknown sections and keys are errors, every value is range-checked, and every
 * error names file, line and key, so an operator can fix it without guessing. */
#include "lib/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/timing.h"
#include "lib/util.h"

enum section { S_CLUSTER, S_HOST, S_PEERS, S_DATASTORES, S_ISOLATION, S_TIMING,
	       S_RESTART, S_HOSTD, S_CONTROL, S_COUNT };

static const char *const section_names[S_COUNT] = {
	"cluster", "host", "peers", "datastores", "isolation", "timing",
	"restart", "hostd", "control",
};

/* Keys of the fixed sections, with the index used in seen.key_line. */
struct key_def {
	enum section section;
	const char *name;
};

enum key { K_CLUSTER_ID, K_KEY_FILE, K_HOST_ID, K_ADDRESS, K_PORT, K_ISO_ADDRESSES,
	   K_RESPONSE, K_SHUTDOWN_TIMEOUT, K_HB_INTERVAL, K_IO_TIMEOUT, K_MAX_ATTEMPTS,
	   K_HOST_FAILURES, K_HOSTD_SOCKET, K_LIBVIRT_URI, K_CONTROL_SOCKET, K_COUNT };

static const struct key_def keys[K_COUNT] = {
	[K_CLUSTER_ID] = { S_CLUSTER, "id" },
	[K_KEY_FILE] = { S_CLUSTER, "key_file" },
	[K_HOST_ID] = { S_HOST, "id" },
	[K_ADDRESS] = { S_HOST, "address" },
	[K_PORT] = { S_HOST, "port" },
	[K_ISO_ADDRESSES] = { S_ISOLATION, "addresses" },
	[K_RESPONSE] = { S_ISOLATION, "response" },
	[K_SHUTDOWN_TIMEOUT] = { S_ISOLATION, "shutdown_timeout_s" },
	[K_HB_INTERVAL] = { S_TIMING, "heartbeat_interval_ms" },
	[K_IO_TIMEOUT] = { S_TIMING, "io_timeout_ms" },
	[K_MAX_ATTEMPTS] = { S_RESTART, "max_attempts" },
	[K_HOST_FAILURES] = { S_RESTART, "host_failures_tolerated" },
	[K_HOSTD_SOCKET] = { S_HOSTD, "socket" },
	[K_LIBVIRT_URI] = { S_HOSTD, "libvirt_uri" },
	[K_CONTROL_SOCKET] = { S_CONTROL, "socket" },
};

/* Lines of the file where things were seen (0: not in the file), for messages
 * about missing keys and cross-key checks. */
struct parser {
	struct fdm_config *cfg;
	const char *path;
	FILE *file;
	int line;               /* line the reader returned last */
	bool line_too_long;
	char *err;
	size_t errlen;
	bool failed;
	int section_line[S_COUNT];
	int key_line[K_COUNT];
	int peer_line[FDM_MAX_HOSTS];
};

static int fail(struct parser *p, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, int line, const char *key, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s: %s", p->path, line, key, why);
	else
		snprintf(p->err, p->errlen, "%s: %s: %s", p->path, key, why);
	p->failed = true;
	return 0;  /* inih: stop parsing */
}

static int find_section(const char *name);

/* Messages about a whole section ("missing in [cluster]") point at its header. */
static void note_section_header(struct parser *p, const char *line)
{
	char name[32];
	const char *end;
	size_t len;
	int s;

	line += strspn(line, " \t");
	if (line[0] != '[' || (end = strchr(line, ']')) == NULL)
		return;
	len = (size_t)(end - line - 1);
	if (len >= sizeof(name))
		return;
	memcpy(name, line + 1, len);
	name[len] = '\0';
	s = find_section(name);
	if (s >= 0 && p->section_line[s] == 0)
		p->section_line[s] = p->line;
}

/* inih has no line numbers in handlers in Debian's build: count them here. */
static char *counting_reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	char *r = fgets(str, num, p->file);
	size_t n;

	if (r == NULL)
		return NULL;
	p->line++;
	n = strlen(r);
	if (n == (size_t)num - 1 && r[n - 1] != '\n' && !feof(p->file)) {
		p->line_too_long = true;
		return NULL;
	}
	note_section_header(p, r);
	return r;
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= FDM_ID_MAX)
		return false;
	for (; *s; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		if (!ok)
			return false;
	}
	return true;
}

static bool valid_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* "10.0.0.1", "10.0.0.1:8183", "[fd00::1]:8183" or "fd00::1". */
static bool parse_address_port(const char *value, char *addr, size_t addrlen, uint16_t *port)
{
	char buf[FDM_ADDR_MAX + 8];
	char *colon;
	uint32_t p = FDM_DEFAULT_PORT;

	if (!fdm_strlcpy(buf, value, sizeof(buf)))
		return false;
	if (buf[0] == '[') {
		char *end = strchr(buf, ']');
		if (end == NULL)
			return false;
		*end = '\0';
		if (end[1] == ':' && !fdm_parse_u32(end + 2, 1, 65535, &p))
			return false;
		if (end[1] != '\0' && end[1] != ':')
			return false;
		memmove(buf, buf + 1, strlen(buf + 1) + 1);
	} else if ((colon = strchr(buf, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		*colon = '\0';
		if (!fdm_parse_u32(colon + 1, 1, 65535, &p))
			return false;
	}
	if (!valid_ip(buf) || !fdm_strlcpy(addr, buf, addrlen))
		return false;
	*port = (uint16_t)p;
	return true;
}

static int find_key(enum section s, const char *name)
{
	for (int k = 0; k < K_COUNT; k++)
		if (keys[k].section == s && strcmp(keys[k].name, name) == 0)
			return k;
	return -1;
}

static int set_string(struct parser *p, const char *key, const char *value,
		      char *dst, size_t size)
{
	if (value[0] == '\0')
		return fail(p, p->line, key, "must not be empty");
	if (!fdm_strlcpy(dst, value, size))
		return fail(p, p->line, key, "too long (at most %zu characters)", size - 1);
	return 1;
}

static int set_u32(struct parser *p, const char *key, const char *value,
		   uint32_t min, uint32_t max, uint32_t *dst)
{
	if (!fdm_parse_u32(value, min, max, dst))
		return fail(p, p->line, key, "must be a whole number between %u and %u (got \"%s\")",
			    min, max, value);
	return 1;
}

static int set_path(struct parser *p, const char *key, const char *value, char *dst)
{
	if (value[0] != '/')
		return fail(p, p->line, key, "must be an absolute path (got \"%s\")", value);
	return set_string(p, key, value, dst, PATH_MAX);
}

static int add_isolation_addresses(struct parser *p, const char *key, const char *value)
{
	char buf[FDM_ADDR_MAX * FDM_MAX_ISO_ADDRS];
	char *save = NULL;
	struct fdm_config *c = p->cfg;

	if (!fdm_strlcpy(buf, value, sizeof(buf)))
		return fail(p, p->line, key, "too long");
	c->n_isolation_addresses = 0;
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (!valid_ip(tok))
			return fail(p, p->line, key, "\"%s\" is not a numeric IP address", tok);
		if (c->n_isolation_addresses == FDM_MAX_ISO_ADDRS)
			return fail(p, p->line, key, "at most %d addresses", FDM_MAX_ISO_ADDRS);
		fdm_strlcpy(c->isolation_addresses[c->n_isolation_addresses++], tok, FDM_ADDR_MAX);
	}
	return 1;
}

static int set_fixed_key(struct parser *p, int k, const char *value)
{
	struct fdm_config *c = p->cfg;
	const char *name = keys[k].name;

	switch ((enum key)k) {
	case K_CLUSTER_ID:
	case K_HOST_ID:
		if (!valid_id(value))
			return fail(p, p->line, name,
				    "must be 1-%d characters of A-Z a-z 0-9 . _ - (got \"%s\")",
				    FDM_ID_MAX - 1, value);
		fdm_strlcpy(k == K_CLUSTER_ID ? c->cluster_id : c->host_id, value, FDM_ID_MAX);
		return 1;
	case K_KEY_FILE:
		return set_path(p, name, value, c->key_file);
	case K_ADDRESS:
		if (!valid_ip(value))
			return fail(p, p->line, name, "must be a numeric IP address (got \"%s\")", value);
		return set_string(p, name, value, c->address, sizeof(c->address));
	case K_PORT: {
		uint32_t port;
		if (!set_u32(p, name, value, 1, 65535, &port))
			return 0;
		c->port = (uint16_t)port;
		return 1;
	}
	case K_ISO_ADDRESSES:
		return add_isolation_addresses(p, name, value);
	case K_RESPONSE:
		if (strcmp(value, "none") == 0)
			c->isolation_response = FDM_ISO_NONE;
		else if (strcmp(value, "shutdown") == 0)
			c->isolation_response = FDM_ISO_SHUTDOWN;
		else if (strcmp(value, "poweroff") == 0)
			c->isolation_response = FDM_ISO_POWEROFF;
		else
			return fail(p, p->line, name, "must be none, shutdown or poweroff (got \"%s\")", value);
		return 1;
	case K_SHUTDOWN_TIMEOUT:
		return set_u32(p, name, value, 1, 3600, &c->shutdown_timeout_s);
	case K_HB_INTERVAL:
		return set_u32(p, name, value, FDM_HEARTBEAT_MIN_MS, FDM_HEARTBEAT_MAX_MS,
			       &c->heartbeat_interval_ms);
	case K_IO_TIMEOUT:
		return set_u32(p, name, value, FDM_IO_TIMEOUT_MIN_MS, FDM_IO_TIMEOUT_MAX_MS,
			       &c->io_timeout_ms);
	case K_MAX_ATTEMPTS:
		return set_u32(p, name, value, 1, 100, &c->max_attempts);
	case K_HOST_FAILURES:
		return set_u32(p, name, value, 0, FDM_MAX_HOSTS - 1, &c->host_failures_tolerated);
	case K_HOSTD_SOCKET:
		return set_path(p, name, value, c->hostd_socket);
	case K_LIBVIRT_URI:
		return set_string(p, name, value, c->libvirt_uri, sizeof(c->libvirt_uri));
	case K_CONTROL_SOCKET:
		return set_path(p, name, value, c->control_socket);
	case K_COUNT:
		break;
	}
	return fail(p, p->line, name, "internal: unhandled key");
}

static int add_peer(struct parser *p, const char *id, const char *value)
{
	struct fdm_config *c = p->cfg;
	struct fdm_peer *peer;

	if (!valid_id(id))
		return fail(p, p->line, id, "host id must be 1-%d characters of A-Z a-z 0-9 . _ -",
			    FDM_ID_MAX - 1);
	if (fdm_config_peer_index(c, id) >= 0)
		return fail(p, p->line, id, "host listed twice in [peers]");
	if (c->n_peers == FDM_MAX_HOSTS)
		return fail(p, p->line, id, "at most %d hosts in [peers]", FDM_MAX_HOSTS);
	peer = &c->peers[c->n_peers];
	if (!parse_address_port(value, peer->address, sizeof(peer->address), &peer->port))
		return fail(p, p->line, id, "must be a numeric IP address, optionally with :port (got \"%s\")",
			    value);
	fdm_strlcpy(peer->id, id, sizeof(peer->id));
	p->peer_line[c->n_peers] = p->line;
	c->n_peers++;
	return 1;
}

static int add_datastore(struct parser *p, const char *name, const char *url)
{
	struct fdm_config *c = p->cfg;
	struct fdm_datastore_conf *ds;

	if (!valid_id(name))
		return fail(p, p->line, name, "datastore name must be 1-%d characters of A-Z a-z 0-9 . _ -",
			    FDM_ID_MAX - 1);
	if (fdm_config_datastore_index(c, name) >= 0)
		return fail(p, p->line, name, "datastore listed twice");
	if (c->n_datastores == FDM_MAX_DATASTORES)
		return fail(p, p->line, name, "at most %d datastores", FDM_MAX_DATASTORES);
	if (strncmp(url, "file:///", 8) != 0 && strncmp(url, "nfs://", 6) != 0 &&
	    strncmp(url, "iscsi://", 8) != 0)
		return fail(p, p->line, name, "URL must start with file:///, nfs:// or iscsi:// (got \"%s\")",
			    url);
	for (size_t i = 0; i < c->n_datastores; i++)
		if (strcmp(c->datastores[i].url, url) == 0)
			return fail(p, p->line, name, "same URL as datastore %s", c->datastores[i].name);
	ds = &c->datastores[c->n_datastores];
	if (!fdm_strlcpy(ds->url, url, sizeof(ds->url)))
		return fail(p, p->line, name, "URL too long (at most %d characters)", FDM_URL_MAX - 1);
	fdm_strlcpy(ds->name, name, sizeof(ds->name));
	c->n_datastores++;
	return 1;
}

static int find_section(const char *name)
{
	for (int s = 0; s < S_COUNT; s++)
		if (strcmp(section_names[s], name) == 0)
			return s;
	return -1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	int s = find_section(section);
	int k;

	if (p->failed)
		return 0;
	if (section[0] == '\0')
		return fail(p, p->line, name, "key outside any section");
	if (s < 0)
		return fail(p, p->line, name, "unknown section [%s]", section);
	if (p->section_line[s] == 0)
		p->section_line[s] = p->line;
	if (name == NULL)  /* inih calls with name NULL for a new section (INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;
	if (s == S_PEERS)
		return add_peer(p, name, value);
	if (s == S_DATASTORES)
		return add_datastore(p, name, value);
	k = find_key((enum section)s, name);
	if (k < 0)
		return fail(p, p->line, name, "unknown key in [%s]", section);
	if (p->key_line[k] != 0)
		return fail(p, p->line, name, "set twice in [%s] (first on line %d)", section,
			    p->key_line[k]);
	p->key_line[k] = p->line;
	return set_fixed_key(p, k, value);
}

static void set_defaults(struct fdm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->port = FDM_DEFAULT_PORT;
	c->isolation_response = FDM_ISO_NONE;
	c->shutdown_timeout_s = 300;
	c->heartbeat_interval_ms = 1000;
	c->io_timeout_ms = 2000;
	c->max_attempts = 5;
	c->host_failures_tolerated = 1;
	fdm_strlcpy(c->hostd_socket, FDM_DEFAULT_HOSTD_SOCKET, sizeof(c->hostd_socket));
	fdm_strlcpy(c->libvirt_uri, FDM_DEFAULT_LIBVIRT_URI, sizeof(c->libvirt_uri));
	fdm_strlcpy(c->control_socket, FDM_DEFAULT_CONTROL_SOCKET, sizeof(c->control_socket));
}

/* A key the caller needs but the file lacks: name the section's line if any. */
static int require_key(struct parser *p, int k)
{
	enum section s = keys[k].section;

	if (p->key_line[k] != 0)
		return 0;
	fail(p, p->section_line[s], keys[k].name, "missing in [%s]", section_names[s]);
	return -1;
}

static int require_section(struct parser *p, enum section s, bool empty)
{
	if (!empty)
		return 0;
	fail(p, p->section_line[s], section_names[s], "section [%s] is missing or empty",
	     section_names[s]);
	return -1;
}

static int check_agent(struct parser *p)
{
	struct fdm_config *c = p->cfg;
	struct fdm_timing t;
	char why[256];
	int self;
	int k;

	if (require_key(p, K_CLUSTER_ID) || require_key(p, K_KEY_FILE) ||
	    require_key(p, K_HOST_ID) || require_key(p, K_ADDRESS) ||
	    require_section(p, S_PEERS, c->n_peers == 0))
		return -1;
	self = fdm_config_peer_index(c, c->host_id);
	if (self < 0) {
		fail(p, p->section_line[S_PEERS], c->host_id,
		     "this host ([host] id) must be listed in [peers]");
		return -1;
	}
	if (strcmp(c->peers[self].address, c->address) != 0 || c->peers[self].port != c->port) {
		fail(p, p->peer_line[self], c->host_id,
		     "[peers] gives %s:%u but [host] says %s:%u", c->peers[self].address,
		     c->peers[self].port, c->address, c->port);
		return -1;
	}
	if (fdm_timing_derive(c->heartbeat_interval_ms, c->io_timeout_ms, &t, why, sizeof(why)) < 0) {
		k = p->key_line[K_HB_INTERVAL] ? K_HB_INTERVAL : K_IO_TIMEOUT;
		fail(p, p->key_line[k], "timing", "%s", why);
		return -1;
	}
	return 0;
}

static int check_key_file(struct parser *p)
{
	uint8_t key[FDM_KEY_MAX];
	char why[512];

	if (require_key(p, K_CLUSTER_ID) || require_key(p, K_KEY_FILE))
		return -1;
	if (fdm_key_load(p->cfg->key_file, key, why, sizeof(why)) < 0) {
		fail(p, p->key_line[K_KEY_FILE], "key_file", "%s", why);
		return -1;
	}
	memset(key, 0, sizeof(key));
	return 0;
}

int fdm_config_load(const char *path, unsigned need, struct fdm_config *out,
		    char *err, size_t errlen)
{
	struct parser p = { .cfg = out, .path = path, .err = err, .errlen = errlen };
	int rc;

	set_defaults(out);
	fdm_strlcpy(out->path, path, sizeof(out->path));
	p.file = fopen(path, "r");
	if (p.file == NULL) {
		snprintf(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(counting_reader, &p, handler, &p);
	fclose(p.file);
	if (p.line_too_long)
		fail(&p, p.line, "line", "too long (at most %d characters)", 199);
	if (!p.failed && rc != 0)
		fail(&p, rc > 0 ? rc : p.line, "syntax", "expected [section] or key = value");
	if (p.failed)
		return -1;
	if ((need & FDM_NEED_AGENT) && (check_agent(&p) < 0 || check_key_file(&p) < 0))
		return -1;
	if ((need & FDM_NEED_CLUSTER) && check_key_file(&p) < 0)
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

int fdm_key_load(const char *path, uint8_t key[FDM_KEY_MAX], char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO named by mistake must not hang the agent's start. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot read key file: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: cannot read key file: not a regular file", path);
		return -1;
	}
	n = read(fd, key, FDM_KEY_MAX);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: cannot read key file: %s", path, strerror(errno));
		return -1;
	}
	if (n < 32) {
		snprintf(err, errlen, "%s: key file holds %zd bytes, needs at least 32 (fdmctl keygen)",
			 path, n);
		return -1;
	}
	return (int)n;
}
