/* The config file's lines, read through inih: sections, keys and their values
 * into struct fdm_config. Strict: unknown sections and keys, keys set twice,
 * values out of range, and lines inih would misread (too long, NUL bytes, a
 * section header without its ]) are errors that name file, line and key. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "lib/config_internal.h"
#include "lib/timing.h"
#include "lib/util.h"

/* inih's line buffer: a longer line would be split by it. */
#define LINE_MAX_CHARS 199

const char *const config_section_names[S_COUNT] = {
	"cluster", "host", "peers", "datastores", "isolation", "timing",
	"restart", "hostd", "control", "metrics", "watchdog",
};

const struct config_key config_keys[K_COUNT] = {
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
	[K_RETRY_DELAY] = { S_RESTART, "retry_delay_s" },
	[K_HOSTD_SOCKET] = { S_HOSTD, "socket" },
	[K_LIBVIRT_URI] = { S_HOSTD, "libvirt_uri" },
	[K_CONTROL_SOCKET] = { S_CONTROL, "socket" },
	[K_METRICS_TEXTFILE] = { S_METRICS, "textfile" },
	[K_WATCHDOG_DEVICE] = { S_WATCHDOG, "device" },
};

static int find_section(const char *name)
{
	for (int s = 0; s < S_COUNT; s++)
		if (strcmp(config_section_names[s], name) == 0)
			return s;
	return -1;
}

static int find_key(enum section s, const char *name)
{
	for (int k = 0; k < K_COUNT; k++)
		if (config_keys[k].section == s && strcmp(config_keys[k].name, name) == 0)
			return k;
	return -1;
}

/* ------------------------------------------------------------------ lines */

/* A section header: remember its line (messages about a whole section point at
 * it). One without its ] is an error here: inih reports it too, but keeps
 * reading under the previous section, so a handler would blame a later line. */
static bool note_section_header(struct config_parser *p, const char *line)
{
	char name[32];
	const char *end;
	size_t len;
	int s;

	line += strspn(line, " \t");
	if (line[0] != '[')
		return true;
	if ((end = strchr(line, ']')) == NULL) {
		len = strcspn(line, "\r\n;");
		while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		config_fail(p, p->line, "section", "header \"%.*s\" has no closing ]", (int)len,
			    line);
		return false;
	}
	len = (size_t)(end - line - 1);
	if (len >= sizeof(name))
		return true;
	memcpy(name, line + 1, len);
	name[len] = '\0';
	s = find_section(name);
	if (s >= 0 && p->section_line[s] == 0)
		p->section_line[s] = p->line;
	return true;
}

/* A NUL byte: inih would end the line there and drop the rest unseen. Names the
 * key when the NUL sits in a value. */
static void fail_nul(struct config_parser *p, const char *line, size_t nul_at)
{
	const char *eq = memchr(line, '=', nul_at);
	char key[64];
	size_t start, end;

	if (eq == NULL) {
		config_fail(p, p->line, "line", "contains a NUL byte (binary or damaged file?)");
		return;
	}
	start = strspn(line, " \t");
	end = (size_t)(eq - line);
	while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	snprintf(key, sizeof(key), "%.*s", (int)(end - start), line + start);
	config_fail(p, p->line, key[0] ? key : "line", "value contains a NUL byte");
}

/* inih reads lines through this: it counts them (Debian's inih gives handlers no
 * line numbers) and stops at what inih would misread. */
static char *counting_reader(char *str, int num, void *stream)
{
	struct config_parser *p = stream;
	size_t n = 0, nul_at = 0;
	bool nul = false;
	int c = EOF;

	if (p->failed || num < 2)
		return NULL;
	while (n + 1 < (size_t)num && (c = getc(p->file)) != EOF) {
		if (c == '\0' && !nul) {
			nul = true;
			nul_at = n;
		}
		str[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (n == 0)
		return NULL;
	str[n] = '\0';
	p->line++;
	if (nul) {
		fail_nul(p, str, nul_at);
		return NULL;
	}
	if (c != '\n' && n + 1 == (size_t)num && (c = getc(p->file)) != EOF && c != '\n') {
		config_fail(p, p->line, "line", "too long (at most %d characters)", LINE_MAX_CHARS);
		return NULL;
	}
	if (!note_section_header(p, str))
		return NULL;
	return str;
}

/* ------------------------------------------------------------------ values */

static int set_string(struct config_parser *p, const char *key, const char *value,
		      char *dst, size_t size)
{
	if (value[0] == '\0')
		return config_fail(p, p->line, key, "must not be empty");
	if (!fdm_strlcpy(dst, value, size))
		return config_fail(p, p->line, key, "too long (at most %zu characters)", size - 1);
	return 1;
}

static int set_u32(struct config_parser *p, const char *key, const char *value,
		   uint32_t min, uint32_t max, uint32_t *dst)
{
	if (!fdm_parse_u32(value, min, max, dst))
		return config_fail(p, p->line, key,
				   "must be a whole number between %u and %u (got \"%s\")",
				   min, max, value);
	return 1;
}

static int set_path(struct config_parser *p, const char *key, const char *value, char *dst)
{
	if (value[0] != '/')
		return config_fail(p, p->line, key, "must be an absolute path (got \"%s\")", value);
	return set_string(p, key, value, dst, PATH_MAX);
}

/* A unix socket's path must fit in sun_path, or bind() fails at start. */
static int set_socket_path(struct config_parser *p, const char *key, const char *value,
			   char *dst)
{
	size_t max = config_socket_path_max();

	if (strlen(value) > max)
		return config_fail(p, p->line, key,
				   "too long for a unix socket (%zu characters, at most %zu)",
				   strlen(value), max);
	return set_path(p, key, value, dst);
}

/* The agent replaces the metrics file by rename: something else at that path
 * (a directory, a device, a symlink) is a mistake to report now. */
static int set_textfile(struct config_parser *p, const char *key, const char *value)
{
	struct stat st;

	if (value[0] != '\0' && lstat(value, &st) == 0 && !S_ISREG(st.st_mode))
		return config_fail(p, p->line, key, "%s exists and is not a regular file", value);
	return set_path(p, key, value, p->cfg->metrics_textfile);
}

static int set_address(struct config_parser *p, const char *key, const char *value)
{
	if (!config_valid_ip(value))
		return config_fail(p, p->line, key, "must be a numeric IP address (got \"%s\")",
				   value);
	if (config_unspecified_ip(value))
		return config_fail(p, p->line, key, "must be an address of this host, not the "
				   "wildcard %s (peers send to it)", value);
	return set_string(p, key, value, p->cfg->address, sizeof(p->cfg->address));
}

static int add_isolation_addresses(struct config_parser *p, const char *key, const char *value)
{
	char buf[FDM_ADDR_MAX * FDM_MAX_ISO_ADDRS];
	char *save = NULL;
	struct fdm_config *c = p->cfg;

	if (!fdm_strlcpy(buf, value, sizeof(buf)))
		return config_fail(p, p->line, key, "too long");
	c->n_isolation_addresses = 0;
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (!config_valid_ip(tok))
			return config_fail(p, p->line, key, "\"%s\" is not a numeric IP address", tok);
		if (c->n_isolation_addresses == FDM_MAX_ISO_ADDRS)
			return config_fail(p, p->line, key, "at most %d addresses", FDM_MAX_ISO_ADDRS);
		fdm_strlcpy(c->isolation_addresses[c->n_isolation_addresses++], tok, FDM_ADDR_MAX);
	}
	return 1;
}

static int set_isolation_response(struct config_parser *p, const char *key, const char *value)
{
	struct fdm_config *c = p->cfg;

	if (strcmp(value, "none") == 0)
		c->isolation_response = FDM_ISO_NONE;
	else if (strcmp(value, "shutdown") == 0)
		c->isolation_response = FDM_ISO_SHUTDOWN;
	else if (strcmp(value, "poweroff") == 0)
		c->isolation_response = FDM_ISO_POWEROFF;
	else
		return config_fail(p, p->line, key, "must be none, shutdown or poweroff (got \"%s\")",
				   value);
	return 1;
}

static int set_fixed_key(struct config_parser *p, int k, const char *value)
{
	struct fdm_config *c = p->cfg;
	const char *name = config_keys[k].name;
	uint32_t port;

	switch ((enum key)k) {
	case K_CLUSTER_ID:
	case K_HOST_ID:
		if (!config_valid_id(value))
			return config_fail(p, p->line, name,
					   "must be 1-%d characters of A-Z a-z 0-9 . _ - (got \"%s\")",
					   FDM_ID_MAX - 1, value);
		fdm_strlcpy(k == K_CLUSTER_ID ? c->cluster_id : c->host_id, value, FDM_ID_MAX);
		return 1;
	case K_KEY_FILE:
		return set_path(p, name, value, c->key_file);
	case K_ADDRESS:
		return set_address(p, name, value);
	case K_PORT:
		if (!set_u32(p, name, value, 1, 65535, &port))
			return 0;
		c->port = (uint16_t)port;
		return 1;
	case K_ISO_ADDRESSES:
		return add_isolation_addresses(p, name, value);
	case K_RESPONSE:
		return set_isolation_response(p, name, value);
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
	case K_RETRY_DELAY: {
		/* The first gap of the doubling retry schedule (vSphere: 2 min). */
		uint32_t s = 0;
		int rc = set_u32(p, name, value, 1, 3600, &s);

		c->retry_first_gap_ms = s * 1000;
		return rc;
	}
	case K_HOSTD_SOCKET:
		return set_socket_path(p, name, value, c->hostd_socket);
	case K_LIBVIRT_URI:
		return set_string(p, name, value, c->libvirt_uri, sizeof(c->libvirt_uri));
	case K_CONTROL_SOCKET:
		return set_socket_path(p, name, value, c->control_socket);
	case K_METRICS_TEXTFILE:
		return set_textfile(p, name, value);
	case K_WATCHDOG_DEVICE:
		/* "none": no watchdog even where the device exists (a test host). */
		if (strcmp(value, "none") == 0) {
			c->watchdog_device[0] = '\0';
			return 1;
		}
		return set_path(p, name, value, c->watchdog_device);
	case K_COUNT:
		break;
	}
	return config_fail(p, p->line, name, "internal: unhandled key");
}

/* Two peers on one address and port would receive each other's datagrams: the
 * one configured second could never be heard. */
static int check_peer_endpoint(struct config_parser *p, const char *id, const struct fdm_peer *new)
{
	const struct fdm_config *c = p->cfg;

	if (config_unspecified_ip(new->address))
		return config_fail(p, p->line, id, "%s is the wildcard address, not a host's",
				   new->address);
	for (size_t i = 0; i < c->n_peers; i++)
		if (c->peers[i].port == new->port && config_same_ip(c->peers[i].address, new->address))
			return config_fail(p, p->line, id,
					   "same address and port (%s:%u) as %s on line %d",
					   new->address, new->port, c->peers[i].id, p->peer_line[i]);
	return 1;
}

static int add_peer(struct config_parser *p, const char *id, const char *value)
{
	struct fdm_config *c = p->cfg;
	struct fdm_peer *peer;

	if (!config_valid_id(id))
		return config_fail(p, p->line, id,
				   "host id must be 1-%d characters of A-Z a-z 0-9 . _ -",
				   FDM_ID_MAX - 1);
	if (fdm_config_peer_index(c, id) >= 0)
		return config_fail(p, p->line, id, "host listed twice in [peers]");
	if (c->n_peers == FDM_MAX_HOSTS)
		return config_fail(p, p->line, id, "at most %d hosts in [peers]", FDM_MAX_HOSTS);
	peer = &c->peers[c->n_peers];
	if (!config_parse_address_port(value, peer->address, sizeof(peer->address), &peer->port))
		return config_fail(p, p->line, id,
				   "must be a numeric IP address, optionally with :port (got \"%s\")",
				   value);
	if (!check_peer_endpoint(p, id, peer))
		return 0;
	fdm_strlcpy(peer->id, id, sizeof(peer->id));
	p->peer_line[c->n_peers] = p->line;
	c->n_peers++;
	return 1;
}

static int add_datastore(struct config_parser *p, const char *name, const char *url)
{
	struct fdm_config *c = p->cfg;
	struct fdm_datastore_conf *ds;
	char why[160];

	if (!config_valid_id(name))
		return config_fail(p, p->line, name,
				   "datastore name must be 1-%d characters of A-Z a-z 0-9 . _ -",
				   FDM_ID_MAX - 1);
	if (fdm_config_datastore_index(c, name) >= 0)
		return config_fail(p, p->line, name, "datastore listed twice");
	if (c->n_datastores == FDM_MAX_DATASTORES)
		return config_fail(p, p->line, name, "at most %d datastores", FDM_MAX_DATASTORES);
	if (strlen(url) >= FDM_URL_MAX)
		return config_fail(p, p->line, name, "URL too long (at most %d characters)",
				   FDM_URL_MAX - 1);
	if (!config_check_url(url, why, sizeof(why)))
		return config_fail(p, p->line, name, "%s (got \"%s\")", why, url);
	for (size_t i = 0; i < c->n_datastores; i++)
		if (strcmp(c->datastores[i].url, url) == 0)
			return config_fail(p, p->line, name, "same URL as datastore %s",
					   c->datastores[i].name);
	ds = &c->datastores[c->n_datastores];
	fdm_strlcpy(ds->url, url, sizeof(ds->url));
	fdm_strlcpy(ds->name, name, sizeof(ds->name));
	c->n_datastores++;
	return 1;
}

/* ------------------------------------------------------------------ inih */

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parser *p = user;
	int s = find_section(section);
	int k;

	if (p->failed)
		return 0;
	if (section[0] == '\0')
		return config_fail(p, p->line, name, "key outside any section");
	if (s < 0)
		return config_fail(p, p->line, name, "unknown section [%s]", section);
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
		return config_fail(p, p->line, name, "unknown key in [%s]", section);
	if (p->key_line[k] != 0)
		return config_fail(p, p->line, name, "set twice in [%s] (first on line %d)", section,
				   p->key_line[k]);
	p->key_line[k] = p->line;
	return set_fixed_key(p, k, value);
}

bool config_parse(struct config_parser *p)
{
	int rc = ini_parse_stream(counting_reader, p, handler, p);

	/* inih goes on after a line it cannot parse: its first error comes first. */
	if (rc > 0 && (!p->failed || rc < p->fail_line)) {
		p->failed = false;
		config_fail(p, rc, "syntax", "expected [section] or key = value");
	} else if (rc < 0 && !p->failed) {
		config_fail(p, 0, "file", "cannot be parsed (out of memory?)");
	}
	return !p->failed;
}
