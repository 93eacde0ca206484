/* fdm, the HA agent: command line, config, then the agent's loop (agent.c).
 * Exit status: 0 clean stop, 1 failure at run time, 2 usage or config error. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdm/agent.h"
#include "lib/config.h"
#include "lib/timing.h"
#include "lib/log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fdm --config FILE [--foreground] [--print-timing]\n"
		"  --config FILE     cluster config (default " FDM_DEFAULT_CONFIG ")\n"
		"  --foreground      accepted for compatibility: fdm always stays in the\n"
		"                    foreground and logs to stderr (systemd Type=notify)\n"
		"  --print-timing    print the derived timeouts and checked inequalities, exit\n"
		"  --version         print the version and exit\n");
}

static int print_timing(const struct fdm_config *cfg)
{
	struct fdm_timing t;
	char why[256];

	if (fdm_timing_derive(cfg->heartbeat_interval_ms, cfg->io_timeout_ms, &t, why,
			      sizeof(why)) < 0) {
		fprintf(stderr, "fdm: %s: timing: %s\n", cfg->path, why);
		return 2;
	}
	fdm_timing_print(&t, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "print-timing", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = FDM_DEFAULT_CONFIG;
	struct fdm_config *cfg;
	struct fdm_agent *agent;
	bool timing_only = false;
	char err[1024];
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'f': break;
		case 't': timing_only = true; break;
		case 'V': printf("fdm %s\n", FDM_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fdm: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* A control client that closes before reading its answer must cost the
	 * agent one EPIPE, not its life (SIGPIPE's default action is to exit). */
	signal(SIGPIPE, SIG_IGN);
	cfg = calloc(1, sizeof(*cfg));
	agent = calloc(1, sizeof(*agent));
	if (cfg == NULL || agent == NULL) {
		fprintf(stderr, "fdm: out of memory\n");
		return 1;
	}
	/* --print-timing checks what a start would: the file is for this host. */
	if (fdm_config_load(config, FDM_NEED_AGENT | FDM_NEED_THIS_HOST, cfg, err,
			    sizeof(err)) < 0) {
		fprintf(stderr, "fdm: %s\n", err);
		rc = 2;
	} else if (timing_only) {
		rc = print_timing(cfg);
	} else if (fdm_agent_init(agent, cfg, err, sizeof(err)) < 0) {
		fdm_err("%s", err);
		fdm_agent_free(agent);
		rc = 1;
	} else {
		rc = fdm_agent_run(agent);
		fdm_agent_free(agent);
	}
	free(agent);
	free(cfg);
	return rc;
}
