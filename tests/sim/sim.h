/* fdm-sim: the deterministic simulator of the real fdm/core (tests/sim/README.md).
 * One run = one seed and one mode: a fault schedule drawn from the seed
 * (sched.c), played against N real cores on the minicluster of tests/unit
 * (fake clocks, network, datastores, shims), with the invariants of check.c
 * checked after every 10 ms step. All randomness comes from the seed. */
#ifndef FDM_SIM_H
#define FDM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/unit/minicluster.h"

/* ------------------------------------------------------------------ rng.c */
/* splitmix64: small, good enough for a test tool, one stream per use. */
struct sim_rng {
	uint64_t s;
};
uint64_t sim_rand(struct sim_rng *r);
/* Uniform in [lo, hi] (inclusive). */
uint64_t sim_between(struct sim_rng *r, uint64_t lo, uint64_t hi);
/* True with probability pct / 100. */
bool sim_chance(struct sim_rng *r, unsigned pct);

/* ----------------------------------------------------------------- sched.c */
enum sim_mode { MODE_CHAOS, MODE_STORMY, MODE_LOSSY, MODE_BLIP, MODE_CRASH, MODE_RACE,
		MODE_HANDOVER, MODE_FENCING, MODE_LATEIO, MODE_MDS, MODE_STALE, MODE_NETOUT,
		MODE_ISOMASTER, MODE_ISOSLAVE, MODE_CUTKILL,
		MODE_COUNT };

enum sim_ev_kind {
	EV_CRASH,          /* host a dies: agent, shim, VMs */
	EV_BOOT,           /* host a comes back (no VMs), fresh agent */
	EV_AGENT_KILL,     /* kill -9 of host a's agent: VMs keep running */
	EV_AGENT_START,    /* systemd starts it again */
	EV_PAUSE,          /* SIGSTOP of host a's agent */
	EV_RESUME,
	EV_PARTITION,      /* arg: group of each host, 4 bits per host */
	EV_CUT_ONEWAY,     /* a -> b dropped */
	EV_LINK_DOWN,      /* host a's network: nothing in or out */
	EV_LINK_UP,
	EV_NET_WHOLE,      /* every partition and cut healed */
	EV_DS_LOSE,        /* host a loses datastore b (I/O fails fast) */
	EV_DS_RESTORE,
	EV_DS_STALL,       /* datastore b hangs for arg ms for host a (-1: every host) */
	EV_SHIM_FAIL,      /* host a's shim refuses power-ons (arg 1) or not (arg 0) */
	EV_VM_CRASH,       /* VM b crashes wherever it runs (its agent sees it if up) */
	EV_STOP,           /* SIGTERM of host a's agent: a clean stop (EV_AGENT_START ends it) */
	EV_SHIM_OFF_FAIL,  /* host a's shim fails power-offs (arg 1) or not (arg 0) */
	EV_KIND_COUNT
};

/* A host a < 0 is resolved when the event is applied (faults.c): */
#define SIM_MASTER  -1     /* the master then (EV_CRASH, EV_LINK_DOWN, EV_PAUSE, EV_DS_LOSE) */
#define SIM_SLAVE   -2     /* a host that is no master then (EV_PAUSE) */
#define SIM_SAME    -3     /* the host the last SIM_MASTER / SIM_SLAVE named */
#define SIM_EVERY   -4     /* every host (EV_LINK_DOWN, EV_LINK_UP) */
/* EV_DS_LOSE b < 0: a datastore where the named host runs a VM; arg 1: read-only
 * (its writes fail, its reads work), 0: lost. */

struct sim_event {
	uint64_t at;       /* ms after the faults begin */
	enum sim_ev_kind kind;
	int a, b;
	uint64_t arg;
};

#define SIM_MAX_EVENTS 256

/* Network and storage weather for the whole schedule (drawn from the seed). */
struct sim_weather {
	unsigned loss_pct, dup_pct, delay_max_ms;
	unsigned io_fail_pct;      /* an I/O fails (a write may land or not) */
	unsigned io_slow_pct;      /* an I/O takes longer than io_timeout */
	unsigned torn_pct;         /* a lease write lands torn */
	uint64_t storage_ms_max;   /* usual latency, up to */
	int64_t drift_ppm_max;     /* each host's clock runs up to this fast or slow */
};

struct sim_schedule {
	enum sim_mode mode;
	uint64_t seed;
	size_t n_hosts, n_vms;
	uint64_t fault_ms;         /* faults happen in [0, fault_ms); heal at fault_ms */
	bool heal_all;             /* at fault_ms: every host back, network, storage whole */
	/* Every host's [isolation] response (DESIGN.md point 4; none unless the
	 * mode draws one), its shutdown_timeout_s, and whether the guests ignore
	 * a guest shutdown (then only the power-off at the timeout stops them). */
	enum fdm_isolation_response iso_response;
	unsigned shutdown_timeout_s;
	bool guests_ignore_shutdown;
	bool no_watchdog;          /* hosts without /dev/watchdog: the shim alone */
	struct sim_weather w;
	int64_t drift_ppm[MC_MAX_HOSTS];
	struct sim_event ev[SIM_MAX_EVENTS];
	size_t n_ev;
	bool on[SIM_MAX_EVENTS];   /* the shrinker drops events by clearing these */
};

const char *sim_mode_name(enum sim_mode m);
int sim_mode_parse(const char *name);
/* Add an event (dropped past the fault phase or when the schedule is full). */
void sim_schedule_add(struct sim_schedule *s, uint64_t at, enum sim_ev_kind kind, int a, int b,
		      uint64_t arg);
/* sched_storage.c: the storage-faults modes (issues 17/18), scripted. */
void sim_sched_mds(struct sim_schedule *s, struct sim_rng *rng);
void sim_sched_stale(struct sim_schedule *s, struct sim_rng *rng);
void sim_sched_netout(struct sim_schedule *s, struct sim_rng *rng);
void sim_sched_isomaster(struct sim_schedule *s, struct sim_rng *rng);
/* sched_iso.c: the isolation response and a dead agent's shim (issue 19). */
void sim_sched_iso_response(struct sim_schedule *s, struct sim_rng *rng);
void sim_sched_isoslave(struct sim_schedule *s, struct sim_rng *rng);
void sim_sched_cutkill(struct sim_schedule *s, struct sim_rng *rng);
/* A power-off failure of host h's shim, from `at` for 1-20 s. */
void sim_sched_off_fails(struct sim_schedule *s, struct sim_rng *rng, uint64_t at, int h);
/* Draw the schedule of (mode, seed) for this timing. */
void sim_schedule_draw(struct sim_schedule *s, enum sim_mode mode, uint64_t seed,
		       size_t n_hosts, size_t n_vms, const struct fdm_timing *t);

/* ----------------------------------------------------------------- trace.c */
const char *sim_ev_name(enum sim_ev_kind k);
void sim_ev_print(const struct sim_schedule *s, const struct sim_event *e, char *buf,
		  size_t len);

/* ------------------------------------------------------------------ run.c */
#define SIM_WARMUP_MS 30000   /* the cluster settles before the first fault */
#define SIM_SETTLE_MS 10000   /* after liveness is met, safety is still checked */
#define SIM_VIOLATION_MAX 512

/* Mode lateio (plot.c): the lease I/O of the cut-off master M and of the new
 * master M2 on one datastore, scripted step by step as the cores issue it. */
enum sim_plot_stage {
	PLOT_WAIT,       /* until M holds the lease and M2 contends for it */
	PLOT_FAIL,       /* M's lease I/O fails fast: its record stops changing */
	PLOT_W1,         /* M's next lease write: hung until M2 writes its claim */
	PLOT_W1_HUNG,
	PLOT_R2,         /* M's next lease read: served at once, answered in time */
	PLOT_W2,         /* M's next lease write: hung until M2's confirming re-read */
	PLOT_W2_HUNG,
	PLOT_DONE,
};

struct sim_plot {
	enum sim_plot_stage stage;
	int m, m2, ds;
	uint64_t start_at;           /* real time from which the plot may begin */
	uint64_t t_prev;             /* M's last good renewal (issue) */
	uint64_t w_issued;           /* the hung write of M (W1, then W2) */
	uint64_t slow_read_ms;       /* M's in-time read before W1: this slow */
	uint64_t r2_ms;              /* R2: answered this long after its issue */
};

enum sim_violation {
	VIO_NONE, VIO_DOUBLE_RUN, VIO_TWO_ACTORS, VIO_RESTART_WHILE_RUNS, VIO_NEEDLESS_RESTART,
	VIO_NOT_RUNNING, VIO_NO_MASTER,
	VIO_NEEDLESS_POWER_OFF,    /* blip, mds, netout: a VM powered off (check_deadlines.c) */
	VIO_NO_HANDOVER,           /* mds: no other master holds the lost datastore in time */
	VIO_ISOLATED_ACTOR,        /* netout: a lease acted on past isolation_delay */
	VIO_STOPPED_POWER_OFF,     /* a cleanly stopped host's VM powered off */
	VIO_NOT_SHOWN_ISOLATED,    /* isoslave: the master never showed the cut slave isolated */
	VIO_NOT_RESTARTED,         /* isoslave: its response took VMs no master restarted */
	VIO_PAST_HANDED_DEADLINE,  /* cutkill: a VM ran past the deadline its old agent handed */
};

/* The scripted storage faults of a run: who and what (check_storage.c). */
struct sim_storage {
	int host;                       /* SIM_MASTER / SIM_SLAVE resolved (-1: none yet) */
	int ds;                         /* mds: the datastore the master lost */
	uint64_t lost_at;               /* mds: when (real time), 0: not yet */
	bool handed;                    /* mds: another master acted on it since */
	uint64_t handed_after;          /* mds: how long that took */
	uint64_t out_at;                /* netout: the outage began (real time), 0: none */
	bool stopped[MC_MAX_HOSTS];     /* clean stop: since EV_STOP, until EV_AGENT_START */
	uint64_t off_ok[MC_MAX_HOSTS];  /* VMs (bits) whose deadline its shim kept at its exit */
	bool leaving[MC_MAX_HOSTS];     /* its agent releases its leases before it exits */
	uint64_t leave_until[MC_MAX_HOSTS];
	/* isoslave: the cut slave (st.host), since when (real time), and when a
	 * master first showed it isolated (0: not yet). */
	uint64_t cut_at;
	uint64_t shown_isolated_at;
	uint64_t iso_vms;               /* VMs (bits) it ran at the cut */
	/* cutkill: the deadlines (its clock, by VM; 0: none) its shim held when
	 * the cut host's agent was killed or paused, i.e. its old agent's last. */
	bool kill_seen;
	uint64_t handed_at[MC_MAX_VMS];
};

struct sim_vm {
	char name[FDM_VM_NAME_MAX];
	int ds;
	Fdm__Priority priority;
	uint64_t memory_kib;
};

struct sim_run {
	const struct sim_schedule *sched;
	struct minicluster *mc;
	struct sim_rng io_rng;          /* storage weather at run time */
	bool trace;                     /* print events and core log lines */
	uint64_t t0;                    /* real time the faults begin */
	size_t next_ev;
	struct sim_vm vms[MC_MAX_VMS];
	/* Storage faults now: per host and datastore, hung until. */
	uint64_t stall_until[MC_MAX_HOSTS][3];
	bool crashed[MC_MAX_HOSTS];     /* the whole host is down */
	bool healed;                    /* the fault phase is over */
	int applied_host;               /* of the last event applied (for EV_CRASH -1) */
	bool power_on_failed;           /* some power-on was refused: retries count */
	/* Outcome. */
	enum sim_violation vio;
	uint64_t vio_at;                /* real time */
	char vio_text[SIM_VIOLATION_MAX];
	uint64_t steps;
	uint64_t liveness_took;         /* ms from heal to every VM running */
	struct sim_plot plot;           /* mode lateio's scripted storage (plot.c) */
	struct sim_storage st;          /* modes mds, stale, netout; clean stops */
};

/* Play schedule s (its events that are `on`); true when no invariant broke. */
bool sim_run_schedule(const struct sim_schedule *s, bool trace, struct sim_run *out);
const char *sim_violation_name(enum sim_violation v);
/* The liveness bound after heal (ms), see check.c. */
uint64_t sim_liveness_bound(const struct sim_run *r);

/* ------------------------------------------------------------------ faults.c */
void sim_apply(struct sim_run *r, const struct sim_event *e);
void sim_heal(struct sim_run *r);
void sim_io_hook(struct minicluster *mc, struct mc_io *io);

/* ------------------------------------------------------------------ plot.c */
void sim_plot_init(struct sim_run *r);
/* Mode lateio: true when the plot decided this I/O's fate. */
bool sim_plot_io(struct sim_run *r, struct mc_io *io);

/* ------------------------------------------------------------------ check.c */
void sim_check_step(struct minicluster *mc);
void sim_check_power_on(struct minicluster *mc, size_t host, const char *vm);
/* check_deadlines.c: a power-off at a deadline (by the agent or its shim); in
 * mode blip (storage out, every host up, network whole) none may happen. */
void sim_check_power_off(struct minicluster *mc, size_t host, const char *vm, bool by_shim);
/* check_storage.c: mds's hand-over bound and netout's idle leases, each step. */
void sim_check_storage_step(struct sim_run *r);
/* A clean stop's agent exited: the deadlines its shim still enforces. */
void sim_check_stop_exit(struct sim_run *r, size_t host);
/* Power-ons and power-offs the storage-faults modes and clean stops forbid. */
void sim_check_storage_power_on(struct sim_run *r, size_t host, const char *vm);
void sim_check_storage_power_off(struct sim_run *r, size_t host, const char *vm);
/* check_iso.c: isoslave's verdict and response, cutkill's handed deadlines,
 * each step and at the heal. */
void sim_check_iso_step(struct sim_run *r);
void sim_check_iso_heal(struct sim_run *r);
void sim_check_iso_power(struct sim_run *r, size_t host, const char *vm, bool on);
/* The bound on mds's hand-over (ms after the master lost the datastore). */
uint64_t sim_handover_bound(const struct fdm_timing *t);
/* faults.c: clean stops that finished releasing (after every step). */
void sim_faults_step(struct sim_run *r);
/* After heal: true when every VM runs on exactly one host and one master is agreed. */
bool sim_live(struct sim_run *r, char *why, size_t len);
void sim_violate(struct sim_run *r, enum sim_violation v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
