/* hostd-shim-cli: send one request to hostd-shim and print the reply as one
 * JSON line (events, when subscribed, one line each). A debugging tool and the
 * tests' way in; it uses the same client library as fdm. Exit 0 when the shim
 * answered RESULT_OK, 1 otherwise (and at once, with the reason, when the
 * socket cannot be reached), 2 on usage errors. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "lib/config.h"
#include "lib/util.h"
#include "hostd-shim/client.h"
#include "hostd-shim/pbjson.h"

#define MAX_DEADLINES 64

struct cli {
	sd_event *event;
	struct hostd_client *client;
	int argc;
	char **argv;                  /* the command and its arguments */
	uint32_t timeout_ms;
	bool hold;                    /* stay connected after the reply */
	int64_t deadline_in_ms;       /* poweron --deadline-in; -1: none */
	int64_t deadline_at_ms;       /* poweron --deadline-at (absolute); -1: none */
	uint32_t refresh_ms;          /* set-deadlines: send again this often */
	int64_t count;                /* subscribe: exit after this many events */
	char socket[PATH_MAX];
	bool sent;
	bool ever_connected;
	int exit_code;
	sd_event_source *refresh_timer;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hostd-shim-cli [--socket PATH | --config FILE] [--timeout MS] [--hold]\n"
		"                      COMMAND [ARGS]\n"
		"commands:\n"
		"  list | resources | stats | fenced | get-deadlines | clean-stop\n"
		"  poweron XMLFILE [--deadline-in MS | --deadline-at BOOTTIME_MS]\n"
		"  poweroff DOMAIN | undefine DOMAIN | get-xml DOMAIN | shutdown DOMAIN TIMEOUT_MS\n"
		"  set-deadlines [DOMAIN=+MS | DOMAIN=@BOOTTIME_MS ...] [--refresh-ms MS]\n"
		"  subscribe [--count N]\n"
		"DOMAIN is a name or a UUID. Replies and events are printed as JSON lines.\n"
		"--version prints the version and exits.\n");
}

static void print_json(struct cli *cli, const char *kind, const ProtobufCMessage *m)
{
	json_object *o = shim_pb_to_json(m);

	json_object_object_add(o, "kind", json_object_new_string(kind));
	/* SIGPIPE is ignored: a reader gone (| head) shows here as EPIPE. */
	if (printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) < 0 ||
	    fflush(stdout) == EOF) {
		fprintf(stderr, "hostd-shim-cli: standard output: %s\n", strerror(errno));
		cli->exit_code = 1;
		sd_event_exit(cli->event, 0);
	}
	json_object_put(o);
}

/* ----------------------------------------------------------- requests */

static void set_ref(Fdm__DomainRef *ref, char *arg)
{
	fdm__domain_ref__init(ref);
	/* 36 characters with dashes where a UUID has them: a UUID, else a name. */
	if (strlen(arg) == 36 && arg[8] == '-' && arg[13] == '-' && arg[18] == '-' &&
	    arg[23] == '-')
		ref->uuid = arg;
	else
		ref->name = arg;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) < 0 || (buf = malloc((size_t)n + 1)) == NULL) {
		if (f)
			fclose(f);
		return NULL;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void on_reply(const Fdm__ShimReply *r, int error, void *userdata);

/* set-deadlines arguments: NAME=+MS (from now) or NAME=@MS (absolute). */
static int send_deadlines(struct cli *cli)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__SetDeadlinesRequest sd = FDM__SET_DEADLINES_REQUEST__INIT;
	Fdm__DomainDeadline d[MAX_DEADLINES], *dp[MAX_DEADLINES];
	Fdm__DomainRef refs[MAX_DEADLINES];
	char names[MAX_DEADLINES][256];
	uint64_t now = fdm_now_boottime_ms();
	int i, n = cli->argc - 1;

	if (n > MAX_DEADLINES)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		const char *arg = cli->argv[i + 1], *eq = strchr(arg, '=');
		unsigned long long v;
		char *end;

		if (eq == NULL || eq - arg >= 255 || (eq[1] != '+' && eq[1] != '@'))
			return -EINVAL;
		v = strtoull(eq + 2, &end, 10);
		if (*end != '\0' || end == eq + 2)
			return -EINVAL;
		memcpy(names[i], arg, (size_t)(eq - arg));
		names[i][eq - arg] = '\0';
		fdm__domain_deadline__init(&d[i]);
		set_ref(&refs[i], names[i]);
		d[i].domain = &refs[i];
		d[i].boottime_ms = eq[1] == '+' ? now + v : v;
		dp[i] = &d[i];
	}
	sd.n_deadlines = (size_t)n;
	sd.deadlines = dp;
	req.op_case = FDM__SHIM_REQUEST__OP_SET_DEADLINES;
	req.set_deadlines = &sd;
	return hostd_client_call(cli->client, &req, cli->timeout_ms, on_reply, cli);
}

static int send_request(struct cli *cli)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__ListDomainsRequest list = FDM__LIST_DOMAINS_REQUEST__INIT;
	Fdm__PowerOnRequest on = FDM__POWER_ON_REQUEST__INIT;
	Fdm__PowerOffRequest off = FDM__POWER_OFF_REQUEST__INIT;
	Fdm__ShutdownRequest sh = FDM__SHUTDOWN_REQUEST__INIT;
	Fdm__UndefineRequest undef = FDM__UNDEFINE_REQUEST__INIT;
	Fdm__HostResourcesRequest res = FDM__HOST_RESOURCES_REQUEST__INIT;
	Fdm__SubscribeRequest sub = FDM__SUBSCRIBE_REQUEST__INIT;
	Fdm__CleanStopRequest cs = FDM__CLEAN_STOP_REQUEST__INIT;
	Fdm__FencedRequest fe = FDM__FENCED_REQUEST__INIT;
	Fdm__GetDeadlinesRequest gd = FDM__GET_DEADLINES_REQUEST__INIT;
	Fdm__StatsRequest st = FDM__STATS_REQUEST__INIT;
	Fdm__GetDomainXmlRequest gx = FDM__GET_DOMAIN_XML_REQUEST__INIT;
	Fdm__DomainRef ref;
	const char *cmd = cli->argv[0];
	char *xml = NULL;
	uint32_t timeout_ms = cli->timeout_ms;
	int rc, want = 1;

	if (strcmp(cmd, "list") == 0) {
		req.op_case = FDM__SHIM_REQUEST__OP_LIST_DOMAINS;
		req.list_domains = &list;
	} else if (strcmp(cmd, "resources") == 0) {
		req.op_case = FDM__SHIM_REQUEST__OP_HOST_RESOURCES;
		req.host_resources = &res;
	} else if (strcmp(cmd, "stats") == 0) {
		req.op_case = FDM__SHIM_REQUEST__OP_STATS;
		req.stats = &st;
	} else if (strcmp(cmd, "fenced") == 0) {
		req.op_case = FDM__SHIM_REQUEST__OP_FENCED;
		req.fenced = &fe;
	} else if (strcmp(cmd, "get-deadlines") == 0) {
		req.op_case = FDM__SHIM_REQUEST__OP_GET_DEADLINES;
		req.get_deadlines = &gd;
	} else if (strcmp(cmd, "clean-stop") == 0) {
		req.op_case = FDM__SHIM_REQUEST__OP_CLEAN_STOP;
		req.clean_stop = &cs;
	} else if (strcmp(cmd, "subscribe") == 0) {
		req.op_case = FDM__SHIM_REQUEST__OP_SUBSCRIBE;
		req.subscribe = &sub;
	} else if (strcmp(cmd, "set-deadlines") == 0) {
		return send_deadlines(cli);
	} else if (strcmp(cmd, "poweron") == 0 && cli->argc == 2) {
		xml = read_file(cli->argv[1]);
		if (xml == NULL)
			return -errno;
		on.xml = xml;
		if (cli->deadline_in_ms >= 0) {
			on.has_deadline_boottime_ms = true;
			on.deadline_boottime_ms = fdm_now_boottime_ms() + (uint64_t)cli->deadline_in_ms;
		} else if (cli->deadline_at_ms >= 0) {
			on.has_deadline_boottime_ms = true;
			on.deadline_boottime_ms = (uint64_t)cli->deadline_at_ms;
		}
		req.op_case = FDM__SHIM_REQUEST__OP_POWER_ON;
		req.power_on = &on;
	} else if ((strcmp(cmd, "poweroff") == 0 || strcmp(cmd, "undefine") == 0 ||
		    strcmp(cmd, "get-xml") == 0) && cli->argc == 2) {
		set_ref(&ref, cli->argv[1]);
		if (cmd[0] == 'p') {
			off.domain = &ref;
			req.op_case = FDM__SHIM_REQUEST__OP_POWER_OFF;
			req.power_off = &off;
		} else if (cmd[0] == 'u') {
			undef.domain = &ref;
			req.op_case = FDM__SHIM_REQUEST__OP_UNDEFINE;
			req.undefine = &undef;
		} else {
			gx.domain = &ref;
			req.op_case = FDM__SHIM_REQUEST__OP_GET_DOMAIN_XML;
			req.get_domain_xml = &gx;
		}
	} else if (strcmp(cmd, "shutdown") == 0 && cli->argc == 3 &&
		   fdm_parse_u32(cli->argv[2], 0, 3600000, &sh.timeout_ms)) {
		set_ref(&ref, cli->argv[1]);
		sh.domain = &ref;
		req.op_case = FDM__SHIM_REQUEST__OP_SHUTDOWN;
		req.shutdown = &sh;
		timeout_ms += sh.timeout_ms;   /* the reply comes after the guest's timeout */
	} else {
		want = 0;
	}
	if (!want)
		return -EINVAL;
	rc = hostd_client_call(cli->client, &req, timeout_ms, on_reply, cli);
	free(xml);
	return rc;
}

static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cli *cli = userdata;

	(void)s;
	if (hostd_client_connected(cli->client))
		send_deadlines(cli);
	sd_event_source_set_time(cli->refresh_timer, usec + (uint64_t)cli->refresh_ms * 1000);
	sd_event_source_set_enabled(cli->refresh_timer, SD_EVENT_ON);
	return 0;
}

static void on_reply(const Fdm__ShimReply *r, int error, void *userdata)
{
	struct cli *cli = userdata;

	if (r == NULL) {
		fprintf(stderr, "hostd-shim-cli: %s: %s\n", cli->argv[0], strerror(-error));
		cli->exit_code = 1;
		sd_event_exit(cli->event, 0);
		return;
	}
	if (cli->refresh_ms > 0 && cli->refresh_timer != NULL)
		return;   /* refreshing: print the first reply only */
	cli->exit_code = r->result == FDM__RESULT_CODE__RESULT_OK ? 0 : 1;
	print_json(cli, "reply", &r->base);
	if (cli->refresh_ms > 0) {
		sd_event_add_time_relative(cli->event, &cli->refresh_timer, CLOCK_MONOTONIC,
					   (uint64_t)cli->refresh_ms * 1000, 1000, on_refresh, cli);
		return;
	}
	if (!cli->hold && cli->count < 0 && strcmp(cli->argv[0], "subscribe") != 0)
		sd_event_exit(cli->event, 0);
}

static void on_event(const Fdm__ShimEvent *ev, void *userdata)
{
	struct cli *cli = userdata;

	print_json(cli, "event", &ev->base);
	if (cli->count > 0 && --cli->count == 0)
		sd_event_exit(cli->event, 0);
}

static void on_connection(bool connected, void *userdata)
{
	struct cli *cli = userdata;
	int rc;

	if (!connected) {
		if (cli->sent && cli->refresh_ms == 0 && !cli->hold) {
			fprintf(stderr, "hostd-shim-cli: connection to the shim lost\n");
			cli->exit_code = 1;
			sd_event_exit(cli->event, 0);
		}
		return;
	}
	cli->ever_connected = true;
	if (cli->sent && cli->refresh_ms == 0)
		return;
	cli->sent = true;
	rc = send_request(cli);
	if (rc == -EINVAL) {
		usage(stderr);
		cli->exit_code = 2;
		sd_event_exit(cli->event, 0);
	} else if (rc < 0) {
		fprintf(stderr, "hostd-shim-cli: %s: %s\n", cli->argv[0], strerror(-rc));
		cli->exit_code = 1;
		sd_event_exit(cli->event, 0);
	}
}

/* Why connect() failed, in words an operator acts on; NULL when trying again
 * may help (the shim's backlog is full, say). */
static const char *connect_failure(const char *path, int error)
{
	struct stat st;

	switch (error) {
	case ENOENT:
		return "no such file (is hostd-shim running? is this its [hostd] socket?)";
	case EACCES:
	case EPERM:
		return "permission denied (root or the group fdm may talk to the shim)";
	case ECONNREFUSED:
		if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			return "not a socket";
		return "connection refused: no hostd-shim listens there (a stale socket?)";
	case ENOTDIR:
		return "a part of the path is not a directory";
	case ENOTSOCK:
		return "not a socket";
	default:
		return NULL;
	}
}

static void on_connect_error(int error, void *userdata)
{
	struct cli *cli = userdata;
	const char *why = connect_failure(cli->socket, error);

	/* Once connected, a lost shim is waited for (--hold, --refresh-ms). */
	if (cli->ever_connected || why == NULL)
		return;
	fprintf(stderr, "hostd-shim-cli: cannot connect to %s: %s\n", cli->socket, why);
	cli->exit_code = 1;
	sd_event_exit(cli->event, 0);
}

static int on_give_up(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cli *cli = userdata;

	(void)s;
	(void)usec;
	if (!cli->sent) {
		fprintf(stderr, "hostd-shim-cli: cannot connect to %s: no answer within %u ms\n",
			cli->socket, cli->timeout_ms);
		cli->exit_code = 1;
		sd_event_exit(cli->event, 0);
	}
	return 0;
}

/* Load the [hostd] socket path of a config file into cli->socket. */
static int socket_from_config(struct cli *cli, const char *path)
{
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	char err[PATH_MAX + 256];
	int rc = 0;

	if (cfg == NULL)
		return 1;
	if (fdm_config_load(path, FDM_NEED_SHIM, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "hostd-shim-cli: %s\n", err);
		rc = 2;
	} else {
		fdm_strlcpy(cli->socket, cfg->hostd_socket, sizeof(cli->socket));
	}
	free(cfg);
	return rc;
}

/* Options may come anywhere (GNU getopt permutes): "poweron f.xml --deadline-in 5000". */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "hold", no_argument, NULL, 'H' },
		{ "deadline-in", required_argument, NULL, 'd' },
		{ "deadline-at", required_argument, NULL, 'a' },
		{ "refresh-ms", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t v;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:c:t:Hd:a:r:n:h", opts, NULL)) != -1) {
		bool okv = fdm_parse_u32(optarg ? optarg : "0", 0, UINT32_MAX, &v);

		switch (opt) {
		case 's':
			if (!fdm_strlcpy(cli->socket, optarg, sizeof(cli->socket)))
				return 2;
			break;
		case 'c':
			if (socket_from_config(cli, optarg) != 0)
				return 2;
			break;
		case 't': if (!okv) return 2; cli->timeout_ms = v; break;
		case 'H': cli->hold = true; break;
		case 'd': if (!okv) return 2; cli->deadline_in_ms = v; break;
		case 'a':
			/* Absolute boottime: may exceed 32 bits after 49 days of uptime. */
			cli->deadline_at_ms = strtoll(optarg, &end, 10);
			if (*end != '\0' || cli->deadline_at_ms < 0)
				return 2;
			break;
		case 'r': if (!okv || v == 0) return 2; cli->refresh_ms = v; break;
		case 'n': if (!okv || v == 0) return 2; cli->count = v; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("hostd-shim-cli %s\n", FDM_VERSION); exit(0);
		default: return 2;
		}
	}
	if (optind >= argc)
		return 2;
	cli->argc = argc - optind;
	cli->argv = argv + optind;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = { .timeout_ms = 30000, .deadline_in_ms = -1, .deadline_at_ms = -1,
			   .count = -1 };
	struct hostd_client_opts o = { 0 };
	sigset_t ss;

	/* A shim gone mid-write is an error reply, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	fdm_strlcpy(cli.socket, FDM_DEFAULT_HOSTD_SOCKET, sizeof(cli.socket));
	if (parse_args(argc, argv, &cli) != 0) {
		usage(stderr);
		return 2;
	}
	if (strlen(cli.socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "hostd-shim-cli: cannot connect to %s: path too long for a "
			"unix socket\n", cli.socket);
		return 1;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	o.socket_path = cli.socket;
	/* The library subscribes again after every reconnect (--hold subscribe). */
	o.subscribe = strcmp(cli.argv[0], "subscribe") == 0;
	o.on_event = on_event;
	o.on_connection = on_connection;
	o.on_connect_error = on_connect_error;
	o.userdata = &cli;
	if (sd_event_default(&cli.event) < 0 ||
	    hostd_client_new(cli.event, &o, &cli.client) < 0) {
		fprintf(stderr, "hostd-shim-cli: cannot set up the client\n");
		return 1;
	}
	sd_event_add_time_relative(cli.event, NULL, CLOCK_MONOTONIC,
				   (uint64_t)cli.timeout_ms * 1000, 1000, on_give_up, &cli);
	sd_event_add_signal(cli.event, NULL, SIGTERM, NULL, NULL);
	sd_event_add_signal(cli.event, NULL, SIGINT, NULL, NULL);
	sd_event_loop(cli.event);
	hostd_client_free(cli.client);
	sd_event_source_disable_unref(cli.refresh_timer);
	sd_event_unref(cli.event);
	return cli.exit_code;
}
