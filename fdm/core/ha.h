/* VM protection in the core (DESIGN.md "Restart", safety point 2): what every
 * host knows of the protected VMs and their hosts, and the interface through which
 * the shell feeds it and carries out its decisions. Pure, like the rest of the
 * core: the shell reads records and heartbeats, the core decides; vms.c holds the
 * decisions (verdicts, the restart rule, placement, retries), this header the data.
 *
 * Where each piece of evidence comes from:
 *   protectedlist of d (VM part)   every host reads it every io: the VMs homed on
 *                                  d, their restart counts, maintenance, `stopped`
 *   host-<h>-poweron on d          h writes it every io: the VMs homed on d that h
 *                                  runs, with the generation and restart counts it
 *                                  last read there (the echo that makes it count)
 *   host-<h>-hb on d               h writes it every io; the master reads it for
 *                                  its dead verdict
 *   slave heartbeat of h           VMs h runs, free memory, VMs that stopped on h
 *                                  and why, results of power-on orders
 *   the local hostd-shim           the same for this host (vmhost.c in the shell)
 *
 * Memory: every table is fixed-size (FDM_MAX_VMS protected VMs in the cluster,
 * FDM_MAX_HOSTS hosts); the per-(VM, host) evidence is 8 bytes. */
#ifndef FDM_CORE_HA_H
#define FDM_CORE_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdm/core/placement.h"
#include "lib/config.h"
#include "proto/fdm.pb-c.h"

#define FDM_MAX_VMS        512     /* protected VMs per cluster */
#define FDM_VM_NAME_MAX    64      /* libvirt allows longer: protect refuses them */
#define FDM_UUID_MAX       37
#define FDM_HA_WHY_MAX     160
#define FDM_MAX_ORDERS     32      /* power-on orders in flight to one host */
#define FDM_MAX_LOCAL_VMS  1024    /* domains listed by the local shim */
#define FDM_MAX_STOPS      16      /* stops a host reports until they are acked */
#define FDM_FORWARD_REQUEST_MAX 1024           /* a forwarded fdmctl request, JSON */
#define FDM_VM_MEMORY_MAX_KIB   (1ull << 40)   /* 1 PiB: more is no VM's */

/* INTERFACE.md VM states. */
enum fdm_vm_state {
	FDM_VM_PROTECTED,        /* in a protectedlist, running where expected */
	FDM_VM_RESTARTING,       /* a power-on order is out */
	FDM_VM_RESTART_PENDING,  /* not running, waiting: evidence, capacity or a retry */
	FDM_VM_FAILED,           /* max_attempts power-ons failed */
	FDM_VM_ISOLATED_OFF,     /* powered off by an isolation response (HA part 2) */
	FDM_VM_STOPPED,          /* shut down by its guest or an operator: stays off */
	FDM_VM_UNPROTECTED,      /* (display only: a running domain not protected) */
	FDM_VM_STATE_COUNT
};
const char *fdm_vm_state_name(enum fdm_vm_state s);

/* Why a domain stopped, as the shim reports it (libvirt's lifecycle detail). */
enum fdm_stop_reason { FDM_STOP_CRASHED, FDM_STOP_USER, FDM_STOP_OTHER };

/* ------------------------------------------------------------- shell -> core */

/* One VM of a protectedlist as read from d (XML stays in the shell). */
struct fdm_vmlist_entry {
	char name[FDM_VM_NAME_MAX];
	char uuid[FDM_UUID_MAX];
	Fdm__Priority priority;
	uint32_t restarts;
	uint64_t memory_kib;
	bool stopped;                  /* shut down by its guest or an operator */
};

/* What one read of d's protectedlist (VM part) found. */
struct fdm_vmlist_view {
	bool empty;                    /* never written: no VM homed on d */
	uint64_t generation;           /* lease generation it was written under */
	size_t n;
	const struct fdm_vmlist_entry *vms;
	uint64_t maintenance_mask;     /* peer indices in maintenance */
};

/* One host's poweron record on d, as the master read it. */
struct fdm_poweron_view {
	bool empty;                    /* never written */
	uint64_t generation_seen;      /* lease generation it echoes */
	bool stopped;                  /* its agent stopped cleanly */
	bool isolated;                 /* it declared itself isolated (DESIGN.md point 4) */
	size_t n_runs;
	const char (*runs)[FDM_VM_NAME_MAX];     /* VMs homed on d it runs */
	size_t n_isolated_off;
	const char (*isolated_off)[FDM_VM_NAME_MAX];  /* ... it powered off, isolated */
	size_t n_seen;
	const char (*seen_names)[FDM_VM_NAME_MAX];  /* restart counts it echoes */
	const uint32_t *seen_restarts;
};

/* One host's hb record on d as the master read it: content changes with every
 * write (fingerprint); `issued_ms`: when the read was asked for. */
struct fdm_hb_view {
	bool ok;                       /* the read answered (empty counts as content) */
	uint32_t fingerprint;
};

/* A VM that stopped on a host, reported once (seq rises per host). */
struct fdm_vm_stop {
	char name[FDM_VM_NAME_MAX];
	enum fdm_stop_reason reason;
	uint64_t seq;
};

/* A stop of a VM this host did not know as protected (yet), kept for host_dead:
 * a VM protected and stopped at once stops before its host reads the
 * protectedlist that names it, and its reason must still reach the master. */
struct fdm_early_stop {
	char name[FDM_VM_NAME_MAX];
	enum fdm_stop_reason reason;
	uint64_t at_ms;
};

/* The result of a power-on order, keyed by (name, restarts). */
struct fdm_order_result {
	char name[FDM_VM_NAME_MAX];
	uint32_t restarts;
	bool ok;
	char message[FDM_HA_WHY_MAX];
};

/* A power-on order of the master: power `name` of datastore `ds` on, the restart
 * count it was written under being `restarts`. Idempotent: a host carries out a
 * given (name, restarts) once, and reports the result until it is acked. */
struct fdm_order {
	char name[FDM_VM_NAME_MAX];
	int ds;
	uint32_t restarts;
	uint64_t issued_ms;            /* when it went out (master) or came in (host) */
	bool done;                     /* host side: the power-on ended */
	bool maybe_started;            /* ... well, or with no clear answer (a timeout):
					* reported as running until a later listing */
	uint64_t done_ms;
};

/* What a slave heartbeat reports (decoded by membership.c from SlaveHeartbeat). */
struct fdm_slave_report {
	uint64_t free_kib, total_kib;
	/* runs is a complete listing from its shim; false: what runs there is
	 * unknown, and "not in runs" must not be taken as "not running". */
	bool listed;
	size_t n_runs;
	const char (*runs)[FDM_VM_NAME_MAX];
	size_t n_stops;
	const struct fdm_vm_stop *stops;
	size_t n_results;
	const struct fdm_order_result *results;
};

/* This host, from its shim (vmhost.c): domains running, memory, when listed. */
struct fdm_local_view {
	bool connected;
	uint64_t listed_ms;            /* the listing was taken at (core clock) */
	uint64_t free_kib, total_kib;
	size_t n_runs;
	const char (*runs)[FDM_VM_NAME_MAX];
};

/* An operator's request (fdmctl protect, unprotect, maintenance), from our
 * control socket or forwarded by a slave; the master carries it out (protect.c). */
enum fdm_ha_op { FDM_HA_PROTECT, FDM_HA_UNPROTECT, FDM_HA_MAINT_ENTER, FDM_HA_MAINT_EXIT };

struct fdm_ha_request {
	uint64_t id;                   /* the shell's: it matches the reply */
	int origin;                    /* -1: our control socket; else the peer that forwarded it */
	enum fdm_ha_op op;
	char name[FDM_VM_NAME_MAX];    /* the VM, or the host for maintenance */
	int priority;                  /* Fdm__Priority, -1: keep / medium */
	int ds;                        /* home datastore, -1: from its first disk */
};

/* What the host that runs a VM says of it (the XML stays in that host's shell,
 * or in the master's once it received it: fdm_datastores_stage_vm). */
struct fdm_vm_define {
	bool found;                    /* it runs there and its definition was read */
	bool runs;                     /* not found, yet it runs there: message says why */
	char uuid[FDM_UUID_MAX];
	uint64_t memory_kib;
	uint32_t vcpus;
	int disk_ds;                   /* datastore holding its first disk, -1 none */
	char message[FDM_HA_WHY_MAX];  /* not found: why */
};

#define FDM_HA_REQUESTS 8

/* A request in progress on the master. */
struct fdm_ha_pending {
	bool used;
	struct fdm_ha_request req;
	uint64_t started_ms;
	uint64_t asked_mask;           /* hosts asked for the definition, not answered */
	uint64_t asked_all;            /* ... and those that answered (the error names them) */
	int host;                      /* where the VM runs (protect), -1 not yet */
	bool finding;                  /* protect: asking hosts where the VM runs */
	struct fdm_vm_define def;
	uint32_t writes;               /* datastores whose list write must complete */
};

/* ---------------------------------------------------------- the core's tables */

/* What the master knows of VM v on host h. */
struct fdm_vm_evidence {
	uint32_t poweron_restarts;     /* restart count h's poweron record echoes */
	bool poweron;                  /* ... v was listed in it with a count */
	bool poweron_runs;
	bool poweron_isolated_off;     /* ... listed as powered off by its isolation response */
	bool net_runs;                 /* h's latest heartbeat lists v running */
	bool net_known;                /* ... a heartbeat of h was read for v at all
					* (not before v entered the table) */
	bool stop_runs;                /* the poweron record h wrote at its clean stop
					* lists v (kept until one of a returned agent
					* that has read the protectedlist) */
};

struct fdm_vm {
	bool used;
	char name[FDM_VM_NAME_MAX];
	char uuid[FDM_UUID_MAX];
	int ds;                        /* home datastore (config index) */
	Fdm__Priority priority;
	uint64_t memory_kib;
	uint32_t restarts;             /* in the protectedlist */
	bool stopped;                  /* in the protectedlist */
	uint64_t stopped_at_ms;        /* master: when it learnt of the stop */

	enum fdm_vm_state state;
	int host;                      /* where it runs (peer index), -1 none known */
	uint32_t attempts;             /* power-ons tried since it went down */
	uint64_t first_attempt_ms;
	uint64_t next_attempt_ms;
	uint64_t last_restart_ms;      /* our last order (master clock), 0 none */
	int order_host;                /* where the order goes or went, -1 none */
	uint32_t order_restarts;       /* ... under this restart count */
	uint64_t order_edit;           /* ... bumped by this edit of its ds (fdm_ha_ds) */
	bool order_sent;               /* ... sent (after the count was written) */
	uint64_t order_issued_ms;
	int avoid_host;                /* where the last attempt failed, -1 */
	int crashed_host;              /* where it was reported crashed, -1 */
	uint64_t missing_since_ms;     /* gone from a host that is up, no reason yet */
	char waiting[FDM_HA_WHY_MAX];  /* what holds it back now (fdmctl vms) */
	char last_failure[FDM_HA_WHY_MAX];
	/* Master: a current poweron record said an isolation response powered it
	 * off; shown isolated-off until it runs again (isolated_hosts.c). */
	bool isolated_off;

	struct fdm_vm_evidence ev[FDM_MAX_HOSTS];
};

/* What the master knows of a host for VM protection. */
struct fdm_ha_host {
	uint64_t free_kib, total_kib;
	bool maintenance;
	/* Its latest slave heartbeat: the send time (our clock) of the master
	 * heartbeat it echoed; 0: none since we became master. */
	uint64_t net_echo_sent_ms;
	uint64_t last_stop_seq;        /* stops already taken into account */
	struct fdm_order orders[FDM_MAX_ORDERS];   /* out to it, not yet answered */
	size_t n_orders;
	/* Per datastore: its hb record as our reads saw it (verdict.c inputs). */
	struct {
		bool seen;
		bool changed;              /* seen to change since our first read */
		uint32_t fingerprint;
		uint64_t unchanged_since_ms;
		uint64_t last_read_issued_ms;
		bool poweron_seen;
		uint64_t poweron_generation;
		bool poweron_stopped;      /* its agent stopped cleanly */
		bool poweron_isolated;     /* it declared itself isolated */
		bool dead;                 /* our last verdict: dead for this datastore */
	} ds[FDM_MAX_DATASTORES];
};

/* Per datastore: the protectedlist as last read, and the master's pending edits. */
struct fdm_ha_ds {
	bool listed;                   /* a good read of the VM list happened */
	uint64_t generation;
	uint64_t lease_acquired_ms;    /* master: when we acquired d's lease, 0 not held */
	bool listed_under_lease;       /* master: read once since the acquisition */
	bool write_pending;            /* the VM list must be written */
	bool writing;
	uint64_t proof_asked_ms;       /* master: the last proof read's mark, asked once */
	/* Edits made to the table (restart counts bumped), and how many of them
	 * the write in flight carries: an order waits for a write that carries
	 * its count, not for any write that ends after the bump. */
	uint64_t edits, writing_edits;
};

/* The master's working space for one round of decisions (failover.c). */
struct fdm_ha_scratch {
	size_t wanted[FDM_MAX_VMS];
	struct fdm_place_vm place[FDM_MAX_VMS];
	struct fdm_place_result result[FDM_MAX_VMS];
	char dead_why[FDM_MAX_HOSTS][FDM_HA_WHY_MAX];
};

struct fdm_ha {
	/* [restart] settings (fdm_ha_configure). */
	uint32_t max_attempts;
	uint32_t retry_first_gap_ms;
	uint32_t host_failures_tolerated;
	uint32_t max_inflight;
	bool was_master;

	struct fdm_vm vms[FDM_MAX_VMS];
	size_t n_vms;                  /* slots in use are below this */
	struct fdm_ha_host hosts[FDM_MAX_HOSTS];
	struct fdm_ha_ds ds[FDM_MAX_DATASTORES];
	/* This host as a slave: orders received, and their results to report. */
	struct fdm_order my_orders[FDM_MAX_ORDERS];
	size_t n_my_orders;
	struct fdm_order_result results[FDM_MAX_ORDERS];
	size_t n_results;
	struct fdm_vm_stop stops[FDM_MAX_STOPS];  /* recent stops here, reported in heartbeats */
	size_t n_stops;
	uint64_t next_stop_seq;
	struct fdm_early_stop early_stops[FDM_MAX_STOPS];  /* of VMs not (yet) known here */
	size_t n_early_stops;
	/* This host, from its shim. */
	bool local_connected;
	uint64_t local_listed_ms;
	uint64_t local_free_kib, local_total_kib;
	size_t n_local;
	char local_runs[FDM_MAX_LOCAL_VMS][FDM_VM_NAME_MAX];
	/* What our reports say runs here: the listing, and every power-on under way
	 * or ended since the last listing (vms.c). */
	char report_runs[FDM_MAX_LOCAL_VMS][FDM_VM_NAME_MAX];
	size_t n_report_runs;
	/* Items of heartbeats left out as malformed (vmreport.c): names of
	 * FDM_VM_NAME_MAX bytes or more, counts over the bounds above. Logged once a
	 * minute. An order for a datastore we do not have is left out too, and
	 * logged once per name in a row. */
	uint64_t rx_malformed;
	uint64_t rx_malformed_logged_ms;
	char unknown_ds_logged[FDM_ID_MAX];
	struct fdm_ha_pending requests[FDM_HA_REQUESTS];
	struct fdm_ha_scratch scratch;
};

/* ====================================================== the interface (vms.c) */
struct fdm_core;
struct fdm_actions;

void fdm_ha_init(struct fdm_core *c);
/* [restart] settings, at start and on every reload. */
void fdm_ha_configure(struct fdm_core *c, const struct fdm_config *cfg);
/* A reload that may have moved peers and datastores: forget what is indexed by
 * them (it is all read again within an io); keep the power-ons under way here. */
void fdm_ha_reset(struct fdm_core *c);

/* ---- storage (storage.c schedules the I/O, datastores.c performs it) */

/* Every host reads d's protectedlist (VM part) every io, and writes its poweron
 * record there: the content is asked for when the write is submitted. */
void fdm_ha_on_vmlist(struct fdm_core *c, int ds, const struct fdm_vmlist_view *v,
		      uint64_t now, struct fdm_actions *out);

/* The poweron record this host writes on d now. names/restarts point into the
 * core; valid until the next call into the core. */
struct fdm_poweron_out {
	uint64_t generation_seen;
	size_t n_runs;
	const char (*runs)[FDM_VM_NAME_MAX];
	size_t n_seen;
	const char *seen_names[FDM_MAX_VMS];
	uint32_t seen_restarts[FDM_MAX_VMS];
	bool stopped;                  /* clean stop */
	bool isolated;                 /* isolated now (isolation_response.c) */
	size_t n_isolated_off;
	const char *isolated_off[FDM_MAX_VMS];   /* VMs homed on d it powered off, isolated */
	char runs_buf[FDM_MAX_VMS][FDM_VM_NAME_MAX];
};
void fdm_ha_poweron_of(const struct fdm_core *c, int ds, struct fdm_poweron_out *out);

/* Master: every io, the hb and poweron records of every other host on d. */
struct fdm_host_records {
	int peer;                      /* config index */
	struct fdm_hb_view hb;
	struct fdm_poweron_view poweron;
	bool poweron_ok;               /* the poweron read answered (else ignored) */
};
void fdm_ha_on_host_records(struct fdm_core *c, int ds, const struct fdm_host_records *r,
			    size_t n, uint64_t issued, uint64_t now, struct fdm_actions *out);
/* Master: the earliest time after `after` at which a read of d's host records
 * can complete a host's dead verdict (verdict.h, fdm_verdict_proof_read_at);
 * UINT64_MAX: none. storage_ha.c issues that read then. */
uint64_t fdm_ha_proof_read_at(const struct fdm_core *c, int ds, uint64_t after);
/* Master: why host h (not heard) is or is not dead yet, per datastore whose lease
 * we hold ("host-2 not dead for ds1 yet: hb changed 3.2 s ago; ..."), for
 * `fdmctl hosts`; false (buf "") for a connected host or when we hold none. */
bool fdm_ha_verdict_reason(const struct fdm_core *c, size_t h, uint64_t now, char *buf,
			   size_t len);

/* Master: the protectedlist of d as it must be written now (the shell keeps
 * each VM's XML, uuid, memory and vcpus from the last read or from a protect
 * in progress, and writes the list under our lease generation). */
struct fdm_vmlist_desired {
	uint64_t generation;
	size_t n;
	struct fdm_vmlist_entry vms[FDM_MAX_VMS];
	uint64_t maintenance_mask;
};
void fdm_ha_vmlist_desired(const struct fdm_core *c, int ds, struct fdm_vmlist_desired *out);
void fdm_ha_on_vmlist_written(struct fdm_core *c, int ds, bool ok, uint64_t now,
			      struct fdm_actions *out);
/* Master: d's lease is no longer ours. Restarts decided under it whose order
 * has not gone out are dropped (decided afresh under the next lease, on the
 * table read under it), and the table must be read again before any decision. */
void fdm_ha_on_lease_lost(struct fdm_core *c, int ds);

/* ---- network (membership.c decodes, outbox.c encodes) */

/* A slave heartbeat of peer `from` that named us as its master; echo_sent_ms:
 * our send time of the master heartbeat it echoes (0: none or unknown). */
void fdm_ha_on_slave_report(struct fdm_core *c, int from, const struct fdm_slave_report *r,
			    uint64_t echo_sent_ms, uint64_t now, struct fdm_actions *out);
/* A master heartbeat from our master: its orders for us (all of them, every
 * heartbeat: an order absent now is done or withdrawn) and the highest stop seq
 * it has taken into account. */
void fdm_ha_on_orders(struct fdm_core *c, const struct fdm_order *o, size_t n,
		      uint64_t stop_ack, uint64_t now, struct fdm_actions *out);
/* What our slave heartbeat says (outbox.c). */
void fdm_ha_slave_report_of(const struct fdm_core *c, struct fdm_slave_report *out);
/* The orders for peer `to` in our master heartbeat. */
size_t fdm_ha_orders_for(const struct fdm_core *c, int to, const struct fdm_order **out);

/* ---- the local host (agent.c, from vmhost.c) */
void fdm_ha_on_local(struct fdm_core *c, const struct fdm_local_view *v, uint64_t now,
		     struct fdm_actions *out);
void fdm_ha_on_local_stop(struct fdm_core *c, const char *name, enum fdm_stop_reason why,
			  uint64_t now, struct fdm_actions *out);
/* A power-on the core asked for (FDM_ACT_POWER_ON) ended. */
/* maybe_started: false only when libvirt clearly refused (the domain did not
 * start); a timeout or a lost shim may have started it. */
void fdm_ha_on_power_on_done(struct fdm_core *c, const char *name, uint32_t restarts,
			     bool ok, bool maybe_started, const char *message, uint64_t now,
			     struct fdm_actions *out);

/* ---- operators' requests (protect.c) */

/* Start a request. A slave forwards it to its master (FDM_ACT_FORWARD), a host
 * with no master refuses it; the master answers with FDM_ACT_CONTROL_REPLY, at
 * once or when its protectedlist write is durable. */
void fdm_ha_request(struct fdm_core *c, const struct fdm_ha_request *r, uint64_t now,
		    struct fdm_actions *out);
/* The answer of host `from` to FDM_ACT_VM_DEFINE for request `id`. */
void fdm_ha_on_define(struct fdm_core *c, uint64_t id, int from, const struct fdm_vm_define *d,
		      uint64_t now, struct fdm_actions *out);
/* Master: does request `id` wait for host `from`'s definition of `vm`? */
bool fdm_ha_define_awaited(const struct fdm_core *c, uint64_t id, int from, const char *vm);

/* ---- operators' requests between hosts (forward.c; the shell's ha_net.c) */

/* A DefineReply as fdm_ha_on_define takes it: the datastore of its first disk
 * by our config index (-1 none or unknown). false: malformed (*why says how),
 * and d is "not found" with that reason, so the request still ends. */
bool fdm_ha_define_decode(const struct fdm_core *c, const Fdm__DefineReply *r,
			  struct fdm_vm_define *d, const char **why);

/* Time and list writes move requests on (called from fdm_ha_tick and the write). */
void fdm_protect_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);
/* Admission control: do the protected VMs and more_kib more still fit after
 * host_failures_tolerated of the largest hosts fail? spare (may be negative)
 * and need in KiB; why gets the numbers. */
bool fdm_ha_admitted(const struct fdm_core *c, uint64_t more_kib, int64_t *spare_kib,
		     uint64_t *need_kib, char *why, size_t len);
void fdm_protect_on_written(struct fdm_core *c, int ds, bool ok, uint64_t now,
			    struct fdm_actions *out);

/* ---- time */
void fdm_ha_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);

/* ---- shared by vms.c, failover.c, evidence.c and orders.c */
struct fdm_vm *fdm_ha_find(struct fdm_core *c, const char *name);
struct fdm_vm *fdm_ha_add_vm(struct fdm_core *c, const char *name, int ds);
void fdm_ha_remove_vm(struct fdm_core *c, struct fdm_vm *v);
/* Withdraw the order for VM name sent to host h (orders.c). */
void fdm_ha_drop_order(struct fdm_core *c, int h, const char *name);
/* Runs here, or a power-on of it here is under way or not yet seen in a listing. */
bool fdm_ha_runs_here(const struct fdm_core *c, const char *name);
/* Our reports say it runs here (report_runs): what deadlines and the watchdog cover. */
bool fdm_ha_reported_here(const struct fdm_core *c, const char *name);
/* Carry out a power-on order (ours as master, or our master's) once. */
void fdm_ha_take_order(struct fdm_core *c, const struct fdm_order *o, uint64_t now,
		       struct fdm_actions *out);

/* failover.c: the master's decisions. */
void fdm_failover_on_result(struct fdm_core *c, int host, const char *name, uint32_t restarts,
			    bool ok, const char *message, uint64_t now, struct fdm_actions *out);
/* A protected VM stopped on host h, with its reason (a slave's report, or our own
 * shim's when we are the master). */
void fdm_failover_on_stop(struct fdm_core *c, int h, const char *name,
			  enum fdm_stop_reason reason, uint64_t now, struct fdm_actions *out);
void fdm_failover_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);

/* isolated_hosts.c: VMs an isolation response powered off, on the master. */
struct fdm_runs_report;
/* Host h's report r on v: a current record that lists v isolated-off marks it. */
void fdm_isolated_off_note(const struct fdm_core *c, struct fdm_vm *v,
			   const struct fdm_runs_report *r);
/* Shown isolated-off (instead of restart-pending or restarting) until it runs. */
void fdm_isolated_off_show(struct fdm_vm *v);

#endif
