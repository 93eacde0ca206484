/* The imperative shell of the agent (DESIGN.md "Functional core, imperative
 * shell"): sockets, timers, signals and sd_notify. Every event goes to the core
 * with the time; every action the core returns is carried out here, in order. */
#include "fdm/agent.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fdm/core/deadline.h"
#include "fdm/ha_request.h"
#include "fdm/watchdog.h"
#include "lib/log.h"
#include "lib/util.h"

uint64_t fdm_agent_now(void)
{
	return fdm_now_boottime_ms();
}

/* `fdmctl events` keeps the core's decisions with their wall-clock time. */
static void remember_event(struct fdm_agent *a, const char *text, uint64_t now)
{
	struct fdm_event_line *e = &a->events[a->events_next];

	e->unix_ms = fdm_now_unix_ms();
	e->boot_ms = now;
	fdm_strlcpy(e->text, text, sizeof(e->text));
	a->events_next = (a->events_next + 1) % FDM_EVENTS_MAX;
	if (a->events_count < FDM_EVENTS_MAX)
		a->events_count++;
}

/* A line of the core: to the log, with its journal fields (fdm(8)), to `fdmctl
 * events`, and counted by kind for `fdmctl metrics`. */
static void log_event(struct fdm_agent *a, const struct fdm_action *act, uint64_t now)
{
	const struct fdm_log_fields f = {
		.event = act->event, .host = a->cfg.host_id, .peer = act->peer, .vm = act->vm,
		.datastore = act->datastore, .has_term = act->has_term, .term = act->term,
	};

	fdm_log_kv(act->warning ? FDM_LOG_WARNING : FDM_LOG_INFO, &f, "%s", act->text);
	remember_event(a, act->text, now);
	fdm_metrics_count_event(&a->metrics, act->event);
}

static void notify_status(const struct fdm_agent *a)
{
	const struct fdm_core *c = &a->core;

	sd_notifyf(0, "STATUS=%s, master %s, term %llu", fdm_role_name(c->role),
		   c->master >= 0 ? c->peers[c->master].id : "none",
		   (unsigned long long)c->term);
}

static void send_packet(struct fdm_agent *a, const struct fdm_action *act, uint64_t now)
{
	fdm_outbox_build(&a->core, act, a->cfg.cluster_id, now, &a->outbox);
	if (fdm_net_send(&a->net, act->to, &a->outbox.packet) < 0)
		fdm_debug("send to %s failed: %s", a->cfg.peers[act->to].id, strerror(errno));
}

/* Carry out what the core decided, then forget it. */
void fdm_agent_execute(struct fdm_agent *a, uint64_t now)
{
	struct fdm_actions *acts = &a->actions;

	for (size_t i = 0; i < acts->n; i++) {
		const struct fdm_action *act = &acts->a[i];

		switch (act->kind) {
		case FDM_ACT_SEND:
			send_packet(a, act, now);
			break;
		case FDM_ACT_LOG:
			log_event(a, act, now);
			break;
		case FDM_ACT_ROLE:
			notify_status(a);
			break;
		case FDM_ACT_STORAGE:
			fdm_metrics_io_issued(&a->metrics, a->cfg.datastores[act->ds].name, act->op,
					      now);
			fdm_datastores_submit(&a->datastores, &a->core, act);
			break;
		case FDM_ACT_CONTROL_REPLY:
			fdm_ha_control_reply(a, act, now);
			break;
		case FDM_ACT_POWER_ON:
			fdm_ha_shell_power_on(a->ha, act);
			break;
		case FDM_ACT_POWER_OFF:
			fdm_ha_shell_power_off(a->ha, act);
			break;
		case FDM_ACT_VM_DEFINE:
			if ((size_t)act->to == a->core.self)
				fdm_ha_shell_define(a->ha, act);
			else
				fdm_ha_net_ask(a->hanet, act, now);
			break;
		case FDM_ACT_FORWARD:
			fdm_ha_net_forward(a->hanet, act, now);
			break;
		}
	}
	if (acts->overflow)
		fdm_err("internal: %zu core actions did not fit and were lost", acts->overflow);
	acts->n = 0;
	acts->overflow = 0;
	/* Every step may move a deadline: the shim holds the latest (DESIGN.md 5). */
	if (a->ha != NULL)
		fdm_ha_shell_deadlines(a->ha, now);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fdm_agent *a = userdata;
	uint64_t now = fdm_agent_now();
	uint64_t next;

	fdm_core_tick(&a->core, now, &a->actions);
	fdm_agent_execute(a, now);
	fdm_ha_net_tick(a->hanet, now);
	fdm_watchdog_pet(a->watchdog, now, fdm_deadline_watchdog_until(&a->core, now));
	if (a->stopping) {
		/* Leases released, `stopped` written, and the shim holds the list
		 * without the VMs of those datastores (they run on: DESIGN.md 5). */
		bool released = fdm_core_released(&a->core);
		bool synced = a->ha == NULL || fdm_ha_shell_deadlines_synced(a->ha);

		if ((released && synced) || now >= a->stop_deadline_ms) {
			if (!released)
				fdm_warn("%s: stopping without confirmed lease releases",
					 a->cfg.host_id);
			if (!synced)
				fdm_warn("%s: stopping before hostd-shim took the last deadlines: "
					 "it enforces the ones it holds", a->cfg.host_id);
			sd_event_exit(a->event, 0);
			return 0;
		}
	}
	/* From now, not from the missed slot: after a pause, one tick catches up. */
	(void)usec;
	sd_event_now(a->event, CLOCK_MONOTONIC, &next);
	sd_event_source_set_time(s, next + FDM_TICK_MS * 1000ULL);
	return 0;
}

/* A round of the isolation probe ended (or got its first reply). */
static void on_iso_probe(void *userdata, bool answered, uint64_t started)
{
	struct fdm_agent *a = userdata;
	uint64_t now = fdm_agent_now();

	fdm_core_isolation_probe(&a->core, answered, started, now, &a->actions);
	fdm_agent_execute(a, now);
}

/* A storage I/O ended: back to the core, by datastore name. */
static void on_storage_done(void *userdata, const char *datastore, enum fdm_storage_op op,
			    const struct fdm_storage_outcome *o)
{
	struct fdm_agent *a = userdata;
	int d = fdm_config_datastore_index(&a->cfg, datastore);
	uint64_t now = fdm_agent_now();

	fdm_metrics_io_done(&a->metrics, datastore, op, o->result == FDM_STORAGE_OK, now);
	if (d < 0)
		return;   /* removed by a reload meanwhile */
	fdm_core_storage_done(&a->core, d, op, o, now, &a->actions);
	fdm_agent_execute(a, now);
}

static int on_datagram(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct fdm_agent *a = userdata;
	Fdm__Packet *p;
	int from, rc;

	(void)s;
	(void)fd;
	(void)revents;
	/* Drain what is queued, but yield to timers after a burst. */
	for (int i = 0; i < 64; i++) {
		rc = fdm_net_recv(&a->net, &p, &from);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		uint64_t now = fdm_agent_now();
		/* The core decides on timing (it logs and shows the host init-error);
		 * the count lives with the other drop reasons. */
		enum fdm_rx rx = fdm_core_packet(&a->core, from, p, now, &a->actions);

		if (rx == FDM_RX_TIMING_MISMATCH)
			a->net.dropped[FDM_DROP_TIMING_MISMATCH]++;
		else if (rx == FDM_RX_SHELL)
			fdm_ha_net_on_packet(a->hanet, from, p, now);
		fdm__packet__free_unpacked(p, NULL);
		fdm_agent_execute(a, now);
	}
	return 0;
}

/* What a reload cannot change under a running agent (INTERFACE.md: [host] id and
 * key_file; the sockets it is bound to, and the cluster it belongs to, likewise). */
static const char *needs_restart(const struct fdm_config *old, const struct fdm_config *new)
{
	if (strcmp(old->cluster_id, new->cluster_id) != 0)
		return "[cluster] id";
	if (strcmp(old->key_file, new->key_file) != 0)
		return "[cluster] key_file";
	if (strcmp(old->host_id, new->host_id) != 0)
		return "[host] id";
	if (strcmp(old->address, new->address) != 0 || old->port != new->port)
		return "[host] address or port";
	if (strcmp(old->control_socket, new->control_socket) != 0)
		return "[control] socket";
	return NULL;
}

/* The key is read once, at start: the wire and the datastores hold it. A reload
 * that applied the rest of the file while the key on disk differs would leave
 * the operator believing the new key is in use. */
static bool key_changed(const struct fdm_agent *a, const char *path)
{
	uint8_t key[FDM_KEY_MAX];
	char err[512];
	int len = fdm_key_load(path, key, err, sizeof(err));
	bool changed = len < 0 || (size_t)len != a->key.len ||
		       memcmp(key, a->key.bytes, a->key.len) != 0;

	memset(key, 0, sizeof(key));
	return changed;
}

/* SIGHUP: a file that fails validation changes nothing. */
/* [isolation] addresses change without a restart (INTERFACE.md): probe the
 * new ones from now; what the old ones answered stays with the core. */
static void reopen_iso_probe(struct fdm_agent *a)
{
	char err[256];

	fdm_iso_probe_close(a->iso);
	a->iso = NULL;
	if (fdm_iso_probe_open(a->event, &a->cfg, a->timing.isolation_probe_ms, on_iso_probe, a,
			       &a->iso, err, sizeof(err)) < 0)
		fdm_err("%s: isolation addresses not probed: %s", a->cfg.host_id, err);
}

static void reload(struct fdm_agent *a, uint64_t now)
{
	struct fdm_config *next = calloc(1, sizeof(*next));
	struct fdm_timing t;
	char err[1024];
	const char *why;

	if (next == NULL) {
		fdm_err("reload refused: out of memory");
		return;
	}
	if (fdm_config_load(a->cfg.path, FDM_NEED_AGENT | FDM_NEED_THIS_HOST, next, err,
			    sizeof(err)) < 0) {
		fdm_err("reload refused, the running config stays: %s", err);
	} else if ((why = needs_restart(&a->cfg, next)) != NULL) {
		fdm_err("reload refused, the running config stays: %s changed in %s; restart fdm "
			"to apply it", why, next->path);
	} else if (key_changed(a, next->key_file)) {
		fdm_err("reload refused, the running config stays: %s: key_file content changed: "
			"restart fdm to use the new key", next->key_file);
	} else if (fdm_timing_derive(next->heartbeat_interval_ms, next->io_timeout_ms, &t, err,
				     sizeof(err)) < 0 ||
		   fdm_datastores_reconfigure(&a->datastores, next, err, sizeof(err)) < 0 ||
		   fdm_net_reconfigure(&a->net, next, err, sizeof(err)) < 0) {
		fdm_err("reload refused, the running config stays: %s", err);
	} else {
		a->cfg = *next;
		a->timing = t;
		fdm_core_reconfigure(&a->core, &a->cfg, &a->timing, now, &a->actions);
		fdm_agent_execute(a, now);
		reopen_iso_probe(a);
	}
	free(next);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct fdm_agent *a = userdata;
	uint64_t now = fdm_agent_now();

	(void)s;
	if (si->ssi_signo == SIGHUP) {
		sd_notify(0, "RELOADING=1");
		reload(a, now);
		sd_notify(0, "READY=1");
		notify_status(a);
		return 0;
	}
	if (a->stopping)
		return 0;
	a->stopping = true;
	fdm_info("%s: stopping cleanly (%s)", a->cfg.host_id, strsignal((int)si->ssi_signo));
	sd_notify(0, "STOPPING=1");
	/* Leases are released before exit: a write, bounded by io_timeout, after a
	 * read, bounded too; and `stopped` is written. The tick exits once they
	 * are done, or at this bound: a datastore whose `stopped` record is not
	 * written by then (hung, or an earlier failed write still in limbo)
	 * keeps its VMs' deadlines with the shim, which is safe. */
	a->stop_deadline_ms = now + 2 * a->timing.io_timeout_ms + 500;
	fdm_core_leave(&a->core, now, &a->actions);
	fdm_agent_execute(a, now);
	return 0;
}

/* The metrics text now (malloc'd), NULL when out of memory. */
static char *metrics_text(const struct fdm_agent *a, uint64_t now)
{
	struct fdm_metrics *m = malloc(sizeof(*m));
	char *text;

	if (m == NULL)
		return NULL;
	fdm_metrics_gather(a, now, m);
	text = fdm_metrics_text(m);
	free(m);
	return text;
}

/* fdmctl metrics: {"metrics": text}; fdmctl prints the text as it is. */
static json_object *metrics_reply(const struct fdm_agent *a, uint64_t now)
{
	char *text = metrics_text(a, now);
	json_object *o;

	if (text == NULL)
		return fdm_control_error("out of memory");
	o = json_object_new_object();
	json_object_object_add(o, "metrics", json_object_new_string(text));
	free(text);
	return o;
}

/* [metrics] textfile: a failed write is logged once, then again only after a
 * write has worked (the file is local, and no reason to stop anything). */
static void textfile_outcome(struct fdm_agent *a)
{
	char why[512];
	int r = fdm_textfile_result(a->textfile, why, sizeof(why));

	if (r < 0 && !a->textfile_failing) {
		fdm_warn("%s: metrics textfile not written (said once, until it works again): %s",
			 a->cfg.host_id, why);
		a->textfile_failing = true;
	} else if (r > 0 && a->textfile_failing) {
		fdm_info("%s: metrics textfile %s written again", a->cfg.host_id,
			 a->cfg.metrics_textfile);
		a->textfile_failing = false;
	}
}

static int on_textfile(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fdm_agent *a = userdata;
	uint64_t next;
	char *text;

	textfile_outcome(a);
	if (a->cfg.metrics_textfile[0] != '\0' && (text = metrics_text(a, fdm_agent_now())) != NULL)
		fdm_textfile_start(a->textfile, a->cfg.metrics_textfile, text);
	/* From now: after a pause, one write, not one per missed period. */
	(void)usec;
	sd_event_now(a->event, CLOCK_MONOTONIC, &next);
	sd_event_source_set_time(s, next + FDM_METRICS_TEXTFILE_MS * 1000ULL);
	return 0;
}

static json_object *reply_ok(const char *message)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "message", json_object_new_string(message));
	return o;
}

static json_object *force_election(struct fdm_agent *a, uint64_t now)
{
	enum fdm_role was = a->core.role;

	fdm_core_force_election(&a->core, now, &a->actions);
	fdm_agent_execute(a, now);
	switch (was) {
	case FDM_ROLE_MASTER:
		return reply_ok("this host stepped down as master; a new election runs now");
	case FDM_ROLE_SLAVE:
		return reply_ok("asked the master to step down; a new election runs now");
	default:
		return reply_ok("election restarted");
	}
}

/* The control requests of fdmctl. Each is validated here, at the edge. */
static json_object *on_control(void *userdata, json_object *req)
{
	struct fdm_agent *a = userdata;
	uint64_t now = fdm_agent_now();
	json_object *cmd_obj, *arg;
	const char *cmd;

	if (!json_object_object_get_ex(req, "command", &cmd_obj) ||
	    !json_object_is_type(cmd_obj, json_type_string))
		return fdm_control_error("malformed request: no \"command\" string");
	cmd = json_object_get_string(cmd_obj);
	if (strcmp(cmd, "status") == 0)
		return fdm_status_json(a, now);
	if (strcmp(cmd, "election-force") == 0)
		return force_election(a, now);
	if (strcmp(cmd, "events") == 0) {
		uint64_t since = 0;
		if (json_object_object_get_ex(req, "since_ms", &arg))
			since = (uint64_t)json_object_get_int64(arg);
		return fdm_events_json(a, now, since);
	}
	if (strcmp(cmd, "metrics") == 0)
		return metrics_reply(a, now);
	if (fdm_ha_request_command(cmd))
		return fdm_ha_control(a, req, now);
	return fdm_control_error("unknown command");
}

static const int handled_signals[3] = { SIGTERM, SIGINT, SIGHUP };

/* Blocked before any thread starts (the storage workers inherit the mask), so
 * that only the loop's signalfd ever sees them. */
static int block_signals(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	for (int i = 0; i < 3; i++)
		sigaddset(&mask, handled_signals[i]);
	return sigprocmask(SIG_BLOCK, &mask, NULL);
}

static int add_signals(struct fdm_agent *a)
{
	const int *sigs = handled_signals;

	for (int i = 0; i < 3; i++)
		if (sd_event_add_signal(a->event, &a->sig_src[i], sigs[i], on_signal, a) < 0)
			return -1;
	return 0;
}

int fdm_agent_init(struct fdm_agent *a, const struct fdm_config *cfg, char *err,
		   size_t errlen)
{
	uint64_t now = fdm_agent_now();
	char why[256];
	int keylen;

	a->cfg = *cfg;
	a->net.fd = -1;       /* nothing to close yet if set-up stops half-way */
	a->control.fd = -1;
	if (block_signals() < 0) {
		snprintf(err, errlen, "cannot block signals: %s", strerror(errno));
		return -1;
	}
	if (fdm_timing_derive(cfg->heartbeat_interval_ms, cfg->io_timeout_ms, &a->timing, why,
			      sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: timing: %s", cfg->path, why);
		return -1;
	}
	keylen = fdm_key_load(cfg->key_file, a->key.bytes, why, sizeof(why));
	if (keylen < 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	a->key.len = (size_t)keylen;
	/* The incarnation is the wall clock at start: together with the per-datagram
	 * counter it never repeats across restarts (DESIGN.md "Security"). */
	if (fdm_core_init(&a->core, &a->cfg, &a->timing, fdm_now_unix_ms(), now) < 0) {
		snprintf(err, errlen, "%s: this host is not in [peers]", cfg->path);
		return -1;
	}
	a->started_ms = now;
	if (sd_event_new(&a->event) < 0) {
		snprintf(err, errlen, "cannot create the event loop");
		return -1;
	}
	/* The control socket first: a second agent started by mistake is told so. */
	if (fdm_control_open(&a->control, a->event, cfg->control_socket, on_control, a, err,
			     errlen) < 0)
		return -1;
	if (fdm_net_open(&a->net, &a->cfg, &a->key, err, errlen) < 0)
		return -1;
	if (fdm_datastores_open(&a->datastores, a->event, &a->cfg, &a->key, a->core.incarnation,
				on_storage_done, a, err, errlen) < 0)
		return -1;
	if (fdm_ha_shell_open(a, &a->ha, err, errlen) < 0 ||
	    fdm_ha_net_open(a, &a->hanet, err, errlen) < 0 ||
	    fdm_iso_probe_open(a->event, &a->cfg, a->timing.isolation_probe_ms, on_iso_probe, a,
			       &a->iso, err, errlen) < 0)
		return -1;
	a->watchdog = fdm_watchdog_open(a->cfg.watchdog_device, a->timing.io_timeout_ms);
	if (sd_event_add_io(a->event, &a->net_src, a->net.fd, EPOLLIN, on_datagram, a) < 0 ||
	    sd_event_add_time_relative(a->event, &a->tick_src, CLOCK_MONOTONIC, 0,
				       1000, on_tick, a) < 0 ||
	    sd_event_source_set_enabled(a->tick_src, SD_EVENT_ON) < 0 ||
	    add_signals(a) < 0 || sd_event_set_watchdog(a->event, 1) < 0 ||
	    (a->textfile = fdm_textfile_new()) == NULL ||
	    sd_event_add_time_relative(a->event, &a->textfile_src, CLOCK_MONOTONIC, 0, 100000,
				       on_textfile, a) < 0 ||
	    sd_event_source_set_enabled(a->textfile_src, SD_EVENT_ON) < 0) {
		snprintf(err, errlen, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int fdm_agent_run(struct fdm_agent *a)
{
	int rc;

	fdm_info("%s: agent started (cluster %s, %zu peers, %zu datastores, UDP %s:%u, "
		 "control %s)", a->cfg.host_id, a->cfg.cluster_id, a->cfg.n_peers,
		 a->cfg.n_datastores, a->cfg.address, a->cfg.port, a->cfg.control_socket);
	sd_notify(0, "READY=1");
	notify_status(a);
	rc = sd_event_loop(a->event);
	return rc < 0 ? 1 : 0;
}

void fdm_agent_free(struct fdm_agent *a)
{
	fdm_watchdog_close(a->watchdog);
	a->watchdog = NULL;
	fdm_iso_probe_close(a->iso);
	fdm_ha_net_close(a->hanet);
	fdm_ha_shell_close(a->ha);
	fdm_datastores_close(&a->datastores);
	fdm_control_close(&a->control);
	for (int i = 0; i < 3; i++)
		sd_event_source_disable_unref(a->sig_src[i]);
	sd_event_source_disable_unref(a->tick_src);
	sd_event_source_disable_unref(a->textfile_src);
	fdm_textfile_free(a->textfile);
	sd_event_source_disable_unref(a->net_src);
	fdm_net_close(&a->net);
	sd_event_unref(a->event);
	memset(&a->key, 0, sizeof(a->key));
}
