/* fdmctl: the operator's CLI. Sends one JSON request to the local agent's control
 * socket and prints the answer as tables, or as JSON with --json (INTERFACE.md).
 * Exit status: 0 success, 1 the operation failed or the agent is not reachable,
 * 2 usage or config error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdm/fdmctl.h"
#include "fdm/fdmctl_datastore.h"
#include "lib/config.h"
#include "lib/util.h"

#ifndef FDM_VERSION
#define FDM_VERSION "0.1.0"
#endif

#define REPLY_MAX (4 << 20)
/* Longer than the agent's own bound on an answer the cluster gives later
 * (FDM_CONTROL_DEFER_MS, 30 s: protect waits for a datastore write). */
#define TIMEOUT_S 35

struct options {
	const char *config;
	const char *socket;
	bool json;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fdmctl [--config FILE] [--socket PATH] [--json] COMMAND [ARGS]\n"
		"  (--config, --socket and --json may also follow the command)\n"
		"commands:\n"
		"  status                      cluster, role, master, hosts, datastores, VMs\n"
		"  hosts | vms | datastores    one table\n"
		"  election [--force]          the last election; --force: elect anew now\n"
		"  protect VM [--priority P] [--datastore DS]\n"
		"  unprotect VM\n"
		"  maintenance enter|exit [HOST]\n"
		"  events [--since DURATION]   the recent decisions (DURATION: 30s, 10m, 2h)\n"
		"  metrics                     the agent's metrics, Prometheus text format\n"
		"  keygen FILE                 write a new random cluster key, mode 0600\n"
		"  datastore init URL [--config FILE]  initialise a datastore for this cluster\n");
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("fdmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* ------------------------------------------------------------------ keygen */

static int keygen(const char *path)
{
	uint8_t key[32];
	int fd;
	ssize_t n;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return fail(1, "cannot get random bytes from OpenSSL");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(1, "%s: %s%s", path, strerror(errno),
			    errno == EEXIST ? " (remove it first: a new key splits the cluster "
					      "until every host has it)" : "");
	n = write(fd, key, sizeof(key));
	memset(key, 0, sizeof(key));
	if (n != (ssize_t)sizeof(key) || fsync(fd) < 0 || close(fd) < 0) {
		unlink(path);
		return fail(1, "%s: cannot write the key: %s", path, strerror(errno));
	}
	printf("wrote a new 32-byte cluster key to %s (mode 0600); copy it to every host\n",
	       path);
	return 0;
}

/* ------------------------------------------------------------------ transport */

static int resolve_socket(const struct options *o, char *path, size_t len)
{
	struct fdm_config *cfg;
	char err[1024];
	const char *config = o->config;

	if (o->socket != NULL) {
		fdm_strlcpy(path, o->socket, len);
		return 0;
	}
	if (config == NULL && access(FDM_DEFAULT_CONFIG, R_OK) == 0)
		config = FDM_DEFAULT_CONFIG;
	if (config == NULL) {
		fdm_strlcpy(path, FDM_DEFAULT_CONTROL_SOCKET, len);
		return 0;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return fail(1, "out of memory");
	if (fdm_config_load(config, FDM_NEED_CONTROL, cfg, err, sizeof(err)) < 0) {
		free(cfg);
		return fail(2, "%s", err);
	}
	fdm_strlcpy(path, cfg->control_socket, len);
	free(cfg);
	return 0;
}

static int connect_agent(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	int fd;

	if (!fdm_strlcpy(sa.sun_path, path, sizeof(sa.sun_path))) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Why connect() failed, in the operator's terms: "is fdm running?" only where
 * that is the likely answer, not for a permission or a wrong path. */
static int explain_connect_error(const char *path, int e)
{
	char copy[PATH_MAX];
	const char *dir;
	struct stat st;

	fdm_strlcpy(copy, path, sizeof(copy));
	dir = dirname(copy);
	switch (e) {
	case EACCES:
	case EPERM:
		return fail(1, "cannot reach the fdm agent at %s: permission denied (the socket "
			    "is for root and group fdm: run as root, or join group fdm)", path);
	case ENOENT:
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return fail(1, "cannot reach the fdm agent at %s: no such socket, and no "
				    "directory %s (wrong --socket or [control] socket? is fdm "
				    "running? systemctl status fdm)", path, dir);
		return fail(1, "cannot reach the fdm agent at %s: no such socket in %s (is fdm "
			    "running? systemctl status fdm)", path, dir);
	case ECONNREFUSED:
		if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			return fail(1, "cannot reach the fdm agent at %s: not a socket but a %s "
				    "(wrong --socket or [control] socket?)", path,
				    S_ISREG(st.st_mode) ? "regular file" :
				    S_ISDIR(st.st_mode) ? "directory" : "special file");
		return fail(1, "cannot reach the fdm agent at %s: nothing listens there (a socket "
			    "left by a stopped agent? is fdm running? systemctl status fdm)", path);
	case ENOTDIR:
		return fail(1, "cannot reach the fdm agent at %s: a part of the path is not a "
			    "directory (wrong --socket or [control] socket?)", path);
	case ENAMETOOLONG:
		return fail(1, "cannot reach the fdm agent at %s: path too long for a unix socket",
			    path);
	default:
		return fail(1, "cannot reach the fdm agent at %s: %s (is fdm running? "
			    "systemctl status fdm)", path, strerror(e));
	}
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One request, one reply. Returns 0 with *reply, or an exit status. */
static int call_agent(const char *path, json_object *req, json_object **reply)
{
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char *buf = malloc(REPLY_MAX + 1);
	size_t len = 0;
	ssize_t n;
	int fd;

	if (buf == NULL)
		return fail(1, "out of memory");
	fd = connect_agent(path);
	if (fd < 0) {
		int e = errno;

		free(buf);
		return explain_connect_error(path, e);
	}
	if (write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0) {
		close(fd);
		free(buf);
		return fail(1, "%s: cannot send the request: %s", path, strerror(errno));
	}
	while (len < REPLY_MAX && (n = read(fd, buf + len, REPLY_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		/* The agent may close at once after a whole answer (a reset, when it
		 * left part of an oversized request unread): the answer counts. */
		if (n < 0 && len > 0 && memchr(buf, '\n', len) != NULL)
			break;
		if (n < 0) {
			close(fd);
			free(buf);
			return fail(1, "%s: no answer from the agent: %s", path,
				    errno == EAGAIN ? "timed out" : strerror(errno));
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*reply = json_tokener_parse(buf);
	free(buf);
	if (*reply == NULL || !json_object_is_type(*reply, json_type_object)) {
		json_object_put(*reply);
		return fail(1, "%s: the agent's answer is not a JSON object", path);
	}
	return 0;
}

/* ------------------------------------------------------------------ commands */

/* "30s", "10m", "2h", "500ms", "90" (seconds) -> ms; false when malformed. */
static bool parse_duration(const char *s, uint64_t *ms)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return false;
	if (strcmp(end, "ms") == 0)
		*ms = v;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		*ms = v * 1000;
	else if (strcmp(end, "m") == 0)
		*ms = v * 60000;
	else if (strcmp(end, "h") == 0)
		*ms = v * 3600000;
	else
		return false;
	return true;
}

static json_object *request(const char *command)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "command", json_object_new_string(command));
	return req;
}

static const char *const priorities[] = {
	"highest", "high", "medium", "low", "lowest", "disabled",
};

static bool valid_priority(const char *p)
{
	for (size_t i = 0; i < sizeof(priorities) / sizeof(priorities[0]); i++)
		if (strcmp(p, priorities[i]) == 0)
			return true;
	return false;
}

/* protect VM [--priority P] [--datastore DS] */
static int build_protect(int argc, char **argv, json_object **req)
{
	const char *priority = NULL, *datastore = NULL;

	if (argc < 2 || argv[1][0] == '-')
		return fail(2, "usage: fdmctl protect VM [--priority P] [--datastore DS]");
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 == argc)
			return fail(2, "%s needs a value", argv[i]);
		if (strcmp(argv[i], "--priority") == 0 && valid_priority(argv[i + 1]))
			priority = argv[i + 1];
		else if (strcmp(argv[i], "--priority") == 0)
			return fail(2, "--priority %s: one of highest, high, medium, low, lowest, "
				    "disabled", argv[i + 1]);
		else if (strcmp(argv[i], "--datastore") == 0)
			datastore = argv[i + 1];
		else
			return fail(2, "protect: unknown option \"%s\" (fdmctl --help)", argv[i]);
	}
	*req = request("protect");
	json_object_object_add(*req, "vm", json_object_new_string(argv[1]));
	if (priority != NULL)
		json_object_object_add(*req, "priority", json_object_new_string(priority));
	if (datastore != NULL)
		json_object_object_add(*req, "datastore", json_object_new_string(datastore));
	return 0;
}

/* unprotect VM | maintenance enter|exit [HOST] */
static int build_vm_or_host(int argc, char **argv, json_object **req)
{
	const char *cmd = argv[0];

	if (strcmp(cmd, "unprotect") == 0) {
		if (argc != 2 || argv[1][0] == '-')
			return fail(2, "usage: fdmctl unprotect VM");
		*req = request(cmd);
		json_object_object_add(*req, "vm", json_object_new_string(argv[1]));
		return 0;
	}
	if (argc < 2 || argc > 3 || (strcmp(argv[1], "enter") != 0 && strcmp(argv[1], "exit") != 0))
		return fail(2, "usage: fdmctl maintenance enter|exit [HOST]");
	*req = request(cmd);
	json_object_object_add(*req, "action", json_object_new_string(argv[1]));
	if (argc == 3)
		json_object_object_add(*req, "host", json_object_new_string(argv[2]));
	return 0;
}

/* Builds the request for argv (the command and its own arguments); *view names
 * what to print. Every usage error is exit 2, before the agent is asked. */
static int build_request(int argc, char **argv, json_object **req, const char **view)
{
	const char *cmd = argv[0];

	*view = cmd;
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "hosts") == 0 ||
	    strcmp(cmd, "vms") == 0 || strcmp(cmd, "datastores") == 0) {
		if (argc != 1)
			return fail(2, "%s takes no arguments (got \"%s\")", cmd, argv[1]);
		*req = request("status");
		return 0;
	}
	if (strcmp(cmd, "election") == 0) {
		if (argc == 2 && strcmp(argv[1], "--force") == 0) {
			*req = request("election-force");
			*view = "message";
			return 0;
		}
		if (argc != 1)
			return fail(2, "usage: fdmctl election [--force]");
		*req = request("status");
		return 0;
	}
	if (strcmp(cmd, "events") == 0) {
		uint64_t since = 0;
		if (argc == 3 && strcmp(argv[1], "--since") == 0) {
			if (!parse_duration(argv[2], &since))
				return fail(2, "--since %s: expected a duration like 30s, 10m, 2h",
					    argv[2]);
		} else if (argc != 1) {
			return fail(2, "usage: fdmctl events [--since DURATION]");
		}
		*req = request("events");
		json_object_object_add(*req, "since_ms", json_object_new_int64((int64_t)since));
		return 0;
	}
	if (strcmp(cmd, "metrics") == 0) {
		if (argc != 1)
			return fail(2, "metrics takes no arguments (got \"%s\")", argv[1]);
		*req = request("metrics");
		return 0;
	}
	*view = "message";
	if (strcmp(cmd, "protect") == 0)
		return build_protect(argc, argv, req);
	if (strcmp(cmd, "unprotect") == 0 || strcmp(cmd, "maintenance") == 0)
		return build_vm_or_host(argc, argv, req);
	return fail(2, "unknown command \"%s\" (fdmctl --help)", cmd);
}

/* "--socket X", "--socket=X", "-s X" (and likewise --config, -c): true when
 * argv[*i] is that option, with *value set and *i past it; *missing when the
 * value is absent. */
static bool take_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
		       const char **value, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(lng);

	if (strncmp(a, lng, n) == 0 && a[n] == '=') {
		*value = a + n + 1;
		return true;
	}
	if (strcmp(a, lng) != 0 && strcmp(a, shrt) != 0)
		return false;
	if (*i + 1 >= argc) {
		*missing = true;
		return true;
	}
	*value = argv[++*i];
	return true;
}

/* The global options may also follow the command (`fdmctl status --json`,
 * `fdmctl hosts --socket X`): take them out of argv[1..], leaving the command
 * and its own arguments. "--" ends the options. Returns 0 or an exit status. */
static int take_global_options(int *argc, char **argv, struct options *o)
{
	int out = 1;
	bool missing = false;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (++i < *argc)
				argv[out++] = argv[i];
			break;
		}
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			o->json = true;
		else if (take_value(*argc, argv, &i, "--socket", "-s", &o->socket, &missing) ||
			 take_value(*argc, argv, &i, "--config", "-c", &o->config, &missing)) {
			if (missing)
				return fail(2, "%s needs a value", argv[i]);
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { 0 };
	char path[PATH_MAX];
	json_object *req = NULL, *reply = NULL, *err;
	const char *view;
	int opt, rc;

	/* fdmctl's own writes to a socket the agent closed must fail with EPIPE and a
	 * message, not kill it silently. */
	signal(SIGPIPE, SIG_IGN);
	/* "+": options before the command stop at it; those after it are taken out
	 * below, so that a command's own options (`election --force`) reach it. */
	while ((opt = getopt_long(argc, argv, "+c:s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': o.config = optarg; break;
		case 's': o.socket = optarg; break;
		case 'j': o.json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("fdmctl %s\n", FDM_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	/* Commands that need no agent take their arguments as they come. */
	if (strcmp(argv[optind], "keygen") == 0) {
		if (argc - optind != 2)
			return fail(2, "usage: fdmctl keygen FILE");
		return keygen(argv[optind + 1]);
	}
	argc -= optind;
	argv += optind;
	/* `datastore init URL [--config FILE]` parses its own options. */
	if (strcmp(argv[0], "datastore") == 0)
		return fdmctl_datastore(argc, argv, o.config, o.json);
	rc = take_global_options(&argc, argv, &o);
	if (rc != 0)
		return rc;
	rc = build_request(argc, argv, &req, &view);
	if (rc != 0)
		return rc;
	rc = resolve_socket(&o, path, sizeof(path));
	if (rc == 0)
		rc = call_agent(path, req, &reply);
	json_object_put(req);
	if (rc != 0)
		return rc;
	if (json_object_object_get_ex(reply, "error", &err)) {
		rc = fail(1, "%s", json_object_get_string(err));
		if (o.json)
			fdmctl_print_json(reply);
	} else {
		fdmctl_print_reply(reply, view, o.json);
	}
	json_object_put(reply);
	return rc;
}
