/* Checks of the config file as a whole, after every line was read: what the
 * caller needs is present, this host is one of its peers with the same address,
 * the timeouts hold the safety argument's inequalities, the key can be used, and,
 * for the agent that will run on this machine, the address is one of this
 * host's and the control socket's directory exists. */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include "lib/config_internal.h"
#include "lib/key.h"
#include "lib/timing.h"
#include "lib/util.h"

/* A key the caller needs but the file lacks: name the section's line if any. */
static bool require_key(struct config_parser *p, int k)
{
	enum section s = config_keys[k].section;

	if (p->key_line[k] != 0)
		return true;
	config_fail(p, p->section_line[s], config_keys[k].name, "missing in [%s]",
		    config_section_names[s]);
	return false;
}

static bool require_peers(struct config_parser *p)
{
	if (p->cfg->n_peers > 0)
		return true;
	config_fail(p, p->section_line[S_PEERS], "peers", "section [peers] is missing or empty");
	return false;
}

static bool check_self_in_peers(struct config_parser *p)
{
	const struct fdm_config *c = p->cfg;
	int self = fdm_config_peer_index(c, c->host_id);

	if (self < 0) {
		config_fail(p, p->section_line[S_PEERS], c->host_id,
			    "this host ([host] id) must be listed in [peers]");
		return false;
	}
	if (!config_same_ip(c->peers[self].address, c->address) || c->peers[self].port != c->port) {
		config_fail(p, p->peer_line[self], c->host_id,
			    "[peers] gives %s:%u but [host] says %s:%u", c->peers[self].address,
			    c->peers[self].port, c->address, c->port);
		return false;
	}
	return true;
}

static bool check_timing(struct config_parser *p)
{
	const struct fdm_config *c = p->cfg;
	struct fdm_timing t;
	char why[256];
	int k;

	if (fdm_timing_derive(c->heartbeat_interval_ms, c->io_timeout_ms, &t, why, sizeof(why)) == 0)
		return true;
	k = p->key_line[K_HB_INTERVAL] ? K_HB_INTERVAL : K_IO_TIMEOUT;
	config_fail(p, p->key_line[k], "timing", "%s", why);
	return false;
}

static bool check_key_file(struct config_parser *p)
{
	uint8_t key[FDM_KEY_MAX];
	char why[512];

	if (!require_key(p, K_CLUSTER_ID) || !require_key(p, K_KEY_FILE))
		return false;
	if (fdm_key_load(p->cfg->key_file, key, why, sizeof(why)) < 0) {
		config_fail(p, p->key_line[K_KEY_FILE], "key_file", "%s", why);
		return false;
	}
	memset(key, 0, sizeof(key));
	return true;
}

static bool check_agent(struct config_parser *p)
{
	return require_key(p, K_CLUSTER_ID) && require_key(p, K_KEY_FILE) &&
	       require_key(p, K_HOST_ID) && require_key(p, K_ADDRESS) && require_peers(p) &&
	       check_self_in_peers(p) && check_timing(p);
}

/* ------------------------------------------------------------------ this host */

/* The agent binds its UDP socket to [host] address: one this machine does not
 * have would fail at bind with no line to fix. */
static bool address_is_local(const char *address, bool *local, char *why, size_t whylen)
{
	struct ifaddrs *list, *ifa;
	char text[INET6_ADDRSTRLEN];

	*local = false;
	if (getifaddrs(&list) < 0) {
		snprintf(why, whylen, "cannot list this host's addresses: %s", strerror(errno));
		return false;
	}
	for (ifa = list; ifa != NULL && !*local; ifa = ifa->ifa_next) {
		const void *a;

		if (ifa->ifa_addr == NULL)
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)ifa->ifa_addr)->sin_addr;
		else if (ifa->ifa_addr->sa_family == AF_INET6)
			a = &((const struct sockaddr_in6 *)(const void *)ifa->ifa_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ifa->ifa_addr->sa_family, a, text, sizeof(text)) != NULL &&
		    config_same_ip(text, address))
			*local = true;
	}
	freeifaddrs(list);
	return true;
}

static bool check_address_is_local(struct config_parser *p)
{
	const struct fdm_config *c = p->cfg;
	char why[160];
	bool local;

	if (!address_is_local(c->address, &local, why, sizeof(why))) {
		config_fail(p, p->key_line[K_ADDRESS], "address", "%s", why);
		return false;
	}
	if (!local) {
		config_fail(p, p->key_line[K_ADDRESS], "address",
			    "%s is not an address of this host (ip address shows them)", c->address);
		return false;
	}
	return true;
}

/* The control socket is created at start in a directory that must exist
 * (systemd's RuntimeDirectory=fdm makes /run/fdm). */
static bool check_socket_directory(struct config_parser *p)
{
	const char *path = p->cfg->control_socket;
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (stat(dir, &st) < 0) {
		config_fail(p, p->key_line[K_CONTROL_SOCKET], "socket",
			    "cannot create the socket in %s: %s", dir,
			    errno == ENOENT ? "no such directory" : strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		config_fail(p, p->key_line[K_CONTROL_SOCKET], "socket",
			    "cannot create the socket in %s: not a directory", dir);
		return false;
	}
	return true;
}

/* [metrics] textfile: its directory must exist, or every write fails. */
static bool check_textfile_directory(struct config_parser *p)
{
	const char *path = p->cfg->metrics_textfile;
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	struct stat st;

	if (path[0] == '\0' || slash == NULL)
		return true;
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		config_fail(p, p->key_line[K_METRICS_TEXTFILE], "textfile",
			    "cannot write the file in %s: %s", dir,
			    errno == ENOENT ? "no such directory" : "not a directory");
		return false;
	}
	return true;
}

bool config_check(struct config_parser *p, unsigned need)
{
	if ((need & FDM_NEED_AGENT) && !(check_agent(p) && check_key_file(p)))
		return false;
	if ((need & FDM_NEED_CLUSTER) && !check_key_file(p))
		return false;
	if ((need & FDM_NEED_THIS_HOST) && (need & FDM_NEED_AGENT) &&
	    !(check_address_is_local(p) && check_socket_directory(p) &&
	      check_textfile_directory(p)))
		return false;
	return true;
}
