/* The agent's decision state and the events that change it. Pure: the shell
 * (fdm/agent.c) feeds it decoded packets, its own datastore count and the time,
 * and carries out the actions it returns. election.c decides roles and terms;
 * membership.c keeps the table of hosts and the heartbeat echoes.
 *
 * Invariants:
 *  - role MASTER <=> master == self_index; role SLAVE => master >= 0, != self.
 *  - term never decreases.
 *  - every datagram we send carries (incarnation, seq) with seq strictly rising;
 *    sent[] remembers the send time of the last FDM_SENT_RING of them, so an
 *    echoed seq names one send time (DESIGN.md "Heartbeats").
 *  - a peer's packets reach the election and the host table only when its timing
 *    equals ours (DESIGN.md safety point 1) and its incarnation has acked one of
 *    our datagrams (a captured old packet proves nothing; see membership.c).
 *  - a master echoes to a peer only a slave heartbeat that named it as master,
 *    the one its "heard" rule counted. */
#ifndef FDM_CORE_CORE_H
#define FDM_CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdm/core/ha.h"
#include "fdm/core/lease.h"
#include "fdm/core/vmview.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/timing.h"
#include "proto/fdm.pb-c.h"

enum fdm_role { FDM_ROLE_ELECTION, FDM_ROLE_MASTER, FDM_ROLE_SLAVE };

enum fdm_host_state {
	FDM_HS_UNINITIALIZED, FDM_HS_MASTER, FDM_HS_CONNECTED, FDM_HS_ELECTION,
	FDM_HS_UNREACHABLE, FDM_HS_ISOLATED, FDM_HS_PARTITIONED, FDM_HS_DEAD,
	FDM_HS_STOPPED, FDM_HS_MAINTENANCE, FDM_HS_INIT_ERROR, FDM_HS_COUNT
};

const char *fdm_role_name(enum fdm_role r);
const char *fdm_host_state_name(enum fdm_host_state s);
/* Parse a state name (from a master's HostReport); -1 if unknown. */
int fdm_host_state_parse(const char *name);

/* The election rule: most reachable datastores, then the host id greatest as a
 * string (strcmp, so "host-9" > "host-10"). > 0 when a outranks b. */
int fdm_rank_cmp(uint32_t ds_a, const char *id_a, uint32_t ds_b, const char *id_b);

#define FDM_SENT_RING 512

struct fdm_sent {
	uint64_t seq;
	uint64_t at_ms;
};

/* What this host knows of one configured host (index = [peers] order). */
struct fdm_peer_state {
	char id[FDM_ID_MAX];
	bool self;
	enum fdm_host_state state;
	bool ever_heard;
	uint64_t last_heard_ms;      /* any authenticated packet */
	uint64_t last_slave_hb_ms;   /* a slave heartbeat naming us as master */
	uint64_t last_bid_ms;
	uint64_t last_master_hb_ms;  /* it claimed to be a master */
	bool stopped;                /* it said Leaving and has been silent since */
	uint64_t returned_ms;        /* the first packet after its Leaving: its agent is back */
	bool ever_slave;             /* it heartbeated as our slave in this mastership */
	char follows[FDM_ID_MAX];    /* master named in its last slave heartbeat; "" once it
				      * bids or claims to be a master itself */
	/* Its [timing] differs from ours: its packets are dropped and it shows
	 * init-error while they keep coming (DESIGN.md safety point 1). */
	bool timing_mismatch;
	bool timing_known;           /* its packets carry their timing */
	uint32_t their_heartbeat_ms, their_io_timeout_ms;
	uint64_t mismatch_at_ms;     /* its last packet with another timing */
	uint64_t mismatch_logged_ms; /* logged once a minute */
	/* Freshness: the latest datagram we accepted from it (acked in ours), and
	 * the incarnation of it that has acked one of our datagrams. */
	bool have_ack;
	uint64_t ack_incarnation, ack_seq;
	bool confirmed;
	uint64_t confirmed_incarnation;
	uint32_t datastores;         /* reachable count it reported last */
	uint32_t datastore_mask;     /* which of ours (config index), from slave hb */
	/* Echo state, as master: the latest slave heartbeat naming us that we
	 * received from it, and when (only what "heard" counts is echoed). */
	bool have_rx;
	uint64_t rx_incarnation, rx_seq, rx_at_ms;
	/* As master: the send time of our master heartbeat it last echoed as our
	 * slave ("heard", DESIGN.md point 3). */
	bool have_heard;
	uint64_t heard_sent_ms;
};

struct fdm_bid_seen {
	char host[FDM_ID_MAX];
	uint32_t datastores;
	uint64_t term;
	uint64_t at_ms;
};

struct fdm_election_record {
	bool valid;
	uint64_t started_ms;
	uint64_t decided_ms;          /* 0 while undecided */
	uint64_t term;
	char winner[FDM_ID_MAX];
	char reason[128];             /* why it started */
	struct fdm_bid_seen bids[FDM_MAX_HOSTS];
	size_t n_bids;
};

/* A host as the master reported it to us (a slave's view of the cluster). Its
 * last heartbeat at the master, on our clock: our send time of the heartbeat the
 * master echoed + the master's send offset - the age it reported; never later
 * than the truth, however long the master's heartbeat queued. */
struct fdm_reported_host {
	char id[FDM_ID_MAX];
	enum fdm_host_state state;
	bool have_last_hb;
	uint64_t last_hb_ms;
	uint32_t datastore_mask;
};

/* What a datastore is to this host, from its last heartbeat write (fdmctl
 * datastores "state"). */
enum fdm_ds_state {
	FDM_DSS_UNKNOWN,              /* no answer yet (just started or added) */
	FDM_DSS_REACHABLE,
	FDM_DSS_UNREACHABLE,          /* failed, timed out, or answered late */
	FDM_DSS_UNINITIALIZED,        /* no identity record: fdmctl datastore init */
};

const char *fdm_ds_state_name(enum fdm_ds_state s);

#define FDM_WHY_MAX 160               /* a reason from the shell, for the log */
#define FDM_LOG_MAX 320               /* one log line of the core */

/* One VM-protection I/O of a datastore (storage_ha.c): at most one in flight.
 * Indexed by op - FDM_STORAGE_VMLIST_READ (VMLIST_READ .. VMLIST_WRITE). */
#define FDM_HA_IO_OPS 4
struct fdm_ds_io {
	bool busy;
	uint64_t issued_ms;           /* its decision time */
	uint64_t deadline_ms;         /* a completion after it is a failure */
	uint64_t next_ms;             /* the periodic ones: the next is due then */
	uint64_t ok, failed;          /* completions (late ones among the failed) */
};

/* One configured datastore as this host uses it (storage.c): its storage
 * heartbeat and the delta lease on its protectedlist. Every host writes the hb
 * and reads the lease record every io_timeout; the master also holds the lease. */
/* What a master may do with a datastore's lease (isolation.c). */
enum fdm_lease_hold { FDM_HOLD_RENEW, FDM_HOLD_PAUSE, FDM_HOLD_RELEASE };

/* A deadline hostd-shim held when this agent started (deadline_inherit.c). */
struct fdm_inherited_deadline {
	char name[FDM_VM_NAME_MAX];
	uint64_t deadline_ms;
};

/* The isolation response (isolation_response.c, DESIGN.md point 4). Per
 * datastore: the last good read of its lease record issued since this host
 * declared itself isolated, and whether two such reads showed another master
 * still renewing it (then the response applies to the VMs homed there). */
struct fdm_isoresp_ds {
	bool have_prev;
	uint32_t prev_fingerprint;
	char prev_owner[FDM_LEASE_ID_MAX];
	uint64_t renewed_ms;          /* 0: not seen renewed since the declaration */
};

/* A VM this host powered off (or is shutting down) as its isolation response. */
struct fdm_isoresp_vm {
	char name[FDM_VM_NAME_MAX];
	int ds;
	uint64_t first_ms;            /* the response began for it */
	uint64_t asked_ms;            /* the last power-off or shutdown asked */
	bool off;                     /* a listing taken after an ask shows it off */
};

struct fdm_isoresp {
	enum fdm_isolation_response response;
	uint32_t shutdown_timeout_ms;
	bool isolated;                /* declared: no peer heard, no address answers */
	uint64_t since_ms;
	struct fdm_isoresp_ds ds[FDM_MAX_DATASTORES];
	struct fdm_isoresp_vm vms[FDM_MAX_VMS];
	size_t n_vms;
};

struct fdm_core_ds {
	char url[FDM_URL_MAX];        /* a reload that changes it makes it a new datastore */
	bool hb_busy;                 /* an hb write is in flight */
	uint64_t hb_issued_ms;
	uint64_t hb_next_ms;
	uint64_t hb_ok_ms;            /* issue time of the last hb write that succeeded */
	uint64_t hb_done_ms;          /* ... and its completion */
	enum fdm_ds_state state;
	bool reachable;               /* state == REACHABLE (bids count these) */
	bool hb_written;              /* its last hb write succeeded in time */
	char why[FDM_WHY_MAX];        /* why it is down, as the shell said */
	uint64_t down_since_ms;       /* unreachable or uninitialized since */
	uint64_t remind_ms;           /* still down then: log it again (0: next answer) */
	/* Our own hb record read back every io (another agent writing as us). */
	bool self_busy;
	uint64_t self_issued_ms;
	uint64_t self_next_ms;
	struct fdm_lease lease;
	bool lease_busy;              /* a lease read or write is in flight */
	uint64_t lease_wake_ms;
	uint64_t lease_release_ms;    /* last release: its write's issue time */
	/* As master, this mastership only: issue time of our last successful
	 * write of d's lease (a new mastership starts from 0: DESIGN.md
	 * "Election", a master elected again earns bounds only from new ones). */
	uint64_t renewal_ms;
	/* As master: since when d's lease I/O has been failing (0: it is not),
	 * for the yield rule (election.c). */
	uint64_t lease_fail_since_ms;
	/* Bound of a master that stepped down (DESIGN.md "Election"), on our
	 * clock, 0: none. Not released: last renewal + lease_expiry + 2 x io +
	 * host_dead; released: release write's issue + host_dead. Set by
	 * storage.c at the step-down; it feeds the per-datastore deadline
	 * (deadline.c), which clears it when a master vouches for us on d. */
	uint64_t stepdown_bound_ms;
	/* Its every-host-heard part (DESIGN.md point 3: a host that echoed our
	 * master heartbeat sent at t was no master at t), which no release lowers:
	 * the step-down bound is the later of the two. Cleared with it. */
	uint64_t stepdown_heard_ms;
	bool stepdown_releasing;      /* a release after the step-down may lower it */
	/* What isolation.c allows the master's lease here: logged when it changes. */
	enum fdm_lease_hold lease_hold;
	struct fdm_ds_io ha_io[FDM_HA_IO_OPS];   /* VM protection records (storage_ha.c) */
	/* Clean stop: a poweron record written after it began (its `stopped`). */
	bool stop_issued, stop_done;
	bool stop_ok;                 /* ... and written: the master reads `stopped` */
	/* A failed poweron write may still land, late, over a newer one (a hung
	 * server applies it when it wakes). Pending until a write succeeds at T;
	 * then such writes have landed by limbo_until = T + 2 io. A `stopped`
	 * record counts only if written after that (storage_ha.c). */
	bool limbo_pending;
	uint64_t limbo_until_ms;
	/* Deadline of d (deadline.c, DESIGN.md safety point 3). The network bound
	 * the last master heartbeat vouching for us on d gave (0: never vouched
	 * for d), and that master's id, for the log. */
	uint64_t net_bound_ms;
	char net_master[FDM_ID_MAX];
	/* Master: the issue time of its last renewal of d in this mastership, kept
	 * after the lease is lost (not after a release): the takeover bound it
	 * reports counts from it (deadline.c; the model's last_renew_ok). */
	uint64_t own_renewal_ms;
	bool deadline_passed;         /* passed and logged: powering its VMs off */
	/* The deadline as of our last tick, as handed to the shim: once it has
	 * passed it stays in force while a VM of d runs here, whatever later
	 * evidence says (the shim keeps it so; DESIGN.md point 5). 0: none. */
	uint64_t deadline_held_ms;
	uint64_t poweroff_next_ms;    /* ... power-offs asked again then */
};

/* The last master hand-over this host took part in (fdmctl election). */
enum fdm_handover_kind { FDM_HANDOVER_NONE, FDM_HANDOVER_YIELD, FDM_HANDOVER_MERGE,
			 FDM_HANDOVER_ISOLATED };

struct fdm_handover {
	enum fdm_handover_kind kind;
	uint64_t at_ms;
	char from[FDM_ID_MAX];        /* the master that gave up (or yields) */
	char to[FDM_ID_MAX];          /* the better host ("" unknown: isolated) */
	char why[FDM_LOG_MAX];
};

const char *fdm_handover_kind_name(enum fdm_handover_kind k);

struct fdm_core {
	struct fdm_timing timing;
	size_t n_peers;
	size_t self;                  /* our index in peers[] */
	struct fdm_peer_state peers[FDM_MAX_HOSTS];
	char datastore_names[FDM_MAX_DATASTORES][FDM_ID_MAX];
	size_t n_datastores;

	uint64_t incarnation;
	uint64_t next_seq;
	struct fdm_sent sent[FDM_SENT_RING];
	size_t sent_next;

	enum fdm_role role;
	uint64_t role_since_ms;
	uint64_t term;
	int master;                   /* peer index, -1: none */
	uint32_t my_datastores;       /* reachable now */
	uint32_t my_datastore_mask;
	uint64_t datastores_changed_ms;   /* when that set last changed (the yield rule) */

	/* Election in progress. */
	uint64_t window_end_ms;
	uint64_t next_bid_ms;
	struct fdm_election_record current;
	struct fdm_election_record last;    /* last decided (fdmctl election) */
	/* Yield (DESIGN.md "Election"): no master heartbeat until yield_until_ms;
	 * at most one yield per yield_min_gap_ms (0: never yielded). */
	uint64_t yield_until_ms;
	uint64_t last_yield_ms;
	struct fdm_handover handover;       /* last hand-over (fdmctl election) */
	/* Isolation addresses (DESIGN.md point 4): the shell probes them and says
	 * how each round ended (fdm_core_isolation_probe; isolation.c). */
	uint64_t iso_answer_ms;       /* last probe that got an answer (0: never) */
	uint64_t iso_silent_ms;       /* end of the last round that got none */
	uint64_t iso_silent_start_ms; /* its start */

	/* Heartbeats. */
	uint64_t next_hb_ms;
	uint64_t last_master_hb_ms;   /* slave: from its master */
	bool have_master_rx;          /* slave: latest master heartbeat, to echo */
	uint64_t master_rx_incarnation, master_rx_seq;
	/* Slave: the send time of our heartbeat that our master last echoed, i.e.
	 * the master heard us at least up to then (the same-master bound). */
	bool vouched;
	uint64_t vouched_sent_ms;

	struct fdm_reported_host reported[FDM_MAX_HOSTS];
	size_t n_reported;

	struct fdm_core_ds ds[FDM_MAX_DATASTORES];
	/* The largest io_timeout any configured peer announced in an authenticated
	 * packet (timing refused or not), and the lease expiry derived from it:
	 * every lease waits at least that, for as long as this agent runs, on
	 * datastores added by a reload too (storage.c). 0: none heard. */
	uint32_t peer_io_max_ms, peer_expiry_max_ms;
	bool leaving;                 /* clean stop: release, then exit */
	uint64_t born_ms;             /* fdm_core_init: this agent's start */
	/* Another agent writes our hb record (same host id, storage.c): "" none.
	 * Shown as this host's init-error in fdmctl status/hosts. */
	char impostor_reason[FDM_LOG_MAX];
	uint64_t impostor_incarnation;   /* the other incarnation seen last */
	uint64_t impostor_seen_ms;
	uint64_t impostor_logged_ms;

	struct fdm_ha ha;             /* VM protection (ha.h, vms.c) */
	/* The deadlines hostd-shim held at our start (deadline_inherit.c). */
	struct fdm_inherited_deadline inherited[FDM_MAX_VMS];
	size_t n_inherited;
	struct fdm_master_vms master_vms;  /* slave: the master's VM table (vmview.h) */
	struct fdm_isoresp iso;       /* this host isolated: its response (isolation_response.c) */
};

/* ------------------------------------------------------------------ actions */
enum fdm_msg { FDM_MSG_BID, FDM_MSG_MASTER_HB, FDM_MSG_SLAVE_HB, FDM_MSG_STEP_DOWN,
	       FDM_MSG_LEAVING };

enum fdm_action_kind {
	FDM_ACT_SEND,        /* build msg for peer `to` with this seq and send it */
	FDM_ACT_LOG,         /* one log line, text */
	FDM_ACT_ROLE,        /* role changed (shell: sd_notify STATUS) */
	FDM_ACT_STORAGE,     /* one I/O on datastore `ds`: op (and lease for a write) */
	FDM_ACT_POWER_ON,    /* power VM `vm` of datastore `ds` on here (restarts) */
	FDM_ACT_VM_DEFINE,   /* ask host `to` (self: our shim) for VM `vm`'s definition,
			      * for request `request_id`: fdm_ha_on_define answers */
	FDM_ACT_FORWARD,     /* send request `request_id` to our master `to` */
	FDM_ACT_CONTROL_REPLY, /* answer request `request_id` of `to` (-1: local): ok, text */
	FDM_ACT_POWER_OFF,   /* power VM `vm` (homed on `ds`) off here now: its deadline
			      * passed (deadline.c), or the isolation response; with
			      * shutdown_ms: a guest shutdown, powered off after that */
};

/* The storage I/O the core asks the shell for; each ends in fdm_core_storage_done.
 * HB_READ reads this host's own hb record. */
enum fdm_storage_op { FDM_STORAGE_HB_WRITE, FDM_STORAGE_LEASE_READ, FDM_STORAGE_LEASE_WRITE,
		      FDM_STORAGE_HB_READ,
		      /* VM protection (ha.h): */
		      FDM_STORAGE_VMLIST_READ,     /* every host: d's protectedlist, VM part */
		      FDM_STORAGE_POWERON_WRITE,   /* every host: its poweron record on d */
		      FDM_STORAGE_HOSTS_READ,      /* master: every other host's hb + poweron */
		      FDM_STORAGE_VMLIST_WRITE,    /* master: fdm_ha_vmlist_desired, written */
		      FDM_STORAGE_OP_COUNT };

/* How it ended. ANSWERED: the datastore answered but did not take the write yet
 * (an iSCSI host slot being claimed): reachable, not written. UNINITIALIZED: it
 * has no identity record for this cluster (never initialised, or not the
 * filesystem, export or LUN it should be): not reachable, not counted in bids,
 * no lease, no heartbeat. */
enum fdm_storage_result { FDM_STORAGE_OK, FDM_STORAGE_FAILED, FDM_STORAGE_ANSWERED,
			  FDM_STORAGE_UNINITIALIZED };

/* How one storage I/O ended, as the shell reports it. */
struct fdm_storage_outcome {
	enum fdm_storage_result result;
	const char *why;                     /* not OK: one line from the backend (or NULL) */
	const struct fdm_lease_view *lease;  /* LEASE_READ, OK: what it found */
	uint64_t hb_incarnation;             /* HB_READ, OK: its writer's; 0 never written */
	const struct fdm_vmlist_view *vmlist;     /* VMLIST_READ, OK */
	const struct fdm_host_records *hosts;     /* HOSTS_READ, OK: n_hosts of them */
	size_t n_hosts;
};

/* Sends to every peer and then some, and every I/O of every datastore at once. */
#define FDM_ACTIONS_MAX (4 * FDM_MAX_HOSTS + 8 * FDM_MAX_DATASTORES + 16)

struct fdm_action {
	enum fdm_action_kind kind;
	enum fdm_msg msg;
	int to;
	uint64_t seq;
	int ds;                       /* FDM_ACT_STORAGE: config index */
	enum fdm_storage_op op;
	struct fdm_lease_rec lease;   /* FDM_STORAGE_LEASE_WRITE */
	/* FDM_ACT_STORAGE: decision time + io_timeout, on the core's clock. The
	 * core takes a completion after it as a failure whatever it says; the
	 * shell should abort the I/O by then (dsio deadline). */
	uint64_t deadline_ms;
	bool warning;                 /* FDM_ACT_LOG: an operator must act */
	char vm[FDM_VM_NAME_MAX];     /* FDM_ACT_POWER_ON, _POWER_OFF, FDM_ACT_VM_DEFINE */
	uint64_t request_id;          /* FDM_ACT_VM_DEFINE, _FORWARD, _CONTROL_REPLY */
	bool ok;                      /* FDM_ACT_CONTROL_REPLY */
	uint32_t restarts;            /* FDM_ACT_POWER_ON: the count it is ordered under */
	uint32_t shutdown_ms;         /* FDM_ACT_POWER_OFF: 0 now, else guest shutdown first */
	char text[FDM_LOG_MAX];
	/* FDM_ACT_LOG: what the line is about, for the journal's fields (fdm(8)):
	 * the kind of event (a static string), the other host, the VM (vm above),
	 * the datastore, the term. Copied: a reload may rename things before the
	 * shell logs the line. */
	const char *event;
	char peer[FDM_ID_MAX];
	char datastore[FDM_ID_MAX];
	bool has_term;
	uint64_t term;
};

struct fdm_actions {
	struct fdm_action a[FDM_ACTIONS_MAX];
	size_t n;
	size_t overflow;              /* actions that did not fit (never expected) */
};

/* ------------------------------------------------------------------- events */
/* Set up from the config. incarnation: wall clock ms at agent start. */
int fdm_core_init(struct fdm_core *c, const struct fdm_config *cfg,
		  const struct fdm_timing *t, uint64_t incarnation, uint64_t now);

/* Time passes: election windows, heartbeats, silent hosts. */
void fdm_core_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);

/* What became of a packet: taken into account; taken, and its body is the
 * shell's to carry out (an operator's request between hosts, forward.c: the
 * shell's ha_net.c); held back (its sender's incarnation has not acked one of
 * our datagrams yet: only remembered, to be acked back); dropped because its
 * sender's timing differs from ours (the shell counts it under
 * dropped.timing_mismatch); ignored (stopping, bad index). */
enum fdm_rx { FDM_RX_TAKEN, FDM_RX_SHELL, FDM_RX_UNCONFIRMED, FDM_RX_TIMING_MISMATCH,
	      FDM_RX_IGNORED };

/* An authenticated, non-replayed packet from peer `from` (index). */
enum fdm_rx fdm_core_packet(struct fdm_core *c, int from, const Fdm__Packet *p, uint64_t now,
			    struct fdm_actions *out);

/* A storage I/O the core asked for (FDM_ACT_STORAGE) ended, at now. */
void fdm_core_storage_done(struct fdm_core *c, int ds, enum fdm_storage_op op,
			   const struct fdm_storage_outcome *o, uint64_t now,
			   struct fdm_actions *out);

/* Clean stop: true once every lease this host held is released (or given up). */
bool fdm_core_released(const struct fdm_core *c);

/* The shell's isolation probe round that began at started ended at now (or got
 * its first answer then): some configured address answered, or none did. */
void fdm_core_isolation_probe(struct fdm_core *c, bool answered, uint64_t started,
			      uint64_t now, struct fdm_actions *out);
/* Hears none of its peers, and the probe round begun since says no isolation
 * address answers. */
bool fdm_core_isolated(const struct fdm_core *c, uint64_t now);
/* What a master does with d's lease now (DESIGN.md point 4, isolation.c):
 * renew; pause (no peer heard for the heard window, no probe answered since);
 * release (isolated, and some other host's hb record on d changed within
 * host_dead). why: for the log, set unless FDM_HOLD_RENEW. */
enum fdm_lease_hold fdm_core_lease_hold(const struct fdm_core *c, size_t d, uint64_t now,
					char *why, size_t len);

/* isolation_response.c (DESIGN.md point 4): [isolation] response settings; a
 * read of d's lease record issued at `issued` ended (view NULL: failed or
 * late); every tick. */
void fdm_isoresp_configure(struct fdm_core *c, const struct fdm_config *cfg);
void fdm_isoresp_lease_read(struct fdm_core *c, size_t d, uint64_t issued,
			    const struct fdm_lease_view *view, uint64_t now,
			    struct fdm_actions *out);
void fdm_isoresp_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);
/* This host's isolation response powered v off (or is shutting it down): its
 * stop is no user's, and its poweron record on v's datastore says so. */
bool fdm_isoresp_took(const struct fdm_core *c, const char *name);
/* Its share of the poweron record on d: isolated, and what it powered off. */
void fdm_isoresp_poweron(const struct fdm_core *c, int d, struct fdm_poweron_out *out);
/* Host i (not us, not heard) is alive on storage: isolated or partitioned
 * (DESIGN.md "Roles and states"), else unreachable. For the master's view. */
enum fdm_host_state fdm_isoresp_host_state(const struct fdm_core *c, size_t i, uint64_t now);

/* fdmctl election --force. */
void fdm_core_force_election(struct fdm_core *c, uint64_t now, struct fdm_actions *out);

/* SIGHUP: a new, validated config with the same [host] id (reconfig.c). -1 when
 * the host id differs or is not in the new [peers]. */
int fdm_core_reconfigure(struct fdm_core *c, const struct fdm_config *cfg,
			 const struct fdm_timing *t, uint64_t now, struct fdm_actions *out);

/* Clean stop: tell every peer, release every lease (fdm_core_released says when). */
void fdm_core_leave(struct fdm_core *c, uint64_t now, struct fdm_actions *out);

/* The (incarnation, seq) of a datagram the shell builds itself (ha_net.c: it
 * carries shell data, JSON and domain XML): the next seq, its send time
 * recorded as for every datagram of ours, so that echoes and acks of it work.
 * Take it when sending, in sending order (the receiver drops reordered seqs). */
uint64_t fdm_core_take_seq(struct fdm_core *c, uint64_t now);

/* ------------------------------------------------ internal, shared by files */
/* A new, zeroed action of this kind at the end of out; NULL (and counted in
 * out->overflow) when out is full. */
struct fdm_action *fdm_core_action(struct fdm_actions *out, enum fdm_action_kind kind);
/* An event line (FDM_ACT_LOG) with what it is about (about->host is the
 * shell's: this host); the action, to mark it a warning, or NULL (full). */
struct fdm_action *fdm_core_event(struct fdm_actions *out, const struct fdm_log_fields *about,
				  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with no more than its text (FDM_EVENT "note"). */
void fdm_core_log(struct fdm_actions *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fdm_core_send(struct fdm_core *c, enum fdm_msg msg, int to, uint64_t now,
		   struct fdm_actions *out);
void fdm_core_send_all(struct fdm_core *c, enum fdm_msg msg, uint64_t now,
		       struct fdm_actions *out);
/* Send time of our datagram `seq` of this incarnation, if still remembered. */
bool fdm_core_sent_at(const struct fdm_core *c, uint64_t incarnation, uint64_t seq,
		      uint64_t *at_ms);

/* election.c */
void fdm_election_start(struct fdm_core *c, uint64_t now, const char *reason,
			struct fdm_actions *out);
void fdm_election_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);
void fdm_election_on_bid(struct fdm_core *c, int from, const Fdm__Bid *b, uint64_t now,
			 struct fdm_actions *out);
void fdm_election_on_master_hb(struct fdm_core *c, int from, const Fdm__MasterHeartbeat *m,
			       uint64_t now, struct fdm_actions *out);
void fdm_election_on_step_down(struct fdm_core *c, int from, const Fdm__StepDown *s,
			       uint64_t now, struct fdm_actions *out);

/* storage.c */
/* We stop being master: set each datastore's step-down bound. */
void fdm_storage_stepped_down(struct fdm_core *c);
void fdm_storage_init(struct fdm_core *c, size_t d, const char *url, uint64_t now);
/* After a reload: every datastore still down is logged again at its next answer. */
void fdm_storage_reloaded(struct fdm_core *c);
void fdm_storage_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);
/* An authenticated packet of a configured peer, before any check of its
 * timing: the lease waits cover the timing it announces. */
void fdm_storage_peer_timing(struct fdm_core *c, int from, const Fdm__Packet *p,
			     struct fdm_actions *out);
/* The reachable set changed (from storage results): feeds bids. */
void fdm_core_datastores(struct fdm_core *c, uint32_t mask, uint64_t now,
			 struct fdm_actions *out);

/* One storage action; false when out is full (nothing asked: try again later). */
bool fdm_storage_action(struct fdm_actions *out, int d, enum fdm_storage_op op,
			const struct fdm_lease_rec *rec, uint64_t deadline);

/* storage_ha.c: the VM protection records of datastore d, every io. */
void fdm_storage_ha_tick(struct fdm_core *c, size_t d, uint64_t now, struct fdm_actions *out);
void fdm_storage_ha_done(struct fdm_core *c, int d, enum fdm_storage_op op,
			 const struct fdm_storage_outcome *o, uint64_t now,
			 struct fdm_actions *out);
/* Clean stop: every reachable datastore has had its last poweron write. */
bool fdm_storage_ha_stopped(const struct fdm_core *c);

/* forward.c: a Forward, ForwardReply, DefineRequest or DefineReply taken in
 * (after the host table): FDM_RX_SHELL when the shell is to carry it out now;
 * FDM_RX_TAKEN for every other body, and for these when not for us now. */
enum fdm_rx fdm_forward_on_packet(struct fdm_core *c, int from, const Fdm__Packet *p,
				  uint64_t now, struct fdm_actions *out);

/* membership.c */
int fdm_core_datastore_index(const struct fdm_core *c, const char *name);
/* A configured host by id; -1 if none. */
int fdm_core_peer_index(const struct fdm_core *c, const char *id);
/* ms since host i was last heard (as master: as our slave); UINT32_MAX: never. */
uint32_t fdm_core_heartbeat_age(const struct fdm_core *c, size_t i, uint64_t now);
/* Datastores host i reaches (config index bits), as far as this host knows. */
uint32_t fdm_core_host_datastores(const struct fdm_core *c, size_t i);
/* Why host i is in its state, for `fdmctl status` (init-error: "timing differs:
 * io_timeout 5000 ms, ours 2000 ms"); NULL when there is nothing to add. */
const char *fdm_core_host_reason(const struct fdm_core *c, size_t i, uint64_t now,
				 char *buf, size_t len);
/* The checks before a packet may count (see fdm_core_packet). */
bool fdm_membership_timing_ok(struct fdm_core *c, int from, const Fdm__Packet *p,
			      uint64_t now, struct fdm_actions *out);
bool fdm_membership_fresh(struct fdm_core *c, int from, const Fdm__Packet *p);
void fdm_membership_on_packet(struct fdm_core *c, int from, const Fdm__Packet *p,
			      uint64_t now);
void fdm_membership_tick(struct fdm_core *c, uint64_t now, struct fdm_actions *out);
/* Master heartbeat content for peer `to`: offset of a time t (ours) from our
 * receipt of the heartbeat of `to` that we echo. false: nothing to echo yet. */
bool fdm_membership_offset(const struct fdm_core *c, int to, uint64_t t, int64_t *offset_ms);

#endif
