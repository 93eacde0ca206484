/* The cluster config file (INTERFACE.md "Config file"), parsed strictly with inih.
 * Every program reads the same file: the agent all of it, hostd-shim its [hostd]
 * section, fdmctl its [control] section, fdm-inspect [cluster]. */
#ifndef FDM_CONFIG_H
#define FDM_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/key.h"

#define FDM_MAX_HOSTS        64   /* a vSphere HA cluster's limit too */
#define FDM_MAX_DATASTORES   32
#define FDM_MAX_ISO_ADDRS    8
#define FDM_ID_MAX           64   /* host ids, cluster id, datastore names, incl. NUL */
#define FDM_ADDR_MAX         64
#define FDM_URL_MAX          512

enum fdm_isolation_response { FDM_ISO_NONE, FDM_ISO_SHUTDOWN, FDM_ISO_POWEROFF };

/* What the caller needs: missing sections/keys are errors only for what it needs.
 * Present sections are always validated in full. */
enum fdm_config_need {
	FDM_NEED_AGENT   = 1 << 0,  /* [cluster] [host] [peers] [timing] ... */
	FDM_NEED_SHIM    = 1 << 1,  /* [hostd] */
	FDM_NEED_CONTROL = 1 << 2,  /* [control] */
	FDM_NEED_CLUSTER = 1 << 3,  /* [cluster] id and key_file */
	/* With FDM_NEED_AGENT: the file is for the machine we run on (the agent's
	 * start, reload and --print-timing): [host] address must be one of its
	 * addresses and [control] socket's directory must exist. Not for tools that
	 * may read another host's file. */
	FDM_NEED_THIS_HOST = 1 << 4,
};

struct fdm_peer {
	char id[FDM_ID_MAX];
	char address[FDM_ADDR_MAX];     /* numeric IPv4 or IPv6 */
	uint16_t port;                  /* "addr:port" in the file, else 8182 */
};

struct fdm_datastore_conf {
	char name[FDM_ID_MAX];
	char url[FDM_URL_MAX];          /* file://, nfs://, iscsi:// */
};

struct fdm_config {
	char path[PATH_MAX];

	char cluster_id[FDM_ID_MAX];
	char key_file[PATH_MAX];

	char host_id[FDM_ID_MAX];
	char address[FDM_ADDR_MAX];
	uint16_t port;

	struct fdm_peer peers[FDM_MAX_HOSTS];           /* this host included */
	size_t n_peers;

	struct fdm_datastore_conf datastores[FDM_MAX_DATASTORES];
	size_t n_datastores;

	char isolation_addresses[FDM_MAX_ISO_ADDRS][FDM_ADDR_MAX];
	size_t n_isolation_addresses;
	enum fdm_isolation_response isolation_response;
	uint32_t shutdown_timeout_s;

	uint32_t heartbeat_interval_ms;
	uint32_t io_timeout_ms;

	uint32_t max_attempts;
	uint32_t host_failures_tolerated;
	uint32_t retry_first_gap_ms;    /* [restart] retry_delay_s; 0: the default */

	char hostd_socket[PATH_MAX];
	char libvirt_uri[FDM_URL_MAX];

	char control_socket[PATH_MAX];

	char metrics_textfile[PATH_MAX];  /* [metrics] textfile; "" none */
	char watchdog_device[PATH_MAX];   /* [watchdog] device; "" none */
};

/* Defaults (INTERFACE.md). */
#define FDM_DEFAULT_PORT            8182
#define FDM_DEFAULT_CONTROL_SOCKET  "/run/fdm/fdm.sock"
#define FDM_DEFAULT_HOSTD_SOCKET    "/run/fdm/hostd.sock"
#define FDM_DEFAULT_LIBVIRT_URI     "qemu:///system"
#define FDM_DEFAULT_CONFIG          "/etc/fdm/fdm.conf"

/* Parse and validate `path` into *out. The file must be a regular file (a FIFO
 * or a directory is refused at once, never waited on). On error returns -1 and
 * writes one line into err, "FILE:LINE: KEY: what is wrong" (no program prefix,
 * no newline); callers print it with their name and exit 2. `need` is a mask of
 * fdm_config_need. Timing inequalities and the key file are checked too when
 * FDM_NEED_AGENT is set. */
int fdm_config_load(const char *path, unsigned need, struct fdm_config *out,
                    char *err, size_t errlen);

const char *fdm_isolation_response_name(enum fdm_isolation_response r);

/* Index of a peer by host id, or -1. */
int fdm_config_peer_index(const struct fdm_config *c, const char *host_id);

/* Index of a datastore by name, or -1. */
int fdm_config_datastore_index(const struct fdm_config *c, const char *name);

#endif
