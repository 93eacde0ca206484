/* A few fdm cores in one process for unit tests: a fake clock, and a fake network
 * that carries real signed datagrams (fdm/wire.c) with loss, duplication, delay
 * and cut links chosen by the test. Deterministic: same seed, same run. */
#ifndef FDM_TEST_MINICLUSTER_H
#define FDM_TEST_MINICLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"
#include "fdm/core/core.h"
#include "fdm/core/outbox.h"
#include "fdm/wire.h"

#define MC_MAX_HOSTS 8
#define MC_STEP_MS   10
#define MC_EPOCH     1000000   /* the real time every run starts at */

struct mc_packet {
	int from, to;
	uint64_t deliver_at;
	size_t len;
	uint8_t *bytes;
	bool in_socket;               /* reached a paused host: read at resume, links or not */
};

/* A storage I/O in flight, ended after the host's storage_ms (MC_STORAGE_MS). It
 * happens at its completion, atomically; the core takes a completion after its
 * deadline as a failure (a host whose storage_ms exceeds io_timeout).
 * mc->io_hook (tests/sim) may split the two: a write lands (takes effect) at
 * land_at, and its writer hears of it at done_at, before (an abort: `fail`) or
 * after; a read is served at land_at and answered at done_at. */
#define MC_STORAGE_MS 5
struct mc_poweron;
struct mc_io {
	size_t host;
	uint64_t incarnation;         /* of the agent that asked: a restart forgets it */
	int ds;
	enum fdm_storage_op op;
	struct fdm_lease_rec rec;
	uint64_t issued_at;           /* when the core asked for it */
	uint64_t done_at;
	struct mc_poweron *poweron;   /* POWERON_WRITE: the content asked for at submit */
	struct fdm_vmlist_desired *vmlist;   /* VMLIST_WRITE: likewise (both owned) */
	/* Set by mc->io_hook; by default land_at == done_at and nothing fails. */
	uint64_t land_at;
	bool landed;
	bool reached;                 /* the host reached the datastore when it landed */
	bool fail;                    /* answered FAILED (a write may land all the same) */
	bool lost;                    /* a write that never lands */
	bool torn;                    /* a lease write that lands torn (CORRUPT) */
	/* LEASE_READ, HB_READ, VMLIST_READ: what was there when it was served. */
	struct fdm_lease_view lease_seen;
	uint64_t hb_seen;
	struct mc_vmlist *vmlist_seen;  /* owned */
};

/* The VM part of a simulated protectedlist (written by mc_protect or a master). */
struct mc_vmlist {
	bool written;
	uint64_t generation;
	size_t n;
	struct fdm_vmlist_entry vms[FDM_MAX_VMS];
	uint64_t maintenance_mask;    /* peer indices */
	uint64_t writes;              /* by masters (VMLIST_WRITE) */
};

/* A host's simulated poweron record on one datastore. */
struct mc_poweron {
	bool written;
	uint64_t writes;
	uint64_t generation_seen;
	bool stopped;
	bool isolated;
	size_t n_runs, n_seen, n_isolated_off;
	char (*isolated_off)[FDM_VM_NAME_MAX];
	char (*runs)[FDM_VM_NAME_MAX];
	char (*seen_names)[FDM_VM_NAME_MAX];
	uint32_t *seen_restarts;
	uint64_t last_write_issued;   /* when the core asked for the last one that landed */
};

/* One shared datastore: the lease record every host reads and writes, each
 * host's hb record (the incarnation of its last writer, a fingerprint that
 * changes with every write) and poweron record, and the VM list. */
struct mc_datastore {
	bool written;
	bool torn;                    /* the last lease write landed torn */
	struct fdm_lease_rec rec;
	uint32_t fingerprint;         /* changes with every write */
	bool uninit;                  /* no identity record: every I/O says so */
	uint64_t hb_incarnation[MC_MAX_HOSTS];
	uint32_t hb_fingerprint[MC_MAX_HOSTS];   /* 0: never written */
	struct mc_poweron poweron[MC_MAX_HOSTS];
	struct mc_vmlist vmlist;
};

/* What a host sent, for the echo check: msg kind and receiver of each seq. */
#define MC_SENT_LOG 4096
struct mc_sent {
	uint64_t incarnation, seq;
	enum fdm_msg msg;
	int to;
	uint64_t at;                  /* the fake clock when it was built and sent */
};

#define MC_MAX_VMS 32
#define MC_REPLIES 16
#define MC_MAX_POWER_ONS 64

/* A power-on the fake shim is carrying out (mc_vms.c). */
struct mc_power_on {
	size_t host;
	uint64_t incarnation;          /* of the agent that asked */
	char name[FDM_VM_NAME_MAX];
	uint32_t restarts;
	uint64_t done_at;
};

struct mc_host {
	struct fdm_config cfg;
	struct fdm_timing timing;     /* its own [timing] (mc_set_timing) */
	struct fdm_core core;
	struct fdm_replay replay[FDM_MAX_HOSTS];
	bool up;
	bool paused;                  /* SIGSTOP: no ticks; datagrams to it wait queued */
	int64_t drift_ppm;            /* its clock runs this fast (mc_clock; set at MC_EPOCH) */
	uint32_t ds_mask;
	uint32_t ro_mask;             /* of those, read-only for it: its writes fail */
	uint64_t incarnation;
	uint64_t storage_ms;          /* how long its I/O takes (MC_STORAGE_MS) */
	uint64_t op_ms[FDM_STORAGE_OP_COUNT];   /* per op, when not 0 */
	uint64_t rx_timing_mismatch;  /* what the agent counts as dropped.timing_mismatch */
	uint64_t rx_unconfirmed;      /* held back: its sender had not acked us yet */
	struct mc_sent sent[MC_SENT_LOG];
	/* The last datagram it sent to each host, as bytes (mc_replay_captured). */
	uint8_t *last_to[MC_MAX_HOSTS];
	size_t last_to_len[MC_MAX_HOSTS];
	/* Its fake hostd-shim (mc_vms.c): off unless a test turns it on. */
	bool shim;
	char vms[MC_MAX_VMS][FDM_VM_NAME_MAX];
	size_t n_vms;
	uint64_t free_kib, total_kib;
	bool power_on_fails;
	bool power_off_fails;         /* its shim's power-offs fail (libvirt error) */
	uint64_t deadline_late_since; /* a held deadline passed, its VM still runs (watchdog) */
	uint64_t list_every_ms;       /* its shim lists this often (0: every step) */
	uint64_t listed_ms;
	/* The deadlines its fake shim holds (mc_deadlines.c), on its clock: what
	 * its agent handed over last, enforced even when the agent is dead. */
	struct mc_deadline {
		char name[FDM_VM_NAME_MAX];
		uint64_t at;
	} deadlines[MC_MAX_VMS];
	size_t n_deadlines;
	uint64_t pinged_ms;           /* its agent's last hand-over (FDM_MUTANT_PING_WATCHDOG) */
	/* Its isolation addresses (DESIGN.md point 4): probed every
	 * isolation_probe_ms, answering unless iso_down or its link is cut. */
	bool iso_down;
	uint64_t iso_next_ms;
	bool iso_in_round, iso_answered;   /* the current round, begun at iso_round_ms */
	uint64_t iso_round_ms;
};

struct minicluster {
	size_t n;
	struct mc_host hosts[MC_MAX_HOSTS];
	struct fdm_timing timing;
	struct fdm_key key;
	uint64_t now;
	uint32_t rng;
	/* Faults, set by tests. */
	unsigned loss_pct, dup_pct;
	unsigned delay_max_ms;
	bool no_replay_filter;           /* let duplicates reach the core */
	bool link_down[MC_MAX_HOSTS];    /* host's link cut: nothing in or out */
	bool blocked[MC_MAX_HOSTS][MC_MAX_HOSTS];  /* from -> to dropped */
	/* The fake network. */
	struct mc_packet *queue;
	size_t queued, cap;
	uint64_t delivered, dropped;
	struct mc_datastore ds[3];
	struct mc_io *ios;
	size_t n_ios, cap_ios;
	/* Storage ops the core of each host asked for, per datastore, and the
	 * decision time of the last of each (tests count and compare them). */
	uint64_t io_asked[MC_MAX_HOSTS][3][FDM_STORAGE_OP_COUNT];
	uint64_t io_last_issue[MC_MAX_HOSTS][3][FDM_STORAGE_OP_COUNT];
	uint64_t lease_violations;    /* steps with two hosts acting on one datastore */
	/* Master heartbeats whose echo named anything but a slave heartbeat that named
	 * that master (what its "heard" rule counts), and the echoes checked. */
	uint64_t echo_violations, echoes_checked;
	/* The fake shims' work (mc_vms.c). */
	struct mc_power_on power_ons[MC_MAX_POWER_ONS];
	size_t n_power_ons;
	uint64_t power_on_ms;            /* how long a power-on takes (default 500) */
	uint64_t power_ons_asked;
	uint64_t double_runs;            /* steps x VMs seen on two up hosts */
	/* Deadlines (mc_deadlines.c): power-offs the cores asked for, power-offs
	 * the shims made themselves at a held deadline; on_power_off sees both. */
	uint64_t power_offs, shim_fenced;
	/* The host's watchdog (DESIGN.md point 5), off when 0: a host whose VM
	 * still runs this long after a deadline its shim holds passed is reset
	 * (mc_kill), as /dev/watchdog does when fdm stops petting it. */
	uint64_t watchdog_ms;
	uint64_t watchdog_resets;
	void (*on_reset)(struct minicluster *mc, size_t host);
	/* Guest shutdowns asked (the isolation response `shutdown`), and whether
	 * the guests ignore them (then only a power-off stops them). */
	uint64_t shutdowns;
	bool guests_ignore_shutdown;
	void (*on_power_off)(struct minicluster *mc, size_t host, const char *vm, bool by_shim);
	struct fdm_outbox outbox;
	struct fdm_actions actions;
	char log[64][FDM_LOG_MAX];       /* the last log lines, for failure messages */
	const char *log_watch;           /* set by a test: count log lines containing it */
	size_t log_watch_hits;
	size_t log_next;
	/* The core's event lines with what they are about (journal fields): the
	 * last MC_EVENTS of them, from any host. */
#define MC_EVENTS 256
	struct mc_event {
		size_t host;
		const char *event;
		char peer[FDM_ID_MAX], vm[FDM_VM_NAME_MAX], datastore[FDM_ID_MAX];
		bool has_term;
		uint64_t term;
	} events[MC_EVENTS];
	size_t n_events;                 /* ever kept; events[n % MC_EVENTS] is next */
	const char *watch;               /* set by a test: log lines containing it ... */
	unsigned watch_hits;             /* ... are counted here */
	/* The answers to operators' requests (FDM_ACT_CONTROL_REPLY) of every host,
	 * in order; the last MC_REPLIES are kept. */
	struct mc_reply {
		size_t host;
		uint64_t id;
		int to;
		bool ok;
		char text[FDM_LOG_MAX];
	} replies[MC_REPLIES];
	size_t n_replies;                /* in all (replies[n % MC_REPLIES] is next) */
	/* Set by a test: sees every datagram the replay filter let through, decoded,
	 * just before the receiving core does. */
	void (*on_deliver)(struct minicluster *mc, size_t to, int from, const Fdm__Packet *p);
	/* Set by the simulator (tests/sim): called for every storage I/O a core
	 * asks for, after its defaults are set; after every step; for every
	 * power-on a core orders of its shim. `user` is theirs. */
	void (*io_hook)(struct minicluster *mc, struct mc_io *io);
	void (*on_step)(struct minicluster *mc);
	void (*on_power_on)(struct minicluster *mc, size_t host, const char *vm);
	void (*on_log)(struct minicluster *mc, size_t host, const char *text);
	void *user;
};

/* ids: host ids; ds_counts: how many of the 3 configured datastores each host
 * reaches (the first ds_counts[i]); storage is simulated, leases included. */
struct minicluster *mc_new(const char *const *ids, const unsigned *ds_counts, size_t n,
			   uint32_t seed);
void mc_free(struct minicluster *mc);

void mc_run(struct minicluster *mc, uint64_t ms);
void mc_kill(struct minicluster *mc, size_t i);       /* the host dies: agent, shim, VMs */
void mc_agent_kill(struct minicluster *mc, size_t i); /* kill -9 of the agent: VMs run on */
/* Host i's monotonic clock now (drift_ppm from MC_EPOCH): what its core is given. */
uint64_t mc_clock(const struct minicluster *mc, size_t i);
void mc_start(struct minicluster *mc, size_t i);      /* fresh agent, new incarnation */
/* fdmctl election --force on host i; lose_messages: its step-down is not sent. */
void mc_force_election(struct minicluster *mc, size_t i, bool lose_messages);
/* Clean stop of host i (SIGTERM): it tells its peers, then it is gone. */
void mc_leave(struct minicluster *mc, size_t i);
void mc_set_datastores(struct minicluster *mc, size_t i, unsigned count);
/* SIGHUP of host i with its unchanged config. */
void mc_reload(struct minicluster *mc, size_t i);
/* Host i's [timing] (hb, io_timeout in ms): it restarts with it. */
void mc_set_timing(struct minicluster *mc, size_t i, uint32_t heartbeat_ms, uint32_t io_ms);
/* SIGSTOP / SIGCONT of host i's agent: datagrams to it queue meanwhile. */
void mc_pause(struct minicluster *mc, size_t i);
void mc_resume(struct minicluster *mc, size_t i);
/* Deliver again, now, the last datagram `from` sent to `to` (a captured packet
 * replayed by an attacker); false when there is none. */
bool mc_replay_captured(struct minicluster *mc, size_t from, size_t to);
/* When host h sent its datagram (incarnation, seq), from the minicluster's own
 * log (not the core's); false when it is not in the log. */
bool mc_sent_at(const struct minicluster *mc, size_t h, uint64_t incarnation, uint64_t seq,
		uint64_t *at);

/* VM protection on the simulated datastores: protect a VM on ds (written into
 * its VM list directly, as a master would), its entry (NULL: not listed), and
 * a host's maintenance mode there. */
void mc_protect(struct minicluster *mc, int ds, const char *name, Fdm__Priority priority,
		uint64_t memory_kib);
struct fdm_vmlist_entry *mc_vm(struct minicluster *mc, int ds, const char *name);
void mc_set_maintenance(struct minicluster *mc, int ds, size_t host, bool on);

/* The master every up host agrees on (it says master, all others slave of it), or -1. */
int mc_agreed_master(const struct minicluster *mc);
size_t mc_count_masters(const struct minicluster *mc);
int mc_index(const struct minicluster *mc, const char *id);
/* Host acting as lease owner of datastore d now, -1 none (-2: more than one). */
int mc_lease_actor(const struct minicluster *mc, int d);
/* Run until agreement or timeout; returns the master index or -1. */
int mc_run_until_agreed(struct minicluster *mc, uint64_t timeout_ms, uint64_t *took_ms);
void mc_dump(const struct minicluster *mc);

/* Internal, shared by minicluster.c and mc_storage.c. */
void mc_execute(struct minicluster *mc, size_t from);
/* The fake shims (mc_vms.c). A host's shim is off until mc_shim_on. */
void mc_shim_on(struct minicluster *mc, size_t host, uint64_t free_kib, uint64_t total_kib);
void mc_vm_start(struct minicluster *mc, size_t host, const char *name);
void mc_vm_stop(struct minicluster *mc, size_t host, const char *name, enum fdm_stop_reason why);
bool mc_vm_runs(const struct minicluster *mc, size_t host, const char *name);
/* Where it runs (-1 nowhere), and on how many up hosts. */
int mc_vm_where(const struct minicluster *mc, const char *name, int *count);
void mc_vms_power_on(struct minicluster *mc, size_t host, const struct fdm_action *a);
void mc_vms_step(struct minicluster *mc);
/* Deadlines (mc_deadlines.c): FDM_ACT_POWER_OFF, and each step the shims take
 * their agents' deadlines and power off what passed one. */
void mc_vms_power_off(struct minicluster *mc, size_t host, const struct fdm_action *a);
void mc_deadlines_step(struct minicluster *mc);
/* The agent's last hand-over at a clean stop (mc_deadlines.c): the shim then
 * holds no deadline for the VMs of datastores whose poweron records say
 * `stopped`; passed deadlines stay in force until their VMs are off. */
void mc_shim_clean_stop(struct minicluster *mc, size_t host);
/* A restarted agent takes the deadlines its shim holds (mc_start calls it). */
void mc_deadlines_inherit(struct minicluster *mc, size_t i);

void mc_storage_start(struct minicluster *mc, size_t host, const struct fdm_action *a);
void mc_storage_finish_due(struct minicluster *mc);
void mc_storage_free(struct minicluster *mc);

#endif
