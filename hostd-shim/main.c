/* hostd-shim: the only fdm program that talks to libvirt (DESIGN.md
 * "hostd-shim"). Reads [hostd] of the cluster config, serves the shim API on
 * its unix socket, and enforces the deadlines fdm hands it. Stays in the
 * foreground, logs to stderr, speaks sd_notify when run by systemd. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "lib/util.h"
#include "hostd-shim/events.h"
#include "hostd-shim/requests.h"
#include "hostd-shim/shim.h"
#include "hostd-shim/shutdown.h"
#include "hostd-shim/statefile.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hostd-shim --config FILE\n"
		   "  Serves VM power operations through libvirt on the [hostd] socket of\n"
		   "  FILE and enforces the deadlines the fdm agent hands it.\n"
		   "  --version, --help\n");
}

static int on_mail(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct shim *s = userdata;
	struct shim_mail *m = shim_mailbox_take(&s->mb), *next;

	(void)src;
	(void)fd;
	(void)revents;
	for (; m != NULL; m = next) {
		next = m->next;
		if (m->kind == SHIM_JOB_MAIL)
			shim_job_done(s, (struct shim_job *)m);
		else
			shim_events_handle(s, m);
	}
	return 0;
}

static void free_jobs(struct shim_pool_job *pj)
{
	while (pj != NULL) {
		struct shim_job *job = (struct shim_job *)pj;

		pj = pj->next_queued;
		if (job->client != NULL)
			shim_client_unref(job->client);
		shim_job_free(job);
	}
}

/* Mails still waiting at exit: free them without acting. */
static void drain_mail(struct shim *s)
{
	struct shim_mail *m = shim_mailbox_take(&s->mb), *next;

	for (; m != NULL; m = next) {
		next = m->next;
		if (m->kind == SHIM_JOB_MAIL) {
			struct shim_job *job = (struct shim_job *)m;

			if (job->client != NULL)
				shim_client_unref(job->client);
			shim_job_free(job);
		} else {
			shim_virt_mail_free((struct shim_virt_mail *)m);
		}
	}
}

/* The socket's directory, then the lock that makes this shim the only one on
 * its socket and state file, then this boot's id (the state file's clock). */
static int claim_state(struct shim *s)
{
	char dir[PATH_MAX], err[2 * PATH_MAX];

	if (!shim_state_path(s->cfg.hostd_socket, s->state_path, sizeof(s->state_path)) ||
	    !shim_state_lock_path(s->cfg.hostd_socket, s->lock_path, sizeof(s->lock_path))) {
		fdm_err("%s: state file path too long", s->cfg.hostd_socket);
		return -ENAMETOOLONG;
	}
	fdm_strlcpy(dir, s->cfg.hostd_socket, sizeof(dir));
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST) {
		fdm_err("%s: cannot create its directory: %s", s->cfg.hostd_socket,
			strerror(errno));
		return -errno;
	}
	s->lock_fd = shim_state_lock(s->lock_path, err, sizeof(err));
	if (s->lock_fd < 0) {
		fdm_err("%s", err);
		return -EADDRINUSE;
	}
	if (err[0] != '\0')
		fdm_info("%s", err);
	if (shim_boot_id(SHIM_BOOT_ID_PATH, s->boot_id, err, sizeof(err)) < 0) {
		fdm_err("cannot read this boot's id: %s", err);
		return -EIO;
	}
	return 0;
}

static int start(struct shim *s)
{
	sigset_t ss;
	int rc;

	if ((rc = claim_state(s)) < 0)
		return rc;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if ((rc = sd_event_default(&s->event)) < 0 ||
	    (rc = sd_event_add_signal(s->event, NULL, SIGTERM, NULL, NULL)) < 0 ||
	    (rc = sd_event_add_signal(s->event, NULL, SIGINT, NULL, NULL)) < 0 ||
	    (rc = sd_event_set_watchdog(s->event, 1)) < 0)
		return rc;
	if ((rc = shim_mailbox_init(&s->mb)) < 0 ||
	    (rc = sd_event_add_io(s->event, &s->mb_src, s->mb.efd, EPOLLIN, on_mail, s)) < 0)
		return rc;
	if ((rc = shim_fence_init(s)) < 0)
		return rc;
	if ((rc = shim_server_open(s)) < 0)
		return rc;
	if ((rc = shim_pool_start(&s->ops_pool, "ops", SHIM_OPS_THREADS, shim_ops_run,
				  &s->virt, &s->mb)) < 0)
		return rc;
	if ((rc = shim_pool_start(&s->fence_pool, "fence", SHIM_FENCE_THREADS, shim_ops_run, &s->virt,
				  &s->mb)) < 0) {
		free_jobs(shim_pool_stop(&s->ops_pool));
		return rc;
	}
	s->pools_started = true;
	if ((rc = shim_virt_start(&s->virt, s->cfg.libvirt_uri, &s->mb)) < 0)
		return rc;
	s->virt_started = true;
	return 0;
}

static void stop(struct shim *s)
{
	/* Workers first (they finish their current libvirt call), then libvirt. */
	if (s->pools_started) {
		free_jobs(shim_pool_stop(&s->ops_pool));
		free_jobs(shim_pool_stop(&s->fence_pool));
	}
	if (s->virt_started)
		shim_virt_stop(&s->virt);
	drain_mail(s);
	shim_shutdown_free(s);
	shim_server_close(s);
	shim_fence_free(s);
	shim_domcache_free(&s->cache);
	if (s->lock_fd >= 0)
		close(s->lock_fd);   /* the lock goes with it; the file stays */
	s->mb_src = sd_event_source_disable_unref(s->mb_src);
	if (s->mb.efd >= 0)
		shim_mailbox_destroy(&s->mb);
	s->event = sd_event_unref(s->event);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct shim *s;
	const char *config = NULL;
	char err[PATH_MAX + 256];
	int opt, rc;

	/* A client gone before its reply must not kill the shim (writes also use
	 * MSG_NOSIGNAL; this covers every other write, stderr included). */
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'V': printf("hostd-shim %s\n", FDM_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (config == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return 1;
	s->listen_fd = -1;
	s->lock_fd = -1;
	s->mb.efd = -1;
	if (fdm_config_load(config, FDM_NEED_SHIM, &s->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "hostd-shim: %s\n", err);
		free(s);
		return 2;
	}
	rc = start(s);
	if (rc >= 0) {
		fdm_info("ready: socket %s, libvirt %s, state %s", s->cfg.hostd_socket,
			 s->cfg.libvirt_uri, s->state_path);
		sd_notify(0, "READY=1");
		shim_status(s);
		rc = sd_event_loop(s->event);
	} else {
		fdm_info("cannot start: %s", strerror(-rc));
	}
	sd_notify(0, "STOPPING=1");
	stop(s);
	fdm_info("stopped");
	free(s);
	return rc < 0 ? 1 : 0;
}
