/* fdmctl: the operator's CLI. Sends one JSON request to the local agent's control
 * socket and prints the answer as tables, or as JSON with --json (INTERFACE.md).
 * Exit status: 0 success, 1 the operation failed or the agent is not reachable,
 * 2 usage or config error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdm/fdmctl_datastore.h"
#include "lib/config.h"
#include "lib/util.h"

#ifndef FDM_VERSION
#define FDM_VERSION "0.1.0"
#endif

#define REPLY_MAX (4 << 20)
#define TIMEOUT_S 10

struct options {
	const char *config;
	const char *socket;
	bool json;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fdmctl [--config FILE] [--socket PATH] [--json] COMMAND\n"
		"commands:\n"
		"  status                      cluster, role, master, hosts, datastores, VMs\n"
		"  hosts | vms | datastores    one table\n"
		"  election [--force]          the last election; --force: elect anew now\n"
		"  protect VM [--priority P] [--datastore DS]\n"
		"  unprotect VM\n"
		"  maintenance enter|exit [HOST]\n"
		"  events [--since DURATION]   the recent decisions (DURATION: 30s, 10m, 2h)\n"
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
		free(buf);
		return fail(1, "cannot reach the fdm agent at %s: %s (is fdm running? "
			    "systemctl status fdm)", path, strerror(errno));
	}
	if (write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0) {
		close(fd);
		free(buf);
		return fail(1, "%s: cannot send the request: %s", path, strerror(errno));
	}
	while (len < REPLY_MAX && (n = read(fd, buf + len, REPLY_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
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

/* ------------------------------------------------------------------ printing */

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return "-";
	return json_object_get_string(v);
}

static json_object *field(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static size_t array_len(json_object *a)
{
	return a != NULL && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void join_strings(json_object *arr, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < array_len(arr); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(arr, i));
		int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", s ? s : "?");
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	if (used == 0)
		fdm_strlcpy(buf, "-", len);
}

static void age_text(json_object *v, char *buf, size_t len)
{
	if (v == NULL)
		fdm_strlcpy(buf, "never", len);
	else if (json_object_get_int64(v) < 10000)
		snprintf(buf, len, "%lldms", (long long)json_object_get_int64(v));
	else
		snprintf(buf, len, "%.1fs", json_object_get_int64(v) / 1000.0);
}

static void print_hosts(json_object *hosts)
{
	char ds[256], age[32];

	printf("%-16s %-40s %-13s %-9s %s\n", "HOST", "ADDRESS", "STATE", "HB AGE", "DATASTORES");
	for (size_t i = 0; i < array_len(hosts); i++) {
		json_object *h = json_object_array_get_idx(hosts, i);

		join_strings(field(h, "datastores"), ds, sizeof(ds));
		age_text(field(h, "heartbeat_age_ms"), age, sizeof(age));
		printf("%-16s %-40s %-13s %-9s %s\n", str_of(h, "id"), str_of(h, "address"),
		       str_of(h, "state"), age, ds);
	}
}

static void print_datastores(json_object *dss)
{
	char deadline[32];

	printf("%-12s %-9s %-16s %-9s %-9s %s\n", "DATASTORE", "REACHABLE", "LOCK HOLDER",
	       "HEARTBEAT", "DEADLINE", "URL");
	for (size_t i = 0; i < array_len(dss); i++) {
		json_object *d = json_object_array_get_idx(dss, i);
		json_object *dl = field(d, "deadline_ms");

		if (dl == NULL)
			fdm_strlcpy(deadline, "-", sizeof(deadline));
		else
			age_text(dl, deadline, sizeof(deadline));
		printf("%-12s %-9s %-16s %-9s %-9s %s\n", str_of(d, "name"),
		       json_object_get_boolean(field(d, "reachable")) ? "yes" : "no",
		       str_of(d, "lock_holder"),
		       json_object_get_boolean(field(d, "heartbeat")) ? "yes" : "no", deadline,
		       str_of(d, "url"));
	}
}

static void print_vms(json_object *vms)
{
	printf("%-24s %-16s %-16s %-12s %-9s %s\n", "VM", "STATE", "HOST", "DATASTORE",
	       "PRIORITY", "RESTARTS");
	for (size_t i = 0; i < array_len(vms); i++) {
		json_object *v = json_object_array_get_idx(vms, i);

		printf("%-24s %-16s %-16s %-12s %-9s %s\n", str_of(v, "name"), str_of(v, "state"),
		       str_of(v, "host"), str_of(v, "datastore"), str_of(v, "priority"),
		       str_of(v, "restarts"));
	}
	if (array_len(vms) == 0)
		printf("(no protected VMs)\n");
}

static void print_election(json_object *e)
{
	json_object *bids = field(e, "bids");

	printf("state:    %s\n", str_of(e, "state"));
	if (field(e, "reason") != NULL)
		printf("reason:   %s\n", str_of(e, "reason"));
	if (field(e, "started_age_ms") != NULL)
		printf("started:  %s ms ago\n", str_of(e, "started_age_ms"));
	if (field(e, "winner") != NULL)
		printf("winner:   %s (term %s, decided in %s ms)\n", str_of(e, "winner"),
		       str_of(e, "term"), str_of(e, "duration_ms"));
	if (array_len(bids) > 0)
		printf("bids seen (besides this host's own):\n  %-16s %s\n", "HOST", "DATASTORES");
	for (size_t i = 0; i < array_len(bids); i++) {
		json_object *b = json_object_array_get_idx(bids, i);
		printf("  %-16s %s\n", str_of(b, "host"), str_of(b, "datastores"));
	}
}

static void print_status(json_object *st)
{
	json_object *dropped = field(st, "dropped");

	printf("cluster %s   host %s   role %s   master %s   term %s\n\n", str_of(st, "cluster"),
	       str_of(st, "host"), str_of(st, "role"), str_of(st, "master"), str_of(st, "term"));
	print_hosts(field(st, "hosts"));
	printf("\n");
	print_datastores(field(st, "datastores"));
	printf("\nVMs: %zu", array_len(field(st, "vms")));
	printf("\ndropped packets:");
	json_object_object_foreach(dropped, key, val)
		printf(" %s %s", key, json_object_get_string(val));
	printf("\n");
}

static void print_events(json_object *reply)
{
	json_object *evs = field(reply, "events");

	for (size_t i = 0; i < array_len(evs); i++) {
		json_object *e = json_object_array_get_idx(evs, i);
		time_t t = (time_t)(json_object_get_int64(field(e, "unix_ms")) / 1000);
		struct tm tm;
		char when[32];

		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s  %s\n", when, str_of(e, "text"));
	}
	if (array_len(evs) == 0)
		printf("(no events)\n");
}

static void print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_SPACED));
}

/* `fdmctl --json hosts` prints {"hosts": [...]}: the status field by its name. */
static void print_part_json(json_object *st, const char *key)
{
	json_object *o = json_object_new_object();
	json_object *v = field(st, key);

	json_object_object_add(o, key, json_object_get(v));
	print_json(o);
	json_object_put(o);
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

/* Builds the request for argv (after the global options); *view names what to print. */
static int build_request(int argc, char **argv, json_object **req, const char **view)
{
	const char *cmd = argv[0];

	*view = cmd;
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "hosts") == 0 ||
	    strcmp(cmd, "vms") == 0 || strcmp(cmd, "datastores") == 0) {
		if (argc != 1)
			return fail(2, "%s takes no arguments", cmd);
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
	if (strcmp(cmd, "protect") == 0 || strcmp(cmd, "unprotect") == 0 ||
	    strcmp(cmd, "maintenance") == 0) {
		if (argc < 2)
			return fail(2, "%s needs an argument (fdmctl --help)", cmd);
		*req = request(cmd);
		*view = "message";
		return 0;
	}
	return fail(2, "unknown command \"%s\" (fdmctl --help)", cmd);
}

static void print_reply(json_object *reply, const char *view, bool json)
{
	if (strcmp(view, "status") == 0 || strcmp(view, "message") == 0 ||
	    strcmp(view, "events") == 0) {
		if (json)
			print_json(reply);
		else if (strcmp(view, "status") == 0)
			print_status(reply);
		else if (strcmp(view, "events") == 0)
			print_events(reply);
		else
			printf("%s\n", str_of(reply, "message"));
		return;
	}
	if (json) {
		print_part_json(reply, view);
		return;
	}
	if (strcmp(view, "hosts") == 0)
		print_hosts(field(reply, "hosts"));
	else if (strcmp(view, "vms") == 0)
		print_vms(field(reply, "vms"));
	else if (strcmp(view, "datastores") == 0)
		print_datastores(field(reply, "datastores"));
	else if (strcmp(view, "election") == 0)
		print_election(field(reply, "election"));
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

	/* "+": options end at the command, so `election --force` reaches the command. */
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
	if (strcmp(argv[optind], "keygen") == 0) {
		if (argc - optind != 2)
			return fail(2, "usage: fdmctl keygen FILE");
		return keygen(argv[optind + 1]);
	}
	if (strcmp(argv[optind], "datastore") == 0)
		return fdmctl_datastore(argc - optind, argv + optind, o.config, o.json);
	rc = build_request(argc - optind, argv + optind, &req, &view);
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
			print_json(reply);
	} else {
		print_reply(reply, view, o.json);
	}
	json_object_put(reply);
	return rc;
}
