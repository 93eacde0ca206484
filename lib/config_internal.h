/* What the parts of the config loader share, inside lib/ only: the sections and
 * keys of the file, and the parser's state (where each thing was seen, the first
 * error). config.c opens and drives, config_parse.c reads the lines through inih,
 * config_values.c judges single values, config_check.c judges the whole file. */
#ifndef FDM_CONFIG_INTERNAL_H
#define FDM_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/config.h"

enum section { S_CLUSTER, S_HOST, S_PEERS, S_DATASTORES, S_ISOLATION, S_TIMING,
	       S_RESTART, S_HOSTD, S_CONTROL, S_METRICS, S_WATCHDOG, S_COUNT };

/* The keys of the fixed sections ([peers] and [datastores] take any name). */
enum key { K_CLUSTER_ID, K_KEY_FILE, K_HOST_ID, K_ADDRESS, K_PORT, K_ISO_ADDRESSES,
	   K_RESPONSE, K_SHUTDOWN_TIMEOUT, K_HB_INTERVAL, K_IO_TIMEOUT, K_MAX_ATTEMPTS,
	   K_HOST_FAILURES, K_RETRY_DELAY, K_HOSTD_SOCKET, K_LIBVIRT_URI, K_CONTROL_SOCKET,
	   K_METRICS_TEXTFILE, K_WATCHDOG_DEVICE, K_COUNT };

struct config_key {
	enum section section;
	const char *name;
};

extern const char *const config_section_names[S_COUNT];
extern const struct config_key config_keys[K_COUNT];

/* Lines of the file where things were seen (0: not in the file), for messages
 * about missing keys and cross-key checks. */
struct config_parser {
	struct fdm_config *cfg;
	const char *path;
	FILE *file;
	int line;               /* line the reader returned last */
	char *err;
	size_t errlen;
	bool failed;
	int fail_line;          /* line of the error in err (0: none or whole file) */
	int section_line[S_COUNT];
	int key_line[K_COUNT];
	int peer_line[FDM_MAX_HOSTS];
};

/* Record the first error as "FILE:LINE: KEY: why" (or "FILE: KEY: why" when line
 * is 0). Returns 0, which also tells inih to stop. */
int config_fail(struct config_parser *p, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* config_parse.c: read the whole file into p->cfg; false on the first error. */
bool config_parse(struct config_parser *p);

/* config_check.c: what no single line shows; false on the first error. */
bool config_check(struct config_parser *p, unsigned need);

/* config_values.c: the syntax of single values. */
bool config_valid_id(const char *s);
bool config_valid_ip(const char *s);
bool config_unspecified_ip(const char *s);     /* 0.0.0.0 or :: */
bool config_same_ip(const char *a, const char *b);
bool config_parse_address_port(const char *value, char *addr, size_t addrlen,
			       uint16_t *port);
/* A datastore URL: false with the reason in why. */
bool config_check_url(const char *url, char *why, size_t whylen);
/* Longest path a unix socket can bind (sun_path less its NUL). */
size_t config_socket_path_max(void);

#endif
