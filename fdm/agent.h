/* The agent's shell: owns the sd-event loop, the UDP socket, the control socket and
 * the clocks, feeds every event to the pure core (fdm/core/) and carries out the
 * actions it returns. Holds no decision of its own. */
#ifndef FDM_AGENT_H
#define FDM_AGENT_H

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "lib/config.h"
#include "fdm/control.h"
#include "fdm/core/core.h"
#include "fdm/core/outbox.h"
#include "lib/timing.h"
#include "fdm/datastores.h"
#include "fdm/isolation_probe.h"
#include "fdm/metrics.h"
#include "fdm/net.h"
#include "fdm/wire.h"

#define FDM_EVENTS_MAX 256     /* `fdmctl events`: the last decisions, with reasons */
#define FDM_TICK_MS    50      /* the core's clock resolution */

struct fdm_event_line {
	uint64_t unix_ms;
	uint64_t boot_ms;
	char text[FDM_LOG_MAX];
};

struct fdm_agent {
	struct fdm_config cfg;
	struct fdm_timing timing;
	struct fdm_key key;
	struct fdm_core core;
	struct fdm_actions actions;         /* scratch: what the core asked for last */
	struct fdm_outbox outbox;           /* scratch: the datagram being built */
	struct fdm_net net;
	struct fdm_control control;
	struct fdm_datastores datastores;
	struct fdm_ha_shell *ha;            /* the local hostd-shim (ha_shell.c) */
	struct fdm_ha_net *hanet;           /* requests between hosts (ha_net.c) */
	struct fdm_iso_probe *iso;          /* pings [isolation] addresses (isolation_probe.c) */
	struct fdm_watchdog *watchdog;      /* /dev/watchdog, or NULL (watchdog.c) */

	sd_event *event;
	sd_event_source *net_src, *tick_src;
	sd_event_source *sig_src[3];

	struct fdm_metrics_counters metrics;   /* what only `fdmctl metrics` shows */
	sd_event_source *textfile_src;      /* [metrics] textfile, every few seconds */
	struct fdm_textfile *textfile;      /* its writer (metrics_textfile.c) */
	bool textfile_failing;              /* its failure is logged once, until it works */

	struct fdm_event_line events[FDM_EVENTS_MAX];
	size_t events_next, events_count;
	uint64_t started_ms;
	bool stopping;
	uint64_t stop_deadline_ms;   /* clean stop: exit by then even if a release hangs */
};

/* Set up everything from a loaded config; -1 with a one-line reason in err. */
int fdm_agent_init(struct fdm_agent *a, const struct fdm_config *cfg, char *err,
		   size_t errlen);
/* Run until SIGTERM/SIGINT; returns the exit status. */
int fdm_agent_run(struct fdm_agent *a);
void fdm_agent_free(struct fdm_agent *a);

/* The core's clock: CLOCK_BOOTTIME in ms (counts a suspend, like the shim's
 * deadlines, DESIGN.md point 5). */
uint64_t fdm_agent_now(void);

/* ha_shell.c: the local hostd-shim for VM protection. */
struct fdm_ha_shell;
int fdm_ha_shell_open(struct fdm_agent *a, struct fdm_ha_shell **out, char *err, size_t errlen);
void fdm_ha_shell_close(struct fdm_ha_shell *s);
void fdm_ha_shell_power_on(struct fdm_ha_shell *s, const struct fdm_action *act);
void fdm_ha_shell_power_off(struct fdm_ha_shell *s, const struct fdm_action *act);
/* Hand every deadline to hostd-shim when it changed, and at least every io_timeout. */
void fdm_ha_shell_deadlines(struct fdm_ha_shell *s, uint64_t now);
/* The shim holds the core's current list of deadlines (a clean stop waits). */
bool fdm_ha_shell_deadlines_synced(struct fdm_ha_shell *s);
void fdm_ha_shell_define(struct fdm_ha_shell *s, const struct fdm_action *act);
/* The definition of vm for request `id` of host `asker` (this host: the core,
 * else a DefineReply through ha_net.c), from the local shim. */
void fdm_ha_shell_define_for(struct fdm_ha_shell *s, int asker, uint64_t id, const char *vm);

/* ha_net.c: operators' requests between hosts (Forward, DefineRequest and
 * their replies). */
struct fdm_ha_net;
int fdm_ha_net_open(struct fdm_agent *a, struct fdm_ha_net **out, char *err, size_t errlen);
void fdm_ha_net_close(struct fdm_ha_net *n);
/* A request of our control socket, before the core sees it: kept in the form a
 * forward carries, until answered. false: no room. */
bool fdm_ha_net_keep(struct fdm_ha_net *n, uint64_t ticket, const struct fdm_ha_request *r,
		     uint64_t now);
/* It was answered here: forget it. */
void fdm_ha_net_done(struct fdm_ha_net *n, uint64_t ticket);
/* FDM_ACT_FORWARD; FDM_ACT_CONTROL_REPLY to another host; FDM_ACT_VM_DEFINE to
 * another host. */
void fdm_ha_net_forward(struct fdm_ha_net *n, const struct fdm_action *act, uint64_t now);
void fdm_ha_net_reply(struct fdm_ha_net *n, const struct fdm_action *act, uint64_t now);
void fdm_ha_net_ask(struct fdm_ha_net *n, const struct fdm_action *act, uint64_t now);
/* The local shim's answer to host `to`'s DefineRequest (xml NULL unless found). */
void fdm_ha_net_defined(struct fdm_ha_net *n, int to, uint64_t id, const char *vm,
			const struct fdm_vm_define *def, const char *xml, uint64_t now);
/* A packet the core handed to the shell (FDM_RX_SHELL). */
void fdm_ha_net_on_packet(struct fdm_ha_net *n, int from, const Fdm__Packet *p, uint64_t now);
/* Every tick: send again what is not answered yet. */
void fdm_ha_net_tick(struct fdm_ha_net *n, uint64_t now);

/* Carry out what the core asked for (a->actions), then forget it. */
void fdm_agent_execute(struct fdm_agent *a, uint64_t now);

/* ha_control.c: fdmctl protect/unprotect/maintenance (answered later: NULL), and
 * the core's answer to one. */
json_object *fdm_ha_control(struct fdm_agent *a, json_object *req, uint64_t now);
void fdm_ha_control_reply(struct fdm_agent *a, const struct fdm_action *act, uint64_t now);
/* The reply fdmctl gets: {"ok": true, "message": text} or {"error": text}. */
json_object *fdm_ha_answer_json(bool ok, const char *text);

/* status.c: the JSON objects of INTERFACE.md ("fdmctl --json status"). */
json_object *fdm_status_json(const struct fdm_agent *a, uint64_t now);
/* The state `fdmctl hosts` shows for host i (`fdmctl metrics` counts them). */
enum fdm_host_state fdm_status_host_state(const struct fdm_core *c, size_t i);
json_object *fdm_events_json(const struct fdm_agent *a, uint64_t now, uint64_t since_ms);

#endif
